//! JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/), read leniently: an `id`
//! written as a number is still an id, a field of the wrong type is as good as absent.

use serde_json::Value;

use super::{Feed, FeedEntry, FeedRequest, IngestError};
use crate::extract::{FieldWarning, date_warning, html_text};
use crate::normalize::date::parse_date;
use crate::normalize::{clean_optional, clean_text, decode_entities_and_clean, resolve_link};

pub fn read(text: &str, request: &FeedRequest<'_>) -> Result<Feed, IngestError> {
    let url = request.url.to_string();
    let document: Value = serde_json::from_str(text).map_err(|error| IngestError::NotAFeed {
        url: url.clone(),
        message: format!("invalid JSON: {error}"),
    })?;
    let version = document
        .get("version")
        .and_then(Value::as_str)
        .filter(|v| v.contains("jsonfeed.org/version/"))
        .ok_or_else(|| IngestError::Unsupported {
            url: url.clone(),
            what: "JSON without a jsonfeed.org `version`: not a JSON Feed".to_owned(),
        })?;
    let format = format!(
        "JSON Feed {}",
        version
            .rsplit('/')
            .find(|part| !part.is_empty())
            .unwrap_or("1")
    );
    let base = document
        .get("feed_url")
        .and_then(Value::as_str)
        .and_then(|u| resolve_link(request.url, u))
        .unwrap_or_else(|| request.url.clone());
    let string = |value: &Value, key: &str| -> Option<String> {
        match value.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let mut entries = Vec::new();
    let items = document.get("items").and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        let link = string(item, "url")
            .or_else(|| string(item, "external_url"))
            .and_then(|u| resolve_link(&base, &u));
        let guid = string(item, "id").and_then(|id| clean_optional(&id));
        let mut warnings: Vec<FieldWarning> = Vec::new();
        let mut published = None;
        for key in ["date_published", "date_modified"] {
            let Some(text) = string(item, key) else {
                continue;
            };
            match parse_date(&text, &request.dates) {
                Ok(date) => {
                    published = Some(date);
                    break;
                }
                Err(error) => warnings.push(date_warning(&error)),
            }
        }
        if published.is_some() {
            warnings.clear();
        }
        let content_html = string(item, "content_html")
            .or_else(|| {
                string(item, "content_text").map(|t| html_escape::encode_text(&t).into_owned())
            })
            .filter(|c| !c.trim().is_empty());
        let summary = string(item, "summary")
            .map(|s| clean_text(&s))
            .or_else(|| string(item, "content_text").map(|t| clean_text(&t)))
            .or_else(|| string(item, "content_html").map(|h| html_text(&h)))
            .filter(|s| !s.is_empty());
        entries.push(FeedEntry {
            link,
            guid,
            title: string(item, "title")
                .map(|t| decode_entities_and_clean(&t))
                .filter(|t| !t.is_empty()),
            published,
            summary,
            content_html,
            image: string(item, "image")
                .or_else(|| string(item, "banner_image"))
                .and_then(|u| resolve_link(&base, &u)),
            warnings,
            // feed-rs read JSON Feeds with the same rule: url, then external_url.
            earlier_link: None,
        });
    }
    Ok(Feed {
        format,
        title: string(&document, "title")
            .map(|t| clean_text(&t))
            .filter(|t| !t.is_empty()),
        entries,
        warnings: Vec::new(),
    })
}
