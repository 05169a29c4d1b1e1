//! The job list and the run list: optional filters, keyset pagination, a stable order.
//!
//! **Dynamic SQL** (the one exception STYLE allows): each statement is built with `QueryBuilder`
//! from the filters present, so PostgreSQL plans exactly the query asked and uses the index meant
//! for it, rather than one generic plan of `($1 is null or ...)` clauses. Every value is a bound
//! parameter; only fixed fragments are pushed as text. `tests/store_jobs.rs` checks the plans.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::grants::Viewer;
use super::jobs::{JobRow, job_from_row};
use super::runs::RunRow;
use super::{JobId, Result, RunId, Store};
use crate::domain::{Flow, JobKind, Priority, RunState};

/// Most rows one page returns.
pub const PAGE_MAX: i64 = 500;

/// Stored jobs a search or a label filter reads newest first before it asks an index for the rest
/// of its page (docs/jobs.md, "Search and list plans"): a common match fills its page within them,
/// a rare one is found through the index. The worst case, a match just too rare to fill a page
/// here, costs this many rows walked plus `limit / WINDOW` of the table fetched through the index.
pub const WINDOW: i64 = 2000;

/// Matches of the exact or the prefix tier a search reads through the name index
/// (`jobs_stored_name_lower`, migration 0022) before it walks the window instead: a tier with at most
/// this many matches (the usual case: stored names are unique in their namespace, and few start
/// with what a user types) is read whole in name order and sorted, in one statement.
pub const NAME_PROBE: i64 = 500;

/// The word similarity (`q <% name`) a name needs to be found as similar to `q`. pg_trgm's default
/// (0.6) misses a typo of a short word: `nigtly` scores 0.5 against `nightly etl`.
pub const WORD_SIMILARITY: f32 = 0.5;

/// Filters of the job list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only this flow.
    pub flow: Option<Flow>,
    /// Only this service.
    pub service: Option<String>,
    /// Only jobs carrying every one of these labels.
    pub tags: Vec<(String, String)>,
    /// Only jobs created by this user.
    pub created_by: Option<String>,
    /// Part of the name: the names equal to it, then those starting with it, then those containing
    /// it elsewhere (case-insensitive, even one or two characters), or when none contains it, the
    /// names with a part similar to it (a typo); newest first within each ([`Match`]).
    pub q: Option<String>,
    /// Include the one-off jobs uploads create.
    pub one_off: bool,
    /// Page size.
    pub limit: i64,
    /// Where the previous page ended.
    pub after: Option<JobCursor>,
    /// Only the jobs this caller may view (`None`: every job; admins and auth off).
    pub viewer: Option<Viewer>,
}

/// How a job matched the search `q`, best first: the tiers of the result. A page holds the names
/// equal to `q`, then those starting with it, then those containing it elsewhere, each tier newest
/// first (id descending); only when no name contains `q` are the similar names the result, newest
/// first: a typo finds what it meant, and a search that finds its text is not diluted by
/// look-alikes. Case-insensitive throughout (`lower`, `ilike`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Match {
    /// Its whole name is `q` (`lower(name) = lower(q)`); also every job of a list without `q`.
    Exact,
    /// Its name starts with `q` and is longer (`starts_with(lower(name), lower(q))`).
    Prefix,
    /// Its name contains `q` elsewhere (`name ilike '%q%'`, not starting with it).
    Substring,
    /// Its name does not contain `q` but has a part similar to it: pg_trgm's word similarity of
    /// `q` in the name is at least [`WORD_SIMILARITY`] (`q <% name`).
    Similar,
}

impl Match {
    /// Every tier, best first.
    pub const ALL: [Match; 4] = [Match::Exact, Match::Prefix, Match::Substring, Match::Similar];

    /// The number the cursor carries: 0 to 3, best first.
    pub fn rank(self) -> u8 {
        match self {
            Match::Exact => 0,
            Match::Prefix => 1,
            Match::Substring => 2,
            Match::Similar => 3,
        }
    }

    /// The match of a cursor's number.
    pub fn from_rank(rank: u8) -> Option<Self> {
        Match::ALL.into_iter().find(|m| m.rank() == rank)
    }

    /// Its name in the API (`matched`) and in the statements' names (`window prefix`).
    pub fn as_str(self) -> &'static str {
        match self {
            Match::Exact => "exact",
            Match::Prefix => "prefix",
            Match::Substring => "substring",
            Match::Similar => "similar",
        }
    }
}

/// A position in the job list: the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursor {
    /// How that row matched `q` (`Exact` without `q`: ignored there).
    pub tier: Match,
    /// Its id.
    pub id: JobId,
}

/// One row of the job list.
#[derive(Debug, Clone)]
pub struct JobHit {
    /// The job.
    pub job: JobRow,
    /// How it matched `q`.
    pub tier: Match,
    /// pg_trgm similarity of its whole name to `q` (0 without `q`): shown, not the order.
    pub score: f32,
}

/// The plan of one statement a list ran: what it was for, and `EXPLAIN (ANALYZE, BUFFERS, FORMAT
/// JSON)` of it.
#[derive(Debug, Clone)]
pub struct StatementPlan {
    /// `list`; with `q`, `exact` and `prefix` (the name index), then `window <tier>` and `rest
    /// <tier>` (`window prefix`, `rest substring`, ...); with labels alone, `window` and `rest`.
    pub what: String,
    /// The plan, as PostgreSQL gives it.
    pub plan: serde_json::Value,
}

/// Filters of the run list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs of this job.
    pub job: Option<JobId>,
    /// Only runs in one of these states (all when empty).
    pub states: Vec<RunState>,
    /// Only runs counted against this user.
    pub user: Option<String>,
    /// Only runs started by this actor (`upload`, a user, later `schedule`).
    pub triggered_by: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only runs whose job carries every one of these labels.
    pub tags: Vec<(String, String)>,
    /// Enqueued at or after.
    pub since: Option<DateTime<Utc>>,
    /// Enqueued before.
    pub until: Option<DateTime<Utc>>,
    /// A run id, or part of its job's name.
    pub q: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Runs older than this one (the last of the previous page).
    pub before: Option<RunId>,
    /// Only the runs this caller may view (`None`: every run; admins and auth off).
    pub viewer: Option<Viewer>,
}

impl Store {
    /// One page of stored jobs, newest first; with `q`, the jobs whose name is `q`, then those
    /// whose name starts with it, then contains it, or when none contains it, those with a similar
    /// part ([`Match`]), each tier newest first. The exact and prefix tiers are read through the
    /// name index when they are small ([`NAME_PROBE`]); otherwise a search or a label filter reads
    /// the newest [`WINDOW`] jobs first and asks an index only for what they did not fill.
    pub async fn job_list(&self, f: &JobFilter) -> Result<Vec<JobHit>> {
        self.job_list_traced(f, None).await
    }

    /// The plans PostgreSQL runs the job list with, one per statement the page needed: for
    /// operators (docs/operations.md), the bench (`--plans`) and the plan tests.
    pub async fn job_list_plan(&self, f: &JobFilter) -> Result<Vec<StatementPlan>> {
        let mut plans = Vec::new();
        self.job_list_traced(f, Some(&mut plans)).await?;
        Ok(plans)
    }

    /// One page of runs, newest first (dynamic SQL).
    pub async fn run_list(&self, f: &RunFilter) -> Result<Vec<RunRow>> {
        let mut q = run_list_query(f, "");
        Ok(q.build_query_as::<RunRow>().fetch_all(self.pool()).await?)
    }

    /// The plan of the run list, as EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) gives it.
    pub async fn run_list_plan(&self, f: &RunFilter) -> Result<serde_json::Value> {
        let mut q = run_list_query(f, EXPLAIN);
        Ok(q.build_query_scalar().fetch_one(self.pool()).await?)
    }

    async fn job_list_traced(&self, f: &JobFilter, mut trace: Option<&mut Vec<StatementPlan>>) -> Result<Vec<JobHit>> {
        let q = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let limit = f.limit.clamp(1, PAGE_MAX);
        let mut conn = self.pool().acquire().await?;
        if q.is_none() && f.tags.is_empty() {
            let rows = traced(&mut conn, &mut trace, ("list", true), |p| plain_job_list_query(f, limit, p)).await?;
            return rows.iter().map(|r| hit_from_row(r, Match::Exact)).collect();
        }
        // One read-only transaction: the similar tier's threshold is local to it.
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let tiers: &[Match] = if q.is_some() { &Match::ALL } else { &[Match::Exact] };
        let mut found: Vec<JobHit> = Vec::new();
        for &tier in tiers {
            let after = match f.after {
                // Similar names only when no name contains `q`: found empty on the first page.
                None if tier == Match::Similar && !found.is_empty() => break,
                None => None,
                Some(c) if q.is_none() => Some(c.id),
                Some(c) if c.tier > tier => continue,
                Some(c) if c.tier == tier => Some(c.id),
                // The cursor is in a better tier, so names contain `q`: no similar names.
                Some(_) if tier == Match::Similar => break,
                Some(_) => None,
            };
            let need = limit - found.len() as i64;
            if need <= 0 {
                break;
            }
            if tier == Match::Similar {
                // The threshold of `<%`, for this transaction only (`set_config(…, true)`): it
                // ends with the transaction, also when a statement below fails.
                sqlx::query(include_str!("../../sql/jobs/search_threshold.sql"))
                    .bind(WORD_SIMILARITY.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            let name = |step: &str| match q {
                None => step.to_string(),
                Some(_) => format!("{step} {}", tier.as_str()),
            };
            if q.is_some() && !f.one_off && matches!(tier, Match::Exact | Match::Prefix) {
                // The name index first: the whole tier when it is small, in one statement.
                let rows = traced(&mut tx, &mut trace, (tier.as_str(), true), |p| {
                    name_probe_query(f, q, tier, after, need, p)
                })
                .await?;
                let matches = match rows.first() {
                    Some(r) => sqlx::Row::try_get::<i64, _>(r, "matches")?,
                    None => 0,
                };
                if matches <= NAME_PROBE {
                    for r in &rows {
                        found.push(hit_from_row(r, tier)?);
                    }
                    continue;
                }
            }
            let rows =
                traced(&mut tx, &mut trace, (&name("window"), true), |p| window_query(f, q, tier, after, need, p))
                    .await?;
            let mut edge = None;
            for r in &rows {
                use sqlx::Row;
                if r.try_get::<bool, _>("hit")? {
                    found.push(hit_from_row(r, tier)?);
                }
                if r.try_get::<i64, _>("n")? == WINDOW {
                    edge = Some(r.try_get::<i64, _>("id")?);
                }
            }
            let need = limit - found.len() as i64;
            if let (true, Some(edge)) = (need > 0, edge) {
                let rows =
                    traced(&mut tx, &mut trace, (&name("rest"), false), |p| rest_query(f, q, tier, edge, need, p))
                        .await?;
                for r in &rows {
                    found.push(hit_from_row(r, tier)?);
                }
            }
        }
        tx.commit().await?;
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found)
    }
}

/// A job list row with its score.
fn hit_from_row(r: &sqlx::postgres::PgRow, tier: Match) -> Result<JobHit> {
    use sqlx::Row;
    Ok(JobHit { job: job_from_row(r)?, tier, score: r.try_get::<Option<f32>, _>("score")?.unwrap_or(0.0) })
}

/// What the plan functions put before a statement.
const EXPLAIN: &str = "explain (analyze, buffers, format json) ";

/// Runs the statement `build` makes (without prefix), after its `EXPLAIN ANALYZE` when tracing.
/// A statement whose plan depends on its values (`keep` false: the rest, between the trigram or
/// label index and a walk) is prepared unnamed, so PostgreSQL plans it for the values it has
/// rather than settle on a generic plan after a few runs; the others are kept prepared.
async fn traced<F>(
    conn: &mut sqlx::PgConnection,
    trace: &mut Option<&mut Vec<StatementPlan>>,
    (what, keep): (&str, bool),
    build: F,
) -> Result<Vec<sqlx::postgres::PgRow>>
where
    F: Fn(&str) -> QueryBuilder<Postgres>,
{
    if let Some(plans) = trace.as_deref_mut() {
        let mut b = build(EXPLAIN);
        let plan: serde_json::Value = b.build_query_scalar().persistent(false).fetch_one(&mut *conn).await?;
        plans.push(StatementPlan { what: what.to_string(), plan });
    }
    let mut b = build("");
    Ok(b.build().persistent(keep).fetch_all(&mut *conn).await?)
}

/// The columns of a job list row, without its score (the size of its files by a subquery, read for
/// the rows returned only).
const JOB_COLUMNS: &str = "select j.id, j.name, j.description, j.kind, j.service, j.namespace, j.user_id, j.priority, \
     j.flow, j.cpu, j.memory, j.pods, j.storage, j.input_blob_id, coalesce((select bl.size from blobs bl where bl.id = j.input_blob_id), 0) as input_bytes, j.command, \
     j.args, j.env, j.timeout_seconds, j.max_attempts, j.retry_backoff_seconds, j.retry_backoff_max_seconds, j.tags, \
     j.created_by, j.created_at, j.updated_at, j.one_off, j.restart, j.steps, ";

/// ` where <the filters that are not the search nor the labels>` on `jobs j`.
fn push_job_filters(b: &mut QueryBuilder<Postgres>, f: &JobFilter) {
    b.push(" where j.deleted_at is null");
    if !f.one_off {
        // Matches the partial indexes jobs_stored, jobs_stored_name_trgm and jobs_stored_tags.
        b.push(" and not j.one_off");
    }
    push_eq(b, "j.namespace", f.namespace.clone());
    push_eq(b, "j.kind", f.kind);
    push_eq(b, "j.priority", f.priority);
    push_eq(b, "j.flow", f.flow);
    push_eq(b, "j.service", f.service.clone());
    push_eq(b, "j.created_by", f.created_by.clone());
    push_viewer(b, f.viewer.as_ref());
}

/// The condition a row of `tier` meets: the labels, and how its name matches `q`. Each tier's
/// condition excludes the better tiers, so a name is in one tier only. Over stored jobs the exact
/// and prefix conditions are what `jobs_stored_name_lower` (migration 0022) reads: equality, and a
/// range of the lowered name in the "C" collation (every name starting with `p` lies in
/// `(p, p || U+10FFFF)` byte-wise; `starts_with` keeps the range exact); with the one-off jobs,
/// which that index does not hold, an anchored `ilike` that the trigram index over every name
/// (`jobs_name_trgm`) reads.
fn push_match(b: &mut QueryBuilder<Postgres>, f: &JobFilter, q: Option<&str>, tier: Match) {
    b.push("true");
    if !f.tags.is_empty() {
        b.push(" and j.tags @> ").push_bind(tags_json(&f.tags));
    }
    let Some(q) = q else { return };
    let lowered = "lower(j.name) collate \"C\"";
    match tier {
        Match::Exact => {
            b.push(" and ").push(lowered).push(" = lower(").push_bind(q.to_string()).push(")");
            if f.one_off {
                b.push(" and j.name ilike ").push_bind(escape_like(q));
            }
        }
        Match::Prefix => {
            b.push(" and ").push(lowered).push(" > lower(").push_bind(q.to_string()).push(")");
            b.push(" and ").push(lowered).push(" < lower(").push_bind(q.to_string()).push(") || chr(1114111)");
            b.push(" and starts_with(lower(j.name), lower(").push_bind(q.to_string()).push("))");
            if f.one_off {
                b.push(" and j.name ilike ").push_bind(format!("{}%", escape_like(q)));
            }
        }
        Match::Substring => {
            b.push(" and j.name ilike ").push_bind(like_pattern(q));
            b.push(" and not starts_with(lower(j.name), lower(").push_bind(q.to_string()).push("))");
        }
        Match::Similar => {
            b.push(" and ")
                .push_bind(q.to_string())
                .push(" <% j.name and j.name not ilike ")
                .push_bind(like_pattern(q));
        }
    }
}

/// A list without search or labels: the newest jobs after the cursor, through `jobs_stored`.
fn plain_job_list_query(f: &JobFilter, limit: i64, prefix: &str) -> QueryBuilder<Postgres> {
    let mut b = QueryBuilder::new(prefix);
    b.push(JOB_COLUMNS).push("0::real as score from jobs j");
    push_job_filters(&mut b, f);
    if let Some(after) = f.after {
        b.push(" and j.id < ").push_bind(after.id);
    }
    b.push(" order by j.id desc limit ").push_bind(limit);
    b
}

/// The newest [`WINDOW`] jobs after `after`, newest first, stopping at `need` matches: the rows
/// that match (`hit`, with every column), and the window's last row (`n` = `WINDOW`, the edge
/// where [`rest_query`] goes on) if it was reached.
fn window_query(
    f: &JobFilter,
    q: Option<&str>,
    tier: Match,
    after: Option<JobId>,
    need: i64,
    prefix: &str,
) -> QueryBuilder<Postgres> {
    let mut b = QueryBuilder::new(prefix);
    b.push(JOB_COLUMNS);
    push_score(&mut b, q, "case when w.hit then similarity(j.name, ", ") end as score, ");
    // The window carries ids only (a WindowAgg keeps the rows it reads); the rows returned are read
    // by id after the filter, one by one (`offset 0` keeps the lateral read a nested loop, so the
    // window's order, and its early stop, survive).
    b.push("w.hit, w.n from (select j.id, (");
    push_match(&mut b, f, q, tier);
    b.push(") as hit, row_number() over (order by j.id desc) as n from jobs j");
    push_job_filters(&mut b, f);
    if let Some(after) = after {
        b.push(" and j.id < ").push_bind(after);
    }
    b.push(" order by j.id desc limit ").push_bind(WINDOW);
    b.push(") w cross join lateral (select * from jobs j where j.id = w.id offset 0) j");
    b.push(" where w.hit or w.n = ").push_bind(WINDOW);
    b.push(" order by w.id desc limit ").push_bind(need);
    b
}

/// The exact or prefix tier through the name index (`jobs_stored_name_lower`): up to
/// [`NAME_PROBE`]` + 1` matches after `after`, in name order (the index's), of which the newest `need`
/// are returned, each with `matches`, how many were read. At most [`NAME_PROBE`]: they are the whole
/// tier, and the page is right; more: the tier is large, and the caller walks the window instead.
fn name_probe_query(
    f: &JobFilter,
    q: Option<&str>,
    tier: Match,
    after: Option<JobId>,
    need: i64,
    prefix: &str,
) -> QueryBuilder<Postgres> {
    let mut b = QueryBuilder::new(prefix);
    b.push("with m as materialized (select j.id from jobs j");
    push_job_filters(&mut b, f);
    b.push(" and ");
    push_match(&mut b, f, q, tier);
    if let Some(after) = after {
        b.push(" and j.id < ").push_bind(after);
    }
    b.push(" order by lower(j.name) collate \"C\", j.id limit ").push_bind(NAME_PROBE + 1);
    b.push("), top as (select id from m order by id desc limit ").push_bind(need);
    b.push(") ").push(JOB_COLUMNS);
    push_score(&mut b, q, "similarity(j.name, ", ") as score, ");
    b.push("(select count(*) from m) as matches from top join jobs j on j.id = top.id order by j.id desc");
    b
}

/// The newest `need` matches older than the window's `edge`, through the index the match has
/// (trigram or labels): every match is read, then the newest kept, so the statement costs what
/// the matches cost, and a match rare enough to get here has few (under `need` per window).
fn rest_query(
    f: &JobFilter,
    q: Option<&str>,
    tier: Match,
    edge: i64,
    need: i64,
    prefix: &str,
) -> QueryBuilder<Postgres> {
    let mut b = QueryBuilder::new(prefix);
    b.push("with m as materialized (select j.id from jobs j");
    push_job_filters(&mut b, f);
    b.push(" and ");
    push_match(&mut b, f, q, tier);
    b.push(" and j.id < ").push_bind(edge);
    b.push("), top as (select id from m order by id desc limit ").push_bind(need);
    b.push(") ").push(JOB_COLUMNS);
    push_score(&mut b, q, "similarity(j.name, ", ") as score");
    b.push(" from top join jobs j on j.id = top.id order by j.id desc");
    b
}

/// The score column: `before q after` with `q`, else 0.
fn push_score(b: &mut QueryBuilder<Postgres>, q: Option<&str>, before: &str, after: &str) {
    match q {
        Some(q) => b.push(before).push_bind(q.to_string()).push(after),
        None => b.push("0::real as score").push(if after.ends_with(", ") { ", " } else { "" }),
    };
}

/// The run list statement, after `prefix`. With `user`, the user's finished runs (and waiting
/// ones) come from `runs_user_done` newest first and their queued, admitted and running runs from
/// the claim path's partial indexes, merged: a user whose runs are all old is found at once.
fn run_list_query(f: &RunFilter, prefix: &str) -> QueryBuilder<Postgres> {
    let mut b = QueryBuilder::new(prefix);
    let limit = f.limit.clamp(1, PAGE_MAX);
    if f.user.is_none() {
        push_run_branch(&mut b, f, None);
        b.push(" order by r.id desc limit ").push_bind(limit);
        return b;
    }
    b.push("select * from ((");
    push_run_branch(&mut b, f, Some(UNFINISHED_NOT));
    b.push(" order by r.id desc limit ").push_bind(limit);
    b.push(") union all (");
    push_run_branch(&mut b, f, Some(UNFINISHED));
    b.push(" order by r.id desc limit ").push_bind(limit);
    b.push(")) runs order by id desc limit ").push_bind(limit);
    b
}

/// The runs in `runs_user_done` (migration 0019): every state but these three, and its guard, as
/// its predicate is written, so that PostgreSQL can prove the index covers the branch.
const UNFINISHED_NOT: &str = "r.state <> all ('{queued,admitted,running}') and r.user_id is not null";
/// The other runs, each state through the partial index the claim path keeps for it
/// (`runs_queued_namespace`, `runs_admitted`, `runs_running_worker`); the guards are the indexes'
/// predicates, always true of such runs (not null columns, check constraints).
const UNFINISHED: &str = "((r.state = 'queued' and r.namespace is not null) \
     or (r.state = 'admitted' and r.admitted_at is not null) \
     or (r.state = 'running' and r.worker_id is not null))";

/// One select of runs with every filter, and `part` (a state condition) when given.
fn push_run_branch(b: &mut QueryBuilder<Postgres>, f: &RunFilter, part: Option<&str>) {
    b.push(include_str!("../../sql/runs/list_select.sql"));
    b.push(" where true");
    if let Some(part) = part {
        b.push(" and ").push(part);
    }
    push_eq(b, "r.job_id", f.job);
    if !f.states.is_empty() {
        b.push(" and r.state = any(").push_bind(f.states.clone()).push(")");
    }
    push_eq(b, "r.user_id", f.user.clone());
    push_eq(b, "r.triggered_by", f.triggered_by.clone());
    push_eq(b, "r.namespace", f.namespace.clone());
    push_eq(b, "r.priority", f.priority);
    push_viewer(b, f.viewer.as_ref());
    if !f.tags.is_empty() {
        b.push(" and j.tags @> ").push_bind(tags_json(&f.tags));
    }
    if let Some(since) = f.since {
        b.push(" and r.enqueued_at >= ").push_bind(since);
    }
    if let Some(until) = f.until {
        b.push(" and r.enqueued_at < ").push_bind(until);
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        match q.parse::<i64>() {
            Ok(id) => b.push(" and (r.id = ").push_bind(id).push(" or j.name ilike ").push_bind(like_pattern(q)),
            Err(_) => b.push(" and (j.name ilike ").push_bind(like_pattern(q)),
        };
        b.push(")");
    }
    if let Some(before) = f.before {
        b.push(" and r.id < ").push_bind(before);
    }
}

/// `and <column> = $n` when `value` is set.
fn push_eq<T>(b: &mut QueryBuilder<Postgres>, column: &str, value: Option<T>)
where
    T: for<'t> sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>,
{
    if let Some(v) = value {
        b.push(" and ").push(column).push(" = ").push_bind(v);
    }
}

/// `and <the caller may view the job j>` when the list is for a caller who is not an admin (a run
/// is seen through its job: runs inherit their job's permissions).
fn push_viewer(b: &mut QueryBuilder<Postgres>, viewer: Option<&Viewer>) {
    if let Some(v) = viewer {
        b.push(" and berth_job_allows(j.id, j.namespace, j.created_by, ").push_bind(v.subject.clone());
        b.push(", ").push_bind(v.groups.clone()).push(", 'view')");
    }
}

/// The labels as one JSON object, for `tags @> $n`.
fn tags_json(tags: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(tags.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone()))).collect())
}

/// `%q%` with the LIKE wildcards in `q` escaped, so they match themselves.
pub fn like_pattern(q: &str) -> String {
    format!("%{}%", escape_like(q))
}

/// `q` with the LIKE wildcards escaped: a pattern matching `q` alone.
pub fn escape_like(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_in_a_search_match_themselves() {
        assert_eq!(like_pattern("etl"), "%etl%");
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(escape_like("a_b"), "a\\_b");
    }
}
