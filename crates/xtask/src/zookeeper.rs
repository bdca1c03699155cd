//! Real ZooKeeper servers for tests: Debian's `zookeeper` package (the jar, started by hand with
//! the machine's Java), one server or an ensemble of three on free loopback ports, each with its
//! own data dir, `tickTime=500` (so sessions down to 1 s are allowed) and no AdminServer.
//! [`ZooKeeper::start`] returns once every server serves; dropping it kills the servers and
//! removes their directories.
//!
//! Every server runs under a small `sh` guard that holds a pipe from the test process: when the
//! test process ends in any way (even SIGKILL, when no `Drop` runs), the pipe closes and the guard
//! kills its server and removes the directories. So no test leaves a Java process or a temp dir
//! behind.
//!
//! Tests that need ZooKeeper call [`ZooKeeper::start_or_skip`] (or [`ZooKeeper::shared_or_skip`]):
//! without the jar they print why they skip and pass, except under CI (`CI` set), where
//! `scripts/install-test-deps` installs it and a missing jar is an error.
//!
//! [`ZkLink`] puts a [`TcpProxy`] in front of every server, for one client whose link a test cuts
//! and heals (to expire just that client's session).
//!
//! [`ZkOptions::hosts`] places each server in a network namespace of its own instead (its own IP,
//! the usual ports 2181, 2888 and 3888), as `netcluster` does for its ZooKeeper machines.

use crate::tcp_proxy::TcpProxy;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The jar of Debian's `zookeeper` package.
pub const JAR: &str = "/usr/share/java/zookeeper.jar";

/// The server's tick; the smallest session timeout it grants is two ticks (1 s).
pub const TICK: Duration = Duration::from_millis(500);

const LOG4J_JARS: [&str; 2] = ["/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"];

const READY_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error("{JAR} not found: install Debian's `zookeeper` package (scripts/install-test-deps)")]
    NotInstalled,
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("ZooKeeper server {id} did not start: {reason}\n--- last lines of {log} ---\n{tail}")]
    Start { id: usize, reason: String, log: String, tail: String },
}

type Result<T> = std::result::Result<T, ZkError>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ZkError {
    let what = what.into();
    move |source| ZkError::Io { what, source }
}

/// Options of the servers.
#[derive(Debug, Clone)]
pub struct ZkOptions {
    /// 1 (standalone) or an odd number for an ensemble.
    pub servers: usize,
    /// Whether the transaction log is fsynced (`forceSync`). Off by default: tests need no
    /// durability across machine crashes, and fsyncs on a busy shared disk make them slow.
    pub force_sync: bool,
    /// Where each server runs (one per server): empty for free ports on loopback.
    pub hosts: Vec<ZkHost>,
    /// The directory the servers' temp dir is made in (default: the system's temp dir).
    pub parent_dir: Option<PathBuf>,
}

/// A server on a machine of its own: a network namespace (which must exist, with `ip` on one of
/// its links) where it listens on `ip`, ports 2181 (clients), 2888 and 3888 (the ensemble).
#[derive(Debug, Clone)]
pub struct ZkHost {
    pub ip: Ipv4Addr,
    pub netns: String,
}

/// The usual ports of a server on a machine of its own.
pub const CLIENT_PORT: u16 = 2181;
const QUORUM_PORTS: (u16, u16) = (2888, 3888);

impl ZkOptions {
    pub fn servers(servers: usize) -> ZkOptions {
        ZkOptions { servers, force_sync: false, hosts: Vec::new(), parent_dir: None }
    }
}

/// Running ZooKeeper servers (one, or an ensemble).
pub struct ZooKeeper {
    servers: Vec<Server>,
    // Declared last: removed after the servers are gone.
    base: tempfile::TempDir,
}

struct Server {
    id: usize,
    client: SocketAddr,
    /// The network namespace it runs in (none: this process's).
    netns: Option<String>,
    dir: PathBuf,
    guard: Option<Guard>,
}

/// The `sh` guard of one server process.
struct Guard {
    shell: Child,
    /// Closing it (EOF) kills the server and removes the directories; the line `kill` kills the
    /// server and keeps them (for a restart).
    stdin: Option<ChildStdin>,
    java_pid: u32,
}

impl Guard {
    fn java_alive(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.java_pid)) {
            // The state is the first field after the parenthesized command name.
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    /// Kills the server; with `keep_dirs` its data survives for a restart.
    fn stop(mut self, keep_dirs: bool) {
        if let Some(mut stdin) = self.stdin.take() {
            if keep_dirs {
                let _ = stdin.write_all(b"kill\n");
                let _ = stdin.flush();
            }
            drop(stdin);
        }
        let _ = self.shell.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Normally consumed by `stop`; this covers panics in between.
        self.stdin.take();
        let _ = self.shell.wait();
    }
}

/// Ports picked by binding port 0; held until just before the server starts.
struct Reserved(Vec<TcpListener>);

impl Reserved {
    fn take(count: usize) -> Result<Reserved> {
        (0..count)
            .map(|_| TcpListener::bind("127.0.0.1:0").map_err(io("bind a free port")))
            .collect::<Result<Vec<_>>>()
            .map(Reserved)
    }

    fn port(&self, i: usize) -> u16 {
        self.0[i].local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

impl ZooKeeper {
    /// Whether the jar is installed.
    pub fn available() -> bool {
        Path::new(JAR).is_file() && LOG4J_JARS.iter().all(|jar| Path::new(jar).is_file())
    }

    /// Starts `servers` servers (1, or 3 for an ensemble) and waits until they serve.
    pub fn start(servers: usize) -> Result<ZooKeeper> {
        ZooKeeper::start_with(ZkOptions::servers(servers))
    }

    /// Starts servers with `options`. A server that loses a race for its port is retried on
    /// fresh ports.
    pub fn start_with(options: ZkOptions) -> Result<ZooKeeper> {
        if !ZooKeeper::available() {
            return Err(ZkError::NotInstalled);
        }
        let mut last = None;
        for _ in 0..3 {
            match ZooKeeper::try_start(&options) {
                Ok(zk) => return Ok(zk),
                Err(err @ ZkError::Start { .. }) if err.to_string().contains("Address already in use") => {
                    last = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or(ZkError::NotInstalled))
    }

    /// [`ZooKeeper::start`] for tests: `None` (after saying why) when ZooKeeper is not
    /// installed and this is not CI; panics if it does not start.
    pub fn start_or_skip(servers: usize, test: &str) -> Option<ZooKeeper> {
        if !skip_check(test) {
            return None;
        }
        match ZooKeeper::start(servers) {
            Ok(zk) => Some(zk),
            Err(err) => panic!("{test}: {err}"),
        }
    }

    /// One standalone server shared by the tests of this process that run at the same time (it
    /// stops when the last of them drops its handle; the next one starts a new server). Tests
    /// that share it keep to their own paths ([`ZooKeeper::unique_path`]).
    pub fn shared_or_skip(test: &str) -> Option<Arc<ZooKeeper>> {
        static SHARED: Mutex<Weak<ZooKeeper>> = Mutex::new(Weak::new());
        if !skip_check(test) {
            return None;
        }
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(zk) = shared.upgrade() {
            return Some(zk);
        }
        let zk = match ZooKeeper::start(1) {
            Ok(zk) => Arc::new(zk),
            Err(err) => panic!("{test}: {err}"),
        };
        *shared = Arc::downgrade(&zk);
        Some(zk)
    }

    fn try_start(options: &ZkOptions) -> Result<ZooKeeper> {
        let count = options.servers.max(1);
        if !options.hosts.is_empty() && options.hosts.len() != count {
            return Err(ZkError::Io {
                what: format!("{} hosts for {count} servers", options.hosts.len()),
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            });
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix("zookeeper-test-");
        let base = match &options.parent_dir {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(io("create a temp dir"))?;
        // (client, quorum, election) address of each server.
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (reserved, places): (Option<Reserved>, Vec<(SocketAddr, u16, u16)>) = if options.hosts.is_empty() {
            let reserved = Reserved::take(count * 3)?;
            let places = (0..count)
                .map(|i| {
                    (
                        SocketAddr::new(loopback, reserved.port(3 * i)),
                        reserved.port(3 * i + 1),
                        reserved.port(3 * i + 2),
                    )
                })
                .collect();
            (Some(reserved), places)
        } else {
            let places = options
                .hosts
                .iter()
                .map(|h| (SocketAddr::new(IpAddr::V4(h.ip), CLIENT_PORT), QUORUM_PORTS.0, QUORUM_PORTS.1))
                .collect();
            (None, places)
        };
        let mut servers = Vec::with_capacity(count);
        let mut peers = String::new();
        if count > 1 {
            for (i, (client, quorum, election)) in places.iter().enumerate() {
                peers.push_str(&format!("server.{}={}:{quorum}:{election}\n", i + 1, client.ip()));
            }
        }
        for (i, (client, _, _)) in places.iter().enumerate() {
            let id = i + 1;
            let dir = base.path().join(format!("server-{id}"));
            let data = dir.join("data");
            std::fs::create_dir_all(&data).map_err(io(format!("create {}", data.display())))?;
            let config = format!(
                "tickTime={tick}\ninitLimit=20\nsyncLimit=10\ndataDir={data}\nclientPort={port}\n\
                 clientPortAddress={ip}\nmaxClientCnxns=0\nmaxSessionTimeout=60000\n\
                 admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,mntr,cons\n\
                 forceSync={sync}\npreAllocSize=4096\nsnapCount=100000\nautopurge.purgeInterval=0\n{peers}",
                tick = TICK.as_millis(),
                data = data.display(),
                port = client.port(),
                ip = client.ip(),
                sync = if options.force_sync { "yes" } else { "no" },
            );
            std::fs::write(dir.join("zoo.cfg"), config).map_err(io("write zoo.cfg"))?;
            std::fs::write(dir.join("log4j.properties"), LOG4J).map_err(io("write log4j.properties"))?;
            if count > 1 {
                std::fs::write(data.join("myid"), format!("{id}\n")).map_err(io("write myid"))?;
            }
            let netns = options.hosts.get(i).map(|h| h.netns.clone());
            servers.push(Server { id, client: *client, netns, dir, guard: None });
        }
        // Free the ports only now, right before the servers bind them.
        drop(reserved);
        let mut zk = ZooKeeper { servers, base };
        for i in 0..count {
            let server = &zk.servers[i];
            let guard = spawn_server(&server.dir, zk.base.path(), server.netns.as_deref())?;
            zk.servers[i].guard = Some(guard);
        }
        for i in 0..count {
            zk.wait_serving(i)?;
        }
        Ok(zk)
    }

    /// Waits until server `i` answers `srvr` with its mode (standalone, leader or follower).
    fn wait_serving(&self, i: usize) -> Result<()> {
        let server = &self.servers[i];
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(mode) = four_letter(server.client, "srvr")
                .and_then(|answer| answer.lines().find_map(|line| line.strip_prefix("Mode: ").map(str::to_owned)))
                && !mode.is_empty()
            {
                return Ok(());
            }
            let alive = server.guard.as_ref().is_some_and(Guard::java_alive);
            if !alive || Instant::now() > deadline {
                let log = server.dir.join("zookeeper.log");
                let reason = if alive { "not serving in time".to_owned() } else { "the server exited".to_owned() };
                return Err(ZkError::Start {
                    id: server.id,
                    reason,
                    log: log.display().to_string(),
                    tail: tail(&log, 30),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Never true (there is at least one server); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The client address of server `i` (0-based).
    pub fn client_addr(&self, i: usize) -> SocketAddr {
        self.servers[i].client
    }

    /// The directory of every server's config, data and log (removed when dropped).
    pub fn base_dir(&self) -> &Path {
        self.base.path()
    }

    /// Every server's client address, as a connect string: `127.0.0.1:p1,127.0.0.1:p2,...`.
    pub fn connect_string(&self) -> String {
        (0..self.servers.len()).map(|i| self.client_addr(i).to_string()).collect::<Vec<_>>().join(",")
    }

    /// `zk://<connect string><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.connect_string())
    }

    /// A path no other test in this process uses: `/<name>-<pid>-<n>`.
    pub fn unique_path(&self, name: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        format!("/{name}-{}-{n}", std::process::id())
    }

    /// Whether server `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.servers[i].guard.as_ref().is_some_and(Guard::java_alive)
    }

    /// Kills server `i` (SIGKILL), keeping its data.
    pub fn kill(&mut self, i: usize) {
        if let Some(guard) = self.servers[i].guard.take() {
            guard.stop(true);
        }
    }

    /// Starts server `i` again (after [`ZooKeeper::kill`]) on the same ports and data, and waits
    /// until it serves.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.kill(i);
        let server = &self.servers[i];
        let guard = spawn_server(&server.dir, self.base.path(), server.netns.as_deref())?;
        self.servers[i].guard = Some(guard);
        self.wait_serving(i)
    }

    /// The mode server `i` reports (`standalone`, `leader`, `follower`), if it serves.
    pub fn mode(&self, i: usize) -> Option<String> {
        four_letter(self.servers[i].client, "srvr")?
            .lines()
            .find_map(|line| line.strip_prefix("Mode: ").map(str::to_owned))
    }

    /// The last lines of server `i`'s log, for failure messages.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        tail(&self.servers[i].dir.join("zookeeper.log"), lines)
    }
}

impl std::fmt::Debug for ZooKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeper").field("servers", &self.connect_string()).field("dir", &self.base.path()).finish()
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        for server in &mut self.servers {
            if let Some(guard) = server.guard.take() {
                guard.stop(false);
            }
        }
    }
}

/// Whether a ZooKeeper test can run; prints why not. Panics under CI without the jar.
fn skip_check(test: &str) -> bool {
    if ZooKeeper::available() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{test}: {} (CI must run the ZooKeeper tests)", ZkError::NotInstalled);
    eprintln!("SKIPPED {test}: {}", ZkError::NotInstalled);
    false
}

const LOG4J: &str = "log4j.rootLogger=INFO, CONSOLE\n\
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n\
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n\
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] %-5p [%t:%C{1}@%L] %m%n\n";

/// The guard: starts Java in the background, prints its pid, then waits on stdin. A `kill` line
/// kills the server; EOF (the test process closed the pipe or ended) kills it and removes the
/// whole base directory.
const GUARD: &str = r#"
dir="$1"; base="$2"; shift 2
"$@" >"$dir/zookeeper.log" 2>&1 </dev/null &
pid=$!
echo "$pid"
if read -r line; then
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
else
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  rm -rf -- "$base"
fi
"#;

/// Starts the guard (in `netns` if given: `ip netns exec` execs it, so the guard is the child).
fn spawn_server(dir: &Path, base: &Path, netns: Option<&str>) -> Result<Guard> {
    let mut classpath = format!("{}:{JAR}", dir.display());
    for jar in LOG4J_JARS {
        classpath.push(':');
        classpath.push_str(jar);
    }
    let mut command = match netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns, "sh"]);
            command
        }
        None => Command::new("sh"),
    };
    let mut shell = command
        .arg("-c")
        .arg(GUARD)
        .arg("zookeeper-guard")
        .arg(dir)
        .arg(base)
        .arg("java")
        .args(["-Xms32m", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k"])
        .arg("-Djava.net.preferIPv4Stack=true")
        .arg("-Dzookeeper.jmx.log4j.disable=true")
        .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
        .arg("-cp")
        .arg(classpath)
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(dir.join("zoo.cfg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("spawn sh for ZooKeeper"))?;
    let stdin = shell.stdin.take();
    let mut line = String::new();
    let read = shell.stdout.take().map(|out| BufReader::new(out).read_line(&mut line));
    let java_pid = match (read, line.trim().parse::<u32>()) {
        (Some(Ok(_)), Ok(pid)) => pid,
        _ => {
            drop(stdin);
            let _ = shell.wait();
            return Err(ZkError::Start {
                id: 0,
                reason: format!("the guard printed no pid: {line:?}"),
                log: dir.join("zookeeper.log").display().to_string(),
                tail: tail(&dir.join("zookeeper.log"), 30),
            });
        }
    };
    Ok(Guard { shell, stdin, java_pid })
}

/// Sends a four-letter command and returns the answer.
fn four_letter(addr: SocketAddr, command: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(command.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A [`TcpProxy`] in front of every server of a [`ZooKeeper`]: give one client
/// [`ZkLink::connect_string`] and cut or heal just that client's link.
pub struct ZkLink {
    proxies: Vec<TcpProxy>,
}

impl ZkLink {
    pub fn new(zk: &ZooKeeper) -> Result<ZkLink> {
        let proxies = (0..zk.len())
            .map(|i| TcpProxy::start(zk.client_addr(i)).map_err(io("start a TCP proxy")))
            .collect::<Result<Vec<_>>>()?;
        Ok(ZkLink { proxies })
    }

    /// The proxies' addresses as a connect string.
    pub fn connect_string(&self) -> String {
        self.proxies.iter().map(|p| p.addr().to_string()).collect::<Vec<_>>().join(",")
    }

    /// `zk://<proxies><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.connect_string())
    }

    /// Resets the client's connections and refuses new ones.
    pub fn cut(&self) {
        self.proxies.iter().for_each(TcpProxy::cut);
    }

    /// Drops the client's traffic without closing its connections (a silent partition).
    pub fn stall(&self) {
        self.proxies.iter().for_each(TcpProxy::stall);
    }

    /// Lets the client connect again.
    pub fn heal(&self) {
        self.proxies.iter().for_each(TcpProxy::heal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pids_of(zk: &ZooKeeper) -> Vec<u32> {
        zk.servers.iter().filter_map(|s| s.guard.as_ref().map(|g| g.java_pid)).collect()
    }

    #[test]
    fn standalone_serves_and_is_gone_after_drop() {
        let Some(zk) = ZooKeeper::start_or_skip(1, "standalone_serves_and_is_gone_after_drop") else { return };
        assert_eq!(zk.mode(0).as_deref(), Some("standalone"));
        assert!(four_letter(zk.client_addr(0), "ruok").is_some_and(|a| a == "imok"));
        let pids = pids_of(&zk);
        let dir = zk.base.path().to_path_buf();
        drop(zk);
        for pid in pids {
            assert!(!Path::new(&format!("/proc/{pid}")).exists(), "java {pid} still runs");
        }
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn ensemble_elects_a_leader_and_survives_a_restart() {
        let Some(mut zk) = ZooKeeper::start_or_skip(3, "ensemble_elects_a_leader_and_survives_a_restart") else {
            return;
        };
        let modes: Vec<String> = (0..3).filter_map(|i| zk.mode(i)).collect();
        assert_eq!(modes.iter().filter(|m| *m == "leader").count(), 1, "{modes:?}");
        assert_eq!(modes.iter().filter(|m| *m == "follower").count(), 2, "{modes:?}");
        zk.kill(0);
        assert!(!zk.is_running(0));
        assert!(zk.mode(0).is_none());
        zk.restart(0).expect("restart");
        assert!(zk.mode(0).is_some());
        let dir = zk.base.path().to_path_buf();
        drop(zk);
        assert!(!dir.exists());
    }

    #[test]
    fn the_guard_cleans_up_when_the_test_process_dies() {
        if !skip_check("the_guard_cleans_up_when_the_test_process_dies") {
            return;
        }
        // Simulate the test process dying: close the guard's pipe without running Drop.
        let zk = ZooKeeper::start(1).expect("start");
        let pids = pids_of(&zk);
        let dir = zk.base.path().to_path_buf();
        let mut zk = std::mem::ManuallyDrop::new(zk);
        let mut guard = zk.servers[0].guard.take().expect("guard");
        guard.stdin.take();
        let _ = guard.shell.wait();
        for pid in pids {
            assert!(!Path::new(&format!("/proc/{pid}")).exists(), "java {pid} still runs");
        }
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
