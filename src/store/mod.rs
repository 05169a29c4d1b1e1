//! Postgres access: the only module that runs SQL, every statement loaded from `sql/`.
//!
//! Functions are named table first, then verb (`run_claim_batch`, `worker_register`). Statements are
//! runtime-checked (`sqlx::query` over `include_str!`), and every one of them is exercised by a test.

pub mod activity;
pub mod admission;
pub mod attempts;
pub mod batch;
pub mod blobs;
pub mod grants;
pub mod held;
pub mod jobs;
pub mod leader;
pub mod lists;
pub mod maintenance;
pub mod migrate;
pub mod namespaces;
pub mod notify;
pub mod queue;
pub mod rescue;
pub mod retention;
pub mod runs;
pub mod schedules;
pub mod submit;
pub mod tokens;
pub mod usage;
pub mod workers;
pub mod workflows;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused or failed a statement, or is unreachable.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// Applying or reverting migrations failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The schema is older than this binary.
    #[error("the database schema is at version {found} but this berth needs {expected}: run `berth migrate` first")]
    SchemaBehind {
        /// Latest applied migration.
        found: i64,
        /// Latest embedded migration.
        expected: i64,
    },
    /// A submission names a namespace nobody created (namespaces exist because an operator
    /// created them, or configuration did; a submission never creates one).
    #[error("namespace {0:?} does not exist")]
    UnknownNamespace(String),
    /// The idempotency key was used before for another request.
    #[error("the idempotency key was used for another request")]
    IdempotencyConflict,
    /// A leader write was refused because another scheduler took over.
    #[error("leadership lost: epoch {mine} is no longer current")]
    Deposed {
        /// The epoch this process held.
        mine: i64,
    },
}

/// Result alias of the store layer.
pub type Result<T> = std::result::Result<T, Error>;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies a run (the seed's job id in `/download/{id}`).
    RunId
);
id_type!(
    /// Identifies a job definition.
    JobId
);
id_type!(
    /// Identifies a worker registration (one per worker process start).
    WorkerId
);
id_type!(
    /// Identifies an attempt; it is also the attempt's fencing token.
    AttemptId
);
id_type!(
    /// Identifies a stored blob (uploaded inputs, result zips).
    BlobId
);
id_type!(
    /// Identifies a workflow run (one start of a workflow job).
    WorkflowRunId
);

pub use crate::resources::Resources;

/// Handle on the database: a pool shared by every service of the process, and a second one for
/// the hot statements that run their generic plan (see `Store::generic_pool`).
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    generic: PgPool,
    url: String,
}

/// Connections per process unless told otherwise.
pub const POOL_SIZE_DEFAULT: u32 = 16;
/// Longest wait for a pooled connection. Short, so that while the database is unreachable API
/// requests fail fast with a 503 and the loops get back to their back-off instead of hanging.
pub const ACQUIRE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(3);

/// How long a connection of the generic-plan pool (`Store::generic_pool`) may sit idle and still
/// be handed out without a ping. sqlx pings every connection it hands out by default (`test_before_acquire`): one more
/// round trip before each statement, three of them (snapshot, admission, claim) between a
/// priority-flow submit and its start. The hot connections are used every few milliseconds; one
/// idle for longer (a quiet system, or one that outlived a database restart) is pinged first, and
/// a broken one is still closed when it is given back (sqlx pings on release).
pub const PING_IDLE_AFTER_DEFAULT: Duration = Duration::from_secs(10);

/// Session settings of every pooled connection, set once when it opens.
///
/// JIT off: berth runs short statements only, and PostgreSQL switches JIT on by estimated cost,
/// not by work done. The admission queue read is estimated high while `namespaces` has no
/// statistics (810 rows assumed), and was compiled on every cycle: 14 ms with JIT, 1.7 ms without,
/// for 1,000 queued runs. Large tables raise other statements' estimates past the threshold too.
/// A statement rather than a startup option, which connection poolers such as PgBouncer refuse.
const SESSION_SETTINGS: &str = include_str!("../../sql/schema/session.sql");

/// Added to [`SESSION_SETTINGS`] on the connections of [`Store::generic_pool`].
const GENERIC_PLANS: &str = include_str!("../../sql/schema/generic_plans.sql");

impl Store {
    /// Connects a pool to `url`. Fails fast when the database is unreachable. The generic-plan
    /// pool opens its connections when first used.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let options = |generic: bool| {
            PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT_DEFAULT)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(SESSION_SETTINGS).execute(&mut *conn).await?;
                        if generic {
                            sqlx::raw_sql(GENERIC_PLANS).execute(conn).await?;
                        }
                        Ok(())
                    })
                })
        };
        let pool = options(false).connect(url).await?;
        // Only the loops' statements run here, and each loop retries a statement that failed on a
        // connection that died while idle; the API's requests keep sqlx's ping on every acquire.
        let generic = options(true)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IDLE_AFTER_DEFAULT {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy(url)?;
        Ok(Self { pool, generic, url: url.to_string() })
    }

    /// A store whose connections open when first used, each attempt given up after 200 ms: for
    /// unit tests of code that must cope with an absent database.
    #[cfg(test)]
    pub(crate) fn lazy(url: &str) -> Self {
        let pool = PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(200))
            .connect_lazy(url)
            .expect("a database URL");
        Self { pool: pool.clone(), generic: pool, url: url.to_string() }
    }

    /// The pool, for callers in this module tree.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connections whose prepared statements always run their generic plan, planned once per
    /// connection (`plan_cache_mode = force_generic_plan`), for the statements that run most:
    /// the claim, the batched finish, the admission snapshot and the admission commit.
    ///
    /// With the default (`auto`), PostgreSQL planned the finish on every call and the admission
    /// statements on about half of them, because a custom plan for a small batch looks cheaper than
    /// the generic one: 0.3–0.6 ms of planning each, more than their execution with a few runs
    /// (`pg_stat_statements.total_plan_time`, depth scenario). Forcing the generic plan is safe
    /// only for statements whose plan cannot depend on the parameters: each names the partial
    /// index it reads with constants (migration 0007) and reads its runs by primary key, and
    /// `tests/store_plans.rs` runs each under a generic plan on tables of 40,000 runs and more. Statements
    /// with optional filters (`$1 is null or ...`) would lose their indexes here, so the API's
    /// reads stay on [`Store::pool`].
    pub(crate) fn generic_pool(&self) -> &PgPool {
        &self.generic
    }

    /// The connection string (the leader and listeners open dedicated connections with it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query(include_str!("../../sql/schema/ping.sql")).execute(&self.pool).await?;
        Ok(())
    }
}

/// The request a row carries in its `cpu`, `memory`, `pods` and `storage` columns.
fn resources_of(row: &sqlx::postgres::PgRow) -> Result<crate::resources::Resources> {
    use sqlx::Row;
    Ok(crate::resources::Resources {
        cpu: row.try_get("cpu")?,
        memory: row.try_get("memory")?,
        pods: row.try_get("pods")?,
        storage: row.try_get("storage")?,
    })
}
