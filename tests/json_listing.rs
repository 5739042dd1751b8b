//! JSON listings end to end: an in-process "SPA" portal whose listing is a JSON endpoint
//! (paged by ?page=N) and whose articles are HTML, read by the real pipeline from config alone.

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::{Html, Json};
use axum::routing::get;
use serde_json::json;
use wardfeed::fetch::Crawler;
use wardfeed::pipeline;

async fn api(Query(query): Query<Vec<(String, String)>>) -> Json<serde_json::Value> {
    let page: u64 = query
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1);
    let items: Vec<serde_json::Value> = if page <= 2 {
        (1..=2)
            .map(|i| {
                let id = (page - 1) * 2 + i;
                json!({"id": id, "slug": format!("tin-{id}"), "title": format!("Tin số {id}"),
                       "publishedAt": 1675051200000u64 + id * 3_600_000, "viewCount": id * 10})
            })
            .collect()
    } else {
        Vec::new()
    };
    Json(json!({"data": {"items": items}}))
}

async fn article(Path(name): Path<String>) -> Html<String> {
    Html(format!(
        "<html><body><div class=\"article-body\"><p>Nội dung {name}</p></div></body></html>"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_listing_is_read_page_by_page_and_its_articles_fetched() {
    let app = Router::new()
        .route("/api/news", get(api))
        .route("/tin-tuc/{name}", get(article));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let text = format!(
        r#"[defaults]
min_host_interval_ms = 0
[groups.g]
name = "G"
[sources.spa]
name = "SPA"
group = "g"
base = "{base}"
[sources.spa.json]
items = "/data/items"
title = "/title"
link = "/tin-tuc/{{slug}}-{{id}}.html"
date = "/publishedAt"
views = "/viewCount"
page_param = "page"
[sources.spa.article]
body = "div.article-body"
[[sources.spa.categories]]
label = "Tin tức"
listing_json = "/api/news"
"#
    );
    let config =
        wardfeed::config::parse(&text, "spa.toml", &|_| None, wardfeed::extract::check_rules)
            .unwrap();
    let crawler = Crawler::new(&config.fetch).unwrap();
    let now = wardfeed::normalize::date::in_zone(chrono::Utc::now(), chrono_tz::Asia::Ho_Chi_Minh);
    let scrape = pipeline::scrape_source(&crawler, &config.sources[0], now).await;
    let first = scrape.items.iter().find(|i| i.title == "Tin số 1").unwrap();
    assert_eq!(
        first.published.map(|d| d.to_rfc3339()),
        Some("2023-01-30T12:00:00+07:00".to_owned()),
        "milliseconds since 1970, shown at +07:00"
    );
    assert!(scrape.failures.is_empty(), "{:?}", scrape.failures);
    let mut got: Vec<(String, String, Option<u64>)> = scrape
        .items
        .iter()
        .map(|i| (i.title.clone(), i.url.clone(), i.views))
        .collect();
    got.sort();
    let expected: Vec<(String, String, Option<u64>)> = (1..=4)
        .map(|id| {
            (
                format!("Tin số {id}"),
                format!("{base}/tin-tuc/tin-{id}-{id}.html"),
                Some(id * 10),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let first = scrape.items.iter().find(|i| i.title == "Tin số 1").unwrap();
    assert_eq!(
        first.published.map(|d| d.to_rfc3339()),
        Some("2023-01-30T12:00:00+07:00".to_owned()),
        "milliseconds since 1970, shown at +07:00"
    );
    assert!(scrape.items.iter().all(|i| {
        i.content_html
            .as_deref()
            .is_some_and(|c| c.contains("Nội dung"))
    }));
}
