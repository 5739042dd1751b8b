//! The OPML 2.0 subscription list of every feed we serve, grouped as the dashboard groups them.
//!
//! Feed readers import this to subscribe to everything at once: the general feeds first, then
//! one folder per group holding the group's own feed and each source, with the source's
//! category feeds nested under it. A resident's list is the same document with less in it (the
//! combined feed, then each source's feed in its group's folder).

use super::{Outline, OutlineFeed, escape_xml_text, feed_text, rfc822};

/// The outline as an OPML 2.0 document.
pub fn render(outline: &Outline) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str("  <head>\n");
    out.push_str(&format!("    <title>{}</title>\n", text(&outline.title)));
    // The outline's own date, never the time of rendering: ETags come from these bytes.
    out.push_str(&format!(
        "    <dateCreated>{}</dateCreated>\n",
        rfc822(&outline.created)
    ));
    out.push_str("  </head>\n  <body>\n");
    for feed in &outline.general {
        feed_outline(&mut out, 2, feed, &[]);
    }
    for group in &outline.groups {
        out.push_str(&format!(
            "    <outline text=\"{name}\" title=\"{name}\">\n",
            name = text(&group.name)
        ));
        if let Some(feed) = &group.feed {
            feed_outline(&mut out, 3, feed, &[]);
        }
        for source in &group.sources {
            feed_outline(&mut out, 3, &source.feed, &source.categories);
        }
        out.push_str("    </outline>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

/// One subscribable feed, with `children` (a source's category feeds) nested inside it.
fn feed_outline(out: &mut String, depth: usize, feed: &OutlineFeed, children: &[OutlineFeed]) {
    let indent = "  ".repeat(depth);
    out.push_str(&format!(
        "{indent}<outline type=\"rss\" text=\"{title}\" title=\"{title}\" xmlUrl=\"{xml_url}\" htmlUrl=\"{html_url}\"",
        title = text(&feed.title),
        xml_url = text(&feed.xml_url),
        html_url = text(&feed.html_url),
    ));
    if children.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    for child in children {
        feed_outline(out, depth + 1, child, &[]);
    }
    out.push_str(&format!("{indent}</outline>\n"));
}

/// Cleaned and escaped for both element text and attribute values (quotes included).
fn text(raw: &str) -> String {
    escape_xml_text(&feed_text(raw))
}

#[cfg(test)]
mod tests {
    use roxmltree::{Document, Node};

    use super::super::samples::{HOSTILE, at};
    use super::super::{OutlineGroup, OutlineSource};
    use super::*;

    fn feed(title: &str, path: &str) -> OutlineFeed {
        OutlineFeed {
            title: title.to_owned(),
            xml_url: format!("http://127.0.0.1:8080/{path}.rss"),
            html_url: format!("http://127.0.0.1:8080/{path}"),
        }
    }

    fn sample() -> Outline {
        Outline {
            title: "wardfeed — Long Biên".to_owned(),
            created: at("2023-01-06T07:30:00+07:00"),
            general: vec![
                feed("Long Biên — tất cả", "all"),
                feed("Sự cố nguồn tin", "incidents"),
            ],
            groups: vec![OutlineGroup {
                name: HOSTILE.to_owned(),
                feed: Some(feed("Long Biên", "groups/longbien")),
                sources: vec![
                    OutlineSource {
                        feed: feed("Phường Phúc Lợi", "sources/phucloi"),
                        categories: vec![
                            feed("Phúc Lợi — Tin tức", "sources/phucloi/tin-tuc"),
                            feed("Phúc Lợi — Thông báo", "sources/phucloi/thong-bao"),
                        ],
                    },
                    OutlineSource {
                        feed: OutlineFeed {
                            xml_url: "http://127.0.0.1:8080/sources/a.rss?x=1&y=\"2\"".to_owned(),
                            ..feed("Phường Giang Biên", "sources/giangbien")
                        },
                        categories: Vec::new(),
                    },
                ],
            }],
        }
    }

    fn outlines<'a, 'i>(node: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
        node.children()
            .filter(|n| n.has_tag_name("outline"))
            .collect()
    }

    #[test]
    fn head_and_structure() {
        let xml = render(&sample());
        let doc = Document::parse(&xml).expect("well-formed");
        let opml = doc.root_element();
        assert_eq!(opml.attribute("version"), Some("2.0"));
        let head = opml.children().find(|n| n.has_tag_name("head"));
        let head_text = |name: &str| {
            head.and_then(|h| h.children().find(|n| n.has_tag_name(name)))
                .and_then(|n| n.text())
        };
        assert_eq!(head_text("title"), Some("wardfeed — Long Biên"));
        assert_eq!(
            head_text("dateCreated"),
            Some("Fri, 06 Jan 2023 07:30:00 +0700")
        );
        let body = opml
            .children()
            .find(|n| n.has_tag_name("body"))
            .expect("a body");
        let top = outlines(body);
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].attribute("type"), Some("rss"));
        assert_eq!(top[0].attribute("text"), Some("Long Biên — tất cả"));
        assert_eq!(
            top[0].attribute("xmlUrl"),
            Some("http://127.0.0.1:8080/all.rss")
        );
        assert_eq!(
            top[0].attribute("htmlUrl"),
            Some("http://127.0.0.1:8080/all")
        );
        let group = top[2];
        assert_eq!(group.attribute("type"), None);
        let in_group = outlines(group);
        let titles: Vec<_> = in_group
            .iter()
            .map(|o| o.attribute("title").unwrap_or(""))
            .collect();
        assert_eq!(
            titles,
            ["Long Biên", "Phường Phúc Lợi", "Phường Giang Biên"]
        );
        let categories: Vec<_> = outlines(in_group[1])
            .iter()
            .map(|o| (o.attribute("type"), o.attribute("xmlUrl").unwrap_or("")))
            .collect();
        assert_eq!(
            categories,
            [
                (
                    Some("rss"),
                    "http://127.0.0.1:8080/sources/phucloi/tin-tuc.rss"
                ),
                (
                    Some("rss"),
                    "http://127.0.0.1:8080/sources/phucloi/thong-bao.rss"
                ),
            ]
        );
        assert!(outlines(in_group[2]).is_empty());
    }

    #[test]
    fn attributes_are_escaped_and_cleaned() {
        let xml = render(&sample());
        let doc = Document::parse(&xml).expect("well-formed despite quotes, ]]> and controls");
        let body = doc
            .root_element()
            .children()
            .find(|n| n.has_tag_name("body"))
            .expect("a body");
        let group = outlines(body)[2];
        assert_eq!(
            group.attribute("text"),
            Some("Tin & \"sự kiện\" <script>alert('x')</script> ]]> ab cd 🎉 Phường")
        );
        assert_eq!(
            outlines(group)[2].attribute("xmlUrl"),
            Some("http://127.0.0.1:8080/sources/a.rss?x=1&y=\"2\"")
        );
        assert!(!xml.contains("<script") && !xml.contains('\u{8}'));
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(render(&sample()), render(&sample()));
    }
}
