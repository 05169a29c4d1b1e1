//! Who calls, and what each route requires: every entry of [`super::ROUTES`] declares its
//! [`Access`]; the [`guard`] in front of it authenticates the bearer token (401), refuses a
//! non-admin on an admin route (403) and hands the [`Caller`] to the handler, which checks the
//! permission on the job, run or namespace it touches (403) and lists only what the caller may
//! view. With `auth.enabled` off every caller is [`Caller::anonymous`], who may do everything.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, Error, Result};
use crate::auth::{JobPermission, NamespacePermission, token_hash};
use crate::store::JobId;
use crate::store::grants::Viewer;
use crate::store::jobs::JobRow;

/// What a route requires of its caller. Required in every [`super::Route`], so a route added
/// later cannot forget it; `tests/api_auth.rs` calls every route with every kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token (`/health` only).
    Public,
    /// Any valid token; the handler shows only what the caller may view (the lists, the queue).
    Listed,
    /// A valid token with this permission on the job in the path, or on the job of the run in the
    /// path (checked by the handler).
    Job(JobPermission),
    /// The job's owner (its creator) or an admin: granting permissions on a job.
    JobOwner,
    /// A valid token with this permission on the namespace the request names (checked by the
    /// handler).
    Namespace(NamespacePermission),
    /// An admin token.
    Admin,
}

/// The caller of a request, as the [`guard`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject; `api` when auth is off.
    pub subject: String,
    /// The token's groups.
    pub groups: Vec<String>,
    /// Every permission on everything (also every caller when auth is off).
    pub admin: bool,
    /// A service account that may name another user.
    pub may_act_for_others: bool,
    /// Auth is off: no token was asked for.
    pub anonymous: bool,
    /// The hash of the bearer token the request came with (`None` with auth off): what a long
    /// answer (a followed log) authenticates again while it lasts ([`Caller::still_allowed`]).
    pub token: Option<TokenHash>,
}

/// A bearer token's hash, kept to authenticate it again; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(Vec<u8>);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl Caller {
    /// The caller when auth is off: may do everything; events keep the actor the request names.
    pub fn anonymous() -> Self {
        Caller {
            subject: super::jobs::ACTOR_DEFAULT.into(),
            groups: Vec::new(),
            admin: true,
            may_act_for_others: true,
            anonymous: true,
            token: None,
        }
    }

    /// Whether this caller may still `permission` job `job`: its token authenticates again (not
    /// revoked or expired since the request came) and, unless it is now an admin's, a grant or the
    /// namespace still gives it. What a streamed answer checks while it lasts, so that taking a
    /// token or a grant back ends it. Always true with auth off.
    pub async fn still_allowed(
        &self,
        store: &crate::store::Store,
        job: JobId,
        permission: JobPermission,
    ) -> Result<bool> {
        let Some(TokenHash(hash)) = &self.token else { return Ok(self.anonymous) };
        let Some(t) = store.token_authenticate(hash).await? else { return Ok(false) };
        if t.admin {
            return Ok(true);
        }
        let viewer = Viewer { subject: t.subject, groups: t.groups };
        Ok(store.job_allows(job, &viewer, permission).await? == Some(true))
    }

    /// The filter of the lists: `None` for an admin (or auth off), who sees everything.
    pub fn viewer(&self) -> Option<Viewer> {
        (!self.admin).then(|| Viewer { subject: self.subject.clone(), groups: self.groups.clone() })
    }

    /// The actor recorded in events: the token's subject; with auth off, what the request
    /// names (`named`), else `api`.
    pub fn actor(&self, named: Option<&str>) -> String {
        match (self.anonymous, named) {
            (true, Some(n)) if !n.is_empty() => n.to_string(),
            _ => self.subject.clone(),
        }
    }

    /// The user a request acts for (the seed's `user_id` rule): with auth on, the token's
    /// subject; a different `named` user is refused (403) unless the token is a service account
    /// allowed to act for others. With auth off, `named` (else `None`: the route's default).
    pub fn acting_for(&self, named: Option<&str>) -> Result<Option<String>> {
        let named = named.filter(|n| !n.is_empty());
        if self.anonymous {
            return Ok(named.map(str::to_string));
        }
        match named {
            None => Ok(Some(self.subject.clone())),
            Some(n) if n == self.subject || self.may_act_for_others => Ok(Some(n.to_string())),
            Some(n) => Err(Error::Forbidden(format!(
                "this token's subject is {:?} and the request names user {n:?}: only a service account allowed \
                 to act for others may name another user",
                self.subject
            ))),
        }
    }

    /// Requires `permission` on `job` (its owner, a grant, or the namespace's `view`).
    pub async fn require_job(&self, state: &AppState, job: &JobRow, permission: JobPermission) -> Result<()> {
        self.require_job_id(state, job.id, permission).await
    }

    /// [`Caller::require_job`] by id (a run's job).
    pub async fn require_job_id(&self, state: &AppState, job: JobId, permission: JobPermission) -> Result<()> {
        let Some(viewer) = self.viewer() else { return Ok(()) };
        match state.store.job_allows(job, &viewer, permission).await? {
            Some(true) => Ok(()),
            Some(false) => Err(Error::Forbidden(format!(
                "{:?} may not {permission} job {job} (its owner or an admin grants permissions)",
                self.subject
            ))),
            None => Err(Error::NotFound(format!("job {job}"))),
        }
    }

    /// Requires the ownership of `job` (or admin): to grant permissions on it.
    pub fn require_owner(&self, job: &JobRow) -> Result<()> {
        if self.admin || job.created_by == self.subject {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "only the owner of job {} ({:?}) or an admin may grant permissions on it",
            job.id, job.created_by
        )))
    }

    /// Requires `permission` on `namespace`.
    pub async fn require_namespace(
        &self,
        state: &AppState,
        namespace: &str,
        permission: NamespacePermission,
    ) -> Result<()> {
        let Some(viewer) = self.viewer() else { return Ok(()) };
        if state.store.namespace_allows(namespace, &viewer, permission).await? {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "{:?} may not {permission} in namespace {namespace:?} (an admin grants it with \
             PUT /api/v1/namespaces/{namespace}/permissions)",
            self.subject
        )))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Error;

    /// The caller the [`guard`] put there; a route without a guard gets no caller (an error of
    /// berth's own, never a pass).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            Error::Internal(crate::store::Error::Db(sqlx::Error::Protocol("route without an auth guard".into())))
        })
    }
}

/// The middleware in front of each route: authenticates the token (auth on), refuses a
/// non-admin on an [`Access::Admin`] route, and puts the [`Caller`] into the request.
pub async fn guard(State((state, access)): State<(AppState, Access)>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(axum::http::header::AUTHORIZATION).cloned();
    match authenticate(&state, access, header.as_ref()).await {
        Ok(caller) => {
            if let Some(caller) = caller {
                req.extensions_mut().insert(caller);
            }
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn authenticate(
    state: &AppState,
    access: Access,
    header: Option<&axum::http::HeaderValue>,
) -> Result<Option<Caller>> {
    if !state.config.auth.on() {
        return Ok(Some(Caller::anonymous()));
    }
    if access == Access::Public {
        return Ok(None);
    }
    let secret = bearer(header)?;
    let hash = token_hash(secret);
    let found = state.store.token_authenticate(&hash).await?;
    let Some(t) = found else {
        return Err(Error::Unauthorized("the token is unknown, revoked or expired".into()));
    };
    let caller = Caller {
        subject: t.subject,
        groups: t.groups,
        admin: t.admin,
        may_act_for_others: t.may_act_for_others,
        anonymous: false,
        token: Some(TokenHash(hash)),
    };
    if access == Access::Admin && !caller.admin {
        return Err(Error::Forbidden(format!("{:?} is not an admin, and this route is for admins", caller.subject)));
    }
    Ok(Some(caller))
}

/// The secret of `Authorization: Bearer <secret>`, or a 401 saying what is missing.
fn bearer(header: Option<&axum::http::HeaderValue>) -> Result<&str> {
    let header = header
        .ok_or_else(|| Error::Unauthorized("this route needs a token: send Authorization: Bearer <token>".into()))?;
    let value = header.to_str().map_err(|_| Error::Unauthorized("the Authorization header is not text".into()))?;
    let (scheme, secret) =
        value.split_once(' ').ok_or_else(|| Error::Unauthorized("expected Authorization: Bearer <token>".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
        return Err(Error::Unauthorized("expected Authorization: Bearer <token>".into()));
    }
    Ok(secret.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(subject: &str, act_for: bool) -> Caller {
        Caller {
            subject: subject.into(),
            groups: vec![],
            admin: false,
            may_act_for_others: act_for,
            anonymous: false,
            token: None,
        }
    }

    #[test]
    fn the_user_is_the_tokens_subject_unless_a_service_account_acts_for_another() {
        assert_eq!(token("7", false).acting_for(None).unwrap().as_deref(), Some("7"));
        assert_eq!(token("7", false).acting_for(Some("7")).unwrap().as_deref(), Some("7"));
        assert!(matches!(token("7", false).acting_for(Some("8")), Err(Error::Forbidden(_))));
        assert_eq!(token("portal", true).acting_for(Some("8")).unwrap().as_deref(), Some("8"));
        assert_eq!(Caller::anonymous().acting_for(Some("8")).unwrap().as_deref(), Some("8"));
        assert_eq!(Caller::anonymous().acting_for(None).unwrap(), None);
    }

    #[test]
    fn the_actor_is_the_subject_with_auth_on() {
        assert_eq!(token("alice", false).actor(Some("mallory")), "alice");
        assert_eq!(Caller::anonymous().actor(Some("bob")), "bob");
        assert_eq!(Caller::anonymous().actor(None), "api");
    }
}
