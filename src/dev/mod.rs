//! `berth dev`: the API, the scheduler and one worker in one process, on a private Postgres it
//! starts itself when `DATABASE_URL` is unset. It adds no code path of its own: it runs the same
//! services as `berth api`, `berth scheduler` and `berth worker`, through [`run_services`].

pub mod postgres;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::Config;
use crate::executor::Executor;
use crate::scheduler::{self, SchedulerSettings};
use crate::store::Store;
use crate::worker::{self, WorkerSettings};

/// Which services [`run_services`] starts.
#[derive(Debug, Clone, Copy)]
pub struct Services {
    /// The HTTP API.
    pub api: bool,
    /// A scheduler (leader candidate).
    pub scheduler: bool,
    /// A worker.
    pub worker: bool,
}

impl Services {
    /// Everything, as `berth dev` runs it.
    pub const ALL: Services = Services { api: true, scheduler: true, worker: true };
}

/// Runs the chosen services on `store` until `cancel`, then waits for each to drain.
/// `listener` is required when the API runs.
pub async fn run_services(
    store: Store,
    config: Arc<Config>,
    services: Services,
    listener: Option<TcpListener>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let mut tasks: tokio::task::JoinSet<Result<(), String>> = tokio::task::JoinSet::new();
    if services.api {
        let listener = listener.ok_or_else(|| std::io::Error::other("the API needs a listener"))?;
        let state = AppState { store: store.clone(), config: config.clone() };
        let cancel = cancel.clone();
        tasks.spawn(
            async move { api::serve(listener, state, cancel).await.map_err(|e| format!("the API stopped: {e}")) },
        );
    }
    if services.scheduler {
        let settings = SchedulerSettings::from_config(&config);
        let (store, cancel) = (store.clone(), cancel.clone());
        tasks.spawn(async move {
            scheduler::run(store, settings, Clock::System, cancel).await;
            Ok(())
        });
    }
    if services.worker {
        let settings = WorkerSettings::from_config(&config);
        let executor = Executor::of_kind(config.worker.executor);
        let (store, cancel) = (store.clone(), cancel.clone());
        tasks.spawn(async move {
            worker::run(store, settings, executor, cancel)
                .await
                .map(|_| ())
                .map_err(|e| format!("the worker stopped: {e}"))
        });
    }
    // A service that fails stops the process (with the others drained), so a supervisor restarts it.
    let mut failure = None;
    while let Some(done) = tasks.join_next().await {
        let result = done.map_err(|e| format!("a service task panicked: {e}")).and_then(|r| r);
        if let Err(message) = result {
            tracing::error!("{message}");
            cancel.cancel();
            failure.get_or_insert(message);
        }
    }
    match failure {
        Some(message) => Err(std::io::Error::other(message)),
        None => Ok(()),
    }
}

/// Binds the API's listener on all interfaces.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("0.0.0.0", port)).await
}

/// Connects to `url` and applies the migrations (what `berth dev` does before starting services).
pub async fn connect_and_migrate(url: &str) -> crate::store::Result<Store> {
    let store = Store::connect(url, crate::store::POOL_SIZE_DEFAULT).await?;
    store.migrate_run().await?;
    Ok(store)
}
