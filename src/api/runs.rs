//! `/api/v1/runs/{id}`: a run with its timeline, its logs, its result, and cancellation.

use crate::domain::{AttemptOutcome, Flow, Priority, RunState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ErrorBody;
use super::seed::{parse_id, zip_response};
use super::{AppState, Caller, Error, Result};
use crate::auth::JobPermission;
use crate::retry::RestartSettings;
use crate::store::attempts::AttemptRow;
use crate::store::runs::{RunEvent, RunRow};
use crate::store::{AttemptId, JobId, RunId, WorkerId, WorkflowRunId};

/// A run as the run lists show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
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
    /// Through admission (`priority`) or not (`legacy`).
    pub flow: Flow,
    /// Requested millicores.
    pub cpu: i64,
    /// Requested MiB of memory.
    pub memory: i64,
    /// Requested pods.
    pub pods: i64,
    /// Requested MiB of storage.
    pub storage: i64,
    /// `waiting`, `queued`, `admitted`, `running`, `succeeded`, `failed`, `timed_out`,
    /// `cancelled`, `aborted` or `cleaned` (docs/state_machine.md).
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
    /// Why the run still waits, as of the last admission cycle (see `/api/v1/runs/{id}/why`).
    #[schema(value_type = Option<Object>)]
    pub block: Option<serde_json::Value>,
    /// End of a retry back-off or head-timeout cool-down.
    pub not_before: Option<DateTime<Utc>>,
    /// Attempts lost to dead workers.
    pub lost_attempts: i32,
    /// Who started it: `upload`, `api`, or the user or actor named when it was started.
    pub triggered_by: String,
    /// A streaming run's restart policy and attempt counts (absent for a batch run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming: Option<StreamingView>,
    /// The workflow run it is a step of (`GET /api/v1/workflow-runs/{id}`); null otherwise.
    #[schema(value_type = Option<i64>)]
    pub workflow_run_id: Option<WorkflowRunId>,
}

/// What a streaming run (an application) shows besides a run's fields.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StreamingView {
    /// Its restart policy and settings, as copied from its job when it started.
    #[serde(flatten)]
    pub restart: RestartSettings,
    /// Submissions: every start berth tried (the current one included while it runs).
    pub submission_attempts: i32,
    /// Executions: the starts that ran the application (the current one included while it runs).
    pub execution_attempts: i32,
    /// Submission failures: the application could not be started (executor error before the
    /// process ran, or no worker took it within the startup timeout). `submission_retries` limits them.
    pub submission_failures: i32,
    /// Execution failures: it ran and exited non-zero, or its worker died. `failure_retries` limits them.
    pub execution_failures: i32,
    /// Seconds since its first start, up to its end: a live counter while it is active (`GET
    /// /api/v1/runs/{id}` only; absent before it first started and in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Its stop (abort) was requested and its worker is stopping it.
    pub stopping: bool,
}

impl StreamingView {
    /// The counts of a stored run, the running attempt counted as a submission and an execution.
    fn from_row(run: &RunRow) -> Option<Self> {
        let restart = run.restart.as_ref()?.0;
        let live = i32::from(run.state == RunState::Running);
        Some(StreamingView {
            restart,
            submission_attempts: run.submission_attempts.unwrap_or(0) + live,
            execution_attempts: run.execution_attempts.unwrap_or(0) + live,
            submission_failures: run.submission_failures.unwrap_or(0),
            execution_failures: run.execution_failures.unwrap_or(0),
            duration_seconds: None,
            stopping: run.cancel_requested && !run.state.is_terminal(),
        })
    }
}

/// A run with its attempts and its timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    /// The run.
    #[serde(flatten)]
    pub run: RunSummary,
    /// Its attempts in order.
    pub attempts: Vec<AttemptView>,
    /// Its timeline.
    pub events: Vec<EventView>,
}

impl RunView {
    /// The API's view of a stored run with its attempts and events.
    pub fn from_row(run: &RunRow, attempts: &[AttemptRow], events: &[RunEvent]) -> Self {
        Self::at(run, attempts, events, Utc::now())
    }

    /// The view at `now` (a streaming run's live duration counts up to it).
    pub fn at(run: &RunRow, attempts: &[AttemptRow], events: &[RunEvent], now: DateTime<Utc>) -> Self {
        let mut summary = RunSummary::from_row(run);
        if let (Some(s), Some(first)) = (summary.streaming.as_mut(), attempts.first()) {
            let end = run.finished_at.unwrap_or(now);
            s.duration_seconds = Some(((end - first.started_at).num_milliseconds().max(0) as f64) / 1000.0);
        }
        RunView {
            run: summary,
            attempts: attempts.iter().map(AttemptView::from_row).collect(),
            events: events.iter().map(EventView::from_row).collect(),
        }
    }
}

impl RunSummary {
    /// The API's view of a stored run: the one place that maps it.
    pub fn from_row(run: &RunRow) -> Self {
        RunSummary {
            id: run.id,
            job_id: run.job_id,
            job_name: run.job_name.clone(),
            user_id: run.user_id.clone(),
            service: run.service.clone(),
            namespace: run.namespace.clone(),
            priority: run.priority,
            flow: run.flow,
            cpu: run.cpu,
            memory: run.memory,
            pods: run.pods,
            storage: run.storage,
            state: run.state,
            enqueued_at: run.enqueued_at,
            admitted_at: run.admitted_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            attempt: run.attempt,
            max_attempts: run.max_attempts,
            worker_id: run.worker_id,
            exit_code: run.exit_code,
            message: run.message.clone(),
            block: run.block.clone(),
            not_before: run.not_before,
            lost_attempts: run.lost_attempts,
            triggered_by: run.triggered_by.clone(),
            streaming: StreamingView::from_row(run),
            workflow_run_id: run.workflow_run_id,
        }
    }
}

/// One attempt of a run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
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
    /// Final state, `lost` (its worker died) or `handed_back` (its worker drained); null while it runs.
    pub outcome: Option<AttemptOutcome>,
    /// Exit code of the process, if it exited.
    pub exit_code: Option<i32>,
}

impl AttemptView {
    /// The API's view of a stored attempt.
    pub fn from_row(a: &AttemptRow) -> Self {
        AttemptView {
            id: a.id,
            number: a.number,
            worker_id: a.worker_id,
            started_at: a.started_at,
            finished_at: a.finished_at,
            outcome: a.outcome,
            exit_code: a.exit_code,
        }
    }
}

/// One entry of a run's timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// Event id; null for a routine transition its run's or attempt's row carries (`admitted`,
    /// `started`, and the end the worker reported). The timeline is ordered by time.
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
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl EventView {
    /// The API's view of a stored event.
    pub fn from_row(e: &RunEvent) -> Self {
        EventView {
            id: e.id,
            at: e.at,
            kind: e.kind.clone(),
            actor: e.actor.clone(),
            message: e.message.clone(),
            details: e.details.clone(),
        }
    }
}

/// A run's output, every attempt, as text (invalid UTF-8 replaced).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogsView {
    /// Run id.
    pub id: RunId,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A run: state, user, service, priority, timestamps, exit code, attempts, worker, events.
#[utoipa::path(get, path = "/api/v1/runs/{id}", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, body = RunView), (status = 404, description = "unknown run", body = ErrorBody)))]
pub async fn get_run(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<RunView>> {
    let id = parse_id(&id)?;
    let run = visible_run(&state, &caller, id, JobPermission::View).await?;
    let attempts = state.store.attempt_list(id).await?;
    let events = state.store.run_events(id).await?;
    Ok(Json(RunView::from_row(&run, &attempts, &events)))
}

/// What `GET /api/v1/runs/{id}/logs` takes.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Stream the output as the process writes it (`text/plain`, chunked; stdout and stderr
    /// interleaved in write order, every attempt, from the start) until the run ends or the client
    /// leaves, instead of answering the JSON of what is stored now.
    pub follow: Option<bool>,
}

/// The run's stdout and stderr, every attempt, as text; with `follow=true`, streamed live.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs", params(("id" = i64, Path, description = "run id", example = 1), LogsQuery), responses(
    (status = 200, description = "the logs as JSON; with `follow=true`, a chunked `text/plain` stream of the output \
        (stdout and stderr interleaved in write order) that ends when the run ends",
        content((LogsView = "application/json"), (String = "text/plain"))),
    (status = 400, description = "a bad query", body = ErrorBody),
    (status = 404, description = "unknown run", body = ErrorBody)))]
pub async fn get_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let run = visible_run(&state, &caller, id, JobPermission::View).await?;
    if query.follow == Some(true) {
        let reader = super::follow::Reader { caller, job: run.job_id };
        return Ok(super::follow::response(state.store.clone(), id, reader));
    }
    let (stdout, stderr) = split_logs(state.store.run_logs(id).await?);
    Ok(Json(LogsView {
        id,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
    .into_response())
}

/// The result zip whatever the outcome (a failed run's partial output matters).
#[utoipa::path(get, path = "/api/v1/runs/{id}/result", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, description = "the result files as a zip", content_type = "application/zip", body = Vec<u8>),
    (status = 404, description = "unknown run", body = ErrorBody),
    (status = 409, description = "no result yet", body = ErrorBody),
    (status = 410, description = "the run was cleaned: retention removed its files (`cleaned`)", body = ErrorBody)))]
pub async fn get_result(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id)?;
    let run = visible_run(&state, &caller, id, JobPermission::View).await?;
    if run.state == crate::store::runs::RunState::Cleaned {
        return Err(cleaned(id));
    }
    let Some(blob) = run.result_blob_id else {
        if run.state == crate::store::runs::RunState::Succeeded {
            // The backend kept no files (the no-op backend): the result is an empty archive.
            return Ok(zip_response(id, crate::executor::archive::EMPTY_ZIP.to_vec()));
        }
        return Err(Error::Conflict {
            code: "no_result",
            message: format!("run {id} has no result yet: it is {}", run.state),
        });
    };
    let zip = state.store.blob_read(blob).await?;
    // A zip is never empty: no bytes means retention deleted the blob since the run was read.
    if zip.is_empty() {
        return Err(cleaned(id));
    }
    Ok(zip_response(id, zip))
}

/// A run's output, every attempt in order, as (stdout, stderr).
pub(super) fn split_logs(entries: Vec<crate::store::runs::LogEntry>) -> (Vec<u8>, Vec<u8>) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    for entry in entries {
        match entry.stream.as_str() {
            "stderr" => stderr.extend_from_slice(&entry.data),
            _ => stdout.extend_from_slice(&entry.data),
        }
    }
    (stdout, stderr)
}

/// The 410 for a run whose files retention removed.
pub(super) fn cleaned(id: crate::store::RunId) -> Error {
    Error::Gone {
        code: "cleaned",
        message: format!("run {id} was cleaned: its files were removed after the retention period"),
    }
}

/// Cancels a run: at once when it has not started, by killing its process group when it runs
/// (the run then ends `cancelled`). A terminal run answers 409 with its state.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, body = RunView), (status = 404, description = "unknown run", body = ErrorBody),
    (status = 409, description = "the run has finished", body = ErrorBody)))]
pub async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RunView>> {
    let id = parse_id(&id)?;
    let run = visible_run(&state, &caller, id, JobPermission::Run).await?;
    if run.restart.is_some() {
        // A user's stop of a streaming run is an abort, whichever route asks for it.
        return abort(&state, &caller, id).await;
    }
    let actor = caller.actor(None);
    let cancelled = state.store.run_cancel_unstarted(id, "cancelled through the API", &actor).await?
        || state.store.run_request_cancel(id, &actor).await?;
    if cancelled {
        crate::metrics::run_cancelled("api");
    } else {
        return Err(Error::Conflict {
            code: "not_cancellable",
            message: format!("run {id} is {} and cannot be cancelled", run.state),
        });
    }
    get_run(State(state), caller, Path(id.to_string())).await
}

/// Run `id`, if the caller holds `permission` on its job (a run inherits its job's permissions);
/// a 404 when there is no such run, a 403 without the permission.
pub(super) async fn visible_run(
    state: &AppState,
    caller: &Caller,
    id: RunId,
    permission: JobPermission,
) -> Result<RunRow> {
    let run = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    // Refused, the answer names the run asked for, not its job: a run id (the queue shows other
    // tenants' as positions) must not tell which job it belongs to.
    caller.require_job_id(state, run.job_id, permission).await.map_err(|e| match e {
        Error::Forbidden(_) => Error::Forbidden(format!("{:?} may not {permission} run {id}", caller.subject)),
        e => e,
    })?;
    Ok(run)
}

/// Aborts a streaming run (stops the application): at once when it has not started; when it runs,
/// its worker kills the process group (the cancellation path) and the run ends `aborted`. An
/// aborted run is never restarted, whatever its restart policy. A run that has ended answers 409
/// with its state; a batch run 409 `not_streaming` (cancel it instead). Asking again while the
/// worker stops it answers the run as it is.
#[utoipa::path(post, path = "/api/v1/runs/{id}/abort", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, description = "aborted, or its worker is stopping it (`streaming.stopping`)", body = RunView),
    (status = 404, description = "unknown run", body = ErrorBody),
    (status = 409, description = "the run has ended (`succeeded`, `failed`, `aborted`, ...; the message names its state), or is not a streaming run", body = ErrorBody)))]
pub async fn abort_run(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<RunView>> {
    let id = parse_id(&id)?;
    // Stopping needs `run` on the run's job (the seed's RUN: start or stop).
    let run = visible_run(&state, &caller, id, JobPermission::Run).await?;
    if run.restart.is_none() {
        return Err(Error::Conflict {
            code: "not_streaming",
            message: format!("run {id} is a batch run: stop it with POST /api/v1/runs/{id}/cancel"),
        });
    }
    abort(&state, &caller, id).await
}

/// The abort of streaming run `id`, read as `run` just before, by `caller`.
async fn abort(state: &AppState, caller: &Caller, id: RunId) -> Result<Json<RunView>> {
    if state.store.run_abort(id, &caller.actor(None)).await?.is_some() {
        crate::metrics::run_cancelled("api");
        return get_run(State(state.clone()), caller.clone(), Path(id.to_string())).await;
    }
    // Nothing changed: it has ended, or its worker is already stopping it.
    let now = state.store.run_get(id).await?.ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    if now.state.is_terminal() {
        return Err(Error::Conflict {
            code: "not_abortable",
            message: format!("run {id} is {} and cannot be aborted", now.state),
        });
    }
    get_run(State(state.clone()), caller.clone(), Path(id.to_string())).await
}
