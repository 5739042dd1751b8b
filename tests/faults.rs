//! The fault suite: a running daemon whose sources start misbehaving in every way a web
//! server can. Each failing source records the right error kind and keeps its items; every
//! feed stays complete and passes the judges; memory stays bounded; recovery is noticed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use wardfeed_portal::{Override, PortalServer};

/// The fixture configuration for a fast-cycling daemon: a refresh every 3 s, 5 s timeouts,
/// a 2 MiB body cap, no retries, no Crawl-delay.
fn write_config(dir: &Path, portal_base: &str) -> std::path::PathBuf {
    quick_config_file_with(
        dir,
        &[
            ("${FIXTURES_BASE}", portal_base),
            (
                "timeout_secs = 20",
                "timeout_secs = 5\nmax_body_bytes = 2097152",
            ),
            (
                "schedule = \"0 */30 * * * *\"",
                "schedule = \"*/3 * * * * *\"",
            ),
        ],
    )
}

/// Deterministic noise.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

fn respond(status: u16, body: Vec<u8>, headers: &[(&str, &str)]) -> Override {
    Override::Respond {
        status,
        body: Bytes::from(body),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Every fault, by site and target, with the error kind its listing must record.
fn inject_faults(portal: &PortalServer) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let html = &[("Content-Type", "text/html; charset=utf-8")];
    let fixture = |site: &str, file: &str| {
        std::fs::read(fixtures_dir().join("s2").join(site).join(file)).unwrap()
    };
    let mut faults: Vec<(&str, &str, Override, Option<&str>)> = vec![
        // phucloi: a redesign, a 10 MB page, a body that never ends.
        (
            "phucloi",
            "/tin-tuc/tin-moi-nhat",
            respond(
                200,
                "<html><body><div class=\"tin-tuc\"><p>Giao diện mới</p></div></body></html>"
                    .as_bytes()
                    .to_vec(),
                html,
            ),
            Some("layout_changed"),
        ),
        (
            "phucloi",
            "/tin-tuc/chuyen-muc/bai-viet-chuyen-sau",
            respond(200, vec![b'a'; 10 * 1024 * 1024], html),
            Some("too_large"),
        ),
        (
            "phucloi",
            "/tin-tuc/chuyen-muc/cong-tac-dang",
            Override::Endless {
                content_type: "text/html".into(),
            },
            Some("too_large"),
        ),
        // phucdong: a hang past the timeout, a redirect loop, a compression bomb.
        (
            "phucdong",
            "/Default.aspx?tabid=118",
            Override::Hang,
            Some("timeout"),
        ),
        (
            "phucdong",
            "/Default.aspx?tabid=120",
            respond(
                302,
                Vec::new(),
                &[("Location", "{{BASE}}/Default.aspx?tabid=120")],
            ),
            Some("redirects"),
        ),
        (
            "phucdong",
            "/Default.aspx?tabid=125",
            respond(
                200,
                gzip_bomb(),
                &[("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
            ),
            Some("too_large"),
        ),
        // bode: a broken robots.txt (which must not stop it), a server error, a truncated page.
        (
            "bode",
            "/robots.txt",
            respond(
                200,
                random_bytes(3000, 7),
                &[("Content-Type", "text/plain")],
            ),
            None,
        ),
        (
            "bode",
            "/tin-tuc/tin-moi-nhat",
            respond(
                500,
                b"<html><body>500 Internal Server Error</body></html>".to_vec(),
                html,
            ),
            Some("http"),
        ),
        (
            "bode",
            "/tin-tuc/chuyen-muc/cong-tac-dang",
            {
                let page = fixture("bode", "pages/cong-tac-dang-p1.html");
                respond(200, page[..page.len() / 2].to_vec(), html)
            },
            Some("truncated"),
        ),
        // thachban: windows-1258 bytes declared as UTF-8; random binary bytes as a page.
        (
            "thachban",
            "/Default.aspx?tabid=87",
            respond(
                200,
                fixture("thachban", "pages/tin-tuc-su-kien-p1.html"),
                html,
            ),
            Some("encoding"),
        ),
        (
            "thachban",
            "/Default.aspx?tabid=88",
            respond(200, random_bytes(40_000, 11), html),
            Some("encoding"),
        ),
        // longbien: its RSS feed replaced by binary noise.
        (
            "longbien",
            "/rss/tin-tuc-su-kien.rss",
            respond(
                200,
                random_bytes(20_000, 13),
                &[("Content-Type", "application/rss+xml")],
            ),
            Some("feed_parse"),
        ),
    ];
    let mut expected: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    for (site, target, fault, kind) in faults.drain(..) {
        portal.set_override(site, target, fault).unwrap();
        let site: &'static str = SITES.iter().find(|s| **s == site).unwrap();
        let entry = expected.entry(site).or_default();
        if let Some(kind) = kind {
            entry.insert(kind);
        }
    }
    expected
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    serde_json::from_str(&get_text(client, url).await).unwrap()
}

/// One source's entry in `/status.json`.
fn status_of(status: &Value, id: &str) -> Value {
    status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
        .clone()
}

/// Polls `/status.json` (up to `polls` times, 100 ms apart) until every source is `ok`;
/// whether they all were.
async fn await_all_ok(client: &reqwest::Client, base: &str, polls: usize) -> bool {
    for _ in 0..polls {
        let status = get_json(client, &format!("{base}/status.json")).await;
        if SITES
            .iter()
            .all(|s| status_of(&status, s)["status"] == "ok")
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The item URLs of a source's feed.
async fn feed_urls(client: &reqwest::Client, base: &str, source: &str) -> BTreeSet<String> {
    let feed = get_json(client, &format!("{base}/feeds/{source}.json")).await;
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["url"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_named_contained_and_survived() {
    let portal = serve("s2").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &portal.base_url());
    let mut child = daemon_command(&config, &dir.path().join("store"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = dashboard_base(&mut stdout).await.expect("a dashboard line");
    let client = http_client();

    // A good first cycle.
    assert!(
        await_all_ok(&client, &base, 300).await,
        "every source ok before the faults"
    );
    let mut baseline = BTreeMap::new();
    for site in SITES {
        let urls = feed_urls(&client, &base, site).await;
        assert_eq!(
            urls.len(),
            truth("s2", site).len(),
            "{site} before the faults"
        );
        baseline.insert(*site, urls);
    }

    // Everything breaks at once.
    let expected = inject_faults(&portal);
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut status = Value::Null;
    for _ in 0..400 {
        status = get_json(&client, &format!("{base}/status.json")).await;
        seen = SITES
            .iter()
            .map(|site| {
                let kinds = status_of(&status, site)["failures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["kind"].as_str().unwrap().to_owned())
                    .collect();
                (site.to_string(), kinds)
            })
            .collect();
        let done = expected.iter().all(|(site, kinds)| {
            let got = &seen[*site];
            kinds.iter().all(|k| got.contains(*k))
        });
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (site, kinds) in &expected {
        let want: BTreeSet<String> = kinds.iter().map(|k| k.to_string()).collect();
        assert_eq!(seen[*site], want, "{site}: {}", status_of(&status, site));
    }
    // bode's garbage robots.txt allowed everything: its empty category still answered.
    assert!(
        status_of(&status, "bode")["empty_listings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "van-hoa-xa-hoi")
    );
    let health = get_text(&client, &format!("{base}/healthz")).await;
    assert!(health.starts_with("degraded:"), "{health}");

    // Every source still serves every item it had, in feeds the judges accept.
    for site in SITES {
        assert_eq!(
            feed_urls(&client, &base, site).await,
            baseline[site],
            "{site} lost items"
        );
    }
    if judges_wanted() {
        let urls: Vec<String> = SITES
            .iter()
            .chain(&["all"])
            .flat_map(|stem| {
                ["rss", "atom", "json"].map(|ext| format!("{base}/feeds/{stem}.{ext}"))
            })
            .collect();
        judge_feeds(&urls, 1).await;
    }

    // Memory: the 10 MB page, the endless body and the 64 MB bomb were all cut at the cap.
    let peak = proc_status_kib(pid, "VmHWM:").unwrap();
    let now = proc_status_kib(pid, "VmRSS:").unwrap();
    eprintln!(
        "daemon memory under faults: peak {} MiB, now {} MiB",
        peak / 1024,
        now / 1024
    );
    assert!(
        peak < 400 * 1024,
        "resident memory peaked at {} MiB",
        peak / 1024
    );

    // The faults end; the next cycles notice.
    portal.clear_overrides();
    assert!(
        await_all_ok(&client, &base, 400).await,
        "every source ok again after the faults"
    );
    let health = get_text(&client, &format!("{base}/healthz")).await;
    assert_eq!(health.trim(), "ok");
    let incidents = get_text(&client, &format!("{base}/feeds/incidents.atom")).await;
    let names = polite_fixture_config(&portal);
    for site in SITES {
        let name = &names.source(site).expect("a fixture source").name;
        let recovered = ["lỗi một phần", "lỗi"]
            .iter()
            .any(|from| incidents.contains(&format!("{name}: {from} → bình thường")));
        assert!(
            recovered,
            "{site}'s recovery is missing from the incident feed"
        );
    }
    let _ = child.start_kill();
}
