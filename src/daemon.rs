//! The daemon: scheduler and HTTP server in one process, and its life under systemd.
//!
//! Start: load the configuration, open the store, bind, serve, schedule every source, tell
//! systemd READY=1. `Control::Reload` (SIGHUP, as the CLI forwards it): reload the
//! configuration (a bad one is logged, the old one kept; RELOADING=1 … READY=1) and apply all
//! of it — sources, schedules, fetch settings (a new HTTP client), what the server shows —
//! except the few settings a running process cannot change, which the log names. A reload
//! never runs two refreshes of one source at once and never loses a pending first run.
//! `Control::Stop` (SIGTERM/SIGINT), or the caller dropping its sender: STOPPING=1, stop
//! accepting, cancel the refreshes still fetching, let refreshes already recording and
//! requests being answered finish within a deadline, flush the store, return. WATCHDOG=1 at half the interval systemd asks for, only while the scheduler shows
//! it is alive (its pulse is fresh, every source has a task driving it); otherwise the ping
//! is withheld, with an error in the log, and systemd restarts us. Only startup errors end
//! the run.
//!
//! The caller gives the configuration (a loader, called again at each reload) and the
//! controls, so tests run the daemon in-process on a listener of their own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::config::{Config, ConfigError, Source};
use crate::fetch::{Crawler, FetchError};
use crate::metrics::Metrics;
use crate::model::{SourceId, SourceStatus};
use crate::normalize::date::in_zone;
use crate::schedule::{self, PlanListener, Pulse, Refresher, RunReport, Turn};
use crate::serve::{self, AppState};
use crate::store::{Store, StoreError};

/// How long stopping waits at most for what it cannot cancel — a refresh already recording
/// its items, responses being written (`serve::STOP_GRACE`, 5 s) — before it abandons them.
/// Refreshes still fetching are cancelled at once. Nothing is lost by abandoning: every
/// ingest is one transaction.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("bind {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("start the fetcher: {0}")]
    Fetch(#[from] FetchError),
}

/// The daemon's control socket, in the store's directory (owner-only): `wardfeed backup`
/// asks the daemon that holds the store for a consistent copy of it there.
pub const CONTROL_SOCKET: &str = "control.sock";

/// How long a client of the control socket may take to say what it wants.
const CONTROL_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Listens on `dir`/`CONTROL_SOCKET` until `stop`; the socket is removed when it ends. A
/// socket that cannot be made is a warning (the daemon still serves; `backup` then says it
/// cannot reach it). A file left there by a daemon that was killed is replaced: the store's
/// lock, which this process holds, shows none runs.
fn control_socket(
    dir: &std::path::Path,
    store: Arc<Store>,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let path = dir.join(CONTROL_SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %error, "cannot make the control socket: `wardfeed backup` cannot reach this daemon");
            return None;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(error) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(path = %path.display(), error = %error, "cannot make the control socket owner-only");
        }
    }
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(answer_control(stream, Arc::clone(&store)));
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "control socket: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                () = stop.cancelled() => break,
            }
        }
        let _ = std::fs::remove_file(&path);
    }))
}

/// One client of the control socket: `backup\n` is answered `ok BYTES\n` and the backup (taken
/// into an unnamed temporary file under the store's write lock, then sent outside it, so a
/// slow reader never holds refreshes up), or `error: …\n`.
async fn answer_control(stream: tokio::net::UnixStream, store: Arc<Store>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = tokio::io::BufReader::new(stream);
    let mut request = String::new();
    let read = tokio::time::timeout(
        CONTROL_REQUEST_TIMEOUT,
        (&mut stream).take(64).read_line(&mut request),
    )
    .await;
    if !matches!(read, Ok(Ok(1..))) {
        return;
    }
    let mut stream = stream.into_inner();
    if request.trim_end() != "backup" {
        let _ = stream
            .write_all(format!("error: unknown request {:?}\n", request.trim_end()).as_bytes())
            .await;
        return;
    }
    let taken = tokio::task::spawn_blocking(move || -> Result<_, String> {
        use std::io::Seek;
        let mut file = tempfile::tempfile().map_err(|e| format!("make a temporary file: {e}"))?;
        let summary = store.backup(&mut file).map_err(|e| e.to_string())?;
        file.rewind().map_err(|e| e.to_string())?;
        Ok((file, summary))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|taken| taken);
    match taken {
        Ok((file, summary)) => {
            tracing::info!(
                items = summary.items,
                records = summary.records,
                bytes = summary.bytes,
                "backup taken for wardfeed backup"
            );
            let mut file = tokio::fs::File::from_std(file);
            let sent = async {
                stream
                    .write_all(format!("ok {}\n", summary.bytes).as_bytes())
                    .await?;
                tokio::io::copy(&mut file, &mut stream).await?;
                stream.shutdown().await
            };
            if let Err(error) = sent.await {
                tracing::warn!(error = %error, "backup: the client went away before it had it all");
            }
        }
        Err(error) => {
            tracing::error!(error = %error, "backup failed");
            let _ = stream
                .write_all(format!("error: {error}\n").as_bytes())
                .await;
        }
    }
}

/// What the caller tells a running daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Read the configuration again and apply it.
    Reload,
    /// Drain and return.
    Stop,
}

/// Reads the configuration: at start and again at each reload, the same way.
pub type ConfigLoader = Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// What to run and where.
pub struct DaemonOptions {
    pub load_config: ConfigLoader,
    /// Replaces the configuration's `[server] listen`.
    pub listen: Option<SocketAddr>,
    /// Replaces the configuration's `[store] path`.
    pub store: Option<PathBuf>,
    pub clock: Arc<dyn Clock>,
}

/// Tells systemd (when it supervises us) how we are, from a thread of its own: the notify
/// socket is a blocking datagram socket, and a slow reader must never stall the runtime.
struct Notifier {
    sender: std::sync::mpsc::Sender<Vec<sd_notify::NotifyState<'static>>>,
}

impl Notifier {
    /// `None` without NOTIFY_SOCKET: not under systemd, nothing to tell.
    fn start() -> Option<Notifier> {
        std::env::var_os("NOTIFY_SOCKET")?;
        let (sender, receiver) = std::sync::mpsc::channel::<Vec<sd_notify::NotifyState<'static>>>();
        std::thread::Builder::new()
            .name("sd-notify".into())
            .spawn(move || {
                for states in receiver {
                    if let Err(error) = sd_notify::notify(&states) {
                        tracing::warn!(error = %error, "sd_notify failed");
                    }
                }
            })
            .ok()?;
        Some(Notifier { sender })
    }

    fn send(notifier: &Option<Notifier>, states: Vec<sd_notify::NotifyState<'static>>) {
        if let Some(notifier) = notifier {
            let _ = notifier.sender.send(states);
        }
    }
}

/// Everything a source's refresh needs, shared by the scheduler tasks.
struct Runtime {
    store: Arc<Store>,
    /// Replaced at a reload; a refresh keeps the one it started with.
    crawler: std::sync::RwLock<Arc<Crawler>>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// Cancelled when the daemon stops: refreshes still fetching are abandoned.
    stopping: CancellationToken,
    first_cycle: FirstCycle,
}

/// The progress of the first cycle after start (the long one: every source fetched whole), as
/// log lines: `first cycle: 3/5 sources refreshed`, then how long it took.
struct FirstCycle {
    pending: std::sync::Mutex<std::collections::HashSet<SourceId>>,
    total: usize,
    started: std::time::Instant,
}

impl FirstCycle {
    fn new(config: &Config) -> FirstCycle {
        let pending: std::collections::HashSet<SourceId> = config
            .sources
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.id.clone())
            .collect();
        FirstCycle {
            total: pending.len(),
            pending: std::sync::Mutex::new(pending),
            started: std::time::Instant::now(),
        }
    }

    /// `source` finished a refresh.
    fn refreshed(&self, source: &SourceId) {
        let left = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if !pending.remove(source) {
                return;
            }
            pending.len()
        };
        let (done, total) = (self.total - left, self.total);
        tracing::info!(source = %source, done, total, "first cycle: {done}/{total} sources refreshed");
        if left == 0 {
            tracing::info!(
                sources = total,
                elapsed_ms = self.started.elapsed().as_millis() as u64,
                "first cycle finished"
            );
        }
    }
}

impl Runtime {
    /// The scheduler's refresh: scrape, store, and report to metrics and the scheduler.
    fn refresher(self: &Arc<Self>) -> Refresher {
        let runtime = Arc::clone(self);
        Arc::new(move |source: Arc<Source>| {
            let runtime = Arc::clone(&runtime);
            Box::pin(async move { runtime.refresh(&source).await })
        })
    }

    async fn refresh(&self, source: &Arc<Source>) -> RunReport {
        if source.ignore_robots {
            tracing::warn!(source = %source.id, "robots.txt ignored for this source (ignore_robots = true)");
        }
        let started = std::time::Instant::now();
        let now = in_zone(self.clock.now(), source.timezone);
        let crawler = Arc::clone(&self.crawler.read().unwrap_or_else(|p| p.into_inner()));
        let _in_flight = self.metrics.refresh_in_flight(source.id.as_str());
        let refreshed =
            crate::pipeline::refresh_until(&crawler, &self.store, source, now, &self.stopping)
                .await;
        let refresh = match refreshed {
            Ok(Some(refresh)) => refresh,
            Ok(None) => {
                tracing::info!(source = %source.id, elapsed_ms = started.elapsed().as_millis() as u64, "refresh cancelled: stopping (its fetches in flight were dropped, nothing of it recorded)");
                return RunReport::default();
            }
            Err(error) => {
                // The store failing is the one thing a refresh cannot survive; the source
                // is tried again on schedule.
                tracing::error!(source = %source.id, error = %error, "refresh could not be stored");
                return RunReport {
                    consecutive_failures: 1,
                    retry_after: None,
                };
            }
        };
        self.metrics.record_refresh(
            source.id.as_str(),
            refresh.ingest.new.len() as u64,
            refresh.ingest.updated.len() as u64,
            refresh.scrape.failures.len() as u64,
            started.elapsed(),
        );
        self.first_cycle.refreshed(&source.id);
        let health = self.store.health(&source.id).unwrap_or_default();
        self.publish_health(source, &health);
        RunReport {
            consecutive_failures: if health.status == SourceStatus::Failing {
                health.consecutive_failures
            } else {
                0
            },
            retry_after: refresh
                .scrape
                .failures
                .iter()
                .filter_map(|f| f.error.retry_after())
                .max(),
        }
    }

    fn publish_health(&self, source: &Source, health: &crate::store::SourceHealth) {
        self.metrics.set_source_health(
            source.id.as_str(),
            health.status.as_str(),
            health.consecutive_failures,
            self.store.source_len(&source.id) as u64,
            health.last_success.map(|t| t.timestamp()),
        );
    }
}

/// The source tasks of the current configuration.
struct Schedule {
    runtime: Arc<Runtime>,
    planned: PlanListener,
    jitter: Duration,
    /// How many refreshes run at once (`max_refreshes`, `max_refreshes_per_host`); made again
    /// when a reload changes them (refreshes still running keep their old places).
    slots: Arc<schedule::RefreshSlots>,
    tasks: TaskTracker,
    running: HashMap<SourceId, CancellationToken>,
    /// Per source, what outlives its task across reloads (`schedule::Turn`); the watchdog
    /// reads it too.
    turns: Turns,
    stop: CancellationToken,
}

impl Schedule {
    /// Starts (or restarts, after a reload) one task per enabled source. Sources already
    /// running keep their timing: they are not refreshed again just because of a reload, a
    /// refresh in flight is waited for, and a first run still pending (in its start-up
    /// jitter) still happens.
    fn apply(&mut self, config: &Config) {
        for token in self.running.values() {
            token.cancel();
        }
        self.running.clear();
        // Sources removed (enabled or not) are forgotten, and those added are counted (as
        // pending, or as their stored health says) before any task can refresh them.
        let change = self
            .runtime
            .metrics
            .configure_sources(config.sources.iter().map(|s| s.id.as_str()));
        for gone in &change.removed {
            self.runtime.metrics.forget_source(gone);
        }
        let unreported: std::collections::HashSet<&str> =
            change.unreported.iter().map(String::as_str).collect();
        for added in config
            .sources
            .iter()
            .filter(|s| unreported.contains(s.id.as_str()))
        {
            match self.runtime.store.health(&added.id) {
                Ok(health) => self.runtime.publish_health(added, &health),
                Err(error) => tracing::warn!(
                    source = %added.id,
                    %error,
                    "a source's health could not be read; /metrics counts it from its first refresh"
                ),
            }
        }
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        // Only enabled sources have tasks; the watchdog expects one for each turn kept.
        turns.retain(|id, _| {
            config
                .source(id.as_str())
                .is_some_and(|source| source.enabled)
        });
        self.jitter = config.fetch.jitter;
        let limits = (
            config.fetch.max_refreshes,
            config.fetch.max_refreshes_per_host,
        );
        if self.slots.limits() != limits {
            self.slots = schedule::RefreshSlots::new(limits.0, limits.1);
        }
        for source in config.sources.iter().filter(|s| s.enabled) {
            let token = self.stop.child_token();
            let turn = Arc::clone(turns.entry(source.id.clone()).or_default());
            self.tasks.spawn(schedule::drive_source(
                Arc::clone(source),
                turn,
                Arc::clone(&self.slots),
                self.jitter,
                Arc::clone(&self.runtime.clock),
                self.runtime.refresher(),
                Arc::clone(&self.planned),
                token.clone(),
            ));
            self.running.insert(source.id.clone(), token);
        }
    }
}

/// The scheduler's sources and their turns, shared with the watchdog.
type Turns = Arc<std::sync::Mutex<HashMap<SourceId, Arc<Turn>>>>;

/// Why the watchdog must not ping now, if it must not: the scheduler's pulse has been silent
/// longer than `max_silence`, or a source has no task driving it.
fn unwell(pulse: &Pulse, turns: &Turns, max_silence: Duration) -> Option<String> {
    let silence = pulse.silence();
    if silence > max_silence {
        return Some(format!(
            "the scheduler's pulse has been silent for {} ms",
            silence.as_millis()
        ));
    }
    let turns = turns.lock().unwrap_or_else(|p| p.into_inner());
    let mut undriven: Vec<&str> = turns
        .iter()
        .filter(|(_, turn)| !turn.is_driven())
        .map(|(id, _)| id.as_str())
        .collect();
    if undriven.is_empty() {
        return None;
    }
    undriven.sort_unstable();
    Some(format!("no scheduler task drives {}", undriven.join(", ")))
}

/// Pings (`ping`) every half `interval` while the scheduler is well; withholds the ping, with
/// an error in the log, while it is not (systemd restarts us if that lasts `interval`).
async fn watchdog(interval: Duration, pulse: Arc<Pulse>, turns: Turns, ping: impl Fn()) {
    let mut ticks = tokio::time::interval(interval / 2);
    let mut withheld = false;
    loop {
        ticks.tick().await;
        match unwell(&pulse, &turns, interval / 2) {
            None => {
                if withheld {
                    tracing::warn!("the scheduler is alive again: watchdog pings resume");
                }
                withheld = false;
                ping();
            }
            Some(reason) => {
                if !withheld {
                    tracing::error!(reason = %reason, "watchdog ping withheld: systemd restarts the service if this lasts");
                }
                withheld = true;
            }
        }
    }
}

/// The settings that differ between the running configuration (the one the process started
/// with) and a reloaded one but cannot change in a running process: the listening socket and
/// its limits, the store, the public URL baked into served documents' links, logging.
fn needs_restart(running: &Config, reloaded: &Config) -> Vec<&'static str> {
    let (a, b) = (&running.server, &reloaded.server);
    [
        ("server.listen", a.listen != b.listen),
        ("server.public_url", a.public_url != b.public_url),
        (
            "server.max_connections",
            a.max_connections != b.max_connections,
        ),
        (
            "server.header_timeout_secs",
            a.header_timeout != b.header_timeout,
        ),
        ("server.idle_timeout_secs", a.idle_timeout != b.idle_timeout),
        (
            "server.write_timeout_secs",
            a.write_timeout != b.write_timeout,
        ),
        ("server.max_searches", a.max_searches != b.max_searches),
        (
            "server.per_source_metrics",
            a.per_source_metrics != b.per_source_metrics,
        ),
        ("store.path", running.store.path != reloaded.store.path),
        (
            "store.cache_bytes",
            running.store.cache_bytes != reloaded.store.cache_bytes,
        ),
        ("log.format", running.log.format != reloaded.log.format),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// Runs the daemon until `controls` says stop (or its senders are gone). `listener`, when
/// given, is used instead of binding (tests bind 127.0.0.1:0 themselves).
pub async fn run(
    options: DaemonOptions,
    listener: Option<tokio::net::TcpListener>,
    mut controls: tokio::sync::mpsc::Receiver<Control>,
) -> Result<(), DaemonError> {
    let config = Arc::new((options.load_config)()?);
    let store_path = options
        .store
        .clone()
        .unwrap_or_else(|| config.store.path.clone());
    let store = Arc::new(Store::open_with_cache(
        &store_path,
        config.store.cache_bytes,
    )?);
    if store.is_unverified() {
        // A large store opened after O(1) checks: read it whole now, in the background, while
        // feeds are served; refreshes queue for the store until it is done (and a damaged
        // store fails loudly and takes no write).
        let store = Arc::clone(&store);
        tokio::task::spawn_blocking(move || {
            if let Err(error) = store.finish_verification() {
                tracing::error!(error = %error, "the store failed its whole read after opening");
            }
        });
    }
    let listener = match listener {
        Some(listener) => listener,
        None => {
            let address = options.listen.unwrap_or(config.server.listen);
            serve::bind(address).map_err(|source| DaemonError::Bind { address, source })?
        }
    };
    let bound = listener.local_addr().map_err(|source| DaemonError::Bind {
        address: options.listen.unwrap_or(config.server.listen),
        source,
    })?;
    let public = match (&config.server.public_url, options.listen) {
        (Some(url), None) => url.as_str().trim_end_matches('/').to_owned(),
        _ => format!("http://{bound}"),
    };
    let metrics = Arc::new(Metrics::new(config.server.per_source_metrics));
    let crawler = Arc::new(Crawler::new(&config.fetch)?.with_metrics(Arc::clone(&metrics)));
    let state = Arc::new(
        AppState::new(
            Arc::clone(&config),
            Arc::clone(&store),
            public.clone(),
            Arc::clone(&options.clock),
        )
        .with_metrics(Arc::clone(&metrics)),
    );
    let runtime = Arc::new(Runtime {
        store: Arc::clone(&store),
        crawler: std::sync::RwLock::new(crawler),
        metrics: Arc::clone(&metrics),
        clock: Arc::clone(&options.clock),
        stopping: CancellationToken::new(),
        first_cycle: FirstCycle::new(&config),
    });
    for source in &config.sources {
        runtime.publish_health(source, &store.health(&source.id)?);
    }

    let control_stop = CancellationToken::new();
    let control = control_socket(&store_path, Arc::clone(&store), control_stop.clone());
    let server_stop = CancellationToken::new();
    let server = tokio::spawn(serve::run(
        listener,
        Arc::clone(&state),
        server_stop.clone().cancelled_owned(),
    ));
    let planned: PlanListener = {
        let state = Arc::clone(&state);
        Arc::new(move |source, at| state.set_next_run(source, at))
    };
    let mut schedule = Schedule {
        runtime: Arc::clone(&runtime),
        planned,
        jitter: config.fetch.jitter,
        slots: schedule::RefreshSlots::new(
            config.fetch.max_refreshes,
            config.fetch.max_refreshes_per_host,
        ),
        tasks: TaskTracker::new(),
        running: HashMap::new(),
        turns: Turns::default(),
        stop: CancellationToken::new(),
    };
    let pulse = Arc::new(Pulse::default());
    let watchdog_interval = sd_notify::watchdog_enabled();
    let pulse_every = watchdog_interval.map_or(schedule::PULSE, |interval| {
        (interval / 8).clamp(Duration::from_millis(10), schedule::PULSE)
    });
    schedule
        .tasks
        .spawn(Arc::clone(&pulse).run(pulse_every, schedule.stop.clone()));
    schedule.apply(&config);
    tracing::info!(listen = %bound, url = %public, sources = config.sources.len(), "serving");
    println!(
        "dashboard:   {public}/\ncombined:    {public}/feeds/all.atom\nresidents:   {public}/residents.opml\nopml:        {public}/opml\nmetrics:     {public}/metrics"
    );
    let notifier = Arc::new(Notifier::start());
    Notifier::send(
        &notifier,
        vec![
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status("serving"),
        ],
    );

    let watchdog = watchdog_interval.map(|interval| {
        let notifier = Arc::clone(&notifier);
        tokio::spawn(watchdog(
            interval,
            Arc::clone(&pulse),
            Arc::clone(&schedule.turns),
            move || Notifier::send(&notifier, vec![sd_notify::NotifyState::Watchdog]),
        ))
    });

    // Stop, or every sender gone, ends the loop.
    while let Some(Control::Reload) = controls.recv().await {
        let mut states = vec![sd_notify::NotifyState::Reloading];
        states.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
        Notifier::send(&notifier, states);
        // A reloaded configuration comes with its own HTTP client (user agent, body cap,
        // timeouts); a client that cannot be built refuses the reload like a bad file.
        let reloaded = (options.load_config)()
            .map_err(|error| error.to_string())
            .and_then(|reloaded| {
                let current = runtime.crawler.read().unwrap_or_else(|p| p.into_inner());
                match current.reconfigured(&reloaded.fetch) {
                    Ok(crawler) => Ok((reloaded, crawler)),
                    Err(error) => Err(format!("start the fetcher: {error}")),
                }
            });
        match reloaded {
            Ok((reloaded, crawler)) => {
                let pending = needs_restart(&config, &reloaded);
                if !pending.is_empty() {
                    tracing::warn!(
                        settings = %pending.join(", "),
                        "these changed settings take effect at the next restart; the running values are kept"
                    );
                }
                *runtime.crawler.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(crawler);
                let reloaded = Arc::new(reloaded);
                state.set_config(Arc::clone(&reloaded));
                schedule.apply(&reloaded);
                tracing::info!(sources = reloaded.sources.len(), "configuration reloaded");
                Notifier::send(
                    &notifier,
                    vec![
                        sd_notify::NotifyState::Ready,
                        sd_notify::NotifyState::Status("serving (configuration reloaded)"),
                    ],
                );
            }
            Err(error) => {
                tracing::error!(error = %error, "configuration reload failed; keeping the running configuration");
                Notifier::send(
                    &notifier,
                    vec![
                        sd_notify::NotifyState::Ready,
                        sd_notify::NotifyState::Status(
                            "serving (reload failed: old configuration kept)",
                        ),
                    ],
                );
            }
        }
    }

    tracing::info!("stopping");
    Notifier::send(&notifier, vec![sd_notify::NotifyState::Stopping]);
    // Stopping ends the source tasks the watchdog looks for; systemd does not expect pings
    // once told STOPPING (its stop timeout applies instead).
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    // Refreshes still fetching are cancelled (a refresh already recording finishes: each
    // step is a transaction, and the store is flushed below).
    runtime.stopping.cancel();
    schedule.stop.cancel();
    server_stop.cancel();
    schedule.tasks.close();
    let drained = tokio::time::timeout(DRAIN_DEADLINE, async {
        schedule.tasks.wait().await;
        let _ = server.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            deadline_secs = DRAIN_DEADLINE.as_secs(),
            "in-flight work abandoned at the drain deadline"
        );
    }
    control_stop.cancel();
    if let Some(control) = control {
        let _ = control.await;
    }
    store.flush()?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server: &str) -> Config {
        let text = format!(
            "[server]\n{server}\n[sources.bode]\nname = \"Bồ Đề\"\ngroup = \"longbien\"\nbase = \"http://127.0.0.1:9/bode\"\nfetch_articles = false\n[sources.bode.listing]\nitem = \"li\"\ntitle = \"a\"\n[[sources.bode.categories]]\nlabel = \"Tin\"\nlisting = \"/tin\"\n"
        );
        crate::config::parse(&text, "test.toml", &|_| None, crate::extract::check_rules).unwrap()
    }

    /// The watchdog pings while the pulse beats and the source has its task; it stops when the
    /// pulse goes silent (a runtime that no longer wakes the scheduler) or the source's task
    /// is gone, and starts again when they are back.
    #[tokio::test(start_paused = true)]
    async fn the_watchdog_pings_only_while_the_scheduler_is_alive() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let source = Arc::clone(&config("").sources[0]);
        let turns = Turns::default();
        let turn = Arc::clone(turns.lock().unwrap().entry(source.id.clone()).or_default());
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::TokioClock::starting_at(
            chrono::DateTime::<chrono::Utc>::from_timestamp(1_675_645_200, 0).unwrap(),
        ));
        let refresher: Refresher = Arc::new(|_| Box::pin(async { RunReport::default() }));
        let drive = |cancel: &CancellationToken| {
            tokio::spawn(schedule::drive_source(
                Arc::clone(&source),
                Arc::clone(&turn),
                schedule::RefreshSlots::new(8, 8),
                Duration::ZERO,
                Arc::clone(&clock),
                Arc::clone(&refresher),
                Arc::new(|_, _| {}),
                cancel.clone(),
            ))
        };
        let pulse = Arc::new(Pulse::default());
        let beating = |cancel: &CancellationToken| {
            tokio::spawn(Arc::clone(&pulse).run(Duration::from_millis(100), cancel.clone()))
        };
        let pings = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&pings);
        let interval = Duration::from_secs(1);
        let source_task = CancellationToken::new();
        let driving = drive(&source_task);
        let pulse_task = CancellationToken::new();
        let beat = beating(&pulse_task);
        tokio::spawn(watchdog(interval, Arc::clone(&pulse), turns, move || {
            count.fetch_add(1, Ordering::SeqCst);
        }));
        let pings_over = |span: Duration| {
            let pings = Arc::clone(&pings);
            async move {
                let before = pings.load(Ordering::SeqCst);
                tokio::time::sleep(span).await;
                pings.load(Ordering::SeqCst) - before
            }
        };
        // Alive: a ping every half interval.
        assert!(pings_over(Duration::from_secs(5)).await >= 9);
        // The pulse stops: at most the ping already due, then none.
        pulse_task.cancel();
        beat.await.unwrap();
        assert!(pings_over(Duration::from_millis(600)).await <= 1);
        assert_eq!(pings_over(Duration::from_secs(5)).await, 0);
        // It beats again: pings again.
        let pulse_task = CancellationToken::new();
        let _beat = beating(&pulse_task);
        assert!(pings_over(Duration::from_secs(5)).await >= 9);
        // The source's task is gone: no ping.
        source_task.cancel();
        driving.await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(pings_over(Duration::from_secs(5)).await, 0);
        // A new task for it: pings again.
        let _driving = drive(&CancellationToken::new());
        assert!(pings_over(Duration::from_secs(5)).await >= 9);
        pulse_task.cancel();
    }

    /// What a reload cannot apply is named (and logged); what it applies is not.
    #[test]
    fn a_reload_names_the_settings_that_need_a_restart() {
        let running = config("listen = \"127.0.0.1:8080\"\ntitle = \"A\"");
        let same_socket = config("listen = \"127.0.0.1:8080\"\ntitle = \"B\"\nfeed_limit = 5");
        assert!(needs_restart(&running, &same_socket).is_empty());
        let moved = config(
            "listen = \"127.0.0.1:9090\"\ntitle = \"A\"\nwrite_timeout_secs = 5\nmax_searches = 9\n\
             per_source_metrics = true",
        );
        assert_eq!(
            needs_restart(&running, &moved),
            [
                "server.listen",
                "server.write_timeout_secs",
                "server.max_searches",
                "server.per_source_metrics"
            ]
        );
    }
}
