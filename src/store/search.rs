//! The search index: tree `search_filters`, sort time + key → the item's word filter, a Bloom
//! filter of its folded words. A search walks the filters newest first, decodes only the items
//! whose filter may hold every word, and checks those words in the item itself, so a filter's
//! false positive (about 3 in 1,000 items for a one-word query) costs a decode, never a wrong hit.
//!
//! Why filters and not postings (word → items): the index was one key per distinct word of
//! each item (~250 for a ward article), written at random places of the tree: 7 KB of live keys
//! and ~49 KB on disk per item, 67 items/s ingest at 48 k items (BENCHMARKS.md, "Store"). A
//! filter is one value per item (~12 bits a word), written in time order beside `by_time`.
//! What it costs is a walk: a rare word reads every filter, about 400 bytes an item, without
//! decoding one record (measured in BENCHMARKS.md, "Search").
//!
//! Words are the diacritic- and case-folded (`search_key`: `đ` → `d`, marks dropped after NFD)
//! alphanumeric runs of an item's title, summary and body text. Filters are written in the
//! transaction that writes the item (and removed with it), so the index never disagrees with
//! the ledger. It is not sealed: it is derived from the items and rebuilt whole from them when
//! missing (a store written before it existed: `Store::search` builds it once, logged).

use std::collections::BTreeSet;

use super::kv::{self, TxView};
use chrono::{DateTime, FixedOffset};
use twox_hash::XxHash3_64;

use super::records::StoredItem;
use super::{Store, StoreError, TxResult, key_suffix, time_bytes};
use crate::model::ItemKey;
use crate::normalize::decode_entities_and_clean;
use crate::normalize::text::search_key;

/// `meta` key saying the index covers every item (written once it was built).
pub(super) const BUILT_KEY: &str = "search/filters-built";

/// Words longer than this are not indexed (nobody searches a 40-letter run: a URL, a hash).
const MAX_WORD_CHARS: usize = 40;

/// The filter's format, its first byte: a filter of another format is read as "may hold
/// anything" (the item is checked itself), never as "holds nothing".
const FILTER_FORMAT: u8 = 1;
/// Bits per distinct word and probes per word: a one-word false positive rate of ~0.3 %.
const BITS_PER_WORD: usize = 12;
const PROBES: u8 = 8;

/// The folded words of `text`, each once.
pub fn words(text: &str) -> BTreeSet<String> {
    search_key(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.chars().count() <= MAX_WORD_CHARS)
        .map(str::to_owned)
        .collect()
}

/// The text of some HTML: tags dropped, entities decoded.
fn html_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    decode_entities_and_clean(&text)
}

/// What a search matches an item on, folded: title, summary and body text.
pub fn searchable_text(stored: &StoredItem) -> String {
    let item = &stored.item;
    format!(
        "{} {} {}",
        item.title,
        item.summary.as_deref().unwrap_or(""),
        item.content_html
            .as_deref()
            .map(html_text)
            .unwrap_or_default()
    )
}

/// The two hashes a word's probes are made of (Kirsch–Mitzenmacher double hashing). xxh3 is
/// specified and seedless: a filter written by one build reads the same in the next.
fn word_hashes(word: &str) -> (u64, u64) {
    let hash = XxHash3_64::oneshot(word.as_bytes());
    (hash & 0xffff_ffff, (hash >> 32) | 1)
}

/// A Bloom filter of an item's words, as stored: format, probes, then the bits.
pub(super) fn filter_of(words: &BTreeSet<String>) -> Vec<u8> {
    let bits = (words.len() * BITS_PER_WORD).div_ceil(64).max(1) * 64;
    let mut filter = vec![0u8; 2 + bits / 8];
    filter[0] = FILTER_FORMAT;
    filter[1] = PROBES;
    for word in words {
        for i in 0..PROBES {
            let bit = probe(word_hashes(word), i, bits);
            filter[2 + bit / 8] |= 1 << (bit % 8);
        }
    }
    filter
}

/// The bit a word's `i`th probe sets in a filter of `bits` bits.
fn probe((h1, h2): (u64, u64), i: u8, bits: usize) -> usize {
    (h1.wrapping_add(u64::from(i).wrapping_mul(h2)) % bits as u64) as usize
}

/// Whether a stored filter may hold every word (hashed by `word_hashes`): false means the item
/// holds one of them nowhere; true, that it must be checked.
fn may_hold(filter: &[u8], words: &[(u64, u64)]) -> bool {
    let (Some(&FILTER_FORMAT), Some(&probes), Some(bits)) =
        (filter.first(), filter.get(1), filter.get(2..))
    else {
        return true;
    };
    let len = bits.len() * 8;
    if len == 0 {
        return true;
    }
    words.iter().all(|&hashes| {
        (0..probes).all(|i| {
            let bit = probe(hashes, i, len);
            bits[bit / 8] & (1 << (bit % 8)) != 0
        })
    })
}

/// An item's index entry: its key (`filter_key`) and its word filter.
fn filter_entry(stored: &StoredItem) -> (Vec<u8>, Vec<u8>) {
    (
        filter_key(stored.sort_time(), &stored.key),
        filter_of(&words(&searchable_text(stored))),
    )
}

/// The index key of an item: its sort time, then its key (as `by_time`'s).
fn filter_key(time: DateTime<FixedOffset>, key: &ItemKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(24);
    k.extend_from_slice(&time_bytes(time));
    k.extend_from_slice(&key.0);
    k
}

/// Moves an item's filter from what it was (`old`) to what it is (`new`), in the ingest's
/// transaction. Nothing is written when its text and sort time are unchanged.
pub(super) fn reindex(
    tree: &TxView<'_>,
    old: Option<&StoredItem>,
    new: Option<&StoredItem>,
) -> TxResult<()> {
    if let (Some(old), Some(new)) = (old, new)
        && old.content_hash == new.content_hash
        && old.sort_time() == new.sort_time()
    {
        return Ok(());
    }
    if let Some(old) = old {
        tree.remove(filter_key(old.sort_time(), &old.key))?;
    }
    if let Some(new) = new {
        let (key, filter) = filter_entry(new);
        tree.insert(key, filter)?;
    }
    Ok(())
}

/// Filters written per engine transaction while the index is built.
const BUILD_BATCH: usize = 1_000;

impl Store {
    /// Items holding every one of `words` (already folded, as `words` makes them), newest
    /// first. The walk reads the items' filters and decodes only the items that may match
    /// (each then checked itself), as the iterator reaches them: taking 20 decodes 20 records
    /// and the rare false positive. The first search of a store written before the index
    /// existed builds it (once, logged).
    pub fn search(&self, words: &[String]) -> Result<Search<'_>, StoreError> {
        self.ensure_search_index()?;
        let handles = self.handles()?;
        let mut words: Vec<String> = words.iter().filter(|w| !w.is_empty()).cloned().collect();
        words.sort();
        words.dedup();
        let hashes = words.iter().map(|w| word_hashes(w)).collect();
        let walk = (!words.is_empty()).then(|| handles.search.iter().rev());
        Ok(Search {
            store: self,
            handles,
            walk,
            words,
            hashes,
        })
    }

    /// Builds the index from the items if the store does not say it is built.
    fn ensure_search_index(&self) -> Result<(), StoreError> {
        if self.search_built.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let _writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let built = self.read(|h| Ok(h.meta.get(BUILT_KEY)?.is_some()))?;
        if !built {
            let started = std::time::Instant::now();
            tracing::info!(
                items = self.len(),
                "building the search index (once for this store)"
            );
            self.ensure_room()?;
            self.read(|h| {
                let mut batch = kv::Batch::default();
                let mut built = 0u64;
                for entry in h.items.iter() {
                    let (_, bytes) = entry?;
                    let stored: StoredItem = super::records::decode(&bytes)?;
                    let (key, filter) = filter_entry(&stored);
                    batch.insert(key, filter);
                    if batch.len() >= BUILD_BATCH {
                        h.search.apply_batch(std::mem::take(&mut batch))?;
                        built += 1;
                        // The engine frees pages only at a durable commit.
                        if built.is_multiple_of(10) {
                            h.db.flush()?;
                        }
                    }
                }
                h.search.apply_batch(batch)?;
                h.meta.insert(BUILT_KEY, [1u8])?;
                h.db.flush()?;
                Ok(())
            })?;
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "search index built"
            );
        }
        self.search_built
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}

/// A search's results, newest first (see `Store::search`).
pub struct Search<'a> {
    store: &'a Store,
    handles: std::sync::Arc<super::Handles>,
    walk: Option<std::iter::Rev<kv::Iter>>,
    /// Every word, folded, and its hashes.
    words: Vec<String>,
    hashes: Vec<(u64, u64)>,
}

impl Search<'_> {
    /// Passes over up to `n` matches (a later page of results); returns how many there were.
    /// Each is decoded and checked, so that a page never starts at a false positive.
    pub fn pass(&mut self, n: usize) -> Result<usize, StoreError> {
        for passed in 0..n {
            match self.next() {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(passed),
            }
        }
        Ok(n)
    }

    /// Whether the item holds every searched word (its filter said it may).
    fn holds_every_word(&self, stored: &StoredItem) -> bool {
        let held = words(&searchable_text(stored));
        self.words.iter().all(|w| held.contains(w))
    }
}

impl Iterator for Search<'_> {
    type Item = Result<StoredItem, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (index_key, filter) = match self.walk.as_mut()?.next()? {
                Ok(entry) => entry,
                Err(error) => return Some(Err(self.store.fault(error.into()))),
            };
            if !may_hold(&filter, &self.hashes) {
                continue;
            }
            let Some(key) = key_suffix(&index_key) else {
                continue;
            };
            match self.store.item_in(&self.handles, &key) {
                Ok(Some(item)) if self.holds_every_word(&item) => return Some(Ok(item)),
                Ok(_) => continue,
                Err(fault) => return Some(Err(self.store.fault(fault))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(words: &[&str]) -> BTreeSet<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    /// A filter holds every word it was made of, and few others: over 20,000 absent words
    /// at 250 words a filter, the false positives stay near the designed 0.3 %.
    #[test]
    fn a_filter_holds_its_words_and_rarely_others() {
        let held: BTreeSet<String> = (0..250).map(|n| format!("tu{n}")).collect();
        let filter = filter_of(&held);
        assert_eq!(filter.len(), 2 + 3000_usize.div_ceil(64) * 64 / 8);
        for word in &held {
            assert!(may_hold(&filter, &[word_hashes(word)]), "{word} missed");
        }
        let false_positives = (0..20_000)
            .filter(|n| may_hold(&filter, &[word_hashes(&format!("khac{n}"))]))
            .count();
        assert!(
            false_positives < 20_000 / 100,
            "{false_positives} of 20,000 absent words passed"
        );
    }

    /// The stored form is pinned: a filter written by this build is read the same by the
    /// next (a changed hash would lose every match of every stored item).
    #[test]
    fn a_filters_bytes_do_not_change_between_builds() {
        let filter = filter_of(&set(&["phuong", "long", "bien"]));
        assert_eq!(
            filter,
            [1, 8, 98, 34, 76, 49, 137, 140, 16, 85],
            "the filter's format changed: give it a new FILTER_FORMAT and BUILT_KEY"
        );
    }

    /// A filter of an unknown format, or cut short, may hold anything: the item is checked.
    #[test]
    fn an_unknown_filter_is_checked_not_skipped() {
        let hashes = [word_hashes("phuong")];
        assert!(may_hold(&[9, 8, 0, 0], &hashes));
        assert!(may_hold(&[1], &hashes));
        assert!(may_hold(&[], &hashes));
        assert!(!may_hold(&filter_of(&set(&["long"])), &hashes));
    }
}
