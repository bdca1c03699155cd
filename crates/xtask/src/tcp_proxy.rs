//! A TCP proxy for tests: it sits between one client and a server and can cut that client's
//! link and heal it again, so a test can, for example, make exactly one ZooKeeper client lose its
//! session (cut for longer than the session timeout) while every other client stays connected.
//!
//! While cut, open connections are reset and new ones are accepted and closed at once (the
//! client sees its connection fail, as when a server goes away). While stalled, connections stay
//! open but nothing gets through either way, and new ones are accepted and left hanging (a
//! silent network partition: the client only notices by its own timeouts). Healing lets traffic
//! through again; connections cut before stay closed, stalled ones resume (whatever was sent
//! meanwhile is lost, so the peers will usually give up on them).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running proxy from a loopback port of its own to `target`. Stops (and closes every
/// connection) when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    target: SocketAddr,
    cut: AtomicBool,
    stalled: AtomicBool,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Both sockets of every open connection, to shut them down on `cut`.
    open: Mutex<Vec<(u64, TcpStream, TcpStream)>>,
}

impl Shared {
    fn close_all(&self) {
        let open = std::mem::take(&mut *self.open.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, client, upstream) in open {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }

    fn forget(&self, id: u64) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).retain(|(other, _, _)| *other != id);
    }
}

impl TcpProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> io::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            cut: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name(format!("tcp-proxy-{}", addr.port())).spawn(move || {
                for client in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    if shared.cut.load(Ordering::SeqCst) {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    forward(&shared, client);
                }
            })?
        };
        Ok(TcpProxy { addr, shared, acceptor: Some(acceptor) })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the proxy forwards to.
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    /// Resets every open connection and refuses new ones until [`TcpProxy::heal`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.close_all();
    }

    /// Drops everything sent either way on open and new connections, without closing them,
    /// until [`TcpProxy::heal`].
    pub fn stall(&self) {
        self.shared.stalled.store(true, Ordering::SeqCst);
    }

    /// Lets traffic through again.
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
        self.shared.stalled.store(false, Ordering::SeqCst);
    }

    /// Whether the link is cut.
    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }
}

/// Connects to the target and copies both ways on two threads; either side closing (or a cut)
/// closes both.
fn forward(shared: &Arc<Shared>, client: TcpStream) {
    let Ok(upstream) = TcpStream::connect_timeout(&shared.target, Duration::from_secs(5)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client_2), Ok(upstream_2), Ok(client_3), Ok(upstream_3)) =
        (client.try_clone(), upstream.try_clone(), client.try_clone(), upstream.try_clone())
    else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    };
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    shared.open.lock().unwrap_or_else(|e| e.into_inner()).push((id, client_3, upstream_3));
    let pipe = |mut from: TcpStream, mut to: TcpStream, shared: Arc<Shared>| {
        move || {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    // Stalled: the bytes are lost, as in a partition.
                    Ok(_) if shared.stalled.load(Ordering::SeqCst) => continue,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            shared.forget(id);
        }
    };
    let spawned = std::thread::Builder::new()
        .name("tcp-proxy-up".to_owned())
        .spawn(pipe(client, upstream, Arc::clone(shared)))
        .and_then(|_| {
            std::thread::Builder::new().name("tcp-proxy-down".to_owned()).spawn(pipe(
                upstream_2,
                client_2,
                Arc::clone(shared),
            ))
        });
    if spawned.is_err() {
        shared.close_all();
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.close_all();
        // Wake the acceptor up so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (addr, handle)
    }

    fn roundtrip(stream: &mut TcpStream, text: &[u8]) -> io::Result<Vec<u8>> {
        stream.write_all(text)?;
        let mut buf = vec![0u8; text.len()];
        stream.read_exact(&mut buf)?;
        Ok(buf)
    }

    #[test]
    fn stalls_silently_and_heals() {
        let (target, _server) = echo_server();
        let proxy = TcpProxy::start(target).expect("proxy");
        let mut stream = TcpStream::connect(proxy.addr()).expect("connect");
        stream.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
        assert_eq!(roundtrip(&mut stream, b"one").expect("echo"), b"one");
        proxy.stall();
        // The connection stays open, but nothing comes back.
        stream.write_all(b"lost").expect("write while stalled");
        let mut buf = [0u8; 8];
        let stalled = stream.read(&mut buf);
        assert!(
            matches!(&stalled, Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut),
            "{stalled:?}"
        );
        proxy.heal();
        assert_eq!(roundtrip(&mut stream, b"two").expect("echo after healing"), b"two");
    }

    #[test]
    fn forwards_cuts_and_heals() {
        let (target, _server) = echo_server();
        let proxy = TcpProxy::start(target).expect("proxy");
        let mut first = TcpStream::connect(proxy.addr()).expect("connect");
        first.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        assert_eq!(roundtrip(&mut first, b"hello").expect("echo"), b"hello");

        proxy.cut();
        assert!(proxy.is_cut());
        // The open connection is gone ...
        let mut buf = [0u8; 8];
        let after_cut = first.write_all(b"x").and_then(|()| first.read(&mut buf));
        assert!(matches!(after_cut, Ok(0) | Err(_)), "{after_cut:?}");
        // ... and a new one is closed at once.
        let mut refused = TcpStream::connect(proxy.addr()).expect("connect while cut");
        refused.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        assert!(roundtrip(&mut refused, b"nope").is_err());

        proxy.heal();
        let mut healed = TcpStream::connect(proxy.addr()).expect("connect");
        healed.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        assert_eq!(roundtrip(&mut healed, b"again").expect("echo"), b"again");
    }
}
