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

/// Turns transparent huge pages off for this process: with them (on a kernel set to use them
/// always), the transient buffers of a big page (a 5 MB article, a 190,000-entry listing) stay
/// resident as 2 MiB pages. Measured on tests/hostile.rs in release under mimalloc (the
/// allocator then): peak 266 MiB with them, 160 MiB without (TESTING.md). A kernel that
/// refuses is said in the log, nothing else changes.
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

/// glibc's malloc settings the daemon starts with, each unless the environment sets it
/// (`MALLOC_ARENA_MAX`…, or `GLIBC_TUNABLES=glibc.malloc.…`): `(mallopt parameter, value,
/// variable, tunable)`. The fixture world after serving every feed: 33–34 MiB resident with
/// these, 87–99 MiB with glibc's defaults, 47–51 MiB with mimalloc (the allocator before);
/// 10,000 sources peak at ~142 MiB, 191 MiB with mimalloc (BENCHMARKS.md, "The fixture world
/// within 40 MB").
/// Two heaps ("arenas") instead of up to eight a core: each thread that allocates may otherwise
/// get one of its own, and every heap keeps what its threads freed. A fixed mmap threshold: a
/// buffer of 1 MiB or more (a large page, a big feed body) is mapped on its own and goes back
/// to the system when freed; by default glibc raises the threshold after such a free (up to
/// 32 MiB), and large transient buffers then stay in a heap (setting it also fixes the trim
/// threshold at glibc's 128 KiB, which otherwise moves with it). A lower threshold (64 KiB) held
/// no less but doubled the dashboard's first render at 2,000 sources (buffers of 64 KiB to
/// 1 MiB were then mapped and faulted afresh on each use).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_SETTINGS: [(libc::c_int, libc::c_int, &str, &str); 2] = [
    (
        libc::M_ARENA_MAX,
        2,
        "MALLOC_ARENA_MAX",
        "glibc.malloc.arena_max",
    ),
    (
        libc::M_MMAP_THRESHOLD,
        1024 * 1024,
        "MALLOC_MMAP_THRESHOLD_",
        "glibc.malloc.mmap_threshold",
    ),
];

/// The settings of `MALLOC_SETTINGS` that the environment (`variable`) leaves to us.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_settings_to_apply(
    variable: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Vec<(libc::c_int, libc::c_int, &'static str)> {
    let tunables = variable("GLIBC_TUNABLES")
        .map(|value| value.to_string_lossy().into_owned())
        .unwrap_or_default();
    MALLOC_SETTINGS
        .iter()
        .filter(|(_, _, name, tunable)| {
            variable(name).is_none()
                && !tunables
                    .split(':')
                    .any(|pair| pair.split('=').next() == Some(*tunable))
        })
        .map(|&(parameter, value, name, _)| (parameter, value, name))
        .collect()
}

/// Applies `MALLOC_SETTINGS`; one glibc refuses is said in the log, nothing else changes.
/// Called before the runtime starts any thread: glibc fixes its limit of heaps once a second
/// thread allocates.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    for (parameter, value, name) in malloc_settings_to_apply(|name| std::env::var_os(name)) {
        // SAFETY: mallopt takes two integers; nothing else runs yet.
        if unsafe { libc::mallopt(parameter, value) } != 1 {
            tracing::warn!(
                setting = name,
                value,
                "glibc refused a malloc setting; memory use may be higher"
            );
        }
    }
}

/// Other C libraries' allocators are left as they are.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match &args.command {
        Command::Library(command) => command.config_path(),
        Command::Demo(demo) => demo.config.as_deref(),
    };
    init_tracing(cli::log_format(args.log_format, config));
    tune_malloc();
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

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn malloc_settings_yield_to_the_environment() {
        use super::malloc_settings_to_apply;
        let names = |environment: &[(&str, &str)]| -> Vec<&'static str> {
            malloc_settings_to_apply(|name| {
                environment
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.into())
            })
            .into_iter()
            .map(|(_, _, name)| name)
            .collect()
        };
        let all = ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"];
        assert_eq!(names(&[]), all);
        assert_eq!(
            names(&[("MALLOC_ARENA_MAX", "8")]),
            ["MALLOC_MMAP_THRESHOLD_"]
        );
        assert_eq!(
            names(&[(
                "GLIBC_TUNABLES",
                "glibc.malloc.tcache_count=0:glibc.malloc.mmap_threshold=1048576"
            )]),
            ["MALLOC_ARENA_MAX"]
        );
        // A tunable named only as a prefix of ours is another one.
        assert_eq!(
            names(&[("GLIBC_TUNABLES", "glibc.malloc.arena_max_x=1")]),
            all
        );
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
