//! `wardfeed backup FILE` and `wardfeed restore FILE`: the store as one file, and back.
//!
//! While a daemon holds the store, `backup` asks it through the store's control socket (the
//! daemon takes the copy under its write lock); with no daemon, it reads a private copy of the
//! store itself. Either way the file is checked whole before it is put in place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::{CommandResult, Failure, load_config};
use crate::daemon::CONTROL_SOCKET;
use crate::store::{Store, check_backup};

/// The store directory and cache size a command names: `--store`, else the configuration's.
pub(super) fn store_dir(
    command: &str,
    config_path: Option<&Path>,
    store_dir: Option<&Path>,
) -> Result<(PathBuf, u64), Failure> {
    match (store_dir, config_path) {
        (Some(dir), Some(config)) => Ok((dir.to_owned(), load_config(config)?.store.cache_bytes)),
        (Some(dir), None) => Ok((dir.to_owned(), crate::config::DEFAULT_CACHE_BYTES)),
        (None, Some(config)) => {
            let config = load_config(config)?;
            Ok((config.store.path.clone(), config.store.cache_bytes))
        }
        (None, None) => Err(Failure::config(format!(
            "{command}: give --store DIR or --config FILE"
        ))),
    }
}

pub(super) async fn backup(
    config_path: Option<&Path>,
    store_dir_over: Option<&Path>,
    file: &Path,
) -> CommandResult {
    let (dir, cache_bytes) = store_dir("backup", config_path, store_dir_over)?;
    if !crate::store::holds_a_store(&dir) {
        return Err(Failure::runtime(format!(
            "{}: no store here (no database file)",
            dir.display()
        )));
    }
    let partial = partial_path(file);
    let from = match tokio::net::UnixStream::connect(dir.join(CONTROL_SOCKET)).await {
        Ok(stream) => {
            from_daemon(stream, &partial).await.inspect_err(|_| {
                let _ = std::fs::remove_file(&partial);
            })?;
            "the running daemon"
        }
        // No daemon answers (none runs, or it was killed and left its socket): read the
        // store itself (refused, with the reason, if a daemon holds it after all).
        Err(_) => {
            let store = Store::open_read_only(&dir, cache_bytes).map_err(Failure::runtime)?;
            let out = std::fs::File::create(&partial)
                .map_err(|e| Failure::runtime(format!("write {}: {e}", partial.display())))?;
            let written = tokio::task::spawn_blocking(move || store.backup(out))
                .await
                .map_err(Failure::runtime)?;
            if let Err(error) = written {
                let _ = std::fs::remove_file(&partial);
                return Err(Failure::runtime(error));
            }
            "the store (no daemon runs)"
        }
    };
    let summary = match check_backup(&partial) {
        Ok(summary) => summary,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(Failure::runtime(error));
        }
    };
    std::fs::rename(&partial, file)
        .map_err(|e| Failure::runtime(format!("write {}: {e}", file.display())))?;
    println!(
        "{}: backup of {} taken by {from}: {summary}",
        file.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Where a backup is written until it is checked: beside `file`.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    file.with_file_name(name)
}

/// Asks the daemon on `stream` for a backup and writes it to `partial`.
pub(super) async fn from_daemon(
    stream: tokio::net::UnixStream,
    partial: &Path,
) -> Result<(), Failure> {
    let (reader, mut writer) = stream.into_split();
    let daemon = |e: std::io::Error| Failure::runtime(format!("ask the running daemon: {e}"));
    writer.write_all(b"backup\n").await.map_err(daemon)?;
    let mut reader = tokio::io::BufReader::new(reader);
    let mut answer = String::new();
    reader.read_line(&mut answer).await.map_err(daemon)?;
    let answer = answer.trim_end();
    if let Some(error) = answer.strip_prefix("error: ") {
        return Err(Failure::runtime(format!(
            "the running daemon could not take the backup: {error}"
        )));
    }
    if !answer.starts_with("ok ") {
        return Err(Failure::runtime(format!(
            "the running daemon answered {answer:?} (is it an older wardfeed?)"
        )));
    }
    let mut out = tokio::fs::File::create(partial)
        .await
        .map_err(|e| Failure::runtime(format!("write {}: {e}", partial.display())))?;
    tokio::io::copy(&mut reader, &mut out)
        .await
        .map_err(|e| Failure::runtime(format!("receive the backup: {e}")))?;
    out.sync_all()
        .await
        .map_err(|e| Failure::runtime(format!("write {}: {e}", partial.display())))?;
    Ok(())
}

pub(super) fn restore(
    config_path: Option<&Path>,
    store_dir_over: Option<&Path>,
    file: &Path,
    force: bool,
) -> CommandResult {
    let (dir, _) = store_dir("restore", config_path, store_dir_over)?;
    let report = Store::restore(file, &dir, force).map_err(Failure::runtime)?;
    println!("{}: {report}", file.display());
    Ok(ExitCode::SUCCESS)
}
