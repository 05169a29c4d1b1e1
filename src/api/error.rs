//! The API's one error type and its one JSON shape: `{ "error": code, "message": text }`.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store;

/// Errors an API handler can return; each maps to one status code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or names something that does not exist in configuration.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code.
        code: &'static str,
        /// In words, naming the field.
        message: String,
    },
    /// The body is larger than the upload limit.
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// No token, or one that is unknown, revoked or expired (auth on).
    #[error("{0}")]
    Unauthorized(String),
    /// The token is valid but lacks the permission.
    #[error("{0}")]
    Forbidden(String),
    /// No such run, job or resource.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// Machine-readable code.
        code: &'static str,
        /// In words.
        message: String,
    },
    /// It existed, and retention removed it (a cleaned run's result).
    #[error("{message}")]
    Gone {
        /// Machine-readable code.
        code: &'static str,
        /// In words.
        message: String,
    },
    /// The database is unreachable.
    #[error("the database is unreachable or busy; send the request again")]
    Unavailable,
    /// Anything else: logged, answered with a generic message.
    #[error(transparent)]
    Internal(store::Error),
}

/// Result alias of the API layer.
pub type Result<T> = std::result::Result<T, Error>;

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `missing_field`.
    pub error: String,
    /// In words.
    pub message: String,
}

impl Error {
    /// A 400 with `code` and `message`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest { code, message: message.into() }
    }

    /// The 400 for a namespace nobody created, saying how to create it.
    pub fn unknown_namespace(name: &str) -> Self {
        Error::bad_request(
            "unknown_namespace",
            format!(
                "namespace {name:?} does not exist; an operator creates it with PUT /api/v1/namespaces/{name} \
                 or in configuration ([namespaces.{name}])"
            ),
        )
    }

    /// The 409 for an idempotency key reused with another request. It names no run: the other
    /// request's run is not this request's answer.
    pub fn idempotency_conflict() -> Self {
        Error::Conflict {
            code: "idempotency_conflict",
            message: "this Idempotency-Key was used for another request; use a new key for a new request".into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Error::Gone { code, .. } => (StatusCode::GONE, code),
            Error::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::UnknownNamespace(name) => Error::unknown_namespace(&name),
            store::Error::IdempotencyConflict => Error::idempotency_conflict(),
            e => Error::Internal(e),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(store::Error::Db(e))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let unreachable = matches!(&self, Error::Internal(store::Error::Db(e)) if db_unreachable(e));
        let this = if unreachable { Error::Unavailable } else { self };
        let (status, code) = this.status_and_code();
        let message = match &this {
            Error::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                "internal error; see the server log".to_string()
            }
            e => e.to_string(),
        };
        let mut response = (status, Json(ErrorBody { error: code.to_string(), message })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Whether `e` means the database is away rather than that the request is wrong: no connection
/// within the acquire timeout, a broken socket, or the server shutting down or starting up
/// (SQLSTATE class 08, connection exception, and 57P01–57P03); or that PostgreSQL aborted the
/// request's transaction to break a deadlock or a serialization conflict with another (40P01,
/// 40001), which nothing was written by and which may be sent again. A 503 either way.
fn db_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01")
        }
        _ => false,
    }
}
