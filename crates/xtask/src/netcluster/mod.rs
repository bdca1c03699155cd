//! A multi-node cluster on one machine: every agent in its own network namespace with its own IP
//! on a private bridge, its own hostname and attributes; the master on the host side of the
//! bridge. Nodes can be killed (SIGKILL of the agent and every process in its namespace),
//! partitioned (its link taken down) and healed. Dropping the cluster removes every process,
//! namespace, link and cgroup it made.
//!
//! Highly available (`ClusterSpec::masters` or `schedulers` above 0): ZooKeeper (one server or an
//! ensemble), every master and every Marathon scheduler is a machine of its own too (namespace,
//! IP, hostname, all names in every machine's `/etc/hosts`). Masters contend on
//! `zk://<servers>/mesos`, agents and schedulers follow the leading master there, schedulers
//! contend on `zk://<servers>/marathon`. Any machine can be killed and restarted.
//!
//! Addresses are `10.<a>.<b>.0/24`, chosen per cluster from a unique prefix, and only ever used
//! between this cluster's own namespaces and the host end of its bridge: `.1` the host (and the
//! master without `masters`), `.2`-`.8` ZooKeeper, `.10`-`.209` agents, `.210`-`.219` masters,
//! `.220`-`.229` schedulers.
//!
//! What a cluster makes is recorded first (`registry`), so that `cargo xtask cluster down`, or
//! the next cluster brought up, removes what a killed owner left behind.

mod net;
pub mod registry;

pub use net::{http_get, kill_namespace_processes, namespace_pids};

use crate::zookeeper::{ZkHost, ZkOptions, ZooKeeper};
use net::{kill_child, make_namespace, run, spawn_logged, wait_for, wait_http};
use registry::{Manifest, Owner};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("cannot start {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("ZooKeeper: {0}")]
    ZooKeeper(#[from] crate::zookeeper::ZkError),
    #[error("{0}")]
    Other(String),
}

type Result<T> = std::result::Result<T, ClusterError>;

/// Most machines of each kind (their addresses are fixed ranges of the subnet).
pub const MAX_AGENTS: usize = 200;
pub const MAX_MASTERS: usize = 10;
pub const MAX_SCHEDULERS: usize = 10;
pub const MAX_ZOOKEEPERS: usize = 7;

/// Ports on the machines of a highly available cluster.
pub const MASTER_PORT: u16 = 5050;
pub const AGENT_PORT: u16 = 5051;
pub const SCHEDULER_PORT: u16 = 8080;

/// How long to wait for a machine's HTTP server, the election of a leader, every agent.
const READY: Duration = Duration::from_secs(60);

/// What to build.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub agents: usize,
    /// Masters, each on a machine of its own, contending in ZooKeeper. 0: one master on the host
    /// side of the bridge, without ZooKeeper.
    pub masters: usize,
    /// Marathon schedulers, each on a machine of its own, contending in ZooKeeper.
    pub schedulers: usize,
    /// ZooKeeper servers (1, 3, 5 or 7), each on a machine of its own; at least one is started
    /// when there are masters or schedulers, none otherwise.
    pub zookeepers: usize,
    /// The masters', agents' and schedulers' ZooKeeper session timeout.
    pub zk_session_timeout: Duration,
    /// The `marathon` binary.
    pub binary: PathBuf,
    /// Work dirs and logs go below this directory.
    pub dir: PathBuf,
    /// Whether `dir` itself is removed with the cluster.
    pub remove_dir: bool,
    /// Made by `cargo xtask cluster up`: `cargo xtask cluster down` may stop its owner.
    pub command: bool,
    /// Resources of every agent, in Mesos syntax.
    pub agent_resources: String,
    /// Extra flags for every agent.
    pub agent_flags: Vec<String>,
    /// Extra flags for the master(s).
    pub master_flags: Vec<String>,
    /// Extra flags for every scheduler.
    pub scheduler_flags: Vec<String>,
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
            masters: 0,
            schedulers: 0,
            zookeepers: 0,
            zk_session_timeout: Duration::from_secs(10),
            binary: binary.into(),
            dir: dir.into(),
            remove_dir: false,
            command: false,
            agent_resources: "cpus:2;mem:2048;disk:2048;ports:[31000-32000]".to_string(),
            agent_flags: Vec::new(),
            master_flags: Vec::new(),
            scheduler_flags: Vec::new(),
            id,
        }
    }

    /// A highly available cluster: `masters` masters and `schedulers` schedulers on one
    /// ZooKeeper server.
    pub fn highly_available(
        agents: usize,
        masters: usize,
        schedulers: usize,
        binary: impl Into<PathBuf>,
        dir: impl Into<PathBuf>,
    ) -> Self {
        ClusterSpec { masters, schedulers, zookeepers: 1, ..ClusterSpec::new(agents, binary, dir) }
    }

    /// Whether ZooKeeper and machines of their own for masters and schedulers are wanted.
    pub fn is_highly_available(&self) -> bool {
        self.masters > 0 || self.schedulers > 0
    }

    fn check(&self) -> Result<()> {
        let bad = |what: String| Err(ClusterError::Other(what));
        if self.agents > MAX_AGENTS || self.masters > MAX_MASTERS || self.schedulers > MAX_SCHEDULERS {
            return bad(format!(
                "at most {MAX_AGENTS} agents, {MAX_MASTERS} masters and {MAX_SCHEDULERS} schedulers (asked: {}, {}, {})",
                self.agents, self.masters, self.schedulers
            ));
        }
        if self.zookeepers > MAX_ZOOKEEPERS || (self.zookeepers > 1 && self.zookeepers.is_multiple_of(2)) {
            return bad(format!("ZooKeeper servers: 1, 3, 5 or 7 (asked: {})", self.zookeepers));
        }
        if self.zookeepers > 0 && !ZooKeeper::available() {
            return Err(crate::zookeeper::ZkError::NotInstalled.into());
        }
        Ok(())
    }
}

/// What runs on a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Agent,
    Master,
    Scheduler,
    ZooKeeper,
}

impl Role {
    /// The letter in its namespace's and links' names, and its hostname prefix.
    fn naming(self) -> (&'static str, &'static str) {
        match self {
            Role::Agent => ("n", "node"),
            Role::Master => ("m", "master"),
            Role::Scheduler => ("s", "marathon"),
            Role::ZooKeeper => ("z", "zk"),
        }
    }

    /// The last byte of machine `i`'s address.
    fn host_byte(self, i: usize) -> usize {
        match self {
            Role::ZooKeeper => 2 + i,
            Role::Agent => 10 + i,
            Role::Master => 210 + i,
            Role::Scheduler => 220 + i,
        }
    }

    fn port(self) -> u16 {
        match self {
            Role::Agent => AGENT_PORT,
            Role::Master => MASTER_PORT,
            Role::Scheduler => SCHEDULER_PORT,
            Role::ZooKeeper => crate::zookeeper::CLIENT_PORT,
        }
    }
}

/// One machine: a network namespace with its own IP and hostname, and what runs there.
#[derive(Debug)]
pub struct Node {
    pub role: Role,
    pub index: usize,
    pub hostname: String,
    pub ip: String,
    pub port: u16,
    pub netns: String,
    pub host_link: String,
    /// The agent's cgroups root (empty on other machines).
    pub cgroups_root: String,
    pub work_dir: PathBuf,
    args: Vec<String>,
    process: Option<Child>,
    restarts: usize,
}

impl Node {
    /// `ip:port` of the machine's server (agent, master, REST API or ZooKeeper).
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// The pid of its process (`None` once killed; ZooKeeper's are not tracked here).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }
}

#[derive(Debug)]
pub struct NetCluster {
    pub spec: ClusterSpec,
    pub bridge: String,
    pub bridge_ip: String,
    /// The port of the master on the host side of the bridge (without `masters`).
    pub master_port: u16,
    /// The agents' machines.
    pub nodes: Vec<Node>,
    pub masters: Vec<Node>,
    pub schedulers: Vec<Node>,
    pub zookeepers: Vec<Node>,
    master: Option<Child>,
    zk: Option<ZooKeeper>,
    manifest: Manifest,
}

impl NetCluster {
    /// Builds the network and starts ZooKeeper, the masters, the agents and the schedulers. Waits
    /// until a master leads, every agent is registered with it and, with schedulers, one of them
    /// leads, the others know it, and it is subscribed. Removes what clusters of processes that
    /// are gone left behind first.
    pub fn up(mut spec: ClusterSpec) -> Result<NetCluster> {
        if spec.is_highly_available() {
            spec.zookeepers = spec.zookeepers.max(1);
        }
        spec.check()?;
        registry::sweep_orphans();
        std::fs::create_dir_all(&spec.dir).map_err(|e| ClusterError::Other(format!("create dir: {e}")))?;
        let tag = format!("mr{:04x}", spec.id);
        let (a, b) = (200 + (spec.id >> 8) % 50, spec.id & 0xff);
        let subnet = format!("10.{a}.{b}");
        let mut cluster = NetCluster {
            bridge: format!("{tag}br"),
            bridge_ip: format!("{subnet}.1"),
            master_port: MASTER_PORT,
            nodes: Vec::new(),
            masters: Vec::new(),
            schedulers: Vec::new(),
            zookeepers: Vec::new(),
            master: None,
            zk: None,
            manifest: Manifest::default(),
            spec,
        };
        cluster.plan(&tag, &subnet);
        // From here on, Drop (or the manifest) removes whatever was made.
        cluster.manifest.save().map_err(|e| ClusterError::Other(format!("record the cluster: {e}")))?;
        run(&["ip", "link", "add", &cluster.bridge, "type", "bridge"])?;
        run(&["ip", "addr", "add", &format!("{}/24", cluster.bridge_ip), "dev", &cluster.bridge])?;
        run(&["ip", "link", "set", &cluster.bridge, "up"])?;
        if cluster.manifest.forward_rule {
            let mut args = vec!["iptables", "-w", "-I", "FORWARD"];
            let rule = net::forward_rule(&cluster.bridge);
            args.extend(rule.iter().map(String::as_str));
            run(&args)?;
        }
        for node in cluster.all_nodes() {
            let peer = node.host_link.replacen('v', "p", 1);
            make_namespace(&node.netns, &node.host_link, &peer, &cluster.bridge, &node.ip, &cluster.bridge_ip)?;
        }
        if cluster.spec.is_highly_available() {
            cluster.write_hosts_files()?;
            cluster.start_zookeeper()?;
        }
        if cluster.spec.masters == 0 {
            cluster.start_master()?;
        } else {
            for i in 0..cluster.masters.len() {
                cluster.start(Role::Master, i)?;
            }
            wait_for(READY, "a leading master", || cluster.leading_master())?;
        }
        for i in 0..cluster.nodes.len() {
            cluster.start_agent(i)?;
        }
        cluster.wait_registered(cluster.nodes.len(), READY)?;
        if !cluster.schedulers.is_empty() {
            for i in 0..cluster.schedulers.len() {
                cluster.start(Role::Scheduler, i)?;
            }
            cluster.wait_schedulers(READY)?;
        }
        Ok(cluster)
    }

    /// Names, addresses and command lines of every machine, and the manifest.
    fn plan(&mut self, tag: &str, subnet: &str) {
        let spec = &self.spec;
        let counts = [
            (Role::ZooKeeper, spec.zookeepers),
            (Role::Master, spec.masters),
            (Role::Agent, spec.agents),
            (Role::Scheduler, spec.schedulers),
        ];
        for (role, count) in counts {
            for i in 0..count {
                let node = self.plan_node(role, i, tag, subnet);
                match role {
                    Role::ZooKeeper => self.zookeepers.push(node),
                    Role::Master => self.masters.push(node),
                    Role::Agent => self.nodes.push(node),
                    Role::Scheduler => self.schedulers.push(node),
                }
            }
        }
        let dir = self.spec.dir.clone();
        let nodes: Vec<&Node> = self.all_nodes().collect();
        self.manifest = Manifest {
            tag: tag.to_string(),
            owner: Owner::this_process(),
            command: self.spec.command,
            dir,
            remove_dir: self.spec.remove_dir,
            bridge: self.bridge.clone(),
            netns: nodes.iter().map(|n| n.netns.clone()).collect(),
            links: nodes.iter().map(|n| n.host_link.clone()).collect(),
            cgroups: nodes.iter().filter(|n| !n.cgroups_root.is_empty()).map(|n| n.cgroups_root.clone()).collect(),
            forward_rule: net::bridge_traffic_filtered(),
        };
    }

    fn plan_node(&self, role: Role, i: usize, tag: &str, subnet: &str) -> Node {
        let (letter, name) = role.naming();
        // The agents' names are those of clusters without high availability.
        let (netns, host_link) = match role {
            Role::Agent => (format!("{tag}n{i}"), format!("{tag}v{i}")),
            _ => (format!("{tag}{letter}{i}"), format!("{tag}v{letter}{i}")),
        };
        let ip = format!("{subnet}.{}", role.host_byte(i));
        let hostname = format!("{name}{i}");
        let work_dir = self.spec.dir.join(&hostname);
        let spec = &self.spec;
        let mut cgroups_root = String::new();
        let args: Vec<String> = match role {
            Role::Agent => {
                let rack = format!("rack-{}", i % 2);
                let zone = format!("zone-{}", i % 3);
                cgroups_root = format!("{tag}-node{i}");
                let mut args: Vec<String> = vec![
                    "agent".into(),
                    "--master".into(),
                    String::new(), // filled in when the master's address is known
                    "--ip".into(),
                    ip.clone(),
                    "--port".into(),
                    AGENT_PORT.to_string(),
                    "--hostname".into(),
                    hostname.clone(),
                    "--work_dir".into(),
                    work_dir.display().to_string(),
                    "--cgroups_root".into(),
                    cgroups_root.clone(),
                    format!("--resources={}", spec.agent_resources),
                    format!("--attributes=rack:{rack};zone:{zone}"),
                ];
                if spec.masters > 0 {
                    args.push(format!("--zk_session_timeout={}", mesos_duration(spec.zk_session_timeout)));
                }
                args.extend(spec.agent_flags.iter().cloned());
                args
            }
            Role::Master => {
                let mut args: Vec<String> = vec![
                    "master".into(),
                    "--ip".into(),
                    ip.clone(),
                    "--port".into(),
                    MASTER_PORT.to_string(),
                    "--hostname".into(),
                    hostname.clone(),
                    "--work_dir".into(),
                    work_dir.display().to_string(),
                    "--zk".into(),
                    String::new(), // filled in with ZooKeeper's addresses
                    "--quorum".into(),
                    (spec.masters / 2 + 1).to_string(),
                    format!("--zk_session_timeout={}", mesos_duration(spec.zk_session_timeout)),
                ];
                args.extend(spec.master_flags.iter().cloned());
                args
            }
            Role::Scheduler => {
                let mut args: Vec<String> = vec![
                    "scheduler".into(),
                    "--master".into(),
                    String::new(), // filled in when the master's address is known
                    "--zk".into(),
                    String::new(),
                    "--zk_session_timeout".into(),
                    spec.zk_session_timeout.as_millis().to_string(),
                    "--http_address".into(),
                    ip.clone(),
                    "--http_port".into(),
                    SCHEDULER_PORT.to_string(),
                    "--hostname".into(),
                    hostname.clone(),
                    "--work_dir".into(),
                    work_dir.display().to_string(),
                ];
                args.extend(spec.scheduler_flags.iter().cloned());
                args
            }
            Role::ZooKeeper => Vec::new(),
        };
        Node {
            role,
            index: i,
            hostname,
            ip,
            port: role.port(),
            netns,
            host_link,
            cgroups_root,
            work_dir,
            args,
            process: None,
            restarts: 0,
        }
    }

    /// Every machine: ZooKeeper, masters, agents, schedulers.
    pub fn all_nodes(&self) -> impl Iterator<Item = &Node> {
        self.zookeepers.iter().chain(&self.masters).chain(&self.nodes).chain(&self.schedulers)
    }

    fn nodes_of(&mut self, role: Role) -> &mut Vec<Node> {
        match role {
            Role::Agent => &mut self.nodes,
            Role::Master => &mut self.masters,
            Role::Scheduler => &mut self.schedulers,
            Role::ZooKeeper => &mut self.zookeepers,
        }
    }

    /// Every machine's name in every machine's `/etc/hosts` (`ip netns exec` mounts
    /// `/etc/netns/<namespace>/hosts` over it), after the host's own entries.
    fn write_hosts_files(&self) -> Result<()> {
        let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        hosts.push_str(&format!("\n# cargo xtask cluster {}\n", self.manifest.tag));
        for node in self.all_nodes() {
            hosts.push_str(&format!("{} {}\n", node.ip, node.hostname));
        }
        for node in self.all_nodes() {
            let dir = std::path::Path::new("/etc/netns").join(&node.netns);
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join("hosts"), &hosts))
                .map_err(|e| ClusterError::Other(format!("write {}/hosts: {e}", dir.display())))?;
        }
        Ok(())
    }

    fn start_zookeeper(&mut self) -> Result<()> {
        let hosts = self
            .zookeepers
            .iter()
            .map(|n| {
                let ip = n.ip.parse().map_err(|e| ClusterError::Other(format!("{}: {e}", n.ip)))?;
                Ok(ZkHost { ip, netns: n.netns.clone() })
            })
            .collect::<Result<Vec<_>>>()?;
        let options =
            ZkOptions { hosts, parent_dir: Some(self.spec.dir.clone()), ..ZkOptions::servers(self.zookeepers.len()) };
        self.zk = Some(ZooKeeper::start_with(options)?);
        Ok(())
    }

    /// `zk://<every ZooKeeper server>/<path>` (`path` with its leading `/`).
    pub fn zk_url(&self, path: &str) -> String {
        let servers: Vec<String> = self.zookeepers.iter().map(Node::endpoint).collect();
        format!("zk://{}{path}", servers.join(","))
    }

    /// What agents and frameworks are given as the master: `zk://.../mesos` with masters of their
    /// own, else the master's `ip:port`.
    pub fn master_url(&self) -> String {
        if self.masters.is_empty() { self.master_addr() } else { self.zk_url("/mesos") }
    }

    /// The ZooKeeper handle (with masters or schedulers).
    pub fn zookeeper(&self) -> Option<&ZooKeeper> {
        self.zk.as_ref()
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
        wait_http(&self.master_addr(), "/health", Duration::from_secs(20))
    }

    /// `ip:port` of the master, reachable from the host and from every node: the one on the host
    /// side of the bridge, or the leading one (the first while none leads).
    pub fn master_addr(&self) -> String {
        match (self.masters.is_empty(), self.leading_master()) {
            (true, _) => format!("{}:{}", self.bridge_ip, self.master_port),
            (false, Some(i)) => self.masters[i].endpoint(),
            (false, None) => self.masters[0].endpoint(),
        }
    }

    /// The master that says it is elected (`master/elected` in `/metrics/snapshot`).
    pub fn leading_master(&self) -> Option<usize> {
        self.masters.iter().position(|m| {
            m.process.is_some() && metric(&m.endpoint(), "/metrics/snapshot", "master/elected") == Some(1.0)
        })
    }

    /// The running scheduler every running scheduler names as the leader (`GET /v2/leader`; a
    /// killed leader is named until its ZooKeeper session expires).
    pub fn leading_scheduler(&self) -> Option<usize> {
        let mut named = None;
        for s in self.schedulers.iter().filter(|s| s.process.is_some()) {
            let body: serde_json::Value = serde_json::from_str(&http_get(&s.endpoint(), "/v2/leader")?).ok()?;
            let leader = self.schedulers.iter().position(|c| body["leader"] == c.endpoint().as_str())?;
            if named.is_some_and(|n| n != leader) || self.schedulers[leader].process.is_none() {
                return None;
            }
            named = Some(leader);
        }
        named
    }

    /// `http://ip:port` of every scheduler's REST API.
    pub fn scheduler_urls(&self) -> Vec<String> {
        self.schedulers.iter().map(|s| format!("http://{}", s.endpoint())).collect()
    }

    /// Waits until every running scheduler names the same leader and the leading master has an
    /// active framework.
    pub fn wait_schedulers(&self, timeout: Duration) -> Result<usize> {
        wait_for(timeout, "a leading scheduler subscribed to the leading master", || {
            let leader = self.leading_scheduler()?;
            let active = metric(&self.master_addr(), "/metrics/snapshot", "master/frameworks_active")?;
            (active >= 1.0).then_some(leader)
        })
    }

    /// Starts (or restarts) node `i`'s agent with its work dir.
    pub fn start_agent(&mut self, i: usize) -> Result<()> {
        self.start(Role::Agent, i)
    }

    /// Starts (or restarts, after SIGKILL of what runs there) machine `i` of `role` (an agent,
    /// a master or a scheduler) with its work dir, and waits for its HTTP server.
    pub fn start(&mut self, role: Role, i: usize) -> Result<()> {
        let master = self.master_url();
        let (mesos, marathon) = (self.zk_url("/mesos"), self.zk_url("/marathon"));
        let binary = self.spec.binary.clone();
        let dir = self.spec.dir.clone();
        let node = self.nodes_of(role).get_mut(i).ok_or_else(|| ClusterError::Other(format!("no {role:?} {i}")))?;
        kill_child(&mut node.process);
        match role {
            Role::Agent => node.args[2] = master,
            Role::Master => node.args[10] = mesos,
            Role::Scheduler => (node.args[2], node.args[4]) = (master, marathon),
            Role::ZooKeeper => return Err(ClusterError::Other("ZooKeeper is started with the cluster".into())),
        }
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &node.netns]).arg(&binary).args(&node.args);
        let log = match role {
            Role::Agent => dir.join(format!("node{i}-{}.log", node.restarts)),
            _ if node.restarts == 0 => dir.join(format!("{}.log", node.hostname)),
            _ => dir.join(format!("{}-{}.log", node.hostname, node.restarts)),
        };
        node.restarts += 1;
        node.process = Some(spawn_logged(command, &log, &node.hostname)?);
        let health = if role == Role::Scheduler { "/ping" } else { "/health" };
        wait_http(&node.endpoint(), health, READY)
    }

    /// SIGKILL of the agent and of every process in the node's namespace (its tasks).
    pub fn kill_node(&mut self, i: usize) -> Result<()> {
        self.kill(Role::Agent, i)
    }

    /// SIGKILL of every process on machine `i` of `role` (for ZooKeeper, its server).
    pub fn kill(&mut self, role: Role, i: usize) -> Result<()> {
        let node = self.nodes_of(role).get_mut(i).ok_or_else(|| ClusterError::Other(format!("no {role:?} {i}")))?;
        kill_child(&mut node.process);
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

    /// Waits until the (leading) master lists `n` active agents.
    pub fn wait_registered(&self, n: usize, timeout: Duration) -> Result<()> {
        let mut body = String::new();
        wait_for(timeout, &format!("{n} agents registered"), || {
            body = http_get(&self.master_addr(), "/master/slaves").unwrap_or_default();
            (body.matches("\"active\":true").count() >= n).then_some(())
        })
        .map_err(|e| ClusterError::Other(format!("{e}: {body}")))
    }

    /// The name the cluster is recorded under (the prefix of its namespaces' and links' names).
    pub fn tag(&self) -> &str {
        &self.manifest.tag
    }

    /// Removes everything (also done on drop): every process, namespace, link, cgroup, hosts
    /// file, the bridge, and the directory if the spec says so.
    pub fn down(&mut self) {
        for node in self.nodes.iter_mut().chain(&mut self.schedulers).chain(&mut self.masters) {
            kill_child(&mut node.process);
            kill_namespace_processes(&node.netns);
        }
        kill_child(&mut self.master);
        // Its guards kill the servers and remove their directories.
        self.zk.take();
        self.manifest.remove_everything();
        self.nodes.clear();
        self.masters.clear();
        self.schedulers.clear();
        self.zookeepers.clear();
    }
}

impl Drop for NetCluster {
    fn drop(&mut self) {
        self.down();
    }
}

/// A number in the JSON object at `addr` `path`.
fn metric(addr: &str, path: &str, key: &str) -> Option<f64> {
    let body: serde_json::Value = serde_json::from_str(&http_get(addr, path)?).ok()?;
    body[key].as_f64()
}

/// `10secs`, `2secs`, `1500ms`: a duration as Mesos flags take it.
fn mesos_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}secs", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}
