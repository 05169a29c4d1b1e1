//! The seed system's routes, kept compatible: `GET|HEAD /download/{id}`, `GET /health`, `GET /`
//! (and `POST /upload`, in `upload.rs`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ErrorBody;
use super::{AppState, Error, Result};
use crate::store::RunId;
use crate::store::runs::RunState;

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
#[utoipa::path(get, path = "/download/{id}", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, description = "the result zip when completed, else the status as JSON", content(
        (StatusBody = "application/json"), (Vec<u8> = "application/zip"))),
    (status = 404, description = "unknown id", body = ErrorBody)))]
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
        if !zip.is_empty() {
            return Ok(zip_response(id, zip));
        }
        // A zip is never empty: retention deleted the blob since the run was read. Answer as for a
        // cleaned run.
        let body = StatusBody { id, status: seed_status(RunState::Cleaned).into(), message: run.message };
        return Ok(Json(body).into_response());
    }
    let body = StatusBody { id, status: seed_status(run_state).into(), message: run.message };
    Ok(Json(body).into_response())
}

/// Status as a code: 200 completed, 202 queued or running, 204 failed, cancelled or cleaned, 404 unknown.
#[utoipa::path(head, path = "/download/{id}", params(("id" = i64, Path, description = "run id", example = 1)), responses(
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
