//! Shared test support: the fixture world served on loopback, its configuration, and its truth.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use wardfeed::clock::{Clock, ManualClock};
use wardfeed::config::{self, Config, Source};
use wardfeed::fetch::Crawler;
use wardfeed::pipeline::{self, SourceScrape};
use wardfeed::serve::AppState;
use wardfeed::store::Store;
use wardfeed_portal::{PortalServer, Snapshot};

mod judges;
pub mod score;
#[allow(unused_imports)] // only the tests that judge feeds use it
pub use judges::*;

pub const SITES: &[&str] = &["longbien", "phucloi", "phucdong", "bode", "thachban"];

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/portal")
}

pub fn snapshot(name: &str) -> Snapshot {
    Snapshot::load_dir(&fixtures_dir().join(name))
        .unwrap_or_else(|e| panic!("load snapshot {name}: {e}"))
}

/// A fixture server on 127.0.0.1:0 serving snapshot `name`.
pub async fn serve(name: &str) -> PortalServer {
    PortalServer::start(snapshot(name))
        .await
        .expect("start fixture server")
}

/// `config/fixtures.toml` pointed at `server`, as it is: robots.txt Crawl-delay honoured.
pub fn polite_fixture_config(server: &PortalServer) -> Config {
    let base = server.base_url();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fixtures.toml");
    config::load(
        &path,
        &move |name| match name {
            "FIXTURES_BASE" => Some(base.clone()),
            _ => None,
        },
        wardfeed::extract::check_rules,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `config/fixtures.toml` pointed at `server`, with Crawl-delays capped to nothing, for tests
/// that are about what is extracted, not how politely (robots.txt rules still hold).
pub fn fixture_config(server: &PortalServer) -> Config {
    let mut config = polite_fixture_config(server);
    config.fetch.max_crawl_delay = std::time::Duration::ZERO;
    config.fetch.retries = 0;
    config
}

/// The wall time, in Hà Nội: when a test scrapes without a ledger (the fixture world's
/// dates all lie in the past, so none is held to be in the future).
pub fn now() -> chrono::DateTime<chrono::FixedOffset> {
    wardfeed::normalize::date::in_zone(chrono::Utc::now(), chrono_tz::Asia::Ho_Chi_Minh)
}

pub async fn scrape_all(config: &Config) -> Vec<SourceScrape> {
    let crawler = Crawler::new(&config.fetch).expect("crawler");
    let sources: Vec<Arc<Source>> = config.sources.clone();
    futures_util::future::join_all(
        sources
            .iter()
            .map(|s| pipeline::scrape_source(&crawler, s, now())),
    )
    .await
}

/// One item of `expected/sN/<site>.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct TruthItem {
    pub site: String,
    pub url_path: String,
    pub title: String,
    pub published: String,
    pub categories: Vec<String>,
    pub views: Option<u64>,
    pub summary: Option<String>,
    pub image_path: Option<String>,
    pub body_contains: Vec<String>,
    pub body_excludes: Vec<String>,
    pub article_status: u16,
}

pub fn truth(snapshot: &str, site: &str) -> Vec<TruthItem> {
    let path = fixtures_dir().join(format!("expected/{snapshot}/{site}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TruthSource {
    pub site: String,
    pub url_path: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthStory {
    pub title: String,
    pub published: String,
    pub sources: Vec<TruthSource>,
}

pub fn combined_truth(snapshot: &str) -> Vec<TruthStory> {
    let path = fixtures_dir().join(format!("expected/{snapshot}/combined.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// `url` made relative to the site's BASE, as the truth files write it.
pub fn url_path(server: &PortalServer, site: &str, url: &str) -> String {
    let base = server.site_base(site);
    url.strip_prefix(&base)
        .unwrap_or_else(|| panic!("{url} is not under {base}"))
        .to_owned()
}

/// The instant each fixture snapshot depicts.
pub fn snapshot_time(snapshot: &str) -> chrono::DateTime<chrono::FixedOffset> {
    match snapshot {
        "s1" => chrono::DateTime::parse_from_rfc3339("2023-02-06T08:00:00+07:00").unwrap(),
        _ => chrono::DateTime::parse_from_rfc3339("2023-03-06T08:00:00+07:00").unwrap(),
    }
}

/// Refreshes every source of `config` into `store` at `now`.
pub async fn refresh_all(
    config: &Config,
    store: &Arc<Store>,
    now: chrono::DateTime<chrono::FixedOffset>,
) {
    let crawler = Crawler::new(&config.fetch).expect("crawler");
    for refresh in futures_util::future::join_all(
        config
            .sources
            .iter()
            .map(|source| pipeline::refresh(&crawler, store, source, now)),
    )
    .await
    {
        refresh.expect("refresh");
    }
}

/// wardfeed's HTTP server, in-process on 127.0.0.1:0.
pub struct App {
    pub base: String,
    pub state: Arc<AppState>,
    pub clock: Arc<ManualClock>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl App {
    pub async fn start(
        config: Config,
        store: Arc<Store>,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let clock = Arc::new(ManualClock::new(now.to_utc()));
        let state = Arc::new(AppState::new(
            Arc::new(config),
            store,
            base.clone(),
            Arc::clone(&clock) as Arc<dyn Clock>,
        ));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(wardfeed::serve::run(
            listener,
            Arc::clone(&state),
            async move {
                let _ = rx.await;
            },
        ));
        App {
            base,
            state,
            clock,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// A client that never follows redirects, never decompresses by itself, only talks to loopback.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_proxy()
        .build()
        .unwrap()
}

/// The dashboard's base URL (no trailing slash) that a `wardfeed run` or `demo` child prints as
/// `dashboard: URL`; the lines before it are passed over. `None` if its stdout ends first.
pub async fn dashboard_base(
    stdout: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> Option<String> {
    while let Ok(Some(line)) = stdout.next_line().await {
        if let Some(url) = line.strip_prefix("dashboard:") {
            return Some(url.trim().trim_end_matches('/').to_owned());
        }
    }
    None
}

/// Reads a child's stderr to its end in a task, handing each line to `on_line` as it comes;
/// the task's value is the whole log, for assertions once the child has exited.
pub fn collect_log(
    stderr: tokio::process::ChildStderr,
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    use tokio::io::AsyncBufReadExt;
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut all = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            on_line(&line);
            all.push_str(&line);
            all.push('\n');
        }
        all
    })
}

/// `wardfeed run` on an ephemeral loopback port over `config` and `store`, stdout piped (it
/// prints the dashboard line `dashboard_base` reads), killed when dropped; the caller adds its
/// environment and stderr and spawns it.
pub fn daemon_command(config: &Path, store: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wardfeed"));
    command
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// GETs `url`, expecting a 200, and returns the body as text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.text().await.unwrap()
}

/// The value of one series (name and labels exactly as exposed) in a `/metrics` text, if it
/// is there.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Polls `/metrics` at `base` until it counts a first refresh of every fixture source, at most
/// `polls` times, `pause` apart; whether it saw them all. A source already refreshed again
/// counts too: the fixture config's schedule fires at minutes 0 and 30 of the wall clock, and a
/// run that starts just before one saw its counts go from 0 to 2 between two polls.
pub async fn await_first_refreshes(
    client: &reqwest::Client,
    base: &str,
    polls: usize,
    pause: std::time::Duration,
) -> bool {
    for _ in 0..polls {
        let metrics = get_text(client, &format!("{base}/metrics")).await;
        let refreshed = |site: &str| {
            metric_value(
                &metrics,
                &format!("wardfeed_refreshes_total{{source=\"{site}\"}}"),
            )
            .is_some_and(|count| count >= 1.0)
        };
        if SITES.iter().all(|s| refreshed(s)) {
            return true;
        }
        tokio::time::sleep(pause).await;
    }
    false
}

/// A field of `/proc/PID/status` in kB (`VmRSS:`, `VmHWM:`), when the process and field exist.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Every feed URL path the fixture configuration offers: per source, per category, per group,
/// combined; in the three formats. The flag says whether the feed may be empty.
pub fn feed_paths(config: &Config) -> Vec<(String, bool)> {
    let mut stems: Vec<(String, bool)> = vec![("all".into(), false)];
    let mut groups: Vec<&str> = Vec::new();
    for source in &config.sources {
        stems.push((source.id.to_string(), false));
        for category in &source.categories {
            // bode's "Văn hóa - Xã hội" listing is empty in the fixture world.
            let empty = source.id.as_str() == "bode" && category.slug == "van-hoa-xa-hoi";
            stems.push((format!("{}/{}", source.id, category.slug), empty));
        }
        if !groups.contains(&source.group.as_str()) {
            groups.push(&source.group);
        }
    }
    stems.extend(groups.iter().map(|g| (format!("group/{g}"), false)));
    stems
        .into_iter()
        .flat_map(|(stem, empty)| {
            ["rss", "atom", "json"].map(|ext| (format!("/feeds/{stem}.{ext}"), empty))
        })
        .collect()
}

/// `config/fixtures.toml` written to `dir` with Crawl-delays capped to nothing and no retries
/// (for tests of the binary that are not about politeness); `${FIXTURES_BASE}` is left for the
/// environment.
pub fn quick_config_file(dir: &Path) -> PathBuf {
    quick_config_file_with(dir, &[])
}

/// `quick_config_file` with more `(from, to)` edits; each `from` must be in the file, so an edit
/// cannot silently stop applying when `config/fixtures.toml` changes.
pub fn quick_config_file_with(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fixtures.toml");
    let mut text = std::fs::read_to_string(fixtures).unwrap();
    let quick = [
        ("max_crawl_delay_secs = 30", "max_crawl_delay_secs = 0"),
        ("retries = 2", "retries = 0"),
    ];
    for (from, to) in quick.iter().chain(edits) {
        assert!(text.contains(from), "config/fixtures.toml has no {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join("fixtures-quick.toml");
    std::fs::write(&path, text).unwrap();
    path
}
