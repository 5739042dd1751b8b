//! Selector building on a parsed page: how an element is named (tag, classes, id), the
//! candidate selectors that reach it from a scope, and which candidate reaches the wanted
//! element in the most scopes.

use std::sync::LazyLock;

use regex::Regex;
use scraper::{ElementRef, Selector};

use crate::normalize::text::clean_text;

/// A class or id usable verbatim in a selector (no escaping needed), and not one generated
/// per element (ASP.NET's `ctl00_rpt_ctl03_lnk`, numbered ids), which would match one page only.
fn plain_name(name: &str) -> bool {
    static PLAIN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_-]*$").expect("valid regex"));
    PLAIN.is_match(name) && !name.chars().rev().take(3).any(|c| c.is_ascii_digit())
}

/// The element's tag, lower case.
pub fn tag(el: ElementRef<'_>) -> String {
    el.value().name().to_ascii_lowercase()
}

/// The element's usable classes, in page order, at most `limit`.
pub fn classes(el: ElementRef<'_>, limit: usize) -> Vec<String> {
    el.value()
        .classes()
        .filter(|c| plain_name(c))
        .take(limit)
        .map(str::to_owned)
        .collect()
}

/// `tag#id` when the element has a usable id.
pub fn with_id(el: ElementRef<'_>) -> Option<String> {
    el.value()
        .id()
        .filter(|id| plain_name(id))
        .map(|id| format!("{}#{id}", tag(el)))
}

/// Ways to name one element: `tag.class` for each usable class, then the bare tag.
pub fn names(el: ElementRef<'_>) -> Vec<String> {
    let tag = tag(el);
    let mut out: Vec<String> = classes(el, 2)
        .into_iter()
        .map(|c| format!("{tag}.{c}"))
        .collect();
    out.push(tag);
    out
}

/// Clean text of an element.
pub fn text(el: ElementRef<'_>) -> String {
    clean_text(&el.text().collect::<String>())
}

pub fn parse(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

/// Candidate selectors for `target` looked up inside `scope` (which must contain it), the more
/// specific (classed) first: the target alone, then under its parent, then the whole path.
pub fn candidates(scope: ElementRef<'_>, target: ElementRef<'_>) -> Vec<String> {
    let mut path: Vec<ElementRef<'_>> = Vec::new();
    let mut at = Some(target);
    while let Some(el) = at {
        if el.id() == scope.id() {
            break;
        }
        path.push(el);
        at = el.parent().and_then(ElementRef::wrap);
    }
    path.reverse();
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    let own = names(target);
    if let Some(id) = with_id(target) {
        push(id);
    }
    for name in &own {
        push(name.clone());
    }
    if path.len() >= 2 {
        let parent = path[path.len() - 2];
        let mut parents: Vec<String> = with_id(parent).into_iter().collect();
        parents.extend(names(parent));
        for p in &parents {
            for name in &own {
                push(format!("{p} > {name}"));
            }
        }
        for p in &parents {
            for name in &own {
                push(format!("{p} {name}"));
            }
        }
    }
    let chain: Vec<String> = path
        .iter()
        .map(|el| names(*el).into_iter().next().unwrap_or_default())
        .collect();
    push(chain.join(" > "));
    out
}

/// Of `candidates`, the one whose first match in the most scopes satisfies `ok`, with that
/// count; ties go to the earlier candidate. Candidates that do not parse are skipped.
pub fn best<'a, F>(
    candidates: &[String],
    scopes: &[ElementRef<'a>],
    mut ok: F,
) -> Option<(String, usize)>
where
    F: FnMut(usize, ElementRef<'a>) -> bool,
{
    let mut best: Option<(String, usize)> = None;
    for css in candidates {
        let Some(selector) = parse(css) else { continue };
        let hits = scopes
            .iter()
            .enumerate()
            .filter(|(i, scope)| scope.select(&selector).next().is_some_and(|el| ok(*i, el)))
            .count();
        if hits > 0 && best.as_ref().is_none_or(|(_, b)| hits > *b) {
            best = Some((css.clone(), hits));
        }
    }
    best
}

/// Clean text of an attribute value.
pub fn text_of(raw: &str) -> String {
    clean_text(raw)
}
