//! Serving over HTTP (axum): feeds per source, category, group and combined, the incident feed,
//! the OPML, the dashboard and the health check.
//!
//! Documents are rendered once per ledger change, with their gzip and brotli forms, and kept
//! by request path: while the ledger is unchanged (one atomic load says so) a request costs a
//! map lookup and a few reference-count increments, like a static file. `run` takes an
//! already-bound listener and a shutdown future, so tests serve on 127.0.0.1:0.

mod documents;
mod fast;
mod http;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Config;
use crate::model::{SourceId, SourceStatus};
use crate::render;
use crate::store::{Store, StoreError};
pub use documents::{Filter, Scope, Site, content_feed, urn_uuid};
use http::{Effort, Representation};

/// The dashboard shows ages ("3 days since the last post"), so it is re-rendered at least
/// this often even when nothing changed.
const DASHBOARD_TTL: Duration = Duration::from_secs(60);
/// Longest Cache-Control lifetime we promise, whatever the schedule says.
const MAX_AGE_CAP: u64 = 3600;

/// A feed format, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    fn from_extension(ext: &str) -> Option<Format> {
        match ext {
            "rss" => Some(Format::Rss),
            "atom" => Some(Format::Atom),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }
}

/// What a served document is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Document {
    Feed(Scope, Format),
    Opml,
    /// A resident's OPML: the combined feed and one feed per source.
    ResidentOpml,
    /// The XSLT that shows RSS and Atom feeds as pages in a browser.
    FeedStylesheet,
    Dashboard,
}

impl Document {
    fn scope(&self) -> Option<&Scope> {
        match self {
            Document::Feed(scope, _) => Some(scope),
            _ => None,
        }
    }
}

/// A rendered document as the hot path keeps it.
struct Hot {
    representation: Arc<Representation>,
    /// `Store::any_generation`, the config and horizon generations when last known current.
    store_stamp: u64,
    config_stamp: u64,
    horizon_stamp: u64,
    /// When the first source of its scope is next refreshed: its Cache-Control horizon.
    next_refresh: DateTime<Utc>,
    rendered_at: Instant,
    is_dashboard: bool,
}

impl Hot {
    fn max_age(&self, now: DateTime<Utc>) -> u64 {
        ((self.next_refresh - now).num_seconds().max(0) as u64).min(MAX_AGE_CAP)
    }
}

/// What a document was rendered from, to tell whether it must be rendered again.
struct Rendered {
    version: u64,
    representation: Arc<Representation>,
    rendered_at: Instant,
}

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
}

/// Whether a document's scope names something the configuration has.
fn scope_exists(config: &Config, document: &Document) -> bool {
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
            metrics: Arc::new(crate::metrics::Metrics::new()),
            searches: Arc::new(tokio::sync::Semaphore::new(config_searches)),
        }
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

    /// When the soonest scheduled refresh of the scope's sources happens: a reader (or proxy)
    /// need not ask again before then.
    fn next_refresh(
        &self,
        config: &Config,
        scope: Option<&Scope>,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let sources = match scope {
            Some(scope) => documents::scope_sources(config, scope),
            None => config.sources.iter().map(AsRef::as_ref).collect(),
        };
        let mut runs = self.next_runs.lock().unwrap_or_else(|p| p.into_inner());
        sources
            .iter()
            .filter(|s| s.enabled)
            .filter_map(|s| match runs.get(&s.id) {
                Some(next) if *next > now => Some(*next),
                // Without a scheduler's word, the cron schedule says.
                _ => {
                    let next = s.schedule.after(&now).next()?;
                    runs.insert(s.id.clone(), next);
                    Some(next)
                }
            })
            .min()
            .unwrap_or(now + chrono::Duration::seconds(MAX_AGE_CAP as i64))
    }

    /// A number that changes whenever anything `document` shows may have changed.
    fn version(&self, config: &Config, document: &Document) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.config_generation
            .load(Ordering::Acquire)
            .hash(&mut hasher);
        let sources = match document {
            Document::Opml | Document::ResidentOpml | Document::FeedStylesheet => {
                return hasher.finish();
            }
            Document::Feed(Scope::Incidents, _) | Document::Dashboard => {
                self.store.health_generation().hash(&mut hasher);
                config.sources.iter().map(AsRef::as_ref).collect()
            }
            Document::Feed(scope, _) => documents::scope_sources(config, scope),
        };
        for source in sources {
            source.id.hash(&mut hasher);
            self.store.generation(&source.id).hash(&mut hasher);
        }
        hasher.finish()
    }

    /// The hot representation for `path`, if nothing changed since it was rendered.
    fn hot(&self, path: &str, now: DateTime<Utc>) -> Option<(Arc<Representation>, u64)> {
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        let entry = hot.get(path)?;
        let current = entry.store_stamp == self.store.any_generation()
            && entry.config_stamp == self.config_generation.load(Ordering::Acquire)
            && entry.horizon_stamp == self.horizon_generation.load(Ordering::Acquire)
            && entry.next_refresh > now
            && !(entry.is_dashboard && entry.rendered_at.elapsed() >= DASHBOARD_TTL);
        current.then(|| (Arc::clone(&entry.representation), entry.max_age(now)))
    }

    /// The current representation of `document` (rendered again only if what it shows
    /// changed), recorded as the hot entry of `path`. `Ok(None)`: no such document.
    async fn current(
        self: &Arc<Self>,
        path: &str,
        document: Document,
    ) -> Result<Option<(Arc<Representation>, u64)>, StoreError> {
        // Stamps first: a change during rendering leaves the entry stale, not wrongly current.
        let store_stamp = self.store.any_generation();
        let config_stamp = self.config_generation.load(Ordering::Acquire);
        let horizon_stamp = self.horizon_generation.load(Ordering::Acquire);
        let config = self.config();
        let now = Utc::now();
        if !scope_exists(&config, &document) {
            return Ok(None);
        }
        let version = self.version(&config, &document);
        let is_dashboard = document == Document::Dashboard;
        let fresh = |rendered: &Rendered| {
            rendered.version == version
                && !(is_dashboard && rendered.rendered_at.elapsed() >= DASHBOARD_TTL)
        };
        let lock = Arc::clone(
            self.render_locks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(document.clone())
                .or_default(),
        );
        let _rendering = lock.lock().await;
        let known = self
            .rendered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&document)
            .filter(|r| fresh(r))
            .map(|r| (Arc::clone(&r.representation), r.rendered_at));
        let (representation, rendered_at) = match known {
            Some(known) => known,
            None => {
                let state = Arc::clone(self);
                let key = document.clone();
                let config = Arc::clone(&config);
                let rendered = tokio::task::spawn_blocking(move || {
                    state.render(&config, &key, &Filter::default(), Effort::Best)
                })
                .await
                .map_err(|e| StoreError::Task(e.to_string()))??;
                let Some(representation) = rendered.map(Arc::new) else {
                    return Ok(None);
                };
                let rendered_at = Instant::now();
                self.rendered
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        document.clone(),
                        Rendered {
                            version,
                            representation: Arc::clone(&representation),
                            rendered_at,
                        },
                    );
                (representation, rendered_at)
            }
        };
        let hot = Hot {
            representation: Arc::clone(&representation),
            store_stamp,
            config_stamp,
            horizon_stamp,
            next_refresh: self.next_refresh(&config, document.scope(), now),
            rendered_at,
            is_dashboard,
        };
        let max_age = if is_dashboard {
            DASHBOARD_TTL.as_secs()
        } else {
            hot.max_age(now)
        };
        let mut hot_map = self.hot.write().unwrap_or_else(|p| p.into_inner());
        // The map is keyed by paths that name real documents, a number the configuration
        // bounds; nothing a client invents gets in.
        hot_map.insert(path.to_owned(), hot);
        Ok(Some((representation, max_age)))
    }

    fn render(
        &self,
        config: &Config,
        document: &Document,
        filter: &Filter,
        effort: Effort,
    ) -> Result<Option<Representation>, StoreError> {
        let now = self.clock.now();
        Ok(match document {
            Document::Feed(scope, format) => {
                let Some(feed) =
                    documents::content_feed(config, &self.store, &self.site, scope, filter)?
                else {
                    return Ok(None);
                };
                let body = match format {
                    Format::Rss => render::rss(&feed),
                    Format::Atom => render::atom(&feed),
                    Format::Json => render::json_feed(&feed),
                };
                Some(Representation::new(
                    format.content_type(),
                    body.into_bytes(),
                    feed.updated,
                    effort,
                ))
            }
            Document::FeedStylesheet => Some(Representation::new(
                // The type browsers apply as XSLT (Chromium and Firefox both take text/xsl).
                "text/xsl; charset=utf-8",
                render::FEED_STYLESHEET.as_bytes().to_vec(),
                // Rendered once per process: a new binary (a new stylesheet) is a new start.
                now.fixed_offset(),
                effort,
            )),
            Document::ResidentOpml => {
                let outline = documents::resident_outline(config, &self.site, now);
                let body = render::opml(&outline);
                Some(Representation::new(
                    "text/x-opml; charset=utf-8",
                    body.into_bytes(),
                    outline.created,
                    effort,
                ))
            }
            Document::Opml => {
                let outline = documents::outline(config, &self.site, now);
                let body = render::opml(&outline);
                Some(Representation::new(
                    "text/x-opml; charset=utf-8",
                    body.into_bytes(),
                    outline.created,
                    effort,
                ))
            }
            Document::Dashboard => {
                let dashboard = documents::dashboard(config, &self.store, &self.site, now)?;
                let body = render::dashboard(&dashboard);
                Some(Representation::new(
                    "text/html; charset=utf-8",
                    body.into_bytes(),
                    dashboard.generated,
                    effort,
                ))
            }
        })
    }
}

/// The router over every route; nothing else is reachable.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(document))
        .route("/opml", get(document))
        .route("/residents.opml", get(document))
        .route("/feed.xsl", get(document))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/status.json", get(status))
        .route("/feeds/{file}", get(document))
        .route("/feeds/group/{file}", get(document))
        .route("/feeds/{source}/{file}", get(document))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            count_request,
        ))
        .with_state(state)
}

/// The metrics route label of a path: a fixed vocabulary, whatever clients send.
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/" => "dashboard",
        "/opml" | "/residents.opml" => "opml",
        "/feed.xsl" => "stylesheet",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        "/status.json" => "status",
        p if p.starts_with("/feeds/") => "feed",
        _ => "other",
    }
}

async fn count_request(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let route = route_label(request.uri().path());
    let response = next.run(request).await;
    state.metrics.record_http(route, response.status().as_u16());
    response
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(),
    )
        .into_response()
}

/// Serves until `shutdown` resolves, then stops accepting, closes idle connections, and
/// returns once in-flight requests are answered.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router(Arc::clone(&state));
    let (stopping, stop_signal) = tokio::sync::watch::channel(false);
    let connections = tokio_util::task::TaskTracker::new();
    let server = state.config().server.clone();
    // Beyond the limit a new connection is closed at once, so a flood of idle sockets cannot
    // exhaust memory or file descriptors.
    let permits = Arc::new(tokio::sync::Semaphore::new(connection_limit(
        server.max_connections,
    )));
    let limits = fast::Limits {
        head: server.header_timeout,
        idle: server.idle_timeout,
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        // Full: closing is kinder than queueing without bound.
                        drop(stream);
                        continue;
                    };
                    let (state, router, stop) = (Arc::clone(&state), router.clone(), stop_signal.clone());
                    connections.spawn(async move {
                        fast::connection(stream, state, router, limits, stop).await;
                        drop(permit);
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: say so, and do not spin.
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// How deep the queue of connections not yet accepted may grow: std's 128 overflows when
/// clients connect faster than one accept loop takes them, and the kernel caps it anyway
/// (`net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket with a backlog deep enough for a burst of connections.
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std does: a restarted daemon can bind while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises this process's soft open-file limit to its hard one, as servers do; returns the limit
/// now in force (`None`: unlimited).
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let files = getrlimit(Resource::Nofile);
    if files.current == files.maximum {
        return files.current;
    }
    let raised = Rlimit {
        current: files.maximum,
        maximum: files.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => files.maximum,
        Err(_) => files.current,
    }
}

/// File descriptors kept back from client connections: the listener, the store's files, the
/// in-memory files of hot documents and outgoing fetches need their own.
const RESERVED_FDS: u64 = 512;

/// How many client connections may be open at once: `configured`, unless the process may not
/// open that many files. Then the limit is lowered (with a warning): past the file limit
/// `accept` fails for every new reader, while past our own limit only the surplus is refused.
/// The soft file limit is raised to the hard one first, as servers do.
fn connection_limit(configured: usize) -> usize {
    let Some(open_files) = raise_open_file_limit() else {
        return configured;
    };
    let room =
        usize::try_from(open_files.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
    if room < configured {
        tracing::warn!(
            max_connections = configured,
            open_file_limit = open_files,
            limit = room,
            "max_connections is above what the open-file limit allows; lowered (raise LimitNOFILE)"
        );
        return room;
    }
    configured
}

fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

fn internal(error: &StoreError) -> Response {
    // The detail goes to the log; a client learns only that it was our fault.
    tracing::error!(error = %error, "serving failed");
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// The document a request path names, if any.
fn document_at(path: &str) -> Option<Document> {
    let feed =
        |stem: &str, ext: &str| Format::from_extension(ext).map(|format| (stem.to_owned(), format));
    match path {
        "/" => return Some(Document::Dashboard),
        "/opml" => return Some(Document::Opml),
        "/residents.opml" => return Some(Document::ResidentOpml),
        "/feed.xsl" => return Some(Document::FeedStylesheet),
        _ => {}
    }
    let rest = path.strip_prefix("/feeds/")?;
    let (dir, file) = match rest.split_once('/') {
        Some((dir, file)) => (Some(dir), file),
        None => (None, rest),
    };
    let (stem, ext) = file.rsplit_once('.')?;
    if stem.contains('/') {
        return None;
    }
    let (stem, format) = feed(stem, ext)?;
    let scope = match (dir, stem.as_str()) {
        (None, "all") => Scope::All,
        (None, "incidents") if format == Format::Atom => Scope::Incidents,
        (None, "incidents") => return None,
        (None, id) => Scope::Source(SourceId::parse(id).ok()?),
        (Some("group"), group) => Scope::Group(group.to_owned()),
        (Some(source), slug) => Scope::Category(SourceId::parse(source).ok()?, slug.to_owned()),
    };
    Some(Document::Feed(scope, format))
}

/// Parses `limit`, `q` and `since`; unknown parameters are ignored (trackers add their own).
fn parse_filter(query: &str, config: &Config) -> Result<Filter, String> {
    let mut filter = Filter::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "limit" => {
                let limit: usize = value
                    .parse()
                    .map_err(|_| format!("limit: not a number: {value:?}"))?;
                if limit == 0 {
                    return Err("limit: must be at least 1".into());
                }
                filter.limit = Some(limit.min(config.server.feed_limit));
            }
            "q" => {
                if value.chars().count() > 200 {
                    return Err("q: longer than 200 characters".into());
                }
                filter.words = crate::normalize::text::search_key(&value)
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "since" => {
                let tz = chrono_tz::Asia::Ho_Chi_Minh;
                let since =
                    crate::normalize::date::parse_datetime(&value, tz, &[]).map_err(|_| {
                        format!("since: not a date: {value:?} (use 2023-01-30 or RFC 3339)")
                    })?;
                filter.since = Some(since);
            }
            _ => {}
        }
    }
    Ok(filter)
}

/// Whether a request header says a browser is opening a page: `Sec-Fetch-Dest: document`
/// (or a frame), which only browsers send, or, from a browser too old for that, an `Accept`
/// that asks for HTML.
fn browser_header(name: &str, value: &str) -> bool {
    if name.eq_ignore_ascii_case("sec-fetch-dest") {
        return matches!(value.trim(), "document" | "iframe" | "frame");
    }
    name.eq_ignore_ascii_case("accept") && value.contains("text/html")
}

fn is_browser_page(headers: &axum::http::HeaderMap) -> bool {
    match headers.get("sec-fetch-dest") {
        Some(dest) => browser_header("sec-fetch-dest", dest.to_str().unwrap_or_default()),
        None => headers
            .get_all(header::ACCEPT)
            .iter()
            .any(|accept| browser_header("accept", accept.to_str().unwrap_or_default())),
    }
}

/// An RSS or Atom feed opened in a browser goes as `application/xml`, the same bytes: browsers
/// show `application/rss+xml` and `application/atom+xml` as plain text, and apply the feed's
/// XSLT (`/feed.xsl`, a readable page) only to a document they parse as XML. Feed readers send
/// no such headers and keep getting the feed's own media type.
fn as_page_for_browsers(
    path: &str,
    headers: &axum::http::HeaderMap,
    mut response: Response,
) -> Response {
    let is_xml_feed =
        path.starts_with("/feeds/") && (path.ends_with(".rss") || path.ends_with(".atom"));
    if !is_xml_feed {
        return response;
    }
    // No `Vary` for it: the bytes are the same, and a shared cache that hands one type to the
    // other client costs at worst a browser showing the XML as text, as it did before.
    let h = response.headers_mut();
    if is_browser_page(headers) && h.contains_key(header::CONTENT_TYPE) {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=utf-8"),
        );
    }
    response
}

/// Every document route: the hot path first, then the render path.
async fn document(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let response = current_document(state, request).await;
    as_page_for_browsers(&path, &headers, response)
}

async fn current_document(state: Arc<AppState>, request: Request) -> Response {
    let path = request.uri().path();
    let method = request.method();
    let headers = request.headers();
    let query = request.uri().query().filter(|q| !q.is_empty());
    let now = Utc::now();
    if query.is_none()
        && let Some((representation, max_age)) = state.hot(path, now)
    {
        return representation.respond(method, headers, max_age);
    }
    let Some(document) = document_at(path) else {
        return not_found().await;
    };
    let config = state.config();
    let filter = match query.map(|q| parse_filter(q, &config)).transpose() {
        Ok(filter) => filter.unwrap_or_default(),
        Err(message) => return plain(StatusCode::BAD_REQUEST, &message),
    };
    let answer = if filter.is_empty() {
        state.current(path, document).await
    } else {
        // Filtered views are one-offs: rendered per request, never kept (their variety is the
        // client's to choose, and what we keep must stay bounded).
        let max_age = ((state.next_refresh(&config, document.scope(), now) - now)
            .num_seconds()
            .max(0) as u64)
            .min(MAX_AGE_CAP);
        // A search of something that does not exist is answered at once, not after a turn.
        if !scope_exists(&config, &document) {
            return not_found().await;
        }
        // At most `max_searches` at once: a flood of searches queues (each waiting request
        // holds only its connection) instead of filling memory and the blocking pool.
        let Ok(_turn) = Arc::clone(&state.searches).acquire_owned().await else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "stopping");
        };
        let worker = Arc::clone(&state);
        tokio::task::spawn_blocking(move || {
            worker
                .render(&config, &document, &filter, Effort::Fast)
                .map(|r| r.map(|r| (Arc::new(r), max_age)))
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
    };
    match answer {
        Ok(Some((representation, max_age))) => representation.respond(method, headers, max_age),
        Ok(None) => not_found().await,
        Err(error) => internal(&error),
    }
}

/// Every source's health, for the district office's tools: status, when it last worked, and
/// each failure of its last refresh with its kind.
async fn status(State(state): State<Arc<AppState>>) -> Response {
    #[derive(serde::Serialize)]
    struct Failure<'a> {
        kind: &'static str,
        category: &'a str,
        message: &'a str,
        at: String,
    }
    let config = state.config();
    let mut sources = Vec::new();
    let mut degraded = false;
    for source in &config.sources {
        let health = match state.store.health(&source.id) {
            Ok(health) => health,
            Err(error) => return internal(&error),
        };
        degraded |= source.enabled
            && matches!(
                health.status,
                SourceStatus::Failing | SourceStatus::Degraded
            );
        let failures: Vec<Failure> = health
            .failures
            .iter()
            .map(|f| Failure {
                kind: f.kind.as_str(),
                category: &f.category,
                message: &f.message,
                at: f.at.to_rfc3339(),
            })
            .collect();
        sources.push(serde_json::json!({
            "id": source.id.as_str(),
            "name": source.name,
            "group": source.group,
            "enabled": source.enabled,
            "status": health.status.as_str(),
            "last_attempt": health.last_attempt.map(|t| t.to_rfc3339()),
            "last_success": health.last_success.map(|t| t.to_rfc3339()),
            "consecutive_failures": health.consecutive_failures,
            "items_seen": health.items_seen,
            "items_stored": state.store.source_len(&source.id),
            "empty_listings": health.empty_listings,
            "failures": failures,
        }));
    }
    let body = serde_json::json!({
        "status": if degraded { "degraded" } else { "ok" },
        "sources": sources,
    });
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// `ok`, or `degraded` with the sources whose last refresh failed (wholly or in part). The
/// process itself is healthy either way: 200, unless the store cannot be read.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let config = state.config();
    let mut failing = Vec::new();
    for source in config.sources.iter().filter(|s| s.enabled) {
        match state.store.health(&source.id) {
            Ok(health)
                if matches!(
                    health.status,
                    SourceStatus::Failing | SourceStatus::Degraded
                ) =>
            {
                failing.push(format!("{} ({})", source.id, health.status.as_str()));
            }
            Ok(_) => {}
            Err(error) => return internal(&error),
        }
    }
    let body = if failing.is_empty() {
        "ok".to_owned()
    } else {
        format!("degraded: {}", failing.join(", "))
    };
    let mut response = plain(StatusCode::OK, &body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_stay_within_the_open_file_limit() {
        let files = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let limit = connection_limit(usize::MAX);
        // Raised to the hard limit, less what the process keeps for itself.
        match files.maximum {
            Some(files) => assert!((limit as u64) < files, "{limit} connections, {files} files"),
            None => assert_eq!(
                limit,
                usize::MAX,
                "no file limit, no lower connection limit"
            ),
        }
        assert_eq!(connection_limit(100), 100);
    }

    #[test]
    fn paths_name_documents() {
        let id = |s: &str| SourceId::parse(s).unwrap();
        assert_eq!(document_at("/"), Some(Document::Dashboard));
        assert_eq!(document_at("/residents.opml"), Some(Document::ResidentOpml));
        assert_eq!(document_at("/feed.xsl"), Some(Document::FeedStylesheet));
        assert_eq!(
            document_at("/feeds/all.rss"),
            Some(Document::Feed(Scope::All, Format::Rss))
        );
        assert_eq!(
            document_at("/feeds/incidents.atom"),
            Some(Document::Feed(Scope::Incidents, Format::Atom))
        );
        assert_eq!(document_at("/feeds/incidents.rss"), None);
        assert_eq!(
            document_at("/feeds/phucloi.json"),
            Some(Document::Feed(Scope::Source(id("phucloi")), Format::Json))
        );
        assert_eq!(
            document_at("/feeds/phucloi/tin-moi-nhat.atom"),
            Some(Document::Feed(
                Scope::Category(id("phucloi"), "tin-moi-nhat".into()),
                Format::Atom
            ))
        );
        assert_eq!(
            document_at("/feeds/group/longbien.rss"),
            Some(Document::Feed(Scope::Group("longbien".into()), Format::Rss))
        );
        for bad in [
            "/feeds/phucloi.xml",
            "/feeds/",
            "/feeds/PhucLoi.rss",
            "/feeds/a/b/c.rss",
            "/etc/passwd",
            "/feeds/..%2f.rss",
        ] {
            assert_eq!(document_at(bad), None, "{bad}");
        }
    }
}
