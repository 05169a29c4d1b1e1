//! Sharing between users inside a namespace (issue 18): the order a `fair` namespace's queued runs
//! are walked in.
//!
//! A `fifo` namespace's runs are walked in queue order, `(enqueued_at, id)`. A `fair` namespace's
//! users take turns instead: the run with the lowest *turn* comes first, where a run's turn is its
//! user's runs admitted or running in the namespace plus the user's runs queued before it (the
//! user's first queued run has turn = active runs, the second one more, ...). So a user with
//! nothing running goes before a user with ten runs running, and two users with nothing running
//! alternate, whatever the size of their backlogs. Equal turns keep queue order. Counting the
//! active runs makes the turns carry over from cycle to cycle: the order is round robin over
//! users, weighted by what each one already holds.
//!
//! The fair order replaces queue order only *among the namespace's own runs*: every namespace keeps
//! the places its runs hold in the merged priority queue, so other namespaces and the smooth WRR
//! between the priorities see no change. Everything else of the walk is the same: blocks, head
//! timers, per-user caps, quotas and worker room apply to the runs in the fair order (a head
//! blocked on its namespace's quota still holds back the runs walked after it).
//!
//! A read in queue order would show only the users with the oldest runs when one user's backlog
//! fills it, so the snapshot reads a fair namespace per (user, service): each pair's oldest runs,
//! the read split evenly over the pairs (admission/snapshot.sql, through `runs_queued_user`).

use std::collections::HashMap;

use super::QueuedRun;

/// Runs admitted or running per user, in each fair namespace.
pub type FairNamespaces = HashMap<String, HashMap<String, u32>>;

/// What the fair order reads of a queued run: admission's runs, and the queue view's
/// (`api/queue.rs`), which shows them in the order admission walks them.
pub trait Turn {
    /// The run's namespace.
    fn namespace(&self) -> &str;
    /// The user who submitted it.
    fn user(&self) -> &str;
}

impl Turn for QueuedRun {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn user(&self) -> &str {
        &self.user
    }
}

/// Reorders the runs of every fair namespace in `queue` (one priority, in queue order) into their
/// fair order, each namespace within the places its runs already hold. Pure.
pub fn order<R: Turn>(queue: &mut [&R], fair: &FairNamespaces) {
    if fair.is_empty() {
        return;
    }
    for (namespace, active) in fair {
        let places: Vec<usize> = (0..queue.len()).filter(|&i| queue[i].namespace() == namespace).collect();
        if places.len() < 2 {
            continue;
        }
        // Turns in queue order: each user's active runs, then one more per run of theirs before it.
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let mut runs: Vec<(u32, usize, &R)> = places
            .iter()
            .enumerate()
            .map(|(rank, &i)| {
                let run = queue[i];
                let before = seen.entry(run.user()).or_insert(0);
                let turn = active.get(run.user()).copied().unwrap_or(0).saturating_add(*before);
                *before += 1;
                (turn, rank, run)
            })
            .collect();
        // Stable on the queue-order rank: equal turns keep queue order.
        runs.sort_by_key(|&(turn, rank, _)| (turn, rank));
        for (&place, (_, _, run)) in places.iter().zip(runs) {
            queue[place] = run;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::super::tests::{at, policy, snapshot};
    use super::super::{Decisions, Priority, QueuedRun, Resources, decide};
    use super::*;
    use crate::store::RunId;

    /// A run of `user` in `namespace`, enqueued at `at(id)`: queue order is id order.
    fn run(id: i64, namespace: &str, user: &str) -> QueuedRun {
        QueuedRun {
            id: RunId(id),
            user: user.into(),
            service: "svc".into(),
            namespace: namespace.into(),
            priority: Priority::Normal,
            request: Resources { cpu: 1, memory: 1, pods: 1, storage: 0 },
            enqueued_at: at(id),
            head_since: None,
            head_retries: 0,
            not_before: None,
        }
    }

    fn fair(namespace: &str, active: &[(&str, u32)]) -> FairNamespaces {
        let users = active.iter().map(|(u, n)| (u.to_string(), *n)).collect();
        HashMap::from([(namespace.to_string(), users)])
    }

    fn ordered(runs: &[QueuedRun], fair: &FairNamespaces) -> Vec<i64> {
        let mut queue: Vec<&QueuedRun> = runs.iter().collect();
        order(&mut queue, fair);
        queue.iter().map(|r| r.id.0).collect()
    }

    #[test]
    fn users_take_turns_whatever_their_backlogs() {
        let runs = [run(1, "ns", "a"), run(2, "ns", "a"), run(3, "ns", "a"), run(4, "ns", "a"), run(5, "ns", "b")];
        assert_eq!(ordered(&runs, &fair("ns", &[])), [1, 5, 2, 3, 4]);
        assert_eq!(ordered(&runs, &HashMap::new()), [1, 2, 3, 4, 5], "fifo: queue order");
    }

    #[test]
    fn a_user_with_runs_active_waits_for_the_others_to_catch_up() {
        let runs = [run(1, "ns", "a"), run(2, "ns", "a"), run(3, "ns", "b"), run(4, "ns", "b"), run(5, "ns", "c")];
        // a holds 2, b 1, c 0: turns a 2 3, b 1 2, c 0.
        assert_eq!(ordered(&runs, &fair("ns", &[("a", 2), ("b", 1)])), [5, 3, 1, 4, 2]);
    }

    #[test]
    fn other_namespaces_keep_their_places() {
        let runs =
            [run(1, "ns", "a"), run(2, "other", "a"), run(3, "ns", "a"), run(4, "other", "x"), run(5, "ns", "b")];
        // ns holds places 0, 2 and 4: a, a, b becomes a, b, a there.
        assert_eq!(ordered(&runs, &fair("ns", &[])), [1, 2, 5, 4, 3]);
    }

    /// Admitted per user plus what each held before the cycle.
    fn held(s: &super::super::Snapshot, d: &Decisions) -> HashMap<String, u32> {
        let mut out: HashMap<String, u32> = s.fair["ns"].clone();
        for a in &d.admitted {
            let r = s.queued.iter().find(|r| r.id == a.run).expect("an admitted run was queued");
            *out.entry(r.user.clone()).or_default() += 1;
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// With room for `batch` runs and nothing else in the way, a fair cycle is round robin: a
        /// user who got a run this cycle ends it holding at most one run more than any user who
        /// still waits, counting what each held before the cycle.
        #[test]
        fn a_fair_cycle_leaves_no_waiting_user_two_runs_behind(
            users in prop::collection::vec(0usize..4, 1..40),
            active in prop::collection::vec(0u32..5, 4),
            batch in 1usize..30,
        ) {
            let names = ["a", "b", "c", "d"];
            let queued: Vec<QueuedRun> =
                users.iter().enumerate().map(|(i, &u)| run(i as i64 + 1, "ns", names[u])).collect();
            let active: Vec<(&str, u32)> = names.iter().copied().zip(active.iter().copied()).collect();
            let s = super::super::Snapshot { fair: fair("ns", &active), ..snapshot(10_000, queued) };
            let p = super::super::Policy { batch_size: batch, ..policy() };
            let d = decide(&s, &p);
            prop_assert_eq!(d.admitted.len(), batch.min(s.queued.len()));
            let held = held(&s, &d);
            let got: Vec<&str> = d.admitted.iter()
                .filter_map(|a| s.queued.iter().find(|r| r.id == a.run)).map(|r| r.user.as_str()).collect();
            for waiting in s.queued.iter().filter(|r| !d.admitted.iter().any(|a| a.run == r.id)) {
                for user in &got {
                    prop_assert!(
                        held[*user] <= held[&waiting.user] + 1,
                        "{} got to {} while {} waits with {}: {:?}",
                        user, held[*user], waiting.user, held[&waiting.user], d.admitted
                    );
                }
            }
            // Within each user, queue order.
            for name in names {
                let mine: Vec<i64> = d.admitted.iter().map(|a| a.run.0)
                    .filter(|id| s.queued.iter().any(|r| r.id.0 == *id && r.user == name)).collect();
                prop_assert!(mine.windows(2).all(|w| w[0] < w[1]), "{}: {:?}", name, mine);
            }
        }
    }
}
