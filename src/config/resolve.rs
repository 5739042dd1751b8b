//! Resolving the parsed file into a validated `Config`: defaults, templates and per-source
//! overrides merged, every value parsed, every mistake located.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::charset::Charset;
use chrono_tz::Tz;
use indexmap::IndexMap;
use toml_edit::Document;
use url::Url;

use super::file::{self, ConfigFile, SourceFile, TemplateFile};
use super::locate::{KeyPath, line_col, span_of};
use super::rules::{RuleCheck, RuleError, RuleSpecs, Rules};
use super::*;
use crate::model::SourceId;
use crate::normalize::{QueryFilter, fold_case, text::search_key};

pub(super) struct Context<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) doc: Document<String>,
    /// Checks extraction rules (handed in: config names no later stage).
    pub(super) check: RuleCheck,
    /// Every mistake found so far: checking goes on past each one, so one run reports all.
    pub(super) errors: std::cell::RefCell<Vec<ConfigError>>,
    /// Keys already reported (a wrong or unset value, a missing key): what follows from them is
    /// not reported again.
    pub(super) settled: std::cell::RefCell<Vec<String>>,
}

/// Resolved settings a template contributes to the sources that use it.
struct ResolvedTemplate<'a> {
    file: &'a TemplateFile,
    rules: Arc<Rules>,
    /// Its rules did not check (reported): the sources using it are not held to them.
    broken: bool,
}

impl Context<'_> {
    /// Records a mistake and carries on (unless it only follows from one already reported).
    pub(super) fn report(&self, error: ConfigError) {
        if let ConfigError::Invalid { key, .. } = &error {
            let follows = self.settled.borrow().iter().any(|settled| {
                key.strip_prefix(settled.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            });
            if follows && !self.errors.borrow().is_empty() {
                return;
            }
        }
        self.errors.borrow_mut().push(error);
    }

    pub(super) fn is_settled(&self, path: &KeyPath) -> bool {
        let path = path.to_string();
        self.settled.borrow().contains(&path)
    }

    /// `path` has been reported: later mistakes at or under it are consequences.
    pub(super) fn settle(&self, path: &KeyPath) {
        self.settled.borrow_mut().push(path.to_string());
    }

    /// The value, or `None` with its mistake recorded.
    fn ok<T>(&self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.report(e)).ok()
    }

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
            // One line per mistake, whatever a library wrote.
            message: message
                .into()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// Checks one set of rules, each mistake reported under `at`; whether there was none.
    fn check_rules(&self, at: &KeyPath, specs: &RuleSpecs) -> bool {
        let errors = (self.check)(specs);
        let clean = errors.is_empty();
        for error in errors {
            self.report(self.rule_error(at, error));
        }
        clean
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

    /// The validated configuration, or every mistake found in it.
    pub(super) fn resolve(&self, raw: ConfigFile) -> Result<Config, ConfigError> {
        let config = self.resolve_all(raw);
        let errors = self.errors.take();
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigError::from_list(errors)),
        }
    }

    fn resolve_all(&self, raw: ConfigFile) -> Option<Config> {
        let root = KeyPath::root();
        let defaults = &raw.defaults;
        let at_defaults = root.key("defaults");

        // A bad default is reported once, here; the sources go on with the built-in one.
        let default_tz = defaults
            .timezone
            .as_ref()
            .and_then(|name| {
                self.ok(parse_timezone(name)
                    .map_err(|m| self.error(&at_defaults.key("timezone"), false, m)))
            })
            .unwrap_or(chrono_tz::Asia::Ho_Chi_Minh);
        let mut default_schedule = defaults
            .schedule
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULE.to_owned());
        if self
            .ok(parse_schedule(&default_schedule)
                .map_err(|m| self.error(&at_defaults.key("schedule"), false, m)))
            .is_none()
        {
            default_schedule = DEFAULT_SCHEDULE.to_owned();
        }
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
            max_refreshes: defaults.max_refreshes.unwrap_or(DEFAULT_MAX_REFRESHES),
            max_refreshes_per_host: defaults
                .max_refreshes_per_host
                .unwrap_or(DEFAULT_MAX_REFRESHES_PER_HOST),
        };
        if fetch.max_retry_after > Duration::from_secs(MAX_RETRY_AFTER_LIMIT_SECS) {
            self.report(self.error(
                &at_defaults.key("max_retry_after_secs"),
                false,
                format!("must be at most {MAX_RETRY_AFTER_LIMIT_SECS} (30 days)"),
            ));
        }
        for (key, zero) in [
            ("timeout_secs", fetch.timeout.is_zero()),
            ("connect_timeout_secs", fetch.connect_timeout.is_zero()),
            ("max_body_bytes", fetch.max_body_bytes == 0),
            ("max_refreshes", fetch.max_refreshes == 0),
            ("max_refreshes_per_host", fetch.max_refreshes_per_host == 0),
        ] {
            if zero {
                self.report(self.error(&at_defaults.key(key), false, "must be greater than 0"));
            }
        }
        if let Some(ua) = &defaults.user_agent
            && (ua.trim().is_empty() || !ua.bytes().all(|b| b == b' ' || (0x21..0x7f).contains(&b)))
        {
            self.report(self.error(
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
                self.ok(
                    parse_schedule(schedule).map_err(|m| self.error(&at.key("schedule"), false, m))
                );
            }
            if let Some(charset) = &template.charset {
                self.ok(
                    parse_charset(charset).map_err(|m| self.error(&at.key("charset"), false, m))
                );
            }
            let own = RuleSpecs {
                listing: template.listing.clone(),
                article: template.article.clone(),
                json: template.json.clone(),
            };
            let broken = !self.check_rules(&at, &own);
            templates.insert(
                name.clone(),
                ResolvedTemplate {
                    file: template,
                    rules: Arc::new(Rules::new(own, None)),
                    broken,
                },
            );
        }

        if raw.sources.is_empty() {
            self.report(self.error(
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
            );
            sources.extend(resolved.map(Arc::new));
        }
        self.check_mergers(&raw);

        let mut group_names = IndexMap::new();
        for (id, group) in &raw.groups {
            let at = root.key("groups").key(id);
            if !raw.sources.values().any(|s| s.group == *id) {
                let mut used: Vec<&str> = raw.sources.values().map(|s| s.group.as_str()).collect();
                used.sort_unstable();
                used.dedup();
                self.report(self.error(
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
                self.report(self.error(&at.key("name"), false, "empty name"));
            }
            group_names.insert(id.clone(), group.name.trim().to_owned());
        }

        let at_server = root.key("server");
        let listen = raw
            .server
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: Option<SocketAddr> = self.ok(listen.parse().map_err(|_| {
            self.error(
                &at_server.key("listen"),
                false,
                format!("invalid listen address {listen:?} (expected IP:PORT)"),
            )
        }));
        let public_url = raw.server.public_url.as_deref().and_then(|u| {
            self.ok(
                parse_http_url(u).map_err(|m| self.error(&at_server.key("public_url"), false, m))
            )
        });
        let log = LogSettings {
            format: match raw.log.format.as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    self.report(self.error(
                        &root.key("log").key("format"),
                        false,
                        format!("unknown log format {other:?} (use \"text\" or \"json\")"),
                    ));
                    LogFormat::Text
                }
            },
        };
        Some(Config {
            path: PathBuf::new(),
            templates: templates
                .iter()
                .map(|(name, t)| (name.clone(), Arc::clone(&t.rules)))
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
                listen: listen?,
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
                write_timeout: Duration::from_secs(
                    raw.server
                        .write_timeout_secs
                        .unwrap_or(DEFAULT_WRITE_TIMEOUT_SECS)
                        .max(1),
                ),
                max_searches: raw
                    .server
                    .max_searches
                    .unwrap_or(DEFAULT_MAX_SEARCHES)
                    .max(1),
                publisher_in_titles: raw.server.publisher_in_titles.unwrap_or(true),
                per_source_metrics: raw.server.per_source_metrics.unwrap_or(false),
            },
            log,
            group_names,
            sources,
        })
    }

    /// Every `merged_into` names another configured source, and no chain of them comes back to
    /// where it started (the history would have nowhere to go).
    fn check_mergers(&self, raw: &ConfigFile) {
        for (id, source) in &raw.sources {
            let Some(target) = &source.merged_into else {
                continue;
            };
            let at = KeyPath::root().key("sources").key(id).key("merged_into");
            if target == id {
                self.report(self.error(&at, false, "a source cannot be merged into itself"));
                continue;
            }
            if !raw.sources.contains_key(target) {
                let mut known: Vec<&str> = raw.sources.keys().map(String::as_str).collect();
                known.sort_unstable();
                self.report(self.error(
                    &at,
                    false,
                    format!(
                        "no source {target:?} to merge into (merged_into names the id of the source that took this one over; sources: {})",
                        list_or_none(&known)
                    ),
                ));
                continue;
            }
            // Follow the chain; coming back to `id` is a cycle.
            let mut chain = vec![id.as_str()];
            let mut next = Some(target.as_str());
            while let Some(at_id) = next {
                if at_id == id {
                    chain.push(at_id);
                    self.report(self.error(
                        &at,
                        false,
                        format!(
                            "merged_into goes round in a circle ({}): one source of them must be the one the others were merged into",
                            chain.join(" → ")
                        ),
                    ));
                    break;
                }
                if chain.contains(&at_id) {
                    // A cycle further along, reported at its own sources.
                    break;
                }
                chain.push(at_id);
                next = raw
                    .sources
                    .get(at_id)
                    .and_then(|s| s.merged_into.as_deref());
            }
        }
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
    ) -> Option<Source> {
        let source_id = self.ok(SourceId::parse(id).map_err(|m| self.error(at, true, m)));
        if RESERVED_IDS.contains(&id) {
            self.report(self.error(
                at,
                true,
                format!("source id {id:?} is reserved (it names a feed route); choose another"),
            ));
        }
        // An unknown template is reported; the source is then checked without one, except
        // for the selectors a template would have given it.
        let mut template_missing = false;
        let template = match &source.template {
            None => None,
            Some(name) => {
                let found = templates.get(name);
                if found.is_none() {
                    template_missing = true;
                    let known: Vec<&str> = templates.keys().map(String::as_str).collect();
                    self.report(self.error(
                        &at.key("template"),
                        false,
                        format!(
                            "unknown template {name:?} (defined: {})",
                            list_or_none(&known)
                        ),
                    ));
                }
                found
            }
        };
        let rules_unknown = template_missing || template.is_some_and(|t| t.broken);
        if source.name.trim().is_empty() {
            self.report(self.error(&at.key("name"), false, "empty name"));
        }
        self.ok(SourceId::parse(&source.group)
            .map_err(|m| self.error(&at.key("group"), false, m.replace("source id", "group"))));
        let base = self
            .ok(parse_http_url(&source.base).map_err(|m| self.error(&at.key("base"), false, m)));
        let mut previous_bases = Vec::new();
        for (i, previous) in source.previous_bases.iter().enumerate() {
            let at_previous = at.key("previous_bases").index(i);
            if let Some(url) =
                self.ok(parse_http_url(previous).map_err(|m| self.error(&at_previous, false, m)))
            {
                previous_bases.push(url);
            }
        }
        let merged_into = source.merged_into.as_deref().and_then(|target| {
            self.ok(
                SourceId::parse(target).map_err(|m| self.error(&at.key("merged_into"), false, m))
            )
        });
        let home = base.as_ref().and_then(|base| match &source.home {
            Some(home) => {
                self.ok(join_base(base, home).map_err(|m| self.error(&at.key("home"), false, m)))
            }
            None => {
                self.ok(join_base(base, "/").map_err(|m| self.error(&at.key("base"), false, m)))
            }
        });
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
        // A template's own charset and schedule were checked with the template.
        let charset = match charset_text {
            Some((c, path)) if source.charset.is_some() => {
                Some(self.ok(parse_charset(c).map_err(|m| self.error(&path, false, m))))
            }
            Some((c, _)) => Some(parse_charset(c).ok()),
            None => Some(None),
        };
        let timezone = source
            .timezone
            .as_deref()
            .and_then(|tz| {
                self.ok(parse_timezone(tz).map_err(|m| self.error(&at.key("timezone"), false, m)))
            })
            .unwrap_or(default_tz);
        let schedule_text = source
            .schedule
            .clone()
            .or_else(|| template.and_then(|t| t.file.schedule.clone()))
            .unwrap_or_else(|| default_schedule.to_owned());
        let schedule = if source.schedule.is_some() {
            self.ok(parse_schedule(&schedule_text)
                .map_err(|m| self.error(&at.key("schedule"), false, m)))
        } else {
            parse_schedule(&schedule_text).ok()
        };

        let own = RuleSpecs {
            listing: source.listing.clone(),
            article: source.article.clone(),
            json: source.json.clone(),
        };
        let rules_unknown = !self.check_rules(at, &own) || rules_unknown;
        // A source that writes no rules of its own holds its template's: compiled once for
        // all of them.
        let rules = match template {
            Some(t) if own == RuleSpecs::default() => Arc::clone(&t.rules),
            template => Arc::new(Rules::new(own, template.map(|t| Arc::clone(&t.rules)))),
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
            self.report(self.error(&at.key("max_pages"), false, "must be at least 1"));
        }
        let mut drop: Vec<String> = default_drop.to_vec();
        drop.extend(
            template
                .and_then(|t| t.file.drop_query_params.clone())
                .unwrap_or_default(),
        );
        drop.extend(source.drop_query_params.clone().unwrap_or_default());

        if source.categories.is_empty() {
            self.report(self.error(
                at,
                false,
                "no categories: add [[sources.<id>.categories]] with a label and a listing or feed",
            ));
        }
        let mut categories: Vec<Category> = Vec::new();
        let mut slugs: Vec<String> = Vec::new();
        let mut kinds_known = true;
        for (i, category) in source.categories.iter().enumerate() {
            let at_cat = at.key("categories").index(i);
            if category.label.trim().is_empty() {
                self.report(self.error(&at_cat.key("label"), false, "empty label"));
            }
            let slug = match &category.slug {
                Some(slug) => {
                    self.ok(SourceId::parse(slug).map_err(|m| {
                        self.error(&at_cat.key("slug"), false, m.replace("source id", "slug"))
                    }));
                    slug.clone()
                }
                None => slugify(&category.label),
            };
            if slugs.contains(&slug) {
                self.report(self.error(
                    &at_cat,
                    false,
                    format!("duplicate category slug {slug:?}"),
                ));
            }
            slugs.push(slug.clone());
            let located = |location: &str, key: &str| {
                let base = base.as_ref()?;
                self.ok(
                    join_base(base, location).map_err(|m| self.error(&at_cat.key(key), false, m))
                )
            };
            let kind = match (&category.listing, &category.feed, &category.listing_json) {
                (Some(listing), None, None) => {
                    located(listing, "listing").map(CategoryKind::Listing)
                }
                (None, Some(feed), None) => located(feed, "feed").map(CategoryKind::Feed),
                (None, None, Some(endpoint)) => {
                    located(endpoint, "listing_json").map(CategoryKind::JsonListing)
                }
                _ => {
                    self.report(self.error(
                        &at_cat,
                        false,
                        "set exactly one of `listing` (an HTML page), `feed` (an RSS/Atom URL) or `listing_json` (a JSON endpoint)",
                    ));
                    kinds_known = false;
                    None
                }
            };
            if let Some(kind) = kind {
                categories.push(Category {
                    slug,
                    label: category.label.trim().to_owned(),
                    kind,
                });
            }
        }
        let template_hint = match &source.template {
            Some(name) => format!("set it in [sources.{id}.{{section}}] or in template {name:?}"),
            None => format!("set it in [sources.{id}.{{section}}] or use a template"),
        };
        let has_listing = source
            .categories
            .iter()
            .any(|c| c.listing.is_some() && c.feed.is_none() && c.listing_json.is_none());
        // Selectors missing because a template or a selector failed are not news: reported.
        if has_listing && !rules_unknown {
            for (field, missing) in [
                ("item", !rules.any(|r| r.listing.item.is_some())),
                (
                    "title",
                    !rules.any(|r| r.listing.title.is_some()) && !fetch_articles,
                ),
            ] {
                if missing {
                    self.report(self.error(
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
        let has_json_listing = source
            .categories
            .iter()
            .any(|c| c.listing_json.is_some() && c.listing.is_none() && c.feed.is_none());
        if has_json_listing && !rules_unknown {
            for (field, missing) in [
                ("link", !rules.any(|r| r.json.link.is_some())),
                (
                    "title",
                    !rules.any(|r| r.json.title.is_some()) && !fetch_articles,
                ),
            ] {
                if missing {
                    self.report(self.error(
                        at,
                        false,
                        format!(
                            "a category has listing_json but there is no json.{field}: {}",
                            template_hint.replace("{section}", "json")
                        ),
                    ));
                }
            }
        }
        let _ = kinds_known;
        if fetch_articles && !rules.any(|r| r.article.body.is_some()) && !rules_unknown {
            self.report(self.error(at, false, format!(
                "fetch_articles is on but there is no article.body selector: {}, or set fetch_articles = false",
                template_hint.replace("{section}", "article")
            )));
        }
        let timeout = source
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(fetch.timeout);
        if timeout.is_zero() {
            self.report(self.error(&at.key("timeout_secs"), false, "must be greater than 0"));
        }
        Some(Source {
            id: source_id?,
            name: source.name.trim().to_owned(),
            group: source.group.clone(),
            base: base?,
            previous_bases,
            merged_into,
            home: home?,
            enabled: source.enabled.unwrap_or(true),
            charset: charset?,
            timezone,
            schedule: schedule?,
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
///
/// The fields are checked here first, with messages of our own: the `cron` crate's are wrong
/// for values past the end of a range ("Hours must be less than 23" for 25, where 23 is
/// valid) and come after a copy of the expression with a caret under it.
pub fn parse_schedule(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_owned()
    };
    check_cron_fields(&full, fields == 5)
        .map_err(|message| format!("invalid cron expression {expr:?}: {message}"))?;
    cron::Schedule::from_str(&full).map_err(|e| {
        // The crate's message ends with its reason; the lines before it repeat the expression.
        let text = e.to_string();
        let reason = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!("invalid cron expression {expr:?}: {}", reason.trim())
    })
}

/// Each field of a 6- or 7-field expression: its name and the numbers it takes.
const CRON_FIELDS: [(&str, u32, u32); 7] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 1, 7),
    ("year", 1970, 2100),
];

/// The field count, every number's range and every step, in words an admin can act on.
/// `crontab`: the line was written with 5 fields, where day-of-week numbers mean other days.
fn check_cron_fields(full: &str, crontab: bool) -> Result<(), String> {
    let fields: Vec<&str> = full.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        let written = if crontab { 5 } else { fields.len() };
        return Err(format!(
            "{written} fields; write 5 (minute hour day-of-month month day-of-week, as in \
             crontab) or 6 (with the second first), optionally followed by a year"
        ));
    }
    for (field, (name, min, max)) in fields.iter().zip(CRON_FIELDS) {
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (part, None),
            };
            if let Some(step) = step
                && step.parse::<u32>().map_or(true, |s| s == 0)
            {
                return Err(format!(
                    "{name}: the step in {part:?} must be a whole number above 0"
                ));
            }
            if matches!(range, "*" | "?") {
                continue;
            }
            for bound in range.split('-') {
                let Ok(number) = bound.parse::<u32>() else {
                    // Names (MON, JAN) and anything else: the crate judges them.
                    continue;
                };
                if crontab && name == "day of week" {
                    return Err(format!(
                        "day of week {number}: write day names (MON-FRI, SUN) in a 5-field line; \
                         numbers mean other days here (1 = Sunday) than in crontab (1 = Monday)"
                    ));
                }
                if number < min || number > max {
                    return Err(format!(
                        "{name} {number} is out of range: use {min} to {max}"
                    ));
                }
            }
        }
    }
    Ok(())
}

pub fn parse_charset(label: &str) -> Result<Charset, String> {
    Charset::for_label(label).ok_or_else(|| format!("unknown charset {label:?}"))
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
