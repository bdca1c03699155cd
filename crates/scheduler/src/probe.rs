//! Marathon's own health checks, as the shell runs them for [`Command::Probe`]: HTTP or HTTPS `GET`
//! (status 200-399 is healthy) and TCP connect, each within the check's timeout; and readiness
//! checks (HTTP or HTTPS) for [`Command::ReadinessProbe`].
//!
//! [`Command::Probe`]: crate::core::Command::Probe
//! [`Command::ReadinessProbe`]: crate::core::Command::ReadinessProbe

use crate::core::{HealthCheckProtocol, ProbeOutcome};
use std::time::Duration;

/// The HTTP client of all probes: no redirects followed (a 3xx is healthy already), no pooling
/// (each probe must open its own connection, as a fresh client would). For HTTPS probes the
/// server's certificate and host name are not verified, as upstream Marathon does: tasks serve
/// self-signed certificates. Plain HTTP probes are unaffected by these TLS settings.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .tls_danger_accept_invalid_certs(true)
        .tls_danger_accept_invalid_hostnames(true)
        .build()
}

/// Runs one probe.
pub async fn run(
    http: &reqwest::Client,
    protocol: HealthCheckProtocol,
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
    ignore_http1xx: bool,
) -> ProbeOutcome {
    let timeout = timeout.max(Duration::from_millis(1));
    match protocol {
        HealthCheckProtocol::Http => http_probe(http, "http", host, port, path, timeout, ignore_http1xx).await,
        HealthCheckProtocol::Https => http_probe(http, "https", host, port, path, timeout, ignore_http1xx).await,
        HealthCheckProtocol::Tcp => tcp_probe(host, port, timeout).await,
        other => ProbeOutcome::Unhealthy { cause: format!("{other:?} health checks are run by Mesos, not Marathon") },
    }
}

/// A readiness probe: the answer's status, content type and (at most 64 KiB of) body, or `None`
/// when there is no HTTP answer (the server's certificate is not verified, see [`client`]).
pub async fn readiness(
    http: &reqwest::Client,
    https: bool,
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Option<crate::core::ReadinessResponse> {
    let scheme = if https { "https" } else { "http" };
    let response =
        http.get(url(scheme, host, port, path)).timeout(timeout.max(Duration::from_millis(1))).send().await.ok()?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]).into_owned();
    Some(crate::core::ReadinessResponse { status, content_type, body })
}

async fn http_probe(
    http: &reqwest::Client,
    scheme: &str,
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
    ignore_http1xx: bool,
) -> ProbeOutcome {
    match http.get(url(scheme, host, port, path)).timeout(timeout).send().await {
        Ok(response) => {
            let status = response.status();
            match status.as_u16() {
                200..=399 => ProbeOutcome::Healthy,
                100..=199 if ignore_http1xx => ProbeOutcome::Ignored,
                _ => ProbeOutcome::Unhealthy { cause: status.to_string() },
            }
        }
        Err(e) if e.is_timeout() => ProbeOutcome::Unhealthy { cause: format!("timed out after {timeout:?}") },
        Err(e) => ProbeOutcome::Unhealthy { cause: e.to_string() },
    }
}

fn url(scheme: &str, host: &str, port: u16, path: &str) -> String {
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("{scheme}://{host}:{port}{slash}{path}")
}

async fn tcp_probe(host: &str, port: u16, timeout: Duration) -> ProbeOutcome {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => ProbeOutcome::Healthy,
        Ok(Err(e)) => ProbeOutcome::Unhealthy { cause: e.to_string() },
        Err(_) => ProbeOutcome::Unhealthy { cause: format!("timed out after {timeout:?}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-connection-at-a-time HTTP server answering every request with `status`.
    async fn server(status: u16) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn http_status_decides_health() {
        let http = client().expect("client");
        let t = Duration::from_secs(2);
        for (status, healthy) in [(200, true), (302, true), (399, true), (404, false), (503, false)] {
            let port = server(status).await;
            let outcome = run(&http, HealthCheckProtocol::Http, "127.0.0.1", port, "/health", t, false).await;
            assert_eq!(outcome == ProbeOutcome::Healthy, healthy, "{status}: {outcome:?}");
        }
    }

    #[tokio::test]
    async fn tcp_connects_or_fails() {
        let port = server(200).await;
        let t = Duration::from_secs(2);
        assert_eq!(tcp_probe("127.0.0.1", port, t).await, ProbeOutcome::Healthy);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        assert!(matches!(tcp_probe("127.0.0.1", closed, t).await, ProbeOutcome::Unhealthy { .. }));
    }

    #[tokio::test]
    async fn https_probes_accept_self_signed_certificates_and_need_tls() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("health"), "ok").expect("write");
        let tls = xtask::https_server::HttpsServer::start(dir.path());
        let port = tls.port;
        let http = client().expect("client");
        let t = Duration::from_secs(5);
        let probe = |protocol, port, path| run(&http, protocol, "127.0.0.1", port, path, t, false);
        assert_eq!(probe(HealthCheckProtocol::Https, port, "/health").await, ProbeOutcome::Healthy);
        let missing = probe(HealthCheckProtocol::Https, port, "/missing").await;
        assert!(matches!(&missing, ProbeOutcome::Unhealthy { cause } if cause.contains("404")), "{missing:?}");
        let ready = readiness(&http, true, "127.0.0.1", port, "health", t).await.expect("an HTTPS answer");
        assert_eq!((ready.status, ready.body.as_str()), (200, "ok"));
        // Plain HTTP to the TLS server and HTTPS to a plain HTTP server get no answer.
        let http_to_tls = probe(HealthCheckProtocol::Http, port, "/health").await;
        assert!(matches!(http_to_tls, ProbeOutcome::Unhealthy { .. }), "{http_to_tls:?}");
        let plain = server(200).await;
        let https_to_plain = probe(HealthCheckProtocol::Https, plain, "/health").await;
        assert!(matches!(https_to_plain, ProbeOutcome::Unhealthy { .. }), "{https_to_plain:?}");
        assert_eq!(readiness(&http, true, "127.0.0.1", plain, "/health", t).await, None);
    }
}
