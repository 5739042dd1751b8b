//! The deployment files: the systemd unit verifies and is sandboxed (exposure at most 2.0),
//! and the packaged configuration loads — by running deploy/check.sh with this build.

#[test]
fn the_unit_and_the_packaged_config_pass_deploy_check() {
    if std::env::var_os("WARDFEED_SKIP_DEPLOY_CHECK").is_some() {
        eprintln!("WARDFEED_SKIP_DEPLOY_CHECK set: deploy/check.sh not run");
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/check.sh");
    let output = std::process::Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_wardfeed"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "deploy/check.sh failed (it needs systemd-analyze, Debian's systemd package, as .ci/run installs):\n{said}"
    );
    assert!(said.contains("deploy: all checks passed"), "{said}");
}
