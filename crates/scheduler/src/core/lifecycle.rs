//! The instance life cycle: app changes, status updates, converging an app to its instance
//! count, kills, unreachable instances, reconciliation and timers.

use super::health::health_of;
use super::instance::{condition_from_status, never_started};
use super::kill_order::{select_for_kill, select_for_kill_balanced};
use super::*;
use tracing::{debug, info, warn};

impl SchedulerCore {
    // -----------------------------------------------------------------------------------------
    // Apps

    pub(super) fn put_app(&mut self, mut spec: RunSpec) {
        // Ports first: a definition asking for "any port" keeps the ones it has.
        if self.assign_service_ports(&mut spec).is_err() {
            warn!(app_id = %spec.id, "service port range exhausted; ports stay unassigned");
        }
        spec.version_info = derive_version_info(self.apps.get(&spec.id), &spec);
        self.store_app(spec);
    }

    /// Puts a definition back as it was, version and version info included (rollbacks): its
    /// instances are current again and those of the abandoned versions are replaced.
    pub(super) fn restore_app(&mut self, spec: RunSpec) {
        self.store_app(spec);
    }

    fn store_app(&mut self, mut spec: RunSpec) {
        let old = self.apps.get(&spec.id).cloned();
        // Idempotent for assigned ports.
        if self.assign_service_ports(&mut spec).is_err() {
            warn!(app_id = %spec.id, "service port range exhausted; ports stay unassigned");
        }
        if let Some(old) = &old {
            if *old == spec {
                return;
            }
            if old.version_info.last_config_change_at != spec.version_info.last_config_change_at {
                self.delays.reset(&spec.id);
            }
        }
        info!(app_id = %spec.id, instances = spec.instances, version = %spec.version, "app stored");
        self.step.records.push(Record::App(spec.clone()));
        self.step.converge.insert(spec.id.clone());
        self.apps.insert(spec.id.clone(), spec);
    }

    pub(super) fn restart_app(&mut self, id: &AppId, version: Timestamp) {
        let Some(spec) = self.apps.get_mut(id) else { return };
        let version = version.max(Timestamp::from_millis(spec.version.millis() + 1));
        spec.version = version;
        spec.version_info = VersionInfo { last_scaling_at: version, last_config_change_at: version };
        info!(app_id = %id, %version, "app restarted");
        self.step.records.push(Record::App(spec.clone()));
        self.delays.reset(id);
        self.step.converge.insert(id.clone());
    }

    pub(super) fn delete_app(&mut self, id: &AppId) {
        if self.apps.remove(id).is_none() {
            return;
        }
        info!(app_id = %id, "app deleted");
        self.step.records.push(Record::AppDeleted(id.clone()));
        self.delays.reset(id);
        self.offer_stats.remove(id);
        self.last_failures.remove(id);
        let ids: Vec<InstanceId> = self.instances.ids_of_app(id).cloned().collect();
        for instance_id in ids {
            self.decommission(&instance_id);
        }
        self.publish(BusEvent::AppTerminated { app_id: id.clone(), timestamp: self.now.wall });
    }

    pub(super) fn kill_tasks(&mut self, task_ids: &[TaskId], scale: bool, wipe: bool) {
        let mut scaled_down: BTreeMap<AppId, u32> = BTreeMap::new();
        for task_id in task_ids {
            let Some(id) = self.tasks.get(task_id).cloned() else { continue };
            let Some(instance) = self.instances.get(&id) else { continue };
            if scale {
                let counts =
                    instance.goal == Goal::Running && instance.condition.is_active() && !self.kills.contains_key(&id);
                if counts {
                    *scaled_down.entry(instance.app_id.clone()).or_default() += 1;
                }
                self.decommission(&id);
            } else if wipe {
                self.decommission(&id);
            } else {
                // The goal stays Running: the instance is relaunched when the task is gone.
                self.kills.entry(id).or_insert(None);
            }
        }
        for (app_id, count) in scaled_down {
            let Some(spec) = self.apps.get_mut(&app_id) else { continue };
            let version = self.now.wall.max(Timestamp::from_millis(spec.version.millis() + 1));
            spec.instances = spec.instances.saturating_sub(count);
            spec.version = version;
            spec.version_info.last_scaling_at = version;
            info!(%app_id, instances = spec.instances, "app scaled down by killing tasks");
            self.step.records.push(Record::App(spec.clone()));
            self.step.converge.insert(app_id);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Converging an app to its instance count

    /// Brings an app to its definition: instances of an outdated config are replaced by a
    /// rolling upgrade (see [`Self::roll`]), missing instances are scheduled and (once
    /// reconciled) surplus ones decommissioned in kill order.
    pub(super) fn converge(&mut self, app_id: &AppId) {
        self.backlog.remove(app_id);
        let Some(spec) = self.apps.get(app_id).cloned() else { return };
        let dirty = &mut self.step.dirty;
        self.instances.update_app(app_id, |instance| {
            if instance.goal == Goal::Running
                && !spec.is_current(instance.run_spec_version)
                && instance.condition == Condition::Scheduled
            {
                // Nothing runs yet: it simply launches the new config.
                instance.run_spec_version = spec.version;
                dirty.insert(instance.id.clone());
            }
        });
        // Old instances still being killed count too: they hold capacity until they are gone.
        let outdated =
            self.instances_of(app_id).any(|i| !spec.is_current(i.run_spec_version) && !i.condition.is_terminal());
        if outdated {
            self.roll(&spec);
        } else {
            self.scale(&spec);
        }
        if self.scheduled_of(app_id).next().is_none() {
            self.offer_stats.remove(app_id);
        }
    }

    /// Schedules missing instances and decommissions surplus ones.
    fn scale(&mut self, spec: &RunSpec) {
        let app_id = &spec.id;
        let counted: Vec<&Instance> =
            self.instances_of(app_id).filter(|i| i.is_counted() && !i.condition.is_terminal()).collect();
        let wanted = spec.instances as usize;
        if counted.len() < wanted {
            let missing = wanted - counted.len();
            info!(%app_id, missing, "scheduling instances");
            self.schedule_instances(spec, missing);
        } else if counted.len() > wanted && self.reconciled {
            let victims = select_for_kill_balanced(&counted, counted.len() - wanted, spec);
            info!(%app_id, surplus = victims.len(), "decommissioning surplus instances");
            for id in victims {
                self.decommission(&id);
            }
        }
    }

    /// One step of a rolling upgrade, recomputed from the current state on every change (so it
    /// resumes by itself after a restart), with upstream's arithmetic: with `N` instances wanted,
    /// `minHealthy = ceil(N * minimumHealthCapacity)` instances stay healthy and at most
    /// `maxCapacity = floor(N * (1 + maximumOverCapacity))` are active (old, new, and old ones
    /// still being killed). Old instances are killed, unhealthy first, while the healthy count
    /// stays at or above `minHealthy`; new ones are launched while the active count stays at or
    /// below `maxCapacity`. When the two bounds leave no room, one extra instance is allowed.
    ///
    /// A running old instance whose health is not known yet (health results live in memory:
    /// after a restart or failover there are none until the first probes) counts as healthy:
    /// killing it "for free" could take the app below `minHealthy`. New instances count only
    /// once known healthy.
    fn roll(&mut self, spec: &RunSpec) {
        let app_id = &spec.id;
        let n = spec.instances as usize;
        let strategy = spec.upgrade_strategy;
        let min_healthy = ((n as f64) * strategy.minimum_health_capacity).ceil() as usize;
        let mut max_capacity = ((n as f64) * (1.0 + strategy.maximum_over_capacity)).floor() as usize;

        let live: Vec<&Instance> = self.instances_of(app_id).filter(|i| !i.condition.is_terminal()).collect();
        let counts_healthy = |i: &Instance| {
            self.is_serving_in(spec, i)
                || (!spec.is_current(i.run_spec_version)
                    && i.condition == Condition::Running
                    && health_of(spec, i, self.health.get(&i.id)).is_none())
        };
        let healthy = live.iter().filter(|i| i.goal == Goal::Running && counts_healthy(i)).count();
        if min_healthy == max_capacity && max_capacity <= healthy {
            max_capacity += 1;
        }
        let old: Vec<&Instance> =
            live.iter().copied().filter(|i| i.goal == Goal::Running && !spec.is_current(i.run_spec_version)).collect();

        // Kill old instances: the unhealthy ones cost no health; each healthy one costs one.
        let unhealthy_old: Vec<&Instance> = old.iter().copied().filter(|i| !counts_healthy(i)).collect();
        let healthy_old: Vec<&Instance> = old.iter().copied().filter(|i| counts_healthy(i)).collect();
        // Scaled down with the upgrade: old instances beyond the new count go at once.
        let surplus = old.len().saturating_sub(n);
        let by_health = healthy.saturating_sub(min_healthy).min(healthy_old.len());
        let mut victims: Vec<InstanceId> = Vec::new();
        victims.extend(unhealthy_old.iter().map(|i| i.id.clone()));
        let healthy_kills = by_health.max(surplus.saturating_sub(victims.len()));
        let healthy_kills = healthy_kills.min(healthy_old.len());
        victims.extend(select_for_kill(&healthy_old, healthy_kills, spec.kill_selection));
        // More new instances than wanted (scaled down during the upgrade): the surplus goes.
        // Inactive unreachable ones are being replaced: they are not new instances that count.
        let new: Vec<&Instance> =
            live.iter().copied().filter(|i| i.is_counted() && spec.is_current(i.run_spec_version)).collect();
        if new.len() > n {
            victims.extend(select_for_kill(&new, new.len() - n, spec.kill_selection));
        }

        // Victims stay active until their tasks are gone; only those without a task vanish now.
        let mut vanishing = victims
            .iter()
            .filter(|id| self.instances.get(id).is_some_and(|i| i.condition == Condition::Scheduled))
            .count();
        // Instances already waiting for an offer (replacements scheduled before the upgrade,
        // say, which took its version) launch only within maxCapacity too: beyond it, as many
        // waiting ones as needed go now (they have no task), to be scheduled again once there
        // is room.
        let over = (live.len() - vanishing).saturating_sub(max_capacity);
        if over > 0 {
            let waiting: Vec<InstanceId> = new
                .iter()
                .rev()
                .filter(|i| i.condition == Condition::Scheduled && !victims.contains(&i.id))
                .take(over)
                .map(|i| i.id.clone())
                .collect();
            vanishing += waiting.len();
            victims.extend(waiting);
        }
        let active_after = live.len() - vanishing;
        let launch = n.saturating_sub(new.len()).min(max_capacity.saturating_sub(active_after));
        debug!(
            %app_id, n, min_healthy, max_capacity, healthy, old = old.len(), new = new.len(),
            kill = victims.len(), launch, "rolling upgrade step"
        );
        // Kills wait for fresh state (the first reconciliation); launches wait for offers anyway.
        if self.reconciled {
            for id in victims {
                self.decommission(&id);
            }
        }
        self.schedule_instances(spec, launch);
    }

    /// Schedules `count` new instances of `spec`, as many as the window of waiting instances
    /// allows ([`SchedulerConfig::max_scheduled_per_app`]); the rest is the app's backlog,
    /// scheduled by later convergences as the waiting ones launch.
    fn schedule_instances(&mut self, spec: &RunSpec, count: usize) {
        let waiting = self.scheduled_of(&spec.id).count();
        let now = count.min(self.config.max_scheduled_per_app.saturating_sub(waiting));
        for _ in 0..now {
            self.schedule_instance(spec);
        }
        if count > now {
            self.backlog.insert(spec.id.clone(), count - now);
        }
    }

    fn schedule_instance(&mut self, spec: &RunSpec) -> InstanceId {
        let id = self.new_instance_id(&spec.id);
        let instance = Instance {
            id: id.clone(),
            app_id: spec.id.clone(),
            run_spec_version: spec.version,
            goal: Goal::Running,
            condition: Condition::Scheduled,
            condition_since: self.now.wall,
            incarnation: 0,
            task: None,
            unreachable_since: None,
            role: spec.role.clone(),
        };
        self.instances.insert(instance, Runtime { condition_changed: self.now.mono, unreachable_at: None });
        self.mark_dirty(&id);
        id
    }

    /// Sets the goal to Decommissioned: an instance without a live task is forgotten at once,
    /// any other has its task killed (and is forgotten when the task is terminal).
    pub(super) fn decommission(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.get_mut(id) else { return };
        if instance.goal != Goal::Decommissioned {
            instance.goal = Goal::Decommissioned;
            self.step.dirty.insert(id.clone());
            // It no longer counts: the app may need a replacement.
            self.step.converge.insert(instance.app_id.clone());
        }
        match instance.condition {
            Condition::Scheduled => self.expunge(id),
            Condition::Unreachable | Condition::UnreachableInactive => {
                // Nobody waits for it; if its task comes back it is killed as unknown.
                if let Some(task) = &instance.task {
                    for task_id in task.task_ids() {
                        let agent_id = Some(task.agent_id.clone());
                        self.step.gated.push(Command::Kill { task_id: task_id.clone(), agent_id, grace: None });
                    }
                }
                self.expunge(id);
            }
            condition if condition.is_terminal() => self.expunge(id),
            _ => {
                self.kills.entry(id.clone()).or_insert(None);
            }
        }
    }

    /// Forgets an instance.
    pub(super) fn expunge(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.remove(id) else { return };
        debug!(instance_id = %id, "instance expunged");
        if let Some(task) = &instance.task {
            for task_id in task.task_ids() {
                self.tasks.remove(task_id);
            }
        }
        self.kills.remove(id);
        self.unhealthy_kills.remove(id);
        self.mark_dirty(id);
        // Capacity it held is free (a rolling upgrade may launch more).
        self.step.converge.insert(instance.app_id);
    }

    /// Sends (or repeats) the KILLs that are due.
    pub(super) fn send_kills(&mut self) {
        if !self.connected {
            return;
        }
        let now = self.now.mono;
        let retry = self.config.kill_retry_interval;
        let mut due = Vec::new();
        for (id, last_sent) in &mut self.kills {
            if last_sent.is_some_and(|at| now < at + retry) {
                continue;
            }
            let Some(instance) = self.instances.get(id) else { continue };
            let Some(task) = &instance.task else { continue };
            let spec = self.apps.get(&instance.app_id);
            *last_sent = Some(now);
            if task.containers.is_empty() {
                let grace = spec.and_then(|spec| spec.task_kill_grace_period);
                due.push(Command::Kill { task_id: task.id.clone(), agent_id: Some(task.agent_id.clone()), grace });
                continue;
            }
            // A pod instance: each of its live container tasks, with its container's grace.
            for container in task.containers.iter().filter(|c| !c.mesos_state.is_some_and(|s| s.is_terminal())) {
                let grace = spec
                    .and_then(|spec| spec.pod.as_deref())
                    .and_then(|pod| pod.containers.iter().find(|c| c.name == container.name))
                    .and_then(|c| c.kill_grace_period);
                let agent_id = Some(task.agent_id.clone());
                due.push(Command::Kill { task_id: container.task_id.clone(), agent_id, grace });
            }
        }
        self.step.gated.extend(due);
    }

    // -----------------------------------------------------------------------------------------
    // Status updates

    pub(super) fn status_update(&mut self, status: TaskStatus) {
        if let (Some(uuid), Some(agent_id)) = (&status.uuid, &status.agent_id) {
            let ack = Command::Acknowledge {
                agent_id: agent_id.clone(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            };
            self.step.gated.push(ack);
        }
        if self.awaiting_answers.remove(&status.task_id) && self.awaiting_answers.is_empty() {
            self.reconcile_retry = None;
            if !self.reconciled {
                self.finish_reconciliation();
            }
        }
        let Some(id) = self.tasks.get(&status.task_id).cloned() else {
            self.unknown_task_status(&status);
            return;
        };
        self.publish_status(&id, &status);
        // A pod instance's container task: the instance goes by its task group's state.
        let status = match self.container_status(&id, &status) {
            Some(group) => group,
            None => status,
        };
        let condition = condition_from_status(&status);
        if condition.is_terminal() {
            self.task_terminated(&id, condition, &status);
        } else if condition == Condition::Unreachable {
            self.task_unreachable(&id, &status);
        } else {
            self.task_progressed(&id, condition, &status);
        }
    }

    /// Records a pod container's status in its instance's task and returns the status of the
    /// task group as a whole; `None` for an app's task.
    fn container_status(&mut self, id: &InstanceId, status: &TaskStatus) -> Option<TaskStatus> {
        let now = self.now.wall;
        let instance = self.instances.get_mut(id)?;
        let task = instance.task.as_mut().filter(|t| !t.containers.is_empty())?;
        let group = super::pod::instance_status(&mut task.containers, status, &task.id, now)?;
        self.mark_dirty(id);
        Some(group)
    }

    fn publish_status(&mut self, id: &InstanceId, status: &TaskStatus) {
        let Some(instance) = self.instances.get(id) else { return };
        let Some(task) = &instance.task else { return };
        let event = BusEvent::StatusUpdate {
            app_id: instance.app_id.clone(),
            instance_id: id.clone(),
            task_id: status.task_id.clone(),
            agent_id: task.agent_id.clone(),
            host: task.hostname.clone(),
            state: status.state,
            message: status.message.clone(),
            host_ports: task.host_ports.clone(),
            ip_addresses: Some(status.ip_addresses())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| task.ip_addresses.clone()),
            version: instance.run_spec_version,
            timestamp: self.now.wall,
        };
        self.publish(event);
    }

    fn publish_condition(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.get(id) else { return };
        let event = BusEvent::InstanceChanged {
            instance_id: id.clone(),
            app_id: instance.app_id.clone(),
            condition: instance.condition,
            agent_id: instance.task.as_ref().map(|t| t.agent_id.clone()),
            host: instance.task.as_ref().map(|t| t.hostname.clone()),
            version: instance.run_spec_version,
            timestamp: self.now.wall,
        };
        self.publish(event);
    }

    /// A status for a task that is no current task of any instance: an expunged instance, an
    /// old incarnation, or a task this scheduler never launched. Anything that may still run is
    /// killed, except on an unreachable agent (as upstream): such a kill cannot reach it, and
    /// the master answers a KILL of a task it does not know with the same TASK_UNREACHABLE,
    /// so kill and answer would chase each other. Once the agent is back, the master reports
    /// the task's real state, and it is killed then.
    fn unknown_task_status(&mut self, status: &TaskStatus) {
        let condition = condition_from_status(status);
        let may_run =
            matches!(status.state, TaskState::Staging | TaskState::Starting | TaskState::Running | TaskState::Killing);
        if may_run && self.connected {
            info!(task_id = %status.task_id, state = status.state.name(), "killing unknown task");
            let kill =
                Command::Kill { task_id: status.task_id.clone(), agent_id: status.agent_id.clone(), grace: None };
            self.step.out.push(kill);
        }
        if condition.is_terminal() {
            let event = BusEvent::UnknownInstanceTerminated {
                instance_id: parse_task_id(status.task_id.as_str()).map(|(id, _)| id),
                task_id: status.task_id.clone(),
                condition,
                timestamp: self.now.wall,
            };
            self.publish(event);
        }
    }

    fn task_progressed(&mut self, id: &InstanceId, condition: Condition, status: &TaskStatus) {
        let now = self.now;
        let Some((instance, runtime)) = self.instances.get_mut_with_runtime(id) else { return };
        let before = instance.clone();
        let Some(task) = instance.task.as_mut() else { return };
        task.mesos_state = Some(status.state);
        let addresses = status.ip_addresses();
        if !addresses.is_empty() {
            task.ip_addresses = addresses;
        }
        // Mesos-run checks report health in status updates of their own, the condition unchanged.
        let health_changed = status.healthy.is_some() && task.healthy != status.healthy;
        if status.healthy.is_some() {
            task.healthy = status.healthy;
        }
        if condition == Condition::Running && task.started_at.is_none() {
            task.started_at = Some(now.wall);
        }
        let changed_condition = instance.condition != condition;
        if changed_condition {
            instance.condition = condition;
            instance.condition_since = now.wall;
            instance.unreachable_since = None;
            runtime.condition_changed = now.mono;
            runtime.unreachable_at = None;
        }
        let app_id = instance.app_id.clone();
        let goal = instance.goal;
        if *instance != before {
            self.mark_dirty(id);
        }
        if changed_condition {
            self.publish_condition(id);
            // An instance back from UnreachableInactive counts again.
            self.step.converge.insert(app_id.clone());
        }
        if health_changed {
            // A rolling upgrade waits for exactly this: a new instance turning healthy.
            self.step.converge.insert(app_id.clone());
        }
        let progressing = matches!(condition, Condition::Staging | Condition::Starting | Condition::Running);
        if progressing
            && goal == Goal::Running
            && let Some(spec) = self.apps.get(&app_id)
        {
            self.delays.on_progress(&spec.id, spec.version_info.last_config_change_at, now.mono);
        }
    }

    fn task_unreachable(&mut self, id: &InstanceId, status: &TaskStatus) {
        let now = self.now;
        let Some((instance, runtime)) = self.instances.get_mut_with_runtime(id) else { return };
        if let Some(task) = instance.task.as_mut() {
            task.mesos_state = Some(status.state);
        }
        if !matches!(instance.condition, Condition::Unreachable | Condition::UnreachableInactive) {
            let since = status
                .unreachable_time
                .map(|t| Timestamp::from_millis(t.nanoseconds.div_euclid(1_000_000)))
                .unwrap_or(now.wall)
                .min(now.wall);
            instance.condition = Condition::Unreachable;
            instance.condition_since = now.wall;
            instance.unreachable_since = Some(since);
            runtime.condition_changed = now.mono;
            runtime.unreachable_at = Some(now.mono_of(since));
            info!(instance_id = %id, "instance unreachable");
            self.publish_condition(id);
        }
        self.mark_dirty(id);
        self.check_unreachable(id);
    }

    /// Applies the app's unreachable strategy to an unreachable instance.
    fn check_unreachable(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.get(id) else { return };
        if !matches!(instance.condition, Condition::Unreachable | Condition::UnreachableInactive) {
            return;
        }
        let app_id = instance.app_id.clone();
        if instance.goal == Goal::Decommissioned {
            self.decommission(id);
            return;
        }
        let Some(spec) = self.apps.get(&app_id) else { return };
        let UnreachableStrategy::Enabled { inactive_after, expunge_after } = spec.unreachable_strategy else { return };
        let Some(since) = self.instances.runtime(id).and_then(|r| r.unreachable_at) else { return };
        let unreachable_for = self.now.mono.saturating_sub(since);
        if unreachable_for >= expunge_after {
            info!(instance_id = %id, "expunging unreachable instance");
            self.expunge(id);
            self.step.converge.insert(app_id);
        } else if unreachable_for >= inactive_after && instance.condition == Condition::Unreachable {
            if let Some(instance) = self.instances.get_mut(id) {
                instance.condition = Condition::UnreachableInactive;
                instance.condition_since = self.now.wall;
            }
            info!(instance_id = %id, "instance unreachable for too long; replacing it");
            self.mark_dirty(id);
            self.publish_condition(id);
            self.step.converge.insert(app_id);
        }
    }

    fn task_terminated(&mut self, id: &InstanceId, condition: Condition, status: &TaskStatus) {
        let now = self.now;
        let Some(instance) = self.instances.get_mut(id) else { return };
        let Some(task) = instance.task.take() else { return };
        instance.condition = condition;
        instance.condition_since = now.wall;
        let (app_id, goal, version) = (instance.app_id.clone(), instance.goal, instance.run_spec_version);
        info!(instance_id = %id, task_id = %task.id, condition = condition.name(), "task terminated");
        for task_id in task.task_ids() {
            self.tasks.remove(task_id);
        }
        self.kills.remove(id);
        // Killed for failing its health checks, by Marathon or (saying `healthy: false`) by Mesos.
        let killed_unhealthy =
            self.unhealthy_kills.remove(id) || (condition == Condition::Killed && status.healthy == Some(false));
        // The event still shows where the task ran.
        if let Some(instance) = self.instances.get_mut(id) {
            instance.task = Some(task.clone());
        }
        self.publish_condition(id);
        if !matches!(condition, Condition::Killed | Condition::Finished) {
            let failure = TaskFailure {
                app_id: app_id.clone(),
                instance_id: id.clone(),
                task_id: task.id.clone(),
                state: status.state,
                message: status.message.clone().unwrap_or_default(),
                host: task.hostname.clone(),
                agent_id: task.agent_id.clone(),
                version,
                timestamp: now.wall,
            };
            self.last_failures.insert(app_id.clone(), failure);
        }
        // Unhealthy kills count as failures too (upstream's do not), or a task that fails its
        // checks at once would be relaunched in a loop.
        if goal == Goal::Running
            && (condition.is_launch_failure() || killed_unhealthy)
            && !never_started(status)
            && let Some(spec) = self.apps.get(&app_id)
        {
            self.delays.on_failure(&spec.id, spec.version_info.last_config_change_at, &spec.backoff, now.mono);
        }
        match goal {
            Goal::Running => {
                if let Some((instance, runtime)) = self.instances.get_mut_with_runtime(id) {
                    instance.condition = Condition::Scheduled;
                    instance.condition_since = now.wall;
                    instance.task = None;
                    instance.unreachable_since = None;
                    *runtime = Runtime { condition_changed: now.mono, unreachable_at: None };
                }
                self.mark_dirty(id);
                self.step.converge.insert(app_id);
            }
            Goal::Decommissioned => self.expunge(id),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Subscription and reconciliation

    pub(super) fn subscribed(&mut self, framework_id: FrameworkId) {
        info!(%framework_id, "subscribed");
        self.drop_offers();
        self.connected = true;
        self.suppressed = false;
        self.revive_wanted = false;
        self.last_revive = None;
        self.demand_met_since_revive = true;
        self.launchable_before = 0;
        if self.framework_id.as_ref() != Some(&framework_id) {
            self.step.records.push(Record::FrameworkId(framework_id.clone()));
            self.framework_id = Some(framework_id.clone());
        }
        for last_sent in self.kills.values_mut() {
            *last_sent = None;
        }
        self.publish(BusEvent::SchedulerRegistered { framework_id, timestamp: self.now.wall });
        self.reconciled = false;
        self.start_reconciliation(true);
    }

    pub(super) fn disconnected(&mut self) {
        if !self.connected {
            return;
        }
        warn!("disconnected from the master");
        self.drop_offers();
        self.connected = false;
        self.reconciled = false;
        self.awaiting_answers.clear();
        self.answers_deadline = None;
        self.reconcile_retry = None;
        self.next_reconciliation = None;
        self.publish(BusEvent::SchedulerDisconnected { timestamp: self.now.wall });
    }

    /// Explicit reconciliation of every task the core knows, then implicit. After a
    /// subscription (`initial`) launches wait for the explicit answers. Periodic rounds leave
    /// out Provisioned tasks, whose ACCEPT may still be on its way (the launch confirm timeout
    /// covers them).
    fn start_reconciliation(&mut self, initial: bool) {
        let tasks: Vec<(TaskId, Option<AgentId>)> = self
            .instances
            .values()
            .filter(|i| initial || i.condition != Condition::Provisioned)
            .filter_map(|i| i.task.as_ref())
            .flat_map(|t| t.task_ids().map(|id| (id.clone(), Some(t.agent_id.clone()))))
            .collect();
        info!(tasks = tasks.len(), initial, "reconciling tasks");
        if initial {
            self.awaiting_answers = tasks.iter().map(|(task_id, _)| task_id.clone()).collect();
        }
        if !tasks.is_empty() {
            self.step.out.push(Command::Reconcile { tasks });
        }
        self.step.out.push(Command::Reconcile { tasks: Vec::new() });
        self.next_reconciliation = Some(self.now.mono + self.config.reconciliation_interval);
        if initial {
            if self.awaiting_answers.is_empty() {
                self.finish_reconciliation();
            } else {
                self.answers_deadline = Some(self.now.mono + self.config.reconciliation_answer_timeout);
                let first = self.config.reconciliation_retry_min;
                self.reconcile_retry = Some((self.now.mono + first, first));
            }
        }
    }

    /// Launching and killing go ahead. Tasks still unanswered keep their recorded state (and
    /// are still asked about).
    fn finish_reconciliation(&mut self) {
        if self.awaiting_answers.is_empty() {
            info!("reconciliation answered; launching and killing allowed");
        }
        self.reconciled = true;
        self.answers_deadline = None;
        self.step.converge.extend(self.apps.keys().cloned());
    }

    /// Explicit reconciliation again of the tasks not heard of since they were asked about,
    /// with the delay doubled (up to its maximum) for the next time.
    fn retry_reconciliation(&mut self) {
        let tasks = &self.tasks;
        self.awaiting_answers.retain(|task_id| tasks.contains_key(task_id));
        let Some((_, delay)) = self.reconcile_retry else { return };
        if self.awaiting_answers.is_empty() {
            self.reconcile_retry = None;
            if !self.reconciled {
                self.finish_reconciliation();
            }
            return;
        }
        let tasks = self.awaiting_tasks();
        let next = (delay * 2).min(self.config.reconciliation_retry_max).max(delay);
        info!(unanswered = tasks.len(), retry_in = ?next, "reconciling unanswered tasks again");
        self.step.out.push(Command::Reconcile { tasks });
        self.reconcile_retry = Some((self.now.mono + next, next));
    }

    /// The unanswered tasks, with their agents, for a RECONCILE.
    fn awaiting_tasks(&self) -> Vec<(TaskId, Option<AgentId>)> {
        self.awaiting_answers
            .iter()
            .map(|task_id| {
                let agent = self.instance_of_task(task_id).and_then(|i| i.task.as_ref()).map(|t| t.agent_id.clone());
                (task_id.clone(), agent)
            })
            .collect()
    }

    /// The master lost an agent (a FAILURE event; after a master restart, an agent that did not
    /// come back in time): the live tasks there are reconciled now, and again until answered.
    pub(super) fn agent_lost(&mut self, agent_id: &AgentId) {
        if !self.connected {
            return;
        }
        let tasks: Vec<(TaskId, Option<AgentId>)> = self
            .instances
            .values()
            .filter(|i| !i.condition.is_terminal())
            .filter_map(|i| i.task.as_ref())
            .filter(|t| &t.agent_id == agent_id)
            .flat_map(|t| t.task_ids().map(|id| (id.clone(), Some(t.agent_id.clone()))))
            .collect();
        if tasks.is_empty() {
            return;
        }
        warn!(%agent_id, tasks = tasks.len(), "the master lost an agent; reconciling its tasks");
        self.awaiting_answers.extend(tasks.iter().map(|(task_id, _)| task_id.clone()));
        if self.reconcile_retry.is_none() {
            let first = self.config.reconciliation_retry_min;
            self.reconcile_retry = Some((self.now.mono + first, first));
        }
        self.step.out.push(Command::Reconcile { tasks });
    }

    // -----------------------------------------------------------------------------------------
    // Timers

    pub(super) fn tick(&mut self) {
        let now = self.now.mono;
        self.delays.cleanup(now);
        if self.connected && self.reconcile_retry.is_some_and(|(at, _)| now >= at) {
            self.retry_reconciliation();
        }
        if self.connected && !self.reconciled && self.answers_deadline.is_some_and(|at| now >= at) {
            warn!(
                unanswered = self.awaiting_answers.len(),
                "reconciliation not fully answered; going on with the recorded state of the unanswered tasks"
            );
            self.finish_reconciliation();
        }
        if self.connected && self.next_reconciliation.is_some_and(|at| now >= at) {
            self.start_reconciliation(false);
        }
        // Only instances with a deadline that has passed, in id order; each is judged again
        // when its turn comes, after what the earlier ones changed.
        let mut due: Vec<InstanceId> = self
            .instances
            .with_runtimes()
            .filter(|(instance, runtime)| self.next_deadline(instance, runtime, None).is_some_and(|at| now >= at))
            .map(|(instance, _)| instance.id.clone())
            .collect();
        due.sort();
        for id in due {
            let Some(instance) = self.instances.get(&id) else { continue };
            let Some(runtime) = self.instances.runtime(&id) else { continue };
            if self.unreachable_deadline(instance, runtime).is_some_and(|at| now >= at) {
                self.check_unreachable(&id);
            } else if self.launch_deadline(instance, runtime).is_some_and(|at| now >= at) {
                warn!(instance_id = %id, condition = instance.condition.name(), "task overdue; killing it");
                self.kills.entry(id).or_insert(None);
            }
        }
    }

    /// The earliest deadline of `instance` (its unreachable strategy acting, or its launch being
    /// overdue), if it is earlier than `before`. Only a few conditions have deadlines and most
    /// of the work is lookups, so they are made only for a deadline that would be earlier: the
    /// next wakeup asks this of every instance.
    pub(super) fn next_deadline(
        &self,
        instance: &Instance,
        runtime: &Runtime,
        before: Option<Duration>,
    ) -> Option<Duration> {
        let earlier = |at: Duration, than: Option<Duration>| than.is_none_or(|t| at < t);
        let mut next = before;
        if runtime.unreachable_at.is_some()
            && let Some(at) = self.unreachable_deadline(instance, runtime)
            && earlier(at, next)
        {
            next = Some(at);
        }
        if let Some(at) = Self::launch_timeout_at(&self.config, instance, runtime)
            && earlier(at, next)
            && self.launch_timeout_applies(instance)
        {
            next = Some(at);
        }
        next.filter(|at| earlier(*at, before))
    }

    /// When the unreachable strategy next acts on `instance`.
    pub(super) fn unreachable_deadline(&self, instance: &Instance, runtime: &Runtime) -> Option<Duration> {
        let since = runtime.unreachable_at?;
        match instance.condition {
            Condition::Unreachable | Condition::UnreachableInactive if instance.goal == Goal::Decommissioned => {
                Some(since)
            }
            Condition::Unreachable | Condition::UnreachableInactive => {
                let spec = self.apps.get(&instance.app_id)?;
                let UnreachableStrategy::Enabled { inactive_after, expunge_after } = spec.unreachable_strategy else {
                    return None;
                };
                if instance.condition == Condition::Unreachable {
                    Some(since + inactive_after.min(expunge_after))
                } else {
                    Some(since + expunge_after)
                }
            }
            _ => None,
        }
    }

    /// When a launching task of `instance` is overdue (and not already being killed).
    pub(super) fn launch_deadline(&self, instance: &Instance, runtime: &Runtime) -> Option<Duration> {
        Self::launch_timeout_at(&self.config, instance, runtime).filter(|_| self.launch_timeout_applies(instance))
    }

    /// When the launch of `instance` times out by its condition alone: a Provisioned instance
    /// whose accept went out must be confirmed (STAGING) in time, a Staging or Starting one must
    /// reach RUNNING in time.
    fn launch_timeout_at(config: &SchedulerConfig, instance: &Instance, runtime: &Runtime) -> Option<Duration> {
        match instance.condition {
            Condition::Provisioned => Some(runtime.condition_changed + config.task_launch_confirm_timeout),
            Condition::Staging | Condition::Starting => Some(runtime.condition_changed + config.task_launch_timeout),
            _ => None,
        }
    }

    /// Whether the launch timeout of `instance` counts: not while its task is being killed
    /// anyway, nor while the accept launching it waits for the instance to be stored.
    fn launch_timeout_applies(&self, instance: &Instance) -> bool {
        let being_killed = self.kills.contains_key(&instance.id);
        let accept_held = instance.condition == Condition::Provisioned && self.is_pending_accept(&instance.id);
        !being_killed && !accept_held
    }
}
