//! The `wardfeed` binary: `check` locates configuration errors, `scrape --json` prints items
//! and reports failing sources through stderr and its exit status.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::Value;
use tokio::process::Command;

fn wardfeed() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wardfeed"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "error");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn check_reports_a_bad_line_as_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wardfeed.toml");
    let good =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"))
            .unwrap();
    let bad = good.replacen(
        r#"summary = "td.tdTitle span.Summary""#,
        r#"summary = "td.tdTitle span..Summary""#,
        1,
    );
    assert_ne!(good, bad);
    std::fs::write(&path, &bad).unwrap();
    let line = bad
        .lines()
        .position(|l| l.contains("span..Summary"))
        .unwrap()
        + 1;

    let output = wardfeed()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let expected = format!(
        "wardfeed: {}:{line}:11: sources.thachban.listing.summary: invalid CSS selector \"td.tdTitle span..Summary\"",
        path.display()
    );
    assert!(
        stderr(&output).starts_with(&expected),
        "{}\nwanted: {expected}",
        stderr(&output)
    );
}

#[tokio::test]
async fn check_reports_every_mistake_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wardfeed.toml");
    let good =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"))
            .unwrap();
    let mut bad = good.clone();
    for (from, to) in [
        // A misspelt key, a cron hour past 23, a bad selector, an unused group, a bad listen.
        (
            "\ndrop_query_params = [\"sid\"]",
            "\ndrop_query_parms = [\"sid\"]",
        ),
        (
            "schedule = \"0 */20 * * * *\"",
            "schedule = \"0 */30 25 * * *\"",
        ),
        (
            "summary = \"td.tdTitle span.Summary\"",
            "summary = \"td.tdTitle span..Summary\"",
        ),
        ("[groups.longbien]", "[groups.longbein]"),
        (
            "listen = \"${WARDFEED_LISTEN:-127.0.0.1:8080}\"",
            "listen = \"localhost\"",
        ),
    ] {
        assert_eq!(bad.matches(from).count(), 1, "{from}");
        bad = bad.replace(from, to);
    }
    std::fs::write(&path, &bad).unwrap();
    let output = wardfeed()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        format!("wardfeed: 5 errors in {}:", path.display()),
        "{stderr}"
    );
    let file = path.display().to_string();
    let line_of = |text: &str| bad.lines().position(|l| l.contains(text)).unwrap() + 1;
    for (text, key, says) in [
        (
            "listen = \"localhost\"",
            "server.listen",
            "invalid listen address",
        ),
        (
            "0 */30 25",
            "templates.portal.schedule",
            "hour 25 is out of range: use 0 to 23",
        ),
        (
            "[groups.longbein]",
            "groups.longbein",
            "no source is in group",
        ),
        (
            "drop_query_parms",
            "sources.thachban.drop_query_parms",
            "did you mean `drop_query_params`?",
        ),
        (
            "span..Summary",
            "sources.thachban.listing.summary",
            "invalid CSS selector",
        ),
    ] {
        let prefix = format!("{file}:{}:", line_of(text));
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix)
                && l.contains(&format!(": {key}: "))
                && l.contains(says)),
            "no `{prefix}… {key}: …{says}…` in:\n{stderr}"
        );
    }
    assert_eq!(lines.len(), 6, "{stderr}");
}

#[tokio::test]
async fn check_accepts_the_example_and_names_a_missing_file() {
    let output = wardfeed()
        .args(["check", "--config", "config/example.toml"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = wardfeed()
        .args(["check", "--config", "no/such.toml"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("wardfeed: read config no/such.toml:"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_prints_every_item_and_flags_the_failing_source() {
    let server = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let output = wardfeed()
        .args(["scrape", "--json", "--config"])
        .arg(quick_config_file(dir.path()))
        .env("FIXTURES_BASE", server.base_url())
        .output()
        .await
        .unwrap();
    // bode's "Công tác Đảng" answers 500 in snapshot 1: exit 1, but every other item is printed.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let bode_category = format!(
        "{}/tin-tuc/chuyen-muc/cong-tac-dang",
        server.site_base("bode")
    );
    assert!(
        stderr(&output).contains(&format!(
            "wardfeed: bode: cong-tac-dang: fetch {bode_category}: HTTP 500"
        )),
        "{}",
        stderr(&output)
    );
    let items: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let expected: usize = SITES.iter().map(|site| truth("s1", site).len()).sum();
    assert_eq!(items.len(), expected);
    let fields: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = fields.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "categories",
            "content_html",
            "image",
            "published",
            "source",
            "summary",
            "title",
            "url",
            "views"
        ]
    );
    for item in &items {
        assert!(
            item["url"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
        if let Some(published) = item["published"].as_str() {
            assert!(published.ends_with("+07:00"), "{published}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_one_source_succeeds_with_exit_zero() {
    let server = serve("s2").await;
    let output = wardfeed()
        .args([
            "scrape",
            "--config",
            "config/fixtures.toml",
            "--source",
            "thachban",
            "--json",
        ])
        .env("FIXTURES_BASE", server.base_url())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let items: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(items.len(), truth("s2", "thachban").len());
    assert!(items.iter().all(|i| i["source"] == "thachban"));

    let output = wardfeed()
        .args([
            "scrape",
            "--config",
            "config/fixtures.toml",
            "--source",
            "nowhere",
        ])
        .env("FIXTURES_BASE", server.base_url())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_once_stores_and_items_prints_the_ledger() {
    let server = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = wardfeed()
        .args(["scrape", "--once", "--config"])
        .arg(quick_config_file(dir.path()))
        .arg("--store")
        .arg(&store)
        .env("FIXTURES_BASE", server.base_url())
        .output()
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "bode's 500 makes the cycle partial: {}",
        stderr(&output)
    );

    let output = wardfeed()
        .args([
            "items",
            "--config",
            "config/fixtures.toml",
            "--source",
            "phucloi",
            "--json",
            "--store",
        ])
        .arg(&store)
        .env("FIXTURES_BASE", server.base_url())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let items: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(items.len(), truth("s1", "phucloi").len());
    for item in &items {
        assert!(item["first_seen"].as_str().unwrap().ends_with("+07:00"));
        assert_eq!(item["updated"], Value::Null);
    }

    let output = wardfeed()
        .args([
            "items",
            "--config",
            "config/fixtures.toml",
            "--combined",
            "--json",
            "--store",
        ])
        .arg(&store)
        .env("FIXTURES_BASE", server.base_url())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let stories: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let truth = combined_truth("s1");
    assert_eq!(stories.len(), truth.len());
    for (story, want) in stories.iter().zip(&truth) {
        assert_eq!(story["title"], want.title.as_str());
        assert_eq!(story["published"], want.published.as_str());
        let sources: Vec<(String, String)> = story["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let site = s["source"].as_str().unwrap().to_owned();
                let path = url_path(&server, &site, s["url"].as_str().unwrap());
                (site, path)
            })
            .collect();
        let want: Vec<(String, String)> = want
            .sources
            .iter()
            .map(|s| (s.site.clone(), s.url_path.clone()))
            .collect();
        assert_eq!(sources, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_shows_items_and_names_what_is_wrong() {
    let server = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let config = quick_config_file(dir.path());
    let probe = |args: Vec<String>| {
        let mut command = wardfeed();
        command
            .arg("probe")
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("FIXTURES_BASE", server.base_url());
        command
    };
    let output = probe(vec!["--source".into(), "phucloi".into()])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("listing tin-moi-nhat: GET"), "{text}");
    assert!(
        text.contains("Phường Phúc Lợi – Khí thế và niềm tin bước vào năm mới 2023"),
        "{text}"
    );
    assert!(
        text.contains("views:   181") && text.contains("articles (the first 3)"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("0 problem(s)"), "{text}");

    let output = probe(vec![
        "--source".into(),
        "bode".into(),
        "--articles".into(),
        "0".into(),
    ])
    .output()
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1));
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(
        text.contains("no items (empty listing"),
        "bode's empty category is pointed out: {text}"
    );

    // A layout change: the listing no longer has its container.
    server
        .set_override(
            "phucloi",
            "/tin-tuc/tin-moi-nhat",
            wardfeed_portal::Override::Respond {
                status: 200,
                body: bytes::Bytes::from_static(
                    "<html><body><ul class=\"tin\"><li>Tin</li></ul></body></html>".as_bytes(),
                ),
                headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
            },
        )
        .unwrap();
    let output = probe(vec![
        "--source".into(),
        "phucloi".into(),
        "--articles".into(),
        "0".into(),
    ])
    .output()
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text.contains("listing container \"div.news-list\" not found"),
        "{text}"
    );

    // A new ward's page, tried with an existing template before any source is written.
    let page = format!("{}/Default.aspx?tabid=87", server.site_base("thachban"));
    let output = probe(vec![
        "--template".into(),
        "legacy".into(),
        page,
        "--articles".into(),
        "1".into(),
    ])
    .output()
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(
        text.contains("Hội nghị đại biểu nhân dân tổ dân phố số 13 năm 2023"),
        "windows-1258 decoded: {text}"
    );
}

/// Runs `wardfeed` with `args` (and the fixture world's base) to completion.
async fn run_wardfeed(server: &wardfeed_portal::PortalServer, args: &[&std::ffi::OsStr]) -> Output {
    wardfeed()
        .args(args)
        .env("FIXTURES_BASE", server.base_url())
        .output()
        .await
        .unwrap()
}

/// A store's files: names, sizes and modification times.
fn files_of(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// `verify` says a store is whole; `items` reads it without writing to it (a read-only mount
/// of it, where this test may mount); a store gone back in time stops `run`, `items` and `verify`,
/// naming it and the way out; `verify --repair` salvages it into a new store that works
/// (issue 12, findings 1, 3 and 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_stops_every_command_and_verify_repairs_it() {
    let server = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let config = quick_config_file(dir.path());
    let os = |s: &str| std::ffi::OsStr::new(s).to_owned();
    let scrape_once = || async {
        run_wardfeed(
            &server,
            &[
                &os("scrape"),
                &os("--once"),
                &os("--config"),
                config.as_os_str(),
                &os("--store"),
                store.as_os_str(),
            ],
        )
        .await
    };
    let output = scrape_once().await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    let verify = |store: &Path| {
        let store = store.to_owned();
        let server = &server;
        async move { run_wardfeed(server, &[&os("verify"), &os("--store"), store.as_os_str()]).await }
    };
    let output = verify(&store).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        said.contains(": whole — 1") && said.contains("as its manifest records"),
        "{said}"
    );

    let items = |store: &Path| {
        let store = store.to_owned();
        let server = &server;
        async move {
            run_wardfeed(
                server,
                &[
                    &os("items"),
                    &os("--config"),
                    &os("config/fixtures.toml"),
                    &os("--json"),
                    &os("--store"),
                    store.as_os_str(),
                ],
            )
            .await
        }
    };
    let before = files_of(&store);
    let output = items(&store).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let all: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(all.len() > 100, "{}", all.len());
    assert_eq!(files_of(&store), before, "items wrote into the store");

    // On a read-only mount of the store, where mounting is possible (root).
    let read_only = dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    let bound = std::process::Command::new("mount")
        .args(["--bind"])
        .arg(&store)
        .arg(&read_only)
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&read_only)
            .status()
            .is_ok_and(|s| s.success());
    if bound {
        let output = items(&read_only).await;
        let _ = std::process::Command::new("umount")
            .arg(&read_only)
            .status();
        assert!(
            output.status.success(),
            "items on a read-only store: {}",
            stderr(&output)
        );
        let on_copy: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(on_copy.len(), all.len());
    } else {
        let _ = std::process::Command::new("umount")
            .arg(&read_only)
            .status();
        eprintln!("SKIPPED the read-only mount check: cannot bind-mount here (not root?)");
    }

    // The database put back as it was before a later refresh, under the manifest written
    // after it (a backup's file copied over a live store, a half-done restore). A file cut
    // short is refused the same way (the store's damage tests), but what the engine can
    // salvage from one depends on where its pages fell.
    let db = store.join(wardfeed::store::DB_FILE);
    let older = dir.path().join("older.redb");
    std::fs::copy(&db, &older).unwrap();
    let output = scrape_once().await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    std::fs::copy(&older, &db).unwrap();
    let damaged = format!("store {} is damaged: ", store.display());
    let way_out = format!(
        "wardfeed verify --store {} --repair NEW_DIR",
        store.display()
    );
    for output in [
        items(&store).await,
        verify(&store).await,
        run_wardfeed(
            &server,
            &[
                &os("run"),
                &os("--listen"),
                &os("127.0.0.1:0"),
                &os("--config"),
                config.as_os_str(),
                &os("--store"),
                store.as_os_str(),
            ],
        )
        .await,
    ] {
        let said = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{said}");
        assert!(said.contains(&damaged) && said.contains(&way_out), "{said}");
        assert!(
            output.stdout.is_empty()
                || !String::from_utf8_lossy(&output.stdout).contains("dashboard:")
        );
    }

    let salvaged = dir.path().join("salvaged");
    let output = run_wardfeed(
        &server,
        &[
            &os("verify"),
            &os("--store"),
            store.as_os_str(),
            &os("--repair"),
            salvaged.as_os_str(),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        said.contains(" items the store's manifest records ("),
        "{said}"
    );
    let output = items(&salvaged).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let kept: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        said.contains(&format!("salvaged {} of the {}", kept.len(), all.len())),
        "{said}"
    );
    assert!(verify(&salvaged).await.status.success());
}

/// `wardfeed sources --json` lists every configured source with its group, categories and the
/// feed addresses under the configured public URL.
#[tokio::test]
async fn sources_lists_ids_names_groups_categories_and_feed_urls() {
    let config = wardfeed_portal_free_config();
    let output = wardfeed()
        .args(["sources", "--json", "--config"])
        .arg(&config)
        .env("WARDFEED_PUBLIC_URL", "https://tin.example.vn")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    let loaded = wardfeed::config::load(
        &config,
        &|name| (name == "WARDFEED_PUBLIC_URL").then(|| "https://tin.example.vn".to_owned()),
        wardfeed::extract::check_rules,
    )
    .unwrap();
    assert_eq!(listed.len(), loaded.sources.len());
    assert!(!listed.is_empty());
    for (json, source) in listed.iter().zip(&loaded.sources) {
        assert_eq!(json["id"], source.id.as_str());
        assert_eq!(json["name"], source.name.as_str());
        assert_eq!(json["group"], source.group.as_str());
        assert_eq!(
            json["feeds"]["rss"],
            format!("https://tin.example.vn/feeds/{}.rss", source.id)
        );
        let slugs: Vec<&str> = json["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["slug"].as_str().unwrap())
            .collect();
        let configured: Vec<&str> = source.categories.iter().map(|c| c.slug.as_str()).collect();
        assert_eq!(slugs, configured);
        let first = &json["categories"][0];
        assert_eq!(
            first["feeds"]["atom"],
            format!(
                "https://tin.example.vn/feeds/{}/{}.atom",
                source.id, configured[0]
            )
        );
    }

    let text = wardfeed()
        .args(["sources", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8(text.stdout).unwrap();
    for source in &loaded.sources {
        assert!(
            text.contains(source.id.as_str()) && text.contains(&source.name),
            "{text}"
        );
    }
}

fn wardfeed_portal_free_config() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml")
}

/// A one-shot command whose reader has gone (`wardfeed sources | head -0`) ends quietly: no
/// "Broken pipe" panic on stderr; success or SIGPIPE's death, as `cat` does.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wardfeed"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "error")
        .args(["sources", "--config"])
        .arg(wardfeed_portal_free_config())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        output.status.success() || output.status.signal() == Some(libc_sigpipe()),
        "{:?}",
        output.status
    );
}

fn libc_sigpipe() -> i32 {
    13
}

/// Off a terminal (stderr is a pipe here), a long run reports its progress as plain log lines
/// — one per source done, counted — and never draws a bar: no escape code reaches the pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_off_a_terminal_is_plain_log_lines() {
    let server = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let output = wardfeed()
        .args(["scrape", "--once", "--config"])
        .arg(quick_config_file(dir.path()))
        .arg("--store")
        .arg(dir.path().join("store"))
        .env("FIXTURES_BASE", server.base_url())
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();
    let log = stderr(&output);
    assert!(
        !log.contains('\x1b') && !log.contains('\r'),
        "escape codes: {log:?}"
    );
    let sources = SITES.len();
    assert!(
        log.contains(&format!("scrape: starting, {sources} to do")),
        "{log}"
    );
    for done in 1..=sources {
        assert!(
            log.contains(&format!("scrape: {done}/{sources} done (")),
            "no line for {done}/{sources}: {log}"
        );
    }
    assert!(
        log.contains(&format!("scrape: finished, {sources}/{sources} done")),
        "{log}"
    );
}

/// On a terminal (a pseudo-terminal made by util-linux `script`), the same run draws a progress
/// bar instead of the plain lines — and on a terminal that cannot draw one (`TERM` unset, as
/// under `env -i` or some CI runners) it prints the plain lines, never nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_on_a_terminal_is_a_bar() {
    let server = serve("s1").await;
    let on_terminal = |term: Option<&'static str>| {
        let base = server.base_url();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let command = format!(
                "{} scrape --once --config {} --store {}",
                env!("CARGO_BIN_EXE_wardfeed"),
                quick_config_file(dir.path()).display(),
                dir.path().join("store").display()
            );
            let mut script = Command::new("script");
            script
                .args(["-qec", &command, "/dev/null"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("FIXTURES_BASE", base)
                .env("RUST_LOG", "info");
            match term {
                Some(term) => script.env("TERM", term),
                None => script.env_remove("TERM"),
            };
            let output = script.output().await.expect("util-linux script");
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    };
    let terminal = on_terminal(Some("xterm-256color")).await;
    assert!(terminal.contains("\u{1b}["), "no escape codes: {terminal}");
    assert!(terminal.contains("scrape ["), "no bar: {terminal}");
    assert!(
        !terminal.contains("scrape: starting"),
        "plain progress lines on a terminal: {terminal}"
    );
    let dumb = on_terminal(None).await;
    assert!(
        !dumb.contains("scrape ["),
        "a bar on a dumb terminal: {dumb}"
    );
    let sources = SITES.len();
    assert!(
        dumb.contains(&format!("scrape: finished, {sources}/{sources} done")),
        "no progress at all on a terminal without TERM: {dumb}"
    );
}
