//! HTML extraction: listing pages into entries, article pages into bodies, by configured selectors.
//!
//! Pages arrive here as decoded text; `scraper` types never leave this module.

pub mod body;
pub mod bounds;
pub mod json;
pub mod postback;
pub mod rules;

use scraper::{ElementRef, Html, Selector};
use std::sync::LazyLock;
use url::Url;

use crate::model::ErrorKind;
use crate::normalize::date::{DateContext, DateError, ParsedDate, parse_date};
use crate::normalize::{self, clean_optional, fold_case, parse_count, resolve_link};
pub use rules::{
    ArticleRules, EntryFields, Field, ListingRules, SiteRules, ValueKind, check_rules,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "extract {url}: listing container {selector:?} not found (has the page layout changed?)"
    )]
    ContainerNotFound { url: String, selector: String },
    #[error("extract {url}: the page ends before </html> (cut off in transfer?)")]
    Truncated { url: String },
    #[error(
        "extract {url}: {replaced} characters do not decode as {charset} (wrong charset declared? set `charset` for the source)"
    )]
    Undecodable {
        url: String,
        charset: String,
        replaced: usize,
    },
    #[error("extract {url}: the answer is not JSON: {message}")]
    JsonInvalid { url: String, message: String },
    #[error(
        "extract {url}: no array of items at JSON Pointer {pointer:?} (found {found}; has the API changed?)"
    )]
    JsonItemsNotFound {
        url: String,
        pointer: String,
        found: String,
    },
}

impl ExtractError {
    /// The failure class, in the one vocabulary from fetch to dashboard.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExtractError::ContainerNotFound { .. } => ErrorKind::LayoutChanged,
            ExtractError::Truncated { .. } => ErrorKind::Truncated,
            ExtractError::Undecodable { .. } => ErrorKind::Encoding,
            ExtractError::JsonInvalid { .. } => ErrorKind::JsonParse,
            ExtractError::JsonItemsNotFound { .. } => ErrorKind::LayoutChanged,
        }
    }
}

/// Checks that a decoded page can be trusted before anything is read from it: a page that
/// opens `<html>` but never closes it was cut off (a truncated article would otherwise replace
/// its stored text), and a page full of U+FFFD was decoded in the wrong charset.
pub fn check_page(text: &str, url: &Url, charset: &str) -> Result<(), ExtractError> {
    let replaced = text
        .chars()
        .filter(|c| *c == char::REPLACEMENT_CHARACTER)
        .count();
    // A stray undecodable byte happens on real portals; a page's worth of them does not.
    let non_ascii = text.chars().filter(|c| !c.is_ascii()).count().max(1);
    if replaced >= 16 && replaced * 100 >= non_ascii {
        return Err(ExtractError::Undecodable {
            url: url.to_string(),
            charset: charset.to_owned(),
            replaced,
        });
    }
    let head_end = floor_boundary(text, 4096);
    let tail_start = floor_boundary(text, text.len().saturating_sub(4096));
    if contains_ignore_case(&text[..head_end], "<html")
        && !contains_ignore_case(&text[tail_start..], "</html")
    {
        return Err(ExtractError::Truncated {
            url: url.to_string(),
        });
    }
    Ok(())
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A field-level problem with one entry: worth telling the admin, never worth failing for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWarning {
    pub field: &'static str,
    pub message: String,
}

/// One entry of a listing page, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingEntry {
    /// Absolute link as the page gives it (fetchable); canonicalisation happens later.
    pub link: Url,
    pub title: Option<String>,
    pub published: Option<ParsedDate>,
    pub category: Option<String>,
    pub views: Option<u64>,
    pub summary: Option<String>,
    pub image: Option<Url>,
    pub warnings: Vec<FieldWarning>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListingPage {
    pub entries: Vec<ListingEntry>,
    /// Elements matched as items that had no usable link (header rows, ads).
    pub skipped: usize,
    pub next: Option<Url>,
    /// Page-level problems: the page was cut to its bounds (`bounds::PageLimits`); a
    /// `next_page` selector that matches links none of which reads as the configured text
    /// (so page 2 would be silently lost).
    pub warnings: Vec<FieldWarning>,
    /// The next page of a WebForms listing: its form, to post back.
    pub postback: Option<postback::Postback>,
    /// Why a next-page control that is there cannot be followed (a link that is no
    /// `__doPostBack`, a form too big): the listing stops there, and says why.
    pub next_problem: Option<String>,
}

/// What an article page adds to its entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Article {
    pub title: Option<String>,
    pub published: Option<ParsedDate>,
    pub image: Option<Url>,
    /// The body container's HTML, not yet sanitised; `None` when the container is missing.
    pub body_html: Option<String>,
    /// What the body's relative links resolve against (`<base href>` or the page URL).
    pub base: Option<Url>,
    pub warnings: Vec<FieldWarning>,
}

static BASE_HREF: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("base[href]").expect("valid selector"));
static ANY_IMAGE: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("img").expect("valid selector"));
static LINK_HREF: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("a[href]").expect("valid selector"));

/// The URL relative links on this page resolve against: `<base href>` when the page has one.
fn document_base(doc: &Html, page_url: &Url) -> Url {
    doc.select(&BASE_HREF)
        .next()
        .and_then(|base| base.value().attr("href"))
        .and_then(|href| resolve_link(page_url, href))
        .unwrap_or_else(|| page_url.clone())
}

/// Extracts the entries and the next-page link of one listing page. `dates` holds the source's
/// time zone and the fetch time (what relative dates count back from).
pub fn listing(
    html: &str,
    page_url: &Url,
    rules: &ListingRules,
    dates: &DateContext<'_>,
) -> Result<ListingPage, ExtractError> {
    let (html, cut) = bounds::bounded(html, bounds::PageLimits::default());
    let doc = Html::parse_document(html);
    let base = document_base(&doc, page_url);
    let scope = match &rules.list {
        Some(list) => doc
            .select(list)
            .next()
            .ok_or_else(|| ExtractError::ContainerNotFound {
                url: page_url.to_string(),
                selector: selector_text(list),
            })?,
        None => doc.root_element(),
    };
    let mut warnings: Vec<FieldWarning> = cut.into_iter().map(page_cut).collect();
    let mut page = ListingPage {
        entries: Vec::new(),
        skipped: 0,
        next: None,
        warnings: Vec::new(),
        postback: None,
        next_problem: None,
    };
    match next_page(&doc, &base, page_url, rules, &mut warnings) {
        Ok(Some(postback::PostbackNext::Get(url))) => page.next = Some(url),
        Ok(Some(postback::PostbackNext::Post(form))) => page.postback = Some(form),
        Ok(None) => {}
        Err(problem) => page.next_problem = Some(problem),
    }
    page.warnings = warnings;
    let Some(item_selector) = &rules.item else {
        return Ok(page);
    };
    for element in scope.select(item_selector) {
        match listing_entry(element, &base, &rules.fields, dates) {
            Some(entry) => page.entries.push(entry),
            None => page.skipped += 1,
        }
    }
    Ok(page)
}

fn listing_entry(
    element: ElementRef<'_>,
    base: &Url,
    rules: &EntryFields<Field>,
    dates: &DateContext<'_>,
) -> Option<ListingEntry> {
    let link = text_of(&rules.link, element, ValueKind::Url)
        .or_else(|| default_link(element))
        .and_then(|href| resolve_link(base, &href))?;
    let mut warnings = Vec::new();
    let title = text_of(&rules.title, element, ValueKind::Text);
    if rules.title.is_some() && title.is_none() {
        warnings.push(FieldWarning {
            field: "title",
            message: "empty title".into(),
        });
    }
    let published = date_of(&rules.date, element, dates, &mut warnings);
    let views = rules.views.as_ref().and_then(|field| {
        let (text, _) = field.value(element, ValueKind::Text)?;
        let count = parse_count(&text);
        if count.is_none() {
            warnings.push(FieldWarning {
                field: "views",
                message: format!("not a number: {text:?}"),
            });
        }
        count
    });
    Some(ListingEntry {
        link,
        title,
        published,
        category: text_of(&rules.category, element, ValueKind::Text),
        views,
        summary: text_of(&rules.summary, element, ValueKind::Text),
        image: text_of(&rules.image, element, ValueKind::Url)
            .and_then(|src| resolve_link(base, &src)),
        warnings,
    })
}

/// Without a `link` rule, an item's link is its first `<a href>`.
fn default_link(element: ElementRef<'_>) -> Option<String> {
    element
        .select(&LINK_HREF)
        .find_map(|a| a.value().attr("href").and_then(clean_optional))
}

fn text_of(field: &Option<Field>, scope: ElementRef<'_>, kind: ValueKind) -> Option<String> {
    field.as_ref()?.value(scope, kind).map(|(value, _)| value)
}

fn date_of(
    field: &Option<Field>,
    scope: ElementRef<'_>,
    dates: &DateContext<'_>,
    warnings: &mut Vec<FieldWarning>,
) -> Option<ParsedDate> {
    let field = field.as_ref()?;
    let Some((text, rule)) = field.value(scope, ValueKind::Text) else {
        let message = match field.shown_text(scope) {
            Some(shown) => format!("no date found in {shown:?}"),
            None => "missing date".to_owned(),
        };
        warnings.push(FieldWarning {
            field: "date",
            message,
        });
        return None;
    };
    match parse_date(&text, &dates.with_formats(&rule.formats)) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            warnings.push(date_warning(&error));
            None
        }
    }
}

/// The warning for a date that was not used: the item then sorts by when it was first seen.
pub fn date_warning(error: &DateError) -> FieldWarning {
    FieldWarning {
        field: "date",
        message: format!("{error}; the item takes the time it was first seen"),
    }
}

fn next_page(
    doc: &Html,
    base: &Url,
    page_url: &Url,
    rules: &ListingRules,
    warnings: &mut Vec<FieldWarning>,
) -> Result<Option<postback::PostbackNext>, String> {
    use postback::PostbackNext;
    if let Some(next) = &rules.next_page {
        let matched: Vec<ElementRef<'_>> = doc.select(&next.selector).collect();
        let link = matched.iter().find(|a| match &next.text {
            None => true,
            Some(wanted) => fold_case(&a.text().collect::<String>()) == *wanted,
        });
        let Some(link) = link else {
            if let (Some(wanted), false) = (&next.text, matched.is_empty()) {
                let shown: Vec<String> = matched
                    .iter()
                    .take(8)
                    .map(|a| format!("{:?}", normalize::clean_text(&a.text().collect::<String>())))
                    .collect();
                warnings.push(FieldWarning {
                    field: "next_page",
                    message: format!(
                        "{} links match {:?} but none reads {wanted:?} (they read {}): no next page followed (on a listing's last page that is right)",
                        matched.len(),
                        selector_text(&next.selector),
                        shown.join(", ")
                    ),
                });
            }
            return Ok(None);
        };
        if next.postback {
            return postback::follow(doc, *link, base, page_url).map(Some);
        }
        let href = link.value().attr("href");
        let next_url = href.and_then(|href| resolve_link(base, href));
        if next_url.is_none() {
            warnings.push(FieldWarning {
                field: "next_page",
                message: format!(
                    "the next-page link has no followable href ({href:?}): no next page followed"
                ),
            });
        }
        return Ok(next_url.map(PostbackNext::Get));
    }
    Ok(rules
        .page_param
        .as_deref()
        .map(|param| PostbackNext::Get(with_page_param(page_url, param))))
}

/// `page_url` with its page parameter incremented (absent counts as page 1).
pub(crate) fn with_page_param(page_url: &Url, param: &str) -> Url {
    let current: u32 = query_number(page_url, param).unwrap_or(1);
    with_query_param(page_url, param, &current.saturating_add(1).to_string())
}

/// The number `param` holds in `page_url`'s query, if it holds one.
pub(crate) fn query_number<N: std::str::FromStr>(page_url: &Url, param: &str) -> Option<N> {
    page_url
        .query_pairs()
        .find(|(k, _)| k == param)
        .and_then(|(_, v)| v.parse::<N>().ok())
}

/// `page_url` with `param` set to `value` (moved to the end of the query, the other pairs kept
/// in their order).
pub(crate) fn with_query_param(page_url: &Url, param: &str, value: &str) -> Url {
    let kept: Vec<(String, String)> = page_url
        .query_pairs()
        .filter(|(k, _)| k != param)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut next = page_url.clone();
    {
        let mut query = next.query_pairs_mut();
        query.clear();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        query.append_pair(param, value);
    }
    next
}

/// Extracts title, date, lead image and body from an article page. Missing parts are warnings:
/// the listing already gave the item its identity.
pub fn article(
    html: &str,
    page_url: &Url,
    rules: &ArticleRules,
    dates: &DateContext<'_>,
) -> Article {
    let (html, cut) = bounds::bounded(html, bounds::PageLimits::default());
    let doc = Html::parse_document(html);
    let base = document_base(&doc, page_url);
    let root = doc.root_element();
    let mut article = Article {
        title: text_of(&rules.title, root, ValueKind::Text),
        base: Some(base.clone()),
        warnings: cut.into_iter().map(page_cut).collect(),
        ..Article::default()
    };
    if rules.date.is_some() {
        article.published = date_of(&rules.date, root, dates, &mut article.warnings);
    }
    let container = rules.body.as_ref().and_then(|body| doc.select(body).next());
    if let (Some(body), None) = (&rules.body, container) {
        article.warnings.push(FieldWarning {
            field: "body",
            message: format!("body container {:?} not found", selector_text(body)),
        });
    }
    article.image = match (&rules.image, container) {
        (Some(field), _) => text_of(&Some(field.clone()), root, ValueKind::Url),
        (None, Some(container)) => container.select(&ANY_IMAGE).find_map(|img| {
            body::LAZY_IMAGE_ATTRS.iter().find_map(|attr| {
                img.value()
                    .attr(attr)
                    .and_then(clean_optional)
                    .filter(|v| !v.to_ascii_lowercase().starts_with("data:"))
            })
        }),
        (None, None) => None,
    }
    .and_then(|src| resolve_link(&base, &src));
    if let Some(container) = container {
        let remove = rules.remove.as_deref().unwrap_or_default();
        article.body_html = Some(body::body_html(container, remove, &base));
    }
    article
}

fn page_cut(cut: bounds::Cut) -> FieldWarning {
    FieldWarning {
        field: "page",
        message: cut.to_string(),
    }
}

/// The normalised text of an HTML fragment: tags stripped, entities decoded, the contents of
/// `script`, `style` and `template` left out (they are code, not words) (feed titles and
/// descriptions, rendered bodies). A fragment past the page bounds is read up to them.
pub fn html_text(fragment: &str) -> String {
    let (fragment, cut) = bounds::bounded(fragment, bounds::PageLimits::default());
    if let Some(cut) = cut {
        tracing::warn!("text of an HTML fragment: {cut}");
    }
    let doc = Html::parse_fragment(fragment);
    let mut text = String::new();
    for node in doc.root_element().descendants() {
        let Some(words) = node.value().as_text() else {
            continue;
        };
        let in_code = node.ancestors().any(|ancestor| {
            ancestor
                .value()
                .as_element()
                .is_some_and(|e| matches!(e.name(), "script" | "style" | "template"))
        });
        if !in_code {
            text.push_str(words);
        }
    }
    normalize::clean_text(&text)
}

fn selector_text(selector: &Selector) -> String {
    use scraper::selector::ToCss;
    selector.to_css_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::{
        ArticleRulesFile, FieldRule, FieldSpec, ListingRulesFile, NextPageSpec, OneOrMany,
    };

    fn dates() -> DateContext<'static> {
        let now = chrono::DateTime::parse_from_rfc3339("2023-02-01T08:00:00+07:00").unwrap();
        DateContext::new(chrono_tz::Asia::Ho_Chi_Minh, now)
    }

    fn rules() -> ListingRules {
        ListingRules::compile(&ListingRulesFile {
            list: Some("ul.news".into()),
            item: Some("li".into()),
            title: Some(FieldSpec::Selector("a".into())),
            link: Some(FieldSpec::Rule(FieldRule {
                selector: Some("a".into()),
                attr: Some(OneOrMany::One("href".into())),
                ..FieldRule::default()
            })),
            date: Some(FieldSpec::Selector("span.date".into())),
            next_page: Some(NextPageSpec {
                selector: "div.pager a".into(),
                text: Some("Trang sau".into()),
                postback: false,
            }),
            ..ListingRulesFile::default()
        })
        .unwrap()
    }

    fn page_url() -> Url {
        Url::parse("http://h/site/tin-tuc/list?page=1").unwrap()
    }

    #[test]
    fn base_href_governs_relative_links() {
        let html = r#"<html><head><base href="http://h/site/other/"></head><body><ul class="news">
            <li><a href="x-1.html">A</a><span class="date">01/02/2023 10:00</span></li></ul>
            <div class="pager"><a href="?page=1">1</a><a href="?page=2">TRANG SAU</a></div></body></html>"#;
        let page = listing(html, &page_url(), &rules(), &dates()).unwrap();
        assert_eq!(
            page.entries[0].link.as_str(),
            "http://h/site/other/x-1.html"
        );
        assert_eq!(page.next.unwrap().as_str(), "http://h/site/other/?page=2");
    }

    #[test]
    fn text_of_html_leaves_code_out() {
        assert_eq!(
            html_text("safe<script>location.href='x';</script> <style>p{}</style>description"),
            "safe description"
        );
        assert_eq!(html_text("<p>A &amp; <b>B</b></p>"), "A & B");
    }

    #[test]
    fn a_next_page_selector_that_matches_but_never_reads_the_text_is_a_warning() {
        // The pager says "Sau »", the rule wants "Trang sau": page 2 would be lost silently.
        let html = r#"<ul class="news"><li><a href="/a">A</a></li></ul>
            <div class="pager"><a href="?page=1">1</a><a href="?page=2">Sau »</a></div>"#;
        let page = listing(html, &page_url(), &rules(), &dates()).unwrap();
        assert_eq!(page.next, None);
        let warning = &page.warnings[0];
        assert_eq!(warning.field, "next_page");
        assert!(
            warning.message.contains("2 links match \"div.pager a\"")
                && warning.message.contains("\"Sau »\""),
            "{}",
            warning.message
        );
        // A pager that matches nothing (no pager at all) is no warning.
        let page = listing(r#"<ul class="news"></ul>"#, &page_url(), &rules(), &dates()).unwrap();
        assert!(page.warnings.is_empty());
    }

    #[test]
    fn a_missing_container_is_a_layout_change_and_an_empty_one_is_not() {
        let err = listing(
            "<div class=news-list></div>",
            &page_url(),
            &rules(),
            &dates(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "extract http://h/site/tin-tuc/list?page=1: listing container \"ul.news\" not found (has the page layout changed?)"
        );
        let page = listing(
            "<ul class=news><p>Chưa có bài viết</p></ul>",
            &page_url(),
            &rules(),
            &dates(),
        )
        .unwrap();
        assert!(page.entries.is_empty());
        assert!(page.next.is_none());
    }

    #[test]
    fn rows_without_links_are_skipped_and_bad_dates_are_warnings() {
        let html = r#"<ul class="news"><li>header row</li>
            <li><a href="/a">A</a><span class="date">hôm nào đó</span></li>
            <li><a href="/b">B</a><span class="date">01/02/2099 10:00</span></li>
            <li><a href="/c">C</a><span class="date">Hôm qua, 3:15 CH</span></li></ul>"#;
        let page = listing(html, &page_url(), &rules(), &dates()).unwrap();
        assert_eq!(page.skipped, 1);
        for (entry, quoted) in page.entries.iter().zip(["hôm nào đó", "2099"]) {
            assert_eq!(entry.published, None);
            assert_eq!(entry.warnings[0].field, "date");
            let message = &entry.warnings[0].message;
            assert!(
                message.contains(quoted) && message.contains("first seen"),
                "{message}"
            );
        }
        // A relative date counts back from the fetch time (2023-02-01 08:00).
        let yesterday = page.entries[2].published.unwrap();
        assert_eq!(yesterday.at.to_rfc3339(), "2023-01-31T15:15:00+07:00");
        assert!(page.entries[2].warnings.is_empty());
    }

    #[test]
    fn page_parameter_pagination_increments_the_page() {
        let mut rules = rules();
        rules.next_page = None;
        rules.page_param = Some("page".into());
        let page = listing("<ul class=news></ul>", &page_url(), &rules, &dates()).unwrap();
        assert_eq!(
            page.next.unwrap().as_str(),
            "http://h/site/tin-tuc/list?page=2"
        );
        let first = Url::parse("http://h/list?tab=3").unwrap();
        let page = listing("<ul class=news></ul>", &first, &rules, &dates()).unwrap();
        assert_eq!(page.next.unwrap().as_str(), "http://h/list?tab=3&page=2");
    }

    #[test]
    fn articles_give_body_title_date_and_lead_image() {
        let rules = ArticleRules::compile(&ArticleRulesFile {
            body: Some("div.body".into()),
            remove: Some(vec!["div.share".into()]),
            title: Some(FieldSpec::Selector("h1".into())),
            date: Some(FieldSpec::Selector("div.meta".into())),
            image: None,
        })
        .unwrap();
        let html = r#"<h1>Phu&#x301;c Lợi</h1><div class="meta">Thứ sáu, 19/02/2021 - 13:40</div>
            <div class="body"><p>Text</p><img src="data:image/gif;base64,R0" data-src="../../u/1.jpg"><div class="share">Chia sẻ:</div></div>"#;
        let url = Url::parse("http://h/site/tin-tuc/chi-tiet/a.html").unwrap();
        let article = article(html, &url, &rules, &dates());
        assert_eq!(article.title.as_deref(), Some("Phúc Lợi"));
        assert_eq!(
            article.published.unwrap().at.to_rfc3339(),
            "2021-02-19T13:40:00+07:00"
        );
        assert_eq!(article.image.unwrap().as_str(), "http://h/site/u/1.jpg");
        let body = article.body_html.unwrap();
        assert!(
            body.contains("<p>Text</p>") && !body.contains("Chia sẻ"),
            "{body}"
        );
        let missing = super::article("<p>gone</p>", &url, &rules, &dates());
        assert_eq!(missing.body_html, None);
        assert_eq!(
            missing.warnings.iter().map(|w| w.field).collect::<Vec<_>>(),
            ["date", "body"]
        );
    }
}
