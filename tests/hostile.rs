//! Hostile pages against the real daemon: 100,000 nested `<div>`s on two sources' articles
//! at once, a listing of 190,000 items, an article with a 1 MB title and a 5 MB body. The
//! daemon keeps answering HTTP throughout (each request of a steady reader answered), every
//! refresh ends, what was cut says so in the log, what is stored is bounded, memory too, and
//! SIGTERM still stops it (issue 12, findings 4, 5 and 12).

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use wardfeed_portal::Override;

fn html(body: String) -> Override {
    Override::Respond {
        status: 200,
        body: Bytes::from(body),
        headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
    }
}

/// A PORTAL-template article page with this title and body.
fn article(title: &str, body: &str) -> String {
    format!(
        "<html><body><div class=\"article-detail\"><h1 class=\"article-title\">{title}</h1><div class=\"article-body\">{body}</div></div></body></html>"
    )
}

/// The first item of `site` in snapshot s1 (in `category`, when given): its path.
fn first_article(site: &str, category: Option<&str>) -> String {
    truth("s1", site)
        .into_iter()
        .find(|t| category.is_none_or(|c| t.categories == [c]))
        .expect("a fixture article")
        .url_path
}

/// Requests `path` every 50 ms until `stop`; returns (answered, failed or slower than 10 s).
fn steady_reader(
    base: String,
    paths: &'static [&'static str],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let client = http_client();
        let (mut answered, mut failures) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            for path in paths {
                let request = client.get(format!("{base}{path}")).send();
                match tokio::time::timeout(Duration::from_secs(10), request).await {
                    Ok(Ok(response)) if response.status() == 200 => answered += 1,
                    Ok(Ok(response)) => failures.push(format!("{path}: {}", response.status())),
                    Ok(Err(error)) => failures.push(format!("{path}: {error}")),
                    Err(_) => failures.push(format!("{path}: no answer within 10 s")),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (answered, failures)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_pages_neither_freeze_the_daemon_nor_bloat_it() {
    let portal = serve("s1").await;
    let nested = format!(
        "{}deep{}",
        "<div>".repeat(100_000),
        "</div>".repeat(100_000)
    );
    for site in ["phucloi", "bode"] {
        portal
            .set_override(
                site,
                &first_article(site, None),
                html(article("Sâu", &nested)),
            )
            .unwrap();
    }
    // 190,000 entries (13 MB) on one page of longbien's "Tin từ các phường".
    let mut listing = String::from("<html><body><div class=\"news-list\">");
    for i in 0..190_000 {
        listing.push_str(&format!(
            "<div class=news-item><h3 class=news-title><a href=x-{i}.html>Tin {i}</a></h3></div>"
        ));
    }
    listing.push_str("</div></body></html>");
    portal
        .set_override("longbien", "/tin-tuc/chuyen-muc/tin-phuong", html(listing))
        .unwrap();
    let big = first_article("longbien", Some("công tác đảng"));
    let title = "Tiêu đề ".repeat(130_000); // 1.3 MB
    let body = "<p>Nội dung bài viết rất dài.</p>".repeat(150_000); // 5.4 MB
    portal
        .set_override("longbien", &big, html(article(&title, &body)))
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = quick_config_file_with(
        dir.path(),
        &[
            ("${FIXTURES_BASE}", &portal.base_url()),
            (
                "timeout_secs = 20",
                "timeout_secs = 20\nmax_body_bytes = 16777216",
            ),
        ],
    );
    let mut child = daemon_command(&config, &dir.path().join("store"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut all = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push(line);
        }
        all
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = dashboard_base(&mut stdout).await.expect("a dashboard line");
    let client = http_client();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = steady_reader(
        base.clone(),
        &["/healthz", "/feeds/thachban.rss"],
        Arc::clone(&stop),
    );
    // A frozen daemon would hold the metrics request too: bounded here, not left to hang.
    let refreshed = tokio::time::timeout(
        Duration::from_secs(240),
        await_first_refreshes(&client, &base, 900, Duration::from_millis(200)),
    )
    .await
    .unwrap_or(false);
    stop.store(true, Ordering::Relaxed);
    let (answered, failures) = reader.await.unwrap();
    assert!(refreshed, "every source refreshed once within 3 minutes");
    assert!(
        failures.is_empty(),
        "HTTP stalled while hostile pages were read: {failures:?}"
    );
    eprintln!("{answered} reader requests answered during the first cycle");

    let status: Value =
        serde_json::from_str(&get_text(&client, &format!("{base}/status.json")).await).unwrap();
    let stored = |id: &str| {
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["items_stored"]
            .as_u64()
            .unwrap()
    };
    // The 190,000-entry listing gave at most 1,000 entries.
    let longbien_rest = truth("s1", "longbien")
        .iter()
        .filter(|t| !t.categories.iter().all(|c| c == "tin từ các phường"))
        .count() as u64;
    assert!(
        stored("longbien") <= longbien_rest + 1000,
        "longbien stored {}",
        stored("longbien")
    );
    // The nested articles' items are there, with the listing's data.
    assert_eq!(stored("phucloi"), truth("s1", "phucloi").len() as u64);
    assert_eq!(stored("bode"), truth("s1", "bode").len() as u64);

    // The 1.3 MB title and 5.4 MB body were cut.
    let feed: Value = serde_json::from_str(
        &get_text(
            &client,
            &format!("{base}/feeds/longbien/cong-tac-dang.json?limit=200"),
        )
        .await,
    )
    .unwrap();
    let item = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["url"].as_str().unwrap().ends_with(&big))
        .expect("the long article's item");
    let title = item["title"].as_str().unwrap();
    assert_eq!(
        title.chars().count(),
        1001,
        "1,000 characters and an ellipsis"
    );
    assert!(title.ends_with('…'));
    let content = item["content_html"].as_str().unwrap();
    assert!(
        content.len() < 300 * 1024 && content.contains("Nội dung bài viết"),
        "{} bytes of body",
        content.len()
    );

    let peak = proc_status_kib(pid, "VmHWM:").unwrap();
    eprintln!(
        "daemon memory under hostile pages: peak {} MiB",
        peak / 1024
    );

    // SIGTERM still stops it, in time.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exit within 30 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let log = log.await.unwrap().join("\n");
    for expected in [
        "page cut after",
        "its elements nest more than 512 deep",
        "only the first 1000 entries of the listing are read",
        "title cut to 1000 of",
        "body cut to its first",
        "article pages not fetched this refresh: a refresh fetches at most 1000 articles",
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
    assert!(
        peak < 400 * 1024,
        "resident memory peaked at {} MiB",
        peak / 1024
    );
}
