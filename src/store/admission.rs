//! The leader's reads and writes for admission: one consistent snapshot, then one fenced commit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::leader::leader_check_epoch;
use super::workers::WorkerRow;
use super::{Error, Resources, Result, RunId, Store};

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
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "NamespaceUseRow")]
pub struct NamespaceRow {
    /// Name.
    pub name: String,
    /// Quota.
    pub limit: Resources,
    /// Admitted and running runs' requests.
    pub used: Resources,
}

/// A row of the `namespace_use` view, from a statement or inside JSON.
#[derive(Debug, Clone, Deserialize, sqlx::FromRow)]
struct NamespaceUseRow {
    name: String,
    cpu_limit: i64,
    memory_limit: i64,
    pods_limit: i64,
    storage_limit: i64,
    used_cpu: i64,
    used_memory: i64,
    used_pods: i64,
    used_storage: i64,
}

impl From<NamespaceUseRow> for NamespaceRow {
    fn from(r: NamespaceUseRow) -> Self {
        Self {
            name: r.name,
            limit: Resources { cpu: r.cpu_limit, memory: r.memory_limit, pods: r.pods_limit, storage: r.storage_limit },
            used: Resources { cpu: r.used_cpu, memory: r.used_memory, pods: r.used_pods, storage: r.used_storage },
        }
    }
}

/// A row of the `user_running` view.
#[derive(Debug, Clone, Deserialize)]
struct UserRunning {
    user_id: String,
    service: String,
    running: i64,
}

/// Admitted and running runs per (user, service).
pub type PerUser = HashMap<(String, String), i64>;

fn per_user(rows: Vec<UserRunning>) -> PerUser {
    rows.into_iter().map(|r| ((r.user_id, r.service), r.running)).collect()
}

/// Admitted runs no worker has claimed yet, of one service and request.
#[derive(Debug, Clone, Deserialize)]
struct Unclaimed {
    service: String,
    #[serde(flatten)]
    request: Resources,
    runs: i64,
}

/// The `ledger` column of admission/snapshot.sql.
#[derive(Debug, Deserialize)]
struct Ledger {
    namespaces: Vec<NamespaceRow>,
    user_running: Vec<UserRunning>,
    workers: Vec<WorkerRow>,
    unclaimed: Vec<Unclaimed>,
}

/// Everything one admission cycle reads, from one consistent snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotRows {
    /// Queued runs (priority flow), oldest first per priority.
    pub queued: Vec<QueuedRow>,
    /// Namespaces with use.
    pub namespaces: Vec<NamespaceRow>,
    /// Admitted and running runs per (user, service).
    pub user_running: PerUser,
    /// Workers (live or not) with use.
    pub workers: Vec<WorkerRow>,
    /// Admitted runs not yet claimed: (service, request).
    pub unclaimed: Vec<(String, Resources)>,
    /// The database clock at the snapshot.
    pub now: DateTime<Utc>,
}

impl Store {
    /// Reads the admission snapshot in one statement: one consistent view, one round trip.
    /// `None` when nothing is queued (and then no ledger is read).
    pub async fn admission_snapshot(&self, per_queue: i64, lease_seconds: f64) -> Result<Option<SnapshotRows>> {
        let rows = sqlx::query(include_str!("../../sql/admission/snapshot.sql"))
            .bind(per_queue)
            .bind(lease_seconds)
            .fetch_all(self.pool())
            .await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let now: DateTime<Utc> = first.try_get("now")?;
        let Json(ledger): Json<Ledger> = first.try_get("ledger")?;
        let queued = rows
            .iter()
            .map(|r| {
                Ok(QueuedRow {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    service: r.try_get("service")?,
                    namespace: r.try_get("namespace")?,
                    priority: r.try_get("priority")?,
                    request: Resources {
                        cpu: r.try_get("cpu")?,
                        memory: r.try_get("memory")?,
                        pods: r.try_get("pods")?,
                        storage: r.try_get("storage")?,
                    },
                    enqueued_at: r.try_get("enqueued_at")?,
                    head_since: r.try_get("head_since")?,
                    head_retries: r.try_get("head_retries")?,
                    not_before: r.try_get("not_before")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut workers = ledger.workers;
        for w in &mut workers {
            w.free = w.free();
        }
        let unclaimed = ledger
            .unclaimed
            .into_iter()
            .flat_map(|u| std::iter::repeat_n((u.service, u.request), usize::try_from(u.runs).unwrap_or(0)))
            .collect();
        Ok(Some(SnapshotRows {
            queued,
            namespaces: ledger.namespaces,
            user_running: per_user(ledger.user_running),
            workers,
            unclaimed,
            now,
        }))
    }

    /// Opens an admission commit: the fencing check, FOR UPDATE on the namespaces `names` and the
    /// ledger under those locks (the quota and use of those namespaces, the admitted and running
    /// runs of the `users` (user, service) pairs), in one statement. Fails with `Deposed` if
    /// `epoch` is stale.
    pub async fn admission_tx(
        &self,
        epoch: i64,
        names: &[String],
        users: &[(String, String)],
    ) -> Result<(LeaderTx, Vec<NamespaceRow>, PerUser)> {
        let (user_ids, services): (Vec<&str>, Vec<&str>) = users.iter().map(|(u, s)| (u.as_str(), s.as_str())).unzip();
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(include_str!("../../sql/admission/lock_ledger.sql"))
            .bind(names)
            .bind(&user_ids)
            .bind(&services)
            .fetch_one(&mut *tx)
            .await?;
        let current: i64 = row.try_get("epoch")?;
        if current != epoch {
            return Err(Error::Deposed { mine: epoch });
        }
        let Json(namespaces): Json<Vec<NamespaceRow>> = row.try_get("namespaces")?;
        let Json(users): Json<Vec<UserRunning>> = row.try_get("user_running")?;
        Ok((LeaderTx { tx, epoch }, namespaces, per_user(users)))
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
    /// Admits the runs (those still queued), with events, and saves the WRR credits (high,
    /// normal) of this term. Returns the ids admitted.
    pub async fn admit(&mut self, ids: &[RunId], now: Option<DateTime<Utc>>, wrr: (i64, i64)) -> Result<Vec<RunId>> {
        let done: Vec<RunId> = sqlx::query_scalar(include_str!("../../sql/admission/admit.sql"))
            .bind(ids)
            .bind(now)
            .bind(wrr.0)
            .bind(wrr.1)
            .bind(self.epoch)
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

    /// Commits everything.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

pub(super) async fn namespace_use(conn: &mut PgConnection, names: Option<&[String]>) -> Result<Vec<NamespaceRow>> {
    let rows: Vec<NamespaceUseRow> =
        sqlx::query_as(include_str!("../../sql/admission/namespace_use.sql")).bind(names).fetch_all(conn).await?;
    Ok(rows.into_iter().map(NamespaceRow::from).collect())
}
