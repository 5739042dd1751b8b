//! Store spike for wardfeed: redb (and fjall) on wardfeed's ledger workload. See README.md.

mod fjall_store;
mod redb_store;
mod work;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use work::{SOURCES, WAVE};

struct Args {
    rest: Vec<String>,
    quick_repair: bool,
    cache_mb: usize,
    reads: Option<usize>,
    stats: bool,
    fjall: bool,
}

fn parse() -> Args {
    let mut rest = Vec::new();
    let mut args = Args {
        rest: Vec::new(),
        quick_repair: false,
        cache_mb: 32,
        reads: None,
        stats: false,
        fjall: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick-repair" => args.quick_repair = true,
            "--stats" => args.stats = true,
            "--fjall" => args.fjall = true,
            "--cache-mb" => args.cache_mb = it.next().unwrap().parse().unwrap(),
            "--reads" => args.reads = Some(it.next().unwrap().parse().unwrap()),
            _ => rest.push(a),
        }
    }
    args.rest = rest;
    args
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn mem() -> String {
    format!(
        "VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        work::vm_status("VmRSS:") as f64 / 1024.0,
        work::vm_status("VmHWM:") as f64 / 1024.0
    )
}

fn db_file(dir: &Path) -> PathBuf {
    dir.join("ledger.redb")
}

enum Engine {
    Redb(redb::Database),
    Fjall(fjall_store::Db),
}

impl Engine {
    fn path(dir: &Path, args: &Args) -> PathBuf {
        if args.fjall { dir.join("fjall") } else { db_file(dir) }
    }
    fn open(dir: &Path, args: &Args) -> Engine {
        if args.fjall {
            Engine::Fjall(fjall_store::open(&Engine::path(dir, args), args.cache_mb << 20))
        } else {
            Engine::Redb(redb_store::open(&Engine::path(dir, args), args.cache_mb << 20))
        }
    }
    fn repaired(&self) -> String {
        match self {
            Engine::Redb(_) => redb_store::REPAIRED.load(std::sync::atomic::Ordering::SeqCst).to_string(),
            Engine::Fjall(_) => "n/a (journal replay)".into(),
        }
    }
    fn len(&self) -> u64 {
        match self {
            Engine::Redb(db) => redb_store::len(db),
            Engine::Fjall(db) => fjall_store::len(db),
        }
    }
    fn ingest(&self, items: &[work::Item], quick_repair: bool) {
        match self {
            Engine::Redb(db) => redb_store::ingest(db, items, quick_repair),
            Engine::Fjall(db) => fjall_store::ingest(db, items),
        }
    }
    fn feed(&self, source: &str, count: usize) -> Vec<work::StoredItem> {
        match self {
            Engine::Redb(db) => redb_store::feed(db, source, count),
            Engine::Fjall(db) => fjall_store::feed(db, source, count),
        }
    }
    fn lookups(&self, total: usize, count: usize) -> (f64, f64) {
        match self {
            Engine::Redb(db) => redb_store::lookups(db, total, count),
            Engine::Fjall(db) => fjall_store::lookups(db, total, count),
        }
    }
    fn stats(&self, items: u64) {
        match self {
            Engine::Redb(db) => redb_store::print_stats(db, items),
            Engine::Fjall(db) => fjall_store::print_stats(db),
        }
    }
}

fn main() {
    let args = parse();
    let cmd = args.rest.first().map(String::as_str).unwrap_or("");
    match cmd {
        "sizes" => sizes(),
        "levels" => levels(),
        "ingest" => ingest(&args),
        "open" => open(&args),
        "compact" => compact(&args),
        _ => {
            eprintln!(
                "usage: spike-store sizes | ingest DIR FROM TO [--quick-repair] [--cache-mb 32] [--stats] | open DIR [--reads N] | compact DIR"
            );
            std::process::exit(2);
        }
    }
}

/// The record sizes the workload makes (check: ~2,000 B compressed, ~400 B filter).
fn sizes() {
    let mut rec = 0usize;
    let mut filt = 0usize;
    let count = 2000;
    for n in 0..count {
        let p = work::prepare(&work::synthetic(n * 37));
        rec += p.record.len();
        filt += p.filter.len();
    }
    println!(
        "mean over {count} items: record {} B (postcard+zstd 3), filter {} B",
        rec / count,
        filt / count
    );
}

/// Record sizes by zstd level: redb's 4 KiB leaves hold two records only when they sum to
/// at most ~4,044 B, so the share of records at or under 2,000 B decides its fill.
fn levels() {
    let items: Vec<_> = (0..2000).map(|n| work::synthetic(n * 37)).collect();
    let plains: Vec<Vec<u8>> = items
        .iter()
        .map(|item| {
            let p = work::prepare(item);
            let stored: work::StoredItem = work::decode(&p.record);
            postcard::to_allocvec(&stored).unwrap()
        })
        .collect();
    for level in [3, 6, 9, 12, 15, 19] {
        let t = Instant::now();
        let sizes: Vec<usize> = plains
            .iter()
            .map(|p| zstd::bulk::compress(p, level).unwrap().len())
            .collect();
        let took = t.elapsed();
        let under = sizes.iter().filter(|s| **s <= 2000).count();
        println!(
            "level {level:>2}: mean {} B, {:.0} % <= 2,000 B, {:.0} us per record",
            sizes.iter().sum::<usize>() / sizes.len(),
            under as f64 * 100.0 / sizes.len() as f64,
            took.as_secs_f64() * 1e6 / sizes.len() as f64
        );
    }
}

fn ingest(args: &Args) {
    let dir = PathBuf::from(&args.rest[1]);
    let from: usize = args.rest[2].parse().unwrap();
    let to: usize = args.rest[3].parse().unwrap();
    assert!(from % WAVE == 0 && to % WAVE == 0, "FROM and TO are multiples of {WAVE}");
    std::fs::create_dir_all(&dir).unwrap();
    let file = Engine::path(&dir, args);
    let started = Instant::now();
    let db = Engine::open(&dir, args);
    println!(
        "open {:.3} s (repaired: {}), {} items, quick_repair {}, cache {} MiB, {}",
        started.elapsed().as_secs_f64(),
        db.repaired(),
        db.len(),
        args.quick_repair,
        args.cache_mb,
        mem()
    );
    let mut ingest = Duration::ZERO;
    let mut window = Duration::ZERO;
    let mut window_items = 0usize;
    let wall = Instant::now();
    for wave in from / WAVE..to / WAVE {
        // Generating the text is not the store's cost: only the ingest (encode, filter,
        // transaction, commit) is timed, as benches/store.rs does.
        let refreshes = work::wave_refreshes(wave);
        for refresh in &refreshes {
            let t = Instant::now();
            db.ingest(refresh, args.quick_repair);
            let took = t.elapsed();
            ingest += took;
            window += took;
        }
        window_items += WAVE;
        let done = (wave + 1) * WAVE;
        if done % 20_000 == 0 {
            println!(
                "  {done} items: ingest {:.1} s, last 20k at {:.0} items/s; file {:.1} MB; {}",
                ingest.as_secs_f64(),
                window_items as f64 / window.as_secs_f64(),
                mb(work::dir_size(&file)),
                mem()
            );
            window = Duration::ZERO;
            window_items = 0;
        }
    }
    let n = to - from;
    let total = db.len();
    println!(
        "ingested {n} items ({from}..{to}) in {:.1} s of store time ({:.1} s wall): {:.0} items/s; store holds {total}",
        ingest.as_secs_f64(),
        wall.elapsed().as_secs_f64(),
        n as f64 / ingest.as_secs_f64()
    );
    let size = work::dir_size(&file);
    println!(
        "  peak during ingest: {}; file {:.1} MB ({:.0} B/item), {:.1} MB allocated blocks",
        mem(),
        mb(size),
        size as f64 / total as f64,
        mb(work::dir_blocks(&file))
    );
    if args.stats {
        db.stats(total);
    }
    let t = Instant::now();
    drop(db);
    let size = work::dir_size(&file);
    println!(
        "closed in {:.3} s: file {:.1} MB ({:.0} B/item), {:.1} MB allocated blocks",
        t.elapsed().as_secs_f64(),
        mb(size),
        size as f64 / total as f64,
        mb(work::dir_blocks(&file))
    );
}

fn open(args: &Args) {
    let dir = PathBuf::from(&args.rest[1]);
    let file = Engine::path(&dir, args);
    let before = work::dir_size(&file);
    let started = Instant::now();
    let db = Engine::open(&dir, args);
    let open = started.elapsed();
    let total = db.len() as usize;
    println!(
        "open {:.3} s (repair ran: {}), {total} items, file {:.1} MB before, {:.1} MB after; {}",
        open.as_secs_f64(),
        db.repaired(),
        mb(before),
        mb(work::dir_size(&file)),
        mem()
    );
    if let Some(lookups) = args.reads {
        // Feed reads: the newest 100 items of one source, 1000 times over the sources.
        let reads = 1000;
        let t = Instant::now();
        for i in 0..reads {
            let source = format!("ward{:03}", i % SOURCES);
            let items = db.feed(&source, 100);
            assert_eq!(items.len(), 100.min(total / SOURCES));
            assert!(items.windows(2).all(|w| w[0].sort_time() >= w[1].sort_time()));
        }
        println!(
            "  feed read: newest 100 of a source, {:.2} ms each (mean of {reads}, 100 records decoded)",
            t.elapsed().as_secs_f64() * 1000.0 / reads as f64
        );
        let (decoded, raw) = db.lookups(total, lookups);
        println!(
            "  lookups: {lookups} random keys, {decoded:.0}/s with decode, {raw:.0}/s get only (same keys again, cache warm); {}",
            mem()
        );
    }
    if args.stats {
        db.stats(total as u64);
    }
}

fn compact(args: &Args) {
    let dir = PathBuf::from(&args.rest[1]);
    let file = db_file(&dir);
    let db = redb_store::open(&file, args.cache_mb << 20);
    let total = redb_store::len(&db);
    let t = Instant::now();
    let db = redb_store::compact(db);
    drop(db);
    let size = work::dir_size(&file);
    println!(
        "compacted in {:.1} s: file {:.1} MB ({:.0} B/item)",
        t.elapsed().as_secs_f64(),
        mb(size),
        size as f64 / total as f64
    );
}
