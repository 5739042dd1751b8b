//! A portal that moves (issue 14, portal moves): the fixture world served again on a new port
//! is the same site when each source lists its old address in `previous_bases` — the same
//! items under the same keys, first_seen kept, links on the new address, feed ids unchanged,
//! and a warning saying how many items moved. Without `previous_bases` the same move doubles
//! the ledger, which is what the key exists to prevent.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Duration;
use common::*;
use url::Url;
use wardfeed::config::Config;
use wardfeed::store::Store;

/// Every stored item: key (as Debug text) → (first_seen, url).
fn ledger(store: &Store) -> BTreeMap<String, (String, String)> {
    store
        .items()
        .map(|stored| {
            let stored = stored.unwrap();
            (
                format!("{:?}", stored.key),
                (stored.first_seen.to_rfc3339(), stored.item.url.clone()),
            )
        })
        .collect()
}

/// The combined JSON Feed's entry ids, as a reader keys them.
async fn feed_ids(config: &Config, store: &Arc<Store>) -> BTreeSet<String> {
    let app = App::start(config.clone(), Arc::clone(store), snapshot_time("s1")).await;
    let body = get_text(&http_client(), &app.url("/feeds/all.json")).await;
    app.stop().await;
    let feed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ids: BTreeSet<String> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.is_empty(), "the combined feed is empty");
    ids
}

/// `config` with each source's old base (from `before`) listed in `previous_bases`.
fn moved(mut config: Config, before: &Config) -> Config {
    config.sources = config
        .sources
        .iter()
        .map(|source| {
            let old = before.source(source.id.as_str()).unwrap();
            let mut source = (**source).clone();
            source.previous_bases = vec![Url::parse(old.base.as_str()).unwrap()];
            Arc::new(source)
        })
        .collect();
    config
}

#[tokio::test]
async fn a_portal_on_a_new_address_keeps_its_items() {
    let first = serve("s1").await;
    let before = fixture_config(&first);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&before, &store, snapshot_time("s1")).await;
    let held = ledger(&store);
    let ids = feed_ids(&before, &store).await;
    assert!(
        held.len() > 100,
        "the fixture world holds {} items",
        held.len()
    );
    drop(first);

    // The same world on another port: a new address for every source.
    let second = serve("s1").await;
    let old_base = before.sources[0].base.to_string();
    let after = moved(fixture_config(&second), &before);
    let new_base = after.sources[0].base.to_string();
    assert_ne!(old_base, new_base);
    refresh_all(&after, &store, snapshot_time("s1") + Duration::hours(1)).await;

    let now_held = ledger(&store);
    assert_eq!(
        now_held.len(),
        held.len(),
        "a move added or lost items: {} before, {} after",
        held.len(),
        now_held.len()
    );
    for (key, (first_seen, url)) in &held {
        let (seen_now, url_now) = now_held
            .get(key)
            .unwrap_or_else(|| panic!("{key} is gone after the move"));
        assert_eq!(seen_now, first_seen, "{key} lost its first_seen");
        let port = |u: &str| Url::parse(u).unwrap().port();
        assert_eq!(
            port(url_now),
            Url::parse(&new_base).unwrap().port(),
            "{key} still links {url_now} (was {url})"
        );
    }
    assert_eq!(feed_ids(&after, &store).await, ids, "feed ids changed");
    for source in &after.sources {
        let warnings = store.warnings(&source.id).unwrap();
        let old = before.source(source.id.as_str()).unwrap().base.to_string();
        if held.values().any(|(_, url)| url.starts_with(&old)) {
            assert!(
                warnings.iter().any(|w| w.field == "previous_bases"),
                "{}: no warning about the moved items in {warnings:#?}",
                source.id
            );
        }
    }
}

#[tokio::test]
async fn without_previous_bases_the_same_move_doubles_the_ledger() {
    let first = serve("s1").await;
    let before = fixture_config(&first);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&before, &store, snapshot_time("s1")).await;
    let held = ledger(&store).len();
    drop(first);

    let second = serve("s1").await;
    let after = fixture_config(&second);
    refresh_all(&after, &store, snapshot_time("s1") + Duration::hours(1)).await;
    assert!(
        ledger(&store).len() >= held * 2 - held / 10,
        "expected the unannounced move to look like new items ({held} → {})",
        ledger(&store).len()
    );
}
