//! Deployments as the API shows them: one per accepted change of apps, from the change until the
//! apps have converged ([`SchedulerCore::is_converged`]: all wanted instances running the
//! current config and healthy, nothing else of the apps left). Pure bookkeeping over the core's
//! state: the core acts on the latest definition at once (rolling upgrades included), so a plan
//! here is the record of a change, its steps as upstream names them, and what it replaced (for
//! rollbacks). A change of an app with a running deployment is refused unless forced; a forced
//! one supersedes it.

use crate::core::{AppId, SchedulerCore};
use marathon_api::events::{Event, full_plan, step_json};
use marathon_api::{DeploymentAction, DeploymentInfo, PathId, Timestamp};
use std::collections::BTreeMap;

/// What a deployment does to its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentKind {
    Start,
    Scale,
    Restart,
    Stop,
}

impl DeploymentKind {
    fn action(self) -> &'static str {
        match self {
            Self::Start => "StartApplication",
            Self::Scale => "ScaleApplication",
            Self::Restart => "RestartApplication",
            Self::Stop => "StopApplication",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub version: Timestamp,
    /// What happens to each affected app.
    pub actions: Vec<(AppId, DeploymentKind)>,
    /// The affected apps before and after (group states of full-format plans).
    pub original: serde_json::Value,
    pub target: serde_json::Value,
    /// The definitions before the change (`None`: the app did not exist), for rollbacks.
    pub originals: Vec<(AppId, Option<marathon_api::AppDefinition>)>,
}

impl Deployment {
    pub fn affects(&self, app_id: &AppId) -> bool {
        self.actions.iter().any(|(id, _)| id == app_id)
    }

    /// The groups whose apps it changes (`group_change_success`).
    pub fn changed_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> =
            self.actions.iter().map(|(id, _)| PathId::parse(id.as_str()).parent().to_string()).collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// The events of its start: `deployment_info` for the first step; a start step (which
    /// completes at once) also gets its `deployment_step_success` and the next step's
    /// `deployment_info`.
    pub fn started_events(&self) -> Vec<(Event, ())> {
        let info = self.info();
        let plan = self.plan(&info);
        let mut out = vec![(Event::DeploymentInfo { plan: plan.clone(), current_step: step_json(&info, 0) }, ())];
        if info.steps.len() > 1 {
            out.push((Event::DeploymentStepSuccess { plan: plan.clone(), current_step: step_json(&info, 0) }, ()));
            out.push((Event::DeploymentInfo { plan, current_step: step_json(&info, 1) }, ()));
        }
        out
    }

    /// The events of its end: the last step's `deployment_step_success`, then
    /// `deployment_success`.
    pub fn finished_events(&self) -> Vec<Event> {
        let info = self.info();
        let plan = self.plan(&info);
        let last = info.steps.len().saturating_sub(1);
        vec![
            Event::DeploymentStepSuccess { plan: plan.clone(), current_step: step_json(&info, last) },
            Event::DeploymentSuccess { id: self.id.clone(), plan },
        ]
    }

    /// `deployment_failed` with `reason`.
    pub fn failed_event(&self, reason: &str) -> Event {
        Event::DeploymentFailed { id: self.id.clone(), plan: self.plan(&self.info()), reason: reason.to_string() }
    }

    fn plan(&self, info: &DeploymentInfo) -> serde_json::Value {
        full_plan(info, &self.original, &self.target)
    }

    pub fn info(&self) -> DeploymentInfo {
        let action = |id: &AppId, kind: DeploymentKind| DeploymentAction {
            action: kind.action().into(),
            app: PathId::parse(id.as_str()),
        };
        let mut first = Vec::new();
        let mut second = Vec::new();
        for (id, kind) in &self.actions {
            first.push(action(id, *kind));
            if *kind == DeploymentKind::Start {
                // Upstream starts an app with zero instances, then scales it.
                second.push(action(id, DeploymentKind::Scale));
            }
        }
        let steps: Vec<_> = [first, second].into_iter().filter(|s| !s.is_empty()).collect();
        DeploymentInfo {
            id: self.id.clone(),
            version: self.version,
            affected_apps: self.actions.iter().map(|(id, _)| PathId::parse(id.as_str())).collect(),
            current_step: steps.len(),
            steps,
        }
    }
}

/// The deployments in progress, oldest first.
#[derive(Debug, Default)]
pub struct DeploymentTracker {
    deployments: BTreeMap<u64, Deployment>,
    next: u64,
}

impl DeploymentTracker {
    /// Records a deployment; earlier deployments of its apps end and are returned.
    pub fn start(&mut self, deployment: Deployment) -> Vec<Deployment> {
        let superseded: Vec<u64> = self
            .deployments
            .iter()
            .filter(|(_, d)| deployment.actions.iter().any(|(id, _)| d.affects(id)))
            .map(|(k, _)| *k)
            .collect();
        let superseded = superseded.into_iter().filter_map(|k| self.deployments.remove(&k)).collect();
        self.deployments.insert(self.next, deployment);
        self.next += 1;
        superseded
    }

    /// Ends the deployments whose app has converged; returns them.
    pub fn finish_converged(&mut self, core: &SchedulerCore) -> Vec<Deployment> {
        let done: Vec<u64> = self
            .deployments
            .iter()
            .filter(|(_, d)| d.actions.iter().all(|(id, _)| core.is_converged(id)))
            .map(|(k, _)| *k)
            .collect();
        done.into_iter().filter_map(|k| self.deployments.remove(&k)).collect()
    }

    pub fn get(&self, id: &str) -> Option<&Deployment> {
        self.deployments.values().find(|d| d.id == id)
    }

    /// Cancels a deployment (it is no longer tracked).
    pub fn remove(&mut self, id: &str) -> Option<Deployment> {
        let key = self.deployments.iter().find(|(_, d)| d.id == id).map(|(k, _)| *k)?;
        self.deployments.remove(&key)
    }

    /// Ids of the deployments that affect any of `apps`.
    pub fn locking(&self, apps: &[AppId]) -> Vec<String> {
        self.deployments.values().filter(|d| apps.iter().any(|a| d.affects(a))).map(|d| d.id.clone()).collect()
    }

    pub fn all(&self) -> impl Iterator<Item = &Deployment> {
        self.deployments.values()
    }

    pub fn of_app<'a>(&'a self, app_id: &'a AppId) -> impl Iterator<Item = &'a Deployment> + 'a {
        self.deployments.values().filter(move |d| d.affects(app_id))
    }

    pub fn len(&self) -> usize {
        self.deployments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deployments.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(id: &str, app: &str, kind: DeploymentKind) -> Deployment {
        Deployment {
            id: id.into(),
            version: Timestamp::default(),
            actions: vec![(AppId::new(app), kind)],
            original: serde_json::Value::Null,
            target: serde_json::Value::Null,
            originals: Vec::new(),
        }
    }

    #[test]
    fn a_newer_change_supersedes_the_running_deployment_of_the_app() {
        let mut tracker = DeploymentTracker::default();
        tracker.start(deployment("a", "/web", DeploymentKind::Start));
        tracker.start(deployment("b", "/db", DeploymentKind::Start));
        tracker.start(deployment("c", "/web", DeploymentKind::Scale));
        let ids: Vec<&str> = tracker.all().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(tracker.of_app(&AppId::new("/web")).count(), 1);
    }

    #[test]
    fn a_start_has_two_steps_and_the_json_shows_the_last() {
        let info = deployment("a", "/web", DeploymentKind::Start).info();
        let json = marathon_api::deployment_json(&info);
        assert_eq!(json["totalSteps"], 2);
        assert_eq!(json["currentStep"], 2);
        assert_eq!(json["currentActions"][0]["action"], "ScaleApplication");
        assert_eq!(json["steps"][0]["actions"][0]["action"], "StartApplication");
        assert_eq!(json["affectedApps"][0], "/web");
    }
}
