//! A private dockerd for tests: its own socket, data root, exec root and pid file under a
//! temporary directory, its own containerd, and its own bridge, so that it shares nothing with
//! a system dockerd or with another test binary's.
//!
//! * No iptables rules (`--iptables=false --ip6tables=false`), no change of the host's
//!   `ip_forward` or masquerading: published ports go through `docker-proxy` (the userland
//!   proxy), which is all tests on this host need.
//! * Bridge networking works: instead of `--bridge=none` (no `bridge` network at all) the
//!   daemon gets a bridge of its own, made here before it starts (`mrdk<id>`, `10.<a>.<b>.1/25`
//!   with `a` in 250..=254, a range `netcluster` never uses), and its user-defined networks
//!   come from the other half of that /24 (`--default-address-pool`, /28 each). The bridge
//!   name is the lock: `ip link add` fails for a name another process took, and the next id is
//!   tried.
//! * Containers' cgroups go under `/mrdk<id>` (`--cgroup-parent`).
//! * Two images are built with `docker import` from Debian's `busybox-static` (no registry):
//!   [`IMAGE`] (no entrypoint) and [`ENTRYPOINT_IMAGE`] (`ENTRYPOINT ["/bin/echo",
//!   "entrypoint"]`, `CMD ["default-cmd"]`). Both hold every busybox applet in `/bin`, `/tmp`,
//!   and `/www/index.html` ([`WWW_INDEX`]) for `httpd -h /www`.
//!
//! Cleanup does not depend on the test process ending well: a small watchdog shell (the
//! daemon's parent) holds a pipe from the test process and, when that pipe closes (the handle
//! is dropped, or the test process exits or is killed), removes every container, stops the
//! daemon, and removes the bridge, the cgroups and the directory. [`Dockerd::shared`] is the
//! one daemon of a test binary, cleaned up when the binary exits.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The test image (no entrypoint, no command).
pub const IMAGE: &str = "marathon-test/busybox:latest";
/// The test image with an entrypoint and a command.
pub const ENTRYPOINT_IMAGE: &str = "marathon-test/entrypoint:latest";
/// `/www/index.html` of the test images: content that exists only in the image.
pub const WWW_INDEX: &str = "served from the marathon-test image\n";

#[derive(Debug, thiserror::Error)]
pub enum DockerdError {
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("cannot run {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

type Result<T> = std::result::Result<T, DockerdError>;

/// A running private dockerd (see the module documentation).
#[derive(Debug)]
pub struct Dockerd {
    /// The daemon's Unix socket.
    pub socket: PathBuf,
    /// Everything of the daemon's is below this directory.
    pub dir: PathBuf,
    /// The bridge behind the `bridge` network, and its address (the containers' gateway).
    pub bridge: String,
    pub bridge_ip: String,
    /// The containers' cgroup parent (`/sys/fs/cgroup/<subsystem>/<this>`).
    pub cgroup_parent: String,
    watchdog: Option<Child>,
}

fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DockerdError::Spawn { what: program.to_string(), source })?;
    if !out.status.success() {
        return Err(DockerdError::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// The first `program` on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// Whether an ELF file has no program interpreter (is statically linked).
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    let u16_at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |o: usize| bytes.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |o: usize| bytes.get(o..o + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    // 64-bit little-endian ELF only (the machines this runs on).
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| u32_at(phoff as usize + i * phentsize) != Some(PT_INTERP))
}

fn static_busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .chain(which("busybox"))
        .find(|p| is_static_elf(p))
}

static SHARED: OnceLock<Option<Dockerd>> = OnceLock::new();

impl Dockerd {
    /// Whether `dockerd`, the `docker` CLI and a static busybox are installed.
    pub fn available() -> bool {
        which("dockerd").is_some() && which("docker").is_some() && static_busybox().is_some()
    }

    /// The private dockerd of this test binary, started on first use; `None` (after printing
    /// why) when Docker is not installed. In CI (`CI` set) a missing Docker is an error, not a
    /// skip. Panics if the daemon cannot start: test setup only.
    pub fn shared() -> Option<&'static Dockerd> {
        SHARED
            .get_or_init(|| {
                if !Self::available() {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "dockerd, docker or busybox-static is missing in CI (scripts/install-test-deps installs them)"
                    );
                    eprintln!(
                        "skipping the Docker tests: dockerd, docker or a static busybox is not installed \
                         (scripts/install-test-deps installs docker.io and busybox-static)"
                    );
                    return None;
                }
                Some(Dockerd::start().unwrap_or_else(|e| panic!("cannot start a private dockerd: {e}")))
            })
            .as_ref()
    }

    /// Starts a daemon of its own, waits until it answers and builds the test images.
    pub fn start() -> Result<Dockerd> {
        let busybox = static_busybox().ok_or_else(|| DockerdError::Other("no static busybox".to_string()))?;
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let base = ((std::process::id() as u16).wrapping_mul(31)).wrapping_add(n.wrapping_mul(7919));
        let mut chosen = None;
        for attempt in 0..64u16 {
            let id = base.wrapping_add(attempt.wrapping_mul(257)) % (5 * 256);
            let (a, b) = (250 + id / 256, id % 256);
            let subnet = format!("10.{a}.{b}.");
            let addresses = run("ip", &["-o", "-4", "addr", "show"])?;
            if addresses.contains(&format!(" {subnet}")) {
                continue;
            }
            let bridge = format!("mrdk{id:04x}");
            if run("ip", &["link", "add", &bridge, "type", "bridge"]).is_err() {
                continue;
            }
            chosen = Some((bridge, subnet));
            break;
        }
        let (bridge, subnet) = chosen.ok_or_else(|| DockerdError::Other("no free bridge name".to_string()))?;
        let dir = std::env::temp_dir().join(format!("mr-dockerd-{}-{n}", std::process::id()));
        let cgroup_parent = format!("/{bridge}");
        let mut dockerd = Dockerd {
            socket: dir.join("docker.sock"),
            dir: dir.clone(),
            bridge_ip: format!("{subnet}1"),
            bridge: bridge.clone(),
            cgroup_parent: cgroup_parent.clone(),
            watchdog: None,
        };
        // From here on, the watchdog (or Drop, if it never started) cleans up.
        let setup = || -> Result<()> {
            run("ip", &["addr", "add", &format!("{subnet}1/25"), "dev", &bridge])?;
            run("ip", &["link", "set", &bridge, "up"])?;
            std::fs::create_dir_all(&dir).map_err(|e| DockerdError::Other(format!("create {}: {e}", dir.display())))?;
            Ok(())
        };
        if let Err(e) = setup() {
            let _ = run("ip", &["link", "del", &bridge]);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let pool = format!("base={subnet}128/25,size=28");
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(&dir)
            .arg(&dockerd.socket)
            .arg(&bridge)
            .arg(&cgroup_parent)
            .arg(&pool)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| DockerdError::Spawn { what: "sh (the dockerd watchdog)".to_string(), source });
        match watchdog {
            Ok(child) => dockerd.watchdog = Some(child),
            Err(e) => {
                let _ = run("ip", &["link", "del", &bridge]);
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        }
        dockerd.wait_ready(Duration::from_secs(60))?;
        dockerd.build_images(&busybox)?;
        Ok(dockerd)
    }

    /// `unix://<socket>`, for `DOCKER_HOST` or `docker -H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs the `docker` CLI against this daemon and returns its stdout.
    pub fn docker(&self, args: &[&str]) -> Result<String> {
        let host = self.host();
        let mut all = vec!["-H", host.as_str()];
        all.extend_from_slice(args);
        run("docker", &all)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.socket.exists() && self.docker(&["version", "--format", "{{.Server.APIVersion}}"]).is_ok() {
                return Ok(());
            }
            if let Some(w) = self.watchdog.as_mut()
                && let Ok(Some(status)) = w.try_wait()
            {
                return Err(DockerdError::Other(format!("dockerd's watchdog exited ({status}): {}", self.log_tail())));
            }
            if Instant::now() > deadline {
                return Err(DockerdError::Other(format!(
                    "dockerd did not answer within {timeout:?}: {}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn build_images(&self, busybox: &Path) -> Result<()> {
        let io = |what: &str, e: std::io::Error| DockerdError::Other(format!("{what}: {e}"));
        let rootfs = self.dir.join("rootfs");
        for d in ["bin", "tmp", "www", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).map_err(|e| io("create the rootfs", e))?;
        }
        std::fs::copy(busybox, rootfs.join("bin/busybox")).map_err(|e| io("copy busybox", e))?;
        let applets = run(&busybox.display().to_string(), &["--list"])?;
        for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty() && *a != "busybox") {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .map_err(|e| io("link an applet", e))?;
        }
        std::fs::write(rootfs.join("www/index.html"), WWW_INDEX).map_err(|e| io("write /www", e))?;
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .map_err(|e| io("write /etc/passwd", e))?;
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
            .map_err(|e| io("write /etc/group", e))?;
        let tar = self.dir.join("rootfs.tar");
        run("tar", &["-C", &rootfs.display().to_string(), "-cf", &tar.display().to_string(), "."])?;
        let tar = tar.display().to_string();
        self.docker(&["import", &tar, IMAGE])?;
        self.docker(&[
            "import",
            "--change",
            r#"ENTRYPOINT ["/bin/echo", "entrypoint"]"#,
            "--change",
            r#"CMD ["default-cmd"]"#,
            &tar,
            ENTRYPOINT_IMAGE,
        ])?;
        Ok(())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let Some(mut watchdog) = self.watchdog.take() else { return };
        // Closing the pipe starts the cleanup; wait for it (bounded).
        if let Some(mut stdin) = watchdog.stdin.take() {
            let _ = stdin.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = watchdog.kill();
        let _ = watchdog.wait();
    }
}

/// The daemon's parent: starts dockerd, blocks until its stdin closes, then removes everything
/// the daemon and the helper made. Arguments: dir, socket, bridge, cgroup parent, address pool.
const WATCHDOG: &str = r#"
# A Ctrl-C of the test run must not skip the cleanup.
trap '' INT TERM HUP
dir=$1 sock=$2 bridge=$3 cg=$4 pool=$5
dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
  -H "unix://$sock" --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --bridge="$bridge" --default-address-pool "$pool" --cgroup-parent="$cg" \
  --shutdown-timeout=1 --log-level=warn >"$dir/dockerd.log" 2>&1 </dev/null &
pid=$!
# Until the test process closes the pipe or exits.
cat >/dev/null
alive() { [ -e "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; }
if alive; then
  ids=$(docker -H "unix://$sock" ps -aq 2>/dev/null)
  [ -n "$ids" ] && docker -H "unix://$sock" rm -f -v $ids >/dev/null 2>&1
  nets=$(docker -H "unix://$sock" network ls -q --filter type=custom 2>/dev/null)
  [ -n "$nets" ] && docker -H "unix://$sock" network rm $nets >/dev/null 2>&1
  kill -TERM "$pid" 2>/dev/null
  i=0
  while alive && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
fi
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
grep " $dir/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
ip link del "$bridge" 2>/dev/null
for d in /sys/fs/cgroup/*/"${cg#/}"; do
  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
done
rm -rf "$dir"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_dynamic_binaries_are_told_apart() {
        // The test binary itself is dynamically linked (it has an interpreter).
        let me = std::env::current_exe().expect("current exe");
        assert!(!is_static_elf(&me));
        assert!(!is_static_elf(Path::new("/nonexistent")));
        if let Some(busybox) = static_busybox() {
            assert!(is_static_elf(&busybox));
        }
    }
}
