//! The agent's checkpoint under `<work_dir>/meta` (shell side of [`crate::core::Checkpoint`]).
//!
//! The agent's identity keeps Mesos' layout: `meta/boot_id`, `meta/slaves/latest -> <agentId>`
//! and `meta/slaves/<agentId>/slave.info`, whole files written atomically (temp file, fsync,
//! rename, fsync of the directory).
//!
//! Everything per task lives in one append-only log, `meta/checkpoint.log`, of JSON lines:
//! frameworks, task groups' executors and tasks of checkpointing frameworks, each task's update
//! records (update, acknowledgement, kill request), the removal of finished runs (a task
//! group's executor goes with its last task), and for every container (any
//! framework) its launch record (monitor pid and start time, task process group) and its
//! removal. So a launch costs no file of its own, and a burst of checkpoints is one `write` and
//! one `fdatasync` (group commit) instead of files and fsyncs per task.
//!
//! Reading replays the lines in order; a torn last line (crash while appending) ends the
//! replay. The log is rewritten with only what is live when the agent starts (which also drops
//! a torn tail) and whenever it has grown to twice its live size plus [`COMPACT_SLACK`]:
//! atomically (temp file, fsync, rename, fsync of the directory).

use crate::core::{Checkpoint, ContainerizerKind, ExecutorRun, RunPath, UpdateRecord};
use crate::paths::Layout;
use mesos_api::messages::{ExecutorInfo, FrameworkInfo, TaskInfo};
use mesos_api::{AgentId, ExecutorId, FrameworkId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::{debug, info, warn};

#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct CheckpointError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CheckpointError + 'a {
    move |source| CheckpointError { op, path: path.to_path_buf(), source }
}

/// The log is compacted once it is larger than twice its live content plus this.
pub const COMPACT_SLACK: u64 = 8 << 20;

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err("create", dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp).map_err(err("create", &tmp))?;
        f.write_all(bytes).map_err(err("write", &tmp))?;
        f.sync_all().map_err(err("fsync", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(err("rename", path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(err("fsync", dir))
}

/// Points the symlink `link` at `target`, replacing it atomically and durably.
pub fn replace_symlink(target: &Path, link: &Path) -> Result<(), CheckpointError> {
    replace_symlink_volatile(target, link)?;
    sync_dir(link.parent().unwrap_or(Path::new(".")))
}

/// [`replace_symlink`] without making it durable (for links nothing is recovered from).
pub fn replace_symlink_volatile(target: &Path, link: &Path) -> Result<(), CheckpointError> {
    let dir = link.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err("create", dir))?;
    let name = link.file_name().and_then(|n| n.to_str()).unwrap_or("link");
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(err("symlink", &tmp))?;
    fs::rename(&tmp, link).map_err(err("rename", link))
}

/// What a container's launch left to find it again: its monitor (pid and start time, which
/// tell a live monitor from a reused pid) and the task's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub monitor_pid: i32,
    pub task_pid: i32,
    pub monitor_start_ticks: u64,
}

/// One line of the log, as written (borrowing what it records).
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Entry<'a> {
    Framework {
        agent_id: &'a AgentId,
        info: &'a FrameworkInfo,
    },
    Executor {
        run: &'a ExecutorRun,
        info: &'a ExecutorInfo,
    },
    Task {
        run: &'a RunPath,
        info: &'a TaskInfo,
        /// Absent (Mesos) in logs written before the Docker containerizer.
        #[serde(skip_serializing_if = "ContainerizerKind::is_mesos")]
        containerizer: &'a ContainerizerKind,
        /// A task of the task group of `run.executor_id` (absent: a command task).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        group: bool,
    },
    Record {
        run: &'a RunPath,
        record: &'a UpdateRecord,
    },
    /// Every run of the task's executor is finished and acknowledged.
    RemoveRun {
        run: &'a RunPath,
    },
    /// Everything recorded for this agent id is void.
    ForgetAgent {
        agent_id: &'a AgentId,
    },
    Launched {
        container_id: &'a str,
        process: &'a LaunchRecord,
    },
    Destroyed {
        container_id: &'a str,
    },
}

/// One line of the log, as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OwnedEntry {
    Framework {
        agent_id: AgentId,
        info: Box<FrameworkInfo>,
    },
    Executor {
        run: ExecutorRun,
        info: Box<ExecutorInfo>,
    },
    Task {
        run: RunPath,
        info: Box<TaskInfo>,
        #[serde(default)]
        containerizer: ContainerizerKind,
        #[serde(default)]
        group: bool,
    },
    Record {
        run: RunPath,
        record: UpdateRecord,
    },
    RemoveRun {
        run: RunPath,
    },
    ForgetAgent {
        agent_id: AgentId,
    },
    Launched {
        container_id: String,
        process: LaunchRecord,
    },
    Destroyed {
        container_id: String,
    },
}

fn push_line(out: &mut Vec<u8>, entry: &Entry<'_>) {
    out.extend_from_slice(&mesos_api::json::to_ascii_vec(entry));
    out.push(b'\n');
}

/// A run's place in the replayed state: agent, framework, executor, container, task.
type RunKey = (String, String, String, String, String);

fn run_key(run: &RunPath) -> RunKey {
    (
        run.agent_id.value.clone(),
        run.framework_id.value.clone(),
        run.executor_id.value.clone(),
        run.container_id.clone(),
        run.task_id.value.clone(),
    )
}

#[derive(Debug)]
struct LiveTask {
    run: RunPath,
    info: TaskInfo,
    containerizer: ContainerizerKind,
    group: bool,
    records: Vec<UpdateRecord>,
}

/// A task group's executor in the replayed state: agent, framework, executor.
type ExecutorKey = (AgentId, FrameworkId, ExecutorId);

/// The log's content once replayed: what is live.
#[derive(Debug, Default)]
struct Replay {
    frameworks: BTreeMap<(AgentId, FrameworkId), FrameworkInfo>,
    executors: BTreeMap<ExecutorKey, (ExecutorRun, ExecutorInfo)>,
    tasks: BTreeMap<RunKey, LiveTask>,
    containers: BTreeMap<String, LaunchRecord>,
}

impl Replay {
    fn apply(&mut self, entry: OwnedEntry) {
        match entry {
            OwnedEntry::Framework { agent_id, info } => {
                let id = info.id.clone().unwrap_or_default();
                self.frameworks.insert((agent_id, id), *info);
            }
            OwnedEntry::Executor { run, info } => {
                let key = (run.agent_id.clone(), run.framework_id.clone(), run.executor_id.clone());
                self.executors.insert(key, (run, *info));
            }
            OwnedEntry::Task { run, info, containerizer, group } => {
                let task = LiveTask { run, info: *info, containerizer, group, records: Vec::new() };
                self.tasks.insert(run_key(&task.run), task);
            }
            OwnedEntry::Record { run, record } => match self.tasks.get_mut(&run_key(&run)) {
                Some(t) => t.records.push(record),
                None => debug!(task_id = %run.task_id, "record of a task without a checkpointed info ignored"),
            },
            OwnedEntry::RemoveRun { run } => {
                // Every run of the task (a command task's executor has only its own).
                self.tasks.retain(|_, t| {
                    !(t.run.agent_id == run.agent_id
                        && t.run.framework_id == run.framework_id
                        && t.run.executor_id == run.executor_id
                        && t.run.task_id == run.task_id)
                });
                // A task group's executor goes with its last task.
                let key = (run.agent_id, run.framework_id, run.executor_id);
                if self.executors.contains_key(&key)
                    && !self.tasks.values().any(|t| t.group && executor_key(&t.run) == key)
                {
                    self.executors.remove(&key);
                }
            }
            OwnedEntry::ForgetAgent { agent_id } => {
                self.frameworks.retain(|(a, _), _| *a != agent_id);
                self.executors.retain(|(a, _, _), _| *a != agent_id);
                self.tasks.retain(|_, t| t.run.agent_id != agent_id);
            }
            OwnedEntry::Launched { container_id, process } => {
                self.containers.insert(container_id, process);
            }
            OwnedEntry::Destroyed { container_id } => {
                self.containers.remove(&container_id);
            }
        }
    }

    /// Replays `bytes`; stops at the first line that does not parse (a torn write).
    fn read(bytes: &[u8], path: &Path) -> Replay {
        let mut replay = Replay::default();
        let mut lines = 0usize;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<OwnedEntry>(line) {
                Ok(entry) => replay.apply(entry),
                Err(e) => {
                    warn!(path = %path.display(), line = lines + 1, error = %e, "torn or unreadable checkpoint record: the rest of the log is ignored");
                    break;
                }
            }
            lines += 1;
        }
        debug!(path = %path.display(), lines, "read the checkpoint log");
        replay
    }

    /// The live content as log lines.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for ((agent_id, _), info) in &self.frameworks {
            push_line(&mut out, &Entry::Framework { agent_id, info });
        }
        // Executors before their tasks; one without tasks (written just before a crash that
        // lost its tasks' records) is dropped.
        let with_tasks: std::collections::BTreeSet<ExecutorKey> =
            self.tasks.values().filter(|t| t.group).map(|t| executor_key(&t.run)).collect();
        for (key, (run, info)) in &self.executors {
            if with_tasks.contains(key) {
                push_line(&mut out, &Entry::Executor { run, info });
            }
        }
        for t in self.tasks.values() {
            let entry = Entry::Task { run: &t.run, info: &t.info, containerizer: &t.containerizer, group: t.group };
            push_line(&mut out, &entry);
            for record in &t.records {
                push_line(&mut out, &Entry::Record { run: &t.run, record });
            }
        }
        for (container_id, process) in &self.containers {
            push_line(&mut out, &Entry::Launched { container_id, process });
        }
        out
    }
}

fn executor_key(run: &RunPath) -> ExecutorKey {
    (run.agent_id.clone(), run.framework_id.clone(), run.executor_id.clone())
}

/// Replays a log's bytes (stopping at a torn or unreadable line) and returns what is live as
/// log lines: what a compaction, or the rewrite at the agent's start, writes. The pure part of
/// [`Store::recover`] (the fuzz target `checkpoint_replay` runs it on any bytes).
pub fn compact_log(bytes: &[u8]) -> Vec<u8> {
    Replay::read(bytes, Path::new("checkpoint.log")).encode()
}

/// The checkpointed state read back at start.
#[derive(Debug, Default)]
pub struct MetaState {
    pub agent_id: Option<AgentId>,
    pub frameworks: Vec<FrameworkInfo>,
    /// Executors of task groups (each with tasks among `tasks`).
    pub executors: Vec<MetaExecutor>,
    pub tasks: Vec<MetaTask>,
    /// Launch records of containers not destroyed yet (every framework), by container id.
    pub containers: BTreeMap<String, LaunchRecord>,
}

#[derive(Debug)]
pub struct MetaTask {
    pub framework_id: FrameworkId,
    pub container_id: String,
    pub info: TaskInfo,
    pub containerizer: ContainerizerKind,
    pub records: Vec<UpdateRecord>,
    /// Set for a task of a task group: its executor's id.
    pub executor_id: Option<ExecutorId>,
}

#[derive(Debug)]
pub struct MetaExecutor {
    pub framework_id: FrameworkId,
    pub container_id: String,
    pub info: ExecutorInfo,
}

/// The open log.
#[derive(Debug, Default)]
struct Log {
    file: Option<File>,
    /// Its size, as far as this process wrote it.
    size: u64,
    /// Its size right after the last compaction.
    live: u64,
    /// Whether its directory entry is known to be durable.
    entry_synced: bool,
}

/// The agent's checkpoint. Cheap to clone (one log shared by all clones); blocking.
#[derive(Debug, Clone)]
pub struct Store {
    layout: Layout,
    log: Arc<Mutex<Log>>,
    slack: u64,
}

impl Store {
    pub fn new(layout: Layout) -> Self {
        Self::with_slack(layout, COMPACT_SLACK)
    }

    /// A store that compacts once the log is larger than twice its live content plus `slack`.
    pub fn with_slack(layout: Layout, slack: u64) -> Self {
        Self { layout, log: Arc::new(Mutex::new(Log::default())), slack }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Executes one checkpoint command (durable on return).
    pub fn apply(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        self.apply_batch(std::slice::from_ref(cp))
    }

    /// Executes checkpoint commands in order and makes them all durable with one `fdatasync`
    /// of the log (group commit): a burst of launches and updates costs one write and one
    /// flush, not files and flushes per task. Stops at the first failure of a file operation;
    /// everything before it is durable on return.
    pub fn apply_batch(&self, cps: &[Checkpoint]) -> Result<(), CheckpointError> {
        let mut lines = Vec::new();
        let mut result = Ok(());
        for cp in cps {
            match cp {
                Checkpoint::Agent { agent_id, info } => {
                    result =
                        write_atomic(&self.layout.slave_info(agent_id.as_str()), &mesos_api::json::to_ascii_vec(info))
                            .and_then(|()| {
                                replace_symlink(Path::new(agent_id.as_str()), &self.layout.latest_agent_link())
                            });
                }
                Checkpoint::ForgetAgent { agent_id } => {
                    push_line(&mut lines, &Entry::ForgetAgent { agent_id });
                    result = self.forget_agent_files(agent_id);
                }
                Checkpoint::Framework { agent_id, info } => push_line(&mut lines, &Entry::Framework { agent_id, info }),
                Checkpoint::Executor { run, info } => push_line(&mut lines, &Entry::Executor { run, info }),
                Checkpoint::Task { run, info, containerizer, group } => {
                    push_line(&mut lines, &Entry::Task { run, info, containerizer, group: *group })
                }
                Checkpoint::Record { run, record } => push_line(&mut lines, &Entry::Record { run, record }),
                Checkpoint::RemoveRun { run } => push_line(&mut lines, &Entry::RemoveRun { run }),
            }
            if result.is_err() {
                break;
            }
        }
        if !lines.is_empty() {
            self.append(&lines, true)?;
        }
        result
    }

    fn forget_agent_files(&self, agent_id: &AgentId) -> Result<(), CheckpointError> {
        let link = self.layout.latest_agent_link();
        match fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err("remove", &link)(e)),
        }
        let dir = self.layout.agent_meta(agent_id.as_str());
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err("remove", &dir)(e)),
        }
    }

    /// Records a container's launch (not flushed: the next group commit makes it durable,
    /// before any update about the task is sent).
    pub fn record_launch(&self, container_id: &str, process: &LaunchRecord) -> Result<(), CheckpointError> {
        let mut line = Vec::new();
        push_line(&mut line, &Entry::Launched { container_id, process });
        self.append(&line, false)
    }

    /// Records that a container is gone (not flushed: a restarted agent that still finds the
    /// launch record only destroys the container again).
    pub fn record_destroyed(&self, container_id: &str) -> Result<(), CheckpointError> {
        let mut line = Vec::new();
        push_line(&mut line, &Entry::Destroyed { container_id });
        self.append(&line, false)
    }

    /// Appends whole lines with one `write`; `sync`: then `fdatasync` (outside the lock, so
    /// that other appends need not wait for the disk). Compacts the log when it has grown.
    fn append(&self, lines: &[u8], sync: bool) -> Result<(), CheckpointError> {
        let path = self.layout.checkpoint_log();
        let mut log = self.lock();
        if log.file.is_none() {
            let dir = self.layout.meta_dir();
            fs::create_dir_all(&dir).map_err(err("create", &dir))?;
            let file = OpenOptions::new().create(true).append(true).open(&path).map_err(err("open", &path))?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            log.size = size;
            log.live = size;
            log.file = Some(file);
        }
        if sync && !log.entry_synced {
            // A new log's directory entry must be durable too.
            sync_dir(&self.layout.meta_dir())?;
            log.entry_synced = true;
        }
        let Some(file) = log.file.as_mut() else { return Ok(()) };
        file.write_all(lines).map_err(err("append", &path))?;
        log.size += lines.len() as u64;
        if log.size > log.live.saturating_mul(2).saturating_add(self.slack)
            && let Err(e) = self.compact(&mut log)
        {
            warn!(error = %e, "cannot compact the checkpoint log; it keeps growing");
            // Do not try again before it has grown as much once more.
            log.live = log.size;
        }
        if !sync {
            return Ok(());
        }
        let Some(file) = log.file.as_ref() else { return Ok(()) };
        let file = file.try_clone().map_err(err("dup", &path))?;
        drop(log);
        file.sync_data().map_err(err("fdatasync", &path))
    }

    /// Rewrites the log with only what is live (the lock is held: nothing is appended
    /// meanwhile). Durable on return.
    fn compact(&self, log: &mut Log) -> Result<(), CheckpointError> {
        let path = self.layout.checkpoint_log();
        let bytes = fs::read(&path).map_err(err("read", &path))?;
        let live = Replay::read(&bytes, &path).encode();
        let file = self.rewrite(&live)?;
        info!(before = bytes.len(), after = live.len(), "compacted the checkpoint log");
        log.file = Some(file);
        log.size = live.len() as u64;
        log.live = log.size;
        log.entry_synced = true;
        Ok(())
    }

    /// Replaces the log with `content` atomically and durably; returns it open for appending.
    fn rewrite(&self, content: &[u8]) -> Result<File, CheckpointError> {
        let path = self.layout.checkpoint_log();
        let dir = self.layout.meta_dir();
        fs::create_dir_all(&dir).map_err(err("create", &dir))?;
        let tmp = dir.join(".checkpoint.log.tmp");
        {
            let mut f = File::create(&tmp).map_err(err("create", &tmp))?;
            f.write_all(content).map_err(err("write", &tmp))?;
            f.sync_all().map_err(err("fsync", &tmp))?;
        }
        fs::rename(&tmp, &path).map_err(err("rename", &path))?;
        sync_dir(&dir)?;
        OpenOptions::new().append(true).open(&path).map_err(err("open", &path))
    }

    /// Reads `meta/` (what a previous run left). A missing or unreadable piece is logged and
    /// skipped: recovery takes whatever is consistent.
    pub fn read(&self) -> MetaState {
        let path = self.layout.checkpoint_log();
        let replay = match fs::read(&path) {
            Ok(bytes) => Replay::read(&bytes, &path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Replay::default(),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot read the checkpoint log");
                Replay::default()
            }
        };
        self.state_of(replay)
    }

    /// [`Store::read`], then rewrites the log with only what is live (dropping a torn tail,
    /// so that new records follow a whole line). For the agent's start.
    pub fn recover(&self) -> MetaState {
        let path = self.layout.checkpoint_log();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.state_of(Replay::default()),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot read the checkpoint log");
                Vec::new()
            }
        };
        let replay = Replay::read(&bytes, &path);
        let live = replay.encode();
        let mut log = self.lock();
        match self.rewrite(&live) {
            Ok(file) => {
                log.file = Some(file);
                log.size = live.len() as u64;
                log.live = log.size;
                log.entry_synced = true;
            }
            Err(e) => warn!(error = %e, "cannot rewrite the checkpoint log"),
        }
        drop(log);
        self.state_of(replay)
    }

    fn state_of(&self, replay: Replay) -> MetaState {
        let mut state = MetaState { containers: replay.containers, ..MetaState::default() };
        let Ok(target) = fs::read_link(self.layout.latest_agent_link()) else { return state };
        let Some(agent) = target.file_name().and_then(|n| n.to_str()).map(str::to_string) else { return state };
        if mesos_api::validate_id(&agent).is_err() || !self.layout.slave_info(&agent).is_file() {
            warn!(agent, "meta/slaves/latest points to no usable agent; starting as a new agent");
            return state;
        }
        let agent_id = AgentId::new(agent);
        for ((a, id), info) in &replay.frameworks {
            if *a == agent_id {
                let mut info = info.clone();
                info.id = Some(id.clone());
                state.frameworks.push(info);
            }
        }
        let mut groups = std::collections::BTreeSet::new();
        for t in replay.tasks.into_values() {
            if t.run.agent_id != agent_id {
                continue;
            }
            let group = t.group.then(|| (t.run.framework_id.clone(), t.run.executor_id.clone()));
            if let Some(key) = &group
                && !replay.executors.contains_key(&(agent_id.clone(), key.0.clone(), key.1.clone()))
            {
                warn!(task_id = %t.run.task_id, executor_id = %key.1, "task of a task group without a checkpointed executor; not recovered");
                continue;
            }
            if !replay.frameworks.contains_key(&(agent_id.clone(), t.run.framework_id.clone())) {
                warn!(task_id = %t.run.task_id, framework_id = %t.run.framework_id, "task of a framework without a checkpointed info; not recovered");
                continue;
            }
            state.tasks.push(MetaTask {
                framework_id: t.run.framework_id,
                container_id: t.run.container_id,
                info: t.info,
                containerizer: t.containerizer,
                records: t.records,
                executor_id: group.as_ref().map(|g| g.1.clone()),
            });
            groups.extend(group);
        }
        for ((a, framework_id, executor_id), (run, info)) in replay.executors {
            if a == agent_id && groups.contains(&(framework_id.clone(), executor_id)) {
                state.executors.push(MetaExecutor { framework_id, container_id: run.container_id, info });
            }
        }
        state.agent_id = Some(agent_id);
        state
    }

    /// Forgets every record (after a reboot they describe nothing alive).
    pub fn discard(&self) {
        let mut log = self.lock();
        *log = Log::default();
        let path = self.layout.checkpoint_log();
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn!(path = %path.display(), error = %e, "cannot remove the checkpoint log");
        }
    }
}

/// Sub-directories (not symlinks) of `dir`, sorted.
pub fn list_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name().to_str().is_some_and(|n| !n.starts_with('.')))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`).
pub fn current_boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").ok().map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::messages::{TaskState, TaskStatus};
    use mesos_api::{ExecutorId, TaskId};

    fn run_of(task: &str, container: &str) -> RunPath {
        RunPath {
            agent_id: AgentId::new("A1"),
            framework_id: FrameworkId::new("F"),
            executor_id: ExecutorId::new(task),
            container_id: container.into(),
            task_id: TaskId::new(task),
        }
    }

    fn run() -> RunPath {
        run_of("t1", "c1")
    }

    fn fw() -> FrameworkInfo {
        serde_json::from_str(r#"{"user":"root","name":"fw","id":{"value":"F"},"checkpoint":true}"#).expect("fw")
    }

    fn task() -> TaskInfo {
        serde_json::from_str(
            r#"{"name":"t1","task_id":{"value":"t1"},"agent_id":{"value":"A1"},"command":{"value":"sleep 1"}}"#,
        )
        .expect("task")
    }

    fn agent(store: &Store) {
        let info: mesos_api::messages::AgentInfo =
            serde_json::from_str(r#"{"hostname":"h","port":5051}"#).expect("agent info");
        store.apply(&Checkpoint::Agent { agent_id: AgentId::new("A1"), info: Box::new(info) }).expect("agent");
    }

    #[test]
    fn a_task_group_comes_back_with_its_executor_which_goes_with_its_last_task() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(Layout::new(dir.path()));
        agent(&store);
        store.apply(&Checkpoint::Framework { agent_id: AgentId::new("A1"), info: Box::new(fw()) }).expect("fw");
        let executor: ExecutorInfo =
            serde_json::from_str(r#"{"executor_id":{"value":"E"},"type":"DEFAULT"}"#).expect("executor");
        let erun = ExecutorRun {
            agent_id: AgentId::new("A1"),
            framework_id: FrameworkId::new("F"),
            executor_id: ExecutorId::new("E"),
            container_id: "ce".into(),
        };
        let in_group =
            |task: &str, container: &str| RunPath { executor_id: ExecutorId::new("E"), ..run_of(task, container) };
        let task_of = |run: &RunPath| Checkpoint::Task {
            run: run.clone(),
            info: Box::new(task()),
            containerizer: ContainerizerKind::Mesos,
            group: true,
        };
        let (r1, r2) = (in_group("t1", "c1"), in_group("t2", "c2"));
        store
            .apply_batch(&[
                Checkpoint::Executor { run: erun.clone(), info: Box::new(executor.clone()) },
                task_of(&r1),
                task_of(&r2),
                // A command task whose id is the executor's stays apart.
                Checkpoint::Task {
                    run: run_of("E", "c3"),
                    info: Box::new(task()),
                    containerizer: ContainerizerKind::Mesos,
                    group: false,
                },
            ])
            .expect("group");
        let meta = store.recover();
        assert_eq!(meta.executors.len(), 1);
        assert_eq!((meta.executors[0].container_id.as_str(), &meta.executors[0].info), ("ce", &executor));
        let mut groups: Vec<(String, Option<String>)> = meta
            .tasks
            .iter()
            .map(|t| (t.container_id.clone(), t.executor_id.as_ref().map(|e| e.value.clone())))
            .collect();
        groups.sort();
        assert_eq!(groups, vec![("c1".into(), Some("E".into())), ("c2".into(), Some("E".into())), ("c3".into(), None)]);
        // Removing one task's run leaves the other and the executor.
        store.apply(&Checkpoint::RemoveRun { run: r1 }).expect("remove t1");
        let meta = store.read();
        assert_eq!((meta.tasks.len(), meta.executors.len()), (2, 1));
        // The last one takes the executor with it (also through a compaction).
        store.apply(&Checkpoint::RemoveRun { run: r2 }).expect("remove t2");
        for meta in [store.read(), store.recover()] {
            assert!(meta.executors.is_empty());
            let left: Vec<&str> = meta.tasks.iter().map(|t| t.container_id.as_str()).collect();
            assert_eq!(left, vec!["c3"]);
        }
        // An executor whose tasks never made it to the log is dropped.
        store.apply(&Checkpoint::Executor { run: erun, info: Box::new(executor) }).expect("executor");
        assert!(store.recover().executors.is_empty());
        assert!(!fs::read_to_string(dir.path().join("meta/checkpoint.log")).expect("log").contains("\"executor\""));
    }

    #[test]
    fn a_tasks_containerizer_comes_back_and_old_logs_read_as_mesos() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(Layout::new(dir.path()));
        agent(&store);
        store.apply(&Checkpoint::Framework { agent_id: AgentId::new("A1"), info: Box::new(fw()) }).expect("fw");
        store
            .apply(&Checkpoint::Task {
                run: run(),
                info: Box::new(task()),
                containerizer: ContainerizerKind::Docker,
                group: false,
            })
            .expect("task");
        let meta = store.recover();
        assert_eq!(meta.tasks.len(), 1);
        assert_eq!(meta.tasks[0].containerizer, ContainerizerKind::Docker);
        // The compacted log keeps it too.
        assert_eq!(Store::new(Layout::new(dir.path())).read().tasks[0].containerizer, ContainerizerKind::Docker);
        // A line without the field (written before Docker tasks existed) is a Mesos task.
        let line = std::fs::read_to_string(store.layout().checkpoint_log()).expect("log");
        let task_line = line.lines().find(|l| l.starts_with("{\"task\"")).expect("task line");
        let old = task_line.replace(",\"containerizer\":\"docker\"", "");
        assert_ne!(old, task_line);
        let rest: Vec<&str> = line.lines().filter(|l| *l != task_line).collect();
        std::fs::write(store.layout().checkpoint_log(), format!("{}\n{old}\n", rest.join("\n"))).expect("write");
        assert_eq!(Store::new(Layout::new(dir.path())).read().tasks[0].containerizer, ContainerizerKind::Mesos);
    }

    #[test]
    fn round_trip_of_meta() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(Layout::new(dir.path()));
        assert!(store.read().agent_id.is_none());
        agent(&store);
        store.apply(&Checkpoint::Framework { agent_id: AgentId::new("A1"), info: Box::new(fw()) }).expect("fw");
        store
            .apply(&Checkpoint::Task {
                run: run(),
                info: Box::new(task()),
                containerizer: ContainerizerKind::Mesos,
                group: false,
            })
            .expect("task");
        let mut s = TaskStatus::new(TaskId::new("t1"), TaskState::Starting);
        s.uuid = Some("u1".into());
        store
            .apply_batch(&[
                Checkpoint::Record { run: run(), record: Box::new(UpdateRecord::Update(Box::new(s.clone()))) },
                Checkpoint::Record { run: run(), record: Box::new(UpdateRecord::Ack("u1".into())) },
            ])
            .expect("records");
        store.apply(&Checkpoint::Record { run: run(), record: Box::new(UpdateRecord::Kill) }).expect("kill");
        let launch = LaunchRecord { monitor_pid: 10, task_pid: 11, monitor_start_ticks: 12 };
        store.record_launch("c1", &launch).expect("launch");
        store.record_launch("c2", &launch).expect("launch");
        store.record_destroyed("c2").expect("destroyed");
        // A torn trailing record.
        let path = store.layout().checkpoint_log();
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"record\":{\"run\":").expect("write");

        let meta = store.read();
        assert_eq!(meta.agent_id.as_ref().map(AgentId::as_str), Some("A1"));
        assert_eq!(meta.frameworks.len(), 1);
        assert_eq!(meta.tasks.len(), 1);
        assert_eq!(meta.tasks[0].container_id, "c1");
        assert_eq!(
            meta.tasks[0].records,
            vec![UpdateRecord::Update(Box::new(s)), UpdateRecord::Ack("u1".into()), UpdateRecord::Kill]
        );
        assert_eq!(meta.containers.into_iter().collect::<Vec<_>>(), vec![("c1".to_string(), launch)]);

        // A new process recovers the same, drops the torn tail and appends after it.
        let store = Store::new(Layout::new(dir.path()));
        assert_eq!(store.recover().tasks.len(), 1);
        store.apply(&Checkpoint::RemoveRun { run: run() }).expect("remove");
        let meta = store.read();
        assert!(meta.tasks.is_empty());
        assert_eq!(meta.frameworks.len(), 1);
        store.apply(&Checkpoint::ForgetAgent { agent_id: AgentId::new("A1") }).expect("forget");
        let meta = store.read();
        assert!(meta.agent_id.is_none());
        assert!(meta.frameworks.is_empty());
        assert!(dir.path().join("meta/slaves").is_dir());
    }

    #[test]
    fn records_of_other_agents_are_not_recovered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(Layout::new(dir.path()));
        agent(&store);
        let mut old = run();
        old.agent_id = AgentId::new("A0");
        store
            .apply_batch(&[
                Checkpoint::Framework { agent_id: AgentId::new("A0"), info: Box::new(fw()) },
                Checkpoint::Task {
                    run: old,
                    info: Box::new(task()),
                    containerizer: ContainerizerKind::Mesos,
                    group: false,
                },
                Checkpoint::Framework { agent_id: AgentId::new("A1"), info: Box::new(fw()) },
            ])
            .expect("batch");
        let meta = store.read();
        assert_eq!(meta.agent_id.as_ref().map(AgentId::as_str), Some("A1"));
        assert_eq!(meta.frameworks.len(), 1);
        assert!(meta.tasks.is_empty());
    }

    #[test]
    fn the_log_is_compacted_when_it_grows() {
        const SLACK: u64 = 64 << 10;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::with_slack(Layout::new(dir.path()), SLACK);
        agent(&store);
        store.apply(&Checkpoint::Framework { agent_id: AgentId::new("A1"), info: Box::new(fw()) }).expect("fw");
        let launch = LaunchRecord { monitor_pid: 10, task_pid: 11, monitor_start_ticks: 12 };
        let path = store.layout().checkpoint_log();
        // Short-lived tasks: far more than the slack in total.
        for i in 0..1000 {
            let r = run_of(&format!("t{i}"), &format!("c{i}"));
            store.record_launch(&r.container_id, &launch).expect("launch");
            store.record_destroyed(&r.container_id).expect("destroyed");
            store
                .apply_batch(&[
                    Checkpoint::Task {
                        run: r.clone(),
                        info: Box::new(task()),
                        containerizer: ContainerizerKind::Mesos,
                        group: false,
                    },
                    Checkpoint::RemoveRun { run: r },
                ])
                .expect("task");
        }
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(u64::MAX);
        assert!(size <= 2 * SLACK, "{size}");
        store
            .apply(&Checkpoint::Task {
                run: run_of("last", "clast"),
                info: Box::new(task()),
                containerizer: ContainerizerKind::Mesos,
                group: false,
            })
            .expect("task");
        let meta = store.read();
        assert_eq!(meta.frameworks.len(), 1);
        assert_eq!(meta.tasks.len(), 1);
        assert!(meta.containers.is_empty());
    }
}
