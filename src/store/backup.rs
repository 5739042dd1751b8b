//! `wardfeed backup` / `wardfeed restore`: the whole store as one file, and back.
//!
//! A backup is every tree of the database, record by record, read under the store's write
//! lock (so no refresh records anything meanwhile: the ledger, its seals and generation are
//! one moment's), followed by a checksum. It is taken by whoever holds the store: the daemon
//! when one runs (it answers on the store's control socket), else the command itself from a
//! private copy. A restore checks the whole file before it writes anything, builds the store in
//! a new directory beside the target, writes its manifest from the restored seals, opens it
//! through the same checks as every start, and only then moves it into place.
//!
//! The file: `MAGIC`, the format version and the store's schema (u32, big-endian), then per
//! tree `b'T'` + its name, each record `b'R'` + key + value (each a u32 length and bytes),
//! then `b'Z'`, the number of records (u64) and the BLAKE3 hash of every byte before the hash.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::check;
use super::integrity;
use super::kv;
use super::{Handles, SCHEMA_VERSION, Store, StoreError, describe};

const MAGIC: &[u8] = b"wardfeed store backup\n";
const FORMAT: u32 = 1;
/// Records written per batch while restoring (a new store no one reads yet).
const RESTORE_BATCH: usize = 1024;
/// The longest key or value a backup may hold (the engine's own bound is 3 GiB).
const MAX_FIELD: u32 = 1 << 30;

/// What a backup holds (or a restore wrote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub trees: usize,
    pub records: u64,
    /// Records of the `items` tree: the ledger's items.
    pub items: u64,
    pub bytes: u64,
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} items; {} records in {} trees; {} bytes",
            self.items, self.records, self.trees, self.bytes
        )
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub summary: BackupSummary,
    pub into: PathBuf,
    /// Where the store that was there before went (with `replace`).
    pub replaced: Option<PathBuf>,
}

impl std::fmt::Display for RestoreReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "restored {} into {}", self.summary, self.into.display())?;
        if let Some(old) = &self.replaced {
            write!(f, "; the store that was there is kept in {}", old.display())?;
        }
        Ok(())
    }
}

fn backup_error(path: &Path, message: impl std::fmt::Display) -> StoreError {
    StoreError::Backup {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Counts and hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

fn put_field(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|n| *n <= MAX_FIELD)
        .ok_or_else(|| std::io::Error::other("a record too long for a backup"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)
}

impl Store {
    /// Writes a consistent copy of the whole store to `out` (see the module): taken under the
    /// write lock, so refreshes wait for it (a few seconds for a large store) and none is cut
    /// in two.
    pub fn backup(&self, out: impl Write) -> Result<BackupSummary, StoreError> {
        let _writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let handles = self.handles()?;
        write_backup(&handles, out).map_err(|message| backup_error(&self.path, message))
    }

    /// Restores the backup `file` into the store directory `dir`. The whole file is checked
    /// first; a `dir` that holds a store is refused unless `replace` (it is then moved aside,
    /// never deleted), and refused whatever `replace` says while a running wardfeed holds it.
    pub fn restore(file: &Path, dir: &Path, replace: bool) -> Result<RestoreReport, StoreError> {
        let summary = check_backup(file)?;
        // A store reached through a symlink (systemd's `/var/lib/wardfeed` →
        // `private/wardfeed` for a dynamic user) is restored where it really is: the link
        // stays, and points at the restored store.
        let resolved;
        let dir = if dir.is_symlink() {
            resolved = std::fs::canonicalize(dir).map_err(|e| StoreError::Open {
                path: dir.display().to_string(),
                message: format!("follow its symlink: {e}"),
            })?;
            resolved.as_path()
        } else {
            dir
        };
        let open_error = |message: String| StoreError::Open {
            path: dir.display().to_string(),
            message,
        };
        let occupied = dir.exists()
            && std::fs::read_dir(dir)
                .map_err(|e| open_error(e.to_string()))?
                .next()
                .is_some();
        if occupied {
            if held_by_a_daemon(dir) {
                return Err(open_error(
                    "it is in use by a running wardfeed (stop the daemon first, e.g. systemctl stop wardfeed)"
                        .into(),
                ));
            }
            if !replace {
                return Err(open_error(
                    "it is not empty; restore with --force to replace it (the store there is moved aside, not deleted)".into(),
                ));
            }
        }
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| open_error(e.to_string()))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "store".into());
        let building = tempfile::Builder::new()
            .prefix(&format!(".{name}.restoring-"))
            .tempdir_in(parent)
            .map_err(|e| open_error(format!("make a directory beside it: {e}")))?;
        let restored = read_backup(file, building.path())?;
        debug_assert_eq!(restored, summary);
        // Opened as a start opens a small store, whatever its size: every tree read whole,
        // seals against records, manifest against both.
        drop(check::open_checked(
            building.path(),
            crate::config::DEFAULT_CACHE_BYTES,
            u64::MAX,
        )?);
        let replaced = if dir.exists() {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            let aside = (1..)
                .map(|n| match n {
                    1 => parent.join(format!("{name}.replaced-{stamp}")),
                    n => parent.join(format!("{name}.replaced-{stamp}-{n}")),
                })
                .find(|path| !path.exists())
                .unwrap_or_else(|| parent.join(format!("{name}.replaced")));
            if occupied {
                std::fs::rename(dir, &aside).map_err(|e| {
                    open_error(format!("move it aside to {}: {e}", aside.display()))
                })?;
                Some(aside)
            } else {
                std::fs::remove_dir(dir).map_err(|e| open_error(e.to_string()))?;
                None
            }
        } else {
            None
        };
        let built = building.keep();
        std::fs::rename(&built, dir)
            .map_err(|e| open_error(format!("move the restored store into place: {e}")))?;
        Ok(RestoreReport {
            summary,
            into: dir.to_owned(),
            replaced,
        })
    }
}

/// Whether a running wardfeed holds the store in `dir` (the engine's exclusive lock on its
/// database file; an earlier wardfeed's sled store: on its `db`).
fn held_by_a_daemon(dir: &Path) -> bool {
    let file = [kv::DB_FILE, kv::SLED_FILE]
        .iter()
        .find_map(|name| std::fs::File::open(dir.join(name)).ok());
    let Some(file) = file else {
        return false;
    };
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared)
        == Err(rustix::io::Errno::WOULDBLOCK)
}

fn write_backup(handles: &Handles, out: impl Write) -> Result<BackupSummary, String> {
    handles.db.flush().map_err(|e| describe(&e))?;
    let mut out = Hashing {
        inner: BufWriter::new(out),
        hasher: blake3::Hasher::new(),
        bytes: 0,
    };
    let io = |e: std::io::Error| format!("write: {e}");
    out.write_all(MAGIC).map_err(io)?;
    out.write_all(&FORMAT.to_be_bytes()).map_err(io)?;
    out.write_all(&SCHEMA_VERSION.to_be_bytes()).map_err(io)?;
    let mut summary = BackupSummary {
        trees: 0,
        records: 0,
        items: 0,
        bytes: 0,
    };
    let names = handles.db.tree_names().map_err(|e| describe(&e))?;
    for name in names {
        let tree = handles.db.open_tree(&name).map_err(|e| describe(&e))?;
        out.write_all(b"T").map_err(io)?;
        put_field(&mut out, name.as_bytes()).map_err(io)?;
        summary.trees += 1;
        for record in tree.iter() {
            let (key, value) = record.map_err(|e| format!("read tree {name}: {}", describe(&e)))?;
            out.write_all(b"R").map_err(io)?;
            put_field(&mut out, &key).map_err(io)?;
            put_field(&mut out, &value).map_err(io)?;
            summary.records += 1;
            if name == "items" {
                summary.items += 1;
            }
        }
    }
    out.write_all(b"Z").map_err(io)?;
    out.write_all(&summary.records.to_be_bytes()).map_err(io)?;
    let hash = out.hasher.finalize();
    out.inner.write_all(hash.as_bytes()).map_err(io)?;
    out.inner.flush().map_err(io)?;
    summary.bytes = out.bytes + 32;
    Ok(summary)
}

/// Reads a whole backup without writing anything: its summary, or what is wrong with it.
pub fn check_backup(file: &Path) -> Result<BackupSummary, StoreError> {
    walk_backup(file, |_, _, _| Ok(()))
}

/// Writes the backup `file` into a new database in `dir`, with its manifest.
fn read_backup(file: &Path, dir: &Path) -> Result<BackupSummary, StoreError> {
    let handles = Handles::open(dir, crate::config::DEFAULT_CACHE_BYTES)
        .map_err(|e| backup_error(dir, describe(&e)))?;
    let db = &handles.db;
    // The tree being restored, its records not yet written, and how many.
    let mut current: Option<kv::Tree> = None;
    let mut pending = kv::Batch::default();
    let mut count = 0usize;
    let write = |tree: &Option<kv::Tree>, pending: &mut kv::Batch| -> Result<(), String> {
        if let Some(tree) = tree {
            tree.apply_batch(std::mem::take(pending))
                .map_err(|e| describe(&e))?;
        }
        Ok(())
    };
    let summary = walk_backup(file, |tree, key, value| {
        if current
            .as_ref()
            .is_none_or(|open| open.name().as_bytes() != tree)
        {
            write(&current, &mut pending)?;
            let name =
                std::str::from_utf8(tree).map_err(|_| "a tree's name is not text".to_owned())?;
            current = Some(db.open_tree(name).map_err(|e| describe(&e))?);
            count = 0;
        }
        pending.insert(key, value);
        count += 1;
        if count >= RESTORE_BATCH {
            write(&current, &mut pending)?;
            count = 0;
        }
        Ok(())
    })?;
    write(&current, &mut pending).map_err(|message| backup_error(dir, message))?;
    db.flush().map_err(|e| backup_error(dir, describe(&e)))?;
    // The manifest records what the restored `meta` says: the seals of the moment of the backup.
    let seals = handles
        .recorded_seals()
        .map_err(|_| backup_error(file, "its metadata (seals) cannot be read"))?;
    integrity::write_manifest(dir, SCHEMA_VERSION, &seals)
        .map_err(|e| backup_error(dir, format!("write its manifest: {e}")))?;
    Ok(summary)
}

/// Reads the backup `file` whole, calling `record` with each record's tree, key and value, and
/// checks its end and checksum. Nothing in it is trusted before the checksum is: callers that
/// write do so into a new directory, dropped if this fails.
fn walk_backup(
    file: &Path,
    mut record: impl FnMut(&[u8], Vec<u8>, Vec<u8>) -> Result<(), String>,
) -> Result<BackupSummary, StoreError> {
    let bad = |message: String| backup_error(file, message);
    verify_checksum(file)?;
    let opened = std::fs::File::open(file).map_err(|e| bad(format!("read: {e}")))?;
    let mut input = Hashing {
        inner: BufReader::new(opened),
        hasher: blake3::Hasher::new(),
        bytes: 0,
    };
    let truncated = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "it ends early: the backup is incomplete (cut short while written or copied)".to_owned()
        } else {
            format!("read: {e}")
        }
    };
    let mut magic = vec![0u8; MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(|e| bad(truncated(e)))?;
    if magic != MAGIC {
        return Err(bad("not a wardfeed backup".into()));
    }
    let format = read_u32(&mut input).map_err(|e| bad(truncated(e)))?;
    if format != FORMAT {
        return Err(bad(format!(
            "backup format {format}, this wardfeed reads format {FORMAT}"
        )));
    }
    let schema = read_u32(&mut input).map_err(|e| bad(truncated(e)))?;
    if schema != SCHEMA_VERSION {
        return Err(bad(format!(
            "it holds a store of schema {schema}, this wardfeed reads schema {SCHEMA_VERSION}"
        )));
    }
    let mut summary = BackupSummary {
        trees: 0,
        records: 0,
        items: 0,
        bytes: 0,
    };
    let mut tree: Option<Vec<u8>> = None;
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag).map_err(|e| bad(truncated(e)))?;
        match tag[0] {
            b'T' => {
                tree = Some(read_field(&mut input).map_err(|e| bad(truncated(e)))?);
                summary.trees += 1;
            }
            b'R' => {
                let name = tree
                    .as_deref()
                    .ok_or_else(|| bad("a record before any tree".into()))?;
                let key = read_field(&mut input).map_err(|e| bad(truncated(e)))?;
                let value = read_field(&mut input).map_err(|e| bad(truncated(e)))?;
                summary.records += 1;
                if name == b"items" {
                    summary.items += 1;
                }
                record(name, key, value).map_err(&bad)?;
            }
            b'Z' => break,
            other => return Err(bad(format!("unknown record kind {other:#04x}"))),
        }
    }
    let mut count = [0u8; 8];
    input
        .read_exact(&mut count)
        .map_err(|e| bad(truncated(e)))?;
    let expected = input.hasher.finalize();
    let mut hash = [0u8; 32];
    input
        .inner
        .read_exact(&mut hash)
        .map_err(|e| bad(truncated(e)))?;
    if u64::from_be_bytes(count) != summary.records || hash != *expected.as_bytes() {
        return Err(bad(
            "its checksum does not match: the file was changed or damaged".into(),
        ));
    }
    if input
        .inner
        .read(&mut [0u8; 1])
        .map_err(|e| bad(truncated(e)))?
        != 0
    {
        return Err(bad("bytes follow its end: the file was changed".into()));
    }
    summary.bytes = input.bytes + 32;
    Ok(summary)
}

/// Checks the file's last 32 bytes against the hash of all before them, first of all: a file
/// cut short or changed anywhere is refused before any of it is interpreted.
fn verify_checksum(file: &Path) -> Result<(), StoreError> {
    let bad = |message: String| backup_error(file, message);
    let mut input = std::fs::File::open(file).map_err(|e| bad(format!("read: {e}")))?;
    let len = input
        .metadata()
        .map_err(|e| bad(format!("read: {e}")))?
        .len();
    let mut magic = vec![0u8; MAGIC.len()];
    let starts_right = input.read_exact(&mut magic).is_ok() && magic == MAGIC;
    if !starts_right {
        return Err(bad("not a wardfeed backup".into()));
    }
    if len < (MAGIC.len() + 8 + 1 + 8 + 32) as u64 {
        return Err(bad(
            "it ends early: the backup is incomplete (cut short while written or copied)".into(),
        ));
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&magic);
    let body = len - 32 - MAGIC.len() as u64;
    let copied = std::io::copy(&mut (&mut input).take(body), &mut HashSink(&mut hasher))
        .map_err(|e| bad(format!("read: {e}")))?;
    let mut hash = [0u8; 32];
    if copied != body
        || input.read_exact(&mut hash).is_err()
        || hash != *hasher.finalize().as_bytes()
    {
        return Err(bad(
            "its checksum does not match: the file is incomplete, changed or damaged".into(),
        ));
    }
    Ok(())
}

/// A writer that only hashes.
struct HashSink<'a>(&'a mut blake3::Hasher);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn read_u32(input: &mut impl Read) -> std::io::Result<u32> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_be_bytes(bytes))
}

fn read_field(input: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let len = read_u32(input)?;
    if len > MAX_FIELD {
        return Err(std::io::Error::other(format!(
            "a record of {len} bytes: not a backup this wardfeed wrote"
        )));
    }
    let mut bytes = vec![0u8; len as usize];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}
