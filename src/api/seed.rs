//! The seed system's routes, kept compatible with both generations of its clients:
//! `GET|HEAD /download/{id}`, `GET /download_partial/{id}`, `POST /terminate/{id}`, `GET /health`,
//! `GET /` (and `POST /upload`, in `upload.rs`). Where the generations differ,
//! `api.seed-generation` picks (docs/executors.md, "berth's seed API").

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ErrorBody;
use super::{AppState, Caller, Error, Result};
use crate::auth::JobPermission;
use crate::store::RunId;
use crate::store::runs::RunState;

/// A run's status in the seed's words.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusBody {
    /// Run id.
    pub id: RunId,
    /// The seed's status name: Queued, Processing, Running, Completed, Failed, Killed or Cleaned
    /// (berth never answers the seed's Submitted, Invalid, Lost or Unknown: see docs/executors.md).
    pub status: String,
    /// In words (e.g. the failure or cancellation reason).
    pub message: String,
}

/// The seed's status name of a berth run state: waiting for admission is the seed's `Queued`,
/// admitted but not yet started on a worker its `Processing`, and a run stopped on request
/// (cancelled or aborted) its `Killed`.
pub fn seed_status(state: RunState) -> &'static str {
    match state {
        RunState::Waiting | RunState::Queued => "Queued",
        RunState::Admitted => "Processing",
        RunState::Running => "Running",
        RunState::Succeeded => "Completed",
        RunState::Failed | RunState::TimedOut => "Failed",
        RunState::Cancelled | RunState::Aborted => "Killed",
        RunState::Cleaned => "Cleaned",
    }
}

/// The answer of a healthy `GET /health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthBody {
    /// Always `healthy`.
    pub status: String,
}

/// Ping.
#[utoipa::path(get, path = "/", responses(
    (status = 200, description = "berth is up", content_type = "text/plain", body = String)))]
pub async fn root() -> &'static str {
    "berth is running; see /swagger-ui/\n"
}

/// Health: checks the database.
#[utoipa::path(get, path = "/health", responses(
    (status = 200, description = "healthy", body = HealthBody),
    (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<HealthBody>> {
    state.store.ping().await.map_err(|_| Error::Unavailable)?;
    Ok(Json(HealthBody { status: "healthy".into() }))
}

/// Status while the run is not completed (JSON), the result zip once it is.
///
/// With `api.seed-generation = 1` (the seed 1.x server's answers) a run not yet done answers
/// 202, and a run that ran and exited non-zero still gives its zip.
#[utoipa::path(get, path = "/download/{id}", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, description = "the result zip when completed, else the status as JSON", content(
        (StatusBody = "application/json"), (Vec<u8> = "application/zip"))),
    (status = 202, description = "not done yet (only with `api.seed-generation = 1`)", body = StatusBody),
    (status = 404, description = "unknown id", body = ErrorBody)))]
pub async fn download(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id)?;
    let run = super::runs::visible_run(&state, &caller, id, JobPermission::View).await?;
    let first_generation = state.config.api.seed_generation == 1;
    let run_state = run.state;
    let zip_of_failure = first_generation && run_state == RunState::Failed && run.exit_code.is_some();
    if run_state == RunState::Succeeded || zip_of_failure {
        let zip = match run.result_blob_id {
            Some(blob) => state.store.blob_read(blob).await?,
            // The backend kept no files (the no-op backend): the result is an empty archive.
            None => crate::executor::archive::EMPTY_ZIP.to_vec(),
        };
        if !zip.is_empty() {
            return Ok(zip_response(id, zip));
        }
        // A zip is never empty: retention deleted the blob since the run was read. Answer as for a
        // cleaned run.
        let body = StatusBody { id, status: seed_status(RunState::Cleaned).into(), message: run.message };
        return Ok(Json(body).into_response());
    }
    let body = StatusBody { id, status: seed_status(run_state).into(), message: run.message };
    let code = if first_generation && !run_state.is_terminal() { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((code, Json(body)).into_response())
}

/// The run's folder as it is so far, in any state (the seed 2.x server's route): the result zip
/// once the run has one; before that, its input files with the output so far as `stdout.log` and
/// `stderr.log` (a running run's working folder lives on its worker, which berth's API does not
/// reach).
#[utoipa::path(get, path = "/download_partial/{id}", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, description = "the folder so far as a zip", content_type = "application/zip", body = Vec<u8>),
    (status = 404, description = "unknown id", body = ErrorBody),
    (status = 410, description = "the run was cleaned: retention removed its files (`cleaned`)", body = ErrorBody)))]
pub async fn download_partial(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let run = super::runs::visible_run(&state, &caller, id, JobPermission::View).await?;
    if run.state == RunState::Cleaned {
        return Err(super::runs::cleaned(id));
    }
    if let Some(blob) = run.result_blob_id {
        let zip = state.store.blob_read(blob).await?;
        return if zip.is_empty() { Err(super::runs::cleaned(id)) } else { Ok(zip_response(id, zip)) };
    }
    let input = state.store.run_input(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    let (stdout, stderr) = super::runs::split_logs(state.store.run_logs(id).await?);
    let logs: Vec<(String, Vec<u8>)> = [("stdout.log", stdout), ("stderr.log", stderr)]
        .into_iter()
        .filter(|(_, data)| !data.is_empty())
        .map(|(name, data)| (name.to_string(), data))
        .collect();
    // The input was checked when it was accepted; should it not read as a zip now, the client
    // still gets the bytes it uploaded.
    let zip = crate::executor::archive::with_extra_files(&input, &logs).unwrap_or_else(|e| {
        tracing::warn!(run = id.0, error = %e, "cannot add the logs to the partial folder; sending the input alone");
        input.clone()
    });
    Ok(zip_response(id, zip))
}

/// Stops a run (the seed 2.x server's route): a run not started yet is cancelled at once, a
/// running one is killed by its worker and ends `cancelled` (the seed's `Killed`). A run that
/// has already ended answers 409 with its state.
#[utoipa::path(post, path = "/terminate/{id}", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, description = "terminated, or being killed", body = StatusBody),
    (status = 404, description = "unknown id", body = ErrorBody),
    (status = 409, description = "the run has ended", body = ErrorBody)))]
pub async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StatusBody>> {
    let id = parse_id(&id)?;
    let run = super::runs::visible_run(&state, &caller, id, JobPermission::Run).await?;
    let actor = caller.actor(None);
    let stopped = if run.restart.is_some() {
        // A streaming run is stopped by an abort (it is never restarted), whichever route asks;
        // one its worker is already stopping counts as stopped.
        state.store.run_abort(id, &actor).await?.is_some()
            || state.store.run_get(id).await?.is_some_and(|now| !now.state.is_terminal())
    } else {
        state.store.run_cancel_unstarted(id, "terminated through the seed API", &actor).await?
            || state.store.run_request_cancel(id, &actor).await?
    };
    if !stopped {
        return Err(Error::Conflict {
            code: "not_cancellable",
            message: format!("run {id} is {} and cannot be terminated", run.state),
        });
    }
    crate::metrics::run_cancelled("api");
    let now = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    Ok(Json(StatusBody { id, status: seed_status(now.state).into(), message: "job terminated".into() }))
}

/// Status as a code: 200 completed, 202 queued or running, 204 failed, cancelled or cleaned, 404 unknown.
#[utoipa::path(head, path = "/download/{id}", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, description = "completed"), (status = 202, description = "queued or running"),
    (status = 204, description = "failed, cancelled or cleaned"), (status = 404, description = "unknown id")))]
pub async fn download_head(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id)?;
    let run = super::runs::visible_run(&state, &caller, id, JobPermission::View).await?;
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
    if crate::config::namespace_name_ok(name) {
        Ok(())
    } else {
        Err(Error::bad_request(
            "invalid_field",
            "namespace must be 1 to 63 letters, digits, dashes, underscores or dots",
        ))
    }
}

/// Parses a run id from a path segment, with a 404 for anything that cannot be one.
pub fn parse_id(raw: &str) -> Result<RunId> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).map(RunId).ok_or_else(|| Error::NotFound(format!("run {raw}")))
}
