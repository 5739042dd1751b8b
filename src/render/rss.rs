//! The RSS 2.0 rendering of a feed document, written with the `rss` crate.
//!
//! RSS leaves much to convention, so the conventions readers expect are spelled out here:
//! `description` is entity-encoded HTML (so a plain-text summary is HTML-escaped before it goes
//! in), the full body goes in `content:encoded`, the author in `dc:creator` (RSS `author` wants
//! an e-mail address), and the self link in `atom:link`.
//!
//! The crate writes `description` and `content:encoded` as CDATA; its XML writer splits a
//! `]]>` in the text across two CDATA sections, so no escaping is needed for that here (a test
//! holds it to that). It does not drop the characters XML forbids, so everything goes through
//! `feed_text` first.

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Enclosure, Guid, Item};

use super::{
    Entry, Feed, entry_html, escape_xml_text, feed_text, image_media_type, is_blank, rfc822,
    stylesheet_instruction,
};
use crate::normalize::decode_entities_and_clean;

/// How long the excerpt standing in for a missing summary may be, in characters: about what
/// a reader shows in a list before cutting it itself.
const EXCERPT_CHARS: usize = 300;

/// The feed as an RSS 2.0 document.
pub fn render(feed: &Feed) -> String {
    let description = if is_blank(&feed.description) {
        // RSS requires a description; an empty one makes validators complain.
        &feed.title
    } else {
        &feed.description
    };
    let channel = Channel {
        title: feed_text(&feed.title),
        link: feed_text(&feed.home_url),
        description: feed_text(description),
        language: Some(feed_text(&feed.language)).filter(|l| !l.is_empty()),
        // The feed's own date, never the time of rendering: the server derives ETags from
        // these bytes, so the same document must always render the same.
        last_build_date: Some(rfc822(&feed.updated)),
        generator: Some("wardfeed".to_owned()),
        atom_ext: Some(AtomExtension {
            links: std::iter::once(("self", Some(&feed.links)))
                .chain([
                    ("current", feed.archive.current.as_ref()),
                    ("prev-archive", feed.archive.prev.as_ref()),
                    ("next-archive", feed.archive.next.as_ref()),
                ])
                .filter_map(|(rel, links)| {
                    links.map(|links| Link {
                        href: feed_text(&links.rss),
                        rel: rel.to_owned(),
                        mime_type: Some("application/rss+xml".to_owned()),
                        ..Link::default()
                    })
                })
                .collect(),
        }),
        namespaces: if feed.archive.is_archive() {
            [("fh".to_owned(), super::HISTORY_NAMESPACE.to_owned())].into()
        } else {
            Default::default()
        },
        extensions: if feed.archive.is_archive() {
            archive_marker()
        } else {
            Default::default()
        },
        items: feed.entries.iter().map(|e| item(feed, e)).collect(),
        ..Channel::default()
    };
    // Writing into a Vec cannot fail on I/O, and every string went through `feed_text`, so
    // an error here would be a bug in the writer: degrade to an empty body rather than panic.
    let xml = match channel.write_to(Vec::new()) {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_default(),
        Err(_) => return String::new(),
    };
    match stylesheet_instruction(feed) {
        // The crate writes no way to add a processing instruction: it goes right after the XML
        // declaration, where browsers look for it.
        Some(instruction) => match xml.split_once("?>") {
            Some((declaration, rest)) if declaration.starts_with("<?xml ") => {
                format!(
                    "{declaration}?>\n{instruction}{}",
                    rest.trim_start_matches('\n')
                )
            }
            _ => format!("{instruction}{xml}"),
        },
        None => xml,
    }
}

/// RFC 5005's `<fh:archive/>`: this document is an archive, not the current feed.
fn archive_marker() -> rss::extension::ExtensionMap {
    let marker = rss::extension::Extension {
        name: "fh:archive".to_owned(),
        ..Default::default()
    };
    [(
        "fh".to_owned(),
        [("archive".to_owned(), vec![marker])].into(),
    )]
    .into()
}

fn item(feed: &Feed, entry: &Entry) -> Item {
    let content = entry_html(entry);
    let description = entry
        .summary
        .as_deref()
        .map(feed_text)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| entry.content_html.as_deref().and_then(excerpt))
        // A story with no body still has its "also published by" line; readers (and the W3C
        // validator) expect a description wherever there is content:encoded.
        .or_else(|| content.as_deref().and_then(excerpt))
        // Readers treat `description` as HTML: escaping keeps a summary that reads
        // "<script>" as text, and never lets it become markup.
        .map(|text| escape_xml_text(&text));
    let id = feed_text(&entry.id);
    Item {
        title: Some(feed_text(&feed.entry_title(entry))),
        link: Some(feed_text(&entry.url)),
        description,
        categories: entry
            .categories
            .iter()
            .map(|name| Category {
                name: feed_text(name),
                domain: None,
            })
            .collect(),
        enclosure: entry.image.as_deref().map(|url| Enclosure {
            url: feed_text(url),
            // The size is unknown without fetching the image; 0 is the accepted "unknown".
            length: "0".to_owned(),
            mime_type: image_media_type(url).to_owned(),
        }),
        guid: Some(Guid {
            // A `urn:uuid:` story id is no place to go; only web addresses are permalinks.
            permalink: is_web_url(&id),
            value: id,
        }),
        pub_date: Some(rfc822(entry.published.as_ref().unwrap_or(&entry.updated))),
        content,
        dublin_core_ext: Some(DublinCoreExtension {
            creators: vec![feed_text(&entry.author.name)],
            ..DublinCoreExtension::default()
        }),
        ..Item::default()
    }
}

fn is_web_url(id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A plain-text excerpt of an HTML body, for entries that have no summary: about
/// `EXCERPT_CHARS` characters cut at a word boundary, with an ellipsis when cut.
fn excerpt(html: &str) -> Option<String> {
    let text = feed_text(&decode_entities_and_clean(&strip_tags(html)));
    if text.is_empty() {
        return None;
    }
    if text.chars().count() <= EXCERPT_CHARS {
        return Some(text);
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    let at_word = match cut.rfind(' ') {
        // Cutting at a space loses at most the last word; a 300-character word gets cut inside.
        Some(space) if space > cut.len() / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    let at_word = at_word.trim_end_matches(|c: char| c.is_whitespace() || ",;:-–".contains(c));
    Some(format!("{at_word}…"))
}

/// The text of an HTML fragment with its tags removed (entities are left for the caller).
/// Block-level tags become spaces so paragraphs do not run into each other; inline tags
/// vanish so that `Ph<em>ường</em>` stays one word. A `<` that does not open a tag (HTML's own
/// rule: a letter, `/`, `!` or `?` must follow) is text.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut chars = html.char_indices().peekable();
    while let Some((start, ch)) = chars.next() {
        let opens_tag = ch == '<'
            && chars
                .peek()
                .is_some_and(|&(_, next)| next.is_ascii_alphabetic() || "/!?".contains(next));
        if !opens_tag {
            out.push(ch);
            continue;
        }
        let mut quote = None;
        let mut end = html.len();
        for (at, c) in chars.by_ref() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => {
                    end = at;
                    break;
                }
                _ => {}
            }
        }
        let name: String = html[start + 1..end]
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if !is_inline_tag(&name) {
            out.push(' ');
        }
    }
    out
}

fn is_inline_tag(name: &str) -> bool {
    matches!(
        name,
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "cite"
            | "code"
            | "data"
            | "dfn"
            | "em"
            | "font"
            | "i"
            | "kbd"
            | "mark"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "u"
            | "var"
    )
}

#[cfg(test)]
mod tests {
    use roxmltree::{Document, Node};

    use super::super::samples::{self, HOSTILE};
    use super::*;

    const CONTENT_NS: &str = "http://purl.org/rss/1.0/modules/content/";
    const DC_NS: &str = "http://purl.org/dc/elements/1.1/";
    const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

    fn child<'a, 'i>(node: Node<'a, 'i>, ns: Option<&str>, name: &str) -> Node<'a, 'i> {
        node.children()
            .find(|n| n.tag_name().name() == name && n.tag_name().namespace() == ns)
            .unwrap_or_else(|| panic!("no <{name}> in <{}>", node.tag_name().name()))
    }

    fn text<'a>(node: Node<'a, '_>, ns: Option<&str>, name: &str) -> &'a str {
        child(node, ns, name).text().unwrap_or("")
    }

    fn items<'a, 'i>(doc: &'a Document<'i>) -> Vec<Node<'a, 'i>> {
        child(doc.root_element(), None, "channel")
            .children()
            .filter(|n| n.has_tag_name("item"))
            .collect()
    }

    #[test]
    fn channel_has_self_link_dates_and_generator() {
        let xml = render(&samples::full_feed());
        let doc = Document::parse(&xml).expect("well-formed");
        let rss = doc.root_element();
        assert_eq!(rss.attribute("version"), Some("2.0"));
        let channel = child(rss, None, "channel");
        assert_eq!(text(channel, None, "title"), "Phường Phúc Lợi");
        assert_eq!(text(channel, None, "link"), "http://phucloi.example.vn/");
        assert_eq!(text(channel, None, "language"), "vi");
        assert_eq!(text(channel, None, "generator"), "wardfeed");
        assert_eq!(
            text(channel, None, "lastBuildDate"),
            "Fri, 06 Jan 2023 07:30:00 +0700"
        );
        let link = child(channel, Some(ATOM_NS), "link");
        assert_eq!(link.attribute("rel"), Some("self"));
        assert_eq!(link.attribute("type"), Some("application/rss+xml"));
        assert_eq!(
            link.attribute("href"),
            Some("http://127.0.0.1:8080/sources/phucloi.rss")
        );
    }

    #[test]
    fn item_fields() {
        let xml = render(&samples::feed(vec![samples::item()]));
        let doc = Document::parse(&xml).expect("well-formed");
        let item = items(&doc)[0];
        assert_eq!(
            text(item, None, "title"),
            "Phường Phúc Lợi tổ chức Hội nghị"
        );
        assert_eq!(
            text(item, None, "link"),
            "http://phucloi.example.vn/tin-tuc/bai-1.html"
        );
        assert_eq!(
            text(item, None, "pubDate"),
            "Wed, 04 Jan 2023 10:09:00 +0700"
        );
        let guid = child(item, None, "guid");
        assert_eq!(
            guid.text(),
            Some("http://phucloi.example.vn/tin-tuc/bai-1.html")
        );
        // RSS 2.0: isPermaLink defaults to true; the rss crate writes it only when false.
        assert_ne!(guid.attribute("isPermaLink"), Some("false"));
        assert_eq!(
            text(item, None, "description"),
            "Sáng 4/1, UBND phường tổ chức hội nghị."
        );
        assert_eq!(
            text(item, Some(CONTENT_NS), "encoded"),
            "<p>Sáng 4/1, <strong>UBND phường</strong> tổ chức.</p>"
        );
        assert_eq!(text(item, Some(DC_NS), "creator"), "Phường Phúc Lợi");
        let categories: Vec<&str> = item
            .children()
            .filter(|n| n.has_tag_name("category"))
            .map(|n| n.text().unwrap_or(""))
            .collect();
        assert_eq!(categories, ["Tin tức", "Sự kiện"]);
        let enclosure = child(item, None, "enclosure");
        assert_eq!(
            enclosure.attribute("url"),
            Some("http://phucloi.example.vn/upload/anh.png")
        );
        assert_eq!(enclosure.attribute("length"), Some("0"));
        assert_eq!(enclosure.attribute("type"), Some("image/png"));
    }

    #[test]
    fn hostile_text_stays_text() {
        let xml = render(&samples::feed(vec![samples::hostile_item()]));
        let doc = Document::parse(&xml).expect("well-formed despite ]]>, U+0008 and C1");
        let item = items(&doc)[0];
        let clean = "Tin & \"sự kiện\" <script>alert('x')</script> ]]> ab cd 🎉 Phường";
        assert_eq!(text(item, None, "title"), clean);
        assert_eq!(text(item, None, "category"), clean);
        assert_eq!(text(item, Some(DC_NS), "creator"), clean);
        // The description is HTML to a reader: the summary's markup arrives escaped once more.
        assert_eq!(
            text(item, None, "description"),
            "Tin &amp; &quot;sự kiện&quot; &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; ]]&gt; ab cd 🎉 Phường"
        );
        let content = text(item, Some(CONTENT_NS), "encoded");
        assert!(
            content.contains("raw ]]> and &amp; and <em>em</em>"),
            "{content}"
        );
        assert!(!content.contains("<script"), "{content}");
        assert!(!xml.contains('\u{8}') && !xml.contains('\u{85}'));
        assert!(!xml.contains(HOSTILE));
    }

    #[test]
    fn bare_item_gets_excerpt_and_updated_date() {
        let xml = render(&samples::feed(vec![samples::bare_item()]));
        let doc = Document::parse(&xml).expect("well-formed");
        let item = items(&doc)[0];
        assert_eq!(
            text(item, None, "pubDate"),
            "Fri, 06 Jan 2023 07:30:00 +0700"
        );
        assert!(item.children().all(|n| !n.has_tag_name("enclosure")));
        let description = text(item, None, "description");
        assert!(
            description.starts_with("Tin Người dân phường Phúc Lợi tham gia dọn vệ sinh môi trường &amp; trồng cây. Người"),
            "{description}"
        );
        assert!(description.ends_with('…'), "{description}");
        let chars = description.replace("&amp;", "&").chars().count();
        assert!((200..=EXCERPT_CHARS + 1).contains(&chars), "{chars}");
    }

    #[test]
    fn combined_item_names_every_source() {
        let xml = render(&samples::feed(vec![samples::combined_item()]));
        let doc = Document::parse(&xml).expect("well-formed");
        let item = items(&doc)[0];
        let guid = child(item, None, "guid");
        assert_eq!(guid.attribute("isPermaLink"), Some("false"));
        assert_eq!(
            guid.text(),
            Some("urn:uuid:0b5f7a8e-3c1d-4f2a-9e6b-1d2c3b4a5f60")
        );
        let content = text(item, Some(CONTENT_NS), "encoded");
        assert!(
            content.starts_with(samples::STORY_CONTENT_START),
            "{content}"
        );
    }

    #[test]
    fn bodiless_story_describes_its_sources() {
        let mut story = samples::combined_item();
        story.summary = None;
        story.content_html = None;
        let xml = render(&samples::feed(vec![story]));
        let doc = Document::parse(&xml).expect("well-formed");
        let item = items(&doc)[0];
        assert_eq!(
            text(item, None, "description"),
            "Cũng được đăng bởi: Phường Phúc Lợi, Quận Long Biên &amp; &quot;các&quot; &lt;phường&gt;"
        );
        assert!(text(item, Some(CONTENT_NS), "encoded").ends_with("</em></p>"));
    }

    #[test]
    fn rendering_is_deterministic_and_keeps_entry_order() {
        let feed = samples::full_feed();
        let xml = render(&feed);
        assert_eq!(xml, render(&feed));
        let doc = Document::parse(&xml).expect("well-formed");
        let links: Vec<&str> = items(&doc)
            .into_iter()
            .map(|item| text(item, None, "link"))
            .collect();
        let expected: Vec<&str> = feed.entries.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(links, expected);
    }

    #[test]
    fn excerpt_cuts_at_a_word() {
        assert_eq!(excerpt("<p>Ngắn gọn.</p>").as_deref(), Some("Ngắn gọn."));
        assert_eq!(excerpt("<p> </p><br>"), None);
        assert_eq!(
            excerpt(r#"<p>Ph<em>ường</em> 1</p><p>a &lt; b <img alt="x > y" src="i.jpg">c</p>"#)
                .as_deref(),
            Some("Phường 1 a < b c")
        );
        let long = excerpt(&"từ ".repeat(200)).unwrap_or_default();
        assert!(long.ends_with("từ…"), "{long}");
        assert!(long.chars().count() <= EXCERPT_CHARS + 1);
    }

    /// An archive document (RFC 5005) in RSS: atom:link current / prev-archive / next-archive
    /// and `<fh:archive/>` in its namespace; a current document has neither marker nor current.
    #[test]
    fn archive_documents_carry_rfc_5005_links_and_marker() {
        let links = |stem: &str| crate::render::FeedLinks {
            rss: format!("http://x/{stem}.rss"),
            atom: format!("http://x/{stem}.atom"),
            json: format!("http://x/{stem}.json"),
        };
        let mut feed = samples::full_feed();
        feed.archive = crate::render::ArchiveLinks {
            current: Some(links("a")),
            prev: Some(links("a/archive/2023-01")),
            next: Some(links("a/archive/2023-03")),
        };
        let xml = render(&feed);
        let doc = Document::parse(&xml).unwrap();
        let channel = child(doc.root_element(), None, "channel");
        let rels: Vec<(&str, &str)> = channel
            .children()
            .filter(|n| n.tag_name().name() == "link" && n.tag_name().namespace() == Some(ATOM_NS))
            .map(|n| (n.attribute("rel").unwrap(), n.attribute("href").unwrap()))
            .collect();
        assert!(rels.contains(&("current", "http://x/a.rss")), "{rels:?}");
        assert!(rels.contains(&("prev-archive", "http://x/a/archive/2023-01.rss")));
        assert!(rels.contains(&("next-archive", "http://x/a/archive/2023-03.rss")));
        let history = Some(crate::render::HISTORY_NAMESPACE);
        assert!(
            channel
                .children()
                .any(|n| n.tag_name().name() == "archive" && n.tag_name().namespace() == history)
        );
        feed.archive.current = None;
        let current = render(&feed);
        assert!(!current.contains("fh:archive") && !current.contains("rel=\"current\""));
        assert!(current.contains("rel=\"prev-archive\""));
    }
}
