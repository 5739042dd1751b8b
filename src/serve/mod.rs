//! Serving over HTTP (axum): feeds per source, category, group and combined, the incident feed,
//! the OPML, the dashboard and the health check.
//!
//! Documents are rendered once per ledger change and kept with their gzip and brotli forms,
//! so a feed request costs what a static file costs. `run` takes an already-bound listener and
//! a shutdown future, so tests serve on 127.0.0.1:0.

mod documents;
mod http;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Config;
use crate::model::{SourceId, SourceStatus};
use crate::render;
use crate::store::{Store, StoreError};
pub use documents::{Filter, Scope, Site, urn_uuid};
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

/// What a cached document is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Document {
    Feed(Scope, Format),
    Opml,
    Dashboard,
}

struct Cached {
    version: u64,
    rendered_at: Instant,
    representation: Arc<Representation>,
}

/// Everything the handlers share.
pub struct AppState {
    config: RwLock<Arc<Config>>,
    config_generation: AtomicU64,
    store: Arc<Store>,
    site: Site,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<Document, Cached>>,
    /// When each source is next scheduled to refresh, as the scheduler publishes it.
    next_runs: Mutex<HashMap<SourceId, DateTime<Utc>>>,
}

impl AppState {
    /// `public_base` is the URL readers reach us at (`http://host:port`, no trailing slash).
    pub fn new(
        config: Arc<Config>,
        store: Arc<Store>,
        public_base: String,
        clock: Arc<dyn Clock>,
    ) -> AppState {
        AppState {
            config: RwLock::new(config),
            config_generation: AtomicU64::new(0),
            store,
            site: Site {
                base: public_base.trim_end_matches('/').to_owned(),
            },
            clock,
            cache: Mutex::new(HashMap::new()),
            next_runs: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Swaps in a reloaded configuration; every cached document is re-rendered on demand.
    pub fn set_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.config_generation.fetch_add(1, Ordering::Relaxed);
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
    }

    /// Seconds until the soonest scheduled refresh of the scope's sources: a reader (or
    /// proxy) need not ask again before then.
    fn max_age(&self, config: &Config, scope: Option<&Scope>) -> u64 {
        let now = Utc::now();
        let runs = self.next_runs.lock().unwrap_or_else(|p| p.into_inner());
        let sources = match scope {
            Some(scope) => documents::scope_sources(config, scope),
            None => config.sources.iter().map(AsRef::as_ref).collect(),
        };
        sources
            .iter()
            .filter(|s| s.enabled)
            .filter_map(|s| {
                runs.get(&s.id)
                    .copied()
                    .or_else(|| s.schedule.after(&now).next())
            })
            .map(|next| (next - now).num_seconds().max(0) as u64)
            .min()
            .unwrap_or(MAX_AGE_CAP)
            .min(MAX_AGE_CAP)
    }

    /// A number that changes whenever anything `document` shows may have changed.
    fn version(&self, config: &Config, document: &Document) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.config_generation
            .load(Ordering::Relaxed)
            .hash(&mut hasher);
        let scope = match document {
            Document::Feed(scope, _) => Some(scope),
            Document::Opml => return hasher.finish(),
            Document::Dashboard => None,
        };
        let sources = match scope {
            Some(Scope::Incidents) | None => {
                self.store.health_generation().hash(&mut hasher);
                config.sources.iter().map(AsRef::as_ref).collect()
            }
            Some(scope) => documents::scope_sources(config, scope),
        };
        for source in sources {
            source.id.hash(&mut hasher);
            self.store.generation(&source.id).hash(&mut hasher);
        }
        hasher.finish()
    }

    /// The cached representation of `document`, rendered again if anything it shows changed.
    /// `Ok(None)`: the document does not exist (unknown source or category).
    async fn cached(
        self: &Arc<Self>,
        document: Document,
    ) -> Result<Option<Arc<Representation>>, StoreError> {
        let config = self.config();
        let version = self.version(&config, &document);
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&document)
            && cached.version == version
            && (document != Document::Dashboard || cached.rendered_at.elapsed() < DASHBOARD_TTL)
        {
            return Ok(Some(Arc::clone(&cached.representation)));
        }
        let state = Arc::clone(self);
        let key = document.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            state.render(&config, &key, &Filter::default(), Effort::Best)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        let Some(representation) = rendered.map(Arc::new) else {
            return Ok(None);
        };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            document,
            Cached {
                version,
                rendered_at: Instant::now(),
                representation: Arc::clone(&representation),
            },
        );
        Ok(Some(representation))
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
        .route("/", get(index))
        .route("/opml", get(opml))
        .route("/healthz", get(healthz))
        .route("/feeds/{file}", get(top_feed))
        .route("/feeds/group/{file}", get(group_feed))
        .route("/feeds/{source}/{file}", get(category_feed))
        .fallback(not_found)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
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
    tracing::error!(error = %error, "serving failed");
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// `name.ext` into its parts.
fn split_file(file: &str) -> Option<(&str, Format)> {
    let (stem, ext) = file.rsplit_once('.')?;
    Some((stem, Format::from_extension(ext)?))
}

/// Parses `limit`, `q` and `since`; unknown parameters are ignored (trackers add their own).
fn parse_filter(query: Option<&str>, config: &Config) -> Result<Filter, String> {
    let mut filter = Filter::default();
    let Some(query) = query else {
        return Ok(filter);
    };
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

async fn serve_feed(
    state: Arc<AppState>,
    scope: Scope,
    format: Format,
    query: Option<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let config = state.config();
    let filter = match parse_filter(query.as_deref(), &config) {
        Ok(filter) => filter,
        Err(message) => return plain(StatusCode::BAD_REQUEST, &message),
    };
    if scope == Scope::Incidents && format != Format::Atom {
        return not_found().await;
    }
    let max_age = state.max_age(&config, Some(&scope));
    let document = Document::Feed(scope, format);
    let representation = if filter.is_empty() {
        state.cached(document).await
    } else {
        // Filtered views are one-offs: rendered per request, never cached (their variety is
        // the client's to choose, and the cache must stay bounded).
        let worker = Arc::clone(&state);
        tokio::task::spawn_blocking(move || {
            worker
                .render(&config, &document, &filter, Effort::Fast)
                .map(|r| r.map(Arc::new))
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
    };
    match representation {
        Ok(Some(representation)) => representation.respond(&method, &headers, max_age),
        Ok(None) => plain(StatusCode::NOT_FOUND, "not found"),
        Err(error) => internal(&error),
    }
}

async fn top_feed(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some((stem, format)) = split_file(&file) else {
        return not_found().await;
    };
    let scope = match stem {
        "all" => Scope::All,
        "incidents" => Scope::Incidents,
        id => match SourceId::parse(id) {
            Ok(id) => Scope::Source(id),
            Err(_) => return not_found().await,
        },
    };
    serve_feed(state, scope, format, query, method, headers).await
}

async fn group_feed(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some((group, format)) = split_file(&file) else {
        return not_found().await;
    };
    serve_feed(
        state,
        Scope::Group(group.to_owned()),
        format,
        query,
        method,
        headers,
    )
    .await
}

async fn category_feed(
    State(state): State<Arc<AppState>>,
    Path((source, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let (Some((slug, format)), Ok(id)) = (split_file(&file), SourceId::parse(&source)) else {
        return not_found().await;
    };
    serve_feed(
        state,
        Scope::Category(id, slug.to_owned()),
        format,
        query,
        method,
        headers,
    )
    .await
}

async fn index(State(state): State<Arc<AppState>>, method: Method, headers: HeaderMap) -> Response {
    let max_age = DASHBOARD_TTL.as_secs();
    match state.cached(Document::Dashboard).await {
        Ok(Some(representation)) => representation.respond(&method, &headers, max_age),
        Ok(None) => not_found().await,
        Err(error) => internal(&error),
    }
}

async fn opml(State(state): State<Arc<AppState>>, method: Method, headers: HeaderMap) -> Response {
    let config = state.config();
    let max_age = state.max_age(&config, None);
    match state.cached(Document::Opml).await {
        Ok(Some(representation)) => representation.respond(&method, &headers, max_age),
        Ok(None) => not_found().await,
        Err(error) => internal(&error),
    }
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
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}
