//! Retention on real Postgres with an injected clock: old finished runs lose their files and logs
//! and become `cleaned`, unfinished and young runs are untouched, inputs something else uses stay,
//! rows go after the second period, orphan blobs are collected; the seed's `/download` answers for
//! a cleaned run; a worker removes the run folders a crash left behind.

mod common;

use std::time::Duration;

use berth::clock::Clock;
use berth::resources::Resources;
use berth::scheduler::retention::{self, Report, RetentionSettings, Sweep};
use berth::store::runs::{ClaimParams, ClaimedRun, FinishParams, RunState};
use berth::store::{RunId, Store, WorkerId};
use chrono::{DateTime, Utc};

const DAY: i64 = 24 * 3600;

/// Now, to the second (Postgres keeps microseconds; whole seconds compare exactly).
fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now")
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n * DAY)
}

/// 30 days of files, rows deleted at 90 days.
fn settings() -> RetentionSettings {
    RetentionSettings::from_config(&berth::config::CleanupConfig::default())
}

struct Bundle {
    store: Store,
    worker: WorkerId,
    epoch: i64,
    _leader: berth::store::leader::LeaderSession,
}

async fn setup() -> Bundle {
    let store = common::fresh_store().await;
    common::create_namespace(&store, "default", 1_000_000).await;
    let cap = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000, storage: 1_000_000 };
    let worker = store.worker_register("w", &["example".to_string()], cap).await.unwrap();
    let leader = store.leader_try_elect("test").await.unwrap().expect("the only candidate leads");
    Bundle { store, worker, epoch: leader.epoch(), _leader: leader }
}

impl Bundle {
    /// One-off runs (legacy flow: admitted at once) of `users`, sharing one input blob, at `at`.
    async fn submit(&self, users: &[&str], at: DateTime<Utc>) -> Vec<RunId> {
        let p = berth::store::batch::SubmitBatchParams {
            input_zip: format!("input of {users:?}").into_bytes(),
            now: Some(at),
            ..common::legacy_batch(users)
        };
        self.store.run_submit_batch(&p).await.unwrap()
    }

    /// Claims every admitted run at `at`.
    async fn claim_all(&self, at: DateTime<Utc>) -> Vec<ClaimedRun> {
        let free = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000, storage: 1_000_000 };
        let p = ClaimParams {
            worker: self.worker,
            services: vec!["example".into()],
            free,
            limit: 1_000,
            now: Some(at),
            floor: None,
        };
        self.store.run_claim_batch(&p).await.unwrap()
    }

    /// Ends `run`'s attempt as succeeded at `at`, with a log line and a result zip.
    async fn finish(&self, claimed: &[ClaimedRun], run: RunId, at: DateTime<Utc>) {
        let c = claimed.iter().find(|c| c.id == run).expect("claimed");
        let logs = [("stdout".to_string(), b"hello\n".to_vec())];
        assert!(self.store.run_log_append(run, c.attempt_id, &logs).await.unwrap());
        let p = FinishParams {
            run,
            attempt_id: c.attempt_id,
            state: RunState::Succeeded,
            exit_code: Some(0),
            result_zip: Some(format!("result of {run}").into_bytes()),
            message: "exit code 0".into(),
            retry_after_seconds: None,
            excused: false,
            now: Some(at),
            streaming: None,
        };
        assert!(self.store.run_finish(p).await.unwrap());
    }

    async fn pass(&self, s: &RetentionSettings, at: DateTime<Utc>) -> Report {
        let mut sweep = Sweep::Idle(at + days(1));
        retention::pass(&self.store, self.epoch, s, &Clock::fixed(at), &mut sweep).await.unwrap()
    }

    async fn scalar(&self, sql: &str, run: RunId) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(run)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }

    async fn state(&self, run: RunId) -> RunState {
        self.store.run_get(run).await.unwrap().expect("run exists").state
    }

    /// (input blob, result blob) ids of a run.
    async fn blobs_of(&self, run: RunId) -> (Option<i64>, Option<i64>) {
        sqlx::query_as("select input_blob_id, result_blob_id from runs where id = $1")
            .bind(run)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }

    async fn blob_exists(&self, blob: i64) -> bool {
        sqlx::query_scalar::<_, bool>("select exists (select 1 from blobs where id = $1)")
            .bind(blob)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn old_finished_runs_are_cleaned_and_nothing_else_is_touched() {
    let b = setup().await;
    let t0 = start();
    let old = b.submit(&["a"], t0).await[0];
    let shared = b.submit(&["s1", "s2"], t0).await;
    let running = b.submit(&["r"], t0).await[0];
    let young = b.submit(&["y"], t0).await[0];
    let claimed = b.claim_all(t0).await;
    assert_eq!(claimed.len(), 5);
    b.finish(&claimed, old, t0).await;
    b.finish(&claimed, shared[0], t0).await;
    b.finish(&claimed, young, t0 + days(20)).await;
    let admitted = b.submit(&["q"], t0).await[0];
    let (old_input, old_result) = b.blobs_of(old).await;
    let (shared_input, shared_result) = b.blobs_of(shared[0]).await;
    let (young_input, young_result) = b.blobs_of(young).await;
    let (running_input, _) = b.blobs_of(running).await;
    let (admitted_input, _) = b.blobs_of(admitted).await;

    let report = b.pass(&settings(), t0 + days(31)).await;
    assert_eq!(report.cleaned.runs, 2, "{report:?}");
    assert_eq!(report.cleaned.log_rows, 2);
    assert_eq!(report.cleaned.blobs, 3, "two results and the input only the old run used");

    assert_eq!(b.state(old).await, RunState::Cleaned);
    assert_eq!(b.blobs_of(old).await, (None, None), "a cleaned run references no blob");
    assert!(!b.blob_exists(old_input.unwrap()).await && !b.blob_exists(old_result.unwrap()).await);
    assert_eq!(b.scalar("select count(*) from run_logs where run_id = $1", old).await, 0);
    assert_eq!(b.scalar("select count(*) from run_events where run_id = $1 and kind = 'cleaned'", old).await, 1);
    let job_input: Option<i64> =
        sqlx::query_scalar("select j.input_blob_id from jobs j join runs r on r.job_id = j.id where r.id = $1")
            .bind(old)
            .fetch_one(b.store.pool())
            .await
            .unwrap();
    assert_eq!(job_input, None, "the one-off job's reference went with its files");

    assert_eq!(b.state(shared[0]).await, RunState::Cleaned);
    assert!(!b.blob_exists(shared_result.unwrap()).await);
    assert!(b.blob_exists(shared_input.unwrap()).await, "the other run of the batch still uses the input");

    assert_eq!(b.state(young).await, RunState::Succeeded, "finished 11 days before");
    assert!(b.blob_exists(young_input.unwrap()).await && b.blob_exists(young_result.unwrap()).await);
    assert_eq!(b.scalar("select count(*) from run_logs where run_id = $1", young).await, 1);
    assert_eq!(b.state(running).await, RunState::Running, "unfinished runs are never touched");
    assert_eq!(b.state(shared[1]).await, RunState::Running);
    assert_eq!(b.state(admitted).await, RunState::Admitted);
    assert!(b.blob_exists(running_input.unwrap()).await && b.blob_exists(admitted_input.unwrap()).await);

    // The last run of the batch finishes: the shared input goes with it.
    b.finish(&claimed, shared[1], t0).await;
    let report = b.pass(&settings(), t0 + days(31)).await;
    assert_eq!(report.cleaned.runs, 1, "{report:?}");
    assert!(!b.blob_exists(shared_input.unwrap()).await);
    assert_eq!(b.pass(&settings(), t0 + days(31)).await, Report::default(), "nothing left to do");

    // After the second period the cleaned runs' rows go, with their one-off jobs.
    let jobs_before = b.scalar("select count(*) from jobs where $1::bigint is not null", old).await;
    let report = b.pass(&settings(), t0 + days(91)).await;
    assert_eq!(report.deleted.runs, 3, "{report:?}");
    assert_eq!(report.deleted.jobs, 3);
    assert_eq!(report.cleaned.runs, 1, "the young run is now old enough to be cleaned, not deleted");
    for run in [old, shared[0], shared[1]] {
        assert!(b.store.run_get(run).await.unwrap().is_none());
        assert_eq!(b.scalar("select count(*) from run_events where run_id = $1", run).await, 0);
        assert_eq!(b.scalar("select count(*) from attempts where run_id = $1", run).await, 0);
    }
    assert_eq!(b.scalar("select count(*) from jobs where $1::bigint is not null", old).await, jobs_before - 3);
    assert_eq!(b.state(young).await, RunState::Cleaned);
    assert_eq!(b.state(running).await, RunState::Running);
    assert_eq!(b.state(admitted).await, RunState::Admitted);
}

#[tokio::test]
async fn a_stored_jobs_input_stays_and_the_job_outlives_its_runs() {
    let b = setup().await;
    let t0 = start();
    let run = b.submit(&["k"], t0).await[0];
    // Its job becomes a stored job (as if created through /api/v1/jobs) sharing the run's input.
    sqlx::query("update jobs set one_off = false, name = 'kept' where id = (select job_id from runs where id = $1)")
        .bind(run)
        .execute(b.store.pool())
        .await
        .unwrap();
    let claimed = b.claim_all(t0).await;
    b.finish(&claimed, run, t0).await;
    let (input, result) = b.blobs_of(run).await;

    let report = b.pass(&settings(), t0 + days(31)).await;
    assert_eq!((report.cleaned.runs, report.cleaned.blobs), (1, 1), "{report:?}");
    assert!(b.blob_exists(input.unwrap()).await, "the stored job still uses its files");
    assert!(!b.blob_exists(result.unwrap()).await);

    let report = b.pass(&settings(), t0 + days(91)).await;
    assert_eq!((report.deleted.runs, report.deleted.jobs), (1, 0), "stored jobs stay: {report:?}");
    let job_input: Option<i64> = sqlx::query_scalar("select input_blob_id from jobs where name = 'kept'")
        .fetch_one(b.store.pool())
        .await
        .unwrap();
    assert_eq!(job_input, input);

    // Once the job is deleted nothing uses the files: the orphan sweep collects them.
    sqlx::query("update jobs set deleted_at = now() where name = 'kept'").execute(b.store.pool()).await.unwrap();
    let at = t0 + days(91);
    let mut sweep = Sweep::default();
    let report = retention::pass(&b.store, b.epoch, &settings(), &Clock::fixed(at), &mut sweep).await.unwrap();
    assert_eq!(report.orphans, 1, "{report:?}");
    assert!(!b.blob_exists(input.unwrap()).await);
    assert!(matches!(sweep, Sweep::Idle(_)), "one window covered every blob: {sweep:?}");
}

#[tokio::test]
async fn orphan_blobs_older_than_an_hour_are_collected() {
    let b = setup().await;
    let now = start();
    let insert = |age_seconds: i64| {
        let store = b.store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "with blob as (insert into blobs (size, created_at) values (5, $1::timestamptz - make_interval(secs => $2)) returning id)
                 insert into blob_chunks (blob_id, seq, data) select id, 0, '\\x0102030405'::bytea from blob returning blob_id",
            )
            .bind(now)
            .bind(age_seconds as f64)
            .fetch_one(store.pool())
            .await
            .unwrap()
        }
    };
    let old = insert(7200).await;
    let young = insert(60).await;
    let kept = insert(7200).await;
    let runs = b.submit(&["x"], now).await;
    sqlx::query("update jobs set one_off = false, name = 'stored', input_blob_id = $1 where id = (select job_id from runs where id = $2)")
        .bind(kept)
        .bind(runs[0])
        .execute(b.store.pool())
        .await
        .unwrap();

    let mut sweep = Sweep::default();
    let report = retention::pass(&b.store, b.epoch, &settings(), &Clock::fixed(now), &mut sweep).await.unwrap();
    assert_eq!((report.orphans, report.orphan_bytes), (1, 5), "{report:?}");
    assert!(!b.blob_exists(old).await);
    assert!(b.blob_exists(young).await, "an hour has not passed");
    assert!(b.blob_exists(kept).await, "a stored job uses it");
    let (run_input, _) = b.blobs_of(runs[0]).await;
    assert!(b.blob_exists(run_input.unwrap()).await, "a queued run's input");
    assert_eq!(b.scalar("select count(*) from blob_chunks where blob_id = $1", RunId(old)).await, 0);
}

#[tokio::test]
async fn it_works_in_batches_and_a_deposed_leader_removes_nothing() {
    let b = setup().await;
    let t0 = start();
    let runs = b.submit(&["a", "b", "c"], t0).await;
    let claimed = b.claim_all(t0).await;
    for run in &runs {
        b.finish(&claimed, *run, t0).await;
    }
    let small = RetentionSettings { batch_size: 2, batches_per_pass: 1, ..settings() };
    let at = t0 + days(31);

    let mut sweep = Sweep::Idle(at + days(1));
    let stale = retention::pass(&b.store, b.epoch - 1, &small, &Clock::fixed(at), &mut sweep).await;
    assert!(matches!(stale, Err(berth::store::Error::Deposed { .. })), "{stale:?}");
    assert_eq!(b.state(runs[0]).await, RunState::Succeeded);

    let first = b.pass(&small, at).await;
    assert_eq!((first.cleaned.runs, first.more), (2, true), "a full batch asks to run again: {first:?}");
    let second = b.pass(&small, at).await;
    assert_eq!((second.cleaned.runs, second.more), (1, false), "{second:?}");
    let disabled = RetentionSettings { enabled: false, ..settings() };
    assert_eq!(b.pass(&disabled, t0 + days(1000)).await, Report::default());
}

/// The duty in a running scheduler: a run finished longer ago than the retention period is
/// cleaned, and the seed's `/download` answers for it as the seed does.
#[tokio::test]
async fn the_leader_cleans_and_download_answers_cleaned() {
    let mut config = common::test_config();
    config.job_run_cleanup.retention_period = 1;
    config.job_run_cleanup.interval_seconds = 1;
    let app = common::TestApp::spawn_all(config).await;
    let id = app.submit_script("echo hello > out.txt\n", "1").await;
    assert_eq!(app.wait_terminal(id).await, "succeeded");
    common::wait_for("the run to be cleaned", Duration::from_secs(30), || async {
        (app.state(id).await == "cleaned").then_some(())
    })
    .await;

    let (status, body) = app.get_json(&format!("/download/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "Cleaned", "{body}");
    let head = app.http.head(app.url(&format!("/download/{id}"))).send().await.unwrap();
    assert_eq!(head.status(), 204);
    let (status, body) = app.get_json(&format!("/api/v1/runs/{id}/result")).await;
    assert_eq!((status, body["error"].as_str()), (410, Some("cleaned")), "{body}");
    let (_, logs) = app.get_json(&format!("/api/v1/runs/{id}/logs")).await;
    assert_eq!(logs["stdout"], "", "logs are gone");
    let (_, run) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    assert!(run.to_string().contains("\"cleaned\""), "the timeline shows the cleaning: {run}");
    app.stop().await;
}

/// Retention's passes run beside the leader loop: a cleaning statement that waits (here on a row
/// lock held by this test) does not hold up admission, and the run it cleans is cleaned once the
/// lock goes. With the pass inside the loop, the second run stayed queued until the lock went.
#[tokio::test]
async fn admission_goes_on_while_a_retention_statement_waits() {
    let mut config = common::test_config();
    config.job_run_cleanup.retention_period = 1;
    config.job_run_cleanup.interval_seconds = 1;
    let app = common::TestApp::spawn_all(config).await;
    let old = app.submit_script("true\n", "1").await;
    // Hold the old run's input blob from the start: the cleaning statement that deletes it waits for
    // this lock (which the run's claim and end, reading the blob, do not).
    let mut holder = app.store.pool().begin().await.unwrap();
    sqlx::query("select 1 from blobs where id = (select input_blob_id from runs where id = $1) for no key update")
        .bind(old)
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    assert_eq!(app.wait_terminal(old).await, "succeeded");
    common::wait_for("the cleaning statement to wait on the lock", Duration::from_secs(30), || async {
        let waiting: i64 = sqlx::query_scalar(
            // The statement's first line (pg_stat_activity keeps the first 1,024 bytes).
            "select count(*) from pg_stat_activity
             where wait_event_type = 'Lock' and query like '-- Cleans the oldest finished runs%'",
        )
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;

    let next = app.submit_script("true\n", "2").await;
    let (_, run) = app.get_json(&format!("/api/v1/runs/{next}")).await;
    assert_eq!(run["flow"], "priority", "a run the leader must admit: {run}");
    assert_eq!(app.wait_terminal(next).await, "succeeded", "admitted and run while retention waits");
    assert_eq!(app.state(old).await, "succeeded", "the waiting statement has not cleaned it yet");

    holder.rollback().await.unwrap();
    common::wait_for("the old run to be cleaned", Duration::from_secs(30), || async {
        (app.state(old).await == "cleaned").then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_worker_removes_leftover_run_folders_that_are_not_in_flight() {
    let b = setup().await;
    let t0 = start();
    let runs = b.submit(&["a", "b"], t0).await;
    let claimed = b.claim_all(t0).await;
    b.finish(&claimed, runs[0], t0).await;
    let scratch = tempfile::tempdir().unwrap();
    let dir = |name: &str| scratch.path().join(name);
    std::fs::create_dir_all(dir(&format!("run-{}-00aa/sub", runs[0]))).unwrap();
    std::fs::write(dir(&format!("run-{}-00aa/sub/file", runs[0])), b"x").unwrap();
    std::fs::write(dir(&format!("run-{}-00aa.zip", runs[0])), b"zip").unwrap();
    std::fs::write(dir("run-999999-00bb.zip"), b"zip").unwrap();
    std::fs::create_dir(dir(&format!("run-{}-00cc", runs[1]))).unwrap();
    std::fs::write(dir("notes.txt"), b"not ours").unwrap();

    let removed = berth::worker::leftovers::sweep(&b.store, scratch.path()).await;
    assert_eq!(removed, 3);
    let mut left: Vec<String> =
        std::fs::read_dir(scratch.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, vec!["notes.txt".to_string(), format!("run-{}-00cc", runs[1])], "a running run's folder stays");
}
