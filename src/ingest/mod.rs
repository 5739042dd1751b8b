//! Reading a source's own feed into entries: RSS 0.90–2.0 (in any namespace they were written
//! in), RSS 1.0/RDF, Atom 0.3 and 1.0, Microsoft CDF and JSON Feed 1.0/1.1.
//!
//! The bytes are decoded by XML's rules (`fetch::decode::xml`), read into a tolerant element
//! tree (`xml`), and mapped by `syndication` (or `json`). A feed that breaks part way (a bare
//! `&`, a broken character reference, a truncated tail) still gives the entries read before the
//! break, with a warning saying so; a document that is neither XML nor JSON, or whose root is
//! no feed, is an error of its own. Nothing here invents an id: an entry's identity is derived
//! later from its link or guid (`model::identity`).
//!
//! Why not feed-rs (used until issue 10): on feedparser's own test suite it read 0 entries
//! from Atom 0.3, RSS 0.90 and namespaced RSS 2.0 without an error, rejected whole feeds for
//! one unknown `type=`, could not recover from ill-formed input, dropped every date it could
//! not parse itself (so the source's time zone and our date forms never applied), hid whether
//! an RSS guid is a permalink, and its XML reader panicked on some declarations. Each would
//! have needed a pre- or post-processing pass over the XML; the mapping here is smaller than
//! those passes together. TESTING.md has the before/after counts.

mod json;
mod syndication;
pub mod xml;

use chrono_tz::Tz;
use url::Url;

use crate::charset::Charset;
use crate::extract::FieldWarning;
use crate::fetch::decode;
use crate::model::ErrorKind;
use crate::normalize::date::{DateContext, ParsedDate};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Neither XML nor JSON: nothing in it can be read.
    #[error("parse feed {url}: not a feed: {message}")]
    NotAFeed { url: String, message: String },
    /// A well-formed document, but not one of the feed formats (an HTML page, an OPML file).
    #[error("parse feed {url}: unsupported feed format: {what}")]
    Unsupported { url: String, what: String },
}

impl IngestError {
    /// The failure class, in the one vocabulary from fetch to dashboard.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IngestError::NotAFeed { .. } => ErrorKind::FeedParse,
            IngestError::Unsupported { .. } => ErrorKind::UnsupportedFeed,
        }
    }
}

/// What a feed is read with.
#[derive(Debug, Clone, Copy)]
pub struct FeedRequest<'a> {
    /// The URL the feed came from (after redirects): relative links resolve against it.
    pub url: &'a Url,
    /// The HTTP Content-Type, whose `charset` outranks the XML declaration.
    pub content_type: Option<&'a str>,
    /// The source's `charset` override, which outranks everything.
    pub charset: Option<Charset>,
    /// The source's time zone and the fetch time.
    pub dates: DateContext<'a>,
}

impl<'a> FeedRequest<'a> {
    /// A request with no HTTP header or override, read at `dates`.
    pub fn new(url: &'a Url, dates: DateContext<'a>) -> FeedRequest<'a> {
        FeedRequest {
            url,
            content_type: None,
            charset: None,
            dates,
        }
    }

    pub fn tz(&self) -> Tz {
        self.dates.tz
    }
}

/// A feed document, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    /// What it was read as: `RSS 2.0`, `RSS 1.0`, `Atom 0.3`, `JSON Feed 1.1`…
    pub format: String,
    pub title: Option<String>,
    pub entries: Vec<FeedEntry>,
    /// What the admin should know about the document as a whole: an encoding that could not
    /// be decoded, entries recovered from an ill-formed feed.
    pub warnings: Vec<String>,
}

/// One feed entry, normalised. One with neither link nor guid is still an entry here; the
/// pipeline skips it, with a warning (nothing tells it apart from the next refresh's).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    /// The article: the `alternate` link (an HTML one first), else an RSS guid that is a
    /// permalink; never a comments, self, enclosure, license, via or related link.
    pub link: Option<Url>,
    /// The feed's own id (RSS guid, Atom id, JSON Feed id), when it has one.
    pub guid: Option<String>,
    pub title: Option<String>,
    pub published: Option<ParsedDate>,
    /// The description as text: tags stripped, entities decoded (twice-escaped ones too).
    pub summary: Option<String>,
    /// Full content (`content:encoded`, Atom content, JSON `content_html`) as HTML.
    pub content_html: Option<String>,
    pub image: Option<Url>,
    /// Field problems (a date not understood or in the future).
    pub warnings: Vec<FieldWarning>,
    /// The link wardfeed took for this entry before issue 10 (with feed-rs), when that was
    /// another one: `Some(None)` when it took none. An item stored under the identity that
    /// link gave keeps it (`model::identity`), so an upgrade duplicates nothing.
    pub earlier_link: Option<Option<Url>>,
}

/// Reads a feed document.
pub fn parse_feed(bytes: &[u8], request: &FeedRequest<'_>) -> Result<Feed, IngestError> {
    let decoded = decode::xml(bytes, request.content_type, request.charset);
    let read = if decoded.text.trim_start().starts_with(['{', '[']) {
        json::read(&decoded.text, request)
    } else {
        syndication::read(&decoded.text, request)
    };
    let mut feed = match (read, &decoded.warning) {
        (Ok(feed), _) => feed,
        // Unreadable because of its encoding: the error says so.
        (Err(IngestError::NotAFeed { url, message }), Some(warning)) => {
            return Err(IngestError::NotAFeed {
                url,
                message: format!("{message} ({warning})"),
            });
        }
        (Err(error), _) => return Err(error),
    };
    if let Some(warning) = decoded.warning {
        feed.warnings.insert(0, warning);
    }
    Ok(feed)
}

#[cfg(test)]
mod tests;
