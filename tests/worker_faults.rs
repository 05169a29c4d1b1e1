//! Nothing lost: retries, cancellation of a running run, dead-worker rescue with fencing, the
//! startup timeout and the drain hand-back, on real Postgres with real processes.

mod common;

use std::time::Duration;

use berth::resources::Resources;
use berth::service::Roles;
use berth::store::runs::{ClaimParams, FinishParams, RunState};
use berth::store::{AttemptId, RunId};
use common::{TestApp, gate_path, test_config, wait_for};

async fn event_kinds(app: &TestApp, id: i64) -> Vec<String> {
    let (_, run) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    run["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_failed_attempt_is_retried_after_its_back_off_until_it_succeeds() {
    let mut config = test_config();
    let svc = config.services.get_mut("example").unwrap();
    svc.max_attempts = 3;
    svc.retry_backoff_seconds = 0.2;
    let app = TestApp::spawn_all(config).await;
    let counter = gate_path("attempts");
    // Fails on its first attempt, succeeds on the second.
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0)\necho $((n+1)) > {c}\n[ \"$n\" -ge 1 ] || exit 7\necho ok > out.txt\n",
        c = counter.display()
    );
    let id = app.submit_script(&script, "1").await;
    assert_eq!(app.wait_terminal(id).await, "succeeded");
    let outcomes: Vec<(String, Option<i32>)> =
        sqlx::query_as("select outcome, exit_code from attempts where run_id = $1 order by id")
            .bind(id)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    assert_eq!(outcomes, [("failed".to_string(), Some(7)), ("succeeded".to_string(), Some(0))]);
    let (_, run) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    let listed: Vec<(i64, String)> = run["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["number"].as_i64().unwrap(), a["outcome"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(listed, [(1, "failed".to_string()), (2, "succeeded".to_string())], "the API lists the attempts");
    let kinds = event_kinds(&app, id).await;
    assert_eq!(kinds, ["submitted", "admitted", "started", "failed", "requeued", "admitted", "started", "succeeded"]);
    let _ = std::fs::remove_file(counter);
    app.stop().await;
}

#[tokio::test]
async fn attempts_are_used_up_then_the_run_fails() {
    let mut config = test_config();
    let svc = config.services.get_mut("example").unwrap();
    svc.max_attempts = 2;
    svc.retry_backoff_seconds = 0.1;
    let app = TestApp::spawn_all(config).await;
    let id = app.submit_script("exit 4\n", "1").await;
    assert_eq!(app.wait_terminal(id).await, "failed");
    let n: i64 = sqlx::query_scalar("select count(*) from attempts where run_id = $1")
        .bind(id)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 2);
    app.stop().await;
}

#[tokio::test]
async fn the_runs_own_policy_decides_its_retry_not_the_workers_configuration() {
    let mut api = test_config();
    let svc = api.services.get_mut("example").unwrap();
    svc.max_attempts = 2;
    svc.retry_backoff_seconds = 0.1;
    let app = TestApp::spawn(api, Roles { api: true, scheduler: true, worker: false }).await;
    let id = app.submit_script("exit 3\n", "1").await;
    // A worker whose own configuration does not know the service at all.
    let mut bare = test_config();
    bare.services.clear();
    bare.worker.services = vec!["example".into()];
    let worker =
        TestApp::spawn_on(app.database_url.clone(), bare, Roles { api: false, scheduler: false, worker: true }).await;
    assert_eq!(app.wait_terminal(id).await, "failed");
    let n: i64 = sqlx::query_scalar("select count(*) from attempts where run_id = $1")
        .bind(id)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 2, "the run's stored max_attempts (2) decided, not the worker's configuration");
    worker.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_fatal_executor_error_is_never_retried() {
    let mut config = test_config();
    let svc = config.services.get_mut("example").unwrap();
    svc.max_attempts = 3;
    svc.retry_backoff_seconds = 0.1;
    let app = TestApp::spawn_all(config.clone()).await;
    common::create_namespace(&app.store, "default", 1_000_000).await;
    // No run.sh and no command: the process executor refuses it as Fatal.
    let input = berth::executor::archive::zip_files(&[("data.txt".to_string(), b"x".to_vec())]).unwrap();
    let id = app
        .store
        .run_submit(berth::store::runs::SubmitParams {
            name: "no-run-sh".into(),
            service: "example".into(),
            namespace: "default".into(),
            user_id: "1".into(),
            priority: berth::domain::Priority::Normal,
            flow: berth::domain::Flow::Priority,
            request: Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
            input_zip: input,
            command: None,
            env: serde_json::json!({}),
            timeout_seconds: None,
            retry: config.retry_policy("example").unwrap(),
            idempotency: None,
            now: None,
        })
        .await
        .unwrap();
    assert_eq!(app.wait_terminal(id.0).await, "failed");
    let (_, run) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["attempts"].as_array().unwrap().len(), 1, "three attempts allowed, one used: {run}");
    assert!(run["message"].as_str().unwrap().contains("no run.sh"), "{run}");
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_running_run_kills_it_and_it_ends_cancelled() {
    let app = TestApp::spawn_all(test_config()).await;
    let gate = gate_path("never");
    let pid_file = gate_path("pid");
    let script = format!("echo $$ > {}\nwhile [ ! -f {} ]; do sleep 0.02; done\n", pid_file.display(), gate.display());
    let id = app.submit_script(&script, "1").await;
    wait_for("the run to start", Duration::from_secs(30), || async {
        (app.state(id).await == "running").then_some(())
    })
    .await;
    let res = app.http.post(app.url(&format!("/api/v1/runs/{id}/cancel"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.wait_terminal(id).await, "cancelled");
    let pid: i32 = wait_for("the script's pid", Duration::from_secs(5), || async {
        std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse().ok())
    })
    .await;
    wait_for("the script's process to be gone", Duration::from_secs(10), || async {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        (status.is_empty() || status.contains("State:\tZ")).then_some(())
    })
    .await;
    assert!(event_kinds(&app, id).await.contains(&"cancel_requested".to_string()));
    let _ = std::fs::remove_file(pid_file);
    app.stop().await;
}

#[tokio::test]
async fn a_dead_workers_run_is_requeued_and_its_late_writes_change_nothing() {
    let mut config = test_config();
    config.lease_timeout_seconds = 2;
    config.worker.heartbeat_seconds = 1;
    // API and scheduler only: the "worker" below claims once and then dies (never heartbeats).
    let app = TestApp::spawn(config.clone(), Roles { api: true, scheduler: true, worker: false }).await;
    let capacity = Resources { cpu: 4000, memory: 4096, pods: 4, storage: 1024 };
    let ghost = app.store.worker_register("ghost", &["example".to_string()], capacity).await.unwrap();
    let id = app.submit_script("echo ok > out.txt\n", "1").await;
    let params = ClaimParams {
        worker: ghost,
        services: vec!["example".into()],
        free: capacity,
        limit: 4,
        now: None,
        floor: None,
    };
    let claimed = wait_for("the ghost to claim the run", Duration::from_secs(30), || async {
        app.store.run_claim_batch(&params).await.ok().filter(|c| !c.is_empty())
    })
    .await;
    let old: AttemptId = claimed[0].attempt_id;
    assert_eq!(app.state(id).await, "running");

    // The lease lapses; the leader ends the attempt as lost and requeues the run.
    wait_for("the run to be rescued", Duration::from_secs(30), || async {
        (app.state(id).await != "running").then_some(())
    })
    .await;
    let outcome: String = sqlx::query_scalar("select outcome from attempts where id = $1")
        .bind(old)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(outcome, "lost");

    // The ghost comes back: its heartbeat tells it to stop the attempt, and its log write and its
    // finish are refused.
    let reply = app.store.worker_heartbeat(ghost, &[old]).await.unwrap().expect("the ghost is not marked stopped");
    assert_eq!(reply.stale, [old], "the heartbeat names the attempt that is no longer current");
    assert!(!app.store.run_log_append(RunId(id), old, &[("stdout".into(), b"late".to_vec())]).await.unwrap());
    let late = FinishParams {
        run: RunId(id),
        attempt_id: old,
        state: RunState::Succeeded,
        exit_code: Some(0),
        result_zip: Some(b"not a zip".to_vec()),
        message: "late".into(),
        retry_after_seconds: None,
        excused: false,
        now: None,
        streaming: None,
    };
    assert!(!app.store.run_finish(late).await.unwrap(), "a fenced-out attempt cannot finish the run");
    let url = app.database_url.clone();
    app.stop().await;

    // A real worker picks the run up and completes it; the lost attempt did not use up the job's one attempt.
    let app2 = TestApp::spawn_on(url, config, Roles::ALL).await;
    assert_eq!(app2.wait_terminal(id).await, "succeeded");
    let kinds = event_kinds(&app2, id).await;
    assert!(kinds.contains(&"requeued".to_string()), "{kinds:?}");
    let logs: i64 = sqlx::query_scalar("select count(*) from run_logs where attempt_id = $1")
        .bind(old)
        .fetch_one(app2.store.pool())
        .await
        .unwrap();
    assert_eq!(logs, 0, "nothing of the lost attempt was written after it was fenced out");
    app2.stop().await;
}

#[tokio::test]
async fn an_admitted_run_nobody_claims_goes_back_to_the_queue() {
    let mut config = test_config();
    config.scheduler.startup_timeout_seconds = 1;
    let app = TestApp::spawn(config, Roles { api: true, scheduler: true, worker: false }).await;
    let capacity = Resources { cpu: 4000, memory: 4096, pods: 4, storage: 1024 };
    // A live worker that never claims: admission counts on it, then the startup timeout takes the run back.
    let idle = app.store.worker_register("idle", &["example".to_string()], capacity).await.unwrap();
    let id = app.submit_script("echo hi\n", "1").await;
    wait_for("a requeue after the startup timeout", Duration::from_secs(30), || async {
        let _ = app.store.worker_heartbeat(idle, &[]).await;
        event_kinds(&app, id).await.contains(&"requeued".to_string()).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_draining_worker_hands_unfinished_runs_back_and_that_costs_the_job_no_attempt() {
    let mut config = test_config();
    config.worker.drain_timeout_seconds = 0.3;
    let svc = config.services.get_mut("example").unwrap();
    svc.max_attempts = 2;
    svc.retry_backoff_seconds = 0.1;
    let app = TestApp::spawn_all(config.clone()).await;
    let (gate, counter) = (gate_path("drain"), gate_path("drain-count"));
    // Execution 1 waits (and is handed back), execution 2 fails, execution 3 succeeds.
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0)\necho $((n+1)) > {c}\n\
         if [ \"$n\" = 0 ]; then while [ ! -f {g} ]; do sleep 0.02; done; fi\n\
         if [ \"$n\" = 1 ]; then exit 5; fi\necho ok > out.txt\n",
        c = counter.display(),
        g = gate.display()
    );
    let id = app.submit_script(&script, "1").await;
    wait_for("the run to start", Duration::from_secs(30), || async {
        (app.state(id).await == "running").then_some(())
    })
    .await;
    let (store, url) = (app.store.clone(), app.database_url.clone());
    app.stop().await;
    let state: String =
        sqlx::query_scalar("select state from runs where id = $1").bind(id).fetch_one(store.pool()).await.unwrap();
    assert_eq!(state, "queued", "handed back at once, not after a lease timeout");
    let outcome: String = sqlx::query_scalar("select outcome from attempts where run_id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(outcome, "handed_back");

    // Restarted: the failure after the hand-back still gets its retry (the job has 2 attempts of its own).
    let app = TestApp::spawn_on(url, config, Roles::ALL).await;
    assert_eq!(app.wait_terminal(id).await, "succeeded");
    let outcomes: Vec<String> = sqlx::query_scalar("select outcome from attempts where run_id = $1 order by id")
        .bind(id)
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    assert_eq!(outcomes, ["handed_back", "failed", "succeeded"]);
    let _ = std::fs::remove_file(counter);
    app.stop().await;
}

#[tokio::test]
async fn a_claim_whose_reply_was_lost_is_handed_back_by_the_workers_heartbeat() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let capacity = Resources { cpu: 4000, memory: 4096, pods: 4, storage: 1024 };
    let w = app.store.worker_register("w", &["example".to_string()], capacity).await.unwrap();
    let res =
        app.upload(&[("run.sh", b"echo hi\n")], &[("user_id", "1"), ("service", "example"), ("flow", "legacy")]).await;
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    let params =
        ClaimParams { worker: w, services: vec!["example".into()], free: capacity, limit: 4, now: None, floor: None };
    // The claim commits, but (as if its reply were lost) the worker never learns of it.
    let claimed = app.store.run_claim_batch(&params).await.unwrap();
    let token = claimed[0].attempt_id;

    // Held by the worker, or too recent: left alone.
    assert!(app.store.run_release_orphans(w, &[token], 0.0).await.unwrap().is_empty());
    assert!(app.store.run_release_orphans(w, &[], 3600.0).await.unwrap().is_empty());
    assert_eq!(app.state(id).await, "running");

    // Not held and old enough: back to the queue (admitted again: legacy flow), costing no attempt.
    assert_eq!(app.store.run_release_orphans(w, &[], 0.0).await.unwrap(), [RunId(id)]);
    assert_eq!(app.state(id).await, "admitted");
    let (outcome, excused): (String, i32) = sqlx::query_as(
        "select a.outcome, r.handed_back_attempts from attempts a join runs r on r.id = a.run_id where a.id = $1",
    )
    .bind(token)
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!((outcome.as_str(), excused), ("handed_back", 1));
    assert!(event_kinds(&app, id).await.contains(&"requeued".to_string()));
    app.stop().await;
}

/// Runs that ask their namespace for no pods still take a slot each on their worker: a worker of 2
/// slots never runs more than 2 of them at once (a claim bounded by free pods alone took them all).
#[tokio::test]
async fn runs_asking_for_no_pods_still_take_a_slot_each() {
    let mut config = test_config();
    config.worker.pods = 2;
    let app = TestApp::spawn_all(config).await;
    let gate = gate_path("no-pods");
    let script = format!("while [ ! -f {} ]; do sleep 0.02; done\n", gate.display());
    let mut ids = Vec::new();
    for user in ["1", "2", "3", "4"] {
        let fields = [("user_id", user), ("service", "example"), ("flow", "legacy"), ("pods", "0")];
        let res = app.upload(&[("run.sh", script.as_bytes())], &fields).await;
        assert_eq!(res.status(), 201);
        ids.push(res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let running = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from runs where state = 'running'")
            .fetch_one(app.store.pool())
            .await
            .unwrap()
    };
    wait_for("two runs to start", Duration::from_secs(30), || async { (running().await >= 2).then_some(()) }).await;
    std::fs::write(&gate, b"").unwrap();
    for id in &ids {
        assert_eq!(app.wait_terminal(*id).await, "succeeded");
    }
    // The most attempts that ran at the same moment, from their recorded starts and ends.
    let overlap: i64 = sqlx::query_scalar(
        "select max((select count(*) from attempts b where b.started_at <= a.started_at and b.finished_at > a.started_at)) \
         from attempts a",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(overlap, 2, "at most the worker's 2 slots at once");
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}
