//! The `wardfeed` binary: parse arguments, set up logging, run the command.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wardfeed::cli::{Cli, LogFormatArg, run};

// Serving is allocation-heavy and per-request (hyper, headers); mimalloc keeps that cheap and
// returns memory to the system, which matters on a small server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wardfeed: start async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

/// Logs go to stderr: plain text without colours unless stderr is a terminal (the journal
/// stores escape codes verbatim), or JSON lines; `RUST_LOG` overrides the default level.
fn init_tracing(format: LogFormatArg) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormatArg::Json => builder.json().init(),
        LogFormatArg::Text => builder.init(),
    }
}
