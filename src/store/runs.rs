//! Runs: states, reads (run, timeline, logs) and cancellation, each change with its event row.
//! Submission is in `submit.rs`, the attempt lifecycle (claim, logs, finish, hand back) in `attempts.rs`.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, Row};

use super::notify::{self, notify};
use super::{AttemptId, BlobId, JobId, Result, RunId, Store, WorkerId, WorkflowRunId};

pub use super::attempts::{ClaimParams, ClaimedRun, FinishParams};
pub use super::submit::{SubmitParams, Submitted};
pub use crate::domain::RunState;
use crate::domain::{Flow, Priority};
use crate::retry::RestartSettings;

/// A run as `runs/get.sql` reads it (the API shows it through `api::runs::RunView`).
#[derive(Debug, Clone, FromRow)]
pub struct RunRow {
    /// Run id.
    pub id: RunId,
    /// Job id.
    pub job_id: JobId,
    /// Job name.
    pub job_name: String,
    /// Submitting user.
    pub user_id: String,
    /// Service.
    pub service: String,
    /// Namespace.
    pub namespace: String,
    /// Its queue.
    pub priority: Priority,
    /// Through admission or not.
    pub flow: Flow,
    /// Requested millicores.
    pub cpu: i64,
    /// Requested MiB of memory.
    pub memory: i64,
    /// Requested pods.
    pub pods: i64,
    /// Requested MiB of storage.
    pub storage: i64,
    /// Where it is in its life.
    pub state: RunState,
    /// When it entered the queue.
    pub enqueued_at: DateTime<Utc>,
    /// When admission let it start.
    pub admitted_at: Option<DateTime<Utc>>,
    /// When the current attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Attempt number (0 before the first claim).
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Worker of the current or last attempt.
    pub worker_id: Option<WorkerId>,
    /// Exit code of the last attempt.
    pub exit_code: Option<i32>,
    /// Last outcome message (cancellation reason, executor error).
    pub message: String,
    /// Result zip, once stored.
    pub result_blob_id: Option<BlobId>,
    /// Why the run still waits, as of the last admission cycle.
    pub block: Option<serde_json::Value>,
    /// End of a retry back-off or head-timeout cool-down.
    pub not_before: Option<DateTime<Utc>>,
    /// Attempts lost to dead workers.
    pub lost_attempts: i32,
    /// Who started it (`upload`, `api`, a user).
    pub triggered_by: String,
    /// The worker was asked to stop it (cancel or abort).
    pub cancel_requested: bool,
    /// A streaming run's restart policy (`None`: a batch run).
    pub restart: Option<Json<RestartSettings>>,
    /// A streaming run's ended submissions (every start tried).
    pub submission_attempts: Option<i32>,
    /// A streaming run's ended executions (starts that ran the process).
    pub execution_attempts: Option<i32>,
    /// A streaming run's submission failures.
    pub submission_failures: Option<i32>,
    /// A streaming run's execution failures.
    pub execution_failures: Option<i32>,
    /// The workflow run it is a step of.
    pub workflow_run_id: Option<WorkflowRunId>,
}

/// A chunk of a run's output with its position, for following the log.
#[derive(Debug, Clone, FromRow)]
pub struct LogChunkRow {
    /// Position (`run_logs.id`): the next read starts after it.
    pub id: i64,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// Raw bytes.
    pub data: Vec<u8>,
}

/// One entry of a run's timeline.
#[derive(Debug, Clone, FromRow)]
pub struct RunEvent {
    /// Event id; `None` for a routine transition read from its run's or attempt's row (an
    /// admission, a start, or an end the worker reported; a running attempt's start from its run).
    pub id: Option<i64>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened (`submitted`, `admitted`, `started`, `succeeded`, ...).
    pub kind: String,
    /// Who did it (`api`, `scheduler`, `worker`, a user).
    pub actor: String,
    /// In words.
    pub message: String,
    /// Structured details.
    pub details: serde_json::Value,
}

/// A chunk of a run's output.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Attempt that wrote it.
    pub attempt_id: AttemptId,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// Raw bytes.
    pub data: Vec<u8>,
}

impl Store {
    /// One run, or `None` if unknown.
    pub async fn run_get(&self, id: RunId) -> Result<Option<RunRow>> {
        Ok(sqlx::query_as(concat!(include_str!("../../sql/runs/list_select.sql"), " where r.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// A run's timeline.
    pub async fn run_events(&self, id: RunId) -> Result<Vec<RunEvent>> {
        Ok(sqlx::query_as(include_str!("../../sql/run_events/list.sql")).bind(id).fetch_all(self.pool()).await?)
    }

    /// A run's output, every attempt, in order.
    pub async fn run_logs(&self, id: RunId) -> Result<Vec<LogEntry>> {
        let rows = sqlx::query(include_str!("../../sql/run_logs/list.sql")).bind(id).fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|r| {
                Ok(LogEntry {
                    attempt_id: r.try_get("attempt_id")?,
                    stream: r.try_get("stream")?,
                    data: r.try_get("data")?,
                })
            })
            .collect()
    }

    /// A run's input files as the zip it was submitted with (an empty zip when it has none), or
    /// `None` for an unknown run.
    pub async fn run_input(&self, id: RunId) -> Result<Option<Vec<u8>>> {
        let blob: Option<Option<BlobId>> = sqlx::query_scalar(include_str!("../../sql/runs/input_blob.sql"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        match blob {
            None => Ok(None),
            Some(None) => Ok(Some(crate::executor::archive::EMPTY_ZIP.to_vec())),
            Some(Some(blob)) => Ok(Some(self.blob_read(blob).await?)),
        }
    }

    /// Asks the worker running `id` to stop it; false when the run is not running (or already asked).
    pub async fn run_request_cancel(&self, id: RunId, actor: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done: Option<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/request_cancel.sql"))
            .bind(id)
            .bind(actor)
            .bind(None::<DateTime<Utc>>)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            notify(&mut tx, notify::CANCEL).await?;
        }
        tx.commit().await?;
        Ok(done.is_some())
    }

    /// Cancels a run that has not started, with `reason`; false if it was not cancellable.
    pub async fn run_cancel_unstarted(&self, id: RunId, reason: &str, actor: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done: Option<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/cancel.sql"))
            .bind(id)
            .bind(reason)
            .bind(actor)
            // The event is named after the state the run enters.
            .bind(RunState::Cancelled)
            .bind(None::<DateTime<Utc>>)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            notify(&mut tx, notify::FINISHED).await?;
        }
        tx.commit().await?;
        Ok(done.is_some())
    }

    /// Aborts a streaming run: one that has not started ends `aborted` at once; a running one is
    /// asked to stop through the cancellation path (`cancel_requested`, NOTIFY `berth_cancel`, the
    /// worker's heartbeat) and ends `aborted` when its worker stops it. Returns the state the run
    /// is now in, or `None` when it is not a streaming run, has finished, or was already asked.
    pub async fn run_abort(&self, id: RunId, actor: &str) -> Result<Option<RunState>> {
        let mut tx = self.pool().begin().await?;
        let state: Option<RunState> = sqlx::query_scalar(include_str!("../../sql/runs/abort.sql"))
            .bind(id)
            .bind(actor)
            .bind(None::<DateTime<Utc>>)
            .fetch_optional(&mut *tx)
            .await?;
        match state {
            Some(RunState::Running) => notify(&mut tx, notify::CANCEL).await?,
            Some(_) => notify(&mut tx, notify::FINISHED).await?,
            None => {}
        }
        tx.commit().await?;
        Ok(state)
    }

    /// A run's state alone (`None`: unknown run); what a log follower checks between reads.
    pub async fn run_state(&self, id: RunId) -> Result<Option<RunState>> {
        Ok(sqlx::query_scalar(include_str!("../../sql/runs/state.sql")).bind(id).fetch_optional(self.pool()).await?)
    }

    /// Up to `limit` chunks of a run's output after position `after` (0: from the start), in order.
    pub async fn run_logs_after(&self, id: RunId, after: i64, limit: i64) -> Result<Vec<LogChunkRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/run_logs/after.sql"))
            .bind(id)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }
}
