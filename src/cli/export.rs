//! `wardfeed export DIR`: every document the server serves — each feed in RSS, Atom and JSON
//! Feed, both OPMLs, the dashboard, the feed stylesheet, and whatever they link under the
//! public URL — as static files, each with a `.gz` and a `.br` beside it, so that any web
//! server or CDN can serve them at the public URL.
//!
//! The documents are the server's own: the real router answers them in-process on loopback,
//! from the store read as `items` reads it (a private copy; while a daemon holds the store,
//! from a backup the daemon takes). Starting from the dashboard, the OPMLs, the stylesheet and
//! every configured feed, each document's links under the public URL are followed, so a page
//! the server adds later (archives) is exported too. A link that is not answered 200 is named
//! and makes the command fail; an address that only redirects is named (a static tree cannot
//! redirect without server configuration).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::{CommandResult, Failure, load_config};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::serve::{AppState, Site};
use crate::store::Store;

/// Marks a directory as an export, so that a later export may replace it.
const MARKER: &str = ".wardfeed-export";
/// Served paths that are live views, never snapshots.
const LIVE_ONLY: &[&str] = &["/healthz", "/metrics"];
/// The most documents one export writes (a bound against a link loop).
const MAX_DOCUMENTS: usize = 100_000;

pub(super) async fn export(
    config_path: &Path,
    store_dir: Option<&Path>,
    public_url: Option<&url::Url>,
    out: &Path,
) -> CommandResult {
    let config = load_config(config_path)?;
    let public = match public_url.or(config.server.public_url.as_ref()) {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => {
            return Err(Failure::config(
                "export: give --public-url URL (or set [server] public_url): the exported documents link to each other by absolute address, so they must know where they will be served",
            ));
        }
    };
    let store_path = store_dir.unwrap_or(&config.store.path).to_owned();
    let (store, _scratch) = open_for_export(&store_path, config.store.cache_bytes).await?;
    let staging = staging_dir(out)?;
    let report = write_tree(config, store, &public, staging.path()).await?;
    put_in_place(staging, out)?;
    for (path, location) in &report.redirects {
        eprintln!(
            "wardfeed: export: {path} redirects to {location}: not a file; serve that redirect yourself"
        );
    }
    for path in &report.left_out {
        eprintln!("wardfeed: export: {path} is a live view, not exported");
    }
    println!(
        "{}: {} documents for {public}/ ({} feeds), each with .gz and .br; {} bytes uncompressed",
        out.display(),
        report.documents,
        report.feeds,
        report.bytes
    );
    if !report.broken.is_empty() {
        for (path, status) in &report.broken {
            eprintln!("wardfeed: export: {path} is linked but answered {status}");
        }
        return Err(Failure::runtime(format!(
            "export: {} linked addresses are not served (above); the tree in {} lacks them",
            report.broken.len(),
            out.display()
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// The store to export: a private copy of it, or — while a daemon holds it — a backup the
/// daemon takes, restored into a temporary directory (kept alive by the returned guard).
async fn open_for_export(
    path: &Path,
    cache_bytes: u64,
) -> Result<(Store, Option<tempfile::TempDir>), Failure> {
    if !crate::store::holds_a_store(path) {
        return Err(Failure::runtime(format!(
            "{}: no store here (no database file)",
            path.display()
        )));
    }
    let Ok(stream) =
        tokio::net::UnixStream::connect(path.join(crate::daemon::CONTROL_SOCKET)).await
    else {
        let store = Store::open_read_only(path, cache_bytes).map_err(Failure::runtime)?;
        return Ok((store, None));
    };
    let scratch = tempfile::Builder::new()
        .prefix("wardfeed-export-")
        .tempdir()
        .map_err(|e| Failure::runtime(format!("make a temporary directory: {e}")))?;
    let file = scratch.path().join("store.backup");
    super::backup::from_daemon(stream, &file).await?;
    let restored = scratch.path().join("store");
    Store::restore(&file, &restored, false).map_err(Failure::runtime)?;
    let store = Store::open_with_cache(&restored, cache_bytes).map_err(Failure::runtime)?;
    tracing::info!(store = %path.display(), "exporting from a backup the running daemon took");
    Ok((store, Some(scratch)))
}

/// What an export wrote and met.
struct ExportReport {
    documents: usize,
    feeds: usize,
    bytes: u64,
    redirects: Vec<(String, String)>,
    broken: Vec<(String, u16)>,
    left_out: BTreeSet<String>,
}

/// The paths every export starts from: the server's fixed documents and every feed of the
/// configuration (sources, their categories, groups, the combined and incident feeds).
fn seeds(config: &Config) -> Vec<String> {
    let mut stems = vec!["all".to_owned()];
    let mut groups = BTreeSet::new();
    for source in &config.sources {
        stems.push(source.id.to_string());
        for category in &source.categories {
            stems.push(format!("{}/{}", source.id, category.slug));
        }
        groups.insert(source.group.clone());
    }
    stems.extend(groups.into_iter().map(|g| format!("group/{g}")));
    let mut paths: Vec<String> = ["/", "/opml", "/residents.opml", "/feed.xsl"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for stem in stems {
        for extension in ["rss", "atom", "json"] {
            paths.push(format!("/feeds/{stem}.{extension}"));
        }
    }
    // The incident feed is Atom only.
    paths.push("/feeds/incidents.atom".to_owned());
    paths
}

/// Serves `store` on loopback through the real router and writes every document reachable
/// from `seeds` into `dir`.
async fn write_tree(
    config: Config,
    store: Store,
    public: &str,
    dir: &Path,
) -> Result<ExportReport, Failure> {
    let seeds = seeds(&config);
    let state = Arc::new(AppState::new(
        Arc::new(config),
        Arc::new(store),
        public.to_owned(),
        Arc::new(SystemClock),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::runtime(format!("export: listen on loopback: {e}")))?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::runtime(format!("export: listen on loopback: {e}")))?;
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(crate::serve::run(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));
    let result = crawl(&format!("http://{address}"), public, seeds, dir).await;
    stop.cancel();
    let _ = server.await;
    result
}

async fn crawl(
    local: &str,
    public: &str,
    seeds: Vec<String>,
    dir: &Path,
) -> Result<ExportReport, Failure> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_proxy()
        .build()
        .map_err(Failure::runtime)?;
    let prefix = Site {
        base: public.to_owned(),
    }
    .stylesheet()
    .trim_end_matches("/feed.xsl")
    .to_owned();
    let links = regex::Regex::new(&format!(
        r#"(?:{}|(?:href|src)=["']{})(/[^"'<>\s?#]*)"#,
        regex::escape(public),
        regex::escape(&prefix)
    ))
    .map_err(Failure::runtime)?;
    let mut report = ExportReport {
        documents: 0,
        feeds: 0,
        bytes: 0,
        redirects: Vec::new(),
        broken: Vec::new(),
        left_out: BTreeSet::new(),
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    for path in seeds {
        if seen.insert(path.clone()) {
            queue.push_back(path);
        }
    }
    let mut written: BTreeMap<PathBuf, String> = BTreeMap::new();
    while let Some(path) = queue.pop_front() {
        if LIVE_ONLY.contains(&path.as_str()) {
            report.left_out.insert(path);
            continue;
        }
        if report.documents >= MAX_DOCUMENTS {
            return Err(Failure::runtime(format!(
                "export: more than {MAX_DOCUMENTS} documents linked: stopped (a link loop?)"
            )));
        }
        let response = client
            .get(format!("{local}{path}"))
            .send()
            .await
            .map_err(|e| Failure::runtime(format!("export: {path}: {e}")))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_owned();
            report.redirects.push((path, location));
            continue;
        }
        if status != reqwest::StatusCode::OK {
            report.broken.push((path, status.as_u16()));
            continue;
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::runtime(format!("export: {path}: {e}")))?;
        let file = file_for(dir, &path);
        if let Some(earlier) = written.insert(file.clone(), path.clone()) {
            return Err(Failure::runtime(format!(
                "export: {earlier} and {path} would both be the file {}",
                file.display()
            )));
        }
        write_with_compressed(&file, &body)
            .map_err(|e| Failure::runtime(format!("export: write {}: {e}", file.display())))?;
        report.documents += 1;
        report.bytes += body.len() as u64;
        if path.starts_with("/feeds/") {
            report.feeds += 1;
        }
        let text = String::from_utf8_lossy(&body);
        for found in links.captures_iter(&text) {
            let linked = found[1].to_owned();
            if seen.insert(linked.clone()) {
                queue.push_back(linked);
            }
        }
    }
    Ok(report)
}

/// The file a served path becomes: `/` and paths ending in `/` are `index.html` there.
fn file_for(dir: &Path, path: &str) -> PathBuf {
    let relative = path.trim_start_matches('/');
    if relative.is_empty() || relative.ends_with('/') {
        dir.join(relative).join("index.html")
    } else {
        dir.join(relative)
    }
}

/// Writes `body` to `file`, with `file.gz` (gzip, best) and `file.br` (brotli 9) beside.
fn write_with_compressed(file: &Path, body: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(file, body)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(body)?;
    std::fs::write(with_suffix(file, "gz"), gz.finish()?)?;
    let mut br = Vec::new();
    {
        // Quality 9, as the server's own: 11 takes seconds per large feed for a few % more.
        let mut writer = brotli::CompressorWriter::new(&mut br, 64 * 1024, 9, 22);
        writer.write_all(body)?;
    }
    std::fs::write(with_suffix(file, "br"), br)
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// A new directory beside `out` to build the tree in.
fn staging_dir(out: &Path) -> Result<tempfile::TempDir, Failure> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| Failure::runtime(format!("export: make {}: {e}", parent.display())))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.exporting-"))
        .tempdir_in(parent)
        .map_err(|e| Failure::runtime(format!("export: make a directory beside it: {e}")))?;
    std::fs::write(staging.path().join(MARKER), "made by wardfeed export\n")
        .map_err(|e| Failure::runtime(format!("export: write its marker: {e}")))?;
    Ok(staging)
}

/// Moves the finished tree to `out`. An `out` that holds an earlier export (its marker) is
/// replaced; one that holds anything else is refused (nothing of it is touched); an empty
/// one is used.
fn put_in_place(staging: tempfile::TempDir, out: &Path) -> Result<(), Failure> {
    let fail = |what: String| Failure::runtime(format!("export: {what}"));
    let mut old = None;
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(|e| fail(format!("read {}: {e}", out.display())))?
            .next()
            .is_none();
        if empty {
            std::fs::remove_dir(out).map_err(|e| fail(format!("{}: {e}", out.display())))?;
        } else if out.join(MARKER).exists() {
            let aside = with_suffix(out, "replaced");
            let _ = std::fs::remove_dir_all(&aside);
            std::fs::rename(out, &aside)
                .map_err(|e| fail(format!("move the earlier export aside: {e}")))?;
            old = Some(aside);
        } else {
            return Err(fail(format!(
                "{} is not empty and not an earlier export (no {MARKER}): refusing to replace it",
                out.display()
            )));
        }
    }
    let built = staging.keep();
    std::fs::rename(&built, out)
        .map_err(|e| fail(format!("move the tree to {}: {e}", out.display())))?;
    if let Some(old) = old {
        std::fs::remove_dir_all(&old)
            .map_err(|e| fail(format!("remove the earlier export {}: {e}", old.display())))?;
    }
    Ok(())
}
