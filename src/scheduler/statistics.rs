//! Keeps the planner's picture of the runs table current.
//!
//! Claims and admission scans read the head of the queue through partial indexes. Planned with no
//! statistics, or with statistics taken while the table was empty, PostgreSQL estimates a handful
//! of admitted runs and may prefer to collect and sort all of them; measured on a fresh database,
//! such a claim read 55,000 rows and sorted them on disk to return 99, and the burn-down ran at a
//! third of its speed until autovacuum (at most once a minute) analyzed the table. The leader checks
//! once per tick and analyzes the table when it has changed by more than [`MIN_CHANGED_ROWS`] rows
//! and [`CHANGED_FRACTION`] of its live rows; prepared statements are re-planned after it.

use std::time::Instant;

use crate::store::{Result, Store};

/// Fewer changed rows than this never trigger an analyze.
pub const MIN_CHANGED_ROWS: i64 = 5_000;
/// Share of the live rows that must have changed.
pub const CHANGED_FRACTION: f64 = 0.2;

/// Analyzes the runs table if its statistics are stale; returns whether it did.
pub async fn refresh_if_stale(store: &Store) -> Result<bool> {
    if !store.runs_statistics_stale(MIN_CHANGED_ROWS, CHANGED_FRACTION).await? {
        return Ok(false);
    }
    let started = Instant::now();
    store.runs_analyze().await?;
    tracing::debug!(elapsed = ?started.elapsed(), "runs table analyzed: its statistics were stale");
    Ok(true)
}
