//! The shell side of sandbox garbage collection (the schedule is in the core, see
//! `core::gc`): finding the sandboxes a previous run left, stamping, removing, and measuring
//! the disk usage. Everything here blocks.

use crate::core::{FoundKind, FoundSandbox, GcKind, GcPath};
use crate::paths::Layout;
use mesos_api::{AgentId, ExecutorId, FrameworkId};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::{debug, info, warn};

fn mtime(path: &Path) -> f64 {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Real subdirectories of `dir` (no symlinks), by name.
fn subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .filter(|(name, _)| mesos_api::validate_id(name).is_ok())
        .collect()
}

/// Every directory under `<work_dir>/slaves` the garbage collector may have to remove: those
/// of other agent ids whole, and for `agent_id` every executor directory and run (sandbox).
pub fn scan(layout: &Layout, agent_id: Option<&AgentId>) -> Vec<FoundSandbox> {
    let mut found = Vec::new();
    for (agent, agent_dir) in subdirs(&layout.slaves_dir()) {
        if agent_id.is_none_or(|id| id.as_str() != agent) {
            found.push(FoundSandbox { mtime: mtime(&agent_dir), path: agent_dir, kind: FoundKind::Agent });
            continue;
        }
        for (framework, framework_dir) in subdirs(&agent_dir.join("frameworks")) {
            for (executor, executor_dir) in subdirs(&framework_dir.join("executors")) {
                for (container_id, run_dir) in subdirs(&executor_dir.join("runs")) {
                    found.push(FoundSandbox {
                        mtime: mtime(&run_dir),
                        path: run_dir,
                        kind: FoundKind::Run { container_id },
                    });
                }
                let kind = FoundKind::Executor {
                    framework_id: FrameworkId::new(framework.as_str()),
                    executor_id: ExecutorId::new(executor),
                };
                found.push(FoundSandbox { mtime: mtime(&executor_dir), path: executor_dir, kind });
            }
        }
    }
    found
}

/// Sets the directories' modification time to now.
pub fn stamp(paths: &[PathBuf]) {
    let now = SystemTime::now();
    for path in paths {
        if let Err(e) = std::fs::File::open(path).and_then(|dir| dir.set_modified(now)) {
            debug!(path = %path.display(), error = %e, "cannot stamp a directory scheduled for removal");
        }
    }
}

/// Removes what the core found due: only below `<work_dir>/slaves`.
pub fn remove(layout: &Layout, paths: &[GcPath]) {
    let slaves = layout.slaves_dir();
    for gc in paths {
        if !gc.path.starts_with(&slaves) || gc.path == slaves {
            warn!(path = %gc.path.display(), "not removing a directory outside the sandboxes");
            continue;
        }
        let result = match gc.kind {
            GcKind::Tree => std::fs::remove_dir_all(&gc.path).and_then(|()| {
                // A sandbox (`.../executors/<id>/runs/<cid>`): its executor's directory goes
                // with its last run, whenever that directory's own removal was due.
                match gc.path.parent().filter(|runs| runs.ends_with("runs")).and_then(Path::parent) {
                    Some(executor) => remove_executor_dir(executor),
                    None => Ok(()),
                }
            }),
            GcKind::Executor => remove_executor_dir(&gc.path),
        };
        match result {
            Ok(()) => info!(path = %gc.path.display(), "removed a sandbox directory"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn!(path = %gc.path.display(), error = %e, "cannot remove a sandbox directory"),
        }
    }
}

/// An executor's directory, unless a run is (again) in it: its `runs/latest` link if that
/// leads nowhere, `runs` and the directory itself, each only if empty.
fn remove_executor_dir(dir: &Path) -> io::Result<()> {
    let runs = dir.join("runs");
    let latest = runs.join("latest");
    if std::fs::read_link(&latest).is_ok() && !latest.exists() {
        std::fs::remove_file(&latest)?;
    }
    let empty_ok = |r: io::Result<()>| match r {
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    };
    if empty_ok(std::fs::remove_dir(&runs))? && !empty_ok(std::fs::remove_dir(dir))? {
        debug!(path = %dir.display(), "executor directory in use again: kept");
    }
    Ok(())
}

/// How full the file system of `path` is (used blocks over all blocks, as Mesos' `fs::usage`).
pub fn disk_usage(path: &Path) -> io::Result<f64> {
    let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    let blocks = st.blocks() as f64;
    if blocks <= 0.0 {
        return Ok(0.0);
    }
    Ok(((st.blocks() - st.blocks_free()) as f64 / blocks).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_removes_and_keeps_executor_dirs_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let runs = layout.executor_runs("A1", "F", "E");
        std::fs::create_dir_all(runs.join("C1")).expect("mkdir");
        std::fs::write(runs.join("C1/stdout"), "x").expect("write");
        std::os::unix::fs::symlink("C1", runs.join("latest")).expect("symlink");
        std::fs::create_dir_all(layout.slaves_dir().join("A0/frameworks")).expect("mkdir");
        let mut found = scan(&layout, Some(&AgentId::new("A1")));
        found.sort_by(|a, b| a.path.cmp(&b.path));
        let kinds: Vec<&FoundKind> = found.iter().map(|f| &f.kind).collect();
        assert_eq!(
            kinds,
            vec![
                &FoundKind::Agent,
                &FoundKind::Executor { framework_id: FrameworkId::new("F"), executor_id: ExecutorId::new("E") },
                &FoundKind::Run { container_id: "C1".into() },
            ]
        );
        assert!(found.iter().all(|f| f.mtime > 0.0));
        let executor = runs.parent().expect("executor").to_path_buf();
        // A run is in it: the executor directory stays.
        remove(&layout, &[GcPath { path: executor.clone(), kind: GcKind::Executor }]);
        assert!(runs.join("C1/stdout").exists());
        // Its last run removed, the executor directory goes too.
        std::fs::create_dir_all(runs.join("C2")).expect("mkdir");
        remove(&layout, &[GcPath { path: runs.join("C1"), kind: GcKind::Tree }]);
        assert!(!runs.join("C1").exists() && runs.join("C2").exists() && !runs.join("latest").exists());
        remove(&layout, &[GcPath { path: runs.join("C2"), kind: GcKind::Tree }]);
        assert!(!executor.exists());
        remove(&layout, &[GcPath { path: executor.clone(), kind: GcKind::Executor }]);
        // Nothing outside the sandboxes, not even the sandboxes' root.
        remove(&layout, &[GcPath { path: layout.slaves_dir(), kind: GcKind::Tree }]);
        std::fs::create_dir_all(dir.path().join("meta")).expect("mkdir");
        remove(&layout, &[GcPath { path: dir.path().join("meta"), kind: GcKind::Tree }]);
        assert!(layout.slaves_dir().exists() && dir.path().join("meta").exists());
        let usage = disk_usage(dir.path()).expect("statvfs");
        assert!((0.0..=1.0).contains(&usage));
    }
}
