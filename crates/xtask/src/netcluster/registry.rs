//! Every cluster writes a manifest of what it makes (namespaces, links, the bridge, cgroups,
//! hosts files, an iptables rule, its directory) to `/run/marathon-netcluster/<tag>` before
//! making any of it, and removes the manifest once it removed all of it. So what a cluster left
//! behind (its owner killed before `Drop` ran) can always be found and removed:
//! [`sweep_orphans`] removes the clusters whose owner process is gone (run at every
//! `NetCluster::up`), and [`take_down`] (`cargo xtask cluster down`) also stops the clusters of
//! running `cargo xtask cluster up` commands. A running test's cluster is never touched.

use super::net::{forward_rule, kill_namespace_processes, remove_cgroups, run};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const REGISTRY: &str = "/run/marathon-netcluster";

/// The process that owns a cluster, as recorded when it was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// Its start time (`/proc/<pid>/stat` field 22), so a reused pid is not mistaken for it.
    pub start: u64,
    /// Its pid namespace (`/proc/<pid>/ns/pid`): owners in another one are never judged.
    pub pid_ns: String,
}

impl Owner {
    pub fn this_process() -> Owner {
        let pid = std::process::id();
        Owner { pid, start: start_time(pid).unwrap_or(0), pid_ns: pid_namespace("self") }
    }

    /// Whether the owner still runs (or may: it lives in another pid namespace).
    pub fn alive(&self) -> bool {
        if self.pid_ns != pid_namespace("self") {
            return true;
        }
        start_time(self.pid).is_some_and(|start| start == self.start) && !zombie(self.pid)
    }
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesized command name start at field 3.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
}

fn pid_namespace(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).map(|p| p.display().to_string()).unwrap_or_default()
}

/// What one cluster makes, so that it can be removed without the process that made it.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub tag: String,
    pub owner: Owner,
    /// Made by `cargo xtask cluster up` (which `cluster down` may stop), not by a test.
    pub command: bool,
    pub dir: PathBuf,
    /// Whether `dir` itself goes with the cluster.
    pub remove_dir: bool,
    pub bridge: String,
    /// Network namespaces; also the names of their `/etc/netns/<name>` directories, if any.
    pub netns: Vec<String>,
    /// Host ends of the veths.
    pub links: Vec<String>,
    pub cgroups: Vec<String>,
    /// Whether an iptables FORWARD rule for the bridge was added.
    pub forward_rule: bool,
}

impl Manifest {
    fn path(tag: &str) -> PathBuf {
        Path::new(REGISTRY).join(tag)
    }

    pub fn save(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(REGISTRY)?;
        let path = Manifest::path(&self.tag);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(&tmp, &path)
    }

    fn render(&self) -> String {
        let mut text = format!(
            "owner {} {} {}\ncommand {}\ndir {}\nremove_dir {}\nbridge {}\nforward_rule {}\n",
            self.owner.pid,
            self.owner.start,
            self.owner.pid_ns,
            self.command,
            self.dir.display(),
            self.remove_dir,
            self.bridge,
            self.forward_rule
        );
        for (key, values) in [("netns", &self.netns), ("link", &self.links), ("cgroup", &self.cgroups)] {
            for value in values {
                text.push_str(&format!("{key} {value}\n"));
            }
        }
        text
    }

    fn parse(tag: &str, text: &str) -> Manifest {
        let mut m = Manifest { tag: tag.to_string(), ..Manifest::default() };
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "owner" => {
                    let mut parts = value.splitn(3, ' ');
                    m.owner.pid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    m.owner.start = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    m.owner.pid_ns = parts.next().unwrap_or_default().to_string();
                }
                "command" => m.command = value == "true",
                "dir" => m.dir = PathBuf::from(value),
                "remove_dir" => m.remove_dir = value == "true",
                "bridge" => m.bridge = value.to_string(),
                "forward_rule" => m.forward_rule = value == "true",
                "netns" => m.netns.push(value.to_string()),
                "link" => m.links.push(value.to_string()),
                "cgroup" => m.cgroups.push(value.to_string()),
                _ => {}
            }
        }
        m
    }

    /// Every recorded cluster.
    pub fn all() -> Vec<Manifest> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(REGISTRY).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp") {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                out.push(Manifest::parse(&name, &text));
            }
        }
        out.sort_by(|a, b| a.tag.cmp(&b.tag));
        out
    }

    /// Whether the manifest is still recorded (its cluster not yet removed).
    pub fn recorded(&self) -> bool {
        Manifest::path(&self.tag).exists()
    }

    /// Removes everything the cluster made (what is already gone is skipped), then the manifest.
    pub fn remove_everything(&self) {
        for netns in &self.netns {
            kill_namespace_processes(netns);
        }
        for link in &self.links {
            let _ = run(&["ip", "link", "del", link]);
        }
        for netns in &self.netns {
            let _ = run(&["ip", "netns", "del", netns]);
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(netns));
        }
        for root in &self.cgroups {
            remove_cgroups(root);
        }
        if self.forward_rule {
            let rule = forward_rule(&self.bridge);
            let mut args = vec!["iptables", "-w", "-D", "FORWARD"];
            args.extend(rule.iter().map(String::as_str));
            while run(&args).is_ok() {}
        }
        if !self.bridge.is_empty() {
            let _ = run(&["ip", "link", "del", &self.bridge]);
        }
        if self.remove_dir && !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        let _ = std::fs::remove_file(Manifest::path(&self.tag));
    }
}

/// Removes every cluster whose owner is gone; returns their tags.
pub fn sweep_orphans() -> Vec<String> {
    let mut swept = Vec::new();
    for manifest in Manifest::all() {
        if !manifest.owner.alive() {
            manifest.remove_everything();
            swept.push(manifest.tag);
        }
    }
    swept
}

/// `cargo xtask cluster down`: removes the clusters of `cargo xtask cluster up` (stopping the
/// command first: SIGINT, as Ctrl-C, then up to 30 s for it to remove its cluster itself) and
/// every cluster whose owner is gone; with `dir`, only the one in that directory. Returns what
/// was removed (tag and directory).
pub fn take_down(dir: Option<&Path>) -> Vec<(String, PathBuf)> {
    let wanted = |m: &Manifest| match dir {
        Some(dir) => same_path(&m.dir, dir),
        None => true,
    };
    let mut removed = Vec::new();
    for manifest in Manifest::all().into_iter().filter(wanted) {
        let alive = manifest.owner.alive();
        if alive && !manifest.command {
            // A running test's (or benchmark's) cluster: its owner removes it.
            continue;
        }
        if alive {
            let _ = run(&["kill", "-INT", &manifest.owner.pid.to_string()]);
            let deadline = Instant::now() + Duration::from_secs(30);
            while manifest.owner.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        manifest.remove_everything();
        removed.push((manifest.tag.clone(), manifest.dir.clone()));
    }
    removed
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_as_written() {
        let m = Manifest {
            tag: "mrtest".into(),
            owner: Owner { pid: 42, start: 7, pid_ns: "pid:[4026531836]".into() },
            command: true,
            dir: PathBuf::from("/tmp/a dir"),
            remove_dir: true,
            bridge: "mrtestbr".into(),
            netns: vec!["mrtestm0".into(), "mrtestn0".into()],
            links: vec!["mrtestvm0".into()],
            cgroups: vec!["mrtest-node0".into()],
            forward_rule: false,
        };
        let back = Manifest::parse("mrtest", &m.render());
        assert_eq!(back.owner, m.owner);
        assert_eq!((back.command, back.remove_dir, back.forward_rule), (true, true, false));
        assert_eq!(back.dir, m.dir);
        assert_eq!((back.bridge, back.netns, back.links, back.cgroups), (m.bridge, m.netns, m.links, m.cgroups));
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not_its_owner() {
        let me = Owner::this_process();
        assert!(me.alive());
        assert!(!Owner { start: me.start + 1, ..me.clone() }.alive());
        assert!(!Owner { pid: u32::MAX, ..me.clone() }.alive());
        assert!(Owner { pid_ns: "elsewhere".into(), ..me }.alive());
    }
}
