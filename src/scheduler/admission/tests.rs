//! Table-driven and property tests of the admission decision.
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::walk::weights;
use super::why::format_duration;
use super::*;
use crate::store::{RunId, WorkerId};

const BASE: i64 = 1_700_000_000;
const HUGE: i64 = 1 << 40;

pub(super) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(BASE + secs, 0).expect("timestamp in range")
}

fn res(cpu: i64, memory: i64) -> Resources {
    Resources { cpu, memory, pods: 1, storage: 0 }
}

fn huge() -> Resources {
    Resources { cpu: HUGE, memory: HUGE, pods: HUGE, storage: HUGE }
}

fn mem_limit(memory: i64) -> NamespaceUse {
    NamespaceUse { limit: Resources { memory, ..huge() }, used: Resources::default() }
}

/// A run enqueued at `at(id)`, so FIFO order is id order.
fn qr(id: i64, priority: Priority, ns: &str, user: &str, service: &str, request: Resources) -> QueuedRun {
    QueuedRun {
        id: RunId(id),
        user: user.into(),
        service: service.into(),
        namespace: ns.into(),
        priority,
        request,
        enqueued_at: at(id),
        head_since: None,
        head_retries: 0,
        not_before: None,
    }
}

pub(super) fn hi(id: i64, ns: &str, memory: i64) -> QueuedRun {
    qr(id, Priority::High, ns, "u", "svc", res(100, memory))
}

pub(super) fn lo(id: i64, ns: &str, memory: i64) -> QueuedRun {
    qr(id, Priority::Normal, ns, "u", "svc", res(100, memory))
}

fn worker(id: i64, services: &[&str], free: Resources) -> WorkerFree {
    WorkerFree { id: WorkerId(id), services: services.iter().map(|s| s.to_string()).collect(), free }
}

pub(super) fn policy() -> Policy {
    Policy {
        high_share_percent: 90,
        batch_size: 1000,
        head_timeout: Duration::hours(1),
        head_retry_count: 0,
        head_retry_backoff: Duration::minutes(10),
        runs_per_user: HashMap::new(),
        default_runs_per_user: 1000,
    }
}

pub(super) fn snapshot(now: i64, queued: Vec<QueuedRun>) -> Snapshot {
    Snapshot {
        now: at(now),
        queued,
        namespaces: HashMap::new(),
        running_per_user: HashMap::new(),
        workers: vec![worker(1, &["svc", "gpu", "example", "other"], huge())],
        wrr: Wrr::default(),
        fair: HashMap::new(),
    }
}

fn ids(d: &Decisions) -> Vec<i64> {
    d.admitted.iter().map(|a| a.run.0).collect()
}

fn rec(d: &Decisions, id: i64) -> &BlockRecord {
    d.records.iter().find(|r| r.run == RunId(id)).unwrap_or_else(|| panic!("no record for run {id}: {d:#?}"))
}

fn sf(scope: Scope, dimension: Option<Dimension>, requested: i64, available: i64) -> Shortfall {
    Shortfall { scope, dimension, requested, available, shortfall: (requested - available).max(0) }
}

fn ns_scope(namespace: &str) -> Scope {
    Scope::Namespace { namespace: namespace.into() }
}

fn pool_scope(service: &str) -> Scope {
    Scope::Pool { service: service.into() }
}

fn wrr_string(d: &Decisions) -> String {
    d.admitted.iter().map(|a| if a.run.0 < 100 { 'H' } else { 'N' }).collect()
}

/// Applies a cycle's decisions to the queue the way the leader would.
pub(super) fn apply(queued: &mut Vec<QueuedRun>, d: &Decisions) {
    let cancelled: Vec<RunId> =
        d.timeouts.iter().filter(|t| matches!(t.action, HeadAction::Cancel { .. })).map(|t| t.run).collect();
    queued.retain(|r| !d.admitted.iter().any(|a| a.run == r.id) && !cancelled.contains(&r.id));
    for r in queued.iter_mut() {
        for (id, since) in &d.head_updates {
            if *id == r.id {
                r.head_since = *since;
            }
        }
        for t in &d.timeouts {
            if let (true, HeadAction::Retry { not_before, retries }) = (t.run == r.id, &t.action) {
                r.not_before = Some(*not_before);
                r.head_retries = *retries;
            }
        }
    }
}

#[test]
fn weights_reduce_the_percentage_pair() {
    let cases = [(90, (9, 1)), (75, (3, 1)), (50, (1, 1)), (60, (3, 2)), (33, (33, 67)), (100, (1, 0)), (0, (0, 1))];
    for (percent, expected) in cases {
        assert_eq!(weights(percent), expected, "percent {percent}");
    }
    assert_eq!(weights(200), (1, 0), "above 100 counts as 100");
}

#[test]
fn durations_are_formatted_for_people() {
    let cases =
        [(0, "0s"), (42, "42s"), (60, "1m0s"), (303, "5m3s"), (3600, "1h0m"), (3661, "1h1m"), (90_000, "25h0m")];
    for (secs, expected) in cases {
        assert_eq!(format_duration(Duration::seconds(secs)), expected);
    }
    assert_eq!(format_duration(Duration::seconds(-5)), "0s");
}

#[test]
fn wrr_sequences_follow_the_share() {
    // (percent, high runs, normal runs, batch, expected order)
    let cases: [(u8, i64, i64, usize, &str); 8] = [
        (90, 30, 30, 20, "HHHHHNHHHHHHHHHNHHHH"),
        (75, 30, 30, 8, "HHNHHHNH"),
        (60, 30, 30, 5, "HNHNH"),
        (50, 30, 30, 6, "HNHNHN"),
        (100, 30, 30, 5, "HHHHH"),
        (0, 30, 30, 5, "NNNNN"),
        (100, 0, 3, 5, "NNN"),
        (0, 3, 0, 5, "HHH"),
    ];
    for (percent, highs, normals, batch, expected) in cases {
        let mut queued: Vec<QueuedRun> = (1..=highs).map(|i| hi(i, "a", 1)).collect();
        queued.extend((101..101 + normals).map(|i| lo(i, "a", 1)));
        let p = Policy { high_share_percent: percent, batch_size: batch, ..policy() };
        let d = decide(&snapshot(10_000, queued), &p);
        assert_eq!(wrr_string(&d), expected, "percent {percent}");
    }
}

#[test]
fn wrr_credits_persist_across_cycles() {
    let mut queued: Vec<QueuedRun> = (1..=30).map(|i| hi(i, "a", 1)).collect();
    queued.extend((101..=130).map(|i| lo(i, "a", 1)));
    let one = decide(&snapshot(10_000, queued.clone()), &Policy { batch_size: 20, ..policy() });
    let mut order = String::new();
    let mut wrr = Wrr::default();
    for _ in 0..10 {
        let s = Snapshot { wrr, ..snapshot(10_000, queued.clone()) };
        let d = decide(&s, &Policy { batch_size: 2, ..policy() });
        assert!(d.more);
        order.push_str(&wrr_string(&d));
        apply(&mut queued, &d);
        wrr = d.wrr;
    }
    assert_eq!(order, wrr_string(&one));
    assert_eq!(wrr, one.wrr);
}

#[test]
fn a_blocked_turn_is_not_spent() {
    // (high runs, normal runs, credits in, expected admissions)
    let cases = [
        (vec![hi(1, "full", 50), hi(2, "full", 1)], vec![lo(101, "free", 1), lo(102, "free", 1)], (-3, 3), "NN"),
        (vec![hi(1, "free", 1), hi(2, "free", 1)], vec![lo(101, "full", 50), lo(102, "full", 1)], (-5, 5), "HH"),
        (vec![hi(1, "full", 50)], vec![lo(101, "full", 50)], (4, -4), ""),
    ];
    for (highs, normals, (h, n), expected) in cases {
        let mut s = snapshot(10_000, highs.into_iter().chain(normals).collect());
        s.namespaces.insert("full".into(), mem_limit(10));
        s.wrr = Wrr { high: h, normal: n };
        let d = decide(&s, &policy());
        assert_eq!(wrr_string(&d), expected);
        assert_eq!(d.wrr, s.wrr, "credits move only when both queues compete for an admission");
    }
}

#[test]
fn a_blocked_high_head_blocks_its_namespace_only() {
    let queued =
        vec![hi(1, "etl", 20_000), hi(2, "etl", 100), hi(3, "web", 100), lo(101, "etl", 100), lo(102, "web", 1)];
    let mut s = snapshot(10_000, queued);
    s.namespaces.insert("etl".into(), mem_limit(10_000));
    let d = decide(&s, &policy());
    assert_eq!(ids(&d), vec![3, 102]);
    let head = rec(&d, 1);
    assert_eq!(head.reason, BlockReason::WaitingForQuota);
    assert_eq!(head.scopes, vec![sf(ns_scope("etl"), Some(Dimension::Memory), 20_000, 10_000)]);
    assert_eq!(
        head.message,
        "blocked at the head of the high queue of namespace etl: memory requested 20000 MiB, available 10000 MiB"
    );
    let behind = rec(&d, 2);
    assert_eq!(behind.reason, BlockReason::WaitingBehind { run: RunId(1) });
    assert_eq!(behind.scopes, vec![sf(ns_scope("etl"), Some(Dimension::Memory), 100, 10_000)]);
    assert_eq!(behind.message, "waiting behind run 1, blocked on the quota of namespace etl");
    // A normal run must not take quota a waiting high head of its namespace waits for.
    assert_eq!(rec(&d, 101).reason, BlockReason::WaitingBehind { run: RunId(1) });
}

#[test]
fn a_blocked_normal_head_does_not_block_high_runs() {
    let queued = vec![hi(1, "etl", 100), lo(101, "etl", 20_000), lo(102, "etl", 100)];
    let mut s = snapshot(10_000, queued);
    s.namespaces.insert("etl".into(), mem_limit(10_000));
    // Share 0: the normal queue is walked first, so its head blocks before the high run is looked at.
    let d = decide(&s, &Policy { high_share_percent: 0, ..policy() });
    assert_eq!(ids(&d), vec![1]);
    assert_eq!(rec(&d, 101).reason, BlockReason::WaitingForQuota);
    assert_eq!(rec(&d, 102).reason, BlockReason::WaitingBehind { run: RunId(101) });
}

/// A run asking for no pods still takes a slot of its worker: a worker with one slot free admits
/// one of two such runs, and the other waits for worker room (its record says so in pods).
#[test]
fn a_run_asking_for_no_pods_takes_a_slot_of_its_worker() {
    let none = Resources { cpu: 1, memory: 1, pods: 0, storage: 0 };
    let queued = vec![qr(1, Priority::High, "a", "A", "svc", none), qr(2, Priority::High, "a", "B", "svc", none)];
    let mut s = snapshot(10_000, queued);
    s.workers = vec![worker(1, &["svc"], Resources { pods: 1, ..huge() })];
    let d = decide(&s, &policy());
    assert_eq!(ids(&d), [1]);
    let r = rec(&d, 2);
    assert_eq!(r.reason, BlockReason::NoWorkerWithRoom);
    assert_eq!(r.scopes, vec![sf(pool_scope("svc"), Some(Dimension::Pods), 1, 0)]);
}

#[test]
fn a_user_cap_blocks_only_that_user_and_service() {
    let queued = vec![
        qr(1, Priority::High, "a", "A", "svc", res(1, 1)),
        qr(2, Priority::High, "a", "B", "svc", res(1, 1)),
        qr(3, Priority::High, "a", "A", "svc", res(1, 1)),
        qr(4, Priority::High, "a", "A", "other", res(1, 1)),
    ];
    let mut s = snapshot(10_000, queued);
    s.running_per_user.insert(("A".into(), "svc".into()), 2);
    let user = Scope::UserService { user: "A".into(), service: "svc".into() };
    // (per-service caps, admitted, run 1's record, run 3's reason)
    let cases = [
        (
            vec![],
            vec![2, 4],
            Some("user A already runs 2 of 2 allowed runs of service svc"),
            BlockReason::WaitingBehind { run: RunId(1) },
        ),
        (vec![("svc", 3)], vec![1, 2, 4], None, BlockReason::UserCap),
    ];
    for (caps, admitted, first, third) in cases {
        let runs_per_user = caps.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let p = Policy { default_runs_per_user: 2, runs_per_user, ..policy() };
        let d = decide(&s, &p);
        assert_eq!(ids(&d), admitted);
        if let Some(text) = first {
            let r = rec(&d, 1);
            assert_eq!(r.reason, BlockReason::UserCap);
            assert_eq!(r.scopes, vec![sf(user.clone(), None, 1, 0)]);
            assert!(r.message.ends_with(text), "{}", r.message);
        }
        assert_eq!(rec(&d, 3).reason, third);
    }
}

#[test]
fn only_the_blocking_head_accrues_head_time() {
    let since = Some(at(5_000));
    let mut queued = vec![hi(1, "etl", 20_000), hi(2, "etl", 100), hi(3, "etl", 100), hi(4, "web", 1), hi(5, "web", 1)];
    queued.push(hi(6, "ops", 50));
    queued[1].head_since = since; // waiting behind 1
    queued[3].head_since = since; // admitted
    queued[4].head_since = since; // cooling down
    queued[4].not_before = Some(at(20_000));
    queued[5].head_since = Some(at(9_000)); // still the head of ops
    let mut s = snapshot(10_000, queued);
    s.namespaces.insert("etl".into(), mem_limit(10_000));
    s.namespaces.insert("ops".into(), mem_limit(10));
    let d = decide(&s, &policy());
    assert_eq!(ids(&d), vec![4]);
    assert_eq!(
        d.head_updates,
        vec![(RunId(1), Some(at(10_000))), (RunId(2), None), (RunId(4), None), (RunId(5), None)]
    );
    assert!(rec(&d, 6).message.contains("namespace ops for 16m40s: memory"), "{}", rec(&d, 6).message);
    assert!(d.timeouts.is_empty());
}

#[test]
fn a_head_times_out_to_cancel_without_retries() {
    let etl = |s: &mut Snapshot| {
        let quota = NamespaceUse {
            limit: Resources { memory: 77_824, ..huge() },
            used: Resources { memory: 65_536, ..Default::default() },
        };
        s.namespaces.insert("etl".into(), quota);
        vec![hi(1, "etl", 65_536), hi(2, "etl", 1_000)]
    };
    let user = |s: &mut Snapshot| {
        s.running_per_user.insert(("7".into(), "example".into()), 5);
        vec![
            qr(1, Priority::High, "etl", "7", "example", res(1, 1)),
            qr(2, Priority::High, "etl", "7", "example", res(1, 1)),
        ]
    };
    let pool = |s: &mut Snapshot| {
        s.workers = vec![worker(1, &["gpu"], Resources { cpu: 8_000, ..huge() })];
        let gpu = |id, cpu| qr(id, Priority::Normal, "ml", "u", "gpu", res(cpu, 1));
        vec![gpu(1, 64_000), gpu(2, 1_000)]
    };
    type Setup = fn(&mut Snapshot) -> Vec<QueuedRun>;
    // (setup, cancel reason, what happens to run 2 once the head is gone)
    let cases: [(Setup, &str, Option<BlockReason>); 3] = [
        (
            etl,
            "blocked at the head of the high queue of namespace etl for 1h0m: memory requested 65536 MiB, available 12288 MiB",
            None,
        ),
        (
            user,
            "blocked at the head of the high queue of namespace etl for 1h0m: user 7 already runs 5 of 5 allowed runs of service example",
            Some(BlockReason::UserCap),
        ),
        (
            pool,
            "blocked at the head of the normal queue of namespace ml for 1h0m: no live worker of service gpu has room: cpu requested 64000 m, largest free 8000 m",
            None,
        ),
    ];
    for (setup, reason, second) in cases {
        let mut s = snapshot(3_600, Vec::new());
        s.queued = setup(&mut s);
        s.queued[0].head_since = Some(at(0));
        let d = decide(&s, &Policy { default_runs_per_user: 5, ..policy() });
        assert_eq!(
            d.timeouts,
            vec![HeadTimeout { run: RunId(1), action: HeadAction::Cancel { reason: reason.into() } }]
        );
        assert_eq!(rec(&d, 1).message, format!("cancelled: {reason}"));
        // The cancelled head frees its scope: run 2 is evaluated on its own and becomes the new head or starts.
        match second {
            None => assert_eq!(ids(&d), vec![2]),
            Some(r) => assert_eq!(rec(&d, 2).reason, r),
        }
        assert_eq!(d.head_updates[0], (RunId(1), None));
    }
}

#[test]
fn a_head_is_retried_once_then_cancelled() {
    let p = Policy { head_retry_count: 1, ..policy() };
    let mut queued = vec![hi(1, "etl", 65_536)];
    let cancel =
        "blocked at the head of the high queue of namespace etl for 1h0m: memory requested 65536 MiB, available 10 MiB";
    let retry = HeadAction::Retry { not_before: at(4_200), retries: 1 };
    // (now, head updates, timeouts, run 1's reason)
    let steps = [
        (0, vec![(RunId(1), Some(at(0)))], vec![], BlockReason::WaitingForQuota),
        (1_800, vec![], vec![], BlockReason::WaitingForQuota),
        (3_600, vec![(RunId(1), None)], vec![retry], BlockReason::CoolingDown { until: at(4_200) }),
        (3_900, vec![], vec![], BlockReason::CoolingDown { until: at(4_200) }),
        (4_200, vec![(RunId(1), Some(at(4_200)))], vec![], BlockReason::WaitingForQuota),
        (7_799, vec![], vec![], BlockReason::WaitingForQuota),
        (
            7_800,
            vec![(RunId(1), None)],
            vec![HeadAction::Cancel { reason: cancel.into() }],
            BlockReason::WaitingForQuota,
        ),
    ];
    for (now, updates, timeouts, reason) in steps {
        let mut s = snapshot(now, queued.clone());
        s.namespaces.insert("etl".into(), mem_limit(10));
        let d = decide(&s, &p);
        assert_eq!(d.head_updates, updates, "at {now}");
        let actions: Vec<HeadAction> = d.timeouts.iter().map(|t| t.action.clone()).collect();
        assert_eq!(actions, timeouts, "at {now}");
        assert_eq!(rec(&d, 1).reason, reason, "at {now}");
        apply(&mut queued, &d);
    }
    assert!(queued.is_empty());
}

#[test]
fn worker_fragmentation_and_missing_workers() {
    let two = vec![
        worker(1, &["svc"], res(2_000, HUGE)),
        worker(2, &["svc"], res(2_000, HUGE)),
        worker(3, &["batch"], huge()),
    ];
    let crossed = vec![worker(1, &["svc"], res(4_000, 1_000)), worker(2, &["svc"], res(1_000, 4_000))];
    // (workers, request, shortfalls, message)
    let cases = [
        (
            two,
            res(3_000, 1),
            vec![sf(pool_scope("svc"), Some(Dimension::Cpu), 3_000, 2_000)],
            "no live worker of service svc has room: cpu requested 3000 m, largest free 2000 m",
        ),
        (
            crossed,
            res(2_000, 2_000),
            vec![sf(pool_scope("svc"), Some(Dimension::Memory), 2_000, 1_000)],
            "no single live worker of service svc has room for the whole request; worker 1 comes closest: memory requested 2000 MiB, free 1000 MiB",
        ),
        (vec![], res(1, 1), vec![sf(pool_scope("svc"), None, 1, 0)], "no live worker serves service svc"),
    ];
    for (workers, request, scopes, message) in cases {
        let queued = vec![
            qr(1, Priority::High, "a", "u", "svc", request),
            qr(2, Priority::High, "a", "u", "svc", res(1, 1)),
            qr(3, Priority::High, "a", "u", "batch", res(1, 1)),
        ];
        let s = Snapshot { workers, ..snapshot(10_000, queued) };
        let d = decide(&s, &policy());
        let r = rec(&d, 1);
        assert_eq!(r.reason, BlockReason::NoWorkerWithRoom);
        assert_eq!(r.scopes, scopes);
        assert_eq!(r.message, format!("blocked at the head of the high queue of namespace a: {message}"));
        assert_eq!(rec(&d, 2).reason, BlockReason::WaitingBehind { run: RunId(1) });
        assert_eq!(ids(&d).contains(&3), s.workers.iter().any(|w| w.id == WorkerId(3)));
    }
}

#[test]
fn best_fit_reserves_worker_room() {
    let svc = |id, cpu| qr(id, Priority::High, "a", &format!("u{id}"), "svc", res(cpu, 1));
    let queued = vec![svc(1, 2_000), svc(2, 2_000), svc(3, 5_000), svc(4, 2_000)];
    let s = Snapshot {
        workers: vec![
            worker(1, &["svc"], Resources { cpu: 8_000, ..huge() }),
            worker(2, &["svc"], Resources { cpu: 3_000, ..huge() }),
        ],
        ..snapshot(10_000, queued)
    };
    let d = decide(&s, &policy());
    let placed: Vec<(i64, i64)> = d.admitted.iter().map(|a| (a.run.0, a.worker.0)).collect();
    assert_eq!(placed, vec![(1, 2), (2, 1), (3, 1)]);
    assert_eq!(rec(&d, 4).scopes, vec![sf(pool_scope("svc"), Some(Dimension::Cpu), 2_000, 1_000)]);
}

#[test]
fn reason_precedence_lists_every_failing_scope() {
    let user = Scope::UserService { user: "u".into(), service: "svc".into() };
    // (running, quota, worker cpu, reason, failing scopes)
    let cases = [
        (1, 10, 50, BlockReason::UserCap, vec![user.clone(), ns_scope("a"), pool_scope("svc")]),
        (0, 10, 50, BlockReason::WaitingForQuota, vec![ns_scope("a"), pool_scope("svc")]),
        (0, 1_000, 50, BlockReason::NoWorkerWithRoom, vec![pool_scope("svc")]),
        (1, 1_000, 500, BlockReason::UserCap, vec![user.clone()]),
    ];
    for (running, quota, cpu, reason, scopes) in cases {
        let mut s = snapshot(10_000, vec![hi(1, "a", 100)]);
        s.running_per_user.insert(("u".into(), "svc".into()), running);
        s.namespaces.insert("a".into(), mem_limit(quota));
        s.workers = vec![worker(1, &["svc"], res(cpu, HUGE))];
        let d = decide(&s, &Policy { default_runs_per_user: 1, ..policy() });
        let r = rec(&d, 1);
        assert_eq!(r.reason, reason);
        assert_eq!(r.scopes.iter().map(|x| x.scope.clone()).collect::<Vec<_>>(), scopes);
        assert!(r.scopes.iter().all(|x| x.shortfall > 0));
    }
}

#[test]
fn batch_limit_sets_more_and_leaves_the_rest_unrecorded() {
    // (batch, queued memory sizes (over 10 is blocked), admitted, more, recorded)
    let cases = [
        (3, vec![1, 1, 1, 1, 1], vec![1, 2, 3], true, vec![]),
        (5, vec![1, 1, 1, 1, 1], vec![1, 2, 3, 4, 5], false, vec![]),
        (3, vec![1, 1, 1], vec![1, 2, 3], false, vec![]),
        (0, vec![1, 1], vec![], true, vec![]),
        (0, vec![], vec![], false, vec![]),
        (1, vec![50, 1, 1], vec![2], true, vec![1]),
    ];
    for (batch, sizes, admitted, more, recorded) in cases {
        let queued = sizes
            .iter()
            .zip(1..)
            .map(|(&m, id)| qr(id, Priority::High, if m > 10 { "a" } else { "b" }, &format!("u{id}"), "svc", res(1, m)))
            .collect();
        let mut s = snapshot(10_000, queued);
        s.namespaces.insert("a".into(), mem_limit(10));
        let d = decide(&s, &Policy { batch_size: batch, ..policy() });
        assert_eq!((ids(&d), d.more), (admitted, more), "batch {batch}");
        assert_eq!(d.records.iter().map(|r| r.run.0).collect::<Vec<_>>(), recorded);
    }
}

#[test]
fn a_cooling_run_is_skipped_and_blocks_nothing() {
    let mut queued = vec![hi(1, "a", 50), hi(2, "a", 5), hi(3, "a", 5)];
    queued[0].not_before = Some(at(2_000));
    queued[0].head_since = Some(at(500));
    queued[2].not_before = Some(at(1_000));
    let mut s = snapshot(1_000, queued);
    s.namespaces.insert("a".into(), mem_limit(10));
    let d = decide(&s, &policy());
    assert_eq!(ids(&d), vec![2, 3], "run 3's cool-down ends exactly now");
    let r = rec(&d, 1);
    assert_eq!((r.reason.clone(), r.scopes.len(), r.position), (BlockReason::CoolingDown { until: at(2_000) }, 0, 1));
    assert_eq!(d.head_updates, vec![(RunId(1), None)]);
    assert_eq!(s.queued[0].enqueued_at, at(1), "the run keeps its place");
}

#[test]
fn positions_count_the_runs_that_stay_queued_ahead() {
    let mut queued = vec![hi(1, "a", 500), hi(2, "a", 5_000), hi(3, "a", 10), hi(4, "a", 10), lo(101, "a", 10)];
    queued.extend([hi(5, "b", 5_000), hi(6, "b", 5_000), hi(7, "b", 10)]);
    queued[3].not_before = Some(at(20_000));
    queued[5].head_since = Some(at(0)); // run 5 is cancelled and leaves its queue
    let mut s = snapshot(10_000, queued);
    s.namespaces.insert("a".into(), mem_limit(1_000));
    s.namespaces.insert("b".into(), mem_limit(1_000));
    let d = decide(&s, &policy());
    assert_eq!(ids(&d), vec![1]);
    let positions: Vec<(i64, u32)> = d.records.iter().map(|r| (r.run.0, r.position)).collect();
    assert_eq!(positions, vec![(2, 1), (3, 2), (4, 3), (5, 1), (6, 1), (7, 2), (101, 1)]);
    assert_eq!(rec(&d, 7).reason, BlockReason::WaitingBehind { run: RunId(6) });
    assert!(d.records.iter().all(|r| r.evaluated_at == at(10_000)));
}

#[test]
fn an_absent_namespace_is_unlimited_and_input_order_does_not_matter() {
    let mut queued = vec![hi(3, "x", HUGE / 2), lo(102, "y", 5), hi(1, "y", 50), lo(101, "x", 1), hi(2, "y", 1)];
    let mut s = snapshot(10_000, queued.clone());
    s.namespaces.insert("y".into(), mem_limit(10));
    let d = decide(&s, &policy());
    assert_eq!(ids(&d), vec![3, 101]);
    queued.reverse();
    assert_eq!(decide(&Snapshot { queued, ..s.clone() }, &policy()), d);
}
