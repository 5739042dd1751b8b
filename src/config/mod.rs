//! Configuration: one strict TOML file, validated when it loads.
//!
//! Every selector, regex, URL, cron expression, time zone, charset and date format is checked
//! here (selectors and patterns by the checker the caller hands in, `extract::check_rules`), so
//! a typo fails at start with `config.toml:42:10: sources.phucloi.listing.title: …` instead of
//! failing every scrape. Sources are grouped by config (`group = "longbien"`), never
//! by a built-in district/ward tree, and many sources can share one template of selectors.

pub mod env;
pub mod file;
pub mod locate;
mod resolve;
pub mod rules;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use toml_edit::Document;
use url::Url;

use crate::model::SourceId;
use crate::normalize::QueryFilter;
use file::ConfigFile;
use locate::{KeyPath, PathSegment, line_col};

pub use resolve::{join_base, parse_charset, parse_schedule, parse_timezone, slugify};
pub use rules::{RuleCheck, RuleError, RuleSpecs, Rules};

/// Every 30 minutes, at second 0 (the `cron` crate's 6-field form; 5-field crontab lines are
/// accepted too and run at second 0).
pub const DEFAULT_SCHEDULE: &str = "0 */30 * * * *";
pub const DEFAULT_TIMEOUT_SECS: u64 = 20;
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
pub const DEFAULT_MAX_REDIRECTS: usize = 5;
pub const DEFAULT_MAX_PAGES: u32 = 10;
/// Refreshes running at once, in all and on one host (see `FetchSettings::max_refreshes`).
pub const DEFAULT_MAX_REFRESHES: usize = 64;
pub const DEFAULT_MAX_REFRESHES_PER_HOST: usize = 2;
pub const DEFAULT_JITTER_SECS: u64 = 30;
pub const DEFAULT_MIN_HOST_INTERVAL_MS: u64 = 1000;
pub const DEFAULT_RETRIES: u32 = 2;
pub const DEFAULT_MAX_CRAWL_DELAY_SECS: u64 = 30;
/// The longest a portal's `Retry-After` may keep a source waiting: a day, the longest back-off.
pub const DEFAULT_MAX_RETRY_AFTER_SECS: u64 = 24 * 3600;
/// The most `max_retry_after_secs` may be set to: longer waits are a source switched off.
pub const MAX_RETRY_AFTER_LIMIT_SECS: u64 = 30 * 24 * 3600;
pub const DEFAULT_QUIET_AFTER_DAYS: u32 = 14;
pub const DEFAULT_DROP_QUERY_PARAMS: &[&str] = &["utm_*", "fbclid", "gclid", "zarsrc"];
pub const DEFAULT_STORE_PATH: &str = "/var/lib/wardfeed";
/// The store's page cache unless `[store] cache_mb` says otherwise. Feeds are served from
/// rendered bytes, and what the cache misses the OS's page cache holds: 10,000 sources
/// rendered as fast with 16 MiB as with 128, which held ~110 MiB more (BENCHMARKS.md, "The
/// store on redb").
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_FEED_LIMIT: usize = 100;
pub const DEFAULT_MAX_CONNECTIONS: usize = 20_000;
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_MAX_SEARCHES: usize = 4;
pub const DEFAULT_TITLE: &str = "wardfeed";
/// Names the feed routes use for themselves (`/feeds/all.rss`, `/feeds/group/…`).
pub const RESERVED_IDS: &[&str] = &["all", "incidents", "group"];

/// The User-Agent every request carries: who we are and where to read about us.
pub fn default_user_agent() -> String {
    format!(
        "wardfeed/{} (+https://github.com/wardfeed/wardfeed; news feeds for ward portals)",
        env!("CARGO_PKG_VERSION")
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
    /// Every mistake of one file, in file order (`check` reports them all in one run).
    #[error("{}", list(.0))]
    Many(Vec<ConfigError>),
}

fn list(errors: &[ConfigError]) -> String {
    let file = errors.iter().find_map(|e| match e {
        ConfigError::Invalid { file, .. } => Some(file.as_str()),
        _ => None,
    });
    let mut out = format!(
        "{} errors in {}:",
        errors.len(),
        file.unwrap_or("the configuration")
    );
    for error in errors {
        out.push('\n');
        out.push_str(&error.to_string());
    }
    out
}

impl ConfigError {
    /// One error, or all of them in file order.
    pub(crate) fn from_list(mut errors: Vec<ConfigError>) -> ConfigError {
        errors.sort_by_key(|e| match e {
            ConfigError::Invalid { line, column, .. } => (*line, *column),
            _ => (0, 0),
        });
        errors.dedup_by(|a, b| a.to_string() == b.to_string());
        if errors.len() == 1 {
            return errors.remove(0);
        }
        ConfigError::Many(errors)
    }

    /// How many mistakes this reports.
    pub fn count(&self) -> usize {
        match self {
            ConfigError::Many(errors) => errors.len(),
            _ => 1,
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// Templates' rules by name (for probing a page with a template).
    pub templates: indexmap::IndexMap<String, Arc<Rules>>,
    pub fetch: FetchSettings,
    pub store: StoreSettings,
    pub server: ServerSettings,
    pub log: LogSettings,
    /// Display names of groups, by group id, for those `[groups.ID]` names.
    pub group_names: indexmap::IndexMap<String, String>,
    pub sources: Vec<Arc<Source>>,
}

#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub user_agent: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Least time between two requests to one host.
    pub min_host_interval: Duration,
    /// Retries of a failed fetch within one run, with exponential backoff.
    pub retries: u32,
    /// Upper bound of the random delay added to each scheduled run.
    pub jitter: Duration,
    /// The longest robots.txt Crawl-delay honoured; a site asking more gets this.
    pub max_crawl_delay: Duration,
    /// The longest `Retry-After` honoured; a server asking more gets this (and a warning).
    pub max_retry_after: Duration,
    /// Refreshes running at once: every refresh holds its pages and items until it is
    /// stored, so this bounds the memory a cycle over thousands of sources takes.
    pub max_refreshes: usize,
    /// Refreshes running at once on one host (its `base`'s): the host's requests go one at a
    /// time anyway, so more would only wait holding pages.
    pub max_refreshes_per_host: usize,
}

impl Default for FetchSettings {
    fn default() -> FetchSettings {
        FetchSettings {
            user_agent: default_user_agent(),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            connect_timeout: Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            min_host_interval: Duration::from_millis(DEFAULT_MIN_HOST_INTERVAL_MS),
            retries: DEFAULT_RETRIES,
            jitter: Duration::from_secs(DEFAULT_JITTER_SECS),
            max_crawl_delay: Duration::from_secs(DEFAULT_MAX_CRAWL_DELAY_SECS),
            max_retry_after: Duration::from_secs(DEFAULT_MAX_RETRY_AFTER_SECS),
            max_refreshes: DEFAULT_MAX_REFRESHES,
            max_refreshes_per_host: DEFAULT_MAX_REFRESHES_PER_HOST,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: PathBuf,
    /// The store's page cache, in bytes.
    pub cache_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// The URL readers reach us at, for self links; defaults to `http://{listen}`.
    pub public_url: Option<Url>,
    pub title: String,
    pub feed_limit: usize,
    /// Connections served at once; more are closed on arrival.
    pub max_connections: usize,
    /// How long a client may take to send a request head (slow clients are cut off).
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection is kept.
    pub idle_timeout: Duration,
    /// How long a response may wait for a client that takes none of its bytes before the
    /// connection is closed (a reader that never reads is not held forever).
    pub write_timeout: Duration,
    /// Filtered (`q`, `since`, `limit`) renders at once; more wait their turn.
    pub max_searches: usize,
    /// In feeds that mix sources (combined and group feeds), entry titles start with their
    /// publisher's name; never in a source's own feeds.
    pub publisher_in_titles: bool,
    /// `/metrics` series per source (a `source` label on the fetch and refresh families, and
    /// the `wardfeed_source_*` gauges): about 40 series and 8 KB of memory a source, so
    /// opt-in; without it the same families are totals over all sources.
    pub per_source_metrics: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// One configured source (a ward or district portal) with its rules resolved.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: SourceId,
    pub name: String,
    pub group: String,
    pub base: Url,
    /// Bases the portal had before it moved (`previous_bases`), parsed: an item stored under
    /// one of them is the item found at the same place under `base`.
    pub previous_bases: Vec<Url>,
    /// The source that took this one over (`merged_into`): checked to name a configured
    /// source and never to lead back to this one.
    pub merged_into: Option<SourceId>,
    pub home: Url,
    pub enabled: bool,
    /// Forced encoding of pages and feeds, for portals that declare the wrong one.
    pub charset: Option<crate::charset::Charset>,
    pub timezone: Tz,
    pub schedule: cron::Schedule,
    pub timeout: Duration,
    pub fetch_articles: bool,
    pub max_pages: u32,
    pub query_filter: QueryFilter,
    pub quiet_after_days: u32,
    pub ignore_robots: bool,
    pub retention: Retention,
    /// Its rules over its template's: its template's own `Arc` when it sets none itself.
    pub rules: Arc<Rules>,
    pub categories: Vec<Category>,
}

impl Source {
    /// Where an item found at `location` (a URL, or an identity that starts with one) may
    /// have been stored before: the same place under the other scheme (http and https are
    /// always the same site), and under each of `previous_bases` (either scheme).
    pub fn earlier_locations(&self, location: &str) -> Vec<String> {
        fn other_scheme(url: &str) -> Option<String> {
            url.strip_prefix("https://")
                .map(|rest| format!("http://{rest}"))
                .or_else(|| {
                    url.strip_prefix("http://")
                        .map(|rest| format!("https://{rest}"))
                })
        }
        let prefix = |url: &Url| url.as_str().trim_end_matches('/').to_owned();
        let mut found: Vec<String> = other_scheme(location).into_iter().collect();
        let current = prefix(&self.base);
        let olds: Vec<String> = self
            .previous_bases
            .iter()
            .map(prefix)
            .flat_map(|old| other_scheme(&old).into_iter().chain(std::iter::once(old)))
            .collect();
        for here in other_scheme(&current)
            .into_iter()
            .chain(std::iter::once(current.clone()))
        {
            let Some(rest) = location.strip_prefix(&here) else {
                continue;
            };
            if !(rest.is_empty() || rest.starts_with(['/', '?', '#'])) {
                continue;
            }
            found.extend(olds.iter().map(|old| format!("{old}{rest}")));
        }
        found.retain(|l| l != location);
        found.dedup();
        found
    }

    /// Whether `url` is on one of the sites this source fetches from: the origin (scheme, host
    /// and port) of its base, its home page or one of its listings and feeds. Links, redirects
    /// and next pages anywhere else are not followed.
    pub fn may_fetch(&self, url: &Url) -> bool {
        let origin = url.origin();
        std::iter::once(&self.base)
            .chain(std::iter::once(&self.home))
            .chain(self.categories.iter().map(|c| c.kind.url()))
            .any(|allowed| allowed.origin() == origin)
    }
}

/// How much of a source's history the store keeps; `None` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_items: Option<usize>,
    pub max_age_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub slug: String,
    pub label: String,
    pub kind: CategoryKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CategoryKind {
    /// First page of an HTML listing.
    Listing(Url),
    /// The source's own RSS or Atom feed.
    Feed(Url),
    /// A JSON endpoint listing the items (the first page); articles are HTML pages.
    JsonListing(Url),
}

impl CategoryKind {
    /// The first URL fetched for the category.
    pub fn url(&self) -> &Url {
        match self {
            CategoryKind::Listing(url)
            | CategoryKind::Feed(url)
            | CategoryKind::JsonListing(url) => url,
        }
    }
}

impl Config {
    pub fn source(&self, id: &str) -> Option<&Arc<Source>> {
        self.sources.iter().find(|s| s.id.as_str() == id)
    }

    /// The source whose feeds now carry `id`'s history: the end of its `merged_into` chain
    /// (`None` for a source not merged). The chain is checked at load to end.
    pub fn merged_target(&self, id: &SourceId) -> Option<&Arc<Source>> {
        let mut target = None;
        let mut at = self.source(id.as_str())?;
        // A loaded configuration has no cycle; the bound only keeps a hand-built one finite.
        for _ in 0..self.sources.len() {
            let Some(next) = at
                .merged_into
                .as_ref()
                .and_then(|n| self.source(n.as_str()))
            else {
                break;
            };
            target = Some(next);
            at = next;
        }
        target
    }

    /// The sources merged into `id` (directly or along a chain), in configuration order.
    pub fn merged_sources(&self, id: &SourceId) -> Vec<&Arc<Source>> {
        self.sources
            .iter()
            .filter(|s| s.merged_into.is_some())
            .filter(|s| self.merged_target(&s.id).is_some_and(|t| t.id == *id))
            .collect()
    }

    /// What people call a group: its `[groups.ID] name`, else its id.
    pub fn group_name<'a>(&'a self, group: &'a str) -> &'a str {
        self.group_names.get(group).map_or(group, String::as_str)
    }

    /// A throwaway source that reads `url` as a listing page with template `name`'s rules:
    /// for trying a template on a new ward's page before writing a source for it.
    pub fn probe_source(&self, name: &str, url: &Url) -> Result<Source, String> {
        let rules = self.templates.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.templates.keys().map(String::as_str).collect();
            format!("no template {name:?} (defined: {})", known.join(", "))
        })?;
        let mut base = url.clone();
        base.set_path("");
        base.set_query(None);
        base.set_fragment(None);
        Ok(Source {
            id: SourceId::parse("probe").map_err(|e| e.to_string())?,
            name: format!("probe of {url}"),
            group: "probe".to_owned(),
            home: base.clone(),
            base,
            previous_bases: Vec::new(),
            merged_into: None,
            enabled: true,
            charset: None,
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
            schedule: parse_schedule(DEFAULT_SCHEDULE)?,
            timeout: self.fetch.timeout,
            fetch_articles: rules.any(|r| r.article.body.is_some()),
            max_pages: 1,
            query_filter: QueryFilter::new(DEFAULT_DROP_QUERY_PARAMS),
            quiet_after_days: DEFAULT_QUIET_AFTER_DAYS,
            ignore_robots: false,
            retention: Retention::default(),
            rules: Arc::clone(rules),
            categories: vec![Category {
                slug: "probe".to_owned(),
                label: "probe".to_owned(),
                kind: CategoryKind::Listing(url.clone()),
            }],
        })
    }
}

/// Reads and validates the configuration file; `lookup` resolves `${VAR}` (the process
/// environment in production, a closure in tests); `check` checks extraction rules
/// (`extract::check_rules`).
pub fn load(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    check: RuleCheck,
) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut config = parse(&text, &path.display().to_string(), lookup, check)?;
    config.path = path.to_owned();
    Ok(config)
}

/// Validates configuration text; `file` names it in error messages.
pub fn parse(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    check: RuleCheck,
) -> Result<Config, ConfigError> {
    let doc = Document::parse(text.to_owned()).map_err(|e| syntax_error(file, text, &e))?;
    let ctx = resolve::Context {
        file,
        text,
        doc,
        check,
        errors: Default::default(),
        settled: Default::default(),
    };
    let mut value: toml::Value = toml::from_str(text).map_err(|e| {
        let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
        ConfigError::Invalid {
            file: file.to_owned(),
            line,
            column,
            key: "(syntax)".into(),
            message: e.message().to_owned(),
        }
    })?;
    let mut unset = Vec::new();
    env::interpolate(&mut value, &KeyPath::root(), lookup, &mut unset);
    for (path, message) in unset {
        ctx.report(ctx.error(&path, false, message));
        // What the value would have been is unknown: nothing more is said about it.
        ctx.settle(&path);
    }
    match deserialize_all(&ctx, value) {
        Some(raw) => ctx.resolve(raw),
        None => Err(ConfigError::from_list(ctx.errors.take())),
    }
}

/// The file's tables, with every mistake serde finds reported: each unknown key or wrong value
/// is reported and taken out (a missing one stood in for), and reading starts again, so that
/// one run names them all. `None` when reading cannot go on.
fn deserialize_all(ctx: &resolve::Context<'_>, mut value: toml::Value) -> Option<ConfigFile> {
    let mut stood_in: Vec<KeyPath> = Vec::new();
    // Each round takes a key out or stands one in; a file has fewer keys than this.
    for _ in 0..10_000 {
        let error = match serde_path_to_error::deserialize::<_, ConfigFile>(value.clone()) {
            Ok(raw) => return Some(raw),
            Err(error) => error,
        };
        let mut path = KeyPath(
            error
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => {
                        Some(PathSegment::Key(key.clone()))
                    }
                    serde_path_to_error::Segment::Seq { index } => Some(PathSegment::Index(*index)),
                    _ => None,
                })
                .collect(),
        );
        let message = error.inner().message().to_owned();
        if let Some(field) = unknown_field(&message) {
            if path.0.last() != Some(&PathSegment::Key(field.clone())) {
                path = path.key(&field);
            }
            ctx.report(ctx.error(&path, true, unknown_key_message(&field, &message)));
            if !remove(&mut value, &path) {
                return None;
            }
        } else if let Some(field) = missing_field(&message) {
            let at = path.key(&field);
            if stood_in.contains(&at) {
                return None;
            }
            // Reported where the table is, unless its wrong value was reported already.
            if !ctx.is_settled(&at) {
                ctx.report(ctx.error(&path, false, message));
                ctx.settle(&at);
            }
            if !insert(&mut value, &at, toml::Value::String(String::new())) {
                return None;
            }
            stood_in.push(at);
        } else {
            ctx.report(ctx.error(&path, false, message));
            ctx.settle(&path);
            if path.0.is_empty() || !remove(&mut value, &path) {
                return None;
            }
        }
    }
    None
}

/// The table or array that holds the last step of `path`.
fn parent_of<'v>(value: &'v mut toml::Value, path: &KeyPath) -> Option<&'v mut toml::Value> {
    let (_, parents) = path.0.split_last()?;
    let mut node = value;
    for segment in parents {
        node = match (segment, node) {
            (PathSegment::Key(key), toml::Value::Table(table)) => table.get_mut(key)?,
            (PathSegment::Index(i), toml::Value::Array(array)) => array.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Takes the value at `path` out; whether there was one.
fn remove(value: &mut toml::Value, path: &KeyPath) -> bool {
    match (path.0.last(), parent_of(value, path)) {
        (Some(PathSegment::Key(key)), Some(toml::Value::Table(table))) => {
            table.remove(key).is_some()
        }
        (Some(PathSegment::Index(i)), Some(toml::Value::Array(array))) if *i < array.len() => {
            array.remove(*i);
            true
        }
        _ => false,
    }
}

/// Puts `new` at `path` (a key of an existing table); whether it could.
fn insert(value: &mut toml::Value, path: &KeyPath, new: toml::Value) -> bool {
    match (path.0.last(), parent_of(value, path)) {
        (Some(PathSegment::Key(key)), Some(toml::Value::Table(table))) => {
            table.insert(key.clone(), new);
            true
        }
        _ => false,
    }
}

/// The field name in serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// "unknown field `drop_query_parms`: did you mean `drop_query_params`?", from serde's message
/// listing the expected fields; serde's own words when none is close.
fn unknown_key_message(field: &str, message: &str) -> String {
    let expected: Vec<&str> = message
        .split_once("expected")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    let closest = expected
        .iter()
        .map(|known| (strsim::damerau_levenshtein(field, known), *known))
        .filter(|(distance, known)| *distance <= (known.len().max(field.len()) / 3).max(1))
        .min();
    match closest {
        Some((_, known)) => format!("unknown field `{field}`: did you mean `{known}`?"),
        None => message.to_owned(),
    }
}

/// The field name in serde's "unknown field `x`, expected …" message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

fn syntax_error(file: &str, text: &str, error: &toml_edit::TomlError) -> ConfigError {
    let offset = error.span().map_or(0, |s| s.start);
    let (line, column) = line_col(text, offset);
    ConfigError::Invalid {
        file: file.to_owned(),
        line,
        column,
        key: enclosing_key(text, offset),
        message: error.message().trim().to_owned(),
    }
}

/// Best guess at the key a syntax error sits in: the last `[table]` header before it, plus the
/// key on the error's line.
fn enclosing_key(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = &text[line_start..line_end];
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let key = line.split_once('=').map(|(k, _)| k.trim().to_owned());
    match (table, key) {
        (Some(t), Some(k)) if !line.trim_start().starts_with('[') => format!("{t}.{k}"),
        (Some(t), _) => t,
        (None, Some(k)) => k,
        (None, None) => "(syntax)".to_owned(),
    }
}
