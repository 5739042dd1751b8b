//! The JSON Feed 1.1 rendering of a feed document, serialised by serde_json.
//!
//! The document is a set of structs rather than a `json!` value so that keys come out in the
//! order the specification lists them, the same every time, and absent fields are left out
//! rather than written as `null`.

use serde::Serialize;

use super::{Entry, EntrySource, Feed, entry_html, feed_text, rfc3339};

const VERSION: &str = "https://jsonfeed.org/version/1.1";

#[derive(Serialize)]
struct Document {
    version: &'static str,
    title: String,
    home_page_url: String,
    feed_url: String,
    /// The next older page of the feed's history (its RFC 5005 `prev-archive`).
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    authors: Vec<Author>,
    items: Vec<Item>,
}

#[derive(Serialize)]
struct Author {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Serialize)]
struct Item {
    id: String,
    url: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_published: Option<String>,
    date_modified: String,
    authors: Vec<Author>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    /// JSON Feed extensions are keys that start with `_`; ours carries the story's sources
    /// in a form a program can read, beside the sentence a person reads in the content.
    #[serde(rename = "_wardfeed", skip_serializing_if = "Option::is_none")]
    wardfeed: Option<Extension>,
}

#[derive(Serialize)]
struct Extension {
    sources: Vec<Source>,
}

#[derive(Serialize)]
struct Source {
    id: String,
    name: String,
    url: String,
    home_url: String,
}

/// The feed as a JSON Feed 1.1 document.
pub fn render(feed: &Feed) -> String {
    let document = Document {
        version: VERSION,
        title: feed_text(&feed.title),
        home_page_url: feed_text(&feed.home_url),
        feed_url: feed_text(&feed.links.json),
        next_url: feed
            .archive
            .prev
            .as_ref()
            .map(|links| feed_text(&links.json)),
        description: non_blank(&feed.description),
        language: non_blank(&feed.language),
        authors: vec![Author {
            name: feed_text(&feed.author),
            url: None,
        }],
        items: feed.entries.iter().map(|e| item(feed, e)).collect(),
    };
    // Plain structs of strings cannot fail to serialise; an empty body beats a panic if they did.
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

fn item(feed: &Feed, entry: &Entry) -> Item {
    let title = feed.entry_title(entry);
    let summary = entry.summary.as_deref().and_then(non_blank);
    let content_html = entry_html(entry).filter(|html| !html.trim().is_empty());
    // JSON Feed requires content_html or content_text on every item: with no body, the summary
    // (or at least the title) stands in as plain text.
    let content_text = match content_html {
        Some(_) => None,
        None => Some(summary.clone().unwrap_or_else(|| feed_text(&title))),
    };
    Item {
        id: feed_text(&entry.id),
        url: feed_text(&entry.url),
        title: feed_text(&title),
        content_html,
        content_text,
        summary,
        image: entry.image.as_deref().and_then(non_blank),
        date_published: entry.published.as_ref().map(rfc3339),
        date_modified: rfc3339(&entry.updated),
        authors: vec![Author {
            name: feed_text(&entry.author.name),
            url: non_blank(&entry.author.home_url),
        }],
        tags: entry.categories.iter().map(|c| feed_text(c)).collect(),
        wardfeed: (!entry.also_published_by.is_empty()).then(|| Extension {
            sources: entry.also_published_by.iter().map(source).collect(),
        }),
    }
}

fn source(source: &EntrySource) -> Source {
    Source {
        id: feed_text(&source.id),
        name: feed_text(&source.name),
        url: feed_text(&source.url),
        home_url: feed_text(&source.home_url),
    }
}

fn non_blank(text: &str) -> Option<String> {
    Some(feed_text(text)).filter(|t| !t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::samples;
    use super::*;

    fn parse(feed: &Feed) -> Value {
        serde_json::from_str(&render(feed)).expect("valid JSON")
    }

    #[test]
    fn feed_head() {
        let doc = parse(&samples::full_feed());
        assert_eq!(doc["version"], "https://jsonfeed.org/version/1.1");
        assert_eq!(doc["title"], "Phường Phúc Lợi");
        assert_eq!(doc["home_page_url"], "http://phucloi.example.vn/");
        assert_eq!(
            doc["feed_url"],
            "http://127.0.0.1:8080/sources/phucloi.json"
        );
        assert_eq!(
            doc["description"],
            "Tin tức từ cổng thông tin phường Phúc Lợi"
        );
        assert_eq!(doc["language"], "vi");
        assert_eq!(doc["authors"], json!([{"name": "Phường Phúc Lợi"}]));
        assert_eq!(doc["items"].as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn item_fields() {
        let doc = parse(&samples::feed(vec![samples::item()]));
        assert_eq!(
            doc["items"][0],
            json!({
                "id": "http://phucloi.example.vn/tin-tuc/bai-1.html",
                "url": "http://phucloi.example.vn/tin-tuc/bai-1.html",
                "title": "Phường Phúc Lợi tổ chức Hội nghị",
                "content_html": "<p>Sáng 4/1, <strong>UBND phường</strong> tổ chức.</p>",
                "summary": "Sáng 4/1, UBND phường tổ chức hội nghị.",
                "image": "http://phucloi.example.vn/upload/anh.png",
                "date_published": "2023-01-04T10:09:00+07:00",
                "date_modified": "2023-01-05T08:00:00+07:00",
                "authors": [{"name": "Phường Phúc Lợi", "url": "http://phucloi.example.vn/"}],
                "tags": ["Tin tức", "Sự kiện"],
            })
        );
    }

    #[test]
    fn hostile_text_is_cleaned_and_kept_as_text() {
        let json = render(&samples::feed(vec![samples::hostile_item()]));
        let doc: Value = serde_json::from_str(&json).expect("valid JSON");
        let item = &doc["items"][0];
        let clean = "Tin & \"sự kiện\" <script>alert('x')</script> ]]> ab cd 🎉 Phường";
        assert_eq!(item["title"], clean);
        assert_eq!(item["summary"], clean);
        assert_eq!(item["tags"], json!([clean]));
        assert_eq!(item["authors"][0]["name"], clean);
        let html = item["content_html"].as_str().unwrap_or_default();
        assert!(
            html.contains("&lt;script&gt;") && !html.contains("<script"),
            "{html}"
        );
        assert!(!json.contains("\\b") && !json.contains("\\u0085") && !json.contains('\u{85}'));
    }

    #[test]
    fn bare_item_leaves_out_what_it_lacks() {
        let doc = parse(&samples::feed(vec![samples::bare_item()]));
        let item = doc["items"][0].as_object().cloned().unwrap_or_default();
        for absent in [
            "summary",
            "image",
            "date_published",
            "tags",
            "_wardfeed",
            "content_text",
        ] {
            assert!(!item.contains_key(absent), "{absent}");
        }
        assert_eq!(item["date_modified"], "2023-01-06T07:30:00+07:00");
        assert!(
            item["content_html"]
                .as_str()
                .is_some_and(|h| h.starts_with("<h2>"))
        );
    }

    #[test]
    fn item_without_body_falls_back_to_text() {
        let mut with_summary = samples::item();
        with_summary.content_html = None;
        let mut with_nothing = samples::bare_item();
        with_nothing.content_html = None;
        with_nothing.id.push_str("#2");
        let doc = parse(&samples::feed(vec![with_summary, with_nothing]));
        assert_eq!(
            doc["items"][0]["content_text"],
            "Sáng 4/1, UBND phường tổ chức hội nghị."
        );
        assert_eq!(doc["items"][1]["content_text"], "Ra quân dọn vệ sinh");
        for item in [&doc["items"][0], &doc["items"][1]] {
            assert!(item.get("content_html").is_none());
        }
    }

    #[test]
    fn combined_item_lists_its_sources() {
        let doc = parse(&samples::feed(vec![samples::combined_item()]));
        let item = &doc["items"][0];
        assert_eq!(item["id"], "urn:uuid:0b5f7a8e-3c1d-4f2a-9e6b-1d2c3b4a5f60");
        assert_eq!(
            item["_wardfeed"],
            json!({"sources": [
                {
                    "id": "phucloi",
                    "name": "Phường Phúc Lợi",
                    "url": "http://phucloi.example.vn/tin-tuc/bai-1.html",
                    "home_url": "http://phucloi.example.vn/",
                },
                {
                    "id": "longbien",
                    "name": "Quận Long Biên & \"các\" <phường>",
                    "url": "http://longbien.example.vn/tin?id=7&lang=vi",
                    "home_url": "http://longbien.example.vn/",
                },
            ]})
        );
        assert!(
            item["content_html"]
                .as_str()
                .is_some_and(|h| h.starts_with(samples::STORY_CONTENT_START))
        );
    }

    #[test]
    fn rendering_is_deterministic_and_keeps_entry_order() {
        let feed = samples::full_feed();
        let json = render(&feed);
        assert_eq!(json, render(&feed));
        assert!(json.starts_with("{\n  \"version\": \"https://jsonfeed.org/version/1.1\""));
        let doc: Value = serde_json::from_str(&json).expect("valid JSON");
        let ids: Vec<&str> = doc["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item["id"].as_str())
            .collect();
        let expected: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, expected);
    }
}
