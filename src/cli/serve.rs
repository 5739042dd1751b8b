//! `wardfeed run`: the HTTP server over the ledger.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::scrape::{refresh_all, select_sources};
use super::{CommandResult, Failure, load_config, open_store};
use crate::clock::SystemClock;
use crate::fetch::Fetcher;
use crate::serve::{self, AppState};

pub(super) async fn run(
    path: &Path,
    listen: Option<SocketAddr>,
    store_dir: Option<&Path>,
) -> CommandResult {
    let config = load_config(path)?;
    let store = Arc::new(open_store(&config, store_dir)?);
    let listen = listen.unwrap_or(config.server.listen);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::runtime(format!("bind {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(Failure::runtime)?;
    let public = config.server.public_url.as_ref().map_or_else(
        || format!("http://{bound}"),
        |u| u.as_str().trim_end_matches('/').to_owned(),
    );
    let fetcher = Fetcher::new(&config.fetch).map_err(Failure::runtime)?;
    let sources = select_sources(&config, None)?;
    let state = Arc::new(AppState::new(
        Arc::new(config),
        Arc::clone(&store),
        public.clone(),
        Arc::new(SystemClock),
    ));
    tracing::info!(listen = %bound, url = %public, "serving");
    println!("dashboard: {public}/\nfeeds:     {public}/feeds/all.atom\nopml:      {public}/opml");

    // One refresh of every source at start, in the background: the server answers from the
    // ledger meanwhile.
    tokio::spawn(async move {
        if let Err(failure) = refresh_all(&fetcher, &store, &sources).await {
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
