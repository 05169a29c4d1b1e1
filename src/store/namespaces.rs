//! Namespaces: resource pools with a quota in four dimensions.

use sqlx::PgConnection;

use super::{Resources, Result};

/// Creates `name` with `quota` unless it exists (first use of a namespace).
pub async fn namespace_ensure(conn: &mut PgConnection, name: &str, quota: Resources) -> Result<()> {
    sqlx::query(include_str!("../../sql/namespaces/ensure.sql"))
        .bind(name)
        .bind(quota.cpu)
        .bind(quota.memory)
        .bind(quota.pods)
        .bind(quota.storage)
        .execute(conn)
        .await?;
    Ok(())
}
