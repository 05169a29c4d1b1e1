//! `/api/v1/namespaces`: quotas in four dimensions, with use and queued demand. Namespaces exist
//! because an operator created them (here with `PUT`, or in configuration); `default` always.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::resources::ResourcesView;
use super::{AppState, Error, Result};
use crate::domain::Sharing;
use crate::resources::Resources;
use crate::store::queue::NamespaceUsage;

/// Body of `PUT /api/v1/namespaces/{name}`: the quota (millicores, MiB, pods, MiB), and optionally
/// how the namespace shares its queues between users.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaBody {
    /// Millicores.
    #[schema(minimum = 0)]
    pub cpu: i64,
    /// MiB.
    #[schema(minimum = 0)]
    pub memory: i64,
    /// Pods.
    #[schema(minimum = 0)]
    pub pods: i64,
    /// MiB.
    #[schema(minimum = 0)]
    pub storage: i64,
    /// `fifo`: each priority's runs in queue order; `fair`: users take turns (a run's turn is its
    /// user's runs admitted or running in the namespace plus that user's runs queued before it,
    /// lowest first). Absent: a new namespace is `fifo`, an existing one keeps its own.
    #[serde(default)]
    pub sharing: Option<Sharing>,
}

/// Body of `PATCH /api/v1/namespaces/{name}`: the settings to change; each one absent is kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespacePatch {
    /// Millicores.
    #[schema(minimum = 0)]
    #[serde(default)]
    pub cpu: Option<i64>,
    /// MiB.
    #[schema(minimum = 0)]
    #[serde(default)]
    pub memory: Option<i64>,
    /// Pods.
    #[schema(minimum = 0)]
    #[serde(default)]
    pub pods: Option<i64>,
    /// MiB.
    #[schema(minimum = 0)]
    #[serde(default)]
    pub storage: Option<i64>,
    /// `fifo` or `fair`, as in `PUT`.
    #[serde(default)]
    pub sharing: Option<Sharing>,
}

/// A namespace: its quota, what its admitted and running runs use, and what its queued runs ask for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NamespaceView {
    /// Name.
    pub name: String,
    /// Quota.
    pub limit: ResourcesView,
    /// Requests of its admitted and running runs.
    pub used: ResourcesView,
    /// Requests of its queued runs.
    pub queued: ResourcesView,
    /// Number of queued runs.
    pub queued_runs: i64,
    /// How its queues are shared between users: `fifo` or `fair`.
    pub sharing: Sharing,
}

impl NamespaceView {
    /// The API's view of a namespace's stored quota, use and demand.
    pub fn from_row(ns: &NamespaceUsage) -> Self {
        NamespaceView {
            name: ns.name.clone(),
            limit: ns.limit.into(),
            used: ns.used.into(),
            queued: ns.queued.into(),
            queued_runs: ns.queued_runs,
            sharing: ns.sharing,
        }
    }
}

/// Every namespace.
#[utoipa::path(get, path = "/api/v1/namespaces", responses((status = 200, body = Vec<NamespaceView>)))]
pub async fn list_namespaces(State(state): State<AppState>) -> Result<Json<Vec<NamespaceView>>> {
    Ok(Json(state.store.namespace_views(None).await?.iter().map(NamespaceView::from_row).collect()))
}

/// One namespace: limit, used and queued demand per dimension.
#[utoipa::path(get, path = "/api/v1/namespaces/{name}", params(("name" = String, Path, description = "namespace")),
    responses((status = 200, body = NamespaceView), (status = 404, description = "no such namespace", body = ErrorBody)))]
pub async fn get_namespace(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<NamespaceView>> {
    if !crate::config::namespace_name_ok(&name) {
        return Err(Error::NotFound(format!("namespace {name:?}")));
    }
    let views = state.store.namespace_views(Some(std::slice::from_ref(&name))).await?;
    views
        .first()
        .map(|ns| Json(NamespaceView::from_row(ns)))
        .ok_or_else(|| Error::NotFound(format!("namespace {name:?}")))
}

/// Creates a namespace, or sets its quota (and its sharing); admission uses them from its next
/// cycle. Names are 1 to 63 letters, digits, dashes, underscores or dots; every dimension is a
/// non-negative integer.
#[utoipa::path(put, path = "/api/v1/namespaces/{name}",
    params(("name" = String, Path, description = "1 to 63 letters, digits, dashes, underscores or dots",
        pattern = "^[A-Za-z0-9._-]{1,63}$", example = "etl")),
    request_body = QuotaBody, responses(
        (status = 200, body = NamespaceView),
        (status = 400, description = "invalid name, quota or sharing", body = ErrorBody)))]
pub async fn put_namespace(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: std::result::Result<Json<QuotaBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<NamespaceView>> {
    let Json(q) = body.map_err(|e| {
        Error::bad_request(
            "invalid_body",
            format!(
                "expected {{\"cpu\", \"memory\", \"pods\", \"storage\"}} as non-negative integers and an optional \
                 \"sharing\" (\"fifo\" or \"fair\"): {}",
                e.body_text()
            ),
        )
    })?;
    super::seed::check_namespace_name(&name)?;
    non_negative([
        ("cpu", Some(q.cpu)),
        ("memory", Some(q.memory)),
        ("pods", Some(q.pods)),
        ("storage", Some(q.storage)),
    ])?;
    let quota = Resources { cpu: q.cpu, memory: q.memory, pods: q.pods, storage: q.storage };
    state.store.namespace_set_quota(&name, quota, q.sharing).await?;
    get_namespace(State(state), Path(name)).await
}

/// Changes some of an existing namespace's settings (say, its sharing alone), keeping the others;
/// admission uses them from its next cycle. Never creates a namespace (`PUT` does).
#[utoipa::path(patch, path = "/api/v1/namespaces/{name}", params(("name" = String, Path, description = "namespace")),
    request_body = NamespacePatch, responses(
        (status = 200, body = NamespaceView),
        (status = 400, description = "invalid quota or sharing", body = ErrorBody),
        (status = 404, description = "no such namespace", body = ErrorBody)))]
pub async fn patch_namespace(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: std::result::Result<Json<NamespacePatch>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<NamespaceView>> {
    let Json(p) = body.map_err(|e| {
        Error::bad_request(
            "invalid_body",
            format!(
                "expected any of \"cpu\", \"memory\", \"pods\", \"storage\" as non-negative integers and \
                 \"sharing\" (\"fifo\" or \"fair\"): {}",
                e.body_text()
            ),
        )
    })?;
    if !crate::config::namespace_name_ok(&name) {
        return Err(Error::NotFound(format!("namespace {name:?}")));
    }
    non_negative([("cpu", p.cpu), ("memory", p.memory), ("pods", p.pods), ("storage", p.storage)])?;
    if !state.store.namespace_patch(&name, p.cpu, p.memory, p.pods, p.storage, p.sharing).await? {
        return Err(Error::NotFound(format!("namespace {name:?}")));
    }
    get_namespace(State(state), Path(name)).await
}

/// A 400 `invalid_field` naming the first quota dimension given a negative value.
fn non_negative(dimensions: [(&str, Option<i64>); 4]) -> Result<()> {
    match dimensions.into_iter().find_map(|(dimension, v)| v.filter(|v| *v < 0).map(|v| (dimension, v))) {
        Some((dimension, v)) => {
            Err(Error::bad_request("invalid_field", format!("{dimension} must not be negative, got {v}")))
        }
        None => Ok(()),
    }
}
