//! Domain types that cross stage boundaries: source ids, extracted items, item warnings.
//!
//! Nothing here imports reqwest, scraper, feed-rs, sled or axum: every stage speaks these types,
//! and each third-party type stays inside the stage that owns it.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// A source's stable identifier (`phucloi`). It survives renames and mergers of wards, so it is
/// the key of everything the daemon keeps about a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceId(String);

impl SourceId {
    /// Accepts lower-case ASCII letters, digits, `-` and `_`: ids appear in URLs and file names.
    pub fn parse(id: &str) -> Result<SourceId, String> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(SourceId(id.to_owned()))
        } else {
            Err(format!(
                "invalid source id {id:?}: use 1-64 lower-case letters, digits, '-' or '_'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One news item as extracted from a source, after normalisation and sanitisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub source: SourceId,
    /// Canonical absolute URL of the article; the item's identity unless `guid` stands in.
    pub url: String,
    /// A source feed's own stable id, used for identity only when the entry has no usable link.
    pub guid: Option<String>,
    pub title: String,
    /// Publication instant in the source's time zone (+07:00 for Vietnamese portals).
    pub published: Option<DateTime<FixedOffset>>,
    /// Category labels as the source shows them, in configuration order.
    pub categories: Vec<String>,
    pub views: Option<u64>,
    pub summary: Option<String>,
    /// Absolute URL of the lead image.
    pub image: Option<String>,
    /// Sanitised article HTML with absolute links and images.
    pub content_html: Option<String>,
    /// HTTP status of the article page when it was fetched (404: the article is gone).
    pub article_status: Option<u16>,
}

impl Item {
    /// The string an item's identity derives from: its canonical URL, or for a feed entry
    /// without a usable link, the feed's guid.
    pub fn identity(&self) -> String {
        match &self.guid {
            Some(guid) if self.url.is_empty() => format!("guid:{guid}"),
            _ => self.url.clone(),
        }
    }
}

/// A problem with one item that does not stop extraction (an unparsed date, a missing title).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemWarning {
    /// The page the item came from.
    pub url: String,
    /// The field concerned (`date`, `title`, `article`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ItemWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.url, self.field, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_are_url_safe() {
        assert!(SourceId::parse("phuc-loi_2").is_ok());
        for bad in ["", "Phuc", "phúc", "a b", "a/b"] {
            assert!(SourceId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
