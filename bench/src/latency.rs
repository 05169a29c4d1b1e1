//! Latency: idle workers; runs submitted one at a time at a fixed interval; enqueue-to-start
//! percentiles from the database clock (submit transaction to claim transaction).

use std::time::Duration;

use super::report::Measurement;
use super::{Bench, Result, Services, db};
use berth::store::RunId;

/// Time given to the services to register and elect a leader before the first probe.
pub const WARM_UP: Duration = Duration::from_millis(1500);

/// Measures the chosen flows (`--flows`, both by default) on an empty queue.
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    let mut out = Vec::new();
    for &flow in &bench.opts.flows {
        bench.progress(&format!("latency, flow {flow}: {} probes", bench.opts.probes));
        db::reset(&bench.store).await?;
        out.push(probe(bench, flow, "latency", "enqueue_to_start", "default").await?);
    }
    Ok(out)
}

/// Starts the services, submits `probes` runs one at a time at the configured interval into
/// `namespace`, waits for them and returns their enqueue-to-start percentiles.
pub async fn probe(
    bench: &Bench,
    flow: &'static str,
    scenario: &'static str,
    what: &'static str,
    namespace: &str,
) -> Result<Measurement> {
    let services = Services::start(&bench.store, &bench.config, 1, None);
    tokio::time::sleep(WARM_UP).await;
    let users = super::users(bench.opts.seed, 50, bench.opts.probes);
    let template = bench.batch(flow, namespace, Vec::new());
    let mut first: Option<RunId> = None;
    let mut tick = tokio::time::interval(bench.opts.interval);
    for user in users {
        tick.tick().await;
        let id = bench.store.run_submit(super::throughput::single(&template, user)).await?;
        first.get_or_insert(id);
    }
    bench.wait_finished_from(first.unwrap_or(RunId(1)), Duration::from_secs(60)).await?;
    services.stop().await;
    let timings = db::timings(&bench.store, first.unwrap_or(RunId(1))).await?;
    let probes: Vec<_> = timings.iter().filter(|t| t.id >= first.unwrap_or(RunId(1))).collect();
    let mut starts: Vec<f64> = probes.iter().filter_map(|t| t.start_ms).collect();
    let lost = probes.iter().filter(|t| t.state != "succeeded").count() as u64;
    let n = bench.opts.probes as u64;
    Ok(Measurement {
        lost: Some(lost + n.saturating_sub(probes.len() as u64)),
        ..Measurement::new(scenario, flow, what, n)
    }
    .with_latencies(&mut starts))
}
