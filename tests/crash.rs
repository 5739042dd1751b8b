//! Crash safety: a `wardfeed scrape --once` child, and the whole daemon (scheduler, ingest,
//! renders for readers, reloads), are killed with SIGKILL at many points — during start-up,
//! scrapes, ingests, renders and SIGHUP reloads — restarted, and the ledger checked every
//! time: it opens, nothing a completed ingest reported is missing, nothing is doubled, the
//! story index covers every item once, and every source's refresh is whole or absent (a
//! refresh's ingest is one transaction: a kill never leaves part of its new items).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use wardfeed::model::SourceId;
use wardfeed::store::Store;
use wardfeed_portal::PortalServer;

/// A small deterministic generator, so a failing kill point can be reproduced.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// The source a log line reports as refreshed (stored), if it is such a line.
fn refreshed_source(line: &str) -> Option<String> {
    let rest = line.split(" refreshed source=").nth(1)?;
    let source = rest
        .split_whitespace()
        .next()
        .expect("a source id after source=");
    Some(source.to_owned())
}

/// One cycle of the child: the sources whose refresh it reported complete (with when, since
/// start), and whether it was killed.
struct Cycle {
    reported: BTreeSet<String>,
    report_times: Vec<Duration>,
    killed: bool,
}

/// Runs one cycle; kills it after `kill_after` unless it ends first.
async fn run_cycle(
    server: &PortalServer,
    config: &std::path::Path,
    store: &std::path::Path,
    kill_after: Option<Duration>,
) -> Cycle {
    let started = tokio::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardfeed"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["scrape", "--once", "--config"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .env("FIXTURES_BASE", server.base_url())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut reported = BTreeSet::new();
    let mut report_times = Vec::new();
    let deadline = kill_after.map(|d| started + d);
    let killed = loop {
        let line = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Ok(line) => line.unwrap(),
                Err(_) => {
                    child.kill().await.unwrap();
                    break true;
                }
            },
            None => lines.next_line().await.unwrap(),
        };
        let Some(line) = line else {
            child.wait().await.unwrap();
            break false;
        };
        if let Some(source) = refreshed_source(&line) {
            reported.insert(source);
            report_times.push(started.elapsed());
        }
    };
    // Lines written before the kill may still sit in the pipe.
    while let Ok(Some(line)) = lines.next_line().await {
        reported.extend(refreshed_source(&line));
    }
    Cycle {
        reported,
        report_times,
        killed,
    }
}

/// Per site, the URL paths the ledger holds.
fn held(server: &PortalServer, dir: &std::path::Path) -> BTreeMap<String, BTreeSet<String>> {
    let store = Store::open(dir).expect("the store opens after SIGKILL");
    SITES
        .iter()
        .map(|site| {
            let paths = store
                .source_items(&SourceId::parse(site).unwrap())
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .iter()
                .map(|i| url_path(server, site, &i.item.url))
                .collect();
            (site.to_string(), paths)
        })
        .collect()
}

/// Every source's refresh of `snapshot` is whole or absent: of the items it would add (the
/// snapshot's, less what the ledger held `before`), the ledger holds all or none — a kill
/// mid-ingest never leaves part of one. Returns what the ledger holds now.
fn check_whole_or_absent(
    server: &PortalServer,
    dir: &std::path::Path,
    snapshot: &str,
    before: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let after = held(server, dir);
    for site in SITES {
        let new: BTreeSet<String> = truth(snapshot, site)
            .into_iter()
            .map(|t| t.url_path)
            .filter(|path| !before[*site].contains(path))
            .collect();
        let got: BTreeSet<&String> = new.iter().filter(|p| after[*site].contains(*p)).collect();
        assert!(
            got.is_empty() || got.len() == new.len(),
            "{site}: a refresh of {snapshot} was half applied: {} of its {} new items",
            got.len(),
            new.len()
        );
    }
    after
}

/// Checks the ledger after a (possibly killed) cycle of `snapshot`.
fn check_ledger(
    server: &PortalServer,
    dir: &std::path::Path,
    snapshot: &str,
    reported: &BTreeSet<String>,
) -> usize {
    let store = Store::open(dir).expect("the store opens after SIGKILL");
    let all = store.items().collect::<Result<Vec<_>, _>>().unwrap();
    let urls: BTreeSet<&str> = all.iter().map(|i| i.item.url.as_str()).collect();
    assert_eq!(urls.len(), all.len(), "an item is doubled");
    assert_eq!(all.len(), store.len(), "the time index and the items agree");

    let mut known: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for site in SITES {
        let mut paths: BTreeSet<String> =
            truth("s1", site).into_iter().map(|t| t.url_path).collect();
        paths.extend(truth("s2", site).into_iter().map(|t| t.url_path));
        known.insert(site, paths);
    }
    for stored in &all {
        let site = stored.item.source.as_str();
        assert!(
            known[site].contains(&url_path(server, site, &stored.item.url)),
            "unknown item {}",
            stored.item.url
        );
    }
    for site in reported {
        let held: BTreeSet<String> = store
            .source_items(&SourceId::parse(site).unwrap())
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .iter()
            .map(|i| url_path(server, site, &i.item.url))
            .collect();
        for want in truth(snapshot, site) {
            assert!(
                held.contains(&want.url_path),
                "{site}: reported ingest lost {}",
                want.url_path
            );
        }
    }
    let stories = store
        .stories(|_| true)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let in_stories: usize = stories.iter().map(|s| s.items.len()).sum();
    assert_eq!(in_stories, all.len(), "every item is in exactly one story");
    all.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_point_loses_and_doubles_nothing() {
    let server = serve("s1").await;
    // Without bode's 3 s slow page a cycle takes about a second, so kills spread over it.
    server
        .set_override(
            "bode",
            "/tin-tuc/tin-moi-nhat",
            wardfeed_portal::Override::Delay(Duration::ZERO),
        )
        .unwrap();
    // An undisturbed cycle on a scratch store tells when, on this machine, the ingests
    // happen; kill points then spread over the whole cycle with most inside that window.
    let probe_dir = tempfile::tempdir().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    let config = quick_config_file(config_dir.path());
    let probe = run_cycle(&server, &config, probe_dir.path(), None).await;
    let first_ingest = probe.report_times[0].as_millis() as u64;
    let last_ingest = probe.report_times[probe.report_times.len() - 1].as_millis() as u64;
    let window_start = first_ingest * 9 / 10;
    let window = (last_ingest - window_start).max(1);

    let dir = tempfile::tempdir().unwrap();
    let mut random = Lcg(0x5eed_1234);
    let mut killed_mid_cycle = 0;
    let mut before = BTreeMap::from_iter(SITES.iter().map(|s| (s.to_string(), BTreeSet::new())));
    const ROUNDS: usize = 24;
    for round in 0..ROUNDS {
        // Alternate the snapshots so that every cycle has something to write.
        let snapshot = if round % 2 == 0 { "s1" } else { "s2" };
        server.switch(common::snapshot(snapshot));
        let kill_ms = if round % 3 == 0 {
            random.next() % (last_ingest * 6 / 5 + 1)
        } else {
            window_start + random.next() % window
        };
        let cycle = run_cycle(
            &server,
            &config,
            dir.path(),
            Some(Duration::from_millis(kill_ms)),
        )
        .await;
        if cycle.killed && !cycle.reported.is_empty() && cycle.reported.len() < SITES.len() {
            killed_mid_cycle += 1;
        }
        check_ledger(&server, dir.path(), snapshot, &cycle.reported);
        before = check_whole_or_absent(&server, dir.path(), snapshot, &before);
    }
    eprintln!(
        "{ROUNDS} kill points over 0-{} ms (ingests at {first_ingest}-{last_ingest} ms): {killed_mid_cycle} between two sources' ingests",
        last_ingest * 6 / 5
    );
    assert!(
        killed_mid_cycle >= 3,
        "too few kills landed mid-cycle to mean anything"
    );

    // Clean cycles of both snapshots after all that: the ledger is whole, nothing doubled.
    server.switch(common::snapshot("s1"));
    let cycle = run_cycle(&server, &config, dir.path(), None).await;
    assert!(!cycle.killed);
    check_ledger(&server, dir.path(), "s1", &cycle.reported);
    server.switch(common::snapshot("s2"));
    let cycle = run_cycle(&server, &config, dir.path(), None).await;
    assert!(!cycle.killed);
    assert_eq!(cycle.reported.len(), SITES.len());
    let count = check_ledger(&server, dir.path(), "s2", &cycle.reported);
    let union: usize = SITES
        .iter()
        .map(|site| {
            let mut paths: BTreeSet<String> =
                truth("s1", site).into_iter().map(|t| t.url_path).collect();
            paths.extend(truth("s2", site).into_iter().map(|t| t.url_path));
            paths.len()
        })
        .sum();
    assert_eq!(count, union);
}

/// When a daemon of `run_daemon` is killed.
#[derive(Debug, Clone)]
enum KillPoint {
    /// This long after it was started: start-up, a first scrape, an ingest, a render.
    AfterStart(Duration),
    /// This long after it reported its first completed refresh: later scrapes and ingests,
    /// renders of a ledger that has items. Counted from an event, not from the clock, so a
    /// slow machine still kills after a refresh.
    AfterFirstRefresh(Duration),
    /// Once it serves, SIGHUP after each of these gaps (the configuration file rewritten
    /// before each, so every reload has something to apply), then SIGKILL this long after
    /// the last: kills while a reload replaces the source tasks, mid-refresh too.
    DuringReloads(Vec<Duration>, Duration),
}

/// Rewrites `config` (atomically, as an admin's editor does) with its title toggled.
fn toggle_title(config: &std::path::Path) {
    let text = std::fs::read_to_string(config).unwrap();
    let text = if text.contains("fixture world (reloaded)") {
        text.replace("fixture world (reloaded)", "fixture world")
    } else {
        text.replace("fixture world", "fixture world (reloaded)")
    };
    let scratch = config.with_extension("toml.new");
    std::fs::write(&scratch, text).unwrap();
    std::fs::rename(&scratch, config).unwrap();
}

/// How long a daemon may take to report its first refresh before the test gives up on it:
/// the fixture world answers in well under a second, so only a daemon that never refreshes
/// gets near this.
const FIRST_REFRESH_CAP: Duration = Duration::from_secs(120);

/// The daemon (scheduler, ingest and serving together) killed at a moment of its life:
/// start-up, a scrape, an ingest, a render for a reader, a reload. Returns the sources whose
/// refresh it reported complete before it died, and how many reloads it reported done.
async fn run_daemon(
    config: &std::path::Path,
    store: &std::path::Path,
    kill: KillPoint,
) -> (BTreeSet<String>, usize) {
    let mut child = daemon_command(config, store)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = tokio::time::Instant::now();
    // A reader who keeps asking for feeds, so renders are in flight too.
    let stdout = child.stdout.take().unwrap();
    let (serving, serves) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let Some(base) = dashboard_base(&mut lines).await else {
            return;
        };
        let _ = serving.send(());
        let client = http_client();
        loop {
            for path in [
                "/feeds/all.rss",
                "/feeds/phucloi.atom",
                "/",
                "/opml",
                "/feeds/group/longbien.json",
            ] {
                if client.get(format!("{base}{path}")).send().await.is_err() {
                    return;
                }
            }
        }
    });
    // The reloads, sent by a task of their own; it says when the kill is due.
    let (due, kill_due) = tokio::sync::oneshot::channel::<()>();
    let reloader = match &kill {
        KillPoint::DuringReloads(gaps, after_last) => {
            let (gaps, after_last) = (gaps.clone(), *after_last);
            let (pid, config) = (child.id().unwrap().to_string(), config.to_owned());
            tokio::spawn(async move {
                if serves.await.is_err() {
                    return;
                }
                for gap in gaps {
                    tokio::time::sleep(gap).await;
                    toggle_title(&config);
                    let sent = std::process::Command::new("kill")
                        .args(["-s", "HUP", &pid])
                        .status()
                        .unwrap();
                    assert!(sent.success(), "SIGHUP to the daemon");
                }
                tokio::time::sleep(after_last).await;
                let _ = due.send(());
            })
        }
        _ => tokio::spawn(async move {
            let _keep = (serves, due);
            std::future::pending::<()>().await
        }),
    };
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut reported = BTreeSet::new();
    let mut reloads = 0;
    let mut deadline = match kill {
        KillPoint::AfterStart(after) => started + after,
        KillPoint::AfterFirstRefresh(_) | KillPoint::DuringReloads(..) => {
            started + FIRST_REFRESH_CAP
        }
    };
    tokio::pin!(kill_due);
    loop {
        let line = tokio::select! {
            line = tokio::time::timeout_at(deadline, lines.next_line()) => line,
            _ = &mut kill_due => break,
        };
        let Ok(Ok(Some(line))) = line else { break };
        reloads += usize::from(line.contains("configuration reloaded"));
        if let Some(source) = refreshed_source(&line) {
            if let (KillPoint::AfterFirstRefresh(after), true) = (&kill, reported.is_empty()) {
                deadline = tokio::time::Instant::now() + *after;
            }
            reported.insert(source);
        }
    }
    let timed_out = tokio::time::Instant::now() >= started + FIRST_REFRESH_CAP;
    child.kill().await.unwrap();
    while let Ok(Some(line)) = lines.next_line().await {
        reloads += usize::from(line.contains("configuration reloaded"));
        reported.extend(refreshed_source(&line));
    }
    reader.abort();
    reloader.abort();
    if let KillPoint::DuringReloads(..) = kill {
        assert!(
            !timed_out,
            "the reloads were not sent within {FIRST_REFRESH_CAP:?}"
        );
    }
    if let KillPoint::AfterFirstRefresh(_) = kill {
        assert!(
            !reported.is_empty(),
            "the daemon reported no completed refresh within {FIRST_REFRESH_CAP:?}"
        );
    }
    (reported, reloads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_killed_anywhere_loses_and_doubles_nothing() {
    let server = serve("s1").await;
    server
        .set_override(
            "bode",
            "/tin-tuc/tin-moi-nhat",
            wardfeed_portal::Override::Delay(Duration::ZERO),
        )
        .unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    // A refresh every 2 s, so a life of a few seconds holds several cycles.
    let config = quick_config_file_with(
        config_dir.path(),
        &[
            ("${FIXTURES_BASE}", &server.base_url()),
            (
                "schedule = \"0 */30 * * * *\"",
                "schedule = \"*/2 * * * * *\"",
            ),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let mut random = Lcg(0xdae0_0001);
    // By count, whatever the machine's speed: a third of the kills at any moment from
    // start-up on; a third after the daemon has completed a refresh (so the ledger it is
    // checked against holds what it reported), half of those within 40 ms of it, when the
    // other sources' ingests are running; a third while SIGHUP reloads come in.
    const ROUNDS: usize = 60;
    let mut after_refresh = 0;
    let mut reloads = 0;
    let mut before = held(&server, dir.path());
    for round in 0..ROUNDS {
        let snapshot = if round % 2 == 0 { "s1" } else { "s2" };
        server.switch(common::snapshot(snapshot));
        let kill = match round % 3 {
            0 => KillPoint::AfterStart(Duration::from_millis(50 + random.next() % 4000)),
            1 if round % 4 == 1 => {
                KillPoint::AfterFirstRefresh(Duration::from_millis(random.next() % 40))
            }
            1 => KillPoint::AfterFirstRefresh(Duration::from_millis(random.next() % 2500)),
            _ => KillPoint::DuringReloads(
                (0..1 + random.next() % 4)
                    .map(|_| Duration::from_millis(20 + random.next() % 600))
                    .collect(),
                Duration::from_millis(random.next() % 150),
            ),
        };
        let (reported, reloaded) = run_daemon(&config, dir.path(), kill).await;
        after_refresh += usize::from(!reported.is_empty());
        reloads += reloaded;
        check_ledger(&server, dir.path(), snapshot, &reported);
        before = check_whole_or_absent(&server, dir.path(), snapshot, &before);
    }
    eprintln!(
        "{ROUNDS} daemon kills, {after_refresh} after at least one completed refresh, {reloads} reloads done in the {} rounds that sent SIGHUPs",
        ROUNDS / 3
    );
}
