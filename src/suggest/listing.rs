//! The listing page: the repeated item structure (the sibling group with the most items that
//! each hold a titled link, weighted by title length, dates and extra text), then per field the
//! selector that reads it in the most items, the next-page control, the category label, and
//! what the page links besides (feeds, JSON endpoints).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::dom::{self, best, candidates, names, text, with_id};
use super::{Pick, Rule};
use crate::normalize::date::{DateContext, parse_date};
use crate::normalize::text::parse_count;
use crate::normalize::url::resolve_link;

/// Fewer repeated items than this is no listing.
const MIN_ITEMS: usize = 3;
/// Fields are looked for in this many items at most (candidates come from these).
const SAMPLE: usize = 12;

/// A date as pages print it: day/month/year with an optional time before or after.
pub const DATE_PATTERN: &str = r"((?:\d{1,2}:\d{2}(?::\d{2})?\s*[|,-]?\s*)?\d{1,2}[/.-]\d{1,2}[/.-]\d{4}(?:\s*[|,-]?\s*\d{1,2}:\d{2}(?::\d{2})?)?)";
static DATE_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(DATE_PATTERN).expect("valid"));
/// A view counter with its label.
static VIEWS_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(lượt xem|lượt đọc|số lần xem|lượt truy cập|views?|xem)\s*:?\s*([\d.,]+)")
        .expect("valid")
});
static VIEWS_CLASS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)view|luot-?_?xem|luotxem|hits|counter").expect("valid"));
static COUNT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,3}(?:[.,]\d{3})*$|^\d+$").expect("valid"));
/// Words of a publication date, and of an edit date (the one not to take).
static PUBLISHED_WORDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)đăng|xuất bản|publish|ngày").expect("valid"));
static EDITED_WORDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)cập nhật|sửa|chỉnh|update|modif|edit").expect("valid"));
/// What a next-page link says, best first.
const NEXT_TEXTS: &[&str] = &[
    "trang sau",
    "trang tiếp",
    "tiếp theo",
    "xem tiếp",
    "tiếp >>",
    "tiếp >",
    "tiếp",
    "sau",
    "next",
    "»",
    "›",
    ">>",
    ">",
];
/// Lazy-loading attributes of images, tried before `src`.
pub const LAZY_ATTRS: &[&str] = &[
    "data-src",
    "data-original",
    "data-lazy-src",
    "data-lazy",
    "data-url",
    "lazy-src",
];

/// What the listing page shows.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub list: String,
    pub item: String,
    pub items_found: usize,
    /// The share of items showing a date or text beside their link (0 to 2): a bare list of
    /// links (a sidebar, a shell page's leftovers) is near 0.
    pub richness: f64,
    pub title: Option<Pick>,
    pub link: Option<Pick>,
    pub date: Option<Pick>,
    pub views: Option<Pick>,
    pub summary: Option<Pick>,
    pub image: Option<Pick>,
    pub next: Option<NextPick>,
    /// Item links in page order (resolved), for the article pages.
    pub links: Vec<Url>,
    /// Item titles in the same order.
    pub titles: Vec<String>,
    /// Query parameters that look like a session value (same random value on every link).
    pub session_params: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NextPick {
    pub selector: String,
    pub text: String,
    pub postback: bool,
    pub href: String,
}

/// What the page says about itself, whether or not it lists items.
#[derive(Debug, Clone, Default)]
pub struct PageFacts {
    /// `<title>` before the site's part, and the site's part.
    pub label: Option<String>,
    pub site_name: Option<String>,
    /// `<link rel="alternate">` feeds: (href resolved, title).
    pub feeds: Vec<(Url, Option<String>)>,
    /// JSON endpoints the page names (`data-api`, `fetch("…")`), resolved.
    pub endpoints: Vec<Url>,
    /// Inline script text, for link templates of JSON items.
    pub scripts: String,
}

fn sel(css: &str) -> Selector {
    Selector::parse(css).expect("static selector")
}

/// The page's title, label, feeds and JSON endpoints.
pub fn page_facts(doc: &Html, url: &Url) -> PageFacts {
    let mut facts = PageFacts::default();
    if let Some(title) = doc.select(&sel("title")).next().map(text) {
        let split = [" > ", " | ", " :: "]
            .iter()
            .filter_map(|s| title.rfind(s).map(|at| (at, s.len())))
            .max()
            .or_else(|| {
                [" - ", " – ", " — "]
                    .iter()
                    .filter_map(|s| title.rfind(s).map(|at| (at, s.len())))
                    .max()
            });
        match split {
            Some((at, len)) => {
                facts.label = Some(title[..at].trim().to_owned()).filter(|l| !l.is_empty());
                facts.site_name = Some(title[at + len..].trim().to_owned());
            }
            None => facts.site_name = Some(title),
        }
    }
    for link in doc.select(&sel("link[rel~=alternate][href]")) {
        let kind = link.value().attr("type").unwrap_or("").to_ascii_lowercase();
        if !(kind.contains("rss") || kind.contains("atom")) {
            continue;
        }
        if let Some(href) = link.value().attr("href").and_then(|h| resolve_link(url, h)) {
            let title = link.value().attr("title").map(dom::text_of);
            facts.feeds.push((href, title));
        }
    }
    for el in doc.select(&sel(
        "[data-api], [data-url], [data-source], [data-endpoint]",
    )) {
        for name in ["data-api", "data-url", "data-source", "data-endpoint"] {
            if let Some(found) = el.value().attr(name).and_then(|h| resolve_link(url, h)) {
                push_unique(&mut facts.endpoints, found);
            }
        }
    }
    static CALL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?:fetch|getJSON|axios\.get|\.get|\.ajax)\(\s*(?:\{\s*url\s*:\s*)?["']([^"']+)["']"#,
        )
        .expect("valid")
    });
    for script in doc.select(&sel("script:not([src])")) {
        let code: String = script.text().collect();
        for caps in CALL.captures_iter(&code) {
            let mut raw = caps[1].to_owned();
            // `fetch("/api/news?page=" + page)`: the first page.
            if raw.ends_with('=') {
                raw.push('1');
            }
            if let Some(found) = resolve_link(url, &raw) {
                push_unique(&mut facts.endpoints, found);
            }
        }
        facts.scripts.push_str(&code);
        facts.scripts.push('\n');
    }
    facts
}

fn push_unique(list: &mut Vec<Url>, url: Url) {
    if !list.contains(&url) {
        list.push(url);
    }
}

/// A link that can be an item's: followable, not a fragment of this page, with text.
fn item_link(a: ElementRef<'_>) -> Option<(ElementRef<'_>, usize)> {
    let href = a.value().attr("href")?.trim();
    let lower = href.to_ascii_lowercase();
    if href.is_empty()
        || href.starts_with('#')
        || lower.starts_with("javascript:")
        || lower.starts_with("mailto:")
    {
        return None;
    }
    let len = text(a).chars().count();
    (len >= 2).then_some((a, len))
}

/// The item's title link: its followable link with the longest text.
fn title_link(item: ElementRef<'_>) -> Option<ElementRef<'_>> {
    let a = sel("a[href]");
    item.select(&a)
        .filter_map(item_link)
        .fold(
            None,
            |best: Option<(ElementRef<'_>, usize)>, (el, len)| match best {
                Some((_, b)) if b >= len => best,
                _ => Some((el, len)),
            },
        )
        .map(|(el, _)| el)
}

/// A group of sibling items: their parent and the item selector.
struct Group<'a> {
    parent: ElementRef<'a>,
    item: String,
    members: Vec<ElementRef<'a>>,
    score: f64,
    richness: f64,
}

/// The repeated structure: every element's children grouped by tag (and their shared class),
/// scored by how many hold a titled link, how long the titles are, and how many also show a
/// date or text beside the link.
fn groups(doc: &Html) -> Vec<Group<'_>> {
    let mut out = Vec::new();
    for parent in doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        // Menus, sidebars ("Tin xem nhiều"), headers and footers repeat links on every page:
        // they are never the listing, even when the listing itself is empty.
        if in_chrome(parent) {
            continue;
        }
        let mut by_tag: BTreeMap<String, Vec<ElementRef<'_>>> = BTreeMap::new();
        for child in parent.children().filter_map(ElementRef::wrap) {
            by_tag.entry(dom::tag(child)).or_default().push(child);
        }
        for (tag, children) in by_tag {
            if children.len() < MIN_ITEMS
                || matches!(
                    tag.as_str(),
                    "script" | "style" | "option" | "link" | "meta"
                )
            {
                continue;
            }
            let linked: Vec<ElementRef<'_>> = children
                .iter()
                .copied()
                .filter(|c| title_link(*c).is_some())
                .collect();
            if linked.len() < MIN_ITEMS {
                continue;
            }
            // The class most linked members share names the items, when nearly all have it
            // (a pager row in the same table then stays out); otherwise the tag alone.
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for member in &linked {
                for class in dom::classes(*member, 8) {
                    *counts.entry(class).or_default() += 1;
                }
            }
            let shared = counts
                .iter()
                .filter(|(_, n)| **n * 5 >= linked.len() * 4 && **n >= MIN_ITEMS)
                .max_by_key(|(_, n)| **n)
                .map(|(c, _)| c.clone());
            let (item, members) = match shared {
                Some(class) => {
                    let members: Vec<_> = linked
                        .iter()
                        .copied()
                        .filter(|m| m.value().classes().any(|c| c == class))
                        .collect();
                    (format!("{tag}.{class}"), members)
                }
                None => (tag.clone(), linked),
            };
            let n = members.len() as f64;
            let mut title_chars = 0.0;
            let (mut dated, mut texty) = (0.0, 0.0);
            for member in &members {
                let title = title_link(*member).map(text).unwrap_or_default();
                let all = text(*member);
                title_chars += title.chars().count().min(100) as f64;
                if DATE_RE.is_match(&all) {
                    dated += 1.0;
                }
                if all.chars().count() as f64 > title.chars().count() as f64 * 1.3 + 10.0 {
                    texty += 1.0;
                }
            }
            let score = n * (title_chars / n) * (1.0 + dated / n + texty / n);
            out.push(Group {
                parent,
                item,
                members,
                score,
                richness: dated / n + texty / n,
            });
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// Inside (or itself) a page's menu, sidebar, header or footer.
fn in_chrome(el: ElementRef<'_>) -> bool {
    static CHROME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)sidebar|side-?bar|menu|footer|^header|site-?header|\bnav|most-?viewed|xem-?nhieu|widget|breadcrumb")
            .expect("valid")
    });
    std::iter::once(el)
        .chain(el.ancestors().filter_map(ElementRef::wrap))
        .any(|a| {
            matches!(dom::tag(a).as_str(), "nav" | "aside" | "footer" | "header")
                || a.value()
                    .classes()
                    .chain(a.value().id())
                    .any(|c| CHROME.is_match(c))
        })
}

/// The selector of the list container: its id, else a class unique in the page, else a path.
fn list_selector(doc: &Html, parent: ElementRef<'_>) -> String {
    // Rows sit in the implicit <tbody>: the table is the list.
    let container = if matches!(dom::tag(parent).as_str(), "tbody" | "thead") {
        parent.parent().and_then(ElementRef::wrap).unwrap_or(parent)
    } else {
        parent
    };
    let unique = |css: &str| {
        dom::parse(css).is_some_and(|s| {
            let mut found = doc.select(&s);
            found.next().is_some_and(|f| f.id() == container.id()) && found.next().is_none()
        })
    };
    let mut options: Vec<String> = with_id(container).into_iter().collect();
    options.extend(names(container));
    if let Some(up) = container.parent().and_then(ElementRef::wrap) {
        let ups: Vec<String> = with_id(up).into_iter().chain(names(up)).collect();
        for u in &ups {
            for o in names(container) {
                options.push(format!("{u} > {o}"));
            }
        }
    }
    options
        .iter()
        .find(|o| unique(o))
        .cloned()
        .unwrap_or_else(|| names(container).remove(0))
}

fn pick(rule: Rule, hits: usize, of: usize) -> Pick {
    Pick {
        rule,
        confidence: if of == 0 {
            0.0
        } else {
            hits as f64 / of as f64
        },
        note: None,
    }
}

/// Reads the listing page; `None` when it shows no repeated structure of titled links.
pub fn analyze(doc: &Html, url: &Url, dates: &DateContext<'_>) -> Option<Listing> {
    let groups = groups(doc);
    let group = groups.first()?;
    let items: Vec<ElementRef<'_>> = group.members.clone();
    let sample: Vec<ElementRef<'_>> = items.iter().copied().take(SAMPLE).collect();
    let n = sample.len();
    let mut listing = Listing {
        list: list_selector(doc, group.parent),
        item: group.item.clone(),
        items_found: items.len(),
        richness: group.richness,
        ..Listing::default()
    };

    // Title and link: the title link.
    let titles: Vec<Option<ElementRef<'_>>> = sample.iter().map(|i| title_link(*i)).collect();
    let mut cands = Vec::new();
    for (item, title) in sample.iter().zip(&titles) {
        if let Some(t) = title {
            for c in candidates(*item, *t) {
                if !cands.contains(&c) {
                    cands.push(c);
                }
            }
        }
    }
    let (css, hits) = best(&cands, &sample, |i, el| {
        titles[i].is_some_and(|t| t.id() == el.id())
    })?;
    listing.title = Some(pick(Rule::text(&css), hits, n));
    listing.link = Some(pick(Rule::attr(&css, &["href"]), hits, n));
    let title_sel = dom::parse(&css)?;
    for item in &items {
        if let Some(a) = item.select(&title_sel).next()
            && let Some(link) = a.value().attr("href").and_then(|h| resolve_link(url, h))
        {
            listing.links.push(link);
            listing.titles.push(text(a));
        }
    }
    listing.session_params = session_params(url, &listing.links);

    listing.date = date_pick(&sample, dates);
    listing.views = views_pick(&sample);
    listing.summary = summary_pick(
        &sample,
        &titles,
        &[listing.date.as_ref(), listing.views.as_ref()],
    );
    listing.image = image_pick(&sample);
    listing.next = next_pick(doc, &items);
    Some(listing)
}

/// The deepest elements of `scope` whose text matches `re`.
fn deepest_matching<'a>(scope: ElementRef<'a>, re: &Regex) -> Vec<ElementRef<'a>> {
    scope
        .descendants()
        .filter_map(ElementRef::wrap)
        .filter(|el| re.is_match(&text(*el)))
        .filter(|el| {
            !el.children()
                .filter_map(ElementRef::wrap)
                .any(|c| re.is_match(&text(c)))
        })
        .collect()
}

/// Reads `el`'s text through `regex` (group 1) when there is one.
pub fn through(el: ElementRef<'_>, regex: Option<&Regex>) -> Option<String> {
    let shown = text(el);
    match regex {
        None => Some(shown),
        Some(re) => re
            .captures(&shown)
            .and_then(|c| c.get(1).or_else(|| c.get(0)))
            .map(|m| m.as_str().to_owned()),
    }
}

/// The date field: an element whose text (or the date inside it) the date parser reads, a
/// publication date preferred to an edit date.
pub fn date_pick(scopes: &[ElementRef<'_>], dates: &DateContext<'_>) -> Option<Pick> {
    let mut cands: Vec<(String, bool)> = Vec::new();
    for scope in scopes.iter().take(SAMPLE) {
        for el in deepest_matching(*scope, &DATE_RE) {
            let whole = parse_date(&text(el), dates).is_ok();
            for c in candidates(*scope, el) {
                if !cands.iter().any(|(k, _)| *k == c) {
                    cands.push((c, whole));
                }
            }
        }
    }
    let mut best_pick: Option<(f64, Pick)> = None;
    for (css, whole) in cands {
        let regex = (!whole).then(|| DATE_RE.clone());
        let Some(selector) = dom::parse(&css) else {
            continue;
        };
        let mut hits = 0;
        let mut weight = 0.0;
        for scope in scopes {
            let Some(el) = scope.select(&selector).next() else {
                continue;
            };
            let Some(value) = through(el, regex.as_ref()) else {
                continue;
            };
            if parse_date(&value, dates).is_ok() {
                hits += 1;
                let shown = text(el);
                // A label says which date it is; an edit time is the wrong one.
                weight += if EDITED_WORDS.is_match(&shown) && !PUBLISHED_WORDS.is_match(&shown) {
                    0.2
                } else {
                    1.0
                };
            }
        }
        if hits == 0 {
            continue;
        }
        let rule = Rule {
            selector: Some(css.clone()),
            attrs: Vec::new(),
            regex: (!whole).then(|| DATE_PATTERN.to_owned()),
            pointer: None,
        };
        if best_pick.as_ref().is_none_or(|(w, _)| weight > *w) {
            let mut p = pick(rule, hits, scopes.len());
            if EDITED_WORDS.is_match(&css) {
                p.note = Some("the element looks like an edit time".into());
            }
            best_pick = Some((weight, p));
        }
    }
    best_pick.map(|(_, p)| p)
}

fn views_pick(scopes: &[ElementRef<'_>]) -> Option<Pick> {
    let mut cands: Vec<(String, Option<String>)> = Vec::new();
    for scope in scopes {
        for el in deepest_matching(*scope, &VIEWS_RE) {
            let shown = text(el);
            let Some(caps) = VIEWS_RE.captures(&shown) else {
                continue;
            };
            let label = regex::escape(&caps[1]);
            let regex = format!(r"(?i){label}\s*:?\s*([\d.,]+)");
            for c in candidates(*scope, el) {
                if !cands.iter().any(|(k, _)| *k == c) {
                    cands.push((c, Some(regex.clone())));
                }
            }
        }
        for el in scope.descendants().filter_map(ElementRef::wrap) {
            let named = el
                .value()
                .classes()
                .chain(el.value().id())
                .any(|c| VIEWS_CLASS.is_match(c));
            if named && COUNT_RE.is_match(&text(el)) {
                for c in candidates(*scope, el) {
                    if !cands.iter().any(|(k, _)| *k == c) {
                        cands.push((c, None));
                    }
                }
            }
        }
    }
    let mut found: Option<Pick> = None;
    for (css, regex) in cands {
        let Some(selector) = dom::parse(&css) else {
            continue;
        };
        let re = regex.as_deref().and_then(|r| Regex::new(r).ok());
        let hits = scopes
            .iter()
            .filter(|s| {
                s.select(&selector)
                    .next()
                    .and_then(|el| through(el, re.as_ref()))
                    .and_then(|v| parse_count(&v))
                    .is_some()
            })
            .count();
        if hits > 0
            && found
                .as_ref()
                .is_none_or(|f| hits as f64 / scopes.len() as f64 > f.confidence)
        {
            found = Some(pick(
                Rule {
                    selector: Some(css),
                    attrs: Vec::new(),
                    regex,
                    pointer: None,
                },
                hits,
                scopes.len(),
            ));
        }
    }
    found
}

/// The summary: the element with the most text that is neither the title nor the date.
fn summary_pick(
    scopes: &[ElementRef<'_>],
    titles: &[Option<ElementRef<'_>>],
    taken: &[Option<&Pick>],
) -> Option<Pick> {
    // What the date and view rules read is no summary (a meta line is long enough to look like one).
    let taken: Vec<Selector> = taken
        .iter()
        .filter_map(|p| {
            p.and_then(|p| p.rule.selector.as_deref())
                .and_then(dom::parse)
        })
        .collect();
    let taken_ids: Vec<Vec<ego_tree::NodeId>> = scopes
        .iter()
        .map(|scope| {
            taken
                .iter()
                .filter_map(|s| scope.select(s).next())
                .map(|e| e.id())
                .collect()
        })
        .collect();
    let is_summary = |el: ElementRef<'_>, title: Option<ElementRef<'_>>| {
        let t = text(el);
        let long = t.chars().count() >= 30 && !VIEWS_RE.is_match(&t);
        if taken_ids
            .iter()
            .flatten()
            .any(|id| el.id() == *id || el.descendants().any(|d| d.id() == *id))
        {
            return false;
        }
        let holds_title = title.is_some_and(|ti| {
            el.id() == ti.id()
                || el.descendants().any(|d| d.id() == ti.id())
                || ti.descendants().any(|d| d.id() == el.id())
        });
        let dated = DATE_RE
            .find(&t)
            .is_some_and(|m| m.as_str().len() * 2 > t.len());
        long && !holds_title && !dated
    };
    let mut cands = Vec::new();
    for (scope, title) in scopes.iter().zip(titles) {
        let best_el = scope
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|el| el.id() != scope.id() && is_summary(*el, *title))
            .filter(|el| {
                !el.children()
                    .filter_map(ElementRef::wrap)
                    .any(|c| text(c) == text(*el))
            })
            .max_by_key(|el| text(*el).chars().count());
        if let Some(el) = best_el {
            for c in candidates(*scope, el) {
                if !cands.contains(&c) {
                    cands.push(c);
                }
            }
        }
    }
    let (css, hits) = best(&cands, scopes, |i, el| is_summary(el, titles[i]))?;
    let mut p = pick(Rule::text(&css), hits, scopes.len());
    // Items without a summary are common; the share that has one is no confidence measure.
    if hits * 3 >= scopes.len() {
        p.confidence = p.confidence.max(0.8);
    }
    Some(p)
}

fn image_pick(scopes: &[ElementRef<'_>]) -> Option<Pick> {
    let img = sel("img");
    let mut cands = Vec::new();
    let mut attrs: Vec<String> = Vec::new();
    let mut with_image = 0;
    for scope in scopes {
        let mut any = false;
        for el in scope.select(&img) {
            any = true;
            for c in candidates(*scope, el) {
                if !cands.contains(&c) {
                    cands.push(c);
                }
            }
            for lazy in LAZY_ATTRS {
                if el.value().attr(lazy).is_some() && !attrs.iter().any(|a| a == lazy) {
                    attrs.push((*lazy).to_owned());
                }
            }
        }
        with_image += usize::from(any);
    }
    if with_image == 0 {
        return None;
    }
    complete_lazy(&mut attrs);
    let (css, hits) = best(&cands, scopes, |_, _| true)?;
    let mut p = pick(
        Rule::attr(&css, &attrs.iter().map(String::as_str).collect::<Vec<_>>()),
        hits,
        with_image,
    );
    p.confidence = p.confidence.min(1.0);
    Some(p)
}

/// The lazy attributes seen first, then the others (a page not sampled may use them), then `src`.
pub fn complete_lazy(attrs: &mut Vec<String>) {
    for lazy in LAZY_ATTRS {
        if !attrs.iter().any(|a| a == lazy) {
            attrs.push((*lazy).to_owned());
        }
    }
    attrs.push("src".into());
}

/// The next-page control: a link outside the items whose text says "next".
fn next_pick(doc: &Html, items: &[ElementRef<'_>]) -> Option<NextPick> {
    let a = sel("a");
    let inside_items = |el: ElementRef<'_>| {
        el.ancestors()
            .any(|anc| items.iter().any(|i| i.id() == anc.id()))
    };
    let mut found: Option<(usize, ElementRef<'_>)> = None;
    for link in doc.select(&a) {
        let shown = text(link).to_lowercase();
        // "Trang sau »", "« Tiếp": the words without their arrows, when words remain.
        let words = shown.trim_matches(|c: char| c.is_whitespace() || "»›>«‹<".contains(c));
        let said = if words.is_empty() {
            shown.as_str()
        } else {
            words
        };
        let Some(rank) = NEXT_TEXTS.iter().position(|t| *t == said || *t == shown) else {
            continue;
        };
        let href = link.value().attr("href").unwrap_or("").trim();
        let onclick = link.value().attr("onclick").unwrap_or("");
        if (href.is_empty() || href == "#") && onclick.is_empty() {
            continue;
        }
        if inside_items(link)
            || link
                .ancestors()
                .filter_map(ElementRef::wrap)
                .any(|x| dom::tag(x) == "nav" || dom::tag(x) == "header")
        {
            continue;
        }
        if found.as_ref().is_none_or(|(r, _)| rank < *r) {
            found = Some((rank, link));
        }
    }
    let (_, link) = found?;
    let shown = text(link);
    // The nearest named ancestor scopes the link; the text picks it among the pager's links.
    let scope = link
        .ancestors()
        .filter_map(ElementRef::wrap)
        .find(|anc| with_id(*anc).is_some() || !dom::classes(*anc, 1).is_empty())?;
    let scope_name = with_id(scope).unwrap_or_else(|| names(scope).remove(0));
    let selector = format!("{scope_name} a");
    let href = link.value().attr("href").unwrap_or("").to_owned();
    let postback = href.to_ascii_lowercase().starts_with("javascript:")
        && href.contains("PostBack")
        || link
            .value()
            .attr("onclick")
            .is_some_and(|o| o.contains("PostBack"));
    // The selector with the text must find this very link first.
    let s = dom::parse(&selector)?;
    let first = doc
        .select(&s)
        .find(|l| text(*l).to_lowercase() == shown.to_lowercase())?;
    (first.id() == link.id()).then_some(NextPick {
        selector,
        text: shown,
        postback,
        href,
    })
}

/// Query parameters every item link carries with one random-looking value that the listing's
/// own address lacks: a session id (`sid=8f3a9c`), not part of an article's identity.
fn session_params(page: &Url, links: &[Url]) -> Vec<String> {
    static RANDOM: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9a-fA-F]{6,}$|^[A-Za-z0-9_-]{16,}$").expect("valid"));
    const SESSION_NAMES: &[&str] = &[
        "sid",
        "sessionid",
        "session",
        "phpsessid",
        "jsessionid",
        "token",
    ];
    if links.len() < 2 {
        return Vec::new();
    }
    let own: Vec<String> = page.query_pairs().map(|(k, _)| k.into_owned()).collect();
    let first: Vec<(String, String)> = links[0]
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = Vec::new();
    for (name, value) in first {
        let everywhere = links.iter().all(|l| {
            l.query_pairs()
                .any(|(k, v)| k == name.as_str() && v == value.as_str())
        });
        let sessionish = SESSION_NAMES.contains(&name.to_ascii_lowercase().as_str())
            || (RANDOM.is_match(&value)
                && value.chars().any(|c| c.is_ascii_digit())
                && value.chars().any(|c| c.is_ascii_alphabetic()));
        if everywhere && sessionish && !own.contains(&name) && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}
