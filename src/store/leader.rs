//! Scheduler leadership: a session advisory lock on a dedicated connection, plus a fencing epoch.
//!
//! The lock lives as long as the connection; the epoch, bumped on every takeover, is checked by every
//! leader write (under a share lock on the leader row), so a deposed leader whose connection died
//! half-open cannot write anything.

use sqlx::{Connection, PgConnection, Row};

use super::{Error, Result, Store};

/// The advisory lock key of the scheduler leadership ("berth" in ASCII).
pub const LEADER_LOCK_KEY: i64 = 0x62_65_72_74_68;

/// A won leadership term: the connection holding the lock and the term's epoch.
pub struct LeaderSession {
    conn: PgConnection,
    epoch: i64,
    wrr: (i64, i64),
}

impl LeaderSession {
    /// This term's fencing token.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// WRR credits (high, normal) saved by the previous term.
    pub fn wrr(&self) -> (i64, i64) {
        self.wrr
    }

    /// Checks the lock's connection; a failure means the leadership is lost.
    pub async fn alive(&mut self) -> bool {
        sqlx::query(include_str!("../../sql/schema/ping.sql")).execute(&mut self.conn).await.is_ok()
    }

    /// Gives the leadership up at once so another scheduler takes over without waiting.
    pub async fn release(mut self) {
        let _ = sqlx::query(include_str!("../../sql/leader/unlock.sql"))
            .bind(LEADER_LOCK_KEY)
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }
}

impl Store {
    /// Tries to become the leader, on a new dedicated connection. `None`: someone else leads.
    pub async fn leader_try_elect(&self, holder: &str) -> Result<Option<LeaderSession>> {
        let mut conn = PgConnection::connect(self.url()).await?;
        let elected: bool = sqlx::query_scalar(include_str!("../../sql/leader/try_elect.sql"))
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        if !elected {
            let _ = conn.close().await;
            return Ok(None);
        }
        let row = sqlx::query(include_str!("../../sql/leader/take_over.sql"))
            .bind(holder)
            .bind(None::<chrono::DateTime<chrono::Utc>>)
            .fetch_one(&mut conn)
            .await?;
        Ok(Some(LeaderSession {
            conn,
            epoch: row.try_get("epoch")?,
            wrr: (row.try_get("wrr_high")?, row.try_get("wrr_normal")?),
        }))
    }
}

/// Fails with `Deposed` if `epoch` is not the current one, without locking the leader row (see
/// `Store::leader_tx_held`).
pub async fn leader_read_epoch(conn: &mut PgConnection, epoch: i64) -> Result<()> {
    let current: i64 = sqlx::query_scalar(include_str!("../../sql/leader/read_epoch.sql")).fetch_one(conn).await?;
    if current != epoch {
        return Err(Error::Deposed { mine: epoch });
    }
    Ok(())
}

/// Fencing check inside a leader write transaction: holds a share lock on the leader row until
/// commit and fails with [`Error::Deposed`] if `epoch` is no longer current.
pub async fn leader_check_epoch(conn: &mut PgConnection, epoch: i64) -> Result<()> {
    let current: i64 = sqlx::query_scalar(include_str!("../../sql/leader/check_epoch.sql")).fetch_one(conn).await?;
    if current != epoch {
        return Err(Error::Deposed { mine: epoch });
    }
    Ok(())
}
