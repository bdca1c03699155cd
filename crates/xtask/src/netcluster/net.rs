//! The plumbing of a [`NetCluster`](super::NetCluster): commands, network namespaces with a veth
//! on the bridge, killing what runs in a namespace, cgroups, and a minimal HTTP GET.

use super::{ClusterError, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(super) fn run(args: &[&str]) -> Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Spawn { what: args.join(" "), source })?;
    if !out.status.success() {
        return Err(ClusterError::Command {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

pub(super) fn spawn_logged(mut command: Command, log: &Path, what: &str) -> Result<Child> {
    let out = std::fs::File::create(log).map_err(|source| ClusterError::Spawn { what: what.to_string(), source })?;
    let err = out.try_clone().map_err(|source| ClusterError::Spawn { what: what.to_string(), source })?;
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| ClusterError::Spawn { what: what.to_string(), source })
}

pub(super) fn kill_child(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A network namespace with loopback up and `eth0` (`ip`/24, default route via `gateway`), the
/// other end of its veth (`host_link`) on `bridge`.
pub(super) fn make_namespace(
    netns: &str,
    host_link: &str,
    peer: &str,
    bridge: &str,
    ip: &str,
    gateway: &str,
) -> Result<()> {
    run(&["ip", "netns", "add", netns])?;
    run(&["ip", "link", "add", host_link, "type", "veth", "peer", "name", peer])?;
    run(&["ip", "link", "set", host_link, "master", bridge])?;
    run(&["ip", "link", "set", host_link, "up"])?;
    run(&["ip", "link", "set", peer, "netns", netns])?;
    run(&["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"])?;
    run(&["ip", "netns", "exec", netns, "ip", "link", "set", peer, "name", "eth0"])?;
    run(&["ip", "netns", "exec", netns, "ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
    run(&["ip", "netns", "exec", netns, "ip", "link", "set", "eth0", "up"])?;
    run(&["ip", "netns", "exec", netns, "ip", "route", "add", "default", "via", gateway])?;
    Ok(())
}

/// SIGKILL of every process in a network namespace, until none is left (or about a second).
pub fn kill_namespace_processes(netns: &str) {
    for _ in 0..50 {
        let pids = run(&["ip", "netns", "pids", netns]).unwrap_or_default();
        let pids: Vec<&str> = pids.split_whitespace().collect();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = run(&["kill", "-9", pid]);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pids of the processes in a network namespace.
pub fn namespace_pids(netns: &str) -> Vec<i32> {
    run(&["ip", "netns", "pids", netns]).unwrap_or_default().split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

/// Removes the (empty) cgroup `root` and every cgroup below it (an agent keeps its containers
/// at `<root>/agent-<hash>/<container>`), deepest first.
pub(super) fn remove_cgroups(root: &str) {
    fn remove_below(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
                remove_below(&e.path());
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
    for sub in ["cpu", "memory", "pids", "freezer", "cpuacct"] {
        let dir = Path::new("/sys/fs/cgroup").join(sub).join(root);
        remove_below(&dir);
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Whether bridged traffic goes through iptables' FORWARD chain and that chain drops it by
/// default (br_netfilter loaded, as Docker leaves it): then machines of the cluster could not
/// reach each other without an ACCEPT rule for the bridge.
pub(super) fn bridge_traffic_filtered() -> bool {
    let nf = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables").unwrap_or_default();
    if nf.trim() != "1" {
        return false;
    }
    run(&["iptables", "-w", "-S", "FORWARD"]).is_ok_and(|rules| !rules.lines().any(|l| l.trim() == "-P FORWARD ACCEPT"))
}

/// The ACCEPT rule for traffic between the bridge's own ports (as Docker has for its bridges).
pub(super) fn forward_rule(bridge: &str) -> [String; 6] {
    ["-i", bridge, "-o", bridge, "-j", "ACCEPT"].map(str::to_string)
}

/// A minimal HTTP/1.0 GET (the harness avoids an HTTP client dependency): the body of a 200.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let socket: std::net::SocketAddr = addr.parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

pub(super) fn wait_http(addr: &str, path: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while http_get(addr, path).is_none() {
        if Instant::now() > deadline {
            return Err(ClusterError::Other(format!("nothing answers {path} on {addr}")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(())
}

/// Polls `f` every 50 ms until it returns `Some`; `what` names it in the error at the deadline.
pub(super) fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(ClusterError::Other(format!("timed out after {timeout:?} waiting for {what}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
