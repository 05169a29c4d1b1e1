//! Stored jobs in the store: create, replace under a version, start runs that keep what they were
//! started with, the legacy switch, delete, the lists and their plans. Real Postgres.

mod common;

use std::collections::BTreeMap;

use berth::domain::{Flow, JobKind, Priority, RunState};
use berth::resources::Resources;
use berth::retry::RetryPolicy;
use berth::store::jobs::{Deleted, Input, JobSpec, StartParams};
use berth::store::lists::{JobCursor, JobFilter, RunFilter};
use berth::store::{JobId, Store};

fn spec(name: &str) -> JobSpec {
    JobSpec {
        name: name.into(),
        description: "nightly".into(),
        kind: JobKind::Batch,
        service: "example".into(),
        namespace: "default".into(),
        run_as: "7".into(),
        priority: Priority::Normal,
        flow: Flow::Priority,
        request: Resources { cpu: 100, memory: 64, pods: 1, storage: 0 },
        command: Some(vec!["echo".into(), "hello".into()]),
        args: vec!["--fast".into()],
        env: BTreeMap::from([("STAGE".to_string(), "prod".to_string())]),
        timeout_seconds: Some(60),
        retry: RetryPolicy { max_attempts: 2, ..RetryPolicy::default() },
        tags: BTreeMap::from([("team".to_string(), "ml".to_string())]),
        restart: None,
        steps: Vec::new(),
    }
}

async fn start(store: &Store, id: JobId, by: &str) -> berth::store::RunId {
    let p = StartParams { triggered_by: by.into(), ..StartParams::default() };
    store.job_start_run(id, &p).await.unwrap().unwrap()
}

/// The names `q` finds, best first.
async fn search(store: &Store, q: &str) -> Vec<String> {
    let f = JobFilter { q: Some(q.into()), limit: 10, ..JobFilter::default() };
    store.job_list(&f).await.unwrap().into_iter().map(|(j, _)| j.spec.name).collect()
}

#[tokio::test]
async fn a_job_reads_back_as_created_and_its_name_is_unique_in_its_namespace() {
    let store = common::fresh_store().await;
    let id = store.job_create(&spec("etl daily"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let job = store.job_get(id).await.unwrap().unwrap();
    assert_eq!(job.spec, spec("etl daily"));
    assert_eq!((job.created_by.as_str(), job.one_off, job.input_bytes), ("alice", false, 0));
    let again =
        store.job_create(&spec("etl daily"), &Input::Keep(None), serde_json::json!({}), "bob").await.unwrap_err();
    let berth::store::Error::Db(sqlx::Error::Database(e)) = again else { panic!("{again:?}") };
    assert_eq!(e.constraint(), Some(berth::store::jobs::NAME_TAKEN_CONSTRAINT));
    let elsewhere = JobSpec { namespace: "etl".into(), ..spec("etl daily") };
    store
        .job_create(&elsewhere, &Input::Keep(None), serde_json::json!({}), "bob")
        .await
        .expect("the same name in another namespace");
    let kinds: Vec<String> = store.job_events(id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["created"]);
}

#[tokio::test]
async fn a_run_keeps_what_it_was_started_with_when_its_job_changes() {
    let store = common::fresh_store().await;
    let id = store.job_create(&spec("keeps"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let job = store.job_get(id).await.unwrap().unwrap();
    let p = StartParams {
        priority: Some(Priority::High),
        env: BTreeMap::from([("EXTRA".to_string(), "1".to_string())]),
        triggered_by: "carol".into(),
        ..StartParams::default()
    };
    let run = store.job_start_run(id, &p).await.unwrap().unwrap();
    let edited = JobSpec { command: Some(vec!["false".into()]), env: BTreeMap::new(), ..spec("keeps") };
    let changes = serde_json::json!({"command": {"from": ["echo", "hello"], "to": ["false"]}});
    assert!(
        store.job_replace(id, job.updated_at, &edited, &Input::Keep(None), changes, "alice").await.unwrap().is_some()
    );
    let (command, env, priority, by): (serde_json::Value, serde_json::Value, String, String) =
        sqlx::query_as("select command, env, priority, triggered_by from runs where id = $1")
            .bind(run)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(command, serde_json::json!(["echo", "hello", "--fast"]), "the job's command and args at start");
    assert_eq!(env, serde_json::json!({"STAGE": "prod", "EXTRA": "1"}), "the job's env with the run's on top");
    assert_eq!((priority.as_str(), by.as_str()), ("high", "carol"));
    let unchanged = spec("keeps");
    let stale = store.job_replace(id, job.updated_at, &unchanged, &Input::Keep(None), serde_json::json!({}), "bob");
    assert!(stale.await.unwrap().is_none(), "a replace of a version that changed since is refused");
    let kinds: Vec<String> = store.job_events(id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["created", "updated"]);
}

#[tokio::test]
async fn moving_a_job_to_legacy_takes_its_queued_runs_out_of_admission() {
    let store = common::fresh_store().await;
    let id = store.job_create(&spec("blocker"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let run = start(&store, id, "alice").await;
    let other = store.job_create(&spec("bystander"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let untouched = start(&store, other, "alice").await;
    let job = store.job_get(id).await.unwrap().unwrap();
    let legacy = JobSpec { flow: Flow::Legacy, ..spec("blocker") };
    store.job_replace(id, job.updated_at, &legacy, &Input::Keep(None), serde_json::json!({}), "ops").await.unwrap();
    let moved = store.run_get(run).await.unwrap().unwrap();
    assert_eq!((moved.state, moved.flow), (RunState::Admitted, Flow::Legacy));
    assert_eq!(store.run_get(untouched).await.unwrap().unwrap().state, RunState::Queued);
}

#[tokio::test]
async fn deleting_a_job_with_active_runs_needs_cancel_runs_and_its_runs_stay_readable() {
    let store = common::fresh_store().await;
    let id = store.job_create(&spec("doomed"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let run = start(&store, id, "alice").await;
    assert_eq!(store.job_delete(id, false, "bob").await.unwrap(), Deleted::ActiveRuns(1));
    assert!(store.job_get(id).await.unwrap().is_some(), "refused: nothing changed");
    assert_eq!(store.job_delete(id, true, "bob").await.unwrap(), Deleted::Done { cancelled: 1, stopping: 0 });
    assert!(store.job_get(id).await.unwrap().is_none());
    assert_eq!(store.run_get(run).await.unwrap().unwrap().state, RunState::Cancelled, "its run stays readable");
    assert_eq!(store.job_delete(id, true, "bob").await.unwrap(), Deleted::NotFound);
    let again = store.job_create(&spec("doomed"), &Input::Keep(None), serde_json::json!({}), "alice").await;
    assert!(again.is_ok(), "a deleted job's name is free again");
}

#[tokio::test]
async fn the_job_list_finds_names_by_similarity_and_by_short_substrings_page_by_page() {
    let store = common::fresh_store().await;
    for name in ["etl-daily", "etl-daily-archive-backfill-2019", "train resnet", "xxabyy", "report.weekly"] {
        store.job_create(&spec(name), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    }
    let found = search(&store, "etl-daly").await;
    assert_eq!(found.first().map(String::as_str), Some("etl-daily"), "a typo still ranks the closest first: {found:?}");
    assert_eq!(search(&store, "ab").await, ["xxabyy"], "two characters find a substring");
    assert_eq!(search(&store, "t.w").await, ["report.weekly"]);

    // Keyset pages: every stored job exactly once, newest first.
    let mut seen = Vec::new();
    let mut after: Option<JobCursor> = None;
    loop {
        let page = store.job_list(&JobFilter { limit: 2, after, ..JobFilter::default() }).await.unwrap();
        let Some((last, score)) = page.last() else { break };
        after = Some(JobCursor { score: *score, id: last.id });
        seen.extend(page.iter().map(|(j, _)| j.id.0));
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!((seen.len(), &seen), (5, &sorted));
    let tagged = JobFilter { tags: vec![("team".into(), "ml".into())], limit: 10, ..JobFilter::default() };
    assert_eq!(store.job_list(&tagged).await.unwrap().len(), 5);
    let none = JobFilter { tags: vec![("team".into(), "web".into())], limit: 10, ..JobFilter::default() };
    assert!(store.job_list(&none).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_run_list_filters_by_job_state_trigger_and_id() {
    let store = common::fresh_store().await;
    let a = store.job_create(&spec("alpha"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let b = store.job_create(&spec("beta"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let a1 = start(&store, a, "alice").await;
    let a2 = start(&store, a, "cron").await;
    let b1 = start(&store, b, "alice").await;
    let ids = |runs: Vec<berth::store::runs::RunRow>| -> Vec<i64> { runs.into_iter().map(|r| r.id.0).collect() };
    let all = store.run_list(&RunFilter { limit: 10, ..RunFilter::default() }).await.unwrap();
    assert_eq!(ids(all), [b1.0, a2.0, a1.0], "newest first");
    let of_a = store.run_list(&RunFilter { job: Some(a), limit: 10, ..RunFilter::default() }).await.unwrap();
    assert_eq!(ids(of_a), [a2.0, a1.0]);
    let by_cron = RunFilter { triggered_by: Some("cron".into()), limit: 10, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&by_cron).await.unwrap()), [a2.0]);
    let by_id = RunFilter { q: Some(b1.0.to_string()), limit: 10, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&by_id).await.unwrap()), [b1.0]);
    let by_name = RunFilter { q: Some("lph".into()), limit: 10, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&by_name).await.unwrap()), [a2.0, a1.0]);
    let done = RunFilter { states: vec![RunState::Succeeded], limit: 10, ..RunFilter::default() };
    assert!(store.run_list(&done).await.unwrap().is_empty());
    let page = RunFilter { before: Some(a2), limit: 10, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&page).await.unwrap()), [a1.0]);
}

/// Every node type of a plan, depth first.
fn nodes(plan: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(kind) = plan.get("Node Type").and_then(|v| v.as_str()) {
        let index = plan.get("Index Name").and_then(|v| v.as_str()).unwrap_or("");
        out.push(format!("{kind} {index}").trim().to_string());
    }
    for child in plan.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
        nodes(child, out);
    }
}

fn plan_nodes(explain: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    nodes(&explain[0]["Plan"], &mut out);
    out
}

/// The search and the lists use the indexes meant for them on tables large enough for a plan to
/// matter (statistics taken).
#[tokio::test]
async fn the_search_and_the_lists_use_their_indexes() {
    let store = common::fresh_store().await;
    sqlx::query(
        "insert into jobs (name, service, namespace, user_id, created_by, one_off)
         select 'job-' || g || '-' || md5(g::text), 'example', 'default', (g % 500)::text, 'alice', g % 2 = 0
         from generate_series(1, 40000) g",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "insert into runs (job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage, state,
                           triggered_by)
         select id, user_id, service, namespace, 'normal', 'priority', 0, 0, 1, 0, 'succeeded', 'upload' from jobs",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::raw_sql("analyze jobs; analyze runs").execute(store.pool()).await.unwrap();

    let search = plan_nodes(
        &store.job_list_plan(&JobFilter { q: Some("7f3a".into()), limit: 50, ..JobFilter::default() }).await.unwrap(),
    );
    // Either trigram index: the partial one of stored jobs, or the one over every job name.
    assert!(search.iter().any(|n| n.starts_with("Bitmap Index Scan jobs_") && n.ends_with("name_trgm")), "{search:?}");
    let list = plan_nodes(&store.job_list_plan(&JobFilter { limit: 50, ..JobFilter::default() }).await.unwrap());
    assert!(list.iter().any(|n| n.contains("jobs_stored")), "{list:?}");
    // No index of its own (every index on runs costs each claim and finish an insert): newest first.
    let by_user = RunFilter { user: Some("42".into()), limit: 50, ..RunFilter::default() };
    let runs = plan_nodes(&store.run_list_plan(&by_user).await.unwrap());
    assert!(runs.iter().any(|n| n.contains("runs_pkey")), "{runs:?}");
    let by_job = RunFilter { job: Some(JobId(99)), limit: 50, ..RunFilter::default() };
    let runs = plan_nodes(&store.run_list_plan(&by_job).await.unwrap());
    assert!(runs.iter().any(|n| n.contains("runs_job")), "{runs:?}");
    let newest = plan_nodes(&store.run_list_plan(&RunFilter { limit: 50, ..RunFilter::default() }).await.unwrap());
    assert!(newest.iter().any(|n| n.contains("runs_pkey")), "newest first walks the primary key: {newest:?}");
}
