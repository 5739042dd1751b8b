//! Rendering: feed documents (RSS 2.0, Atom 1.0, JSON Feed 1.1), the OPML list of every feed,
//! and the district dashboard, as bytes ready to serve.
//!
//! Renderers are pure functions of the documents below; `serve` assembles those documents
//! from the ledger. `rss` types stay in `rss.rs`; nothing here knows about HTTP or the storage engine.

mod atom;
mod dashboard;
mod jsonfeed;
mod opml;
mod rss;
mod search;

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::model::{ErrorKind, ItemWarning, SourceStatus};
pub use crate::normalize::xml::escape_xml_text;
use crate::normalize::xml::{is_xml_char, xml_safe_nfc};

pub use atom::render as atom;
pub use dashboard::render as dashboard;
pub use dashboard::{error_words, status_words};
pub use jsonfeed::render as json_feed;
pub use opml::render as opml;
pub use rss::render as rss;
pub use search::render as search_page;
pub use search::{SearchPage, SearchResult};

/// Results per page of the dashboard's search.
pub const SEARCH_PAGE: usize = 20;

/// The namespace of RFC 5005's `fh:archive` marker.
pub(crate) const HISTORY_NAMESPACE: &str = "http://purl.org/syndication/history/1.0";

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
    /// When anything in the feed last changed, by the ledger's clock (first seen, updated),
    /// never by publisher dates.
    pub updated: DateTime<FixedOffset>,
    /// Who publishes it (the ward for a source feed, the server's title otherwise).
    pub author: String,
    /// BCP 47 language of the content ("vi").
    pub language: String,
    /// Where the XSLT that shows the feed as a page in a browser is (`/feed.xsl`): written as an
    /// `<?xml-stylesheet?>` into RSS and Atom, which feed readers ignore.
    pub stylesheet: Option<String>,
    /// Entry titles start with their publisher's name ("Phường Phúc Lợi: Lịch tiếp…"): for
    /// feeds that mix sources, where same-titled notices of different wards must tell apart.
    pub publisher_in_titles: bool,
    /// RFC 5005 links: set on a current document that has archives, and on every archive.
    pub archive: ArchiveLinks,
    pub entries: Vec<Entry>,
}

/// A feed's place among its archive documents (RFC 5005, "Archived Feeds"). Each link names
/// the document in all three formats; a feed links the one in its own format.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArchiveLinks {
    /// The current document: set only on an archive document (which is then marked as one).
    pub current: Option<FeedLinks>,
    /// The next older archive document (JSON Feed's `next_url`).
    pub prev: Option<FeedLinks>,
    /// The next newer archive document.
    pub next: Option<FeedLinks>,
}

impl ArchiveLinks {
    /// Whether the document is an archive (immutable once its month is closed).
    pub fn is_archive(&self) -> bool {
        self.current.is_some()
    }
}

impl Feed {
    /// An entry's title as this feed shows it (with its publisher's name when the feed says so
    /// and the title does not already start with it; a blank title stays blank).
    pub fn entry_title(&self, entry: &Entry) -> String {
        let publisher = entry.author.name.trim();
        if !self.publisher_in_titles
            || is_blank(publisher)
            || is_blank(&entry.title)
            || entry
                .title
                .to_lowercase()
                .starts_with(&publisher.to_lowercase())
        {
            return entry.title.clone();
        }
        format!("{publisher}: {}", entry.title)
    }
}

/// The `<?xml-stylesheet?>` line of a feed that has a stylesheet (with its newline).
pub(crate) fn stylesheet_instruction(feed: &Feed) -> Option<String> {
    let href = feed.stylesheet.as_deref().filter(|h| !is_blank(h))?;
    Some(format!(
        "<?xml-stylesheet type=\"text/xsl\" href=\"{}\"?>\n",
        escape_xml_text(&feed_text(href))
    ))
}

/// The XSLT that turns our RSS and Atom feeds into a Vietnamese page in a browser: what the feed
/// is, the address to copy into a feed reader, and the entries. Served at `/feed.xsl`.
pub const FEED_STYLESHEET: &str = include_str!("feed.xsl");

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
    /// The group's own combined feed (the office's list has it; a resident's does not).
    pub feed: Option<OutlineFeed>,
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
    /// The office's OPML: every feed.
    pub opml_url: String,
    /// A resident's OPML: the combined feed and one feed per source.
    pub resident_opml_url: String,
    /// The Atom feed of source health changes.
    pub incidents_url: String,
    /// The combined feed of every source.
    pub combined: FeedLinks,
    /// Monday of each week charted, oldest first (e.g. the last 12 weeks).
    pub weeks: Vec<NaiveDate>,
    pub groups: Vec<DashboardGroup>,
    /// Set while the store fails (a full disk, an I/O error): nothing new is kept, and the
    /// page says so above everything else.
    pub store_failing: Option<StoreFailing>,
    /// Which page of the dashboard this is.
    pub page: DashboardPage,
}

/// The dashboard is one page while the sources fit on one; past that, a summary page and a
/// page per group (10,000 sources on one page made 40 MB of HTML).
#[derive(Debug, Clone, PartialEq)]
pub enum DashboardPage {
    /// Every source, in its group's table.
    Whole,
    /// The counts over every source, the sources needing attention (the first
    /// `ATTENTION_SHOWN`, linked to their rows on their group's page, and how many more), and
    /// one line per group with its counts and its page.
    Summary,
    /// One group's sources (`groups` holds only it), and the way back to the summary.
    Group { summary_url: String },
}

/// The store's failure, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreFailing {
    pub since: DateTime<FixedOffset>,
    /// What failed, without the store's path.
    pub error: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DashboardGroup {
    /// The group's id (`group = "longbien"`).
    pub id: String,
    /// Its display name (`[groups.longbien] name`, else the id).
    pub name: String,
    pub feeds: FeedLinks,
    /// The group's own dashboard page (`/groups/ID`).
    pub page_url: String,
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
    /// A source that fetched fine and has not posted for more than this is quiet.
    pub quiet_after_days: u32,
    pub status: SourceStatus,
    pub last_attempt: Option<DateTime<FixedOffset>>,
    pub last_success: Option<DateTime<FixedOffset>>,
    pub consecutive_failures: u32,
    /// The failures of the last refresh, one per failed category (none when it went well).
    pub failures: Vec<DashboardError>,
    /// The last failure ever, shown as history once the source has recovered.
    pub last_error: Option<DashboardError>,
    /// Labels of the categories whose listing answered with no items.
    pub empty_listings: Vec<String>,
    /// Posts per charted week, aligned with `Dashboard::weeks`.
    pub weekly_posts: Vec<u32>,
    /// What the last refresh could not read right (a date it did not understand, a feed
    /// recovered from a break, an encoding it could not decode…): each is something a reader
    /// of the feeds may be missing, so the office sees them, not only the log.
    pub warnings: Vec<ItemWarning>,
    /// (id, name) of the source this one was merged into (`merged_into`): its history is in
    /// that source's feeds; it is neither quiet nor failing, it is merged.
    pub merged_into: Option<(String, String)>,
}

impl DashboardSource {
    /// Quiet: it fetched fine and still has not posted for more than its threshold (or ever).
    /// A source still waiting for its first fetch, or failing wholly or in part, is not quiet:
    /// its silence may be ours.
    pub fn is_quiet(&self) -> bool {
        self.merged_into.is_none()
            && matches!(self.status, SourceStatus::Ok | SourceStatus::Empty)
            && self
                .days_since_last_post
                .is_none_or(|days| days > i64::from(self.quiet_after_days))
    }

    /// Failing wholly or in part, and not merged (a merged ward's old portal may well be gone).
    pub fn is_failing(&self) -> bool {
        self.merged_into.is_none()
            && matches!(self.status, SourceStatus::Failing | SourceStatus::Degraded)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DashboardError {
    pub at: DateTime<FixedOffset>,
    pub kind: ErrorKind,
    /// The category's label (not its slug).
    pub category: String,
    /// The technical message (English, as logged).
    pub message: String,
}

// Helpers shared by the feed renderers (RSS, Atom, JSON Feed, OPML), so that the three formats
// of one feed carry the same text, the same body and the same dates.

/// Text as every feed format carries it: without the characters XML 1.0 forbids (a U+0008
/// would make the whole document unreadable), in NFC so that NFD titles display and compare like
/// their precomposed twins. JSON could carry those characters, but the same entry must read the
/// same in every format.
pub(crate) fn feed_text(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let kept = || text.chars().filter(|&c| is_xml_char(c));
    if crate::normalize::is_nfc(kept()) {
        kept().collect()
    } else {
        kept().nfc().collect()
    }
}

/// Whether text is blank as every format carries it: a summary of control characters is, and
/// must be left out (or replaced) like an empty one rather than written as an empty element.
pub(crate) fn is_blank(text: &str) -> bool {
    feed_text(text).trim().is_empty()
}

/// The entry's body as served: for a story of a combined feed, a line naming every source that
/// published it comes first, so that a reader sees the cross-posting without our dashboard.
///
/// Markup is normalised by `xml_safe_nfc`, never `feed_text`: plain NFC would fuse a
/// tag's `>` with a combining mark after it and turn the text that follows into attributes.
pub(crate) fn entry_html(entry: &Entry) -> Option<String> {
    let body = entry.content_html.as_deref();
    if entry.also_published_by.is_empty() {
        return body.map(xml_safe_nfc);
    }
    let links: Vec<String> = entry
        .also_published_by
        .iter()
        .map(|source| {
            let name = escape_xml_text(&feed_text(&source.name));
            if is_blank(&source.url) {
                // A source we know by name only still counts as a publisher.
                return name;
            }
            format!(
                r#"<a href="{}">{name}</a>"#,
                escape_xml_text(&feed_text(&source.url)),
            )
        })
        .collect();
    let sources = format!("<p><em>Cũng được đăng bởi: {}</em></p>", links.join(", "));
    // Normalised as a whole: the body may begin with a combining mark, right after `</p>`.
    Some(xml_safe_nfc(&match body {
        Some(body) => format!("{sources}{body}"),
        None => sources,
    }))
}

/// Media type of a lead image, from its file extension; portals serve JPEG unless they say
/// otherwise, so that is the default.
pub(crate) fn image_media_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => "image/jpeg",
    }
}

/// RFC 822 date-time with the instant's own offset (`Wed, 04 Jan 2023 10:09:00 +0700`), spelled
/// out rather than left to a locale or to chrono's RFC 2822 writer.
pub(crate) fn rfc822(at: &DateTime<FixedOffset>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// RFC 3339 date-time to the second with the instant's own offset (`2023-01-04T10:09:00+07:00`).
pub(crate) fn rfc3339(at: &DateTime<FixedOffset>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Sample documents for the renderers' tests: the same hostile feed for every format.
#[cfg(test)]
pub(crate) mod samples {
    use chrono::{DateTime, FixedOffset};

    use super::{Entry, EntrySource, Feed, FeedLinks};

    /// Everything portals have sent us that breaks naive feed writers: markup as text, a CDATA
    /// terminator, a backspace, a C1 control, an emoji, and NFD Vietnamese ("Phường" decomposed).
    pub const HOSTILE: &str = "Tin & \"sự kiện\" <script>alert('x')</script> ]]> a\u{8}b c\u{85}d 🎉 Phu\u{31b}o\u{31b}\u{300}ng";

    /// How the content of `full_feed`'s story begins in every format: the line naming its
    /// publishers (their names escaped once), then its own body.
    pub const STORY_CONTENT_START: &str = "<p><em>Cũng được đăng bởi: \
        <a href=\"http://phucloi.example.vn/tin-tuc/bai-1.html\">Phường Phúc Lợi</a>, \
        <a href=\"http://longbien.example.vn/tin?id=7&amp;lang=vi\">Quận Long Biên &amp; &quot;các&quot; &lt;phường&gt;</a>\
        </em></p><p>Sáng 4/1";

    pub fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).expect("sample dates are RFC 3339")
    }

    pub fn source(id: &str, name: &str) -> EntrySource {
        EntrySource {
            id: id.to_owned(),
            name: name.to_owned(),
            home_url: format!("http://{id}.example.vn/"),
            feed_url: format!("http://127.0.0.1:8080/sources/{id}.atom"),
            url: format!("http://{id}.example.vn/tin-tuc/bai-1.html"),
        }
    }

    /// A plain item: every field set, nothing hostile.
    pub fn item() -> Entry {
        Entry {
            id: "http://phucloi.example.vn/tin-tuc/bai-1.html".to_owned(),
            url: "http://phucloi.example.vn/tin-tuc/bai-1.html".to_owned(),
            title: "Phường Phúc Lợi tổ chức Hội nghị".to_owned(),
            published: Some(at("2023-01-04T10:09:00+07:00")),
            updated: at("2023-01-05T08:00:00+07:00"),
            author: source("phucloi", "Phường Phúc Lợi"),
            categories: vec!["Tin tức".to_owned(), "Sự kiện".to_owned()],
            summary: Some("Sáng 4/1, UBND phường tổ chức hội nghị.".to_owned()),
            content_html: Some("<p>Sáng 4/1, <strong>UBND phường</strong> tổ chức.</p>".to_owned()),
            image: Some("http://phucloi.example.vn/upload/anh.png".to_owned()),
            also_published_by: Vec::new(),
        }
    }

    /// Hostile text in every field that carries text.
    pub fn hostile_item() -> Entry {
        Entry {
            id: "http://phucloi.example.vn/tin-tuc/bai-2.html?a=1&b=2".to_owned(),
            url: "http://phucloi.example.vn/tin-tuc/bai-2.html?a=1&b=2".to_owned(),
            title: HOSTILE.to_owned(),
            summary: Some(HOSTILE.to_owned()),
            content_html: Some(format!(
                "<p>{}</p><p>raw ]]> and &amp; and <em>em</em></p>",
                super::escape_xml_text(HOSTILE)
            )),
            categories: vec![HOSTILE.to_owned()],
            author: source("phucloi", HOSTILE),
            ..item()
        }
    }

    /// No summary, no image, never given a publication date; a long body for the excerpt.
    pub fn bare_item() -> Entry {
        let sentence =
            "Người dân phường Phúc Lợi tham gia dọn vệ sinh môi trường &amp; trồng cây. ";
        Entry {
            id: "http://phucloi.example.vn/tin-tuc/bai-3.html".to_owned(),
            url: "http://phucloi.example.vn/tin-tuc/bai-3.html".to_owned(),
            title: "Ra quân dọn vệ sinh".to_owned(),
            published: None,
            updated: at("2023-01-06T07:30:00+07:00"),
            categories: Vec::new(),
            summary: None,
            content_html: Some(format!("<h2>Tin</h2><p>{}</p>", sentence.repeat(10))),
            image: None,
            ..item()
        }
    }

    /// A story of the combined feed, first published by Phúc Lợi, re-posted by the district.
    pub fn combined_item() -> Entry {
        let first = source("phucloi", "Phường Phúc Lợi");
        let mut second = source("longbien", "Quận Long Biên & \"các\" <phường>");
        second.url = "http://longbien.example.vn/tin?id=7&lang=vi".to_owned();
        Entry {
            id: "urn:uuid:0b5f7a8e-3c1d-4f2a-9e6b-1d2c3b4a5f60".to_owned(),
            author: first.clone(),
            also_published_by: vec![first, second],
            ..item()
        }
    }

    pub fn feed(entries: Vec<Entry>) -> Feed {
        Feed {
            title: "Phường Phúc Lợi".to_owned(),
            description: "Tin tức từ cổng thông tin phường Phúc Lợi".to_owned(),
            home_url: "http://phucloi.example.vn/".to_owned(),
            links: FeedLinks {
                rss: "http://127.0.0.1:8080/sources/phucloi.rss".to_owned(),
                atom: "http://127.0.0.1:8080/sources/phucloi.atom".to_owned(),
                json: "http://127.0.0.1:8080/sources/phucloi.json".to_owned(),
            },
            updated: at("2023-01-06T07:30:00+07:00"),
            author: "Phường Phúc Lợi".to_owned(),
            language: "vi".to_owned(),
            stylesheet: None,
            publisher_in_titles: false,
            archive: super::ArchiveLinks::default(),
            entries,
        }
    }

    /// One entry of each kind, in the order a feed would list them.
    pub fn full_feed() -> Feed {
        feed(vec![bare_item(), hostile_item(), item(), combined_item()])
    }
}
