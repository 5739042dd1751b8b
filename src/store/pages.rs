//! The page cache: per page, the last answer that carried validators (ETag, Last-Modified),
//! sent again as `If-None-Match` / `If-Modified-Since` and standing in for a 304. The
//! pipeline decides what is kept and prunes it with the items; the store only keeps it.

use super::records::{decode, encode};
use super::{Store, StoreError};
use crate::model::CachedPage;

impl Store {
    /// The page kept under `key`.
    pub fn page(&self, key: &str) -> Result<Option<CachedPage>, StoreError> {
        self.read(|h| h.pages.get(key)?.map(|b| decode(&b)).transpose())
    }

    /// Keeps `page` under `key`; `None` forgets what was kept (an answer without validators
    /// cannot be revalidated).
    pub fn set_page(&self, key: &str, page: Option<&CachedPage>) -> Result<(), StoreError> {
        self.ensure_room()?;
        self.read(|h| {
            match page {
                Some(page) => h.pages.insert(key, encode(page)?)?,
                None => h.pages.remove(key)?,
            };
            Ok(())
        })
    }

    /// Forgets the pages kept under `keys` (the article pages of pruned items).
    pub fn forget_pages<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), StoreError> {
        self.ensure_room()?;
        self.read(|h| {
            for key in keys {
                h.pages.remove(key)?;
            }
            Ok(())
        })
    }

    /// How many pages are kept.
    pub fn pages_len(&self) -> usize {
        self.handles().map_or(0, |h| h.pages.len())
    }
}
