//! The `http` executor against a protocol peer written here (axum), answering as the seed's 1.x
//! executors do (state in the status code, zip as octet-stream, no kill) or as its 2.x executors
//! do (state in a JSON body, `/kill`, `/retrieve_partial`), exactly as issue 16 and the seed's
//! v1.6.0 / v2.3.1 sources say.
//!
//! The real seed executors (`job-orchestrator client` 1.6.0 and 2.3.1) are in `tests/executor_seed.rs`.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth::config::Config;
use berth::executor::archive::zip_files;
use berth::executor::http::HttpExecutor;
use berth::executor::{Error, ExecRequest, ExecResult, Executor, LogChunk, Outcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// The protocol peer.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Generation {
    V1,
    V2,
}

#[derive(Clone)]
struct Payload {
    files: Vec<(String, Vec<u8>)>,
    polls: u32,
    status: &'static str,
}

/// A remote executor following a script in `run.sh`: `FAIL` fails (exit 3), `HANG` runs until
/// killed, `INVALID` is refused, `LOSE` is lost, `BADFORM` makes `/submit` answer 400; anything
/// else completes (adding `out.txt`) after two polls.
struct Peer {
    generation: Generation,
    payloads: Mutex<HashMap<u64, Payload>>,
    next: AtomicU64,
    submits: AtomicUsize,
    kills: Mutex<Vec<u64>>,
    /// Answer 503 to every poll (an executor that stops answering usefully).
    broken: std::sync::atomic::AtomicBool,
}

type Shared = Arc<Peer>;

async fn submit(State(peer): State<Shared>, mut form: Multipart) -> Response {
    let mut files = Vec::new();
    while let Ok(Some(field)) = form.next_field().await {
        let Some(name) = field.file_name().map(str::to_string) else { continue };
        let Ok(data) = field.bytes().await else { return StatusCode::BAD_REQUEST.into_response() };
        files.push((name, data.to_vec()));
    }
    let script = files.iter().find(|(n, _)| n == "run.sh").map(|(_, d)| String::from_utf8_lossy(d).to_string());
    if script.as_deref().is_some_and(|s| s.contains("BADFORM")) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    peer.submits.fetch_add(1, Ordering::SeqCst);
    let id = peer.next.fetch_add(1, Ordering::SeqCst);
    peer.payloads.lock().unwrap().insert(id, Payload { files, polls: 0, status: "Prepared" });
    let mut body =
        serde_json::json!({"id": id, "status": "Prepared", "loc": format!("/data/{id}"), "pid": 0, "killed": false});
    if peer.generation == Generation::V1 {
        body["input"] = serde_json::json!({});
    }
    axum::Json(body).into_response()
}

fn advance(p: &mut Payload) {
    p.polls += 1;
    if !matches!(p.status, "Prepared" | "Running") {
        return;
    }
    let script = p.files.iter().find(|(n, _)| n == "run.sh").map(|(_, d)| String::from_utf8_lossy(d).to_string());
    let script = script.unwrap_or_default();
    p.status = if script.contains("INVALID") {
        "Invalid"
    } else if p.polls < 2 || script.contains("HANG") {
        "Running"
    } else if script.contains("FAIL") {
        p.files.push((".orchestrator.exit".into(), b"3\n".to_vec()));
        "Failed"
    } else if script.contains("LOSE") {
        "Lost"
    } else {
        p.files.push(("out.txt".into(), b"done\n".to_vec()));
        p.files.push((".orchestrator.exit".into(), b"0\n".to_vec()));
        "Completed"
    };
}

fn zip_of(p: &Payload) -> Vec<u8> {
    zip_files(&p.files).expect("zip")
}

async fn retrieve(State(peer): State<Shared>, UrlPath(id): UrlPath<u64>) -> Response {
    if peer.broken.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut payloads = peer.payloads.lock().unwrap();
    let Some(p) = payloads.get_mut(&id) else {
        return match peer.generation {
            Generation::V1 => StatusCode::NOT_FOUND.into_response(),
            Generation::V2 => (StatusCode::NOT_FOUND, axum::Json(state_json(0, "Unknown"))).into_response(),
        };
    };
    advance(p);
    match (peer.generation, p.status) {
        (Generation::V1, "Completed") => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], zip_of(p)).into_response()
        }
        (Generation::V2, "Completed") => ([(header::CONTENT_TYPE, "application/zip")], zip_of(p)).into_response(),
        (Generation::V1, "Prepared" | "Running") => StatusCode::ACCEPTED.into_response(),
        (Generation::V1, "Invalid") => StatusCode::BAD_REQUEST.into_response(),
        (Generation::V1, "Failed") => (StatusCode::INTERNAL_SERVER_ERROR, "failed").into_response(),
        (Generation::V1, _) => StatusCode::NO_CONTENT.into_response(),
        (Generation::V2, status) => axum::Json(state_json(id, status)).into_response(),
    }
}

fn state_json(id: u64, status: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "status": status, "loc": format!("/data/{id}"), "pid": 4242, "killed": status == "Killed"})
}

async fn retrieve_partial(State(peer): State<Shared>, UrlPath(id): UrlPath<u64>) -> Response {
    let payloads = peer.payloads.lock().unwrap();
    match payloads.get(&id) {
        Some(p) => ([(header::CONTENT_TYPE, "application/zip")], zip_of(p)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn kill(State(peer): State<Shared>, UrlPath(id): UrlPath<u64>) -> Response {
    peer.kills.lock().unwrap().push(id);
    match peer.payloads.lock().unwrap().get_mut(&id) {
        Some(p) => {
            p.status = "Killed";
            StatusCode::OK.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn load() -> &'static str {
    "12.5"
}

/// Starts a peer on a loopback port; returns it and its base URL.
async fn start_peer(generation: Generation) -> (Shared, String) {
    let peer = Arc::new(Peer {
        generation,
        payloads: Mutex::new(HashMap::new()),
        next: AtomicU64::new(1),
        submits: AtomicUsize::new(0),
        kills: Mutex::new(Vec::new()),
        broken: std::sync::atomic::AtomicBool::new(false),
    });
    let mut app = axum::Router::new()
        .route("/submit", post(submit))
        .route("/retrieve/{id}", get(retrieve))
        .route("/load", get(load));
    if generation == Generation::V2 {
        app = app.route("/retrieve_partial/{id}", get(retrieve_partial)).route("/kill/{id}", post(kill));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let app = app.with_state(peer.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (peer, format!("http://{addr}"))
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn config(executors: &[&str], slots: u32) -> Config {
    let mut c = Config::default();
    let service = c.services.get_mut("example").expect("default service");
    service.executors = executors.join(",");
    service.executor_slots = slots;
    c.worker.executor = berth::domain::ExecutorKind::Http;
    c.worker.http_poll_ms = 20;
    c.worker.http_request_timeout_seconds = 5;
    c
}

fn executor(c: &Config) -> Executor {
    HttpExecutor::from_config(c).expect("http executor").into()
}

async fn run_collect(
    exec: &Executor,
    req: ExecRequest,
    cancel: CancellationToken,
) -> (berth::executor::Result<ExecResult>, String) {
    let (tx, mut rx) = mpsc::channel::<LogChunk>(16);
    let collector = tokio::spawn(async move {
        let mut text = String::new();
        while let Some(c) = rx.recv().await {
            text.push_str(&String::from_utf8_lossy(&c.data));
        }
        text
    });
    let result = exec.run(req, tx, cancel).await;
    (result, collector.await.expect("collector"))
}

/// Waits (bounded) until `cond` holds.
async fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await; // poll interval, bounded by the deadline
    }
}

// ---------------------------------------------------------------------------------------------
// Against the protocol peer, both generations.

#[tokio::test]
async fn a_completed_run_brings_its_zip_back_in_both_generations() {
    for generation in [Generation::V1, Generation::V2] {
        let (peer, url) = start_peer(generation).await;
        let tmp = tempfile::tempdir().expect("tempdir");
        let (result, logs) = run_collect(
            &executor(&config(&[&url], 0)),
            common::run_sh_request(tmp.path(), "echo hi\n"),
            CancellationToken::new(),
        )
        .await;
        let result = result.expect("run");
        assert_eq!(result.outcome, Outcome::Succeeded, "{generation:?}");
        assert_eq!(result.exit_code, Some(0));
        let zip = result.result_zip.expect("a result zip");
        let files = common::zip_contents(&zip);
        assert_eq!(files["out.txt"], b"done\n", "{generation:?}");
        assert_eq!(files["in.txt"], b"input", "inputs were sent, one part per file");
        assert!(logs.contains("submitted as payload 1"), "{logs}");
        assert_eq!(peer.submits.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_failed_run_fails_with_the_recorded_exit_status() {
    let (_peer, url) = start_peer(Generation::V2).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (result, logs) = run_collect(
        &executor(&config(&[&url], 0)),
        common::run_sh_request(tmp.path(), "FAIL\n"),
        CancellationToken::new(),
    )
    .await;
    let result = result.expect("run");
    assert_eq!(result.outcome, Outcome::Failed);
    assert_eq!(result.exit_code, Some(3), "read from .orchestrator.exit in the partial folder");
    assert!(common::zip_contents(&result.result_zip.expect("2.x: the folder so far")).contains_key("in.txt"));
    assert!(logs.contains("reported payload 1 Failed"), "{logs}");

    let (_peer, url) = start_peer(Generation::V1).await;
    let (result, _) = run_collect(
        &executor(&config(&[&url], 0)),
        common::run_sh_request(tmp.path(), "FAIL\n"),
        CancellationToken::new(),
    )
    .await;
    let result = result.expect("run");
    assert_eq!(result.outcome, Outcome::Failed, "1.x: failed by status code");
    assert_eq!(result.result_zip, None, "1.x gives no partial folder");
}

#[tokio::test]
async fn cancel_and_timeout_kill_the_remote_run() {
    let (peer, url) = start_peer(Generation::V2).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let exec = executor(&config(&[&url], 0));
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (exec, cancel, req) = (exec.clone(), cancel.clone(), common::run_sh_request(tmp.path(), "HANG\n"));
        async move { run_collect(&exec, req, cancel).await }
    });
    wait_for("the submission", Duration::from_secs(10), || peer.submits.load(Ordering::SeqCst) == 1).await;
    cancel.cancel();
    let (result, logs) = task.await.expect("join");
    assert_eq!(result.expect("run").outcome, Outcome::Cancelled);
    assert_eq!(*peer.kills.lock().unwrap(), vec![1], "POST /kill/1 sent");
    assert!(logs.contains("killed payload 1"), "{logs}");

    let mut req = common::run_sh_request(tmp.path(), "echo started > started.txt\nHANG\n");
    req.timeout = Some(Duration::from_millis(300));
    let (result, _) = run_collect(&exec, req, CancellationToken::new()).await;
    let result = result.expect("run");
    assert_eq!(result.outcome, Outcome::TimedOut);
    assert_eq!(*peer.kills.lock().unwrap(), vec![1, 2]);
    assert!(result.result_zip.is_some(), "the folder so far is kept");
}

#[tokio::test]
async fn a_remote_killed_run_is_cancelled_and_1x_cancel_stops_watching() {
    // 1.x has no kill: the attempt ends, the executor is left alone (its late result is never read).
    let (peer, url) = start_peer(Generation::V1).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let exec = executor(&config(&[&url], 0));
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (exec, cancel, req) = (exec.clone(), cancel.clone(), common::run_sh_request(tmp.path(), "HANG\n"));
        async move { run_collect(&exec, req, cancel).await }
    });
    wait_for("the submission", Duration::from_secs(10), || peer.submits.load(Ordering::SeqCst) == 1).await;
    cancel.cancel();
    let (result, _) = task.await.expect("join");
    assert_eq!(result.expect("run").outcome, Outcome::Cancelled);
    assert!(peer.kills.lock().unwrap().is_empty());

    // 2.x: a run killed on the executor by someone else ends cancelled.
    let (peer, url) = start_peer(Generation::V2).await;
    let exec = executor(&config(&[&url], 0));
    let task = tokio::spawn({
        let (exec, req) = (exec.clone(), common::run_sh_request(tmp.path(), "HANG\n"));
        async move { run_collect(&exec, req, CancellationToken::new()).await }
    });
    wait_for("the submission", Duration::from_secs(10), || peer.submits.load(Ordering::SeqCst) == 1).await;
    peer.payloads.lock().unwrap().get_mut(&1).expect("payload").status = "Killed";
    assert_eq!(task.await.expect("join").0.expect("run").outcome, Outcome::Cancelled);
}

#[tokio::test]
async fn the_job_s_faults_are_fatal_and_the_executor_s_are_retryable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for generation in [Generation::V1, Generation::V2] {
        let (peer, url) = start_peer(generation).await;
        let exec = executor(&config(&[&url], 0));
        let (r, _) =
            run_collect(&exec, common::run_sh_request(tmp.path(), "INVALID\n"), CancellationToken::new()).await;
        assert!(matches!(r, Err(Error::Fatal(ref m)) if m.contains("Invalid")), "{generation:?}: {r:?}");
        let (r, _) =
            run_collect(&exec, common::run_sh_request(tmp.path(), "BADFORM\n"), CancellationToken::new()).await;
        assert!(matches!(r, Err(Error::Fatal(ref m)) if m.contains("400")), "{generation:?}: {r:?}");
        let (r, _) = run_collect(&exec, common::run_sh_request(tmp.path(), "LOSE\n"), CancellationToken::new()).await;
        let expected = if generation == Generation::V1 { "204" } else { "Lost" };
        assert!(matches!(r, Err(Error::Retryable(ref m)) if m.contains(expected)), "{generation:?}: {r:?}");
        if generation == Generation::V2 {
            // A run the node calls Lost may still run there (the seed 2.3 race): it is killed.
            assert_eq!(*peer.kills.lock().unwrap(), vec![2], "POST /kill/2 after Lost");
        }
    }
    // Nothing listens: retryable (the run is retried without using one of its attempts).
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let exec = executor(&config(&[&format!("http://127.0.0.1:{port}")], 0));
    let (r, _) = run_collect(&exec, common::run_sh_request(tmp.path(), "echo\n"), CancellationToken::new()).await;
    assert!(matches!(r, Err(Error::Retryable(ref m)) if m.contains("no executor")), "{r:?}");
    // An executor restarted mid-run (it forgot the id: 404): lost, retryable.
    let (peer, url) = start_peer(Generation::V2).await;
    let exec = executor(&config(&[&url], 0));
    let task = tokio::spawn({
        let (exec, req) = (exec.clone(), common::run_sh_request(tmp.path(), "HANG\n"));
        async move { run_collect(&exec, req, CancellationToken::new()).await }
    });
    wait_for("the submission", Duration::from_secs(10), || peer.submits.load(Ordering::SeqCst) == 1).await;
    peer.payloads.lock().unwrap().clear();
    let r = task.await.expect("join").0;
    assert!(matches!(r, Err(Error::Retryable(ref m)) if m.contains("404")), "{r:?}");
    // An executor that stops answering usefully for longer than the lease: lost.
    let (peer, url) = start_peer(Generation::V2).await;
    let mut c = config(&[&url], 0);
    c.lease_timeout_seconds = 1;
    peer.broken.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let (r, _) =
        run_collect(&executor(&c), common::run_sh_request(tmp.path(), "HANG\n"), CancellationToken::new()).await;
    assert!(matches!(r, Err(Error::Retryable(ref m)) if m.contains("no usable answer")), "{r:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn runs_are_spread_over_a_service_s_executors_within_their_slots() {
    let (a, url_a) = start_peer(Generation::V2).await;
    let (b, url_b) = start_peer(Generation::V1).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let exec = executor(&config(&[&url_a, &url_b], 1));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (exec, req) = (exec.clone(), common::run_sh_request(tmp.path(), "echo\n"));
        tasks.push(tokio::spawn(async move { run_collect(&exec, req, CancellationToken::new()).await }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join").0.expect("run").outcome, Outcome::Succeeded);
    }
    assert_eq!(a.submits.load(Ordering::SeqCst), 2, "one slot each: two runs each");
    assert_eq!(b.submits.load(Ordering::SeqCst), 2);
    // A dead executor among live ones: the submission falls back to the next.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let dead = format!("http://127.0.0.1:{port}");
    let exec = executor(&config(&[&dead, &url_a], 0));
    for _ in 0..2 {
        let (r, _) = run_collect(&exec, common::run_sh_request(tmp.path(), "echo\n"), CancellationToken::new()).await;
        assert_eq!(r.expect("run").outcome, Outcome::Succeeded);
    }
    assert_eq!(a.submits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_service_without_executors_and_command_lines_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exec = executor(&config(&[], 0));
    let (r, _) = run_collect(&exec, common::run_sh_request(tmp.path(), "echo\n"), CancellationToken::new()).await;
    assert!(matches!(r, Err(Error::Fatal(ref m)) if m.contains("no remote executor")), "{r:?}");
    let (_peer, url) = start_peer(Generation::V2).await;
    let mut req = common::run_sh_request(tmp.path(), "echo\n");
    req.command = Some(vec!["true".into()]);
    let (r, _) = run_collect(&executor(&config(&[&url], 0)), req, CancellationToken::new()).await;
    assert!(matches!(r, Err(Error::Fatal(_))), "{r:?}");
}
