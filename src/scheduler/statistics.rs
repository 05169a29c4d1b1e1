//! Keeps the planner's picture of the runs table current.
//!
//! Claims and admission scans read the head of the queue through partial indexes. Planned with no
//! statistics, or with statistics taken while the table was empty, PostgreSQL estimates a handful
//! of admitted runs and may prefer to collect and sort all of them; measured on a fresh database,
//! such a claim read 55,000 rows and sorted them on disk to return 99, and the burn-down ran at a
//! third of its speed until autovacuum (at most once a minute) analyzed the table. The leader checks
//! once per tick and analyzes the table when it holds more than [`MIN_ROWS`] rows and was never
//! analyzed, or has grown [`GROWTH`] times past what its statistics say; prepared statements are
//! re-planned after it. An analyze samples 30,000 rows (about 250 ms at a million rows on this
//! machine), so state changes alone, which do not move the plans, never trigger one, and the
//! leader runs it in a task of its own: admission does not wait for it.

use std::time::Instant;

use tokio::task::JoinHandle;

use super::duty::{Done, Duty, Term, Trigger, Wake};
use crate::service::BoxFuture;
use crate::store::{Result, Store};

/// A table with fewer rows than this never triggers an analyze.
pub const MIN_ROWS: i64 = 5_000;
/// How many times the rows its statistics say the table must hold.
pub const GROWTH: f64 = 4.0;

/// The refresh as a leader duty: checks once per tick, analyzes off the leader loop (an analyze of a
/// million runs takes about 250 ms, and admission waited for it: priority enqueue-to-start p99 was
/// 144 ms with 1,000,000 queued), never two at a time.
pub struct Statistics {
    trigger: Trigger,
    analyzing: Option<JoinHandle<()>>,
}

impl Statistics {
    /// The duty for `term`.
    pub fn new(term: &Term) -> Self {
        Self { trigger: Trigger::every(term.settings.tick), analyzing: None }
    }
}

impl Duty for Statistics {
    fn name(&self) -> &'static str {
        "statistics"
    }

    fn trigger(&self) -> Trigger {
        self.trigger
    }

    fn run<'a>(&'a mut self, term: &'a Term, _wake: Wake) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            if self.analyzing.as_ref().is_none_or(|h| h.is_finished()) {
                let store = term.store.clone();
                self.analyzing = Some(tokio::spawn(async move {
                    if let Err(e) = refresh_if_stale(&store).await {
                        tracing::warn!(error = %e, "cannot refresh the runs table's statistics");
                    }
                }));
            }
            Ok(Done::default())
        })
    }
}

/// Analyzes the runs table if its statistics are stale; returns whether it did.
pub async fn refresh_if_stale(store: &Store) -> Result<bool> {
    if !store.runs_statistics_stale(MIN_ROWS, GROWTH).await? {
        return Ok(false);
    }
    let started = Instant::now();
    store.runs_analyze().await?;
    tracing::debug!(elapsed = ?started.elapsed(), "runs table analyzed: its statistics were stale");
    Ok(true)
}
