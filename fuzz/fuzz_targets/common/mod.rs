//! The properties more than one target asserts: what clean text, safe HTML, a followable link
//! and a local time mean for wardfeed. An `assert!` that fails is a crash to libFuzzer.

#![allow(dead_code)] // each target uses a different subset

use chrono::{DateTime, FixedOffset, Offset, TimeZone};
use chrono_tz::Tz;
use scraper::Html;
use unicode_normalization::is_nfc;
use url::Url;

/// The fixture world's base, as `config/fixtures.toml` reads it from `FIXTURES_BASE`.
pub const FIXTURES_BASE: &str = "http://127.0.0.1:8080";

pub const VN: Tz = chrono_tz::Asia::Ho_Chi_Minh;

/// `clean_text`'s contract: no control characters, every whitespace run one plain space, no
/// space at either end, NFC.
pub fn assert_clean(text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "control character in {text:?}"
    );
    assert!(
        text.chars().all(|c| c == ' ' || !c.is_whitespace()),
        "whitespace other than U+0020 in {text:?}"
    );
    assert!(
        !text.starts_with(' ') && !text.ends_with(' '),
        "untrimmed {text:?}"
    );
    assert!(!text.contains("  "), "double space in {text:?}");
    assert!(is_nfc(text), "not NFC: {text:?}");
}

/// Links that reach an item, an image or a next page must be fetchable.
pub fn assert_followable(what: &str, url: &Url) {
    assert!(
        matches!(url.scheme(), "http" | "https"),
        "{what} is not http(s): {url}"
    );
}

/// An instant read in `tz` carries the offset `tz` has at that instant; since 1975 Vietnam has
/// only ever been +07:00 (before that, tzdata has +08:00 and +09:00 periods, which are right).
pub fn assert_local_offset(instant: &DateTime<FixedOffset>, tz: Tz) {
    let expected = tz
        .offset_from_utc_datetime(&instant.naive_utc())
        .fix()
        .local_minus_utc();
    assert_eq!(
        instant.offset().local_minus_utc(),
        expected,
        "{instant} has not the offset of {tz} at that instant"
    );
    if tz == VN && instant.naive_utc().and_utc().timestamp() >= 189_302_400 {
        // 1976-01-01T00:00:00Z
        assert_eq!(
            instant.offset().local_minus_utc(),
            25_200,
            "{instant} is not +07:00"
        );
    }
}

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

/// What `sanitize::article_html` promises: nothing executable survives, judged the way a
/// browser would see it, by parsing the output again. (A plain substring test would flag
/// harmless text such as `<p title="<script>">` or the words "javascript:" in a paragraph.)
pub fn assert_safe_html(html: &str) {
    let doc = Html::parse_fragment(html);
    for node in doc.tree.nodes() {
        let Some(element) = node.value().as_element() else {
            continue;
        };
        let name = element.name();
        assert!(
            !matches!(
                name,
                "script"
                    | "iframe"
                    | "frame"
                    | "object"
                    | "embed"
                    | "style"
                    | "base"
                    | "meta"
                    | "link"
                    | "form"
                    | "svg"
                    | "math"
            ),
            "<{name}> survived sanitising: {html:?}"
        );
        for (attr, value) in element.attrs() {
            let attr = attr.to_ascii_lowercase();
            assert!(
                !attr.starts_with("on") && attr != "style" && attr != "srcdoc",
                "attribute {attr} survived sanitising: {html:?}"
            );
            if !URL_ATTRIBUTES.contains(&attr.as_str()) {
                continue; // a title or alt is text: "javascript:" there is only words
            }
            // Browsers drop ASCII whitespace and controls inside a URL before reading its scheme.
            let squeezed: String = value
                .chars()
                .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
                .collect::<String>()
                .to_ascii_lowercase();
            for scheme in ["javascript:", "vbscript:", "data:"] {
                assert!(
                    !squeezed.starts_with(scheme),
                    "{attr}=\"{value}\" survived sanitising: {html:?}"
                );
            }
        }
    }
    // The same check as a grep over a stored body, but a literal `<script` inside a quoted
    // attribute value is text, not a tag.
    for name in tag_names(html) {
        assert!(
            !name.to_ascii_lowercase().starts_with("script"),
            "\"<{name}\" tag in sanitised output: {html:?}"
        );
    }
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
