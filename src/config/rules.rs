//! A template's or a source's extraction rules as written: plain data that config checks and
//! shares, and that `extract` compiles.
//!
//! Config names no later stage: `parse` is handed the checker (`extract::check_rules`), so a
//! bad selector still fails at load with its file:line:col. What `extract` compiles from the
//! rules is kept beside them (`Rules::compiled`), opaque to config, so that the sources sharing
//! one `Arc<Rules>` — every source that takes its template's rules unchanged — share one
//! compiled copy, compiled once.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use super::file::{ArticleRulesFile, JsonRulesFile, ListingRulesFile};

/// The three sections of rules one template or source writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSpecs {
    pub listing: ListingRulesFile,
    pub article: ArticleRulesFile,
    pub json: JsonRulesFile,
}

/// A mistake in one set of rules: where under them (`listing.title`, `article.remove[2]`,
/// `json.next`) and what is wrong.
pub type RuleError = (String, String);

/// Checks one set of rules — every selector, regex, JSON Pointer, template and date format —
/// the way extraction will compile them, and says every section's first mistake.
pub type RuleCheck = fn(&RuleSpecs) -> Vec<RuleError>;

/// The rules a source extracts by: its own, over its template's (field by field; paging as one
/// setting). Sources that set none of their own hold their template's `Arc`.
#[derive(Debug)]
pub struct Rules {
    /// What this template or source writes itself.
    pub own: RuleSpecs,
    /// The template's rules under these, if any.
    pub template: Option<Arc<Rules>>,
    /// What extraction compiled from these rules, the first time it needed them.
    compiled: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl Rules {
    pub fn new(own: RuleSpecs, template: Option<Arc<Rules>>) -> Rules {
        Rules {
            own,
            template,
            compiled: OnceLock::new(),
        }
    }

    /// Whether `has` holds for the rules written here or in the template under them.
    pub fn any(&self, has: impl Fn(&RuleSpecs) -> bool) -> bool {
        has(&self.own) || self.template.as_ref().is_some_and(|t| t.any(has))
    }

    /// What `compile` makes of these rules, made once and kept. `None` if a different kind of
    /// thing was kept already (only one caller, extraction, keeps anything here).
    pub fn compiled<T: Any + Send + Sync>(&self, compile: impl FnOnce(&Rules) -> T) -> Option<&T> {
        self.compiled
            .get_or_init(|| Box::new(compile(self)))
            .downcast_ref::<T>()
    }
}
