//! The worker's heartbeat: one statement per interval for the worker and all its runs, which also
//! brings back what the worker must stop: runs whose cancellation was requested, and attempts that
//! are no longer current because the leader gave their runs to another worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::{AttemptId, RunId, Store, WorkerId};

/// The attempts a worker is executing, shared between its claim loop and its heartbeat.
pub type InFlightAttempts = Arc<Mutex<HashMap<AttemptId, RunId>>>;

/// What the heartbeat asks the claim loop to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Cancellation was requested for this run.
    Cancel(RunId),
    /// The database no longer knows this attempt of the run as running. Either it ended since the
    /// heartbeat read the in-flight list (nothing to do), or the leader rescued the run while this
    /// worker was silent: only the claim loop, which knows what still runs, can tell.
    Stale(RunId, AttemptId),
}

/// Beats every `every` until `stop`, sending the runs to stop to `stops`. Failures are logged
/// and retried at the next beat.
pub async fn run(
    store: Store,
    id: WorkerId,
    every: Duration,
    attempts: InFlightAttempts,
    stops: mpsc::UnboundedSender<Vec<Stop>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => beat(&store, id, &attempts, &stops).await,
        }
    }
}

/// One heartbeat; also called at once when NOTIFY says a cancellation was requested.
pub async fn beat(store: &Store, id: WorkerId, attempts: &InFlightAttempts, stops: &mpsc::UnboundedSender<Vec<Stop>>) {
    let current: HashMap<AttemptId, RunId> = attempts.lock().map(|a| a.clone()).unwrap_or_default();
    let tokens: Vec<AttemptId> = current.keys().copied().collect();
    let answer = store.worker_heartbeat(id, &tokens).await;
    crate::metrics::database_up(answer.is_ok());
    match answer {
        Ok(Some(reply)) => {
            let mut runs: Vec<Stop> = reply.cancel.into_iter().map(Stop::Cancel).collect();
            runs.extend(reply.stale.iter().filter_map(|a| current.get(a).map(|run| Stop::Stale(*run, *a))));
            if !runs.is_empty() {
                let _ = stops.send(runs);
            }
        }
        Ok(None) => tracing::warn!(worker = %id, "heartbeat refused: this worker is marked stopped"),
        Err(e) => tracing::warn!(worker = %id, error = %e, "heartbeat failed"),
    }
    // Claims this worker never received (reply lost after the commit) go back to the queue.
    match store.run_release_orphans(id, &tokens, ORPHAN_GRACE.as_secs_f64()).await {
        Ok(runs) if !runs.is_empty() => {
            tracing::warn!(worker = %id, ?runs, "handed back claims this worker never received")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(worker = %id, error = %e, "cannot check for lost claims"),
    }
}

/// A claim counts as lost when the worker does not hold it this long after it was committed
/// (a claim is taken in within milliseconds; this leaves a wide margin).
pub const ORPHAN_GRACE: Duration = Duration::from_secs(10);
