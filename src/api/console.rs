//! The web console at `/ui/`: server-rendered HTML shells and a little vanilla JavaScript and CSS
//! (the `console/` folder, embedded at build time) that read the JSON API. docs/console.md.
//!
//! Its routes are not in [`super::ROUTES`]: that table is the JSON API and its OpenAPI document.
//! Pages and assets are served without a token; the scripts send the token kept in the browser's
//! session storage with every API call, and ask for one when the API answers 401.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::{AppState, Error};

/// Where the console is served.
pub const CONSOLE_PATH: &str = "/ui";

/// The page every console page is rendered into.
const SHELL: &str = include_str!("../../console/shell.html");

/// Allows only the console's own files: no inline script, no other origin. Data is inserted
/// with `textContent`, and this stops anything that slipped through from running.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The files under `/ui/assets/`: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", "text/css; charset=utf-8", include_str!("../../console/style.css")),
    ("api.js", JS, include_str!("../../console/api.js")),
    ("dom.js", JS, include_str!("../../console/dom.js")),
    ("overview.js", JS, include_str!("../../console/overview.js")),
    ("runs.js", JS, include_str!("../../console/runs.js")),
    ("run.js", JS, include_str!("../../console/run.js")),
    ("queue.js", JS, include_str!("../../console/queue.js")),
    ("namespaces.js", JS, include_str!("../../console/namespaces.js")),
    ("workers.js", JS, include_str!("../../console/workers.js")),
    ("jobs.js", JS, include_str!("../../console/jobs.js")),
    ("job.js", JS, include_str!("../../console/job.js")),
    ("workflow.js", JS, include_str!("../../console/workflow.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The navigation: page (its script's name), link, label.
const NAV: [(&str, &str, &str); 6] = [
    ("overview", "/ui/", "Overview"),
    ("runs", "/ui/runs", "Runs"),
    ("queue", "/ui/queue", "Queue"),
    ("namespaces", "/ui/namespaces", "Namespaces"),
    ("workers", "/ui/workers", "Workers"),
    ("jobs", "/ui/jobs", "Jobs"),
];

/// The console's routes, merged into [`super::app`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route(CONSOLE_PATH, get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { shell("overview", "Overview", None) }))
        .route("/ui/runs", get(|| async { shell("runs", "Runs", None) }))
        .route("/ui/runs/{id}", get(|Path(id): Path<String>| async move { with_id("run", "Run", &id) }))
        .route("/ui/queue", get(|| async { shell("queue", "Queue", None) }))
        .route("/ui/namespaces", get(|| async { shell("namespaces", "Namespaces", None) }))
        .route("/ui/workers", get(|| async { shell("workers", "Workers", None) }))
        .route("/ui/jobs", get(|| async { shell("jobs", "Jobs", None) }))
        .route("/ui/jobs/{id}", get(|Path(id): Path<String>| async move { with_id("job", "Job", &id) }))
        .route(
            "/ui/workflow-runs/{id}",
            get(|Path(id): Path<String>| async move { with_id("workflow", "Workflow run", &id) }),
        )
        .route("/ui/assets/{name}", get(asset))
}

/// A page about one run, job or workflow run: the id must be a positive integer (it is written into the page).
fn with_id(page: &str, title: &str, raw: &str) -> Response {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => shell(page, &format!("{title} {id}"), Some(id)),
        _ => Error::NotFound(format!("{} {raw}", title.to_lowercase())).into_response(),
    }
}

/// The shell of `page`: its title, the navigation with the current section marked, the id it shows
/// and its script. Everything written into it comes from this file's tables or is a number.
pub fn render(page: &str, title: &str, id: Option<i64>) -> String {
    let section = match page {
        "run" => "runs",
        "job" | "workflow" => "jobs",
        p => p,
    };
    let nav: String = NAV
        .iter()
        .map(|(name, href, label)| {
            let current = if *name == section { r#" aria-current="page""# } else { "" };
            format!(r#"<a href="{href}"{current}>{label}</a>"#)
        })
        .collect();
    SHELL
        .replace("{{title}}", title)
        .replace("{{nav}}", &nav)
        .replace("{{page}}", page)
        .replace("{{id}}", &id.map(|i| i.to_string()).unwrap_or_default())
}

fn shell(page: &str, title: &str, id: Option<i64>) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], render(page, title, id)).into_response();
    secure(&mut response);
    response
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            let mut response = ([(header::CONTENT_TYPE, *content_type)], *body).into_response();
            secure(&mut response);
            response
        }
        None => Error::NotFound(format!("console asset {name:?}")).into_response(),
    }
}

/// The headers every console answer carries: the content policy, no sniffing, no framing, and
/// revalidation (a replica upgraded to a new console serves it at once).
fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_its_script_and_marks_its_section() {
        for (page, _, _) in NAV.iter().chain(&[("run", "", ""), ("job", "", ""), ("workflow", "", "")]) {
            let script = format!("{page}.js");
            assert!(ASSETS.iter().any(|(n, _, _)| *n == script), "{page} has no script");
            let html = render(page, "T", Some(7));
            assert!(html.contains(&format!(r#"src="/ui/assets/{script}""#)), "{page}");
            assert!(html.contains(r#"aria-current="page""#), "{page} marks its section");
            assert!(!html.contains("{{"), "every placeholder is filled: {page}");
            assert!(html.contains(r#"data-id="7""#));
        }
    }
}
