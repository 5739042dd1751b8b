//! Golden rendered feeds: a small fixed ledger (`tests/golden/ledger.json`, configured by
//! `tests/golden/config.toml`) served by the real server, each document compared byte for byte
//! with the file checked in beside it. A change in output shows as a diff of those files.
//!
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites them; review the diff before committing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use wardfeed::clock::ManualClock;
use wardfeed::model::Item;
use wardfeed::serve::{self, AppState};
use wardfeed::store::Store;

/// Every document the golden ledger is rendered to, by request path and file name.
const DOCUMENTS: &[(&str, &str)] = &[
    ("/feeds/all.rss", "all.rss"),
    ("/feeds/all.atom", "all.atom"),
    ("/feeds/all.json", "all.json"),
    ("/feeds/phucloi.rss", "phucloi.rss"),
    (
        "/feeds/longbien/tin-tuc-su-kien.atom",
        "longbien-tin-tuc-su-kien.atom",
    ),
    ("/feeds/group/longbien.json", "group-longbien.json"),
    ("/opml", "feeds.opml"),
    ("/residents.opml", "residents.opml"),
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The moment the golden world is served at: ages and OPML dates depend on it.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2023-02-07T08:00:00+07:00")
        .unwrap()
        .to_utc()
}

#[tokio::test]
async fn rendered_feeds_match_the_golden_files() {
    let dir = golden_dir();
    let config = wardfeed::config::load(
        &dir.join("config.toml"),
        &|_| None,
        wardfeed::extract::check_rules,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let items: Vec<Item> =
        serde_json::from_slice(&std::fs::read(dir.join("ledger.json")).unwrap()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(scratch.path()).unwrap());
    for source in &config.sources {
        let own: Vec<Item> = items
            .iter()
            .filter(|item| item.source == source.id)
            .cloned()
            .collect();
        store
            .ingest(&source.id, &own, now().fixed_offset())
            .unwrap();
    }
    let state = Arc::new(AppState::new(
        Arc::new(config),
        store,
        "https://tin.example.vn".to_owned(),
        Arc::new(ManualClock::new(now())),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::run(listener, state, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut differ = Vec::new();
    for (path, file) in DOCUMENTS {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body = response.bytes().await.unwrap();
        let golden = dir.join(file);
        if update {
            std::fs::write(&golden, &body).unwrap();
            continue;
        }
        let expected = std::fs::read(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", golden.display()));
        if expected != body {
            differ.push(format!(
                "{path} differs from tests/golden/{file}:\n--- expected\n{}\n--- served\n{}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&body)
            ));
        }
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert!(
        differ.is_empty(),
        "{}\n(if the change is intended: UPDATE_GOLDEN=1 cargo test --test golden, then review the diff)",
        differ.join("\n")
    );
}
