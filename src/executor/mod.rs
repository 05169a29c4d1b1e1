//! Executor layer: runs one job's files in an isolated folder and reports its outcome, logs and outputs.
//!
//! A backend implements [`Execute`]; [`Executor`] dispatches to the configured backend. Adding a
//! backend means adding a file with a type implementing [`Execute`] and one arm to each `match`.

pub mod archive;
pub mod http;
pub mod limits;
pub mod noop;
pub mod process;
pub mod sandbox;
pub mod spawn;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

pub use crate::domain::ExecutorKind;
use tokio_util::sync::CancellationToken;

/// Which output stream of the job a [`LogChunk`] was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// The job's standard output.
    Stdout,
    /// The job's standard error.
    Stderr,
}

impl LogStream {
    /// The stream's lowercase name: `"stdout"` or `"stderr"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// A piece of output as it was read from the job (at most 64 KiB, not split on lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    /// The stream the bytes came from.
    pub stream: LogStream,
    /// The raw bytes, in the order they were written.
    pub data: Vec<u8>,
}

/// Everything a backend needs to run one job.
#[derive(Clone)]
pub struct ExecRequest {
    /// The run's id; exported to the job as `BERTH_RUN_ID`.
    pub run_id: i64,
    /// The uploaded files as a zip archive, unpacked into the run folder before the job starts;
    /// empty when the job has no files (a command line alone).
    pub input_zip: Vec<u8>,
    /// `None`: run `bash run.sh` in the folder; `Some(argv)`: run argv (argv\[0\] looked up in PATH).
    pub command: Option<Vec<String>>,
    /// The job's own environment variables. The process backend gives the job these and a few of
    /// its own (`PATH`, `HOME`, `TMPDIR`, `BERTH_RUN_ID`), nothing inherited from the worker.
    pub env: Vec<(String, String)>,
    /// Wall-clock limit counted from the job's start; when it elapses the job is killed and
    /// reported [`Outcome::TimedOut`].
    pub timeout: Option<Duration>,
    /// The run's memory request in MiB: the process backend's data-segment limit (RLIMIT_DATA).
    pub memory_limit_mib: Option<u64>,
    /// The run's storage request in MiB: the process backend bounds each file (RLIMIT_FSIZE) and
    /// the total of the run folder and the logs by it.
    pub storage_limit_mib: Option<u64>,
    /// Parent folder; the backend creates a fresh private folder inside it for each run.
    pub scratch: PathBuf,
    /// The run's service (the `http` backend forwards the run to one of the service's executors).
    pub service: String,
}

impl std::fmt::Debug for ExecRequest {
    /// Shows the archive's size and the variable names only: inputs can be large or secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ExecRequest")
            .field("run_id", &self.run_id)
            .field("input_zip_bytes", &self.input_zip.len())
            .field("command", &self.command)
            .field("env_names", &env_names)
            .field("timeout", &self.timeout)
            .field("memory_limit_mib", &self.memory_limit_mib)
            .field("storage_limit_mib", &self.storage_limit_mib)
            .field("scratch", &self.scratch)
            .field("service", &self.service)
            .finish()
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The job exited with status 0.
    Succeeded,
    /// The job exited with a non-zero status or was killed by a signal it did not get from us.
    Failed,
    /// The job outlived its timeout and was killed.
    TimedOut,
    /// The cancellation token fired and the job was killed.
    Cancelled,
}

/// What a finished run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecResult {
    /// How the run ended.
    pub outcome: Outcome,
    /// The job's exit status; `None` when it was ended by a signal.
    pub exit_code: Option<i32>,
    /// The zip of the run folder after the run, in memory. `None`: the backend kept no files
    /// (the run's result is an empty archive).
    pub result_zip: Option<Vec<u8>>,
    /// What the backend knows about the end beyond the exit status (a limit the job hit).
    pub message: Option<String>,
}

/// Why a run could not be carried out; the variant says what should happen next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An infrastructure fault (disk, spawn, I/O): the job may succeed if tried again elsewhere.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The job itself is bad (invalid input archive, no `run.sh`, ...): retrying will not help.
    #[error("fatal: {0}")]
    Fatal(String),
}

impl Error {
    /// Whether trying again can help, for [`crate::retry::decide`].
    pub fn class(&self) -> crate::retry::ErrorClass {
        match self {
            Error::Retryable(_) => crate::retry::ErrorClass::Retryable,
            Error::Fatal(_) => crate::retry::ErrorClass::Fatal,
        }
    }
}

/// Result type of the executor layer.
pub type Result<T> = std::result::Result<T, Error>;

/// A backend able to run jobs.
pub trait Execute {
    /// Runs one job to completion, streaming its output into `logs` and stopping when `cancel`
    /// fires.
    ///
    /// A dropped log receiver never fails the run: the logs are discarded. A receiver that is
    /// kept but not read applies back-pressure: the job blocks on its full output pipe.
    fn run(
        &self,
        req: ExecRequest,
        logs: mpsc::Sender<LogChunk>,
        cancel: CancellationToken,
    ) -> impl std::future::Future<Output = Result<ExecResult>> + Send;
}

/// The configured backend (enum dispatch over every [`Execute`] implementation).
#[derive(Clone, Debug)]
pub enum Executor {
    /// Runs jobs as local child processes.
    Process(process::ProcessExecutor),
    /// Runs nothing and reports success; used by benchmarks.
    Noop(noop::NoopExecutor),
    /// Forwards runs to remote executors speaking the seed's client protocol.
    Http(http::HttpExecutor),
}

impl Executor {
    /// The backend of a kind (`worker.executor`) that needs no configuration; `http` gets its
    /// services' executors from [`Executor::from_config`] and has none here (every run fails).
    pub fn of_kind(kind: ExecutorKind) -> Self {
        match kind {
            ExecutorKind::Noop => Executor::Noop(noop::NoopExecutor),
            ExecutorKind::Process => Executor::Process(process::ProcessExecutor::default()),
            ExecutorKind::Http => {
                let mut config = crate::config::Config::default();
                config.services.clear();
                Executor::Http(http::HttpExecutor::from_config(&config).expect("no services: nothing can be wrong"))
            }
        }
    }

    /// The configured backend (`worker.executor`, and for `http` the services' executors).
    pub fn from_config(config: &crate::config::Config) -> std::result::Result<Self, String> {
        match config.worker.executor {
            ExecutorKind::Http => http::HttpExecutor::from_config(config).map(Executor::Http),
            ExecutorKind::Process => {
                let euid = nix::unistd::Uid::effective();
                let sandbox = sandbox::Sandbox::from_config(&config.worker, euid)?;
                Ok(Executor::Process(process::ProcessExecutor::with_sandbox(process::KILL_GRACE_DEFAULT, sandbox)))
            }
            kind => Ok(Self::of_kind(kind)),
        }
    }

    /// The kind of this backend.
    pub fn kind(&self) -> ExecutorKind {
        match self {
            Executor::Process(_) => ExecutorKind::Process,
            Executor::Noop(_) => ExecutorKind::Noop,
            Executor::Http(_) => ExecutorKind::Http,
        }
    }

    /// Runs one job on the configured backend; see [`Execute::run`].
    pub async fn run(
        &self,
        req: ExecRequest,
        logs: mpsc::Sender<LogChunk>,
        cancel: CancellationToken,
    ) -> Result<ExecResult> {
        match self {
            Executor::Process(backend) => backend.run(req, logs, cancel).await,
            Executor::Noop(backend) => backend.run(req, logs, cancel).await,
            Executor::Http(backend) => backend.run(req, logs, cancel).await,
        }
    }
}

impl From<process::ProcessExecutor> for Executor {
    fn from(backend: process::ProcessExecutor) -> Self {
        Executor::Process(backend)
    }
}

impl From<noop::NoopExecutor> for Executor {
    fn from(backend: noop::NoopExecutor) -> Self {
        Executor::Noop(backend)
    }
}

impl From<http::HttpExecutor> for Executor {
    fn from(backend: http::HttpExecutor) -> Self {
        Executor::Http(backend)
    }
}

/// A fresh name `run-<id>-<random hex>` for a run's folder or result file.
pub(crate) fn unique_run_name(run_id: i64) -> String {
    format!("run-{run_id}-{:016x}", rand::random::<u64>())
}
