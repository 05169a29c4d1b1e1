//! The HTTP API as a long-running [`Service`]: serves until cancelled, finishing in-flight requests.

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::AppState;
use crate::service::{BoxFuture, Service};

/// The API server on its listener.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// The API on `listener` with `state`.
    pub fn new(listener: TcpListener, state: AppState) -> Self {
        Self { listener, state }
    }
}

impl Service for Server {
    fn name(&self) -> &'static str {
        "API"
    }

    fn run(self: Box<Self>, cancel: CancellationToken) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move { super::serve(self.listener, self.state, cancel).await.map_err(|e| e.to_string()) })
    }
}
