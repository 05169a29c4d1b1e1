//! Bulk enqueue and batched completion on real Postgres: same rows and events as the one-run
//! paths, and a refused fencing token changes nothing.

mod common;

use berth::resources::Resources;
use berth::store::batch::SubmitBatchParams;
use berth::store::runs::{ClaimParams, FinishParams, RunState};
use berth::store::{AttemptId, RunId};

fn batch(users: &[&str]) -> SubmitBatchParams {
    common::legacy_batch(users)
}

fn finish(run: RunId, attempt_id: AttemptId, zip: Option<Vec<u8>>) -> FinishParams {
    FinishParams {
        run,
        attempt_id,
        state: RunState::Succeeded,
        exit_code: Some(0),
        result_zip: zip,
        message: "done".into(),
        retry_after_seconds: None,
        excused: false,
        now: None,
        streaming: None,
    }
}

#[tokio::test]
async fn bulk_enqueue_then_batched_finish_fences_each_run() {
    let store = common::fresh_store().await;
    common::create_namespace(&store, "default", 1000).await;
    let ids = store.run_submit_batch(&batch(&["1", "2", "3"])).await.unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "run ids follow the input order");
    let first = store.run_get(ids[0]).await.unwrap().unwrap();
    assert_eq!((first.state.as_str(), first.user_id.as_str()), ("admitted", "1"));
    let kinds: Vec<String> = store.run_events(ids[0]).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["submitted", "admitted"]);

    let capacity = Resources { cpu: 1000, memory: 1000, pods: 10, storage: 1000 };
    let worker = store.worker_register("w", &["example".to_string()], capacity).await.unwrap();
    let claimed = store
        .run_claim_batch(&ClaimParams {
            worker,
            services: vec!["example".into()],
            free: capacity,
            limit: 10,
            now: None,
            floor: None,
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);

    let stale = AttemptId(claimed[1].attempt_id.0 + 1000);
    let done = store
        .run_finish_batch(vec![
            finish(claimed[0].id, claimed[0].attempt_id, Some(b"zip".to_vec())),
            finish(claimed[1].id, stale, Some(b"zip".to_vec())),
            finish(claimed[2].id, claimed[2].attempt_id, None),
        ])
        .await
        .unwrap();
    assert_eq!(done, [true, false, true]);

    let ok = store.run_get(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(ok.state.as_str(), "succeeded");
    let blob = ok.result_blob_id.expect("the result zip is stored");
    assert_eq!(store.blob_read(blob).await.unwrap(), b"zip");
    let kinds: Vec<String> = store.run_events(claimed[0].id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["submitted", "admitted", "started", "succeeded"]);

    let refused = store.run_get(claimed[1].id).await.unwrap().unwrap();
    assert_eq!((refused.state.as_str(), refused.result_blob_id), ("running", None));
    assert_eq!(store.run_events(claimed[1].id).await.unwrap().len(), 3, "no event for a refused end");

    let no_zip = store.run_get(claimed[2].id).await.unwrap().unwrap();
    assert_eq!((no_zip.state.as_str(), no_zip.result_blob_id), ("succeeded", None));
}

/// The batched end wakes the leader's admission (`berth_finished`) in its own statement when it
/// records an end, and wakes nobody when every end of the batch is refused.
#[tokio::test]
async fn a_batched_end_wakes_admission_only_when_it_records_an_end() {
    use berth::store::notify;
    let store = common::fresh_store().await;
    common::create_namespace(&store, "default", 1000).await;
    let ids = store.run_submit_batch(&batch(&["1"])).await.unwrap();
    let capacity = Resources { cpu: 1000, memory: 1000, pods: 10, storage: 1000 };
    let worker = store.worker_register("w", &["example".to_string()], capacity).await.unwrap();
    let params =
        ClaimParams { worker, services: vec!["example".into()], free: capacity, limit: 10, now: None, floor: None };
    let claimed = store.run_claim_batch(&params).await.unwrap();
    assert_eq!(claimed.len(), ids.len());
    let mut listener = notify::listen(&store, &[notify::FINISHED, notify::SCHEDULES]).await;
    assert!(listener.is_some(), "the test database answers");
    let next = async |listener: &mut Option<_>| {
        tokio::time::timeout(std::time::Duration::from_secs(10), notify::wait(listener)).await.expect("a notification")
    };

    let stale = AttemptId(claimed[0].attempt_id.0 + 1000);
    assert_eq!(store.run_finish_batch(vec![finish(claimed[0].id, stale, None)]).await.unwrap(), [false]);
    // A marker sent after the refused batch: notifications arrive in commit order.
    sqlx::query("select pg_notify($1, '')").bind(notify::SCHEDULES).execute(store.pool()).await.unwrap();
    assert_eq!(next(&mut listener).await.as_deref(), Some(notify::SCHEDULES), "a refused batch wakes nobody");

    let done = store.run_finish_batch(vec![finish(claimed[0].id, claimed[0].attempt_id, None)]).await.unwrap();
    assert_eq!(done, [true]);
    assert_eq!(next(&mut listener).await.as_deref(), Some(notify::FINISHED));
}
