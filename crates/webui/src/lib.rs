//! Marathon's web UI as embedded assets, served under `/ui/`.
//!
//! The front-end lives in `<repo>/ui` (Preact, CodeMirror, bundled by esbuild); `scripts/build-ui`
//! writes its bundle to `ui/dist`, and this crate's build script embeds whatever is there. Paths
//! below `/ui/assets/` are files of the bundle (404 when missing); every other path below `/ui/`
//! is a page of the single-page application and gets `index.html`, whose script routes it.
//! A binary built without the bundle answers every UI path 404 with a page saying how to
//! build it.
//!
//! The master serves the bundle's small page of its own at its root ([`master_router`]:
//! `master.html`, same assets). [`proxy`] has what both use to pass a browser's reads on to the
//! agents, which the browser may not reach.

pub mod proxy;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// Where the UI is mounted.
pub const PREFIX: &str = "/ui";

/// Whether this binary carries the UI bundle.
pub fn is_built() -> bool {
    find(embedded::ASSETS, INDEX).is_some()
}

/// The routes of the UI (`/ui`, `/ui/`, `/ui/{*path}`), for any router state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(PREFIX, get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { respond(embedded::ASSETS, "", INDEX) }))
        .route("/ui/{*path}", get(|Path(path): Path<String>| async move { respond(embedded::ASSETS, &path, INDEX) }))
}

/// The master's page at `/` and the assets it loads (`/ui/assets/*`).
pub fn master_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(|| async { respond(embedded::ASSETS, "", MASTER) })).route(
        "/ui/assets/{*path}",
        get(|Path(path): Path<String>| async move { respond(embedded::ASSETS, &format!("assets/{path}"), MASTER) }),
    )
}

/// Marathon's pages.
const INDEX: &str = "index.html";
/// The master's page.
const MASTER: &str = "master.html";

/// The answer for `path` (below `/ui/`, without a leading slash) from `assets`; pages get
/// the HTML file `page`.
fn respond(assets: &[(&str, &'static [u8])], path: &str, page: &str) -> Response {
    if path.starts_with("assets/") {
        return match find(assets, path) {
            Some(bytes) => file(path, bytes),
            None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
        };
    }
    match find(assets, page) {
        Some(bytes) => file(page, bytes),
        None => not_built(),
    }
}

fn find(assets: &[(&str, &'static [u8])], path: &str) -> Option<&'static [u8]> {
    assets.iter().find(|(p, _)| *p == path).map(|(_, bytes)| *bytes)
}

fn file(path: &str, bytes: &'static [u8]) -> Response {
    let mut response = Response::new(Body::from(bytes));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The media type of a bundle file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn not_built() -> Response {
    let body = "<!doctype html><title>Marathon</title><h1>The web UI is not in this binary</h1>\
        <p>It was built without the UI bundle. Run <code>scripts/build-ui</code> (which runs \
        <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>), then build again. \
        The REST API is served as usual under <code>/v2/</code>.</p>";
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    static FAKE: &[(&str, &[u8])] = &[
        ("index.html", b"<html>index</html>"),
        ("master.html", b"<html>master</html>"),
        ("assets/app.js", b"js"),
        ("assets/app.css", b"css"),
    ];

    async fn text(response: Response) -> String {
        let bytes = response.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn kind(response: &Response) -> &str {
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn assets_are_served_with_their_media_type() {
        let js = respond(FAKE, "assets/app.js", INDEX);
        assert_eq!((js.status(), kind(&js)), (StatusCode::OK, "text/javascript; charset=utf-8"));
        assert_eq!(text(js).await, "js");
        let css = respond(FAKE, "assets/app.css", INDEX);
        assert_eq!(kind(&css), "text/css; charset=utf-8");
    }

    #[tokio::test]
    async fn pages_fall_back_to_the_index_and_missing_assets_are_404() {
        for page in ["", "apps", "apps/group/my.app", "deployments", "cluster"] {
            let response = respond(FAKE, page, INDEX);
            assert_eq!((response.status(), kind(&response)), (StatusCode::OK, "text/html; charset=utf-8"), "{page}");
            assert_eq!(text(response).await, "<html>index</html>");
        }
        assert_eq!(respond(FAKE, "assets/nope.js", INDEX).status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn the_master_gets_its_own_page_and_the_same_assets() {
        assert_eq!(text(respond(FAKE, "", MASTER)).await, "<html>master</html>");
        assert_eq!(text(respond(FAKE, "assets/app.js", MASTER)).await, "js");
    }

    #[tokio::test]
    async fn without_a_bundle_every_page_says_how_to_build_it() {
        let response = respond(&[], "apps/x", INDEX);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(text(response).await.contains("scripts/build-ui"));
    }
}
