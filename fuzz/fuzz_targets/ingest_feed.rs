//! Feed ingestion: `ingest::parse_feed` on raw bytes (RSS 0.90–2.0, RSS 1.0/RDF, Atom 0.3/1.0,
//! CDF, JSON Feed, any encoding, ill-formed or not), then sanitising any full content, as the
//! pipeline does.
//!
//! Properties: never panics (a parse error is fine); every link and image is http(s); dates
//! carry the zone's offset and lie no more than a day after the fetch time; titles and guids
//! are clean text; sanitised content has nothing executable.

#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use url::Url;
use wardfeed::ingest::FeedRequest;
use wardfeed::normalize::date::DateContext;
use wardfeed::{ingest, sanitize};

static FEED_URL: LazyLock<Url> = LazyLock::new(|| {
    Url::parse(&format!(
        "{}/longbien/rss/tin-tuc-su-kien.rss",
        common::FIXTURES_BASE
    ))
    .expect("valid feed URL")
});

fuzz_target!(|data: &[u8]| {
    let request = FeedRequest::new(&FEED_URL, DateContext::new(common::VN, *common::NOW));
    let Ok(feed) = ingest::parse_feed(data, &request) else {
        return;
    };
    for entry in feed.entries {
        if let Some(link) = &entry.link {
            common::assert_followable("entry link", link);
        }
        if let Some(image) = &entry.image {
            common::assert_followable("entry image", image);
        }
        if let Some(published) = &entry.published {
            common::assert_date_in_bounds(published, common::VN);
        }
        for text in [&entry.title, &entry.guid, &entry.summary]
            .into_iter()
            .flatten()
        {
            common::assert_clean(text);
            assert!(!text.is_empty(), "an empty field is None, not \"\"");
        }
        if let Some(content) = &entry.content_html {
            let base = entry.link.as_ref().unwrap_or(&FEED_URL);
            common::assert_safe_html(&sanitize::article_html(content, base));
        }
    }
});
