//! Configuration: one strict TOML file, validated when it loads.
//!
//! Every selector, regex, URL, cron expression, time zone, charset and date format is parsed
//! here, so a typo fails at start with `config.toml:42:10: sources.phucloi.listing.title: …`
//! instead of failing every scrape. Sources are grouped by config (`group = "longbien"`), never
//! by a built-in district/ward tree, and many sources can share one template of selectors.

pub mod env;
pub mod file;
pub mod locate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use encoding_rs::Encoding;
use indexmap::IndexMap;
use toml_edit::Document;
use url::Url;

use crate::extract::rules::{ArticleRules, ListingRules, RuleError, SiteRules};
use crate::model::SourceId;
use crate::normalize::{QueryFilter, fold_case, text::search_key};
use file::{ConfigFile, SourceFile, TemplateFile};
use locate::{KeyPath, PathSegment, line_col, span_of};

/// Every 30 minutes, at second 0 (the `cron` crate's 6-field form; 5-field crontab lines are
/// accepted too and run at second 0).
pub const DEFAULT_SCHEDULE: &str = "0 */30 * * * *";
pub const DEFAULT_TIMEOUT_SECS: u64 = 20;
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
pub const DEFAULT_MAX_REDIRECTS: usize = 5;
pub const DEFAULT_MAX_PAGES: u32 = 10;
pub const DEFAULT_JITTER_SECS: u64 = 30;
pub const DEFAULT_MIN_HOST_INTERVAL_MS: u64 = 1000;
pub const DEFAULT_RETRIES: u32 = 2;
pub const DEFAULT_QUIET_AFTER_DAYS: u32 = 14;
pub const DEFAULT_DROP_QUERY_PARAMS: &[&str] = &["utm_*", "fbclid", "gclid", "zarsrc"];
pub const DEFAULT_STORE_PATH: &str = "/var/lib/wardfeed";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_FEED_LIMIT: usize = 100;
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
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub fetch: FetchSettings,
    pub store: StoreSettings,
    pub server: ServerSettings,
    pub log: LogSettings,
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
    pub home: Url,
    pub enabled: bool,
    /// Forced page encoding, for portals that declare the wrong one.
    pub charset: Option<&'static Encoding>,
    pub timezone: Tz,
    pub schedule: cron::Schedule,
    pub timeout: Duration,
    pub fetch_articles: bool,
    pub max_pages: u32,
    pub query_filter: QueryFilter,
    pub quiet_after_days: u32,
    pub ignore_robots: bool,
    pub retention: Retention,
    pub rules: SiteRules,
    pub categories: Vec<Category>,
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
}

impl Config {
    pub fn source(&self, id: &str) -> Option<&Arc<Source>> {
        self.sources.iter().find(|s| s.id.as_str() == id)
    }
}

/// Reads and validates the configuration file; `lookup` resolves `${VAR}` (the process
/// environment in production, a closure in tests).
pub fn load(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut config = parse(&text, &path.display().to_string(), lookup)?;
    config.path = path.to_owned();
    Ok(config)
}

/// Validates configuration text; `file` names it in error messages.
pub fn parse(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let doc = Document::parse(text.to_owned()).map_err(|e| syntax_error(file, text, &e))?;
    let ctx = Context { file, text, doc };
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
    env::interpolate(&mut value, &KeyPath::root(), lookup)
        .map_err(|(path, message)| ctx.error(&path, false, message))?;
    let raw: ConfigFile = serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = KeyPath(
            e.path()
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
        let message = e.inner().message().to_owned();
        let unknown = unknown_field(&message);
        if let Some(field) = &unknown
            && path.0.last() != Some(&PathSegment::Key(field.clone()))
        {
            path = path.key(field);
        }
        ctx.error(&path, unknown.is_some(), message)
    })?;
    ctx.resolve(raw)
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

struct Context<'a> {
    file: &'a str,
    text: &'a str,
    doc: Document<String>,
}

/// Resolved settings a template contributes to the sources that use it.
struct ResolvedTemplate<'a> {
    file: &'a TemplateFile,
    rules: SiteRules,
}

impl Context<'_> {
    fn error(&self, path: &KeyPath, want_key: bool, message: impl Into<String>) -> ConfigError {
        let offset = span_of(&self.doc, path, want_key).map_or(0, |s| s.start);
        let (line, column) = line_col(self.text, offset);
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line,
            column,
            key: path.to_string(),
            message: message.into(),
        }
    }

    fn rule_error(&self, at: &KeyPath, (field, message): RuleError) -> ConfigError {
        let mut path = at.clone();
        for part in field.split('.') {
            match part.split_once('[') {
                Some((key, index)) => {
                    path = path.key(key);
                    if let Ok(i) = index.trim_end_matches(']').parse() {
                        path = path.index(i);
                    }
                }
                None => path = path.key(part),
            }
        }
        self.error(&path, false, message)
    }

    fn resolve(&self, raw: ConfigFile) -> Result<Config, ConfigError> {
        let root = KeyPath::root();
        let defaults = &raw.defaults;
        let at_defaults = root.key("defaults");

        let default_tz = match &defaults.timezone {
            Some(name) => parse_timezone(name)
                .map_err(|m| self.error(&at_defaults.key("timezone"), false, m))?,
            None => chrono_tz::Asia::Ho_Chi_Minh,
        };
        let default_schedule = defaults
            .schedule
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULE.to_owned());
        parse_schedule(&default_schedule)
            .map_err(|m| self.error(&at_defaults.key("schedule"), false, m))?;
        let fetch = FetchSettings {
            user_agent: defaults
                .user_agent
                .clone()
                .unwrap_or_else(default_user_agent),
            timeout: Duration::from_secs(defaults.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)),
            connect_timeout: Duration::from_secs(
                defaults
                    .connect_timeout_secs
                    .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS),
            ),
            max_body_bytes: defaults.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            max_redirects: defaults.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS),
            min_host_interval: Duration::from_millis(
                defaults
                    .min_host_interval_ms
                    .unwrap_or(DEFAULT_MIN_HOST_INTERVAL_MS),
            ),
            retries: defaults.retries.unwrap_or(DEFAULT_RETRIES),
            jitter: Duration::from_secs(defaults.jitter_secs.unwrap_or(DEFAULT_JITTER_SECS)),
        };
        for (key, zero) in [
            ("timeout_secs", fetch.timeout.is_zero()),
            ("connect_timeout_secs", fetch.connect_timeout.is_zero()),
            ("max_body_bytes", fetch.max_body_bytes == 0),
        ] {
            if zero {
                return Err(self.error(&at_defaults.key(key), false, "must be greater than 0"));
            }
        }
        if let Some(ua) = &defaults.user_agent
            && (ua.trim().is_empty() || !ua.bytes().all(|b| b == b' ' || (0x21..0x7f).contains(&b)))
        {
            return Err(self.error(
                &at_defaults.key("user_agent"),
                false,
                "must be printable ASCII (it is sent as an HTTP header)",
            ));
        }
        let default_drop: Vec<String> = defaults.drop_query_params.clone().unwrap_or_else(|| {
            DEFAULT_DROP_QUERY_PARAMS
                .iter()
                .map(|s| s.to_string())
                .collect()
        });

        let mut templates = IndexMap::new();
        for (name, template) in &raw.templates {
            let at = root.key("templates").key(name);
            if let Some(schedule) = &template.schedule {
                parse_schedule(schedule).map_err(|m| self.error(&at.key("schedule"), false, m))?;
            }
            if let Some(charset) = &template.charset {
                parse_charset(charset).map_err(|m| self.error(&at.key("charset"), false, m))?;
            }
            let rules = SiteRules {
                listing: ListingRules::compile(&template.listing)
                    .map_err(|e| self.rule_error(&at.key("listing"), e))?,
                article: ArticleRules::compile(&template.article)
                    .map_err(|e| self.rule_error(&at.key("article"), e))?,
            };
            templates.insert(
                name.clone(),
                ResolvedTemplate {
                    file: template,
                    rules,
                },
            );
        }

        if raw.sources.is_empty() {
            return Err(self.error(
                &root,
                false,
                "no sources configured: add a [sources.<id>] table",
            ));
        }
        let mut sources = Vec::new();
        for (id, source) in &raw.sources {
            let at = root.key("sources").key(id);
            let resolved = self.resolve_source(
                id,
                source,
                &at,
                &templates,
                default_tz,
                &default_schedule,
                &default_drop,
                &fetch,
                defaults,
            )?;
            sources.push(Arc::new(resolved));
        }

        let at_server = root.key("server");
        let listen = raw
            .server
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen.parse().map_err(|_| {
            self.error(
                &at_server.key("listen"),
                false,
                format!("invalid listen address {listen:?} (expected IP:PORT)"),
            )
        })?;
        let public_url = raw
            .server
            .public_url
            .as_deref()
            .map(|u| {
                parse_http_url(u).map_err(|m| self.error(&at_server.key("public_url"), false, m))
            })
            .transpose()?;
        let log = LogSettings {
            format: match raw.log.format.as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(self.error(
                        &root.key("log").key("format"),
                        false,
                        format!("unknown log format {other:?} (use \"text\" or \"json\")"),
                    ));
                }
            },
        };
        Ok(Config {
            path: PathBuf::new(),
            fetch,
            store: StoreSettings {
                cache_bytes: raw
                    .store
                    .cache_mb
                    .map_or(crate::store::DEFAULT_CACHE_BYTES, |mb| {
                        mb.max(1) * 1024 * 1024
                    }),
                path: PathBuf::from(
                    raw.store
                        .path
                        .unwrap_or_else(|| DEFAULT_STORE_PATH.to_owned()),
                ),
            },
            server: ServerSettings {
                listen,
                public_url,
                title: raw.server.title.unwrap_or_else(|| DEFAULT_TITLE.to_owned()),
                feed_limit: raw.server.feed_limit.unwrap_or(DEFAULT_FEED_LIMIT).max(1),
            },
            log,
            sources,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve_source(
        &self,
        id: &str,
        source: &SourceFile,
        at: &KeyPath,
        templates: &IndexMap<String, ResolvedTemplate<'_>>,
        default_tz: Tz,
        default_schedule: &str,
        default_drop: &[String],
        fetch: &FetchSettings,
        defaults: &file::DefaultsFile,
    ) -> Result<Source, ConfigError> {
        let source_id = SourceId::parse(id).map_err(|m| self.error(at, true, m))?;
        if RESERVED_IDS.contains(&id) {
            return Err(self.error(
                at,
                true,
                format!("source id {id:?} is reserved (it names a feed route); choose another"),
            ));
        }
        let template = match &source.template {
            None => None,
            Some(name) => Some(templates.get(name).ok_or_else(|| {
                let known: Vec<&str> = templates.keys().map(String::as_str).collect();
                self.error(
                    &at.key("template"),
                    false,
                    format!(
                        "unknown template {name:?} (defined: {})",
                        list_or_none(&known)
                    ),
                )
            })?),
        };
        if source.name.trim().is_empty() {
            return Err(self.error(&at.key("name"), false, "empty name"));
        }
        SourceId::parse(&source.group)
            .map_err(|m| self.error(&at.key("group"), false, m.replace("source id", "group")))?;
        let base =
            parse_http_url(&source.base).map_err(|m| self.error(&at.key("base"), false, m))?;
        let home = match &source.home {
            Some(home) => {
                join_base(&base, home).map_err(|m| self.error(&at.key("home"), false, m))?
            }
            None => join_base(&base, "/").map_err(|m| self.error(&at.key("base"), false, m))?,
        };
        let charset_text = source
            .charset
            .as_ref()
            .map(|c| (c, at.key("charset")))
            .or_else(|| {
                template.and_then(|t| t.file.charset.as_ref()).map(|c| {
                    (
                        c,
                        KeyPath::root()
                            .key("templates")
                            .key(source.template.as_deref().unwrap_or_default())
                            .key("charset"),
                    )
                })
            });
        let charset = charset_text
            .map(|(c, path)| parse_charset(c).map_err(|m| self.error(&path, false, m)))
            .transpose()?;
        let timezone = source
            .timezone
            .as_deref()
            .map(|tz| parse_timezone(tz).map_err(|m| self.error(&at.key("timezone"), false, m)))
            .transpose()?
            .unwrap_or(default_tz);
        let schedule_text = source
            .schedule
            .clone()
            .or_else(|| template.and_then(|t| t.file.schedule.clone()))
            .unwrap_or_else(|| default_schedule.to_owned());
        let schedule = parse_schedule(&schedule_text)
            .map_err(|m| self.error(&at.key("schedule"), false, m))?;

        let own_rules = SiteRules {
            listing: ListingRules::compile(&source.listing)
                .map_err(|e| self.rule_error(&at.key("listing"), e))?,
            article: ArticleRules::compile(&source.article)
                .map_err(|e| self.rule_error(&at.key("article"), e))?,
        };
        let rules = match template {
            Some(t) => SiteRules {
                listing: t.rules.listing.clone().overlay(own_rules.listing),
                article: t.rules.article.clone().overlay(own_rules.article),
            },
            None => own_rules,
        };

        let fetch_articles = source
            .fetch_articles
            .or_else(|| template.and_then(|t| t.file.fetch_articles))
            .or(defaults.fetch_articles)
            .unwrap_or(true);
        let max_pages = source
            .max_pages
            .or_else(|| template.and_then(|t| t.file.max_pages))
            .or(defaults.max_pages)
            .unwrap_or(DEFAULT_MAX_PAGES);
        if max_pages == 0 {
            return Err(self.error(&at.key("max_pages"), false, "must be at least 1"));
        }
        let mut drop: Vec<String> = default_drop.to_vec();
        drop.extend(
            template
                .and_then(|t| t.file.drop_query_params.clone())
                .unwrap_or_default(),
        );
        drop.extend(source.drop_query_params.clone().unwrap_or_default());

        if source.categories.is_empty() {
            return Err(self.error(
                at,
                false,
                "no categories: add [[sources.<id>.categories]] with a label and a listing or feed",
            ));
        }
        let mut categories: Vec<Category> = Vec::new();
        for (i, category) in source.categories.iter().enumerate() {
            let at_cat = at.key("categories").index(i);
            if category.label.trim().is_empty() {
                return Err(self.error(&at_cat.key("label"), false, "empty label"));
            }
            let slug = match &category.slug {
                Some(slug) => {
                    SourceId::parse(slug).map_err(|m| {
                        self.error(&at_cat.key("slug"), false, m.replace("source id", "slug"))
                    })?;
                    slug.clone()
                }
                None => slugify(&category.label),
            };
            if categories.iter().any(|c| c.slug == slug) {
                return Err(self.error(
                    &at_cat,
                    false,
                    format!("duplicate category slug {slug:?}"),
                ));
            }
            let kind = match (&category.listing, &category.feed) {
                (Some(listing), None) => CategoryKind::Listing(
                    join_base(&base, listing)
                        .map_err(|m| self.error(&at_cat.key("listing"), false, m))?,
                ),
                (None, Some(feed)) => CategoryKind::Feed(
                    join_base(&base, feed)
                        .map_err(|m| self.error(&at_cat.key("feed"), false, m))?,
                ),
                _ => {
                    return Err(self.error(
                        &at_cat,
                        false,
                        "set exactly one of `listing` (an HTML page) or `feed` (an RSS/Atom URL)",
                    ));
                }
            };
            categories.push(Category {
                slug,
                label: category.label.trim().to_owned(),
                kind,
            });
        }
        let template_hint = match &source.template {
            Some(name) => format!("set it in [sources.{id}.{{section}}] or in template {name:?}"),
            None => format!("set it in [sources.{id}.{{section}}] or use a template"),
        };
        if categories
            .iter()
            .any(|c| matches!(c.kind, CategoryKind::Listing(_)))
        {
            for (field, missing) in [
                ("item", rules.listing.item.is_none()),
                ("title", rules.listing.title.is_none() && !fetch_articles),
            ] {
                if missing {
                    return Err(self.error(
                        at,
                        false,
                        format!(
                            "no listing.{field} selector: {}",
                            template_hint.replace("{section}", "listing")
                        ),
                    ));
                }
            }
        }
        if fetch_articles && rules.article.body.is_none() {
            return Err(self.error(at, false, format!(
                "fetch_articles is on but there is no article.body selector: {}, or set fetch_articles = false",
                template_hint.replace("{section}", "article")
            )));
        }
        let timeout = source
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(fetch.timeout);
        if timeout.is_zero() {
            return Err(self.error(&at.key("timeout_secs"), false, "must be greater than 0"));
        }
        Ok(Source {
            id: source_id,
            name: source.name.trim().to_owned(),
            group: source.group.clone(),
            base,
            home,
            enabled: source.enabled.unwrap_or(true),
            charset,
            timezone,
            schedule,
            timeout,
            fetch_articles,
            max_pages,
            query_filter: QueryFilter::new(&drop),
            quiet_after_days: source
                .quiet_after_days
                .or(defaults.quiet_after_days)
                .unwrap_or(DEFAULT_QUIET_AFTER_DAYS),
            ignore_robots: source.ignore_robots.unwrap_or(false),
            retention: Retention {
                max_items: source.retention.max_items,
                max_age_days: source.retention.max_age_days,
            },
            rules,
            categories,
        })
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    Tz::from_str(name).map_err(|_| {
        format!("unknown time zone {name:?} (use an IANA name such as \"Asia/Ho_Chi_Minh\")")
    })
}

/// Parses a cron expression; a 5-field crontab line gets a leading seconds field of 0.
pub fn parse_schedule(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_owned()
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

pub fn parse_charset(label: &str) -> Result<&'static Encoding, String> {
    Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| format!("unknown charset {label:?}"))
}

fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(format!(
            "invalid URL {text:?}: only http and https URLs are fetched"
        )),
    }
}

/// A listing or feed location: an absolute URL as written, or a path appended to the source's
/// `base` (which may itself contain a path, as a portal deployed under a prefix does).
pub fn join_base(base: &Url, location: &str) -> Result<Url, String> {
    let location = location.trim();
    if location.contains("://") {
        return parse_http_url(location);
    }
    let prefix = base.as_str().trim_end_matches('/');
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        format!("/{location}")
    };
    parse_http_url(&format!("{prefix}{path}"))
}

/// A URL slug from a label: "Tin tức - Sự kiện" becomes "tin-tuc-su-kien".
pub fn slugify(label: &str) -> String {
    let key = search_key(&fold_case(label));
    let mut slug = String::new();
    for ch in key.chars() {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests;
