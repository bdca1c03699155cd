//! Readiness checks (§3.6): a running (and, with health checks, healthy) instance of the
//! current config is polled over HTTP(S) every interval until an answer has one of the ready
//! statuses; until then a rolling upgrade does not count it and a deployment does not finish.
//! Once ready, an instance stays ready for the life of its task. In memory only, like health.

use super::health::{considered_healthy, probe_target};
use super::instance::{Condition, Instance, InstanceId};
use super::run_spec::RunSpec;
use super::{Command, SchedulerCore};
use mesos_api::TaskId;
use std::time::Duration;

/// The last answer of a readiness probe (`lastResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// One readiness check of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessResult {
    pub ready: bool,
    pub last_response: Option<ReadinessResponse>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct InstanceReadiness {
    pub(super) task_id: TaskId,
    pub(super) results: Vec<ReadinessResult>,
    /// When each check's next probe is due; `None` while one is in flight or once ready.
    pub(super) next_probe: Vec<Option<Duration>>,
}

impl SchedulerCore {
    /// Starts or stops readiness polling of an instance after it changed.
    pub(super) fn sync_readiness(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.get(id) else {
            self.readiness.remove(id);
            return;
        };
        let Some(spec) = self.apps.get(&instance.app_id) else {
            self.readiness.remove(id);
            return;
        };
        let task_id = match (&instance.task, instance.condition) {
            (Some(task), Condition::Running)
                if !spec.readiness_checks.is_empty() && spec.is_current(instance.run_spec_version) =>
            {
                task.id.clone()
            }
            _ => {
                self.readiness.remove(id);
                return;
            }
        };
        if self.readiness.get(id).is_some_and(|r| r.task_id == task_id) {
            return;
        }
        let count = spec.readiness_checks.len();
        let now = self.now.mono;
        self.readiness.insert(
            id.clone(),
            InstanceReadiness {
                task_id,
                results: vec![ReadinessResult { ready: false, last_response: None }; count],
                next_probe: vec![Some(now); count],
            },
        );
    }

    /// Emits the readiness probes that are due (for healthy instances only).
    pub(super) fn send_readiness_probes(&mut self) {
        let now = self.now.mono;
        let mut probes = Vec::new();
        let ids: Vec<InstanceId> = self.readiness.keys().cloned().collect();
        for id in ids {
            let Some(instance) = self.instances.get(&id) else { continue };
            if !self.is_considered_healthy(instance) {
                continue;
            }
            let Some(spec) = self.apps.get(&instance.app_id) else { continue };
            let Some(task) = &instance.task else { continue };
            let Some(state) = self.readiness.get_mut(&id) else { continue };
            for (index, next) in state.next_probe.iter_mut().enumerate() {
                if !next.is_some_and(|at| at <= now) {
                    continue;
                }
                let Some(check) = spec.readiness_checks.get(index) else { continue };
                let target = probe_target(spec, task, check.port_index);
                *next = None;
                probes.push(Command::ReadinessProbe {
                    instance_id: id.clone(),
                    task_id: task.id.clone(),
                    check: index,
                    https: check.https,
                    host: target.0,
                    port: target.1,
                    path: check.path.clone(),
                    timeout: check.timeout,
                });
            }
        }
        self.step.out.extend(probes);
    }

    pub(super) fn next_readiness_probe(&self) -> Option<Duration> {
        self.readiness.values().flat_map(|r| r.next_probe.iter().flatten().copied()).min()
    }

    /// A readiness probe's answer (`None`: no HTTP answer).
    pub(super) fn readiness_result(
        &mut self,
        id: &InstanceId,
        task_id: &TaskId,
        check: usize,
        response: Option<ReadinessResponse>,
    ) {
        let now = self.now.mono;
        let Some(instance) = self.instances.get(id) else { return };
        let Some(spec) = self.apps.get(&instance.app_id) else { return };
        let Some(definition) = spec.readiness_checks.get(check).cloned() else { return };
        let app_id = instance.app_id.clone();
        let Some(state) = self.readiness.get_mut(id) else { return };
        if &state.task_id != task_id || check >= state.results.len() {
            return;
        }
        let ready = response.as_ref().is_some_and(|r| definition.ready_statuses.contains(&r.status));
        let result = &mut state.results[check];
        result.last_response = response;
        if ready {
            result.ready = true;
            state.next_probe[check] = None;
            self.step.converge.insert(app_id);
        } else {
            state.next_probe[check] = Some(now + definition.interval);
        }
    }

    /// Ready: the app has no readiness checks, the instance runs an older config (readiness
    /// concerns new instances), or every check of the instance's task passed.
    pub fn is_ready(&self, instance: &Instance) -> bool {
        self.apps.get(&instance.app_id).is_some_and(|spec| self.is_ready_in(spec, instance))
    }

    /// [`Self::is_ready`] with the instance's app at hand (no lookup of the app).
    pub(super) fn is_ready_in(&self, spec: &RunSpec, instance: &Instance) -> bool {
        if spec.readiness_checks.is_empty() || !spec.is_current(instance.run_spec_version) {
            return true;
        }
        self.readiness.get(&instance.id).is_some_and(|r| r.results.iter().all(|c| c.ready))
    }

    /// The readiness results of an instance's current task (empty without readiness checks).
    pub fn readiness_results(&self, id: &InstanceId) -> &[ReadinessResult] {
        self.readiness.get(id).map_or(&[], |r| r.results.as_slice())
    }

    /// Healthy and ready: what rolling upgrades and deployments count.
    pub fn is_serving(&self, instance: &Instance) -> bool {
        self.apps.get(&instance.app_id).is_some_and(|spec| self.is_serving_in(spec, instance))
    }

    /// [`Self::is_serving`] with the instance's app at hand: rolling upgrades ask it of every
    /// instance of the app on every step.
    pub(super) fn is_serving_in(&self, spec: &RunSpec, instance: &Instance) -> bool {
        considered_healthy(spec, instance, self.health.get(&instance.id)) && self.is_ready_in(spec, instance)
    }
}
