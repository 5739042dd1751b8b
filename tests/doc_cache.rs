//! The document cache keeps only what is served, within a byte budget: compressed forms are
//! built for the encodings readers ask for, and past the budget the least recently served
//! documents are dropped (counted) and rendered again, the same, when next asked (issue 14).

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use wardfeed::clock::{Clock, ManualClock};
use wardfeed::serve::AppState;
use wardfeed::store::Store;

const BUDGET: usize = 256 * 1024;

fn metric(text: &str, name: &str) -> f64 {
    common::metric_value(text, name).unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[tokio::test]
async fn documents_past_the_budget_are_dropped_and_rendered_again_the_same() {
    let portal = serve("s1").await;
    let config = fixture_config(&portal);
    let paths = feed_paths(&config);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    refresh_all(&config, &store, snapshot_time("s1")).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clock = Arc::new(ManualClock::new(snapshot_time("s1").to_utc()));
    let state = Arc::new(
        AppState::new(
            Arc::new(config),
            store,
            base.clone(),
            clock as Arc<dyn Clock>,
        )
        .with_document_budget(BUDGET),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(wardfeed::serve::run(listener, state, async move {
        let _ = rx.await;
    }));
    let client = http_client();

    // Every feed, as a reader asking for gzip gets it; then again, after the cache dropped most.
    let mut first = HashMap::new();
    let mut largest = 0;
    for round in 0..2 {
        for (path, _) in &paths {
            let response = client
                .get(format!("{base}{path}"))
                .header("accept-encoding", "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(response.headers()["content-encoding"], "gzip", "{path}");
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            let body = response.bytes().await.unwrap();
            if round == 0 {
                // What the cache holds for it: the identity body and the gzip one.
                let identity = client.get(format!("{base}{path}")).send().await.unwrap();
                let identity = identity.bytes().await.unwrap().len();
                largest = largest.max(identity + body.len());
                first.insert(path.clone(), (etag, body));
            } else {
                let (first_etag, first_body) = &first[path];
                assert_eq!(&etag, first_etag, "{path} rendered again differs");
                assert_eq!(&body, first_body, "{path}");
            }
        }
    }
    let served: usize = first.values().map(|(_, body)| body.len()).sum();
    assert!(
        served > 2 * BUDGET,
        "the test needs more than the budget: {served}"
    );

    let metrics = get_text(&client, &format!("{base}/metrics")).await;
    let held = metric(&metrics, "wardfeed_document_cache_bytes");
    let evicted = metric(&metrics, "wardfeed_document_cache_evictions_total");
    // Only a document larger than the budget by itself is kept past it, alone.
    let limit = BUDGET.max(largest) as f64;
    assert!(
        held <= limit,
        "kept {held} bytes, budget {BUDGET}, largest {largest}"
    );
    assert!(held > 0.0);
    assert!(evicted > 0.0, "nothing dropped");

    let _ = tx.send(());
    server.await.unwrap().unwrap();
}
