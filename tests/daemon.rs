//! The daemon as systemd runs it: sd_notify READY/RELOADING/STOPPING over NOTIFY_SOCKET,
//! SIGHUP reloads (a bad configuration is refused and the old one kept), SIGTERM drains and
//! exits 0; /metrics; and `wardfeed demo` serving judged feeds offline.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The fixture configuration with the portal's address filled in and Crawl-delays capped (this
/// test is about the process, not politeness).
fn write_config(dir: &Path, portal_base: &str) -> std::path::PathBuf {
    quick_config_file_with(dir, &[("${FIXTURES_BASE}", portal_base)])
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-s", name, &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every sd_notify datagram the daemon sends, read as they come (as systemd does: a notify
/// socket nobody reads fills up and blocks the sender).
struct Notifications {
    received: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Notifications {
    fn listen(socket: UnixDatagram) -> Notifications {
        let (sender, received) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buffer) {
                let datagram = String::from_utf8_lossy(&buffer[..n]).into_owned();
                if sender.send(datagram).is_err() {
                    return;
                }
            }
        });
        Notifications { received }
    }

    /// Waits (30 s at most) for a datagram with the line `wanted`; returns the datagrams up to
    /// it that came after the previous wait.
    async fn wait_for(&mut self, wanted: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut found = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.received.recv()).await {
                Ok(Some(datagram)) => {
                    let done = datagram.lines().any(|l| l == wanted);
                    found.push(datagram);
                    if done {
                        return found;
                    }
                }
                Ok(None) | Err(_) => panic!("no {wanted} in {found:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notify_reload_and_stop() {
    let portal = serve("s2").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &portal.base_url());
    let notify_path = dir.path().join("notify.sock");
    let mut notifications = Notifications::listen(UnixDatagram::bind(&notify_path).unwrap());
    let mut child = daemon_command(&config, &dir.path().join("store"))
        .env("NOTIFY_SOCKET", &notify_path)
        // systemd's watchdog, asking for a ping at least every 0.4 s.
        .env("WATCHDOG_USEC", "400000")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    let log = collect_log(stderr, |_| {});

    let ready = notifications.wait_for("READY=1").await;
    assert!(
        ready.last().unwrap().contains("STATUS=serving"),
        "{ready:?}"
    );
    notifications.wait_for("WATCHDOG=1").await;
    let base = dashboard_base(&mut stdout).await.expect("a dashboard line");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let client = http_client();
    // The first cycle runs at start; wait until every source has been refreshed.
    let refreshed = await_first_refreshes(&client, &base, 200, Duration::from_millis(100)).await;
    assert!(refreshed, "every source refreshed within 20 s");
    let health = get_text(&client, &format!("{base}/healthz")).await;
    assert_eq!(health.trim(), "ok");
    eprintln!("step: healthy");

    // A good reload: RELOADING=1 (with the monotonic time systemd wants), then READY=1.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("fixture world", "fixture world (reloaded)"),
    )
    .unwrap();
    signal(&child, "HUP");
    let reload: Vec<String> = notifications
        .wait_for("READY=1")
        .await
        .into_iter()
        .filter(|m| m != "WATCHDOG=1\n")
        .collect();
    assert!(reload[0].lines().any(|l| l == "RELOADING=1"), "{reload:?}");
    assert!(reload[0].contains("MONOTONIC_USEC="), "{reload:?}");
    assert_eq!(reload.len(), 2, "RELOADING then READY: {reload:?}");
    let page = get_text(&client, &format!("{base}/")).await;
    assert!(
        page.contains("fixture world (reloaded)"),
        "the reloaded title is served"
    );

    // A bad reload: refused, the old configuration kept, still READY.
    std::fs::write(&config, "[sources.broken]\nname = ").unwrap();
    signal(&child, "HUP");
    let refused = notifications.wait_for("READY=1").await;
    assert!(
        refused.iter().any(|m| m.contains("reload failed")),
        "{refused:?}"
    );
    let feed = client
        .get(format!("{base}/feeds/phucloi.rss"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);

    // SIGTERM: STOPPING=1, exit 0.
    signal(&child, "TERM");
    notifications.wait_for("STOPPING=1").await;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    let log = log.await.unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("configuration reload failed"), "{log}");
    let file_name = config.file_name().unwrap().to_string_lossy();
    assert!(
        log.contains(&format!("{file_name}:2:")),
        "the refused configuration's error is located: {log}"
    );
    assert!(log.contains("stopped"), "{log}");
}

/// In-process: the daemon on a listener of the test's own, configured and stopped through
/// its controls, no binary and no log to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_that_promtool_accepts() {
    use std::sync::Arc;
    use wardfeed::daemon::{self, Control, DaemonOptions};
    let portal = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &portal.base_url());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (controls, received) = tokio::sync::mpsc::channel(1);
    let options = DaemonOptions {
        load_config: Arc::new(move || {
            wardfeed::config::load(&config, &|_| None, wardfeed::extract::check_rules)
        }),
        listen: None,
        store: Some(dir.path().join("store")),
        clock: Arc::new(wardfeed::clock::SystemClock),
    };
    let running = tokio::spawn(daemon::run(options, Some(listener), received));
    let client = http_client();
    let refreshed = await_first_refreshes(&client, &base, 200, Duration::from_millis(100)).await;
    assert!(refreshed, "every source refreshed within 20 s");
    client
        .get(format!("{base}/feeds/all.rss"))
        .send()
        .await
        .unwrap();
    let metrics = get_text(&client, &format!("{base}/metrics")).await;
    for expected in [
        "wardfeed_fetches_total{outcome=\"500\",source=\"bode\"} 1",
        "wardfeed_source_up{source=\"bode\"} 0",
        "wardfeed_source_up{source=\"phucloi\"} 1",
        "wardfeed_items_new_total{source=\"phucloi\"} 41",
        "wardfeed_http_requests_total{route=\"feed\",status=\"200\"}",
    ] {
        assert!(metrics.contains(expected), "missing {expected}:\n{metrics}");
    }
    controls.send(Control::Stop).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the daemon drains within 30 s")
        .unwrap()
        .expect("a clean stop");

    if std::env::var_os("WARDFEED_SKIP_PROMTOOL").is_some() {
        return;
    }
    let promtool = ["promtool", "/usr/bin/promtool"].into_iter().find(|p| {
        std::process::Command::new(p)
            .arg("--version")
            .output()
            .is_ok()
    });
    let promtool = promtool.expect("promtool not found: install Debian's prometheus package (as .ci/run does), or set WARDFEED_SKIP_PROMTOOL=1 knowingly");
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let output = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_judged_feeds_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardfeed"))
        .args(["demo", "--store"])
        .arg(dir.path().join("store"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = dashboard_base(&mut stdout).await.unwrap_or_default();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let client = http_client();
    let refreshed = await_first_refreshes(&client, &base, 300, Duration::from_millis(200)).await;
    assert!(refreshed, "every source refreshed within 60 s");
    let page = get_text(&client, &format!("{base}/")).await;
    assert!(page.contains("Phường Phúc Lợi") && page.contains("<svg"));
    if !judges_wanted() {
        return;
    }
    let urls: Vec<String> = ["all", "phucloi", "thachban", "group/longbien"]
        .iter()
        .flat_map(|stem| ["rss", "atom", "json"].map(|ext| format!("{base}/feeds/{stem}.{ext}")))
        .collect();
    judge_feeds(&urls, 1).await;
    signal(&child, "TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// The daemon in-process on a listener of the test's own, reading `config` at start and at
/// each reload; its base URL, its controls and its task.
async fn start_in_process(
    config: std::path::PathBuf,
    store: std::path::PathBuf,
) -> (
    String,
    tokio::sync::mpsc::Sender<wardfeed::daemon::Control>,
    tokio::task::JoinHandle<Result<(), wardfeed::daemon::DaemonError>>,
) {
    use std::sync::Arc;
    use wardfeed::daemon::{self, DaemonOptions};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (controls, received) = tokio::sync::mpsc::channel(16);
    let options = DaemonOptions {
        load_config: Arc::new(move || {
            wardfeed::config::load(&config, &|_| None, wardfeed::extract::check_rules)
        }),
        listen: None,
        store: Some(store),
        clock: Arc::new(wardfeed::clock::SystemClock),
    };
    let running = tokio::spawn(daemon::run(options, Some(listener), received));
    (base, controls, running)
}

/// A value of one series of `/metrics` text (0 when absent).
fn series(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn stop_in_process(
    controls: tokio::sync::mpsc::Sender<wardfeed::daemon::Control>,
    running: tokio::task::JoinHandle<Result<(), wardfeed::daemon::DaemonError>>,
) {
    controls
        .send(wardfeed::daemon::Control::Stop)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the daemon drains within 60 s")
        .unwrap()
        .expect("a clean stop");
}

/// SIGHUP (the CLI forwards it as `Control::Reload`) while every source still waits out its
/// start-up jitter: each first run still happens, now (before, the reload cancelled them and
/// the feeds stayed empty until the next cron slot, 30 min later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_the_start_up_jitter_keeps_every_first_run() {
    let portal = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let config = quick_config_file_with(
        dir.path(),
        &[
            ("${FIXTURES_BASE}", &portal.base_url()),
            ("jitter_secs = 0", "jitter_secs = 4"),
        ],
    );
    let (base, controls, running) = start_in_process(config, dir.path().join("store")).await;
    controls
        .send(wardfeed::daemon::Control::Reload)
        .await
        .unwrap();
    let client = http_client();
    let metrics = get_text(&client, &format!("{base}/metrics")).await;
    let before_reload = SITES
        .iter()
        .filter(|s| metrics.contains(&format!("wardfeed_refreshes_total{{source=\"{s}\"}}")))
        .count();
    assert!(
        before_reload < SITES.len(),
        "every source refreshed before the reload: the test proves nothing"
    );
    let refreshed = await_first_refreshes(&client, &base, 600, Duration::from_millis(100)).await;
    assert!(
        refreshed,
        "every source refreshed within 60 s of a reload during the jitter"
    );
    stop_in_process(controls, running).await;
}

/// Reloads while a source's refresh is running (bode's listing answers after 3 s; its
/// schedule fires every second): never two refreshes of it at once, and the reloaded fetch
/// settings are applied to the next refresh — a new User-Agent reaches the portal, a smaller
/// body cap refuses bode's pages (before, the HTTP client was never rebuilt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_during_a_refresh_never_overlap_it_and_apply_fetch_settings() {
    let portal = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let edits = |user_agent: &str, max_body: &str| {
        quick_config_file_with(
            dir.path(),
            &[
                ("${FIXTURES_BASE}", &portal.base_url()),
                (
                    "[sources.bode]\n",
                    "[sources.bode]\nschedule = \"* * * * * *\"\n",
                ),
                (
                    "jitter_secs = 0\n",
                    &format!(
                        "jitter_secs = 0\nuser_agent = \"{user_agent}\"\nmax_body_bytes = {max_body}\n"
                    ),
                ),
            ],
        )
    };
    let config = edits("wardfeed-test/1", "8388608");
    let (base, controls, running) = start_in_process(config, dir.path().join("store")).await;
    let client = http_client();
    let in_flight = "wardfeed_source_refreshes_in_flight{source=\"bode\"}";
    let metrics_now = || {
        let (client, url) = (client.clone(), format!("{base}/metrics"));
        async move { get_text(&client, &url).await }
    };
    let mut most = 0.0f64;
    let mut seen_running = false;
    for _ in 0..600 {
        let value = series(&metrics_now().await, in_flight);
        most = most.max(value);
        if value >= 1.0 {
            seen_running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen_running, "bode never started refreshing");
    let reloaded_at = std::time::Instant::now();
    edits("wardfeed-reloaded/2", "1000");
    for _ in 0..6 {
        controls
            .send(wardfeed::daemon::Control::Reload)
            .await
            .unwrap();
        for _ in 0..6 {
            most = most.max(series(&metrics_now().await, in_flight));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Watch until bode has refreshed with the new settings: a listing of 5,000 bytes (asked
    // again unconditionally) is refused as too large.
    portal
        .set_override(
            "bode",
            "/tin-tuc/tin-moi-nhat",
            wardfeed_portal::Override::Respond {
                status: 200,
                body: "<html><body>".repeat(420).into(),
                headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
            },
        )
        .unwrap();
    let too_large = "wardfeed_fetches_total{outcome=\"too_large\",source=\"bode\"}";
    let mut applied = false;
    for _ in 0..1200 {
        let metrics = metrics_now().await;
        most = most.max(series(&metrics, in_flight));
        if series(&metrics, too_large) >= 1.0 {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        applied,
        "the reloaded max_body_bytes was never applied:\n{}",
        metrics_now()
            .await
            .lines()
            .filter(|l| l.contains("bode"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(most, 1.0, "two refreshes of bode ran at once");
    let agents: Vec<(bool, Option<String>)> = portal
        .request_log()
        .into_iter()
        .filter(|r| r.site == "bode")
        .map(|r| (r.at > reloaded_at, r.user_agent))
        .collect();
    assert!(
        agents
            .iter()
            .any(|(after, ua)| *after && ua.as_deref() == Some("wardfeed-reloaded/2")),
        "the reloaded user_agent never reached the portal: {agents:?}"
    );
    stop_in_process(controls, running).await;
}
