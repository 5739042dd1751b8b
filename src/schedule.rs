//! When each source is refreshed: a first run at start, then its cron schedule, each run
//! delayed by random jitter; a failing source backs off (skipping scheduled runs, never
//! dropped), and a server's long `Retry-After` is respected. One task per source drives
//! the refresh it is given; the polite fetching itself is `fetch::polite`'s. A reload
//! replaces a source's task; what must survive that (one refresh at a time, the pending
//! first run, the back-off) lives in the source's `Turn`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Source;
use crate::model::SourceId;

/// The longest a failing source waits between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// What the scheduler needs to know about a refresh that ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Refreshes in a row in which every listing failed.
    pub consecutive_failures: u32,
    /// The longest wait a server asked for (429/503 `Retry-After`).
    pub retry_after: Option<Duration>,
}

/// Runs one refresh of a source. The daemon's refreshes fetch and store; tests record calls.
pub type Refresher = Arc<dyn Fn(Arc<Source>) -> BoxFuture<'static, RunReport> + Send + Sync>;

/// Told when a source's next run is planned (the server derives Cache-Control from it).
pub type PlanListener = Arc<dyn Fn(&SourceId, DateTime<Utc>) + Send + Sync>;

/// What a source keeps across the tasks that drive it (a reload replaces its task).
#[derive(Debug, Default)]
pub struct Turn {
    /// Held for the whole of a refresh: a task started by a reload while the previous task's
    /// refresh is still running waits for it, so one source never has two refreshes at once.
    refreshing: tokio::sync::Mutex<()>,
    /// Whether the source's first run has begun. Until it has, every new task runs it (after
    /// jitter): a reload during the start-up jitter must not push it to the next cron slot.
    first_run_begun: AtomicBool,
    /// The last run's report: a failing source keeps its back-off through a reload.
    last_report: Mutex<RunReport>,
    /// Tasks driving the source now (1 normally; 2 for a moment after a reload).
    drivers: AtomicUsize,
    /// Its schedule never fires again: no task is meant to drive it.
    retired: AtomicBool,
}

/// How many refreshes run at once, in all and per host. A refresh holds its listing and
/// article pages and its items until they are stored; started all at once, 10,000 sources
/// held 1.4 GB while the host gates let their requests through one at a time. A refresh
/// takes its host's slot first and then one of all, so one slow host never holds more than
/// its share of the whole; both are FIFO, so no source is passed over.
#[derive(Debug)]
pub struct RefreshSlots {
    all: Arc<tokio::sync::Semaphore>,
    limits: (usize, usize),
    hosts: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// A refresh's places in `RefreshSlots`, given back when it is dropped.
#[derive(Debug)]
pub struct RefreshSlot {
    _host: tokio::sync::OwnedSemaphorePermit,
    _all: tokio::sync::OwnedSemaphorePermit,
}

impl RefreshSlots {
    pub fn new(all: usize, per_host: usize) -> Arc<RefreshSlots> {
        Arc::new(RefreshSlots {
            all: Arc::new(tokio::sync::Semaphore::new(all.max(1))),
            limits: (all.max(1), per_host.max(1)),
            hosts: Mutex::default(),
        })
    }

    /// The limits these slots were made with: (in all, per host).
    pub fn limits(&self) -> (usize, usize) {
        self.limits
    }

    /// Waits for a place for a refresh of `source` (on its `base`'s host, as fetch counts hosts).
    pub async fn take(&self, source: &Source) -> RefreshSlot {
        let host = crate::fetch::polite::host_key(&source.base);
        let per_host = Arc::clone(
            self.hosts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(host)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.limits.1))),
        );
        // Never closed: acquiring can only wait.
        let host = per_host
            .acquire_owned()
            .await
            .expect("slots are never closed");
        let all = Arc::clone(&self.all)
            .acquire_owned()
            .await
            .expect("slots are never closed");
        RefreshSlot {
            _host: host,
            _all: all,
        }
    }

    /// Refreshes holding a place now, over every host (for tests).
    pub fn running(&self) -> usize {
        self.limits.0 - self.all.available_permits()
    }
}

/// Counts a task as driving its source while it lives.
struct Driving<'a>(&'a Turn);

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        self.0.drivers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Turn {
    /// Whether a task drives the source (or none is meant to): what the watchdog asks.
    pub fn is_driven(&self) -> bool {
        self.drivers.load(Ordering::Acquire) > 0 || self.retired.load(Ordering::Acquire)
    }

    fn last_report(&self) -> RunReport {
        *self.last_report.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The scheduler's pulse: a task beside the source tasks, on the same runtime and timers,
/// beats every `PULSE` while it runs. A stale pulse means the runtime no longer wakes the
/// scheduler's tasks (workers blocked, timers stuck): the watchdog then stops pinging.
#[derive(Debug)]
pub struct Pulse {
    origin: tokio::time::Instant,
    /// Milliseconds after `origin` of the last beat.
    last_beat_ms: AtomicU64,
}

/// How often the pulse beats.
pub const PULSE: Duration = Duration::from_secs(1);

impl Default for Pulse {
    fn default() -> Pulse {
        Pulse {
            origin: tokio::time::Instant::now(),
            last_beat_ms: AtomicU64::new(0),
        }
    }
}

impl Pulse {
    fn beat(&self) {
        let now = self.origin.elapsed().as_millis() as u64;
        self.last_beat_ms.store(now, Ordering::Release);
    }

    /// Time since the last beat.
    pub fn silence(&self) -> Duration {
        let last = Duration::from_millis(self.last_beat_ms.load(Ordering::Acquire));
        self.origin.elapsed().saturating_sub(last)
    }

    /// Beats every `every` until `cancel`.
    pub async fn run(self: Arc<Self>, every: Duration, cancel: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => self.beat(),
                _ = cancel.cancelled() => return,
            }
        }
    }
}

/// The first cron fire time strictly after `after`.
pub fn next_fire(schedule: &cron::Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule.after(&after).next()
}

/// The longest wait the scheduler accepts from anyone (a server's `Retry-After` included, which
/// the fetcher already clamps to its configured maximum): far beyond any real back-off, short
/// enough that no date arithmetic can overflow.
pub const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);

/// When a source runs next after a run that ended at `now`: its next fire time, pushed back
/// for a failing source by its schedule's interval × 2^(failures − 1) (at most `MAX_BACKOFF`)
/// and past any `Retry-After` (at most `MAX_WAIT`); always a fire time of its schedule.
pub fn next_run(
    schedule: &cron::Schedule,
    now: DateTime<Utc>,
    report: &RunReport,
) -> Option<DateTime<Utc>> {
    let next = next_fire(schedule, now)?;
    let mut not_before = now;
    if report.consecutive_failures > 0 {
        let interval =
            next_fire(schedule, next).map_or(chrono::Duration::hours(1), |after| after - next);
        let factor = 1i32 << (report.consecutive_failures - 1).min(20);
        let max_backoff =
            chrono::Duration::from_std(MAX_BACKOFF).unwrap_or(chrono::Duration::days(1));
        let backoff = interval
            .checked_mul(factor)
            .map_or(max_backoff, |backoff| backoff.min(max_backoff));
        not_before = not_before.max(
            now.checked_add_signed(backoff)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        );
    }
    if let Some(wait) = report.retry_after {
        not_before = not_before.max(later(now, wait.min(MAX_WAIT)));
    }
    if not_before > now {
        // The first fire time at or after the back-off point.
        return next_fire(schedule, not_before - chrono::Duration::seconds(1));
    }
    Some(next)
}

/// `now` plus `wait`, or the furthest instant chrono can hold: never a panic.
fn later(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|wait| now.checked_add_signed(wait))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A uniformly random delay in `[0, max]`.
pub fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    max.mul_f64(rand::random::<f64>())
}

/// Drives one source until `cancel`: its first run at once (unless `turn` says it has begun
/// under an earlier task), then on schedule. A refresh that has started is finished even if
/// `cancel` fires meanwhile (stopping the daemon drains it, with a deadline the daemon keeps);
/// the next task of the source waits for it.
#[allow(clippy::too_many_arguments)]
pub async fn drive_source(
    source: Arc<Source>,
    turn: Arc<Turn>,
    slots: Arc<RefreshSlots>,
    jitter_max: Duration,
    clock: Arc<dyn Clock>,
    refresher: Refresher,
    planned: PlanListener,
    cancel: CancellationToken,
) {
    turn.drivers.fetch_add(1, Ordering::AcqRel);
    let _driving = Driving(&turn);
    let mut report = turn.last_report();
    let mut first = !turn.first_run_begun.load(Ordering::Acquire);
    loop {
        let now = clock.now();
        let base = if first {
            Some(now)
        } else {
            next_run(&source.schedule, now, &report)
        };
        let Some(base) = base else {
            tracing::warn!(source = %source.id, "the schedule never fires again: not refreshed any more");
            turn.retired.store(true, Ordering::Release);
            return;
        };
        let at = later(base, jitter(jitter_max.min(MAX_WAIT)));
        planned(&source.id, at);
        let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
        if cancel.is_cancelled() {
            return;
        }
        let _refreshing = tokio::select! {
            guard = turn.refreshing.lock() => guard,
            _ = cancel.cancelled() => return,
        };
        // Waiting for a slot is not the refresh: a stop or a reload meanwhile ends the task
        // before its first run is marked begun, so the next task still runs it.
        let _slot = tokio::select! {
            slot = slots.take(&source) => slot,
            _ = cancel.cancelled() => return,
        };
        turn.first_run_begun.store(true, Ordering::Release);
        // While a source keeps failing its count only grows, whatever a refresh could count
        // itself (a refresh whose store failed cannot read the source's health). A bug that
        // panics while refreshing one source must not end its schedule: the panic is logged
        // (with its message, by the panic hook too) and counts as a failed run.
        let failed_again = report.consecutive_failures.saturating_add(1);
        report = match AssertUnwindSafe(refresher(Arc::clone(&source)))
            .catch_unwind()
            .await
        {
            Ok(new) if new.consecutive_failures > 0 => RunReport {
                consecutive_failures: new.consecutive_failures.max(failed_again),
                ..new
            },
            Ok(new) => new,
            Err(_) => {
                tracing::error!(source = %source.id, consecutive_failures = failed_again, "refreshing the source panicked; it will be tried again after a back-off");
                RunReport {
                    consecutive_failures: failed_again,
                    retry_after: None,
                }
            }
        };
        *turn.last_report.lock().unwrap_or_else(|p| p.into_inner()) = report;
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use chrono::TimeZone;
    use std::sync::Mutex;

    fn schedule(expr: &str) -> cron::Schedule {
        crate::config::parse_schedule(expr).unwrap()
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 2, 6, h, m, s).unwrap()
    }

    #[test]
    fn cron_fire_times() {
        let every_30 = schedule("0 */30 * * * *");
        assert_eq!(next_fire(&every_30, at(1, 0, 0)), Some(at(1, 30, 0)));
        assert_eq!(next_fire(&every_30, at(1, 29, 59)), Some(at(1, 30, 0)));
        let crontab = schedule("15 6 * * *");
        assert_eq!(
            next_fire(&crontab, at(7, 0, 0)),
            Some(Utc.with_ymd_and_hms(2023, 2, 7, 6, 15, 0).unwrap())
        );
    }

    #[test]
    fn failing_sources_back_off_on_the_schedule_grid() {
        let every_30 = schedule("0 */30 * * * *");
        let ok = RunReport::default();
        assert_eq!(next_run(&every_30, at(1, 5, 0), &ok), Some(at(1, 30, 0)));
        let failing = |n| RunReport {
            consecutive_failures: n,
            retry_after: None,
        };
        // 1 failure: one interval (30 min) from now, rounded up to a fire time.
        assert_eq!(
            next_run(&every_30, at(1, 5, 0), &failing(1)),
            Some(at(2, 0, 0))
        );
        // 3 failures: 4 intervals = 2 h.
        assert_eq!(
            next_run(&every_30, at(1, 5, 0), &failing(3)),
            Some(at(3, 30, 0))
        );
        // Many failures: capped at a day, never dropped.
        let capped = next_run(&every_30, at(1, 5, 0), &failing(30)).unwrap();
        assert_eq!(capped, Utc.with_ymd_and_hms(2023, 2, 7, 1, 30, 0).unwrap());
        let asked = RunReport {
            consecutive_failures: 0,
            retry_after: Some(Duration::from_secs(3 * 3600)),
        };
        assert_eq!(next_run(&every_30, at(1, 5, 0), &asked), Some(at(4, 30, 0)));
    }

    #[test]
    fn jitter_stays_in_bounds() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(30));
            assert!(j <= Duration::from_secs(30));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    fn source(expr: &str) -> Arc<Source> {
        source_on("bode", "127.0.0.1:9", expr)
    }

    /// A source `id` on `host` (host:port) refreshed on `expr`.
    fn source_on(id: &str, host: &str, expr: &str) -> Arc<Source> {
        let text = format!(
            "[sources.{id}]\nname = \"{id}\"\ngroup = \"longbien\"\nbase = \"http://{host}/{id}\"\nschedule = \"{expr}\"\nfetch_articles = false\n[sources.{id}.listing]\nitem = \"li\"\ntitle = \"a\"\n[[sources.{id}.categories]]\nlabel = \"Tin\"\nlisting = \"/tin\"\n"
        );
        Arc::clone(
            &crate::config::parse(&text, "test.toml", &|_| None, crate::extract::check_rules)
                .unwrap()
                .sources[0],
        )
    }

    /// Runs the driver under paused time for `span`, with refreshes that take 10 s and report
    /// `reports` in turn; returns the planned and actual run times.
    async fn drive(
        expr: &str,
        jitter_max: Duration,
        reports: Vec<RunReport>,
        span: Duration,
    ) -> (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(at(1, 0, 0)));
        let runs = Arc::new(Mutex::new(Vec::new()));
        let plans = Arc::new(Mutex::new(Vec::new()));
        let reports = Arc::new(Mutex::new(reports.into_iter()));
        let refresher: Refresher = {
            let (runs, clock, reports) =
                (Arc::clone(&runs), Arc::clone(&clock), Arc::clone(&reports));
            Arc::new(move |_source| {
                let (runs, clock, reports) =
                    (Arc::clone(&runs), Arc::clone(&clock), Arc::clone(&reports));
                Box::pin(async move {
                    runs.lock().unwrap().push(clock.now());
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    reports.lock().unwrap().next().unwrap_or_default()
                })
            })
        };
        let planned: PlanListener = {
            let plans = Arc::clone(&plans);
            Arc::new(move |_, at| plans.lock().unwrap().push(at))
        };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(drive_source(
            source(expr),
            Arc::default(),
            RefreshSlots::new(8, 8),
            jitter_max,
            clock,
            refresher,
            planned,
            cancel.clone(),
        ));
        tokio::time::sleep(span).await;
        cancel.cancel();
        task.await.unwrap();
        let runs = runs.lock().unwrap().clone();
        let plans = plans.lock().unwrap().clone();
        (plans, runs)
    }

    #[tokio::test(start_paused = true)]
    async fn first_run_at_start_then_on_the_schedule() {
        let (_, runs) = drive(
            "0 */30 * * * *",
            Duration::ZERO,
            vec![],
            Duration::from_secs(2 * 3600),
        )
        .await;
        assert_eq!(
            runs,
            vec![at(1, 0, 0), at(1, 30, 0), at(2, 0, 0), at(2, 30, 0)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_delays_each_run_within_its_bound() {
        let (plans, runs) = drive(
            "0 */30 * * * *",
            Duration::from_secs(120),
            vec![],
            Duration::from_secs(3 * 3600),
        )
        .await;
        assert_eq!(runs.len(), 6);
        let grid = [
            at(1, 0, 0),
            at(1, 30, 0),
            at(2, 0, 0),
            at(2, 30, 0),
            at(3, 0, 0),
            at(3, 30, 0),
        ];
        for (run, slot) in runs.iter().zip(grid) {
            let delay = *run - slot;
            assert!(
                delay >= chrono::Duration::zero() && delay <= chrono::Duration::seconds(120),
                "{run} vs {slot}"
            );
        }
        for (plan, run) in plans.iter().zip(&runs) {
            // tokio's timers fire on whole milliseconds.
            let late = *run - *plan;
            assert!(
                late >= chrono::Duration::zero() && late <= chrono::Duration::milliseconds(1),
                "planned {plan}, ran {run}"
            );
        }
    }

    /// The first two runs meet a bug: the schedule goes on, backing off as for failures
    /// (30 min after one, 60 min after two), and returns to every 30 min once a run completes.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_that_panics_backs_off_and_does_not_end_the_schedule() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(at(1, 0, 0)));
        let runs = Arc::new(Mutex::new(Vec::new()));
        let refresher: Refresher = {
            let (runs, clock) = (Arc::clone(&runs), Arc::clone(&clock));
            Arc::new(move |_source| {
                let (runs, clock) = (Arc::clone(&runs), Arc::clone(&clock));
                Box::pin(async move {
                    let run = {
                        let mut runs = runs.lock().unwrap();
                        runs.push(clock.now());
                        runs.len()
                    };
                    assert!(run > 2, "a bug met on run {run}");
                    RunReport::default()
                })
            })
        };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(drive_source(
            source("0 */30 * * * *"),
            Arc::default(),
            RefreshSlots::new(8, 8),
            Duration::ZERO,
            clock,
            refresher,
            Arc::new(|_, _| {}),
            cancel.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(2 * 3600 + 60)).await;
        cancel.cancel();
        task.await.expect("the driver itself never panics");
        assert_eq!(
            *runs.lock().unwrap(),
            vec![at(1, 0, 0), at(1, 30, 0), at(2, 30, 0), at(3, 0, 0)]
        );
    }

    /// The failures counted by the refresh (1, 2, 3) or not (1, 1, 1: the daemon's refresh
    /// when the store fails, which cannot read the source's health): the same back-off.
    #[tokio::test(start_paused = true)]
    async fn a_failing_source_backs_off_then_recovers() {
        let failing = |n| RunReport {
            consecutive_failures: n,
            retry_after: None,
        };
        for counts in [[1, 2, 3], [1, 1, 1]] {
            let mut reports: Vec<RunReport> = counts.into_iter().map(failing).collect();
            reports.push(RunReport::default());
            let (_, runs) = drive(
                "0 */30 * * * *",
                Duration::ZERO,
                reports,
                Duration::from_secs(10 * 3600),
            )
            .await;
            // Each run takes 10 s. 01:00 fails once: wait 30 min, next slot after 01:30:10 is
            // 02:00. 02:00 fails twice: 60 min → 03:30. 03:30 fails thrice: 120 min → 06:00,
            // which works; then every 30 min again.
            assert_eq!(
                &runs[..6],
                &[
                    at(1, 0, 0),
                    at(2, 0, 0),
                    at(3, 30, 0),
                    at(6, 0, 0),
                    at(6, 30, 0),
                    at(7, 0, 0)
                ],
                "failures counted {counts:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_retry_after_is_respected() {
        let asked = RunReport {
            consecutive_failures: 0,
            retry_after: Some(Duration::from_secs(5400)),
        };
        let (_, runs) = drive(
            "0 */30 * * * *",
            Duration::ZERO,
            vec![asked],
            Duration::from_secs(3 * 3600),
        )
        .await;
        // The 01:00 run (ending 01:00:10) was asked to wait 90 min: the next slot after 02:30:10.
        assert_eq!(&runs[..3], &[at(1, 0, 0), at(3, 0, 0), at(3, 30, 0)]);
    }

    /// `Retry-After: 10000000000000` once panicked the driver (`DateTime + TimeDelta
    /// overflowed`), ending the source's schedule; 999999999 paused it for 31 years.
    #[tokio::test(start_paused = true)]
    async fn an_absurd_retry_after_waits_at_most_max_wait_and_never_panics() {
        for asked in [10_000_000_000_000, 999_999_999, u64::MAX] {
            let report = RunReport {
                consecutive_failures: 3,
                retry_after: Some(Duration::from_secs(asked)),
            };
            let next = next_run(&schedule("0 */30 * * * *"), at(1, 0, 10), &report).unwrap();
            assert_eq!(
                next,
                Utc.with_ymd_and_hms(2023, 3, 8, 1, 30, 0).unwrap(),
                "Retry-After {asked}"
            );
        }
        let asked = RunReport {
            consecutive_failures: 0,
            retry_after: Some(Duration::from_secs(10_000_000_000_000)),
        };
        let (_, runs) = drive(
            "0 */30 * * * *",
            Duration::ZERO,
            vec![asked],
            MAX_WAIT + Duration::from_secs(2 * 3600),
        )
        .await;
        assert_eq!(
            &runs[..3],
            &[
                at(1, 0, 0),
                Utc.with_ymd_and_hms(2023, 3, 8, 1, 30, 0).unwrap(),
                Utc.with_ymd_and_hms(2023, 3, 8, 2, 0, 0).unwrap(),
            ]
        );
    }

    /// When each refresh started.
    type Runs = Arc<Mutex<Vec<DateTime<Utc>>>>;
    /// Refreshes running now, and the most ever running at once.
    type Running = Arc<Mutex<(usize, usize)>>;

    /// A refresher that takes `takes` and records, per call, when it started and how many
    /// refreshes were running at once at most.
    fn counting_refresher(clock: Arc<dyn Clock>, takes: Duration) -> (Refresher, Runs, Running) {
        let runs = Arc::new(Mutex::new(Vec::new()));
        // (running now, most ever running at once)
        let running = Arc::new(Mutex::new((0usize, 0usize)));
        let refresher: Refresher = {
            let (runs, running) = (Arc::clone(&runs), Arc::clone(&running));
            Arc::new(move |_source| {
                let (runs, running, clock) =
                    (Arc::clone(&runs), Arc::clone(&running), Arc::clone(&clock));
                Box::pin(async move {
                    runs.lock().unwrap().push(clock.now());
                    {
                        let mut running = running.lock().unwrap();
                        running.0 += 1;
                        running.1 = running.1.max(running.0);
                    }
                    tokio::time::sleep(takes).await;
                    running.lock().unwrap().0 -= 1;
                    RunReport::default()
                })
            })
        };
        (refresher, runs, running)
    }

    /// Reloads replace a source's task while its refresh runs (refreshes of 10 s, a schedule
    /// of every second, a reload every 2 s): the refreshes follow each other, never overlap
    /// (before, each reload's task started one more, six at once were seen).
    #[tokio::test(start_paused = true)]
    async fn tasks_replaced_during_a_refresh_never_overlap_it() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(at(1, 0, 0)));
        let (refresher, runs, running) =
            counting_refresher(Arc::clone(&clock), Duration::from_secs(10));
        let turn = Arc::new(Turn::default());
        let mut tasks = Vec::new();
        let mut cancel = CancellationToken::new();
        for _ in 0..6 {
            cancel.cancel();
            cancel = CancellationToken::new();
            tasks.push(tokio::spawn(drive_source(
                source("* * * * * *"),
                Arc::clone(&turn),
                RefreshSlots::new(8, 8),
                Duration::ZERO,
                Arc::clone(&clock),
                Arc::clone(&refresher),
                Arc::new(|_, _| {}),
                cancel.clone(),
            )));
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        cancel.cancel();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(running.lock().unwrap().1, 1, "refreshes ran at once");
        let runs = runs.lock().unwrap().clone();
        assert!(runs.len() >= 4, "refreshes went on: {runs:?}");
        for pair in runs.windows(2) {
            assert!(
                pair[1] - pair[0] >= chrono::Duration::seconds(10),
                "{runs:?}"
            );
        }
    }

    /// A reload during the start-up jitter replaces the task before its first run: the new
    /// task still runs it (within the jitter), not at the next cron slot 30 min later.
    #[tokio::test(start_paused = true)]
    async fn a_task_replaced_during_the_start_up_jitter_still_runs_first() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(at(1, 0, 0)));
        let (refresher, runs, _) = counting_refresher(Arc::clone(&clock), Duration::from_secs(1));
        let turn = Arc::new(Turn::default());
        let start = |cancel: &CancellationToken| {
            tokio::spawn(drive_source(
                source("0 */30 * * * *"),
                Arc::clone(&turn),
                RefreshSlots::new(8, 8),
                Duration::from_secs(120),
                Arc::clone(&clock),
                Arc::clone(&refresher),
                Arc::new(|_, _| {}),
                cancel.clone(),
            ))
        };
        let first = CancellationToken::new();
        let waiting = start(&first);
        // Let it plan its jitter and wait; no time passes.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        first.cancel();
        waiting.await.unwrap();
        assert!(runs.lock().unwrap().is_empty(), "no run before the reload");
        let second = CancellationToken::new();
        let task = start(&second);
        tokio::time::sleep(Duration::from_secs(200)).await;
        second.cancel();
        task.await.unwrap();
        let runs = runs.lock().unwrap().clone();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert!(
            runs[0] <= at(1, 2, 0) + chrono::Duration::milliseconds(1),
            "{runs:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_stops_a_waiting_driver_at_once() {
        let (_, runs) = drive(
            "0 0 */6 * * *",
            Duration::ZERO,
            vec![],
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(runs, vec![at(1, 0, 0)]);
    }

    /// Twelve sources, six on each of two hosts, refreshes of 10 s, at most 3 at once and 2
    /// per host: never more run at once, every source still gets its first run, in turns of
    /// 10 s (none passed over).
    #[tokio::test(start_paused = true)]
    async fn refreshes_run_at_most_the_slots_at_once_in_all_and_per_host() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(at(1, 0, 0)));
        // Per host: (running now, most at once); in all: the same; and who started when.
        let hosts: Arc<Mutex<std::collections::HashMap<String, (usize, usize)>>> = Arc::default();
        let all: Arc<Mutex<(usize, usize)>> = Arc::default();
        let started: Runs = Arc::default();
        let refresher: Refresher = {
            let (hosts, all, started, clock) = (
                Arc::clone(&hosts),
                Arc::clone(&all),
                Arc::clone(&started),
                Arc::clone(&clock),
            );
            Arc::new(move |source: Arc<Source>| {
                let (hosts, all, started, clock) = (
                    Arc::clone(&hosts),
                    Arc::clone(&all),
                    Arc::clone(&started),
                    Arc::clone(&clock),
                );
                Box::pin(async move {
                    let host = source.base.host_str().unwrap().to_owned();
                    started.lock().unwrap().push(clock.now());
                    for count in [
                        &mut *all.lock().unwrap(),
                        hosts.lock().unwrap().entry(host.clone()).or_default(),
                    ] {
                        count.0 += 1;
                        count.1 = count.1.max(count.0);
                    }
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    all.lock().unwrap().0 -= 1;
                    hosts.lock().unwrap().get_mut(&host).unwrap().0 -= 1;
                    RunReport::default()
                })
            })
        };
        let slots = RefreshSlots::new(3, 2);
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();
        for n in 0..12 {
            let host = if n % 2 == 0 {
                "127.0.0.1:9"
            } else {
                "127.0.0.2:9"
            };
            tasks.push(tokio::spawn(drive_source(
                source_on(&format!("s{n:02}"), host, "0 0 0 1 1 *"),
                Arc::default(),
                Arc::clone(&slots),
                Duration::ZERO,
                Arc::clone(&clock),
                Arc::clone(&refresher),
                Arc::new(|_, _| {}),
                cancel.clone(),
            )));
            // Each asks for its slot before the next is spawned.
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_secs(45)).await;
        cancel.cancel();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(all.lock().unwrap().1, 3, "most refreshes at once, in all");
        for (host, (_, most)) in hosts.lock().unwrap().iter() {
            assert!(*most <= 2, "{most} refreshes at once on {host}");
        }
        let started = started.lock().unwrap().clone();
        assert_eq!(started.len(), 12, "every source ran once: {started:?}");
        assert_eq!(started.last(), Some(&at(1, 0, 30)), "in turns of 10 s");
        assert_eq!(slots.running(), 0, "every slot given back");
    }

    /// A task stopped (a reload) while it waits for a slot has not begun its first run: the
    /// task that replaces it runs it at once when a slot frees, not at the next cron time.
    #[tokio::test(start_paused = true)]
    async fn a_task_replaced_while_waiting_for_a_slot_still_runs_first() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(at(1, 0, 0)));
        let (refresher, runs, _) = counting_refresher(Arc::clone(&clock), Duration::from_secs(10));
        let slots = RefreshSlots::new(1, 1);
        let spawn = |id: &str, turn: Arc<Turn>, cancel: &CancellationToken| {
            tokio::spawn(drive_source(
                source_on(id, "127.0.0.1:9", "0 0 0 1 1 *"),
                turn,
                Arc::clone(&slots),
                Duration::ZERO,
                Arc::clone(&clock),
                Arc::clone(&refresher),
                Arc::new(|_, _| {}),
                cancel.clone(),
            ))
        };
        let stop = CancellationToken::new();
        let busy = spawn("a", Arc::default(), &stop);
        tokio::task::yield_now().await;
        let waiting_turn = Arc::new(Turn::default());
        let reload = CancellationToken::new();
        let waiting = spawn("b", Arc::clone(&waiting_turn), &reload);
        tokio::time::sleep(Duration::from_secs(5)).await;
        reload.cancel();
        waiting.await.unwrap();
        let replaced = spawn("b", Arc::clone(&waiting_turn), &stop);
        tokio::time::sleep(Duration::from_secs(30)).await;
        stop.cancel();
        busy.await.unwrap();
        replaced.await.unwrap();
        assert_eq!(
            runs.lock().unwrap().clone(),
            vec![at(1, 0, 0), at(1, 0, 10)],
            "b's first run came when a's refresh gave its slot back"
        );
    }
}
