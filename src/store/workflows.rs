//! Workflow runs: start (one workflow run and one run per step, in one transaction), read (the
//! steps and the edges), cancel, and the parents' results a step's worker unpacks. What follows a
//! step's end (release or cancel its dependents, end the workflow run) is the database trigger
//! `workflow_step_ended` (migration 0018), in the transaction of that end.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

use super::jobs::{JobRow, StartParams, job_from_row};
use super::notify::{self, notify};
use super::{BlobId, JobId, Result, RunId, Store, WorkflowRunId};
use crate::domain::{JobKind, RunState, StepEndReason, WorkflowRunState};
use crate::workflow::{self, WorkflowError};

/// What a workflow start did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// No such job, or it was deleted.
    NotFound,
    /// The job is not a workflow.
    NotWorkflow(JobKind),
    /// The definition no longer holds (a step's job was deleted since): nothing was created.
    Invalid(WorkflowError),
    /// Started.
    Started {
        /// The workflow run.
        id: WorkflowRunId,
        /// Step runs created.
        runs: i64,
    },
}

/// A workflow run as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowRunRow {
    /// Workflow run id.
    pub id: WorkflowRunId,
    /// The workflow job.
    pub job_id: JobId,
    /// Its name.
    pub job_name: String,
    /// The job's namespace.
    pub namespace: String,
    /// The job's run-as user.
    pub user_id: String,
    /// `running`, then the state that summarises the steps.
    pub state: WorkflowRunState,
    /// Steps.
    pub steps_total: i32,
    /// Steps not yet ended.
    pub steps_left: i32,
    /// Steps that succeeded.
    pub steps_succeeded: i32,
    /// Steps that failed, timed out or were aborted.
    pub steps_failed: i32,
    /// Steps cancelled (by a user, by the workflow's cancel, or upstream failed).
    pub steps_cancelled: i32,
    /// Someone cancelled the workflow run.
    pub cancel_requested: bool,
    /// Who started it (`api`, `schedule`, a user).
    pub triggered_by: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its last step ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One step of a workflow run with its run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StepRow {
    /// Step name.
    pub name: String,
    /// Its run.
    pub run_id: RunId,
    /// Parents that have not succeeded yet.
    pub pending_parents: i32,
    /// Why the workflow cancelled it, if it did.
    pub end_reason: Option<StepEndReason>,
    /// The step's job.
    pub job_id: JobId,
    /// The run's state.
    pub state: RunState,
    /// Attempt number.
    pub attempt: i32,
    /// When the workflow run started.
    pub enqueued_at: DateTime<Utc>,
    /// When it was admitted.
    pub admitted_at: Option<DateTime<Utc>>,
    /// When its current (last) attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last outcome message.
    pub message: String,
}

/// What cancelling a workflow run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// No such workflow run.
    NotFound,
    /// It had ended already, in this state.
    Ended(WorkflowRunState),
    /// Unstarted steps cancelled, running ones asked to stop.
    Done {
        /// Unstarted steps cancelled.
        cancelled: i64,
        /// Running steps asked to stop.
        stopping: i64,
    },
}

impl Store {
    /// The kinds of the jobs among `ids` that exist and are not deleted (a definition's check).
    pub async fn job_kinds(&self, ids: &[JobId]) -> Result<HashMap<JobId, JobKind>> {
        let mut conn = self.pool().acquire().await?;
        job_kinds(&mut conn, ids).await
    }

    /// Starts workflow job `id`: one workflow run and a run per step, in one transaction, after
    /// checking the definition again against the step jobs as they are now (locked until commit).
    pub async fn workflow_start(&self, id: JobId, p: &StartParams) -> Result<Started> {
        let mut tx = self.pool().begin().await?;
        let started = workflow_start(&mut tx, id, p).await?;
        if matches!(started, Started::Started { .. }) {
            tx.commit().await?;
        }
        Ok(started)
    }

    /// A workflow run.
    pub async fn workflow_run_get(&self, id: WorkflowRunId) -> Result<Option<WorkflowRunRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/workflows/get.sql")).bind(id).fetch_optional(self.pool()).await?)
    }

    /// A workflow run's steps, in the definition's topological order.
    pub async fn workflow_run_steps(&self, id: WorkflowRunId) -> Result<Vec<StepRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/workflows/steps.sql")).bind(id).fetch_all(self.pool()).await?)
    }

    /// A workflow run's edges as `(parent, child)` step names.
    pub async fn workflow_run_edges(&self, id: WorkflowRunId) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(include_str!("../../sql/workflows/edges.sql")).bind(id).fetch_all(self.pool()).await?)
    }

    /// Cancels a workflow run: its unstarted steps are cancelled, its running ones asked to stop,
    /// in one transaction.
    pub async fn workflow_cancel(&self, id: WorkflowRunId, actor: &str) -> Result<Cancelled> {
        let mut tx = self.pool().begin().await?;
        match workflow_cancel(&mut tx, id, actor).await? {
            Some(done) => {
                tx.commit().await?;
                Ok(done)
            }
            None => {
                tx.rollback().await?;
                Ok(match self.workflow_run_get(id).await? {
                    None => Cancelled::NotFound,
                    Some(w) => Cancelled::Ended(w.state),
                })
            }
        }
    }

    /// The parents of a step's run: each parent step's name and result blob (none when it
    /// produced no result).
    pub async fn workflow_parent_results(&self, run: RunId) -> Result<Vec<(String, Option<BlobId>)>> {
        Ok(sqlx::query_as(include_str!("../../sql/workflows/parent_results.sql"))
            .bind(run)
            .fetch_all(self.pool())
            .await?)
    }
}

/// Cancels workflow run `id` on `conn`, locking its unfinished steps first in the release's order
/// (ascending ids: no deadlock with a step ending meanwhile). `None` when it is not running.
async fn workflow_cancel(conn: &mut PgConnection, id: WorkflowRunId, actor: &str) -> Result<Option<Cancelled>> {
    let _: Vec<RunId> =
        sqlx::query_scalar(include_str!("../../sql/workflows/lock_steps.sql")).bind(id).fetch_all(&mut *conn).await?;
    let row = sqlx::query(include_str!("../../sql/workflows/cancel.sql"))
        .bind(id)
        .bind(actor)
        .bind(None::<DateTime<Utc>>)
        .fetch_one(&mut *conn)
        .await?;
    let (found, cancelled, stopping): (i64, i64, i64) =
        (row.try_get("found")?, row.try_get("cancelled")?, row.try_get("stopping")?);
    if found == 0 {
        return Ok(None);
    }
    if cancelled > 0 {
        notify(conn, notify::FINISHED).await?;
    }
    if stopping > 0 {
        notify(conn, notify::CANCEL).await?;
    }
    Ok(Some(Cancelled::Done { cancelled, stopping }))
}

/// The workflow part of a schedule pass, in the leader's transaction: cancels the running
/// workflow runs of the `replaced` jobs, then starts a workflow run of each job of `start` (with
/// its fire time). A fire whose schedule's setter no longer holds `run` on every step's job
/// (schedules/refused.sql) does neither: its fire is recorded `refused`, with a warning, and its
/// job is returned. A workflow whose definition no longer holds (a step's job was deleted) starts
/// nothing, with a warning; its fire stays recorded.
pub(super) async fn fire(
    conn: &mut PgConnection,
    replaced: &[JobId],
    start: &[(JobId, DateTime<Utc>)],
    admission_off: bool,
) -> Result<Vec<JobId>> {
    let jobs: Vec<JobId> = start.iter().map(|(job, _)| *job).collect();
    let refused: Vec<JobId> = if jobs.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(include_str!("../../sql/schedules/refused.sql")).bind(&jobs).fetch_all(&mut *conn).await?
    };
    for job in replaced.iter().filter(|j| !refused.contains(j)) {
        let active: Vec<WorkflowRunId> =
            sqlx::query_scalar(include_str!("../../sql/workflows/active.sql")).bind(job).fetch_all(&mut *conn).await?;
        for wf in active {
            workflow_cancel(conn, wf, "schedule").await?;
        }
    }
    let p = StartParams { triggered_by: "schedule".into(), admission_off, ..StartParams::default() };
    for (job, fire_at) in start {
        if refused.contains(job) {
            sqlx::query(include_str!("../../sql/schedules/refuse_fire.sql"))
                .bind(job)
                .bind(fire_at)
                .execute(&mut *conn)
                .await?;
            tracing::warn!(job = %job, %fire_at, "a workflow's schedule fired, and whoever set it may no longer run \
                every step's job: nothing started (the fire is recorded refused; set or resume the schedule again)");
            continue;
        }
        match workflow_start(conn, *job, &p).await? {
            Started::Started { .. } => {}
            other => tracing::warn!(job = %job, outcome = ?other, "a workflow's schedule fired but nothing started"),
        }
    }
    Ok(refused)
}

/// The kinds of the jobs among `ids` that exist, locked FOR SHARE until the transaction ends.
async fn job_kinds(conn: &mut PgConnection, ids: &[JobId]) -> Result<HashMap<JobId, JobKind>> {
    let rows: Vec<(JobId, JobKind)> =
        sqlx::query_as(include_str!("../../sql/jobs/kinds.sql")).bind(ids).fetch_all(conn).await?;
    Ok(rows.into_iter().collect())
}

/// Starts workflow job `id` on `conn` (a transaction: the API's, or the leader's for a schedule's
/// fire). On anything but [`Started::Started`] it has written nothing.
pub(super) async fn workflow_start(conn: &mut PgConnection, id: JobId, p: &StartParams) -> Result<Started> {
    let Some(row) = sqlx::query(include_str!("../../sql/jobs/lock.sql")).bind(id).fetch_optional(&mut *conn).await?
    else {
        return Ok(Started::NotFound);
    };
    let job: JobRow = job_from_row(&row)?;
    if job.spec.kind != JobKind::Workflow {
        return Ok(Started::NotWorkflow(job.spec.kind));
    }
    let steps = &job.spec.steps;
    let ids: Vec<JobId> = steps.iter().map(|s| s.job).collect();
    let kinds = job_kinds(conn, &ids).await?;
    let graph = match workflow::validate(steps, &kinds) {
        Ok(g) => g,
        Err(e) => return Ok(Started::Invalid(e)),
    };
    // Steps in topological order, so that each parent's run id is below its children's.
    let mut position = vec![0i32; steps.len()];
    for (at, i) in graph.order.iter().enumerate() {
        position[*i] = i32::try_from(at + 1).unwrap_or(i32::MAX);
    }
    let names: Vec<&str> = graph.order.iter().map(|i| steps[*i].name.as_str()).collect();
    let jobs: Vec<JobId> = graph.order.iter().map(|i| steps[*i].job).collect();
    let pending: Vec<i32> = graph.order.iter().map(|i| graph.pending[*i]).collect();
    let (parents, children): (Vec<i32>, Vec<i32>) =
        graph.edges.iter().map(|(p, c)| (position[*p], position[*c])).unzip();
    let row = sqlx::query(include_str!("../../sql/workflows/start.sql"))
        .bind(id)
        .bind(&names)
        .bind(&jobs)
        .bind(&pending)
        .bind(&parents)
        .bind(&children)
        .bind(p.priority)
        .bind(Json(&p.env))
        .bind(&p.triggered_by)
        .bind(None::<DateTime<Utc>>)
        .bind(p.admission_off)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(Started::NotFound);
    };
    let (wf, runs, queued, admitted): (WorkflowRunId, i64, i64, i64) =
        (row.try_get("id")?, row.try_get("runs")?, row.try_get("queued")?, row.try_get("admitted")?);
    if queued > 0 {
        notify(conn, notify::QUEUED).await?;
    }
    if admitted > 0 {
        notify(conn, notify::ADMITTED).await?;
    }
    Ok(Started::Started { id: wf, runs })
}
