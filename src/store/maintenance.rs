//! Housekeeping the leader does so the hot statements keep good plans.

use super::{Result, Store};

impl Store {
    /// Whether the runs table changed by more than `min_rows` rows and `fraction` of its live rows
    /// since its statistics were last refreshed.
    pub async fn runs_statistics_stale(&self, min_rows: i64, fraction: f64) -> Result<bool> {
        Ok(sqlx::query_scalar(include_str!("../../sql/maintenance/stale_statistics.sql"))
            .bind(min_rows)
            .bind(fraction)
            .fetch_one(self.pool())
            .await?)
    }

    /// Refreshes the runs table's planner statistics (`ANALYZE runs`).
    pub async fn runs_analyze(&self) -> Result<()> {
        sqlx::query(include_str!("../../sql/maintenance/analyze_runs.sql")).execute(self.pool()).await?;
        Ok(())
    }
}
