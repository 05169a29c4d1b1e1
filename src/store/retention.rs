//! Retention: cleaning finished runs, deleting cleaned ones, collecting orphan blobs. The writes run
//! inside a fenced [`LeaderTx`], one small batch per statement, so no statement holds its row locks
//! for long.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::admission::LeaderTx;
use super::{BlobId, Result, RunId, Store};

/// What one cleaning batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Runs moved to `cleaned`.
    pub runs: i64,
    /// Log rows deleted.
    pub log_rows: i64,
    /// Blobs deleted (results and inputs nothing else uses).
    pub blobs: i64,
    /// Bytes of the result blobs deleted.
    pub result_bytes: i64,
    /// Bytes of the input blobs deleted.
    pub input_bytes: i64,
}

/// What one deletion batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Run rows deleted.
    pub runs: i64,
    /// Attempt rows deleted.
    pub attempts: i64,
    /// Event rows deleted.
    pub events: i64,
    /// Log rows deleted (normally none left: cleaning deleted them).
    pub log_rows: i64,
    /// One-off jobs deleted (no runs left).
    pub jobs: i64,
    /// Their job events.
    pub job_events: i64,
}

/// What one window of the orphan sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orphans {
    /// Blobs deleted.
    pub blobs: i64,
    /// Their bytes.
    pub bytes: i64,
    /// The last blob deleted, if any.
    pub last: Option<BlobId>,
    /// The largest blob id in the table (where a sweep ends).
    pub max_id: BlobId,
}

/// Where one window of the orphan sweep looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrphanWindow {
    /// Blob ids after this one.
    pub after: BlobId,
    /// At most this many ids past `after`.
    pub ids: i64,
    /// Only blobs created before this instant.
    pub created_before: DateTime<Utc>,
    /// At most this many deleted.
    pub limit: i64,
}

impl LeaderTx {
    /// Cleans up to `limit` finished runs that finished before `before` (runs/clean_batch.sql).
    pub async fn runs_clean_batch(
        &mut self,
        before: DateTime<Utc>,
        limit: i64,
        now: DateTime<Utc>,
        message: &str,
    ) -> Result<Cleaned> {
        let row = sqlx::query(include_str!("../../sql/runs/clean_batch.sql"))
            .bind(before)
            .bind(limit)
            .bind(now)
            .bind(message)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(Cleaned {
            runs: row.try_get("runs")?,
            log_rows: row.try_get("log_rows")?,
            blobs: row.try_get("blobs")?,
            result_bytes: row.try_get("result_bytes")?,
            input_bytes: row.try_get("input_bytes")?,
        })
    }

    /// Deletes up to `limit` cleaned runs that finished before `before`, with their attempts,
    /// events and logs, and their one-off jobs left without runs (runs/delete_cleaned.sql).
    pub async fn runs_delete_cleaned(&mut self, before: DateTime<Utc>, limit: i64) -> Result<Deleted> {
        let row = sqlx::query(include_str!("../../sql/runs/delete_cleaned.sql"))
            .bind(before)
            .bind(limit)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(Deleted {
            runs: row.try_get("runs")?,
            attempts: row.try_get("attempts")?,
            events: row.try_get("events")?,
            log_rows: row.try_get("log_rows")?,
            jobs: row.try_get("jobs")?,
            job_events: row.try_get("job_events")?,
        })
    }

    /// Deletes the orphan blobs of one window (blobs/delete_orphans.sql).
    pub async fn blobs_delete_orphans(&mut self, w: &OrphanWindow) -> Result<Orphans> {
        let row = sqlx::query(include_str!("../../sql/blobs/delete_orphans.sql"))
            .bind(w.after)
            .bind(w.ids)
            .bind(w.created_before)
            .bind(w.limit)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(Orphans {
            blobs: row.try_get("blobs")?,
            bytes: row.try_get("bytes")?,
            last: row.try_get("last_id")?,
            max_id: row.try_get("max_id")?,
        })
    }
}

impl Store {
    /// The instant a leader pass decides from: `now` (a fixed test clock) or the database clock.
    pub async fn clock_now(&self, now: Option<DateTime<Utc>>) -> Result<DateTime<Utc>> {
        Ok(sqlx::query_scalar(include_str!("../../sql/schema/now.sql")).bind(now).fetch_one(self.pool()).await?)
    }

    /// When the oldest finished run that is not cleaned finished, if there is one.
    pub async fn runs_oldest_finished(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(sqlx::query_scalar(include_str!("../../sql/runs/oldest_finished.sql")).fetch_one(self.pool()).await?)
    }

    /// Which of `ids` are running on some worker.
    pub async fn runs_running_among(&self, ids: &[RunId]) -> Result<Vec<RunId>> {
        Ok(sqlx::query_scalar(include_str!("../../sql/runs/running_among.sql"))
            .bind(ids)
            .fetch_all(self.pool())
            .await?)
    }
}
