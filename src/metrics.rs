//! Every metric name and description, and the Prometheus exporter. Labels come from small fixed
//! sets (method, route template, status, priority, outcome, operator-created namespaces); never a
//! run id. Nothing here decides anything: callers compute the figures, these functions set them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::resources::{Dimension, Resources};

/// The (namespace, priority) queues this process has reported, so an emptied queue, or a lost
/// leadership, reads 0 rather than its last value.
static REPORTED_QUEUES: Mutex<BTreeSet<(String, &'static str)>> = Mutex::new(BTreeSet::new());
/// The (namespace, priority, service) usage series this process has reported, so that one whose
/// runs all ended reads 0 rather than its last value.
static REPORTED_USAGE: Mutex<BTreeSet<(String, &'static str, String)>> = Mutex::new(BTreeSet::new());

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
/// no count over the whole table), not those cooling down after a head timeout (leader only).
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
/// Schedule fire times decided by the leader, by outcome (started, replaced, skipped, missed, refused).
pub const SCHEDULE_FIRES: &str = "berth_schedule_fires_total";

/// Runs cleaned by retention (leader only).
pub const RUNS_CLEANED: &str = "berth_runs_cleaned_total";
/// Bytes of blobs retention deleted, by kind (result, input, orphan) (leader only).
pub const RETENTION_BYTES: &str = "berth_retention_deleted_bytes_total";
/// Rows retention deleted, by table (leader only).
pub const RETENTION_ROWS: &str = "berth_retention_deleted_rows_total";
/// Age of the oldest finished run not yet cleaned (leader only).
pub const OLDEST_FINISHED: &str = "berth_oldest_finished_run_age_seconds";

/// 1 while this process's last use of the database succeeded, 0 after a failure (schedulers: each
/// election attempt; workers: each heartbeat).
pub const DATABASE_UP: &str = "berth_database_up";

/// Resources held by admitted and running runs, by namespace, priority, service and dimension
/// (leader only).
pub const RESOURCES_IN_USE: &str = "berth_resources_in_use";

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

/// One metric: its name, kind, unit and the HELP text the exporter serves.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The series name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// The unit, when it has one (not appended to the name: the names carry it already).
    pub unit: Option<Unit>,
    /// The HELP text: what it counts, its labels, and who exports it.
    pub help: &'static str,
}

const fn metric(name: &'static str, kind: Kind, unit: Option<Unit>, help: &'static str) -> Metric {
    Metric { name, kind, unit, help }
}

/// Every metric berth exports. [`describe`] registers each one; a unit test fails when a name
/// above is missing here, so no metric goes out without HELP text.
pub const METRICS: &[Metric] = &[
    metric(HTTP_REQUESTS, Kind::Counter, None, "HTTP requests served, by method, route template and status."),
    metric(HTTP_DURATION, Kind::Histogram, Some(Unit::Seconds), "HTTP request latency, by method and route template."),
    metric(RUNS_SUBMITTED, Kind::Counter, None, "Runs accepted by the API."),
    metric(RUNS_CLAIMED, Kind::Counter, None, "Runs claimed by this worker."),
    metric(RUNS_FINISHED, Kind::Counter, None, "Attempts finished by this worker, by outcome."),
    metric(WORKER_RUNNING, Kind::Gauge, None, "Attempts executing on this worker."),
    metric(RUNS_ADMITTED, Kind::Counter, None, "Runs admitted by the scheduler leader, by priority and namespace."),
    metric(STALE_QUOTA_RETRIES, Kind::Counter, None, "Admissions refused at commit because the snapshot was stale."),
    metric(ADMISSION_CYCLE, Kind::Histogram, Some(Unit::Seconds), "Duration of one admission cycle."),
    metric(
        ADMISSION_WAIT,
        Kind::Histogram,
        Some(Unit::Seconds),
        "Time from enqueue to admission, by priority and namespace.",
    ),
    metric(LEADER, Kind::Gauge, None, "1 while this process leads the scheduler."),
    metric(LEADER_EPOCH, Kind::Gauge, None, "Fencing epoch of the leadership term this process holds (0: none)."),
    metric(
        QUEUE_DEPTH,
        Kind::Gauge,
        None,
        "Queued runs by namespace and priority, counted up to the admission scan limit, not those cooling down after a head timeout (leader only).",
    ),
    metric(QUOTA_LIMIT, Kind::Gauge, None, "Namespace quota by namespace and dimension (leader only)."),
    metric(
        QUOTA_USED,
        Kind::Gauge,
        None,
        "Namespace quota used by admitted and running runs, by namespace and dimension (leader only).",
    ),
    metric(
        WORKER_FREE,
        Kind::Gauge,
        None,
        "Free capacity of live workers, summed, by dimension, after fitting admitted unclaimed runs (leader only).",
    ),
    metric(WORKERS_LIVE, Kind::Gauge, None, "Live workers (leader only)."),
    metric(
        HEAD_BLOCKED,
        Kind::Gauge,
        Some(Unit::Seconds),
        "Longest time a blocking head has blocked its queue, by namespace and priority (leader only).",
    ),
    metric(
        HEAD_SHORTFALL,
        Kind::Gauge,
        None,
        "Largest shortfall of the blocking heads, by namespace, priority and dimension (leader only).",
    ),
    metric(RUNS_CANCELLED, Kind::Counter, None, "Runs cancelled, by reason (api, head_timeout)."),
    metric(WORKER_CAPACITY, Kind::Gauge, None, "Capacity of live workers, summed, by dimension (leader only)."),
    metric(
        RUNS_RESCUED,
        Kind::Counter,
        None,
        "Runs moved by the leader's timers: lost (dead worker), unclaimed (startup timeout), woken (back-off over).",
    ),
    metric(
        HEAD_TIMEOUTS,
        Kind::Counter,
        None,
        "Head-of-queue timeouts, by action (retry, cancel), namespace and priority.",
    ),
    metric(RUNS_CLEANED, Kind::Counter, None, "Runs cleaned by retention: files and logs removed (leader only)."),
    metric(
        RETENTION_BYTES,
        Kind::Counter,
        Some(Unit::Bytes),
        "Bytes of blobs deleted by retention, by kind (result, input, orphan) (leader only).",
    ),
    metric(
        RETENTION_ROWS,
        Kind::Counter,
        None,
        "Rows deleted by retention, by table (runs, attempts, run_events, run_logs, jobs, job_events, blobs) (leader only).",
    ),
    metric(
        OLDEST_FINISHED,
        Kind::Gauge,
        Some(Unit::Seconds),
        "Age of the oldest finished run not yet cleaned (leader only).",
    ),
    metric(
        SCHEDULE_FIRES,
        Kind::Counter,
        None,
        "Schedule fire times decided by the leader, by outcome (started, replaced, skipped, missed, refused).",
    ),
    metric(
        DATABASE_UP,
        Kind::Gauge,
        None,
        "1 while this process's last use of the database succeeded, 0 after a failure (schedulers and workers).",
    ),
    metric(
        RESOURCES_IN_USE,
        Kind::Gauge,
        None,
        "Resources held by admitted and running runs, by namespace, priority, service and dimension (leader only).",
    ),
];

/// The `outcome` labels of [`RUNS_FINISHED`]: a final state, or what else ended the attempt.
pub const FINISHED_OUTCOMES: [&str; 8] =
    ["succeeded", "failed", "timed_out", "cancelled", "aborted", "handed_back", "fenced", "store_error"];
/// The `reason` labels of [`RUNS_CANCELLED`].
pub const CANCEL_REASONS: [&str; 2] = ["api", "head_timeout"];
/// The `action` labels of [`HEAD_TIMEOUTS`].
pub const HEAD_TIMEOUT_ACTIONS: [&str; 2] = ["retry", "cancel"];
/// The priorities, as labels.
const PRIORITIES: [&str; 2] = ["high", "normal"];

/// Registers every description in [`METRICS`]; call once per process, after installing a recorder.
pub fn describe() {
    for m in METRICS {
        match (m.kind, m.unit) {
            (Kind::Counter, Some(unit)) => describe_counter!(m.name, unit, m.help),
            (Kind::Counter, None) => describe_counter!(m.name, m.help),
            (Kind::Gauge, Some(unit)) => describe_gauge!(m.name, unit, m.help),
            (Kind::Gauge, None) => describe_gauge!(m.name, m.help),
            (Kind::Histogram, Some(unit)) => describe_histogram!(m.name, unit, m.help),
            (Kind::Histogram, None) => describe_histogram!(m.name, m.help),
        }
    }
}

/// Starts the exporter on `addr`, serving `/metrics`. Port 0 disables it.
pub fn install(addr: SocketAddr) -> Result<(), String> {
    if addr.port() == 0 {
        return Ok(());
    }
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
        ])
        .map_err(|e| e.to_string())?
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    describe();
    Ok(())
}

/// Creates, at 0, the API's counter series whose labels are known before their first event, so
/// that a dashboard shows 0 rather than no data until then (and `rate()` sees the first increase).
pub fn register_api_series() {
    counter!(RUNS_SUBMITTED).increment(0);
    counter!(RUNS_CANCELLED, "reason" => "api").increment(0);
}

/// Creates a worker's counter series at 0 (see [`register_api_series`]).
pub fn register_worker_series() {
    counter!(RUNS_CLAIMED).increment(0);
    for outcome in FINISHED_OUTCOMES {
        counter!(RUNS_FINISHED, "outcome" => outcome).increment(0);
    }
    gauge!(WORKER_RUNNING).set(0.0);
}

/// Creates a scheduler's counter series at 0 (see [`register_api_series`]). Series labelled by
/// namespace start at 0 when the leader first reports the namespace ([`quota`]).
pub fn register_scheduler_series() {
    counter!(STALE_QUOTA_RETRIES).increment(0);
    counter!(RUNS_CLEANED).increment(0);
    for reason in CANCEL_REASONS {
        counter!(RUNS_CANCELLED, "reason" => reason).increment(0);
    }
    rescued(0, 0, 0);
    schedule_fires(0, 0, 0, 0, 0);
    retention_deleted(0, 0, 0, 0, 0, 0);
    retention_cleaned(0, 0, 0, 0, 0);
    retention_orphans(0, 0);
}

/// Records whether this process's last use of the database succeeded.
pub fn database_up(up: bool) {
    gauge!(DATABASE_UP).set(if up { 1.0 } else { 0.0 });
}

/// The HTTP methods the `method` label names; any other method a client sends reads `other`, so a
/// client cannot grow the label's set.
const HTTP_METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];

/// The `method` label of a request method: one of the nine standard methods, or `other`.
pub fn method_label(method: &str) -> &'static str {
    HTTP_METHODS.iter().find(|m| **m == method).copied().unwrap_or("other")
}

/// Records one HTTP request. `method` is bounded here ([`method_label`]); `route` must be a route
/// template or `unmatched`, never a raw path.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    let method = method_label(method);
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_string(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route.to_string()).record(took.as_secs_f64());
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

/// Records one cleaning batch: runs cleaned, log rows, blobs and their bytes deleted.
pub fn retention_cleaned(runs: i64, log_rows: i64, blobs: i64, result_bytes: i64, input_bytes: i64) {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    counter!(RUNS_CLEANED).increment(n(runs));
    counter!(RETENTION_ROWS, "table" => "run_logs").increment(n(log_rows));
    counter!(RETENTION_ROWS, "table" => "blobs").increment(n(blobs));
    counter!(RETENTION_BYTES, "kind" => "result").increment(n(result_bytes));
    counter!(RETENTION_BYTES, "kind" => "input").increment(n(input_bytes));
}

/// Records one deletion batch: rows deleted per table.
pub fn retention_deleted(runs: i64, attempts: i64, events: i64, log_rows: i64, jobs: i64, job_events: i64) {
    let tables =
        [("runs", runs), ("attempts", attempts), ("run_events", events), ("run_logs", log_rows), ("jobs", jobs)];
    for (table, rows) in tables.into_iter().chain([("job_events", job_events)]) {
        counter!(RETENTION_ROWS, "table" => table).increment(u64::try_from(rows).unwrap_or(0));
    }
}

/// Records orphan blobs deleted.
pub fn retention_orphans(blobs: i64, bytes: i64) {
    counter!(RETENTION_ROWS, "table" => "blobs").increment(u64::try_from(blobs).unwrap_or(0));
    counter!(RETENTION_BYTES, "kind" => "orphan").increment(u64::try_from(bytes).unwrap_or(0));
}

/// Records the age of the oldest finished run not yet cleaned.
pub fn oldest_finished_run(age_seconds: f64) {
    gauge!(OLDEST_FINISHED).set(age_seconds);
}

/// Counts the fire times one batch of schedules decided, by outcome.
pub fn schedule_fires(started: u64, replaced: u64, skipped: u64, missed: u64, refused: u64) {
    counter!(SCHEDULE_FIRES, "outcome" => "started").increment(started);
    counter!(SCHEDULE_FIRES, "outcome" => "replaced").increment(replaced);
    counter!(SCHEDULE_FIRES, "outcome" => "skipped").increment(skipped);
    counter!(SCHEDULE_FIRES, "outcome" => "refused").increment(refused);
    counter!(SCHEDULE_FIRES, "outcome" => "missed").increment(missed);
}

/// Figures of one (namespace, priority) queue, computed by the leader's capacity model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueueFigures {
    /// Queued runs read by the cycle, not cooling down (up to the scan limit).
    pub depth: usize,
    /// Longest time a blocking head has blocked the queue, in seconds.
    pub blocked_seconds: f64,
    /// The blocking heads' largest shortfall per dimension.
    pub shortfall: Resources,
}

/// Records one queue's depth, head time and shortfall, and remembers it so that
/// [`queues_empty`] can zero it later.
pub fn queue(namespace: &str, priority: &'static str, figures: &QueueFigures) {
    REPORTED_QUEUES.lock().unwrap_or_else(|e| e.into_inner()).insert((namespace.to_string(), priority));
    set_queue(namespace, priority, figures);
}

/// Records a namespace's quota and what its admitted and running runs use, and creates its
/// admission and head-timeout counters at 0.
pub fn quota(namespace: &str, limit: &Resources, used: &Resources) {
    for priority in PRIORITIES {
        counter!(RUNS_ADMITTED, "priority" => priority, "namespace" => namespace.to_string()).increment(0);
        for action in HEAD_TIMEOUT_ACTIONS {
            counter!(HEAD_TIMEOUTS, "action" => action, "namespace" => namespace.to_string(), "priority" => priority)
                .increment(0);
        }
    }
    for d in Dimension::ALL {
        gauge!(QUOTA_LIMIT, "namespace" => namespace.to_string(), "dimension" => d.to_string())
            .set(limit.get(d) as f64);
        gauge!(QUOTA_USED, "namespace" => namespace.to_string(), "dimension" => d.to_string()).set(used.get(d) as f64);
    }
}

/// Records the live workers: how many, and their free capacity summed.
pub fn workers(live: usize, free: &Resources) {
    for d in Dimension::ALL {
        gauge!(WORKER_FREE, "dimension" => d.to_string()).set(free.get(d) as f64);
    }
    gauge!(WORKERS_LIVE).set(live as f64);
}

/// Sets every reported queue's depth, head time and shortfall to 0: nothing is queued, or this
/// process no longer leads.
pub fn queues_empty() {
    let reported = REPORTED_QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    for (ns, priority) in reported.iter() {
        set_queue(ns, priority, &QueueFigures::default());
    }
}

fn set_queue(ns: &str, priority: &'static str, figures: &QueueFigures) {
    let labels = [("namespace", ns.to_string()), ("priority", priority.to_string())];
    gauge!(QUEUE_DEPTH, &labels).set(figures.depth as f64);
    gauge!(HEAD_BLOCKED, &labels).set(figures.blocked_seconds);
    for d in Dimension::ALL {
        gauge!(HEAD_SHORTFALL, "namespace" => ns.to_string(), "priority" => priority, "dimension" => d.to_string())
            .set(figures.shortfall.get(d) as f64);
    }
}

/// What the admitted and running runs of one (namespace, priority, service) hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Namespace.
    pub namespace: String,
    /// Priority.
    pub priority: &'static str,
    /// Service.
    pub service: String,
    /// Resources held.
    pub held: Resources,
}

/// Records what active runs hold; the groups reported before and absent now read 0.
pub fn usage(groups: &[Usage]) {
    let mut reported = REPORTED_USAGE.lock().unwrap_or_else(|e| e.into_inner());
    let now: BTreeSet<(String, &'static str, String)> =
        groups.iter().map(|u| (u.namespace.clone(), u.priority, u.service.clone())).collect();
    for (ns, priority, service) in reported.difference(&now) {
        set_usage(ns, priority, service, &Resources::default());
    }
    for u in groups {
        set_usage(&u.namespace, u.priority, &u.service, &u.held);
    }
    reported.extend(now);
}

fn set_usage(ns: &str, priority: &'static str, service: &str, held: &Resources) {
    for d in Dimension::ALL {
        let labels = [
            ("namespace", ns.to_string()),
            ("priority", priority.to_string()),
            ("service", service.to_string()),
            ("dimension", d.to_string()),
        ];
        gauge!(RESOURCES_IN_USE, &labels).set(held.get(d) as f64);
    }
}

/// Records the summed capacity of live workers (from the leader's snapshot rows).
pub fn worker_capacity(capacity: Resources) {
    for d in Dimension::ALL {
        gauge!(WORKER_CAPACITY, "dimension" => d.to_string()).set(capacity.get(d) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of every `pub const NAME: &str = "..."` in this file.
    fn declared_names() -> Vec<String> {
        include_str!("metrics.rs")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const ")?.split_once(": &str = \""))
            .filter_map(|(_, rest)| rest.split_once('"').map(|(name, _)| name.to_string()))
            .collect()
    }

    #[test]
    fn every_declared_metric_has_help_text() {
        let declared = declared_names();
        assert!(declared.len() >= 20, "the source scan finds the names: {declared:?}");
        for name in &declared {
            let m = METRICS.iter().find(|m| m.name == name);
            assert!(m.is_some(), "{name} is declared but missing from METRICS: it would have no HELP text");
        }
        assert_eq!(METRICS.len(), declared.len(), "METRICS lists each declared name once");
        for m in METRICS {
            assert!(!m.help.trim().is_empty(), "{} has empty help", m.name);
            assert!(m.name.starts_with("berth_"), "{} lacks the berth_ prefix", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                m.name
            );
        }
    }

    #[test]
    fn the_operations_guide_lists_every_metric() {
        let guide = include_str!("../docs/operations.md");
        for m in METRICS {
            assert!(guide.contains(&format!("| `{}` |", m.name)), "docs/operations.md does not list {}", m.name);
        }
    }

    #[test]
    fn the_method_label_is_a_known_method_or_other() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("get"), "other", "methods are case-sensitive");
        assert_eq!(method_label("XYZZY-1234"), "other");
    }
}
