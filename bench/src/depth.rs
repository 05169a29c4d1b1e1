//! Depth and history: the latency scenario and the cost of one claim with 1,000 / 100,000 /
//! 1,000,000 runs already in the table. For `depth` they are queued in a namespace with no quota (a
//! queue waiting for capacity), so they stay queued while probes in the default namespace pass
//! them. For `history` they have run and succeeded, each with its attempt and its four events, and
//! the tables were vacuumed as autovacuum would have done while they piled up: the cost of never
//! moving finished runs out of the hot table.

use std::time::Instant;

use super::report::Measurement;
use super::{Bench, Result, SERVICE, db};
use berth::resources::Resources;
use berth::store::runs::ClaimParams;

/// Runs per bulk statement when filling the backlog.
pub const FILL_BATCH: usize = 10_000;
/// Claims timed per depth.
pub const CLAIMS: usize = 200;

/// What is in the table before the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// Runs waiting in a namespace with no quota.
    Queued,
    /// Runs that ran and succeeded.
    Finished,
}

impl Backlog {
    /// The scenario's name in the figures.
    fn scenario(self) -> &'static str {
        match self {
            Backlog::Queued => "depth",
            Backlog::Finished => "history",
        }
    }
}

/// Measures every configured depth.
pub async fn run(bench: &Bench, backlog: Backlog) -> Result<Vec<Measurement>> {
    let scenario = backlog.scenario();
    let mut out = Vec::new();
    for &depth in &bench.opts.depths {
        bench.progress(&format!("{scenario} {depth}: filling the table"));
        db::reset(&bench.store).await?;
        fill(bench, depth, backlog).await?;
        for flow in ["legacy", "priority"] {
            bench.progress(&format!("{scenario} {depth}, flow {flow}: {} probes", bench.opts.probes));
            let m = super::latency::probe(bench, flow, scenario, "enqueue_to_start", "default").await?;
            out.push(Measurement { depth: Some(depth), ..m });
        }
        out.push(Measurement { depth: Some(depth), ..claim_cost(bench, scenario).await? });
    }
    Ok(out)
}

async fn fill(bench: &Bench, depth: u64, backlog: Backlog) -> Result<()> {
    let users = super::users(bench.opts.seed, 1000, usize::try_from(depth).unwrap_or(usize::MAX));
    for chunk in users.chunks(FILL_BATCH) {
        match backlog {
            Backlog::Queued => {
                // `backlog` has no quota (created at the bench's start).
                bench.store.run_submit_batch(&bench.batch("priority", "backlog", chunk.to_vec())).await?;
            }
            Backlog::Finished => {
                // Legacy runs are admitted on insert; no worker claims them before they are done.
                bench.store.run_submit_batch(&bench.batch("legacy", "history", chunk.to_vec())).await?;
                db::finish_history(&bench.store, "history").await?;
            }
        }
    }
    if backlog == Backlog::Finished {
        db::vacuum(&bench.store).await?;
    }
    Ok(())
}

/// Times [`CLAIMS`] claims by a worker of its own, each with one legacy run waiting to be claimed.
pub async fn claim_cost(bench: &Bench, scenario: &'static str) -> Result<Measurement> {
    let capacity = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
    let worker = bench.store.worker_register("bench-claimer", &[SERVICE.to_string()], capacity).await?;
    let params =
        ClaimParams { worker, services: vec![SERVICE.into()], free: capacity, limit: 10, now: None, floor: None };
    let mut samples = Vec::with_capacity(CLAIMS);
    let mut lost = 0;
    let users = super::users(bench.opts.seed, 50, CLAIMS);
    for user in users {
        let template = bench.batch("legacy", "default", Vec::new());
        bench.store.run_submit(super::throughput::single(&template, user)).await?;
        let started = Instant::now();
        let claimed = bench.store.run_claim_batch(&params).await?;
        samples.push(super::ms(started.elapsed()));
        if claimed.len() != 1 {
            lost += 1;
        }
    }
    Ok(Measurement { lost: Some(lost), ..Measurement::new(scenario, "legacy", "claim", CLAIMS as u64) }
        .with_latencies(&mut samples))
}
