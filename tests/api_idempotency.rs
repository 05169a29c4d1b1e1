//! Idempotent submission: a retried upload with the same `Idempotency-Key` returns the same run.

mod common;

use berth::service::Roles;
use common::{TestApp, test_config};

async fn upload_with_key(app: &TestApp, key: &str, script: &'static [u8]) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(script).file_name("run.sh"))
        .text("user_id", "1")
        .text("service", "example");
    app.http.post(app.url("/upload")).header("Idempotency-Key", key).multipart(form).send().await.unwrap()
}

#[tokio::test]
async fn the_same_key_and_request_return_the_same_run_and_another_request_is_a_409() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let first = upload_with_key(&app, "k-1", b"echo one\n").await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();

    let again = upload_with_key(&app, "k-1", b"echo one\n").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    let other = upload_with_key(&app, "k-1", b"echo two\n").await;
    assert_eq!(other.status(), 409);
    let body: serde_json::Value = other.json().await.unwrap();
    assert_eq!(body["error"], "idempotency_conflict");

    let bad = upload_with_key(&app, "", b"echo one\n").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(app.counts().await.1, 1, "one run for all of it");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_create_one_run() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (http, url) = (app.http.clone(), app.url("/upload"));
        tasks.spawn(async move {
            let form = reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(&b"echo race\n"[..]).file_name("run.sh"))
                .text("user_id", "1")
                .text("service", "example");
            let r = http.post(url).header("Idempotency-Key", "race").multipart(form).send().await.unwrap();
            assert_eq!(r.status(), 201);
            r.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap()
        });
    }
    let mut ids = tasks.join_all().await;
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the same run: {ids:?}");
    assert_eq!(app.counts().await.1, 1);
    app.stop().await;
}

/// An upload as `token`'s bearer with `key`, for the token's own user; its status and run id.
async fn upload_as(app: &TestApp, token: &str, key: &str, script: &'static [u8]) -> (u16, Option<i64>, bool) {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(script).file_name("run.sh"))
        .text("service", "example");
    let res = app
        .http
        .post(app.url("/upload"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, replayed) = (res.status().as_u16(), res.headers().contains_key("idempotent-replayed"));
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (status, body["id"].as_i64(), replayed)
}

#[tokio::test]
async fn a_key_belongs_to_its_caller_so_another_tenant_can_neither_see_nor_take_it() {
    let app = TestApp::spawn_with_auth(test_config()).await;
    let admin = app.token("root", |p| p.admin = true).await;
    app.open_default_namespace(&admin).await;
    let (alice, bob) = (app.token("alice", |_| {}).await, app.token("bob", |_| {}).await);

    let (status, first, _) = upload_as(&app, &alice, "k-1", b"echo alice\n").await;
    assert_eq!(status, 201);
    // Before keys were the caller's, bob's other request was a 409 that told him the key was used.
    let (status, bobs, replayed) = upload_as(&app, &bob, "k-1", b"echo bob\n").await;
    assert_eq!((status, replayed), (201, false), "bob's own key, a run of his own");
    assert_ne!(bobs, first);
    assert_eq!(upload_as(&app, &bob, "k-1", b"echo bob\n").await, (201, bobs, true), "bob's retry: his run");
    assert_eq!(upload_as(&app, &alice, "k-1", b"echo alice\n").await, (201, first, true), "alice's retry: hers");
    assert_eq!(upload_as(&app, &alice, "k-1", b"echo other\n").await.0, 409, "her key, another request");
    assert_eq!(app.counts().await.1, 2);
    app.stop().await;
}
