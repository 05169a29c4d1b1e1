//! The sections of the configuration (`[api]`, `[worker]`, `[services.<name>]`, ...): their keys,
//! with what each one means, and their defaults.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{
    API_PORT_DEFAULT, DELETE_AFTER_DEFAULT, MAX_UPLOAD_BYTES_DEFAULT, METRICS_ADDRESS_DEFAULT, METRICS_PORT_DEFAULT,
    NAMESPACE_DEFAULT, RETENTION_PERIOD_DEFAULT, RUNS_PER_USER_DEFAULT,
};
use crate::domain::Sharing;

/// HTTP API settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ApiConfig {
    /// Listen port (seed env `PORT`).
    pub port: u16,
    /// Largest accepted upload body, in bytes.
    pub max_upload_bytes: u64,
    /// Which generation of the seed's server `GET /download/{id}` answers like where the two
    /// differ: 2 (the default, berth's behaviour so far) answers 200 with the JSON status until
    /// the zip and a non-zero exit as `Failed`; 1 answers 202 while the run is not done and gives
    /// the zip of a run that ran and exited non-zero. See docs/executors.md.
    pub seed_generation: u8,
}

/// Bearer tokens and permissions (`docs/security.md`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct AuthConfig {
    /// When true, every route but `/health` needs a valid token and the permission it names;
    /// when false, every caller may do everything. Unset: `berth dev` runs with auth off (and says
    /// so), `berth api` refuses to start, so that no API is exposed without tokens by accident.
    pub enabled: Option<bool>,
}

impl AuthConfig {
    /// Whether tokens are required (unset counts as off; `berth api` never starts unset).
    pub fn on(&self) -> bool {
        self.enabled.unwrap_or(false)
    }
}

/// Prometheus exporter settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct MetricsConfig {
    /// Port of this process's `/metrics`; 0 disables the exporter.
    pub port: u16,
    /// Address the exporter listens on (`0.0.0.0`: every interface; `127.0.0.1`: this machine only).
    pub address: IpAddr,
}

impl MetricsConfig {
    /// Where the exporter listens.
    pub fn listen(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// Admission queue settings (DESIGN §4).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct QueueConfig {
    /// The high-priority queue.
    pub high: HighQueueConfig,
    /// Seconds a run may block the head of its queue before it is retried or cancelled.
    pub head_timeout_seconds: u64,
    /// Head-timeout retries before cancelling; 0 cancels at the first timeout.
    pub head_retry_count: u32,
    /// Cool-down after a head-timeout retry, in seconds.
    pub head_retry_backoff_seconds: u64,
}

/// The high-priority queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct HighQueueConfig {
    /// Percentage of admissions given to high priority while both queues have work.
    pub scheduling_share_percentage: u8,
}

/// Admission batch settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Settings {
    /// Most admissions per cycle.
    pub batch_size: usize,
}

/// Retention of finished runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct CleanupConfig {
    /// Whether old runs are cleaned.
    pub enabled: bool,
    /// Seconds a finished run keeps its files (seed env `MAX_AGE`).
    pub retention_period: u64,
    /// Seconds after it finished at which a cleaned run's row, attempts and events are deleted
    /// (never before the retention period is over).
    pub delete_after: u64,
    /// Seconds between two passes of the retention duty.
    pub interval_seconds: u64,
    /// Most runs one cleaning or deletion statement handles.
    pub batch_size: u32,
    /// Most statements of each kind per pass (the leader runs the pass again at once while the
    /// last batch was full, between its other duties).
    pub batches_per_pass: u32,
    /// Milliseconds between two passes while there is more to clean (0: at once). Above 0, a pass
    /// also runs at most one statement of each kind, so the work is spread over time.
    pub pace_ms: u64,
}

/// Admission switch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct OrchestratorConfig {
    /// When false, every run is admitted on insert (legacy flow).
    pub enabled: bool,
}

/// A service: a kind of work routed to workers that declare it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", default)]
pub struct ServiceConfig {
    /// Concurrent runs per user of this service (seed env `SERVICE_<NAME>_RUNS_PER_USER`).
    pub runs_per_user: u32,
    /// Default cpu request, millicores.
    pub cpu: i64,
    /// Default memory request, MiB.
    pub memory: i64,
    /// Default pods request.
    pub pods: i64,
    /// Default storage request, MiB.
    pub storage: i64,
    /// Default maximum execution time in seconds; unset means none.
    pub timeout_seconds: Option<u32>,
    /// Attempts a run of this service gets (failures and timeouts are retried until used up).
    pub max_attempts: u32,
    /// First retry back-off in seconds; doubles per attempt, with jitter.
    pub retry_backoff_seconds: f64,
    /// Longest retry back-off in seconds.
    pub retry_backoff_max_seconds: f64,
    /// `http` executor: base URLs (`http://host:9000`) of this service's remote executors,
    /// comma-separated; each gives `/submit`, `/retrieve`, `/retrieve_partial`, `/kill` and `/load`.
    pub executors: String,
    /// `http` executor: the executors' submit URLs, comma-separated (seed env
    /// `SERVICE_<NAME>_UPLOAD_URL`); added to [`ServiceConfig::executors`].
    pub upload_url: String,
    /// `http` executor: their retrieve URLs, in the same order (seed env `SERVICE_<NAME>_DOWNLOAD_URL`);
    /// unset: the submit URL's base plus `/retrieve`.
    pub download_url: String,
    /// `http` executor: their kill URLs, in the same order (seed 2.x env `SERVICE_<NAME>_TERMINATE_URL`);
    /// unset: none (a cancelled run is only stopped being watched).
    pub terminate_url: String,
    /// `http` executor: runs each executor of this service is given at once; 0: no limit.
    pub executor_slots: u32,
}

/// A namespace quota in the four dimensions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", default)]
pub struct QuotaConfig {
    /// Millicores.
    pub cpu: i64,
    /// MiB.
    pub memory: i64,
    /// Pods.
    pub pods: i64,
    /// MiB.
    pub storage: i64,
}

/// Namespaces: `default` always exists; the others exist because an operator created them, with
/// `PUT /api/v1/namespaces/{name}` or here (`[namespaces.etl]`, optionally with a `quota`). The API
/// creates `default` and the configured ones when it starts, each unless it exists: a quota set
/// since (by `PUT`) is kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct NamespacesConfig {
    /// Quota of `default`, and of configured namespaces that name none, when they are created.
    pub default_quota: QuotaConfig,
    /// Namespaces to create at startup, by name (every other key of `[namespaces]`).
    #[serde(flatten)]
    pub named: BTreeMap<String, NamespaceConfig>,
}

/// A namespace declared in configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", default)]
pub struct NamespaceConfig {
    /// Its quota when created; `namespaces.default-quota` when unset.
    pub quota: Option<QuotaConfig>,
    /// How it shares its queues between users when created (`fifo` when unset; `fair`: users take
    /// turns). `PUT /api/v1/namespaces/{name}` changes it later.
    pub sharing: Option<Sharing>,
}

impl NamespacesConfig {
    /// What to create at startup: `default`, then every configured namespace, with its quota and
    /// sharing.
    pub fn at_startup(&self) -> Vec<(String, QuotaConfig, Sharing)> {
        let mut out = vec![(NAMESPACE_DEFAULT.to_string(), self.default_quota, Sharing::Fifo)];
        for (name, ns) in &self.named {
            let quota = ns.quota.unwrap_or(self.default_quota);
            let sharing = ns.sharing.unwrap_or(Sharing::Fifo);
            match out.iter_mut().find(|(n, _, _)| n == name) {
                Some(existing) => (existing.1, existing.2) = (quota, sharing),
                None => out.push((name.clone(), quota, sharing)),
            }
        }
        out
    }
}

/// Worker settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct WorkerConfig {
    /// Name shown in `GET /api/v1/workers`; empty means the host name and pid.
    pub name: String,
    /// Services this worker runs; empty means every configured service.
    pub services: Vec<String>,
    /// Capacity: millicores; 0 means the machine's cores.
    pub cpu: i64,
    /// Capacity: MiB; 0 means the machine's memory.
    pub memory: i64,
    /// Capacity: concurrent runs.
    pub pods: i64,
    /// Capacity: MiB of scratch storage.
    pub storage: i64,
    /// Seconds between heartbeats.
    pub heartbeat_seconds: u64,
    /// Milliseconds between claims when no notification arrives (polling fallback).
    pub poll_ms: u64,
    /// Folder for run directories and result zips; empty means the system temp folder.
    pub scratch_dir: PathBuf,
    /// Executor backend: `process` (run.sh with bash), `http` (a remote executor speaking the
    /// seed's client protocol; see `docs/executors.md`) or `noop` (benchmarks).
    pub executor: crate::domain::ExecutorKind,
    /// `http` executor: milliseconds between two polls of a remote run.
    pub http_poll_ms: u64,
    /// `http` executor: seconds one request to a remote executor may take.
    pub http_request_timeout_seconds: u64,
    /// Seconds a stopping worker lets running attempts finish before handing them back.
    pub drain_timeout_seconds: f64,
    /// `process` executor: the user every job runs as (a name or a numeric uid). A worker started
    /// as root needs this or `run-as-uids`; see `docs/security.md`.
    pub run_as_user: String,
    /// `process` executor: a range of uids such as `60000-60063`, one per slot (at least
    /// `worker.pods` of them; they need no passwd entry), so concurrent jobs are apart.
    pub run_as_uids: String,
    /// `process` executor: `host` (the job shares the machine's network) or `none` (an empty
    /// network namespace of its own; needs root).
    pub network: crate::domain::NetworkMode,
    /// `process` executor: processes (and threads) a job's user may have at once (`RLIMIT_NPROC`).
    pub max_processes: u64,
    /// `process` executor: files one process of a job may hold open (`RLIMIT_NOFILE`).
    pub max_open_files: u64,
}

/// Scheduler leader settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SchedulerConfig {
    /// Milliseconds between admission cycles when no notification arrives.
    pub tick_ms: u64,
    /// Seconds an admitted run may wait for a worker before it goes back to the queue.
    pub startup_timeout_seconds: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { port: API_PORT_DEFAULT, max_upload_bytes: MAX_UPLOAD_BYTES_DEFAULT, seed_generation: 2 }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { port: METRICS_PORT_DEFAULT, address: METRICS_ADDRESS_DEFAULT }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            high: HighQueueConfig::default(),
            head_timeout_seconds: 3600,
            head_retry_count: 0,
            head_retry_backoff_seconds: 60,
        }
    }
}

impl Default for HighQueueConfig {
    fn default() -> Self {
        Self { scheduling_share_percentage: 90 }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self { batch_size: 20 }
    }
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_period: RETENTION_PERIOD_DEFAULT,
            delete_after: DELETE_AFTER_DEFAULT,
            interval_seconds: 60,
            batch_size: 500,
            batches_per_pass: 4,
            pace_ms: 0,
        }
    }
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            runs_per_user: RUNS_PER_USER_DEFAULT,
            cpu: 0,
            memory: 0,
            pods: 1,
            storage: 0,
            timeout_seconds: None,
            max_attempts: 1,
            retry_backoff_seconds: crate::retry::BACKOFF_SECONDS_DEFAULT,
            retry_backoff_max_seconds: crate::retry::BACKOFF_MAX_SECONDS_DEFAULT,
            executors: String::new(),
            upload_url: String::new(),
            download_url: String::new(),
            terminate_url: String::new(),
            executor_slots: 0,
        }
    }
}

impl Default for QuotaConfig {
    /// Effectively unlimited: a namespace is limited only when someone sets its quota.
    fn default() -> Self {
        Self {
            cpu: i64::from(i32::MAX),
            memory: i64::from(i32::MAX),
            pods: i64::from(i32::MAX),
            storage: i64::from(i32::MAX),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            services: Vec::new(),
            cpu: 0,
            memory: 0,
            pods: 8,
            storage: 100 * 1024,
            heartbeat_seconds: 5,
            poll_ms: 1000,
            scratch_dir: PathBuf::new(),
            executor: crate::domain::ExecutorKind::Process,
            http_poll_ms: 500,
            http_request_timeout_seconds: 30,
            drain_timeout_seconds: 30.0,
            run_as_user: String::new(),
            run_as_uids: String::new(),
            network: crate::domain::NetworkMode::Host,
            max_processes: crate::executor::limits::MAX_PROCESSES_DEFAULT,
            max_open_files: crate::executor::limits::MAX_OPEN_FILES_DEFAULT,
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { tick_ms: 1000, startup_timeout_seconds: 60 }
    }
}
