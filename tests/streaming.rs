//! Streaming jobs on real Postgres with real worker processes: the restart policy (counts and
//! events), abort, one active run per job, the drain hand-back, and following the log live.

mod common;

use std::time::Duration;

use berth::resources::Resources;
use berth::retry::End;
use berth::service::Roles;
use berth::store::WorkerId;
use berth::store::attempts::StreamingEnd;
use berth::store::runs::{ClaimParams, ClaimedRun, FinishParams, RunState};
use common::{TestApp, gate_path, test_config, wait_for};
use serde_json::{Value, json};

const API_ONLY: Roles = Roles { api: true, scheduler: false, worker: false };
const NO_WORKER: Roles = Roles { api: true, scheduler: true, worker: false };
const WORKER_ONLY: Roles = Roles { api: false, scheduler: false, worker: true };

impl TestApp {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self.http.post(self.url(path)).json(&body).send().await.expect("request");
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    /// Creates a streaming job running `script` with `sh -c`, with `policy` fields; its id.
    async fn streaming_job(&self, name: &str, script: &str, policy: Value) -> i64 {
        let mut body = json!({"name": name, "service": "example", "kind": "streaming",
                              "command": ["sh", "-c", script]});
        body.as_object_mut().unwrap().extend(policy.as_object().unwrap().clone());
        let (status, job) = self.post("/api/v1/jobs", body).await;
        assert_eq!(status, 201, "{job}");
        job["id"].as_i64().unwrap()
    }

    async fn start(&self, job: i64) -> (u16, Value) {
        self.post(&format!("/api/v1/jobs/{job}/runs"), json!({})).await
    }

    async fn run(&self, id: i64) -> Value {
        self.get_json(&format!("/api/v1/runs/{id}")).await.1
    }

    async fn abort(&self, id: i64) -> (u16, Value) {
        self.post(&format!("/api/v1/runs/{id}/abort"), json!({})).await
    }
}

fn kinds(run: &Value) -> Vec<String> {
    run["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

fn restarts(run: &Value) -> Vec<String> {
    run["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "restart")
        .map(|e| e["details"]["reason"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn on_failure_restarts_up_to_its_limit_counting_each_kind_with_an_event_per_restart() {
    let app = TestApp::spawn_all(test_config()).await;
    let job = app
        .streaming_job(
            "flaky",
            "echo try; exit 3",
            json!({"restart_policy": "on_failure", "failure_retries": 2, "failure_retry_interval": 0.1}),
        )
        .await;
    let (status, run) = app.start(job).await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_i64().unwrap();
    assert_eq!(run["streaming"]["restart_policy"], "on_failure");
    assert_eq!(app.wait_terminal(id).await, "failed");
    let run = app.run(id).await;
    let s = &run["streaming"];
    assert_eq!(
        (s["submission_attempts"].as_i64(), s["execution_attempts"].as_i64()),
        (Some(3), Some(3)),
        "one run, three executions: {run}"
    );
    assert_eq!((s["submission_failures"].as_i64(), s["execution_failures"].as_i64()), (Some(0), Some(3)));
    assert!(s["duration_seconds"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(restarts(&run), ["execution_failure", "execution_failure"], "{:?}", kinds(&run));
    assert_eq!(run["attempts"].as_array().unwrap().len(), 3, "each restart is an attempt of the same run");
    assert!(run["attempts"].as_array().unwrap().iter().all(|a| a["outcome"] == "failed"));
    let (_, logs) = app.get_json(&format!("/api/v1/runs/{id}/logs")).await;
    assert_eq!(logs["stdout"], "try\ntry\ntry\n");
    app.stop().await;
}

#[tokio::test]
async fn always_restarts_after_a_success_and_an_abort_ends_it_for_good() {
    let app = TestApp::spawn_all(test_config()).await;
    let job = app
        .streaming_job("ticker", "echo tick", json!({"restart_policy": "always", "failure_retry_interval": 0.05}))
        .await;
    let id = app.start(job).await.1["id"].as_i64().unwrap();
    let run = wait_for("three executions", Duration::from_secs(60), || async {
        let run = app.run(id).await;
        (run["streaming"]["execution_attempts"].as_i64().unwrap_or(0) >= 3).then_some(run)
    })
    .await;
    assert!(restarts(&run).iter().take(2).all(|r| r == "exited"), "restarted after exit 0: {:?}", kinds(&run));
    assert_eq!(run["streaming"]["execution_failures"], 0);
    let (status, aborted) = app.abort(id).await;
    assert_eq!(status, 200, "{aborted}");
    assert_eq!(app.wait_terminal(id).await, "aborted");
    let (status, e) = app.abort(id).await;
    assert_eq!(status, 409, "{e}");
    assert!(e["message"].as_str().unwrap().contains("aborted"), "names its state: {e}");
    // Terminal: the restart policy never brings it back, and a new start is allowed.
    assert_eq!(app.start(job).await.0, 201);
    app.stop().await;
}

#[tokio::test]
async fn a_running_application_is_aborted_by_killing_it_and_a_second_start_is_refused() {
    let app = TestApp::spawn_all(test_config()).await;
    let job = app.streaming_job("server", "echo up; exec sleep 300", json!({"restart_policy": "always"})).await;
    let (_, run) = app.start(job).await;
    let id = run["id"].as_i64().unwrap();
    wait_for("it runs", Duration::from_secs(30), || async { (app.state(id).await == "running").then_some(()) }).await;

    let (status, e) = app.start(job).await;
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"], "already_active");
    assert!(e["message"].as_str().unwrap().contains(&format!("run {id}")), "names the active run: {e}");
    let runs: i64 = sqlx::query_scalar("select count(*) from runs where job_id = $1")
        .bind(job)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(runs, 1, "the refused start left nothing");

    let (status, view) = app.abort(id).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(app.wait_terminal(id).await, "aborted");
    let run = app.run(id).await;
    assert_eq!(run["attempts"][0]["outcome"], "aborted");
    assert!(kinds(&run).contains(&"abort_requested".to_string()), "{:?}", kinds(&run));
    assert!(restarts(&run).is_empty(), "an abort is never restarted");
    app.stop().await;
}

#[tokio::test]
async fn a_queued_run_is_aborted_without_running_and_batch_runs_are_not_aborted() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let job = app.streaming_job("idle", "sleep 300", json!({})).await;
    let (_, run) = app.start(job).await;
    let id = run["id"].as_i64().unwrap();
    assert_eq!(run["state"], "queued");
    assert_eq!(run["streaming"]["restart_policy"], "never", "the default policy");
    assert_eq!(run["streaming"]["submission_retries"], 1);
    let (status, view) = app.abort(id).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "aborted");
    assert_eq!(view["attempts"].as_array().unwrap().len(), 0, "it never ran");
    assert_eq!(app.start(job).await.0, 201, "nothing is active any more");

    let batch = app.submit_script("true\n", "1").await;
    let (status, e) = app.abort(batch).await;
    assert_eq!((status, e["error"].as_str()), (409, Some("not_streaming")), "{e}");
    assert_eq!(app.abort(999_999).await.0, 404);

    // The definition's rules.
    let bad = [
        json!({"name": "t", "service": "example", "kind": "streaming", "command": ["true"], "timeout_seconds": 60}),
        json!({"name": "r", "service": "example", "command": ["true"], "restart_policy": "always"}),
        json!({"name": "p", "service": "example", "kind": "streaming", "command": ["true"], "restart_policy": "sometimes"}),
        json!({"name": "n", "service": "example", "kind": "streaming", "command": ["true"], "failure_retries": -1}),
    ];
    for body in bad {
        let (status, e) = app.post("/api/v1/jobs", body.clone()).await;
        assert_eq!(status, 400, "{body}: {e}");
    }
    let res = app.http.put(app.url(&format!("/api/v1/jobs/{job}/schedule"))).json(&json!({"cron": "@daily"}));
    assert_eq!(res.send().await.unwrap().status(), 400, "a streaming job takes no schedule");
    app.stop().await;
}

#[tokio::test]
async fn a_draining_worker_hands_the_application_back_and_it_starts_elsewhere_without_using_a_retry() {
    let mut config = test_config();
    config.worker.drain_timeout_seconds = 30.0; // a streaming run is handed back at once anyway
    let app = TestApp::spawn(config.clone(), NO_WORKER).await;
    let job = app
        .streaming_job("mover", "exec sleep 300", json!({"restart_policy": "on_failure", "failure_retries": 0}))
        .await;
    let id = app.start(job).await.1["id"].as_i64().unwrap();
    let first = TestApp::spawn_on(app.database_url.clone(), config.clone(), WORKER_ONLY).await;
    wait_for("it runs", Duration::from_secs(30), || async { (app.state(id).await == "running").then_some(()) }).await;
    let started = std::time::Instant::now();
    first.stop().await;
    assert!(started.elapsed() < Duration::from_secs(20), "handed back at once, not after the drain timeout");
    let second = TestApp::spawn_on(app.database_url.clone(), config, WORKER_ONLY).await;
    let run = wait_for("it runs again elsewhere", Duration::from_secs(30), || async {
        let run = app.run(id).await;
        (run["state"] == "running" && run["attempts"].as_array().unwrap().len() == 2).then_some(run)
    })
    .await;
    assert_eq!(run["attempts"][0]["outcome"], "handed_back");
    assert_ne!(run["attempts"][0]["worker_id"], run["attempts"][1]["worker_id"]);
    let s = &run["streaming"];
    assert_eq!((s["execution_failures"].as_i64(), s["submission_failures"].as_i64()), (Some(0), Some(0)));
    assert_eq!(s["execution_attempts"], 2, "the handed-back execution and the current one");
    assert!(restarts(&run).is_empty(), "a hand-back is not a restart");
    assert_eq!(app.abort(id).await.0, 200);
    assert_eq!(app.wait_terminal(id).await, "aborted");
    second.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn following_the_log_receives_what_is_written_after_the_request_and_ends_with_the_run() {
    let app = TestApp::spawn_all(test_config()).await;
    let gate = gate_path("follow");
    let script = format!(
        "echo first; while [ ! -f {g} ]; do sleep 0.05; done; echo second >&2; sleep 0.3; echo third",
        g = gate.display()
    );
    let job = app.streaming_job("chatty", &script, json!({})).await;
    let id = app.start(job).await.1["id"].as_i64().unwrap();
    let mut res =
        app.http.get(app.url(&format!("/api/v1/runs/{id}/logs?follow=true"))).send().await.expect("follow request");
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let mut seen = String::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = res.chunk().await.expect("chunk") {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("first") && !gate.exists() {
                // Written only after this: the follower must deliver it live.
                std::fs::write(&gate, b"").unwrap();
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stream ends when the run ends; got {seen:?}");
    assert_eq!(seen, "first\nsecond\nthird\n");
    assert_eq!(app.state(id).await, "succeeded", "policy never: its exit 0 ends it");
    let (status, _) = app.get_json(&format!("/api/v1/runs/{id}/logs?follow=maybe")).await;
    assert_eq!(status, 400);
    wait_for("the follower to end", Duration::from_secs(10), || async {
        (berth::api::follow::active() == 0).then_some(())
    })
    .await;

    // A client that leaves while the application keeps running: its follower ends too.
    let job = app.streaming_job("quiet", "echo up; exec sleep 300", json!({})).await;
    let id = app.start(job).await.1["id"].as_i64().unwrap();
    let mut res = app.http.get(app.url(&format!("/api/v1/runs/{id}/logs?follow=true"))).send().await.unwrap();
    let first = res.chunk().await.unwrap().unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&first), "up\n");
    assert_eq!(berth::api::follow::active(), 1);
    drop(res);
    wait_for("the follower to notice the client left", Duration::from_secs(10), || async {
        (berth::api::follow::active() == 0).then_some(())
    })
    .await;
    assert_eq!(app.state(id).await, "running", "the application was left alone");
    assert_eq!(app.abort(id).await.0, 200);
    assert_eq!(app.wait_terminal(id).await, "aborted");
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}

/// Claims one admitted run as `worker`, which heartbeats until then and never after: it is dead.
async fn ghost_claim(app: &TestApp, worker: WorkerId) -> ClaimedRun {
    let params =
        ClaimParams { worker, services: vec!["example".into()], free: CAPACITY, limit: 1, now: None, floor: None };
    wait_for("the ghost to claim the run", Duration::from_secs(30), || async {
        // Alive until it claims (admission needs a live worker), then silent.
        let _ = app.store.worker_heartbeat(worker, &[]).await;
        app.store.run_claim_batch(&params).await.ok().and_then(|mut c| c.pop())
    })
    .await
}

const CAPACITY: Resources = Resources { cpu: 4000, memory: 4096, pods: 4, storage: 1024 };

#[tokio::test]
async fn a_dead_workers_application_is_restarted_by_the_failure_path_until_its_retries_are_used() {
    let mut config = test_config();
    config.lease_timeout_seconds = 1;
    let app = TestApp::spawn(config, NO_WORKER).await;
    let ghost = app.store.worker_register("ghost", &["example".to_string()], CAPACITY).await.unwrap();
    let job = app
        .streaming_job(
            "orphan",
            "sleep 300",
            json!({"restart_policy": "on_failure", "failure_retries": 1, "failure_retry_interval": 0.1}),
        )
        .await;
    let id = app.start(job).await.1["id"].as_i64().unwrap();
    for _ in 0..2 {
        let claimed = ghost_claim(&app, ghost).await;
        assert_eq!(claimed.restart.map(|r| r.failure_retries), Some(1), "the claim carries the run's policy");
        wait_for("the lease to lapse", Duration::from_secs(30), || async {
            (app.state(id).await != "running").then_some(())
        })
        .await;
    }
    assert_eq!(app.wait_terminal(id).await, "failed");
    let run = app.run(id).await;
    assert_eq!(restarts(&run), ["execution_failure"], "one restart, then its retries were used: {:?}", kinds(&run));
    let s = &run["streaming"];
    assert_eq!((s["execution_failures"].as_i64(), s["execution_attempts"].as_i64()), (Some(2), Some(2)), "{s}");
    assert!(run["attempts"].as_array().unwrap().iter().all(|a| a["outcome"] == "lost"));
    app.stop().await;
}

#[tokio::test]
async fn an_application_no_worker_takes_in_time_is_a_submission_failure() {
    let mut config = test_config();
    config.scheduler.startup_timeout_seconds = 1;
    let app = TestApp::spawn(config, NO_WORKER).await;
    // A live worker that never claims: admission counts on it, then the startup timeout takes the run back.
    let idle = app.store.worker_register("idle", &["example".to_string()], CAPACITY).await.unwrap();
    let job = app
        .streaming_job(
            "unwanted",
            "sleep 300",
            json!({"restart_policy": "on_failure", "submission_retries": 1, "submission_retry_interval": 0.1}),
        )
        .await;
    let id = app.start(job).await.1["id"].as_i64().unwrap();
    let state = wait_for("two startup timeouts", Duration::from_secs(60), || async {
        let _ = app.store.worker_heartbeat(idle, &[]).await;
        let s = app.state(id).await;
        (s == "failed").then_some(s)
    })
    .await;
    assert_eq!(state, "failed");
    let run = app.run(id).await;
    assert_eq!(restarts(&run), ["submission_failure"], "{:?}", kinds(&run));
    let s = &run["streaming"];
    assert_eq!((s["submission_failures"].as_i64(), s["submission_attempts"].as_i64()), (Some(2), Some(2)), "{s}");
    assert_eq!((s["execution_failures"].as_i64(), s["execution_attempts"].as_i64()), (Some(0), Some(0)));
    app.stop().await;
}

#[tokio::test]
async fn an_abort_requested_as_the_application_fails_is_not_undone_by_its_restart() {
    let app = TestApp::spawn(test_config(), NO_WORKER).await;
    let worker = app.store.worker_register("w", &["example".to_string()], CAPACITY).await.unwrap();
    let job = app.streaming_job("racer", "sleep 300", json!({"restart_policy": "always"})).await;
    let id = app.start(job).await.1["id"].as_i64().unwrap();
    let claimed = ghost_claim(&app, worker).await;
    let (status, view) = app.abort(id).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!((view["state"].as_str(), view["streaming"]["stopping"].as_bool()), (Some("running"), Some(true)));
    assert_eq!(app.abort(id).await.0, 200, "asking again while it stops answers the run");
    // The process exits non-zero at that moment and the worker, not yet told, decides a restart.
    let next = berth::retry::restart(End::Failed, &claimed.restart.unwrap(), claimed.failures);
    assert!(matches!(next, berth::retry::Next::Retry { .. }));
    let finish = FinishParams {
        run: claimed.id,
        attempt_id: claimed.attempt_id,
        state: RunState::Failed,
        exit_code: Some(1),
        result_zip: None,
        message: "exited with code 1".into(),
        retry_after_seconds: Some(0.0),
        excused: false,
        now: None,
        streaming: Some(StreamingEnd {
            ran: true,
            failure: Some(berth::retry::Failure::Execution),
            restart_reason: Some("execution_failure"),
        }),
    };
    assert!(app.store.run_finish(finish).await.unwrap());
    assert_eq!(app.state(id).await, "aborted", "the abort wins");
    let run = app.run(id).await;
    assert!(restarts(&run).is_empty(), "{:?}", kinds(&run));
    assert_eq!(run["streaming"]["execution_failures"], 1);
    app.stop().await;
}
