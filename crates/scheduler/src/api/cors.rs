//! CORS as upstream's `CORSFilter` (only with `--access_control_allow_origin`): every answer
//! carries `Access-Control-Allow-Origin`, the request's `Access-Control-Request-Headers` as
//! `Access-Control-Allow-Headers`, `Access-Control-Allow-Methods: GET, HEAD, OPTIONS` and
//! `Access-Control-Max-Age: 86400`; a preflight (`OPTIONS`) is answered 200 here.
//!
//! Upstream sets the header once per configured origin, so only the last one survives; here
//! the request's `Origin` is echoed when it is one of them (`*` allows any), otherwise the first
//! configured origin is named, which a browser refuses for a foreign page as it should.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The origins of `--access_control_allow_origin` (comma-separated, trimmed).
#[derive(Debug, Clone)]
pub(crate) struct AllowedOrigins(Arc<[String]>);

impl AllowedOrigins {
    /// `None` without the flag (no CORS headers at all, as upstream).
    pub(crate) fn from_flag(flag: Option<&str>) -> Option<Self> {
        let origins: Vec<String> =
            flag?.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_string).collect();
        (!origins.is_empty()).then(|| Self(origins.into()))
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`.
    fn allow(&self, origin: Option<&str>) -> &str {
        if self.0.iter().any(|o| o == "*") {
            return "*";
        }
        match origin.and_then(|origin| self.0.iter().find(|o| *o == origin)) {
            Some(o) => o,
            None => &self.0[0],
        }
    }
}

pub(crate) async fn cors(State(origins): State<Option<AllowedOrigins>>, request: Request, next: Next) -> Response {
    let Some(origins) = origins else {
        return next.run(request).await;
    };
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
    let requested: Vec<String> = request
        .headers()
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    let mut response =
        if request.method() == Method::OPTIONS { StatusCode::OK.into_response() } else { next.run(request).await };
    add_headers(response.headers_mut(), origins.allow(origin.as_deref()), &requested.join(", "));
    response
}

fn add_headers(headers: &mut HeaderMap, origin: &str, allow_headers: &str) {
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if let Ok(allow) = HeaderValue::from_str(allow_headers) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, OPTIONS"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_from_the_flag() {
        assert!(AllowedOrigins::from_flag(None).is_none());
        assert!(AllowedOrigins::from_flag(Some(" , ")).is_none());
        let o = AllowedOrigins::from_flag(Some("http://a.example, http://b.example")).expect("origins");
        assert_eq!(o.allow(Some("http://b.example")), "http://b.example");
        assert_eq!(o.allow(Some("http://evil.example")), "http://a.example");
        assert_eq!(o.allow(None), "http://a.example");
        assert_eq!(AllowedOrigins::from_flag(Some("*")).expect("any").allow(Some("http://x")), "*");
    }
}
