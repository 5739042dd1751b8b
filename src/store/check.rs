//! Opening a store only when it is whole (see `integrity`), the read-only opening on a private
//! copy, and `wardfeed verify`'s deeper look.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use super::integrity::{self, ManifestProblem, SEALED, Seal, Seals};
use super::kv;
use super::records::{Incident, SourceHealth, StoredItem, StoryRecord};
use super::{
    Fault, GENERATION_KEY, Handles, SCHEMA_VERSION, StoreError, by_source_key, by_time_key,
    describe, key_suffix, records::decode, seal_key,
};
use crate::model::ItemKey;

/// A store whose seals count at most this many records (about 30,000 items) is read whole
/// at open, which takes well under a second. A larger one is checked at open against its
/// manifest and its own tallies (a shrunken, older, emptied or half-restored database, a
/// missing or edited manifest: all refused at open, in O(1)) and at both ends of every tree,
/// and read whole before its first write (`Store::finish_verification`, which the daemon
/// starts in the background at once): reading 1 M items whole took about 25 s.
pub const OPEN_SCAN_RECORDS: u64 = 200_000;

/// How far a store was checked at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Checked {
    /// Every sealed tree read whole and its seal recomputed.
    Whole,
    /// The manifest, the tallies and the ends of each tree: the rest is read before the first
    /// write.
    Deferred,
}

/// Opens the database in `dir` and checks it against its seals and its manifest: whole
/// when its seals count at most `scan_records` records. A new store (no database, no
/// manifest) is created and sealed; a schema-2 store is sealed.
pub(super) fn open_checked(
    dir: &Path,
    cache_bytes: u64,
    scan_records: u64,
) -> Result<(Handles, Checked), StoreError> {
    let damaged = |problem: String| StoreError::Damaged {
        path: dir.display().to_string(),
        problem,
    };
    // A storage engine may panic on a damaged file rather than return an error (sled did).
    let opened = std::panic::catch_unwind(AssertUnwindSafe(|| Handles::open(dir, cache_bytes)))
        .map_err(|panic| {
            damaged(format!(
                "the storage engine failed reading it ({})",
                panic_text(&panic)
            ))
        })?;
    let handles = match opened {
        Ok(handles) => handles,
        Err(error @ kv::Error::Corrupted(_)) => {
            return Err(damaged(format!(
                "its database cannot be opened: {}",
                describe(&error)
            )));
        }
        // The engine's own words tell an admin nothing about what holds it or what to do.
        Err(kv::Error::InUse) => {
            return Err(StoreError::Open {
                path: dir.display().to_string(),
                message: "it is in use by a running wardfeed (stop the daemon first, \
                          e.g. systemctl stop wardfeed)"
                    .into(),
            });
        }
        Err(error) => {
            return Err(StoreError::Open {
                path: dir.display().to_string(),
                message: describe(&error),
            });
        }
    };
    let checked = std::panic::catch_unwind(AssertUnwindSafe(|| check(&handles, dir, scan_records)))
        .map_err(|panic| {
            damaged(format!(
                "the storage engine failed reading it ({})",
                panic_text(&panic)
            ))
        })??;
    Ok((handles, checked))
}

/// Reads every sealed tree whole and compares it with the store's own tallies: the part of
/// the open-time check a large store defers. `Err` is the damage, in words.
pub(super) fn scan_against_tallies(handles: &Handles) -> Result<(), String> {
    let found =
        std::panic::catch_unwind(AssertUnwindSafe(|| scan(handles))).map_err(|panic| {
            format!(
                "the storage engine failed reading it ({})",
                panic_text(&panic)
            )
        })??;
    let recorded = handles
        .recorded_seals()
        .map_err(|fault| format!("its metadata cannot be read: {}", fault_text(fault)))?;
    compare(&found, &recorded)
}

fn fault_text(fault: Fault) -> String {
    match fault {
        Fault::Engine(error) => describe(&error),
        Fault::Codec(what) => what,
        Fault::Manifest(error) => error.to_string(),
    }
}

/// Whether the trees as read hold what the store's tallies say.
fn compare(found: &BTreeMap<&'static str, Seal>, recorded: &Seals) -> Result<(), String> {
    for name in SEALED {
        let (found, recorded) = (found[name], recorded.trees[name]);
        if found != recorded {
            let how = if found.count == recorded.count {
                " (as many records, different content)"
            } else {
                ""
            };
            return Err(format!(
                "its tree {name} holds {} records where the store's own tally says {}{how}",
                found.count, recorded.count
            ));
        }
    }
    Ok(())
}

/// Reads the first and last records of every sealed tree: a database cut short or overwritten
/// at its ends fails here, at open, even when the whole read is deferred.
fn ends(handles: &Handles) -> Result<(), String> {
    const EACH_END: usize = 64;
    for (name, tree) in SEALED.iter().zip(handles.sealed()) {
        for entry in tree
            .iter()
            .take(EACH_END)
            .chain(tree.iter().rev().take(EACH_END))
        {
            entry.map_err(|error| {
                format!(
                    "a record of its tree {name} cannot be read: {}",
                    describe(&error)
                )
            })?;
        }
    }
    Ok(())
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".to_owned())
}

fn check(handles: &Handles, dir: &Path, scan_records: u64) -> Result<Checked, StoreError> {
    let path = dir.display().to_string();
    let damaged = |problem: String| StoreError::Damaged {
        path: path.clone(),
        problem,
    };
    let unreadable = |fault: Fault| match fault {
        Fault::Engine(error) => {
            damaged(format!("its metadata cannot be read: {}", describe(&error)))
        }
        Fault::Codec(what) => damaged(format!("its metadata cannot be read: {what}")),
        Fault::Manifest(error) => damaged(format!("its manifest cannot be read: {error}")),
    };
    let write_error = |what: &str, message: String| StoreError::Open {
        path: path.clone(),
        message: format!("{what}: {message}"),
    };
    let schema = handles
        .meta
        .get("schema")
        .map_err(|e| unreadable(e.into()))?
        .map(|bytes| {
            bytes
                .as_slice()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| unreadable(Fault::Codec("its schema version".into())))
        })
        .transpose()?;
    let manifest = integrity::read_manifest(dir);
    let mut checked = Checked::Whole;
    match schema {
        None => {
            let mut holds_records = false;
            for (name, tree) in SEALED.iter().zip(handles.sealed()) {
                let count = tree.count().map_err(|error| {
                    damaged(format!(
                        "its tree {name} cannot be read: {}",
                        describe(&error)
                    ))
                })?;
                holds_records |= count > 0;
            }
            match &manifest {
                Ok(recorded) if recorded.generation > 0 || recorded.items() > 0 => {
                    return Err(damaged(format!(
                        "its database holds no ledger, but its manifest records {} items at generation {}: the database file was lost, emptied or cut short",
                        recorded.items(),
                        recorded.generation
                    )));
                }
                Err(ManifestProblem::Unreadable(why)) => {
                    return Err(damaged(format!(
                        "its database holds no ledger and its manifest is unreadable ({why})"
                    )));
                }
                _ if holds_records => {
                    return Err(damaged(
                        "its database holds records but no schema version".into(),
                    ));
                }
                // A new store: the manifest first, so that a crash before the schema is written
                // leaves a store that still reads as new.
                _ => {
                    seal(handles, dir, empty_seals(), "create")
                        .map_err(|message| write_error("create", message))?;
                    // A new store's search index is written with its items from the start.
                    handles
                        .meta
                        .insert(super::search::BUILT_KEY, [1u8])
                        .and_then(|_| handles.db.flush())
                        .map_err(|e| write_error("create", describe(&e)))?;
                }
            }
        }
        Some(2) => {
            let found = scan(handles).map_err(&damaged)?;
            let seals = Seals {
                generation: 1,
                trees: found,
            };
            tracing::info!(path = %path, items = seals.items(), "sealing a store of an earlier wardfeed (schema 2 → 3)");
            seal(handles, dir, seals, "seal").map_err(|message| write_error("seal", message))?;
        }
        Some(SCHEMA_VERSION) => {
            let recorded = handles.recorded_seals().map_err(unreadable)?;
            let records: u64 = recorded.trees.values().map(|seal| seal.count).sum();
            if records <= scan_records {
                let found = scan(handles).map_err(&damaged)?;
                compare(&found, &recorded).map_err(&damaged)?;
            } else {
                ends(handles).map_err(&damaged)?;
                checked = Checked::Deferred;
            }
            match manifest {
                Err(ManifestProblem::Missing) if recorded == empty_seals() => {
                    integrity::write_manifest(dir, SCHEMA_VERSION, &recorded)
                        .map_err(|e| write_error("write its manifest", e.to_string()))?;
                }
                Err(ManifestProblem::Missing) => {
                    return Err(damaged(format!(
                        "its manifest ({}) is missing, so nothing shows that the database is complete",
                        integrity::MANIFEST_FILE
                    )));
                }
                Err(ManifestProblem::Unreadable(why)) => {
                    return Err(damaged(format!(
                        "its manifest ({}) is unreadable: {why}",
                        integrity::MANIFEST_FILE
                    )));
                }
                Ok(manifest) if manifest.generation > recorded.generation => {
                    return Err(damaged(format!(
                        "it is at generation {} with {} items, but its manifest records generation {} with {} items: what was written after generation {} is gone (a truncated, older or half-restored database file?)",
                        recorded.generation,
                        recorded.items(),
                        manifest.generation,
                        manifest.items(),
                        recorded.generation
                    )));
                }
                Ok(manifest) if manifest.generation == recorded.generation => {
                    if manifest.trees != recorded.trees {
                        return Err(damaged(format!(
                            "it holds {} items at generation {}, but its manifest records {} items at that generation",
                            recorded.items(),
                            recorded.generation,
                            manifest.items()
                        )));
                    }
                }
                // It crashed (or its disk filled) between a flush and the manifest's rewrite:
                // bring it up to date. If that fails too (the disk is still full), the store is
                // still whole and opens: the manifest is rewritten after the next flush.
                Ok(_) => {
                    if let Err(error) = integrity::write_manifest(dir, SCHEMA_VERSION, &recorded) {
                        tracing::warn!(path = %path, error = %error, "the store's manifest is behind its database and cannot be brought up to date yet");
                    }
                }
            }
        }
        Some(found) => {
            return Err(StoreError::Schema {
                path,
                found,
                expected: SCHEMA_VERSION,
            });
        }
    }
    Ok(checked)
}

fn empty_seals() -> Seals {
    Seals {
        generation: 0,
        trees: SEALED.iter().map(|name| (*name, Seal::default())).collect(),
    }
}

/// Records `seals` as the store's: the manifest, then `meta` (schema, generation, seals),
/// flushed.
fn seal(handles: &Handles, dir: &Path, seals: Seals, _what: &str) -> Result<(), String> {
    integrity::write_manifest(dir, SCHEMA_VERSION, &seals).map_err(|e| e.to_string())?;
    let mut batch = kv::Batch::default();
    for (name, seal) in &seals.trees {
        batch.insert(seal_key(name).as_bytes(), &seal.to_bytes()[..]);
    }
    batch.insert(GENERATION_KEY, &seals.generation.to_be_bytes()[..]);
    batch.insert("schema", &SCHEMA_VERSION.to_be_bytes()[..]);
    handles.meta.apply_batch(batch).map_err(|e| describe(&e))?;
    handles.db.flush().map_err(|e| describe(&e))?;
    Ok(())
}

/// Every sealed tree read whole, its seal recomputed.
fn scan(handles: &Handles) -> Result<BTreeMap<&'static str, Seal>, String> {
    let mut seals = BTreeMap::new();
    for (name, tree) in SEALED.iter().zip(handles.sealed()) {
        let mut seal = Seal::default();
        for entry in tree.iter() {
            let (key, value) = entry.map_err(|error| {
                format!(
                    "a record of its tree {name} cannot be read: {}",
                    describe(&error)
                )
            })?;
            seal.add(name, &key, &value);
        }
        seals.insert(*name, seal);
    }
    Ok(seals)
}

/// A copy of the store in `path` in a new private directory, taken under a shared lock on its
/// database (so never while a daemon writes it). Nothing in `path` is written or created.
pub(super) fn private_copy(path: &Path) -> Result<tempfile::TempDir, StoreError> {
    let open_error = |message: String| StoreError::Open {
        path: path.display().to_string(),
        message,
    };
    // A store of an earlier wardfeed (sled) is moved to the new engine in the copy.
    let db = match path.join(kv::DB_FILE) {
        file if file.exists() => file,
        _ => path.join(kv::SLED_FILE),
    };
    let file = std::fs::File::open(&db).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => open_error("no store here (no database file)".into()),
        _ => open_error(format!("read {}: {error}", db.display())),
    })?;
    // A store closed a moment ago may still be held by a reader finishing its walk: ask again
    // for a second before saying a daemon holds it.
    let mut tries = 0;
    let locked = loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
            Err(rustix::io::Errno::WOULDBLOCK) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other,
        }
    };
    locked.map_err(|error| {
        if error == rustix::io::Errno::WOULDBLOCK {
            open_error("it is in use by a running wardfeed (stop the daemon first)".into())
        } else {
            open_error(format!("lock {}: {error}", db.display()))
        }
    })?;
    let scratch = tempfile::Builder::new()
        .prefix("wardfeed-store-copy-")
        .tempdir()
        .map_err(|e| open_error(format!("make a private copy: {e}")))?;
    copy_dir(path, scratch.path()).map_err(|e| {
        open_error(format!(
            "make a private copy in {}: {e}",
            scratch.path().display()
        ))
    })?;
    drop(file);
    Ok(scratch)
}

#[cfg(test)]
pub(super) fn copy_dir_for_tests(from: &Path, to: &Path) {
    copy_dir(from, to).unwrap();
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        // What a move from sled left (its files kept aside, or a move cut short): not the
        // store, and as large as it.
        let name = entry.file_name();
        if name == kv::SLED_KEPT || name.to_string_lossy().ends_with(".partial") {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir(&target)?;
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// `error` about the private copy in `copy`, told of the store in `original` instead.
pub(super) fn renamed(error: StoreError, copy: &Path, original: &Path) -> StoreError {
    let (copy, original) = (copy.display().to_string(), original.display().to_string());
    let fix = {
        let original = original.clone();
        move |text: String| text.replace(&copy, &original)
    };
    match error {
        StoreError::Open { message, .. } => StoreError::Open {
            path: original,
            message: fix(message),
        },
        StoreError::Damaged { problem, .. } => StoreError::Damaged {
            path: original,
            problem: fix(problem),
        },
        StoreError::Schema {
            found, expected, ..
        } => StoreError::Schema {
            path: original,
            found,
            expected,
        },
        StoreError::Io { message, .. } => StoreError::Io {
            path: original,
            message: fix(message),
        },
        StoreError::Unreadable { message, .. } => StoreError::Unreadable {
            path: original,
            message: fix(message),
        },
        StoreError::Reopening { .. } => StoreError::Reopening { path: original },
        // About the backup file, not the store.
        backup @ StoreError::Backup { .. } => backup,
        StoreError::NoRoom {
            free_mib,
            reserve_mib,
            ..
        } => StoreError::NoRoom {
            path: original,
            free_mib,
            reserve_mib,
        },
        other @ StoreError::Task(_) => other,
    }
}

/// What `wardfeed verify` found in a store that opened (so its seals and manifest agree).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub generation: u64,
    pub items: u64,
    pub stories: u64,
    pub sources_with_health: u64,
    pub incidents: u64,
    pub pages: u64,
    /// Inconsistencies between records (each would be a bug or damage): empty when whole.
    pub problems: Vec<String>,
}

impl super::Store {
    /// Reads every record of the ledger and checks that they agree: every item decodes and
    /// has its two index entries and a story; every index entry and story member has its
    /// item; health and incidents decode.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.read(|h| Ok(deep_check(h)))
    }
}

fn deep_check(h: &Handles) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut problems = Vec::new();
    let mut note = |text: String| {
        if problems.len() < 100 {
            problems.push(text);
        }
    };
    if let Ok(seals) = h.recorded_seals() {
        report.generation = seals.generation;
    }
    let mut items: BTreeMap<ItemKey, StoredItem> = BTreeMap::new();
    for entry in h.items.iter() {
        match entry {
            Ok((key, value)) => match decode::<StoredItem>(&value) {
                Ok(item) if item.key.0[..] == key[..] => {
                    items.insert(item.key, item);
                }
                Ok(item) => note(format!("item {} is stored under another key", item.key)),
                Err(Fault::Codec(why)) => note(format!("an item does not decode: {why}")),
                Err(_) => note("an item does not decode".into()),
            },
            Err(error) => note(format!("an item cannot be read: {}", describe(&error))),
        }
    }
    report.items = items.len() as u64;
    let index_keys = |tree: &kv::Tree| -> BTreeSet<Vec<u8>> {
        tree.iter()
            .keys()
            .filter_map(Result::ok)
            .map(|k| k.to_vec())
            .collect()
    };
    let by_source = index_keys(&h.by_source);
    let by_time = index_keys(&h.by_time);
    for (key, item) in &items {
        let time = item.sort_time();
        if !by_source.contains(&by_source_key(&item.item.source, time, key)) {
            note(format!(
                "item {} ({}) is missing from its source's index",
                key, item.item.url
            ));
        }
        if !by_time.contains(&by_time_key(time, key)) {
            note(format!(
                "item {} ({}) is missing from the time index",
                key, item.item.url
            ));
        }
        match h.story_of.get(key.0) {
            Ok(Some(_)) => {}
            Ok(None) => note(format!("item {} ({}) is in no story", key, item.item.url)),
            Err(error) => note(format!(
                "the story of item {key} cannot be read: {}",
                describe(&error)
            )),
        }
    }
    for (name, index) in [("source", &by_source), ("time", &by_time)] {
        for entry in index {
            if key_suffix(entry).is_none_or(|key| !items.contains_key(&key)) {
                note(format!("the {name} index names an item that is not stored"));
            }
        }
    }
    for entry in h.stories.iter() {
        match entry
            .map_err(Fault::from)
            .and_then(|(_, value)| decode::<StoryRecord>(&value))
        {
            Ok(story) => {
                report.stories += 1;
                for member in story.members {
                    if !items.contains_key(&member) {
                        note(format!("a story names item {member}, which is not stored"));
                    }
                }
            }
            Err(_) => note("a story cannot be read".into()),
        }
    }
    for entry in h.health.iter() {
        match entry
            .map_err(Fault::from)
            .and_then(|(_, value)| decode::<SourceHealth>(&value))
        {
            Ok(_) => report.sources_with_health += 1,
            Err(_) => note("a source's health record cannot be read".into()),
        }
    }
    for entry in h.incidents.iter() {
        match entry
            .map_err(Fault::from)
            .and_then(|(_, value)| decode::<Incident>(&value))
        {
            Ok(_) => report.incidents += 1,
            Err(_) => note("an incident cannot be read".into()),
        }
    }
    report.pages = h.pages.len() as u64;
    report.problems = problems;
    report
}
