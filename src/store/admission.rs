//! The leader's reads and writes for admission: one consistent snapshot, then one fenced commit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::leader::leader_check_epoch;
use super::workers::WorkerRow;
use super::{Resources, Result, RunId, Store};

/// A queued run as admission sees it.
#[derive(Debug, Clone)]
pub struct QueuedRow {
    /// Run id.
    pub id: RunId,
    /// Submitting user.
    pub user_id: String,
    /// Service.
    pub service: String,
    /// Namespace.
    pub namespace: String,
    /// `high` or `normal`.
    pub priority: String,
    /// Requested resources.
    pub request: Resources,
    /// Queue position key.
    pub enqueued_at: DateTime<Utc>,
    /// Since when it blocks the head of a scope.
    pub head_since: Option<DateTime<Utc>>,
    /// Head-timeout retries used.
    pub head_retries: i32,
    /// Cool-down end after a head-timeout retry.
    pub not_before: Option<DateTime<Utc>>,
}

/// A namespace's quota and current use.
#[derive(Debug, Clone)]
pub struct NamespaceRow {
    /// Name.
    pub name: String,
    /// Quota.
    pub limit: Resources,
    /// Admitted and running runs' requests.
    pub used: Resources,
}

/// Everything one admission cycle reads, from one consistent snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotRows {
    /// Queued runs (priority flow), oldest first per priority.
    pub queued: Vec<QueuedRow>,
    /// Namespaces with use.
    pub namespaces: Vec<NamespaceRow>,
    /// Admitted and running runs per (user, service).
    pub user_running: HashMap<(String, String), i64>,
    /// Workers (live or not) with use.
    pub workers: Vec<WorkerRow>,
    /// Admitted runs not yet claimed: (service, request).
    pub unclaimed: Vec<(String, Resources)>,
    /// The database clock at the snapshot.
    pub now: DateTime<Utc>,
}

impl Store {
    /// Reads the admission snapshot in one repeatable-read transaction.
    pub async fn admission_snapshot(&self, per_queue: i64, lease_seconds: f64) -> Result<SnapshotRows> {
        let mut tx = self.pool().begin_with(include_str!("../../sql/schema/snapshot.sql")).await?;
        let now: DateTime<Utc> =
            sqlx::query_scalar(include_str!("../../sql/schema/now.sql")).fetch_one(&mut *tx).await?;
        let queued = sqlx::query(include_str!("../../sql/admission/queued.sql"))
            .bind(per_queue)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| {
                Ok(QueuedRow {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    service: r.try_get("service")?,
                    namespace: r.try_get("namespace")?,
                    priority: r.try_get("priority")?,
                    request: resources(&r, "")?,
                    enqueued_at: r.try_get("enqueued_at")?,
                    head_since: r.try_get("head_since")?,
                    head_retries: r.try_get("head_retries")?,
                    not_before: r.try_get("not_before")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if queued.is_empty() {
            // Nothing to admit: skip the ledger reads, whose cost grows with the admitted and
            // running runs (a legacy-flow burn-down would pay them on every finish).
            tx.commit().await?;
            let (namespaces, workers, unclaimed) = (Vec::new(), Vec::new(), Vec::new());
            return Ok(SnapshotRows { queued, namespaces, user_running: HashMap::new(), workers, unclaimed, now });
        }
        let namespaces = namespace_use(&mut tx, None).await?;
        let user_running = user_running(&mut tx).await?;
        let workers = sqlx::query_as(include_str!("../../sql/workers/list.sql"))
            .bind(lease_seconds)
            .bind(None::<DateTime<Utc>>)
            .fetch_all(&mut *tx)
            .await?;
        let unclaimed = sqlx::query(include_str!("../../sql/admission/unclaimed.sql"))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get("service")?, resources(&r, "")?)))
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(SnapshotRows { queued, namespaces, user_running, workers, unclaimed, now })
    }

    /// Opens a fenced leader write transaction: fails with `Deposed` if `epoch` is stale.
    pub async fn leader_tx(&self, epoch: i64) -> Result<LeaderTx> {
        let mut tx = self.pool().begin().await?;
        leader_check_epoch(&mut tx, epoch).await?;
        Ok(LeaderTx { tx, epoch })
    }
}

/// A leader write transaction, opened after the epoch check. Nothing is visible until `commit`.
pub struct LeaderTx {
    pub(super) tx: Transaction<'static, Postgres>,
    epoch: i64,
}

impl LeaderTx {
    /// Locks the namespaces an admission batch touches and returns their quota and current use,
    /// read after the lock (so the re-check sees any quota change that committed before).
    pub async fn lock_namespaces(&mut self, names: &[String]) -> Result<Vec<NamespaceRow>> {
        sqlx::query(include_str!("../../sql/admission/lock_namespaces.sql")).bind(names).execute(&mut *self.tx).await?;
        namespace_use(&mut self.tx, Some(names)).await
    }

    /// Admitted and running runs per (user, service), as of now.
    pub async fn user_running(&mut self) -> Result<HashMap<(String, String), i64>> {
        user_running(&mut self.tx).await
    }

    /// Admits the runs (those still queued), with events. Returns the ids admitted.
    pub async fn admit(&mut self, ids: &[RunId], now: Option<DateTime<Utc>>) -> Result<Vec<RunId>> {
        let done: Vec<RunId> = sqlx::query_scalar(include_str!("../../sql/admission/admit.sql"))
            .bind(ids)
            .bind(now)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(done)
    }

    /// Writes `stale_quota_retry` events for runs whose admission the re-check refused.
    pub async fn stale_retry(&mut self, stale: &[(RunId, String)], now: Option<DateTime<Utc>>) -> Result<()> {
        let ids: Vec<RunId> = stale.iter().map(|(id, _)| *id).collect();
        let messages: Vec<&str> = stale.iter().map(|(_, m)| m.as_str()).collect();
        sqlx::query(include_str!("../../sql/admission/stale_retry.sql"))
            .bind(&ids)
            .bind(&messages)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Stores block records and head timers: (run, record, head_since).
    pub async fn record_blocks(&mut self, records: &[(RunId, serde_json::Value, Option<DateTime<Utc>>)]) -> Result<()> {
        let ids: Vec<RunId> = records.iter().map(|r| r.0).collect();
        let blocks: Vec<&serde_json::Value> = records.iter().map(|r| &r.1).collect();
        let heads: Vec<Option<DateTime<Utc>>> = records.iter().map(|r| r.2).collect();
        sqlx::query(include_str!("../../sql/admission/record_blocks.sql"))
            .bind(&ids)
            .bind(&blocks)
            .bind(&heads)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// A head-timeout retry: cool-down until `not_before`, place kept, event written.
    pub async fn head_retry(
        &mut self,
        run: RunId,
        not_before: DateTime<Utc>,
        retries: i32,
        message: &str,
        now: Option<DateTime<Utc>>,
    ) -> Result<()> {
        sqlx::query(include_str!("../../sql/admission/head_retry.sql"))
            .bind(run)
            .bind(not_before)
            .bind(retries)
            .bind(message)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Cancels a queued run with a reason (head timeout), with its event.
    pub async fn cancel(&mut self, run: RunId, reason: &str, kind: &str, now: Option<DateTime<Utc>>) -> Result<()> {
        sqlx::query(include_str!("../../sql/runs/cancel.sql"))
            .bind(run)
            .bind(reason)
            .bind("scheduler")
            .bind(kind)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Saves the WRR credits (high, normal) of this term.
    pub async fn save_wrr(&mut self, wrr: (i64, i64)) -> Result<()> {
        sqlx::query(include_str!("../../sql/leader/save_wrr.sql"))
            .bind(wrr.0)
            .bind(wrr.1)
            .bind(self.epoch)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Commits everything.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

pub(super) async fn namespace_use(conn: &mut PgConnection, names: Option<&[String]>) -> Result<Vec<NamespaceRow>> {
    sqlx::query(include_str!("../../sql/admission/namespace_use.sql"))
        .bind(names)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|r| {
            Ok(NamespaceRow {
                name: r.try_get("name")?,
                limit: Resources {
                    cpu: r.try_get("cpu_limit")?,
                    memory: r.try_get("memory_limit")?,
                    pods: r.try_get("pods_limit")?,
                    storage: r.try_get("storage_limit")?,
                },
                used: resources(&r, "used_")?,
            })
        })
        .collect()
}

async fn user_running(conn: &mut PgConnection) -> Result<HashMap<(String, String), i64>> {
    let rows = sqlx::query(include_str!("../../sql/admission/user_running.sql")).fetch_all(conn).await?;
    rows.into_iter().map(|r| Ok(((r.try_get("user_id")?, r.try_get("service")?), r.try_get("running")?))).collect()
}

fn resources(r: &sqlx::postgres::PgRow, prefix: &str) -> Result<Resources> {
    Ok(Resources {
        cpu: r.try_get(format!("{prefix}cpu").as_str())?,
        memory: r.try_get(format!("{prefix}memory").as_str())?,
        pods: r.try_get(format!("{prefix}pods").as_str())?,
        storage: r.try_get(format!("{prefix}storage").as_str())?,
    })
}
