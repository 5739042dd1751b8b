//! `wardfeed items`: what the ledger holds, per item or per story.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::scrape::{print_item, select_sources};
use super::{CommandResult, Failure, StoredItemJson, load_config, read_store, write_json};
use crate::model::SourceId;
use crate::store::{StoredItem, Story};

/// One story of the combined view.
#[derive(Debug, Serialize)]
struct StoryJson<'a> {
    title: &'a str,
    published: String,
    sources: Vec<StorySourceJson<'a>>,
}

#[derive(Debug, Serialize)]
struct StorySourceJson<'a> {
    source: &'a str,
    url: &'a str,
}

impl<'a> From<&'a Story> for StoryJson<'a> {
    fn from(story: &'a Story) -> StoryJson<'a> {
        StoryJson {
            title: story.title(),
            published: story.published().to_rfc3339(),
            sources: story
                .items
                .iter()
                .map(|i| StorySourceJson {
                    source: i.item.source.as_str(),
                    url: &i.item.url,
                })
                .collect(),
        }
    }
}

pub(super) async fn items(
    path: &Path,
    only: Option<&str>,
    combined: bool,
    json: bool,
    store_dir: Option<&Path>,
) -> CommandResult {
    let config = load_config(path)?;
    // Validates --source against the configuration (a stored source may have been removed
    // from it since; its items still show without --source).
    let wanted: Option<SourceId> = match only {
        Some(id) => Some(select_sources(&config, Some(id))?[0].id.clone()),
        None => None,
    };
    let store = read_store(&config, store_dir)?;
    let keep = |stored: &StoredItem| wanted.as_ref().is_none_or(|id| stored.item.source == *id);
    if combined {
        let stories = store
            .stories(keep)
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::runtime)?;
        if json {
            write_json(&stories.iter().map(StoryJson::from).collect::<Vec<_>>())?;
        } else {
            let mut out = std::io::stdout().lock();
            for story in &stories {
                let sources: Vec<&str> =
                    story.items.iter().map(|i| i.item.source.as_str()).collect();
                writeln!(
                    out,
                    "{}  {}  [{}]",
                    story.published().format("%Y-%m-%d %H:%M"),
                    story.title(),
                    sources.join(", ")
                )
                .map_err(|e| Failure::runtime(format!("write output: {e}")))?;
            }
        }
    } else {
        let items = match &wanted {
            Some(id) => store.source_items(id),
            None => store.items(),
        }
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::runtime)?;
        if json {
            write_json(&items.iter().map(StoredItemJson::from).collect::<Vec<_>>())?;
        } else {
            let mut out = std::io::stdout().lock();
            for stored in &items {
                print_item(&mut out, &stored.item)
                    .map_err(|e| Failure::runtime(format!("write output: {e}")))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
