//! Shared fixture: a temp dir, an optional unique cgroup root, and a drop guard that
//! kills and removes everything a test started, even when it fails.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use containerizer::{Cgroups, LaunchSpec, Launched, Limits, Monitored, Signal, TaskCgroups, TaskCommand, TaskExit};

pub const HIERARCHY: &str = "/sys/fs/cgroup";
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub cgroups: Option<Cgroups>,
    pub root: String,
    monitors: Vec<Monitored>,
}

impl Fixture {
    /// A fixture without cgroups.
    pub fn new() -> Self {
        Fixture { dir: tempfile::tempdir().expect("tempdir"), cgroups: None, root: String::new(), monitors: Vec::new() }
    }

    /// A fixture with a unique cgroup root, or `None` (with a printed notice) when not
    /// root or cgroups v1 is unavailable.
    pub fn with_cgroups(test: &str) -> Option<Self> {
        if !nix::unistd::geteuid().is_root() {
            println!("SKIP {test}: not root, cgroup tests skipped");
            return None;
        }
        let root = format!("containerizer-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let Some(cgroups) = Cgroups::detect(Path::new(HIERARCHY), &root) else {
            println!("SKIP {test}: cgroups v1 not available at {HIERARCHY}");
            return None;
        };
        let mut f = Fixture::new();
        f.cgroups = Some(cgroups);
        f.root = root;
        Some(f)
    }

    pub fn cgroups(&self) -> &Cgroups {
        self.cgroups.as_ref().expect("fixture has cgroups")
    }

    pub fn create_cgroup(&self, id: &str, cpus: f64, mem_mb: f64) -> TaskCgroups {
        self.cgroups().create(id, Limits { cpus, mem_mb }).expect("create cgroups")
    }

    /// A spec running in `<tmp>/<name>/` with a minimal PATH.
    pub fn spec(&self, name: &str, command: TaskCommand) -> LaunchSpec {
        let sandbox = self.sandbox(name);
        std::fs::create_dir_all(&sandbox).expect("create sandbox");
        LaunchSpec {
            command,
            env: vec![("PATH".into(), PATH.into())],
            stdout: sandbox.join("stdout"),
            stderr: sandbox.join("stderr"),
            status_file: sandbox.join("status"),
            working_dir: sandbox,
            cgroups: None,
            user: None,
            private_tmp: None,
            log_rotation: None,
        }
    }

    pub fn sandbox(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Launches and registers the task for cleanup.
    pub fn launch(&mut self, spec: &LaunchSpec) -> (Launched, usize) {
        let launched = containerizer::launch(spec).expect("launch");
        let monitored = Monitored::new(&launched, &spec.status_file).expect("monitor");
        self.monitors.push(monitored);
        (launched, self.monitors.len() - 1)
    }

    pub fn monitored(&self, idx: usize) -> &Monitored {
        &self.monitors[idx]
    }

    /// Registers a recovered monitor for cleanup.
    pub fn adopt(&mut self, m: Monitored) -> usize {
        self.monitors.push(m);
        self.monitors.len() - 1
    }

    pub async fn wait(&self, idx: usize) -> TaskExit {
        tokio::time::timeout(Duration::from_secs(30), self.monitors[idx].wait_exit())
            .await
            .expect("task did not end within 30s")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for m in &self.monitors {
            let _ = m.signal_group(Signal::SIGKILL);
        }
        if let Some(cg) = &self.cgroups {
            for id in cg.list_containers().unwrap_or_default() {
                if let Some(t) = cg.open(&id)
                    && let Err(e) = t.destroy()
                {
                    eprintln!("fixture cleanup: destroy {id}: {e}");
                }
            }
            for sub in cg.subsystems() {
                let _ = std::fs::remove_dir(Path::new(HIERARCHY).join(sub).join(&self.root));
            }
        }
        // Reap the monitors (they exit once their task is dead).
        let deadline = Instant::now() + Duration::from_secs(5);
        for m in &self.monitors {
            while m.try_exit().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Polls `cond` every few ms until it holds or `timeout` passes.
pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie counts as dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The parent pid of `pid`.
pub fn ppid(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .expect("stat")
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()))
        .expect("ppid")
}

/// Pids of all live processes in process group `pgid` (scans /proc).
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // fields[0] = state (field 3), fields[2] = pgrp (field 5)
        if fields.get(2).and_then(|p| p.parse::<i32>().ok()) == Some(pgid) && fields.first().is_some_and(|s| *s != "Z")
        {
            pids.push(pid);
        }
    }
    pids
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn shell(cmd: &str) -> TaskCommand {
    TaskCommand::Shell(cmd.to_string())
}
