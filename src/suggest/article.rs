//! The article pages: the body container by a readability-style content score (paragraph
//! text, commas, few links), the elements inside it to remove, the title as the listing named
//! it, the date and the lead image; each as the selector that finds them on the most samples.

use std::collections::HashMap;
use std::sync::LazyLock;

use ego_tree::NodeId;
use regex::Regex;
use scraper::{ElementRef, Html};

use super::dom::{self, best, candidates, text};
use super::listing::{DATE_PATTERN, LAZY_ATTRS, date_pick};
use super::{Pick, Rule};
use crate::normalize::date::DateContext;
use crate::normalize::text::fold_case;

/// Boxes inside a body that are no part of the story.
static CHROME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)share|chia-?se|social|related|lien-?quan|tin-?khac|other-?news|othernews|comment|binh-?luan|y-?kien|print|tags?\b|toolbar|article-?tools|advert|banner|quang-?cao")
        .expect("valid")
});

/// One article page as fetched, with the title the listing gave it.
pub struct Sample<'a> {
    pub doc: &'a Html,
    pub listing_title: Option<&'a str>,
}

#[derive(Debug, Clone, Default)]
pub struct ArticleRules {
    pub body: Option<Pick>,
    pub remove: Vec<String>,
    pub title: Option<Pick>,
    pub date: Option<Pick>,
    pub image: Option<Pick>,
}

/// The readability score of every element holding paragraphs: each paragraph's score
/// (1 + commas + length/100, at most 3 for length) goes to its parent, half to the
/// grandparent; a container's total is then scaled by its share of text outside links.
fn body_container(doc: &Html) -> Option<ElementRef<'_>> {
    let mut scores: HashMap<NodeId, f64> = HashMap::new();
    let paragraph_like = |el: ElementRef<'_>| {
        matches!(
            dom::tag(el).as_str(),
            "p" | "pre" | "td" | "blockquote" | "li"
        )
    };
    for el in doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        if !paragraph_like(el) {
            continue;
        }
        let t = text(el);
        let len = t.chars().count();
        if len < 25 {
            continue;
        }
        // A list of links (a sidebar, a related box) scores nothing, nor does page chrome.
        if link_density(el) > 0.5 || in_chrome(el) {
            continue;
        }
        let score =
            1.0 + t.matches([',', '.']).count() as f64 * 0.5 + (len as f64 / 100.0).min(3.0);
        if let Some(parent) = el.parent().and_then(ElementRef::wrap) {
            *scores.entry(parent.id()).or_default() += score;
            if let Some(grand) = parent.parent().and_then(ElementRef::wrap) {
                *scores.entry(grand.id()).or_default() += score / 2.0;
            }
        }
    }
    // Unclosed legacy <P>s nest each paragraph inside the previous one: count those too.
    scores
        .into_iter()
        .filter_map(|(id, s)| {
            let el = ElementRef::wrap(doc.tree.get(id)?)?;
            let tag = dom::tag(el);
            if matches!(tag.as_str(), "body" | "html" | "p") {
                return None;
            }
            Some((el, s * (1.0 - link_density(el))))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.id().cmp(&a.0.id())))
        .map(|(el, _)| el)
}

/// Inside the page's header, footer, menus, sidebars or comment boxes.
fn in_chrome(el: ElementRef<'_>) -> bool {
    static OUTSIDE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)footer|header|sidebar|side-?bar|menu|\bnav|comment|binh-?luan|y-?kien|related|lien-?quan|widget|copyright|banner")
            .expect("valid")
    });
    el.ancestors().filter_map(ElementRef::wrap).any(|a| {
        matches!(dom::tag(a).as_str(), "footer" | "header" | "nav" | "aside")
            || a.value()
                .classes()
                .chain(a.value().id())
                .any(|c| OUTSIDE.is_match(c))
    })
}

fn link_density(el: ElementRef<'_>) -> f64 {
    let all = text(el).chars().count();
    if all == 0 {
        return 1.0;
    }
    let a = dom::parse("a").expect("static selector");
    let linked: usize = el.select(&a).map(|l| text(l).chars().count()).sum();
    (linked as f64 / all as f64).min(1.0)
}

/// Analyses the sample pages.
pub fn analyze(samples: &[Sample<'_>], dates: &DateContext<'_>) -> ArticleRules {
    let mut rules = ArticleRules::default();
    let roots: Vec<ElementRef<'_>> = samples.iter().map(|s| s.doc.root_element()).collect();
    if roots.is_empty() {
        return rules;
    }
    let bodies: Vec<Option<ElementRef<'_>>> =
        samples.iter().map(|s| body_container(s.doc)).collect();
    let mut cands = Vec::new();
    for (root, body) in roots.iter().zip(&bodies) {
        if let Some(b) = body {
            for c in candidates(*root, *b) {
                // A bare tag names the body of no page.
                if c.contains(['.', '#', ' ']) && !cands.contains(&c) {
                    cands.push(c);
                }
            }
        }
    }
    let found = best(&cands, &roots, |i, el| {
        bodies[i].is_some_and(|b| b.id() == el.id())
    });
    let Some((body_css, hits)) = found else {
        return rules;
    };
    rules.body = Some(Pick {
        rule: Rule::text(&body_css),
        confidence: hits as f64 / roots.len() as f64,
        note: None,
    });
    let body_sel = dom::parse(&body_css).expect("candidate parsed before");
    let found_bodies: Vec<ElementRef<'_>> = roots
        .iter()
        .filter_map(|r| r.select(&body_sel).next())
        .collect();

    // Boxes inside the body to drop.
    for body in &found_bodies {
        for el in body.descendants().filter_map(ElementRef::wrap) {
            let named = el
                .value()
                .classes()
                .chain(el.value().id())
                .any(|c| CHROME.is_match(c));
            if named
                && let Some(name) = dom::with_id(el)
                    .or_else(|| dom::names(el).into_iter().find(|n| n.contains('.')))
                && !rules.remove.contains(&name)
            {
                rules.remove.push(name);
            }
        }
    }

    // The title: the element outside the body showing the listing's title, else the one <h1>.
    let wanted: Vec<Option<String>> = samples
        .iter()
        .map(|s| s.listing_title.map(fold_case))
        .collect();
    let mut title_cands = Vec::new();
    let mut targets: Vec<Option<ElementRef<'_>>> = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let in_body = |el: ElementRef<'_>| {
            found_bodies
                .iter()
                .any(|b| el.ancestors().any(|a| a.id() == b.id()))
        };
        let heading = root
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|el| {
                !matches!(
                    dom::tag(*el).as_str(),
                    "title" | "a" | "meta" | "html" | "body"
                ) && !in_body(*el)
            })
            .find(|el| {
                wanted[i]
                    .as_ref()
                    .is_some_and(|w| fold_case(&text(*el)) == *w)
            })
            .or_else(|| {
                let h1 = dom::parse("h1").expect("static selector");
                let mut all = root.select(&h1);
                let first = all.next();
                first.filter(|_| all.next().is_none())
            });
        if let Some(h) = heading {
            for c in candidates(*root, h) {
                if !title_cands.contains(&c) {
                    title_cands.push(c);
                }
            }
        }
        targets.push(heading);
    }
    if let Some((css, hits)) = best(&title_cands, &roots, |i, el| {
        targets[i].is_some_and(|t| t.id() == el.id())
    }) {
        rules.title = Some(Pick {
            rule: Rule::text(&css),
            confidence: hits as f64 / roots.len() as f64,
            note: targets
                .iter()
                .zip(&wanted)
                .any(|(t, w)| t.is_some() && w.is_none())
                .then(|| {
                    "taken as the page's only <h1>, not matched to a listing title".to_owned()
                }),
        });
    }

    // The date: looked for around the title, outside the body.
    let scopes: Vec<ElementRef<'_>> = roots
        .iter()
        .zip(&targets)
        .map(|(root, t)| {
            t.and_then(|t| t.parent().and_then(ElementRef::wrap))
                .unwrap_or(*root)
        })
        .collect();
    rules.date = date_pick(&scopes, dates).and_then(|mut p| {
        // The rule is looked up in the whole page: prefix the scope's own name.
        let css = p.rule.selector.clone()?;
        let scope_name = scopes.first().and_then(|s| {
            dom::with_id(*s).or_else(|| dom::names(*s).into_iter().find(|n| n.contains('.')))
        });
        if let Some(name) = scope_name {
            p.rule.selector = Some(format!("{name} {css}"));
        }
        if p.rule.regex.is_some() {
            p.rule.regex = Some(DATE_PATTERN.to_owned());
        }
        Some(p)
    });

    // The lead image: the first image inside the body, lazy attributes first.
    let img = dom::parse("img").expect("static selector");
    let mut attrs: Vec<String> = Vec::new();
    let mut with_image = 0;
    for body in &found_bodies {
        let mut any = false;
        for el in body.select(&img) {
            any = true;
            for lazy in LAZY_ATTRS {
                if el.value().attr(lazy).is_some() && !attrs.iter().any(|a| a == lazy) {
                    attrs.push((*lazy).to_owned());
                }
            }
        }
        with_image += usize::from(any);
    }
    if with_image > 0 {
        super::listing::complete_lazy(&mut attrs);
        let names: Vec<&str> = attrs.iter().map(String::as_str).collect();
        rules.image = Some(Pick {
            rule: Rule::attr(&format!("{body_css} img"), &names),
            confidence: 1.0,
            note: None,
        });
    }
    rules
}
