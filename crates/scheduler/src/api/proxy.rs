//! A standby's REST API: every request goes to the leader, as upstream's `LeaderProxyFilter`
//! does. The request is forwarded with `X-Marathon-Via: 1.1 <this host:port>` and
//! `X-Forwarded-For`, without `Connection` and `Host`; the leader's status, headers and body
//! come back with `X-Marathon-Via` added. A request that already went through this node is a
//! loop (502 `Detected proxying loop.`); an unreachable leader is 502 `Connection to leader
//! refused.`; no leader within ~2.5 s is 502 `Could not determine the current leader`.
//! `Authorization` goes along, so the leader checks the credentials too.
//! `/v2/events` is redirected (302) instead: an event stream should not depend on a proxy.
//! `GET /v2/leader` is answered by every node itself.

use super::error;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

/// Who leads, as this scheduler knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Leadership {
    /// This scheduler leads: it serves the API itself.
    Leading,
    /// Another one leads (`host:port` of its API), or nobody is known to.
    Following { leader: Option<String> },
}

/// What the proxy needs: this node's address, the leadership and an HTTP client.
#[derive(Clone)]
pub(crate) struct LeaderProxy {
    /// `host:port` of this node's API (what `X-Marathon-Via` names).
    pub(crate) me: String,
    /// How the nodes' advertised addresses are reached: `https` when they serve HTTPS only
    /// (`--disable_http`: the leader record then holds the HTTPS port), else `http`.
    pub(crate) scheme: &'static str,
    pub(crate) leadership: watch::Receiver<Leadership>,
    pub(crate) http: reqwest::Client,
    /// The election this node takes part in (`None` without high availability).
    pub(crate) election: Option<std::sync::Arc<coordination::Election>>,
}

/// Resolves once `leadership` is no longer [`Leadership::Leading`] (or its sender is gone).
pub(crate) async fn no_longer_leading(leadership: &mut watch::Receiver<Leadership>) {
    loop {
        if *leadership.borrow_and_update() != Leadership::Leading {
            return;
        }
        if leadership.changed().await.is_err() {
            return;
        }
    }
}

/// How long a standby waits for a leader to be known before answering 502 (upstream: 10 tries
/// 250 ms apart).
const LEADER_WAIT: Duration = Duration::from_millis(2_500);

const VIA: HeaderName = HeaderName::from_static("x-marathon-via");
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

impl LeaderProxy {
    /// A client with upstream's proxy timeouts (`--leader_proxy_connection_timeout` 5 s,
    /// `--leader_proxy_read_timeout` 10 s), over HTTPS verified by `tls` when given.
    pub(crate) fn new(
        me: String,
        leadership: watch::Receiver<Leadership>,
        election: Option<std::sync::Arc<coordination::Election>>,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(tls) = tls {
            builder = builder.tls_backend_preconfigured(rustls::ClientConfig::clone(&tls));
        }
        let http = builder.build().unwrap_or_default();
        Self { me, scheme, leadership, http, election }
    }

    /// The leader's base URL (`scheme://host:port`) as known now.
    pub(crate) fn current_leader_url(&self) -> Option<String> {
        self.current_leader().map(|leader| format!("{}://{leader}", self.scheme))
    }

    /// The leader's `host:port` as known now (this node's when it leads).
    pub(crate) fn current_leader(&self) -> Option<String> {
        match &*self.leadership.borrow() {
            Leadership::Leading => Some(self.me.clone()),
            Leadership::Following { leader } => leader.clone(),
        }
    }

    /// The leader's `host:port`, waiting a little for one to be known.
    async fn leader(&self) -> Option<Result<String, ()>> {
        let mut leadership = self.leadership.clone();
        let known = tokio::time::timeout(LEADER_WAIT, async {
            loop {
                let current = leadership.borrow_and_update().clone();
                match current {
                    Leadership::Leading => return None,
                    Leadership::Following { leader: Some(leader) } => return Some(Ok(leader)),
                    Leadership::Following { leader: None } => {}
                }
                if leadership.changed().await.is_err() {
                    return Some(Err(()));
                }
            }
        })
        .await;
        known.unwrap_or(Some(Err(())))
    }
}

/// The middleware in front of every route.
pub(crate) async fn to_leader(State(proxy): State<LeaderProxy>, request: Request, next: Next) -> Response {
    if *proxy.leadership.borrow() == Leadership::Leading {
        return next.run(request).await;
    }
    // Every node answers for itself: the leader and Prometheus metrics (a scrape of a standby
    // shows that standby's process and requests).
    let path = request.uri().path();
    if request.method() == Method::GET && (path == "/v2/leader" || path == httpd::metrics::PROMETHEUS_PATH) {
        return next.run(request).await;
    }
    let my_via = format!("1.1 {}", proxy.me);
    let looped = request
        .headers()
        .get_all(&VIA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|hop| hop.trim() == my_via));
    if looped {
        return error(StatusCode::BAD_GATEWAY, "Detected proxying loop.");
    }
    let leader = match proxy.leader().await {
        // Elected meanwhile.
        None => return next.run(request).await,
        Some(Ok(leader)) => leader,
        Some(Err(())) => return error(StatusCode::BAD_GATEWAY, "Could not determine the current leader"),
    };
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    if request.uri().path() == "/v2/events" {
        let location = format!("{}://{leader}{path_and_query}", proxy.scheme);
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    forward(&proxy, &leader, &path_and_query, &my_via, request).await
}

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and `Host`.
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::HOST,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        HeaderName::from_static("keep-alive"),
    ]
    .contains(name)
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

async fn forward(proxy: &LeaderProxy, leader: &str, path_and_query: &str, my_via: &str, request: Request) -> Response {
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let (parts, body) = request.into_parts();
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    if let Ok(via) = HeaderValue::from_str(my_via) {
        headers.append(VIA, via);
    }
    if let Some(client) = client.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.append(FORWARDED_FOR, client);
    }
    let url = format!("{}://{leader}{path_and_query}", proxy.scheme);
    let body = reqwest::Body::wrap_stream(body.into_data_stream());
    let answer = proxy.http.request(parts.method, url).headers(headers).body(body).send().await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(%leader, error = %e, "cannot reach the leader");
            return error(StatusCode::BAD_GATEWAY, "Connection to leader refused.");
        }
    };
    let mut response = Response::builder().status(answer.status());
    if let Some(out) = response.headers_mut() {
        copy_headers(answer.headers(), out);
        if let Ok(via) = HeaderValue::from_str(my_via) {
            out.append(VIA, via);
        }
    }
    let stream = answer.bytes_stream().map_err(std::io::Error::other);
    response.body(Body::from_stream(stream)).unwrap_or_else(|_| error(StatusCode::BAD_GATEWAY, "bad answer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::any;

    /// A stand-in leader that echoes what it got.
    async fn echo_leader() -> SocketAddr {
        async fn echo(request: Request) -> Response {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
            let seen = serde_json::json!({
                "method": parts.method.as_str(),
                "uri": parts.uri.to_string(),
                "via": parts.headers.get_all(&VIA).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>(),
                "forwardedFor": parts.headers.get(&FORWARDED_FOR).and_then(|v| v.to_str().ok()),
                "connection": parts.headers.get(header::CONNECTION).and_then(|v| v.to_str().ok()),
                "authorization": parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()),
                "body": String::from_utf8_lossy(&body),
            });
            (
                StatusCode::CREATED,
                [("x-marathon-leader", "http://the-leader")],
                serde_json::to_vec(&seen).unwrap_or_default(),
            )
                .into_response()
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, Router::new().fallback(any(echo))).await });
        addr
    }

    /// A standby's router (its own handlers answer `local`) behind the proxy.
    async fn standby(leadership: watch::Receiver<Leadership>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let proxy = LeaderProxy::new(format!("127.0.0.1:{}", addr.port()), leadership, None, None);
        let app = Router::new()
            .fallback(any(|| async { "local" }))
            .layer(axum::middleware::from_fn_with_state(proxy, to_leader))
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn a_standby_forwards_to_the_leader_and_relays_its_answer() {
        let leader = echo_leader().await;
        let (_tx, rx) = watch::channel(Leadership::Following { leader: Some(leader.to_string()) });
        let node = standby(rx).await;
        let answer = reqwest::Client::new()
            .post(format!("http://{node}/v2/apps?force=true"))
            .header("Content-Type", "application/json")
            .header("Connection", "keep-alive")
            .header("Authorization", "Basic dXNlcjpwYXNz")
            .body(r#"{"id":"/x"}"#)
            .send()
            .await
            .expect("POST");
        assert_eq!(answer.status(), 201);
        assert_eq!(answer.headers()["x-marathon-leader"], "http://the-leader");
        assert_eq!(answer.headers()["x-marathon-via"], format!("1.1 {node}").as_str());
        let seen: serde_json::Value = answer.json().await.expect("json");
        assert_eq!(seen["method"], "POST");
        assert_eq!(seen["uri"], "/v2/apps?force=true");
        assert_eq!(seen["via"], serde_json::json!([format!("1.1 {node}")]));
        assert_eq!(seen["forwardedFor"], "127.0.0.1");
        assert_eq!(seen["connection"], serde_json::Value::Null);
        assert_eq!(seen["authorization"], "Basic dXNlcjpwYXNz", "the leader checks the credentials too");
        assert_eq!(seen["body"], r#"{"id":"/x"}"#);
    }

    #[tokio::test]
    async fn loops_missing_leaders_and_event_streams_are_answered_by_the_standby() {
        let leader = echo_leader().await;
        let (tx, rx) = watch::channel(Leadership::Following { leader: Some(leader.to_string()) });
        let node = standby(rx).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

        let looped = http.get(format!("http://{node}/v2/apps")).header("X-Marathon-Via", format!("1.1 {node}")).send();
        let looped = looped.await.expect("GET");
        assert_eq!(looped.status(), 502);
        assert_eq!(looped.json::<serde_json::Value>().await.expect("json")["message"], "Detected proxying loop.");

        let events = http.get(format!("http://{node}/v2/events?event_type=x")).send().await.expect("GET");
        assert_eq!(events.status(), 302);
        assert_eq!(events.headers()["location"], format!("http://{leader}/v2/events?event_type=x").as_str());

        let local = http.get(format!("http://{node}/v2/leader")).send().await.expect("GET");
        assert_eq!(local.text().await.expect("text"), "local");

        tx.send_replace(Leadership::Following { leader: Some("127.0.0.1:1".into()) });
        let refused = http.get(format!("http://{node}/v2/apps")).send().await.expect("GET");
        assert_eq!(refused.status(), 502);
        assert_eq!(
            refused.json::<serde_json::Value>().await.expect("json")["message"],
            "Connection to leader refused."
        );

        tx.send_replace(Leadership::Following { leader: None });
        let started = std::time::Instant::now();
        let unknown = http.get(format!("http://{node}/v2/apps")).send().await.expect("GET");
        assert_eq!(unknown.status(), 502);
        assert!(started.elapsed() >= Duration::from_secs(2), "waited for a leader first");
        let message = unknown.json::<serde_json::Value>().await.expect("json")["message"].clone();
        assert_eq!(message, "Could not determine the current leader");

        // A leader elected while a request waits gets it.
        tx.send_replace(Leadership::Following { leader: None });
        let waiting = tokio::spawn({
            let http = http.clone();
            async move { http.get(format!("http://{node}/v2/apps")).send().await.expect("GET").status() }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.send_replace(Leadership::Following { leader: Some(leader.to_string()) });
        assert_eq!(waiting.await.expect("join"), 201);

        tx.send_replace(Leadership::Leading);
        let mine = http.get(format!("http://{node}/v2/apps")).send().await.expect("GET");
        assert_eq!(mine.text().await.expect("text"), "local");
    }
}
