//! Runs: submission, reads, claims, log chunks and completion, each with its event row.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, Row};

use super::blobs::blob_write;
use super::namespaces::namespace_ensure;
use super::notify::{self, notify};
use super::{AttemptId, BlobId, JobId, Resources, Result, RunId, Store, WorkerId};

/// A run's state (docs/state_machine.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Dependencies, schedule or back-off not yet due.
    Waiting,
    /// Waiting for admission.
    Queued,
    /// Admitted; waiting for a worker to claim it.
    Admitted,
    /// An attempt is executing.
    Running,
    /// Exit code 0.
    Succeeded,
    /// Non-zero exit or executor failure, no retry left.
    Failed,
    /// Killed at its maximum duration.
    TimedOut,
    /// Cancelled before or while running.
    Cancelled,
    /// A streaming run stopped by a user.
    Aborted,
    /// Files removed after the retention period.
    Cleaned,
}

impl RunState {
    /// The state's name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Waiting => "waiting",
            RunState::Queued => "queued",
            RunState::Admitted => "admitted",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::TimedOut => "timed_out",
            RunState::Cancelled => "cancelled",
            RunState::Aborted => "aborted",
            RunState::Cleaned => "cleaned",
        }
    }

    /// Parses a database state name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => RunState::Waiting,
            "queued" => RunState::Queued,
            "admitted" => RunState::Admitted,
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "timed_out" => RunState::TimedOut,
            "cancelled" => RunState::Cancelled,
            "aborted" => RunState::Aborted,
            "cleaned" => RunState::Cleaned,
            _ => return None,
        })
    }

    /// Whether the run will never change again (except to `cleaned`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded
                | RunState::Failed
                | RunState::TimedOut
                | RunState::Cancelled
                | RunState::Aborted
                | RunState::Cleaned
        )
    }
}

/// What to insert for a one-off submission (an upload creates a job and its run at once).
#[derive(Debug, Clone)]
pub struct SubmitParams {
    /// Job name (the upload names it after the service and user).
    pub name: String,
    /// Service the run is routed to.
    pub service: String,
    /// Namespace whose quota it uses.
    pub namespace: String,
    /// Quota of the namespace if it does not exist yet.
    pub namespace_quota: Resources,
    /// Submitting user.
    pub user_id: String,
    /// `high` or `normal`.
    pub priority: String,
    /// `priority` (admission) or `legacy` (admitted on insert).
    pub flow: String,
    /// Requested resources.
    pub request: Resources,
    /// The uploaded files as a zip archive.
    pub input_zip: Vec<u8>,
    /// Command line instead of `run.sh`.
    pub command: Option<Vec<String>>,
    /// Extra environment.
    pub env: serde_json::Value,
    /// Maximum execution time.
    pub timeout_seconds: Option<i32>,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Idempotency key and the request's fingerprint: a second submission with the same key
    /// returns the first run instead of creating another.
    pub idempotency: Option<(String, String)>,
    /// Injected clock; `None` uses the database clock.
    pub now: Option<DateTime<Utc>>,
}

/// What a submission with an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// A new run.
    Created(RunId),
    /// The key was used before with the same request: that run.
    Replayed(RunId),
    /// The key was used before with another request.
    Conflict(RunId),
}

/// A run as the API shows it.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
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
    /// `high` or `normal`.
    pub priority: String,
    /// `priority` or `legacy`.
    pub flow: String,
    /// Requested millicores.
    pub cpu: i64,
    /// Requested MiB of memory.
    pub memory: i64,
    /// Requested pods.
    pub pods: i64,
    /// Requested MiB of storage.
    pub storage: i64,
    /// State name (see [`RunState`]).
    pub state: String,
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
    #[serde(skip)]
    pub result_blob_id: Option<BlobId>,
    /// Why the run still waits, as of the last admission cycle.
    #[schema(value_type = Option<Object>)]
    pub block: Option<serde_json::Value>,
    /// End of a retry back-off or head-timeout cool-down.
    pub not_before: Option<DateTime<Utc>>,
    /// Attempts lost to dead workers.
    pub lost_attempts: i32,
}

impl RunRow {
    /// The parsed state.
    pub fn run_state(&self) -> RunState {
        RunState::parse(&self.state).unwrap_or(RunState::Failed)
    }
}

/// One entry of a run's timeline.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct RunEvent {
    /// Event id (orders the timeline).
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened (`submitted`, `admitted`, `started`, `succeeded`, ...).
    pub kind: String,
    /// Who did it (`api`, `scheduler`, `worker`, a user).
    pub actor: String,
    /// In words.
    pub message: String,
    /// Structured details.
    #[schema(value_type = Object)]
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

/// A run a worker has just claimed, with what it needs to execute it.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    /// Run id.
    pub id: RunId,
    /// Attempt number.
    pub attempt: i32,
    /// Fencing token of this attempt.
    pub attempt_id: AttemptId,
    /// Resources it holds on the worker.
    pub request: Resources,
    /// Input files as a zip.
    pub input_blob_id: Option<BlobId>,
    /// Command line instead of run.sh.
    pub command: Option<Vec<String>>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Maximum execution time in seconds.
    pub timeout_seconds: Option<i32>,
    /// Service (its retry policy applies).
    pub service: String,
    /// Attempts the job allows.
    pub max_attempts: i32,
    /// Attempts lost to dead workers so far (they do not count against `max_attempts`).
    pub lost_attempts: i32,
}

/// What a worker asks for when it claims.
#[derive(Debug, Clone)]
pub struct ClaimParams {
    /// The claiming worker.
    pub worker: WorkerId,
    /// Its services.
    pub services: Vec<String>,
    /// Its free capacity now.
    pub free: Resources,
    /// Most runs to claim.
    pub limit: i64,
    /// Injected clock; `None` uses the database clock.
    pub now: Option<DateTime<Utc>>,
}

/// How an attempt ended, as the worker reports it.
#[derive(Debug, Clone)]
pub struct FinishParams {
    /// The run.
    pub run: RunId,
    /// The attempt's fencing token.
    pub attempt_id: AttemptId,
    /// Final state.
    pub state: RunState,
    /// Exit code, if the process exited.
    pub exit_code: Option<i32>,
    /// Result zip to store.
    pub result_zip: Option<Vec<u8>>,
    /// In words.
    pub message: String,
    /// Retry: the run waits this many seconds, then goes back to the queue at its place.
    pub retry_after_seconds: Option<f64>,
    /// Injected clock; `None` uses the database clock.
    pub now: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores the inputs, the job and its run (queued, or admitted for the legacy flow) and the
    /// events, in one transaction; then wakes the leader or the workers.
    pub async fn run_submit(&self, p: SubmitParams) -> Result<RunId> {
        match self.run_submit_idempotent(p).await? {
            Submitted::Created(id) | Submitted::Replayed(id) | Submitted::Conflict(id) => Ok(id),
        }
    }

    /// Like [`Store::run_submit`], answering a reused idempotency key with the first run (same
    /// request) or a conflict (another request). Safe against concurrent submissions of one key.
    pub async fn run_submit_idempotent(&self, p: SubmitParams) -> Result<Submitted> {
        if let Some((key, hash)) = &p.idempotency
            && let Some(found) = self.run_by_idempotency_key(key, hash).await?
        {
            return Ok(found);
        }
        let idempotency = p.idempotency.clone();
        match self.run_insert(p).await {
            Ok(id) => Ok(Submitted::Created(id)),
            // Another request with the same key committed first.
            Err(super::Error::Db(sqlx::Error::Database(e))) if e.constraint() == Some("runs_idempotency_key") => {
                let (key, hash) = idempotency.unwrap_or_default();
                self.run_by_idempotency_key(&key, &hash).await?.ok_or(super::Error::Db(sqlx::Error::RowNotFound))
            }
            Err(e) => Err(e),
        }
    }

    async fn run_by_idempotency_key(&self, key: &str, hash: &str) -> Result<Option<Submitted>> {
        let row: Option<(RunId, Option<String>)> =
            sqlx::query_as(include_str!("../../sql/runs/by_idempotency_key.sql"))
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        Ok(row
            .map(|(id, h)| if h.as_deref() == Some(hash) { Submitted::Replayed(id) } else { Submitted::Conflict(id) }))
    }

    async fn run_insert(&self, p: SubmitParams) -> Result<RunId> {
        let mut tx = self.pool().begin().await?;
        namespace_ensure(&mut tx, &p.namespace, p.namespace_quota).await?;
        let blob = blob_write(&mut tx, &p.input_zip).await?;
        let state = if p.flow == "legacy" { RunState::Admitted } else { RunState::Queued };
        let command = p.command.map(|c| serde_json::json!(c));
        let id: RunId = sqlx::query_scalar(include_str!("../../sql/runs/submit.sql"))
            .bind(&p.name)
            .bind(&p.service)
            .bind(&p.namespace)
            .bind(&p.user_id)
            .bind(&p.priority)
            .bind(&p.flow)
            .bind(p.request.cpu)
            .bind(p.request.memory)
            .bind(p.request.pods)
            .bind(p.request.storage)
            .bind(blob)
            .bind(command)
            .bind(&p.env)
            .bind(p.timeout_seconds)
            .bind(p.max_attempts)
            .bind(state.as_str())
            .bind(p.now)
            .bind(p.idempotency.as_ref().map(|(k, _)| k.as_str()))
            .bind(p.idempotency.as_ref().map(|(_, h)| h.as_str()))
            .fetch_one(&mut *tx)
            .await?;
        let channel = if state == RunState::Admitted { notify::ADMITTED } else { notify::QUEUED };
        notify(&mut tx, channel).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One run, or `None` if unknown.
    pub async fn run_get(&self, id: RunId) -> Result<Option<RunRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/runs/get.sql")).bind(id).fetch_optional(self.pool()).await?)
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

    /// Claims admitted runs that fit the worker; each gets a new attempt and fencing token.
    pub async fn run_claim_batch(&self, p: &ClaimParams) -> Result<Vec<ClaimedRun>> {
        let rows = sqlx::query(include_str!("../../sql/runs/claim_batch.sql"))
            .bind(p.worker)
            .bind(&p.services)
            .bind(p.free.cpu)
            .bind(p.free.memory)
            .bind(p.free.pods)
            .bind(p.free.storage)
            .bind(p.limit)
            .bind(p.now)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(claimed_from_row).collect()
    }

    /// Appends log chunks of an attempt; returns false when the attempt is no longer current.
    pub async fn run_log_append(&self, run: RunId, attempt: AttemptId, chunks: &[(String, Vec<u8>)]) -> Result<bool> {
        let streams: Vec<&str> = chunks.iter().map(|(s, _)| s.as_str()).collect();
        let data: Vec<&[u8]> = chunks.iter().map(|(_, d)| d.as_slice()).collect();
        let done = sqlx::query(include_str!("../../sql/run_logs/append.sql"))
            .bind(run)
            .bind(attempt)
            .bind(&streams)
            .bind(&data)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0 || chunks.is_empty())
    }

    /// Ends an attempt with its result, in one transaction with its event. Returns false (and
    /// stores nothing) when the attempt's fencing token is no longer current.
    pub async fn run_finish(&self, p: FinishParams) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let blob = match &p.result_zip {
            Some(zip) => Some(blob_write(&mut tx, zip).await?),
            None => None,
        };
        let done: Option<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/finish.sql"))
            .bind(p.run)
            .bind(p.attempt_id)
            .bind(p.state.as_str())
            .bind(p.exit_code)
            .bind(blob)
            .bind(&p.message)
            .bind(p.now)
            .bind(p.retry_after_seconds)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        notify(&mut tx, notify::FINISHED).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Hands a running attempt back to the queue at its place (graceful drain); false when the
    /// attempt's fencing token is no longer current.
    pub async fn run_release(&self, run: RunId, attempt: AttemptId, reason: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done: Option<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/release.sql"))
            .bind(run)
            .bind(attempt)
            .bind(reason)
            .bind(None::<DateTime<Utc>>)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            notify(&mut tx, notify::QUEUED).await?;
            notify(&mut tx, notify::ADMITTED).await?;
        }
        tx.commit().await?;
        Ok(done.is_some())
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
            .bind("cancelled")
            .bind(None::<DateTime<Utc>>)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            notify(&mut tx, notify::FINISHED).await?;
        }
        tx.commit().await?;
        Ok(done.is_some())
    }
}

fn claimed_from_row(r: sqlx::postgres::PgRow) -> Result<ClaimedRun> {
    let command: Option<serde_json::Value> = r.try_get("command")?;
    let command = command.and_then(|c| serde_json::from_value::<Vec<String>>(c).ok());
    let env: serde_json::Value = r.try_get("env")?;
    let env = env
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(ClaimedRun {
        id: r.try_get("id")?,
        attempt: r.try_get("attempt")?,
        attempt_id: r.try_get("attempt_id")?,
        request: Resources {
            cpu: r.try_get("cpu")?,
            memory: r.try_get("memory")?,
            pods: r.try_get("pods")?,
            storage: r.try_get("storage")?,
        },
        input_blob_id: r.try_get("input_blob_id")?,
        command,
        env,
        timeout_seconds: r.try_get("timeout_seconds")?,
        service: r.try_get("service")?,
        max_attempts: r.try_get("max_attempts")?,
        lost_attempts: r.try_get("lost_attempts")?,
    })
}
