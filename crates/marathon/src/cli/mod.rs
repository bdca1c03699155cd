//! Client commands (`marathon app|task|deployment|group|pod|queue|info|leader|events`): thin calls
//! to Marathon's REST API v2, printed as human tables by default or as the API's JSON with
//! `--json`. Errors go to standard error (with the API's validation details) and end the process
//! with a non-zero status; `--wait` follows a deployment on standard error until it succeeds or
//! fails.

mod app;
mod deployment;
mod group;
mod pod;
mod system;
mod task;

pub(crate) use app::{AppCommand, app};
pub(crate) use deployment::{DeploymentCommand, deployment};
pub(crate) use group::{GroupCommand, group};
pub(crate) use pod::{PodCommand, pod};
pub(crate) use system::{LeaderCommand, QueueCommand, events, info, leader, queue};
pub(crate) use task::{TaskCommand, task};

use anyhow::Context;
use clap::Args;
use comfy_table::{ContentArrangement, Table, presets::NOTHING};
use deployment::deployment_id;
use serde_json::Value;
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
    /// Apply the change even if a deployment of the app or pod is running (it replaces that
    /// one).
    #[arg(long)]
    force: bool,
}

impl WaitFlags {
    /// `path` with `force=true` in its query when forced.
    fn forced(&self, path: &str) -> String {
        match (self.force, path.contains('?')) {
            (false, _) => path.to_string(),
            (true, false) => format!("{path}?force=true"),
            (true, true) => format!("{path}&force=true"),
        }
    }
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

/// The id of what a POST created: Marathon's answer's, else the definition's.
fn created_id(created: &Reply, definition: &Value) -> String {
    created
        .body
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| absolute(definition.get("id").and_then(Value::as_str).unwrap_or_default()))
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

    /// `GET path`'s answer, or `None` if Marathon answers 404.
    async fn find(&self, path: &str) -> anyhow::Result<Option<Value>> {
        match self.get(path).await {
            Ok(body) => Ok(Some(body)),
            Err(e) if e.downcast_ref::<ApiError>().is_some_and(|e| e.status == reqwest::StatusCode::NOT_FOUND) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/apps/{id}`'s app, or `None` if it does not exist.
    async fn app(&self, id: &str) -> anyhow::Result<Option<Value>> {
        Ok(self.find(&app_path(id)).await?.map(|mut body| body["app"].take()))
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

/// The JSON definition of an app, group or pod (`what`) in `file`, or on standard input for `-`.
fn read_definition(file: &Path, what: &str) -> anyhow::Result<Value> {
    let (name, definition) = if file.as_os_str() == "-" {
        let text = std::io::read_to_string(std::io::stdin())
            .with_context(|| format!("read the {what} definition from standard input"))?;
        ("standard input".to_string(), text)
    } else {
        let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        (file.display().to_string(), text)
    };
    serde_json::from_str(&definition).with_context(|| format!("the {what} definition in {name} is not JSON"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
