//! Per-source health, the warnings of each source's last refresh, and the incident log of
//! health changes.

use chrono::{DateTime, FixedOffset};

use super::ledger::{get, put};
use super::records::{HealthError, Incident, SourceHealth, decode};
use super::{Store, StoreError};
use crate::model::{ItemWarning, SourceId, SourceStatus};

/// Warnings kept per source: a page of 1,000 undated items should not make a 1,000-line
/// dashboard entry; the count of the rest is kept as one more warning.
pub const MAX_KEPT_WARNINGS: usize = 200;

/// How one refresh of a source went, as the pipeline reports it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Listings and feeds the source has.
    pub listings: usize,
    /// The ones that failed.
    pub failures: Vec<HealthError>,
    /// Categories that answered with no items.
    pub empty: Vec<String>,
    pub items_seen: u64,
    /// What the refresh read past without failing (an undated item, a recovered feed, a next
    /// page that was not followed): shown by the dashboard, kept until the next refresh.
    pub warnings: Vec<ItemWarning>,
}

impl RunOutcome {
    pub fn status(&self) -> SourceStatus {
        if !self.failures.is_empty() && self.failures.len() >= self.listings {
            SourceStatus::Failing
        } else if !self.failures.is_empty() {
            SourceStatus::Degraded
        } else if self.items_seen == 0 {
            SourceStatus::Empty
        } else {
            SourceStatus::Ok
        }
    }
}

impl Store {
    pub fn health(&self, source: &SourceId) -> Result<SourceHealth, StoreError> {
        self.read(|h| {
            Ok(h.health
                .get(source.as_str())?
                .map(|b| decode(&b))
                .transpose()?
                .unwrap_or_default())
        })
    }

    /// Records a refresh's outcome. A change of status is also logged as an incident, which
    /// is returned (a first successful run is not an incident: nothing was wrong before).
    pub fn record_run(
        &self,
        source: &SourceId,
        outcome: &RunOutcome,
        now: DateTime<FixedOffset>,
    ) -> Result<Option<Incident>, StoreError> {
        let _writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (incident, _) = self.commit(|tx| {
            let mut health: SourceHealth = get(&tx.health, source.as_str())?.unwrap_or_default();
            let previous = health.status;
            let status = outcome.status();
            health.status = status;
            health.last_attempt = Some(now);
            health.items_seen = outcome.items_seen;
            health.empty_listings = outcome.empty.clone();
            health.failures = outcome.failures.clone();
            match outcome.failures.first() {
                None => {
                    health.last_success = Some(now);
                    health.consecutive_failures = 0;
                }
                Some(failure) => {
                    health.last_error = Some(failure.clone());
                    health.consecutive_failures += 1;
                }
            }
            put(&tx.health, source.as_str(), &health)?;
            put(
                &tx.warnings,
                source.as_str(),
                &kept_warnings(&outcome.warnings),
            )?;
            if status == previous
                || (previous == SourceStatus::Pending && status == SourceStatus::Ok)
            {
                return Ok(None);
            }
            let id = tx.new_id()?;
            let incident = Incident {
                id,
                source: source.clone(),
                at: now,
                from: previous,
                to: status,
                error: outcome.failures.first().cloned(),
            };
            put(&tx.incidents, id.to_be_bytes(), &incident)?;
            Ok(Some(incident))
        })?;
        self.health_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.any_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(incident)
    }

    /// The warnings of the source's last refresh (none before its first).
    pub fn warnings(&self, source: &SourceId) -> Result<Vec<ItemWarning>, StoreError> {
        self.read(|h| {
            Ok(h.warnings
                .get(source.as_str())?
                .map(|b| decode(&b))
                .transpose()?
                .unwrap_or_default())
        })
    }

    /// The newest incidents first.
    pub fn incidents(&self, limit: usize) -> Result<Vec<Incident>, StoreError> {
        self.read(|h| {
            h.incidents
                .iter()
                .rev()
                .take(limit)
                .map(|entry| decode(&entry?.1))
                .collect()
        })
    }
}

/// The warnings a refresh keeps: the first `MAX_KEPT_WARNINGS`, and how many more there were.
fn kept_warnings(warnings: &[ItemWarning]) -> Vec<ItemWarning> {
    let mut kept: Vec<ItemWarning> = warnings.iter().take(MAX_KEPT_WARNINGS).cloned().collect();
    if warnings.len() > MAX_KEPT_WARNINGS {
        kept.push(ItemWarning {
            url: String::new(),
            field: "warnings".to_owned(),
            message: format!(
                "{} more warnings not kept (the log has them all)",
                warnings.len() - MAX_KEPT_WARNINGS
            ),
        });
    }
    kept
}
