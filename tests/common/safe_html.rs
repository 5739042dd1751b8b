//! What "nothing executable" means for sanitised article HTML, judged the way a browser would
//! see it, by parsing the HTML again. One definition for the property tests
//! (`tests/properties.rs`) and the fuzz targets (`fuzz/fuzz_targets/common`), which include this
//! file by path: the fuzz crate cannot use `tests/common`.

use scraper::Html;

/// Attributes whose value a browser follows or loads as a URL.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "srcset",
    "action",
    "formaction",
    "cite",
    "background",
    "poster",
    "longdesc",
    "usemap",
    "xlink:href",
    "data",
    "codebase",
    "lowsrc",
    "dynsrc",
    "ping",
];

/// Elements that run, load or restyle something, whatever their attributes.
const ACTIVE_ELEMENTS: &[&str] = &[
    "script", "iframe", "frame", "object", "embed", "style", "base", "meta", "link", "form", "svg",
    "math",
];

/// What in `html` could run, if anything: an active element, an event handler, a `style` or
/// `srcdoc` attribute, or a `javascript:`, `vbscript:` or `data:` URL however a browser would
/// still read it. (A plain substring test would flag harmless text such as
/// `<p title="<script>">` or the words "javascript:" in a paragraph.)
pub fn executable_part(html: &str) -> Option<String> {
    let doc = Html::parse_fragment(html);
    for node in doc.tree.nodes() {
        let Some(element) = node.value().as_element() else {
            continue;
        };
        let name = element.name();
        if ACTIVE_ELEMENTS.contains(&name.to_ascii_lowercase().as_str()) {
            return Some(format!("<{name}> element"));
        }
        for (attr, value) in element.attrs() {
            let attr = attr.to_ascii_lowercase();
            if attr.starts_with("on") || attr == "style" || attr == "srcdoc" {
                return Some(format!("attribute {attr}={value:?} on <{name}>"));
            }
            if !URL_ATTRIBUTES.contains(&attr.as_str()) {
                continue; // a title or alt is text: "javascript:" there is only words
            }
            // Browsers drop ASCII whitespace and controls inside a URL before reading its scheme.
            let squeezed: String = value
                .chars()
                .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
                .collect::<String>()
                .to_ascii_lowercase();
            if ["javascript:", "vbscript:", "data:"]
                .iter()
                .any(|scheme| squeezed.starts_with(scheme))
            {
                return Some(format!("{attr}={value:?} on <{name}>"));
            }
        }
    }
    // The same check as a grep over a stored body, but a literal `<script` inside a quoted
    // attribute value is text, not a tag.
    tag_names(html)
        .into_iter()
        .find(|name| name.to_ascii_lowercase().starts_with("script"))
        .map(|name| format!("\"<{name}\" tag"))
}

/// The names of the tags in serialiser output, read as a browser tokenises them: html5ever
/// always double-quotes attribute values, and text outside tags has `<` escaped.
fn tag_names(html: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut in_tag = false;
    let mut in_value = false;
    for (at, c) in html.char_indices() {
        match c {
            '"' if in_tag => in_value = !in_value,
            '>' if in_tag && !in_value => in_tag = false,
            '<' if !in_tag => {
                in_tag = true;
                let rest = &html[at + 1..];
                let end = rest
                    .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
                    .unwrap_or(rest.len());
                names.push(&rest[..end]);
            }
            _ => {}
        }
    }
    names
}
