//! A connection kept by one loop for its hot statements, instead of one taken from the pool and
//! given back around each of them.
//!
//! sqlx tests every connection given back to a pool with a round trip of its own (a `Sync`, in a
//! task it spawns), whatever the pool's options. A loop that runs a statement every few
//! milliseconds (the worker's claim and batched end, the leader's snapshot and admission) paid
//! that extra round trip, and the wake-ups of a server process and a task that go with it, once
//! per statement, on the path between a submit and its start. A [`Held`] connection stays with
//! its loop: it is given back only when a statement on it failed (it may be broken, or inside a
//! transaction a cancelled statement left open), and taken again at the next statement.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};

use super::{PING_IDLE_AFTER_DEFAULT, Result, Store};

/// A connection of the generic-plan pool (`Store::generic_pool`) held by one loop.
#[derive(Debug)]
pub struct Held {
    store: Store,
    conn: Option<PoolConnection<Postgres>>,
    /// When a statement last ran on `conn`.
    used: Instant,
    /// How long `conn` may sit unused and still run a statement without a ping first.
    ping_after: Duration,
}

impl Store {
    /// A held connection for one loop's hot statements; it connects at its first statement.
    pub fn hold(&self) -> Held {
        Held { store: self.clone(), conn: None, used: Instant::now(), ping_after: PING_IDLE_AFTER_DEFAULT }
    }
}

impl Held {
    /// The store the connection comes from (for the statements that do not run on it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The held connection, taken from the pool if there is none. One unused for longer than the
    /// ping interval (a quiet system, or one that outlived a database restart) is pinged first
    /// and replaced if it does not answer.
    pub(crate) async fn conn(&mut self) -> Result<&mut PgConnection> {
        let conn = match self.conn.take() {
            Some(mut conn) if self.used.elapsed() > self.ping_after => match conn.ping().await {
                Ok(()) => conn,
                Err(_) => {
                    conn.close_on_drop();
                    drop(conn);
                    self.store.generic_pool().acquire().await?
                }
            },
            Some(conn) => conn,
            None => self.store.generic_pool().acquire().await?,
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
