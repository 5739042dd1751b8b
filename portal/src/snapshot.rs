//! Snapshot loading: each site's `routes.json` parsed and validated, and the files it names read
//! once, from a fixture folder on disk or from embedded `(path, bytes)` pairs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{PortalError, parse_http_date};

/// One object of a `routes.json` array, as the fixture generator writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    path: String,
    file: Option<String>,
    status: u16,
    content_type: Option<String>,
    #[serde(default)]
    delay_ms: u64,
    etag: Option<String>,
    last_modified: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// "GET" (the default; HEAD too) or "POST".
    method: Option<String>,
    /// A POST route answers only a form that holds every one of these fields with this value.
    #[serde(default)]
    form: BTreeMap<String, String>,
}

/// A validated route. Header values still hold `{{BASE}}`: the port is unknown at load.
#[derive(Debug)]
pub(super) struct Route {
    pub(super) status: StatusCode,
    pub(super) body: Bytes,
    pub(super) delay: Duration,
    pub(super) content_type: Option<String>,
    pub(super) etag: Option<String>,
    pub(super) modified: Option<DateTime<Utc>>,
    /// ETag, Last-Modified, then the route's own `headers`, which win on a clash.
    pub(super) headers: Vec<(HeaderName, String)>,
}

/// A route answering POSTs: its path and the form fields a request must carry.
#[derive(Debug)]
pub(super) struct PostRoute {
    pub(super) path: String,
    pub(super) form: BTreeMap<String, String>,
    pub(super) route: Route,
}

/// One site's routes: GET (and HEAD) by raw path-and-query, POSTs in routes.json order.
#[derive(Debug, Default)]
pub(super) struct SiteRoutes {
    pub(super) get: HashMap<String, Route>,
    pub(super) post: Vec<PostRoute>,
}

impl SiteRoutes {
    /// The first POST route of `path` whose every field `form` holds with the same value.
    pub(super) fn post(&self, path: &str, form: &[(String, String)]) -> Option<&Route> {
        let holds =
            |(name, value): (&String, &String)| form.iter().any(|(n, v)| n == name && v == value);
        self.post
            .iter()
            .find(|p| p.path == path && p.form.iter().all(holds))
            .map(|p| &p.route)
    }

    /// Whether some POST route has this path (a form that matches none is then a bad request).
    pub(super) fn posts_to(&self, path: &str) -> bool {
        self.post.iter().any(|p| p.path == path)
    }
}

/// Every site of one snapshot, keyed by site name.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(super) sites: Arc<BTreeMap<String, SiteRoutes>>,
}

impl Snapshot {
    /// Loads `<dir>/<site>/routes.json` for every site folder, reading all files eagerly (a few MB).
    pub fn load_dir(dir: &Path) -> Result<Snapshot, PortalError> {
        let read_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PortalError::Read { path, source }
        };
        let mut sites = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
            let site_dir = entry.map_err(read_error(dir))?.path();
            let name = site_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name.filter(|n| site_dir.is_dir() && !n.starts_with('.')) else {
                continue;
            };
            let routes_path = site_dir.join("routes.json");
            let json = std::fs::read(&routes_path).map_err(read_error(&routes_path))?;
            let routes = parse_site(&name, &routes_path, &json, |file| {
                let path = site_dir.join(file);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(PortalError::Read { path, source }),
                }
            })?;
            sites.insert(name, routes);
        }
        Snapshot::from_sites(dir, sites)
    }

    /// Builds a snapshot from `(relative path, bytes)` pairs such as `("phucloi/routes.json", ..)`,
    /// so a binary can embed the fixture world instead of reading it from disk.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, Bytes)>,
    ) -> Result<Snapshot, PortalError> {
        let files: HashMap<String, Bytes> = files.into_iter().collect();
        let mut sites = BTreeMap::new();
        for (path, json) in &files {
            if let Some((site, "routes.json")) = path.split_once('/') {
                let read = |file: &str| Ok(files.get(&format!("{site}/{file}")).cloned());
                sites.insert(
                    site.to_string(),
                    parse_site(site, Path::new(path), json, read)?,
                );
            }
        }
        Snapshot::from_sites(Path::new("<embedded snapshot>"), sites)
    }

    fn from_sites(
        origin: &Path,
        sites: BTreeMap<String, SiteRoutes>,
    ) -> Result<Snapshot, PortalError> {
        if sites.is_empty() {
            return Err(load_error(origin, "no site folder with a routes.json"));
        }
        Ok(Snapshot {
            sites: Arc::new(sites),
        })
    }

    pub fn sites(&self) -> Vec<String> {
        self.sites.keys().cloned().collect()
    }
}

/// Parses and validates one site's routes; `read` returns `None` for a file that does not exist.
fn parse_site(
    site: &str,
    path: &Path,
    json: &[u8],
    mut read: impl FnMut(&str) -> Result<Option<Bytes>, PortalError>,
) -> Result<SiteRoutes, PortalError> {
    // The name becomes a URL prefix verbatim, so it must need no escaping.
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if site.is_empty() || site.starts_with('.') || !site.chars().all(plain) {
        let reason = format!("site name {site:?} is not a plain URL path segment");
        return Err(load_error(path, reason));
    }
    let specs: Vec<RouteSpec> =
        serde_json::from_slice(json).map_err(|source| PortalError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
    // Routes share files (the utm_ and sid variants of an article), so each is read once.
    let mut bodies: HashMap<String, Bytes> = HashMap::new();
    let mut routes = SiteRoutes::default();
    for spec in specs {
        let route = spec.path.clone();
        let bad = |reason: String| PortalError::Route {
            path: path.to_path_buf(),
            route: route.clone(),
            reason,
        };
        let status = StatusCode::from_u16(spec.status)
            .map_err(|_| bad(format!("invalid status {}", spec.status)))?;
        if !spec.path.starts_with('/') {
            return Err(bad("path must start with '/'".into()));
        }
        let modified = match &spec.last_modified {
            Some(raw) => Some(
                parse_http_date(raw)
                    .ok_or_else(|| bad(format!("last_modified {raw:?} is not an HTTP date")))?,
            ),
            None => None,
        };
        let validators = [
            (header::ETAG, &spec.etag),
            (header::LAST_MODIFIED, &spec.last_modified),
        ];
        let mut headers: Vec<_> = validators
            .into_iter()
            .filter_map(|(n, v)| Some((n, v.clone()?)))
            .collect();
        for (name, value) in &spec.headers {
            let name = HeaderName::try_from(name)
                .map_err(|_| bad(format!("invalid header name {name:?}")))?;
            headers.push((name, value.clone()));
        }
        let mut values = headers.iter().map(|(_, v)| v).chain(&spec.content_type);
        if let Some(value) = values.find(|v| HeaderValue::from_str(v).is_err()) {
            return Err(bad(format!("invalid header value {value:?}")));
        }
        let post = match spec.method.as_deref() {
            None | Some("GET") if spec.form.is_empty() => false,
            Some("POST") => true,
            _ => {
                return Err(bad(
                    "method must be GET or POST; only a POST has a form".into()
                ));
            }
        };
        let body = match spec.file {
            None => Bytes::new(),
            Some(file) if !is_inside(&file) => {
                return Err(bad(format!(
                    "file {file:?} is not a relative path inside the site"
                )));
            }
            Some(file) => match bodies.get(&file) {
                Some(body) => body.clone(),
                None => {
                    let (path, file_path) = (path.to_path_buf(), path.with_file_name(&file));
                    let missing = || PortalError::MissingFile {
                        path,
                        route,
                        file: file_path,
                    };
                    let body = read(&file)?.ok_or_else(missing)?;
                    bodies.insert(file, body.clone());
                    body
                }
            },
        };
        let delay = Duration::from_millis(spec.delay_ms);
        let (content_type, etag) = (spec.content_type, spec.etag);
        let route = Route {
            status,
            body,
            delay,
            content_type,
            etag,
            modified,
            headers,
        };
        if post {
            routes.post.push(PostRoute {
                path: spec.path,
                form: spec.form,
                route,
            });
        } else if routes.get.insert(spec.path, route).is_some() {
            return Err(load_error(path, "a route path is listed twice"));
        }
    }
    Ok(routes)
}

fn load_error(path: &Path, reason: impl Into<String>) -> PortalError {
    PortalError::Load {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Refuses `..` and absolute paths so a routes.json cannot make `load_dir` read outside its tree.
fn is_inside(file: &str) -> bool {
    Path::new(file)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
}
