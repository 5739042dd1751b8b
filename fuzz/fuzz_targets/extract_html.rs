//! HTML extraction with the fixture world's two templates, then sanitising.
//!
//! config/fixtures.toml is loaded once; each input (lossy UTF-8) goes through `extract::listing`
//! and `extract::article` with the rules of "phucloi" (PORTAL template) and "phucdong" (LEGACY,
//! DotNetNuke), and every body found through `sanitize::article_html`, as the pipeline does.
//! Properties: never panics; every link, image and next page extracted is http(s); dates carry
//! the source zone's offset; titles are clean text; a sanitised body has nothing executable
//! (no script element or `<script` tag, no event handler, no `javascript:` URL).

#![no_main]

mod common;

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use url::Url;
use wardfeed::config::{self, Source};
use wardfeed::extract::{self, SiteRules};
use wardfeed::normalize::date::DateContext;
use wardfeed::sanitize;

struct Site {
    source: Arc<Source>,
    listing_url: Url,
    article_url: Url,
}

static SITES: LazyLock<Vec<Site>> = LazyLock::new(|| {
    let text = include_str!("../../config/fixtures.toml");
    let config = config::parse(
        text,
        "fixtures.toml",
        &|name| (name == "FIXTURES_BASE").then(|| common::FIXTURES_BASE.to_owned()),
        extract::check_rules,
    )
    .expect("config/fixtures.toml loads");
    let site = |id: &str, listing: &str, article: &str| {
        let source = config
            .source(id)
            .unwrap_or_else(|| panic!("source {id} in config/fixtures.toml"))
            .clone();
        let page = |path: &str| Url::parse(&format!("{}/{id}{path}", common::FIXTURES_BASE));
        Site {
            listing_url: page(listing).expect("valid listing URL"),
            article_url: page(article).expect("valid article URL"),
            source,
        }
    };
    vec![
        site(
            "phucloi",
            "/tin-tuc/tin-moi-nhat?page=2",
            "/tin-tuc/chi-tiet/le-giao-nhan-quan-nam-2022-1009.html",
        ),
        site(
            "phucdong",
            "/Default.aspx?tabid=118",
            "/Default.aspx?tabid=118&ArticleID=3532",
        ),
    ]
});

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    for site in SITES.iter() {
        let rules = SiteRules::of(&site.source.rules);
        let tz = site.source.timezone;
        let dates = DateContext::new(tz, *common::NOW);

        if let Ok(page) = extract::listing(&html, &site.listing_url, &rules.listing, &dates) {
            for entry in &page.entries {
                common::assert_followable("entry link", &entry.link);
                if let Some(image) = &entry.image {
                    common::assert_followable("entry image", image);
                }
                if let Some(published) = &entry.published {
                    common::assert_date_in_bounds(published, tz);
                }
                for text in [&entry.title, &entry.category, &entry.summary]
                    .into_iter()
                    .flatten()
                {
                    common::assert_clean(text);
                    assert!(!text.is_empty(), "an empty field is None, not \"\"");
                }
            }
            if let Some(next) = &page.next {
                common::assert_followable("next page", next);
            }
        }

        let article = extract::article(&html, &site.article_url, &rules.article, &dates);
        if let Some(title) = &article.title {
            common::assert_clean(title);
        }
        if let Some(published) = &article.published {
            common::assert_date_in_bounds(published, tz);
        }
        if let Some(image) = &article.image {
            common::assert_followable("article image", image);
        }
        if let Some(base) = &article.base {
            common::assert_followable("article base", base);
        }
        if let Some(body) = &article.body_html {
            let base = article.base.as_ref().unwrap_or(&site.article_url);
            common::assert_safe_html(&sanitize::article_html(body, base));
        }
    }
});
