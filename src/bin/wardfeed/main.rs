//! The `wardfeed` binary: parse arguments, set up logging, run the command.
//!
//! Every command is the library's (`wardfeed::cli`) except `demo`, which needs the bundled
//! fixture world (the `wardfeed-portal` crate) that the library never links.

mod demo;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use wardfeed::cli::{self, LogFormatArg};

// Serving is allocation-heavy and per-request (hyper, headers); mimalloc keeps that cheap and
// returns memory to the system, which matters on a small server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "wardfeed",
    version,
    about = "Clean RSS, Atom and JSON feeds from ward and district portals"
)]
struct Args {
    /// Log format on stderr (default: text; plain when not on a terminal).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Library(cli::Command),
    /// Serve a bundled demo portal on loopback and run wardfeed against it: works offline.
    Demo(demo::DemoArgs),
}

/// Turns transparent huge pages off for this process (what `MIMALLOC_ALLOW_THP=0` does): with
/// them, the transient buffers of a big page (a 5 MB article, a 190,000-entry listing) stay
/// resident as 2 MiB pages. Measured on tests/hostile.rs in release: peak 266 MiB with them,
/// 160 MiB without (TESTING.md). A kernel that refuses is said in the log, nothing else changes.
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if result != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "could not turn transparent huge pages off; peak memory may be higher"
        );
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match &args.command {
        Command::Library(command) => command.config_path(),
        Command::Demo(demo) => demo.config.as_deref(),
    };
    init_tracing(cli::log_format(args.log_format, config));
    no_transparent_huge_pages();
    if !matches!(
        args.command,
        Command::Demo(_) | Command::Library(cli::Command::Run { .. })
    ) {
        end_quietly_on_a_closed_pipe();
    }
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
    runtime.block_on(async {
        match args.command {
            Command::Library(command) => cli::run(command).await,
            Command::Demo(demo) => demo::run(demo).await,
        }
    })
}

/// A one-shot command whose reader went away (`wardfeed items | head`) ends at once and quietly,
/// as `cat` does (killed by SIGPIPE, status 141 in a shell), instead of panicking on the write
/// with "Broken pipe". Rust ignores SIGPIPE by default; the daemon keeps ignoring it, so that
/// a closed log pipe or socket is an error it handles, never its end.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: called once, before any other thread exists (the runtime is not built yet).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Args;

    /// `--help` explains every option of every command: an admin never meets a bare flag.
    #[test]
    fn every_option_has_help_text() {
        let cli = Args::command();
        let mut bare = Vec::new();
        for command in std::iter::once(&cli).chain(cli.get_subcommands()) {
            assert!(command.get_about().is_some(), "{}", command.get_name());
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && !matches!(arg.get_id().as_str(), "help" | "version")
                {
                    bare.push(format!("{} {}", command.get_name(), arg.get_id()));
                }
            }
        }
        assert!(bare.is_empty(), "options without help: {bare:?}");
    }
}
