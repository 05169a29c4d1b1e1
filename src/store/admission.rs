//! The leader's reads and writes for admission: one consistent snapshot, then one fenced commit.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, Postgres, Row, Transaction};

use super::held::Held;
use super::leader::{leader_check_epoch, leader_read_epoch};
use super::{Error, Resources, Result, RunId, Store, WorkerId};
use crate::domain::{Priority, RunState, Sharing};

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
    /// Its queue.
    pub priority: Priority,
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
    /// How its queues are shared between users.
    pub sharing: Sharing,
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
    sharing: Sharing,
}

impl From<NamespaceUseRow> for NamespaceRow {
    fn from(r: NamespaceUseRow) -> Self {
        Self {
            name: r.name,
            limit: Resources { cpu: r.cpu_limit, memory: r.memory_limit, pods: r.pods_limit, storage: r.storage_limit },
            used: Resources { cpu: r.used_cpu, memory: r.used_memory, pods: r.used_pods, storage: r.used_storage },
            sharing: r.sharing,
        }
    }
}

/// A namespace's quota, from a JSON row of `namespaces`.
#[derive(Debug, Clone, Deserialize)]
struct Quota {
    name: String,
    cpu_limit: i64,
    memory_limit: i64,
    pods_limit: i64,
    storage_limit: i64,
    sharing: Sharing,
}

impl From<Quota> for QuotaRow {
    fn from(q: Quota) -> Self {
        Self {
            name: q.name,
            limit: Resources { cpu: q.cpu_limit, memory: q.memory_limit, pods: q.pods_limit, storage: q.storage_limit },
            sharing: q.sharing,
        }
    }
}

/// A namespace's quota, as the snapshot reads it (its use is summed from the active groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    /// Name.
    pub name: String,
    /// Quota.
    pub limit: Resources,
    /// How its queues are shared between users.
    pub sharing: Sharing,
}

/// A live worker's capacity, from the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LiveWorkerRow {
    /// Registration id.
    pub id: WorkerId,
    /// Services it runs.
    pub services: Vec<String>,
    /// Capacity.
    #[serde(flatten)]
    pub capacity: Resources,
}

/// Admitted and running runs that share everything the ledger tells apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveGroup {
    /// Namespace.
    pub namespace: String,
    /// Submitting user.
    pub user_id: String,
    /// Service.
    pub service: String,
    /// `admitted` or `running`.
    pub state: RunState,
    /// The worker running them (`running` only).
    pub worker_id: Option<WorkerId>,
    /// Each run's request.
    pub request: Resources,
    /// How many runs.
    pub runs: i64,
    /// The oldest admission among them.
    pub first: Option<DateTime<Utc>>,
}

/// The `active_*` columns of admission/snapshot.sql's first row: the groups, one array per field.
#[derive(sqlx::FromRow)]
struct ActiveColumns {
    active_namespace: Vec<String>,
    active_user_id: Vec<String>,
    active_service: Vec<String>,
    active_state: Vec<RunState>,
    active_worker_id: Vec<Option<WorkerId>>,
    active_cpu: Vec<i64>,
    active_memory: Vec<i64>,
    active_pods: Vec<i64>,
    active_storage: Vec<i64>,
    active_runs: Vec<i64>,
    active_first: Vec<Option<DateTime<Utc>>>,
}

impl ActiveColumns {
    /// The groups, element by element (the arrays come from one aggregation: equal lengths).
    fn groups(self) -> Vec<ActiveGroup> {
        let requests =
            self.active_cpu.into_iter().zip(self.active_memory).zip(self.active_pods).zip(self.active_storage);
        let requests = requests.map(|(((cpu, memory), pods), storage)| Resources { cpu, memory, pods, storage });
        let who = self.active_namespace.into_iter().zip(self.active_user_id).zip(self.active_service);
        let place = self.active_state.into_iter().zip(self.active_worker_id);
        let count = self.active_runs.into_iter().zip(self.active_first);
        who.zip(place)
            .zip(requests)
            .zip(count)
            .map(|(((((namespace, user_id), service), (state, worker_id)), request), (runs, first))| ActiveGroup {
                namespace,
                user_id,
                service,
                state,
                worker_id,
                request,
                runs,
                first,
            })
            .collect()
    }
}

/// Everything one admission cycle reads, from one consistent snapshot, as read: the scheduler's
/// capacity model (`scheduler::capacity`) sums and fits it.
#[derive(Debug, Clone)]
pub struct SnapshotRows {
    /// Queued runs (priority flow), oldest first per priority.
    pub queued: Vec<QueuedRow>,
    /// Every namespace's quota.
    pub namespaces: Vec<QuotaRow>,
    /// Live workers.
    pub workers: Vec<LiveWorkerRow>,
    /// Admitted and running runs, grouped.
    pub active: Vec<ActiveGroup>,
    /// The database clock at the snapshot.
    pub now: DateTime<Utc>,
}

/// One queue read again past the users held by their own cap (scheduler/admission/capped.rs).
#[derive(Debug, Clone, Copy)]
pub struct PastCapped<'a> {
    /// The queue's namespace.
    pub namespace: &'a str,
    /// The queue's priority.
    pub priority: Priority,
    /// The (user, service) pairs left out.
    pub capped: &'a [(String, String)],
    /// The snapshot's clock: runs cooling down after a head timeout until later are left out, as
    /// the snapshot leaves them out.
    pub now: DateTime<Utc>,
}

impl PastCapped<'_> {
    /// The capped pairs as two arrays, users and services, in the same order.
    fn pairs(&self) -> (Vec<&str>, Vec<&str>) {
        self.capped.iter().map(|(u, s)| (u.as_str(), s.as_str())).unzip()
    }
}

impl Store {
    /// The oldest `limit` queued runs of one queue without the capped pairs' runs
    /// (admission/queued_uncapped.sql): what a snapshot's full read of that queue hid behind users
    /// held by their own cap, in queue order.
    pub async fn admission_uncapped(&self, read: &PastCapped<'_>, limit: i64) -> Result<Vec<QueuedRow>> {
        let (users, services) = read.pairs();
        let rows = sqlx::query(include_str!("../../sql/admission/queued_uncapped.sql"))
            .bind(read.namespace)
            .bind(read.priority)
            .bind(limit)
            .bind(users)
            .bind(services)
            .bind(read.now)
            .fetch_all(self.generic_pool())
            .await?;
        rows.iter().map(queued_row).collect()
    }

    /// The two oldest queued runs after `cut` (a queue position: enqueued_at, id; `None`: from
    /// the oldest) of each (user, service) pair of one queue but the capped ones, visiting at most
    /// `visits` pairs (admission/queued_heads.sql): what a notification-driven cycle reads past
    /// users held by their own cap. Also returns how many pairs the read visited (0 when it
    /// returned no row).
    pub async fn admission_heads(
        &self,
        read: &PastCapped<'_>,
        visits: i64,
        cut: Option<(DateTime<Utc>, RunId)>,
    ) -> Result<(Vec<QueuedRow>, i64)> {
        let (users, services) = read.pairs();
        let rows = sqlx::query(include_str!("../../sql/admission/queued_heads.sql"))
            .bind(read.namespace)
            .bind(read.priority)
            .bind(visits)
            .bind(users)
            .bind(services)
            .bind(cut.map(|(at, _)| at))
            .bind(cut.map(|(_, id)| id))
            .bind(read.now)
            .fetch_all(self.generic_pool())
            .await?;
        let visited = match rows.first() {
            Some(row) => row.try_get("visited")?,
            None => 0,
        };
        Ok((rows.iter().map(queued_row).collect::<Result<_>>()?, visited))
    }

    /// Commits a cycle's admissions as a transaction of its own (admission/admit.sql): one round
    /// trip. Fails with `Deposed`, having written nothing, if `epoch` is stale.
    ///
    /// The commit does not wait for the WAL flush (`synchronous_commit = off` for this transaction
    /// only): a crash may forget the admission, which leaves the run `queued` for the next leader,
    /// and no worker's claim, which commits synchronously, can be durable without it
    /// (docs/state_machine.md, "Durability").
    pub async fn admit(&self, epoch: i64, batch: &AdmitBatch<'_>) -> Result<Admitted> {
        let mut conn = self.generic_pool().acquire().await?;
        admit(&mut conn, epoch, batch, true).await
    }

    /// Opens a fenced leader write transaction: fails with `Deposed` if `epoch` is stale.
    pub async fn leader_tx(&self, epoch: i64) -> Result<LeaderTx> {
        let mut tx = self.pool().begin().await?;
        leader_check_epoch(&mut tx, epoch).await?;
        Ok(LeaderTx { tx, epoch, fence_at_commit: false })
    }

    /// Opens a leader write transaction to keep open while the leader does other work (schedule
    /// fires prepared ahead of their time). It fails with `Deposed` at once if `epoch` is stale,
    /// but takes the fencing lock (FOR SHARE on the leader row) only in [`LeaderTx::commit`], right
    /// before committing: held all along, that lock would block the admission commit, which
    /// updates the leader row, until this transaction ends, and the leader loop that would end it
    /// is the one waiting in admission. Fenced all the same: nothing it wrote is visible before the
    /// commit, and the commit checks the epoch under the lock a takeover must wait for. Idle for
    /// longer than `idle_timeout` (a frozen leader), the server rolls it back.
    pub async fn leader_tx_held(&self, epoch: i64, idle_timeout: std::time::Duration) -> Result<LeaderTx> {
        let mut tx = self.pool().begin().await?;
        leader_read_epoch(&mut tx, epoch).await?;
        let ms = i64::try_from(idle_timeout.as_millis()).unwrap_or(i64::MAX).max(1);
        sqlx::query(include_str!("../../sql/leader/held_idle_timeout.sql")).bind(ms).execute(&mut *tx).await?;
        Ok(LeaderTx { tx, epoch, fence_at_commit: true })
    }
}

/// A leader write transaction, opened after the epoch check. Nothing is visible until `commit`.
pub struct LeaderTx {
    pub(super) tx: Transaction<'static, Postgres>,
    epoch: i64,
    /// Checks the epoch under the fencing lock in `commit` (`Store::leader_tx_held`).
    fence_at_commit: bool,
}

impl LeaderTx {
    /// Commits a cycle's admissions inside this transaction (admission/admit.sql). The commit
    /// stays synchronous: the transaction may also cancel runs (head timeouts), which a client
    /// acts upon.
    pub async fn admit(&mut self, batch: &AdmitBatch<'_>) -> Result<Admitted> {
        admit(&mut self.tx, self.epoch, batch, false).await
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

    /// Commits everything (a transaction from `Store::leader_tx_held` checks its epoch first, and
    /// fails with `Deposed`, rolled back, if a takeover happened since it began).
    pub async fn commit(mut self) -> Result<()> {
        if self.fence_at_commit {
            leader_check_epoch(&mut self.tx, self.epoch).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// A cycle's admissions, to re-check and commit.
#[derive(Debug, Clone, Copy)]
pub struct AdmitBatch<'a> {
    /// The runs to admit, in decision order, each with its namespace and that namespace's use once
    /// it is admitted: the use at the snapshot plus the requests of the batch's runs of that
    /// namespace up to and including this one. The commit re-checks it against the quota.
    pub runs: &'a [(RunId, &'a str, Resources)],
    /// The clock (`None`: the database's).
    pub now: Option<DateTime<Utc>>,
    /// The WRR credits after the cycle: (high, normal).
    pub wrr: (i64, i64),
}

/// What the commit did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    /// Runs admitted.
    pub admitted: Vec<RunId>,
    /// Runs the re-check refused: still queued at their place, with a `stale_quota_retry` event.
    pub stale: Vec<RunId>,
}

impl Held {
    /// Reads the admission snapshot in one statement on the held connection: one consistent view,
    /// one round trip. `None` when nothing is queued (and then no ledger is read).
    /// `now`: the clock to leave out runs cooling down by (`None`: the database's).
    pub async fn admission_snapshot(
        &mut self,
        per_queue: i64,
        lease_seconds: f64,
        now: Option<DateTime<Utc>>,
    ) -> Result<Option<SnapshotRows>> {
        let result = snapshot(self.conn().await?, per_queue, lease_seconds, now).await;
        self.settle(result)
    }

    /// [`Store::admit`] on the held connection.
    pub async fn admit(&mut self, epoch: i64, batch: &AdmitBatch<'_>) -> Result<Admitted> {
        let result = admit(self.conn().await?, epoch, batch, true).await;
        self.settle(result)
    }
}

/// Runs admission/snapshot.sql on `conn`.
async fn snapshot(
    conn: &mut PgConnection,
    per_queue: i64,
    lease_seconds: f64,
    now: Option<DateTime<Utc>>,
) -> Result<Option<SnapshotRows>> {
    let rows = sqlx::query(include_str!("../../sql/admission/snapshot.sql"))
        .bind(per_queue)
        .bind(lease_seconds)
        .bind(now)
        .fetch_all(conn)
        .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let now: DateTime<Utc> = first.try_get("now")?;
    let Json(quotas): Json<Vec<Quota>> = first.try_get("quotas")?;
    let Json(workers): Json<Vec<LiveWorkerRow>> = first.try_get("workers")?;
    let active = ActiveColumns::from_row(first)?.groups();
    let queued = rows.iter().map(queued_row).collect::<Result<Vec<_>>>()?;
    Ok(Some(SnapshotRows {
        queued,
        namespaces: quotas.into_iter().map(QuotaRow::from).collect(),
        workers,
        active,
        now,
    }))
}

/// Runs admission/admit.sql; `asynchronous` only when the statement is its own transaction.
async fn admit(conn: &mut PgConnection, epoch: i64, batch: &AdmitBatch<'_>, asynchronous: bool) -> Result<Admitted> {
    let ids: Vec<RunId> = batch.runs.iter().map(|(id, _, _)| *id).collect();
    let names: Vec<&str> = batch.runs.iter().map(|(_, name, _)| *name).collect();
    let dimension = |f: fn(&Resources) -> i64| batch.runs.iter().map(|(_, _, used)| f(used)).collect::<Vec<i64>>();
    let row = sqlx::query(include_str!("../../sql/admission/admit.sql"))
        .bind(&ids)
        .bind(batch.now)
        .bind(batch.wrr.0)
        .bind(batch.wrr.1)
        .bind(epoch)
        .bind(&names)
        .bind(dimension(|r| r.cpu))
        .bind(dimension(|r| r.memory))
        .bind(dimension(|r| r.pods))
        .bind(dimension(|r| r.storage))
        .bind(asynchronous)
        .fetch_one(conn)
        .await?;
    let current: i64 = row.try_get("epoch")?;
    if current != epoch {
        return Err(Error::Deposed { mine: epoch });
    }
    Ok(Admitted { admitted: row.try_get("admitted")?, stale: row.try_get("stale")? })
}

pub(super) async fn namespace_use(conn: &mut PgConnection, names: Option<&[String]>) -> Result<Vec<NamespaceRow>> {
    let rows: Vec<NamespaceUseRow> =
        sqlx::query_as(include_str!("../../sql/admission/namespace_use.sql")).bind(names).fetch_all(conn).await?;
    Ok(rows.into_iter().map(NamespaceRow::from).collect())
}

/// A queued run from a row of admission/snapshot.sql, queued_uncapped.sql or queued_heads.sql.
fn queued_row(r: &sqlx::postgres::PgRow) -> Result<QueuedRow> {
    Ok(QueuedRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        service: r.try_get("service")?,
        namespace: r.try_get("namespace")?,
        priority: r.try_get("priority")?,
        request: super::resources_of(r)?,
        enqueued_at: r.try_get("enqueued_at")?,
        head_since: r.try_get("head_since")?,
        head_retries: r.try_get("head_retries")?,
        not_before: r.try_get("not_before")?,
    })
}
