//! The list routes' query strings (repeatable filters such as `tag=team=ml&tag=tier=web` and
//! `state=queued&state=running`), their keyset cursors, and `GET /api/v1/runs`.

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ErrorBody;
use super::runs::RunSummary;
use super::{AppState, Caller, Error, Result};
use crate::domain::{Priority, RunState};
use crate::store::lists::{JobCursor, Match, RunFilter};
use crate::store::{JobId, RunId};

/// Rows a page holds unless `limit` says otherwise.
pub const PAGE_DEFAULT: i64 = 50;

/// A query string as its `(name, value)` pairs, in order.
pub struct Pairs(Vec<(String, String)>);

impl Pairs {
    /// Parses `raw` (the part after `?`), refusing any name not in `known`.
    pub fn parse(raw: Option<&str>, known: &[&str]) -> Result<Self> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(Error::bad_request("invalid_query", "query parameters hold no NUL byte"));
        }
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(Error::bad_request(
                "invalid_query",
                format!("unknown query parameter {k:?}; known: {}", known.join(", ")),
            ));
        }
        Ok(Pairs(pairs))
    }

    /// The last value of `name`, if given and not empty.
    pub fn one(&self, name: &str) -> Option<String> {
        self.0.iter().rev().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone())
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone()).collect()
    }

    /// The last value of `name` parsed as `T`, with a 400 naming the parameter.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<Option<T>> {
        self.one(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| Error::bad_request("invalid_query", format!("{name} must be {what}, got {v:?}")))
            })
            .transpose()
    }

    /// `tag=key=value` filters.
    pub fn tags(&self) -> Result<Vec<(String, String)>> {
        self.all("tag")
            .into_iter()
            .map(|t| match t.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(Error::bad_request("invalid_query", format!("tag must be key=value, got {t:?}"))),
            })
            .collect()
    }

    /// `limit`, 1 to [`crate::store::lists::PAGE_MAX`].
    pub fn limit(&self) -> Result<i64> {
        let limit = self.parsed::<i64>("limit", "an integer")?.unwrap_or(PAGE_DEFAULT);
        if !(1..=crate::store::lists::PAGE_MAX).contains(&limit) {
            return Err(Error::bad_request(
                "invalid_query",
                format!("limit must be 1 to {}, got {limit}", crate::store::lists::PAGE_MAX),
            ));
        }
        Ok(limit)
    }
}

/// The job list's cursor as text: `<tier>:<id>`, the tier 0 (exact, and every job of a list
/// without `q`), 1 (prefix), 2 (substring) or 3 (similar): [`Match::rank`].
pub fn job_cursor_text(c: JobCursor) -> String {
    format!("{}:{}", c.tier.rank(), c.id)
}

/// Reads a job list cursor.
pub fn job_cursor(text: &str) -> Result<JobCursor> {
    let bad = || Error::bad_request("invalid_query", "cursor is not one this API returned (next_cursor)");
    let (tier, id) = text.split_once(':').ok_or_else(bad)?;
    let tier = tier.parse::<u8>().ok().and_then(Match::from_rank).ok_or_else(bad)?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    Ok(JobCursor { tier, id: JobId(id) })
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query parameters of the run list.
pub const RUN_FILTERS: [&str; 12] =
    ["job", "state", "user", "triggered_by", "namespace", "priority", "tag", "since", "until", "q", "limit", "cursor"];

/// The years a list's `since` and `until` may name.
pub const TIME_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The run list's filters from a query string; `job` is forced when the route names one.
pub fn run_filter(pairs: &Pairs, job: Option<JobId>) -> Result<RunFilter> {
    let states = pairs
        .all("state")
        .into_iter()
        .map(|s| s.parse::<RunState>().map_err(|e| Error::bad_request("invalid_query", format!("state: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let time = |name: &str| -> Result<Option<DateTime<Utc>>> {
        let t = pairs.parsed::<DateTime<Utc>>(name, "an RFC 3339 time such as 2026-11-29T12:00:00Z")?;
        // chrono reads any signed year; PostgreSQL refuses years before 4713 BC (a 500 if sent).
        match t {
            Some(t) if !(TIME_YEARS.contains(&chrono::Datelike::year(&t))) => Err(Error::bad_request(
                "invalid_query",
                format!("{name}: the year must be {} to {}", TIME_YEARS.start(), TIME_YEARS.end()),
            )),
            t => Ok(t),
        }
    };
    let job = match job {
        Some(j) => Some(j),
        None => pairs.parsed::<i64>("job", "a job id")?.map(JobId),
    };
    let before = pairs.parsed::<i64>("cursor", "a cursor this API returned (next_cursor)")?.map(RunId);
    Ok(RunFilter {
        job,
        states,
        user: pairs.one("user"),
        triggered_by: pairs.one("triggered_by"),
        namespace: pairs.one("namespace"),
        priority: pairs.parsed::<Priority>("priority", "high or normal")?,
        tags: pairs.tags()?,
        since: time("since")?,
        until: time("until")?,
        q: pairs.one("q"),
        limit: pairs.limit()?,
        before,
        viewer: None,
    })
}

/// One page of runs with the filters of `filter`.
pub async fn run_page(state: &AppState, filter: &RunFilter) -> Result<RunPage> {
    let rows = state.store.run_list(filter).await?;
    let next_cursor = (i64::try_from(rows.len()).unwrap_or(i64::MAX) >= filter.limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(RunPage { runs: rows.iter().map(RunSummary::from_row).collect(), next_cursor })
}

/// Runs, newest first: filters `job`, `state` (repeatable), `user`, `triggered_by`, `namespace`,
/// `priority`, `tag=key=value` (repeatable, the job's labels), `since` / `until` (enqueue time),
/// `q` (a run id or part of the job's name); keyset pages (`limit`, `cursor`). With auth on, only
/// the runs of jobs the caller may view.
#[utoipa::path(get, path = "/api/v1/runs", params(
    ("job" = Option<i64>, Query, description = "only runs of this job"),
    ("state" = Option<Vec<RunState>>, Query, description = "only these states (repeat the parameter)"),
    ("user" = Option<String>, Query, description = "only runs counted against this user"),
    ("triggered_by" = Option<String>, Query, description = "only runs started by this actor (upload, a user)"),
    ("namespace" = Option<String>, Query, description = "only this namespace"),
    ("priority" = Option<Priority>, Query, description = "only this priority"),
    ("tag" = Option<Vec<String>>, Query, description = "key=value: only runs whose job carries the label (repeatable)"),
    ("since" = Option<DateTime<Utc>>, Query, description = "enqueued at or after"),
    ("until" = Option<DateTime<Utc>>, Query, description = "enqueued before"),
    ("q" = Option<String>, Query, description = "a run id, or part of the job's name"),
    ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)"),
    ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = RunPage), (status = 400, description = "invalid filter", body = ErrorBody)))]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<RunPage>> {
    let pairs = Pairs::parse(raw.as_deref(), &RUN_FILTERS)?;
    let filter = RunFilter { viewer: caller.viewer(), ..run_filter(&pairs, None)? };
    Ok(Json(run_page(&state, &filter).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_filters_are_all_kept_and_unknown_ones_refused() {
        let pairs = Pairs::parse(Some("state=queued&state=running&tag=team%3Dml&q=etl+daily"), &RUN_FILTERS).unwrap();
        assert_eq!(pairs.all("state"), ["queued", "running"]);
        assert_eq!(pairs.tags().unwrap(), [("team".to_string(), "ml".to_string())]);
        assert_eq!(pairs.one("q").as_deref(), Some("etl daily"));
        assert!(Pairs::parse(Some("stat=queued"), &RUN_FILTERS).is_err());
        assert!(Pairs::parse(Some("q=a%00b"), &RUN_FILTERS).is_err(), "PostgreSQL text holds no NUL");
        assert!(Pairs::parse(Some("tag=nokey"), &RUN_FILTERS).unwrap().tags().is_err());
    }

    #[test]
    fn a_job_cursor_reads_back_as_written() {
        for (id, tier) in Match::ALL.into_iter().enumerate() {
            let c = JobCursor { tier, id: JobId(40 + id as i64) };
            assert_eq!(job_cursor(&job_cursor_text(c)).unwrap(), c);
        }
        assert_eq!(job_cursor_text(JobCursor { tier: Match::Prefix, id: JobId(7) }), "1:7");
        for bad in ["", "x:1", "0.5", "NaN:3", "0.5:7", "4:7", "-1:7", "0:y"] {
            assert!(job_cursor(bad).is_err(), "{bad}");
        }
    }
}
