//! feedparser 6.0.11's own test suite read through wardfeed's real feed ingest.
//!
//! `tests/data/feedparser/` holds the suite's feeds and licence, and `expected.json` what
//! feedparser 6.0.11 itself read from each (made by `scripts/feedparser-corpus.py`). For every
//! case feedparser reads as well-formed and with entries, wardfeed must read the same number of
//! entries, each with the same link, title and date (as an instant), unless the case is in
//! `KNOWN_DIFFERENCES` with the reason feedparser is the one that is wrong (or the reason the
//! difference is wardfeed's choice). A listed case that starts agreeing fails the test too, so
//! the table stays true.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;
use wardfeed::ingest::{self, FeedRequest};
use wardfeed::normalize::date::DateContext;

#[derive(Debug, Deserialize)]
struct Expected {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    path: String,
    content_type: Option<String>,
    #[serde(default)]
    crash: Option<String>,
    #[serde(default)]
    bozo: bool,
    #[serde(default)]
    entries: Vec<ExpectedEntry>,
    #[serde(default)]
    feed_title: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExpectedEntry {
    link: Option<String>,
    title: Option<String>,
    title_type: Option<String>,
    /// Unix seconds.
    published: Option<i64>,
}

/// An Atom `<id>` is an identifier, not an address (RFC 4287, 4.2.6).
const ATOM_ID_IS_NO_LINK: &str = "an entry with an <id> and no <link>: feedparser makes the id the entry's link (its guidislink rule, the one that also turns tag: ids into links); an Atom id is an identifier, not an address (RFC 4287, 4.2.6), so wardfeed keeps it as the guid and gives no link";

/// RSS 1.0 (5.5): an item's `rdf:about` is its URI, identical to its `<link>` where possible.
const RDF_ABOUT_IS_THE_LINK: &str = "an RSS 1.0 item with rdf:about and no <link>: feedparser ignores rdf:about; it is the item's URI, the same as its link where it has one (RSS 1.0, 5.5), so wardfeed takes it as the link";

/// Cases where wardfeed reads differently from feedparser on purpose, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("wellformed/atom/entry_id.xml", ATOM_ID_IS_NO_LINK),
    ("wellformed/atom/entry_id_map_guid.xml", ATOM_ID_IS_NO_LINK),
    ("wellformed/atom10/entry_id.xml", ATOM_ID_IS_NO_LINK),
    (
        "wellformed/atom10/entry_id_map_guid.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/atom10/entry_id_no_normalization_1.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/atom10/entry_id_no_normalization_2.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/atom10/entry_id_no_normalization_3.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/atom10/entry_id_no_normalization_4.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/atom10/entry_id_no_normalization_5.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/atom10/entry_id_no_normalization_6.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/atom10/entry_id_no_normalization_7.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/atom10/entry_id_with_attributes.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/base/http_entry_id_base_content_location.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/base/http_entry_id_base_docuri.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/lang/http_content_language_entry_title_inherit_2.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/node_precedence/atom10_id.xml",
        ATOM_ID_IS_NO_LINK,
    ),
    (
        "wellformed/rdf/rdf_item_description.xml",
        RDF_ABOUT_IS_THE_LINK,
    ),
    (
        "wellformed/rdf/rdf_item_rdf_about.xml",
        RDF_ABOUT_IS_THE_LINK,
    ),
    ("wellformed/rdf/rdf_item_title.xml", RDF_ABOUT_IS_THE_LINK),
    (
        "wellformed/rss/item_category_image.xml",
        "the only <title> is that of an <image> inside a <category>: feedparser makes it the entry's title, wardfeed reads only the entry's own",
    ),
    (
        "wellformed/sanitize/entry_title_crazy.xml",
        "the HTML title hides a comment inside a <script>: feedparser's SGML tokeniser ends the script early and keeps some of its code as words; HTML5 parsing (wardfeed's, a browser's) keeps all of it out",
    ),
];

fn expected() -> Expected {
    serde_json::from_slice(&std::fs::read(data_dir().join("expected.json")).unwrap()).unwrap()
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/feedparser")
}

fn case_url(path: &str) -> Url {
    Url::parse(&format!("http://127.0.0.1:8097/tests/{path}")).unwrap()
}

/// A title as text to compare: feedparser keeps an HTML title as markup, wardfeed as text.
fn expected_title(entry: &ExpectedEntry) -> String {
    let title = entry.title.as_deref().unwrap_or("");
    match entry.title_type.as_deref() {
        Some("text/html" | "application/xhtml+xml") => wardfeed::extract::html_text(title),
        _ => wardfeed::normalize::clean_text(title),
    }
}

/// feedparser leaves a relative link relative when it has no base; wardfeed resolves it
/// against the feed's URL, as a reader would.
fn expected_link(entry: &ExpectedEntry, base: &Url) -> Option<String> {
    let link = entry.link.as_deref().filter(|l| !l.is_empty())?;
    Some(
        base.join(link)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| link.to_owned()),
    )
}

/// The case through the real ingest, with the HTTP Content-Type the test server would send.
fn read(case: &Case, bytes: &[u8], url: &Url) -> Result<ingest::Feed, ingest::IngestError> {
    // feedparser reads a date without an offset as UTC: so does the source here.
    let fetched_at = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap();
    let request = FeedRequest {
        url,
        content_type: case.content_type.as_deref(),
        charset: None,
        dates: DateContext::new(chrono_tz::UTC, fetched_at),
    };
    ingest::parse_feed(bytes, &request)
}

/// What differs between feedparser's reading of a case and wardfeed's, if anything.
fn compare(case: &Case) -> Option<String> {
    let bytes = std::fs::read(data_dir().join(&case.path)).unwrap();
    let url = case_url(&case.path);
    let entries = match read(case, &bytes, &url) {
        Ok(feed) => feed.entries,
        Err(error) => return Some(format!("error: {error}")),
    };
    if entries.len() != case.entries.len() {
        return Some(format!(
            "{} entries, feedparser {}",
            entries.len(),
            case.entries.len()
        ));
    }
    let mut differences = Vec::new();
    for (i, (ours, theirs)) in entries.iter().zip(&case.entries).enumerate() {
        let link = ours.link.as_ref().map(Url::to_string);
        let expected = expected_link(theirs, &url);
        if link != expected {
            differences.push(format!("entry {i} link {link:?}, feedparser {expected:?}"));
        }
        let title = ours.title.clone().unwrap_or_default();
        let expected = expected_title(theirs);
        if title != expected {
            differences.push(format!(
                "entry {i} title {title:?}, feedparser {expected:?}"
            ));
        }
        let published = ours.published.map(|p| p.at.timestamp());
        if published != theirs.published {
            differences.push(format!(
                "entry {i} date {published:?}, feedparser {:?}",
                theirs.published
            ));
        }
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

#[test]
fn wardfeed_reads_what_feedparser_reads() {
    let expected = expected();
    let known: BTreeMap<&str, &str> = KNOWN_DIFFERENCES.iter().copied().collect();
    let compared: Vec<&Case> = expected
        .cases
        .iter()
        .filter(|c| c.crash.is_none() && !c.bozo && !c.entries.is_empty())
        .collect();
    let mut agree = 0;
    let mut unexpected = Vec::new();
    let mut known_hold = 0;
    let mut stale = Vec::new();
    for case in &compared {
        match (compare(case), known.get(case.path.as_str())) {
            (None, None) => agree += 1,
            (None, Some(_)) => stale.push(case.path.clone()),
            (Some(_), Some(_)) => known_hold += 1,
            (Some(difference), None) => unexpected.push(format!("{}: {difference}", case.path)),
        }
    }
    println!(
        "feedparser corpus: {} well-formed cases with entries; {agree} read the same, {known_hold} known differences, {} unexpected",
        compared.len(),
        unexpected.len()
    );
    let mut by_suite: BTreeMap<String, usize> = BTreeMap::new();
    for line in &unexpected {
        let suite = line.split('/').take(2).collect::<Vec<_>>().join("/");
        *by_suite.entry(suite).or_default() += 1;
    }
    println!("unexpected by suite: {by_suite:?}");
    for line in unexpected.iter().take(400) {
        println!("  {line}");
    }
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{} cases read differently from feedparser; listed but now agreeing: {stale:?}",
        unexpected.len()
    );
}

/// Encodings no maintained Rust crate decodes: wardfeed reads these documents with a warning
/// naming the encoding (`fetch::decode`), never as silent garbage.
const UNDECODABLE: &[&str] = &[
    // EBCDIC code pages.
    "cp037",
    "cp500",
    "cp875",
    "cp1140",
    "ibm037",
    "ibm039",
    "ibm500",
    "ibm1140",
    "csibm037",
    "csibm500",
    "ebcdic-cp-be",
    "ebcdic-cp-ca",
    "ebcdic-cp-ch",
    "ebcdic-cp-nl",
    "ebcdic-cp-us",
    "ebcdic-cp-wt",
    "ebcdic_cp_be",
    "ebcdic_cp_ca",
    "ebcdic_cp_ch",
    "ebcdic_cp_nl",
    "ebcdic_cp_us",
    "ebcdic_cp_wt",
    // IBM/Mac code pages outside encoding_rs and oem_cp.
    "cp856",
    "cp1125",
    "cp_is",
    "koi8-t",
    "macgreek",
    "maciceland",
    "maclatin2",
    "maccentraleurope",
    "macturkish",
];

#[test]
fn wardfeed_decodes_what_feedparser_decodes() {
    let expected = expected();
    let mut compared = 0;
    let mut undecodable = 0;
    let mut wrong = Vec::new();
    for case in expected.cases.iter().filter(|c| {
        c.path.starts_with("encoding/") && c.crash.is_none() && !c.bozo && c.feed_title.is_some()
    }) {
        let bytes = std::fs::read(data_dir().join(&case.path)).unwrap();
        let url = case_url(&case.path);
        let read = read(case, &bytes, &url);
        let declared = case.encoding.as_deref().unwrap_or("");
        if UNDECODABLE.contains(&declared) {
            undecodable += 1;
            let said = match &read {
                Ok(feed) => feed.warnings.iter().any(|w| w.contains("cannot decode")),
                Err(error) => error.to_string().contains("cannot decode"),
            };
            assert!(
                said,
                "{}: {declared} read without saying so: {read:?}",
                case.path
            );
            continue;
        }
        let feed = read.unwrap_or_else(|e| panic!("{}: {e}", case.path));
        compared += 1;
        let title = wardfeed::normalize::clean_text(case.feed_title.as_deref().unwrap());
        if feed.title.as_deref().unwrap_or("") != title {
            wrong.push(format!(
                "{} ({declared}): {:?}, feedparser {title:?}",
                case.path, feed.title
            ));
        }
    }
    println!(
        "encodings: {compared} documents decoded as feedparser does, {undecodable} undecodable with a warning"
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(compared >= 80, "only {compared} compared");
}

/// Documents feedparser itself calls ill-formed (bozo) but reads entries from (undeclared
/// HTML entities, a bare `&`, truncation): wardfeed reads them too. Counted, and every one
/// must give entries or a named error, never a panic; the counts are in TESTING.md.
#[test]
fn ill_formed_documents_with_entries_are_read() {
    let expected = expected();
    let cases: Vec<&Case> = expected
        .cases
        .iter()
        .filter(|c| c.crash.is_none() && c.bozo && !c.entries.is_empty())
        .collect();
    let known: BTreeMap<&str, &str> = ILL_FORMED_DIFFERENCES.iter().copied().collect();
    let mut same = 0;
    let mut unexpected = Vec::new();
    let mut stale = Vec::new();
    for case in &cases {
        match (compare(case), known.get(case.path.as_str())) {
            (None, None) => same += 1,
            (None, Some(_)) => stale.push(case.path.clone()),
            (Some(_), Some(_)) => {}
            (Some(difference), None) => unexpected.push(format!("{}: {difference}", case.path)),
        }
    }
    println!(
        "ill-formed: {} cases with entries; {same} read the same, {} known differences, {} unexpected",
        cases.len(),
        known.len(),
        unexpected.len()
    );
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{unexpected:#?}; listed but now agreeing: {stale:?}"
    );
    // Where both read garbage, wardfeed says so.
    for path in known.keys().filter(|p| p.contains("/chardet/")) {
        let case = cases.iter().find(|c| c.path == *path).unwrap();
        let bytes = std::fs::read(data_dir().join(path)).unwrap();
        let feed = read(case, &bytes, &case_url(path)).unwrap();
        assert!(
            feed.warnings.iter().any(|w| w.contains("are not UTF-8")),
            "{path}: {:?}",
            feed.warnings
        );
    }
}

const UNDECLARED_LEGACY_ENCODING: &str = "no encoding declared and the bytes are in a legacy Asian or Cyrillic encoding: feedparser without chardet reads them as windows-1252, wardfeed as UTF-8; both give garbage, and wardfeed warns that the bytes are not UTF-8 (set `charset` for the source)";

/// Ill-formed cases where wardfeed reads differently from feedparser, with the reason.
const ILL_FORMED_DIFFERENCES: &[(&str, &str)] = &[
    (
        "illformed/rdf_channel_empty_textinput.xml",
        RDF_ABOUT_IS_THE_LINK,
    ),
    (
        "illformed/rss_incomplete_cdata.xml",
        "the document ends inside the only item: feedparser's loose parser keeps the half-read item; wardfeed keeps the entries that closed before the break and says it left one out",
    ),
    ("illformed/chardet/eucjp.xml", UNDECLARED_LEGACY_ENCODING),
    ("illformed/chardet/euckr.xml", UNDECLARED_LEGACY_ENCODING),
    ("illformed/chardet/gb2312.xml", UNDECLARED_LEGACY_ENCODING),
    ("illformed/chardet/koi8r.xml", UNDECLARED_LEGACY_ENCODING),
    ("illformed/chardet/shiftjis.xml", UNDECLARED_LEGACY_ENCODING),
];
