//! JSON listings: portals whose listing page is an empty shell filled by script from a JSON
//! endpoint. The endpoint's answer is read here, by JSON Pointer (RFC 6901, serde_json's
//! `pointer`), into the same entries an HTML listing gives; the article pages stay HTML.
//!
//! `serde_json` types never leave this module.

use std::sync::Arc;

use chrono::DateTime;
use regex::Regex;
use serde_json::Value;
use url::Url;

use super::rules::{EntryFields, compile_formats, compile_regex, query_param};
use super::{
    ExtractError, FieldWarning, ListingEntry, ListingPage, date_warning, query_number,
    with_page_param, with_query_param,
};
use crate::config::RuleError;
use crate::config::file::{JsonFieldSpec, JsonRulesFile};
use crate::normalize::date::{
    DateContext, DateError, FUTURE_TOLERANCE, ParsedDate, in_zone, parse_date,
};
use crate::normalize::{clean_optional, parse_count, resolve_link};

/// Rules for JSON listings, each optional (`EntryFields`).
#[derive(Debug, Clone, Default)]
pub struct JsonRules {
    /// Pointer to the array of items; `None` (or "") is the answer itself.
    pub items: Option<String>,
    pub fields: EntryFields<JsonField>,
    pub next: Option<JsonNext>,
}

/// How to reach the next page of a JSON listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonNext {
    /// A query parameter counted up from the current page (absent = page 1).
    PageParam(String),
    /// A query parameter advanced by the number of items on the current page (absent = 0).
    OffsetParam(String),
    /// The URL at this pointer in the answer; none or empty = the last page.
    Pointer(String),
}

/// One field's rules, tried in order until one yields a value (shared, as `rules::Field`).
#[derive(Debug, Clone)]
pub struct JsonField {
    rules: Arc<[JsonRule]>,
}

#[derive(Debug, Clone)]
struct JsonRule {
    source: ValueSource,
    regex: Option<Regex>,
    formats: Vec<String>,
}

#[derive(Debug, Clone)]
enum ValueSource {
    Pointer(String),
    /// A template's text and placeholders, in order.
    Template(Vec<TemplatePart>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplatePart {
    Text(String),
    /// A placeholder, as the pointer it reads.
    Field(String),
}

/// A value read from an item: its text, and whether the JSON held a number there (dates may
/// be Unix times).
struct Found<'a> {
    text: String,
    number: bool,
    rule: &'a JsonRule,
}

/// Checks RFC 6901 syntax: empty (the whole value), or `/`-separated tokens whose `~` is
/// always `~0` or `~1`.
pub fn validate_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!(
            "invalid JSON Pointer {pointer:?}: it starts with \"/\" (\"/data/items\"), or is \"\" for the whole value"
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "invalid JSON Pointer {pointer:?}: \"~\" must be written \"~0\" (and \"/\" in a key \"~1\")"
            ));
        }
    }
    Ok(())
}

/// Splits a template into text and placeholders: `{slug}` reads the item's `slug`, `{/a/b}`
/// the pointer `/a/b`.
fn parse_template(template: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!(
                "invalid template {template:?}: a \"}}\" without \"{{\""
            ));
        }
        if open > 0 {
            parts.push(TemplatePart::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find(['{', '}'])
            .filter(|&i| after[i..].starts_with('}'))
            .ok_or_else(|| format!("invalid template {template:?}: a \"{{\" without \"}}\""))?;
        let name = after[..close].trim();
        if name.is_empty() {
            return Err(format!("invalid template {template:?}: an empty {{}}"));
        }
        let pointer = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{}", name.replace('~', "~0").replace('/', "~1"))
        };
        validate_pointer(&pointer).map_err(|e| format!("invalid template {template:?}: {e}"))?;
        parts.push(TemplatePart::Field(pointer));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_owned()));
    }
    if !parts.iter().any(|p| matches!(p, TemplatePart::Field(_))) {
        return Err(format!(
            "invalid template {template:?}: no {{field}} in it (a fixed text is the same for every item)"
        ));
    }
    Ok(parts)
}

impl JsonField {
    pub fn compile(spec: &JsonFieldSpec) -> Result<JsonField, String> {
        let mut rules = Vec::new();
        for rule in spec.rules() {
            let source = match (&rule.pointer, &rule.template) {
                (Some(pointer), None) => {
                    validate_pointer(pointer)?;
                    ValueSource::Pointer(pointer.clone())
                }
                (None, Some(template)) => ValueSource::Template(parse_template(template)?),
                _ => {
                    return Err("set exactly one of `pointer` (\"/title\") and `template` (\"/tin-tuc/{slug}-{id}.html\")".to_owned());
                }
            };
            rules.push(JsonRule {
                source,
                regex: compile_regex(&rule.regex)?,
                formats: compile_formats(&rule.format)?,
            });
        }
        Ok(JsonField {
            rules: rules.into(),
        })
    }

    /// The first value any rule yields for `item`.
    fn value<'a>(&'a self, item: &Value) -> Option<Found<'a>> {
        self.rules.iter().find_map(|rule| rule.value(item))
    }
}

impl JsonRule {
    fn value(&self, item: &Value) -> Option<Found<'_>> {
        let (raw, number) = match &self.source {
            ValueSource::Pointer(pointer) => {
                let value = item.pointer(pointer)?;
                (scalar_text(value)?, value.is_number())
            }
            ValueSource::Template(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        TemplatePart::Text(t) => text.push_str(t),
                        TemplatePart::Field(pointer) => {
                            text.push_str(&scalar_text(item.pointer(pointer)?)?)
                        }
                    }
                }
                (text, false)
            }
        };
        let raw = clean_optional(&raw)?;
        let text = match &self.regex {
            None => raw,
            Some(regex) => {
                let caps = regex.captures(&raw)?;
                clean_optional(caps.get(1).or_else(|| caps.get(0))?.as_str())?
            }
        };
        Some(Found {
            text,
            number: number && self.regex.is_none(),
            rule: self,
        })
    }

    fn is_template(&self) -> bool {
        matches!(self.source, ValueSource::Template(_))
    }
}

/// A JSON scalar as text; objects, arrays and null have none.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl JsonRules {
    pub fn compile(file: &JsonRulesFile) -> Result<JsonRules, RuleError> {
        if let Some(items) = &file.items {
            validate_pointer(items).map_err(|e| ("items".to_owned(), e))?;
        }
        let page_param = query_param("page_param", &file.page_param)?;
        let offset_param = query_param("offset_param", &file.offset_param)?;
        if let Some(next) = &file.next {
            validate_pointer(next).map_err(|e| ("next".to_owned(), e))?;
        }
        let next = match (page_param, offset_param, &file.next) {
            (None, None, None) => None,
            (Some(p), None, None) => Some(JsonNext::PageParam(p)),
            (None, Some(p), None) => Some(JsonNext::OffsetParam(p)),
            (None, None, Some(p)) => Some(JsonNext::Pointer(p.clone())),
            _ => {
                let name = if file.next.is_some() {
                    "next"
                } else {
                    "offset_param"
                };
                return Err((
                    name.to_owned(),
                    "set at most one of `page_param`, `offset_param` and `next`".to_owned(),
                ));
            }
        };
        Ok(JsonRules {
            items: file.items.clone(),
            fields: EntryFields::compile(
                [
                    &file.title,
                    &file.link,
                    &file.date,
                    &file.category,
                    &file.views,
                    &file.summary,
                    &file.image,
                ],
                JsonField::compile,
            )?,
            next,
        })
    }

    /// These rules with every field `over` sets taking precedence.
    pub(super) fn overlay(self, over: JsonRules) -> JsonRules {
        JsonRules {
            items: over.items.or(self.items),
            fields: self.fields.overlay(over.fields),
            next: over.next.or(self.next),
        }
    }
}

/// Extracts the entries and the next page of one JSON listing answer. Links and images read
/// from the answer resolve against `page_url`; those built by a template are locations in the
/// site, joined to `base` as configured listing paths are.
pub fn listing(
    text: &str,
    page_url: &Url,
    base: &Url,
    rules: &JsonRules,
    dates: &DateContext<'_>,
) -> Result<ListingPage, ExtractError> {
    let answer: Value = serde_json::from_str(text).map_err(|e| ExtractError::JsonInvalid {
        url: page_url.to_string(),
        message: e.to_string(),
    })?;
    let pointer = rules.items.as_deref().unwrap_or("");
    let items = match answer.pointer(pointer) {
        Some(Value::Array(items)) => items,
        other => {
            return Err(ExtractError::JsonItemsNotFound {
                url: page_url.to_string(),
                pointer: pointer.to_owned(),
                found: kind_of(other).to_owned(),
            });
        }
    };
    let mut page = ListingPage {
        entries: Vec::new(),
        skipped: 0,
        next: None,
        warnings: Vec::new(),
        postback: None,
        next_problem: None,
    };
    for item in items {
        match entry(item, page_url, base, &rules.fields, dates) {
            Some(entry) => page.entries.push(entry),
            None => page.skipped += 1,
        }
    }
    page.next = match &rules.next {
        None => None,
        Some(JsonNext::PageParam(param)) => Some(with_page_param(page_url, param)),
        Some(JsonNext::OffsetParam(param)) => {
            (!items.is_empty()).then(|| with_offset_param(page_url, param, items.len()))
        }
        Some(JsonNext::Pointer(pointer)) => answer
            .pointer(pointer)
            .and_then(scalar_text)
            .and_then(|href| clean_optional(&href))
            .and_then(|href| resolve_link(page_url, &href)),
    };
    Ok(page)
}

fn kind_of(value: Option<&Value>) -> &'static str {
    match value {
        None => "nothing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
    }
}

/// `page_url` with `param` advanced by `step` (absent counts as 0).
fn with_offset_param(page_url: &Url, param: &str, step: usize) -> Url {
    let current: usize = query_number(page_url, param).unwrap_or(0);
    with_query_param(page_url, param, &current.saturating_add(step).to_string())
}

/// A URL-valued field: a template's text is a site location, a value read from the answer a
/// link on the page. `data:` placeholders are no URL.
fn url_of(field: &Option<JsonField>, item: &Value, page_url: &Url, base: &Url) -> Option<Url> {
    let found = field.as_ref()?.value(item)?;
    if found.text.to_ascii_lowercase().starts_with("data:") {
        return None;
    }
    if found.rule.is_template() && !found.text.contains("://") {
        crate::config::join_base(base, &found.text).ok()
    } else {
        resolve_link(page_url, &found.text)
    }
}

fn text_of(field: &Option<JsonField>, item: &Value) -> Option<String> {
    let text = field.as_ref()?.value(item)?.text;
    // APIs often ship a summary as an HTML fragment: only its text is the field.
    if text.contains('<') {
        clean_optional(&super::html_text(&text))
    } else {
        Some(text)
    }
}

fn entry(
    item: &Value,
    page_url: &Url,
    base: &Url,
    rules: &EntryFields<JsonField>,
    dates: &DateContext<'_>,
) -> Option<ListingEntry> {
    let link = url_of(&rules.link, item, page_url, base)?;
    let mut warnings = Vec::new();
    let title = text_of(&rules.title, item);
    if rules.title.is_some() && title.is_none() {
        warnings.push(FieldWarning {
            field: "title",
            message: "empty title".into(),
        });
    }
    let published = rules
        .date
        .as_ref()
        .and_then(|field| date_of(field, item, dates, &mut warnings));
    let views = rules.views.as_ref().and_then(|field| {
        let found = field.value(item)?;
        let count = parse_count(&found.text);
        if count.is_none() {
            warnings.push(FieldWarning {
                field: "views",
                message: format!("not a number: {:?}", found.text),
            });
        }
        count
    });
    Some(ListingEntry {
        link,
        title,
        published,
        category: text_of(&rules.category, item),
        views,
        summary: text_of(&rules.summary, item),
        image: url_of(&rules.image, item, page_url, base),
        warnings,
    })
}

fn date_of(
    field: &JsonField,
    item: &Value,
    dates: &DateContext<'_>,
    warnings: &mut Vec<FieldWarning>,
) -> Option<ParsedDate> {
    let Some(found) = field.value(item) else {
        warnings.push(FieldWarning {
            field: "date",
            message: "missing date".to_owned(),
        });
        return None;
    };
    let parsed = match json_time(&found.text, found.number) {
        Some(instant) => {
            let at = in_zone(instant, dates.tz);
            match dates.now {
                Some(now) if at > now + FUTURE_TOLERANCE => Err(DateError::Future {
                    text: found.text.clone(),
                    at,
                }),
                _ => Ok(ParsedDate { at, has_time: true }),
            }
        }
        None => parse_date(&found.text, &dates.with_formats(&found.rule.formats)),
    };
    match parsed {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            warnings.push(date_warning(&error));
            None
        }
    }
}

/// Above this a Unix time is in milliseconds: 10^11 seconds is the year 5138, 10^11
/// milliseconds March 1973, so the two ranges that occur in news never meet.
const MILLIS_ABOVE: i64 = 100_000_000_000;

/// The two time forms that only JSON APIs use: a Unix time as a JSON number (seconds, or
/// milliseconds when above 10^11), and ASP.NET's `"/Date(1675220400000+0700)/"` (milliseconds;
/// the offset there only says how to display the instant).
fn json_time(text: &str, number: bool) -> Option<DateTime<chrono::Utc>> {
    let millis = if number {
        let value: i64 = text.parse().ok()?;
        if value.abs() > MILLIS_ABOVE {
            value
        } else {
            value.checked_mul(1000)?
        }
    } else {
        let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
        let digits_end = inner
            .char_indices()
            .skip(1)
            .find(|(_, c)| !c.is_ascii_digit())
            .map_or(inner.len(), |(i, _)| i);
        inner[..digits_end].parse().ok()?
    };
    DateTime::from_timestamp_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::{JsonFieldRule, OneOrMany};

    fn dates() -> DateContext<'static> {
        let now = chrono::DateTime::parse_from_rfc3339("2023-02-06T08:00:00+07:00").unwrap();
        DateContext::new(chrono_tz::Asia::Ho_Chi_Minh, now)
    }

    fn text(t: &str) -> Option<JsonFieldSpec> {
        Some(JsonFieldSpec::One(JsonFieldRule::from_text(t)))
    }

    fn rules() -> JsonRules {
        JsonRules::compile(&JsonRulesFile {
            items: Some("/data/items".into()),
            title: text("/title"),
            link: text("/tin-tuc/{slug}-{id}.html"),
            date: text("/publishedAt"),
            views: text("/stats/views"),
            summary: text("/sapo"),
            image: text("/thumb"),
            category: text("/category/name"),
            page_param: Some("page".into()),
            ..JsonRulesFile::default()
        })
        .unwrap()
    }

    fn urls() -> (Url, Url) {
        (
            Url::parse("http://h/spa/api/news?cat=3").unwrap(),
            Url::parse("http://h/spa").unwrap(),
        )
    }

    #[test]
    fn items_are_read_by_pointer_and_links_built_from_fields() {
        let answer = r#"{"data": {"items": [
            {"id": 42, "slug": "le-hoi", "title": " Lễ hội\u00a0 ", "publishedAt": "2023-01-30T11:00:00+07:00",
             "stats": {"views": "1.023"}, "sapo": "<p>Tóm <b>tắt</b> &amp; hơn</p>", "thumb": "../uploads/a.jpg",
             "category": {"name": "Tin tức"}},
            {"id": 43, "title": "no slug"},
            {"id": 44, "slug": "x", "title": "T", "publishedAt": 1675051200, "thumb": "data:image/gif;base64,R0"}
        ]}}"#;
        let (page_url, base) = urls();
        let page = listing(answer, &page_url, &base, &rules(), &dates()).unwrap();
        assert_eq!(page.skipped, 1, "an item without its slug has no link");
        let first = &page.entries[0];
        assert_eq!(first.link.as_str(), "http://h/spa/tin-tuc/le-hoi-42.html");
        assert_eq!(first.title.as_deref(), Some("Lễ hội"));
        assert_eq!(
            first.published.unwrap().at.to_rfc3339(),
            "2023-01-30T11:00:00+07:00"
        );
        assert_eq!(first.views, Some(1023));
        assert_eq!(first.summary.as_deref(), Some("Tóm tắt & hơn"));
        assert_eq!(
            first.image.as_ref().unwrap().as_str(),
            "http://h/spa/uploads/a.jpg"
        );
        assert_eq!(first.category.as_deref(), Some("Tin tức"));
        let second = &page.entries[1];
        assert_eq!(
            second.published.unwrap().at.to_rfc3339(),
            "2023-01-30T11:00:00+07:00",
            "a Unix time in seconds"
        );
        assert_eq!(second.image, None, "a data: placeholder is no image");
        assert_eq!(
            page.next.unwrap().as_str(),
            "http://h/spa/api/news?cat=3&page=2"
        );
    }

    #[test]
    fn unix_millis_and_aspnet_dates_are_instants() {
        assert_eq!(
            json_time("1675051200000", true).unwrap().timestamp(),
            1_675_051_200
        );
        assert_eq!(
            json_time("/Date(1675051200000+0700)/", false)
                .unwrap()
                .timestamp(),
            1_675_051_200
        );
        assert_eq!(json_time("/Date(-1000)/", false).unwrap().timestamp(), -1);
        assert_eq!(json_time("1675051200", false), None, "a string is text");
    }

    #[test]
    fn a_missing_items_array_is_a_layout_change_and_bad_json_an_error() {
        let (page_url, base) = urls();
        let error = listing(
            r#"{"data": {"rows": []}}"#,
            &page_url,
            &base,
            &rules(),
            &dates(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "extract http://h/spa/api/news?cat=3: no array of items at JSON Pointer \"/data/items\" (found nothing; has the API changed?)"
        );
        let error = listing("<html>", &page_url, &base, &rules(), &dates()).unwrap_err();
        assert!(matches!(error, ExtractError::JsonInvalid { .. }), "{error}");
        let page = listing(
            r#"{"data": {"items": []}}"#,
            &page_url,
            &base,
            &rules(),
            &dates(),
        )
        .unwrap();
        assert!(page.entries.is_empty());
    }

    #[test]
    fn bad_dates_and_counts_are_warnings() {
        let (page_url, base) = urls();
        let answer = r#"{"data": {"items": [{"id": 1, "slug": "a", "title": "A",
            "publishedAt": "không rõ", "stats": {"views": "nhiều"}}]}}"#;
        let page = listing(answer, &page_url, &base, &rules(), &dates()).unwrap();
        let fields: Vec<&str> = page.entries[0].warnings.iter().map(|w| w.field).collect();
        assert_eq!(fields, ["date", "views"]);
    }

    #[test]
    fn offset_and_pointer_pagination() {
        let (page_url, base) = urls();
        let mut rules = rules();
        rules.next = Some(JsonNext::OffsetParam("start".into()));
        let answer = r#"{"data": {"items": [{"id": 1, "slug": "a"}, {"id": 2, "slug": "b"}]},
                         "links": {"next": "/spa/api/news?cat=3&cursor=xyz"}}"#;
        let page = listing(answer, &page_url, &base, &rules, &dates()).unwrap();
        assert_eq!(
            page.next.unwrap().as_str(),
            "http://h/spa/api/news?cat=3&start=2"
        );
        rules.next = Some(JsonNext::Pointer("/links/next".into()));
        let page = listing(answer, &page_url, &base, &rules, &dates()).unwrap();
        assert_eq!(
            page.next.unwrap().as_str(),
            "http://h/spa/api/news?cat=3&cursor=xyz"
        );
        let empty = r#"{"data": {"items": []}}"#;
        rules.next = Some(JsonNext::OffsetParam("start".into()));
        assert_eq!(
            listing(empty, &page_url, &base, &rules, &dates())
                .unwrap()
                .next,
            None
        );
    }

    #[test]
    fn pointers_templates_and_pagination_are_checked_when_compiled() {
        for bad in ["title", "/a~2b"] {
            assert!(validate_pointer(bad).is_err(), "{bad}");
        }
        for good in ["", "/", "/a~0b/~1c/0"] {
            assert!(validate_pointer(good).is_ok(), "{good}");
        }
        for bad in ["/x/{slug", "/x/slug}", "/x/{}", "/x/{a{b}}"] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_template("/t/{slug}-{/meta/id}.html").unwrap(),
            [
                TemplatePart::Text("/t/".into()),
                TemplatePart::Field("/slug".into()),
                TemplatePart::Text("-".into()),
                TemplatePart::Field("/meta/id".into()),
                TemplatePart::Text(".html".into()),
            ]
        );
        let both = JsonRules::compile(&JsonRulesFile {
            page_param: Some("page".into()),
            next: Some("/next".into()),
            ..JsonRulesFile::default()
        })
        .unwrap_err();
        assert_eq!(both.0, "next");
        let bad_format = JsonFieldSpec::One(JsonFieldRule {
            pointer: Some("/d".into()),
            format: Some(OneOrMany::One("%d/%m/%Q".into())),
            ..JsonFieldRule::default()
        });
        assert!(JsonField::compile(&bad_format).is_err());
        let neither = JsonFieldSpec::One(JsonFieldRule::default());
        assert!(JsonField::compile(&neither).is_err());
    }
}
