//! Cron schedules of batch jobs: set, read, remove, their fire records, and the leader's fenced
//! reads and writes of due schedules (one statement per batch each way).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::admission::LeaderTx;
use super::grants::Viewer;
use super::notify::{self, notify};
use super::{JobId, Result, RunId, Store};
use crate::domain::{ConcurrencyPolicy, FireOutcome};

/// A schedule as a client sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// The cron expression (checked by `scheduler::cron::CronSchedule::parse`).
    pub cron: String,
    /// IANA time zone name.
    pub time_zone: String,
    /// What a fire does while a run of the job is active.
    pub policy: ConcurrencyPolicy,
    /// A fire started later than this after its time is missed instead; `None`: no limit.
    pub starting_deadline_seconds: Option<i32>,
    /// No fires while paused.
    pub paused: bool,
}

/// A stored schedule.
#[derive(Debug, Clone)]
pub struct ScheduleRow {
    /// Its job.
    pub job_id: JobId,
    /// What the client set.
    pub spec: ScheduleSpec,
    /// Every fire time up to this instant is decided.
    pub after_at: DateTime<Utc>,
    /// When the leader looks at it next.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// Set first.
    pub created_at: DateTime<Utc>,
    /// Last set.
    pub updated_at: DateTime<Utc>,
}

/// One decided fire time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireRow {
    /// The fire time.
    pub fire_at: DateTime<Utc>,
    /// What became of it.
    pub outcome: FireOutcome,
    /// The run it started.
    pub run_id: Option<RunId>,
    /// When the leader decided it.
    pub decided_at: DateTime<Utc>,
}

/// A due schedule, as the leader reads it to decide.
#[derive(Debug, Clone)]
pub struct DueSchedule {
    /// Its job.
    pub job_id: JobId,
    /// The expression.
    pub cron: String,
    /// Its zone.
    pub time_zone: String,
    /// Its starting deadline.
    pub starting_deadline_seconds: Option<i32>,
    /// Every fire time up to this instant is decided.
    pub after_at: DateTime<Utc>,
}

/// The leader's decision for one due schedule, to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireDecision {
    /// The schedule.
    pub job_id: JobId,
    /// The `after_at` the decision was made from (the commit skips a schedule that moved since).
    pub seen_after: DateTime<Utc>,
    /// Its new `after_at`.
    pub after: DateTime<Utc>,
    /// When to look again (`None`: never).
    pub next: Option<DateTime<Utc>>,
    /// The fire time to start now, subject to the concurrency policy.
    pub start: Option<DateTime<Utc>>,
    /// Fire times to record as missed.
    pub missed: Vec<DateTime<Utc>>,
}

/// The earliest future fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextFire {
    /// The instant (the database's clock).
    pub at: DateTime<Utc>,
    /// How long from now until it.
    pub within: std::time::Duration,
    /// How many schedules are due at that instant.
    pub due: i64,
}

/// What a batch's commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// Fires that started a run.
    pub started: u64,
    /// Fires that cancelled the active runs and started one.
    pub replaced: u64,
    /// Fires skipped because a run was active (`forbid`).
    pub skipped: u64,
    /// Workflow fires refused: the schedule's setter no longer holds `run` on every step's job.
    pub refused: u64,
    /// Fire times recorded as missed.
    pub missed: u64,
    /// Schedules advanced.
    pub advanced: u64,
}

impl Store {
    /// Sets the schedule of batch or workflow job `job` (creates or replaces it) and wakes the
    /// leader; `None` when the job does not exist, is deleted or is neither. `setter`: who set it
    /// (`None`: an admin, or auth off); each fire of a workflow's schedule starts nothing unless
    /// the setter still holds `run` on every step's job ([`FireOutcome::Refused`]).
    pub async fn schedule_put(
        &self,
        job: JobId,
        spec: &ScheduleSpec,
        actor: &str,
        setter: Option<&Viewer>,
    ) -> Result<Option<ScheduleRow>> {
        let row = sqlx::query(include_str!("../../sql/schedules/put.sql"))
            .bind(job)
            .bind(&spec.cron)
            .bind(&spec.time_zone)
            .bind(spec.policy)
            .bind(spec.starting_deadline_seconds)
            .bind(spec.paused)
            .bind(actor)
            .bind(None::<DateTime<Utc>>)
            .bind(setter.map(|v| v.subject.as_str()))
            .bind(setter.map(|v| v.groups.as_slice()))
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// The schedule of `job`, if it has one.
    pub async fn schedule_get(&self, job: JobId) -> Result<Option<ScheduleRow>> {
        let row =
            sqlx::query(include_str!("../../sql/schedules/get.sql")).bind(job).fetch_optional(self.pool()).await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// Removes the schedule of `job`; `false` when it had none.
    pub async fn schedule_delete(&self, job: JobId, actor: &str) -> Result<bool> {
        let mut conn = self.pool().acquire().await?;
        schedule_delete(&mut conn, job, actor).await
    }

    /// The earliest future fire time of any unpaused schedule (`now`: `None` for the database's
    /// clock), or `None` when no schedule will fire.
    pub async fn schedule_next_fire(&self, now: Option<DateTime<Utc>>) -> Result<Option<NextFire>> {
        let row = sqlx::query(include_str!("../../sql/schedules/next_fire_in.sql"))
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let seconds: f64 = r.try_get("seconds")?;
            Ok(NextFire {
                at: r.try_get("at")?,
                within: std::time::Duration::from_secs_f64(seconds.max(0.0)),
                due: r.try_get("due")?,
            })
        })
        .transpose()
    }

    /// The latest `limit` fires of `job`, newest first.
    pub async fn schedule_fires(&self, job: JobId, limit: i64) -> Result<Vec<FireRow>> {
        let rows = sqlx::query(include_str!("../../sql/schedules/fires.sql"))
            .bind(job)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FireRow {
                    fire_at: r.try_get("fire_at")?,
                    outcome: r.try_get("outcome")?,
                    run_id: r.try_get("run_id")?,
                    decided_at: r.try_get("decided_at")?,
                })
            })
            .collect()
    }
}

/// Removes the schedule of `job` on `conn` (the job delete calls it in its transaction).
pub(super) async fn schedule_delete(conn: &mut PgConnection, job: JobId, actor: &str) -> Result<bool> {
    let gone: i64 = sqlx::query_scalar(include_str!("../../sql/schedules/delete.sql"))
        .bind(job)
        .bind(actor)
        .bind(None::<DateTime<Utc>>)
        .fetch_one(conn)
        .await?;
    Ok(gone > 0)
}

impl LeaderTx {
    /// Up to `limit` due schedules, locked until commit, and the instant (`now`, else the
    /// database's clock) their decisions use. `ahead`: only those whose fire may be prepared
    /// before its time (policy `allow` of a batch job), `now` being that time.
    pub async fn schedule_due(
        &mut self,
        now: Option<DateTime<Utc>>,
        limit: i64,
        ahead: bool,
    ) -> Result<(Vec<DueSchedule>, Option<DateTime<Utc>>)> {
        let rows = sqlx::query(include_str!("../../sql/schedules/due.sql"))
            .bind(now)
            .bind(limit)
            .bind(ahead)
            .fetch_all(&mut *self.tx)
            .await?;
        let at = rows.first().map(|r| r.try_get("now")).transpose()?;
        let due = rows
            .iter()
            .map(|r| {
                Ok(DueSchedule {
                    job_id: r.try_get("job_id")?,
                    cron: r.try_get("cron")?,
                    time_zone: r.try_get("time_zone")?,
                    starting_deadline_seconds: r.try_get("starting_deadline_seconds")?,
                    after_at: r.try_get("after_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((due, at))
    }

    /// Commits a batch of decisions in one statement (schedules/fire_batch.sql) and notifies the
    /// admission, the workers or the cancel listeners as the runs it wrote need.
    pub async fn schedule_fire(
        &mut self,
        decisions: &[FireDecision],
        now: Option<DateTime<Utc>>,
        admission_off: bool,
    ) -> Result<Fired> {
        let jobs: Vec<JobId> = decisions.iter().map(|d| d.job_id).collect();
        let seen: Vec<DateTime<Utc>> = decisions.iter().map(|d| d.seen_after).collect();
        let after: Vec<DateTime<Utc>> = decisions.iter().map(|d| d.after).collect();
        let next: Vec<Option<DateTime<Utc>>> = decisions.iter().map(|d| d.next).collect();
        let start: Vec<Option<DateTime<Utc>>> = decisions.iter().map(|d| d.start).collect();
        let (missed_jobs, missed_at): (Vec<JobId>, Vec<DateTime<Utc>>) =
            decisions.iter().flat_map(|d| d.missed.iter().map(move |at| (d.job_id, *at))).unzip();
        let row = sqlx::query(include_str!("../../sql/schedules/fire_batch.sql"))
            .bind(&jobs)
            .bind(&seen)
            .bind(&after)
            .bind(&next)
            .bind(&start)
            .bind(&missed_jobs)
            .bind(&missed_at)
            .bind(now)
            .bind(admission_off)
            .fetch_one(&mut *self.tx)
            .await?;
        let count = |name: &str| -> Result<u64> { Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0)) };
        if count("queued")? > 0 {
            notify(&mut self.tx, notify::QUEUED).await?;
        }
        if count("admitted")? > 0 {
            notify(&mut self.tx, notify::ADMITTED).await?;
        }
        if count("cancelled")? > 0 {
            notify(&mut self.tx, notify::FINISHED).await?;
        }
        if count("stopping")? > 0 {
            notify(&mut self.tx, notify::CANCEL).await?;
        }
        let replaced: Vec<JobId> = row.try_get("workflows_replaced")?;
        let workflows: Vec<JobId> = row.try_get("workflows")?;
        let fire_at: Vec<DateTime<Utc>> = row.try_get("workflows_fire_at")?;
        let starts: Vec<(JobId, DateTime<Utc>)> = workflows.into_iter().zip(fire_at).collect();
        let refused = super::workflows::fire(&mut self.tx, &replaced, &starts, admission_off).await?;
        let refused_replaced = refused.iter().filter(|j| replaced.contains(j)).count() as u64;
        let refused_started = refused.len() as u64 - refused_replaced;
        Ok(Fired {
            started: count("started")?.saturating_sub(refused_started),
            replaced: count("replaced")?.saturating_sub(refused_replaced),
            skipped: count("skipped")?,
            refused: refused.len() as u64,
            missed: count("missed")?,
            advanced: count("advanced")?,
        })
    }

    /// Waits until the database's clock reaches `at` (at once when it has) and returns that clock:
    /// fires prepared ahead of `at` commit after this, never before their time.
    pub async fn schedule_wait_until(&mut self, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let now: DateTime<Utc> = sqlx::query_scalar(include_str!("../../sql/schedules/wait_until.sql"))
            .bind(at)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(now)
    }

    /// Forgets at most `limit` fire records of fire times more than `kept_seconds` before `now`
    /// (`None`: the database's clock); returns how many.
    pub async fn schedule_prune_fires(
        &mut self,
        now: Option<DateTime<Utc>>,
        kept_seconds: f64,
        limit: i64,
    ) -> Result<u64> {
        let gone: i64 = sqlx::query_scalar(include_str!("../../sql/schedules/prune_fires.sql"))
            .bind(now)
            .bind(kept_seconds)
            .bind(limit)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(u64::try_from(gone).unwrap_or(0))
    }
}

fn schedule_from_row(r: &sqlx::postgres::PgRow) -> Result<ScheduleRow> {
    Ok(ScheduleRow {
        job_id: r.try_get("job_id")?,
        spec: ScheduleSpec {
            cron: r.try_get("cron")?,
            time_zone: r.try_get("time_zone")?,
            policy: r.try_get("policy")?,
            starting_deadline_seconds: r.try_get("starting_deadline_seconds")?,
            paused: r.try_get("paused")?,
        },
        after_at: r.try_get("after_at")?,
        next_fire_at: r.try_get("next_fire_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}
