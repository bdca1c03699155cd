//! Start and recovery: what the core makes of the state a previous run left (see
//! [`Recovery`]).

use super::*;

impl AgentCore {
    pub(super) fn on_start(&mut self, now: Now, recovery: Recovery, out: &mut Vec<Command>) {
        if self.started {
            warn!("ignoring a second Start event");
            return;
        }
        self.started = true;
        self.agent_id = recovery.agent_id.clone();
        for fw in recovery.frameworks {
            if let Some(id) = fw.id.clone() {
                self.frameworks.insert(id, fw);
            }
        }
        for cid in recovery.orphan_containers {
            info!(container_id = %cid, "destroying a container this agent has no checkpoint of");
            out.push(Command::Destroy { container_id: cid });
        }
        if let Some(agent_id) = self.agent_id.clone() {
            for re in recovery.executors {
                let key = (re.framework_id.clone(), re.info.executor_id.clone());
                let directory = self.cfg.layout.sandbox(
                    agent_id.as_str(),
                    re.framework_id.as_str(),
                    key.1.as_str(),
                    &re.container_id,
                );
                let executor = groups::GroupExecutor {
                    info: re.info,
                    container_id: re.container_id,
                    directory,
                    tasks: BTreeSet::new(),
                    completed: Vec::new(),
                    failing: false,
                };
                self.executors.insert(key, executor);
            }
        }
        self.recovering = true;
        for rt in recovery.tasks {
            self.recover_task(now, rt, out);
        }
        self.recovering = false;
        self.recover_groups(now, out);
        self.gc_recovered(now, recovery.sandboxes, out);
        self.connect(out);
    }

    fn recover_task(&mut self, now: Now, rt: RecoveredTask, out: &mut Vec<Command>) {
        let Some(framework) = self.frameworks.get(&rt.framework_id).cloned() else {
            warn!(task_id = %rt.info.task_id, framework_id = %rt.framework_id, "recovered task of an unknown framework; destroying it");
            out.push(Command::Destroy { container_id: rt.container_id });
            return;
        };
        let key = (rt.framework_id.clone(), rt.info.task_id.clone());
        if self.tasks.contains_key(&key) {
            warn!(task_id = %key.1, "task recovered twice; destroying the second container");
            out.push(Command::Destroy { container_id: rt.container_id });
            return;
        }
        if let Some(executor_id) = &rt.executor_id {
            let Some(executor) = self.executors.get_mut(&(rt.framework_id.clone(), executor_id.clone())) else {
                warn!(task_id = %key.1, %executor_id, "recovered task of a task group without its executor; destroying it");
                out.push(Command::Destroy { container_id: rt.container_id });
                return;
            };
            executor.tasks.insert(key.1.clone());
        }
        let spec = self.launch_spec(&framework, &rt.info, &rt.container_id, rt.containerizer, rt.executor_id.as_ref());
        let mut entry = TaskEntry {
            info: rt.info,
            framework_id: rt.framework_id,
            group: rt.executor_id,
            container_id: rt.container_id.clone(),
            checkpoint: true,
            phase: Phase::Gone,
            state: TaskState::Staging,
            statuses: Vec::new(),
            stream: UpdateStream::default(),
            kill: None,
            completion_deadline: None,
            pid: None,
            addresses: rt.addresses,
            spec,
            health: None,
            limitation: None,
            view: std::sync::OnceLock::new(),
        };
        let mut kill_requested = false;
        for record in rt.records {
            match record {
                UpdateRecord::Update(s) => {
                    entry.state = s.state;
                    entry.statuses.push((*s).clone());
                    entry.stream.push(*s);
                }
                UpdateRecord::Ack(uuid) => {
                    if entry.stream.ack(&uuid) == AckOutcome::Ignored {
                        debug!(task_id = %key.1, %uuid, "checkpointed ack matches no pending update");
                    }
                }
                UpdateRecord::Kill => kill_requested = true,
            }
        }
        // The record of a kill does not say why; too many failed health checks (and nothing
        // else) leave exactly that many `healthy: false` updates in a row.
        let kill_cause = if killed_by_health_check(&entry.info, &entry.statuses) {
            KillCause::HealthCheck
        } else {
            KillCause::Request
        };
        info!(
            task_id = %key.1, container_id = %entry.container_id, state = entry.state.name(),
            pending = entry.stream.len(), process = ?rt.process, "recovered task"
        );
        self.containers.insert(entry.container_id.clone(), key.clone());
        self.tasks.insert(key.clone(), entry);
        let state = self.tasks[&key].state;
        // A Docker task's missing container: never made while the task was not known to run,
        // gone behind the agent's back once it ran.
        let process = match rt.process {
            RecoveredProcess::Missing if matches!(state, TaskState::Running | TaskState::Killing) => {
                RecoveredProcess::Unknown
            }
            RecoveredProcess::Missing => RecoveredProcess::NotStarted,
            other => other,
        };
        match process {
            RecoveredProcess::Running { pid } if !state.is_terminal() => {
                if let Some(t) = self.tasks.get_mut(&key) {
                    t.phase = Phase::Launched;
                    t.pid = pid;
                }
                out.push(Command::Reattach { container_id: rt.container_id.clone() });
                if state == TaskState::Staging {
                    self.push_update(now, &key, TaskState::Starting, Source::Executor, None, None, out);
                }
                if matches!(state, TaskState::Staging | TaskState::Starting) && !kill_requested {
                    self.push_running(now, &key, out);
                }
                if kill_requested || state == TaskState::Killing {
                    self.start_kill(now, &key, None, kill_cause, out);
                } else {
                    self.start_health(now, &key);
                }
            }
            RecoveredProcess::Running { .. } => {
                // Terminal already, yet something runs: make sure it does not.
                out.push(Command::Destroy { container_id: rt.container_id });
            }
            RecoveredProcess::Exited(exit) => {
                if !state.is_terminal() {
                    if kill_requested && let Some(t) = self.tasks.get_mut(&key) {
                        t.kill = Some(Kill { deadline: now.mono, escalated: true, cause: kill_cause });
                    }
                    self.push_exit_update(now, &key, exit, out);
                }
                out.push(Command::Destroy { container_id: rt.container_id });
            }
            RecoveredProcess::Unknown if state != TaskState::Staging => {
                if !state.is_terminal() {
                    self.push_update(
                        now,
                        &key,
                        TaskState::Failed,
                        Source::Agent,
                        Some(Reason::ExecutorTerminated),
                        Some("Abnormal executor termination: the task's process is gone".to_string()),
                        out,
                    );
                }
                out.push(Command::Destroy { container_id: rt.container_id });
            }
            RecoveredProcess::Unknown | RecoveredProcess::NotStarted | RecoveredProcess::Missing => {
                if kill_requested && !state.is_terminal() {
                    self.push_update(
                        now,
                        &key,
                        TaskState::Killed,
                        Source::Agent,
                        Some(Reason::TaskKilledDuringLaunch),
                        Some("Task killed before it was launched".to_string()),
                        out,
                    );
                } else if !state.is_terminal() {
                    // As Mesos does for a task its executor never got because the agent
                    // restarted: not a failure of the task, so TASK_DROPPED (TASK_LOST for a
                    // framework that is not partition-aware) with REASON_AGENT_RESTARTED.
                    let never_launched = TaskState::Dropped.for_framework(framework.partition_aware());
                    info!(task_id = %key.1, state = never_launched.name(), "the task's process was never started before the agent restarted");
                    self.push_update(
                        now,
                        &key,
                        never_launched,
                        Source::Agent,
                        Some(Reason::AgentRestarted),
                        Some("Task launched during agent restart".to_string()),
                        out,
                    );
                }
                out.push(Command::Destroy { container_id: rt.container_id });
            }
        }
        self.maybe_complete(now, &key, out);
    }
}
