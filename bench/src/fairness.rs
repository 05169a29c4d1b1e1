//! Fairness (issue 18), in two parts.
//!
//! 1. **A capped backlog.** One user's backlog of [`BACKLOG`] runs, held by their per-user cap (5
//!    in the bench's service), with other users' single runs submitted behind it one at a time.
//!    Figure: the probes' enqueue-to-start. Before the admission snapshot read past capped users,
//!    the probes never started while the backlog filled the queue's read (the measurement timed
//!    out).
//! 2. **Sharing between users.** The same backlog with no cap in its way (the worker's room is all
//!    it waits for), first in a `fifo` namespace, then in a `fair` one ([`FAIR_NAMESPACE`]).
//!    Figures: the probes' enqueue-to-start, and the backlog's own burn-down rate (what the read
//!    per user and the fair walk cost the user who has the most to run).

use super::report::Measurement;
use super::{Bench, Result, SERVICE, db, depth::FILL_BATCH};

/// The heavy user's queued runs.
pub const BACKLOG: usize = 100_000;
/// The capped user.
pub const CAPPED_USER: &str = "capped";
/// The user whose backlog is not capped, in the sharing part.
pub const HEAVY_USER: &str = "heavy";
/// The bench's namespace that shares between users.
pub const FAIR_NAMESPACE: &str = "fair";

/// Fills the backlogs, then probes.
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    db::reset(&bench.store).await?;
    bench.progress(&format!("fairness: queueing {BACKLOG} runs of one user"));
    fill(bench, "default", CAPPED_USER).await?;
    bench.progress(&format!("fairness: {} probes by other users behind the backlog", bench.opts.probes));
    let mut out = vec![super::latency::probe(bench, "priority", "fairness", "enqueue_to_start", "default").await?];

    // No cap in the heavy user's way: only the worker's room.
    let mut config = bench.config.clone();
    if let Some(service) = config.services.get_mut(SERVICE) {
        service.runs_per_user = u32::MAX;
    }
    let bench = &Bench { store: bench.store.clone(), config, opts: bench.opts.clone() };
    for (namespace, probes, drain) in [
        ("default", "fifo_enqueue_to_start", "fifo_backlog_burn_down"),
        (FAIR_NAMESPACE, "fair_enqueue_to_start", "fair_backlog_burn_down"),
    ] {
        db::reset(&bench.store).await?;
        bench.progress(&format!("fairness: {BACKLOG} runs of one user, no cap, in namespace {namespace}"));
        fill(bench, namespace, HEAVY_USER).await?;
        bench.progress(&format!("fairness: {} probes behind it", bench.opts.probes));
        out.push(super::latency::probe(bench, "priority", "fairness", probes, namespace).await?);
        // The probes are in; the backlog may still be running.
        let services = super::Services::start(&bench.store, &bench.config, 1, None);
        bench.wait_drained(super::MEASUREMENT_TIMEOUT).await?;
        services.stop().await;
        let (done, seconds) = db::user_rate(&bench.store, HEAVY_USER).await?;
        let done = u64::try_from(done).unwrap_or(0);
        out.push(Measurement {
            runs_per_second: seconds.filter(|s| *s > 0.0).map(|s| done as f64 / s),
            lost: Some((BACKLOG as u64).saturating_sub(done)),
            ..Measurement::new("fairness", "priority", drain, BACKLOG as u64)
        });
    }
    Ok(out)
}

/// Queues [`BACKLOG`] priority-flow runs of `user` in `namespace`, then vacuums.
async fn fill(bench: &Bench, namespace: &str, user: &str) -> Result<()> {
    let mut left = BACKLOG;
    while left > 0 {
        let n = left.min(FILL_BATCH);
        bench.store.run_submit_batch(&bench.batch("priority", namespace, vec![user.to_string(); n])).await?;
        left -= n;
    }
    db::vacuum(&bench.store).await?;
    Ok(())
}
