//! The cluster under test: a private Postgres this test can stop and start again, and real
//! `berth api`, `scheduler` and `worker` processes, each logging to its own file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use berth::dev::postgres::{EmbeddedPostgres, Options};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::wait_for;

/// Lease timeout the processes run with (seconds).
pub const LEASE_SECONDS: u64 = 3;
/// Capacity flags of every worker.
pub const WORKER_PODS: i64 = 4;
/// Per-user cap of service `example` (config file below).
pub const RUNS_PER_USER: i64 = 3;
/// Retention period (`job-run-cleanup.retention-period`, seconds): finished runs lose their files
/// this long after they finished, while the test still runs.
pub const RETENTION_SECONDS: u64 = 10;
/// Limits every process reads: a per-user cap of 3, a pods quota of 10 for namespace `default`
/// (below the three workers' 12 slots, so the quota binds), two attempts per run, short back-offs;
/// retention every second with a period of [`RETENTION_SECONDS`], rows kept for an hour (so the
/// checks can read every run's history).
const CONFIG: &str = r#"
max-lost-attempts = 10
[services.example]
runs-per-user = 3
max-attempts = 2
retry-backoff-seconds = 0.2
retry-backoff-max-seconds = 1.0
[namespaces.default-quota]
pods = 10
[worker]
poll-ms = 200
drain-timeout-seconds = 0.3
[job-run-cleanup]
interval-seconds = 1
delete-after = 3600
"#;

/// Which berth process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `berth api`.
    Api,
    /// `berth scheduler`.
    Scheduler,
    /// `berth worker`.
    Worker,
}

/// One berth process; killed on drop so a failing test leaves nothing behind.
pub struct Proc {
    /// What it runs.
    pub role: Role,
    /// Worker name (`BERTH_WORKER_NAME`), or the role for others.
    pub name: String,
    /// The child.
    pub child: Child,
    /// Killed or stopped on purpose by the test (its exit is expected).
    pub expected_exit: bool,
}

impl Proc {
    /// The OS pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// `kill -9`, then reaps it.
    pub fn kill9(&mut self) {
        self.expected_exit = true;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (graceful stop).
    pub fn term(&mut self) {
        self.expected_exit = true;
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_for(&format!("{} to exit", self.name), timeout, || {
            let status = self.child.try_wait().ok().flatten();
            async move { status }
        })
        .await
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Postgres plus the folders and settings every process shares.
pub struct Cluster {
    /// The server; `None` while stopped.
    pub pg: Option<EmbeddedPostgres>,
    /// Its port (kept across restarts).
    pub port: u16,
    /// `DATABASE_URL` of every process.
    pub url: String,
    /// Logs, scratch folders, the config file.
    pub dir: tempfile::TempDir,
    /// API base URL.
    pub api: String,
    api_port: u16,
    spawned: u32,
}

/// A failed run keeps its folder, so the logs its failure message points at are still there.
impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("chaos: logs and data kept in {}", self.dir.path().display());
        }
    }
}

fn pg_options(dir: &Path, port: Option<u16>) -> Options {
    let settings = [("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")];
    Options {
        data_dir: dir.to_path_buf(),
        port,
        extra_settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

impl Cluster {
    /// Starts Postgres and applies the migrations with `berth migrate`.
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!("{CONFIG}retention-period = {RETENTION_SECONDS}\n");
        std::fs::write(dir.path().join("berth.toml"), config).expect("config file");
        let pg = EmbeddedPostgres::start(pg_options(dir.path(), None)).await.expect("start Postgres");
        let (port, url) = (pg.port(), pg.url("postgres"));
        let api_port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let mut c =
            Cluster { pg: Some(pg), port, url, api: format!("http://127.0.0.1:{api_port}"), dir, api_port, spawned: 0 };
        let out = c.command(&["migrate"], "migrate").output().expect("run berth migrate");
        assert!(out.status.success(), "berth migrate failed: {}", String::from_utf8_lossy(&out.stderr));
        c
    }

    /// Where the processes' logs are.
    pub fn logs(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn command(&mut self, args: &[&str], name: &str) -> Command {
        self.spawned += 1;
        let log = std::fs::File::create(self.dir.path().join(format!("{}-{name}.log", self.spawned))).expect("log");
        let scratch = self.dir.path().join(format!("scratch-{name}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args)
            .env("DATABASE_URL", &self.url)
            .env("BERTH_CONFIG", self.dir.path().join("berth.toml"))
            .env("BERTH_LEASE_TIMEOUT_SECONDS", LEASE_SECONDS.to_string())
            .env("BERTH_WORKER_HEARTBEAT_SECONDS", "1")
            .env("BERTH_SCHEDULER_TICK_MS", "200")
            .env("BERTH_WORKER_NAME", name)
            .env("BERTH_WORKER_SCRATCH_DIR", scratch)
            .env("RUST_LOG", "info")
            // `berth api` needs an explicit auth setting; the chaos test is about faults, not tokens.
            .env("BERTH_AUTH_ENABLED", "false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        cmd
    }

    /// Spawns one process; `name` names a worker (and its log and scratch folder).
    pub fn spawn(&mut self, role: Role, name: &str) -> Proc {
        let port = self.api_port.to_string();
        let pods = WORKER_PODS.to_string();
        let args: Vec<&str> = match role {
            Role::Api => vec!["api", "--port", &port, "--metrics-port", "0"],
            Role::Scheduler => vec!["scheduler", "--metrics-port", "0"],
            Role::Worker => vec![
                "worker",
                "--metrics-port",
                "0",
                "--worker-cpu",
                "4000",
                "--worker-memory",
                "4096",
                "--worker-pods",
                &pods,
                "--worker-storage",
                "4096",
            ],
        };
        let mut cmd = self.command(&args, name);
        if role == Role::Worker && nix::unistd::Uid::effective().is_root() {
            // A worker started as root needs uids for its jobs: a range of its own per process,
            // and per test process: a worker kills every process of a uid when a run ends, so two
            // chaos tests on one machine (two worktrees) with the same ranges killed each other's
            // jobs (Ok runs ending with failed attempts). Below tests/common's ranges (1,000,000+).
            let first = 70_000 + (std::process::id() % 1_000) * 512 + (self.spawned % 64) * 8;
            cmd.env("BERTH_WORKER_RUN_AS_UIDS", format!("{first}-{}", first + 7));
        }
        let child = cmd.spawn().expect("spawn berth");
        Proc { role, name: name.to_string(), child, expected_exit: false }
    }

    /// Stops Postgres (fast shutdown: every connection is cut).
    pub async fn stop_pg(&mut self) {
        if let Some(pg) = self.pg.take() {
            pg.stop().await.expect("stop Postgres");
        }
    }

    /// Starts Postgres again on the same data folder and port.
    pub async fn start_pg(&mut self) {
        let pg = EmbeddedPostgres::start(pg_options(self.dir.path(), Some(self.port))).await.expect("restart Postgres");
        self.pg = Some(pg);
    }
}
