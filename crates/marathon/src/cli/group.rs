//! `marathon group ...`: the group tree, and changes of whole groups (each one deployment).

use super::deployment::follow_until_gone;
use super::*;
use clap::Subcommand;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// The group tree with the apps in each group.
    List,
    /// One group: its apps, subgroups and dependencies.
    Show { id: String },
    /// Create a group from a JSON definition file (`-` for standard input).
    Add {
        file: PathBuf,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Change a group (created if missing) from a JSON file: listed apps and subgroups replace
    /// the group's.
    Update {
        id: String,
        file: PathBuf,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Multiply the instances of every app in the group.
    Scale {
        id: String,
        factor: f64,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Delete a group with every app and group in it.
    Remove {
        id: String,
        #[command(flatten)]
        wait: WaitFlags,
    },
}

fn group_path(id: &str) -> String {
    let id = id.trim_matches('/');
    if id.is_empty() { "/v2/groups".to_string() } else { format!("/v2/groups/{id}") }
}

/// Runs `marathon group ...`.
pub(crate) async fn group(flags: &ClientFlags, command: GroupCommand) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    let (reply, summary, wait) = match command {
        GroupCommand::List => {
            let root = api.get("/v2/groups?embed=group.groups&embed=group.apps").await?;
            if flags.json {
                return print_json(&root);
            }
            let mut t = table(&["GROUP", "APPS", "INSTANCES", "DEPENDENCIES"]);
            add_rows(&mut t, &root);
            return print(t);
        }
        GroupCommand::Show { id } => {
            let group = api.get(&format!("{}?embed=group.groups&embed=group.apps", group_path(&id))).await?;
            if flags.json {
                return print_json(&group);
            }
            let mut t = table(&["APP", "INSTANCES", "CPUS", "MEM", "DEPENDENCIES"]);
            for app in array(&group["apps"]) {
                let deps: Vec<String> = array(&app["dependencies"]).iter().map(text).collect();
                t.add_row(vec![
                    text(&app["id"]),
                    text(&app["instances"]),
                    text(&app["cpus"]),
                    text(&app["mem"]),
                    if deps.is_empty() { "-".into() } else { deps.join(",") },
                ]);
            }
            print(format!("group {} (version {})", text(&group["id"]), text(&group["version"])))?;
            let subgroups: Vec<String> = array(&group["groups"]).iter().map(|g| text(&g["id"])).collect();
            if !subgroups.is_empty() {
                print(format!("subgroups: {}", subgroups.join(", ")))?;
            }
            return print(t);
        }
        GroupCommand::Add { file, wait } => {
            let definition = read_definition(&file, "group")?;
            let reply = api.change(reqwest::Method::POST, &wait.forced("/v2/groups"), Some(&definition)).await?;
            let id = definition.get("id").and_then(Value::as_str).map(absolute).unwrap_or_default();
            (reply, format!("Created group {id}"), wait)
        }
        GroupCommand::Update { id, file, wait } => {
            let definition = read_definition(&file, "group")?;
            let reply = api.change(reqwest::Method::PUT, &wait.forced(&group_path(&id)), Some(&definition)).await?;
            (reply, format!("Updating group {}", absolute(&id)), wait)
        }
        GroupCommand::Scale { id, factor, wait } => {
            let body = json!({ "scaleBy": factor });
            let reply = api.change(reqwest::Method::PUT, &wait.forced(&group_path(&id)), Some(&body)).await?;
            (reply, format!("Scaling group {} by {factor}", absolute(&id)), wait)
        }
        GroupCommand::Remove { id, wait } => {
            let reply = api.change(reqwest::Method::DELETE, &wait.forced(&group_path(&id)), None).await?;
            (reply, format!("Removing group {}", absolute(&id)), wait)
        }
    };
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
        follow_until_gone(&api, &deployment, wait.timeout.map(Duration::from_secs)).await?;
    }
    Ok(())
}

/// One row per group, depth first (the root first).
fn add_rows(t: &mut Table, group: &Value) {
    let apps = array(&group["apps"]);
    let instances: u64 = apps.iter().filter_map(|a| a["instances"].as_u64()).sum();
    let deps: Vec<String> = array(&group["dependencies"]).iter().map(text).collect();
    t.add_row(vec![
        text(&group["id"]),
        apps.len().to_string(),
        instances.to_string(),
        if deps.is_empty() { "-".into() } else { deps.join(",") },
    ]);
    for sub in array(&group["groups"]) {
        add_rows(t, sub);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_listed_depth_first_with_instance_sums() {
        let root = json!({"id": "/", "apps": [], "groups": [
            {"id": "/a", "apps": [{"id": "/a/x", "instances": 2}, {"id": "/a/y", "instances": 3}],
             "dependencies": ["/b"], "groups": [{"id": "/a/c", "apps": [], "groups": []}]},
            {"id": "/b", "apps": [], "groups": []},
        ]});
        let mut t = table(&["GROUP", "APPS", "INSTANCES", "DEPENDENCIES"]);
        add_rows(&mut t, &root);
        let rows: Vec<String> =
            t.to_string().lines().skip(1).map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(rows, vec!["/ 0 0 -", "/a 2 5 /b", "/a/c 0 0 -", "/b 0 0 -"]);
        assert_eq!(group_path("/"), "/v2/groups");
        assert_eq!(group_path("/prod/web/"), "/v2/groups/prod/web");
    }
}
