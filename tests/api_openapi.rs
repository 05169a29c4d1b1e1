//! The OpenAPI document and the router agree: every route the router serves is documented with
//! its path parameters, a success response and its error responses (ErrorBody), and the document
//! lists nothing the router does not serve. Adding a route without documenting it fails here.

mod common;

use std::collections::BTreeSet;

use berth::api::console::CONSOLE_PATH;
use berth::api::{self, ApiDoc, OPENAPI_PATH, ROUTES, SWAGGER_UI_PATH};
use berth::service::Roles;
use common::{TestApp, test_config};
use utoipa::OpenApi;

const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];

fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the document serializes")
}

/// The paths the router serves, read from its `Debug` form (axum has no route listing): the
/// path router's `RouteId(n): "path"` entries, before its fallback router.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    let start = text.find("path_router").expect("the router's Debug form names its path router");
    let end = text[start..].find("fallback_router").map_or(text.len(), |i| start + i);
    let mut paths = BTreeSet::new();
    let mut rest = &text[start..end];
    while let Some(i) = rest.find("RouteId(") {
        rest = &rest[i..];
        let Some(open) = rest.find(": \"") else { break };
        let after = &rest[open + 3..];
        let close = after.find('"').expect("a closing quote");
        paths.insert(after[..close].to_string());
        rest = &after[close..];
    }
    assert!(!paths.is_empty(), "no routes found in the router's Debug form; the introspection needs updating");
    paths
}

/// `path` with each `{param}` replaced by a value a handler accepts.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{id}" => "1",
            "{name}" => "default",
            s if s.starts_with('{') => "x",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The document, its UI and the web console: served, but not part of the JSON API.
fn is_documentation(path: &str) -> bool {
    path == OPENAPI_PATH || path.starts_with(SWAGGER_UI_PATH) || path.starts_with(CONSOLE_PATH)
}

#[test]
fn every_route_is_documented_with_its_parameters_bodies_and_errors() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let table: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (r.method.to_lowercase(), r.path.to_string())).collect();
    assert_eq!(table.len(), ROUTES.len(), "a route is listed twice");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().map(|m| m.to_lowercase()).filter(|m| item.get(m).is_some()).map(move |m| (m, path.clone()))
        })
        .collect();
    let missing: Vec<_> = table.difference(&documented).collect();
    assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
    let stale: Vec<_> = documented.difference(&table).collect();
    assert!(stale.is_empty(), "documented operations the router does not serve: {stale:?}");

    for (method, path) in &table {
        let op = &paths[path][method];
        let params: Vec<(&str, &str)> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap())).collect())
            .unwrap_or_default();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            assert!(params.contains(&(name, "path")), "{method} {path}: path parameter {name} is not documented");
        }
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path}: no responses"));
        assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no success response");
        for (status, response) in responses {
            if method == "head" || !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                schema, "#/components/schemas/ErrorBody",
                "{method} {path}: error response {status} must carry ErrorBody"
            );
        }
        if path != "/" {
            assert!(responses.contains_key("503"), "{method} {path}: the database can be unreachable");
        }
    }
}

#[test]
fn the_upload_documents_its_rules() {
    let doc = document();
    let upload = &doc["paths"]["/upload"]["post"];
    for status in ["201", "400", "409", "413"] {
        assert!(upload["responses"][status].is_object(), "POST /upload documents {status}");
    }
    let header = upload["parameters"].as_array().unwrap().iter().find(|p| p["in"] == "header").unwrap();
    assert_eq!(header["name"], "Idempotency-Key");
    let form = &doc["components"]["schemas"]["UploadForm"];
    let required: Vec<&str> = form["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for field in ["file", "user_id", "service"] {
        assert!(required.contains(&field), "{field} is required: {form}");
    }
    assert_eq!(form["properties"]["user_id"]["type"], "integer");
    assert_eq!(form["properties"]["cpu"]["minimum"], 0);
    let text = doc.to_string();
    for rule in ["run.sh", "relative path", "unknown_namespace", "PUT /api/v1/namespaces", "max-upload-bytes"] {
        assert!(text.contains(rule), "the document states the rule about {rule:?}");
    }
    for (schema, values) in [("Priority", ["high", "normal"]), ("Flow", ["priority", "legacy"])] {
        let listed = &doc["components"]["schemas"][schema]["enum"];
        assert_eq!(listed, &serde_json::json!(values), "{schema} lists the values the API reads and writes");
    }
}

/// The router serves exactly the table: each listed route answers its method (not the router's
/// 404 or 405), every other method on those paths is a 405, and no other path is routed.
#[tokio::test]
async fn the_router_serves_exactly_the_route_table() {
    let app = TestApp::spawn(test_config(), Roles { api: true, scheduler: false, worker: false }).await;
    let state = api::AppState { store: app.store.clone(), config: std::sync::Arc::new(test_config()) };
    let served = router_paths(&api::app(state));
    let table: BTreeSet<String> = ROUTES.iter().map(|r| r.path.to_string()).collect();
    let api_paths: BTreeSet<String> = served.iter().filter(|p| !is_documentation(p)).cloned().collect();
    assert_eq!(api_paths, table, "the router serves paths that are not in api::ROUTES (or misses some)");

    for path in &table {
        let listed: Vec<&str> = ROUTES.iter().filter(|r| r.path == path).map(|r| r.method).collect();
        for method in METHODS {
            // axum answers HEAD wherever it answers GET.
            let expected = listed.contains(&method) || (method == "HEAD" && listed.contains(&"GET"));
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let res = app.http.request(m, app.url(&concrete(path))).send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap();
            if expected {
                assert_ne!(status, 405, "{method} {path} is in the table but not routed");
                assert!(!(status == 404 && body.is_empty() && method != "HEAD"), "{method} {path} fell through");
            } else {
                assert_eq!(status, 405, "{method} {path} is routed but not in api::ROUTES");
            }
        }
    }
    app.stop().await;
}
