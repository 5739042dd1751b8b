//! Ledger behaviour: identity, updates, stories, retention, health.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};

use super::*;
use crate::config::Retention;
use crate::model::{CachedPage, ErrorKind, Item, ItemWarning, SourceStatus, Validators};

fn at(hours: i64) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(7 * 3600)
        .unwrap()
        .with_ymd_and_hms(2023, 2, 1, 8, 0, 0)
        .unwrap()
        + Duration::hours(hours)
}

fn source(id: &str) -> SourceId {
    SourceId::parse(id).unwrap()
}

fn item(src: &str, path: &str, title: &str, published_hours: i64) -> Item {
    Item {
        source: source(src),
        url: format!("http://h/{src}/{path}"),
        guid: None,
        title: title.to_owned(),
        published: Some(at(published_hours)),
        categories: vec!["Tin mới nhất".into()],
        views: Some(10),
        summary: Some("Tóm tắt".into()),
        image: None,
        content_html: Some("<p>Nội dung</p>".into()),
        article_status: Some(200),
        identity: Default::default(),
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// A search's words, folded as the index folds them.
fn query(q: &str) -> Vec<String> {
    super::search::words(q).into_iter().collect()
}

fn all(store: &Store) -> Vec<StoredItem> {
    store.items().collect::<Result<Vec<_>, _>>().unwrap()
}

fn story_titles(store: &Store) -> Vec<Vec<String>> {
    store
        .stories(|_| true)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .iter()
        .map(|s| s.items.iter().map(|i| i.item.url.clone()).collect())
        .collect()
}

#[test]
fn unchanged_items_change_nothing_and_keys_are_stable() {
    let (_dir, store) = open();
    let items = vec![item("phucloi", "a", "A", 0), item("phucloi", "b", "B", 1)];
    let first = store.ingest(&source("phucloi"), &items, at(100)).unwrap();
    assert_eq!(first.new.len(), 2);
    let before = all(&store);
    let again = store.ingest(&source("phucloi"), &items, at(200)).unwrap();
    assert_eq!(
        again,
        IngestReport {
            unchanged: 2,
            ..IngestReport::default()
        }
    );
    assert!(!again.changed());
    assert_eq!(all(&store), before);
    assert_eq!(
        before[0].key,
        ItemKey::derive(&source("phucloi"), "http://h/phucloi/b")
    );
}

#[test]
fn a_title_edit_is_an_update_that_keeps_key_and_first_seen() {
    let (_dir, store) = open();
    let original = item("phucloi", "a", "Khóa XXXIIII", 0);
    store
        .ingest(&source("phucloi"), std::slice::from_ref(&original), at(100))
        .unwrap();
    let mut edited = original.clone();
    edited.title = "Khóa XXIII".into();
    let report = store
        .ingest(&source("phucloi"), &[edited], at(200))
        .unwrap();
    assert_eq!(report.updated.len(), 1);
    let stored = &all(&store)[0];
    assert_eq!(stored.item.title, "Khóa XXIII");
    assert_eq!(stored.first_seen, at(100));
    assert_eq!(stored.updated, Some(at(200)));
    assert_eq!(store.len(), 1);
}

#[test]
fn a_view_count_change_is_stored_but_is_not_an_update() {
    let (_dir, store) = open();
    let original = item("phucloi", "a", "A", 0);
    store
        .ingest(&source("phucloi"), std::slice::from_ref(&original), at(100))
        .unwrap();
    let mut viewed = original.clone();
    viewed.views = Some(1023);
    let report = store
        .ingest(&source("phucloi"), &[viewed], at(200))
        .unwrap();
    assert_eq!(report.views_only.len(), 1);
    let stored = &all(&store)[0];
    assert_eq!((stored.item.views, stored.updated), (Some(1023), None));
}

#[test]
fn a_vanished_article_keeps_its_body_title_and_image() {
    let (_dir, store) = open();
    let mut original = item("bode", "a", "Tiêu đề bài viết", 0);
    original.image = Some("http://h/bode/u/1.jpg".into());
    store
        .ingest(&source("bode"), &[original.clone()], at(100))
        .unwrap();
    let mut gone = original.clone();
    gone.title = "Tiêu đề (danh sách)".into();
    gone.content_html = None;
    gone.image = None;
    gone.article_status = Some(404);
    let report = store.ingest(&source("bode"), &[gone], at(200)).unwrap();
    assert_eq!(report.quiet.len(), 1, "{report:?}");
    let stored = &all(&store)[0];
    assert_eq!(stored.item.title, original.title);
    assert_eq!(stored.item.content_html, original.content_html);
    assert_eq!(stored.item.image, original.image);
    assert_eq!(
        (stored.item.article_status, stored.updated),
        (Some(404), None)
    );
}

#[test]
fn items_missing_from_a_later_scrape_stay() {
    let (_dir, store) = open();
    store
        .ingest(
            &source("bode"),
            &[item("bode", "a", "A", 0), item("bode", "b", "B", 1)],
            at(100),
        )
        .unwrap();
    store
        .ingest(&source("bode"), &[item("bode", "b", "B", 1)], at(200))
        .unwrap();
    assert_eq!(store.len(), 2);
}

#[test]
fn cross_posts_within_72_hours_are_one_story_and_recurring_notices_are_not() {
    let (_dir, store) = open();
    store
        .ingest(
            &source("phucloi"),
            &[item("phucloi", "w", "Lễ giao nhận quân năm 2023", 0)],
            at(100),
        )
        .unwrap();
    // The district re-posts with a trailing period and in upper case, 30 hours later.
    store
        .ingest(
            &source("longbien"),
            &[item("longbien", "d", "LỄ GIAO NHẬN QUÂN NĂM 2023.", 30)],
            at(100),
        )
        .unwrap();
    // The same monthly notice title, a month apart, and 76 hours apart on two wards.
    store
        .ingest(
            &source("phucloi"),
            &[
                item("phucloi", "n1", "Lịch tiếp công dân", 0),
                item("phucloi", "n2", "Lịch tiếp công dân", 24 * 30),
            ],
            at(100),
        )
        .unwrap();
    store
        .ingest(
            &source("bode"),
            &[item("bode", "n3", "Lịch tiếp công dân", 24 * 30 + 76)],
            at(100),
        )
        .unwrap();
    let stories = story_titles(&store);
    assert_eq!(stories.len(), 4, "{stories:?}");
    assert!(stories.contains(&vec![
        "http://h/phucloi/w".to_owned(),
        "http://h/longbien/d".to_owned()
    ]));
    let combined = store
        .stories(|_| true)
        .take(10)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let merged = combined.iter().find(|s| s.items.len() == 2).unwrap();
    assert_eq!(
        merged.title(),
        "Lễ giao nhận quân năm 2023",
        "the earliest source names the story"
    );
}

#[test]
fn stories_chain_transitively_and_keep_their_id_when_an_earlier_item_arrives() {
    let (_dir, store) = open();
    store
        .ingest(
            &source("longbien"),
            &[item("longbien", "d", "Tin chung", 50)],
            at(100),
        )
        .unwrap();
    let id = store
        .stories(|_| true)
        .take(10)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()[0]
        .id;
    store
        .ingest(
            &source("phucloi"),
            &[item("phucloi", "w", "Tin chung", 0)],
            at(101),
        )
        .unwrap();
    store
        .ingest(
            &source("bode"),
            &[item("bode", "b", "Tin chung", 110)],
            at(102),
        )
        .unwrap();
    let stories = store
        .stories(|_| true)
        .take(10)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(stories.len(), 1, "0h, 50h and 110h chain within 72h steps");
    assert_eq!(stories[0].id, id, "the story id survived");
    assert_eq!(stories[0].first().item.source.as_str(), "phucloi");
}

#[test]
fn a_retitled_item_moves_to_its_new_story() {
    let (_dir, store) = open();
    let a = item("phucloi", "a", "Tiêu đề cũ", 0);
    store
        .ingest(
            &source("phucloi"),
            &[a.clone(), item("longbien", "x", "Tiêu đề mới", 1)],
            at(100),
        )
        .unwrap();
    assert_eq!(story_titles(&store).len(), 2);
    let mut retitled = a;
    retitled.title = "Tiêu đề mới".into();
    store
        .ingest(&source("phucloi"), &[retitled], at(200))
        .unwrap();
    let stories = story_titles(&store);
    assert_eq!(
        stories,
        vec![vec![
            "http://h/phucloi/a".to_owned(),
            "http://h/longbien/x".to_owned()
        ]]
    );
    assert_eq!(
        store.handles().unwrap().stories.len(),
        1,
        "the emptied story was deleted"
    );
}

fn story_id_of(store: &Store, url: &str) -> u64 {
    let stories = store
        .stories(|_| true)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let story = stories
        .iter()
        .find(|s| s.items.iter().any(|i| i.item.url == url))
        .unwrap_or_else(|| panic!("{url} is in no story"));
    story.id
}

/// The combined feed's entry id is the story id: an edited title or a corrected date of an
/// item that is a story by itself must not make it a new entry in readers.
#[test]
fn an_item_alone_in_its_story_keeps_the_story_id_through_a_retitle_or_a_new_date() {
    let (_dir, store) = open();
    let a = item("phucloi", "a", "Tiêu đề cũ", 0);
    let other = item("bode", "b", "Tin khác", 0);
    store
        .ingest(&source("phucloi"), &[a.clone(), other.clone()], at(100))
        .unwrap();
    let id = story_id_of(&store, &a.url);
    let mut retitled = a.clone();
    retitled.title = "Tiêu đề mới".into();
    store
        .ingest(&source("phucloi"), &[retitled.clone()], at(200))
        .unwrap();
    assert_eq!(story_id_of(&store, &a.url), id, "retitled");
    let mut redated = retitled;
    redated.published = Some(at(5));
    store
        .ingest(&source("phucloi"), &[redated.clone()], at(300))
        .unwrap();
    assert_eq!(story_id_of(&store, &a.url), id, "redated");
    assert_eq!(
        store.handles().unwrap().stories.len(),
        2,
        "no story left behind"
    );
    assert_ne!(story_id_of(&store, &other.url), id);
}

/// An item that leaves a story other items still hold leaves the id with them.
#[test]
fn a_retitled_cross_post_leaves_the_story_id_to_the_items_that_stay() {
    let (_dir, store) = open();
    let ward = item("phucloi", "a", "Thông báo", 0);
    let district = item("longbien", "x", "Thông báo", 1);
    store
        .ingest(
            &source("phucloi"),
            &[ward.clone(), district.clone()],
            at(100),
        )
        .unwrap();
    let id = story_id_of(&store, &ward.url);
    assert_eq!(story_id_of(&store, &district.url), id);
    let mut retitled = district.clone();
    retitled.title = "Thông báo về lịch tiếp dân".into();
    store
        .ingest(&source("longbien"), &[retitled], at(200))
        .unwrap();
    assert_eq!(story_id_of(&store, &ward.url), id);
    assert_ne!(story_id_of(&store, &district.url), id);
    assert_eq!(store.handles().unwrap().stories.len(), 2);
}

#[test]
fn retention_prunes_oldest_items_and_their_story_entries() {
    let (_dir, store) = open();
    let items: Vec<Item> = (0..10)
        .map(|i| item("bode", &format!("i{i}"), &format!("T{i}"), i * 24))
        .collect();
    store.ingest(&source("bode"), &items, at(1000)).unwrap();
    let removed = store
        .prune(
            &source("bode"),
            &Retention {
                max_items: Some(6),
                max_age_days: None,
            },
            at(1000),
        )
        .unwrap();
    assert_eq!(
        removed,
        ["i0", "i1", "i2", "i3"].map(|i| format!("http://h/bode/{i}"))
    );
    let left: Vec<String> = all(&store).iter().map(|i| i.item.title.clone()).collect();
    assert_eq!(left, ["T9", "T8", "T7", "T6", "T5", "T4"]);
    let removed = store
        .prune(
            &source("bode"),
            &Retention {
                max_items: None,
                max_age_days: Some(2),
            },
            at(9 * 24),
        )
        .unwrap();
    assert_eq!(removed.len(), 3, "only items of the last two days stay");
    assert_eq!(
        store
            .stories(|_| true)
            .take(100)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(store.handles().unwrap().stories.len(), 3);
}

#[test]
fn the_ledger_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .ingest(&source("bode"), &[item("bode", "a", "A", 0)], at(100))
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(all(&store)[0].item.title, "A");
}

#[test]
fn a_store_written_with_lz4_records_opens_whole_reads_and_takes_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let old = [
        item("bode", "a", "Tin cũ một", 0),
        item("giang", "b", "Tin cũ hai", 1),
    ];
    {
        records::WRITE_LZ4.with(|lz4| lz4.set(true));
        let store = Store::open(dir.path()).unwrap();
        store.ingest(&source("bode"), &old[..1], at(100)).unwrap();
        store.ingest(&source("giang"), &old[1..], at(100)).unwrap();
        let outcome = RunOutcome {
            listings: 1,
            failures: vec![HealthError {
                at: at(100),
                kind: ErrorKind::Http,
                category: "tin-tuc".into(),
                message: "HTTP 500".into(),
            }],
            empty: vec![],
            items_seen: 1,
            warnings: vec![],
        };
        store
            .record_run(&source("bode"), &outcome, at(100))
            .unwrap();
        records::WRITE_LZ4.with(|lz4| lz4.set(false));
    }
    // Read whole at open: every seal and every record of the previous format checks out.
    let store = Store::open_checking(dir.path(), 1 << 20, u64::MAX).unwrap();
    assert_eq!(
        all(&store)
            .iter()
            .map(|s| s.item.title.as_str())
            .collect::<Vec<_>>(),
        ["Tin cũ hai", "Tin cũ một"]
    );
    let report = store.verify().unwrap();
    assert_eq!((report.items, report.problems.len()), (2, 0), "{report:?}");
    assert_eq!(store.health(&source("bode")).unwrap().items_seen, 1);
    // New records (zstd) beside the old ones; an old item edited is written again.
    let mut edited = old[0].clone();
    edited.title = "Tin cũ một, sửa".into();
    store
        .ingest(
            &source("bode"),
            &[edited, item("bode", "c", "Tin mới", 2)],
            at(101),
        )
        .unwrap();
    drop(store);
    let store = Store::open_checking(dir.path(), 1 << 20, u64::MAX).unwrap();
    let mut titles: Vec<_> = all(&store).into_iter().map(|s| s.item.title).collect();
    titles.sort();
    assert_eq!(titles, ["Tin cũ hai", "Tin cũ một, sửa", "Tin mới"]);
    assert_eq!(store.search(&query("cũ")).unwrap().count(), 2);
}

#[test]
fn health_changes_are_incidents() {
    let (_dir, store) = open();
    let bode = source("bode");
    let ok = RunOutcome {
        listings: 3,
        failures: vec![],
        empty: vec!["van-hoa-xa-hoi".into()],
        items_seen: 18,
        warnings: vec![],
    };
    assert_eq!(
        store.record_run(&bode, &ok, at(0)).unwrap(),
        None,
        "a first good run is no incident"
    );
    let failure = HealthError {
        at: at(1),
        kind: ErrorKind::Http,
        category: "cong-tac-dang".into(),
        message: "HTTP 500".into(),
    };
    let degraded = RunOutcome {
        failures: vec![failure.clone()],
        ..ok.clone()
    };
    let incident = store.record_run(&bode, &degraded, at(1)).unwrap().unwrap();
    assert_eq!(
        (incident.from, incident.to),
        (SourceStatus::Ok, SourceStatus::Degraded)
    );
    assert_eq!(
        store.record_run(&bode, &degraded, at(2)).unwrap(),
        None,
        "no change, no incident"
    );
    let health = store.health(&bode).unwrap();
    assert_eq!(health.consecutive_failures, 2);
    assert_eq!(health.last_error, Some(failure));
    assert_eq!(health.last_success, Some(at(0)));
    store.record_run(&bode, &ok, at(3)).unwrap().unwrap();
    assert_eq!(store.incidents(10).unwrap().len(), 2);
    assert_eq!(store.health(&bode).unwrap().consecutive_failures, 0);
}

#[test]
fn cached_pages_round_trip_and_are_forgotten() {
    let (_dir, store) = open();
    let page = CachedPage {
        validators: Validators {
            etag: Some("\"x\"".into()),
            last_modified: None,
        },
        final_url: "http://h/a".into(),
        content_type: Some("text/html".into()),
        body: b"<p>a</p>".to_vec(),
    };
    for key in ["http://h/a", "http://h/b", "http://h/c"] {
        store.set_page(key, Some(&page)).unwrap();
    }
    assert_eq!(store.page("http://h/a").unwrap(), Some(page.clone()));
    assert_eq!(store.page("http://h/d").unwrap(), None);
    store.set_page("http://h/a", None).unwrap();
    assert_eq!(store.page("http://h/a").unwrap(), None);
    store.forget_pages(["http://h/b", "http://h/d"]).unwrap();
    assert_eq!(store.page("http://h/b").unwrap(), None);
    assert_eq!(store.pages_len(), 1);
}

/// Reads decode what they return, not the history behind it: over 100,000 items a feed of
/// 100 decodes 100 records, a search stops at its limit, stories stop at theirs.
#[test]
fn reads_decode_what_they_take_over_a_hundred_thousand_items() {
    const ITEMS: usize = 100_000;
    const SOURCES: usize = 10;
    let (_dir, store) = open();
    for batch in 0..ITEMS / 1000 {
        let src = format!("ward{}", batch % SOURCES);
        let items: Vec<Item> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                // Every 50th title holds the searched word.
                let title = if n % 50 == 0 {
                    format!("Thông báo tìm chủ {n}")
                } else {
                    format!("Tin số {n}")
                };
                let mut item = item(&src, &format!("i{n}"), &title, n as i64);
                item.content_html = None;
                item
            })
            .collect();
        store
            .ingest(&source(&src), &items, at(ITEMS as i64))
            .unwrap();
    }
    assert_eq!(store.len(), ITEMS);

    let before = store.decoded_items();
    let feed: Vec<_> = store
        .source_items(&source("ward3"))
        .take(100)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(feed.len(), 100);
    assert_eq!(
        store.decoded_items() - before,
        100,
        "a feed of 100 decodes 100"
    );

    let before = store.decoded_items();
    let found: Vec<_> = store
        .items()
        .filter(|item| item.as_ref().map_or(true, |s| s.item.title.contains("tìm")))
        .take(10)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(found.len(), 10);
    let decoded = store.decoded_items() - before;
    assert!(
        decoded <= 10 * 50,
        "a search for 10 decoded {decoded} records, not the ~500 it walks"
    );

    let before = store.decoded_items();
    let stories: Vec<_> = store
        .stories(|_| true)
        .take(100)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stories.len(), 100);
    assert_eq!(
        store.decoded_items() - before,
        100,
        "100 single-item stories"
    );

    // The dashboard's "posted since": the walk ends at the first older item.
    let since = at((ITEMS - 2000) as i64);
    let before = store.decoded_items();
    let recent = store
        .source_items(&source("ward9"))
        .map_while(|item| item.ok().filter(|s| s.sort_time() >= since))
        .count();
    assert_eq!(recent, 1000, "ward9's last batch");
    assert_eq!(
        store.decoded_items() - before,
        1001,
        "the recent ones and one more"
    );
}

#[test]
fn a_refreshs_warnings_are_kept_until_the_next_one() {
    let (_dir, store) = open();
    let bode = source("bode");
    assert!(store.warnings(&bode).unwrap().is_empty());
    let warning = |i: usize| ItemWarning {
        url: format!("http://h/bode/{i}"),
        field: "date".into(),
        message: "parse date \"hôm nào đó\": no date in a known format".into(),
    };
    let outcome = RunOutcome {
        listings: 1,
        failures: vec![],
        empty: vec![],
        items_seen: 1,
        warnings: vec![warning(1)],
    };
    store.record_run(&bode, &outcome, at(0)).unwrap();
    assert_eq!(store.warnings(&bode).unwrap(), [warning(1)]);
    // A thousand are kept as the first ones and a count of the rest.
    let many = RunOutcome {
        warnings: (0..1000).map(warning).collect(),
        ..outcome.clone()
    };
    store.record_run(&bode, &many, at(1)).unwrap();
    let kept = store.warnings(&bode).unwrap();
    assert_eq!(kept.len(), super::health::MAX_KEPT_WARNINGS + 1);
    assert!(
        kept.last()
            .unwrap()
            .message
            .starts_with("800 more warnings")
    );
    // A clean refresh clears them; other sources keep their own.
    store
        .record_run(
            &bode,
            &RunOutcome {
                warnings: vec![],
                ..outcome
            },
            at(2),
        )
        .unwrap();
    assert!(store.warnings(&bode).unwrap().is_empty());
}

/// Search reads the index: every word must be there (folded: "Phường" is found by
/// "PHUONG", "đường" by "duong"), newest first; taking 10 of thousands of matches decodes
/// 10 records, not the ledger; an updated body moves its words, a pruned item takes them along.
#[test]
fn search_reads_the_index_and_decodes_only_what_it_returns() {
    let (_dir, store) = open();
    let mut items = Vec::new();
    for n in 0..3000 {
        let mut it = item(
            "phucloi",
            &format!("bai-{n}"),
            &format!("Tin số {n} của Phường"),
            n,
        );
        it.content_html = Some(format!("<p>Sửa đường số {}</p>", n % 7));
        items.push(it);
    }
    for chunk in items.chunks(500) {
        store.ingest(&source("phucloi"), chunk, at(0)).unwrap();
    }
    store.search(&query("x")).unwrap().count(); // builds the (already complete) index
    let before = store.decoded_items();
    let found: Vec<StoredItem> = store
        .search(&query("PHUONG"))
        .unwrap()
        .take(10)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        store.decoded_items() - before,
        10,
        "decoded more than it returned"
    );
    let titles: Vec<&str> = found.iter().map(|s| s.item.title.as_str()).collect();
    assert_eq!(titles[0], "Tin số 2999 của Phường");
    assert_eq!(titles[9], "Tin số 2990 của Phường");
    // Two words, one only in the body: "đường 3" items, newest first.
    let hits: Vec<StoredItem> = store
        .search(&query("duong 3"))
        .unwrap()
        .take(3)
        .collect::<Result<_, _>>()
        .unwrap();
    let urls: Vec<&str> = hits.iter().map(|s| s.item.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "http://h/phucloi/bai-2999",
            "http://h/phucloi/bai-2992",
            "http://h/phucloi/bai-2985"
        ]
    );
    // An edited body: its old words go, its new ones come.
    let mut edited = items[2999].clone();
    edited.content_html = Some("<p>Khánh thành cầu</p>".into());
    store
        .ingest(&source("phucloi"), &[edited], at(5000))
        .unwrap();
    let first = store
        .search(&query("duong 3"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.item.url, "http://h/phucloi/bai-2992");
    let cau: Vec<StoredItem> = store
        .search(&query("cầu"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(cau.len(), 1);
    // Pruned: gone from the index too.
    store
        .prune(
            &source("phucloi"),
            &Retention {
                max_items: Some(5),
                max_age_days: None,
            },
            at(5000),
        )
        .unwrap();
    let left = store.search(&query("phuong")).unwrap().count();
    assert_eq!(left, 5);
}

/// A filter that says "may hold" wrongly (here: every bit set) costs a decode, never a hit:
/// the item's own words are checked before it is returned.
#[test]
fn a_word_filters_false_positive_is_never_a_hit() {
    let (_dir, store) = open();
    store
        .ingest(
            &source("bode"),
            &[item("bode", "a", "Lịch tiếp công dân", 0)],
            at(100),
        )
        .unwrap();
    assert_eq!(store.search(&query("tiep")).unwrap().count(), 1);
    let h = store.handles().unwrap();
    let (key, filter) = h.search.iter().next().unwrap().unwrap();
    h.search
        .insert(
            key,
            vec![filter[0], filter[1], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        )
        .unwrap();
    let before = store.decoded_items();
    assert_eq!(store.search(&query("ngập lụt")).unwrap().count(), 0);
    assert_eq!(
        store.decoded_items() - before,
        1,
        "the candidate was checked"
    );
    assert_eq!(store.search(&query("công dân")).unwrap().count(), 1);
}

/// A store written with the word postings (tree `search`, a key per word of every item)
/// loses that tree at its next opening, and its first search builds the word filters.
#[test]
fn a_store_with_the_old_word_postings_drops_them_and_searches_from_filters() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .ingest(
                &source("bode"),
                &[item("bode", "a", "Khánh thành cầu", 0)],
                at(100),
            )
            .unwrap();
        let h = store.handles().unwrap();
        let old = h.db.open_tree("search").unwrap();
        old.insert(b"cau\0posting", []).unwrap();
        h.search.clear().unwrap();
        h.meta.remove(b"search/filters-built").unwrap();
        h.db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let h = store.handles().unwrap();
    assert!(!h.db.tree_names().unwrap().iter().any(|n| n == "search"));
    assert!(h.search.is_empty());
    assert_eq!(store.search(&query("cầu")).unwrap().count(), 1);
    assert_eq!(h.search.len(), 1, "one filter per item");
}

/// A source's recent sort times come from the index keys: newest first, none before `since`,
/// equal to the items' own, and no record decoded.
#[test]
fn source_times_since_reads_the_index_alone() {
    let (_dir, store) = open();
    let items: Vec<Item> = (0..10)
        .map(|n| item("bode", &format!("t{n}"), &format!("Tin {n}"), n))
        .collect();
    store.ingest(&source("bode"), &items, at(100)).unwrap();
    store
        .ingest(&source("giang"), &[item("giang", "x", "X", 9)], at(100))
        .unwrap();
    let before = store.decoded_items();
    let times = store.source_times_since(&source("bode"), at(6)).unwrap();
    assert_eq!(store.decoded_items(), before, "no record decoded");
    let expected: Vec<DateTime<Utc>> = (6..10).rev().map(|n| at(n).to_utc()).collect();
    assert_eq!(times, expected);
    let newest = store.source_items(&source("bode")).next().unwrap().unwrap();
    assert_eq!(times[0], newest.sort_time());
}

/// A store written by an earlier wardfeed (on sled) moves to the new engine at its first
/// opening: every record, under its seals and manifest, and the old files are kept aside; a
/// second opening does not move it again, and new story ids go past the moved ones.
#[test]
fn a_sled_store_of_an_earlier_wardfeed_moves_over_whole_at_its_first_opening() {
    let (model_dir, model) = open();
    model
        .ingest(
            &source("bode"),
            &[
                item("bode", "a", "Khánh thành cầu", 0),
                item("bode", "b", "Họp dân phố", 1),
            ],
            at(100),
        )
        .unwrap();
    model
        .ingest(
            &source("giang"),
            &[item("giang", "a", "Khánh thành cầu", 0)],
            at(101),
        )
        .unwrap();
    let before: Vec<StoredItem> = model.items().collect::<Result<_, _>>().unwrap();
    // The same trees and records, as the earlier wardfeed kept them in sled.
    let old_dir = tempfile::tempdir().unwrap();
    {
        let h = model.handles().unwrap();
        let old = sled::open(old_dir.path()).unwrap();
        for name in h.db.tree_names().unwrap() {
            let tree = old.open_tree(&name).unwrap();
            for entry in h.db.open_tree(&name).unwrap().iter() {
                let (key, value) = entry.unwrap();
                tree.insert(key, value).unwrap();
            }
        }
        old.flush().unwrap();
    }
    std::fs::copy(
        integrity::manifest_path(model_dir.path()),
        integrity::manifest_path(old_dir.path()),
    )
    .unwrap();
    assert!(holds_a_store(old_dir.path()));

    let moved = Store::open(old_dir.path()).unwrap();
    let after: Vec<StoredItem> = moved.items().collect::<Result<_, _>>().unwrap();
    assert_eq!(after, before);
    assert_eq!(moved.verify().unwrap().problems, Vec::<String>::new());
    assert!(old_dir.path().join("sled-0.34").join("db").exists());
    assert!(!old_dir.path().join("db").exists());
    let crossposted = moved.stories(|_| true).next().unwrap().unwrap();
    moved
        .ingest(
            &source("giang"),
            &[item("giang", "c", "Tin mới", 2)],
            at(102),
        )
        .unwrap();
    let newest = moved.stories(|_| true).next().unwrap().unwrap();
    assert_ne!(newest.id, 0);
    assert!(
        moved
            .stories(|_| true)
            .filter(|s| s.as_ref().unwrap().id == newest.id)
            .count()
            == 1,
        "a new story took a moved story's id (cross-post story {})",
        crossposted.id
    );
    drop(moved);
    let again = Store::open(old_dir.path()).unwrap();
    assert_eq!(again.len(), 4);
}

/// A new store's search index is written with its items from the first ingest: its first
/// search does not build it again.
#[test]
fn a_new_store_does_not_rebuild_its_search_index_at_its_first_search() {
    let (_dir, store) = open();
    let h = store.handles().unwrap();
    assert!(h.meta.get(search::BUILT_KEY).unwrap().is_some());
    store
        .ingest(
            &source("bode"),
            &[item("bode", "a", "Khánh thành cầu", 0)],
            at(100),
        )
        .unwrap();
    let filter_before = h.search.iter().next().unwrap().unwrap();
    let before = store.decoded_items();
    assert_eq!(store.search(&query("cầu")).unwrap().count(), 1);
    assert_eq!(
        store.decoded_items() - before,
        1,
        "only the match was decoded"
    );
    assert_eq!(h.search.iter().next().unwrap().unwrap(), filter_before);
}
