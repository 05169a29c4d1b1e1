//! `/api/v1/workflow-runs/{id}`: a workflow run with every step's state and the edges, and its
//! cancellation; the check of a workflow's steps and its start (`POST /api/v1/jobs/{id}/runs` of
//! a workflow job).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ErrorBody;
use super::jobs::{ACTOR_DEFAULT, StartBody};
use super::{AppState, Caller, Error, Result};
use crate::auth::JobPermission;
use crate::domain::{JobKind, RunState, StepEndReason, WorkflowRunState};
use crate::store::jobs::{JobRow, JobSpec, StartParams};
use crate::store::workflows::{Cancelled, Started, StepRow, WorkflowRunRow};
use crate::store::{JobId, RunId, WorkflowRunId};
use crate::workflow::{self, WorkflowError};

/// A workflow run: its state, every step's state, and the edges.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowRunView {
    /// Workflow run id.
    #[schema(value_type = i64)]
    pub id: WorkflowRunId,
    /// The workflow job.
    pub job_id: JobId,
    /// Its name.
    pub job_name: String,
    /// Namespace of the workflow job.
    pub namespace: String,
    /// `running` until every step has ended; then `succeeded` (all succeeded), `failed` (a step
    /// failed, timed out or was aborted) or `cancelled` (the workflow run was cancelled, or a step
    /// was cancelled and none failed).
    pub state: WorkflowRunState,
    /// Steps in all.
    pub steps_total: i32,
    /// Steps that have not ended.
    pub steps_left: i32,
    /// Steps that succeeded.
    pub steps_succeeded: i32,
    /// Steps that failed, timed out or were aborted.
    pub steps_failed: i32,
    /// Steps cancelled.
    pub steps_cancelled: i32,
    /// Someone cancelled the workflow run.
    pub cancel_requested: bool,
    /// Who started it (`api`, `schedule`, a user).
    pub triggered_by: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its last step ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Every step, parents before children.
    pub steps: Vec<StepView>,
    /// The edges, by step name.
    pub edges: Vec<EdgeView>,
}

/// One step of a workflow run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepView {
    /// Step name.
    pub name: String,
    /// Its run (`GET /api/v1/runs/{id}`).
    pub run_id: RunId,
    /// The step's job.
    pub job_id: JobId,
    /// The run's state: `waiting` until its parents succeeded (docs/state_machine.md).
    pub state: RunState,
    /// Parents that have not succeeded yet.
    pub pending_parents: i32,
    /// Why the workflow cancelled it: `upstream_failed` or `workflow_cancelled`.
    pub end_reason: Option<StepEndReason>,
    /// Attempt number (0 before the first claim).
    pub attempt: i32,
    /// When its current (or last) attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last outcome message.
    pub message: String,
}

/// An edge: `child` runs after `parent` succeeded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EdgeView {
    /// The parent step.
    pub parent: String,
    /// The child step.
    pub child: String,
}

/// What a cancel did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowCancelView {
    /// Unstarted steps cancelled.
    pub cancelled_steps: i64,
    /// Running steps asked to stop.
    pub stopping_steps: i64,
    /// The workflow run now.
    pub workflow_run: WorkflowRunView,
}

impl WorkflowRunView {
    /// The API's view of a stored workflow run, its steps and its edges.
    pub fn from_row(w: &WorkflowRunRow, steps: &[StepRow], edges: &[(String, String)]) -> Self {
        WorkflowRunView {
            id: w.id,
            job_id: w.job_id,
            job_name: w.job_name.clone(),
            namespace: w.namespace.clone(),
            state: w.state,
            steps_total: w.steps_total,
            steps_left: w.steps_left,
            steps_succeeded: w.steps_succeeded,
            steps_failed: w.steps_failed,
            steps_cancelled: w.steps_cancelled,
            cancel_requested: w.cancel_requested,
            triggered_by: w.triggered_by.clone(),
            created_at: w.created_at,
            finished_at: w.finished_at,
            steps: steps.iter().map(StepView::from_row).collect(),
            edges: edges.iter().map(|(p, c)| EdgeView { parent: p.clone(), child: c.clone() }).collect(),
        }
    }
}

impl StepView {
    /// The API's view of a stored step.
    pub fn from_row(s: &StepRow) -> Self {
        StepView {
            name: s.name.clone(),
            run_id: s.run_id,
            job_id: s.job_id,
            state: s.state,
            pending_parents: s.pending_parents,
            end_reason: s.end_reason,
            attempt: s.attempt,
            started_at: s.started_at,
            finished_at: s.finished_at,
            message: s.message.clone(),
        }
    }
}

/// A workflow run with its steps and edges.
#[utoipa::path(get, path = "/api/v1/workflow-runs/{id}", params(("id" = i64, Path, description = "workflow run id")),
    responses((status = 200, body = WorkflowRunView), (status = 404, body = ErrorBody)))]
pub async fn get_workflow_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkflowRunView>> {
    let id = parse_id(&id)?;
    require(&state, &caller, id, JobPermission::View).await?;
    Ok(Json(view(&state, id).await?))
}

/// Requires `permission` on the workflow job of workflow run `id` (its runs inherit the job's
/// permissions); 404 for an unknown workflow run.
async fn require(state: &AppState, caller: &Caller, id: WorkflowRunId, permission: JobPermission) -> Result<()> {
    let w = state.store.workflow_run_get(id).await?.ok_or_else(|| Error::NotFound(format!("workflow run {id}")))?;
    caller.require_job_id(state, w.job_id, permission).await
}

/// Cancels a workflow run: its unstarted steps are cancelled at once, its running ones stopped (they
/// end `cancelled`); the workflow run ends `cancelled` with its last step. An ended workflow run
/// answers 409 with its state.
#[utoipa::path(post, path = "/api/v1/workflow-runs/{id}/cancel",
    params(("id" = i64, Path, description = "workflow run id")),
    responses((status = 200, body = WorkflowCancelView), (status = 404, body = ErrorBody),
    (status = 409, description = "the workflow run has ended", body = ErrorBody)))]
pub async fn cancel_workflow_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkflowCancelView>> {
    let id = parse_id(&id)?;
    require(&state, &caller, id, JobPermission::Run).await?;
    match state.store.workflow_cancel(id, &caller.actor(None)).await? {
        Cancelled::NotFound => Err(Error::NotFound(format!("workflow run {id}"))),
        Cancelled::Ended(s) => {
            Err(Error::Conflict { code: "not_cancellable", message: format!("workflow run {id} has ended: it is {s}") })
        }
        Cancelled::Done { cancelled, stopping } => Ok(Json(WorkflowCancelView {
            cancelled_steps: cancelled,
            stopping_steps: stopping,
            workflow_run: view(&state, id).await?,
        })),
    }
}

/// Checks a workflow's steps against the jobs as they are (a 400 naming the step, edge or job at
/// fault); nothing for the other kinds.
///
/// A workflow runs its steps' jobs as their own users, with their files and quota, and hands their
/// results to later steps: the caller needs `run` on every step's job that exists (403 otherwise).
pub async fn check_steps(state: &AppState, caller: &Caller, spec: &JobSpec) -> Result<()> {
    if spec.kind != JobKind::Workflow {
        return Ok(());
    }
    let ids: Vec<JobId> = spec.steps.iter().map(|s| s.job).collect();
    let kinds = state.store.job_kinds(&ids).await?;
    let existing: Vec<JobId> = kinds.keys().copied().collect();
    require_steps(state, caller, &existing).await?;
    workflow::validate(&spec.steps, &kinds).map(|_| ()).map_err(invalid)
}

/// Requires `run` on each of the step jobs `jobs`.
async fn require_steps(state: &AppState, caller: &Caller, jobs: &[JobId]) -> Result<()> {
    for job in jobs {
        caller.require_job_id(state, *job, JobPermission::Run).await?;
    }
    Ok(())
}

/// Starts workflow job `job` with the overrides of `body` (priority and env; args do not apply).
/// The seed's user_id rule applies as for any start (`caller`).
pub async fn start(state: &AppState, caller: &Caller, job: &JobRow, body: StartBody) -> Result<WorkflowRunView> {
    if body.args.is_some() {
        return Err(Error::bad_request(
            "invalid_field",
            "args do not apply to a workflow: set them on its steps' jobs",
        ));
    }
    // Permissions may have changed since the workflow was defined: the starter needs `run` on
    // every step's job too.
    let steps: Vec<JobId> = job.spec.steps.iter().map(|s| s.job).collect();
    require_steps(state, caller, &steps).await?;
    let env = body.env.unwrap_or_default();
    super::job_input::check_env_override(&env)?;
    let check = super::job_input::JobBody { env: Some(env.clone()), ..super::job_input::JobBody::of(&job.spec) };
    check.into_spec(&state.config, &job.spec.run_as, super::job_input::FilesCheck::None)?;
    let triggered_by = caller.acting_for(body.triggered_by.as_deref())?.unwrap_or_else(|| ACTOR_DEFAULT.into());
    let actor = (!caller.anonymous && triggered_by != caller.subject).then(|| caller.subject.clone());
    if triggered_by.len() > 255 || triggered_by.chars().any(char::is_control) {
        return Err(Error::bad_request("invalid_field", "triggered_by must be 1 to 255 printable characters"));
    }
    let p = StartParams {
        priority: body.priority,
        env,
        args: None,
        triggered_by,
        admission_off: !state.config.orchestrator.enabled,
        actor,
    };
    match state.store.workflow_start(job.id, &p).await? {
        Started::NotFound | Started::NotWorkflow(_) => Err(Error::NotFound(format!("workflow job {}", job.id))),
        Started::Invalid(e) => Err(Error::Conflict {
            code: "invalid_workflow",
            message: format!("workflow job {} cannot start: {e}", job.id),
        }),
        Started::Started { id, runs } => {
            for _ in 0..runs {
                crate::metrics::run_submitted();
            }
            view(state, id).await
        }
    }
}

/// The 400 for a refused definition.
fn invalid(e: WorkflowError) -> Error {
    Error::bad_request("invalid_workflow", e.to_string())
}

async fn view(state: &AppState, id: WorkflowRunId) -> Result<WorkflowRunView> {
    let w = state.store.workflow_run_get(id).await?.ok_or_else(|| Error::NotFound(format!("workflow run {id}")))?;
    let steps = state.store.workflow_run_steps(id).await?;
    let edges = state.store.workflow_run_edges(id).await?;
    Ok(WorkflowRunView::from_row(&w, &steps, &edges))
}

/// A workflow run id from a path segment: anything that cannot be one names no workflow run (404,
/// as for runs and jobs).
fn parse_id(raw: &str) -> Result<WorkflowRunId> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .map(WorkflowRunId)
        .ok_or_else(|| Error::NotFound(format!("workflow run {raw}")))
}
