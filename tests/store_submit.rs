//! Submission in the store: it never creates a namespace (an unknown one is an error that leaves
//! nothing behind, whatever the input's size), and a conflicting idempotency key is an error,
//! never a run id.

mod common;

use berth::resources::Resources;
use berth::store::blobs::CHUNK_BYTES;
use berth::store::runs::{SubmitParams, Submitted};
use berth::store::{Error, Store};

fn params(namespace: &str, input_zip: Vec<u8>, key: Option<(&str, &str)>) -> SubmitParams {
    SubmitParams {
        name: "example-1".into(),
        service: "example".into(),
        namespace: namespace.into(),
        user_id: "1".into(),
        priority: berth::domain::Priority::Normal,
        flow: berth::domain::Flow::Priority,
        request: Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
        input_zip,
        command: None,
        env: serde_json::json!({}),
        timeout_seconds: None,
        retry: berth::retry::RetryPolicy::default(),
        idempotency: key.map(|(k, h)| (k.to_string(), h.to_string())),
        now: None,
    }
}

/// Rows of every table a submission writes: (namespaces, jobs, runs, blobs, blob chunks, events).
async fn counts(store: &Store) -> Vec<i64> {
    let mut out = Vec::new();
    for table in ["namespaces", "jobs", "runs", "blobs", "blob_chunks", "run_events"] {
        let sql = format!("select count(*) from {table}");
        out.push(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(store.pool()).await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_unknown_namespace_is_an_error_that_leaves_nothing_behind() {
    let store = common::fresh_store().await;
    let before = counts(&store).await;
    for input in [Vec::new(), vec![7u8; 100], vec![7u8; CHUNK_BYTES + 1]] {
        let size = input.len();
        match store.run_submit(params("etl", input, None)).await {
            Err(Error::UnknownNamespace(name)) => assert_eq!(name, "etl"),
            other => panic!("an input of {size} bytes: expected UnknownNamespace, got {other:?}"),
        }
        assert_eq!(counts(&store).await, before, "an input of {size} bytes left rows behind");
    }
    let batch = berth::store::batch::SubmitBatchParams { namespace: "etl".into(), ..common::legacy_batch(&["1"]) };
    assert!(matches!(store.run_submit_batch(&batch).await, Err(Error::UnknownNamespace(_))));
    assert_eq!(counts(&store).await, before, "the batch left rows behind");

    common::create_namespace(&store, "etl", 1000).await;
    let id = store.run_submit(params("etl", vec![7u8; CHUNK_BYTES + 1], None)).await.unwrap();
    assert_eq!(store.run_get(id).await.unwrap().unwrap().namespace, "etl");
}

#[tokio::test]
async fn a_conflicting_idempotency_key_is_an_error_not_a_run_id() {
    let store = common::fresh_store().await;
    common::create_namespace(&store, "default", 1000).await;
    let first = store.run_submit_idempotent(params("default", Vec::new(), Some(("k", "hash-a")))).await.unwrap();
    let Submitted::Created(id) = first else { panic!("expected a new run, got {first:?}") };
    let again = store.run_submit_idempotent(params("default", Vec::new(), Some(("k", "hash-a")))).await.unwrap();
    assert_eq!(again, Submitted::Replayed(id));
    let other = store.run_submit_idempotent(params("default", Vec::new(), Some(("k", "hash-b")))).await.unwrap();
    assert_eq!(other, Submitted::Conflict);
    assert_eq!(store.run_submit(params("default", Vec::new(), Some(("k", "hash-a")))).await.unwrap(), id);
    match store.run_submit(params("default", Vec::new(), Some(("k", "hash-b")))).await {
        Err(Error::IdempotencyConflict) => {}
        other => panic!("expected IdempotencyConflict, got {other:?}"),
    }
}
