//! Every metric name and description, and the Prometheus exporter. Labels come from small fixed
//! sets (method, route template, status, priority, outcome, configured names); never a run id.

use std::net::SocketAddr;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::resources::{Dimension, Resources};
use crate::scheduler::admission::{Decisions, Priority, Snapshot};
use crate::store::RunId;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// The (namespace, priority) queues this process has reported, so an emptied queue, or a lost
/// leadership, reads 0 rather than its last value.
static REPORTED_QUEUES: Mutex<BTreeSet<(String, &'static str)>> = Mutex::new(BTreeSet::new());

/// HTTP requests served, by method, route template and status.
pub const HTTP_REQUESTS: &str = "berth_http_requests_total";
/// HTTP request latency in seconds, by method and route template.
pub const HTTP_DURATION: &str = "berth_http_request_duration_seconds";
/// Runs accepted by the API.
pub const RUNS_SUBMITTED: &str = "berth_runs_submitted_total";
/// Runs claimed by this worker.
pub const RUNS_CLAIMED: &str = "berth_runs_claimed_total";
/// Attempts finished by this worker, by outcome.
pub const RUNS_FINISHED: &str = "berth_runs_finished_total";
/// Attempts executing on this worker.
pub const WORKER_RUNNING: &str = "berth_worker_running_runs";
/// Runs admitted by the leader, by priority and namespace.
pub const RUNS_ADMITTED: &str = "berth_runs_admitted_total";
/// Admissions refused at commit because the snapshot was stale.
pub const STALE_QUOTA_RETRIES: &str = "berth_stale_quota_retries_total";
/// Duration of one admission cycle in seconds.
pub const ADMISSION_CYCLE: &str = "berth_admission_cycle_duration_seconds";
/// Seconds from enqueue to admission, by priority and namespace.
pub const ADMISSION_WAIT: &str = "berth_admission_wait_seconds";
/// 1 while this process leads the scheduler.
pub const LEADER: &str = "berth_scheduler_leader";
/// The fencing epoch of the current leadership term held by this process.
pub const LEADER_EPOCH: &str = "berth_scheduler_leader_epoch";
/// Queued runs by namespace and priority, counted up to the admission scan limit (1,000 per queue:
/// no count over the whole table) (leader only).
pub const QUEUE_DEPTH: &str = "berth_queue_depth";
/// Namespace quota by namespace and dimension (leader only).
pub const QUOTA_LIMIT: &str = "berth_quota_limit";
/// Namespace quota used by admitted and running runs, by namespace and dimension (leader only).
pub const QUOTA_USED: &str = "berth_quota_used";
/// Free capacity of live workers, summed, by dimension (leader only).
pub const WORKER_FREE: &str = "berth_worker_free";
/// Live workers (leader only).
pub const WORKERS_LIVE: &str = "berth_workers_live";
/// Longest time a blocking head has blocked its queue, by namespace and priority (leader only).
pub const HEAD_BLOCKED: &str = "berth_head_blocked_seconds";
/// The blocking heads' shortfall by namespace, priority and dimension (leader only).
pub const HEAD_SHORTFALL: &str = "berth_head_shortfall";

/// Runs cancelled, by reason (api, head_timeout).
pub const RUNS_CANCELLED: &str = "berth_runs_cancelled_total";
/// Capacity of live workers, summed, by dimension (leader only).
pub const WORKER_CAPACITY: &str = "berth_worker_capacity";

/// Runs moved by the leader's timers, by kind (lost, unclaimed, woken).
pub const RUNS_RESCUED: &str = "berth_runs_rescued_total";
/// Head-of-queue timeouts, by action (retry, cancel).
pub const HEAD_TIMEOUTS: &str = "berth_head_timeouts_total";

/// Registers every description; call once per process.
pub fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests served, by method, route template and status.");
    describe_histogram!(HTTP_DURATION, metrics::Unit::Seconds, "HTTP request latency.");
    describe_counter!(RUNS_SUBMITTED, "Runs accepted by the API.");
    describe_counter!(RUNS_CLAIMED, "Runs claimed by this worker.");
    describe_counter!(RUNS_FINISHED, "Attempts finished by this worker, by outcome.");
    describe_gauge!(WORKER_RUNNING, "Attempts executing on this worker.");
    describe_counter!(RUNS_ADMITTED, "Runs admitted by the scheduler leader, by priority and namespace.");
    describe_counter!(STALE_QUOTA_RETRIES, "Admissions refused at commit because the snapshot was stale.");
    describe_histogram!(ADMISSION_CYCLE, metrics::Unit::Seconds, "Duration of one admission cycle.");
    describe_histogram!(
        ADMISSION_WAIT,
        metrics::Unit::Seconds,
        "Time from enqueue to admission, by priority and namespace."
    );
    describe_gauge!(LEADER, "1 while this process leads the scheduler.");
    describe_gauge!(LEADER_EPOCH, "Fencing epoch of the leadership term this process holds.");
    describe_counter!(HEAD_TIMEOUTS, "Head-of-queue timeouts, by action.");
    describe_counter!(
        RUNS_RESCUED,
        "Runs moved by the leader's timers: lost (dead worker), unclaimed (startup timeout), woken (back-off over)."
    );
}

/// Starts the exporter on `port` (all interfaces), serving `/metrics`. Port 0 disables it.
pub fn install(port: u16) -> Result<(), String> {
    if port == 0 {
        return Ok(());
    }
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
        ])
        .map_err(|e| e.to_string())?
        .install()
        .map_err(|e| format!("cannot serve metrics on port {port}: {e}"))?;
    describe();
    Ok(())
}

/// Records one HTTP request.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    counter!(HTTP_REQUESTS, "method" => method.to_string(), "route" => route.to_string(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method.to_string(), "route" => route.to_string()).record(took.as_secs_f64());
}

/// Records an accepted submission.
pub fn run_submitted() {
    counter!(RUNS_SUBMITTED).increment(1);
}

/// Records claims and the number of attempts now executing.
pub fn runs_claimed(n: usize, running: usize) {
    counter!(RUNS_CLAIMED).increment(n as u64);
    gauge!(WORKER_RUNNING).set(running as f64);
}

/// Records a finished attempt.
pub fn run_finished(outcome: &'static str, running: usize) {
    counter!(RUNS_FINISHED, "outcome" => outcome).increment(1);
    gauge!(WORKER_RUNNING).set(running as f64);
}

/// Records one admission cycle.
pub fn admission_cycle(took: Duration, admitted: &[(&'static str, String, f64)], stale: usize) {
    histogram!(ADMISSION_CYCLE).record(took.as_secs_f64());
    for (priority, namespace, wait) in admitted {
        counter!(RUNS_ADMITTED, "priority" => *priority, "namespace" => namespace.clone()).increment(1);
        histogram!(ADMISSION_WAIT, "priority" => *priority, "namespace" => namespace.clone()).record(*wait);
    }
    if stale > 0 {
        counter!(STALE_QUOTA_RETRIES).increment(stale as u64);
    }
}

/// Records a head timeout, and the cancellation it causes when no retry is left.
pub fn head_timeout(action: &'static str, namespace: &str, priority: &'static str) {
    counter!(HEAD_TIMEOUTS, "action" => action, "namespace" => namespace.to_string(), "priority" => priority)
        .increment(1);
    if action == "cancel" {
        run_cancelled("head_timeout");
    }
}

/// Records a cancelled run by reason (`api`, `head_timeout`).
pub fn run_cancelled(reason: &'static str) {
    counter!(RUNS_CANCELLED, "reason" => reason).increment(1);
}

/// Records leadership gained (with its epoch) or lost.
pub fn leadership(epoch: Option<i64>) {
    gauge!(LEADER).set(if epoch.is_some() { 1.0 } else { 0.0 });
    gauge!(LEADER_EPOCH).set(epoch.unwrap_or(0) as f64);
}

/// Records runs moved by the leader's timers.
pub fn rescued(lost: usize, unclaimed: usize, woken: usize) {
    counter!(RUNS_RESCUED, "kind" => "lost").increment(lost as u64);
    counter!(RUNS_RESCUED, "kind" => "unclaimed").increment(unclaimed as u64);
    counter!(RUNS_RESCUED, "kind" => "woken").increment(woken as u64);
}

/// Records the leader's queue-wide gauges from a cycle's snapshot and decisions. Labels are
/// namespaces (configured or created by quota), priorities and dimensions: small, bounded sets.
pub fn queue_snapshot(snapshot: &Snapshot, decisions: &Decisions) {
    // One pass over the queue and one over the records: (namespace, priority) -> figures.
    #[derive(Default)]
    struct Queue {
        depth: usize,
        blocked_seconds: f64,
        shortfall: [i64; 4],
    }
    let mut queues: HashMap<(&str, Priority), Queue> = HashMap::new();
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
            if let Some(i) = s.dimension.and_then(|d| Dimension::ALL.iter().position(|x| *x == d)) {
                q.shortfall[i] = q.shortfall[i].max(s.shortfall);
            }
        }
    }
    let empty = Queue::default();
    let mut reported = REPORTED_QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    for (ns, quota) in &snapshot.namespaces {
        for priority in [Priority::High, Priority::Normal] {
            let q = queues.get(&(ns.as_str(), priority)).unwrap_or(&empty);
            set_queue(ns, priority.as_str(), q.depth as f64, q.blocked_seconds, &q.shortfall);
            reported.insert((ns.clone(), priority.as_str()));
        }
        for d in Dimension::ALL {
            gauge!(QUOTA_LIMIT, "namespace" => ns.clone(), "dimension" => d.to_string()).set(quota.limit.get(d) as f64);
            gauge!(QUOTA_USED, "namespace" => ns.clone(), "dimension" => d.to_string()).set(quota.used.get(d) as f64);
        }
    }
    let free = snapshot.workers.iter().fold(Resources::default(), |acc, w| acc.saturating_add(&w.free));
    for d in Dimension::ALL {
        gauge!(WORKER_FREE, "dimension" => d.to_string()).set(free.get(d) as f64);
    }
    gauge!(WORKERS_LIVE).set(snapshot.workers.len() as f64);
}

/// Sets every reported queue's depth, head time and shortfall to 0: nothing is queued, or this
/// process no longer leads.
pub fn queues_empty() {
    let reported = REPORTED_QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    for (ns, priority) in reported.iter() {
        set_queue(ns, priority, 0.0, 0.0, &[0; 4]);
    }
}

fn set_queue(ns: &str, priority: &'static str, depth: f64, blocked_seconds: f64, shortfall: &[i64; 4]) {
    let labels = [("namespace", ns.to_string()), ("priority", priority.to_string())];
    gauge!(QUEUE_DEPTH, &labels).set(depth);
    gauge!(HEAD_BLOCKED, &labels).set(blocked_seconds);
    for (i, d) in Dimension::ALL.iter().enumerate() {
        gauge!(HEAD_SHORTFALL, "namespace" => ns.to_string(), "priority" => priority, "dimension" => d.to_string())
            .set(shortfall[i] as f64);
    }
}

/// Records the summed capacity of live workers (from the leader's snapshot rows).
pub fn worker_capacity(capacity: Resources) {
    for d in Dimension::ALL {
        gauge!(WORKER_CAPACITY, "dimension" => d.to_string()).set(capacity.get(d) as f64);
    }
}
