//! The live exporter passes `promtool check metrics` (a test binary of its own: the recorder is
//! process-global). Every service runs in this process on real sockets, the exporter listens on a
//! free loopback port, and the scrape is taken after two runs went through a worker, another waits
//! blocked at the head of its queue, one was cancelled and a client sent an unknown method, so
//! counters, gauges and histograms with labels all exist.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestApp, gate_path, test_config, wait_for};

/// Runs `promtool check metrics` on `text`: its complaints, or `None` when it accepts it.
fn promtool_check(text: &str) -> Option<String> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed: `apt-get install prometheus` (Debian's package ships it; .ci/run installs it in CI)"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (!out.status.success() || !said.trim().is_empty()).then(|| format!("{}: {said}", out.status))
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The value of `series` (its name and labels exactly as rendered), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_passes_promtool_check_metrics() {
    let mut config = test_config();
    config.metrics.address = "127.0.0.1".parse().expect("loopback");
    config.metrics.port = free_port();
    berth::metrics::install(config.metrics.listen()).expect("exporter on loopback");
    let scrape_url = format!("http://{}/metrics", config.metrics.listen());
    let app = TestApp::spawn_all(config).await;

    // Two runs through the worker in two claims, the second while the first still runs (the
    // claimed counter once added the attempts in flight), one of them at high priority.
    let gate = gate_path("first");
    let script = format!("while [ ! -f {} ]; do sleep 0.02; done\n", gate.display());
    let res = app
        .upload(&[("run.sh", script.as_bytes())], &[("user_id", "1"), ("service", "example"), ("priority", "high")])
        .await;
    assert_eq!(res.status(), 201);
    let first = res.json::<serde_json::Value>().await.expect("json")["id"].as_i64().expect("id");
    wait_for("the first run to start", Duration::from_secs(30), || async {
        (app.state(first).await == "running").then_some(())
    })
    .await;
    let second = app.submit_script("echo hi\n", "1").await;
    wait_for("the second run to start", Duration::from_secs(30), || async {
        matches!(app.state(second).await.as_str(), "running" | "succeeded").then_some(())
    })
    .await;
    std::fs::write(&gate, b"").expect("open the gate");
    for id in [first, second] {
        assert_eq!(app.wait_terminal(id).await, "succeeded");
    }
    // A run no worker has room for: it blocks the head of its queue with a pods shortfall.
    let res =
        app.upload(&[("run.sh", b"echo big\n")], &[("user_id", "2"), ("service", "example"), ("pods", "9")]).await;
    assert_eq!(res.status(), 201);
    let blocked: serde_json::Value = res.json().await.expect("json");
    let blocked = blocked["id"].as_i64().expect("id");
    // A cancelled run (as big: it is never claimed), an unmatched route and a method no one knows.
    let res =
        app.upload(&[("run.sh", b"echo big\n")], &[("user_id", "3"), ("service", "example"), ("pods", "9")]).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.expect("json")["id"].as_i64().expect("id");
    let res = app.http.post(app.url(&format!("/api/v1/runs/{id}/cancel"))).send().await.expect("cancel");
    assert_eq!(res.status(), 200);
    let _ = app.http.get(app.url("/no/such/route")).send().await.expect("unmatched");
    let brew = reqwest::Method::from_bytes(b"BREW").expect("method");
    let _ = app.http.request(brew, app.url("/health")).send().await.expect("odd method");

    let client = reqwest::Client::new();
    let text = wait_for("the leader's gauges for the blocked run", Duration::from_secs(30), || async {
        let text = client.get(&scrape_url).send().await.ok()?.text().await.ok()?;
        let shortfall = r#"berth_head_shortfall{namespace="default",priority="normal",dimension="pods"}"#;
        (value(&text, shortfall) == Some(1.0)
            && text.contains("berth_runs_finished_total")
            && text.contains("berth_runs_cancelled_total"))
        .then_some(text)
    })
    .await;

    if let Some(complaints) = promtool_check(&text) {
        panic!("promtool check metrics rejects the exporter: {complaints}\n{text}");
    }
    // Every series is a declared metric with its HELP text.
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let base = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(
            berth::metrics::METRICS.iter().any(|m| m.name == name || m.name == base),
            "{name} is exported but not declared in metrics::METRICS"
        );
        assert!(text.contains(&format!("# HELP {name} ")) || text.contains(&format!("# HELP {base} ")), "{name}");
    }
    assert!(text.contains("# HELP berth_worker_capacity "), "{text}");
    // The claimed counter counts claims: two runs were claimed (two attempts).
    let attempts: i64 =
        sqlx::query_scalar("select count(*) from attempts_seen").fetch_one(app.store.pool()).await.expect("attempts");
    assert_eq!(attempts, 2);
    assert_eq!(value(&text, "berth_runs_claimed_total"), Some(2.0), "{text}");
    assert!(text.contains(r#"method="other",route="/health""#), "an unknown method reads other:\n{text}");
    assert!(!text.contains("BREW"), "{text}");

    let res = app.http.post(app.url(&format!("/api/v1/runs/{blocked}/cancel"))).send().await.expect("cancel");
    assert_eq!(res.status(), 200);
    app.stop().await;
}
