//! `wardfeed run` (the daemon) and `wardfeed demo` (the daemon against the bundled demo portal).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CommandResult, Failure};
use crate::clock::{ShiftedClock, SystemClock};
use crate::daemon::{self, ConfigOrigin, DaemonError, DaemonOptions};

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
    let options = DaemonOptions {
        origin: ConfigOrigin::File(path.to_owned()),
        listen,
        store: store_dir.map(Path::to_owned),
        clock: Arc::new(SystemClock),
    };
    daemon::run(options, None).await.map_err(failure)?;
    Ok(ExitCode::SUCCESS)
}

/// `wardfeed demo`: the fixture world embedded in the binary, served on loopback, and the
/// daemon against it — offline, with no configuration. `config` replaces the built-in one
/// (its `${FIXTURES_BASE}` then points at the demo portal).
pub(super) async fn demo(
    listen: Option<SocketAddr>,
    store_dir: Option<&Path>,
    config_path: Option<&Path>,
) -> CommandResult {
    let snapshot = crate::demo::snapshot(crate::demo::Moment::First).map_err(Failure::runtime)?;
    let portal = crate::portal::PortalServer::start(snapshot)
        .await
        .map_err(Failure::runtime)?;
    println!(
        "demo portal: five Long Biên sites as of 6 Feb 2023, at {}/",
        portal.base_url()
    );
    let scratch;
    let store = match store_dir {
        Some(dir) => dir.to_owned(),
        None => {
            scratch = tempfile::Builder::new()
                .prefix("wardfeed-demo-")
                .tempdir()
                .map_err(Failure::runtime)?;
            scratch.path().to_owned()
        }
    };
    // The demo's "now" is the fixture world's, so ages and weekly charts read as they did then.
    let start = chrono::DateTime::parse_from_rfc3339("2023-02-06T08:00:00+07:00")
        .map_or_else(|_| chrono::Utc::now(), |t| t.to_utc());
    let options = DaemonOptions {
        origin: ConfigOrigin::Demo {
            portal_base: portal.base_url(),
            file: config_path.map(Path::to_owned),
        },
        // A free port unless told otherwise, so a demo never collides with a running daemon.
        listen: Some(listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))),
        store: Some(store),
        clock: Arc::new(ShiftedClock::starting_at(start)),
    };
    let result = daemon::run(options, None).await;
    portal.shutdown().await;
    result.map_err(failure)?;
    Ok(ExitCode::SUCCESS)
}
