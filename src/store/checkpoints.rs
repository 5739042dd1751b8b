//! Backfill checkpoints: per source and category, where a `wardfeed backfill` walk goes on
//! (the next listing page, as bytes the pipeline encodes). Written after each page's items are
//! stored, so a walk killed at any moment resumes at the page after the last one stored (or
//! walks that page again, which stores nothing twice). Not sealed, like the page cache: losing
//! a checkpoint costs walking a listing again from its first page, nothing else.

use super::{Store, StoreError};

fn key(source: &str, category: &str) -> String {
    format!("{source}/{category}")
}

impl Store {
    /// Where the backfill of `source`'s `category` goes on, if one was left unfinished.
    pub fn checkpoint(&self, source: &str, category: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|h| {
            Ok(h.checkpoints
                .get(key(source, category))?
                .map(|v| v.to_vec()))
        })
    }

    /// Records (or, with `None`, forgets) where the backfill goes on, durably.
    pub fn set_checkpoint(
        &self,
        source: &str,
        category: &str,
        place: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.ensure_room()?;
        self.read(|h| {
            match place {
                Some(bytes) => h.checkpoints.insert(key(source, category), bytes)?,
                None => h.checkpoints.remove(key(source, category))?,
            };
            h.db.flush()?;
            Ok(())
        })
    }
}
