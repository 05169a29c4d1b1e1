//! One shape for every long-running loop of a berth process: the API server, a worker, a
//! scheduler (leader election, then the leader's duties). Each is a [`Service`]: built from its
//! settings and handles, run until a cancellation token fires, drained before it returns. A
//! [`Supervisor`] runs any number of them and stops them all when one fails, so a process
//! supervisor restarts the process. `berth dev`, `berth api|worker|scheduler`, the tests and the
//! bench all start services through this module ([`run`] for the production wiring).
//!
//! Leader duties (admission, rescue, statistics, ...) are not services of their own: they run
//! inside the elected scheduler, one at a time, under its fencing epoch (see
//! [`crate::scheduler::duty`]).

mod supervisor;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::Config;
use crate::executor::Executor;
use crate::scheduler::{Scheduler, SchedulerSettings};
use crate::store::Store;
use crate::worker::{Worker, WorkerSettings};

pub use supervisor::Supervisor;

/// A boxed future that can move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A long-running loop.
pub trait Service: Send + 'static {
    /// Its name in logs (`api`, `worker`, `scheduler`).
    fn name(&self) -> &'static str;

    /// Runs until `cancel` fires, then drains its in-flight work and returns. An error (in words)
    /// means the service cannot go on: the supervisor stops the others and the process exits.
    fn run(self: Box<Self>, cancel: CancellationToken) -> BoxFuture<'static, Result<(), String>>;
}

/// Which services a process runs.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    /// The HTTP API.
    pub api: bool,
    /// A scheduler (leader candidate).
    pub scheduler: bool,
    /// A worker.
    pub worker: bool,
}

impl Roles {
    /// Everything, as `berth dev` runs it.
    pub const ALL: Roles = Roles { api: true, scheduler: true, worker: true };
}

/// The production wiring: runs the `roles` on `store` with `config` until `cancel`, then waits for
/// each to drain. `listener` is required when the API runs.
pub async fn run(
    store: Store,
    config: Arc<Config>,
    roles: Roles,
    listener: Option<TcpListener>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let mut services = Supervisor::new(cancel);
    // Counters whose labels are known start at 0 (a no-op when no exporter is installed).
    if roles.api {
        crate::metrics::register_api_series();
    }
    if roles.scheduler {
        crate::metrics::register_scheduler_series();
    }
    if roles.worker {
        crate::metrics::register_worker_series();
    }
    if roles.api {
        let listener = listener.ok_or_else(|| std::io::Error::other("the API needs a listener"))?;
        services.spawn(api::Server::new(listener, AppState { store: store.clone(), config: config.clone() }));
    }
    if roles.scheduler {
        services.spawn(Scheduler::new(store.clone(), SchedulerSettings::from_config(&config), Clock::System));
    }
    if roles.worker {
        let executor = Executor::from_config(&config).map_err(std::io::Error::other)?;
        services.spawn(Worker::new(store, WorkerSettings::from_config(&config), executor));
    }
    services.wait().await
}
