//! Leader duties: the work only the elected scheduler does, each with its own trigger.
//!
//! A duty is one file implementing [`Duty`] and one line in [`all`]. The leader loop
//! ([`super::leader`]) runs the duties in list order whenever their trigger fires, one at a time
//! (a duty notified after its place in the round has passed runs before the next one),
//! with the leadership term's fencing epoch in [`Term`]: every write a duty makes goes through
//! `Store::leader_tx(epoch)` or `Store::admit(epoch, ..)`, which refuse it once another scheduler
//! has taken over. A duty that sees [`crate::store::Error::Deposed`] ends the term.

use std::time::Duration;

use crate::clock::Clock;
use crate::service::BoxFuture;
use crate::store::{Result, Store};

use super::SchedulerSettings;

/// When a duty runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// At most this long between two runs (the first run is at the start of the term).
    pub every: Duration,
    /// Also at once on a notification on one of these channels (`crate::store::notify`).
    pub channels: &'static [&'static str],
}

impl Trigger {
    /// On a timer only.
    pub const fn every(every: Duration) -> Self {
        Self { every, channels: &[] }
    }
}

/// Why a duty runs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Its interval elapsed (or the term started).
    Interval,
    /// A notification on one of its channels.
    Notified,
    /// It asked to run again at once ([`Done::again`]).
    Again,
}

/// What a run of a duty asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Done {
    /// Run this duty again at once (e.g. the admission batch was full).
    pub again: bool,
    /// Run it again no later than this from now, even before its interval (e.g. the schedules'
    /// next fire time, so a fire does not wait for the next tick). The run counts as its interval.
    pub within: Option<Duration>,
}

/// One leadership term: what every duty needs.
#[derive(Debug, Clone)]
pub struct Term {
    /// The database.
    pub store: Store,
    /// The fencing epoch every leader write checks.
    pub epoch: i64,
    /// The scheduler's settings.
    pub settings: SchedulerSettings,
    /// Where "now" comes from.
    pub clock: Clock,
    /// The weighted-round-robin credits (high, normal) the term starts from.
    pub wrr: (i64, i64),
}

/// Work only the leader does.
pub trait Duty: Send {
    /// Its name in logs.
    fn name(&self) -> &'static str;

    /// When it runs.
    fn trigger(&self) -> Trigger;

    /// Runs it once.
    fn run<'a>(&'a mut self, term: &'a Term, wake: Wake) -> BoxFuture<'a, Result<Done>>;
}

/// Every duty of a leadership term, in the order they run when several are due. Rescue and
/// schedules first, so that admission sees the runs they queued in the same round; retention last,
/// after the work that moves runs.
pub fn all(term: &Term) -> Vec<Box<dyn Duty>> {
    vec![
        Box::new(super::rescuer::Rescue::new(term)),
        Box::new(super::schedules::Schedules::new(term)),
        Box::new(super::statistics::Statistics::new(term)),
        Box::new(super::cycle::Admission::new(term)),
        Box::new(super::retention::Retention::new(term)),
        Box::new(super::usage::UsageGauges::new(term)),
    ]
}
