//! Serving over HTTP, through one stack (hyper and axum): feeds per source, category, group
//! and combined, the incident feed, the OPMLs, the dashboard, health, status and metrics.
//!
//! - `listen`: the listening socket and its connections (limits, timeouts, graceful stop).
//! - `routes`: what each path answers.
//! - `cache`: the document cache. Documents are rendered once per ledger change and kept by
//!   request path, each gzip or brotli form built on the first request for it
//!   (`representation`): while the ledger is unchanged (one atomic load says so) a request
//!   costs a map lookup and a few reference-count increments, like a static file. What is
//!   kept stays within a byte budget, least recently served dropped first.
//! - `documents`: what each document shows, assembled from the ledger for the renderers.
//!
//! `run` takes an already-bound listener and a shutdown future, so tests serve on 127.0.0.1:0.

mod archive;
mod cache;
mod documents;
mod listen;
mod representation;
mod routes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Config;
use crate::model::SourceId;
use crate::store::Store;
pub use cache::{DASHBOARD_WHOLE_SOURCES, DOCUMENT_CACHE_BUDGET, Format};
use cache::{Document, Hot, Rendered};
pub use documents::{
    BudgetCut, FEED_TEXT_BUDGET, Filter, Scope, Site, budgeted_feed, content_feed, fit_to_budget,
    urn_uuid,
};
pub use listen::{bind, raise_open_file_limit, run};
pub use routes::{route_label, router};

/// Everything the handlers share.
pub struct AppState {
    config: RwLock<Arc<Config>>,
    config_generation: AtomicU64,
    /// Bumped when a source's next run is planned: hot documents' Cache-Control horizons move.
    horizon_generation: AtomicU64,
    store: Arc<Store>,
    site: Site,
    clock: Arc<dyn Clock>,
    /// Current documents by request path: the fast path.
    hot: RwLock<HashMap<String, Hot>>,
    /// Every rendered document with the version it shows, and a lock per document so that
    /// concurrent requests after a change wait for one render instead of each rendering.
    rendered: Mutex<HashMap<Document, Rendered>>,
    render_locks: Mutex<HashMap<Document, Arc<tokio::sync::Mutex<()>>>>,
    /// When each source is next scheduled to refresh, as the scheduler publishes it.
    next_runs: Mutex<HashMap<SourceId, DateTime<Utc>>>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Turns for filtered renders (`server.max_searches` of them).
    searches: Arc<tokio::sync::Semaphore>,
    /// `/status.json` as last built, with the change it shows: built once per change of the
    /// store or the configuration (at 10,000 sources a build reads 20,000 records and writes
    /// megabytes), compressed with it. An async mutex: concurrent requests after a change
    /// wait for one build instead of each building.
    status_document: tokio::sync::Mutex<Option<(ChangeStamp, Arc<representation::Representation>)>>,
    /// `/healthz`'s answer for the status changes it shows (its sources' part; the store's
    /// condition is read on every request).
    health_answer: Mutex<Option<(HealthStamp, String)>>,
    /// `/status.json` and `/healthz` builds since start (tests tell a cached answer by it).
    status_builds: AtomicU64,
    /// Bytes the document cache may keep (`cache::DOCUMENT_CACHE_BUDGET`).
    document_budget: usize,
    /// Sources `/` shows on one page (`cache::DASHBOARD_WHOLE_SOURCES`).
    dashboard_whole_sources: usize,
}

/// What `/healthz`'s sources' part depends on (`AppState::health_stamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HealthStamp {
    newest_incident: u64,
    config: u64,
}

/// What status answers depend on: any change in the store (items, health, warnings, its
/// condition) and the configuration's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChangeStamp {
    store: u64,
    config: u64,
}

/// Whether a document's scope names something the configuration has.
fn scope_exists(config: &Config, document: &Document) -> bool {
    if let Document::GroupDashboard(group) = document {
        return config.sources.iter().any(|s| s.group == *group);
    }
    document
        .scope()
        .is_none_or(|scope| documents::scope_exists(config, scope))
}

impl AppState {
    /// `public_base` is the URL readers reach us at (`http://host:port`, no trailing slash).
    pub fn new(
        config: Arc<Config>,
        store: Arc<Store>,
        public_base: String,
        clock: Arc<dyn Clock>,
    ) -> AppState {
        let config_searches = config.server.max_searches;
        let per_source_metrics = config.server.per_source_metrics;
        AppState {
            config: RwLock::new(config),
            config_generation: AtomicU64::new(0),
            horizon_generation: AtomicU64::new(0),
            store,
            site: Site {
                base: public_base.trim_end_matches('/').to_owned(),
            },
            clock,
            hot: RwLock::new(HashMap::new()),
            rendered: Mutex::new(HashMap::new()),
            render_locks: Mutex::new(HashMap::new()),
            next_runs: Mutex::new(HashMap::new()),
            metrics: Arc::new(crate::metrics::Metrics::new(per_source_metrics)),
            searches: Arc::new(tokio::sync::Semaphore::new(config_searches)),
            status_document: tokio::sync::Mutex::new(None),
            health_answer: Mutex::new(None),
            status_builds: AtomicU64::new(0),
            document_budget: cache::DOCUMENT_CACHE_BUDGET,
            dashboard_whole_sources: cache::DASHBOARD_WHOLE_SOURCES,
        }
    }

    /// How many sources `/` shows on one page, in place of `DASHBOARD_WHOLE_SOURCES`
    /// (tests).
    pub fn with_dashboard_whole_sources(mut self, sources: usize) -> AppState {
        self.dashboard_whole_sources = sources;
        self
    }

    /// The document cache's byte budget, in place of `DOCUMENT_CACHE_BUDGET` (tests).
    pub fn with_document_budget(mut self, bytes: usize) -> AppState {
        self.document_budget = bytes;
        self
    }

    /// How many times `/status.json` or `/healthz` was built from the store since start: an
    /// unchanged store and configuration answer from the last build.
    pub fn status_builds(&self) -> u64 {
        self.status_builds.load(Ordering::Relaxed)
    }

    /// Read before a build, so that a change during the build makes the next request build
    /// again.
    fn change_stamp(&self) -> ChangeStamp {
        ChangeStamp {
            store: self.store.any_generation(),
            config: self.config_generation.load(Ordering::Acquire),
        }
    }

    /// What `/healthz`'s sources' part depends on: which sources are failing or degraded
    /// changes only with a change of status, and the store logs each as an incident (in the
    /// same transaction as the health record), or with the configuration. Read before a build.
    fn health_stamp(&self) -> Result<HealthStamp, crate::store::StoreError> {
        Ok(HealthStamp {
            newest_incident: self.store.incidents(1)?.first().map_or(0, |i| i.id),
            config: self.config_generation.load(Ordering::Acquire),
        })
    }

    /// Counts requests (and serves `/metrics`) from the daemon's registry.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> AppState {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Swaps in a reloaded configuration; every document is re-rendered on demand.
    pub fn set_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.config_generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Records when a source will next be refreshed (for Cache-Control).
    pub fn set_next_run(&self, source: &SourceId, at: DateTime<Utc>) {
        self.next_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(source.clone(), at);
        // Cache-Control horizons are kept with hot documents: make them look again (without
        // re-rendering anything).
        self.horizon_generation.fetch_add(1, Ordering::AcqRel);
    }
}
