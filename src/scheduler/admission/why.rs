//! Why a run waits: the scopes that hold it back, their shortfalls, and the sentences a person reads.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::resources::Dimension;
use crate::store::RunId;

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
    /// The scope in words: `the quota of namespace etl`.
    pub(super) fn label(&self) -> String {
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

/// Formats a duration as `1h0m`, `5m3s` or `42s`.
pub(super) fn format_duration(duration: Duration) -> String {
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

pub(super) fn dims_text(gaps: &[(Dimension, i64, i64, i64)], label: &str) -> String {
    let parts: Vec<String> =
        gaps.iter().map(|&(d, r, a, _)| format!("{d} requested {}, {label} {}", amount(d, r), amount(d, a))).collect();
    parts.join(", ")
}

pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One failing scope of a run: its shortfall entries and the words for them.
pub(super) struct Failure {
    pub(super) entries: Vec<Shortfall>,
    pub(super) text: String,
}

/// The shortfall entries of `scope` for each gap, with the words for them.
pub(super) fn failure(scope: Scope, gaps: &[(Dimension, i64, i64, i64)], text: String) -> Failure {
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
