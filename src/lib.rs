//! berth: a job orchestrator whose only coordination point is PostgreSQL.
//!
//! # Layout
//!
//! - [`service`]: the one shape of every long-running loop, and the process wiring that starts them.
//! - [`api`]: the HTTP API (axum), stateless; any number of replicas.
//! - [`scheduler`]: leader election and the leader's duties (admission, rescue, cron schedules,
//!   statistics, retention); one leads, others wait.
//! - [`worker`]: registers capacity, claims admitted runs, executes them, stores results.
//! - [`executor`]: how a run executes (a process running `run.sh`, or no-op for benchmarks).
//! - [`store`]: the only module that talks to Postgres; every statement lives in `sql/`.
//! - [`client`]: the command-line client (`berth submit`, `status`, `logs`, `runs`, ...), which
//!   talks to the API over HTTP like any other program.
//! - [`dev`]: `berth dev`, everything in one process on a private Postgres it starts itself.
//! - [`domain`]: the named values (priority, flow, run state, ...) as enums, with their one
//!   conversion to and from Postgres text.
//! - [`workflow`]: the check of a workflow definition (steps and depends_on edges) into its graph.
//! - [`auth`]: bearer tokens (secret, hash) and the permissions a caller can hold (`docs/security.md`).
//! - [`retry`]: the one decision of what follows an attempt (retry after a back-off, or a final state);
//!   [`retry::restart()`] decides streaming runs by their restart policy.
//! - [`config`], [`clock`], [`shutdown`], [`telemetry`] (logs, on stderr), [`metrics`] (names,
//!   help texts, setters; it imports no service module): process plumbing.
//!
//! The benchmark is not part of this library: `berth-bench` (the workspace crate in `bench/`, also
//! run as `berth bench`) measures it from outside, through its public API.
//!
//! The processes never talk to each other: claims use `FOR UPDATE SKIP LOCKED`, the leader holds an
//! advisory lock and fences its writes with an epoch, and LISTEN/NOTIFY wakes loops early (each
//! also polls, so a lost notification only costs latency).
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod dev;
pub mod domain;
pub mod executor;
pub mod metrics;
pub mod resources;
pub mod retry;
pub mod scheduler;
pub mod service;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod worker;
pub mod workflow;
