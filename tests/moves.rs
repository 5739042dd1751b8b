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

/// The URLs of a source's stored items.
fn stored_urls(store: &Store, source: &str) -> BTreeSet<String> {
    let id = wardfeed::model::SourceId::parse(source).unwrap();
    store
        .source_items(&id)
        .map(|stored| stored.unwrap().item.url)
        .collect()
}

/// Every article URL a JSON Feed names: its items' URLs and, for a story, its sources' URLs.
fn json_feed_urls(body: &str) -> (Vec<String>, BTreeSet<String>) {
    let feed: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut ids = Vec::new();
    let mut urls = BTreeSet::new();
    for item in feed["items"].as_array().unwrap() {
        ids.push(item["id"].as_str().unwrap().to_owned());
        urls.insert(item["url"].as_str().unwrap().to_owned());
        for source in item["_wardfeed"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
        {
            urls.insert(source["url"].as_str().unwrap().to_owned());
        }
    }
    (ids, urls)
}

/// Issue 14, mergers: a ward merged into another (`merged_into`) has its stored history in the
/// new ward's own feed and in the new ward's group feed, each item once; its own feed
/// addresses (source and category, every format, query kept) answer 301 to the new ward's feed;
/// `/status.json` says it is merged, not failing or quiet.
#[tokio::test]
async fn a_merged_wards_history_is_in_the_new_wards_feeds_and_its_addresses_redirect() {
    let server = serve("s1").await;
    let mut config = fixture_config(&server);
    config.server.feed_limit = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&config, &store, snapshot_time("s1")).await;
    let (old, new) = (config.sources[1].id.clone(), config.sources[0].id.clone());
    let old_urls = stored_urls(&store, old.as_str());
    let new_urls = stored_urls(&store, new.as_str());
    assert!(!old_urls.is_empty() && !new_urls.is_empty());

    // The old ward is merged into the new one, and sits in a group of its own.
    let new_group = config.sources[0].group.clone();
    config.sources = config
        .sources
        .iter()
        .map(|source| {
            let mut source = (**source).clone();
            if source.id == old {
                source.merged_into = Some(new.clone());
                source.group = "truoc-sap-nhap".into();
            }
            Arc::new(source)
        })
        .collect();
    let old_category = config.sources[1].categories[0].slug.clone();
    let app = App::start(config.clone(), Arc::clone(&store), snapshot_time("s1")).await;
    let client = http_client();

    let (ids, urls) =
        json_feed_urls(&get_text(&client, &app.url(&format!("/feeds/{new}.json"))).await);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "an entry twice in the new ward's feed"
    );
    assert_eq!(
        urls,
        old_urls.union(&new_urls).cloned().collect(),
        "the new ward's feed is not both wards' history"
    );
    let (ids, urls) = json_feed_urls(
        &get_text(&client, &app.url(&format!("/feeds/group/{new_group}.json"))).await,
    );
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an entry twice in the group feed");
    assert!(
        old_urls.is_subset(&urls),
        "the merged ward's items are missing from its new group's feed"
    );
    let (ids, _) = json_feed_urls(&get_text(&client, &app.url("/feeds/all.json")).await);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "an entry twice in the combined feed"
    );

    for (path, location) in [
        (format!("/feeds/{old}.rss"), format!("/feeds/{new}.rss")),
        (
            format!("/feeds/{old}.atom?limit=5"),
            format!("/feeds/{new}.atom?limit=5"),
        ),
        (
            format!("/feeds/{old}/{old_category}.json"),
            format!("/feeds/{new}.json"),
        ),
    ] {
        let response = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 301, "{path}");
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            location,
            "{path}"
        );
        // The address it points to answers.
        get_text(&client, &app.url(&location)).await;
    }

    let status: serde_json::Value =
        serde_json::from_str(&get_text(&client, &app.url("/status.json")).await).unwrap();
    let row = status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == old.as_str())
        .unwrap();
    assert_eq!(row["status"], "merged");
    assert_eq!(row["merged_into"], new.as_str());
    let dashboard = get_text(&client, &app.url("/")).await;
    assert!(
        dashboard.contains("badge-merged"),
        "the dashboard shows no merger"
    );
    app.stop().await;
}

/// The article URLs of each entry of a JSON Feed document (its own URL and, for a story, its
/// sources' URLs), with the entry's id and whether its body names the other sources.
fn json_entries(doc: &serde_json::Value) -> Vec<(String, BTreeSet<String>, bool)> {
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let mut urls = BTreeSet::from([item["url"].as_str().unwrap().to_owned()]);
            for source in item["_wardfeed"]["sources"]
                .as_array()
                .into_iter()
                .flatten()
            {
                urls.insert(source["url"].as_str().unwrap().to_owned());
            }
            let names_sources = item["content_html"]
                .as_str()
                .is_some_and(|html| html.contains("Cũng được đăng bởi"));
            (item["id"].as_str().unwrap().to_owned(), urls, names_sources)
        })
        .collect()
}

/// Issue 14, mergers: a story that wards now merged into one both posted (a cross-post between
/// the new ward and an old one, or between two old ones) is one entry of the new ward's own
/// feed, as in the combined feed: it keeps its earliest item's id and lists every ward that
/// posted it (`_wardfeed.sources`, and a line in its body). The same in its archive pages.
#[tokio::test]
async fn a_story_merged_wards_both_posted_is_one_entry_of_the_new_wards_feed() {
    let server = serve("s1").await;
    let mut config = fixture_config(&server);
    config.server.feed_limit = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&config, &store, snapshot_time("s1")).await;
    let truth = combined_truth("s1");
    let client = http_client();

    // longbien cross-posts phucloi's and phucdong's news (the fixture world's cross-posts).
    for (new, merged) in [
        // The new ward and an old one posted it.
        ("longbien", vec!["phucloi"]),
        // Two old wards posted it, neither is the new one.
        ("thachban", vec!["longbien", "phucdong"]),
    ] {
        let mut config = config.clone();
        config.sources = config
            .sources
            .iter()
            .map(|source| {
                let mut source = (**source).clone();
                if merged.contains(&source.id.as_str()) {
                    source.merged_into = Some(wardfeed::model::SourceId::parse(new).unwrap());
                }
                Arc::new(source)
            })
            .collect();
        let wards: Vec<&str> = merged.iter().copied().chain([new]).collect();
        // Each story of these wards, as the set of its articles' URLs.
        let expected: BTreeSet<BTreeSet<String>> = truth
            .iter()
            .map(|story| {
                story
                    .sources
                    .iter()
                    .filter(|s| wards.contains(&s.site.as_str()))
                    .map(|s| format!("{}{}", server.site_base(&s.site), s.url_path))
                    .collect::<BTreeSet<String>>()
            })
            .filter(|urls| !urls.is_empty())
            .collect();
        let cross_posts = expected.iter().filter(|urls| urls.len() > 1).count();
        assert!(
            cross_posts > 0,
            "{wards:?} share no story in the fixture world"
        );

        let app = App::start(config, Arc::clone(&store), snapshot_time("s1")).await;
        let mut next = Some(app.url(&format!("/feeds/{new}.json")));
        let mut current = true;
        let mut archived = Vec::new();
        while let Some(url) = next {
            let doc: serde_json::Value =
                serde_json::from_str(&get_text(&client, &url).await).unwrap();
            let entries = json_entries(&doc);
            if current {
                check_story_entries(&entries, &expected, &format!("{new}: current document"));
            } else {
                archived.extend(entries);
            }
            current = false;
            next = doc["next_url"].as_str().map(str::to_owned);
        }
        check_story_entries(&archived, &expected, &format!("{new}: archive pages"));
        // A search whose words are a cross-posted story's title finds it once, as the feed
        // shows it (both wards' copies match; each was an entry of its own before).
        let story = truth
            .iter()
            .find(|story| {
                story
                    .sources
                    .iter()
                    .filter(|s| wards.contains(&s.site.as_str()))
                    .count()
                    > 1
            })
            .unwrap();
        let urls: BTreeSet<String> = story
            .sources
            .iter()
            .filter(|s| wards.contains(&s.site.as_str()))
            .map(|s| format!("{}{}", server.site_base(&s.site), s.url_path))
            .collect();
        let query: String = url::form_urlencoded::byte_serialize(story.title.as_bytes()).collect();
        let doc: serde_json::Value = serde_json::from_str(
            &get_text(&client, &app.url(&format!("/feeds/{new}.json?q={query}"))).await,
        )
        .unwrap();
        let found = json_entries(&doc);
        let holding: Vec<_> = found
            .iter()
            .filter(|(_, shown, _)| !shown.is_disjoint(&urls))
            .collect();
        assert_eq!(
            holding.len(),
            1,
            "{new}: ?q= shows the story once: {found:?}"
        );
        assert_eq!(
            holding[0].1, urls,
            "{new}: ?q= names every ward that posted it"
        );
        app.stop().await;
    }
}

/// Each expected story is exactly one entry, whose id is one of its own articles' URLs and
/// which, when several wards posted it, names them.
fn check_story_entries(
    entries: &[(String, BTreeSet<String>, bool)],
    expected: &BTreeSet<BTreeSet<String>>,
    what: &str,
) {
    let shown: Vec<&BTreeSet<String>> = entries.iter().map(|(_, urls, _)| urls).collect();
    let once: BTreeSet<&BTreeSet<String>> = shown.iter().copied().collect();
    assert_eq!(shown.len(), once.len(), "{what}: a story twice");
    let missing: Vec<_> = expected.iter().filter(|s| !once.contains(s)).collect();
    let unexpected: Vec<_> = once.iter().filter(|s| !expected.contains(*s)).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{what}: not each story once with all its wards' articles; missing {missing:#?}, \
         shown instead {unexpected:#?}"
    );
    for (id, urls, names_sources) in entries {
        assert!(urls.contains(id), "{what}: {id} is not an article's URL");
        assert_eq!(
            *names_sources,
            urls.len() > 1,
            "{what}: {id} does not say who else posted it"
        );
    }
}
