//! Tests of the rendered dashboard page as a whole (content, structure, escaping, the chart with
//! missing data, unique ids, determinism) and of the page's link and truncation helpers.

use chrono::{Duration, NaiveDate, TimeZone};
use scraper::{Html, Selector};

use super::*;
use crate::model::{ErrorKind, ItemWarning};
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
        quiet_after_days: 14,
        status: SourceStatus::Ok,
        last_attempt: Some(at(21, 8, 20)),
        last_success: Some(at(21, 8, 20)),
        consecutive_failures: 0,
        failures: Vec::new(),
        last_error: None,
        empty_listings: Vec::new(),
        weekly_posts: weekly.to_vec(),
        warnings: Vec::new(),
        merged_into: None,
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
    let bo_de_failures: Vec<DashboardError> = ["Tin tức - Sự kiện", "Công tác Đảng"]
        .into_iter()
        .map(|category| DashboardError {
            at: at(21, 8, 20),
            kind: ErrorKind::Http,
            category: category.to_owned(),
            message: "fetch https://bode.longbien.hanoi.gov.vn/cong-tac-dang: HTTP 503".to_owned(),
        })
        .collect();
    bo_de.last_error = bo_de_failures.first().cloned();
    bo_de.failures = bo_de_failures;

    let mut thach_ban = source(
        "thachban",
        "Phường Thạch Bàn",
        [2, 1, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0],
    );
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
    phuc_dong.failures = vec![DashboardError {
        at: at(21, 8, 0),
        kind: ErrorKind::LayoutChanged,
        category: "Thông báo".to_owned(),
        message: "div.news-list matched nothing".to_owned(),
    }];
    phuc_dong.last_error = phuc_dong.failures.first().cloned();
    // Bad for longer than its threshold, but failing: its silence may be ours, so not quiet.
    phuc_dong.days_since_last_post = Some(40);

    Dashboard {
        title: "Tin phường — Long Biên".to_owned(),
        generated: at(21, 8, 30),
        opml_url: format!("{PUBLIC}/feeds.opml"),
        resident_opml_url: format!("{PUBLIC}/residents.opml"),
        incidents_url: format!("{PUBLIC}/incidents.atom"),
        combined: links("all"),
        weeks: (0..12)
            .map(|w| NaiveDate::from_ymd_opt(2025, 3, 3).unwrap() + Duration::weeks(w))
            .collect(),
        groups: vec![DashboardGroup {
            id: "longbien".to_owned(),
            name: "Long Biên".to_owned(),
            feeds: links("groups/longbien"),
            page_url: "https://feeds.example/groups/longbien".to_owned(),
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
        store_failing: None,
        page: DashboardPage::Whole,
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

fn select_in<'a>(element: &scraper::ElementRef<'a>, css: &str) -> Vec<scraper::ElementRef<'a>> {
    element.select(&Selector::parse(css).unwrap()).collect()
}

fn text(element: &scraper::ElementRef<'_>) -> String {
    element.text().collect()
}

/// The sample as it looks during the first scrape after a start: Phúc Lợi fetched, the rest
/// still waiting, nothing stored yet for them.
fn first_scrape() -> Dashboard {
    let mut dashboard = sample();
    for source in &mut dashboard.groups[0].sources {
        if source.id == "phucloi" {
            continue;
        }
        *source = DashboardSource {
            status: SourceStatus::Pending,
            last_attempt: None,
            last_success: None,
            last_published: None,
            days_since_last_post: None,
            total_items: 0,
            items_7d: 0,
            items_30d: 0,
            failures: Vec::new(),
            last_error: None,
            empty_listings: Vec::new(),
            consecutive_failures: 0,
            weekly_posts: vec![0; 12],
            ..source.clone()
        };
    }
    dashboard
}

fn stat(page: &Html, class: &str) -> Option<String> {
    select(page, &format!("dl.stats .{class} dd"))
        .first()
        .map(text)
}

#[test]
fn shows_every_source_with_its_status_and_feeds_in_vietnamese() {
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
    // Reasons in Vietnamese, categories by label, the group by its display name.
    assert!(html.contains("máy chủ của cổng trả lỗi HTTP"));
    assert!(html.contains("“Công tác Đảng”"));
    assert!(html.contains("giao diện trang đã đổi: không tìm thấy danh sách tin"));
    assert!(html.contains("7 lần lỗi liên tiếp"));
    assert!(html.contains("Chuyên mục không có tin: Tin tức - Sự kiện"));
    assert!(html.contains("<h2 id=\"g1-title\">Long Biên</h2>"));
    // What a person reads (text and tooltips), not class names.
    let page = Html::parse_document(&html);
    let mut readable = text(&select(&page, "body")[0]);
    for element in select(&page, "[title]") {
        readable.push_str(element.attr("title").unwrap());
    }
    for english in [
        "error", "layout", "empty", "pending", "degraded", "failing", "listing",
    ] {
        assert!(
            !readable.to_lowercase().contains(english),
            "English left on the page: {english} in {readable}"
        );
    }
    assert!(html.contains("21/05/2025 08:30"), "generated time");
    for url in [
        "http://127.0.0.1:8080/feeds.opml",
        "http://127.0.0.1:8080/residents.opml",
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
    assert!(html.contains("OPML cho người dân"));
    assert!(!html.to_ascii_lowercase().contains("<script"));
}

#[test]
fn feeds_are_discoverable_from_the_page() {
    let page = Html::parse_document(&render(&sample()));
    let links = select(&page, "head link[rel=alternate]");
    let hrefs: Vec<&str> = links.iter().filter_map(|l| l.attr("href")).collect();
    // The combined feed first (readers take the first), in every format; then the group's and
    // each source's RSS.
    assert_eq!(
        &hrefs[..3],
        [
            "http://127.0.0.1:8080/all.rss",
            "http://127.0.0.1:8080/all.atom",
            "http://127.0.0.1:8080/all.json"
        ]
    );
    assert_eq!(links[0].attr("type"), Some("application/rss+xml"));
    assert_eq!(links[2].attr("type"), Some("application/feed+json"));
    assert!(hrefs.contains(&"http://127.0.0.1:8080/groups/longbien.rss"));
    for id in ["longbien", "phucloi", "phucdong", "bode", "thachban"] {
        assert!(hrefs.contains(&format!("http://127.0.0.1:8080/sources/{id}.rss").as_str()));
    }
    assert!(
        links
            .iter()
            .all(|l| l.attr("title").is_some_and(|t| !t.is_empty()))
    );
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
    // Each row is the source's anchor (the incident feed links to `#source-ID`).
    let ids: Vec<&str> = rows.iter().filter_map(|r| r.value().attr("id")).collect();
    assert_eq!(
        ids,
        [
            "source-longbien",
            "source-phucloi",
            "source-phucdong",
            "source-bode",
            "source-thachban"
        ]
    );
    assert_eq!(
        select(&page, "table.sources thead th").len(),
        rows[0]
            .children()
            .filter(|n| n.value().is_element())
            .count()
    );
    // On a phone every cell says what it is.
    let headings: Vec<String> = select(&page, "table.sources thead th")
        .iter()
        .map(text)
        .collect();
    for row in &rows {
        let labels: Vec<&str> = row
            .children()
            .filter_map(scraper::ElementRef::wrap)
            .filter(|c| c.value().name() == "td")
            .map(|c| c.value().attr("data-label").unwrap())
            .collect();
        assert_eq!(labels, headings[1..]);
    }

    // Quiet: only Thạch Bàn (fetched fine, 21 days > 14). Phúc Đồng has not posted for 40
    // days but is failing in part: not quiet.
    let quiet = select(&page, "tr.quiet");
    assert_eq!(quiet.len(), 1);
    let quiet_text = text(&quiet[0]);
    assert!(quiet_text.contains("Phường Thạch Bàn"));
    assert!(quiet_text.contains("im lặng"));
    assert!(quiet_text.contains("ngưỡng 14 ngày"));
    assert_eq!(select(&page, "tr.quiet td.num .quiet-tag").len(), 1);
    assert_eq!(stat(&page, "stat-quiet").as_deref(), Some("1"));
    assert_eq!(stat(&page, "stat-failing").as_deref(), Some("2"));
    assert_eq!(stat(&page, "stat-pending"), None, "nothing is waiting");

    let failing = select(&page, "tr.status-failing");
    assert_eq!(failing.len(), 1);
    let failing_text = text(&failing[0]);
    assert!(failing_text.contains("Phường Bồ Đề"));
    assert!(failing_text.contains("Thành công gần nhất: 19/05/2025 14:40"));
    let errors = select(&page, "tr.status-failing .error");
    assert_eq!(errors.len(), 1, "one line per kind of failure");
    assert_eq!(text(&errors[0]), "máy chủ của cổng trả lỗi HTTP");
    assert!(failing_text.contains("Các chuyên mục “Tin tức - Sự kiện”, “Công tác Đảng”."));
    let tooltip = errors[0].attr("title").unwrap();
    assert!(tooltip.contains("Công tác Đảng") && tooltip.contains("HTTP 503"));

    // Partly failing: how much it did fetch, and when it last worked in full.
    let degraded = text(&select(&page, "tr.status-degraded")[0]);
    assert!(degraded.contains("Lấy được 1/2 chuyên mục"), "{degraded}");
    assert!(degraded.contains("Thành công trọn vẹn: 21/05/2025 08:20"));

    // Attention list: the failing, the partly failing and the quiet, each linking its row.
    let attention: Vec<String> = select(&page, ".attention li").iter().map(text).collect();
    assert_eq!(attention.len(), 3, "{attention:?}");
    assert!(attention.iter().any(|a| a.contains("Phường Bồ Đề — lỗi: máy chủ của cổng trả lỗi HTTP (chuyên mục “Tin tức - Sự kiện”) và 1 chuyên mục khác, 7 lần liên tiếp")), "{attention:?}");
    let row_ids: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    for link in select(&page, ".attention a, .multiple h3 a") {
        let target = link.attr("href").unwrap().trim_start_matches('#');
        assert!(row_ids.contains(target), "{target}");
    }
}

#[test]
fn small_multiples_show_every_sources_posts_on_one_scale() {
    let dashboard = sample();
    let page = Html::parse_document(&render(&dashboard));
    let cards = select(&page, ".multiples > li.multiple");
    assert_eq!(cards.len(), 5, "one small chart per source");
    let mut heights = std::collections::BTreeMap::new();
    for (card, source) in cards.iter().zip(&dashboard.groups[0].sources) {
        assert_eq!(text(&select_in(card, "h3")[0]), source.name);
        // A bar for each week with posts, its number written on it; a tick for the others.
        let bars = select_in(card, "rect.bar");
        let nonzero: Vec<u32> = source
            .weekly_posts
            .iter()
            .copied()
            .filter(|v| *v > 0)
            .collect();
        assert_eq!(bars.len(), nonzero.len(), "{}", source.name);
        let values: Vec<u32> = select_in(card, "text.bar-value")
            .iter()
            .map(|t| text(t).parse().unwrap())
            .collect();
        assert_eq!(values, nonzero, "{}", source.name);
        assert_eq!(select_in(card, "rect").len(), 12, "{}", source.name);
        let total: u32 = source.weekly_posts.iter().sum();
        assert!(text(card).contains(&format!("{total} bài trong 12 tuần")));
        for (bar, value) in bars.iter().zip(&nonzero) {
            let height: f64 = bar.attr("height").unwrap().parse().unwrap();
            heights.entry(*value).or_insert_with(Vec::new).push(height);
        }
    }
    // One scale for every card: the same count is the same height wherever it is.
    for (value, hs) in &heights {
        assert!(
            hs.windows(2).all(|w| (w[0] - w[1]).abs() < 0.01),
            "{value}: {hs:?}"
        );
    }
    let max = heights.keys().max().unwrap();
    let min = heights.keys().min().unwrap();
    assert!(heights[max][0] > heights[min][0]);
    assert_eq!(select(&page, "table.chart-data tbody tr").len(), 5);
}

#[test]
fn during_the_first_scrape_nothing_reads_as_quiet() {
    let page = Html::parse_document(&render(&first_scrape()));
    assert_eq!(stat(&page, "stat-pending").as_deref(), Some("4"));
    assert_eq!(stat(&page, "stat-quiet").as_deref(), Some("0"));
    assert_eq!(stat(&page, "stat-failing").as_deref(), Some("0"));
    assert!(select(&page, "tr.quiet").is_empty());
    assert!(select(&page, ".attention li").is_empty());
    let note = text(&select(&page, ".attention .pending-note")[0]);
    assert!(note.contains("còn 4/5 nguồn chưa lấy xong"), "{note}");
    let pending = select(&page, "tr.status-pending");
    assert_eq!(pending.len(), 4);
    for row in &pending {
        let row = text(row);
        assert!(
            row.contains("Đang lấy tin") && !row.contains("im lặng"),
            "{row}"
        );
    }
    // No zero bars for what has not been read yet.
    let waiting = select(&page, ".multiple .no-data");
    assert_eq!(waiting.len(), 4);
    assert!(text(&waiting[0]).contains("Đang lấy tin lần đầu"));
    assert_eq!(select(&page, ".multiple svg").len(), 1);
}

#[test]
fn failing_sources_are_never_quiet_and_pending_ones_never_alarm() {
    let mut dashboard = sample();
    let source = &mut dashboard.groups[0].sources[0];
    source.days_since_last_post = None;
    for (status, quiet) in [
        (SourceStatus::Pending, false),
        (SourceStatus::Failing, false),
        (SourceStatus::Degraded, false),
        (SourceStatus::Ok, true),
        (SourceStatus::Empty, true),
    ] {
        source.status = status;
        assert_eq!(source.is_quiet(), quiet, "{status:?}");
    }
    source.days_since_last_post = Some(14);
    assert!(!source.is_quiet(), "at the threshold is not past it");
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
    group.sources[3].failures[0].message = "<img src=x onerror=alert(1)>".to_owned();
    group.sources[3].failures[1].category = "</td><script>alert(2)</script>".to_owned();
    group.sources[4].id = "\"><script>alert(3)</script>".to_owned();
    group.sources[4].warnings = vec![ItemWarning {
        url: "javascript:alert(4)".to_owned(),
        field: "<script>alert(5)</script>".to_owned(),
        message: "<img src=x onerror=alert(6)>".to_owned(),
    }];
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
    assert!(select(&page, "svg[role=img] rect").is_empty());
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
        assert_eq!(select(&page, ".multiple svg[role=img]").len(), 5);
        assert_eq!(select(&page, ".multiple rect").len(), 5 * weeks);
        assert!(
            select(&page, ".multiple rect.bar").is_empty(),
            "no posts, no bars"
        );
        assert!(html.contains("0 bài trong"));
    }
}

#[test]
fn ids_stay_unique_across_groups() {
    let mut dashboard = sample();
    let mut second = dashboard.groups[0].clone();
    second.id = "gialam".to_owned();
    second.name = "Gia Lâm".to_owned();
    for source in &mut second.sources {
        source.id = format!("gialam-{}", source.id);
    }
    dashboard.groups.push(second);
    let page = Html::parse_document(&render(&dashboard));
    let ids: Vec<&str> = select(&page, "[id]")
        .iter()
        .filter_map(|e| e.attr("id"))
        .collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "{ids:?}");
    assert_eq!(select(&page, "table.sources tbody tr").len(), 10);
    assert_eq!(select(&page, ".multiple").len(), 10);
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

/// A failing store is said first, in words, with its error escaped; a working one says nothing.
#[test]
fn a_failing_store_is_a_banner_above_everything() {
    let working = Html::parse_document(&render(&sample()));
    assert!(
        select(&working, ".store-failing").is_empty(),
        "no banner while the store works"
    );
    let mut dashboard = sample();
    dashboard.store_failing = Some(crate::render::StoreFailing {
        since: at(21, 8, 5),
        error: "write wardfeed.manifest: No space left on device (os error 28) <b>".to_owned(),
    });
    let page = render(&dashboard);
    let html = Html::parse_document(&page);
    let banner = select(&html, "main > div.store-failing[role=alert]");
    assert_eq!(banner.len(), 1, "{page}");
    let text: String = banner[0].text().collect();
    assert!(text.contains("Kho dữ liệu đang lỗi"), "{text}");
    assert!(
        text.contains("No space left on device (os error 28) <b>"),
        "{text}"
    );
    let main = select(&html, "main")[0];
    let first = main
        .children()
        .filter_map(scraper::ElementRef::wrap)
        .next()
        .unwrap();
    assert_eq!(first.value().attr("class"), Some("store-failing"));
}

#[test]
fn the_last_refreshs_warnings_are_on_the_row_and_in_the_attention_panel() {
    let mut dashboard = sample();
    let quiet_free = render(&dashboard);
    assert!(
        !quiet_free.contains("cảnh báo"),
        "the sample has no warnings"
    );

    let source = &mut dashboard.groups[0].sources[0];
    let name = source.name.clone();
    let row = format!("source-{}", source.id);
    source.warnings = vec![
        ItemWarning {
            url: "https://phucdong.example/tin/1.html".to_owned(),
            field: "date".to_owned(),
            message: "date \"Thứ Hai lúc trưa\" not understood; the item takes the time it was first seen".to_owned(),
        },
        ItemWarning {
            url: String::new(),
            field: "feed".to_owned(),
            message: "recovered 3 entries from an ill-formed feed".to_owned(),
        },
    ];
    let html = render(&dashboard);
    let page = Html::parse_document(&html);

    // The attention panel names the source, links its row and counts its warnings.
    let attention = text(&select(&page, "section.attention")[0]);
    assert!(
        attention.contains(&format!("{name} — 2 cảnh báo ở lần lấy tin gần nhất")),
        "{attention}"
    );
    let links: Vec<_> = select(&page, "section.attention a")
        .iter()
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert!(links.contains(&format!("#{row}")), "{links:?}");

    // The row lists each warning: the field in Vietnamese, the page linked, the message.
    let row = &select(&page, &format!("tr#{row}"))[0];
    let list = select_in(row, "details.warnings");
    assert_eq!(list.len(), 1);
    let list_text = text(&list[0]);
    assert!(list_text.contains("2 cảnh báo"), "{list_text}");
    assert!(list_text.contains("ngày đăng"), "{list_text}");
    assert!(list_text.contains("Thứ Hai lúc trưa"), "{list_text}");
    assert!(list_text.contains("nguồn tin RSS/Atom"), "{list_text}");
    assert!(list_text.contains("recovered 3 entries"), "{list_text}");
    let hrefs: Vec<_> = select_in(&list[0], "a")
        .iter()
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert_eq!(hrefs, ["https://phucdong.example/tin/1.html"]);
    // Which item, in words: the officer reads its address without opening it.
    assert!(
        list_text.contains("ngày đăng (bài https://phucdong.example/tin/1.html)"),
        "{list_text}"
    );
}

/// Past the store's limit its last warning says how many it left out: the count is "more
/// than" the kept ones, never a figure that is too small.
#[test]
fn warnings_the_store_left_out_make_the_count_more_than() {
    let mut dashboard = sample();
    let warning = |i: usize| ItemWarning {
        url: format!("https://phucloi.example/tin/{i}.html"),
        field: "date".to_owned(),
        message: "no publication date".to_owned(),
    };
    let source = &mut dashboard.groups[0].sources[1];
    source.warnings = (0..3).map(warning).collect();
    source.warnings.push(ItemWarning {
        url: String::new(),
        field: "warnings".to_owned(),
        message: "250 more warnings not kept (the log has them all)".to_owned(),
    });
    let row = format!("tr#source-{}", source.id);
    let page = Html::parse_document(&render(&dashboard));
    let summary = text(&select(&page, &format!("{row} details.warnings summary"))[0]);
    assert_eq!(summary, "Hơn 3 cảnh báo");
    let last = select(&page, &format!("{row} details.warnings li"))
        .last()
        .map(text)
        .unwrap();
    assert_eq!(
        last,
        "cảnh báo khác: 250 more warnings not kept (the log has them all)"
    );
}

/// A ward merged into another is shown as merged: neither failing (its old portal may be gone)
/// nor quiet (it no longer posts), with a link to the row of the ward that took it over.
#[test]
fn a_merged_source_is_neither_failing_nor_quiet() {
    let mut dashboard = sample();
    let before = Html::parse_document(&render(&dashboard));
    let failing: usize = stat(&before, "stat-failing").unwrap().parse().unwrap();
    let bode = dashboard.groups[0]
        .sources
        .iter_mut()
        .find(|s| s.id == "bode")
        .unwrap();
    assert!(bode.is_failing());
    bode.days_since_last_post = Some(400);
    bode.merged_into = Some(("phucloi".into(), "Phường Phúc Lợi".into()));
    assert!(!bode.is_failing() && !bode.is_quiet());
    let page = Html::parse_document(&render(&dashboard));
    assert_eq!(
        stat(&page, "stat-failing").unwrap(),
        (failing - 1).to_string()
    );
    assert_eq!(stat(&page, "stat-merged").as_deref(), Some("1"));
    let row = select(&page, "tr#source-bode .badge-merged");
    assert_eq!(row.len(), 1);
    let link = select(&page, "tr#source-bode td.status a");
    assert_eq!(link[0].value().attr("href"), Some("#source-phucloi"));
    let attention: Vec<String> = select(&page, ".attention li").iter().map(text).collect();
    assert!(
        attention.iter().all(|line| !line.contains("Bồ Đề")),
        "{attention:?}"
    );
}

#[test]
fn the_summary_page_lists_groups_not_sources_and_links_attention_to_group_pages() {
    let mut dashboard = sample();
    // A second group, and more sources needing attention than the summary names.
    let mut other = dashboard.groups[0].clone();
    other.id = "gialam".to_owned();
    other.name = "Gia Lâm".to_owned();
    other.page_url = "https://feeds.example/groups/gialam".to_owned();
    let template = other
        .sources
        .iter()
        .find(|s| s.is_failing())
        .cloned()
        .expect("the sample has a failing source");
    other.sources = (0..ATTENTION_SHOWN + 7)
        .map(|n| DashboardSource {
            id: format!("gl{n}"),
            name: format!("Xã {n}"),
            ..template.clone()
        })
        .collect();
    dashboard.groups.push(other);
    dashboard.page = DashboardPage::Summary;
    let html = render(&dashboard);
    let page = Html::parse_document(&html);
    // No source tables, charts or per-source rows: one row per group, linked to its page.
    assert!(select(&page, "table.sources").is_empty());
    assert!(select(&page, "tr[id^=source-]").is_empty());
    let rows = select(&page, "table.group-summary tbody tr");
    assert_eq!(rows.len(), 2);
    let links: Vec<_> = select(&page, "table.group-summary tbody th a")
        .iter()
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    assert_eq!(
        links,
        [
            "https://feeds.example/groups/longbien",
            "https://feeds.example/groups/gialam"
        ]
    );
    assert!(text(&rows[1]).contains(&(ATTENTION_SHOWN + 7).to_string()));
    // The stats still count every source.
    let total = dashboard
        .groups
        .iter()
        .map(|g| g.sources.len())
        .sum::<usize>();
    assert_eq!(stat(&page, "stat-total"), Some(total.to_string()));
    // The attention list names at most ATTENTION_SHOWN, each linked to its group's page, and
    // says how many more.
    let named = select(&page, ".attention li a");
    assert_eq!(named.len(), ATTENTION_SHOWN);
    assert!(named.iter().all(|a| {
        let href = a.value().attr("href").unwrap();
        href.starts_with("https://feeds.example/groups/") && href.contains("#source-")
    }));
    let needing = dashboard
        .groups
        .iter()
        .flat_map(|g| &g.sources)
        .filter(|s| s.is_quiet() || s.is_failing() || !s.warnings.is_empty())
        .count();
    let more = select(&page, ".attention-more");
    assert_eq!(more.len(), 1);
    assert!(
        text(&more[0]).contains(&format!("Và {} nguồn khác", needing - ATTENTION_SHOWN)),
        "{}",
        text(&more[0])
    );
    // Far smaller than the whole page of the same sources.
    dashboard.page = DashboardPage::Whole;
    assert!(html.len() * 3 < render(&dashboard).len());
}
