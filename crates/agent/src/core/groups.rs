//! Task groups (`RUN_TASK_GROUP`, upstream's LAUNCH_GROUP), run as upstream's default executor
//! runs them: all tasks of a group under one executor, whose run directory
//! (`.../executors/<executor>/runs/<container>`, `runs/latest` pointing at it) holds each task's
//! sandbox in `tasks/<task id>`. Each task is a container of its own (cgroups, its own
//! resources, health checks, kill policy) launched as a command task is, and its updates carry
//! the executor's id. The default executor's rule: when a task ends in any state but
//! TASK_FINISHED, every other task of the group that has not ended is killed (each with its
//! kill policy's grace), so one failed or killed task ends the group; a finished task leaves
//! the others running. The executor's run directory is garbage collected once all its tasks
//! completed.

use super::*;

/// A task group's executor here.
#[derive(Debug, Clone)]
pub(super) struct GroupExecutor {
    pub(super) info: ExecutorInfo,
    /// The executor's container: the name of its run directory.
    pub(super) container_id: String,
    /// Its run directory (the tasks' sandboxes are in `tasks/`).
    pub(super) directory: PathBuf,
    /// Its tasks that have not completed yet.
    pub(super) tasks: BTreeSet<TaskId>,
    /// Its tasks that completed (for `/state`).
    pub(super) completed: Vec<Arc<TaskView>>,
    /// A task of the group ended in a state other than TASK_FINISHED: the others are killed.
    pub(super) failing: bool,
}

/// A task group's executor as `/state` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorView {
    pub framework_id: FrameworkId,
    pub info: ExecutorInfo,
    pub container_id: String,
    pub directory: PathBuf,
    /// The executor's resources and its live tasks' (upstream's allocated resources).
    pub resources: Vec<Resource>,
    pub tasks: Vec<Arc<TaskView>>,
    pub completed_tasks: Vec<Arc<TaskView>>,
}

type ExecutorKey = (FrameworkId, ExecutorId);

impl AgentCore {
    /// The executor id a task's updates and checkpoint records carry: its group's, else its
    /// own id (a command task's command executor).
    pub(super) fn executor_id_of(&self, key: &TaskKey) -> ExecutorId {
        match self.tasks.get(key).and_then(|t| t.group.clone()) {
            Some(executor_id) => executor_id,
            None => ExecutorId::new(key.1.value.clone()),
        }
    }

    pub(super) fn run_task_group(
        &mut self,
        now: Now,
        framework: FrameworkInfo,
        executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
        out: &mut Vec<Command>,
    ) {
        let ids_valid = mesos_api::validate_id(executor.executor_id.as_str()).is_ok()
            && tasks.iter().all(|t| mesos_api::validate_id(t.task_id.as_str()).is_ok());
        if !ids_valid {
            // Ids end up in paths; the master validates them, so this is a protocol error.
            warn!(executor_id = %executor.executor_id, "RUN_TASK_GROUP with an invalid id ignored");
            return;
        }
        let Some(framework_id) = self.admit_framework(&framework, out) else { return };
        let ekey = (framework_id.clone(), executor.executor_id.clone());
        let tasks: Vec<TaskInfo> = tasks
            .into_iter()
            .filter(|t| {
                let here = self.tasks.contains_key(&(framework_id.clone(), t.task_id.clone()));
                if here {
                    warn!(task_id = %t.task_id, "RUN_TASK_GROUP for a task that is already here: that task ignored");
                }
                !here
            })
            .collect();
        if tasks.is_empty() {
            return;
        }
        let shutting_down = match self.executors.get(&ekey) {
            Some(running) => {
                info!(executor_id = %ekey.1, tasks = tasks.len(), "tasks join the running executor of their task group");
                running.failing
            }
            None => {
                let Some(agent_id) = self.agent_id.clone() else { return };
                let container_id = self.new_uuid().hyphenated().to_string();
                let directory =
                    self.cfg.layout.sandbox(agent_id.as_str(), framework_id.as_str(), ekey.1.as_str(), &container_id);
                info!(executor_id = %ekey.1, framework_id = %ekey.0, %container_id, tasks = tasks.len(), "starting the executor of a task group");
                if framework.checkpoint {
                    let run = ExecutorRun {
                        agent_id,
                        framework_id: framework_id.clone(),
                        executor_id: ekey.1.clone(),
                        container_id: container_id.clone(),
                    };
                    out.push(Command::Checkpoint(Checkpoint::Executor { run, info: Box::new(executor.clone()) }));
                }
                let entry = GroupExecutor {
                    info: executor,
                    container_id,
                    directory,
                    tasks: BTreeSet::new(),
                    completed: Vec::new(),
                    failing: false,
                };
                self.executors.insert(ekey.clone(), entry);
                false
            }
        };
        let mut added = Vec::with_capacity(tasks.len());
        for task in tasks {
            let key = (framework_id.clone(), task.task_id.clone());
            let failure = self.add_task(&framework, task, Some(&ekey.1), out);
            added.push((key, failure));
        }
        // As the master does, the agent runs a group whole or not at all: what it cannot run
        // of one task fails every task of the group.
        let group_failure = if shutting_down {
            Some("the executor of this task group is shutting down: a task of the group ended".to_string())
        } else {
            added.iter().find_map(|(key, failure)| {
                failure.as_ref().map(|f| format!("Task '{}' of the task group cannot run here: {f}", key.1))
            })
        };
        if group_failure.is_some() {
            // None of them starts: none is killed by another's failure.
            for (key, _) in &added {
                if let Some(t) = self.tasks.get_mut(key) {
                    t.phase = Phase::Gone;
                }
            }
        }
        for (key, _) in added {
            match &group_failure {
                Some(message) => self.push_update(
                    now,
                    &key,
                    TaskState::Failed,
                    Source::Agent,
                    Some(Reason::ContainerLaunchFailed),
                    Some(message.clone()),
                    out,
                ),
                None => self.start_task(now, &key, None, out),
            }
        }
    }

    /// A task of the group ended in a state other than TASK_FINISHED: every other task of the
    /// group that has not ended is killed (each with its own kill policy).
    pub(super) fn kill_rest_of_group(&mut self, now: Now, ekey: &ExecutorKey, out: &mut Vec<Command>) {
        let Some(executor) = self.executors.get_mut(ekey) else { return };
        if !executor.failing {
            info!(executor_id = %ekey.1, "a task of the task group did not finish: killing the others");
        }
        executor.failing = true;
        let rest: Vec<TaskKey> = executor
            .tasks
            .iter()
            .map(|id| (ekey.0.clone(), id.clone()))
            .filter(|k| self.tasks.get(k).is_some_and(|t| !t.state.is_terminal() && t.kill.is_none()))
            .collect();
        for key in rest {
            self.start_kill(now, &key, None, KillCause::Request, out);
        }
    }

    /// SHUTDOWN of a task group's executor: all its tasks are killed.
    pub(super) fn shutdown_group(&mut self, now: Now, ekey: &ExecutorKey, out: &mut Vec<Command>) {
        info!(framework_id = %ekey.0, executor_id = %ekey.1, "shutting down the executor of a task group");
        let grace = KillPolicy { grace_period: Some(duration_info(self.cfg.executor_shutdown_grace)) };
        let tasks: Vec<TaskKey> = self
            .executors
            .get(ekey)
            .map(|e| e.tasks.iter().map(|id| (ekey.0.clone(), id.clone())).collect())
            .unwrap_or_default();
        for key in tasks {
            self.start_kill(now, &key, Some(grace), KillCause::Request, out);
        }
    }

    /// A task of the group completed (ended, every update acknowledged); the executor
    /// completes with its last task, and its run directory is scheduled for removal.
    pub(super) fn group_task_completed(
        &mut self,
        now: Now,
        ekey: &ExecutorKey,
        task_id: &TaskId,
        view: Arc<TaskView>,
        out: &mut Vec<Command>,
    ) {
        let Some(executor) = self.executors.get_mut(ekey) else { return };
        executor.tasks.remove(task_id);
        executor.completed.push(view);
        if !self.recovering {
            self.complete_executor_if_idle(now, ekey, out);
        }
    }

    /// Completes the executor if it has no task left.
    pub(super) fn complete_executor_if_idle(&mut self, now: Now, ekey: &ExecutorKey, out: &mut Vec<Command>) {
        if self.executors.get(ekey).is_none_or(|e| !e.tasks.is_empty()) {
            return;
        }
        let Some(executor) = self.executors.remove(ekey) else { return };
        info!(framework_id = %ekey.0, executor_id = %ekey.1, "the executor of a task group completed");
        self.gc_completed(now, &executor.directory, out);
        let view = Arc::new(self.executor_view(&ekey.0, &executor, &self.agent_id.clone().unwrap_or_default()));
        let list = self.completed_executors.entry(ekey.0.clone()).or_default();
        list.push_back(view);
        while list.len() > MAX_COMPLETED_PER_FRAMEWORK {
            list.pop_front();
        }
    }

    /// After recovery: executors left without tasks complete, and a group with a task that
    /// ended in a state other than TASK_FINISHED has its other tasks killed.
    pub(super) fn recover_groups(&mut self, now: Now, out: &mut Vec<Command>) {
        let keys: Vec<ExecutorKey> = self.executors.keys().cloned().collect();
        for ekey in keys {
            let failed = self.executors.get(&ekey).is_some_and(|e| {
                e.failing
                    || e.completed.iter().any(|v| v.task.state != TaskState::Finished)
                    || e.tasks.iter().any(|id| {
                        self.tasks
                            .get(&(ekey.0.clone(), id.clone()))
                            .is_some_and(|t| t.state.is_terminal() && t.state != TaskState::Finished)
                    })
            });
            if failed {
                self.kill_rest_of_group(now, &ekey, out);
            }
            self.complete_executor_if_idle(now, &ekey, out);
        }
    }

    pub(super) fn executor_view(
        &self,
        framework_id: &FrameworkId,
        e: &GroupExecutor,
        agent_id: &AgentId,
    ) -> ExecutorView {
        let mut resources = ResourceSet::from_wire(&e.info.resources).unwrap_or_default();
        let mut tasks = Vec::new();
        for id in &e.tasks {
            let Some(t) = self.tasks.get(&(framework_id.clone(), id.clone())) else { continue };
            if !t.state.is_terminal() {
                resources.add(&ResourceSet::from_wire(&t.info.resources).unwrap_or_default());
            }
            tasks.push(t.view.get_or_init(|| Arc::new(self.task_view(t, agent_id))).clone());
        }
        ExecutorView {
            framework_id: framework_id.clone(),
            info: e.info.clone(),
            container_id: e.container_id.clone(),
            directory: e.directory.clone(),
            resources: resources.to_wire(),
            tasks,
            completed_tasks: e.completed.clone(),
        }
    }

    pub(super) fn executor_views(&self, agent_id: &AgentId) -> Vec<Arc<ExecutorView>> {
        self.executors.iter().map(|((f, _), e)| Arc::new(self.executor_view(f, e, agent_id))).collect()
    }

    /// The executors of the reported tasks' groups, for a (re-)registration.
    pub(super) fn reported_executors(&self, tasks: &[ReportedTask]) -> Vec<ReportedExecutor> {
        let keys: BTreeSet<ExecutorKey> =
            tasks.iter().filter_map(|t| t.task.executor_id.clone().map(|e| (t.task.framework_id.clone(), e))).collect();
        keys.into_iter()
            .filter_map(|k| {
                let e = self.executors.get(&k)?;
                Some(ReportedExecutor { framework_id: k.0, executor: e.info.clone() })
            })
            .collect()
    }
}
