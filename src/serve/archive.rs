//! RFC 5005 archived feeds: every feed's history as archive documents, one per month of
//! publication (Vietnam time), in pages of `ARCHIVE_PAGE` entries (newest first) when a month
//! holds more. The current document links the newest page (`prev-archive`); each page links the
//! current document, the next older page (`prev-archive`, JSON Feed's `next_url`) and the next
//! newer one (`next-archive`), so a reader pages back to a ward's first post, every entry on
//! exactly one page. A month is closed (its pages served as immutable) a week after it ended.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc};

use super::documents::{
    self, Filter, Scope, Site, cross_posted_entry, item_entry, merged_walks, scope_sources,
    scope_stem, stories_of, story_entry,
};
use crate::config::Config;
use crate::model::SourceId;
use crate::normalize::fold_case;
use crate::render::{ArchiveLinks, Entry, Feed, FeedLinks};
use crate::store::{Store, StoreError, StoredItem};

/// Entries per archive page. Fixed, not `feed_limit`: an archive's addresses must not move
/// when the configuration does.
pub const ARCHIVE_PAGE: usize = 100;

/// How long after its end a month's pages are closed: posts dated in it can still arrive
/// late (a listing's later page, a portal's slow clock) until then.
pub const CLOSED_AFTER: Duration = Duration::days(7);

/// How long a closed page may be kept without asking again (`Cache-Control: immutable`).
/// A week, not a year: `wardfeed backfill` can still add old posts to a closed month.
pub const CLOSED_MAX_AGE: u64 = 7 * 24 * 3600;

/// Vietnam time: what "a month" means for the archives, whatever a source's own zone.
fn zone() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap())
}

/// One archive page: a month, and a page of it (1 = its newest entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
    pub page: u32,
}

impl Period {
    /// `2024-05` (page 1) or `2024-05-3`.
    pub fn parse(text: &str) -> Option<Period> {
        let mut parts = text.split('-');
        let year: i32 = parts.next()?.parse().ok()?;
        let month_text = parts.next()?;
        let month: u32 = month_text.parse().ok()?;
        let page: u32 = match parts.next() {
            Some(page) if !page.starts_with('0') => page.parse().ok()?,
            Some(_) => return None,
            None => 1,
        };
        let period = Period { year, month, page };
        // One spelling per page: no `2024-5`, no `2024-05-1`.
        (parts.next().is_none()
            && month_text.len() == 2
            && page >= 1
            && (1000..=9999).contains(&year)
            && NaiveDate::from_ymd_opt(year, month, 1).is_some()
            && period.name() == text)
            .then_some(period)
    }

    pub fn name(&self) -> String {
        if self.page == 1 {
            format!("{:04}-{:02}", self.year, self.month)
        } else {
            format!("{:04}-{:02}-{}", self.year, self.month, self.page)
        }
    }

    /// Page 1 of the month `time` falls in.
    fn of(time: DateTime<FixedOffset>) -> Period {
        let local = time.with_timezone(&zone());
        Period {
            year: local.year(),
            month: local.month(),
            page: 1,
        }
    }

    fn with_page(self, page: u32) -> Period {
        Period { page, ..self }
    }

    fn start(&self) -> DateTime<FixedOffset> {
        month_start(self.year, self.month)
    }

    fn end(&self) -> DateTime<FixedOffset> {
        if self.month == 12 {
            month_start(self.year + 1, 1)
        } else {
            month_start(self.year, self.month + 1)
        }
    }

    /// Whether the page's month ended long enough ago that its pages no longer change.
    pub fn is_closed(&self, now: DateTime<Utc>) -> bool {
        now.fixed_offset() >= self.end() + CLOSED_AFTER
    }
}

fn month_start(year: i32, month: u32) -> DateTime<FixedOffset> {
    zone()
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(|| DateTime::<Utc>::UNIX_EPOCH.fixed_offset())
}

impl Site {
    /// An archive page's addresses: `/feeds/{stem}/archive/{period}.{format}`.
    pub fn archive_links(&self, scope: &Scope, period: Period) -> FeedLinks {
        self.links(&format!("{}/archive/{}", scope_stem(scope), period.name()))
    }
}

/// An entry with the time that places it in a month.
struct Dated {
    time: DateTime<FixedOffset>,
    changed: DateTime<FixedOffset>,
    entry: Entry,
}

/// At most `limit` entries of `scope` sorting in `[from, to)`, newest or oldest first: a
/// source's items (with the sources merged into it: their stories), a category's, a group's or
/// everything's stories (each in the month of its earliest item).
fn entries_in(
    config: &Config,
    store: &Store,
    site: &Site,
    scope: &Scope,
    (from, to): (Option<DateTime<FixedOffset>>, Option<DateTime<FixedOffset>>),
    newest_first: bool,
    limit: usize,
) -> Result<Vec<Dated>, StoreError> {
    let of_item = |stored: &StoredItem| Dated {
        time: stored.sort_time(),
        changed: stored.ledger_changed(),
        entry: item_entry(config, site, stored),
    };
    match scope {
        Scope::Source(id) => {
            let ids: Vec<SourceId> = scope_sources(config, scope)
                .iter()
                .map(|s| s.id.clone())
                .chain(std::iter::once(id.clone()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let walks = ids
                .iter()
                .map(|id| store.source_items_in(id, from, to, newest_first))
                .collect();
            let walk = merged_walks(walks, newest_first);
            if ids.len() == 1 {
                return walk
                    .take(limit)
                    .map(|stored| stored.map(|s| of_item(&s)))
                    .collect();
            }
            // Wards merged into this one: a story several of them posted is one entry, in the
            // month of its earliest item, as in the current document.
            let keep = |s: &StoredItem| ids.contains(&s.item.source);
            stories_of(store, walk, keep)
                .take(limit)
                .map(|story| {
                    story.map(|story| Dated {
                        time: story.published(),
                        changed: story.ledger_changed(),
                        entry: cross_posted_entry(config, site, &story),
                    })
                })
                .collect()
        }
        Scope::Category(id, slug) => {
            let Some(category) = config
                .source(id.as_str())
                .and_then(|s| s.categories.iter().find(|c| c.slug == *slug))
            else {
                return Ok(Vec::new());
            };
            let label = fold_case(&category.label);
            store
                .source_items_in(id, from, to, newest_first)
                .filter(|stored| {
                    stored.as_ref().map_or(true, |s| {
                        s.item.categories.iter().any(|c| fold_case(c) == label)
                    })
                })
                .take(limit)
                .map(|stored| stored.map(|s| of_item(&s)))
                .collect()
        }
        Scope::Group(_) | Scope::All => {
            let members: Option<Vec<SourceId>> = matches!(scope, Scope::Group(_)).then(|| {
                scope_sources(config, scope)
                    .iter()
                    .map(|s| s.id.clone())
                    .collect()
            });
            let keep = |s: &StoredItem| members.as_ref().is_none_or(|m| m.contains(&s.item.source));
            store
                .stories_in(from, to, newest_first, keep)
                .take(limit)
                .map(|story| {
                    story.map(|story| Dated {
                        time: story.published(),
                        changed: story.ledger_changed(),
                        entry: story_entry(config, site, &story),
                    })
                })
                .collect()
        }
        Scope::Incidents => Ok(Vec::new()),
    }
}

/// The current document's archive links: `prev-archive` to the newest page (none for a feed
/// with nothing stored, or the incident feed).
pub fn current_links(
    config: &Config,
    store: &Store,
    site: &Site,
    scope: &Scope,
) -> Result<ArchiveLinks, StoreError> {
    let newest = entries_in(config, store, site, scope, (None, None), true, 1)?;
    Ok(ArchiveLinks {
        current: None,
        prev: newest
            .first()
            .map(|d| site.archive_links(scope, Period::of(d.time))),
        next: None,
    })
}

/// The number of pages of `period`'s month.
fn pages_of(
    config: &Config,
    store: &Store,
    site: &Site,
    scope: &Scope,
    period: Period,
) -> Result<u32, StoreError> {
    let count = entries_in(
        config,
        store,
        site,
        scope,
        (Some(period.start()), Some(period.end())),
        true,
        usize::MAX,
    )?
    .len();
    Ok(count.div_ceil(ARCHIVE_PAGE).max(1) as u32)
}

/// One archive page of `scope`, or `None` when it holds nothing (no such page).
pub fn archive_feed(
    config: &Config,
    store: &Store,
    site: &Site,
    scope: &Scope,
    period: Period,
) -> Result<Option<Feed>, StoreError> {
    if matches!(scope, Scope::Incidents) {
        return Ok(None);
    }
    let wanted = period.page as usize * ARCHIVE_PAGE;
    let mut found = entries_in(
        config,
        store,
        site,
        scope,
        (Some(period.start()), Some(period.end())),
        true,
        wanted + 1,
    )?;
    let more_in_month = found.len() > wanted;
    found.truncate(wanted);
    let page: Vec<Dated> = found.into_iter().skip(wanted - ARCHIVE_PAGE).collect();
    if page.is_empty() {
        return Ok(None);
    }
    let older = if more_in_month {
        Some(period.with_page(period.page + 1))
    } else {
        entries_in(
            config,
            store,
            site,
            scope,
            (None, Some(period.start())),
            true,
            1,
        )?
        .first()
        .map(|d| Period::of(d.time))
    };
    let newer = if period.page > 1 {
        Some(period.with_page(period.page - 1))
    } else {
        let next = entries_in(
            config,
            store,
            site,
            scope,
            (Some(period.end()), None),
            false,
            1,
        )?
        .first()
        .map(|d| Period::of(d.time));
        match next {
            Some(month) => Some(month.with_page(pages_of(config, store, site, scope, month)?)),
            None => None,
        }
    };
    // The current document's title and description, said to be an archive.
    let Some(current) = documents::content_feed(
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
    let changed = page.iter().map(|d| d.changed).max();
    let mut entries: Vec<Entry> = page.into_iter().map(|d| d.entry).collect();
    // The same budget as a current document: the newest entries whole.
    documents::fit_to_budget(&mut entries, documents::FEED_TEXT_BUDGET);
    let label = if period.page == 1 {
        format!("tháng {:02}/{}", period.month, period.year)
    } else {
        format!(
            "tháng {:02}/{}, trang {}",
            period.month, period.year, period.page
        )
    };
    Ok(Some(Feed {
        title: format!("{} — lưu trữ {label}", current.title),
        description: format!("{} (lưu trữ {label})", current.description),
        links: site.archive_links(scope, period),
        updated: changed.unwrap_or(current.updated),
        archive: ArchiveLinks {
            current: Some(site.scope_links(scope)),
            prev: older.map(|p| site.archive_links(scope, p)),
            next: newer.map(|p| site.archive_links(scope, p)),
        },
        entries,
        ..current
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_have_one_spelling_and_vietnamese_months() {
        let may = Period::parse("2024-05").unwrap();
        assert_eq!((may.year, may.month, may.page), (2024, 5, 1));
        assert_eq!(Period::parse("2024-05-3").unwrap().page, 3);
        for bad in [
            "2024-5",
            "2024-05-1",
            "2024-05-0",
            "2024-05-03",
            "2024-13",
            "24-05",
            "2024-05-x",
            "2024-05-2-1",
            "",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
        // 23:30 UTC on 30 April is 1 May in Vietnam.
        let time = DateTime::parse_from_rfc3339("2024-04-30T23:30:00Z").unwrap();
        assert_eq!(Period::of(time), may);
        assert_eq!(may.start().to_rfc3339(), "2024-05-01T00:00:00+07:00");
        assert_eq!(
            Period::parse("2024-12").unwrap().end().to_rfc3339(),
            "2025-01-01T00:00:00+07:00"
        );
        let june_8 = DateTime::parse_from_rfc3339("2024-06-08T00:00:00+07:00").unwrap();
        assert!(may.is_closed(june_8.to_utc()));
        assert!(!may.is_closed((june_8 - Duration::seconds(1)).to_utc()));
    }
}
