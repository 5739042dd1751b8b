//! The dashboard and a feed page as people see them: headless Chromium opens them at 1280 and
//! 390 px (`tests/browser_pages.sh` takes the screenshots and checks the page), and this test
//! checks what each state must show — during the first scrape, all fine, two wards failing —
//! and that a feed opened in the browser is a page (our XSLT applied). The screenshots stay in
//! `target/tmp/screenshots/` (TESTING.md says how to look at them).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use wardfeed::fetch::Crawler;
use wardfeed::store::Store;
use wardfeed_portal::Override;

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

/// Runs `tests/browser_pages.sh` on (name, URL) pairs; panics with its output if it fails.
async fn browse(pages: &[(&str, String)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser_pages.sh");
    let mut command = tokio::process::Command::new("bash");
    command.arg(&script).arg(screenshots_dir());
    for (name, url) in pages {
        command.arg(name).arg(url);
    }
    let output = command.output().await.unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "headless Chromium check failed (scripts/test.sh installs chromium; or set \
         WARDFEED_SKIP_BROWSER=1 knowingly):\n{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprint!("{report}");
}

/// What Chromium built for page `name`.
fn dom(name: &str) -> scraper::Html {
    let path = screenshots_dir().join(format!("{name}.dom.html"));
    scraper::Html::parse_document(&std::fs::read_to_string(path).unwrap())
}

fn texts(page: &scraper::Html, css: &str) -> Vec<String> {
    page.select(&scraper::Selector::parse(css).unwrap())
        .map(|e| e.text().collect::<String>())
        .collect()
}

fn stat(page: &scraper::Html, class: &str) -> Option<String> {
    texts(page, &format!("dl.stats .{class} dd"))
        .into_iter()
        .next()
}

#[tokio::test]
async fn the_dashboard_and_a_feed_page_in_headless_chromium() {
    if std::env::var_os("WARDFEED_SKIP_BROWSER").is_some() {
        eprintln!("WARDFEED_SKIP_BROWSER set: pages not rendered");
        return;
    }
    let portal = serve("s1").await;
    let config = fixture_config(&portal);
    let crawler = Crawler::new(&config.fetch).unwrap();
    let first_dir = tempfile::tempdir().unwrap();
    let full_dir = tempfile::tempdir().unwrap();

    // During the first scrape: two sources done, three still waiting.
    let first = Arc::new(Store::open(first_dir.path()).unwrap());
    for id in ["phucloi", "longbien"] {
        wardfeed::pipeline::refresh(
            &crawler,
            &first,
            config.source(id).unwrap(),
            snapshot_time("s1"),
        )
        .await
        .unwrap();
    }
    let first_app = App::start(config.clone(), first, snapshot_time("s1")).await;

    // All fine: both snapshots read.
    let store = Arc::new(Store::open(full_dir.path()).unwrap());
    refresh_all(&config, &store, snapshot_time("s1")).await;
    portal.switch(snapshot("s2"));
    refresh_all(&config, &store, snapshot_time("s2")).await;
    let app = App::start(config.clone(), Arc::clone(&store), snapshot_time("s2")).await;

    browse(&[
        ("dashboard-first-scrape", first_app.url("/")),
        ("dashboard-all-fine", app.url("/")),
        ("feed-page", app.url("/feeds/phucloi.rss")),
    ])
    .await;

    let page = dom("dashboard-first-scrape");
    assert_eq!(stat(&page, "stat-pending").as_deref(), Some("3"));
    assert_eq!(stat(&page, "stat-quiet").as_deref(), Some("0"));
    assert_eq!(texts(&page, "tr.status-pending").len(), 3);
    assert!(texts(&page, "tr.quiet, .attention li").is_empty());
    assert!(texts(&page, ".attention .pending-note")[0].contains("còn 3/5 nguồn"));

    let page = dom("dashboard-all-fine");
    assert_eq!(texts(&page, "table.sources tbody tr").len(), 5);
    assert_eq!(stat(&page, "stat-failing").as_deref(), Some("0"));
    assert_eq!(stat(&page, "stat-pending"), None);
    assert_eq!(texts(&page, ".multiples > li").len(), 5);
    assert_eq!(
        texts(&page, ".multiples > li svg").len(),
        5,
        "every source has its chart"
    );

    // The feed page: the XSLT turned phucloi's RSS into a Vietnamese page listing its entries.
    let page = dom("feed-page");
    let address = texts(&page, "#feed-address");
    assert_eq!(address, [app.url("/feeds/phucloi.rss")]);
    let feed = get_text(&http_client(), &app.url("/feeds/phucloi.rss")).await;
    let items = roxmltree::Document::parse(&feed)
        .unwrap()
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .count();
    assert_eq!(texts(&page, "ol.entries > li").len(), items);
    assert_eq!(texts(&page, "h1"), ["Phường Phúc Lợi"]);

    // Two wards failing: Bồ Đề's portal answers 503 everywhere, one of Phúc Đồng's listings
    // was redesigned (its list is gone).
    for category in &config.source("bode").unwrap().categories {
        portal
            .set_override(
                "bode",
                &target(&category.kind),
                Override::Respond {
                    status: 503,
                    body: "Service Unavailable".into(),
                    headers: Vec::new(),
                },
            )
            .unwrap();
    }
    let phuc_dong = &config.source("phucdong").unwrap().categories[0];
    portal
        .set_override(
            "phucdong",
            &target(&phuc_dong.kind),
            Override::Respond {
                status: 200,
                body: "<html><body><p>Trang đang được nâng cấp</p></body></html>".into(),
                headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            },
        )
        .unwrap();
    let later = snapshot_time("s2") + chrono::Duration::hours(1);
    refresh_all(&config, &store, later).await;
    browse(&[("dashboard-two-failing", app.url("/"))]).await;
    let page = dom("dashboard-two-failing");
    assert_eq!(stat(&page, "stat-failing").as_deref(), Some("2"));
    assert_eq!(texts(&page, "tr.status-failing").len(), 1);
    assert_eq!(texts(&page, "tr.status-degraded").len(), 1);
    let attention = texts(&page, ".attention li");
    assert_eq!(attention.len(), 2, "{attention:?}");
    assert!(attention[0].starts_with("Phường Phúc Đồng — lỗi một phần: giao diện trang đã đổi"));
    assert!(attention[1].starts_with("Phường Bồ Đề — lỗi: máy chủ của cổng trả lỗi HTTP"));
    // Failing is not quiet; and what a partly failing source still fetched is said.
    assert!(texts(&page, "tr.quiet").is_empty());
    let degraded = &texts(&page, "tr.status-degraded")[0];
    assert!(degraded.contains("Lấy được 2/3 chuyên mục"), "{degraded}");
    let failing = &texts(&page, "tr.status-failing")[0];
    assert!(
        failing.contains("Thành công gần nhất: 06/03/2023 08:00"),
        "{failing}"
    );

    app.stop().await;
    first_app.stop().await;
}

/// The portal route (path and query) of a category's listing or feed.
fn target(kind: &wardfeed::config::CategoryKind) -> String {
    let url = kind.url();
    let path = url.path();
    // The fixture portal serves every site under /SITE/…: the route is what follows it.
    let route = path
        .splitn(3, '/')
        .nth(2)
        .map_or("/".to_owned(), |r| format!("/{r}"));
    match url.query() {
        Some(query) => format!("{route}?{query}"),
        None => route,
    }
}
