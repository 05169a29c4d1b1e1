//! Throughput: enqueue N no-op runs (some one per transaction, the rest in bulk), then start the
//! scheduler and workers and time the burn-down until every run has finished.

use std::time::Instant;

use super::report::Measurement;
use super::{Bench, ENQUEUE_BATCH, MEASUREMENT_TIMEOUT, Result, SERVICE, Services, db};
use berth::store::RunId;
use berth::store::runs::SubmitParams;

/// Distinct users the runs come from (well above what the per-user cap needs to fill the workers).
pub const USERS: u64 = 1000;
/// Most runs enqueued one per transaction (the rest go in bulk).
pub const SINGLE_MAX: usize = 2000;
/// Concurrent submitters of the one-per-transaction enqueue, like API replicas taking uploads.
pub const SUBMITTERS: usize = 8;

/// Measures both flows.
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    let mut out = Vec::new();
    for &flow in &bench.opts.flows {
        out.extend(one_flow(bench, flow).await?);
    }
    Ok(out)
}

async fn one_flow(bench: &Bench, flow: &'static str) -> Result<Vec<Measurement>> {
    let n = bench.opts.runs;
    bench.progress(&format!("throughput, flow {flow}: enqueueing {n} runs"));
    db::reset(&bench.store).await?;
    let users = super::users(bench.opts.seed, USERS, n);
    let single = n.min(SINGLE_MAX);
    let single_rate = enqueue_single(bench, flow, &users[..single]).await?;
    let started = Instant::now();
    for chunk in users[single..].chunks(ENQUEUE_BATCH) {
        bench.store.run_submit_batch(&bench.batch(flow, "default", chunk.to_vec())).await?;
    }
    let batch_rate = (n - single) as f64 / started.elapsed().as_secs_f64();

    bench.progress(&format!("throughput, flow {flow}: burn-down"));
    let first = RunId(1);
    let start = db::window(&bench.store, first).await?.now;
    let cpu_before = super::cpu::busy_ticks();
    let services = Services::start(&bench.store, &bench.config, bench.opts.workers, None);
    bench.wait_drained(MEASUREMENT_TIMEOUT).await?;
    let cpu_after = super::cpu::busy_ticks();
    services.stop().await;
    let end = db::window(&bench.store, first).await?;
    let seconds = end.last_finish.map_or(0.0, |t| (t - start).num_microseconds().unwrap_or(0) as f64 / 1e6);
    let done = u64::try_from(end.succeeded).unwrap_or(0);
    let n64 = n as u64;
    Ok(vec![
        Measurement {
            runs_per_second: Some(single_rate),
            ..Measurement::new("throughput", flow, "enqueue_single", single as u64)
        },
        Measurement {
            runs_per_second: (n > single).then_some(batch_rate),
            ..Measurement::new("throughput", flow, "enqueue_batch", (n - single) as u64)
        },
        Measurement {
            runs_per_second: (seconds > 0.0).then(|| done as f64 / seconds),
            cpu_us_per_run: super::cpu::per_run_us(cpu_before, cpu_after, done),
            lost: Some(n64.saturating_sub(done)),
            ..Measurement::new("throughput", flow, "burn_down", n64)
        },
    ])
}

/// Submits one run per transaction from [`SUBMITTERS`] concurrent tasks; returns runs per second.
async fn enqueue_single(bench: &Bench, flow: &str, users: &[String]) -> Result<f64> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for part in users.chunks(users.len().div_ceil(SUBMITTERS).max(1)) {
        let store = bench.store.clone();
        let template = bench.batch(flow, "default", Vec::new());
        let part = part.to_vec();
        tasks.spawn(async move {
            for user in part {
                store.run_submit(single(&template, user)).await?;
            }
            Ok::<(), berth::store::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(std::io::Error::other)??;
    }
    Ok(users.len() as f64 / started.elapsed().as_secs_f64())
}

/// The one-run submission equivalent to a bulk template.
pub fn single(t: &berth::store::batch::SubmitBatchParams, user: String) -> SubmitParams {
    SubmitParams {
        name: t.name.clone(),
        service: SERVICE.into(),
        namespace: t.namespace.clone(),
        user_id: user,
        priority: t.priority,
        flow: t.flow,
        request: t.request,
        input_zip: t.input_zip.clone(),
        command: None,
        env: serde_json::json!({}),
        timeout_seconds: t.timeout_seconds,
        retry: berth_retry(t.max_attempts),
        idempotency: None,
        now: None,
    }
}

/// The bench's runs retry as its batch template says (no back-off: a no-op never fails).
fn berth_retry(max_attempts: i32) -> berth::retry::RetryPolicy {
    berth::retry::RetryPolicy { max_attempts, ..berth::retry::RetryPolicy::default() }
}
