//! Namespaces: resource pools with a quota in four dimensions. They exist because an operator
//! created them (`PUT /api/v1/namespaces/{name}`, or configuration at startup); a submission
//! never creates one, so the set of namespaces (and of the metrics labelled by them) is bounded.

use sqlx::PgConnection;

use super::{Error, Resources, Result, Store};
use crate::domain::Sharing;

/// Fails with [`Error::UnknownNamespace`] unless `name` exists.
pub async fn namespace_require(conn: &mut PgConnection, name: &str) -> Result<()> {
    let found: Option<(i64, i64, i64, i64)> =
        sqlx::query_as(include_str!("../../sql/namespaces/get_limit.sql")).bind(name).fetch_optional(conn).await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::UnknownNamespace(name.to_string())),
    }
}

impl Store {
    /// Creates each of `namespaces` that does not exist yet with its quota and sharing, in one statement;
    /// leaves existing ones (and quotas set since) alone. Safe when replicas start at once.
    pub async fn namespace_create_missing(&self, namespaces: &[(String, Resources, Sharing)]) -> Result<()> {
        let names: Vec<&str> = namespaces.iter().map(|(n, _, _)| n.as_str()).collect();
        let quota = |f: fn(&Resources) -> i64| namespaces.iter().map(|(_, q, _)| f(q)).collect::<Vec<i64>>();
        let sharing: Vec<Sharing> = namespaces.iter().map(|(_, _, s)| *s).collect();
        sqlx::query(include_str!("../../sql/namespaces/ensure.sql"))
            .bind(&names)
            .bind(quota(|q| q.cpu))
            .bind(quota(|q| q.memory))
            .bind(quota(|q| q.pods))
            .bind(quota(|q| q.storage))
            .bind(sharing)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
