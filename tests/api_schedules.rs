//! Schedules through real HTTP on a running berth (API, scheduler and worker): a schedule every
//! second starts runs triggered by `schedule`, pausing stops them, resuming starts them again,
//! removing it stops them for good; `forbid` records skipped fires while a run is active; every
//! bad input is a 400 that names the field. Waits on observable effects, never on sleeps.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use berth::domain::{Flow, JobKind, Priority};
use berth::resources::Resources;
use berth::retry::RetryPolicy;
use berth::store::jobs::{Input, JobSpec};
use common::{TestApp, gate_path, test_config, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

impl TestApp {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn create_job(&self, name: &str, command: &[&str]) -> i64 {
        let body = json!({"name": name, "service": "example", "command": command});
        let (status, job) = self.send(reqwest::Method::POST, "/api/v1/jobs", Some(body)).await;
        assert_eq!(status, 201, "{job}");
        job["id"].as_i64().unwrap()
    }

    async fn schedule(&self, method: reqwest::Method, job: i64, body: Value) -> (u16, Value) {
        self.send(method, &format!("/api/v1/jobs/{job}/schedule"), Some(body)).await
    }

    /// The job's runs started by its schedule.
    async fn scheduled_runs(&self, job: i64) -> Vec<Value> {
        let (status, page) = self.get_json(&format!("/api/v1/runs?job={job}&triggered_by=schedule&limit=500")).await;
        assert_eq!(status, 200, "{page}");
        page["runs"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `job`'s schedule has started more than `than` runs; returns how many.
    async fn wait_more_runs(&self, job: i64, than: usize, what: &str) -> usize {
        wait_for(what, WAIT, || async {
            let n = self.scheduled_runs(job).await.len();
            (n > than).then_some(n)
        })
        .await
    }
}

fn every_second() -> Value {
    json!({"cron": "* * * * * *"})
}

#[tokio::test]
async fn a_schedule_every_second_starts_runs_until_paused_and_stops_when_removed() {
    let app = TestApp::spawn_all(test_config()).await;
    let job = app.create_job("tick", &["true"]).await;
    // A second scheduled job proves that the leader made passes while the first was paused.
    let control = app.create_job("control", &["true"]).await;
    assert_eq!(app.schedule(reqwest::Method::PUT, control, every_second()).await.0, 200);

    let (status, schedule) = app.schedule(reqwest::Method::PUT, job, every_second()).await;
    assert_eq!(status, 200, "{schedule}");
    assert_eq!((schedule["time_zone"].as_str(), schedule["concurrency_policy"].as_str()), (Some("UTC"), Some("allow")));
    let next: Vec<&str> = schedule["next_fires"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(next.len(), 5, "{schedule}");

    app.wait_more_runs(job, 1, "two scheduled runs").await;
    let runs = app.scheduled_runs(job).await;
    assert!(runs.iter().all(|r| r["triggered_by"] == "schedule"), "{runs:?}");
    let first = runs.last().unwrap()["id"].as_i64().unwrap();
    assert_eq!(app.wait_terminal(first).await, "succeeded", "a worker runs it");
    let (_, shown) = app.get_json(&format!("/api/v1/jobs/{job}/schedule")).await;
    let fire = &shown["last_fires"][0];
    assert!(fire["outcome"] == "started" && fire["run_id"].is_i64(), "{shown}");
    let (_, in_job) = app.get_json(&format!("/api/v1/jobs/{job}")).await;
    assert_eq!(in_job["schedule"]["cron"], "* * * * * *", "{in_job}");
    assert!(in_job["schedule"]["next_fire_at"].is_string(), "{in_job}");

    // Paused: no more fires while the control schedule keeps firing.
    let (status, paused) = app.schedule(reqwest::Method::PATCH, job, json!({"paused": true})).await;
    assert_eq!((status, paused["paused"].as_bool()), (200, Some(true)), "{paused}");
    assert_eq!(paused["next_fires"], json!([]), "nothing fires while paused");
    assert_eq!(paused["cron"], "* * * * * *", "a patch keeps the other fields");
    let at_pause = app.scheduled_runs(job).await.len();
    let control_runs = app.scheduled_runs(control).await.len();
    app.wait_more_runs(control, control_runs + 2, "the control schedule to fire three more times").await;
    assert_eq!(app.scheduled_runs(job).await.len(), at_pause, "a paused schedule does not fire");

    // Resumed: it fires again.
    let (status, _) = app.schedule(reqwest::Method::PATCH, job, json!({"paused": false})).await;
    assert_eq!(status, 200);
    let resumed = app.wait_more_runs(job, at_pause, "a fire after resuming").await;

    // Removed: no schedule, no more fires.
    let res = app.http.delete(app.url(&format!("/api/v1/jobs/{job}/schedule"))).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let at_delete = app.scheduled_runs(job).await.len();
    assert!(at_delete >= resumed);
    assert_eq!(app.get_json(&format!("/api/v1/jobs/{job}/schedule")).await.0, 404);
    let (_, in_job) = app.get_json(&format!("/api/v1/jobs/{job}")).await;
    assert!(in_job.get("schedule").is_none(), "{in_job}");
    let control_runs = app.scheduled_runs(control).await.len();
    app.wait_more_runs(control, control_runs + 2, "the control schedule to fire three more times").await;
    assert_eq!(app.scheduled_runs(job).await.len(), at_delete, "a removed schedule does not fire");

    // Every run a schedule started is named by exactly one fire record, and every fire record
    // that started a run names a run that exists.
    let (runs, fires, distinct): (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from runs where triggered_by = 'schedule'), \
                (select count(*) from schedule_fires f join runs r on r.id = f.run_id), \
                (select count(distinct run_id) from schedule_fires)",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!((fires, distinct), (runs, runs), "one run per fire time");
    app.stop().await;
}

#[tokio::test]
async fn forbid_records_skipped_fires_while_a_run_is_active() {
    let app = TestApp::spawn_all(test_config()).await;
    let gate = gate_path("forbid");
    let wait = format!("while [ ! -f {} ]; do sleep 0.02; done", gate.display());
    let job = app.create_job("slow", &["bash", "-c", &wait]).await;
    let (status, s) =
        app.schedule(reqwest::Method::PUT, job, json!({"cron": "* * * * * *", "concurrency_policy": "forbid"})).await;
    assert_eq!(status, 200, "{s}");
    let skipped = wait_for("two skipped fires", WAIT, || async {
        let (_, s) = app.get_json(&format!("/api/v1/jobs/{job}/schedule")).await;
        let fires = s["last_fires"].as_array().cloned().unwrap_or_default();
        let skipped: Vec<Value> = fires.into_iter().filter(|f| f["outcome"] == "skipped").collect();
        (skipped.len() >= 2).then_some(skipped)
    })
    .await;
    assert!(skipped.iter().all(|f| f["run_id"].is_null()), "{skipped:?}");
    assert_eq!(app.scheduled_runs(job).await.len(), 1, "one run while it is active");
    // Stop firing, then let the run end.
    assert_eq!(app.http.delete(app.url(&format!("/api/v1/jobs/{job}/schedule"))).send().await.unwrap().status(), 204);
    std::fs::write(&gate, b"go").unwrap();
    let run = app.scheduled_runs(job).await[0]["id"].as_i64().unwrap();
    assert_eq!(app.wait_terminal(run).await, "succeeded");
    let _ = std::fs::remove_file(&gate);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_field() {
    let app = TestApp::spawn(test_config(), berth::service::Roles { api: true, scheduler: false, worker: false }).await;
    let job = app.create_job("etl", &["true"]).await;
    let cases = [
        (json!({"cron": "every day"}), "cron"),
        (json!({"cron": "* * * *"}), "cron"),
        (json!({"cron": "0 0 30 2 *"}), "cron"),
        (json!({"time_zone": "Europe/Paris"}), "cron is required"),
        (json!({"cron": "@daily", "time_zone": "Mars/Olympus"}), "time_zone"),
        (json!({"cron": "@daily", "concurrency_policy": "sometimes"}), "concurrency_policy"),
        (json!({"cron": "@daily", "starting_deadline_seconds": 0}), "starting_deadline_seconds"),
        (json!({"cron": "@daily", "starting_deadline_seconds": 1_i64 << 40}), "starting_deadline_seconds"),
        (json!({"cron": "@daily", "every": "day"}), "every"),
        (json!({"cron": "x".repeat(300)}), "cron"),
    ];
    for (body, field) in cases {
        let (status, e) = app.schedule(reqwest::Method::PUT, job, body.clone()).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert!(e["message"].as_str().unwrap().contains(field), "{body}: {e} names {field}");
    }
    assert_eq!(app.get_json(&format!("/api/v1/jobs/{job}/schedule")).await.0, 404, "nothing was stored");

    let spec = JobSpec {
        name: "stream".into(),
        description: String::new(),
        kind: JobKind::Streaming,
        service: "example".into(),
        namespace: "default".into(),
        run_as: "7".into(),
        priority: Priority::Normal,
        flow: Flow::Priority,
        request: Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
        command: Some(vec!["true".into()]),
        args: vec![],
        env: BTreeMap::new(),
        timeout_seconds: None,
        retry: RetryPolicy::default(),
        tags: BTreeMap::new(),
        restart: Some(berth::retry::RestartSettings::default()),
        steps: Vec::new(),
    };
    let streaming = app.store.job_create(&spec, &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let (status, e) = app.schedule(reqwest::Method::PUT, streaming.0, json!({"cron": "@daily"})).await;
    assert_eq!(status, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("kind"), "{e}");

    assert_eq!(app.schedule(reqwest::Method::PUT, 999_999, json!({"cron": "@daily"})).await.0, 404);
    assert_eq!(app.schedule(reqwest::Method::PATCH, job, json!({"paused": true})).await.0, 404, "no schedule yet");
    assert_eq!(app.http.delete(app.url(&format!("/api/v1/jobs/{job}/schedule"))).send().await.unwrap().status(), 404);

    // A good one, in a zone, with every field; the leader is off so nothing fires.
    let body = json!({"cron": "30 2 * * *", "time_zone": "America/New_York", "concurrency_policy": "replace",
                      "starting_deadline_seconds": 300, "paused": false});
    let (status, s) = app.schedule(reqwest::Method::PUT, job, body).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["concurrency_policy"].as_str(), s["starting_deadline_seconds"].as_i64()),
        (Some("replace"), Some(300))
    );
    let next = s["next_fires"].as_array().unwrap();
    assert_eq!(next.len(), 5);
    assert!(next.iter().all(|t| t.as_str().unwrap().contains(":30:00")), "02:30 local, 06:30 or 07:30 UTC: {s}");
    let (_, events) = app.get_json(&format!("/api/v1/jobs/{job}/events")).await;
    assert_eq!(events.as_array().unwrap().last().unwrap()["kind"], "schedule_set");
    app.stop().await;
}
