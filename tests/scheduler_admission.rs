//! Admission on real Postgres: quotas block and explain, a stale snapshot never overcommits,
//! namespaces are managed over the API, the legacy switch, and the leader's metrics.

mod common;

use std::time::Duration;

use berth::clock::Clock;
use berth::domain::Sharing;
use berth::resources::Resources;
use berth::scheduler::SchedulerSettings;
use berth::scheduler::admission::Wrr;
use berth::scheduler::cycle;
use berth::service::Roles;
use berth::store::RunId;
use common::{TestApp, gate_path, test_config, wait_for};

async fn put_quota(app: &TestApp, ns: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let res = app.http.put(app.url(&format!("/api/v1/namespaces/{ns}"))).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

async fn upload_in(app: &TestApp, script: &str, ns: &str, cpu: &str) -> reqwest::Response {
    app.upload(
        &[("run.sh", script.as_bytes())],
        &[("user_id", "1"), ("service", "example"), ("namespace", ns), ("cpu", cpu)],
    )
    .await
}

#[tokio::test]
async fn a_quota_blocks_the_next_run_says_why_and_admits_it_when_room_returns() {
    let mut config = test_config();
    config.worker.cpu = 8000;
    let app = TestApp::spawn_all(config).await;
    let (status, ns) =
        put_quota(&app, "etl", serde_json::json!({"cpu": 1000, "memory": 4096, "pods": 10, "storage": 1000})).await;
    assert_eq!(status, 200);
    assert_eq!(ns["limit"]["cpu"], 1000);

    let gate = gate_path("quota");
    let first =
        upload_in(&app, &format!("while [ ! -f {} ]; do sleep 0.02; done\n", gate.display()), "etl", "1000").await;
    let first = first.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_for("the first run to start", Duration::from_secs(30), || async {
        (app.state(first).await == "running").then_some(())
    })
    .await;
    let second = upload_in(&app, "echo second > out.txt\n", "etl", "500").await;
    let second = second.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();

    let why = wait_for("a block record", Duration::from_secs(30), || async {
        let (_, why) = app.get_json(&format!("/api/v1/runs/{second}/why")).await;
        why["record"].is_object().then_some(why)
    })
    .await;
    assert_eq!(why["state"], "queued");
    let message = why["message"].as_str().unwrap();
    assert!(message.contains("cpu") && message.contains("etl"), "names the dimension and namespace: {message}");
    let scope = &why["record"]["scopes"][0];
    assert_eq!(
        (scope["requested"].as_i64(), scope["available"].as_i64(), scope["shortfall"].as_i64()),
        (Some(500), Some(0), Some(500))
    );

    let (_, queue) = app.get_json("/api/v1/queue?namespace=etl").await;
    let queue = queue.as_array().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0]["id"], second);
    let (_, ns) = app.get_json("/api/v1/namespaces/etl").await;
    assert_eq!(
        (ns["used"]["cpu"].as_i64(), ns["queued"]["cpu"].as_i64(), ns["queued_runs"].as_i64()),
        (Some(1000), Some(500), Some(1))
    );

    std::fs::write(&gate, b"go").unwrap();
    assert_eq!(app.wait_terminal(first).await, "succeeded");
    assert_eq!(app.wait_terminal(second).await, "succeeded");
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}

/// Runs queued in `etl` (quota 2,000 millicores), a leader elected by the test, and the cycle's
/// plan, not committed yet: it admits every run.
struct Planned {
    app: TestApp,
    store: berth::store::Store,
    /// The first run.
    id: i64,
    /// Every run, in submission order.
    ids: Vec<i64>,
    settings: SchedulerSettings,
    leader: berth::store::leader::LeaderSession,
    plan: cycle::Plan,
}

/// One run of 1,500 millicores.
async fn one_run_planned_in_etl() -> Planned {
    planned_in_etl(&["1500"]).await
}

/// One run per request (millicores), submitted in order.
async fn planned_in_etl(cpus: &[&str]) -> Planned {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let store = app.store.clone();
    let capacity = Resources { cpu: 8000, memory: 8192, pods: 8, storage: 8192 };
    store.worker_register("idle", &["example".to_string()], capacity).await.unwrap();
    store
        .namespace_set_quota("etl", Resources { cpu: 2000, memory: 4096, pods: 10, storage: 1000 }, None)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for cpu in cpus {
        let res = upload_in(&app, "echo hi\n", "etl", cpu).await;
        ids.push(res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap());
    }

    let settings = SchedulerSettings::from_config(&test_config());
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let plan = cycle::plan(&mut store.hold(), Wrr::default(), &settings, &Clock::System, settings.scan_limit)
        .await
        .unwrap()
        .expect("something queued");
    assert_eq!(plan.decisions.admitted.len(), ids.len(), "the snapshot says they fit");
    Planned { app, store, id: ids[0], ids, settings, leader, plan }
}

#[tokio::test]
async fn a_quota_lowered_between_snapshot_and_commit_gives_a_stale_retry_and_no_overcommit() {
    let Planned { app, store, id, settings, leader, plan, .. } = one_run_planned_in_etl().await;
    // The quota shrinks after the snapshot, before the commit.
    store
        .namespace_set_quota("etl", Resources { cpu: 1000, memory: 4096, pods: 10, storage: 1000 }, None)
        .await
        .unwrap();
    let outcome = cycle::commit(&mut store.hold(), leader.epoch(), &plan, &Clock::System).await.unwrap();
    assert!(outcome.admitted.is_empty(), "never overcommit");
    assert_eq!(outcome.stale.len(), 1);
    assert!(outcome.again(), "the next cycle starts at once");
    assert_eq!(app.state(id).await, "queued", "kept at its place");
    let (_, run) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    let kinds: Vec<&str> = run["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"stale_quota_retry"), "{kinds:?}");

    // The next cycle sees the new quota and records the block instead.
    let mut wrr = Wrr::default();
    let outcome =
        cycle::run(&mut store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, true).await.unwrap();
    assert!(outcome.admitted.is_empty() && outcome.stale.is_empty());
    let (_, why) = app.get_json(&format!("/api/v1/runs/{id}/why")).await;
    assert!(why["message"].as_str().unwrap().contains("cpu"), "{why}");
    leader.release().await;
    app.stop().await;
}

/// The re-check counts the batch's own runs: with the quota lowered under the plan, the first run
/// of the namespace still fits and is admitted, the second would not fit beside it and stays queued
/// with a stale retry; a run cancelled meanwhile is skipped without an event.
#[tokio::test]
async fn the_commit_re_checks_each_run_beside_the_batchs_earlier_runs() {
    let Planned { app, store, ids, leader, plan, .. } = planned_in_etl(&["600", "300", "600"]).await;
    store
        .namespace_set_quota("etl", Resources { cpu: 1000, memory: 4096, pods: 10, storage: 1000 }, None)
        .await
        .unwrap();
    assert!(store.run_cancel_unstarted(RunId(ids[1]), "changed my mind", "test").await.unwrap());

    let outcome = cycle::commit(&mut store.hold(), leader.epoch(), &plan, &Clock::System).await.unwrap();
    assert_eq!(outcome.admitted, vec![RunId(ids[0])], "600 of 1,000 fits");
    assert_eq!(outcome.stale, vec![RunId(ids[2])], "600 + 300 (cancelled, still counted) + 600 does not");
    assert_eq!(app.state(ids[0]).await, "admitted");
    assert_eq!(app.state(ids[1]).await, "cancelled");
    assert_eq!(app.state(ids[2]).await, "queued", "kept at its place");
    let stale_events: Vec<i64> =
        sqlx::query_scalar("select run_id from run_events where kind = 'stale_quota_retry' order by run_id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(stale_events, vec![ids[2]], "no event for the cancelled run");
    leader.release().await;
    app.stop().await;
}

/// The commit reads the quota from the row it locked: a quota change that commits while the
/// commit waits for that lock is what the re-check sees (admission/admit.sql).
#[tokio::test]
async fn a_quota_lowered_while_the_commit_waits_for_its_lock_gives_a_stale_retry() {
    let Planned { app, store, id, leader, plan, .. } = one_run_planned_in_etl().await;

    // A quota change holds the namespace row while the commit starts.
    let mut change = store.pool().begin().await.unwrap();
    sqlx::query("update namespaces set cpu_limit = 1000 where name = 'etl'").execute(&mut *change).await.unwrap();
    let commit = tokio::spawn({
        let (store, epoch) = (store.clone(), leader.epoch());
        async move { cycle::commit(&mut store.hold(), epoch, &plan, &Clock::System).await }
    });
    wait_for("the commit to wait for the namespace lock", Duration::from_secs(10), || async {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;
    change.commit().await.unwrap();

    let outcome = commit.await.unwrap().unwrap();
    assert!(outcome.admitted.is_empty(), "never overcommit");
    assert_eq!(outcome.stale.len(), 1);
    assert_eq!(app.state(id).await, "queued", "kept at its place");
    leader.release().await;
    app.stop().await;
}

/// The commit is one statement that checks the epoch first: a deposed leader's plan writes nothing
/// (no admission, no event, no credits), whichever of its parts would have run.
#[tokio::test]
async fn a_deposed_leaders_commit_writes_nothing() {
    let Planned { app, store, id, leader, plan, .. } = one_run_planned_in_etl().await;
    let events_before: i64 =
        sqlx::query_scalar("select count(*) from run_events").fetch_one(store.pool()).await.unwrap();
    let stale_epoch = leader.epoch() - 1;
    match cycle::commit(&mut store.hold(), stale_epoch, &plan, &Clock::System).await {
        Err(berth::store::Error::Deposed { mine }) => assert_eq!(mine, stale_epoch),
        other => panic!("expected Deposed, got {other:?}"),
    }
    assert_eq!(app.state(id).await, "queued");
    let events_after: i64 =
        sqlx::query_scalar("select count(*) from run_events").fetch_one(store.pool()).await.unwrap();
    assert_eq!(events_after, events_before, "no event written");
    let credits: (i64, i64) =
        sqlx::query_as("select wrr_high, wrr_normal from leader where id = 1").fetch_one(store.pool()).await.unwrap();
    assert_eq!(credits, (0, 0), "no credits written");
    leader.release().await;
    app.stop().await;
}

#[tokio::test]
async fn namespaces_are_managed_over_the_api_and_impossible_requests_are_refused() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let (status, _) = app.get_json("/api/v1/namespaces/nope").await;
    assert_eq!(status, 404);
    for bad in [
        serde_json::json!({"cpu": 1}),
        serde_json::json!({"cpu": -1, "memory": 1, "pods": 1, "storage": 1}),
        serde_json::json!({"cpu": "many", "memory": 1, "pods": 1, "storage": 1}),
        serde_json::json!({"cpu": 1, "memory": 1, "pods": 1, "storage": 1, "gpu": 1}),
    ] {
        let (status, body) = put_quota(&app, "etl", bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
    }
    let (status, _) =
        put_quota(&app, "bad name", serde_json::json!({"cpu": 1, "memory": 1, "pods": 1, "storage": 1})).await;
    assert_eq!(status, 400);
    let (status, _) =
        put_quota(&app, "etl", serde_json::json!({"cpu": 2000, "memory": 1024, "pods": 2, "storage": 10})).await;
    assert_eq!(status, 200);
    let (_, list) = app.get_json("/api/v1/namespaces").await;
    assert!(list.as_array().unwrap().iter().any(|n| n["name"] == "etl"));

    let before = app.counts().await;
    let res = app
        .upload(
            &[("run.sh", b"echo hi\n")],
            &[("user_id", "1"), ("service", "example"), ("namespace", "etl"), ("memory", "65536")],
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "exceeds_quota");
    assert!(body["message"].as_str().unwrap().contains("memory requested 65536MiB"), "{body}");
    assert_eq!(app.counts().await, before);
    let (status, _) = app.get_json("/api/v1/queue?priority=urgent").await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn moving_every_job_to_the_legacy_flow_admits_a_blocked_run_at_once() {
    let app = TestApp::spawn_all(test_config()).await;
    // One pod: the second run waits for the first under the priority flow.
    put_quota(&app, "tight", serde_json::json!({"cpu": 1000, "memory": 1024, "pods": 1, "storage": 10})).await;
    let gate = gate_path("legacy");
    let blocker =
        upload_in(&app, &format!("while [ ! -f {} ]; do sleep 0.02; done\n", gate.display()), "tight", "0").await;
    let blocker = blocker.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_for("the blocker to start", Duration::from_secs(30), || async {
        (app.state(blocker).await == "running").then_some(())
    })
    .await;
    let waiting = upload_in(&app, "echo legacy > out.txt\n", "tight", "0").await;
    let waiting = waiting.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_for("the pods quota to block it", Duration::from_secs(30), || async {
        let (_, why) = app.get_json(&format!("/api/v1/runs/{waiting}/why")).await;
        why["record"].is_object().then_some(())
    })
    .await;
    let res = app.http.post(app.url("/api/v1/admin/migrate-to-legacy")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let moved: serde_json::Value = res.json().await.unwrap();
    assert!(moved["jobs"].as_i64().unwrap() >= 2 && moved["runs"].as_i64().unwrap() >= 1, "{moved}");
    assert_eq!(app.wait_terminal(waiting).await, "succeeded", "legacy runs skip admission");
    std::fs::write(&gate, b"go").unwrap();
    assert_eq!(app.wait_terminal(blocker).await, "succeeded");
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}

#[tokio::test]
async fn a_backlog_blocked_in_one_namespace_does_not_hide_another_namespace() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let store = app.store.clone();
    let capacity = Resources { cpu: 8000, memory: 8192, pods: 8, storage: 8192 };
    store.worker_register("idle", &["example".to_string()], capacity).await.unwrap();
    store.namespace_set_quota("a", Resources { cpu: 8000, memory: 8192, pods: 1, storage: 8192 }, None).await.unwrap();
    common::create_namespace(&store, "b", 1_000_000).await;
    let mut backlog = Vec::new();
    for _ in 0..5 {
        let res = upload_in(&app, "echo a\n", "a", "0").await;
        backlog.push(res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let res = upload_in(&app, "echo b\n", "b", "0").await;
    let other = res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();

    let mut settings = SchedulerSettings::from_config(&test_config());
    settings.scan_limit = 2; // fewer than namespace a's backlog
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let mut wrr = Wrr::default();
    let outcome =
        cycle::run(&mut store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, true).await.unwrap();
    let admitted: Vec<i64> = outcome.admitted.iter().map(|r| r.0).collect();
    assert!(admitted.contains(&backlog[0]), "a's head fits its one pod: {admitted:?}");
    assert!(admitted.contains(&other), "b's run is seen and admitted despite a's backlog: {admitted:?}");
    assert_eq!(admitted.len(), 2);
    leader.release().await;
    app.stop().await;
}

#[tokio::test]
async fn a_head_blocked_past_the_head_timeout_is_cancelled_with_a_reason_a_person_can_act_on() {
    let config =
        berth::config::Config::load(None, [("BERTH_QUEUE_HEAD_TIMEOUT_SECONDS".to_string(), "1".to_string())]).unwrap();
    let mut test = test_config();
    test.queue = config.queue.clone();
    assert_eq!(test.queue.head_timeout_seconds, 1, "the environment name reaches the setting");
    let app = TestApp::spawn_all(test).await;
    put_quota(&app, "tiny", serde_json::json!({"cpu": 1000, "memory": 4096, "pods": 10, "storage": 100})).await;
    let gate = gate_path("head");
    let first =
        upload_in(&app, &format!("while [ ! -f {} ]; do sleep 0.02; done\n", gate.display()), "tiny", "1000").await;
    let first = first.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_for("the first run to start", Duration::from_secs(30), || async {
        (app.state(first).await == "running").then_some(())
    })
    .await;
    let head = upload_in(&app, "echo never\n", "tiny", "1000").await;
    let head = head.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(app.wait_terminal(head).await, "cancelled");
    let (_, run) = app.get_json(&format!("/api/v1/runs/{head}")).await;
    let reason = run["message"].as_str().unwrap();
    assert!(
        reason.starts_with("blocked at the head of the normal queue of namespace tiny for")
            && reason.contains("cpu requested 1000"),
        "{reason}"
    );
    let kinds: Vec<&str> = run["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.last(), Some(&"head_timeout"));
    std::fs::write(&gate, b"go").unwrap();
    assert_eq!(app.wait_terminal(first).await, "succeeded");
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}

/// The leader refreshes the runs table's statistics off its loop: an analyze that waits (here on a
/// lock; at a million rows it takes about 250 ms) does not hold up admission.
#[tokio::test]
async fn admission_goes_on_while_the_statistics_refresh_waits() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: true, worker: false }).await;
    let store = app.store.clone();
    let capacity = Resources { cpu: 8000, memory: 8192, pods: 8, storage: 8192 };
    store.worker_register("idle", &["example".to_string()], capacity).await.unwrap();

    // An analyze cannot start while this lock is held (it takes the same mode); writes can.
    let mut lock = store.pool().begin().await.unwrap();
    sqlx::query("lock table runs in share update exclusive mode").execute(&mut *lock).await.unwrap();
    // Enough finished runs, never analyzed, for the leader to want fresh statistics.
    let users: Vec<String> = (0..=berth::scheduler::statistics::MIN_ROWS).map(|i| format!("u{i}")).collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    common::create_namespace(&store, "default", 1_000_000).await;
    store.run_submit_batch(&common::legacy_batch(&users)).await.unwrap();
    sqlx::query("update runs set state = 'succeeded', finished_at = now()").execute(store.pool()).await.unwrap();
    let analyze_waits = || async {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where wait_event_type = 'Lock' and query ilike '%analyze runs%' and datname = current_database()",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        (waiting > 0).then_some(())
    };
    wait_for("the leader's analyze to wait for the lock", Duration::from_secs(30), analyze_waits).await;

    let res = upload_in(&app, "echo hi\n", "default", "100").await;
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_for("the run to be admitted", Duration::from_secs(10), || async {
        (app.state(id).await == "admitted").then_some(())
    })
    .await;
    assert!(analyze_waits().await.is_some(), "admitted while the analyze still waited");
    lock.rollback().await.unwrap();
    app.stop().await;
}

/// Queues `backlogs` runs per user (in the given order of (user, count) blocks) in the priority
/// flow of namespace `default`, with the `example` service capped at `cap` runs per user, a worker
/// with room for everything, and reads of `scan_limit` runs per queue. Returns the leader's
/// settings and lease.
async fn capped_backlogs(
    app: &TestApp,
    blocks: &[(&str, usize)],
    scan_limit: i64,
    cap: u32,
) -> (SchedulerSettings, berth::store::leader::LeaderSession) {
    let store = &app.store;
    let capacity = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
    store.worker_register("roomy", &["example".to_string()], capacity).await.unwrap();
    common::create_namespace(store, "default", 1_000_000).await;
    for (user, count) in blocks {
        let users = vec![*user; *count];
        let batch = berth::store::batch::SubmitBatchParams {
            flow: berth::domain::Flow::Priority,
            request: Resources { cpu: 0, memory: 0, pods: 0, storage: 0 },
            ..common::legacy_batch(&users)
        };
        store.run_submit_batch(&batch).await.unwrap();
    }
    let mut config = test_config();
    config.services.get_mut("example").unwrap().runs_per_user = cap;
    let mut settings = SchedulerSettings::from_config(&config);
    settings.scan_limit = scan_limit;
    settings.policy.batch_size = 10_000;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    (settings, leader)
}

async fn active_per_user(store: &berth::store::Store) -> std::collections::BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "select user_id, count(*) from runs where state in ('admitted', 'running') group by user_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

#[tokio::test]
async fn a_users_capped_backlog_does_not_hide_another_users_run_queued_behind_it() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    // Alice's 50 runs fill every read of 5; Bob's one run is queued behind them all.
    let (settings, leader) = capped_backlogs(&app, &[("alice", 50), ("bob", 1)], 5, 1).await;
    let mut wrr = Wrr::default();

    let first =
        cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, true).await.unwrap();
    assert_eq!(first.admitted.len(), 2, "alice's first run and bob's, in the same cycle");
    let active = active_per_user(&app.store).await;
    assert_eq!(active.get("bob"), Some(&1), "bob's run is not hidden behind alice's backlog");
    assert_eq!(active.get("alice"), Some(&1), "alice stays at her cap of 1");
    leader.release().await;
    app.stop().await;
}

/// A notification-driven cycle, not only the once-per-tick one, sees past a capped backlog: another
/// user's run waits for no more than the next cycle (issue 18). Before migration 0025 only the
/// full cycle read past the backlog, since that read walked the backlog's index entries.
#[tokio::test]
async fn a_quick_cycle_also_sees_past_a_capped_backlog() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let (mut settings, leader) = capped_backlogs(&app, &[("alice", 500), ("bob", 1), ("alice", 10)], 200, 1).await;
    settings.policy.batch_size = 20;
    assert_eq!(settings.quick_scan_limit(), 100, "a quick read, shorter than the full one, and full");
    let mut wrr = Wrr::default();
    let quick =
        cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, false).await.unwrap();
    assert_eq!(quick.admitted.len(), 2, "alice's first run and bob's, in a quick cycle");
    let active = active_per_user(&app.store).await;
    assert_eq!((active.get("alice"), active.get("bob")), (Some(&1), Some(&1)));
    leader.release().await;
    app.stop().await;
}

/// A quick cycle's read past a capped backlog keeps queue order between the other users: carol's
/// second run, queued before bob's, goes before it. A read of each user's oldest run only (session
/// 14's) saw carol's first run and bob's, and admitted bob's ahead of carol's older second one.
#[tokio::test]
async fn a_quick_cycle_past_a_capped_backlog_keeps_queue_order() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let (mut settings, leader) = capped_backlogs(&app, &[("alice", 500), ("carol", 2), ("bob", 1)], 200, 2).await;
    settings.policy.batch_size = 2;
    let mut wrr = Wrr::default();
    let mut held = app.store.hold();
    let mut quick = async || cycle::run(&mut held, leader.epoch(), &mut wrr, &settings, &Clock::System, false).await;

    quick().await.unwrap();
    assert_eq!(active_per_user(&app.store).await.get("alice"), Some(&2), "alice reaches her cap of 2");
    quick().await.unwrap();
    let active = active_per_user(&app.store).await;
    assert_eq!(
        (active.get("carol"), active.get("bob")),
        (Some(&2), None),
        "carol's two runs, queued before bob's, take the batch of two"
    );
    quick().await.unwrap();
    assert_eq!(active_per_user(&app.store).await.get("bob"), Some(&1), "then bob's, in the next quick cycle");
    leader.release().await;
    app.stop().await;
}

/// Runs cooling down after a head timeout are not read (admission/snapshot.sql): a read full of
/// them hid every run behind them from every cycle until they cooled, since they take no slot and
/// so no user counted as held by their cap. Both kinds of cycle admit the run behind them.
#[tokio::test]
async fn runs_cooling_down_at_the_head_of_a_queue_hide_no_run_behind_them() {
    for full in [false, true] {
        let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
        let (mut settings, leader) = capped_backlogs(&app, &[("alice", 150), ("bob", 1)], 100, 1000).await;
        settings.policy.batch_size = 20;
        assert_eq!(settings.quick_scan_limit(), 100, "alice's runs fill both reads");
        sqlx::query("update runs set not_before = now() + interval '1 hour', head_retries = 1 where user_id = 'alice'")
            .execute(app.store.pool())
            .await
            .unwrap();
        let mut wrr = Wrr::default();
        let outcome =
            cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, full).await.unwrap();
        assert_eq!(outcome.admitted.len(), 1, "full cycle: {full}");
        let active = active_per_user(&app.store).await;
        assert_eq!((active.get("alice"), active.get("bob")), (None, Some(&1)), "full cycle: {full}");
        leader.release().await;
        app.stop().await;
    }
}

/// The reads past a capped backlog leave cooling runs out too (admission/queued_uncapped.sql and
/// queued_heads.sql): read, another user's cooling runs behind the backlog took the re-read's
/// places and hid the run behind them, in either kind of cycle.
#[tokio::test]
async fn runs_cooling_down_behind_a_capped_backlog_hide_no_run_behind_them() {
    for full in [false, true] {
        let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
        let blocks = [("vera", 10), ("ursula", 10), ("wendy", 1)];
        let (settings, leader) = capped_backlogs(&app, &blocks, 5, 2).await;
        assert_eq!(settings.quick_scan_limit(), 5);
        sqlx::query(
            "update runs set not_before = now() + interval '1 hour', head_retries = 1 where user_id = 'ursula'",
        )
        .execute(app.store.pool())
        .await
        .unwrap();
        let mut wrr = Wrr::default();
        cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, full).await.unwrap();
        let active = active_per_user(&app.store).await;
        let seen = (active.get("vera"), active.get("ursula"), active.get("wendy"));
        assert_eq!(seen, (Some(&2), None, Some(&1)), "full cycle: {full}");
        leader.release().await;
        app.stop().await;
    }
}

/// The property, over generated cases: with room everywhere, one full cycle after the queues are
/// filled every user has min(cap, queued) runs active, however the users' backlogs interleave
/// and however short the reads are (no user's backlog hides another user's runs).
#[tokio::test]
async fn one_full_cycle_admits_every_user_up_to_their_cap_however_backlogs_interleave() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |below: u64| {
        // splitmix64: a fixed sequence of cases, the same on every run.
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % below
    };
    for case in 0..8 {
        let users = ["u1", "u2", "u3", "u4"];
        let blocks: Vec<(&str, usize)> =
            (0..1 + next(6)).map(|_| (users[next(4) as usize], 1 + next(12) as usize)).collect();
        let scan_limit = 1 + next(4) as i64;
        let cap = 1 + next(3) as u32;
        let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
        let (settings, leader) = capped_backlogs(&app, &blocks, scan_limit, cap).await;
        let mut wrr = Wrr::default();
        cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, true).await.unwrap();
        let mut queued: std::collections::BTreeMap<&str, i64> = Default::default();
        for (user, count) in &blocks {
            *queued.entry(user).or_default() += *count as i64;
        }
        let expected: std::collections::BTreeMap<String, i64> =
            queued.iter().map(|(u, n)| (u.to_string(), (*n).min(i64::from(cap)))).collect();
        let active = active_per_user(&app.store).await;
        assert_eq!(active, expected, "case {case}: blocks {blocks:?}, reads of {scan_limit}, cap {cap}");
        leader.release().await;
        app.stop().await;
    }
}

/// Sharing between users (issue 18): in a `fair` namespace, users take turns whatever their
/// backlogs, and a backlog that fills the read in queue order hides nobody (the leader reads each
/// user's oldest runs). The same queue in a `fifo` namespace gives the batch to the oldest runs.
#[tokio::test]
async fn a_fair_namespace_gives_each_user_a_turn_past_a_backlog_that_fills_the_read() {
    for sharing in [Sharing::Fifo, Sharing::Fair] {
        let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
        // Alice's 50 runs fill every read of 5; Bob's and Carol's runs are queued behind them all.
        let blocks = [("alice", 50), ("bob", 2), ("carol", 1)];
        let (mut settings, leader) = capped_backlogs(&app, &blocks, 5, 100).await;
        let quota = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
        app.store.namespace_set_quota("default", quota, Some(sharing)).await.unwrap();
        settings.policy.batch_size = 4;
        let mut wrr = Wrr::default();

        let first =
            cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, true).await.unwrap();
        assert_eq!(first.admitted.len(), 4, "{sharing}: the batch");
        let active = active_per_user(&app.store).await;
        let expected = match sharing {
            // Queue order: the batch goes to the oldest runs, all Alice's.
            Sharing::Fifo => vec![("alice", 4)],
            // Turns: Alice, Bob, Carol once each, then Alice (her second run ties with Bob's, and
            // is older).
            Sharing::Fair => vec![("alice", 2), ("bob", 1), ("carol", 1)],
        };
        let expected: std::collections::BTreeMap<String, i64> =
            expected.into_iter().map(|(u, n)| (u.to_string(), n)).collect();
        assert_eq!(active, expected, "{sharing}");

        if sharing == Sharing::Fair {
            // The next cycle starts from what each user holds: Bob's last run first (he holds 1,
            // Alice 2), then Alice's, as Bob and Carol have nothing left.
            let second = cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, true)
                .await
                .unwrap();
            assert_eq!(second.admitted.len(), 4);
            let active = active_per_user(&app.store).await;
            assert_eq!((active["alice"], active["bob"], active["carol"]), (5, 2, 1), "bob's last run, then alice");
        }
        leader.release().await;
        app.stop().await;
    }
}

/// The queue view shows a `fair` namespace in the order admission walks it (issue 18): each
/// user's turn comes from their runs active in the namespace and queued before, as the leader
/// counts them, and another user's run queued behind a backlog is listed ahead of it.
#[tokio::test]
async fn the_queue_view_lists_a_fair_namespace_in_the_order_admission_walks_it() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let blocks = [("alice", 50), ("bob", 2), ("carol", 1)];
    let (mut settings, leader) = capped_backlogs(&app, &blocks, 5, 100).await;
    let quota = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
    app.store.namespace_set_quota("default", quota, Some(Sharing::Fair)).await.unwrap();
    let users = async |limit: usize| {
        let (status, queue) = app.get_json(&format!("/api/v1/queue?namespace=default&limit={limit}")).await;
        assert_eq!(status, 200, "{queue}");
        let rows = queue.as_array().expect("a list").clone();
        rows.iter().map(|r| r["user_id"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(users(5).await, ["alice", "bob", "carol", "alice", "bob"], "nothing active: turns in queue order");

    settings.policy.batch_size = 4;
    let mut wrr = Wrr::default();
    cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, true).await.unwrap();
    assert_eq!(
        users(3).await,
        ["bob", "alice", "alice"],
        "alice holds 2 runs and bob 1: bob's last run is next, as the leader's next cycle admits it"
    );
    assert_eq!(users(1).await, ["bob"], "the limit counts rows in admission order, not in queue order");
    assert_eq!(users(500).await.len(), 49, "every queued run: alice's 48 and bob's last");
    leader.release().await;
    app.stop().await;
}

/// A user's runs read in a namespace that waits for its quota take no slot, so they do not make
/// the user count as held by their cap: the user's run in another namespace, queued behind another
/// user's capped backlog, is read and admitted by either kind of cycle. Before, counting the runs
/// read, the cycles left it unread for as long as the other namespace's quota was full.
#[tokio::test]
async fn runs_waiting_for_another_namespaces_quota_do_not_hide_the_users_other_runs() {
    for full in [false, true] {
        let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
        // In `default`: vera's 10 runs fill every read of 5, ursula's one run is behind them; a cap of 2.
        let (settings, leader) = capped_backlogs(&app, &[("vera", 10), ("ursula", 1)], 5, 2).await;
        assert_eq!(settings.quick_scan_limit(), 5);
        // In `full`: no room at all, and ursula's two runs there wait for its quota.
        common::create_namespace(&app.store, "full", 0).await;
        let waiting = berth::store::batch::SubmitBatchParams {
            flow: berth::domain::Flow::Priority,
            namespace: "full".into(),
            ..common::legacy_batch(&["ursula", "ursula"])
        };
        app.store.run_submit_batch(&waiting).await.unwrap();

        let mut wrr = Wrr::default();
        cycle::run(&mut app.store.hold(), leader.epoch(), &mut wrr, &settings, &Clock::System, full).await.unwrap();
        let active = active_per_user(&app.store).await;
        assert_eq!((active.get("vera"), active.get("ursula")), (Some(&2), Some(&1)), "full cycle: {full}");
        leader.release().await;
        app.stop().await;
    }
}
