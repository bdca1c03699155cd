//! Client commands (`marathon app ...`, `marathon task ...`): thin calls to Marathon's REST API v2,
//! printed as human tables by default or as the API's JSON with `--json`. Errors go to standard
//! error (with the API's validation details) and end the process with a non-zero status;
//! `--wait` follows a deployment on standard error until it succeeds or fails.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table, presets::NOTHING};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `--wait` looks at the deployment.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub(crate) struct ClientFlags {
    /// Marathon's address.
    #[arg(long, global = true, env = "MARATHON_URL", default_value = "http://localhost:8080")]
    url: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WaitFlags {
    /// Follow the deployment (progress on standard error) until it succeeds; exit non-zero if it
    /// fails.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up (and exit non-zero) after this many seconds; default: no limit.
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    timeout: Option<u64>,
    /// Apply the change even if a deployment of the app is running (it replaces that one).
    #[arg(long)]
    force: bool,
}

impl WaitFlags {
    /// `path` with `?force=true` when forced.
    fn forced(&self, path: &str) -> String {
        if self.force { format!("{path}?force=true") } else { path.to_string() }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum AppCommand {
    /// Create an app from a JSON definition file (`-` for standard input).
    Add {
        file: PathBuf,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// List apps.
    List,
    /// Show one app and its tasks.
    Show { id: String },
    /// Change the number of instances.
    Scale {
        id: String,
        instances: u32,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Replace every instance with a new one.
    Restart {
        id: String,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Delete an app and kill its tasks.
    Remove {
        id: String,
        #[command(flatten)]
        wait: WaitFlags,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// List tasks, of one app or of all.
    List { app: Option<String> },
    /// Kill tasks; without --scale they are replaced.
    Kill {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Lower the app's instance count instead of replacing the tasks.
        #[arg(long, conflicts_with = "wipe")]
        scale: bool,
        /// Forget the instances (a new instance id replaces each).
        #[arg(long)]
        wipe: bool,
    },
}

/// Ends a client command: on error, prints it to standard error and exits with status 1.
pub(crate) fn finish(result: anyhow::Result<()>) -> anyhow::Result<()> {
    if let Err(e) = result {
        let broken_pipe =
            e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if !broken_pipe {
            eprintln!("error: {e:#}");
        }
        std::process::exit(1);
    }
    Ok(())
}

/// A request Marathon refused: the method, path, status and error body.
#[derive(Debug)]
struct ApiError {
    method: reqwest::Method,
    path: String,
    status: reqwest::StatusCode,
    body: Value,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} failed with {}: {}", self.method, self.path, self.status, describe_error(&self.body))
    }
}

impl std::error::Error for ApiError {}

/// Marathon's error body as readable text: the message, then one line per invalid path (or the
/// parser's text), and the deployments that lock an app.
fn describe_error(body: &Value) -> String {
    let message = match body.get("message").and_then(Value::as_str) {
        Some(message) => message.to_string(),
        None => match body {
            Value::String(text) if text.trim().is_empty() => "(empty response)".to_string(),
            Value::String(text) => text.trim().to_string(),
            other => other.to_string(),
        },
    };
    let mut lines = vec![message];
    match body.get("details") {
        Some(Value::Array(details)) => {
            for detail in details {
                let path = detail.get("path").and_then(Value::as_str).unwrap_or("/");
                let errors: Vec<String> = match detail.get("errors") {
                    Some(Value::Array(errors)) => errors.iter().map(text).collect(),
                    Some(other) => vec![text(other)],
                    None => vec![text(detail)],
                };
                lines.push(format!("  {path}: {}", errors.join("; ")));
            }
        }
        Some(Value::Null) | None => {}
        Some(other) => lines.push(format!("  {}", text(other))),
    }
    let locking: Vec<String> =
        body.get("deployments").and_then(Value::as_array).into_iter().flatten().map(|d| text(&d["id"])).collect();
    if !locking.is_empty() {
        lines.push(format!("  deployments: {}", locking.join(", ")));
    }
    lines.join("\n")
}

struct Api {
    http: reqwest::Client,
    base: String,
}

/// A successful answer: its JSON, and the deployment it started (from the `Marathon-Deployment-Id`
/// header or the body).
struct Reply {
    body: Value,
    deployment: Option<String>,
}

impl Api {
    fn new(flags: &ClientFlags) -> anyhow::Result<Self> {
        let url = flags.url.trim().trim_end_matches('/');
        let base = if url.contains("://") { url.to_string() } else { format!("http://{url}") };
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().context("create the HTTP client")?;
        Ok(Api { http, base })
    }

    /// Sends a request; a non-2xx answer is an [`ApiError`].
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        Ok(self.change(method, path, body).await?.body)
    }

    /// Sends a request that may start a deployment.
    async fn change(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url).header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response =
            request.send().await.with_context(|| format!("{method} {url}: cannot reach Marathon at {}", self.base))?;
        let status = response.status();
        let deployment = response
            .headers()
            .get("marathon-deployment-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let text = response.text().await.with_context(|| format!("{method} {url}: reading the answer"))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            return Err(ApiError { method, path: path.to_string(), status, body: value }.into());
        }
        let deployment = deployment.or_else(|| deployment_id(&value));
        Ok(Reply { body: value, deployment })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// `GET /v2/apps/{id}`'s app, or `None` if it does not exist.
    async fn app(&self, id: &str) -> anyhow::Result<Option<Value>> {
        match self.get(&app_path(id)).await {
            Ok(mut body) => Ok(Some(body["app"].take())),
            Err(e) if e.downcast_ref::<ApiError>().is_some_and(|e| e.status == reqwest::StatusCode::NOT_FOUND) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn app_path(id: &str) -> String {
    format!("/v2/apps/{}", id.trim_matches('/'))
}

/// An app id as Marathon shows it (absolute).
fn absolute(id: &str) -> String {
    format!("/{}", id.trim_matches('/'))
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    t
}

/// A JSON value as a table cell: strings unquoted, whole floats without `.0`, null as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn print(text: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    print(serde_json::to_string_pretty(v)?)
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn read_definition(file: &Path) -> anyhow::Result<Value> {
    let (name, definition) = if file.as_os_str() == "-" {
        let text = std::io::read_to_string(std::io::stdin()).context("read the app definition from standard input")?;
        ("standard input".to_string(), text)
    } else {
        let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        (file.display().to_string(), text)
    };
    serde_json::from_str(&definition).with_context(|| format!("the app definition in {name} is not JSON"))
}

/// Runs `marathon app ...`.
pub(crate) async fn app(flags: &ClientFlags, command: AppCommand) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    let (result, summary, app_id, wait, removal) = match command {
        AppCommand::List => return list_apps(&api, flags.json).await,
        AppCommand::Show { id } => return show_app(&api, &id, flags.json).await,
        AppCommand::Add { file, wait } => {
            let definition = read_definition(&file)?;
            let created = api.change(reqwest::Method::POST, &wait.forced("/v2/apps"), Some(&definition)).await?;
            let id = created
                .body
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| absolute(definition.get("id").and_then(Value::as_str).unwrap_or_default()));
            (created, format!("Created app {id}"), id, wait, false)
        }
        AppCommand::Scale { id, instances, wait } => {
            // PUT would create a missing app: make sure it exists first.
            api.get(&app_path(&id)).await?;
            let body = json!({ "instances": instances });
            let result = api.change(reqwest::Method::PUT, &wait.forced(&app_path(&id)), Some(&body)).await?;
            (result, format!("Scaling {} to {instances} instance(s)", absolute(&id)), id, wait, false)
        }
        AppCommand::Restart { id, wait } => {
            let path = wait.forced(&format!("{}/restart", app_path(&id)));
            let result = api.change(reqwest::Method::POST, &path, None).await?;
            (result, format!("Restarting {}", absolute(&id)), id, wait, false)
        }
        AppCommand::Remove { id, wait } => {
            let result = api.change(reqwest::Method::DELETE, &app_path(&id), None).await?;
            (result, format!("Removing {}", absolute(&id)), id, wait, true)
        }
    };
    let Reply { body: result, deployment } = result;
    if flags.json {
        print_json(&result)?;
    } else {
        match &deployment {
            Some(d) => print(format!("{summary} (deployment {d})"))?,
            None => print(summary)?,
        }
    }
    if wait.wait {
        let deployment = deployment.context("Marathon's answer names no deployment to wait for")?;
        follow_deployment(&api, &app_id, &deployment, removal, wait.timeout.map(Duration::from_secs)).await?;
    }
    Ok(())
}

async fn list_apps(api: &Api, json: bool) -> anyhow::Result<()> {
    let apps = api.get("/v2/apps").await?;
    if json {
        return print_json(&apps);
    }
    let mut t = table(&["ID", "INSTANCES", "CPUS", "MEM", "DEPLOYMENTS", "CMD"]);
    for app in array(&apps["apps"]) {
        t.add_row(vec![
            text(&app["id"]),
            format!("{}/{}", text(&app["tasksRunning"]), text(&app["instances"])),
            text(&app["cpus"]),
            text(&app["mem"]),
            array(&app["deployments"]).len().to_string(),
            app["cmd"].as_str().or(app["container"]["docker"]["image"].as_str()).unwrap_or("-").to_string(),
        ]);
    }
    print(t)
}

async fn show_app(api: &Api, id: &str, json: bool) -> anyhow::Result<()> {
    let body = api.get(&app_path(id)).await?;
    if json {
        return print_json(&body);
    }
    let app = &body["app"];
    let mut t = table(&["FIELD", "VALUE"]);
    for key in ["id", "cmd", "instances", "tasksRunning", "tasksStaged", "cpus", "mem", "disk", "version"] {
        t.add_row(vec![key.to_string(), text(&app[key])]);
    }
    let deployments: Vec<String> = array(&app["deployments"]).iter().map(|d| text(&d["id"])).collect();
    t.add_row(vec!["deployments".to_string(), if deployments.is_empty() { "-".into() } else { deployments.join(",") }]);
    if let Some(failure) = app.get("lastTaskFailure").filter(|f| !f.is_null()) {
        let what =
            format!("{} {}: {}", text(&failure["timestamp"]), text(&failure["state"]), text(&failure["message"]));
        t.add_row(vec!["lastTaskFailure".to_string(), what]);
    }
    print(t)?;
    print("")?;
    print_tasks(array(&app["tasks"]))
}

fn deployment_id(result: &Value) -> Option<String> {
    result
        .get("deploymentId")
        .and_then(Value::as_str)
        .or_else(|| result.get("deployments")?.get(0)?.get("id")?.as_str())
        .map(str::to_string)
}

/// Where an app stands against its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Convergence {
    wanted: u64,
    /// Running tasks of the current configuration.
    current: u64,
    /// Tasks in any other state or of an older configuration (starting, being killed...).
    other: u64,
}

impl Convergence {
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

    fn done(self) -> bool {
        self.current == self.wanted && self.other == 0
    }
}

/// Shows a progress bar (running instances of the current configuration) until the deployment
/// is gone from `/v2/deployments` and the app has converged: `wanted` instances running its
/// current configuration and nothing else, or, for a removal, no app. Fails if the app
/// disappears (or, for a removal, comes back), if a newer deployment of the app replaces this
/// one, or at the timeout.
async fn follow_deployment(
    api: &Api,
    app_id: &str,
    deployment: &str,
    removal: bool,
    timeout: Option<Duration>,
) -> anyhow::Result<()> {
    let app_id = absolute(app_id);
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
        // Read after the deployments, so a finished deployment is seen with the app's state
        // after it.
        let app = api.app(&app_id).await?;
        let convergence = app.as_ref().map(Convergence::of);
        if let Some(c) = convergence {
            bar.set_length(c.wanted);
            bar.set_position(c.current.min(c.wanted));
        }
        let failure = app
            .as_ref()
            .and_then(|a| a.get("lastTaskFailure"))
            .filter(|f| !f.is_null())
            .map(|f| format!("; last task failure: {} {}", text(&f["state"]), text(&f["message"])))
            .unwrap_or_default();
        let step = match ours {
            Some(d) => {
                let actions: Vec<String> = array(&d["currentActions"]).iter().map(|a| text(&a["action"])).collect();
                format!("{} (step {}/{})", actions.join(","), text(&d["currentStep"]), text(&d["totalSteps"]))
            }
            None => "finished".to_string(),
        };
        let state = match convergence {
            Some(c) => format!("{step}: {app_id} {} running, {} other task(s){failure}", c.current, c.other),
            None => format!("{step}: {app_id} is gone"),
        };
        bar.set_message(format!("deployment {deployment}: {state}"));
        if ours.is_none() {
            // Our deployment is over: whether it did its job depends on the app.
            let others: Vec<String> = app
                .as_ref()
                .map(|a| array(&a["deployments"]).iter().map(|d| text(&d["id"])).collect())
                .unwrap_or_default();
            match (removal, convergence) {
                (true, None) => {
                    bar.finish_and_clear();
                    eprintln!("deployment {deployment} succeeded: {app_id} removed");
                    return Ok(());
                }
                (true, Some(_)) => return fail(&bar, format!("{app_id} exists again")),
                (false, None) => return fail(&bar, format!("{app_id} was removed")),
                (false, Some(_)) if !others.is_empty() => {
                    return fail(&bar, format!("superseded by deployment {} of {app_id}", others.join(", ")));
                }
                (false, Some(c)) if c.done() => {
                    bar.finish_and_clear();
                    eprintln!(
                        "deployment {deployment} succeeded: {app_id} {}/{} instance(s) running",
                        c.current, c.wanted
                    );
                    return Ok(());
                }
                // Finished, but a task ended since: Marathon replaces it.
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

fn print_tasks(tasks: &[Value]) -> anyhow::Result<()> {
    let mut t = table(&["TASK", "APP", "HOST", "PORTS", "STATE", "VERSION", "STARTED"]);
    for task in tasks {
        let ports: Vec<String> = array(&task["ports"]).iter().map(text).collect();
        t.add_row(vec![
            text(&task["id"]),
            text(&task["appId"]),
            text(&task["host"]),
            if ports.is_empty() { "-".to_string() } else { ports.join(",") },
            text(&task["state"]),
            text(&task["version"]),
            text(&task["startedAt"]),
        ]);
    }
    print(t)
}

/// Runs `marathon task ...`.
pub(crate) async fn task(flags: &ClientFlags, command: TaskCommand) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    match command {
        TaskCommand::List { app } => {
            let path = match &app {
                Some(id) => format!("{}/tasks", app_path(id)),
                None => "/v2/tasks".to_string(),
            };
            let tasks = api.get(&path).await?;
            if flags.json {
                return print_json(&tasks);
            }
            print_tasks(array(&tasks["tasks"]))
        }
        TaskCommand::Kill { ids, scale, wipe } => {
            let path = format!("/v2/tasks/delete?scale={scale}&wipe={wipe}");
            let Reply { body: result, deployment } =
                api.change(reqwest::Method::POST, &path, Some(&json!({ "ids": ids }))).await?;
            if flags.json {
                print_json(&result)?;
            } else if let Some(d) = &deployment {
                print(format!("Killing {} task(s) and scaling down (deployment {d})", ids.len()))?;
            } else {
                let killed = array(&result["tasks"]);
                print(format!("Killing {} task(s)", killed.len()))?;
                if !killed.is_empty() {
                    print_tasks(killed)?;
                }
            }
            if deployment.is_none() {
                let killed: Vec<&str> = array(&result["tasks"]).iter().filter_map(|t| t["id"].as_str()).collect();
                let unknown: Vec<&str> = ids.iter().map(String::as_str).filter(|id| !killed.contains(id)).collect();
                if !unknown.is_empty() {
                    bail!("unknown task(s): {}", unknown.join(", "));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_the_message_and_each_invalid_path() {
        let body = json!({"message": "Object is not valid", "details": [
            {"path": "/cpus", "errors": ["got -1.0, expected 0.0 or more"]},
            {"path": "/mem", "errors": ["a", "b"]},
        ]});
        assert_eq!(describe_error(&body), "Object is not valid\n  /cpus: got -1.0, expected 0.0 or more\n  /mem: a; b");
        let syntax = json!({"message": "Invalid JSON", "details": "unexpected end of input"});
        assert_eq!(describe_error(&syntax), "Invalid JSON\n  unexpected end of input");
        assert_eq!(describe_error(&json!("pong\n")), "pong");
        let locked = json!({"message": "App is locked", "deployments": [{"id": "d1"}, {"id": "d2"}]});
        assert_eq!(describe_error(&locked), "App is locked\n  deployments: d1, d2");
    }

    #[test]
    fn cells_print_whole_floats_without_fraction() {
        assert_eq!(text(&json!(16.0)), "16");
        assert_eq!(text(&json!(0.05)), "0.05");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(text(&json!(null)), "-");
        assert_eq!(text(&json!("a")), "a");
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
