//! RFC 5005 archived feeds (issue 14): from every feed's current document a reader pages back
//! along `prev-archive` (JSON Feed: `next_url`) to the first post, every stored entry on
//! exactly one archive page; each page links the current document and, back, the page it
//! came from (`next-archive`); closed months are served as immutable; the pages pass the judges.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::*;
use wardfeed::config::Config;
use wardfeed::store::Store;
use wardfeed_portal::PortalServer;

/// The fixture world refreshed from both snapshots, served with a small `feed_limit` (so the
/// current documents hold only the newest few) and with a large one (everything).
async fn world() -> (PortalServer, Config, Arc<Store>, tempfile::TempDir) {
    let portal = serve("s1").await;
    let config = fixture_config(&portal);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&config, &store, snapshot_time("s1")).await;
    (portal, config, store, dir)
}

/// `(rel → href)` of an Atom document's feed-level links, and its entry ids.
fn atom_links(body: &str) -> (BTreeMap<String, String>, Vec<String>, bool) {
    let doc = roxmltree::Document::parse(body).unwrap();
    let feed = doc.root_element();
    let links = feed
        .children()
        .filter(|n| n.has_tag_name("link"))
        .map(|n| {
            (
                n.attribute("rel").unwrap_or("alternate").to_owned(),
                n.attribute("href").unwrap().to_owned(),
            )
        })
        .collect();
    let ids = feed
        .children()
        .filter(|n| n.has_tag_name("entry"))
        .map(|entry| {
            entry
                .children()
                .find(|n| n.has_tag_name("id"))
                .unwrap()
                .text()
                .unwrap()
                .to_owned()
        })
        .collect();
    let archive = feed
        .children()
        .any(|n| n.has_tag_name(("http://purl.org/syndication/history/1.0", "archive")));
    (links, ids, archive)
}

/// Every entry id of a scope, from its current document with a limit past the store's size.
async fn every_id(config: &Config, store: &Arc<Store>, stem: &str) -> Vec<String> {
    let mut config = config.clone();
    config.server.feed_limit = 100_000;
    let app = App::start(config, Arc::clone(store), snapshot_time("s1")).await;
    let body = get_text(&http_client(), &app.url(&format!("/feeds/{stem}.atom"))).await;
    app.stop().await;
    atom_links(&body).1
}

#[tokio::test]
async fn a_reader_pages_back_from_every_feed_to_its_first_post() {
    let (_portal, config, store, _dir) = world().await;
    let mut small = config.clone();
    small.server.feed_limit = 3;
    let app = App::start(small, Arc::clone(&store), snapshot_time("s1")).await;
    let client = http_client();
    let source = config.sources[0].id.to_string();
    let category = format!("{source}/{}", config.sources[0].categories[0].slug);
    let group = format!("group/{}", config.sources[0].group);
    let mut pages_seen = 0;
    let mut judged = Vec::new();
    for stem in [source.as_str(), &category, &group, "all"] {
        let current_url = app.url(&format!("/feeds/{stem}.atom"));
        let (links, current_ids, archive) = atom_links(&get_text(&client, &current_url).await);
        assert!(
            !archive,
            "{stem}: the current document is marked as an archive"
        );
        assert!(current_ids.len() <= 3);
        let mut next = links.get("prev-archive").cloned();
        assert!(
            next.is_some(),
            "{stem}: no prev-archive on the current document"
        );
        let mut came_from: Option<String> = None;
        let mut seen: Vec<String> = Vec::new();
        while let Some(page) = next {
            let response = client.get(&page).send().await.unwrap();
            assert_eq!(response.status(), 200, "{page}");
            let cache = response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = response.text().await.unwrap();
            let (links, ids, archive) = atom_links(&body);
            assert!(archive, "{page}: no fh:archive");
            assert_eq!(links["self"], page);
            assert_eq!(links["current"], current_url, "{page}");
            assert_eq!(
                links.get("next-archive"),
                came_from.as_ref(),
                "{page}: next-archive is not the page it was reached from"
            );
            assert!(!ids.is_empty(), "{page} is empty");
            // The fixture world ends in early 2023: every month before January is closed.
            if page.contains("/archive/2022-") {
                assert!(cache.contains("immutable"), "{page}: {cache}");
            }
            seen.extend(ids);
            pages_seen += 1;
            if judged.len() < 6 {
                judged.push(page.replace(".atom", ".rss"));
                judged.push(page.clone());
                judged.push(page.replace(".atom", ".json"));
            }
            came_from = Some(page);
            next = links.get("prev-archive").cloned();
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{stem}: an entry on two archive pages"
        );
        let every = every_id(&config, &store, stem).await;
        assert_eq!(
            unique,
            every.iter().collect::<BTreeSet<_>>(),
            "{stem}: the archives are not the feed's whole history"
        );
    }
    eprintln!("{pages_seen} archive pages walked");
    assert!(
        pages_seen > 4,
        "only {pages_seen} archive pages in the fixture world"
    );

    // JSON Feed: next_url walks the same pages.
    let mut next = Some(app.url(&format!("/feeds/{source}.json")));
    let mut json_ids = Vec::new();
    let mut first = true;
    while let Some(url) = next {
        let doc: serde_json::Value = serde_json::from_str(&get_text(&client, &url).await).unwrap();
        if !first {
            json_ids.extend(
                doc["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].as_str().unwrap().to_owned()),
            );
        }
        first = false;
        next = doc["next_url"].as_str().map(str::to_owned);
    }
    let every = every_id(&config, &store, &source).await;
    assert_eq!(json_ids.len(), every.len());
    assert_eq!(
        json_ids.iter().collect::<BTreeSet<_>>(),
        every.iter().collect::<BTreeSet<_>>()
    );

    // Pages that do not exist are not found, and leave nothing behind.
    for path in [
        format!("/feeds/{source}/archive/1999-01.atom"),
        format!("/feeds/{source}/archive/2023-01-99.atom"),
        format!("/feeds/{source}/archive/2023-1.atom"),
        "/feeds/incidents/archive/2023-01.atom".to_owned(),
    ] {
        let response = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    if judges_wanted() {
        eprintln!("{}", judge_feeds(&judged, 1).await);
    }
    app.stop().await;
}
