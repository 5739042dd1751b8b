//! The identity rule against a store written by wardfeed 6c1744e, the last version with the rule
//! before issue 10 (`tests/data/identity/store-6c1744e`, made by `scripts/identity-store.sh`
//! from `tests/data/identity/world`). Read back and refreshed by this version, every item keeps
//! its key (no duplicate in any feed); the entries the old rule merged become items of their
//! own, one of them keeping the merged item's key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::DateTime;
use wardfeed::config::{self, Config};
use wardfeed::fetch::Crawler;
use wardfeed::model::{ItemKey, SourceId};
use wardfeed::pipeline;
use wardfeed::store::Store;
use wardfeed_portal::{PortalServer, Snapshot};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/identity")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn config(server: &PortalServer) -> Config {
    let base = server.base_url();
    config::load(
        &data().join("config.toml"),
        &move |name| (name == "IDENTITY_BASE").then(|| base.clone()),
        wardfeed::extract::check_rules,
    )
    .unwrap()
}

/// Every item of the store: key → (title, URL).
fn items(store: &Store) -> BTreeMap<ItemKey, (String, String)> {
    store
        .items()
        .map(|stored| stored.unwrap())
        .map(|stored| (stored.key, (stored.item.title, stored.item.url)))
        .collect()
}

#[tokio::test]
async fn a_store_written_before_issue_10_reads_back_with_the_same_ids() {
    let server = PortalServer::start(Snapshot::load_dir(&data().join("world")).unwrap())
        .await
        .unwrap();
    let config = config(&server);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&data().join("store-6c1744e"), dir.path());
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let before = items(&store);
    // What 6c1744e stored: three diary entries as one item, three notices on the portal's
    // home page as one, two listing entries on one page as one; a comments page and a self
    // link taken for articles; guid permalinks stored without a link.
    assert_eq!(before.len(), 13);
    let source = SourceId::parse("demo").unwrap();
    let held = |url: &str| ItemKey::derive(&source, url);
    assert_eq!(
        before[&held("http://phuongdemo.example.vn/diary/?200601a")].0,
        "Nhật ký ngày 3"
    );

    let crawler = Crawler::new(&config.fetch).unwrap();
    let now = DateTime::parse_from_rfc3339("2023-03-01T08:00:00+07:00").unwrap();
    let refresh = pipeline::refresh(&crawler, &store, &config.sources[0], now)
        .await
        .unwrap();
    assert!(
        refresh.scrape.failures.is_empty(),
        "{:?}",
        refresh.scrape.failures
    );
    let after = items(&store);

    // Every item stored before keeps its key, title and URL: nothing is duplicated.
    for (key, (title, url)) in &before {
        let kept = after
            .get(key)
            .unwrap_or_else(|| panic!("{title} lost its key"));
        assert_eq!(&kept.0, title);
        if !url.is_empty() {
            assert_eq!(&kept.1, url, "{title}");
        }
    }
    // The merged entries are items of their own now: two more diary days, two more notices,
    // one more listing entry.
    let new: Vec<(&str, &str)> = after
        .iter()
        .filter(|(key, _)| !before.contains_key(key))
        .map(|(_, (title, url))| (title.as_str(), url.as_str()))
        .collect();
    let mut new_titles: Vec<&str> = new.iter().map(|(title, _)| *title).collect();
    new_titles.sort();
    assert_eq!(
        new_titles,
        [
            "Nhật ký ngày 1",
            "Nhật ký ngày 2",
            "Thông báo cắt điện",
            "Thông báo số 2",
            "Thông báo thu gom rác"
        ],
        "{new:?}"
    );
    assert!(new.contains(&(
        "Nhật ký ngày 2",
        "http://phuongdemo.example.vn/diary/?200601a#200601032"
    )));
    // A guid permalink stored without a link now has it, under the same key.
    let decision =
        &after[&ItemKey::derive(&source, "guid:http://phuongdemo.example.vn/van-ban/1.html")];
    assert_eq!(decision.1, "http://phuongdemo.example.vn/van-ban/1.html");

    // And the next refresh changes no identity either.
    let again = pipeline::refresh(&crawler, &store, &config.sources[0], now)
        .await
        .unwrap();
    assert!(again.ingest.new.is_empty(), "{:?}", again.ingest.new);
    assert_eq!(items(&store).len(), after.len());
}

#[tokio::test]
async fn a_fresh_store_keeps_distinct_entries_apart_with_distinct_feed_ids() {
    let server = PortalServer::start(Snapshot::load_dir(&data().join("world")).unwrap())
        .await
        .unwrap();
    let config = config(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let crawler = Crawler::new(&config.fetch).unwrap();
    let now = DateTime::parse_from_rfc3339("2023-03-01T08:00:00+07:00").unwrap();
    pipeline::refresh(&crawler, &store, &config.sources[0], now)
        .await
        .unwrap();
    let stored: Vec<_> = store.items().map(|s| s.unwrap()).collect();
    // 3 diary days, 3 notices, 2 questions, 2 decisions, 3 news, 2 events, 3 listed.
    assert_eq!(stored.len(), 18);
    let ids: std::collections::BTreeSet<String> = stored
        .iter()
        .map(|s| {
            s.key
                .entry_id(&s.item.source, &s.item.url)
                .map_or_else(|| format!("key:{}", s.key), str::to_owned)
        })
        .collect();
    assert_eq!(ids.len(), 18, "two entries share a feed id: {ids:#?}");
    let link = |title: &str| {
        stored
            .iter()
            .find(|s| s.item.title == title)
            .map(|s| s.item.url.as_str())
            .unwrap()
    };
    // The article, never the comments or the self link; a guid permalink is a link.
    assert_eq!(
        link("Hỏi về hộ khẩu"),
        "http://phuongdemo.example.vn/hoi-dap/1"
    );
    assert_eq!(link("Lễ hội xuân"), "");
    assert_eq!(
        link("Quyết định số 2"),
        "http://phuongdemo.example.vn/van-ban/2.html"
    );
    // A fragment alone on its URL is still dropped, as before.
    assert_eq!(
        link("Ra quân làm sạch môi trường"),
        "http://phuongdemo.example.vn/tin/ra-quan.html"
    );
}
