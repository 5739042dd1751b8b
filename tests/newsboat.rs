//! A resident subscribes through the resident OPML with newsboat, driven in tmux
//! (`tests/newsboat_residents.sh`): one feed per source plus the combined feed, each once,
//! titled by its ward; newsboat stores every entry of each feed once; the combined feed's
//! articles name their ward.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use wardfeed::store::Store;

#[tokio::test]
async fn newsboat_subscribes_through_the_residents_opml() {
    if std::env::var_os("WARDFEED_SKIP_JUDGES").is_some() {
        eprintln!("WARDFEED_SKIP_JUDGES set: newsboat not run");
        return;
    }
    let portal = serve("s1").await;
    let config = fixture_config(&portal);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&config, &store, snapshot_time("s1")).await;
    portal.switch(snapshot("s2"));
    refresh_all(&config, &store, snapshot_time("s2")).await;
    let app = App::start(config.clone(), store, snapshot_time("s2")).await;

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("newsboat-residents");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/newsboat_residents.sh");
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .arg(&app.base)
        .arg(&out)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "newsboat in tmux failed (scripts/test.sh installs newsboat and tmux):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The feed list as the screen showed it: "   2 N   (32/32) Quận Long Biên".
    let screen = std::fs::read_to_string(out.join("feeds.txt")).unwrap();
    let listed: Vec<(usize, String)> = screen
        .lines()
        .filter_map(|line| {
            let (counts, title) = line.split_once(") ")?;
            let total = counts.rsplit_once('/')?.1.parse().ok()?;
            Some((total, title.trim().to_owned()))
        })
        .collect();
    let mut want = vec![format!("{} — tất cả nguồn tin", config.server.title)];
    want.extend(config.sources.iter().map(|s| s.name.clone()));
    let titles: Vec<&str> = listed.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        titles, want,
        "one feed per source plus the combined one:\n{screen}"
    );

    // newsboat stored each feed's entries once: as many as the feed serves.
    let client = http_client();
    let stems = std::iter::once("all").chain(config.sources.iter().map(|s| s.id.as_str()));
    for ((stored, title), stem) in listed.iter().zip(stems) {
        let rss = get_text(&client, &app.url(&format!("/feeds/{stem}.rss"))).await;
        let served = roxmltree::Document::parse(&rss)
            .unwrap()
            .descendants()
            .filter(|n| n.has_tag_name("item"))
            .count();
        assert!(served > 0, "{stem}");
        assert_eq!(
            *stored, served,
            "{title}: newsboat holds {stored}, the feed has {served}"
        );
    }

    // The combined feed's articles each name their ward.
    let combined = std::fs::read_to_string(out.join("combined.txt")).unwrap();
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let articles: Vec<&str> = combined
        .lines()
        .skip(1)
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert!(articles.len() > 10, "{combined}");
    for line in &articles {
        assert!(
            names.iter().any(|name| line.contains(name)),
            "an article of the combined feed names no ward: {line}"
        );
    }
    app.stop().await;
}
