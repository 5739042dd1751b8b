//! The storage engine under the ledger: named trees of byte keys and values in one redb file,
//! with multi-tree transactions. The only file that knows redb exists (and, for moving an older
//! store over, sled: `migrate`).
//!
//! Writes come in two kinds. The ledger's (`Db::transaction`) are durable when they return:
//! redb commits with `Durability::Immediate` and quick-repair (its allocator state saved with
//! the commit, so that opening after a crash is immediate rather than a walk of the whole
//! file). The page cache's and checkpoints' single writes (`Tree::insert`, `apply_batch`) are
//! committed without syncing and become durable with the next ledger commit or `Db::flush`:
//! losing them in a crash costs a refetch, nothing else.

mod migrate;

use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{
    Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};

pub(crate) use migrate::{SLED_FILE, SLED_KEPT, migrate_from_sled};

/// The database's file name in the store directory.
pub const DB_FILE: &str = "ledger.redb";

/// Bytes read from the store: owned, so that nothing borrows a transaction.
pub type Bytes = Vec<u8>;

/// A failure of the storage engine, in its own words turned into ours.
#[derive(Debug)]
pub enum Error {
    /// Reading or writing the file failed (a full disk, an I/O error), now or at an earlier
    /// write: redb refuses every write after one failed, until it is opened again.
    Io(std::io::Error),
    /// What the engine read does not hold together (a checksum, a page).
    Corrupted(String),
    /// Another process (or opening) holds the database.
    InUse,
    /// Anything else the engine reports.
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(error) => write!(f, "{error}"),
            Error::Corrupted(what) => write!(f, "corrupted data in the database: {what}"),
            Error::InUse => write!(f, "the database is in use by another process"),
            Error::Other(what) => write!(f, "storage engine: {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<redb::StorageError> for Error {
    fn from(error: redb::StorageError) -> Error {
        match error {
            redb::StorageError::Io(error) => Error::Io(error),
            redb::StorageError::PreviousIo => Error::Io(std::io::Error::other(
                "an earlier write to the database failed; it must be opened again",
            )),
            redb::StorageError::Corrupted(what) => Error::Corrupted(what),
            other => Error::Other(other.to_string()),
        }
    }
}

impl From<redb::Error> for Error {
    fn from(error: redb::Error) -> Error {
        match error {
            redb::Error::Io(error) => Error::Io(error),
            redb::Error::PreviousIo => redb::StorageError::PreviousIo.into(),
            redb::Error::Corrupted(what) => Error::Corrupted(what),
            redb::Error::DatabaseAlreadyOpen => Error::InUse,
            other => Error::Other(other.to_string()),
        }
    }
}

macro_rules! via_redb_error {
    ($($kind:ty),*) => {$(
        impl From<$kind> for Error {
            fn from(error: $kind) -> Error {
                redb::Error::from(error).into()
            }
        }
    )*};
}
via_redb_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::CommitError
);

pub type Result<T> = std::result::Result<T, Error>;

/// Why a transaction did not commit: its work gave up (`Abort`), or the engine failed.
#[derive(Debug)]
pub enum TxError<E> {
    Abort(E),
    Storage(Error),
}

impl<E> From<Error> for TxError<E> {
    fn from(error: Error) -> TxError<E> {
        TxError::Storage(error)
    }
}

type Definition<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

fn definition(name: &str) -> Definition<'_> {
    TableDefinition::new(name)
}

/// The open database.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Database>,
    file: PathBuf,
}

impl Db {
    /// Opens (or creates) the database in directory `dir`, caching up to `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Db> {
        let file = dir.join(DB_FILE);
        let repaired = std::sync::atomic::AtomicBool::new(false);
        let database = Database::builder()
            .set_cache_size(usize::try_from(cache_bytes).unwrap_or(usize::MAX))
            .set_repair_callback(move |_| {
                if !repaired.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!("the store was not closed cleanly: the storage engine repairs it before it opens");
                }
            })
            .create(&file)?;
        Ok(Db {
            inner: Arc::new(database),
            file,
        })
    }

    /// The tree `name`, created empty if the database has none yet.
    pub fn open_tree(&self, name: &str) -> Result<Tree> {
        let exists = self.tree_names()?.iter().any(|n| n == name);
        if !exists {
            let mut txn = self.inner.begin_write()?;
            txn.set_durability(Durability::None);
            txn.open_table(definition(name))?;
            txn.commit()?;
        }
        Ok(Tree {
            db: self.inner.clone(),
            name: name.into(),
        })
    }

    pub fn tree_names(&self) -> Result<Vec<String>> {
        let txn = self.inner.begin_read()?;
        Ok(txn.list_tables()?.map(|t| t.name().to_owned()).collect())
    }

    /// Removes the tree `name` and what it holds; whether there was one.
    pub fn drop_tree(&self, name: &str) -> Result<bool> {
        let mut txn = self.inner.begin_write()?;
        txn.set_durability(Durability::None);
        let dropped = txn.delete_table(definition(name))?;
        txn.commit()?;
        Ok(dropped)
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        let mut txn = self.inner.begin_write()?;
        txn.set_quick_repair(true);
        txn.commit()?;
        Ok(())
    }

    /// Bytes the database file occupies on disk: its blocks, not its length (the engine
    /// lengthens the file ahead of use, doubling it; what it has not written holds no blocks).
    pub fn size_on_disk(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::metadata(&self.file).map_err(Error::Io)?.blocks() * 512)
    }

    /// The engine's own accounting of the file, in words (for the store bench).
    pub fn stats(&self) -> Result<String> {
        let txn = self.inner.begin_write()?;
        let stats = txn.stats()?;
        txn.abort()?;
        let mb = |bytes: u64| bytes as f64 / 1e6;
        Ok(format!(
            "{} pages of {} B allocated ({:.1} MB): stored {:.1} MB, metadata {:.1} MB, fragmented {:.1} MB; {} leaf and {} branch pages, tree height {}",
            stats.allocated_pages(),
            stats.page_size(),
            mb(stats.allocated_pages() * stats.page_size() as u64),
            mb(stats.stored_bytes()),
            mb(stats.metadata_bytes()),
            mb(stats.fragmented_bytes()),
            stats.leaf_pages(),
            stats.branch_pages(),
            stats.tree_height()
        ))
    }

    /// Runs `work` over `trees` as one write transaction, committed durably when it returns
    /// `Ok`; nothing of it is kept when it returns `Err`. Runs once (redb has one writer at a
    /// time, so nothing conflicts).
    pub fn transaction<T, E>(
        &self,
        trees: &[&Tree],
        work: impl FnOnce(&[&TxView<'_>]) -> std::result::Result<T, TxError<E>>,
    ) -> std::result::Result<T, TxError<E>> {
        let mut txn = self.inner.begin_write().map_err(Error::from)?;
        txn.set_quick_repair(true);
        let value = {
            let mut tables = Vec::with_capacity(trees.len());
            for tree in trees {
                let table = txn
                    .open_table(definition(&tree.name))
                    .map_err(Error::from)?;
                tables.push(TxTree {
                    table: std::cell::RefCell::new(table),
                });
            }
            let view: Vec<&TxView<'_>> = tables.iter().map(|t| t as &TxView<'_>).collect();
            work(&view)
        };
        match value {
            Ok(value) => {
                txn.commit().map_err(Error::from)?;
                Ok(value)
            }
            Err(error) => {
                // Dropping an uncommitted transaction aborts it; say so explicitly to learn
                // of a failure to do it.
                if let Err(abort) = txn.abort() {
                    tracing::warn!(error = %Error::from(abort), "could not abort a store transaction");
                }
                Err(error)
            }
        }
    }
}

fn bound(bound: Bound<&Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// One tree of the database. Each call outside a transaction is its own redb transaction.
#[derive(Clone)]
pub struct Tree {
    db: Arc<Database>,
    name: Arc<str>,
}

impl Tree {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn read(&self) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(definition(&self.name))?)
    }

    /// A single write, committed without syncing (see the module's notes).
    fn write<T>(
        &self,
        work: impl FnOnce(&mut redb::Table<'_, &'static [u8], &'static [u8]>) -> Result<T>,
    ) -> Result<T> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None);
        let value = {
            let mut table = txn.open_table(definition(&self.name))?;
            work(&mut table)?
        };
        txn.commit()?;
        Ok(value)
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        Ok(self
            .read()?
            .get(key.as_ref())?
            .map(|value| value.value().to_vec()))
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.write(|table| {
            Ok(table
                .insert(key.as_ref(), value.as_ref())?
                .map(|old| old.value().to_vec()))
        })
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.write(|table| Ok(table.remove(key.as_ref())?.map(|old| old.value().to_vec())))
    }

    /// Applies every write of `batch` in one transaction.
    pub fn apply_batch(&self, batch: Batch) -> Result<()> {
        self.write(|table| {
            for (key, value) in batch.writes {
                match value {
                    Some(value) => table.insert(key.as_slice(), value.as_slice())?,
                    None => table.remove(key.as_slice())?,
                };
            }
            Ok(())
        })
    }

    /// Removes every record.
    #[cfg(test)]
    pub fn clear(&self) -> Result<()> {
        self.write(|table| {
            table.retain(|_, _| false)?;
            Ok(())
        })
    }

    /// Records held, or why they cannot be counted.
    pub fn count(&self) -> Result<u64> {
        Ok(self.read()?.len()?)
    }

    /// Records held; 0 when the tree cannot be read (`count` says why).
    pub fn len(&self) -> usize {
        self.count().map_or(0, |n| n as usize)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record in key order (`rev()` for the other way), read from one snapshot.
    pub fn iter(&self) -> Iter {
        self.range::<Vec<u8>, _>(..)
    }

    /// The records whose keys fall in `range`, in key order, read from one snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        let own = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
            Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let (low, high) = (own(range.start_bound()), own(range.end_bound()));
        let opened = self.read().and_then(|table| {
            Ok(table.range::<&[u8]>((bound(low.as_ref()), bound(high.as_ref())))?)
        });
        match opened {
            Ok(range) => Iter {
                range: Some(range),
                error: None,
            },
            Err(error) => Iter {
                range: None,
                error: Some(error),
            },
        }
    }

    /// The records whose keys start with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let prefix = prefix.as_ref().to_vec();
        match past(&prefix) {
            Some(end) => self.range(prefix..end),
            None => self.range(prefix..),
        }
    }
}

/// The least key past every key that starts with `prefix` (`None`: every key past it does).
fn past(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Records in key order, owned; an error opening the read ends the walk after it is given.
pub struct Iter {
    range: Option<redb::Range<'static, &'static [u8], &'static [u8]>>,
    error: Option<Error>,
}

type Entry = Result<(Bytes, Bytes)>;

/// A record as redb's range gives it.
type Guarded = (
    redb::AccessGuard<'static, &'static [u8]>,
    redb::AccessGuard<'static, &'static [u8]>,
);

fn owned(entry: std::result::Result<Guarded, redb::StorageError>) -> Entry {
    let (key, value) = entry?;
    Ok((key.value().to_vec(), value.value().to_vec()))
}

impl Iter {
    /// The keys alone.
    pub fn keys(self) -> impl DoubleEndedIterator<Item = Result<Bytes>> {
        self.map(|entry| entry.map(|(key, _)| key))
    }
}

impl Iterator for Iter {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if let Some(error) = self.error.take() {
            return Some(Err(error));
        }
        self.range.as_mut()?.next().map(owned)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Entry> {
        if let Some(error) = self.error.take() {
            return Some(Err(error));
        }
        self.range.as_mut()?.next_back().map(owned)
    }
}

/// Writes to apply together (`Tree::apply_batch`).
#[derive(Default)]
pub struct Batch {
    writes: Vec<(Bytes, Option<Bytes>)>,
}

impl Batch {
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.writes
            .push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }
}

/// A tree inside a transaction: reads see the transaction's own writes.
pub struct TxTree<'a> {
    table: std::cell::RefCell<redb::Table<'a, &'static [u8], &'static [u8]>>,
}

/// What a transaction's work does with a tree, as a trait object (`TxView`): the work's
/// structures then need not name the transaction's own lifetime.
pub trait TxOps {
    fn get_bytes(&self, key: &[u8]) -> Result<Option<Bytes>>;
    fn insert_bytes(&self, key: &[u8], value: &[u8]) -> Result<Option<Bytes>>;
    fn remove_bytes(&self, key: &[u8]) -> Result<Option<Bytes>>;
    fn last_key(&self) -> Result<Option<Bytes>>;
}

/// A tree inside a transaction, as the work sees it.
pub type TxView<'a> = dyn TxOps + 'a;

impl TxOps for TxTree<'_> {
    fn get_bytes(&self, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self
            .table
            .borrow()
            .get(key)?
            .map(|value| value.value().to_vec()))
    }

    fn insert_bytes(&self, key: &[u8], value: &[u8]) -> Result<Option<Bytes>> {
        Ok(self
            .table
            .borrow_mut()
            .insert(key, value)?
            .map(|old| old.value().to_vec()))
    }

    fn remove_bytes(&self, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self
            .table
            .borrow_mut()
            .remove(key)?
            .map(|old| old.value().to_vec()))
    }

    fn last_key(&self) -> Result<Option<Bytes>> {
        Ok(self
            .table
            .borrow()
            .last()?
            .map(|(key, _)| key.value().to_vec()))
    }
}

impl TxView<'_> {
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.get_bytes(key.as_ref())
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.insert_bytes(key.as_ref(), value.as_ref())
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.remove_bytes(key.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_read_write_and_walk_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        let tree = db.open_tree("t").unwrap();
        assert!(tree.is_empty());
        for key in [b"a/1", b"a/2", b"b/1"] {
            tree.insert(key, b"v").unwrap();
        }
        assert_eq!(tree.insert(b"a/1", b"w").unwrap(), Some(b"v".to_vec()));
        assert_eq!(tree.len(), 3);
        let keys = |iter: Iter| iter.keys().map(|k| k.unwrap()).collect::<Vec<_>>();
        assert_eq!(
            keys(tree.scan_prefix(b"a/")),
            vec![b"a/1".to_vec(), b"a/2".to_vec()]
        );
        assert_eq!(
            tree.scan_prefix(b"a/").next_back().unwrap().unwrap().0,
            b"a/2".to_vec()
        );
        assert_eq!(keys(tree.range(b"a/2".to_vec()..)).len(), 2);
        assert_eq!(tree.remove(b"b/1").unwrap(), Some(b"v".to_vec()));
        assert_eq!(tree.get(b"b/1").unwrap(), None);
        assert_eq!(past(&[1, 255, 255]), Some(vec![2]));
        assert_eq!(past(&[255]), None);
    }

    #[test]
    fn a_transaction_that_gives_up_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        let (one, two) = (db.open_tree("one").unwrap(), db.open_tree("two").unwrap());
        let result: std::result::Result<(), TxError<&str>> =
            db.transaction(&[&one, &two], |view| {
                view[0].insert(b"k", b"1")?;
                assert_eq!(view[0].get(b"k")?, Some(b"1".to_vec()));
                view[1].insert(b"k", b"2")?;
                Err(TxError::Abort("no"))
            });
        assert!(matches!(result, Err(TxError::Abort("no"))));
        assert!(one.is_empty() && two.is_empty());
        db.transaction::<_, ()>(&[&one, &two], |view| {
            view[0].insert(b"k", b"1")?;
            view[1].insert(b"k", b"2")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(two.get(b"k").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn a_second_opening_is_refused_while_the_first_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        assert!(matches!(Db::open(dir.path(), 1 << 20), Err(Error::InUse)));
        drop(db);
        Db::open(dir.path(), 1 << 20).unwrap();
    }
}
