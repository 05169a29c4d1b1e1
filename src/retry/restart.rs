//! The restart decision of a streaming run: what follows its application's end, from how it
//! ended, the run's own restart policy (copied from its job when it started) and the failures it
//! has had so far. A pure function; the worker records whatever it returns, and the leader's
//! set-based statements for the ends no worker reports (a dead worker: `runs/rescue_lost.sql`; no
//! worker took it in time: `runs/requeue_unclaimed.sql`) state the same rule in SQL.
//!
//! | the application ended                     | kind                 | `never`  | `on_failure`                                   | `always`       |
//! |-------------------------------------------|----------------------|----------|------------------------------------------------|----------------|
//! | exit 0                                    | —                    | `succeeded` | `succeeded`                                 | restart after `failure_retry_interval` |
//! | exit non-zero, timed out, its worker died | execution failure    | `failed` | restart after `failure_retry_interval` while execution failures so far < `failure_retries`, else `failed` | restart after `failure_retry_interval` |
//! | `Retryable` executor error, unclaimed     | submission failure   | `failed` | restart after `submission_retry_interval` while submission failures so far < `submission_retries`, else `failed` | restart after `submission_retry_interval` |
//! | `Fatal` executor error (no `run.sh`, ...) | —                    | `failed` | `failed`                                       | `failed`       |
//! | stopped (abort, or cancel)                | —                    | `aborted` | `aborted`                                     | `aborted`      |
//!
//! `always` is not limited by the retry counts (the seed's: "restarts automatically after any
//! termination"); its intervals still space the restarts, so an application that exits at once
//! does not spin. A fatal error is never restarted: the same files would fail the same way. A
//! drain hand-back is not an end: the run goes back to the queue without using anything.

use serde::{Deserialize, Serialize};

use super::{End, ErrorClass, Next};
use crate::domain::{RestartPolicy, RunState};

/// Retries after a submission failure unless the job says otherwise (the seed's default).
pub const SUBMISSION_RETRIES_DEFAULT: i32 = 1;
/// Seconds between submission retries unless the job says otherwise.
pub const SUBMISSION_RETRY_INTERVAL_DEFAULT: f64 = 5.0;
/// Restarts after an execution failure unless the job says otherwise.
pub const FAILURE_RETRIES_DEFAULT: i32 = 1;
/// Seconds between execution retries unless the job says otherwise.
pub const FAILURE_RETRY_INTERVAL_DEFAULT: f64 = 5.0;
/// Longest interval a policy may ask for (1 day).
pub const INTERVAL_LIMIT_SECONDS: f64 = 24.0 * 3600.0;
/// Most retries of either kind a policy may ask for.
pub const RETRIES_LIMIT: i32 = 1_000_000;

/// A streaming job's restart policy with its settings, stored as JSON on the job and on each of
/// its runs (`jobs.restart`, `runs.restart`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestartSettings {
    /// `never`, `always` or `on_failure`.
    pub restart_policy: RestartPolicy,
    /// Restarts after submission failures (the application could not be started).
    pub submission_retries: i32,
    /// Seconds before a restart after a submission failure.
    pub submission_retry_interval: f64,
    /// Restarts after execution failures (it ran and failed, or its worker died).
    pub failure_retries: i32,
    /// Seconds before a restart after an execution failure (and, for `always`, after a success).
    pub failure_retry_interval: f64,
}

impl Default for RestartSettings {
    fn default() -> Self {
        Self {
            restart_policy: RestartPolicy::Never,
            submission_retries: SUBMISSION_RETRIES_DEFAULT,
            submission_retry_interval: SUBMISSION_RETRY_INTERVAL_DEFAULT,
            failure_retries: FAILURE_RETRIES_DEFAULT,
            failure_retry_interval: FAILURE_RETRY_INTERVAL_DEFAULT,
        }
    }
}

impl RestartSettings {
    /// Refuses settings outside their bounds, in words naming the field.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [("submission_retries", self.submission_retries), ("failure_retries", self.failure_retries)] {
            if !(0..=RETRIES_LIMIT).contains(&v) {
                return Err(format!("{name} must be 0 to {RETRIES_LIMIT}, got {v}"));
            }
        }
        for (name, v) in [
            ("submission_retry_interval", self.submission_retry_interval),
            ("failure_retry_interval", self.failure_retry_interval),
        ] {
            if !(v.is_finite() && (0.0..=INTERVAL_LIMIT_SECONDS).contains(&v)) {
                return Err(format!("{name} must be 0 to {INTERVAL_LIMIT_SECONDS} seconds, got {v}"));
            }
        }
        Ok(())
    }
}

/// The kind of failure an end is, as the restart policy counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The application could not be started (the process never ran).
    Submission,
    /// It ran and failed, or its worker died under it.
    Execution,
}

impl Failure {
    /// The failure `end` is, if any.
    pub fn of(end: End) -> Option<Failure> {
        match end {
            End::ExecutorError(ErrorClass::Retryable) => Some(Failure::Submission),
            End::Failed | End::TimedOut | End::Lost => Some(Failure::Execution),
            End::Succeeded | End::Cancelled | End::ExecutorError(ErrorClass::Fatal) => None,
        }
    }

    /// The name the run's events give it (`submission_failure`, `execution_failure`).
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Submission => "submission_failure",
            Failure::Execution => "execution_failure",
        }
    }
}

/// Whether the process ran at all in an attempt that ended with `end` (it counts as an execution).
pub fn ran(end: End) -> bool {
    !matches!(end, End::ExecutorError(_))
}

/// The failures of each kind a run has had so far (this end excluded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// Submission failures so far.
    pub submission: i32,
    /// Execution failures so far.
    pub execution: i32,
}

/// Decides what follows a streaming run's end. A restart is a [`Next::Retry`] that is never
/// excused (the restart policy counts its own failures; the infrastructure budget is a batch rule).
pub fn restart(end: End, settings: &RestartSettings, so_far: Failures) -> Next {
    let again =
        |interval: f64| Next::Retry { after_seconds: interval.clamp(0.0, INTERVAL_LIMIT_SECONDS), excused: false };
    let policy = settings.restart_policy;
    match end {
        End::Cancelled => Next::Final(RunState::Aborted),
        End::ExecutorError(ErrorClass::Fatal) => Next::Final(RunState::Failed),
        End::Succeeded if policy == RestartPolicy::Always => again(settings.failure_retry_interval),
        End::Succeeded => Next::Final(RunState::Succeeded),
        End::ExecutorError(ErrorClass::Retryable) => match policy {
            RestartPolicy::Always => again(settings.submission_retry_interval),
            RestartPolicy::OnFailure if so_far.submission < settings.submission_retries => {
                again(settings.submission_retry_interval)
            }
            _ => Next::Final(RunState::Failed),
        },
        End::Failed | End::TimedOut | End::Lost => {
            let last = if end == End::TimedOut { RunState::TimedOut } else { RunState::Failed };
            match policy {
                RestartPolicy::Always => again(settings.failure_retry_interval),
                RestartPolicy::OnFailure if so_far.execution < settings.failure_retries => {
                    again(settings.failure_retry_interval)
                }
                _ => Next::Final(last),
            }
        }
    }
}

/// Why a run restarts after `end`, in the words of its `restarted` event.
pub fn reason(end: End) -> &'static str {
    match Failure::of(end) {
        Some(f) => f.as_str(),
        None if end == End::Succeeded => "exited",
        None => "stopped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::{Fatal, Retryable};
    use RestartPolicy::{Always, Never, OnFailure};
    use RunState::{Aborted, Failed, Succeeded, TimedOut};

    fn settings(policy: RestartPolicy) -> RestartSettings {
        RestartSettings {
            restart_policy: policy,
            submission_retries: 2,
            submission_retry_interval: 3.0,
            failure_retries: 1,
            failure_retry_interval: 7.0,
        }
    }

    fn so_far(submission: i32, execution: i32) -> Failures {
        Failures { submission, execution }
    }

    fn after(after_seconds: f64) -> Next {
        Next::Retry { after_seconds, excused: false }
    }

    #[test]
    fn what_follows_each_end_under_each_policy() {
        #[rustfmt::skip]
        let table: &[(&str, End, RestartPolicy, Failures, Next)] = &[
            // what,                                          end,                           policy,    so far,        next
            ("never: a success ends it",                      End::Succeeded,                Never,     so_far(0, 0), Next::Final(Succeeded)),
            ("never: a failure ends it",                      End::Failed,                   Never,     so_far(0, 0), Next::Final(Failed)),
            ("never: a dead worker ends it",                  End::Lost,                     Never,     so_far(0, 0), Next::Final(Failed)),
            ("never: a submission failure ends it",           End::ExecutorError(Retryable), Never,     so_far(0, 0), Next::Final(Failed)),
            ("on_failure: a success ends it",                 End::Succeeded,                OnFailure, so_far(0, 0), Next::Final(Succeeded)),
            ("on_failure: a failure restarts",                End::Failed,                   OnFailure, so_far(0, 0), after(7.0)),
            ("on_failure: until failure_retries are used",    End::Failed,                   OnFailure, so_far(0, 1), Next::Final(Failed)),
            ("on_failure: a dead worker is a failure",        End::Lost,                     OnFailure, so_far(0, 0), after(7.0)),
            ("on_failure: ... and counts as one",             End::Lost,                     OnFailure, so_far(2, 1), Next::Final(Failed)),
            ("on_failure: a timeout stays a timeout",         End::TimedOut,                 OnFailure, so_far(0, 1), Next::Final(TimedOut)),
            ("on_failure: a submission failure restarts",     End::ExecutorError(Retryable), OnFailure, so_far(1, 1), after(3.0)),
            ("on_failure: the kinds are counted apart",       End::ExecutorError(Retryable), OnFailure, so_far(0, 9), after(3.0)),
            ("on_failure: until submission_retries are used", End::ExecutorError(Retryable), OnFailure, so_far(2, 0), Next::Final(Failed)),
            ("always: a success restarts",                    End::Succeeded,                Always,    so_far(0, 0), after(7.0)),
            ("always: a failure restarts, however many",      End::Failed,                   Always,    so_far(0, 50), after(7.0)),
            ("always: a dead worker restarts",                End::Lost,                     Always,    so_far(0, 50), after(7.0)),
            ("always: a submission failure restarts",         End::ExecutorError(Retryable), Always,    so_far(50, 0), after(3.0)),
            ("an abort is never restarted",                   End::Cancelled,                Always,    so_far(0, 0), Next::Final(Aborted)),
            ("an abort under on_failure",                     End::Cancelled,                OnFailure, so_far(0, 0), Next::Final(Aborted)),
            ("an abort under never",                          End::Cancelled,                Never,     so_far(0, 0), Next::Final(Aborted)),
            ("a fatal error is never restarted",              End::ExecutorError(Fatal),     Always,    so_far(0, 0), Next::Final(Failed)),
        ];
        for (what, end, policy, so_far, next) in table {
            assert_eq!(restart(*end, &settings(*policy), *so_far), *next, "{what}");
        }
    }

    #[test]
    fn ends_are_classified_for_the_counts() {
        assert_eq!(Failure::of(End::ExecutorError(Retryable)), Some(Failure::Submission));
        assert_eq!(Failure::of(End::Lost), Some(Failure::Execution));
        assert_eq!(Failure::of(End::Succeeded), None);
        assert!(!ran(End::ExecutorError(Retryable)), "a submission failure never ran the process");
        assert!(ran(End::Lost) && ran(End::Succeeded) && ran(End::Cancelled));
        assert_eq!(reason(End::Succeeded), "exited");
        assert_eq!(reason(End::Lost), "execution_failure");
    }

    #[test]
    fn the_defaults_are_the_seeds_and_the_bounds_are_checked() {
        let d = RestartSettings::default();
        assert_eq!((d.restart_policy, d.submission_retries, d.failure_retries), (Never, 1, 1));
        assert_eq!((d.submission_retry_interval, d.failure_retry_interval), (5.0, 5.0));
        assert!(d.check().is_ok());
        assert!(RestartSettings { failure_retries: -1, ..d }.check().unwrap_err().contains("failure_retries"));
        assert!(RestartSettings { submission_retry_interval: f64::NAN, ..d }.check().is_err());
        assert!(RestartSettings { failure_retry_interval: 1e9, ..d }.check().is_err());
    }
}
