//! Namespaces are bounded: they exist because an operator created them (`PUT`, or configuration
//! when the API starts), `default` always; an upload naming another is a 400 that says how to
//! create it and leaves nothing behind.

mod common;

use berth::config::{NamespaceConfig, QuotaConfig};
use berth::domain::Sharing;
use berth::service::Roles;
use common::{TestApp, test_config};

const API_ONLY: Roles = Roles { api: true, scheduler: false, worker: false };

async fn upload_in(app: &TestApp, namespace: &str) -> reqwest::Response {
    let fields = [("user_id", "1"), ("service", "example"), ("namespace", namespace)];
    app.upload(&[("run.sh", b"echo hi\n")], &fields).await
}

async fn namespace_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from namespaces").fetch_one(app.store.pool()).await.unwrap()
}

#[tokio::test]
async fn an_upload_to_an_unknown_namespace_is_a_400_that_says_how_to_create_it() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let (before, namespaces) = (app.counts().await, namespace_count(&app).await);
    let res = upload_in(&app, "etl").await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unknown_namespace");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(r#"namespace "etl" does not exist"#) && message.contains("PUT /api/v1/namespaces/etl"),
        "{message}"
    );
    assert_eq!((app.counts().await, namespace_count(&app).await), (before, namespaces), "nothing left behind");
    let (status, _) = app.get_json("/api/v1/namespaces/etl").await;
    assert_eq!(status, 404, "the upload did not create it");

    let quota = serde_json::json!({"cpu": 1000, "memory": 1024, "pods": 2, "storage": 10});
    let res = app.http.put(app.url("/api/v1/namespaces/etl")).json(&quota).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(upload_in(&app, "etl").await.status(), 201, "an operator created it");
    assert_eq!(upload_in(&app, "default").await.status(), 201, "default always exists");
    app.stop().await;
}

#[tokio::test]
async fn configured_namespaces_are_created_at_start_and_keep_a_quota_set_since() {
    let mut config = test_config();
    config.namespaces.default_quota = QuotaConfig { pods: 10, ..QuotaConfig::default() };
    config.namespaces.named.insert(
        "gpu".into(),
        NamespaceConfig {
            quota: Some(QuotaConfig { cpu: 8000, ..QuotaConfig::default() }),
            sharing: Some(Sharing::Fair),
        },
    );
    config.namespaces.named.insert("etl".into(), NamespaceConfig::default());
    let app = TestApp::spawn(config.clone(), API_ONLY).await;
    let (_, list) = app.get_json("/api/v1/namespaces").await;
    let limit = |name: &str| list.as_array().unwrap().iter().find(|n| n["name"] == name).map(|n| n["limit"].clone());
    assert_eq!(limit("default").unwrap()["pods"], 10, "default gets namespaces.default-quota");
    assert_eq!(limit("etl").unwrap()["pods"], 10, "a namespace configured without a quota gets the default one");
    assert_eq!(limit("gpu").unwrap()["cpu"], 8000);
    let sharing =
        |name: &str| list.as_array().unwrap().iter().find(|n| n["name"] == name).map(|n| n["sharing"].clone());
    assert_eq!(sharing("gpu").unwrap(), "fair", "configured");
    assert_eq!(sharing("etl").unwrap(), "fifo", "the default");
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!(upload_in(&app, "gpu").await.status(), 201);

    // An operator changes gpu's quota; a restart with the same configuration keeps it.
    let quota = serde_json::json!({"cpu": 500, "memory": 1024, "pods": 2, "storage": 10});
    assert_eq!(app.http.put(app.url("/api/v1/namespaces/gpu")).json(&quota).send().await.unwrap().status(), 200);
    let url = app.database_url.clone();
    app.stop().await;
    let app = TestApp::spawn_on(url, config, API_ONLY).await;
    let (_, gpu) = app.get_json("/api/v1/namespaces/gpu").await;
    assert_eq!(gpu["limit"]["cpu"], 500);
    assert_eq!(gpu["sharing"], "fair", "a PUT without sharing keeps it");
    app.stop().await;
}

#[tokio::test]
async fn a_put_sets_sharing_and_refuses_an_unknown_one_leaving_the_namespace_alone() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let put = |body: serde_json::Value| app.http.put(app.url("/api/v1/namespaces/etl")).json(&body).send();
    let quota = serde_json::json!({"cpu": 1000, "memory": 1024, "pods": 2, "storage": 10});
    let res = put(quota.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["sharing"], "fifo", "a new namespace is fifo");

    let fair = serde_json::json!({"cpu": 1000, "memory": 1024, "pods": 2, "storage": 10, "sharing": "fair"});
    let res = put(fair).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["sharing"], "fair");

    let odd = serde_json::json!({"cpu": 1, "memory": 1, "pods": 1, "storage": 1, "sharing": "round-robin"});
    let res = put(odd).await.unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_body");
    assert!(body["message"].as_str().unwrap().contains("sharing"), "{body}");
    let (_, etl) = app.get_json("/api/v1/namespaces/etl").await;
    assert_eq!((etl["sharing"].clone(), etl["limit"]["cpu"].clone()), ("fair".into(), 1000.into()), "unchanged");

    let res = put(quota).await.unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["sharing"], "fair", "absent: kept");
    app.stop().await;
}

/// `PATCH` changes the settings it names and keeps the others, never creates a namespace, and a
/// bad value changes nothing.
#[tokio::test]
async fn a_patch_changes_only_what_it_names() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let patch = |name: &str, body: serde_json::Value| {
        app.http.patch(app.url(&format!("/api/v1/namespaces/{name}"))).json(&body).send()
    };
    let quota = serde_json::json!({"cpu": 1000, "memory": 1024, "pods": 2, "storage": 10});
    assert_eq!(app.http.put(app.url("/api/v1/namespaces/etl")).json(&quota).send().await.unwrap().status(), 200);

    let res = patch("etl", serde_json::json!({"sharing": "fair"})).await.unwrap();
    assert_eq!(res.status(), 200);
    let etl: serde_json::Value = res.json().await.unwrap();
    assert_eq!(etl["sharing"], "fair");
    assert_eq!(
        (etl["limit"]["cpu"].clone(), etl["limit"]["memory"].clone(), etl["limit"]["pods"].clone()),
        (1000.into(), 1024.into(), 2.into()),
        "the quota kept"
    );
    let res = patch("etl", serde_json::json!({"pods": 7})).await.unwrap();
    let etl: serde_json::Value = res.json().await.unwrap();
    assert_eq!((etl["limit"]["pods"].clone(), etl["limit"]["cpu"].clone()), (7.into(), 1000.into()));
    assert_eq!(etl["sharing"], "fair", "the sharing kept");

    let namespaces = namespace_count(&app).await;
    let res = patch("nope", serde_json::json!({"sharing": "fair"})).await.unwrap();
    assert_eq!(res.status(), 404, "PATCH never creates a namespace");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "not_found");
    assert_eq!(namespace_count(&app).await, namespaces);
    for bad in
        [serde_json::json!({"pods": -1}), serde_json::json!({"sharing": "lottery"}), serde_json::json!({"gpus": 1})]
    {
        let res = patch("etl", bad.clone()).await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body["error"] == "invalid_field" || body["error"] == "invalid_body", "{bad}: {body}");
    }
    let (_, etl) = app.get_json("/api/v1/namespaces/etl").await;
    assert_eq!((etl["limit"]["pods"].clone(), etl["sharing"].clone()), (7.into(), "fair".into()), "unchanged");
    app.stop().await;
}

/// An operator's "unlimited" quota (the largest integer) lets each request be that large too; the
/// sums of a namespace's queued and admitted requests then saturate instead of overflowing, so
/// the namespace views and the next submission answer (they were a 500, "bigint out of range").
#[tokio::test]
async fn requests_summing_past_the_largest_integer_saturate_instead_of_failing() {
    let app = TestApp::spawn(test_config(), API_ONLY).await;
    let max = i64::MAX;
    let quota = serde_json::json!({"cpu": max, "memory": max, "pods": max, "storage": max});
    let res = app.http.put(app.url("/api/v1/namespaces/big")).json(&quota).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let huge = (max / 2 + 1).to_string();
    for flow in ["priority", "priority", "legacy", "legacy"] {
        let fields = [
            ("user_id", "1"),
            ("service", "example"),
            ("namespace", "big"),
            ("flow", flow),
            ("cpu", huge.as_str()),
            ("memory", huge.as_str()),
            ("pods", "1"),
        ];
        let res = app.upload(&[("run.sh", b"echo hi\n")], &fields).await;
        assert_eq!(res.status(), 201, "{flow}: {}", res.text().await.unwrap());
    }
    let (status, body) = app.get_json("/api/v1/namespaces").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get_json("/api/v1/namespaces/big").await;
    assert_eq!(status, 200, "{body}");
    let sums: Vec<i64> = sqlx::query_scalar("select used_cpu from namespace_use where name = 'big'")
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    assert_eq!(sums, [max], "two admitted requests of more than half the largest integer: saturated");
    app.stop().await;
}
