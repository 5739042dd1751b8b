//! Canonical URLs: an href as found on a page, resolved like a browser, then canonicalised.
//!
//! The input is one href (lossy UTF-8), resolved against a PORTAL and a LEGACY page and also
//! read as an absolute URL. Properties: never panics; `resolve_link` only ever returns
//! http(s); `canonical_url` is idempotent, drops the fragment and every filtered parameter
//! (`utm_*`, `fbclid`, `zarsrc`, `sid`, as in config/fixtures.toml), and keeps the remaining
//! parameters as they were, in order (DotNetNuke routes on the raw query).

#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use url::Url;
use wardfeed::normalize::url::{QueryFilter, canonical_url, resolve_link};

static PAGES: LazyLock<[Url; 2]> = LazyLock::new(|| {
    [
        format!(
            "{}/phucloi/tin-tuc/chuyen-muc/cong-tac-dang?page=2",
            common::FIXTURES_BASE
        ),
        format!("{}/phucdong/Default.aspx?tabid=118", common::FIXTURES_BASE),
    ]
    .map(|page| Url::parse(&page).expect("valid page URL"))
});

const FILTERED: [&str; 4] = ["utm_*", "fbclid", "zarsrc", "sid"];

static FILTER: LazyLock<QueryFilter> = LazyLock::new(|| QueryFilter::new(FILTERED));

fuzz_target!(|data: &[u8]| {
    let href = String::from_utf8_lossy(data);
    for page in PAGES.iter() {
        if let Some(link) = resolve_link(page, &href) {
            common::assert_followable("resolved link", &link);
            check_canonical(&link);
        }
    }
    if let Ok(absolute) = Url::parse(&href)
        && matches!(absolute.scheme(), "http" | "https")
    {
        check_canonical(&absolute);
    }
});

fn check_canonical(url: &Url) {
    let canonical = canonical_url(url, &FILTER);
    assert_eq!(
        canonical.fragment(),
        None,
        "{url} -> {canonical} keeps a fragment"
    );
    let again = canonical_url(&canonical, &FILTER);
    assert_eq!(
        again.as_str(),
        canonical.as_str(),
        "not idempotent: {url} -> {canonical} -> {again}"
    );
    assert_eq!(canonical.scheme(), url.scheme());
    assert_eq!(canonical.host_str(), url.host_str());
    assert_eq!(canonical.path(), url.path());
    // What a server sees as parameter names (form-urlencoded, so `%5F` and `+` decoded).
    for (name, _) in canonical.query_pairs() {
        let name = name.to_ascii_lowercase();
        assert!(
            !name.starts_with("utm_") && !matches!(name.as_str(), "fbclid" | "zarsrc" | "sid"),
            "filtered parameter {name:?} survived: {url} -> {canonical}"
        );
    }
    // The parameters kept are the original ones, spelled as they were, in their order.
    let original: Vec<&str> = url.query().unwrap_or("").split('&').collect();
    let mut rest = original.iter();
    for pair in canonical
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        assert!(
            rest.any(|o| *o == pair),
            "parameter {pair:?} reordered or respelt: {url} -> {canonical}"
        );
    }
}
