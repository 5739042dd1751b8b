//! `wardfeed verify --repair`: what can still be read of a damaged store, salvaged into a new
//! one. The damaged store is only read (from a private copy); the new store is whole and
//! sealed, with every readable item under its key, its ledger dates and, where it can be
//! read, its story id (so the combined feed does not show salvaged stories as new).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use super::check;
use super::integrity;
use super::kv;
use super::ledger::{join_story, put};
use super::records::{Incident, SourceHealth, StoredItem, decode};
use super::{Handles, Store, StoreError, by_source_key, by_time_key};
use crate::normalize::story_title_key;

/// Items written per transaction while salvaging (a new store; no refresh is split).
const SALVAGE_BATCH: usize = 256;
/// Unreadable records in a row after which the rest of a tree is taken as lost.
const GIVE_UP_AFTER: usize = 1000;

/// What a salvage recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalvageReport {
    /// Items the damaged store's manifest recorded, when it could be read.
    pub recorded_items: Option<u64>,
    pub items: u64,
    /// Records of any tree that could not be read or decoded.
    pub unreadable: u64,
    pub health: u64,
    pub incidents: u64,
    pub into: PathBuf,
    /// The database file was shorter than its own header says (cut short): the private copy
    /// was lengthened with zeros so that the engine could open it at all.
    pub padded: bool,
}

impl std::fmt::Display for SalvageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.recorded_items {
            Some(recorded) => write!(
                f,
                "salvaged {} of the {recorded} items the store's manifest records ({} lost)",
                self.items,
                recorded.saturating_sub(self.items)
            )?,
            None => write!(
                f,
                "salvaged {} items (its manifest is unreadable: how many there were is unknown)",
                self.items
            )?,
        }
        write!(
            f,
            ", {} source health records and {} incidents; {} unreadable records skipped; the new store is {}",
            self.health,
            self.incidents,
            self.unreadable,
            self.into.display()
        )?;
        if self.padded {
            write!(
                f,
                " (the database file was cut short: what was past its end is lost)"
            )?;
        }
        Ok(())
    }
}

/// Every record of `tree` that reads and decodes, and how many did not. The engine ends a walk
/// at the first page it cannot read, so after a failure the rest is read from the other end,
/// back to where the first walk stopped; what lies between is lost (counted as one unreadable
/// record, and logged). Gives up on a walk after `GIVE_UP_AFTER` failures in a row.
fn readable<T: serde::de::DeserializeOwned>(
    tree: &kv::Tree,
    unreadable: &mut u64,
) -> Vec<(kv::Bytes, T)> {
    let mut out = Vec::new();
    if !walk(tree.iter(), None, &mut out, unreadable) {
        return out;
    }
    let reached = out.last().map(|(key, _)| key.clone());
    let mut back = Vec::new();
    walk(tree.iter().rev(), reached.as_deref(), &mut back, unreadable);
    tracing::warn!(
        tree = tree.name(),
        read_forward = out.len(),
        read_backward = back.len(),
        "a tree of the damaged store cannot be read between two points: what lies there is lost"
    );
    back.reverse();
    out.extend(back);
    out
}

/// Reads `records` into `out` until they end, a key at or before `stop` (walking backward), or
/// `GIVE_UP_AFTER` failures in a row; whether it stopped at a failure.
fn walk<T: serde::de::DeserializeOwned>(
    mut records: impl Iterator<Item = kv::Result<(kv::Bytes, kv::Bytes)>>,
    stop: Option<&[u8]>,
    out: &mut Vec<(kv::Bytes, T)>,
    unreadable: &mut u64,
) -> bool {
    let mut failures_in_row = 0;
    loop {
        let next = std::panic::catch_unwind(AssertUnwindSafe(|| records.next()));
        match next {
            Ok(None) => return failures_in_row > 0,
            Ok(Some(Ok((key, value)))) => {
                if stop.is_some_and(|stop| key.as_slice() <= stop) {
                    return false;
                }
                match decode::<T>(&value) {
                    Ok(record) => {
                        failures_in_row = 0;
                        out.push((key, record));
                    }
                    Err(_) => *unreadable += 1,
                }
            }
            Ok(Some(Err(_))) | Err(_) => {
                *unreadable += 1;
                failures_in_row += 1;
                if failures_in_row >= GIVE_UP_AFTER {
                    return true;
                }
            }
        }
    }
}

/// Opens the private copy in `dir` for salvage. The engine refuses (or panics on) a database
/// file shorter than its header says: the copy is then lengthened with zeros, doubling up to
/// 64 times its length, until it opens. Returns the opening's last outcome and whether the
/// copy was lengthened.
fn open_padding(
    dir: &Path,
    cache_bytes: u64,
) -> (std::thread::Result<Result<Handles, kv::Error>>, bool) {
    let open = || std::panic::catch_unwind(AssertUnwindSafe(|| Handles::open(dir, cache_bytes)));
    let first = open();
    if matches!(first, Ok(Ok(_))) {
        return (first, false);
    }
    let file = dir.join(kv::DB_FILE);
    let Ok(length) = std::fs::metadata(&file).map(|m| m.len()) else {
        return (first, false);
    };
    let mut last = first;
    for factor in [2, 4, 8, 16, 32, 64] {
        let lengthened = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_len(length.max(4096) * factor));
        if lengthened.is_err() {
            break;
        }
        last = open();
        if matches!(last, Ok(Ok(_))) {
            tracing::warn!(file = %file.display(), "the database file is shorter than its header says: salvaging from a copy lengthened with zeros");
            return (last, true);
        }
    }
    (last, false)
}

impl Store {
    /// Salvages what is readable of the store in `from` (damaged, or not) into a new store
    /// in `into`, which must not exist yet or be empty. `from` is not written.
    pub fn salvage(
        from: &Path,
        into: &Path,
        cache_bytes: u64,
    ) -> Result<(Store, SalvageReport), StoreError> {
        if std::fs::read_dir(into).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(StoreError::Open {
                path: into.display().to_string(),
                message: "it already holds files: salvage into a new directory".into(),
            });
        }
        let scratch = check::private_copy(from)?;
        // A store of an earlier wardfeed (sled) moves over in the copy, leaving what sled
        // cannot read (counted).
        let unsalvageable = |problem: String| StoreError::Damaged {
            path: from.display().to_string(),
            problem: format!("nothing can be salvaged: {problem}"),
        };
        let moved = std::panic::catch_unwind(AssertUnwindSafe(|| {
            kv::migrate_from_sled(scratch.path(), true)
        }));
        let unreadable_before = match moved {
            Ok(Ok(moved)) => moved.map_or(0, |moved| moved.unreadable),
            Ok(Err(error)) => {
                return Err(unsalvageable(format!(
                    "the earlier storage engine (sled) cannot read it ({})",
                    super::describe(&error)
                )));
            }
            Err(_) => {
                return Err(unsalvageable(
                    "the earlier storage engine (sled) fails reading it".into(),
                ));
            }
        };
        let (old, padded) = open_padding(scratch.path(), cache_bytes);
        let old = match old {
            Ok(Ok(handles)) => handles,
            Ok(Err(error)) => {
                return Err(unsalvageable(format!(
                    "the storage engine cannot open it ({})",
                    super::describe(&error)
                )));
            }
            Err(_) => {
                return Err(unsalvageable("the storage engine fails opening it".into()));
            }
        };
        let mut unreadable = unreadable_before;
        let mut items: Vec<StoredItem> = readable(&old.items, &mut unreadable)
            .into_iter()
            .map(|(_, item)| item)
            .collect();
        items.sort_by_key(|item| (item.sort_time(), item.key));
        let story_of = |item: &StoredItem| {
            std::panic::catch_unwind(AssertUnwindSafe(|| old.story_of.get(item.key.0)))
                .ok()
                .and_then(Result::ok)
                .flatten()
                .and_then(|bytes| bytes.as_slice().try_into().ok().map(u64::from_be_bytes))
        };
        let stories: Vec<Option<u64>> = items.iter().map(story_of).collect();
        let health: Vec<(kv::Bytes, SourceHealth)> = readable(&old.health, &mut unreadable);
        let incidents: Vec<(kv::Bytes, Incident)> = readable(&old.incidents, &mut unreadable);
        drop(old);

        let store = Store::open_with_cache(into, cache_bytes)?;
        // New story and incident ids must not meet the salvaged ones.
        let highest = stories
            .iter()
            .flatten()
            .copied()
            .chain(incidents.iter().map(|(_, incident)| incident.id))
            .max()
            .unwrap_or(0);
        store.read(|h| {
            h.meta.insert(super::LAST_ID_KEY, highest.to_be_bytes())?;
            Ok(())
        })?;
        let _writer = store.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        for (batch, ids) in items
            .chunks(SALVAGE_BATCH)
            .zip(stories.chunks(SALVAGE_BATCH))
        {
            store.commit(|tx| {
                for (item, id) in batch.iter().zip(ids) {
                    let key = item.key;
                    put(&tx.items, key.0, item)?;
                    // The new store's search index is marked built at its creation.
                    super::search::reindex(tx.search, None, Some(item))?;
                    tx.by_source.insert(
                        by_source_key(&item.item.source, item.sort_time(), &key),
                        &[][..],
                    )?;
                    tx.by_time
                        .insert(by_time_key(item.sort_time(), &key), &[][..])?;
                    join_story(
                        tx,
                        &story_title_key(&item.item.title),
                        item.sort_time(),
                        &key,
                        *id,
                    )?;
                }
                Ok(())
            })?;
        }
        store.commit(|tx| {
            for (key, record) in &health {
                put(&tx.health, key, record)?;
            }
            for (key, incident) in &incidents {
                put(&tx.incidents, key, incident)?;
            }
            Ok(())
        })?;
        drop(_writer);
        let report = SalvageReport {
            recorded_items: integrity::read_manifest(from).ok().map(|m| m.items()),
            items: items.len() as u64,
            unreadable,
            health: health.len() as u64,
            incidents: incidents.len() as u64,
            into: into.to_owned(),
            padded,
        };
        Ok((store, report))
    }
}
