//! Extraction throughput over every listing and article page of the fixture world (both
//! snapshots), beside a bare `scraper` parse of the same text as the floor to compare with.
//!
//! Run: `cargo bench --bench extract`. Figures are recorded in BENCHMARKS.md.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use url::Url;
use wardfeed::config::{self, Config};
use wardfeed::normalize::date::DateContext;
use wardfeed::{extract, fetch, sanitize};

const BASE: &str = "http://127.0.0.1:8080";

struct Page {
    site: String,
    url: Url,
    text: String,
    is_listing: bool,
}

fn load_pages(config: &Config) -> Vec<Page> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/portal");
    let mut pages = Vec::new();
    for snapshot in ["s1", "s2"] {
        for source in &config.sources {
            let site = source.id.as_str();
            let dir = root.join(snapshot).join(site);
            for (folder, is_listing) in [("pages", true), ("articles", false)] {
                let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    // Listing pages are named <category>-p<N>.html; the rest of pages/ is chrome.
                    if is_listing && !name.contains("-p") {
                        continue;
                    }
                    let bytes = std::fs::read(entry.path()).expect("read fixture");
                    let site_base = format!("{BASE}/{site}");
                    let bytes = replace(&bytes, b"{{BASE}}", site_base.as_bytes());
                    let text = fetch::decode::html(&bytes, None, source.charset).text;
                    pages.push(Page {
                        site: site.to_owned(),
                        url: Url::parse(&format!("{site_base}/{folder}/{name}")).unwrap(),
                        text,
                        is_listing,
                    });
                }
            }
        }
    }
    pages
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fixtures.toml");
    let config = config::load(
        &path,
        &|name| (name == "FIXTURES_BASE").then(|| BASE.to_owned()),
        extract::check_rules,
    )
    .unwrap();
    let pages = load_pages(&config);
    let bytes: u64 = pages.iter().map(|p| p.text.len() as u64).sum();
    let listings = pages.iter().filter(|p| p.is_listing).count();
    eprintln!(
        "extract bench: {} pages ({listings} listings, {} articles), {:.2} MB",
        pages.len(),
        pages.len() - listings,
        bytes as f64 / 1e6
    );

    let mut group = c.benchmark_group("fixture_pages");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(20);
    let now = chrono::DateTime::parse_from_rfc3339("2023-03-06T08:00:00+07:00").unwrap();
    group.bench_function("wardfeed_extract", |b| {
        b.iter(|| {
            let mut produced = 0usize;
            for page in &pages {
                let source = config.source(&page.site).unwrap();
                let rules = extract::SiteRules::of(&source.rules);
                let dates = DateContext::new(source.timezone, now);
                if page.is_listing {
                    let listing = extract::listing(&page.text, &page.url, &rules.listing, &dates);
                    produced += listing.map(|l| l.entries.len()).unwrap_or(0);
                } else {
                    let article = extract::article(&page.text, &page.url, &rules.article, &dates);
                    if let Some(body) = article.body_html {
                        produced += sanitize::article_html(&body, &page.url).len();
                    }
                }
            }
            produced
        })
    });
    group.bench_function("scraper_parse_only", |b| {
        b.iter(|| {
            pages
                .iter()
                .map(|page| {
                    scraper::Html::parse_document(&page.text)
                        .tree
                        .nodes()
                        .count()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
