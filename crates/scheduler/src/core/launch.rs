//! Offers: matching scheduled instances against offers, provisioning them (persisted before
//! the ACCEPT goes out), declining the rest, and reviving or suppressing offers.

use super::matcher::{ResourceMatch, agent_attributes, match_resources, offer_region, offer_zone};
use super::task_builder::build_task_info;
use super::*;

/// What the ACCEPT launches for one instance.
enum Launch {
    Task(Box<TaskInfo>),
    Group(Box<ExecutorInfo>, Vec<TaskInfo>),
}
use mesos_api::resources::ResourceSet;
use tracing::{debug, info, warn};

impl SchedulerCore {
    pub(super) fn offers(&mut self, offers: Vec<Offer>) {
        if self.connected && !offers.is_empty() {
            self.offers_since_revive = true;
        }
        let mut declined = Vec::new();
        for offer in offers {
            if !self.seen_offers.insert(&offer.id) {
                debug!(offer_id = %offer.id, "offer seen before; ignored");
                continue;
            }
            if !self.connected {
                continue;
            }
            if !self.reconciled || self.launch_from_offer(&offer) == 0 {
                declined.push(offer.id);
            }
        }
        if !declined.is_empty() {
            let refuse = if !self.reconciled || self.launchable_count() > 0 {
                self.config.decline_offer_duration_while_launching
            } else {
                self.config.decline_offer_duration
            };
            debug!(offers = declined.len(), refuse_seconds = refuse.as_secs_f64(), "declining offers");
            self.step.out.push(Command::Decline { offer_ids: declined, refuse_seconds: refuse.as_secs_f64() });
        }
    }

    /// Launches as many scheduled instances on `offer` as fit (at most
    /// `max_instances_per_offer`), taking apps in turn so that one app cannot starve the
    /// others. Returns the number of instances provisioned.
    fn launch_from_offer(&mut self, offer: &Offer) -> usize {
        let mut remaining = match ResourceSet::from_wire(&offer.resources) {
            Ok(resources) => resources,
            Err(e) => {
                warn!(offer_id = %offer.id, error = %e, "offer with invalid resources; declining it");
                return 0;
            }
        };
        let offer_role = offer.allocation_info.as_ref().and_then(|a| a.role.clone());
        let mut queues: Vec<(RunSpec, VecDeque<InstanceId>)> = Vec::new();
        for (app_id, spec) in &self.apps {
            if self.delays.is_delayed(&spec.id, spec.version_info.last_config_change_at, self.now.mono) {
                continue;
            }
            let waiting: VecDeque<InstanceId> = self.scheduled_of(app_id).map(|i| i.id.clone()).collect();
            if !waiting.is_empty() {
                queues.push((spec.clone(), waiting));
            }
        }
        let mut task_infos = Vec::new();
        let mut task_groups = Vec::new();
        let mut launched = Vec::new();
        let mut rejected: BTreeMap<AppId, Vec<NoMatchReason>> = BTreeMap::new();
        let mut used: BTreeSet<AppId> = BTreeSet::new();
        'rounds: loop {
            let mut progress = false;
            for (spec, waiting) in &mut queues {
                if launched.len() >= self.config.max_instances_per_offer {
                    break 'rounds;
                }
                let Some(instance_id) = waiting.front().cloned() else { continue };
                // Instances provisioned from this offer already have their task: they count.
                // Only constraints look at them (collecting them is linear in the app's size).
                let placed = if spec.constraints.is_empty() { Vec::new() } else { self.placed_instances(spec) };
                let matched = placement(spec, offer, &placed)
                    .map_err(|reason| vec![reason])
                    .and_then(|()| match_resources(spec, offer_role.as_deref(), &remaining, &mut self.rng));
                match matched {
                    Ok(matched) => {
                        remaining.subtract(&matched.resources);
                        match self.provision(&instance_id, spec, offer, &matched) {
                            Launch::Task(info) => task_infos.push(*info),
                            Launch::Group(executor, tasks) => task_groups.push((*executor, tasks)),
                        }
                        launched.push(instance_id);
                        waiting.pop_front();
                        used.insert(spec.id.clone());
                        progress = true;
                    }
                    Err(reasons) => {
                        if !used.contains(&spec.id) {
                            rejected.insert(spec.id.clone(), reasons);
                        }
                        // Nothing more of this app fits on what is left of the offer.
                        waiting.clear();
                    }
                }
            }
            if !progress {
                break;
            }
        }
        // Apps with a backlog schedule more as their waiting instances launch.
        for app_id in &used {
            if self.backlog.contains_key(app_id) {
                self.step.converge.insert(app_id.clone());
            }
        }
        self.record_offer_stats(offer, &queues, &used, rejected);
        if launched.is_empty() {
            return 0;
        }
        info!(offer_id = %offer.id, agent_id = %offer.agent_id, instances = launched.len(), "launching on offer");
        let count = launched.len();
        // With more to launch, the rest of the offer (left over by `max_instances_per_offer`,
        // or too small for what waits) should come back at once: a declined offer that does
        // not fit is what refuses an agent for a while.
        let refuse = if self.launchable_count() > 0 { Duration::ZERO } else { self.config.decline_offer_duration };
        self.pending_accepts.insert(offer.id.clone(), launched);
        self.step.gated.push(Command::Accept {
            offer_ids: vec![offer.id.clone()],
            task_infos,
            task_groups,
            refuse_seconds: refuse.as_secs_f64(),
        });
        count
    }

    /// The instances placement constraints see (upstream 1.11): every instance of the app with a
    /// task, except those of an older config, which a rolling upgrade replaces (so that a new
    /// instance may go where an old one still runs).
    fn placed_instances(&self, spec: &RunSpec) -> Vec<&Instance> {
        self.instances_of(&spec.id).filter(|i| i.task.is_some() && spec.is_current(i.run_spec_version)).collect()
    }

    fn record_offer_stats(
        &mut self,
        offer: &Offer,
        queues: &[(RunSpec, VecDeque<InstanceId>)],
        used: &BTreeSet<AppId>,
        mut rejected: BTreeMap<AppId, Vec<NoMatchReason>>,
    ) {
        let capacity = self.config.max_unused_offers_per_app;
        for (spec, _) in queues {
            let stats = self.offer_stats.entry(spec.id.clone()).or_default();
            if used.contains(&spec.id) {
                stats.record_used(self.now.wall);
            } else if let Some(reasons) = rejected.remove(&spec.id) {
                let unused = UnusedOffer {
                    offer_id: offer.id.clone(),
                    agent_id: offer.agent_id.clone(),
                    hostname: offer.hostname.clone(),
                    reasons,
                    at: self.now.wall,
                };
                stats.record_unused(unused, capacity);
            }
        }
    }

    /// Assigns the instance's next task to the offer: next incarnation, agent, host ports.
    fn provision(&mut self, id: &InstanceId, spec: &RunSpec, offer: &Offer, matched: &ResourceMatch) -> Launch {
        let now = self.now;
        let (instance, runtime) = self.instances.get_mut_with_runtime(id).expect("scheduled instances exist");
        assert!(instance.task.is_none(), "an instance gets a new task only after its previous one ended");
        instance.incarnation += 1;
        let containers = pod::container_tasks(spec, &instance.id, instance.incarnation);
        let task_id = match containers.first() {
            Some(first) => first.task_id.clone(),
            None => instance.id.task_id(instance.incarnation),
        };
        let incarnation = instance.incarnation;
        instance.task = Some(Task {
            id: task_id.clone(),
            agent_id: offer.agent_id.clone(),
            hostname: offer.hostname.clone(),
            host_ports: matched.host_ports.clone(),
            staged_at: now.wall,
            started_at: None,
            mesos_state: None,
            healthy: None,
            agent_ip: offer.url.as_ref().and_then(|u| u.address.ip.clone()),
            ip_addresses: Vec::new(),
            attributes: agent_attributes(offer),
            region: offer_region(offer),
            zone: offer_zone(offer),
            containers,
        });
        instance.condition = Condition::Provisioned;
        instance.condition_since = now.wall;
        instance.run_spec_version = spec.version;
        instance.role = spec.role.clone();
        runtime.condition_changed = now.mono;
        let task_ids: Vec<TaskId> = instance.task.iter().flat_map(Task::task_ids).cloned().collect();
        for task_id in task_ids {
            self.tasks.insert(task_id, id.clone());
        }
        self.mark_dirty(id);
        self.publish_provisioned(id);
        if let Some(pod) = spec.pod.as_deref() {
            let (executor, tasks) = pod::build_task_group(spec, pod, id, incarnation, offer, matched);
            return Launch::Group(Box::new(executor), tasks);
        }
        Launch::Task(Box::new(build_task_info(spec, &task_id, offer, matched, self.config.env_vars_prefix.as_deref())))
    }

    fn publish_provisioned(&mut self, id: &InstanceId) {
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

    pub(super) fn offer_rescinded(&mut self, offer_id: &OfferId) {
        if self.pending_accepts.contains_offer(offer_id) {
            info!(%offer_id, "offer rescinded before its launch was stored; rescheduling its instances");
            self.cancel_accept(offer_id);
        }
    }

    /// Forgets every offer (the subscription ended or restarted): held-back ACCEPTs are
    /// dropped and their instances scheduled again.
    pub(super) fn drop_offers(&mut self) {
        let offer_ids = self.pending_accepts.offer_ids();
        for offer_id in offer_ids {
            self.cancel_accept(&offer_id);
        }
    }

    fn cancel_accept(&mut self, offer_id: &OfferId) {
        let Some(pending) = self.pending_accepts.remove(offer_id) else { return };
        let is_this_accept =
            |c: &Command| matches!(c, Command::Accept { offer_ids, .. } if offer_ids.contains(offer_id));
        self.step.gated.retain(|c| !is_this_accept(c));
        for commands in self.writes.gated.values_mut() {
            commands.retain(|c| !is_this_accept(c));
        }
        for id in pending {
            self.unprovision(&id);
        }
    }

    /// Takes back a provisioning whose ACCEPT never went out. Its task id is not reused: the
    /// next provisioning takes the next incarnation.
    fn unprovision(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.get_mut(id) else { return };
        if instance.condition != Condition::Provisioned {
            return;
        }
        if let Some(task) = instance.task.take() {
            for task_id in task.task_ids() {
                self.tasks.remove(task_id);
            }
        }
        instance.condition = Condition::Scheduled;
        instance.condition_since = self.now.wall;
        let app_id = instance.app_id.clone();
        if instance.goal == Goal::Decommissioned {
            self.expunge(id);
        } else {
            self.kills.remove(id);
            self.mark_dirty(id);
        }
        self.step.converge.insert(app_id);
    }

    pub(super) fn is_pending_accept(&self, id: &InstanceId) -> bool {
        self.pending_accepts.holds(id)
    }

    /// Scheduled instances that may launch now (subscribed, reconciled, not backed off).
    pub(super) fn launchable_count(&self) -> usize {
        if !self.connected || !self.reconciled {
            return 0;
        }
        // Called in every step: the delay (a keyed lookup) only for apps with something waiting.
        self.apps
            .iter()
            .map(|(app_id, spec)| match self.scheduled_of(app_id).count() {
                0 => 0,
                _ if self.delays.is_delayed(&spec.id, spec.version_info.last_config_change_at, self.now.mono) => 0,
                scheduled => scheduled + self.backlog.get(app_id).copied().unwrap_or(0),
            })
            .sum()
    }

    /// Whether a REVIVE is owed but held back by the rate limit, or the last one may have to
    /// be repeated (no offer came since).
    pub(super) fn revive_pending(&self) -> bool {
        let owed = (self.suppressed || self.revive_wanted) && !self.demand_met_since_revive;
        let unanswered = self.last_revive.is_some() && !self.offers_since_revive;
        (owed || unanswered) && self.launchable_count() > 0
    }

    /// REVIVE when instances became launchable, SUPPRESS when nothing waits for offers.
    ///
    /// `min_revive_offers_interval` limits the revives for demand that is still unmet: while
    /// instances launchable at the last REVIVE still wait (their offers did not fit, or have
    /// not come), the next REVIVE waits for the interval. Once everything launchable was
    /// launched, new demand (a new app, a scale-up, a task to replace) is revived at once: such
    /// revives are bounded by the launches they lead to, and waiting would add the whole
    /// interval to every launch that follows another.
    ///
    /// A REVIVE that brought no offer within the interval while instances still wait is sent
    /// again (upstream repeats revives too, `--revive_offers_repetitions`): the call may have
    /// been lost, and the master would then go on suppressing offers for good.
    pub(super) fn update_offer_interest(&mut self) {
        if !self.connected {
            return;
        }
        let launchable = self.launchable_count();
        if launchable > self.launchable_before {
            self.revive_wanted = true;
        }
        let unanswered = !self.offers_since_revive
            && self.last_revive.is_some_and(|at| self.now.mono >= at + self.config.min_revive_offers_interval);
        if launchable > 0 && unanswered {
            self.revive_wanted = true;
        }
        self.launchable_before = launchable;
        if launchable > 0 {
            let allowed = self.demand_met_since_revive
                || self.last_revive.is_none_or(|at| self.now.mono >= at + self.config.min_revive_offers_interval);
            if (self.suppressed || self.revive_wanted) && allowed {
                debug!(launchable, "reviving offers");
                // An ACCEPT held back until its instances are stored refuses the rest of its
                // offer; a REVIVE that overtook it would not clear that filter. So the REVIVE
                // waits behind every held ACCEPT.
                if self.pending_accepts.is_empty() {
                    self.step.out.push(Command::Revive);
                } else {
                    self.step.gated.push(Command::Revive);
                }
                self.suppressed = false;
                self.revive_wanted = false;
                self.demand_met_since_revive = false;
                self.offers_since_revive = false;
                self.last_revive = Some(self.now.mono);
            }
        } else {
            self.revive_wanted = false;
            self.demand_met_since_revive = true;
            if self.config.suppress_offers && !self.suppressed && self.pending_accepts.is_empty() {
                debug!("suppressing offers");
                self.step.out.push(Command::Suppress);
                self.suppressed = true;
            }
        }
    }
}
