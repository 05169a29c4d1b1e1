//! Stored jobs through real HTTP: create (JSON and multipart), find by part of the name, start runs
//! that a worker executes, edit without touching started runs, duplicate, template, history,
//! delete, and every refusal as a 400 that names the field and leaves nothing behind.

mod common;

use berth::service::Roles;
use common::{TestApp, test_config};
use serde_json::{Value, json};

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

    async fn job_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from jobs").fetch_one(self.store.pool()).await.unwrap()
    }
}

fn echo_job(name: &str) -> Value {
    json!({"name": name, "service": "example", "command": ["echo", "hello"], "tags": {"team": "ml"}})
}

#[tokio::test]
async fn a_job_is_created_found_by_part_of_its_name_and_its_runs_execute() {
    let app = TestApp::spawn_all(test_config()).await;
    let (status, job) = app.post_json("/api/v1/jobs", echo_job("nightly etl")).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!((job["service"].as_str(), job["one_off"].as_bool()), (Some("example"), Some(false)));
    let id = job["id"].as_i64().unwrap();
    // Multipart: the same field names, files beside them.
    let form = reqwest::multipart::Form::new()
        .text("name", "train model")
        .text("service", "example")
        .text("cpu", "100")
        .text("tags", r#"{"team":"vision"}"#)
        .part("file", reqwest::multipart::Part::bytes(b"echo trained > model.txt\n".to_vec()).file_name("run.sh"));
    let res = app.http.post(app.url("/api/v1/jobs")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let train: Value = res.json().await.unwrap();
    assert_eq!((train["cpu"].as_i64(), train["tags"]["team"].as_str()), (Some(100), Some("vision")));
    assert!(train["files_bytes"].as_i64().unwrap() > 0);

    let (_, found) = app.get_json("/api/v1/jobs?q=nigtly").await;
    assert_eq!(found["jobs"][0]["id"].as_i64(), Some(id), "a typo finds it: {found}");
    let (_, short) = app.get_json("/api/v1/jobs?q=tr").await;
    assert_eq!(short["jobs"].as_array().unwrap().len(), 1, "two letters find train: {short}");
    assert_eq!(short["jobs"][0]["matched"], "prefix", "{short}");
    let (_, whole) = app.get_json("/api/v1/jobs?q=TRAIN+model&limit=1").await;
    assert_eq!((&whole["jobs"][0]["name"], &whole["jobs"][0]["matched"]), (&json!("train model"), &json!("exact")));
    assert_eq!(whole["next_cursor"], format!("0:{}", train["id"]), "the cursor is <tier>:<id>: {whole}");
    let (_, tagged) = app.get_json("/api/v1/jobs?tag=team=vision").await;
    assert_eq!(tagged["jobs"][0]["name"], "train model");

    let (status, run) = app.post_json(&format!("/api/v1/jobs/{id}/runs"), json!({"args": ["world"]})).await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_i64().unwrap();
    assert_eq!(app.wait_terminal(run_id).await, "succeeded");
    let (_, logs) = app.get_json(&format!("/api/v1/runs/{run_id}/logs")).await;
    assert_eq!(logs["stdout"], "hello world\n", "the job's command with the run's args");
    let res = app.http.post(app.url(&format!("/api/v1/jobs/{}/runs", train["id"]))).send().await.unwrap();
    assert_eq!(res.status(), 201, "a start needs no body");
    let trained: Value = res.json().await.unwrap();
    assert_eq!(app.wait_terminal(trained["id"].as_i64().unwrap()).await, "succeeded");

    let (_, runs) = app.get_json(&format!("/api/v1/jobs/{id}/runs")).await;
    assert_eq!(runs["runs"][0]["id"].as_i64(), Some(run_id));
    let (_, all) = app.get_json("/api/v1/runs?state=succeeded&limit=1").await;
    assert_eq!(all["runs"].as_array().unwrap().len(), 1);
    let cursor = all["next_cursor"].as_str().expect("a full page has a next page").to_string();
    let (_, next) = app.get_json(&format!("/api/v1/runs?state=succeeded&limit=1&cursor={cursor}")).await;
    assert_eq!(next["runs"][0]["id"].as_i64(), Some(run_id), "the older run on the next page");
    app.stop().await;
}

#[tokio::test]
async fn editing_a_job_changes_its_next_runs_only_and_is_recorded() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let (_, job) = app.post_json("/api/v1/jobs", echo_job("edited")).await;
    let id = job["id"].as_i64().unwrap();
    let (_, before) = app.post_json(&format!("/api/v1/jobs/{id}/runs"), json!({})).await;
    let patch = json!({"command": ["echo", "changed"], "priority": "high"});
    let (status, patched) = app.send(reqwest::Method::PATCH, &format!("/api/v1/jobs/{id}"), Some(patch)).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!((patched["priority"].as_str(), patched["tags"]["team"].as_str()), (Some("high"), Some("ml")));
    let (_, after) = app.post_json(&format!("/api/v1/jobs/{id}/runs"), json!({})).await;
    let commands: Vec<(i64, Value, String)> =
        sqlx::query_as("select id, command, priority from runs where job_id = $1 order by id")
            .bind(id)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    assert_eq!(commands[0], (before["id"].as_i64().unwrap(), json!(["echo", "hello"]), "normal".to_string()));
    assert_eq!(commands[1], (after["id"].as_i64().unwrap(), json!(["echo", "changed"]), "high".to_string()));
    // PUT replaces everything: tags left out are gone.
    let (status, put) = app.send(reqwest::Method::PUT, &format!("/api/v1/jobs/{id}"), Some(echo_job("edited 2"))).await;
    assert_eq!(status, 200, "{put}");
    let (status, put) = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/jobs/{id}"),
            Some(json!({"name": "edited 3", "service": "example", "command": ["true"]})),
        )
        .await;
    assert_eq!((status, put["tags"].clone()), (200, json!({})));
    let (_, events) = app.get_json(&format!("/api/v1/jobs/{id}/events")).await;
    let kinds: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "updated", "updated", "updated"]);
    assert_eq!(events[1]["changes"]["priority"], json!({"from": "normal", "to": "high"}));
    let (_, template) = app.get_json(&format!("/api/v1/jobs/{id}/template")).await;
    let mut body = template.clone();
    body["name"] = json!("from template");
    let (status, recreated) = app.post_json("/api/v1/jobs", body).await;
    assert_eq!(status, 201, "the template is a body POST /jobs accepts: {recreated}");
    assert_eq!(recreated["command"], json!(["true"]));
    app.stop().await;
}

#[tokio::test]
async fn bad_definitions_are_400s_that_name_the_field_and_leave_nothing() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let before = app.job_count().await;
    let cases = [
        (json!({"name": "a/b", "service": "example", "command": ["true"]}), "name"),
        (json!({"name": "x".repeat(256), "service": "example", "command": ["true"]}), "name"),
        (json!({"name": "ok", "service": "nope", "command": ["true"]}), "service"),
        (json!({"name": "ok", "service": "example", "namespace": "ghost", "command": ["true"]}), "namespace"),
        (json!({"name": "ok", "service": "example", "command": ["true"], "tags": {"-bad": "x"}}), "tag"),
        (json!({"name": "ok", "service": "example", "command": ["true"], "cpu": -1}), "cpu"),
        (json!({"name": "ok", "service": "example", "command": ["true"], "memory": 1_000_000_000_000i64}), "quota"),
        (json!({"name": "ok", "service": "example"}), "command"),
        (json!({"name": "ok", "service": "example", "command": ["true"], "colour": "red"}), "colour"),
        (json!({"name": "ok", "service": "example", "command": ["true"], "env": {"1X": "y"}}), "env"),
        (json!({"name": 5, "service": "example", "command": ["true"]}), "name"),
        (
            json!({"name": "ok", "service": "example", "command": ["true"], "retry_backoff_seconds": 1e13}),
            "retry_backoff",
        ),
        (json!({"name": "ok", "service": "example", "command": ["true"], "args": ["x".repeat(70_000)]}), "args"),
        (json!({"name": "ok", "service": "example", "command": ["true"], "description": "a\u{0}b"}), "description"),
    ];
    for (body, field) in cases {
        let (status, error) = app.post_json("/api/v1/jobs", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "the message names {field}: {message}");
    }
    // Files without run.sh and without a command.
    let form = reqwest::multipart::Form::new()
        .text("name", "no script")
        .text("service", "example")
        .part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("data.csv"));
    let res = app.http.post(app.url("/api/v1/jobs")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let error: Value = res.json().await.unwrap();
    assert_eq!(error["error"], "missing_run_sh");
    assert_eq!(app.job_count().await, before, "nothing left behind");
    let blobs: i64 = sqlx::query_scalar("select count(*) from blobs").fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(blobs, 0, "no stored file left behind");
    app.stop().await;
}

#[tokio::test]
async fn names_are_unique_copies_get_derived_names_and_deletes_respect_active_runs() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let (_, job) = app.post_json("/api/v1/jobs", echo_job("report")).await;
    let id = job["id"].as_i64().unwrap();
    let (status, taken) = app.post_json("/api/v1/jobs", echo_job("report")).await;
    assert_eq!((status, taken["error"].as_str()), (409, Some("name_taken")));
    let (status, copy) = app.post_json(&format!("/api/v1/jobs/{id}/duplicate"), json!({})).await;
    assert_eq!((status, copy["name"].as_str()), (201, Some("report copy")));
    let (_, copy2) = app.post_json(&format!("/api/v1/jobs/{id}/duplicate"), json!({})).await;
    assert_eq!(copy2["name"], "report copy 2");
    let (status, named) = app.post_json(&format!("/api/v1/jobs/{id}/duplicate"), json!({"name": "report copy"})).await;
    assert_eq!((status, named["error"].as_str()), (409, Some("name_taken")));

    let (_, run) = app.post_json(&format!("/api/v1/jobs/{id}/runs"), json!({"triggered_by": "alice"})).await;
    assert_eq!(run["triggered_by"], "alice");
    let (status, refused) = app.send(reqwest::Method::DELETE, &format!("/api/v1/jobs/{id}"), None).await;
    assert_eq!((status, refused["error"].as_str()), (409, Some("active_runs")));
    let (status, deleted) =
        app.send(reqwest::Method::DELETE, &format!("/api/v1/jobs/{id}?cancel_runs=true"), None).await;
    assert_eq!((status, deleted["cancelled_runs"].as_i64()), (200, Some(1)));
    let (status, _) = app.get_json(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(status, 404);
    let (status, old) = app.get_json(&format!("/api/v1/runs/{}", run["id"])).await;
    assert_eq!((status, old["state"].as_str()), (200, Some("cancelled")), "its runs stay readable");
    let (_, by_alice) = app.get_json("/api/v1/runs?triggered_by=alice").await;
    assert_eq!(by_alice["runs"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn moving_a_job_to_legacy_lets_its_queued_run_skip_admission() {
    // No scheduler: a priority-flow run stays queued until something admits it.
    let mut config = test_config();
    config.worker.pods = 2;
    let app = TestApp::spawn(config, Roles { api: true, scheduler: false, worker: true }).await;
    let (_, job) = app.post_json("/api/v1/jobs", echo_job("stuck")).await;
    let id = job["id"].as_i64().unwrap();
    let (_, run) = app.post_json(&format!("/api/v1/jobs/{id}/runs"), json!({})).await;
    let run_id = run["id"].as_i64().unwrap();
    assert_eq!(app.state(run_id).await, "queued");
    let (status, _) =
        app.send(reqwest::Method::PATCH, &format!("/api/v1/jobs/{id}"), Some(json!({"flow": "legacy"}))).await;
    assert_eq!(status, 200);
    assert_eq!(app.wait_terminal(run_id).await, "succeeded", "admitted at once, then claimed by the worker");
    let (_, runs) = app.get_json("/api/v1/runs?triggered_by=upload").await;
    assert!(runs["runs"].as_array().unwrap().is_empty(), "no upload here");
    let (_, uploads_hidden) = app.get_json("/api/v1/jobs").await;
    assert_eq!(uploads_hidden["jobs"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn uploads_make_one_off_jobs_that_the_list_hides_unless_asked() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let id = app.submit_script("echo hi\n", "3").await;
    let (_, listed) = app.get_json("/api/v1/jobs").await;
    assert!(listed["jobs"].as_array().unwrap().is_empty(), "{listed}");
    let (_, all) = app.get_json("/api/v1/jobs?one_off=true").await;
    assert_eq!(all["jobs"][0]["one_off"], true);
    let (_, runs) = app.get_json("/api/v1/runs?triggered_by=upload&user=3").await;
    assert_eq!(runs["runs"][0]["id"].as_i64(), Some(id));
    let (status, bad) = app.get_json("/api/v1/runs?state=paused").await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad["message"].as_str().unwrap().contains("paused"));
    let (status, _) = app.get_json("/api/v1/jobs?cursor=garbage").await;
    assert_eq!(status, 400);

    // Retention drops a one-off job's files with its run and the job once its runs are gone: it
    // cannot be started again, scheduled or made a workflow step (a copy can).
    let job = all["jobs"][0]["id"].as_i64().unwrap();
    let (status, body) = app.post_json(&format!("/api/v1/jobs/{job}/runs"), json!({})).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("one_off_job")), "{body}");
    let every_minute = json!({"cron": "* * * * *"});
    let (status, body) =
        app.send(reqwest::Method::PUT, &format!("/api/v1/jobs/{job}/schedule"), Some(every_minute)).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("one_off_job")), "{body}");
    let step = json!({"name": "wf", "service": "example", "kind": "workflow", "steps": [{"name": "a", "job": job}]});
    let (status, body) = app.post_json("/api/v1/jobs", step).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("one-off"), "{body}");
    let runs: i64 = sqlx::query_scalar("select count(*) from runs").fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(runs, 1, "nothing started");
    let (status, copy) = app.post_json(&format!("/api/v1/jobs/{job}/duplicate"), json!({})).await;
    assert_eq!(status, 201, "{copy}");
    assert_eq!(copy["one_off"], false);
    let (status, _) = app.post_json(&format!("/api/v1/jobs/{}/runs", copy["id"]), json!({})).await;
    assert_eq!(status, 201, "the copy is a stored job");
    app.stop().await;
}

#[tokio::test]
async fn moving_every_job_to_legacy_is_recorded_on_each_job() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let (_, job) = app.post_json("/api/v1/jobs", echo_job("moved")).await;
    let id = job["id"].as_i64().unwrap();
    let (_, run) = app.post_json(&format!("/api/v1/jobs/{id}/runs"), json!({})).await;
    let (status, moved) = app.post_json("/api/v1/admin/migrate-to-legacy", json!({})).await;
    assert_eq!((status, moved["jobs"].as_i64(), moved["runs"].as_i64()), (200, Some(1), Some(1)));
    let (_, job) = app.get_json(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(job["flow"], "legacy");
    let (_, events) = app.get_json(&format!("/api/v1/jobs/{id}/events")).await;
    assert_eq!(events[1]["changes"]["flow"], json!({"from": "priority", "to": "legacy"}), "{events}");
    assert_eq!(app.state(run["id"].as_i64().unwrap()).await, "admitted");
    app.stop().await;
}

/// Starting a run needs only `run`; an env override that changes how bash or the loader start the
/// job (`BASH_ENV` runs its value's command substitutions before `run.sh`) would let a `run` grant
/// replace the job's code. Those are 400s that start nothing; other names go through, and the
/// job's own definition may still set them.
#[tokio::test]
async fn a_start_may_not_override_the_variables_that_change_how_the_job_starts() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let (status, job) = app.post_json("/api/v1/jobs", echo_job("guarded")).await;
    assert_eq!(status, 201, "{job}");
    let runs = format!("/api/v1/jobs/{}/runs", job["id"]);
    for name in ["BASH_ENV", "ENV", "SHELLOPTS", "PS4", "LD_PRELOAD", "PATH", "PYTHONPATH", "NODE_OPTIONS"] {
        let (status, body) = app.post_json(&runs, json!({"env": {name: "$(touch /tmp/owned)"}})).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_field")), "{name}: {body}");
        assert!(body["message"].as_str().unwrap().contains(name), "{body}");
    }
    let (_, started) = app.get_json(&format!("{runs}?limit=10")).await;
    assert_eq!(started["runs"].as_array().map(Vec::len), Some(0), "nothing started: {started}");
    let (status, run) = app.post_json(&runs, json!({"env": {"GREETING": "hi", "MY_PATH": "/data"}})).await;
    assert_eq!(status, 201, "{run}");
    let own = json!({"name": "own-path", "service": "example", "command": ["true"], "env": {"PATH": "/opt/bin:/usr/bin:/bin"}});
    assert_eq!(app.post_json("/api/v1/jobs", own).await.0, 201, "the job's own definition may set it");
    app.stop().await;
}

/// A job's history keeps which env names changed, not their values: a rotated secret does not stay
/// readable in the events by whoever may view the job. The current value is the definition's.
#[tokio::test]
async fn a_jobs_history_does_not_keep_its_env_values() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let body = json!({"name": "keyed", "service": "example", "command": ["true"], "env": {"API_KEY": "old-secret"}});
    let (status, job) = app.post_json("/api/v1/jobs", body).await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_i64().unwrap();
    let patch = json!({"env": {"API_KEY": "new-secret", "REGION": "eu"}});
    let (status, patched) = app.send(reqwest::Method::PATCH, &format!("/api/v1/jobs/{id}"), Some(patch)).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["env"]["API_KEY"], "new-secret", "the definition shows what runs");
    let (status, copy) = app.post_json(&format!("/api/v1/jobs/{id}/duplicate"), json!({})).await;
    assert_eq!(status, 201, "{copy}");
    let mut history = Vec::new();
    for job in [id, copy["id"].as_i64().unwrap()] {
        let (_, events) = app.get_json(&format!("/api/v1/jobs/{job}/events")).await;
        history.push(events);
    }
    let text = serde_json::to_string(&history).unwrap();
    assert!(!text.contains("secret"), "no env value in any event: {text}");
    assert_eq!(history[0][0]["changes"]["definition"]["env"], json!({"API_KEY": "(not recorded)"}));
    assert_eq!(
        history[0][1]["changes"]["env"],
        json!({"from": {"API_KEY": "(not recorded)"}, "to": {"API_KEY": "(not recorded)", "REGION": "(not recorded)"}})
    );
    app.stop().await;
}
