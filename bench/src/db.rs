//! The bench's own statements: progress, timings, server settings, and the destructive resets and
//! fills of a benchmark database. They live here, in `bench/sql/`, and not in the `berth` library,
//! so that no replica ships a `TRUNCATE`; they run on the library's pool ([`Store::pool`]).

use chrono::{DateTime, Utc};
use sqlx::Row;

use berth::store::{Result, RunId, Store};

/// One run's benchmark timings (database clock, milliseconds from enqueue).
#[derive(Debug, Clone)]
pub struct RunTiming {
    /// Run id.
    pub id: RunId,
    /// State name.
    pub state: String,
    /// Enqueue to the start of its last attempt.
    pub start_ms: Option<f64>,
    /// Enqueue to its end.
    pub finish_ms: Option<f64>,
}

/// The database clock and the end of a burn-down.
#[derive(Debug, Clone)]
pub struct BenchWindow {
    /// The database clock now.
    pub now: DateTime<Utc>,
    /// The last finish among the runs looked at.
    pub last_finish: Option<DateTime<Utc>>,
    /// How many of them succeeded.
    pub succeeded: i64,
}

/// Empties every table a benchmark writes (destructive).
pub async fn reset(store: &Store) -> Result<()> {
    sqlx::query(include_str!("../sql/reset.sql")).execute(store.pool()).await?;
    Ok(())
}

/// Turns the admitted runs of `namespace` into runs that ran and succeeded, with their attempts
/// and events (destructive); returns how many.
pub async fn finish_history(store: &Store, namespace: &str) -> Result<u64> {
    let runs: i64 =
        sqlx::query_scalar(include_str!("../sql/finish_history.sql")).bind(namespace).fetch_one(store.pool()).await?;
    Ok(u64::try_from(runs).unwrap_or(0))
}

/// Attempts lost to the infrastructure and retried, over every run in the table; and how many
/// runs lost any.
pub async fn lost_attempts(store: &Store) -> Result<(u64, u64)> {
    let row = sqlx::query(include_str!("../sql/lost_attempts.sql")).fetch_one(store.pool()).await?;
    let count = |name: &str| -> Result<u64> { Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0)) };
    Ok((count("attempts")?, count("runs")?))
}

/// VACUUM (ANALYZE) of the runs, attempts and events tables.
pub async fn vacuum(store: &Store) -> Result<()> {
    sqlx::raw_sql(include_str!("../sql/vacuum.sql")).execute(store.pool()).await?;
    Ok(())
}

/// The shape of the `lists` scenario's tables (`bench/sql/fill_jobs.sql`, `fill_runs.sql`).
#[derive(Debug, Clone)]
pub struct ListsFill {
    /// Jobs in all.
    pub jobs: i64,
    /// Of which stored definitions (the rest are one-off jobs of uploads).
    pub stored: i64,
    /// Finished runs: one per one-off job, the rest over the stored jobs.
    pub runs: i64,
    /// Users the jobs belong to (`user-0` ...), besides `departed`, whose runs are all old.
    pub users: i64,
    /// Namespaces the jobs are spread over (they must exist).
    pub namespaces: Vec<String>,
    /// Seed of the hashes that make every choice.
    pub seed: i64,
    /// The newest job is created, and the newest run enqueued, at this time.
    pub end: DateTime<Utc>,
    /// The history spans this many seconds before `end`.
    pub span_seconds: f64,
}

/// Inserts jobs `first` to `last` of `fill` (destructive: the ids are named, not drawn); returns how many.
pub async fn fill_jobs(store: &Store, fill: &ListsFill, first: i64, last: i64) -> Result<u64> {
    let done = sqlx::query(include_str!("../sql/fill_jobs.sql"))
        .bind(first)
        .bind(last)
        .bind(fill.jobs)
        .bind(fill.stored)
        .bind(fill.users)
        .bind(&fill.namespaces)
        .bind(fill.seed)
        .bind(fill.end)
        .bind(fill.span_seconds)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Inserts the finished runs of slice `slice` (1-based) of `slices` of `fill`, after its jobs; returns how many.
pub async fn fill_runs(store: &Store, fill: &ListsFill, slice: i64, slices: i64) -> Result<u64> {
    let done = sqlx::query(include_str!("../sql/fill_runs.sql"))
        .bind(slice)
        .bind(slices)
        .bind(fill.jobs)
        .bind(fill.stored)
        .bind(fill.runs)
        .bind(fill.end)
        .bind(fill.span_seconds)
        .bind(fill.seed)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Moves the job and run sequences past the ids the fill named.
pub async fn fill_sequences(store: &Store, jobs: i64, runs: i64) -> Result<()> {
    sqlx::query(include_str!("../sql/fill_sequences.sql"))
        .bind(jobs.max(1))
        .bind(runs.max(1))
        .execute(store.pool())
        .await?;
    Ok(())
}

/// VACUUM (ANALYZE) of the jobs and runs tables.
pub async fn vacuum_lists(store: &Store) -> Result<()> {
    sqlx::raw_sql(include_str!("../sql/vacuum_lists.sql")).execute(store.pool()).await?;
    Ok(())
}

/// A checkpoint (the `lists` scenario, between its fill and its probes): the fill's dirty pages
/// written back before the probes are timed.
pub async fn checkpoint(store: &Store) -> Result<()> {
    sqlx::raw_sql(include_str!("../sql/checkpoint.sql")).execute(store.pool()).await?;
    Ok(())
}

/// The name of job `id` (empty when there is none).
pub async fn job_name(store: &Store, id: i64) -> Result<String> {
    let name: Option<String> =
        sqlx::query_scalar(include_str!("../sql/job_name.sql")).bind(id).fetch_optional(store.pool()).await?;
    Ok(name.unwrap_or_default())
}

/// Whether any run exists (the bench refuses to wipe a database in use).
pub async fn any_runs(store: &Store) -> Result<bool> {
    Ok(sqlx::query_scalar(include_str!("../sql/any_runs.sql")).fetch_one(store.pool()).await?)
}

/// The server's version and speed-relevant settings as (name, value).
pub async fn settings(store: &Store) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(include_str!("../sql/settings.sql")).fetch_all(store.pool()).await?;
    rows.into_iter().map(|r| Ok((r.try_get("name")?, r.try_get("value")?))).collect()
}

/// Whether any run is not finished yet.
pub async fn pending(store: &Store) -> Result<bool> {
    Ok(sqlx::query_scalar(include_str!("../sql/pending.sql")).fetch_one(store.pool()).await?)
}

/// Runs from `from` on not finished yet.
pub async fn pending_from(store: &Store, from: RunId) -> Result<i64> {
    Ok(sqlx::query_scalar(include_str!("../sql/pending_from.sql")).bind(from).fetch_one(store.pool()).await?)
}

/// The database clock now, the last finish and the successes among runs from `from` on.
pub async fn window(store: &Store, from: RunId) -> Result<BenchWindow> {
    let r = sqlx::query(include_str!("../sql/window.sql")).bind(from).fetch_one(store.pool()).await?;
    Ok(BenchWindow {
        now: r.try_get("now")?,
        last_finish: r.try_get("last_finish")?,
        succeeded: r.try_get("succeeded")?,
    })
}

/// One user's succeeded runs and the seconds from the first one's start to the last one's finish.
pub async fn user_rate(store: &Store, user: &str) -> Result<(i64, Option<f64>)> {
    let r = sqlx::query(include_str!("../sql/user_rate.sql")).bind(user).fetch_one(store.pool()).await?;
    Ok((r.try_get("succeeded")?, r.try_get("seconds")?))
}

/// Timings of every run from `from` on, in id order.
pub async fn timings(store: &Store, from: RunId) -> Result<Vec<RunTiming>> {
    let rows = sqlx::query(include_str!("../sql/timings.sql")).bind(from).fetch_all(store.pool()).await?;
    rows.into_iter()
        .map(|r| {
            Ok(RunTiming {
                id: r.try_get("id")?,
                state: r.try_get("state")?,
                start_ms: r.try_get("start_ms")?,
                finish_ms: r.try_get("finish_ms")?,
            })
        })
        .collect()
}

/// Creates `n` stored jobs of `flow` with a schedule `cron` each, first due at `due`; returns how
/// many schedules (destructive fill, `schedules` scenario).
pub async fn schedules_fill(store: &Store, n: i64, due: DateTime<Utc>, cron: &str, flow: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(include_str!("../sql/schedules_fill.sql"))
        .bind(n)
        .bind(due)
        .bind(cron)
        .bind(flow)
        .fetch_one(store.pool())
        .await?)
}

/// Fire times decided so far.
pub async fn fires_decided(store: &Store) -> Result<i64> {
    Ok(sqlx::query_scalar(include_str!("../sql/fires_decided.sql")).fetch_one(store.pool()).await?)
}

/// Per started fire: (job, fire-to-enqueue milliseconds, runs it names).
pub async fn fire_lags(store: &Store) -> Result<Vec<(i64, Option<f64>, i64)>> {
    Ok(sqlx::query_as(include_str!("../sql/fire_lags.sql")).fetch_all(store.pool()).await?)
}

/// Runs started by schedules, and the most one job got.
pub async fn schedule_runs(store: &Store) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(include_str!("../sql/schedule_runs.sql")).fetch_one(store.pool()).await?)
}

/// Rows and bytes retention bounds.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Sizes {
    /// Rows in `runs`.
    pub runs: i64,
    /// Of which `cleaned`.
    pub cleaned: i64,
    /// Rows in `run_events`.
    pub events: i64,
    /// Rows in `blobs`.
    pub blobs: i64,
    /// Their bytes (content).
    pub blob_bytes: i64,
    /// `runs` on disk, with its indexes.
    pub runs_disk: i64,
    /// `run_events` and `attempts` on disk.
    pub history_disk: i64,
    /// `blobs` and `blob_chunks` on disk.
    pub blobs_disk: i64,
}

/// The sizes now.
pub async fn sizes(store: &Store) -> Result<Sizes> {
    Ok(sqlx::query_as(include_str!("../sql/sizes.sql")).fetch_one(store.pool()).await?)
}

/// (id, enqueue-to-start ms) of the started runs of `service` above `after`.
pub async fn started_since(store: &Store, after: RunId, service: &str) -> Result<Vec<(RunId, f64)>> {
    Ok(sqlx::query_as(include_str!("../sql/started_since.sql"))
        .bind(after)
        .bind(service)
        .fetch_all(store.pool())
        .await?)
}

/// Per step with parents of workflow run `wf`: (name, ms from its last parent's end to its start,
/// the workflow run's start-to-end ms).
pub async fn workflow_lags(store: &Store, wf: berth::store::WorkflowRunId) -> Result<Vec<(String, f64, Option<f64>)>> {
    Ok(sqlx::query_as(include_str!("../sql/workflow_lags.sql")).bind(wf).fetch_all(store.pool()).await?)
}
