//! Polite fetching against the fixture world: robots.txt Disallow and Crawl-delay (bode has
//! both), one request per host at a time, and conditional requests that turn a second cycle
//! over an unchanged site into 304s.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use wardfeed::config::CategoryKind;
use wardfeed::fetch::Crawler;
use wardfeed::model::ErrorKind;
use wardfeed::pipeline::{self, StageError};
use wardfeed::store::Store;
use wardfeed_portal::Override;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_delay_spaces_a_sites_requests_and_robots_txt_is_read_once() {
    let server = serve("s2").await;
    // Without the slow page the test is about the spacing alone.
    server
        .set_override(
            "bode",
            "/tin-tuc/tin-moi-nhat",
            Override::Delay(Duration::ZERO),
        )
        .unwrap();
    let config = polite_fixture_config(&server);
    let crawler = Crawler::new(&config.fetch).unwrap();
    let bode = config.source("bode").unwrap();
    server.reset_stats();
    let scrape = pipeline::scrape_source(&crawler, bode, common::now()).await;
    assert!(
        scrape.failures.is_empty(),
        "{:?}",
        scrape
            .failures
            .iter()
            .map(|f| f.error.to_string())
            .collect::<Vec<_>>()
    );
    let log: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.site == "bode")
        .collect();
    assert_eq!(log[0].target, "/robots.txt", "robots.txt comes first");
    assert_eq!(log.iter().filter(|r| r.target == "/robots.txt").count(), 1);
    let pages: Vec<_> = log.iter().filter(|r| r.target != "/robots.txt").collect();
    assert!(pages.len() > 20, "{}", pages.len());
    for pair in pages.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(990),
            "Crawl-delay: 1 not honoured: {gap:?} between {} and {}",
            pair[0].target,
            pair[1].target
        );
    }
    // The same crawler keeps robots.txt for a day.
    server.reset_stats();
    let page = url::Url::parse(&format!("{}/gioi-thieu.html", server.site_base("bode"))).unwrap();
    crawler.get(bode, &page, None).await.unwrap();
    assert!(
        server
            .request_log()
            .iter()
            .all(|r| r.target != "/robots.txt")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disallowed_pages_are_never_requested_unless_the_source_says_so() {
    let server = serve("s2").await;
    let config = fixture_config(&server);
    let mut bode = (**config.source("bode").unwrap()).clone();
    let admin = url::Url::parse(&format!("{}/admin/", server.site_base("bode"))).unwrap();
    bode.categories[0].kind = CategoryKind::Listing(admin.clone());
    bode.categories.truncate(1);
    let crawler = Crawler::new(&config.fetch).unwrap();
    server.reset_stats();
    let scrape = pipeline::scrape_source(&crawler, &bode, common::now()).await;
    match &scrape.failures[0].error {
        StageError::Fetch(error) => assert_eq!(error.kind(), ErrorKind::Robots),
        other => panic!("{other}"),
    }
    assert!(
        server.request_log().iter().all(|r| r.target != "/admin/"),
        "a disallowed page was requested"
    );

    // An explicit per-source override fetches it anyway (and the daemon logs it each run).
    bode.ignore_robots = true;
    let scrape = pipeline::scrape_source(&crawler, &bode, common::now()).await;
    match &scrape.failures[0].error {
        StageError::Fetch(error) => assert_eq!(
            error.status(),
            Some(403),
            "fetched, and the portal said 403"
        ),
        other => panic!("{other}"),
    }
    assert!(server.request_log().iter().any(|r| r.target == "/admin/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_at_a_time_per_host() {
    let server = serve("s1").await;
    // Every site of the fixture world is on one host (127.0.0.1:port). Slow every answer a
    // little so that overlapping requests would show.
    let config = fixture_config(&server);
    let crawler = Arc::new(Crawler::new(&config.fetch).unwrap());
    for site in SITES {
        server
            .set_override(
                site,
                "/robots.txt",
                Override::Delay(Duration::from_millis(50)),
            )
            .unwrap();
    }
    let tasks: Vec<_> = config
        .sources
        .iter()
        .map(|source| {
            let (crawler, source) = (Arc::clone(&crawler), Arc::clone(source));
            tokio::spawn(async move {
                let url = source.categories[0].kind.url().clone();
                let started = tokio::time::Instant::now();
                crawler.get(&source, &url, None).await.ok();
                started
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // Five robots.txt (50 ms each) and five pages on one host: at least 250 ms end to end,
    // and the server never saw two requests within 50 ms of each other during robots fetches.
    let robots: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.target == "/robots.txt")
        .collect();
    assert_eq!(robots.len(), 5);
    let mut times: Vec<_> = robots.iter().map(|r| r.at).collect();
    times.sort();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(45),
            "two requests to one host overlapped: {:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_that_need_one_robots_txt_at_once_fetch_it_once() {
    let server = serve("s1").await;
    // Slow enough that every source asks while the first fetch is still out.
    server
        .set_override(
            "phucloi",
            "/robots.txt",
            Override::Delay(Duration::from_millis(200)),
        )
        .unwrap();
    let config = fixture_config(&server);
    let crawler = Arc::new(Crawler::new(&config.fetch).unwrap());
    let phucloi = config.source("phucloi").unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|n| {
            let mut source = (**phucloi).clone();
            source.id = wardfeed::model::SourceId::parse(&format!("phucloi{n}")).unwrap();
            let crawler = Arc::clone(&crawler);
            tokio::spawn(async move {
                let url = source.categories[0].kind.url().clone();
                crawler.get(&source, &url, None).await.map(|_| ())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let log = server.request_log();
    let robots = log
        .iter()
        .filter(|r| r.site == "phucloi" && r.target == "/robots.txt")
        .count();
    assert_eq!(robots, 1, "four sources of one site, one robots.txt");
    let pages = log
        .iter()
        .filter(|r| r.site == "phucloi" && r.target != "/robots.txt")
        .count();
    assert_eq!(pages, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_cycle_over_an_unchanged_site_is_mostly_304s() {
    let server = serve("s2").await;
    server
        .set_override(
            "bode",
            "/tin-tuc/tin-moi-nhat",
            Override::Delay(Duration::ZERO),
        )
        .unwrap();
    let config = fixture_config(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let crawler = Crawler::new(&config.fetch).unwrap();
    let bode = config.source("bode").unwrap();

    let bytes = |server: &wardfeed_portal::PortalServer| -> u64 {
        server
            .request_log()
            .iter()
            .filter(|r| r.site == "bode")
            .map(|r| r.body_bytes)
            .sum()
    };
    server.reset_stats();
    let first = pipeline::refresh(&crawler, &store, bode, snapshot_time("s2"))
        .await
        .unwrap();
    let first_bytes = bytes(&server);
    assert!(first.scrape.failures.is_empty());

    server.reset_stats();
    let second = pipeline::refresh(&crawler, &store, bode, snapshot_time("s2"))
        .await
        .unwrap();
    let second_bytes = bytes(&server);
    let log = server.request_log();
    let conditional = log
        .iter()
        .filter(|r| r.site == "bode" && r.conditional)
        .count();
    let not_modified = log
        .iter()
        .filter(|r| r.site == "bode" && r.status == 304)
        .count();
    eprintln!(
        "bode: first cycle {first_bytes} bytes, second {second_bytes} bytes; {not_modified} of {} requests answered 304",
        log.len()
    );
    assert!(
        second_bytes * 20 <= first_bytes,
        "second cycle moved {second_bytes} bytes, first {first_bytes}"
    );
    assert!(not_modified > 20 && conditional >= not_modified);
    // The 304s stood for the stored answers: the same items, nothing changed.
    assert_eq!(second.scrape.items, first.scrape.items);
    assert!(!second.ingest.changed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_is_retried_when_it_says() {
    let server = serve("s1").await;
    let mut config = polite_fixture_config(&server);
    config.fetch.max_crawl_delay = Duration::ZERO;
    let crawler = Crawler::new(&config.fetch).unwrap();
    let bode = config.source("bode").unwrap();
    let busy = "/tin-tuc/chuyen-muc/cong-tac-dang";
    server
        .set_override(
            "bode",
            busy,
            Override::Respond {
                status: 503,
                body: bytes::Bytes::from_static(b"busy"),
                headers: vec![("Retry-After".into(), "1".into())],
            },
        )
        .unwrap();
    let url = url::Url::parse(&format!("{}{busy}", server.site_base("bode"))).unwrap();
    server.reset_stats();
    let error = crawler.get(bode, &url, None).await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    let attempts: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.target == busy)
        .collect();
    assert_eq!(attempts.len(), 3, "the first try and two retries");
    for pair in attempts.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(990) && gap < Duration::from_secs(2),
            "Retry-After: 1 gave {gap:?}"
        );
    }
}

/// A portal asking for an absurd wait gets the configured maximum, never years (finding 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_is_clamped_to_the_configured_maximum() {
    let server = serve("s1").await;
    let mut config = fixture_config(&server);
    config.fetch.max_retry_after = Duration::from_secs(7200);
    let crawler = Crawler::new(&config.fetch).unwrap();
    let bode = config.source("bode").unwrap();
    let busy = "/tin-tuc/chuyen-muc/cong-tac-dang";
    let url = url::Url::parse(&format!("{}{busy}", server.site_base("bode"))).unwrap();
    for asked in [
        "10000000000000",
        "999999999",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        server
            .set_override(
                "bode",
                busy,
                Override::Respond {
                    status: 503,
                    body: bytes::Bytes::from_static(b"busy"),
                    headers: vec![("Retry-After".into(), asked.into())],
                },
            )
            .unwrap();
        let error = crawler.get(bode, &url, None).await.unwrap_err();
        assert_eq!(
            error.retry_after(),
            Some(Duration::from_secs(7200)),
            "Retry-After: {asked}"
        );
    }
}

/// A second loopback host (127.0.0.2) that logs every request line and answers from a table
/// (404 for anything else), closing each connection after one answer.
struct OtherHost {
    base: String,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl OtherHost {
    async fn start(pages: Vec<(&'static str, &'static str)>) -> OtherHost {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
            .await
            .expect("bind 127.0.0.2 (all of 127.0.0.0/8 is loopback on Linux)");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                seen.lock().unwrap().push(path.clone());
                let (status, body) = pages
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map_or(("404 Not Found", ""), |(_, body)| ("200 OK", *body));
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        OtherHost { base, log }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// A portal-template listing of three items linking to `links`, with a next-page link.
fn listing_html(links: &[&str], next: &str) -> String {
    let mut html = String::from("<html><body><div class=\"news-list\">");
    for (i, link) in links.iter().enumerate() {
        html.push_str(&format!(
            "<div class=\"news-item\"><h3 class=\"news-title\"><a href=\"{link}\">Tin số {i}</a></h3><div class=\"news-meta\">Ngày đăng 0{}/02/2023 | 10:00</div></div>",
            i + 1
        ));
    }
    html.push_str(&format!(
        "</div><ul class=\"pagination\"><li><a href=\"{next}\">Trang sau</a></li></ul></body></html>"
    ));
    html
}

fn html_answer(body: String) -> Override {
    Override::Respond {
        status: 200,
        body: bytes::Bytes::from(body),
        headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
    }
}

/// A source for phucloi's fixture site whose one listing is `/tin-ngoai`, plus `extra` TOML.
fn scoped_source(server: &wardfeed_portal::PortalServer, extra: &str) -> wardfeed::config::Config {
    let text = format!(
        r#"[defaults]
min_host_interval_ms = 0
max_crawl_delay_secs = 0
retries = 0
[templates.portal.listing]
list = "div.news-list"
item = "div.news-item"
title = "h3.news-title > a"
link = {{ selector = "h3.news-title > a", attr = "href" }}
date = {{ selector = "div.news-meta", regex = 'Ngày đăng\s*(\d{{1,2}}/\d{{1,2}}/\d{{4}}\s*\|\s*\d{{1,2}}:\d{{2}})' }}
next_page = {{ selector = "ul.pagination li a", text = "Trang sau" }}
[templates.portal.article]
body = "div.article-body"
[sources.phucloi]
name = "Phúc Lợi"
group = "longbien"
base = "{}"
template = "portal"
[[sources.phucloi.categories]]
label = "Tin ngoài"
listing = "/tin-ngoai"
{extra}"#,
        server.site_base("phucloi")
    );
    wardfeed::config::parse(
        &text,
        "scope.toml",
        &|_| None,
        wardfeed::extract::check_rules,
    )
    .unwrap()
}

/// Links, redirects and next pages that leave the source's sites are skipped with a warning,
/// and the other host is never contacted (finding 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_site_links_redirects_and_next_pages_are_never_fetched() {
    let other = OtherHost::start(vec![("/robots.txt", ""), ("/b.html", "<p>b</p>")]).await;
    let server = serve("s1").await;
    let off_article = format!("{}/b.html", other.base);
    let off_next = format!("{}/tin-ngoai?page=2", other.base);
    server
        .set_override(
            "phucloi",
            "/tin-ngoai",
            html_answer(listing_html(&["a.html", &off_article, "c.html"], &off_next)),
        )
        .unwrap();
    server
        .set_override(
            "phucloi",
            "/a.html",
            html_answer("<html><div class=\"article-body\"><p>Bài A</p></div></html>".into()),
        )
        .unwrap();
    server
        .set_override(
            "phucloi",
            "/c.html",
            Override::Respond {
                status: 302,
                body: bytes::Bytes::new(),
                headers: vec![("Location".into(), off_article.clone())],
            },
        )
        .unwrap();
    let config = scoped_source(&server, "");
    let crawler = Crawler::new(&config.fetch).unwrap();
    let scrape = pipeline::scrape_source(&crawler, &config.sources[0], common::now()).await;

    assert_eq!(
        other.requests(),
        Vec::<String>::new(),
        "the other host was contacted"
    );
    assert!(scrape.failures.is_empty());
    assert_eq!(
        scrape.items.len(),
        3,
        "off-site items stay, with the listing's data"
    );
    let a = scrape
        .items
        .iter()
        .find(|i| i.url.ends_with("/a.html"))
        .unwrap();
    assert!(
        a.content_html
            .as_deref()
            .unwrap_or_default()
            .contains("Bài A"),
        "{a:?} {:?}",
        scrape.warnings
    );
    let warning = |needle: &str| {
        scrape
            .warnings
            .iter()
            .find(|w| w.message.contains(needle))
            .unwrap_or_else(|| panic!("no warning with {needle:?}: {:#?}", scrape.warnings))
    };
    assert_eq!(
        warning("b.html: not fetched: outside the source's sites").field,
        "article"
    );
    let redirected = warning("redirected from");
    assert_eq!(
        redirected.message,
        format!(
            "fetch {off_article}: not fetched: outside the source's sites (redirected from {}/c.html)",
            server.site_base("phucloi")
        )
    );
    assert_eq!(
        warning("next page").message,
        format!("next page {off_next} is outside the source's sites: not followed")
    );
}

/// A site the configuration lists for a source (here its feed on 127.0.0.2) is fetched, after
/// that host's own robots.txt, which is obeyed; an unreachable robots.txt is a network error,
/// not "disallowed by robots.txt" (findings 7 and 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_second_site_answers_to_its_own_robots_txt() {
    let feed = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Mở</title><link>/mo.html</link></item>
<item><title>Cấm</title><link>/cam/x.html</link></item></channel></rss>"#;
    let other = OtherHost::start(vec![
        ("/robots.txt", "User-agent: *\nDisallow: /cam/\n"),
        ("/rss.xml", feed),
        (
            "/mo.html",
            "<html><div class=\"article-body\"><p>Mở</p></div></html>",
        ),
    ])
    .await;
    let server = serve("s1").await;
    server
        .set_override("phucloi", "/tin-ngoai", html_answer(listing_html(&[], "")))
        .unwrap();
    let extra = format!(
        "[[sources.phucloi.categories]]\nlabel = \"Tin quận\"\nfeed = \"{}/rss.xml\"\n",
        other.base
    );
    let config = scoped_source(&server, &extra);
    let crawler = Crawler::new(&config.fetch).unwrap();
    let scrape = pipeline::scrape_source(&crawler, &config.sources[0], common::now()).await;
    assert!(scrape.failures.is_empty(), "{:?}", scrape.failures);
    assert_eq!(other.requests(), ["/robots.txt", "/rss.xml", "/mo.html"]);
    let disallowed = scrape
        .warnings
        .iter()
        .find(|w| w.url.ends_with("/cam/x.html"))
        .expect("a warning for the disallowed article");
    assert!(
        disallowed.message.ends_with("disallowed by robots.txt"),
        "{}",
        disallowed.message
    );

    // The same host gone: its robots.txt cannot be read, and the feed fails as a network
    // error saying so.
    let closed = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let extra = format!(
        "[[sources.phucloi.categories]]\nlabel = \"Tin quận\"\nfeed = \"{gone}/rss.xml\"\n"
    );
    let config = scoped_source(&server, &extra);
    let crawler = Crawler::new(&config.fetch).unwrap();
    let scrape = pipeline::scrape_source(&crawler, &config.sources[0], common::now()).await;
    let failure = &scrape.failures[0].error;
    assert_eq!(
        failure.kind(),
        wardfeed::model::ErrorKind::Network,
        "{failure}"
    );
    let message = failure.to_string();
    assert!(
        message.starts_with(&format!(
            "fetch {gone}/rss.xml: not fetched: {gone}/robots.txt unreadable: "
        )),
        "{message}"
    );
    assert!(!message.contains("disallowed"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_items_take_their_kept_pages_with_them() {
    let server = serve("s2").await;
    let config = fixture_config(&server);
    let mut bode = (**config.source("bode").unwrap()).clone();
    bode.retention.max_items = Some(5);
    let bode = Arc::new(bode);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let crawler = Crawler::new(&config.fetch).unwrap();
    let refresh = pipeline::refresh(&crawler, &store, &bode, snapshot_time("s2"))
        .await
        .unwrap();
    assert!(refresh.pruned > 0, "retention pruned nothing");
    let kept: Vec<String> = store
        .source_items(&bode.id)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .into_iter()
        .map(|stored| stored.item.url)
        .collect();
    assert_eq!(kept.len(), 5);
    let mut pruned = 0;
    for item in &refresh.scrape.items {
        let page = store.page(&item.url).unwrap();
        if kept.contains(&item.url) {
            assert!(page.is_some(), "the kept item {} lost its page", item.url);
        } else {
            assert!(page.is_none(), "the pruned item {} kept its page", item.url);
            pruned += 1;
        }
    }
    assert_eq!(pruned, refresh.pruned);
}
