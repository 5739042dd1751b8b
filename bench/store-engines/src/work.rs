//! wardfeed's workload, copied in shape from /work/main (benches/store.rs, src/store/):
//! the synthetic items of the store bench, the StoredItem record (postcard + zstd 3), the
//! index keys, the story tables and the ~400-byte word filter.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset, TimeZone};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

pub const SOURCES: usize = 100;
/// Items per refresh (one write transaction each), as the daemon.
pub const PER_REFRESH: usize = 20;
/// A wave: one refresh of every source, items `wave*WAVE .. (wave+1)*WAVE`.
pub const WAVE: usize = PER_REFRESH * SOURCES;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub source: String,
    pub url: String,
    pub guid: Option<String>,
    pub title: String,
    pub published: Option<DateTime<FixedOffset>>,
    pub categories: Vec<String>,
    pub views: Option<u64>,
    pub summary: Option<String>,
    pub image: Option<String>,
    pub content_html: Option<String>,
    pub article_status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredItem {
    pub key: [u8; 16],
    pub item: Item,
    pub first_seen: DateTime<FixedOffset>,
    pub updated: Option<DateTime<FixedOffset>>,
    pub content_hash: [u8; 16],
}

impl StoredItem {
    pub fn sort_time(&self) -> DateTime<FixedOffset> {
        self.item.published.unwrap_or(self.first_seen)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TitleMembers {
    pub members: Vec<(i64, [u8; 16])>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryRecord {
    pub members: Vec<[u8; 16]>,
}

pub fn base_time() -> DateTime<FixedOffset> {
    FixedOffset::east_opt(7 * 3600)
        .unwrap()
        .with_ymd_and_hms(2015, 1, 1, 8, 0, 0)
        .unwrap()
}

pub fn now() -> DateTime<FixedOffset> {
    base_time() + chrono::Duration::days(4000)
}

fn corpus() -> &'static [String] {
    static WORDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
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

fn text(seed: usize, count: usize) -> String {
    let words = corpus();
    let start = (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) as usize % words.len();
    (0..count)
        .map(|i| words[(start + i) % words.len()].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn source_of(n: usize) -> String {
    format!("ward{:03}", n % SOURCES)
}

pub fn url(source: &str, n: usize) -> String {
    format!("https://{source}.longbien.hanoi.gov.vn/tin-tuc/chi-tiet/bai-viet-so-{n}.html")
}

/// benches/store.rs `synthetic`, verbatim in content.
pub fn synthetic(n: usize) -> Item {
    let source = source_of(n);
    let story = if n.is_multiple_of(20) { n / 100 } else { n };
    let body: String = (0..8)
        .map(|p| format!("<p>{}</p>\n", text(n * 16 + p, 75)))
        .collect();
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
    }
}

/// The items of wave `wave`, refresh by refresh: source s gets items wave*WAVE + i*SOURCES + s.
pub fn wave_refreshes(wave: usize) -> Vec<Vec<Item>> {
    (0..SOURCES)
        .map(|s| {
            (0..PER_REFRESH)
                .map(|i| synthetic(wave * WAVE + i * SOURCES + s))
                .collect()
        })
        .collect()
}

pub fn item_key(source: &str, identity: &str) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(source.as_bytes());
    hasher.update(&[0]);
    hasher.update(identity.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    key
}

pub fn key_of_n(n: usize) -> [u8; 16] {
    let s = source_of(n);
    item_key(&s, &url(&s, n))
}

pub fn content_hash(item: &Item) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new();
    for part in [
        item.title.as_str(),
        item.summary.as_deref().unwrap_or(""),
        item.content_html.as_deref().unwrap_or(""),
    ] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    hash
}

/// zstd level of every record: wardfeed's 3, or SPIKE_ZSTD_LEVEL (an experiment).
pub fn level() -> i32 {
    static LEVEL: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        std::env::var("SPIKE_ZSTD_LEVEL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3)
    })
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let plain = postcard::to_allocvec(value).unwrap();
    zstd::bulk::compress(&plain, level()).unwrap()
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    let size = zstd::zstd_safe::get_frame_content_size(bytes).unwrap().unwrap();
    let plain = zstd::bulk::decompress(bytes, size as usize).unwrap();
    postcard::from_bytes(&plain).unwrap()
}

pub fn time_bytes(time: DateTime<FixedOffset>) -> [u8; 8] {
    ((time.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn source_prefix(source: &str) -> Vec<u8> {
    let mut p = source.as_bytes().to_vec();
    p.push(b'/');
    p
}

pub fn by_source_key(source: &str, time: DateTime<FixedOffset>, key: &[u8; 16]) -> Vec<u8> {
    let mut k = source_prefix(source);
    k.extend_from_slice(&time_bytes(time));
    k.extend_from_slice(key);
    k
}

pub fn by_time_key(time: DateTime<FixedOffset>, key: &[u8; 16]) -> Vec<u8> {
    let mut k = time_bytes(time).to_vec();
    k.extend_from_slice(key);
    k
}

pub fn story_title_key(title: &str) -> String {
    title
        .to_lowercase()
        .trim_end_matches(|c: char| {
            matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '…') || c.is_whitespace()
        })
        .to_owned()
}

// ---- the word filter (src/store/search.rs) ----

fn search_key(raw: &str) -> String {
    raw.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn words(text: &str) -> BTreeSet<String> {
    search_key(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.chars().count() <= 40)
        .map(str::to_owned)
        .collect()
}

fn html_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

pub fn filter_of(stored: &StoredItem) -> Vec<u8> {
    let item = &stored.item;
    let text = format!(
        "{} {} {}",
        item.title,
        item.summary.as_deref().unwrap_or(""),
        item.content_html.as_deref().map(html_text).unwrap_or_default()
    );
    let words = words(&text);
    let bits = (words.len() * 12).div_ceil(64).max(1) * 64;
    let mut filter = vec![0u8; 2 + bits / 8];
    filter[0] = 1;
    filter[1] = 8;
    for word in &words {
        let hash = twox_hash::XxHash3_64::oneshot(word.as_bytes());
        let (h1, h2) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        for i in 0..8u64 {
            let bit = (h1.wrapping_add(i.wrapping_mul(h2)) % bits as u64) as usize;
            filter[2 + bit / 8] |= 1 << (bit % 8);
        }
    }
    filter
}

/// What one new item writes, computed before the transaction (encode, filter): in wardfeed
/// this happens inside the ingest, and it is timed with it here too.
pub struct Prepared {
    pub key: [u8; 16],
    pub record: Vec<u8>,
    pub filter: Vec<u8>,
    pub source: String,
    pub time: DateTime<FixedOffset>,
    pub title_key: String,
}

pub fn prepare(item: &Item) -> Prepared {
    let key = item_key(&item.source, &item.url);
    let stored = StoredItem {
        key,
        item: item.clone(),
        first_seen: now(),
        updated: None,
        content_hash: content_hash(item),
    };
    Prepared {
        key,
        record: encode(&stored),
        filter: filter_of(&stored),
        source: item.source.clone(),
        time: stored.sort_time(),
        title_key: story_title_key(&item.title),
    }
}

/// A seal's bytes (count + digest), as integrity.rs keeps them in `meta`: moved per transaction.
pub fn seal_bytes(generation: u64, tree: usize) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[..8].copy_from_slice(&generation.to_be_bytes());
    b[8..].copy_from_slice(&blake3::hash(&[tree as u8; 8]).as_bytes()[..16]);
    b
}

pub fn vm_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn dir_size(path: &std::path::Path) -> u64 {
    if path.is_file() {
        return path.metadata().map(|m| m.len()).unwrap_or(0);
    }
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

/// Bytes actually allocated on disk (st_blocks), which differs from the length for sparse files.
pub fn dir_blocks(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    if path.is_file() {
        return path.metadata().map(|m| m.blocks() * 512).unwrap_or(0);
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let meta = e.metadata().unwrap();
                    if meta.is_dir() {
                        dir_blocks(&e.path())
                    } else {
                        meta.blocks() * 512
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// xorshift as the bench: `count` item numbers below `total`.
pub fn random_ns(count: usize, total: usize) -> Vec<usize> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % total as u64) as usize
        })
        .collect()
}
