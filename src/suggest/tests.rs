//! Unit tests of the page analysis on small pages.

use scraper::Html;
use url::Url;

use super::*;

fn context() -> DateContext<'static> {
    let now = chrono::DateTime::parse_from_rfc3339("2023-03-06T08:00:00+07:00").unwrap();
    DateContext::new(chrono_tz::Asia::Ho_Chi_Minh, now)
}

#[test]
fn a_listing_is_found_among_menus_and_sidebars() {
    let mut items = String::new();
    for i in 0..5 {
        items.push_str(&format!(
            r#"<div class="item"><h3><a href="/tin/{i}.html">Tin số {i} của phường trong tháng ba</a></h3><span class="date">Ngày đăng 0{}/03/2023 08:00</span><p>Tóm tắt của tin số {i}, dài hơn ba mươi ký tự.</p></div>"#,
            i + 1
        ));
    }
    let html = format!(
        r#"<html><head><title>Tin tức - Phường X</title></head><body><ul class="menu"><li><a href="/">Trang chủ</a></li><li><a href="/a">Giới thiệu</a></li><li><a href="/b">Liên hệ</a></li></ul>
<div class="list">{items}</div><div class="pages"><a href="?page=2">Trang sau</a></div>
<ul class="side"><li><a href="/x/1">Một tin cũ rất dài ở cột bên của trang</a></li><li><a href="/x/2">Một tin cũ rất dài ở cột bên của trang</a></li><li><a href="/x/3">Một tin cũ rất dài ở cột bên của trang</a></li></ul></body></html>"#
    );
    let doc = Html::parse_document(&html);
    let url = Url::parse("http://p.example/tin-tuc").unwrap();
    let listing = listing::analyze(&doc, &url, &context()).unwrap();
    assert_eq!(
        (listing.list.as_str(), listing.item.as_str()),
        ("div.list", "div.item")
    );
    assert_eq!(listing.items_found, 5);
    assert_eq!(listing.title.unwrap().rule, Rule::text("a"));
    let date = listing.date.unwrap();
    assert_eq!(date.confidence, 1.0);
    assert_eq!(date.rule.selector.as_deref(), Some("span.date"));
    assert_eq!(listing.summary.unwrap().rule, Rule::text("p"));
    let next = listing.next.unwrap();
    assert_eq!(
        (next.selector.as_str(), next.text.as_str(), next.postback),
        ("div.pages a", "Trang sau", false)
    );
    let facts = listing::page_facts(&doc, &url);
    assert_eq!(facts.label.as_deref(), Some("Tin tức"));
    assert_eq!(facts.site_name.as_deref(), Some("Phường X"));
}

/// A table of news (title cell, date cell) and a pager whose link carries an arrow.
#[test]
fn a_table_listing_and_a_next_link_with_an_arrow() {
    let mut rows = String::new();
    for i in 0..4 {
        rows.push_str(&format!(
            r#"<tr><td><a href="/tin/{i}.html">Tin số {i} của phường trong tháng mười hai</a></td><td>1{i}/12/2025 08:30</td></tr>"#
        ));
    }
    let html = format!(
        r#"<html><body><table class="tbl-news"><tr><th>Tiêu đề</th><th>Ngày đăng</th></tr>{rows}</table>
<div class="pager"><a href="/tin-tuc.html?page=2">Trang sau »</a></div></body></html>"#
    );
    let doc = Html::parse_document(&html);
    let url = Url::parse("http://p.example/tin-tuc.html").unwrap();
    let listing = listing::analyze(&doc, &url, &context()).unwrap();
    assert_eq!(listing.items_found, 4);
    let next = listing.next.expect("the pager's next link");
    assert_eq!(
        (next.selector.as_str(), next.text.as_str()),
        ("div.pager a", "Trang sau »")
    );
}

#[test]
fn a_page_without_repeated_links_has_no_listing() {
    let doc = Html::parse_document(
        "<html><body><h1>Giới thiệu</h1><p>Phường có 18 tổ dân phố.</p><a href=\"/\">Trang chủ</a></body></html>",
    );
    let url = Url::parse("http://p.example/gioi-thieu").unwrap();
    assert!(listing::analyze(&doc, &url, &context()).is_none());
}

#[test]
fn ids_come_from_names_without_diacritics() {
    let base = Url::parse("http://127.0.0.1:9/").unwrap();
    assert_eq!(source_id("Phường Phúc Đồng", &base), "phuong-phuc-dong");
    assert_eq!(source_id("!!!", &base), "127-0-0-1");
    assert_eq!(
        site_name("Cổng thông tin điện tử phường Phúc Lợi"),
        "Phường Phúc Lợi"
    );
}

#[test]
fn the_body_is_the_paragraphs_not_the_footer_and_its_boxes_are_removed() {
    let paragraph = "Sáng ngày 2/3/2023, phường tổ chức hội nghị với sự tham gia của đại biểu các ban, ngành, đoàn thể.";
    let page = |n: usize| {
        format!(
            r##"<html><body><div class="detail"><h1 class="tieu-de">Tin số {n}</h1><span class="ngay">Ngày đăng: 02/03/2023 08:15</span>
<div class="noi-dung"><p>{paragraph}</p><p>{paragraph}</p><div class="share-tools"><a href="#">Chia sẻ</a></div><p>{paragraph}</p></div></div>
<footer><div class="box"><p>Địa chỉ: số 1, đường Nguyễn Văn Cừ, Long Biên, Hà Nội, điện thoại 024.3875.2310, thư điện tử.</p><p>Cơ quan chủ quản: UBND phường, chịu trách nhiệm chính: ông A, bà B, ông C, bà D.</p><p>Ghi rõ nguồn khi phát hành lại thông tin từ trang này, bản quyền thuộc về UBND phường, 2023.</p><p>Đang truy cập: 28, tổng lượt truy cập: 528.968, cảm ơn quý vị, hẹn gặp lại, chúc sức khỏe.</p></div></footer></body></html>"##
        )
    };
    let docs: Vec<Html> = (1..=2).map(|n| Html::parse_document(&page(n))).collect();
    let titles = ["Tin số 1", "Tin số 2"];
    let samples: Vec<article::Sample<'_>> = docs
        .iter()
        .zip(titles)
        .map(|(doc, t)| article::Sample {
            doc,
            listing_title: Some(t),
        })
        .collect();
    let rules = article::analyze(&samples, &context());
    assert_eq!(rules.body.unwrap().rule, Rule::text("div.noi-dung"));
    assert_eq!(rules.remove, vec!["div.share-tools".to_owned()]);
    assert_eq!(rules.title.unwrap().rule, Rule::text("h1.tieu-de"));
    assert_eq!(
        rules.date.unwrap().rule.selector.as_deref(),
        Some("div.detail span.ngay")
    );
    assert!(rules.image.is_none());
}

#[test]
fn a_json_answer_gives_pointers_and_prefers_the_publication_time() {
    let answer: serde_json::Value = serde_json::from_str(
        r#"{"data": {"items": [
            {"id": 7, "slug": "tin-a", "title": "Tin A", "updatedAt": 1677900000000, "publishedAt": 1677800000000, "viewCount": 12, "sapo": "Tóm tắt A", "thumbnail": "/a.jpg"},
            {"id": 8, "slug": "tin-b", "title": "Tin B", "updatedAt": 1677900000000, "publishedAt": 1677700000000, "viewCount": 3, "sapo": "Tóm tắt B", "thumbnail": null}
        ]}}"#,
    )
    .unwrap();
    let endpoint = Url::parse("http://p.example/api/news?page=1").unwrap();
    let script = r#"html += '<a href="' + "/tin/" + it.slug + "-" + it.id + ".html" + '">';"#;
    let found = json::analyze(&answer, &endpoint, script, &context()).unwrap();
    assert_eq!(found.items, "/data/items");
    assert_eq!(found.date.unwrap().rule, Rule::pointer("/publishedAt"));
    assert_eq!(
        found.link.unwrap().rule,
        Rule::pointer("/tin/{slug}-{id}.html")
    );
    assert_eq!(found.views.unwrap().rule, Rule::pointer("/viewCount"));
    assert_eq!(
        found.paging,
        Some(("page_param".to_owned(), "page".to_owned()))
    );
    assert_eq!(found.links, vec!["/tin/tin-a-7.html", "/tin/tin-b-8.html"]);
}
