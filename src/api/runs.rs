//! `/api/v1/runs/{id}`: a run with its timeline, its logs, its result, and cancellation.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::seed::{parse_id, zip_response};
use super::{AppState, Error, Result};
use crate::store::attempts::AttemptRow;
use crate::store::runs::{RunEvent, RunRow};

/// A run and its events in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    /// The run.
    #[serde(flatten)]
    pub run: RunRow,
    /// Its attempts in order.
    pub attempts: Vec<AttemptRow>,
    /// Its timeline.
    pub events: Vec<RunEvent>,
}

/// A run: state, user, service, priority, timestamps, exit code, attempts, worker, events.
#[utoipa::path(get, path = "/api/v1/runs/{id}", params(("id" = i64, Path)), responses(
    (status = 200, body = RunView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RunView>> {
    let id = parse_id(&id)?;
    let run = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    let attempts = state.store.attempt_list(id).await?;
    let events = state.store.run_events(id).await?;
    Ok(Json(RunView { run, attempts, events }))
}

/// The run's stdout and stderr, every attempt, as text.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs", params(("id" = i64, Path)), responses(
    (status = 200, body = serde_json::Value), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_logs(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<serde_json::Value>> {
    let id = parse_id(&id)?;
    state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    for entry in state.store.run_logs(id).await? {
        match entry.stream.as_str() {
            "stderr" => stderr.extend_from_slice(&entry.data),
            _ => stdout.extend_from_slice(&entry.data),
        }
    }
    Ok(Json(serde_json::json!({
        "id": id,
        "stdout": String::from_utf8_lossy(&stdout),
        "stderr": String::from_utf8_lossy(&stderr),
    })))
}

/// The result zip whatever the outcome (a failed run's partial output matters).
#[utoipa::path(get, path = "/api/v1/runs/{id}/result", params(("id" = i64, Path)), responses(
    (status = 200, description = "application/zip"), (status = 404, body = super::error::ErrorBody),
    (status = 409, description = "no result yet", body = super::error::ErrorBody)))]
pub async fn get_result(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id)?;
    let run = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    let Some(blob) = run.result_blob_id else {
        if run.state == crate::store::runs::RunState::Succeeded {
            // The backend kept no files (the no-op backend): the result is an empty archive.
            return Ok(zip_response(id, crate::executor::archive::EMPTY_ZIP.to_vec()));
        }
        return Err(Error::Conflict {
            code: "no_result",
            message: format!("run {id} has no result yet: it is {}", run.state),
        });
    };
    Ok(zip_response(id, state.store.blob_read(blob).await?))
}

/// Cancels a run: at once when it has not started, by killing its process group when it runs
/// (the run then ends `cancelled`). A terminal run answers 409 with its state.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", params(("id" = i64, Path)), responses(
    (status = 200, body = RunView), (status = 404, body = super::error::ErrorBody),
    (status = 409, body = super::error::ErrorBody)))]
pub async fn cancel_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RunView>> {
    let id = parse_id(&id)?;
    let run = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    let cancelled = state.store.run_cancel_unstarted(id, "cancelled through the API", "api").await?
        || state.store.run_request_cancel(id, "api").await?;
    if cancelled {
        crate::metrics::run_cancelled("api");
    } else {
        return Err(Error::Conflict {
            code: "not_cancellable",
            message: format!("run {id} is {} and cannot be cancelled", run.state),
        });
    }
    get_run(State(state), Path(id.to_string())).await
}
