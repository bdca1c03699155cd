//! `marathon app ...`.

use super::deployment::{Subject, report_change};
use super::*;
use clap::Subcommand;
use serde_json::json;

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
    /// Change an app from a JSON file: the fields given replace the app's (PATCH-like, as
    /// Marathon's `PUT /v2/apps/{id}?partialUpdate=true`).
    Update {
        id: String,
        file: PathBuf,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// The app's stored versions, newest first.
    Versions { id: String },
    /// Go back to an earlier version of the app (from `marathon app versions`).
    Rollback {
        id: String,
        version: String,
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

/// Runs `marathon app ...`.
pub(crate) async fn app(flags: &ClientFlags, command: AppCommand) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    let (result, summary, app_id, wait, removal) = match command {
        AppCommand::List => return list_apps(&api, flags.json).await,
        AppCommand::Show { id } => return show_app(&api, &id, flags.json).await,
        AppCommand::Add { file, wait } => {
            let definition = read_definition(&file, "app")?;
            let created = api.change(reqwest::Method::POST, &wait.forced("/v2/apps"), Some(&definition)).await?;
            let id = created_id(&created, &definition);
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
        AppCommand::Versions { id } => return list_versions(&api, &id, flags.json).await,
        AppCommand::Update { id, file, wait } => {
            let mut definition = read_definition(&file, "app")?;
            if let Some(fields) = definition.as_object_mut() {
                // The id is the path's; a different one in the file would be refused.
                fields.remove("id");
            }
            let path = wait.forced(&format!("{}?partialUpdate=true", app_path(&id)));
            let result = api.change(reqwest::Method::PUT, &path, Some(&definition)).await?;
            (result, format!("Updating {}", absolute(&id)), id, wait, false)
        }
        AppCommand::Rollback { id, version, wait } => {
            // The version must exist: Marathon answers 404 with the version in the message if not.
            let body = json!({ "version": version });
            let result = api.change(reqwest::Method::PUT, &wait.forced(&app_path(&id)), Some(&body)).await?;
            (result, format!("Rolling {} back to version {version}", absolute(&id)), id, wait, false)
        }
        AppCommand::Remove { id, wait } => {
            let result = api.change(reqwest::Method::DELETE, &app_path(&id), None).await?;
            (result, format!("Removing {}", absolute(&id)), id, wait, true)
        }
    };
    report_change(flags, &api, result, summary, Subject::App(app_id), &wait, removal).await
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

async fn list_versions(api: &Api, id: &str, json: bool) -> anyhow::Result<()> {
    let body = api.get(&format!("{}/versions", app_path(id))).await?;
    if json {
        return print_json(&body);
    }
    let mut t = table(&["VERSION"]);
    for version in array(&body["versions"]) {
        t.add_row(vec![text(version)]);
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
