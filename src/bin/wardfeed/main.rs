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

/// mimalloc's `mi_option_purge_delay` (its `mimalloc.h`, v2 and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory a burst freed goes back to the system at once, unless the environment says otherwise
/// (`MIMALLOC_PURGE_DELAY`, in ms). With a delay (mimalloc v3's default is 1 s) the purge waits
/// for the freeing thread's next allocation, so an idle daemon kept what its last burst had
/// used: the fixture world stayed at 147–214 MiB resident after serving every feed, 69–77 MiB
/// with this, for about twice the CPU in that allocation-heavy run (10× the page faults;
/// collecting on idle instead gave 82–138 MiB). BENCHMARKS.md, "Fixture world".
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option, before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
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
    let code = runtime.block_on(async {
        match args.command {
            Command::Library(command) => cli::run(command).await,
            Command::Demo(demo) => demo::run(demo).await,
        }
    });
    // Work a stop abandoned on a blocking thread (the extraction of a page whose refresh was
    // cancelled) is not waited for: its result is no longer wanted.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
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

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_names_so() {
        use super::MI_OPTION_PURGE_DELAY;
        use libmimalloc_sys::{mi_option_get, mi_option_use_numa_nodes};
        // mimalloc.h lists `purge_delay` right before `use_numa_nodes` (which the binding
        // names); its default is 1 s in mimalloc v3 (what the crate builds) unless the environment
        // set it.
        assert_eq!(MI_OPTION_PURGE_DELAY, mi_option_use_numa_nodes - 1);
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads one integer option.
            assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
            super::purge_freed_memory_at_once();
            // SAFETY: reads one integer option.
            assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, 0);
        }
    }

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
