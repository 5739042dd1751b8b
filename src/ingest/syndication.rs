//! RSS (0.90–2.0, any namespace), RSS 1.0/RDF, Atom 0.3 and 1.0 and CDF, from the element tree.
//!
//! Elements are matched by local name within the feed vocabularies (no namespace, the RSS,
//! RDF-RSS, UserLand and Atom namespaces, and the root's own), as feed readers do, so that
//! RSS 2.0 written in `http://backend.userland.com/rss2` or an Atom feed with `<item>`s reads
//! like any other. Extension elements (Dublin Core, content, Media RSS, XHTML) are matched by
//! their namespace. An unknown `type=` is read as text, or as HTML when it says html.

use base64::Engine as _;
use url::Url;

use super::xml::{self, Element, XML_NS};
use super::{Feed, FeedEntry, FeedRequest, IngestError};
use crate::extract::{FieldWarning, date_warning, html_text};
use crate::normalize::date::{ParsedDate, parse_date};
use crate::normalize::{clean_optional, clean_text, decode_entities_and_clean, resolve_link};

const ATOM_10: &str = "http://www.w3.org/2005/Atom";
const ATOM_03: &str = "http://purl.org/atom/ns#";
const RSS_090: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS_10: &str = "http://purl.org/rss/1.0/";
const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const DC: &str = "http://purl.org/dc/elements/1.1/";
const DCTERMS: &str = "http://purl.org/dc/terms/";
const CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";
const XHTML: &str = "http://www.w3.org/1999/xhtml";
const WFW: &str = "http://wellformedweb.org/CommentAPI/";

/// The vocabularies whose `item`, `title`, `link`… are the feed's own.
const FEED_NAMESPACES: &[&str] = &[
    "",
    ATOM_10,
    ATOM_03,
    RSS_090,
    RSS_10,
    "http://backend.userland.com/rss2",
    "http://backend.userland.com/rss",
    "http://purl.org/net/rss1.1#",
];

fn is_media(ns: &str) -> bool {
    ns.trim_end_matches('/') == "http://search.yahoo.com/mrss"
}

/// Reading state shared by every entry of one document.
struct Reader<'r> {
    request: &'r FeedRequest<'r>,
    /// The root's namespace, which counts as the feed's own whatever it is.
    root_ns: String,
    atom: bool,
}

impl Reader<'_> {
    fn own(&self, element: &Element, name: &str) -> bool {
        element.is(name)
            && (FEED_NAMESPACES.contains(&element.ns.as_str()) || element.ns == self.root_ns)
    }

    fn child<'e>(&self, parent: &'e Element, name: &str) -> Option<&'e Element> {
        parent.elements().find(|e| self.own(e, name))
    }
}

fn in_ns<'e>(parent: &'e Element, ns: &str, name: &str) -> Option<&'e Element> {
    parent.elements().find(|e| e.ns == ns && e.is(name))
}

/// The base URL inside `element`: its `xml:base` resolved against the parent's.
fn base_of(parent: &Url, element: &Element) -> Url {
    element
        .attr_ns(XML_NS, "base")
        .and_then(|base| parent.join(base.trim()).ok())
        .unwrap_or_else(|| parent.clone())
}

pub fn read(text: &str, request: &FeedRequest<'_>) -> Result<Feed, IngestError> {
    let document = xml::parse(text);
    let url = request.url.to_string();
    let Some(root) = document.root else {
        let message = document
            .problems
            .first()
            .cloned()
            .unwrap_or_else(|| "no XML element in it".to_owned());
        return Err(IngestError::NotAFeed { url, message });
    };
    // Random bytes can open with `<` too: only a root with a real name is a document.
    let named = root
        .name
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && root
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !named {
        return Err(IngestError::NotAFeed {
            url,
            message: "no XML element in it".to_owned(),
        });
    }
    let format = format_of(&root).ok_or_else(|| IngestError::Unsupported {
        url: url.clone(),
        what: format!(
            "the document is <{}>, not an RSS, RDF, Atom or JSON feed",
            root.name
        ),
    })?;
    let reader = Reader {
        request,
        root_ns: root.ns.clone(),
        atom: format.starts_with("Atom"),
    };
    let mut base = base_of(request.url, &root);
    // CDF names its base in an attribute of its own.
    if format == "CDF"
        && let Some(cdf_base) = root.attr("base").and_then(|b| base.join(b.trim()).ok())
    {
        base = cdf_base;
    }
    let channel = reader.child(&root, "channel").unwrap_or(&root);
    let title = reader
        .child(channel, "title")
        .or_else(|| reader.child(&root, "title"))
        .map(|t| reader.plain_text(t))
        .filter(|t| !t.is_empty());

    let mut found = Vec::new();
    collect_entries(&reader, &root, &base, &mut found, 0);
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    let mut cut_off = 0;
    for (element, base) in found {
        if !element.complete {
            cut_off += 1;
            continue;
        }
        entries.push(reader.entry(element, &base));
    }
    if !document.problems.is_empty() {
        let left_out = if cut_off > 0 {
            format!(" ({cut_off} cut off and left out)")
        } else {
            String::new()
        };
        let more = match document.problems.len() {
            1 => String::new(),
            n => format!(" (and {} more problems)", n - 1),
        };
        warnings.push(format!(
            "recovered {} entries from an ill-formed feed{left_out}: {}{more}",
            entries.len(),
            document.problems[0]
        ));
    }
    Ok(Feed {
        format,
        title,
        entries,
        warnings,
    })
}

/// `RSS 2.0`, `RSS 1.0`, `Atom 0.3`…, or `None` for a root that is no feed.
fn format_of(root: &Element) -> Option<String> {
    let version = root
        .attr("version")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if root.is("rss") {
        return Some(format!("RSS {}", version.unwrap_or("2.0")));
    }
    if root.is("RDF") {
        let rss = root
            .elements()
            .find_map(|e| match e.ns.as_str() {
                RSS_090 => Some("RSS 0.90"),
                RSS_10 => Some("RSS 1.0"),
                _ => None,
            })
            .unwrap_or("RSS 1.0");
        return Some(rss.to_owned());
    }
    if root.is("feed") {
        let old = root.ns == ATOM_03 || version == Some("0.3");
        return Some(if old { "Atom 0.3" } else { "Atom 1.0" }.to_owned());
    }
    if root.is("channel") {
        return Some("CDF".to_owned());
    }
    None
}

/// Every `item` or `entry` under `element` (not inside another), with its base URL.
fn collect_entries<'e>(
    reader: &Reader<'_>,
    element: &'e Element,
    base: &Url,
    found: &mut Vec<(&'e Element, Url)>,
    depth: usize,
) {
    for child in element.elements() {
        let base = base_of(base, child);
        if reader.own(child, "item") || reader.own(child, "entry") {
            found.push((child, base));
        } else if depth < 8 {
            collect_entries(reader, child, &base, found, depth + 1);
        }
    }
}

/// A text construct's content, as text or as HTML.
enum Content {
    Text(String),
    Html(String),
}

impl Reader<'_> {
    fn entry(&self, element: &Element, base: &Url) -> FeedEntry {
        let mut warnings = Vec::new();
        let link = self.article_link(element, base);
        let guid = self
            .child(element, "guid")
            .or_else(|| self.child(element, "id"))
            .and_then(|g| clean_optional(&g.text()))
            .or_else(|| element.attr_ns(RDF, "about").and_then(clean_optional));
        let earlier = self.earlier_link(element, base);
        let title = self
            .child(element, "title")
            .or_else(|| in_ns(element, DC, "title"))
            .or_else(|| {
                element
                    .elements()
                    .find(|e| is_media(&e.ns) && e.is("title"))
            })
            .map(|t| self.plain_text(t))
            .filter(|t| !t.is_empty());
        let summary = ["description", "summary", "abstract"]
            .iter()
            .find_map(|name| self.child(element, name))
            .or_else(|| in_ns(element, DC, "description"))
            .map(|s| match self.content(s, true) {
                Content::Text(text) => clean_text(&text),
                Content::Html(html) => html_text(&html),
            })
            .filter(|s| !s.is_empty());
        let content_html = in_ns(element, CONTENT, "encoded")
            .map(|c| c.text())
            .or_else(|| {
                self.child(element, "content")
                    .map(|c| match self.content(c, false) {
                        Content::Html(html) => html,
                        Content::Text(text) => html_escape::encode_text(&text).into_owned(),
                    })
            })
            .or_else(|| in_ns(element, XHTML, "body").map(Element::inner_markup))
            .filter(|c| !c.trim().is_empty());
        FeedEntry {
            earlier_link: (earlier != link).then_some(earlier),
            link,
            guid,
            title,
            published: self.published(element, &mut warnings),
            summary,
            content_html,
            image: self.image(element, base),
            warnings,
        }
    }

    /// The entry's article: an `alternate` link (HTML first), else an RSS guid that is a
    /// permalink, else RDF's `rdf:about` or CDF's `href`.
    fn article_link(&self, entry: &Element, base: &Url) -> Option<Url> {
        let mut best: Option<(u8, Url)> = None;
        for link in entry.elements().filter(|e| self.own(e, "link")) {
            let base = base_of(base, link);
            let (rank, href) = match link.attr("href") {
                Some(href) => {
                    if relation(link) != "alternate" {
                        continue;
                    }
                    let html = link.attr("type").is_none_or(|t| {
                        let t = t.to_ascii_lowercase();
                        t.contains("html")
                    });
                    (u8::from(!html), href.to_owned())
                }
                None => (0, link.text()),
            };
            if let Some(url) = resolve_link(&base, &href)
                && best.as_ref().is_none_or(|(r, _)| rank < *r)
            {
                best = Some((rank, url));
            }
        }
        best.map(|(_, url)| url)
            .or_else(|| {
                let guid = self.child(entry, "guid")?;
                let permalink = guid
                    .attr("isPermaLink")
                    .is_none_or(|p| !p.trim().eq_ignore_ascii_case("false"));
                permalink
                    .then(|| resolve_link(&base_of(base, guid), &guid.text()))
                    .flatten()
            })
            .or_else(|| {
                entry
                    .attr_ns(RDF, "about")
                    .and_then(|a| resolve_link(base, a))
            })
            .or_else(|| entry.attr("href").and_then(|h| resolve_link(base, h)))
    }

    /// The link feed-rs (before issue 10) would have given: the first `link`, `comments` or
    /// `wfw:commentRss` text or alternate `link href` in document order, else the first link
    /// of any relation; RSS guids never.
    fn earlier_link(&self, entry: &Element, base: &Url) -> Option<Url> {
        let mut any = None;
        for child in entry.elements() {
            let base = base_of(base, child);
            let (href, alternate) = if self.own(child, "link") {
                match child.attr("href") {
                    Some(href) => (href.to_owned(), relation(child) == "alternate"),
                    None => (child.text(), true),
                }
            } else if (self.own(child, "comments") && !self.atom)
                || (child.ns == WFW && child.is("commentRss"))
            {
                (child.text(), true)
            } else {
                continue;
            };
            let url = resolve_link(&base, &href);
            if alternate && url.is_some() {
                return url;
            }
            any = any.or(url);
        }
        any
    }

    /// The first date that reads, published before updated before created (as readers
    /// show them); if none reads, a warning quoting the first.
    fn published(&self, entry: &Element, warnings: &mut Vec<FieldWarning>) -> Option<ParsedDate> {
        let rank = |e: &Element| -> Option<u8> {
            let own = |names: &[&str]| names.iter().any(|name| self.own(e, name));
            let dublin = |ns: &str, names: &[&str]| e.ns == ns && names.iter().any(|n| e.is(n));
            if own(&["pubDate", "published", "issued"]) || dublin(DCTERMS, &["issued"]) {
                Some(0)
            } else if own(&["updated", "modified"])
                || dublin(DC, &["date"])
                || dublin(DCTERMS, &["modified"])
            {
                Some(1)
            } else if own(&["created"]) || dublin(DCTERMS, &["created", "date"]) {
                Some(2)
            } else {
                None
            }
        };
        let mut dated: Vec<(u8, String)> = entry
            .elements()
            .filter_map(|e| rank(e).map(|r| (r, e.text())))
            .collect();
        // CDF puts it in an attribute.
        if let Some(lastmod) = entry.attr("lastmod") {
            dated.push((3, lastmod.to_owned()));
        }
        // Within a kind, the last written wins, as in feedparser (a feed that repeats an
        // element corrects itself further down).
        dated.reverse();
        dated.sort_by_key(|(rank, _)| *rank);
        let mut first_error = None;
        for (_, text) in dated.iter().filter(|(_, t)| !t.trim().is_empty()) {
            match parse_date(text, &self.request.dates) {
                Ok(date) => {
                    if let Some(error) = first_error {
                        warnings.push(FieldWarning {
                            field: "date",
                            message: format!("{error}; took the entry's next date instead"),
                        });
                    }
                    return Some(date);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            warnings.push(date_warning(&error));
        }
        None
    }

    /// The lead image: Media RSS content or thumbnail, else an image enclosure.
    fn image(&self, entry: &Element, base: &Url) -> Option<Url> {
        let is_image = |e: &Element| {
            let medium = e.attr("medium").map(str::to_ascii_lowercase);
            let ty = e.attr("type").map(str::to_ascii_lowercase);
            match (medium.as_deref(), ty.as_deref()) {
                (Some(medium), _) => medium == "image",
                (None, Some(ty)) => ty.starts_with("image/"),
                (None, None) => true,
            }
        };
        let media = |parent: &Element| -> Option<Url> {
            parent
                .elements()
                .filter(|e| is_media(&e.ns) && e.is("content") && is_image(e))
                .chain(
                    parent
                        .elements()
                        .filter(|e| is_media(&e.ns) && e.is("thumbnail")),
                )
                .find_map(|e| e.attr("url").and_then(|u| resolve_link(base, u)))
        };
        media(entry)
            .or_else(|| {
                entry
                    .elements()
                    .filter(|e| is_media(&e.ns) && e.is("group"))
                    .find_map(media)
            })
            .or_else(|| {
                entry
                    .elements()
                    .filter(|e| {
                        self.own(e, "enclosure")
                            || (self.own(e, "link") && relation(e) == "enclosure")
                    })
                    .filter(|e| {
                        e.attr("type")
                            .is_some_and(|t| t.to_ascii_lowercase().starts_with("image/"))
                    })
                    .find_map(|e| {
                        e.attr("url")
                            .or_else(|| e.attr("href"))
                            .and_then(|u| resolve_link(base, u))
                    })
            })
    }

    /// A title as plain text. An RSS title has no type: it is text, whose entities are decoded
    /// once more (portals escape twice: `&amp;nbsp;`) and whose markup, if any, is dropped.
    fn plain_text(&self, element: &Element) -> String {
        match self.content(element, false) {
            Content::Text(text)
                if element.attr("type").is_none() && element.attr("mode").is_none() =>
            {
                let decoded = html_escape::decode_html_entities(&text).into_owned();
                if looks_like_markup(&decoded) {
                    html_text(&decoded)
                } else {
                    decode_entities_and_clean(&text)
                }
            }
            Content::Text(text) => clean_text(&text),
            Content::Html(html) => html_text(&html),
        }
    }

    /// A text construct (Atom's `type`, Atom 0.3's `mode`), read as text or HTML; an unknown
    /// type is text, or HTML where it names html or xml. `html_by_default`: RSS's description
    /// is HTML when nothing says otherwise.
    fn content(&self, element: &Element, html_by_default: bool) -> Content {
        let ty = element.attr("type").map(|t| t.trim().to_ascii_lowercase());
        let mode = element.attr("mode").map(|m| m.trim().to_ascii_lowercase());
        let inline = || {
            // Atom's xhtml content sits in one <div>, which is not part of it.
            let mut children = element.elements();
            match (children.next(), children.next()) {
                (Some(div), None)
                    if div.is("div")
                        && div.ns == XHTML
                        && element.text().trim() == div.text().trim() =>
                {
                    div.inner_markup()
                }
                _ => element.inner_markup(),
            }
        };
        // Atom 1.0 (RFC 4287, 4.1.3.3): a MIME type that is neither text nor XML is base64.
        let binary = ty
            .as_deref()
            .is_some_and(|t| t.contains('/') && !t.starts_with("text/") && !t.contains("xml"));
        let text = if mode.as_deref() == Some("base64") || binary {
            let packed: String = element.text().split_whitespace().collect();
            match base64::engine::general_purpose::STANDARD.decode(packed) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => element.text(),
            }
        } else {
            element.text()
        };
        if element.has_elements() && mode.as_deref() != Some("escaped") {
            return Content::Html(inline());
        }
        match (ty.as_deref(), mode.as_deref()) {
            (_, Some("escaped")) => Content::Html(text),
            (Some("text" | "text/plain"), _) => Content::Text(text),
            (None, _) if html_by_default => Content::Html(text),
            (None, _) => Content::Text(text),
            (Some(ty), _) if ty.contains("html") || ty.contains("xml") => Content::Html(text),
            (Some(_), _) => Content::Text(text),
        }
    }
}

/// An Atom link's relation, `alternate` when it names none (IANA URIs are read by their end).
fn relation(link: &Element) -> String {
    link.attr("rel")
        .map(|rel| {
            rel.trim()
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        })
        .filter(|rel| !rel.is_empty())
        .unwrap_or_else(|| "alternate".to_owned())
}

/// Text that carries tags (`<b>`, `</p>`), as an RSS title sometimes does escaped.
fn looks_like_markup(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/'))
        && text.contains('>')
}
