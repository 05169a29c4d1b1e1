//! Permissions granted on jobs and namespaces, and the checks that read them. Admins and
//! anonymous callers (auth off) are never asked: the API lets them through before.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{JobId, Result, Store};
use crate::auth::{JobPermission, NamespacePermission};

/// Who asks: a subject and its groups (never an admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The token's subject.
    pub subject: String,
    /// The token's groups.
    pub groups: Vec<String>,
}

/// One grant as stored.
#[derive(Debug, Clone, FromRow)]
pub struct GrantRow {
    /// `user` or `group`.
    pub grantee_kind: String,
    /// The subject or group.
    pub grantee: String,
    /// The permission's name.
    pub permission: String,
    /// Who granted it.
    pub granted_by: String,
    /// When.
    pub granted_at: DateTime<Utc>,
}

/// A grant to store: (grantee kind, grantee, permission), as text.
pub type Grant = (String, String, String);

impl Store {
    /// Whether `viewer` holds `permission` on job `job` (owner, a grant, or the namespace's
    /// `view`); `None` when the job does not exist.
    pub async fn job_allows(&self, job: JobId, viewer: &Viewer, permission: JobPermission) -> Result<Option<bool>> {
        Ok(sqlx::query_scalar(include_str!("../../sql/grants/job_allows.sql"))
            .bind(job)
            .bind(&viewer.subject)
            .bind(&viewer.groups)
            .bind(permission.as_str())
            .fetch_optional(self.pool())
            .await?)
    }

    /// Whether `viewer` holds `permission` on `namespace`.
    pub async fn namespace_allows(
        &self,
        namespace: &str,
        viewer: &Viewer,
        permission: NamespacePermission,
    ) -> Result<bool> {
        Ok(sqlx::query_scalar(include_str!("../../sql/grants/namespace_allows.sql"))
            .bind(namespace)
            .bind(&viewer.subject)
            .bind(&viewer.groups)
            .bind(permission.as_str())
            .fetch_one(self.pool())
            .await?)
    }

    /// The grants on job `job`.
    pub async fn job_grants(&self, job: JobId) -> Result<Vec<GrantRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/grants/job_list.sql")).bind(job).fetch_all(self.pool()).await?)
    }

    /// Replaces the grants on job `job` with `grants`, in one transaction.
    pub async fn job_grants_replace(&self, job: JobId, grants: &[Grant], by: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(include_str!("../../sql/grants/job_clear.sql")).bind(job).execute(&mut *tx).await?;
        let (kinds, grantees, permissions) = columns(grants);
        sqlx::query(include_str!("../../sql/grants/job_insert.sql"))
            .bind(job)
            .bind(kinds)
            .bind(grantees)
            .bind(permissions)
            .bind(by)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The grants on namespace `namespace`.
    pub async fn namespace_grants(&self, namespace: &str) -> Result<Vec<GrantRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/grants/namespace_list.sql"))
            .bind(namespace)
            .fetch_all(self.pool())
            .await?)
    }

    /// Replaces the grants on namespace `namespace` with `grants`, in one transaction.
    pub async fn namespace_grants_replace(&self, namespace: &str, grants: &[Grant], by: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(include_str!("../../sql/grants/namespace_clear.sql")).bind(namespace).execute(&mut *tx).await?;
        let (kinds, grantees, permissions) = columns(grants);
        sqlx::query(include_str!("../../sql/grants/namespace_insert.sql"))
            .bind(namespace)
            .bind(kinds)
            .bind(grantees)
            .bind(permissions)
            .bind(by)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The grants as three parallel arrays, for `unnest`.
fn columns(grants: &[Grant]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (k, g, p) in grants {
        out.0.push(k.clone());
        out.1.push(g.clone());
        out.2.push(p.clone());
    }
    out
}
