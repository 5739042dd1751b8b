//! The weekly chart of each group: an inline SVG line chart of posts per week with its axes,
//! series styles, end-of-line names and legend, and the same numbers as a folded-away table.

use std::fmt::Write as _;

use chrono::NaiveDate;

use super::{esc, truncate};
use crate::render::{Dashboard, DashboardGroup, DashboardSource};

// Writing into a `String` cannot fail, so every `write!` below discards its `fmt::Result`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
