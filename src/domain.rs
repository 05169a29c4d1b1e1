//! The domain's named values: priority, flow, run state, job kind, attempt outcome, executor kind.
//!
//! Each is a Rust enum whose text form is its name in the database, the API and the configuration.
//! The `text_enum!` macro writes, in one place, the conversions every one of them needs: to and from
//! Postgres `text` (a value the code does not know is a decode error that names it), serde, the
//! OpenAPI schema, `Display` and `FromStr`. Nothing else compares these values as strings.

use std::fmt;

/// A text value that names no variant of the enum it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}: expected one of {expected}")]
pub struct UnknownValue {
    /// The enum, in words (`run state`).
    pub kind: &'static str,
    /// The text that was read.
    pub value: String,
    /// The known values, comma-separated.
    pub expected: &'static str,
}

/// Defines a fieldless enum stored as text, with every conversion it needs.
macro_rules! text_enum {
    (
        $(#[$doc:meta])*
        $name:ident ($kind:literal) {
            $( $(#[$vdoc:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        // Every text is the variant's name in snake case (a test checks it): serde and the
        // OpenAPI schema both read this attribute.
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vdoc])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name in the database, the API and the configuration.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownValue {
                        kind: $kind,
                        value: s.to_string(),
                        expected: concat!($($text, " "),+).trim_ascii_end(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                Ok(text.parse::<$name>()?)
            }
        }
    };
}

text_enum! {
    /// Priority of a run; each priority is its own FIFO queue.
    Priority("priority") {
        /// The high queue, which gets `queue.high.scheduling-share-percentage` of the admissions.
        High = "high",
        /// The normal queue.
        Normal = "normal",
    }
}

text_enum! {
    /// How a namespace orders each priority's queued runs among its users (docs/state_machine.md,
    /// "Sharing between users").
    Sharing("sharing") {
        /// Queue order: the oldest run first, whoever submitted it.
        Fifo = "fifo",
        /// Users take turns: a run's turn is its user's runs admitted or running in the namespace
        /// plus that user's runs queued before it; the lowest turn first, queue order among equals.
        Fair = "fair",
    }
}

text_enum! {
    /// How a run reaches a worker.
    Flow("flow") {
        /// Through admission: quota, per-user cap and free capacity.
        Priority = "priority",
        /// Admitted on insert; it only needs a worker with room (the seed's legacy deployment).
        Legacy = "legacy",
    }
}

text_enum! {
    /// A run's state (docs/state_machine.md).
    RunState("run state") {
        /// Dependencies, schedule or back-off not yet due.
        Waiting = "waiting",
        /// Waiting for admission.
        Queued = "queued",
        /// Admitted; waiting for a worker to claim it.
        Admitted = "admitted",
        /// An attempt is executing.
        Running = "running",
        /// Exit code 0.
        Succeeded = "succeeded",
        /// Non-zero exit or executor failure, no retry left.
        Failed = "failed",
        /// Killed at its maximum duration.
        TimedOut = "timed_out",
        /// Cancelled before or while running.
        Cancelled = "cancelled",
        /// A streaming run stopped by a user.
        Aborted = "aborted",
        /// Files removed after the retention period.
        Cleaned = "cleaned",
    }
}

text_enum! {
    /// What kind of job a definition is.
    JobKind("job kind") {
        /// Runs to an end, on demand or on a schedule.
        Batch = "batch",
        /// Runs until stopped, restarted by its policy.
        Streaming = "streaming",
        /// Steps that are jobs, with `depends_on` edges (docs/workflows.md).
        Workflow = "workflow",
    }
}

text_enum! {
    /// A workflow run's state (docs/workflows.md): `running` until every step has ended, then the
    /// state that summarises them.
    WorkflowRunState("workflow run state") {
        /// Some step has not ended.
        Running = "running",
        /// Every step succeeded.
        Succeeded = "succeeded",
        /// A step failed, timed out or was aborted (its dependents were cancelled).
        Failed = "failed",
        /// The workflow run was cancelled, or a step was cancelled and none failed.
        Cancelled = "cancelled",
    }
}

text_enum! {
    /// Why a workflow cancelled one of its steps (`workflow_steps.end_reason`).
    StepEndReason("step end reason") {
        /// A parent (or an ancestor) ended without success: the step can never run.
        UpstreamFailed = "upstream_failed",
        /// The workflow run was cancelled.
        WorkflowCancelled = "workflow_cancelled",
    }
}

text_enum! {
    /// When a streaming run is restarted after its application ends (`retry::restart`).
    RestartPolicy("restart policy") {
        /// Never: the first end is the run's end (the default).
        Never = "never",
        /// After any end except an abort, a successful exit included.
        Always = "always",
        /// After a failure, while the policy's retries of that kind last.
        OnFailure = "on_failure",
    }
}

text_enum! {
    /// What a schedule does with a fire while a run of its job is active.
    ConcurrencyPolicy("concurrency policy") {
        /// Start the run anyway.
        Allow = "allow",
        /// Skip this fire (recorded as `skipped`).
        Forbid = "forbid",
        /// Cancel the active runs, then start (recorded as `replaced`).
        Replace = "replace",
    }
}

text_enum! {
    /// What became of a schedule's fire time (`schedule_fires.outcome`).
    FireOutcome("fire outcome") {
        /// A run started.
        Started = "started",
        /// A run of the job was active and the policy is `forbid`: nothing started.
        Skipped = "skipped",
        /// Passed while berth was down or behind, older than the starting deadline or than a
        /// later fire: nothing started.
        Missed = "missed",
        /// The job's active runs were cancelled and a run started (policy `replace`).
        Replaced = "replaced",
        /// A workflow's fire whose schedule's setter no longer holds `run` on every step's job:
        /// nothing started (the schedule keeps firing; set or resume it again).
        Refused = "refused",
    }
}

text_enum! {
    /// How an attempt ended (`attempts.outcome`).
    AttemptOutcome("attempt outcome") {
        /// The job exited with 0.
        Succeeded = "succeeded",
        /// The job exited non-zero, was killed by a signal, or the executor failed.
        Failed = "failed",
        /// Killed at its maximum execution time.
        TimedOut = "timed_out",
        /// Stopped by a cancellation.
        Cancelled = "cancelled",
        /// Its worker stopped heartbeating; the leader took the run back.
        Lost = "lost",
        /// Its worker drained and handed the run back to the queue.
        HandedBack = "handed_back",
        /// A streaming run's attempt stopped by an abort.
        Aborted = "aborted",
    }
}

text_enum! {
    /// How a worker executes runs (`worker.executor`).
    ExecutorKind("executor kind") {
        /// `bash run.sh` (or the command line) as a local child process.
        Process = "process",
        /// Forwards the run to a remote executor speaking the seed's client protocol.
        Http = "http",
        /// Runs nothing and reports success; for benchmarks.
        Noop = "noop",
    }
}

text_enum! {
    /// The network a job of the process backend gets (`worker.network`).
    NetworkMode("network mode") {
        /// The worker's own network: the job can reach what the machine can.
        Host = "host",
        /// An empty network namespace of its own (only a loopback that is down): no network at all.
        None = "none",
    }
}

impl Flow {
    /// The state a new run of this flow starts in: legacy runs are admitted on insert.
    pub fn initial_state(self) -> RunState {
        match self {
            Flow::Priority => RunState::Queued,
            Flow::Legacy => RunState::Admitted,
        }
    }
}

impl RunState {
    /// Whether the run will never change again (except to `cleaned`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded
                | RunState::Failed
                | RunState::TimedOut
                | RunState::Cancelled
                | RunState::Aborted
                | RunState::Cleaned
        )
    }

    /// The attempt outcome an attempt that ends the run in this state records; `None` for the
    /// states no attempt ends in.
    pub fn attempt_outcome(self) -> Option<AttemptOutcome> {
        match self {
            RunState::Succeeded => Some(AttemptOutcome::Succeeded),
            RunState::Failed => Some(AttemptOutcome::Failed),
            RunState::TimedOut => Some(AttemptOutcome::TimedOut),
            RunState::Cancelled => Some(AttemptOutcome::Cancelled),
            RunState::Aborted => Some(AttemptOutcome::Aborted),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_as_itself() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(*p));
        }
        for s in RunState::ALL {
            assert_eq!(s.as_str().parse::<RunState>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for o in AttemptOutcome::ALL {
            assert_eq!(o.to_string().parse::<AttemptOutcome>(), Ok(*o));
        }
        for v in Sharing::ALL {
            assert_eq!(v.as_str().parse::<Sharing>(), Ok(*v));
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(v.as_str()));
        }
        assert_eq!("legacy".parse::<Flow>(), Ok(Flow::Legacy));
        assert_eq!("streaming".parse::<JobKind>(), Ok(JobKind::Streaming));
    }

    /// The JSON (and OpenAPI) name of every value is its database name.
    #[test]
    fn serde_names_are_the_database_names() {
        fn check<T: serde::Serialize + Copy>(all: &[T], text: fn(T) -> &'static str) {
            for v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(text(*v)));
            }
        }
        check(Priority::ALL, Priority::as_str);
        check(Flow::ALL, Flow::as_str);
        check(RunState::ALL, RunState::as_str);
        check(JobKind::ALL, JobKind::as_str);
        check(AttemptOutcome::ALL, AttemptOutcome::as_str);
        check(ConcurrencyPolicy::ALL, ConcurrencyPolicy::as_str);
        check(FireOutcome::ALL, FireOutcome::as_str);
        check(RestartPolicy::ALL, RestartPolicy::as_str);
        check(WorkflowRunState::ALL, WorkflowRunState::as_str);
        check(StepEndReason::ALL, StepEndReason::as_str);
        check(ExecutorKind::ALL, ExecutorKind::as_str);
        check(NetworkMode::ALL, NetworkMode::as_str);
    }

    #[test]
    fn an_unknown_value_is_an_error_that_names_it() {
        let e = "paused".parse::<RunState>().unwrap_err();
        assert_eq!(e.value, "paused");
        let message = e.to_string();
        assert!(message.contains("unknown run state \"paused\""), "{message}");
        assert!(message.contains("queued"), "lists the known values: {message}");
        assert!("High".parse::<Priority>().is_err(), "case matters: the database holds lowercase names");
    }

    #[test]
    fn a_legacy_run_starts_admitted() {
        assert_eq!(Flow::Legacy.initial_state(), RunState::Admitted);
        assert_eq!(Flow::Priority.initial_state(), RunState::Queued);
    }
}
