//! Writing items: identity, updates, story clustering and retention, in store transactions.

use std::collections::BTreeSet;

use super::integrity::Tracked;
use super::records::{StoredItem, StoryRecord, TitleMembers, content_hash, decode, encode};
use super::{Store, StoreError, Tx, TxResult, abort, by_source_key, by_time_key};
use crate::config::Retention;
use crate::model::{Item, ItemKey, SourceId};
use crate::normalize::{fold_case, story_title_key};
use chrono::{DateTime, Duration, FixedOffset};

/// Two items with the same story title are one story when published at most this far apart
/// (transitively); recurring monthly notices stay separate.
pub const STORY_WINDOW: Duration = Duration::hours(72);

/// What ingesting one item did to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The item was unknown.
    New,
    /// Title, summary or body changed: the item gets a new `updated` time.
    Updated,
    /// Only the view counter changed: stored, not an update.
    ViewsOnly,
    /// Other bookkeeping changed (categories, article status): stored, not an update.
    Quiet,
    Unchanged,
}

/// What one ingest did, per item key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub new: Vec<ItemKey>,
    pub updated: Vec<ItemKey>,
    pub views_only: Vec<ItemKey>,
    pub quiet: Vec<ItemKey>,
    pub unchanged: usize,
}

impl IngestReport {
    fn add(&mut self, key: ItemKey, change: Change) {
        match change {
            Change::New => self.new.push(key),
            Change::Updated => self.updated.push(key),
            Change::ViewsOnly => self.views_only.push(key),
            Change::Quiet => self.quiet.push(key),
            Change::Unchanged => self.unchanged += 1,
        }
    }

    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        !(self.new.is_empty()
            && self.updated.is_empty()
            && self.views_only.is_empty()
            && self.quiet.is_empty())
    }
}

impl Store {
    /// Records one refresh's items of `source`, as one transaction: after a crash the refresh
    /// is in the ledger whole or not at all. Unchanged items write nothing; the ledger is
    /// flushed to disk before this returns, so a reported ingest is durable. (A refresh holds
    /// at most a few thousand items — `pipeline`'s caps — so its write set stays modest.)
    pub fn ingest(
        &self,
        source: &SourceId,
        items: &[Item],
        now: DateTime<FixedOffset>,
    ) -> Result<IngestReport, StoreError> {
        let _writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (changes, _) = self.commit(|tx| {
            items
                .iter()
                .map(|item| upsert(tx, source, item, now))
                .collect::<TxResult<Vec<_>>>()
        })?;
        let mut report = IngestReport::default();
        for (key, change) in changes {
            report.add(key, change);
        }
        if report.changed() {
            self.bump_generation(source);
        }
        Ok(report)
    }

    /// Removes a source's items beyond its retention policy (oldest first). Returns the URLs
    /// of the items removed.
    pub fn prune(
        &self,
        source: &SourceId,
        retention: &Retention,
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<String>, StoreError> {
        if retention.max_items.is_none() && retention.max_age_days.is_none() {
            return Ok(Vec::new());
        }
        let _writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let total = self.source_len(source);
        let excess = retention
            .max_items
            .map_or(0, |max| total.saturating_sub(max));
        let cutoff = retention
            .max_age_days
            .map(|days| now - Duration::days(i64::from(days)));
        let doomed = self.read(|h| {
            let mut doomed = Vec::new();
            for (i, entry) in h
                .by_source
                .scan_prefix(super::source_prefix(source))
                .enumerate()
            {
                let (index_key, _) = entry?;
                let Some(key) = super::key_suffix(&index_key) else {
                    continue;
                };
                let Some(stored) = self.item_in(h, &key)? else {
                    continue;
                };
                let too_old = cutoff.is_some_and(|cutoff| stored.sort_time() < cutoff);
                if i < excess || too_old {
                    doomed.push(stored);
                } else if cutoff.is_none() {
                    break;
                }
            }
            Ok(doomed)
        })?;
        if !doomed.is_empty() {
            self.commit(|tx| {
                for stored in &doomed {
                    remove(tx, stored)?;
                }
                Ok(())
            })?;
            self.bump_generation(source);
        }
        Ok(doomed.into_iter().map(|stored| stored.item.url).collect())
    }
}

pub(super) fn get<T: serde::de::DeserializeOwned>(
    tree: &Tracked<'_>,
    key: impl AsRef<[u8]>,
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(bytes) => decode(&bytes).map(Some).map_err(abort),
        None => Ok(None),
    }
}

pub(super) fn put<T: serde::Serialize>(
    tree: &Tracked<'_>,
    key: impl AsRef<[u8]>,
    value: &T,
) -> TxResult<()> {
    tree.insert(key.as_ref(), encode(value).map_err(abort)?)?;
    Ok(())
}

fn upsert(
    tx: &Tx<'_>,
    source: &SourceId,
    item: &Item,
    now: DateTime<FixedOffset>,
) -> TxResult<(ItemKey, Change)> {
    let key = ItemKey::derive(source, &item.identity());
    let old: Option<StoredItem> = get(&tx.items, key.0)?;
    let (record, change) = match &old {
        None => (
            StoredItem {
                key,
                item: item.clone(),
                first_seen: now,
                updated: None,
                content_hash: content_hash(item),
            },
            Change::New,
        ),
        Some(old) => merge(old, item, now),
    };
    if change == Change::Unchanged {
        return Ok((key, change));
    }
    put(&tx.items, key.0, &record)?;
    super::search::reindex(tx.search, old.as_ref(), Some(&record))?;
    let old_time = old.as_ref().map(StoredItem::sort_time);
    let old_title = old.as_ref().map(|o| story_title_key(&o.item.title));
    let new_title = story_title_key(&record.item.title);
    if old_time != Some(record.sort_time()) {
        if let Some(old) = &old {
            tx.by_source
                .remove(by_source_key(source, old.sort_time(), &key))?;
            tx.by_time.remove(by_time_key(old.sort_time(), &key))?;
        }
        tx.by_source
            .insert(by_source_key(source, record.sort_time(), &key), [])?;
        tx.by_time
            .insert(by_time_key(record.sort_time(), &key), [])?;
    }
    if old_time != Some(record.sort_time()) || old_title.as_ref() != Some(&new_title) {
        // An item that leaves a story it was alone in takes the story's id along, so a retitle
        // or a corrected date does not turn its combined-feed entry into a new one.
        let mut vacated = None;
        if let (Some(old), Some(old_title)) = (&old, &old_title) {
            vacated = leave_story(tx, old_title, old.sort_time(), &key)?;
        }
        join_story(tx, &new_title, record.sort_time(), &key, vacated)?;
    }
    Ok((key, change))
}

/// Folds a new sighting into the stored item.
///
/// A sighting without an article body (the article page answered 404 or could not be
/// fetched) keeps the stored title, body and image: the item stays with the data it had, and
/// a vanished article is not mistaken for an edit. Values a sighting lacks never erase stored
/// ones. Category membership accumulates: an item that scrolled off a listing still belongs
/// to that category.
pub(super) fn merge(
    old: &StoredItem,
    new: &Item,
    now: DateTime<FixedOffset>,
) -> (StoredItem, Change) {
    let mut item = new.clone();
    // The identity decision is not stored (the key is): it must not read as a change.
    item.identity = old.item.identity.clone();
    if new.content_html.is_none() && old.item.content_html.is_some() {
        item.title = old.item.title.clone();
        item.content_html = old.item.content_html.clone();
        item.image = old.item.image.clone().or(item.image);
    }
    item.summary = item.summary.or_else(|| old.item.summary.clone());
    item.published = item.published.or(old.item.published);
    item.views = item.views.or(old.item.views);
    item.image = item.image.or_else(|| old.item.image.clone());
    item.guid = item.guid.or_else(|| old.item.guid.clone());
    item.article_status = item.article_status.or(old.item.article_status);
    let mut categories = old.item.categories.clone();
    for category in &new.categories {
        if !categories
            .iter()
            .any(|c| fold_case(c) == fold_case(category))
        {
            categories.push(category.clone());
        }
    }
    item.categories = categories;

    let hash = content_hash(&item);
    let mut record = StoredItem {
        key: old.key,
        item,
        first_seen: old.first_seen,
        updated: old.updated,
        content_hash: hash,
    };
    let change = if hash != old.content_hash {
        record.updated = Some(now);
        Change::Updated
    } else if record.item == old.item {
        Change::Unchanged
    } else {
        let mut views_reverted = record.item.clone();
        views_reverted.views = old.item.views;
        if views_reverted == old.item {
            Change::ViewsOnly
        } else {
            Change::Quiet
        }
    };
    (record, change)
}

fn remove(tx: &Tx<'_>, stored: &StoredItem) -> TxResult<()> {
    let key = stored.key;
    tx.items.remove(key.0)?;
    super::search::reindex(tx.search, Some(stored), None)?;
    tx.by_source
        .remove(by_source_key(&stored.item.source, stored.sort_time(), &key))?;
    tx.by_time.remove(by_time_key(stored.sort_time(), &key))?;
    leave_story(
        tx,
        &story_title_key(&stored.item.title),
        stored.sort_time(),
        &key,
    )
    .map(|_vacated| ())
}

/// Takes the item out of its story. Returns the story's id when no item is left to keep it.
fn leave_story(
    tx: &Tx<'_>,
    title: &str,
    time: DateTime<FixedOffset>,
    key: &ItemKey,
) -> TxResult<Option<u64>> {
    let mut members: TitleMembers = get(&tx.titles, title)?.unwrap_or_default();
    members
        .members
        .retain(|m| *m != (time.timestamp_micros(), *key));
    let former_story = tx
        .story_of
        .remove(key.0)?
        .and_then(|b| b.as_slice().try_into().ok().map(u64::from_be_bytes));
    if members.members.is_empty() {
        tx.titles.remove(title)?;
    } else {
        put(&tx.titles, title, &members)?;
    }
    let claimed = recluster(tx, &members, former_story)?;
    Ok(former_story.filter(|id| !claimed.contains(id)))
}

/// Puts the item into the story of its title and time; `vacated` is the id of a story it just
/// left as the last item, which its new story keeps unless that story has an older id.
pub(super) fn join_story(
    tx: &Tx<'_>,
    title: &str,
    time: DateTime<FixedOffset>,
    key: &ItemKey,
    vacated: Option<u64>,
) -> TxResult<()> {
    if let Some(id) = vacated {
        tx.story_of.insert(key.0, id.to_be_bytes())?;
    }
    let mut members: TitleMembers = get(&tx.titles, title)?.unwrap_or_default();
    members.members.push((time.timestamp_micros(), *key));
    members.members.sort();
    members.members.dedup();
    put(&tx.titles, title, &members)?;
    recluster(tx, &members, None).map(|_claimed| ())
}

/// Splits the items of one title into stories: sorted by time, a gap over the window starts
/// a new story. Each story keeps the oldest id any of its items already had, so a story's id
/// (the combined feed's entry id) survives new cross-posts; ids left unused are deleted.
/// Returns the ids the stories of this title now have.
fn recluster(
    tx: &Tx<'_>,
    members: &TitleMembers,
    former_story: Option<u64>,
) -> TxResult<BTreeSet<u64>> {
    let window = STORY_WINDOW.num_microseconds().unwrap_or(i64::MAX);
    let mut clusters: Vec<Vec<ItemKey>> = Vec::new();
    let mut last_time = None;
    for (time, key) in &members.members {
        match (clusters.last_mut(), last_time) {
            (Some(cluster), Some(last)) if time - last <= window => cluster.push(*key),
            _ => clusters.push(vec![*key]),
        }
        last_time = Some(*time);
    }
    let mut previous_ids = BTreeSet::new();
    previous_ids.extend(former_story);
    let mut claimed = BTreeSet::new();
    for cluster in &clusters {
        let mut ids = BTreeSet::new();
        for key in cluster {
            if let Some(bytes) = tx.story_of.get(key.0)?
                && let Ok(raw) = bytes.as_slice().try_into()
            {
                ids.insert(u64::from_be_bytes(raw));
            }
        }
        previous_ids.extend(ids.iter().copied());
        let id = match ids.into_iter().find(|id| !claimed.contains(id)) {
            Some(id) => id,
            None => tx.new_id()?,
        };
        claimed.insert(id);
        for key in cluster {
            tx.story_of.insert(key.0, id.to_be_bytes())?;
        }
        put(
            &tx.stories,
            id.to_be_bytes(),
            &StoryRecord {
                members: cluster.clone(),
            },
        )?;
    }
    for unused in previous_ids.difference(&claimed) {
        tx.stories.remove(unused.to_be_bytes())?;
    }
    Ok(claimed)
}
