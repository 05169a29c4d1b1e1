//! Tokens and permissions over real HTTP on a real Postgres (`auth.enabled` on).
//!
//! The auth matrix walks `api::ROUTES` itself: every route is called with no token, a bad one, a
//! revoked one, an expired one, one without the permission and one with it. For the routes that
//! check a permission (`Access::Job`, `JobOwner`, `Namespace`, `Admin`), "without the permission"
//! is a valid token of a user who was granted nothing: 403. For the list routes (`Access::Listed`)
//! any valid token may call them and the answer holds only what the caller may view: the same user
//! gets a 200, and the filtering tests below show that another tenant's jobs and runs are absent.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use berth::api::{self, Access, Route};
use berth::config::ServiceConfig;
use berth::service::Roles;
use chrono::Utc;
use common::{TestApp, test_config, wait_for};
use serde_json::{Value, json};

/// The routes the matrix knows how to call. A route added to `api::ROUTES` without a case here
/// fails `every_route_answers_401_403_and_2xx_as_its_access_says`, naming it.
const KNOWN: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/health"),
    ("POST", "/upload"),
    ("GET", "/download/{id}"),
    ("HEAD", "/download/{id}"),
    ("GET", "/download_partial/{id}"),
    ("POST", "/terminate/{id}"),
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{id}"),
    ("PUT", "/api/v1/jobs/{id}"),
    ("PATCH", "/api/v1/jobs/{id}"),
    ("DELETE", "/api/v1/jobs/{id}"),
    ("POST", "/api/v1/jobs/{id}/duplicate"),
    ("POST", "/api/v1/jobs/{id}/runs"),
    ("GET", "/api/v1/jobs/{id}/runs"),
    ("GET", "/api/v1/jobs/{id}/template"),
    ("GET", "/api/v1/jobs/{id}/events"),
    ("GET", "/api/v1/jobs/{id}/schedule"),
    ("PUT", "/api/v1/jobs/{id}/schedule"),
    ("PATCH", "/api/v1/jobs/{id}/schedule"),
    ("DELETE", "/api/v1/jobs/{id}/schedule"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{id}"),
    ("GET", "/api/v1/runs/{id}/logs"),
    ("GET", "/api/v1/runs/{id}/result"),
    ("POST", "/api/v1/runs/{id}/cancel"),
    ("POST", "/api/v1/runs/{id}/abort"),
    ("GET", "/api/v1/workflow-runs/{id}"),
    ("POST", "/api/v1/workflow-runs/{id}/cancel"),
    ("GET", "/api/v1/runs/{id}/why"),
    ("GET", "/api/v1/queue"),
    ("GET", "/api/v1/namespaces"),
    ("GET", "/api/v1/namespaces/{name}"),
    ("PUT", "/api/v1/namespaces/{name}"),
    ("PATCH", "/api/v1/namespaces/{name}"),
    ("GET", "/api/v1/workers"),
    ("GET", "/api/v1/overview"),
    ("GET", "/api/v1/jobs/{id}/permissions"),
    ("PUT", "/api/v1/jobs/{id}/permissions"),
    ("GET", "/api/v1/namespaces/{name}/permissions"),
    ("PUT", "/api/v1/namespaces/{name}/permissions"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{id}"),
    ("POST", "/api/v1/admin/migrate-to-legacy"),
    ("POST", "/api/v1/domains/{domain}/spark/jobs/migrate-from-prefect"),
];

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The tokens of the tests.
struct World {
    app: TestApp,
    /// An admin.
    admin: String,
    /// Owns the jobs the routes are called on; may create jobs in `default`.
    alice: String,
    /// Is granted the one permission a route needs; may create jobs in `default`.
    bob: String,
    /// A valid token granted nothing.
    carol: String,
    revoked: String,
    expired: String,
}

/// A request body.
enum Body {
    None,
    Json(Value),
    /// A `POST /upload` form with a run.sh (no user_id: the token's subject is the user).
    Upload(Vec<(&'static str, String)>),
}

async fn call(app: &TestApp, method: &str, path: &str, body: &Body, token: Option<&str>) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = app.http.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Upload(fields) => {
            let mut form = reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(b"echo hi\n".to_vec()).file_name("run.sh"))
                .text("service", "example");
            for (k, v) in fields {
                form = form.text(*k, v.clone());
            }
            req.multipart(form)
        }
    };
    let res = req.send().await.expect("request");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

async fn json_call(app: &TestApp, method: &str, path: &str, body: Value, token: &str) -> (u16, Value) {
    let (status, text) = call(app, method, path, &Body::Json(body), Some(token)).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let (status, text) = call(app, "GET", path, &Body::None, Some(token)).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn config() -> berth::config::Config {
    let mut c = test_config();
    c.worker.executor = berth::domain::ExecutorKind::Noop;
    // Runs of `idle` are never claimed: they stay cancellable.
    c.services.insert("idle".into(), ServiceConfig::default());
    c.worker.services = vec!["example".into()];
    c
}

async fn world(roles: Roles) -> World {
    let mut c = config();
    c.auth.enabled = Some(true);
    let app = TestApp::spawn(c, roles).await;
    let admin = app.token("root", |p| p.admin = true).await;
    let alice = app.token("alice", |_| {}).await;
    let bob = app.token("bob", |_| {}).await;
    let carol = app.token("carol", |_| {}).await;
    let revoked = app.token("revoked", |_| {}).await;
    let id = app.store.token_list().await.unwrap().into_iter().find(|t| t.subject == "revoked").unwrap().id;
    assert!(app.store.token_revoke(id).await.unwrap());
    let expired = app.token("expired", |p| p.expires_at = Some(Utc::now() - chrono::Duration::hours(1))).await;
    let grants = json!({"grants": [
        {"grantee_kind": "user", "grantee": "alice", "permissions": ["create"]},
        {"grantee_kind": "user", "grantee": "bob", "permissions": ["create"]}]});
    let (status, body) = json_call(&app, "PUT", "/api/v1/namespaces/default/permissions", grants, &admin).await;
    assert_eq!(status, 200, "{body}");
    let quota = json!({"cpu": 100000, "memory": 100000, "pods": 100, "storage": 100000});
    let (status, body) = json_call(&app, "PUT", "/api/v1/namespaces/team", quota, &admin).await;
    assert_eq!(status, 200, "{body}");
    World { app, admin, alice, bob, carol, revoked, expired }
}

fn job_body(name: &str, service: &str) -> Value {
    json!({"name": name, "service": service, "command": ["true"]})
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// A job of alice's on `service`; its id and name.
async fn alice_job(w: &World, service: &str) -> (i64, String) {
    let name = unique("job");
    let (status, job) = json_call(&w.app, "POST", "/api/v1/jobs", job_body(&name, service), &w.alice).await;
    assert_eq!(status, 201, "{job}");
    (job["id"].as_i64().unwrap(), name)
}

async fn grant(w: &World, job: i64, who: &str, permission: &str) {
    let body = json!({"grants": [{"grantee_kind": "user", "grantee": who, "permissions": [permission]}]});
    let (status, answer) = json_call(&w.app, "PUT", &format!("/api/v1/jobs/{job}/permissions"), body, &w.alice).await;
    assert_eq!(status, 200, "{answer}");
}

async fn start(w: &World, job: i64) -> i64 {
    let (status, run) = json_call(&w.app, "POST", &format!("/api/v1/jobs/{job}/runs"), json!({}), &w.alice).await;
    assert_eq!(status, 201, "{run}");
    run["id"].as_i64().unwrap()
}

/// The path (parameters filled), body and the token that holds the route's permission.
async fn case(w: &World, r: &Route) -> (String, Body, String) {
    let key = (r.method, r.path);
    if key == ("POST", "/api/v1/runs/{id}/abort") {
        // A streaming run of a service no worker serves: it stays queued, so it can be aborted.
        let body = json!({"name": unique("stream"), "service": "idle", "kind": "streaming", "command": ["true"]});
        let (status, job) = json_call(&w.app, "POST", "/api/v1/jobs", body, &w.alice).await;
        assert_eq!(status, 201, "{job}");
        let job = job["id"].as_i64().unwrap();
        let run = start(w, job).await;
        grant(w, job, "bob", "run").await;
        return (format!("/api/v1/runs/{run}/abort"), Body::None, w.bob.clone());
    }
    if r.path.starts_with("/api/v1/workflow-runs/{id}") {
        // A workflow of one step on a service no worker serves: its run stays unfinished.
        let (step, _) = alice_job(w, "idle").await;
        let body = json!({"name": unique("flow"), "kind": "workflow",
                          "steps": [{"name": "only", "job": step, "depends_on": []}]});
        let (status, job) = json_call(&w.app, "POST", "/api/v1/jobs", body, &w.alice).await;
        assert_eq!(status, 201, "{job}");
        let job = job["id"].as_i64().unwrap();
        let (status, started) =
            json_call(&w.app, "POST", &format!("/api/v1/jobs/{job}/runs"), json!({}), &w.alice).await;
        assert_eq!(status, 201, "{started}");
        let permission = if r.method == "POST" { "run" } else { "view" };
        grant(w, job, "bob", permission).await;
        let path = r.path.replace("{id}", &started["id"].as_i64().unwrap().to_string());
        return (path, Body::None, w.bob.clone());
    }
    let needs_job = r.path.starts_with("/api/v1/jobs/{id}");
    let needs_run = ["/api/v1/runs/{id}", "/download/{id}", "/download_partial/{id}", "/terminate/{id}"]
        .iter()
        .any(|p| r.path.starts_with(p));
    let cancel = r.path.ends_with("/cancel") || r.path.starts_with("/terminate");
    let (job, name) = if needs_job || needs_run {
        alice_job(w, if cancel { "idle" } else { "example" }).await
    } else {
        (0, String::new())
    };
    let mut path = r.path.replace("{name}", "team").replace("{domain}", "any");
    if needs_job {
        path = path.replace("{id}", &job.to_string());
    }
    if needs_run {
        let run = start(w, job).await;
        if !cancel {
            wait_for("the run to finish", Duration::from_secs(30), || async move {
                let (_, v) = get(&w.app, &format!("/api/v1/runs/{run}"), &w.alice).await;
                (v["state"] == "succeeded").then_some(())
            })
            .await;
        }
        path = path.replace("{id}", &run.to_string());
    }
    if r.path.starts_with("/api/v1/jobs/{id}/schedule") && r.method != "PUT" {
        let (status, s) =
            json_call(&w.app, "PUT", &format!("/api/v1/jobs/{job}/schedule"), json!({"cron": "0 3 * * *"}), &w.alice)
                .await;
        assert_eq!(status, 200, "{s}");
    }
    if r.path == "/api/v1/tokens/{id}" {
        w.app.token("doomed", |_| {}).await;
        let id = w.app.store.token_list().await.unwrap().into_iter().find(|t| t.subject == "doomed").unwrap().id;
        path = path.replace("{id}", &id.to_string());
    }
    let body = match key {
        ("POST", "/upload") => Body::Upload(vec![]),
        ("POST", "/api/v1/jobs") => Body::Json(job_body(&unique("new"), "example")),
        ("PUT", "/api/v1/jobs/{id}") => Body::Json(job_body(&name, "example")),
        ("PATCH", "/api/v1/jobs/{id}") => Body::Json(json!({"description": "patched"})),
        ("POST", "/api/v1/jobs/{id}/duplicate") | ("POST", "/api/v1/jobs/{id}/runs") => Body::Json(json!({})),
        ("PUT", "/api/v1/jobs/{id}/schedule") => Body::Json(json!({"cron": "0 3 * * *"})),
        ("PATCH", "/api/v1/jobs/{id}/schedule") => Body::Json(json!({"paused": true})),
        ("PUT", "/api/v1/namespaces/{name}") => {
            Body::Json(json!({"cpu": 100000, "memory": 100000, "pods": 100, "storage": 100000}))
        }
        ("PATCH", "/api/v1/namespaces/{name}") => Body::Json(json!({"sharing": "fifo"})),
        ("PUT", "/api/v1/namespaces/{name}/permissions") => Body::Json(json!({"grants": []})),
        ("PUT", "/api/v1/jobs/{id}/permissions") => {
            Body::Json(json!({"grants": [{"grantee_kind": "group", "grantee": "ml", "permissions": ["view"]}]}))
        }
        ("POST", "/api/v1/tokens") => Body::Json(json!({"subject": "new"})),
        _ => Body::None,
    };
    let with = match r.access {
        Access::Public | Access::Listed | Access::Namespace(_) => w.bob.clone(),
        Access::Job(p) => {
            grant(w, job, "bob", p.as_str()).await;
            w.bob.clone()
        }
        Access::JobOwner => w.alice.clone(),
        Access::Admin => w.admin.clone(),
    };
    (path, body, with)
}

#[tokio::test]
async fn every_route_answers_401_403_and_2xx_as_its_access_says() {
    let missing: Vec<String> = api::ROUTES
        .iter()
        .filter(|r| !KNOWN.contains(&(r.method, r.path)))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(missing.is_empty(), "routes without a case in the auth matrix (add one to KNOWN and case()): {missing:?}");
    let w = world(Roles::ALL).await;
    let bad = format!("{}{}", berth::auth::TOKEN_PREFIX, "0".repeat(64));
    for r in api::ROUTES {
        let route = format!("{} {} ({:?})", r.method, r.path, r.access);
        let (path, body, with) = case(&w, r).await;
        let public = r.access == Access::Public;
        for (what, token) in [
            ("no token", None),
            ("a bad token", Some(bad.as_str())),
            ("a revoked token", Some(w.revoked.as_str())),
            ("an expired token", Some(w.expired.as_str())),
        ] {
            let (status, text) = call(&w.app, r.method, &path, &body, token).await;
            if public {
                assert!((200..300).contains(&status), "{route} with {what}: {status} {text}");
                continue;
            }
            assert_eq!(status, 401, "{route} with {what}: {text}");
            if r.method != "HEAD" {
                let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{route}: not JSON: {text}"));
                assert_eq!(v["error"], "unauthorized", "{route}: {text}");
            }
        }
        let (status, text) = call(&w.app, r.method, &path, &body, Some(&w.carol)).await;
        match r.access {
            Access::Public | Access::Listed => {
                assert!((200..300).contains(&status), "{route} with a token granted nothing: {status} {text}")
            }
            _ => {
                assert_eq!(status, 403, "{route} with a token granted nothing: {text}");
                if r.method != "HEAD" {
                    assert!(text.contains("\"forbidden\""), "{route}: {text}");
                }
            }
        }
        let (status, text) = call(&w.app, r.method, &path, &body, Some(&with)).await;
        assert!((200..300).contains(&status), "{route} with the permission: {status} {text}");
    }
    w.app.stop().await;
}

/// Ids of the jobs in a job page, or of the runs in a run page.
fn ids(page: &Value, key: &str) -> Vec<i64> {
    page[key].as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn lists_and_the_queue_show_only_what_the_caller_may_view() {
    // No scheduler: the runs stay queued, in the queue view.
    let w = world(Roles { api: true, scheduler: false, worker: false }).await;
    let grants = json!({"grants": [{"grantee_kind": "group", "grantee": "*", "permissions": ["create"]}]});
    let (status, _) = json_call(&w.app, "PUT", "/api/v1/namespaces/default/permissions", grants, &w.admin).await;
    assert_eq!(status, 200);
    let (a, _) = alice_job(&w, "example").await;
    let a_run = start(&w, a).await;
    let (status, c) = json_call(&w.app, "POST", "/api/v1/jobs", job_body("carols", "example"), &w.carol).await;
    assert_eq!(status, 201, "{c}");
    let c = c["id"].as_i64().unwrap();
    let (status, c_run) = json_call(&w.app, "POST", &format!("/api/v1/jobs/{c}/runs"), json!({}), &w.carol).await;
    assert_eq!(status, 201);
    let c_run = c_run["id"].as_i64().unwrap();

    let (_, page) = get(&w.app, "/api/v1/jobs", &w.carol).await;
    assert_eq!(ids(&page, "jobs"), [c], "carol sees her job only");
    let (_, page) = get(&w.app, "/api/v1/runs", &w.carol).await;
    assert_eq!(ids(&page, "runs"), [c_run], "carol sees her run only");
    let (_, page) = get(&w.app, &format!("/api/v1/runs?job={a}"), &w.carol).await;
    assert!(ids(&page, "runs").is_empty(), "a filter does not open another tenant's runs");
    let (_, page) = get(&w.app, "/api/v1/jobs", &w.admin).await;
    assert_eq!(ids(&page, "jobs"), [c, a], "an admin sees everything");
    let (status, _) = get(&w.app, &format!("/api/v1/runs/{a_run}"), &w.carol).await;
    assert_eq!(status, 403);

    let (_, queue) = get(&w.app, "/api/v1/queue", &w.carol).await;
    let queue = queue.as_array().unwrap();
    assert_eq!(queue.len(), 2, "both runs keep their place: {queue:?}");
    let alices = queue.iter().find(|q| q["id"] == a_run).unwrap();
    assert_eq!(alices["hidden"], true);
    assert_eq!(alices["user_id"], "", "another tenant's run is a position without names");
    let carols = queue.iter().find(|q| q["id"] == c_run).unwrap();
    assert_eq!((carols["hidden"].clone(), carols["user_id"].clone()), (json!(false), json!("carol")));

    // A grant to a group, and the namespace's view, open alice's job.
    let ml = w.app.token("dave", |p| p.groups = vec!["ml".into()]).await;
    let (_, page) = get(&w.app, "/api/v1/jobs", &ml).await;
    assert!(ids(&page, "jobs").is_empty());
    let body = json!({"grants": [{"grantee_kind": "group", "grantee": "ml", "permissions": ["run"]}]});
    let (status, _) = json_call(&w.app, "PUT", &format!("/api/v1/jobs/{a}/permissions"), body, &w.alice).await;
    assert_eq!(status, 200);
    let (_, page) = get(&w.app, "/api/v1/jobs", &ml).await;
    assert_eq!(ids(&page, "jobs"), [a], "run includes view");
    let (_, page) = get(&w.app, "/api/v1/runs", &ml).await;
    assert_eq!(ids(&page, "runs"), [a_run], "a run inherits its job's permissions");
    let body = json!({"grants": [{"grantee_kind": "user", "grantee": "erin", "permissions": ["view"]}]});
    let (status, _) = json_call(&w.app, "PUT", "/api/v1/namespaces/default/permissions", body, &w.admin).await;
    assert_eq!(status, 200);
    let erin = w.app.token("erin", |_| {}).await;
    let (_, page) = get(&w.app, "/api/v1/jobs", &erin).await;
    assert_eq!(ids(&page, "jobs"), [c, a], "the namespace's view shows all its jobs");
    // Only the owner (or an admin) grants.
    let (status, _) =
        json_call(&w.app, "PUT", &format!("/api/v1/jobs/{a}/permissions"), json!({"grants": []}), &ml).await;
    assert_eq!(status, 403);
    w.app.stop().await;
}

#[tokio::test]
async fn the_seed_user_id_is_the_tokens_subject_unless_a_service_account_acts_for_another() {
    let w = world(Roles { api: true, scheduler: false, worker: false }).await;
    let grants = json!({"grants": [{"grantee_kind": "group", "grantee": "*", "permissions": ["create"]}]});
    json_call(&w.app, "PUT", "/api/v1/namespaces/default/permissions", grants, &w.admin).await;
    let seven = w.app.token("7", |_| {}).await;
    let portal = w
        .app
        .token("portal", |p| {
            p.kind = berth::auth::TokenKind::Service;
            p.may_act_for_others = true;
        })
        .await;
    let upload = |fields: Vec<(&'static str, String)>| Body::Upload(fields);

    let (status, text) = call(&w.app, "POST", "/upload", &upload(vec![]), Some(&seven)).await;
    assert_eq!(status, 201, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["user_id"], 7, "the subject is the user");
    let (status, text) = call(&w.app, "POST", "/upload", &upload(vec![("user_id", "7".into())]), Some(&seven)).await;
    assert_eq!(status, 201, "{text}");
    let (status, text) = call(&w.app, "POST", "/upload", &upload(vec![("user_id", "8".into())]), Some(&seven)).await;
    assert_eq!(status, 403, "another user is refused: {text}");
    let (status, text) = call(&w.app, "POST", "/upload", &upload(vec![("user_id", "8".into())]), Some(&w.admin)).await;
    assert_eq!(status, 403, "even an admin's token is not a service account: {text}");

    let (status, text) = call(&w.app, "POST", "/upload", &upload(vec![("user_id", "42".into())]), Some(&portal)).await;
    assert_eq!(status, 201, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"].as_i64().unwrap();
    let (_, run) = get(&w.app, &format!("/api/v1/runs/{id}"), &w.admin).await;
    assert_eq!(run["user_id"], "42", "recorded as that user");
    assert_eq!(run["events"][0]["actor"], "portal", "with the service account in its events: {run}");
    let user42 = w.app.token("42", |_| {}).await;
    let (status, _) = get(&w.app, &format!("/api/v1/runs/{id}"), &user42).await;
    assert_eq!(status, 200, "the user owns the run submitted for them");

    // The same rule for stored jobs and their starts.
    let mut body = job_body("for-eight", "example");
    body["user"] = json!("8");
    let (status, _) = json_call(&w.app, "POST", "/api/v1/jobs", body.clone(), &seven).await;
    assert_eq!(status, 403);
    let (status, job) = json_call(&w.app, "POST", "/api/v1/jobs", body, &portal).await;
    assert_eq!(status, 201, "{job}");
    let job = job["id"].as_i64().unwrap();
    let (status, run) =
        json_call(&w.app, "POST", &format!("/api/v1/jobs/{job}/runs"), json!({"triggered_by": "42"}), &portal).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["triggered_by"], "42");
    assert_eq!(run["events"][0]["actor"], "portal");
    let (status, _) =
        json_call(&w.app, "POST", &format!("/api/v1/jobs/{job}/runs"), json!({"triggered_by": "x"}), &w.admin).await;
    assert_eq!(status, 403, "a user token names no one else");
    let (_, events) = get(&w.app, &format!("/api/v1/jobs/{job}/events"), &w.admin).await;
    assert_eq!(events[0]["actor"], "portal", "job events record the acting subject");
    w.app.stop().await;
}

#[tokio::test]
async fn tokens_are_made_once_revoked_at_once_and_record_their_use() {
    let w = world(Roles { api: true, scheduler: false, worker: false }).await;
    let (status, made) = json_call(&w.app, "POST", "/api/v1/tokens", json!({"subject": "frank"}), &w.admin).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("berth_") && secret.len() == 70);
    let (status, _) = get(&w.app, "/api/v1/jobs", &secret).await;
    assert_eq!(status, 200);
    let (_, list) = get(&w.app, "/api/v1/tokens", &w.admin).await;
    let frank = list.as_array().unwrap().iter().find(|t| t["subject"] == "frank").unwrap().clone();
    assert!(frank["last_used_at"].is_string(), "use is recorded: {frank}");
    assert!(!list.to_string().contains(&secret), "a list never shows a secret");
    let stored: i64 = sqlx::query_scalar("select count(*) from tokens where hash = $1")
        .bind(berth::auth::token_hash(&secret))
        .fetch_one(w.app.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, 1, "stored as its hash");
    let (status, _) =
        call(&w.app, "DELETE", &format!("/api/v1/tokens/{}", frank["id"]), &Body::None, Some(&w.admin)).await;
    assert_eq!(status, 204);
    let (status, _) = get(&w.app, "/api/v1/jobs", &secret).await;
    assert_eq!(status, 401, "revoked at once");
    let (status, _) = json_call(&w.app, "POST", "/api/v1/tokens", json!({"subject": "x"}), &w.alice).await;
    assert_eq!(status, 403, "only an admin makes tokens");
    let (status, text) = call(&w.app, "GET", "/api/v1/jobs", &Body::None, Some("not-a-token")).await;
    assert_eq!(status, 401, "{text}");
    w.app.stop().await;
}

#[tokio::test]
async fn every_route_but_health_documents_401_and_403() {
    let doc = serde_json::to_value(<api::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    for r in api::ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        let has = |s: &str| op["responses"].get(s).is_some();
        if r.access == Access::Public {
            assert!(!has("401"), "{} {}", r.method, r.path);
        } else {
            assert!(has("401") && has("403"), "{} {} documents 401 and 403", r.method, r.path);
        }
    }
}

#[tokio::test]
async fn berth_dev_keeps_its_admin_token_readable_only_by_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let store = common::fresh_store().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, new) = berth::dev::admin_token(&store, dir.path()).await.unwrap();
    assert!(new);
    let path = dir.path().join(berth::dev::ADMIN_TOKEN_FILE);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let (again, new) = berth::dev::admin_token(&store, dir.path()).await.unwrap();
    assert_eq!((again.as_str(), new), (first.as_str(), false), "made on the first start only");
    let caller = store.token_authenticate(&berth::auth::token_hash(&first)).await.unwrap().unwrap();
    assert!(caller.admin);
}

#[test]
fn berth_api_refuses_to_start_without_an_explicit_auth_setting() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["api", "--port", "0", "--metrics-port", "0"])
        .env("DATABASE_URL", "postgres://nowhere.invalid/berth")
        .env_remove("BERTH_AUTH_ENABLED")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.enabled") && err.contains("BERTH_AUTH_ENABLED=true"), "{err}");
}

#[tokio::test]
async fn a_workflow_needs_run_on_every_step_and_a_copy_runs_as_its_maker() {
    let w = world(Roles { api: true, scheduler: false, worker: false }).await;
    let (alices, _) = alice_job(&w, "example").await;
    let bobs = {
        let (status, job) = json_call(&w.app, "POST", "/api/v1/jobs", job_body(&unique("b"), "example"), &w.bob).await;
        assert_eq!(status, 201, "{job}");
        job["id"].as_i64().unwrap()
    };
    let flow = |name: String| {
        json!({"name": name, "kind": "workflow", "steps": [
            {"name": "theirs", "job": alices, "depends_on": []},
            {"name": "mine", "job": bobs, "depends_on": ["theirs"]}]})
    };
    // Bob cannot run alice's job inside a workflow of his (it would run as alice and hand him her
    // results under parents/).
    let (status, body) = json_call(&w.app, "POST", "/api/v1/jobs", flow(unique("steal")), &w.bob).await;
    assert_eq!(status, 403, "{body}");
    grant(&w, alices, "bob", "run").await;
    let (status, body) = json_call(&w.app, "POST", "/api/v1/jobs", flow(unique("shared")), &w.bob).await;
    assert_eq!(status, 201, "with run on every step: {body}");

    // A copy of alice's job made by bob (who may view it) is bob's and runs as bob.
    grant(&w, alices, "bob", "view").await;
    let (status, copy) =
        json_call(&w.app, "POST", &format!("/api/v1/jobs/{alices}/duplicate"), json!({}), &w.bob).await;
    assert_eq!(status, 201, "{copy}");
    assert_eq!(copy["user"], "bob", "{copy}");
    let (status, mine) =
        json_call(&w.app, "POST", &format!("/api/v1/jobs/{alices}/duplicate"), json!({}), &w.alice).await;
    assert_eq!(status, 201, "{mine}");
    assert_eq!(mine["user"], "alice", "the owner's own copy keeps her user");
}

/// Viewing a workflow is no leave to run its steps' jobs: neither a copy of it (which would be
/// the caller's to schedule) nor a schedule set on one's own workflow over a job one may no
/// longer run. Pausing needs no more than `update`.
#[tokio::test]
async fn viewing_a_workflow_is_no_leave_to_run_its_steps_by_a_copy_or_a_schedule() {
    let w = world(Roles { api: true, scheduler: false, worker: false }).await;
    let grants = json!({"grants": [
        {"grantee_kind": "user", "grantee": "alice", "permissions": ["create"]},
        {"grantee_kind": "user", "grantee": "bob", "permissions": ["create"]},
        {"grantee_kind": "user", "grantee": "carol", "permissions": ["create"]}]});
    let (status, body) = json_call(&w.app, "PUT", "/api/v1/namespaces/default/permissions", grants, &w.admin).await;
    assert_eq!(status, 200, "{body}");
    let (alices, _) = alice_job(&w, "example").await;
    grant(&w, alices, "bob", "run").await;
    let body = json!({"name": unique("flow"), "kind": "workflow", "steps": [
        {"name": "theirs", "job": alices, "depends_on": []}]});
    let (status, flow) = json_call(&w.app, "POST", "/api/v1/jobs", body, &w.bob).await;
    assert_eq!(status, 201, "{flow}");
    let flow = flow["id"].as_i64().unwrap();
    let view = json!({"grants": [{"grantee_kind": "user", "grantee": "carol", "permissions": ["view"]}]});
    let (status, body) = json_call(&w.app, "PUT", &format!("/api/v1/jobs/{flow}/permissions"), view, &w.bob).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) =
        json_call(&w.app, "POST", &format!("/api/v1/jobs/{flow}/duplicate"), json!({}), &w.carol).await;
    assert_eq!(status, 403, "carol may view the workflow, not run alice's job: {body}");

    let schedule = format!("/api/v1/jobs/{flow}/schedule");
    let (status, body) = json_call(&w.app, "PUT", &schedule, json!({"cron": "* * * * *"}), &w.bob).await;
    assert_eq!(status, 200, "bob may run every step: {body}");
    grant(&w, alices, "bob", "view").await;
    let (status, body) =
        json_call(&w.app, "PATCH", &schedule, json!({"paused": false, "cron": "*/5 * * * *"}), &w.bob).await;
    assert_eq!(status, 403, "alice took back bob's run: {body}");
    let (status, body) = json_call(&w.app, "PATCH", &schedule, json!({"paused": true}), &w.bob).await;
    assert_eq!(status, 200, "pausing needs update only: {body}");
    let (status, body) = json_call(&w.app, "PUT", &schedule, json!({"cron": "* * * * *"}), &w.bob).await;
    assert_eq!(status, 403, "{body}");
}

/// A caller who may not view a job learns nothing of it from its permissions route: not its owner.
#[tokio::test]
async fn granting_on_a_job_one_cannot_view_names_no_owner() {
    let w = world(Roles { api: true, scheduler: false, worker: false }).await;
    let (alices, _) = alice_job(&w, "example").await;
    let body = json!({"grants": []});
    let (status, text) =
        call(&w.app, "PUT", &format!("/api/v1/jobs/{alices}/permissions"), &Body::Json(body.clone()), Some(&w.carol))
            .await;
    assert_eq!(status, 403, "{text}");
    assert!(!text.contains("alice"), "{text}");
    grant(&w, alices, "carol", "view").await;
    let (status, text) =
        call(&w.app, "PUT", &format!("/api/v1/jobs/{alices}/permissions"), &Body::Json(body), Some(&w.carol)).await;
    assert_eq!(status, 403, "a viewer still may not grant: {text}");
}

/// A run id refused names the run, not its job: the queue shows other tenants' run ids (as
/// positions), and the refusal must not tell which job each belongs to.
#[tokio::test]
async fn a_run_refused_names_no_job() {
    let w = world(Roles { api: true, scheduler: false, worker: false }).await;
    let (alices, _) = alice_job(&w, "example").await;
    let run = start(&w, alices).await;
    for path in [format!("/api/v1/runs/{run}"), format!("/api/v1/runs/{run}/logs"), format!("/download/{run}")] {
        let (status, text) = call(&w.app, "GET", &path, &Body::None, Some(&w.carol)).await;
        assert_eq!(status, 403, "{path}: {text}");
        assert!(!text.contains(&format!("job {alices}")), "{path}: {text}");
        assert!(text.contains(&format!("run {run}")), "{path}: {text}");
    }
}

/// A request with `token`'s bearer.
async fn as_token(app: &TestApp, method: &str, path: &str, body: Value, token: &str) -> (u16, Value) {
    let req = app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(token).json(&body);
    let res = req.send().await.expect("request");
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// Reads `res` until its stream ends (true) or `within` passes (false).
async fn ends_within(res: &mut reqwest::Response, within: Duration) -> bool {
    tokio::time::timeout(within, async { while let Ok(Some(_)) = res.chunk().await {} }).await.is_ok()
}

/// In this file, not beside the other log follower test in `streaming.rs`: `cargo test` runs a file's
/// tests at once in one process, and that test counts the process's followers.
#[tokio::test]
async fn a_follower_stops_when_its_token_is_revoked_or_its_view_taken_back() {
    let app = TestApp::spawn_with_auth(test_config()).await;
    let admin = app.token("root", |p| p.admin = true).await;
    let owner = app.token("olga", |_| {}).await;
    let reader = app.token("rita", |_| {}).await;
    let create = json!({"grants": [{"grantee_kind": "user", "grantee": "olga", "permissions": ["create"]}]});
    assert_eq!(as_token(&app, "PUT", "/api/v1/namespaces/default/permissions", create, &admin).await.0, 200);
    let body = json!({"name": "tail", "service": "example", "kind": "streaming",
                      "command": ["sh", "-c", "echo up; exec sleep 300"]});
    let (status, job) = as_token(&app, "POST", "/api/v1/jobs", body, &owner).await;
    assert_eq!(status, 201, "{job}");
    let job = job["id"].as_i64().unwrap();
    let view = json!({"grants": [{"grantee_kind": "user", "grantee": "rita", "permissions": ["view"]}]});
    assert_eq!(as_token(&app, "PUT", &format!("/api/v1/jobs/{job}/permissions"), view, &owner).await.0, 200);
    let (status, run) = as_token(&app, "POST", &format!("/api/v1/jobs/{job}/runs"), json!({}), &owner).await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_i64().unwrap();

    let follow =
        |token: &str| app.http.get(app.url(&format!("/api/v1/runs/{id}/logs?follow=true"))).bearer_auth(token).send();
    let mut by_owner = follow(&owner).await.unwrap();
    let mut by_reader = follow(&reader).await.unwrap();
    assert_eq!((by_owner.status().as_u16(), by_reader.status().as_u16()), (200, 200));
    for res in [&mut by_owner, &mut by_reader] {
        let first = res.chunk().await.unwrap().unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&first), "up\n");
    }
    assert!(
        !ends_within(&mut by_reader, 2 * berth::api::follow::FOLLOW_RECHECK).await,
        "a reader still allowed reads on"
    );

    // The reader's view taken back: its stream ends, the owner's goes on.
    let none = json!({"grants": []});
    assert_eq!(as_token(&app, "PUT", &format!("/api/v1/jobs/{job}/permissions"), none, &owner).await.0, 200);
    assert!(ends_within(&mut by_reader, Duration::from_secs(30)).await, "the view taken back ends the stream");
    assert!(!ends_within(&mut by_owner, 2 * berth::api::follow::FOLLOW_RECHECK).await, "the owner still reads");

    // The owner's token revoked: its stream ends too, while the run goes on.
    let olga = app.store.token_list().await.unwrap().into_iter().find(|t| t.subject == "olga").unwrap().id;
    assert!(app.store.token_revoke(olga).await.unwrap());
    assert!(ends_within(&mut by_owner, Duration::from_secs(30)).await, "a revoked token ends the stream");
    let (_, run) = as_token(&app, "GET", &format!("/api/v1/runs/{id}"), json!({}), &admin).await;
    assert_eq!(run["state"], "running", "only the streams ended");
    assert_eq!(as_token(&app, "POST", &format!("/api/v1/runs/{id}/abort"), json!({}), &admin).await.0, 200);
    app.stop().await;
}
