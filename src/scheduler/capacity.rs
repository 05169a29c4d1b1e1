//! The leader's capacity model, in one place: from the rows of one snapshot it sums the ledger
//! (each namespace's use, each user's running runs, each live worker's free capacity), fits the
//! admitted runs no worker has claimed yet onto the workers (first fit), builds the admission
//! snapshot, and computes the figures of the queue gauges (depth, head time, shortfall, free
//! capacity), which it hands to the plain setters of [`crate::metrics`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::admission::{Decisions, FairNamespaces, NamespaceUse, Priority, QueuedRun, Snapshot, WorkerFree, Wrr};
use crate::clock::Clock;
use crate::domain::{RunState, Sharing};
use crate::metrics::QueueFigures;
use crate::resources::{Dimension, Resources};
use crate::store::admission::SnapshotRows;
use crate::store::{RunId, WorkerId};

/// The ledger summed per scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Quota and use of every namespace, in the rows' order.
    pub namespaces: Vec<(String, NamespaceUse)>,
    /// Admitted and running runs per (user, service).
    pub user_running: HashMap<(String, String), i64>,
    /// Admitted and running runs per (namespace, user): the turns of a fair namespace.
    pub namespace_user_running: HashMap<(String, String), i64>,
    /// Live workers: capacity minus what their running runs use.
    pub workers: Vec<WorkerFree>,
    /// The live workers' capacity, summed.
    pub capacity: Resources,
    /// Admitted runs not yet claimed, oldest shape first: (service, request).
    pub unclaimed: Vec<(String, Resources)>,
}

/// Unclaimed admitted runs of one (service, request): how many, and the oldest admission.
type Shape = (i64, Option<DateTime<Utc>>);

/// Sums the active groups per scope: the namespaces' use, the runs per (user, service), the
/// workers' free capacity and the unclaimed admitted runs, oldest shape first.
pub fn ledger(rows: &SnapshotRows) -> Ledger {
    let mut used: HashMap<&str, Resources> = HashMap::new();
    let mut user_running = HashMap::new();
    let mut namespace_user_running = HashMap::new();
    let mut per_worker: HashMap<WorkerId, Resources> = HashMap::new();
    // (service, request) -> (runs, oldest admission)
    let mut shapes: HashMap<(&str, Resources), Shape> = HashMap::new();
    for g in &rows.active {
        let total = g.request.times(g.runs);
        let ns = used.entry(g.namespace.as_str()).or_default();
        *ns = ns.saturating_add(&total);
        *user_running.entry((g.user_id.clone(), g.service.clone())).or_default() += g.runs;
        *namespace_user_running.entry((g.namespace.clone(), g.user_id.clone())).or_default() += g.runs;
        match (g.state, g.worker_id) {
            (RunState::Running, Some(worker)) => {
                let w = per_worker.entry(worker).or_default();
                *w = w.saturating_add(&g.request.on_worker().times(g.runs));
            }
            (RunState::Admitted, _) => {
                let shape = shapes.entry((g.service.as_str(), g.request)).or_insert((0, g.first));
                // Every admitted run has its admission time (migration 0010's constraint).
                shape.0 += g.runs;
                shape.1 = shape.1.min(g.first);
            }
            _ => {}
        }
    }
    let namespaces = rows
        .namespaces
        .iter()
        .map(|q| {
            let used = used.get(q.name.as_str()).copied().unwrap_or_default();
            (q.name.clone(), NamespaceUse { limit: q.limit, used })
        })
        .collect();
    let workers = rows
        .workers
        .iter()
        .map(|w| {
            let used = per_worker.get(&w.id).copied().unwrap_or_default();
            WorkerFree { id: w.id, services: w.services.clone(), free: w.capacity.saturating_sub(&used) }
        })
        .collect();
    let capacity = rows.workers.iter().fold(Resources::default(), |acc, w| acc.saturating_add(&w.capacity));
    let mut unclaimed: Vec<_> = shapes.into_iter().collect();
    // Oldest shape first; ties in a fixed order.
    unclaimed.sort_by_key(|((service, r), (_, first))| (*first, *service, r.cpu, r.memory, r.pods, r.storage));
    let unclaimed = unclaimed
        .into_iter()
        .flat_map(|((service, request), (runs, _))| {
            std::iter::repeat_n((service.to_string(), request), usize::try_from(runs).unwrap_or(0))
        })
        .collect();
    Ledger { namespaces, user_running, namespace_user_running, workers, capacity, unclaimed }
}

/// Reduces each worker's free capacity by the admitted runs no worker has claimed yet, fitted
/// first-fit in the given order; a run that fits nowhere reduces nothing. A run takes at least
/// one slot of its worker ([`Resources::on_worker`]), as it does in the ledger.
pub fn fit_unclaimed(workers: &mut [WorkerFree], unclaimed: &[(String, Resources)]) {
    for (service, request) in unclaimed {
        let request = request.on_worker();
        if let Some(w) = workers.iter_mut().find(|w| w.services.contains(service) && request.fits_in(&w.free)) {
            w.free = w.free.saturating_sub(&request);
        }
    }
}

/// A queued run as the decision sees it.
pub fn queued_run(q: &crate::store::admission::QueuedRow) -> QueuedRun {
    QueuedRun {
        id: q.id,
        user: q.user_id.clone(),
        service: q.service.clone(),
        namespace: q.namespace.clone(),
        priority: q.priority,
        request: q.request,
        enqueued_at: q.enqueued_at,
        head_since: q.head_since,
        head_retries: u32::try_from(q.head_retries).unwrap_or(0),
        not_before: q.not_before,
    }
}

/// Builds the admission decision's input from the rows: the summed ledger, each worker's free
/// capacity reduced by the unclaimed admitted runs, and the queued runs. Records the live
/// workers' summed capacity.
pub fn snapshot(rows: &SnapshotRows, clock: &Clock, wrr: Wrr) -> Snapshot {
    let Ledger { namespaces, user_running, namespace_user_running, mut workers, capacity, unclaimed } = ledger(rows);
    crate::metrics::worker_capacity(capacity);
    fit_unclaimed(&mut workers, &unclaimed);
    let mut fair: FairNamespaces = rows
        .namespaces
        .iter()
        .filter(|q| q.sharing == Sharing::Fair)
        .map(|q| (q.name.clone(), HashMap::new()))
        .collect();
    for ((namespace, user), runs) in namespace_user_running {
        if let Some(users) = fair.get_mut(&namespace) {
            users.insert(user, u32::try_from(runs).unwrap_or(u32::MAX));
        }
    }
    Snapshot {
        // The database clock, unless a test injected one.
        now: clock.sql_now().unwrap_or(rows.now),
        queued: rows.queued.iter().map(queued_run).collect(),
        namespaces: namespaces.into_iter().collect(),
        running_per_user: user_running.into_iter().map(|(k, v)| (k, u32::try_from(v).unwrap_or(u32::MAX))).collect(),
        workers,
        wrr,
        fair,
    }
}

/// Each (namespace, priority) queue's figures from a cycle's snapshot and decisions: depth (runs
/// read, at most `depth_limit`: a fair namespace's read split over its users, and the reads past
/// users held by their cap, add runs beyond the read's size, and the gauge keeps one meaning), the
/// longest head time and the blocking heads' largest shortfall per dimension. Every priority of
/// every namespace with a quota is present (0 when nothing waits there).
pub fn queue_figures(
    snapshot: &Snapshot,
    decisions: &Decisions,
    depth_limit: usize,
) -> HashMap<(String, Priority), QueueFigures> {
    // One pass over the queue and one over the records: (namespace, priority) -> figures.
    let mut queues: HashMap<(&str, Priority), QueueFigures> = HashMap::new();
    let mut where_is: HashMap<RunId, (&str, Priority)> = HashMap::new();
    for r in &snapshot.queued {
        let key = (r.namespace.as_str(), r.priority);
        where_is.insert(r.id, key);
        let q = queues.entry(key).or_default();
        q.depth += 1;
        if let Some(since) = r.head_since {
            q.blocked_seconds = q.blocked_seconds.max((snapshot.now - since).num_milliseconds().max(0) as f64 / 1000.0);
        }
    }
    for rec in &decisions.records {
        let Some(key) = where_is.get(&rec.run) else { continue };
        let q = queues.entry(*key).or_default();
        for s in &rec.scopes {
            if let Some(d) = s.dimension {
                q.shortfall = raise(q.shortfall, d, s.shortfall);
            }
        }
    }
    let mut figures = HashMap::new();
    for ns in snapshot.namespaces.keys() {
        for priority in [Priority::High, Priority::Normal] {
            let mut q = queues.get(&(ns.as_str(), priority)).copied().unwrap_or_default();
            q.depth = q.depth.min(depth_limit);
            figures.insert((ns.clone(), priority), q);
        }
    }
    figures
}

/// `r` with dimension `d` raised to at least `value`.
fn raise(r: Resources, d: Dimension, value: i64) -> Resources {
    let mut out = r;
    let slot = match d {
        Dimension::Cpu => &mut out.cpu,
        Dimension::Memory => &mut out.memory,
        Dimension::Pods => &mut out.pods,
        Dimension::Storage => &mut out.storage,
    };
    *slot = (*slot).max(value);
    out
}

/// Records the leader's queue-wide gauges from a cycle's snapshot and decisions, the depth counted
/// up to `depth_limit` (the scan limit). Labels are namespaces (operator-created), priorities and
/// dimensions: small, bounded sets.
pub fn report(snapshot: &Snapshot, decisions: &Decisions, depth_limit: usize) {
    for ((ns, priority), q) in &queue_figures(snapshot, decisions, depth_limit) {
        crate::metrics::queue(ns, priority.as_str(), q);
    }
    for (ns, quota) in &snapshot.namespaces {
        crate::metrics::quota(ns, &quota.limit, &quota.used);
    }
    let free = snapshot.workers.iter().fold(Resources::default(), |acc, w| acc.saturating_add(&w.free));
    crate::metrics::workers(snapshot.workers.len(), &free);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::admission::{BlockReason, BlockRecord, Scope, Shortfall};
    use crate::store::admission::{ActiveGroup, LiveWorkerRow, QuotaRow};

    fn group(
        ns: &str,
        user: &str,
        state: &str,
        worker: Option<WorkerId>,
        cpu: i64,
        runs: i64,
        first: i64,
    ) -> ActiveGroup {
        ActiveGroup {
            namespace: ns.into(),
            user_id: user.into(),
            service: "svc".into(),
            state: state.parse().expect("a run state"),
            worker_id: worker,
            request: Resources { cpu, memory: 10, pods: 1, storage: 0 },
            runs,
            first: DateTime::from_timestamp(first, 0),
        }
    }

    fn rows(active: Vec<ActiveGroup>) -> SnapshotRows {
        let quota = |name: &str| QuotaRow {
            name: name.into(),
            limit: Resources { cpu: 10_000, memory: 10_000, pods: 100, storage: 100 },
            sharing: if name == "a" { Sharing::Fair } else { Sharing::Fifo },
        };
        let capacity = Resources { cpu: 4000, memory: 1000, pods: 10, storage: 100 };
        SnapshotRows {
            queued: Vec::new(),
            namespaces: vec![quota("a"), quota("idle")],
            workers: vec![LiveWorkerRow { id: WorkerId(1), services: vec!["svc".into()], capacity }],
            active,
            now: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_ledger_sums_each_scope_from_the_groups() {
        let rows = rows(vec![
            group("a", "u1", "running", Some(WorkerId(1)), 500, 2, 5),
            // Running on a worker that is no longer live: counts for its namespace and user only.
            group("a", "u1", "running", Some(WorkerId(9)), 100, 1, 5),
            group("a", "u2", "admitted", None, 250, 3, 30),
            group("a", "u1", "admitted", None, 250, 1, 20),
            group("a", "u1", "admitted", None, 700, 1, 40),
        ]);
        let Ledger { namespaces, user_running: users, namespace_user_running, workers, capacity, unclaimed } =
            ledger(&rows);
        assert_eq!(namespaces[0].1.used, Resources { cpu: 2800, memory: 80, pods: 8, storage: 0 });
        assert_eq!(namespaces[1].1.used, Resources::default(), "a namespace without runs uses nothing");
        assert_eq!(users[&("u1".to_string(), "svc".to_string())], 5);
        assert_eq!(users[&("u2".to_string(), "svc".to_string())], 3);
        assert_eq!(namespace_user_running[&("a".to_string(), "u1".to_string())], 5);
        assert_eq!(namespace_user_running[&("a".to_string(), "u2".to_string())], 3);
        let fair = snapshot(&rows, &Clock::System, Wrr::default()).fair;
        assert_eq!(fair.len(), 1, "only namespace a shares fairly: {fair:?}");
        assert_eq!(fair["a"]["u1"], 5);
        assert_eq!(fair["a"]["u2"], 3);
        assert_eq!(workers[0].free, Resources { cpu: 3000, memory: 980, pods: 8, storage: 100 });
        assert_eq!(capacity, Resources { cpu: 4000, memory: 1000, pods: 10, storage: 100 });
        let cpus: Vec<i64> = unclaimed.iter().map(|(_, r)| r.cpu).collect();
        assert_eq!(cpus, [250, 250, 250, 250, 700], "one shape for both users, oldest shape first");
    }

    #[test]
    fn unclaimed_runs_take_room_first_fit_on_a_worker_of_their_service() {
        let free = Resources { cpu: 1000, memory: 100, pods: 2, storage: 0 };
        let mut workers = vec![
            WorkerFree { id: WorkerId(1), services: vec!["other".into()], free },
            WorkerFree { id: WorkerId(2), services: vec!["svc".into()], free },
            WorkerFree { id: WorkerId(3), services: vec!["svc".into()], free },
        ];
        let run = |cpu| ("svc".to_string(), Resources { cpu, memory: 10, pods: 1, storage: 0 });
        fit_unclaimed(&mut workers, &[run(600), run(600), run(300), run(5000)]);
        assert_eq!(workers[0].free, free, "another service's worker keeps its room");
        assert_eq!(workers[1].free, Resources { cpu: 100, memory: 80, pods: 0, storage: 0 });
        assert_eq!(
            workers[2].free,
            Resources { cpu: 400, memory: 90, pods: 1, storage: 0 },
            "the second run fits here"
        );
    }

    #[test]
    fn queue_figures_count_depth_head_time_and_the_largest_shortfall() {
        let rows = rows(Vec::new());
        let mut snapshot = snapshot(&rows, &Clock::System, Wrr::default());
        let now = DateTime::from_timestamp(100, 0).unwrap_or_default();
        snapshot.now = now;
        let queued = |id: i64, head: Option<i64>| QueuedRun {
            id: RunId(id),
            user: "u".into(),
            service: "svc".into(),
            namespace: "a".into(),
            priority: Priority::High,
            request: Resources::default(),
            enqueued_at: now,
            head_since: head.and_then(|s| DateTime::from_timestamp(s, 0)),
            head_retries: 0,
            not_before: None,
        };
        snapshot.queued = vec![queued(1, Some(70)), queued(2, Some(90)), queued(3, None)];
        let shortfall = |d, v| Shortfall {
            scope: Scope::Pool { service: "svc".into() },
            dimension: Some(d),
            requested: 0,
            available: 0,
            shortfall: v,
        };
        let record = |run, scopes| BlockRecord {
            run: RunId(run),
            reason: BlockReason::NoWorkerWithRoom,
            scopes,
            position: 1,
            evaluated_at: now,
            message: String::new(),
        };
        let decisions = Decisions {
            records: vec![
                record(1, vec![shortfall(Dimension::Cpu, 500), shortfall(Dimension::Pods, 1)]),
                record(2, vec![shortfall(Dimension::Cpu, 900)]),
            ],
            ..Decisions::default()
        };
        let figures = queue_figures(&snapshot, &decisions, 10);
        assert_eq!(figures.len(), 4, "both priorities of both namespaces");
        let high = figures[&("a".to_string(), Priority::High)];
        assert_eq!(high.depth, 3);
        let counted_to_two = queue_figures(&snapshot, &decisions, 2);
        assert_eq!(counted_to_two[&("a".to_string(), Priority::High)].depth, 2, "counted up to the limit");
        assert_eq!(high.blocked_seconds, 30.0, "the longest head time");
        assert_eq!(high.shortfall, Resources { cpu: 900, memory: 0, pods: 1, storage: 0 });
        assert_eq!(figures[&("idle".to_string(), Priority::Normal)], QueueFigures::default());
    }
}
