//! `POST /upload`, the seed's submission: a multipart form with the job's files and its fields,
//! validated here before anything is stored.

use axum::Json;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ErrorBody;
use super::{AppState, Caller, Error, Result, idempotency};
use crate::auth::NamespacePermission;
use crate::config::{Config, NAMESPACE_DEFAULT};
use crate::domain::{Flow, Priority};
use crate::executor::archive;
use crate::resources::Resources;
use crate::retry::RetryPolicy;
use crate::store::RunId;
use crate::store::runs::{SubmitParams, Submitted};

/// The multipart form of `POST /upload` (for the OpenAPI document). Text fields are trimmed; an
/// empty field counts as absent. The body is limited to `api.max-upload-bytes` (413 above it).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema for the document, never built
pub struct UploadForm {
    /// One or more files; one must be named `run.sh`. Repeat the field for each file. A file
    /// name must be a relative path that stays inside the job folder (no `..`, no leading `/`).
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
    /// Submitting user: an integer (400 `invalid_field` otherwise). With auth on it may be left
    /// out (the token's subject is the user), and naming another user than the token's subject is
    /// a 403 unless the token is a service account allowed to act for others.
    user_id: i64,
    /// A configured service (400 `unknown_service` otherwise).
    service: String,
    /// `high` or `normal` (default `normal`, case-insensitive).
    priority: Option<Priority>,
    /// An existing namespace (default `default`); 400 `unknown_namespace` when nobody created it.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,63}$")]
    namespace: Option<String>,
    /// `priority` (admission, default) or `legacy` (skips admission), case-insensitive.
    flow: Option<Flow>,
    /// Requested millicores, a non-negative integer (default: the service's).
    #[schema(minimum = 0)]
    cpu: Option<i64>,
    /// Requested MiB of memory, a non-negative integer (default: the service's).
    #[schema(minimum = 0)]
    memory: Option<i64>,
    /// Requested pods, a non-negative integer (default: the service's, 1).
    #[schema(minimum = 0)]
    pods: Option<i64>,
    /// Requested MiB of storage, a non-negative integer (default: the service's).
    #[schema(minimum = 0)]
    storage: Option<i64>,
}

/// The answer to an accepted upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadResponse {
    /// Run id: use it with `/download/{id}`.
    pub id: RunId,
    /// Submitting user: the form's integer (with auth on, the token's subject, a string when it is
    /// not an integer).
    pub user_id: UserId,
    /// Service.
    pub service: String,
    /// Always `Queued`.
    pub status: String,
    /// In words.
    pub message: String,
}

/// A seed user id: an integer, or (auth on) a token subject that is not one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum UserId {
    /// The seed's integer user id.
    Number(i64),
    /// A token subject that is not an integer.
    Name(String),
}

impl UserId {
    /// The user as the API answers it: an integer when it is one.
    pub fn of(user: &str) -> Self {
        user.parse::<i64>().map(UserId::Number).unwrap_or_else(|_| UserId::Name(user.to_string()))
    }
}

/// Submit a job: files (one named `run.sh`), `user_id` and `service`, optionally `priority`,
/// `namespace`, `flow` and the resource requests. The namespace must exist: an operator creates
/// it with `PUT /api/v1/namespaces/{name}` or in configuration (`default` always exists). With an
/// `Idempotency-Key`, a retry of the same request returns the first run (header
/// `Idempotent-Replayed: true`) and the same key with another request is a 409.
#[utoipa::path(post, path = "/upload",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 printable ASCII characters; the same key and request return the same run")),
    request_body(content = UploadForm, content_type = "multipart/form-data"), responses(
    (status = 201, description = "queued (or the replay of an earlier identical request)", body = UploadResponse),
    (status = 400, description = "invalid request: missing or invalid field, no run.sh, bad file name, \
        unknown service or namespace, a request that can never fit the namespace's quota", body = ErrorBody),
    (status = 409, description = "the Idempotency-Key was used for another request", body = ErrorBody),
    (status = 413, description = "larger than the upload limit (api.max-upload-bytes)", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let multipart = multipart.map_err(|e| {
        Error::bad_request("bad_multipart", format!("expected a multipart/form-data body: {}", e.body_text()))
    })?;
    let key = idempotency::key(&headers)?;
    let form = read_form(multipart, state.config.api.max_upload_bytes).await?;
    let mut upload = validate(form, &state.config, !caller.anonymous)?;
    // The seed's user_id, with auth on: the token's subject, or the user a service account names.
    upload.user_id = caller.acting_for(Some(&upload.user_id))?.unwrap_or(upload.user_id);
    caller.require_namespace(&state, &upload.namespace, NamespacePermission::Create).await?;
    check_namespace(&state, &upload.namespace, &upload.request).await?;
    let subject = (!caller.anonymous).then_some(caller.subject.as_str());
    let idempotency = key.map(|k| (idempotency::scoped(k, subject), upload.fingerprint()));
    let files = upload.files;
    let input_zip = tokio::task::spawn_blocking(move || archive::zip_files(&files))
        .await
        .map_err(|e| Error::bad_request("bad_file", e.to_string()))?
        .map_err(|e| Error::bad_request("bad_file", e.to_string()))?;
    let submitted = state
        .store
        .run_submit_idempotent_as(
            SubmitParams {
                // A token's subject may be 255 characters: the name keeps the first 255 of its own
                // (the database refuses a longer one, which was a 500).
                name: format!("{}-{}", upload.service, upload.user_id)
                    .chars()
                    .take(super::job_input::NAME_MAX_CHARS)
                    .collect(),
                service: upload.service.clone(),
                namespace: upload.namespace,
                user_id: upload.user_id.clone(),
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
            },
            &caller.actor(None),
        )
        .await?;
    let (id, replayed) = match submitted {
        Submitted::Created(id) => (id, false),
        Submitted::Replayed(id) => (id, true),
        Submitted::Conflict => return Err(Error::idempotency_conflict()),
    };
    if !replayed {
        crate::metrics::run_submitted();
    }
    let body = UploadResponse {
        id,
        user_id: UserId::of(&upload.user_id),
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

/// Refuses a namespace nobody created (saying how to create it), and a request that can never fit
/// its quota (naming the dimensions).
pub(crate) async fn check_namespace(state: &AppState, namespace: &str, request: &Resources) -> Result<()> {
    let limit = state.store.namespace_limit(namespace).await?.ok_or_else(|| Error::unknown_namespace(namespace))?;
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

/// The raw multipart form.
#[derive(Default)]
struct Form {
    files: Vec<(String, Vec<u8>)>,
    fields: Vec<(String, String)>,
}

/// A validated upload.
struct Upload {
    files: Vec<(String, Vec<u8>)>,
    /// The user (the form's; with auth on, empty when the form names none).
    user_id: String,
    service: String,
    namespace: String,
    priority: Priority,
    flow: Flow,
    request: Resources,
    timeout_seconds: Option<i32>,
    retry: RetryPolicy,
}

impl Upload {
    /// What makes two uploads the same request (for `Idempotency-Key`).
    fn fingerprint(&self) -> String {
        let (user, r) = (self.user_id.clone(), self.request);
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

/// Checks the form. `auth_on`: `user_id` may be left out (the token's subject is the user).
fn validate(form: Form, config: &Config, auth_on: bool) -> Result<Upload> {
    let field = |name: &str| form.fields.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_string());
    let user_id = match field("user_id").filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| Error::bad_request("invalid_field", format!("user_id must be an integer, got {v:?}")))?
            .to_string(),
        None if auth_on => String::new(),
        None => return Err(Error::bad_request("missing_field", "user_id is required")),
    };
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
