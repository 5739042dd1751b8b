//! Form-post pagination end to end: an in-process WebForms portal whose later listing pages
//! answer only a POST of the page's own form (its __VIEWSTATE checked, the pager's
//! __EVENTTARGET/__EVENTARGUMENT read), walked by the real pipeline and bounded by max_pages.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use axum::routing::get;
use axum::{Form, Router};
use wardfeed::fetch::Crawler;
use wardfeed::pipeline;

const PAGES: usize = 3;

type Log = Arc<Mutex<Vec<String>>>;

fn listing(page: usize) -> String {
    let mut html = format!(
        r#"<html><body><form method="post" action="./TinTuc.aspx" id="aspnetForm">
<input type="hidden" name="__EVENTTARGET" value="" /><input type="hidden" name="__EVENTARGUMENT" value="" />
<input type="hidden" name="__VIEWSTATE" value="vs{page}" />
<table class="gv">"#
    );
    for i in 1..=3 {
        let n = (page - 1) * 3 + i;
        html.push_str(&format!(
            r#"<tr class="row"><td><a class="t" href="/tin/{n}.html">Tin số {n}</a></td><td class="d">0{i}/02/2023 10:00</td></tr>"#
        ));
    }
    html.push_str("</table><div class=\"pager\">");
    if page < PAGES {
        html.push_str(r#"<a href="javascript:__doPostBack('ctl00$gv','Page$Next')">Trang sau</a>"#);
    }
    html.push_str(
        r#"<input type="hidden" name="__EVENTVALIDATION" value="ev" /></div></form></body></html>"#,
    );
    html
}

async fn first(State(log): State<Log>) -> Html<String> {
    log.lock().unwrap().push("GET /TinTuc.aspx".into());
    Html(listing(1))
}

async fn post_back(
    State(log): State<Log>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Html<String>, StatusCode> {
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
            .to_owned()
    };
    log.lock().unwrap().push(format!(
        "POST {} {} {} {} {}",
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        field("__VIEWSTATE"),
        field("__EVENTTARGET"),
        field("__EVENTARGUMENT"),
        field("__EVENTVALIDATION"),
    ));
    let page: usize = field("__VIEWSTATE")
        .strip_prefix("vs")
        .and_then(|n| n.parse().ok())
        .ok_or(StatusCode::BAD_REQUEST)?;
    if field("__EVENTTARGET") != "ctl00$gv" || field("__EVENTARGUMENT") != "Page$Next" {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(Html(listing(page + 1)))
}

async fn article(Path(name): Path<String>) -> Html<String> {
    Html(format!(
        "<html><body><div class=\"body\"><p>Nội dung {name}</p></div></body></html>"
    ))
}

async fn serve() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/TinTuc.aspx", get(first).post(post_back))
        .route("/tin/{name}", get(article))
        .route(
            "/Loi.aspx",
            get(|| async {
                Html(listing(1).replace(
                    "javascript:__doPostBack('ctl00$gv','Page$Next')",
                    "javascript:void(0)",
                ))
            }),
        )
        .with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, log)
}

fn config(base: &str, max_pages: usize) -> wardfeed::config::Config {
    config_at(base, max_pages, "/TinTuc.aspx")
}

fn config_at(base: &str, max_pages: usize, listing: &str) -> wardfeed::config::Config {
    let text = format!(
        r#"[defaults]
min_host_interval_ms = 0
max_pages = {max_pages}
[groups.g]
name = "G"
[sources.webforms]
name = "WebForms"
group = "g"
base = "{base}"
[sources.webforms.listing]
item = "tr.row"
title = "a.t"
link = {{ selector = "a.t", attr = "href" }}
date = "td.d"
next_page = {{ postback = "div.pager a", text = "Trang sau" }}
[sources.webforms.article]
body = "div.body"
[[sources.webforms.categories]]
label = "Tin tức"
listing = "{listing}"
"#
    );
    wardfeed::config::parse(
        &text,
        "postback.toml",
        &|_| None,
        wardfeed::extract::check_rules,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_pages_are_reached_by_posting_the_form_back() {
    let (base, log) = serve().await;
    let config = config(&base, 10);
    let crawler = Crawler::new(&config.fetch).unwrap();
    let scrape = pipeline::scrape_source(&crawler, &config.sources[0], wardfeed_now()).await;
    assert!(scrape.failures.is_empty(), "{:?}", scrape.failures);
    let mut titles: Vec<String> = scrape.items.iter().map(|i| i.title.clone()).collect();
    titles.sort();
    let mut expected: Vec<String> = (1..=9).map(|n| format!("Tin số {n}")).collect();
    expected.sort();
    assert_eq!(titles, expected);
    assert_eq!(scrape.listings[0].pages, 3);
    let posts: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("POST"))
        .cloned()
        .collect();
    assert_eq!(
        posts,
        [
            "POST application/x-www-form-urlencoded vs1 ctl00$gv Page$Next ev",
            "POST application/x-www-form-urlencoded vs2 ctl00$gv Page$Next ev",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postback_walk_stops_at_max_pages() {
    let (base, log) = serve().await;
    let config = config(&base, 2);
    let crawler = Crawler::new(&config.fetch).unwrap();
    let scrape = pipeline::scrape_source(&crawler, &config.sources[0], wardfeed_now()).await;
    assert_eq!(scrape.items.len(), 6);
    assert_eq!(scrape.listings[0].pages, 2);
    let posts = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("POST"))
        .count();
    assert_eq!(posts, 1);
}

fn wardfeed_now() -> chrono::DateTime<chrono::FixedOffset> {
    wardfeed::normalize::date::in_zone(chrono::Utc::now(), chrono_tz::Asia::Ho_Chi_Minh)
}

/// A pager link that is no postback stops the walk, and says so on the listing page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pager_link_that_does_not_post_back_is_a_warning() {
    let (base, log) = serve().await;
    let config = config_at(&base, 10, "/Loi.aspx");
    let crawler = Crawler::new(&config.fetch).unwrap();
    let scrape = pipeline::scrape_source(&crawler, &config.sources[0], wardfeed_now()).await;
    assert_eq!(scrape.items.len(), 3);
    let warning = scrape
        .warnings
        .iter()
        .find(|w| w.field == "next_page")
        .expect("a next_page warning");
    assert!(warning.url.ends_with("/Loi.aspx"), "{warning:?}");
    assert!(
        warning.message.contains("not a __doPostBack link")
            && warning.message.contains("later pages are not read"),
        "{warning:?}"
    );
    assert!(!log.lock().unwrap().iter().any(|l| l.starts_with("POST")));
}
