//! `/api/v1/jobs/{id}/schedule`: the cron schedule of a batch job — set (`PUT`), change some
//! fields such as `paused` (`PATCH`), read with its next five fire times and its last fires
//! (`GET`), remove (`DELETE`). The leader fires it (`scheduler::schedules`; docs/schedules.md).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::jobs::{find, parse_id};
use super::{AppState, Caller, Error, Result};
use crate::auth::JobPermission;
use crate::domain::{ConcurrencyPolicy, FireOutcome, JobKind};
use crate::scheduler::cron::{self, CronSchedule};
use crate::store::jobs::JobRow;
use crate::store::schedules::{FireRow, ScheduleRow, ScheduleSpec};
use crate::store::{JobId, RunId};

/// Fire times shown ahead.
pub const NEXT_FIRES_SHOWN: usize = 5;
/// Decided fires shown back.
pub const LAST_FIRES_SHOWN: i64 = 20;
/// Longest cron expression.
pub const CRON_MAX_CHARS: usize = 255;
/// Most bytes of a schedule body.
const BODY_MAX_BYTES: usize = 64 * 1024;

/// A schedule as `PUT` sets it (all fields) or `PATCH` changes it (the fields sent).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// Five fields (`m h dom mon dow`), six with seconds first (`s m h dom mon dow`), or a name:
    /// `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`. Required by `PUT`.
    pub cron: Option<String>,
    /// IANA time zone the fire times are local to (default `UTC`).
    pub time_zone: Option<String>,
    /// `allow` (default), `forbid` (skip a fire while a run of the job is active) or `replace`
    /// (cancel the active runs, then start).
    #[schema(value_type = Option<ConcurrencyPolicy>)]
    pub concurrency_policy: Option<String>,
    /// A fire that cannot start within this many seconds of its time (berth was down) is
    /// recorded as missed instead (default: no limit). After downtime only the latest fire starts.
    pub starting_deadline_seconds: Option<i64>,
    /// No fires while paused; resuming fires from then on, never the paused period's times.
    pub paused: Option<bool>,
}

/// A schedule, as shown in its job.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleSummary {
    /// The cron expression.
    pub cron: String,
    /// Its time zone.
    pub time_zone: String,
    /// `allow`, `forbid` or `replace`.
    pub concurrency_policy: ConcurrencyPolicy,
    /// Seconds after its time a fire may still start; absent: no limit.
    pub starting_deadline_seconds: Option<i32>,
    /// No fires while paused.
    pub paused: bool,
    /// The next fire time (absent while paused).
    pub next_fire_at: Option<DateTime<Utc>>,
}

/// One decided fire time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FireView {
    /// The fire time.
    pub fire_at: DateTime<Utc>,
    /// `started`, `replaced` (the active runs were cancelled first), `skipped` (a run was active,
    /// policy `forbid`) or `missed` (passed while berth was down, past the deadline or older than
    /// a later fire).
    pub outcome: FireOutcome,
    /// The run it started.
    pub run_id: Option<RunId>,
    /// When the leader decided it.
    pub decided_at: DateTime<Utc>,
}

/// A schedule with its next fire times and its last fires.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    /// Its job.
    pub job_id: JobId,
    /// The cron expression.
    pub cron: String,
    /// Its time zone.
    pub time_zone: String,
    /// `allow`, `forbid` or `replace`.
    pub concurrency_policy: ConcurrencyPolicy,
    /// Seconds after its time a fire may still start; absent: no limit.
    pub starting_deadline_seconds: Option<i32>,
    /// No fires while paused.
    pub paused: bool,
    /// The next five fire times (none while paused).
    pub next_fires: Vec<DateTime<Utc>>,
    /// The latest decided fires, newest first (kept seven days).
    pub last_fires: Vec<FireView>,
    /// Set first.
    pub created_at: DateTime<Utc>,
    /// Last set.
    pub updated_at: DateTime<Utc>,
}

impl ScheduleSummary {
    /// The API's view of a stored schedule in its job, at `now`.
    pub fn from_row(row: &ScheduleRow, now: DateTime<Utc>) -> Self {
        let s = &row.spec;
        ScheduleSummary {
            cron: s.cron.clone(),
            time_zone: s.time_zone.clone(),
            concurrency_policy: s.policy,
            starting_deadline_seconds: s.starting_deadline_seconds,
            paused: s.paused,
            next_fire_at: next_fires(row, now, 1).first().copied(),
        }
    }
}

impl ScheduleView {
    /// The API's view of a stored schedule and its fires, at `now`.
    pub fn from_row(row: &ScheduleRow, fires: &[FireRow], now: DateTime<Utc>) -> Self {
        let s = &row.spec;
        ScheduleView {
            job_id: row.job_id,
            cron: s.cron.clone(),
            time_zone: s.time_zone.clone(),
            concurrency_policy: s.policy,
            starting_deadline_seconds: s.starting_deadline_seconds,
            paused: s.paused,
            next_fires: next_fires(row, now, NEXT_FIRES_SHOWN),
            last_fires: fires
                .iter()
                .map(|f| FireView {
                    fire_at: f.fire_at,
                    outcome: f.outcome,
                    run_id: f.run_id,
                    decided_at: f.decided_at,
                })
                .collect(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The next `n` fire times of a schedule that is not paused: after the later of its decided
/// instant and `now`.
fn next_fires(row: &ScheduleRow, now: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    if row.spec.paused {
        return Vec::new();
    }
    CronSchedule::parse(&row.spec.cron, &row.spec.time_zone)
        .map(|c| c.upcoming(row.after_at.max(now), n))
        .unwrap_or_default()
}

/// The job's schedule, with its next five fire times and its last fires.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/schedule", params(("id" = i64, Path)), responses(
    (status = 200, body = ScheduleView),
    (status = 404, description = "no such job, or it has no schedule", body = ErrorBody)))]
pub async fn get_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::View).await?;
    Ok(Json(view(&state, job.id).await?))
}

/// Sets the schedule of a batch job (creates or replaces it). The new expression applies from now
/// on: no fire time before this request is decided by it.
#[utoipa::path(put, path = "/api/v1/jobs/{id}/schedule", params(("id" = i64, Path)),
    request_body(content = ScheduleBody, content_type = "application/json"),
    responses((status = 200, body = ScheduleView),
    (status = 400, description = "a field breaks its rule, or the job is not a batch job (the message names it)", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "the job is an upload's one-off job (`one_off_job`)", body = ErrorBody)))]
pub async fn put_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<ScheduleView>> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::Update).await?;
    super::jobs::refuse_one_off(&job, "scheduled")?;
    let body: ScheduleBody = read_body(req).await?;
    let spec = body.into_spec(None)?;
    require_steps_unless_paused(&state, &caller, &job, &spec).await?;
    set(&state, job.id, job.spec.kind, &spec, &caller).await
}

/// Changes some fields of the job's schedule (those the body sets): `{"paused": true}` pauses it,
/// `{"paused": false}` resumes it.
#[utoipa::path(patch, path = "/api/v1/jobs/{id}/schedule", params(("id" = i64, Path)),
    request_body(content = ScheduleBody, content_type = "application/json"),
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody),
    (status = 404, description = "no such job, or it has no schedule", body = ErrorBody),
    (status = 409, description = "the job is an upload's one-off job (`one_off_job`)", body = ErrorBody)))]
pub async fn patch_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<ScheduleView>> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::Update).await?;
    super::jobs::refuse_one_off(&job, "scheduled")?;
    let current = state.store.schedule_get(job.id).await?.ok_or_else(|| no_schedule(job.id))?;
    let body: ScheduleBody = read_body(req).await?;
    let spec = body.into_spec(Some(&current.spec))?;
    require_steps_unless_paused(&state, &caller, &job, &spec).await?;
    set(&state, job.id, job.spec.kind, &spec, &caller).await
}

/// Removes the job's schedule: no more fires. Runs it started are untouched.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}/schedule", params(("id" = i64, Path)), responses(
    (status = 204, description = "removed"),
    (status = 404, description = "no such job, or it has no schedule", body = ErrorBody)))]
pub async fn delete_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let job = find(&state, parse_id(&id)?).await?;
    caller.require_job(&state, &job, JobPermission::Update).await?;
    if !state.store.schedule_delete(job.id, &caller.actor(None)).await? {
        return Err(no_schedule(job.id));
    }
    Ok(StatusCode::NO_CONTENT)
}

impl ScheduleBody {
    /// The checked schedule: the body's fields over `current` (a `PATCH`), else over the defaults.
    pub fn into_spec(self, current: Option<&ScheduleSpec>) -> Result<ScheduleSpec> {
        let cron = self
            .cron
            .or_else(|| current.map(|c| c.cron.clone()))
            .ok_or_else(|| Error::bad_request("missing_field", "cron is required (for example \"0 3 * * *\")"))?;
        if cron.chars().count() > CRON_MAX_CHARS {
            return Err(Error::bad_request(
                "invalid_field",
                format!("cron is longer than {CRON_MAX_CHARS} characters"),
            ));
        }
        let time_zone = self
            .time_zone
            .or_else(|| current.map(|c| c.time_zone.clone()))
            .unwrap_or_else(|| cron::TIME_ZONE_DEFAULT.to_string());
        CronSchedule::parse(&cron, &time_zone).map_err(|e| Error::bad_request("invalid_field", e.to_string()))?;
        let policy = match self.concurrency_policy {
            Some(p) => p.parse::<ConcurrencyPolicy>().map_err(|_| {
                Error::bad_request(
                    "invalid_field",
                    format!("concurrency_policy {p:?} is not one of allow, forbid, replace"),
                )
            })?,
            None => current.map_or(ConcurrencyPolicy::Allow, |c| c.policy),
        };
        let starting_deadline_seconds = match self.starting_deadline_seconds {
            Some(d) => Some(i32::try_from(d).ok().filter(|d| *d > 0).ok_or_else(|| {
                Error::bad_request(
                    "invalid_field",
                    format!("starting_deadline_seconds must be 1 to {} (or left out: no limit), not {d}", i32::MAX),
                )
            })?),
            // A PATCH keeps it; a PUT without it means no limit.
            None => current.and_then(|c| c.starting_deadline_seconds),
        };
        let paused = self.paused.or(current.map(|c| c.paused)).unwrap_or(false);
        Ok(ScheduleSpec { cron, time_zone, policy, starting_deadline_seconds, paused })
    }
}

/// A schedule that fires a workflow starts its steps' jobs: setting or resuming one needs `run` on
/// each of them, as starting the workflow by hand does (owning a workflow whose steps are others'
/// jobs is no leave to run them every minute). Pausing needs only `update` on the job.
async fn require_steps_unless_paused(
    state: &AppState,
    caller: &Caller,
    job: &JobRow,
    spec: &ScheduleSpec,
) -> Result<()> {
    if spec.paused {
        return Ok(());
    }
    super::workflows::check_steps(state, caller, &job.spec).await
}

/// Stores a checked schedule for a job of `kind`, set by `caller`, and answers its view.
async fn set(
    state: &AppState,
    job: JobId,
    kind: JobKind,
    spec: &ScheduleSpec,
    caller: &Caller,
) -> Result<Json<ScheduleView>> {
    if !matches!(kind, JobKind::Batch | JobKind::Workflow) {
        return Err(Error::bad_request(
            "invalid_job_kind",
            format!("job {job} has kind {kind}: only batch and workflow jobs take a schedule"),
        ));
    }
    // The setter, for a workflow's fires to be checked against: not an admin's (or auth off).
    let setter = caller.viewer();
    state
        .store
        .schedule_put(job, spec, &caller.actor(None), setter.as_ref())
        .await?
        .ok_or_else(|| Error::NotFound(format!("job {job}")))?;
    Ok(Json(view(state, job).await?))
}

async fn view(state: &AppState, job: JobId) -> Result<ScheduleView> {
    let row = state.store.schedule_get(job).await?.ok_or_else(|| no_schedule(job))?;
    let fires = state.store.schedule_fires(job, LAST_FIRES_SHOWN).await?;
    Ok(ScheduleView::from_row(&row, &fires, Utc::now()))
}

fn no_schedule(job: JobId) -> Error {
    Error::NotFound(format!("schedule of job {job}"))
}

/// The JSON body, with a 400 naming what is wrong.
async fn read_body(req: Request) -> Result<ScheduleBody> {
    let bytes = axum::body::to_bytes(req.into_body(), BODY_MAX_BYTES)
        .await
        .map_err(|e| Error::bad_request("invalid_body", format!("the body cannot be read: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_request("invalid_body", format!("invalid JSON body: {e}")))
}
