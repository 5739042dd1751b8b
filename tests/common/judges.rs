//! Running the external feed judges (`tests/judges/judge-feed`): finding a Python that has
//! feedparser and jsonschema, checking the tools are there, and reading the verdict.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `scripts/test.sh` puts a virtual environment with feedparser and jsonschema when no
/// interpreter on the machine has them and no package manager may install them.
pub fn judges_venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/judges-venv")
}

fn has_judge_modules(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import feedparser, jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The interpreter the judges run with: `JUDGE_PYTHON` when set, else the first of `python3`
/// on PATH, the system's `/usr/bin/python3` and `/usr/local/bin/python3`, and
/// `scripts/test.sh`'s venv that can import feedparser and jsonschema. A `python3` first on PATH
/// without them (a pyenv one, say) is passed over rather than failing every feed.
pub fn judge_python() -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os("JUDGE_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let candidates = [
        PathBuf::from("python3"),
        PathBuf::from("/usr/bin/python3"),
        PathBuf::from("/usr/local/bin/python3"),
        judges_venv().join("bin/python3"),
    ];
    candidates
        .iter()
        .find(|python| has_judge_modules(python))
        .cloned()
        .ok_or_else(|| {
            format!(
                "no Python with feedparser and jsonschema among {candidates:?}: run \
                 scripts/test.sh (it installs them), or set JUDGE_PYTHON"
            )
        })
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the judges are to run: false (said on stderr) when `WARDFEED_SKIP_JUDGES` is set.
/// Otherwise every tool they need must be there, or this panics naming what to install.
pub fn judges_wanted() -> bool {
    if std::env::var_os("WARDFEED_SKIP_JUDGES").is_some() {
        eprintln!("WARDFEED_SKIP_JUDGES set: judges not run");
        return false;
    }
    let missing: Vec<&str> = ["xmllint", "newsboat", "curl"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    assert!(
        missing.is_empty(),
        "the judges need {missing:?}: run scripts/test.sh, which installs them (or set \
         WARDFEED_SKIP_JUDGES=1 knowingly)"
    );
    true
}

/// Runs the judges on `urls`, each needing at least `min_entries` entries, and asserts that
/// every one passed; returns the report.
pub async fn judge_feeds(urls: &[String], min_entries: usize) -> String {
    let python = judge_python().unwrap_or_else(|message| panic!("{message}"));
    let judge = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/judges/judge-feed");
    let output = tokio::process::Command::new("bash")
        .arg(&judge)
        .args(urls)
        .env("JUDGE_PYTHON", &python)
        .env("JUDGE_MIN_ENTRIES", min_entries.to_string())
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "judges failed (Python: {}):\n{report}\n{}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report
            .trim_end()
            .ends_with(&format!("{} passed, 0 failed", urls.len())),
        "{report}"
    );
    report
}
