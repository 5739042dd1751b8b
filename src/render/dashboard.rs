//! The district dashboard: one self-contained HTML page (inline CSS and SVG, no script) that
//! shows the district office which ward posted what and when, who has gone quiet, and which
//! source is failing and why.
//!
//! Every string from configuration, portals or errors goes through `escape_xml_text`, and every
//! link through `safe_href`, so a hostile ward name or error message renders as text. The page
//! carries no JavaScript at all: it must be safe to open from an intranet without review, and the
//! chart is plain SVG so it prints and works in any browser.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::{Dashboard, DashboardGroup, DashboardSource, FeedLinks, escape_xml_text as esc};
use crate::model::SourceStatus;

// Writing into a `String` cannot fail, so every `write!` below discards its `fmt::Result`.

/// Renders the whole page. The output depends on nothing but `dashboard` (no clock, no maps
/// iterated in hash order), so the same input always gives the same bytes.
pub fn render(dashboard: &Dashboard) -> String {
    let mut out = String::with_capacity(48 * 1024);
    head(&mut out, &dashboard.title);
    header(&mut out, dashboard);
    out.push_str("<main id=\"main\" class=\"wrap\">\n");
    overview(&mut out, dashboard);
    if dashboard.groups.is_empty() {
        out.push_str("<p class=\"empty-state\">Chưa có nguồn tin nào được cấu hình.</p>\n");
    }
    for (index, group) in dashboard.groups.iter().enumerate() {
        group_section(&mut out, dashboard, index + 1, group);
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
.stats { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px;
  margin: 0 0 16px; }
.stats div { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 14px; border-top: 4px solid #8c959f; }
.stats dt { font-size: 13px; color: var(--muted); }
.stats dd { margin: 0; font-size: 1.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.stats .stat-ok { border-top-color: #1f7a45; }
.stats .stat-failing { border-top-color: #b02a37; }
.stats .stat-quiet { border-top-color: #b7791f; }
.stats .stat-posts { border-top-color: var(--brand); }
.attention h2 { margin-bottom: 8px; }
.attention ul { margin: 0; padding-left: 20px; }
.attention li { margin: 2px 0; }
.attention .all-good { margin: 0; color: #1f5f3a; }
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
.badge { display: inline-block; padding: 0 9px; border-radius: 999px; font-size: 13px;
  font-weight: 600; border: 1px solid; white-space: nowrap; }
.badge-ok { color: #0f5132; background: #e3f4ea; border-color: #9fd3b3; }
.badge-empty { color: #3d4349; background: #eceff3; border-color: #bcc3cb; }
.badge-degraded { color: #6e3b00; background: #fff0d4; border-color: #e5b35c; }
.badge-failing { color: #fff; background: #b02a37; border-color: #b02a37; }
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
.chart figcaption { font-weight: 600; margin-bottom: 6px; }
.chart figcaption .note { font-weight: 400; color: var(--muted); font-size: 13px; }
.chart-scroll { overflow-x: auto; }
.chart-scroll svg { display: block; width: 100%; min-width: 640px; height: auto; }
.chart text { font-size: 12px; fill: #3d4349; }
.chart .axis-label { fill: #57606a; }
.chart .series-label { fill: #1b1f24; font-weight: 600; }
.chart .empty-chart { font-size: 14px; fill: #57606a; }
.legend { list-style: none; margin: 8px 0 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: 4px 20px; font-size: 13px; }
.legend svg { vertical-align: middle; margin-right: 6px; }
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
  .stats { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .stats div:last-child { grid-column: 1 / -1; }
  .panel { padding: 12px; }
}
"#;

fn head(out: &mut String, title: &str) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{} — Bảng theo dõi</title>", esc(title));
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str("</head>\n<body>\n");
    out.push_str("<a class=\"skip\" href=\"#main\">Bỏ qua, đến nội dung chính</a>\n");
}

fn header(out: &mut String, dashboard: &Dashboard) {
    let generated = &dashboard.generated;
    let _ = write!(
        out,
        "<header class=\"page-header\"><div class=\"wrap\">\n\
         <p class=\"eyebrow\">Bảng theo dõi nguồn tin các phường</p>\n<h1>{}</h1>\n\
         <p class=\"generated\">Cập nhật lúc <time datetime=\"{}\">{}</time></p>\n\
         <nav aria-label=\"Nguồn cấp chung\"><ul class=\"feed-nav\">\n\
         <li><span class=\"label\">Tin tất cả các phường:</span> {}</li>\n\
         <li><a href=\"{}\">Sự cố nguồn tin (Atom)</a></li>\n\
         <li><a href=\"{}\">Danh sách nguồn cấp (OPML)</a></li>\n\
         </ul></nav>\n</div></header>\n",
        esc(&dashboard.title),
        esc(&generated.to_rfc3339()),
        datetime(generated),
        format_links(&dashboard.combined, "Tin tất cả các phường"),
        safe_href(&dashboard.incidents_url),
        safe_href(&dashboard.opml_url),
    );
}

/// The counts and the short list of sources needing attention, so the office sees at a glance
/// what the tables below say in detail.
fn overview(out: &mut String, dashboard: &Dashboard) {
    let sources = || {
        dashboard.groups.iter().enumerate().flat_map(|(g, group)| {
            group
                .sources
                .iter()
                .enumerate()
                .map(move |(s, source)| (row_id(g + 1, s + 1), source))
        })
    };
    let total = sources().count();
    let ok = sources()
        .filter(|(_, s)| s.status == SourceStatus::Ok)
        .count();
    let failing = sources()
        .filter(|(_, s)| matches!(s.status, SourceStatus::Failing | SourceStatus::Degraded))
        .count();
    let quiet = sources().filter(|(_, s)| s.quiet).count();
    let posts_7d: usize = sources().map(|(_, s)| s.items_7d).sum();
    if total == 0 {
        return;
    }

    out.push_str("<dl class=\"stats\">\n");
    for (class, label, value) in [
        ("stat-total", "Nguồn tin", total),
        ("stat-ok", "Hoạt động bình thường", ok),
        ("stat-failing", "Lỗi hoặc lỗi một phần", failing),
        ("stat-quiet", "Im lặng quá ngưỡng", quiet),
        ("stat-posts", "Bài đăng trong 7 ngày", posts_7d),
    ] {
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
    let needing: Vec<_> = sources()
        .filter(|(_, s)| {
            s.quiet || matches!(s.status, SourceStatus::Failing | SourceStatus::Degraded)
        })
        .collect();
    if needing.is_empty() {
        out.push_str(
            "<p class=\"all-good\">Tất cả nguồn tin đều hoạt động và đăng bài đều đặn.</p>\n",
        );
    } else {
        out.push_str("<ul>\n");
        for (id, source) in needing {
            let mut reasons = Vec::new();
            if matches!(
                source.status,
                SourceStatus::Failing | SourceStatus::Degraded
            ) {
                let mut reason = status_label(source.status).to_owned();
                if let Some(error) = &source.last_error {
                    let _ = write!(reason, ": {}", esc(&error.kind));
                }
                if source.consecutive_failures > 0 {
                    let _ = write!(reason, " ({} lần liên tiếp)", source.consecutive_failures);
                }
                reasons.push(reason);
            }
            if source.quiet {
                reasons.push(quiet_phrase(source));
            }
            let _ = writeln!(
                out,
                "<li><a href=\"#{id}\">{}</a> — {}</li>",
                esc(&source.name),
                reasons.join("; ")
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
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

fn group_section(out: &mut String, dashboard: &Dashboard, index: usize, group: &DashboardGroup) {
    let name = esc(&group.name);
    let _ = write!(
        out,
        "<section class=\"panel group\" aria-labelledby=\"g{index}-title\">\n\
         <div class=\"group-head\"><h2 id=\"g{index}-title\">{name}</h2>\n\
         <p>Nguồn cấp của nhóm: {}</p></div>\n",
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

fn sources_table(out: &mut String, index: usize, group: &DashboardGroup) {
    // The region is focusable so keyboard users can scroll the table sideways on a phone.
    let _ = write!(
        out,
        "<div class=\"table-scroll\" role=\"region\" aria-labelledby=\"g{index}-caption\" \
         tabindex=\"0\">\n<table class=\"sources\">\n\
         <caption id=\"g{index}-caption\">Tình trạng nguồn tin — {}</caption>\n\
         <thead><tr><th scope=\"col\">Nguồn tin</th><th scope=\"col\">Trạng thái</th>\
         <th scope=\"col\">Bài mới nhất</th><th scope=\"col\" class=\"num\">7 ngày</th>\
         <th scope=\"col\" class=\"num\">30 ngày</th><th scope=\"col\" class=\"num\">Tổng số</th>\
         <th scope=\"col\" class=\"num\">Số ngày chưa đăng</th>\
         <th scope=\"col\">Lần lấy tin gần nhất</th><th scope=\"col\">Nguồn cấp</th></tr></thead>\n\
         <tbody>\n",
        esc(&group.name),
    );
    for (s, source) in group.sources.iter().enumerate() {
        source_row(out, &row_id(index, s + 1), source);
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

fn row_id(group: usize, source: usize) -> String {
    format!("s{group}-{source}")
}

fn source_row(out: &mut String, id: &str, source: &DashboardSource) {
    let status = source.status.as_str();
    let quiet = if source.quiet { " quiet" } else { "" };
    let _ = write!(
        out,
        "<tr id=\"{id}\" class=\"status-{status}{quiet}\">\n\
         <th scope=\"row\"><a href=\"{}\">{}</a></th>\n",
        safe_href(&source.home_url),
        esc(&source.name),
    );

    out.push_str("<td class=\"status\">");
    status_cell(out, source);
    out.push_str("</td>\n");

    let _ = writeln!(
        out,
        "<td class=\"when\">{}</td>\n<td class=\"num\">{}</td>\n<td class=\"num\">{}</td>\n\
         <td class=\"num\">{}</td>",
        optional_datetime(source.last_published.as_ref()),
        source.items_7d,
        source.items_30d,
        source.total_items,
    );

    let days = source
        .days_since_last_post
        .map_or_else(|| "—".to_owned(), |days| days.to_string());
    if source.quiet {
        // Marked in words as well as colour: the highlight alone says nothing to a screen
        // reader or on a greyscale printout.
        let _ = writeln!(
            out,
            "<td class=\"num quiet\">{days} <span class=\"quiet-tag\">im lặng</span>\
             <span class=\"detail\">ngưỡng {} ngày</span></td>",
            source.quiet_after_days
        );
    } else {
        let _ = writeln!(out, "<td class=\"num\">{days}</td>");
    }

    out.push_str("<td class=\"when\">");
    out.push_str(&optional_datetime(source.last_attempt.as_ref()));
    if source.last_success != source.last_attempt {
        let _ = write!(
            out,
            "<span class=\"detail\">Thành công: {}</span>",
            optional_datetime(source.last_success.as_ref())
        );
    }
    out.push_str("</td>\n");

    let _ = write!(
        out,
        "<td class=\"feeds\">{}",
        format_links(&source.feeds, &source.name)
    );
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
    let status = source.status.as_str();
    let _ = write!(
        out,
        "<span class=\"badge badge-{status}\" title=\"{status}\"><span aria-hidden=\"true\">{}\
         </span> {}</span>",
        status_icon(source.status),
        status_label(source.status)
    );
    if let Some(error) = &source.last_error {
        // An error from before the source recovered is history, not an alarm.
        let current = source.consecutive_failures > 0
            || matches!(
                source.status,
                SourceStatus::Failing | SourceStatus::Degraded
            );
        let tooltip = format!(
            "{} lúc {} — chuyên mục {}: {}",
            error.kind,
            datetime(&error.at),
            error.category,
            error.message
        );
        let _ = write!(
            out,
            "<span class=\"error{}\" title=\"{}\">{}{}</span>\
             <span class=\"detail\">Chuyên mục {}: {}</span>",
            if current { "" } else { " past" },
            esc(&tooltip),
            if current {
                ""
            } else {
                "Lỗi trước đây: "
            },
            esc(&error.kind),
            esc(&error.category),
            esc(&truncate(&error.message, 140)),
        );
    }
    if source.consecutive_failures > 0 {
        let _ = write!(
            out,
            "<span class=\"detail\">{} lần lỗi liên tiếp</span>",
            source.consecutive_failures
        );
    }
    if !source.empty_listings.is_empty() {
        let _ = write!(
            out,
            "<span class=\"detail\">empty listing: {}</span>",
            esc(&source.empty_listings.join(", "))
        );
    }
}

fn status_label(status: SourceStatus) -> &'static str {
    match status {
        SourceStatus::Ok => "Bình thường",
        SourceStatus::Empty => "Danh mục trống",
        SourceStatus::Degraded => "Lỗi một phần",
        SourceStatus::Failing => "Lỗi",
        SourceStatus::Pending => "Chờ lấy tin",
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
    at.map_or_else(|| "—".to_owned(), datetime)
}

/// At most `max` characters, cut on a character boundary, with an ellipsis when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
        None => text.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// The weekly chart.

/// The SVG's coordinate space; it scales to the page width through `viewBox`.
const CHART_WIDTH: f64 = 960.0;
const CHART_HEIGHT: f64 = 300.0;
const PLOT_LEFT: f64 = 48.0;
/// The plot stops here to leave room for the names written at the end of each line.
const PLOT_RIGHT: f64 = 740.0;
const PLOT_TOP: f64 = 16.0;
const PLOT_BOTTOM: f64 = 262.0;
/// Least vertical distance between two end-of-line names.
const LABEL_SPACING: f64 = 16.0;

/// Okabe–Ito colours first (distinguishable with the common colour-vision deficiencies), then
/// darker tones that keep contrast on white.
const PALETTE: [&str; 10] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#6a3d9a", "#4d4d4d",
    "#8c564b", "#9a7b00",
];

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
}

const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Diamond,
];

/// How series `index` is drawn: colour, marker shape, and a dash once the palette has cycled,
/// so no two of the first 40 series look alike and none depends on colour alone.
fn series_style(index: usize) -> (&'static str, Marker, Option<&'static str>) {
    let colour = PALETTE[index % PALETTE.len()];
    let marker = MARKERS[index % MARKERS.len()];
    let dash = match (index / PALETTE.len()) % 3 {
        0 => None,
        1 => Some("6 4"),
        _ => Some("2 3"),
    };
    (colour, marker, dash)
}

/// One marker; `title` (already escaped) becomes its hover tooltip, which needs no script.
fn marker_svg(marker: Marker, x: f64, y: f64, colour: &str, title: Option<&str>) -> String {
    let (tag, geometry) = match marker {
        Marker::Circle => ("circle", format!("cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\"")),
        Marker::Square => (
            "rect",
            format!(
                "x=\"{:.1}\" y=\"{:.1}\" width=\"7.5\" height=\"7.5\"",
                x - 3.75,
                y - 3.75
            ),
        ),
        Marker::Triangle => (
            "path",
            format!(
                "d=\"M{x:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}Z\"",
                y - 5.0,
                x + 4.6,
                y + 3.5,
                x - 4.6,
                y + 3.5
            ),
        ),
        Marker::Diamond => (
            "path",
            format!(
                "d=\"M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z\"",
                y - 5.0,
                x + 5.0,
                y + 5.0,
                x - 5.0
            ),
        ),
    };
    let attributes = format!("{geometry} fill=\"{colour}\" stroke=\"#fff\" stroke-width=\"1\"");
    match title {
        Some(title) => format!("<{tag} {attributes}><title>{title}</title></{tag}>"),
        None => format!("<{tag} {attributes}/>"),
    }
}

/// The top of the y axis and the gridline step: steps of 1, 2 or 5 × 10ⁿ, two to four
/// intervals, never zero (an all-zero chart still gets an axis of 0–2).
fn y_axis(max: u64) -> (u64, u64) {
    let mut magnitude = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * magnitude;
            let intervals = max.div_ceil(step);
            if intervals <= 4 {
                return (step * intervals.max(2), step);
            }
        }
        magnitude *= 10;
    }
}

fn chart(out: &mut String, dashboard: &Dashboard, index: usize, group: &DashboardGroup) {
    let weeks = dashboard.weeks.as_slice();
    let sources = &group.sources;
    let period = match (weeks.first(), weeks.last()) {
        (Some(first), Some(last)) => format!(
            ", {} tuần từ {} đến {}",
            weeks.len(),
            first.format("%d/%m/%Y"),
            last.format("%d/%m/%Y")
        ),
        _ => String::new(),
    };
    let description = format!(
        "Số bài đăng mỗi tuần của {} nguồn tin nhóm {}{period}",
        sources.len(),
        group.name
    );
    // The newest week is usually still running; without saying so its dip reads as a slump.
    let today = dashboard.generated.date_naive();
    let running = weeks
        .last()
        .filter(|last| today >= **last && today < **last + chrono::Duration::days(7))
        .map_or_else(String::new, |last| {
            format!(
                " <span class=\"note\">Tuần {} chưa kết thúc: số liệu đến {}.</span>",
                last.format("%d/%m"),
                today.format("%d/%m/%Y")
            )
        });
    let _ = write!(
        out,
        "<figure class=\"chart\">\n<figcaption id=\"g{index}-chart\">Số bài đăng mỗi tuần \
         (tuần bắt đầu từ thứ Hai).{running}</figcaption>\n<div class=\"chart-scroll\">\n"
    );

    if weeks.is_empty() || sources.is_empty() {
        let message = if sources.is_empty() {
            "Chưa có nguồn tin để vẽ biểu đồ."
        } else {
            "Chưa có dữ liệu theo tuần."
        };
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {CHART_WIDTH} 60\" \
             role=\"img\" aria-label=\"{0}\"><title>{0}</title>\
             <text class=\"empty-chart\" x=\"{1}\" y=\"34\" text-anchor=\"middle\">{message}</text>\
             </svg>\n</div>\n</figure>\n",
            esc(&description),
            CHART_WIDTH / 2.0,
        );
        return;
    }

    let value = |source: &DashboardSource, week: usize| -> u64 {
        // `weekly_posts` should align with `weeks`; a short vector reads as no posts.
        u64::from(source.weekly_posts.get(week).copied().unwrap_or(0))
    };
    let max = sources
        .iter()
        .flat_map(|s| (0..weeks.len()).map(move |w| value(s, w)))
        .max()
        .unwrap_or(0);
    let (axis_max, step) = y_axis(max);
    let x_at = |week: usize| -> f64 {
        if weeks.len() == 1 {
            (PLOT_LEFT + PLOT_RIGHT) / 2.0
        } else {
            PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * week as f64 / (weeks.len() - 1) as f64
        }
    };
    let y_at =
        |v: u64| -> f64 { PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * v as f64 / axis_max as f64 };

    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\" \
         role=\"img\" aria-label=\"{0}\"><title>{0}</title>\
         <desc>Cao nhất {max} bài một tuần. Số liệu chi tiết ở bảng bên dưới biểu đồ.</desc>",
        esc(&description),
    );

    // Gridlines and y labels.
    let mut tick = 0;
    while tick <= axis_max {
        let y = y_at(tick);
        let colour = if tick == 0 { "#8c959f" } else { "#e1e5ea" };
        let _ = writeln!(
            out,
            "<line x1=\"{PLOT_LEFT}\" y1=\"{y:.1}\" x2=\"{PLOT_RIGHT}\" y2=\"{y:.1}\" \
             stroke=\"{colour}\" stroke-width=\"1\"/>\
             <text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            PLOT_LEFT - 8.0,
            y + 4.0
        );
        tick += step;
    }

    // Week labels, thinned so they never overlap; the most recent week is always labelled.
    let every = ((weeks.len() as f64 * 44.0) / (PLOT_RIGHT - PLOT_LEFT))
        .ceil()
        .max(1.0) as usize;
    for (w, week) in weeks.iter().enumerate() {
        if !(weeks.len() - 1 - w).is_multiple_of(every) {
            continue;
        }
        let _ = writeln!(
            out,
            "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x_at(w),
            PLOT_BOTTOM + 20.0,
            week.format("%d/%m")
        );
    }

    // Series, drawn in reverse so the first source ends up on top where lines overlap.
    for (s, source) in sources.iter().enumerate().rev() {
        let (colour, marker, dash) = series_style(s);
        let points: Vec<String> = (0..weeks.len())
            .map(|w| format!("{:.1},{:.1}", x_at(w), y_at(value(source, w))))
            .collect();
        let dash = dash.map_or_else(String::new, |d| format!(" stroke-dasharray=\"{d}\""));
        let _ = write!(
            out,
            "<g><polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" \
             stroke-linejoin=\"round\"{dash}/>",
            points.join(" ")
        );
        for (w, week) in weeks.iter().enumerate() {
            let v = value(source, w);
            let tip = format!(
                "{} — tuần {}: {v} bài",
                source.name,
                week.format("%d/%m/%Y")
            );
            out.push_str(&marker_svg(
                marker,
                x_at(w),
                y_at(v),
                colour,
                Some(&esc(&tip)),
            ));
        }
        out.push_str("</g>\n");
    }

    end_labels(out, sources, weeks.len(), &|s| {
        y_at(value(&sources[s], weeks.len() - 1))
    });
    out.push_str("</svg>\n</div>\n");

    legend(out, sources);
    data_table(out, weeks, index, sources);
    out.push_str("</figure>\n");
}

/// Names written at the right end of each line, so a reader need not match colours against
/// the legend. Names are pushed apart vertically where lines end close together. A single
/// week has no line end to name, and when names are too many to fit, the legend alone names
/// the lines.
fn end_labels(
    out: &mut String,
    sources: &[DashboardSource],
    week_count: usize,
    last_y: &dyn Fn(usize) -> f64,
) {
    // Baselines of the names; the lowest stays above the week labels.
    let top = PLOT_TOP + 4.0;
    let bottom = PLOT_BOTTOM + 8.0;
    if week_count < 2 || sources.len() as f64 * LABEL_SPACING > bottom - top {
        return;
    }
    let mut labels: Vec<(usize, f64, f64)> = (0..sources.len())
        .map(|s| (s, last_y(s), last_y(s) + 4.0))
        .collect();
    labels.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.0.cmp(&b.0)));
    for i in 1..labels.len() {
        labels[i].2 = labels[i].2.max(labels[i - 1].2 + LABEL_SPACING);
    }
    for i in (0..labels.len()).rev() {
        let limit = if i + 1 == labels.len() {
            bottom
        } else {
            labels[i + 1].2 - LABEL_SPACING
        };
        labels[i].2 = labels[i].2.min(limit);
    }
    for (s, point_y, label_y) in labels {
        let (colour, marker, _) = series_style(s);
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" y1=\"{point_y:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" \
             stroke-width=\"1\"/>{}<text class=\"series-label\" x=\"{:.1}\" y=\"{label_y:.1}\">{}\
             </text>",
            PLOT_RIGHT + 6.0,
            PLOT_RIGHT + 22.0,
            label_y - 4.0,
            marker_svg(marker, PLOT_RIGHT + 28.0, label_y - 4.0, colour, None),
            PLOT_RIGHT + 38.0,
            esc(&truncate(&sources[s].name, 26)),
        );
    }
}

fn legend(out: &mut String, sources: &[DashboardSource]) {
    out.push_str("<ul class=\"legend\">\n");
    for (s, source) in sources.iter().enumerate() {
        let (colour, marker, dash) = series_style(s);
        let dash = dash.map_or_else(String::new, |d| format!(" stroke-dasharray=\"{d}\""));
        let _ = writeln!(
            out,
            "<li><svg width=\"30\" height=\"12\" viewBox=\"0 0 30 12\" aria-hidden=\"true\">\
             <line x1=\"1\" y1=\"6\" x2=\"29\" y2=\"6\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\
             {}</svg>{}</li>",
            marker_svg(marker, 15.0, 6.0, colour, None),
            esc(&source.name)
        );
    }
    out.push_str("</ul>\n");
}

/// The chart's numbers as a table, folded away: the SVG is an image to assistive technology,
/// and exact counts are sometimes what the office needs.
fn data_table(out: &mut String, weeks: &[NaiveDate], index: usize, sources: &[DashboardSource]) {
    let _ = write!(
        out,
        "<details><summary>Xem số liệu của biểu đồ</summary>\n\
         <div class=\"table-scroll\" role=\"region\" aria-labelledby=\"g{index}-chart\" \
         tabindex=\"0\">\n<table class=\"chart-data\"><thead><tr><th scope=\"col\">Nguồn tin</th>"
    );
    for week in weeks {
        let _ = write!(
            out,
            "<th scope=\"col\" class=\"num\">{}</th>",
            week.format("%d/%m")
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for source in sources {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", esc(&source.name));
        for w in 0..weeks.len() {
            let _ = write!(
                out,
                "<td class=\"num\">{}</td>",
                source.weekly_posts.get(w).copied().unwrap_or(0)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</div>\n</details>\n");
}

fn footer(out: &mut String) {
    out.push_str(
        "<footer class=\"page-footer wrap\"><p>Thời gian theo giờ Việt Nam (UTC+07:00). \
         Một nguồn tin được đánh dấu <strong>im lặng</strong> khi không đăng bài quá số ngày \
         ngưỡng của nguồn đó. Trang do wardfeed tạo, không dùng JavaScript.</p></footer>\n",
    );
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use scraper::{Html, Selector};

    use super::*;
    use crate::render::DashboardError;

    const PUBLIC: &str = "http://127.0.0.1:8080";

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<FixedOffset> {
        FixedOffset::east_opt(7 * 3600)
            .unwrap()
            .with_ymd_and_hms(2025, 5, day, hour, minute, 0)
            .unwrap()
    }

    fn links(path: &str) -> FeedLinks {
        FeedLinks {
            rss: format!("{PUBLIC}/{path}.rss"),
            atom: format!("{PUBLIC}/{path}.atom"),
            json: format!("{PUBLIC}/{path}.json"),
        }
    }

    fn source(id: &str, name: &str, weekly: [u32; 12]) -> DashboardSource {
        DashboardSource {
            id: id.to_owned(),
            name: name.to_owned(),
            home_url: format!("https://{id}.longbien.hanoi.gov.vn/"),
            feeds: links(&format!("sources/{id}")),
            categories: [
                ("Tin tức - Sự kiện", "tin-tuc"),
                ("Công tác Đảng", "cong-tac-dang"),
            ]
            .iter()
            .map(|(label, slug)| {
                (
                    (*label).to_owned(),
                    links(&format!("sources/{id}/categories/{slug}")),
                )
            })
            .collect(),
            total_items: 180 + weekly.iter().sum::<u32>() as usize,
            last_published: Some(at(20, 16, 5)),
            items_7d: weekly[11] as usize,
            items_30d: weekly[8..].iter().sum::<u32>() as usize,
            days_since_last_post: Some(1),
            quiet: false,
            quiet_after_days: 14,
            status: SourceStatus::Ok,
            last_attempt: Some(at(21, 8, 20)),
            last_success: Some(at(21, 8, 20)),
            consecutive_failures: 0,
            last_error: None,
            empty_listings: Vec::new(),
            weekly_posts: weekly.to_vec(),
        }
    }

    /// Long Biên as the office sees it on 21/05/2025: Bồ Đề's portal answers with errors,
    /// Thạch Bàn has posted nothing for three weeks.
    fn sample() -> Dashboard {
        let mut bo_de = source("bode", "Phường Bồ Đề", [4, 5, 3, 6, 4, 5, 2, 3, 4, 3, 2, 0]);
        bo_de.status = SourceStatus::Failing;
        bo_de.consecutive_failures = 7;
        bo_de.last_success = Some(at(19, 14, 40));
        bo_de.last_published = Some(at(16, 10, 15));
        bo_de.days_since_last_post = Some(5);
        bo_de.items_7d = 1;
        bo_de.last_error = Some(DashboardError {
            at: at(21, 8, 20),
            kind: "HTTP error".to_owned(),
            category: "cong-tac-dang".to_owned(),
            message: "fetch https://bode.longbien.hanoi.gov.vn/cong-tac-dang: HTTP 503".to_owned(),
        });

        let mut thach_ban = source(
            "thachban",
            "Phường Thạch Bàn",
            [2, 1, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0],
        );
        thach_ban.quiet = true;
        thach_ban.days_since_last_post = Some(21);
        thach_ban.last_published = Some(at(1, 9, 30) - Duration::days(1));
        thach_ban.items_7d = 0;
        thach_ban.items_30d = 1;
        thach_ban.status = SourceStatus::Empty;
        thach_ban.empty_listings = vec!["Tin tức - Sự kiện".to_owned()];

        let mut phuc_dong = source(
            "phucdong",
            "Phường Phúc Đồng",
            [3, 2, 4, 3, 5, 4, 3, 2, 4, 3, 5, 2],
        );
        phuc_dong.status = SourceStatus::Degraded;
        phuc_dong.consecutive_failures = 2;
        phuc_dong.last_error = Some(DashboardError {
            at: at(21, 8, 0),
            kind: "layout changed: container not found".to_owned(),
            category: "thong-bao".to_owned(),
            message: "div.news-list matched nothing".to_owned(),
        });

        Dashboard {
            title: "Tin phường — Long Biên".to_owned(),
            generated: at(21, 8, 30),
            opml_url: format!("{PUBLIC}/feeds.opml"),
            incidents_url: format!("{PUBLIC}/incidents.atom"),
            combined: links("all"),
            weeks: (0..12)
                .map(|w| NaiveDate::from_ymd_opt(2025, 3, 3).unwrap() + Duration::weeks(w))
                .collect(),
            groups: vec![DashboardGroup {
                name: "longbien".to_owned(),
                feeds: links("groups/longbien"),
                sources: vec![
                    source(
                        "longbien",
                        "Quận Long Biên",
                        [9, 11, 8, 12, 10, 9, 13, 11, 10, 12, 9, 7],
                    ),
                    source(
                        "phucloi",
                        "Phường Phúc Lợi",
                        [5, 6, 4, 7, 6, 5, 8, 6, 7, 5, 6, 4],
                    ),
                    phuc_dong,
                    bo_de,
                    thach_ban,
                ],
            }],
        }
    }

    fn empty() -> Dashboard {
        Dashboard {
            groups: Vec::new(),
            weeks: Vec::new(),
            ..sample()
        }
    }

    fn select<'a>(page: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
        page.select(&Selector::parse(css).unwrap()).collect()
    }

    fn text(element: &scraper::ElementRef<'_>) -> String {
        element.text().collect()
    }

    #[test]
    fn shows_every_source_with_its_status_and_feeds() {
        let html = render(&sample());
        for name in [
            "Quận Long Biên",
            "Phường Phúc Lợi",
            "Phường Phúc Đồng",
            "Phường Bồ Đề",
            "Phường Thạch Bàn",
        ] {
            assert!(html.contains(name), "{name} missing");
        }
        assert!(html.contains("HTTP error"));
        assert!(html.contains("cong-tac-dang"));
        assert!(html.contains("layout changed: container not found"));
        assert!(html.contains("7 lần lỗi liên tiếp"));
        assert!(html.contains("empty listing: Tin tức - Sự kiện"));
        assert!(html.contains("21/05/2025 08:30"), "generated time");
        for url in [
            "http://127.0.0.1:8080/feeds.opml",
            "http://127.0.0.1:8080/incidents.atom",
            "http://127.0.0.1:8080/all.rss",
            "http://127.0.0.1:8080/all.atom",
            "http://127.0.0.1:8080/all.json",
            "http://127.0.0.1:8080/groups/longbien.atom",
            "http://127.0.0.1:8080/sources/bode.rss",
            "http://127.0.0.1:8080/sources/bode/categories/cong-tac-dang.json",
        ] {
            assert!(
                html.contains(&format!("href=\"{url}\"")),
                "{url} not linked"
            );
        }
        assert!(html.contains("Sự cố nguồn tin (Atom)"));
        assert!(!html.to_ascii_lowercase().contains("<script"));
    }

    #[test]
    fn page_structure_parses_as_expected() {
        let dashboard = sample();
        let page = Html::parse_document(&render(&dashboard));
        assert_eq!(select(&page, "html[lang=vi]").len(), 1);
        assert_eq!(select(&page, "meta[charset=utf-8]").len(), 1);
        assert_eq!(select(&page, "meta[name=viewport]").len(), 1);
        assert_eq!(select(&page, "h1").len(), 1);

        let rows = select(&page, "table.sources tbody tr");
        assert_eq!(rows.len(), 5, "one row per source");
        let names: Vec<String> = select(&page, "table.sources tbody th a")
            .iter()
            .map(text)
            .collect();
        let expected: Vec<String> = dashboard.groups[0]
            .sources
            .iter()
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(names, expected, "configuration order is kept");
        assert_eq!(
            select(&page, "table.sources tbody th a")[3].attr("href"),
            Some("https://bode.longbien.hanoi.gov.vn/")
        );
        // The table scrolls inside its own wrapper on narrow screens.
        assert_eq!(select(&page, ".table-scroll > table.sources").len(), 1);
        assert_eq!(
            select(&page, "table.sources thead th").len(),
            rows[0]
                .children()
                .filter(|n| n.value().is_element())
                .count()
        );

        let quiet = select(&page, "tr.quiet");
        assert_eq!(quiet.len(), 1);
        let quiet_text = text(&quiet[0]);
        assert!(quiet_text.contains("Phường Thạch Bàn"));
        assert!(quiet_text.contains("im lặng"));
        assert!(quiet_text.contains("ngưỡng 14 ngày"));
        assert_eq!(select(&page, "tr.quiet td.quiet .quiet-tag").len(), 1);

        let failing = select(&page, "tr.status-failing");
        assert_eq!(failing.len(), 1);
        assert!(text(&failing[0]).contains("Phường Bồ Đề"));
        let error = select(&page, "tr.status-failing .error");
        assert_eq!(text(&error[0]), "HTTP error");
        let tooltip = error[0].attr("title").unwrap();
        assert!(tooltip.contains("cong-tac-dang") && tooltip.contains("HTTP 503"));

        let svg = select(&page, "svg[role=img]");
        assert_eq!(svg.len(), 1);
        assert!(svg[0].attr("aria-label").unwrap().contains("longbien"));
        assert_eq!(select(&page, "svg[role=img] > title").len(), 1);
        assert_eq!(select(&page, "svg[role=img] polyline").len(), 5);
        // Direct labels and the legend both name every line.
        assert_eq!(select(&page, "svg[role=img] text.series-label").len(), 5);
        assert_eq!(select(&page, ".legend li").len(), 5);
        let week_labels: Vec<String> = select(&page, "svg[role=img] text.axis-label")
            .iter()
            .map(text)
            .collect();
        assert!(week_labels.contains(&"03/03".to_owned()));
        assert!(week_labels.contains(&"19/05".to_owned()));
        // Max 13 posts → 0, 5, 10, 15.
        for tick in ["0", "5", "10", "15"] {
            assert!(week_labels.contains(&tick.to_owned()), "tick {tick}");
        }
        assert_eq!(select(&page, "table.chart-data tbody tr").len(), 5);
    }

    #[test]
    fn hostile_strings_render_as_text() {
        let mut dashboard = sample();
        dashboard.title = "</title></style><script>alert(1)</script>".to_owned();
        let group = &mut dashboard.groups[0];
        group.name = "\"onmouseover=alert(1) x=\"".to_owned();
        group.sources[0].name = "<script>alert(1)</script>".to_owned();
        group.sources[1].name = "\" onmouseover=\"alert(1)".to_owned();
        group.sources[1].home_url = "javascript:alert(1)".to_owned();
        group.sources[2].categories[0].0 = "'><SCRIPT src=//x></SCRIPT>".to_owned();
        group.sources[2].feeds.rss = " JavaScript:alert(1)".to_owned();
        group.sources[3].last_error.as_mut().unwrap().message =
            "<img src=x onerror=alert(1)>".to_owned();
        dashboard.opml_url = "data:text/html,<script>alert(1)</script>".to_owned();

        let html = render(&dashboard);
        assert!(!html.to_ascii_lowercase().contains("<script"));
        let page = Html::parse_document(&html);
        assert!(select(&page, "script, img").is_empty());
        for element in select(&page, "*") {
            for (name, value) in element.value().attrs() {
                assert!(!name.starts_with("on"), "event handler attribute {name}");
                let value = value.trim().to_ascii_lowercase();
                assert!(
                    !value.starts_with("javascript:") && !value.starts_with("data:"),
                    "{name}={value}"
                );
            }
        }
        let body = text(&select(&page, "body")[0]);
        assert!(body.contains("<script>alert(1)</script>"));
        assert!(body.contains("\" onmouseover=\"alert(1)"));
        assert!(body.contains("<img src=x onerror=alert(1)>"));
        assert_eq!(select(&page, "table.sources tbody tr").len(), 5);
    }

    #[test]
    fn empty_dashboard_renders() {
        let html = render(&empty());
        let page = Html::parse_document(&html);
        assert_eq!(select(&page, "h1").len(), 1);
        assert!(select(&page, "table.sources, dl.stats").is_empty());
        assert!(html.contains("Chưa có nguồn tin nào được cấu hình."));
        assert!(html.contains("href=\"http://127.0.0.1:8080/feeds.opml\""));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn chart_survives_missing_or_zero_data() {
        // Sources but no weeks.
        let mut no_weeks = sample();
        no_weeks.weeks.clear();
        let page = Html::parse_document(&render(&no_weeks));
        assert_eq!(select(&page, "svg[role=img]").len(), 1);
        assert!(select(&page, "svg[role=img] polyline").is_empty());
        assert_eq!(select(&page, "table.sources tbody tr").len(), 5);

        // A group with no sources.
        let mut no_sources = sample();
        no_sources.groups[0].sources.clear();
        let html = render(&no_sources);
        assert!(html.contains("Nhóm này chưa có nguồn tin."));
        assert_eq!(
            select(&Html::parse_document(&html), "svg[role=img]").len(),
            1
        );

        // All zeros, one week, and vectors shorter than `weeks`: finite coordinates only.
        for weeks in [1, 12] {
            let mut zeros = sample();
            zeros.weeks.truncate(weeks);
            for source in &mut zeros.groups[0].sources {
                source.weekly_posts = vec![0; weeks / 2];
            }
            let html = render(&zeros);
            assert!(
                !html.contains("NaN") && !html.contains("inf"),
                "{weeks} weeks"
            );
            let page = Html::parse_document(&html);
            assert_eq!(select(&page, "svg[role=img] polyline").len(), 5);
            let ticks: Vec<String> = select(&page, "svg[role=img] text.axis-label")
                .iter()
                .map(text)
                .collect();
            assert!(ticks.contains(&"2".to_owned()), "{ticks:?}");
        }
    }

    #[test]
    fn ids_stay_unique_across_groups() {
        let mut dashboard = sample();
        let mut second = dashboard.groups[0].clone();
        second.name = "gialam".to_owned();
        dashboard.groups.push(second);
        let page = Html::parse_document(&render(&dashboard));
        let ids: Vec<&str> = select(&page, "[id]")
            .iter()
            .filter_map(|e| e.attr("id"))
            .collect();
        let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "{ids:?}");
        assert_eq!(select(&page, "table.sources tbody tr").len(), 10);
        assert_eq!(select(&page, "svg[role=img]").len(), 2);
        // Every in-page link of the attention list lands on a row.
        for link in select(&page, ".attention a") {
            let target = link.attr("href").unwrap().trim_start_matches('#');
            assert!(unique.contains(target), "{target}");
        }
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(render(&sample()), render(&sample()));
        assert_eq!(render(&empty()), render(&empty()));
    }

    #[test]
    fn y_axis_has_two_to_four_round_intervals() {
        assert_eq!(y_axis(0), (2, 1));
        assert_eq!(y_axis(1), (2, 1));
        assert_eq!(y_axis(3), (3, 1));
        assert_eq!(y_axis(4), (4, 1));
        assert_eq!(y_axis(5), (6, 2));
        assert_eq!(y_axis(9), (10, 5));
        assert_eq!(y_axis(13), (15, 5));
        assert_eq!(y_axis(20), (20, 5));
        assert_eq!(y_axis(41), (60, 20));
        assert_eq!(y_axis(u64::from(u32::MAX)), (6_000_000_000, 2_000_000_000));
        for max in 0..500 {
            let (top, step) = y_axis(max);
            assert!(top >= max && (2..=4).contains(&(top / step)), "{max}");
        }
    }

    #[test]
    fn only_web_links_are_linked() {
        assert_eq!(
            safe_href("https://a.vn/?a=1&b=2"),
            "https://a.vn/?a=1&amp;b=2"
        );
        assert_eq!(safe_href("/feeds/all.rss"), "/feeds/all.rss");
        assert_eq!(safe_href("HTTP://A.VN/"), "HTTP://A.VN/");
        assert_eq!(safe_href("javascript:alert(1)"), "#");
        assert_eq!(safe_href("vbscript:x"), "#");
        assert_eq!(safe_href("?q=a:b"), "?q=a:b");
    }

    #[test]
    fn truncates_on_character_boundaries() {
        assert_eq!(truncate("Phường Bồ Đề", 20), "Phường Bồ Đề");
        assert_eq!(truncate("Phường Bồ Đề", 7), "Phường…");
    }

    /// Writes the sample page for `tests/dashboard_browser.sh` when asked:
    /// `WARDFEED_DASHBOARD_SAMPLE=/tmp/page/index.html cargo test --lib render::dashboard`.
    #[test]
    fn writes_sample_page_when_asked() {
        if let Some(path) = std::env::var_os("WARDFEED_DASHBOARD_SAMPLE") {
            std::fs::write(path, render(&sample())).unwrap();
        }
    }
}
