//! Tests of the rendered dashboard page as a whole (content, structure, escaping, the chart with
//! missing data, unique ids, determinism) and of the page's link and truncation helpers.

use chrono::{Duration, NaiveDate, TimeZone};
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
