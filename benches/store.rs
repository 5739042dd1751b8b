//! Ledger benchmark: ingest rate for 1 M synthetic items, lookup rate, bytes on disk per
//! 100 k items, and the time to open a store of 1 M items.
//!
//! Run: `cargo bench --bench store` (WARDFEED_BENCH_ITEMS overrides the 1 M; WARDFEED_BENCH_DIR
//! the scratch directory). It measures once, at full size: the figures go to BENCHMARKS.md.
//! `WARDFEED_BENCH_SIZES_OF=DIR` only prints where the bytes of the store in DIR go.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeZone};
use wardfeed::model::{Item, ItemKey, SourceId};
use wardfeed::store::Store;

const SOURCES: usize = 100;
/// Items per ingest call: one refresh of a busy source.
const PER_REFRESH: usize = 1000;

fn base_time() -> DateTime<FixedOffset> {
    FixedOffset::east_opt(7 * 3600)
        .unwrap()
        .with_ymd_and_hms(2015, 1, 1, 8, 0, 0)
        .unwrap()
}

/// The real ward articles of `tests/fixtures/seeds`, as words, so that synthetic text
/// compresses the way Vietnamese news does.
fn corpus() -> &'static [String] {
    static WORDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        paths.sort();
        paths
            .iter()
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

/// `count` consecutive words of real prose, starting at a place chosen by `seed`.
fn text(seed: usize, count: usize) -> String {
    let words = corpus();
    let start = (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) as usize % words.len();
    (0..count)
        .map(|i| words[(start + i) % words.len()].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A synthetic item of realistic size: a ~15-word title, a ~50-word summary and a body of
/// about 600 words in paragraphs (3-4 KB, like a ward article). One title in twenty repeats
/// across sources within a day (a cross-post).
fn synthetic(n: usize) -> Item {
    let source = SourceId::parse(&format!("ward{:03}", n % SOURCES)).unwrap();
    let story = if n.is_multiple_of(20) { n / 100 } else { n };
    let body: String = (0..8)
        .map(|p| format!("<p>{}</p>\n", text(n * 16 + p, 75)))
        .collect();
    // Titles must differ per story even when the prose window repeats.
    let title = format!("{} ({story})", text(story * 7 + 1, 14));
    Item {
        source: source.clone(),
        url: url(&source, n),
        guid: None,
        title,
        published: Some(base_time() + chrono::Duration::minutes((n / SOURCES) as i64 * 7)),
        categories: vec!["Tin tức - Sự kiện".into()],
        views: Some((n % 5000) as u64),
        summary: Some(text(n * 3 + 2, 50)),
        image: Some(format!(
            "https://{source}.longbien.hanoi.gov.vn/uploads/{n}.jpg"
        )),
        content_html: Some(body),
        article_status: Some(200),
        identity: Default::default(),
    }
}

fn url(source: &SourceId, n: usize) -> String {
    format!("https://{source}.longbien.hanoi.gov.vn/tin-tuc/chi-tiet/bai-viet-so-{n}.html")
}

/// The sum of `size` over the files under `path`.
fn files_total(path: &std::path::Path, size: &impl Fn(&std::fs::Metadata) -> u64) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let meta = e.metadata().unwrap();
                    if meta.is_dir() {
                        files_total(&e.path(), size)
                    } else {
                        size(&meta)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Bytes the file system holds for the files under `path` (their blocks: a file the engine
/// lengthened ahead of use holds no blocks for what it has not written yet).
fn disk_usage(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    files_total(path, &|meta| meta.blocks() * 512)
}

/// The length of the files under `path`.
fn dir_size(path: &std::path::Path) -> u64 {
    files_total(path, &|meta| meta.len())
}

/// Each tree's records and key/value bytes, per item of `items` (`with_empty`: also the trees
/// that hold nothing).
fn print_tree_sizes(store: &Store, items: u64, with_empty: bool) {
    for tree in store.tree_sizes().unwrap() {
        if with_empty || tree.records > 0 {
            println!(
                "    {:<11} {:>9} records, keys {:>8.1} MB, values {:>8.1} MB ({:.0} B/item)",
                tree.name,
                tree.records,
                tree.key_bytes as f64 / 1e6,
                tree.value_bytes as f64 / 1e6,
                (tree.key_bytes + tree.value_bytes) as f64 / items as f64
            );
        }
    }
}

/// Set to a store directory, the bench is the child that crashes (see "open after a kill").
const CRASH_CHILD: &str = "WARDFEED_BENCH_CRASH_CHILD";

fn main() {
    // `cargo bench` passes --bench; any other invocation (a test run) only smoke-tests.
    let full = std::env::args().any(|a| a == "--bench");
    let total: usize = std::env::var("WARDFEED_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 2_000 });
    let scratch = std::env::var("WARDFEED_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    if let Ok(dir) = std::env::var(CRASH_CHILD) {
        // The crash: one more refresh stored, then the process dies without closing the store.
        let store = Store::open(std::path::Path::new(&dir)).unwrap();
        let now = base_time() + chrono::Duration::days(4001);
        let items: Vec<Item> = (0..PER_REFRESH)
            .map(|i| synthetic(10_000_000 + i))
            .collect();
        store.ingest(&items[0].source.clone(), &items, now).unwrap();
        std::process::abort();
    }
    if let Ok(existing) = std::env::var("WARDFEED_BENCH_SIZES_OF") {
        // Where the bytes of an existing store go (e.g. a run stopped part way).
        let store = Store::open_checking(
            std::path::Path::new(&existing),
            wardfeed::config::DEFAULT_CACHE_BYTES,
            0,
        )
        .unwrap();
        let items = store.len().max(1) as u64;
        println!(
            "{existing}: {} items, {:.1} MB on disk",
            store.len(),
            dir_size(std::path::Path::new(&existing)) as f64 / 1e6
        );
        print_tree_sizes(&store, items, true);
        return;
    }
    let dir = tempfile::tempdir_in(scratch).unwrap();
    let now = base_time() + chrono::Duration::days(4000);

    let store = Store::open(dir.path()).unwrap();
    // Only time spent inside the store counts: generating text is not the store's cost.
    let mut ingest = Duration::ZERO;
    let mut at_100k = None;
    // Items arrive source by source, PER_REFRESH at a time: one refresh of a busy source.
    let mut done = 0;
    while done < total {
        for source_index in 0..SOURCES {
            let items: Vec<Item> = (0..PER_REFRESH)
                .map(|i| (done / SOURCES) + i)
                .map(|round| round * SOURCES + source_index)
                .filter(|n| *n < total)
                .map(synthetic)
                .collect();
            if let Some(first) = items.first() {
                let source = first.source.clone();
                let started = Instant::now();
                store.ingest(&source, &items, now).unwrap();
                ingest += started.elapsed();
            }
            if at_100k.is_none() && store.len() >= 100_000 {
                store.flush().unwrap();
                at_100k = Some((store.len(), disk_usage(dir.path())));
            }
        }
        done += PER_REFRESH * SOURCES;
    }
    store.flush().unwrap();
    let bytes = disk_usage(dir.path());
    let length = dir_size(dir.path());

    // Lookups: random keys of existing items, by item key (what feeds and the ledger do).
    let lookups = 200_000.min(total * 10);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let keys: Vec<ItemKey> = (0..lookups)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state % total as u64) as usize;
            let source = SourceId::parse(&format!("ward{:03}", n % SOURCES)).unwrap();
            ItemKey::derive(&source, &url(&source, n))
        })
        .collect();
    let started = Instant::now();
    let mut found = 0;
    for key in &keys {
        found += usize::from(store.item(key).unwrap().is_some());
    }
    let lookup = started.elapsed();
    assert_eq!(found, lookups);

    // A feed read: the newest 100 items of one source. The iterator decodes what it yields.
    let started = Instant::now();
    let decoded_before = store.decoded_items();
    let reads = 1000;
    for i in 0..reads {
        let source = SourceId::parse(&format!("ward{:03}", i % SOURCES)).unwrap();
        let items: Vec<_> = store
            .source_items(&source)
            .take(100)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(items.len(), 100.min(total / SOURCES));
    }
    let feed_reads = started.elapsed();
    let feed_decoded = (store.decoded_items() - decoded_before) / reads as u64;

    // A search with a limit: the newest 20 items of all sources whose title holds a word.
    let word = corpus()[0].clone();
    let started = Instant::now();
    let decoded_before = store.decoded_items();
    let searches = 100;
    for _ in 0..searches {
        let found: Vec<_> = store
            .items()
            .filter(|item| item.as_ref().map_or(true, |s| s.item.title.contains(&word)))
            .take(20)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!found.is_empty());
    }
    let search = started.elapsed();
    let search_decoded = (store.decoded_items() - decoded_before) / searches as u64;

    // The indexed search (`?q=`, /search): a common word's newest 20, then a word no item
    // holds, which walks every item's word filter and should decode (almost) nothing.
    let folded =
        |q: &str| -> Vec<String> { wardfeed::store::search::words(q).into_iter().collect() };
    store.search(&folded("x")).unwrap().count(); // the index exists already: no build timed
    let common = folded(&word);
    let started = Instant::now();
    let decoded_before = store.decoded_items();
    for _ in 0..searches {
        let hits = store.search(&common).unwrap().take(20).count();
        assert_eq!(hits, 20);
    }
    let indexed = started.elapsed();
    let indexed_decoded = (store.decoded_items() - decoded_before) / searches as u64;
    let absent = folded("zzkhongcotuaynaozz");
    let started = Instant::now();
    let decoded_before = store.decoded_items();
    assert_eq!(store.search(&absent).unwrap().count(), 0);
    let absent_walk = started.elapsed();
    let absent_decoded = store.decoded_items() - decoded_before;

    println!(
        "  engine:       {:.1} MB on disk; live keys + values per tree:",
        store.size_on_disk().unwrap() as f64 / 1e6
    );
    println!("    {}", store.engine_stats().unwrap());
    print_tree_sizes(&store, total as u64, false);
    drop(store);
    // The daemon's opening: O(1) checks (manifest, tallies, both ends of each tree) for a
    // store past OPEN_SCAN_RECORDS, then the whole read, which the daemon runs in the
    // background while serving, before the first write.
    let started = Instant::now();
    let reopened = Store::open(dir.path()).unwrap();
    let open = started.elapsed();
    let deferred = reopened.is_unverified();
    let started = Instant::now();
    reopened.finish_verification().unwrap();
    let whole_read = started.elapsed();
    assert_eq!(reopened.len(), total);
    drop(reopened);
    // Every tree read whole at open, as every opening did before.
    let started = Instant::now();
    let reopened =
        Store::open_checking(dir.path(), wardfeed::config::DEFAULT_CACHE_BYTES, u64::MAX).unwrap();
    let open_whole = started.elapsed();
    assert_eq!(reopened.len(), total);
    drop(reopened);
    // The daemon's opening again, the OS's page cache now warm.
    let started = Instant::now();
    let reopened = Store::open(dir.path()).unwrap();
    let open_again = started.elapsed();
    assert_eq!(reopened.len(), total);
    drop(reopened);
    // A process killed with the store open (after one more refresh), then the opening after
    // it: what a daemon's restart after `kill -9` or a power cut costs.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CRASH_CHILD, dir.path())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the crashing child exited cleanly");
    let started = Instant::now();
    let reopened = Store::open(dir.path()).unwrap();
    let open_after_kill = started.elapsed();
    assert_eq!(reopened.len(), total + PER_REFRESH);

    let per_sec = |count: usize, took: Duration| count as f64 / took.as_secs_f64();
    println!("store bench: {total} items, {SOURCES} sources, {PER_REFRESH} items per refresh");
    println!(
        "  ingest:       {:.1} s, {:.0} items/s",
        ingest.as_secs_f64(),
        per_sec(total, ingest)
    );
    println!(
        "  lookup:       {lookups} by key in {:.2} s, {:.0} lookups/s",
        lookup.as_secs_f64(),
        per_sec(lookups, lookup)
    );
    println!(
        "  feed read:    newest 100 of a source, {:.2} ms each, {feed_decoded} records decoded",
        feed_reads.as_secs_f64() * 1000.0 / reads as f64
    );
    println!(
        "  search:       newest 20 titles holding {word:?}, {:.2} ms each, {search_decoded} records decoded",
        search.as_secs_f64() * 1000.0 / searches as f64
    );
    println!(
        "  indexed:      newest 20 holding {common:?}, {:.2} ms each, {indexed_decoded} records decoded",
        indexed.as_secs_f64() * 1000.0 / searches as f64
    );
    println!(
        "  indexed:      a word no item holds, {:.1} ms (every filter walked), {absent_decoded} records decoded (false positives)",
        absent_walk.as_secs_f64() * 1000.0
    );
    if let Some((count, at_100k)) = at_100k {
        println!(
            "  on disk:      {:.1} MB after {count} items ({:.0} bytes/item)",
            at_100k as f64 / 1e6,
            at_100k as f64 / count as f64
        );
    }
    println!(
        "  on disk:      {:.1} MB after {total} items, {:.1} MB per 100 k ({:.0} bytes/item; files {:.1} MB long, {:.0} bytes/item)",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / (total as f64 / 1e5),
        bytes as f64 / total as f64,
        length as f64 / 1e6,
        length as f64 / total as f64
    );
    println!(
        "  open:         {:.2} s to open the store of {total} items ({}), then {:.2} s to read it whole",
        open.as_secs_f64(),
        if deferred {
            "whole read deferred"
        } else {
            "read whole at open"
        },
        whole_read.as_secs_f64()
    );
    println!(
        "  open whole:   {:.2} s to open it reading every tree at open",
        open_whole.as_secs_f64()
    );
    println!(
        "  open again:   {:.2} s to open it as the daemon does, its file cached by the openings before",
        open_again.as_secs_f64()
    );
    println!(
        "  after a kill: {:.3} s to open it after a process holding it was killed",
        open_after_kill.as_secs_f64()
    );
}
