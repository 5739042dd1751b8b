//! The same ledger writes and reads on fjall 3.x (LSM): one single-writer cross-keyspace
//! transaction per refresh, committed with PersistMode::SyncData (fdatasync of the journal).
//! Memory: block cache = --cache-mb, every keyspace's memtable at most 8 MiB (fjall 3.1 ignores max_write_buffer_size).

use std::path::Path;
use std::time::Instant;

use fjall::{
    KeyspaceCreateOptions, PersistMode, Readable, SingleWriterTxDatabase, SingleWriterTxKeyspace,
};

use crate::work::{self, Item, StoredItem, StoryRecord, TitleMembers};

pub struct Db {
    pub db: SingleWriterTxDatabase,
    items: SingleWriterTxKeyspace,
    by_source: SingleWriterTxKeyspace,
    by_time: SingleWriterTxKeyspace,
    titles: SingleWriterTxKeyspace,
    story_of: SingleWriterTxKeyspace,
    stories: SingleWriterTxKeyspace,
    search: SingleWriterTxKeyspace,
    meta: SingleWriterTxKeyspace,
}

const SEALED: [&str; 6] = ["items", "by_source", "by_time", "titles", "story_of", "stories"];

pub fn open(path: &Path, cache_bytes: usize) -> Db {
    let db = SingleWriterTxDatabase::builder(path)
        .cache_size(cache_bytes as u64)
        .open()
        .unwrap();
    let ks = |name: &str| {
        db.keyspace(name, || {
            KeyspaceCreateOptions::default().max_memtable_size(8 << 20)
        })
        .unwrap()
    };
    Db {
        items: ks("items"),
        by_source: ks("by_source"),
        by_time: ks("by_time"),
        titles: ks("titles"),
        story_of: ks("story_of"),
        stories: ks("stories"),
        search: ks("search_filters"),
        meta: ks("meta"),
        db,
    }
}

fn u64_of(bytes: Option<fjall::Slice>) -> u64 {
    bytes
        .map(|b| u64::from_be_bytes(b[..].try_into().unwrap()))
        .unwrap_or(0)
}

pub fn ingest(d: &Db, items: &[Item]) {
    let prepared: Vec<_> = items.iter().map(work::prepare).collect();
    let mut tx = d.db.write_tx().durability(Some(PersistMode::SyncData));
    let mut next_story = u64_of(tx.get(&d.meta, "story_id").unwrap());
    for p in &prepared {
        assert!(tx.get(&d.items, p.key).unwrap().is_none());
        tx.insert(&d.items, p.key, &p.record[..]);
        let time_key = work::by_time_key(p.time, &p.key);
        tx.insert(&d.search, &time_key[..], &p.filter[..]);
        tx.insert(
            &d.by_source,
            work::by_source_key(&p.source, p.time, &p.key),
            &[][..],
        );
        tx.insert(&d.by_time, &time_key[..], &[][..]);
        let mut members: TitleMembers = tx
            .get(&d.titles, p.title_key.as_bytes())
            .unwrap()
            .map(|v| work::decode(&v))
            .unwrap_or_default();
        members.members.push((p.time.timestamp_micros(), p.key));
        members.members.sort();
        members.members.dedup();
        tx.insert(&d.titles, p.title_key.as_bytes(), work::encode(&members));
        let mut ids = Vec::new();
        for (_, key) in &members.members {
            if let Some(id) = tx.get(&d.story_of, key).unwrap() {
                ids.push(u64::from_be_bytes(id[..].try_into().unwrap()));
            }
        }
        let id = match ids.iter().min() {
            Some(id) => *id,
            None => {
                next_story += 1;
                next_story
            }
        };
        for (_, key) in &members.members {
            tx.insert(&d.story_of, key, id.to_be_bytes());
        }
        let story = StoryRecord {
            members: members.members.iter().map(|m| m.1).collect(),
        };
        tx.insert(&d.stories, id.to_be_bytes(), work::encode(&story));
    }
    tx.insert(&d.meta, "story_id", next_story.to_be_bytes());
    let generation = u64_of(tx.get(&d.meta, "generation").unwrap()) + 1;
    for (i, name) in SEALED.iter().enumerate() {
        tx.insert(&d.meta, format!("seal/{name}"), work::seal_bytes(generation, i));
    }
    tx.insert(&d.meta, "generation", generation.to_be_bytes());
    tx.commit().unwrap();
}

/// Items in the store, from the generation (refreshes of 20): O(1).
pub fn len(d: &Db) -> u64 {
    u64_of(d.meta.get("generation").unwrap()) * work::PER_REFRESH as u64
}

pub fn feed(d: &Db, source: &str, count: usize) -> Vec<StoredItem> {
    let snap = d.db.read_tx();
    snap.prefix(&d.by_source, work::source_prefix(source))
        .rev()
        .take(count)
        .map(|guard| {
            let k = guard.key().unwrap();
            let key = &k[k.len() - 16..];
            work::decode(&snap.get(&d.items, key).unwrap().unwrap())
        })
        .collect()
}

pub fn lookups(d: &Db, total: usize, count: usize) -> (f64, f64) {
    let keys: Vec<[u8; 16]> = work::random_ns(count, total)
        .into_iter()
        .map(work::key_of_n)
        .collect();
    let snap = d.db.read_tx();
    let started = Instant::now();
    let mut found = 0usize;
    for key in &keys {
        let v = snap.get(&d.items, key).unwrap().unwrap();
        let s: StoredItem = work::decode(&v);
        found += usize::from(s.key == *key);
    }
    let with_decode = count as f64 / started.elapsed().as_secs_f64();
    assert_eq!(found, count);
    let started = Instant::now();
    let mut bytes = 0usize;
    for key in keys.iter().rev() {
        bytes += snap.get(&d.items, key).unwrap().unwrap().len();
    }
    let raw = count as f64 / started.elapsed().as_secs_f64();
    assert!(bytes > 0);
    (with_decode, raw)
}

pub fn print_stats(d: &Db) {
    println!(
        "  fjall: disk_space {:.1} MB, journals {}, write buffer {:.1} MB",
        d.db.disk_space().unwrap() as f64 / 1e6,
        d.db.journal_count(),
        d.db.write_buffer_size() as f64 / 1e6
    );
}
