//! LISTEN/NOTIFY channels. Notifications carry no payload: they only say "look again", so Postgres
//! folds duplicates sent within one transaction and a missed one is covered by polling.

use sqlx::PgConnection;

use super::Result;

/// A run was queued (or re-queued): the leader should run an admission cycle.
pub const QUEUED: &str = "berth_queued";
/// Runs were admitted: idle workers should claim.
pub const ADMITTED: &str = "berth_admitted";
/// A run finished or released resources: the leader should run an admission cycle.
pub const FINISHED: &str = "berth_finished";

/// A running run's cancellation was requested: workers check their runs at once.
pub const CANCEL: &str = "berth_cancel";

/// Sends a payload-less notification on `channel`, delivered when the transaction commits.
pub async fn notify(conn: &mut PgConnection, channel: &str) -> Result<()> {
    sqlx::query(include_str!("../../sql/schema/notify.sql")).bind(channel).execute(conn).await?;
    Ok(())
}
