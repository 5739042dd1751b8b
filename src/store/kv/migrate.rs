//! Moving a store written by an earlier wardfeed (on sled 0.34) into redb, once, at its first
//! opening: every tree copied, counted against the original, and the old files kept aside
//! (`sled-0.34/` in the store directory) until the admin removes them.

use std::path::Path;

use redb::{Database, Durability};

use super::{DB_FILE, Error, Result, definition};

/// The file that marks a sled store (its log).
pub const SLED_FILE: &str = "db";

/// Where the sled files go once copied.
pub const SLED_KEPT: &str = "sled-0.34";

/// sled's own tree, which wardfeed never wrote, and the word postings of an earlier search
/// index, which the store drops at open anyway.
const NOT_COPIED: [&[u8]; 2] = [b"__sled__default", b"search"];

/// Unreadable records in a row after which a lenient move leaves the rest of a tree.
const GIVE_UP_AFTER: u64 = 1000;

/// Records per commit while copying: bounds the copy's memory.
const RECORDS_PER_COMMIT: usize = 20_000;

/// What a move from sled did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub records: u64,
    /// Records sled could not read (only when moving leniently, for a salvage).
    pub unreadable: u64,
}

/// Copies the sled store in `dir` into a new redb database there, if `dir` holds a sled store
/// and no redb database yet (`None`: nothing to move). Any record sled cannot read stops the
/// move and changes nothing, unless `lenient` (a salvage's private copy): then it is skipped
/// and counted, and a tree that fails `GIVE_UP_AFTER` times in a row is left there.
pub fn migrate_from_sled(dir: &Path, lenient: bool) -> Result<Option<Moved>> {
    let (sled_file, target) = (dir.join(SLED_FILE), dir.join(DB_FILE));
    if target.exists() || !sled_file.exists() {
        return Ok(None);
    }
    let io = |what: String| {
        move |error: std::io::Error| {
            Error::Io(std::io::Error::new(
                error.kind(),
                format!("{what}: {error}"),
            ))
        }
    };
    let started = std::time::Instant::now();
    tracing::warn!(path = %dir.display(), "this store was written by an earlier wardfeed (sled); moving it to the new storage engine once (its files are kept in {SLED_KEPT}/)");
    // sled lets go of its lock from a background thread a moment after its last handle
    // drops (an earlier wardfeed stopped just now): wait a little for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let old = loop {
        match sled::Config::new().path(dir).open() {
            Ok(old) => break old,
            Err(sled::Error::Io(error)) if error.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(Error::InUse);
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(other) => return Err(Error::Other(format!("read the earlier store: {other}"))),
        }
    };
    let partial = dir.join(format!("{DB_FILE}.partial"));
    if partial.exists() {
        std::fs::remove_file(&partial).map_err(io(format!("remove {}", partial.display())))?;
    }
    let new = Database::builder().create(&partial)?;
    let sled_error = |error: sled::Error| Error::Other(format!("read the earlier store: {error}"));
    let mut copied = 0u64;
    let mut unreadable = 0u64;
    for name in old.tree_names() {
        if NOT_COPIED.contains(&&name[..]) {
            continue;
        }
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| Error::Other("a tree of the earlier store has no readable name".into()))?;
        let tree = old.open_tree(&name).map_err(sled_error)?;
        let mut entries = tree.iter();
        let (mut count, mut failed, mut failures_in_row) = (0u64, 0u64, 0);
        loop {
            let mut txn = new.begin_write()?;
            txn.set_durability(Durability::None);
            let mut more = false;
            {
                let mut table = txn.open_table(definition(&name))?;
                for entry in entries.by_ref().take(RECORDS_PER_COMMIT) {
                    more = true;
                    match entry {
                        Ok((key, value)) => {
                            table.insert(&key[..], &value[..])?;
                            count += 1;
                            failures_in_row = 0;
                        }
                        Err(error) if !lenient => return Err(sled_error(error)),
                        Err(_) => {
                            failed += 1;
                            failures_in_row += 1;
                            if failures_in_row >= GIVE_UP_AFTER {
                                break;
                            }
                        }
                    }
                }
            }
            txn.commit()?;
            if !more || failures_in_row >= GIVE_UP_AFTER {
                break;
            }
        }
        unreadable += failed;
        let held = new.begin_read()?.open_table(definition(&name))?;
        let held = redb::ReadableTableMetadata::len(&held)?;
        if held != count || (!lenient && count != tree.len() as u64) {
            return Err(Error::Other(format!(
                "moving tree {name}: the earlier store holds {} records, {count} were read and {held} written; nothing was changed (the earlier store is as it was)",
                tree.len()
            )));
        }
        copied += count;
    }
    if unreadable > 0 {
        tracing::warn!(path = %dir.display(), unreadable, "records of the earlier store could not be read and were not moved");
    }
    let mut txn = new.begin_write()?;
    txn.set_quick_repair(true);
    txn.commit()?;
    drop(new);
    drop(old);
    std::fs::File::open(&partial)
        .and_then(|file| file.sync_all())
        .map_err(io(format!("sync {}", partial.display())))?;
    std::fs::rename(&partial, dir.join(DB_FILE))
        .map_err(io(format!("rename {}", partial.display())))?;
    let kept = dir.join(SLED_KEPT);
    std::fs::create_dir_all(&kept).map_err(io(format!("create {}", kept.display())))?;
    for entry in std::fs::read_dir(dir).map_err(io(format!("read {}", dir.display())))? {
        let entry = entry.map_err(io(format!("read {}", dir.display())))?;
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        if name == SLED_FILE || name == "conf" || name == "blobs" || name.starts_with("snap.") {
            let to = kept.join(&file_name);
            std::fs::rename(entry.path(), &to)
                .map_err(io(format!("move {name} to {}", to.display())))?;
        }
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("sync {}", dir.display())))?;
    tracing::warn!(path = %dir.display(), records = copied, elapsed_ms = started.elapsed().as_millis() as u64, "store moved to the new storage engine; the earlier files are in {SLED_KEPT}/ and can be removed once this wardfeed has run well", );
    Ok(Some(Moved {
        records: copied,
        unreadable,
    }))
}
