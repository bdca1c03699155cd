//! Client commands (`marathon app ...`, `marathon task ...`): thin calls to Marathon's REST API v2,
//! printed as human tables by default or as the API's JSON with `--json`.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table, presets::NOTHING};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub(crate) struct ClientFlags {
    /// Marathon's address.
    #[arg(long, global = true, env = "MARATHON_URL", default_value = "http://localhost:8080")]
    url: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AppCommand {
    /// Create an app from a JSON definition file (`-` for standard input).
    Add {
        file: PathBuf,
        /// Follow the deployment until it finishes.
        #[arg(long)]
        wait: bool,
    },
    /// List apps.
    List,
    /// Show one app.
    Show { id: String },
    /// Change the number of instances.
    Scale {
        id: String,
        instances: u32,
        #[arg(long)]
        wait: bool,
    },
    /// Replace every instance with a new one.
    Restart {
        id: String,
        #[arg(long)]
        wait: bool,
    },
    /// Delete an app and kill its tasks.
    Remove {
        id: String,
        #[arg(long)]
        wait: bool,
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
        #[arg(long)]
        scale: bool,
        /// Forget the instances (a new instance id replaces each).
        #[arg(long)]
        wipe: bool,
    },
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(flags: &ClientFlags) -> Self {
        Api { http: reqwest::Client::new(), base: flags.url.trim_end_matches('/').to_string() }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            bail!("{method} {path} failed with {status}: {}", describe_error(&value));
        }
        Ok(value)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }
}

/// Marathon's error body as one readable text: the message and each invalid path.
fn describe_error(body: &Value) -> String {
    let message = body.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| body.to_string());
    let details: Vec<String> = body
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let errors: Vec<&str> =
                d.get("errors").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            format!("{}: {}", d.get("path").and_then(Value::as_str).unwrap_or("/"), errors.join("; "))
        })
        .collect();
    if details.is_empty() { message } else { format!("{message}\n  {}", details.join("\n  ")) }
}

fn app_path(id: &str) -> String {
    format!("/v2/apps/{}", id.trim_start_matches('/'))
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    t
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub(crate) async fn app(flags: &ClientFlags, command: AppCommand) -> anyhow::Result<()> {
    let api = Api::new(flags);
    let (result, wait_for) = match command {
        AppCommand::Add { file, wait } => {
            let definition = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("read the app definition from stdin")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?
            };
            let definition: Value = serde_json::from_str(&definition).context("the app definition is not JSON")?;
            let created = api.send(reqwest::Method::POST, "/v2/apps", Some(definition)).await?;
            let id = created.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            (created, wait.then_some(id))
        }
        AppCommand::List => {
            let apps = api.get("/v2/apps").await?;
            if flags.json {
                return print_json(&apps);
            }
            let mut t = table(&["ID", "INSTANCES", "CPUS", "MEM", "DEPLOYMENTS", "CMD"]);
            for app in apps["apps"].as_array().into_iter().flatten() {
                t.add_row(vec![
                    text(&app["id"]),
                    format!("{}/{}", text(&app["tasksRunning"]), text(&app["instances"])),
                    text(&app["cpus"]),
                    text(&app["mem"]),
                    app["deployments"].as_array().map_or(0, Vec::len).to_string(),
                    app["cmd"].as_str().or(app["container"]["docker"]["image"].as_str()).unwrap_or("-").to_string(),
                ]);
            }
            println!("{t}");
            return Ok(());
        }
        AppCommand::Show { id } => {
            let app = api.get(&app_path(&id)).await?;
            if flags.json {
                return print_json(&app);
            }
            let app = &app["app"];
            let mut t = table(&["FIELD", "VALUE"]);
            for key in ["id", "cmd", "instances", "tasksRunning", "tasksStaged", "cpus", "mem", "disk", "version"] {
                t.add_row(vec![key.to_string(), text(&app[key])]);
            }
            println!("{t}");
            print_tasks(app["tasks"].as_array().map(Vec::as_slice).unwrap_or_default());
            return Ok(());
        }
        AppCommand::Scale { id, instances, wait } => {
            let body = json!({ "instances": instances });
            let result = api.send(reqwest::Method::PUT, &app_path(&id), Some(body)).await?;
            (result, wait.then_some(id))
        }
        AppCommand::Restart { id, wait } => {
            let result = api.send(reqwest::Method::POST, &format!("{}/restart", app_path(&id)), None).await?;
            (result, wait.then_some(id))
        }
        AppCommand::Remove { id, wait } => {
            let result = api.send(reqwest::Method::DELETE, &app_path(&id), None).await?;
            (result, wait.then_some(id))
        }
    };
    if flags.json {
        print_json(&result)?;
    } else {
        let deployment = deployment_id(&result).unwrap_or_else(|| "-".to_string());
        println!("deployment {deployment}");
    }
    if let (Some(app), Some(deployment)) = (wait_for, deployment_id(&result)) {
        follow_deployment(&api, &app, &deployment).await?;
    }
    Ok(())
}

fn deployment_id(result: &Value) -> Option<String> {
    result
        .get("deploymentId")
        .and_then(Value::as_str)
        .or_else(|| result.get("deployments")?.get(0)?.get("id")?.as_str())
        .map(str::to_string)
}

/// Shows a progress bar of running instances until the deployment is gone from `/v2/deployments`.
async fn follow_deployment(api: &Api, app: &str, deployment: &str) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} running")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("deployment {deployment}"));
    loop {
        let deployments = api.get("/v2/deployments").await?;
        let active = deployments.as_array().into_iter().flatten().any(|d| d["id"] == deployment);
        if let Ok(app) = api.get(&app_path(app)).await {
            bar.set_length(app["app"]["instances"].as_u64().unwrap_or(0));
            bar.set_position(app["app"]["tasksRunning"].as_u64().unwrap_or(0));
        }
        if !active {
            bar.finish_with_message(format!("deployment {deployment} finished"));
            return Ok(());
        }
        bar.tick();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn print_tasks(tasks: &[Value]) {
    let mut t = table(&["TASK", "APP", "HOST", "PORTS", "STATE", "STARTED"]);
    for task in tasks {
        let ports: Vec<String> = task["ports"].as_array().into_iter().flatten().map(text).collect();
        t.add_row(vec![
            text(&task["id"]),
            text(&task["appId"]),
            text(&task["host"]),
            ports.join(","),
            text(&task["state"]),
            text(&task["startedAt"]),
        ]);
    }
    println!("{t}");
}

pub(crate) async fn task(flags: &ClientFlags, command: TaskCommand) -> anyhow::Result<()> {
    let api = Api::new(flags);
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
            print_tasks(tasks["tasks"].as_array().map(Vec::as_slice).unwrap_or_default());
        }
        TaskCommand::Kill { ids, scale, wipe } => {
            let path = format!("/v2/tasks/delete?scale={scale}&wipe={wipe}");
            let result = api.send(reqwest::Method::POST, &path, Some(json!({ "ids": ids }))).await?;
            if flags.json {
                return print_json(&result);
            }
            match deployment_id(&result) {
                Some(d) => println!("deployment {d}"),
                None => print_tasks(result["tasks"].as_array().map(Vec::as_slice).unwrap_or_default()),
            }
        }
    }
    Ok(())
}
