//! A connection kept by one loop for its hot statements, instead of one taken from the pool and
//! given back around each of them.
//!
//! sqlx tests every connection given back to a pool with a round trip of its own (a `Sync`, in a
//! task it spawns), whatever the pool's options. A loop that runs a statement every few
//! milliseconds (the worker's claim and batched end, the leader's snapshot and admission) paid
//! that extra round trip, and the wake-ups of a server process and a task that go with it, once
//! per statement, on the path between a submit and its start. A [`Held`] connection stays with
//! its loop: it is given back when a statement on it failed (it may be broken, or inside a
//! transaction a cancelled statement left open), or once it is older than
//! [`HELD_LIFETIME`], and taken again at the next statement.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};

use super::{ACQUIRE_TIMEOUT_DEFAULT, PING_IDLE_AFTER_DEFAULT, Result, Store};

/// How long a loop keeps one connection before it takes a fresh one from the pool: the pool's own
/// limit on a connection's life (sqlx's default), which a connection never given back would escape.
pub const HELD_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// A connection of the generic-plan pool (`Store::generic_pool`) held by one loop.
#[derive(Debug)]
pub struct Held {
    store: Store,
    conn: Option<PoolConnection<Postgres>>,
    /// When `conn` was taken from the pool.
    taken: Instant,
    /// When a statement last ran on `conn`.
    used: Instant,
}

impl Store {
    /// A held connection for one loop's hot statements; it connects at its first statement.
    pub fn hold(&self) -> Held {
        Held { store: self.clone(), conn: None, taken: Instant::now(), used: Instant::now() }
    }
}

impl Held {
    /// The store the connection comes from (for the statements that do not run on it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The held connection, taken from the pool if there is none (or the one held is older than
    /// [`HELD_LIFETIME`]). One unused for longer than the ping interval (a quiet system, or one
    /// that outlived a database restart) is pinged first, within the pool's acquire timeout, and
    /// replaced if it does not answer.
    pub(crate) async fn conn(&mut self) -> Result<&mut PgConnection> {
        let held = match self.conn.take() {
            Some(conn) if self.taken.elapsed() > HELD_LIFETIME => {
                drop(conn);
                None
            }
            Some(mut conn) if self.used.elapsed() > PING_IDLE_AFTER_DEFAULT => {
                match tokio::time::timeout(ACQUIRE_TIMEOUT_DEFAULT, conn.ping()).await {
                    Ok(Ok(())) => Some(conn),
                    Ok(Err(_)) | Err(_) => {
                        conn.close_on_drop();
                        None
                    }
                }
            }
            held => held,
        };
        let conn = match held {
            Some(conn) => conn,
            None => {
                let conn = self.store.generic_pool().acquire().await?;
                self.taken = Instant::now();
                conn
            }
        };
        self.used = Instant::now();
        Ok(&mut **self.conn.insert(conn))
    }

    /// Passes a statement's result through, and gives the connection back to the pool when the
    /// statement failed: the next statement takes a fresh one.
    pub(crate) fn settle<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            // Given back, sqlx's own test on release closes it if it is broken.
            self.conn = None;
        }
        result
    }
}
