//! `wardfeed verify`: is the store whole? And `--repair`: what of a damaged one can be saved.

use std::path::Path;
use std::process::ExitCode;

use super::{CommandResult, Failure, load_config};
use crate::store::Store;

pub(super) fn verify(
    config_path: Option<&Path>,
    store_dir: Option<&Path>,
    repair: Option<&Path>,
) -> CommandResult {
    let (path, cache_bytes) = match (store_dir, config_path) {
        (Some(dir), config) => (
            dir.to_owned(),
            match config {
                Some(config) => load_config(config)?.store.cache_bytes,
                None => crate::config::DEFAULT_CACHE_BYTES,
            },
        ),
        (None, Some(config)) => {
            let config = load_config(config)?;
            (config.store.path.clone(), config.store.cache_bytes)
        }
        (None, None) => return Err(Failure::config("verify: give --store DIR or --config FILE")),
    };
    if let Some(into) = repair {
        let (_, report) = Store::salvage(&path, into, cache_bytes).map_err(Failure::runtime)?;
        println!("{}: {report}", path.display());
        println!(
            "To use it: stop wardfeed, move {} aside (keep it until you are sure), move {} to its place, start wardfeed.",
            path.display(),
            into.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open_read_only(&path, cache_bytes).map_err(Failure::runtime)?;
    let report = store.verify().map_err(Failure::runtime)?;
    if !report.problems.is_empty() {
        for problem in &report.problems {
            eprintln!("{}: {problem}", path.display());
        }
        return Err(Failure::runtime(format!(
            "store {} is inconsistent ({} problems above): salvage it with `wardfeed verify --store {} --repair NEW_DIR`",
            path.display(),
            report.problems.len(),
            path.display()
        )));
    }
    println!(
        "{}: whole — {} items in {} stories, {} sources' health, {} incidents, {} cached pages; generation {}, as its manifest records",
        path.display(),
        report.items,
        report.stories,
        report.sources_with_health,
        report.incidents,
        report.pages,
        report.generation
    );
    Ok(ExitCode::SUCCESS)
}
