//! Every error answer is `{ "error", "message" }` JSON, also for requests axum's extractors refuse
//! before a handler runs (the schema fuzzer in `.ci/fuzz-api` found the plain-text ones).

mod common;

use berth::service::Roles;
use common::{TestApp, test_config};

#[tokio::test]
async fn requests_refused_before_a_handler_still_answer_an_error_body() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let not_multipart = app.http.post(app.url("/upload")).body("hello").send().await.unwrap();
    let not_utf8 = app.http.get(app.url("/api/v1/runs/%FF")).send().await.unwrap();
    let bad_query = app.http.get(app.url("/api/v1/queue?limit=many")).send().await.unwrap();
    let not_json = app.http.put(app.url("/api/v1/namespaces/etl")).body("{").send().await.unwrap();
    // chrono reads it; PostgreSQL refuses a year before 4713 BC (it was a 500).
    let ancient = app.http.get(app.url("/api/v1/runs?since=-5000-01-01T00:00:00Z")).send().await.unwrap();
    let no_route = app.http.get(app.url("/api/v1/nope")).send().await.unwrap();
    let no_method = app.http.delete(app.url("/api/v1/runs/1")).send().await.unwrap();
    for (what, res, status, code) in [
        ("an upload that is not multipart", not_multipart, 400, "bad_multipart"),
        ("a path segment that is not UTF-8", not_utf8, 400, "bad_request"),
        ("a limit that is not an integer", bad_query, 400, "invalid_query"),
        ("a quota that is not JSON", not_json, 400, "invalid_body"),
        ("a time PostgreSQL cannot hold", ancient, 400, "invalid_query"),
        ("a path no route has", no_route, 404, "not_found"),
        ("a method the route lacks", no_method, 405, "method_not_allowed"),
    ] {
        assert_eq!(res.status(), status, "{what}");
        let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(content_type, "application/json", "{what}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], code, "{what}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty(), "{what}: {body}");
    }
    app.stop().await;
}
