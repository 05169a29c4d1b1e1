//! `/api/v1/admin`: the switch of every job to the legacy flow (the seed's migrate endpoint).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::{AppState, Caller, Result};

/// What the migration moved.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MigrateView {
    /// Jobs moved to the legacy flow.
    pub jobs: i64,
    /// Queued or waiting runs moved (queued ones admitted at once).
    pub runs: i64,
}

/// Moves every job to the legacy flow at once, so admission can be switched off safely.
#[utoipa::path(post, path = "/api/v1/admin/migrate-to-legacy", responses((status = 200, body = MigrateView)))]
pub async fn migrate_to_legacy(State(state): State<AppState>, caller: Caller) -> Result<Json<MigrateView>> {
    let (jobs, runs) = state.store.jobs_migrate_to_legacy(&caller.actor(None)).await?;
    tracing::info!(jobs, runs, "every job moved to the legacy flow");
    Ok(Json(MigrateView { jobs, runs }))
}

/// The seed product's path for the same switch: every job of every domain moves to the legacy
/// flow (berth has no domains; the segment is accepted and ignored).
#[utoipa::path(post, path = "/api/v1/domains/{domain}/spark/jobs/migrate-from-prefect",
    params(("domain" = String, Path, description = "ignored: the switch applies to every job")),
    responses((status = 200, body = MigrateView)))]
pub async fn migrate_from_prefect(
    state: State<AppState>,
    caller: Caller,
    Path(_domain): Path<String>,
) -> Result<Json<MigrateView>> {
    migrate_to_legacy(state, caller).await
}
