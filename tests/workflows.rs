//! Workflows through real HTTP, a real scheduler and real workers on a real Postgres: steps run in
//! dependency order (checked from the database's timestamps), a child reads its parents' results
//! under parents/<step>/, a failure cancels the dependents with `upstream_failed`, a workflow run
//! can be cancelled, and every refused definition is a 400 naming what is wrong.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use berth::service::Roles;
use chrono::{DateTime, Utc};
use common::{TestApp, test_config, wait_for};
use serde_json::{Value, json};

/// When a step's run started and ended (database timestamps).
type Started = Option<DateTime<Utc>>;
type Ended = Option<DateTime<Utc>>;
type Times = HashMap<String, (Started, Ended)>;

const API_ONLY: Roles = Roles { api: true, scheduler: false, worker: false };

impl TestApp {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// A stored batch job running `script` with bash in its folder; returns its id.
    async fn script_job(&self, name: &str, script: &str, extra: Value) -> i64 {
        let mut body = json!({"name": name, "service": "example", "command": ["bash", "-c", script]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, job) = self.post_json("/api/v1/jobs", body).await;
        assert_eq!(status, 201, "{job}");
        job["id"].as_i64().unwrap()
    }

    /// Creates workflow `name` with `steps` and starts it; returns the workflow run's view.
    async fn start_workflow(&self, name: &str, steps: Value) -> Value {
        let (status, wf) =
            self.post_json("/api/v1/jobs", json!({"name": name, "kind": "workflow", "steps": steps})).await;
        assert_eq!(status, 201, "{wf}");
        assert_eq!(wf["kind"], "workflow");
        let (status, run) = self.post_json(&format!("/api/v1/jobs/{}/runs", wf["id"]), json!({})).await;
        assert_eq!(status, 201, "{run}");
        run
    }

    /// Waits until workflow run `id` has ended; returns its view.
    async fn wait_workflow(&self, id: i64) -> Value {
        wait_for(&format!("workflow run {id} to end"), Duration::from_secs(90), || async move {
            let (_, w) = self.get_json(&format!("/api/v1/workflow-runs/{id}")).await;
            (w["state"] != "running").then_some(w)
        })
        .await
    }

    /// Each step's (started_at, finished_at) from the database.
    async fn step_times(&self, wf: i64) -> Times {
        let rows: Vec<(String, Started, Ended)> = sqlx::query_as(
            "select s.name, r.started_at, r.finished_at from workflow_steps s join runs r on r.id = s.run_id \
             where s.workflow_run_id = $1",
        )
        .bind(wf)
        .fetch_all(self.store.pool())
        .await
        .unwrap();
        rows.into_iter().map(|(n, s, f)| (n, (s, f))).collect()
    }
}

/// Every child started after all its parents finished (database timestamps).
#[track_caller]
fn assert_dependency_order(view: &Value, times: &Times) {
    for edge in view["edges"].as_array().unwrap() {
        let (parent, child) = (edge["parent"].as_str().unwrap(), edge["child"].as_str().unwrap());
        let parent_end = times[parent].1.expect("the parent finished");
        let child_start = times[child].0.expect("the child started");
        assert!(child_start >= parent_end, "{child} started at {child_start}, before {parent} ended at {parent_end}");
    }
}

fn step<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["steps"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("step {name}"))
}

#[tokio::test]
async fn a_diamond_runs_in_dependency_order_and_each_child_reads_its_parents_results() {
    let app = TestApp::spawn_all(test_config()).await;
    let a = app.script_job("a", "echo from-a > out.txt", json!({})).await;
    let b = app.script_job("b", "cat parents/root/out.txt > seen.txt && echo from-b > out.txt", json!({})).await;
    let c =
        app.script_job("c", "echo from-c > out.txt && test -d parents/root && test ! -e parents/left", json!({})).await;
    let d =
        app.script_job("d", "cat parents/left/out.txt parents/right/out.txt parents/left/seen.txt", json!({})).await;
    // Listed child first: the order of the definition does not matter.
    let steps = json!([
        {"name": "join", "job": d, "depends_on": ["left", "right"]},
        {"name": "left", "job": b, "depends_on": ["root"]},
        {"name": "right", "job": c, "depends_on": ["root"]},
        {"name": "root", "job": a},
    ]);
    let started = app.start_workflow("diamond", steps).await;
    let id = started["id"].as_i64().unwrap();
    assert_eq!(started["steps_total"], 4);
    assert_eq!(step(&started, "join")["pending_parents"], 2, "{started}");
    assert_eq!(step(&started, "join")["state"], "waiting", "{started}");
    assert_eq!(started["edges"].as_array().unwrap().len(), 4, "{started}");

    let done = app.wait_workflow(id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["steps_succeeded"], 4);
    assert!(done["finished_at"].is_string());
    assert_dependency_order(&done, &app.step_times(id).await);

    let join_run = step(&done, "join")["run_id"].as_i64().unwrap();
    let (_, logs) = app.get_json(&format!("/api/v1/runs/{join_run}/logs")).await;
    assert_eq!(logs["stdout"], "from-b\nfrom-c\nfrom-a\n", "parents/<step>/ holds each parent's result: {logs}");
    let (_, run) = app.get_json(&format!("/api/v1/runs/{join_run}")).await;
    assert_eq!(run["workflow_run_id"].as_i64(), Some(id), "the run says which workflow run it belongs to");
    assert!(run["events"].as_array().unwrap().iter().any(|e| e["kind"] == "released"), "{run}");
    let (_, list) = app.get_json(&format!("/api/v1/jobs/{d}/runs")).await;
    assert_eq!(list["runs"][0]["workflow_run_id"].as_i64(), Some(id));
    app.stop().await;
}

#[tokio::test]
async fn a_fan_out_and_fan_in_waits_for_every_parent() {
    let app = TestApp::spawn_all(test_config()).await;
    let root = app.script_job("root", "echo 0 > n", json!({})).await;
    let mid = app.script_job("mid", "sleep 0.$((RANDOM % 3)); echo $RANDOM > n", json!({})).await;
    let join = app.script_job("join", "ls parents | wc -l", json!({})).await;
    let mut steps = vec![json!({"name": "root", "job": root})];
    let names: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    steps.extend(names.iter().map(|n| json!({"name": n, "job": mid, "depends_on": ["root"]})));
    steps.push(json!({"name": "join", "job": join, "depends_on": names}));
    let started = app.start_workflow("fan", Value::Array(steps)).await;
    let id = started["id"].as_i64().unwrap();
    let done = app.wait_workflow(id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_dependency_order(&done, &app.step_times(id).await);
    let (_, logs) = app.get_json(&format!("/api/v1/runs/{}/logs", step(&done, "join")["run_id"])).await;
    assert_eq!(logs["stdout"].as_str().unwrap().trim(), "12", "one folder per parent: {logs}");
    app.stop().await;
}

#[tokio::test]
async fn a_final_failure_cancels_the_dependents_with_upstream_failed_after_its_own_retries() {
    let app = TestApp::spawn_all(test_config()).await;
    let ok = app.script_job("ok", "true", json!({})).await;
    let bad = app.script_job("bad", "exit 3", json!({"max_attempts": 2, "retry_backoff_seconds": 0.1})).await;
    let steps = json!([
        {"name": "a", "job": ok},
        {"name": "b", "job": bad, "depends_on": ["a"]},
        {"name": "c", "job": ok, "depends_on": ["b"]},
        {"name": "d", "job": ok, "depends_on": ["c"]},
        {"name": "side", "job": ok, "depends_on": ["a"]},
    ]);
    let started = app.start_workflow("failing", steps).await;
    let id = started["id"].as_i64().unwrap();
    let done = app.wait_workflow(id).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(step(&done, "b")["state"], "failed");
    assert_eq!(step(&done, "b")["attempt"], 2, "the step's own retry policy: {done}");
    assert_eq!(step(&done, "side")["state"], "succeeded", "a sibling is not a dependent");
    for name in ["c", "d"] {
        let s = step(&done, name);
        assert_eq!(s["state"], "cancelled", "{done}");
        assert_eq!(s["end_reason"], "upstream_failed", "{done}");
        assert!(s["started_at"].is_null(), "{name} never ran");
        let (_, run) = app.get_json(&format!("/api/v1/runs/{}", s["run_id"])).await;
        assert!(run["message"].as_str().unwrap().starts_with("upstream_failed"), "{run}");
        let event = run["events"].as_array().unwrap().iter().find(|e| e["kind"] == "cancelled").cloned().unwrap();
        assert_eq!(event["details"]["reason"], "upstream_failed", "{event}");
    }
    assert_eq!((done["steps_succeeded"].as_i64(), done["steps_failed"].as_i64()), (Some(2), Some(1)));
    assert_eq!(done["steps_cancelled"], 2);
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_workflow_run_cancels_its_unfinished_steps() {
    let app = TestApp::spawn_all(test_config()).await;
    let gate = common::gate_path("wf-cancel");
    let slow =
        app.script_job("slow", &format!("while [ ! -e {} ]; do sleep 0.05; done", gate.display()), json!({})).await;
    let ok = app.script_job("ok", "true", json!({})).await;
    let steps = json!([
        {"name": "quick", "job": ok},
        {"name": "slow", "job": slow},
        {"name": "after", "job": ok, "depends_on": ["slow", "quick"]},
    ]);
    let started = app.start_workflow("cancel me", steps).await;
    let id = started["id"].as_i64().unwrap();
    wait_for("the slow step to run and the quick one to end", Duration::from_secs(30), || async {
        let (_, w) = app.get_json(&format!("/api/v1/workflow-runs/{id}")).await;
        (step(&w, "slow")["state"] == "running" && step(&w, "quick")["state"] == "succeeded").then_some(())
    })
    .await;
    let (status, cancel) = app.post_json(&format!("/api/v1/workflow-runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{cancel}");
    assert_eq!((cancel["cancelled_steps"].as_i64(), cancel["stopping_steps"].as_i64()), (Some(1), Some(1)));
    assert_eq!(step(&cancel["workflow_run"], "after")["end_reason"], "workflow_cancelled");
    let done = app.wait_workflow(id).await;
    assert_eq!(done["state"], "cancelled", "{done}");
    assert_eq!(step(&done, "slow")["state"], "cancelled", "the running step was stopped: {done}");
    assert_eq!(step(&done, "quick")["state"], "succeeded");
    let (status, again) = app.post_json(&format!("/api/v1/workflow-runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 409, "{again}");
    assert!(again["message"].as_str().unwrap().contains("cancelled"), "{again}");
    let (status, _) = app.post_json("/api/v1/workflow-runs/999999/cancel", json!({})).await;
    assert_eq!(status, 404);
    let _ = std::fs::remove_file(&gate);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_definition_is_a_400_that_names_it_and_stores_nothing() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let ok = app.script_job("ok", "true", json!({})).await;
    let gone = app.script_job("gone", "true", json!({})).await;
    assert_eq!(app.send(reqwest::Method::DELETE, &format!("/api/v1/jobs/{gone}"), None).await.0, 200);
    let (_, inner) = app
        .post_json(
            "/api/v1/jobs",
            json!({"name": "inner", "kind": "workflow",
        "steps": [{"name": "x", "job": ok}]}),
        )
        .await;
    let inner = inner["id"].as_i64().unwrap();
    let cases = [
        (
            json!([{"name": "a", "job": ok, "depends_on": ["b"]}, {"name": "b", "job": ok, "depends_on": ["a"]}]),
            "cycle",
        ),
        (json!([{"name": "a", "job": ok, "depends_on": ["ghost"]}]), "\"ghost\""),
        (json!([{"name": "a", "job": ok}, {"name": "a", "job": ok}]), "\"a\" is used twice"),
        (json!([{"name": "a", "job": 424242}]), "job 424242"),
        (json!([{"name": "a", "job": gone}]), &*format!("job {gone}")),
        (json!([{"name": "a", "job": inner}]), "workflow job"),
        (json!([{"name": "../x", "job": ok}]), "\"../x\""),
        (json!([]), "at least one step"),
    ];
    let jobs_before: i64 = sqlx::query_scalar("select count(*) from jobs").fetch_one(app.store.pool()).await.unwrap();
    for (steps, named) in &cases {
        let (status, e) =
            app.post_json("/api/v1/jobs", json!({"name": "wf", "kind": "workflow", "steps": steps})).await;
        assert_eq!(status, 400, "{steps}: {e}");
        assert!(e["message"].as_str().unwrap().contains(named), "{steps}: {e} names {named}");
    }
    let (status, e) = app.post_json("/api/v1/jobs", json!({"name": "wf", "kind": "workflow"})).await;
    assert_eq!(status, 400, "{e}");
    let (status, e) = app
        .post_json(
            "/api/v1/jobs",
            json!({"name": "b", "service": "example",
        "command": ["true"], "steps": [{"name": "a", "job": ok}]}),
        )
        .await;
    assert_eq!(status, 400, "steps on a batch job: {e}");
    let jobs_after: i64 = sqlx::query_scalar("select count(*) from jobs").fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(jobs_before, jobs_after, "nothing was stored");

    // PUT and PATCH check the same way.
    let (status, e) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/jobs/{inner}"),
            Some(json!({"steps": [{"name": "x", "job": ok, "depends_on": ["x"]}]})),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("cycle"), "{e}");
    let (status, e) = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/jobs/{inner}"),
            Some(json!({"name": "inner", "kind": "workflow", "steps": [{"name": "x", "job": gone}]})),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    let (status, patched) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/jobs/{inner}"),
            Some(json!({"steps": [{"name": "x", "job": ok}, {"name": "y", "job": ok, "depends_on": ["x"]}]})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["steps"][1]["depends_on"], json!(["x"]));
    let (_, template) = app.get_json(&format!("/api/v1/jobs/{inner}/template")).await;
    assert_eq!(template["steps"], patched["steps"], "the template recreates the workflow");

    // A step's job deleted after the workflow was created: the start is refused, nothing created.
    let (_, wf) = app
        .post_json(
            "/api/v1/jobs",
            json!({"name": "later", "kind": "workflow",
        "steps": [{"name": "x", "job": ok}]}),
        )
        .await;
    assert_eq!(app.send(reqwest::Method::DELETE, &format!("/api/v1/jobs/{ok}"), None).await.0, 200);
    let runs_before = app.counts().await.1;
    let (status, e) = app.post_json(&format!("/api/v1/jobs/{}/runs", wf["id"]), json!({})).await;
    assert_eq!(status, 409, "{e}");
    assert!(e["message"].as_str().unwrap().contains(&format!("job {ok}")), "{e}");
    assert_eq!(app.counts().await.1, runs_before, "no run was created");
    let (status, _) = app.get_json("/api/v1/workflow-runs/1").await;
    assert_eq!(status, 404);
    app.stop().await;
}
