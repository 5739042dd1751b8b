//! Text normalisation: every function in `normalize::text` on arbitrary text (lossy UTF-8).
//!
//! Properties: never panics; `clean_text` is idempotent and its result has no control
//! characters, no whitespace but single inner spaces, and is NFC; `decode_entities_and_clean`
//! gives clean text too; `story_title_key` is lower-case clean text without trailing
//! punctuation; `parse_count` reads only digits and separators.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use wardfeed::normalize::text::{
    clean_optional, clean_text, decode_entities_and_clean, parse_count, search_key, story_title_key,
};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);

    let clean = clean_text(&raw);
    common::assert_clean(&clean);
    assert_eq!(clean_text(&clean), clean, "clean_text is not idempotent");
    assert_eq!(clean_optional(&raw).unwrap_or_default(), clean);

    common::assert_clean(&decode_entities_and_clean(&raw));

    let key = story_title_key(&raw);
    assert!(
        !key.ends_with(['.', ',', ';', ':', '!', '?', '…', ' ']),
        "story key keeps trailing punctuation: {key:?}"
    );

    let _ = search_key(&raw);

    if let Some(count) = parse_count(&raw) {
        assert!(
            raw.trim()
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | ' ' | '\u{a0}')),
            "{raw:?} read as the count {count}"
        );
    }
});
