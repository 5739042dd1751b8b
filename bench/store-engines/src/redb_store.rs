//! wardfeed's ledger writes and reads on redb 2.x: one write transaction per refresh, durable at
//! commit (Durability::Immediate, redb's default).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use redb::{
    Database, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use crate::work::{self, Item, StoredItem, StoryRecord, TitleMembers};

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
const BY_SOURCE: TableDefinition<&[u8], ()> = TableDefinition::new("by_source");
const BY_TIME: TableDefinition<&[u8], ()> = TableDefinition::new("by_time");
const TITLES: TableDefinition<&str, &[u8]> = TableDefinition::new("titles");
const STORY_OF: TableDefinition<&[u8], u64> = TableDefinition::new("story_of");
const STORIES: TableDefinition<u64, &[u8]> = TableDefinition::new("stories");
const SEARCH: TableDefinition<&[u8], &[u8]> = TableDefinition::new("search_filters");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const SEALED: [&str; 6] = ["items", "by_source", "by_time", "titles", "story_of", "stories"];

pub static REPAIRED: AtomicBool = AtomicBool::new(false);

pub fn open(path: &Path, cache_bytes: usize) -> Database {
    REPAIRED.store(false, Ordering::SeqCst);
    Database::builder()
        .set_cache_size(cache_bytes)
        .set_repair_callback(|_session| {
            REPAIRED.store(true, Ordering::SeqCst);
        })
        .create(path)
        .unwrap()
}

fn read_u64(bytes: Option<redb::AccessGuard<'_, &[u8]>>) -> u64 {
    bytes
        .map(|b| u64::from_be_bytes(b.value().try_into().unwrap()))
        .unwrap_or(0)
}

/// One refresh: one write transaction over every table, committed durably.
pub fn ingest(db: &Database, items: &[Item], quick_repair: bool) {
    let prepared: Vec<_> = items.iter().map(work::prepare).collect();
    let mut txn = db.begin_write().unwrap();
    if quick_repair {
        txn.set_quick_repair(true);
    }
    {
        let mut t_items = txn.open_table(ITEMS).unwrap();
        let mut t_by_source = txn.open_table(BY_SOURCE).unwrap();
        let mut t_by_time = txn.open_table(BY_TIME).unwrap();
        let mut t_titles = txn.open_table(TITLES).unwrap();
        let mut t_story_of = txn.open_table(STORY_OF).unwrap();
        let mut t_stories = txn.open_table(STORIES).unwrap();
        let mut t_search = txn.open_table(SEARCH).unwrap();
        let mut t_meta = txn.open_table(META).unwrap();
        let mut next_story = read_u64(t_meta.get("story_id").unwrap());
        for p in &prepared {
            // upsert: the old record is read first (none here: every item is new).
            let old = t_items.get(&p.key[..]).unwrap().map(|g| g.value().len());
            assert!(old.is_none());
            t_items.insert(&p.key[..], &p.record[..]).unwrap();
            let time_key = work::by_time_key(p.time, &p.key);
            t_search.insert(&time_key[..], &p.filter[..]).unwrap();
            t_by_source
                .insert(&work::by_source_key(&p.source, p.time, &p.key)[..], ())
                .unwrap();
            t_by_time.insert(&time_key[..], ()).unwrap();
            // join_story + recluster (one cluster: cross-posts share their day).
            let mut members: TitleMembers = t_titles
                .get(p.title_key.as_str())
                .unwrap()
                .map(|g| work::decode(g.value()))
                .unwrap_or_default();
            members.members.push((p.time.timestamp_micros(), p.key));
            members.members.sort();
            members.members.dedup();
            t_titles
                .insert(p.title_key.as_str(), &work::encode(&members)[..])
                .unwrap();
            let mut ids = Vec::new();
            for (_, key) in &members.members {
                if let Some(id) = t_story_of.get(&key[..]).unwrap() {
                    ids.push(id.value());
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
                t_story_of.insert(&key[..], id).unwrap();
            }
            let story = StoryRecord {
                members: members.members.iter().map(|m| m.1).collect(),
            };
            t_stories.insert(id, &work::encode(&story)[..]).unwrap();
        }
        t_meta
            .insert("story_id", &next_story.to_be_bytes()[..])
            .unwrap();
        let generation = read_u64(t_meta.get("generation").unwrap()) + 1;
        for (i, name) in SEALED.iter().enumerate() {
            t_meta
                .insert(
                    format!("seal/{name}").as_str(),
                    &work::seal_bytes(generation, i)[..],
                )
                .unwrap();
        }
        t_meta
            .insert("generation", &generation.to_be_bytes()[..])
            .unwrap();
    }
    txn.commit().unwrap();
}

/// The newest `count` items of `source`: by_source in reverse, then items.
pub fn feed(db: &Database, source: &str, count: usize) -> Vec<StoredItem> {
    let txn = db.begin_read().unwrap();
    let by_source = txn.open_table(BY_SOURCE).unwrap();
    let items = txn.open_table(ITEMS).unwrap();
    let start = work::source_prefix(source);
    let mut end = start.clone();
    *end.last_mut().unwrap() += 1;
    by_source
        .range(&start[..]..&end[..])
        .unwrap()
        .rev()
        .take(count)
        .map(|entry| {
            let (k, _) = entry.unwrap();
            let k = k.value();
            let key = &k[k.len() - 16..];
            work::decode(items.get(key).unwrap().unwrap().value())
        })
        .collect()
}

/// Random lookups by key: (lookups/s with decode, lookups/s without).
pub fn lookups(db: &Database, total: usize, count: usize) -> (f64, f64) {
    let keys: Vec<[u8; 16]> = work::random_ns(count, total)
        .into_iter()
        .map(work::key_of_n)
        .collect();
    let txn = db.begin_read().unwrap();
    let items = txn.open_table(ITEMS).unwrap();
    let started = Instant::now();
    let mut found = 0usize;
    for key in &keys {
        let guard = items.get(&key[..]).unwrap().unwrap();
        let s: StoredItem = work::decode(guard.value());
        found += usize::from(s.key == *key);
    }
    let with_decode = count as f64 / started.elapsed().as_secs_f64();
    assert_eq!(found, count);
    let started = Instant::now();
    let mut bytes = 0usize;
    for key in keys.iter().rev() {
        bytes += items.get(&key[..]).unwrap().unwrap().value().len();
    }
    let raw = count as f64 / started.elapsed().as_secs_f64();
    assert!(bytes > 0);
    (with_decode, raw)
}

pub fn len(db: &Database) -> u64 {
    let txn = db.begin_read().unwrap();
    match txn.open_table(ITEMS) {
        Ok(t) => t.len().unwrap(),
        Err(redb::TableError::TableDoesNotExist(_)) => 0,
        Err(e) => panic!("{e}"),
    }
}

/// redb's own accounting, and live key+value bytes per table.
pub fn print_stats(db: &Database, items: u64) {
    let txn = db.begin_write().unwrap();
    let s = txn.stats().unwrap();
    println!(
        "  redb stats: page {} B, allocated pages {} ({:.1} MB), leaf {} branch {}, stored {:.1} MB, metadata {:.1} MB, fragmented {:.1} MB, height {}",
        s.page_size(),
        s.allocated_pages(),
        (s.allocated_pages() * s.page_size() as u64) as f64 / 1e6,
        s.leaf_pages(),
        s.branch_pages(),
        s.stored_bytes() as f64 / 1e6,
        s.metadata_bytes() as f64 / 1e6,
        s.fragmented_bytes() as f64 / 1e6,
        s.tree_height()
    );
    macro_rules! t {
        ($def:expr) => {{
            let t = txn.open_table($def).unwrap();
            let st = t.stats().unwrap();
            println!(
                "    {:<15} {:>9} records, stored {:>8.1} MB ({:>5.0} B/item), fragmented {:>7.1} MB, leaf pages {}",
                $def.to_string(),
                t.len().unwrap(),
                st.stored_bytes() as f64 / 1e6,
                st.stored_bytes() as f64 / items.max(1) as f64,
                st.fragmented_bytes() as f64 / 1e6,
                st.leaf_pages()
            );
        }};
    }
    t!(ITEMS);
    t!(BY_SOURCE);
    t!(BY_TIME);
    t!(TITLES);
    t!(STORY_OF);
    t!(STORIES);
    t!(SEARCH);
    t!(META);
    txn.abort().unwrap();
}

pub fn compact(mut db: Database) -> Database {
    while db.compact().unwrap() {}
    db
}
