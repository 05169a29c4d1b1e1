//! Typed configuration, layered: defaults, then an optional TOML file, then the environment.
//!
//! Every key can be set from the environment as `BERTH_` plus the key in upper case with dots and
//! dashes as underscores (`queue.head-timeout-seconds` → `BERTH_QUEUE_HEAD_TIMEOUT_SECONDS`). The seed
//! system's names keep working: `PORT`, `MAX_AGE`, `DATABASE_URL` and `SERVICE_<NAME>_RUNS_PER_USER`
//! (which also defines the service).
//!
//! This file holds the whole (`Config`), its loading and its checks; `sections.rs` each section's
//! keys and defaults; `env.rs` the environment layer.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

mod env;
mod sections;
#[cfg(test)]
mod tests;

pub use env::env_name;
use env::env_overrides;
pub use sections::*;

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
