//! Printing a suggestion: the TOML source (appendable to a config file as it is), and the
//! confidence table with a warning for every field it is unsure of.

use std::fmt::Write as _;

use super::{Pick, Proposal, Rule, SURE, Suggestion, path_of};

/// `s` as a TOML string.
pub fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

fn rule(rule: &Rule) -> String {
    if let Some(pointer) = &rule.pointer {
        return quote(pointer);
    }
    let selector = rule.selector.clone().unwrap_or_default();
    if rule.attrs.is_empty() && rule.regex.is_none() {
        return quote(&selector);
    }
    let mut parts = vec![format!("selector = {}", quote(&selector))];
    match rule.attrs.as_slice() {
        [] => {}
        [one] => parts.push(format!("attr = {}", quote(one))),
        many => parts.push(format!("attr = {}", list(many))),
    }
    if let Some(regex) = &rule.regex {
        parts.push(format!("regex = {}", quote(regex)));
    }
    format!("{{ {} }}", parts.join(", "))
}

fn field(out: &mut String, name: &str, pick: Option<&Pick>) {
    if let Some(p) = pick {
        let unsure = if p.confidence < SURE || p.note.is_some() {
            "  # unsure: see the warnings"
        } else {
            ""
        };
        let _ = writeln!(out, "{name} = {}{unsure}", rule(&p.rule));
    }
}

pub fn toml(s: &Suggestion) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n# Suggested by `wardfeed suggest {}`: try it with `wardfeed probe --config FILE --source {}`.",
        s.url, s.id
    );
    for note in &s.notes {
        let _ = writeln!(out, "# {}", note.replace('\n', " "));
    }
    let (listing_table, json_table, article_table) = match &s.template {
        Some(t) => (
            format!("templates.{t}.listing"),
            format!("templates.{t}.json"),
            format!("templates.{t}.article"),
        ),
        None => (
            format!("sources.{}.listing", s.id),
            format!("sources.{}.json", s.id),
            format!("sources.{}.article", s.id),
        ),
    };
    let mut rules = String::new();
    if let Some(l) = &s.listing {
        let _ = writeln!(rules, "\n[{listing_table}]");
        let _ = writeln!(rules, "list = {}", quote(&l.list));
        let _ = writeln!(rules, "item = {}", quote(&l.item));
        field(&mut rules, "title", l.title.as_ref());
        field(&mut rules, "link", l.link.as_ref());
        field(&mut rules, "date", l.date.as_ref());
        field(&mut rules, "views", l.views.as_ref());
        field(&mut rules, "summary", l.summary.as_ref());
        field(&mut rules, "image", l.image.as_ref());
        if let Some(next) = &l.next {
            let key = if next.postback {
                "postback"
            } else {
                "selector"
            };
            let _ = writeln!(
                rules,
                "next_page = {{ {key} = {}, text = {} }}",
                quote(&next.selector),
                quote(&next.text)
            );
        }
    }
    if let Some(j) = &s.json {
        let _ = writeln!(rules, "\n[{json_table}]");
        let _ = writeln!(rules, "items = {}", quote(&j.items));
        field(&mut rules, "title", j.title.as_ref());
        field(&mut rules, "link", j.link.as_ref());
        field(&mut rules, "date", j.date.as_ref());
        field(&mut rules, "views", j.views.as_ref());
        field(&mut rules, "summary", j.summary.as_ref());
        field(&mut rules, "image", j.image.as_ref());
        if let Some((key, param)) = &j.paging {
            let _ = writeln!(rules, "{key} = {}", quote(param));
        }
    }
    let a = &s.article;
    if a.body.is_some() {
        let _ = writeln!(rules, "\n[{article_table}]");
        field(&mut rules, "body", a.body.as_ref());
        if !a.remove.is_empty() {
            let _ = writeln!(rules, "remove = {}", list(&a.remove));
        }
        field(&mut rules, "title", a.title.as_ref());
        field(&mut rules, "date", a.date.as_ref());
        field(&mut rules, "image", a.image.as_ref());
    }
    if s.template.is_some() {
        out.push_str(&rules);
    }
    let _ = writeln!(out, "\n[sources.{}]", s.id);
    let _ = writeln!(out, "name = {}", quote(&s.name));
    let _ = writeln!(
        out,
        "# The district or area this ward belongs to (any word; feeds are grouped by it)."
    );
    let _ = writeln!(out, "group = {}", quote(&s.id));
    let _ = writeln!(
        out,
        "base = {}",
        quote(s.base.as_str().trim_end_matches('/'))
    );
    if let Some(t) = &s.template {
        let _ = writeln!(out, "template = {}", quote(t));
    }
    if a.body.is_none() {
        let _ = writeln!(
            out,
            "# No article body was found: items keep the listing's fields only."
        );
        let _ = writeln!(out, "fetch_articles = false");
    }
    if !s.drop_query_params.is_empty() {
        let _ = writeln!(
            out,
            "# A per-visit session value on every link: not part of an article's identity."
        );
        let _ = writeln!(out, "drop_query_params = {}", list(&s.drop_query_params));
    }
    if s.template.is_none() {
        out.push_str(&rules);
    }
    let _ = writeln!(out, "\n[[sources.{}.categories]]", s.id);
    let _ = writeln!(out, "label = {}", quote(&s.label));
    match &s.proposal {
        Proposal::Listing => {
            let _ = writeln!(out, "listing = {}", quote(&path_of(&s.base, &s.url)));
        }
        Proposal::Feed { url, .. } => {
            let _ = writeln!(out, "feed = {}", quote(&path_of(&s.base, url)));
        }
        Proposal::Json { endpoint } => {
            let _ = writeln!(out, "listing_json = {}", quote(&path_of(&s.base, endpoint)));
        }
    }
    out
}

/// Every field as (name, pick) in table order, `None` where nothing was found.
fn fields(s: &Suggestion) -> Vec<(&'static str, Option<&Pick>)> {
    let mut out = Vec::new();
    if let Some(l) = &s.listing {
        out.extend([
            ("listing.title", l.title.as_ref()),
            ("listing.link", l.link.as_ref()),
            ("listing.date", l.date.as_ref()),
            ("listing.views", l.views.as_ref()),
            ("listing.summary", l.summary.as_ref()),
            ("listing.image", l.image.as_ref()),
        ]);
    }
    if let Some(j) = &s.json {
        out.extend([
            ("json.title", j.title.as_ref()),
            ("json.link", j.link.as_ref()),
            ("json.date", j.date.as_ref()),
            ("json.views", j.views.as_ref()),
            ("json.summary", j.summary.as_ref()),
            ("json.image", j.image.as_ref()),
        ]);
    }
    out.extend([
        ("article.body", s.article.body.as_ref()),
        ("article.title", s.article.title.as_ref()),
        ("article.date", s.article.date.as_ref()),
        ("article.image", s.article.image.as_ref()),
    ]);
    out
}

pub fn warnings(s: &Suggestion) -> Vec<String> {
    let mut out = Vec::new();
    let feed = matches!(s.proposal, Proposal::Feed { .. });
    for (name, pick) in fields(s) {
        match pick {
            Some(p) if p.confidence < SURE => out.push(format!(
                "{name}: unsure ({:.0} % of the sampled {} read it){}",
                p.confidence * 100.0,
                if name.starts_with("article") {
                    "pages"
                } else {
                    "items"
                },
                p.note
                    .as_deref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default()
            )),
            Some(Pick { note: Some(n), .. }) => out.push(format!("{name}: unsure: {n}")),
            Some(_) => {}
            None => {
                let why = match name {
                    "listing.date" | "json.date" if !feed => Some(
                        "no date the date parser reads was found in the items: their date will come from the article page (article.date) or be missing",
                    ),
                    "listing.title" | "json.title" | "listing.link" | "json.link" => {
                        Some("not found: the items cannot be read without it")
                    }
                    "article.body" => Some(
                        "no body container found on the article pages: the feeds will carry the listing's summary only",
                    ),
                    "article.title" => {
                        Some("no title found on the article pages: the listing's title is kept")
                    }
                    "article.date"
                        if s.listing.as_ref().is_none_or(|l| l.date.is_none())
                            && s.json.as_ref().is_none_or(|j| j.date.is_none()) =>
                    {
                        Some("no date found on the article pages either")
                    }
                    _ => None,
                };
                if let Some(why) = why {
                    out.push(format!("{name}: {why}"));
                }
            }
        }
    }
    if let Some(l) = &s.listing
        && l.next.is_none()
        && !feed
    {
        out.push(
            "listing.next_page: no next-page link found: only the first listing page will be read"
                .into(),
        );
    }
    if let Some(l) = &s.listing
        && l.richness < 0.5
    {
        out.push(format!(
            "listing: the {} items show nothing but a link (no date, no text beside it): check that this is the news list and not a menu or a sidebar",
            l.items_found
        ));
    }
    if s.articles_read.is_empty() {
        out.push("article: no article page could be read; give one with --article URL".into());
    }
    if !s.drop_query_params.is_empty() {
        out.push(format!(
            "drop_query_params: {} looked like a session value (same random value on every link) and is dropped from article identities",
            s.drop_query_params.join(", ")
        ));
    }
    out
}

pub fn report(s: &Suggestion) -> String {
    let mut out = String::new();
    let what = match &s.proposal {
        Proposal::Listing => "HTML listing".to_owned(),
        Proposal::Feed { url, .. } => format!("feed {url}"),
        Proposal::Json { endpoint } => format!("JSON listing {endpoint}"),
    };
    let _ = writeln!(
        out,
        "suggest {}: source {:?} ({}), reads the {what}",
        s.url, s.id, s.name
    );
    if let Some(l) = &s.listing {
        let _ = writeln!(
            out,
            "  listing: {} items as {:?} in {:?}",
            l.items_found, l.item, l.list
        );
    }
    if let Some(j) = &s.json {
        let _ = writeln!(out, "  JSON: {} items at {:?}", j.count, j.items);
    }
    let _ = writeln!(out, "  articles read: {}", s.articles_read.len());
    let _ = writeln!(out, "  {:<16} {:>10}  rule", "field", "confidence");
    for (name, pick) in fields(s) {
        match pick {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "  {name:<16} {:>10.2}  {}",
                    p.confidence,
                    rule(&p.rule)
                );
            }
            None => {
                let _ = writeln!(out, "  {name:<16} {:>10}  (not found)", "-");
            }
        }
    }
    if let Some(next) = s.listing.as_ref().and_then(|l| l.next.as_ref()) {
        let _ = writeln!(
            out,
            "  next page: {:?} with text {:?}{}",
            next.selector,
            next.text,
            if next.postback {
                " (form post-back)"
            } else {
                ""
            }
        );
    }
    for note in &s.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for warning in warnings(s) {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}
