//! The properties more than one target asserts: what clean text, safe HTML, a followable link
//! and a local time mean for wardfeed. An `assert!` that fails is a crash to libFuzzer.

#![allow(dead_code)] // each target uses a different subset

use chrono::{DateTime, FixedOffset, Offset, TimeZone};
use chrono_tz::Tz;
use unicode_normalization::is_nfc;
use url::Url;

/// The fixture world's base, as `config/fixtures.toml` reads it from `FIXTURES_BASE`.
pub const FIXTURES_BASE: &str = "http://127.0.0.1:8080";

pub const VN: Tz = chrono_tz::Asia::Ho_Chi_Minh;

/// The fetch time every target reads dates against (relative ones count back from it).
pub static NOW: std::sync::LazyLock<DateTime<FixedOffset>> = std::sync::LazyLock::new(|| {
    DateTime::parse_from_rfc3339("2023-03-06T08:00:00+07:00").expect("valid instant")
});

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

/// A date read at `NOW`: in the zone's offset, and never more than a day after `NOW`.
pub fn assert_date_in_bounds(date: &wardfeed::normalize::ParsedDate, tz: Tz) {
    assert_local_offset(&date.at, tz);
    assert!(
        date.at <= *NOW + wardfeed::normalize::date::FUTURE_TOLERANCE,
        "{} is more than a day after the fetch time",
        date.at
    );
}

#[path = "../../../tests/common/safe_html.rs"]
mod safe_html;

/// What `sanitize::article_html` promises: nothing executable survives
/// (`tests/common/safe_html.rs` says what that means).
pub fn assert_safe_html(html: &str) {
    if let Some(part) = safe_html::executable_part(html) {
        panic!("{part} survived sanitising: {html:?}");
    }
}
