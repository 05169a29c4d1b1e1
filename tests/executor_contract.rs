//! Contract tests of the executor layer: process and no-op backends through `Executor`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth::executor::archive::zip_files;
use berth::executor::noop::NoopExecutor;
use berth::executor::process::ProcessExecutor;
use berth::executor::{Error, ExecRequest, ExecResult, Executor, LogChunk, LogStream, Outcome, Result};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn request(scratch: &Path, files: &[(&str, &str)]) -> ExecRequest {
    let files: Vec<(String, Vec<u8>)> = files.iter().map(|(n, c)| (n.to_string(), c.as_bytes().to_vec())).collect();
    ExecRequest {
        run_id: 42,
        input_zip: zip_files(&files).expect("zip input"),
        command: None,
        env: Vec::new(),
        timeout: Some(Duration::from_secs(60)),
        memory_limit_mib: None,
        storage_limit_mib: None,
        scratch: scratch.to_path_buf(),
        service: "example".into(),
    }
}

/// A log sender whose receiver is already gone (logs are discarded).
fn no_logs() -> mpsc::Sender<LogChunk> {
    let (tx, _) = mpsc::channel(1);
    tx
}

fn process() -> Executor {
    ProcessExecutor::with_grace(Duration::from_millis(500)).into()
}

/// Runs `req`, collecting every log chunk.
async fn run_collect(exec: &Executor, req: ExecRequest) -> (Result<ExecResult>, Vec<LogChunk>) {
    let (tx, mut rx) = mpsc::channel(16);
    let collector = tokio::spawn(async move {
        let mut chunks = Vec::new();
        while let Some(chunk) = rx.recv().await {
            chunks.push(chunk);
        }
        chunks
    });
    let result = exec.run(req, tx, CancellationToken::new()).await;
    (result, collector.await.expect("collector"))
}

fn stream_text(chunks: &[LogChunk], stream: LogStream) -> String {
    let bytes: Vec<u8> = chunks.iter().filter(|c| c.stream == stream).flat_map(|c| c.data.clone()).collect();
    String::from_utf8(bytes).expect("utf8 logs")
}

/// The process backend always keeps a result zip.
fn result_zip(result: &ExecResult) -> &[u8] {
    result.result_zip.as_deref().expect("the process backend keeps a result zip")
}

/// Everything left in `scratch`, folders and files (a run must leave nothing).
fn leftovers(scratch: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(scratch).map(|it| it.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

/// Folders left in `scratch` (run folders must all be removed).
fn leftover_dirs(scratch: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(scratch)
        .map(|it| it.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn success_packs_inputs_and_outputs_and_removes_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scratch = tmp.path().join("scratch");
    let mut req = request(
        &scratch,
        &[
            ("run.sh", "stat -c %a . > mode.txt\necho \"$BERTH_RUN_ID $FOO\" > output.txt\n"),
            ("data/extra.txt", "extra"),
        ],
    );
    req.env.push(("FOO".into(), "bar".into()));
    let (result, _) = run_collect(&process(), req).await;
    let result = result.expect("run");
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert_eq!(result.exit_code, Some(0));
    let files = common::zip_contents(result_zip(&result));
    assert_eq!(files["output.txt"], b"42 bar\n");
    assert_eq!(files["data/extra.txt"], b"extra");
    assert!(files.contains_key("run.sh"));
    assert!(files.contains_key("data/"), "folders are stored");
    assert_eq!(files["mode.txt"], b"700\n", "run folder is private");
    assert!(!files.keys().any(|n| n.ends_with(".zip")), "{files:?}");
    assert_eq!(leftovers(&scratch), Vec::<PathBuf>::new(), "no folder, and the zip was made in memory");
}

#[tokio::test]
async fn failing_script_keeps_exit_code_and_partial_outputs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let req = request(tmp.path(), &[("run.sh", "echo partial > partial.txt\nexit 3\n")]);
    let result = process().run(req, no_logs(), CancellationToken::new()).await;
    let result = result.expect("run");
    assert_eq!(result.outcome, Outcome::Failed);
    assert_eq!(result.exit_code, Some(3));
    assert_eq!(common::zip_contents(result_zip(&result))["partial.txt"], b"partial\n");
}

#[tokio::test]
async fn stdout_and_stderr_go_to_their_streams() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = "echo out-1\necho err-1 >&2\necho out-2\nprintf err-2 >&2\n";
    let req = request(tmp.path(), &[("run.sh", script)]);
    let (result, chunks) = run_collect(&process(), req).await;
    assert_eq!(result.expect("run").outcome, Outcome::Succeeded);
    assert_eq!(stream_text(&chunks, LogStream::Stdout), "out-1\nout-2\n");
    assert_eq!(stream_text(&chunks, LogStream::Stderr), "err-1\nerr-2");
    assert!(chunks.iter().all(|c| !c.data.is_empty() && c.data.len() <= 64 * 1024));
}

#[tokio::test]
async fn dropped_log_receiver_does_not_fail_the_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let req = request(tmp.path(), &[("run.sh", "seq 1 200000\necho done > done.txt\n")]);
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let result = process().run(req, tx, CancellationToken::new()).await.expect("run");
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert_eq!(common::zip_contents(result_zip(&result))["done.txt"], b"done\n");
}

#[tokio::test]
async fn timeout_kills_the_job() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut req = request(tmp.path(), &[("run.sh", "echo before > before.txt\nsleep 30\n")]);
    req.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let result = process().run(req, no_logs(), CancellationToken::new()).await;
    let result = result.expect("run");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(result.outcome, Outcome::TimedOut);
    assert!(common::zip_contents(result_zip(&result)).contains_key("before.txt"));
}

#[tokio::test]
async fn cancel_kills_the_job() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let req = request(tmp.path(), &[("run.sh", "echo started\nsleep 30\n")]);
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(16);
    let exec = process();
    let run = tokio::spawn({
        let cancel = cancel.clone();
        async move { exec.run(req, tx, cancel).await }
    });
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    let first = first.expect("job started in time").expect("a log chunk");
    assert_eq!(first.data, b"started\n");
    let started = Instant::now();
    cancel.cancel();
    let result = run.await.expect("join").expect("run");
    assert_eq!(result.outcome, Outcome::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// True once `pid` is gone (ESRCH) or only a zombie waiting for its new parent to reap it.
fn process_gone(pid: Pid) -> bool {
    match kill(pid, None) {
        Err(Errno::ESRCH) => true,
        _ => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
            .unwrap_or(true),
    }
}

#[tokio::test]
async fn background_children_do_not_survive_the_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = "sleep 300 &\necho $! > bg.pid\nexit 0\n";
    let req = request(tmp.path(), &[("run.sh", script)]);
    let started = Instant::now();
    let result = process().run(req, no_logs(), CancellationToken::new()).await;
    let result = result.expect("run");
    assert!(started.elapsed() < Duration::from_secs(10), "pipe held open by child hung the run");
    assert_eq!(result.outcome, Outcome::Succeeded);
    let pid_text = String::from_utf8(common::zip_contents(result_zip(&result))["bg.pid"].clone()).expect("pid");
    let pid = Pid::from_raw(pid_text.trim().parse().expect("pid number"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_gone(pid) {
        assert!(Instant::now() < deadline, "background child {pid} still running");
        tokio::time::sleep(Duration::from_millis(10)).await; // poll interval, bounded by deadline
    }
}

#[tokio::test]
async fn command_mode_runs_argv() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut req = request(tmp.path(), &[]);
    req.command = Some(vec!["sh".into(), "-c".into(), "echo hi > x.txt".into()]);
    let result = process().run(req, no_logs(), CancellationToken::new()).await;
    let result = result.expect("run");
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert_eq!(common::zip_contents(result_zip(&result))["x.txt"], b"hi\n");
}

#[tokio::test]
async fn bad_jobs_are_fatal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let req = request(tmp.path(), &[("other.sh", "true")]);
    let err = process().run(req, no_logs(), CancellationToken::new()).await;
    assert!(matches!(err, Err(Error::Fatal(ref m)) if m.contains("run.sh")), "{err:?}");
    let mut req = request(tmp.path(), &[]);
    req.command = Some(vec!["berth-no-such-program".into()]);
    let err = process().run(req, no_logs(), CancellationToken::new()).await;
    assert!(matches!(err, Err(Error::Fatal(_))), "{err:?}");
    assert_eq!(leftover_dirs(tmp.path()), Vec::<PathBuf>::new());
    assert_eq!(std::fs::read_dir(tmp.path()).expect("ls").count(), 0, "no zip left");
}

#[tokio::test]
async fn escaping_entry_is_fatal_and_writes_nothing_outside() {
    use std::io::Write;
    let tmp = tempfile::tempdir().expect("tempdir");
    let scratch = tmp.path().join("scratch");
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    writer.start_file("run.sh", opts).expect("start");
    writer.write_all(b"true\n").expect("write");
    writer.start_file("../evil", opts).expect("start");
    writer.write_all(b"evil").expect("write");
    let mut req = request(&scratch, &[]);
    req.input_zip = writer.finish().expect("finish").into_inner();
    let err = process().run(req, no_logs(), CancellationToken::new()).await;
    assert!(matches!(err, Err(Error::Fatal(ref m)) if m.contains("../evil")), "{err:?}");
    assert!(!scratch.join("evil").exists());
    assert!(!tmp.path().join("evil").exists());
    assert_eq!(leftover_dirs(&scratch), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn memory_limit_is_applied() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = "ulimit -d > limit.txt\nhead -c 500000000 /dev/zero | tail > /dev/null\n";
    let mut req = request(tmp.path(), &[("run.sh", script)]);
    req.memory_limit_mib = Some(64);
    let result = process().run(req, no_logs(), CancellationToken::new()).await;
    let result = result.expect("run");
    assert_eq!(common::zip_contents(result_zip(&result))["limit.txt"], b"65536\n");
    assert_eq!(result.outcome, Outcome::Failed, "500 MB allocation must fail");
    assert_ne!(result.exit_code, Some(0));
}

#[tokio::test]
async fn noop_returns_success_and_keeps_no_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exec: Executor = NoopExecutor.into();
    let req = request(&tmp.path().join("scratch"), &[("run.sh", "exit 1")]);
    let result = exec.run(req, no_logs(), CancellationToken::new()).await;
    let result = result.expect("run");
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert_eq!(result.exit_code, Some(0));
    assert_eq!(result.result_zip, None, "no result file");
    assert!(!tmp.path().join("scratch").exists(), "nothing written to the scratch folder");
}

/// `executor::spawn` directly: a started job is waited for (twice gives the same answer), and a
/// job whose handle is dropped before it ended is killed and reaped (no zombie left behind).
#[tokio::test]
async fn a_spawned_job_is_awaited_and_a_dropped_one_is_killed_and_reaped() {
    use berth::executor::limits::Limits;
    use berth::executor::spawn::{Confinement, Launch, spawn};
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = [("PATH".to_string(), "/usr/bin:/bin".to_string())];
    let confinement = Confinement { ids: None, network: berth::domain::NetworkMode::Host, limits: Limits::default() };
    let args = ["-c".to_string(), "exit 3".to_string()];
    let launch = Launch { program: "sh", args: &args, dir: tmp.path(), env: &env };
    let mut child = spawn(&launch, &confinement).expect("spawn");
    assert_eq!(child.wait().await.expect("wait").code(), Some(3));
    assert_eq!(child.wait().await.expect("again").code(), Some(3), "the same answer once ended");

    let args = ["300".to_string()];
    let launch = Launch { program: "sleep", args: &args, dir: tmp.path(), env: &env };
    let child = spawn(&launch, &confinement).expect("spawn");
    let pid = child.id();
    drop(child);
    common::wait_for("the dropped job to be killed and reaped", Duration::from_secs(10), || async {
        (kill(pid, None) == Err(Errno::ESRCH)).then_some(())
    })
    .await;
}
