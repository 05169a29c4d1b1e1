//! Workflows in the store, without workers: a start writes one workflow run and a run per step in
//! one transaction; the release of a step's dependents reads only that step's edges (counted from
//! PostgreSQL's own per-transaction table statistics, with thousands of other steps waiting); a
//! failure cancels exactly the descendants; a schedule's fire starts a workflow run.

mod common;

use std::collections::BTreeMap;

use berth::config::Config;
use berth::domain::{ConcurrencyPolicy, FireOutcome, Flow, JobKind, Priority};
use berth::resources::Resources;
use berth::retry::RetryPolicy;
use berth::scheduler::SchedulerSettings;
use berth::scheduler::schedules;
use berth::store::grants::Viewer;
use berth::store::jobs::{Input, JobSpec, StartParams};
use berth::store::schedules::ScheduleSpec;
use berth::store::workflows::Started;
use berth::store::{JobId, RunId, Store, WorkflowRunId};
use berth::workflow::Step;
use chrono::{DateTime, Utc};
use sqlx::Connection;

fn spec(name: &str, kind: JobKind, steps: Vec<Step>) -> JobSpec {
    JobSpec {
        name: name.into(),
        description: String::new(),
        kind,
        service: "example".into(),
        namespace: "default".into(),
        run_as: "7".into(),
        priority: Priority::Normal,
        flow: Flow::Priority,
        request: Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
        command: (kind == JobKind::Batch).then(|| vec!["true".into()]),
        args: vec![],
        env: BTreeMap::new(),
        timeout_seconds: None,
        retry: RetryPolicy::default(),
        tags: BTreeMap::new(),
        restart: None,
        steps,
    }
}

fn step(name: &str, job: JobId, deps: &[&str]) -> Step {
    Step { name: name.into(), job, depends_on: deps.iter().map(|d| d.to_string()).collect() }
}

async fn create(store: &Store, spec: &JobSpec) -> JobId {
    store.job_create(spec, &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap()
}

async fn start(store: &Store, job: JobId) -> WorkflowRunId {
    let p = StartParams { triggered_by: "test".into(), ..StartParams::default() };
    match store.workflow_start(job, &p).await.unwrap() {
        Started::Started { id, .. } => id,
        other => panic!("not started: {other:?}"),
    }
}

async fn step_runs(store: &Store, wf: WorkflowRunId) -> BTreeMap<String, (RunId, String)> {
    store.workflow_run_steps(wf).await.unwrap().into_iter().map(|s| (s.name, (s.run_id, s.state.to_string()))).collect()
}

/// (relation, sequential scans, tuples fetched by index, tuples updated) of this transaction.
type Stats = Vec<(String, i64, i64, i64)>;

async fn xact_stats(conn: &mut sqlx::PgConnection) -> Stats {
    sqlx::query_as(
        "select relname::text, seq_scan, idx_tup_fetch, n_tup_upd from pg_stat_xact_user_tables \
         where relname in ('runs', 'workflow_steps', 'workflow_edges', 'workflow_runs') order by relname",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

fn of(stats: &Stats, rel: &str) -> (i64, i64, i64) {
    stats.iter().find(|s| s.0 == rel).map(|s| (s.1, s.2, s.3)).unwrap_or((0, 0, 0))
}

/// Ends `run` as `state` the way any path does (one update of its state), in a transaction, and
/// returns what that transaction read and wrote.
async fn end_and_measure(store: &Store, run: RunId, state: &str) -> Stats {
    let mut conn = sqlx::PgConnection::connect(store.url()).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("update runs set state = $2, finished_at = now() where id = $1")
        .bind(run)
        .bind(state)
        .execute(&mut *tx)
        .await
        .unwrap();
    let stats = xact_stats(&mut tx).await;
    tx.commit().await.unwrap();
    stats
}

#[tokio::test]
async fn releasing_dependents_reads_only_the_edges_of_the_step_that_ended() {
    let store = common::fresh_store().await;
    let job = create(&store, &spec("work", JobKind::Batch, vec![])).await;
    // A wide workflow whose 3,000 children wait on `big`, and a small one: a -> x, a -> y -> z.
    const WIDE: usize = 3000;
    let mut wide = vec![step("big", job, &[])];
    wide.extend((0..WIDE).map(|i| step(&format!("w{i}"), job, &["big"])));
    let wide_wf = start(&store, create(&store, &spec("wide", JobKind::Workflow, wide)).await).await;
    let small = vec![step("a", job, &[]), step("x", job, &["a"]), step("y", job, &["a"]), step("z", job, &["y"])];
    let small_wf = start(&store, create(&store, &spec("small", JobKind::Workflow, small)).await).await;
    sqlx::query("analyze runs, workflow_steps, workflow_edges, workflow_runs").execute(store.pool()).await.unwrap();
    let waiting: i64 =
        sqlx::query_scalar("select count(*) from runs where state = 'waiting'").fetch_one(store.pool()).await.unwrap();
    assert_eq!(waiting, WIDE as i64 + 3);

    let steps = step_runs(&store, small_wf).await;
    let stats = end_and_measure(&store, steps["a"].0, "succeeded").await;
    // The tables that grow with the steps are never scanned (workflow_runs, one row per workflow
    // run, is read by its primary key or, this small, scanned: it holds no steps).
    for rel in ["runs", "workflow_steps", "workflow_edges"] {
        assert_eq!(of(&stats, rel).0, 0, "no sequential scan of {rel}: {stats:?}");
    }
    // a has two children: its edges read a few times each (lock, decrement), two steps
    // decremented, two runs released, plus a's own update: a small constant per child, nothing
    // proportional to the 3,000 waiting runs.
    assert!(of(&stats, "workflow_edges").1 <= 4 * 2, "{stats:?}");
    assert_eq!(of(&stats, "workflow_steps").2, 2, "{stats:?}");
    assert_eq!(of(&stats, "runs").2, 3, "a and its two children: {stats:?}");
    assert!(of(&stats, "runs").1 <= 8, "{stats:?}");
    let steps = step_runs(&store, small_wf).await;
    assert_eq!((steps["x"].1.as_str(), steps["y"].1.as_str(), steps["z"].1.as_str()), ("queued", "queued", "waiting"));

    // A failure cancels exactly the descendants, reading only the edges below it.
    let stats = end_and_measure(&store, steps["y"].0, "failed").await;
    assert!(of(&stats, "workflow_edges").1 <= 4, "{stats:?}");
    assert_eq!(of(&stats, "workflow_edges").0, 0, "{stats:?}");
    assert_eq!(of(&stats, "runs").2, 2, "y and z: {stats:?}");
    let steps = step_runs(&store, small_wf).await;
    assert_eq!((steps["x"].1.as_str(), steps["z"].1.as_str()), ("queued", "cancelled"));
    end_and_measure(&store, steps["x"].0, "succeeded").await;
    let w = store.workflow_run_get(small_wf).await.unwrap().unwrap();
    assert_eq!((w.state.as_str(), w.steps_left, w.steps_failed, w.steps_cancelled), ("failed", 0, 1, 1));
    assert!(w.finished_at.is_some());

    // The wide parent's release is proportional to its own 3,000 children, and queues them all.
    let big = step_runs(&store, wide_wf).await["big"].0;
    let stats = end_and_measure(&store, big, "succeeded").await;
    assert_eq!(of(&stats, "workflow_steps").2, WIDE as i64, "{stats:?}");
    let queued: i64 = sqlx::query_scalar("select count(*) from runs where workflow_run_id = $1 and state = 'queued'")
        .bind(wide_wf)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(queued, WIDE as i64);
}

#[tokio::test]
async fn a_start_writes_everything_in_one_transaction_and_parents_get_lower_run_ids() {
    let store = common::fresh_store().await;
    let job = create(&store, &spec("work", JobKind::Batch, vec![])).await;
    // Children listed before their parents.
    let steps = vec![step("c", job, &["b"]), step("b", job, &["a"]), step("a", job, &[])];
    let wf = start(&store, create(&store, &spec("chain", JobKind::Workflow, steps)).await).await;
    let runs = step_runs(&store, wf).await;
    assert!(runs["a"].0 < runs["b"].0 && runs["b"].0 < runs["c"].0, "topological run ids: {runs:?}");
    assert_eq!(runs["a"].1, "queued");
    let edges = store.workflow_run_edges(wf).await.unwrap();
    assert_eq!(edges, vec![("a".to_string(), "b".to_string()), ("b".to_string(), "c".to_string())]);

    // A step whose job is gone: the start is refused and writes nothing.
    let other = create(&store, &spec("other", JobKind::Batch, vec![])).await;
    let wf_job = create(&store, &spec("broken", JobKind::Workflow, vec![step("s", other, &[])])).await;
    store.job_delete(other, false, "alice").await.unwrap();
    let before: (i64, i64) = sqlx::query_as("select (select count(*) from runs), (select count(*) from workflow_runs)")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let p = StartParams { triggered_by: "test".into(), ..StartParams::default() };
    let refused = store.workflow_start(wf_job, &p).await.unwrap();
    assert!(matches!(refused, Started::Invalid(_)), "{refused:?}");
    let after: (i64, i64) = sqlx::query_as("select (select count(*) from runs), (select count(*) from workflow_runs)")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(before, after);
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A schedule firing every minute with `policy`.
fn every_minute(policy: ConcurrencyPolicy) -> ScheduleSpec {
    ScheduleSpec {
        cron: "* * * * *".into(),
        time_zone: "UTC".into(),
        policy,
        starting_deadline_seconds: None,
        paused: false,
    }
}

/// Makes `job`'s schedule decide its fire times from `from` on.
async fn due_from(store: &Store, job: JobId, from: DateTime<Utc>) {
    sqlx::query("update schedules set after_at = $2, next_fire_at = $2 where job_id = $1")
        .bind(job)
        .bind(from)
        .execute(store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_schedule_fire_starts_a_workflow_run_and_forbid_skips_while_one_runs() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let job = create(&store, &spec("work", JobKind::Batch, vec![])).await;
    let wf_job =
        create(&store, &spec("nightly", JobKind::Workflow, vec![step("a", job, &[]), step("b", job, &["a"])])).await;
    let schedule = every_minute(ConcurrencyPolicy::Forbid);
    store.schedule_put(wf_job, &schedule, "alice", None).await.unwrap().expect("a workflow job takes a schedule");
    due_from(&store, wf_job, at("2030-01-01T10:00:00Z")).await;
    let settings = SchedulerSettings::from_config(&Config::default());
    let (_, fired) =
        schedules::run(&store, leader.epoch(), &settings, Some(at("2030-01-01T10:01:00.100Z")), 100).await.unwrap();
    assert_eq!(fired.started, 1);
    let runs: Vec<(WorkflowRunId, String)> =
        sqlx::query_as("select id, triggered_by from workflow_runs where job_id = $1")
            .bind(wf_job)
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].1, "schedule");
    assert_eq!(step_runs(&store, runs[0].0).await.len(), 2);
    // The next minute, the workflow run is still running: forbid skips.
    let (_, fired) =
        schedules::run(&store, leader.epoch(), &settings, Some(at("2030-01-01T10:02:00.100Z")), 100).await.unwrap();
    assert_eq!((fired.started, fired.skipped), (0, 1));
}

#[tokio::test]
async fn retention_keeps_a_steps_result_until_its_children_have_ended_and_deletes_the_step_rows() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let job = create(&store, &spec("work", JobKind::Batch, vec![])).await;
    let wf = start(
        &store,
        create(&store, &spec("pair", JobKind::Workflow, vec![step("a", job, &[]), step("b", job, &["a"])])).await,
    )
    .await;
    let runs = step_runs(&store, wf).await;
    let (a, b) = (runs["a"].0, runs["b"].0);
    end_and_measure(&store, a, "succeeded").await;
    let later = store.clock_now(None).await.unwrap() + chrono::Duration::seconds(60);
    let epoch = leader.epoch();
    assert_eq!(clean(&store, epoch, later).await, 0, "a's child b has not run: a keeps its result");
    end_and_measure(&store, b, "succeeded").await;
    assert_eq!(clean(&store, epoch, later).await, 2, "both ended: both cleaned");
    let mut tx = store.leader_tx(leader.epoch()).await.unwrap();
    tx.runs_delete_cleaned(later, 100).await.unwrap();
    tx.commit().await.unwrap();
    let left: (i64, i64) =
        sqlx::query_as("select (select count(*) from workflow_steps), (select count(*) from workflow_edges)")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(left, (0, 0), "the step rows and edges go with their runs");
    let w = store.workflow_run_get(wf).await.unwrap().expect("the workflow run stays as history");
    assert_eq!(w.state.as_str(), "succeeded");
}

/// One retention cleaning pass as the leader of `epoch`, with the cutoff `until`; runs cleaned.
async fn clean(store: &Store, epoch: i64, until: DateTime<Utc>) -> i64 {
    let mut tx = store.leader_tx(epoch).await.unwrap();
    let done = tx.runs_clean_batch(until, 100, until, "test").await.unwrap();
    tx.commit().await.unwrap();
    done.runs
}

#[tokio::test]
async fn a_workflow_fire_starts_nothing_once_its_setter_may_no_longer_run_a_step() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    // bob's job, which alice may run; alice's workflow over it, scheduled by alice.
    let bobs_spec = spec("bobs", JobKind::Batch, vec![]);
    let bobs = store.job_create(&bobs_spec, &Input::Keep(None), serde_json::json!({}), "bob").await.unwrap();
    let run_grant = vec![("user".to_string(), "alice".to_string(), "run".to_string())];
    store.job_grants_replace(bobs, &run_grant, "bob").await.unwrap();
    let wf_job = create(&store, &spec("nightly", JobKind::Workflow, vec![step("a", bobs, &[])])).await;
    let schedule = every_minute(ConcurrencyPolicy::Allow);
    let alice = Viewer { subject: "alice".into(), groups: vec![] };
    store.schedule_put(wf_job, &schedule, "alice", Some(&alice)).await.unwrap().unwrap();
    due_from(&store, wf_job, at("2030-01-01T10:00:00Z")).await;
    let settings = SchedulerSettings::from_config(&Config::default());
    let workflow_runs = || async {
        let n: i64 = sqlx::query_scalar("select count(*) from workflow_runs where job_id = $1")
            .bind(wf_job)
            .fetch_one(store.pool())
            .await
            .unwrap();
        n
    };
    let (_, fired) =
        schedules::run(&store, leader.epoch(), &settings, Some(at("2030-01-01T10:01:00.100Z")), 100).await.unwrap();
    assert_eq!((fired.started, fired.refused), (1, 0), "alice may run bob's job");
    assert_eq!(workflow_runs().await, 1);

    // bob takes `run` back: the next fire starts nothing and says why.
    store.job_grants_replace(bobs, &[], "bob").await.unwrap();
    let (_, fired) =
        schedules::run(&store, leader.epoch(), &settings, Some(at("2030-01-01T10:02:00.100Z")), 100).await.unwrap();
    assert_eq!((fired.started, fired.refused), (0, 1));
    assert_eq!(workflow_runs().await, 1, "no second workflow run");
    let fires = store.schedule_fires(wf_job, 10).await.unwrap();
    assert_eq!(fires[0].outcome, FireOutcome::Refused, "{fires:?}");
    assert_eq!(fires[0].fire_at, at("2030-01-01T10:02:00Z"));

    // An admin's schedule (no setter) is not checked; nor is the grant's return needed for it.
    store.schedule_put(wf_job, &schedule, "root", None).await.unwrap().unwrap();
    due_from(&store, wf_job, at("2030-01-01T10:02:30Z")).await;
    let (_, fired) =
        schedules::run(&store, leader.epoch(), &settings, Some(at("2030-01-01T10:03:00.100Z")), 100).await.unwrap();
    assert_eq!((fired.started, fired.refused), (1, 0));
    assert_eq!(workflow_runs().await, 2);
}
