//! Fairness (issue 18): one user's backlog of [`BACKLOG`] runs, held by their per-user cap (5 in
//! the bench's service), with other users' single runs submitted behind it one at a time. Figure:
//! the probes' enqueue-to-start. Before the admission snapshot read past capped users, the probes
//! never started while the backlog filled the queue's read (the measurement timed out).

use super::report::Measurement;
use super::{Bench, Result, db, depth::FILL_BATCH};

/// The capped user's queued runs.
pub const BACKLOG: usize = 100_000;
/// The capped user.
pub const CAPPED_USER: &str = "capped";

/// Fills the backlog, then probes.
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    db::reset(&bench.store).await?;
    bench.progress(&format!("fairness: queueing {BACKLOG} runs of one user"));
    let mut left = BACKLOG;
    while left > 0 {
        let n = left.min(FILL_BATCH);
        bench.store.run_submit_batch(&bench.batch("priority", "default", vec![CAPPED_USER.to_string(); n])).await?;
        left -= n;
    }
    db::vacuum(&bench.store).await?;
    bench.progress(&format!("fairness: {} probes by other users behind the backlog", bench.opts.probes));
    let m = super::latency::probe(bench, "priority", "fairness", "enqueue_to_start", "default").await?;
    Ok(vec![m])
}
