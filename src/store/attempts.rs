//! The attempt lifecycle: claim (a new fencing token), log chunks, finish or retry, hand back.
//! Every write after the claim carries the token and changes nothing once it is stale.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Row};

use super::blobs::blob_write;
use super::held::Held;
use super::notify::{self, notify};
use super::runs::RunState;
use super::{AttemptId, BlobId, Resources, Result, RunId, Store, WorkerId};
use crate::domain::AttemptOutcome;
use crate::retry::{Failures, RestartSettings, RetryPolicy};

/// One attempt of a run (the API shows it through `api::runs::AttemptView`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    /// The attempt's id, which is also its fencing token.
    pub id: AttemptId,
    /// 1 for the first attempt.
    pub number: i32,
    /// The worker that ran it.
    pub worker_id: WorkerId,
    /// When it was claimed.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Final state, `lost` (its worker died) or `handed_back` (its worker drained).
    pub outcome: Option<AttemptOutcome>,
    /// Exit code of the process, if it exited.
    pub exit_code: Option<i32>,
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
    /// When it was admitted (its place in the claim order).
    pub admitted_at: DateTime<Utc>,
    /// Resources it holds on the worker.
    pub request: Resources,
    /// Input files as a zip.
    pub input_blob_id: Option<BlobId>,
    /// The input zip itself when it fits one blob chunk (read with the claim).
    pub input_inline: Option<Vec<u8>>,
    /// Command line instead of run.sh.
    pub command: Option<Vec<String>>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Maximum execution time in seconds.
    pub timeout_seconds: Option<i32>,
    /// Service.
    pub service: String,
    /// What follows a failed attempt: the run's own policy.
    pub retry: RetryPolicy,
    /// Attempts lost to the infrastructure so far (dead workers, retryable executor errors).
    pub lost_attempts: i32,
    /// Attempts lost to dead workers or handed back by draining ones: they do not count against
    /// `max_attempts`.
    pub excused_attempts: i32,
    /// A streaming run's restart policy (`None`: a batch run, decided by its retry policy).
    pub restart: Option<RestartSettings>,
    /// A streaming run's failures so far, by kind.
    pub failures: Failures,
    /// The workflow run it is a step of: its parents' results join its inputs.
    pub workflow_run_id: Option<super::WorkflowRunId>,
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
    /// Skip runs admitted before this (`None`: scan from the oldest); see
    /// [`crate::worker::claim_floor`].
    pub floor: Option<DateTime<Utc>>,
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
    /// The retry is for an infrastructure fault: the attempt does not count against the job's own.
    pub excused: bool,
    /// Injected clock; `None` uses the database clock.
    pub now: Option<DateTime<Utc>>,
    /// A streaming run's end as its counts see it (`None` for batch runs).
    pub streaming: Option<StreamingEnd>,
}

/// How a streaming run's attempt ended, for its attempt counts and its `restarted` event.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamingEnd {
    /// The process ran (an execution), or never started (a submission failure).
    pub ran: bool,
    /// The failure it counts as, if any.
    pub failure: Option<crate::retry::Failure>,
    /// Why the run restarts (`exited`, `execution_failure`, `submission_failure`); `None`: it ends.
    pub restart_reason: Option<&'static str>,
}

impl Store {
    /// Hands back the runs the database gives `worker` but the worker does not hold (`in_flight`),
    /// claimed more than `grace_seconds` ago: a claim whose reply was lost. Returns them.
    pub async fn run_release_orphans(
        &self,
        worker: WorkerId,
        in_flight: &[AttemptId],
        grace_seconds: f64,
    ) -> Result<Vec<RunId>> {
        let mut tx = self.pool().begin().await?;
        let ids: Vec<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/release_orphans.sql"))
            .bind(worker)
            .bind(in_flight)
            .bind(grace_seconds)
            .bind(None::<DateTime<Utc>>)
            .fetch_all(&mut *tx)
            .await?;
        if !ids.is_empty() {
            notify(&mut tx, notify::QUEUED).await?;
            notify(&mut tx, notify::ADMITTED).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// A run's attempts in order.
    pub async fn attempt_list(&self, run: RunId) -> Result<Vec<AttemptRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/attempts/list.sql")).bind(run).fetch_all(self.pool()).await?)
    }

    /// Claims admitted runs that fit the worker; each gets a new attempt and fencing token.
    pub async fn run_claim_batch(&self, p: &ClaimParams) -> Result<Vec<ClaimedRun>> {
        claim_batch(self.generic_pool(), p).await
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
            .bind(p.state)
            .bind(p.exit_code)
            .bind(blob)
            .bind(&p.message)
            .bind(p.now)
            .bind(p.retry_after_seconds)
            .bind(p.excused)
            .bind(p.streaming.as_ref().is_some_and(|s| s.ran))
            .bind(p.streaming.as_ref().and_then(|s| s.failure).map(|f| f.as_str()))
            .bind(p.streaming.as_ref().and_then(|s| s.restart_reason))
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
        Ok(self.run_release_to(run, attempt, reason).await?.is_some())
    }

    /// [`Store::run_release`], answering the run's state after it: `queued` or `admitted` (handed
    /// back), or `cancelled` / `aborted` when its cancel was requested (it ends instead of running
    /// again); `None` when the attempt's fencing token is no longer current.
    pub async fn run_release_to(&self, run: RunId, attempt: AttemptId, reason: &str) -> Result<Option<RunState>> {
        let mut tx = self.pool().begin().await?;
        let done: Option<(RunId, RunState)> = sqlx::query_as(include_str!("../../sql/runs/release.sql"))
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
        Ok(done.map(|(_, state)| state))
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
        admitted_at: r.try_get("admitted_at")?,
        request: super::resources_of(&r)?,
        input_blob_id: r.try_get("input_blob_id")?,
        input_inline: r.try_get("input_inline")?,
        command,
        env,
        timeout_seconds: r.try_get("timeout_seconds")?,
        service: r.try_get("service")?,
        retry: RetryPolicy {
            max_attempts: r.try_get("max_attempts")?,
            backoff_seconds: r.try_get("retry_backoff_seconds")?,
            backoff_max_seconds: r.try_get("retry_backoff_max_seconds")?,
        },
        lost_attempts: r.try_get("lost_attempts")?,
        excused_attempts: r.try_get("excused_attempts")?,
        restart: r.try_get::<Option<sqlx::types::Json<RestartSettings>>, _>("restart")?.map(|j| j.0),
        failures: Failures {
            submission: r.try_get::<Option<i32>, _>("submission_failures")?.unwrap_or(0),
            execution: r.try_get::<Option<i32>, _>("execution_failures")?.unwrap_or(0),
        },
        workflow_run_id: r.try_get("workflow_run_id")?,
    })
}

impl Held {
    /// [`Store::run_claim_batch`] on the held connection.
    pub async fn run_claim_batch(&mut self, p: &ClaimParams) -> Result<Vec<ClaimedRun>> {
        let result = claim_batch(self.conn().await?, p).await;
        self.settle(result)
    }
}

/// Runs runs/claim_batch.sql on `db`.
async fn claim_batch<'e>(db: impl PgExecutor<'e>, p: &ClaimParams) -> Result<Vec<ClaimedRun>> {
    let rows = sqlx::query(include_str!("../../sql/runs/claim_batch.sql"))
        .bind(p.worker)
        .bind(&p.services)
        .bind(p.free.cpu)
        .bind(p.free.memory)
        .bind(p.free.pods)
        .bind(p.free.storage)
        .bind(p.limit)
        .bind(p.now)
        .bind(super::blobs::CHUNK_BYTES as i64)
        .bind(p.floor)
        .fetch_all(db)
        .await?;
    rows.into_iter().map(claimed_from_row).collect()
}
