//! The seed API for both generations of the seed's clients: `POST /terminate/{id}`,
//! `GET /download_partial/{id}`, the seed's status names, and `api.seed-generation` where the
//! generations differ. Real HTTP, real worker, real Postgres.

mod common;

use std::time::Duration;

use berth::service::Roles;
use common::{TestApp, gate_path, test_config, wait_for, zip_names, zip_read};

fn api_only() -> Roles {
    Roles { api: true, scheduler: false, worker: false }
}

#[tokio::test]
async fn terminate_cancels_a_queued_run_then_answers_409_and_404() {
    let app = TestApp::spawn(test_config(), api_only()).await;
    let id = app.submit_script("echo hi\n", "1").await;

    let res = app.http.post(app.url(&format!("/terminate/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["status"], "Killed", "a run stopped on request is the seed's Killed");
    assert_eq!(body["message"], "job terminated");
    assert_eq!(app.state(id).await, "cancelled");
    let (_, status) = app.get_json(&format!("/download/{id}")).await;
    assert_eq!(status["status"], "Killed");

    let again = app.http.post(app.url(&format!("/terminate/{id}"))).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let err: serde_json::Value = again.json().await.unwrap();
    assert_eq!(err["error"], "not_cancellable");
    assert!(err["message"].as_str().unwrap().contains("cancelled"), "{err}");

    let unknown = app.http.post(app.url("/terminate/999999")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let unknown = app.http.post(app.url("/terminate/not-a-number")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn terminate_kills_a_running_run() {
    let app = TestApp::spawn_all(test_config()).await;
    let gate = gate_path("terminate");
    let script = format!("echo started\nwhile [ ! -f {} ]; do sleep 0.02; done\n", gate.display());
    let id = app.submit_script(&script, "2").await;
    wait_for("the gated run to start", Duration::from_secs(30), || async {
        (app.state(id).await == "running").then_some(())
    })
    .await;

    let res = app.http.post(app.url(&format!("/terminate/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.wait_terminal(id).await, "cancelled", "the worker killed it; the gate never opened");
    let (_, status) = app.get_json(&format!("/download/{id}")).await;
    assert_eq!(status["status"], "Killed");
    app.stop().await;
}

#[tokio::test]
async fn download_partial_gives_the_folder_so_far_in_any_state() {
    // Queued: the input files (no output yet, so no log files).
    let app = TestApp::spawn(test_config(), api_only()).await;
    let res = app
        .upload(&[("run.sh", b"echo hi\n"), ("data.txt", b"42\n")], &[("user_id", "3"), ("service", "example")])
        .await;
    assert_eq!(res.status(), 201);
    let queued = res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    let res = app.http.get(app.url(&format!("/download_partial/{queued}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let zip = res.bytes().await.unwrap();
    let mut names = zip_names(&zip);
    names.sort();
    assert_eq!(names, ["data.txt", "run.sh"]);
    assert_eq!(zip_read(&zip, "data.txt"), "42\n");
    let unknown = app.http.get(app.url("/download_partial/999999")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    app.stop().await;

    // Running: the inputs and the output written so far, as stdout.log.
    let app = TestApp::spawn_all(test_config()).await;
    let gate = gate_path("partial");
    let script = format!("echo halfway\nwhile [ ! -f {} ]; do sleep 0.02; done\necho done > out.txt\n", gate.display());
    let running = app.submit_script(&script, "3").await;
    let zip = wait_for("the output so far in the partial folder", Duration::from_secs(30), || async {
        let res = app.http.get(app.url(&format!("/download_partial/{running}"))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let zip = res.bytes().await.unwrap();
        zip_names(&zip).contains(&"stdout.log".to_string()).then_some(zip)
    })
    .await;
    assert_eq!(zip_read(&zip, "stdout.log"), "halfway\n");
    assert!(zip_names(&zip).contains(&"run.sh".to_string()));

    // Finished: the result folder.
    std::fs::write(&gate, b"go").unwrap();
    assert_eq!(app.wait_terminal(running).await, "succeeded");
    let res = app.http.get(app.url(&format!("/download_partial/{running}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(zip_read(&res.bytes().await.unwrap(), "out.txt"), "done\n");
    let _ = std::fs::remove_file(&gate);
    app.stop().await;
}

#[tokio::test]
async fn the_seed_generation_setting_picks_202_and_the_zip_of_a_failure() {
    // Generation 2 (the default): 200 with the JSON status until the zip; a non-zero exit is Failed.
    let app = TestApp::spawn(test_config(), api_only()).await;
    let queued = app.submit_script("echo hi\n", "4").await;
    let (status, body) = app.get_json(&format!("/download/{queued}")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("Queued")));
    app.stop().await;

    let app = TestApp::spawn_all(test_config()).await;
    let failed = app.submit_script("echo partial > part.txt\nexit 3\n", "4").await;
    assert_eq!(app.wait_terminal(failed).await, "failed");
    let (status, body) = app.get_json(&format!("/download/{failed}")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("Failed")));
    app.stop().await;

    // Generation 1: 202 while not done; a run that ran and exited non-zero still gives its zip.
    let mut first = test_config();
    first.api.seed_generation = 1;
    let app = TestApp::spawn(first.clone(), api_only()).await;
    let queued = app.submit_script("echo hi\n", "5").await;
    let (status, body) = app.get_json(&format!("/download/{queued}")).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("Queued")));
    app.stop().await;

    let app = TestApp::spawn_all(first).await;
    let failed = app.submit_script("echo partial > part.txt\nexit 3\n", "5").await;
    assert_eq!(app.wait_terminal(failed).await, "failed");
    let res = app.http.get(app.url(&format!("/download/{failed}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    assert_eq!(zip_read(&res.bytes().await.unwrap(), "part.txt"), "partial\n");
    app.stop().await;
}

#[test]
fn an_unknown_seed_generation_is_refused_by_configuration() {
    let mut config = test_config();
    config.api.seed_generation = 3;
    let err = config.validate().expect_err("generation 3 does not exist");
    assert!(err.to_string().contains("api.seed-generation"), "{err}");
}
