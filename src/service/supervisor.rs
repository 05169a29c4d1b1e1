//! Runs services side by side and stops them all when one fails.

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Service;

/// Services running on one cancellation token.
pub struct Supervisor {
    cancel: CancellationToken,
    tasks: JoinSet<(&'static str, Result<(), String>)>,
}

impl Supervisor {
    /// An empty supervisor; `cancel` stops every service it runs.
    pub fn new(cancel: CancellationToken) -> Self {
        Self { cancel, tasks: JoinSet::new() }
    }

    /// Starts `service`.
    pub fn spawn(&mut self, service: impl Service) {
        let service = Box::new(service);
        let name = service.name();
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move { (name, service.run(cancel).await) });
    }

    /// The token that stops every service.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Cancels every service and waits for them to drain.
    pub async fn stop(self) -> std::io::Result<()> {
        self.cancel.cancel();
        self.wait().await
    }

    /// Waits until every service has returned. A service that fails (or panics) cancels the
    /// others, which drain; the first failure is returned.
    pub async fn wait(mut self) -> std::io::Result<()> {
        let mut failure = None;
        while let Some(done) = self.tasks.join_next().await {
            let message = match done {
                Ok((_, Ok(()))) => continue,
                Ok((name, Err(e))) => format!("the {name} stopped: {e}"),
                Err(e) => format!("a service task panicked: {e}"),
            };
            tracing::error!("{message}");
            self.cancel.cancel();
            failure.get_or_insert(message);
        }
        match failure {
            Some(message) => Err(std::io::Error::other(message)),
            None => Ok(()),
        }
    }
}
