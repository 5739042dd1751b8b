//! What the store keeps, as records: items with their ledger dates, stories, source health,
//! incidents. Encoded with postcard; the schema version in `meta` guards the format.

use chrono::{DateTime, FixedOffset};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{ErrorKind, Item, ItemKey, SourceId, SourceStatus};

use super::Fault;

/// An item as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredItem {
    pub key: ItemKey,
    pub item: Item,
    /// When wardfeed first saw the item. Never changes.
    pub first_seen: DateTime<FixedOffset>,
    /// When its title, summary or body last changed; `None` until a real update.
    pub updated: Option<DateTime<FixedOffset>>,
    /// Hash of title, summary and body: what counts as the item's content.
    pub content_hash: [u8; 16],
}

impl StoredItem {
    /// The time the item sorts by: its publication time, or when it was first seen.
    pub fn sort_time(&self) -> DateTime<FixedOffset> {
        self.item.published.unwrap_or(self.first_seen)
    }

    /// The time the item last changed for a reader: updated, else published, else first seen.
    pub fn modified(&self) -> DateTime<FixedOffset> {
        self.updated.unwrap_or_else(|| self.sort_time())
    }

    /// When the ledger last changed the item: its update, else when it was first seen. Our
    /// own clock, never a publisher's date (which may lie years ahead or behind): what feed
    /// validators (Last-Modified) are made of.
    pub fn ledger_changed(&self) -> DateTime<FixedOffset> {
        self.updated.unwrap_or(self.first_seen)
    }
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

/// The items sharing one story title key, with the times they sort by: the input of story
/// clustering, kept per key so that clustering needs point reads only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TitleMembers {
    pub members: Vec<(i64, ItemKey)>,
}

/// One story: items of one or more sources that tell the same news.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryRecord {
    pub members: Vec<ItemKey>,
}

/// A story with its items, ready to show: title and time of the earliest source.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub id: u64,
    /// Ordered by published time, then source, then URL.
    pub items: Vec<StoredItem>,
}

impl Story {
    pub fn first(&self) -> &StoredItem {
        &self.items[0]
    }

    pub fn title(&self) -> &str {
        &self.first().item.title
    }

    pub fn published(&self) -> DateTime<FixedOffset> {
        self.first().sort_time()
    }

    /// The latest content change among the members (a story changes when any member does).
    pub fn modified(&self) -> DateTime<FixedOffset> {
        self.items
            .iter()
            .map(StoredItem::modified)
            .max()
            .unwrap_or_else(|| self.published())
    }

    /// When the ledger last changed any member (`StoredItem::ledger_changed`).
    pub fn ledger_changed(&self) -> DateTime<FixedOffset> {
        self.items
            .iter()
            .map(StoredItem::ledger_changed)
            .max()
            .unwrap_or_else(|| self.first().first_seen)
    }
}

/// A failure as the health record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthError {
    pub at: DateTime<FixedOffset>,
    pub kind: ErrorKind,
    /// The category (listing or feed) that failed.
    pub category: String,
    pub message: String,
}

/// How a source has been doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceHealth {
    pub status: SourceStatus,
    pub last_attempt: Option<DateTime<FixedOffset>>,
    /// The last refresh in which every listing answered.
    pub last_success: Option<DateTime<FixedOffset>>,
    pub last_error: Option<HealthError>,
    pub consecutive_failures: u32,
    /// Items the last refresh produced.
    pub items_seen: u64,
    /// Categories whose listing answered with no items.
    pub empty_listings: Vec<String>,
    /// Every listing or feed that failed in the last refresh.
    pub failures: Vec<HealthError>,
}

impl Default for SourceHealth {
    fn default() -> SourceHealth {
        SourceHealth {
            status: SourceStatus::Pending,
            last_attempt: None,
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
            items_seen: 0,
            empty_listings: Vec::new(),
            failures: Vec::new(),
        }
    }
}

/// A change of a source's status, for the incident feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: u64,
    pub source: SourceId,
    pub at: DateTime<FixedOffset>,
    pub from: SourceStatus,
    pub to: SourceStatus,
    pub error: Option<HealthError>,
}

/// Records are postcard, zstd-compressed at `RECORD_LEVEL`: article bodies are most of the
/// store, and fewer bytes written means faster ingests and a smaller disk footprint (a ward
/// article's record is ~30 % smaller than with the LZ4 every record had before issue 14).
///
/// The first four bytes of a record are its version tag. A zstd frame opens with the bytes
/// `28 B5 2F FD` (its magic number); a record written before is an LZ4 block behind its plain
/// size as a little-endian u32, and those four bytes as a size would be 4.2 GB —
/// more than any record holds (a few MiB at most) — so an old record is never taken for a
/// new one, and stores written before still read whole. Records are never rewritten only to
/// change their compression: an old record stays LZ4 until its item changes.
pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Fault> {
    let plain = postcard::to_allocvec(value).map_err(|e| Fault::Codec(e.to_string()))?;
    #[cfg(test)]
    if WRITE_LZ4.with(std::cell::Cell::get) {
        return Ok(lz4_flex::compress_prepend_size(&plain));
    }
    let level = if plain.len() >= ARTICLE_PLAIN {
        RECORD_LEVEL
    } else {
        SMALL_RECORD_LEVEL
    };
    zstd::bulk::compress(&plain, level).map_err(|e| Fault::Codec(e.to_string()))
}

/// zstd's level for records: 12. The store's 4 KiB pages (redb) hold two records only when
/// they are under ~2,020 B: at zstd's default (3) the store bench's items averaged 2,065 B and
/// nearly each took a page of its own (4,945 B/item on disk at 1 M items); at 12 they average
/// 1,943 B and most pair (BENCHMARKS.md, "The store on redb"), for ~190 µs a record instead of
/// ~30 (4 ms more per refresh of 20 items).
const RECORD_LEVEL: i32 = 12;

/// Records shorter than this (titles' members, stories, health, an item without a body) pair
/// in a page at any level: they keep zstd's default, which is several times faster.
const ARTICLE_PLAIN: usize = 2048;
const SMALL_RECORD_LEVEL: i32 = 3;

/// The little-endian magic number opening a zstd frame: the tag of a record written since
/// issue 14.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The most plain bytes a record may declare (zstd frames carry their size): well above the
/// pipeline's caps, far below what a damaged size could make us allocate.
const MAX_PLAIN: usize = 256 << 20;

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Fault> {
    let plain = if bytes.starts_with(&ZSTD_MAGIC) {
        zstd::bulk::decompress(bytes, plain_size(bytes)?)
            .map_err(|e| Fault::Codec(e.to_string()))?
    } else {
        lz4_flex::decompress_size_prepended(bytes).map_err(|e| Fault::Codec(e.to_string()))?
    };
    postcard::from_bytes(&plain).map_err(|e| Fault::Codec(e.to_string()))
}

/// The plain size a zstd record declares, refused past `MAX_PLAIN` or when missing.
fn plain_size(bytes: &[u8]) -> Result<usize, Fault> {
    match zstd::zstd_safe::get_frame_content_size(bytes) {
        Ok(Some(size)) if size <= MAX_PLAIN as u64 => Ok(size as usize),
        Ok(Some(size)) => Err(Fault::Codec(format!(
            "a record declares {size} plain bytes, more than any record holds"
        ))),
        Ok(None) | Err(_) => Err(Fault::Codec(
            "a zstd record without its plain size".to_owned(),
        )),
    }
}

#[cfg(test)]
thread_local! {
    /// Tests: this thread writes records as every store did before issue 14 (LZ4), to make a
    /// store of the previous format.
    pub(super) static WRITE_LZ4: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_zstd_frames_smaller_than_lz4_and_old_lz4_records_still_read() {
        // A ward article's worth of Vietnamese prose.
        let prose = include_str!("../../tests/fixtures/seeds/000_d03cbedb7e02fbf8.txt");
        let body: String = prose.chars().take(4000).collect();
        let value = (String::from("Tiêu đề"), body);

        let new = encode(&value).unwrap();
        assert!(
            new.starts_with(&ZSTD_MAGIC),
            "a new record is tagged as zstd"
        );
        let plain = postcard::to_allocvec(&value).unwrap();
        let old = lz4_flex::compress_prepend_size(&plain);
        assert!(
            new.len() * 10 < old.len() * 9,
            "zstd {} B vs LZ4 {} B for an article",
            new.len(),
            old.len()
        );
        assert_eq!(decode::<(String, String)>(&new).unwrap(), value);
        assert_eq!(decode::<(String, String)>(&old).unwrap(), value);

        // A damaged tag or size is a codec fault, never a panic or a huge allocation.
        let mut huge = new.clone();
        huge.truncate(4);
        assert!(decode::<(String, String)>(&huge).is_err());
    }
}
