//! The ledger over the fixture world: snapshot 1 then snapshot 2 must change exactly what
//! `expected/s2/changes.json` says, the combined view must equal `combined.json`, and
//! re-scraping an unchanged snapshot must change nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use common::*;
use serde::Deserialize;
use wardfeed::config::Config;
use wardfeed::fetch::Crawler;
use wardfeed::model::ItemKey;
use wardfeed::pipeline::{self, Refresh};
use wardfeed::store::{Store, Story};
use wardfeed_portal::PortalServer;

#[derive(Debug, Deserialize)]
struct SiteChanges {
    new: Vec<String>,
    title_changed: Vec<TitleChange>,
    deleted: Vec<String>,
    views_changed_only: Vec<String>,
    other_changed: Vec<OtherChange>,
}

#[derive(Debug, Deserialize)]
struct TitleChange {
    url_path: String,
    old: String,
    new: String,
}

#[derive(Debug, Deserialize)]
struct OtherChange {
    url_path: String,
}

fn snapshot_time(snapshot: &str) -> DateTime<FixedOffset> {
    match snapshot {
        "s1" => DateTime::parse_from_rfc3339("2023-02-06T08:00:00+07:00").unwrap(),
        _ => DateTime::parse_from_rfc3339("2023-03-06T08:00:00+07:00").unwrap(),
    }
}

async fn refresh_all(
    config: &Config,
    store: &Arc<Store>,
    now: DateTime<FixedOffset>,
) -> BTreeMap<String, Refresh> {
    let crawler = Crawler::new(&config.fetch).unwrap();
    let refreshes = futures_util::future::join_all(
        config
            .sources
            .iter()
            .map(|source| pipeline::refresh(&crawler, store, source, now)),
    )
    .await;
    refreshes
        .into_iter()
        .map(|r| {
            let refresh = r.expect("refresh");
            (refresh.scrape.source.to_string(), refresh)
        })
        .collect()
}

fn paths(server: &PortalServer, store: &Store, site: &str, keys: &[ItemKey]) -> BTreeSet<String> {
    keys.iter()
        .map(|key| {
            url_path(
                server,
                site,
                &store
                    .item(key)
                    .unwrap()
                    .expect("reported item is stored")
                    .item
                    .url,
            )
        })
        .collect()
}

/// A story's items as (site, url_path), in the story's order.
fn members<'a>(
    server: &'a PortalServer,
    story: &'a Story,
) -> impl Iterator<Item = (String, String)> + 'a {
    story.items.iter().map(|i| {
        let site = i.item.source.to_string();
        let path = url_path(server, &site, &i.item.url);
        (site, path)
    })
}

/// A combined-view row: (title, published, [(site, url_path)]), like combined.json.
type StoryRow = (String, String, Vec<(String, String)>);

fn combined(server: &PortalServer, store: &Store) -> Vec<StoryRow> {
    store
        .stories(|_| true)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .iter()
        .map(|story| {
            (
                story.title().to_owned(),
                story.published().to_rfc3339(),
                members(server, story).collect(),
            )
        })
        .collect()
}

/// Each story's id (the combined feed's entry id) by its items, as (site, url_path).
fn story_ids(server: &PortalServer, store: &Store) -> BTreeMap<BTreeSet<(String, String)>, u64> {
    store
        .stories(|_| true)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .iter()
        .map(|story| (members(server, story).collect(), story.id))
        .collect()
}

fn combined_expected(snapshot: &str) -> Vec<StoryRow> {
    combined_truth(snapshot)
        .into_iter()
        .map(|s| {
            (
                s.title,
                s.published,
                s.sources
                    .into_iter()
                    .map(|x| (x.site, x.url_path))
                    .collect(),
            )
        })
        .collect()
}

fn assert_same_rows<T: std::fmt::Debug + PartialEq>(what: &str, got: &[T], want: &[T]) {
    let missing: Vec<&T> = want.iter().filter(|w| !got.contains(w)).collect();
    let extra: Vec<&T> = got.iter().filter(|g| !want.contains(g)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:#?}\nextra {extra:#?}"
    );
    assert_eq!(got, want, "{what}: same rows, different order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_1_then_2_changes_exactly_what_the_truth_says() {
    let server = serve("s1").await;
    let config = fixture_config(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());

    let first = refresh_all(&config, &store, snapshot_time("s1")).await;
    for site in SITES {
        let want: BTreeSet<String> = truth("s1", site).into_iter().map(|t| t.url_path).collect();
        assert_eq!(
            paths(&server, &store, site, &first[*site].ingest.new),
            want,
            "{site}: s1 items"
        );
    }
    assert_same_rows(
        "s1 combined",
        &combined(&server, &store),
        &combined_expected("s1"),
    );

    let s1_story_ids = story_ids(&server, &store);

    server.switch(snapshot("s2"));
    let second = refresh_all(&config, &store, snapshot_time("s2")).await;
    let changes: BTreeMap<String, SiteChanges> = serde_json::from_slice(
        &std::fs::read(fixtures_dir().join("expected/s2/changes.json")).unwrap(),
    )
    .unwrap();
    for site in SITES {
        let expected = &changes[*site];
        let report = &second[*site].ingest;
        let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
        assert_eq!(
            paths(&server, &store, site, &report.new),
            set(&expected.new),
            "{site}: new"
        );
        let retitled: BTreeSet<String> = expected
            .title_changed
            .iter()
            .map(|c| c.url_path.clone())
            .collect();
        assert_eq!(
            paths(&server, &store, site, &report.updated),
            retitled,
            "{site}: updated = retitled"
        );
        assert_eq!(
            paths(&server, &store, site, &report.views_only),
            set(&expected.views_changed_only),
            "{site}: views changed only"
        );
        let other: BTreeSet<String> = expected
            .other_changed
            .iter()
            .map(|c| c.url_path.clone())
            .collect();
        assert_eq!(
            paths(&server, &store, site, &report.quiet),
            other,
            "{site}: other changes"
        );

        let stored: BTreeMap<String, _> = store
            .source_items(&wardfeed::model::SourceId::parse(site).unwrap())
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .into_iter()
            .map(|s| (url_path(&server, site, &s.item.url), s))
            .collect();
        for change in &expected.title_changed {
            let item = &stored[&change.url_path];
            assert_eq!(item.item.title, change.new);
            assert_ne!(item.item.title, change.old);
            assert_eq!(
                item.updated,
                Some(snapshot_time("s2")),
                "a real update is dated"
            );
            assert_eq!(
                item.first_seen,
                snapshot_time("s1"),
                "first_seen never moves"
            );
        }
        for path in &expected.views_changed_only {
            assert_eq!(
                stored[path].updated, None,
                "{site} {path}: a view count is not an update"
            );
        }
        for path in &expected.deleted {
            assert!(
                stored.contains_key(path),
                "{site}: {path} left the listing but must stay in the ledger"
            );
        }
        let s2: BTreeSet<String> = truth("s2", site).into_iter().map(|t| t.url_path).collect();
        let s1: BTreeSet<String> = truth("s1", site).into_iter().map(|t| t.url_path).collect();
        assert_eq!(
            stored.keys().cloned().collect::<BTreeSet<_>>(),
            &s1 | &s2,
            "{site}: ledger = s1 ∪ s2"
        );
    }
    // The ledger's combined view is snapshot 2's, plus the stories that left every listing
    // (kept, as snapshot 1 showed them).
    let deleted: BTreeSet<(String, String)> = changes
        .iter()
        .flat_map(|(site, c)| c.deleted.iter().map(move |p| (site.clone(), p.clone())))
        .collect();
    assert!(!deleted.is_empty());
    let mut expected = combined_expected("s2");
    expected.extend(
        combined_expected("s1")
            .into_iter()
            .filter(|(_, _, sources)| sources.iter().all(|s| deleted.contains(s))),
    );
    expected.sort_by(|a, b| b.1.cmp(&a.1));
    assert_same_rows(
        "s2 combined (ledger)",
        &combined(&server, &store),
        &expected,
    );

    // A story whose items are the same in both snapshots is the same combined-feed entry,
    // retitled ones included.
    let s2_story_ids = story_ids(&server, &store);
    let retitled: BTreeSet<(String, String)> = changes
        .iter()
        .flat_map(|(site, c)| {
            c.title_changed
                .iter()
                .map(move |t| (site.clone(), t.url_path.clone()))
        })
        .collect();
    let mut kept = 0;
    let mut retitled_kept = 0;
    for (members, id) in &s1_story_ids {
        if let Some(id_now) = s2_story_ids.get(members) {
            assert_eq!(id_now, id, "the story of {members:?} changed its id");
            kept += 1;
            retitled_kept += usize::from(members.iter().any(|m| retitled.contains(m)));
        }
    }
    assert!(
        kept > 0 && retitled_kept > 0,
        "{kept} kept, {retitled_kept} retitled"
    );

    // The same snapshot again: nothing changes, nothing is written.
    let sizes: Vec<usize> = SITES.iter().map(|_| store.len()).collect();
    let third = refresh_all(
        &config,
        &store,
        snapshot_time("s2") + chrono::Duration::hours(1),
    )
    .await;
    for site in SITES {
        let report = &third[*site].ingest;
        assert!(!report.changed(), "{site}: a re-scrape changed {report:?}");
    }
    assert_eq!(sizes, SITES.iter().map(|_| store.len()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_ledger_of_snapshot_2_is_its_combined_truth() {
    let server = serve("s2").await;
    let config = fixture_config(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&config, &store, snapshot_time("s2")).await;
    assert_same_rows(
        "s2 combined",
        &combined(&server, &store),
        &combined_expected("s2"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_article_that_turns_404_keeps_its_item_and_body() {
    let server = serve("s1").await;
    let config = fixture_config(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let bode = Arc::clone(config.source("bode").unwrap());
    let crawler = Crawler::new(&config.fetch).unwrap();
    pipeline::refresh(&crawler, &store, &bode, snapshot_time("s1"))
        .await
        .unwrap();
    server.switch(snapshot("s2"));
    pipeline::refresh(&crawler, &store, &bode, snapshot_time("s2"))
        .await
        .unwrap();

    let gone = "/tin-tuc/chi-tiet/phuong-bo-de-to-chuc-lien-hoan-van-nghe-quan-chung-chao-mung-ky-niem-73-nam-724.html";
    let items = store
        .source_items(&bode.id)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let item = items
        .iter()
        .find(|i| url_path(&server, "bode", &i.item.url) == gone)
        .unwrap();
    assert_eq!(item.item.article_status, Some(404));
    let s1 = truth("s1", "bode")
        .into_iter()
        .find(|t| t.url_path == gone)
        .unwrap();
    let body = wardfeed::extract::html_text(item.item.content_html.as_deref().unwrap());
    assert!(
        s1.body_contains.iter().all(|s| body.contains(s.as_str())),
        "the stored body survived the 404"
    );
    assert_eq!(item.updated, None);
}
