//! Compiled extraction rules: CSS selectors, regexes and date formats, checked once at load.

use regex::Regex;
use scraper::{ElementRef, Selector};

use crate::config::file::{ArticleRulesFile, FieldSpec, ListingRulesFile, NextPageSpec};
use crate::normalize::{clean_optional, date::validate_format};

/// A rule compilation failure: the field (`title`, `next_page.selector`) and what is wrong.
pub type RuleError = (String, String);

pub fn compile_selector(css: &str) -> Result<Selector, String> {
    Selector::parse(css).map_err(|e| format!("invalid CSS selector {css:?}: {e}"))
}

/// One field's rules, tried in order until one yields a value.
#[derive(Debug, Clone)]
pub struct Field {
    rules: Vec<FieldRule>,
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
            let regex = rule
                .regex
                .as_deref()
                .map(|r| Regex::new(r).map_err(|e| format!("invalid regex {r:?}: {e}")))
                .transpose()?;
            let formats = rule.format.as_ref().map(|f| f.to_vec()).unwrap_or_default();
            for format in &formats {
                validate_format(format)?;
            }
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
        Ok(Field { rules })
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

/// Rules for listing pages. Every field is optional so that a source can override a template's
/// rules one field at a time (`overlay`).
#[derive(Debug, Clone, Default)]
pub struct ListingRules {
    pub list: Option<Selector>,
    pub item: Option<Selector>,
    pub title: Option<Field>,
    pub link: Option<Field>,
    pub date: Option<Field>,
    pub category: Option<Field>,
    pub views: Option<Field>,
    pub summary: Option<Field>,
    pub image: Option<Field>,
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

fn field(name: &str, spec: &Option<FieldSpec>) -> Result<Option<Field>, RuleError> {
    spec.as_ref()
        .map(Field::compile)
        .transpose()
        .map_err(|e| (name.to_owned(), e))
}

fn selector(name: &str, css: &Option<String>) -> Result<Option<Selector>, RuleError> {
    css.as_deref()
        .map(compile_selector)
        .transpose()
        .map_err(|e| (name.to_owned(), e))
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
        if let Some(param) = &file.page_param
            && (param.is_empty() || param.contains(['&', '=', '?', '#']))
        {
            return Err((
                "page_param".into(),
                format!("invalid query parameter name {param:?}"),
            ));
        }
        Ok(ListingRules {
            list: selector("list", &file.list)?,
            item: selector("item", &file.item)?,
            title: field("title", &file.title)?,
            link: field("link", &file.link)?,
            date: field("date", &file.date)?,
            category: field("category", &file.category)?,
            views: field("views", &file.views)?,
            summary: field("summary", &file.summary)?,
            image: field("image", &file.image)?,
            next_page,
            page_param: file.page_param.clone(),
        })
    }

    /// These rules with every field `over` sets taking precedence. Paging is one setting: a
    /// source that sets `page_param` over a template's `next_page` (or the other way round)
    /// replaces it, rather than leaving both set with one silently ignored.
    pub fn overlay(self, over: ListingRules) -> ListingRules {
        let (next_page, page_param) = if over.next_page.is_some() || over.page_param.is_some() {
            (over.next_page, over.page_param)
        } else {
            (self.next_page, self.page_param)
        };
        ListingRules {
            list: over.list.or(self.list),
            item: over.item.or(self.item),
            title: over.title.or(self.title),
            link: over.link.or(self.link),
            date: over.date.or(self.date),
            category: over.category.or(self.category),
            views: over.views.or(self.views),
            summary: over.summary.or(self.summary),
            image: over.image.or(self.image),
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

    pub fn overlay(self, over: ArticleRules) -> ArticleRules {
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
    use crate::config::file::{FieldRule as RuleFile, OneOrMany};
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
