//! `/api/v1/workers`: capacity, use, free capacity and last heartbeat of every worker.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::resources::ResourcesView;
use super::{AppState, Result};
use crate::store::WorkerId;
use crate::store::workers::WorkerRow;

/// A registered worker: capacity, use, free capacity and liveness.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkerView {
    /// Registration id.
    pub id: WorkerId,
    /// Host name and pid, or the configured name.
    pub name: String,
    /// Services it runs.
    pub services: Vec<String>,
    /// Capacity: millicores.
    pub cpu: i64,
    /// Capacity: MiB.
    pub memory: i64,
    /// Capacity: pods.
    pub pods: i64,
    /// Capacity: MiB.
    pub storage: i64,
    /// When it registered.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// When it stopped cleanly.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Heartbeat within the lease and not stopped.
    pub live: bool,
    /// Used: millicores.
    pub used_cpu: i64,
    /// Used: MiB.
    pub used_memory: i64,
    /// Used: pods.
    pub used_pods: i64,
    /// Used: MiB.
    pub used_storage: i64,
    /// Capacity minus use.
    pub free: ResourcesView,
}

impl WorkerView {
    /// The API's view of a stored worker.
    pub fn from_row(w: &WorkerRow) -> Self {
        WorkerView {
            id: w.id,
            name: w.name.clone(),
            services: w.services.clone(),
            cpu: w.cpu,
            memory: w.memory,
            pods: w.pods,
            storage: w.storage,
            started_at: w.started_at,
            heartbeat_at: w.heartbeat_at,
            stopped_at: w.stopped_at,
            live: w.live,
            used_cpu: w.used_cpu,
            used_memory: w.used_memory,
            used_pods: w.used_pods,
            used_storage: w.used_storage,
            free: w.free().into(),
        }
    }
}

/// Every registered worker.
#[utoipa::path(get, path = "/api/v1/workers", responses((status = 200, body = Vec<WorkerView>)))]
pub async fn list_workers(State(state): State<AppState>) -> Result<Json<Vec<WorkerView>>> {
    let lease = state.config.lease_timeout_seconds as f64;
    Ok(Json(state.store.worker_list(lease).await?.iter().map(WorkerView::from_row).collect()))
}
