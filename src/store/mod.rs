//! The durable ledger, on the storage engine `kv` wraps (redb).
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
//! - `search_filters`: sort time + key → the item's word filter: the search index (`search`)
//! - `checkpoints`: source/category → where `wardfeed backfill` goes on (`checkpoints`)
//! - `meta`: schema version, the generation and each sealed tree's seal (`integrity`)
//!
//! Every change to the ledger (a refresh's whole ingest, a prune, a health record) is one
//! transaction that also moves the seals, durable on disk and recorded in the manifest before
//! it returns: what an ingest reports survives a `kill -9`, a crash mid-ingest leaves the
//! refresh wholly applied or not at all, and a store that lost anything refuses to open.

mod backup;
mod check;
mod checkpoints;
mod health;
pub mod integrity;
pub(crate) mod kv;
mod ledger;
mod pages;
pub mod records;
mod repair;
pub mod search;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use kv::{Tree, TxView};

use crate::model::{ItemKey, SourceId};
pub use backup::{BackupSummary, RestoreReport, check_backup};
pub use check::{OPEN_SCAN_RECORDS, VerifyReport};
pub use health::RunOutcome;
use integrity::{Deltas, SEALED, Seal, Seals, Tracked};
pub use ledger::{Change, IngestReport};
use records::decode;
pub use records::{HealthError, Incident, SourceHealth, StoredItem, Story};
pub use repair::SalvageReport;

/// Bumped when the on-disk format changes incompatibly. 3: seals and the manifest (a
/// schema-2 store is sealed when it is first opened).
const SCHEMA_VERSION: u32 = 3;

/// What to do about a damaged store, said wherever damage is reported.
const DAMAGE_ADVICE: &str = "wardfeed does not run on it: new refreshes would be written over what can still be saved. Restore the store from a backup (README, \"The store and backups\"), or salvage what is readable into a new store";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("open store {path}: {message}")]
    Open { path: String, message: String },
    #[error(
        "store {path} is damaged: {problem}. {DAMAGE_ADVICE} with `wardfeed verify --store {path} --repair NEW_DIR`."
    )]
    Damaged { path: String, problem: String },
    #[error(
        "open store {path}: it was written with schema {found}, this wardfeed reads schema {expected}"
    )]
    Schema {
        path: String,
        found: u32,
        expected: u32,
    },
    /// Reading or writing failed (a full disk, an I/O error, data the engine found corrupt).
    #[error("store {path}: {message}")]
    Io { path: String, message: String },
    #[error("store {path}: unreadable record: {message}")]
    Unreadable { path: String, message: String },
    /// The store's file system is nearly full: nothing is written, so that the database never
    /// meets a full disk (the engine refuses everything after a failed write until reopened).
    #[error(
        "store {path}: no room to write: {free_mib} MiB free on its file system, and wardfeed keeps {reserve_mib} MiB free so that the database is never cut short; free some space (nothing is lost meanwhile: refreshes are stored again once there is room)"
    )]
    NoRoom {
        path: String,
        free_mib: u64,
        reserve_mib: u64,
    },
    #[error("store {path}: closed while it is reopened after a failure; try again shortly")]
    Reopening { path: String },
    /// A backup that cannot be written or read back (truncated, changed, not a backup).
    #[error("backup {path}: {message}")]
    Backup { path: String, message: String },
    #[error("store: background task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// What went wrong, without the store's path: what `/healthz` and the dashboard show.
    pub fn reason(&self) -> String {
        match self {
            StoreError::Io { message, .. } | StoreError::Unreadable { message, .. } => {
                message.clone()
            }
            StoreError::Reopening { .. } => "being reopened after a failure".to_owned(),
            StoreError::NoRoom {
                free_mib,
                reserve_mib,
                ..
            } => format!(
                "no room to write: {free_mib} MiB free on its file system, {reserve_mib} MiB kept in reserve"
            ),
            StoreError::Damaged { problem, .. } => format!("damaged: {problem}"),
            other => other.to_string(),
        }
    }

    /// Whether reopening the store may cure it: a failed read or write (a full disk, an I/O
    /// error), not damage or a mistake.
    pub fn is_io(&self) -> bool {
        matches!(self, StoreError::Io { .. } | StoreError::Reopening { .. })
    }
}

/// A failure inside the store, before it is named with the store's path.
#[derive(Debug)]
pub(crate) enum Fault {
    Engine(kv::Error),
    Codec(String),
    Manifest(std::io::Error),
}

impl From<kv::Error> for Fault {
    fn from(error: kv::Error) -> Fault {
        Fault::Engine(error)
    }
}

/// A storage engine error in words.
fn describe(error: &kv::Error) -> String {
    error.to_string()
}

/// Whether the store works, as `/healthz`, the metrics and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreCondition {
    Working,
    /// Its last write failed (a full disk, an I/O error); writes are retried and the store
    /// reopened until one succeeds.
    Failing {
        since: DateTime<Utc>,
        error: String,
    },
}

/// The open database and its trees. Swapped whole when the store is reopened.
pub(crate) struct Handles {
    db: kv::Db,
    items: Tree,
    by_source: Tree,
    by_time: Tree,
    titles: Tree,
    story_of: Tree,
    stories: Tree,
    health: Tree,
    /// source → the warnings of its last refresh (a tree of its own, so that the health
    /// record's format did not change).
    warnings: Tree,
    incidents: Tree,
    pages: Tree,
    /// `wardfeed backfill`'s place in each listing it walks (not sealed: see `checkpoints`).
    checkpoints: Tree,
    /// The search index (`search`): not sealed, derived from the items, written in their
    /// transactions.
    search: Tree,
    meta: Tree,
}

impl Handles {
    fn open(path: &Path, cache_bytes: u64) -> Result<Handles, kv::Error> {
        kv::migrate_from_sled(path, false)?;
        // A walk still reading the previous opening (an iterator a reader holds) keeps its
        // file locked until it ends: a reopen waits a little for it before saying the store
        // is in use.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match kv::Db::open(path, cache_bytes) {
                Err(kv::Error::InUse) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                other => break other?,
            }
        };
        Ok(Handles {
            items: db.open_tree("items")?,
            by_source: db.open_tree("by_source")?,
            by_time: db.open_tree("by_time")?,
            titles: db.open_tree("titles")?,
            story_of: db.open_tree("story_of")?,
            stories: db.open_tree("stories")?,
            health: db.open_tree("health")?,
            warnings: db.open_tree("warnings")?,
            incidents: db.open_tree("incidents")?,
            pages: db.open_tree("pages")?,
            checkpoints: db.open_tree("checkpoints")?,
            search: db.open_tree("search_filters")?,
            meta: db.open_tree("meta")?,
            db,
        })
        .inspect(|handles| handles.drop_word_postings())
    }

    /// Drops the search index of stores written before the word filters (tree `search`: a key
    /// per word of every item, most of such a store's bytes); `Store::search` builds the
    /// filters from the items on its first call.
    fn drop_word_postings(&self) {
        const WORD_POSTINGS: &str = "search";
        if self
            .db
            .tree_names()
            .is_ok_and(|names| names.iter().any(|n| n == WORD_POSTINGS))
        {
            match self.db.drop_tree(WORD_POSTINGS) {
                Ok(_) => tracing::info!(
                    "dropped the search index of an earlier version (word postings); \
                     the first search builds its successor"
                ),
                Err(error) => tracing::warn!(
                    %error,
                    "could not drop the search index of an earlier version (word postings); \
                     it stays on disk, unused"
                ),
            }
        }
    }

    /// The sealed trees, in `SEALED` order.
    fn sealed(&self) -> [&Tree; SEALED.len()] {
        [
            &self.items,
            &self.by_source,
            &self.by_time,
            &self.titles,
            &self.story_of,
            &self.stories,
            &self.health,
            &self.warnings,
            &self.incidents,
        ]
    }

    /// The generation and seals the store keeps in `meta`.
    fn recorded_seals(&self) -> Result<Seals, Fault> {
        let generation = self
            .meta
            .get(GENERATION_KEY)?
            .map(|bytes| read_u64(&bytes))
            .transpose()?
            .unwrap_or(0);
        let mut trees = std::collections::BTreeMap::new();
        for name in SEALED {
            let seal = match self.meta.get(seal_key(name))? {
                Some(bytes) => Seal::from_bytes(&bytes)
                    .ok_or_else(|| Fault::Codec(format!("the seal of tree {name}")))?,
                None => Seal::default(),
            };
            trees.insert(name, seal);
        }
        Ok(Seals { generation, trees })
    }

    /// Runs `work` as one transaction over every sealed tree. The seals of the trees it
    /// changed and the generation move in the same transaction; a transaction that changed
    /// nothing leaves them. Returns the work's value and whether anything changed; when `work`
    /// gives up, nothing of it is kept.
    fn transaction<T>(
        &self,
        work: impl FnOnce(&Tx<'_>) -> TxResult<T>,
    ) -> Result<(T, bool), Fault> {
        let sealed = self.sealed();
        let trees: Vec<&Tree> = sealed
            .iter()
            .copied()
            .chain([&self.meta, &self.search])
            .collect();
        let result = self.db.transaction(&trees, |view: &[&TxView<'_>]| {
            let deltas = Deltas::default();
            let value = {
                let tracked = |i: usize| Tracked::new(view[i], i, &deltas);
                let tx = Tx {
                    items: tracked(0),
                    by_source: tracked(1),
                    by_time: tracked(2),
                    titles: tracked(3),
                    story_of: tracked(4),
                    stories: tracked(5),
                    health: tracked(6),
                    warnings: tracked(7),
                    incidents: tracked(8),
                    meta: view[SEALED.len()],
                    search: view[SEALED.len() + 1],
                };
                work(&tx)?
            };
            let deltas = deltas.into_inner();
            let meta = view[SEALED.len()];
            let changed = deltas.iter().any(|d| d.touched());
            if changed {
                for (name, delta) in SEALED.iter().zip(deltas) {
                    if !delta.touched() {
                        continue;
                    }
                    let old = match meta.get(seal_key(name))? {
                        Some(bytes) => Seal::from_bytes(&bytes).ok_or_else(|| {
                            abort(Fault::Codec(format!("the seal of tree {name}")))
                        })?,
                        None => Seal::default(),
                    };
                    meta.insert(
                        seal_key(name).as_bytes(),
                        &delta.applied_to(old).to_bytes()[..],
                    )?;
                }
                let generation = match meta.get(GENERATION_KEY)? {
                    Some(bytes) => read_u64(&bytes).map_err(abort)?,
                    None => 0,
                };
                meta.insert(GENERATION_KEY, &(generation + 1).to_be_bytes()[..])?;
            }
            Ok((value, changed))
        });
        result.map_err(|error| match error {
            kv::TxError::Abort(fault) => fault,
            kv::TxError::Storage(error) => Fault::Engine(error),
        })
    }
}

/// Whether `dir` holds a store: this wardfeed's database file, or an earlier wardfeed's (sled,
/// moved to the new engine at its first opening).
pub fn holds_a_store(dir: &Path) -> bool {
    dir.join(kv::DB_FILE).exists() || dir.join(kv::SLED_FILE).exists()
}

/// The database file in a store directory, for tests and tools that damage or measure it.
pub const DB_FILE: &str = kv::DB_FILE;

/// Space kept free on the store's file system: no write starts below it. A refresh writes at
/// most a few MiB (`pipeline`'s caps: 32 MiB of article text at the very most, compressed), and
/// the engine needs room to open.
pub const FREE_SPACE_RESERVE: u64 = 32 * 1024 * 1024;

/// Bytes free (to an unprivileged writer) on the file system that holds `dir`.
fn free_space(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// One tree's records and their bytes (`Store::tree_sizes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSize {
    pub name: &'static str,
    pub records: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
}

const GENERATION_KEY: &str = "generation";

/// In `meta`: the last story or incident id given (`Tx::new_id`).
const LAST_ID_KEY: &str = "last_id";

/// How long an opening waits for a lock the store's previous opening still holds.
const LOCK_WAIT: Duration = Duration::from_secs(2);

fn seal_key(tree: &str) -> String {
    format!("seal/{tree}")
}

fn read_u64(bytes: &[u8]) -> Result<u64, Fault> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| Fault::Codec("a counter in meta".into()))
}

/// The sealed trees one transaction writes.
pub(crate) struct Tx<'a> {
    items: Tracked<'a>,
    by_source: Tracked<'a>,
    by_time: Tracked<'a>,
    titles: Tracked<'a>,
    story_of: Tracked<'a>,
    stories: Tracked<'a>,
    health: Tracked<'a>,
    warnings: Tracked<'a>,
    incidents: Tracked<'a>,
    /// Not sealed (derived from the items): written untracked.
    search: &'a TxView<'a>,
    /// Not sealed: the last id given (`new_id`), and the seals themselves.
    meta: &'a TxView<'a>,
}

impl Tx<'_> {
    /// A new id for a story or an incident: past every id given before and every id either
    /// tree holds (a salvaged or moved store's too), never 0 (which means "no story").
    pub(crate) fn new_id(&self) -> TxResult<u64> {
        let given = match self.meta.get(LAST_ID_KEY)? {
            Some(bytes) => read_u64(&bytes).map_err(abort)?,
            None => 0,
        };
        let last = |tree: &Tracked<'_>| -> TxResult<u64> {
            Ok(tree
                .last_key()?
                .and_then(|key| key.as_slice().try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0))
        };
        let id = given.max(last(&self.stories)?).max(last(&self.incidents)?) + 1;
        self.meta.insert(LAST_ID_KEY, id.to_be_bytes())?;
        Ok(id)
    }
}

pub(crate) type TxResult<T> = Result<T, kv::TxError<Fault>>;

pub(crate) fn abort(fault: Fault) -> kv::TxError<Fault> {
    kv::TxError::Abort(fault)
}

/// The ledger. Cheap to share behind an `Arc`; reads run concurrently, writes one at a time.
pub struct Store {
    path: PathBuf,
    cache_bytes: u64,
    /// `None` only while the database is being reopened.
    handles: RwLock<Option<Arc<Handles>>>,
    /// Bumped at each reopen, so that writers failing together reopen once.
    epoch: AtomicU64,
    condition: Mutex<StoreCondition>,
    /// Store failures since the process started, for the metrics.
    failures: AtomicU64,
    /// One writer at a time (the engine has one writer too): holding it across the deferred
    /// whole read and the manifest's rewrite keeps them in step with the commits. A std mutex, because
    /// it is never held across an await (callers run ingests on blocking threads).
    write_lock: Mutex<()>,
    /// Per-source change counters since open, for the renderer's cache.
    generations: Mutex<HashMap<SourceId, u64>>,
    /// Bumped on every health record, for the dashboard's and incident feed's cache.
    health_generation: AtomicU64,
    /// Bumped on any change at all (items or health): one atomic load tells a reader that
    /// nothing changed since it last looked.
    any_generation: AtomicU64,
    /// Item records decoded (`decoded_items`).
    decoded: AtomicU64,
    /// Whether the search index is known to cover every item.
    search_built: std::sync::atomic::AtomicBool,
    /// Opened without reading every tree whole (`check::OPEN_SCAN_RECORDS`): the first write,
    /// or `finish_verification`, reads them first.
    unverified: std::sync::atomic::AtomicBool,
    /// What that read found wrong: the store then refuses every write.
    damage: Mutex<Option<String>>,
    /// A read-only opening works on a private copy, removed with the store.
    _scratch: Option<tempfile::TempDir>,
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

/// The instant `time_bytes` wrote, from the first 8 bytes of `bytes`.
fn time_from_bytes(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let bytes: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    DateTime::<Utc>::from_timestamp_micros((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// Past every key that starts with `prefix` (a source's, ending in '/'): its last byte raised
/// by one.
fn past_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    *end.last_mut().unwrap_or(&mut 0) += 1;
    end
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

    /// Opens (or creates) the store in directory `path`, caching up to `cache_bytes`, and
    /// checks that it is whole: a damaged or shrunken store is an error, never opened.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Store::open_checking(path, cache_bytes, check::OPEN_SCAN_RECORDS)
    }

    /// `open_with_cache`, reading every tree whole at open when the store's seals count at most
    /// `scan_records` records (`u64::MAX`: always; 0: never, the read waits for the first
    /// write or `finish_verification`).
    pub fn open_checking(
        path: &Path,
        cache_bytes: u64,
        scan_records: u64,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let (handles, checked) = check::open_checked(path, cache_bytes, scan_records)?;
        let store = Store::with_handles(path, cache_bytes, handles, None);
        store
            .unverified
            .store(checked == check::Checked::Deferred, Ordering::Release);
        Ok(store)
    }

    /// Whether the store was opened without reading every tree whole, and has not been read
    /// whole since.
    pub fn is_unverified(&self) -> bool {
        self.unverified.load(Ordering::Acquire)
    }

    /// Reads every tree whole and compares it with the store's tallies, if the opening left
    /// that for later (a large store). Found damage makes the store failing (`/healthz` 503,
    /// the dashboard's banner) and refuses every ledger write from then on; no ledger write
    /// goes to a store not read whole. Waits for a write in progress.
    pub fn finish_verification(&self) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.verified_for_write()
    }

    /// The deferred whole read, if still due, and the damage it found, if any. The caller
    /// holds the write lock.
    fn verified_for_write(&self) -> Result<(), StoreError> {
        let damaged = |problem: String| StoreError::Damaged {
            path: self.path.display().to_string(),
            problem,
        };
        if let Some(problem) = self
            .damage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(damaged(problem));
        }
        if !self.is_unverified() {
            return Ok(());
        }
        let handles = self.handles()?;
        let started = std::time::Instant::now();
        match check::scan_against_tallies(&handles) {
            Ok(()) => {
                self.unverified.store(false, Ordering::Release);
                tracing::info!(path = %self.path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "store read whole: it holds what its tallies say");
                Ok(())
            }
            Err(problem) => {
                *self.damage.lock().unwrap_or_else(|p| p.into_inner()) = Some(problem.clone());
                let error = damaged(problem);
                self.failing(&error);
                Err(error)
            }
        }
    }

    /// Opens the store in `path` without writing to it: its files are copied (under a shared
    /// lock, so not while a daemon holds it) to a private directory, which is checked and
    /// opened instead. Works on a read-only copy of a store, and never creates one.
    pub fn open_read_only(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let scratch = check::private_copy(path)?;
        // Whole: `items` and `verify` read what they open, and the copy is as long anyway.
        let (handles, _) = check::open_checked(scratch.path(), cache_bytes, u64::MAX)
            .map_err(|error| check::renamed(error, scratch.path(), path))?;
        Ok(Store::with_handles(
            path,
            cache_bytes,
            handles,
            Some(scratch),
        ))
    }

    fn with_handles(
        path: &Path,
        cache_bytes: u64,
        handles: Handles,
        scratch: Option<tempfile::TempDir>,
    ) -> Store {
        Store {
            path: path.to_owned(),
            cache_bytes,
            handles: RwLock::new(Some(Arc::new(handles))),
            epoch: AtomicU64::new(0),
            condition: Mutex::new(StoreCondition::Working),
            failures: AtomicU64::new(0),
            write_lock: Mutex::new(()),
            generations: Mutex::new(HashMap::new()),
            health_generation: AtomicU64::new(0),
            any_generation: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            search_built: std::sync::atomic::AtomicBool::new(false),
            unverified: std::sync::atomic::AtomicBool::new(false),
            damage: Mutex::new(None),
            _scratch: scratch,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the database is in: the store's, or the private copy of a read-only opening.
    fn work_dir(&self) -> &Path {
        self._scratch.as_ref().map_or(&self.path, |s| s.path())
    }

    /// Whether the store works, and since when it does not.
    pub fn condition(&self) -> StoreCondition {
        self.condition
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Store failures (reads or writes) since the process started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The open database, unless it is being reopened.
    fn handles(&self) -> Result<Arc<Handles>, StoreError> {
        self.handles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Reopening {
                path: self.path.display().to_string(),
            })
    }

    /// Names a fault with the store's path, and records it: the store is failing until a
    /// write succeeds again.
    fn fault(&self, fault: Fault) -> StoreError {
        let path = self.path.display().to_string();
        let error = match fault {
            Fault::Engine(error) => StoreError::Io {
                path,
                message: describe(&error),
            },
            Fault::Codec(message) => StoreError::Unreadable { path, message },
            Fault::Manifest(error) => StoreError::Io {
                path,
                message: format!("write {}: {error}", integrity::MANIFEST_FILE),
            },
        };
        self.failing(&error);
        error
    }

    /// Records a failure: counted, and the store is failing (since now, unless it already
    /// was) until a write succeeds.
    fn failing(&self, error: &StoreError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut condition = self.condition.lock().unwrap_or_else(|p| p.into_inner());
        if *condition == StoreCondition::Working {
            tracing::error!(error = %error, "the store is failing");
            *condition = StoreCondition::Failing {
                since: Utc::now(),
                error: error.reason(),
            };
            drop(condition);
            self.condition_changed();
        }
    }

    /// The dashboard and `/status.json` show the store's condition: their caches must see
    /// a change of it.
    fn condition_changed(&self) {
        self.health_generation.fetch_add(1, Ordering::AcqRel);
        self.any_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs a read against the open database, naming and recording any fault.
    fn read<T>(&self, work: impl FnOnce(&Handles) -> Result<T, Fault>) -> Result<T, StoreError> {
        let handles = self.handles()?;
        work(&handles).map_err(|fault| self.fault(fault))
    }

    /// Runs `work` as one transaction and makes it durable: committed durably, then the manifest
    /// rewritten with the new seals. A success after failures ends the failing condition.
    /// Returns the work's value and whether it changed anything. The caller holds the write
    /// lock.
    fn commit<T>(&self, work: impl Fn(&Tx<'_>) -> TxResult<T>) -> Result<(T, bool), StoreError> {
        self.verified_for_write()?;
        self.ensure_room()?;
        let handles = self.handles()?;
        let durable = || -> Result<(T, bool), Fault> {
            // Durable when it returns (`kv::Db::transaction`).
            let (value, changed) = handles.transaction(&work)?;
            if changed {
                let seals = handles.recorded_seals()?;
                integrity::write_manifest(self.work_dir(), SCHEMA_VERSION, &seals)
                    .map_err(Fault::Manifest)?;
            }
            Ok((value, changed))
        };
        let result = durable().map_err(|fault| self.fault(fault))?;
        if result.1 {
            self.working();
        }
        Ok(result)
    }

    /// A write went through: the store works (again).
    fn working(&self) {
        let mut condition = self.condition.lock().unwrap_or_else(|p| p.into_inner());
        if let StoreCondition::Failing { since, .. } = &*condition {
            tracing::warn!(since = %since.to_rfc3339(), "the store works again");
            *condition = StoreCondition::Working;
            drop(condition);
            self.condition_changed();
        }
    }

    /// The store's reopen count, to pass to `recover`.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Reopens the database after a failure, unless it was reopened since `seen` (the
    /// `epoch` read when the failure happened): the engine refuses everything after an I/O
    /// error (a full disk), so only a fresh opening can write again. The reopened store is
    /// checked like at start; in-flight readers are waited for (up to 10 s: the file's lock
    /// is only released when the last of them lets go).
    pub fn recover(&self, seen: u64) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.epoch() != seen && self.handles().is_ok() {
            return Ok(());
        }
        let old = self
            .handles
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let gone = old.as_ref().map(Arc::downgrade);
        drop(old);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while gone.as_ref().is_some_and(|weak| weak.strong_count() > 0)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        // Opening writes (a repair, the manifest): on a disk still full it would fail. Until
        // there is room, reads answer "being reopened" at once.
        self.ensure_room()?;
        let reopened =
            check::open_checked(self.work_dir(), self.cache_bytes, check::OPEN_SCAN_RECORDS)
                .map_err(|error| check::renamed(error, self.work_dir(), &self.path));
        match reopened {
            Ok((handles, checked)) => {
                if checked == check::Checked::Deferred {
                    self.unverified.store(true, Ordering::Release);
                }
                *self.handles.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(handles));
                tracing::info!(path = %self.path.display(), "store reopened");
                // Renders cached from before are still right; readers re-check on any change.
                self.any_generation.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(error) => {
                self.failing(&error);
                Err(error)
            }
        }
    }

    /// Refuses to write when the store's file system has less than `FREE_SPACE_RESERVE` free.
    /// (When the free space cannot be read, the write goes ahead and tells.)
    fn ensure_room(&self) -> Result<(), StoreError> {
        match free_space(self.work_dir()) {
            Ok(free) if free < FREE_SPACE_RESERVE => {
                let error = StoreError::NoRoom {
                    path: self.path.display().to_string(),
                    free_mib: free / (1024 * 1024),
                    reserve_mib: FREE_SPACE_RESERVE / (1024 * 1024),
                };
                self.failing(&error);
                Err(error)
            }
            _ => Ok(()),
        }
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.read(|h| Ok(h.db.flush().map(|_| ())?))
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.read(|h| Ok(h.db.size_on_disk()?))
    }

    /// The storage engine's own accounting of its file, in words.
    pub fn engine_stats(&self) -> Result<String, StoreError> {
        self.read(|h| Ok(h.db.stats()?))
    }

    /// What each tree holds — its name, records, and the bytes of their keys and of their
    /// values — read whole (slow: the store bench's breakdown of where the bytes go).
    pub fn tree_sizes(&self) -> Result<Vec<TreeSize>, StoreError> {
        self.read(|h| {
            let trees: [(&'static str, &Tree); 13] = [
                ("items", &h.items),
                ("by_source", &h.by_source),
                ("by_time", &h.by_time),
                ("titles", &h.titles),
                ("story_of", &h.story_of),
                ("stories", &h.stories),
                ("health", &h.health),
                ("warnings", &h.warnings),
                ("incidents", &h.incidents),
                ("pages", &h.pages),
                ("checkpoints", &h.checkpoints),
                ("search_filters", &h.search),
                ("meta", &h.meta),
            ];
            trees
                .into_iter()
                .map(|(name, tree)| {
                    let mut size = TreeSize {
                        name,
                        records: 0,
                        key_bytes: 0,
                        value_bytes: 0,
                    };
                    for entry in tree.iter() {
                        let (key, value) = entry?;
                        size.records += 1;
                        size.key_bytes += key.len() as u64;
                        size.value_bytes += value.len() as u64;
                    }
                    Ok(size)
                })
                .collect()
        })
    }

    pub fn len(&self) -> usize {
        self.handles().map_or(0, |h| h.items.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn item(&self, key: &ItemKey) -> Result<Option<StoredItem>, StoreError> {
        self.read(|h| self.item_in(h, key))
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
        self.health_generation.load(Ordering::Relaxed)
    }

    /// Changes of any kind since the store was opened.
    pub fn any_generation(&self) -> u64 {
        self.any_generation.load(Ordering::Acquire)
    }

    fn bump_generation(&self, source: &SourceId) {
        self.any_generation.fetch_add(1, Ordering::AcqRel);
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
        Items::new(self, |h| {
            Box::new(h.by_source.scan_prefix(source_prefix(source)).rev())
        })
    }

    /// A source's items sorting at or after `from` and before `to` (either open), newest or
    /// oldest first, decoded as the iterator reaches them: what an archive page reads.
    pub fn source_items_in(
        &self,
        source: &SourceId,
        from: Option<DateTime<FixedOffset>>,
        to: Option<DateTime<FixedOffset>>,
        newest_first: bool,
    ) -> Items<'_> {
        let prefix = source_prefix(source);
        let bound = |time: Option<DateTime<FixedOffset>>, end: bool| {
            let mut key = prefix.clone();
            match time {
                Some(time) => key.extend_from_slice(&time_bytes(time)),
                None if end => key = past_prefix(&prefix),
                None => {}
            }
            key
        };
        let (low, high) = (bound(from, false), bound(to, true));
        Items::new(self, move |h| {
            let range = h.by_source.range(low..high);
            if newest_first {
                Box::new(range.rev())
            } else {
                Box::new(range)
            }
        })
    }

    /// Every item, newest first, decoded as the iterator reaches it.
    pub fn items(&self) -> Items<'_> {
        Items::new(self, |h| Box::new(h.by_time.iter().rev()))
    }

    /// Stories, newest first (by their earliest item), whose items pass `keep`; a story is
    /// shown with the items that pass. Read lazily: taking `n` stories walks the time index
    /// only as far as the `n`th story's earliest item.
    pub fn stories<F: FnMut(&StoredItem) -> bool>(&self, keep: F) -> Stories<'_, F> {
        Stories {
            walk: Walk::new(self, |h| Box::new(h.by_time.iter().rev())),
            keep,
        }
    }

    /// Stories whose earliest (kept) item sorts at or after `from` and before `to`, newest or
    /// oldest first: each story once, in the period of its earliest item.
    pub fn stories_in<F: FnMut(&StoredItem) -> bool>(
        &self,
        from: Option<DateTime<FixedOffset>>,
        to: Option<DateTime<FixedOffset>>,
        newest_first: bool,
        keep: F,
    ) -> Stories<'_, F> {
        let low = from.map_or_else(Vec::new, |t| time_bytes(t).to_vec());
        let high = to.map(time_bytes);
        Stories {
            walk: Walk::new(self, move |h| {
                let range: kv::Iter = match high {
                    Some(high) => h.by_time.range(low..high.to_vec()),
                    None => h.by_time.range(low..),
                };
                if newest_first {
                    Box::new(range.rev())
                } else {
                    Box::new(range)
                }
            }),
            keep,
        }
    }

    /// The story `key`'s item belongs to, with its members that pass `keep` (`None` when none
    /// does): for a view that walks its own index yet shows each story once, as `stories` does
    /// (a ward's feed with the wards merged into it).
    pub fn story_of<F: FnMut(&StoredItem) -> bool>(
        &self,
        key: &ItemKey,
        mut keep: F,
    ) -> Result<Option<Story>, StoreError> {
        let handles = self.handles()?;
        self.story_containing(&handles, key, &mut keep)
            .map_err(|fault| self.fault(fault))
    }

    /// The number of items a source has in the store.
    pub fn source_len(&self, source: &SourceId) -> usize {
        self.handles().map_or(0, |h| {
            h.by_source.scan_prefix(source_prefix(source)).count()
        })
    }

    /// The sort times of a source's items at or after `since`, newest first, read from the
    /// index keys alone (no record decoded): what the dashboard's counts and charts need.
    pub fn source_times_since(
        &self,
        source: &SourceId,
        since: DateTime<FixedOffset>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let prefix = source_prefix(source);
        let mut low = prefix.clone();
        low.extend_from_slice(&time_bytes(since));
        let high = past_prefix(&prefix);
        self.read(|h| {
            let mut times = Vec::new();
            for entry in h.by_source.range(low..high).rev() {
                let (key, _) = entry?;
                let time = key
                    .get(prefix.len()..)
                    .and_then(time_from_bytes)
                    .ok_or_else(|| Fault::Codec("a by_source key's time".into()))?;
                times.push(time);
            }
            Ok(times)
        })
    }

    /// Item records decoded since the store was opened: what a read cost, for tests and
    /// benchmarks.
    pub fn decoded_items(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }

    /// An item read from `h`, counted in `decoded_items`.
    fn item_in(&self, h: &Handles, key: &ItemKey) -> Result<Option<StoredItem>, Fault> {
        let Some(bytes) = h.items.get(key.0)? else {
            return Ok(None);
        };
        self.decoded.fetch_add(1, Ordering::Relaxed);
        decode(&bytes).map(Some)
    }

    /// The story an item belongs to, restricted to items that pass `keep`.
    fn story_containing(
        &self,
        h: &Handles,
        key: &ItemKey,
        keep: &mut impl FnMut(&StoredItem) -> bool,
    ) -> Result<Option<Story>, Fault> {
        let story_id = h
            .story_of
            .get(key.0)?
            .and_then(|bytes| bytes.as_slice().try_into().ok().map(u64::from_be_bytes));
        let members = match story_id {
            Some(id) => match h.stories.get(id.to_be_bytes())? {
                Some(bytes) => decode::<records::StoryRecord>(&bytes)?.members,
                None => vec![*key],
            },
            None => vec![*key],
        };
        let mut items = Vec::with_capacity(members.len());
        for member in members {
            if let Some(item) = self.item_in(h, &member)?
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

/// An index's keys in the order a walk takes them.
type IndexWalk = Box<dyn Iterator<Item = kv::Result<(kv::Bytes, kv::Bytes)>>>;

/// A walk down one of the store's indexes, on the database that was open when it began (a
/// reopen meanwhile leaves it reading the old one to its end).
struct Walk<'a> {
    store: &'a Store,
    handles: Option<Arc<Handles>>,
    index: Option<IndexWalk>,
    /// Why the walk could not begin, given once.
    error: Option<StoreError>,
}

impl<'a> Walk<'a> {
    fn new(store: &'a Store, index: impl FnOnce(&Handles) -> IndexWalk) -> Self {
        match store.handles() {
            Ok(handles) => Walk {
                store,
                index: Some(index(&handles)),
                handles: Some(handles),
                error: None,
            },
            Err(error) => Walk {
                store,
                handles: None,
                index: None,
                error: Some(error),
            },
        }
    }

    /// The next item key of the index.
    fn next_key(&mut self) -> Option<Result<ItemKey, StoreError>> {
        let store = self.store;
        let Some(index) = self.index.as_mut() else {
            return self.error.take().map(Err);
        };
        loop {
            match index.next()? {
                Ok((index_key, _)) => {
                    if let Some(key) = key_suffix(&index_key) {
                        return Some(Ok(key));
                    }
                }
                Err(error) => return Some(Err(store.fault(error.into()))),
            }
        }
    }
}

/// Items newest first from one of the store's indexes (see `Store::source_items`).
pub struct Items<'a> {
    walk: Walk<'a>,
}

impl<'a> Items<'a> {
    fn new(store: &'a Store, index: impl FnOnce(&Handles) -> IndexWalk) -> Self {
        Items {
            walk: Walk::new(store, index),
        }
    }
}

impl Iterator for Items<'_> {
    type Item = Result<StoredItem, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let key = match self.walk.next_key()? {
                Ok(key) => key,
                Err(error) => return Some(Err(error)),
            };
            let (store, handles) = (self.walk.store, self.walk.handles.as_deref()?);
            // An index entry without its item cannot happen after a committed transaction;
            // skip rather than fail a whole feed if it ever does (`wardfeed verify` names it).
            match store.item_in(handles, &key) {
                Ok(Some(item)) => return Some(Ok(item)),
                Ok(None) => continue,
                Err(fault) => return Some(Err(store.fault(fault))),
            }
        }
    }
}

/// Stories newest first (see `Store::stories`).
pub struct Stories<'a, F> {
    walk: Walk<'a>,
    keep: F,
}

impl<F: FnMut(&StoredItem) -> bool> Iterator for Stories<'_, F> {
    type Item = Result<Story, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let key = match self.walk.next_key()? {
                Ok(key) => key,
                Err(error) => return Some(Err(error)),
            };
            let (store, handles) = (self.walk.store, self.walk.handles.as_deref()?);
            match store.story_containing(handles, &key, &mut self.keep) {
                // Each story once: when the walk reaches its earliest item.
                Ok(Some(story)) if story.first().key == key => return Some(Ok(story)),
                Ok(_) => continue,
                Err(fault) => return Some(Err(store.fault(fault))),
            }
        }
    }
}

#[cfg(test)]
mod damage_tests;
#[cfg(test)]
mod tests;
