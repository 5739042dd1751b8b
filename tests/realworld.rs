//! A portal whose feeds and pages go wrong the ways real ones do (`tests/data/realworld`):
//! every loss or guess leaves a warning the store keeps, that the dashboard (`/`) and
//! `/status.json` show and that `wardfeed probe` prints; a document that is no feed is an
//! `unsupported_feed` failure, never an empty source.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::DateTime;
use wardfeed::config::{self, Config};
use wardfeed::fetch::Crawler;
use wardfeed::model::{ErrorKind, ItemWarning};
use wardfeed::pipeline;
use wardfeed::store::Store;
use wardfeed_portal::{PortalServer, Snapshot};

mod common;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/realworld")
}

async fn serve() -> PortalServer {
    PortalServer::start(Snapshot::load_dir(&data().join("world")).unwrap())
        .await
        .unwrap()
}

fn config(server: &PortalServer) -> Config {
    let base = server.base_url();
    config::load(
        &data().join("config.toml"),
        &move |name| (name == "REALWORLD_BASE").then(|| base.clone()),
        wardfeed::extract::check_rules,
    )
    .unwrap()
}

/// The warnings every run of this world must give: (field, words the message holds).
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "feed",
        &[
            "recovered 2 entries from an ill-formed feed (1 cut off and left out)",
            "bare &",
        ],
    ),
    ("feed", &["2 entries without a link or an id skipped"]),
    ("feed", &["\"VISCII\"", "cannot decode"]),
    ("date", &["\"hôm nào đó\"", "first seen"]),
    ("date", &["2099", "more than a day in the future"]),
    ("next_page", &["none reads \"trang sau\"", "\"Sau »\""]),
    ("encoding", &["\"viscii\"", "cannot decode"]),
];

fn assert_warned(warnings: &[ItemWarning]) {
    for (field, words) in EXPECTED {
        assert!(
            warnings
                .iter()
                .any(|w| w.field == *field && words.iter().all(|word| w.message.contains(word))),
            "no {field} warning saying {words:?} in {warnings:#?}"
        );
    }
}

#[tokio::test]
async fn every_problem_is_a_warning_the_store_keeps() {
    let server = serve().await;
    let config = config(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let crawler = Crawler::new(&config.fetch).unwrap();
    let now = DateTime::parse_from_rfc3339("2023-02-01T08:00:00+07:00").unwrap();
    let source = &config.sources[0];
    let refresh = pipeline::refresh(&crawler, &store, source, now)
        .await
        .unwrap();

    // The HTML page at a feed's address is a failure of its own kind, not an empty feed.
    let kinds: Vec<ErrorKind> = refresh
        .scrape
        .failures
        .iter()
        .map(|f| f.error.kind())
        .collect();
    assert_eq!(
        kinds,
        [ErrorKind::UnsupportedFeed],
        "{:?}",
        refresh.scrape.failures
    );
    let health = store.health(&source.id).unwrap();
    assert!(
        health.empty_listings.is_empty(),
        "{:?}",
        health.empty_listings
    );

    assert_warned(&store.warnings(&source.id).unwrap());

    // The office sees them on the dashboard: the source's row folds each warning (its field in
    // Vietnamese, its message), and `/status.json` carries them too.
    let app = common::App::start(config.clone(), Arc::clone(&store), now).await;
    let client = common::http_client();
    let page = common::get_text(&client, &app.url("/")).await;
    let kept = store.warnings(&source.id).unwrap().len();
    assert!(
        page.contains(&format!("<summary>{kept} cảnh báo</summary>")),
        "the dashboard does not show the {kept} warnings"
    );
    for needle in ["ngày đăng", "hôm nào đó", "trang tiếp theo", "bảng mã"] {
        assert!(page.contains(needle), "the dashboard lacks {needle:?}");
    }
    // Each stored warning is listed on the source's row: its item or page, its message.
    let html = scraper::Html::parse_document(&page);
    let listed: Vec<String> = html
        .select(
            &scraper::Selector::parse(&format!("tr#source-{} details.warnings li", source.id))
                .unwrap(),
        )
        .map(|li| {
            // A long message is cut on the page and whole in its tooltip.
            let whole = li
                .select(&scraper::Selector::parse("span[title]").unwrap())
                .filter_map(|span| span.value().attr("title"))
                .collect::<String>();
            format!("{} {whole}", li.text().collect::<String>())
        })
        .collect();
    let stored = store.warnings(&source.id).unwrap();
    assert_eq!(listed.len(), stored.len(), "{listed:#?}");
    for warning in &stored {
        assert!(
            listed
                .iter()
                .any(|li| li.contains(&warning.url) && li.contains(&warning.message)),
            "{warning} is not on the dashboard: {listed:#?}"
        );
    }
    let status = common::get_text(&client, &app.url("/status.json")).await;
    let listed = serde_json::from_str::<serde_json::Value>(&status)
        .unwrap()
        .to_string();
    assert!(listed.contains("hôm nào đó"), "{listed}");
    app.stop().await;

    let item = |title: &str| {
        store
            .items()
            .map(|s| s.unwrap())
            .find(|s| s.item.title == title)
            .unwrap_or_else(|| panic!("no item {title}"))
    };
    // Read before the break, the bare & kept in the link.
    assert_eq!(
        item("Hỏi & đáp").item.url,
        "http://phuongdemo.example.vn/hoi-dap?id=1&trang=2"
    );
    // A date without an offset is the source's time; a future or unread one is no date.
    let published = |title: &str| item(title).item.published.map(|p| p.to_rfc3339());
    assert_eq!(
        published("Ngày không múi giờ").as_deref(),
        Some("2023-01-30T11:00:00+07:00")
    );
    assert_eq!(published("Ngày tương lai"), None);
    assert_eq!(published("Ngày lạ"), None);
    // The listing's date alone takes the article page's time; its own time stays.
    assert_eq!(
        published("Bài một").as_deref(),
        Some("2023-01-30T15:30:00+07:00")
    );
    let second = store
        .items()
        .map(|s| s.unwrap())
        .find(|s| s.item.url.ends_with("/site/bai-2.html"))
        .unwrap();
    assert_eq!(
        second.item.published.map(|p| p.to_rfc3339()).as_deref(),
        Some("2023-01-29T15:15:00+07:00")
    );
}

#[test]
fn probe_shows_every_problem() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(serve());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wardfeed"))
        .args(["probe", "--config"])
        .arg(data().join("config.toml"))
        .args(["--source", "demo"])
        .env("REALWORLD_BASE", server.base_url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Problems found: the exit status says so.
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    for words in [
        &["warning: recovered 2 entries from an ill-formed feed"][..],
        &["warning: 2 entries without a link or an id skipped"],
        &["warning: the feed declares the encoding \"VISCII\""],
        &["warning: date:", "\"hôm nào đó\""],
        &["warning: date:", "2099"],
        &["warning: next_page:", "\"Sau »\""],
        &["unsupported feed format: the document is <html>"],
        &["RSS 2.0 \"Tin hỏng\""],
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| words.iter().all(|w| line.contains(w))),
            "no line with {words:?} in:\n{stdout}"
        );
    }
    // Nothing panicked: not a line of a panic reached stderr.
    assert!(!stderr.contains("panicked"), "{stderr}");
}
