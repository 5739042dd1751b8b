//! `wardfeed run` (the HTTP server over the ledger) and `wardfeed demo` (the same, against the
//! bundled demo portal).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::scrape::{refresh_all, select_sources};
use super::{CommandResult, Failure, load_config, open_store};
use crate::clock::{Clock, ShiftedClock, SystemClock};
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::serve::{self, AppState};
use crate::store::Store;

pub(super) async fn run(
    path: &Path,
    listen: Option<SocketAddr>,
    store_dir: Option<&Path>,
) -> CommandResult {
    let config = load_config(path)?;
    let store = Arc::new(open_store(&config, store_dir)?);
    serve_ledger(config, store, listen, Arc::new(SystemClock)).await
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
    let lookup = |name: &str| std::env::var(name).ok();
    let mut config = match config_path {
        Some(path) => {
            let base = portal.base_url();
            let lookup = move |name: &str| {
                if name == "FIXTURES_BASE" {
                    Some(base.clone())
                } else {
                    std::env::var(name).ok()
                }
            };
            crate::config::load(path, &lookup).map_err(Failure::config)?
        }
        None => crate::demo::config(&portal.base_url(), &lookup).map_err(Failure::config)?,
    };
    if listen.is_none() {
        // A free port, so a demo never collides with a running daemon.
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    }
    let scratch;
    let store_path = match store_dir {
        Some(dir) => dir.to_owned(),
        None => {
            scratch = tempfile::Builder::new()
                .prefix("wardfeed-demo-")
                .tempdir()
                .map_err(Failure::runtime)?;
            scratch.path().to_owned()
        }
    };
    let store = Arc::new(
        Store::open_with_cache(&store_path, config.store.cache_bytes).map_err(Failure::runtime)?,
    );
    println!(
        "demo portal: five Long Biên sites as of 6 Feb 2023, at {}/",
        portal.base_url()
    );
    // The demo's "now" is the fixture world's: ages and weekly charts read as they did then.
    let start = chrono::DateTime::parse_from_rfc3339("2023-02-06T08:00:00+07:00")
        .map_or_else(|_| chrono::Utc::now(), |t| t.to_utc());
    let result = serve_ledger(
        config,
        store,
        listen,
        Arc::new(ShiftedClock::starting_at(start)),
    )
    .await;
    portal.shutdown().await;
    result
}

/// Binds, serves the ledger and refreshes every source once in the background, until SIGINT
/// or SIGTERM.
async fn serve_ledger(
    config: Config,
    store: Arc<Store>,
    listen: Option<SocketAddr>,
    clock: Arc<dyn Clock>,
) -> CommandResult {
    let listen = listen.unwrap_or(config.server.listen);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::runtime(format!("bind {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(Failure::runtime)?;
    let public = config
        .server
        .public_url
        .as_ref()
        .filter(|_| listen.port() != 0)
        .map_or_else(
            || format!("http://{bound}"),
            |u| u.as_str().trim_end_matches('/').to_owned(),
        );
    let fetcher = Fetcher::new(&config.fetch).map_err(Failure::runtime)?;
    let sources = select_sources(&config, None)?;
    let state = Arc::new(AppState::new(
        Arc::new(config),
        Arc::clone(&store),
        public.clone(),
        Arc::clone(&clock),
    ));
    tracing::info!(listen = %bound, url = %public, "serving");
    println!(
        "dashboard:   {public}/\ncombined:    {public}/feeds/all.atom\nopml:        {public}/opml"
    );

    // One refresh of every source at start, in the background: the server answers from the
    // ledger meanwhile.
    tokio::spawn(async move {
        if let Err(failure) = refresh_all(&fetcher, &store, &sources, clock.as_ref()).await {
            tracing::error!(error = %failure.message, "refresh at start failed");
        }
    });
    serve::run(listener, state, shutdown_signal())
        .await
        .map_err(|e| Failure::runtime(format!("serve: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
pub(super) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::error!(error = %error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
