//! The Atom 1.0 (RFC 4287) rendering of a feed document, written by hand.
//!
//! Written rather than built with `atom_syndication` because that crate leaves out
//! `type="text"` and puts elements in its own order; Atom is small enough to spell out, and every
//! piece of text goes through one escaping function on its way in.

use super::{
    Entry, Feed, entry_html, escape_xml_text, feed_text, image_media_type, is_blank, rfc3339,
    stylesheet_instruction,
};

const NAMESPACE: &str = "http://www.w3.org/2005/Atom";

/// The feed as an Atom 1.0 document.
pub fn render(feed: &Feed) -> String {
    let mut xml = Xml::default();
    xml.raw("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    if let Some(instruction) = stylesheet_instruction(feed) {
        xml.raw(&instruction);
    }
    let mut root = vec![("xmlns", NAMESPACE)];
    if feed.archive.is_archive() {
        root.push(("xmlns:fh", super::HISTORY_NAMESPACE));
    }
    if !is_blank(&feed.language) {
        root.push(("xml:lang", &feed.language));
    }
    xml.open("feed", &root);
    xml.text("id", &[], &feed.links.atom);
    xml.text("title", &[("type", "text")], &feed.title);
    if !is_blank(&feed.description) {
        xml.text("subtitle", &[("type", "text")], &feed.description);
    }
    // The feed's own date, never the time of rendering: ETags come from these bytes.
    xml.text("updated", &[], &rfc3339(&feed.updated));
    xml.empty(
        "link",
        &[
            ("rel", "self"),
            ("type", "application/atom+xml"),
            ("href", &feed.links.atom),
        ],
    );
    xml.empty(
        "link",
        &[
            ("rel", "alternate"),
            ("type", "text/html"),
            ("href", &feed.home_url),
        ],
    );
    // RFC 5005: the way to the current document and along the archives.
    for (rel, links) in [
        ("current", &feed.archive.current),
        ("prev-archive", &feed.archive.prev),
        ("next-archive", &feed.archive.next),
    ] {
        if let Some(links) = links {
            xml.empty(
                "link",
                &[
                    ("rel", rel),
                    ("type", "application/atom+xml"),
                    ("href", &links.atom),
                ],
            );
        }
    }
    xml.open("author", &[]);
    xml.text("name", &[], &feed.author);
    xml.close("author");
    xml.text("generator", &[], "wardfeed");
    if feed.archive.is_archive() {
        xml.empty("fh:archive", &[]);
    }
    for entry in &feed.entries {
        write_entry(&mut xml, entry, feed);
    }
    xml.close("feed");
    xml.out
}

fn write_entry(xml: &mut Xml, entry: &Entry, feed: &Feed) {
    xml.open("entry", &[]);
    xml.text("id", &[], &entry.id);
    xml.text("title", &[("type", "text")], &feed.entry_title(entry));
    xml.text("updated", &[], &rfc3339(&entry.updated));
    if let Some(published) = &entry.published {
        xml.text("published", &[], &rfc3339(published));
    }
    xml.open("author", &[]);
    // Atom requires a name; a source always has one, but a blank one must not make the
    // entry invalid, and the feed's publisher is the next best answer.
    let name = if is_blank(&entry.author.name) {
        &feed.author
    } else {
        &entry.author.name
    };
    xml.text("name", &[], name);
    if !is_blank(&entry.author.home_url) {
        xml.text("uri", &[], &entry.author.home_url);
    }
    xml.close("author");
    xml.empty(
        "link",
        &[
            ("rel", "alternate"),
            ("type", "text/html"),
            ("href", &entry.url),
        ],
    );
    if let Some(image) = &entry.image {
        xml.empty(
            "link",
            &[
                ("rel", "enclosure"),
                ("type", image_media_type(image)),
                ("href", image),
            ],
        );
    }
    for category in &entry.categories {
        xml.empty("category", &[("term", category)]);
    }
    if !entry.also_published_by.is_empty() && !is_blank(&entry.author.feed_url) {
        // RFC 4287 §4.2.11: a story copied from another feed names that feed. Ours is the
        // earliest publisher's own feed on this server (with no such feed, there is none to name).
        xml.open("source", &[]);
        xml.text("id", &[], &entry.author.feed_url);
        xml.text("title", &[("type", "text")], &entry.author.name);
        xml.empty(
            "link",
            &[
                ("rel", "self"),
                ("type", "application/atom+xml"),
                ("href", &entry.author.feed_url),
            ],
        );
        xml.text("updated", &[], &rfc3339(&entry.updated));
        xml.close("source");
    }
    if let Some(summary) = entry.summary.as_deref().filter(|s| !is_blank(s)) {
        xml.text("summary", &[("type", "text")], summary);
    }
    if let Some(html) = entry_html(entry) {
        // type="html": the markup travels escaped, as text, and the reader unescapes it once.
        xml.text("content", &[("type", "html")], &html);
    }
    xml.close("entry");
}

/// A minimal XML writer: every attribute value and text node is cleaned and escaped here, so
/// no caller can forget to.
#[derive(Default)]
struct Xml {
    out: String,
}

impl Xml {
    fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            self.out.push_str(&escape_xml_text(&feed_text(value)));
            self.out.push('"');
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
    }

    fn text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start_tag(name, attrs);
        self.out.push('>');
        self.out.push_str(&escape_xml_text(&feed_text(text)));
        self.close(name);
    }
}

#[cfg(test)]
mod tests {
    use roxmltree::{Document, Node};

    use super::super::samples::{self, HOSTILE};
    use super::*;

    fn children<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
        node.children()
            .filter(|n| n.tag_name().name() == name && n.tag_name().namespace() == Some(NAMESPACE))
            .collect()
    }

    fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Node<'a, 'i> {
        children(node, name)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no <{name}> in <{}>", node.tag_name().name()))
    }

    fn text<'a>(node: Node<'a, '_>, name: &str) -> &'a str {
        child(node, name).text().unwrap_or("")
    }

    fn link<'a, 'i>(node: Node<'a, 'i>, rel: &str) -> Node<'a, 'i> {
        children(node, "link")
            .into_iter()
            .find(|l| l.attribute("rel") == Some(rel))
            .unwrap_or_else(|| panic!("no link rel={rel}"))
    }

    #[test]
    fn feed_head() {
        let xml = render(&samples::full_feed());
        let doc = Document::parse(&xml).expect("well-formed");
        let feed = doc.root_element();
        assert!(feed.has_tag_name((NAMESPACE, "feed")));
        assert_eq!(
            feed.attribute(("http://www.w3.org/XML/1998/namespace", "lang")),
            Some("vi")
        );
        assert_eq!(
            text(feed, "id"),
            "http://127.0.0.1:8080/sources/phucloi.atom"
        );
        assert_eq!(text(feed, "title"), "Phường Phúc Lợi");
        assert_eq!(text(feed, "updated"), "2023-01-06T07:30:00+07:00");
        let this = link(feed, "self");
        assert_eq!(this.attribute("type"), Some("application/atom+xml"));
        assert_eq!(
            this.attribute("href"),
            Some("http://127.0.0.1:8080/sources/phucloi.atom")
        );
        let home = link(feed, "alternate");
        assert_eq!(home.attribute("type"), Some("text/html"));
        assert_eq!(home.attribute("href"), Some("http://phucloi.example.vn/"));
        assert_eq!(text(child(feed, "author"), "name"), "Phường Phúc Lợi");
        assert_eq!(text(feed, "generator"), "wardfeed");
        assert_eq!(children(feed, "entry").len(), 4);
    }

    #[test]
    fn entry_fields() {
        let xml = render(&samples::feed(vec![samples::item()]));
        let doc = Document::parse(&xml).expect("well-formed");
        let entry = child(doc.root_element(), "entry");
        assert_eq!(
            text(entry, "id"),
            "http://phucloi.example.vn/tin-tuc/bai-1.html"
        );
        assert_eq!(text(entry, "updated"), "2023-01-05T08:00:00+07:00");
        assert_eq!(text(entry, "published"), "2023-01-04T10:09:00+07:00");
        let author = child(entry, "author");
        assert_eq!(text(author, "name"), "Phường Phúc Lợi");
        assert_eq!(text(author, "uri"), "http://phucloi.example.vn/");
        assert_eq!(
            link(entry, "alternate").attribute("href"),
            Some("http://phucloi.example.vn/tin-tuc/bai-1.html")
        );
        let enclosure = link(entry, "enclosure");
        assert_eq!(enclosure.attribute("type"), Some("image/png"));
        assert_eq!(
            enclosure.attribute("href"),
            Some("http://phucloi.example.vn/upload/anh.png")
        );
        let terms: Vec<_> = children(entry, "category")
            .iter()
            .map(|c| c.attribute("term").unwrap_or(""))
            .collect();
        assert_eq!(terms, ["Tin tức", "Sự kiện"]);
        let summary = child(entry, "summary");
        assert_eq!(summary.attribute("type"), Some("text"));
        assert_eq!(
            summary.text(),
            Some("Sáng 4/1, UBND phường tổ chức hội nghị.")
        );
        let content = child(entry, "content");
        assert_eq!(content.attribute("type"), Some("html"));
        assert_eq!(
            content.text(),
            Some("<p>Sáng 4/1, <strong>UBND phường</strong> tổ chức.</p>")
        );
        assert!(xml.contains("&lt;p&gt;Sáng 4/1, &lt;strong&gt;"));
        assert!(children(entry, "source").is_empty());
    }

    #[test]
    fn hostile_text_stays_text() {
        let xml = render(&samples::feed(vec![samples::hostile_item()]));
        let doc = Document::parse(&xml).expect("well-formed despite ]]>, U+0008 and C1");
        let entry = child(doc.root_element(), "entry");
        let clean = "Tin & \"sự kiện\" <script>alert('x')</script> ]]> ab cd 🎉 Phường";
        assert_eq!(text(entry, "title"), clean);
        assert_eq!(text(entry, "summary"), clean);
        assert_eq!(text(child(entry, "author"), "name"), clean);
        assert_eq!(child(entry, "category").attribute("term"), Some(clean));
        assert_eq!(
            link(entry, "alternate").attribute("href"),
            Some("http://phucloi.example.vn/tin-tuc/bai-2.html?a=1&b=2")
        );
        let content = text(entry, "content");
        assert!(content.contains("&lt;script&gt;"), "{content}");
        assert!(
            content.contains("raw ]]> and &amp; and <em>em</em>"),
            "{content}"
        );
        assert!(!xml.contains("<script") && !xml.contains(HOSTILE));
        assert!(!xml.contains('\u{8}') && !xml.contains('\u{85}'));
    }

    #[test]
    fn bare_entry_has_no_published_summary_or_image() {
        let xml = render(&samples::feed(vec![samples::bare_item()]));
        let doc = Document::parse(&xml).expect("well-formed");
        let entry = child(doc.root_element(), "entry");
        assert_eq!(text(entry, "updated"), "2023-01-06T07:30:00+07:00");
        for absent in ["published", "summary", "source"] {
            assert!(children(entry, absent).is_empty(), "{absent}");
        }
        assert!(
            children(entry, "link")
                .iter()
                .all(|l| l.attribute("rel") != Some("enclosure"))
        );
        assert!(text(entry, "content").starts_with("<h2>Tin</h2>"));
    }

    #[test]
    fn combined_entry_has_source_and_names_every_publisher() {
        let xml = render(&samples::feed(vec![samples::combined_item()]));
        let doc = Document::parse(&xml).expect("well-formed");
        let entry = child(doc.root_element(), "entry");
        assert_eq!(
            text(entry, "id"),
            "urn:uuid:0b5f7a8e-3c1d-4f2a-9e6b-1d2c3b4a5f60"
        );
        let source = child(entry, "source");
        assert_eq!(
            text(source, "id"),
            "http://127.0.0.1:8080/sources/phucloi.atom"
        );
        assert_eq!(text(source, "title"), "Phường Phúc Lợi");
        assert_eq!(
            link(source, "self").attribute("href"),
            Some("http://127.0.0.1:8080/sources/phucloi.atom")
        );
        assert_eq!(text(source, "updated"), "2023-01-05T08:00:00+07:00");
        assert!(text(entry, "content").starts_with(samples::STORY_CONTENT_START));
    }

    #[test]
    fn rendering_is_deterministic_and_keeps_entry_order() {
        let feed = samples::full_feed();
        let xml = render(&feed);
        assert_eq!(xml, render(&feed));
        let doc = Document::parse(&xml).expect("well-formed");
        let ids: Vec<&str> = children(doc.root_element(), "entry")
            .into_iter()
            .map(|e| text(e, "id"))
            .collect();
        let expected: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, expected);
    }
}
