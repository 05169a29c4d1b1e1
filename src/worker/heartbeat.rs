//! The worker's heartbeat: one statement per interval for the worker and all its runs, which also
//! brings back the runs whose cancellation was requested.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::{RunId, Store, WorkerId};

/// Beats every `every` until `stop`, sending the runs to cancel to `cancels`. Failures are logged
/// and retried at the next beat.
pub async fn run(
    store: Store,
    id: WorkerId,
    every: Duration,
    cancels: mpsc::UnboundedSender<Vec<RunId>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => beat(&store, id, &cancels).await,
        }
    }
}

/// One heartbeat; also called at once when NOTIFY says a cancellation was requested.
pub async fn beat(store: &Store, id: WorkerId, cancels: &mpsc::UnboundedSender<Vec<RunId>>) {
    match store.worker_heartbeat(id).await {
        Ok(Some(runs)) => {
            if !runs.is_empty() {
                let _ = cancels.send(runs);
            }
        }
        Ok(None) => tracing::warn!(worker = %id, "heartbeat refused: this worker is marked stopped"),
        Err(e) => tracing::warn!(worker = %id, error = %e, "heartbeat failed"),
    }
}
