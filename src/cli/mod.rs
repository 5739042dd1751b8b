//! The command line: argument types and one function per command. The binary only parses,
//! sets up logging and calls `run`.

mod backfill;
mod backup;
mod export;
mod ledger;
mod probe;
pub mod progress;
mod scrape;
mod serve;
mod sources;
mod suggest;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use crate::config::{self, Config};
use crate::model::Item;
use crate::store::{Store, StoredItem};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration file and exit (non-zero with the located error).
    Check {
        /// The configuration file (TOML; config/example.toml documents every key).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Fetch and extract every configured source once. Without --once nothing is stored.
    Scrape {
        /// The configuration file (TOML; config/example.toml documents every key).
        #[arg(long, short)]
        config: PathBuf,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Print one JSON array of the extracted items.
        #[arg(long)]
        json: bool,
        /// Run one full cycle (fetch, extract, store) and exit.
        #[arg(long)]
        once: bool,
        /// Store directory, instead of the config's [store] path.
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Take a category's whole archive once (every listing of the source without
    /// --category): page after page past max_pages, politely, each page stored before the next;
    /// killed, it goes on from the page it stopped at when run again.
    Backfill {
        /// The configuration file (TOML; config/example.toml documents every key).
        #[arg(long, short)]
        config: PathBuf,
        /// The source whose archive to take.
        #[arg(long)]
        source: String,
        /// Only this category (its slug).
        #[arg(long)]
        category: Option<String>,
        /// Stop at the first page whose dated items are all older than this (2023-01-30 or
        /// RFC 3339); older items are not stored.
        #[arg(long)]
        since: Option<String>,
        /// Store directory, instead of the config's [store] path.
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Print what the ledger holds.
    Items {
        /// The configuration file (TOML; config/example.toml documents every key).
        #[arg(long, short)]
        config: PathBuf,
        /// Only this source's items.
        #[arg(long)]
        source: Option<String>,
        /// One entry per story, cross-posts merged.
        #[arg(long)]
        combined: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Store directory, instead of the config's [store] path.
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Serve the feeds, the dashboard and the OPML over HTTP (scraping once at start).
    Run {
        /// The configuration file (TOML; config/example.toml documents every key).
        #[arg(long, short)]
        config: PathBuf,
        /// Address to listen on, instead of the config's [server] listen.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Store directory, instead of the config's [store] path.
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Fetch a source once (or a page, with a template) and show every extracted item with
    /// its warnings: for writing selectors for a new ward. Stores nothing.
    Probe {
        /// The configuration file (TOML; config/example.toml documents every key).
        #[arg(long, short)]
        config: PathBuf,
        /// The configured source to probe.
        #[arg(long, conflicts_with_all = ["template", "url"])]
        source: Option<String>,
        /// Read URL as a listing page with this template's rules.
        #[arg(long, requires = "url")]
        template: Option<String>,
        /// The listing page to probe with --template.
        url: Option<url::Url>,
        /// How many article pages to fetch and show.
        #[arg(long, default_value_t = 3)]
        articles: usize,
    },
    /// Propose a source for a portal from one of its listing pages (and a few of its
    /// articles): a TOML source on stdout, ready for `>> config.toml`; the confidence of every
    /// field, the warnings and a probe of the suggestion on stderr. Fetches politely, stores
    /// nothing.
    Suggest {
        /// A listing page of the portal (a news category), not its home page or an article.
        url: url::Url,
        /// An article page to learn the body from (repeatable); default: the listing's first 3.
        #[arg(long = "article", value_name = "URL")]
        articles: Vec<url::Url>,
        /// The source's display name; default: from the page title.
        #[arg(long)]
        name: Option<String>,
        /// The source id (permanent: it names the feeds); default: from the name.
        #[arg(long)]
        id: Option<String>,
        /// Write the selectors as this template (for other wards on the same portal software).
        #[arg(long)]
        template: Option<String>,
    },
    /// List the configured sources: ids, names, groups, categories and their feed addresses.
    Sources {
        /// The configuration file (TOML; config/example.toml documents every key).
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON (one array of sources, each with its categories and feed URLs).
        #[arg(long)]
        json: bool,
    },
    /// Check that the store is whole (every record read, checked against its manifest);
    /// with --repair, salvage what is readable of a damaged store into a new one. Writes
    /// nothing to the store itself.
    Verify {
        /// The configuration file, for its [store] path.
        #[arg(long, short, required_unless_present = "store")]
        config: Option<PathBuf>,
        /// Store directory, instead of the config's [store] path.
        #[arg(long)]
        store: Option<PathBuf>,
        /// A new directory to salvage the store's readable items, health and incidents into.
        #[arg(long, value_name = "NEW_DIR")]
        repair: Option<PathBuf>,
    },
    /// Write every feed (RSS, Atom, JSON Feed), both OPMLs, the dashboard and the feed
    /// stylesheet as static files in DIR, each with a .gz and a .br beside it, for any web
    /// server or CDN to serve at the public URL. Reads the store without writing to it (while
    /// the daemon runs, from a backup the daemon takes).
    Export {
        /// The configuration file (TOML; config/example.toml documents every key).
        #[arg(long, short)]
        config: PathBuf,
        /// Store directory, instead of the config's [store] path.
        #[arg(long)]
        store: Option<PathBuf>,
        /// Where DIR will be served, instead of the config's [server] public_url (one of the
        /// two is needed: the documents link to each other by absolute address).
        #[arg(long, value_name = "URL")]
        public_url: Option<url::Url>,
        /// The directory to write (replaced whole if it holds an earlier export; refused if it
        /// holds anything else).
        dir: PathBuf,
    },
    /// Write a consistent copy of the whole store to FILE. While the daemon runs, the daemon
    /// takes it (through the control socket in the store's directory); otherwise it is read
    /// from the store. Nothing is written to the store.
    Backup {
        /// The configuration file, for its [store] path.
        #[arg(long, short, required_unless_present = "store")]
        config: Option<PathBuf>,
        /// Store directory, instead of the config's [store] path.
        #[arg(long)]
        store: Option<PathBuf>,
        /// The backup file to write (checked whole before it replaces one already there).
        file: PathBuf,
    },
    /// Restore a backup made by `wardfeed backup` as the store. Refused while a daemon holds
    /// the store, and over an existing store unless --force.
    Restore {
        /// The configuration file, for its [store] path.
        #[arg(long, short, required_unless_present = "store")]
        config: Option<PathBuf>,
        /// Store directory, instead of the config's [store] path.
        #[arg(long)]
        store: Option<PathBuf>,
        /// Replace the store that is there (it is moved aside to DIR.replaced-TIME, not deleted).
        #[arg(long)]
        force: bool,
        /// The backup file to restore.
        file: PathBuf,
    },
}

impl Command {
    /// The configuration file the command reads, if it reads one.
    pub fn config_path(&self) -> Option<&Path> {
        match self {
            Command::Check { config }
            | Command::Scrape { config, .. }
            | Command::Backfill { config, .. }
            | Command::Items { config, .. }
            | Command::Run { config, .. }
            | Command::Probe { config, .. }
            | Command::Sources { config, .. }
            | Command::Export { config, .. } => Some(config),
            Command::Verify { config, .. }
            | Command::Backup { config, .. }
            | Command::Restore { config, .. } => config.as_deref(),
            Command::Suggest { .. } => None,
        }
    }
}

/// `explicit` (`--log-format`), else `config`'s `[log] format` (read leniently: a broken file
/// is reported properly once the command loads it), else text.
pub fn log_format(explicit: Option<LogFormatArg>, config: Option<&Path>) -> LogFormatArg {
    if let Some(format) = explicit {
        return format;
    }
    let configured = config
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| table.get("log")?.get("format")?.as_str().map(str::to_owned));
    match configured.as_deref() {
        Some("json") => LogFormatArg::Json,
        _ => LogFormatArg::Text,
    }
}

/// Exit statuses: 0 success, 1 some source failed (partial results were still produced),
/// 2 bad configuration or arguments.
pub const EXIT_PARTIAL: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

/// Runs a command to completion.
pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Check { config } => check(&config),
        Command::Scrape {
            config,
            source,
            json,
            once,
            store,
        } => scrape::scrape(&config, source.as_deref(), json, once, store.as_deref()).await,
        Command::Backfill {
            config,
            source,
            category,
            since,
            store,
        } => {
            backfill::backfill(
                &config,
                &source,
                category.as_deref(),
                since.as_deref(),
                store.as_deref(),
            )
            .await
        }
        Command::Items {
            config,
            source,
            combined,
            json,
            store,
        } => ledger::items(&config, source.as_deref(), combined, json, store.as_deref()).await,
        Command::Run {
            config,
            listen,
            store,
        } => serve::run(&config, listen, store.as_deref()).await,
        Command::Probe {
            config,
            source,
            template,
            url,
            articles,
        } => {
            let target = match (source, template, url) {
                (Some(id), _, _) => Some(probe::Target::Source(id)),
                (None, Some(template), Some(url)) => Some(probe::Target::Page { template, url }),
                _ => None,
            };
            match target {
                Some(target) => probe::probe(&config, target, articles).await,
                None => Err(Failure::config(
                    "probe: give --source ID, or --template NAME and a URL",
                )),
            }
        }
        Command::Sources { config, json } => sources::sources(&config, json),
        Command::Suggest {
            url,
            articles,
            name,
            id,
            template,
        } => suggest::suggest(&url, articles, name, id, template).await,
        Command::Verify {
            config,
            store,
            repair,
        } => verify::verify(config.as_deref(), store.as_deref(), repair.as_deref()),
        Command::Export {
            config,
            store,
            public_url,
            dir,
        } => export::export(&config, store.as_deref(), public_url.as_ref(), &dir).await,
        Command::Backup {
            config,
            store,
            file,
        } => backup::backup(config.as_deref(), store.as_deref(), &file).await,
        Command::Restore {
            config,
            store,
            force,
            file,
        } => backup::restore(config.as_deref(), store.as_deref(), &file, force),
    };
    exit(result)
}

/// Runs the daemon with `options` (as `wardfeed run` does): for a caller that has its own
/// configuration and clock, such as the binary's `demo`.
pub async fn run_daemon(options: crate::daemon::DaemonOptions) -> ExitCode {
    exit(serve::daemon(options).await)
}

fn exit(result: CommandResult) -> ExitCode {
    result.unwrap_or_else(|failure| {
        eprintln!("wardfeed: {}", failure.message);
        ExitCode::from(failure.code)
    })
}

/// A command's failure: what to print and the exit status.
pub(crate) struct Failure {
    pub(crate) message: String,
    code: u8,
}

impl Failure {
    fn config(error: impl std::fmt::Display) -> Failure {
        Failure {
            message: error.to_string(),
            code: EXIT_CONFIG,
        }
    }

    fn runtime(error: impl std::fmt::Display) -> Failure {
        Failure {
            message: error.to_string(),
            code: 1,
        }
    }
}

type CommandResult = Result<ExitCode, Failure>;

fn load_config(path: &Path) -> Result<Config, Failure> {
    config::load(
        path,
        &|name| std::env::var(name).ok(),
        crate::extract::check_rules,
    )
    .map_err(Failure::config)
}

/// Opens the store named by `--store`, else by the configuration, to write to it.
fn open_store(config: &Config, over: Option<&Path>) -> Result<Store, Failure> {
    Store::open_with_cache(over.unwrap_or(&config.store.path), config.store.cache_bytes)
        .map_err(Failure::runtime)
}

/// Opens the store named by `--store`, else by the configuration, only to read it: a private
/// copy is read, so that the store itself is never written (it may be a read-only backup).
fn read_store(config: &Config, over: Option<&Path>) -> Result<Store, Failure> {
    Store::open_read_only(over.unwrap_or(&config.store.path), config.store.cache_bytes)
        .map_err(Failure::runtime)
}

fn check(path: &Path) -> CommandResult {
    let config = load_config(path)?;
    let groups: std::collections::BTreeSet<&str> =
        config.sources.iter().map(|s| s.group.as_str()).collect();
    println!(
        "{}: ok ({} sources in {} groups)",
        path.display(),
        config.sources.len(),
        groups.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The JSON shape of an extracted item: the extraction fields, times in RFC 3339.
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

/// A ledger item: the extraction fields plus when it was first seen and last really updated.
#[derive(Debug, Serialize)]
pub struct StoredItemJson<'a> {
    #[serde(flatten)]
    pub item: ItemJson<'a>,
    pub first_seen: String,
    pub updated: Option<String>,
}

impl<'a> From<&'a StoredItem> for StoredItemJson<'a> {
    fn from(stored: &'a StoredItem) -> StoredItemJson<'a> {
        StoredItemJson {
            item: ItemJson::from(&stored.item),
            first_seen: stored.first_seen.to_rfc3339(),
            updated: stored.updated.map(|u| u.to_rfc3339()),
        }
    }
}

fn write_json(value: &impl Serialize) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::other)
        .and_then(|_| writeln!(out))
        .map_err(|e| Failure::runtime(format!("write output: {e}")))
}
