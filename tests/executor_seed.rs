//! The `http` executor against the REAL seed executors (`job-orchestrator client`, crates.io crate
//! `job-orchestrator`), one of each generation, as `.ci/run` builds them:
//!
//! - 1.6.0, the last 1.x: the state in the status code, `run.sh` run inside its runner task (no pid,
//!   no kill URL), a non-zero exit still gives the zip;
//! - 2.3.1, the last 2.x: the state in a JSON body, `/kill`, `/retrieve_partial`, and a race of its
//!   own that loses runs it has just started (see [`seed_race`]): the tests retry a lost run as
//!   berth's worker would, with enough tries that the race cannot fail them by chance.
//!
//! The binaries: `$BERTH_SEED1_BIN` / `$BERTH_SEED2_BIN`, else `target/seed-<version>/bin/job-orchestrator`.
//! Without one a test prints `SKIPPED` and passes, unless `BERTH_REQUIRE_SEED=1` (`.ci/run` sets
//! it): then it fails, so CI cannot skip them silently. docs/executors.md has the commands.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth::config::Config;
use berth::executor::http::HttpExecutor;
use berth::executor::{Error, ExecRequest, ExecResult, Executor, LogChunk, Outcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// The seed executors.

/// A seed executor version the tests run.
struct SeedVersion {
    /// Its crates.io version (`.ci/run` builds it into `target/seed-<version>`).
    version: &'static str,
    /// The variable naming another binary of its generation.
    env: &'static str,
}

/// The last 1.x: state by status code, `run.sh` run inside the runner task, no kill.
const SEED_1X: SeedVersion = SeedVersion { version: "1.6.0", env: "BERTH_SEED1_BIN" };
/// The last 2.x: JSON states, `/kill`, `/retrieve_partial`, the Running-before-pid race.
const SEED_2X: SeedVersion = SeedVersion { version: "2.3.1", env: "BERTH_SEED2_BIN" };

/// The binary of `seed`, or `None` (the test is skipped) — a failure instead when
/// `BERTH_REQUIRE_SEED=1`.
fn seed_binary(seed: &SeedVersion, test: &str) -> Option<PathBuf> {
    let path = match std::env::var_os(seed.env) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "{} names {}, which is not a file", seed.env, p.display());
            return Some(p);
        }
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/seed-{}/bin/job-orchestrator", seed.version))
        }
    };
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "{test}: no job-orchestrator {} at {} (set {} or run .ci/run, which builds it)",
        seed.version,
        path.display(),
        seed.env
    );
    assert_ne!(std::env::var("BERTH_REQUIRE_SEED").as_deref(), Ok("1"), "{why}; BERTH_REQUIRE_SEED=1 forbids skipping");
    eprintln!("SKIPPED {why}");
    None
}

/// A running `job-orchestrator client` in a process group of its own; the group (the node and the
/// jobs it started) is killed when dropped.
struct Seed {
    bin: PathBuf,
    child: std::process::Child,
    port: u16,
    url: String,
    /// Its payload table (`DB_PATH`) and run folders (`DATA_PATH`); `None` only while restarting.
    dir: Option<tempfile::TempDir>,
}

impl Seed {
    /// Starts a node on a free port and waits until it answers.
    async fn start(bin: &Path) -> Seed {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        Self::start_on(bin, port, tempfile::tempdir().expect("tempdir")).await
    }

    async fn start_on(bin: &Path, port: u16, dir: tempfile::TempDir) -> Seed {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new(bin)
            .arg("client")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("DB_PATH", dir.path().join("payloads.sqlite"))
            .env("DATA_PATH", dir.path().join("data"))
            .env("MAX_AGE", "3600")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start job-orchestrator client");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let end = Instant::now() + Duration::from_secs(20);
        // `GET /` (ping): the one route every version's client answers.
        while !client.get(format!("{url}/")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < end, "the seed executor {} did not come up on {url}", bin.display());
            tokio::time::sleep(Duration::from_millis(50)).await; // poll interval, bounded by the deadline
        }
        Seed { bin: bin.to_path_buf(), child, port, url, dir: Some(dir) }
    }

    /// Kills the node (and its jobs) and starts a new one on the same port, with its payload table
    /// and folders (`keep`: a node restarted) or empty ones (a machine replaced).
    async fn restart(mut self, keep: bool) -> Seed {
        let (bin, port) = (self.bin.clone(), self.port);
        let dir = self.dir.take().filter(|_| keep);
        drop(self);
        Self::start_on(&bin, port, dir.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"))).await
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// `run.sh`'s first lines as the seed 2.x validator requires them (1.x accepts them too): the exit
/// status goes to `.orchestrator.exit`.
const TRAP: &str = "#!/bin/bash\ntrap 'echo $? > .orchestrator.exit' EXIT\n";

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The executor for `service` example's nodes given by their base URLs (`executors`, kill URL
/// included).
fn by_base(urls: &[&str]) -> Config {
    let mut c = Config::default();
    c.services.get_mut("example").expect("default service").executors = urls.join(",");
    tuned(c)
}

/// A 1.x node as a seed 1.x server's configuration names it: upload and download URLs, no kill URL.
fn by_seed_names(url: &str) -> Config {
    let mut c = Config::default();
    let service = c.services.get_mut("example").expect("default service");
    service.upload_url = format!("{url}/submit");
    service.download_url = format!("{url}/retrieve");
    tuned(c)
}

fn tuned(mut c: Config) -> Config {
    c.worker.executor = berth::domain::ExecutorKind::Http;
    c.worker.http_poll_ms = 50;
    c.worker.http_request_timeout_seconds = 10;
    c
}

fn executor(c: &Config) -> Executor {
    HttpExecutor::from_config(c).expect("http executor").into()
}

type Ran = (berth::executor::Result<ExecResult>, String);

/// Runs `req`; its result and the log berth wrote for it.
async fn run_collect(exec: &Executor, req: ExecRequest, cancel: CancellationToken) -> Ran {
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

/// Starts `req` in a task; the receiver gets the payload id and the node's base URL as soon as
/// the executor logs its submission ("submitted as payload <id> to <base>/submit").
fn run_spawned(
    exec: &Executor,
    req: ExecRequest,
    cancel: CancellationToken,
) -> (tokio::task::JoinHandle<Ran>, tokio::sync::oneshot::Receiver<(u64, String)>) {
    let (id_tx, id_rx) = tokio::sync::oneshot::channel();
    let exec = exec.clone();
    let task = tokio::spawn(async move {
        let (tx, mut rx) = mpsc::channel::<LogChunk>(16);
        let collector = tokio::spawn(async move {
            let (mut text, mut id_tx) = (String::new(), Some(id_tx));
            while let Some(c) = rx.recv().await {
                text.push_str(&String::from_utf8_lossy(&c.data));
                let submitted = text.split("submitted as payload ").nth(1).and_then(|t| {
                    let mut words = t.split_whitespace();
                    let id = words.next()?.parse::<u64>().ok()?;
                    let url = words.nth(1)?.trim_end_matches("/submit").to_string();
                    Some((id, url))
                });
                if let Some(found) = submitted
                    && let Some(sender) = id_tx.take()
                {
                    let _ = sender.send(found);
                }
            }
            text
        });
        let result = exec.run(req, tx, cancel).await;
        (result, collector.await.expect("collector"))
    });
    (task, id_rx)
}

/// What a node said of a payload while the test waited for it to run.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Running,
    /// 2.x: the node's race lost it first.
    Lost,
}

/// Waits (at most 20 s) until the node at `url` runs payload `id`: 2.x says `Running` in JSON,
/// 1.x answers 202 (201 while prepared).
async fn wait_running(url: &str, id: u64) -> Seen {
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = reqwest::Client::new();
    loop {
        let (code, body) = match client.get(format!("{url}/retrieve/{id}")).send().await {
            Ok(r) => (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default()),
            Err(_) => (0, serde_json::Value::Null),
        };
        match (code, body["status"].as_str()) {
            (_, Some("Running")) | (202, None) => return Seen::Running,
            (_, Some("Lost")) => return Seen::Lost,
            _ => {}
        }
        assert!(Instant::now() < deadline, "payload {id} never ran on {url}: {code} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await; // poll interval, bounded by the deadline
    }
}

// ---------------------------------------------------------------------------------------------
// The 2.x race.

/// Tries of one run on a seed 2.3.1 node before its race fails the test. The node loses a run it
/// has just started with probability p per try (measured: docs/executors.md, "Tests"); the tries
/// are independent (each lands on its own runner tick), so a run fails the test with p^N. With p
/// at most 0.5 (far above any measured rate) and N = 20 that is 1e-6 per run, about 1e-5 for the
/// ten or so runs of this file: CI does not go red by chance.
const SEED_RACE_TRIES: u32 = 20;

/// The seed 2.1–2.3 node marks a run `Running` before it stores the job's pid
/// (`src/services/client.rs`, `runner`); its `updater`, on the same 500 ms tick, can list the run
/// in between, find pid 0 and no exit file, and call it `Lost` (2.3; `Failed` in 2.1–2.2). berth
/// retries a lost run, as the worker does; so do the tests, [`SEED_RACE_TRIES`] times at most.
fn seed_race(r: &berth::executor::Result<ExecResult>, attempt: u32) -> bool {
    let lost = matches!(r, Err(Error::Retryable(m)) if m.contains("(Lost)"));
    if lost {
        assert!(attempt < SEED_RACE_TRIES, "the seed node lost the run {attempt} times in a row: {r:?}");
        eprintln!(
            "SEED-RACE: the seed node lost a run on try {attempt} (its Running-before-pid race); retrying as berth would"
        );
    }
    lost
}

/// Runs `script` on `exec`, again while the node's race loses it; the result, the log and the
/// tries it took.
async fn run_real(exec: &Executor, scratch: &Path, script: &str) -> (berth::executor::Result<ExecResult>, String, u32) {
    for attempt in 1.. {
        let (r, logs) = run_collect(exec, common::run_sh_request(scratch, script), CancellationToken::new()).await;
        if !seed_race(&r, attempt) {
            return (r, logs, attempt);
        }
    }
    unreachable!()
}

// ---------------------------------------------------------------------------------------------
// 1.x.

#[tokio::test]
async fn the_real_1x_seed_executor_completes_fails_and_refuses() {
    let Some(bin) = seed_binary(&SEED_1X, "the_real_1x_seed_executor_completes_fails_and_refuses") else { return };
    let seed = Seed::start(&bin).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let exec = executor(&by_seed_names(&seed.url));

    // Complete: the zip (application/octet-stream) is the result; no exit file: exit 0.
    let (r, logs) = run_collect(
        &exec,
        common::run_sh_request(tmp.path(), "cat in.txt > out.txt\necho ok >> out.txt\n"),
        CancellationToken::new(),
    )
    .await;
    let r = r.expect("run");
    assert_eq!(r.outcome, Outcome::Succeeded, "{logs}");
    assert_eq!(r.exit_code, Some(0));
    let files = common::zip_contents(&r.result_zip.expect("zip"));
    assert_eq!(files["out.txt"], b"inputok\n");
    assert_eq!(files["in.txt"], b"input", "the inputs were sent, one part per file");

    // A non-zero exit: 1.x still calls it Completed and gives the zip; the trap's exit file says 3.
    let (r, logs) = run_collect(
        &exec,
        common::run_sh_request(tmp.path(), &format!("{TRAP}echo partial > partial.txt\nexit 3\n")),
        CancellationToken::new(),
    )
    .await;
    let r = r.expect("run");
    assert_eq!(r.outcome, Outcome::Failed, "{logs}");
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(common::zip_contents(&r.result_zip.expect("1.x zips a failed run"))["partial.txt"], b"partial\n");

    // A script its validator refuses (a network tool): Invalid, 400: the job's fault, fatal.
    let (r, _) = run_collect(
        &exec,
        common::run_sh_request(tmp.path(), "curl http://example.invalid\n"),
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(r, Err(Error::Fatal(ref m)) if m.contains("Invalid")), "{r:?}");
}

#[tokio::test]
async fn the_real_1x_seed_executor_cancelled_is_left_to_finish() {
    let Some(bin) = seed_binary(&SEED_1X, "the_real_1x_seed_executor_cancelled_is_left_to_finish") else { return };
    let seed = Seed::start(&bin).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let exec = executor(&by_seed_names(&seed.url));
    let cancel = CancellationToken::new();
    let (task, submitted) =
        run_spawned(&exec, common::run_sh_request(tmp.path(), "sleep 5\necho late > out.txt\n"), cancel.clone());
    let (id, url) = submitted.await.expect("submitted");
    assert_eq!(wait_running(&url, id).await, Seen::Running);
    cancel.cancel();
    let (r, logs) = task.await.expect("join");
    assert_eq!(r.expect("run").outcome, Outcome::Cancelled);
    assert!(logs.contains(&format!("no kill URL: payload {id} is left to finish")), "{logs}");
    // The node was not told: it still runs the payload; berth never reads it again (a worker's
    // late write of the attempt would be refused by its fencing token).
    let still = reqwest::get(format!("{url}/retrieve/{id}")).await.expect("retrieve").status();
    assert_eq!(still, 202, "the 1.x node keeps running the cancelled payload");
}

// ---------------------------------------------------------------------------------------------
// 2.x.

#[tokio::test]
async fn the_real_2x_seed_executor_completes_fails_refuses_and_kills() {
    let Some(bin) = seed_binary(&SEED_2X, "the_real_2x_seed_executor_completes_fails_refuses_and_kills") else {
        return;
    };
    let seed_a = Seed::start(&bin).await;
    let seed_b = Seed::start(&bin).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut c = by_base(&[&seed_a.url, &seed_b.url]);
    c.services.get_mut("example").expect("default service").executor_slots = 1;
    let exec = executor(&c);

    // Submit, complete, zip back; two at once land one on each node (one slot each).
    let script = format!("{TRAP}cat in.txt > out.txt\necho ok >> out.txt\n");
    let (r1, r2) = tokio::join!(run_real(&exec, tmp.path(), &script), run_real(&exec, tmp.path(), &script));
    if r1.2 == 1 && r2.2 == 1 {
        // Only first tries are compared: a retry after the race may land anywhere.
        let on_a = [&r1.1, &r2.1].map(|logs| logs.contains(&seed_a.url));
        assert_ne!(on_a[0], on_a[1], "one run on each node: {} / {}", r1.1, r2.1);
    }
    for (r, logs, _) in [r1, r2] {
        let r = r.expect("run");
        assert_eq!(r.outcome, Outcome::Succeeded, "{logs}");
        assert_eq!(r.exit_code, Some(0));
        assert_eq!(common::zip_contents(&r.result_zip.expect("zip"))["out.txt"], b"inputok\n");
    }

    // Fail: 2.x says Failed; the partial folder holds the exit status 3.
    let (r, logs, _) = run_real(&exec, tmp.path(), &format!("{TRAP}echo partial > partial.txt\nexit 3\n")).await;
    let r = r.expect("run");
    assert_eq!(r.outcome, Outcome::Failed, "{logs}");
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(common::zip_contents(&r.result_zip.expect("partial folder"))["partial.txt"], b"partial\n");

    // A run.sh without the trap: the 2.x validator refuses it (Invalid): fatal, never retried. (The
    // refusal happens in the runner after `Running` too: the race can lose it first.)
    let (r, _, _) = run_real(&exec, tmp.path(), "echo hi\n").await;
    assert!(matches!(r, Err(Error::Fatal(ref m)) if m.contains("Invalid")), "{r:?}");

    // Cancel: POST /kill; the node reports the payload Killed.
    let script = format!("{TRAP}sleep 30\n");
    for attempt in 1.. {
        let cancel = CancellationToken::new();
        let (task, submitted) = run_spawned(&exec, common::run_sh_request(tmp.path(), &script), cancel.clone());
        let (id, url) = submitted.await.expect("submitted");
        if wait_running(&url, id).await == Seen::Lost {
            assert!(seed_race(&task.await.expect("join").0, attempt));
            continue;
        }
        cancel.cancel();
        let (r, logs) = task.await.expect("join");
        if seed_race(&r, attempt) {
            continue;
        }
        assert_eq!(r.expect("run").outcome, Outcome::Cancelled);
        assert!(logs.contains(&format!("killed payload {id}")), "{logs}");
        let client = reqwest::Client::new();
        // The node marks the payload killed; its updater then says `Killed` — or `Lost`, when the
        // race took the run between the test's look and the kill (the pid not yet stored).
        let status = common::wait_for("the node to mark the payload killed", Duration::from_secs(10), || async {
            let body: serde_json::Value =
                client.get(format!("{url}/retrieve/{id}")).send().await.ok()?.json().await.ok()?;
            let status = body["status"].as_str()?.to_string();
            (body["killed"] == true && status != "Running").then_some(status)
        })
        .await;
        assert!(status == "Killed" || status == "Lost", "{status}");
        break;
    }
}

// ---------------------------------------------------------------------------------------------
// Both: the node dies mid-run.

/// Submits a long run, waits until the node runs it, kills the node with its jobs and starts it
/// again on the same port; returns what the executor made of the run.
async fn restarted_mid_run(bin: &Path, generation: u8, keep: bool) -> berth::executor::Result<ExecResult> {
    let mut seed = Seed::start(bin).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut c = if generation == 1 { by_seed_names(&seed.url) } else { by_base(&[&seed.url]) };
    c.lease_timeout_seconds = 30;
    let exec = executor(&c);
    for attempt in 1.. {
        let mut req = common::run_sh_request(tmp.path(), &format!("{TRAP}sleep 20\n"));
        // Only a 1.x node restarted with its table needs the timeout to end the attempt.
        req.timeout = Some(Duration::from_secs(if generation == 1 && keep { 6 } else { 60 }));
        let (task, submitted) = run_spawned(&exec, req, CancellationToken::new());
        let (id, url) = submitted.await.expect("submitted");
        if wait_running(&url, id).await == Seen::Lost {
            assert!(seed_race(&task.await.expect("join").0, attempt));
            continue;
        }
        seed = seed.restart(keep).await;
        let r = tokio::time::timeout(Duration::from_secs(40), task).await.expect("ends").expect("join").0;
        drop(seed);
        return r;
    }
    unreachable!()
}

#[tokio::test]
async fn the_real_seed_executors_restarted_mid_run_lose_the_run() {
    let test = "the_real_seed_executors_restarted_mid_run_lose_the_run";
    if let Some(bin) = seed_binary(&SEED_1X, test) {
        // A new machine: the id is unknown (404): lost, retryable — the executor's fault.
        let r = restarted_mid_run(&bin, 1, false).await;
        assert!(matches!(r, Err(Error::Retryable(ref m)) if m.contains("404")), "1.x, new table: {r:?}");
        // The same node restarted with its table: 1.x never looks at a `Running` payload again
        // (no updater) and answers 202 for ever; only the run's timeout ends the attempt.
        let r = restarted_mid_run(&bin, 1, true).await;
        assert_eq!(r.expect("run").outcome, Outcome::TimedOut, "1.x, same table");
    }
    if let Some(bin) = seed_binary(&SEED_2X, test) {
        let r = restarted_mid_run(&bin, 2, false).await;
        assert!(matches!(r, Err(Error::Retryable(ref m)) if m.contains("404")), "2.x, new table: {r:?}");
        // 2.x's updater finds the pid gone and no exit file: `Lost`, retryable.
        let r = restarted_mid_run(&bin, 2, true).await;
        assert!(matches!(r, Err(Error::Retryable(ref m)) if m.contains("(Lost)")), "2.x, same table: {r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Through berth: a seed client uploads, a berth worker with `worker.executor = "http"` hands the
// run to the seed node, the client downloads the zip.

#[tokio::test]
async fn uploads_run_on_the_real_seed_executor_behind_a_berth_worker() {
    let test = "uploads_run_on_the_real_seed_executor_behind_a_berth_worker";
    let Some(bin) = seed_binary(&SEED_1X, test) else { return };
    let seed = Seed::start(&bin).await;
    let mut config = common::test_config();
    config.worker.executor = berth::domain::ExecutorKind::Http;
    config.worker.http_poll_ms = 50;
    config.services.get_mut("example").expect("default service").executors = seed.url.clone();
    let app = common::TestApp::spawn_all(config).await;

    let ok = app.submit_script("echo done > out.txt\n", "1").await;
    let failing = app.submit_script(&format!("{TRAP}echo some > partial.txt\nexit 4\n"), "2").await;
    // The seed 1.x client's way: poll GET /download/{id} until it is a zip.
    let zip = common::wait_for("the zip of the run", Duration::from_secs(60), || async {
        let r = app.http.get(app.url(&format!("/download/{ok}"))).send().await.ok()?;
        let zip = r.headers().get("content-type").is_some_and(|t| t.as_bytes().starts_with(b"application/zip"));
        if zip { r.bytes().await.ok() } else { None }
    })
    .await;
    assert_eq!(common::zip_read(&zip, "out.txt"), "done\n");
    assert_eq!(app.wait_terminal(ok).await, "succeeded");
    assert_eq!(app.wait_terminal(failing).await, "failed");
    let (_, run) = app.get_json(&format!("/api/v1/runs/{failing}")).await;
    assert_eq!(run["exit_code"], 4, "{run}");
    let (_, status) = app.get_json(&format!("/download/{failing}")).await;
    assert_eq!(status["status"], "Failed", "{status}");
    app.stop().await;
}
