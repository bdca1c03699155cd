//! The work-dir layout (Mesos' `src/slave/paths.cpp`, reduced to what this agent uses).
//!
//! ```text
//! <work_dir>/slaves/<agentId>/frameworks/<fwId>/executors/<execId>/runs/<containerId>/  sandbox
//! <work_dir>/slaves/<agentId>/frameworks/<fwId>/executors/<execId>/runs/latest -> <containerId>
//! <work_dir>/meta/boot_id
//! <work_dir>/meta/slaves/latest -> <agentId>
//! <work_dir>/meta/slaves/<agentId>/slave.info
//! <work_dir>/meta/checkpoint.log        frameworks, tasks, update records, container launches
//! <work_dir>/runtime/containers/<cid>.status   how the container's task ended (its monitor writes it)
//! ```
//!
//! Unlike Mesos, the per-task checkpoint is not a tree of files under `meta/slaves/<agentId>`
//! but records in one log (see [`crate::checkpoint`]): a task costs no inode there.
//!
//! Every id that reaches a path has been checked with [`mesos_api::validate_id`] (no `/`, not
//! `.` or `..`).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    work_dir: PathBuf,
}

impl Layout {
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        Self { work_dir: work_dir.into() }
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    pub fn meta_dir(&self) -> PathBuf {
        self.work_dir.join("meta")
    }

    pub fn boot_id_file(&self) -> PathBuf {
        self.meta_dir().join("boot_id")
    }

    pub fn meta_slaves_dir(&self) -> PathBuf {
        self.meta_dir().join("slaves")
    }

    pub fn latest_agent_link(&self) -> PathBuf {
        self.meta_slaves_dir().join("latest")
    }

    pub fn agent_meta(&self, agent: &str) -> PathBuf {
        self.meta_slaves_dir().join(agent)
    }

    pub fn slave_info(&self, agent: &str) -> PathBuf {
        self.agent_meta(agent).join("slave.info")
    }

    /// The append-only log of everything checkpointed per framework, task and container.
    pub fn checkpoint_log(&self) -> PathBuf {
        self.meta_dir().join("checkpoint.log")
    }

    pub fn slaves_dir(&self) -> PathBuf {
        self.work_dir.join("slaves")
    }

    pub fn sandbox(&self, agent: &str, framework: &str, executor: &str, container: &str) -> PathBuf {
        self.executor_runs(agent, framework, executor).join(container)
    }

    pub fn executor_runs(&self, agent: &str, framework: &str, executor: &str) -> PathBuf {
        self.slaves_dir().join(agent).join("frameworks").join(framework).join("executors").join(executor).join("runs")
    }

    pub fn runtime_containers(&self) -> PathBuf {
        self.work_dir.join("runtime").join("containers")
    }

    /// Where the container's monitor writes how the task ended.
    pub fn container_status(&self, container: &str) -> PathBuf {
        self.runtime_containers().join(format!("{container}{STATUS_SUFFIX}"))
    }
}

/// File name suffix of a container's status file in [`Layout::runtime_containers`].
pub const STATUS_SUFFIX: &str = ".status";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_mesos() {
        let l = Layout::new("/w");
        assert_eq!(l.sandbox("A", "F", "E", "C"), PathBuf::from("/w/slaves/A/frameworks/F/executors/E/runs/C"));
        assert_eq!(l.checkpoint_log(), PathBuf::from("/w/meta/checkpoint.log"));
        assert_eq!(l.container_status("C"), PathBuf::from("/w/runtime/containers/C.status"));
        assert_eq!(l.latest_agent_link(), PathBuf::from("/w/meta/slaves/latest"));
        assert_eq!(l.boot_id_file(), PathBuf::from("/w/meta/boot_id"));
    }
}
