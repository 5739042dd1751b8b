//! The durable ledger, in sled: the only module that knows sled exists.
//!
//! Trees:
//! - `items`: item key → [`StoredItem`]
//! - `by_source`: `source/` + sort time + key → (): a source's items, newest last
//! - `by_time`: sort time + key → (): every item, newest last
//! - `titles`: story title key → [`TitleMembers`]: the items a story could gather
//! - `story_of`: item key → story id; `stories`: story id → [`StoryRecord`]
//! - `pages`: page key (canonical URL) → the last answer with ETag / Last-Modified, for
//!   conditional requests
//! - `health`: source → [`SourceHealth`]; `warnings`: source → its last refresh's warnings;
//!   `incidents`: id → [`Incident`]
//! - `meta`: schema version
//!
//! Every ingest is a sled transaction over the item trees and is flushed to disk before it
//! returns, so what an ingest reports survives a `kill -9`, and a half-done ingest leaves no
//! half-written item.

mod health;
mod ledger;
mod pages;
pub mod records;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset};
use sled::Tree;

use crate::model::{ItemKey, SourceId};
pub use health::RunOutcome;
pub use ledger::{Change, IngestReport};
use records::decode;
pub use records::{HealthError, Incident, SourceHealth, StoredItem, Story};

/// Bumped when the on-disk format changes incompatibly.
const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("open store {path}: {message}")]
    Open { path: String, message: String },
    #[error(
        "open store {path}: it was written with schema {found}, this wardfeed reads schema {expected}"
    )]
    Schema {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: unreadable record: {0}")]
    Codec(String),
    #[error("store: background task failed: {0}")]
    Task(String),
}

/// The ledger. Cheap to share behind an `Arc`; reads run concurrently, writes one at a time.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    items: Tree,
    by_source: Tree,
    by_time: Tree,
    titles: Tree,
    story_of: Tree,
    stories: Tree,
    pages: Tree,
    health: Tree,
    /// source → the warnings of its last refresh (a tree of its own, so that the health
    /// record's format did not change).
    warnings: Tree,
    incidents: Tree,
    /// One writer at a time: sled would retry conflicting transactions, but ingests are short
    /// and serialising them keeps story clustering simple to reason about. A std mutex, because
    /// it is never held across an await (callers run ingests on blocking threads).
    write_lock: Mutex<()>,
    /// Per-source change counters since open, for the renderer's cache.
    generations: Mutex<HashMap<SourceId, u64>>,
    /// Bumped on every health record, for the dashboard's and incident feed's cache.
    health_generation: std::sync::atomic::AtomicU64,
    /// Bumped on any change at all (items or health): one atomic load tells a reader that
    /// nothing changed since it last looked.
    any_generation: std::sync::atomic::AtomicU64,
    /// Item records decoded (`decoded_items`).
    decoded: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Sort times as big-endian bytes that order like the instants (sign bit flipped).
fn time_bytes(time: DateTime<FixedOffset>) -> [u8; 8] {
    ((time.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

fn source_prefix(source: &SourceId) -> Vec<u8> {
    let mut prefix = source.as_str().as_bytes().to_vec();
    // Source ids never contain '/', so "bode/" cannot prefix "bode2/…".
    prefix.push(b'/');
    prefix
}

fn by_source_key(source: &SourceId, time: DateTime<FixedOffset>, key: &ItemKey) -> Vec<u8> {
    let mut k = source_prefix(source);
    k.extend_from_slice(&time_bytes(time));
    k.extend_from_slice(&key.0);
    k
}

fn by_time_key(time: DateTime<FixedOffset>, key: &ItemKey) -> Vec<u8> {
    let mut k = time_bytes(time).to_vec();
    k.extend_from_slice(&key.0);
    k
}

/// The item key at the end of an index key.
fn key_suffix(index_key: &[u8]) -> Option<ItemKey> {
    index_key
        .len()
        .checked_sub(16)
        .and_then(|at| ItemKey::from_slice(&index_key[at..]))
}

impl Store {
    /// Opens (or creates) the store in directory `path` with the default cache size.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, crate::config::DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store in directory `path`, caching up to `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let open_error = |message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(path).map_err(|e| open_error(e.to_string()))?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| open_error(e.to_string()))?;
        let meta = db.open_tree("meta")?;
        match meta.get("schema")? {
            Some(bytes) => {
                let found = bytes
                    .as_ref()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Codec("schema version".into()))?;
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        path: path.display().to_string(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
            None => {
                meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
            }
        }
        Ok(Store {
            path: path.to_owned(),
            items: db.open_tree("items")?,
            by_source: db.open_tree("by_source")?,
            by_time: db.open_tree("by_time")?,
            titles: db.open_tree("titles")?,
            story_of: db.open_tree("story_of")?,
            stories: db.open_tree("stories")?,
            pages: db.open_tree("pages")?,
            health: db.open_tree("health")?,
            warnings: db.open_tree("warnings")?,
            incidents: db.open_tree("incidents")?,
            db,
            write_lock: Mutex::new(()),
            generations: Mutex::new(HashMap::new()),
            health_generation: std::sync::atomic::AtomicU64::new(0),
            any_generation: std::sync::atomic::AtomicU64::new(0),
            decoded: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn item(&self, key: &ItemKey) -> Result<Option<StoredItem>, StoreError> {
        let Some(bytes) = self.items.get(key.0)? else {
            return Ok(None);
        };
        self.decoded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        decode(&bytes).map(Some)
    }

    /// How many times the source's items have changed since the store was opened.
    pub fn generation(&self, source: &SourceId) -> u64 {
        self.generations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(source)
            .copied()
            .unwrap_or(0)
    }

    /// How many health records have been written since the store was opened.
    pub fn health_generation(&self) -> u64 {
        self.health_generation
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Changes of any kind since the store was opened.
    pub fn any_generation(&self) -> u64 {
        self.any_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump_generation(&self, source: &SourceId) {
        self.any_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *self
            .generations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(source.clone())
            .or_insert(0) += 1;
    }

    /// A source's items, newest first, each read and decoded only when the iterator reaches
    /// it: a feed of 100 items decodes 100 records, whatever the history holds.
    pub fn source_items(&self, source: &SourceId) -> Items<'_> {
        Items {
            store: self,
            index: self.by_source.scan_prefix(source_prefix(source)).rev(),
        }
    }

    /// Every item, newest first, decoded as the iterator reaches it.
    pub fn items(&self) -> Items<'_> {
        Items {
            store: self,
            index: self.by_time.iter().rev(),
        }
    }

    /// The number of items a source has in the store.
    pub fn source_len(&self, source: &SourceId) -> usize {
        self.by_source.scan_prefix(source_prefix(source)).count()
    }

    /// Stories, newest first (by their earliest item), whose items pass `keep`; a story is
    /// shown with the items that pass. Read lazily: taking `n` stories walks the time index
    /// only as far as the `n`th story's earliest item.
    pub fn stories<F: FnMut(&StoredItem) -> bool>(&self, keep: F) -> Stories<'_, F> {
        Stories {
            store: self,
            index: self.by_time.iter().rev(),
            keep,
        }
    }

    /// Item records decoded since the store was opened: what a read cost, for tests and
    /// benchmarks.
    pub fn decoded_items(&self) -> u64 {
        self.decoded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The story an item belongs to, restricted to items that pass `keep`.
    fn story_containing(
        &self,
        key: &ItemKey,
        keep: &mut impl FnMut(&StoredItem) -> bool,
    ) -> Result<Option<Story>, StoreError> {
        let story_id = self
            .story_of
            .get(key.0)?
            .and_then(|bytes| bytes.as_ref().try_into().ok().map(u64::from_be_bytes));
        let members = match story_id {
            Some(id) => match self.stories.get(id.to_be_bytes())? {
                Some(bytes) => decode::<records::StoryRecord>(&bytes)?.members,
                None => vec![*key],
            },
            None => vec![*key],
        };
        let mut items = Vec::with_capacity(members.len());
        for member in members {
            if let Some(item) = self.item(&member)?
                && keep(&item)
            {
                items.push(item);
            }
        }
        if items.is_empty() {
            return Ok(None);
        }
        items.sort_by(|a, b| {
            a.sort_time()
                .cmp(&b.sort_time())
                .then_with(|| a.item.source.cmp(&b.item.source))
                .then_with(|| a.item.url.cmp(&b.item.url))
        });
        Ok(Some(Story {
            id: story_id.unwrap_or(0),
            items,
        }))
    }
}

/// Items newest first from one of the store's indexes (see `Store::source_items`).
pub struct Items<'a> {
    store: &'a Store,
    index: std::iter::Rev<sled::Iter>,
}

impl Iterator for Items<'_> {
    type Item = Result<StoredItem, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (index_key, _) = match self.index.next()? {
                Ok(entry) => entry,
                Err(error) => return Some(Err(error.into())),
            };
            let Some(key) = key_suffix(&index_key) else {
                continue;
            };
            // An index entry without its item cannot happen after a committed transaction;
            // skip rather than fail a whole feed if it ever does.
            match self.store.item(&key) {
                Ok(Some(item)) => return Some(Ok(item)),
                Ok(None) => continue,
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

/// Stories newest first (see `Store::stories`).
pub struct Stories<'a, F> {
    store: &'a Store,
    index: std::iter::Rev<sled::Iter>,
    keep: F,
}

impl<F: FnMut(&StoredItem) -> bool> Iterator for Stories<'_, F> {
    type Item = Result<Story, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (index_key, _) = match self.index.next()? {
                Ok(entry) => entry,
                Err(error) => return Some(Err(error.into())),
            };
            let Some(key) = key_suffix(&index_key) else {
                continue;
            };
            match self.store.story_containing(&key, &mut self.keep) {
                // Each story once: when the walk reaches its earliest item.
                Ok(Some(story)) if story.first().key == key => return Some(Ok(story)),
                Ok(_) => continue,
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
