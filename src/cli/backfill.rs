//! `wardfeed backfill`: a category's whole archive taken once (or every listing of a source),
//! page after page past `max_pages`, resumable after a kill (see `pipeline::backfill`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::progress::Progress;
use super::{CommandResult, Failure, load_config, open_store};
use crate::clock::Clock;
use crate::config::CategoryKind;
use crate::fetch::Crawler;
use crate::normalize::date::in_zone;
use crate::pipeline::{self, BackfillStep};

pub(super) async fn backfill(
    path: &Path,
    source_id: &str,
    category: Option<&str>,
    since: Option<&str>,
    store_dir: Option<&Path>,
) -> CommandResult {
    let config = load_config(path)?;
    let source = config.source(source_id).cloned().ok_or_else(|| {
        Failure::config(format!(
            "no source {source_id:?} in {}",
            config.path.display()
        ))
    })?;
    let since = since
        .map(|text| {
            crate::normalize::date::parse_datetime(text, source.timezone, &[]).map_err(|_| {
                Failure::config(format!(
                    "--since: not a date: {text:?} (use 2023-01-30 or RFC 3339)"
                ))
            })
        })
        .transpose()?;
    // One category, or every listing of the source (a feed keeps only its newest entries).
    let categories: Vec<String> = match category {
        Some(slug) => vec![slug.to_owned()],
        None => source
            .categories
            .iter()
            .filter(|c| !matches!(c.kind, CategoryKind::Feed(_)))
            .map(|c| c.slug.clone())
            .collect(),
    };
    let crawler = Crawler::new(&config.fetch).map_err(Failure::runtime)?;
    // A backfill adds to the ledger the daemon (or `scrape --once`) made; it never makes one,
    // so a mistyped --store is not a new, empty store filled with one ward's archive.
    let store_path = store_dir.unwrap_or(&config.store.path);
    if !crate::store::holds_a_store(store_path) {
        return Err(Failure::runtime(format!(
            "{}: no store here (no database file); `wardfeed scrape --once` or the daemon creates it, then backfill",
            store_path.display()
        )));
    }
    let store = Arc::new(open_store(&config, store_dir)?);
    let now = in_zone(crate::clock::SystemClock.now(), source.timezone);
    for slug in categories {
        // The number of pages is not known before the end: the bar counts up.
        let progress = Progress::start("backfill", 0);
        let mut step = |step: &BackfillStep| {
            progress.advance(&format!(
                "{}/{slug}: page {}, {} items, {} new{}",
                source.id,
                step.page,
                step.items,
                step.new,
                if step.older > 0 {
                    format!(", {} older than --since left out", step.older)
                } else {
                    String::new()
                }
            ));
        };
        let result =
            pipeline::backfill(&crawler, &store, &source, &slug, since, now, &mut step).await;
        progress.finish();
        let report = result.map_err(Failure::runtime)?;
        for warning in &report.warnings {
            eprintln!(
                "warning: {} ({}): {}",
                warning.field, warning.url, warning.message
            );
        }
        println!(
            "{}/{slug}: {} pages{}, {} items, {} new{}{}",
            source.id,
            report.pages,
            if report.resumed {
                " (went on from where an earlier run stopped)"
            } else {
                ""
            },
            report.items,
            report.new,
            if report.older > 0 {
                format!(", {} older than --since left out", report.older)
            } else {
                String::new()
            },
            if report.undated > 0 {
                format!(
                    "; {} without a date of their own sort as first seen now",
                    report.undated
                )
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
