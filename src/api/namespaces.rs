//! `/api/v1/namespaces`: quotas in four dimensions, with use and queued demand.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::{AppState, Error, Result};
use crate::resources::Resources;
use crate::store::queue::NamespaceView;

/// Body of `PUT /api/v1/namespaces/{name}`: the quota (millicores, MiB, pods, MiB).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaBody {
    /// Millicores.
    pub cpu: i64,
    /// MiB.
    pub memory: i64,
    /// Pods.
    pub pods: i64,
    /// MiB.
    pub storage: i64,
}

/// Every namespace.
#[utoipa::path(get, path = "/api/v1/namespaces", responses((status = 200, body = Vec<NamespaceView>)))]
pub async fn list_namespaces(State(state): State<AppState>) -> Result<Json<Vec<NamespaceView>>> {
    Ok(Json(state.store.namespace_views(None).await?))
}

/// One namespace: limit, used and queued demand per dimension.
#[utoipa::path(get, path = "/api/v1/namespaces/{name}", params(("name" = String, Path)), responses(
    (status = 200, body = NamespaceView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_namespace(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<NamespaceView>> {
    let views = state.store.namespace_views(Some(std::slice::from_ref(&name))).await?;
    views.into_iter().next().map(Json).ok_or_else(|| Error::NotFound(format!("namespace {name:?}")))
}

/// Sets (or creates) a namespace's quota; admission uses it from its next cycle.
#[utoipa::path(put, path = "/api/v1/namespaces/{name}", params(("name" = String, Path)), request_body = QuotaBody, responses(
    (status = 200, body = NamespaceView), (status = 400, body = super::error::ErrorBody)))]
pub async fn put_namespace(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: std::result::Result<Json<QuotaBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<NamespaceView>> {
    let Json(q) = body.map_err(|e| {
        Error::bad_request(
            "invalid_body",
            format!(
                "expected {{\"cpu\", \"memory\", \"pods\", \"storage\"}} as non-negative integers: {}",
                e.body_text()
            ),
        )
    })?;
    super::seed::check_namespace_name(&name)?;
    for (dimension, v) in [("cpu", q.cpu), ("memory", q.memory), ("pods", q.pods), ("storage", q.storage)] {
        if v < 0 {
            return Err(Error::bad_request("invalid_field", format!("{dimension} must not be negative, got {v}")));
        }
    }
    let quota = Resources { cpu: q.cpu, memory: q.memory, pods: q.pods, storage: q.storage };
    state.store.namespace_set_quota(&name, quota).await?;
    get_namespace(State(state), Path(name)).await
}
