//! The HTTP API: seed-compatible routes (`/upload`, `/download/{id}`, `/health`) and `/api/v1`.

pub mod admin;
pub mod error;
pub mod idempotency;
pub mod namespaces;
pub mod queue;
pub mod runs;
pub mod seed;
pub mod server;
pub mod workers;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::store::Store;

pub use error::{Error, Result};
pub use server::Server;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The whole configuration (handlers read `api`, `services`, `namespaces`, `orchestrator`).
    pub config: Arc<Config>,
}

/// The OpenAPI document, generated from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "berth", description = "A job orchestrator on PostgreSQL. Seed-compatible routes plus /api/v1."),
    paths(
        seed::upload,
        seed::download,
        seed::download_head,
        seed::health,
        seed::root,
        runs::get_run,
        runs::get_logs,
        runs::get_result,
        runs::cancel_run,
        workers::list_workers
    ),
    components(schemas(error::ErrorBody, seed::UploadForm, seed::UploadResponse, seed::StatusBody))
)]
pub struct ApiDoc;

/// The router with every route, the upload limit and HTTP metrics.
pub fn app(state: AppState) -> Router {
    let limit = usize::try_from(state.config.api.max_upload_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/", get(seed::root))
        .route("/health", get(seed::health))
        .route("/upload", post(seed::upload))
        .route("/download/{id}", get(seed::download).head(seed::download_head))
        .route("/api/v1/runs/{id}", get(runs::get_run))
        .route("/api/v1/runs/{id}/logs", get(runs::get_logs))
        .route("/api/v1/runs/{id}/result", get(runs::get_result))
        .route("/api/v1/runs/{id}/cancel", post(runs::cancel_run))
        .route("/api/v1/runs/{id}/why", get(queue::why))
        .route("/api/v1/queue", get(queue::get_queue))
        .route("/api/v1/namespaces", get(namespaces::list_namespaces))
        .route("/api/v1/namespaces/{name}", get(namespaces::get_namespace).put(namespaces::put_namespace))
        .route("/api/v1/workers", get(workers::list_workers))
        .route("/api/v1/admin/migrate-to-legacy", post(admin::migrate_to_legacy))
        // The seed product's path for the same switch.
        .route("/api/v1/domains/{domain}/spark/jobs/migrate-from-prefect", post(admin::migrate_to_legacy))
        .merge(SwaggerUi::new("/swagger-ui").url("/api-docs/openapi.json", ApiDoc::openapi()))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(track_http))
        .with_state(state)
}

/// Serves the API on `listener` until `cancel`, finishing in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(async move { cancel.cancelled().await }).await
}

async fn track_http(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = crate::metrics::method_label(req.method().as_str());
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    crate::metrics::http_request(method, &route, response.status().as_u16(), started.elapsed());
    response
}
