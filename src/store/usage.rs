//! What admitted and running runs hold, by namespace, priority and service (the usage gauges).

use sqlx::FromRow;

use super::{Result, Store};
use crate::domain::Priority;

/// Resources held by the admitted and running runs of one (namespace, priority, service).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct UsageRow {
    /// Namespace.
    pub namespace: String,
    /// Priority.
    pub priority: Priority,
    /// Service.
    pub service: String,
    /// Admitted and running runs.
    pub runs: i64,
    /// Millicores.
    pub cpu: i64,
    /// MiB of memory.
    pub memory: i64,
    /// Pods.
    pub pods: i64,
    /// MiB of storage.
    pub storage: i64,
}

impl Store {
    /// Admitted and running runs summed by namespace, priority and service.
    pub async fn run_usage(&self) -> Result<Vec<UsageRow>> {
        Ok(sqlx::query_as::<_, UsageRow>(include_str!("../../sql/runs/usage.sql")).fetch_all(self.pool()).await?)
    }
}
