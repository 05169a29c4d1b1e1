//! Schedules: `--schedules` (10,000) stored jobs whose schedules all come due in the same second,
//! created set-based (`bench/sql/schedules_fill.sql`), with the real leader firing them and the
//! workers running what they start. Figures per flow: from each fire time to its run's enqueue
//! (`runs.enqueued_at - schedule_fires.fire_at`, the firing transaction's clock), and to the moment
//! the bench saw its fire committed (polled every [`POLL_FIRES`]: an upper bound that includes the
//! transaction's own time). `lost` counts the schedules that did not fire exactly once. Fires the
//! leader prepared ahead of their time carry the fire time as their run's `enqueued_at` (they
//! commit at it), so their fire-to-enqueue lag reads 0: the committed figure is the one to judge.
//! The fires of an instant are prepared once per leader term, so every flow's run (new services)
//! starts from the default time per fire (docs/schedules.md, "Prepared fires").

use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};

use super::report::Measurement;
use super::{Bench, Result, Services, db};

/// Between two counts of the decided fires.
pub const POLL_FIRES: Duration = Duration::from_millis(20);
/// From the fill to the fire time: the fill and the services' warm-up happen before it.
pub const LEAD: Duration = Duration::from_secs(6);
/// Longest wait for every fire.
pub const FIRE_TIMEOUT: Duration = Duration::from_secs(120);

/// Both flows: the jobs' runs are admitted by the leader (`priority`) or admitted on insert.
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    let mut out = Vec::new();
    for flow in ["legacy", "priority"] {
        out.extend(measure(bench, flow).await?);
    }
    Ok(out)
}

async fn measure(bench: &Bench, flow: &'static str) -> Result<Vec<Measurement>> {
    let n = bench.opts.schedules;
    bench.progress(&format!("schedules, flow {flow}: {n} schedules due in the same second"));
    db::reset(&bench.store).await?;
    let services = Services::start(&bench.store, &bench.config, bench.opts.workers, None);
    let now = bench.store.clock_now(None).await?;
    let due = whole_second(now + chrono::Duration::from_std(LEAD).unwrap_or_default());
    // Once a day at that second (UTC): it fires once within the measurement.
    let cron = format!("{} {} {} * * *", due.second(), due.minute(), due.hour());
    let created = db::schedules_fill(&bench.store, n as i64, due, &cron, flow).await?;
    // Every fire's visibility: the first poll at which at least k fires were committed.
    let mut seen: Vec<(f64, i64)> = Vec::new();
    let wait_from = Instant::now();
    loop {
        let decided = db::fires_decided(&bench.store).await?;
        let since_due = (Utc::now() - due).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        if decided > 0 {
            seen.push((since_due, decided));
        }
        if decided >= created || wait_from.elapsed() > FIRE_TIMEOUT + LEAD {
            break;
        }
        tokio::time::sleep(POLL_FIRES).await;
    }
    bench.progress("  every fire decided; draining the runs");
    bench.wait_drained(Duration::from_secs(120)).await?;
    services.stop().await;

    let lags = db::fire_lags(&bench.store).await?;
    let (runs, most_per_job) = db::schedule_runs(&bench.store).await?;
    let once = lags.iter().filter(|(_, lag, named)| lag.is_some() && *named == 1).count() as u64;
    let mut lost = (n as u64).saturating_sub(once);
    if runs != n as i64 || most_per_job > 1 {
        bench.progress(&format!("  {runs} scheduled runs for {n} schedules; most for one job: {most_per_job}"));
        lost += runs.abs_diff(n as i64);
    }
    let mut enqueue: Vec<f64> = lags.iter().filter_map(|(_, lag, _)| *lag).collect();
    let mut visible: Vec<f64> =
        (1..=created).filter_map(|k| seen.iter().find(|(_, count)| *count >= k).map(|(ms, _)| *ms)).collect();
    Ok(vec![
        Measurement { lost: Some(lost), ..Measurement::new("schedules", flow, "fire_to_enqueue", n as u64) }
            .with_latencies(&mut enqueue),
        Measurement::new("schedules", flow, "fire_to_committed", n as u64).with_latencies(&mut visible),
    ])
}

fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() + 1, 0).unwrap_or(t)
}
