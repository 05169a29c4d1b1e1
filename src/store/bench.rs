//! Reads and resets used only by `berth bench`: progress, timings and server settings.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Result, RunId, Store};

/// One run's benchmark timings (database clock, milliseconds from enqueue).
#[derive(Debug, Clone)]
pub struct RunTiming {
    /// Run id.
    pub id: RunId,
    /// State name.
    pub state: String,
    /// Enqueue to the start of its last attempt.
    pub start_ms: Option<f64>,
    /// Enqueue to its end.
    pub finish_ms: Option<f64>,
}

/// The database clock and the end of a burn-down.
#[derive(Debug, Clone)]
pub struct BenchWindow {
    /// The database clock now.
    pub now: DateTime<Utc>,
    /// The last finish among the runs looked at.
    pub last_finish: Option<DateTime<Utc>>,
    /// How many of them succeeded.
    pub succeeded: i64,
}

impl Store {
    /// Empties every table a benchmark writes (destructive).
    pub async fn bench_reset(&self) -> Result<()> {
        sqlx::query(include_str!("../../sql/bench/reset.sql")).execute(self.pool()).await?;
        Ok(())
    }

    /// Turns the admitted runs of `namespace` into runs that ran and succeeded, with their attempts
    /// and events (destructive); returns how many.
    pub async fn bench_finish_history(&self, namespace: &str) -> Result<u64> {
        let runs: i64 = sqlx::query_scalar(include_str!("../../sql/bench/finish_history.sql"))
            .bind(namespace)
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(runs).unwrap_or(0))
    }

    /// VACUUM (ANALYZE) of the runs, attempts and events tables.
    pub async fn bench_vacuum(&self) -> Result<()> {
        sqlx::raw_sql(include_str!("../../sql/bench/vacuum.sql")).execute(self.pool()).await?;
        Ok(())
    }

    /// Whether any run exists (the bench refuses to wipe a database in use).
    pub async fn bench_any_runs(&self) -> Result<bool> {
        Ok(sqlx::query_scalar(include_str!("../../sql/bench/any_runs.sql")).fetch_one(self.pool()).await?)
    }

    /// The server's version and speed-relevant settings as (name, value).
    pub async fn bench_settings(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(include_str!("../../sql/bench/settings.sql")).fetch_all(self.pool()).await?;
        rows.into_iter().map(|r| Ok((r.try_get("name")?, r.try_get("value")?))).collect()
    }

    /// Whether any run is not finished yet.
    pub async fn bench_pending(&self) -> Result<bool> {
        Ok(sqlx::query_scalar(include_str!("../../sql/bench/pending.sql")).fetch_one(self.pool()).await?)
    }

    /// Runs from `from` on not finished yet.
    pub async fn bench_pending_from(&self, from: RunId) -> Result<i64> {
        Ok(sqlx::query_scalar(include_str!("../../sql/bench/pending_from.sql"))
            .bind(from)
            .fetch_one(self.pool())
            .await?)
    }

    /// The database clock now, the last finish and the successes among runs from `from` on.
    pub async fn bench_window(&self, from: RunId) -> Result<BenchWindow> {
        let r = sqlx::query(include_str!("../../sql/bench/window.sql")).bind(from).fetch_one(self.pool()).await?;
        Ok(BenchWindow {
            now: r.try_get("now")?,
            last_finish: r.try_get("last_finish")?,
            succeeded: r.try_get("succeeded")?,
        })
    }

    /// Timings of every run from `from` on, in id order.
    pub async fn bench_timings(&self, from: RunId) -> Result<Vec<RunTiming>> {
        let rows = sqlx::query(include_str!("../../sql/bench/timings.sql")).bind(from).fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|r| {
                Ok(RunTiming {
                    id: r.try_get("id")?,
                    state: r.try_get("state")?,
                    start_ms: r.try_get("start_ms")?,
                    finish_ms: r.try_get("finish_ms")?,
                })
            })
            .collect()
    }
}
