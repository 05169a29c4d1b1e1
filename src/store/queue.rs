//! Operator views: namespaces with quota, use and queued demand; the queue in admission order; the
//! admin switch of every job to the legacy flow.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, Row};

use super::admission::NamespaceRow;
use super::grants::Viewer;
use super::notify::{self, notify};
use super::{Resources, Result, RunId, Store};
use crate::domain::{Priority, Sharing};

/// A namespace with its quota, use and queued demand (the API shows it through
/// `api::namespaces::NamespaceView`).
#[derive(Debug, Clone)]
pub struct NamespaceUsage {
    /// Name.
    pub name: String,
    /// Quota.
    pub limit: Resources,
    /// Requests of its admitted and running runs.
    pub used: Resources,
    /// Requests of its queued runs.
    pub queued: Resources,
    /// Number of queued runs.
    pub queued_runs: i64,
    /// How its queues are shared between users.
    pub sharing: Sharing,
}

/// A queued run in admission order (the API shows it through `api::queue::QueuedView`).
#[derive(Debug, Clone, FromRow)]
pub struct QueuedRow {
    /// Run id.
    pub id: RunId,
    /// Submitting user.
    pub user_id: String,
    /// Service.
    pub service: String,
    /// Namespace.
    pub namespace: String,
    /// Its queue.
    pub priority: Priority,
    /// Queue position key.
    pub enqueued_at: DateTime<Utc>,
    /// Since when it blocks the head of a scope.
    pub head_since: Option<DateTime<Utc>>,
    /// End of its cool-down after a head-timeout retry.
    pub not_before: Option<DateTime<Utc>>,
    /// The last admission cycle's record of why it waits.
    pub block: Option<serde_json::Value>,
    /// Whether its namespace shares between users (`fair`): admission walks it in fair order.
    pub fair: bool,
    /// Its user's runs admitted or running in its namespace (read for fair namespaces only).
    pub active: i64,
    /// It cools down after a head timeout: admission reads it only once that is over.
    pub cooling: bool,
    /// Whether the caller may view it (the API shows the others as positions without names).
    pub visible: bool,
}

impl Store {
    /// Namespaces (all, or those named) with quota, use and queued demand.
    pub async fn namespace_views(&self, names: Option<&[String]>) -> Result<Vec<NamespaceUsage>> {
        let mut conn = self.pool().acquire().await?;
        let rows: Vec<NamespaceRow> = super::admission::namespace_use(&mut conn, names).await?;
        let demand = sqlx::query(include_str!("../../sql/namespaces/queued_demand.sql"))
            .bind(names)
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Vec::new();
        for ns in rows {
            let d = demand.iter().find(|r| r.try_get::<String, _>("name").ok().as_deref() == Some(ns.name.as_str()));
            let (queued, queued_runs) = match d {
                Some(r) => (super::resources_of(r)?, r.try_get("runs")?),
                None => (Resources::default(), 0),
            };
            out.push(NamespaceUsage {
                name: ns.name,
                limit: ns.limit,
                used: ns.used,
                queued,
                queued_runs,
                sharing: ns.sharing,
            });
        }
        Ok(out)
    }

    /// A namespace's quota, or `None` if it does not exist yet.
    pub async fn namespace_limit(&self, name: &str) -> Result<Option<Resources>> {
        let row: Option<(i64, i64, i64, i64)> = sqlx::query_as(include_str!("../../sql/namespaces/get_limit.sql"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(cpu, memory, pods, storage)| Resources { cpu, memory, pods, storage }))
    }

    /// Sets a namespace's quota (creating it) and wakes the leader.
    pub async fn namespace_set_quota(&self, name: &str, quota: Resources, sharing: Option<Sharing>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(include_str!("../../sql/namespaces/upsert.sql"))
            .bind(name)
            .bind(quota.cpu)
            .bind(quota.memory)
            .bind(quota.pods)
            .bind(quota.storage)
            .bind(sharing)
            .execute(&mut *tx)
            .await?;
        notify(&mut tx, notify::FINISHED).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes the given parts of an existing namespace's quota and its sharing, keeping the rest
    /// (`None`: kept); wakes admission like [`Store::namespace_set_quota`]. `false`, with nothing
    /// changed, when there is no such namespace.
    pub async fn namespace_patch(
        &self,
        name: &str,
        cpu: Option<i64>,
        memory: Option<i64>,
        pods: Option<i64>,
        storage: Option<i64>,
        sharing: Option<Sharing>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let found: Option<String> = sqlx::query_scalar(include_str!("../../sql/namespaces/patch.sql"))
            .bind(name)
            .bind(cpu)
            .bind(memory)
            .bind(pods)
            .bind(storage)
            .bind(sharing)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(false);
        }
        notify(&mut tx, notify::FINISHED).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Queued runs, optionally of one namespace and/or priority, in queue order: the first
    /// `limit`, and every fair namespace's run that the admission snapshot reads (`fair_read`
    /// runs per queue) with those cooling down. `api::queue` keeps the first `limit` in
    /// admission order.
    pub async fn queue_list(
        &self,
        namespace: Option<&str>,
        priority: Option<Priority>,
        limit: i64,
        fair_read: i64,
        viewer: Option<&Viewer>,
    ) -> Result<Vec<QueuedRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/runs/queue.sql"))
            .bind(namespace)
            .bind(priority)
            .bind(limit)
            .bind(viewer.map(|v| v.subject.as_str()))
            .bind(viewer.map(|v| v.groups.clone()).unwrap_or_default())
            .bind(fair_read)
            .fetch_all(self.pool())
            .await?)
    }

    /// Moves every job to the legacy flow; returns (jobs, runs) moved.
    pub async fn jobs_migrate_to_legacy(&self, actor: &str) -> Result<(i64, i64)> {
        let mut tx = self.pool().begin().await?;
        let row =
            sqlx::query(include_str!("../../sql/jobs/migrate_to_legacy.sql")).bind(actor).fetch_one(&mut *tx).await?;
        notify(&mut tx, notify::ADMITTED).await?;
        tx.commit().await?;
        Ok((row.try_get("jobs")?, row.try_get("runs")?))
    }
}
