//! `wardfeed suggest URL`: a source proposed from a portal's listing page, printed as TOML on
//! stdout (so that `wardfeed suggest URL >> config.toml` works), with the confidence table,
//! the warnings and a probe of the suggested source on stderr.

use std::process::ExitCode;

use url::Url;

use super::{CommandResult, Failure};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, FetchSettings};
use crate::fetch::Crawler;
use crate::normalize::date::in_zone;
use crate::suggest::{self, Options};

/// How many article pages the preview probes.
const PREVIEW_ARTICLES: usize = 2;

pub(super) async fn suggest(
    url: &Url,
    articles: Vec<Url>,
    name: Option<String>,
    id: Option<String>,
    template: Option<String>,
) -> CommandResult {
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    if let Some(id) = &id {
        crate::model::SourceId::parse(id).map_err(Failure::config)?;
    }
    let options = Options {
        id,
        name,
        articles,
        template,
        tz,
        now: in_zone(SystemClock.now(), tz),
    };
    // The defaults every source gets: one request a second to the portal, robots.txt obeyed.
    let crawler = Crawler::new(&FetchSettings::default()).map_err(Failure::runtime)?;
    let suggestion = suggest::suggest(&crawler, url, &options)
        .await
        .map_err(Failure::runtime)?;
    let text = suggestion.toml();
    // What is printed must be what `wardfeed check` accepts.
    let config = config::parse(&text, "<suggestion>", &|_| None, crate::extract::check_rules).map_err(|e| {
        Failure::runtime(format!(
            "suggest {url}: the suggestion does not load ({e}); this is a bug in wardfeed, please report it with the page\n{text}"
        ))
    })?;
    eprint!("{}", suggestion.report());
    print!("{text}");
    if let Some(source) = config.sources.first() {
        let mut preview = String::new();
        let problems =
            super::probe::preview(&crawler, source, PREVIEW_ARTICLES, &mut preview).await;
        eprintln!("\npreview (what `wardfeed probe` shows for the suggestion):\n{preview}");
        if problems > 0 {
            return Ok(ExitCode::from(super::EXIT_PARTIAL));
        }
    }
    Ok(ExitCode::SUCCESS)
}
