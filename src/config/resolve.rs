//! Resolving the parsed file into a validated `Config`: defaults, templates and per-source
//! overrides merged, every value parsed, every mistake located.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use encoding_rs::Encoding;
use indexmap::IndexMap;
use toml_edit::Document;
use url::Url;

use super::file::{self, ConfigFile, SourceFile, TemplateFile};
use super::locate::{KeyPath, line_col, span_of};
use super::*;
use crate::extract::rules::{ArticleRules, ListingRules, RuleError, SiteRules};
use crate::model::SourceId;
use crate::normalize::{QueryFilter, fold_case, text::search_key};

pub(super) struct Context<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) doc: Document<String>,
}

/// Resolved settings a template contributes to the sources that use it.
struct ResolvedTemplate<'a> {
    file: &'a TemplateFile,
    rules: SiteRules,
}

impl Context<'_> {
    pub(super) fn error(
        &self,
        path: &KeyPath,
        want_key: bool,
        message: impl Into<String>,
    ) -> ConfigError {
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

    pub(super) fn resolve(&self, raw: ConfigFile) -> Result<Config, ConfigError> {
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
            max_crawl_delay: Duration::from_secs(
                defaults
                    .max_crawl_delay_secs
                    .unwrap_or(DEFAULT_MAX_CRAWL_DELAY_SECS),
            ),
            max_retry_after: Duration::from_secs(
                defaults
                    .max_retry_after_secs
                    .unwrap_or(DEFAULT_MAX_RETRY_AFTER_SECS),
            ),
        };
        if fetch.max_retry_after > Duration::from_secs(MAX_RETRY_AFTER_LIMIT_SECS) {
            return Err(self.error(
                &at_defaults.key("max_retry_after_secs"),
                false,
                format!("must be at most {MAX_RETRY_AFTER_LIMIT_SECS} (30 days)"),
            ));
        }
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

        let mut group_names = IndexMap::new();
        for (id, group) in &raw.groups {
            let at = root.key("groups").key(id);
            if !sources.iter().any(|s: &Arc<Source>| s.group == *id) {
                let mut used: Vec<&str> = sources.iter().map(|s| s.group.as_str()).collect();
                used.sort_unstable();
                used.dedup();
                return Err(self.error(
                    &at,
                    true,
                    format!(
                        "no source is in group {id:?} (sources name theirs with `group = \"…\"`; \
                         groups in use: {})",
                        list_or_none(&used)
                    ),
                ));
            }
            if group.name.trim().is_empty() {
                return Err(self.error(&at.key("name"), false, "empty name"));
            }
            group_names.insert(id.clone(), group.name.trim().to_owned());
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
            templates: templates
                .iter()
                .map(|(name, t)| (name.clone(), t.rules.clone()))
                .collect(),
            fetch,
            store: StoreSettings {
                cache_bytes: raw
                    .store
                    .cache_mb
                    .map_or(DEFAULT_CACHE_BYTES, |mb| mb.max(1) * 1024 * 1024),
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
                max_connections: raw
                    .server
                    .max_connections
                    .unwrap_or(DEFAULT_MAX_CONNECTIONS)
                    .max(1),
                header_timeout: Duration::from_secs(
                    raw.server
                        .header_timeout_secs
                        .unwrap_or(DEFAULT_HEADER_TIMEOUT_SECS)
                        .max(1),
                ),
                idle_timeout: Duration::from_secs(
                    raw.server
                        .idle_timeout_secs
                        .unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS)
                        .max(1),
                ),
                max_searches: raw
                    .server
                    .max_searches
                    .unwrap_or(DEFAULT_MAX_SEARCHES)
                    .max(1),
                publisher_in_titles: raw.server.publisher_in_titles.unwrap_or(true),
            },
            log,
            group_names,
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
