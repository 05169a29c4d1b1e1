//! `/api/v1/queue` and `/api/v1/runs/{id}/why`: where a run stands and why it waits, in words.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::seed::parse_id;
use super::{AppState, Error, Result};
use crate::domain::Priority;
use crate::store::queue::QueuedView;
use crate::store::runs::{RunRow, RunState};

/// Most rows the queue view returns.
pub const QUEUE_LIMIT_DEFAULT: i64 = 500;

/// Filters of the queue view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QueueQuery {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only `high` or `normal`.
    pub priority: Option<String>,
    /// Most rows (default 500).
    pub limit: Option<i64>,
}

/// Queued runs in admission order with their block records.
#[utoipa::path(get, path = "/api/v1/queue", params(QueueQuery), responses(
    (status = 200, body = Vec<QueuedView>), (status = 400, body = super::error::ErrorBody)))]
pub async fn get_queue(State(state): State<AppState>, Query(q): Query<QueueQuery>) -> Result<Json<Vec<QueuedView>>> {
    let priority =
        match q.priority.as_deref() {
            None => None,
            Some(p) => Some(p.parse::<Priority>().map_err(|_| {
                Error::bad_request("invalid_field", format!("priority must be high or normal, got {p:?}"))
            })?),
        };
    let limit = q.limit.unwrap_or(QUEUE_LIMIT_DEFAULT).clamp(1, 10_000);
    Ok(Json(state.store.queue_list(q.namespace.as_deref(), priority, limit).await?))
}

/// Why a run is where it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhyView {
    /// Run id.
    pub id: i64,
    /// State name.
    pub state: String,
    /// In words.
    pub message: String,
    /// The last admission cycle's record (reason, scopes with requested/available/shortfall, position).
    #[schema(value_type = Option<Object>)]
    pub record: Option<serde_json::Value>,
}

/// Why the run waits (or what it is doing), in words and as JSON.
#[utoipa::path(get, path = "/api/v1/runs/{id}/why", params(("id" = i64, Path)), responses(
    (status = 200, body = WhyView), (status = 404, body = super::error::ErrorBody)))]
pub async fn why(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<WhyView>> {
    let id = parse_id(&id)?;
    let run = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    Ok(Json(WhyView { id: id.0, state: run.state.to_string(), message: explain(&run), record: run.block.clone() }))
}

/// One sentence on where the run stands.
pub fn explain(run: &RunRow) -> String {
    match run.state {
        RunState::Queued => match run.block.as_ref().and_then(|b| b.get("message")).and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None => "queued; the next admission cycle has not looked at it yet".to_string(),
        },
        RunState::Waiting => match run.not_before {
            Some(t) => format!("waiting until {t} (retry back-off), then back to the queue at its place"),
            None => "waiting for its dependencies or schedule".to_string(),
        },
        RunState::Admitted => format!(
            "admitted; waiting for a live worker of service {} with room for cpu {} m, memory {} MiB, pods {}, storage {} MiB",
            run.service, run.cpu, run.memory, run.pods, run.storage
        ),
        RunState::Running => match run.worker_id {
            Some(w) => format!("running attempt {} on worker {w}", run.attempt),
            None => "running".to_string(),
        },
        s => {
            let detail = if run.message.is_empty() { String::new() } else { format!(": {}", run.message) };
            format!("finished {}{detail}", s.as_str())
        }
    }
}
