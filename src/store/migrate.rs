//! Embedded migrations: apply, revert, and the startup check that refuses an out-of-date schema.

use super::{Error, Result, Store};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Applies every pending migration.
    pub async fn migrate_run(&self) -> Result<()> {
        MIGRATOR.run(self.pool()).await?;
        Ok(())
    }

    /// Reverts every migration (the CI round trip: up, down, up).
    pub async fn migrate_undo_all(&self) -> Result<()> {
        MIGRATOR.undo(self.pool(), 0).await?;
        Ok(())
    }

    /// Refuses to run against a schema older than this binary's migrations.
    pub async fn migrate_check(&self) -> Result<()> {
        let expected = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let found: Option<i64> = sqlx::query_scalar(include_str!("../../sql/schema/version.sql"))
            .fetch_one(self.pool())
            .await
            .or_else(|e| match e {
                // No migrations table at all: nothing was ever applied.
                sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(None),
                e => Err(e),
            })?;
        let found = found.unwrap_or(0);
        if found < expected {
            return Err(Error::SchemaBehind { found, expected });
        }
        Ok(())
    }
}
