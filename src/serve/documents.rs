//! Assembling render documents from the ledger: which items a feed holds, and how a stored
//! item or story becomes a feed entry. Scopes: one source, one of its categories, a group of
//! sources, everything (stories, cross-posts merged), and the incident log.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc};

use crate::config::{Config, Source};
use crate::model::{SourceId, SourceStatus};
use crate::normalize::{date::in_zone, fold_case, text::search_key};
use crate::render::{
    ArchiveLinks, Dashboard, DashboardError, DashboardGroup, DashboardPage, DashboardSource, Entry,
    EntrySource, Feed, FeedLinks, Outline, OutlineFeed, OutlineGroup, OutlineSource, StoreFailing,
};
use crate::store::{Incident, Items, Store, StoreCondition, StoreError, StoredItem, Story};

/// How many stored items a filtered request (`q`, `since`) may examine, newest first: keeps a
/// flood of searches from walking the whole history.
pub const SEARCH_SCAN_LIMIT: usize = 5000;

/// Weeks charted on the dashboard.
pub const DASHBOARD_WEEKS: usize = 12;

/// The most entry text (titles, summaries, bodies, in bytes) one feed document carries: ten
/// stored 5 MB bodies once made a 52 MB document, kept in three encodings per feed. Entries
/// past the budget keep their title and link, and a note in place of their body (then their
/// summary; the feed ends if even titles do not fit).
pub const FEED_TEXT_BUDGET: usize = 2 * 1024 * 1024;

/// Bytes counted per entry besides its texts: ids, dates, author, markup.
const ENTRY_OVERHEAD: usize = 512;

/// What fitting a feed into its text budget left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetCut {
    /// Entries whose body was replaced by a note linking to the article.
    pub bodies: usize,
    /// Entries whose summary was left out too.
    pub summaries: usize,
    /// Entries left out of the feed.
    pub entries: usize,
}

impl BudgetCut {
    pub fn is_empty(&self) -> bool {
        *self == BudgetCut::default()
    }
}

/// What stands in for a body left out of a feed: says so, and where to read it.
fn left_out_note(url: &str) -> String {
    format!(
        "<p><em>Toàn văn bài này không kèm trong nguồn tin vì nguồn tin đã đủ dung lượng; \
         đọc tại <a href=\"{}\">trang gốc</a>.</em></p>",
        crate::normalize::xml::escape_xml_text(url)
    )
}

/// Cuts `entries` (newest first) to `budget` bytes of text: the newest keep everything.
pub fn fit_to_budget(entries: &mut Vec<Entry>, budget: usize) -> BudgetCut {
    let mut used = 0usize;
    let mut cut = BudgetCut::default();
    let mut kept = entries.len();
    for (index, entry) in entries.iter_mut().enumerate() {
        let base = ENTRY_OVERHEAD
            + entry.title.len()
            + entry.url.len()
            + entry.categories.iter().map(String::len).sum::<usize>()
            + entry.image.as_ref().map_or(0, String::len);
        let summary = entry.summary.as_ref().map_or(0, String::len);
        let body = entry.content_html.as_ref().map_or(0, String::len);
        if used + base + summary + body <= budget {
            used += base + summary + body;
            continue;
        }
        let note = left_out_note(&entry.url);
        if used + base + summary + note.len() <= budget {
            used += base + summary + note.len();
            entry.content_html = Some(note);
            cut.bodies += 1;
            continue;
        }
        if used + base + note.len() <= budget {
            used += base + note.len();
            entry.content_html = Some(note);
            cut.bodies += 1;
            if entry.summary.take().is_some() {
                cut.summaries += 1;
            }
            continue;
        }
        kept = index;
        break;
    }
    cut.entries = entries.len() - kept;
    entries.truncate(kept);
    cut
}

/// What a feed covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Source(SourceId),
    Category(SourceId, String),
    Group(String),
    All,
    Incidents,
}

/// A reader's narrowing of a feed: `limit`, `q`, `since`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    pub limit: Option<usize>,
    /// Search words, already diacritic-folded.
    pub words: Vec<String>,
    pub since: Option<DateTime<FixedOffset>>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.words.is_empty() && self.since.is_none()
    }

    fn narrows(&self) -> bool {
        !self.words.is_empty() || self.since.is_some()
    }

    fn accepts(&self, stored: &StoredItem) -> bool {
        if self.since.is_some_and(|since| stored.sort_time() < since) {
            return false;
        }
        if self.words.is_empty() {
            return true;
        }
        let haystack = search_key(&format!(
            "{} {}",
            stored.item.title,
            stored.item.summary.as_deref().unwrap_or("")
        ));
        self.words
            .iter()
            .all(|word| haystack.contains(word.as_str()))
    }
}

/// A scope's feeds are `/feeds/{stem}.{format}`.
pub fn scope_stem(scope: &Scope) -> String {
    match scope {
        Scope::Source(id) => id.to_string(),
        Scope::Category(id, slug) => format!("{id}/{slug}"),
        Scope::Group(group) => format!("group/{group}"),
        Scope::All => "all".to_owned(),
        Scope::Incidents => "incidents".to_owned(),
    }
}

/// Where our own pages live.
#[derive(Debug, Clone)]
pub struct Site {
    /// `http://host:port`, no trailing slash.
    pub base: String,
}

impl Site {
    pub fn links(&self, stem: &str) -> FeedLinks {
        FeedLinks {
            rss: format!("{}/feeds/{stem}.rss", self.base),
            atom: format!("{}/feeds/{stem}.atom", self.base),
            json: format!("{}/feeds/{stem}.json", self.base),
        }
    }

    pub fn scope_links(&self, scope: &Scope) -> FeedLinks {
        self.links(&scope_stem(scope))
    }

    /// A feed's address relative to the host (under the public URL's path, if it has one), as
    /// a redirect's `Location`: the host a reader used may not be the configured one.
    pub fn feed_path(&self, stem: &str, extension: &str) -> String {
        format!("{}/feeds/{stem}.{extension}", self.path_prefix())
    }

    /// The public URL's path without its trailing slash (`""` at the root).
    fn path_prefix(&self) -> String {
        url::Url::parse(&self.base)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    }

    pub fn index(&self) -> String {
        format!("{}/", self.base)
    }

    /// The feed stylesheet's address, relative to the host (`/feed.xsl`, under the public URL's
    /// path if it has one): a browser applies only a stylesheet from the feed's own origin, and
    /// the host a reader used may not be the configured one.
    pub fn stylesheet(&self) -> String {
        format!("{}/feed.xsl", self.path_prefix())
    }
}

/// The source whose feeds carry `source`'s history (`merged_into`, to the end of the chain).
pub fn merged_target<'a>(config: &'a Config, source: &Source) -> Option<&'a Source> {
    source.merged_into.as_ref()?;
    config.merged_target(&source.id).map(AsRef::as_ref)
}

/// The sources a scope draws from (disabled ones included: their stored items still serve).
/// A source's feed draws from the sources merged into it too, and a group's from the sources
/// merged into its members.
pub fn scope_sources<'a>(config: &'a Config, scope: &Scope) -> Vec<&'a Source> {
    config
        .sources
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| match scope {
            Scope::Source(id) => {
                s.id == *id || merged_target(config, s).is_some_and(|t| t.id == *id)
            }
            Scope::Category(id, _) => s.id == *id,
            Scope::Group(group) => {
                s.group == *group || merged_target(config, s).is_some_and(|t| t.group == *group)
            }
            Scope::All => true,
            Scope::Incidents => false,
        })
        .collect()
}

/// Whether a scope names something the configuration has (checked before anything is kept
/// about it, so invented names cost nothing).
pub fn scope_exists(config: &Config, scope: &Scope) -> bool {
    match scope {
        Scope::Category(id, slug) => config
            .source(id.as_str())
            .is_some_and(|s| s.categories.iter().any(|c| c.slug == *slug)),
        Scope::All | Scope::Incidents => true,
        _ => !scope_sources(config, scope).is_empty(),
    }
}

fn entry_source(site: &Site, source: Option<&Source>, stored: &StoredItem) -> EntrySource {
    let id = stored.item.source.to_string();
    EntrySource {
        name: source.map_or_else(|| id.clone(), |s| s.name.clone()),
        home_url: source.map_or_else(|| stored.item.url.clone(), |s| s.home.to_string()),
        feed_url: site.links(&id).atom,
        url: stored.item.url.clone(),
        id,
    }
}

/// A stable `urn:uuid:` for things that have no URL of their own (stories, incidents).
pub fn urn_uuid(kind: &str, id: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"wardfeed:");
    hasher.update(kind.as_bytes());
    hasher.update(id);
    let mut b = [0u8; 16];
    b.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    // Version 5-style (name-based) and RFC 4122 variant bits, so validators accept it.
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

pub(super) fn item_entry(config: &Config, site: &Site, stored: &StoredItem) -> Entry {
    let source = config
        .source(stored.item.source.as_str())
        .map(AsRef::as_ref);
    let item = &stored.item;
    Entry {
        // Entries that share a URL (told apart by guid) each need an id of their own.
        id: match stored.key.entry_id(&item.source, &item.url) {
            Some(url) => url.to_owned(),
            // An item of a portal that moved keeps the id it had at its first address.
            None => source
                .and_then(|source| {
                    source
                        .earlier_locations(&item.url)
                        .into_iter()
                        .find(|old| stored.key.entry_id(&item.source, old).is_some())
                })
                .unwrap_or_else(|| urn_uuid("item", &stored.key.0)),
        },
        url: if item.url.is_empty() {
            source.map_or_else(|| site.index(), |s| s.home.to_string())
        } else {
            item.url.clone()
        },
        title: item.title.clone(),
        published: item.published,
        updated: stored.modified(),
        author: entry_source(site, source, stored),
        categories: item.categories.clone(),
        summary: item.summary.clone(),
        content_html: item.content_html.clone(),
        image: item.image.clone(),
        also_published_by: Vec::new(),
    }
}

/// A story of a combined or group feed: its own id, whatever its members do.
pub(super) fn story_entry(config: &Config, site: &Site, story: &Story) -> Entry {
    let mut entry = cross_posted_entry(config, site, story);
    entry.id = urn_uuid("story", &story.id.to_be_bytes());
    entry
}

/// A story as its earliest item's entry (that item's id), listing every source that posted it
/// and all their categories: how a ward's feed with the wards merged into it shows a story
/// they both posted, once, without changing the id of what was posted once.
pub(super) fn cross_posted_entry(config: &Config, site: &Site, story: &Story) -> Entry {
    let mut entry = item_entry(config, site, story.first());
    if story.items.len() > 1 {
        entry.also_published_by = story
            .items
            .iter()
            .map(|member| {
                let source = config
                    .source(member.item.source.as_str())
                    .map(AsRef::as_ref);
                entry_source(site, source, member)
            })
            .collect();
        for member in &story.items[1..] {
            for category in &member.item.categories {
                if !entry
                    .categories
                    .iter()
                    .any(|c| fold_case(c) == fold_case(category))
                {
                    entry.categories.push(category.clone());
                }
            }
        }
    }
    entry
}

/// A fallback `updated` for a feed with no entries: stable, so its bytes (and ETag) are too.
fn epoch() -> DateTime<FixedOffset> {
    DateTime::<Utc>::UNIX_EPOCH.fixed_offset()
}

/// Builds a content feed, within `FEED_TEXT_BUDGET`. `None` when the scope names something
/// that does not exist.
pub fn content_feed(
    config: &Config,
    store: &Store,
    site: &Site,
    scope: &Scope,
    filter: &Filter,
) -> Result<Option<Feed>, StoreError> {
    Ok(budgeted_feed(config, store, site, scope, filter, FEED_TEXT_BUDGET)?.map(|(feed, _)| feed))
}

/// `content_feed` within `budget` bytes of entry text, with what the budget left out (also
/// logged: a warning for a kept document, a debug line for a reader's filtered view).
pub fn budgeted_feed(
    config: &Config,
    store: &Store,
    site: &Site,
    scope: &Scope,
    filter: &Filter,
    budget: usize,
) -> Result<Option<(Feed, BudgetCut)>, StoreError> {
    let Some(mut feed) = unbudgeted_feed(config, store, site, scope, filter)? else {
        return Ok(None);
    };
    let cut = fit_to_budget(&mut feed.entries, budget);
    if !cut.is_empty() {
        if filter.is_empty() {
            tracing::warn!(scope = ?scope, budget_bytes = budget, bodies_left_out = cut.bodies, summaries_left_out = cut.summaries, entries_left_out = cut.entries, "feed cut to its byte budget");
        } else {
            tracing::debug!(scope = ?scope, budget_bytes = budget, bodies_left_out = cut.bodies, summaries_left_out = cut.summaries, entries_left_out = cut.entries, "filtered feed cut to its byte budget");
        }
    }
    Ok(Some((feed, cut)))
}

pub(super) type ItemRead = Result<StoredItem, StoreError>;

/// The items of `sources`, newest first: each source's index walked lazily, the newest head
/// taken each time (a feed of 100 decodes about 100 records, plus one per source).
fn newest_of<'a>(
    store: &'a Store,
    sources: &[SourceId],
) -> Box<dyn Iterator<Item = ItemRead> + 'a> {
    merged_walks(
        sources.iter().map(|s| store.source_items(s)).collect(),
        true,
    )
}

/// The stories of `walk`'s items, among the items `keep` passes, each once: where the walk
/// reaches its earliest kept item, the rule of `Store::stories`. A ward's feed with the wards
/// merged into it walks their indexes this way, so a story they both posted (a cross-post
/// between the wards, or by the new ward and an old one) is one entry.
pub(super) fn stories_of<'a>(
    store: &'a Store,
    walk: Box<dyn Iterator<Item = ItemRead> + 'a>,
    mut keep: impl FnMut(&StoredItem) -> bool + 'a,
) -> impl Iterator<Item = Result<Story, StoreError>> + 'a {
    walk.filter_map(move |item| {
        let item = match item {
            Ok(item) => item,
            Err(error) => return Some(Err(error)),
        };
        if !keep(&item) {
            return None;
        }
        match store.story_of(&item.key, &mut keep) {
            Ok(Some(story)) if story.first().key == item.key => Some(Ok(story)),
            Ok(_) => None,
            Err(error) => Some(Err(error)),
        }
    })
}

/// Walks that each go newest (or oldest) first merged into one walk in the same order.
pub(super) fn merged_walks<'a>(
    mut walks: Vec<Items<'a>>,
    newest_first: bool,
) -> Box<dyn Iterator<Item = ItemRead> + 'a> {
    if walks.len() == 1 {
        return Box::new(walks.remove(0));
    }
    Box::new(MergedWalks {
        heads: walks.into_iter().map(|walk| (walk, None)).collect(),
        newest_first,
    })
}

/// Ordered walks merged into one (see `merged_walks`).
struct MergedWalks<'a> {
    heads: Vec<(Items<'a>, Option<StoredItem>)>,
    newest_first: bool,
}

impl Iterator for MergedWalks<'_> {
    type Item = ItemRead;

    fn next(&mut self) -> Option<ItemRead> {
        for (walk, head) in &mut self.heads {
            if head.is_none() {
                match walk.next() {
                    Some(Ok(item)) => *head = Some(item),
                    Some(Err(error)) => return Some(Err(error)),
                    None => {}
                }
            }
        }
        // By sort time, then key: the order of the store's indexes.
        let newest_first = self.newest_first;
        let next = self
            .heads
            .iter_mut()
            .filter_map(|(_, head)| {
                head.as_ref()
                    .map(|item| (item.sort_time(), item.key))
                    .map(|k| (k, head))
            })
            .reduce(|best, other| {
                let better = if newest_first {
                    other.0 > best.0
                } else {
                    other.0 < best.0
                };
                if better { other } else { best }
            })?;
        next.1.take().map(Ok)
    }
}

fn unbudgeted_feed(
    config: &Config,
    store: &Store,
    site: &Site,
    scope: &Scope,
    filter: &Filter,
) -> Result<Option<Feed>, StoreError> {
    let limit = filter
        .limit
        .unwrap_or(config.server.feed_limit)
        .min(config.server.feed_limit);
    if !filter.words.is_empty() && *scope != Scope::Incidents {
        return searched_feed(config, store, site, scope, filter, limit);
    }
    // With a search or a date bound, examine at most SEARCH_SCAN_LIMIT items; the walk stops
    // there, or as soon as `limit` entries are found.
    let scan = if filter.narrows() {
        SEARCH_SCAN_LIMIT
    } else {
        usize::MAX
    };
    let newest = |items: Box<dyn Iterator<Item = ItemRead> + '_>,
                  keep: &dyn Fn(&StoredItem) -> bool| {
        items
            .take(scan)
            .filter(|item| item.as_ref().map_or(true, keep))
            .take(limit)
            .collect::<Result<Vec<_>, _>>()
    };
    // Feed validators follow the ledger (first seen, updated), never publisher dates: a
    // 2099-dated item must not pin Last-Modified, an older-dated new one must move it.
    let changed: Option<DateTime<FixedOffset>>;
    let (title, description, home, author, entries) = match scope {
        Scope::Source(id) => {
            let Some(source) = config.source(id.as_str()) else {
                return Ok(None);
            };
            // The wards merged into this one are part of its history.
            let merged = config.merged_sources(id);
            let entries = if merged.is_empty() {
                let items = newest(newest_of(store, std::slice::from_ref(id)), &|s| {
                    filter.accepts(s)
                })?;
                changed = items.iter().map(StoredItem::ledger_changed).max();
                items.iter().map(|s| item_entry(config, site, s)).collect()
            } else {
                // A story several of these wards posted is one entry naming them all.
                let mut ids = vec![id.clone()];
                ids.extend(merged.iter().map(|s| s.id.clone()));
                let keep = |s: &StoredItem| ids.contains(&s.item.source) && filter.accepts(s);
                let stories = stories_of(store, Box::new(newest_of(store, &ids).take(scan)), keep)
                    .take(limit)
                    .collect::<Result<Vec<_>, _>>()?;
                changed = stories.iter().map(Story::ledger_changed).max();
                stories
                    .iter()
                    .map(|s| cross_posted_entry(config, site, s))
                    .collect()
            };
            (
                source.name.clone(),
                format!("Tin từ {} ({})", source.name, source.home),
                source.home.to_string(),
                source.name.clone(),
                entries,
            )
        }
        Scope::Category(id, slug) => {
            let Some(source) = config.source(id.as_str()) else {
                return Ok(None);
            };
            let Some(category) = source.categories.iter().find(|c| c.slug == *slug) else {
                return Ok(None);
            };
            let label = fold_case(&category.label);
            let in_category = |s: &StoredItem| {
                s.item.categories.iter().any(|c| fold_case(c) == label) && filter.accepts(s)
            };
            let items = newest(Box::new(store.source_items(id)), &in_category)?;
            changed = items.iter().map(StoredItem::ledger_changed).max();
            (
                format!("{} — {}", source.name, category.label),
                format!("Chuyên mục “{}” của {}", category.label, source.name),
                source.home.to_string(),
                source.name.clone(),
                items.iter().map(|s| item_entry(config, site, s)).collect(),
            )
        }
        Scope::Group(group) => {
            let members: Vec<&SourceId> =
                scope_sources(config, scope).iter().map(|s| &s.id).collect();
            if members.is_empty() {
                return Ok(None);
            }
            let mut examined = 0usize;
            let in_group = |s: &StoredItem| {
                examined += 1;
                examined <= scan && members.contains(&&s.item.source) && filter.accepts(s)
            };
            let stories = store
                .stories(in_group)
                .take(limit)
                .collect::<Result<Vec<_>, _>>()?;
            changed = stories.iter().map(Story::ledger_changed).max();
            let name = config.group_name(group);
            (
                format!("{} — {name}", config.server.title),
                format!("Tin của mọi nguồn trong nhóm {name}, bài đăng lại được gộp"),
                site.index(),
                config.server.title.clone(),
                stories
                    .iter()
                    .map(|s| story_entry(config, site, s))
                    .collect(),
            )
        }
        Scope::All => {
            let mut examined = 0usize;
            let in_scope = |s: &StoredItem| {
                examined += 1;
                examined <= scan && filter.accepts(s)
            };
            let stories = store
                .stories(in_scope)
                .take(limit)
                .collect::<Result<Vec<_>, _>>()?;
            changed = stories.iter().map(Story::ledger_changed).max();
            (
                format!("{} — tất cả nguồn tin", config.server.title),
                "Tin của mọi nguồn, bài đăng lại được gộp".to_owned(),
                site.index(),
                config.server.title.clone(),
                stories
                    .iter()
                    .map(|s| story_entry(config, site, s))
                    .collect(),
            )
        }
        Scope::Incidents => return incident_feed(config, store, site).map(Some),
    };
    Ok(Some(Feed {
        title,
        description,
        home_url: home,
        links: site.scope_links(scope),
        updated: changed.unwrap_or_else(epoch),
        author,
        language: "vi".to_owned(),
        stylesheet: Some(site.stylesheet()),
        publisher_in_titles: config.server.publisher_in_titles
            && matches!(scope, Scope::Group(_) | Scope::All),
        // The way back to the first post (RFC 5005): the newest archive page. Filtered views
        // are one-offs and carry none.
        archive: if filter.is_empty() {
            super::archive::current_links(config, store, site, scope)?
        } else {
            ArchiveLinks::default()
        },
        entries,
    }))
}

/// A feed narrowed by `q`: the items of its scope holding every word (title, summary, body),
/// newest first, read from the store's search index (the ledger is not walked), each entry as
/// the scope's own feed has it (a story once in a combined, group or merged ward's feed).
fn searched_feed(
    config: &Config,
    store: &Store,
    site: &Site,
    scope: &Scope,
    filter: &Filter,
    limit: usize,
) -> Result<Option<Feed>, StoreError> {
    // The scope's title and description, as its current document has them.
    let Some(header) = unbudgeted_feed(
        config,
        store,
        site,
        scope,
        &Filter {
            limit: Some(1),
            ..Filter::default()
        },
    )?
    else {
        return Ok(None);
    };
    let members: Vec<&SourceId> = scope_sources(config, scope).iter().map(|s| &s.id).collect();
    let label = match scope {
        Scope::Category(id, slug) => config
            .source(id.as_str())
            .and_then(|s| s.categories.iter().find(|c| c.slug == *slug))
            .map(|c| fold_case(&c.label)),
        _ => None,
    };
    let in_scope = |s: &StoredItem| {
        (matches!(scope, Scope::All) || members.contains(&&s.item.source))
            && label
                .as_ref()
                .is_none_or(|label| s.item.categories.iter().any(|c| fold_case(c) == *label))
            && filter.since.is_none_or(|since| s.sort_time() >= since)
    };
    // As the scope's own feed shows them: a combined or group feed one entry per story, a
    // ward's feed with wards merged into it one per story under its earliest post's id; a
    // story's cross-posts that both match are one entry, where the newest of them matched.
    let as_stories = match scope {
        Scope::All | Scope::Group(_) => Some(true),
        Scope::Source(id) if !config.merged_sources(id).is_empty() => Some(false),
        _ => None,
    };
    let mut entries = Vec::new();
    let mut updated = epoch();
    let mut shown_stories = std::collections::HashSet::new();
    for hit in store.search(&filter.words)? {
        if entries.len() == limit {
            break;
        }
        let stored = hit?;
        if !in_scope(&stored) {
            continue;
        }
        let story = match as_stories {
            Some(_) => store.story_of(&stored.key, in_scope)?,
            None => None,
        };
        match (story, as_stories) {
            (Some(story), Some(own_id)) => {
                if !shown_stories.insert(story.id) {
                    continue;
                }
                updated = updated.max(story.ledger_changed());
                entries.push(if own_id {
                    story_entry(config, site, &story)
                } else {
                    cross_posted_entry(config, site, &story)
                });
            }
            _ => {
                updated = updated.max(stored.ledger_changed());
                entries.push(item_entry(config, site, &stored));
            }
        }
    }
    Ok(Some(Feed {
        updated,
        entries,
        ..header
    }))
}

/// Source health changes as a feed, so the office can subscribe to breakage.
fn incident_feed(config: &Config, store: &Store, site: &Site) -> Result<Feed, StoreError> {
    let incidents = store.incidents(config.server.feed_limit)?;
    let entries: Vec<Entry> = incidents
        .iter()
        .map(|i| incident_entry(config, site, i))
        .collect();
    Ok(Feed {
        title: format!("{} — sự cố nguồn tin", config.server.title),
        description: "Mỗi lần một nguồn tin đổi trạng thái (hỏng, phục hồi, rỗng)".to_owned(),
        home_url: site.index(),
        links: site.scope_links(&Scope::Incidents),
        updated: entries
            .iter()
            .map(|e| e.updated)
            .max()
            .unwrap_or_else(epoch),
        author: config.server.title.clone(),
        language: "vi".to_owned(),
        stylesheet: Some(site.stylesheet()),
        publisher_in_titles: false,
        archive: ArchiveLinks::default(),
        entries,
    })
}

/// A category's label, from its slug (health records keep slugs); the slug when the category
/// is no longer configured.
fn category_label(source: Option<&Source>, slug: &str) -> String {
    source
        .and_then(|s| s.categories.iter().find(|c| c.slug == slug))
        .map_or_else(|| slug.to_owned(), |c| c.label.clone())
}

fn incident_entry(config: &Config, site: &Site, incident: &Incident) -> Entry {
    let id = incident.source.to_string();
    let source = config.source(&id).map(AsRef::as_ref);
    let name = source.map_or_else(|| id.clone(), |s| s.name.clone());
    let cause = incident
        .error
        .as_ref()
        .map(|e| {
            format!(
                " ({}, chuyên mục “{}”)",
                crate::render::error_words(e.kind),
                category_label(source, &e.category)
            )
        })
        .unwrap_or_default();
    let title = format!(
        "{name}: {} → {}{cause}",
        crate::render::status_words(incident.from),
        crate::render::status_words(incident.to)
    );
    let summary = match &incident.error {
        Some(error) => format!("{title}. Chi tiết kỹ thuật: {}", error.message),
        None if incident.to == SourceStatus::Ok => format!("{title}: đã hoạt động lại."),
        None => title.clone(),
    };
    // The source's row on the dashboard: on its group's page when `/` is the summary.
    let dashboard = match source {
        Some(source) if config.sources.len() > super::cache::DASHBOARD_WHOLE_SOURCES => {
            format!("{}#source-{id}", group_page_url(site, &source.group))
        }
        _ => format!("{}#source-{id}", site.index()),
    };
    Entry {
        id: urn_uuid("incident", &incident.id.to_be_bytes()),
        url: dashboard.clone(),
        title,
        published: Some(incident.at),
        updated: incident.at,
        author: EntrySource {
            home_url: source.map_or_else(|| site.index(), |s| s.home.to_string()),
            feed_url: site.links(&id).atom,
            url: dashboard,
            name,
            id,
        },
        categories: vec![crate::render::status_words(incident.to).to_owned()],
        content_html: Some(format!(
            "<p>{}</p>",
            crate::normalize::xml::escape_xml_text(&summary)
        )),
        summary: Some(summary),
        image: None,
        also_published_by: Vec::new(),
    }
}

/// The OPML list of every feed, grouped: the district office's list.
pub fn outline(config: &Config, site: &Site, now: DateTime<Utc>) -> Outline {
    grouped_outline(config, site, now, true)
}

/// A resident's OPML: the combined feed, then each source's own feed in its group's folder;
/// no category, group or incident feeds, so importing it subscribes to each ward once.
pub fn resident_outline(config: &Config, site: &Site, now: DateTime<Utc>) -> Outline {
    grouped_outline(config, site, now, false)
}

/// The sources in one folder per group (named by its display name); `everything` adds each
/// group's feed, each source's category feeds and the incident feed.
fn grouped_outline(config: &Config, site: &Site, now: DateTime<Utc>, everything: bool) -> Outline {
    let mut groups: Vec<(&str, OutlineGroup)> = Vec::new();
    for source in &config.sources {
        let feed = OutlineFeed {
            title: source.name.clone(),
            xml_url: site.links(source.id.as_str()).rss,
            html_url: source.home.to_string(),
        };
        let categories = if everything {
            source
                .categories
                .iter()
                .map(|c| OutlineFeed {
                    title: format!("{} — {}", source.name, c.label),
                    xml_url: site.links(&format!("{}/{}", source.id, c.slug)).rss,
                    html_url: source.home.to_string(),
                })
                .collect()
        } else {
            Vec::new()
        };
        let entry = OutlineSource { feed, categories };
        match groups.iter_mut().find(|(id, _)| *id == source.group) {
            Some((_, group)) => group.sources.push(entry),
            None => {
                let name = config.group_name(&source.group);
                let feed = everything.then(|| OutlineFeed {
                    title: format!("{} — {name}", config.server.title),
                    xml_url: site.links(&format!("group/{}", source.group)).rss,
                    html_url: site.index(),
                });
                groups.push((
                    &source.group,
                    OutlineGroup {
                        name: name.to_owned(),
                        feed,
                        sources: vec![entry],
                    },
                ));
            }
        }
    }
    let mut general = vec![OutlineFeed {
        title: format!("{} — tất cả nguồn tin", config.server.title),
        xml_url: site.links("all").rss,
        html_url: site.index(),
    }];
    if everything {
        general.push(OutlineFeed {
            title: format!("{} — sự cố nguồn tin", config.server.title),
            xml_url: site.links("incidents").atom,
            html_url: site.index(),
        });
    }
    Outline {
        title: config.server.title.clone(),
        created: in_zone(now, chrono_tz::Asia::Ho_Chi_Minh),
        general,
        groups: groups.into_iter().map(|(_, group)| group).collect(),
    }
}

fn dashboard_error(source: &Source, error: crate::store::HealthError) -> DashboardError {
    DashboardError {
        at: error.at,
        kind: error.kind,
        category: category_label(Some(source), &error.category),
        message: error.message,
    }
}

/// The Monday (local date) that starts the week of `day`.
fn week_start(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The dashboard's numbers, per source, from the ledger and the health records.
/// Which dashboard page to build.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DashboardView {
    /// `/`: every source when there are at most `whole_up_to`, else the summary.
    Front { whole_up_to: usize },
    /// `/groups/ID`: one group's sources.
    Group(String),
}

/// Where a group's dashboard page is.
pub fn group_page_url(site: &Site, group: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(group.as_bytes()).collect();
    format!("{}/groups/{encoded}", site.base)
}

pub fn dashboard(
    config: &Config,
    store: &Store,
    site: &Site,
    now: DateTime<Utc>,
    view: &DashboardView,
) -> Result<Dashboard, StoreError> {
    let page = match view {
        DashboardView::Front { whole_up_to } if config.sources.len() > *whole_up_to => {
            DashboardPage::Summary
        }
        DashboardView::Front { .. } => DashboardPage::Whole,
        DashboardView::Group(_) => DashboardPage::Group {
            summary_url: format!("{}/", site.base),
        },
    };
    let summary = page == DashboardPage::Summary;
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    let local_now = in_zone(now, tz);
    let this_week = week_start(local_now.date_naive());
    let weeks: Vec<NaiveDate> = (0..DASHBOARD_WEEKS)
        .rev()
        .map(|i| this_week - Duration::weeks(i as i64))
        .collect();
    let chart_start = tz
        .from_local_datetime(&weeks[0].and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.fixed_offset())
        .unwrap_or(local_now);
    let since_30d = local_now - Duration::days(30);
    // The summary shows counts of the last 7 days, and no charts: it reads no further back.
    let scan_from = if summary {
        local_now - Duration::days(7)
    } else {
        chart_start.min(since_30d)
    };

    let mut groups: Vec<DashboardGroup> = Vec::new();
    let only = match view {
        DashboardView::Group(group) => Some(group.as_str()),
        DashboardView::Front { .. } => None,
    };
    for source in config
        .sources
        .iter()
        .filter(|s| only.is_none_or(|group| s.group == group))
    {
        let health = store.health(&source.id)?;
        let last_published = store
            .source_items(&source.id)
            .next()
            .transpose()?
            .map(|s| s.sort_time());
        // Recent items only: everything since the older of the chart start and 30 days ago,
        // their times read from the index (at 10,000 sources decoding them took seconds).
        let recent = store.source_times_since(&source.id, scan_from)?;
        let weekly_posts = weeks
            .iter()
            .map(|week| {
                recent
                    .iter()
                    .filter(|t| week_start(t.with_timezone(&tz).date_naive()) == *week)
                    .count() as u32
            })
            .collect();
        let days_since = last_published.map(|t| (local_now - t).num_days().max(0));
        let entry = DashboardSource {
            id: source.id.to_string(),
            name: source.name.clone(),
            home_url: source.home.to_string(),
            feeds: site.links(source.id.as_str()),
            categories: source
                .categories
                .iter()
                .map(|c| {
                    (
                        c.label.clone(),
                        site.links(&format!("{}/{}", source.id, c.slug)),
                    )
                })
                .collect(),
            // A count walks the source's whole index: only where it is shown.
            total_items: if summary {
                0
            } else {
                store.source_len(&source.id)
            },
            last_published,
            items_7d: recent
                .iter()
                .filter(|t| **t >= local_now - Duration::days(7))
                .count(),
            items_30d: recent.iter().filter(|t| **t >= since_30d).count(),
            days_since_last_post: days_since,
            quiet_after_days: source.quiet_after_days,
            status: health.status,
            last_attempt: health.last_attempt,
            last_success: health.last_success,
            consecutive_failures: health.consecutive_failures,
            failures: health
                .failures
                .into_iter()
                .map(|e| dashboard_error(source, e))
                .collect(),
            last_error: health.last_error.map(|e| dashboard_error(source, e)),
            empty_listings: health
                .empty_listings
                .iter()
                .map(|slug| category_label(Some(source), slug))
                .collect(),
            weekly_posts,
            warnings: store.warnings(&source.id)?,
            merged_into: merged_target(config, source).map(|t| (t.id.to_string(), t.name.clone())),
        };
        match groups.iter_mut().find(|g| g.id == source.group) {
            Some(group) => group.sources.push(entry),
            None => groups.push(DashboardGroup {
                id: source.group.clone(),
                name: config.group_name(&source.group).to_owned(),
                feeds: site.links(&format!("group/{}", source.group)),
                page_url: group_page_url(site, &source.group),
                sources: vec![entry],
            }),
        }
    }
    let title = match (view, groups.first()) {
        (DashboardView::Group(_), Some(group)) => {
            format!("{} — {}", config.server.title, group.name)
        }
        _ => config.server.title.clone(),
    };
    Ok(Dashboard {
        page,
        title,
        generated: local_now,
        opml_url: format!("{}/opml", site.base),
        resident_opml_url: format!("{}/residents.opml", site.base),
        incidents_url: site.links("incidents").atom,
        combined: site.links("all"),
        weeks,
        groups,
        store_failing: match store.condition() {
            StoreCondition::Working => None,
            StoreCondition::Failing { since, error } => Some(StoreFailing {
                since: since.with_timezone(local_now.offset()),
                error,
            }),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize, summary: usize, body: usize) -> Entry {
        Entry {
            id: format!("https://x.vn/{n}"),
            url: format!("https://x.vn/{n}?a=1&b=\"2\""),
            title: format!("Bài {n}"),
            published: None,
            updated: epoch(),
            author: EntrySource {
                id: "x".into(),
                name: "X".into(),
                home_url: "https://x.vn/".into(),
                feed_url: String::new(),
                url: String::new(),
            },
            categories: Vec::new(),
            summary: Some("s".repeat(summary)),
            content_html: Some("b".repeat(body)),
            image: None,
            also_published_by: Vec::new(),
        }
    }

    /// The newest entries keep everything; then bodies give way to a note, then summaries,
    /// then entries; what was cut is reported.
    #[test]
    fn feeds_are_cut_to_their_budget_newest_kept_whole() {
        let mut entries: Vec<Entry> = (0..6).map(|n| entry(n, 1000, 10_000)).collect();
        let cut = fit_to_budget(&mut entries, 30_000);
        assert!(
            entries[..2]
                .iter()
                .all(|e| e.content_html.as_ref().unwrap().len() == 10_000)
        );
        let note = entries[2].content_html.as_ref().unwrap();
        assert!(note.contains("đã đủ dung lượng"), "{note}");
        assert!(
            note.contains("href=\"https://x.vn/2?a=1&amp;b=&quot;2&quot;\""),
            "{note}"
        );
        assert_eq!(
            cut,
            BudgetCut {
                bodies: 4,
                summaries: 0,
                entries: 0
            }
        );
        let mut entries: Vec<Entry> = (0..100).map(|n| entry(n, 5000, 10_000)).collect();
        let cut = fit_to_budget(&mut entries, 30_000);
        assert!(cut.summaries > 0 && cut.entries > 0, "{cut:?}");
        assert_eq!(entries.len(), 100 - cut.entries);
        let mut small: Vec<Entry> = (0..3).map(|n| entry(n, 10, 10)).collect();
        assert!(fit_to_budget(&mut small, 30_000).is_empty());
    }
}
