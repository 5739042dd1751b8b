//! Past `DASHBOARD_WHOLE_SOURCES` sources the dashboard is a summary page and a page per group
//! (issue 14: 10,000 sources on one page made 40 MB); below it, one page as ever.

mod common;

use std::sync::Arc;

use common::*;
use wardfeed::clock::{Clock, ManualClock};
use wardfeed::serve::AppState;
use wardfeed::store::Store;

#[tokio::test]
async fn many_sources_get_a_summary_page_and_a_page_per_group() {
    let portal = serve("s1").await;
    let config = fixture_config(&portal);
    let ids: Vec<String> = config.sources.iter().map(|s| s.id.to_string()).collect();
    let group = config.sources[0].group.clone();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&config, &store, snapshot_time("s1")).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clock = Arc::new(ManualClock::new(snapshot_time("s1").to_utc()));
    // The fixture world's five sources are "many" here.
    let state = Arc::new(
        AppState::new(
            Arc::new(config),
            store,
            base.clone(),
            clock as Arc<dyn Clock>,
        )
        .with_dashboard_whole_sources(2),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(wardfeed::serve::run(listener, state, async move {
        let _ = rx.await;
    }));
    let client = http_client();

    let summary = get_text(&client, &format!("{base}/")).await;
    assert!(summary.contains("class=\"group-summary\""), "{summary}");
    let group_page = format!("{base}/groups/{group}");
    assert!(
        summary.contains(&format!("href=\"{group_page}\"")),
        "{summary}"
    );
    for id in &ids {
        assert!(
            !summary.contains(&format!("id=\"source-{id}\"")),
            "{id} has a row on the summary"
        );
    }

    let page = get_text(&client, &group_page).await;
    for id in &ids {
        assert!(
            page.contains(&format!("id=\"source-{id}\"")),
            "{id} missing"
        );
    }
    assert!(page.contains(&format!("href=\"{base}/\"")), "no way back");
    let missing = client
        .get(format!("{base}/groups/no-such-group"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let _ = tx.send(());
    server.await.unwrap().unwrap();
}
