//! The worker's heartbeat: one statement per interval for the worker and all its runs.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{Store, WorkerId};

/// Beats every `every` until `cancel`. Failures are logged and retried at the next beat.
pub async fn run(store: Store, id: WorkerId, every: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                match store.worker_heartbeat(id).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(worker = %id, "heartbeat refused: this worker is marked stopped"),
                    Err(e) => tracing::warn!(worker = %id, error = %e, "heartbeat failed"),
                }
            }
        }
    }
}
