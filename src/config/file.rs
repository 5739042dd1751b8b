//! The configuration file's syntax: serde types mirroring the TOML, strict about unknown keys.
//!
//! Everything here is raw text as written; `config::load` validates and resolves it.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub defaults: DefaultsFile,
    #[serde(default)]
    pub store: StoreFile,
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default)]
    pub templates: IndexMap<String, TemplateFile>,
    #[serde(default)]
    pub groups: IndexMap<String, GroupFile>,
    #[serde(default)]
    pub sources: IndexMap<String, SourceFile>,
}

/// How people see a group of sources (`[groups.longbien] name = "Long Biên"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsFile {
    pub timezone: Option<String>,
    pub schedule: Option<String>,
    pub jitter_secs: Option<u64>,
    pub user_agent: Option<String>,
    pub timeout_secs: Option<u64>,
    pub connect_timeout_secs: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub max_redirects: Option<usize>,
    pub max_pages: Option<u32>,
    pub fetch_articles: Option<bool>,
    pub drop_query_params: Option<Vec<String>>,
    pub quiet_after_days: Option<u32>,
    pub min_host_interval_ms: Option<u64>,
    pub retries: Option<u32>,
    pub max_crawl_delay_secs: Option<u64>,
    pub max_retry_after_secs: Option<u64>,
    pub max_refreshes: Option<usize>,
    pub max_refreshes_per_host: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    pub path: Option<String>,
    pub cache_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub title: Option<String>,
    pub feed_limit: Option<usize>,
    pub max_connections: Option<usize>,
    pub header_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub write_timeout_secs: Option<u64>,
    pub max_searches: Option<usize>,
    pub publisher_in_titles: Option<bool>,
    pub per_source_metrics: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    pub format: Option<String>,
}

/// Selectors and settings shared by many sources that run the same portal software.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    pub schedule: Option<String>,
    pub charset: Option<String>,
    pub fetch_articles: Option<bool>,
    pub max_pages: Option<u32>,
    pub drop_query_params: Option<Vec<String>>,
    #[serde(default)]
    pub listing: ListingRulesFile,
    #[serde(default)]
    pub article: ArticleRulesFile,
    #[serde(default)]
    pub json: JsonRulesFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub name: String,
    pub group: String,
    pub base: String,
    /// Where the portal lived before (a move to a new domain): its items stored there are
    /// found again under `base`.
    #[serde(default)]
    pub previous_bases: Vec<String>,
    /// The source that took this one over (a ward merged into another): its stored history
    /// is served in that source's feeds, and its own feed addresses redirect there.
    pub merged_into: Option<String>,
    pub home: Option<String>,
    pub template: Option<String>,
    pub enabled: Option<bool>,
    pub charset: Option<String>,
    pub timezone: Option<String>,
    pub schedule: Option<String>,
    pub timeout_secs: Option<u64>,
    pub fetch_articles: Option<bool>,
    pub max_pages: Option<u32>,
    pub drop_query_params: Option<Vec<String>>,
    pub quiet_after_days: Option<u32>,
    pub ignore_robots: Option<bool>,
    #[serde(default)]
    pub retention: RetentionFile,
    #[serde(default)]
    pub listing: ListingRulesFile,
    #[serde(default)]
    pub article: ArticleRulesFile,
    #[serde(default)]
    pub json: JsonRulesFile,
    #[serde(default)]
    pub categories: Vec<CategoryFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    pub max_items: Option<usize>,
    pub max_age_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryFile {
    pub label: String,
    pub slug: Option<String>,
    pub listing: Option<String>,
    pub feed: Option<String>,
    /// A JSON endpoint that lists the items (portals whose listing page is filled by script).
    pub listing_json: Option<String>,
}

/// Where the items of a listing page are and how to read each field.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingRulesFile {
    /// The element holding the list; if it is missing the layout has changed.
    pub list: Option<String>,
    /// One element per item, inside `list` when given.
    pub item: Option<String>,
    pub title: Option<FieldSpec>,
    pub link: Option<FieldSpec>,
    pub date: Option<FieldSpec>,
    pub category: Option<FieldSpec>,
    pub views: Option<FieldSpec>,
    pub summary: Option<FieldSpec>,
    pub image: Option<FieldSpec>,
    pub next_page: Option<NextPageSpec>,
    pub page_param: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleRulesFile {
    pub body: Option<String>,
    pub remove: Option<Vec<String>>,
    pub title: Option<FieldSpec>,
    pub date: Option<FieldSpec>,
    pub image: Option<FieldSpec>,
}

/// How to read one value: a bare selector (its text), a rule, or a list of rules tried in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FieldSpec {
    Selector(String),
    Rule(FieldRule),
    Fallbacks(Vec<FieldRule>),
}

impl FieldSpec {
    /// The rules in the order they are tried.
    pub fn rules(&self) -> Vec<FieldRule> {
        match self {
            FieldSpec::Selector(selector) => vec![FieldRule::selector(selector)],
            FieldSpec::Rule(rule) => vec![rule.clone()],
            FieldSpec::Fallbacks(rules) => rules.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// CSS selector relative to the item (or page); absent means the item element itself.
    pub selector: Option<String>,
    /// Attribute(s) to read instead of the text; the first present, non-empty one wins.
    pub attr: Option<OneOrMany>,
    /// Regex applied to the normalised value; group 1 (or the whole match) is kept.
    pub regex: Option<String>,
    /// chrono formats for date fields, tried before the built-in date forms.
    pub format: Option<OneOrMany>,
}

impl FieldRule {
    fn selector(selector: &str) -> FieldRule {
        FieldRule {
            selector: Some(selector.to_owned()),
            ..FieldRule::default()
        }
    }
}

/// A rule element that accepts either one rule (a string selector or a table) in a list.
struct RuleOrSelector(FieldRule);

impl<'de> Deserialize<'de> for RuleOrSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = RuleOrSelector;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CSS selector string or a table { selector, attr, regex, format }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RuleOrSelector(FieldRule::selector(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                FieldRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RuleOrSelector)
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}

impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = FieldSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CSS selector string, a table { selector, attr, regex, format }, or a list of those")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FieldSpec::Selector(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                FieldRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(FieldSpec::Rule)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut rules = Vec::new();
                while let Some(RuleOrSelector(rule)) = seq.next_element()? {
                    rules.push(rule);
                }
                if rules.is_empty() {
                    return Err(de::Error::invalid_length(0, &"at least one rule"));
                }
                Ok(FieldSpec::Fallbacks(rules))
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

/// One string or a list of strings (`attr = "src"` or `attr = ["data-src", "src"]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        }
    }
}

/// The link to the next listing page: a selector, optionally narrowed to the link whose text is
/// `text` (pagers list every page number; only "Trang sau" / "Tiếp >>" is the next one). With
/// `postback`, the link is an ASP.NET `javascript:__doPostBack(…)` one: the next page is the
/// page's own form posted back with the link's event target and argument.
#[derive(Debug, Clone, PartialEq)]
pub struct NextPageSpec {
    pub selector: String,
    pub text: Option<String>,
    pub postback: bool,
}

impl<'de> Deserialize<'de> for NextPageSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            selector: Option<String>,
            postback: Option<String>,
            text: Option<String>,
        }
        struct NextVisitor;
        impl<'de> Visitor<'de> for NextVisitor {
            type Value = NextPageSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CSS selector string or a table { selector | postback, text }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(NextPageSpec {
                    selector: v.to_owned(),
                    text: None,
                    postback: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let table = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let (selector, postback) = match (table.selector, table.postback) {
                    (Some(selector), None) => (selector, false),
                    (None, Some(selector)) => (selector, true),
                    _ => {
                        return Err(de::Error::custom(
                            "set exactly one of `selector` (a link to follow) and `postback` (a __doPostBack link whose form is posted back)",
                        ));
                    }
                };
                Ok(NextPageSpec {
                    selector,
                    text: table.text,
                    postback,
                })
            }
        }
        deserializer.deserialize_any(NextVisitor)
    }
}

/// How to read the items of a JSON listing (`listing_json` categories): where the array of
/// items is, and each field of an item, addressed by JSON Pointer (RFC 6901).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRulesFile {
    /// JSON Pointer to the array of items in the answer; omitted or "" = the answer itself.
    pub items: Option<String>,
    pub title: Option<JsonFieldSpec>,
    /// The article page: a pointer to a URL field, or a template built from fields
    /// (`"/tin-tuc/{slug}-{id}.html"`).
    pub link: Option<JsonFieldSpec>,
    pub date: Option<JsonFieldSpec>,
    pub category: Option<JsonFieldSpec>,
    pub views: Option<JsonFieldSpec>,
    pub summary: Option<JsonFieldSpec>,
    pub image: Option<JsonFieldSpec>,
    /// Next page: this query parameter counted up (`?page=2`, `?page=3`, …).
    pub page_param: Option<String>,
    /// Next page: this query parameter advanced by the number of items read (`?start=20`).
    pub offset_param: Option<String>,
    /// Next page: the URL found at this pointer in the answer (`/links/next`).
    pub next: Option<String>,
}

/// How to read one value of a JSON item: a pointer or template string, a rule, or a list of
/// rules tried in order.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonFieldSpec {
    One(JsonFieldRule),
    Fallbacks(Vec<JsonFieldRule>),
}

impl JsonFieldSpec {
    /// The rules in the order they are tried.
    pub fn rules(&self) -> Vec<JsonFieldRule> {
        match self {
            JsonFieldSpec::One(rule) => vec![rule.clone()],
            JsonFieldSpec::Fallbacks(rules) => rules.clone(),
        }
    }
}

/// One way to read a JSON value: exactly one of `pointer` and `template`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFieldRule {
    /// JSON Pointer into the item (`/title`, `/meta/published`).
    pub pointer: Option<String>,
    /// Text with `{field}` or `{/json/pointer}` placeholders filled from the item.
    pub template: Option<String>,
    /// Regex applied to the value's text; group 1 (or the match) is kept.
    pub regex: Option<String>,
    /// chrono formats for date fields, tried before the built-in date forms.
    pub format: Option<OneOrMany>,
}

impl JsonFieldRule {
    /// A bare string: a template when it has a `{placeholder}`, else a pointer.
    pub fn from_text(text: &str) -> JsonFieldRule {
        if text.contains('{') {
            JsonFieldRule {
                template: Some(text.to_owned()),
                ..JsonFieldRule::default()
            }
        } else {
            JsonFieldRule {
                pointer: Some(text.to_owned()),
                ..JsonFieldRule::default()
            }
        }
    }
}

struct JsonRuleOrText(JsonFieldRule);

impl<'de> Deserialize<'de> for JsonRuleOrText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = JsonRuleOrText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON Pointer or template string, or a table { pointer | template, regex, format }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonRuleOrText(JsonFieldRule::from_text(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                JsonFieldRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(JsonRuleOrText)
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}

impl<'de> Deserialize<'de> for JsonFieldSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = JsonFieldSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON Pointer or template string, a table { pointer | template, regex, format }, or a list of those")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonFieldSpec::One(JsonFieldRule::from_text(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                JsonFieldRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(JsonFieldSpec::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut rules = Vec::new();
                while let Some(JsonRuleOrText(rule)) = seq.next_element()? {
                    rules.push(rule);
                }
                if rules.is_empty() {
                    return Err(de::Error::invalid_length(0, &"at least one rule"));
                }
                Ok(JsonFieldSpec::Fallbacks(rules))
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}
