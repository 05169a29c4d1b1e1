//! The usage gauges: what admitted and running runs hold, by namespace, priority and service
//! (the dashboard's "usage per namespace, priority and job" and "resource allocation" panels).
//!
//! Labelled by service rather than by job: job names are unbounded (every upload makes one), and
//! metric labels come from small fixed sets. Per-job use is in the API (`GET /api/v1/runs?job=`).

use std::time::Duration;

use super::duty::{Done, Duty, Term, Trigger, Wake};
use crate::metrics::Usage;
use crate::service::BoxFuture;
use crate::store::Result;
use crate::store::usage::UsageRow;

/// How often the leader sums what active runs hold (one aggregate over the active runs' indexes).
pub const USAGE_EVERY_DEFAULT: Duration = Duration::from_secs(5);

/// The usage gauges as a leader duty.
pub struct UsageGauges {
    trigger: Trigger,
}

impl UsageGauges {
    /// The duty for `term`: every [`USAGE_EVERY_DEFAULT`], or every tick if that is longer.
    pub fn new(term: &Term) -> Self {
        Self { trigger: Trigger::every(USAGE_EVERY_DEFAULT.max(term.settings.tick)) }
    }
}

impl Duty for UsageGauges {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn trigger(&self) -> Trigger {
        self.trigger
    }

    fn run<'a>(&'a mut self, term: &'a Term, _wake: Wake) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let rows = term.store.run_usage().await?;
            crate::metrics::usage(&rows.iter().map(usage).collect::<Vec<_>>());
            Ok(Done::default())
        })
    }
}

/// A row as the metrics' figures.
pub fn usage(row: &UsageRow) -> Usage {
    Usage {
        namespace: row.namespace.clone(),
        priority: row.priority.as_str(),
        service: row.service.clone(),
        held: crate::resources::Resources { cpu: row.cpu, memory: row.memory, pods: row.pods, storage: row.storage },
    }
}
