//! `/api/v1/overview`: what the console's overview shows — queue depth per namespace and priority,
//! admissions and finishes per minute, workers alive.

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

use super::error::ErrorBody;
use super::lists::Pairs;
use super::{AppState, Error, Result};
use crate::domain::Priority;
use crate::store::activity::{DepthRow, MinuteRow};

/// Minutes of activity shown unless `minutes` says otherwise.
pub const OVERVIEW_MINUTES_DEFAULT: i64 = 15;
/// The most minutes one request may ask for.
pub const OVERVIEW_MINUTES_MAX: i64 = 120;

/// Queued runs of one queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DepthView {
    /// Namespace.
    pub namespace: String,
    /// Priority.
    pub priority: Priority,
    /// Queued runs.
    pub queued: i64,
}

/// Admissions and finishes in one minute.
#[derive(Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MinuteView {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    /// Runs admitted in it.
    pub admitted: i64,
    /// Runs that finished in it (any terminal state).
    pub finished: i64,
}

/// The overview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OverviewView {
    /// Queued runs per namespace and priority (queues with none are left out).
    pub queue: Vec<DepthView>,
    /// Admissions and finishes per minute, oldest first, every minute of the window (the current
    /// one last, still counting).
    pub per_minute: Vec<MinuteView>,
    /// Workers whose heartbeat is within the lease and that have not stopped.
    pub workers_alive: i64,
    /// Registered workers, alive or not.
    pub workers: i64,
}

impl DepthView {
    /// The API's view of a stored queue depth.
    pub fn from_row(row: &DepthRow) -> Self {
        DepthView { namespace: row.namespace.clone(), priority: row.priority, queued: row.queued }
    }
}

/// Queue depth, activity per minute (`minutes`, default 15, at most 120) and live workers.
#[utoipa::path(get, path = "/api/v1/overview", params(
    ("minutes" = Option<i64>, Query, minimum = 1, maximum = 120, description = "minutes of activity (default 15)")),
    responses((status = 200, body = OverviewView), (status = 400, description = "invalid minutes", body = ErrorBody)))]
pub async fn get_overview(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<OverviewView>> {
    let pairs = Pairs::parse(raw.as_deref(), &["minutes"])?;
    let minutes = pairs.parsed::<i64>("minutes", "an integer")?.unwrap_or(OVERVIEW_MINUTES_DEFAULT);
    if !(1..=OVERVIEW_MINUTES_MAX).contains(&minutes) {
        return Err(Error::bad_request(
            "invalid_query",
            format!("minutes must be 1 to {OVERVIEW_MINUTES_MAX}, got {minutes}"),
        ));
    }
    let now = Utc::now();
    let current = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    let since = current - Duration::minutes(minutes - 1);
    let depth = state.store.run_queue_depth().await?;
    let activity = state.store.run_per_minute(since).await?;
    let workers = state.store.worker_list(state.config.lease_timeout_seconds as f64).await?;
    Ok(Json(OverviewView {
        queue: depth.iter().map(DepthView::from_row).collect(),
        per_minute: every_minute(&activity, since, minutes),
        workers_alive: workers.iter().filter(|w| w.live).count() as i64,
        workers: workers.len() as i64,
    }))
}

/// `minutes` consecutive minutes from `since`, with the counts of `rows` where a row has them and
/// zeros elsewhere.
pub fn every_minute(rows: &[MinuteRow], since: DateTime<Utc>, minutes: i64) -> Vec<MinuteView> {
    (0..minutes)
        .map(|i| {
            let minute = since + Duration::minutes(i);
            let row = rows.iter().find(|r| r.minute == minute);
            MinuteView { minute, admitted: row.map_or(0, |r| r.admitted), finished: row.map_or(0, |r| r.finished) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_minute_of_the_window_is_shown_with_zeros_where_nothing_happened() {
        let since: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
        let rows = [MinuteRow { minute: since + Duration::minutes(2), admitted: 3, finished: 1 }];
        let shown = every_minute(&rows, since, 4);
        assert_eq!(shown.len(), 4);
        assert_eq!(shown[0], MinuteView { minute: since, admitted: 0, finished: 0 });
        assert_eq!((shown[2].admitted, shown[2].finished), (3, 1));
        assert_eq!(shown[3].minute, since + Duration::minutes(3));
    }
}
