//! Reading a source's own feed (RSS 2.0, RSS 1.0/RDF, Atom) into entries, with feed-rs.
//!
//! feed-rs gets the raw bytes (it honours the XML declaration's encoding) and never invents
//! ids: an entry's identity is ours to derive from its link or guid, deterministically.

use chrono::{DateTime, FixedOffset};
use chrono_tz::Tz;
use feed_rs::model::{Entry, Link};
use url::Url;

use crate::extract::html_text;
use crate::normalize::{clean_optional, date::in_zone, decode_entities_and_clean, resolve_link};

#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("parse feed {url}: {message}")]
    Parse { url: String, message: String },
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

/// Parses a feed document. `feed_url` resolves relative links.
pub fn parse_feed(bytes: &[u8], feed_url: &Url, tz: Tz) -> Result<Vec<FeedEntry>, IngestError> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        // An empty id marks "the feed gave none"; we never want a random one.
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = parser.parse(bytes).map_err(|e| IngestError::Parse {
        url: feed_url.to_string(),
        message: e.to_string(),
    })?;
    Ok(feed
        .entries
        .iter()
        .map(|entry| feed_entry(entry, feed_url, tz))
        .collect())
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
        let err =
            parse_feed(b"\x00\xffnot xml", &Url::parse("http://h/f").unwrap(), VN).unwrap_err();
        assert!(err.to_string().starts_with("parse feed http://h/f"));
    }
}
