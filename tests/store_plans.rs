//! The hot statements keep good plans whatever the table statistics say (migration 0007).
//!
//! Statistics taken at the wrong moment (every run admitted, none running) once made the batched
//! finish compare every running run with every element: quadratic in the batch. These tests take
//! exactly those statistics and look at what PostgreSQL actually does.

mod common;

use berth::resources::Resources;
use berth::store::admission::PastCapped;
use berth::store::batch::SubmitBatchParams;
use berth::store::runs::ClaimParams;
use berth::store::{AttemptId, RunId};

/// Runs in the table, and how many of them are claimed and then finished in one batch.
const TABLE: usize = 40_000;
const RUNS: usize = 1_000;

/// Submits `TABLE` runs of `flow` (`legacy`: admitted at once; `priority`: queued), in bulk.
async fn fill(store: &berth::store::Store, flow: berth::domain::Flow) -> Vec<RunId> {
    let users: Vec<String> = (0..TABLE).map(|i| format!("u{}", i % 1000)).collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    common::create_namespace(store, "default", 1_000_000).await;
    let batch = SubmitBatchParams { flow, ..common::legacy_batch(&users) };
    let mut ids = Vec::new();
    for users in batch.user_ids.chunks(5_000) {
        ids.extend(
            store.run_submit_batch(&SubmitBatchParams { user_ids: users.to_vec(), ..batch.clone() }).await.unwrap(),
        );
    }
    ids
}

/// Every partial index on runs requires a column to be set (the guard the statements name).
#[tokio::test]
async fn every_partial_index_on_runs_has_a_not_null_guard() {
    let store = common::fresh_store().await;
    let defs: Vec<(String, String)> = sqlx::query_as(
        "select indexname, indexdef from pg_indexes where tablename = 'runs' and indexdef like '% WHERE %'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(defs.len() >= 5, "the queue's partial indexes: {defs:?}");
    for (name, def) in defs {
        assert!(def.contains("IS NOT NULL"), "{name} has no guard column: {def}");
    }
}

/// berth's connections run without JIT: PostgreSQL switches it on by estimated cost, and compiled
/// the admission queue read on every cycle (14 ms instead of 1.7 ms for 1,000 queued runs).
#[tokio::test]
async fn pooled_connections_run_without_jit() {
    let store = common::fresh_store().await;
    let jit: String = sqlx::query_scalar("show jit").fetch_one(store.pool()).await.unwrap();
    assert_eq!(jit, "off");
}

/// Sums a numeric field over every node of an EXPLAIN (FORMAT JSON) plan.
fn sum_field(plan: &serde_json::Value, field: &str) -> f64 {
    let own = plan.get(field).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    let children = plan
        .get("Plans")
        .and_then(serde_json::Value::as_array)
        .map_or(0.0, |plans| plans.iter().map(|p| sum_field(p, field)).sum());
    own + children
}

#[tokio::test]
async fn batched_finish_stays_linear_under_statistics_taken_before_anything_ran() {
    let store = common::fresh_store().await;
    fill(&store, berth::domain::Flow::Legacy).await;
    // The worst moment for statistics: everything admitted, nothing running.
    sqlx::query("analyze runs").execute(store.pool()).await.unwrap();
    let capacity = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
    let worker = store.worker_register("w", &["example".to_string()], capacity).await.unwrap();
    let claimed = store
        .run_claim_batch(&ClaimParams {
            worker,
            services: vec!["example".into()],
            free: capacity,
            limit: RUNS as i64,
            now: None,
            floor: None,
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), RUNS);

    let runs: Vec<RunId> = claimed.iter().map(|c| c.id).collect();
    let tokens: Vec<AttemptId> = claimed.iter().map(|c| c.attempt_id).collect();
    let states = vec!["succeeded"; RUNS];
    let codes = vec![Some(0_i32); RUNS];
    let zips: Vec<Option<Vec<u8>>> = vec![None; RUNS];
    let messages = vec!["done"; RUNS];
    let mut tx = store.pool().begin().await.unwrap();
    // The plan a long-lived connection ends up with: generic, planned once for any batch.
    sqlx::query("set local plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let explain = format!("explain (analyze, format json) {}", include_str!("../sql/runs/finish_batch.sql"));
    let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
        .bind(&runs)
        .bind(&tokens)
        .bind(&states)
        .bind(&codes)
        .bind(&zips)
        .bind(&messages)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let root = &plan[0]["Plan"];
    let removed = sum_field(root, "Rows Removed by Join Filter");

    assert!(removed <= RUNS as f64, "the finish compared {removed} pairs for {RUNS} runs (quadratic join): {root:#}");
}

/// Every node of an EXPLAIN (FORMAT JSON) plan, depth first.
/// `EXPLAIN (ANALYZE, FORMAT JSON)` of the admission snapshot reading `per_queue` runs per queue,
/// on `tx` (whose plan cache mode the caller sets).
async fn explain_snapshot(tx: &mut sqlx::PgConnection, per_queue: i64) -> serde_json::Value {
    let explain = format!("explain (analyze, format json) {}", include_str!("../sql/admission/snapshot.sql"));
    sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
        .bind(per_queue)
        .bind(30.0_f64)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .fetch_one(tx)
        .await
        .unwrap()
}

/// Queues `count` priority-flow runs of each `user`, in the given order.
async fn queue_priority_runs(store: &berth::store::Store, blocks: &[(&str, usize)]) {
    for &(user, count) in blocks {
        let users = vec![user; count];
        let batch = SubmitBatchParams { flow: berth::domain::Flow::Priority, ..common::legacy_batch(&users) };
        store.run_submit_batch(&batch).await.unwrap();
    }
}

fn nodes(plan: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = vec![plan];
    if let Some(children) = plan.get("Plans").and_then(serde_json::Value::as_array) {
        out.extend(children.iter().flat_map(nodes));
    }
    out
}

/// The admission commit reads its runs by primary key, whatever the statistics: written as a join
/// with its input, it was planned as a hash of the whole runs table (8.6 of 24 ms for 600 runs out
/// of 20,000, and growing with the queue).
#[tokio::test]
async fn admission_commit_reads_only_its_own_runs() {
    let store = common::fresh_store().await;
    let ids = fill(&store, berth::domain::Flow::Priority).await;
    sqlx::query("analyze runs").execute(store.pool()).await.unwrap();
    let leader = store.leader_try_elect("plans").await.unwrap().expect("leader");
    let runs: Vec<RunId> = ids[..RUNS].to_vec();

    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("set local plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let explain = format!("explain (analyze, format json) {}", include_str!("../sql/admission/admit.sql"));
    let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
        .bind(&runs)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .bind(0_i64)
        .bind(0_i64)
        .bind(leader.epoch())
        .bind(vec!["default"; RUNS])
        .bind(vec![0_i64; RUNS])
        .bind(vec![0_i64; RUNS])
        .bind(vec![0_i64; RUNS])
        .bind(vec![0_i64; RUNS])
        .bind(false)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let root = &plan[0]["Plan"];
    let read = runs_read(root);
    assert!(read <= 2.0 * RUNS as f64, "the commit read {read} runs to admit {RUNS}: {root:#}");
    let admitted = nodes(root)
        .into_iter()
        .find(|n| n["Node Type"] == "ModifyTable" && n["Relation Name"] == "runs")
        .and_then(|n| n["Actual Rows"].as_f64());
    assert_eq!(admitted, Some(RUNS as f64), "every run admitted: {root:#}");
    leader.release().await;
}

/// Rows a plan read from `runs` (scans and lookups, not the rows it wrote).
fn runs_read(plan: &serde_json::Value) -> f64 {
    nodes(plan)
        .into_iter()
        .filter(|n| n["Relation Name"] == "runs" && n["Node Type"] != "ModifyTable")
        .map(|n| n["Actual Rows"].as_f64().unwrap_or(0.0) * n["Actual Loops"].as_f64().unwrap_or(1.0))
        .sum()
}

/// Rows of `runs` the plan's scans visited: those they returned and those their filters removed,
/// times their loops.
fn runs_visited(plan: &serde_json::Value) -> f64 {
    nodes(plan)
        .into_iter()
        .filter(|n| n["Relation Name"] == "runs" && n["Node Type"] != "ModifyTable")
        .map(|n| {
            let rows = n["Actual Rows"].as_f64().unwrap_or(0.0) + n["Rows Removed by Filter"].as_f64().unwrap_or(0.0);
            rows * n["Actual Loops"].as_f64().unwrap_or(1.0)
        })
        .sum()
}

/// The snapshot and the claim run their generic plans (`Store::generic_pool`): with 80,000 runs
/// in the table each reads about what it returns, whatever statistics were taken (here: every
/// run queued, then half of them admitted).
#[tokio::test]
async fn snapshot_and_claim_read_only_their_runs_under_generic_plans() {
    let store = common::fresh_store().await;
    fill(&store, berth::domain::Flow::Priority).await;
    sqlx::query("analyze runs").execute(store.pool()).await.unwrap();
    fill(&store, berth::domain::Flow::Legacy).await;
    let capacity = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
    let worker = store.worker_register("w", &["example".to_string()], capacity).await.unwrap();

    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("set local plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let per_queue = 100_i64;
    let plan = explain_snapshot(&mut tx, per_queue).await;
    let root = &plan[0]["Plan"];
    // The queue's head, and the admitted runs of the ledger (the part that grows with work in flight).
    let bound = (per_queue + TABLE as i64) as f64 * 1.1;
    assert!(runs_read(root) <= bound, "the snapshot read {} runs: {root:#}", runs_read(root));
    assert!(
        !nodes(root).iter().any(|n| n["Relation Name"] == "runs" && n["Node Type"] == "Seq Scan"),
        "the snapshot scanned the whole runs table: {root:#}"
    );
    // The ledger is one row of arrays, read by the first queued run only: read once per queued run,
    // it cost 7 of 12 ms a snapshot at 1,000 queued runs (the planner had made `q.n = 1` a join
    // filter checked after the read).
    let ledger_reads: Vec<f64> = nodes(root)
        .into_iter()
        .filter(|n| n["Node Type"] == "CTE Scan" && n["CTE Name"] == "ledger")
        .map(|n| n["Actual Loops"].as_f64().unwrap_or(f64::NAN))
        .collect();
    assert_eq!(ledger_reads, [1.0], "the snapshot read the ledger once per queued run: {root:#}");

    let explain = format!("explain (analyze, format json) {}", include_str!("../sql/runs/claim_batch.sql"));
    let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
        .bind(worker)
        .bind(vec!["example"])
        .bind(capacity.cpu)
        .bind(capacity.memory)
        .bind(capacity.pods)
        .bind(capacity.storage)
        .bind(RUNS as i64)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .bind(0_i64)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let root = &plan[0]["Plan"];
    assert!(runs_read(root) <= 2.0 * RUNS as f64, "the claim read {} runs for {RUNS}: {root:#}", runs_read(root));
}

/// The snapshot reads a fair namespace per (user, service) with one index descent per pair (at
/// most ten times the read's size) and the runs it returns, under its generic plan: 40,000 queued
/// runs of 1,000 users, a read of 100 gives the oldest run of the 100 users whose oldest runs are
/// the oldest. The read in queue order does not run for that namespace.
#[tokio::test]
async fn the_snapshot_reads_a_fair_namespace_user_by_user_not_through_the_backlogs() {
    let store = common::fresh_store().await;
    fill(&store, berth::domain::Flow::Priority).await;
    let quota = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
    store.namespace_set_quota("default", quota, Some(berth::domain::Sharing::Fair)).await.unwrap();
    sqlx::query("analyze runs").execute(store.pool()).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("set local plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let plan = explain_snapshot(&mut tx, 100).await;
    // Which users: run i is user u(i % 1000)'s, so the oldest runs are u0's to u99's.
    let users: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select user_id from ({}) s where id is not null",
        include_str!("../sql/admission/snapshot.sql")
    )))
    .bind(100_i64)
    .bind(30.0_f64)
    .bind(None::<chrono::DateTime<chrono::Utc>>)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let users: std::collections::BTreeSet<String> = users.into_iter().collect();
    let oldest: std::collections::BTreeSet<String> = (0..100).map(|i| format!("u{i}")).collect();
    assert_eq!(users, oldest, "the 100 users whose oldest runs are the oldest, not u0..u99 in name order");
    let root = &plan[0]["Plan"];
    assert_eq!(root["Actual Rows"].as_f64(), Some(100.0), "one run of each of 100 users: {root:#}");
    assert!(runs_read(root) <= 1_200.0, "the snapshot read {} runs: {root:#}", runs_read(root));
    let reads: Vec<&serde_json::Value> = nodes(root)
        .into_iter()
        .filter(|n| n["Relation Name"] == "runs" && n["Actual Loops"].as_f64().unwrap_or(0.0) > 0.0)
        .filter(|n| n["Index Name"] != "runs_admitted" && n["Index Name"] != "runs_running_worker")
        .collect();
    assert!(
        !reads.is_empty() && reads.iter().all(|n| n["Index Name"] == "runs_queued_user"),
        "the queued runs are read through runs_queued_user only: {root:#}"
    );
}

/// The snapshot's read of a fair namespace where one user holds nearly every queued run reads each
/// pair's runs through runs_queued_user, under its generic plan, with the rows a filter removed
/// counted: a first version of `berth_queued_fair` (migration 0026) filtered out runs cooling down
/// inside each pair's read, and under these statistics its generic plan walked
/// runs_queued_namespace and filtered by pair, through alice's whole backlog for every pair
/// (200,046 runs visited here; `berth bench --scenario fairness`: snapshots up to 1.5 s, probes'
/// p50 from 20 ms to 0.3–3.8 s).
#[tokio::test]
async fn the_snapshot_reads_a_fair_namespace_pair_by_pair_behind_one_users_backlog() {
    let store = common::fresh_store().await;
    let quota = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
    store.namespace_set_quota("default", quota, Some(berth::domain::Sharing::Fair)).await.unwrap();
    queue_priority_runs(&store, &[("alice", 100_000), ("bob", 1), ("carol", 3)]).await;
    sqlx::query("analyze runs").execute(store.pool()).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("set local plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let plan = explain_snapshot(&mut tx, 100).await;
    tx.rollback().await.unwrap();
    let root = &plan[0]["Plan"];
    // 34 of alice's runs, bob's one and carol's three; the skip scan's descents and the ledger.
    assert_eq!(root["Actual Rows"].as_f64(), Some(38.0), "{root:#}");
    assert!(runs_visited(root) <= 200.0, "the snapshot visited {} runs: {root:#}", runs_visited(root));
}

/// A notification-driven cycle's read past capped users (admission/queued_heads.sql) skips a
/// capped backlog in one index descent, under its generic plan: behind alice's 20,000 queued
/// runs, bob's and carol's runs past the cut cost a handful of reads, not thousands (the read in
/// queue order, admission/queued_uncapped.sql, walks them). The rows counted include those a
/// filter removed: a first version's generic plan, made from statistics where one user held
/// nearly every run, walked the queue past the cut and filtered by pair (63 ms a read behind
/// 100,000 runs). That plan depends on the statistics and did not come up here; the statement's
/// order, which only runs_queued_user gives, now rules it out.
#[tokio::test]
async fn the_read_past_the_cut_skips_the_capped_backlogs() {
    let store = common::fresh_store().await;
    common::create_namespace(&store, "default", 1_000_000).await;
    queue_priority_runs(&store, &[("alice", 20_000), ("bob", 1), ("carol", 3)]).await;
    sqlx::query("analyze runs").execute(store.pool()).await.unwrap();
    // Alice's oldest runs have finished since: her backlog is capped.
    sqlx::query("update runs set state = 'succeeded', finished_at = now() where id <= 5000")
        .execute(store.pool())
        .await
        .unwrap();
    // The cut: the snapshot's last run, here alice's 100th still queued.
    let (cut_at, cut_id): (chrono::DateTime<chrono::Utc>, i64) = sqlx::query_as(
        "select enqueued_at, id from runs where state = 'queued' order by enqueued_at, id offset 99 limit 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("set local plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let explain = format!("explain (analyze, format json) {}", include_str!("../sql/admission/queued_heads.sql"));
    let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
        .bind("default")
        .bind(berth::domain::Priority::Normal)
        .bind(1000_i64)
        .bind(vec!["alice"])
        .bind(vec!["example"])
        .bind(Some(cut_at))
        .bind(Some(cut_id))
        .bind(chrono::Utc::now())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let root = &plan[0]["Plan"];
    assert_eq!(root["Actual Rows"].as_f64(), Some(3.0), "bob's run and carol's first two: {root:#}");
    assert!(runs_visited(root) <= 12.0, "the read past alice visited {} runs: {root:#}", runs_visited(root));
}

/// The read past the cut visits at most its bound of (user, service) pairs, capped ones included,
/// and says how many it visited: a notification-driven cycle adds nothing from a read that may
/// have left pairs out (`capped::past_the_cut`), since their runs could be older, and with a cut
/// the statement skips the per-pair reads of such a read.
#[tokio::test]
async fn the_read_past_the_cut_visits_at_most_its_bound_of_pairs() {
    let store = common::fresh_store().await;
    common::create_namespace(&store, "default", 1_000_000).await;
    for user in ["u1", "u2", "u3", "u4", "u5"] {
        let batch = SubmitBatchParams { flow: berth::domain::Flow::Priority, ..common::legacy_batch(&[user; 3]) };
        store.run_submit_batch(&batch).await.unwrap();
    }
    let normal = berth::domain::Priority::Normal;
    let open = PastCapped { namespace: "default", priority: normal, capped: &[], now: chrono::Utc::now() };
    let users = |rows: &[berth::store::admission::QueuedRow]| {
        let mut users: Vec<String> = rows.iter().map(|r| r.user_id.clone()).collect();
        users.sort();
        users
    };

    let (rows, visited) = store.admission_heads(&open, 10, None).await.unwrap();
    assert_eq!((rows.len(), visited), (10, 5), "two runs of each of the five pairs");
    let (rows, visited) = store.admission_heads(&open, 2, None).await.unwrap();
    assert_eq!(visited, 2);
    assert_eq!(users(&rows), ["u1", "u1", "u2", "u2"], "the first two pairs only");
    let capped = [("u1".to_string(), "example".to_string())];
    let (rows, visited) = store.admission_heads(&PastCapped { capped: &capped, ..open }, 2, None).await.unwrap();
    assert_eq!(visited, 2, "a capped pair counts as visited");
    assert_eq!(users(&rows), ["u2", "u2"], "but returns nothing");
    // With a cut (a fifo queue), a read that reached its bound returns nothing at all: the cycle
    // could take nothing from it.
    let cut = Some((chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, berth::store::RunId(0)));
    let (rows, _) = store.admission_heads(&open, 10, cut).await.unwrap();
    assert_eq!(rows.len(), 10, "every pair visited: two runs each past the cut");
    let (rows, _) = store.admission_heads(&open, 5, cut).await.unwrap();
    assert!(rows.is_empty(), "the bound reached: {}", users(&rows).join(", "));
}

/// Retention reads the runs it cleans through runs_finished, oldest first, and never more of them
/// than its batch; whether another run still uses an input is one probe of runs_input_blob per
/// input (migration 0021), and the workflow guard one probe of the step's own edges: no part of
/// the statement reads the whole runs table, or grows with it (before migration 0021 the input
/// check scanned it once per batch: 1.4 s per batch at 3,000,000 runs).
#[tokio::test]
async fn retention_cleans_a_batch_through_the_finished_runs_index() {
    let store = common::fresh_store().await;
    let ids = fill(&store, berth::domain::Flow::Legacy).await;
    let old: Vec<RunId> = ids[..2 * RUNS].to_vec();
    sqlx::query("update runs set state = 'succeeded', finished_at = now() - interval '40 days' where id = any($1)")
        .bind(&old)
        .execute(store.pool())
        .await
        .unwrap();
    // 100 inputs shared in turn by the batch (the 500 oldest runs, 5 each); the first 50 also by
    // young runs still admitted.
    let blobs: Vec<i64> =
        sqlx::query_scalar("insert into blobs (size) select 1 from generate_series(1, 100) returning id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    sqlx::query("update runs r set input_blob_id = ($2::bigint[])[1 + (r.id % 100)] where r.id = any($1)")
        .bind(&old[..500])
        .bind(&blobs)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("update runs r set input_blob_id = ($2::bigint[])[1 + (r.id % 50)] where r.id = any($1)")
        .bind(&ids[2 * RUNS..2 * RUNS + 100])
        .bind(&blobs)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("analyze runs").execute(store.pool()).await.unwrap();

    let mut tx = store.pool().begin().await.unwrap();
    // The leader's pooled connection plans it generically after a few runs: take that plan.
    sqlx::query("set local plan_cache_mode = force_generic_plan").execute(&mut *tx).await.unwrap();
    let explain = format!("explain (analyze, format json) {}", include_str!("../sql/runs/clean_batch.sql"));
    let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
        .bind(chrono::Utc::now() - chrono::Duration::days(30))
        .bind(500_i64)
        .bind(chrono::Utc::now())
        .bind("cleaned")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let root = &plan[0]["Plan"];
    let through_index: Vec<&serde_json::Value> =
        nodes(root).into_iter().filter(|n| n["Index Name"] == "runs_finished").collect();
    assert_eq!(through_index.len(), 1, "the batch is read through runs_finished: {root:#}");
    assert_eq!(through_index[0]["Actual Rows"].as_f64(), Some(500.0), "{root:#}");
    let cleaned = nodes(root)
        .into_iter()
        .find(|n| n["Node Type"] == "ModifyTable" && n["Relation Name"] == "runs" && n["Operation"] == "Update")
        .and_then(|n| n["Actual Rows"].as_f64());
    assert_eq!(cleaned, Some(500.0), "{root:#}");
    assert!(
        nodes(root).iter().any(|n| n["Index Name"] == "runs_input_blob"),
        "the input check probes runs_input_blob: {root:#}"
    );
    assert!(
        !nodes(root).iter().any(|n| n["Relation Name"] == "runs" && n["Node Type"] == "Seq Scan"),
        "no read of the whole runs table: {root:#}"
    );
    // The workflow guard stays a probe per candidate: as a hashed subplan it reads every edge and
    // every unfinished run, whatever the batch.
    let guard = through_index[0]["Filter"].as_str().unwrap_or_default();
    assert!(guard.contains("SubPlan") && !guard.contains("hashed"), "the guard: {guard}");
    // The batch (500), the update's lookups (500), and the inputs' probes: 100 inputs, each probe
    // stepping over the batch's own runs that share it (5 of them) before it finds another or ends.
    let read = runs_read(root);
    assert!(read <= 2_500.0, "the batch read {read} runs among {TABLE}: {root:#}");
    let doomed = nodes(root)
        .into_iter()
        .find(|n| n["Node Type"] == "ModifyTable" && n["Relation Name"] == "blobs")
        .and_then(|n| n["Actual Rows"].as_f64());
    assert_eq!(doomed, Some(50.0), "the 50 inputs only old runs use go, the 50 young runs use stay: {root:#}");
    eprintln!("clean batch of 500 among {TABLE} runs: {} ms", plan[0]["Execution Time"].as_f64().unwrap_or(0.0));
}

/// Batch runs never enter runs_streaming_active (migration 0017): 40,000 of them, admitted on
/// insert, leave it at its metapage; and the lookup that names a streaming job's active run reads
/// it, not the job's runs through runs_job.
#[tokio::test]
async fn batch_runs_never_enter_the_streaming_index_and_its_lookup_reads_it() {
    let store = common::fresh_store().await;
    let ids = fill(&store, berth::domain::Flow::Legacy).await;
    sqlx::query("analyze runs").execute(store.pool()).await.unwrap();
    let size: i64 =
        sqlx::query_scalar("select pg_relation_size('runs_streaming_active')").fetch_one(store.pool()).await.unwrap();
    assert_eq!(size, 8192, "only the metapage: no batch run wrote an entry");
    let job: i64 =
        sqlx::query_scalar("select job_id from runs where id = $1").bind(ids[0]).fetch_one(store.pool()).await.unwrap();
    let explain = format!("explain (analyze, format json) {}", include_str!("../sql/jobs/active_streaming_run.sql"));
    let plan: serde_json::Value =
        sqlx::query_scalar(sqlx::AssertSqlSafe(explain)).bind(job).fetch_one(store.pool()).await.unwrap();
    let root = &plan[0]["Plan"];
    assert!(nodes(root).iter().any(|n| n["Index Name"] == "runs_streaming_active"), "{root:#}");
    assert!(runs_read(root) <= 1.0, "{root:#}");
}
