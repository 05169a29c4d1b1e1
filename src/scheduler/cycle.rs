//! One admission cycle: load a snapshot, decide (a pure function), commit under the fencing epoch with
//! every admission re-checked against the locked quotas. A stale snapshot never overcommits: the run
//! stays queued at its place with a `stale_quota_retry` event and the next cycle follows at once.

use std::collections::HashMap;
use std::time::Instant;

use super::SchedulerSettings;
use super::admission::{self, HeadAction, QueuedRun, Snapshot, Wrr};
use super::capacity;
use super::duty::{Done, Duty, Term, Trigger, Wake};
use crate::clock::Clock;
use crate::resources::Resources;
use crate::service::BoxFuture;
use crate::store::admission::{AdmitBatch, Admitted, LeaderTx, PastCapped};
use crate::store::held::Held;
use crate::store::{Result, RunId, Store, notify};

/// Admission as a leader duty: a quick cycle on every submit or finish notification (or at once
/// when the last one left runs that could still fit), a full one once per tick. The full cycle also
/// refreshes every block record and the queue gauges.
pub struct Admission {
    trigger: Trigger,
    wrr: Wrr,
    /// The connection of the snapshot and the admission commit.
    held: Held,
}

impl Admission {
    /// The duty for `term`, starting from the credits the term inherited.
    pub fn new(term: &Term) -> Self {
        let (high, normal) = term.wrr;
        Self {
            trigger: Trigger { every: term.settings.tick, channels: &CHANNELS },
            wrr: Wrr { high, normal },
            held: term.store.hold(),
        }
    }
}

/// The notifications that wake admission.
const CHANNELS: [&str; 2] = [notify::QUEUED, notify::FINISHED];

impl Duty for Admission {
    fn name(&self) -> &'static str {
        "admission"
    }

    fn trigger(&self) -> Trigger {
        self.trigger
    }

    fn run<'a>(&'a mut self, term: &'a Term, wake: Wake) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let full = wake == Wake::Interval;
            let outcome = run(&mut self.held, term.epoch, &mut self.wrr, &term.settings, &term.clock, full).await?;
            Ok(Done { again: outcome.again(), within: None })
        })
    }
}

/// What a cycle did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CycleOutcome {
    /// Runs admitted.
    pub admitted: Vec<RunId>,
    /// Runs whose admission the re-check refused.
    pub stale: Vec<RunId>,
    /// The batch limit stopped the walk while runs could still fit.
    pub more: bool,
}

impl CycleOutcome {
    /// Whether the next cycle should start at once.
    pub fn again(&self) -> bool {
        self.more || !self.stale.is_empty()
    }
}

/// A cycle's decisions with the snapshot they were made from, not yet committed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The pure function's input.
    pub snapshot: Snapshot,
    /// Its output.
    pub decisions: admission::Decisions,
    /// Write every block record (true), or only those whose head timer changed.
    pub all_records: bool,
    started: Instant,
}

/// Runs one cycle as the leader of `epoch`, its snapshot and admissions-only commit on `held`. With
/// `all_records` false (a notification-driven cycle) it reads
/// [`SchedulerSettings::quick_scan_limit`] runs per queue and writes only the block records whose
/// head timer changed: the once-per-tick cycle reads `scan_limit` runs per queue, refreshes every
/// record and the queue gauges, because doing all of that on every notification costs more than
/// the admissions themselves.
pub async fn run(
    held: &mut Held,
    epoch: i64,
    wrr: &mut Wrr,
    settings: &SchedulerSettings,
    clock: &Clock,
    all_records: bool,
) -> Result<CycleOutcome> {
    let per_queue = if all_records { settings.scan_limit } else { settings.quick_scan_limit() };
    let Some(mut plan) = plan(held, *wrr, settings, clock, per_queue).await? else {
        return Ok(CycleOutcome::default());
    };
    plan.all_records = all_records;
    let outcome = commit(held, epoch, &plan, clock).await?;
    *wrr = plan.decisions.wrr;
    Ok(outcome)
}

/// Loads one consistent snapshot of the oldest `per_queue` runs of each namespace and priority and
/// decides (no writes); `None` when nothing is queued. The queue gauges are set only from a full
/// read (`per_queue` = `scan_limit`), so they do not jump with the cycle kind.
pub async fn plan(
    held: &mut Held,
    wrr: Wrr,
    settings: &SchedulerSettings,
    clock: &Clock,
    per_queue: i64,
) -> Result<Option<Plan>> {
    let started = Instant::now();
    let Some(rows) = held.admission_snapshot(per_queue, settings.lease_seconds, clock.sql_now()).await? else {
        // Nothing queued: no decision, no fenced write, no commit to wait for.
        crate::metrics::queues_empty();
        return Ok(None);
    };
    let mut snapshot = capacity::snapshot(&rows, clock, wrr);
    let mut decisions = admission::decide(&snapshot, &settings.policy);
    decisions = see_past_capped_users(held.store(), &mut snapshot, decisions, settings, per_queue).await?;
    if per_queue >= settings.scan_limit {
        capacity::report(&snapshot, &decisions, usize::try_from(settings.scan_limit).unwrap_or(usize::MAX));
    }
    Ok(Some(Plan { snapshot, decisions, all_records: true, started }))
}

/// Most extra reads a full cycle makes to see past saturated users (the loop stops sooner when a
/// read finds nothing new or the users at their cap stay the same).
pub const MAX_REREADS: usize = 8;

/// Most (user, service) pairs a notification-driven cycle's read past capped users visits, per
/// queue, as a multiple of the runs it may add (admission/queued_heads.sql).
pub const HEADS_VISITS_PER_PAIR: i64 = 10;

/// Reads again, without the users who cannot start another run this cycle, every queue whose read
/// was full and which the decision left waiting only for users' own caps, adds what that read hid
/// and decides again (DESIGN §4: a run blocked only by its own cap blocks only that user's later
/// runs; `scheduler/admission/capped.rs`).
///
/// The once-per-tick cycle (`per_queue` = `scan_limit`) reads the oldest runs of the users not
/// capped, in queue order (admission/queued_uncapped.sql), and repeats while a read is full and
/// the users at their cap change, at most [`MAX_REREADS`] times: one full cycle admits every user up to
/// their cap. That read walks the capped backlog's index entries, which a notification-driven cycle
/// must not pay on every finish. Those cycles read instead, once, the two oldest runs past the
/// snapshot's cut of each (user, service) not capped (admission/queued_heads.sql): a skip scan that
/// costs a descent or two per pair however long its backlog (migration 0025). They add the runs up
/// to the earliest second run of a pair, so that they stay in queue order
/// ([`admission::past_the_cut`]). So another user's next run waits no longer than the next cycle
/// behind a capped backlog, and the tick fills the caps in queue order.
async fn see_past_capped_users(
    store: &Store,
    snapshot: &mut Snapshot,
    mut decisions: admission::Decisions,
    settings: &SchedulerSettings,
    per_queue: i64,
) -> Result<admission::Decisions> {
    let full_cycle = per_queue >= settings.scan_limit;
    let mut full = admission::full_queues(snapshot, per_queue);
    let mut excluded = std::collections::BTreeSet::new();
    let mut seen: std::collections::HashSet<RunId> = snapshot.queued.iter().map(|r| r.id).collect();
    for _ in 0..MAX_REREADS {
        let saturated = admission::saturated(snapshot, &decisions, &settings.policy);
        let queues = admission::rereads(snapshot, &decisions, &full, &saturated);
        if queues.is_empty() || saturated == excluded {
            break;
        }
        excluded = saturated;
        let capped: Vec<(String, String)> = excluded.iter().cloned().collect();
        let mut still_full = std::collections::BTreeSet::new();
        let mut found = false;
        for (namespace, priority) in queues {
            let read = PastCapped { namespace: &namespace, priority, capped: &capped, now: snapshot.now };
            let runs = if full_cycle {
                let rows = store.admission_uncapped(&read, per_queue).await?;
                if rows.len() as i64 >= per_queue {
                    still_full.insert((namespace, priority));
                }
                rows.iter().map(capacity::queued_run).collect()
            } else {
                let fifo = !snapshot.fair.contains_key(&namespace);
                // The snapshot read this queue in queue order up to its last run (a fair
                // namespace's read is not a prefix of its queue).
                let cut = snapshot
                    .queued
                    .iter()
                    .filter(|r| fifo && r.namespace == namespace && r.priority == priority)
                    .map(|r| (r.enqueued_at, r.id))
                    .max();
                let visits = per_queue.saturating_mul(HEADS_VISITS_PER_PAIR);
                let (rows, visited) = store.admission_heads(&read, visits, cut).await?;
                let past = rows.iter().map(capacity::queued_run).collect();
                let limit = usize::try_from(per_queue).unwrap_or(usize::MAX);
                admission::past_the_cut(past, visited >= visits, fifo, limit)
            };
            for run in runs {
                if seen.insert(run.id) {
                    found = true;
                    snapshot.queued.push(run);
                }
            }
        }
        full = still_full;
        if !found {
            break;
        }
        decisions = admission::decide(snapshot, &settings.policy);
        if !full_cycle {
            // One read past the cut: the tick does the rest.
            break;
        }
    }
    Ok(decisions)
}

/// Commits a plan under the fencing epoch, re-checking every admission against the locked quotas.
pub async fn commit(held: &mut Held, epoch: i64, plan: &Plan, clock: &Clock) -> Result<CycleOutcome> {
    let (snapshot, decisions, started) = (&plan.snapshot, &plan.decisions, plan.started);
    let now = clock.sql_now();

    let queued: HashMap<RunId, &QueuedRun> = snapshot.queued.iter().map(|r| (r.id, r)).collect();
    let heads: HashMap<RunId, Option<chrono::DateTime<chrono::Utc>>> = decisions.head_updates.iter().cloned().collect();
    // A head timeout's record is always written: a run cooling down is read by no snapshot until
    // it cools (admission/snapshot.sql), so this record is what says why it waits until then.
    let timed_out: std::collections::HashSet<RunId> = decisions.timeouts.iter().map(|t| t.run).collect();
    let records: Vec<_> = decisions
        .records
        .iter()
        .filter(|r| plan.all_records || heads.contains_key(&r.run) || timed_out.contains(&r.run))
        .map(|r| {
            let head = heads.get(&r.run).copied().unwrap_or_else(|| queued.get(&r.run).and_then(|q| q.head_since));
            (r.run, serde_json::to_value(r).unwrap_or_default(), head)
        })
        .collect();
    if decisions.admitted.is_empty() && records.is_empty() && decisions.timeouts.is_empty() {
        // Nothing to write (the credits change only with an admission): no transaction at all.
        // A blocked backlog woken by every finish then costs one statement per cycle.
        crate::metrics::admission_cycle(started.elapsed(), &[], 0);
        return Ok(CycleOutcome { admitted: Vec::new(), stale: Vec::new(), more: decisions.more });
    }

    // The admissions, re-checked under row locks against the quotas as they are now and the use
    // as the snapshot saw it plus the batch's own requests (admission/admit.sql): each run carries
    // its namespace's use once it is admitted.
    let mut use_after: HashMap<&str, Resources> = HashMap::new();
    let runs: Vec<(RunId, &str, Resources)> = decisions
        .admitted
        .iter()
        .filter_map(|a| queued.get(&a.run))
        .map(|r| {
            let used = use_after
                .entry(r.namespace.as_str())
                .or_insert_with(|| snapshot.namespaces.get(&r.namespace).map(|ns| ns.used).unwrap_or_default());
            *used = used.saturating_add(&r.request);
            (r.id, r.namespace.as_str(), *used)
        })
        .collect();
    let batch = AdmitBatch { runs: &runs, now, wrr: (decisions.wrr.high, decisions.wrr.normal) };
    let done = if records.is_empty() && decisions.timeouts.is_empty() {
        // Admissions only (the common cycle): one statement, its own transaction.
        held.admit(epoch, &batch).await?
    } else {
        let mut tx = held.store().leader_tx(epoch).await?;
        let done = if runs.is_empty() { Admitted::default() } else { tx.admit(&batch).await? };
        if !records.is_empty() {
            tx.record_blocks(&records).await?;
        }
        timeouts(&mut tx, decisions, &queued, now).await?;
        tx.commit().await?;
        done
    };
    let Admitted { admitted, stale } = done;

    let at = snapshot.now;
    let waits: Vec<(&'static str, String, f64)> = admitted
        .iter()
        .filter_map(|id| queued.get(id))
        .map(|r| {
            (r.priority.as_str(), r.namespace.clone(), (at - r.enqueued_at).num_milliseconds().max(0) as f64 / 1000.0)
        })
        .collect();
    crate::metrics::admission_cycle(started.elapsed(), &waits, stale.len());
    Ok(CycleOutcome { admitted, stale, more: decisions.more })
}

/// Writes the head-timeout retries and cancellations, with their metrics.
async fn timeouts(
    tx: &mut LeaderTx,
    decisions: &admission::Decisions,
    queued: &HashMap<RunId, &QueuedRun>,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<()> {
    for t in &decisions.timeouts {
        match &t.action {
            HeadAction::Retry { not_before, retries } => {
                let message = format!("head timeout: retry {retries}, cooling down until {not_before}");
                tx.head_retry(t.run, *not_before, i32::try_from(*retries).unwrap_or(i32::MAX), &message, now).await?;
                if let Some(r) = queued.get(&t.run) {
                    crate::metrics::head_timeout("retry", &r.namespace, r.priority.as_str());
                }
            }
            HeadAction::Cancel { reason } => {
                tx.cancel(t.run, reason, "head_timeout", now).await?;
                if let Some(r) = queued.get(&t.run) {
                    crate::metrics::head_timeout("cancel", &r.namespace, r.priority.as_str());
                }
            }
        }
    }
    Ok(())
}
