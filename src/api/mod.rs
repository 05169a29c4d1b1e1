//! The HTTP API: seed-compatible routes (`/upload`, `/download/{id}`, `/health`) and `/api/v1`.
//!
//! Bodies are the API's own types (`…View`, built by a `from_row` beside each handler), never
//! the store's rows, so the database can change without changing the API.

pub mod admin;
pub mod auth;
pub mod console;
pub mod error;
pub mod follow;
pub mod idempotency;
pub mod job_input;
pub mod jobs;
pub mod lists;
pub mod namespaces;
pub mod overview;
pub mod permissions;
pub mod queue;
pub mod rejections;
pub mod resources;
pub mod runs;
pub mod schedules;
pub mod seed;
pub mod server;
pub mod tokens;
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

use crate::auth::{JobPermission, NamespacePermission};
use crate::config::Config;
use crate::domain::Sharing;
use crate::resources::Resources;
use crate::store::Store;

pub use auth::{Access, Caller};
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
    /// What it requires of its caller (`docs/security.md`).
    pub access: Access,
    handler: fn() -> MethodRouter<AppState>,
}

/// Every route of the API. [`app`] builds the router from this table only, each behind the
/// [`auth::guard`] of its [`Access`] (`tests/api_auth.rs` calls every one of them with every kind
/// of token); and
/// `tests/api_openapi.rs` fails when the document misses one of them (or the router serves one
/// that is not here), so a new route is added here, with its `#[utoipa::path]` in [`ApiDoc`].
pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/", access: LISTED, handler: || get(seed::root) },
    Route { method: "GET", path: "/health", access: PUBLIC, handler: || get(seed::health) },
    Route { method: "POST", path: "/upload", access: CREATE, handler: || post(upload::upload) },
    Route { method: "GET", path: "/download/{id}", access: VIEW, handler: || get(seed::download) },
    Route { method: "HEAD", path: "/download/{id}", access: VIEW, handler: || head(seed::download_head) },
    Route { method: "GET", path: "/download_partial/{id}", access: VIEW, handler: || get(seed::download_partial) },
    Route { method: "POST", path: "/terminate/{id}", access: RUN, handler: || post(seed::terminate) },
    Route { method: "GET", path: "/api/v1/jobs", access: LISTED, handler: || get(jobs::list_jobs) },
    Route { method: "POST", path: "/api/v1/jobs", access: CREATE, handler: || post(jobs::create_job) },
    Route { method: "GET", path: "/api/v1/jobs/{id}", access: VIEW, handler: || get(jobs::get_job) },
    Route { method: "PUT", path: "/api/v1/jobs/{id}", access: UPDATE, handler: || put(jobs::put_job) },
    Route { method: "PATCH", path: "/api/v1/jobs/{id}", access: UPDATE, handler: || patch(jobs::patch_job) },
    Route { method: "DELETE", path: "/api/v1/jobs/{id}", access: DELETE, handler: || delete(jobs::delete_job) },
    Route { method: "POST", path: "/api/v1/jobs/{id}/duplicate", access: VIEW, handler: || post(jobs::duplicate_job) },
    Route { method: "POST", path: "/api/v1/jobs/{id}/runs", access: RUN, handler: || post(jobs::start_run) },
    Route { method: "GET", path: "/api/v1/jobs/{id}/runs", access: VIEW, handler: || get(jobs::job_runs) },
    Route { method: "GET", path: "/api/v1/jobs/{id}/template", access: VIEW, handler: || get(jobs::job_template) },
    Route { method: "GET", path: "/api/v1/jobs/{id}/events", access: VIEW, handler: || get(jobs::job_events) },
    Route { method: "GET", path: "/api/v1/jobs/{id}/schedule", access: VIEW, handler: || get(schedules::get_schedule) },
    Route {
        method: "PUT",
        path: "/api/v1/jobs/{id}/schedule",
        access: UPDATE,
        handler: || put(schedules::put_schedule),
    },
    Route {
        method: "PATCH",
        path: "/api/v1/jobs/{id}/schedule",
        access: UPDATE,
        handler: || patch(schedules::patch_schedule),
    },
    Route {
        method: "DELETE",
        path: "/api/v1/jobs/{id}/schedule",
        access: UPDATE,
        handler: || delete(schedules::delete_schedule),
    },
    Route { method: "GET", path: "/api/v1/runs", access: LISTED, handler: || get(lists::list_runs) },
    Route { method: "GET", path: "/api/v1/runs/{id}", access: VIEW, handler: || get(runs::get_run) },
    Route { method: "GET", path: "/api/v1/runs/{id}/logs", access: VIEW, handler: || get(runs::get_logs) },
    Route { method: "GET", path: "/api/v1/runs/{id}/result", access: VIEW, handler: || get(runs::get_result) },
    Route { method: "POST", path: "/api/v1/runs/{id}/cancel", access: RUN, handler: || post(runs::cancel_run) },
    Route { method: "POST", path: "/api/v1/runs/{id}/abort", access: RUN, handler: || post(runs::abort_run) },
    Route { method: "GET", path: "/api/v1/runs/{id}/why", access: VIEW, handler: || get(queue::why) },
    Route { method: "GET", path: "/api/v1/queue", access: LISTED, handler: || get(queue::get_queue) },
    Route { method: "GET", path: "/api/v1/namespaces", access: LISTED, handler: || get(namespaces::list_namespaces) },
    Route {
        method: "GET",
        path: "/api/v1/namespaces/{name}",
        access: LISTED,
        handler: || get(namespaces::get_namespace),
    },
    Route {
        method: "PUT",
        path: "/api/v1/namespaces/{name}",
        access: ADMIN,
        handler: || put(namespaces::put_namespace),
    },
    Route {
        method: "PATCH",
        path: "/api/v1/namespaces/{name}",
        access: ADMIN,
        handler: || patch(namespaces::patch_namespace),
    },
    Route { method: "GET", path: "/api/v1/workers", access: LISTED, handler: || get(workers::list_workers) },
    Route { method: "GET", path: "/api/v1/overview", access: LISTED, handler: || get(overview::get_overview) },
    Route {
        method: "GET",
        path: "/api/v1/workflow-runs/{id}",
        access: VIEW,
        handler: || get(workflows::get_workflow_run),
    },
    Route {
        method: "POST",
        path: "/api/v1/workflow-runs/{id}/cancel",
        access: RUN,
        handler: || post(workflows::cancel_workflow_run),
    },
    Route {
        method: "GET",
        path: "/api/v1/jobs/{id}/permissions",
        access: VIEW,
        handler: || get(permissions::get_job_permissions),
    },
    Route {
        method: "PUT",
        path: "/api/v1/jobs/{id}/permissions",
        access: OWNER,
        handler: || put(permissions::put_job_permissions),
    },
    Route {
        method: "GET",
        path: "/api/v1/namespaces/{name}/permissions",
        access: ADMIN,
        handler: || get(permissions::get_namespace_permissions),
    },
    Route {
        method: "PUT",
        path: "/api/v1/namespaces/{name}/permissions",
        access: ADMIN,
        handler: || put(permissions::put_namespace_permissions),
    },
    Route { method: "GET", path: "/api/v1/tokens", access: ADMIN, handler: || get(tokens::list_tokens) },
    Route { method: "POST", path: "/api/v1/tokens", access: ADMIN, handler: || post(tokens::create_token) },
    Route { method: "DELETE", path: "/api/v1/tokens/{id}", access: ADMIN, handler: || delete(tokens::revoke_token) },
    Route {
        method: "POST",
        path: "/api/v1/admin/migrate-to-legacy",
        access: ADMIN,
        handler: || post(admin::migrate_to_legacy),
    },
    // The seed product's path for the same switch.
    Route {
        method: "POST",
        path: "/api/v1/domains/{domain}/spark/jobs/migrate-from-prefect",
        access: ADMIN,
        handler: || post(admin::migrate_from_prefect),
    },
];

// The accesses of the route table, short so that each route stays on one line.
const PUBLIC: Access = Access::Public;
const LISTED: Access = Access::Listed;
const VIEW: Access = Access::Job(JobPermission::View);
const RUN: Access = Access::Job(JobPermission::Run);
const UPDATE: Access = Access::Job(JobPermission::Update);
const DELETE: Access = Access::Job(JobPermission::Delete);
const OWNER: Access = Access::JobOwner;
const CREATE: Access = Access::Namespace(NamespacePermission::Create);
const ADMIN: Access = Access::Admin;

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
        namespaces::patch_namespace,
        workers::list_workers,
        overview::get_overview,
        workflows::get_workflow_run,
        workflows::cancel_workflow_run,
        permissions::get_job_permissions,
        permissions::put_job_permissions,
        permissions::get_namespace_permissions,
        permissions::put_namespace_permissions,
        tokens::list_tokens,
        tokens::create_token,
        tokens::revoke_token,
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
/// unreachable, 500 for a fault of berth's own (logged; the body says only that); and those of
/// every route but `/health` when `auth.enabled` is on: 401 (no token, or an unknown, revoked or
/// expired one) and 403 (without the permission), with the bearer scheme they ask for.
struct ServerErrors;

impl utoipa::Modify for ServerErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let server = [("500", "internal error; see the server log"), ("503", "the database is unreachable")];
        let auth = [
            ("401", "auth on: no token, or an unknown, revoked or expired one"),
            ("403", "auth on: the token lacks the permission this route needs"),
        ];
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let mut errors: Vec<(&str, &str)> = Vec::new();
            if path != "/" {
                errors.extend(server); // "/" answers without the database
            }
            let public = path == "/health";
            if !public {
                errors.extend(auth);
            }
            let head = item.head.iter_mut().map(|op| (op, false));
            let others = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete]
                .into_iter()
                .flatten()
                .map(|op| (op, true));
            for (op, with_body) in others.chain(head) {
                if !public {
                    op.security.get_or_insert_with(Vec::new).push(SecurityRequirement::new("bearer", [""; 0]));
                }
                for (status, description) in &errors {
                    let mut response = ResponseBuilder::new().description(*description);
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
    let guarded =
        |r: &Route| (r.handler)().route_layer(middleware::from_fn_with_state((state.clone(), r.access), auth::guard));
    ROUTES
        .iter()
        .fold(Router::new(), |router, r| router.route(r.path, guarded(r)))
        .merge(SwaggerUi::new(SWAGGER_UI_PATH).url(OPENAPI_PATH, ApiDoc::openapi()))
        .merge(console::router())
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(rejections::catch_panics))
        .layer(middleware::from_fn(rejections::json_errors))
        .layer(middleware::from_fn(track_http))
        .with_state(state)
}

/// Creates `default` and the configured namespaces, each unless it exists (what the API does when
/// it starts, before it accepts a submission).
pub async fn create_namespaces(store: &Store, config: &Config) -> crate::store::Result<()> {
    let namespaces: Vec<(String, Resources, Sharing)> = config
        .namespaces
        .at_startup()
        .into_iter()
        .map(|(name, q, sharing)| {
            (name, Resources { cpu: q.cpu, memory: q.memory, pods: q.pods, storage: q.storage }, sharing)
        })
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
