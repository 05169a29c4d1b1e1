//! Workers: registration with capacity and services, batched heartbeats, clean stop, listing.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{AttemptId, Resources, Result, RunId, Store, WorkerId};

/// A registered worker with its use and liveness (the API shows it through
/// `api::workers::WorkerView`).
#[derive(Debug, Clone, FromRow)]
pub struct WorkerRow {
    /// Registration id.
    pub id: WorkerId,
    /// Host name and pid, or the configured name.
    pub name: String,
    /// Services it runs.
    pub services: Vec<String>,
    /// Capacity: millicores.
    pub cpu: i64,
    /// Capacity: MiB.
    pub memory: i64,
    /// Capacity: pods.
    pub pods: i64,
    /// Capacity: MiB.
    pub storage: i64,
    /// When it registered.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// When it stopped cleanly.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Heartbeat within the lease and not stopped.
    pub live: bool,
    /// Used: millicores.
    pub used_cpu: i64,
    /// Used: MiB.
    pub used_memory: i64,
    /// Used: pods.
    pub used_pods: i64,
    /// Used: MiB.
    pub used_storage: i64,
}

/// What a heartbeat tells the worker to stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// Runs whose cancellation was requested.
    pub cancel: Vec<RunId>,
    /// In-flight attempts that are no longer current (their runs were rescued).
    pub stale: Vec<AttemptId>,
}

impl WorkerRow {
    /// Capacity minus use.
    pub fn free(&self) -> Resources {
        Resources {
            cpu: self.cpu - self.used_cpu,
            memory: self.memory - self.used_memory,
            pods: self.pods - self.used_pods,
            storage: self.storage - self.used_storage,
        }
    }
}

impl Store {
    /// Registers a worker process; each start gets a new id.
    pub async fn worker_register(&self, name: &str, services: &[String], capacity: Resources) -> Result<WorkerId> {
        Ok(sqlx::query_scalar(include_str!("../../sql/workers/register.sql"))
            .bind(name)
            .bind(services)
            .bind(capacity.cpu)
            .bind(capacity.memory)
            .bind(capacity.pods)
            .bind(capacity.storage)
            .bind(None::<DateTime<Utc>>)
            .fetch_one(self.pool())
            .await?)
    }

    /// One heartbeat for the worker and all its runs, given the attempts it is executing.
    /// Returns what it must stop, or `None` if the worker was marked stopped.
    pub async fn worker_heartbeat(&self, id: WorkerId, in_flight: &[AttemptId]) -> Result<Option<HeartbeatReply>> {
        let rows: Vec<(WorkerId, Option<RunId>, Option<AttemptId>)> =
            sqlx::query_as(include_str!("../../sql/workers/heartbeat.sql"))
                .bind(id)
                .bind(None::<DateTime<Utc>>)
                .bind(in_flight)
                .fetch_all(self.pool())
                .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut reply = HeartbeatReply::default();
        for (_, run, attempt) in rows {
            reply.cancel.extend(run);
            reply.stale.extend(attempt);
        }
        Ok(Some(reply))
    }

    /// Marks the worker stopped (clean exit).
    pub async fn worker_stop(&self, id: WorkerId) -> Result<()> {
        sqlx::query(include_str!("../../sql/workers/stop.sql"))
            .bind(id)
            .bind(None::<DateTime<Utc>>)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every worker, with use and liveness under a lease of `lease_seconds`.
    pub async fn worker_list(&self, lease_seconds: f64) -> Result<Vec<WorkerRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/workers/list.sql"))
            .bind(lease_seconds)
            .bind(None::<DateTime<Utc>>)
            .fetch_all(self.pool())
            .await?)
    }
}
