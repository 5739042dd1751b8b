//! Refreshes write to the store one at a time, queued as futures: never a blocking thread per
//! refresh parked on the store's write lock (issue 14: 523 threads and 831 MiB at 1,000 sources).

mod common;

use std::sync::Arc;

use wardfeed::config::Source;
use wardfeed::model::SourceId;
use wardfeed::pipeline;
use wardfeed::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_write_one_at_a_time() {
    let server = common::serve("s1").await;
    let mut config = common::fixture_config(&server);
    // Eight copies of each fixture source (own ids, so own items): 40 refreshes at once.
    let originals = config.sources.clone();
    config.sources = (0..8)
        .flat_map(|copy| {
            originals.iter().map(move |source| {
                let mut source: Source = (**source).clone();
                source.id = SourceId::parse(&format!("{}-{copy}", source.id)).unwrap();
                Arc::new(source)
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    common::refresh_all(&config, &store, common::snapshot_time("s1")).await;
    let held = store.items().count();
    assert!(held > 8 * 100, "every copy stored its items: {held}");
    assert_eq!(pipeline::store_writers_peak(), 1, "one writer at a time");
    assert_eq!(pipeline::store_writes_waiting(), 0, "none left waiting");
}
