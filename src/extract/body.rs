//! Serialises an article's body container back to HTML, minus the parts that are not the article.
//!
//! This runs before sanitisation: it drops configured elements (share bars, related boxes) and
//! page machinery (scripts, forms), turns embedded players into plain links, and promotes
//! lazy-loading attributes to `src`, which a sanitiser cannot do because it sees one attribute
//! at a time. The traversal is iterative, so hostile nesting depth cannot exhaust the stack.

use std::collections::HashSet;

use ego_tree::NodeId;
use ego_tree::iter::Edge;
use scraper::{ElementRef, Node, Selector};
use url::Url;

use crate::normalize::resolve_link;

/// Attributes that lazy-loading scripts use for the real image, most common first.
pub const LAZY_IMAGE_ATTRS: &[&str] = &["data-src", "data-original", "data-lazy-src", "src"];

/// Elements that are never article content, whatever the configuration says.
const MACHINERY: &[&str] = &[
    "script", "style", "noscript", "template", "form", "input", "button", "select", "textarea",
    "object", "embed", "link", "meta", "head", "title",
];

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// HTML of `container`'s children without the elements matching `remove`.
pub fn body_html(container: ElementRef<'_>, remove: &[Selector], page_base: &Url) -> String {
    let removed: HashSet<NodeId> = remove
        .iter()
        .flat_map(|selector| container.select(selector))
        .map(|el| el.id())
        .collect();
    let mut out = String::new();
    // While inside a skipped subtree, the id of its root: everything until its Close is dropped.
    let mut skipping: Option<NodeId> = None;
    for edge in container.traverse() {
        match edge {
            Edge::Open(node) if node.id() == container.id() => {}
            Edge::Close(node) if node.id() == container.id() => {}
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(text) => escape_text(&text[..], &mut out),
                    Node::Element(element) => {
                        let name = element.name();
                        if removed.contains(&node.id()) || MACHINERY.contains(&name) {
                            skipping = Some(node.id());
                        } else if name == "iframe" {
                            skipping = Some(node.id());
                            if let Some(src) =
                                element.attr("src").and_then(|s| resolve_link(page_base, s))
                            {
                                out.push_str("<p><a href=\"");
                                escape_attr(src.as_str(), &mut out);
                                out.push_str("\">");
                                escape_text(src.as_str(), &mut out);
                                out.push_str("</a></p>");
                            }
                        } else {
                            open_tag(element, &mut out);
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if skipping == Some(node.id()) {
                    skipping = None;
                    continue;
                }
                if skipping.is_some() {
                    continue;
                }
                if let Node::Element(element) = node.value()
                    && !VOID.contains(&element.name())
                {
                    out.push_str("</");
                    out.push_str(element.name());
                    out.push('>');
                }
            }
        }
    }
    out
}

fn open_tag(element: &scraper::node::Element, out: &mut String) {
    let name = element.name();
    out.push('<');
    out.push_str(name);
    let lazy_src = (name == "img")
        .then(|| {
            LAZY_IMAGE_ATTRS.iter().find_map(|attr| {
                element
                    .attr(attr)
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && !v.to_ascii_lowercase().starts_with("data:"))
            })
        })
        .flatten();
    for (attr, value) in element.attrs() {
        if lazy_src.is_some() && attr == "src" {
            continue;
        }
        push_attr(attr, value, out);
    }
    if let Some(src) = lazy_src {
        push_attr("src", src, out);
    }
    out.push('>');
}

fn push_attr(name: &str, value: &str, out: &mut String) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape_attr(value, out);
    out.push('"');
}

fn escape_text(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            other => out.push(other),
        }
    }
}

fn escape_attr(value: &str, out: &mut String) {
    for ch in value.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    fn body(html: &str, remove: &[&str]) -> String {
        let doc = Html::parse_document(html);
        let container = doc
            .select(&Selector::parse("div.body").unwrap())
            .next()
            .unwrap();
        let remove: Vec<Selector> = remove.iter().map(|r| Selector::parse(r).unwrap()).collect();
        body_html(
            container,
            &remove,
            &Url::parse("http://h/a/b.html").unwrap(),
        )
    }

    #[test]
    fn drops_removed_elements_and_machinery() {
        let html = r#"<div class="body"><p>Keep &amp; this</p><div class="share">Chia sẻ:</div>
            <script>gtag('config')</script><form><input name=x></form><p>end</p></div>"#;
        let out = body(html, &["div.share"]);
        assert!(out.contains("<p>Keep &amp; this</p>"), "{out}");
        assert!(out.contains("<p>end</p>"));
        assert!(!out.contains("Chia sẻ"));
        assert!(!out.contains("gtag"));
        assert!(!out.contains("<form"));
    }

    #[test]
    fn promotes_lazy_images_and_turns_players_into_links() {
        let html = r#"<div class="body"><img class="lazy" src="data:image/gif;base64,R0" data-src="../u/1.jpg" alt="">
            <iframe src="https://www.youtube.com/embed/abc"></iframe></div>"#;
        let out = body(html, &[]);
        assert!(out.contains(r#"src="../u/1.jpg""#), "{out}");
        assert!(!out.contains("data:image"));
        assert!(out.contains(r#"<a href="https://www.youtube.com/embed/abc">"#));
        assert!(!out.contains("<iframe"));
    }

    #[test]
    fn text_that_looks_like_markup_stays_text() {
        let html = "<div class=\"body\"><p>&lt;script&gt;alert(1)&lt;/script&gt; ]]&gt;</p></div>";
        let out = body(html, &[]);
        assert_eq!(out, "<p>&lt;script&gt;alert(1)&lt;/script&gt; ]]&gt;</p>");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = format!(
            "<div class=\"body\">{}x{}</div>",
            "<span>".repeat(50_000),
            "</span>".repeat(50_000)
        );
        let out = body(&html, &[]);
        assert!(out.contains('x'));
    }
}
