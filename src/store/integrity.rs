//! Knowing the ledger is whole. A storage engine's own checks cannot tell a store that lost
//! committed data from a younger one (sled, the engine before redb, opened a `db` truncated to
//! half with 48 of 158 items, to a quarter with none), so the store keeps two records of its
//! own:
//!
//! - a **seal** per tree (how many records it holds and an order-free sum of a hash of each),
//!   updated in the very transaction that changes the tree, so that it always describes what
//!   the database holds, and a **generation** counting those transactions;
//! - a **manifest** file beside the database (`wardfeed.manifest`, checksummed), rewritten after
//!   every flush with the generation and seals just made durable.
//!
//! At open every tree is read whole and its seal recomputed: a record that cannot be read or a
//! tally that does not match is damage inside the database. The manifest then tells what the
//! database cannot:
//! a store whose generation is behind its manifest's lost flushed data (a truncated or
//! half-restored `ledger.redb`). A store ahead of its manifest is fine — it crashed between the flush
//! and the manifest's rewrite — and the manifest is brought up to date.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::kv::{self, Bytes, TxView};
use serde::{Deserialize, Serialize};

/// The trees the seals cover: the ledger, source health and warnings, and the incident log. The page cache
/// is not covered: losing it costs one full fetch per page, nothing else.
pub(super) const SEALED: [&str; 9] = [
    "items",
    "by_source",
    "by_time",
    "titles",
    "story_of",
    "stories",
    "health",
    "warnings",
    "incidents",
];

/// The manifest's file name in the store directory.
pub const MANIFEST_FILE: &str = "wardfeed.manifest";
const MANIFEST_FORMAT: u32 = 1;

/// What a tree holds: its record count and the wrapping sum of its records' hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seal {
    pub count: u64,
    pub digest: u128,
}

impl Seal {
    pub(super) fn add(&mut self, tree: &str, key: &[u8], value: &[u8]) {
        self.count = self.count.wrapping_add(1);
        self.digest = self.digest.wrapping_add(record_hash(tree, key, value));
    }

    pub(super) fn to_bytes(self) -> [u8; 24] {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.count.to_be_bytes());
        bytes[8..].copy_from_slice(&self.digest.to_be_bytes());
        bytes
    }

    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Seal> {
        let bytes: [u8; 24] = bytes.try_into().ok()?;
        Some(Seal {
            count: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            digest: u128::from_be_bytes(bytes[8..].try_into().ok()?),
        })
    }
}

fn record_hash(tree: &str, key: &[u8], value: &[u8]) -> u128 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(tree.as_bytes());
    hasher.update(&[0]);
    hasher.update(&(key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update(value);
    let mut first = [0u8; 16];
    first.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    u128::from_le_bytes(first)
}

/// The change one transaction makes to a tree's seal.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Delta {
    count: i64,
    digest: u128,
    touched: bool,
}

impl Delta {
    pub(super) fn applied_to(self, seal: Seal) -> Seal {
        Seal {
            count: seal.count.wrapping_add_signed(self.count),
            digest: seal.digest.wrapping_add(self.digest),
        }
    }

    pub(super) fn touched(self) -> bool {
        self.touched
    }
}

/// The seal changes of one transaction, per sealed tree.
pub(super) type Deltas = RefCell<[Delta; SEALED.len()]>;

/// A sealed tree inside a transaction: every write also moves the tree's seal.
pub(super) struct Tracked<'a> {
    tree: &'a TxView<'a>,
    index: usize,
    deltas: &'a Deltas,
}

type TxResult<T> = kv::Result<T>;

impl<'a> Tracked<'a> {
    pub(super) fn new(tree: &'a TxView<'a>, index: usize, deltas: &'a Deltas) -> Self {
        Tracked {
            tree,
            index,
            deltas,
        }
    }

    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> TxResult<Option<Bytes>> {
        self.tree.get(key)
    }

    pub(super) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> TxResult<Option<Bytes>> {
        let key = key.as_ref();
        let value = value.as_ref();
        let name = SEALED[self.index];
        let added = record_hash(name, key, value);
        let old = self.tree.insert(key, value)?;
        let mut deltas = self.deltas.borrow_mut();
        let delta = &mut deltas[self.index];
        delta.touched = true;
        delta.digest = delta.digest.wrapping_add(added);
        match &old {
            Some(old) => delta.digest = delta.digest.wrapping_sub(record_hash(name, key, old)),
            None => delta.count += 1,
        }
        Ok(old)
    }

    pub(super) fn last_key(&self) -> TxResult<Option<Bytes>> {
        self.tree.last_key()
    }

    pub(super) fn remove(&self, key: impl AsRef<[u8]>) -> TxResult<Option<Bytes>> {
        let key = key.as_ref();
        let old = self.tree.remove(key)?;
        if let Some(old) = &old {
            let mut deltas = self.deltas.borrow_mut();
            let delta = &mut deltas[self.index];
            delta.touched = true;
            delta.count -= 1;
            delta.digest = delta
                .digest
                .wrapping_sub(record_hash(SEALED[self.index], key, old));
        }
        Ok(old)
    }
}

/// The seals of every sealed tree, by name, and the generation they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seals {
    pub generation: u64,
    pub trees: BTreeMap<&'static str, Seal>,
}

impl Seals {
    pub fn items(&self) -> u64 {
        self.trees.get("items").map_or(0, |s| s.count)
    }
}

/// The manifest as written: the seals in text, then a checksum line over them.
#[derive(Debug, Serialize, Deserialize)]
struct ManifestBody {
    format: u32,
    schema: u32,
    generation: u64,
    trees: BTreeMap<String, ManifestTree>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestTree {
    count: u64,
    digest: String,
}

/// Why the manifest could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestProblem {
    Missing,
    Unreadable(String),
}

pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
}

/// Reads the manifest of the store in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Seals, ManifestProblem> {
    let text = match std::fs::read_to_string(manifest_path(dir)) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ManifestProblem::Missing);
        }
        Err(error) => return Err(ManifestProblem::Unreadable(error.to_string())),
    };
    let unreadable = |why: &str| ManifestProblem::Unreadable(why.to_owned());
    let (body, checksum) = text
        .trim_end()
        .rsplit_once("\nblake3 ")
        .ok_or_else(|| unreadable("no checksum line"))?;
    if blake3::hash(body.as_bytes()).to_hex().as_str() != checksum {
        return Err(unreadable("its checksum does not match its content"));
    }
    let body: ManifestBody =
        serde_json::from_str(body).map_err(|e| ManifestProblem::Unreadable(e.to_string()))?;
    if body.format != MANIFEST_FORMAT {
        return Err(ManifestProblem::Unreadable(format!(
            "format {} (this wardfeed reads {MANIFEST_FORMAT})",
            body.format
        )));
    }
    let mut trees = BTreeMap::new();
    for name in SEALED {
        let tree = body
            .trees
            .get(name)
            .ok_or_else(|| ManifestProblem::Unreadable(format!("no seal for tree {name}")))?;
        let digest = u128::from_str_radix(&tree.digest, 16)
            .map_err(|_| ManifestProblem::Unreadable(format!("bad digest for tree {name}")))?;
        trees.insert(
            name,
            Seal {
                count: tree.count,
                digest,
            },
        );
    }
    Ok(Seals {
        generation: body.generation,
        trees,
    })
}

/// Writes the manifest of the store in `dir` atomically: a temporary file, synced, renamed
/// over the old one, and the directory synced, so a crash leaves the old one or the new one.
pub fn write_manifest(dir: &Path, schema: u32, seals: &Seals) -> std::io::Result<()> {
    let body = ManifestBody {
        format: MANIFEST_FORMAT,
        schema,
        generation: seals.generation,
        trees: seals
            .trees
            .iter()
            .map(|(name, seal)| {
                (
                    name.to_string(),
                    ManifestTree {
                        count: seal.count,
                        digest: format!("{:032x}", seal.digest),
                    },
                )
            })
            .collect(),
    };
    let body = serde_json::to_string_pretty(&body).map_err(std::io::Error::other)?;
    let text = format!(
        "{body}\nblake3 {}\n",
        blake3::hash(body.as_bytes()).to_hex()
    );
    let temporary = dir.join(format!("{MANIFEST_FILE}.tmp"));
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, manifest_path(dir))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_does_not_depend_on_order_and_notices_any_change() {
        let mut one = Seal::default();
        one.add("items", b"a", b"1");
        one.add("items", b"b", b"2");
        let mut other = Seal::default();
        other.add("items", b"b", b"2");
        other.add("items", b"a", b"1");
        assert_eq!(one, other);
        let mut changed = Seal::default();
        changed.add("items", b"a", b"1");
        changed.add("items", b"b", b"3");
        assert_eq!(changed.count, one.count);
        assert_ne!(changed.digest, one.digest);
        assert_eq!(Seal::from_bytes(&one.to_bytes()), Some(one));
    }

    #[test]
    fn the_manifest_round_trips_and_refuses_any_edit() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_manifest(dir.path()), Err(ManifestProblem::Missing));
        let mut seals = Seals {
            generation: 7,
            trees: SEALED.iter().map(|name| (*name, Seal::default())).collect(),
        };
        seals.trees.insert(
            "items",
            Seal {
                count: 158,
                digest: u128::MAX - 5,
            },
        );
        write_manifest(dir.path(), 3, &seals).unwrap();
        assert_eq!(read_manifest(dir.path()), Ok(seals.clone()));
        assert_eq!(seals.items(), 158);
        let path = manifest_path(dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("158", "159")).unwrap();
        assert!(matches!(
            read_manifest(dir.path()),
            Err(ManifestProblem::Unreadable(why)) if why.contains("checksum")
        ));
    }
}
