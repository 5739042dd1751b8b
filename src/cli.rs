//! The command line: argument types and one function per command. `main.rs` only parses,
//! sets up logging and calls `run`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::config::{self, Config};
use crate::fetch::Fetcher;
use crate::model::Item;
use crate::pipeline::{self, SourceScrape};

#[derive(Debug, Parser)]
#[command(
    name = "wardfeed",
    version,
    about = "Clean RSS, Atom and JSON feeds from ward and district portals"
)]
pub struct Cli {
    /// Log format on stderr (default: text; plain when not on a terminal).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration file and exit (non-zero with the located error).
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Fetch and extract every configured source once and print the items.
    Scrape {
        #[arg(long, short)]
        config: PathBuf,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Print one JSON array of items.
        #[arg(long)]
        json: bool,
    },
    /// Serve a bundled demo portal on loopback and scrape it: works offline.
    Demo,
}

/// Exit statuses: 0 success, 1 some source failed (partial results were still produced),
/// 2 bad configuration or arguments.
pub const EXIT_PARTIAL: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

/// Runs a command to completion.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Scrape {
            config,
            source,
            json,
        } => scrape(&config, source.as_deref(), json).await,
        Command::Demo => demo().await,
    }
}

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    config::load(path, &|name| std::env::var(name).ok()).map_err(|error| {
        eprintln!("wardfeed: {error}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn check(path: &Path) -> ExitCode {
    match load_config(path) {
        Ok(config) => {
            let groups: std::collections::BTreeSet<&str> =
                config.sources.iter().map(|s| s.group.as_str()).collect();
            println!(
                "{}: ok ({} sources in {} groups)",
                path.display(),
                config.sources.len(),
                groups.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn scrape(path: &Path, only: Option<&str>, json: bool) -> ExitCode {
    let config = match load_config(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let sources: Vec<_> = match only {
        Some(id) => match config.source(id) {
            Some(source) => vec![source.clone()],
            None => {
                eprintln!("wardfeed: no source {id:?} in {}", path.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => config
            .sources
            .iter()
            .filter(|s| s.enabled)
            .cloned()
            .collect(),
    };
    let fetcher = match Fetcher::new(&config.fetch) {
        Ok(fetcher) => fetcher,
        Err(error) => {
            eprintln!("wardfeed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let scrapes: Vec<SourceScrape> = futures_util::future::join_all(
        sources
            .iter()
            .map(|source| pipeline::scrape_source(&fetcher, source)),
    )
    .await;

    let mut any_failed = false;
    for scrape in &scrapes {
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
    let items: Vec<&Item> = scrapes.iter().flat_map(|s| &s.items).collect();
    let mut out = std::io::stdout().lock();
    let written = if json {
        let view: Vec<ItemJson> = items.iter().map(|item| ItemJson::from(*item)).collect();
        serde_json::to_writer_pretty(&mut out, &view)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out))
    } else {
        print_summary(&mut out, &scrapes)
    };
    if let Err(error) = written {
        eprintln!("wardfeed: write output: {error}");
        return ExitCode::FAILURE;
    }
    if any_failed {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    }
}

async fn demo() -> ExitCode {
    let portal = match crate::demo::snapshot(crate::demo::Moment::First) {
        Ok(snapshot) => crate::portal::PortalServer::start(snapshot).await,
        Err(error) => Err(error),
    };
    let portal = match portal {
        Ok(portal) => portal,
        Err(error) => {
            eprintln!("wardfeed: demo portal: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "demo portal serving five Long Biên sites at {}/",
        portal.base_url()
    );
    let config = match crate::demo::config(&portal.base_url(), &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("wardfeed: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let fetcher = match Fetcher::new(&config.fetch) {
        Ok(fetcher) => fetcher,
        Err(error) => {
            eprintln!("wardfeed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let scrapes: Vec<SourceScrape> = futures_util::future::join_all(
        config
            .sources
            .iter()
            .map(|source| pipeline::scrape_source(&fetcher, source)),
    )
    .await;
    for scrape in &scrapes {
        for failure in &scrape.failures {
            eprintln!(
                "wardfeed: {}: {}: {}",
                scrape.source, failure.category, failure.error
            );
        }
    }
    let result = print_summary(&mut std::io::stdout().lock(), &scrapes);
    portal.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wardfeed: write output: {error}");
            ExitCode::FAILURE
        }
    }
}

fn print_summary(out: &mut impl Write, scrapes: &[SourceScrape]) -> std::io::Result<()> {
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
            let when = item
                .published
                .map(|p| p.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "(no date)       ".into());
            writeln!(out, "  {when}  {}  <{}>", item.title, item.url)?;
        }
    }
    Ok(())
}

/// The JSON shape of `wardfeed scrape --json`: the extraction fields, times in RFC 3339.
#[derive(Debug, Serialize)]
pub struct ItemJson<'a> {
    pub source: &'a str,
    pub url: &'a str,
    pub title: &'a str,
    pub published: Option<String>,
    pub categories: &'a [String],
    pub views: Option<u64>,
    pub summary: Option<&'a str>,
    pub image: Option<&'a str>,
    pub content_html: Option<&'a str>,
}

impl<'a> From<&'a Item> for ItemJson<'a> {
    fn from(item: &'a Item) -> ItemJson<'a> {
        ItemJson {
            source: item.source.as_str(),
            url: &item.url,
            title: &item.title,
            published: item.published.map(|p| p.to_rfc3339()),
            categories: &item.categories,
            views: item.views,
            summary: item.summary.as_deref(),
            image: item.image.as_deref(),
            content_html: item.content_html.as_deref(),
        }
    }
}
