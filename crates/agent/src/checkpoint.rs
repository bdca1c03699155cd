//! Durable checkpoint files under `<work_dir>/meta` (shell side of [`crate::core::Checkpoint`]).
//!
//! Whole files are written atomically (temp file, fsync, rename, fsync of the directory);
//! `task.updates` is an append-only file of JSON lines, each fsync'ed before the update it
//! records is sent. A torn last line (crash while appending) is ignored on recovery.

use crate::core::{Checkpoint, RunPath, UpdateRecord};
use crate::paths::{Layout, TASK_INFO, TASK_UPDATES};
use mesos_api::messages::{FrameworkInfo, TaskInfo};
use mesos_api::{AgentId, FrameworkId};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tracing::{debug, warn};

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

/// Whether a write is made durable right away, or later for a whole batch at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    Now,
    /// The caller makes the whole file system durable afterwards (`syncfs`).
    Batch,
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_atomic_with(path, bytes, Sync::Now)
}

fn write_atomic_with(path: &Path, bytes: &[u8], sync: Sync) -> Result<(), CheckpointError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err("create", dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp).map_err(err("create", &tmp))?;
        f.write_all(bytes).map_err(err("write", &tmp))?;
        if sync == Sync::Now {
            f.sync_all().map_err(err("fsync", &tmp))?;
        }
    }
    fs::rename(&tmp, path).map_err(err("rename", path))?;
    if sync == Sync::Now { sync_dir(dir) } else { Ok(()) }
}

fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(err("fsync", dir))
}

/// Points the symlink `link` at `target`, replacing it atomically.
pub fn replace_symlink(target: &Path, link: &Path) -> Result<(), CheckpointError> {
    replace_symlink_with(target, link, Sync::Now)
}

fn replace_symlink_with(target: &Path, link: &Path, sync: Sync) -> Result<(), CheckpointError> {
    let dir = link.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err("create", dir))?;
    let name = link.file_name().and_then(|n| n.to_str()).unwrap_or("link");
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(err("symlink", &tmp))?;
    fs::rename(&tmp, link).map_err(err("rename", link))?;
    if sync == Sync::Now { sync_dir(dir) } else { Ok(()) }
}

fn append_line(path: &Path, line: &[u8], sync: Sync) -> Result<(), CheckpointError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let created = !path.exists();
    if created {
        fs::create_dir_all(dir).map_err(err("create", dir))?;
    }
    let mut f = OpenOptions::new().create(true).append(true).open(path).map_err(err("open", path))?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line);
    buf.push(b'\n');
    f.write_all(&buf).map_err(err("append", path))?;
    if sync == Sync::Batch {
        return Ok(());
    }
    f.sync_data().map_err(err("fsync", path))?;
    if created {
        sync_dir(dir)?;
    }
    Ok(())
}

/// The checkpointed state read back at start.
#[derive(Debug, Default)]
pub struct MetaState {
    pub agent_id: Option<AgentId>,
    pub frameworks: Vec<FrameworkInfo>,
    pub tasks: Vec<MetaTask>,
}

#[derive(Debug)]
pub struct MetaTask {
    pub framework_id: FrameworkId,
    pub container_id: String,
    pub info: TaskInfo,
    pub records: Vec<UpdateRecord>,
}

#[derive(Debug, Clone)]
pub struct Store {
    layout: Layout,
}

impl Store {
    pub fn new(layout: Layout) -> Self {
        Self { layout }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn task_dir(&self, run: &RunPath) -> PathBuf {
        self.layout.task_meta(
            run.agent_id.as_str(),
            run.framework_id.as_str(),
            run.executor_id.as_str(),
            &run.container_id,
            run.task_id.as_str(),
        )
    }

    /// Executes one checkpoint command (blocking, durable on return).
    pub fn apply(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        self.apply_with(cp, Sync::Now)
    }

    /// Executes checkpoint commands in order and makes them all durable with one `syncfs`
    /// (group commit): a burst of launches and updates costs one flush, not one per file.
    /// Stops at the first failure; everything written before it is durable on return.
    pub fn apply_batch(&self, cps: &[Checkpoint]) -> Result<(), CheckpointError> {
        if let [one] = cps {
            return self.apply(one);
        }
        let mut result = Ok(());
        for cp in cps {
            result = self.apply_with(cp, Sync::Batch);
            if result.is_err() {
                break;
            }
        }
        let root = self.layout.meta_dir();
        let dir = File::open(&root).map_err(err("open", &root))?;
        nix::unistd::syncfs(&dir).map_err(|e| err("syncfs", &root)(io::Error::from(e)))?;
        result
    }

    fn apply_with(&self, cp: &Checkpoint, sync: Sync) -> Result<(), CheckpointError> {
        match cp {
            Checkpoint::Agent { agent_id, info } => {
                let path = self.layout.slave_info(agent_id.as_str());
                write_atomic_with(&path, &mesos_api::json::to_ascii_vec(info), sync)?;
                replace_symlink_with(Path::new(agent_id.as_str()), &self.layout.latest_agent_link(), sync)
            }
            Checkpoint::ForgetAgent { agent_id } => {
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
            Checkpoint::Framework { agent_id, info } => {
                let id = info.id.clone().unwrap_or_default();
                let path = self.layout.framework_info(agent_id.as_str(), id.as_str());
                write_atomic_with(&path, &mesos_api::json::to_ascii_vec(info), sync)
            }
            Checkpoint::Task { run, info } => {
                write_atomic_with(&self.task_dir(run).join(TASK_INFO), &mesos_api::json::to_ascii_vec(info), sync)
            }
            Checkpoint::Record { run, record } => {
                append_line(&self.task_dir(run).join(TASK_UPDATES), &mesos_api::json::to_ascii_vec(record), sync)
            }
            Checkpoint::RemoveRun { run } => {
                let executor = self.layout.executor_meta(
                    run.agent_id.as_str(),
                    run.framework_id.as_str(),
                    run.executor_id.as_str(),
                );
                match fs::remove_dir_all(&executor) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(err("remove", &executor)(e)),
                }
            }
        }
    }

    /// Reads `meta/`. A missing or unreadable piece is logged and skipped: recovery takes
    /// whatever is consistent.
    pub fn read(&self) -> MetaState {
        let mut state = MetaState::default();
        let Ok(target) = fs::read_link(self.layout.latest_agent_link()) else { return state };
        let Some(agent) = target.file_name().and_then(|n| n.to_str()).map(str::to_string) else { return state };
        if mesos_api::validate_id(&agent).is_err() || !self.layout.slave_info(&agent).is_file() {
            warn!(agent, "meta/slaves/latest points to no usable agent; starting as a new agent");
            return state;
        }
        state.agent_id = Some(AgentId::new(agent.clone()));
        let frameworks_dir = self.layout.agent_meta(&agent).join("frameworks");
        for fw_dir in list_dirs(&frameworks_dir) {
            let fw_name = name_of(&fw_dir);
            match read_json::<FrameworkInfo>(&fw_dir.join("framework.info")) {
                Some(mut info) => {
                    info.id = Some(FrameworkId::new(fw_name.clone()));
                    state.frameworks.push(info);
                }
                None => {
                    warn!(framework_id = fw_name, "framework.info missing or unreadable; its tasks are not recovered");
                    continue;
                }
            }
            for exec_dir in list_dirs(&fw_dir.join("executors")) {
                for run_dir in list_dirs(&exec_dir.join("runs")) {
                    let container_id = name_of(&run_dir);
                    for task_dir in list_dirs(&run_dir.join("tasks")) {
                        let Some(info) = read_json::<TaskInfo>(&task_dir.join(TASK_INFO)) else {
                            warn!(path = %task_dir.display(), "task.info missing or unreadable; skipped");
                            continue;
                        };
                        let records = read_records(&task_dir.join(TASK_UPDATES));
                        state.tasks.push(MetaTask {
                            framework_id: FrameworkId::new(fw_name.clone()),
                            container_id: container_id.clone(),
                            info,
                            records,
                        });
                    }
                }
            }
        }
        state
    }
}

fn name_of(p: &Path) -> String {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
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

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "unreadable checkpoint file");
            None
        }
    }
}

/// Reads `task.updates`; stops at the first record that does not parse (a torn write).
pub fn read_records(path: &Path) -> Vec<UpdateRecord> {
    let Ok(text) = fs::read(path) else { return Vec::new() };
    let mut out = Vec::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<UpdateRecord>(line) {
            Ok(r) => out.push(r),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "torn record at the end of task.updates ignored");
                break;
            }
        }
    }
    debug!(path = %path.display(), records = out.len(), "read task.updates");
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

    fn run() -> RunPath {
        RunPath {
            agent_id: AgentId::new("A1"),
            framework_id: FrameworkId::new("F"),
            executor_id: ExecutorId::new("t1"),
            container_id: "c1".into(),
            task_id: TaskId::new("t1"),
        }
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

    #[test]
    fn round_trip_of_meta() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(Layout::new(dir.path()));
        assert!(store.read().agent_id.is_none());
        let info: mesos_api::messages::AgentInfo =
            serde_json::from_str(r#"{"hostname":"h","port":5051}"#).expect("agent info");
        store.apply(&Checkpoint::Agent { agent_id: AgentId::new("A1"), info: Box::new(info) }).expect("agent");
        store.apply(&Checkpoint::Framework { agent_id: AgentId::new("A1"), info: Box::new(fw()) }).expect("fw");
        store.apply(&Checkpoint::Task { run: run(), info: Box::new(task()) }).expect("task");
        let mut s = TaskStatus::new(TaskId::new("t1"), TaskState::Starting);
        s.uuid = Some("u1".into());
        store
            .apply(&Checkpoint::Record { run: run(), record: Box::new(UpdateRecord::Update(Box::new(s.clone()))) })
            .expect("rec");
        store.apply(&Checkpoint::Record { run: run(), record: Box::new(UpdateRecord::Ack("u1".into())) }).expect("ack");
        store.apply(&Checkpoint::Record { run: run(), record: Box::new(UpdateRecord::Kill) }).expect("kill");
        // A torn trailing record.
        let updates = store.task_dir(&run()).join(TASK_UPDATES);
        let mut f = OpenOptions::new().append(true).open(&updates).expect("open");
        f.write_all(b"{\"update\":{\"task_id\"").expect("write");

        let meta = store.read();
        assert_eq!(meta.agent_id.as_ref().map(AgentId::as_str), Some("A1"));
        assert_eq!(meta.frameworks.len(), 1);
        assert_eq!(meta.tasks.len(), 1);
        assert_eq!(meta.tasks[0].container_id, "c1");
        assert_eq!(
            meta.tasks[0].records,
            vec![UpdateRecord::Update(Box::new(s)), UpdateRecord::Ack("u1".into()), UpdateRecord::Kill]
        );

        store.apply(&Checkpoint::RemoveRun { run: run() }).expect("remove");
        assert!(store.read().tasks.is_empty());
        store.apply(&Checkpoint::ForgetAgent { agent_id: AgentId::new("A1") }).expect("forget");
        assert!(store.read().agent_id.is_none());
        assert!(dir.path().join("meta/slaves").is_dir());
    }
}
