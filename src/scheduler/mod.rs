//! `berth scheduler`: leader election, then the leader's admission loop.
//!
//! Every scheduler process tries to take a session advisory lock on a dedicated connection; the
//! winner bumps the fencing epoch and runs admission cycles, woken by NOTIFY (submit, finish) or a
//! tick, never two at a time. Losing the connection loses the leadership at once; SIGTERM releases it
//! at once so another scheduler takes over without waiting for a timeout.

pub mod admission;
pub mod cycle;
pub mod rescuer;
pub mod statistics;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::{Error, Store, notify};
use admission::{Policy, Wrr};

/// Most queued runs per namespace and priority one cycle looks at.
pub const SCAN_LIMIT_DEFAULT: i64 = 1000;

/// The notifications that wake this loop.
const CHANNELS: [&str; 2] = [notify::QUEUED, notify::FINISHED];

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
        }
    }
}

/// Runs for election until `cancel`; leads while elected.
pub async fn run(store: Store, settings: SchedulerSettings, clock: Clock, cancel: CancellationToken) {
    // Every scheduler exports the gauge, so a standby shows 0 rather than nothing.
    crate::metrics::leadership(None);
    while !cancel.is_cancelled() {
        match store.leader_try_elect(&settings.holder).await {
            Ok(Some(session)) => {
                tracing::info!(epoch = session.epoch(), "elected scheduler leader");
                crate::metrics::leadership(Some(session.epoch()));
                lead(&store, session, &settings, &clock, &cancel).await;
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

async fn lead(
    store: &Store,
    mut session: crate::store::leader::LeaderSession,
    settings: &SchedulerSettings,
    clock: &Clock,
    cancel: &CancellationToken,
) {
    let epoch = session.epoch();
    let (high, normal) = session.wrr();
    let mut wrr = Wrr { high, normal };
    let mut listener = notify::listen(store, &CHANNELS).await;
    let mut last_rescue: Option<tokio::time::Instant> = None;
    let mut last_records: Option<tokio::time::Instant> = None;
    let mut last_alive: Option<tokio::time::Instant> = None;
    loop {
        if last_rescue.is_none_or(|at| at.elapsed() >= settings.tick) {
            last_rescue = Some(tokio::time::Instant::now());
            match rescuer::run(store, epoch, settings, clock).await {
                Ok(_) => {}
                Err(Error::Deposed { .. }) => {
                    tracing::warn!(epoch, "deposed: another scheduler took over");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "leader timers failed"),
            }
            if let Err(e) = statistics::refresh_if_stale(store).await {
                tracing::warn!(error = %e, "cannot refresh the runs table's statistics");
            }
        }
        // Block records are refreshed once per tick; head changes are written at once.
        let all_records = last_records.is_none_or(|at| at.elapsed() >= settings.tick);
        if all_records {
            last_records = Some(tokio::time::Instant::now());
        }
        let again = match cycle::run(store, epoch, &mut wrr, settings, clock, all_records).await {
            Ok(outcome) => outcome.again(),
            Err(Error::Deposed { .. }) => {
                tracing::warn!(epoch, "deposed: another scheduler took over");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "admission cycle failed");
                false
            }
        };
        if !again {
            tokio::select! {
                _ = cancel.cancelled() => {}
                woke = notify::wait(&mut listener) => if woke.is_none() { listener = None },
                _ = tokio::time::sleep(settings.tick) => {
                    if listener.is_none() {
                        listener = notify::listen(store, &CHANNELS).await;
                    }
                }
            }
        }
        if cancel.is_cancelled() {
            session.release().await;
            tracing::info!(epoch, "leadership released");
            return;
        }
        // Once per tick: a lost lock connection cannot let a write through meanwhile, because
        // every leader write checks the epoch (a new leader has already bumped it).
        if last_alive.is_none_or(|at| at.elapsed() >= settings.tick) {
            last_alive = Some(tokio::time::Instant::now());
            if !session.alive().await {
                tracing::warn!(epoch, "lost the leader connection: leadership lost");
                return;
            }
        }
    }
}
