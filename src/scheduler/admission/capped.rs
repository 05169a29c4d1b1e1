//! Which queues a cycle reads again so that a user held by their own cap hides nobody.
//!
//! The snapshot reads the oldest runs of each (namespace, priority). When one user's backlog fills
//! that read, the runs of every other user queued behind it stay unseen until the backlog
//! shrinks, though nothing blocks them (DESIGN §4: a run blocked only by its own cap blocks only
//! that user's later runs). So every cycle reads such a queue again without the *saturated*
//! users — those whose active runs plus the runs this cycle's decision admits reach their cap,
//! across namespaces: none of their unread runs can start this cycle, and a run of theirs blocked
//! by that cap blocks only their own later runs. A run read that waits for something else (its
//! namespace's quota, worker room) takes no slot and does not count. The once-per-tick cycle
//! reads in queue order and repeats while a read is full and the users at their cap change; the other
//! cycles read each other pair's two oldest runs past the snapshot's cut once
//! ([`past_the_cut`], [`crate::scheduler::cycle::plan`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Decisions, Policy, Priority, QueuedRun, Scope, Snapshot};
use crate::store::RunId;

/// A queue: (namespace, priority).
pub type Queue = (String, Priority);

/// The (user, service) pairs whose active runs plus their runs `decisions` admits reach their
/// cap: those that can start no other run this cycle. A run of theirs read but not admitted does
/// not count: it waits for its namespace's quota, for worker room or for that cap, and in the
/// first two cases it takes no slot, so counting it hid the user's runs elsewhere for as long as
/// the wait lasted. Pure.
pub fn saturated(snapshot: &Snapshot, decisions: &Decisions, policy: &Policy) -> BTreeSet<(String, String)> {
    let cap = |service: &str| policy.runs_per_user.get(service).copied().unwrap_or(policy.default_runs_per_user);
    let mut load: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for ((user, service), running) in &snapshot.running_per_user {
        *load.entry((user, service)).or_default() += u64::from(*running);
    }
    let pair: HashMap<RunId, (&str, &str)> =
        snapshot.queued.iter().map(|r| (r.id, (r.user.as_str(), r.service.as_str()))).collect();
    for admitted in &decisions.admitted {
        if let Some(&p) = pair.get(&admitted.run) {
            *load.entry(p).or_default() += 1;
        }
    }
    load.into_iter()
        .filter(|((_, service), n)| *n >= u64::from(cap(service)))
        .map(|((user, service), _)| (user.to_string(), service.to_string()))
        .collect()
}

/// The queues to read again after `decisions` was made from `snapshot`: among `full` (those
/// whose last read returned as many runs as it asked for), each that holds a run of a `saturated`
/// user and whose runs the decision left waiting only for their users' own caps: a queue blocked by its namespace's quota or by worker room is not read again, since
/// the runs behind would wait for the same room. None when the batch limit stopped the walk (the
/// next cycle follows at once). Pure.
pub fn rereads(
    snapshot: &Snapshot,
    decisions: &Decisions,
    full: &BTreeSet<Queue>,
    saturated: &BTreeSet<(String, String)>,
) -> Vec<Queue> {
    if decisions.more {
        return Vec::new();
    }
    let queue_of: HashMap<RunId, Queue> =
        snapshot.queued.iter().map(|r| (r.id, (r.namespace.clone(), r.priority))).collect();
    let mut room_blocked = BTreeSet::new();
    for record in &decisions.records {
        let blocked_by_room = record.scopes.iter().any(|s| !matches!(s.scope, Scope::UserService { .. }));
        if blocked_by_room && let Some(queue) = queue_of.get(&record.run) {
            room_blocked.insert(queue.clone());
        }
    }
    let mut out = BTreeSet::new();
    for run in &snapshot.queued {
        let queue = (run.namespace.clone(), run.priority);
        if full.contains(&queue)
            && !room_blocked.contains(&queue)
            && saturated.contains(&(run.user.clone(), run.service.clone()))
        {
            out.insert(queue);
        }
    }
    out.into_iter().collect()
}

/// The runs a notification-driven cycle adds from its read past the cut of one queue
/// (admission/queued_heads.sql): `past`, at most two per (user, service) pair not capped, queued
/// after the snapshot's last run of that queue. `unread` says the read's visit bound may have left
/// pairs out. At most `per_queue` runs, oldest first. Pure.
///
/// In a queue walked in queue order (`fifo`): the runs up to the earliest second run of any pair.
/// Every run of a pair not saturated that was queued no later than that is in the snapshot or in
/// `past` (each pair's runs before its second one past the cut are in one of the two), so among
/// those pairs the walk over them is the walk over the whole queue up to there, and never admits
/// a run ahead of an older one it did not read. (A saturated pair's unread run is left out: it
/// cannot start this cycle, and blocked by its cap alone it holds back only that pair's later runs.
/// Were it also short of its namespace's quota or of worker room, read it would have blocked
/// those scopes as a head; unread, it does not, until a cycle reads it.) Nothing
/// when pairs may be unread, since their runs could be older: the tick's read in queue order finds
/// them. In a fair namespace, whose order is by turn, not by age: each pair's oldest run.
pub fn past_the_cut(mut past: Vec<QueuedRun>, unread: bool, fifo: bool, per_queue: usize) -> Vec<QueuedRun> {
    if fifo && unread {
        return Vec::new();
    }
    let key = |r: &QueuedRun| (r.enqueued_at, r.id);
    past.sort_by(|a, b| (&a.user, &a.service, key(a)).cmp(&(&b.user, &b.service, key(b))));
    let mut known_until: Option<(chrono::DateTime<chrono::Utc>, RunId)> = None;
    let mut pair: Option<(String, String)> = None;
    let mut kept: Vec<QueuedRun> = Vec::with_capacity(past.len());
    for run in past {
        let later = pair.as_ref().is_some_and(|(user, service)| *user == run.user && *service == run.service);
        if later {
            known_until = Some(known_until.map_or(key(&run), |k| k.min(key(&run))));
        } else {
            pair = Some((run.user.clone(), run.service.clone()));
        }
        if fifo || !later {
            kept.push(run);
        }
    }
    if fifo && let Some(until) = known_until {
        kept.retain(|r| key(r) <= until);
    }
    kept.sort_by_key(key);
    kept.truncate(per_queue);
    kept
}

/// The queues whose read returned `per_queue` runs or more. Pure.
pub fn full_queues(snapshot: &Snapshot, per_queue: i64) -> BTreeSet<Queue> {
    let mut counts: BTreeMap<Queue, i64> = BTreeMap::new();
    for run in &snapshot.queued {
        *counts.entry((run.namespace.clone(), run.priority)).or_default() += 1;
    }
    counts.into_iter().filter(|(_, n)| *n >= per_queue).map(|(q, _)| q).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::resources::Resources;
    use crate::scheduler::admission::{Admission, BlockReason, BlockRecord, QueuedRun, Shortfall, Wrr};

    fn run(id: i64, user: &str, ns: &str, priority: Priority) -> QueuedRun {
        QueuedRun {
            id: RunId(id),
            user: user.into(),
            service: "svc".into(),
            namespace: ns.into(),
            priority,
            request: Resources::default(),
            enqueued_at: Utc.timestamp_opt(id, 0).unwrap(),
            head_since: None,
            head_retries: 0,
            not_before: None,
        }
    }

    fn snapshot(queued: Vec<QueuedRun>, running: &[(&str, u32)]) -> Snapshot {
        Snapshot {
            now: Utc.timestamp_opt(1000, 0).unwrap(),
            queued,
            namespaces: HashMap::new(),
            running_per_user: running.iter().map(|(u, n)| ((u.to_string(), "svc".to_string()), *n)).collect(),
            workers: vec![],
            wrr: Wrr::default(),
            fair: HashMap::new(),
        }
    }

    fn policy(cap: u32) -> Policy {
        Policy {
            high_share_percent: 90,
            batch_size: 20,
            head_timeout: chrono::Duration::seconds(60),
            head_retry_count: 0,
            head_retry_backoff: chrono::Duration::seconds(1),
            runs_per_user: HashMap::new(),
            default_runs_per_user: cap,
        }
    }

    fn record(run: i64, scope: Scope) -> BlockRecord {
        BlockRecord {
            run: RunId(run),
            reason: BlockReason::UserCap,
            scopes: vec![Shortfall { scope, dimension: None, requested: 1, available: 0, shortfall: 1 }],
            position: 1,
            evaluated_at: Utc.timestamp_opt(1000, 0).unwrap(),
            message: String::new(),
        }
    }

    fn decisions(records: Vec<BlockRecord>) -> Decisions {
        Decisions {
            admitted: vec![],
            wrr: Wrr::default(),
            records,
            head_updates: vec![],
            timeouts: vec![],
            more: false,
        }
    }

    fn pair(user: &str) -> (String, String) {
        (user.to_string(), "svc".to_string())
    }

    fn admitting(runs: &[i64]) -> Decisions {
        let admitted = runs.iter().map(|&id| Admission { run: RunId(id), worker: crate::store::WorkerId(1) }).collect();
        Decisions { admitted, ..decisions(vec![]) }
    }

    #[test]
    fn a_user_is_saturated_when_active_and_admitted_runs_reach_the_cap() {
        let snap = snapshot(
            vec![
                run(1, "a", "ns", Priority::Normal),
                run(2, "a", "ns", Priority::High),
                run(3, "b", "ns", Priority::Normal),
                run(4, "e", "ns", Priority::Normal),
            ],
            &[("b", 1), ("c", 3), ("d", 1)],
        );
        // Admitted: a's two runs and b's one; e's run waits. Cap 3: a has 2 admitted, b 1 active +
        // 1 admitted, c 3 active, d 1 active, e 1 read and not admitted.
        let admitted = admitting(&[1, 2, 3]);
        assert_eq!(saturated(&snap, &admitted, &policy(3)), [pair("c")].into());
        assert_eq!(saturated(&snap, &admitted, &policy(2)), [pair("a"), pair("b"), pair("c")].into());
        assert_eq!(saturated(&snap, &admitted, &policy(1)), [pair("a"), pair("b"), pair("c"), pair("d")].into());
    }

    #[test]
    fn a_run_read_but_not_admitted_does_not_count_towards_the_cap() {
        // a's two runs wait (for their namespace's quota, say), b's one is admitted; cap 2, and
        // each has one run active.
        let snap = snapshot(
            vec![
                run(1, "a", "full", Priority::Normal),
                run(2, "a", "full", Priority::Normal),
                run(3, "b", "ns", Priority::Normal),
            ],
            &[("a", 1), ("b", 1)],
        );
        assert_eq!(saturated(&snap, &admitting(&[3]), &policy(2)), [pair("b")].into(), "a can start another run");
    }

    #[test]
    fn only_full_queues_holding_a_saturated_users_run_are_read_again() {
        let snap = snapshot(
            vec![
                run(1, "a", "ns", Priority::Normal),
                run(2, "a", "ns", Priority::Normal),
                run(3, "b", "ns", Priority::High),
                run(4, "a", "other", Priority::Normal),
            ],
            &[],
        );
        let full = full_queues(&snap, 2);
        assert_eq!(full, [("ns".to_string(), Priority::Normal)].into(), "the others read fewer than asked");
        let waiting = decisions(vec![record(2, Scope::UserService { user: "a".into(), service: "svc".into() })]);
        assert_eq!(rereads(&snap, &waiting, &full, &[pair("a")].into()), [("ns".to_string(), Priority::Normal)]);
        assert!(rereads(&snap, &waiting, &full, &[pair("b")].into()).is_empty(), "b's queue was not full");
        assert!(rereads(&snap, &waiting, &full, &BTreeSet::new()).is_empty(), "nobody saturated: nothing hidden");
    }

    #[test]
    fn a_queue_waiting_for_room_or_a_walk_cut_by_the_batch_is_not_read_again() {
        let snap = snapshot(vec![run(1, "a", "ns", Priority::Normal), run(2, "a", "ns", Priority::Normal)], &[]);
        let full = full_queues(&snap, 2);
        let saturated: BTreeSet<_> = [pair("a")].into();
        for scope in [Scope::Pool { service: "svc".into() }, Scope::Namespace { namespace: "ns".into() }] {
            let blocked = decisions(vec![record(1, scope.clone())]);
            assert!(rereads(&snap, &blocked, &full, &saturated).is_empty(), "{scope:?}: the runs behind wait too");
        }
        let mut cut = decisions(vec![]);
        cut.more = true;
        assert!(rereads(&snap, &cut, &full, &saturated).is_empty(), "the next cycle follows at once");
    }

    fn of(user: &str, id: i64) -> QueuedRun {
        QueuedRun { user: user.into(), ..run(id, user, "ns", Priority::Normal) }
    }

    fn ids(runs: &[QueuedRun]) -> Vec<i64> {
        runs.iter().map(|r| r.id.0).collect()
    }

    #[test]
    fn past_the_cut_a_fifo_queue_takes_the_runs_up_to_the_earliest_second_run_of_a_pair() {
        // Past the cut: carol's runs 11 and 12, bob's 13, dave's 14 and 20 (two per pair at most).
        let past = vec![of("bob", 13), of("carol", 12), of("dave", 20), of("carol", 11), of("dave", 14)];
        // Carol's second run (12) bounds what is known: an unread run of hers (say 15) may be older
        // than bob's 13 and dave's 14, so neither is taken ahead of it.
        assert_eq!(ids(&past_the_cut(past.clone(), false, true, 100)), vec![11, 12]);
        assert_eq!(ids(&past_the_cut(past.clone(), false, true, 1)), vec![11], "at most per_queue, oldest first");
        // Each pair's whole rest past the cut read (one run each): all of it, in queue order.
        let whole = vec![of("dave", 14), of("bob", 13), of("carol", 11)];
        assert_eq!(ids(&past_the_cut(whole.clone(), false, true, 100)), vec![11, 13, 14]);
        assert!(past_the_cut(whole, true, true, 100).is_empty(), "pairs left unread may hold older runs");
    }

    #[test]
    fn past_the_cut_a_fair_namespace_takes_each_pairs_oldest_run_by_age() {
        let past = vec![of("bob", 13), of("carol", 12), of("dave", 20), of("carol", 11), of("dave", 14)];
        assert_eq!(ids(&past_the_cut(past.clone(), false, false, 100)), vec![11, 13, 14]);
        assert_eq!(
            ids(&past_the_cut(past.clone(), true, false, 2)),
            vec![11, 13],
            "the oldest heads, not the first names"
        );
    }
}
