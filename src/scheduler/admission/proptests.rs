//! Property tests of the admission decision: invariants over random snapshots and cycles.
use super::tests::{apply, at, hi, lo, policy, snapshot};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Duration;
use proptest::prelude::*;

use super::walk::{scopes_of, weights};
use super::*;
use crate::store::{RunId, WorkerId};

const NOW: i64 = 100_000;
const NAMES: [&str; 3] = ["a", "b", "c"];
const REQUEST: [i64; 4] = [4_000, 8_000, 2, 2_000];
const LIMIT_MIN: [i64; 4] = [2_000, 4_000, 2, 1_000];
const LIMIT_MAX: [i64; 4] = [24_000, 48_000, 16, 12_000];
const USED_MAX: [i64; 4] = [8_000, 16_000, 6, 4_000];
const WORKER_MIN: [i64; 4] = [1_000, 2_000, 1, 500];
const WORKER_MAX: [i64; 4] = [16_000, 32_000, 10, 8_000];

fn arb_resources(lo: [i64; 4], hi: [i64; 4]) -> impl Strategy<Value = Resources> {
    (lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2], lo[3]..=hi[3]).prop_map(|(cpu, memory, pods, storage)| Resources {
        cpu,
        memory,
        pods,
        storage,
    })
}

type RunSpec = (usize, usize, usize, bool, Resources, i64, Option<i64>, u32, Option<i64>);

fn arb_specs(max: usize) -> impl Strategy<Value = Vec<RunSpec>> {
    let spec = (
        0..3usize,
        0..3usize,
        0..3usize,
        any::<bool>(),
        arb_resources([0; 4], REQUEST),
        0..40i64,
        prop::option::weighted(0.3, 0..8_000i64),
        0..3u32,
        prop::option::weighted(0.15, -600..600i64),
    );
    prop::collection::vec(spec, 0..max)
}

fn build_run(id: i64, now: i64, spec: RunSpec) -> QueuedRun {
    let (u, s, n, high, request, enq, head, head_retries, cool) = spec;
    QueuedRun {
        id: RunId(id),
        user: format!("u{u}"),
        service: format!("s{s}"),
        namespace: NAMES[n].into(),
        priority: if high { Priority::High } else { Priority::Normal },
        request,
        enqueued_at: at(now - 1_000 + enq),
        head_since: head.map(|h| at(now - h)),
        head_retries,
        not_before: cool.map(|c| at(now + c)),
    }
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        prop_oneof![Just(0u8), Just(50), Just(90), Just(100), 0..=100u8],
        0..25usize,
        0..7_200i64,
        0..3u32,
        0..1_200i64,
        prop::collection::vec(prop::option::of(1..6u32), 3),
        2..6u32,
    )
        .prop_map(|(share, batch, timeout, retries, backoff, caps, default)| Policy {
            high_share_percent: share,
            batch_size: batch,
            head_timeout: Duration::seconds(timeout),
            head_retry_count: retries,
            head_retry_backoff: Duration::seconds(backoff),
            runs_per_user: caps.iter().enumerate().filter_map(|(i, c)| c.map(|c| (format!("s{i}"), c))).collect(),
            default_runs_per_user: default,
        })
}

type WorldParts = (Vec<Option<Resources>>, Vec<(u8, Resources)>);

fn arb_world() -> impl Strategy<Value = WorldParts> {
    let limits = prop::collection::vec(prop::option::weighted(0.8, arb_resources(LIMIT_MIN, LIMIT_MAX)), 3);
    let workers = prop::collection::vec((1..8u8, arb_resources(WORKER_MIN, WORKER_MAX)), 0..6);
    (limits, workers)
}

fn build_workers(parts: &[(u8, Resources)]) -> Vec<WorkerFree> {
    let services = |mask: u8| (0..3).filter(|b| mask & (1 << b) != 0).map(|b| format!("s{b}")).collect();
    parts
        .iter()
        .zip(1..)
        .map(|(&(mask, free), id)| WorkerFree { id: WorkerId(id), services: services(mask), free })
        .collect()
}

fn arb_snapshot() -> impl Strategy<Value = (Snapshot, Policy)> {
    let used = prop::collection::vec(arb_resources([0; 4], USED_MAX), 3);
    let running = prop::collection::vec(0..3u32, 9);
    (arb_specs(40), arb_world(), used, running, arb_policy(), -12..12i64).prop_map(
        |(specs, (limits, workers), used, running, policy, credit)| {
            let queued = specs.into_iter().zip(1..).map(|(spec, id)| build_run(id, NOW, spec)).collect();
            let namespaces = limits
                .iter()
                .zip(&used)
                .zip(NAMES)
                .filter_map(|((l, u), n)| l.map(|limit| (n.to_string(), NamespaceUse { limit, used: *u })))
                .collect();
            let running_per_user =
                running.iter().enumerate().map(|(i, &c)| ((format!("u{}", i / 3), format!("s{}", i % 3)), c)).collect();
            let s = Snapshot {
                now: at(NOW),
                queued,
                namespaces,
                running_per_user,
                workers: build_workers(&workers),
                wrr: Wrr { high: credit, normal: -credit },
                fair: HashMap::new(),
            };
            (s, policy)
        },
    )
}

fn is_head(reason: &BlockReason) -> bool {
    matches!(reason, BlockReason::UserCap | BlockReason::WaitingForQuota | BlockReason::NoWorkerWithRoom)
}

/// Checks every invariant of one cycle's output, recomputing from the snapshot.
fn check(s: &Snapshot, p: &Policy, d: &Decisions) -> Result<(), TestCaseError> {
    let now = s.now;
    let by_id: HashMap<RunId, &QueuedRun> = s.queued.iter().map(|r| (r.id, r)).collect();
    let fifo = |r: &QueuedRun| (r.enqueued_at, r.id);
    let admitted: BTreeSet<RunId> = d.admitted.iter().map(|a| a.run).collect();
    let timed: BTreeMap<RunId, &HeadAction> = d.timeouts.iter().map(|t| (t.run, &t.action)).collect();
    let cancelled = |id: RunId| matches!(timed.get(&id), Some(HeadAction::Cancel { .. }));
    prop_assert_eq!(admitted.len(), d.admitted.len(), "admitted twice");
    prop_assert_eq!(timed.len(), d.timeouts.len(), "timed out twice");
    let records: BTreeMap<RunId, &BlockRecord> = d.records.iter().map(|r| (r.run, r)).collect();
    prop_assert_eq!(records.len(), d.records.len(), "recorded twice");
    prop_assert!(records.keys().all(|id| by_id.contains_key(id) && !admitted.contains(id)));
    prop_assert!(d.admitted.len() <= p.batch_size);
    if d.more {
        prop_assert_eq!(d.admitted.len(), p.batch_size);
        prop_assert!(admitted.len() + records.len() < s.queued.len());
    } else {
        prop_assert_eq!(admitted.len() + records.len(), s.queued.len(), "every run looked at");
    }
    // No overcommit.
    let mut ns_sum: BTreeMap<&str, Resources> = BTreeMap::new();
    let mut worker_sum: BTreeMap<WorkerId, Resources> = BTreeMap::new();
    let mut user_sum: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    for a in &d.admitted {
        let r = by_id[&a.run];
        prop_assert!(r.not_before.is_none_or(|nb| nb <= now), "a cooling run was admitted");
        let w = s.workers.iter().find(|w| w.id == a.worker);
        prop_assert!(w.is_some_and(|w| w.services.contains(&r.service)), "worker does not serve the run");
        let e = ns_sum.entry(&r.namespace).or_default();
        *e = e.saturating_add(&r.request);
        let e = worker_sum.entry(a.worker).or_default();
        *e = e.saturating_add(&r.request);
        *user_sum.entry((&r.user, &r.service)).or_default() += 1;
    }
    for (ns, sum) in &ns_sum {
        if let Some(q) = s.namespaces.get(*ns) {
            prop_assert!(q.used.saturating_add(sum).fits_in(&q.limit), "namespace {} overcommitted", ns);
        }
    }
    for w in &s.workers {
        prop_assert!(
            worker_sum.get(&w.id).copied().unwrap_or_default().fits_in(&w.free),
            "worker {} overcommitted",
            w.id
        );
    }
    for ((user, service), n) in &user_sum {
        let cap = p.runs_per_user.get(*service).copied().unwrap_or(p.default_runs_per_user);
        let running = s.running_per_user.get(&(user.to_string(), service.to_string())).copied().unwrap_or(0);
        prop_assert!(running + n <= cap, "user {} over the cap of {}", user, service);
    }
    // Blocking heads, scoped FIFO and waiting records.
    for r in &d.records {
        let run = by_id[&r.run];
        prop_assert_eq!(r.evaluated_at, now);
        // Cooling down: since an earlier cycle, or from this one's head-timeout retry.
        let retried = matches!(timed.get(&r.run), Some(HeadAction::Retry { .. }));
        let cooling = run.not_before.is_some_and(|nb| nb > now) || retried;
        prop_assert_eq!(cooling, matches!(r.reason, BlockReason::CoolingDown { .. }));
        if is_head(&r.reason) {
            prop_assert!(!r.scopes.is_empty() && r.scopes.iter().all(|x| x.shortfall > 0));
            let first = match r.scopes[0].scope {
                Scope::UserService { .. } => BlockReason::UserCap,
                Scope::Namespace { .. } => BlockReason::WaitingForQuota,
                Scope::Pool { .. } => BlockReason::NoWorkerWithRoom,
            };
            prop_assert_eq!(&first, &r.reason);
            if timed.contains_key(&r.run) {
                continue;
            }
            let failing: BTreeSet<&Scope> = r.scopes.iter().map(|x| &x.scope).collect();
            for b in d.admitted.iter().map(|a| by_id[&a.run]) {
                let shares = scopes_of(b).iter().any(|sc| failing.contains(sc));
                let later = b.priority == run.priority && fifo(b) > fifo(run);
                prop_assert!(!(shares && later), "run {} jumped blocked head {}", b.id, run.id);
            }
        }
        if let BlockReason::WaitingBehind { run: head } = r.reason {
            let h = records.get(&head).filter(|h| is_head(&h.reason) && !timed.contains_key(&head));
            prop_assert!(h.is_some(), "run {} waits behind {} which is not a blocking head", r.run, head);
            let (h, hrun) = (h.map(|h| &h.scopes).into_iter().flatten(), by_id[&head]);
            let own = scopes_of(run);
            prop_assert!(h.into_iter().any(|x| own.contains(&x.scope)));
            let before = (hrun.priority == run.priority && fifo(hrun) < fifo(run))
                || (hrun.priority == Priority::High && run.priority == Priority::Normal);
            prop_assert!(before);
            prop_assert!(!r.scopes.is_empty() && r.scopes.iter().all(|x| own.contains(&x.scope)));
        }
        // Position: runs ahead in its (namespace, priority) queue that stay queued.
        let ahead = s
            .queued
            .iter()
            .filter(|q| q.namespace == run.namespace && q.priority == run.priority && fifo(q) < fifo(run))
            .filter(|q| !admitted.contains(&q.id) && !cancelled(q.id))
            .count();
        prop_assert_eq!(r.position as usize, ahead + 1);
    }
    // Head time.
    let mut updated = BTreeSet::new();
    for (id, since) in &d.head_updates {
        prop_assert!(updated.insert(*id), "two head updates for run {}", id);
        prop_assert!(by_id.get(id).is_some_and(|r| r.head_since != *since), "update without change");
    }
    let final_since =
        |id: RunId| d.head_updates.iter().find(|(i, _)| *i == id).map_or(by_id[&id].head_since, |(_, since)| *since);
    for id in &admitted {
        prop_assert_eq!(final_since(*id), None);
    }
    for r in &d.records {
        let since = final_since(r.run);
        if is_head(&r.reason) && !timed.contains_key(&r.run) {
            prop_assert!(since.is_some_and(|t| t <= now && now - t < p.head_timeout), "head time unbounded");
        } else {
            prop_assert_eq!(since, None);
        }
    }
    for t in &d.timeouts {
        let run = by_id[&t.run];
        prop_assert!(now - run.head_since.unwrap_or(now) >= p.head_timeout);
        match &t.action {
            HeadAction::Retry { not_before, retries } => {
                // Timed out as a head; the record says until when it cools, with the scopes that
                // held it (no cycle reads it again before then).
                let cooling = BlockReason::CoolingDown { until: *not_before };
                let record = records.get(&t.run);
                prop_assert!(record.is_some_and(|r| r.reason == cooling && !r.scopes.is_empty()));
                prop_assert!(run.head_retries < p.head_retry_count);
                prop_assert_eq!((*not_before, *retries), (now + p.head_retry_backoff, run.head_retries + 1));
            }
            HeadAction::Cancel { reason } => {
                prop_assert!(records.get(&t.run).is_some_and(|r| is_head(&r.reason)));
                prop_assert!(run.head_retries >= p.head_retry_count);
                prop_assert!(reason.starts_with("blocked at the head of the "));
            }
        }
    }
    // Credits move only with admissions and keep their sum.
    if d.admitted.is_empty() {
        prop_assert_eq!(d.wrr, s.wrr);
    }
    prop_assert_eq!(d.wrr.high + d.wrr.normal, s.wrr.high + s.wrr.normal);
    Ok(())
}

fn shuffled<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        out.swap(i, (seed >> 33) as usize % (i + 1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn one_cycle_keeps_every_invariant((s, p) in arb_snapshot(), seed in any::<u64>()) {
        let d = decide(&s, &p);
        check(&s, &p, &d)?;
        prop_assert_eq!(&decide(&s, &p), &d);
        let other = Snapshot { queued: shuffled(&s.queued, seed), workers: shuffled(&s.workers, !seed), ..s.clone() };
        prop_assert_eq!(&decide(&other, &p), &d);
    }

    #[test]
    fn admissions_follow_the_share_when_everything_fits(
        share in prop::sample::select(vec![10u8, 20, 25, 50, 60, 75, 80, 90]),
        warm in 0..20usize,
        batch in 20..50usize,
        extra in 0..10i64,
    ) {
        let (wh, wn) = weights(share);
        let mut wrr = Wrr::default();
        for _ in 0..warm {
            let high = wrr.high + wh >= wrr.normal + wn;
            (wrr.high, wrr.normal) = (wrr.high + wh, wrr.normal + wn);
            if high { wrr.high -= wh + wn } else { wrr.normal -= wh + wn }
        }
        let n = batch as i64 + extra;
        let mut queued: Vec<QueuedRun> = (1..=n).map(|i| hi(i, "a", 1)).collect();
        queued.extend((101..101 + n).map(|i| lo(i, "b", 1)));
        let p = Policy { high_share_percent: share, batch_size: batch, ..policy() };
        let d = decide(&Snapshot { wrr, ..snapshot(NOW, queued) }, &p);
        prop_assert_eq!(d.admitted.len(), batch);
        let order: Vec<bool> = d.admitted.iter().map(|a| a.run.0 < 100).collect();
        for window in order.windows((wh + wn) as usize) {
            let highs = window.iter().filter(|h| **h).count() as i64;
            prop_assert!((highs - wh).abs() <= 1, "window {:?} at share {}", window, share);
        }
        if share == 90 {
            for window in order.windows(10) {
                prop_assert_eq!(window.iter().filter(|h| **h).count(), 9);
            }
        }
    }
}

type Step = (Vec<RunSpec>, Vec<bool>, Option<(usize, Option<Resources>)>, i64);

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    let change =
        prop::option::weighted(0.3, (0..3usize, prop::option::weighted(0.8, arb_resources(LIMIT_MIN, LIMIT_MAX))));
    prop::collection::vec((arb_specs(6), prop::collection::vec(any::<bool>(), 8), change, 0..2_400i64), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cycles_keep_every_invariant(initial in arb_specs(25), (limits, workers) in arb_world(), p in arb_policy(), steps in arb_steps()) {
        let fresh = |id: i64, now: i64, spec: RunSpec| QueuedRun { head_since: None, head_retries: 0, not_before: None, ..build_run(id, now, spec) };
        let mut now = NOW;
        let mut next = 1;
        let mut queued: Vec<QueuedRun> = Vec::new();
        for spec in initial {
            queued.push(fresh(next, now, spec));
            next += 1;
        }
        let mut limits = limits;
        let capacity = build_workers(&workers);
        let mut running: Vec<(QueuedRun, WorkerId)> = Vec::new();
        let mut wrr = Wrr::default();
        for (arrivals, finish, change, advance) in steps {
            let mut namespaces = HashMap::new();
            for (n, limit) in NAMES.iter().zip(&limits) {
                let used = running.iter().filter(|(r, _)| r.namespace == *n).fold(Resources::default(), |a, (r, _)| a.saturating_add(&r.request));
                if let Some(limit) = limit {
                    namespaces.insert(n.to_string(), NamespaceUse { limit: *limit, used });
                }
            }
            let mut running_per_user = HashMap::new();
            for (r, _) in &running {
                *running_per_user.entry((r.user.clone(), r.service.clone())).or_insert(0) += 1;
            }
            let workers: Vec<WorkerFree> = capacity.iter().map(|w| {
                let busy = running.iter().filter(|(_, id)| *id == w.id).fold(Resources::default(), |a, (r, _)| a.saturating_add(&r.request));
                WorkerFree { free: w.free.saturating_sub(&busy), ..w.clone() }
            }).collect();
            prop_assert!(workers.iter().all(|w| w.free.cpu >= 0 && w.free.memory >= 0 && w.free.pods >= 0 && w.free.storage >= 0));
            let s = Snapshot { now: at(now), queued: queued.clone(), namespaces, running_per_user, workers, wrr, fair: HashMap::new() };
            let d = decide(&s, &p);
            check(&s, &p, &d)?;
            for a in &d.admitted {
                if let Some(r) = queued.iter().find(|r| r.id == a.run) {
                    running.push((r.clone(), a.worker));
                }
            }
            apply(&mut queued, &d);
            wrr = d.wrr;
            let mut i = 0;
            running.retain(|_| { i += 1; !finish[i % finish.len()] });
            if let Some((n, limit)) = change {
                limits[n] = limit;
            }
            now += advance;
            for spec in arrivals {
                queued.push(fresh(next, now, spec));
                next += 1;
            }
        }
    }
}
