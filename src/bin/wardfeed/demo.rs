//! `wardfeed demo`: the fixture world embedded in the binary, served on loopback, and the
//! daemon against it — offline, with no configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use wardfeed::clock::ShiftedClock;
use wardfeed::config::{self, Config, ConfigError};
use wardfeed::daemon::DaemonOptions;
use wardfeed_portal::PortalServer;
use wardfeed_portal::demo::{self, Moment};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address to listen on (default: a free port on 127.0.0.1).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Store directory (default: a temporary one, removed at exit).
    #[arg(long)]
    store: Option<PathBuf>,
    /// A configuration to run instead of the built-in one; `${FIXTURES_BASE}` points at
    /// the demo portal.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

pub async fn run(args: DemoArgs) -> ExitCode {
    let portal = match demo::snapshot(Moment::First) {
        Ok(snapshot) => PortalServer::start(snapshot).await,
        Err(error) => Err(error),
    };
    let portal = match portal {
        Ok(portal) => portal,
        Err(error) => {
            eprintln!("wardfeed: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "demo portal: five Long Biên sites as of 6 Feb 2023, at {}/",
        portal.base_url()
    );
    let scratch;
    let store = match args.store {
        Some(dir) => dir,
        None => match tempfile::Builder::new().prefix("wardfeed-demo-").tempdir() {
            Ok(dir) => {
                scratch = dir;
                scratch.path().to_owned()
            }
            Err(error) => {
                eprintln!("wardfeed: create the demo's store directory: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let start = chrono::DateTime::parse_from_rfc3339(demo::FIRST_MOMENT)
        .map_or_else(|_| chrono::Utc::now(), |t| t.to_utc());
    let base = portal.base_url();
    let file = args.config;
    let options = DaemonOptions {
        load_config: Arc::new(move || load(&base, file.as_deref())),
        // A free port unless told otherwise, so a demo never collides with a running daemon.
        listen: Some(
            args.listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        ),
        store: Some(store),
        // The demo's "now" is the fixture world's, so ages and weekly charts read as they did.
        clock: Arc::new(ShiftedClock::starting_at(start)),
    };
    let status = wardfeed::cli::run_daemon(options).await;
    portal.shutdown().await;
    status
}

/// The demo's configuration (`file`, else the built-in one) with `${FIXTURES_BASE}` at the
/// demo portal; other variables resolve from the environment (`WARDFEED_STORE` and friends).
fn load(portal_base: &str, file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
    let lookup = |name: &str| {
        if name == demo::BASE_VARIABLE {
            Some(portal_base.to_owned())
        } else {
            std::env::var(name).ok()
        }
    };
    match file {
        Some(path) => config::load(path, &lookup, wardfeed::extract::check_rules),
        None => config::parse(
            demo::CONFIG_TEXT,
            "(built-in demo config)",
            &lookup,
            wardfeed::extract::check_rules,
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_configuration_loads_with_every_fixture_site() {
        let config = super::load("http://127.0.0.1:1", None).unwrap();
        assert_eq!(config.sources.len(), 5);
    }
}
