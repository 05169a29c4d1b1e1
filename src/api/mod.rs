//! The HTTP API: seed-compatible routes (`/upload`, `/download/{id}`, `/health`) and `/api/v1`.
//!
//! Bodies are the API's own types (`…View`, built by a `from_row` beside each handler), never
//! the store's rows, so the database can change without changing the API.

pub mod admin;
pub mod console;
pub mod error;
pub mod follow;
pub mod idempotency;
pub mod job_input;
pub mod jobs;
pub mod lists;
pub mod namespaces;
pub mod overview;
pub mod queue;
pub mod rejections;
pub mod resources;
pub mod runs;
pub mod schedules;
pub mod seed;
pub mod server;
pub mod upload;
pub mod workers;
pub mod workflows;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, head, patch, post, put};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::resources::Resources;
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

/// One route: method and path as the OpenAPI document spells them, and its handler.
pub struct Route {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The path, with `{param}` segments.
    pub path: &'static str,
    handler: fn() -> MethodRouter<AppState>,
}

/// Every route of the API. [`app`] builds the router from this table only, and
/// `tests/api_openapi.rs` fails when the document misses one of them (or the router serves one
/// that is not here), so a new route is added here, with its `#[utoipa::path]` in [`ApiDoc`].
pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/", handler: || get(seed::root) },
    Route { method: "GET", path: "/health", handler: || get(seed::health) },
    Route { method: "POST", path: "/upload", handler: || post(upload::upload) },
    Route { method: "GET", path: "/download/{id}", handler: || get(seed::download) },
    Route { method: "HEAD", path: "/download/{id}", handler: || head(seed::download_head) },
    Route { method: "GET", path: "/download_partial/{id}", handler: || get(seed::download_partial) },
    Route { method: "POST", path: "/terminate/{id}", handler: || post(seed::terminate) },
    Route { method: "GET", path: "/api/v1/jobs", handler: || get(jobs::list_jobs) },
    Route { method: "POST", path: "/api/v1/jobs", handler: || post(jobs::create_job) },
    Route { method: "GET", path: "/api/v1/jobs/{id}", handler: || get(jobs::get_job) },
    Route { method: "PUT", path: "/api/v1/jobs/{id}", handler: || put(jobs::put_job) },
    Route { method: "PATCH", path: "/api/v1/jobs/{id}", handler: || patch(jobs::patch_job) },
    Route { method: "DELETE", path: "/api/v1/jobs/{id}", handler: || delete(jobs::delete_job) },
    Route { method: "POST", path: "/api/v1/jobs/{id}/duplicate", handler: || post(jobs::duplicate_job) },
    Route { method: "POST", path: "/api/v1/jobs/{id}/runs", handler: || post(jobs::start_run) },
    Route { method: "GET", path: "/api/v1/jobs/{id}/runs", handler: || get(jobs::job_runs) },
    Route { method: "GET", path: "/api/v1/jobs/{id}/template", handler: || get(jobs::job_template) },
    Route { method: "GET", path: "/api/v1/jobs/{id}/events", handler: || get(jobs::job_events) },
    Route { method: "GET", path: "/api/v1/jobs/{id}/schedule", handler: || get(schedules::get_schedule) },
    Route { method: "PUT", path: "/api/v1/jobs/{id}/schedule", handler: || put(schedules::put_schedule) },
    Route { method: "PATCH", path: "/api/v1/jobs/{id}/schedule", handler: || patch(schedules::patch_schedule) },
    Route { method: "DELETE", path: "/api/v1/jobs/{id}/schedule", handler: || delete(schedules::delete_schedule) },
    Route { method: "GET", path: "/api/v1/runs", handler: || get(lists::list_runs) },
    Route { method: "GET", path: "/api/v1/runs/{id}", handler: || get(runs::get_run) },
    Route { method: "GET", path: "/api/v1/runs/{id}/logs", handler: || get(runs::get_logs) },
    Route { method: "GET", path: "/api/v1/runs/{id}/result", handler: || get(runs::get_result) },
    Route { method: "POST", path: "/api/v1/runs/{id}/cancel", handler: || post(runs::cancel_run) },
    Route { method: "POST", path: "/api/v1/runs/{id}/abort", handler: || post(runs::abort_run) },
    Route { method: "GET", path: "/api/v1/runs/{id}/why", handler: || get(queue::why) },
    Route { method: "GET", path: "/api/v1/queue", handler: || get(queue::get_queue) },
    Route { method: "GET", path: "/api/v1/namespaces", handler: || get(namespaces::list_namespaces) },
    Route { method: "GET", path: "/api/v1/namespaces/{name}", handler: || get(namespaces::get_namespace) },
    Route { method: "PUT", path: "/api/v1/namespaces/{name}", handler: || put(namespaces::put_namespace) },
    Route { method: "GET", path: "/api/v1/workers", handler: || get(workers::list_workers) },
    Route { method: "GET", path: "/api/v1/overview", handler: || get(overview::get_overview) },
    Route { method: "GET", path: "/api/v1/workflow-runs/{id}", handler: || get(workflows::get_workflow_run) },
    Route {
        method: "POST",
        path: "/api/v1/workflow-runs/{id}/cancel",
        handler: || post(workflows::cancel_workflow_run),
    },
    Route { method: "POST", path: "/api/v1/admin/migrate-to-legacy", handler: || post(admin::migrate_to_legacy) },
    // The seed product's path for the same switch.
    Route {
        method: "POST",
        path: "/api/v1/domains/{domain}/spark/jobs/migrate-from-prefect",
        handler: || post(admin::migrate_from_prefect),
    },
];

/// Where the document is served, and the Swagger UI that reads it.
pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";
/// The Swagger UI.
pub const SWAGGER_UI_PATH: &str = "/swagger-ui";

/// The OpenAPI document, generated from the handlers: every route of [`ROUTES`].
#[derive(OpenApi)]
#[openapi(
    info(title = "berth", description = "A job orchestrator on PostgreSQL. Seed-compatible routes plus /api/v1. \
        Every error answers `{ \"error\": code, \"message\": text }` (ErrorBody)."),
    paths(
        upload::upload,
        seed::download,
        seed::download_head,
        seed::download_partial,
        seed::terminate,
        seed::health,
        seed::root,
        jobs::list_jobs,
        jobs::create_job,
        jobs::get_job,
        jobs::put_job,
        jobs::patch_job,
        jobs::delete_job,
        jobs::duplicate_job,
        jobs::start_run,
        jobs::job_runs,
        jobs::job_template,
        jobs::job_events,
        schedules::get_schedule,
        schedules::put_schedule,
        schedules::patch_schedule,
        schedules::delete_schedule,
        lists::list_runs,
        runs::get_run,
        runs::get_logs,
        runs::get_result,
        runs::cancel_run,
        runs::abort_run,
        queue::why,
        queue::get_queue,
        namespaces::list_namespaces,
        namespaces::get_namespace,
        namespaces::put_namespace,
        workers::list_workers,
        overview::get_overview,
        workflows::get_workflow_run,
        workflows::cancel_workflow_run,
        admin::migrate_to_legacy,
        admin::migrate_from_prefect
    ),
    components(schemas(
        error::ErrorBody,
        upload::UploadForm,
        upload::UploadResponse,
        seed::StatusBody,
        job_input::JobBody,
        job_input::JobForm
    )),
    modifiers(&ServerErrors)
)]
pub struct ApiDoc;

/// Adds the answers any route that reads the database can give: 503 while the database is
/// unreachable, 500 for a fault of berth's own (logged; the body says only that).
struct ServerErrors;

impl utoipa::Modify for ServerErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let errors = [("500", "internal error; see the server log"), ("503", "the database is unreachable")];
        for (path, item) in doc.paths.paths.iter_mut() {
            if path == "/" {
                continue; // answers without the database
            }
            let head = item.head.iter_mut().map(|op| (op, false));
            let others = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete]
                .into_iter()
                .flatten()
                .map(|op| (op, true));
            for (op, with_body) in others.chain(head) {
                for (status, description) in errors {
                    let mut response = ResponseBuilder::new().description(description);
                    if with_body {
                        let schema = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
                        response = response.content("application/json", schema);
                    }
                    op.responses.responses.entry(status.to_string()).or_insert_with(|| response.build().into());
                }
            }
        }
    }
}

/// The router with every route of [`ROUTES`], the document and its UI, the web console
/// ([`console`], not in [`ROUTES`]), the upload limit and HTTP metrics.
pub fn app(state: AppState) -> Router {
    let limit = usize::try_from(state.config.api.max_upload_bytes).unwrap_or(usize::MAX);
    ROUTES
        .iter()
        .fold(Router::new(), |router, r| router.route(r.path, (r.handler)()))
        .merge(SwaggerUi::new(SWAGGER_UI_PATH).url(OPENAPI_PATH, ApiDoc::openapi()))
        .merge(console::router())
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(rejections::json_errors))
        .layer(middleware::from_fn(track_http))
        .with_state(state)
}

/// Creates `default` and the configured namespaces, each unless it exists (what the API does when
/// it starts, before it accepts a submission).
pub async fn create_namespaces(store: &Store, config: &Config) -> crate::store::Result<()> {
    let namespaces: Vec<(String, Resources)> = config
        .namespaces
        .at_startup()
        .into_iter()
        .map(|(name, q)| (name, Resources { cpu: q.cpu, memory: q.memory, pods: q.pods, storage: q.storage }))
        .collect();
    store.namespace_create_missing(&namespaces).await
}

/// Creates the configured namespaces, then serves the API on `listener` until `cancel`,
/// finishing in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    create_namespaces(&state.store, &state.config)
        .await
        .map_err(|e| std::io::Error::other(format!("creating the configured namespaces: {e}")))?;
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
