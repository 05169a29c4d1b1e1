//! The command-line client, as a user runs it: the real `berth` binary against the real services
//! (API, scheduler, worker) on a real socket. `--json` output must be the API's own JSON; errors
//! are one line on stderr with a non-zero exit; `submit --wait` exits with the job's exit code.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{TestApp, test_config, wait_for, zip_names};
use serde_json::Value;

/// Runs `berth ARGS` against `url` (through `BERTH_URL`, as a user's shell would set it).
async fn berth(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_URL", url)
        .env_remove("BERTH_TOKEN")
        .env_remove("BERTH_CONFIG")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the berth binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `berth ARGS --json`, which must succeed, as JSON.
async fn berth_json(url: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let o = berth(url, &all).await;
    assert!(o.status.success(), "berth {args:?} failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("berth {args:?} --json: not JSON ({e}): {}", stdout(&o)))
}

/// Writes `run.sh` with `script` in a fresh folder; returns the folder.
fn job_dir(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("run.sh"), script).expect("write run.sh");
    dir
}

fn run_sh(dir: &Path) -> String {
    dir.join("run.sh").display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_wait_exits_with_the_job_s_exit_code_and_logs_follow_reads_it_all() {
    let app = TestApp::spawn_all(test_config()).await;

    let ok = job_dir("echo hello from berth\necho to-stderr >&2\necho result > out.txt\n");
    let o = berth(&app.base, &["submit", &run_sh(ok.path()), "--service", "example", "--wait", "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let run: Value = serde_json::from_slice(&o.stdout).expect("the final run as JSON");
    assert_eq!(run["state"], "succeeded");
    assert!(stderr(&o).contains(&format!("run {} succeeded (exit 0)", run["id"])), "{}", stderr(&o));
    let id = run["id"].as_i64().expect("id").to_string();

    // The logs: stdout to stdout, stderr to stderr; --follow returns once the run has ended.
    let o = berth(&app.base, &["logs", &id]).await;
    assert!(o.status.success());
    assert_eq!(stdout(&o), "hello from berth\n");
    assert_eq!(stderr(&o), "to-stderr\n");

    // A failing job: --wait exits with its exit code, and --follow streams while it runs.
    let failing = job_dir("for i in 1 2 3; do echo line $i; sleep 0.2; done\nexit 7\n");
    let o = berth(&app.base, &["submit", &run_sh(failing.path()), "--service", "example", "--json"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let queued: Value = serde_json::from_slice(&o.stdout).expect("json");
    let failing_id = queued["id"].as_i64().expect("id").to_string();
    let o = berth(&app.base, &["logs", &failing_id, "--follow"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "line 1\nline 2\nline 3\n");
    assert_eq!(app.state(failing_id.parse().expect("id")).await, "failed", "--follow returned before the end");

    let o = berth(&app.base, &["submit", &run_sh(failing.path()), "--service", "example", "--wait"]).await;
    assert_eq!(o.status.code(), Some(7), "the job's exit code; stderr: {}", stderr(&o));
    assert!(stderr(&o).contains("failed (exit 7)"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "without --json, --wait prints to stderr only: {}", stdout(&o));

    // download: the result zip, byte for byte the API's.
    let out = tempfile::tempdir().expect("temp dir");
    let path = out.path().join("result.zip");
    let o = berth(&app.base, &["download", &id, "-o", &path.display().to_string()]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let written = std::fs::read(&path).expect("the zip was written");
    let api = app.http.get(app.url(&format!("/api/v1/runs/{id}/result"))).send().await.expect("result");
    assert_eq!(written, api.bytes().await.expect("bytes").to_vec());
    assert!(zip_names(&written).iter().any(|n| n == "out.txt"), "{:?}", zip_names(&written));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_the_api_s_and_cancel_cancels() {
    let app = TestApp::spawn_all(test_config()).await;
    let done = app.submit_script("echo done\n", "1").await;
    assert_eq!(app.wait_terminal(done).await, "succeeded");
    // Nine pods: no worker (8) has room, so it blocks the head of its queue.
    let res =
        app.upload(&[("run.sh", b"echo big\n")], &[("user_id", "2"), ("service", "example"), ("pods", "9")]).await;
    assert_eq!(res.status(), 201);
    let blocked = res.json::<Value>().await.expect("json")["id"].as_i64().expect("id");
    let b = blocked.to_string();
    wait_for("the block record", Duration::from_secs(30), || async {
        let (_, why) = app.get_json(&format!("/api/v1/runs/{blocked}/why")).await;
        why["record"]["position"].as_u64().map(|_| ())
    })
    .await;

    let status = berth_json(&app.base, &["status", &b]).await;
    let (_, api) = app.get_json(&format!("/api/v1/runs/{blocked}")).await;
    for key in ["id", "job_id", "state", "service", "namespace", "priority", "enqueued_at", "pods", "events"] {
        assert_eq!(status[key], api[key], "status --json: {key}");
    }

    let runs = berth_json(&app.base, &["runs"]).await;
    let (_, api) = app.get_json("/api/v1/runs").await;
    assert_eq!(ids(&runs["runs"]), ids(&api["runs"]));
    assert_eq!(ids(&runs["runs"]), [blocked, done]);
    let filtered = berth_json(&app.base, &["runs", "--state", "succeeded", "--limit", "10"]).await;
    assert_eq!(ids(&filtered["runs"]), [done]);

    let jobs = berth_json(&app.base, &["jobs", "--one-off"]).await;
    let (_, api) = app.get_json("/api/v1/jobs?one_off=true").await;
    assert_eq!(ids(&jobs["jobs"]), ids(&api["jobs"]));
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(2), "{jobs}");
    let stored = berth_json(&app.base, &["jobs"]).await;
    assert_eq!(stored["jobs"], serde_json::json!([]), "uploads' one-off jobs are listed on request only");

    let queue = berth_json(&app.base, &["queue"]).await;
    let (_, api) = app.get_json("/api/v1/queue").await;
    assert_eq!(ids(&queue), ids(&api));
    assert_eq!(ids(&queue), [blocked]);

    let why = berth_json(&app.base, &["why", &b]).await;
    let (_, api) = app.get_json(&format!("/api/v1/runs/{blocked}/why")).await;
    for key in ["id", "state", "message"] {
        assert_eq!(why[key], api[key], "why --json: {key}");
    }
    assert_eq!(why["record"]["position"], 1);

    // For people: tables and sentences naming what blocks the run.
    let o = berth(&app.base, &["why", &b]).await;
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains("position 1") && text.contains("pods") && text.contains("SHORTFALL"), "{text}");
    let o = berth(&app.base, &["queue"]).await;
    let text = stdout(&o);
    assert!(text.starts_with("POS") && text.lines().nth(1).is_some_and(|l| l.contains(&b)), "{text}");
    let o = berth(&app.base, &["runs"]).await;
    assert_eq!(stdout(&o).lines().count(), 3, "a header and two runs: {}", stdout(&o));
    let o = berth(&app.base, &["status", &b]).await;
    assert!(stdout(&o).contains("state:") && stdout(&o).contains("queued"), "{}", stdout(&o));

    // cancel cancels; cancelling again is an error: one line, exit 1.
    let o = berth(&app.base, &["cancel", &b]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("run {b} cancelled\n"));
    assert_eq!(app.state(blocked).await, "cancelled");
    let o = berth(&app.base, &["cancel", &b]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_one_line(&stderr(&o), "cannot be cancelled (HTTP 409, not_cancellable)");
    let o = berth(&app.base, &["status", "999999"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_one_line(&stderr(&o), "run 999999 not found (HTTP 404, not_found)");
    app.stop().await;
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().into_iter().flatten().filter_map(|r| r["id"].as_i64()).collect()
}

#[track_caller]
fn assert_one_line(stderr: &str, contains: &str) {
    assert!(stderr.starts_with("berth: ") && stderr.ends_with('\n'), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains(contains), "{stderr:?} lacks {contains:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_one_line_and_a_non_zero_exit() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [&["status", "1"][..], &["runs"], &["queue", "--json"]] {
        let o = berth(&url, args).await;
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert_one_line(&stderr(&o), &format!("cannot reach {url}/api/v1/"));
    }
    // An unusable URL, or a bad command line, is a usage error (2).
    assert_eq!(berth("ftp://x", &["runs"]).await.status.code(), Some(2));
    assert_eq!(berth(&url, &["status", "not-a-number"]).await.status.code(), Some(2));
}

/// The token goes out as `Authorization: Bearer`, and the API's JSON 401 is the one line printed.
#[tokio::test]
async fn the_token_is_sent_as_a_bearer_header() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"error":"unauthorized","message":"the token is not valid"}"#;
        let answer = format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).expect("write");
        String::from_utf8_lossy(&request).to_lowercase()
    });
    let o = berth(&url, &["status", "5", "--token", "S3cret"]).await;
    let request = server.join().expect("the fake server");
    assert!(request.starts_with("get /api/v1/runs/5 "), "{request}");
    assert!(request.contains("\r\nauthorization: bearer s3cret\r\n"), "{request}");
    assert_eq!(o.status.code(), Some(1));
    assert_one_line(&stderr(&o), "the token is not valid (HTTP 401, unauthorized)");
}

#[tokio::test]
async fn completions_are_generated() {
    let o = berth("http://127.0.0.1:1", &["completions", "bash"]).await;
    assert!(o.status.success());
    let script = stdout(&o);
    assert!(script.contains("berth") && script.contains("submit") && script.contains("--service"), "{script}");
    let o = berth("http://127.0.0.1:1", &["completions", "zsh"]).await;
    assert!(o.status.success() && !o.stdout.is_empty());
}
