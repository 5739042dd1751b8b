//! Feeds over HTTP against the fixture world: every feed of every source, category, group and
//! the combined one, in all three formats, served correctly and passing the external judges;
//! the combined feed equals the truth; HTTP caching semantics; search; hostile text.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use serde_json::Value;
use tokio::sync::OnceCell;
use wardfeed::store::Store;

/// One ledger for the whole file: snapshot 1 then snapshot 2 ingested, as a daemon running
/// through February 2023 would have it; served by an app on its own runtime thread.
struct World {
    portal_base: String,
    app_base: String,
    store_dir: std::path::PathBuf,
}

static WORLD: OnceCell<World> = OnceCell::const_new();

async fn world() -> &'static World {
    WORLD
        .get_or_init(|| async {
            // The servers must outlive every test's runtime: they run on a dedicated thread.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Runtime::new().unwrap();
                runtime.block_on(async move {
                    let portal = serve("s1").await;
                    let config = fixture_config(&portal);
                    // One fixed place per build: no leftovers pile up between runs.
                    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-world");
                    let _ = std::fs::remove_dir_all(&dir);
                    let store = Arc::new(Store::open(&dir).unwrap());
                    refresh_all(&config, &store, snapshot_time("s1")).await;
                    portal.switch(snapshot("s2"));
                    refresh_all(&config, &store, snapshot_time("s2")).await;
                    let app = App::start(config, store, snapshot_time("s2")).await;
                    tx.send(World {
                        portal_base: portal.base_url(),
                        app_base: app.base.clone(),
                        store_dir: dir,
                    })
                    .unwrap();
                    std::future::pending::<()>().await;
                    drop((portal, app));
                });
            });
            rx.recv().unwrap()
        })
        .await
}

async fn get_json(path: &str) -> Value {
    let body = get(path).await.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn url(world: &World, path: &str) -> String {
    format!("{}{path}", world.app_base)
}

async fn get(path: &str) -> reqwest::Response {
    let world = world().await;
    http_client().get(url(world, path)).send().await.unwrap()
}

fn config_for(world: &World) -> wardfeed::config::Config {
    let base = world.portal_base.clone();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fixtures.toml");
    wardfeed::config::load(
        &path,
        &move |name| (name == "FIXTURES_BASE").then(|| base.clone()),
        wardfeed::extract::check_rules,
    )
    .unwrap()
}

#[tokio::test]
async fn every_feed_is_served_with_its_media_type_and_well_formed() {
    let world = world().await;
    let config = config_for(world);
    let paths = feed_paths(&config);
    assert_eq!(paths.len(), (1 + 5 + 14 + 1) * 3);
    for (path, may_be_empty) in &paths {
        let response = get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.text().await.unwrap();
        let entries = if path.ends_with(".json") {
            assert_eq!(
                content_type, "application/feed+json; charset=utf-8",
                "{path}"
            );
            let doc: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(doc["feed_url"], url(world, path).as_str());
            doc["items"].as_array().unwrap().len()
        } else {
            let want = if path.ends_with(".rss") {
                "application/rss+xml; charset=utf-8"
            } else {
                "application/atom+xml; charset=utf-8"
            };
            assert_eq!(content_type, want, "{path}");
            let doc = roxmltree::Document::parse(&body)
                .unwrap_or_else(|e| panic!("{path}: not well-formed: {e}"));
            doc.descendants()
                .filter(|n| n.has_tag_name("item") || n.has_tag_name("entry"))
                .count()
        };
        assert!(*may_be_empty || entries > 0, "{path} has no entries");
    }
}

#[tokio::test]
async fn every_feed_passes_the_external_judges() {
    let world = world().await;
    if !judges_wanted() {
        return;
    }
    let config = config_for(world);
    let (empty, full): (Vec<_>, Vec<_>) = feed_paths(&config)
        .into_iter()
        .partition(|(_, empty)| *empty);
    for (group, min_entries) in [(full, 1), (empty, 0)] {
        let urls: Vec<String> = group.iter().map(|(path, _)| url(world, path)).collect();
        judge_feeds(&urls, min_entries).await;
    }
}

#[tokio::test]
async fn the_combined_feed_is_the_truths_stories() {
    let world = world().await;
    let doc: Value = get_json("/feeds/all.json").await;
    let items = doc["items"].as_array().unwrap();
    // The ledger holds snapshot 2 plus the one story that left every listing.
    let truth = combined_truth("s2");
    let deleted = "/tin-tuc/chi-tiet/trao-hoc-bong-nang-buoc-em-toi-truong-cho-hoc-sinh-co-hoan-canh-kho-khan-tai-749.html";
    let ours: Vec<&Value> = items
        .iter()
        .filter(|i| !i["url"].as_str().unwrap().ends_with(deleted))
        .collect();
    assert_eq!(ours.len(), truth.len());
    let config = config_for(world);
    for (item, story) in ours.iter().zip(&truth) {
        let first = &story.sources[0];
        // Each title names its (first) publisher, unless it already starts with its name.
        let publisher = &config.source(&first.site).unwrap().name;
        let title = item["title"].as_str().unwrap();
        if story
            .title
            .to_lowercase()
            .starts_with(&publisher.to_lowercase())
        {
            assert_eq!(title, story.title);
        } else {
            assert_eq!(title, format!("{publisher}: {}", story.title));
        }
        assert_eq!(item["date_published"], story.published.as_str());
        assert_eq!(
            item["url"],
            format!("{}/{}{}", world.portal_base, first.site, first.url_path).as_str()
        );
        let sources: Vec<(String, String)> = match item["_wardfeed"]["sources"].as_array() {
            Some(sources) => sources
                .iter()
                .map(|s| {
                    let site = s["id"].as_str().unwrap().to_owned();
                    let path = s["url"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches(&format!("{}/{site}", world.portal_base))
                        .to_owned();
                    (site, path)
                })
                .collect(),
            None => vec![(first.site.clone(), first.url_path.clone())],
        };
        let want: Vec<(String, String)> = story
            .sources
            .iter()
            .map(|s| (s.site.clone(), s.url_path.clone()))
            .collect();
        assert_eq!(sources, want, "{}", story.title);
        if want.len() > 1 {
            let html = item["content_html"].as_str().unwrap();
            assert!(
                html.contains("Cũng được đăng bởi"),
                "cross-posts name every source: {html:.200}"
            );
        }
    }
    // Atom names the provenance of merged stories.
    let atom = get("/feeds/all.atom").await.text().await.unwrap();
    let doc = roxmltree::Document::parse(&atom).unwrap();
    let with_source = doc
        .descendants()
        .filter(|n| n.has_tag_name("entry"))
        .filter(|e| e.children().any(|c| c.has_tag_name("source")))
        .count();
    assert_eq!(
        with_source,
        truth.iter().filter(|s| s.sources.len() > 1).count()
    );
}

#[tokio::test]
async fn conditional_requests_head_and_compression() {
    let world = world().await;
    let client = http_client();
    let feed = url(world, "/feeds/phucloi.atom");
    let first = client.get(&feed).send().await.unwrap();
    let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
    let modified = first.headers()[LAST_MODIFIED].to_str().unwrap().to_owned();
    let body = first.bytes().await.unwrap();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "a strong ETag: {etag}"
    );

    let again = client.get(&feed).send().await.unwrap();
    assert_eq!(
        again.headers()[ETAG].to_str().unwrap(),
        etag,
        "cached bytes, same tag"
    );
    let not_modified = client
        .get(&feed)
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert!(not_modified.bytes().await.unwrap().is_empty());
    let not_modified = client
        .get(&feed)
        .header(IF_MODIFIED_SINCE, &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);

    // HEAD over a raw socket: HTTP clients tidy HEAD answers, we want what was sent.
    let head = raw_request(&world.app_base, "HEAD /feeds/phucloi.atom HTTP/1.1").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");

    for (encoding, decode) in [
        (
            "gzip",
            (|b: &[u8]| {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(b), &mut out).unwrap();
                out
            }) as fn(&[u8]) -> Vec<u8>,
        ),
        ("br", |b: &[u8]| {
            let mut out = Vec::new();
            brotli::BrotliDecompress(&mut &b[..], &mut out).unwrap();
            out
        }),
    ] {
        let response = client
            .get(&feed)
            .header(ACCEPT_ENCODING, encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[CONTENT_ENCODING], encoding);
        let compressed = response.bytes().await.unwrap();
        assert!(
            compressed.len() < body.len() / 2,
            "{encoding}: {} of {}",
            compressed.len(),
            body.len()
        );
        assert_eq!(decode(&compressed), body, "{encoding}");
    }
    let cache_control = first_header(&client, &feed, "cache-control").await;
    let max_age: u64 = cache_control
        .trim_start_matches("public, max-age=")
        .parse()
        .unwrap();
    assert!(
        max_age <= 30 * 60,
        "no longer than the 30-minute schedule: {cache_control}"
    );
}

/// Sends one request line (with Host and Connection: close) and returns the whole answer.
async fn raw_request(base: &str, request_line: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("{request_line}\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    // The server may refuse and close before a huge request is fully written.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn first_header(client: &reqwest::Client, url: &str, name: &str) -> String {
    client.get(url).send().await.unwrap().headers()[name]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Prometheus asks for gzip: the exposition (megabytes at thousands of sources) comes
/// compressed, never cached, the same series as asked plainly.
#[tokio::test]
async fn metrics_come_compressed_to_scrapers_that_ask() {
    use std::io::Read;
    let world = world().await;
    let client = http_client();
    let metrics = url(world, "/metrics");
    // Once before, so the request counters exist in both scrapes.
    get_text(&client, &metrics).await;
    let plain = client.get(&metrics).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["cache-control"], "no-store");
    let plain = plain.text().await.unwrap();
    let gzipped = client
        .get(&metrics)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.status(), 200);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["cache-control"], "no-store");
    assert!(
        gzipped.headers().get("etag").is_none(),
        "no 304 for counters"
    );
    let bytes = gzipped.bytes().await.unwrap();
    assert!(
        bytes.len() < plain.len(),
        "{} of {}",
        bytes.len(),
        plain.len()
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    // The same series (the request counters moved between the two scrapes).
    let series = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("# HELP"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(series(&text), series(&plain));
    assert!(text.contains("wardfeed_store_up 1"), "{text}");
}

#[tokio::test]
async fn unknown_sources_categories_and_paths_are_404() {
    for path in [
        "/feeds/nowhere.rss",
        "/feeds/phucloi.xml",
        "/feeds/phucloi/no-such-category.atom",
        "/feeds/group/nogroup.json",
        "/feeds/incidents.rss",
        "/feeds/",
        "/feeds/phucloi",
        "/static/../Cargo.toml",
        "/feeds/..%2f..%2fCargo.toml",
        "/robots.txt",
    ] {
        assert_eq!(get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        get("/feeds/phucloi.rss?limit=zero").await.status(),
        StatusCode::BAD_REQUEST
    );
}

/// The dashboard's search page (issue 14): a form on the dashboard, results from the index
/// over title, summary and body, newest first, 20 a page with the next page linked; the same
/// results with and without marks; a word nowhere is said plainly.
#[tokio::test]
async fn the_search_page_finds_every_stored_item_a_page_at_a_time() {
    let dashboard = get("/").await.text().await.unwrap();
    assert!(
        dashboard.contains("/search\" method=\"get\""),
        "no search form"
    );
    let page = |html: &str| -> Vec<String> {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("ol.results li > a").unwrap();
        doc.select(&sel)
            .map(|a| a.value().attr("href").unwrap().to_owned())
            .collect()
    };
    let response = get("/search?q=phuong").await;
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.text().await.unwrap();
    let first_links = page(&first);
    assert_eq!(first_links.len(), 20, "{first}");
    assert!(first.contains("page=2"), "no next page");
    let marked = get("/search?q=PH%C6%AF%E1%BB%9CNG")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page(&marked), first_links);
    let second = page(&get("/search?q=phuong&page=2").await.text().await.unwrap());
    assert!(!second.is_empty());
    assert!(
        second.iter().all(|l| !first_links.contains(l)),
        "page 2 repeats page 1"
    );
    let none = get("/search?q=zzqqxx").await.text().await.unwrap();
    assert!(none.contains("Không có tin nào"), "{none}");
    assert_eq!(
        get("/search?page=0").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn search_ignores_diacritics_and_case() {
    let plain: Value = get_json("/feeds/all.json?q=phuc%20loi").await;
    let marked: Value = get_json("/feeds/all.json?q=PH%C3%9AC%20L%E1%BB%A2I").await;
    let titles = |doc: &Value| -> Vec<String> {
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = titles(&plain);
    assert!(found.len() >= 10, "{found:?}");
    assert_eq!(found, titles(&marked));
    // Every word is in the item's title, summary or body (the search index's words).
    for item in plain["items"].as_array().unwrap() {
        let text = format!(
            "{} {} {}",
            item["title"].as_str().unwrap(),
            item["summary"].as_str().unwrap_or(""),
            item["content_html"].as_str().unwrap_or("")
        );
        let words = wardfeed::store::search::words(&text);
        assert!(words.contains("phuc") && words.contains("loi"), "{text}");
    }
    let limited: Value = get_json("/feeds/all.json?q=phuc%20loi&limit=3").await;
    assert_eq!(titles(&limited), found[..3]);
    let since: Value = get_json("/feeds/phucloi.json?since=2023-01-01").await;
    for item in since["items"].as_array().unwrap() {
        assert!(
            item["date_published"].as_str().unwrap() >= "2023-01-01",
            "{item}"
        );
    }
}

#[tokio::test]
async fn hostile_text_yields_well_formed_feeds_with_nothing_executable() {
    for format in ["rss", "atom"] {
        let body = get(&format!("/feeds/phucloi.{format}"))
            .await
            .text()
            .await
            .unwrap();
        let doc = roxmltree::Document::parse(&body).unwrap();
        // Text nodes, and HTML ones (description, content) decoded once more.
        let text: String = doc
            .descendants()
            .filter_map(|n| n.text())
            .map(|t| format!("{t} {}", wardfeed::extract::html_text(t)))
            .collect();
        assert!(
            text.contains("]]>"),
            "{format}: the ]]> of the sapo survives as text"
        );
        assert!(
            text.contains("<script>"),
            "{format}: <script> as text survives as text"
        );
        assert!(text.contains('🌸'), "{format}: the emoji survives");
        assert!(!body.contains('\u{8}'), "{format}: U+0008 removed");
        // Decoded content is HTML; it must hold no script element, handler or javascript: URL.
        for node in doc
            .descendants()
            .filter(|n| n.has_tag_name("encoded") || n.has_tag_name("content"))
        {
            let html = scraper::Html::parse_fragment(node.text().unwrap_or(""));
            let scripts = scraper::Selector::parse(
                "script, iframe, [onclick], [onerror], a[href^='javascript:']",
            )
            .unwrap();
            assert_eq!(
                html.select(&scripts).count(),
                0,
                "{format}: executable content"
            );
        }
    }
    let json: Value = get_json("/feeds/phucloi.json").await;
    assert!(
        json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !i["content_html"].as_str().unwrap_or("").contains("<script"))
    );
}

#[tokio::test]
async fn a_view_count_never_moves_updated() {
    let body = get("/feeds/phucloi.atom").await.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let changes: Value = serde_json::from_slice(
        &std::fs::read(fixtures_dir().join("expected/s2/changes.json")).unwrap(),
    )
    .unwrap();
    let views_only: Vec<&str> = changes["phucloi"]["views_changed_only"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let retitled = changes["phucloi"]["title_changed"][0]["url_path"]
        .as_str()
        .unwrap();
    let mut checked = 0;
    for entry in doc.descendants().filter(|n| n.has_tag_name("entry")) {
        let child = |name: &str| {
            entry
                .children()
                .find(|c| c.has_tag_name(name))
                .and_then(|c| c.text())
                .unwrap_or("")
                .to_owned()
        };
        let id = child("id");
        let updated = child("updated");
        if views_only.iter().any(|p| id.ends_with(p)) {
            assert_eq!(updated, child("published"), "{id}: only its views changed");
            checked += 1;
        }
        if id.ends_with(retitled) {
            assert_eq!(
                updated, "2023-03-06T08:00:00+07:00",
                "the retitled item moved"
            );
        }
    }
    assert!(checked > 30);
}

#[tokio::test]
async fn the_dashboard_opml_and_health_check() {
    let world = world().await;
    let dashboard = get("/").await;
    assert_eq!(
        dashboard.headers()[CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let html = dashboard.text().await.unwrap();
    for name in [
        "Quận Long Biên",
        "Phường Phúc Lợi",
        "Phường Phúc Đồng",
        "Phường Bồ Đề",
        "Phường Thạch Bàn",
        "<svg",
    ] {
        assert!(html.contains(name), "dashboard lacks {name}");
    }
    assert!(!html.contains("<script"));

    let config = config_for(world);
    let opml = get("/opml").await.text().await.unwrap();
    let doc = roxmltree::Document::parse(&opml).unwrap();
    let feeds: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("xmlUrl"))
        .collect();
    for (path, _) in feed_paths(&config)
        .iter()
        .filter(|(p, _)| p.ends_with(".rss"))
    {
        assert!(
            feeds.contains(&url(world, path).as_str()),
            "OPML lacks {path}"
        );
    }

    // A resident's OPML: the combined feed, then each source's own feed once, in a folder
    // named by the group's display name; no category, group or incident feeds.
    let resident = get("/residents.opml").await;
    assert_eq!(
        resident.headers()[CONTENT_TYPE],
        "text/x-opml; charset=utf-8"
    );
    let resident = resident.text().await.unwrap();
    let doc = roxmltree::Document::parse(&resident).unwrap();
    let feeds: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("xmlUrl"))
        .collect();
    let mut want = vec![url(world, "/feeds/all.rss")];
    want.extend(
        config
            .sources
            .iter()
            .map(|s| url(world, &format!("/feeds/{}.rss", s.id))),
    );
    assert_eq!(feeds, want);
    assert!(resident.contains("<outline text=\"Long Biên\" title=\"Long Biên\">"));
    for (path, _) in feed_paths(&config) {
        assert!(
            html.contains(&format!("href=\"{}\"", url(world, &path))),
            "the dashboard links {path}"
        );
    }
    for opml in ["/opml", "/residents.opml"] {
        assert!(html.contains(&format!("href=\"{}\"", url(world, opml))));
    }
    assert!(html.contains(&format!(
        "<link rel=\"alternate\" type=\"application/rss+xml\" title=\"Long Biên — fixture \
         world — tất cả nguồn tin\" href=\"{}\">",
        url(world, "/feeds/all.rss")
    )));

    let health = get("/healthz").await.text().await.unwrap();
    assert_eq!(health.trim(), "ok", "snapshot 2 refreshed cleanly");
    let incidents = get("/feeds/incidents.atom").await.text().await.unwrap();
    let doc = roxmltree::Document::parse(&incidents).unwrap();
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("entry"))
        .filter_map(|e| {
            e.children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
        })
        .collect();
    assert_eq!(
        titles,
        [
            "Phường Bồ Đề: lỗi một phần → bình thường",
            "Phường Bồ Đề: chờ lấy tin lần đầu → lỗi một phần (máy chủ của cổng trả lỗi HTTP, \
             chuyên mục “Công tác Đảng”)"
        ],
        "bode's category failed in snapshot 1 and recovered in snapshot 2"
    );
    // Each incident links to the source's row, which the dashboard has.
    let links: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("entry"))
        .filter_map(|e| {
            e.children()
                .find(|c| c.has_tag_name("link"))
                .and_then(|l| l.attribute("href"))
        })
        .collect();
    assert_eq!(
        links,
        [url(world, "/#source-bode"), url(world, "/#source-bode")]
    );
    assert!(html.contains("<tr id=\"source-bode\""));
}

#[tokio::test]
async fn feeds_name_their_stylesheet_and_mixed_feeds_name_publishers() {
    let world = world().await;
    let config = config_for(world);
    for path in [
        "/feeds/phucloi.rss",
        "/feeds/all.atom",
        "/feeds/incidents.atom",
    ] {
        let xml = get(path).await.text().await.unwrap();
        let mut lines = xml.lines();
        assert_eq!(
            lines.next(),
            Some("<?xml version=\"1.0\" encoding=\"utf-8\"?>")
        );
        assert_eq!(
            lines.next(),
            Some("<?xml-stylesheet type=\"text/xsl\" href=\"/feed.xsl\"?>"),
            "{path}"
        );
        roxmltree::Document::parse(&xml).unwrap();
    }
    assert!(
        !get("/feeds/all.json")
            .await
            .text()
            .await
            .unwrap()
            .contains("xml-stylesheet")
    );
    // A browser opening a feed gets the same bytes as XML it parses (and styles with the
    // XSLT); a feed reader gets the feed's own type.
    let client = http_client();
    for (path, feed_type) in [
        ("/feeds/phucloi.rss", "application/rss+xml; charset=utf-8"),
        ("/feeds/all.atom", "application/atom+xml; charset=utf-8"),
    ] {
        let fetch = |headers: &'static [(&'static str, &'static str)]| {
            let mut request = client.get(url(world, path));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            async move {
                let response = request.send().await.unwrap();
                let content_type = response.headers()[CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .to_owned();
                (content_type, response.bytes().await.unwrap())
            }
        };
        let (reader_type, reader_body) =
            fetch(&[("accept", "application/rss+xml, application/atom+xml, */*")]).await;
        assert_eq!(reader_type, feed_type);
        let (browser_type, browser_body) = fetch(&[
            ("sec-fetch-dest", "document"),
            (
                "accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
        ])
        .await;
        assert_eq!(browser_type, "application/xml; charset=utf-8", "{path}");
        assert_eq!(browser_body, reader_body);
        let (old_browser_type, _) = fetch(&[("accept", "text/html,*/*;q=0.8")]).await;
        assert_eq!(old_browser_type, "application/xml; charset=utf-8", "{path}");
        let (script_type, _) = fetch(&[("sec-fetch-dest", "empty"), ("accept", "text/html")]).await;
        assert_eq!(
            script_type, feed_type,
            "a fetch() from a page is not a page"
        );
    }
    let xsl = get("/feed.xsl").await;
    assert_eq!(xsl.status(), StatusCode::OK);
    assert_eq!(xsl.headers()[CONTENT_TYPE], "text/xsl; charset=utf-8");
    assert!(xsl.headers().contains_key(ETAG));
    let xsl = xsl.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xsl).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "stylesheet");
    assert!(xsl.contains("Sao chép địa chỉ dưới đây vào trình đọc"));
    assert!(!xsl.contains("disable-output-escaping="));

    // Mixed feeds name each entry's publisher; a source's own feed does not.
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let titles = |doc: &Value| -> Vec<String> {
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_owned())
            .collect()
    };
    for path in ["/feeds/all.json", "/feeds/group/longbien.json"] {
        for title in titles(&get_json(path).await) {
            assert!(
                names.iter().any(|n| title.starts_with(n)),
                "{path}: {title} names no publisher"
            );
        }
    }
    let own = titles(&get_json("/feeds/phucdong.json").await);
    assert!(
        own.iter().all(|t| !t.starts_with("Phường Phúc Đồng: ")),
        "{own:?}"
    );
}

#[tokio::test]
async fn rendered_bytes_change_only_when_the_ledger_does() {
    // A private app over a copy of the ledger, so other tests see the shared one unchanged.
    let world = world().await;
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&world.store_dir, dir.path());
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let app = App::start(config_for(world), Arc::clone(&store), snapshot_time("s2")).await;
    let client = http_client();
    let etag = |path: &'static str| {
        let client = client.clone();
        let feed = app.url(path);
        async move {
            client.get(&feed).send().await.unwrap().headers()[ETAG]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let before: BTreeMap<&str, String> = BTreeMap::from([
        ("/feeds/bode.rss", etag("/feeds/bode.rss").await),
        ("/feeds/phucloi.rss", etag("/feeds/phucloi.rss").await),
        ("/feeds/all.rss", etag("/feeds/all.rss").await),
    ]);
    // An unchanged re-ingest: nothing moves.
    let bode = wardfeed::model::SourceId::parse("bode").unwrap();
    let items: Vec<_> = store
        .source_items(&bode)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .into_iter()
        .map(|s| s.item)
        .collect();
    assert!(
        !store
            .ingest(&bode, &items, snapshot_time("s2"))
            .unwrap()
            .changed()
    );
    for (path, tag) in &before {
        assert_eq!(
            &etag(path).await,
            tag,
            "{path} changed without a ledger change"
        );
    }
    // A real edit of one bode item: bode's and the combined feed change, phucloi's does not.
    let mut edited = items[0].clone();
    edited.title.push_str(" (cập nhật)");
    assert_eq!(
        store
            .ingest(&bode, &[edited], snapshot_time("s2"))
            .unwrap()
            .updated
            .len(),
        1
    );
    assert_ne!(etag("/feeds/bode.rss").await, before["/feeds/bode.rss"]);
    assert_ne!(etag("/feeds/all.rss").await, before["/feeds/all.rss"]);
    assert_eq!(
        etag("/feeds/phucloi.rss").await,
        before["/feeds/phucloi.rss"]
    );
    app.stop().await;
}

/// Last-Modified says when the ledger changed (an item first seen or updated), never what a
/// publisher dated it: a 2099-dated item does not pin it, an item dated before the newest one
/// still moves it forward, and a client that only sends If-Modified-Since gets the new item.
#[tokio::test]
async fn last_modified_follows_the_ledger_not_publisher_dates() {
    let world = world().await;
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&world.store_dir, dir.path());
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let app = App::start(config_for(world), Arc::clone(&store), snapshot_time("s2")).await;
    let client = http_client();
    let http_date = |t: chrono::DateTime<chrono::FixedOffset>| {
        t.to_utc().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
    };
    let newest_of = |id: &str| {
        let source = wardfeed::model::SourceId::parse(id).unwrap();
        let items: Vec<_> = store
            .source_items(&source)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let newest = items.iter().map(|s| s.sort_time()).max().unwrap();
        (source, items[0].item.clone(), newest)
    };
    let new_item = |template: &wardfeed::model::Item, slug: &str, published| {
        let mut item = template.clone();
        item.url = format!("{}-{slug}", template.url);
        item.identity = Default::default();
        item.title = format!("Tin mới {slug}");
        item.published = Some(published);
        item
    };

    // bode gains an item its portal dates 2099, seen an hour after the snapshot.
    let (bode, template, _) = newest_of("bode");
    let seen = snapshot_time("s2") + chrono::Duration::hours(1);
    let far_future = chrono::DateTime::parse_from_rfc3339("2099-01-01T00:00:00+07:00").unwrap();
    let report = store
        .ingest(&bode, &[new_item(&template, "2099", far_future)], seen)
        .unwrap();
    assert_eq!(report.new.len(), 1);
    let response = client.get(app.url("/feeds/bode.rss")).send().await.unwrap();
    assert_eq!(response.headers()[LAST_MODIFIED], http_date(seen).as_str());

    // phucloi: remember its Last-Modified, then it gains an item dated a minute before its
    // newest one (a late-listed article), seen two hours after the snapshot.
    let feed = app.url("/feeds/phucloi.atom");
    let before = client.get(&feed).send().await.unwrap();
    let since = before.headers()[LAST_MODIFIED].to_str().unwrap().to_owned();
    let (phucloi, template, newest) = newest_of("phucloi");
    let seen = snapshot_time("s2") + chrono::Duration::hours(2);
    let dated = newest - chrono::Duration::minutes(1);
    let report = store
        .ingest(&phucloi, &[new_item(&template, "muon", dated)], seen)
        .unwrap();
    assert_eq!(report.new.len(), 1);
    let after = client
        .get(&feed)
        .header(IF_MODIFIED_SINCE, &since)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::OK,
        "an If-Modified-Since client must see the new item"
    );
    assert_eq!(after.headers()[LAST_MODIFIED], http_date(seen).as_str());
    let body = after.text().await.unwrap();
    assert!(body.contains("Tin mới muon"), "the new item is in the feed");
    // The feed's own <updated> says the same.
    let updated = seen.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    assert!(
        body.contains(&format!("<updated>{updated}</updated>")),
        "feed <updated> is the ledger time {updated}"
    );
    app.stop().await;
}

/// Ten stored 5 MB bodies (a store written before bodies were capped at ingest, or a portal
/// that sends them) once made every feed that holds them a 52 MB document, kept in three
/// encodings. Each feed document now carries at most `FEED_TEXT_BUDGET` of entry text: every
/// entry stays, those past the budget with a note linking to the article instead of their
/// body; the cut is counted in /metrics.
#[tokio::test]
async fn a_feed_of_huge_bodies_is_cut_to_its_byte_budget() {
    let world = world().await;
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&world.store_dir, dir.path());
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let phucloi = wardfeed::model::SourceId::parse("phucloi").unwrap();
    let template = store.source_items(&phucloi).next().unwrap().unwrap().item;
    let huge: Vec<_> = (0..10)
        .map(|n| {
            let mut item = template.clone();
            item.url = format!("{}-huge-{n}", template.url);
            item.identity = Default::default();
            item.title = format!("Bài rất dài {n}");
            item.published = Some(snapshot_time("s2") + chrono::Duration::minutes(n));
            item.content_html = Some(format!("<p>{}</p>", "Nội dung rất dài. ".repeat(250_000)));
            item
        })
        .collect();
    assert!(huge[0].content_html.as_ref().unwrap().len() > 5_000_000);
    let report = store
        .ingest(
            &phucloi,
            &huge,
            snapshot_time("s2") + chrono::Duration::hours(1),
        )
        .unwrap();
    assert_eq!(report.new.len(), 10);
    let app = App::start(config_for(world), Arc::clone(&store), snapshot_time("s2")).await;
    let client = http_client();
    // The budget (2 MiB of entry text) plus markup: far from 52 MB.
    let limit = 3 * 1024 * 1024;
    for path in [
        "/feeds/phucloi.rss",
        "/feeds/phucloi.atom",
        "/feeds/phucloi.json",
        "/feeds/all.rss",
        "/feeds/group/longbien.atom",
        "/feeds/phucloi.json?limit=20",
    ] {
        let body = get_text(&client, &app.url(path)).await;
        assert!(
            body.len() <= limit,
            "{path}: {} bytes, over the budget",
            body.len()
        );
        for n in 0..10 {
            assert!(
                body.contains(&format!("Bài rất dài {n}")),
                "{path}: entry {n} kept"
            );
        }
        assert!(
            body.contains("không kèm trong nguồn tin vì nguồn tin đã đủ dung lượng"),
            "{path}: the cut is said in the feed"
        );
    }
    let metrics = get_text(&client, &app.url("/metrics")).await;
    let cut = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wardfeed_feed_budget_cuts_total{left_out=\"body\"} "))
        .map(|v| v.trim().parse::<u64>().unwrap());
    assert!(
        cut.is_some_and(|n| n >= 10),
        "the cuts are counted:\n{metrics}"
    );
    app.stop().await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Reads one HTTP/1.1 response (head and Content-Length body) from `stream`.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end + 4]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            let body_length = if head.starts_with("HTTP/1.1 304") || head.contains("HEAD-REQUEST") {
                0
            } else {
                length
            };
            while buffer.len() < end + 4 + body_length {
                let mut chunk = [0u8; 65536];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[end + 4..end + 4 + body_length].to_vec();
            buffer.drain(..end + 4 + body_length);
            return Some((head, body));
        }
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn keep_alive_pipelining_and_a_filtered_request_on_one_connection() {
    use tokio::io::AsyncWriteExt;
    let world = world().await;
    let reference = get("/feeds/phucloi.rss").await.bytes().await.unwrap();
    let address = world.app_base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut buffer = Vec::new();
    // Two pipelined requests in one write, then a filtered one (the router's), then a plain
    // one again on the same connection.
    let request = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: {address}\r\n\r\n");
    stream
        .write_all(
            format!(
                "{}{}",
                request("/feeds/phucloi.rss"),
                request("/feeds/phucloi.rss")
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    for _ in 0..2 {
        let (head, body) = read_response(&mut stream, &mut buffer).await.unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert_eq!(body, reference);
    }
    stream
        .write_all(request("/feeds/phucloi.rss?limit=2").as_bytes())
        .await
        .unwrap();
    let (head, body) = read_response(&mut stream, &mut buffer).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(String::from_utf8_lossy(&body).matches("<item>").count(), 2);
    stream
        .write_all(request("/feeds/phucloi.rss").as_bytes())
        .await
        .unwrap();
    let (head, body) = read_response(&mut stream, &mut buffer).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(body, reference);

    // HTTP/1.0 without keep-alive: answered, then closed.
    let answer = raw_request(&world.app_base, "GET /feeds/phucloi.rss HTTP/1.0").await;
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") || answer.starts_with("HTTP/1.0 200 OK"),
        "{answer:.100}"
    );
    // Methods other than GET and HEAD, and request bodies, are the router's to refuse.
    let answer = raw_request(&world.app_base, "POST /feeds/phucloi.rss HTTP/1.1").await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer:.100}");
    let answer = raw_request(&world.app_base, "GET /../../etc/passwd HTTP/1.1").await;
    assert!(
        answer.starts_with("HTTP/1.1 404") || answer.starts_with("HTTP/1.1 400"),
        "{answer:.100}"
    );
}

#[tokio::test]
async fn oversized_heads_are_refused_not_served() {
    let world = world().await;
    let huge = format!(
        "GET /feeds/phucloi.rss HTTP/1.1\r\nX-Filler: {}",
        "a".repeat(1024 * 1024)
    );
    let answer = raw_request(&world.app_base, &huge).await;
    assert!(
        answer.is_empty()
            || answer.starts_with("HTTP/1.1 431")
            || answer.starts_with("HTTP/1.1 400"),
        "{answer:.100}"
    );
    // The server is still there.
    assert_eq!(get("/feeds/phucloi.rss").await.status(), StatusCode::OK);
}
