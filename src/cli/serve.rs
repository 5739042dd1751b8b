//! `wardfeed run`: the daemon over a configuration file.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CommandResult, Failure};
use crate::clock::SystemClock;
use crate::config;
use crate::daemon::{self, Control, DaemonError, DaemonOptions};

fn failure(error: DaemonError) -> Failure {
    match error {
        DaemonError::Config(error) => Failure::config(error),
        other => Failure::runtime(other),
    }
}

pub(super) async fn run(
    path: &Path,
    listen: Option<SocketAddr>,
    store_dir: Option<&Path>,
) -> CommandResult {
    let path = path.to_owned();
    let options = DaemonOptions {
        load_config: Arc::new(move || {
            config::load(
                &path,
                &|name| std::env::var(name).ok(),
                crate::extract::check_rules,
            )
        }),
        listen,
        store: store_dir.map(Path::to_owned),
        clock: Arc::new(SystemClock),
    };
    daemon(options).await
}

pub(super) async fn daemon(options: DaemonOptions) -> CommandResult {
    let controls =
        signal_controls().map_err(|e| Failure::runtime(format!("listen for signals: {e}")))?;
    daemon::run(options, None, controls)
        .await
        .map_err(failure)?;
    Ok(ExitCode::SUCCESS)
}

/// The process's signals as the daemon's controls: SIGHUP reloads, SIGTERM and SIGINT stop.
/// A second SIGTERM or SIGINT while stopping ends the process at once (status 128 + the
/// signal's number: 130 for Ctrl-C), without waiting for what stopping still waits for; the
/// store stays consistent (every write is a transaction, and the engine's commits are atomic).
fn signal_controls() -> std::io::Result<tokio::sync::mpsc::Receiver<Control>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (sender, controls) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut stopping = false;
        loop {
            let (control, name, number) = tokio::select! {
                _ = hangup.recv() => (Control::Reload, "SIGHUP", libc::SIGHUP),
                _ = terminate.recv() => (Control::Stop, "SIGTERM", libc::SIGTERM),
                _ = interrupt.recv() => (Control::Stop, "SIGINT", libc::SIGINT),
            };
            if control == Control::Stop {
                if stopping {
                    tracing::warn!(
                        signal = name,
                        "second stop signal while stopping: exiting at once"
                    );
                    std::process::exit(128 + number);
                }
                stopping = true;
                tracing::info!(
                    signal = name,
                    "stop signal: stopping (a second one exits at once)"
                );
            }
            if sender.send(control).await.is_err() {
                return;
            }
        }
    });
    Ok(controls)
}
