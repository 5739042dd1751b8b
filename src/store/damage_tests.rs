//! Damaged stores: truncated, overwritten, rolled back, missing their manifest, reported
//! corrupt by the storage engine. None opens; each names its path and what to do; salvage recovers what
//! can be read; a store that only crashed opens.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use chrono::{DateTime, Duration, FixedOffset, TimeZone};

use super::*;
use crate::model::Item;

fn at(hours: i64) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(7 * 3600)
        .unwrap()
        .with_ymd_and_hms(2023, 2, 1, 8, 0, 0)
        .unwrap()
        + Duration::hours(hours)
}

/// Text that does not compress, so that bodies take their size on disk.
fn noise(seed: u64, len: usize) -> String {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

fn items(source: &str, count: usize, body_len: usize) -> Vec<Item> {
    (0..count)
        .map(|i| Item {
            source: SourceId::parse(source).unwrap(),
            url: format!("http://h/{source}/tin-{i}.html"),
            guid: None,
            title: format!("Tin số {i} của {source}"),
            published: Some(at(i as i64)),
            categories: vec!["Tin tức".into()],
            views: None,
            summary: Some(format!("Tóm tắt {i}")),
            image: None,
            content_html: Some(format!("<p>{}</p>", noise(i as u64 + 1, body_len))),
            article_status: Some(200),
            identity: Default::default(),
        })
        .collect()
}

/// A store of 158 items from two refreshes and a health record (about 1 MB), closed.
fn filled_store(dir: &Path) {
    let store = Store::open(dir).unwrap();
    for (n, source) in ["phucloi", "bode"].into_iter().enumerate() {
        store
            .ingest(
                &SourceId::parse(source).unwrap(),
                &items(source, 79, 4000),
                at(n as i64),
            )
            .unwrap();
    }
    store
        .record_run(
            &SourceId::parse("bode").unwrap(),
            &RunOutcome {
                listings: 1,
                failures: Vec::new(),
                empty: Vec::new(),
                items_seen: 79,
                warnings: vec![crate::model::ItemWarning {
                    url: String::new(),
                    field: "date".into(),
                    message: "kept".into(),
                }],
            },
            at(3),
        )
        .unwrap();
    assert_eq!(store.len(), 158);
}

fn copy_of(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    check::copy_dir_for_tests(dir, copy.path());
    copy
}

/// The damage report `result` must be, naming `dir` and the way out; its text.
fn damaged(result: Result<Store, StoreError>, dir: &Path) -> String {
    match result {
        Err(error @ StoreError::Damaged { .. }) => {
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("store {} is damaged: ", dir.display())),
                "{message}"
            );
            assert!(
                message.contains("Restore the store from a backup")
                    && message.contains(&format!(
                        "wardfeed verify --store {} --repair NEW_DIR",
                        dir.display()
                    )),
                "{message}"
            );
            message
        }
        Err(other) => panic!("not reported as damage: {other}"),
        Ok(store) => panic!("a damaged store opened, with {} items", store.len()),
    }
}

fn truncate(db: &Path, len: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    file.set_len(len).unwrap();
}

#[test]
fn a_truncated_database_is_refused_at_any_length() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let size = std::fs::metadata(dir.path().join(kv::DB_FILE))
        .unwrap()
        .len();
    for percent in [10, 25, 50, 75] {
        let copy = copy_of(dir.path());
        truncate(&copy.path().join(kv::DB_FILE), size * percent / 100);
        let message = damaged(Store::open(copy.path()), copy.path());
        eprintln!("{percent} %: {message}");
        // The read-only opening (`wardfeed items`) refuses it too, naming the store.
        damaged(Store::open_read_only(copy.path(), 1 << 20), copy.path());
    }
}

/// Where in the database file the record of the `nth` item (in key order) lies: a window from
/// its middle, found among the file's bytes.
fn record_offset(dir: &Path, nth: usize) -> u64 {
    let record = {
        let store = Store::open(dir).unwrap();
        let h = store.handles().unwrap();
        h.items.iter().nth(nth).unwrap().unwrap().1
    };
    let bytes = std::fs::read(dir.join(kv::DB_FILE)).unwrap();
    let middle = record.len() / 2;
    let window = &record[middle..middle + 64];
    bytes
        .windows(window.len())
        .position(|w| w == window)
        .expect("the record's bytes are in the file") as u64
}

#[test]
fn random_bytes_over_the_database_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    // 256 bytes of noise over the records of three items (the file's layout is the engine's:
    // fixed offsets may fall on space it does not use, which harms nothing), and over a fixed
    // offset, which may be unused.
    let mut targets: Vec<(u64, bool)> = [0, 79, 157]
        .into_iter()
        .map(|nth| (record_offset(dir.path(), nth), true))
        .collect();
    targets.push((524_288, false));
    for (offset, in_a_record) in targets {
        let copy = copy_of(dir.path());
        let mut db = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.path().join(kv::DB_FILE))
            .unwrap();
        db.seek(SeekFrom::Start(offset)).unwrap();
        db.write_all(noise(offset, 256).as_bytes()).unwrap();
        drop(db);
        match Store::open(copy.path()) {
            Ok(store) => {
                assert!(!in_a_record, "a store with a record overwritten opened");
                // Bytes over space the engine does not use harm nothing: such a store may
                // open, but only whole.
                assert_eq!(store.len(), 158, "opened with items missing");
                assert_eq!(store.verify().unwrap().problems, Vec::<String>::new());
                eprintln!("256 bytes at {offset}: over unused space; the store is whole");
            }
            result => {
                let message = damaged(result, copy.path());
                eprintln!("256 bytes at {offset}: {message}");
            }
        }
    }
}

#[test]
fn an_older_database_under_a_newer_manifest_is_refused_and_a_crash_before_the_manifest_is_not() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let before = copy_of(dir.path());
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .ingest(
                &SourceId::parse("thachban").unwrap(),
                &items("thachban", 5, 100),
                at(9),
            )
            .unwrap();
    }
    // A backup's database put back under the newer manifest: the store went back in time.
    let rolled_back = copy_of(dir.path());
    std::fs::copy(
        before.path().join(kv::DB_FILE),
        rolled_back.path().join(kv::DB_FILE),
    )
    .unwrap();
    let message = damaged(Store::open(rolled_back.path()), rolled_back.path());
    assert!(
        message.contains("with 158 items, but its manifest records"),
        "{message}"
    );
    assert!(message.contains("with 163 items"), "{message}");

    // The other way round is a crash between the flush and the manifest: it opens, and the
    // manifest catches up.
    let crashed = copy_of(dir.path());
    std::fs::copy(
        before.path().join(integrity::MANIFEST_FILE),
        crashed.path().join(integrity::MANIFEST_FILE),
    )
    .unwrap();
    let store = Store::open(crashed.path()).unwrap();
    assert_eq!(store.len(), 163);
    drop(store);
    assert_eq!(
        integrity::read_manifest(crashed.path()).unwrap().items(),
        163
    );
}

#[test]
fn a_missing_or_edited_manifest_is_refused_and_an_emptied_database_never_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let missing = copy_of(dir.path());
    std::fs::remove_file(missing.path().join(integrity::MANIFEST_FILE)).unwrap();
    let message = damaged(Store::open(missing.path()), missing.path());
    assert!(
        message.contains("its manifest (wardfeed.manifest) is missing"),
        "{message}"
    );

    let edited = copy_of(dir.path());
    let path = edited.path().join(integrity::MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"count\": 158"), "{text}");
    std::fs::write(&path, text.replacen("\"count\": 158", "\"count\": 15", 1)).unwrap();
    let message = damaged(Store::open(edited.path()), edited.path());
    assert!(
        message.contains("unreadable: its checksum does not match"),
        "{message}"
    );

    // The database gone, the manifest left: not a new store.
    let emptied = copy_of(dir.path());
    for entry in std::fs::read_dir(emptied.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == integrity::MANIFEST_FILE {
            continue;
        }
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let message = damaged(Store::open(emptied.path()), emptied.path());
    assert!(
        message.contains("holds no ledger, but its manifest records 158 items"),
        "{message}"
    );
}

/// Large records span many pages of the database, which the engine checksums: a flipped byte
/// in one is refused at open, in words (never an engine's Debug dump of the error).
#[test]
fn a_damaged_large_record_is_refused_at_open_in_words() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .ingest(
                &SourceId::parse("bode").unwrap(),
                &items("bode", 3, 300_000),
                at(0),
            )
            .unwrap();
    }
    // A byte in the middle of the first item's record, wherever the engine put it.
    let at = record_offset(dir.path(), 0) as usize;
    let copy = copy_of(dir.path());
    let file = copy.path().join(kv::DB_FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let message = damaged(Store::open(copy.path()), copy.path());
    eprintln!("{message}");
    assert!(
        !message.contains("backtrace") && !message.contains("Inline("),
        "{message}"
    );
}

#[test]
fn salvage_recovers_what_is_readable_into_a_new_whole_store() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let size = std::fs::metadata(dir.path().join(kv::DB_FILE))
        .unwrap()
        .len();
    truncate(&dir.path().join(kv::DB_FILE), size * 3 / 4);
    let into = tempfile::tempdir().unwrap();
    let (store, report) = Store::salvage(dir.path(), into.path(), 1 << 20).unwrap();
    eprintln!("{report}");
    assert_eq!(report.recorded_items, Some(158));
    assert!(report.items < 158, "{report}");
    // The engine opened the cut-short copy only lengthened, and the report says so.
    assert!(
        report.padded && report.to_string().contains("cut short"),
        "{report}"
    );
    assert_eq!(store.len() as u64, report.items);
    let stories: Vec<Story> = store.stories(|_| true).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        stories.iter().map(|s| s.items.len()).sum::<usize>() as u64,
        report.items
    );
    assert_eq!(store.verify().unwrap().problems, Vec::<String>::new());
    // Salvaged items are searched like any (every title holds "của").
    assert_eq!(
        store.search(&["cua".to_owned()]).unwrap().count() as u64,
        report.items
    );
    drop(store);
    // The new store opens as a whole one; the damaged one is still refused.
    assert_eq!(Store::open(into.path()).unwrap().len() as u64, report.items);
    damaged(Store::open(dir.path()), dir.path());
}

#[test]
fn a_whole_store_verifies_and_an_older_one_is_sealed_on_first_open() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let store = Store::open_read_only(dir.path(), 1 << 20).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(
        (
            report.items,
            report.sources_with_health,
            report.problems.len()
        ),
        (158, 1, 0),
        "{report:?}"
    );
    drop(store);
    // A schema-2 store (no seals, no manifest), as the previous wardfeed left it.
    {
        let handles = Handles::open(dir.path(), 1 << 20).unwrap();
        for name in SEALED {
            handles.meta.remove(seal_key(name)).unwrap();
        }
        handles.meta.remove(GENERATION_KEY).unwrap();
        handles.meta.insert("schema", 2u32.to_be_bytes()).unwrap();
        handles.db.flush().unwrap();
    }
    std::fs::remove_file(dir.path().join(integrity::MANIFEST_FILE)).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.len(), 158);
    drop(store);
    assert_eq!(integrity::read_manifest(dir.path()).unwrap().items(), 158);
    assert_eq!(Store::open(dir.path()).unwrap().len(), 158);
}

#[test]
fn the_read_only_opening_writes_nothing_and_is_refused_while_a_daemon_writes() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let listing = |dir: &Path| {
        let mut files: Vec<(String, u64, std::time::SystemTime)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let meta = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    meta.len(),
                    meta.modified().unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = listing(dir.path());
    let store = Store::open_read_only(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.len(), 158);
    drop(store);
    assert_eq!(listing(dir.path()), before);
    let writer = Store::open(dir.path()).unwrap();
    let error = Store::open_read_only(dir.path(), 1 << 20).unwrap_err();
    assert!(
        error.to_string().contains("in use by a running wardfeed"),
        "{error}"
    );
    drop(writer);
    let nowhere = dir.path().join("nothing-here");
    let error = Store::open_read_only(&nowhere, 1 << 20).unwrap_err();
    assert!(error.to_string().contains("no store here"), "{error}");
    assert!(!nowhere.exists());
}

/// The child of `a_refresh_killed_mid_ingest_is_in_the_ledger_whole_or_not_at_all`: ingests
/// `WARDFEED_INGEST_ITEMS` items of source `WARDFEED_INGEST_SOURCE` into the store in
/// `WARDFEED_INGEST_STORE`, saying "ingesting" first. Does nothing when run on its own.
#[test]
#[ignore = "run by a_refresh_killed_mid_ingest_is_in_the_ledger_whole_or_not_at_all"]
fn ingest_child() {
    let (Ok(dir), Ok(source), Ok(count)) = (
        std::env::var("WARDFEED_INGEST_STORE"),
        std::env::var("WARDFEED_INGEST_SOURCE"),
        std::env::var("WARDFEED_INGEST_ITEMS"),
    ) else {
        return;
    };
    let store = Store::open(Path::new(&dir)).unwrap();
    let batch = items(&source, count.parse().unwrap(), 600);
    println!("ingesting");
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    store
        .ingest(&SourceId::parse(&source).unwrap(), &batch, at(0))
        .unwrap();
    println!("ingested");
}

/// A refresh is one transaction (issue 12, finding 9: it was batches of 256, and 7 of 20
/// kill -9s mid-ingest left one half applied): a process killed at any moment of a 3,000-item
/// ingest leaves all of it or none of it, and the store opens whole after every kill.
#[test]
fn a_refresh_killed_mid_ingest_is_in_the_ledger_whole_or_not_at_all() {
    use std::io::BufRead;
    const ITEMS: usize = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let mut partial = Vec::new();
    let mut outcomes = Vec::new();
    // How long an ingest takes here: a first child is left to finish.
    let spawn = |source: &str| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::damage_tests::ingest_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("WARDFEED_INGEST_STORE", dir.path())
            .env("WARDFEED_INGEST_SOURCE", source)
            .env("WARDFEED_INGEST_ITEMS", ITEMS.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // libtest may put its own "test … " before the child's line.
        assert!(
            lines
                .by_ref()
                .map_while(Result::ok)
                .any(|l| l.ends_with("ingesting")),
            "the child never started ingesting"
        );
        (child, lines, std::time::Instant::now())
    };
    let (mut child, mut lines, started) = spawn("nguonmau");
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l == "ingested")
    );
    let took = started.elapsed();
    eprintln!("an ingest of {ITEMS} items took {took:?}");
    child.wait().unwrap();
    for round in 0..10u32 {
        let source = format!("nguon{round}");
        let (mut child, _lines, started) = spawn(&source);
        // Kill points spread over the ingest and a little past it.
        let at = took * round / 7;
        std::thread::sleep(at.saturating_sub(started.elapsed()));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        child.wait().unwrap();
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let held = store.source_len(&SourceId::parse(&source).unwrap());
        outcomes.push((held, finished));
        if held != 0 && held != ITEMS {
            partial.push((round, held));
        }
    }
    eprintln!("items held after each kill (and whether the child had ended): {outcomes:?}");
    assert!(
        outcomes.iter().any(|(_, finished)| !finished),
        "no kill landed before the ingest ended"
    );
    assert_eq!(partial, Vec::new(), "refreshes half applied (round, items)");
}

/// Reopening (what the pipeline does after a write error) waits for readers, checks the store
/// again and keeps everything; a second reopen for the same failure is skipped.
#[test]
fn a_reopened_store_keeps_everything_and_writes_again() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let store = Store::open(dir.path()).unwrap();
    let seen = store.epoch();
    let mut reader = store.items();
    let newest = reader.next().unwrap().unwrap();
    std::thread::scope(|scope| {
        let reopening = scope.spawn(|| store.recover(seen));
        // The reopening waits for this reader to let go of the database.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(reader.count(), 157);
        reopening.join().unwrap().unwrap();
    });
    assert_eq!(store.epoch(), seen + 1);
    assert_eq!(store.items().next().unwrap().unwrap().key, newest.key);
    store
        .ingest(
            &SourceId::parse("thachban").unwrap(),
            &items("thachban", 2, 100),
            at(9),
        )
        .unwrap();
    assert_eq!(store.len(), 160);
    // Writers that failed together reopen once.
    store.recover(seen).unwrap();
    assert_eq!(store.epoch(), seen + 1);
    assert_eq!(store.condition(), StoreCondition::Working);
    drop(store);
    assert_eq!(Store::open(dir.path()).unwrap().len(), 160);
}

/// A second writer (`scrape --once` while the daemon runs) is told the store is in use and
/// what to do, not the engine's own words.
#[test]
fn a_store_held_by_a_writer_is_refused_as_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _daemon = Store::open(dir.path()).unwrap();
    let error = Store::open_with_cache(dir.path(), 1 << 20)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("in use by a running wardfeed"), "{error}");
    assert!(error.contains("stop the daemon first"), "{error}");
    assert!(error.contains(&dir.path().display().to_string()), "{error}");
    assert!(!error.contains("acquire lock"), "{error}");
}

#[test]
fn a_large_store_opens_after_quick_checks_and_is_read_whole_before_its_first_write() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let longbien = SourceId::parse("longbien").unwrap();
    // Whole: opened without the whole read (as a store past OPEN_SCAN_RECORDS is), it passes
    // the read when asked, and a first write asks for it.
    {
        let store = Store::open_checking(dir.path(), 1 << 20, 0).unwrap();
        assert!(store.is_unverified());
        store.finish_verification().unwrap();
        assert!(!store.is_unverified());
    }
    {
        let store = Store::open_checking(dir.path(), 1 << 20, 0).unwrap();
        assert!(store.is_unverified());
        store
            .ingest(&longbien, &items("longbien", 1, 100), at(5))
            .unwrap();
        assert!(!store.is_unverified());
        assert_eq!(store.len(), 159);
    }
    // One record changed behind the tallies' back: as many records, different content.
    {
        let handles = Handles::open(dir.path(), 1 << 20).unwrap();
        let (key, _) = handles.items.iter().next().unwrap().unwrap();
        handles.items.insert(key, &b"not the record"[..]).unwrap();
        handles.db.flush().unwrap();
    }
    // Small enough to read whole at open: refused at open, as ever.
    damaged(Store::open(dir.path()), dir.path());
    // Deferred: it opens, the whole read finds the damage; the store is failing from then on
    // and takes no write.
    let store = Store::open_checking(dir.path(), 1 << 20, 0).unwrap();
    let error = store.finish_verification().unwrap_err();
    assert!(
        matches!(error, StoreError::Damaged { .. })
            && error
                .to_string()
                .contains("as many records, different content"),
        "{error}"
    );
    assert!(matches!(store.condition(), StoreCondition::Failing { .. }));
    let refused = store
        .ingest(&longbien, &items("longbien", 2, 100), at(6))
        .unwrap_err();
    assert!(matches!(refused, StoreError::Damaged { .. }), "{refused}");
    assert_eq!(store.len(), 159);
}
