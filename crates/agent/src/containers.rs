//! The agent's use of the `containerizer` crate: one container per command task. Its launch
//! record (the monitor's pid and start time and the task's process group) goes to the
//! checkpoint log ([`crate::checkpoint::Store::record_launch`]) and the monitor writes how the
//! task ended to `<work_dir>/runtime/containers/<containerId>.status`, for every framework, so
//! that a restarted agent can recover or kill every container.

use crate::checkpoint::{LaunchRecord, Store};
use crate::core::{self, CommandLine, ExitInfo, KillSignal, OomInfo, RecoveredProcess, Termination};
use crate::paths::{Layout, STATUS_SUFFIX};
use containerizer::{Cgroups, Monitored, Signal, TaskCgroups, TaskCommand, TaskExit};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{debug, info, warn};

/// A container the agent holds a handle to.
#[derive(Debug)]
pub struct Container {
    pub container_id: String,
    monitored: Option<Monitored>,
    cgroups: Option<TaskCgroups>,
    mem_limit_bytes: Option<u64>,
    /// Set for a simulated task (hollow agent): notified when the task is killed.
    hollow: Option<tokio::sync::Notify>,
}

impl Container {
    /// The task's top process (also its process group id).
    pub fn task_pid(&self) -> Option<i32> {
        self.monitored.as_ref().map(Monitored::task_pgid)
    }

    /// Waits until the task's process ended (and the monitor killed the rest of it).
    pub async fn wait(&self) -> ExitInfo {
        let termination = match (&self.monitored, &self.hollow) {
            (Some(m), _) => termination(m.wait_exit().await),
            (None, Some(killed)) => {
                killed.notified().await;
                Termination::Signaled(Signal::SIGTERM as i32)
            }
            (None, None) => Termination::Unknown,
        };
        ExitInfo { termination, oom: self.oom() }
    }

    fn oom(&self) -> Option<OomInfo> {
        let cg = self.cgroups.as_ref()?;
        match cg.oom_killed() {
            Ok(true) => {
                let limit = self.mem_limit_bytes.unwrap_or(0);
                Some(OomInfo { limit_bytes: limit, max_usage_bytes: limit })
            }
            Ok(false) => None,
            Err(e) => {
                warn!(container_id = %self.container_id, error = %e, "cannot read the OOM state");
                None
            }
        }
    }

    /// How many forks the container's pids cgroup refused (`None` without one).
    pub fn refused_forks(&self) -> Option<u64> {
        match self.cgroups.as_ref()?.refused_forks() {
            Ok(n) => n,
            Err(e) => {
                debug!(container_id = %self.container_id, error = %e, "cannot read the pids cgroup");
                None
            }
        }
    }

    /// Signals the task. Blocking for [`KillSignal::Kill`] (waits until the cgroups are empty).
    pub fn signal(&self, signal: KillSignal) {
        if let Some(killed) = &self.hollow {
            killed.notify_one();
            return;
        }
        let sig = match signal {
            KillSignal::Term => Signal::SIGTERM,
            KillSignal::Kill => Signal::SIGKILL,
        };
        if let Some(m) = &self.monitored {
            match m.signal_group(sig) {
                Ok(sent) => debug!(container_id = %self.container_id, ?sig, sent, "signalled process group"),
                Err(e) => warn!(container_id = %self.container_id, error = %e, "cannot signal the task"),
            }
        }
        if signal == KillSignal::Kill
            && let Some(cg) = &self.cgroups
            && let Err(e) = cg.kill_all()
        {
            warn!(container_id = %self.container_id, error = %e, "cannot kill the container's cgroups");
        }
    }
}

fn termination(exit: TaskExit) -> Termination {
    match exit {
        TaskExit::Exited(code) => Termination::Exited(code),
        TaskExit::Signaled(sig) => Termination::Signaled(sig),
        TaskExit::Unknown => Termination::Unknown,
    }
}

/// Starts containers (cheap to clone; usable from a blocking thread).
#[derive(Debug, Clone)]
pub struct Launcher {
    layout: Layout,
    store: Store,
    cgroups: Option<Cgroups>,
    hollow: bool,
    /// `filesystem/linux`: each task gets a mount namespace with its sandbox's `tmp` as `/tmp`.
    private_tmp: bool,
    /// The logrotate container logger's rotation (tasks may override it in their environment).
    log_rotation: Option<containerizer::LogRotation>,
}

impl Launcher {
    /// Whether containers get cgroups.
    pub fn has_cgroups(&self) -> bool {
        self.cgroups.is_some()
    }

    fn status_file(&self, container_id: &str) -> PathBuf {
        self.layout.container_status(container_id)
    }

    /// Starts the task (blocking: cgroups and fork/exec). `base_env` is the agent's own
    /// environment; the spec's variables go on top.
    pub fn spawn(&self, spec: &core::LaunchSpec, base_env: &[(String, String)]) -> Result<Arc<Container>, String> {
        self.start(spec, base_env)?.finish(self)
    }

    /// The first half of [`Launcher::spawn`]: cgroups created and the request sent, without
    /// waiting for the monitor (see [`containerizer::launch_start`]), so that one thread can
    /// keep several launches in flight; [`Starting::finish`] completes it.
    pub fn start(&self, spec: &core::LaunchSpec, base_env: &[(String, String)]) -> Result<Starting, String> {
        let cid = spec.container_id.as_str();
        if self.hollow {
            return Ok(Starting { container_id: cid.to_string(), launch: None });
        }
        let dir = self.layout.runtime_containers();
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let status_file = self.status_file(cid);
        let mut mem_limit_bytes = None;
        let cgroups = match (&self.cgroups, spec.limits) {
            (Some(cg), Some(limits)) => {
                let created = cg
                    .create_fresh(cid, containerizer::Limits { cpus: limits.cpus, mem_mb: limits.mem_mb })
                    .map_err(|e| format!("cannot create cgroups: {e}"))?;
                mem_limit_bytes = Some(limits.mem_limit_bytes());
                Some(created)
            }
            _ => None,
        };
        let command = match &spec.command {
            CommandLine::Shell(v) => TaskCommand::Shell(v.clone()),
            CommandLine::Exec { value, arguments } => {
                TaskCommand::Exec { value: value.clone(), arguments: arguments.clone() }
            }
        };
        let private_tmp = if self.private_tmp { Some(private_tmp_dir(spec)?) } else { None };
        let log_rotation = self
            .log_rotation
            .map(|default| crate::isolation::logrotate::for_task(default, &spec.env))
            .transpose()
            .map_err(|e| format!("container logger: {e}"))?;
        let launch = containerizer::LaunchSpec {
            command,
            env: merge_env(base_env, &spec.env),
            working_dir: spec.sandbox.clone(),
            stdout: spec.sandbox.join("stdout"),
            stderr: spec.sandbox.join("stderr"),
            status_file,
            cgroups,
            user: spec.user.clone(),
            private_tmp,
            log_rotation,
        };
        let pending = containerizer::launch_start(&launch).map_err(|e| {
            cleanup(&launch);
            e.to_string()
        })?;
        Ok(Starting {
            container_id: cid.to_string(),
            launch: Some(InFlight { spec: launch, pending, mem_limit_bytes }),
        })
    }
}

/// The task's private `/tmp` (blocking): `tmp` in its sandbox, mode 1777 like a `/tmp`, its
/// user's.
fn private_tmp_dir(spec: &core::LaunchSpec) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = spec.sandbox.join("tmp");
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        // Left by a fetched archive, say: it must be a directory, not a link out of the sandbox.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                return Err(format!("{} is not a directory", dir.display()));
            }
            return Ok(dir);
        }
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777))
        .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
    if let Some(name) = &spec.user {
        let user = containerizer::UserCreds::lookup(name).map_err(|e| e.to_string())?;
        std::os::unix::fs::lchown(&dir, Some(user.uid), Some(user.gid))
            .map_err(|e| format!("cannot give {} to the task's user: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// A container being started (see [`Launcher::start`]).
#[derive(Debug)]
pub struct Starting {
    container_id: String,
    /// `None` for a simulated task (hollow agent).
    launch: Option<InFlight>,
}

#[derive(Debug)]
struct InFlight {
    spec: containerizer::LaunchSpec,
    pending: containerizer::PendingLaunch,
    mem_limit_bytes: Option<u64>,
}

/// Removes what a failed launch left: its cgroups and status file.
fn cleanup(spec: &containerizer::LaunchSpec) {
    if let Some(cg) = &spec.cgroups {
        let _ = cg.destroy();
    }
    let _ = std::fs::remove_file(&spec.status_file);
}

impl Starting {
    /// Waits (blocking) until the task is set up, records its launch (durable with the next
    /// group commit) and returns its handle.
    pub fn finish(self, launcher: &Launcher) -> Result<Arc<Container>, String> {
        let cid = self.container_id;
        let Some(InFlight { mut spec, pending, mem_limit_bytes }) = self.launch else {
            return Ok(Arc::new(Container {
                container_id: cid,
                monitored: None,
                cgroups: None,
                mem_limit_bytes: None,
                hollow: Some(tokio::sync::Notify::new()),
            }));
        };
        let launched = pending.finish(&spec).map_err(|e| {
            cleanup(&spec);
            e.to_string()
        })?;
        let record = LaunchRecord {
            monitor_pid: launched.monitor_pid,
            task_pid: launched.task_pid,
            monitor_start_ticks: launched.monitor_start_ticks,
        };
        // Durable with the next group commit, before the task's TASK_RUNNING is sent.
        if let Err(e) = launcher.store.record_launch(&cid, &record) {
            // The task runs; without the record a restarted agent cannot recover it, but
            // it can still be watched now.
            warn!(container_id = cid, error = %e, "cannot record the launched task");
        }
        let monitored = Monitored::new(&launched, &spec.status_file).map_err(|e| {
            let _ = containerizer::signal_group(launched.task_pid, Signal::SIGKILL);
            e.to_string()
        })?;
        info!(container_id = cid, task_pid = launched.task_pid, monitor_pid = launched.monitor_pid, "task started");
        Ok(Arc::new(Container {
            container_id: cid,
            monitored: Some(monitored),
            cgroups: spec.cgroups.take(),
            mem_limit_bytes,
            hollow: None,
        }))
    }
}

/// All containers of this agent.
pub struct Containers {
    launcher: Launcher,
    live: HashMap<String, Arc<Container>>,
    /// The cgroups root of agents before each had its own (`<cgroups_root>/<container>`),
    /// where recovery looks for a recorded container's cgroups it cannot find in its own.
    legacy_cgroups: Option<Cgroups>,
}

impl Containers {
    pub fn new(
        layout: Layout,
        store: Store,
        cgroups: Option<Cgroups>,
        hollow: bool,
        private_tmp: bool,
        log_rotation: Option<containerizer::LogRotation>,
    ) -> Self {
        Self {
            launcher: Launcher { layout, store, cgroups, hollow, private_tmp, log_rotation },
            live: HashMap::new(),
            legacy_cgroups: None,
        }
    }

    /// Where recovery also looks for the cgroups of containers this agent recorded: the
    /// `--cgroups_root` itself, where an agent of an earlier release kept them.
    pub fn with_legacy_cgroups(mut self, legacy: Option<Cgroups>) -> Self {
        self.legacy_cgroups = legacy;
        self
    }

    /// The cgroups of a container this agent recorded: in its own cgroup, else where an
    /// earlier release put them (adopted: killed and removed like its own).
    fn recorded_cgroups(&self, cid: &str) -> Option<TaskCgroups> {
        self.launcher.cgroups.as_ref().and_then(|cg| cg.open(cid)).or_else(|| {
            let legacy = self.legacy_cgroups.as_ref()?.open(cid)?;
            info!(
                container_id = cid,
                "adopted the container's cgroups of the earlier layout (<cgroups_root>/<container>)"
            );
            Some(legacy)
        })
    }

    /// Whether tasks are simulated (see `AgentFlags::hollow`).
    pub fn hollow(&self) -> bool {
        self.launcher.hollow
    }

    pub fn launcher(&self) -> Launcher {
        self.launcher.clone()
    }

    /// Tracks a container started by [`Launcher::spawn`].
    pub fn insert(&mut self, container: Arc<Container>) {
        self.live.insert(container.container_id.clone(), container);
    }

    pub fn get(&self, container_id: &str) -> Option<Arc<Container>> {
        self.live.get(container_id).cloned()
    }

    /// Forgets the container and returns what must be torn down (see [`teardown`]).
    pub fn take_for_destroy(&mut self, container_id: &str) -> Teardown {
        let container = self.live.remove(container_id);
        let cgroups = container
            .as_ref()
            .and_then(|c| c.cgroups.clone())
            .or_else(|| self.launcher.cgroups.as_ref().and_then(|cg| cg.open(container_id)));
        Teardown {
            container_id: container_id.to_string(),
            container,
            cgroups,
            status_file: self.launcher.status_file(container_id),
            store: (!self.launcher.hollow).then(|| self.launcher.store.clone()),
        }
    }

    /// Finds every container a previous run of the agent left (blocking): those with a launch
    /// record in the checkpoint (`records`), a status file or a cgroup. Live ones are kept as
    /// handles. A container without a launch record is [`RecoveredProcess::NotStarted`]
    /// unless its status file says how its task ended.
    pub fn recover(&mut self, records: &BTreeMap<String, LaunchRecord>) -> BTreeMap<String, RecoveredProcess> {
        let mut found = BTreeMap::new();
        for (cid, record) in records {
            let cgroups = self.recorded_cgroups(cid);
            let monitored = match Monitored::recover(
                record.monitor_pid,
                record.monitor_start_ticks,
                self.launcher.status_file(cid),
                record.task_pid,
            ) {
                Ok(m) => m,
                Err(e) => {
                    warn!(container_id = %cid, error = %e, "cannot recover the task's monitor");
                    found.insert(cid.clone(), RecoveredProcess::Unknown);
                    continue;
                }
            };
            let container = Container {
                container_id: cid.clone(),
                monitored: Some(monitored),
                cgroups,
                mem_limit_bytes: None,
                hollow: None,
            };
            let state = match container.monitored.as_ref().and_then(Monitored::try_exit) {
                None => RecoveredProcess::Running { pid: Some(record.task_pid) },
                Some(TaskExit::Unknown) => RecoveredProcess::Unknown,
                Some(exit) => {
                    RecoveredProcess::Exited(ExitInfo { termination: termination(exit), oom: container.oom() })
                }
            };
            info!(container_id = %cid, ?state, "found container of a previous run");
            found.insert(cid.clone(), state);
            self.live.insert(cid.clone(), Arc::new(container));
        }
        // A launch whose record never made it (the agent died before the monitor's report):
        // nothing to watch, only to remove. A status file says the task ran and how it ended.
        if let Ok(entries) = std::fs::read_dir(self.launcher.layout.runtime_containers()) {
            for e in entries.flatten() {
                let name = e.file_name();
                if let Some(cid) = name.to_str().and_then(|n| n.strip_suffix(STATUS_SUFFIX))
                    && mesos_api::validate_id(cid).is_ok()
                    && !found.contains_key(cid)
                {
                    let state = match containerizer::read_status_file(&e.path()) {
                        TaskExit::Unknown => RecoveredProcess::NotStarted,
                        exit => {
                            let cgroups = self.recorded_cgroups(cid);
                            let oom = cgroups.and_then(|cg| cg.oom_killed().ok()).unwrap_or(false);
                            let oom = oom.then_some(OomInfo { limit_bytes: 0, max_usage_bytes: 0 });
                            RecoveredProcess::Exited(ExitInfo { termination: termination(exit), oom })
                        }
                    };
                    info!(container_id = %cid, ?state, "found an unrecorded container of a previous run");
                    found.insert(cid.to_string(), state);
                }
            }
        }
        if let Some(cg) = &self.launcher.cgroups {
            match cg.list_containers() {
                Ok(ids) => {
                    for cid in ids {
                        found.entry(cid).or_insert(RecoveredProcess::NotStarted);
                    }
                }
                Err(e) => warn!(error = %e, "cannot list the containers' cgroups"),
            }
        }
        found
    }

    /// Removes every record (after a reboot they describe nothing alive).
    pub fn discard_records(&self) {
        let dir = self.launcher.layout.runtime_containers();
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %dir.display(), error = %e, "cannot remove old container records");
        }
    }
}

/// Everything left of a container to kill and remove.
pub struct Teardown {
    container_id: String,
    container: Option<Arc<Container>>,
    cgroups: Option<TaskCgroups>,
    status_file: PathBuf,
    /// Where to record that the container is gone (`None` for a hollow agent).
    store: Option<Store>,
}

impl Teardown {
    /// Kills whatever is left and removes cgroups and records (blocking).
    pub fn run(self) {
        if let Some(c) = &self.container
            && let Some(m) = &c.monitored
        {
            let _ = m.signal_group(Signal::SIGKILL);
        }
        if let Some(cg) = &self.cgroups
            && let Err(e) = cg.destroy()
        {
            warn!(container_id = cg.container_id(), error = %e, "cannot destroy the container's cgroups");
            // Its record stays: a restarted agent tries again.
            return;
        }
        remove_file(&self.status_file);
        if let Some(store) = &self.store
            && let Err(e) = store.record_destroyed(&self.container_id)
        {
            warn!(container_id = %self.container_id, error = %e, "cannot record the container's removal");
        }
    }
}

fn remove_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        warn!(path = %path.display(), error = %e, "cannot remove the container's status file");
    }
}

/// The agent's environment with `overrides` applied in order (later wins).
pub fn merge_env(base: &[(String, String)], overrides: &[(String, String)]) -> Vec<(String, String)> {
    // Indexes borrow the names; each kept variable is copied once.
    let mut kept: Vec<(&str, &str)> = Vec::with_capacity(base.len() + overrides.len());
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(base.len() + overrides.len());
    for (k, v) in base.iter().chain(overrides) {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            continue;
        }
        match index.get(k.as_str()) {
            Some(&i) => kept[i].1 = v,
            None => {
                index.insert(k, kept.len());
                kept.push((k, v));
            }
        }
    }
    kept.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_keep_order_and_skip_bad_names() {
        let base = vec![("PATH".to_string(), "/bin".to_string()), ("HOME".to_string(), "/root".to_string())];
        let over = vec![
            ("HOME".to_string(), "/sandbox".to_string()),
            ("A=B".to_string(), "x".to_string()),
            ("NEW".to_string(), "1".to_string()),
            ("NEW".to_string(), "2".to_string()),
        ];
        assert_eq!(
            merge_env(&base, &over),
            vec![
                ("PATH".to_string(), "/bin".to_string()),
                ("HOME".to_string(), "/sandbox".to_string()),
                ("NEW".to_string(), "2".to_string())
            ]
        );
    }
}
