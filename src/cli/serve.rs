//! `wardfeed run`: the daemon over a configuration file.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CommandResult, Failure};
use crate::clock::SystemClock;
use crate::config;
use crate::daemon::{self, DaemonError, DaemonOptions};

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
        load_config: Arc::new(move || config::load(&path, &|name| std::env::var(name).ok())),
        listen,
        store: store_dir.map(Path::to_owned),
        clock: Arc::new(SystemClock),
    };
    daemon(options).await
}

pub(super) async fn daemon(options: DaemonOptions) -> CommandResult {
    daemon::run(options, None).await.map_err(failure)?;
    Ok(ExitCode::SUCCESS)
}
