//! The Grafana dashboard shows data: a real Prometheus scrapes a real berth cluster (an API, a
//! scheduler and a worker, each its own `berth` process, as in docker/compose.yaml) under a small
//! mixed load, and every PromQL expression of every panel of `grafana/dashboards/berth.json`,
//! evaluated through Prometheus's HTTP API, returns at least one series.
//!
//! Needs Debian's `prometheus` package (`/usr/bin/prometheus`; `.ci/run` installs it).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::wait_for;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// How often the test's Prometheus scrapes (the compose file's is 15 s).
const SCRAPE_INTERVAL: &str = "1s";
/// What Grafana's `$__rate_interval` stands for at that scrape interval (at least four scrapes).
const RATE_INTERVAL: &str = "10s";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Every PromQL expression of every panel (rows included), with its panel's title.
fn panel_expressions(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &[Value], out: &mut Vec<(String, String)>) {
        for p in panels {
            if let Some(inner) = p["panels"].as_array() {
                walk(inner, out);
            }
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((p["title"].as_str().unwrap_or("?").to_string(), expr.to_string()));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dashboard["panels"].as_array().expect("panels"), &mut out);
    out
}

/// `expr` with Grafana's variables replaced as Grafana would for this cluster: the rate interval
/// for the scrape interval, every namespace (`$namespace`'s "All" is `.*`), one dimension.
fn substitute(expr: &str) -> String {
    [
        ("$__rate_interval", RATE_INTERVAL),
        ("${__rate_interval}", RATE_INTERVAL),
        ("$__interval", "5s"),
        ("${__interval}", "5s"),
        ("$__range", "5m"),
        ("${namespace}", ".*"),
        ("$namespace", ".*"),
        ("${dimension}", "pods"),
        ("$dimension", "pods"),
    ]
    .iter()
    .fold(expr.to_string(), |e, (var, value)| e.replace(var, value))
}

/// A `berth` subcommand on the test's database, exporting metrics on `metrics_port`.
fn berth(args: &[&str], database_url: &str, scratch: &Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    // As root, a worker runs jobs as uids of its own range (test_config picks one per worker).
    let uids = common::test_config().worker.run_as_uids;
    if !uids.is_empty() {
        cmd.env("BERTH_WORKER_RUN_AS_UIDS", uids);
    }
    cmd.args(args)
        .env("DATABASE_URL", database_url)
        .env("BERTH_METRICS_ADDRESS", "127.0.0.1")
        .env("BERTH_SCHEDULER_TICK_MS", "100")
        .env("BERTH_WORKER_POLL_MS", "100")
        .env("BERTH_WORKER_HEARTBEAT_SECONDS", "1")
        .env("BERTH_WORKER_SCRATCH_DIR", scratch)
        .env("RUST_LOG", "error")
        // `berth api` needs an explicit auth setting (docs/security.md); this test is about metrics.
        .env("BERTH_AUTH_ENABLED", "false")
        .env_remove("BERTH_CONFIG")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start berth")
}

/// The Prometheus configuration: the three processes, labelled by role as in prometheus/prometheus.yml.
fn prometheus_config(api: u16, scheduler: u16, worker: u16) -> String {
    format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  evaluation_interval: {SCRAPE_INTERVAL}\n\
         scrape_configs:\n  - job_name: berth\n    static_configs:\n\
         \x20     - targets: [\"127.0.0.1:{api}\"]\n        labels: {{role: api}}\n\
         \x20     - targets: [\"127.0.0.1:{scheduler}\"]\n        labels: {{role: scheduler}}\n\
         \x20     - targets: [\"127.0.0.1:{worker}\"]\n        labels: {{role: worker}}\n"
    )
}

struct Cluster {
    api: String,
    http: reqwest::Client,
}

impl Cluster {
    async fn upload(&self, script: &str, fields: &[(&str, &str)]) -> i64 {
        let mut form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(script.as_bytes().to_vec()).file_name("run.sh"))
            .text("service", "example");
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let res = self.http.post(format!("{}/upload", self.api)).multipart(form).send().await.expect("upload");
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());
        res.json::<Value>().await.expect("json")["id"].as_i64().expect("id")
    }

    async fn run(&self, id: i64) -> Value {
        let res = self.http.get(format!("{}/api/v1/runs/{id}", self.api)).send().await.expect("run");
        res.json().await.expect("json")
    }

    async fn wait_state(&self, id: i64, states: &[&str]) -> String {
        wait_for(&format!("run {id} to be one of {states:?}"), Duration::from_secs(60), || async move {
            let state = self.run(id).await["state"].as_str().unwrap_or("").to_string();
            states.contains(&state.as_str()).then_some(state)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_expression_returns_series() {
    let dashboard: Value =
        serde_json::from_str(include_str!("../grafana/dashboards/berth.json")).expect("the dashboard is JSON");
    let expressions = panel_expressions(&dashboard);
    assert!(expressions.len() >= 33, "{expressions:?}");

    let database_url = common::fresh_database_url().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (api_port, m_api, m_scheduler, m_worker, prom_port) =
        (free_port(), free_port(), free_port(), free_port(), free_port());
    let (api_port_s, m_api_s, m_scheduler_s, m_worker_s) =
        (api_port.to_string(), m_api.to_string(), m_scheduler.to_string(), m_worker.to_string());
    let _api = berth(&["api", "--port", &api_port_s, "--metrics-port", &m_api_s], &database_url, dir.path());
    let _scheduler = berth(&["scheduler", "--metrics-port", &m_scheduler_s], &database_url, dir.path());
    let _worker = berth(&["worker", "--metrics-port", &m_worker_s, "--worker-pods", "8"], &database_url, dir.path());

    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, prometheus_config(m_api, m_scheduler, m_worker)).expect("write the config");
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn();
    let _prometheus = match prometheus {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("prometheus is not installed: `apt-get install prometheus` (.ci/run installs it in CI)")
        }
        Err(e) => panic!("cannot start prometheus: {e}"),
    };

    let cluster = Cluster { api: format!("http://127.0.0.1:{api_port}"), http: reqwest::Client::new() };
    let http = &cluster.http;
    wait_for("the API to answer", Duration::from_secs(60), || async {
        let res = http.get(format!("{}/health", cluster.api)).send().await.ok()?;
        res.status().is_success().then_some(())
    })
    .await;

    // A small mixed load: a namespace with a finite quota, runs at both priorities in two
    // namespaces, a failure, a cancellation, and at the end a run no worker has room for, which
    // blocks the head of its queue.
    let res = http
        .put(format!("{}/api/v1/namespaces/team", cluster.api))
        .json(&json!({"cpu": 64000, "memory": 65536, "pods": 4, "storage": 65536}))
        .send()
        .await
        .expect("create a namespace");
    assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
    let mut finished = Vec::new();
    for (ns, priority) in [("default", "normal"), ("default", "high"), ("team", "normal"), ("team", "high")] {
        for user in ["1", "2"] {
            let fields = [("user_id", user), ("namespace", ns), ("priority", priority)];
            finished.push(cluster.upload("echo hello\n", &fields).await);
        }
    }
    finished.push(cluster.upload("exit 3\n", &[("user_id", "3")]).await);
    let too_big = cluster.upload("echo big\n", &[("user_id", "4"), ("pods", "9")]).await;
    cluster.wait_state(too_big, &["queued"]).await;
    let res = http.post(format!("{}/api/v1/runs/{too_big}/cancel", cluster.api)).send().await.expect("cancel");
    assert_eq!(res.status(), 200);
    for id in &finished {
        cluster.wait_state(*id, &["succeeded", "failed"]).await;
    }
    let blocked = cluster.upload("echo big\n", &[("user_id", "5"), ("pods", "9")]).await;
    // A run that holds resources in team/high while the expressions are evaluated.
    let gate = dir.path().join("gate");
    let script = format!("while [ ! -f {} ]; do sleep 0.05; done\n", gate.display());
    let holding = cluster.upload(&script, &[("user_id", "6"), ("namespace", "team"), ("priority", "high")]).await;
    cluster.wait_state(holding, &["running"]).await;

    // Until every expression has series (Prometheus must have scraped the blocked head and a few
    // samples of every counter), or the deadline: then the failure names every empty expression.
    let query = |expr: String| async move {
        let url = format!("http://127.0.0.1:{prom_port}/api/v1/query");
        let res = http.get(url).query(&[("query", expr.as_str())]).send().await.ok()?;
        let body: Value = res.json().await.ok()?;
        Some(body)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let empty = loop {
        let mut empty = Vec::new();
        for (title, expr) in &expressions {
            let promql = substitute(expr);
            match query(promql.clone()).await {
                Some(body) if body["status"] == "success" => {
                    if body["data"]["result"].as_array().is_none_or(Vec::is_empty) {
                        empty.push(format!("{title}: {promql}"));
                    }
                }
                Some(body) => panic!("Prometheus refuses the expression of panel {title:?}: {promql}\n{body}"),
                None => empty.push(format!("{title}: {promql} (Prometheus did not answer)")),
            }
        }
        if empty.is_empty() || tokio::time::Instant::now() > deadline {
            break empty;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if !empty.is_empty() {
        let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        let targets = query("up".into()).await.unwrap_or_default();
        panic!(
            "{} of {} panel expressions return no series:\n  {}\nup: {targets}\nprometheus log:\n{log}",
            empty.len(),
            expressions.len(),
            empty.join("\n  ")
        );
    }
    assert_eq!(cluster.run(blocked).await["state"], "queued");
    // The usage gauge holds what the running run holds: one pod in team/high.
    let held = r#"berth_resources_in_use{namespace="team", priority="high", dimension="pods"}"#;
    wait_for("Prometheus to see the running run's pod", Duration::from_secs(30), || async {
        let body = query(held.to_string()).await?;
        (body["data"]["result"][0]["value"][1] == "1").then_some(())
    })
    .await;
    std::fs::write(&gate, b"").expect("open the gate");
    assert_eq!(cluster.wait_state(holding, &["succeeded", "failed"]).await, "succeeded");
}

#[test]
fn grafana_variables_are_substituted() {
    assert_eq!(
        substitute(r#"rate(x{namespace=~"$namespace", dimension="$dimension"}[$__rate_interval])"#),
        r#"rate(x{namespace=~".*", dimension="pods"}[10s])"#
    );
}
