//! The cron duty: fires due schedules. Each pass reads a batch of due schedules (one statement,
//! rows locked), decides each with [`super::cron::decide`] at the database's instant, and commits
//! every decision, its fire records and its runs in one statement of the same fenced transaction.
//! Runs at the next fire time, every tick, and at once when a schedule changes (`berth_schedules`).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::service::BoxFuture;
use crate::store::notify;
use crate::store::schedules::{DueSchedule, FireDecision, Fired};
use crate::store::{Result, Store};

use super::SchedulerSettings;
use super::cron::{CronSchedule, decide};
use super::duty::{Done, Duty, Term, Trigger, Wake};

/// Most schedules one pass decides; a full batch asks the loop to run again at once.
pub const BATCH_DEFAULT: i64 = 1000;
/// How long fire records are kept (the API shows the latest of them).
pub const FIRES_KEPT_FOR_DEFAULT: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most fire records one pass forgets.
pub const PRUNE_BATCH_DEFAULT: i64 = 5000;
/// Between two prunes of old fire records.
pub const PRUNE_EVERY_DEFAULT: Duration = Duration::from_secs(60);

/// The cron duty.
pub struct Schedules {
    trigger: Trigger,
    pruned_at: Option<Instant>,
}

impl Schedules {
    /// The duty for `term`: every tick, and on `berth_schedules`.
    pub fn new(term: &Term) -> Self {
        Self { trigger: Trigger { every: term.settings.tick, channels: &[notify::SCHEDULES] }, pruned_at: None }
    }
}

impl Duty for Schedules {
    fn name(&self) -> &'static str {
        "schedules"
    }

    fn trigger(&self) -> Trigger {
        self.trigger
    }

    fn run<'a>(&'a mut self, term: &'a Term, wake: Wake) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let (decided, _) =
                run(&term.store, term.epoch, &term.settings, term.clock.sql_now(), BATCH_DEFAULT).await?;
            if wake == Wake::Interval && self.pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY_DEFAULT) {
                self.pruned_at = Some(Instant::now());
                prune(&term.store, term.epoch, term.clock.sql_now()).await?;
            }
            let again = decided >= BATCH_DEFAULT as usize;
            // Wake at the next fire time rather than at the next tick (up to a tick of lag for
            // every fire otherwise). A due schedule the pass left (a locked row, a deleted job's)
            // is not a fire time to wait for: only future ones count.
            let within = if again { None } else { term.store.schedule_next_fire_in(term.clock.sql_now()).await? };
            Ok(Done { again, within })
        })
    }
}

/// One pass as the leader of `epoch`: decides up to `limit` due schedules at `now` (`None`: the
/// database's clock) and commits them. Returns how many schedules it decided and what they did.
pub async fn run(
    store: &Store,
    epoch: i64,
    settings: &SchedulerSettings,
    now: Option<chrono::DateTime<chrono::Utc>>,
    limit: i64,
) -> Result<(usize, Fired)> {
    let mut tx = store.leader_tx(epoch).await?;
    let (due, at) = tx.schedule_due(now, limit).await?;
    let Some(at) = at else {
        return Ok((0, Fired::default()));
    };
    // Parsed once per expression and zone in a pass: schedules often share them, and a parse
    // (with its probe for a real day) costs more than the decision.
    let mut parsed: HashMap<(&str, &str), std::result::Result<CronSchedule, super::cron::Error>> = HashMap::new();
    let decisions: Vec<FireDecision> = due
        .iter()
        .map(|s| {
            let schedule = parsed
                .entry((s.cron.as_str(), s.time_zone.as_str()))
                .or_insert_with(|| CronSchedule::parse(&s.cron, &s.time_zone));
            decision(s, schedule.as_ref(), at)
        })
        .collect();
    let fired = tx.schedule_fire(&decisions, now, settings.admission_off).await?;
    tx.commit().await?;
    crate::metrics::schedule_fires(fired.started, fired.replaced, fired.skipped, fired.missed);
    if fired.started + fired.replaced + fired.skipped + fired.missed > 0 {
        tracing::debug!(
            started = fired.started,
            replaced = fired.replaced,
            skipped = fired.skipped,
            missed = fired.missed,
            "schedules fired"
        );
    }
    Ok((due.len(), fired))
}

/// The decision for one due schedule at `now`. A schedule whose stored expression no longer
/// parses (it was checked when set; a newer time zone database could drop a name) is parked:
/// it never fires, with a warning, until it is set again.
fn decision(
    s: &DueSchedule,
    schedule: std::result::Result<&CronSchedule, &super::cron::Error>,
    now: chrono::DateTime<chrono::Utc>,
) -> FireDecision {
    match schedule {
        Ok(schedule) => {
            let deadline = s.starting_deadline_seconds.map(|d| chrono::Duration::seconds(i64::from(d)));
            let d = decide(schedule, deadline, s.after_at, now);
            if d.missed_unlisted {
                tracing::info!(job = %s.job_id, "schedule missed more fire times than it records");
            }
            FireDecision {
                job_id: s.job_id,
                seen_after: s.after_at,
                after: d.after,
                next: d.next,
                start: d.start,
                missed: d.missed,
            }
        }
        Err(e) => {
            tracing::warn!(job = %s.job_id, error = %e, "a stored schedule does not parse: parked");
            FireDecision {
                job_id: s.job_id,
                seen_after: s.after_at,
                after: s.after_at,
                next: None,
                start: None,
                missed: vec![],
            }
        }
    }
}

/// Forgets fire records older than [`FIRES_KEPT_FOR_DEFAULT`], a batch at a time.
async fn prune(store: &Store, epoch: i64, now: Option<chrono::DateTime<chrono::Utc>>) -> Result<()> {
    let mut tx = store.leader_tx(epoch).await?;
    let gone = tx.schedule_prune_fires(now, FIRES_KEPT_FOR_DEFAULT.as_secs_f64(), PRUNE_BATCH_DEFAULT).await?;
    tx.commit().await?;
    if gone > 0 {
        tracing::debug!(gone, "old schedule fire records forgotten");
    }
    Ok(())
}
