//! Pure admission decision of the scheduler leader: from one snapshot of queues, quotas and worker capacity it decides which queued runs start this cycle and records why every other run it looked at waits.
//!
//! `model.rs` holds what a cycle reads and decides, `walk.rs` the walk itself, `why.rs` the
//! scopes, shortfalls and sentences of the block records, `capped.rs` which queues a cycle reads
//! again so that a user held by their own cap hides nobody else's runs, `fair.rs` the order a
//! namespace that shares between users walks its runs in.
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
//! * **Sharing between users.** A namespace whose `sharing` is `fair` has its runs walked in fair
//!   order instead of queue order, within the places its runs hold in the priority queue (`fair.rs`).
//! * **Position** is the place the run holds in its (namespace, priority) queue once this cycle's
//!   admissions and cancellations are applied (1 = first).

mod capped;
mod fair;
mod model;
mod walk;
mod why;

pub use crate::resources::{Dimension, Resources};
pub use capped::{Queue, full_queues, past_the_cut, rereads, saturated};
pub use fair::{FairNamespaces, Turn, order as fair_order};
pub use model::{
    Admission, DEFAULT_HIGH_SHARE_PERCENT, Decisions, HeadAction, HeadTimeout, NamespaceUse, Policy, Priority,
    QueuedRun, Snapshot, WorkerFree, Wrr,
};
pub use why::{BlockReason, BlockRecord, Scope, Shortfall};

/// Decides one admission cycle. Pure: the same snapshot and policy give the same decisions.
pub fn decide(snapshot: &Snapshot, policy: &Policy) -> Decisions {
    walk::Cycle::decide(snapshot, policy)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
