//! Agents: registration (waiting for the registry when it changes), status updates, failure
//! detection, and the recovery of the agents a restarted master expects back.

use super::*;

/// A REGISTER whose answer waits for the registry.
#[derive(Debug, Clone)]
pub(super) struct PendingRegistration {
    /// The registry version that must be durable first.
    version: u64,
    stream: StreamId,
    id: AgentId,
    agent_info: AgentInfo,
    endpoint: String,
    tasks: Vec<mesos_api::agent::ReportedTask>,
    executors: Vec<mesos_api::agent::ReportedExecutor>,
    /// The registry had the agent as unreachable when it registered.
    was_unreachable: bool,
    /// The principal it authenticated as: its id is bound to it.
    principal: Option<String>,
}

impl MasterCore {
    /// An agent opened its stream with REGISTER. The agent is admitted in the registry (or its
    /// details updated there) and answered once that is durable; one the registry already
    /// holds as it is (an agent coming back after a master restart) is answered at once.
    /// Returns the agent's id (new for an agent without one).
    pub fn agent_register(&mut self, now: Now, stream: StreamId, register: Register) -> AgentId {
        self.agent_register_as(now, stream, register, None)
    }

    /// [`Self::agent_register`] of an agent that authenticated as `principal` (checked first
    /// with [`Self::authorize_agent_register`]): its id is bound to the principal.
    pub fn agent_register_as(
        &mut self,
        now: Now,
        stream: StreamId,
        register: Register,
        principal: Option<String>,
    ) -> AgentId {
        let Register { mut agent_info, agent_id, tasks, executors, endpoint } = register;
        let id = agent_id.filter(|id| !id.value.is_empty()).unwrap_or_else(|| {
            let id = AgentId::new(format!("{}-S{}", self.config.master_info.id, self.next_agent));
            self.next_agent += 1;
            id
        });
        agent_info.id = Some(id.clone());
        if self.registry.gone.contains_key(&id) {
            tracing::warn!(agent = %id, "refusing the registration of an agent marked gone");
            self.send_agent(&stream, AgentEvent::Shutdown { message: "Agent has been marked gone".to_string() });
            self.outputs.push(Output::CloseAgent { stream });
            return id;
        }
        // A newer REGISTER of the same agent replaces one still waiting.
        let (replaced, pending): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_registrations).into_iter().partition(|p| p.id == id);
        self.pending_registrations = pending;
        for old in replaced {
            self.outputs.push(Output::CloseAgent { stream: old.stream });
        }
        let registration = PendingRegistration {
            version: 0,
            stream,
            id: id.clone(),
            agent_info,
            endpoint,
            tasks,
            executors,
            was_unreachable: self.registry.unreachable.contains_key(&id),
            principal,
        };
        self.admit(now, registration);
        id
    }

    /// Admits a registering agent in the registry, then completes its registration, or holds it
    /// until the registry version it needs is durable.
    fn admit(&mut self, now: Now, mut registration: PendingRegistration) {
        // Marked unreachable while it waited: it comes back from there.
        registration.was_unreachable |= self.registry.unreachable.contains_key(&registration.id);
        let admitted = AdmittedAgent { info: registration.agent_info.clone(), endpoint: registration.endpoint.clone() };
        let admitted = self.registry.admit(admitted);
        let bound = registration.principal.as_ref().is_some_and(|p| self.registry.bind(&registration.id, p));
        if admitted || bound {
            self.registry_changed(&registration.id);
        }
        // What the registry says of this agent must be durable, whoever changed it.
        registration.version = self.agent_changes.get(&registration.id).copied().unwrap_or_default();
        if registration.version > self.stored_version {
            tracing::debug!(agent = %registration.id, version = registration.version, "registration waits for the registry");
            self.pending_registrations.push(registration);
        } else {
            self.complete_registration(now, registration);
        }
    }

    /// The shell stored registry `version` (and every earlier one): registrations and outputs
    /// that waited for it go ahead.
    pub fn registry_stored(&mut self, now: Now, version: u64) {
        self.stored_version = self.stored_version.max(version);
        let stored = self.stored_version;
        self.agent_changes.retain(|_, v| *v > stored);
        while self.held.front().is_some_and(|(v, _)| *v <= self.stored_version) {
            let Some((_, output)) = self.held.pop_front() else { break };
            if let Output::Framework { stream, .. } = &output
                && let Some(fw) = self.framework_streams.get(stream).and_then(|id| self.frameworks.get_mut(id))
                && fw.trailing_heartbeat.is_none()
            {
                fw.trailing_heartbeat = Some(now.mono + TRAILING_HEARTBEAT_DELAY);
            }
            self.outputs.push(output);
        }
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_registrations).into_iter().partition(|p| p.version <= self.stored_version);
        self.pending_registrations = waiting;
        for registration in ready {
            self.admit(now, registration);
        }
        self.subscriptions_stored(now);
    }

    /// The registry entry of `agent` changed: a new version.
    fn registry_changed(&mut self, agent: &AgentId) {
        self.registry_version += 1;
        self.agent_changes.insert(agent.clone(), self.registry_version);
    }

    /// Holds the outputs made since `first` until the registry's entry of `agent` is durable.
    fn hold_outputs_since(&mut self, first: usize, agent: &AgentId) {
        let version = self.agent_changes.get(agent).copied().unwrap_or_default();
        self.hold_outputs_until(first, version);
    }

    /// Holds the outputs made since `first` until registry `version` is durable.
    fn hold_outputs_until(&mut self, first: usize, version: u64) {
        if version <= self.stored_version {
            return;
        }
        for output in self.outputs.drain(first..) {
            self.held.push_back((version, output));
        }
    }

    fn registration_pending(&self, id: &AgentId) -> bool {
        self.pending_registrations.iter().any(|p| &p.id == id)
    }

    /// The registry is durable for this agent: it becomes active with the tasks it reported.
    fn complete_registration(&mut self, now: Now, registration: PendingRegistration) {
        let PendingRegistration { stream, id, agent_info, endpoint, tasks, executors, was_unreachable, .. } =
            registration;
        let total = match ResourceSet::from_wire(&agent_info.resources) {
            Ok(total) => total,
            Err(e) => {
                tracing::warn!(error = %e, "agent reported invalid resources; registering it with none");
                ResourceSet::new()
            }
        };
        let was_recovered = self.recovered.remove(&id).is_some();
        if was_recovered {
            tracing::info!(agent = %id, hostname = %agent_info.hostname, left = self.recovered.len(), "agent from the registry reregistered");
        }
        let previous = self.agents.get(&id).map(|a| (a.stream.clone(), a.registered_time));
        if let Some((Some(old), _)) = &previous {
            self.agent_streams.remove(old);
            self.outputs.push(Output::CloseAgent { stream: old.clone() });
        }
        self.agents.insert(
            id.clone(),
            AgentEntry {
                info: agent_info,
                id: id.clone(),
                endpoint,
                stream: Some(stream.clone()),
                state: AgentState::Active,
                total,
                registered_time: previous.as_ref().map_or(now.wall, |p| p.1),
                reregistered_time: previous.as_ref().map(|_| now.wall),
                unreachable_time: None,
                pending_pong: false,
                missed_pings: 0,
            },
        );
        self.agent_streams.insert(stream.clone(), id.clone());

        // Rebuild the task table from the agent's report.
        let mut kill_tasks = Vec::new();
        let reported: BTreeSet<(FrameworkId, TaskId)> =
            tasks.iter().map(|t| (t.task.framework_id.clone(), t.task.task_id.clone())).collect();
        for reported_task in tasks {
            let task = reported_task.task;
            let fw_id = task.framework_id.clone();
            if self.completed_frameworks.iter().any(|f| f.id == fw_id) {
                kill_tasks.push(task.task_id.clone());
                continue;
            }
            if !self.frameworks.contains_key(&fw_id) {
                // The master restarted: learn the framework from the agent; it will resubscribe.
                let mut info = reported_task.framework;
                info.id = Some(fw_id.clone());
                self.frameworks.insert(
                    fw_id.clone(),
                    FrameworkEntry {
                        info,
                        id: fw_id.clone(),
                        stream: None,
                        registered_time: now.wall,
                        reregistered_time: None,
                        unregistered_time: None,
                        disconnected_at: Some(now.mono),
                        tasks: BTreeMap::new(),
                        executors: BTreeMap::new(),
                        completed_tasks: VecDeque::new(),
                        suppressed_roles: BTreeSet::new(),
                        filters: Vec::new(),
                        acknowledged: AckLog::default(),
                        next_heartbeat: now.mono,
                        trailing_heartbeat: None,
                        recovered: true,
                    },
                );
            }
            let Some(fw) = self.frameworks.get_mut(&fw_id) else { continue };
            let pa = fw.info.partition_aware();
            if was_unreachable && !pa && !task.state.is_terminal() {
                // The framework already saw this task LOST; Mesos kills such tasks.
                kill_tasks.push(task.task_id.clone());
                fw.tasks.remove(&task.task_id);
                continue;
            }
            let resources = ResourceSet::from_wire(&task.resources).unwrap_or_default();
            let role = fw.info.role.clone();
            let reregistered_state = task.state;
            let known_before = fw.tasks.get(&task.task_id).map(|t| t.task.state);
            fw.tasks.insert(task.task_id.clone(), TaskEntry { task: task.clone(), resources, role });
            if was_unreachable && pa && known_before.is_some() && !reregistered_state.is_terminal() {
                let mut s = TaskStatus::new(task.task_id.clone(), reregistered_state);
                s.source = Some(Source::Master);
                s.reason = Some(Reason::AgentReregistered);
                s.message = Some("Agent reregistered".to_string());
                s.agent_id = Some(id.clone());
                s.executor_id = task.executor_id.clone();
                s.timestamp = Some(now.wall);
                self.send_to_framework(now, &fw_id, Event::update(s));
            }
        }
        // The executors of the task groups it reported hold their resources again (a master
        // that restarted learns them here).
        for reported in executors {
            let Some(fw) = self.frameworks.get_mut(&reported.framework_id) else { continue };
            let resources = ResourceSet::from_wire(&reported.executor.resources).unwrap_or_default();
            let key = (id.clone(), reported.executor.executor_id.clone());
            let role = fw.executors.get(&key).map_or_else(|| fw.info.role.clone(), |e| e.role.clone());
            fw.executors.insert(key, ExecutorEntry { info: reported.executor, resources, role });
        }
        // Tasks the master placed on this agent that the agent does not know were lost in
        // flight (e.g. launched while the agent restarted).
        let mut lost = Vec::new();
        for fw in self.frameworks.values_mut() {
            let missing: Vec<TaskId> = fw
                .tasks
                .values()
                .filter(|t| t.task.agent_id == id && !reported.contains(&(fw.id.clone(), t.task.task_id.clone())))
                .filter(|t| previous.is_some() && !t.task.state.is_terminal())
                .map(|t| t.task.task_id.clone())
                .collect();
            for task_id in missing {
                if let Some(t) = fw.tasks.remove(&task_id) {
                    lost.push((fw.id.clone(), fw.info.partition_aware(), t.task));
                }
            }
        }
        for fw in self.frameworks.values_mut() {
            fw.prune_executors();
        }
        for (fw_id, pa, task) in lost {
            let mut s = TaskStatus::new(task.task_id.clone(), TaskState::Gone.for_framework(pa));
            s.source = Some(Source::Master);
            s.reason = Some(Reason::AgentRestarted);
            s.message = Some("Task is unknown to the agent".to_string());
            s.agent_id = Some(id.clone());
            s.timestamp = Some(now.wall);
            self.send_to_framework(now, &fw_id, Event::update(s));
        }
        let registered = Registered {
            agent_id: id.clone(),
            master_info: self.config.master_info.clone(),
            ping_interval_seconds: self.config.agent_ping_timeout.as_secs_f64(),
            kill_tasks,
        };
        self.send_agent(&stream, AgentEvent::Registered { registered: Box::new(registered) });
        self.next_allocation = now.mono;
        if was_recovered {
            self.answer_deferred_reconciliation(now, &[id]);
        }
    }

    /// Answers the explicit reconciliations left unanswered while `agents` were expected back
    /// (they are back now, or marked unreachable), and those without an agent id once no agent
    /// is expected any more.
    pub(super) fn answer_deferred_reconciliation(&mut self, now: Now, agents: &[AgentId]) {
        let all_back = self.recovered.is_empty();
        let mut due: BTreeMap<FrameworkId, Vec<mesos_api::scheduler::ReconcileTask>> = BTreeMap::new();
        self.deferred_reconciliation.retain(|(agent, framework, task)| {
            let ready = match agent {
                Some(agent) => agents.contains(agent),
                None => all_back,
            };
            if ready {
                let task = mesos_api::scheduler::ReconcileTask { task_id: task.clone(), agent_id: agent.clone() };
                due.entry(framework.clone()).or_default().push(task);
            }
            !ready
        });
        for (framework, tasks) in due {
            self.reconcile(now, &framework, Reconcile { tasks });
        }
    }

    /// A call from an agent on its current stream.
    pub fn agent_call(&mut self, now: Now, stream: Option<&str>, call: AgentCall) -> Result<(), Rejection> {
        let stream = stream.ok_or_else(|| reject(400, "Missing 'Mesos-Stream-Id' header"))?;
        let agent_id = self.agent_streams.get(stream).cloned().ok_or_else(|| reject(403, "Agent is not registered"))?;
        match call {
            AgentCall::Register { .. } => return Err(reject(400, "REGISTER must open a new stream")),
            AgentCall::Pong { .. } => {
                if let Some(a) = self.agents.get_mut(&agent_id) {
                    a.pending_pong = false;
                    a.missed_pings = 0;
                }
            }
            AgentCall::StatusUpdate { status_update } => self.status_update(now, &agent_id, status_update),
            AgentCall::StatusUpdates { status_updates } => {
                for update in status_updates {
                    self.status_update(now, &agent_id, update);
                }
            }
            AgentCall::ExecutorMessage { framework_id, executor_id, data } => {
                let event = Event::Message {
                    message: mesos_api::scheduler::MessageEvent { agent_id: agent_id.clone(), executor_id, data },
                };
                self.send_to_framework(now, &framework_id, event);
            }
        }
        Ok(())
    }

    fn status_update(&mut self, now: Now, agent_id: &AgentId, update: StatusUpdate) {
        let StatusUpdate { framework_id, mut status, latest_state } = update;
        status.agent_id = Some(agent_id.clone());
        let Some(fw) = self.frameworks.get_mut(&framework_id) else {
            self.counters.invalid_status_updates += 1;
            return;
        };
        // Only the agent a task runs on speaks for it: an update from any other is forged (or
        // confused) and goes nowhere.
        if let Some(owner) = task_agent(fw, &status.task_id)
            && owner != agent_id
        {
            tracing::warn!(agent = %agent_id, task = %status.task_id, owner = %owner, "dropping a status update for a task of another agent");
            self.counters.invalid_status_updates += 1;
            return;
        }
        self.counters.valid_status_updates += 1;
        if let Some(uuid) = &status.uuid
            && fw.acknowledged.contains(&status.task_id, uuid)
        {
            // A resend of an update the framework already acknowledged.
            let ack = AgentEvent::Acknowledge { framework_id, task_id: status.task_id, uuid: uuid.clone() };
            if let Some(stream) = self.agents.get(agent_id).and_then(|a| a.stream.clone()) {
                self.send_agent(&stream, ack);
            }
            return;
        }
        if let Some(t) = fw.tasks.get_mut(&status.task_id) {
            t.task.state = latest_state;
            t.task.status_update_state = Some(status.state);
            t.task.status_update_uuid = status.uuid.clone();
            let mut recorded = status.clone();
            recorded.data = None;
            t.task.statuses.push(recorded);
            // Keep the history bounded: the first and the latest matter.
            if t.task.statuses.len() > 32 {
                t.task.statuses.remove(1);
            }
            if latest_state.is_terminal()
                && status.uuid.is_none()
                && let Some(t) = fw.tasks.remove(&status.task_id)
            {
                push_completed(&mut fw.completed_tasks, t.task, self.config.max_completed_tasks_per_framework);
            }
            if latest_state.is_terminal() {
                // The last task of a task group's executor ended: its resources are free.
                fw.prune_executors();
                self.next_allocation = self.next_allocation.min(now.mono);
            }
        }
        self.send_to_framework(now, &framework_id, Event::update(status));
    }

    /// An agent's stream closed.
    pub fn agent_disconnected(&mut self, now: Now, stream: &str) {
        // A registration that waited for the registry is dropped (the admission stays).
        self.pending_registrations.retain(|p| p.stream != stream);
        let Some(agent_id) = self.agent_streams.remove(stream) else { return };
        let Some(agent) = self.agents.get_mut(&agent_id) else { return };
        if agent.stream.as_deref() != Some(stream) {
            return;
        }
        agent.stream = None;
        if agent.state == AgentState::Active {
            agent.state = AgentState::Disconnected;
        }
        self.remove_offers_where(|o| o.offer.agent_id == agent_id, true);
        // Tasks of frameworks that do not checkpoint cannot survive an agent failure.
        let mut lost = Vec::new();
        let host = self.agents.get(&agent_id).map(|a| a.info.hostname.clone()).unwrap_or_default();
        for fw in self.frameworks.values_mut().filter(|f| !f.info.checkpoint) {
            let ids: Vec<TaskId> = fw
                .tasks
                .values()
                .filter(|t| t.task.agent_id == agent_id && !t.task.state.is_terminal())
                .map(|t| t.task.task_id.clone())
                .collect();
            for id in ids {
                if let Some(mut t) = fw.tasks.remove(&id) {
                    let mut s = TaskStatus::new(t.task.task_id.clone(), TaskState::Lost);
                    s.source = Some(Source::Master);
                    s.reason = Some(Reason::AgentDisconnected);
                    s.message = Some(format!("Agent {host} disconnected"));
                    s.agent_id = Some(agent_id.clone());
                    s.executor_id = t.task.executor_id.clone();
                    s.timestamp = Some(now.wall);
                    t.task.state = TaskState::Lost;
                    // The task keeps the master's status, as upstream's does.
                    t.task.statuses.push(s.clone());
                    lost.push((fw.id.clone(), s));
                    push_completed(&mut fw.completed_tasks, t.task, self.config.max_completed_tasks_per_framework);
                }
            }
            fw.prune_executors();
        }
        for (fw_id, s) in lost {
            self.send_to_framework(now, &fw_id, Event::update(s));
        }
    }

    fn mark_unreachable(&mut self, now: Now, agent_id: &AgentId) {
        let Some(agent) = self.agents.get_mut(agent_id) else { return };
        if agent.state == AgentState::Unreachable {
            return;
        }
        tracing::warn!(agent = %agent_id, hostname = %agent.info.hostname, "agent unreachable after missed pings");
        agent.state = AgentState::Unreachable;
        agent.unreachable_time = Some(now.wall);
        if let Some(stream) = agent.stream.take() {
            self.agent_streams.remove(&stream);
            self.outputs.push(Output::CloseAgent { stream });
        }
        if self.registry.mark_unreachable(agent_id, now.wall) {
            self.registry_changed(agent_id);
        }
        // Frameworks hear of it once the mark is durable.
        let first = self.outputs.len();
        self.counters.agents_removed += 1;
        self.remove_offers_where(|o| &o.offer.agent_id == agent_id, true);
        let unreachable_time = TimeInfo { nanoseconds: (now.wall * 1e9) as i64 };
        let mut updates = Vec::new();
        for fw in self.frameworks.values_mut() {
            let pa = fw.info.partition_aware();
            let ids: Vec<TaskId> = fw
                .tasks
                .values()
                .filter(|t| &t.task.agent_id == agent_id && !t.task.state.is_terminal())
                .map(|t| t.task.task_id.clone())
                .collect();
            for id in ids {
                let Some(t) = fw.tasks.get_mut(&id) else { continue };
                let mut s = TaskStatus::new(id.clone(), TaskState::Unreachable.for_framework(pa));
                s.source = Some(Source::Master);
                s.reason = Some(Reason::AgentRemoved);
                s.message = Some("Agent is unreachable".to_string());
                s.agent_id = Some(agent_id.clone());
                s.executor_id = t.task.executor_id.clone();
                s.timestamp = Some(now.wall);
                s.unreachable_time = Some(unreachable_time);
                if pa {
                    t.task.state = TaskState::Unreachable;
                    t.task.statuses.push(s.clone());
                } else if let Some(mut t) = fw.tasks.remove(&id) {
                    t.task.state = TaskState::Lost;
                    t.task.statuses.push(s.clone());
                    push_completed(&mut fw.completed_tasks, t.task, self.config.max_completed_tasks_per_framework);
                }
                updates.push((fw.id.clone(), s));
            }
            fw.prune_executors();
        }
        for (fw_id, s) in updates {
            self.send_to_framework(now, &fw_id, Event::update(s));
        }
        let connected: Vec<FrameworkId> =
            self.frameworks.values().filter(|f| f.connected()).map(|f| f.id.clone()).collect();
        for fw_id in connected {
            let failure = Failure { agent_id: Some(agent_id.clone()), executor_id: None, status: None };
            self.send_to_framework(now, &fw_id, Event::Failure { failure });
        }
        self.hold_outputs_since(first, agent_id);
    }

    /// `agent_reregister_timeout` after a restart: the agents from the registry that did not
    /// come back are marked unreachable (upstream's `recoveredSlavesTimeout`). The master
    /// knows none of their tasks, so frameworks are told that the agent was lost (FAILURE) and
    /// learn of the tasks by reconciling them. An agent whose registration is waiting for the
    /// registry is given until the next ping round.
    pub(super) fn recovery_timeout(&mut self, now: Now) {
        let expired: Vec<AgentId> =
            self.recovered.keys().filter(|id| !self.registration_pending(id)).cloned().collect();
        let first = self.outputs.len();
        let mut marked = Vec::new();
        for id in expired {
            let Some(agent) = self.recovered.remove(&id) else { continue };
            tracing::warn!(
                agent = %id,
                hostname = %agent.info.hostname,
                timeout = ?self.config.agent_reregister_timeout,
                "agent did not reregister within --agent_reregister_timeout after the master restarted; marking it unreachable"
            );
            if self.registry.mark_unreachable(&id, now.wall) {
                self.registry_changed(&id);
            }
            self.counters.agents_removed += 1;
            self.counters.recovery_agent_removals += 1;
            let connected: Vec<FrameworkId> =
                self.frameworks.values().filter(|f| f.connected()).map(|f| f.id.clone()).collect();
            for fw_id in connected {
                let failure = Failure { agent_id: Some(id.clone()), executor_id: None, status: None };
                self.send_to_framework(now, &fw_id, Event::Failure { failure });
            }
            marked.push(id);
        }
        if !marked.is_empty() {
            self.answer_deferred_reconciliation(now, &marked);
        }
        // Everything said here is about the marks: it waits until the last of them is durable
        // (versions grow, so that one covers the others).
        let version = marked.iter().filter_map(|id| self.agent_changes.get(id)).copied().max().unwrap_or_default();
        self.hold_outputs_until(first, version);
        self.recovery_deadline = (!self.recovered.is_empty()).then(|| now.mono + self.config.agent_ping_timeout);
    }

    pub(super) fn ping_agents(&mut self, now: Now) {
        let mut unreachable = Vec::new();
        let mut pings = Vec::new();
        let pending: BTreeSet<AgentId> = self.pending_registrations.iter().map(|p| p.id.clone()).collect();
        for agent in self.agents.values_mut().filter(|a| a.state != AgentState::Unreachable) {
            if pending.contains(&agent.id) {
                // Reregistering: it answers once the registry is durable.
                continue;
            }
            if agent.pending_pong || agent.stream.is_none() {
                agent.missed_pings += 1;
            }
            if agent.missed_pings >= self.config.max_agent_ping_timeouts {
                unreachable.push(agent.id.clone());
                continue;
            }
            if let Some(stream) = &agent.stream {
                agent.pending_pong = true;
                pings.push(stream.clone());
            }
        }
        for stream in pings {
            self.send_agent(&stream, AgentEvent::Ping);
        }
        for id in unreachable {
            self.mark_unreachable(now, &id);
        }
    }
}

/// The agent a framework's task runs (or ran) on, if the master knows the task.
fn task_agent<'a>(fw: &'a FrameworkEntry, task: &TaskId) -> Option<&'a AgentId> {
    fw.tasks
        .get(task)
        .map(|t| &t.task.agent_id)
        .or_else(|| fw.completed_tasks.iter().rev().find(|t| &t.task_id == task).map(|t| &t.agent_id))
}
