//! The work-dir layout (Mesos' `src/slave/paths.cpp`, reduced to what this agent uses).
//!
//! ```text
//! <work_dir>/slaves/<agentId>/frameworks/<fwId>/executors/<execId>/runs/<containerId>/  sandbox
//! <work_dir>/slaves/<agentId>/frameworks/<fwId>/executors/<execId>/runs/latest -> <containerId>
//! <work_dir>/meta/boot_id
//! <work_dir>/meta/slaves/latest -> <agentId>
//! <work_dir>/meta/slaves/<agentId>/slave.info
//! <work_dir>/meta/slaves/<agentId>/frameworks/<fwId>/framework.info
//! <work_dir>/meta/slaves/<agentId>/frameworks/<fwId>/executors/<execId>/executor.info
//! <work_dir>/meta/slaves/<agentId>/frameworks/<fwId>/executors/<execId>/runs/<cid>/tasks/<taskId>/task.info
//! <work_dir>/meta/slaves/<agentId>/frameworks/<fwId>/executors/<execId>/runs/<cid>/tasks/<taskId>/task.updates
//! <work_dir>/runtime/containers/<cid>/   the containerizer's record of a container (every framework)
//! ```
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

    pub fn framework_meta(&self, agent: &str, framework: &str) -> PathBuf {
        self.agent_meta(agent).join("frameworks").join(framework)
    }

    pub fn framework_info(&self, agent: &str, framework: &str) -> PathBuf {
        self.framework_meta(agent, framework).join("framework.info")
    }

    pub fn executor_meta(&self, agent: &str, framework: &str, executor: &str) -> PathBuf {
        self.framework_meta(agent, framework).join("executors").join(executor)
    }

    pub fn executor_info(&self, agent: &str, framework: &str, executor: &str) -> PathBuf {
        self.executor_meta(agent, framework, executor).join("executor.info")
    }

    pub fn run_meta(&self, agent: &str, framework: &str, executor: &str, container: &str) -> PathBuf {
        self.executor_meta(agent, framework, executor).join("runs").join(container)
    }

    pub fn task_meta(&self, agent: &str, framework: &str, executor: &str, container: &str, task: &str) -> PathBuf {
        self.run_meta(agent, framework, executor, container).join("tasks").join(task)
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

    pub fn container_runtime(&self, container: &str) -> PathBuf {
        self.runtime_containers().join(container)
    }
}

pub const TASK_INFO: &str = "task.info";
pub const TASK_UPDATES: &str = "task.updates";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_mesos() {
        let l = Layout::new("/w");
        assert_eq!(l.sandbox("A", "F", "E", "C"), PathBuf::from("/w/slaves/A/frameworks/F/executors/E/runs/C"));
        assert_eq!(
            l.task_meta("A", "F", "E", "C", "T"),
            PathBuf::from("/w/meta/slaves/A/frameworks/F/executors/E/runs/C/tasks/T")
        );
        assert_eq!(l.latest_agent_link(), PathBuf::from("/w/meta/slaves/latest"));
        assert_eq!(l.boot_id_file(), PathBuf::from("/w/meta/boot_id"));
        assert_eq!(l.framework_info("A", "F"), PathBuf::from("/w/meta/slaves/A/frameworks/F/framework.info"));
    }
}
