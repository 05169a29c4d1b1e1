//! `berth scheduler`: leader election, then the leader's duties.
//!
//! Every scheduler process tries to take a session advisory lock on a dedicated connection; the
//! winner bumps the fencing epoch and runs the leader duties ([`duty`]: rescue, schedules,
//! statistics, admission, retention, usage, ...) on their triggers, never two at a time ([`leader`]). Losing the connection loses
//! the leadership at once; SIGTERM releases it at once so another scheduler takes over without
//! waiting for a timeout.

pub mod admission;
pub mod capacity;
pub mod cron;
pub mod cycle;
pub mod duty;
pub mod leader;
pub mod rescuer;
pub mod retention;
pub mod schedules;
pub mod statistics;
pub mod usage;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::service::{BoxFuture, Service};
use crate::store::Store;
use admission::Policy;
use duty::Term;

/// Most queued runs per namespace and priority one cycle looks at.
pub const SCAN_LIMIT_DEFAULT: i64 = 1000;
/// Fewest queued runs per namespace and priority a notification-driven cycle looks at.
pub const QUICK_SCAN_MIN: i64 = 100;

/// The scheduler's own settings, derived from [`Config`].
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Name written into the leader row.
    pub holder: String,
    /// Between cycles when nothing notifies.
    pub tick: Duration,
    /// The admission rules.
    pub policy: Policy,
    /// Heartbeat age after which a worker is not live.
    pub lease_seconds: f64,
    /// Most queued runs per namespace and priority one cycle looks at.
    pub scan_limit: i64,
    /// Lost attempts after which a run fails.
    pub max_lost_attempts: i32,
    /// Seconds an admitted run may wait for a claim.
    pub startup_timeout_seconds: f64,
    /// Retention of finished runs (`job-run-cleanup`).
    pub retention: retention::RetentionSettings,
    /// Admission is off system-wide (`orchestrator.enabled = false`): scheduled runs are legacy.
    pub admission_off: bool,
}

impl SchedulerSettings {
    /// The scheduler's sections of `config`.
    pub fn from_config(config: &Config) -> Self {
        let q = &config.queue;
        Self {
            holder: format!("scheduler-{}", std::process::id()),
            tick: Duration::from_millis(config.scheduler.tick_ms),
            policy: Policy {
                high_share_percent: q.high.scheduling_share_percentage,
                batch_size: config.settings.batch_size,
                head_timeout: chrono::Duration::seconds(
                    i64::try_from(q.head_timeout_seconds).unwrap_or(i64::MAX / 1000),
                ),
                head_retry_count: q.head_retry_count,
                head_retry_backoff: chrono::Duration::seconds(
                    i64::try_from(q.head_retry_backoff_seconds).unwrap_or(i64::MAX / 1000),
                ),
                runs_per_user: config.services.iter().map(|(k, v)| (k.clone(), v.runs_per_user)).collect(),
                default_runs_per_user: crate::config::RUNS_PER_USER_DEFAULT,
            },
            lease_seconds: config.lease_timeout_seconds as f64,
            scan_limit: SCAN_LIMIT_DEFAULT,
            max_lost_attempts: i32::try_from(config.max_lost_attempts).unwrap_or(i32::MAX),
            startup_timeout_seconds: config.scheduler.startup_timeout_seconds as f64,
            retention: retention::RetentionSettings::from_config(&config.job_run_cleanup),
            admission_off: !config.orchestrator.enabled,
        }
    }
}

impl SchedulerSettings {
    /// Queued runs per namespace and priority a notification-driven cycle reads: four batches'
    /// worth (at least [`QUICK_SCAN_MIN`], at most `scan_limit`). The once-per-tick cycle reads
    /// `scan_limit`. A blocked backlog then costs a notification-driven cycle a hundred rows, not a
    /// thousand: with 1,000 runs waiting in a full namespace, every cycle read and judged all of
    /// them, and a run submitted elsewhere waited ~25 ms for its admission instead of ~3 ms.
    pub fn quick_scan_limit(&self) -> i64 {
        let batches = i64::try_from(self.policy.batch_size).unwrap_or(i64::MAX).saturating_mul(4);
        batches.max(QUICK_SCAN_MIN).min(self.scan_limit)
    }
}

/// A scheduler as a long-running [`Service`]: stands for election, leads while elected.
pub struct Scheduler {
    store: Store,
    settings: SchedulerSettings,
    clock: Clock,
}

impl Scheduler {
    /// A scheduler with `settings`; `clock` is injected into its duties.
    pub fn new(store: Store, settings: SchedulerSettings, clock: Clock) -> Self {
        Self { store, settings, clock }
    }
}

impl Service for Scheduler {
    fn name(&self) -> &'static str {
        "scheduler"
    }

    fn run(self: Box<Self>, cancel: CancellationToken) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            run(self.store, self.settings, self.clock, cancel).await;
            Ok(())
        })
    }
}

/// Runs for election until `cancel`; leads while elected.
pub async fn run(store: Store, settings: SchedulerSettings, clock: Clock, cancel: CancellationToken) {
    // Every scheduler exports the gauge, so a standby shows 0 rather than nothing.
    crate::metrics::leadership(None);
    while !cancel.is_cancelled() {
        let attempt = store.leader_try_elect(&settings.holder).await;
        crate::metrics::database_up(attempt.is_ok());
        match attempt {
            Ok(Some(session)) => {
                tracing::info!(epoch = session.epoch(), "elected scheduler leader");
                crate::metrics::leadership(Some(session.epoch()));
                let term = Term {
                    store: store.clone(),
                    epoch: session.epoch(),
                    settings: settings.clone(),
                    clock: clock.clone(),
                    wrr: session.wrr(),
                };
                leader::lead(session, term, &cancel).await;
                crate::metrics::leadership(None);
                crate::metrics::queues_empty();
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "election attempt failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(settings.tick) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(batch_size: usize, scan_limit: i64) -> SchedulerSettings {
        let mut s = SchedulerSettings::from_config(&Config::default());
        s.policy.batch_size = batch_size;
        s.scan_limit = scan_limit;
        s
    }

    #[test]
    fn a_notification_driven_cycle_reads_four_batches_within_bounds() {
        assert_eq!(settings(20, 1000).quick_scan_limit(), 100, "the floor");
        assert_eq!(settings(50, 1000).quick_scan_limit(), 200, "four batches");
        assert_eq!(settings(1000, 1000).quick_scan_limit(), 1000, "never more than a full read");
        assert_eq!(settings(20, 2).quick_scan_limit(), 2, "never more than a full read, even below the floor");
        assert_eq!(settings(usize::MAX, 1000).quick_scan_limit(), 1000, "no overflow");
    }
}
