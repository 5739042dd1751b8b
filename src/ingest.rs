//! Reading a source's own feed (RSS 2.0, RSS 1.0/RDF, Atom) into entries, with feed-rs.
//!
//! A feed is read from its raw bytes by XML's own rules (a BOM, else the declaration's
//! encoding, never the HTTP charset or HTML sniffing), decoded here rather than by the parser,
//! which cannot be trusted with declarations (see `utf8_document`). feed-rs never invents
//! ids: an entry's identity is ours to derive from its link or guid, deterministically.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, FixedOffset};
use chrono_tz::Tz;
use encoding_rs::Encoding;
use feed_rs::model::{Entry, Link};
use url::Url;

use crate::extract::html_text;
use crate::model::ErrorKind;
use crate::normalize::{clean_optional, date::in_zone, decode_entities_and_clean, resolve_link};

#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("parse feed {url}: {message}")]
    Parse { url: String, message: String },
}

impl IngestError {
    /// The failure class, in the one vocabulary from fetch to dashboard.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IngestError::Parse { .. } => ErrorKind::FeedParse,
        }
    }
}

/// One feed entry, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub link: Option<Url>,
    /// The feed's own id (RSS guid, Atom id), when it has one.
    pub guid: Option<String>,
    pub title: Option<String>,
    pub published: Option<DateTime<FixedOffset>>,
    /// The description as text: tags stripped, entities decoded (twice-escaped ones too).
    pub summary: Option<String>,
    /// Full content (`content:encoded`, Atom content) when the feed carries it, as HTML.
    pub content_html: Option<String>,
    pub image: Option<Url>,
}

/// Parses a feed document. `feed_url` resolves relative links; `forced_charset` is the source's
/// `charset` override, which outranks whatever the document says about itself.
pub fn parse_feed(
    bytes: &[u8],
    feed_url: &Url,
    forced_charset: Option<&'static Encoding>,
    tz: Tz,
) -> Result<Vec<FeedEntry>, IngestError> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        // An empty id marks "the feed gave none"; we never want a random one.
        .id_generator(|_, _, _| String::new())
        .build();
    let document = utf8_document(bytes, forced_charset);
    let parse_error = |message: String| IngestError::Parse {
        url: feed_url.to_string(),
        message,
    };
    // A parser panic on hostile bytes must cost this feed one run, not its source's
    // scheduler task: it becomes a parse error like any other.
    let feed = catch_unwind(AssertUnwindSafe(|| parser.parse(&document[..])))
        .map_err(|panic| parse_error(format!("the feed parser failed: {}", panic_message(&panic))))?
        .map_err(|e| parse_error(e.to_string()))?;
    Ok(feed
        .entries
        .iter()
        .map(|entry| feed_entry(entry, feed_url, tz))
        .collect())
}

/// The document decoded to UTF-8 here, with no XML declaration left for the parser: the
/// source's forced charset decides the encoding, else a BOM, else the leading declaration's
/// `encoding` (when it names an ASCII-compatible one), else UTF-8; bytes malformed in it become
/// U+FFFD. quick-xml (under
/// feed-rs) switches encodings itself only while a declaration lies within its first 64 bytes,
/// and panics past them: a declaration such as
/// `<?xml version="1.0" encoding="windows-1258" standalone="yes" ?>` is longer, and a hostile
/// feed can put one anywhere, or make one appear out of malformed bytes. So the parser only
/// ever gets valid UTF-8 without declarations: the leading one is dropped and any later one is
/// made an ordinary processing instruction (`<?_xml`), which feed-rs ignores.
fn utf8_document(bytes: &[u8], forced_charset: Option<&'static Encoding>) -> Vec<u8> {
    // The same order as `fetch::decode` for pages, where a forced charset also comes first.
    let (text, _) = match (forced_charset, Encoding::for_bom(bytes)) {
        (Some(forced), _) => forced.decode_with_bom_removal(bytes),
        (None, Some((encoding, bom_length))) => {
            encoding.decode_without_bom_handling(&bytes[bom_length..])
        }
        (None, None) => {
            let declared = declared_encoding(bytes).and_then(Encoding::for_label);
            let usable = declared.filter(|encoding| encoding.is_ascii_compatible());
            usable
                .unwrap_or(encoding_rs::UTF_8)
                .decode_without_bom_handling(bytes)
        }
    };
    let is_declaration = |after_xml: &str| {
        after_xml
            .bytes()
            .next()
            .is_none_or(|byte| byte.is_ascii_whitespace() || byte == b'?')
    };
    let mut rest = &text[..];
    if let Some(after) = rest.strip_prefix("<?xml")
        && is_declaration(after)
        && let Some(end) = rest.find("?>")
    {
        rest = &rest[end + 2..];
    }
    let mut document = String::with_capacity(rest.len());
    while let Some(at) = rest.find("<?xml") {
        document.push_str(&rest[..at]);
        document.push_str(if is_declaration(&rest[at + 5..]) {
            "<?_xml"
        } else {
            "<?xml"
        });
        rest = &rest[at + 5..];
    }
    document.push_str(rest);
    document.into_bytes()
}

/// The `encoding` pseudo-attribute of a leading XML declaration, if there is one.
fn declared_encoding(bytes: &[u8]) -> Option<&[u8]> {
    let declaration = bytes.trim_ascii_start().strip_prefix(b"<?xml")?;
    let declaration = &declaration[..declaration.windows(2).position(|w| w == b"?>")?];
    let after = declaration
        .windows(8)
        .position(|w| w == b"encoding")
        .map(|at| &declaration[at + 8..])?;
    let after = after
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let (&quote, value) = after.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    value.split(|&b| b == quote).next()
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

fn feed_entry(entry: &Entry, feed_url: &Url, tz: Tz) -> FeedEntry {
    let link = article_link(&entry.links).and_then(|href| resolve_link(feed_url, href));
    let guid = clean_optional(&entry.id);
    let summary = entry
        .summary
        .as_ref()
        .map(|text| html_text(&text.content))
        .filter(|text| !text.is_empty());
    let content_html = entry
        .content
        .as_ref()
        .and_then(|content| content.body.clone())
        .filter(|body| !body.trim().is_empty());
    let image = entry
        .media
        .iter()
        .flat_map(|media| {
            let content = media.content.iter().filter_map(|c| {
                let is_image = c.content_type.as_ref().is_none_or(|t| t.ty() == "image");
                c.url.as_ref().filter(|_| is_image).map(|u| u.to_string())
            });
            let thumbnails = media.thumbnails.iter().map(|t| t.image.uri.clone());
            content.chain(thumbnails).collect::<Vec<_>>()
        })
        .find_map(|src| resolve_link(feed_url, &src));
    FeedEntry {
        link,
        guid,
        title: entry
            .title
            .as_ref()
            .map(|t| decode_entities_and_clean(&t.content))
            .filter(|t| !t.is_empty()),
        published: entry
            .published
            .or(entry.updated)
            .map(|utc| in_zone(utc, tz)),
        summary,
        content_html,
        image,
    }
}

/// The entry's article link: Atom's `alternate` (or unlabelled) link first, else any link.
fn article_link(links: &[Link]) -> Option<&str> {
    links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .or_else(|| links.first())
        .map(|l| l.href.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VN: Tz = chrono_tz::Asia::Ho_Chi_Minh;

    fn parse(xml: &str) -> Vec<FeedEntry> {
        parse_feed(
            xml.as_bytes(),
            &Url::parse("http://h/lb/rss/a.rss").unwrap(),
            None,
            VN,
        )
        .unwrap()
    }

    #[test]
    fn reads_rss2_quirks() {
        let entries = parse(
            r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><link>http://h/</link><description>d</description>
            <item><title>Dân vận &amp; Mặt trận</title><link>http://h/lb/x-1.html?utm_source=rss</link>
              <guid isPermaLink="false">917</guid><pubDate>Tue, 20 Dec 2022 16:30:00 +0700</pubDate>
              <description>&lt;p&gt;&lt;img src="/u/1.jpg" /&gt;&lt;/p&gt;&lt;p&gt;vui tươi,&amp;nbsp;an toàn&lt;/p&gt;</description>
              <enclosure url="http://h/lb/u/1.jpg" length="0" type="image/jpeg"/></item>
            </channel></rss>"#,
        );
        let entry = &entries[0];
        assert_eq!(entry.title.as_deref(), Some("Dân vận & Mặt trận"));
        assert_eq!(entry.guid.as_deref(), Some("917"));
        assert_eq!(
            entry.link.as_ref().unwrap().as_str(),
            "http://h/lb/x-1.html?utm_source=rss"
        );
        assert_eq!(
            entry.published.unwrap().to_rfc3339(),
            "2022-12-20T16:30:00+07:00"
        );
        assert_eq!(entry.summary.as_deref(), Some("vui tươi, an toàn"));
        assert_eq!(
            entry.image.as_ref().unwrap().as_str(),
            "http://h/lb/u/1.jpg"
        );
    }

    #[test]
    fn entries_without_ids_get_none_not_a_random_id() {
        let xml = r#"<rss version="2.0"><channel><title>t</title><item><title>a</title><link>http://h/a</link></item></channel></rss>"#;
        let first = parse(xml);
        assert_eq!(first[0].guid, None);
        assert_eq!(first, parse(xml));
    }

    #[test]
    fn reads_atom_and_rdf() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id><updated>2023-01-01T00:00:00Z</updated>
            <entry><id>urn:e1</id><title>E</title><link rel="alternate" href="/p/1"/><updated>2023-01-02T03:00:00Z</updated></entry></feed>"#;
        let entries = parse(atom);
        assert_eq!(entries[0].link.as_ref().unwrap().as_str(), "http://h/p/1");
        assert_eq!(
            entries[0].published.unwrap().to_rfc3339(),
            "2023-01-02T10:00:00+07:00"
        );
        let rdf = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
            <channel rdf:about="http://h/"><title>t</title><link>http://h/</link><description>d</description></channel>
            <item rdf:about="http://h/r1"><title>R</title><link>http://h/r1</link></item></rdf:RDF>"#;
        assert_eq!(parse(rdf)[0].title.as_deref(), Some("R"));
    }

    #[test]
    fn garbage_is_an_error() {
        let err = parse_feed(
            b"\x00\xffnot xml",
            &Url::parse("http://h/f").unwrap(),
            None,
            VN,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("parse feed http://h/f"));
    }

    fn windows_1258_feed(declaration: &str) -> Vec<u8> {
        // Windows-1258 writes tones as combining marks: NFC is our job, after decoding.
        let body = "<rss version=\"2.0\"><channel><title>t</title><item><title>Phươ\u{300}ng Phúc Lơ\u{323}i</title><link>http://h/a</link></item></channel></rss>";
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1258.encode(body);
        assert!(!unmappable);
        [declaration.as_bytes(), &bytes[..]].concat()
    }

    #[test]
    fn honours_a_declared_encoding_however_long_the_declaration() {
        // Within quick-xml's 64-byte window, and past it (where it used to panic).
        for declaration in [
            r#"<?xml version="1.0" encoding="windows-1258"?>"#,
            r#"<?xml version="1.0" encoding="windows-1258" standalone="yes"      ?>"#,
        ] {
            let feed = windows_1258_feed(declaration);
            let entries = parse_feed(&feed, &Url::parse("http://h/f").unwrap(), None, VN).unwrap();
            assert_eq!(
                entries[0].title.as_deref(),
                Some("Phường Phúc Lợi"),
                "{declaration}"
            );
        }
    }

    #[test]
    fn a_forced_charset_outranks_what_the_feed_says_about_itself() {
        let url = Url::parse("http://h/f").unwrap();
        for declaration in ["", r#"<?xml version="1.0" encoding="utf-8"?>"#, "\u{feff}"] {
            let feed = windows_1258_feed(declaration);
            let forced = parse_feed(&feed, &url, Some(encoding_rs::WINDOWS_1258), VN).unwrap();
            assert_eq!(
                forced[0].title.as_deref(),
                Some("Phường Phúc Lợi"),
                "{declaration:?}"
            );
            // Without the override the same bytes are read as UTF-8, wrongly.
            let unforced = parse_feed(&feed, &url, None, VN).unwrap();
            assert_ne!(unforced[0].title.as_deref(), Some("Phường Phúc Lợi"));
        }
    }

    #[test]
    fn hostile_declarations_are_errors_or_entries_never_panics() {
        let url = Url::parse("http://h/f").unwrap();
        // Found by the ingest_feed fuzz target (fuzz/seeds/ingest_feed/fixed-*): quick-xml
        // panicked on each. A panic would be caught, so the message says whether one was.
        let stray = r#"<rss version="2.0"><channel><title>t</title><?xml version="1.0" encoding="windows-1258" standalone="yes"?><item><title>a</title></item></channel></rss>"#;
        for fuzzed in [
            &b"<?xml versio-ng=\"windows-12\x00\x00\x11\x00>70D70D\" encoding=\"windows-1258\"?>"[..],
            b"<?xml version = \"1.0\" encoding \xe1= \"windows-1258\" standalone = \"yes\"?>\n<rss version=\"2.0\"><channel><title>t</title><item><ti\x00\x00\x00lone = \"y>",
            b"<?xm\x80l versio-ng=\"windows-12\x00\x00\x11\x00>70D70D\" encoding=\"windows-1258\"?>",
            stray.as_bytes(),
        ] {
            if let Err(error) = parse_feed(fuzzed, &url, None, VN) {
                assert!(!error.to_string().contains("parser failed"), "{error}");
            }
        }
        for declaration in [
            r#"<?xml version="1.0" encoding="utf-16"                             ?>"#,
            r#"<?xml version="1.0" encoding="iso-2022-kr"                        ?>"#,
            r#"<?xml version="1.0" encoding="no-such-thing"                      ?>"#,
            "\u{feff}<?xml version=\"1.0\" encoding=\"windows-1258\"                 ?>",
        ] {
            let feed = format!(
                "{declaration}<rss version=\"2.0\"><channel><title>t</title><item><title>Lợi</title><link>http://h/a</link></item></channel></rss>"
            );
            let entries = parse_feed(feed.as_bytes(), &url, None, VN);
            // Each is read as the UTF-8 it is.
            assert_eq!(
                entries.unwrap()[0].title.as_deref(),
                Some("Lợi"),
                "{declaration}"
            );
        }
    }

    #[test]
    fn a_stray_malformed_byte_costs_one_character_not_the_feed() {
        let feed = b"<rss version=\"2.0\"><channel><title>t</title><item><title>L\xffi</title><link>http://h/a</link></item></channel></rss>";
        let entries = parse_feed(feed, &Url::parse("http://h/f").unwrap(), None, VN).unwrap();
        assert_eq!(entries[0].title.as_deref(), Some("L\u{fffd}i"));
    }
}
