//! A JSON endpoint behind a shell page: the array of items (the longest array of objects),
//! and per field the key that holds it — by name first, then by what the values look like; the
//! article link from a URL field or from the template the page's script builds it with.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use url::Url;

use super::Pick;
use super::Rule;
use crate::normalize::date::{DateContext, parse_date};

#[derive(Debug, Clone, Default)]
pub struct JsonListing {
    /// JSON Pointer to the items ("" = the answer itself).
    pub items: String,
    pub count: usize,
    pub title: Option<Pick>,
    pub link: Option<Pick>,
    pub date: Option<Pick>,
    pub views: Option<Pick>,
    pub summary: Option<Pick>,
    pub image: Option<Pick>,
    /// `page_param` or `offset_param`, from the endpoint's own query.
    pub paging: Option<(String, String)>,
    /// The items' article links as the rules build them (resolved later against the base).
    pub links: Vec<String>,
    pub titles: Vec<String>,
}

/// The longest array of objects in `value`, with its pointer.
fn item_array(value: &Value, pointer: String, best: &mut Option<(String, usize)>) {
    match value {
        Value::Array(items) => {
            let objects = items.iter().filter(|i| i.is_object()).count();
            if objects > 0 && best.as_ref().is_none_or(|(_, n)| objects > *n) {
                *best = Some((pointer.clone(), objects));
            }
            for (i, item) in items.iter().enumerate().take(3) {
                item_array(item, format!("{pointer}/{i}"), best);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                item_array(item, format!("{pointer}/{escaped}"), best);
            }
        }
        _ => {}
    }
}

fn key_named(keys: &[String], words: &[&str]) -> Option<String> {
    words.iter().find_map(|w| {
        keys.iter()
            .find(|k| k.to_ascii_lowercase().replace(['_', '-'], "") == *w)
            .cloned()
    })
}

fn share(items: &[&serde_json::Map<String, Value>], ok: impl Fn(&Value) -> bool, key: &str) -> f64 {
    let hits = items.iter().filter(|i| i.get(key).is_some_and(&ok)).count();
    hits as f64 / items.len().max(1) as f64
}

fn pointer_pick(key: &str, confidence: f64) -> Pick {
    Pick {
        rule: Rule::pointer(&format!("/{}", key.replace('~', "~0").replace('/', "~1"))),
        confidence,
        note: None,
    }
}

/// Reads the endpoint's answer; `None` when it holds no array of objects.
pub fn analyze(
    answer: &Value,
    endpoint: &Url,
    scripts: &str,
    dates: &DateContext<'_>,
) -> Option<JsonListing> {
    let mut found = None;
    item_array(answer, String::new(), &mut found);
    let (pointer, count) = found?;
    let array = answer.pointer(&pointer)?.as_array()?;
    let items: Vec<&serde_json::Map<String, Value>> =
        array.iter().filter_map(Value::as_object).collect();
    let mut keys: Vec<String> = Vec::new();
    for item in &items {
        for k in item.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let mut out = JsonListing {
        items: pointer,
        count,
        ..JsonListing::default()
    };
    let is_text = |v: &Value| v.as_str().is_some_and(|s| !s.trim().is_empty());

    let title = key_named(&keys, &["title", "tieude", "name", "headline", "ten"]).or_else(|| {
        keys.iter()
            .filter(|k| share(&items, is_text, k) > 0.9)
            .max_by_key(|k| {
                items
                    .iter()
                    .filter_map(|i| i.get(*k)?.as_str())
                    .map(|s| usize::from(s.len() < 200) * s.len())
                    .sum::<usize>()
            })
            .cloned()
    });
    if let Some(t) = &title {
        out.title = Some(pointer_pick(t, share(&items, is_text, t)));
        out.titles = items
            .iter()
            .map(|i| i.get(t).and_then(Value::as_str).unwrap_or("").to_owned())
            .collect();
    }

    // The link: a URL field, else the template the page's script concatenates.
    let url_key = key_named(
        &keys,
        &[
            "url",
            "link",
            "href",
            "path",
            "permalink",
            "detailurl",
            "duongdan",
        ],
    );
    if let Some(k) = url_key {
        out.link = Some(pointer_pick(&k, share(&items, is_text, &k)));
        out.links = items
            .iter()
            .filter_map(|i| i.get(&k)?.as_str().map(str::to_owned))
            .collect();
    } else if let Some(template) = link_template(scripts, &keys) {
        let filled: Vec<String> = items.iter().filter_map(|i| fill(&template, i)).collect();
        out.link = Some(Pick {
            rule: Rule::pointer(&template),
            confidence: filled.len() as f64 / items.len().max(1) as f64,
            note: Some("built from the page script's own link template".into()),
        });
        out.links = filled;
    }

    // The date: a field the date parser (or a Unix time) reads; a publication time before an edit time.
    let is_date = |v: &Value| match v {
        Value::Number(n) => n.as_f64().is_some_and(|x| (1e9..1e14).contains(&x)),
        Value::String(s) => parse_date(s, dates).is_ok() || s.starts_with("/Date("),
        _ => false,
    };
    let date_keys: Vec<&String> = keys
        .iter()
        .filter(|k| share(&items, is_date, k) > 0.5)
        .collect();
    let published = |k: &str| {
        let k = k.to_ascii_lowercase();
        if k.contains("publish")
            || k.contains("ngaydang")
            || k.contains("created")
            || k.contains("posted")
        {
            0
        } else if k.contains("update")
            || k.contains("modif")
            || k.contains("edit")
            || k.contains("capnhat")
        {
            2
        } else {
            1
        }
    };
    if let Some(k) = date_keys.iter().min_by_key(|k| published(k)) {
        let mut p = pointer_pick(k, share(&items, is_date, k));
        if published(k) == 2 {
            p.note = Some("only an edit time was found".into());
        }
        if date_keys.len() > 1 && published(k) == 1 {
            p.note = Some(format!(
                "several date fields ({}); took the first",
                date_keys
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            p.confidence = p.confidence.min(0.6);
        }
        out.date = Some(p);
    }

    let is_count = |v: &Value| v.as_u64().is_some();
    if let Some(k) = key_named(
        &keys,
        &[
            "views",
            "viewcount",
            "view",
            "luotxem",
            "hits",
            "readcount",
            "viewed",
            "counter",
        ],
    ) {
        out.views = Some(pointer_pick(&k, share(&items, is_count, &k)));
    }
    if let Some(k) = key_named(
        &keys,
        &[
            "sapo",
            "summary",
            "description",
            "excerpt",
            "tomtat",
            "mota",
            "lead",
            "intro",
            "abstract",
        ],
    ) {
        let mut p = pointer_pick(&k, share(&items, is_text, &k));
        p.confidence = p.confidence.max(0.8);
        out.summary = Some(p);
    }
    static IMAGE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\.(jpe?g|png|gif|webp)(\?|$)").expect("valid"));
    let is_image = |v: &Value| v.as_str().is_some_and(|s| IMAGE.is_match(s));
    if let Some(k) = key_named(
        &keys,
        &[
            "thumbnail",
            "thumb",
            "image",
            "imageurl",
            "avatar",
            "anh",
            "hinhanh",
            "picture",
            "cover",
        ],
    )
    .or_else(|| {
        keys.iter()
            .find(|k| share(&items, is_image, k) > 0.3)
            .cloned()
    }) {
        let mut p = pointer_pick(&k, share(&items, is_image, &k));
        p.confidence = p.confidence.max(0.8);
        out.image = Some(p);
    }

    for (name, _) in endpoint.query_pairs() {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "page" | "p" | "pageindex" | "pagenumber" | "trang"
        ) {
            out.paging = Some(("page_param".into(), name.into_owned()));
        } else if matches!(lower.as_str(), "offset" | "start" | "skip" | "from") {
            out.paging = Some(("offset_param".into(), name.into_owned()));
        }
    }
    Some(out)
}

/// `"/tin-tuc/" + item.slug + "-" + item.id + ".html"` in a script, as `/tin-tuc/{slug}-{id}.html`:
/// the first concatenation that starts with a path literal and uses only the items' keys.
fn link_template(scripts: &str, keys: &[String]) -> Option<String> {
    static PART: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"^\s*(?:"([^"]*)"|'([^']*)'|[A-Za-z_$][\w$]*\.([A-Za-z_$][\w$]*))\s*"#)
            .expect("valid")
    });
    static START: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"["'](/[^"']*|https?://[^"']*)["']\s*\+"#).expect("valid"));
    for start in START.find_iter(scripts) {
        let mut rest = &scripts[start.start()..];
        let mut template = String::new();
        let mut used_key = false;
        while let Some(caps) = PART.captures(rest) {
            if let Some(lit) = caps.get(1).or_else(|| caps.get(2)) {
                // The markup around the address ends it.
                if lit.as_str().contains(['"', '\'', '<', '>', ' ']) {
                    break;
                }
                template.push_str(lit.as_str());
            } else if let Some(field) = caps.get(3) {
                if !keys.iter().any(|k| k == field.as_str()) {
                    break;
                }
                template.push_str(&format!("{{{}}}", field.as_str()));
                used_key = true;
            }
            rest = &rest[caps.get(0).map_or(0, |m| m.end())..];
            match rest.strip_prefix('+') {
                Some(more) => rest = more,
                None => break,
            }
        }
        if used_key && !template.contains('<') {
            return Some(template);
        }
    }
    None
}

fn fill(template: &str, item: &serde_json::Map<String, Value>) -> Option<String> {
    static FIELD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{([^}]+)\}").expect("valid"));
    let mut missing = false;
    let out = FIELD.replace_all(template, |caps: &regex::Captures<'_>| {
        match item.get(&caps[1]) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                missing = true;
                String::new()
            }
        }
    });
    (!missing).then(|| out.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_link_template_is_read() {
        let script =
            r#"html += '<a href="' + "/ward/tin-tuc/" + it.slug + "-" + it.id + ".html" + '">';"#;
        let keys = vec!["slug".to_owned(), "id".to_owned()];
        assert_eq!(
            link_template(script, &keys).as_deref(),
            Some("/ward/tin-tuc/{slug}-{id}.html")
        );
        assert_eq!(link_template("var x = '/a/' + y.z;", &keys), None);
    }
}
