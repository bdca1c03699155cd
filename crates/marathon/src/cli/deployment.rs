//! `marathon deployment ...`, and following a deployment (`--wait`).

use super::*;
use anyhow::bail;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum DeploymentCommand {
    /// List running deployments with their current step.
    List,
    /// Cancel a deployment: a new deployment rolls its apps back to where they were. With
    /// --force, stop it where it is instead (no rollback).
    Cancel {
        id: String,
        /// Stop without rolling back.
        #[arg(long)]
        force: bool,
        /// With a rollback: follow it until it is done.
        #[arg(long, conflicts_with = "force")]
        wait: bool,
    },
}

/// Runs `marathon deployment ...`.
pub(crate) async fn deployment(flags: &ClientFlags, command: DeploymentCommand) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    match command {
        DeploymentCommand::List => {
            let deployments = api.get("/v2/deployments").await?;
            if flags.json {
                return print_json(&deployments);
            }
            let mut t = table(&["ID", "VERSION", "STEP", "ACTIONS", "APPS/PODS"]);
            for d in array(&deployments) {
                let actions: Vec<String> = array(&d["currentActions"]).iter().map(action).collect();
                let apps: Vec<String> =
                    array(&d["affectedApps"]).iter().chain(array(&d["affectedPods"])).map(text).collect();
                t.add_row(vec![
                    text(&d["id"]),
                    text(&d["version"]),
                    format!("{}/{}", text(&d["currentStep"]), text(&d["totalSteps"])),
                    if actions.is_empty() { "-".into() } else { actions.join(", ") },
                    apps.join(","),
                ]);
            }
            print(t)
        }
        DeploymentCommand::Cancel { id, force, wait } => {
            let path = format!("/v2/deployments/{id}{}", if force { "?force=true" } else { "" });
            let Reply { body, deployment } = api.change(reqwest::Method::DELETE, &path, None).await?;
            if flags.json {
                print_json(&body)?;
            } else if force {
                print(format!("Stopped deployment {id} (no rollback)"))?;
            } else {
                print(format!("Rolling back deployment {id} (deployment {})", deployment.as_deref().unwrap_or("-")))?;
            }
            if wait && let Some(rollback) = deployment {
                follow_until_gone(&api, &rollback, None).await?;
            }
            Ok(())
        }
    }
}

/// Shows a deployment's steps until it is gone from `/v2/deployments` (for changes of several
/// apps, such as groups), or the timeout.
pub(super) async fn follow_until_gone(api: &Api, deployment: &str, timeout: Option<Duration>) -> anyhow::Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} step {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    loop {
        let deployments = api.get("/v2/deployments").await?;
        let Some(d) = array(&deployments).iter().find(|d| d["id"] == deployment) else {
            bar.finish_and_clear();
            eprintln!("deployment {deployment} finished");
            return Ok(());
        };
        bar.set_length(d["totalSteps"].as_u64().unwrap_or(0));
        bar.set_position(d["currentStep"].as_u64().unwrap_or(0));
        let actions: Vec<String> = array(&d["currentActions"]).iter().map(action).collect();
        bar.set_message(actions.join(", "));
        if let (Some(deadline), Some(timeout)) = (deadline, timeout)
            && Instant::now() >= deadline
        {
            bar.abandon();
            bail!("deployment {deployment} timed out after {}s", timeout.as_secs());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A deployment's current action and what it acts on (an app, or a pod).
pub(super) fn action(a: &Value) -> String {
    let target = a.get("app").or_else(|| a.get("pod")).unwrap_or(&Value::Null);
    format!("{} {}", text(&a["action"]), text(target))
}

pub(super) fn deployment_id(result: &Value) -> Option<String> {
    result
        .get("deploymentId")
        .and_then(Value::as_str)
        .or_else(|| result.get("deployments")?.get(0)?.get("id")?.as_str())
        .map(str::to_string)
}

/// Prints what a change answered (the answer itself with `--json`, else `summary` and its
/// deployment) and, with `--wait`, follows the deployment on `subject`.
pub(super) async fn report_change(
    flags: &ClientFlags,
    api: &Api,
    reply: Reply,
    summary: String,
    subject: Subject,
    wait: &WaitFlags,
    removal: bool,
) -> anyhow::Result<()> {
    let Reply { body, deployment } = reply;
    if flags.json {
        print_json(&body)?;
    } else {
        match &deployment {
            Some(d) => print(format!("{summary} (deployment {d})"))?,
            None => print(summary)?,
        }
    }
    if wait.wait {
        let deployment = deployment.context("Marathon's answer names no deployment to wait for")?;
        follow_deployment(api, subject, &deployment, removal, wait.timeout.map(Duration::from_secs)).await?;
    }
    Ok(())
}

/// Where an app or a pod stands against its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Convergence {
    wanted: u64,
    /// An app's running tasks of the current configuration; a pod's STABLE instances.
    current: u64,
    /// Anything else (starting, being killed, an older configuration, degraded...).
    other: u64,
}

impl Convergence {
    /// An app's, from its tasks.
    fn of(app: &Value) -> Self {
        let config = app["versionInfo"]["lastConfigChangeAt"].as_str().or(app["version"].as_str());
        let (mut current, mut other) = (0, 0);
        for task in array(&app["tasks"]) {
            let fresh = match (config, task["version"].as_str()) {
                // Both are Marathon's fixed-width UTC timestamps, so text order is time order.
                (Some(config), Some(version)) => version >= config,
                _ => true,
            };
            if fresh && task["state"] == "TASK_RUNNING" {
                current += 1;
            } else {
                other += 1;
            }
        }
        Convergence { wanted: app["instances"].as_u64().unwrap_or(0), current, other }
    }

    /// A pod's, from its `::status` (`wanted`: its `scaling.instances`).
    pub(super) fn of_pod(status: &Value, wanted: u64) -> Self {
        let instances = array(&status["instances"]);
        let stable = instances.iter().filter(|i| i["status"] == "STABLE").count() as u64;
        Convergence { wanted, current: stable, other: instances.len() as u64 - stable }
    }

    fn done(self) -> bool {
        self.current == self.wanted && self.other == 0
    }
}

/// What a deployment being followed changes.
pub(super) enum Subject {
    App(String),
    Pod(String),
}

/// A subject as last read: where it stands, a note on its last failure, and the other
/// deployments that change it.
struct Observed {
    convergence: Convergence,
    failure: String,
    others: Vec<String>,
}

impl Subject {
    fn id(&self) -> String {
        match self {
            Self::App(id) | Self::Pod(id) => absolute(id),
        }
    }

    /// How its converged units are named: `(counted, others)`.
    fn words(&self) -> (&'static str, &'static str) {
        match self {
            Self::App(_) => ("running", "other task(s)"),
            Self::Pod(_) => ("stable", "other instance(s)"),
        }
    }

    /// Reads it (`None`: it does not exist); `deployments` is `/v2/deployments` as just read.
    async fn observe(&self, api: &Api, deployments: &Value, ours: &str) -> anyhow::Result<Option<Observed>> {
        let id = self.id();
        match self {
            Self::App(_) => {
                let Some(app) = api.app(&id).await? else { return Ok(None) };
                let failure = app
                    .get("lastTaskFailure")
                    .filter(|f| !f.is_null())
                    .map(|f| format!("; last task failure: {} {}", text(&f["state"]), text(&f["message"])))
                    .unwrap_or_default();
                let others = array(&app["deployments"]).iter().map(|d| text(&d["id"])).collect();
                Ok(Some(Observed { convergence: Convergence::of(&app), failure, others }))
            }
            Self::Pod(_) => {
                let Some(status) = api.find(&format!("{}::status", super::pod::pod_path(&id))).await? else {
                    return Ok(None);
                };
                let others = array(deployments)
                    .iter()
                    .filter(|d| d["id"] != ours && array(&d["affectedPods"]).iter().any(|p| p == id.as_str()))
                    .map(|d| text(&d["id"]))
                    .collect();
                let wanted = super::pod::wanted(&status["spec"]);
                Ok(Some(Observed { convergence: Convergence::of_pod(&status, wanted), failure: String::new(), others }))
            }
        }
    }
}

/// Shows a progress bar (an app's running instances of its current configuration, a pod's
/// STABLE instances) until the deployment is gone from `/v2/deployments` and its subject has
/// converged: the wanted instances and nothing else, or, for a removal, no such app or pod.
/// Fails if the subject disappears (or, for a removal, comes back), if a newer deployment of it
/// replaces this one, or at the timeout.
async fn follow_deployment(
    api: &Api,
    subject: Subject,
    deployment: &str,
    removal: bool,
    timeout: Option<Duration>,
) -> anyhow::Result<()> {
    let id = subject.id();
    let (counted, others_word) = subject.words();
    let deadline = timeout.map(|t| Instant::now() + t);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let fail = |bar: &indicatif::ProgressBar, message: String| -> anyhow::Result<()> {
        bar.abandon();
        bail!("deployment {deployment} failed: {message}")
    };
    loop {
        let deployments = api.get("/v2/deployments").await?;
        let ours = array(&deployments).iter().find(|d| d["id"] == deployment);
        // Read after the deployments, so a finished deployment is seen with the subject's
        // state after it.
        let observed = subject.observe(api, &deployments, deployment).await?;
        let convergence = observed.as_ref().map(|o| o.convergence);
        if let Some(c) = convergence {
            bar.set_length(c.wanted);
            bar.set_position(c.current.min(c.wanted));
        }
        let step = match ours {
            Some(d) => {
                let actions: Vec<String> = array(&d["currentActions"]).iter().map(action).collect();
                format!("{} (step {}/{})", actions.join(", "), text(&d["currentStep"]), text(&d["totalSteps"]))
            }
            None => "finished".to_string(),
        };
        let state = match &observed {
            Some(o) => format!(
                "{step}: {id} {} {counted}, {} {others_word}{}",
                o.convergence.current, o.convergence.other, o.failure
            ),
            None => format!("{step}: {id} is gone"),
        };
        bar.set_message(format!("deployment {deployment}: {state}"));
        if ours.is_none() {
            // Our deployment is over: whether it did its job depends on the subject.
            match (removal, observed) {
                (true, None) => {
                    bar.finish_and_clear();
                    eprintln!("deployment {deployment} succeeded: {id} removed");
                    return Ok(());
                }
                (true, Some(_)) => return fail(&bar, format!("{id} exists again")),
                (false, None) => return fail(&bar, format!("{id} was removed")),
                (false, Some(o)) if !o.others.is_empty() => {
                    return fail(&bar, format!("superseded by deployment {} of {id}", o.others.join(", ")));
                }
                (false, Some(o)) if o.convergence.done() => {
                    bar.finish_and_clear();
                    let c = o.convergence;
                    eprintln!(
                        "deployment {deployment} succeeded: {id} {}/{} instance(s) {counted}",
                        c.current, c.wanted
                    );
                    return Ok(());
                }
                // Finished, but an instance is not there (yet or any more): Marathon takes care
                // of it.
                (false, Some(_)) => {}
            }
        }
        if let (Some(deadline), Some(timeout)) = (deadline, timeout)
            && Instant::now() >= deadline
        {
            return fail(&bar, format!("timed out after {}s; {state}", timeout.as_secs()));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_converges_when_exactly_its_instances_are_stable() {
        let status = |states: &[&str]| {
            let instances: Vec<Value> = states.iter().map(|s| json!({"status": s})).collect();
            json!({"instances": instances})
        };
        assert!(Convergence::of_pod(&status(&["STABLE", "STABLE"]), 2).done());
        assert!(Convergence::of_pod(&status(&[]), 0).done());
        assert!(!Convergence::of_pod(&status(&["STABLE", "STAGING"]), 2).done());
        let c = Convergence::of_pod(&status(&["STABLE", "TERMINAL"]), 1);
        assert_eq!(c, Convergence { wanted: 1, current: 1, other: 1 });
        assert!(!c.done());
    }

    #[test]
    fn an_app_converges_when_exactly_its_instances_run_the_current_config() {
        let task = |state: &str, version: &str| json!({"state": state, "version": version});
        let app = |tasks: Vec<Value>| json!({"instances": 2, "versionInfo": {"lastConfigChangeAt": "2026-01-01T00:00:01.000Z"}, "tasks": tasks});
        let new = "2026-01-01T00:00:01.000Z";
        let old = "2026-01-01T00:00:00.000Z";
        assert!(Convergence::of(&app(vec![task("TASK_RUNNING", new), task("TASK_RUNNING", new)])).done());
        assert!(!Convergence::of(&app(vec![task("TASK_RUNNING", new)])).done());
        assert!(!Convergence::of(&app(vec![task("TASK_RUNNING", new), task("TASK_RUNNING", old)])).done());
        assert!(!Convergence::of(&app(vec![task("TASK_RUNNING", new), task("TASK_STAGING", new)])).done());
        let c = Convergence::of(&app(vec![
            task("TASK_RUNNING", new),
            task("TASK_RUNNING", new),
            task("TASK_KILLING", old),
        ]));
        assert_eq!(c, Convergence { wanted: 2, current: 2, other: 1 });
        assert!(!c.done());
    }

    #[test]
    fn deployment_ids_come_from_the_result_or_the_created_app() {
        assert_eq!(deployment_id(&json!({"deploymentId": "d"})).as_deref(), Some("d"));
        assert_eq!(deployment_id(&json!({"id": "/a", "deployments": [{"id": "e"}]})).as_deref(), Some("e"));
        assert_eq!(deployment_id(&json!({"tasks": []})), None);
    }
}
