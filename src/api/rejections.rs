//! Every error the API answers is `{ "error", "message" }`, including the ones axum's extractors
//! answer themselves in plain text before a handler runs (a path segment that is not UTF-8, a
//! request that is not multipart, a malformed query), and the bodiless 404 and 405 of a path or a
//! method no route has: this middleware rewrites those.

use axum::Json;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ErrorBody;

/// Longest plain-text rejection carried into the message (axum's are one line).
const MESSAGE_MAX_BYTES: usize = 4096;

/// Rewrites a plain-text or untyped 4xx or 5xx answer into an [`ErrorBody`] with the same status:
/// axum's own 404 for a path no route has and 405 for a method a route lacks come with no body and
/// no content type. A `HEAD` answer keeps its bodiless form (the seed's `HEAD /download/{id}`).
pub async fn json_errors(req: Request, next: Next) -> Response {
    let head = req.method() == axum::http::Method::HEAD;
    let response = next.run(req).await;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let rewritten = match content_type {
        Some(v) => v.starts_with("text/plain"),
        None => !head,
    };
    if !(status.is_client_error() || status.is_server_error()) || !rewritten {
        return response;
    }
    let text = match to_bytes(response.into_body(), MESSAGE_MAX_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    (status, Json(ErrorBody { error: code(status).into(), message })).into_response()
}

/// The machine-readable code of a rejection's status.
fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Answers a handler's panic with a JSON 500 (`internal`) instead of dropping the connection, and
/// logs it. No input a user can send should panic a handler; this is the net under that rule, so
/// that a client sees an answer and the process keeps serving.
pub async fn catch_panics(req: Request, next: Next) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = crate::telemetry::panic_text(panic.as_ref());
            tracing::error!(panic = %what, "a request handler panicked");
            let body = ErrorBody { error: "internal".into(), message: "internal error; see the server log".into() };
            (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;

    async fn boom() -> &'static str {
        panic!("kaboom")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_json_500_and_the_server_keeps_serving() {
        let app = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(super::catch_panics));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let boom = http.get(format!("{base}/boom")).send().await.expect("an answer, not a dropped connection");
        assert_eq!(boom.status(), 500);
        let body: serde_json::Value = boom.json().await.expect("json");
        assert_eq!(body["error"], "internal");
        let fine = http.get(format!("{base}/fine")).send().await.expect("still serving");
        assert_eq!(fine.status(), 200);
        server.abort();
    }
}
