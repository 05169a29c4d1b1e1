//! The seed system's routes, kept compatible: `POST /upload`, `GET|HEAD /download/{id}`, `GET /health`, `GET /`.

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartError};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{AppState, Error, Result, idempotency};
use crate::config::{Config, NAMESPACE_DEFAULT};
use crate::domain::{Flow, Priority};
use crate::executor::archive;
use crate::resources::Resources;
use crate::store::RunId;
use crate::store::runs::{RunState, SubmitParams, Submitted};

/// The multipart form of `POST /upload` (for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// One or more files; one must be `run.sh`. Repeat the field for each file.
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
    /// Submitting user: an integer.
    user_id: i64,
    /// A configured service.
    service: String,
    /// `high` or `normal` (default `normal`).
    priority: Option<String>,
    /// Namespace (default `default`).
    namespace: Option<String>,
    /// `priority` (admission, default) or `legacy` (skips admission).
    flow: Option<String>,
    /// Requested millicores (default: the service's).
    cpu: Option<i64>,
    /// Requested MiB of memory (default: the service's).
    memory: Option<i64>,
    /// Requested pods (default: the service's, 1).
    pods: Option<i64>,
    /// Requested MiB of storage (default: the service's).
    storage: Option<i64>,
}

/// The answer to an accepted upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadResponse {
    /// Run id: use it with `/download/{id}`.
    pub id: RunId,
    /// Submitting user.
    pub user_id: i64,
    /// Service.
    pub service: String,
    /// Always `Queued`.
    pub status: String,
    /// In words.
    pub message: String,
}

/// A run's status in the seed's words.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusBody {
    /// Run id.
    pub id: RunId,
    /// One of Queued, Running, Completed, Failed, Cancelled, Cleaned.
    pub status: String,
    /// In words (e.g. the failure or cancellation reason).
    pub message: String,
}

/// The seed's status name of a berth run state.
pub fn seed_status(state: RunState) -> &'static str {
    match state {
        RunState::Waiting | RunState::Queued | RunState::Admitted => "Queued",
        RunState::Running => "Running",
        RunState::Succeeded => "Completed",
        RunState::Failed | RunState::TimedOut | RunState::Aborted => "Failed",
        RunState::Cancelled => "Cancelled",
        RunState::Cleaned => "Cleaned",
    }
}

/// Ping.
#[utoipa::path(get, path = "/", responses((status = 200, description = "berth is up")))]
pub async fn root() -> &'static str {
    "berth is running; see /swagger-ui/\n"
}

/// Health: checks the database.
#[utoipa::path(get, path = "/health", responses(
    (status = 200, description = "healthy"),
    (status = 503, description = "the database is unreachable", body = super::error::ErrorBody)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>> {
    state.store.ping().await.map_err(|_| Error::Unavailable)?;
    Ok(Json(serde_json::json!({ "status": "healthy" })))
}

/// Submit a job: files (one named `run.sh`), `user_id` and `service`.
#[utoipa::path(post, path = "/upload", request_body(content = UploadForm, content_type = "multipart/form-data"), responses(
    (status = 201, description = "queued", body = UploadResponse),
    (status = 400, description = "invalid request", body = super::error::ErrorBody),
    (status = 413, description = "larger than the upload limit", body = super::error::ErrorBody)))]
pub async fn upload(State(state): State<AppState>, headers: HeaderMap, multipart: Multipart) -> Result<Response> {
    let key = idempotency::key(&headers)?;
    let form = read_form(multipart, state.config.api.max_upload_bytes).await?;
    let upload = validate(form, &state.config)?;
    check_fits_quota(&state, &upload.namespace, &upload.request).await?;
    let idempotency = key.map(|k| (k, upload.fingerprint()));
    let files = upload.files;
    let input_zip = tokio::task::spawn_blocking(move || archive::zip_files(&files))
        .await
        .map_err(|e| Error::bad_request("bad_file", e.to_string()))?
        .map_err(|e| Error::bad_request("bad_file", e.to_string()))?;
    let submitted = state
        .store
        .run_submit_idempotent(SubmitParams {
            name: format!("{}-{}", upload.service, upload.user_id),
            service: upload.service.clone(),
            namespace: upload.namespace,
            namespace_quota: namespace_quota(&state.config),
            user_id: upload.user_id.to_string(),
            priority: upload.priority,
            flow: upload.flow,
            request: upload.request,
            input_zip,
            command: None,
            env: serde_json::json!({}),
            timeout_seconds: upload.timeout_seconds,
            retry: upload.retry,
            idempotency,
            now: None,
        })
        .await?;
    let (id, replayed) = match submitted {
        Submitted::Created(id) => (id, false),
        Submitted::Replayed(id) => (id, true),
        Submitted::Conflict(id) => {
            return Err(Error::Conflict {
                code: "idempotency_conflict",
                message: format!("this Idempotency-Key was used for run {id} with a different request"),
            });
        }
    };
    if !replayed {
        crate::metrics::run_submitted();
    }
    let body = UploadResponse {
        id,
        user_id: upload.user_id,
        service: upload.service,
        status: "Queued".into(),
        message: "Job successfully uploaded".into(),
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Status while the run is not completed (JSON), the result zip once it is.
#[utoipa::path(get, path = "/download/{id}", params(("id" = i64, Path, description = "run id")), responses(
    (status = 200, description = "the result zip (application/zip) when completed, else a JSON status", body = StatusBody),
    (status = 404, description = "unknown id", body = super::error::ErrorBody)))]
pub async fn download(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id)?;
    let run = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    let run_state = run.state;
    if run_state == RunState::Succeeded {
        let zip = match run.result_blob_id {
            Some(blob) => state.store.blob_read(blob).await?,
            // The backend kept no files (the no-op backend): the result is an empty archive.
            None => crate::executor::archive::EMPTY_ZIP.to_vec(),
        };
        return Ok(zip_response(id, zip));
    }
    let body = StatusBody { id, status: seed_status(run_state).into(), message: run.message };
    Ok(Json(body).into_response())
}

/// Status as a code: 200 completed, 202 queued or running, 204 failed, cancelled or cleaned, 404 unknown.
#[utoipa::path(head, path = "/download/{id}", params(("id" = i64, Path, description = "run id")), responses(
    (status = 200, description = "completed"), (status = 202, description = "queued or running"),
    (status = 204, description = "failed, cancelled or cleaned"), (status = 404, description = "unknown id")))]
pub async fn download_head(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_id(&id)?;
    let run = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    Ok(match run.state {
        RunState::Succeeded => StatusCode::OK,
        s if s.is_terminal() => StatusCode::NO_CONTENT,
        _ => StatusCode::ACCEPTED,
    })
}

/// A zip body with a file name.
pub fn zip_response(id: RunId, zip: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"berth-run-{id}.zip\"")),
        ],
        Body::from(zip),
    )
        .into_response()
}

/// Refuses namespace names that are not 1 to 63 letters, digits, dashes, underscores or dots.
pub fn check_namespace_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(
            "invalid_field",
            "namespace must be 1 to 63 letters, digits, dashes, underscores or dots",
        ))
    }
}

/// Refuses a request that can never fit its namespace's quota, naming the dimensions.
async fn check_fits_quota(state: &AppState, namespace: &str, request: &Resources) -> Result<()> {
    let limit = state.store.namespace_limit(namespace).await?.unwrap_or_else(|| namespace_quota(&state.config));
    let over: Vec<String> = Resources::shortfalls(request, &limit)
        .into_iter()
        .map(|(d, requested, available, _)| format!("{d} requested {requested}{u}, quota {available}{u}", u = d.unit()))
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    Err(Error::bad_request(
        "exceeds_quota",
        format!("the request can never fit the quota of namespace {namespace}: {}", over.join(", ")),
    ))
}

/// Parses a run id from a path segment, with a 404 for anything that cannot be one.
pub fn parse_id(raw: &str) -> Result<RunId> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).map(RunId).ok_or_else(|| Error::NotFound(format!("run {raw}")))
}

/// The quota a namespace gets on first use.
pub fn namespace_quota(config: &Config) -> Resources {
    let q = config.namespaces.default_quota;
    Resources { cpu: q.cpu, memory: q.memory, pods: q.pods, storage: q.storage }
}

/// The raw multipart form.
#[derive(Default)]
struct Form {
    files: Vec<(String, Vec<u8>)>,
    fields: Vec<(String, String)>,
}

impl Upload {
    /// What makes two uploads the same request (for `Idempotency-Key`).
    fn fingerprint(&self) -> String {
        let (user, r) = (self.user_id.to_string(), self.request);
        let amounts = format!("{} {} {} {}", r.cpu, r.memory, r.pods, r.storage);
        let mut parts: Vec<(&str, &[u8])> = vec![
            ("user_id", user.as_bytes()),
            ("service", self.service.as_bytes()),
            ("namespace", self.namespace.as_bytes()),
            ("priority", self.priority.as_str().as_bytes()),
            ("flow", self.flow.as_str().as_bytes()),
            ("resources", amounts.as_bytes()),
        ];
        for (name, data) in &self.files {
            parts.push((name.as_str(), data.as_slice()));
        }
        idempotency::fingerprint(parts)
    }
}

/// A validated upload.
struct Upload {
    files: Vec<(String, Vec<u8>)>,
    user_id: i64,
    service: String,
    namespace: String,
    priority: Priority,
    flow: Flow,
    request: Resources,
    timeout_seconds: Option<i32>,
    retry: crate::retry::RetryPolicy,
}

async fn read_form(mut multipart: Multipart, limit: u64) -> Result<Form> {
    let mut form = Form::default();
    let multipart_error = |e: MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge { limit }
        } else {
            Error::bad_request("bad_multipart", format!("the multipart body cannot be read: {}", e.body_text()))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_string();
            let data = field.bytes().await.map_err(multipart_error)?;
            form.files.push((file_name, data.to_vec()));
        } else {
            let value = field.text().await.map_err(multipart_error)?;
            form.fields.push((name, value));
        }
    }
    Ok(form)
}

fn validate(form: Form, config: &Config) -> Result<Upload> {
    let field = |name: &str| form.fields.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_string());
    let user_id = field("user_id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::bad_request("missing_field", "user_id is required"))?;
    let user_id: i64 = user_id
        .parse()
        .map_err(|_| Error::bad_request("invalid_field", format!("user_id must be an integer, got {user_id:?}")))?;
    let service = field("service")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::bad_request("missing_field", "service is required"))?;
    let Some(defaults) = config.services.get(&service) else {
        let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
        return Err(Error::bad_request(
            "unknown_service",
            format!("service {service:?} is not configured; configured services: {}", known.join(", ")),
        ));
    };
    let priority = match field("priority").filter(|v| !v.is_empty()) {
        None => Priority::Normal,
        Some(v) => v
            .to_lowercase()
            .parse::<Priority>()
            .map_err(|_| Error::bad_request("invalid_field", format!("priority must be high or normal, got {v:?}")))?,
    };
    let namespace = field("namespace").filter(|v| !v.is_empty()).unwrap_or_else(|| NAMESPACE_DEFAULT.into());
    if namespace.len() > 63 || !namespace.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(Error::bad_request(
            "invalid_field",
            "namespace must be 1 to 63 letters, digits, dashes, underscores or dots",
        ));
    }
    let flow = match field("flow").filter(|v| !v.is_empty()) {
        None => Flow::Priority,
        Some(v) => v
            .to_lowercase()
            .parse::<Flow>()
            .map_err(|_| Error::bad_request("invalid_field", format!("flow must be priority or legacy, got {v:?}")))?,
    };
    let flow = if config.orchestrator.enabled { flow } else { Flow::Legacy };
    let amount = |name: &str, default: i64| -> Result<i64> {
        match field(name).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::bad_request("invalid_field", format!("{name} must be a non-negative integer, got {v:?}"))
            }),
        }
    };
    let request = Resources {
        cpu: amount("cpu", defaults.cpu)?,
        memory: amount("memory", defaults.memory)?,
        pods: amount("pods", defaults.pods)?,
        storage: amount("storage", defaults.storage)?,
    };
    if form.files.is_empty() {
        return Err(Error::bad_request("missing_file", "at least one file is required, and one must be run.sh"));
    }
    for (name, _) in &form.files {
        if archive::safe_relative_path(name).is_none() {
            return Err(Error::bad_request(
                "invalid_file_name",
                format!(
                    "file name {name:?} is not allowed: it must be a relative path that stays inside the job folder"
                ),
            ));
        }
    }
    if !form.files.iter().any(|(name, _)| name == "run.sh") {
        return Err(Error::bad_request("missing_run_sh", "one of the files must be named run.sh"));
    }
    let retry = config.retry_policy(&service).unwrap_or_default();
    Ok(Upload {
        files: form.files,
        user_id,
        service,
        namespace,
        priority,
        flow,
        request,
        timeout_seconds: defaults.timeout_seconds.and_then(|t| i32::try_from(t).ok()),
        retry,
    })
}
