//! XML-safe text, the rules the sanitiser and every renderer share: which characters XML 1.0
//! can carry, NFC that cannot turn text into markup, and text escaped for XML and HTML.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

/// NFC HTML without characters XML 1.0 cannot carry (C0 controls other than tab/newline/CR,
/// and U+FFFE/U+FFFF), nor C1 controls, which only ever come from mis-decoded bytes.
///
/// NFC fuses `<`, `=` and `>` with a following U+0338 (`>` + U+0338 is `≯`). Run over markup,
/// that unmakes the tag the `>` closed, and the text after it becomes attributes
/// (`<a …>\u{338} onclick=…`). So a combining mark right after one of those three is written as
/// a character reference: it reads the same, NFC leaves it alone, and the result is NFC, so
/// normalising it again (as the feed writers do) changes nothing.
pub fn xml_safe_nfc(html: &str) -> String {
    // Every part of text that passes the quick check passes it too: NFC already.
    xml_safe(
        html,
        super::text::is_nfc(html.chars().filter(|&c| is_xml_char(c))),
    )
}

/// `xml_safe_nfc`'s work; `already_nfc`: the text passed the quick check, so its runs are
/// copied as they are.
fn xml_safe(html: &str, already_nfc: bool) -> String {
    let push_nfc = |out: &mut String, run: &str| match already_nfc {
        true => out.push_str(run),
        false => out.extend(run.nfc()),
    };
    let mut out = String::with_capacity(html.len());
    let mut run = String::new();
    for c in html.chars().filter(|&c| is_xml_char(c)) {
        if run.ends_with(['<', '=', '>']) && canonical_combining_class(c) != 0 {
            push_nfc(&mut out, &run);
            run.clear();
            out.push_str(&format!("&#x{:X};", u32::from(c)));
        } else {
            run.push(c);
        }
    }
    push_nfc(&mut out, &run);
    out
}

/// Characters XML 1.0 allows (and that we keep: no C1 controls either). The sanitiser and every
/// renderer filter with this one rule.
pub fn is_xml_char(c: char) -> bool {
    let allowed_control = matches!(c, '\t' | '\n' | '\r');
    (allowed_control || !c.is_control()) && !matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// Text escaped for XML and HTML (`&`, `<`, `>` and both quotes), without the characters
/// XML cannot carry: safe in element content and in quoted attributes.
pub fn escape_xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_check_path_writes_what_full_nfc_writes() {
        // U+0316 (a mark below that composes with nothing) passes the quick check: the fast
        // path must still write it after `>` as a reference. U+0338 and U+0301 take the full
        // path.
        assert!(crate::normalize::is_nfc("<p>\u{316}".chars()));
        for html in [
            "<p>\u{316} x</p>",
            "<a href=\"x\">\u{338} onclick=1</a>",
            "<p>Phu\u{301}c Lợi</p>",
            "<p>Phường Phúc Lợi</p>\u{8}",
            "a=\u{316}b<\u{316}",
        ] {
            // The full path: NFC on every run, as before the quick check.
            assert_eq!(xml_safe_nfc(html), xml_safe(html, false), "{html:?}");
        }
        assert_eq!(xml_safe_nfc("<p>\u{316}"), "<p>&#x316;");
    }
}
