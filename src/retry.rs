//! The one retry decision: what follows an attempt that ended, from how it ended, the executor's
//! error class and the run's own policy (stored on the run when it was submitted). A pure function
//! of its inputs and a jitter draw; the worker records whatever it returns.
//!
//! | the attempt ended                    | next                                                     |
//! |--------------------------------------|----------------------------------------------------------|
//! | exit 0                               | `succeeded`                                              |
//! | exit non-zero, or its time ran out   | retry after a back-off while the job has attempts left, else `failed` / `timed_out` |
//! | cancelled                            | `cancelled`, never retried                               |
//! | `Fatal` executor error (no `run.sh`, empty command, bad input) | `failed`, never retried         |
//! | `Retryable` executor error (spawn, disk, I/O) | retry after a back-off without using one of the job's attempts, while the infrastructure budget (`max-lost-attempts`) lasts, else `failed` |
//!
//! An attempt lost to a dead worker is the same kind of fault as a `Retryable` error and shares its
//! budget; the leader decides it for many runs at once, set-based (`sql/runs/rescue_lost.sql`),
//! and [`decide`] with [`End::Lost`] states the same rule for the tests and the reader.
//!
//! A streaming run (one with a [`RestartSettings`]) is decided by [`restart()`] instead, called from
//! the same place: its restart policy replaces the retry policy (module `restart` below).

use serde::{Deserialize, Serialize};

use crate::domain::RunState;

/// Back-off before the first retry unless configured.
pub const BACKOFF_SECONDS_DEFAULT: f64 = 5.0;
/// Longest back-off unless configured.
pub const BACKOFF_MAX_SECONDS_DEFAULT: f64 = 300.0;
/// Longest back-off a policy may ask for (7 days): a larger one would put the retry past what a
/// timestamp holds, and no retry that far out helps anyone.
pub const BACKOFF_LIMIT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

impl RetryPolicy {
    /// Refuses a policy outside its bounds, in words naming the field.
    pub fn check(&self) -> Result<(), String> {
        if self.max_attempts < 1 {
            return Err("max_attempts must be at least 1".into());
        }
        let ok = |v: f64| v.is_finite() && (0.0..=BACKOFF_LIMIT_SECONDS).contains(&v);
        if !ok(self.backoff_seconds) || !ok(self.backoff_max_seconds) {
            return Err(format!(
                "retry_backoff_seconds and retry_backoff_max_seconds must be 0 to {BACKOFF_LIMIT_SECONDS} (7 days)"
            ));
        }
        Ok(())
    }
}

/// A run's retry policy, stored with the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryPolicy {
    /// Attempts the job allows (1: no retry). Attempts lost to the infrastructure do not count.
    pub max_attempts: i32,
    /// Back-off before the first retry, in seconds; it doubles with every attempt.
    pub backoff_seconds: f64,
    /// Longest back-off, in seconds.
    pub backoff_max_seconds: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            backoff_seconds: BACKOFF_SECONDS_DEFAULT,
            backoff_max_seconds: BACKOFF_MAX_SECONDS_DEFAULT,
        }
    }
}

/// Why an executor could not carry a run out: whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// An infrastructure fault (disk, spawn, I/O): the job may succeed elsewhere or later.
    Retryable,
    /// The job itself is bad (no `run.sh`, empty command, invalid input): it never will.
    Fatal,
}

/// How an attempt ended, as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The job exited with 0.
    Succeeded,
    /// The job exited non-zero or was killed by a signal it did not get from berth.
    Failed,
    /// The job outlived its timeout and was killed.
    TimedOut,
    /// A cancellation stopped it.
    Cancelled,
    /// The executor could not carry it out.
    ExecutorError(ErrorClass),
    /// Its worker died (decided set-based by the leader; see the module docs).
    Lost,
}

/// What the attempts so far have used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Used {
    /// Attempts that count against the job's `max_attempts`, this one included.
    pub own: i32,
    /// Attempts lost to the infrastructure so far (dead workers, retryable executor errors), this
    /// one excluded.
    pub infrastructure: i32,
}

/// What follows the attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// The run ends in this state.
    Final(RunState),
    /// The run waits `after_seconds`, then goes back to the queue at its place.
    Retry {
        /// The back-off.
        after_seconds: f64,
        /// The attempt does not count against the job's attempts (an infrastructure fault).
        excused: bool,
    },
}

/// Decides what follows an attempt that ended with `end`. `infrastructure_budget` is the
/// most infrastructure faults a run may suffer (`max-lost-attempts`); `jitter` is a draw from `[0, 1)`.
pub fn decide(end: End, policy: &RetryPolicy, used: Used, infrastructure_budget: i32, jitter: f64) -> Next {
    match end {
        End::Succeeded => Next::Final(RunState::Succeeded),
        End::Cancelled => Next::Final(RunState::Cancelled),
        End::ExecutorError(ErrorClass::Fatal) => Next::Final(RunState::Failed),
        End::Failed | End::TimedOut => {
            let last = if end == End::Failed { RunState::Failed } else { RunState::TimedOut };
            if used.own >= policy.max_attempts {
                Next::Final(last)
            } else {
                Next::Retry { after_seconds: backoff_seconds(policy, used.own, jitter), excused: false }
            }
        }
        End::ExecutorError(ErrorClass::Retryable) | End::Lost => {
            if used.infrastructure + 1 >= infrastructure_budget {
                Next::Final(RunState::Failed)
            } else {
                // A lost run goes back at once (its worker is gone, not overloaded); an executor
                // fault backs off as the job's own failures do, counted by the faults so far.
                let after_seconds =
                    if end == End::Lost { 0.0 } else { backoff_seconds(policy, used.infrastructure + 1, jitter) };
                Next::Retry { after_seconds, excused: true }
            }
        }
    }
}

pub use restart::{Failure, Failures, RestartSettings, restart};

/// The back-off after the `n`th attempt: exponential (`base * 2^(n-1)`), capped at the policy's
/// maximum, with "equal jitter" (half fixed, half drawn from `jitter`), so retries of many runs
/// spread out but never collapse to zero.
pub fn backoff_seconds(policy: &RetryPolicy, n: i32, jitter: f64) -> f64 {
    let exponent = n.clamp(1, 62) - 1;
    let full = (policy.backoff_seconds * 2f64.powi(exponent))
        .min(policy.backoff_max_seconds)
        .clamp(0.0, BACKOFF_LIMIT_SECONDS);
    let jitter = jitter.clamp(0.0, 1.0);
    full / 2.0 + full / 2.0 * jitter
}

pub mod restart;

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: i32 = 3;

    fn policy(max_attempts: i32) -> RetryPolicy {
        RetryPolicy { max_attempts, backoff_seconds: 2.0, backoff_max_seconds: 10.0 }
    }

    fn used(own: i32, infrastructure: i32) -> Used {
        Used { own, infrastructure }
    }

    fn retry(after_seconds: f64, excused: bool) -> Next {
        Next::Retry { after_seconds, excused }
    }

    #[test]
    fn what_follows_each_end() {
        use ErrorClass::{Fatal, Retryable};
        use RunState::{Cancelled, Failed, Succeeded, TimedOut};
        #[rustfmt::skip]
        let table: &[(&str, End, i32, Used, Next)] = &[
            // what,                                    end,                              max, used,       next
            ("success is final",                        End::Succeeded,                   3, used(1, 0), Next::Final(Succeeded)),
            ("a failure with attempts left retries",    End::Failed,                      3, used(1, 0), retry(1.0, false)),
            ("the back-off doubles",                    End::Failed,                      3, used(2, 0), retry(2.0, false)),
            ("a failure with none left is final",       End::Failed,                      3, used(3, 0), Next::Final(Failed)),
            ("one attempt: no retry",                   End::Failed,                      1, used(1, 0), Next::Final(Failed)),
            ("a timeout retries like a failure",        End::TimedOut,                    2, used(1, 0), retry(1.0, false)),
            ("the last timeout stays a timeout",        End::TimedOut,                    2, used(2, 0), Next::Final(TimedOut)),
            ("a cancellation is never retried",         End::Cancelled,                   5, used(1, 0), Next::Final(Cancelled)),
            ("a fatal error is never retried",          End::ExecutorError(Fatal),        5, used(1, 0), Next::Final(Failed)),
            ("a retryable error retries, excused",      End::ExecutorError(Retryable),    1, used(1, 0), retry(1.0, true)),
            ("its back-off counts the faults",          End::ExecutorError(Retryable),    1, used(1, 1), retry(2.0, true)),
            ("until the budget is used",                End::ExecutorError(Retryable),    9, used(1, 2), Next::Final(Failed)),
            ("a lost attempt goes back at once",        End::Lost,                        1, used(1, 0), retry(0.0, true)),
            ("a lost attempt shares the budget",        End::Lost,                        9, used(1, 2), Next::Final(Failed)),
        ];
        for (what, end, max, used, next) in table {
            assert_eq!(decide(*end, &policy(*max), *used, BUDGET, 0.0), *next, "{what}");
        }
    }

    #[test]
    fn back_off_doubles_with_jitter_and_a_cap() {
        let p = policy(10);
        // attempt 1: full 2 s → [1, 2]; attempt 2: 4 s → [2, 4]; attempt 4: 16 capped to 10 → [5, 10].
        assert_eq!(backoff_seconds(&p, 1, 0.0), 1.0);
        assert_eq!(backoff_seconds(&p, 1, 1.0), 2.0);
        assert_eq!(backoff_seconds(&p, 2, 0.0), 2.0);
        assert_eq!(backoff_seconds(&p, 4, 0.0), 5.0);
        assert_eq!(backoff_seconds(&p, 4, 1.0), 10.0);
        assert_eq!(backoff_seconds(&p, 9, 0.5), 7.5, "still capped far out");
        assert_eq!(backoff_seconds(&p, i32::MAX, 0.5), 7.5, "no overflow");
        let wild = RetryPolicy { max_attempts: 2, backoff_seconds: 1e13, backoff_max_seconds: f64::INFINITY };
        assert_eq!(backoff_seconds(&wild, 1, 1.0), BACKOFF_LIMIT_SECONDS, "a stored policy out of bounds is clamped");
        assert!(wild.check().is_err());
        assert!(policy(3).check().is_ok());
        assert!(RetryPolicy { max_attempts: 0, ..policy(3) }.check().is_err());
    }
}
