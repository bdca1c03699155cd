//! A multi-node cluster on one machine: every agent in its own network namespace with its own IP
//! on a private bridge, its own hostname and attributes; the master on the host side of the
//! bridge. Nodes can be killed (SIGKILL of the agent and every process in its namespace),
//! partitioned (its link taken down) and healed. Dropping the cluster removes every process,
//! namespace, link and cgroup it made.
//!
//! Addresses are `10.<a>.<b>.0/24`, chosen per cluster from a unique prefix, and only ever used
//! between this cluster's own namespaces and the host end of its bridge.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("cannot start {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

type Result<T> = std::result::Result<T, ClusterError>;

/// What to build.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub agents: usize,
    /// The `marathon` binary.
    pub binary: PathBuf,
    /// Work dirs and logs go below this directory.
    pub dir: PathBuf,
    /// Resources of every agent, in Mesos syntax.
    pub agent_resources: String,
    /// Extra flags for every agent.
    pub agent_flags: Vec<String>,
    /// Extra flags for the master.
    pub master_flags: Vec<String>,
    /// Distinguishes concurrent clusters (names of namespaces, links and cgroups, and the subnet).
    pub id: u16,
}

impl ClusterSpec {
    pub fn new(agents: usize, binary: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Self {
        // Unique enough across concurrent test processes: pid and a per-process counter.
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = ((std::process::id() as u16).wrapping_mul(31)).wrapping_add(n.wrapping_mul(7919));
        ClusterSpec {
            agents,
            binary: binary.into(),
            dir: dir.into(),
            agent_resources: "cpus:2;mem:2048;disk:2048;ports:[31000-32000]".to_string(),
            agent_flags: Vec::new(),
            master_flags: Vec::new(),
            id,
        }
    }
}

/// One agent machine.
#[derive(Debug)]
pub struct Node {
    pub index: usize,
    pub hostname: String,
    pub ip: String,
    pub port: u16,
    pub netns: String,
    pub host_link: String,
    pub cgroups_root: String,
    pub work_dir: PathBuf,
    args: Vec<String>,
    agent: Option<Child>,
    restarts: usize,
}

impl Node {
    /// `ip:port` of the agent's HTTP server.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

#[derive(Debug)]
pub struct NetCluster {
    pub spec: ClusterSpec,
    pub bridge: String,
    pub bridge_ip: String,
    pub master_port: u16,
    pub nodes: Vec<Node>,
    master: Option<Child>,
}

fn run(args: &[&str]) -> Result<String> {
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

fn spawn_logged(mut command: Command, log: &Path, what: &str) -> Result<Child> {
    let out = std::fs::File::create(log).map_err(|source| ClusterError::Spawn { what: what.to_string(), source })?;
    let err = out.try_clone().map_err(|source| ClusterError::Spawn { what: what.to_string(), source })?;
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| ClusterError::Spawn { what: what.to_string(), source })
}

fn kill_child(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl NetCluster {
    /// Builds the network and starts the master and every agent. Waits until all agents are
    /// registered.
    pub fn up(spec: ClusterSpec) -> Result<NetCluster> {
        std::fs::create_dir_all(&spec.dir).map_err(|e| ClusterError::Other(format!("create dir: {e}")))?;
        let tag = format!("mr{:04x}", spec.id);
        let (a, b) = (200 + (spec.id >> 8) % 50, spec.id & 0xff);
        let subnet = format!("10.{a}.{b}");
        let mut cluster = NetCluster {
            bridge: format!("{tag}br"),
            bridge_ip: format!("{subnet}.1"),
            master_port: 5050,
            nodes: Vec::new(),
            master: None,
            spec,
        };
        // From here on, Drop cleans up whatever was made.
        run(&["ip", "link", "add", &cluster.bridge, "type", "bridge"])?;
        run(&["ip", "addr", "add", &format!("{}/24", cluster.bridge_ip), "dev", &cluster.bridge])?;
        run(&["ip", "link", "set", &cluster.bridge, "up"])?;
        for i in 0..cluster.spec.agents {
            let node = cluster.make_node(i, &tag, &subnet)?;
            cluster.nodes.push(node);
        }
        cluster.start_master()?;
        for i in 0..cluster.nodes.len() {
            cluster.start_agent(i)?;
        }
        cluster.wait_registered(cluster.nodes.len(), Duration::from_secs(30))?;
        Ok(cluster)
    }

    fn make_node(&self, i: usize, tag: &str, subnet: &str) -> Result<Node> {
        let netns = format!("{tag}n{i}");
        let host_link = format!("{tag}v{i}");
        let peer = format!("{tag}p{i}");
        let ip = format!("{subnet}.{}", 10 + i);
        run(&["ip", "netns", "add", &netns])?;
        run(&["ip", "link", "add", &host_link, "type", "veth", "peer", "name", &peer])?;
        run(&["ip", "link", "set", &host_link, "master", &self.bridge])?;
        run(&["ip", "link", "set", &host_link, "up"])?;
        run(&["ip", "link", "set", &peer, "netns", &netns])?;
        run(&["ip", "netns", "exec", &netns, "ip", "link", "set", "lo", "up"])?;
        run(&["ip", "netns", "exec", &netns, "ip", "link", "set", &peer, "name", "eth0"])?;
        run(&["ip", "netns", "exec", &netns, "ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
        run(&["ip", "netns", "exec", &netns, "ip", "link", "set", "eth0", "up"])?;
        run(&["ip", "netns", "exec", &netns, "ip", "route", "add", "default", "via", &self.bridge_ip])?;
        let work_dir = self.spec.dir.join(format!("node{i}"));
        let hostname = format!("node{i}");
        let rack = format!("rack-{}", i % 2);
        let zone = format!("zone-{}", i % 3);
        let cgroups_root = format!("{tag}-node{i}");
        let mut args: Vec<String> = vec![
            "agent".into(),
            "--master".into(),
            String::new(), // filled in when the master's port is known
            "--ip".into(),
            ip.clone(),
            "--port".into(),
            "5051".into(),
            "--hostname".into(),
            hostname.clone(),
            "--work_dir".into(),
            work_dir.display().to_string(),
            "--cgroups_root".into(),
            cgroups_root.clone(),
            format!("--resources={}", self.spec.agent_resources),
            format!("--attributes=rack:{rack};zone:{zone}"),
        ];
        args.extend(self.spec.agent_flags.iter().cloned());
        Ok(Node {
            index: i,
            hostname,
            ip,
            port: 5051,
            netns,
            host_link,
            cgroups_root,
            work_dir,
            args,
            agent: None,
            restarts: 0,
        })
    }

    fn start_master(&mut self) -> Result<()> {
        let mut command = Command::new(&self.spec.binary);
        command.args([
            "master",
            "--ip",
            &self.bridge_ip,
            "--port",
            &self.master_port.to_string(),
            "--hostname",
            &self.bridge_ip,
            "--work_dir",
            &self.spec.dir.join("master").display().to_string(),
        ]);
        command.args(&self.spec.master_flags);
        self.master = Some(spawn_logged(command, &self.spec.dir.join("master.log"), "master")?);
        wait_http(&self.master_addr(), Duration::from_secs(20))
    }

    /// `ip:port` of the master, reachable from the host and from every node.
    pub fn master_addr(&self) -> String {
        format!("{}:{}", self.bridge_ip, self.master_port)
    }

    /// Starts (or restarts) node `i`'s agent with its work dir.
    pub fn start_agent(&mut self, i: usize) -> Result<()> {
        let master = self.master_addr();
        let node = self.nodes.get_mut(i).ok_or_else(|| ClusterError::Other(format!("no node {i}")))?;
        kill_child(&mut node.agent);
        node.args[2] = master;
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &node.netns]).arg(&self.spec.binary).args(&node.args);
        let log = self.spec.dir.join(format!("node{i}-{}.log", node.restarts));
        node.restarts += 1;
        node.agent = Some(spawn_logged(command, &log, &format!("agent on node{i}"))?);
        wait_http(&node.endpoint(), Duration::from_secs(20))
    }

    /// SIGKILL of the agent and of every process in the node's namespace (its tasks).
    pub fn kill_node(&mut self, i: usize) -> Result<()> {
        let node = self.nodes.get_mut(i).ok_or_else(|| ClusterError::Other(format!("no node {i}")))?;
        kill_child(&mut node.agent);
        kill_namespace_processes(&node.netns);
        Ok(())
    }

    /// Cuts node `i` off the network (both directions).
    pub fn partition(&self, i: usize) -> Result<()> {
        let node = self.nodes.get(i).ok_or_else(|| ClusterError::Other(format!("no node {i}")))?;
        run(&["ip", "link", "set", &node.host_link, "down"]).map(|_| ())
    }

    pub fn heal(&self, i: usize) -> Result<()> {
        let node = self.nodes.get(i).ok_or_else(|| ClusterError::Other(format!("no node {i}")))?;
        run(&["ip", "link", "set", &node.host_link, "up"]).map(|_| ())
    }

    /// Waits until the master lists `n` active agents.
    pub fn wait_registered(&self, n: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let body = http_get(&self.master_addr(), "/master/slaves").unwrap_or_default();
            if body.matches("\"active\":true").count() >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::Other(format!("fewer than {n} agents registered: {body}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Removes everything (also done on drop).
    pub fn down(&mut self) {
        for node in &mut self.nodes {
            kill_child(&mut node.agent);
            kill_namespace_processes(&node.netns);
        }
        kill_child(&mut self.master);
        for node in &self.nodes {
            let _ = run(&["ip", "link", "del", &node.host_link]);
            let _ = run(&["ip", "netns", "del", &node.netns]);
            remove_cgroups(&node.cgroups_root);
        }
        self.nodes.clear();
        let _ = run(&["ip", "link", "del", &self.bridge]);
    }
}

impl Drop for NetCluster {
    fn drop(&mut self) {
        self.down();
    }
}

fn kill_namespace_processes(netns: &str) {
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

fn remove_cgroups(root: &str) {
    for sub in ["cpu", "memory", "pids", "freezer", "cpuacct"] {
        let dir = Path::new("/sys/fs/cgroup").join(sub).join(root);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path());
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

/// A minimal HTTP/1.0 GET (the harness avoids an HTTP client dependency).
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

fn wait_http(addr: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while http_get(addr, "/health").is_none() {
        if Instant::now() > deadline {
            return Err(ClusterError::Other(format!("nothing answers on {addr}")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(())
}
