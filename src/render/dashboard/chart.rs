//! The weekly chart of each group as small multiples: one small bar chart per source, all on
//! the same scale, so every source's posts are visible (no line hides another) and sources
//! compare at a glance; the same numbers as a table below it.

use std::fmt::Write as _;

use chrono::NaiveDate;

use super::{esc, row_id};
use crate::model::SourceStatus;
use crate::render::{Dashboard, DashboardGroup, DashboardSource};

// Writing into a `String` cannot fail, so every `write!` below discards its `fmt::Result`.

/// One small chart's coordinate space; it scales to its card's width through `viewBox`.
const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 92.0;
const PLOT_LEFT: f64 = 4.0;
const PLOT_RIGHT: f64 = 236.0;
/// Room above the tallest bar for its number.
const PLOT_TOP: f64 = 14.0;
const PLOT_BOTTOM: f64 = 74.0;
const BAR_COLOUR: &str = "#0b5cad";
/// The week still running: lighter, since its count is not final.
const RUNNING_COLOUR: &str = "#8fb3da";

pub(super) fn chart(out: &mut String, dashboard: &Dashboard, index: usize, group: &DashboardGroup) {
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
    // The newest week is usually still running; without saying so its dip reads as a slump.
    let today = dashboard.generated.date_naive();
    let running_week = weeks
        .last()
        .filter(|last| today >= **last && today < **last + chrono::Duration::days(7))
        .map(|_| weeks.len() - 1);
    let running = running_week.map_or_else(String::new, |w| {
        format!(
            " <span class=\"note\">Tuần {} chưa kết thúc (cột nhạt): số liệu đến {}.</span>",
            weeks[w].format("%d/%m"),
            today.format("%d/%m/%Y")
        )
    });
    let _ = write!(
        out,
        "<figure class=\"chart\" aria-labelledby=\"g{index}-chart\">\n\
         <figcaption id=\"g{index}-chart\">Số bài đăng mỗi tuần của từng nguồn{period} (tuần bắt \
         đầu từ thứ Hai; mọi biểu đồ cùng một thang).{running}</figcaption>\n"
    );

    if weeks.is_empty() || sources.is_empty() {
        let message = if sources.is_empty() {
            "Chưa có nguồn tin để vẽ biểu đồ."
        } else {
            "Chưa có dữ liệu theo tuần."
        };
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} 40\" role=\"img\" \
             aria-label=\"{0}\"><title>{0}</title><text class=\"empty-chart\" x=\"{1}\" y=\"24\" \
             text-anchor=\"middle\">{message}</text></svg>\n</figure>\n",
            esc(&format!("Số bài đăng mỗi tuần — nhóm {}", group.name)),
            WIDTH / 2.0,
        );
        return;
    }

    // One scale for the whole group: a taller bar is more posts, whichever card it is in.
    let max = sources
        .iter()
        .flat_map(|s| (0..weeks.len()).map(move |w| value(s, w)))
        .max()
        .unwrap_or(0)
        .max(1);
    out.push_str("<ul class=\"multiples\">\n");
    for source in sources {
        multiple(out, weeks, running_week, max, source);
    }
    out.push_str("</ul>\n");
    data_table(out, weeks, index, sources);
    out.push_str("</figure>\n");
}

/// Posts of `source` in week `week`; a vector shorter than the weeks reads as no posts.
fn value(source: &DashboardSource, week: usize) -> u32 {
    source.weekly_posts.get(week).copied().unwrap_or(0)
}

fn multiple(
    out: &mut String,
    weeks: &[NaiveDate],
    running_week: Option<usize>,
    max: u32,
    source: &DashboardSource,
) {
    let total: u32 = (0..weeks.len()).map(|w| value(source, w)).sum();
    let _ = write!(
        out,
        "<li class=\"multiple status-{}\"><h3><a href=\"#{}\">{}</a></h3>",
        source.status.as_str(),
        row_id(source),
        esc(&source.name)
    );
    // Zero bars would say "posted nothing"; for a source we have not read yet that is not known.
    let unknown = match source.status {
        SourceStatus::Pending => Some("Đang lấy tin lần đầu — chưa có số liệu."),
        SourceStatus::Failing if source.total_items == 0 => {
            Some("Chưa lấy được tin nào từ nguồn này.")
        }
        _ => None,
    };
    if let Some(message) = unknown {
        let _ = writeln!(out, "<p class=\"no-data\">{message}</p></li>");
        return;
    }
    let _ = write!(
        out,
        "<p class=\"total\">{total} bài trong {} tuần</p>",
        weeks.len()
    );
    let label = format!(
        "{}: {total} bài trong {} tuần; theo tuần: {}",
        source.name,
        weeks.len(),
        (0..weeks.len())
            .map(|w| value(source, w).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"{0}\"><title>{0}</title>",
        esc(&label)
    );
    let slot = (PLOT_RIGHT - PLOT_LEFT) / weeks.len() as f64;
    let bar = (slot * 0.7).max(1.0);
    let scale = (PLOT_BOTTOM - PLOT_TOP) / f64::from(max);
    let _ = write!(
        out,
        "<line x1=\"{PLOT_LEFT}\" y1=\"{PLOT_BOTTOM}\" x2=\"{PLOT_RIGHT}\" y2=\"{PLOT_BOTTOM}\" \
         stroke=\"#8c959f\" stroke-width=\"1\"/>"
    );
    for (w, week) in weeks.iter().enumerate() {
        let v = value(source, w);
        let x = PLOT_LEFT + slot * w as f64 + (slot - bar) / 2.0;
        let centre = x + bar / 2.0;
        let tip = format!("tuần {}: {v} bài", week.format("%d/%m/%Y"));
        if v == 0 {
            // A zero week is a visible tick on the baseline, not an absence.
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"2\" fill=\"#c4cad1\">\
                 <title>{}</title></rect>",
                PLOT_BOTTOM - 2.0,
                esc(&tip)
            );
            continue;
        }
        let height = f64::from(v) * scale;
        let colour = if Some(w) == running_week {
            RUNNING_COLOUR
        } else {
            BAR_COLOUR
        };
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\" \
             fill=\"{colour}\"><title>{}</title></rect>\
             <text class=\"bar-value\" x=\"{centre:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v}</text>",
            PLOT_BOTTOM - height,
            esc(&tip),
            PLOT_BOTTOM - height - 3.0,
        );
    }
    // The first and the last week name the axis; the cards share it.
    let last = weeks.len() - 1;
    for (w, anchor) in [(0, "start"), (last, "end")] {
        if w == last && last == 0 && anchor == "end" {
            continue;
        }
        let x = if anchor == "start" {
            PLOT_LEFT
        } else {
            PLOT_RIGHT
        };
        let _ = write!(
            out,
            "<text class=\"axis-label\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            PLOT_BOTTOM + 13.0,
            weeks[w].format("%d/%m")
        );
    }
    out.push_str("</svg></li>\n");
}

/// The chart's numbers as a table, folded away: exact counts per week, readable by assistive
/// technology and copyable.
fn data_table(out: &mut String, weeks: &[NaiveDate], index: usize, sources: &[DashboardSource]) {
    let _ = write!(
        out,
        "<details><summary>Xem số liệu của biểu đồ (bảng)</summary>\n\
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
            let _ = write!(out, "<td class=\"num\">{}</td>", value(source, w));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</div>\n</details>\n");
}
