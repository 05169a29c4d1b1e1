//! Stored jobs: create, read, replace, delete (soft), start a run, and the history of changes.
//! Every change to a stored job is one transaction with its `job_events` row (an upload's one-off
//! job has none at creation: the upload's run events tell its story); the lists are in `lists.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, Row};

use super::blobs::blob_write;
use super::notify::{self, notify};
use super::{BlobId, JobId, Resources, Result, RunId, Store};
use crate::domain::{Flow, JobKind, Priority};
use crate::retry::{RestartSettings, RetryPolicy};
use crate::workflow::Step;

/// What a job definition holds, as a client sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// 1–255 letters, digits, dashes, underscores, dots and spaces; unique in its namespace.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `batch` or `streaming`.
    pub kind: JobKind,
    /// A configured service.
    pub service: String,
    /// An existing namespace.
    pub namespace: String,
    /// The user its runs count against.
    pub run_as: String,
    /// Its queue.
    pub priority: Priority,
    /// Through admission or not.
    pub flow: Flow,
    /// What each run needs.
    pub request: Resources,
    /// Command line instead of `run.sh` (argv; argv\[0\] looked up in PATH).
    pub command: Option<Vec<String>>,
    /// Arguments appended to the command (or to `bash run.sh`).
    pub args: Vec<String>,
    /// Environment of every run.
    pub env: BTreeMap<String, String>,
    /// Maximum execution time.
    pub timeout_seconds: Option<i32>,
    /// What follows a failed attempt.
    pub retry: RetryPolicy,
    /// Key-value labels (Kubernetes label syntax).
    pub tags: BTreeMap<String, String>,
    /// The restart policy of a streaming job (`None` for every other kind).
    pub restart: Option<RestartSettings>,
    /// A workflow's steps (empty for the other kinds).
    pub steps: Vec<Step>,
}

/// The files of a job being written.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// These stored files, or none (a replace that sends none keeps the job's; a copy shares them).
    Keep(Option<BlobId>),
    /// New files, zipped.
    Zip(Vec<u8>),
}

/// A stored job as read back.
#[derive(Debug, Clone)]
pub struct JobRow {
    /// Job id.
    pub id: JobId,
    /// The definition.
    pub spec: JobSpec,
    /// Its files, zipped, if any.
    pub input_blob_id: Option<BlobId>,
    /// Size of the zipped files in bytes (0: none).
    pub input_bytes: i64,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last change (also the version a replace must name).
    pub updated_at: DateTime<Utc>,
    /// Created by an upload (hidden from the job list unless asked).
    pub one_off: bool,
}

/// One entry of a job's history.
#[derive(Debug, Clone, FromRow)]
pub struct JobEvent {
    /// Event id (orders the history).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `created`, `updated`, `deleted`.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// What changed: `{field: {"from": .., "to": ..}}`; at creation, the definition as created.
    pub changes: serde_json::Value,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// No such job (or already deleted).
    NotFound,
    /// The job has active runs and the caller did not ask to cancel them.
    ActiveRuns(i64),
    /// Deleted: runs cancelled before they started, running ones asked to stop.
    Done {
        /// Unstarted runs cancelled.
        cancelled: i64,
        /// Running runs asked to stop.
        stopping: i64,
    },
}

/// A run started from a job, with the caller's overrides.
#[derive(Debug, Clone, Default)]
pub struct StartParams {
    /// Another queue for this run.
    pub priority: Option<Priority>,
    /// Variables set over the job's.
    pub env: BTreeMap<String, String>,
    /// Arguments instead of the job's.
    pub args: Option<Vec<String>>,
    /// Who started it.
    pub triggered_by: String,
    /// Admission is off system-wide: the run is legacy.
    pub admission_off: bool,
    /// The actor of the run's events when it is not `triggered_by` (a service account starting
    /// the run for that user).
    pub actor: Option<String>,
}

/// The unique index that keeps stored job names apart in a namespace.
pub const NAME_TAKEN_CONSTRAINT: &str = "jobs_stored_name";
/// The unique index that allows one active run per streaming job (migration 0017).
pub const STREAMING_ACTIVE_CONSTRAINT: &str = "runs_streaming_active";

impl JobRow {
    /// The command line a run executes: the job's command (or `bash run.sh` when it has arguments)
    /// followed by `args`; `None` runs `run.sh` as it is.
    pub fn command_line(&self, args: &[String]) -> Option<Vec<String>> {
        match (&self.spec.command, args.is_empty()) {
            (Some(command), _) => Some(command.iter().chain(args).cloned().collect()),
            (None, true) => None,
            (None, false) => {
                Some(["bash", "run.sh"].iter().map(|s| s.to_string()).chain(args.iter().cloned()).collect())
            }
        }
    }
}

impl Store {
    /// Creates a stored job with its files (new ones, or a blob it shares with the job it copies)
    /// and its `created` event holding `changes` (the definition), in one transaction. A name already used in the namespace fails on
    /// [`NAME_TAKEN_CONSTRAINT`].
    pub async fn job_create(
        &self,
        spec: &JobSpec,
        input: &Input,
        changes: serde_json::Value,
        actor: &str,
    ) -> Result<JobId> {
        let mut tx = self.pool().begin().await?;
        let blob = match input {
            Input::Keep(blob) => *blob,
            Input::Zip(zip) => Some(blob_write(&mut tx, zip).await?),
        };
        let id: JobId = spec_binds(sqlx::query_scalar(include_str!("../../sql/jobs/create.sql")), spec, blob)
            .bind(actor)
            .bind(changes)
            .bind(None::<DateTime<Utc>>)
            .bind(spec.restart.map(Json))
            .bind(steps_json(spec))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A job that is not deleted.
    pub async fn job_get(&self, id: JobId) -> Result<Option<JobRow>> {
        let row = sqlx::query(include_str!("../../sql/jobs/get.sql")).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Replaces the definition of a job last seen at `version` (its `updated_at`), with an
    /// `updated` event holding `changes`. A job moved to the legacy flow takes its queued runs out of
    /// admission in the same transaction. `None` when the job changed since (or is gone): read it
    /// again and retry.
    pub async fn job_replace(
        &self,
        id: JobId,
        version: DateTime<Utc>,
        spec: &JobSpec,
        input: &Input,
        changes: serde_json::Value,
        actor: &str,
    ) -> Result<Option<JobId>> {
        let mut tx = self.pool().begin().await?;
        let blob = match input {
            Input::Keep(blob) => *blob,
            Input::Zip(zip) => Some(blob_write(&mut tx, zip).await?),
        };
        let done: Option<JobId> =
            spec_binds(sqlx::query_scalar(include_str!("../../sql/jobs/replace.sql")), spec, blob)
                .bind(actor)
                .bind(changes)
                .bind(None::<DateTime<Utc>>)
                .bind(id)
                .bind(version)
                .bind(spec.restart.map(Json))
                .bind(steps_json(spec))
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        if spec.flow == Flow::Legacy {
            let moved: i64 = sqlx::query_scalar(include_str!("../../sql/jobs/legacy_queued_runs.sql"))
                .bind(id)
                .bind(actor)
                .bind(None::<DateTime<Utc>>)
                .fetch_one(&mut *tx)
                .await?;
            if moved > 0 {
                notify(&mut tx, notify::ADMITTED).await?;
            }
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Deletes a job: refused while it has active runs unless `cancel_runs`, which cancels the
    /// unstarted ones and asks the workers to stop the running ones. Finished runs stay readable.
    pub async fn job_delete(&self, id: JobId, cancel_runs: bool, actor: &str) -> Result<Deleted> {
        let mut tx = self.pool().begin().await?;
        // The schedule before the job: the order a schedule pass takes them in (schedules/lock.sql).
        sqlx::query(include_str!("../../sql/schedules/lock.sql")).bind(id).execute(&mut *tx).await?;
        let found: Option<JobId> = sqlx::query_scalar(include_str!("../../sql/jobs/lock_for_delete.sql"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(Deleted::NotFound);
        }
        if !cancel_runs {
            let active: i64 =
                sqlx::query_scalar(include_str!("../../sql/jobs/active_runs.sql")).bind(id).fetch_one(&mut *tx).await?;
            if active > 0 {
                return Ok(Deleted::ActiveRuns(active));
            }
        }
        let row = sqlx::query(include_str!("../../sql/jobs/delete.sql"))
            .bind(id)
            .bind(actor)
            .bind(cancel_runs)
            .bind(None::<DateTime<Utc>>)
            .fetch_one(&mut *tx)
            .await?;
        let (deleted, cancelled, stopping): (i64, i64, i64) =
            (row.try_get("deleted")?, row.try_get("cancelled")?, row.try_get("stopping")?);
        if deleted == 0 {
            return Ok(Deleted::NotFound);
        }
        // A deleted job's schedule stops with it.
        super::schedules::schedule_delete(&mut tx, id, actor).await?;
        if cancelled > 0 {
            notify(&mut tx, notify::FINISHED).await?;
        }
        if stopping > 0 {
            notify(&mut tx, notify::CANCEL).await?;
        }
        tx.commit().await?;
        Ok(Deleted::Done { cancelled, stopping })
    }

    /// Starts a run of job `id` with the caller's overrides; `None` when the job does not exist
    /// (or was deleted). The job is read and locked (FOR SHARE) in the run's transaction, so the run
    /// copies one version of it, and a concurrent delete or replace waits for the run (a delete then
    /// sees it active; a move to legacy then moves it).
    pub async fn job_start_run(&self, id: JobId, p: &StartParams) -> Result<Option<RunId>> {
        let mut tx = self.pool().begin().await?;
        let Some(row) = sqlx::query(include_str!("../../sql/jobs/lock.sql")).bind(id).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let args = p.args.as_deref().unwrap_or(&job.spec.args);
        let command = job.command_line(args);
        let row = sqlx::query(include_str!("../../sql/jobs/start_run.sql"))
            .bind(job.id)
            .bind(p.priority)
            .bind(Json(&p.env))
            .bind(command.map(Json))
            .bind(&p.triggered_by)
            .bind(None::<DateTime<Utc>>)
            .bind(p.admission_off)
            .bind(p.actor.as_deref())
            .fetch_optional(&mut *tx)
            .await?;
        let run: Option<RunId> = row.map(|r| r.try_get("id")).transpose()?;
        tx.commit().await?;
        Ok(run)
    }

    /// The active run of streaming job `id`, if it has one (what a refused second start names).
    pub async fn job_active_streaming_run(&self, id: JobId) -> Result<Option<RunId>> {
        Ok(sqlx::query_scalar(include_str!("../../sql/jobs/active_streaming_run.sql"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// A job's history of changes, oldest first.
    pub async fn job_events(&self, id: JobId) -> Result<Vec<JobEvent>> {
        Ok(sqlx::query_as(include_str!("../../sql/job_events/list.sql")).bind(id).fetch_all(self.pool()).await?)
    }
}

/// Binds `spec` as `$1`..`$21` of `jobs/create.sql` and `jobs/replace.sql`.
fn spec_binds<'q, O>(
    q: sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    spec: &'q JobSpec,
    blob: Option<BlobId>,
) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    q.bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.kind)
        .bind(&spec.service)
        .bind(&spec.namespace)
        .bind(&spec.run_as)
        .bind(spec.priority)
        .bind(spec.flow)
        .bind(spec.request.cpu)
        .bind(spec.request.memory)
        .bind(spec.request.pods)
        .bind(spec.request.storage)
        .bind(blob)
        .bind(spec.command.as_ref().map(Json))
        .bind(Json(&spec.args))
        .bind(Json(&spec.env))
        .bind(spec.timeout_seconds)
        .bind(spec.retry.max_attempts)
        .bind(spec.retry.backoff_seconds)
        .bind(spec.retry.backoff_max_seconds)
        .bind(Json(&spec.tags))
}

/// The steps column of `spec`: null unless it is a workflow.
fn steps_json(spec: &JobSpec) -> Option<Json<&Vec<Step>>> {
    (spec.kind == JobKind::Workflow).then_some(Json(&spec.steps))
}

/// Reads a job row as `jobs/get.sql` and the list select it.
pub(super) fn job_from_row(r: &sqlx::postgres::PgRow) -> Result<JobRow> {
    let command: Option<Json<Vec<String>>> = r.try_get("command")?;
    let Json(args): Json<Vec<String>> = r.try_get("args")?;
    let Json(env): Json<BTreeMap<String, String>> = r.try_get("env")?;
    let Json(tags): Json<BTreeMap<String, String>> = r.try_get("tags")?;
    let restart: Option<Json<RestartSettings>> = r.try_get("restart")?;
    let steps: Option<Json<Vec<Step>>> = r.try_get("steps")?;
    Ok(JobRow {
        id: r.try_get("id")?,
        spec: JobSpec {
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            kind: r.try_get("kind")?,
            service: r.try_get("service")?,
            namespace: r.try_get("namespace")?,
            run_as: r.try_get("user_id")?,
            priority: r.try_get("priority")?,
            flow: r.try_get("flow")?,
            request: super::resources_of(r)?,
            command: command.map(|Json(c)| c),
            args,
            env,
            timeout_seconds: r.try_get("timeout_seconds")?,
            retry: RetryPolicy {
                max_attempts: r.try_get("max_attempts")?,
                backoff_seconds: r.try_get("retry_backoff_seconds")?,
                backoff_max_seconds: r.try_get("retry_backoff_max_seconds")?,
            },
            tags,
            restart: restart.map(|Json(r)| r),
            steps: steps.map(|Json(s)| s).unwrap_or_default(),
        },
        input_blob_id: r.try_get("input_blob_id")?,
        input_bytes: r.try_get("input_bytes")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        one_off: r.try_get("one_off")?,
    })
}
