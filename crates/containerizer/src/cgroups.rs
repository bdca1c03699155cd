//! cgroups v1: one cgroup per container in each of the cpu, memory, freezer (and, with
//! `cgroups/pids`, pids) hierarchies, at `<hierarchy>/<subsystem>/<root>/<container_id>` (Mesos
//! layout). The values written come from [`crate::isolators`].

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::isolators::{self, Isolation};

/// Subsystems without which [`Cgroups::detect`] gives up.
const REQUIRED: [&str; 2] = ["cpu", "memory"];
/// Subsystems used when mounted: freezer (race-free kill), cpuacct (the CPU time of
/// [`TaskCgroups::statistics`], when not co-mounted with cpu). pids only with
/// [`Isolation::pids`] (it costs a cgroup per container).
const OPTIONAL: [&str; 2] = ["freezer", "cpuacct"];

/// How long [`TaskCgroups::kill_all`] keeps killing before giving up.
const KILL_DEADLINE: Duration = Duration::from_secs(10);
/// How long a freeze may take before killing proceeds without it.
const FREEZE_DEADLINE: Duration = Duration::from_millis(500);
/// How long [`TaskCgroups::destroy`] retries `rmdir` on EBUSY.
const RMDIR_DEADLINE: Duration = Duration::from_secs(2);

/// Resource limits of one container (Mesos `cpus` and `mem` scalars).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// `cpu.shares = max(round(1024 × cpus), 2)`; with CFS, also
    /// `cpu.cfs_quota_us = cpus × cpu.cfs_period_us`.
    pub cpus: f64,
    /// `memory.limit_in_bytes = memory.soft_limit_in_bytes = max(mem_mb MiB, 32 MiB)`;
    /// `f64::INFINITY` means unlimited.
    pub mem_mb: f64,
}

#[derive(Clone, Debug)]
struct Subsystem {
    /// Controllers in this hierarchy (more than one when co-mounted).
    names: Vec<&'static str>,
    /// `<hierarchy>/<name>/<root>`.
    root_dir: PathBuf,
}

/// The cgroups v1 hierarchies of this host, under one root (e.g. `mesos`).
#[derive(Clone, Debug)]
pub struct Cgroups {
    subsystems: Vec<Subsystem>,
    isolation: Isolation,
}

fn valid_name(what: &'static str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
        || name.contains('\n');
    if bad {
        return Err(Error::invalid(what, format!("{name:?}")));
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

fn parse_pids(text: &str) -> impl Iterator<Item = i32> + '_ {
    text.lines().filter_map(|l| l.trim().parse::<i32>().ok())
}

impl Cgroups {
    /// Finds the v1 hierarchies under `hierarchy` (normally `/sys/fs/cgroup`) and
    /// creates `<root>` (normally `mesos`; may be nested like `a/b`) in each of them.
    ///
    /// `None` when cpu or memory is missing, is not cgroups v1, or is not writable
    /// (the caller should log one warning and run tasks without cgroups). freezer is
    /// used when available.
    pub fn detect(hierarchy: &Path, root: &str) -> Option<Cgroups> {
        Self::detect_with(hierarchy, root, Isolation::default())
    }

    /// [`Cgroups::detect`] with the optional isolators' settings: with `isolation.pids`, the
    /// pids hierarchy is used when mounted (see [`Cgroups::subsystems`]).
    pub fn detect_with(hierarchy: &Path, root: &str, isolation: Isolation) -> Option<Cgroups> {
        let root_ok =
            !root.is_empty() && Path::new(root).components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !root_ok {
            return None;
        }
        let mut subsystems: Vec<Subsystem> = Vec::new();
        let mut seen: Vec<(PathBuf, usize)> = Vec::new();
        let pids = isolation.pids.then_some("pids");
        let optional = OPTIONAL.iter().copied().chain(pids);
        for (name, required) in REQUIRED.iter().map(|n| (*n, true)).chain(optional.map(|n| (n, false))) {
            let mount = hierarchy.join(name);
            // v1 hierarchies have a `tasks` file, v2 does not.
            let usable = mount.join("tasks").is_file()
                && mount.join("cgroup.procs").is_file()
                && std::fs::create_dir_all(mount.join(root)).is_ok();
            if !usable {
                if required {
                    return None;
                }
                continue;
            }
            // Co-mounted controllers (e.g. cpu -> cpu,cpuacct) share one directory.
            let canonical = mount.canonicalize().unwrap_or_else(|_| mount.clone());
            if let Some((_, i)) = seen.iter().find(|(p, _)| *p == canonical) {
                if let Some(s) = subsystems.get_mut(*i) {
                    s.names.push(name);
                }
                continue;
            }
            seen.push((canonical, subsystems.len()));
            subsystems.push(Subsystem { names: vec![name], root_dir: mount.join(root) });
        }
        Some(Cgroups { subsystems, isolation })
    }

    /// Creates the container's cgroups and sets its limits. Fails if they exist
    /// already (destroy leftovers first; see [`Cgroups::list_containers`], or use
    /// [`Cgroups::create_fresh`]).
    pub fn create(&self, container_id: &str, limits: Limits) -> Result<TaskCgroups> {
        valid_name("container id", container_id)?;
        if !limits.cpus.is_finite() || limits.cpus < 0.0 {
            return Err(Error::invalid("cpus", limits.cpus.to_string()));
        }
        if limits.mem_mb.is_nan() || limits.mem_mb < 0.0 {
            return Err(Error::invalid("mem", limits.mem_mb.to_string()));
        }
        let task = self.task(container_id);
        let mut created = Vec::new();
        for dir in &task.dirs {
            if let Err(e) = std::fs::create_dir(&dir.path) {
                task.remove_dirs(&created);
                return Err(Error::io("create cgroup", &dir.path, e));
            }
            created.push(dir.path.clone());
        }
        let result = (|| -> Result<()> {
            if let Some(cpu) = task.dir("cpu") {
                write(&cpu.join("cpu.shares"), &isolators::cpu::shares(limits.cpus).to_string())?;
                if self.isolation.cfs {
                    write(&cpu.join("cpu.cfs_period_us"), &isolators::cpu::CFS_PERIOD_US.to_string())?;
                    write(&cpu.join("cpu.cfs_quota_us"), &isolators::cpu::cfs_quota_us(limits.cpus).to_string())?;
                }
            }
            if let Some(mem) = task.dir("memory") {
                let value =
                    isolators::mem::limit_bytes(limits.mem_mb).map_or_else(|| "-1".to_string(), |b| b.to_string());
                write(&mem.join("memory.limit_in_bytes"), &value)?;
                write(&mem.join("memory.soft_limit_in_bytes"), &value)?;
            }
            if let Some(pids) = task.dir("pids") {
                write(&pids.join("pids.max"), &isolators::pids::max_value(self.isolation.pids_max))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            task.remove_dirs(&created);
            return Err(e);
        }
        Ok(task)
    }

    /// [`Cgroups::create`], destroying leftover cgroups of the same name first if there
    /// are any (found by the failing `mkdir`, so a fresh name costs no extra lookup).
    pub fn create_fresh(&self, container_id: &str, limits: Limits) -> Result<TaskCgroups> {
        match self.create(container_id, limits) {
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::AlreadyExists => {
                if let Some(stale) = self.open(container_id) {
                    stale.destroy()?;
                }
                self.create(container_id, limits)
            }
            other => other,
        }
    }

    /// The cgroups of an existing container (agent recovery), or `None` if it has
    /// none in any hierarchy.
    pub fn open(&self, container_id: &str) -> Option<TaskCgroups> {
        valid_name("container id", container_id).ok()?;
        let task = self.task(container_id);
        task.dirs.iter().any(|d| d.path.is_dir()).then_some(task)
    }

    /// Ids of all containers that have a cgroup under the root in any hierarchy, sorted.
    /// After a restart the agent destroys those it does not know.
    pub fn list_containers(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for s in &self.subsystems {
            let entries = match std::fs::read_dir(&s.root_dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("list", &s.root_dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("list", &s.root_dir, e))?;
                if entry.file_type().is_ok_and(|t| t.is_dir())
                    && let Some(name) = entry.file_name().to_str()
                {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The optional isolators' settings.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// Names of the subsystems in use (e.g. `["cpu", "memory", "freezer"]`).
    pub fn subsystems(&self) -> Vec<&'static str> {
        self.subsystems.iter().flat_map(|s| s.names.iter().copied()).collect()
    }

    fn task(&self, container_id: &str) -> TaskCgroups {
        TaskCgroups {
            container_id: container_id.to_string(),
            dirs: self
                .subsystems
                .iter()
                .map(|s| CgroupDir { subsystems: s.names.clone(), path: s.root_dir.join(container_id) })
                .collect(),
        }
    }
}

#[derive(Clone, Debug)]
struct CgroupDir {
    subsystems: Vec<&'static str>,
    path: PathBuf,
}

/// The cgroups of one container. Cheap to clone (paths only).
#[derive(Clone, Debug)]
pub struct TaskCgroups {
    container_id: String,
    dirs: Vec<CgroupDir>,
}

impl TaskCgroups {
    /// The container id these cgroups are named after.
    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    fn dir(&self, subsystem: &str) -> Option<&Path> {
        self.dirs.iter().find(|d| d.subsystems.contains(&subsystem)).map(|d| d.path.as_path())
    }

    /// `cgroup.procs` of every hierarchy (what the task joins).
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.path.join("cgroup.procs")).collect()
    }

    /// Pids of all processes in the container's cgroups (union, sorted).
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        for d in &self.dirs {
            let path = d.path.join("cgroup.procs");
            match std::fs::read_to_string(&path) {
                Ok(text) => pids.extend(parse_pids(&text)),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("read", path, e)),
            }
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// SIGKILLs every process in the container's cgroups, repeatedly, until none is
    /// left. With the freezer, the cgroup is frozen first so that nothing can fork
    /// while being killed, then thawed so that the signals are delivered.
    pub fn kill_all(&self) -> Result<()> {
        let start = Instant::now();
        let freezer = self.dir("freezer").filter(|p| p.is_dir());
        let mut frozen = match freezer {
            Some(f) => freeze(f),
            None => false,
        };
        let mut pause = Duration::from_micros(100);
        let result = loop {
            let pids = match self.pids() {
                Ok(p) => p,
                Err(e) => break Err(e),
            };
            if pids.is_empty() {
                break Ok(());
            }
            for pid in pids {
                match kill(Pid::from_raw(pid), Signal::SIGKILL) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => {
                        tracing::warn!(pid, error = %e, "containerizer: kill failed");
                    }
                }
            }
            if frozen && let Some(f) = freezer {
                // Frozen tasks only act on SIGKILL once thawed.
                frozen = !thaw(f);
            }
            if start.elapsed() > KILL_DEADLINE {
                break Err(Error::Busy {
                    op: "kill cgroup",
                    path: self.dirs.first().map(|d| d.path.clone()).unwrap_or_default(),
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        };
        if frozen && let Some(f) = freezer {
            thaw(f);
        }
        result
    }

    /// Kills everything (see [`TaskCgroups::kill_all`]) and removes the cgroup
    /// directories. Idempotent: missing directories are fine.
    pub fn destroy(&self) -> Result<()> {
        if self.dirs.iter().any(|d| d.path.is_dir()) {
            self.kill_all()?;
        }
        for d in &self.dirs {
            rmdir_retry(&d.path)?;
        }
        Ok(())
    }

    /// Whether the kernel OOM-killed a process of this container.
    ///
    /// Uses the `oom_kill N` counter of `memory.oom_control` (Linux 4.13+), which counts
    /// actual OOM kills in the cgroup. `memory.failcnt` is not used as the primary
    /// signal because it counts every time usage hit the limit, which also happens
    /// when reclaim (page cache) succeeds and nothing is killed. On kernels without
    /// the counter, falls back to `under_oom 1` or a non-zero `memory.failcnt` with
    /// usage at the limit.
    pub fn oom_killed(&self) -> Result<bool> {
        let Some(mem) = self.dir("memory") else {
            return Ok(false);
        };
        let text = read(&mem.join("memory.oom_control"))?;
        let field = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == name).then(|| v.trim().parse::<u64>().ok()).flatten()
            })
        };
        if let Some(kills) = field("oom_kill") {
            return Ok(kills > 0);
        }
        if field("under_oom") == Some(1) {
            return Ok(true);
        }
        let num = |file: &str| -> Result<u64> {
            let path = mem.join(file);
            read(&path)?.trim().parse().map_err(|_| Error::io("parse", path, io::Error::other("not a number")))
        };
        Ok(num("memory.failcnt")? > 0 && num("memory.max_usage_in_bytes")? >= num("memory.limit_in_bytes")?)
    }

    /// How many forks the container's `pids.max` refused (`None` without a pids cgroup).
    pub fn refused_forks(&self) -> Result<Option<u64>> {
        let Some(pids) = self.dir("pids") else {
            return Ok(None);
        };
        Ok(isolators::pids::refused_forks(&read(&pids.join("pids.events"))?))
    }

    /// Current memory usage in bytes (`memory.usage_in_bytes`, page cache included).
    pub fn memory_usage(&self) -> Result<u64> {
        let mem = self.dir("memory").ok_or_else(|| Error::invalid("cgroups", "no memory hierarchy"))?;
        let path = mem.join("memory.usage_in_bytes");
        read(&path)?.trim().parse().map_err(|_| Error::io("parse", path, io::Error::other("not a number")))
    }

    /// The container's resource usage as its cgroups count it (what upstream's cgroups
    /// isolators report as `ResourceStatistics`); a number whose file cannot be read is
    /// `None`.
    pub fn statistics(&self) -> CgroupStatistics {
        let mut st = CgroupStatistics::default();
        if let Some(dir) = self.dirs.first() {
            let count =
                |file: &str| std::fs::read_to_string(dir.path.join(file)).ok().map(|t| t.lines().count() as u64);
            st.processes = count("cgroup.procs");
            st.threads = count("tasks");
        }
        let file =
            |subsystem: &str, name: &str| self.dir(subsystem).and_then(|d| std::fs::read_to_string(d.join(name)).ok());
        let number = |subsystem: &str, name: &str| file(subsystem, name).and_then(|t| t.trim().parse::<u64>().ok());
        if let Some(stat) = file("cpuacct", "cpuacct.stat") {
            let stat = keyed(&stat);
            st.cpus_user_time_secs = stat.get("user").map(|t| *t as f64 / USER_HZ);
            st.cpus_system_time_secs = stat.get("system").map(|t| *t as f64 / USER_HZ);
        }
        if let Some(stat) = file("cpu", "cpu.stat") {
            let stat = keyed(&stat);
            st.cpus_nr_periods = stat.get("nr_periods").copied();
            st.cpus_nr_throttled = stat.get("nr_throttled").copied();
            st.cpus_throttled_time_secs = stat.get("throttled_time").map(|ns| *ns as f64 / 1e9);
        }
        st.mem_total_bytes = number("memory", "memory.usage_in_bytes");
        st.mem_limit_bytes = number("memory", "memory.limit_in_bytes");
        st.mem_soft_limit_bytes = number("memory", "memory.soft_limit_in_bytes");
        if let Some(stat) = file("memory", "memory.stat") {
            let stat = keyed(&stat);
            st.mem_rss_bytes = stat.get("total_rss").copied();
            st.mem_cache_bytes = stat.get("total_cache").copied();
            st.mem_mapped_file_bytes = stat.get("total_mapped_file").copied();
            st.mem_swap_bytes = stat.get("total_swap").copied();
            st.mem_unevictable_bytes = stat.get("total_unevictable").copied();
        }
        st
    }

    fn remove_dirs(&self, dirs: &[PathBuf]) {
        for d in dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The clock ticks of `cpuacct.stat` per second: Linux' `USER_HZ`, fixed at 100 for user space
/// whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

/// A container's usage from its cgroups (see [`TaskCgroups::statistics`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CgroupStatistics {
    pub processes: Option<u64>,
    pub threads: Option<u64>,
    pub cpus_user_time_secs: Option<f64>,
    pub cpus_system_time_secs: Option<f64>,
    pub cpus_nr_periods: Option<u64>,
    pub cpus_nr_throttled: Option<u64>,
    pub cpus_throttled_time_secs: Option<f64>,
    pub mem_total_bytes: Option<u64>,
    pub mem_limit_bytes: Option<u64>,
    pub mem_soft_limit_bytes: Option<u64>,
    pub mem_rss_bytes: Option<u64>,
    pub mem_cache_bytes: Option<u64>,
    pub mem_mapped_file_bytes: Option<u64>,
    pub mem_swap_bytes: Option<u64>,
    pub mem_unevictable_bytes: Option<u64>,
}

/// A cgroup file of `key value` lines (`cpuacct.stat`, `cpu.stat`, `memory.stat`).
fn keyed(text: &str) -> std::collections::HashMap<&str, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k, v.trim().parse().ok()?))
        })
        .collect()
}

/// Freezes and waits (briefly) for FROZEN. Returns whether the cgroup is frozen.
fn freeze(dir: &Path) -> bool {
    let state = dir.join("freezer.state");
    if write(&state, "FROZEN").is_err() {
        return false;
    }
    let start = Instant::now();
    loop {
        match read(&state) {
            Ok(s) if s.trim() == "FROZEN" => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        if start.elapsed() > FREEZE_DEADLINE {
            // Some task is stuck (e.g. uninterruptible sleep): kill without freezing.
            thaw(dir);
            return false;
        }
        // Writing FROZEN again re-attempts freezing tasks that were busy.
        let _ = write(&state, "FROZEN");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn thaw(dir: &Path) -> bool {
    write(&dir.join("freezer.state"), "THAWED").is_ok()
}

fn rmdir_retry(path: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < RMDIR_DEADLINE => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(Error::io("remove cgroup", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_parse() {
        let m = keyed("user 250\nsystem 12\nbogus\nnr_periods x\n");
        assert_eq!((m.get("user"), m.get("system"), m.len()), (Some(&250), Some(&12), 2));
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", ".", "..", "a/b", "a\nb"] {
            assert!(valid_name("id", bad).is_err(), "{bad:?}");
        }
        assert!(valid_name("id", "task-1.abc_2").is_ok());
    }

    #[test]
    fn detect_rejects_bad_roots_and_missing_hierarchies() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(Cgroups::detect(tmp.path(), "mesos").is_none());
        assert!(Cgroups::detect(Path::new("/sys/fs/cgroup"), "../x").is_none());
        assert!(Cgroups::detect(Path::new("/sys/fs/cgroup"), "").is_none());
    }
}
