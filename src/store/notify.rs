//! LISTEN/NOTIFY channels. Notifications carry no payload: they only say "look again", so Postgres
//! folds duplicates sent within one transaction and a missed one is covered by polling.

use std::future::Future;

use sqlx::PgConnection;
use sqlx::postgres::PgListener;

use super::{Result, Store};

/// A run was queued (or re-queued): the leader should run an admission cycle.
pub const QUEUED: &str = "berth_queued";
/// Runs were admitted: idle workers should claim.
pub const ADMITTED: &str = "berth_admitted";
/// A run finished or released resources: the leader should run an admission cycle.
pub const FINISHED: &str = "berth_finished";

/// A schedule was set, changed or removed: the leader looks at due schedules at once.
pub const SCHEDULES: &str = "berth_schedules";

/// A running run's cancellation was requested: workers check their runs at once.
pub const CANCEL: &str = "berth_cancel";

/// Sends a payload-less notification on `channel`, delivered when the transaction commits.
pub async fn notify(conn: &mut PgConnection, channel: &str) -> Result<()> {
    sqlx::query(include_str!("../../sql/schema/notify.sql")).bind(channel).execute(conn).await?;
    Ok(())
}

/// A LISTEN connection on `channels`, or `None` when the database cannot be reached (callers poll
/// meanwhile and try again at their next tick).
pub async fn listen(store: &Store, channels: &[&str]) -> Option<PgListener> {
    let mut listener = PgListener::connect(store.url()).await.ok()?;
    listener.listen_all(channels.iter().copied()).await.ok()?;
    Some(listener)
}

/// Waits for the next notification and returns its channel; `None` when the listener failed (the
/// caller drops it, falls back to polling and reconnects). Never returns without a listener.
pub async fn wait(listener: &mut Option<PgListener>) -> Option<String> {
    match listener {
        Some(l) => l.recv().await.ok().map(|n| n.channel().to_string()),
        None => std::future::pending().await,
    }
}

/// A notification that has already arrived, without waiting for one; `None` when there is none
/// (or no listener: a failed one is dropped, as [`wait`] does, and the caller reconnects).
pub fn pending(listener: &mut Option<PgListener>) -> Option<String> {
    // Polled once with a waker that does nothing: `recv` is as cancel-safe here as in the
    // `select!` of the loops that wait on it.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let polled = std::pin::pin!(listener.as_mut()?.recv()).poll(&mut cx);
    match polled {
        std::task::Poll::Ready(Ok(n)) => Some(n.channel().to_string()),
        std::task::Poll::Ready(Err(_)) => {
            *listener = None;
            None
        }
        std::task::Poll::Pending => None,
    }
}
