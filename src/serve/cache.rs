//! The document cache: every document rendered once per change of what it shows, kept with
//! its compressed forms, and the hot map that answers a current document by request path.
//! One clock (the injected one) dates renders, ages and Cache-Control horizons.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::documents::{self, Filter, Scope};
use super::representation::{Effort, Representation};
use super::{AppState, scope_exists};
use crate::config::Config;
use crate::render;
use crate::store::StoreError;

/// The dashboard shows ages ("3 days since the last post"), so it is re-rendered at least
/// this often even when nothing changed.
pub(super) const DASHBOARD_TTL: Duration = Duration::from_secs(60);
/// Bytes of rendered documents kept (identity bodies and the compressed forms built so far).
/// Past it, the least recently served documents are dropped and rendered again when next
/// asked (`wardfeed_document_cache_evictions_total`). 10,000 sources have 30,000 feeds in
/// three formats; a reader base asks for a fraction of them.
pub const DOCUMENT_CACHE_BUDGET: usize = 64 * 1024 * 1024;
/// Sources the dashboard shows on one page; past this many, `/` is a summary with a page per
/// group (`/groups/ID`).
pub const DASHBOARD_WHOLE_SOURCES: usize = 300;
/// Longest Cache-Control lifetime we promise, whatever the schedule says.
pub(super) const MAX_AGE_CAP: u64 = 3600;

/// A feed format, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    pub(super) fn from_extension(ext: &str) -> Option<Format> {
        match ext {
            "rss" => Some(Format::Rss),
            "atom" => Some(Format::Atom),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    fn render(self, feed: &render::Feed) -> String {
        match self {
            Format::Rss => render::rss(feed),
            Format::Atom => render::atom(feed),
            Format::Json => render::json_feed(feed),
        }
    }

    pub(super) fn extension(self) -> &'static str {
        match self {
            Format::Rss => "rss",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    pub(super) fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }
}

/// What a served document is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Document {
    Feed(Scope, Format),
    /// One page of a feed's history (RFC 5005).
    Archive(Scope, Format, super::archive::Period),
    Opml,
    /// A resident's OPML: the combined feed and one feed per source.
    ResidentOpml,
    /// The XSLT that shows RSS and Atom feeds as pages in a browser.
    FeedStylesheet,
    Dashboard,
    /// One group's dashboard page (`/groups/ID`).
    GroupDashboard(String),
}

impl Document {
    pub(super) fn scope(&self) -> Option<&Scope> {
        match self {
            Document::Feed(scope, _) | Document::Archive(scope, ..) => Some(scope),
            _ => None,
        }
    }
}

/// A rendered document as the hot path keeps it.
pub(super) struct Hot {
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
pub(super) struct Rendered {
    version: u64,
    representation: Arc<Representation>,
    rendered_at: Instant,
}

impl AppState {
    /// When the soonest scheduled refresh of the scope's sources happens: a reader (or proxy)
    /// need not ask again before then.
    pub(super) fn next_refresh(
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
    pub(super) fn version(&self, config: &Config, document: &Document) -> u64 {
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
            Document::GroupDashboard(group) => {
                self.store.health_generation().hash(&mut hasher);
                config
                    .sources
                    .iter()
                    .map(AsRef::as_ref)
                    .filter(|s| s.group == *group)
                    .collect()
            }
            Document::Feed(scope, _) | Document::Archive(scope, ..) => {
                documents::scope_sources(config, scope)
            }
        };
        for source in sources {
            source.id.hash(&mut hasher);
            self.store.generation(&source.id).hash(&mut hasher);
        }
        hasher.finish()
    }

    /// The hot representation for `path`, if nothing changed since it was rendered.
    pub(super) fn hot(&self, path: &str, now: DateTime<Utc>) -> Option<(Arc<Representation>, u64)> {
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
    pub(super) async fn current(
        self: &Arc<Self>,
        path: &str,
        document: Document,
    ) -> Result<Option<(Arc<Representation>, u64)>, StoreError> {
        // Stamps first: a change during rendering leaves the entry stale, not wrongly current.
        let store_stamp = self.store.any_generation();
        let config_stamp = self.config_generation.load(Ordering::Acquire);
        let horizon_stamp = self.horizon_generation.load(Ordering::Acquire);
        let config = self.config();
        let now = self.clock.now();
        if !scope_exists(&config, &document) {
            return Ok(None);
        }
        let version = self.version(&config, &document);
        let is_dashboard = matches!(document, Document::Dashboard | Document::GroupDashboard(_));
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
                    // Nothing there (an archive page of a month with no posts): keep no lock
                    // for it, so invented addresses leave nothing behind.
                    self.render_locks
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&document);
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
                self.keep_within_budget(&representation);
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

    /// Drops the least recently served documents until what is kept fits the document cache's
    /// budget (`keep`, just rendered or just compressed, stays), and says so in the metrics.
    pub(super) fn keep_within_budget(&self, keep: &Arc<Representation>) {
        let mut rendered = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
        let mut held: usize = rendered
            .values()
            .map(|r| r.representation.held_bytes())
            .sum();
        let mut evicted = Vec::new();
        if held > self.document_budget {
            let mut by_age: Vec<(u64, Document, usize)> = rendered
                .iter()
                .filter(|(_, r)| !Arc::ptr_eq(&r.representation, keep))
                .map(|(d, r)| {
                    let repr = &r.representation;
                    (repr.last_served(), d.clone(), repr.held_bytes())
                })
                .collect();
            by_age.sort_unstable_by_key(|(served, _, _)| *served);
            for (_, document, bytes) in by_age {
                if held <= self.document_budget {
                    break;
                }
                if let Some(dropped) = rendered.remove(&document) {
                    held -= bytes;
                    evicted.push(dropped.representation);
                }
            }
        }
        drop(rendered);
        if !evicted.is_empty() {
            // The hot entries hold the same representations: drop them too, or the memory
            // stays.
            self.hot
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, hot| {
                    !evicted
                        .iter()
                        .any(|gone| Arc::ptr_eq(gone, &hot.representation))
                });
            tracing::debug!(
                evicted = evicted.len(),
                held_bytes = held,
                "document cache over its budget: least recently served documents dropped"
            );
        }
        self.metrics.record_document_cache(held, evicted.len());
    }

    pub(super) fn render(
        &self,
        config: &Config,
        document: &Document,
        filter: &Filter,
        effort: Effort,
    ) -> Result<Option<Representation>, StoreError> {
        let now = self.clock.now();
        Ok(match document {
            Document::Archive(scope, format, period) => {
                let Some(feed) =
                    super::archive::archive_feed(config, &self.store, &self.site, scope, *period)?
                else {
                    return Ok(None);
                };
                Some(Representation::new(
                    format.content_type(),
                    format.render(&feed).into_bytes(),
                    feed.updated,
                    effort,
                ))
            }
            Document::Feed(scope, format) => {
                let Some((feed, cut)) = documents::budgeted_feed(
                    config,
                    &self.store,
                    &self.site,
                    scope,
                    filter,
                    documents::FEED_TEXT_BUDGET,
                )?
                else {
                    return Ok(None);
                };
                self.metrics
                    .record_feed_cut(cut.bodies, cut.summaries, cut.entries);
                Some(Representation::new(
                    format.content_type(),
                    format.render(&feed).into_bytes(),
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
            Document::Dashboard | Document::GroupDashboard(_) => {
                let view = match document {
                    Document::GroupDashboard(group) => {
                        documents::DashboardView::Group(group.clone())
                    }
                    _ => documents::DashboardView::Front {
                        whole_up_to: self.dashboard_whole_sources,
                    },
                };
                let dashboard = documents::dashboard(config, &self.store, &self.site, now, &view)?;
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
