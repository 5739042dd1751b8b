//! What each path answers: the documents (from the cache), health, status and metrics, and
//! the short plain answers for everything else. Handlers map errors to a status and a short
//! message; internals go to the log, never to a client.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::cache::{Document, Format, MAX_AGE_CAP};
use super::documents::{Filter, Scope};
use super::representation::{Effort, Representation};
use super::{AppState, scope_exists};
use crate::config::Config;
use crate::model::{SourceId, SourceStatus};
use crate::store::{StoreCondition, StoreError};

/// The router over every route; nothing else is reachable.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(document))
        .route("/opml", get(document))
        .route("/residents.opml", get(document))
        .route("/feed.xsl", get(document))
        .route("/groups/{group}", get(document))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/status.json", get(status))
        .route("/search", get(search_page))
        .route("/feeds/{file}", get(document))
        .route("/feeds/group/{file}", get(document))
        .route("/feeds/{source}/{file}", get(document))
        // Archive pages (RFC 5005) of source, combined, category and group feeds.
        .route("/feeds/{source}/archive/{file}", get(document))
        .route("/feeds/{source}/{slug}/archive/{file}", get(document))
        .route("/feeds/group/{slug}/archive/{file}", get(document))
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
        p if p.starts_with("/groups/") => "dashboard",
        "/opml" | "/residents.opml" => "opml",
        "/feed.xsl" => "stylesheet",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        "/status.json" => "status",
        "/search" => "search",
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

/// The exposition, gzip or brotli when the scraper accepts it (Prometheus sends
/// `Accept-Encoding: gzip`): with per-source series it is megabytes at thousands of sources.
/// Never cached and never 304: the counters move with every request, this one included.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    state.metrics.set_store(
        state.store.condition() == StoreCondition::Working,
        state.store.failures(),
    );
    let exposition = Representation::new(
        crate::metrics::CONTENT_TYPE,
        state.metrics.render().into_bytes(),
        state.clock.now().fixed_offset(),
        Effort::Fast,
    );
    let mut asked = HeaderMap::new();
    if let Some(accept) = headers.get(header::ACCEPT_ENCODING) {
        asked.insert(header::ACCEPT_ENCODING, accept.clone());
    }
    let respond = move || exposition.respond(&asked, 0);
    let mut response = if headers.contains_key(header::ACCEPT_ENCODING) {
        // Compressing megabytes takes milliseconds: off the async workers.
        match tokio::task::spawn_blocking(respond).await {
            Ok(response) => response,
            Err(error) => return serving_failed(&StoreError::Task(error.to_string())),
        }
    } else {
        respond()
    };
    let h = response.headers_mut();
    h.remove(header::ETAG);
    h.remove(header::LAST_MODIFIED);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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

/// Our failure, answered: 503 (come back later) while the store fails, 500 otherwise. The
/// detail goes to the log; a client learns only that it was our fault.
fn serving_failed(error: &StoreError) -> Response {
    tracing::error!(error = %error, "serving failed");
    if error.is_io() || matches!(error, StoreError::NoRoom { .. }) {
        // A failing store (a full disk, an I/O error) is reopened by the next refresh; a
        // closed one once there is room: a reader should come back, not mark the feed
        // broken. What was rendered before is still served from the cache.
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable for a while; try again later",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(STORE_RETRY_AFTER),
        );
        return response;
    }
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// Seconds a client is asked to wait while the store is closed (a full disk being freed).
const STORE_RETRY_AFTER: &str = "300";

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
    if let Some(group) = path.strip_prefix("/groups/") {
        let group = percent_encoding::percent_decode_str(group)
            .decode_utf8()
            .ok()?;
        return (!group.is_empty() && !group.contains('/'))
            .then(|| Document::GroupDashboard(group.into_owned()));
    }
    let rest = path.strip_prefix("/feeds/")?;
    if let Some((stem, page)) = rest.rsplit_once("/archive/") {
        let (period, ext) = page.rsplit_once('.')?;
        let period = super::archive::Period::parse(period)?;
        let Some(Document::Feed(scope, format)) = document_at(&format!("/feeds/{stem}.{ext}"))
        else {
            return None;
        };
        if scope == Scope::Incidents {
            return None;
        }
        return Some(Document::Archive(scope, format, period));
    }
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
                // The index's own words: split on spaces only, "2022," or "(UBND)" was a
                // word no item holds, and a search naming it found nothing.
                filter.words = crate::store::search::words(&value).into_iter().collect();
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

/// A kept representation's answer; the first request for an encoding compresses it, off the
/// async workers.
async fn answer_with(
    state: &AppState,
    representation: Arc<Representation>,
    headers: &HeaderMap,
    max_age: u64,
) -> Response {
    if !representation.must_compress(headers) {
        return representation.respond(headers, max_age);
    }
    let headers = headers.clone();
    let kept = Arc::clone(&representation);
    let response = match tokio::task::spawn_blocking(move || kept.respond(&headers, max_age)).await
    {
        Ok(response) => response,
        Err(error) => return serving_failed(&StoreError::Task(error.to_string())),
    };
    // The kept document grew by its new encoding.
    state.keep_within_budget(&representation);
    response
}

/// Every document route: the hot path first, then the render path.
async fn document(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // The head alone: shared across the awaits below (a body is not `Sync`).
    let (request, _) = request.into_parts();
    let response = current_document(&state, &request).await;
    let response = closed_archives_immutable(&state, request.uri.path(), response);
    as_page_for_browsers(request.uri.path(), &request.headers, response)
}

/// An archive page of a closed month no longer changes: caches keep it for a week without
/// asking (`immutable`). Open months' pages are cached like current documents.
fn closed_archives_immutable(state: &AppState, path: &str, mut response: Response) -> Response {
    let answered = response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED;
    if !answered || !path.contains("/archive/") {
        return response;
    }
    let Some(Document::Archive(_, _, period)) = document_at(path) else {
        return response;
    };
    if period.is_closed(state.clock.now()) {
        let value = format!(
            "public, max-age={}, immutable",
            super::archive::CLOSED_MAX_AGE
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::CACHE_CONTROL, value);
        }
    }
    response
}

async fn current_document(state: &Arc<AppState>, request: &Parts) -> Response {
    let path = request.uri.path();
    let headers = &request.headers;
    let query = request.uri.query().filter(|q| !q.is_empty());
    let now = state.clock.now();
    if query.is_none()
        && let Some((representation, max_age)) = state.hot(path, now)
    {
        return answer_with(state, representation, headers, max_age).await;
    }
    let Some(document) = document_at(path) else {
        return not_found().await;
    };
    let config = state.config();
    if let Some(location) = merged_feed(state, &config, &document, query) {
        return location;
    }
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
        let worker = Arc::clone(state);
        tokio::task::spawn_blocking(move || {
            worker
                .render(&config, &document, &filter, Effort::Fast)
                .map(|r| r.map(|r| (Arc::new(r), max_age)))
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
    };
    match answer {
        Ok(Some((representation, max_age))) => {
            answer_with(state, representation, headers, max_age).await
        }
        Ok(None) => not_found().await,
        Err(error) => serving_failed(&error),
    }
}

/// A feed of a source merged into another (`merged_into`) moves for good to the new ward's own
/// feed, in the same format (a category feed too: the new ward's categories are its own), which
/// carries the merged ward's history: a subscriber's reader follows the 301 and loses nothing.
fn merged_feed(
    state: &AppState,
    config: &Config,
    document: &Document,
    query: Option<&str>,
) -> Option<Response> {
    let Document::Feed(Scope::Source(id) | Scope::Category(id, _), format) = document else {
        return None;
    };
    let source = config.source(id.as_str())?;
    let target = super::documents::merged_target(config, source)?;
    let mut location = state.site.feed_path(target.id.as_str(), format.extension());
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    let mut response = plain(
        StatusCode::MOVED_PERMANENTLY,
        &format!("{} was merged into {}: {location}", source.id, target.id),
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Some(response)
}

/// The dashboard's search page: `?q=` over every stored item, newest first, `&page=N`.
async fn search_page(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or("").to_owned();
    let mut q = String::new();
    let mut page = 1usize;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "q" => q = value.into_owned(),
            "page" => match value.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => page = n,
                _ => return plain(StatusCode::BAD_REQUEST, "page: a number from 1 to 10000"),
            },
            _ => {}
        }
    }
    if q.chars().count() > 200 {
        return plain(StatusCode::BAD_REQUEST, "q: longer than 200 characters");
    }
    let Ok(_turn) = Arc::clone(&state.searches).acquire_owned().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "stopping");
    };
    let worker = Arc::clone(&state);
    let built = tokio::task::spawn_blocking(move || search_results(&worker, &q, page))
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())));
    match built {
        Ok(body) => {
            let mut response =
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => serving_failed(&error),
    }
}

fn search_results(state: &AppState, q: &str, page: usize) -> Result<String, StoreError> {
    let config = state.config();
    let per_page = crate::render::SEARCH_PAGE;
    let words: Vec<String> = crate::store::search::words(q).into_iter().collect();
    let mut results = Vec::new();
    let mut more = false;
    if !words.is_empty() {
        let mut hits = state.store.search(&words)?;
        // Earlier pages are passed over: each of their matches is checked, none rendered.
        hits.pass((page - 1) * per_page)?;
        for hit in hits.by_ref().take(per_page) {
            let stored = hit?;
            let source = config
                .source(stored.item.source.as_str())
                .map_or_else(|| stored.item.source.to_string(), |s| s.name.clone());
            results.push(crate::render::SearchResult {
                title: stored.item.title.clone(),
                url: stored.item.url.clone(),
                source,
                published: stored.sort_time(),
                summary: stored.item.summary.clone(),
            });
        }
        more = results.len() == per_page && hits.pass(1)? == 1;
    }
    let base = state.site.index();
    let at = |n: usize| {
        format!(
            "{base}search?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", q)
                .append_pair("page", &n.to_string())
                .finish()
        )
    };
    Ok(crate::render::search_page(&crate::render::SearchPage {
        title: config.server.title.clone(),
        query: q.to_owned(),
        dashboard_url: base.clone(),
        results,
        page,
        previous_url: (page > 1).then(|| at(page - 1)),
        next_url: more.then(|| at(page + 1)),
    }))
}

/// Every source's health, for the district office's tools: status, when it last worked, and
/// each failure of its last refresh with its kind. Built once per change (store or
/// configuration) and kept with its compressed forms; a client revalidates with its ETag.
async fn status(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let stamp = state.change_stamp();
    let representation = {
        let mut kept = state.status_document.lock().await;
        match &*kept {
            Some((at, representation)) if *at == stamp => Arc::clone(representation),
            _ => {
                let body = match status_body(&state) {
                    Ok(body) => body,
                    Err(error) => return serving_failed(&error),
                };
                state.status_builds.fetch_add(1, Ordering::Relaxed);
                let representation = Arc::new(Representation::new(
                    "application/json; charset=utf-8",
                    body.into_bytes(),
                    state.clock.now().fixed_offset(),
                    // Rebuilt at every change during a cycle: cheap compression.
                    Effort::Fast,
                ));
                *kept = Some((stamp, Arc::clone(&representation)));
                representation
            }
        }
    };
    // Only the ETag decides: two builds within one second share a Last-Modified.
    let mut headers = headers;
    headers.remove(header::IF_MODIFIED_SINCE);
    let mut response = answer_with(&state, representation, &headers, 0).await;
    let h = response.headers_mut();
    h.remove(header::LAST_MODIFIED);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn status_body(state: &AppState) -> Result<String, StoreError> {
    // Typed and written straight to text (keys in the order serde_json's maps gave them):
    // at 10,000 sources a tree of JSON values was ~20 MB and most of the time of a build.
    #[derive(serde::Serialize)]
    struct Failure<'a> {
        at: String,
        category: &'a str,
        kind: &'static str,
        message: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        consecutive_failures: u32,
        empty_listings: &'a [String],
        enabled: bool,
        failures: Vec<Failure<'a>>,
        group: &'a str,
        id: &'a str,
        items_seen: u64,
        items_stored: usize,
        last_attempt: Option<String>,
        last_success: Option<String>,
        merged_into: Option<&'a str>,
        name: &'a str,
        status: &'a str,
        warnings: Vec<serde_json::Value>,
    }
    #[derive(serde::Serialize)]
    struct Store {
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<String>,
        status: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Status<'a> {
        sources: Vec<Entry<'a>>,
        status: &'static str,
        store: Store,
    }
    let config = state.config();
    let healths = config
        .sources
        .iter()
        .map(|source| {
            let health = state.store.health(&source.id)?;
            let warnings = state.store.warnings(&source.id)?;
            Ok((health, warnings))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut sources = Vec::with_capacity(config.sources.len());
    let mut degraded = false;
    for (source, (health, warnings)) in config.sources.iter().zip(&healths) {
        let merged_into = super::documents::merged_target(&config, source);
        degraded |= source.enabled
            && merged_into.is_none()
            && matches!(
                health.status,
                SourceStatus::Failing | SourceStatus::Degraded
            );
        sources.push(Entry {
            consecutive_failures: health.consecutive_failures,
            empty_listings: &health.empty_listings,
            enabled: source.enabled,
            failures: health
                .failures
                .iter()
                .map(|f| Failure {
                    at: f.at.to_rfc3339(),
                    category: &f.category,
                    kind: f.kind.as_str(),
                    message: &f.message,
                })
                .collect(),
            group: &source.group,
            id: source.id.as_str(),
            items_seen: health.items_seen,
            items_stored: state.store.source_len(&source.id),
            last_attempt: health.last_attempt.map(|t| t.to_rfc3339()),
            last_success: health.last_success.map(|t| t.to_rfc3339()),
            merged_into: merged_into.map(|t| t.id.as_str()),
            name: &source.name,
            // A merged ward is merged, whatever its old portal does now.
            status: if merged_into.is_some() {
                "merged"
            } else {
                health.status.as_str()
            },
            // Few and small; as values, so their keys keep the order they always had.
            warnings: warnings
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::Task(format!("a warning as JSON: {e}")))?,
        });
    }
    let store = match state.store.condition() {
        StoreCondition::Working => Store {
            error: None,
            since: None,
            status: "working",
        },
        StoreCondition::Failing { since, error } => {
            degraded = true;
            Store {
                error: Some(error.to_string()),
                since: Some(since.to_rfc3339()),
                status: "failing",
            }
        }
    };
    let status = Status {
        sources,
        status: if degraded { "degraded" } else { "ok" },
        store,
    };
    serde_json::to_string(&status).map_err(|e| StoreError::Task(format!("status as JSON: {e}")))
}

/// `ok`, or `degraded` with the sources whose last refresh failed (wholly or in part): 200,
/// the process is healthy either way. A failing store (its writes fail: nothing new is kept)
/// is `degraded: store failing since …` with 503, whatever the sources do. The sources' part
/// is kept until a source's status changes (every change is an incident) or the configuration
/// does, so a probe costs one read of the newest incident and a copy however many sources
/// there are — not a walk of every source's health after each refresh.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    if let StoreCondition::Failing { since, error } = state.store.condition() {
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "degraded: store failing since {} ({error})",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        );
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    let stamp = match state.health_stamp() {
        Ok(stamp) => stamp,
        Err(error) => return serving_failed(&error),
    };
    let kept = state
        .health_answer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|(at, _)| *at == stamp)
        .map(|(_, body)| body.clone());
    let body = match kept {
        Some(body) => body,
        None => {
            let body = match health_body(&state) {
                Ok(body) => body,
                Err(error) => return serving_failed(&error),
            };
            state.status_builds.fetch_add(1, Ordering::Relaxed);
            *state
                .health_answer
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some((stamp, body.clone()));
            body
        }
    };
    let mut response = plain(StatusCode::OK, &body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn health_body(state: &AppState) -> Result<String, StoreError> {
    let config = state.config();
    let mut failing = Vec::new();
    for source in config
        .sources
        .iter()
        .filter(|s| s.enabled && s.merged_into.is_none())
    {
        let health = state.store.health(&source.id)?;
        if matches!(
            health.status,
            SourceStatus::Failing | SourceStatus::Degraded
        ) {
            failing.push(format!("{} ({})", source.id, health.status.as_str()));
        }
    }
    Ok(if failing.is_empty() {
        "ok".to_owned()
    } else {
        format!("degraded: {}", failing.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
