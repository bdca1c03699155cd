//! The accept loop every HTTP server runs (instead of `axum::serve`): HTTP/1.1 with hyper's
//! header read timeout (which also ends kept-alive connections that stay idle), a TLS handshake
//! bounded by the same timeout, and a cap on open connections that evicts the oldest idle one
//! (no request in progress: idle, half-sent headers, or a handshake) to make room, as nginx
//! drains its kept-alive connections when it runs out of them. When every connection has a
//! request in progress, the loop stops accepting until one closes: new connections wait in the
//! kernel's accept queue, never costing a descriptor. A request's body must arrive within the
//! body timeout of its headers: a trickled body fails its reader at the deadline, and the
//! request is answered with the server's 408 ([`TimeoutAnswer`]) on a connection that then
//! closes.

use crate::limits::Limits;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Response, StatusCode, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// What a server answers a request whose body did not arrive within the body timeout (each
/// component in its own error format).
pub type TimeoutAnswer = fn() -> Response<Body>;

/// Mesos' answer to a request whose body came too slowly: 408 in plain text.
pub fn plain_request_timeout() -> Response<Body> {
    let mut response = Response::new(Body::from(BODY_TIMED_OUT));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Why a request is answered 408.
pub const BODY_TIMED_OUT: &str = "The request's body did not arrive in time (--http_body_timeout)";

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish the request it is serving and waits for them to close. With `tls`, every
/// connection is TLS. A request whose body is not complete within `limits.body_timeout` of
/// its headers is answered `timed_out()`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    timed_out: TimeoutAnswer,
    shutdown: impl Future<Output = ()> + Send,
) {
    let table = Arc::new(Table::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        // Make room first: a connection accepted now would count over the cap.
        if !table.make_room(limits.max_connections) {
            tokio::select! {
                () = table.closed.notified() => continue,
                // Whatever closed meanwhile without waking us (a notification may be missed).
                () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                () = &mut shutdown => break,
            }
        }
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of descriptors or memory: wait instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let slot = table.add();
        let conn = Conn {
            tcp,
            peer,
            router: router.clone(),
            builder: builder.clone(),
            acceptor: acceptor.clone(),
            header_timeout: limits.header_timeout,
            body_timeout: limits.body_timeout,
            timed_out,
            stop: stop_rx.clone(),
        };
        tokio::spawn(conn.run(slot));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while table.open() > 0 {
        tokio::select! {
            () = table.closed.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// The open connections, oldest first.
#[derive(Default)]
struct Table {
    inner: Mutex<TableInner>,
    /// Woken whenever a connection closes.
    closed: Notify,
}

#[derive(Default)]
struct TableInner {
    next: u64,
    conns: BTreeMap<u64, Entry>,
    /// Connections told to close that have not closed yet.
    evicted: usize,
}

struct Entry {
    /// Requests in progress on the connection (their responses included).
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
    evicted: bool,
}

/// A connection's place in the table; leaving it (on drop) frees the place.
struct Slot {
    table: Arc<Table>,
    id: u64,
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
}

impl Table {
    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn open(&self) -> usize {
        self.lock().conns.len()
    }

    fn add(self: &Arc<Self>) -> Slot {
        let busy = Arc::new(AtomicUsize::new(0));
        let evict = Arc::new(Notify::new());
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.conns.insert(id, Entry { busy: busy.clone(), evict: evict.clone(), evicted: false });
        Slot { table: self.clone(), id, busy, evict }
    }

    /// Whether one more connection fits under `cap`, evicting the oldest idle connection if
    /// that makes it fit. Connections told to close still hold their descriptor until they do,
    /// so at most `cap / 8 + 16` of them are let go ahead of their closing.
    fn make_room(&self, cap: usize) -> bool {
        let mut inner = self.lock();
        let counted = inner.conns.len() - inner.evicted;
        if counted < cap {
            return true;
        }
        if inner.evicted >= cap / 8 + 16 {
            return false;
        }
        let idle = inner.conns.values_mut().find(|e| !e.evicted && e.busy.load(Ordering::Acquire) == 0);
        let Some(idle) = idle else {
            return false;
        };
        idle.evicted = true;
        idle.evict.notify_one();
        inner.evicted += 1;
        tracing::debug!(cap, "connection cap reached: closing the oldest idle connection");
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut inner = self.table.lock();
            if let Some(entry) = inner.conns.remove(&self.id)
                && entry.evicted
            {
                inner.evicted -= 1;
            }
        }
        self.table.closed.notify_waiters();
    }
}

struct Conn {
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Arc<hyper::server::conn::http1::Builder>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: Duration,
    body_timeout: Duration,
    timed_out: TimeoutAnswer,
    stop: watch::Receiver<bool>,
}

impl Conn {
    async fn run(self, slot: Slot) {
        let Conn { tcp, peer, router, builder, acceptor, header_timeout, body_timeout, timed_out, mut stop } = self;
        let io: Box<dyn Io> = match acceptor {
            None => Box::new(tcp),
            Some(acceptor) => {
                let handshake = tokio::time::timeout(header_timeout, acceptor.accept(tcp));
                tokio::select! {
                    done = handshake => match done {
                        Ok(Ok(tls)) => Box::new(tls),
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    },
                    () = slot.evict.notified() => return,
                    _ = stop.wait_for(|stop| *stop) => return,
                }
            }
        };
        let busy = slot.busy.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let guard = BusyGuard::enter(&busy);
            let router = router.clone();
            async move {
                // The deadline runs from the headers; a request without a body needs none.
                let late =
                    (!hyper::body::Body::is_end_stream(request.body())).then(|| Arc::new(AtomicBool::new(false)));
                let request = match &late {
                    Some(late) => request.map(|body| Body::new(Deadline::new(body, body_timeout, late.clone()))),
                    None => request.map(Body::new),
                };
                let mut response = router.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
                if late.is_some_and(|late| late.load(Ordering::Acquire)) {
                    tracing::debug!(%peer, timeout = ?body_timeout, "a request's body did not arrive in time");
                    response = timed_out();
                    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response.map(|body| Body::new(Guarded { body, _guard: guard })))
            }
        });
        let conn = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                    return;
                }
                () = slot.evict.notified(), if !stopping => {
                    if slot.busy.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    // A request arrived since it was chosen: close once it is answered.
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                }
                _ = stop.wait_for(|stop| *stop), if !stopping => {
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Counts a request in progress until its response body is dropped.
struct BusyGuard(Arc<AtomicUsize>);

impl BusyGuard {
    fn enter(busy: &Arc<AtomicUsize>) -> BusyGuard {
        busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(busy.clone())
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in progress.
struct Guarded {
    body: Body,
    _guard: BusyGuard,
}

impl hyper::body::Body for Guarded {
    type Data = bytes_of::Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> SizeHint {
        hyper::body::Body::size_hint(&self.body)
    }
}

/// A request body that fails once `deadline` passes before it is complete, and says so in
/// `late`.
struct Deadline {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    late: Arc<AtomicBool>,
}

impl Deadline {
    fn new(body: Incoming, timeout: Duration, late: Arc<AtomicBool>) -> Deadline {
        Deadline { body, deadline: Box::pin(tokio::time::sleep(timeout)), late }
    }
}

/// The error a late body fails its reader with.
#[derive(Debug, thiserror::Error)]
#[error("{BODY_TIMED_OUT}")]
struct BodyTimedOut;

impl hyper::body::Body for Deadline {
    type Data = bytes_of::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.late.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

mod bytes_of {
    pub(super) type Bytes = <axum::body::Body as hyper::body::Body>::Data;
}
