//! Deployment plans: the record of one accepted change of apps, as steps that run one after
//! another (upstream's plan, §3.2), from the change until its apps have converged
//! ([`SchedulerCore::is_converged`]: all wanted instances running the current config and healthy,
//! nothing else of the apps left).
//!
//! A step's actions (StartApplication, ScaleApplication, RestartApplication, StopApplication)
//! run together; a step starts only when the previous one finished. The changes of a later step
//! (the definitions of apps that depend on earlier ones) are held here and handed to the core
//! when their step starts; within a step the core does the work (rolling upgrades included).
//! A StartApplication step finishes at once; the others when their apps converged.
//!
//! Pure bookkeeping: the service applies the changes and publishes the events this module
//! describes. Plans are persisted (see [`crate::records`]) so that a restarted scheduler resumes
//! them.

use crate::core::{AppId, SchedulerCore};
use marathon_api::events::{Event, full_plan, step_json};
use marathon_api::{AppDefinition, DeploymentAction, DeploymentInfo, PathId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a deployment does to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentKind {
    Start,
    Scale,
    Restart,
    Stop,
    StartPod,
    ScalePod,
    RestartPod,
    StopPod,
}

impl DeploymentKind {
    /// Upstream's action name.
    pub fn action(self) -> &'static str {
        match self {
            Self::Start => "StartApplication",
            Self::Scale => "ScaleApplication",
            Self::Restart => "RestartApplication",
            Self::Stop => "StopApplication",
            Self::StartPod => "StartPod",
            Self::ScalePod => "ScalePod",
            Self::RestartPod => "RestartPod",
            Self::StopPod => "StopPod",
        }
    }

    pub fn is_pod(self) -> bool {
        matches!(self, Self::StartPod | Self::ScalePod | Self::RestartPod | Self::StopPod)
    }

    pub fn is_start(self) -> bool {
        matches!(self, Self::Start | Self::StartPod)
    }

    /// The same action on a pod.
    pub fn for_pod(self) -> Self {
        match self {
            Self::Start | Self::StartPod => Self::StartPod,
            Self::Scale | Self::ScalePod => Self::ScalePod,
            Self::Restart | Self::RestartPod => Self::RestartPod,
            Self::Stop | Self::StopPod => Self::StopPod,
        }
    }
}

/// A change the service hands to the core when its step starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// Put this definition, version and version info as given.
    Put(Box<AppDefinition>),
    /// Delete the app.
    Delete(String),
}

impl Change {
    pub fn app_id(&self) -> AppId {
        match self {
            Self::Put(def) => AppId::new(&def.id),
            Self::Delete(id) => AppId::new(id),
        }
    }
}

/// One step: actions that run together, and the changes to apply when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub actions: Vec<(String, DeploymentKind)>,
    #[serde(default)]
    pub changes: Vec<Change>,
}

impl Step {
    pub fn new(actions: Vec<(AppId, DeploymentKind)>) -> Self {
        Self { actions: actions.into_iter().map(|(id, kind)| (id.to_string(), kind)).collect(), changes: Vec::new() }
    }

    fn apps(&self) -> impl Iterator<Item = AppId> + '_ {
        self.actions.iter().map(|(id, _)| AppId::new(id))
    }

    /// Finished: StartApplication at once, the other actions when their apps converged.
    fn finished(&self, core: &SchedulerCore) -> bool {
        self.actions.iter().all(|(id, kind)| kind.is_start() || core.is_converged(&AppId::new(id)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    #[serde(with = "marathon_api::time::serde_ts")]
    pub version: Timestamp,
    pub steps: Vec<Step>,
    /// The step in progress (0-based); `steps.len()` once all finished.
    pub current: usize,
    /// The affected apps before and after (group states of full-format plans).
    pub original: serde_json::Value,
    pub target: serde_json::Value,
    /// The definitions before the change (`None`: the app did not exist), for rollbacks.
    pub originals: Vec<(String, Option<AppDefinition>)>,
    /// The pods before the change, likewise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_originals: Vec<(String, Option<marathon_api::Pod>)>,
}

/// What advancing a deployment produced.
#[derive(Debug, Default, PartialEq)]
pub struct Progress {
    /// Events to publish, in order.
    pub events: Vec<Event>,
    /// Changes to hand to the core now (the steps that just started).
    pub changes: Vec<Change>,
    /// The deployment finished.
    pub finished: bool,
}

impl Deployment {
    pub fn affects(&self, app_id: &AppId) -> bool {
        self.steps.iter().any(|s| s.actions.iter().any(|(id, _)| id == app_id.as_str()))
    }

    /// Every affected app, once.
    pub fn apps(&self) -> Vec<AppId> {
        let mut apps: Vec<AppId> = self.steps.iter().flat_map(Step::apps).collect();
        apps.sort();
        apps.dedup();
        apps
    }

    /// The apps (or with `pods`, the pods) it affects, once each.
    fn subjects(&self, pods: bool) -> Vec<PathId> {
        let mut ids: Vec<PathId> = self
            .steps
            .iter()
            .flat_map(|s| s.actions.iter())
            .filter(|(_, kind)| kind.is_pod() == pods)
            .map(|(id, _)| PathId::parse(id))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The groups whose apps it changes (`group_change_success`).
    pub fn changed_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> =
            self.apps().iter().map(|id| PathId::parse(id.as_str()).parent().to_string()).collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// The events of its start (`deployment_info` of the first step). The first step's changes
    /// are applied by the caller before the deployment is created.
    pub fn started_events(&self) -> Vec<Event> {
        let info = self.info();
        vec![Event::DeploymentInfo { plan: self.plan(&info), current_step: step_json(&info, self.current) }]
    }

    /// Moves on while the current step is finished: its `deployment_step_success`, then the next
    /// step's changes and `deployment_info`, or `deployment_success` after the last.
    pub fn advance(&mut self, core: &SchedulerCore) -> Progress {
        let mut progress = Progress::default();
        while let Some(step) = self.steps.get(self.current) {
            if !step.finished(core) {
                break;
            }
            let info = self.info();
            let plan = self.plan(&info);
            progress.events.push(Event::DeploymentStepSuccess { plan, current_step: step_json(&info, self.current) });
            self.current += 1;
            match self.steps.get(self.current) {
                Some(next) => {
                    progress.changes.extend(next.changes.iter().cloned());
                    let info = self.info();
                    let plan = self.plan(&info);
                    progress.events.push(Event::DeploymentInfo { plan, current_step: step_json(&info, self.current) });
                    // Its changes must reach the core before it can be judged finished.
                    if !next.changes.is_empty() {
                        break;
                    }
                }
                None => {
                    let plan = self.plan(&self.info());
                    progress.events.push(Event::DeploymentSuccess { id: self.id.clone(), plan });
                    progress.finished = true;
                }
            }
        }
        progress
    }

    /// `deployment_failed` with `reason`.
    pub fn failed_event(&self, reason: &str) -> Event {
        Event::DeploymentFailed { id: self.id.clone(), plan: self.plan(&self.info()), reason: reason.to_string() }
    }

    fn plan(&self, info: &DeploymentInfo) -> serde_json::Value {
        full_plan(info, &self.original, &self.target)
    }

    pub fn info(&self) -> DeploymentInfo {
        let steps: Vec<Vec<DeploymentAction>> = self
            .steps
            .iter()
            .map(|step| {
                step.actions
                    .iter()
                    .map(|(id, kind)| DeploymentAction {
                        action: kind.action().into(),
                        app: PathId::parse(id),
                        pod: kind.is_pod(),
                    })
                    .collect()
            })
            .collect();
        DeploymentInfo {
            id: self.id.clone(),
            version: self.version,
            affected_apps: self.subjects(false),
            affected_pods: self.subjects(true),
            current_step: (self.current + 1).min(steps.len()),
            steps,
        }
    }
}

/// The steps of a change of single apps: the apps API changes apps at once, so one step (two
/// for a new app: StartApplication, then ScaleApplication, as upstream shows it).
pub fn simple_steps(actions: Vec<(AppId, DeploymentKind)>) -> Vec<Step> {
    let scale_new: Vec<(AppId, DeploymentKind)> = actions
        .iter()
        .filter(|(_, kind)| kind.is_start())
        .map(|(id, kind)| (id.clone(), if kind.is_pod() { DeploymentKind::ScalePod } else { DeploymentKind::Scale }))
        .collect();
    let mut steps = vec![Step::new(actions)];
    if !scale_new.is_empty() {
        steps.push(Step::new(scale_new));
    }
    steps
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
        let apps = deployment.apps();
        let superseded: Vec<u64> =
            self.deployments.iter().filter(|(_, d)| apps.iter().any(|a| d.affects(a))).map(|(k, _)| *k).collect();
        let superseded = superseded.into_iter().filter_map(|k| self.deployments.remove(&k)).collect();
        self.deployments.insert(self.next, deployment);
        self.next += 1;
        superseded
    }

    /// Advances every deployment; returns the progress of those that moved (by id).
    pub fn advance(&mut self, core: &SchedulerCore) -> Vec<(String, Progress)> {
        let mut out = Vec::new();
        let mut done = Vec::new();
        for (key, deployment) in &mut self.deployments {
            let progress = deployment.advance(core);
            if progress.finished {
                done.push(*key);
            }
            if !progress.events.is_empty() {
                out.push((deployment.id.clone(), progress));
            }
        }
        for key in done {
            self.deployments.remove(&key);
        }
        out
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
            steps: simple_steps(vec![(AppId::new(app), kind)]),
            current: 0,
            original: serde_json::Value::Null,
            target: serde_json::Value::Null,
            originals: Vec::new(),
            pod_originals: Vec::new(),
        }
    }

    #[test]
    fn a_newer_change_supersedes_the_running_deployment_of_the_app() {
        let mut tracker = DeploymentTracker::default();
        tracker.start(deployment("a", "/web", DeploymentKind::Start));
        tracker.start(deployment("b", "/db", DeploymentKind::Start));
        let superseded = tracker.start(deployment("c", "/web", DeploymentKind::Scale));
        assert_eq!(superseded.len(), 1);
        let ids: Vec<&str> = tracker.all().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(tracker.of_app(&AppId::new("/web")).count(), 1);
    }

    #[test]
    fn a_start_has_two_steps() {
        let info = deployment("a", "/web", DeploymentKind::Start).info();
        let json = marathon_api::deployment_json(&info);
        assert_eq!(json["totalSteps"], 2);
        assert_eq!(json["currentStep"], 1);
        assert_eq!(json["currentActions"][0]["action"], "StartApplication");
        assert_eq!(json["steps"][1]["actions"][0]["action"], "ScaleApplication");
        assert_eq!(json["affectedApps"][0], "/web");
    }

    #[test]
    fn plans_survive_a_json_round_trip() {
        let mut d = deployment("a", "/web", DeploymentKind::Start);
        d.steps[1].changes.push(Change::Delete("/old".into()));
        d.originals.push(("/web".into(), None));
        let json = serde_json::to_string(&d).expect("json");
        assert_eq!(serde_json::from_str::<Deployment>(&json).expect("back"), d);
    }
}
