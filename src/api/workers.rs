//! `/api/v1/workers`: capacity, use, free capacity and last heartbeat of every worker.

use axum::Json;
use axum::extract::State;

use super::{AppState, Result};
use crate::store::workers::WorkerRow;

/// Every registered worker.
#[utoipa::path(get, path = "/api/v1/workers", responses((status = 200, body = Vec<WorkerRow>)))]
pub async fn list_workers(State(state): State<AppState>) -> Result<Json<Vec<WorkerRow>>> {
    let lease = state.config.lease_timeout_seconds as f64;
    Ok(Json(state.store.worker_list(lease).await?))
}
