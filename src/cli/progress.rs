//! Progress of long work (the sources of `scrape`, `scrape --once`; `backfill` may use it):
//! a bar on stderr when stderr is a terminal, plain log lines otherwise (the journal, a pipe,
//! a file get no escape codes).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts `total` steps of one piece of work (`what`: "scrape", "backfill"); a total of 0
/// means not known beforehand (a backfill does not know how many pages a listing has).
pub struct Progress {
    what: &'static str,
    total: u64,
    done: AtomicU64,
    /// `None` when stderr is not a terminal: each step is then a log line.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar if stderr is a terminal that can draw one, else log lines. indicatif draws
    /// nothing on a terminal whose `TERM` is unset or `dumb`: that counts as no terminal,
    /// or the progress would vanish there.
    pub fn start(what: &'static str, total: u64) -> Progress {
        let drawable = !ProgressDrawTarget::stderr().is_hidden();
        Progress::new(what, total, std::io::stderr().is_terminal() && drawable)
    }

    fn new(what: &'static str, total: u64, terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(
                (total > 0).then_some(total),
                ProgressDrawTarget::stderr(),
            );
            let style = ProgressStyle::with_template(if total > 0 {
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}"
            } else {
                "{prefix} [{elapsed_precise}] {spinner} {pos} {msg}"
            })
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(what);
            bar
        });
        if bar.is_none() {
            tracing::info!(what, total, "{what}: starting, {total} to do");
        }
        Progress {
            what,
            total,
            done: AtomicU64::new(0),
            bar,
        }
    }

    /// One step done; `step` names it ("bode: 12 items").
    pub fn advance(&self, step: &str) {
        let done = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        match &self.bar {
            Some(bar) => {
                bar.set_message(step.to_owned());
                bar.inc(1);
            }
            None if self.total == 0 => {
                let what = self.what;
                tracing::info!(what, done, step, "{what}: {done} done ({step})");
            }
            None => {
                let (what, total) = (self.what, self.total);
                tracing::info!(
                    what,
                    done,
                    total,
                    step,
                    "{what}: {done}/{total} done ({step})"
                );
            }
        }
    }

    /// The work is over: the bar is cleared (what it counted is printed by the command).
    pub fn finish(&self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => {
                let (what, done, total) =
                    (self.what, self.done.load(Ordering::Acquire), self.total);
                tracing::info!(what, done, total, "{what}: finished, {done}/{total} done");
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Off a terminal there is no bar; the count still advances.
    #[test]
    fn off_a_terminal_progress_counts_without_a_bar() {
        let progress = Progress::new("scrape", 2, false);
        assert!(progress.bar.is_none());
        progress.advance("a");
        progress.advance("b");
        assert_eq!(progress.done.load(Ordering::Acquire), 2);
        progress.finish();
        let on_a_terminal = Progress::new("scrape", 2, true);
        assert!(on_a_terminal.bar.is_some());
    }
}
