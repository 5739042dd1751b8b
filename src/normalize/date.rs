//! Dates as portals and feeds print them, turned into instants in the source's time zone: the
//! one date parser of wardfeed, for listing pages, article pages and feeds alike.
//!
//! Understood without configuration (case, diacritics' Unicode form and the words around the
//! date aside):
//! - RFC 3339 / ISO 8601 / W3CDTF (`2023-01-30T11:00:00+07:00`, `2023-01-30 11:00:00`,
//!   `20230130T110000Z`, `2023-01-30`) and RFC 822/2822 with named zones (`GMT`, `EST`…);
//! - day-first numeric dates (`30/01/2023`, `30-01-2023`, `30.01.2023`; month-first only when
//!   it cannot be day-first, `12/31/2023`);
//! - Vietnamese month names and words: `19 Tháng Chín, 2022`, `Tháng Chín 19, 2022`,
//!   `ngày 30 tháng 1 năm 2023`, `30 Th1 2023`, `tháng Giêng`/`tháng Chạp`; English month names;
//! - a time before or after the date (`15:30 30/01/2023`, `30/01/2023 - 15:30`, `15h30`,
//!   `15 giờ 30`), with AM/PM or the vi-VN SA/CH (`03:15 PM`, `3:15:00 CH`; 12 AM/SA is 00,
//!   12 PM/CH is 12), sáng/chiều/tối;
//! - a zone in the text: `(GMT+7)`, `GMT+07:00`, `UTC+7`, `ICT`, `+0700`; without one, the
//!   source's time zone;
//! - weekday names around the date (`Thứ Hai`, `T2`, `Chủ nhật`, `Mon`) are read past;
//! - relative forms, from the fetch time: `Vừa xong`, `N giây/phút/giờ/ngày/tuần/tháng/năm
//!   trước`, `Hôm nay 10:20`, `Hôm qua`, `Hôm kia`, and their English counterparts.
//!
//! A date with no time is the local midnight, marked as date-only so that the pipeline can
//! take the time from the article page. A date more than a day after the fetch time is not
//! trusted (a typo'd 2099 would pin an item to the top of every feed): it is an error, which
//! callers turn into a warning. A source may add its own chrono formats, tried first.

use std::sync::LazyLock;

use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime,
    TimeZone, Timelike,
};
use chrono_tz::Tz;
use regex::{Captures, Regex};
use unicode_normalization::UnicodeNormalization;

/// Time zone of every Vietnamese portal unless a source says otherwise.
pub const DEFAULT_TIMEZONE: &str = "Asia/Ho_Chi_Minh";

/// How far past the fetch time a date may lie and still be believed: a portal's clock or
/// time zone may be off by hours, never by days.
pub const FUTURE_TOLERANCE: Duration = Duration::days(1);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("parse date {0:?}: no date in a known format")]
    Unrecognised(String),
    #[error("parse date {0:?}: the local time does not exist or is ambiguous in {1}")]
    LocalTime(String, Tz),
    #[error(
        "parse date {text:?}: {} is more than a day in the future, not trusted",
        .at.to_rfc3339()
    )]
    Future {
        text: String,
        at: DateTime<FixedOffset>,
    },
}

/// What a date is read against.
#[derive(Debug, Clone, Copy)]
pub struct DateContext<'a> {
    /// The source's time zone: for forms without an offset, and for the result's offset.
    pub tz: Tz,
    /// When the text was fetched: what relative forms count back from, and what a date may
    /// not lie more than a day after. Without it, relative forms are not understood and no
    /// date is too late.
    pub now: Option<DateTime<FixedOffset>>,
    /// The source's own chrono formats, tried first.
    pub formats: &'a [String],
}

impl<'a> DateContext<'a> {
    pub fn new(tz: Tz, now: DateTime<FixedOffset>) -> DateContext<'a> {
        DateContext {
            tz,
            now: Some(now),
            formats: &[],
        }
    }

    pub fn with_formats(self, formats: &'a [String]) -> DateContext<'a> {
        DateContext { formats, ..self }
    }
}

/// A date as read: the instant, and whether the text gave a time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    pub at: DateTime<FixedOffset>,
    /// False for a date alone (`30/01/2023`, `Hôm qua`): `at` is then the local midnight.
    pub has_time: bool,
}

impl ParsedDate {
    /// The more precise of two readings of the same item's date: a date-only reading gives way
    /// to one with a time on the same local day (the article page's time for a listing's date).
    pub fn refined_by(self, other: ParsedDate) -> ParsedDate {
        if !self.has_time && other.has_time && self.at.date_naive() == other.at.date_naive() {
            other
        } else {
            self
        }
    }
}

/// Parses `text` into an instant, expressed with the offset the context's zone has then.
pub fn parse_date(text: &str, context: &DateContext<'_>) -> Result<ParsedDate, DateError> {
    let parsed = parse_any(text.trim(), context)?;
    if let Some(now) = context.now
        && parsed.at > now + FUTURE_TOLERANCE
    {
        return Err(DateError::Future {
            text: text.trim().to_owned(),
            at: parsed.at,
        });
    }
    Ok(parsed)
}

/// `parse_date` without a fetch time, for an instant a person typed (`since=2023-01-30`).
pub fn parse_datetime(
    text: &str,
    tz: Tz,
    formats: &[String],
) -> Result<DateTime<FixedOffset>, DateError> {
    let context = DateContext {
        tz,
        now: None,
        formats,
    };
    parse_date(text, &context).map(|parsed| parsed.at)
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

fn parse_any(text: &str, context: &DateContext<'_>) -> Result<ParsedDate, DateError> {
    let tz = context.tz;
    for format in context.formats {
        if let Some(found) = parse_with_format(text, format, tz)? {
            return Ok(found);
        }
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(exact(in_zone(instant, tz)));
    }
    if let Ok(instant) = DateTime::parse_from_rfc2822(text) {
        return Ok(exact(in_zone(instant, tz)));
    }
    let folded: String = text
        .nfc()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect::<String>()
        .to_lowercase();
    if let Some(found) = parse_calendar(text, &folded, tz)? {
        return Ok(found);
    }
    if let Some(now) = context.now
        && let Some(found) = parse_relative(text, &folded, now, tz)?
    {
        return Ok(found);
    }
    Err(DateError::Unrecognised(text.to_owned()))
}

fn exact(at: DateTime<FixedOffset>) -> ParsedDate {
    ParsedDate { at, has_time: true }
}

fn parse_with_format(text: &str, format: &str, tz: Tz) -> Result<Option<ParsedDate>, DateError> {
    if let Ok(instant) = DateTime::parse_from_str(text, format) {
        return Ok(Some(exact(in_zone(instant, tz))));
    }
    if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
        return localize(text, local, tz).map(|at| Some(exact(at)));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, format) {
        return local_midnight(text, day, tz).map(Some);
    }
    Ok(None)
}

/// Month names: Vietnamese (`Tháng Chín`, `tháng 9`, `Th9`) and English (`Sep`, `September`).
const VI_MONTH: &str = r"(?:th(?:áng)?\.?\s*)(?P<vimonth>1[0-2]|0?[1-9]|mười\s+một|mười\s+hai|mười|một|giêng|hai|ba|tư|bốn|năm|sáu|bảy|tám|chín|chạp)";
const EN_MONTH: &str = r"(?P<enmonth>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?";

/// How a calendar-day form writes its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayForm {
    /// Year first (ISO 8601, W3CDTF), possibly with its own time and offset.
    Iso,
    /// Day first with digits: 30/01/2023 (month first only when it cannot be day first).
    DayFirst,
    /// Month in words (Vietnamese or English).
    Words,
}

/// The forms that name a calendar day, each with named groups `day`, `month` (or `vimonth`,
/// `enmonth`) and `year`, in the order they are tried.
static CALENDAR_DAY: LazyLock<Vec<(DayForm, Regex)>> = LazyLock::new(|| {
    let iso_time = r"(?: (?:t|\s+)(?P<hour>\d{1,2}):(?P<minute>\d{2}) (?: :(?P<second>\d{2}) (?:[.,]\d+)? )?
          \s*(?P<offset>z\b|[+-]\d{2}(?::?\d{2})?)? | \b )";
    [
        // ISO 8601 / W3CDTF extended: 2023-01-30, 2023-01-30T11:00:00+07:00, 2023/01/30 11:00.
        (
            DayForm::Iso,
            format!(r"(?x)\b(?P<year>\d{{4}})[-/.](?P<month>\d{{1,2}})[-/.](?P<day>\d{{1,2}}) {iso_time}"),
        ),
        // ISO 8601 basic: 20230130T110000Z.
        (
            DayForm::Iso,
            r"(?x)\b(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})t(?P<hour>\d{2}):?(?P<minute>\d{2}) (?::?(?P<second>\d{2}))? \s*(?P<offset>z\b|[+-]\d{2}(?::?\d{2})?)?".to_owned(),
        ),
        // Day first: 30/01/2023, 30-1-2023, 30.01.2023.
        (
            DayForm::DayFirst,
            r"\b(?P<day>\d{1,2})\s*[/.\-]\s*(?P<month>\d{1,2})\s*[/.\-]\s*(?P<year>\d{4})\b".to_owned(),
        ),
        // Vietnamese words: ngày 30 tháng 1 năm 2023, 19 Tháng Chín, 2022, 30 Th1 2023.
        (
            DayForm::Words,
            format!(r"\b(?:ngày\s+)?(?P<day>\d{{1,2}})\s+{VI_MONTH}\s*(?:,|năm|/|-)?\s*(?P<year>\d{{4}})\b"),
        ),
        // Month first in Vietnamese words (WordPress's "F j, Y"): Tháng Chín 19, 2022.
        (
            DayForm::Words,
            format!(r"\b{VI_MONTH}\s+(?P<day>\d{{1,2}})\s*,\s*(?P<year>\d{{4}})\b"),
        ),
        // English: 30 Jan 2023, 01 Jan 04 (RFC 822's two-digit year), 30-Jan-2023.
        (
            DayForm::Words,
            format!(r"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s*[ \-]\s*{EN_MONTH}\s*[ \-,]\s*(?P<year>\d{{4}}|\d{{2}})\b"),
        ),
        // English month first: January 30, 2023.
        (
            DayForm::Words,
            format!(r"\b{EN_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s*,?\s+(?P<year>\d{{4}})\b"),
        ),
    ]
    .into_iter()
    .map(|(form, pattern)| (form, Regex::new(&pattern).expect("valid date regex")))
    .collect()
});

/// A time of day: 15:30, 15:30:00, 15h30, 15h, 15 giờ 30 (phút), with an optional meridiem
/// and offset. Not after a `+` (the `07:00` of `GMT+07:00` is a zone, not a time).
static TIME_OF_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?:^|[^\d:+])
        (?P<hour>[01]?\d|2[0-3])
        (?: \s*:\s*(?P<minute>[0-5]\d) (?: \s*:\s*(?P<second>[0-5]\d) (?:[.,]\d+)? )?
          | \s*h(?P<hminute>[0-5]\d)?\b
          | \s*giờ\b (?: \s*(?P<gminute>[0-5]\d)\b (?:\s*phút)? )? )
        (?: \s*(?P<meridiem>a\.?m\b\.?|p\.?m\b\.?|sa\b|ch\b|sáng|chiều|tối|trưa|đêm) )?
        (?:\s*(?P<offset>[+-]\d{2}:?\d{2})\b)?
        (?:[^\d]|$)",
    )
    .expect("valid time regex")
});

/// Digits shaped like a time of day, valid or not.
static LOOKS_LIKE_TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^\d:+])\d{1,2}\s*:\s*\d{2}").expect("valid regex"));

/// A zone named in the text: GMT+7, (GMT+07:00), UTC+7, or a name.
static ZONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:(?:gmt|utc|ut)\s*(?P<sign>[+-])\s*(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?|(?P<name>gmt|utc|ut|ict|est|edt|cst|cdt|mst|mdt|pst|pdt))\b",
    )
    .expect("valid zone regex")
});

fn parse_calendar(original: &str, text: &str, tz: Tz) -> Result<Option<ParsedDate>, DateError> {
    let Some((caps, date)) = CALENDAR_DAY.iter().find_map(|(form, regex)| {
        regex.captures_iter(text).find_map(|caps| {
            let date = calendar_day(*form, &caps)?;
            Some((caps, date))
        })
    }) else {
        return Ok(None);
    };
    let whole = caps.get(0).expect("match");
    let unrecognised = || DateError::Unrecognised(original.to_owned());
    // The ISO form carries its own time; any other looks for one before or after the date.
    let (time, mut offset) = if let Some(hour) = caps.name("hour") {
        let time = clock_time(
            number(hour.as_str()),
            caps.name("minute").map_or(0, |m| number(m.as_str())),
            caps.name("second").map_or(0, |s| number(s.as_str())),
        )
        .ok_or_else(unrecognised)?;
        (
            Some(time),
            caps.name("offset").and_then(|o| fixed_offset(o.as_str())),
        )
    } else {
        let rest = [&text[..whole.start()], " ", &text[whole.end()..]].concat();
        match TIME_OF_DAY.captures(&rest) {
            Some(time) => {
                let clock = time_of_day(&time).ok_or_else(unrecognised)?;
                (
                    Some(clock),
                    time.name("offset").and_then(|o| fixed_offset(o.as_str())),
                )
            }
            // Something shaped like a time that is not one (25:61): not a date-only form.
            None if LOOKS_LIKE_TIME.is_match(&rest) => return Err(unrecognised()),
            None => (None, None),
        }
    };
    if offset.is_none() {
        offset = ZONE.captures(text).and_then(|zone| named_offset(&zone));
    }
    let Some(time) = time else {
        return local_midnight(original, date, tz).map(Some);
    };
    let local = date.and_time(time);
    let at = match offset {
        Some(offset) => match offset.from_local_datetime(&local) {
            LocalResult::Single(at) => in_zone(at, tz),
            _ => return Err(unrecognised()),
        },
        None => localize(original, local, tz)?,
    };
    Ok(Some(exact(at)))
}

fn number(text: &str) -> u32 {
    text.parse().unwrap_or(u32::MAX)
}

/// The calendar day a match names, if it is a real one.
fn calendar_day(form: DayForm, caps: &Captures<'_>) -> Option<NaiveDate> {
    let day = number(caps.name("day")?.as_str());
    let year = caps.name("year")?.as_str();
    let year = match (year.len(), number(year)) {
        // RFC 822's two-digit years, as RFC 2822 reads them.
        (2, short) if short < 50 => 2000 + short,
        (2, short) => 1900 + short,
        (_, long) => long,
    } as i32;
    let month = if let Some(month) = caps.name("month") {
        number(month.as_str())
    } else if let Some(word) = caps.name("vimonth") {
        vietnamese_month(word.as_str())?
    } else {
        english_month(caps.name("enmonth")?.as_str())?
    };
    NaiveDate::from_ymd_opt(year, month, day).or_else(|| {
        // 12/31/2023 cannot be day-first; it can only be month-first.
        (form == DayForm::DayFirst && day <= 12 && month > 12)
            .then(|| NaiveDate::from_ymd_opt(year, day, month))
            .flatten()
    })
}

fn vietnamese_month(word: &str) -> Option<u32> {
    let word: String = word.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match word.as_str() {
        "một" | "giêng" => 1,
        "hai" => 2,
        "ba" => 3,
        "tư" | "bốn" => 4,
        "năm" => 5,
        "sáu" => 6,
        "bảy" => 7,
        "tám" => 8,
        "chín" => 9,
        "mười" => 10,
        "mười một" => 11,
        "mười hai" | "chạp" => 12,
        digits => digits.parse().ok().filter(|m| (1..=12).contains(m))?,
    })
}

fn english_month(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    MONTHS
        .iter()
        .position(|m| word.starts_with(m))
        .map(|i| i as u32 + 1)
}

fn clock_time(hour: u32, minute: u32, second: u32) -> Option<NaiveTime> {
    NaiveTime::from_hms_opt(hour, minute, second)
}

/// A matched time of day, with its meridiem applied.
fn time_of_day(caps: &Captures<'_>) -> Option<NaiveTime> {
    let mut hour = number(caps.name("hour")?.as_str());
    let minute = caps
        .name("minute")
        .or_else(|| caps.name("hminute"))
        .or_else(|| caps.name("gminute"))
        .map_or(0, |m| number(m.as_str()));
    let second = caps.name("second").map_or(0, |s| number(s.as_str()));
    if let Some(meridiem) = caps.name("meridiem") {
        let meridiem = meridiem.as_str().replace('.', "");
        hour = match meridiem.as_str() {
            // 12 AM (SA) is midnight; 1–11 AM as written.
            "am" | "sa" | "sáng" if hour == 12 => 0,
            "am" | "sa" | "sáng" => hour,
            // 12 PM (CH) is noon; 1–11 PM are 13–23.
            "pm" | "ch" | "chiều" | "tối" if hour < 12 => hour + 12,
            // "1 giờ trưa" is 13:00, "11 giờ trưa" 11:00.
            "trưa" if hour < 11 => hour + 12,
            // "11 giờ đêm" is 23:00, "2 giờ đêm" 02:00.
            "đêm" if (6..12).contains(&hour) => hour + 12,
            _ => hour,
        };
    }
    clock_time(hour, minute, second)
}

/// `Z`, `+07`, `+0700`, `+07:00`.
fn fixed_offset(text: &str) -> Option<FixedOffset> {
    if text == "z" {
        return FixedOffset::east_opt(0);
    }
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let hours: i32 = digits.get(..2)?.parse().ok()?;
    let minutes: i32 = digits.get(2..4).map_or(Some(0), |m| m.parse().ok())?;
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn named_offset(caps: &Captures<'_>) -> Option<FixedOffset> {
    let hours_east = match caps.name("name").map(|n| n.as_str()) {
        Some("gmt" | "utc" | "ut") => 0,
        Some("ict") => 7,
        Some("est") => -5,
        Some("edt") => -4,
        Some("cst") => -6,
        Some("cdt") => -5,
        Some("mst") => -7,
        Some("mdt") => -6,
        Some("pst") => -8,
        Some("pdt") => -7,
        Some(_) => return None,
        None => {
            let sign = if &caps["sign"] == "-" { -1 } else { 1 };
            let hours: i32 = caps["hours"].parse().ok()?;
            let minutes: i32 = caps
                .name("minutes")
                .map_or(Some(0), |m| m.as_str().parse().ok())?;
            return FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60));
        }
    };
    FixedOffset::east_opt(hours_east * 3600)
}

/// Relative forms, counted back from `now`.
static RELATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<just>vừa\s+xong|vừa\s+mới|mới\s+đây|just\s+now)
        | (?P<count>\d+)\s*(?P<unit>giây|phút|giờ|tiếng|ngày|tuần|tháng|năm
             |seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)\s*(?:trước|ago)\b
        | (?P<day>hôm\s+nay|hôm\s+qua|hôm\s+kia|today|yesterday)",
    )
    .expect("valid relative-date regex")
});

fn parse_relative(
    original: &str,
    text: &str,
    now: DateTime<FixedOffset>,
    tz: Tz,
) -> Result<Option<ParsedDate>, DateError> {
    let Some(caps) = RELATIVE.captures(text) else {
        return Ok(None);
    };
    let now = in_zone(now, tz);
    let unrecognised = || DateError::Unrecognised(original.to_owned());
    if caps.name("just").is_some() {
        return Ok(Some(exact(truncate(now, 60))));
    }
    if let (Some(count), Some(unit)) = (caps.name("count"), caps.name("unit")) {
        let count: i64 = count.as_str().parse().map_err(|_| unrecognised())?;
        let unit = unit.as_str();
        // Counted back in the unit the portal printed, then cut to that unit, so that the
        // same item reads the same on the next refresh ("3 giờ trước" an hour later is "4").
        let seconds = match unit.chars().next() {
            _ if unit == "giây" || unit.starts_with("sec") => Some(1),
            _ if unit == "phút" || unit.starts_with("min") => Some(60),
            _ if unit == "giờ" || unit == "tiếng" || unit.starts_with('h') => Some(3600),
            _ => None,
        };
        if let Some(seconds) = seconds {
            let ago = Duration::try_seconds(count.checked_mul(seconds).ok_or_else(unrecognised)?)
                .ok_or_else(unrecognised)?;
            let at = now.checked_sub_signed(ago).ok_or_else(unrecognised)?;
            return Ok(Some(exact(truncate(at, seconds))));
        }
        let today = now.date_naive();
        let count32 = u32::try_from(count).map_err(|_| unrecognised())?;
        let day = match unit {
            "ngày" => {
                today.checked_sub_signed(Duration::try_days(count).ok_or_else(unrecognised)?)
            }
            "tuần" => {
                today.checked_sub_signed(Duration::try_weeks(count).ok_or_else(unrecognised)?)
            }
            "tháng" => today.checked_sub_months(Months::new(count32)),
            "năm" => today.checked_sub_months(Months::new(count32.saturating_mul(12))),
            english if english.starts_with('d') => {
                today.checked_sub_signed(Duration::try_days(count).ok_or_else(unrecognised)?)
            }
            english if english.starts_with('w') => {
                today.checked_sub_signed(Duration::try_weeks(count).ok_or_else(unrecognised)?)
            }
            english if english.starts_with("mo") => today.checked_sub_months(Months::new(count32)),
            _ => today.checked_sub_months(Months::new(count32.saturating_mul(12))),
        }
        .ok_or_else(unrecognised)?;
        return local_midnight(original, day, tz).map(Some);
    }
    let days_back = match caps
        .name("day")
        .map(|d| d.as_str().split_whitespace().collect::<String>())
    {
        Some(word) if word == "hômnay" || word == "today" => 0,
        Some(word) if word == "hômqua" || word == "yesterday" => 1,
        Some(_) => 2,
        None => return Ok(None),
    };
    let day = now.date_naive() - Duration::days(days_back);
    let whole = caps.get(0).expect("match");
    let rest = [&text[..whole.start()], " ", &text[whole.end()..]].concat();
    match TIME_OF_DAY.captures(&rest) {
        Some(time) => {
            let clock = time_of_day(&time).ok_or_else(unrecognised)?;
            localize(original, day.and_time(clock), tz).map(|at| Some(exact(at)))
        }
        None => local_midnight(original, day, tz).map(Some),
    }
}

/// `at` cut down to a whole number of `seconds` (a minute, an hour) in its local time.
fn truncate(at: DateTime<FixedOffset>, seconds: i64) -> DateTime<FixedOffset> {
    let into = match seconds {
        3600 => i64::from(at.minute()) * 60 + i64::from(at.second()),
        60 => i64::from(at.second()),
        _ => 0,
    };
    (at - Duration::seconds(into))
        .with_nanosecond(0)
        .unwrap_or(at)
}

fn local_midnight(text: &str, day: NaiveDate, tz: Tz) -> Result<ParsedDate, DateError> {
    // A zone whose clocks skip midnight (a DST change at 00:00) starts the day at 01:00.
    let at = localize(text, day.and_time(NaiveTime::MIN), tz).or_else(|_| {
        localize(
            text,
            day.and_time(NaiveTime::from_hms_opt(1, 0, 0).expect("valid")),
            tz,
        )
    })?;
    Ok(ParsedDate {
        at,
        has_time: false,
    })
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
mod tests;
