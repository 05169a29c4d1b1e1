//! Housekeeping the leader does so the hot statements keep good plans.

use super::{Result, Store};

impl Store {
    /// Whether the runs table holds more than `min_rows` rows and was never analyzed, or holds
    /// more than `growth` times the rows its statistics say.
    pub async fn runs_statistics_stale(&self, min_rows: i64, growth: f64) -> Result<bool> {
        Ok(sqlx::query_scalar(include_str!("../../sql/maintenance/stale_statistics.sql"))
            .bind(min_rows)
            .bind(growth)
            .fetch_one(self.pool())
            .await?)
    }

    /// Refreshes the runs table's planner statistics (`ANALYZE runs`).
    pub async fn runs_analyze(&self) -> Result<()> {
        sqlx::query(include_str!("../../sql/maintenance/analyze_runs.sql")).execute(self.pool()).await?;
        Ok(())
    }
}
