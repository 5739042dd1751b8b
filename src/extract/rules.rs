//! Compiled extraction rules: CSS selectors, regexes and date formats, from the rules config
//! keeps as written. `check_rules` is what config checks them with at load; `SiteRules::of`
//! compiles a source's rules once and shares them with every source that holds the same ones.

use std::sync::Arc;

use regex::Regex;
use scraper::{ElementRef, Selector};

use crate::config::file::{ArticleRulesFile, FieldSpec, ListingRulesFile, NextPageSpec, OneOrMany};
use crate::config::{RuleError, RuleSpecs, Rules};
use crate::normalize::{clean_optional, date::validate_format};

pub fn compile_selector(css: &str) -> Result<Selector, String> {
    Selector::parse(css).map_err(|e| format!("invalid CSS selector {css:?}: {e}"))
}

pub(super) fn compile_regex(regex: &Option<String>) -> Result<Option<Regex>, String> {
    regex
        .as_deref()
        .map(|r| Regex::new(r).map_err(|e| format!("invalid regex {r:?}: {e}")))
        .transpose()
}

/// A date field's formats, each checked.
pub(super) fn compile_formats(formats: &Option<OneOrMany>) -> Result<Vec<String>, String> {
    let formats = formats.as_ref().map(|f| f.to_vec()).unwrap_or_default();
    for format in &formats {
        validate_format(format)?;
    }
    Ok(formats)
}

/// An optional field compiled by `compile`, its mistake under its name.
pub(super) fn optional<S, T>(
    name: &str,
    spec: &Option<S>,
    compile: impl Fn(&S) -> Result<T, String>,
) -> Result<Option<T>, RuleError> {
    spec.as_ref()
        .map(compile)
        .transpose()
        .map_err(|e| (name.to_owned(), e))
}

/// A query parameter's name, as `page_param`/`offset_param` give it.
pub(super) fn query_param(name: &str, param: &Option<String>) -> Result<Option<String>, RuleError> {
    match param {
        Some(p) if p.is_empty() || p.contains(['&', '=', '?', '#']) => Err((
            name.to_owned(),
            format!("invalid query parameter name {p:?}"),
        )),
        other => Ok(other.clone()),
    }
}

/// One field's rules, tried in order until one yields a value. Shared, not copied, by the
/// sources whose rules take it from one template (each copy of a regex grows its own cache).
#[derive(Debug, Clone)]
pub struct Field {
    rules: Arc<[FieldRule]>,
}

#[derive(Debug, Clone)]
pub struct FieldRule {
    selector: Option<Selector>,
    attrs: Vec<String>,
    regex: Option<Regex>,
    pub formats: Vec<String>,
}

/// Whether a value names a resource: such fields skip `data:` placeholders (a 1x1 lazy-load GIF
/// in `src` is never the image a reader wants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    Url,
}

impl Field {
    pub fn compile(spec: &FieldSpec) -> Result<Field, String> {
        let mut rules = Vec::new();
        for rule in spec.rules() {
            let selector = rule.selector.as_deref().map(compile_selector).transpose()?;
            let regex = compile_regex(&rule.regex)?;
            let formats = compile_formats(&rule.format)?;
            let attrs = rule.attr.as_ref().map(|a| a.to_vec()).unwrap_or_default();
            if attrs.iter().any(|a| a.trim().is_empty()) {
                return Err("empty attribute name".to_owned());
            }
            rules.push(FieldRule {
                selector,
                attrs,
                regex,
                formats,
            });
        }
        Ok(Field {
            rules: rules.into(),
        })
    }

    /// The first value any rule yields within `scope`, with the rule that yielded it.
    pub fn value(&self, scope: ElementRef<'_>, kind: ValueKind) -> Option<(String, &FieldRule)> {
        self.rules
            .iter()
            .find_map(|rule| rule.value(scope, kind).map(|v| (v, rule)))
    }

    /// The raw text the first matching element shows, before regex: for warnings that quote
    /// what the page said.
    pub fn shown_text(&self, scope: ElementRef<'_>) -> Option<String> {
        self.rules.iter().find_map(|rule| {
            rule.targets(scope)
                .find_map(|el| clean_optional(&el.text().collect::<String>()))
        })
    }
}

impl FieldRule {
    fn targets<'a>(
        &'a self,
        scope: ElementRef<'a>,
    ) -> Box<dyn Iterator<Item = ElementRef<'a>> + 'a> {
        match &self.selector {
            Some(selector) => Box::new(scope.select(selector)),
            None => Box::new(std::iter::once(scope)),
        }
    }

    fn value(&self, scope: ElementRef<'_>, kind: ValueKind) -> Option<String> {
        self.targets(scope).find_map(|el| {
            let raw = if self.attrs.is_empty() {
                clean_optional(&el.text().collect::<String>())
            } else {
                self.attrs.iter().find_map(|name| {
                    el.value()
                        .attr(name)
                        .and_then(clean_optional)
                        .filter(|v| kind == ValueKind::Text || !is_placeholder_url(v))
                })
            }?;
            match &self.regex {
                None => Some(raw),
                Some(regex) => {
                    let caps = regex.captures(&raw)?;
                    let kept = caps.get(1).or_else(|| caps.get(0))?;
                    clean_optional(kept.as_str())
                }
            }
        })
    }
}

fn is_placeholder_url(value: &str) -> bool {
    value.trim_start().to_ascii_lowercase().starts_with("data:")
}

/// How to find the next listing page.
#[derive(Debug, Clone)]
pub struct NextPage {
    pub selector: Selector,
    /// Only links whose normalised text equals this (case-insensitively) are "next".
    pub text: Option<String>,
    /// The link is an ASP.NET `__doPostBack` one: the page's form is posted back.
    pub postback: bool,
}

/// The fields of a listing entry, each read by rules of kind `F` (`Field`: selectors in an
/// HTML listing; `json::JsonField`: pointers in a JSON one). Every field is optional so that a
/// source can override a template's rules one field at a time (`overlay`).
#[derive(Debug, Clone)]
pub struct EntryFields<F> {
    pub title: Option<F>,
    pub link: Option<F>,
    pub date: Option<F>,
    pub category: Option<F>,
    pub views: Option<F>,
    pub summary: Option<F>,
    pub image: Option<F>,
}

impl<F> Default for EntryFields<F> {
    fn default() -> Self {
        EntryFields {
            title: None,
            link: None,
            date: None,
            category: None,
            views: None,
            summary: None,
            image: None,
        }
    }
}

impl<F> EntryFields<F> {
    /// The fields as written — title, link, date, category, views, summary, image — each
    /// compiled by `compile`, a mistake under the field's name.
    pub(super) fn compile<S>(
        [title, link, date, category, views, summary, image]: [&Option<S>; 7],
        compile: impl Fn(&S) -> Result<F, String>,
    ) -> Result<EntryFields<F>, RuleError> {
        Ok(EntryFields {
            title: optional("title", title, &compile)?,
            link: optional("link", link, &compile)?,
            date: optional("date", date, &compile)?,
            category: optional("category", category, &compile)?,
            views: optional("views", views, &compile)?,
            summary: optional("summary", summary, &compile)?,
            image: optional("image", image, &compile)?,
        })
    }

    /// These fields with every one `over` sets taking precedence.
    pub(super) fn overlay(self, over: EntryFields<F>) -> EntryFields<F> {
        EntryFields {
            title: over.title.or(self.title),
            link: over.link.or(self.link),
            date: over.date.or(self.date),
            category: over.category.or(self.category),
            views: over.views.or(self.views),
            summary: over.summary.or(self.summary),
            image: over.image.or(self.image),
        }
    }
}

/// Rules for listing pages, each optional (`EntryFields`).
#[derive(Debug, Clone, Default)]
pub struct ListingRules {
    pub list: Option<Selector>,
    pub item: Option<Selector>,
    pub fields: EntryFields<Field>,
    pub next_page: Option<NextPage>,
    pub page_param: Option<String>,
}

/// Rules for article pages.
#[derive(Debug, Clone, Default)]
pub struct ArticleRules {
    /// The body container: its content becomes the item's HTML.
    pub body: Option<Selector>,
    /// Elements inside the body to drop (share bars, related-article boxes).
    pub remove: Option<Vec<Selector>>,
    pub title: Option<Field>,
    pub date: Option<Field>,
    /// The lead image; by default the first image inside the body.
    pub image: Option<Field>,
}

/// Everything extraction needs to know about one source's pages.
#[derive(Debug, Clone, Default)]
pub struct SiteRules {
    pub listing: ListingRules,
    pub article: ArticleRules,
    /// How to read JSON listings (`listing_json` categories).
    pub json: super::json::JsonRules,
}

impl SiteRules {
    /// Compiles one set of rules as written; each section's first mistake, its path starting
    /// with the section (`listing.title`).
    pub fn compile(specs: &RuleSpecs) -> Result<SiteRules, Vec<RuleError>> {
        fn in_section(section: &'static str) -> impl Fn(RuleError) -> RuleError {
            move |(field, message)| (format!("{section}.{field}"), message)
        }
        let listing = ListingRules::compile(&specs.listing).map_err(in_section("listing"));
        let article = ArticleRules::compile(&specs.article).map_err(in_section("article"));
        let json = super::json::JsonRules::compile(&specs.json).map_err(in_section("json"));
        match (listing, article, json) {
            (Ok(listing), Ok(article), Ok(json)) => Ok(SiteRules {
                listing,
                article,
                json,
            }),
            (listing, article, json) => Err([listing.err(), article.err(), json.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }

    /// The compiled rules of a source: compiled the first time they are needed and kept with
    /// them, so every source holding the same `Rules` (its template's, unchanged) shares one
    /// copy. A source's own rules are compiled over its template's, whose fields it shares.
    ///
    /// Config checked these rules with `check_rules` at load; rules that were not checked and
    /// do not compile are a bug of the caller that built them, and panic here with the mistake.
    pub fn of(rules: &Rules) -> Arc<SiteRules> {
        fn build(rules: &Rules) -> Result<Arc<SiteRules>, Vec<RuleError>> {
            let own = SiteRules::compile(&rules.own)?;
            Ok(Arc::new(match &rules.template {
                Some(template) => SiteRules::of(template).as_ref().clone().overlay(own),
                None => own,
            }))
        }
        let built = match rules.compiled(build) {
            Some(kept) => kept.clone(),
            None => build(rules),
        };
        built.unwrap_or_else(|errors| {
            panic!("extraction rules that config did not check (config::parse with extract::check_rules): {errors:?}")
        })
    }

    /// These rules with every field `over` sets taking precedence.
    fn overlay(self, over: SiteRules) -> SiteRules {
        SiteRules {
            listing: self.listing.overlay(over.listing),
            article: self.article.overlay(over.article),
            json: self.json.overlay(over.json),
        }
    }
}

/// Config's check of one template's or source's rules (`config::RuleCheck`): every
/// section's first mistake, as compiling them would find it.
pub fn check_rules(specs: &RuleSpecs) -> Vec<RuleError> {
    SiteRules::compile(specs).err().unwrap_or_default()
}

fn field(name: &str, spec: &Option<FieldSpec>) -> Result<Option<Field>, RuleError> {
    optional(name, spec, Field::compile)
}

fn selector(name: &str, css: &Option<String>) -> Result<Option<Selector>, RuleError> {
    optional(name, css, |css: &String| compile_selector(css))
}

impl ListingRules {
    pub fn compile(file: &ListingRulesFile) -> Result<ListingRules, RuleError> {
        let next_page = match &file.next_page {
            None => None,
            Some(NextPageSpec {
                selector: css,
                text,
                postback,
            }) => Some(NextPage {
                selector: compile_selector(css).map_err(|e| ("next_page".to_owned(), e))?,
                text: text.as_deref().map(crate::normalize::fold_case),
                postback: *postback,
            }),
        };
        if file.page_param.is_some() && file.next_page.is_some() {
            return Err((
                "page_param".into(),
                "next_page is set too: a listing finds its next page one way, by a link \
                 (next_page) or by counting a parameter up (page_param); keep one"
                    .into(),
            ));
        }
        let page_param = query_param("page_param", &file.page_param)?;
        Ok(ListingRules {
            list: selector("list", &file.list)?,
            item: selector("item", &file.item)?,
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
                Field::compile,
            )?,
            next_page,
            page_param,
        })
    }

    /// These rules with every field `over` sets taking precedence. Paging is one setting: a
    /// source that sets `page_param` over a template's `next_page` (or the other way round)
    /// replaces it, rather than leaving both set with one silently ignored.
    fn overlay(self, over: ListingRules) -> ListingRules {
        let (next_page, page_param) = if over.next_page.is_some() || over.page_param.is_some() {
            (over.next_page, over.page_param)
        } else {
            (self.next_page, self.page_param)
        };
        ListingRules {
            list: over.list.or(self.list),
            item: over.item.or(self.item),
            fields: self.fields.overlay(over.fields),
            next_page,
            page_param,
        }
    }
}

impl ArticleRules {
    pub fn compile(file: &ArticleRulesFile) -> Result<ArticleRules, RuleError> {
        let remove = match &file.remove {
            None => None,
            Some(list) => Some(
                list.iter()
                    .enumerate()
                    .map(|(i, css)| compile_selector(css).map_err(|e| (format!("remove[{i}]"), e)))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(ArticleRules {
            body: selector("body", &file.body)?,
            remove,
            title: field("title", &file.title)?,
            date: field("date", &file.date)?,
            image: field("image", &file.image)?,
        })
    }

    fn overlay(self, over: ArticleRules) -> ArticleRules {
        ArticleRules {
            body: over.body.or(self.body),
            remove: over.remove.or(self.remove),
            title: over.title.or(self.title),
            date: over.date.or(self.date),
            image: over.image.or(self.image),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::FieldRule as RuleFile;
    use scraper::Html;

    fn spec(selector: Option<&str>, attr: &[&str], regex: Option<&str>) -> FieldSpec {
        FieldSpec::Rule(RuleFile {
            selector: selector.map(str::to_owned),
            attr: (!attr.is_empty())
                .then(|| OneOrMany::Many(attr.iter().map(|a| a.to_string()).collect())),
            regex: regex.map(str::to_owned),
            format: None,
        })
    }

    fn eval(html: &str, spec: &FieldSpec, kind: ValueKind) -> Option<String> {
        let doc = Html::parse_fragment(html);
        Field::compile(spec)
            .unwrap()
            .value(doc.root_element(), kind)
            .map(|(v, _)| v)
    }

    #[test]
    fn lazy_attribute_wins_over_placeholder_src() {
        let html = r#"<img src="data:image/gif;base64,R0" data-src="../a.jpg">"#;
        let lazy_first = spec(Some("img"), &["data-src", "src"], None);
        assert_eq!(
            eval(html, &lazy_first, ValueKind::Url).as_deref(),
            Some("../a.jpg")
        );
        let src_only = spec(Some("img"), &["src"], None);
        assert_eq!(eval(html, &src_only, ValueKind::Url), None);
        let html = r#"<img src="/b.jpg">"#;
        assert_eq!(
            eval(html, &lazy_first, ValueKind::Url).as_deref(),
            Some("/b.jpg")
        );
    }

    #[test]
    fn regex_keeps_the_first_group_of_normalised_text() {
        let html = "<div class=m>Ngày đăng 30/01/2023 | 11:00&nbsp; | Lượt xem: 1.023</div>";
        let views = spec(Some("div.m"), &[], Some(r"Lượt xem: ([\d.]+)"));
        assert_eq!(
            eval(html, &views, ValueKind::Text).as_deref(),
            Some("1.023")
        );
        let none = spec(Some("div.m"), &[], Some(r"Bình luận: (\d+)"));
        assert_eq!(eval(html, &none, ValueKind::Text), None);
    }

    #[test]
    fn fallbacks_are_tried_in_order() {
        let chain = FieldSpec::Fallbacks(vec![
            RuleFile {
                selector: Some("h2".into()),
                ..RuleFile::default()
            },
            RuleFile {
                selector: Some("h3".into()),
                ..RuleFile::default()
            },
        ]);
        assert_eq!(
            eval("<h3> T </h3>", &chain, ValueKind::Text).as_deref(),
            Some("T")
        );
    }

    #[test]
    fn bad_selectors_regexes_and_formats_are_rejected() {
        assert!(Field::compile(&FieldSpec::Selector("h3..a".into())).is_err());
        assert!(Field::compile(&spec(None, &[], Some("(unclosed"))).is_err());
        let bad_format = FieldSpec::Rule(RuleFile {
            format: Some(OneOrMany::One("%d/%m/%Q".into())),
            ..RuleFile::default()
        });
        assert!(Field::compile(&bad_format).is_err());
    }
}
