//! Typed configuration, layered: defaults, then an optional TOML file, then the environment.
//!
//! Every key can be set from the environment as `BERTH_` plus the key in upper case with dots and
//! dashes as underscores (`queue.head-timeout-seconds` → `BERTH_QUEUE_HEAD_TIMEOUT_SECONDS`). The seed
//! system's names keep working: `PORT`, `MAX_AGE`, `DATABASE_URL` and `SERVICE_<NAME>_RUNS_PER_USER`
//! (which also defines the service).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::domain::Sharing;
use serde::{Deserialize, Serialize};

/// The default API port (the seed's).
pub const API_PORT_DEFAULT: u16 = 5000;
/// The default metrics port.
pub const METRICS_PORT_DEFAULT: u16 = 8000;
/// The default address of the metrics exporter: every interface.
pub const METRICS_ADDRESS_DEFAULT: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// The default upload limit: 400 MB, as in the seed.
pub const MAX_UPLOAD_BYTES_DEFAULT: u64 = 400 * 1024 * 1024;
/// The default per-user, per-service concurrency cap.
pub const RUNS_PER_USER_DEFAULT: u32 = 5;
/// The namespace every run belongs to unless it names another.
pub const NAMESPACE_DEFAULT: &str = "default";
/// The service configured when none is (so the seed's quick start works as it is).
pub const SERVICE_DEFAULT: &str = "example";

/// Seconds a finished run keeps its files: 30 days, as in the seed.
pub const RETENTION_PERIOD_DEFAULT: u64 = 30 * 24 * 3600;
/// Seconds after it finished at which a cleaned run's row is deleted: 90 days.
pub const DELETE_AFTER_DEFAULT: u64 = 90 * 24 * 3600;

/// Seconds without a heartbeat before a worker counts as dead.
pub const LEASE_TIMEOUT_SECONDS_DEFAULT: u64 = 30;

/// Errors of loading or validating configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file or a value could not be read or parsed.
    #[error(transparent)]
    Load(#[from] config::ConfigError),
    /// A value is out of its allowed range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// All of berth's configuration. Each process reads only its own sections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    /// Postgres connection string; unset means `berth dev` starts a private Postgres.
    pub database_url: Option<String>,
    /// HTTP API settings.
    pub api: ApiConfig,
    /// Prometheus exporter settings.
    pub metrics: MetricsConfig,
    /// Admission queue settings.
    pub queue: QueueConfig,
    /// Admission batch settings.
    pub settings: Settings,
    /// Retention of finished runs.
    pub job_run_cleanup: CleanupConfig,
    /// Admission switch: off treats every run as legacy flow.
    pub orchestrator: OrchestratorConfig,
    /// Services by name.
    pub services: BTreeMap<String, ServiceConfig>,
    /// The namespaces created at startup (`default` always) and their quotas.
    pub namespaces: NamespacesConfig,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// Scheduler leader settings.
    pub scheduler: SchedulerConfig,
    /// Bearer tokens and permissions on the API.
    pub auth: AuthConfig,
    /// Seconds without a heartbeat after which a worker counts as dead and loses its runs.
    pub lease_timeout_seconds: u64,
    /// Attempts a run may lose to dead workers before it fails (they are retried regardless of
    /// the job's own attempts: a dead worker is the infrastructure's fault).
    pub max_lost_attempts: u32,
}

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

impl Default for Config {
    fn default() -> Self {
        let mut services = BTreeMap::new();
        services.insert(SERVICE_DEFAULT.to_string(), ServiceConfig::default());
        Self {
            database_url: None,
            api: ApiConfig::default(),
            metrics: MetricsConfig::default(),
            queue: QueueConfig::default(),
            settings: Settings::default(),
            job_run_cleanup: CleanupConfig::default(),
            orchestrator: OrchestratorConfig::default(),
            services,
            namespaces: NamespacesConfig::default(),
            worker: WorkerConfig::default(),
            scheduler: SchedulerConfig::default(),
            auth: AuthConfig::default(),
            lease_timeout_seconds: LEASE_TIMEOUT_SECONDS_DEFAULT,
            max_lost_attempts: 3,
        }
    }
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

impl Config {
    /// Loads defaults, then `file` if given, then the variables in `env` (pass `std::env::vars()`).
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let defaults = config::Config::try_from(&Config::default())?;
        let mut builder = config::Config::builder().add_source(defaults);
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        for (key, value) in env_overrides(&env) {
            builder = builder.set_override(key, value)?;
        }
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges once at startup, so services can trust their section.
    pub fn validate(&self) -> Result<()> {
        let invalid = |m: &str| Err(Error::Invalid(m.to_string()));
        if self.queue.high.scheduling_share_percentage > 100 {
            return invalid("queue.high.scheduling-share-percentage must be between 0 and 100");
        }
        if self.settings.batch_size == 0 {
            return invalid("settings.batch-size must be at least 1");
        }
        if !matches!(self.api.seed_generation, 1 | 2) {
            return invalid("api.seed-generation must be 1 or 2");
        }
        if self.services.is_empty() {
            return invalid("at least one service must be configured");
        }
        if self.worker.pods < 1 {
            return invalid("worker.pods must be at least 1");
        }
        if self.scheduler.tick_ms == 0 || self.worker.poll_ms == 0 || self.worker.heartbeat_seconds == 0 {
            return invalid("scheduler.tick-ms, worker.poll-ms and worker.heartbeat-seconds must be positive");
        }
        if self.services.values().any(|s| s.max_attempts == 0) {
            return invalid("services.<name>.max-attempts must be at least 1");
        }
        for name in self.services.keys() {
            if let Some(Err(e)) = self.retry_policy(name).map(|p| p.check()) {
                return Err(Error::Invalid(format!("services.{name}: {e}")));
            }
        }
        let c = &self.job_run_cleanup;
        if c.interval_seconds == 0 || c.batch_size == 0 || c.batches_per_pass == 0 {
            return invalid("job-run-cleanup.interval-seconds, batch-size and batches-per-pass must be at least 1");
        }
        if self.worker.executor == crate::domain::ExecutorKind::Http {
            if self.worker.http_poll_ms == 0 || self.worker.http_request_timeout_seconds == 0 {
                return invalid("worker.http-poll-ms and worker.http-request-timeout-seconds must be positive");
            }
            for (name, service) in &self.services {
                if let Err(e) = crate::executor::http::endpoints_of(service) {
                    return Err(Error::Invalid(format!("services.{name}: {e}")));
                }
            }
        }
        let w = &self.worker;
        match crate::executor::sandbox::identity_of(&w.run_as_user, &w.run_as_uids) {
            Err(e) => return Err(Error::Invalid(e)),
            Ok(crate::executor::sandbox::Identity::Uids { count, .. }) if i64::from(count) < w.pods => {
                return invalid("worker.run-as-uids must hold at least worker.pods uids (one per slot)");
            }
            Ok(_) => {}
        }
        if w.max_processes == 0 || w.max_open_files < 16 {
            return invalid("worker.max-processes must be positive and worker.max-open-files at least 16");
        }
        if self.max_lost_attempts == 0 {
            return invalid("max-lost-attempts must be at least 1");
        }
        if self.lease_timeout_seconds <= self.worker.heartbeat_seconds {
            return invalid("lease-timeout-seconds must be longer than worker.heartbeat-seconds");
        }
        for (name, quota, _) in self.namespaces.at_startup() {
            if !namespace_name_ok(&name) {
                return Err(Error::Invalid(format!(
                    "namespace {name:?} must be 1 to 63 letters, digits, dashes, underscores or dots"
                )));
            }
            if [quota.cpu, quota.memory, quota.pods, quota.storage].iter().any(|v| *v < 0) {
                return Err(Error::Invalid(format!("the quota of namespace {name:?} must not be negative")));
            }
        }
        Ok(())
    }

    /// The retry policy runs of `service` are submitted with, if the service is configured.
    pub fn retry_policy(&self, service: &str) -> Option<crate::retry::RetryPolicy> {
        self.services.get(service).map(|s| crate::retry::RetryPolicy {
            max_attempts: i32::try_from(s.max_attempts).unwrap_or(i32::MAX),
            backoff_seconds: s.retry_backoff_seconds,
            backoff_max_seconds: s.retry_backoff_max_seconds,
        })
    }

    /// The per-user cap of `service`, if the service is configured.
    pub fn runs_per_user(&self, service: &str) -> Option<u32> {
        self.services.get(service).map(|s| s.runs_per_user)
    }
}

/// Whether `name` can name a namespace: 1 to 63 letters, digits, dashes, underscores or dots.
pub fn namespace_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// The configuration keys set by `env`, with their string values.
fn env_overrides(env: &[(String, String)]) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    if let Ok(value) = serde_json::to_value(Config::default()) {
        leaf_keys(&value, String::new(), &mut keys);
    }
    let mut out = Vec::new();
    for (name, value) in env {
        if let Some(key) = seed_key(name) {
            out.push((key, value.clone()));
        }
    }
    for key in keys {
        let name = env_name(&key);
        if let Some((_, value)) = env.iter().find(|(n, _)| *n == name) {
            out.push((key, value.clone()));
        }
    }
    out
}

/// The environment variable name of a configuration key.
pub fn env_name(key: &str) -> String {
    format!("BERTH_{}", key.to_uppercase().replace(['.', '-'], "_"))
}

/// Maps the seed system's environment names onto configuration keys.
fn seed_key(name: &str) -> Option<String> {
    match name {
        "PORT" => Some("api.port".into()),
        "MAX_AGE" => Some("job-run-cleanup.retention-period".into()),
        "DATABASE_URL" => Some("database-url".into()),
        _ => {
            let rest = name.strip_prefix("SERVICE_")?;
            let (service, key) = [
                ("_RUNS_PER_USER", "runs-per-user"),
                ("_UPLOAD_URL", "upload-url"),
                ("_DOWNLOAD_URL", "download-url"),
                ("_TERMINATE_URL", "terminate-url"),
            ]
            .iter()
            .find_map(|(suffix, key)| rest.strip_suffix(suffix).map(|s| (s, *key)))?;
            if service.is_empty() {
                return None;
            }
            Some(format!("services.{}.{key}", service.to_lowercase()))
        }
    }
}

fn leaf_keys(value: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                // Map-valued sections are keyed by user data (service names); their keys are not fixed.
                if prefix.is_empty() && k == "services" {
                    continue;
                }
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaf_keys(v, key, out);
            }
        }
        _ => out.push(prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.queue.high.scheduling_share_percentage, 90);
        assert_eq!(c.queue.head_timeout_seconds, 3600);
        assert_eq!(c.queue.head_retry_count, 0);
        assert_eq!(c.settings.batch_size, 20);
        assert!(c.job_run_cleanup.enabled);
        assert_eq!(c.job_run_cleanup.retention_period, 2_592_000);
        assert_eq!(c.job_run_cleanup.delete_after, 7_776_000);
        assert_eq!(c.api.port, 5000);
        assert_eq!(c.metrics.port, 8000);
        assert_eq!(c.metrics.listen(), "0.0.0.0:8000".parse().unwrap());
        assert_eq!(c.runs_per_user("example"), Some(5));
    }

    #[test]
    fn berth_env_names_override_any_key() {
        let c = Config::load(
            None,
            env(&[
                ("BERTH_QUEUE_HEAD_TIMEOUT_SECONDS", "2"),
                ("BERTH_QUEUE_HIGH_SCHEDULING_SHARE_PERCENTAGE", "75"),
                ("BERTH_SETTINGS_BATCH_SIZE", "7"),
                ("BERTH_METRICS_ADDRESS", "127.0.0.1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.metrics.listen(), "127.0.0.1:8000".parse().unwrap());
        assert_eq!(c.queue.head_timeout_seconds, 2);
        assert_eq!(c.queue.high.scheduling_share_percentage, 75);
        assert_eq!(c.settings.batch_size, 7);
    }

    #[test]
    fn seed_env_names_keep_working() {
        let c = Config::load(
            None,
            env(&[
                ("PORT", "9999"),
                ("SERVICE_HADDOCK_RUNS_PER_USER", "3"),
                ("SERVICE_EXAMPLE_RUNS_PER_USER", "10"),
                ("MAX_AGE", "60"),
            ]),
        )
        .unwrap();
        assert_eq!(c.api.port, 9999);
        assert_eq!(c.runs_per_user("haddock"), Some(3));
        assert_eq!(c.runs_per_user("example"), Some(10));
        assert_eq!(c.job_run_cleanup.retention_period, 60);
        assert_eq!(c.services["haddock"].pods, 1, "a service defined by env gets the other defaults");
        let c = Config::load(
            None,
            env(&[
                ("SERVICE_HADDOCK_UPLOAD_URL", "http://a:9000/submit,http://b:9000/submit"),
                ("SERVICE_HADDOCK_DOWNLOAD_URL", "http://a:9000/retrieve,http://b:9000/retrieve"),
                ("SERVICE_HADDOCK_TERMINATE_URL", "http://a:9000/kill,http://b:9000/kill"),
                ("BERTH_WORKER_EXECUTOR", "http"),
            ]),
        )
        .unwrap();
        assert_eq!(c.services["haddock"].upload_url, "http://a:9000/submit,http://b:9000/submit");
        assert_eq!(c.services["haddock"].terminate_url, "http://a:9000/kill,http://b:9000/kill");
        assert!(
            Config::load(
                None,
                env(&[
                    ("SERVICE_HADDOCK_UPLOAD_URL", "http://a:9000/submit,http://b:9000/submit"),
                    ("SERVICE_HADDOCK_DOWNLOAD_URL", "http://a:9000/retrieve"),
                    ("BERTH_WORKER_EXECUTOR", "http"),
                ]),
            )
            .is_err(),
            "a download list that does not match the upload list is a startup error"
        );
    }

    #[test]
    fn auth_is_unset_unless_said() {
        assert_eq!(Config::load(None, env(&[])).unwrap().auth.enabled, None);
        assert_eq!(Config::load(None, env(&[("BERTH_AUTH_ENABLED", "false")])).unwrap().auth.enabled, Some(false));
        assert_eq!(Config::load(None, env(&[("BERTH_AUTH_ENABLED", "true")])).unwrap().auth.enabled, Some(true));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.toml");
        std::fs::write(&path, "[auth]\nenabled = true\n").unwrap();
        assert!(Config::load(Some(&path), env(&[])).unwrap().auth.on());
    }

    #[test]
    fn out_of_range_values_are_startup_errors() {
        assert!(Config::load(None, env(&[("BERTH_QUEUE_HIGH_SCHEDULING_SHARE_PERCENTAGE", "101")])).is_err());
        assert!(Config::load(None, env(&[("BERTH_SETTINGS_BATCH_SIZE", "0")])).is_err());
        assert!(Config::load(None, env(&[("PORT", "not-a-port")])).is_err());
    }

    #[test]
    fn a_file_sits_between_defaults_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.toml");
        std::fs::write(&path, "[settings]\nbatch-size = 50\n[services.gpu]\nruns-per-user = 2\n").unwrap();
        let c = Config::load(Some(&path), env(&[("BERTH_SETTINGS_BATCH_SIZE", "60")])).unwrap();
        assert_eq!(c.settings.batch_size, 60);
        assert_eq!(c.runs_per_user("gpu"), Some(2));
        assert_eq!(c.runs_per_user("example"), Some(5));
    }

    #[test]
    fn namespaces_are_declared_under_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.toml");
        let text = "[namespaces.default-quota]\npods = 10\n[namespaces.etl]\nsharing = \"fair\"\n\
                    [namespaces.gpu.quota]\ncpu = 8000\n";
        std::fs::write(&path, text).unwrap();
        let c = Config::load(Some(&path), env(&[])).unwrap();
        let ten = QuotaConfig { pods: 10, ..QuotaConfig::default() };
        let gpu = QuotaConfig { cpu: 8000, ..QuotaConfig::default() };
        assert_eq!(
            c.namespaces.at_startup(),
            vec![
                ("default".to_string(), ten, Sharing::Fifo),
                ("etl".to_string(), ten, Sharing::Fair),
                ("gpu".to_string(), gpu, Sharing::Fifo)
            ]
        );
        assert_eq!(Config::load(None, env(&[])).unwrap().namespaces.at_startup().len(), 1, "default always");
        std::fs::write(&path, "[namespaces.etl]\nsharing = \"round-robin\"\n").unwrap();
        assert!(Config::load(Some(&path), env(&[])).is_err(), "an unknown sharing");
        std::fs::write(&path, "[namespaces.\"a b\"]\n").unwrap();
        assert!(Config::load(Some(&path), env(&[])).is_err(), "a name the API would refuse");
    }
}
