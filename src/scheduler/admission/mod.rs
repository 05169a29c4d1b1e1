//! Pure admission decision of the scheduler leader: from one snapshot of queues, quotas and worker capacity it decides which queued runs start this cycle and records why every other run it looked at waits.
//!
//! # Decisions where the design document left a choice
//!
//! * **Walk order.** Each priority is one FIFO queue ordered by `(enqueued_at, id)`. Smooth
//!   weighted round robin picks the queue for each turn; a turn ends with one admission or
//!   when the picked queue has nothing admissible left, in which case the other queue gets the
//!   turn. Credits move only on an admission, and only while the other queue still has runs the
//!   cycle has not looked at; an admission from the only remaining queue leaves them unchanged,
//!   so a queue with nothing admissible never builds up a burst. A weight of 0 (share 0 or 100)
//!   means that queue only runs when the other one has nothing left.
//! * **Blocks follow priority.** A blocking head of the *high* queue blocks its failing scopes for
//!   later runs of *both* priorities: a normal run must never take the quota, user slot or worker
//!   room that a waiting high run is waiting for (that would be priority inversion). A blocking
//!   head of the *normal* queue blocks only later *normal* runs: a high run may overtake waiting
//!   normal runs, which is what the priority is for. Within one priority the rule is strict FIFO
//!   per scope. A (user, service) block covers only that user's runs of that service, a namespace
//!   block only that namespace, a pool block only runs of that service.
//! * **Only heads block.** A run that waits behind another head, or cools down, blocks nothing
//!   further, even if it would also fail some other scope: it cannot start anyway, and blocking
//!   on its behalf would only idle capacity.
//! * **Timed-out heads free their scopes.** A head that times out this cycle (retry or cancel) is
//!   not admitted and does not block: later runs are evaluated as if it were not there, and the
//!   next one that fails becomes the new head (with a fresh head timer).
//! * **Runs not looked at** (the batch limit stopped the walk first) keep their head timer as
//!   it is and get no record.
//! * **Worker choice** is best fit: among the live workers serving the service with room for the
//!   whole request, the one with the least leftover cpu, then memory, pods, storage, then the
//!   lowest id.
//! * **Position** is the place the run holds in its (namespace, priority) queue once this cycle's
//!   admissions and cancellations are applied (1 = first).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use crate::resources::{Dimension, Resources};
use crate::store::{RunId, WorkerId};

/// Share of admissions the high queue gets when both queues have admissible runs, per the design document.
pub const DEFAULT_HIGH_SHARE_PERCENT: u8 = 90;

/// Priority of a run; each priority is its own FIFO queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// The high queue, which gets `high_share_percent` of the admissions.
    High,
    /// The normal queue.
    Normal,
}

impl Priority {
    /// The priority's name: `high` or `normal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run waiting in a queue, as the snapshot sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRun {
    /// The run.
    pub id: RunId,
    /// The user who submitted it.
    pub user: String,
    /// The service it runs.
    pub service: String,
    /// The namespace whose quota it counts against.
    pub namespace: String,
    /// Which queue it waits in.
    pub priority: Priority,
    /// What it needs while it runs.
    pub request: Resources,
    /// When it was queued; FIFO order within a priority is `(enqueued_at, id)`.
    pub enqueued_at: DateTime<Utc>,
    /// Since when it has been a blocking head, if it is one.
    pub head_since: Option<DateTime<Utc>>,
    /// How many head timeouts it has already been retried after.
    pub head_retries: u32,
    /// Cool-down after a retried head timeout: not evaluated before this instant.
    pub not_before: Option<DateTime<Utc>>,
}

/// Quota and current use of one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NamespaceUse {
    /// The quota.
    pub limit: Resources,
    /// What running runs of the namespace use now.
    pub used: Resources,
}

/// Free capacity of one live worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerFree {
    /// The worker.
    pub id: WorkerId,
    /// The services it runs.
    pub services: Vec<String>,
    /// What it has free now.
    pub free: Resources,
}

/// Smooth weighted round robin credits of the two queues; they persist across cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Wrr {
    /// Credit of the high queue.
    pub high: i64,
    /// Credit of the normal queue.
    pub normal: i64,
}

/// Admission policy. No serde: `chrono::Duration` has no serde support; configuration maps onto it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Percentage of admissions that go to the high queue while both have admissible runs
    /// (see [`DEFAULT_HIGH_SHARE_PERCENT`]); values above 100 count as 100.
    pub high_share_percent: u8,
    /// Most admissions per cycle.
    pub batch_size: usize,
    /// How long a run may stay a blocking head before it times out.
    pub head_timeout: Duration,
    /// How many head timeouts are retried (with a cool-down) before the run is cancelled.
    pub head_retry_count: u32,
    /// Cool-down after a retried head timeout.
    pub head_retry_backoff: Duration,
    /// Concurrent runs one user may have per service, by service.
    pub runs_per_user: HashMap<String, u32>,
    /// Concurrent runs one user may have of a service missing from `runs_per_user`.
    pub default_runs_per_user: u32,
}

/// Everything one cycle looks at. No serde: JSON has no tuple map keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The injected clock: the instant this cycle decides at.
    pub now: DateTime<Utc>,
    /// Queued runs, in any order.
    pub queued: Vec<QueuedRun>,
    /// Quotas and use by namespace; a namespace missing here is unlimited.
    pub namespaces: HashMap<String, NamespaceUse>,
    /// Running runs per (user, service).
    pub running_per_user: HashMap<(String, String), u32>,
    /// Live workers and their free capacity.
    pub workers: Vec<WorkerFree>,
    /// Credits left by the previous cycle.
    pub wrr: Wrr,
}

/// A run to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The run.
    pub run: RunId,
    /// The worker it was fitted on: a hint only.
    pub worker: WorkerId,
}

/// A scope that can hold a run back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The concurrent-run cap of one user for one service.
    UserService {
        /// The user.
        user: String,
        /// The service.
        service: String,
    },
    /// The quota of a namespace.
    Namespace {
        /// The namespace.
        namespace: String,
    },
    /// The live workers that serve a service.
    Pool {
        /// The service.
        service: String,
    },
}

impl Scope {
    fn label(&self) -> String {
        match self {
            Scope::UserService { user, service } => {
                format!("the run limit of user {user} for service {service}")
            }
            Scope::Namespace { namespace } => format!("the quota of namespace {namespace}"),
            Scope::Pool { service } => format!("the workers of service {service}"),
        }
    }
}

/// How far one scope falls short for one run.
///
/// `dimension` is `None` for counts: the user cap (requested 1 run, available = allowed runs not
/// yet used) and a pool with no live worker at all (requested 1 worker, available 0). For a pool,
/// `available` is the largest free amount on any single serving worker; when every dimension fits
/// on some worker but no worker fits them all, the entries describe the worker that lacks the
/// fewest dimensions. In a `WaitingBehind` record the entries cover the dimensions the head
/// failed, with this run's request and the current availability; a shortfall of 0 means the run
/// would fit on its own and waits only for FIFO order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortfall {
    /// The scope.
    pub scope: Scope,
    /// The dimension, or `None` for a count.
    pub dimension: Option<Dimension>,
    /// What the run requests.
    pub requested: i64,
    /// What the scope has available after this cycle's earlier admissions (may be negative).
    pub available: i64,
    /// `requested - available`, at least 0.
    pub shortfall: i64,
}

/// Why a run looked at was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    /// Its namespace quota has no room (and the user cap does not fail).
    WaitingForQuota,
    /// Its user already runs as many runs of the service as allowed.
    UserCap,
    /// No live worker serving its service has room (and neither cap nor quota fails).
    NoWorkerWithRoom,
    /// An earlier run blocks a scope it shares.
    WaitingBehind {
        /// The blocking head of the first blocked scope (user, then namespace, then pool); for a
        /// normal run a head of its own queue is named before a high head.
        run: RunId,
    },
    /// It cools down after a retried head timeout.
    CoolingDown {
        /// End of the cool-down.
        until: DateTime<Utc>,
    },
}

/// Why a run looked at this cycle was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// The run.
    pub run: RunId,
    /// The reason.
    pub reason: BlockReason,
    /// Every failing (or, when waiting, blocked) scope and dimension.
    pub scopes: Vec<Shortfall>,
    /// 1-based place in its (namespace, priority) queue after this cycle.
    pub position: u32,
    /// The snapshot's `now`.
    pub evaluated_at: DateTime<Utc>,
    /// What a person reads.
    pub message: String,
}

/// What to do with a head that timed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadAction {
    /// Keep it queued, cooling down until `not_before`, with `retries` recorded.
    Retry {
        /// End of the cool-down.
        not_before: DateTime<Utc>,
        /// The new retry count.
        retries: u32,
    },
    /// Cancel it.
    Cancel {
        /// A sentence a person can act on.
        reason: String,
    },
}

/// A head timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadTimeout {
    /// The run.
    pub run: RunId,
    /// What to do with it.
    pub action: HeadAction,
}

/// The outcome of one cycle.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Decisions {
    /// Runs to start, in admission order.
    pub admitted: Vec<Admission>,
    /// Credits for the next cycle.
    pub wrr: Wrr,
    /// One record per run looked at and not admitted, in evaluation order.
    pub records: Vec<BlockRecord>,
    /// New `head_since` values, only where they change.
    pub head_updates: Vec<(RunId, Option<DateTime<Utc>>)>,
    /// Heads that timed out.
    pub timeouts: Vec<HeadTimeout>,
    /// The batch limit stopped the walk with runs not looked at.
    pub more: bool,
}

/// Decides one admission cycle. Pure: the same snapshot and policy give the same decisions.
pub fn decide(snapshot: &Snapshot, policy: &Policy) -> Decisions {
    let mut cycle = Cycle::new(snapshot, policy);
    cycle.walk();
    cycle.out.wrr = cycle.wrr;
    cycle.out
}

/// Queue weights for a high share: the percentage pair reduced by its gcd.
fn weights(high_share_percent: u8) -> (i64, i64) {
    let high = i64::from(high_share_percent.min(100));
    let normal = 100 - high;
    let (mut a, mut b) = (high, normal);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    // a >= 1 because high + normal == 100.
    (high / a.max(1), normal / a.max(1))
}

/// Formats a duration as `1h0m`, `5m3s` or `42s`.
fn format_duration(duration: Duration) -> String {
    let secs = duration.num_seconds().max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn amount(dimension: Dimension, value: i64) -> String {
    match dimension.unit() {
        "" => value.to_string(),
        unit => format!("{value} {unit}"),
    }
}

fn dims_text(gaps: &[(Dimension, i64, i64, i64)], label: &str) -> String {
    let parts: Vec<String> =
        gaps.iter().map(|&(d, r, a, _)| format!("{d} requested {}, {label} {}", amount(d, r), amount(d, a))).collect();
    parts.join(", ")
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

const HIGH: usize = 0;
const NORMAL: usize = 1;

fn queue_index(priority: Priority) -> usize {
    match priority {
        Priority::High => HIGH,
        Priority::Normal => NORMAL,
    }
}

fn scopes_of(run: &QueuedRun) -> [Scope; 3] {
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

/// One failing scope of a run: its shortfall entries and the words for them.
struct Failure {
    entries: Vec<Shortfall>,
    text: String,
}

struct Cycle<'a> {
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
    fn new(snap: &'a Snapshot, policy: &'a Policy) -> Self {
        let mut queues: [Vec<&QueuedRun>; 2] = [Vec::new(), Vec::new()];
        for run in &snap.queued {
            queues[queue_index(run.priority)].push(run);
        }
        for queue in &mut queues {
            queue.sort_by_key(|a| (a.enqueued_at, a.id));
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
            .filter(|(_, w)| run.request.fits_in(&w.free))
            .min_by_key(|(_, w)| {
                let left = w.free.saturating_sub(&run.request);
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
        let scope = Scope::Pool { service: service.clone() };
        let closest = self.serving(run).min_by_key(|w| (Resources::shortfalls(&run.request, &w.free).len(), w.id));
        let Some(closest) = closest else {
            return Failure {
                entries: vec![Shortfall { scope, dimension: None, requested: 1, available: 0, shortfall: 1 }],
                text: format!("no live worker serves service {service}"),
            };
        };
        let largest = self.serving(run).fold(closest.free, |acc, w| acc.zip(&w.free, i64::max));
        let gaps = Resources::shortfalls(&run.request, &largest);
        if !gaps.is_empty() {
            let text = format!("no live worker of service {service} has room: {}", dims_text(&gaps, "largest free"));
            return failure(scope, &gaps, text);
        }
        let gaps = Resources::shortfalls(&run.request, &closest.free);
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
            w.free = w.free.saturating_sub(&run.request);
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
                self.record(run, reason, entries, message, true);
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

fn failure(scope: Scope, gaps: &[(Dimension, i64, i64, i64)], text: String) -> Failure {
    let entries = gaps
        .iter()
        .map(|&(d, requested, available, shortfall)| Shortfall {
            scope: scope.clone(),
            dimension: Some(d),
            requested,
            available,
            shortfall,
        })
        .collect();
    Failure { entries, text }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
