//! Taking tasks in: a RUN_TASK's framework and task, checkpointed before anything runs, and
//! what the shell needs to start a task's container ([`LaunchSpec`]: its sandbox, command,
//! environment, limits and user). Task groups use the same steps (see `core::groups`).

use super::*;

impl AgentCore {
    /// The framework of a RUN_TASK or RUN_TASK_GROUP: checked (its id ends up in paths),
    /// checkpointed if it checkpoints and changed, and known from now on. `None`: the event
    /// is ignored.
    pub(super) fn admit_framework(&mut self, framework: &FrameworkInfo, out: &mut Vec<Command>) -> Option<FrameworkId> {
        let agent_id = self.agent_id.clone()?;
        let Some(framework_id) = framework.id.clone() else {
            warn!("a launch without a framework id ignored");
            return None;
        };
        if let Err(e) = mesos_api::validate_id(framework_id.as_str()) {
            // The master validates ids, so this is a protocol error.
            warn!(%framework_id, error = %e, "a launch with an invalid framework id ignored");
            return None;
        }
        self.shut_down_frameworks.remove(&framework_id);
        if framework.checkpoint && self.frameworks.get(&framework_id) != Some(framework) {
            out.push(Command::Checkpoint(Checkpoint::Framework { agent_id, info: Box::new(framework.clone()) }));
        }
        if self.frameworks.insert(framework_id.clone(), framework.clone()).is_some_and(|old| old.user != framework.user)
        {
            // Views show the framework's user.
            self.touch_all();
        }
        Some(framework_id)
    }

    pub(super) fn run_task(&mut self, now: Now, framework: FrameworkInfo, task: TaskInfo, out: &mut Vec<Command>) {
        let Some(framework_id) = self.admit_framework(&framework, out) else { return };
        if let Err(e) = mesos_api::validate_id(task.task_id.as_str()) {
            warn!(task_id = %task.task_id, error = %e, "RUN_TASK with an invalid id ignored");
            return;
        }
        let key = (framework_id, task.task_id.clone());
        if self.tasks.contains_key(&key) {
            warn!(task_id = %key.1, "RUN_TASK for a task that is already here ignored");
            return;
        }
        let failure = self.add_task(&framework, task, None, out);
        self.start_task(now, &key, failure, out);
    }

    /// Takes a task in (STAGING, its info checkpointed first), as a task of the task group of
    /// executor `group` (which must be in [`AgentCore::executors`]) or on its own. Returns
    /// why it cannot run here, if it cannot.
    pub(super) fn add_task(
        &mut self,
        framework: &FrameworkInfo,
        task: TaskInfo,
        group: Option<&ExecutorId>,
        out: &mut Vec<Command>,
    ) -> Option<String> {
        let framework_id = framework.id.clone().unwrap_or_default();
        let key = (framework_id.clone(), task.task_id.clone());
        let checkpoint = framework.checkpoint;
        let container_id = self.new_uuid().hyphenated().to_string();
        let containerizer = self.containerizer_for(&task);
        let kind = containerizer.as_ref().map_or(ContainerizerKind::Mesos, |k| *k);
        let spec = self.launch_spec(framework, &task, &container_id, kind, group);
        self.gc_keep_executor_of(spec.executor_sandbox.as_ref().unwrap_or(&spec.sandbox));
        let failure = if task.executor.is_some() {
            Some("custom executors are not supported by this agent yet".to_string())
        } else if let Err(e) = containerizer {
            Some(e)
        } else if group.is_some() && kind == ContainerizerKind::Docker {
            Some("a task of a task group cannot run in a Docker container (DOCKER ContainerInfo): the default executor runs its tasks with the Mesos containerizer".to_string())
        } else if kind == ContainerizerKind::Mesos && task.command.as_ref().and_then(|c| c.value.as_ref()).is_none() {
            Some("the task has no command to run".to_string())
        } else {
            None
        };
        let entry = TaskEntry {
            info: task.clone(),
            framework_id: framework_id.clone(),
            group: group.cloned(),
            container_id: container_id.clone(),
            checkpoint,
            phase: Phase::Preparing,
            state: TaskState::Staging,
            statuses: Vec::new(),
            stream: UpdateStream::default(),
            kill: None,
            completion_deadline: None,
            pid: None,
            addresses: Vec::new(),
            spec,
            health: None,
            limitation: None,
            view: std::sync::OnceLock::new(),
        };
        info!(task_id = %key.1, framework_id = %key.0, %container_id, containerizer = kind.name(), executor_id = ?group.map(|e| e.as_str()), "launching task");
        self.tasks.insert(key.clone(), entry);
        self.containers.insert(container_id, key.clone());
        if let Some(executor) = group.and_then(|e| self.executors.get_mut(&(framework_id, e.clone()))) {
            executor.tasks.insert(key.1.clone());
        }
        if checkpoint {
            out.push(Command::Checkpoint(Checkpoint::Task {
                run: self.run_path(&key),
                info: Box::new(task),
                containerizer: kind,
                group: group.is_some(),
            }));
        }
        failure
    }

    /// Starts preparing a task taken in with [`AgentCore::add_task`], or fails it (TASK_FAILED
    /// with `failure`). A task that ended meanwhile is left alone.
    pub(super) fn start_task(&mut self, now: Now, key: &TaskKey, failure: Option<String>, out: &mut Vec<Command>) {
        let Some(t) = self.tasks.get_mut(key) else { return };
        if t.state.is_terminal() {
            return;
        }
        if let Some(message) = failure {
            t.phase = Phase::Gone;
            self.push_update(
                now,
                key,
                TaskState::Failed,
                Source::Agent,
                Some(Reason::ContainerLaunchFailed),
                Some(message),
                out,
            );
            return;
        }
        out.push(Command::Prepare(Box::new(t.spec.clone())));
    }

    pub(super) fn launch_spec(
        &self,
        framework: &FrameworkInfo,
        task: &TaskInfo,
        container_id: &str,
        containerizer: ContainerizerKind,
        group: Option<&ExecutorId>,
    ) -> LaunchSpec {
        let agent_id = self.agent_id.clone().unwrap_or_default();
        let framework_id = framework.id.clone().unwrap_or_default();
        // A task of a task group has its sandbox in its executor's (upstream's layout).
        let executor_sandbox =
            group.and_then(|e| self.executors.get(&(framework_id.clone(), e.clone()))).map(|e| e.directory.clone());
        let sandbox = match &executor_sandbox {
            Some(dir) => dir.join("tasks").join(task.task_id.as_str()),
            None => {
                self.cfg.layout.sandbox(agent_id.as_str(), framework_id.as_str(), task.task_id.as_str(), container_id)
            }
        };
        let executor_id = group.map_or(task.task_id.as_str(), ExecutorId::as_str);
        let default_command = CommandInfo {
            uris: Vec::new(),
            environment: None,
            shell: true,
            value: None,
            arguments: Vec::new(),
            user: None,
        };
        let command = task.command.as_ref().unwrap_or(&default_command);
        let line = if command.shell {
            CommandLine::Shell(command.value.clone().unwrap_or_default())
        } else {
            CommandLine::Exec { value: command.value.clone().unwrap_or_default(), arguments: command.arguments.clone() }
        };
        let resources = ResourceSet::from_wire(&task.resources).unwrap_or_default();
        let limits = self.cfg.cgroups.then(|| cgroup_limits(&resources));
        let sandbox_text = sandbox.display().to_string();
        let mut env: Vec<(String, String)> = vec![
            ("MESOS_FRAMEWORK_ID".into(), framework_id.value.clone()),
            ("MESOS_EXECUTOR_ID".into(), executor_id.to_string()),
            ("MESOS_DIRECTORY".into(), sandbox_text.clone()),
            ("MESOS_SANDBOX".into(), sandbox_text),
            ("MESOS_AGENT_ENDPOINT".into(), self.cfg.endpoint.clone()),
            ("MESOS_SLAVE_ID".into(), agent_id.value.clone()),
            ("MESOS_SLAVE_PID".into(), format!("slave(1)@{}", self.cfg.endpoint)),
            ("MESOS_CHECKPOINT".into(), if framework.checkpoint { "1" } else { "0" }.into()),
            ("MESOS_HTTP_COMMAND_EXECUTOR".into(), "0".into()),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
                mesos_api::duration::format(self.cfg.executor_shutdown_grace),
            ),
            ("LIBPROCESS_PORT".into(), "0".into()),
            ("MESOS_TASK_ID".into(), task.task_id.value.clone()),
            ("MESOS_ALLOCATION_ROLE".into(), allocation_role(framework, &task.resources)),
        ];
        if framework.checkpoint {
            env.push(("MESOS_RECOVERY_TIMEOUT".into(), "15mins".into()));
            env.push(("MESOS_SUBSCRIPTION_BACKOFF_MAX".into(), "2secs".into()));
        }
        let docker =
            (containerizer == ContainerizerKind::Docker).then(|| Box::new(docker_launch(&agent_id, task, &env)));
        if let Some(vars) = &command.environment {
            for v in &vars.variables {
                if v.kind.as_deref().is_none_or(|k| k == "VALUE") {
                    env.push((v.name.clone(), v.value.clone().unwrap_or_default()));
                }
            }
        }
        LaunchSpec {
            container_id: container_id.to_string(),
            framework_id,
            task_id: task.task_id.clone(),
            sandbox,
            executor_sandbox,
            uris: command.uris.clone(),
            command: line,
            env,
            limits,
            // A Docker task runs as its image says.
            user: docker.is_none().then(|| self.task_user(framework, task)).flatten(),
            docker,
        }
    }

    /// The user a task runs as: its command's, else its framework's (as the views show it),
    /// with `--switch_user`; `None` for the agent's own user (named by `cfg.agent_user`: no
    /// switch, no lookup).
    pub(super) fn task_user(&self, framework: &FrameworkInfo, task: &TaskInfo) -> Option<String> {
        let user = task.command.as_ref().and_then(|c| c.user.clone()).unwrap_or_else(|| framework.user.clone());
        let own = self.cfg.agent_user.as_deref() == Some(user.as_str());
        (self.cfg.switch_user && !user.is_empty() && !own).then_some(user)
    }
}
