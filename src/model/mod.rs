//! Domain types that cross stage boundaries: source ids, extracted items, item warnings, page
//! validators.
//!
//! Nothing here imports reqwest, scraper, feed-rs, redb or axum: every stage speaks these types,
//! and each third-party type stays inside the stage that owns it.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

pub mod identity;

pub use identity::Identity;

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

/// An item's permanent key: derived from its source and its identity (`identity` says what
/// that is), so the same article always lands on the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey(pub [u8; 16]);

impl ItemKey {
    pub fn derive(source: &SourceId, identity: &str) -> ItemKey {
        let mut hasher = blake3::Hasher::new();
        hasher.update(source.as_str().as_bytes());
        hasher.update(&[0]);
        hasher.update(identity.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        ItemKey(key)
    }

    /// The id a feed entry shows for the item with this key and `url`: the URL when the key
    /// derives from it (rule 1 of `identity`), else a name for the key (`None`: make one).
    pub fn entry_id<'u>(&self, source: &SourceId, url: &'u str) -> Option<&'u str> {
        (!url.is_empty() && *self == ItemKey::derive(source, url)).then_some(url)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<ItemKey> {
        bytes.try_into().ok().map(ItemKey)
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// What a page was fetched with (its ETag and Last-Modified), to ask next time whether it
/// changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// The last answer with validators for one page: what a 304 stands for. The pipeline keeps
/// these in the store and hands their validators to the fetcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedPage {
    pub validators: Validators,
    /// Where the body came from after redirects.
    pub final_url: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a source (or one of its listings) failed, as the dashboard and incident feed name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The listing container is gone: the portal's layout changed.
    LayoutChanged,
    Http,
    Timeout,
    TooLarge,
    Redirects,
    Network,
    /// robots.txt forbids the page.
    Robots,
    /// The source's own feed could not be parsed.
    FeedParse,
    /// The page ended before `</html>`: cut off, so not trusted.
    Truncated,
    /// The page's text does not decode in the charset it declares.
    Encoding,
    /// A redirect led outside the sites the source may fetch from.
    OffSite,
    /// A JSON listing's answer is not JSON.
    JsonParse,
    /// The source's feed URL answers a well-formed document that is no feed format (an HTML
    /// page, an OPML file): not "empty", which would hide that nothing can be read from it.
    UnsupportedFeed,
}

impl ErrorKind {
    /// Words for people (dashboard, incident feed).
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::LayoutChanged => "layout changed: container not found",
            ErrorKind::Http => "HTTP error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TooLarge => "page too large",
            ErrorKind::Redirects => "redirect loop",
            ErrorKind::Network => "network error",
            ErrorKind::Robots => "disallowed by robots.txt",
            ErrorKind::FeedParse => "feed unreadable",
            ErrorKind::Truncated => "page cut off",
            ErrorKind::Encoding => "wrong charset",
            ErrorKind::OffSite => "redirected off the source's sites",
            ErrorKind::JsonParse => "JSON listing unreadable",
            ErrorKind::UnsupportedFeed => "unsupported feed format",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::LayoutChanged => "layout_changed",
            ErrorKind::Http => "http",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Redirects => "redirects",
            ErrorKind::Network => "network",
            ErrorKind::Robots => "robots",
            ErrorKind::FeedParse => "feed_parse",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Encoding => "encoding",
            ErrorKind::OffSite => "off_site",
            ErrorKind::JsonParse => "json_parse",
            ErrorKind::UnsupportedFeed => "unsupported_feed",
        }
    }
}

/// How a source's last refresh went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Never refreshed yet.
    Pending,
    Ok,
    /// Every listing answered, but at least one was empty.
    Empty,
    /// Some listings failed, others worked.
    Degraded,
    /// Every listing failed.
    Failing,
}

impl SourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Pending => "pending",
            SourceStatus::Ok => "ok",
            SourceStatus::Empty => "empty",
            SourceStatus::Degraded => "degraded",
            SourceStatus::Failing => "failing",
        }
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
    /// What the item's key derives from, as the pipeline decided it from the document the
    /// item came from (`identity`). Not stored: a stored item has its key. Empty for an item
    /// made by hand, whose identity is then its URL, or `guid:` its guid without one.
    #[serde(skip)]
    pub identity: Identity,
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
    fn item_keys_are_deterministic_and_source_scoped() {
        let a = SourceId::parse("phucloi").unwrap();
        let b = SourceId::parse("bode").unwrap();
        let url = "http://h/x-1.html";
        assert_eq!(ItemKey::derive(&a, url), ItemKey::derive(&a, url));
        assert_ne!(ItemKey::derive(&a, url), ItemKey::derive(&b, url));
        assert_eq!(ItemKey::derive(&a, url).to_hex().len(), 32);
    }

    #[test]
    fn source_ids_are_url_safe() {
        assert!(SourceId::parse("phuc-loi_2").is_ok());
        for bad in ["", "Phuc", "phúc", "a b", "a/b"] {
            assert!(SourceId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
