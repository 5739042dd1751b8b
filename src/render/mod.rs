//! Rendering: feed documents (RSS 2.0, Atom 1.0, JSON Feed 1.1), the OPML list of every feed,
//! and the district dashboard, as bytes ready to serve.
//!
//! Renderers are pure functions of the documents below; `serve` assembles those documents
//! from the ledger. `rss` types stay in `rss.rs`; nothing here knows about HTTP or sled.

mod atom;
mod dashboard;
mod jsonfeed;
mod opml;
mod rss;

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::model::SourceStatus;

pub use atom::render as atom;
pub use dashboard::render as dashboard;
pub use jsonfeed::render as json_feed;
pub use opml::render as opml;
pub use rss::render as rss;

/// One feed document, whatever its format.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    /// "Phường Phúc Lợi", "Phường Phúc Lợi — Tin mới nhất", "Long Biên — tất cả".
    pub title: String,
    pub description: String,
    /// The page this feed is about: the portal's home for a source, our index otherwise.
    pub home_url: String,
    /// The absolute URLs of this feed in each format; the one being rendered is its self link.
    pub links: FeedLinks,
    /// When anything in the feed last changed: the newest entry's `updated`.
    pub updated: DateTime<FixedOffset>,
    /// Who publishes it (the ward for a source feed, the server's title otherwise).
    pub author: String,
    /// BCP 47 language of the content ("vi").
    pub language: String,
    pub entries: Vec<Entry>,
}

/// One feed entry: an item, or in combined feeds a story.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Permanent, unique within the feed: the canonical article URL, or `urn:uuid:…` for a
    /// story of the combined feed.
    pub id: String,
    /// The article's URL.
    pub url: String,
    pub title: String,
    pub published: Option<DateTime<FixedOffset>>,
    /// Moves only on a real update (title, summary or body), never on a view count.
    pub updated: DateTime<FixedOffset>,
    /// The publishing source (for a story: the earliest one).
    pub author: EntrySource,
    pub categories: Vec<String>,
    /// Plain text.
    pub summary: Option<String>,
    /// Sanitised HTML with absolute links (already safe to embed as-is).
    pub content_html: Option<String>,
    /// Absolute URL of the lead image.
    pub image: Option<String>,
    /// Every source that published the story, earliest first (combined feeds; otherwise empty).
    pub also_published_by: Vec<EntrySource>,
}

/// A source as an entry names it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntrySource {
    pub id: String,
    pub name: String,
    /// The portal's home page.
    pub home_url: String,
    /// This source's own Atom feed on our server (for Atom `<source>` provenance).
    pub feed_url: String,
    /// The source's URL of this entry's article.
    pub url: String,
}

/// The URLs of one feed in the three formats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedLinks {
    pub rss: String,
    pub atom: String,
    pub json: String,
}

/// The OPML document: every feed, grouped.
#[derive(Debug, Clone, PartialEq)]
pub struct Outline {
    pub title: String,
    pub created: DateTime<FixedOffset>,
    /// Feeds not tied to a group: the combined feed, the incident feed.
    pub general: Vec<OutlineFeed>,
    pub groups: Vec<OutlineGroup>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutlineGroup {
    pub name: String,
    /// The group's own combined feed.
    pub feed: OutlineFeed,
    pub sources: Vec<OutlineSource>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutlineSource {
    pub feed: OutlineFeed,
    /// Per-category feeds of the source.
    pub categories: Vec<OutlineFeed>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutlineFeed {
    pub title: String,
    /// The feed's RSS URL (OPML `xmlUrl`).
    pub xml_url: String,
    /// The page it is about (OPML `htmlUrl`).
    pub html_url: String,
}

/// Everything the district dashboard shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub title: String,
    pub generated: DateTime<FixedOffset>,
    pub opml_url: String,
    /// The Atom feed of source health changes.
    pub incidents_url: String,
    /// The combined feed of every source.
    pub combined: FeedLinks,
    /// Monday of each week charted, oldest first (e.g. the last 12 weeks).
    pub weeks: Vec<NaiveDate>,
    pub groups: Vec<DashboardGroup>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DashboardGroup {
    pub name: String,
    pub feeds: FeedLinks,
    pub sources: Vec<DashboardSource>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DashboardSource {
    pub id: String,
    pub name: String,
    pub home_url: String,
    pub feeds: FeedLinks,
    /// (label, feeds) per category.
    pub categories: Vec<(String, FeedLinks)>,
    pub total_items: usize,
    pub last_published: Option<DateTime<FixedOffset>>,
    pub items_7d: usize,
    pub items_30d: usize,
    pub days_since_last_post: Option<i64>,
    /// Highlighted: no post for more than the source's `quiet_after_days`.
    pub quiet: bool,
    pub quiet_after_days: u32,
    pub status: SourceStatus,
    pub last_attempt: Option<DateTime<FixedOffset>>,
    pub last_success: Option<DateTime<FixedOffset>>,
    pub consecutive_failures: u32,
    /// The last failure: kind in words ("layout changed: container not found", "HTTP error",
    /// "timeout"), the category, and the message.
    pub last_error: Option<DashboardError>,
    /// Categories whose listing answered with no items ("empty listing").
    pub empty_listings: Vec<String>,
    /// Posts per charted week, aligned with `Dashboard::weeks`.
    pub weekly_posts: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DashboardError {
    pub at: DateTime<FixedOffset>,
    pub kind: String,
    pub category: String,
    pub message: String,
}

/// Incidents, as the incident feed shows them, are ordinary entries of a `Feed`: errors never
/// become items of content feeds.
pub fn escape_xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// Characters XML 1.0 allows (and that we keep: no C1 controls either).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (!c.is_control() && !matches!(c, '\u{fffe}' | '\u{ffff}'))
}
