//! The leader's run timers: rescue the runs of dead workers, return admitted runs nobody claimed
//! within the startup timeout to the queue, and wake runs whose retry back-off is over. One fenced
//! transaction per pass, at most once per tick.

use crate::clock::Clock;
use crate::service::BoxFuture;
use crate::store::{Result, Store};

use super::SchedulerSettings;
use super::duty::{Done, Duty, Term, Trigger, Wake};

/// The rescue as a leader duty: once per tick.
pub struct Rescue {
    trigger: Trigger,
}

impl Rescue {
    /// The duty for `term`.
    pub fn new(term: &Term) -> Self {
        Self { trigger: Trigger::every(term.settings.tick) }
    }
}

impl Duty for Rescue {
    fn name(&self) -> &'static str {
        "rescue"
    }

    fn trigger(&self) -> Trigger {
        self.trigger
    }

    fn run<'a>(&'a mut self, term: &'a Term, _wake: Wake) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            run(&term.store, term.epoch, &term.settings, &term.clock).await?;
            Ok(Done::default())
        })
    }
}

/// What one pass moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rescued {
    /// Runs of dead workers requeued (or failed after too many losses).
    pub lost: usize,
    /// Admitted runs returned to the queue.
    pub unclaimed: usize,
    /// Waiting runs queued again after their back-off.
    pub woken: usize,
}

impl Rescued {
    /// Whether anything moved (so admission should look again).
    pub fn any(&self) -> bool {
        self.lost + self.unclaimed + self.woken > 0
    }
}

/// One pass as the leader of `epoch`.
pub async fn run(store: &Store, epoch: i64, settings: &SchedulerSettings, clock: &Clock) -> Result<Rescued> {
    let now = clock.sql_now();
    let mut tx = store.leader_tx(epoch).await?;
    let lost = tx.rescue_lost(settings.lease_seconds, settings.max_lost_attempts, now).await?;
    let unclaimed = tx.requeue_unclaimed(settings.startup_timeout_seconds, now).await?;
    let woken = tx.wake_due(now).await?;
    tx.commit().await?;
    let rescued = Rescued { lost: lost.len(), unclaimed: unclaimed.len(), woken: woken.len() };
    if rescued.any() {
        tracing::info!(
            lost = rescued.lost,
            unclaimed = rescued.unclaimed,
            woken = rescued.woken,
            "runs moved by the leader's timers"
        );
        crate::metrics::rescued(rescued.lost, rescued.unclaimed, rescued.woken);
    }
    Ok(rescued)
}
