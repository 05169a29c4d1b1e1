//! Cron schedules as pure functions: parse an expression in a time zone, list fire times, and
//! decide which fire time a due schedule starts now and which earlier ones were missed.
//!
//! Parsing and calendar arithmetic are `croner`'s (five fields, or six with seconds first, and
//! names such as `@hourly`) in a `chrono-tz` zone. Across daylight-saving changes croner walks real
//! time: a fixed local time that a spring-forward skips fires once at the first valid instant
//! after the gap; one that a fall-back repeats fires once, at its first pass; an interval
//! (`*/15 * * * *`) keeps its rhythm in real time. Nothing here reads a clock: `now` is an argument.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The time zone of a schedule that names none.
pub const TIME_ZONE_DEFAULT: &str = "UTC";
/// Most missed fire times one decision lists (the latest ones); older ones are counted only.
pub const MISSED_LISTED_MAX: usize = 10;

/// What is wrong with a schedule, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The expression does not parse, or never fires.
    #[error("cron {expr:?} is not a cron expression: {reason}")]
    Cron {
        /// The expression.
        expr: String,
        /// In words.
        reason: String,
    },
    /// Not an IANA time zone name.
    #[error("time_zone {0:?} is not an IANA time zone name (such as UTC or Europe/Paris)")]
    TimeZone(String),
}

/// A parsed cron expression in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    tz: Tz,
}

impl CronSchedule {
    /// Parses `expr` (five fields, or six with seconds first, or `@hourly`-style names) in the IANA
    /// zone `time_zone`. An expression that never fires (`0 0 30 2 *`) is refused too.
    pub fn parse(expr: &str, time_zone: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Cron { expr: expr.to_string(), reason };
        let tz = Tz::from_str(time_zone).map_err(|_| Error::TimeZone(time_zone.to_string()))?;
        if expr.trim().is_empty() {
            return Err(bad("it is empty".into()));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| bad(e.to_string()))?;
        let schedule = CronSchedule { cron, tz };
        // A pattern croner accepts can still name no real day (February 30th).
        let probe = DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default();
        if schedule.next_after(probe).is_none() {
            return Err(bad("it never fires".into()));
        }
        Ok(schedule)
    }

    /// The first fire time strictly after `t`; `None` when there is none within croner's search.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t.with_timezone(&self.tz), false).ok().map(|d| d.with_timezone(&Utc))
    }

    /// The latest fire time at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&t.with_timezone(&self.tz), true).ok().map(|d| d.with_timezone(&Utc))
    }

    /// The latest fire time strictly before `t`.
    fn latest_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&t.with_timezone(&self.tz), false).ok().map(|d| d.with_timezone(&Utc))
    }

    /// The next `n` fire times strictly after `t`.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        std::iter::successors(self.next_after(t), |&at| self.next_after(at)).take(n).collect()
    }
}

/// What a due schedule does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The fire time to start now (the latest one due, if within the starting deadline), subject
    /// to the concurrency policy.
    pub start: Option<DateTime<Utc>>,
    /// Fire times passed without a start (older than the latest due, or past the deadline), the
    /// latest [`MISSED_LISTED_MAX`] of them, oldest first.
    pub missed: Vec<DateTime<Utc>>,
    /// Missed fire times beyond those listed (counted up to the listing limit: more means "more").
    pub missed_unlisted: bool,
    /// Every fire time up to this instant is decided (the schedule's new `after_at`).
    pub after: DateTime<Utc>,
    /// The first fire time after `after` and `now`: when to look again (`None`: never).
    pub next: Option<DateTime<Utc>>,
}

/// Decides a schedule whose fire times up to `after` are decided, at `now`: the latest fire time
/// in `(after, now]` starts if it is at most `deadline` old (no deadline: any age), every other
/// one in that range is missed. After downtime this starts one run, never a burst.
pub fn decide(
    schedule: &CronSchedule,
    deadline: Option<Duration>,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Decision {
    let not_due = || Decision {
        start: None,
        missed: Vec::new(),
        missed_unlisted: false,
        after,
        next: schedule.next_after(after.max(now)),
    };
    let Some(latest) = schedule.latest_at_or_before(now).filter(|&t| t > after) else {
        return not_due();
    };
    let in_time = deadline.is_none_or(|d| now - latest <= d);
    let mut missed: Vec<DateTime<Utc>> = Vec::new();
    if !in_time {
        missed.push(latest);
    }
    let mut cursor = latest;
    let mut missed_unlisted = false;
    while let Some(earlier) = schedule.latest_before(cursor).filter(|&t| t > after) {
        if missed.len() == MISSED_LISTED_MAX {
            missed_unlisted = true;
            break;
        }
        missed.push(earlier);
        cursor = earlier;
    }
    missed.reverse();
    Decision {
        start: in_time.then_some(latest),
        missed,
        missed_unlisted,
        after: latest,
        next: schedule.next_after(latest.max(now)),
    }
}

#[cfg(test)]
mod tests;
