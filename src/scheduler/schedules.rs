//! The cron duty: fires due schedules. Each pass reads a batch of due schedules (one statement,
//! rows locked), decides each with [`super::cron::decide`] at the database's instant, and commits
//! every decision, its fire records and its runs in one statement of the same fenced transaction.
//! Runs at the next fire time, every tick, and at once when a schedule changes (`berth_schedules`).
//!
//! **Prepared fires.** Shortly before a fire time (how shortly: [`Schedules::lead`], from the
//! number of schedules due then and the time per fire the last preparations took), the duty
//! decides the fires of that instant whose outcome cannot depend on what happens before it
//! (policy `allow`, batch jobs) and writes them in a transaction it keeps open ([`Prepared`]), a
//! batch per pass so the other duties run between batches; at the fire time it waits in the
//! database until the database's clock reaches it and commits. So 10,000 fires of the same
//! instant cost one commit at that instant, not ten statements after it; nothing is visible
//! before the fire time, and the fire and its run are still one transaction. What is not
//! prepared (`forbid`, `replace`, workflow jobs, a preparation that ran out of time) fires as
//! before, from the fire time on. With a fixed (test) clock nothing is prepared.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::service::BoxFuture;
use crate::store::admission::LeaderTx;
use crate::store::notify;
use crate::store::schedules::{DueSchedule, FireDecision, Fired, NextFire};
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
/// Preparation starts at least this long before a fire time (the wake, the other duties' turn).
pub const PREPARE_MARGIN: Duration = Duration::from_millis(250);
/// Preparation never starts longer than this before a fire time (the schedules it locks wait
/// that long for an edit).
pub const PREPARE_AHEAD_MAX: Duration = Duration::from_secs(10);
/// A prepared transaction idle for longer (its leader froze) is rolled back by the server; the
/// longest it waits for its fire time is [`PREPARE_AHEAD_MAX`].
pub const PREPARED_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The time per prepared fire assumed before any was measured.
pub const PREPARE_PER_FIRE_DEFAULT: Duration = Duration::from_micros(300);

/// The cron duty.
pub struct Schedules {
    trigger: Trigger,
    pruned_at: Option<Instant>,
    /// The fires of the next instant, written and not yet committed.
    prepared: Option<Prepared>,
    /// Time per prepared fire, learned from the last preparations.
    per_fire: Duration,
}

impl Schedules {
    /// The duty for `term`: every tick, and on `berth_schedules`.
    pub fn new(term: &Term) -> Self {
        Self {
            trigger: Trigger { every: term.settings.tick, channels: &[notify::SCHEDULES] },
            pruned_at: None,
            prepared: None,
            per_fire: PREPARE_PER_FIRE_DEFAULT,
        }
    }

    /// How long before an instant with `due` schedules its preparation starts.
    pub fn lead(&self, due: i64) -> Duration {
        lead(self.per_fire, due)
    }

    async fn pass(&mut self, term: &Term, wake: Wake) -> Result<Done> {
        let now = term.clock.sql_now();
        // A fixed clock does not move with the database's: nothing is prepared under it.
        let ahead = now.is_none();
        // The prepared instant has come: commit it (what its preparation did not reach fires below).
        if self.prepared.as_ref().is_some_and(|p| p.commit_at <= Instant::now())
            && let Some(p) = self.prepared.take()
        {
            p.commit().await?;
        }
        let mut again = false;
        if let Some(p) = self.prepared.as_mut()
            && !p.complete
        {
            p.more(&term.settings, BATCH_DEFAULT).await?;
            again = !p.complete;
            if p.complete {
                self.per_fire = learned(self.per_fire, p);
            }
        }
        // Due now (the prepared schedules are locked, and skipped).
        let (decided, _) = run(&term.store, term.epoch, &term.settings, now, BATCH_DEFAULT).await?;
        again |= decided >= BATCH_DEFAULT as usize;
        if wake == Wake::Interval && self.pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY_DEFAULT) {
            self.pruned_at = Some(Instant::now());
            prune(&term.store, term.epoch, now).await?;
        }
        let commit_in = self.prepared.as_ref().map(|p| p.commit_at.saturating_duration_since(Instant::now()));
        if again {
            return Ok(Done { again, within: commit_in });
        }
        // Wake at the next fire time (or its preparation) rather than at the next tick (up to a
        // tick of lag for every fire otherwise). A due schedule the pass left (a locked row, a
        // deleted job's) is not a fire time to wait for: only future ones count. With an instant
        // prepared, only a schedule set since for an earlier time comes before its commit.
        let Some(next) = term.store.schedule_next_fire(now).await? else {
            return Ok(Done { again, within: commit_in });
        };
        if !ahead || self.prepared.is_some() {
            return Ok(Done { again, within: Some(commit_in.map_or(next.within, |c| c.min(next.within))) });
        }
        let lead = self.lead(next.due);
        if next.within > lead {
            return Ok(Done { again, within: Some(next.within - lead) });
        }
        let mut p = Prepared::begin(&term.store, term.epoch, next).await?;
        p.more(&term.settings, BATCH_DEFAULT).await?;
        if p.complete && p.decided == 0 {
            // Nothing to prepare at that instant (`forbid`, `replace`, workflows): no transaction
            // to keep open; wake at the fire time.
            return Ok(Done { again, within: Some(p.commit_at.saturating_duration_since(Instant::now())) });
        }
        if p.complete {
            self.per_fire = learned(self.per_fire, &p);
        }
        let within = Some(p.commit_at.saturating_duration_since(Instant::now()));
        again = !p.complete;
        self.prepared = Some(p);
        Ok(Done { again, within })
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
            let done = self.pass(term, wake).await;
            if done.is_err() {
                // A failed pass gives up what it prepared (rolled back): those fires are decided
                // again, prepared or at their time.
                self.prepared = None;
            }
            done
        })
    }
}

/// How long before an instant with `due` schedules its preparation starts, at `per_fire`.
fn lead(per_fire: Duration, due: i64) -> Duration {
    let due = u32::try_from(due.max(0)).unwrap_or(u32::MAX);
    (PREPARE_MARGIN + per_fire.saturating_mul(due)).min(PREPARE_AHEAD_MAX)
}

/// The time per fire after preparation `p` (complete), from `per_fire` before it: the mean of
/// both, when `p` prepared enough fires to say.
fn learned(per_fire: Duration, p: &Prepared) -> Duration {
    if p.decided < 100 {
        return per_fire;
    }
    let measured = p.began.elapsed() / u32::try_from(p.decided).unwrap_or(u32::MAX);
    ((per_fire + measured) / 2).clamp(Duration::from_micros(10), Duration::from_millis(5))
}

/// The fires of one instant, decided and written ahead of it in a leader transaction kept open
/// until the instant comes.
pub struct Prepared {
    tx: LeaderTx,
    /// The fire time (the database's clock).
    at: DateTime<Utc>,
    /// When `at` comes on this process's clock (the database is asked again before the commit).
    pub commit_at: Instant,
    /// The decisions took `at` as now: a fire with a starting deadline cannot commit after `at`
    /// plus that deadline (the earliest of them); a later commit rolls back instead.
    commit_by: Option<DateTime<Utc>>,
    /// Every preparable schedule of the instant is prepared.
    pub complete: bool,
    fired: Fired,
    /// Fires prepared so far.
    pub decided: usize,
    began: Instant,
}

impl Prepared {
    /// Opens the transaction for the fires of `next` as the leader of `epoch`; nothing is
    /// prepared yet ([`Prepared::more`]).
    pub async fn begin(store: &Store, epoch: i64, next: NextFire) -> Result<Self> {
        let began = Instant::now();
        // Fenced at its commit, not from its start: it stays open while admission, which updates
        // the leader row, runs (`Store::leader_tx_held`).
        let tx = store.leader_tx_held(epoch, PREPARED_IDLE_TIMEOUT).await?;
        Ok(Self {
            tx,
            at: next.at,
            commit_at: began + next.within,
            commit_by: None,
            complete: false,
            fired: Fired::default(),
            decided: 0,
            began,
        })
    }

    /// Decides and writes up to `limit` more fires of the instant; returns how many.
    pub async fn more(&mut self, settings: &SchedulerSettings, limit: i64) -> Result<usize> {
        let (due, _) = self.tx.schedule_due(Some(self.at), limit, true).await?;
        if let Some(shortest) = due.iter().filter_map(|s| s.starting_deadline_seconds).min() {
            let by = self.at + chrono::Duration::seconds(i64::from(shortest));
            self.commit_by = Some(self.commit_by.map_or(by, |b| b.min(by)));
        }
        let decisions = decisions(&due, self.at);
        let fired = self.tx.schedule_fire(&decisions, Some(self.at), settings.admission_off).await?;
        self.fired.started += fired.started;
        self.fired.replaced += fired.replaced;
        self.fired.skipped += fired.skipped;
        self.fired.missed += fired.missed;
        self.fired.advanced += fired.advanced;
        self.decided += due.len();
        self.complete = due.len() < limit.max(0) as usize;
        Ok(due.len())
    }

    /// Waits until the database's clock reaches the fire time, then commits; `None` when it came
    /// too late for a starting deadline the decisions assumed (rolled back: those schedules are
    /// decided again at the real time).
    pub async fn commit(mut self) -> Result<Option<Fired>> {
        let now = self.tx.schedule_wait_until(self.at).await?;
        if self.commit_by.is_some_and(|by| now >= by) {
            tracing::warn!(at = %self.at, %now, "prepared schedule fires missed their commit time: decided again");
            return Ok(None);
        }
        self.tx.commit().await?;
        let f = self.fired;
        crate::metrics::schedule_fires(f.started, f.replaced, f.skipped, f.missed, f.refused);
        tracing::debug!(
            at = %self.at,
            late_ms = (now - self.at).num_milliseconds(),
            started = f.started,
            missed = f.missed,
            "prepared schedule fires committed"
        );
        Ok(Some(f))
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
    let (due, at) = tx.schedule_due(now, limit, false).await?;
    let Some(at) = at else {
        return Ok((0, Fired::default()));
    };
    let decisions = decisions(&due, at);
    let fired = tx.schedule_fire(&decisions, now, settings.admission_off).await?;
    tx.commit().await?;
    crate::metrics::schedule_fires(fired.started, fired.replaced, fired.skipped, fired.missed, fired.refused);
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

/// The decisions for `due` at `at`. Each expression and zone is parsed once: schedules often
/// share them, and a parse (with its probe for a real day) costs more than the decision.
fn decisions(due: &[DueSchedule], at: DateTime<Utc>) -> Vec<FireDecision> {
    let mut parsed: HashMap<(&str, &str), std::result::Result<CronSchedule, super::cron::Error>> = HashMap::new();
    due.iter()
        .map(|s| {
            let schedule = parsed
                .entry((s.cron.as_str(), s.time_zone.as_str()))
                .or_insert_with(|| CronSchedule::parse(&s.cron, &s.time_zone));
            decision(s, schedule.as_ref(), at)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preparation_starts_earlier_the_more_schedules_are_due_up_to_a_limit() {
        assert_eq!(lead(PREPARE_PER_FIRE_DEFAULT, 0), PREPARE_MARGIN);
        assert_eq!(lead(PREPARE_PER_FIRE_DEFAULT, 1), PREPARE_MARGIN + Duration::from_micros(300));
        assert_eq!(lead(PREPARE_PER_FIRE_DEFAULT, 10_000), Duration::from_millis(3250));
        assert_eq!(lead(Duration::from_millis(5), 1_000_000), PREPARE_AHEAD_MAX);
        assert_eq!(lead(PREPARE_PER_FIRE_DEFAULT, -1), PREPARE_MARGIN, "a count below zero counts as none");
    }
}
