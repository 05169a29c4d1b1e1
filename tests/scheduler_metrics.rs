//! The leader's queue-wide metrics after a scenario (one test: the recorder is process-global).

mod common;

use std::time::Duration;

use berth::service::Roles;
use common::{TestApp, test_config, wait_for};
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::test]
async fn the_leader_exports_queue_quota_and_admission_metrics() {
    let handle = PrometheusBuilder::new().install_recorder().expect("recorder");
    berth::metrics::describe();
    // A scheduler with no worker: runs stay queued, blocked by the pool.
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: true, worker: false }).await;
    app.store
        .namespace_set_quota(
            "etl",
            berth::resources::Resources { cpu: 3000, memory: 2048, pods: 4, storage: 100 },
            None,
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let res = app
            .upload(
                &[("run.sh", b"echo hi\n")],
                &[("user_id", "1"), ("service", "example"), ("namespace", "etl"), ("priority", "high")],
            )
            .await;
        assert_eq!(res.status(), 201);
        let body: serde_json::Value = res.json().await.expect("json");
        ids.push(body["id"].as_i64().expect("id"));
    }
    let text = wait_for("the leader's gauges", Duration::from_secs(30), || async {
        let text = handle.render();
        // Gauges are set when a cycle decides, the cycle's duration when it commits.
        (text.contains(r#"berth_queue_depth{namespace="etl",priority="high"} 2"#)
            && text.contains("berth_admission_cycle_duration_seconds"))
        .then_some(text)
    })
    .await;
    for line in [
        r#"berth_quota_limit{namespace="etl",dimension="cpu"} 3000"#,
        r#"berth_quota_limit{namespace="etl",dimension="memory"} 2048"#,
        r#"berth_quota_used{namespace="etl",dimension="cpu"} 0"#,
        r#"berth_queue_depth{namespace="etl",priority="normal"} 0"#,
        "berth_workers_live 0",
        "berth_scheduler_leader 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains(r#"berth_http_requests_total{method="POST",route="/upload",status="201"} 2"#), "{text}");

    // Once the queue is empty the depth reads 0, not its last value.
    let client = reqwest::Client::new();
    for id in ids {
        let res = client.post(app.url(&format!("/api/v1/runs/{id}/cancel"))).send().await.expect("cancel");
        assert_eq!(res.status(), 200);
    }
    wait_for("the emptied queue's depth", Duration::from_secs(30), || async {
        handle.render().contains(r#"berth_queue_depth{namespace="etl",priority="high"} 0"#).then_some(())
    })
    .await;
    app.stop().await;
}
