//! Ledger benchmark: ingest rate for 1 M synthetic items, lookup rate, bytes on disk per
//! 100 k items, and the time to open a store of 1 M items.
//!
//! Run: `cargo bench --bench store` (WARDFEED_BENCH_ITEMS overrides the 1 M; WARDFEED_BENCH_DIR
//! the scratch directory). It measures once, at full size: the figures go to BENCHMARKS.md.

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

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let meta = e.metadata().unwrap();
                    if meta.is_dir() {
                        dir_size(&e.path())
                    } else {
                        meta.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

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
                at_100k = Some((store.len(), dir_size(dir.path())));
            }
        }
        done += PER_REFRESH * SOURCES;
    }
    store.flush().unwrap();
    let bytes = dir_size(dir.path());

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

    drop(store);
    let started = Instant::now();
    let reopened = Store::open(dir.path()).unwrap();
    let open = started.elapsed();
    assert_eq!(reopened.len(), total);

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
    if let Some((count, at_100k)) = at_100k {
        println!(
            "  on disk:      {:.1} MB after {count} items ({:.0} bytes/item)",
            at_100k as f64 / 1e6,
            at_100k as f64 / count as f64
        );
    }
    println!(
        "  on disk:      {:.1} MB after {total} items, {:.1} MB per 100 k",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / (total as f64 / 1e5)
    );
    println!(
        "  open:         {:.2} s to open the store of {total} items",
        open.as_secs_f64()
    );
}
