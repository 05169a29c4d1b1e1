//! What one admission cycle reads (the snapshot and the policy) and what it decides.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::why::BlockRecord;
use crate::resources::Resources;
use crate::store::{RunId, WorkerId};

/// Share of admissions the high queue gets when both queues have admissible runs, per the design document.
pub const DEFAULT_HIGH_SHARE_PERCENT: u8 = 90;

pub use crate::domain::Priority;

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
    /// The namespaces that share between users (`sharing` = `fair`), each with its users' admitted
    /// and running runs there; every other namespace walks its runs in queue order.
    pub fair: super::FairNamespaces,
}

/// A run to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The run.
    pub run: RunId,
    /// The worker it was fitted on: a hint only.
    pub worker: WorkerId,
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
