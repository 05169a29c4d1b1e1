//! The leader's reads and writes for admission: one consistent snapshot, then one fenced commit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::leader::leader_check_epoch;
use super::{Error, Resources, Result, RunId, Store, WorkerId};
use crate::domain::{Priority, RunState};

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

/// A namespace's quota, from a JSON row of `namespaces`.
#[derive(Debug, Clone, Deserialize)]
struct Quota {
    name: String,
    cpu_limit: i64,
    memory_limit: i64,
    pods_limit: i64,
    storage_limit: i64,
}

impl Quota {
    fn limit(&self) -> Resources {
        Resources { cpu: self.cpu_limit, memory: self.memory_limit, pods: self.pods_limit, storage: self.storage_limit }
    }
}

/// Admitted and running runs per (user, service).
pub type PerUser = HashMap<(String, String), i64>;

/// A live worker's capacity, from the ledger.
#[derive(Debug, Clone, Deserialize)]
struct LedgerWorker {
    id: WorkerId,
    services: Vec<String>,
    #[serde(flatten)]
    capacity: Resources,
}

/// Admitted and running runs that share everything the ledger tells apart.
#[derive(Debug, Clone, Deserialize)]
struct ActiveGroup {
    namespace: String,
    user_id: String,
    service: String,
    state: RunState,
    worker_id: Option<WorkerId>,
    #[serde(flatten)]
    request: Resources,
    runs: i64,
    /// The oldest admission among them.
    first: Option<DateTime<Utc>>,
}

/// The `ledger` column of admission/snapshot.sql.
#[derive(Debug, Deserialize)]
struct Ledger {
    namespaces: Vec<Quota>,
    workers: Vec<LedgerWorker>,
    active: Vec<ActiveGroup>,
}

/// A live worker with what its running runs use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerUse {
    /// Registration id.
    pub id: WorkerId,
    /// Services it runs.
    pub services: Vec<String>,
    /// Capacity.
    pub capacity: Resources,
    /// Capacity minus its running runs' requests.
    pub free: Resources,
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
    /// Live workers with use.
    pub workers: Vec<WorkerUse>,
    /// Admitted runs not yet claimed, oldest shape first: (service, request).
    pub unclaimed: Vec<(String, Resources)>,
    /// The database clock at the snapshot.
    pub now: DateTime<Utc>,
}

/// Unclaimed admitted runs of one (service, request): how many, and the oldest admission.
type Shape = (i64, Option<DateTime<Utc>>);

impl Ledger {
    /// Sums the groups per scope: the namespaces' use, the runs per (user, service), the workers'
    /// free capacity and the unclaimed admitted runs, oldest shape first.
    fn into_rows(self, queued: Vec<QueuedRow>, now: DateTime<Utc>) -> SnapshotRows {
        let mut used: HashMap<&str, Resources> = HashMap::new();
        let mut per_user = PerUser::new();
        let mut per_worker: HashMap<WorkerId, Resources> = HashMap::new();
        // (service, request) -> (runs, oldest admission)
        let mut shapes: HashMap<(&str, Resources), Shape> = HashMap::new();
        for g in &self.active {
            let total = g.request.times(g.runs);
            let ns = used.entry(g.namespace.as_str()).or_default();
            *ns = ns.saturating_add(&total);
            *per_user.entry((g.user_id.clone(), g.service.clone())).or_default() += g.runs;
            match (g.state, g.worker_id) {
                (RunState::Running, Some(worker)) => {
                    let w = per_worker.entry(worker).or_default();
                    *w = w.saturating_add(&total);
                }
                (RunState::Admitted, _) => {
                    let shape = shapes.entry((g.service.as_str(), g.request)).or_insert((0, g.first));
                    // Every admitted run has its admission time (migration 0010's constraint).
                    shape.0 += g.runs;
                    shape.1 = shape.1.min(g.first);
                }
                _ => {}
            }
        }
        let namespaces = self
            .namespaces
            .iter()
            .map(|q| NamespaceRow {
                name: q.name.clone(),
                limit: q.limit(),
                used: used.get(q.name.as_str()).copied().unwrap_or_default(),
            })
            .collect();
        let workers = self
            .workers
            .into_iter()
            .map(|w| {
                let used = per_worker.get(&w.id).copied().unwrap_or_default();
                WorkerUse {
                    id: w.id,
                    services: w.services,
                    capacity: w.capacity,
                    free: w.capacity.saturating_sub(&used),
                }
            })
            .collect();
        let mut unclaimed: Vec<_> = shapes.into_iter().collect();
        // Oldest shape first; ties in a fixed order.
        unclaimed.sort_by_key(|((service, r), (_, first))| (*first, *service, r.cpu, r.memory, r.pods, r.storage));
        let unclaimed = unclaimed
            .into_iter()
            .flat_map(|((service, request), (runs, _))| {
                std::iter::repeat_n((service.to_string(), request), usize::try_from(runs).unwrap_or(0))
            })
            .collect();
        SnapshotRows { queued, namespaces, user_running: per_user, workers, unclaimed, now }
    }
}

impl Store {
    /// Reads the admission snapshot in one statement: one consistent view, one round trip.
    /// `None` when nothing is queued (and then no ledger is read).
    pub async fn admission_snapshot(&self, per_queue: i64, lease_seconds: f64) -> Result<Option<SnapshotRows>> {
        let rows = sqlx::query(include_str!("../../sql/admission/snapshot.sql"))
            .bind(per_queue)
            .bind(lease_seconds)
            .fetch_all(self.generic_pool())
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
                    request: super::resources_of(r)?,
                    enqueued_at: r.try_get("enqueued_at")?,
                    head_since: r.try_get("head_since")?,
                    head_retries: r.try_get("head_retries")?,
                    not_before: r.try_get("not_before")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(ledger.into_rows(queued, now)))
    }

    /// Commits a cycle's admissions as a transaction of its own (admission/admit.sql): one round
    /// trip. Fails with `Deposed`, having written nothing, if `epoch` is stale.
    pub async fn admit(&self, epoch: i64, batch: &AdmitBatch<'_>) -> Result<Admitted> {
        let mut conn = self.generic_pool().acquire().await?;
        admit(&mut conn, epoch, batch).await
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
    /// Commits a cycle's admissions inside this transaction (admission/admit.sql).
    pub async fn admit(&mut self, batch: &AdmitBatch<'_>) -> Result<Admitted> {
        admit(&mut self.tx, self.epoch, batch).await
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

async fn admit(conn: &mut PgConnection, epoch: i64, batch: &AdmitBatch<'_>) -> Result<Admitted> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group(
        ns: &str,
        user: &str,
        state: &str,
        worker: Option<WorkerId>,
        cpu: i64,
        runs: i64,
        first: i64,
    ) -> ActiveGroup {
        ActiveGroup {
            namespace: ns.into(),
            user_id: user.into(),
            service: "svc".into(),
            state: state.parse().expect("a run state"),
            worker_id: worker,
            request: Resources { cpu, memory: 10, pods: 1, storage: 0 },
            runs,
            first: DateTime::from_timestamp(first, 0),
        }
    }

    #[test]
    fn the_ledger_sums_each_scope_from_the_groups() {
        let quota = |name: &str| Quota {
            name: name.into(),
            cpu_limit: 10_000,
            memory_limit: 10_000,
            pods_limit: 100,
            storage_limit: 100,
        };
        let capacity = Resources { cpu: 4000, memory: 1000, pods: 10, storage: 100 };
        let ledger = Ledger {
            namespaces: vec![quota("a"), quota("idle")],
            workers: vec![LedgerWorker { id: WorkerId(1), services: vec!["svc".into()], capacity }],
            active: vec![
                group("a", "u1", "running", Some(WorkerId(1)), 500, 2, 5),
                // Running on a worker that is no longer live: counts for its namespace and user only.
                group("a", "u1", "running", Some(WorkerId(9)), 100, 1, 5),
                group("a", "u2", "admitted", None, 250, 3, 30),
                group("a", "u1", "admitted", None, 250, 1, 20),
                group("a", "u1", "admitted", None, 700, 1, 40),
            ],
        };
        let SnapshotRows { namespaces, user_running: users, workers, unclaimed, .. } =
            ledger.into_rows(Vec::new(), DateTime::UNIX_EPOCH);
        assert_eq!(namespaces[0].used, Resources { cpu: 2800, memory: 80, pods: 8, storage: 0 });
        assert_eq!(namespaces[1].used, Resources::default(), "a namespace without runs uses nothing");
        assert_eq!(users[&("u1".to_string(), "svc".to_string())], 5);
        assert_eq!(users[&("u2".to_string(), "svc".to_string())], 3);
        assert_eq!(workers[0].free, Resources { cpu: 3000, memory: 980, pods: 8, storage: 100 });
        let cpus: Vec<i64> = unclaimed.iter().map(|(_, r)| r.cpu).collect();
        assert_eq!(cpus, [250, 250, 250, 250, 700], "one shape for both users, oldest shape first");
    }
}
