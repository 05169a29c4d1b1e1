//! `/api/v1/tokens`: an admin creates (the secret is shown once), lists and revokes bearer tokens.
//! `berth token create|list|revoke` does the same against the database directly.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::{AppState, Caller, Error, Result};
use crate::auth::{TokenKind, token_generate, token_hash};
use crate::store::tokens::{TokenParams, TokenRow};

/// Most groups one token carries.
pub const GROUPS_MAX: usize = 100;

/// A token to create.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The user or service account it speaks for (1 to 255 printable characters).
    #[schema(min_length = 1, max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$")]
    pub subject: String,
    /// `user` (default) or `service`.
    pub kind: Option<TokenKind>,
    /// Its groups (permissions granted to a group hold for its members).
    pub groups: Option<Vec<String>>,
    /// Every permission on everything.
    pub admin: Option<bool>,
    /// A service account that may name another user (a portal submitting for its users).
    pub may_act_for_others: Option<bool>,
    /// When it stops working (RFC 3339); absent: never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed (never its secret: only a hash of it is kept).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// Token id (to revoke it).
    pub id: i64,
    /// The user or service account it speaks for.
    pub subject: String,
    /// `user` or `service`.
    pub kind: String,
    /// Its groups.
    pub groups: Vec<String>,
    /// Every permission on everything.
    pub admin: bool,
    /// May name another user.
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

impl TokenView {
    /// The API's view of a stored token.
    pub fn from_row(t: &TokenRow) -> Self {
        TokenView {
            id: t.id,
            subject: t.subject.clone(),
            kind: t.kind.clone(),
            groups: t.groups.clone(),
            admin: t.admin,
            may_act_for_others: t.may_act_for_others,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            created_at: t.created_at,
            created_by: t.created_by.clone(),
        }
    }
}

/// A new token: its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Token id.
    pub id: i64,
    /// The secret: send it as `Authorization: Bearer <token>`. Only its hash is kept: it cannot be
    /// shown again.
    pub token: String,
    /// Its subject.
    pub subject: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// Checks a token request (the API's and the CLI's): what to store, or what is wrong, in words.
pub fn token_params(body: TokenBody, created_by: &str, now: DateTime<Utc>) -> std::result::Result<TokenParams, String> {
    let printable = |s: &str| !s.is_empty() && s.chars().count() <= 255 && !s.chars().any(char::is_control);
    if !printable(&body.subject) {
        return Err("subject must be 1 to 255 printable characters".into());
    }
    let groups = body.groups.unwrap_or_default();
    if groups.len() > GROUPS_MAX || !groups.iter().all(|g| printable(g)) {
        return Err(format!("groups: at most {GROUPS_MAX}, each 1 to 255 printable characters"));
    }
    let kind = body.kind.unwrap_or(TokenKind::User);
    let may_act_for_others = body.may_act_for_others.unwrap_or(false);
    if may_act_for_others && kind != TokenKind::Service {
        return Err("may_act_for_others is for service accounts only (kind service)".into());
    }
    if body.expires_at.is_some_and(|t| t <= now) {
        return Err("expires_at is in the past".into());
    }
    Ok(TokenParams {
        subject: body.subject,
        kind,
        groups,
        admin: body.admin.unwrap_or(false),
        may_act_for_others,
        expires_at: body.expires_at,
        created_by: created_by.to_string(),
    })
}

/// Creates a token; the answer holds its secret, which cannot be shown again. Admin.
#[utoipa::path(post, path = "/api/v1/tokens", request_body(content = TokenBody, content_type = "application/json"),
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> Result<(StatusCode, Json<CreatedToken>)> {
    let bytes = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|e| Error::bad_request("invalid_body", format!("the body cannot be read: {e}")))?;
    let body: TokenBody = serde_json::from_slice(&bytes)
        .map_err(|e| Error::bad_request("invalid_body", format!("invalid JSON body: {e}")))?;
    let params = token_params(body, &caller.subject, Utc::now()).map_err(|m| Error::bad_request("invalid_field", m))?;
    let secret = token_generate();
    let (id, created_at) = state.store.token_create(&token_hash(&secret), &params).await?;
    tracing::info!(id, subject = %params.subject, by = %caller.subject, "token created");
    Ok((StatusCode::CREATED, Json(CreatedToken { id, token: secret, subject: params.subject, created_at })))
}

/// Every token, newest first (never a secret). Admin.
#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(State(state): State<AppState>) -> Result<Json<Vec<TokenView>>> {
    Ok(Json(state.store.token_list().await?.iter().map(TokenView::from_row).collect()))
}

/// Revokes a token: every API replica refuses it from the next request on. Admin.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = i64, Path)), responses(
    (status = 204, description = "revoked"), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode> {
    let id = id.parse::<i64>().map_err(|_| Error::NotFound(format!("token {id}")))?;
    if !state.store.token_revoke(id).await? {
        return Err(Error::NotFound(format!("token {id}")));
    }
    tracing::info!(id, by = %caller.subject, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_service_accounts_act_for_others() {
        let now = Utc::now();
        let body = |kind, act| TokenBody {
            subject: "portal".into(),
            kind: Some(kind),
            may_act_for_others: Some(act),
            ..TokenBody::default()
        };
        assert!(token_params(body(TokenKind::User, true), "cli", now).is_err());
        assert!(token_params(body(TokenKind::Service, true), "cli", now).unwrap().may_act_for_others);
        let past = TokenBody { subject: "a".into(), expires_at: Some(now), ..TokenBody::default() };
        assert!(token_params(past, "cli", now).is_err());
        assert!(token_params(TokenBody::default(), "cli", now).is_err(), "a subject is required");
    }
}
