//! `wardfeed backfill` (issue 14): a listing's whole archive taken past `max_pages`, a page at
//! a time. Killed midway (SIGKILL after some listing pages, counted by the fixture server) and
//! run again, it goes on from its checkpoint and leaves the same ledger as a run never
//! interrupted; every pagination kind (next links, JSON offsets, form posts) is walked whole.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::TruthItem;
use wardfeed::config::{self, Config};
use wardfeed::fetch::Crawler;
use wardfeed::model::SourceId;
use wardfeed::store::Store;
use wardfeed_portal::{PortalServer, Snapshot};

const PAGES: usize = 12;
const PER_PAGE: usize = 5;

/// A ward portal whose "Tin tức" listing has `PAGES` pages of `PER_PAGE` dated items, a month
/// apart page after page (newest first), linked by "Trang sau".
fn archive_site() -> Snapshot {
    let mut routes = Vec::new();
    let mut files: Vec<(String, Bytes)> = Vec::new();
    for page in 1..=PAGES {
        let mut html = String::from(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Tin tức</title></head><body><div class=\"news-list\">",
        );
        for n in 0..PER_PAGE {
            let id = (page - 1) * PER_PAGE + n;
            // Page 1 is 2024-12, page 12 is 2024-01: a year of archive.
            let month = 13 - page;
            let day = 25 - n;
            html.push_str(&format!(
                "<div class=\"news-item\"><h3 class=\"news-title\"><a href=\"tin/bai-{id}.html\">Thông báo số {id} của phường</a></h3>\
                 <div class=\"news-meta\">Ngày đăng {day:02}/{month:02}/2024 | 08:{n:02}</div><p class=\"news-sapo\">Tóm tắt {id}.</p></div>"
            ));
        }
        html.push_str("</div>");
        if page < PAGES {
            html.push_str(&format!(
                "<ul class=\"pagination\"><li><a href=\"tin?page={}\">Trang sau</a></li></ul>",
                page + 1
            ));
        }
        html.push_str("</body></html>");
        let path = if page == 1 {
            "/tin".to_owned()
        } else {
            format!("/tin?page={page}")
        };
        let file = format!("pages/tin-p{page}.html");
        routes.push(serde_json::json!({
            "path": path, "file": file, "status": 200,
            "content_type": "text/html; charset=utf-8", "delay_ms": 0,
            "etag": null, "last_modified": null, "headers": {}
        }));
        files.push((format!("ward/{file}"), Bytes::from(html)));
    }
    files.push((
        "ward/routes.json".to_owned(),
        Bytes::from(serde_json::to_vec(&routes).unwrap()),
    ));
    Snapshot::from_files(files).unwrap()
}

fn write_config(dir: &Path, base: &str, store: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"
[defaults]
min_host_interval_ms = 150
retries = 0

[store]
path = "{store}"

[sources.ward]
name = "Phường Lưu Trữ"
group = "test"
base = "{base}"
fetch_articles = false
max_pages = 2

[sources.ward.listing]
list = "div.news-list"
item = "div.news-item"
title = "h3.news-title > a"
link = {{ selector = "h3.news-title > a", attr = "href" }}
date = {{ selector = "div.news-meta", regex = 'Ngày đăng\s*(\d{{1,2}}/\d{{1,2}}/\d{{4}}\s*\|\s*\d{{1,2}}:\d{{2}})' }}
summary = "p.news-sapo"
next_page = {{ selector = "ul.pagination li a", text = "Trang sau" }}

[[sources.ward.categories]]
slug = "tin"
label = "Tin tức"
listing = "/tin"
"#,
        store = store.display()
    );
    let path = dir.join("wardfeed.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every stored item: key → (published, url, title, categories).
fn ledger(store: &Path) -> BTreeMap<String, String> {
    let store = Store::open(store).unwrap();
    store
        .items()
        .map(|stored| {
            let stored = stored.unwrap();
            (
                format!("{:?}", stored.key),
                format!(
                    "{:?} {} {} {:?}",
                    stored.item.published,
                    stored.item.url,
                    stored.item.title,
                    stored.item.categories
                ),
            )
        })
        .collect()
}

fn backfill(config: &Path, store: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wardfeed"));
    command
        .args(["backfill", "--source", "ward", "--category", "tin", "-c"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .env("RUST_LOG", "warn");
    command
}

/// Listing pages the server answered since its stats were reset.
fn listing_requests(server: &PortalServer) -> Vec<String> {
    server
        .request_log()
        .into_iter()
        .filter(|r| {
            r.site == "ward" && r.target.starts_with("/tin") && !r.target.starts_with("/tin/")
        })
        .map(|r| r.target)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_midway_and_run_again_stores_what_an_uninterrupted_one_does() {
    let server = PortalServer::start(archive_site()).await.unwrap();
    let base = server.site_base("ward");
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let cut = dir.path().join("cut");
    let config = write_config(dir.path(), &base, &whole);
    // A backfill adds to a store the daemon made (it never makes one): empty ones stand in.
    for store in [&whole, &cut] {
        drop(Store::open(store).unwrap());
    }

    // Uninterrupted.
    let output = backfill(&config, &whole).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(said.contains(&format!("{PAGES} pages")), "{said}");
    assert_eq!(listing_requests(&server).len(), PAGES, "past max_pages = 2");
    let expected = ledger(&whole);
    assert_eq!(expected.len(), PAGES * PER_PAGE);

    // Killed after a few listing pages.
    server.reset_stats();
    let mut child = backfill(&config, &cut).spawn().unwrap();
    let mut polls = 0;
    while listing_requests(&server).len() < 5 {
        polls += 1;
        assert!(polls < 600, "the backfill never got to its fifth page");
        assert!(
            child.try_wait().unwrap().is_none(),
            "it ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let walked_before_kill = listing_requests(&server).len();
    assert!(walked_before_kill < PAGES);
    let partial = ledger(&cut);
    assert!(
        partial.len() < expected.len(),
        "the kill came after the end ({} items)",
        partial.len()
    );

    // Run again: it goes on from its checkpoint, not from page 1.
    server.reset_stats();
    let output = backfill(&config, &cut).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        said.contains("went on from where an earlier run stopped"),
        "{said}"
    );
    let again = listing_requests(&server);
    assert!(
        !again.contains(&"/tin".to_owned()),
        "the second run began at page 1 again: {again:?}"
    );
    assert!(again.len() < PAGES, "{again:?}");
    assert_eq!(
        ledger(&cut),
        expected,
        "the resumed backfill's ledger differs"
    );

    // Done: a third run has no checkpoint left and starts from the top, adding nothing.
    let output = backfill(&config, &cut).output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!said.contains("went on from"), "{said}");
    assert!(said.contains(", 0 new"), "{said}");
    assert_eq!(ledger(&cut), expected);
}

/// `--since`: the walk stops at the first listing page whose dated items are all older, keeps
/// none older than the date, and says how many it left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_since_a_date_stops_at_the_first_page_older_than_it() {
    let server = PortalServer::start(archive_site()).await.unwrap();
    let base = server.site_base("ward");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let config = write_config(dir.path(), &base, &store);
    drop(Store::open(&store).unwrap());

    // Page 6 is July 2024, page 7 June: every item of page 7 is older than 1 July.
    let output = backfill(&config, &store)
        .args(["--since", "2024-07-01"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(said.contains("7 pages"), "{said}");
    assert!(
        said.contains(&format!("{PER_PAGE} older than --since left out")),
        "{said}"
    );
    assert_eq!(
        listing_requests(&server).len(),
        7,
        "walked past the first page older than --since"
    );
    let kept = ledger(&store);
    assert_eq!(kept.len(), 6 * PER_PAGE);
    for (key, item) in &kept {
        // "Some(2024-MM-DDT…" first: the item's date.
        let month: u32 = item.get(10..12).and_then(|m| m.parse().ok()).unwrap_or(0);
        assert!(
            item.starts_with("Some(2024-") && month >= 7,
            "{key}: {item}"
        );
    }

    // Not a date: said, and nothing fetched.
    server.reset_stats();
    let output = backfill(&config, &store)
        .args(["--since", "last summer"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(said.contains("--since: not a date"), "{said}");
    assert!(listing_requests(&server).is_empty());
}

/// The JSON-endpoint (offset paging) and form-post (ASP.NET postback) fixture sites, walked
/// one page per refresh (`max_pages = 1`): a refresh sees their first page, a backfill the
/// whole listing, every item of their truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pagination_kind_is_walked_to_its_end() {
    let kinds = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kinds");
    let server = PortalServer::start(Snapshot::load_dir(&kinds.join("sites")).unwrap())
        .await
        .unwrap();
    let base = server.base_url();
    let mut config: Config = config::load(
        &kinds.join("wardfeed.toml"),
        &move |name| (name == "FIXTURES_BASE").then(|| base.clone()),
        wardfeed::extract::check_rules,
    )
    .unwrap();
    config.sources = config
        .sources
        .iter()
        .map(|s| {
            let mut s = (**s).clone();
            s.max_pages = 1;
            Arc::new(s)
        })
        .collect();
    let crawler = Crawler::new(&config.fetch).unwrap();
    for site in ["jsonward", "formward"] {
        let truth: Vec<TruthItem> = serde_json::from_slice(
            &std::fs::read(kinds.join(format!("expected/{site}.json"))).unwrap(),
        )
        .unwrap();
        let source = config.source(site).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        wardfeed::pipeline::refresh(&crawler, &store, source, common::now())
            .await
            .unwrap();
        let id = SourceId::parse(site).unwrap();
        let first_pages = store.source_len(&id);
        assert!(
            first_pages < truth.len(),
            "{site}: one page already holds everything ({first_pages})"
        );
        let mut pages = 0;
        for category in &source.categories {
            let report = wardfeed::pipeline::backfill(
                &crawler,
                &store,
                source,
                &category.slug,
                None,
                common::now(),
                &mut |_| {},
            )
            .await
            .unwrap();
            pages += report.pages;
        }
        assert!(pages > source.categories.len(), "{site}: {pages} pages");
        assert_eq!(
            store.source_len(&id),
            truth.len(),
            "{site}: the backfill did not take the whole listing"
        );
    }
}
