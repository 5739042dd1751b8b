//! Text normalisation: the one definition of "clean text" every stage uses.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Normalised text: control characters removed, Unicode NFC, every run of whitespace (no-break
/// space included) collapsed to one space, trimmed.
///
/// Control characters go first so that a stray U+0008 between two words cannot glue them, and
/// NFC comes after so that windows-1258 or NFD pages (base letter + combining tone mark) compare
/// equal to precomposed text.
pub fn clean_text(raw: &str) -> String {
    let kept = || raw.chars().filter(|c| !is_removed_control(*c));
    if is_nfc(kept()) {
        collapse_whitespace(kept(), raw.len())
    } else {
        collapse_whitespace(kept().nfc(), raw.len())
    }
}

/// Whether `chars` are already NFC, by Unicode's quick check (`NFC_Quick_Check`; "maybe"
/// counts as no). Portal text nearly always is (precomposed Vietnamese): the check spares
/// decomposing and recomposing every character, which was ~8 % of a refresh's CPU (perf over
/// `bench/scale.sh 1000 10`, BENCHMARKS.md).
pub fn is_nfc(chars: impl Iterator<Item = char>) -> bool {
    is_nfc_quick(chars) == IsNormalized::Yes
}

/// `chars` with every run of whitespace collapsed to one space, trimmed.
fn collapse_whitespace(chars: impl Iterator<Item = char>, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    let mut pending_space = false;
    for ch in chars {
        if ch.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(ch);
    }
    out
}

/// `clean_text`, with an empty result meaning "none".
pub fn clean_optional(raw: &str) -> Option<String> {
    let text = clean_text(raw);
    (!text.is_empty()).then_some(text)
}

/// Decodes HTML character references in text that reached us still escaped (feed titles often
/// carry `&amp;nbsp;`, which XML decoding turns into `&nbsp;`), then cleans it.
pub fn decode_entities_and_clean(raw: &str) -> String {
    clean_text(&html_escape::decode_html_entities(raw))
}

/// Control characters other than whitespace (C0, DEL, C1). Whitespace controls (tab, newline)
/// are kept here so that `clean_text` turns them into word separators.
fn is_removed_control(c: char) -> bool {
    c.is_control() && !c.is_whitespace()
}

/// Casefolded comparison key: clean text, lower-cased. Used for category labels and story
/// titles, where the same label is printed in different cases.
pub fn fold_case(raw: &str) -> String {
    clean_text(raw).to_lowercase()
}

/// The key under which cross-posted items are recognised as one story: clean text, casefolded,
/// trailing punctuation (`. , ; : ! ? …`) stripped. The district re-posts ward stories with a
/// period added, in upper case or in NFD; all of those share a key.
pub fn story_title_key(title: &str) -> String {
    fold_case(title)
        .trim_end_matches(|c: char| {
            matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '…') || c.is_whitespace()
        })
        .to_owned()
}

/// Parses a counter as portals print it: `181`, `1.023` and `1,023` (thousands separators)
/// all read as numbers; anything else is `None`.
pub fn parse_count(raw: &str) -> Option<u64> {
    let digits: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, '.' | ',' | ' ' | '\u{a0}'))
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Removes Vietnamese diacritics and case, for diacritic-insensitive search (`phuc loi` finds
/// "Phúc Lợi"). Decomposes, drops combining marks, maps đ/Đ to d.
pub fn search_key(raw: &str) -> String {
    clean_text(raw)
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            other => other,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_whitespace_including_no_break_space() {
        assert_eq!(
            clean_text("  Chủ tịch\u{a0}UBND \n\t phường "),
            "Chủ tịch UBND phường"
        );
    }

    #[test]
    fn removes_control_characters_without_joining_words() {
        assert_eq!(
            clean_text("vui tươi,\u{8} phấn khởi"),
            "vui tươi, phấn khởi"
        );
        assert_eq!(clean_text("a\u{81}b"), "ab");
        assert_eq!(clean_text("a\u{0}\u{7f}b"), "ab");
    }

    #[test]
    fn composes_decomposed_vietnamese() {
        let nfd = "Phu\u{301}c L\u{1a1}\u{323}i";
        assert_eq!(clean_text(nfd), "Phúc Lợi");
    }

    #[test]
    fn the_quick_check_never_skips_text_that_nfc_would_change() {
        // Precomposed, decomposed, mixed, marks out of order, a mark after `>`, Hangul jamo,
        // a lone mark, singleton decompositions (U+212B ANGSTROM SIGN, U+2126 OHM SIGN).
        for text in [
            "Phường Phúc Lợi tổ chức Hội nghị",
            "Phu\u{301}c L\u{1a1}\u{323}i",
            "Lợi Phu\u{301}c",
            "a\u{323}\u{302} a\u{302}\u{323}",
            ">\u{338} =\u{338}",
            "\u{1100}\u{1161}\u{11a8}",
            "\u{301}",
            "\u{212b} \u{2126}",
        ] {
            let full: String = text.nfc().collect();
            if is_nfc(text.chars()) {
                assert_eq!(full, text, "{text:?} passed the quick check but is not NFC");
            }
            assert_eq!(clean_text(text), clean_text(&full), "{text:?}");
            assert_eq!(clean_text(text).nfc().collect::<String>(), clean_text(text));
        }
        assert!(is_nfc("Phường Phúc Lợi".chars()));
        assert!(!is_nfc("Phu\u{301}c".chars()));
    }

    #[test]
    fn decodes_double_escaped_entities() {
        assert_eq!(
            decode_entities_and_clean("vui tươi,&nbsp;an toàn &amp; lành mạnh"),
            "vui tươi, an toàn & lành mạnh"
        );
    }

    #[test]
    fn story_keys_ignore_case_form_and_trailing_punctuation() {
        let ward = "Phường Phúc Lợi tổ chức lễ giao nhận quân năm 2022";
        for variant in [
            "Phường Phúc Lợi tổ chức lễ giao nhận quân năm 2022.",
            "PHƯỜNG PHÚC LỢI TỔ CHỨC LỄ GIAO NHẬN QUÂN NĂM 2022",
            "Phu\u{31b}o\u{31b}\u{300}ng Phu\u{301}c Lợi tổ chức lễ giao nhận quân năm 2022 …!",
        ] {
            assert_eq!(story_title_key(variant), story_title_key(ward), "{variant}");
        }
        assert_ne!(
            story_title_key("Lịch tiếp công dân"),
            story_title_key("Lịch tiếp công dân tháng 2")
        );
    }

    #[test]
    fn parses_counters_with_thousands_separators() {
        assert_eq!(parse_count("181"), Some(181));
        assert_eq!(parse_count("1.023"), Some(1023));
        assert_eq!(parse_count("12,345"), Some(12345));
        assert_eq!(parse_count("n/a"), None);
        assert_eq!(parse_count(""), None);
    }

    #[test]
    fn search_key_ignores_diacritics_and_case() {
        assert_eq!(search_key("Phường Phúc Lợi"), "phuong phuc loi");
        assert_eq!(search_key("ĐẢNG"), "dang");
        assert!(search_key("Công tác Đảng ở phường Phúc Lợi").contains(&search_key("phuc loi")));
    }
}
