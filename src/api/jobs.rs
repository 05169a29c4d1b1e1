//! `/api/v1/jobs`: stored job definitions — create, read, replace, patch, delete, duplicate, list
//! and search by part of the name, start a run, list its runs, its template and its history.
//!
//! Every handler checks the caller's permission on the job (`api::auth`): with auth on, the actor
//! of a change is the token's subject and a job's owner is its creator; with auth off, the actor is
//! the `user` the request names, else `api`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::job_input::{self, FilesCheck, JobBody, JobForm, Sent};
use super::lists::{self, Pairs, RunPage};
use super::runs::RunView;
use super::schedules::ScheduleSummary;
use super::workflows::WorkflowRunView;
use super::{AppState, Caller, Error, Result};
use crate::auth::{JobPermission, NamespacePermission};
use crate::domain::{Flow, JobKind, Priority};
use crate::executor::archive;
use crate::retry::RestartSettings;
use crate::store::JobId;
use crate::store::jobs::{
    Deleted, Input, JobEvent, JobRow, JobSpec, NAME_TAKEN_CONSTRAINT, STREAMING_ACTIVE_CONSTRAINT, StartParams,
};
use crate::store::lists::{JobCursor, JobFilter};
use crate::workflow::Step;

/// The actor of a change when auth is off and the request names none.
pub const ACTOR_DEFAULT: &str = "api";

/// A stored job.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// Job id.
    pub id: JobId,
    /// Name, unique in its namespace.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `batch` or `streaming`.
    pub kind: JobKind,
    /// Service.
    pub service: String,
    /// Namespace.
    pub namespace: String,
    /// The user its runs count against.
    pub user: String,
    /// Its queue.
    pub priority: Priority,
    /// Through admission or not.
    pub flow: Flow,
    /// Millicores per run.
    pub cpu: i64,
    /// MiB of memory per run.
    pub memory: i64,
    /// Pods per run.
    pub pods: i64,
    /// MiB of storage per run.
    pub storage: i64,
    /// Size of its zipped files in bytes (0: none).
    pub files_bytes: i64,
    /// Command line instead of `run.sh`.
    pub command: Option<Vec<String>>,
    /// Arguments appended to the command (or to `bash run.sh`).
    pub args: Vec<String>,
    /// Environment of every run.
    pub env: BTreeMap<String, String>,
    /// Maximum execution time in seconds.
    pub timeout_seconds: Option<i32>,
    /// Attempts per run.
    pub max_attempts: i32,
    /// Back-off before the first retry, in seconds.
    pub retry_backoff_seconds: f64,
    /// Longest back-off, in seconds.
    pub retry_backoff_max_seconds: f64,
    /// Labels.
    pub tags: BTreeMap<String, String>,
    /// A streaming job's restart policy and its settings (absent for a batch job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartSettings>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Created by an upload (`POST /upload`).
    pub one_off: bool,
    /// Similarity of the whole name to the search `q` (list results with `q` only; shown, not the
    /// order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// How the name matched the search `q` (list results with `q` only), the tiers of the result in
    /// order: `exact` (the whole name is `q`, case-insensitive), `prefix` (it starts with `q`),
    /// `substring` (it contains `q` elsewhere), or `similar` (no name contains `q`, and a part of
    /// this one is similar to it: a typo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    /// Its cron schedule (`GET /api/v1/jobs/{id}` only; absent: none, or a list result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSummary>,
    /// A workflow's steps (kind `workflow` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
}

impl JobView {
    /// The API's view of a stored job: the one place that maps it.
    pub fn from_row(job: &JobRow) -> Self {
        let s = &job.spec;
        JobView {
            id: job.id,
            name: s.name.clone(),
            description: s.description.clone(),
            kind: s.kind,
            service: s.service.clone(),
            namespace: s.namespace.clone(),
            user: s.run_as.clone(),
            priority: s.priority,
            flow: s.flow,
            cpu: s.request.cpu,
            memory: s.request.memory,
            pods: s.request.pods,
            storage: s.request.storage,
            files_bytes: job.input_bytes,
            command: s.command.clone(),
            args: s.args.clone(),
            env: s.env.clone(),
            timeout_seconds: s.timeout_seconds,
            max_attempts: s.retry.max_attempts,
            retry_backoff_seconds: s.retry.backoff_seconds,
            retry_backoff_max_seconds: s.retry.backoff_max_seconds,
            tags: s.tags.clone(),
            restart: s.restart,
            created_by: job.created_by.clone(),
            created_at: job.created_at,
            updated_at: job.updated_at,
            one_off: job.one_off,
            score: None,
            matched: None,
            schedule: None,
            steps: (s.kind == JobKind::Workflow).then(|| s.steps.clone()),
        }
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobPage {
    /// The jobs, newest first (with `q`: the names equal to it, then starting with it, then
    /// containing it, each newest first; or when none contains it, the similar names).
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One change of a job.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobEventView {
    /// Event id (orders the history).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `created`, `updated` or `deleted`.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// What changed: `{field: {"from", "to"}}`.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

impl JobEventView {
    /// The API's view of a stored job event.
    pub fn from_row(e: &JobEvent) -> Self {
        JobEventView { id: e.id, at: e.at, kind: e.kind.clone(), actor: e.actor.clone(), changes: e.changes.clone() }
    }
}

/// What a delete did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletedView {
    /// The job.
    pub id: JobId,
    /// Unstarted runs cancelled.
    pub cancelled_runs: i64,
    /// Running runs asked to stop.
    pub stopping_runs: i64,
}

/// A run started from a job, with optional overrides.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Another queue for this run.
    pub priority: Option<Priority>,
    /// Variables set over the job's.
    pub env: Option<BTreeMap<String, String>>,
    /// Arguments instead of the job's.
    pub args: Option<Vec<String>>,
    /// Who starts it (recorded as the run's `triggered_by`; default `api`).
    pub triggered_by: Option<String>,
}

/// A copy of a job.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicateBody {
    /// The copy's name (default: the job's name with " copy", or " copy N" when taken).
    pub name: Option<String>,
}

/// `?cancel_runs=true` of the delete.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeleteQuery {
    /// Cancel the job's active runs instead of refusing (409) while it has any.
    pub cancel_runs: Option<bool>,
}

/// Creates a job: JSON ([`JobBody`]), or a multipart form with the same fields as text and the
/// files (`-F name=… -F service=… -F file=@run.sh`).
#[utoipa::path(post, path = "/api/v1/jobs",
    request_body(content((JobBody = "application/json"), (JobForm = "multipart/form-data"))),
    responses((status = 201, body = JobView),
    (status = 400, description = "a field breaks its rule (the message names it)", body = ErrorBody),
    (status = 409, description = "the name is taken in the namespace", body = ErrorBody),
    (status = 413, description = "larger than the upload limit", body = ErrorBody)))]
pub async fn create_job(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> Result<(StatusCode, Json<JobView>)> {
    let Sent { mut body, files } = job_input::read(&state, req).await?;
    let actor = caller.actor(body.user.as_deref());
    body.user = caller.acting_for(body.user.as_deref())?;
    let spec = body.into_spec(&state.config, &actor, FilesCheck::of(&files))?;
    caller.require_namespace(&state, &spec.namespace, NamespacePermission::Create).await?;
    super::workflows::check_steps(&state, &caller, &spec).await?;
    let id = create(&state, &spec, &files, &actor).await?;
    Ok((StatusCode::CREATED, Json(view(&state, id).await?)))
}

/// A job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", params(("id" = i64, Path)), responses(
    (status = 200, body = JobView), (status = 404, body = ErrorBody)))]
pub async fn get_job(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<JobView>> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::View).await?;
    Ok(Json(view(&state, job.id).await?))
}

/// Replaces a job's whole definition (fields left out take their defaults). Files sent replace the
/// job's; without files (JSON) it keeps them. Runs already started keep what they started with;
/// moving the job to the `legacy` flow takes its queued runs out of admission at once.
#[utoipa::path(put, path = "/api/v1/jobs/{id}", params(("id" = i64, Path)),
    request_body(content((JobBody = "application/json"), (JobForm = "multipart/form-data"))),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "the name is taken, or the job changed meanwhile", body = ErrorBody),
    (status = 413, body = ErrorBody)))]
pub async fn put_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<JobView>> {
    let id = parse_id(&id)?;
    let Sent { body, files } = job_input::read(&state, req).await?;
    update(&state, &caller, id, body, files, false).await
}

/// Changes some fields of a job (those the body sets); as `PUT` otherwise.
#[utoipa::path(patch, path = "/api/v1/jobs/{id}", params(("id" = i64, Path)),
    request_body(content((JobBody = "application/json"), (JobForm = "multipart/form-data"))),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "the name is taken, or the job changed meanwhile", body = ErrorBody),
    (status = 413, body = ErrorBody)))]
pub async fn patch_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<JobView>> {
    let id = parse_id(&id)?;
    let Sent { body, files } = job_input::read(&state, req).await?;
    update(&state, &caller, id, body, files, true).await
}

/// Deletes a job. While it has active runs: 409, unless `?cancel_runs=true`, which cancels them.
/// Its finished runs stay readable.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", params(("id" = i64, Path), DeleteQuery), responses(
    (status = 200, body = DeletedView), (status = 404, body = ErrorBody),
    (status = 409, description = "the job has active runs", body = ErrorBody)))]
pub async fn delete_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DeletedView>> {
    let id = parse_id(&id)?;
    let pairs = Pairs::parse(raw.as_deref(), &["cancel_runs"])?;
    let cancel_runs = pairs.parsed::<bool>("cancel_runs", "true or false")?.unwrap_or(false);
    caller.require_job(&state, &find(&state, id).await?, JobPermission::Delete).await?;
    match state.store.job_delete(id, cancel_runs, &caller.actor(None)).await? {
        Deleted::NotFound => Err(Error::NotFound(format!("job {id}"))),
        Deleted::ActiveRuns(n) => Err(Error::Conflict {
            code: "active_runs",
            message: format!("job {id} has {n} active runs: cancel them first, or delete with ?cancel_runs=true"),
        }),
        Deleted::Done { cancelled, stopping } => {
            Ok(Json(DeletedView { id, cancelled_runs: cancelled, stopping_runs: stopping }))
        }
    }
}

/// A copy of a job under a new name (given, or derived from the job's).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/duplicate", params(("id" = i64, Path)),
    request_body(content = DuplicateBody, content_type = "application/json"), responses(
    (status = 201, body = JobView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "the name given is taken", body = ErrorBody)))]
pub async fn duplicate_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<(StatusCode, Json<JobView>)> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::View).await?;
    caller.require_namespace(&state, &job.spec.namespace, NamespacePermission::Create).await?;
    // A workflow's copy belongs to the caller, who could then schedule it: the caller needs `run`
    // on its steps' jobs, as for creating one (viewing a workflow is not running its steps).
    super::workflows::check_steps(&state, &caller, &job.spec).await?;
    let actor = caller.actor(None);
    let given = optional_json::<DuplicateBody>(req).await?.name;
    let names: Vec<String> = match given {
        Some(name) => {
            job_input::check_name(&name)?;
            vec![name]
        }
        None => (1..=100).map(|n| copy_name(&job.spec.name, n)).collect(),
    };
    // The copy belongs to the caller: it runs as the job's user only if the caller may act as
    // that user (the seed's user_id rule), otherwise as the caller.
    let run_as = match caller.acting_for(Some(&job.spec.run_as)) {
        Ok(user) => user.unwrap_or_else(|| job.spec.run_as.clone()),
        Err(_) => caller.subject.clone(),
    };
    for name in &names {
        let spec = JobSpec { name: name.clone(), run_as: run_as.clone(), ..job.spec.clone() };
        let definition = serde_json::json!({ "definition": job_input::recorded_definition(&spec), "copy_of": job.id });
        let created = state.store.job_create(&spec, &Input::Keep(job.input_blob_id), definition, &actor).await;
        match created {
            Ok(id) => return Ok((StatusCode::CREATED, Json(view(&state, id).await?))),
            Err(e) if is_name_taken(&e) && names.len() > 1 => continue,
            Err(e) if is_name_taken(&e) => return Err(name_taken(name, &spec.namespace)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict { code: "name_taken", message: format!("every copy name of {:?} is taken", job.spec.name) })
}

/// Starts a run of the job, with optional overrides of its priority, env and args. A workflow
/// job starts a workflow run (one run per step; the overrides of priority and env apply to every
/// step) and answers it ([`WorkflowRunView`]).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/runs", params(("id" = i64, Path)),
    request_body(content = StartBody, content_type = "application/json"), responses(
    (status = 201, description = "the run; for a workflow job, the workflow run", body = StartedView),
    (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "a streaming job already has an active run (the message names it), a workflow step's job was deleted since, or the job is an upload's one-off job (`one_off_job`)", body = ErrorBody)))]
pub async fn start_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<(StatusCode, Json<StartedView>)> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::Run).await?;
    refuse_one_off(&job, "started again")?;
    let body = optional_json::<StartBody>(req).await?;
    if job.spec.kind == JobKind::Workflow {
        let view = super::workflows::start(&state, &caller, &job, body).await?;
        return Ok((StatusCode::CREATED, Json(StartedView::Workflow(Box::new(view)))));
    }
    let env = body.env.unwrap_or_default();
    super::job_input::check_env_override(&env)?;
    // The same rules as the job's own fields.
    let check = JobBody { env: Some(env.clone()), args: body.args.clone(), ..JobBody::of(&job.spec) };
    check.into_spec(&state.config, &job.spec.run_as, FilesCheck::kept(&job))?;
    // With auth on, the run is started by the token's subject, or by the user a service account
    // names (the seed's user_id rule), with the service account as the actor of its events.
    let triggered_by = caller.acting_for(body.triggered_by.as_deref())?.unwrap_or_else(|| ACTOR_DEFAULT.into());
    let actor = (!caller.anonymous && triggered_by != caller.subject).then(|| caller.subject.clone());
    if triggered_by.len() > 255 || triggered_by.chars().any(char::is_control) {
        return Err(Error::bad_request("invalid_field", "triggered_by must be 1 to 255 printable characters"));
    }
    let p = StartParams {
        priority: body.priority,
        env,
        args: body.args,
        triggered_by,
        admission_off: !state.config.orchestrator.enabled,
        actor,
    };
    let run = match state.store.job_start_run(job.id, &p).await {
        Ok(run) => run.ok_or_else(|| Error::NotFound(format!("job {}", job.id)))?,
        // The database keeps one active run per streaming job (runs_streaming_active).
        Err(e) if is_constraint(&e, STREAMING_ACTIVE_CONSTRAINT) => {
            let active = state.store.job_active_streaming_run(job.id).await?;
            let which = active.map(|r| format!("run {r}")).unwrap_or_else(|| "a run".into());
            return Err(Error::Conflict {
                code: "already_active",
                message: format!(
                    "streaming job {} already has an active run: {which}; abort it first (POST /api/v1/runs/{{id}}/abort)",
                    job.id
                ),
            });
        }
        Err(e) => return Err(e.into()),
    };
    crate::metrics::run_submitted();
    let row = state.store.run_get(run).await?.ok_or_else(|| Error::NotFound(format!("run {run}")))?;
    let attempts = state.store.attempt_list(run).await?;
    let events = state.store.run_events(run).await?;
    Ok((StatusCode::CREATED, Json(StartedView::Run(Box::new(RunView::from_row(&row, &attempts, &events))))))
}

/// What a start created: a run, or (a workflow job) a workflow run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StartedView {
    /// The run of a batch job.
    Run(Box<RunView>),
    /// The workflow run of a workflow job.
    Workflow(Box<WorkflowRunView>),
}

/// The job's runs, newest first, with the filters of `GET /api/v1/runs`.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/runs", params(("id" = i64, Path),
    ("state" = Option<Vec<crate::domain::RunState>>, Query, description = "only these states (repeat the parameter)"),
    ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)"),
    ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = RunPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn job_runs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<RunPage>> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::View).await?;
    let pairs = Pairs::parse(raw.as_deref(), &lists::RUN_FILTERS)?;
    let filter = lists::run_filter(&pairs, Some(job.id))?;
    Ok(Json(lists::run_page(&state, &filter).await?))
}

/// The job's definition as the JSON `POST /api/v1/jobs` accepts (to copy it between
/// installations; a job with files needs them sent again, as a multipart form with these fields).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/template", params(("id" = i64, Path)), responses(
    (status = 200, body = JobBody), (status = 404, body = ErrorBody)))]
pub async fn job_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobBody>> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::View).await?;
    Ok(Json(JobBody::of(&job.spec)))
}

/// Every change of the job: who, when, what changed.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", params(("id" = i64, Path)), responses(
    (status = 200, body = Vec<JobEventView>), (status = 404, body = ErrorBody)))]
pub async fn job_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<JobEventView>>> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::View).await?;
    Ok(Json(state.store.job_events(job.id).await?.iter().map(JobEventView::from_row).collect()))
}

/// The query parameters of the job list.
const JOB_FILTERS: [&str; 11] =
    ["namespace", "kind", "priority", "flow", "service", "tag", "created_by", "q", "one_off", "limit", "cursor"];

/// Stored jobs: filters `namespace`, `kind`, `priority`, `flow`, `service`, `tag=key=value`
/// (repeatable), `created_by`, `one_off=true` (include the jobs uploads create); `q` finds a job from
/// part of its name, best first: the names equal to it, then those starting with it, then those
/// containing it elsewhere (case-insensitive, even one or two characters), or when none contains
/// it, the names with a part similar to it (a typo); newest first within each (`matched` says
/// which). Keyset pages.
#[utoipa::path(get, path = "/api/v1/jobs", params(
    ("namespace" = Option<String>, Query), ("kind" = Option<JobKind>, Query), ("priority" = Option<Priority>, Query),
    ("flow" = Option<Flow>, Query), ("service" = Option<String>, Query),
    ("tag" = Option<Vec<String>>, Query, description = "key=value (repeatable)"),
    ("created_by" = Option<String>, Query), ("q" = Option<String>, Query, description = "part of the name: exact names first, then prefixes, then substrings (else similar names)"),
    ("one_off" = Option<bool>, Query, description = "include the one-off jobs of uploads"),
    ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)"),
    ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = JobPage), (status = 400, description = "invalid filter", body = ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<JobPage>> {
    let pairs = Pairs::parse(raw.as_deref(), &JOB_FILTERS)?;
    let filter = JobFilter {
        namespace: pairs.one("namespace"),
        kind: pairs.parsed::<JobKind>("kind", "batch, streaming or workflow")?,
        priority: pairs.parsed::<Priority>("priority", "high or normal")?,
        flow: pairs.parsed::<Flow>("flow", "priority or legacy")?,
        service: pairs.one("service"),
        tags: pairs.tags()?,
        created_by: pairs.one("created_by"),
        q: pairs.one("q"),
        one_off: pairs.parsed::<bool>("one_off", "true or false")?.unwrap_or(false),
        limit: pairs.limit()?,
        after: pairs.one("cursor").map(|c| lists::job_cursor(&c)).transpose()?,
        viewer: caller.viewer(),
    };
    let rows = state.store.job_list(&filter).await?;
    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= filter.limit;
    let next_cursor =
        rows.last().filter(|_| full).map(|hit| lists::job_cursor_text(JobCursor { tier: hit.tier, id: hit.job.id }));
    let with_q = filter.q.as_deref().is_some_and(|q| !q.trim().is_empty());
    let jobs = rows
        .iter()
        .map(|hit| JobView {
            score: with_q.then_some(hit.score),
            matched: with_q.then(|| hit.tier.as_str().to_string()),
            ..JobView::from_row(&hit.job)
        })
        .collect();
    Ok(Json(JobPage { jobs, next_cursor }))
}

/// Creates a stored job from a checked spec and its files.
async fn create(state: &AppState, spec: &JobSpec, files: &[(String, Vec<u8>)], actor: &str) -> Result<JobId> {
    super::upload::check_namespace(state, &spec.namespace, &spec.request).await?;
    let input = match zip(files).await? {
        Some(z) => Input::Zip(z),
        None => Input::Keep(None),
    };
    let definition = serde_json::json!({ "definition": job_input::recorded_definition(spec) });
    match state.store.job_create(spec, &input, definition, actor).await {
        Ok(id) => Ok(id),
        Err(e) if is_name_taken(&e) => Err(name_taken(&spec.name, &spec.namespace)),
        Err(e) => Err(e.into()),
    }
}

/// A PUT (`patch` false) or PATCH of job `id`.
async fn update(
    state: &AppState,
    caller: &Caller,
    id: JobId,
    body: JobBody,
    files: Vec<(String, Vec<u8>)>,
    patch: bool,
) -> Result<Json<JobView>> {
    let job = find(state, id).await?;
    caller.require_job(state, &job, JobPermission::Update).await?;
    let actor = caller.actor(body.user.as_deref());
    // Naming another user than the job's is the seed's user_id rule again.
    if body.user.as_ref().is_some_and(|u| *u != job.spec.run_as) {
        caller.acting_for(body.user.as_deref())?;
    }
    let body = if patch { body.over(JobBody::of(&job.spec)) } else { body };
    let check = if files.is_empty() { FilesCheck::kept(&job) } else { FilesCheck::of(&files) };
    let spec = body.into_spec(&state.config, &job.spec.run_as, check)?;
    if spec.kind != job.spec.kind {
        // Its runs, its schedule and its one-active rule all depend on it.
        return Err(Error::bad_request(
            "invalid_field",
            format!("kind cannot change: job {id} is {}; create a new job instead", job.spec.kind),
        ));
    }
    super::workflows::check_steps(state, caller, &spec).await?;
    if spec.namespace != job.spec.namespace {
        caller.require_namespace(state, &spec.namespace, NamespacePermission::Create).await?;
    }
    super::upload::check_namespace(state, &spec.namespace, &spec.request).await?;
    let input = match zip(&files).await? {
        Some(z) => Input::Zip(z),
        None => Input::Keep(job.input_blob_id),
    };
    let changes = job_input::changes(&job.spec, &spec, !files.is_empty());
    match state.store.job_replace(id, job.updated_at, &spec, &input, changes, &actor).await {
        Ok(Some(_)) => Ok(Json(view(state, id).await?)),
        Ok(None) => Err(Error::Conflict {
            code: "changed_meanwhile",
            message: format!("job {id} changed while this request was applied (or was deleted); read it and try again"),
        }),
        Err(e) if is_name_taken(&e) => Err(name_taken(&spec.name, &spec.namespace)),
        Err(e) => Err(e.into()),
    }
}

/// Most bytes of a small JSON body (a start's overrides, a copy's name).
const SMALL_BODY_MAX: usize = 1024 * 1024;

/// A small JSON body that may be left out (its default then), with a 400 naming what is wrong.
async fn optional_json<T: serde::de::DeserializeOwned + Default>(req: Request) -> Result<T> {
    let bytes = axum::body::to_bytes(req.into_body(), SMALL_BODY_MAX)
        .await
        .map_err(|e| Error::bad_request("invalid_body", format!("the body cannot be read: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_request("invalid_body", format!("invalid JSON body: {e}")))
}

/// The files zipped (off the async threads), or `None` without files.
async fn zip(files: &[(String, Vec<u8>)]) -> Result<Option<Vec<u8>>> {
    if files.is_empty() {
        return Ok(None);
    }
    for (name, _) in files {
        if archive::safe_relative_path(name).is_none() {
            return Err(Error::bad_request(
                "invalid_file_name",
                format!(
                    "file name {name:?} is not allowed: it must be a relative path that stays inside the job folder"
                ),
            ));
        }
    }
    let files = files.to_vec();
    let zip = tokio::task::spawn_blocking(move || archive::zip_files(&files))
        .await
        .map_err(|e| Error::bad_request("bad_file", e.to_string()))?
        .map_err(|e| Error::bad_request("bad_file", e.to_string()))?;
    Ok(Some(zip))
}

/// The job `id` (not deleted), or a 404.
/// The 409 for using an upload's one-off job as a stored one (starting it again, scheduling it, a
/// workflow step): retention drops its files with its run, and the job itself once its runs are
/// gone, so it cannot be run again. A copy (`POST /api/v1/jobs/{id}/duplicate`) is a stored job.
pub(super) fn refuse_one_off(job: &JobRow, what: &str) -> Result<()> {
    if !job.one_off {
        return Ok(());
    }
    Err(Error::Conflict {
        code: "one_off_job",
        message: format!(
            "job {} is an upload's one-off job and cannot be {what}: retention drops its files with its run; \
             POST /api/v1/jobs/{}/duplicate makes a stored job of it",
            job.id, job.id
        ),
    })
}

pub(super) async fn find(state: &AppState, id: JobId) -> Result<JobRow> {
    state.store.job_get(id).await?.ok_or_else(|| Error::NotFound(format!("job {id}")))
}

async fn view(state: &AppState, id: JobId) -> Result<JobView> {
    let job = find(state, id).await?;
    let schedule = state.store.schedule_get(id).await?.map(|s| ScheduleSummary::from_row(&s, Utc::now()));
    Ok(JobView { schedule, ..JobView::from_row(&job) })
}

/// Parses a job id from a path segment, with a 404 for anything that cannot be one.
pub(super) fn parse_id(raw: &str) -> Result<JobId> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).map(JobId).ok_or_else(|| Error::NotFound(format!("job {raw}")))
}

/// The `n`th derived name of a copy: `name copy`, then `name copy 2`, ..., within the length
/// (parentheses are not name characters).
fn copy_name(name: &str, n: u32) -> String {
    let suffix = if n == 1 { " copy".to_string() } else { format!(" copy {n}") };
    let keep = job_input::NAME_MAX_CHARS.saturating_sub(suffix.chars().count());
    let base: String = name.chars().take(keep).collect();
    format!("{base}{suffix}")
}

fn is_name_taken(e: &crate::store::Error) -> bool {
    is_constraint(e, NAME_TAKEN_CONSTRAINT)
}

fn is_constraint(e: &crate::store::Error, name: &str) -> bool {
    matches!(e, crate::store::Error::Db(sqlx::Error::Database(d)) if d.constraint() == Some(name))
}

fn name_taken(name: &str, namespace: &str) -> Error {
    Error::Conflict {
        code: "name_taken",
        message: format!("a job named {name:?} already exists in namespace {namespace}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_names_are_valid_names_within_the_length() {
        assert_eq!(copy_name("etl", 1), "etl copy");
        assert_eq!(copy_name("etl", 3), "etl copy 3");
        let long = "x".repeat(255);
        for n in [1, 99] {
            let copy = copy_name(&long, n);
            assert!(job_input::check_name(&copy).is_ok(), "{copy}");
        }
    }
}
