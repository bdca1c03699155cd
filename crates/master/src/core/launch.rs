//! Launching: the tasks of a LAUNCH, each on its own, and the task group of a LAUNCH_GROUP as a
//! whole (upstream's `validation::task::group`): one invalid task makes the whole group
//! TASK_ERROR with REASON_TASK_GROUP_INVALID and nothing of it is launched. A launched group's
//! tasks carry its executor's id, and the executor's own resources are taken from the offer
//! (unless the executor already runs on the agent) and held while any of its tasks is not
//! terminal ([`FrameworkEntry::live_executors`]).

use super::*;
use mesos_api::scheduler::LaunchGroup;

/// The only executor type that runs task groups here.
const DEFAULT_EXECUTOR: &str = "DEFAULT";

impl MasterCore {
    /// The task's resources, or why it cannot be launched by `framework` on `agent_id`
    /// (whether they fit in the offer aside): upstream's task validation.
    fn validate_task(
        &self,
        framework: &FrameworkEntry,
        agent_id: &AgentId,
        task: &TaskInfo,
        in_group: bool,
    ) -> Result<ResourceSet, String> {
        if validate_id(task.task_id.as_str()).is_err() {
            return Err(format!("Task ID '{}' is invalid", task.task_id));
        }
        if framework.tasks.get(&task.task_id).is_some_and(|t| !t.task.state.is_terminal()) {
            return Err(format!("Task has duplicate ID: {}", task.task_id));
        }
        if &task.agent_id != agent_id {
            return Err(format!("Agent {} is invalid: the offers are for agent {agent_id}", task.agent_id));
        }
        if task.resources.is_empty() {
            return Err("Task uses no resources".to_string());
        }
        let resources =
            ResourceSet::from_wire(&task.resources).map_err(|e| format!("Task uses invalid resources: {e}"))?;
        if in_group {
            if task.executor.is_some() {
                return Err(format!("Task '{}' in a task group must not have 'TaskInfo.executor' set", task.task_id));
            }
            if task.command.is_none() {
                return Err("Task in a task group must have CommandInfo".to_string());
            }
            if is_docker(task.container.as_ref()) {
                return Err(format!("Task '{}': Docker ContainerInfo is not supported on the task", task.task_id));
            }
        } else if task.command.is_some() == task.executor.is_some() {
            return Err(
                "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".to_string()
            );
        }
        Ok(resources)
    }

    /// TASK_ERROR from the master for a task that is not launched.
    fn task_error(
        &mut self,
        now: Now,
        framework: &FrameworkId,
        agent_id: &AgentId,
        task_id: &TaskId,
        reason: Reason,
        message: String,
    ) {
        let mut s = TaskStatus::new(task_id.clone(), TaskState::Error);
        s.source = Some(Source::Master);
        s.reason = Some(reason);
        s.message = Some(message);
        s.timestamp = Some(now.wall);
        s.agent_id = Some(agent_id.clone());
        self.send_to_framework(now, framework, Event::update(s));
    }

    /// A task of a LAUNCH: validated, taken from `available` and sent to the agent.
    pub(super) fn launch(
        &mut self,
        now: Now,
        framework: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        mut task: TaskInfo,
        available: &mut ResourceSet,
    ) {
        let Some(fw) = self.frameworks.get(framework) else { return };
        let info = fw.info.clone();
        if let Some(executor) = &mut task.executor
            && executor.framework_id.is_none()
        {
            executor.framework_id = Some(framework.clone());
        }
        let resources = self.validate_task(fw, agent_id, &task, false).and_then(|r| {
            if available.contains(&r) {
                Ok(r)
            } else {
                Err(format!(
                    "Task uses more resources {:?} than available {:?}",
                    r.to_flat_json(),
                    available.to_flat_json()
                ))
            }
        });
        let resources = match resources {
            Ok(r) => r,
            Err(message) => {
                return self.task_error(now, framework, agent_id, &task.task_id, Reason::TaskInvalid, message);
            }
        };
        available.subtract(&resources);
        // As upstream: a command task's record names no executor (its command executor is the
        // agent's business); a custom executor's task names it.
        let executor_id = task.executor.as_ref().map(|e| e.executor_id.clone());
        self.record_task(framework, agent_id, role, &task, executor_id, resources, &info);
        if let Some(stream) = self.agents.get(agent_id).and_then(|a| a.stream.clone()) {
            self.send_agent(&stream, AgentEvent::RunTask { framework: Box::new(info), task: Box::new(task) });
        }
    }

    /// A LAUNCH_GROUP: every task valid and everything (the tasks' resources and, for an
    /// executor not running on the agent yet, its own) within `available`, or TASK_ERROR for
    /// every task and nothing launched. Sent to the agent as one `RUN_TASK_GROUP`.
    pub(super) fn launch_group(
        &mut self,
        now: Now,
        framework: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        group: LaunchGroup,
        available: &mut ResourceSet,
    ) {
        let LaunchGroup { mut executor, task_group } = group;
        if executor.framework_id.is_none() {
            executor.framework_id = Some(framework.clone());
        }
        let Some(fw) = self.frameworks.get(framework) else { return };
        let info = fw.info.clone();
        let validated = self.validate_group(fw, agent_id, &executor, &task_group.tasks, available);
        let (task_resources, executor_resources) = match validated {
            Ok(v) => v,
            Err(message) => {
                tracing::info!(%framework, executor = %executor.executor_id, %message, "task group refused");
                for task in &task_group.tasks {
                    let message = message.clone();
                    self.task_error(now, framework, agent_id, &task.task_id, Reason::TaskGroupInvalid, message);
                }
                return;
            }
        };
        if let Some(resources) = executor_resources {
            available.subtract(&resources);
            let key = (agent_id.clone(), executor.executor_id.clone());
            let entry = ExecutorEntry { info: executor.clone(), resources, role: role.to_string() };
            if let Some(fw) = self.frameworks.get_mut(framework) {
                fw.executors.insert(key, entry);
            }
        }
        for (task, resources) in task_group.tasks.iter().zip(task_resources) {
            available.subtract(&resources);
            let executor_id = Some(executor.executor_id.clone());
            self.record_task(framework, agent_id, role, task, executor_id, resources, &info);
        }
        if let Some(stream) = self.agents.get(agent_id).and_then(|a| a.stream.clone()) {
            let event =
                AgentEvent::RunTaskGroup { framework: Box::new(info), executor: Box::new(executor), task_group };
            self.send_agent(&stream, event);
        }
    }

    /// Each task's resources and the executor's (`None`: it runs on the agent already and
    /// holds them), or why the group is invalid.
    fn validate_group(
        &self,
        fw: &FrameworkEntry,
        agent_id: &AgentId,
        executor: &ExecutorInfo,
        tasks: &[TaskInfo],
        available: &ResourceSet,
    ) -> Result<(Vec<ResourceSet>, Option<ResourceSet>), String> {
        match executor.kind.as_deref() {
            None => return Err("'ExecutorInfo.type' must be set".to_string()),
            Some(DEFAULT_EXECUTOR) => {}
            Some(other) => {
                return Err(format!("Task groups run only with the 'DEFAULT' executor on this cluster, not '{other}'"));
            }
        }
        if validate_id(executor.executor_id.as_str()).is_err() {
            return Err(format!("Executor ID '{}' is invalid", executor.executor_id));
        }
        if executor.framework_id.as_ref() != Some(&fw.id) {
            return Err("ExecutorInfo has an invalid FrameworkID".to_string());
        }
        if executor.command.is_some() {
            return Err("'ExecutorInfo.command' must not be set for 'DEFAULT' executor".to_string());
        }
        if is_docker(executor.container.as_ref()) {
            return Err("Docker ContainerInfo is not supported on the executor".to_string());
        }
        let executor_resources =
            ResourceSet::from_wire(&executor.resources).map_err(|e| format!("Executor uses invalid resources: {e}"))?;
        if tasks.is_empty() {
            return Err("Task group cannot be empty".to_string());
        }
        let mut ids = BTreeSet::new();
        for task in tasks {
            if !ids.insert(&task.task_id) {
                return Err(format!("Duplicate task '{}' in the task group", task.task_id));
            }
        }
        let key = (agent_id.clone(), executor.executor_id.clone());
        let running = fw.live_executors().find(|(k, _)| **k == key).map(|(_, e)| e);
        if let Some(existing) = running
            && existing.info != *executor
        {
            return Err(format!(
                "ExecutorInfo is not compatible with the existing ExecutorInfo of executor '{}'",
                executor.executor_id
            ));
        }
        let mut total = ResourceSet::new();
        let mut each = Vec::with_capacity(tasks.len());
        for task in tasks {
            let resources = self.validate_task(fw, agent_id, task, true)?;
            total.add(&resources);
            each.push(resources);
        }
        let executor_resources = running.is_none().then_some(executor_resources);
        if let Some(r) = &executor_resources {
            total.add(r);
        }
        if !available.contains(&total) {
            return Err(format!(
                "Task group uses more resources {} than available {}",
                serde_json::Value::Object(total.to_flat_json()),
                serde_json::Value::Object(available.to_flat_json())
            ));
        }
        Ok((each, executor_resources))
    }

    /// The master's record of a launched task (TASK_STAGING).
    #[allow(clippy::too_many_arguments)]
    fn record_task(
        &mut self,
        framework: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        task: &TaskInfo,
        executor_id: Option<ExecutorId>,
        resources: ResourceSet,
        info: &FrameworkInfo,
    ) {
        let record = Task {
            name: task.name.clone(),
            task_id: task.task_id.clone(),
            framework_id: framework.clone(),
            executor_id,
            agent_id: agent_id.clone(),
            state: TaskState::Staging,
            resources: task.resources.clone(),
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            container: task.container.clone(),
            health_check: task.health_check.clone(),
            kill_policy: task.kill_policy,
            user: task.command.as_ref().and_then(|c| c.user.clone()).or(Some(info.user.clone())),
        };
        if let Some(fw) = self.frameworks.get_mut(framework) {
            fw.tasks.insert(task.task_id.clone(), TaskEntry { task: record, resources, role: role.to_string() });
        }
    }
}

/// Whether a raw `ContainerInfo` is a Docker one.
fn is_docker(container: Option<&serde_json::Value>) -> bool {
    container.is_some_and(|c| c.get("type").and_then(|t| t.as_str()) == Some("DOCKER") || c.get("docker").is_some())
}
