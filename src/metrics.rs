//! Process-wide operational metrics, and their Prometheus text exposition (format 0.0.4).
//!
//! The format is a few lines of text, so it is written here rather than pulling in a client
//! library. Every label set is bounded: sources come from the configuration, fetch outcomes
//! are HTTP statuses or a handful of failure kinds, routes are a fixed vocabulary (hence
//! `&'static str`), and source statuses are the five the model knows.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `Content-Type` a `/metrics` response carries.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds, in seconds, of the fetch and refresh duration histograms. A fetch is usually
/// well under a second; the long tail up to the fetch timeout is what tells a slow portal.
const DURATION_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Source statuses, sorted so that `wardfeed_source_status` series come out in label order.
/// They are `model::SourceStatus::as_str`'s values.
const STATUSES: [&str; 5] = ["degraded", "empty", "failing", "ok", "pending"];

/// Process-wide metrics, shared behind an `Arc`; all methods take `&self` and are cheap
/// (atomics / short std `Mutex` sections), safe from any thread.
pub struct Metrics {
    start_time_unix: f64,
    /// By source id; a `BTreeMap` so that rendering walks sources in sorted order for free.
    sources: Mutex<BTreeMap<String, SourceSeries>>,
    /// Request counts by (route, status). Separate from `sources` so that serving never waits
    /// on a scheduler thread recording a fetch.
    http: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Everything recorded about one source.
#[derive(Default)]
struct SourceSeries {
    fetches_by_outcome: BTreeMap<String, u64>,
    fetch_duration: Histogram,
    fetched_bytes: u64,
    refreshes: u64,
    refresh_duration: Histogram,
    items_new: u64,
    items_updated: u64,
    listing_failures: u64,
    /// `None` until the first `set_source_health`, so the health gauges do not claim a state
    /// nobody reported.
    health: Option<Health>,
}

struct Health {
    /// `None` for a status outside `STATUSES`: every status series then reads 0 rather than a
    /// caller's typo growing a new series.
    status: Option<&'static str>,
    consecutive_failures: u32,
    items_stored: u64,
    last_success_unix: Option<i64>,
}

/// Observation counts per bucket, not cumulative: cumulated when rendered.
#[derive(Default)]
struct Histogram {
    bucket_counts: [u64; DURATION_BUCKETS.len()],
    sum_seconds: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        // Bounds are inclusive (`le`); above the last one only `+Inf` (the count) holds it.
        if let Some(index) = DURATION_BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.bucket_counts[index] += 1;
        }
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics for a process that starts now.
    pub fn new() -> Metrics {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        Metrics::with_start_time(start)
    }

    /// Metrics whose `wardfeed_process_start_time_seconds` is `start_time_unix`, for tests
    /// that compare whole expositions.
    pub fn with_start_time(start_time_unix: f64) -> Metrics {
        Metrics {
            start_time_unix,
            sources: Mutex::new(BTreeMap::new()),
            http: Mutex::new(BTreeMap::new()),
        }
    }

    /// One fetch attempt of `source`: `outcome` is the HTTP status as text ("200", "304",
    /// "404", "500"…) or a failure kind ("timeout", "network", "too_large", "redirects",
    /// "robots").
    pub fn record_fetch(&self, source: &str, outcome: &str, duration: Duration, bytes: u64) {
        self.with_source(source, |series| {
            match series.fetches_by_outcome.get_mut(outcome) {
                Some(count) => *count += 1,
                None => {
                    series.fetches_by_outcome.insert(outcome.to_owned(), 1);
                }
            }
            series.fetch_duration.observe(duration);
            series.fetched_bytes += bytes;
        });
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
        self.with_source(source, |series| {
            series.refreshes += 1;
            series.refresh_duration.observe(duration);
            series.items_new += items_new;
            series.items_updated += items_updated;
            series.listing_failures += failed_listings;
        });
    }

    /// The source's health after a refresh: `status` one of "pending", "ok", "empty",
    /// "degraded", "failing" (`model::SourceStatus::as_str`); `last_success_unix` as a unix
    /// timestamp (seconds) if it ever succeeded. Any other status reads as 0 on every status
    /// series and as down.
    pub fn set_source_health(
        &self,
        source: &str,
        status: &str,
        consecutive_failures: u32,
        items_stored: u64,
        last_success_unix: Option<i64>,
    ) {
        let status = STATUSES.iter().copied().find(|&known| known == status);
        self.with_source(source, |series| {
            series.health = Some(Health {
                status,
                consecutive_failures,
                items_stored,
                last_success_unix,
            });
        });
    }

    /// One HTTP request answered: `route` is a small fixed vocabulary ("feed", "dashboard",
    /// "opml", "healthz", "metrics", "other"), `status` the HTTP status code.
    pub fn record_http(&self, route: &'static str, status: u16) {
        *lock(&self.http).entry((route, status)).or_insert(0) += 1;
    }

    /// Forget a source removed from the configuration (its series disappear). A refresh of it
    /// still in flight when it is forgotten brings its series back until the next forget.
    pub fn forget_source(&self, source: &str) {
        lock(&self.sources).remove(source);
    }

    /// The exposition text, deterministic ordering: families by name, series by label values
    /// (histogram buckets by bound).
    pub fn render(&self) -> String {
        let mut out = Exposition::default();

        // Families are written in name order. One lock for all the source families, so a
        // scrape sees one consistent snapshot (a refresh's counters and histogram agree).
        out.family(
            "wardfeed_build_info",
            "gauge",
            "Always 1; the version label says which wardfeed is running.",
        );
        out.sample(
            "wardfeed_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );

        let sources = lock(&self.sources);

        out.family(
            "wardfeed_fetch_duration_seconds",
            "histogram",
            "Time taken by fetch attempts, per source.",
        );
        for (source, series) in sources.iter() {
            out.histogram(
                "wardfeed_fetch_duration_seconds",
                source,
                &series.fetch_duration,
            );
        }

        out.family(
            "wardfeed_fetched_bytes_total",
            "counter",
            "Response body bytes fetched, per source.",
        );
        for (source, series) in sources.iter() {
            out.sample(
                "wardfeed_fetched_bytes_total",
                &[("source", source)],
                series.fetched_bytes,
            );
        }

        out.family(
            "wardfeed_fetches_total",
            "counter",
            "Fetch attempts, per source and outcome (HTTP status or failure kind).",
        );
        for (source, series) in sources.iter() {
            for (outcome, count) in &series.fetches_by_outcome {
                out.sample(
                    "wardfeed_fetches_total",
                    &[("source", source), ("outcome", outcome)],
                    count,
                );
            }
        }

        out.family(
            "wardfeed_http_requests_total",
            "counter",
            "HTTP requests answered, per route and status code.",
        );
        for ((route, status), count) in lock(&self.http).iter() {
            out.sample(
                "wardfeed_http_requests_total",
                &[("route", route), ("status", &status.to_string())],
                count,
            );
        }

        out.family(
            "wardfeed_items_new_total",
            "counter",
            "Items stored for the first time, per source.",
        );
        for (source, series) in sources.iter() {
            out.sample(
                "wardfeed_items_new_total",
                &[("source", source)],
                series.items_new,
            );
        }

        out.family(
            "wardfeed_items_updated_total",
            "counter",
            "Stored items whose content changed, per source.",
        );
        for (source, series) in sources.iter() {
            out.sample(
                "wardfeed_items_updated_total",
                &[("source", source)],
                series.items_updated,
            );
        }

        out.family(
            "wardfeed_listing_failures_total",
            "counter",
            "Listings that failed during refreshes, per source.",
        );
        for (source, series) in sources.iter() {
            out.sample(
                "wardfeed_listing_failures_total",
                &[("source", source)],
                series.listing_failures,
            );
        }

        out.family(
            "wardfeed_process_start_time_seconds",
            "gauge",
            "Start time of the process since the unix epoch, in seconds.",
        );
        out.sample(
            "wardfeed_process_start_time_seconds",
            &[],
            PromFloat(self.start_time_unix),
        );

        out.family(
            "wardfeed_refresh_duration_seconds",
            "histogram",
            "Time taken by refreshes (scrape and store), per source.",
        );
        for (source, series) in sources.iter() {
            out.histogram(
                "wardfeed_refresh_duration_seconds",
                source,
                &series.refresh_duration,
            );
        }

        out.family(
            "wardfeed_refreshes_total",
            "counter",
            "Refreshes finished, per source.",
        );
        for (source, series) in sources.iter() {
            out.sample(
                "wardfeed_refreshes_total",
                &[("source", source)],
                series.refreshes,
            );
        }

        let healths = || {
            sources
                .iter()
                .filter_map(|(source, series)| Some((source, series.health.as_ref()?)))
        };

        out.family(
            "wardfeed_source_consecutive_failures",
            "gauge",
            "Refreshes that failed in a row, per source.",
        );
        for (source, health) in healths() {
            out.sample(
                "wardfeed_source_consecutive_failures",
                &[("source", source)],
                health.consecutive_failures,
            );
        }

        out.family(
            "wardfeed_source_items",
            "gauge",
            "Items held in the store, per source.",
        );
        for (source, health) in healths() {
            out.sample(
                "wardfeed_source_items",
                &[("source", source)],
                health.items_stored,
            );
        }

        out.family(
            "wardfeed_source_last_success_timestamp_seconds",
            "gauge",
            "When the source last refreshed successfully, since the unix epoch, in seconds.",
        );
        for (source, health) in healths() {
            if let Some(last_success) = health.last_success_unix {
                out.sample(
                    "wardfeed_source_last_success_timestamp_seconds",
                    &[("source", source)],
                    last_success,
                );
            }
        }

        out.family(
            "wardfeed_source_status",
            "gauge",
            "1 for the source's current status, 0 for the others.",
        );
        for (source, health) in healths() {
            for status in STATUSES {
                out.sample(
                    "wardfeed_source_status",
                    &[("source", source), ("status", status)],
                    u8::from(health.status == Some(status)),
                );
            }
        }

        out.family(
            "wardfeed_source_up",
            "gauge",
            "1 when the source's last refresh worked (status ok or empty), else 0.",
        );
        for (source, health) in healths() {
            let up = matches!(health.status, Some("ok" | "empty"));
            out.sample("wardfeed_source_up", &[("source", source)], u8::from(up));
        }

        out.text
    }

    /// Runs `update` on `source`'s series, creating them on first mention.
    fn with_source(&self, source: &str, update: impl FnOnce(&mut SourceSeries)) {
        let mut sources = lock(&self.sources);
        // Look up before inserting: the id is only copied the first time a source is seen.
        match sources.get_mut(source) {
            Some(series) => update(series),
            None => update(sources.entry(source.to_owned()).or_default()),
        }
    }
}

/// Locks a metrics mutex even if a thread panicked while holding it: the worst a panic can
/// leave behind is one count half-recorded, and losing every metric over that would be worse.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The text being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// The `HELP` and `TYPE` lines that open a family. Help texts are our own constants, free
    /// of the backslashes and newlines that would need escaping.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        debug_assert!(!help.contains(['\\', '\n']), "help text needs escaping");
        // fmt::Write for String cannot fail.
        let _ = write!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, label_value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                self.text.push_str(label);
                self.text.push_str("=\"");
                push_escaped_label_value(&mut self.text, label_value);
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn histogram(&mut self, name: &str, source: &str, histogram: &Histogram) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in DURATION_BUCKETS.iter().zip(histogram.bucket_counts) {
            cumulative += count;
            let le = PromFloat(*bound).to_string();
            self.sample(&bucket, &[("source", source), ("le", &le)], cumulative);
        }
        self.sample(
            &bucket,
            &[("source", source), ("le", "+Inf")],
            histogram.count,
        );
        self.sample(
            &format!("{name}_sum"),
            &[("source", source)],
            PromFloat(histogram.sum_seconds),
        );
        self.sample(
            &format!("{name}_count"),
            &[("source", source)],
            histogram.count,
        );
    }
}

/// Escapes a label value as the text format requires: backslash, double quote and line feed.
fn push_escaped_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float as Prometheus spells it: Rust's shortest round-trip decimal (never an exponent,
/// which Go's parser would accept too) but `+Inf`, `-Inf` and `NaN` for the special values.
struct PromFloat(f64);

impl fmt::Display for PromFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            v if v == f64::INFINITY => f.write_str("+Inf"),
            v if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
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

    /// The families with HELP and TYPE and no series, as a fresh process shows them.
    fn empty_exposition(version: &str) -> String {
        format!(
            "\
# HELP wardfeed_build_info Always 1; the version label says which wardfeed is running.
# TYPE wardfeed_build_info gauge
wardfeed_build_info{{version=\"{version}\"}} 1
# HELP wardfeed_fetch_duration_seconds Time taken by fetch attempts, per source.
# TYPE wardfeed_fetch_duration_seconds histogram
# HELP wardfeed_fetched_bytes_total Response body bytes fetched, per source.
# TYPE wardfeed_fetched_bytes_total counter
# HELP wardfeed_fetches_total Fetch attempts, per source and outcome (HTTP status or failure kind).
# TYPE wardfeed_fetches_total counter
# HELP wardfeed_http_requests_total HTTP requests answered, per route and status code.
# TYPE wardfeed_http_requests_total counter
# HELP wardfeed_items_new_total Items stored for the first time, per source.
# TYPE wardfeed_items_new_total counter
# HELP wardfeed_items_updated_total Stored items whose content changed, per source.
# TYPE wardfeed_items_updated_total counter
# HELP wardfeed_listing_failures_total Listings that failed during refreshes, per source.
# TYPE wardfeed_listing_failures_total counter
# HELP wardfeed_process_start_time_seconds Start time of the process since the unix epoch, in seconds.
# TYPE wardfeed_process_start_time_seconds gauge
wardfeed_process_start_time_seconds 1700000000.5
# HELP wardfeed_refresh_duration_seconds Time taken by refreshes (scrape and store), per source.
# TYPE wardfeed_refresh_duration_seconds histogram
# HELP wardfeed_refreshes_total Refreshes finished, per source.
# TYPE wardfeed_refreshes_total counter
# HELP wardfeed_source_consecutive_failures Refreshes that failed in a row, per source.
# TYPE wardfeed_source_consecutive_failures gauge
# HELP wardfeed_source_items Items held in the store, per source.
# TYPE wardfeed_source_items gauge
# HELP wardfeed_source_last_success_timestamp_seconds When the source last refreshed successfully, since the unix epoch, in seconds.
# TYPE wardfeed_source_last_success_timestamp_seconds gauge
# HELP wardfeed_source_status 1 for the source's current status, 0 for the others.
# TYPE wardfeed_source_status gauge
# HELP wardfeed_source_up 1 when the source's last refresh worked (status ok or empty), else 0.
# TYPE wardfeed_source_up gauge
"
        )
    }

    #[test]
    fn a_fresh_process_shows_every_family_and_only_process_series() {
        let metrics = Metrics::with_start_time(1_700_000_000.5);
        assert_eq!(
            metrics.render(),
            empty_exposition(env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn a_small_scenario_renders_exactly() {
        let metrics = Metrics::with_start_time(1_700_000_000.5);
        metrics.record_fetch("phucloi", "200", ms(250), 1000);
        metrics.record_fetch("phucloi", "304", ms(40), 0);
        metrics.record_fetch("phucloi", "timeout", ms(30_000), 0);
        metrics.record_refresh("phucloi", 3, 1, 1, ms(1500));
        metrics.set_source_health("phucloi", "degraded", 2, 40, Some(1_699_990_000));
        metrics.record_http("feed", 304);
        metrics.record_http("feed", 200);
        metrics.record_http("feed", 200);
        metrics.record_http("dashboard", 200);

        let expected = format!(
            "\
# HELP wardfeed_build_info Always 1; the version label says which wardfeed is running.
# TYPE wardfeed_build_info gauge
wardfeed_build_info{{version=\"{version}\"}} 1
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
wardfeed_fetches_total{{source=\"phucloi\",outcome=\"200\"}} 1
wardfeed_fetches_total{{source=\"phucloi\",outcome=\"304\"}} 1
wardfeed_fetches_total{{source=\"phucloi\",outcome=\"timeout\"}} 1
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
        let metrics = Metrics::with_start_time(0.0);
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
            let value: u64 = bucket(&PromFloat(bound).to_string()).parse().unwrap();
            assert!(value >= previous, "buckets must not decrease");
            previous = value;
        }
    }

    #[test]
    fn hostile_source_label_is_escaped_and_cannot_break_lines() {
        let metrics = Metrics::with_start_time(0.0);
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
        let metrics = Metrics::with_start_time(0.0);
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
        assert_eq!(
            fetches,
            [
                r#"wardfeed_fetches_total{source="alpha",outcome="200"} 1"#,
                r#"wardfeed_fetches_total{source="alpha",outcome="500"} 1"#,
                r#"wardfeed_fetches_total{source="mid",outcome="200"} 1"#,
                r#"wardfeed_fetches_total{source="mid",outcome="500"} 1"#,
                r#"wardfeed_fetches_total{source="zeta",outcome="200"} 1"#,
                r#"wardfeed_fetches_total{source="zeta",outcome="500"} 1"#,
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
        let metrics = Metrics::with_start_time(0.0);
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
    fn health_gauges_follow_the_latest_report() {
        let metrics = Metrics::with_start_time(0.0);
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
        let metrics = Arc::new(Metrics::with_start_time(0.0));
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
            value_of(&text, r#"wardfeed_fetches_total{source="s",outcome="200"}"#),
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

    #[test]
    fn special_floats_are_spelled_as_prometheus_reads_them() {
        assert_eq!(PromFloat(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(PromFloat(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(PromFloat(f64::NAN).to_string(), "NaN");
        assert_eq!(PromFloat(1e-7).to_string(), "0.0000001");
        assert_eq!(PromFloat(2.5).to_string(), "2.5");
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

        let metrics = Metrics::with_start_time(1_700_000_000.25);
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

        let mut child = Command::new(&promtool)
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
