//! Process-wide operational metrics and their Prometheus text exposition (format 0.0.4),
//! through the `prometheus` crate (tikv's client): the families are registered here, with
//! their names and help; the crate keeps the values and writes the text.
//!
//! Every label set is bounded: sources come from the configuration, fetch outcomes are HTTP
//! statuses or a handful of failure kinds, routes are a fixed vocabulary (hence
//! `&'static str`), and source statuses are the five the model knows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The `Content-Type` a `/metrics` response carries.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds, in seconds, of the fetch and refresh duration histograms. A fetch is usually
/// well under a second; the long tail up to the fetch timeout is what tells a slow portal.
const DURATION_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Source statuses: `model::SourceStatus::as_str`'s values.
const STATUSES: [&str; 5] = ["degraded", "empty", "failing", "ok", "pending"];

/// Process-wide metrics, shared behind an `Arc`; all methods take `&self` and are cheap
/// (the crate's atomics, one short std `Mutex` section for a fetch), safe from any thread.
pub struct Metrics {
    /// Whether the fetch and refresh families carry a `source` label and the per-source
    /// gauges (`wardfeed_source_*`) are kept (`server.per_source_metrics`); else those
    /// families are totals over every source.
    source_labels: bool,
    registry: Registry,
    /// The per-source families, rendered once per change of them.
    per_source: Registry,
    /// Bumped by every change to a per-source family.
    source_changes: Arc<AtomicU64>,
    /// The per-source families' exposition as last rendered, by family name, with the
    /// `source_changes` it shows.
    source_text: Mutex<Option<(u64, Arc<FamilyBlocks>)>>,
    source_renders: AtomicU64,
    fetches: IntCounterVec,
    fetch_duration: HistogramVec,
    fetched_bytes: IntCounterVec,
    refreshes: IntCounterVec,
    refresh_duration: HistogramVec,
    items_new: IntCounterVec,
    items_updated: IntCounterVec,
    listing_failures: IntCounterVec,
    consecutive_failures: IntGaugeVec,
    source_items: IntGaugeVec,
    last_success: IntGaugeVec,
    status: IntGaugeVec,
    up: IntGaugeVec,
    http_requests: IntCounterVec,
    http_dropped: IntCounterVec,
    in_flight: IntGaugeVec,
    /// Refreshes running now, over every source.
    refreshes_running: IntGauge,
    /// Sources per current status (`wardfeed_sources`), from `statuses`.
    sources: IntGaugeVec,
    /// Each configured source's last reported status, for `sources`, and the configured
    /// sources once the schedule has said which they are (`configure_sources`).
    statuses: Mutex<SourceStatuses>,
    store_up: IntGauge,
    store_errors: IntCounter,
    feed_cuts: IntCounterVec,
    document_cache_bytes: IntGauge,
    document_cache_evictions: IntCounter,
    /// The fetch outcomes each source has had, so that forgetting a source can remove its
    /// `wardfeed_fetches_total` series (the crate removes series by their full label set).
    outcomes: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new(false)
    }
}

/// What `wardfeed_sources` counts from.
#[derive(Default)]
struct SourceStatuses {
    by_source: HashMap<String, &'static str>,
    /// `None` until `configure_sources`: every reported source counts.
    configured: Option<std::collections::HashSet<String>>,
}

/// What a new configuration changed for the metrics (`Metrics::configure_sources`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SourcesChange {
    /// Sources counted before that the configuration no longer has: forget them.
    pub removed: Vec<String>,
    /// Configured sources never reported: report their health.
    pub unreported: Vec<String>,
}

/// Registers families on one registry; a name or help the crate refuses is a programming
/// error caught by every test that builds `Metrics`.
struct Families<'a>(&'a Registry);

impl Families<'_> {
    fn register<M: prometheus::core::Collector + Clone + 'static>(&self, metric: M) -> M {
        self.0
            .register(Box::new(metric.clone()))
            .expect("metric families have distinct valid names");
        metric
    }

    fn counters(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter"))
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge"))
    }

    fn durations(&self, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec());
        self.register(HistogramVec::new(opts, labels).expect("valid histogram"))
    }
}

/// A refresh counted in `wardfeed_source_refreshes_in_flight` until dropped (a panicking
/// refresh included).
pub struct InFlight {
    source: Option<IntGauge>,
    all: IntGauge,
    changes: Arc<AtomicU64>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(gauge) = &self.source {
            gauge.dec();
        }
        self.all.dec();
        self.changes.fetch_add(1, Ordering::Release);
    }
}

impl Metrics {
    /// Metrics for a process that starts now; `source_labels`: series per source
    /// (`server.per_source_metrics`).
    pub fn new(source_labels: bool) -> Metrics {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        Metrics::with_start_time(start, source_labels)
    }

    /// Metrics whose `wardfeed_process_start_time_seconds` is `start_time_unix`, for tests
    /// that compare whole expositions.
    pub fn with_start_time(start_time_unix: f64, source_labels: bool) -> Metrics {
        let registry = Registry::new();
        let families = Families(&registry);
        // The fetch and refresh families change only when a source is fetched, refreshed or
        // forgotten: their text is kept between those changes (`render`). Per source (about
        // 40 series a source: 400,000 lines and ~80 MB of series at 10,000 sources) only
        // when asked; else one series (or one per outcome) over every source.
        let per_source = Registry::new();
        let source_families = Families(&per_source);
        let source: &[&str] = if source_labels { &["source"] } else { &[] };
        let source_outcome: &[&str] = if source_labels {
            &["source", "outcome"]
        } else {
            &["outcome"]
        };
        let per = |what: &str| match source_labels {
            true => format!("{what}, per source."),
            false => format!("{what}, over every source."),
        };
        families
            .gauges(
                "wardfeed_build_info",
                "Always 1; the version label says which wardfeed is running.",
                &["version"],
            )
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        families
            .register(
                Gauge::new(
                    "wardfeed_process_start_time_seconds",
                    "Start time of the process since the unix epoch, in seconds.",
                )
                .expect("valid gauge"),
            )
            .set(start_time_unix);
        let store_up = families.register(
            IntGauge::new(
                "wardfeed_store_up",
                "1 while the store works, 0 while its reads or writes fail (a full disk, an I/O error).",
            )
            .expect("valid gauge"),
        );
        // A daemon only runs on a store that opened whole.
        store_up.set(1);
        let sources = families.gauges(
            "wardfeed_sources",
            "Configured sources (enabled or not) per the status of their last refresh \
             (pending until their first).",
            &["status"],
        );
        // Every status has its series from the start, 0 until a source is in it.
        for status in STATUSES {
            sources.with_label_values(&[status]).set(0);
        }
        Metrics {
            source_labels,
            fetches: source_families.counters(
                "wardfeed_fetches_total",
                if source_labels {
                    "Fetch attempts, per source and outcome (HTTP status or failure kind)."
                } else {
                    "Fetch attempts over every source, per outcome (HTTP status or failure kind)."
                },
                source_outcome,
            ),
            fetch_duration: source_families.durations(
                "wardfeed_fetch_duration_seconds",
                &per("Time taken by fetch attempts"),
                source,
            ),
            fetched_bytes: source_families.counters(
                "wardfeed_fetched_bytes_total",
                &per("Response body bytes fetched"),
                source,
            ),
            refreshes: source_families.counters(
                "wardfeed_refreshes_total",
                &per("Refreshes finished"),
                source,
            ),
            refresh_duration: source_families.durations(
                "wardfeed_refresh_duration_seconds",
                &per("Time taken by refreshes (scrape and store)"),
                source,
            ),
            items_new: source_families.counters(
                "wardfeed_items_new_total",
                &per("Items stored for the first time"),
                source,
            ),
            items_updated: source_families.counters(
                "wardfeed_items_updated_total",
                &per("Stored items whose content changed"),
                source,
            ),
            listing_failures: source_families.counters(
                "wardfeed_listing_failures_total",
                &per("Listings that failed during refreshes"),
                source,
            ),
            consecutive_failures: source_families.gauges(
                "wardfeed_source_consecutive_failures",
                "Refreshes that failed in a row, per source.",
                &["source"],
            ),
            source_items: source_families.gauges(
                "wardfeed_source_items",
                "Items held in the store, per source.",
                &["source"],
            ),
            last_success: source_families.gauges(
                "wardfeed_source_last_success_timestamp_seconds",
                "When the source last refreshed successfully, since the unix epoch, in seconds.",
                &["source"],
            ),
            status: source_families.gauges(
                "wardfeed_source_status",
                "1 for the source's current status, 0 for the others.",
                &["source", "status"],
            ),
            up: source_families.gauges(
                "wardfeed_source_up",
                "1 when the source's last refresh worked (status ok or empty), else 0.",
                &["source"],
            ),
            http_requests: families.counters(
                "wardfeed_http_requests_total",
                "HTTP requests answered, per route and status code.",
                &["route", "status"],
            ),
            http_dropped: families.counters(
                "wardfeed_http_connections_dropped_total",
                "Client connections closed before their response was written, per reason \
                 (write_timeout: the client took no bytes for server.write_timeout_secs; \
                 shutdown: still unfinished when stopping's grace ended).",
                &["reason"],
            ),
            in_flight: source_families.gauges(
                "wardfeed_source_refreshes_in_flight",
                "Refreshes of the source running now (never more than 1).",
                &["source"],
            ),
            refreshes_running: families.register(
                IntGauge::new(
                    "wardfeed_refreshes_in_flight",
                    "Refreshes running now, over every source.",
                )
                .expect("valid gauge"),
            ),
            sources,
            statuses: Mutex::new(SourceStatuses::default()),
            store_up,
            store_errors: families.register(
                IntCounter::new(
                    "wardfeed_store_errors_total",
                    "Store reads and writes that failed since the process started.",
                )
                .expect("valid counter"),
            ),
            feed_cuts: families.counters(
                "wardfeed_feed_budget_cuts_total",
                "Feed entries cut to fit a document's byte budget, per what was left out \
                 (body: replaced by a link note; summary; entry: left out of the feed).",
                &["left_out"],
            ),
            document_cache_bytes: families.register(
                IntGauge::new(
                    "wardfeed_document_cache_bytes",
                    "Bytes of rendered documents kept for serving (every encoding built so far).",
                )
                .expect("valid gauge"),
            ),
            document_cache_evictions: families.register(
                IntCounter::new(
                    "wardfeed_document_cache_evictions_total",
                    "Rendered documents dropped, least recently served first, to keep the \
                     document cache within its byte budget (rendered again when asked).",
                )
                .expect("valid counter"),
            ),
            outcomes: Mutex::new(BTreeMap::new()),
            registry,
            per_source,
            source_changes: Arc::new(AtomicU64::new(0)),
            source_text: Mutex::new(None),
            source_renders: AtomicU64::new(0),
        }
    }

    /// One fetch attempt of `source`: `outcome` is the HTTP status as text ("200", "304",
    /// "404", "500"…) or the failure's kind (`model::ErrorKind::as_str`: "timeout",
    /// "network", "too_large", "redirects", "robots", "off_site").
    pub fn record_fetch(&self, source: &str, outcome: &str, duration: Duration, bytes: u64) {
        self.source_changed();
        let by_source = [source];
        let (labels, fetch_labels): (&[&str], &[&str]) = if self.source_labels {
            (&by_source, &[source, outcome])
        } else {
            (&[], &[outcome])
        };
        if self.source_labels {
            let mut outcomes = lock(&self.outcomes);
            // Look up before inserting: the strings are only copied the first time.
            match outcomes.get_mut(source) {
                Some(seen) if seen.contains(outcome) => {}
                Some(seen) => {
                    seen.insert(outcome.to_owned());
                }
                None => {
                    outcomes.insert(source.to_owned(), BTreeSet::from([outcome.to_owned()]));
                }
            }
        }
        self.fetches.with_label_values(fetch_labels).inc();
        self.fetch_duration
            .with_label_values(labels)
            .observe(duration.as_secs_f64());
        self.fetched_bytes.with_label_values(labels).inc_by(bytes);
    }

    /// One refresh (scrape + store) of a source finished.
    pub fn record_refresh(
        &self,
        source: &str,
        items_new: u64,
        items_updated: u64,
        failed_listings: u64,
        duration: Duration,
    ) {
        self.source_changed();
        let by_source = [source];
        let labels: &[&str] = if self.source_labels { &by_source } else { &[] };
        self.refreshes.with_label_values(labels).inc();
        self.refresh_duration
            .with_label_values(labels)
            .observe(duration.as_secs_f64());
        self.items_new.with_label_values(labels).inc_by(items_new);
        self.items_updated
            .with_label_values(labels)
            .inc_by(items_updated);
        self.listing_failures
            .with_label_values(labels)
            .inc_by(failed_listings);
    }

    /// The source's health after a refresh: `status` one of "pending", "ok", "empty",
    /// "degraded", "failing" (`model::SourceStatus::as_str`); `last_success_unix` as a unix
    /// timestamp (seconds) if it ever succeeded. Any other status reads as 0 on every status
    /// series and as down. Until the first call a source has no health series at all, so the
    /// gauges never claim a state nobody reported.
    pub fn set_source_health(
        &self,
        source: &str,
        status: &str,
        consecutive_failures: u32,
        items_stored: u64,
        last_success_unix: Option<i64>,
    ) {
        // A refresh that ends after its source was removed reports nothing.
        if !self.count_status(source, status) || !self.source_labels {
            return;
        }
        self.source_changed();
        let labels = &[source];
        self.consecutive_failures
            .with_label_values(labels)
            .set(i64::from(consecutive_failures));
        self.source_items
            .with_label_values(labels)
            .set(i64::try_from(items_stored).unwrap_or(i64::MAX));
        match last_success_unix {
            Some(at) => self.last_success.with_label_values(labels).set(at),
            None => {
                let _ = self.last_success.remove_label_values(labels);
            }
        }
        for known in STATUSES {
            self.status
                .with_label_values(&[source, known])
                .set(i64::from(known == status));
        }
        self.up
            .with_label_values(labels)
            .set(i64::from(matches!(status, "ok" | "empty")));
    }

    /// One HTTP request answered: `route` is a small fixed vocabulary ("feed", "dashboard",
    /// "opml", "stylesheet", "healthz", "metrics", "status", "other"), `status` the HTTP status
    /// code.
    pub fn record_http(&self, route: &'static str, status: u16) {
        self.http_requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
    }

    /// Counts a refresh of `source` as running until the returned guard is dropped.
    pub fn refresh_in_flight(&self, source: &str) -> InFlight {
        self.source_changed();
        let gauge = self
            .source_labels
            .then(|| self.in_flight.with_label_values(&[source]));
        if let Some(gauge) = &gauge {
            gauge.inc();
        }
        self.refreshes_running.inc();
        InFlight {
            source: gauge,
            all: self.refreshes_running.clone(),
            changes: Arc::clone(&self.source_changes),
        }
    }

    /// Moves `source` to `status` in `wardfeed_sources`; false (nothing counted) for a source
    /// the configuration no longer has.
    fn count_status(&self, source: &str, status: &str) -> bool {
        let mut statuses = lock(&self.statuses);
        if statuses
            .configured
            .as_ref()
            .is_some_and(|configured| !configured.contains(source))
        {
            return false;
        }
        let Some(status) = STATUSES.into_iter().find(|known| *known == status) else {
            // `model::SourceStatus` has exactly these five (a test holds them together).
            tracing::warn!(
                source,
                status,
                "a source status /metrics does not know; not counted"
            );
            if let Some(before) = statuses.by_source.remove(source) {
                self.sources.with_label_values(&[before]).dec();
            }
            return true;
        };
        // Under the lock: two reports at once never leave a count off by one.
        let before = match statuses.by_source.get_mut(source) {
            Some(held) => Some(std::mem::replace(held, status)),
            None => {
                statuses.by_source.insert(source.to_owned(), status);
                None
            }
        };
        if before != Some(status) {
            if let Some(before) = before {
                self.sources.with_label_values(&[before]).dec();
            }
            self.sources.with_label_values(&[status]).inc();
        }
        true
    }

    /// The sources the configuration has now (enabled or not): from here on only these are
    /// counted in `wardfeed_sources`. Says which counted ones it no longer has (to forget)
    /// and which configured ones were never reported (to report before their first refresh).
    pub fn configure_sources<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> SourcesChange {
        let configured: std::collections::HashSet<String> =
            ids.into_iter().map(str::to_owned).collect();
        let mut statuses = lock(&self.statuses);
        let mut change = SourcesChange {
            removed: statuses
                .by_source
                .keys()
                .filter(|id| !configured.contains(*id))
                .cloned()
                .collect(),
            unreported: configured
                .iter()
                .filter(|id| !statuses.by_source.contains_key(*id))
                .cloned()
                .collect(),
        };
        change.removed.sort();
        change.unreported.sort();
        statuses.configured = Some(configured);
        change
    }

    /// A feed render cut to its byte budget: how many bodies, summaries and entries it left
    /// out (nothing is counted for a render that fitted).
    pub fn record_feed_cut(&self, bodies: usize, summaries: usize, entries: usize) {
        for (left_out, count) in [("body", bodies), ("summary", summaries), ("entry", entries)] {
            if count > 0 {
                self.feed_cuts
                    .with_label_values(&[left_out])
                    .inc_by(count as u64);
            }
        }
    }

    /// The document cache now holds `bytes`, after `evicted` more documents were dropped to
    /// keep it within its budget.
    pub fn record_document_cache(&self, bytes: usize, evicted: usize) {
        self.document_cache_bytes.set(bytes as i64);
        self.document_cache_evictions.inc_by(evicted as u64);
    }

    /// A client connection closed with its response unfinished: `reason` is "write_timeout"
    /// or "shutdown".
    pub fn record_dropped_connection(&self, reason: &'static str) {
        self.http_dropped.with_label_values(&[reason]).inc();
    }

    /// The store's condition: whether it works, and its failures since the start (a count the
    /// store keeps; the counter is moved up to it).
    pub fn set_store(&self, working: bool, errors_total: u64) {
        self.store_up.set(i64::from(working));
        let counted = self.store_errors.get();
        if errors_total > counted {
            self.store_errors.inc_by(errors_total - counted);
        }
    }

    /// Forget a source removed from the configuration (its series disappear). A refresh of it
    /// still in flight when it is forgotten brings its series back until the next forget.
    pub fn forget_source(&self, source: &str) {
        {
            let mut statuses = lock(&self.statuses);
            if let Some(status) = statuses.by_source.remove(source) {
                self.sources.with_label_values(&[status]).dec();
            }
        }
        if !self.source_labels {
            return;
        }
        self.source_changed();
        let labels = &[source];
        // Removing a series that was never created is an error the crate reports and we
        // ignore: forgetting is idempotent.
        for family in [
            &self.fetched_bytes,
            &self.refreshes,
            &self.items_new,
            &self.items_updated,
            &self.listing_failures,
        ] {
            let _ = family.remove_label_values(labels);
        }
        for family in [&self.fetch_duration, &self.refresh_duration] {
            let _ = family.remove_label_values(labels);
        }
        for family in [
            &self.consecutive_failures,
            &self.source_items,
            &self.last_success,
            &self.up,
            &self.in_flight,
        ] {
            let _ = family.remove_label_values(labels);
        }
        for status in STATUSES {
            let _ = self.status.remove_label_values(&[source, status]);
        }
        if let Some(outcomes) = lock(&self.outcomes).remove(source) {
            for outcome in outcomes {
                let _ = self.fetches.remove_label_values(&[source, &outcome]);
            }
        }
    }

    fn source_changed(&self) {
        self.source_changes.fetch_add(1, Ordering::Release);
    }

    /// Per-source family renders since start (a test tells a kept one by it).
    pub fn source_renders(&self) -> u64 {
        self.source_renders.load(Ordering::Relaxed)
    }

    /// The exposition text: families by name, series by label values (the crate's order).
    /// The per-source families' text is kept until one of them changes; the others (HTTP
    /// requests, the store, the caches: a few dozen lines) are rendered each time.
    pub fn render(&self) -> String {
        // Read before rendering: a change during the render makes the next one render again.
        let changes = self.source_changes.load(Ordering::Acquire);
        let kept = lock(&self.source_text)
            .as_ref()
            .filter(|(at, _)| *at == changes)
            .map(|(_, blocks)| Arc::clone(blocks));
        let per_source = match kept {
            Some(blocks) => blocks,
            None => {
                let blocks = Arc::new(family_blocks(&encode(&self.per_source)));
                self.source_renders.fetch_add(1, Ordering::Relaxed);
                *lock(&self.source_text) = Some((changes, Arc::clone(&blocks)));
                blocks
            }
        };
        let process = family_blocks(&encode(&self.registry));
        let mut text = String::with_capacity(
            per_source.iter().map(|(_, b)| b.len()).sum::<usize>()
                + process.iter().map(|(_, b)| b.len()).sum::<usize>(),
        );
        // Both lists are in name order (the crate sorts families): merged, the text is what
        // one registry would give.
        let (mut a, mut b) = (per_source.iter().peekable(), process.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some((_, block)) = next {
                text.push_str(block);
            }
        }
        text
    }
}

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Encoding cannot fail: every family has a type and a name the registry accepted.
    let _ = TextEncoder::new().encode_utf8(&registry.gather(), &mut text);
    text
}

/// An exposition's families, each with its name and its text (from its `# HELP` line).
type FamilyBlocks = Vec<(String, String)>;

/// An exposition cut into its families.
fn family_blocks(text: &str) -> FamilyBlocks {
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default().to_owned();
            blocks.push((name, String::new()));
        }
        match blocks.last_mut() {
            Some((_, block)) => block.push_str(line),
            None => blocks.push((String::new(), line.to_owned())),
        }
    }
    blocks
}

/// Locks a metrics mutex even if a thread panicked while holding it: the worst a panic can
/// leave behind is one outcome not remembered for forgetting.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::Arc;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn per_source_series_are_rendered_once_per_change_of_them() {
        let metrics = Metrics::with_start_time(1_700_000_000.5, true);
        metrics.record_fetch("phucloi", "200", ms(10), 100);
        let first = metrics.render();
        assert_eq!(metrics.source_renders(), 1);
        // Requests counted, nothing per source changed: the kept text, fresh HTTP counts.
        metrics.record_http("feed", 200);
        let second = metrics.render();
        assert_eq!(metrics.source_renders(), 1);
        assert!(!first.contains("wardfeed_http_requests_total{"));
        assert!(second.contains(r#"wardfeed_http_requests_total{route="feed",status="200"} 1"#));
        // A fetch, a refresh in flight and its end are changes.
        metrics.record_fetch("phucloi", "200", ms(10), 100);
        let third = metrics.render();
        assert_eq!(metrics.source_renders(), 2);
        assert!(third.contains(r#"wardfeed_fetches_total{outcome="200",source="phucloi"} 2"#));
        let running = metrics.refresh_in_flight("phucloi");
        assert!(
            metrics
                .render()
                .contains(r#"wardfeed_source_refreshes_in_flight{source="phucloi"} 1"#)
        );
        drop(running);
        assert!(
            metrics
                .render()
                .contains(r#"wardfeed_source_refreshes_in_flight{source="phucloi"} 0"#)
        );
        assert_eq!(metrics.source_renders(), 4);
    }

    #[test]
    fn a_fresh_process_shows_only_process_series() {
        let metrics = Metrics::with_start_time(1_700_000_000.5, true);
        assert_eq!(
            metrics.render(),
            format!(
                "\
# HELP wardfeed_build_info Always 1; the version label says which wardfeed is running.
# TYPE wardfeed_build_info gauge
wardfeed_build_info{{version=\"{version}\"}} 1
# HELP wardfeed_document_cache_bytes Bytes of rendered documents kept for serving (every encoding built so far).
# TYPE wardfeed_document_cache_bytes gauge
wardfeed_document_cache_bytes 0
# HELP wardfeed_document_cache_evictions_total Rendered documents dropped, least recently served first, to keep the document cache within its byte budget (rendered again when asked).
# TYPE wardfeed_document_cache_evictions_total counter
wardfeed_document_cache_evictions_total 0
# HELP wardfeed_process_start_time_seconds Start time of the process since the unix epoch, in seconds.
# TYPE wardfeed_process_start_time_seconds gauge
wardfeed_process_start_time_seconds 1700000000.5
# HELP wardfeed_refreshes_in_flight Refreshes running now, over every source.
# TYPE wardfeed_refreshes_in_flight gauge
wardfeed_refreshes_in_flight 0
# HELP wardfeed_sources Configured sources (enabled or not) per the status of their last refresh (pending until their first).
# TYPE wardfeed_sources gauge
wardfeed_sources{{status=\"degraded\"}} 0
wardfeed_sources{{status=\"empty\"}} 0
wardfeed_sources{{status=\"failing\"}} 0
wardfeed_sources{{status=\"ok\"}} 0
wardfeed_sources{{status=\"pending\"}} 0
# HELP wardfeed_store_errors_total Store reads and writes that failed since the process started.
# TYPE wardfeed_store_errors_total counter
wardfeed_store_errors_total 0
# HELP wardfeed_store_up 1 while the store works, 0 while its reads or writes fail (a full disk, an I/O error).
# TYPE wardfeed_store_up gauge
wardfeed_store_up 1
",
                version = env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn a_small_scenario_renders_exactly() {
        let metrics = Metrics::with_start_time(1_700_000_000.5, true);
        metrics.record_fetch("phucloi", "200", ms(250), 1000);
        metrics.record_fetch("phucloi", "304", ms(40), 0);
        metrics.record_fetch("phucloi", "timeout", ms(30_000), 0);
        metrics.record_refresh("phucloi", 3, 1, 1, ms(1500));
        metrics.set_source_health("phucloi", "degraded", 2, 40, Some(1_699_990_000));
        metrics.record_http("feed", 304);
        metrics.record_http("feed", 200);
        metrics.record_http("feed", 200);
        metrics.record_http("dashboard", 200);
        metrics.set_store(true, 1);
        metrics.set_store(false, 3);

        let expected = format!(
            "\
# HELP wardfeed_build_info Always 1; the version label says which wardfeed is running.
# TYPE wardfeed_build_info gauge
wardfeed_build_info{{version=\"{version}\"}} 1
# HELP wardfeed_document_cache_bytes Bytes of rendered documents kept for serving (every encoding built so far).
# TYPE wardfeed_document_cache_bytes gauge
wardfeed_document_cache_bytes 0
# HELP wardfeed_document_cache_evictions_total Rendered documents dropped, least recently served first, to keep the document cache within its byte budget (rendered again when asked).
# TYPE wardfeed_document_cache_evictions_total counter
wardfeed_document_cache_evictions_total 0
# HELP wardfeed_fetch_duration_seconds Time taken by fetch attempts, per source.
# TYPE wardfeed_fetch_duration_seconds histogram
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"0.05\"}} 1
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"0.1\"}} 1
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"0.25\"}} 2
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"0.5\"}} 2
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"1\"}} 2
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"2.5\"}} 2
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"5\"}} 2
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"10\"}} 2
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"30\"}} 3
wardfeed_fetch_duration_seconds_bucket{{source=\"phucloi\",le=\"+Inf\"}} 3
wardfeed_fetch_duration_seconds_sum{{source=\"phucloi\"}} 30.29
wardfeed_fetch_duration_seconds_count{{source=\"phucloi\"}} 3
# HELP wardfeed_fetched_bytes_total Response body bytes fetched, per source.
# TYPE wardfeed_fetched_bytes_total counter
wardfeed_fetched_bytes_total{{source=\"phucloi\"}} 1000
# HELP wardfeed_fetches_total Fetch attempts, per source and outcome (HTTP status or failure kind).
# TYPE wardfeed_fetches_total counter
wardfeed_fetches_total{{outcome=\"200\",source=\"phucloi\"}} 1
wardfeed_fetches_total{{outcome=\"304\",source=\"phucloi\"}} 1
wardfeed_fetches_total{{outcome=\"timeout\",source=\"phucloi\"}} 1
# HELP wardfeed_http_requests_total HTTP requests answered, per route and status code.
# TYPE wardfeed_http_requests_total counter
wardfeed_http_requests_total{{route=\"dashboard\",status=\"200\"}} 1
wardfeed_http_requests_total{{route=\"feed\",status=\"200\"}} 2
wardfeed_http_requests_total{{route=\"feed\",status=\"304\"}} 1
# HELP wardfeed_items_new_total Items stored for the first time, per source.
# TYPE wardfeed_items_new_total counter
wardfeed_items_new_total{{source=\"phucloi\"}} 3
# HELP wardfeed_items_updated_total Stored items whose content changed, per source.
# TYPE wardfeed_items_updated_total counter
wardfeed_items_updated_total{{source=\"phucloi\"}} 1
# HELP wardfeed_listing_failures_total Listings that failed during refreshes, per source.
# TYPE wardfeed_listing_failures_total counter
wardfeed_listing_failures_total{{source=\"phucloi\"}} 1
# HELP wardfeed_process_start_time_seconds Start time of the process since the unix epoch, in seconds.
# TYPE wardfeed_process_start_time_seconds gauge
wardfeed_process_start_time_seconds 1700000000.5
# HELP wardfeed_refresh_duration_seconds Time taken by refreshes (scrape and store), per source.
# TYPE wardfeed_refresh_duration_seconds histogram
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"0.05\"}} 0
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"0.1\"}} 0
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"0.25\"}} 0
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"0.5\"}} 0
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"1\"}} 0
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"2.5\"}} 1
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"5\"}} 1
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"10\"}} 1
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"30\"}} 1
wardfeed_refresh_duration_seconds_bucket{{source=\"phucloi\",le=\"+Inf\"}} 1
wardfeed_refresh_duration_seconds_sum{{source=\"phucloi\"}} 1.5
wardfeed_refresh_duration_seconds_count{{source=\"phucloi\"}} 1
# HELP wardfeed_refreshes_in_flight Refreshes running now, over every source.
# TYPE wardfeed_refreshes_in_flight gauge
wardfeed_refreshes_in_flight 0
# HELP wardfeed_refreshes_total Refreshes finished, per source.
# TYPE wardfeed_refreshes_total counter
wardfeed_refreshes_total{{source=\"phucloi\"}} 1
# HELP wardfeed_source_consecutive_failures Refreshes that failed in a row, per source.
# TYPE wardfeed_source_consecutive_failures gauge
wardfeed_source_consecutive_failures{{source=\"phucloi\"}} 2
# HELP wardfeed_source_items Items held in the store, per source.
# TYPE wardfeed_source_items gauge
wardfeed_source_items{{source=\"phucloi\"}} 40
# HELP wardfeed_source_last_success_timestamp_seconds When the source last refreshed successfully, since the unix epoch, in seconds.
# TYPE wardfeed_source_last_success_timestamp_seconds gauge
wardfeed_source_last_success_timestamp_seconds{{source=\"phucloi\"}} 1699990000
# HELP wardfeed_source_status 1 for the source's current status, 0 for the others.
# TYPE wardfeed_source_status gauge
wardfeed_source_status{{source=\"phucloi\",status=\"degraded\"}} 1
wardfeed_source_status{{source=\"phucloi\",status=\"empty\"}} 0
wardfeed_source_status{{source=\"phucloi\",status=\"failing\"}} 0
wardfeed_source_status{{source=\"phucloi\",status=\"ok\"}} 0
wardfeed_source_status{{source=\"phucloi\",status=\"pending\"}} 0
# HELP wardfeed_source_up 1 when the source's last refresh worked (status ok or empty), else 0.
# TYPE wardfeed_source_up gauge
wardfeed_source_up{{source=\"phucloi\"}} 0
# HELP wardfeed_sources Configured sources (enabled or not) per the status of their last refresh (pending until their first).
# TYPE wardfeed_sources gauge
wardfeed_sources{{status=\"degraded\"}} 1
wardfeed_sources{{status=\"empty\"}} 0
wardfeed_sources{{status=\"failing\"}} 0
wardfeed_sources{{status=\"ok\"}} 0
wardfeed_sources{{status=\"pending\"}} 0
# HELP wardfeed_store_errors_total Store reads and writes that failed since the process started.
# TYPE wardfeed_store_errors_total counter
wardfeed_store_errors_total 3
# HELP wardfeed_store_up 1 while the store works, 0 while its reads or writes fail (a full disk, an I/O error).
# TYPE wardfeed_store_up gauge
wardfeed_store_up 0
",
            version = env!("CARGO_PKG_VERSION")
        );
        assert_eq!(metrics.render(), expected);
    }

    /// The value of the one sample line that starts with `series` followed by a space.
    fn value_of(text: &str, series: &str) -> String {
        let matches: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .collect();
        assert_eq!(matches.len(), 1, "{series} in:\n{text}");
        matches[0].to_owned()
    }

    #[test]
    fn histogram_buckets_are_cumulative_inclusive_and_inf_equals_count() {
        let metrics = Metrics::with_start_time(0.0, true);
        for millis in [10, 50, 700, 100_000] {
            metrics.record_fetch("s", "200", ms(millis), 0);
        }
        let text = metrics.render();
        let bucket = |le: &str| {
            value_of(
                &text,
                &format!("wardfeed_fetch_duration_seconds_bucket{{source=\"s\",le=\"{le}\"}}"),
            )
        };
        // 0.05 s sits on a bound, which counts as within it (`le`).
        assert_eq!(bucket("0.05"), "2");
        assert_eq!(bucket("0.5"), "2");
        assert_eq!(bucket("1"), "3");
        assert_eq!(bucket("30"), "3");
        assert_eq!(bucket("+Inf"), "4");
        let count = value_of(&text, "wardfeed_fetch_duration_seconds_count{source=\"s\"}");
        assert_eq!(bucket("+Inf"), count);
        let sum = value_of(&text, "wardfeed_fetch_duration_seconds_sum{source=\"s\"}");
        assert_eq!(sum, "100.76");

        let mut previous = 0;
        for bound in DURATION_BUCKETS {
            let value: u64 = bucket(&bound.to_string()).parse().unwrap();
            assert!(value >= previous, "buckets must not decrease");
            previous = value;
        }
    }

    #[test]
    fn hostile_source_label_is_escaped_and_cannot_break_lines() {
        let metrics = Metrics::with_start_time(0.0, true);
        let hostile = "a\"b\\c\nd";
        metrics.record_fetch(hostile, "200", ms(10), 5);
        metrics.set_source_health(hostile, "ok", 0, 1, Some(1));
        let text = metrics.render();

        assert_eq!(
            value_of(
                &text,
                r#"wardfeed_fetched_bytes_total{source="a\"b\\c\nd"}"#
            ),
            "5"
        );
        assert_eq!(
            value_of(&text, r#"wardfeed_source_up{source="a\"b\\c\nd"}"#),
            "1"
        );
        for line in text.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("wardfeed_"),
                "a label value broke a line: {line:?}"
            );
        }
    }

    #[test]
    fn ordering_is_sorted_and_stable_whatever_the_recording_order() {
        let metrics = Metrics::with_start_time(0.0, true);
        for source in ["zeta", "alpha", "mid"] {
            metrics.record_fetch(source, "500", ms(1), 0);
            metrics.record_fetch(source, "200", ms(1), 0);
            metrics.set_source_health(source, "ok", 0, 0, None);
        }
        metrics.record_http("other", 404);
        metrics.record_http("feed", 200);
        let text = metrics.render();
        assert_eq!(text, metrics.render());

        let sources_in = |family: &str| -> Vec<String> {
            text.lines()
                .filter(|line| line.starts_with(&format!("{family}{{")))
                .map(|line| line.split('"').nth(1).unwrap().to_owned())
                .collect()
        };
        assert_eq!(sources_in("wardfeed_source_up"), ["alpha", "mid", "zeta"]);
        let fetches: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with("wardfeed_fetches_total{"))
            .collect();
        // Labels are written in name order, series sorted by their label values in that order.
        assert_eq!(
            fetches,
            [
                r#"wardfeed_fetches_total{outcome="200",source="alpha"} 1"#,
                r#"wardfeed_fetches_total{outcome="200",source="mid"} 1"#,
                r#"wardfeed_fetches_total{outcome="200",source="zeta"} 1"#,
                r#"wardfeed_fetches_total{outcome="500",source="alpha"} 1"#,
                r#"wardfeed_fetches_total{outcome="500",source="mid"} 1"#,
                r#"wardfeed_fetches_total{outcome="500",source="zeta"} 1"#,
            ]
        );
        assert_eq!(
            sources_in("wardfeed_http_requests_total"),
            ["feed", "other"]
        );

        let families: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .map(|rest| rest.split(' ').next().unwrap())
            .collect();
        let mut sorted = families.clone();
        sorted.sort_unstable();
        assert_eq!(families, sorted);
    }

    #[test]
    fn forget_source_removes_every_series_of_that_source_only() {
        let metrics = Metrics::with_start_time(0.0, true);
        for source in ["gone", "kept"] {
            metrics.record_fetch(source, "200", ms(1), 1);
            metrics.record_refresh(source, 1, 0, 0, ms(1));
            metrics.set_source_health(source, "ok", 0, 1, Some(1));
        }
        metrics.forget_source("gone");
        metrics.forget_source("never-seen");
        let text = metrics.render();
        assert!(!text.contains("\"gone\""), "{text}");
        assert_eq!(value_of(&text, r#"wardfeed_source_up{source="kept"}"#), "1");
        assert_eq!(
            value_of(&text, r#"wardfeed_refreshes_total{source="kept"}"#),
            "1"
        );
    }

    #[test]
    fn without_per_source_series_the_families_are_totals_and_sources_are_counted_by_status() {
        let metrics = Metrics::with_start_time(1_700_000_000.5, false);
        metrics.record_fetch("phucloi", "200", ms(10), 100);
        metrics.record_fetch("bode", "200", ms(20), 50);
        metrics.record_fetch("bode", "500", ms(30), 0);
        metrics.record_refresh("phucloi", 3, 0, 0, ms(100));
        metrics.record_refresh("bode", 1, 2, 1, ms(200));
        metrics.set_source_health("phucloi", "ok", 0, 3, Some(1_699_990_000));
        metrics.set_source_health("bode", "failing", 1, 1, None);
        let running = metrics.refresh_in_flight("bode");
        let text = metrics.render();
        assert!(
            !text.contains("source="),
            "no series names a source:\n{text}"
        );
        assert!(
            !text.contains("wardfeed_source_"),
            "no per-source gauge:\n{text}"
        );
        for line in [
            r#"wardfeed_fetches_total{outcome="200"} 2"#,
            r#"wardfeed_fetches_total{outcome="500"} 1"#,
            "wardfeed_fetched_bytes_total 150",
            "wardfeed_fetch_duration_seconds_count 3",
            "wardfeed_refreshes_total 2",
            "wardfeed_items_new_total 4",
            "wardfeed_items_updated_total 2",
            "wardfeed_listing_failures_total 1",
            "wardfeed_refresh_duration_seconds_count 2",
            "wardfeed_refreshes_in_flight 1",
            r#"wardfeed_sources{status="failing"} 1"#,
            r#"wardfeed_sources{status="ok"} 1"#,
            "# HELP wardfeed_refreshes_total Refreshes finished, over every source.",
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line}:\n{text}");
        }
        drop(running);
        // A source moves between statuses; a forgotten one is no longer counted.
        metrics.set_source_health("bode", "ok", 0, 1, Some(1_699_990_100));
        let text = metrics.render();
        assert!(text.contains("wardfeed_refreshes_in_flight 0\n"), "{text}");
        assert!(
            text.contains("wardfeed_sources{status=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("wardfeed_sources{status=\"failing\"} 0\n"),
            "{text}"
        );
        metrics.forget_source("phucloi");
        assert!(
            metrics
                .render()
                .contains("wardfeed_sources{status=\"ok\"} 1\n")
        );
        // Reporting the same status again counts the source once.
        metrics.set_source_health("bode", "ok", 0, 1, Some(1_699_990_200));
        assert!(
            metrics
                .render()
                .contains("wardfeed_sources{status=\"ok\"} 1\n")
        );
    }

    #[test]
    fn a_configuration_decides_which_sources_are_counted() {
        let metrics = Metrics::with_start_time(0.0, true);
        metrics.set_source_health("phucloi", "ok", 0, 3, None);
        metrics.set_source_health("bode", "failing", 2, 0, None);
        // A reload keeps phucloi, drops bode (say it was disabled), adds gialam.
        let change = metrics.configure_sources(["phucloi", "gialam"]);
        assert_eq!(
            change,
            SourcesChange {
                removed: vec!["bode".to_owned()],
                unreported: vec!["gialam".to_owned()],
            }
        );
        for gone in &change.removed {
            metrics.forget_source(gone);
        }
        metrics.set_source_health("gialam", "pending", 0, 0, None);
        // A refresh of bode that was running when it was removed ends now: not counted, and
        // its per-source gauges do not come back.
        metrics.set_source_health("bode", "ok", 0, 5, Some(1_700_000_000));
        let text = metrics.render();
        for line in [
            r#"wardfeed_sources{status="ok"} 1"#,
            r#"wardfeed_sources{status="pending"} 1"#,
            r#"wardfeed_sources{status="failing"} 0"#,
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line}:\n{text}");
        }
        assert!(!text.contains(r#"source="bode""#), "{text}");
        assert_eq!(
            metrics.configure_sources(["phucloi", "gialam"]),
            SourcesChange::default()
        );
    }

    #[test]
    fn health_gauges_follow_the_latest_report() {
        let metrics = Metrics::with_start_time(0.0, true);
        metrics.record_fetch("s", "network", ms(1), 0);
        let text = metrics.render();
        assert!(
            !text.contains("wardfeed_source_up{"),
            "no health before it is reported"
        );

        metrics.set_source_health("s", "pending", 0, 0, None);
        let text = metrics.render();
        assert_eq!(value_of(&text, r#"wardfeed_source_up{source="s"}"#), "0");
        assert!(!text.contains("wardfeed_source_last_success_timestamp_seconds{"));

        metrics.set_source_health("s", "empty", 0, 0, Some(1_700_000_000));
        let text = metrics.render();
        assert_eq!(value_of(&text, r#"wardfeed_source_up{source="s"}"#), "1");
        assert_eq!(
            value_of(
                &text,
                r#"wardfeed_source_status{source="s",status="empty"}"#
            ),
            "1"
        );
        assert_eq!(
            value_of(
                &text,
                r#"wardfeed_source_status{source="s",status="pending"}"#
            ),
            "0"
        );
        assert_eq!(
            value_of(
                &text,
                r#"wardfeed_source_last_success_timestamp_seconds{source="s"}"#
            ),
            "1700000000"
        );

        // A status outside the vocabulary adds no series and reads as down.
        metrics.set_source_health("s", "Ok", 1, 0, Some(1_700_000_000));
        let text = metrics.render();
        assert_eq!(value_of(&text, r#"wardfeed_source_up{source="s"}"#), "0");
        assert!(!text.contains("status=\"Ok\""));
        let status_ones = text
            .lines()
            .filter(|line| line.starts_with("wardfeed_source_status{") && line.ends_with(" 1"))
            .count();
        assert_eq!(status_ones, 0);
        // Nor is it counted under any status (the log says so): it left "empty".
        let counted = text
            .lines()
            .filter(|line| line.starts_with("wardfeed_sources{") && !line.ends_with(" 0"))
            .count();
        assert_eq!(counted, 0, "{text}");
    }

    #[test]
    fn model_statuses_are_the_metric_vocabulary() {
        use crate::model::SourceStatus;
        let mut model: Vec<&str> = [
            SourceStatus::Pending,
            SourceStatus::Ok,
            SourceStatus::Empty,
            SourceStatus::Degraded,
            SourceStatus::Failing,
        ]
        .into_iter()
        .map(SourceStatus::as_str)
        .collect();
        model.sort_unstable();
        assert_eq!(model, STATUSES);
    }

    #[test]
    fn recording_from_many_threads_loses_nothing() {
        let metrics = Arc::new(Metrics::with_start_time(0.0, true));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let metrics = Arc::clone(&metrics);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        metrics.record_fetch("s", "200", ms(1), 2);
                        metrics.record_http("feed", 200);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let text = metrics.render();
        assert_eq!(
            value_of(&text, r#"wardfeed_fetches_total{outcome="200",source="s"}"#),
            "4000"
        );
        assert_eq!(
            value_of(&text, r#"wardfeed_fetched_bytes_total{source="s"}"#),
            "8000"
        );
        assert_eq!(
            value_of(
                &text,
                r#"wardfeed_http_requests_total{route="feed",status="200"}"#
            ),
            "4000"
        );
    }

    /// promtool from Debian's `prometheus` package, where it installs it or on PATH.
    fn find_promtool() -> Option<PathBuf> {
        let debian = Path::new("/usr/bin/promtool");
        if debian.is_file() {
            return Some(debian.to_owned());
        }
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join("promtool"))
            .find(|candidate| candidate.is_file())
    }

    /// The format's authority is Prometheus's own parser and linter, not our reading of the
    /// spec, so the exposition of a busy scenario goes through `promtool check metrics`.
    #[test]
    fn promtool_accepts_the_exposition_without_lint() {
        let Some(promtool) = find_promtool() else {
            if std::env::var_os("WARDFEED_SKIP_PROMTOOL").is_some() {
                eprintln!("promtool not found; skipped because WARDFEED_SKIP_PROMTOOL is set");
                return;
            }
            panic!(
                "promtool not found at /usr/bin/promtool or on PATH: install it with \
                 `apt-get install prometheus` (Debian), or set WARDFEED_SKIP_PROMTOOL=1 to \
                 skip this check"
            );
        };

        // With series per source and without (totals over every source).
        for source_labels in [true, false] {
            check_with_promtool(&promtool, source_labels);
        }
    }

    fn check_with_promtool(promtool: &Path, source_labels: bool) {
        let metrics = Metrics::with_start_time(1_700_000_000.25, source_labels);
        for (source, outcome, millis) in [
            ("phucloi", "200", 120),
            ("phucloi", "304", 30),
            ("a\"b\\c\nd", "timeout", 30_000),
            ("binhtho", "robots", 0),
            ("binhtho", "too_large", 4_000),
        ] {
            metrics.record_fetch(source, outcome, ms(millis), 2048);
        }
        metrics.record_refresh("phucloi", 5, 2, 0, ms(900));
        metrics.record_refresh("binhtho", 0, 0, 3, ms(4_100));
        metrics.set_source_health("phucloi", "ok", 0, 120, Some(1_700_000_100));
        metrics.set_source_health("binhtho", "failing", 3, 7, None);
        metrics.set_source_health("a\"b\\c\nd", "pending", 0, 0, None);
        for (route, status) in [
            ("feed", 200),
            ("feed", 304),
            ("metrics", 200),
            ("other", 404),
        ] {
            metrics.record_http(route, status);
        }
        let exposition = metrics.render();

        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("run {}: {error}", promtool.display()));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(exposition.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
            "promtool check metrics: {}\nstdout:\n{stdout}\nstderr:\n{stderr}\nexposition:\n{exposition}",
            output.status
        );
    }
}
