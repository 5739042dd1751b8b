//! The fetcher against a loopback server that misbehaves on request: compression, size caps,
//! redirect loops, hangs, HTTP errors and charsets.

mod common;

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use common::serve;
use url::Url;
use wardfeed::config::FetchSettings;
use wardfeed::fetch::Fetcher;
use wardfeed::model::{ErrorKind, Validators};
use wardfeed_portal::{Override, PortalServer};

fn settings() -> FetchSettings {
    FetchSettings {
        max_body_bytes: 1024 * 1024,
        timeout: Duration::from_secs(5),
        ..FetchSettings::default()
    }
}

fn url(server: &PortalServer, target: &str) -> Url {
    Url::parse(&format!("{}{target}", server.site_base("phucloi"))).unwrap()
}

fn respond(
    server: &PortalServer,
    target: &str,
    status: u16,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    server
        .set_override(
            "phucloi",
            target,
            Override::Respond {
                status,
                body: Bytes::from(body),
                headers,
            },
        )
        .unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn gzip_and_brotli_bodies_are_decoded() {
    let server = serve("s1").await;
    let page = "<p>Phường Phúc Lợi</p>".repeat(100);
    respond(
        &server,
        "/gz",
        200,
        gzip(page.as_bytes()),
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "text/html; charset=utf-8"),
        ],
    );
    let mut br = Vec::new();
    brotli::BrotliCompress(&mut page.as_bytes(), &mut br, &Default::default()).unwrap();
    respond(
        &server,
        "/br",
        200,
        br,
        &[
            ("Content-Encoding", "br"),
            ("Content-Type", "text/html; charset=utf-8"),
        ],
    );
    let fetcher = Fetcher::new(&settings()).unwrap();
    for target in ["/gz", "/br"] {
        let fetched = fetcher
            .get(&url(&server, target), None, None)
            .await
            .unwrap();
        assert_eq!(fetched.html(None).text, page, "{target}");
    }
    let log = server.request_log();
    assert!(log.iter().all(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("wardfeed/"))
    }));
}

#[tokio::test]
async fn oversized_bodies_and_compression_bombs_hit_the_cap() {
    let server = serve("s1").await;
    respond(&server, "/big", 200, vec![b'x'; 3 * 1024 * 1024], &[]);
    respond(
        &server,
        "/bomb",
        200,
        gzip(&vec![0u8; 64 * 1024 * 1024]),
        &[("Content-Encoding", "gzip")],
    );
    let fetcher = Fetcher::new(&settings()).unwrap();
    for target in ["/big", "/bomb"] {
        let error = fetcher
            .get(&url(&server, target), None, None)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::TooLarge, "{target}: {error}");
    }
}

#[tokio::test]
async fn redirect_loops_timeouts_and_http_errors_are_classified() {
    let server = serve("s1").await;
    let looping = url(&server, "/loop").to_string();
    respond(&server, "/loop", 302, Vec::new(), &[("Location", &looping)]);
    server
        .set_override("phucloi", "/hang", Override::Hang)
        .unwrap();
    respond(
        &server,
        "/busy",
        503,
        b"busy".to_vec(),
        &[("Retry-After", "120")],
    );
    let fetcher = Fetcher::new(&settings()).unwrap();

    let error = fetcher
        .get(&url(&server, "/loop"), None, None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Redirects, "{error}");
    // A chain that loops further on names where it ended up, not where it started.
    let second = url(&server, "/hop2").to_string();
    respond(&server, "/hop1", 301, Vec::new(), &[("Location", &second)]);
    respond(&server, "/hop2", 302, Vec::new(), &[("Location", "hop2")]);
    let error = fetcher
        .get(&url(&server, "/hop1"), None, None)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "fetch {second}: redirect loop (redirected from {})",
            url(&server, "/hop1")
        )
    );
    let error = fetcher
        .get(
            &url(&server, "/hang"),
            Some(Duration::from_millis(300)),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(error.is_transient());
    let error = fetcher
        .get(&url(&server, "/busy"), None, None)
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.retry_after()),
        (Some(503), Some(Duration::from_secs(120)))
    );
    let error = fetcher
        .get(&url(&server, "/no-such-page"), None, None)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("fetch {}: HTTP 404", url(&server, "/no-such-page"))
    );
    assert!(!error.is_transient());
}

#[tokio::test]
async fn redirects_are_followed_to_the_final_url() {
    let server = serve("s1").await;
    let fetcher = Fetcher::new(&settings()).unwrap();
    let old = Url::parse(&format!(
        "{}/tin-tuc/le-hoi-2019.html",
        server.site_base("bode")
    ))
    .unwrap();
    let fetched = fetcher.get(&old, None, None).await.unwrap();
    assert!(
        fetched.url.as_str().ends_with(
            "/bode/tin-tuc/chi-tiet/le-hoi-truyen-thong-dinh-lang-bo-de-nam-2019-733.html"
        )
    );
}

#[tokio::test]
async fn windows_1258_pages_declared_in_meta_decode_to_vietnamese() {
    let server = serve("s1").await;
    let fetcher = Fetcher::new(&settings()).unwrap();
    let listing = Url::parse(&format!(
        "{}/Default.aspx?tabid=87",
        server.site_base("thachban")
    ))
    .unwrap();
    let fetched = fetcher.get(&listing, None, None).await.unwrap();
    assert_eq!(fetched.content_type.as_deref(), Some("text/html"));
    let text = wardfeed::normalize::clean_text(&fetched.html(None).text);
    assert!(
        text.contains("Hội nghị đại biểu nhân dân tổ dân phố số 13 năm 2023"),
        "not decoded"
    );
}

#[tokio::test]
async fn validators_turn_unchanged_pages_into_304s() {
    let server = serve("s1").await;
    let fetcher = Fetcher::new(&settings()).unwrap();
    let page = Url::parse(&format!("{}/gioi-thieu.html", server.site_base("bode"))).unwrap();
    let first = fetcher.get(&page, None, None).await.unwrap();
    assert_eq!(first.status, 200);
    assert!(first.validators.etag.is_some());
    let second = fetcher
        .get(&page, None, Some(&first.validators))
        .await
        .unwrap();
    assert!(second.not_modified());
    assert!(second.body.is_empty());
    let stale = Validators {
        etag: Some("\"other\"".into()),
        last_modified: None,
    };
    assert_eq!(
        fetcher.get(&page, None, Some(&stale)).await.unwrap().status,
        200
    );
}
