//! What the console's overview counts: queue depth per namespace and priority, and admissions and
//! finishes per minute.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Result, Store};
use crate::domain::Priority;

/// The number of queued runs of one (namespace, priority) queue.
#[derive(Debug, Clone, FromRow)]
pub struct DepthRow {
    /// Namespace.
    pub namespace: String,
    /// Priority.
    pub priority: Priority,
    /// Queued runs.
    pub queued: i64,
}

/// Admissions and finishes in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct MinuteRow {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    /// Runs admitted in it.
    pub admitted: i64,
    /// Runs that reached a terminal state in it.
    pub finished: i64,
}

impl Store {
    /// Queued runs per namespace and priority (queues with none are absent).
    pub async fn run_queue_depth(&self) -> Result<Vec<DepthRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/runs/queue_depth.sql")).fetch_all(self.pool()).await?)
    }

    /// Admissions and finishes per minute since `since` (minutes with neither are absent).
    pub async fn run_per_minute(&self, since: DateTime<Utc>) -> Result<Vec<MinuteRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/runs/per_minute.sql")).bind(since).fetch_all(self.pool()).await?)
    }
}
