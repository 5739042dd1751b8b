//! Only `wardfeed run` and `wardfeed scrape --once` create a store. Every other command, given
//! a store directory that does not exist, says so clearly (or never touches a store) and
//! leaves no directory behind: an `items` typed on a fresh server must not make a root-owned
//! `/var/lib/wardfeed`.

mod common;

use std::path::Path;

use common::*;
use tokio::process::Command;

fn wardfeed(config: &Path, store: &Path, portal: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wardfeed"));
    command
        .current_dir(config.parent().unwrap())
        .env("RUST_LOG", "error")
        .env("FIXTURES_BASE", portal)
        .env("WARDFEED_STORE", store);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_but_run_and_scrape_once_creates_a_store() {
    let portal = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let config = quick_config_file(dir.path());
    let store = dir.path().join("data").join("store");
    let out = dir.path().join("out");
    let arg = |path: &Path| path.to_str().unwrap().to_owned();
    // (arguments, whether the command reads the store, so must name it as missing)
    let commands: Vec<(Vec<String>, bool)> = vec![
        (vec!["check".into(), "-c".into(), arg(&config)], false),
        (vec!["sources".into(), "-c".into(), arg(&config)], false),
        (
            vec!["scrape".into(), "-c".into(), arg(&config), "--json".into()],
            false,
        ),
        (
            vec![
                "probe".into(),
                "-c".into(),
                arg(&config),
                "--source".into(),
                "bode".into(),
            ],
            false,
        ),
        (vec!["items".into(), "-c".into(), arg(&config)], true),
        (
            vec!["items".into(), "-c".into(), arg(&config), "--json".into()],
            true,
        ),
        (vec!["verify".into(), "-c".into(), arg(&config)], true),
        (
            vec![
                "backfill".into(),
                "-c".into(),
                arg(&config),
                "--source".into(),
                "bode".into(),
            ],
            true,
        ),
        (
            vec!["backup".into(), "-c".into(), arg(&config), arg(&out)],
            true,
        ),
        (
            vec![
                "export".into(),
                "-c".into(),
                arg(&config),
                "--public-url".into(),
                "https://tin.example.vn/".into(),
                arg(&out),
            ],
            true,
        ),
        (
            vec!["backup".into(), "--store".into(), arg(&store), arg(&out)],
            true,
        ),
        (vec!["verify".into(), "--store".into(), arg(&store)], true),
        (
            vec![
                "verify".into(),
                "--store".into(),
                arg(&store),
                "--repair".into(),
                arg(&out),
            ],
            true,
        ),
    ];
    for (args, reads_store) in &commands {
        let output = wardfeed(&config, &store, &portal.base_url())
            .args(args)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !store.exists() && !store.parent().unwrap().exists(),
            "`wardfeed {}` created {}",
            args.join(" "),
            store.display()
        );
        assert!(
            !out.exists(),
            "`wardfeed {}` created {}",
            args.join(" "),
            out.display()
        );
        if *reads_store {
            assert!(!output.status.success(), "`wardfeed {}`", args.join(" "));
            assert!(
                stderr.contains(&format!("{}: no store here", store.display())),
                "`wardfeed {}`: {stderr}",
                args.join(" ")
            );
        }
    }

    // `scrape --once` makes it (parents too), as `run` does.
    let output = wardfeed(&config, &store, &portal.base_url())
        .args(["scrape", "--once", "-c"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(store.join(wardfeed::store::DB_FILE).exists() || store.exists());
}
