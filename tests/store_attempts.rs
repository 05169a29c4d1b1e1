//! An attempt's row is written once, by the statement that ends it (migration 0024): while it runs,
//! the attempt is its run's row (`attempt_id`, `attempt`, `worker_id`, `started_at`), and the view
//! `attempts_seen` (what the API's attempt list and the timeline read) shows it from there. Every
//! way an attempt ends writes the row with the start the run recorded: the batched end, a hand-back,
//! an end through `runs/finish.sql` (a retry), and the rescue of a dead worker's runs.

mod common;

use berth::clock::Clock;
use berth::scheduler::{SchedulerSettings, rescuer};
use berth::store::attempts::AttemptRow;
use berth::store::runs::{ClaimedRun, FinishParams, RunState};
use berth::store::{RunId, Store, WorkerId};
use chrono::{DateTime, Utc};

async fn setup(store: &Store) -> WorkerId {
    common::create_namespace(store, "default", 1000).await;
    common::register_example_worker(store).await
}

/// The claim of `run` (after one admission cycle), and what the run row says of its start.
async fn admit_and_claim(store: &Store, worker: WorkerId, run: RunId) -> (ClaimedRun, DateTime<Utc>) {
    assert_eq!(common::admit_once(store, "attempts").await, vec![run]);
    let claimed = common::claim_example(store, worker).await;
    assert_eq!(claimed.len(), 1);
    let row = store.run_get(run).await.unwrap().unwrap();
    (claimed.into_iter().next().unwrap(), row.started_at.expect("a running run has started"))
}

/// The rows of the `attempts` table itself, not the view.
async fn stored(store: &Store, run: RunId) -> Vec<(i64, i64, i32, DateTime<Utc>, Option<DateTime<Utc>>, String)> {
    sqlx::query_as(
        "select id, worker_id, number, started_at, admitted_at, coalesce(outcome, '') from attempts \
         where run_id = $1 order by id",
    )
    .bind(run.0)
    .fetch_all(store.pool())
    .await
    .unwrap()
}

/// One pass of the leader's rescuer; returns the attempts it ended as lost.
async fn rescue(store: &Store) -> usize {
    let settings = SchedulerSettings::from_config(&common::test_config());
    let leader = store.leader_try_elect("rescuer").await.unwrap().expect("leader");
    let rescued = rescuer::run(store, leader.epoch(), &settings, &Clock::System).await.unwrap();
    leader.release().await;
    rescued.lost
}

fn outcome(row: &AttemptRow) -> Option<String> {
    row.outcome.map(|o| o.as_str().to_string())
}

fn end(claimed: &ClaimedRun, state: RunState, retry_after_seconds: Option<f64>) -> FinishParams {
    FinishParams {
        run: claimed.id,
        attempt_id: claimed.attempt_id,
        state,
        exit_code: Some(0),
        result_zip: None,
        message: "done".into(),
        retry_after_seconds,
        excused: false,
        now: None,
        streaming: None,
    }
}

#[tokio::test]
async fn the_running_attempt_is_its_run_and_each_end_writes_its_row_with_the_start() {
    let store = common::fresh_store().await;
    let worker = setup(&store).await;
    let run = store.run_submit(common::priority_submit()).await.unwrap();

    // Claimed: no row yet, but the attempt list shows it, running, from the run.
    let (first, first_start) = admit_and_claim(&store, worker, run).await;
    assert!(stored(&store, run).await.is_empty(), "the claim writes no attempt row");
    let listed = store.attempt_list(run).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].number, listed[0].worker_id), (first.attempt_id, 1, worker));
    assert_eq!((listed[0].started_at, listed[0].finished_at, outcome(&listed[0])), (first_start, None, None));

    // Handed back: the row, with the start the run recorded and the admission it was claimed from.
    assert!(store.run_release(run, first.attempt_id, "draining").await.unwrap());
    let rows = stored(&store, run).await;
    assert_eq!(
        rows,
        [(first.attempt_id.0, worker.0, 1, first_start, Some(first.admitted_at), "handed_back".to_string())]
    );

    // Claimed again, then a retry through runs/finish.sql: the second row.
    let (second, second_start) = admit_and_claim(&store, worker, run).await;
    assert_ne!(second.attempt_id, first.attempt_id);
    assert_eq!(store.attempt_list(run).await.unwrap().len(), 2, "one ended, one running");
    assert!(store.run_finish(end(&second, RunState::Failed, Some(0.0))).await.unwrap());
    let rows = stored(&store, run).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1],
        (second.attempt_id.0, worker.0, 2, second_start, Some(second.admitted_at), "failed".to_string())
    );
    assert_eq!(store.run_get(run).await.unwrap().unwrap().state.as_str(), "waiting");

    // Finally a batched end: the third row, with the worker's message.
    let leader = store.leader_try_elect("wake").await.unwrap().expect("leader");
    let mut tx = store.leader_tx(leader.epoch()).await.unwrap();
    assert_eq!(tx.wake_due(None).await.unwrap(), vec![run], "its back-off (0 s) is over");
    tx.commit().await.unwrap();
    leader.release().await;
    let (third, third_start) = admit_and_claim(&store, worker, run).await;
    assert_eq!(store.run_finish_batch(vec![end(&third, RunState::Succeeded, None)]).await.unwrap(), [true]);
    let rows = stored(&store, run).await;
    assert_eq!(rows.len(), 3, "one row per attempt, never two");
    assert_eq!(
        rows[2],
        (third.attempt_id.0, worker.0, 3, third_start, Some(third.admitted_at), "succeeded".to_string())
    );
    let listed = store.attempt_list(run).await.unwrap();
    let outcomes: Vec<_> = listed.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        [Some("handed_back".into()), Some("failed".into()), Some("succeeded".into())],
        "the list reads the rows once the attempts ended, without the run's copy"
    );
    let kinds: Vec<String> = store.run_events(run).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            "submitted",
            "admitted",
            "started",
            "requeued",
            "admitted",
            "started",
            "failed",
            "requeued",
            "admitted",
            "started",
            "succeeded"
        ],
        "the timeline reads the starts from the rows and from the running run alike"
    );
}

#[tokio::test]
async fn a_dead_worker_s_attempt_is_written_as_lost_with_its_start() {
    let store = common::fresh_store().await;
    let worker = setup(&store).await;
    let run = store.run_submit(common::priority_submit()).await.unwrap();
    let (claimed, started) = admit_and_claim(&store, worker, run).await;

    store.worker_stop(worker).await.unwrap();
    assert_eq!(rescue(&store).await, 1);

    assert_eq!(
        stored(&store, run).await,
        [(claimed.attempt_id.0, worker.0, 1, started, Some(claimed.admitted_at), "lost".to_string())]
    );
    let listed = store.attempt_list(run).await.unwrap();
    assert_eq!(listed.len(), 1, "the run is queued again: no running attempt beside the lost one");
    assert_eq!(store.run_get(run).await.unwrap().unwrap().state.as_str(), "queued");
}

/// A lost attempt's end is never before its start: the rescue's transaction can begin before a
/// claim that commits while it runs, and its statement (READ COMMITTED) then sees a start later
/// than its own now(). Here the run's start is an hour ahead of the database clock.
#[tokio::test]
async fn a_lost_attempt_never_ends_before_it_started() {
    let store = common::fresh_store().await;
    let worker = setup(&store).await;
    let run = store.run_submit(common::priority_submit()).await.unwrap();
    admit_and_claim(&store, worker, run).await;
    let started: DateTime<Utc> =
        sqlx::query_scalar("update runs set started_at = now() + interval '1 hour' where id = $1 returning started_at")
            .bind(run.0)
            .fetch_one(store.pool())
            .await
            .unwrap();

    store.worker_stop(worker).await.unwrap();
    assert_eq!(rescue(&store).await, 1);

    let (finished, event): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "select a.finished_at, (select at from run_events e where e.run_id = a.run_id and e.kind = 'requeued') \
         from attempts a where a.run_id = $1",
    )
    .bind(run.0)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(finished, started, "the end is the start at the earliest");
    assert_eq!(event, started, "and so is the event that says so");
}

/// The run's state, its `cancel_requested` flag, whether it has an end, and its last event's kind.
async fn after_cancel(store: &Store, run: RunId) -> (String, bool, bool, String) {
    sqlx::query_as(
        "select r.state, r.cancel_requested, r.finished_at is not null, \
                (select kind from run_events e where e.run_id = r.id order by e.id desc limit 1) \
         from runs r where r.id = $1",
    )
    .bind(run.0)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// A running run whose cancel was requested, asked of its worker, which is about to lose it.
async fn cancel_requested_run(store: &Store) -> (WorkerId, ClaimedRun) {
    let worker = setup(store).await;
    let run = store.run_submit(common::priority_submit()).await.unwrap();
    let (claimed, _) = admit_and_claim(store, worker, run).await;
    assert!(store.run_request_cancel(run, "alice").await.unwrap());
    (worker, claimed)
}

const CANCELLED: (&str, bool, bool, &str) = ("cancelled", false, true, "cancelled");

/// A cancel requested of a running run is granted even when its worker dies before it stops the
/// run: the rescue ends the run `cancelled`. Queued again, it would run a second time (until the
/// next worker's heartbeat learnt of the cancel), and could even succeed.
#[tokio::test]
async fn a_run_whose_cancel_was_requested_is_cancelled_not_queued_again_when_its_worker_dies() {
    let store = common::fresh_store().await;
    let (worker, claimed) = cancel_requested_run(&store).await;

    store.worker_stop(worker).await.unwrap();
    assert_eq!(rescue(&store).await, 1);

    let (state, flag, ended, kind) = after_cancel(&store, claimed.id).await;
    assert_eq!((state.as_str(), flag, ended, kind.as_str()), CANCELLED);
    assert_eq!(stored(&store, claimed.id).await[0].5, "lost", "the attempt itself was lost with its worker");
}

/// An attempt that fails, with a retry due, before its worker stopped it for a requested cancel
/// does not put the run back in line: the cancel stands.
#[tokio::test]
async fn a_run_whose_cancel_was_requested_is_not_retried_when_its_attempt_fails() {
    let store = common::fresh_store().await;
    let (_, claimed) = cancel_requested_run(&store).await;
    assert!(store.run_finish(end(&claimed, RunState::Failed, Some(5.0))).await.unwrap());
    let (state, flag, ended, kind) = after_cancel(&store, claimed.id).await;
    assert_eq!((state.as_str(), flag, ended, kind.as_str()), CANCELLED);
    assert_eq!(stored(&store, claimed.id).await[0].5, "failed", "the attempt keeps its own outcome");
}

/// The same for a drain's hand-back (the worker stopped before its process was killed) and for a
/// claim the worker never received (an orphan).
#[tokio::test]
async fn a_run_whose_cancel_was_requested_is_cancelled_not_queued_again_when_handed_back() {
    let store = common::fresh_store().await;
    let (_, claimed) = cancel_requested_run(&store).await;
    let became = store.run_release_to(claimed.id, claimed.attempt_id, "worker shut down").await.unwrap();
    assert_eq!(became, Some(RunState::Cancelled), "what the worker counts it as (berth_runs_finished_total)");
    let (state, flag, ended, kind) = after_cancel(&store, claimed.id).await;
    assert_eq!((state.as_str(), flag, ended, kind.as_str()), CANCELLED);
    assert_eq!(stored(&store, claimed.id).await[0].5, "handed_back");

    let store = common::fresh_store().await;
    let (worker, claimed) = cancel_requested_run(&store).await;
    assert_eq!(store.run_release_orphans(worker, &[], 0.0).await.unwrap(), vec![claimed.id]);
    let (state, flag, ended, kind) = after_cancel(&store, claimed.id).await;
    assert_eq!((state.as_str(), flag, ended, kind.as_str()), CANCELLED);
}

/// Without a requested cancel, a hand-back still puts the run back in the queue at its place.
#[tokio::test]
async fn a_hand_back_without_a_cancel_queues_the_run_again() {
    let store = common::fresh_store().await;
    let worker = setup(&store).await;
    let run = store.run_submit(common::priority_submit()).await.unwrap();
    let (claimed, _) = admit_and_claim(&store, worker, run).await;
    assert_eq!(
        store.run_release_to(run, claimed.attempt_id, "worker shut down").await.unwrap(),
        Some(RunState::Queued)
    );
    let (state, flag, ended, kind) = after_cancel(&store, run).await;
    assert_eq!((state.as_str(), flag, ended, kind.as_str()), ("queued", false, false, "requeued"));
}

/// The same three paths for a streaming run whose abort was requested: it ends `aborted` (never
/// restarted), not `cancelled` and not queued again.
#[tokio::test]
async fn a_streaming_run_whose_abort_was_requested_ends_aborted_on_every_hand_back_path() {
    const ABORTED: (&str, bool, bool, &str) = ("aborted", false, true, "aborted");
    async fn streaming(store: &Store, run: RunId) {
        let restart = serde_json::json!({"restart_policy": "always", "submission_retries": 3,
            "submission_retry_interval": 1.0, "failure_retries": 3, "failure_retry_interval": 1.0});
        sqlx::query("update runs set restart = $2 where id = $1")
            .bind(run.0)
            .bind(restart)
            .execute(store.pool())
            .await
            .unwrap();
    }

    let store = common::fresh_store().await;
    let (_, claimed) = cancel_requested_run(&store).await;
    streaming(&store, claimed.id).await;
    let became = store.run_release_to(claimed.id, claimed.attempt_id, "worker shut down").await.unwrap();
    assert_eq!(became, Some(RunState::Aborted), "a drain's hand-back");
    let (state, flag, ended, kind) = after_cancel(&store, claimed.id).await;
    assert_eq!((state.as_str(), flag, ended, kind.as_str()), ABORTED);

    let store = common::fresh_store().await;
    let (worker, claimed) = cancel_requested_run(&store).await;
    streaming(&store, claimed.id).await;
    assert_eq!(store.run_release_orphans(worker, &[], 0.0).await.unwrap(), vec![claimed.id], "an orphan");
    let (state, flag, ended, kind) = after_cancel(&store, claimed.id).await;
    assert_eq!((state.as_str(), flag, ended, kind.as_str()), ABORTED);

    let store = common::fresh_store().await;
    let (worker, claimed) = cancel_requested_run(&store).await;
    streaming(&store, claimed.id).await;
    store.worker_stop(worker).await.unwrap();
    assert_eq!(rescue(&store).await, 1, "its worker died");
    let (state, flag, ended, kind) = after_cancel(&store, claimed.id).await;
    assert_eq!((state.as_str(), flag, ended, kind.as_str()), ABORTED);
}
