//! Sanitising article HTML before it is stored or served: the last stage before the store.
//!
//! ammonia removes scripts, iframes, event handlers, styles and `javascript:` URLs and makes
//! every link and image absolute. The result is also NFC and free of the control characters
//! XML forbids, so that any stored body can go into a feed as it is.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};
use url::Url;

use crate::normalize::xml::xml_safe_nfc;

/// Sanitises article HTML; relative URLs resolve against `base` (the article page).
pub fn article_html(html: &str, base: &Url) -> String {
    let cleaned = Builder::default()
        .url_relative(UrlRelative::RewriteWithBase(base.clone()))
        .url_schemes(HashSet::from(["http", "https", "mailto", "tel"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string();
    xml_safe_nfc(&cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(html: &str) -> String {
        article_html(
            html,
            &Url::parse("http://h/phucloi/tin-tuc/chi-tiet/x.html").unwrap(),
        )
    }

    #[test]
    fn removes_everything_executable() {
        let out = clean(
            r#"<p onclick="x()">a<script>alert(1)</script></p><iframe src="http://evil/"></iframe>
               <a href="javascript:alert(1)">j</a><img src="x.jpg" onerror="alert(1)"><style>p{}</style>"#,
        );
        for bad in [
            "<script",
            "alert(1)",
            "onclick",
            "onerror",
            "<iframe",
            "javascript:",
            "<style",
        ] {
            assert!(!out.contains(bad), "{bad} survived in {out}");
        }
    }

    #[test]
    fn makes_links_and_images_absolute() {
        let out = clean(r#"<a href="../a.html">a</a><img src="../../uploads/1.jpg">"#);
        assert!(
            out.contains(r#"href="http://h/phucloi/tin-tuc/a.html""#),
            "{out}"
        );
        assert!(
            out.contains(r#"src="http://h/phucloi/uploads/1.jpg""#),
            "{out}"
        );
    }

    #[test]
    fn strips_control_characters_and_composes() {
        let out = clean("<p>vui tươi,\u{8} pha\u{302}\u{301}n\u{81}</p>");
        assert_eq!(out, "<p>vui tươi, phấn</p>");
    }

    #[test]
    fn escaped_markup_stays_escaped() {
        let out = clean("<p>&lt;script&gt; ]]&gt; &amp;</p>");
        assert_eq!(out, "<p>&lt;script&gt; ]]&gt; &amp;</p>");
    }
}
