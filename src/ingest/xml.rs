//! A feed document as a small element tree, read with quick-xml, that survives ill-formed input.
//!
//! Why a tree of our own rather than a DOM crate: the strict ones (roxmltree, quick-xml's serde)
//! reject a whole document for one bare `&` or a truncated tail, and the lenient ones (html5ever's
//! XML5) drop namespaces or rewrite the structure. Feeds from hand-rolled CMSs break in exactly
//! these ways, and a reader must keep every entry that came before the break. So quick-xml
//! tokenises, and this module only builds: a bare `&`, an unknown entity, a broken character
//! reference or a mismatched end tag is noted and read past; a syntax error or the end of the
//! input closes whatever is open, marking those elements incomplete so that the mapping can
//! leave a half-read entry out. Depth is capped, so hostile nesting cannot exhaust the stack.

use std::collections::HashMap;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// Deeper than any feed nests (an XHTML body inside an entry inside a feed is under 30).
const MAX_DEPTH: usize = 256;

pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI (empty: none).
    pub ns: String,
    /// Local name as written.
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
    /// False when the document broke off before this element's end tag.
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ns: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

/// What reading produced: the root element, if any was opened, and every ill-formedness met.
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub root: Option<Element>,
    /// Ill-formed spots read past or where reading stopped, first first (`line 12: a bare &`).
    pub problems: Vec<String>,
}

impl Element {
    /// The local name, for comparisons: feeds in the wild vary its case (`pubdate`, `ITEM`).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name) && (a.ns.is_empty() || a.ns == self.ns))
            .map(|a| a.value.as_str())
    }

    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.name.eq_ignore_ascii_case(name))
            .map(|a| a.value.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|node| match node {
            Node::Element(element) => Some(element),
            Node::Text(_) => None,
        })
    }

    pub fn has_elements(&self) -> bool {
        self.elements().next().is_some()
    }

    /// All the text inside, markup dropped.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for node in &self.children {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Element(element) => element.collect_text(out),
            }
        }
    }

    /// The content as markup (inline XHTML in a feed): children serialised, namespaces dropped.
    pub fn inner_markup(&self) -> String {
        let mut out = String::new();
        for node in &self.children {
            write_node(node, &mut out);
        }
        out
    }
}

fn write_node(node: &Node, out: &mut String) {
    match node {
        Node::Text(text) => out.push_str(&html_escape::encode_text(text)),
        Node::Element(element) => {
            out.push('<');
            out.push_str(&element.name);
            for attr in &element.attrs {
                if attr.name.eq_ignore_ascii_case("xmlns") || !attr.ns.is_empty() {
                    continue;
                }
                out.push(' ');
                out.push_str(&attr.name);
                out.push_str("=\"");
                out.push_str(&html_escape::encode_double_quoted_attribute(&attr.value));
                out.push('"');
            }
            out.push('>');
            for child in &element.children {
                write_node(child, out);
            }
            out.push_str("</");
            out.push_str(&element.name);
            out.push('>');
        }
    }
}

/// Reads `text` (already decoded; any XML declaration in it is ignored) into a tree.
pub fn parse(text: &str) -> Document {
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.allow_dangling_amp = true;
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    let mut builder = Builder::default();
    loop {
        let position = reader.buffer_position() as usize;
        // Counted only when there is a problem to locate.
        let line = || {
            let before = &text.as_bytes()[..position.min(text.len())];
            before.iter().filter(|b| **b == b'\n').count() + 1
        };
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (namespace(ns), event),
            Err(error) => {
                builder.problem(format!("line {}: {error}", line()));
                break;
            }
        };
        match (ns, event) {
            (ns, Event::Start(start)) => {
                if builder.open.len() >= MAX_DEPTH {
                    builder.problem(format!(
                        "line {}: elements nested deeper than {MAX_DEPTH}",
                        line()
                    ));
                    break;
                }
                if builder.done {
                    builder.problem(format!("line {}: content after the root element", line()));
                    break;
                }
                let element = builder.element(&reader, ns, &start, line);
                builder.open.push(element);
            }
            (_, Event::End(end)) => {
                let name = String::from_utf8_lossy(end.local_name().as_ref()).into_owned();
                builder.close(&name, line);
            }
            (_, Event::Text(raw)) => {
                let raw = String::from_utf8_lossy(&raw).into_owned();
                if raw.contains('&') {
                    builder.problem(format!("line {}: a bare & (not escaped as &amp;)", line()));
                }
                builder.text(raw);
            }
            (_, Event::CData(data)) => {
                builder.text(String::from_utf8_lossy(&data).into_owned());
            }
            (_, Event::GeneralRef(reference)) => {
                let name = String::from_utf8_lossy(&reference).into_owned();
                let resolved = builder.reference(&name, line);
                builder.text(resolved);
            }
            (_, Event::DocType(doctype)) => {
                builder.declare_entities(&String::from_utf8_lossy(&doctype));
            }
            (_, Event::Eof) => break,
            (_, Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_)) => {}
        }
    }
    if !builder.open.is_empty() {
        let open: Vec<String> = builder
            .open
            .iter()
            .map(|e| format!("<{}>", e.name))
            .collect();
        builder.problem(format!("the document ends inside {}", open.join("")));
        while let Some(mut element) = builder.open.pop() {
            element.complete = false;
            builder.attach(element);
        }
    }
    Document {
        root: builder.root,
        problems: builder.problems,
    }
}

#[derive(Default)]
struct Builder {
    open: Vec<Element>,
    root: Option<Element>,
    /// The root element has closed.
    done: bool,
    problems: Vec<String>,
    /// Internal entities a DOCTYPE declared (`<!ENTITY nbsp "&#160;">`).
    entities: HashMap<String, String>,
}

impl Builder {
    fn problem(&mut self, problem: String) {
        // The first few say what is wrong; a thousand bare ampersands say no more.
        if self.problems.len() < 20 {
            self.problems.push(problem);
        }
    }

    fn element(
        &mut self,
        reader: &NsReader<&[u8]>,
        ns: String,
        start: &BytesStart<'_>,
        line: impl Fn() -> usize,
    ) -> Element {
        let mut attrs = Vec::new();
        for attr in start.attributes().with_checks(false) {
            let Ok(attr) = attr else {
                self.problem(format!("line {}: a malformed attribute", line()));
                continue;
            };
            let (attr_ns, local) = reader.resolver().resolve_attribute(attr.key);
            let raw = String::from_utf8_lossy(&attr.value).into_owned();
            let value = self.unescape(&raw, &line);
            attrs.push(Attr {
                ns: namespace(attr_ns),
                name: String::from_utf8_lossy(local.as_ref()).into_owned(),
                value,
            });
        }
        Element {
            ns,
            name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
            attrs,
            children: Vec::new(),
            complete: true,
        }
    }

    /// Closes the innermost open element of that name, and any left open inside it (HTML's
    /// way with `<br>` in a description); an end tag nothing matches is ignored.
    fn close(&mut self, name: &str, line: impl Fn() -> usize) {
        let Some(at) = self.open.iter().rposition(|e| e.name == name) else {
            self.problem(format!(
                "line {}: an end tag </{name}> that closes nothing",
                line()
            ));
            return;
        };
        if at + 1 != self.open.len() {
            let unclosed = &self.open[self.open.len() - 1].name;
            self.problem(format!(
                "line {}: </{name}> closes an unclosed <{unclosed}>",
                line()
            ));
        }
        while self.open.len() > at {
            let mut element = self.open.pop().expect("checked");
            // Closed by an ancestor's end tag, not its own: it may have been cut short.
            element.complete = self.open.len() == at;
            self.attach(element);
        }
    }

    fn attach(&mut self, element: Element) {
        match self.open.last_mut() {
            Some(parent) => parent.children.push(Node::Element(element)),
            None => {
                if self.root.is_none() {
                    self.root = Some(element);
                }
                self.done = true;
            }
        }
    }

    fn text(&mut self, text: String) {
        let Some(parent) = self.open.last_mut() else {
            return;
        };
        match parent.children.last_mut() {
            Some(Node::Text(previous)) => previous.push_str(&text),
            _ => parent.children.push(Node::Text(text)),
        }
    }

    /// An entity or character reference's text: XML's five, character references, a DOCTYPE's
    /// own entities, then HTML's named ones (RSS 0.91's DTD declares them, and feeds use them
    /// undeclared); anything else stays as written, noted.
    fn reference(&mut self, name: &str, line: impl Fn() -> usize) -> String {
        if let Some(number) = name.strip_prefix('#') {
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            };
            return match code.and_then(char::from_u32).filter(|c| is_xml_char(*c)) {
                Some(c) => c.to_string(),
                None => {
                    self.problem(format!(
                        "line {}: a broken character reference &{name};",
                        line()
                    ));
                    format!("&{name};")
                }
            };
        }
        match name {
            "amp" => return "&".into(),
            "lt" => return "<".into(),
            "gt" => return ">".into(),
            "quot" => return "\"".into(),
            "apos" => return "'".into(),
            _ => {}
        }
        if let Some(value) = self.entities.get(name) {
            return html_escape::decode_html_entities(value).into_owned();
        }
        let written = format!("&{name};");
        let decoded = html_escape::decode_html_entities(&written);
        if decoded == written {
            self.problem(format!("line {}: an undefined entity &{name};", line()));
        }
        decoded.into_owned()
    }

    /// An attribute value with its references resolved as in text.
    fn unescape(&mut self, raw: &str, line: &impl Fn() -> usize) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = rest.find('&') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let end = after.find(';').filter(|end| {
                let name = &after[..*end];
                !name.is_empty()
                    && name.len() <= 32
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '#')
            });
            match end {
                Some(end) => {
                    out.push_str(&self.reference(&after[..end], line));
                    rest = &after[end + 1..];
                }
                None => {
                    self.problem(format!("line {}: a bare & in an attribute", line()));
                    out.push('&');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// `<!ENTITY name "value">` declarations of an internal DTD subset.
    fn declare_entities(&mut self, doctype: &str) {
        let mut rest = doctype;
        while let Some(at) = rest.find("<!ENTITY") {
            rest = &rest[at + "<!ENTITY".len()..];
            let mut words = rest.trim_start().splitn(2, char::is_whitespace);
            let (Some(name), Some(after)) = (words.next(), words.next()) else {
                break;
            };
            let after = after.trim_start();
            let Some(quote) = after.chars().next().filter(|q| *q == '"' || *q == '\'') else {
                continue;
            };
            if let Some(value) = after[1..].split(quote).next()
                && name != "%"
                && self.entities.len() < 1024
            {
                // One level only: an entity's value is not expanded into more entities here,
                // so a "billion laughs" stays a few bytes.
                self.entities.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

fn namespace(ns: ResolveResult<'_>) -> String {
    match ns {
        ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
        _ => String::new(),
    }
}

/// Characters XML 1.0 allows in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> (Element, Vec<String>) {
        let document = parse(text);
        (document.root.expect("a root"), document.problems)
    }

    #[test]
    fn reads_namespaces_attributes_and_references() {
        let (rss, problems) = root(
            r#"<rss xmlns:dc="http://purl.org/dc/elements/1.1/"><item a="x&amp;y"><dc:date>d</dc:date><title>A &amp; B &#x1EA1; &nbsp;<![CDATA[<b>]]></title></item></rss>"#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let item = rss.elements().next().unwrap();
        assert_eq!(item.attr("a"), Some("x&y"));
        let date = item.elements().next().unwrap();
        assert_eq!(
            (date.ns.as_str(), date.name.as_str()),
            ("http://purl.org/dc/elements/1.1/", "date")
        );
        assert_eq!(item.elements().nth(1).unwrap().text(), "A & B ạ \u{a0}<b>");
    }

    #[test]
    fn a_bare_ampersand_is_read_and_noted() {
        let (rss, problems) =
            root(r#"<rss><link>http://h/?a=1&b=2</link><link href="http://h/?a=1&b=2"/></rss>"#);
        let links: Vec<&Element> = rss.elements().collect();
        assert_eq!(links[0].text(), "http://h/?a=1&b=2");
        assert_eq!(links[1].attr("href"), Some("http://h/?a=1&b=2"));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("bare &"));
    }

    #[test]
    fn broken_and_unknown_references_stay_as_written() {
        let (rss, problems) = root("<rss><t>a &#xZZ; &#0; &bogus; b</t></rss>");
        assert_eq!(rss.text(), "a &#xZZ; &#0; &bogus; b");
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn a_truncated_document_keeps_what_closed_and_marks_the_rest() {
        let (rss, problems) = root("<rss><channel><item><title>1</title></item><item><title>2");
        let channel = rss.elements().next().unwrap();
        let items: Vec<&Element> = channel.elements().collect();
        assert!(items[0].complete);
        assert!(!items[1].complete);
        assert!(!rss.complete);
        assert!(
            problems[0].contains("ends inside <rss><channel><item><title>"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_mismatched_end_tag_closes_what_it_matches() {
        let (rss, problems) = root("<rss><item><description>a<br>b</description></item></rss>");
        let item = rss.elements().next().unwrap();
        assert!(item.complete);
        assert!(
            !item
                .elements()
                .next()
                .unwrap()
                .elements()
                .next()
                .unwrap()
                .complete
        );
        assert_eq!(item.text(), "ab");
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn doctype_entities_are_declared() {
        let (rss, problems) =
            root("<!DOCTYPE rss [<!ENTITY w \"wardfeed\">]><rss>&w; &copy;</rss>");
        assert_eq!(rss.text(), "wardfeed ©");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn hostile_nesting_stops_at_the_cap() {
        let text = "<a>".repeat(100_000);
        let document = parse(&text);
        assert!(
            document.problems[0].contains("nested deeper"),
            "{:?}",
            document.problems
        );
    }

    #[test]
    fn not_xml_has_no_root() {
        assert!(parse("hello, world").root.is_none());
        assert!(parse("").root.is_none());
    }

    #[test]
    fn inline_markup_is_serialised() {
        let (rss, _) = root(
            r#"<t><div xmlns="http://www.w3.org/1999/xhtml"><p class="a">x &lt; y</p></div></t>"#,
        );
        assert_eq!(
            rss.inner_markup(),
            r#"<div><p class="a">x &lt; y</p></div>"#
        );
    }
}
