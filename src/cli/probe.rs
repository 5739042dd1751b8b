//! `wardfeed probe`: fetch a source (or a page with a template) once and show every extracted
//! item with its warnings, to help an admin write selectors for a new ward.

use std::fmt::Write as _;
use std::process::ExitCode;

use url::Url;

use super::{CommandResult, Failure, load_config};
use crate::clock::{Clock, SystemClock};
use crate::config::{CategoryKind, Source};
use crate::extract::{self, FieldWarning};
use crate::fetch::Crawler;
use crate::ingest::{self, FeedRequest};
use crate::normalize::date::{DateContext, ParsedDate, in_zone};
use crate::pipeline::{ListingFormat, PageText};

/// What to probe.
pub(super) enum Target {
    Source(String),
    Page { template: String, url: Url },
}

pub(super) async fn probe(
    config_path: &std::path::Path,
    target: Target,
    articles: usize,
) -> CommandResult {
    let config = load_config(config_path)?;
    let source = match target {
        Target::Source(id) => (**config.source(&id).ok_or_else(|| {
            Failure::config(format!("no source {id:?} in {}", config_path.display()))
        })?)
        .clone(),
        Target::Page { template, url } => config
            .probe_source(&template, &url)
            .map_err(Failure::config)?,
    };
    let crawler = Crawler::new(&config.fetch).map_err(Failure::runtime)?;
    let mut out = String::new();
    let problems = preview(&crawler, &source, articles, &mut out).await;
    print!("{out}");
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_PARTIAL)
    })
}

/// Reads `source` once as probe shows it: every category's items with their warnings, then the
/// first `articles` article pages; the number of problems found.
pub(super) async fn preview(
    crawler: &Crawler,
    source: &Source,
    articles: usize,
    out: &mut String,
) -> usize {
    let mut problems = 0;
    let _ = writeln!(
        out,
        "probe {} ({}), base {}",
        source.id, source.name, source.base
    );
    let mut links = Vec::new();
    for category in &source.categories {
        match &category.kind {
            CategoryKind::Listing(url) => {
                problems += probe_listing(
                    crawler,
                    source,
                    &category.slug,
                    url,
                    ListingFormat::Html,
                    &mut links,
                    out,
                )
                .await;
            }
            CategoryKind::JsonListing(url) => {
                problems += probe_listing(
                    crawler,
                    source,
                    &category.slug,
                    url,
                    ListingFormat::Json,
                    &mut links,
                    out,
                )
                .await;
            }
            CategoryKind::Feed(url) => {
                problems += probe_feed(crawler, source, &category.slug, url, &mut links, out).await;
            }
        }
    }
    if source.fetch_articles && articles > 0 {
        let _ = writeln!(out, "\narticles (the first {articles}):");
        for link in links.iter().take(articles) {
            problems += probe_article(crawler, source, link, out).await;
        }
    }
    let _ = writeln!(out, "\n{problems} problem(s)");
    problems
}

fn warnings(warnings: &[FieldWarning], out: &mut String) -> usize {
    for warning in warnings {
        let _ = writeln!(out, "     warning: {}: {}", warning.field, warning.message);
    }
    warnings.len()
}

async fn probe_listing(
    crawler: &Crawler,
    source: &Source,
    slug: &str,
    url: &Url,
    format: ListingFormat,
    links: &mut Vec<Url>,
    out: &mut String,
) -> usize {
    let what = match format {
        ListingFormat::Html => "listing",
        ListingFormat::Json => "JSON listing",
    };
    let _ = write!(out, "\n{what} {slug}: GET {url} → ");
    let Some(fetched) = fetch(crawler, source, url, "   ", out).await else {
        return 1;
    };
    let Some(text) = page_text(&fetched, source, "   ", out) else {
        return 1;
    };
    let page = match crate::pipeline::listing_page(
        &text.html,
        &fetched.url,
        source,
        format,
        &dates(source),
    ) {
        Ok(page) => page,
        Err(error) => {
            let _ = writeln!(out, "{}\n   {error}", fetched.status);
            let hint = match format {
                ListingFormat::Html => "check `list` (and `item`) against the page's HTML",
                ListingFormat::Json => "check `json.items` against the endpoint's answer",
            };
            let _ = writeln!(out, "   hint: {hint}");
            return 1;
        }
    };
    let _ = writeln!(
        out,
        "{}, {} items ({} elements without a link skipped), next page: {}",
        fetched.status,
        page.entries.len(),
        page.skipped,
        page.next
            .as_ref()
            .map_or_else(|| "none".to_owned(), Url::to_string)
    );
    let mut problems = encoding_warning(&text, "   ", out);
    problems += warnings(&page.warnings, out);
    if page.entries.is_empty() {
        let _ = writeln!(
            out,
            "   warning: no items (empty listing, or `item` matches nothing)"
        );
        problems += 1;
    }
    for (i, entry) in page.entries.iter().enumerate() {
        let when = entry
            .published
            .map_or_else(|| "(no date)".to_owned(), shown_date);
        let _ = writeln!(
            out,
            "  {:>2}. {when}  {}",
            i + 1,
            entry.title.as_deref().unwrap_or("(no title)")
        );
        let _ = writeln!(out, "     link:    {}", entry.link);
        if let Some(views) = entry.views {
            let _ = writeln!(out, "     views:   {views}");
        }
        if let Some(image) = &entry.image {
            let _ = writeln!(out, "     image:   {image}");
        }
        if let Some(summary) = &entry.summary {
            let _ = writeln!(out, "     summary: {}", shorten(summary, 100));
        }
        problems += warnings(&entry.warnings, out);
        links.push(entry.link.clone());
    }
    problems
}

async fn probe_feed(
    crawler: &Crawler,
    source: &Source,
    slug: &str,
    url: &Url,
    links: &mut Vec<Url>,
    out: &mut String,
) -> usize {
    let _ = write!(out, "\nfeed {slug}: GET {url} → ");
    let Some(fetched) = fetch(crawler, source, url, "   ", out).await else {
        return 1;
    };
    let request = FeedRequest {
        url: &fetched.url,
        content_type: fetched.content_type.as_deref(),
        charset: source.charset,
        dates: dates(source),
    };
    let feed = match ingest::parse_feed(&fetched.body, &request) {
        Ok(feed) => feed,
        Err(error) => {
            let _ = writeln!(out, "{}\n   {error}", fetched.status);
            return 1;
        }
    };
    let _ = writeln!(
        out,
        "{}, {}{}, {} entries",
        fetched.status,
        feed.format,
        feed.title
            .as_deref()
            .map_or_else(String::new, |t| format!(" \"{t}\"")),
        feed.entries.len()
    );
    let mut problems = 0;
    for warning in &feed.warnings {
        let _ = writeln!(out, "   warning: {warning}");
        problems += 1;
    }
    if feed.entries.is_empty() {
        let _ = writeln!(out, "   warning: no entries (the feed is empty)");
        problems += 1;
    }
    let unidentified = feed
        .entries
        .iter()
        .filter(|e| e.link.is_none() && e.guid.is_none())
        .count();
    if unidentified > 0 {
        let warning = crate::pipeline::unidentified_warning(unidentified);
        let _ = writeln!(out, "   warning: {warning}");
        problems += 1;
    }
    for (i, entry) in feed.entries.iter().enumerate() {
        let when = entry
            .published
            .map_or_else(|| "(no date)".to_owned(), shown_date);
        let _ = writeln!(
            out,
            "  {:>2}. {when}  {}",
            i + 1,
            entry.title.as_deref().unwrap_or("(no title)")
        );
        match &entry.link {
            Some(link) => {
                let _ = writeln!(out, "     link:    {link}");
                links.push(link.clone());
            }
            None => {
                let _ = writeln!(out, "     link:    (none)");
            }
        }
        if let Some(guid) = &entry.guid {
            let _ = writeln!(out, "     guid:    {guid}");
        }
        problems += warnings(&entry.warnings, out);
    }
    problems
}

async fn probe_article(crawler: &Crawler, source: &Source, url: &Url, out: &mut String) -> usize {
    let _ = write!(out, "  GET {url} → ");
    let Some(fetched) = fetch(crawler, source, url, "     ", out).await else {
        return 1;
    };
    let Some(text) = page_text(&fetched, source, "     ", out) else {
        return 1;
    };
    let article = extract::article(
        &text.html,
        &fetched.url,
        &extract::SiteRules::of(&source.rules).article,
        &dates(source),
    );
    let _ = writeln!(out, "{}", fetched.status);
    let _ = writeln!(
        out,
        "     title:   {}",
        article.title.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(
        out,
        "     date:    {}",
        article
            .published
            .map_or_else(|| "(none)".to_owned(), |p| p.at.to_rfc3339())
    );
    let _ = writeln!(
        out,
        "     image:   {}",
        article
            .image
            .as_ref()
            .map_or_else(|| "(none)".to_owned(), Url::to_string)
    );
    match &article.body_html {
        Some(body) => {
            let text = extract::html_text(body);
            let _ = writeln!(
                out,
                "     body:    {} characters: {}",
                text.chars().count(),
                shorten(&text, 100)
            );
        }
        None => {
            let _ = writeln!(out, "     body:    (none)");
        }
    }
    encoding_warning(&text, "     ", out) + warnings(&article.warnings, out)
}

/// Fetches `url`, or says why not.
async fn fetch(
    crawler: &Crawler,
    source: &Source,
    url: &Url,
    indent: &str,
    out: &mut String,
) -> Option<crate::fetch::Fetched> {
    match crawler.get(source, url, None).await {
        Ok(fetched) => Some(fetched),
        Err(error) => {
            let _ = writeln!(out, "failed\n{indent}{error}");
            None
        }
    }
}

/// The page's text as the pipeline would read it (with any warning about its encoding), or
/// why it would not.
fn page_text(
    fetched: &crate::fetch::Fetched,
    source: &Source,
    indent: &str,
    out: &mut String,
) -> Option<PageText> {
    match crate::pipeline::page_text(fetched, source) {
        Ok(page) => Some(page),
        Err(error) => {
            let _ = writeln!(out, "{}\n{indent}{error}", fetched.status);
            None
        }
    }
}

/// The warning about a page's encoding, if there is one; how many problems that is.
fn encoding_warning(page: &PageText, indent: &str, out: &mut String) -> usize {
    match &page.warning {
        Some(warning) => {
            let _ = writeln!(out, "{indent}warning: encoding: {warning}");
            1
        }
        None => 0,
    }
}

/// A date as probe shows it: a date without a time says so (the article page may give one).
fn shown_date(date: ParsedDate) -> String {
    if date.has_time {
        date.at.to_rfc3339()
    } else {
        format!("{} (date only)", date.at.date_naive())
    }
}

/// Dates as the pipeline reads them: in the source's zone, relative ones from now.
fn dates(source: &Source) -> DateContext<'static> {
    DateContext::new(source.timezone, in_zone(SystemClock.now(), source.timezone))
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}
