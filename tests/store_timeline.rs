//! A run's timeline (`Store::run_events`, what the API and the console show) stays complete now
//! that the routine transitions are carried by the run's and attempts' own rows (migration 0023):
//! the scheduler's admissions, the starts and the ends a worker reports in a batch are read back
//! from them, in order and in the shape the event rows had; the exceptional ones stay rows.

mod common;

use std::time::Duration;

use berth::store::runs::{FinishParams, RunEvent, RunState};
use berth::store::{RunId, Store, WorkerId};

async fn setup(store: &Store) -> WorkerId {
    common::create_namespace(store, "default", 1000).await;
    common::register_example_worker(store).await
}

async fn submit(store: &Store) -> RunId {
    store.run_submit(common::priority_submit()).await.unwrap()
}

async fn admit(store: &Store) -> Vec<RunId> {
    common::admit_once(store, "timeline").await
}

async fn claim(store: &Store, worker: WorkerId) -> Vec<berth::store::runs::ClaimedRun> {
    common::claim_example(store, worker).await
}

fn kinds(events: &[RunEvent]) -> Vec<(String, String)> {
    events.iter().map(|e| (e.kind.clone(), e.actor.clone())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, a)| (k.to_string(), a.to_string())).collect()
}

#[tokio::test]
async fn a_priority_run_s_timeline_is_read_from_its_rows_in_order() {
    let store = common::fresh_store().await;
    let worker = setup(&store).await;
    let run = submit(&store).await;
    let rows_after_submit: i64 =
        sqlx::query_scalar("select count(*) from run_events").fetch_one(store.pool()).await.unwrap();

    assert_eq!(admit(&store).await, [run]);
    let events = store.run_events(run).await.unwrap();
    assert_eq!(kinds(&events), pairs(&[("submitted", "api"), ("admitted", "scheduler")]));
    let admitted = &events[1];
    assert_eq!(admitted.id, None, "read from the run's admitted_at, not a row");
    assert!(admitted.message.starts_with("admitted after ") && admitted.message.ends_with(" s in the queue"));
    assert!(admitted.details["wait_seconds"].as_f64().unwrap() >= 0.0);
    let row = store.run_get(run).await.unwrap().unwrap();
    assert_eq!(Some(admitted.at), row.admitted_at);

    let claimed = claim(&store, worker).await;
    assert_eq!(claimed.len(), 1);
    let events = store.run_events(run).await.unwrap();
    assert_eq!(kinds(&events), pairs(&[("submitted", "api"), ("admitted", "scheduler"), ("started", "worker")]));
    assert_eq!(events[1].at, admitted.at, "the attempt keeps the admission it was claimed from");
    let started = &events[2];
    assert_eq!(started.id, None);
    assert_eq!(started.message, format!("attempt 1 started on worker {}", worker.0));
    assert_eq!(started.details["attempt_id"].as_i64(), Some(claimed[0].attempt_id.0));

    let finish = FinishParams {
        run,
        attempt_id: claimed[0].attempt_id,
        state: RunState::Succeeded,
        exit_code: Some(0),
        result_zip: None,
        message: "exit 0".into(),
        retry_after_seconds: None,
        excused: false,
        now: None,
        streaming: None,
    };
    assert_eq!(store.run_finish_batch(vec![finish]).await.unwrap(), [true]);
    let events = store.run_events(run).await.unwrap();
    assert_eq!(
        kinds(&events),
        pairs(&[("submitted", "api"), ("admitted", "scheduler"), ("started", "worker"), ("succeeded", "worker")])
    );
    let end = &events[3];
    assert_eq!((end.id, end.message.as_str()), (None, "exit 0"));
    assert_eq!(end.details["exit_code"].as_i64(), Some(0));
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "in time order: {events:?}");

    let rows_now: i64 = sqlx::query_scalar("select count(*) from run_events").fetch_one(store.pool()).await.unwrap();
    assert_eq!(rows_now, rows_after_submit, "admission, claim and batched end write no event rows");
}

#[tokio::test]
async fn an_admission_no_worker_claimed_stays_on_the_timeline_when_it_is_undone() {
    let store = common::fresh_store().await;
    setup(&store).await;
    let run = submit(&store).await;
    assert_eq!(admit(&store).await, [run]);
    let first = store.run_events(run).await.unwrap()[1].at;

    // Startup timeout: the admission is taken back (its admitted_at cleared) and the run queued.
    let leader = store.leader_try_elect("timeline").await.unwrap().expect("leader");
    let mut tx = store.leader_tx(leader.epoch()).await.unwrap();
    assert_eq!(tx.requeue_unclaimed(0.0, None).await.unwrap(), [run]);
    tx.commit().await.unwrap();
    leader.release().await;

    let events = store.run_events(run).await.unwrap();
    assert_eq!(kinds(&events), pairs(&[("submitted", "api"), ("admitted", "scheduler"), ("requeued", "scheduler")]));
    assert_eq!((events[1].at, events[1].id.is_some()), (first, true), "the undone admission became a row");

    // Admitted again, then cancelled before any worker claimed it: both admissions are shown.
    common::wait_for("the second admission", Duration::from_secs(10), || async {
        (admit(&store).await == [run]).then_some(())
    })
    .await;
    assert!(store.run_cancel_unstarted(run, "not needed", "someone").await.unwrap());
    let events = store.run_events(run).await.unwrap();
    assert_eq!(
        kinds(&events),
        pairs(&[
            ("submitted", "api"),
            ("admitted", "scheduler"),
            ("requeued", "scheduler"),
            ("admitted", "scheduler"),
            ("cancelled", "someone"),
        ])
    );
    assert_eq!(events[3].id, None, "the pending admission is read from the run");
}

#[tokio::test]
async fn a_legacy_run_s_admission_stays_one_row() {
    let store = common::fresh_store().await;
    let worker = setup(&store).await;
    let ids = store.run_submit_batch(&common::legacy_batch(&["1"])).await.unwrap();
    claim(&store, worker).await;
    let events = store.run_events(ids[0]).await.unwrap();
    assert_eq!(kinds(&events), pairs(&[("submitted", "api"), ("admitted", "api"), ("started", "worker")]));
    assert!(events[1].id.is_some(), "admitted on insert: a row, not read twice from the attempt");
}
