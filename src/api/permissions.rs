//! `/api/v1/jobs/{id}/permissions` (granted by the job's owner or an admin) and
//! `/api/v1/namespaces/{name}/permissions` (admin): who may do what. A PUT replaces the whole set.

use axum::Json;
use axum::extract::{Path, Request, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::{AppState, Caller, Error, Result};
use crate::auth::{GranteeKind, JobPermission, NamespacePermission};
use crate::store::grants::{Grant, GrantRow};

/// Most grants on one job or namespace.
pub const GRANTS_MAX: usize = 1000;

/// Permissions on a job for one user or group.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobGrantBody {
    /// `user` (a token subject) or `group` (`*`: every valid token).
    pub grantee_kind: GranteeKind,
    /// The subject or group.
    pub grantee: String,
    /// What they may do (any of them includes `view`).
    pub permissions: Vec<JobPermission>,
}

/// The whole set of a job's grants.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobGrantsBody {
    /// The grants (replacing every earlier one).
    pub grants: Vec<JobGrantBody>,
}

/// Permissions on a namespace for one user or group.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceGrantBody {
    /// `user` (a token subject) or `group` (`*`: every valid token).
    pub grantee_kind: GranteeKind,
    /// The subject or group.
    pub grantee: String,
    /// What they may do.
    pub permissions: Vec<NamespacePermission>,
}

/// The whole set of a namespace's grants.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceGrantsBody {
    /// The grants (replacing every earlier one).
    pub grants: Vec<NamespaceGrantBody>,
}

/// One permission granted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantView {
    /// `user` or `group`.
    pub grantee_kind: String,
    /// The subject or group.
    pub grantee: String,
    /// The permission.
    pub permission: String,
    /// Who granted it.
    pub granted_by: String,
    /// When.
    pub granted_at: DateTime<Utc>,
}

/// Who may do what on a job: its owner, and the grants.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobPermissionsView {
    /// The job's owner (its creator): every permission, and may grant them.
    pub owner: String,
    /// The grants.
    pub grants: Vec<GrantView>,
}

impl GrantView {
    /// The API's view of a stored grant.
    pub fn from_row(g: &GrantRow) -> Self {
        GrantView {
            grantee_kind: g.grantee_kind.clone(),
            grantee: g.grantee.clone(),
            permission: g.permission.clone(),
            granted_by: g.granted_by.clone(),
            granted_at: g.granted_at,
        }
    }
}

/// Who may do what on the job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/permissions", params(("id" = i64, Path)), responses(
    (status = 200, body = JobPermissionsView), (status = 404, body = ErrorBody)))]
pub async fn get_job_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobPermissionsView>> {
    let job = super::jobs::find(&state, super::jobs::parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::View).await?;
    let grants = state.store.job_grants(job.id).await?.iter().map(GrantView::from_row).collect();
    Ok(Json(JobPermissionsView { owner: job.created_by, grants }))
}

/// Replaces who may do what on the job. The job's owner or an admin.
#[utoipa::path(put, path = "/api/v1/jobs/{id}/permissions", params(("id" = i64, Path)),
    request_body(content = JobGrantsBody, content_type = "application/json"), responses(
    (status = 200, body = JobPermissionsView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_job_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<JobPermissionsView>> {
    let job = super::jobs::find(&state, super::jobs::parse_id(&id)?).await?;
    // Viewing first: a caller who may not see the job learns nothing of it here (not its owner).
    caller.require_job(&state, &job, JobPermission::View).await?;
    caller.require_owner(&job)?;
    let body: JobGrantsBody = json(req).await?;
    let grants =
        flatten(body.grants.iter().map(|g| (g.grantee_kind, &g.grantee, g.permissions.iter().map(|p| p.as_str()))))?;
    state.store.job_grants_replace(job.id, &grants, &caller.actor(None)).await?;
    get_job_permissions(State(state), caller, Path(id)).await
}

/// Who may create jobs in, and view, the namespace. Admin.
#[utoipa::path(get, path = "/api/v1/namespaces/{name}/permissions", params(("name" = String, Path)), responses(
    (status = 200, body = Vec<GrantView>), (status = 404, body = ErrorBody)))]
pub async fn get_namespace_permissions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<GrantView>>> {
    existing_namespace(&state, &name).await?;
    Ok(Json(state.store.namespace_grants(&name).await?.iter().map(GrantView::from_row).collect()))
}

/// Replaces who may create jobs in, and view, the namespace. Admin.
#[utoipa::path(put, path = "/api/v1/namespaces/{name}/permissions", params(("name" = String, Path)),
    request_body(content = NamespaceGrantsBody, content_type = "application/json"), responses(
    (status = 200, body = Vec<GrantView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_namespace_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    req: Request,
) -> Result<Json<Vec<GrantView>>> {
    existing_namespace(&state, &name).await?;
    let body: NamespaceGrantsBody = json(req).await?;
    let grants =
        flatten(body.grants.iter().map(|g| (g.grantee_kind, &g.grantee, g.permissions.iter().map(|p| p.as_str()))))?;
    state.store.namespace_grants_replace(&name, &grants, &caller.actor(None)).await?;
    get_namespace_permissions(State(state), Path(name)).await
}

/// A 404 unless `name` names an existing namespace.
async fn existing_namespace(state: &AppState, name: &str) -> Result<()> {
    let exists = crate::config::namespace_name_ok(name) && state.store.namespace_limit(name).await?.is_some();
    if exists { Ok(()) } else { Err(Error::NotFound(format!("namespace {name:?}"))) }
}

/// The grants as rows to store, checked: grantees of 1 to 255 printable characters, at most
/// [`GRANTS_MAX`].
fn flatten<'a, I, P>(grants: I) -> Result<Vec<Grant>>
where
    I: Iterator<Item = (GranteeKind, &'a String, P)>,
    P: Iterator<Item = &'static str>,
{
    let mut out = Vec::new();
    for (kind, grantee, permissions) in grants {
        if grantee.is_empty() || grantee.chars().count() > 255 || grantee.chars().any(char::is_control) {
            return Err(Error::bad_request("invalid_field", "grantee must be 1 to 255 printable characters"));
        }
        for p in permissions {
            out.push((kind.as_str().to_string(), grantee.clone(), p.to_string()));
        }
    }
    if out.len() > GRANTS_MAX {
        return Err(Error::bad_request("invalid_field", format!("at most {GRANTS_MAX} grants")));
    }
    Ok(out)
}

/// A JSON body, with a 400 naming what is wrong.
async fn json<T: serde::de::DeserializeOwned>(req: Request) -> Result<T> {
    let bytes = axum::body::to_bytes(req.into_body(), 1024 * 1024)
        .await
        .map_err(|e| Error::bad_request("invalid_body", format!("the body cannot be read: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_request("invalid_body", format!("invalid JSON body: {e}")))
}
