//! `berth dev`: the API, the scheduler and one worker in one process, on a private Postgres it
//! starts itself when `DATABASE_URL` is unset. It adds no code path of its own: it runs the same
//! services as `berth api`, `berth scheduler` and `berth worker`, through [`crate::service::run`].

pub mod postgres;

use tokio::net::TcpListener;

use crate::store::Store;

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
