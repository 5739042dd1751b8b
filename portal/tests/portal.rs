//! Drives the fixture server over real loopback HTTP against the shared `fixtures/portal` tree.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION,
};
use serde_json::Value;
use wardfeed_portal::{Override, PortalError, PortalServer, Snapshot};

/// The fixture world is the repository's `tests/fixtures`, one level above this crate.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/portal")
}

fn snapshot(name: &str) -> Snapshot {
    match Snapshot::load_dir(&fixtures().join(name)) {
        Ok(snapshot) => snapshot,
        Err(e) => panic!("{e}"),
    }
}

async fn start(name: &str) -> PortalServer {
    PortalServer::start(snapshot(name))
        .await
        .expect("start portal server")
}

/// Redirects are asserted, never followed; proxies from the environment are ignored so nothing
/// but 127.0.0.1 is ever contacted.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("wardfeed-test/1")
        .build()
        .expect("build client")
}

/// The route object for `path` from `<snap>/<site>/routes.json`, so expectations track the fixtures.
fn route(snap: &str, site: &str, path: &str) -> Value {
    let file = fixtures().join(snap).join(site).join("routes.json");
    let routes: Vec<Value> = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    routes
        .into_iter()
        .find(|r| r["path"] == path)
        .expect("route in routes.json")
}

fn expected_body(snap: &str, site: &str, path: &str, base: &str) -> Vec<u8> {
    let file = route(snap, site, path)["file"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = std::fs::read(fixtures().join(snap).join(site).join(file)).unwrap();
    replace(&raw, b"{{BASE}}", base.as_bytes())
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn get(url: String) -> reqwest::Response {
    client().get(url).send().await.expect("request")
}

#[tokio::test]
async fn listing_body_gets_the_site_base() {
    let server = start("s1").await;
    let base = server.site_base("phucloi");
    assert_eq!(
        base,
        format!("http://127.0.0.1:{}/phucloi", server.addr().port())
    );
    let response = get(format!("{base}/tin-tuc/tin-moi-nhat?page=2")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let body = response.bytes().await.unwrap();
    assert!(!contains(&body, b"{{BASE}}"));
    assert!(contains(&body, format!("{base}/").as_bytes()));
    let expected = expected_body("s1", "phucloi", "/tin-tuc/tin-moi-nhat?page=2", &base);
    assert_eq!(&body[..], &expected[..]);
    server.shutdown().await;
}

#[tokio::test]
async fn windows_1258_page_is_served_as_raw_bytes_with_bare_content_type() {
    let server = start("s1").await;
    let base = server.site_base("thachban");
    let response = get(format!("{base}/Default.aspx?tabid=87")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html");
    let body = response.bytes().await.unwrap();
    assert!(
        std::str::from_utf8(&body).is_err(),
        "windows-1258 bytes must not be re-encoded"
    );
    let expected = expected_body("s1", "thachban", "/Default.aspx?tabid=87", &base);
    assert_eq!(&body[..], &expected[..]);
    server.shutdown().await;
}

#[tokio::test]
async fn redirects_forbidden_and_missing_routes() {
    let server = start("s1").await;
    let base = server.site_base("bode");

    let moved = get(format!("{base}/tin-tuc/le-hoi-2019.html")).await;
    assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
    let target = "/tin-tuc/chi-tiet/le-hoi-truyen-thong-dinh-lang-bo-de-nam-2019-733.html";
    assert_eq!(
        moved.headers()[LOCATION],
        format!("{base}{target}").as_str()
    );
    assert!(moved.bytes().await.unwrap().is_empty());

    let bare = get(base.clone()).await;
    assert_eq!(bare.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(bare.headers()[LOCATION], format!("{base}/").as_str());
    assert_eq!(get(format!("{base}/")).await.status(), 200);

    let admin = get(format!("{base}/admin/")).await;
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
    assert!(admin.bytes().await.unwrap().is_empty());

    let failing = get(format!("{base}/tin-tuc/chuyen-muc/cong-tac-dang")).await;
    assert_eq!(failing.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(contains(&failing.bytes().await.unwrap(), b"nginx/1.18.0"));

    for url in [
        format!("{base}/khong-co.html"),
        format!("{base}/uploads/2023/01/anh.jpg"),
        format!("{}/khong-co-phuong/", server.base_url()),
        format!("{}/", server.base_url()),
    ] {
        assert_eq!(
            get(url.clone()).await.status(),
            StatusCode::NOT_FOUND,
            "{url}"
        );
    }
    let post = client().post(format!("{base}/")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    server.shutdown().await;
}

#[tokio::test]
async fn query_is_matched_as_an_exact_raw_string() {
    let server = start("s1").await;
    let base = server.site_base("phucdong");
    let exact = get(format!("{base}/Default.aspx?tabid=118&CurrentPage=2")).await;
    assert_eq!(exact.status(), 200);
    for other in [
        "/Default.aspx?CurrentPage=2&tabid=118",
        "/Default.aspx?tabid=118&CurrentPage%3D2",
        "/Default.aspx?tabid=118&currentpage=2",
        "/Default.aspx?tabid=118&CurrentPage=2&",
    ] {
        let response = get(format!("{base}{other}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{other}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn conditional_requests_answer_not_modified() {
    let server = start("s1").await;
    let path = "/tin-tuc/tin-moi-nhat?page=2";
    let url = format!("{}{path}", server.site_base("bode"));
    let spec = route("s1", "bode", path);
    let etag = spec["etag"].as_str().unwrap();
    let modified = spec["last_modified"].as_str().unwrap();
    let send = |name, value: String| client().get(&url).header(name, value).send();

    let hit = send(IF_NONE_MATCH, etag.to_string()).await.unwrap();
    assert_eq!(hit.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(hit.headers()[ETAG], etag);
    assert_eq!(hit.headers()[LAST_MODIFIED], modified);
    assert!(hit.bytes().await.unwrap().is_empty());
    assert_eq!(server.stats().not_modified, 1);

    for list in [
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_string(),
    ] {
        let response = send(IF_NONE_MATCH, list.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{list}");
    }
    let miss = send(IF_NONE_MATCH, "\"other\"".into()).await.unwrap();
    assert_eq!(miss.status(), 200);
    assert_eq!(miss.headers()[ETAG], etag);

    let since = send(IF_MODIFIED_SINCE, modified.to_string()).await.unwrap();
    assert_eq!(since.status(), StatusCode::NOT_MODIFIED);
    let later = send(IF_MODIFIED_SINCE, "Tue, 01 Jan 2030 00:00:00 GMT".into())
        .await
        .unwrap();
    assert_eq!(later.status(), StatusCode::NOT_MODIFIED);
    let earlier = send(IF_MODIFIED_SINCE, "Thu, 17 Dec 2020 07:24:59 GMT".into())
        .await
        .unwrap();
    assert_eq!(earlier.status(), 200);
    let garbage = send(IF_MODIFIED_SINCE, "not a date".into()).await.unwrap();
    assert_eq!(garbage.status(), 200);

    // If-None-Match decides alone when present, even against a matching If-Modified-Since.
    let both = client()
        .get(&url)
        .header(IF_NONE_MATCH, "\"other\"")
        .header(IF_MODIFIED_SINCE, modified)
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 200);

    // Only 200 routes revalidate; the 403 stays a 403.
    let forbidden = client()
        .get(format!("{}/admin/", server.site_base("bode")))
        .header(IF_NONE_MATCH, "*")
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    let stats = server.stats();
    assert_eq!(stats.not_modified, 6);
    assert_eq!(stats.by_status.get(&304), Some(&6));
    assert_eq!(stats.requests, 11);
    server.shutdown().await;
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let server = start("s1").await;
    let url = format!(
        "{}/tin-tuc/tin-moi-nhat?page=2",
        server.site_base("phucloi")
    );
    let full = get(url.clone()).await.bytes().await.unwrap();
    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(
        head.headers()[CONTENT_LENGTH],
        full.len().to_string().as_str()
    );
    assert!(head.bytes().await.unwrap().is_empty());
    let log = server.request_log();
    assert_eq!(log[1].method, "HEAD");
    assert_eq!(log[1].body_bytes, 0);
    assert_eq!(server.stats().body_bytes, full.len() as u64);
    server.shutdown().await;
}

#[tokio::test]
async fn slow_route_waits_its_delay() {
    let server = start("s1").await;
    let started = Instant::now();
    let response = get(format!("{}/tin-tuc/tin-moi-nhat", server.site_base("bode"))).await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn switching_snapshot_keeps_the_port() {
    let server = start("s1").await;
    let before = server.addr();
    let base = server.site_base("bode");
    let party = format!("{base}/tin-tuc/chuyen-muc/cong-tac-dang");
    let gone = format!(
        "{base}/tin-tuc/chi-tiet/phuong-bo-de-to-chuc-lien-hoan-van-nghe-quan-chung-chao-mung-ky-niem-73-nam-724.html"
    );
    assert_eq!(get(party.clone()).await.status(), 500);
    assert_eq!(get(gone.clone()).await.status(), 200);

    server.switch(snapshot("s2"));
    assert_eq!(server.addr(), before);
    let listing = get(party).await;
    assert_eq!(listing.status(), 200);
    let body = listing.bytes().await.unwrap();
    let expected = expected_body("s2", "bode", "/tin-tuc/chuyen-muc/cong-tac-dang", &base);
    assert_eq!(&body[..], &expected[..]);
    let deleted = get(gone).await;
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    assert!(contains(
        &deleted.bytes().await.unwrap(),
        format!("{base}/").as_bytes()
    ));

    // An unchanged page keeps its validator across snapshots; a changed one does not.
    let unchanged = route("s1", "bode", "/gioi-thieu.html")["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let same = client()
        .get(format!("{base}/gioi-thieu.html"))
        .header(IF_NONE_MATCH, unchanged)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
    let old = route("s1", "bode", "/tin-tuc/tin-moi-nhat?page=2")["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let changed = client()
        .get(format!("{base}/tin-tuc/tin-moi-nhat?page=2"))
        .header(IF_NONE_MATCH, old)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn request_log_keeps_arrival_order() {
    let server = start("s1").await;
    let targets = [
        "/robots.txt",
        "/",
        "/Default.aspx?tabid=118&CurrentPage=2&sid=04bb18",
        "/nope",
    ];
    for target in targets {
        get(format!("{}{target}", server.site_base("phucdong"))).await;
    }
    client()
        .get(format!("{}/robots.txt", server.site_base("bode")))
        .header(IF_MODIFIED_SINCE, "Sun, 05 Feb 2023 23:00:00 GMT")
        .send()
        .await
        .unwrap();

    let log = server.request_log();
    let seen: Vec<(&str, &str, u16)> = log
        .iter()
        .map(|r| (r.site.as_str(), r.target.as_str(), r.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("phucdong", "/robots.txt", 200),
            ("phucdong", "/", 200),
            (
                "phucdong",
                "/Default.aspx?tabid=118&CurrentPage=2&sid=04bb18",
                200
            ),
            ("phucdong", "/nope", 404),
            ("bode", "/robots.txt", 200),
        ]
    );
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(
        log.iter()
            .all(|r| r.user_agent.as_deref() == Some("wardfeed-test/1"))
    );
    assert_eq!(
        log.iter().map(|r| r.conditional).collect::<Vec<_>>(),
        [false, false, false, false, true]
    );
    assert_eq!(server.stats().requests, 5);
    assert_eq!(server.stats().by_status.get(&404), Some(&1));

    server.reset_stats();
    assert_eq!(server.stats(), Default::default());
    assert!(server.request_log().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn overrides_replace_route_answers() {
    let server = start("s1").await;
    let base = server.site_base("bode");
    let home = "/tin-tuc/tin-moi-nhat?page=2";

    server
        .set_override(
            "bode",
            home,
            Override::Respond {
                status: 500,
                body: Bytes::from_static(b"boom at {{BASE}}"),
                headers: vec![("Retry-After".into(), "120".into())],
            },
        )
        .unwrap();
    let failed = get(format!("{base}{home}")).await;
    assert_eq!(failed.status(), 500);
    assert_eq!(failed.headers()["retry-after"], "120");
    assert_eq!(failed.text().await.unwrap(), format!("boom at {base}"));

    // The slow listing loses its delay, proving Delay replaces delay_ms.
    server
        .set_override(
            "bode",
            "/tin-tuc/tin-moi-nhat",
            Override::Delay(Duration::ZERO),
        )
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        get(format!("{base}/tin-tuc/tin-moi-nhat")).await.status(),
        200
    );
    assert!(started.elapsed() < Duration::from_millis(2500));

    server.set_override("bode", "/", Override::Hang).unwrap();
    let timeout = client()
        .get(format!("{base}/"))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("a hung route must time out");
    assert!(timeout.is_timeout(), "{timeout}");
    assert_eq!(server.request_log().last().map(|r| r.status), Some(0));

    let bad = server.set_override(
        "bode",
        "/",
        Override::Respond {
            status: 1000,
            body: Bytes::new(),
            headers: vec![],
        },
    );
    assert!(matches!(bad, Err(PortalError::Override(_))));

    server.clear_overrides();
    assert_eq!(get(format!("{base}{home}")).await.status(), 200);
    assert_eq!(get(format!("{base}/")).await.status(), 200);

    // A request still hanging must not hold shutdown hostage.
    server.set_override("bode", "/", Override::Hang).unwrap();
    let hung = tokio::spawn(client().get(format!("{base}/")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    if let Ok(Ok(response)) = hung.await {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test]
async fn embedded_snapshot_serves_like_a_directory() {
    let routes = r#"[{"path": "/a?x=1", "file": "a.html", "status": 200,
        "content_type": "text/html", "delay_ms": 0, "etag": null, "last_modified": null,
        "headers": {"X-Base": "{{BASE}}"}}]"#;
    let snapshot = Snapshot::from_files([
        ("w/routes.json".to_string(), Bytes::from(routes)),
        (
            "w/a.html".to_string(),
            Bytes::from_static(b"<a href=\"{{BASE}}/b\">\xfd</a>"),
        ),
    ])
    .unwrap();
    assert_eq!(snapshot.sites(), ["w"]);
    let server = PortalServer::start(snapshot).await.unwrap();
    let base = server.site_base("w");
    let response = get(format!("{base}/a?x=1")).await;
    assert_eq!(response.headers()["x-base"], base.as_str());
    let body = response.bytes().await.unwrap();
    assert_eq!(
        &body[..],
        [b"<a href=\"", base.as_bytes(), b"/b\">\xfd</a>"].concat()
    );
    server.shutdown().await;
}

#[test]
fn load_errors_name_the_path() {
    let route = |extra: &str| {
        format!(
            r#"[{{"path": "/", "file": "pages/x.html", "status": 200, "content_type": null{extra}}}]"#
        )
    };
    let load = |json: String| {
        Snapshot::from_files([("w/routes.json".to_string(), Bytes::from(json))]).unwrap_err()
    };

    let missing = load(route(""));
    assert!(
        matches!(missing, PortalError::MissingFile { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("w/pages/x.html"), "{missing}");

    let invalid = load("[{".to_string());
    assert!(matches!(invalid, PortalError::Parse { .. }), "{invalid}");
    assert!(
        invalid.to_string().starts_with("parse w/routes.json"),
        "{invalid}"
    );

    let typo = load(route(r#", "etgg": "\"a\"""#));
    assert!(matches!(typo, PortalError::Parse { .. }), "{typo}");
    let date = load(route(r#", "last_modified": "yesterday""#));
    assert!(date.to_string().contains("not an HTTP date"), "{date}");
    let escape = load(route("").replace("pages/x.html", "../../etc/passwd"));
    assert!(matches!(escape, PortalError::Route { .. }), "{escape}");

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-no-routes");
    std::fs::create_dir_all(dir.join("w")).unwrap();
    let _ = std::fs::remove_file(dir.join("w/routes.json"));
    let unread = Snapshot::load_dir(&dir).unwrap_err();
    assert!(matches!(unread, PortalError::Read { .. }), "{unread}");
    assert!(unread.to_string().contains("w/routes.json"), "{unread}");

    let nothing = Snapshot::from_files([]).unwrap_err();
    assert!(matches!(nothing, PortalError::Load { .. }), "{nothing}");
}
