//! The walk of one cycle: the queues in merged order, every scope checked per run, blocks and
//! head timers, on a working copy of the snapshot's capacity.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::model::{Admission, Decisions, HeadAction, HeadTimeout, Policy, Priority, QueuedRun, Snapshot, Wrr};
use super::why::{BlockReason, BlockRecord, Failure, Scope, Shortfall, dims_text, failure, format_duration, timestamp};
use crate::resources::{Dimension, Resources};
use crate::store::{RunId, WorkerId};

/// Queue weights for a high share: the percentage pair reduced by its gcd.
pub(super) fn weights(high_share_percent: u8) -> (i64, i64) {
    let high = i64::from(high_share_percent.min(100));
    let normal = 100 - high;
    let (mut a, mut b) = (high, normal);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    // a >= 1 because high + normal == 100.
    (high / a.max(1), normal / a.max(1))
}

const HIGH: usize = 0;
const NORMAL: usize = 1;

fn queue_index(priority: Priority) -> usize {
    match priority {
        Priority::High => HIGH,
        Priority::Normal => NORMAL,
    }
}

/// The three scopes every run is checked against, in record order.
pub(super) fn scopes_of(run: &QueuedRun) -> [Scope; 3] {
    [
        Scope::UserService { user: run.user.clone(), service: run.service.clone() },
        Scope::Namespace { namespace: run.namespace.clone() },
        Scope::Pool { service: run.service.clone() },
    ]
}

/// A worker's capacity in the cycle's working copy.
struct Slot<'a> {
    id: WorkerId,
    services: &'a [String],
    free: Resources,
}

/// A scope blocked by a head: who, and in which dimensions.
struct Block {
    head: RunId,
    dims: Vec<Option<Dimension>>,
}

/// One cycle's walk: the snapshot, the working copy of its capacity, and the decisions so far.
pub(super) struct Cycle<'a> {
    snap: &'a Snapshot,
    policy: &'a Policy,
    queues: [Vec<&'a QueuedRun>; 2],
    cursor: [usize; 2],
    weights: (i64, i64),
    wrr: Wrr,
    ns_added: BTreeMap<&'a str, Resources>,
    user_added: BTreeMap<(&'a str, &'a str), u32>,
    workers: Vec<Slot<'a>>,
    /// Scopes blocked by heads of each queue (index HIGH / NORMAL).
    blocked: [BTreeMap<Scope, Block>; 2],
    /// Runs looked at per (namespace, priority) queue that stay queued after this cycle.
    staying: BTreeMap<(&'a str, Priority), u32>,
    out: Decisions,
}

impl<'a> Cycle<'a> {
    /// Walks the snapshot's queues once and returns the decisions.
    pub(super) fn decide(snapshot: &'a Snapshot, policy: &'a Policy) -> Decisions {
        let mut cycle = Cycle::new(snapshot, policy);
        cycle.walk();
        cycle.out.wrr = cycle.wrr;
        cycle.out
    }

    fn new(snap: &'a Snapshot, policy: &'a Policy) -> Self {
        let mut queues: [Vec<&QueuedRun>; 2] = [Vec::new(), Vec::new()];
        for run in &snap.queued {
            queues[queue_index(run.priority)].push(run);
        }
        for queue in &mut queues {
            queue.sort_by_key(|a| (a.enqueued_at, a.id));
            super::fair::order(queue, &snap.fair);
        }
        let mut workers: Vec<Slot> =
            snap.workers.iter().map(|w| Slot { id: w.id, services: &w.services, free: w.free }).collect();
        workers.sort_by_key(|w| w.id);
        Cycle {
            snap,
            policy,
            queues,
            cursor: [0, 0],
            weights: weights(policy.high_share_percent),
            wrr: snap.wrr,
            ns_added: BTreeMap::new(),
            user_added: BTreeMap::new(),
            workers,
            blocked: [BTreeMap::new(), BTreeMap::new()],
            staying: BTreeMap::new(),
            out: Decisions::default(),
        }
    }

    fn open(&self, queue: usize) -> bool {
        self.cursor[queue] < self.queues[queue].len()
    }

    fn walk(&mut self) {
        loop {
            let open = [self.open(HIGH), self.open(NORMAL)];
            if !open[HIGH] && !open[NORMAL] {
                return;
            }
            if self.out.admitted.len() >= self.policy.batch_size {
                self.out.more = true;
                return;
            }
            let queue = match open {
                [true, true] => self.pick(),
                [true, false] => HIGH,
                _ => NORMAL,
            };
            // One turn: look at runs of the picked queue until one is admitted or none is left.
            while let Some(&run) = self.queues[queue].get(self.cursor[queue]) {
                self.cursor[queue] += 1;
                if self.visit(run) {
                    let both = self.open(1 - queue);
                    self.spend(queue, both);
                    break;
                }
            }
        }
    }

    /// The queue smooth WRR gives the turn to (ties go to high), without spending credits.
    fn pick(&self) -> usize {
        let (wh, wn) = self.weights;
        if wn == 0 {
            return HIGH;
        }
        if wh == 0 {
            return NORMAL;
        }
        let high = self.wrr.high.saturating_add(wh);
        let normal = self.wrr.normal.saturating_add(wn);
        if high >= normal { HIGH } else { NORMAL }
    }

    /// Spends credits for an admission from `queue`; `both` says whether the other queue competed.
    fn spend(&mut self, queue: usize, both: bool) {
        if !both {
            return;
        }
        let (wh, wn) = self.weights;
        self.wrr.high = self.wrr.high.saturating_add(wh);
        self.wrr.normal = self.wrr.normal.saturating_add(wn);
        let credit = if queue == HIGH { &mut self.wrr.high } else { &mut self.wrr.normal };
        *credit = credit.saturating_sub(wh + wn);
    }

    /// Looks at one run; returns whether it was admitted.
    fn visit(&mut self, run: &'a QueuedRun) -> bool {
        let now = self.snap.now;
        if let Some(until) = run.not_before
            && until > now
        {
            self.clear_head(run);
            let message = format!("cooling down after a head timeout until {}", timestamp(until));
            self.record(run, BlockReason::CoolingDown { until }, Vec::new(), message, true);
            return false;
        }
        if let Some((head, scopes, message)) = self.waiting(run) {
            self.clear_head(run);
            self.record(run, BlockReason::WaitingBehind { run: head }, scopes, message, true);
            return false;
        }
        match self.check(run) {
            Ok(slot) => {
                self.admit(run, slot);
                true
            }
            Err(failures) => {
                self.head(run, failures);
                false
            }
        }
    }

    /// The blocks that hold `run` back: the blocking head, the shortfall entries and the message.
    fn waiting(&self, run: &QueuedRun) -> Option<(RunId, Vec<Shortfall>, String)> {
        let own = queue_index(run.priority);
        let mut head = None;
        let mut entries = Vec::new();
        let mut parts = Vec::new();
        for scope in scopes_of(run) {
            let block = self.blocked[own]
                .get(&scope)
                .or_else(|| (own == NORMAL).then(|| self.blocked[HIGH].get(&scope)).flatten());
            let Some(block) = block else { continue };
            head.get_or_insert(block.head);
            parts.push(format!("run {}, blocked on {}", block.head, scope.label()));
            for &dim in &block.dims {
                entries.push(self.entry(run, &scope, dim));
            }
        }
        let head = head?;
        Some((head, entries, format!("waiting behind {}", parts.join("; "))))
    }

    /// A shortfall entry of `run` against `scope` in the current working state.
    fn entry(&self, run: &QueuedRun, scope: &Scope, dim: Option<Dimension>) -> Shortfall {
        let (requested, available) = match (scope, dim) {
            (Scope::UserService { .. }, _) => {
                let (cap, current) = self.user_count(run);
                (1, cap - current)
            }
            (Scope::Namespace { .. }, Some(d)) => {
                let requested = run.request.get(d);
                let available = self.ns_available(run).map_or(requested, |a| a.get(d));
                (requested, available)
            }
            (Scope::Pool { .. }, Some(d)) => {
                let available = self.serving(run).map(|w| w.free.get(d)).max().unwrap_or(0);
                (run.request.get(d), available)
            }
            (_, None) => (1, i64::try_from(self.serving(run).count()).unwrap_or(i64::MAX)),
        };
        Shortfall {
            scope: scope.clone(),
            dimension: dim,
            requested,
            available,
            shortfall: requested.saturating_sub(available).max(0),
        }
    }

    /// (cap, running including this cycle's admissions) for the run's user and service.
    fn user_count(&self, run: &QueuedRun) -> (i64, i64) {
        let cap = self.policy.runs_per_user.get(&run.service).copied().unwrap_or(self.policy.default_runs_per_user);
        let key = (run.user.clone(), run.service.clone());
        let running = self.snap.running_per_user.get(&key).copied().unwrap_or(0);
        let added = self.user_added.get(&(run.user.as_str(), run.service.as_str())).copied().unwrap_or(0);
        (i64::from(cap), i64::from(running) + i64::from(added))
    }

    /// What the run's namespace has left, or `None` when it is unlimited.
    fn ns_available(&self, run: &QueuedRun) -> Option<Resources> {
        let quota = self.snap.namespaces.get(&run.namespace)?;
        let added = self.ns_added.get(run.namespace.as_str()).copied().unwrap_or_default();
        Some(quota.limit.saturating_sub(&quota.used).saturating_sub(&added))
    }

    fn serving<'s>(&'s self, run: &'s QueuedRun) -> impl Iterator<Item = &'s Slot<'a>> + 's {
        self.workers.iter().filter(move |w| w.services.contains(&run.service))
    }

    /// Checks every scope: the best-fit worker index, or every failing scope.
    fn check(&self, run: &QueuedRun) -> Result<usize, Vec<Failure>> {
        let mut failures = Vec::new();
        let (cap, current) = self.user_count(run);
        if current >= cap {
            let scope = scopes_of(run)[0].clone();
            failures.push(Failure {
                entries: vec![Shortfall {
                    scope,
                    dimension: None,
                    requested: 1,
                    available: cap - current,
                    shortfall: 1 - (cap - current),
                }],
                text: format!(
                    "user {} already runs {current} of {cap} allowed runs of service {}",
                    run.user, run.service
                ),
            });
        }
        if let Some(available) = self.ns_available(run) {
            let gaps = Resources::shortfalls(&run.request, &available);
            if !gaps.is_empty() {
                let scope = Scope::Namespace { namespace: run.namespace.clone() };
                failures.push(failure(scope, &gaps, dims_text(&gaps, "available")));
            }
        }
        let fit = self
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.services.contains(&run.service))
            .filter(|(_, w)| run.request.on_worker().fits_in(&w.free))
            .min_by_key(|(_, w)| {
                let left = w.free.saturating_sub(&run.request.on_worker());
                (left.cpu, left.memory, left.pods, left.storage, w.id)
            })
            .map(|(i, _)| i);
        match fit {
            Some(slot) if failures.is_empty() => Ok(slot),
            Some(_) => Err(failures),
            None => {
                failures.push(self.pool_failure(run));
                Err(failures)
            }
        }
    }

    fn pool_failure(&self, run: &QueuedRun) -> Failure {
        let service = &run.service;
        // What the run takes of a worker: one slot at least.
        let request = run.request.on_worker();
        let scope = Scope::Pool { service: service.clone() };
        let closest = self.serving(run).min_by_key(|w| (Resources::shortfalls(&request, &w.free).len(), w.id));
        let Some(closest) = closest else {
            return Failure {
                entries: vec![Shortfall { scope, dimension: None, requested: 1, available: 0, shortfall: 1 }],
                text: format!("no live worker serves service {service}"),
            };
        };
        let largest = self.serving(run).fold(closest.free, |acc, w| acc.zip(&w.free, i64::max));
        let gaps = Resources::shortfalls(&request, &largest);
        if !gaps.is_empty() {
            let text = format!("no live worker of service {service} has room: {}", dims_text(&gaps, "largest free"));
            return failure(scope, &gaps, text);
        }
        let gaps = Resources::shortfalls(&request, &closest.free);
        let text = format!(
            "no single live worker of service {service} has room for the whole request; \
             worker {} comes closest: {}",
            closest.id,
            dims_text(&gaps, "free")
        );
        failure(scope, &gaps, text)
    }

    fn admit(&mut self, run: &'a QueuedRun, slot: usize) {
        *self.user_added.entry((run.user.as_str(), run.service.as_str())).or_default() += 1;
        let added = self.ns_added.entry(run.namespace.as_str()).or_default();
        *added = added.saturating_add(&run.request);
        let mut worker = WorkerId(0);
        if let Some(w) = self.workers.get_mut(slot) {
            w.free = w.free.saturating_sub(&run.request.on_worker());
            worker = w.id;
        }
        self.clear_head(run);
        self.out.admitted.push(Admission { run: run.id, worker });
    }

    /// A run that failed scopes without waiting behind anyone: it is a blocking head.
    fn head(&mut self, run: &'a QueuedRun, failures: Vec<Failure>) {
        let now = self.snap.now;
        let waited = now.signed_duration_since(run.head_since.unwrap_or(now));
        let reason = match failures.first().and_then(|f| f.entries.first()).map(|e| &e.scope) {
            Some(Scope::UserService { .. }) => BlockReason::UserCap,
            Some(Scope::Namespace { .. }) => BlockReason::WaitingForQuota,
            _ => BlockReason::NoWorkerWithRoom,
        };
        let texts: Vec<&str> = failures.iter().map(|f| f.text.as_str()).collect();
        let detail = texts.join("; ");
        let place = format!("blocked at the head of the {} queue of namespace {}", run.priority, run.namespace);
        let entries: Vec<Shortfall> = failures.into_iter().flat_map(|f| f.entries).collect();
        if waited >= self.policy.head_timeout {
            if run.head_since.is_some() {
                self.out.head_updates.push((run.id, None));
            }
            let summary = format!("{place} for {}: {detail}", format_duration(waited));
            if run.head_retries < self.policy.head_retry_count {
                let retries = run.head_retries.saturating_add(1);
                let not_before =
                    now.checked_add_signed(self.policy.head_retry_backoff).unwrap_or(DateTime::<Utc>::MAX_UTC);
                let message = format!(
                    "{summary}; head timeout, retry {retries} of {} not before {}",
                    self.policy.head_retry_count,
                    timestamp(not_before)
                );
                let action = HeadAction::Retry { not_before, retries };
                self.out.timeouts.push(HeadTimeout { run: run.id, action });
                // No cycle reads the run again until it cools (admission/snapshot.sql): this record
                // is what says why it waits until then, with the scopes that timed it out.
                self.record(run, BlockReason::CoolingDown { until: not_before }, entries, message, true);
            } else {
                let message = format!("cancelled: {summary}");
                let action = HeadAction::Cancel { reason: summary };
                self.out.timeouts.push(HeadTimeout { run: run.id, action });
                self.record(run, reason, entries, message, false);
            }
            return;
        }
        if run.head_since.is_none() {
            self.out.head_updates.push((run.id, Some(now)));
        }
        let blocked = &mut self.blocked[queue_index(run.priority)];
        for e in &entries {
            let block = blocked.entry(e.scope.clone()).or_insert_with(|| Block { head: run.id, dims: Vec::new() });
            if block.head == run.id {
                block.dims.push(e.dimension);
            }
        }
        let message = if waited > Duration::zero() {
            format!("{place} for {}: {detail}", format_duration(waited))
        } else {
            format!("{place}: {detail}")
        };
        self.record(run, reason, entries, message, true);
    }

    fn clear_head(&mut self, run: &QueuedRun) {
        if run.head_since.is_some() {
            self.out.head_updates.push((run.id, None));
        }
    }

    fn record(
        &mut self,
        run: &'a QueuedRun,
        reason: BlockReason,
        scopes: Vec<Shortfall>,
        message: String,
        stays: bool,
    ) {
        let ahead = self.staying.entry((run.namespace.as_str(), run.priority)).or_default();
        let position = ahead.saturating_add(1);
        if stays {
            *ahead = position;
        }
        self.out.records.push(BlockRecord {
            run: run.id,
            reason,
            scopes,
            position,
            evaluated_at: self.snap.now,
            message,
        });
    }
}
