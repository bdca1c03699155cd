//! The service's pod operations (`/v2/pods`): a pod is a run spec in the core like an app, its
//! definition kept in [`Service::pods`] and stored in the `pods` namespace; each change is a
//! deployment of StartPod/ScalePod/RestartPod/StopPod actions.

use super::{Deployed, Service};
use crate::core::{AppId, Event, Instance, InstanceId};
use crate::deployments::{DeploymentKind, simple_steps};
use crate::{convert, pods};
use marathon_api::Pod;

impl Service {
    pub fn pod(&self, id: &AppId) -> Option<&Pod> {
        self.pods.get(id)
    }

    /// Every pod, in id order.
    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values()
    }

    /// The live instances of pod `id`.
    pub fn pod_instances(&self, id: &AppId) -> Vec<&Instance> {
        self.core.instances_of(id).collect()
    }

    /// Creates or replaces a pod (normalized and supported; `version` is set here) in one
    /// deployment.
    pub fn put_pod(&mut self, mut pod: Pod) -> Deployed {
        let id = AppId::new(&pod.id);
        let now = self.now();
        let old = self.core.app(&id).cloned();
        let version = self.next_version(&id, now);
        pod.version = Some(convert::api_time(version));
        let spec = pods::run_spec(&pod);
        let kind = match &old {
            None => DeploymentKind::StartPod,
            Some(old) if old.same_config(&spec) => DeploymentKind::ScalePod,
            Some(_) => DeploymentKind::RestartPod,
        };
        let before = self.pods.insert(id.clone(), pod);
        self.handle(now, Event::AppPut { spec });
        let steps = simple_steps(vec![(id.clone(), kind)]);
        self.start_deployment_with_pods(steps, Vec::new(), Vec::new(), vec![(id, before)], convert::api_time(version))
    }

    /// Deletes a pod (its instances are killed); `None` if there is no such pod.
    pub fn delete_pod(&mut self, id: &AppId) -> Option<Deployed> {
        let before = self.pods.remove(id)?;
        let now = self.now();
        self.handle(now, Event::AppDeleted { id: id.clone() });
        let steps = simple_steps(vec![(id.clone(), DeploymentKind::StopPod)]);
        Some(self.start_deployment_with_pods(
            steps,
            Vec::new(),
            Vec::new(),
            vec![(id.clone(), Some(before))],
            convert::api_time(now.wall),
        ))
    }

    /// Kills instances of pod `id` (unknown ones are skipped): each is relaunched, or with `wipe`
    /// forgotten (a new instance replaces it). Answers the instances as they were.
    pub fn kill_pod_instances(&mut self, id: &AppId, instance_ids: &[InstanceId], wipe: bool) -> Vec<Instance> {
        let killed: Vec<Instance> =
            instance_ids.iter().filter_map(|i| self.core.instance(i)).filter(|i| &i.app_id == id).cloned().collect();
        let task_ids: Vec<mesos_api::TaskId> =
            killed.iter().filter_map(|i| i.task.as_ref()).map(|t| t.id.clone()).collect();
        let now = self.now();
        self.handle(now, Event::KillTasks { task_ids, scale: false, wipe });
        killed
    }

    /// Puts pods back as they were before a deployment (a rollback): the actions taken.
    pub(super) fn restore_pods(&mut self, originals: Vec<(String, Option<Pod>)>) -> Vec<(AppId, DeploymentKind)> {
        let mut actions = Vec::new();
        for (id, before) in originals {
            let id = AppId::new(&id);
            let now = self.now();
            match before {
                Some(pod) => {
                    let spec = pods::run_spec(&pod);
                    let kind = match self.core.app(&id) {
                        None => DeploymentKind::StartPod,
                        Some(current) if current.same_config(&spec) => DeploymentKind::ScalePod,
                        Some(_) => DeploymentKind::RestartPod,
                    };
                    self.pods.insert(id.clone(), pod);
                    self.handle(now, Event::AppRestore { spec });
                    actions.push((id, kind));
                }
                None => {
                    if self.pods.remove(&id).is_some() {
                        self.handle(now, Event::AppDeleted { id: id.clone() });
                        actions.push((id, DeploymentKind::StopPod));
                    }
                }
            }
        }
        actions
    }
}
