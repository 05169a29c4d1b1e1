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
    /// Part of the name: ranked by trigram similarity; substrings (even of one or two characters)
    /// match too.
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

/// A position in the job list: the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobCursor {
    /// Similarity to `q` (0 without `q`).
    pub score: f32,
    /// Job id.
    pub id: JobId,
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
    /// One page of stored jobs (dynamic SQL): by similarity to `q` then newest first, or newest
    /// first without `q`.
    pub async fn job_list(&self, f: &JobFilter) -> Result<Vec<(JobRow, f32)>> {
        let mut q = job_list_query(f, "");
        let rows = q.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                Ok((job_from_row(r)?, r.try_get::<f32, _>("score")?))
            })
            .collect()
    }

    /// The plan PostgreSQL runs the job list with, as EXPLAIN (ANALYZE, FORMAT JSON) gives it:
    /// for operators (docs/operations.md) and the plan tests.
    pub async fn job_list_plan(&self, f: &JobFilter) -> Result<serde_json::Value> {
        let mut q = job_list_query(f, EXPLAIN);
        Ok(q.build_query_scalar().fetch_one(self.pool()).await?)
    }

    /// One page of runs, newest first (dynamic SQL).
    pub async fn run_list(&self, f: &RunFilter) -> Result<Vec<RunRow>> {
        let mut q = run_list_query(f, "");
        Ok(q.build_query_as::<RunRow>().fetch_all(self.pool()).await?)
    }

    /// The plan of the run list, as [`Store::job_list_plan`].
    pub async fn run_list_plan(&self, f: &RunFilter) -> Result<serde_json::Value> {
        let mut q = run_list_query(f, EXPLAIN);
        Ok(q.build_query_scalar().fetch_one(self.pool()).await?)
    }
}

/// What the plan functions put before a statement.
const EXPLAIN: &str = "explain (analyze, buffers, format json) ";

/// The job list statement, after `prefix`.
fn job_list_query(f: &JobFilter, prefix: &str) -> QueryBuilder<Postgres> {
    let mut b = QueryBuilder::new(prefix);
    b.push(
        "select j.id, j.name, j.description, j.kind, j.service, j.namespace, j.user_id, j.priority, j.flow, \
             j.cpu, j.memory, j.pods, j.storage, j.input_blob_id, coalesce(bl.size, 0) as input_bytes, \
             j.command, j.args, j.env, j.timeout_seconds, j.max_attempts, j.retry_backoff_seconds, \
             j.retry_backoff_max_seconds, j.tags, j.created_by, j.created_at, j.updated_at, j.one_off, j.restart, \
             j.steps, ",
    );
    let q = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    match q {
        Some(q) => b.push("similarity(j.name, ").push_bind(q.to_string()).push(") as score"),
        None => b.push("0::real as score"),
    };
    b.push(" from jobs j left join blobs bl on bl.id = j.input_blob_id where j.deleted_at is null");
    if !f.one_off {
        // Matches the partial indexes jobs_stored and jobs_stored_name.
        b.push(" and not j.one_off");
    }
    push_eq(&mut b, "j.namespace", f.namespace.clone());
    push_eq(&mut b, "j.kind", f.kind);
    push_eq(&mut b, "j.priority", f.priority);
    push_eq(&mut b, "j.flow", f.flow);
    push_eq(&mut b, "j.service", f.service.clone());
    push_eq(&mut b, "j.created_by", f.created_by.clone());
    push_viewer(&mut b, f.viewer.as_ref());
    if !f.tags.is_empty() {
        b.push(" and j.tags @> ").push_bind(tags_json(&f.tags));
    }
    if let Some(q) = q {
        // Two trigram index scans, one per condition: `%` ranks similar names, ILIKE finds
        // substrings too short (or too small a part of a long name) to be similar. Written as a
        // union rather than an OR, because PostgreSQL costs an OR of two trigram conditions above a
        // scan of every stored job until the table holds a few hundred thousand of them.
        let scope = if f.one_off { "deleted_at is null" } else { "not one_off and deleted_at is null" };
        b.push(" and j.id in (select id from jobs where ").push(scope).push(" and name % ").push_bind(q.to_string());
        b.push(" union select id from jobs where ").push(scope).push(" and name ilike ").push_bind(like_pattern(q));
        b.push(")");
    }
    match (q, f.after) {
        (Some(q), Some(after)) => {
            b.push(" and (similarity(j.name, ").push_bind(q.to_string()).push("), j.id) < (");
            b.push_bind(after.score).push(", ").push_bind(after.id).push(")");
        }
        (None, Some(after)) => {
            b.push(" and j.id < ").push_bind(after.id);
        }
        _ => {}
    }
    b.push(if q.is_some() { " order by score desc, j.id desc" } else { " order by j.id desc" });
    b.push(" limit ").push_bind(f.limit.clamp(1, PAGE_MAX));
    b
}

/// The run list statement, after `prefix`.
fn run_list_query(f: &RunFilter, prefix: &str) -> QueryBuilder<Postgres> {
    let mut b = QueryBuilder::new(prefix);
    b.push(include_str!("../../sql/runs/list_select.sql"));
    b.push(" where true");
    push_eq(&mut b, "r.job_id", f.job);
    if !f.states.is_empty() {
        b.push(" and r.state = any(").push_bind(f.states.clone()).push(")");
    }
    push_eq(&mut b, "r.user_id", f.user.clone());
    push_eq(&mut b, "r.triggered_by", f.triggered_by.clone());
    push_eq(&mut b, "r.namespace", f.namespace.clone());
    push_eq(&mut b, "r.priority", f.priority);
    push_viewer(&mut b, f.viewer.as_ref());
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
    b.push(" order by r.id desc limit ").push_bind(f.limit.clamp(1, PAGE_MAX));
    b
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
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_in_a_search_match_themselves() {
        assert_eq!(like_pattern("etl"), "%etl%");
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
