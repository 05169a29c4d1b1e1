//! `GET /api/v1/overview`: queue depth per namespace and priority, admissions and finishes per
//! minute, workers alive — what the console's overview shows.

mod common;

use std::time::Duration;

use berth::service::Roles;
use common::{TestApp, test_config, wait_for};

#[tokio::test]
async fn queued_runs_are_counted_per_namespace_and_priority() {
    // No scheduler: uploads stay queued.
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    for priority in ["normal", "normal", "high"] {
        let res = app
            .upload(&[("run.sh", b"echo hi\n")], &[("user_id", "1"), ("service", "example"), ("priority", priority)])
            .await;
        assert_eq!(res.status(), 201);
    }
    let (status, overview) = app.get_json("/api/v1/overview").await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(
        overview["queue"],
        serde_json::json!([
            {"namespace": "default", "priority": "high", "queued": 1},
            {"namespace": "default", "priority": "normal", "queued": 2},
        ])
    );
    let minutes = overview["per_minute"].as_array().unwrap();
    assert_eq!(minutes.len(), 15, "every minute of the default window");
    assert!(minutes.iter().all(|m| m["admitted"] == 0 && m["finished"] == 0), "nothing admitted: {overview}");
    assert_eq!((overview["workers_alive"].as_i64(), overview["workers"].as_i64()), (Some(0), Some(0)));

    for bad in ["minutes=0", "minutes=121", "minutes=x", "since=1"] {
        let (status, body) = app.get_json(&format!("/api/v1/overview?{bad}")).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_query")), "{bad}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn admissions_and_finishes_are_counted_in_their_minute() {
    let app = TestApp::spawn_all(test_config()).await;
    let first = app.submit_script("echo one\n", "1").await;
    let second = app.submit_script("exit 3\n", "1").await;
    app.wait_terminal(first).await;
    app.wait_terminal(second).await;
    let overview = wait_for("both runs counted", Duration::from_secs(30), || async {
        let (_, o) = app.get_json("/api/v1/overview?minutes=5").await;
        let sum = |k: &str| -> i64 {
            o["per_minute"].as_array().map_or(0, |ms| ms.iter().map(|m| m[k].as_i64().unwrap_or(0)).sum())
        };
        (sum("admitted") == 2 && sum("finished") == 2).then_some(o.clone())
    })
    .await;
    assert_eq!(overview["per_minute"].as_array().unwrap().len(), 5);
    assert_eq!(overview["queue"], serde_json::json!([]));
    assert_eq!(overview["workers_alive"], 1);
    app.stop().await;
}
