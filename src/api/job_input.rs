//! A job definition as a client sends it: JSON, or a multipart form whose text fields carry the
//! same names and values (`-F name=… -F cpu=500 -F 'tags={"team":"ml"}' -F file=@run.sh`), checked
//! field by field into a [`JobSpec`]. Every refusal is a 400 that names the field and the rule.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use serde::{Deserialize, Serialize};

use super::{AppState, Error, Result};
use crate::config::Config;
use crate::domain::{Flow, JobKind, Priority, RestartPolicy};
use crate::resources::Resources;
use crate::retry::{RestartSettings, RetryPolicy};
use crate::store::jobs::{JobRow, JobSpec};
use crate::workflow::Step;

/// Longest job name (the seed's).
pub const NAME_MAX_CHARS: usize = 255;
/// Most bytes of a job's command, args and env together (each run copies them, and a process's
/// arguments and environment are bounded by the kernel).
pub const PAYLOAD_MAX_BYTES: usize = 64 * 1024;
/// Most labels on a job.
pub const TAGS_MAX: usize = 64;
/// Longest description.
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;

/// A job definition: every field of `POST /api/v1/jobs` (all optional for `PATCH`). Unknown fields
/// are refused. `GET /api/v1/jobs/{id}/template` answers this shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobBody {
    /// 1–255 letters, digits, dashes, underscores, dots and spaces; unique in its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text, at most 10,000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// `batch` (the default) or `streaming` (runs until aborted: no schedule, no `timeout_seconds`,
    /// no retries of its own; its restart policy decides what follows an end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<JobKind>,
    /// A configured service (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// An existing namespace (default `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The user its runs count against (default: whoever creates it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `high` or `normal` (default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// `priority` (default: through admission) or `legacy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    /// Millicores per run (default: the service's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub cpu: Option<i64>,
    /// MiB of memory per run (default: the service's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub memory: Option<i64>,
    /// Pods per run (default: the service's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub pods: Option<i64>,
    /// MiB of scratch storage per run (default: the service's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub storage: Option<i64>,
    /// Command line instead of `run.sh` (argv; argv\[0\] looked up in PATH). An empty list removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Arguments appended to the command (or to `bash run.sh`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Environment of every run (names: letters, digits and underscores, not starting with a digit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// Maximum execution time in seconds; 0 removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub timeout_seconds: Option<i32>,
    /// Attempts per run (default: the service's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_attempts: Option<i32>,
    /// Back-off before the first retry, in seconds (doubles with each attempt).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub retry_backoff_seconds: Option<f64>,
    /// Longest back-off, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub retry_backoff_max_seconds: Option<f64>,
    /// Labels in Kubernetes syntax: keys `[prefix/]name` (name 1–63 characters), values up to 63.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Streaming jobs only: `never` (default), `always` (after any end but an abort) or `on_failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Streaming jobs only: restarts after submission failures (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub submission_retries: Option<i32>,
    /// Streaming jobs only: seconds before a restart after a submission failure (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub submission_retry_interval: Option<f64>,
    /// Streaming jobs only: restarts after execution failures (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub failure_retries: Option<i32>,
    /// Streaming jobs only: seconds before a restart after an execution failure, or after any end
    /// under `always` (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub failure_retry_interval: Option<f64>,
    /// A workflow's steps (kind `workflow` only): stored batch jobs with `depends_on` edges
    /// (docs/workflows.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
}

/// The multipart form of the job routes (for the document): the fields of [`JobBody`] as text
/// (numbers as digits, lists and maps as JSON) and the files.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema for the document, never built
pub struct JobForm {
    /// Job name.
    name: Option<String>,
    /// A configured service.
    service: Option<String>,
    /// Any other field of the JSON body, as text.
    namespace: Option<String>,
    /// The job's files; one must be `run.sh` unless a command is given. Repeat for each file.
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
}

/// What a client sent: the fields, and the files when the body was a multipart form.
pub struct Sent {
    /// The fields.
    pub body: JobBody,
    /// `(path, bytes)` of each file part; empty for JSON.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Fields that stay text in a multipart form (the others are read as JSON when they parse).
const TEXT_FIELDS: [&str; 9] =
    ["name", "description", "kind", "service", "namespace", "user", "priority", "flow", "restart_policy"];

/// Reads a JSON body or a multipart form into the same fields.
pub async fn read(state: &AppState, req: Request) -> Result<Sent> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let limit = state.config.api.max_upload_bytes;
        let Json(body) = Json::<JobBody>::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge { limit }
            } else {
                Error::bad_request("invalid_body", e.body_text())
            }
        })?;
        return Ok(Sent { body, files: Vec::new() });
    }
    let mut form =
        Multipart::from_request(req, state).await.map_err(|e| Error::bad_request("bad_multipart", e.body_text()))?;
    let mut fields = serde_json::Map::new();
    let mut files = Vec::new();
    let limit = state.config.api.max_upload_bytes;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge { limit }
        } else {
            Error::bad_request("bad_multipart", format!("the multipart body cannot be read: {}", e.body_text()))
        }
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let path = field.file_name().unwrap_or_default().to_string();
            files.push((path, field.bytes().await.map_err(bad)?.to_vec()));
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        let value = if TEXT_FIELDS.contains(&name.as_str()) {
            serde_json::Value::String(text)
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        fields.insert(name, value);
    }
    let body = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| Error::bad_request("invalid_field", e.to_string()))?;
    Ok(Sent { body, files })
}

impl JobBody {
    /// The body that recreates `job` (its template): every field set.
    pub fn of(job: &JobSpec) -> Self {
        JobBody {
            name: Some(job.name.clone()),
            description: Some(job.description.clone()),
            kind: Some(job.kind),
            service: Some(job.service.clone()),
            namespace: Some(job.namespace.clone()),
            user: Some(job.run_as.clone()),
            priority: Some(job.priority),
            flow: Some(job.flow),
            cpu: Some(job.request.cpu),
            memory: Some(job.request.memory),
            pods: Some(job.request.pods),
            storage: Some(job.request.storage),
            command: job.command.clone(),
            args: Some(job.args.clone()),
            env: Some(job.env.clone()),
            timeout_seconds: job.timeout_seconds,
            max_attempts: Some(job.retry.max_attempts),
            retry_backoff_seconds: Some(job.retry.backoff_seconds),
            retry_backoff_max_seconds: Some(job.retry.backoff_max_seconds),
            tags: Some(job.tags.clone()),
            restart_policy: job.restart.map(|r| r.restart_policy),
            submission_retries: job.restart.map(|r| r.submission_retries),
            submission_retry_interval: job.restart.map(|r| r.submission_retry_interval),
            failure_retries: job.restart.map(|r| r.failure_retries),
            failure_retry_interval: job.restart.map(|r| r.failure_retry_interval),
            steps: (job.kind == JobKind::Workflow).then(|| job.steps.clone()),
        }
    }

    /// `self` over `base`: the fields `self` sets replace those of `base` (a PATCH).
    pub fn over(self, base: JobBody) -> JobBody {
        JobBody {
            name: self.name.or(base.name),
            description: self.description.or(base.description),
            kind: self.kind.or(base.kind),
            service: self.service.or(base.service),
            namespace: self.namespace.or(base.namespace),
            user: self.user.or(base.user),
            priority: self.priority.or(base.priority),
            flow: self.flow.or(base.flow),
            cpu: self.cpu.or(base.cpu),
            memory: self.memory.or(base.memory),
            pods: self.pods.or(base.pods),
            storage: self.storage.or(base.storage),
            command: self.command.or(base.command),
            args: self.args.or(base.args),
            env: self.env.or(base.env),
            timeout_seconds: self.timeout_seconds.or(base.timeout_seconds),
            max_attempts: self.max_attempts.or(base.max_attempts),
            retry_backoff_seconds: self.retry_backoff_seconds.or(base.retry_backoff_seconds),
            retry_backoff_max_seconds: self.retry_backoff_max_seconds.or(base.retry_backoff_max_seconds),
            tags: self.tags.or(base.tags),
            restart_policy: self.restart_policy.or(base.restart_policy),
            submission_retries: self.submission_retries.or(base.submission_retries),
            submission_retry_interval: self.submission_retry_interval.or(base.submission_retry_interval),
            failure_retries: self.failure_retries.or(base.failure_retries),
            failure_retry_interval: self.failure_retry_interval.or(base.failure_retry_interval),
            steps: self.steps.or(base.steps),
        }
    }

    /// Checks every field and fills the defaults (the service's resources and retries; `creator`
    /// as the run-as user). `has_files`: the job has files (sent now or kept), so `run.sh` may
    /// replace a command.
    pub fn into_spec(self, config: &Config, creator: &str, files: FilesCheck) -> Result<JobSpec> {
        let kind = self.kind.unwrap_or(JobKind::Batch);
        let restart = self.restart_settings(kind)?;
        let steps = match (kind, self.steps) {
            (JobKind::Workflow, Some(steps)) => steps,
            (JobKind::Workflow, None) => {
                return Err(Error::bad_request("missing_field", "steps is required for a workflow"));
            }
            (_, Some(_)) => return Err(Error::bad_request("invalid_field", "steps are for kind workflow only")),
            (_, None) => Vec::new(),
        };
        if kind == JobKind::Workflow {
            // A workflow runs its steps' jobs: it has no payload of its own.
            if self.command.as_ref().is_some_and(|c| !c.is_empty()) || files != FilesCheck::None {
                return Err(Error::bad_request(
                    "invalid_field",
                    "a workflow has no command or files of its own: its steps' jobs have them",
                ));
            }
            return Ok(JobSpec {
                steps,
                // The other fields follow the batch rules; the service (unused: each step runs on
                // its job's) defaults to a configured one.
                ..Self {
                    kind: Some(JobKind::Batch),
                    steps: None,
                    command: Some(vec!["true".into()]),
                    service: self.service.clone().or_else(|| config.services.keys().next().cloned()),
                    ..self
                }
                .into_spec(config, creator, FilesCheck::None)
                .map(|s| JobSpec { kind, command: None, ..s })?
            });
        }
        let name = self.name.ok_or_else(|| Error::bad_request("missing_field", "name is required"))?;
        check_name(&name)?;
        let service = self.service.ok_or_else(|| Error::bad_request("missing_field", "service is required"))?;
        let Some(defaults) = config.services.get(&service) else {
            let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
            return Err(Error::bad_request(
                "unknown_service",
                format!("service {service:?} is not configured; configured services: {}", known.join(", ")),
            ));
        };
        let namespace = self.namespace.unwrap_or_else(|| crate::config::NAMESPACE_DEFAULT.into());
        super::seed::check_namespace_name(&namespace)?;
        let run_as = self.user.unwrap_or_else(|| creator.to_string());
        if run_as.is_empty() || run_as.chars().count() > NAME_MAX_CHARS || run_as.chars().any(char::is_control) {
            return Err(Error::bad_request("invalid_field", "user must be 1 to 255 printable characters"));
        }
        let amount = |name: &str, value: Option<i64>, default: i64| -> Result<i64> {
            match value {
                None => Ok(default),
                Some(v) if v >= 0 => Ok(v),
                Some(v) => Err(Error::bad_request("invalid_field", format!("{name} must be 0 or more, got {v}"))),
            }
        };
        let request = Resources {
            cpu: amount("cpu", self.cpu, defaults.cpu)?,
            memory: amount("memory", self.memory, defaults.memory)?,
            pods: amount("pods", self.pods, defaults.pods)?,
            storage: amount("storage", self.storage, defaults.storage)?,
        };
        let command = self.command.filter(|c| !c.is_empty());
        if let Some(c) = &command
            && (c[0].trim().is_empty() || c.iter().any(|a| a.contains('\0')))
        {
            return Err(Error::bad_request("invalid_field", "command must start with a program and hold no NUL byte"));
        }
        match files {
            FilesCheck::WithRunSh => {}
            FilesCheck::WithoutRunSh if command.is_some() => {}
            FilesCheck::None if command.is_some() => {}
            FilesCheck::WithoutRunSh => {
                return Err(Error::bad_request("missing_run_sh", "without a command, one of the files must be run.sh"));
            }
            FilesCheck::None => {
                return Err(Error::bad_request(
                    "missing_payload",
                    "a job needs files with a run.sh (a multipart form) or a command",
                ));
            }
        }
        let args = self.args.unwrap_or_default();
        if args.iter().any(|a| a.contains('\0')) {
            return Err(Error::bad_request("invalid_field", "args must hold no NUL byte"));
        }
        let env = self.env.unwrap_or_default();
        for (k, v) in &env {
            let ok = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !v.contains('\0');
            if !ok {
                return Err(Error::bad_request(
                    "invalid_field",
                    format!(
                        "env {k:?}: names are letters, digits and underscores, not starting with a digit; values hold no NUL byte"
                    ),
                ));
            }
        }
        let timeout_seconds = match self.timeout_seconds {
            None | Some(0) => None,
            Some(_) if kind == JobKind::Streaming => {
                return Err(Error::bad_request(
                    "invalid_field",
                    "timeout_seconds: a streaming job has no maximum duration (it runs until aborted)",
                ));
            }
            Some(t) if t > 0 => Some(t),
            Some(t) => {
                return Err(Error::bad_request("invalid_field", format!("timeout_seconds must be 0 or more, got {t}")));
            }
        };
        if kind == JobKind::Streaming && self.max_attempts.is_some_and(|n| n != 1) {
            return Err(Error::bad_request(
                "invalid_field",
                "max_attempts: a streaming job is restarted by its restart_policy, not retried",
            ));
        }
        let service_retry = if kind == JobKind::Streaming {
            RetryPolicy::default()
        } else {
            config.retry_policy(&service).unwrap_or_default()
        };
        let retry = RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(service_retry.max_attempts),
            backoff_seconds: self.retry_backoff_seconds.unwrap_or(service_retry.backoff_seconds),
            backoff_max_seconds: self.retry_backoff_max_seconds.unwrap_or(service_retry.backoff_max_seconds),
        };
        retry.check().map_err(|message| Error::bad_request("invalid_field", message))?;
        let payload_bytes: usize = command.iter().flatten().chain(&args).map(String::len).sum::<usize>()
            + env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if payload_bytes > PAYLOAD_MAX_BYTES {
            return Err(Error::bad_request(
                "invalid_field",
                format!(
                    "command, args and env together must be at most {PAYLOAD_MAX_BYTES} bytes, got {payload_bytes}"
                ),
            ));
        }
        let tags = self.tags.unwrap_or_default();
        if tags.len() > TAGS_MAX {
            return Err(Error::bad_request("invalid_label", format!("tags: at most {TAGS_MAX} labels")));
        }
        for (k, v) in &tags {
            check_label(k, v)?;
        }
        let description = self.description.unwrap_or_default();
        if description.chars().count() > DESCRIPTION_MAX_CHARS || description.contains('\0') {
            return Err(Error::bad_request(
                "invalid_field",
                format!("description must be at most {DESCRIPTION_MAX_CHARS} characters, without NUL bytes"),
            ));
        }
        Ok(JobSpec {
            name,
            description,
            kind,
            service,
            namespace,
            run_as,
            priority: self.priority.unwrap_or(Priority::Normal),
            flow: self.flow.unwrap_or(Flow::Priority),
            request,
            command,
            args,
            env,
            timeout_seconds,
            retry,
            tags,
            restart,
            steps,
        })
    }

    /// The restart policy of a streaming job (the seed's defaults for what it leaves out); `None`
    /// for a batch job, which may not set any of its fields.
    fn restart_settings(&self, kind: JobKind) -> Result<Option<RestartSettings>> {
        let given = self.restart_policy.is_some()
            || self.submission_retries.is_some()
            || self.submission_retry_interval.is_some()
            || self.failure_retries.is_some()
            || self.failure_retry_interval.is_some();
        if kind != JobKind::Streaming {
            if given {
                return Err(Error::bad_request(
                    "invalid_field",
                    "restart_policy and its settings are for streaming jobs (kind streaming); a batch job retries \
                     by max_attempts",
                ));
            }
            return Ok(None);
        }
        let d = RestartSettings::default();
        let settings = RestartSettings {
            restart_policy: self.restart_policy.unwrap_or(d.restart_policy),
            submission_retries: self.submission_retries.unwrap_or(d.submission_retries),
            submission_retry_interval: self.submission_retry_interval.unwrap_or(d.submission_retry_interval),
            failure_retries: self.failure_retries.unwrap_or(d.failure_retries),
            failure_retry_interval: self.failure_retry_interval.unwrap_or(d.failure_retry_interval),
        };
        settings.check().map_err(|message| Error::bad_request("invalid_field", message))?;
        Ok(Some(settings))
    }
}

/// What the job's files allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesCheck {
    /// No files.
    None,
    /// Files, one of them `run.sh`.
    WithRunSh,
    /// Files, none of them `run.sh`.
    WithoutRunSh,
}

impl FilesCheck {
    /// Of files just sent.
    pub fn of(files: &[(String, Vec<u8>)]) -> Self {
        if files.is_empty() {
            FilesCheck::None
        } else if files.iter().any(|(n, _)| n == "run.sh") {
            FilesCheck::WithRunSh
        } else {
            FilesCheck::WithoutRunSh
        }
    }

    /// Of a stored job keeping its files (a stored job with files was accepted with a `run.sh`
    /// or a command; treating it as having one keeps a command-only edit possible).
    pub fn kept(job: &JobRow) -> Self {
        if job.input_blob_id.is_some() { FilesCheck::WithRunSh } else { FilesCheck::None }
    }
}

/// Environment variables a run's start may not override (`POST /api/v1/jobs/{id}/runs`, a
/// workflow's start): those that make the shell or the dynamic loader run or load other code
/// before or around the job's own (`BASH_ENV`, `SHELLOPTS` with `PS4`, `LD_PRELOAD`, an
/// interpreter's startup options, `PATH`). Starting needs only `run`; with these a `run` grant
/// would be leave to replace the job's code, which takes `update`. The job's own definition may set
/// them (its owner's choice). Names, exact.
pub const ENV_NOT_OVERRIDDEN: [&str; 13] = [
    "ENV",
    "PATH",
    "IFS",
    "CDPATH",
    "GLOBIGNORE",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "HOSTALIASES",
    "LOCPATH",
    "NLSPATH",
    "CLASSPATH",
];

/// Prefixes of the names [`ENV_NOT_OVERRIDDEN`] covers by family: bash's own (`BASH_ENV`,
/// `BASH_FUNC_...`), the dynamic loader's, and the interpreters' startup and module paths.
pub const ENV_PREFIXES_NOT_OVERRIDDEN: [&str; 10] =
    ["BASH_", "LD_", "GCONV_", "PYTHON", "PERL", "RUBY", "NODE_", "JAVA_", "_JAVA_", "JDK_JAVA_"];

/// Refuses (400) a start's env override that names one of [`ENV_NOT_OVERRIDDEN`] or
/// [`ENV_PREFIXES_NOT_OVERRIDDEN`].
pub fn check_env_override(env: &BTreeMap<String, String>) -> Result<()> {
    let refused = env.keys().find(|k| {
        ENV_NOT_OVERRIDDEN.contains(&k.as_str()) || ENV_PREFIXES_NOT_OVERRIDDEN.iter().any(|p| k.starts_with(p))
    });
    match refused {
        None => Ok(()),
        Some(k) => Err(Error::bad_request(
            "invalid_field",
            format!(
                "env {k:?} may not be overridden when a run is started: it changes how the shell or the loader starts \
                 the job, which only whoever may update the job decides (set it in the job's own env)"
            ),
        )),
    }
}

/// Refuses a job name outside 1–255 letters, digits, dashes, underscores, dots and spaces.
pub fn check_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    let ok = (1..=NAME_MAX_CHARS).contains(&chars)
        && !name.trim().is_empty()
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(
            "invalid_field",
            format!(
                "name must be 1 to {NAME_MAX_CHARS} letters, digits, dashes, underscores, dots and spaces, got {name:?}"
            ),
        ))
    }
}

/// Refuses a label outside Kubernetes syntax: key `[prefix/]name`, the prefix a DNS subdomain of
/// at most 253 characters, the name and the value at most 63 characters of letters, digits,
/// `-`, `_` and `.`, beginning and ending with a letter or digit (the value may be empty).
pub fn check_label(key: &str, value: &str) -> Result<()> {
    fn segment(s: &str) -> bool {
        s.len() <= 63
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
    }
    fn dns_subdomain(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    }
    let key_ok = match key.split_once('/') {
        Some((prefix, name)) => dns_subdomain(prefix) && segment(name),
        None => segment(key),
    };
    let value_ok = value.is_empty() || segment(value);
    if key_ok && value_ok {
        return Ok(());
    }
    Err(Error::bad_request(
        "invalid_label",
        format!(
            "tag {key:?}={value:?} is not a Kubernetes label: the key is [prefix/]name and the name and value are \
             at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit"
        ),
    ))
}

/// What changed between two definitions: `{field: {"from": .., "to": ..}}` for each field that
/// differs (the job's event).
/// What a job's environment values show as in its history (`GET /api/v1/jobs/{id}/events`).
pub const ENV_VALUE_HIDDEN: &str = "(not recorded)";

/// The values of an `env` object replaced by [`ENV_VALUE_HIDDEN`] (its names kept). A job's
/// history is kept for as long as the job and read by whoever may view it, and env values are
/// where secrets go: a rotated key must not stay readable in the events. The job's current env is
/// its definition's (`GET /api/v1/jobs/{id}`).
pub fn hide_env_values(env: &mut serde_json::Value) {
    if let serde_json::Value::Object(vars) = env {
        for value in vars.values_mut() {
            *value = serde_json::Value::String(ENV_VALUE_HIDDEN.into());
        }
    }
}

/// A job's definition as its `created` event records it (env values hidden).
pub fn recorded_definition(spec: &JobSpec) -> serde_json::Value {
    let mut definition = serde_json::to_value(JobBody::of(spec)).unwrap_or_default();
    if let Some(env) = definition.get_mut("env") {
        hide_env_values(env);
    }
    definition
}

/// The fields an edit changed, `{field: {from, to}}`, env values hidden ([`hide_env_values`]: a
/// changed value shows as a change of that name).
pub fn changes(before: &JobSpec, after: &JobSpec, files_replaced: bool) -> serde_json::Value {
    let (a, b) = (serde_json::to_value(JobBody::of(before)), serde_json::to_value(JobBody::of(after)));
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (a, b) else {
        return serde_json::json!({});
    };
    let mut out = serde_json::Map::new();
    for (field, to) in &b {
        let from = a.get(field).cloned().unwrap_or(serde_json::Value::Null);
        if &from != to {
            out.insert(field.clone(), serde_json::json!({ "from": from, "to": to }));
        }
    }
    for (field, from) in &a {
        if !b.contains_key(field) {
            out.insert(field.clone(), serde_json::json!({ "from": from, "to": null }));
        }
    }
    if let Some(env) = out.get_mut("env") {
        for side in ["from", "to"] {
            if let Some(vars) = env.get_mut(side) {
                hide_env_values(vars);
            }
        }
    }
    if files_replaced {
        out.insert("files".into(), serde_json::json!({ "replaced": true }));
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_seeds_rule() {
        for ok in ["etl", "etl daily 2.0", "a_b-c", "Überprüfung", &"x".repeat(255)] {
            assert!(check_name(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "   ", "etl/daily", "a;b", "tab\there", &"x".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_follow_kubernetes_syntax() {
        for (k, v) in [("team", "ml"), ("app.kubernetes.io/name", "berth"), ("tier", ""), ("a", "b.c-d_e")] {
            assert!(check_label(k, v).is_ok(), "{k}={v}");
        }
        let long = "x".repeat(64);
        for (k, v) in [
            ("", "x"),
            ("-team", "ml"),
            ("team", "-ml"),
            ("Bad_Prefix/x", "y"),
            ("a/b/c", "d"),
            (long.as_str(), "v"),
            ("k", long.as_str()),
            ("sp ace", "v"),
        ] {
            assert!(check_label(k, v).is_err(), "{k}={v}");
        }
    }
}
