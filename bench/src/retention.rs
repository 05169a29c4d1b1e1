//! Retention under load: a steady stream of short no-op runs (`--retention-rate` per second, each
//! with a `--retention-input-kib` input blob) for `--retention-seconds`, once with retention off
//! and once with a period of [`PERIOD_SECONDS`] (rows deleted after [`DELETE_AFTER_SECONDS`]),
//! the leader's pass every second. Every [`SAMPLE_EVERY`] it prints the rows and bytes of runs,
//! history and blobs (flat with retention, growing without). Figures per mode: enqueue-to-start
//! of the stream's runs (read while they exist: retention deletes rows) and the cost of one claim
//! by a worker of its own ([`CLAIMER_SERVICE`]), timed every [`CLAIM_EVERY`] while the load and
//! the cleanup run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth::resources::Resources;
use berth::store::RunId;
use berth::store::runs::ClaimParams;

use super::report::Measurement;
use super::{Bench, Result, SERVICE, Services, db};

/// Retention period of the measurement with retention on (seconds).
pub const PERIOD_SECONDS: u64 = 10;
/// Rows of cleaned runs are deleted this long after the run finished (seconds).
pub const DELETE_AFTER_SECONDS: u64 = 30;
/// Between two size samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(15);
/// Between two timed claims.
pub const CLAIM_EVERY: Duration = Duration::from_millis(250);
/// The service of the claim probes, which only the bench's own claimer serves.
pub const CLAIMER_SERVICE: &str = "bench-claim";

/// Without retention, then with it.
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    let mut out = Vec::new();
    for (flow, enabled) in [("retention_off", false), ("retention_on", true)] {
        out.extend(measure(bench, flow, enabled).await?);
    }
    Ok(out)
}

async fn measure(bench: &Bench, mode: &'static str, enabled: bool) -> Result<Vec<Measurement>> {
    let (rate, seconds) = (bench.opts.retention_rate.max(1), bench.opts.retention_seconds);
    bench.progress(&format!("retention, {mode}: {rate} runs/s for {seconds} s"));
    db::reset(&bench.store).await?;
    let mut config = bench.config.clone();
    let c = &mut config.job_run_cleanup;
    (c.enabled, c.retention_period, c.delete_after, c.interval_seconds) =
        (enabled, PERIOD_SECONDS, DELETE_AFTER_SECONDS, 1);
    let services = Services::start(&bench.store, &config, bench.opts.workers, None);
    tokio::time::sleep(super::latency::WARM_UP).await;

    let capacity = Resources { cpu: 1_000_000, memory: 1_000_000, pods: 1_000_000, storage: 1_000_000 };
    let claimer = bench.store.worker_register("bench-claimer", &[CLAIMER_SERVICE.to_string()], capacity).await?;
    let claim = ClaimParams {
        worker: claimer,
        services: vec![CLAIMER_SERVICE.into()],
        free: capacity,
        limit: 10,
        now: None,
        floor: None,
    };
    let mut template = bench.batch("priority", "default", Vec::new());
    // Incompressible, so the blob sizes are what is stored.
    template.input_zip = noise(bench.opts.retention_input_kib * 1024, bench.opts.seed);
    let probe_template = bench.batch("legacy", "default", Vec::new());
    let users = super::users(bench.opts.seed, 50, 1000);

    let (mut starts, mut claims, mut in_flight) = (HashMap::new(), Vec::new(), Vec::new());
    let (mut claim_lost, mut sent, mut high) = (0u64, 0u64, RunId(0));
    let started = Instant::now();
    let (mut next_sample, mut next_claim, mut next_beat) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tick = tokio::time::interval(every);
    print_sizes_header(bench);
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let user = users[(sent as usize) % users.len()].clone();
        bench.store.run_submit(super::throughput::single(&template, user)).await?;
        sent += 1;
        let at = started.elapsed();
        if at >= next_claim {
            next_claim = at + CLAIM_EVERY;
            let probe = super::throughput::single(&probe_template, "claimer".into());
            bench
                .store
                .run_submit(berth::store::runs::SubmitParams { service: CLAIMER_SERVICE.into(), ..probe })
                .await?;
            let t = Instant::now();
            let got = bench.store.run_claim_batch(&claim).await?;
            claims.push(super::ms(t.elapsed()));
            claim_lost += u64::from(got.len() != 1);
            in_flight.extend(got.iter().map(|r| r.attempt_id));
        }
        if at >= next_beat {
            // The claimer keeps its probes (they stay running), so it must stay alive.
            next_beat = at + Duration::from_secs(2);
            bench.store.worker_heartbeat(claimer, &in_flight).await?;
            read_starts(bench, &mut starts, &mut high).await?;
        }
        if at >= next_sample {
            next_sample = at + SAMPLE_EVERY;
            print_sizes(bench, mode, at, db::sizes(&bench.store).await?);
        }
    }
    let load_seconds = started.elapsed().as_secs_f64();
    // The claimer's probes stay running, so "nothing pending" never comes: wait for the stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (starts.len() as u64) < sent && Instant::now() < deadline {
        tokio::time::sleep(super::POLL).await;
        read_starts(bench, &mut starts, &mut high).await?;
    }
    print_sizes(bench, mode, started.elapsed(), db::sizes(&bench.store).await?);
    services.stop().await;

    let mut start_ms: Vec<f64> = starts.into_values().collect();
    let lost = sent.saturating_sub(start_ms.len() as u64);
    let rate_seen = sent as f64 / load_seconds;
    Ok(vec![
        Measurement {
            lost: Some(lost),
            runs_per_second: Some(rate_seen),
            ..Measurement::new("retention", mode, "enqueue_to_start", sent)
        }
        .with_latencies(&mut start_ms),
        Measurement { lost: Some(claim_lost), ..Measurement::new("retention", mode, "claim", claims.len() as u64) }
            .with_latencies(&mut claims),
    ])
}

/// Reads the enqueue-to-start of the stream's runs started since the last read (from a little
/// below the highest id seen: runs start out of id order).
async fn read_starts(bench: &Bench, starts: &mut HashMap<RunId, f64>, high: &mut RunId) -> Result<()> {
    let from = RunId(high.0.saturating_sub(5_000));
    for (id, ms) in db::started_since(&bench.store, from, SERVICE).await? {
        starts.insert(id, ms);
        *high = (*high).max(id);
    }
    Ok(())
}

fn print_sizes_header(bench: &Bench) {
    if !bench.opts.json {
        println!(
            "{:<14} {:>6} {:>8} {:>8} {:>9} {:>8} {:>10} {:>10} {:>12} {:>11}",
            "retention",
            "at_s",
            "runs",
            "cleaned",
            "events",
            "blobs",
            "blob_MiB",
            "runs_MiB",
            "history_MiB",
            "blobs_MiB"
        );
    }
}

fn print_sizes(bench: &Bench, mode: &str, at: Duration, s: db::Sizes) {
    let mib = |b: i64| b as f64 / (1024.0 * 1024.0);
    if bench.opts.json {
        let line = serde_json::json!({
            "scenario": "retention", "flow": mode, "what": "sizes", "at_s": at.as_secs(),
            "runs": s.runs, "cleaned": s.cleaned, "events": s.events, "blobs": s.blobs,
            "blob_bytes": s.blob_bytes, "runs_disk": s.runs_disk, "history_disk": s.history_disk,
            "blobs_disk": s.blobs_disk,
        });
        println!("{line}");
    } else {
        println!(
            "{:<14} {:>6} {:>8} {:>8} {:>9} {:>8} {:>10.1} {:>10.1} {:>12.1} {:>11.1}",
            mode,
            at.as_secs(),
            s.runs,
            s.cleaned,
            s.events,
            s.blobs,
            mib(s.blob_bytes),
            mib(s.runs_disk),
            mib(s.history_disk),
            mib(s.blobs_disk)
        );
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift: identical across versions).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
