//! `wardfeed suggest`: a configuration proposed from a portal's listing page alone. The listing
//! is fetched (politely, through the crawler), its repeated item structure found and each
//! field's selector chosen (`listing`), a few articles fetched and their body container,
//! title, date and lead image found (`article`); a shell page filled from a JSON endpoint
//! gives a `listing_json` proposal (`json`), a page that links its own feed a `feed` one. The
//! result prints as a TOML source (`output`) with a confidence per field and a warning for
//! every field it is unsure of. Same pages, same suggestion: nothing here is random or timed.
//!
//! A stage of its own over the earlier ones (fetch, extract's page bounds, normalize's date
//! parser and text rules); the cli drives it and checks what it prints with the config loader.

mod article;
mod dom;
mod json;
mod listing;
mod output;

use chrono::{DateTime, FixedOffset};
use chrono_tz::Tz;
use scraper::Html;
use url::Url;

use crate::config::{self, Source};
use crate::extract::bounds::{PageLimits, bounded};
use crate::fetch::{Crawler, FetchError, Fetched};
use crate::normalize::date::DateContext;

pub use article::ArticleRules;
pub use json::JsonListing;
pub use listing::{Listing, NextPick};

/// How many articles are read when none are given.
pub const DEFAULT_ARTICLES: usize = 3;
/// Below this confidence a field gets a warning.
pub const SURE: f64 = 0.8;

#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    #[error("suggest: {source}")]
    Fetch {
        url: String,
        #[source]
        source: FetchError,
    },
    #[error(
        "suggest {url}: this is not an HTML page ({what}); give the address of the portal's news listing page"
    )]
    NotHtml { url: String, what: String },
    #[error(
        "suggest {url}: this is a feed ({what}), not a listing page: add it to a source as a category with feed = \"{url}\" (README, \"Configure\"), or run suggest on the portal's listing page to get the article rules too"
    )]
    Feed { url: String, what: String },
    #[error(
        "suggest {url}: found no repeated list of article links on this page ({detail}); give the address of a page that lists the news (a category page that has articles, not the home page, an article or an empty category); menus, sidebars, headers and footers are never taken for the list"
    )]
    NoStructure { url: String, detail: String },
    #[error("suggest {url}: {message}")]
    Setup { url: String, message: String },
}

/// One rule as the configuration writes it: a CSS selector (with `attr` and `regex`) for HTML,
/// a JSON Pointer or `{field}` template for JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    pub selector: Option<String>,
    pub attrs: Vec<String>,
    pub regex: Option<String>,
    pub pointer: Option<String>,
}

impl Rule {
    pub fn text(css: &str) -> Rule {
        Rule {
            selector: Some(css.to_owned()),
            ..Rule::default()
        }
    }

    pub fn attr(css: &str, attrs: &[&str]) -> Rule {
        Rule {
            selector: Some(css.to_owned()),
            attrs: attrs.iter().map(|a| (*a).to_owned()).collect(),
            ..Rule::default()
        }
    }

    pub fn pointer(pointer: &str) -> Rule {
        Rule {
            pointer: Some(pointer.to_owned()),
            ..Rule::default()
        }
    }
}

/// A field's rule, how sure the suggestion is (the share of sampled items or pages it reads),
/// and why it may be wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub rule: Rule,
    pub confidence: f64,
    pub note: Option<String>,
}

/// What the category reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposal {
    /// The HTML listing itself.
    Listing,
    /// The feed the page links (`rel="alternate"`), with its title.
    Feed { url: Url, title: Option<String> },
    /// The JSON endpoint the shell page fills itself from.
    Json { endpoint: Url },
}

/// What `suggest` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Article pages to read instead of the listing's first ones.
    pub articles: Vec<Url>,
    /// Write the rules as this template, the source naming it.
    pub template: Option<String>,
    pub tz: Tz,
    /// When the pages are read (relative dates count back from it).
    pub now: DateTime<FixedOffset>,
}

/// The suggestion: everything `output` prints.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub url: Url,
    pub id: String,
    pub name: String,
    pub base: Url,
    pub label: String,
    pub proposal: Proposal,
    pub listing: Option<Listing>,
    pub json: Option<JsonListing>,
    pub article: ArticleRules,
    /// The article pages read, and those that failed (with why).
    pub articles_read: Vec<Url>,
    pub drop_query_params: Vec<String>,
    pub template: Option<String>,
    /// What the person should know (feed proposed, pages that failed…).
    pub notes: Vec<String>,
}

impl Suggestion {
    /// The configuration to append to a config file.
    pub fn toml(&self) -> String {
        output::toml(self)
    }

    /// The confidence table and the warnings, for stderr.
    pub fn report(&self) -> String {
        output::report(self)
    }

    /// One warning per field the suggestion is unsure of.
    pub fn warnings(&self) -> Vec<String> {
        output::warnings(self)
    }
}

/// A throwaway source that allows fetching from `url`'s site only: what the crawler needs to
/// keep suggest's requests polite and in scope.
pub fn scope(url: &Url) -> Result<Source, SuggestError> {
    let setup = |message: String| SuggestError::Setup {
        url: url.to_string(),
        message,
    };
    let text = format!(
        "[sources.suggest]\nname = \"suggest\"\ngroup = \"suggest\"\nfetch_articles = false\nbase = {}\n\n[[sources.suggest.categories]]\nlabel = \"suggest\"\nfeed = {}\n",
        output::quote(origin(url).as_str()),
        output::quote(url.as_str())
    );
    let config = config::parse(&text, "<suggest>", &|_| None, crate::extract::check_rules)
        .map_err(|e| setup(e.to_string()))?;
    config
        .sources
        .first()
        .map(|s| (**s).clone())
        .ok_or_else(|| setup("no source".into()))
}

/// `scheme://host[:port]`: the base of every suggestion (paths stay whole in the categories).
fn origin(url: &Url) -> Url {
    let mut base = url.clone();
    base.set_path("");
    base.set_query(None);
    base.set_fragment(None);
    base
}

/// What the fetched bytes are, when they are no HTML page.
fn not_html(fetched: &Fetched) -> Option<(bool, String)> {
    let kind = fetched
        .content_type
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let head: Vec<u8> = fetched.body.iter().copied().take(1024).collect();
    let start = String::from_utf8_lossy(&head)
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    let feedish = kind.contains("rss")
        || kind.contains("atom")
        || ((kind.contains("xml") || start.starts_with("<?xml") || kind.is_empty())
            && (start.contains("<rss") || start.contains("<feed") || start.contains("<rdf:rdf")));
    if feedish {
        return Some((
            true,
            format!(
                "content type {}",
                if kind.is_empty() { "none" } else { &kind }
            ),
        ));
    }
    let binary = head.iter().filter(|b| **b == 0 || (**b < 9)).count() > 0;
    let texty =
        kind.is_empty() || kind.contains("html") || kind.contains("text") || kind.contains("xml");
    if binary || !texty {
        let what = if kind.is_empty() {
            "no content type".to_owned()
        } else {
            format!("content type {kind}")
        };
        return Some((
            false,
            format!("{what}{}", if binary { ", binary bytes" } else { "" }),
        ));
    }
    None
}

fn dates(options: &Options) -> DateContext<'static> {
    DateContext::new(options.tz, options.now)
}

async fn fetch(crawler: &Crawler, source: &Source, url: &Url) -> Result<Fetched, SuggestError> {
    crawler
        .get(source, url, None)
        .await
        .map_err(|source| SuggestError::Fetch {
            url: url.to_string(),
            source,
        })
}

fn parse_page(fetched: &Fetched, notes: &mut Vec<String>) -> Html {
    let text = fetched.html(None).text;
    let (kept, cut) = bounded(&text, PageLimits::default());
    if let Some(cut) = cut {
        notes.push(format!(
            "{}: {cut}; the suggestion reads what was kept",
            fetched.url
        ));
    }
    Html::parse_document(kept)
}

/// Suggests a source for the listing page at `url`.
pub async fn suggest(
    crawler: &Crawler,
    url: &Url,
    options: &Options,
) -> Result<Suggestion, SuggestError> {
    let mut source = scope(url)?;
    let fetched = fetch(crawler, &source, url).await?;
    if let Some((feed, what)) = not_html(&fetched) {
        let url = url.to_string();
        return Err(if feed {
            SuggestError::Feed { url, what }
        } else {
            SuggestError::NotHtml { url, what }
        });
    }
    let page_url = fetched.url.clone();
    let mut notes = Vec::new();
    let doc = parse_page(&fetched, &mut notes);
    let dates = dates(options);
    let facts = listing::page_facts(&doc, &page_url);
    let mut found = listing::analyze(&doc, &page_url, &dates);
    drop(doc);
    let base = origin(&page_url);

    let mut proposal = Proposal::Listing;
    let mut json_listing = None;
    let mut links: Vec<Url> = Vec::new();
    let mut titles: Vec<String> = Vec::new();
    if let Some(l) = &found {
        links = l.links.clone();
        titles = l.titles.clone();
    }
    // A shell page may still show a bare list of links (a sidebar): the JSON endpoint it
    // names is the listing then.
    let weak = found.as_ref().is_none_or(|l| l.richness < 0.5);
    if weak {
        for endpoint in &facts.endpoints {
            // The endpoint is on the portal's own site, or nowhere suggest may go.
            source.categories[0].kind = config::CategoryKind::Feed(endpoint.clone());
            let answer = match fetch(crawler, &source, endpoint).await {
                Ok(answer) => answer,
                Err(error) => {
                    notes.push(format!(
                        "the page names the JSON endpoint {endpoint}, which failed: {error}"
                    ));
                    continue;
                }
            };
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&answer.body) else {
                notes.push(format!("the page names {endpoint}, which is not JSON"));
                continue;
            };
            if let Some(j) = json::analyze(&value, endpoint, &facts.scripts, &dates) {
                let is_template = j
                    .link
                    .as_ref()
                    .is_some_and(|l| l.rule.pointer.as_deref().is_some_and(|p| p.contains('{')));
                links = j
                    .links
                    .iter()
                    .filter_map(|l| {
                        if is_template {
                            base.join(l).ok()
                        } else {
                            endpoint.join(l).ok()
                        }
                    })
                    .collect();
                titles = j.titles.clone();
                notes.push(format!(
                    "the page is a shell filled by script from the JSON endpoint {endpoint} ({} items): proposed as listing_json",
                    j.count
                ));
                json_listing = Some(j);
                proposal = Proposal::Json {
                    endpoint: endpoint.clone(),
                };
                found = None;
                break;
            }
        }
    }
    if found.is_none() && json_listing.is_none() && facts.feeds.is_empty() {
        let detail = if facts.endpoints.is_empty() {
            "no group of three or more sibling elements each holding a titled link".to_owned()
        } else {
            format!(
                "and the JSON endpoints it names gave no list of items: {}",
                notes.join("; ")
            )
        };
        return Err(SuggestError::NoStructure {
            url: url.to_string(),
            detail,
        });
    }
    // A linked feed is proposed when it carries this listing's items (a portal's chrome often
    // links one feed from every page, whatever the category), or when there is no listing.
    for (feed, title) in &facts.feeds {
        let shown = title
            .as_deref()
            .map(|t| format!(" (\"{t}\")"))
            .unwrap_or_default();
        if found.is_some() || json_listing.is_some() {
            source.categories[0].kind = config::CategoryKind::Feed(feed.clone());
            let carried = match fetch(crawler, &source, feed).await {
                Ok(answer) => {
                    let text = String::from_utf8_lossy(&answer.body);
                    let sample: Vec<&Url> = links.iter().take(10).collect();
                    let hits = sample.iter().filter(|l| text.contains(l.path())).count();
                    (
                        hits * 2 >= sample.len() && hits > 0,
                        format!("{hits} of the first {} items", sample.len()),
                    )
                }
                Err(error) => (false, format!("it failed: {error}")),
            };
            if !carried.0 {
                notes.push(format!(
                    "the page links the feed {feed}{shown}, which does not carry this listing's items ({}): the listing is proposed; add the feed as a category of its own if it is one",
                    carried.1
                ));
                continue;
            }
        }
        notes.push(format!(
            "the page links its feed {feed}{shown}: proposed instead of the HTML listing (a feed is cheaper and steadier); {}",
            if let Proposal::Json { endpoint } = &proposal {
                format!(
                    "to read the JSON endpoint instead, replace `feed = …` by `listing_json = \"{}\"`",
                    path_of(&base, endpoint)
                )
            } else if found.is_some() {
                format!(
                    "to read the listing instead, replace `feed = …` by `listing = \"{}\"`",
                    path_of(&base, &page_url)
                )
            } else {
                "the listing itself showed no repeated items".to_owned()
            }
        ));
        proposal = Proposal::Feed {
            url: feed.clone(),
            title: title.clone(),
        };
        break;
    }

    // The article pages: those given, else the listing's first ones.
    let mut article_urls: Vec<(Url, Option<String>)> = options
        .articles
        .iter()
        .map(|u| {
            (
                u.clone(),
                links
                    .iter()
                    .position(|l| l == u)
                    .and_then(|i| titles.get(i).cloned()),
            )
        })
        .collect();
    if article_urls.is_empty() {
        for (i, link) in links.iter().enumerate() {
            if article_urls.len() == DEFAULT_ARTICLES {
                break;
            }
            if link.origin() == base.origin() && !article_urls.iter().any(|(u, _)| u == link) {
                article_urls.push((link.clone(), titles.get(i).cloned()));
            }
        }
    }
    let mut pages: Vec<(Html, Option<String>)> = Vec::new();
    let mut read = Vec::new();
    for (link, title) in &article_urls {
        source.categories[0].kind = config::CategoryKind::Feed(link.clone());
        match fetch(crawler, &source, link).await {
            Ok(page) if not_html(&page).is_none() => {
                pages.push((parse_page(&page, &mut notes), title.clone()));
                read.push(link.clone());
            }
            Ok(_) => notes.push(format!("article {link} is not an HTML page; not read")),
            Err(error) => notes.push(format!("article {link} not read: {error}")),
        }
    }
    let samples: Vec<article::Sample<'_>> = pages
        .iter()
        .map(|(doc, title)| article::Sample {
            doc,
            listing_title: title.as_deref(),
        })
        .collect();
    let article = article::analyze(&samples, &dates);
    drop(samples);
    drop(pages);

    let name = options
        .name
        .clone()
        .or_else(|| facts.site_name.as_deref().map(site_name))
        .unwrap_or_else(|| base.host_str().unwrap_or("portal").to_owned());
    let id = options
        .id
        .clone()
        .unwrap_or_else(|| source_id(&name, &base));
    let label = match &proposal {
        Proposal::Feed { title: Some(t), .. } => t.clone(),
        _ => facts.label.clone().unwrap_or_else(|| "Tin tức".to_owned()),
    };
    let drop_query_params = found
        .as_ref()
        .map(|l| l.session_params.clone())
        .unwrap_or_default();
    Ok(Suggestion {
        url: url.clone(),
        id,
        name,
        base,
        label,
        proposal,
        listing: found,
        json: json_listing,
        article,
        articles_read: read,
        drop_query_params,
        template: options.template.clone(),
        notes,
    })
}

/// `url` as a path under `base` when it is on the same site, else whole.
fn path_of(base: &Url, url: &Url) -> String {
    if url.origin() == base.origin() {
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        path
    } else {
        url.to_string()
    }
}

/// The site's part of a page title, without the portal boilerplate: "Phường Phúc Lợi".
fn site_name(raw: &str) -> String {
    let lower = raw.to_lowercase();
    let mut name = raw.trim();
    for prefix in [
        "cổng thông tin điện tử ",
        "trang thông tin điện tử ",
        "cổng ttđt ",
        "website ",
    ] {
        if lower.starts_with(prefix) {
            name = raw[prefix.len()..].trim();
            break;
        }
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => raw.to_owned(),
    }
}

/// A source id from the name ("Phường Phúc Lợi" → "phuong-phuc-loi"), else from the host.
fn source_id(name: &str, base: &Url) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = name
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'd',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let mut id = String::new();
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    let id = id
        .trim_end_matches('-')
        .chars()
        .take(64)
        .collect::<String>();
    if id.is_empty() {
        base.host_str().unwrap_or("portal").replace('.', "-")
    } else {
        id
    }
}

#[cfg(test)]
mod tests;
