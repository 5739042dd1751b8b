//! `wardfeed backup` while the daemon runs (the daemon takes the copy) and `wardfeed restore`
//! into a fresh directory: the restored store verifies whole and `items` shows the same items.
//! `export` works while the daemon holds the store. Restore refuses a store a daemon holds, an existing store without --force, and a backup
//! that was changed.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn wardfeed() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wardfeed"));
    command.env("RUST_LOG", "error");
    command
}

async fn run(args: &[&std::ffi::OsStr]) -> Output {
    wardfeed().args(args).output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `items --json` of the store in `dir`.
async fn items(config: &Path, dir: &Path) -> serde_json::Value {
    let output = run(&[
        "items".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--store".as_ref(),
        dir.as_os_str(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_daemon_runs_restores_the_same_items() {
    let portal = serve("s1").await;
    let dir = tempfile::tempdir().unwrap();
    let config = quick_config_file_with(dir.path(), &[("${FIXTURES_BASE}", &portal.base_url())]);
    let store = dir.path().join("store");
    let file = dir.path().join("wardfeed.backup");
    let mut daemon = daemon_command(&config, &store)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(daemon.stdout.take().unwrap()).lines();
    let stderr = daemon.stderr.take().unwrap();
    let log = collect_log(stderr, |_| {});
    let base = dashboard_base(&mut stdout).await.expect("a dashboard line");
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let client = http_client();
    assert!(
        await_first_refreshes(&client, &base, 600, Duration::from_millis(100)).await,
        "every source refreshed within 60 s"
    );

    // The daemon holds the store: `items` is refused, `backup` goes through the daemon.
    let held = run(&[
        "items".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--store".as_ref(),
        store.as_os_str(),
    ])
    .await;
    assert!(text(&held.stderr).contains("in use by a running wardfeed"));
    let output = run(&[
        "backup".as_ref(),
        "--store".as_ref(),
        store.as_os_str(),
        file.as_os_str(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(said.contains("taken by the running daemon"), "{said}");

    // `export` works meanwhile too: from a backup the daemon takes.
    let www = dir.path().join("www");
    let output = run(&[
        "export".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--store".as_ref(),
        store.as_os_str(),
        "--public-url".as_ref(),
        "https://tin.example.vn/".as_ref(),
        www.as_os_str(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let combined = std::fs::read_to_string(www.join("feeds/all.atom")).unwrap();
    assert!(combined.contains("https://tin.example.vn/feeds/all.atom"));
    assert!(combined.matches("<entry>").count() > 100);

    // Restoring over the store the daemon holds is refused, even with --force.
    let output = run(&[
        "restore".as_ref(),
        "--force".as_ref(),
        "--store".as_ref(),
        store.as_os_str(),
        file.as_os_str(),
    ])
    .await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("in use by a running wardfeed"),
        "{}",
        text(&output.stderr)
    );

    // Into a fresh directory: whole, as `verify` reads it.
    let restored = dir.path().join("restored").join("store");
    let output = run(&[
        "restore".as_ref(),
        "--store".as_ref(),
        restored.as_os_str(),
        file.as_os_str(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = run(&["verify".as_ref(), "--store".as_ref(), restored.as_os_str()]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("whole"));

    // Stop the daemon (no refresh ran since the first ones); the same items in both.
    let pid = libc::pid_t::try_from(daemon.id().unwrap()).unwrap();
    // SAFETY: kill(2) on our own child with a valid signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(60), daemon.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    // The long first cycle told its progress, source by source (plain lines: not a terminal).
    let log = log.await.unwrap();
    let sources = SITES.len();
    for done in 1..=sources {
        assert!(
            log.contains(&format!("first cycle: {done}/{sources} sources refreshed")),
            "{log}"
        );
    }
    assert!(log.contains("first cycle finished"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "escape codes in a log that is not a terminal"
    );
    let original = items(&config, &store).await;
    assert!(original.as_array().unwrap().len() > 100, "{original}");
    assert_eq!(items(&config, &restored).await, original);

    // Over an existing store: refused without --force; with it, the old one is kept aside.
    let output = run(&[
        "restore".as_ref(),
        "--store".as_ref(),
        restored.as_os_str(),
        file.as_os_str(),
    ])
    .await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("restore with --force"),
        "{}",
        text(&output.stderr)
    );
    let output = run(&[
        "restore".as_ref(),
        "--force".as_ref(),
        "--store".as_ref(),
        restored.as_os_str(),
        file.as_os_str(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let aside: Vec<_> = std::fs::read_dir(restored.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("store.replaced-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(items(&config, &restored).await, original);

    // Through a symlink (systemd's /var/lib/wardfeed → private/wardfeed): restored where it
    // points, the link kept.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&restored, &link).unwrap();
    let output = run(&[
        "restore".as_ref(),
        "--force".as_ref(),
        "--store".as_ref(),
        link.as_os_str(),
        file.as_os_str(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(link.is_symlink());
    assert_eq!(items(&config, &link).await, original);

    // Without a daemon, `backup` reads the store itself.
    let again = dir.path().join("again.backup");
    let output = run(&[
        "backup".as_ref(),
        "--store".as_ref(),
        store.as_os_str(),
        again.as_os_str(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("no daemon runs"));

    // A changed backup is refused before anything is written.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let changed = dir.path().join("changed.backup");
    std::fs::write(&changed, &bytes).unwrap();
    let nowhere = dir.path().join("nowhere");
    let output = run(&[
        "restore".as_ref(),
        "--store".as_ref(),
        nowhere.as_os_str(),
        changed.as_os_str(),
    ])
    .await;
    assert!(!output.status.success());
    let said = text(&output.stderr);
    assert!(said.contains("checksum does not match"), "{said}");
    assert!(!nowhere.exists());
    std::fs::write(&changed, &bytes[..middle]).unwrap();
    let output = run(&[
        "restore".as_ref(),
        "--store".as_ref(),
        nowhere.as_os_str(),
        changed.as_os_str(),
    ])
    .await;
    assert!(
        text(&output.stderr).contains("incomplete"),
        "{}",
        text(&output.stderr)
    );
    assert!(!nowhere.exists());
}
