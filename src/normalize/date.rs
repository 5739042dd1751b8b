//! Dates as portals print them, turned into instants in the source's time zone.
//!
//! Understood without configuration: RFC 3339, RFC 822/2822 (`Wed, 04 Jan 2023 10:09:00 +0700`),
//! and the Vietnamese day-first forms found on ward portals — `Ngày đăng 30/01/2023 | 11:00`,
//! `19/02/2021 13:40`, `Thứ sáu, 19/02/2021 - 13:40` — where a date and an optional time are
//! found anywhere in the text. A source may add its own chrono formats.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use regex::Regex;

/// Time zone of every Vietnamese portal unless a source says otherwise.
pub const DEFAULT_TIMEZONE: &str = "Asia/Ho_Chi_Minh";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("parse date {0:?}: no date in a known format")]
    Unrecognised(String),
    #[error("parse date {0:?}: the local time does not exist or is ambiguous in {1}")]
    LocalTime(String, Tz),
}

/// Day-first date with an optional `HH:MM[:SS]` (or `HHhMM`) somewhere after it.
static DAY_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        \b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b
        (?: [^\d]{0,12}? \b(\d{1,2})\s*[:hH]\s*(\d{2}) (?: :(\d{2}) )? )?",
    )
    .expect("valid date regex")
});

/// Parses `text` into an instant, expressed with the offset `tz` has at that instant.
///
/// `formats` (chrono `strftime` patterns) are tried first, against the whole text: a source that
/// configures them knows its pages better than the built-in recognisers.
pub fn parse_datetime(
    text: &str,
    tz: Tz,
    formats: &[String],
) -> Result<DateTime<FixedOffset>, DateError> {
    let text = text.trim();
    for format in formats {
        if let Some(found) = parse_with_format(text, format, tz)? {
            return Ok(found);
        }
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(in_zone(instant, tz));
    }
    if let Ok(instant) = DateTime::parse_from_rfc2822(text) {
        return Ok(in_zone(instant, tz));
    }
    if let Some(found) = parse_day_first(text, tz)? {
        return Ok(found);
    }
    if let Some(found) = parse_iso_local(text, tz)? {
        return Ok(found);
    }
    Err(DateError::Unrecognised(text.to_owned()))
}

/// Checks a configured format at load time, so that a typo fails the config rather than every
/// item. chrono has no validator, so this parses the format string itself.
pub fn validate_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!("invalid date format {format:?}"));
    }
    Ok(())
}

/// Converts an instant to the fixed offset of `tz` at that instant (+07:00 for Vietnam).
pub fn in_zone<Z: TimeZone>(instant: DateTime<Z>, tz: Tz) -> DateTime<FixedOffset> {
    instant.with_timezone(&tz).fixed_offset()
}

fn parse_with_format(
    text: &str,
    format: &str,
    tz: Tz,
) -> Result<Option<DateTime<FixedOffset>>, DateError> {
    if let Ok(instant) = DateTime::parse_from_str(text, format) {
        return Ok(Some(in_zone(instant, tz)));
    }
    if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
        return localize(text, local, tz).map(Some);
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, format) {
        return localize(text, day.and_time(NaiveTime::MIN), tz).map(Some);
    }
    Ok(None)
}

fn parse_day_first(text: &str, tz: Tz) -> Result<Option<DateTime<FixedOffset>>, DateError> {
    let Some(caps) = DAY_FIRST.captures(text) else {
        return Ok(None);
    };
    let number = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let (Some(day), Some(month), Some(year)) = (number(1), number(2), number(3)) else {
        return Ok(None);
    };
    let Some(date) = NaiveDate::from_ymd_opt(year as i32, month, day) else {
        return Ok(None);
    };
    let time = match (number(4), number(5)) {
        (Some(hour), Some(minute)) => {
            match NaiveTime::from_hms_opt(hour, minute, number(6).unwrap_or(0)) {
                Some(time) => time,
                None => return Ok(None),
            }
        }
        _ => NaiveTime::MIN,
    };
    localize(text, date.and_time(time), tz).map(Some)
}

/// `2023-01-30 11:00[:00]` and `2023-01-30`, read as local time.
fn parse_iso_local(text: &str, tz: Tz) -> Result<Option<DateTime<FixedOffset>>, DateError> {
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return localize(text, local, tz).map(Some);
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return localize(text, day.and_time(NaiveTime::MIN), tz).map(Some);
    }
    Ok(None)
}

fn localize(text: &str, local: NaiveDateTime, tz: Tz) -> Result<DateTime<FixedOffset>, DateError> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(instant) => Ok(instant.fixed_offset()),
        // A repeated hour (DST fall-back) resolves to the earlier instant, as most sites mean.
        LocalResult::Ambiguous(earlier, _) => Ok(earlier.fixed_offset()),
        LocalResult::None => Err(DateError::LocalTime(text.to_owned(), tz)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VN: Tz = chrono_tz::Asia::Ho_Chi_Minh;

    fn parse(text: &str) -> String {
        parse_datetime(text, VN, &[]).unwrap().to_rfc3339()
    }

    #[test]
    fn reads_every_form_the_fixture_world_shows() {
        assert_eq!(
            parse("Ngày đăng 30/01/2023 | 11:00\u{a0}| Lượt xem: 181"),
            "2023-01-30T11:00:00+07:00"
        );
        assert_eq!(parse("19/02/2021 13:40"), "2021-02-19T13:40:00+07:00");
        assert_eq!(
            parse("Thứ sáu, 19/02/2021 - 13:40"),
            "2021-02-19T13:40:00+07:00"
        );
        assert_eq!(
            parse("Wed, 04 Jan 2023 10:09:00 +0700"),
            "2023-01-04T10:09:00+07:00"
        );
        assert_eq!(parse("2023-01-04T03:09:00Z"), "2023-01-04T10:09:00+07:00");
        assert_eq!(
            parse("Wed, 04 Jan 2023 03:09:00 GMT"),
            "2023-01-04T10:09:00+07:00"
        );
    }

    #[test]
    fn a_date_without_time_is_local_midnight() {
        assert_eq!(parse("Ngày 05/07/2022"), "2022-07-05T00:00:00+07:00");
        assert_eq!(parse("2022-07-05"), "2022-07-05T00:00:00+07:00");
    }

    #[test]
    fn configured_formats_come_first() {
        let formats = vec!["%H:%M ngày %d/%m/%Y".to_owned()];
        let parsed = parse_datetime("13:40 ngày 19/02/2021", VN, &formats).unwrap();
        assert_eq!(parsed.to_rfc3339(), "2021-02-19T13:40:00+07:00");
    }

    #[test]
    fn impossible_dates_are_errors_not_panics() {
        for text in [
            "",
            "hôm qua",
            "31/02/2021 10:00",
            "12/13/2021",
            "99/99/9999 99:99",
        ] {
            assert!(parse_datetime(text, VN, &[]).is_err(), "{text:?}");
        }
    }

    #[test]
    fn format_validation_catches_typos() {
        assert!(validate_format("%d/%m/%Y %H:%M").is_ok());
        assert!(validate_format("%d/%m/%Y %Q").is_err());
    }
}
