//! Loopback fixture server: serves every site of one `fixtures/portal/sN` snapshot exactly as the
//! fixtures README ("Serving model") prescribes, with request stats, a request log and fault overrides.
//!
//! This file holds the server (routing, answers, stats, overrides, shutdown); loading a snapshot
//! from `routes.json` files is in `snapshot`; the snapshots embedded for `wardfeed demo` are in
//! `demo`. The wardfeed library never uses this crate: the tests and the binary's `demo` do.

pub mod demo;
mod snapshot;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use snapshot::Route;
pub use snapshot::Snapshot;

/// The placeholder the fixture generator writes wherever a page needs its own site's BASE.
const BASE_MARKER: &str = "{{BASE}}";
/// How long `shutdown` lets in-flight answers drain before it aborts the server task.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The log keeps the newest entries only, so a long-running `wardfeed demo` does not grow forever.
const LOG_CAPACITY: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("load {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("load {path}: route {route:?}: {reason}")]
    Route {
        path: PathBuf,
        route: String,
        reason: String,
    },
    #[error("load {path}: route {route:?}: file {file} does not exist")]
    MissingFile {
        path: PathBuf,
        route: String,
        file: PathBuf,
    },
    #[error("bind loopback listener: {0}")]
    Bind(#[source] std::io::Error),
    #[error("serve on {0}: not a loopback address; the fixture world must stay on 127.0.0.1")]
    NotLoopback(SocketAddr),
    #[error("set override {0}: invalid status or header")]
    Override(String),
}

/// A fault injected for one site + raw target, replacing what the route would answer.
#[derive(Debug, Clone)]
pub enum Override {
    /// Answer this status, body and headers instead (`{{BASE}}` is replaced as in routes).
    Respond {
        status: u16,
        body: Bytes,
        headers: Vec<(String, String)>,
    },
    /// Answer as the route would, but after this delay instead of its `delay_ms`.
    Delay(Duration),
    /// Never answer; the request stays open until the client gives up or the server shuts down.
    Hang,
    /// Answer 200 with this content type and a body that never ends (no Content-Length): the
    /// client must cut it off itself.
    Endless { content_type: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalStats {
    pub requests: u64,
    pub body_bytes: u64,
    pub not_modified: u64,
    /// Answers by status; a request held by [`Override::Hang`] has none and is not counted here.
    pub by_status: BTreeMap<u16, u64>,
}

#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub site: String,
    /// Raw path and query after the `/<site>` prefix, exactly as requested.
    pub target: String,
    /// The posted form fields of a POST, in order (empty for other methods).
    pub form: Vec<(String, String)>,
    pub method: String,
    /// The status chosen for the answer; 0 while an [`Override::Hang`] holds the request.
    pub status: u16,
    /// Body bytes of the answer (0 for HEAD, 304 and bodiless answers).
    pub body_bytes: u64,
    /// Arrival time, before any delay.
    pub at: Instant,
    pub user_agent: Option<String>,
    /// The request carried `If-None-Match` or `If-Modified-Since`.
    pub conditional: bool,
}

#[derive(Default)]
struct Record {
    stats: PortalStats,
    log: VecDeque<LoggedRequest>,
}

// std Mutex rather than tokio's: no lock is ever held across an `.await`, and every critical
// section is a lookup or a push.
struct Shared {
    base_url: String,
    snapshot: Mutex<Snapshot>,
    overrides: Mutex<HashMap<(String, String), Override>>,
    record: Mutex<Record>,
    stop: watch::Receiver<bool>,
}

/// A panicking test must not take the fixture server down for the tests that share it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the server decided to answer to one request, before `{{BASE}}` substitution.
#[derive(Default)]
struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    body: Bytes,
    delay: Duration,
    hang: bool,
    endless: bool,
}

impl Answer {
    fn new(status: StatusCode) -> Answer {
        Answer {
            status,
            ..Answer::default()
        }
    }

    fn header(mut self, name: HeaderName, value: String) -> Answer {
        self.headers.push((name, value));
        self
    }
}

/// Handle on a running fixture server; dropping it stops the server as `shutdown` does.
pub struct PortalServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl PortalServer {
    /// Serves `snapshot` on an already-bound loopback listener.
    pub async fn serve(
        snapshot: Snapshot,
        listener: TcpListener,
    ) -> Result<PortalServer, PortalError> {
        let addr = listener.local_addr().map_err(PortalError::Bind)?;
        if !addr.ip().is_loopback() {
            return Err(PortalError::NotLoopback(addr));
        }
        let (stop, mut signal) = watch::channel(false);
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            snapshot: Mutex::new(snapshot),
            overrides: Mutex::default(),
            record: Mutex::default(),
            stop: signal.clone(),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        // wait_for also returns once the sender is dropped, so dropping the handle stops the server.
        let stopped = async move { _ = signal.wait_for(|stop| *stop).await };
        let server = axum::serve(listener, app).with_graceful_shutdown(stopped);
        let task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "portal server stopped");
            }
        });
        Ok(PortalServer {
            addr,
            shared,
            stop,
            task,
        })
    }

    /// Binds `127.0.0.1:0` and serves `snapshot` there.
    pub async fn start(snapshot: Snapshot) -> Result<PortalServer, PortalError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(PortalError::Bind)?;
        PortalServer::serve(snapshot, listener).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The site's BASE, `http://127.0.0.1:PORT/<site>`, without a trailing slash.
    pub fn site_base(&self, site: &str) -> String {
        format!("{}/{site}", self.shared.base_url)
    }

    /// Serves another snapshot from the next request on; the port, and so every BASE, stays.
    pub fn switch(&self, snapshot: Snapshot) {
        *lock(&self.shared.snapshot) = snapshot;
    }

    /// Replaces the answer for `site` + raw `target` (path and query, e.g. `/tin-tuc?page=2`).
    pub fn set_override(
        &self,
        site: &str,
        target: &str,
        answer: Override,
    ) -> Result<(), PortalError> {
        if let Override::Respond {
            status, headers, ..
        } = &answer
        {
            let valid_header = |(n, v): &(String, String)| {
                HeaderName::try_from(n.as_str()).is_ok() && HeaderValue::from_str(v).is_ok()
            };
            if StatusCode::from_u16(*status).is_err() || !headers.iter().all(valid_header) {
                return Err(PortalError::Override(format!("/{site}{target}")));
            }
        }
        lock(&self.shared.overrides).insert((site.to_string(), target.to_string()), answer);
        Ok(())
    }

    pub fn clear_overrides(&self) {
        lock(&self.shared.overrides).clear();
    }

    /// Totals since start or the last `reset_stats`.
    pub fn stats(&self) -> PortalStats {
        lock(&self.shared.record).stats.clone()
    }

    /// Zeroes the stats and empties the request log.
    pub fn reset_stats(&self) {
        *lock(&self.shared.record) = Record::default();
    }

    /// Requests in arrival order (the newest `LOG_CAPACITY` of them).
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.record).log.iter().cloned().collect()
    }

    /// Stops accepting, lets in-flight answers finish (delays and hangs are cut short with 503),
    /// and aborts whatever still runs after `SHUTDOWN_GRACE`.
    pub async fn shutdown(self) {
        _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
            .await
            .is_err()
        {
            tracing::warn!("portal server did not drain in time; aborting it");
            task.abort();
        }
    }
}

impl Shared {
    fn decide(
        &self,
        method: &Method,
        site: &str,
        target: &str,
        req: &HeaderMap,
        form: &[(String, String)],
    ) -> Answer {
        if method != Method::GET && method != Method::HEAD && method != Method::POST {
            return Answer::new(StatusCode::METHOD_NOT_ALLOWED)
                .header(header::ALLOW, "GET, HEAD, POST".into());
        }
        let mut delay = None;
        match lock(&self.overrides)
            .get(&(site.to_string(), target.to_string()))
            .cloned()
        {
            Some(Override::Hang) => {
                return Answer {
                    hang: true,
                    ..Answer::default()
                };
            }
            Some(Override::Respond {
                status,
                body,
                headers,
            }) => {
                // Both were validated by set_override; the fallbacks only keep this panic-free.
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let headers = headers
                    .into_iter()
                    .filter_map(|(n, v)| Some((HeaderName::try_from(n).ok()?, v)));
                return Answer {
                    headers: headers.collect(),
                    body,
                    ..Answer::new(status)
                };
            }
            Some(Override::Delay(d)) => delay = Some(d),
            Some(Override::Endless { content_type }) => {
                return Answer {
                    endless: true,
                    ..Answer::new(StatusCode::OK)
                }
                .header(header::CONTENT_TYPE, content_type);
            }
            None => {}
        }
        let snapshot = lock(&self.snapshot).clone();
        let mut answer = match snapshot.sites.get(site) {
            None => Answer::new(StatusCode::NOT_FOUND),
            Some(_) if target.is_empty() || target.starts_with('?') => {
                let location = format!("{BASE_MARKER}/{target}");
                Answer::new(StatusCode::MOVED_PERMANENTLY).header(header::LOCATION, location)
            }
            Some(routes) if method == Method::POST => match routes.post(target, form) {
                // A posted page is never conditional (browsers do not revalidate a POST).
                Some(route) => route_answer(route, &HeaderMap::new()),
                None if routes.posts_to(target) => Answer::new(StatusCode::BAD_REQUEST),
                None => Answer::new(StatusCode::METHOD_NOT_ALLOWED)
                    .header(header::ALLOW, "GET, HEAD".into()),
            },
            Some(routes) => match routes.get.get(target) {
                Some(route) => route_answer(route, req),
                None => Answer::new(StatusCode::NOT_FOUND),
            },
        };
        answer.delay = delay.unwrap_or(answer.delay);
        answer
    }

    /// Counts the answer before it is sent, so a client holding its response always sees it counted.
    fn record(&self, entry: LoggedRequest) {
        let mut record = lock(&self.record);
        let stats = &mut record.stats;
        stats.requests += 1;
        stats.body_bytes += entry.body_bytes;
        stats.not_modified += u64::from(entry.status == StatusCode::NOT_MODIFIED.as_u16());
        if entry.status != 0 {
            *stats.by_status.entry(entry.status).or_default() += 1;
        }
        if record.log.len() == LOG_CAPACITY {
            record.log.pop_front();
        }
        record.log.push_back(entry);
    }
}

fn route_answer(route: &Route, req: &HeaderMap) -> Answer {
    let (mut headers, delay) = (route.headers.clone(), route.delay);
    if route.status == StatusCode::OK && is_not_modified(route, req) {
        return Answer {
            headers,
            delay,
            ..Answer::new(StatusCode::NOT_MODIFIED)
        };
    }
    if let Some(content_type) = &route.content_type {
        headers.insert(0, (header::CONTENT_TYPE, content_type.clone()));
    }
    Answer {
        headers,
        body: route.body.clone(),
        delay,
        ..Answer::new(route.status)
    }
}

/// RFC 9110 §13.1.2/§13.1.3: If-None-Match decides alone when present; else If-Modified-Since.
fn is_not_modified(route: &Route, req: &HeaderMap) -> bool {
    let mut none_match = req.get_all(header::IF_NONE_MATCH).iter().peekable();
    if none_match.peek().is_some() {
        let etag = route.etag.as_deref();
        return none_match.any(|v| v.to_str().is_ok_and(|list| etag_list_matches(list, etag)));
    }
    let (Some(modified), Some(since)) = (route.modified, req.get(header::IF_MODIFIED_SINCE)) else {
        return false;
    };
    // An unparsable date is ignored, as RFC 9110 requires.
    since
        .to_str()
        .ok()
        .and_then(parse_http_date)
        .is_some_and(|since| since >= modified)
}

/// Weak comparison of an If-None-Match list against the route's entity tag; `*` matches any
/// existing representation. A malformed list matches nothing from the broken tag on.
fn etag_list_matches(list: &str, etag: Option<&str>) -> bool {
    let current = etag.map(|tag| tag.strip_prefix("W/").unwrap_or(tag));
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.starts_with('*') {
            return true;
        }
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        // Entity tags may contain commas, so a tag runs from its opening quote to the next one.
        let Some(end) = tag.strip_prefix('"').and_then(|t| t.find('"')) else {
            return false;
        };
        if current == Some(&tag[..end + 2]) {
            return true;
        }
        rest = &tag[end + 2..];
    }
}

/// Parses an HTTP-date: IMF-fixdate, plus the two obsolete forms RFC 9110 §5.6.7 still requires.
fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(at) = DateTime::parse_from_rfc2822(s) {
        return Some(at.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
        .map(|at| at.and_utc())
}

/// Byte-level replacement: bodies may be windows-1258, so they are never decoded.
fn replace_base(body: &Bytes, base: &[u8]) -> Bytes {
    let marker = BASE_MARKER.as_bytes();
    let find = |hay: &[u8]| hay.windows(marker.len()).position(|w| w == marker);
    let (mut out, mut rest) = (Vec::new(), &body[..]);
    while let Some(at) = find(rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(base);
        rest = &rest[at + marker.len()..];
    }
    if rest.len() == body.len() {
        return body.clone(); // no marker: share the snapshot's bytes instead of copying them
    }
    out.extend_from_slice(rest);
    Bytes::from(out)
}

/// Splits `/<site><target>`; the target keeps its query and is never decoded or reordered.
fn split_target(raw: &str) -> (&str, &str) {
    let trimmed = raw.strip_prefix('/').unwrap_or(raw);
    trimmed.split_at(trimmed.find(['/', '?']).unwrap_or(trimmed.len()))
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    req: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let raw = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let (site, target) = split_target(raw);
    // A form is read whatever its declared type: the routes say which fields must be there.
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let answer = shared.decide(&method, site, target, &req, &form);
    let base = format!("{}/{site}", shared.base_url);
    let body = replace_base(&answer.body, base.as_bytes());
    let head = method == Method::HEAD;
    let entry = LoggedRequest {
        site: site.to_string(),
        target: target.to_string(),
        form: if method == Method::POST {
            form
        } else {
            Vec::new()
        },
        method: method.to_string(),
        status: if answer.hang {
            0
        } else {
            answer.status.as_u16()
        },
        body_bytes: if head || answer.hang {
            0
        } else {
            body.len() as u64
        },
        at,
        user_agent: req
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into()),
        conditional: req.contains_key(header::IF_NONE_MATCH)
            || req.contains_key(header::IF_MODIFIED_SINCE),
    };
    tracing::debug!(url = raw, status = entry.status, "portal request");
    shared.record(entry);

    // Delays and hangs give way to shutdown, or a slow route would hold the graceful stop hostage.
    let mut stop = shared.stop.clone();
    let stopped = async move { _ = stop.wait_for(|stop| *stop).await };
    if answer.hang {
        stopped.await;
        return bodiless(StatusCode::SERVICE_UNAVAILABLE);
    }
    if !answer.delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(answer.delay) => {}
            () = stopped => return bodiless(StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    let mut response = bodiless(answer.status);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        match HeaderValue::from_str(&value.replace(BASE_MARKER, &base)) {
            Ok(value) => _ = headers.insert(name, value),
            Err(_) => tracing::warn!(url = raw, header = %name, "skipping invalid header value"),
        }
    }
    if answer.endless && !head {
        // 64 KiB of a page's worth of text, again and again, until the client hangs up.
        let chunk = Bytes::from("<p>Tin tức mới nhất của phường. </p>\n".repeat(1800));
        let stream =
            futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        *response.body_mut() = Body::from_stream(stream);
    } else if head {
        // HEAD announces the length GET would send.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    } else {
        *response.body_mut() = Body::from(body);
    }
    response
}

fn bodiless(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison_over_a_list() {
        let tag = Some("\"abc\"");
        assert!(etag_list_matches("\"abc\"", tag));
        assert!(etag_list_matches("W/\"abc\"", tag));
        assert!(etag_list_matches("\"x,y\", W/\"abc\"", tag));
        assert!(etag_list_matches("\"abc\"", Some("W/\"abc\"")));
        assert!(etag_list_matches("*", None));
        assert!(!etag_list_matches("\"abcd\", \"ab\"", tag));
        assert!(!etag_list_matches("abc", tag));
        assert!(!etag_list_matches("\"abc\"", None));
    }

    #[test]
    fn http_dates_parse_in_all_three_forms() {
        let at = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(at.is_some());
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), at);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), at);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn base_is_replaced_at_byte_level() {
        let body = Bytes::from_static(b"\xe2{{BASE}}/a {{BASE\x81{{BASE}}");
        let out = replace_base(&body, b"http://h/s");
        assert_eq!(&out[..], b"\xe2http://h/s/a {{BASE\x81http://h/s");
        let plain = Bytes::from_static(b"no marker");
        assert_eq!(replace_base(&plain, b"x").as_ptr(), plain.as_ptr());
    }
}
