//! The OpenAPI document (`openapi.json`) against the router's routes (`mod.rs`): every
//! documented path is served by a route, and every route of the REST API v2 is documented.

use serde_json::Value as Json;

/// Route templates of `router()`, read from its source.
fn routes() -> Vec<String> {
    let source = include_str!("mod.rs");
    let mut routes = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let literal = rest.trim_start();
        if let Some(body) = literal.strip_prefix('"') {
            let end = body.find('"').expect("closing quote");
            routes.push(body[..end].to_string());
        } else if literal.starts_with("httpd::metrics::PROMETHEUS_PATH") {
            routes.push(httpd::metrics::PROMETHEUS_PATH.to_string());
        } else {
            panic!("a route that is not a string literal: {}", &literal[..40.min(literal.len())]);
        }
    }
    routes
}

/// Whether `template` (axum's: `{name}` one segment, `{*name}` the rest) serves `path` (with
/// OpenAPI's `{name}` parameters standing for any segments).
fn serves(template: &str, path: &str) -> bool {
    let documented: Vec<&str> = path.split('/').collect();
    let routed: Vec<&str> = template.split('/').collect();
    for (i, segment) in routed.iter().enumerate() {
        if segment.starts_with("{*") {
            return documented.len() > i;
        }
        match documented.get(i) {
            Some(d) if d == segment || (segment.starts_with('{') && !d.is_empty()) => {}
            _ => return false,
        }
    }
    documented.len() == routed.len()
}

fn document() -> Json {
    serde_json::from_str(super::OPENAPI).expect("openapi.json is JSON")
}

#[test]
fn every_documented_path_is_routed() {
    let routes = routes();
    assert!(routes.len() > 20, "routes read from mod.rs: {routes:?}");
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    for path in paths.keys() {
        assert!(routes.iter().any(|r| serves(r, path)), "{path} is documented but no route serves it: {routes:?}");
    }
}

#[test]
fn every_route_of_the_api_is_documented() {
    // Not part of the REST API v2 document: the UI and what it reads, the Prometheus text, and
    // the plugin paths (no plugins exist), `/v2/eventSubscriptions` (always refused: no HTTP
    // callbacks), and `/` (a redirect to the UI).
    let undocumented = ["/", "/ui/", "/metrics/prometheus", "/v2/plugins/{*path}", "/v2/eventSubscriptions"];
    let doc = document();
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    for route in routes() {
        if undocumented.contains(&route.as_str()) || route.starts_with("/ui/") {
            continue;
        }
        assert!(paths.iter().any(|p| serves(&route, p)), "the route {route} is not documented");
    }
}

#[test]
fn the_document_is_openapi_3_and_every_reference_resolves() {
    let doc = document();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let text = super::OPENAPI;
    let mut rest = text;
    while let Some(at) = rest.find("\"$ref\": \"#/components/schemas/") {
        rest = &rest[at + "\"$ref\": \"#/components/schemas/".len()..];
        let name = &rest[..rest.find('"').expect("closing quote")];
        assert!(doc["components"]["schemas"][name].is_object(), "no schema {name}");
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if method == "parameters" {
                continue;
            }
            assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
        }
    }
}

#[test]
fn the_matcher_works() {
    assert!(serves("/v2/apps/{*path}", "/v2/apps/{appId}/tasks/{taskId}"));
    assert!(serves("/v2/deployments/{id}", "/v2/deployments/{deploymentId}"));
    assert!(!serves("/v2/deployments/{id}", "/v2/deployments"));
    assert!(!serves("/v2/apps", "/v2/apps/{appId}"));
    assert!(serves("/v2/apps", "/v2/apps"));
}
