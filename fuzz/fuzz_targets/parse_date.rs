//! Dates as portals print them: `parse_datetime` in Asia/Ho_Chi_Minh.
//!
//! The input's first line is the text; each further line that `validate_format` accepts is a
//! configured chrono format (at most four), as a source's `date = { formats = [...] }` gives
//! them. Properties: never panics; an instant found carries the zone's offset at that instant,
//! which is +07:00 for anything since 1975; a configured format that parses the text wins.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use wardfeed::normalize::date::{parse_datetime, validate_format};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let mut lines = input.split('\n');
    let text = lines.next().unwrap_or_default();
    let formats: Vec<String> = lines
        .filter(|format| validate_format(format).is_ok())
        .take(4)
        .map(str::to_owned)
        .collect();
    if let Ok(instant) = parse_datetime(text, common::VN, &formats) {
        common::assert_local_offset(&instant, common::VN);
    }
    if !formats.is_empty()
        && let Ok(instant) = parse_datetime(text, common::VN, &[])
    {
        common::assert_local_offset(&instant, common::VN);
    }
});
