//! `/status.json` is built once per change of the store or the configuration, `/healthz` once
//! per change of a source's status or of the configuration (issue 14: at 10,000 sources a
//! status build reads 20,000 records): an unchanged daemon answers from the kept build, with an
//! ETag that revalidates; a change shows at once.

mod common;

use std::sync::Arc;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use wardfeed::model::ErrorKind;
use wardfeed::store::{HealthError, RunOutcome, Store};

#[tokio::test]
async fn status_answers_are_kept_until_the_store_changes() {
    let portal = serve("s1").await;
    let config = fixture_config(&portal);
    let source = config.sources[0].id.clone();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let app = App::start(config, Arc::clone(&store), snapshot_time("s1")).await;
    let client = http_client();

    let first = client.get(app.url("/status.json")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()[ETAG].clone();
    let first: serde_json::Value = serde_json::from_str(&first.text().await.unwrap()).unwrap();
    assert_eq!(first["status"], "ok");
    let builds = app.state.status_builds();
    assert_eq!(builds, 1);

    // Unchanged: the kept build answers, and its ETag revalidates.
    for _ in 0..3 {
        let again = client.get(app.url("/status.json")).send().await.unwrap();
        assert_eq!(again.headers()[ETAG], etag);
    }
    let revalidated = client
        .get(app.url("/status.json"))
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok\n"
    );
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok\n"
    );
    assert_eq!(app.state.status_builds(), builds + 1, "one /healthz build");

    // A refresh fails: both answers show it at once.
    let outcome = RunOutcome {
        listings: 1,
        failures: vec![HealthError {
            at: snapshot_time("s1"),
            kind: ErrorKind::Http,
            category: "tin-tuc".into(),
            message: "fetch http://127.0.0.1/: HTTP 500".into(),
        }],
        empty: Vec::new(),
        items_seen: 0,
        warnings: Vec::new(),
    };
    store
        .record_run(&source, &outcome, snapshot_time("s1"))
        .unwrap();
    let changed = client
        .get(app.url("/status.json"))
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()[ETAG], etag);
    let changed: serde_json::Value = serde_json::from_str(&changed.text().await.unwrap()).unwrap();
    assert_eq!(changed["status"], "degraded");
    let entry = changed["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == source.as_str())
        .unwrap();
    assert_eq!(entry["status"], "failing");
    let health = client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(health, format!("degraded: {source} (failing)\n"));
    assert_eq!(app.state.status_builds(), builds + 3);

    // The same failure again changes the store but no source's status: `/healthz` answers
    // from its kept build (at 10,000 sources a build walks 10,000 health records, and during a
    // cycle the store changes with every refresh).
    let failing_again = store.record_run(&source, &outcome, snapshot_time("s1"));
    assert_eq!(failing_again.unwrap(), None, "no incident");
    for _ in 0..2 {
        let health = client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(
            health.text().await.unwrap(),
            format!("degraded: {source} (failing)\n")
        );
    }
    assert_eq!(
        app.state.status_builds(),
        builds + 3,
        "/healthz was rebuilt though no status changed"
    );
    // It recovers: a change of status, shown at once.
    let recovered = RunOutcome {
        failures: Vec::new(),
        items_seen: 3,
        ..outcome
    };
    store
        .record_run(&source, &recovered, snapshot_time("s1"))
        .unwrap()
        .expect("an incident");
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok\n");
    assert_eq!(app.state.status_builds(), builds + 4);
    app.stop().await;
}
