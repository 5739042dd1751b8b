//! `wardfeed scrape` (extract once, optionally store) and `wardfeed demo`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::progress::Progress;
use super::{CommandResult, EXIT_PARTIAL, Failure, ItemJson, load_config, open_store, write_json};
use crate::clock::Clock;
use crate::config::{Config, Source};
use crate::fetch::Crawler;
use crate::model::Item;
use crate::normalize::date::in_zone;
use crate::pipeline::{self, SourceScrape};
use crate::store::Store;

/// The sources a command works on: one by id, or every enabled one.
pub(super) fn select_sources(
    config: &Config,
    only: Option<&str>,
) -> Result<Vec<Arc<Source>>, Failure> {
    match only {
        Some(id) => config
            .source(id)
            .map(|source| vec![Arc::clone(source)])
            .ok_or_else(|| {
                Failure::config(format!("no source {id:?} in {}", config.path.display()))
            }),
        None => Ok(config
            .sources
            .iter()
            .filter(|s| s.enabled)
            .cloned()
            .collect()),
    }
}

pub(super) async fn scrape(
    path: &Path,
    only: Option<&str>,
    json: bool,
    once: bool,
    store_dir: Option<&Path>,
) -> CommandResult {
    let config = load_config(path)?;
    let sources = select_sources(&config, only)?;
    let crawler = Crawler::new(&config.fetch).map_err(Failure::runtime)?;
    let scrapes = if once {
        let store = Arc::new(open_store(&config, store_dir)?);
        // A refresh revalidates with what earlier cycles kept: unchanged pages come back as
        // 304s.
        refresh_all(&crawler, &store, &sources, &crate::clock::SystemClock).await?
    } else {
        let now = crate::clock::SystemClock.now();
        let progress = Progress::start("scrape", sources.len() as u64);
        let scrapes = futures_util::future::join_all(sources.iter().map(|source| async {
            let scrape =
                pipeline::scrape_source(&crawler, source, in_zone(now, source.timezone)).await;
            progress.advance(&step(&scrape));
            scrape
        }))
        .await;
        progress.finish();
        scrapes
    };
    let any_failed = report_problems(&scrapes);
    if json {
        let items: Vec<ItemJson> = scrapes
            .iter()
            .flat_map(|s| &s.items)
            .map(ItemJson::from)
            .collect();
        write_json(&items)?;
    } else {
        print_summary(&scrapes).map_err(|e| Failure::runtime(format!("write output: {e}")))?;
    }
    Ok(if any_failed {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}

/// One full cycle over `sources`, concurrently; fails only if the store does.
async fn refresh_all(
    crawler: &Crawler,
    store: &Arc<Store>,
    sources: &[Arc<Source>],
    clock: &dyn Clock,
) -> Result<Vec<SourceScrape>, Failure> {
    let progress = Progress::start("scrape", sources.len() as u64);
    let refreshes = futures_util::future::join_all(sources.iter().map(|source| {
        let now = in_zone(clock.now(), source.timezone);
        let progress = &progress;
        async move {
            let refresh = pipeline::refresh(crawler, store, source, now).await;
            match &refresh {
                Ok(refresh) => progress.advance(&format!(
                    "{}, {} new",
                    step(&refresh.scrape),
                    refresh.ingest.new.len()
                )),
                Err(error) => progress.advance(&format!("{}: {error}", source.id)),
            }
            refresh
        }
    }))
    .await;
    progress.finish();
    refreshes
        .into_iter()
        .map(|r| r.map(|refresh| refresh.scrape).map_err(Failure::runtime))
        .collect()
}

/// A source's scrape in a few words, for the progress of a run.
fn step(scrape: &SourceScrape) -> String {
    format!(
        "{}: {} items, {} failed listings",
        scrape.source,
        scrape.items.len(),
        scrape.failures.len()
    )
}

/// Prints listing failures and item warnings to stderr; returns whether any listing failed.
fn report_problems(scrapes: &[SourceScrape]) -> bool {
    let mut any_failed = false;
    for scrape in scrapes {
        for failure in &scrape.failures {
            any_failed = true;
            eprintln!(
                "wardfeed: {}: {}: {}",
                scrape.source, failure.category, failure.error
            );
        }
        for warning in &scrape.warnings {
            eprintln!("wardfeed: {}: warning: {warning}", scrape.source);
        }
    }
    any_failed
}

fn print_summary(scrapes: &[SourceScrape]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for scrape in scrapes {
        writeln!(
            out,
            "{}: {} items, {} listing failures, {} warnings",
            scrape.source,
            scrape.items.len(),
            scrape.failures.len(),
            scrape.warnings.len()
        )?;
        for item in &scrape.items {
            print_item(&mut out, item)?;
        }
    }
    Ok(())
}

pub(super) fn print_item(out: &mut impl Write, item: &Item) -> std::io::Result<()> {
    let when = item
        .published
        .map(|p| p.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "(no date)       ".into());
    writeln!(out, "  {when}  {}  <{}>", item.title, item.url)
}
