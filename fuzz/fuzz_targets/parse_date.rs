//! Dates as portals and feeds print them: `parse_date` in Asia/Ho_Chi_Minh, fetched at a fixed
//! instant.
//!
//! The input's first line is the text; each further line that `validate_format` accepts is a
//! configured chrono format (at most four), as a source's `date = { formats = [...] }` gives
//! them. Properties: never panics; a date found carries the zone's offset at that instant,
//! which is +07:00 for anything since 1975, and is never more than a day after the fetch time;
//! a configured format that parses the text wins.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use wardfeed::normalize::date::{DateContext, parse_date, validate_format};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let mut lines = input.split('\n');
    let text = lines.next().unwrap_or_default();
    let formats: Vec<String> = lines
        .filter(|format| validate_format(format).is_ok())
        .take(4)
        .map(str::to_owned)
        .collect();
    let context = DateContext::new(common::VN, *common::NOW);
    if let Ok(date) = parse_date(text, &context.with_formats(&formats)) {
        common::assert_date_in_bounds(&date, common::VN);
    }
    if !formats.is_empty()
        && let Ok(date) = parse_date(text, &context)
    {
        common::assert_date_in_bounds(&date, common::VN);
    }
});
