//! Calls posted to a master over one keep-alive HTTP/1.1 connection.
//!
//! A framework or an agent posts a call for every status update it acknowledges or sends, so
//! the per-call cost matters: a general-purpose client parses the URL (three times), runs a
//! redirect policy and a connection pool for every request. A [`Poster`] keeps one connection
//! (hyper's connection API) to one `host:port` and writes each request to a fixed path with the
//! headers every Mesos call carries (JSON, `Mesos-Stream-Id`); it opens a new connection when the
//! master's address changes or the connection closed.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// An answer: its status and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Posts JSON calls to `path` on one master, one at a time, over a kept connection.
#[derive(Debug)]
pub struct Poster {
    path: &'static str,
    timeout: Duration,
    /// The `Authorization` header every call carries (HTTP basic credentials).
    authorization: Option<HeaderValue>,
    connection: Mutex<Option<Connection>>,
    /// TLS to the master; `None`: plain HTTP.
    tls: Option<Arc<rustls::ClientConfig>>,
}

#[derive(Debug)]
struct Connection {
    /// `host:port` it is connected to.
    master: String,
    sender: SendRequest<Full<Bytes>>,
}

impl Poster {
    /// Calls to `path` (e.g. `/api/v1/scheduler`), each given `timeout` to connect and answer.
    pub fn new(path: &'static str, timeout: Duration) -> Self {
        Self::with_tls(path, timeout, None)
    }

    /// Calls over TLS with `tls` (plain HTTP with `None`).
    pub fn with_tls(path: &'static str, timeout: Duration, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        Self { path, timeout, authorization: None, connection: Mutex::new(None), tls }
    }

    /// Every call carries HTTP basic credentials (a master that authenticates wants them).
    pub fn with_credential(mut self, credential: Option<&mesos_api::credentials::Credential>) -> Self {
        self.authorization = credential
            .and_then(|c| HeaderValue::from_str(&mesos_api::credentials::basic_header(&c.principal, &c.secret)).ok());
        self
    }

    /// POSTs `body` (JSON) on stream `stream_id` to `master` (`host:port`) and reads the whole
    /// answer. A request the kept connection could not take (the master closed it meanwhile) goes
    /// out once more on a new connection.
    pub async fn post(&self, master: &str, stream_id: &str, body: Vec<u8>) -> Result<Answer, String> {
        let mut request = Some(request(self.path, master, stream_id, self.authorization.as_ref(), body)?);
        // Calls go out one at a time, in the order they are made.
        let mut slot = self.connection.lock().await;
        let mut error = String::new();
        for _ in 0..2 {
            let Some(unsent) = request.take() else { break };
            let reusable = slot.as_ref().is_some_and(|c| c.master == master && !c.sender.is_closed());
            if !reusable {
                *slot = None;
                let connected = tokio::time::timeout(self.timeout, connect(master, self.tls.as_ref())).await;
                *slot = Some(connected.map_err(|_| self.timed_out(master))??);
            }
            let Some(connection) = slot.as_mut() else { break };
            let exchange = async {
                connection.sender.ready().await.map_err(|e| (None, e.to_string()))?;
                let response = connection
                    .sender
                    .try_send_request(unsent)
                    .await
                    .map_err(|mut e| (e.take_message(), e.error().to_string()))?;
                let status = response.status();
                let body = response.into_body().collect().await.map_err(|e| (None, e.to_string()))?.to_bytes();
                Ok(Answer { status, body })
            };
            match tokio::time::timeout(self.timeout, exchange).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err((unsent, e))) => {
                    request = unsent;
                    error = e;
                }
                Err(_) => error = self.timed_out(master),
            }
            // Whatever state the connection is in, it is not used again.
            *slot = None;
        }
        Err(error)
    }

    fn timed_out(&self, master: &str) -> String {
        format!("no answer from {master} within {:?}", self.timeout)
    }
}

fn request(
    path: &'static str,
    master: &str,
    stream_id: &str,
    authorization: Option<&HeaderValue>,
    body: Vec<u8>,
) -> Result<Request<Full<Bytes>>, String> {
    let value = |what: &str, text: &str| HeaderValue::from_str(text).map_err(|e| format!("{what} '{text}': {e}"));
    let mut request = Request::builder().method(Method::POST).uri(path);
    if let Some(map) = request.headers_mut() {
        map.insert(HOST, value("master address", master)?);
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        map.insert(ACCEPT, HeaderValue::from_static("application/json"));
        map.insert(HeaderName::from_static(STREAM_ID), value("stream id", stream_id)?);
        if let Some(authorization) = authorization {
            map.insert(AUTHORIZATION, authorization.clone());
        }
    }
    request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())
}

type Handshake =
    (SendRequest<Full<Bytes>>, std::pin::Pin<Box<dyn std::future::Future<Output = hyper::Result<()>> + Send>>);

async fn handshake<S>(stream: S) -> Result<Handshake, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    Ok((sender, Box::pin(connection)))
}

/// The TLS server name of `host:port` (`[v6]:port` too).
pub fn server_name(address: &str) -> Result<rustls::pki_types::ServerName<'static>, String> {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => address,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| format!("TLS server name '{host}': {e}"))
}

/// [`mesos_api::agent::STREAM_ID_HEADER`] as `HeaderName::from_static` takes it (lower case).
const STREAM_ID: &str = "mesos-stream-id";

async fn connect(master: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Connection, String> {
    let stream = tokio::net::TcpStream::connect(master).await.map_err(|e| format!("connect {master}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = match tls {
        None => handshake(stream).await?,
        Some(tls) => {
            let name = server_name(master)?;
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with {master}: {e}"))?;
            handshake(stream).await?
        }
    };
    // Drives the connection until the sender is dropped or the master closes it.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "call connection ended");
        }
    });
    Ok(Connection { master: master.to_string(), sender })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// How the test server ends connections.
    #[derive(Clone, Copy, PartialEq)]
    enum Close {
        Never,
        /// After each answer, which says `Connection: close`.
        Announced,
        /// After each answer, which says `keep-alive` (as an idle timeout would).
        Silently,
    }

    /// A server answering every POST on stream `stream-1` with 202 and the request's body
    /// echoed (400 without the headers of a Mesos call). Returns its address and a count of
    /// accepted connections.
    async fn server(close: Close) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let Ok(n) = socket.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + length {
                            continue;
                        }
                        let body: Vec<u8> = buf.drain(..end + 4 + length).skip(end + 4).collect();
                        let connection = if close == Close::Announced { "close" } else { "keep-alive" };
                        // What a Mesos master needs of a call: its stream, JSON, a Host.
                        let complete = ["mesos-stream-id: stream-1", "content-type: application/json", "host: "]
                            .iter()
                            .all(|h| head.contains(h));
                        let status = if complete { "202 Accepted" } else { "400 Bad Request" };
                        let head = format!(
                            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                            body.len()
                        );
                        if socket.write_all(head.as_bytes()).await.is_err() || socket.write_all(&body).await.is_err() {
                            return;
                        }
                        if close != Close::Never {
                            return;
                        }
                    }
                });
            }
        });
        (addr, connections)
    }

    #[test]
    fn the_stream_id_header_is_mesos_own() {
        assert!(STREAM_ID.eq_ignore_ascii_case(mesos_api::agent::STREAM_ID_HEADER));
    }

    #[tokio::test]
    async fn calls_share_one_kept_connection() {
        let (addr, connections) = server(Close::Never).await;
        let poster = Poster::new("/api/v1/scheduler", Duration::from_secs(5));
        for i in 0..3 {
            let answer = poster.post(&addr, "stream-1", format!("{{\"call\":{i}}}").into_bytes()).await.expect("post");
            assert_eq!(answer.status, StatusCode::ACCEPTED);
            assert_eq!(answer.body, Bytes::from(format!("{{\"call\":{i}}}")));
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_closed_connection_is_replaced_by_the_next_call() {
        for close in [Close::Announced, Close::Silently] {
            let (addr, connections) = server(close).await;
            let poster = Poster::new("/api/v1/scheduler", Duration::from_secs(5));
            for _ in 0..3 {
                let answer = poster.post(&addr, "stream-1", b"{}".to_vec()).await.expect("post");
                assert_eq!(answer.status, StatusCode::ACCEPTED);
            }
            assert_eq!(connections.load(Ordering::SeqCst), 3);
        }
    }

    #[tokio::test]
    async fn calls_follow_the_master_to_a_new_address() {
        let (first, first_connections) = server(Close::Never).await;
        let (second, second_connections) = server(Close::Never).await;
        let poster = Poster::new("/api/v1/scheduler", Duration::from_secs(5));
        poster.post(&first, "stream-1", b"{}".to_vec()).await.expect("post");
        poster.post(&second, "stream-1", b"{}".to_vec()).await.expect("post");
        assert_eq!(first_connections.load(Ordering::SeqCst), 1);
        assert_eq!(second_connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unreachable_master_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let poster = Poster::new("/api/v1/scheduler", Duration::from_secs(5));
        let error = poster.post(&addr, "stream-1", b"{}".to_vec()).await.expect_err("nobody listens");
        assert!(error.contains("connect"), "{error}");
    }
}
