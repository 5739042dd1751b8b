//! The dashboard's search page: every stored item matching a query (title, summary, body;
//! diacritic- and case-insensitive), newest first, a page at a time.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset};

use super::escape_xml_text as esc;

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub title: String,
    /// The query as typed.
    pub query: String,
    /// The dashboard's address.
    pub dashboard_url: String,
    pub results: Vec<SearchResult>,
    /// 1-based.
    pub page: usize,
    pub previous_url: Option<String>,
    pub next_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    pub title: String,
    pub url: String,
    pub source: String,
    pub published: DateTime<FixedOffset>,
    pub summary: Option<String>,
}

/// Only web addresses become links.
fn href(url: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with('/') {
        esc(url.trim())
    } else {
        "#".to_owned()
    }
}

pub fn render(page: &SearchPage) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Tìm “{q}” — {title}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem}}\
         li{{margin:.75rem 0}} .meta{{color:#555;font-size:.9em}} form{{margin:1rem 0}}\
         input[type=search]{{width:min(30rem,70vw);font-size:1em}}</style></head><body>\n\
         <p><a href=\"{dashboard}\">← {title}</a></p>\n<h1>Tìm tin</h1>\n\
         <form role=\"search\" method=\"get\"><label>Từ khóa (có dấu hay không dấu đều được): \
         <input type=\"search\" name=\"q\" value=\"{q}\"></label> <button>Tìm</button></form>\n",
        q = esc(&page.query),
        title = esc(&page.title),
        dashboard = href(&page.dashboard_url),
    );
    if page.query.trim().is_empty() {
        out.push_str(
            "<p>Nhập từ khóa để tìm trong tiêu đề, tóm tắt và nội dung mọi tin đã lưu.</p>\n",
        );
    } else if page.results.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"none\">Không có tin nào {}chứa mọi từ của “{}”.</p>",
            if page.page > 1 { "nữa " } else { "" },
            esc(&page.query)
        );
    } else {
        let _ = writeln!(
            out,
            "<ol class=\"results\" start=\"{}\">",
            (page.page - 1) * crate::render::SEARCH_PAGE + 1
        );
        for result in &page.results {
            let _ = write!(
                out,
                "<li><a href=\"{}\">{}</a><div class=\"meta\">{} · {}</div>",
                href(&result.url),
                esc(&result.title),
                esc(&result.source),
                result.published.format("%d/%m/%Y %H:%M"),
            );
            if let Some(summary) = &result.summary {
                let _ = write!(out, "<p>{}</p>", esc(summary));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ol>\n");
    }
    out.push_str("<nav class=\"pages\">");
    if let Some(url) = &page.previous_url {
        let _ = write!(
            out,
            "<a rel=\"prev\" href=\"{}\">← Trang trước</a> ",
            href(url)
        );
    }
    if let Some(url) = &page.next_url {
        let _ = write!(
            out,
            "<a rel=\"next\" href=\"{}\">Trang sau →</a>",
            href(url)
        );
    }
    out.push_str("</nav>\n</body></html>\n");
    out
}
