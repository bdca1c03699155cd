//! Request limits of every HTTP server (master, agent, Marathon's REST API): a flood of idle
//! and half-sent connections neither takes the server's descriptors nor keeps a normal request
//! waiting, a slowloris client is disconnected at the header timeout, one that trickles its
//! body is answered 408 at the body timeout, and `--http_max_concurrent_requests` answers 503.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const CAP: usize = 100;
const FLOOD: usize = 1200;
const LIMITS: [&str; 4] = ["--http_max_connections", "100", "--http_header_timeout", "3secs"];

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Opens `FLOOD` connections to `addr`, half of them idle and half with a request's headers
/// begun, then checks that the server holds few descriptors for them and that a normal GET of
/// `path` on a fresh connection is answered at once (not after the header timeout).
async fn flood(what: &str, addr: SocketAddr, pid: i32, path: &str) {
    let before = open_fds(pid);
    let mut conns = Vec::with_capacity(FLOOD);
    for i in 0..FLOOD {
        let mut s = TcpStream::connect(addr).expect("connect");
        if i % 2 == 1 {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n");
        }
        conns.push(s);
    }
    // Let the server accept what it will.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = open_fds(pid);
    assert!(
        held < before + CAP + 60,
        "{what}: {held} descriptors open with {FLOOD} connections (was {before}, cap {CAP})"
    );
    let started = Instant::now();
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: a normal request failed under the flood: {e}"));
    assert!(answer.status().is_success(), "{what}: {}", answer.status());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{what}: a normal request took {:?} under the flood",
        started.elapsed()
    );
    drop(conns);
}

/// A connection that sends `sent` and nothing more is closed by the server within the header
/// timeout (3 s) and a margin.
fn closed_after_timeout(what: &str, addr: SocketAddr, sent: &[u8]) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(sent).expect("write");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let ended = match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => true, // an error answer (408) before closing is fine too
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    };
    assert!(ended, "{what}: a connection that sent {sent:?} stayed open for {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(8), "{what}: closed only after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_and_slowloris_clients_leave_every_server_reachable() {
    let cluster = Cluster::start_custom(1, &LIMITS, &LIMITS).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = Marathon::start(&cluster.master_addr(), &dir.path().join("marathon"), &LIMITS).await;
    let master: SocketAddr = format!("127.0.0.1:{}", cluster.master_port).parse().expect("addr");
    let agent: SocketAddr = format!("127.0.0.1:{}", cluster.agents[0].port).parse().expect("addr");
    let api: SocketAddr = format!("127.0.0.1:{}", marathon.port).parse().expect("addr");
    let servers = [
        ("master", master, cluster.master.pid(), "/master/state"),
        ("agent", agent, cluster.agents[0].proc.pid(), "/state"),
        ("marathon", api, marathon.proc.pid(), "/v2/info"),
    ];
    for (what, addr, pid, path) in servers {
        flood(what, addr, pid, path).await;
        closed_after_timeout(what, addr, b"");
        closed_after_timeout(what, addr, b"GET / HTTP/1.1\r\nHost: x\r\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_http_max_concurrent_requests_get_503_but_event_streams_do_not_hold_a_permit() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No master is needed for the REST API.
    let marathon =
        Marathon::start("127.0.0.1:1", &dir.path().join("marathon"), &["--http_max_concurrent_requests", "1"]).await;
    let api: SocketAddr = format!("127.0.0.1:{}", marathon.port).parse().expect("addr");
    // A request whose body never comes holds the only permit while its handler waits.
    let mut stalled = TcpStream::connect(api).expect("connect");
    stalled
        .write_all(
            b"POST /v2/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .expect("write");
    let refused = eventually(Duration::from_secs(5), "a 503", || async {
        let (status, body) = marathon.get("/v2/info").await;
        (status == 503).then_some(body)
    })
    .await;
    assert_eq!(refused["message"], "Too many concurrent requests! Allowed: 1.");
    drop(stalled);
    eventually(Duration::from_secs(5), "the permit back", || async {
        (marathon.get("/v2/info").await.0 == 200).then_some(())
    })
    .await;
    // An open event stream does not count.
    let stream = marathon
        .http
        .get(marathon.url("/v2/events"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), 200);
    for _ in 0..3 {
        assert_eq!(marathon.get("/v2/info").await.0, 200);
    }
    drop(stream);
}

/// Sends `headers` and then a byte of the body every 300 ms (a body that never completes in
/// time); returns what the server answered (status line and body) within `limit`, and how long
/// it took. A normal `GET normal` on another connection is answered meanwhile.
async fn trickled(what: &str, addr: SocketAddr, headers: &str, normal: &str, limit: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(headers.as_bytes()).expect("headers");
    let mut writer = s.try_clone().expect("clone");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let trickle = std::thread::spawn(move || {
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            if writer.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}{normal}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: a normal request failed while a body trickled: {e}"));
    assert!(answer.status().is_success(), "{what}: {}", answer.status());
    let read = tokio::task::spawn_blocking(move || {
        s.set_read_timeout(Some(limit)).expect("timeout");
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if received.is_empty() {
                        panic!("the connection stayed open and unanswered");
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&received).to_string()
    });
    let received = read.await.unwrap_or_else(|_| panic!("{what}: a trickled body held its connection"));
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = trickle.join();
    (received, elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_at_the_body_timeout_on_every_server() {
    let flags = ["--http_body_timeout", "2secs"];
    let cluster = Cluster::start_custom(1, &flags, &flags).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = Marathon::start(&cluster.master_addr(), &dir.path().join("marathon"), &flags).await;
    let master: SocketAddr = format!("127.0.0.1:{}", cluster.master_port).parse().expect("addr");
    let agent: SocketAddr = format!("127.0.0.1:{}", cluster.agents[0].port).parse().expect("addr");
    let api: SocketAddr = format!("127.0.0.1:{}", marathon.port).parse().expect("addr");
    let post = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{")
    };
    let limit = Duration::from_secs(8);
    let servers = [
        ("master", master, post("/api/v1/scheduler"), "/master/state"),
        ("agent", agent, post("/state"), "/state"),
        ("marathon", api, post("/v2/apps"), "/v2/info"),
    ];
    for (what, addr, headers, normal) in servers {
        let (answer, elapsed) = trickled(what, addr, &headers, normal, limit).await;
        assert!(elapsed < Duration::from_secs(6), "{what}: cut only after {elapsed:?}");
        match what {
            // The agent reads no request body: it answers at once and closes.
            "agent" => assert!(answer.starts_with("HTTP/1.1 "), "{what}: {answer}"),
            "marathon" => {
                assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
                assert!(
                    answer.contains(r#"{"message":"The request's body did not arrive in time"#),
                    "{what}: {answer}"
                );
            }
            _ => {
                assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
                assert!(answer.contains("text/plain"), "{what}: {answer}");
            }
        }
    }
}
