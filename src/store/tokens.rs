//! Bearer tokens: create, authenticate (by the hash of the secret, on every request), list, revoke.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Result, Store};
use crate::auth::TokenKind;

/// Identifies a token (to list and revoke it; never the secret).
pub type TokenId = i64;

/// What a new token is given.
#[derive(Debug, Clone)]
pub struct TokenParams {
    /// The user or service account it speaks for.
    pub subject: String,
    /// User or service account.
    pub kind: TokenKind,
    /// Groups (permissions granted to a group hold for its members).
    pub groups: Vec<String>,
    /// Every permission on everything.
    pub admin: bool,
    /// A service account that may name another user (as `user_id` of an upload, `user` of a job).
    pub may_act_for_others: bool,
    /// After this it is refused; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who made it (a subject, or `cli`).
    pub created_by: String,
}

/// The caller behind a valid token.
#[derive(Debug, Clone, FromRow)]
pub struct TokenCaller {
    /// Token id.
    pub id: TokenId,
    /// Its subject.
    pub subject: String,
    /// `user` or `service`.
    pub kind: String,
    /// Its groups.
    pub groups: Vec<String>,
    /// Admin.
    pub admin: bool,
    /// May act for other users.
    pub may_act_for_others: bool,
}

/// A token as listed.
#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    /// Token id.
    pub id: TokenId,
    /// Its subject.
    pub subject: String,
    /// `user` or `service`.
    pub kind: String,
    /// Its groups.
    pub groups: Vec<String>,
    /// Admin.
    pub admin: bool,
    /// May act for other users.
    pub may_act_for_others: bool,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last request with it (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
}

impl Store {
    /// Stores a token by the hash of its secret; returns its id and creation time.
    pub async fn token_create(&self, hash: &[u8], p: &TokenParams) -> Result<(TokenId, DateTime<Utc>)> {
        Ok(sqlx::query_as(include_str!("../../sql/tokens/create.sql"))
            .bind(hash)
            .bind(&p.subject)
            .bind(p.kind.as_str())
            .bind(&p.groups)
            .bind(p.admin)
            .bind(p.may_act_for_others)
            .bind(p.expires_at)
            .bind(&p.created_by)
            .fetch_one(self.pool())
            .await?)
    }

    /// The caller behind the token whose secret hashes to `hash`, unless it is unknown, revoked
    /// or expired; records its use (at most once a minute).
    pub async fn token_authenticate(&self, hash: &[u8]) -> Result<Option<TokenCaller>> {
        Ok(sqlx::query_as(include_str!("../../sql/tokens/authenticate.sql"))
            .bind(hash)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Every token, newest first.
    pub async fn token_list(&self) -> Result<Vec<TokenRow>> {
        Ok(sqlx::query_as(include_str!("../../sql/tokens/list.sql")).fetch_all(self.pool()).await?)
    }

    /// Revokes token `id` at once; `false` when there is no such token.
    pub async fn token_revoke(&self, id: TokenId) -> Result<bool> {
        let done: Option<TokenId> = sqlx::query_scalar(include_str!("../../sql/tokens/revoke.sql"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(done.is_some())
    }
}
