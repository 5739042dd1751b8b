//! The district dashboard: one self-contained HTML page (inline CSS and SVG, no script) that
//! shows the district office which ward posted what and when, who has gone quiet, and which
//! source is failing and why.
//!
//! Every string from configuration, portals or errors goes through `escape_xml_text`, and every
//! link through `safe_href`, so a hostile ward name or error message renders as text. The page
//! carries no JavaScript at all: it must be safe to open from an intranet without review, and the
//! chart is plain SVG so it prints and works in any browser.
//!
//! This file holds the page structure (header, summary, group tables) and its escaping helpers;
//! the weekly chart of each group is in `chart`.

mod chart;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset};

use super::{
    Dashboard, DashboardError, DashboardGroup, DashboardPage, DashboardSource, FeedLinks,
    escape_xml_text as esc,
};
use crate::model::{ErrorKind, SourceStatus};
use chart::chart;

// Writing into a `String` cannot fail, so every `write!` below discards its `fmt::Result`.

/// Renders the whole page. The output depends on nothing but `dashboard` (no clock, no maps
/// iterated in hash order), so the same input always gives the same bytes.
pub fn render(dashboard: &Dashboard) -> String {
    let mut out = String::with_capacity(48 * 1024);
    head(&mut out, dashboard);
    header(&mut out, dashboard);
    out.push_str("<main id=\"main\" class=\"wrap\">\n");
    store_banner(&mut out, dashboard);
    if let DashboardPage::Group { summary_url } = &dashboard.page {
        let _ = writeln!(
            out,
            "<p class=\"back\"><a href=\"{}\">← Tổng quan mọi nhóm</a></p>",
            safe_href(summary_url)
        );
    }
    overview(&mut out, dashboard);
    if dashboard.groups.is_empty() {
        out.push_str("<p class=\"empty-state\">Chưa có nguồn tin nào được cấu hình.</p>\n");
    }
    if dashboard.page == DashboardPage::Summary {
        groups_summary(&mut out, dashboard);
    } else {
        for (index, group) in dashboard.groups.iter().enumerate() {
            group_section(&mut out, dashboard, index + 1, group);
        }
    }
    out.push_str("</main>\n");
    footer(&mut out);
    out.push_str("</body>\n</html>\n");
    out
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de;
  --bg: #f3f5f7; --panel: #fff; --brand: #0b3563; --flag: #c8102e; --quiet: #fff4d1; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial,
    "Liberation Sans", "DejaVu Sans", sans-serif; }
a { color: #0a4f9e; }
a:focus-visible, summary:focus-visible, .table-scroll:focus-visible {
  outline: 3px solid #f0b400; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 6px 10px; z-index: 2; }
.wrap { max-width: 1320px; margin: 0 auto; padding: 0 20px; }
.page-header { background: var(--brand); color: #fff; border-bottom: 4px solid var(--flag); }
.page-header .wrap { padding-top: 18px; padding-bottom: 16px; }
.page-header h1 { margin: 0 0 2px; font-size: 1.6rem; line-height: 1.25; font-weight: 700; }
.page-header .eyebrow { margin: 0; font-size: 13px; letter-spacing: .04em;
  text-transform: uppercase; color: #b9cbe0; }
.page-header .generated { margin: 0 0 12px; color: #d5e0ee; }
.page-header a { color: #fff; }
.feed-nav { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: 6px 28px; font-size: 14px; }
.feed-nav .label { color: #d5e0ee; }
main.wrap { padding-top: 20px; padding-bottom: 28px; }
h2 { font-size: 1.25rem; margin: 0; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 16px 18px; margin-bottom: 20px; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px;
  margin: 0 0 16px; }
.stats div { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 14px; border-top: 4px solid #8c959f; }
.stats dt { font-size: 13px; color: var(--muted); }
.stats dd { margin: 0; font-size: 1.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.stats .stat-ok { border-top-color: #1f7a45; }
.stats .stat-failing { border-top-color: #b02a37; }
.stats .stat-quiet { border-top-color: #b7791f; }
.stats .stat-posts { border-top-color: var(--brand); }
.stats .stat-pending { border-top-color: #8c959f; border-top-style: dashed; }
.store-failing { margin: 0 0 16px; padding: 10px 14px; background: #fbe9eb; color: #8f1d2c;
  border-left: 6px solid #b02a37; border-radius: 3px; }
.pending-note { margin: 0 0 8px; padding: 8px 12px; background: #eef3f9; border-left: 4px solid
  var(--brand); border-radius: 3px; }
.attention h2 { margin-bottom: 8px; }
.attention ul { margin: 0; padding-left: 20px; }
.attention li { margin: 2px 0; }
.attention .all-good { margin: 0; color: #1f5f3a; }
.attention .attention-more { margin: 6px 0 0; color: var(--muted); }
.back { margin: 0 0 12px; }
table.group-summary { min-width: 640px; }
.group-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 20px;
  margin-bottom: 12px; }
.group-head p { margin: 0; font-size: 14px; color: var(--muted); }
.table-scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
table.sources { min-width: 1040px; }
caption { text-align: left; padding: 8px 10px; font-weight: 600; color: var(--muted);
  font-size: 13px; background: #f6f8fa; border-bottom: 1px solid var(--line); }
th, td { padding: 8px 9px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { background: #eaeef2; font-size: 13px; font-weight: 600; line-height: 1.3; }
tbody tr:last-child > * { border-bottom: 0; }
tbody th { font-weight: 600; background: var(--panel); position: sticky; left: 0; min-width: 140px; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
.when .detail { white-space: normal; }
td.status { min-width: 210px; max-width: 290px; }
.detail { display: block; color: var(--muted); font-size: 12.5px; line-height: 1.4;
  margin-top: 2px; overflow-wrap: anywhere; }
.error { display: block; color: #8f1d2c; font-weight: 600; margin-top: 4px; }
.error.past { color: var(--muted); font-weight: 400; }
.warnings { margin-top: 4px; font-size: 13px; }
.warnings summary { cursor: pointer; color: #6e3b00; font-weight: 600; }
.warnings ul { margin: 4px 0 0; padding-left: 16px; }
.warnings li { overflow-wrap: anywhere; }
.warnings .field { font-weight: 600; }
.badge { display: inline-block; padding: 0 9px; border-radius: 999px; font-size: 13px;
  font-weight: 600; border: 1px solid; white-space: nowrap; }
.badge-ok { color: #0f5132; background: #e3f4ea; border-color: #9fd3b3; }
.badge-empty { color: #3d4349; background: #eceff3; border-color: #bcc3cb; }
.badge-degraded { color: #6e3b00; background: #fff0d4; border-color: #e5b35c; }
.badge-failing { color: #fff; background: #b02a37; border-color: #b02a37; }
.badge-merged { color: #3d4349; background: #eef1ff; border-color: #8c9ad6; }
.badge-pending { color: #3d4349; background: #fff; border-color: #8c959f; border-style: dashed; }
tr.quiet > * { background: var(--quiet); }
tr.quiet > th { box-shadow: inset 4px 0 0 #b7791f; }
.quiet-tag { display: inline-block; margin-left: 4px; padding: 0 6px; border-radius: 3px;
  background: #8a5a00; color: #fff; font-size: 12px; font-weight: 600; }
td.feeds { min-width: 140px; white-space: nowrap; }
td.feeds li { white-space: normal; }
td.feeds details { margin-top: 4px; font-size: 13px; }
td.feeds summary { cursor: pointer; color: var(--muted); }
td.feeds ul { margin: 4px 0 0; padding-left: 16px; }
.chart { margin: 18px 0 0; }
.chart > figcaption { font-weight: 600; margin-bottom: 8px; }
.chart figcaption .note { font-weight: 400; color: var(--muted); font-size: 13px; }
.multiples { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
  gap: 10px; margin: 0; padding: 0; list-style: none; }
.multiple { border: 1px solid var(--line); border-radius: 4px; padding: 8px 10px 6px; }
.multiple h3 { margin: 0; font-size: 14px; line-height: 1.3; }
.multiple h3 a { color: inherit; text-decoration: none; }
.multiple h3 a:hover { text-decoration: underline; }
.multiple .total { margin: 0; font-size: 12.5px; color: var(--muted); }
.multiple svg { display: block; width: 100%; height: auto; margin-top: 4px; }
.multiple .no-data { margin: 10px 0 8px; padding: 14px 8px; text-align: center; font-size: 13px;
  color: var(--muted); background: #f6f8fa; border-radius: 3px; }
.multiple.status-failing, .multiple.status-degraded { border-color: #e5b35c; }
.chart text { font-size: 10px; fill: #57606a; }
.chart .bar-value { fill: #1b1f24; font-weight: 600; }
.chart .empty-chart { font-size: 14px; fill: #57606a; }
.chart details { margin-top: 10px; font-size: 13px; }
.chart details summary { cursor: pointer; color: #0a4f9e; }
.chart details .table-scroll { margin-top: 6px; }
.empty-state { background: var(--panel); border: 1px dashed var(--line); padding: 24px;
  text-align: center; color: var(--muted); border-radius: 6px; }
.page-footer { color: var(--muted); font-size: 13px; padding-bottom: 24px; }
@media (max-width: 720px) {
  body { font-size: 14px; }
  .wrap { padding: 0 12px; }
  .page-header h1 { font-size: 1.3rem; }
  .feed-nav { flex-direction: column; gap: 4px; }
  .stats { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .stats div { padding: 8px 10px; }
  .stats dd { font-size: 1.35rem; }
  .panel { padding: 12px; }
  .stats div:last-child:nth-child(odd) { grid-column: 1 / -1; }
  /* The table becomes one card per source, each cell naming its column: two columns of
     figures, the status and the feeds across. */
  .table-scroll { overflow: visible; border: 0; }
  table.sources { min-width: 0; }
  table.sources caption { display: block; border: 1px solid var(--line); border-radius: 4px;
    margin-bottom: 8px; }
  table.sources thead { position: absolute; left: -9999px; }
  table.sources, table.sources tbody { display: block; }
  table.sources tr { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr));
    border: 1px solid var(--line); border-radius: 6px; margin: 0 0 10px;
    background: var(--panel); overflow: hidden; }
  table.sources tbody th { grid-column: 1 / -1; position: static; min-width: 0; font-size: 15px;
    background: #eaeef2; padding: 8px 10px; border-bottom: 1px solid var(--line); }
  table.sources td { display: block; border: 0; padding: 5px 10px; text-align: left;
    white-space: normal; min-width: 0; max-width: none; }
  table.sources td::before { content: attr(data-label); display: block; color: var(--muted);
    font-size: 12px; line-height: 1.3; }
  table.sources td.status, table.sources td.feeds { grid-column: 1 / -1; }
  table.sources td.status { border-bottom: 1px solid var(--line); padding-bottom: 8px; }
  table.sources td.feeds { border-top: 1px solid var(--line); padding-top: 8px; }
  tr.quiet > * { background: var(--quiet); }
}
"#;

fn head(out: &mut String, dashboard: &Dashboard) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>{} — Bảng theo dõi</title>",
        esc(&dashboard.title)
    );
    // Autodiscovery: a reader given this page's address finds the feeds (the combined one first,
    // which most readers pick by default), then each group's and each source's.
    let all = format!("{} — tất cả nguồn tin", dashboard.title);
    alternate(out, "application/rss+xml", &all, &dashboard.combined.rss);
    alternate(out, "application/atom+xml", &all, &dashboard.combined.atom);
    alternate(out, "application/feed+json", &all, &dashboard.combined.json);
    for group in &dashboard.groups {
        alternate(out, "application/rss+xml", &group.name, &group.feeds.rss);
        // The summary lists groups, not sources: their feeds are on the groups' pages.
        if dashboard.page == DashboardPage::Summary {
            continue;
        }
        for source in &group.sources {
            alternate(out, "application/rss+xml", &source.name, &source.feeds.rss);
        }
    }
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str("</head>\n<body>\n");
    out.push_str("<a class=\"skip\" href=\"#main\">Bỏ qua, đến nội dung chính</a>\n");
}

fn alternate(out: &mut String, media_type: &str, title: &str, href: &str) {
    let _ = writeln!(
        out,
        "<link rel=\"alternate\" type=\"{media_type}\" title=\"{}\" href=\"{}\">",
        esc(title),
        safe_href(href)
    );
}

fn header(out: &mut String, dashboard: &Dashboard) {
    let generated = &dashboard.generated;
    let _ = write!(
        out,
        "<header class=\"page-header\"><div class=\"wrap\">\n\
         <p class=\"eyebrow\">Bảng theo dõi nguồn tin các phường</p>\n<h1>{}</h1>\n\
         <p class=\"generated\">Cập nhật lúc <time datetime=\"{}\">{}</time></p>\n\
         <nav aria-label=\"Theo dõi tin\"><ul class=\"feed-nav\">\n\
         <li><span class=\"label\">Tin tất cả các nguồn:</span> {}</li>\n\
         <li><a href=\"{}\">Theo dõi tin các phường (OPML cho người dân)</a></li>\n\
         <li><a href=\"{}\">Danh sách đầy đủ nguồn cấp (OPML)</a></li>\n\
         <li><a href=\"{}\">Sự cố nguồn tin (Atom)</a></li>\n\
         </ul></nav>\n         <form class=\"search\" role=\"search\" action=\"{}\" method=\"get\"><label>Tìm trong mọi tin đã lưu:          <input type=\"search\" name=\"q\"></label> <button>Tìm</button></form>\n</div></header>\n",
        esc(&dashboard.title),
        esc(&generated.to_rfc3339()),
        datetime(generated),
        format_links(&dashboard.combined, "Tin tất cả các nguồn"),
        safe_href(&dashboard.resident_opml_url),
        safe_href(&dashboard.opml_url),
        safe_href(&dashboard.incidents_url),
        // The search page sits beside the OPML, at the site's root.
        safe_href(&format!(
            "{}/search",
            dashboard.opml_url.strip_suffix("/opml").unwrap_or_default()
        )),
    );
}

/// The counts and the short list of sources needing attention, so the office sees at a glance
/// what the tables below say in detail.
/// The store failing is above everything: every other figure on the page may be stale.
fn store_banner(out: &mut String, dashboard: &Dashboard) {
    if let Some(failing) = &dashboard.store_failing {
        let _ = writeln!(
            out,
            "<div class=\"store-failing\" role=\"alert\"><strong>Kho dữ liệu đang lỗi từ {}:</strong> tin mới không được lưu cho đến khi sửa xong (wardfeed tự thử lại). <span class=\"detail\">{}</span></div>",
            datetime(&failing.since),
            esc(&truncate(&failing.error, 300))
        );
    }
}

fn overview(out: &mut String, dashboard: &Dashboard) {
    let sources = || dashboard.groups.iter().flat_map(|group| &group.sources);
    let total = sources().count();
    if total == 0 {
        return;
    }
    let pending = sources()
        .filter(|s| s.status == SourceStatus::Pending)
        .count();
    let ok = sources().filter(|s| s.status == SourceStatus::Ok).count();
    let failing = sources().filter(|s| s.is_failing()).count();
    let merged = sources().filter(|s| s.merged_into.is_some()).count();
    let quiet = sources().filter(|s| s.is_quiet()).count();
    let posts_7d: usize = sources().map(|s| s.items_7d).sum();

    out.push_str("<dl class=\"stats\">\n");
    let mut stats = vec![("stat-total", "Nguồn tin", total)];
    if pending > 0 {
        stats.push(("stat-pending", "Đang lấy tin lần đầu", pending));
    }
    stats.extend([
        ("stat-ok", "Hoạt động bình thường", ok),
        ("stat-failing", "Lỗi hoặc lỗi một phần", failing),
        ("stat-quiet", "Im lặng quá ngưỡng", quiet),
        ("stat-posts", "Bài đăng trong 7 ngày", posts_7d),
    ]);
    if merged > 0 {
        stats.push(("stat-merged", "Đã sáp nhập", merged));
    }
    for (class, label, value) in stats {
        let _ = writeln!(
            out,
            "<div class=\"{class}\"><dt>{label}</dt><dd>{value}</dd></div>"
        );
    }
    out.push_str("</dl>\n");

    out.push_str(
        "<section class=\"panel attention\" aria-labelledby=\"attention-title\">\n\
         <h2 id=\"attention-title\">Cần chú ý</h2>\n",
    );
    if pending > 0 {
        // Said first and plainly: right after a start every source is waiting, and numbers
        // that read as silence would be false alarms.
        let _ = writeln!(
            out,
            "<p class=\"pending-note\">Đang lấy tin lần đầu: còn {pending}/{total} nguồn chưa \
             lấy xong. Số liệu của các nguồn này sẽ có khi lấy xong; chúng không bị tính là im \
             lặng.</p>"
        );
    }
    let needing: Vec<&DashboardSource> = sources()
        .filter(|s| s.is_quiet() || s.is_failing() || !s.warnings.is_empty())
        .collect();
    if needing.is_empty() && pending == 0 {
        out.push_str(
            "<p class=\"all-good\">Tất cả nguồn tin đều hoạt động và đăng bài đều đặn.</p>\n",
        );
    } else if needing.is_empty() {
        out.push_str(
            "<p class=\"all-good\">Chưa thấy nguồn nào lỗi hay im lặng trong số đã lấy xong.</p>\n",
        );
    } else {
        out.push_str("<ul>\n");
        let summary = dashboard.page == DashboardPage::Summary;
        let more = if summary {
            needing.len().saturating_sub(ATTENTION_SHOWN)
        } else {
            0
        };
        let shown = needing.len() - more;
        for source in needing.into_iter().take(shown) {
            let mut reasons = Vec::new();
            if source.is_failing() {
                let mut reason = status_words(source.status).to_owned();
                if let Some(failure) = source.failures.first() {
                    let _ = write!(
                        reason,
                        ": {} (chuyên mục “{}”)",
                        error_words(failure.kind),
                        esc(&failure.category)
                    );
                    if source.failures.len() > 1 {
                        let _ = write!(reason, " và {} chuyên mục khác", source.failures.len() - 1);
                    }
                }
                if source.consecutive_failures > 0 {
                    let _ = write!(reason, ", {} lần liên tiếp", source.consecutive_failures);
                }
                reasons.push(reason);
            }
            if source.is_quiet() {
                reasons.push(quiet_phrase(source));
            }
            if !source.warnings.is_empty() {
                reasons.push(warnings_phrase(source.warnings.len()));
            }
            // On the summary a source's row is on its group's page.
            let page = if summary {
                dashboard
                    .groups
                    .iter()
                    .find(|g| g.sources.iter().any(|s| std::ptr::eq(s, source)))
                    .map_or("", |g| g.page_url.as_str())
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<li><a href=\"{}#{}\">{}</a> — {}</li>",
                safe_href(page),
                row_id(source),
                esc(&source.name),
                reasons.join("; ")
            );
        }
        out.push_str("</ul>\n");
        if more > 0 {
            let _ = writeln!(
                out,
                "<p class=\"attention-more\">Và {more} nguồn khác cần chú ý: xem trang của từng \
                 nhóm bên dưới.</p>"
            );
        }
    }
    out.push_str("</section>\n");
}

/// How the attention panel names a source's warnings.
fn warnings_phrase(count: usize) -> String {
    format!("{count} cảnh báo ở lần lấy tin gần nhất (có thể thiếu hoặc sai dữ liệu)")
}

/// The field a warning concerns, as an officer says it. The technical message beside it stays
/// as the log has it (English), like the failures' details.
fn warning_field_words(field: &str) -> &str {
    match field {
        "date" => "ngày đăng",
        "title" => "tiêu đề",
        "summary" => "tóm tắt",
        "body" => "nội dung",
        "article" | "articles" => "bài viết",
        "views" => "lượt xem",
        "encoding" => "bảng mã",
        "feed" => "nguồn tin RSS/Atom",
        "listing" => "trang danh sách",
        // What was cut to the bounds of a page read (a listing's or an item's article).
        "page" => "phần bị cắt bớt",
        "next_page" => "trang tiếp theo",
        OVERFLOW_FIELD => "cảnh báo khác",
        "link" => "đường dẫn",
        other => other,
    }
}

fn quiet_phrase(source: &DashboardSource) -> String {
    match source.days_since_last_post {
        Some(days) => format!(
            "im lặng {days} ngày (ngưỡng {} ngày)",
            source.quiet_after_days
        ),
        None => format!(
            "im lặng, chưa có bài nào (ngưỡng {} ngày)",
            source.quiet_after_days
        ),
    }
}

/// How many sources needing attention the summary page names; the rest are counted.
pub const ATTENTION_SHOWN: usize = 100;

/// The summary page's groups: one row each, with its counts and its page.
fn groups_summary(out: &mut String, dashboard: &Dashboard) {
    if dashboard.groups.is_empty() {
        return;
    }
    out.push_str(
        "<section class=\"panel groups\" aria-labelledby=\"groups-title\">\n\
         <h2 id=\"groups-title\">Các nhóm nguồn tin</h2>\n\
         <div class=\"table-scroll\" tabindex=\"0\" role=\"region\" aria-labelledby=\"groups-title\">\n\
         <table class=\"group-summary\">\n<thead><tr><th scope=\"col\">Nhóm</th>\
         <th scope=\"col\" class=\"num\">Nguồn tin</th><th scope=\"col\" class=\"num\">Bình thường</th>\
         <th scope=\"col\" class=\"num\">Lỗi</th><th scope=\"col\" class=\"num\">Im lặng</th>\
         <th scope=\"col\" class=\"num\">Bài 7 ngày</th><th scope=\"col\">Nguồn cấp</th></tr></thead>\n<tbody>\n",
    );
    for group in &dashboard.groups {
        let sources = &group.sources;
        let ok = sources
            .iter()
            .filter(|s| s.status == SourceStatus::Ok)
            .count();
        let failing = sources.iter().filter(|s| s.is_failing()).count();
        let quiet = sources.iter().filter(|s| s.is_quiet()).count();
        let posts: usize = sources.iter().map(|s| s.items_7d).sum();
        let _ = writeln!(
            out,
            "<tr id=\"group-{}\"><th scope=\"row\"><a href=\"{}\">{}</a></th>\
             <td class=\"num\">{}</td><td class=\"num\">{ok}</td><td class=\"num\">{failing}</td>\
             <td class=\"num\">{quiet}</td><td class=\"num\">{posts}</td><td class=\"feeds\">{}</td></tr>",
            esc(&group.id),
            safe_href(&group.page_url),
            esc(&group.name),
            sources.len(),
            format_links(&group.feeds, &group.name),
        );
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn group_section(out: &mut String, dashboard: &Dashboard, index: usize, group: &DashboardGroup) {
    let name = esc(&group.name);
    let _ = write!(
        out,
        "<section class=\"panel group\" id=\"group-{}\" aria-labelledby=\"g{index}-title\">\n\
         <div class=\"group-head\"><h2 id=\"g{index}-title\">{name}</h2>\n\
         <p>Nguồn cấp của nhóm: {}</p></div>\n",
        esc(&group.id),
        format_links(&group.feeds, &group.name),
    );
    if group.sources.is_empty() {
        out.push_str("<p class=\"empty-state\">Nhóm này chưa có nguồn tin.</p>\n");
    } else {
        sources_table(out, index, group);
    }
    chart(out, dashboard, index, group);
    out.push_str("</section>\n");
}

/// The table's columns: (heading, class of the cells). On a phone each row becomes a card
/// and each cell says its heading (`data-label`), so nothing essential needs a sideways scroll.
const COLUMNS: [(&str, &str); 9] = [
    ("Nguồn tin", ""),
    ("Trạng thái", "status"),
    ("Bài mới nhất", "when"),
    ("7 ngày", "num"),
    ("30 ngày", "num"),
    ("Tổng số", "num"),
    ("Số ngày chưa đăng", "num"),
    ("Lần lấy tin gần nhất", "when"),
    ("Nguồn cấp", "feeds"),
];

fn sources_table(out: &mut String, index: usize, group: &DashboardGroup) {
    // The region is focusable so keyboard users can scroll the table sideways on a tablet.
    let _ = write!(
        out,
        "<div class=\"table-scroll\" role=\"region\" aria-labelledby=\"g{index}-caption\" \
         tabindex=\"0\">\n<table class=\"sources\">\n\
         <caption id=\"g{index}-caption\">Tình trạng nguồn tin — {}</caption>\n<thead><tr>",
        esc(&group.name),
    );
    for (heading, class) in COLUMNS {
        let _ = write!(out, "<th scope=\"col\" class=\"{class}\">{heading}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for source in &group.sources {
        source_row(out, source);
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

/// The row of a source: `source-ID`, the anchor the incident feed links to.
fn row_id(source: &DashboardSource) -> String {
    format!("source-{}", esc(&source.id))
}

/// Opens the cell of column `column` with its phone label.
fn cell(out: &mut String, column: usize) {
    let (heading, class) = COLUMNS[column];
    let _ = write!(out, "<td class=\"{class}\" data-label=\"{heading}\">");
}

fn source_row(out: &mut String, source: &DashboardSource) {
    let status = source.status.as_str();
    let quiet = if source.is_quiet() { " quiet" } else { "" };
    let _ = write!(
        out,
        "<tr id=\"{}\" class=\"status-{status}{quiet}\">\n\
         <th scope=\"row\"><a href=\"{}\">{}</a></th>\n",
        row_id(source),
        safe_href(&source.home_url),
        esc(&source.name),
    );

    cell(out, 1);
    status_cell(out, source);
    out.push_str("</td>\n");

    let pending = source.status == SourceStatus::Pending;
    cell(out, 2);
    out.push_str(&optional_datetime(source.last_published.as_ref()));
    out.push_str("</td>\n");
    for (column, value) in [
        (3, source.items_7d),
        (4, source.items_30d),
        (5, source.total_items),
    ] {
        cell(out, column);
        let _ = writeln!(out, "{value}</td>");
    }

    let days = source
        .days_since_last_post
        .map_or_else(|| "—".to_owned(), |days| days.to_string());
    cell(out, 6);
    if source.is_quiet() {
        // Marked in words as well as colour: the highlight alone says nothing to a screen
        // reader or on a greyscale printout.
        let _ = write!(
            out,
            "{days} <span class=\"quiet-tag\">im lặng</span>\
             <span class=\"detail\">ngưỡng {} ngày</span>",
            source.quiet_after_days
        );
    } else if pending {
        out.push_str("— <span class=\"detail\">chưa lấy tin</span>");
    } else {
        out.push_str(&days);
    }
    out.push_str("</td>\n");

    cell(out, 7);
    if pending {
        out.push_str("Đang lấy tin lần đầu");
    } else {
        out.push_str(&optional_datetime(source.last_attempt.as_ref()));
    }
    match source.status {
        // A partly failing source did fetch something at its last attempt: say how much, and
        // when it last worked in full.
        SourceStatus::Degraded => {
            let total = source.categories.len().max(source.failures.len());
            let _ = write!(
                out,
                "<span class=\"detail\">Lấy được {}/{total} chuyên mục</span>\
                 <span class=\"detail\">Thành công trọn vẹn: {}</span>",
                total - source.failures.len(),
                optional_datetime_or(source.last_success.as_ref(), "chưa lần nào"),
            );
        }
        SourceStatus::Failing => {
            let _ = write!(
                out,
                "<span class=\"detail\">Thành công gần nhất: {}</span>",
                optional_datetime_or(source.last_success.as_ref(), "chưa lần nào"),
            );
        }
        _ => {}
    }
    out.push_str("</td>\n");

    cell(out, 8);
    out.push_str(&format_links(&source.feeds, &source.name));
    if !source.categories.is_empty() {
        let _ = write!(
            out,
            "<details><summary>{} chuyên mục</summary><ul>",
            source.categories.len()
        );
        for (label, feeds) in &source.categories {
            let _ = write!(
                out,
                "<li>{}: {}</li>",
                esc(label),
                format_links(feeds, &format!("{} — {}", source.name, label))
            );
        }
        out.push_str("</ul></details>");
    }
    out.push_str("</td>\n</tr>\n");
}

fn status_cell(out: &mut String, source: &DashboardSource) {
    if let Some((id, name)) = &source.merged_into {
        // Its feeds redirect to the new ward's, which carries its history.
        let _ = write!(
            out,
            "<span class=\"badge badge-merged\"><span aria-hidden=\"true\">→</span> Đã sáp nhập</span>\
             <span class=\"detail\">vào <a href=\"#source-{}\">{}</a>; tin cũ có trong nguồn tin của phường mới</span>",
            esc(id),
            esc(name)
        );
        return;
    }
    let status = source.status.as_str();
    let _ = write!(
        out,
        "<span class=\"badge badge-{status}\"><span aria-hidden=\"true\">{}</span> {}</span>",
        status_icon(source.status),
        status_label(source.status)
    );
    // The failures of the last refresh, one line per kind naming its categories; the technical
    // message (as the log has it) in small print, every one in full as a tooltip.
    let mut kinds: Vec<ErrorKind> = Vec::new();
    for failure in &source.failures {
        if !kinds.contains(&failure.kind) {
            kinds.push(failure.kind);
        }
    }
    for kind in kinds {
        let failures: Vec<&DashboardError> =
            source.failures.iter().filter(|f| f.kind == kind).collect();
        let categories: Vec<String> = failures
            .iter()
            .map(|f| format!("“{}”", f.category))
            .collect();
        let tooltip: Vec<String> = failures
            .iter()
            .map(|f| format!("{} — “{}”: {}", datetime(&f.at), f.category, f.message))
            .collect();
        let _ = write!(
            out,
            "<span class=\"error\" title=\"{}\">{}</span>\
             <span class=\"detail\">{} {}. Chi tiết: {}</span>",
            esc(&tooltip.join("\n")),
            esc(error_words(kind)),
            if categories.len() == 1 {
                "Chuyên mục"
            } else {
                "Các chuyên mục"
            },
            esc(&categories.join(", ")),
            esc(&truncate(&failures[0].message, 90)),
        );
    }
    // An error from before the source recovered is history, not an alarm.
    if source.failures.is_empty()
        && let Some(error) = &source.last_error
    {
        let _ = write!(
            out,
            "<span class=\"error past\" title=\"{}\">Lỗi trước đây ({}): {}</span>",
            esc(&format!(
                "chuyên mục “{}”: {}",
                error.category, error.message
            )),
            datetime(&error.at),
            esc(error_words(error.kind)),
        );
    }
    if source.consecutive_failures > 1 {
        let _ = write!(
            out,
            "<span class=\"detail\">{} lần lỗi liên tiếp</span>",
            source.consecutive_failures
        );
    }
    if !source.empty_listings.is_empty() {
        let _ = write!(
            out,
            "<span class=\"detail\">Chuyên mục không có tin: {}</span>",
            esc(&source.empty_listings.join(", "))
        );
    }
    warnings_list(out, source);
}

/// The last refresh's warnings, folded under a count so a long list never hides the table; each
/// names the field, the item or page it is about (its address, linked) and the technical message.
fn warnings_list(out: &mut String, source: &DashboardSource) {
    if source.warnings.is_empty() {
        return;
    }
    // Past its limit the store keeps the first warnings and one more saying how many it left
    // out: the count says "more than", not a figure that is too small.
    let kept = source
        .warnings
        .iter()
        .filter(|w| w.field != OVERFLOW_FIELD)
        .count();
    let more = if kept < source.warnings.len() {
        "Hơn "
    } else {
        ""
    };
    let _ = write!(
        out,
        "<details class=\"warnings\"><summary>{more}{kept} cảnh báo</summary><ul>"
    );
    for warning in &source.warnings {
        let page = if warning.url.is_empty() {
            String::new()
        } else {
            format!(
                " ({} <a href=\"{}\">{}</a>)",
                if is_item_field(&warning.field) {
                    "bài"
                } else {
                    "trang"
                },
                safe_href(&warning.url),
                esc(&truncate(&warning.url, 120)),
            )
        };
        let _ = write!(
            out,
            "<li><span class=\"field\">{}</span>{page}: <span lang=\"en\" title=\"{}\">{}</span></li>",
            esc(warning_field_words(&warning.field)),
            esc(&warning.message),
            esc(&truncate(&warning.message, 200)),
        );
    }
    out.push_str("</ul></details>");
}

/// The field of the store's "N more warnings not kept" entry.
const OVERFLOW_FIELD: &str = "warnings";

/// Whether a warning of this field is about one item (its URL is the item's), not about a
/// listing, a feed or the portal. (A cut, `page`, may be either: its URL is a page anyway.)
fn is_item_field(field: &str) -> bool {
    matches!(
        field,
        "date" | "title" | "summary" | "body" | "article" | "views"
    )
}

/// A status as a badge says it.
fn status_label(status: SourceStatus) -> &'static str {
    match status {
        SourceStatus::Ok => "Bình thường",
        SourceStatus::Empty => "Danh mục trống",
        SourceStatus::Degraded => "Lỗi một phần",
        SourceStatus::Failing => "Lỗi",
        SourceStatus::Pending => "Đang lấy tin",
    }
}

/// A status in running text (the attention list, the incident feed).
pub fn status_words(status: SourceStatus) -> &'static str {
    match status {
        SourceStatus::Ok => "bình thường",
        SourceStatus::Empty => "danh mục trống",
        SourceStatus::Degraded => "lỗi một phần",
        SourceStatus::Failing => "lỗi",
        SourceStatus::Pending => "chờ lấy tin lần đầu",
    }
}

/// Why a listing failed, in Vietnamese for the office (logs and `/status.json` keep the English
/// kind).
pub fn error_words(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::LayoutChanged => "giao diện trang đã đổi: không tìm thấy danh sách tin",
        ErrorKind::Http => "máy chủ của cổng trả lỗi HTTP",
        ErrorKind::Timeout => "quá thời gian chờ",
        ErrorKind::TooLarge => "trang quá lớn",
        ErrorKind::Redirects => "chuyển hướng vòng quanh",
        ErrorKind::Network => "lỗi mạng: không kết nối được",
        ErrorKind::Robots => "robots.txt không cho phép lấy tin",
        ErrorKind::FeedParse => "không đọc được nguồn RSS/Atom của cổng",
        ErrorKind::Truncated => "trang bị cắt cụt giữa chừng",
        ErrorKind::Encoding => "sai bảng mã ký tự",
        ErrorKind::OffSite => "bị chuyển hướng ra ngoài trang của nguồn",
        ErrorKind::JsonParse => "không đọc được dữ liệu JSON của danh sách tin",
        ErrorKind::UnsupportedFeed => "địa chỉ nguồn tin không phải RSS/Atom/JSON Feed",
    }
}

/// A shape beside the colour, so the status reads in greyscale and for colour-blind readers.
fn status_icon(status: SourceStatus) -> &'static str {
    match status {
        SourceStatus::Ok => "✓",
        SourceStatus::Empty => "○",
        SourceStatus::Degraded => "!",
        SourceStatus::Failing => "✕",
        SourceStatus::Pending => "…",
    }
}

/// "RSS · Atom · JSON" links; `about` names the feed for screen readers, which would otherwise
/// hear a page of identical "RSS" links.
fn format_links(links: &FeedLinks, about: &str) -> String {
    [
        ("RSS", &links.rss),
        ("Atom", &links.atom),
        ("JSON", &links.json),
    ]
    .iter()
    .map(|(format, url)| {
        format!(
            "<a href=\"{}\" aria-label=\"{}\">{format}</a>",
            safe_href(url),
            esc(&format!("{about}: {format}"))
        )
    })
    .collect::<Vec<_>>()
    .join(" · ")
}

/// The escaped href for a URL. Escaping keeps a URL inside its attribute, but a
/// `javascript:` or `data:` URL would still run when clicked, so only http(s) and relative URLs
/// are linked.
fn safe_href(url: &str) -> String {
    let url = url.trim();
    let scheme_end = url.find([':', '/', '?', '#']);
    let allowed = match scheme_end {
        Some(at) if url[at..].starts_with(':') => {
            let scheme = url[..at].to_ascii_lowercase();
            scheme == "http" || scheme == "https"
        }
        _ => true,
    };
    if allowed { esc(url) } else { "#".to_owned() }
}

fn datetime(at: &DateTime<FixedOffset>) -> String {
    at.format("%d/%m/%Y %H:%M").to_string()
}

fn optional_datetime(at: Option<&DateTime<FixedOffset>>) -> String {
    optional_datetime_or(at, "—")
}

fn optional_datetime_or(at: Option<&DateTime<FixedOffset>>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), datetime)
}

/// At most `max` characters, cut on a character boundary, with an ellipsis when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
        None => text.to_owned(),
    }
}

fn footer(out: &mut String) {
    out.push_str(
        "<footer class=\"page-footer wrap\"><p>Thời gian theo giờ Việt Nam (UTC+07:00). \
         Một nguồn tin được đánh dấu <strong>im lặng</strong> khi lấy tin bình thường mà không \
         đăng bài quá số ngày ngưỡng của nguồn đó; nguồn đang lấy tin lần đầu hay đang lỗi thì \
         không tính là im lặng. Trang do wardfeed tạo, không dùng JavaScript.</p></footer>\n",
    );
}
