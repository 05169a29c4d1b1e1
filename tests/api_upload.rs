//! The seed-compatible API end to end: real HTTP, real scheduler, real worker, real Postgres.

mod common;

use std::time::Duration;

use berth::service::Roles;
use common::{TestApp, test_config, wait_for, zip_names, zip_read};

/// (what, files, fields, expected error code)
type BadCase<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, Vec<(&'a str, &'a str)>, &'a str);

#[tokio::test]
async fn a_run_sh_job_runs_and_its_zip_holds_inputs_and_outputs() {
    let app = TestApp::spawn_all(test_config()).await;
    let script =
        b"#!/bin/bash\necho ok > output.txt\ntr a-z A-Z < input.txt > upper.txt\necho to-stdout\necho to-stderr >&2\n";
    let res =
        app.upload(&[("run.sh", script), ("input.txt", b"hello\n")], &[("user_id", "1"), ("service", "example")]).await;
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "Queued");
    assert_eq!(body["message"], "Job successfully uploaded");
    let id = body["id"].as_i64().unwrap();

    assert_eq!(app.wait_terminal(id).await, "succeeded");
    let head = app.http.head(app.url(&format!("/download/{id}"))).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let res = app.http.get(app.url(&format!("/download/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let zip = res.bytes().await.unwrap();
    let mut names = zip_names(&zip);
    names.sort();
    assert_eq!(names, ["input.txt", "output.txt", "run.sh", "upper.txt"], "inputs and outputs, no zip inside");
    assert_eq!(zip_read(&zip, "output.txt"), "ok\n");
    assert_eq!(zip_read(&zip, "upper.txt"), "HELLO\n");

    let (status, logs) = app.get_json(&format!("/api/v1/runs/{id}/logs")).await;
    assert_eq!(status, 200);
    assert_eq!(logs["stdout"], "to-stdout\n");
    assert_eq!(logs["stderr"], "to-stderr\n");

    let (_, run) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["user_id"], "1");
    assert_eq!(run["service"], "example");
    assert_eq!(run["priority"], "normal");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(run["attempt"], 1);
    assert!(run["worker_id"].is_i64());
    for t in ["enqueued_at", "admitted_at", "started_at", "finished_at"] {
        assert!(run[t].is_string(), "{t} is set");
    }
    let kinds: Vec<&str> = run["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["submitted", "admitted", "started", "succeeded"]);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_run_sh_fails_and_keeps_its_partial_output() {
    let app = TestApp::spawn_all(test_config()).await;
    let id = app.submit_script("echo partial > part.txt\nexit 3\n", "2").await;
    assert_eq!(app.wait_terminal(id).await, "failed");

    let head = app.http.head(app.url(&format!("/download/{id}"))).send().await.unwrap();
    assert_eq!(head.status(), 204);
    let (status, body) = app.get_json(&format!("/download/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "Failed");
    assert_eq!(body["message"], "exited with code 3");
    let (_, run) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["exit_code"], 3);

    let res = app.http.get(app.url(&format!("/api/v1/runs/{id}/result"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(zip_read(&res.bytes().await.unwrap(), "part.txt"), "partial\n");
    app.stop().await;
}

#[tokio::test]
async fn every_bad_upload_is_a_400_with_a_json_body_and_leaves_nothing_behind() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let run_sh: &[u8] = b"echo hi\n";
    let cases: Vec<BadCase> = vec![
        ("no user_id", vec![("run.sh", run_sh)], vec![("service", "example")], "missing_field"),
        ("empty user_id", vec![("run.sh", run_sh)], vec![("user_id", ""), ("service", "example")], "missing_field"),
        (
            "user_id not an integer",
            vec![("run.sh", run_sh)],
            vec![("user_id", "alice"), ("service", "example")],
            "invalid_field",
        ),
        ("no service", vec![("run.sh", run_sh)], vec![("user_id", "1")], "missing_field"),
        ("unknown service", vec![("run.sh", run_sh)], vec![("user_id", "1"), ("service", "nope")], "unknown_service"),
        ("no file", vec![], vec![("user_id", "1"), ("service", "example")], "missing_file"),
        ("no run.sh", vec![("other.sh", run_sh)], vec![("user_id", "1"), ("service", "example")], "missing_run_sh"),
        (
            "escaping name",
            vec![("run.sh", run_sh), ("../evil.sh", run_sh)],
            vec![("user_id", "1"), ("service", "example")],
            "invalid_file_name",
        ),
        (
            "absolute name",
            vec![("run.sh", run_sh), ("/etc/evil", run_sh)],
            vec![("user_id", "1"), ("service", "example")],
            "invalid_file_name",
        ),
        (
            "nested escape",
            vec![("run.sh", run_sh), ("a/../../evil", run_sh)],
            vec![("user_id", "1"), ("service", "example")],
            "invalid_file_name",
        ),
        (
            "bad priority",
            vec![("run.sh", run_sh)],
            vec![("user_id", "1"), ("service", "example"), ("priority", "urgent")],
            "invalid_field",
        ),
        (
            "negative cpu",
            vec![("run.sh", run_sh)],
            vec![("user_id", "1"), ("service", "example"), ("cpu", "-1")],
            "invalid_field",
        ),
        (
            "bad namespace",
            vec![("run.sh", run_sh)],
            vec![("user_id", "1"), ("service", "example"), ("namespace", "a b")],
            "invalid_field",
        ),
    ];
    let before = app.counts().await;
    for (what, files, fields, code) in cases {
        let res = app.upload(&files, &fields).await;
        assert_eq!(res.status(), 400, "{what}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], code, "{what}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: a message");
    }
    let garbage = app
        .http
        .post(app.url("/upload"))
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("this is not multipart")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400, "a body that is not multipart");
    assert_eq!(app.counts().await, before, "no row written by a rejected upload");
    app.stop().await;
}

#[tokio::test]
async fn an_upload_above_the_limit_is_a_413_and_leaves_nothing_behind() {
    let mut config = test_config();
    config.api.max_upload_bytes = 4096;
    let app = TestApp::spawn(config, Roles { api: true, scheduler: false, worker: false }).await;
    let big = vec![b'x'; 64 * 1024];
    let before = app.counts().await;
    let res =
        app.upload(&[("run.sh", b"echo hi\n"), ("data.bin", &big)], &[("user_id", "1"), ("service", "example")]).await;
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "too_large");
    assert_eq!(app.counts().await, before);
    // A job's JSON definition past the same limit: 413 too (it was a 400).
    let job =
        serde_json::json!({"name": "big", "service": "example", "command": ["true"], "description": "d".repeat(8192)});
    let res = app.http.post(app.url("/api/v1/jobs")).json(&job).send().await.unwrap();
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "too_large");
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_404_with_json() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    for path in ["/download/999999", "/download/abc", "/download/-1", "/api/v1/runs/424242", "/api/v1/runs/42/logs"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"], "not_found", "{path}");
    }
    let head = app.http.head(app.url("/download/999999")).send().await.unwrap();
    assert_eq!(head.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn head_codes_follow_the_run_through_its_states() {
    let app = TestApp::spawn_all(test_config()).await;
    let gate = common::gate_path("head");
    let script = format!("while [ ! -f {} ]; do sleep 0.02; done\necho done > out.txt\n", gate.display());
    let running = app.submit_script(&script, "3").await;
    wait_for("the gated run to start", Duration::from_secs(30), || async {
        (app.state(running).await == "running").then_some(())
    })
    .await;
    assert_eq!(head(&app, running).await, 202, "running");
    let (_, body) = app.get_json(&format!("/download/{running}")).await;
    assert_eq!(body["status"], "Running");
    std::fs::write(&gate, b"go").unwrap();
    assert_eq!(app.wait_terminal(running).await, "succeeded");
    assert_eq!(head(&app, running).await, 200, "completed");
    let _ = std::fs::remove_file(&gate);

    let failed = app.submit_script("exit 1\n", "3").await;
    app.wait_terminal(failed).await;
    assert_eq!(head(&app, failed).await, 204, "failed");
    app.stop().await;

    // Queued (no worker) and cancelled.
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let queued = app.submit_script("echo hi\n", "4").await;
    assert_eq!(head(&app, queued).await, 202, "queued");
    let (_, body) = app.get_json(&format!("/download/{queued}")).await;
    assert_eq!(body["status"], "Queued");
    let res = app.http.post(app.url(&format!("/api/v1/runs/{queued}/cancel"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(head(&app, queued).await, 204, "cancelled");
    let res = app.http.post(app.url(&format!("/api/v1/runs/{queued}/cancel"))).send().await.unwrap();
    assert_eq!(res.status(), 409, "cancelling a terminal run");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("cancelled"), "names the current state: {body}");
    app.stop().await;
}

#[tokio::test]
async fn health_root_and_swagger_answer() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("healthy")));
    let root = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    let ui = app.http.get(app.url("/swagger-ui/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"), "the vendored Swagger UI");
    let (status, doc) = app.get_json("/api-docs/openapi.json").await;
    assert_eq!(status, 200);
    for path in ["/upload", "/download/{id}", "/health", "/api/v1/runs/{id}", "/api/v1/workers"] {
        assert!(doc["paths"][path].is_object(), "OpenAPI documents {path}");
    }
    app.stop().await;
}

async fn head(app: &TestApp, id: i64) -> u16 {
    app.http.head(app.url(&format!("/download/{id}"))).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn workers_show_capacity_use_free_and_heartbeat() {
    let mut config = test_config();
    config.worker.cpu = 3000;
    config.worker.memory = 2048;
    config.worker.pods = 4;
    let app = TestApp::spawn_all(config).await;
    let gate = common::gate_path("workers");
    let res = app
        .upload(
            &[("run.sh", format!("while [ ! -f {} ]; do sleep 0.02; done\n", gate.display()).as_bytes())],
            &[("user_id", "1"), ("service", "example"), ("cpu", "1000"), ("memory", "512")],
        )
        .await;
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_for("the run to start", Duration::from_secs(30), || async {
        (app.state(id).await == "running").then_some(())
    })
    .await;
    let (status, workers) = app.get_json("/api/v1/workers").await;
    assert_eq!(status, 200);
    let w = &workers[0];
    assert_eq!((w["cpu"].as_i64(), w["memory"].as_i64(), w["pods"].as_i64()), (Some(3000), Some(2048), Some(4)));
    assert_eq!(
        (w["used_cpu"].as_i64(), w["used_memory"].as_i64(), w["used_pods"].as_i64()),
        (Some(1000), Some(512), Some(1))
    );
    assert_eq!((w["free"]["cpu"].as_i64(), w["free"]["pods"].as_i64()), (Some(2000), Some(3)));
    assert_eq!(w["live"], true);
    assert!(w["heartbeat_at"].is_string());
    std::fs::write(&gate, b"go").unwrap();
    app.wait_terminal(id).await;
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}

/// With auth on, the upload's user is the token's subject, up to 255 characters of any script: the
/// job's name (`<service>-<user>`) keeps its first 255 characters (a longer one was a 500), and a
/// stored job run as such a user is not refused for its bytes.
#[tokio::test]
async fn a_long_subject_uploads_and_creates_jobs() {
    let app = TestApp::spawn_with_auth(test_config()).await;
    let admin = app.token("root", |p| p.admin = true).await;
    app.open_default_namespace(&admin).await;
    for subject in ["u".repeat(255), "名".repeat(200)] {
        let token = app.token(&subject, |_| {}).await;
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(&b"echo hi\n"[..]).file_name("run.sh"))
            .text("service", "example");
        let res = app.http.post(app.url("/upload")).bearer_auth(&token).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());
        let job = serde_json::json!({"name": "stored", "service": "example", "command": ["true"]});
        let res = app.http.post(app.url("/api/v1/jobs")).bearer_auth(&token).json(&job).send().await.unwrap();
        let status = res.status();
        assert_eq!(status, 201, "{}", res.text().await.unwrap_or_default());
        // The next subject's job takes the same name in the same namespace: remove this one.
        sqlx::query("delete from jobs where name = 'stored'").execute(app.store.pool()).await.unwrap();
    }
    let longest: i32 = sqlx::query_scalar("select max(char_length(name)) from jobs where one_off")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(longest, 255);
    app.stop().await;
}
