//! `marathon task ...`.

use super::*;
use anyhow::bail;
use clap::Subcommand;
use serde_json::json;

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
