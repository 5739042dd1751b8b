//! Normalisation, in one place: canonical URLs, clean text and dates.
//!
//! Every stage that turns page content into item fields goes through these functions, so that a
//! title scraped from HTML, one read from a feed and one typed in a test compare equal.

pub mod date;
pub mod text;
pub mod url;
pub mod xml;

pub use date::{DEFAULT_TIMEZONE, DateContext, DateError, ParsedDate, parse_date, parse_datetime};
pub use text::{
    clean_optional, clean_text, decode_entities_and_clean, fold_case, is_nfc, parse_count,
    story_title_key,
};
pub use url::{QueryFilter, canonical_url, resolve_link};
