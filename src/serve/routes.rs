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
    state.metrics.set_store(
        state.store.condition() == StoreCondition::Working,
        state.store.failures(),
    );
    (
        [
            (header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(),
    )
        .into_response()
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
    // The head alone: shared across the awaits below (a body is not `Sync`).
    let (request, _) = request.into_parts();
    let response = current_document(&state, &request).await;
    as_page_for_browsers(request.uri.path(), &request.headers, response)
}

async fn current_document(state: &Arc<AppState>, request: &Parts) -> Response {
    let path = request.uri.path();
    let headers = &request.headers;
    let query = request.uri.query().filter(|q| !q.is_empty());
    let now = state.clock.now();
    if query.is_none()
        && let Some((representation, max_age)) = state.hot(path, now)
    {
        return representation.respond(headers, max_age);
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
        Ok(Some((representation, max_age))) => representation.respond(headers, max_age),
        Ok(None) => not_found().await,
        Err(error) => internal(&error),
    }
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
                    Err(error) => return internal(&error),
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
    let mut response = representation.respond(&headers, 0);
    let h = response.headers_mut();
    h.remove(header::LAST_MODIFIED);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn status_body(state: &AppState) -> Result<String, StoreError> {
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
        let health = state.store.health(&source.id)?;
        degraded |= source.enabled
            && matches!(
                health.status,
                SourceStatus::Failing | SourceStatus::Degraded
            );
        let warnings = state.store.warnings(&source.id)?;
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
            "warnings": warnings,
        }));
    }
    let store = match state.store.condition() {
        StoreCondition::Working => serde_json::json!({ "status": "working" }),
        StoreCondition::Failing { since, error } => {
            degraded = true;
            serde_json::json!({
                "status": "failing",
                "since": since.to_rfc3339(),
                "error": error,
            })
        }
    };
    let body = serde_json::json!({
        "status": if degraded { "degraded" } else { "ok" },
        "store": store,
        "sources": sources,
    });
    Ok(body.to_string())
}

/// `ok`, or `degraded` with the sources whose last refresh failed (wholly or in part): 200,
/// the process is healthy either way. A failing store (its writes fail: nothing new is kept)
/// is `degraded: store failing since …` with 503, whatever the sources do. The sources' part
/// is kept per change, so a probe between changes costs two atomic loads and a copy.
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
    let stamp = state.change_stamp();
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
                Err(error) => return internal(&error),
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
    for source in config.sources.iter().filter(|s| s.enabled) {
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
