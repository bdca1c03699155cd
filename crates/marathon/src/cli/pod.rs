//! `marathon pod ...`: pods (`/v2/pods`), their status, versions and instances, and following
//! a pod's deployment (`--wait`).

use super::deployment::{Subject, report_change};
use super::*;
use anyhow::bail;
use clap::Subcommand;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum PodCommand {
    /// List pods with their status.
    List,
    /// Show a pod's definition.
    Show { id: String },
    /// The pod's instances: their state, host, containers and endpoints.
    Status { id: String },
    /// Create a pod from a JSON definition file (`-` for standard input).
    Add {
        file: PathBuf,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Replace a pod's definition with a JSON file (`-` for standard input); the file's id may
    /// be left out.
    Update {
        id: String,
        file: PathBuf,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Change the number of instances.
    Scale {
        id: String,
        instances: u32,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Delete a pod and kill its instances.
    Remove {
        id: String,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// The pod's stored versions, newest first.
    Versions { id: String },
    /// The pod's definition at one of its versions (from `marathon pod versions`).
    Version { id: String, version: String },
    /// Kill instances of a pod; they are relaunched.
    Kill {
        id: String,
        #[arg(required = true, value_name = "INSTANCE_ID")]
        instances: Vec<String>,
        /// Forget the instances (new instances replace them).
        #[arg(long)]
        wipe: bool,
    },
}

pub(super) fn pod_path(id: &str) -> String {
    format!("/v2/pods/{}", id.trim_matches('/'))
}

/// Runs `marathon pod ...`.
pub(crate) async fn pod(flags: &ClientFlags, command: PodCommand) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    let (reply, summary, pod_id, wait, removal) = match command {
        PodCommand::List => return list_pods(&api, flags.json).await,
        PodCommand::Show { id } => return show_pod(&api.get(&pod_path(&id)).await?, flags.json),
        PodCommand::Status { id } => {
            let status = api.get(&format!("{}::status", pod_path(&id))).await?;
            if flags.json {
                return print_json(&status);
            }
            print(format!(
                "pod {} {} since {}",
                text(&status["id"]),
                text(&status["status"]),
                text(&status["statusSince"])
            ))?;
            return print_instances(array(&status["instances"]));
        }
        PodCommand::Versions { id } => {
            let versions = api.get(&format!("{}::versions", pod_path(&id))).await?;
            if flags.json {
                return print_json(&versions);
            }
            let mut t = table(&["VERSION"]);
            for version in array(&versions) {
                t.add_row(vec![text(version)]);
            }
            return print(t);
        }
        PodCommand::Version { id, version } => {
            let path = format!("{}::versions/{}", pod_path(&id), version.trim());
            return show_pod(&api.get(&path).await?, flags.json);
        }
        PodCommand::Kill { id, instances, wipe } => return kill(&api, &id, &instances, wipe, flags.json).await,
        PodCommand::Add { file, wait } => {
            let definition = read_definition(&file, "pod")?;
            let created = api.change(reqwest::Method::POST, &wait.forced("/v2/pods"), Some(&definition)).await?;
            let id = created_id(&created, &definition);
            (created, format!("Created pod {id}"), id, wait, false)
        }
        PodCommand::Update { id, file, wait } => {
            let mut definition = read_definition(&file, "pod")?;
            if let Some(fields) = definition.as_object_mut() {
                // A different id in the file is Marathon's to refuse.
                fields.entry("id").or_insert_with(|| json!(absolute(&id)));
            }
            let reply = api.change(reqwest::Method::PUT, &wait.forced(&pod_path(&id)), Some(&definition)).await?;
            (reply, format!("Updating pod {}", absolute(&id)), id, wait, false)
        }
        PodCommand::Scale { id, instances, wait } => {
            // PUT would create a missing pod: it is read first, and written back scaled.
            let mut definition = api.get(&pod_path(&id)).await?;
            scale(&mut definition, instances)?;
            let reply = api.change(reqwest::Method::PUT, &wait.forced(&pod_path(&id)), Some(&definition)).await?;
            (reply, format!("Scaling pod {} to {instances} instance(s)", absolute(&id)), id, wait, false)
        }
        PodCommand::Remove { id, wait } => {
            let reply = api.change(reqwest::Method::DELETE, &wait.forced(&pod_path(&id)), None).await?;
            (reply, format!("Removing pod {}", absolute(&id)), id, wait, true)
        }
    };
    report_change(flags, &api, reply, summary, Subject::Pod(pod_id), &wait, removal).await
}

/// Sets a pod definition's instance count.
fn scale(definition: &mut Value, instances: u32) -> anyhow::Result<()> {
    let Some(pod) = definition.as_object_mut() else { bail!("Marathon's pod is not a JSON object: {definition}") };
    let scaling = pod.entry("scaling").or_insert_with(|| json!({"kind": "fixed"}));
    let Some(scaling) = scaling.as_object_mut() else { bail!("the pod's scaling is not a JSON object: {scaling}") };
    scaling.insert("instances".into(), json!(instances));
    Ok(())
}

/// The instances a pod definition wants (upstream's default: 1).
pub(super) fn wanted(pod: &Value) -> u64 {
    pod["scaling"]["instances"].as_u64().unwrap_or(1)
}

/// The sum of a resource over a pod's containers (one instance's, the executor's left out).
fn container_sum(pod: &Value, resource: &str) -> Value {
    let sum: f64 =
        array(&pod["containers"]).iter().filter_map(|c| c["resources"][resource].as_f64()).fold(0.0, |a, b| a + b);
    // Sums of decimal fractions (0.1 + 0.2) are shown as their decimal. (A fold: `sum` of no
    // floats is -0.)
    json!((sum * 1e6).round() / 1e6)
}

async fn list_pods(api: &Api, json: bool) -> anyhow::Result<()> {
    let pods = api.get("/v2/pods").await?;
    if json {
        return print_json(&pods);
    }
    let statuses = api.get("/v2/pods/::status").await?;
    let mut t = table(&["ID", "INSTANCES", "STATUS", "CONTAINERS", "CPUS", "MEM"]);
    for pod in array(&pods) {
        // A pod created or removed between the two requests has no status.
        let status =
            array(&statuses).iter().find(|s| s["id"] == pod["id"]).map_or(Value::Null, |s| s["status"].clone());
        t.add_row(vec![
            text(&pod["id"]),
            wanted(pod).to_string(),
            text(&status),
            array(&pod["containers"]).len().to_string(),
            text(&container_sum(pod, "cpus")),
            text(&container_sum(pod, "mem")),
        ]);
    }
    print(t)
}

fn show_pod(pod: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(pod);
    }
    let mut t = table(&["FIELD", "VALUE"]);
    t.add_row(vec!["id".to_string(), text(&pod["id"])]);
    t.add_row(vec!["instances".to_string(), wanted(pod).to_string()]);
    t.add_row(vec!["version".to_string(), text(&pod["version"])]);
    for resource in ["cpus", "mem", "disk"] {
        t.add_row(vec![resource.to_string(), text(&container_sum(pod, resource))]);
    }
    print(t)?;
    print("")?;
    let mut t = table(&["CONTAINER", "CPUS", "MEM", "ENDPOINTS", "COMMAND"]);
    for c in array(&pod["containers"]) {
        let endpoints: Vec<String> =
            array(&c["endpoints"]).iter().map(|e| format!("{}:{}", text(&e["name"]), text(&e["hostPort"]))).collect();
        let command = &c["exec"]["command"];
        let command = match (command.get("shell"), command.get("argv")) {
            (Some(shell), _) => text(shell),
            (None, Some(argv)) => array(argv).iter().map(text).collect::<Vec<_>>().join(" "),
            (None, None) => "-".to_string(),
        };
        t.add_row(vec![
            text(&c["name"]),
            text(&c["resources"]["cpus"]),
            text(&c["resources"]["mem"]),
            if endpoints.is_empty() { "-".into() } else { endpoints.join(",") },
            command,
        ]);
    }
    print(t)
}

/// One row per instance: its state, host, each container's state and the host ports of its
/// endpoints.
fn print_instances(instances: &[Value]) -> anyhow::Result<()> {
    let mut t = table(&["INSTANCE", "STATUS", "HOST", "CONTAINERS", "ENDPOINTS"]);
    for instance in instances {
        let containers = array(&instance["containers"]);
        let states: Vec<String> =
            containers.iter().map(|c| format!("{}:{}", text(&c["name"]), text(&c["status"]))).collect();
        let endpoints: Vec<String> = containers
            .iter()
            .flat_map(|c| array(&c["endpoints"]))
            .map(|e| format!("{}:{}", text(&e["name"]), text(&e["allocatedHostPort"])))
            .collect();
        t.add_row(vec![
            text(&instance["id"]),
            text(&instance["status"]),
            text(&instance["agentHostname"]),
            if states.is_empty() { "-".into() } else { states.join(",") },
            if endpoints.is_empty() { "-".into() } else { endpoints.join(",") },
        ]);
    }
    print(t)
}

/// `pod kill`: one instance through `::instances/{id}`, several through `::instances`.
async fn kill(api: &Api, id: &str, instances: &[String], wipe: bool, json: bool) -> anyhow::Result<()> {
    let (path, body) = match instances {
        [one] => (format!("{}::instances/{one}?wipe={wipe}", pod_path(id)), None),
        many => (format!("{}::instances?wipe={wipe}", pod_path(id)), Some(json!(many))),
    };
    let result = api.send(reqwest::Method::DELETE, &path, body.as_ref()).await?;
    if json {
        print_json(&result)?;
    }
    let killed: Vec<Value> = match result {
        Value::Array(killed) => killed,
        one => vec![one],
    };
    if !json {
        print(format!("Killing {} instance(s) of {}", killed.len(), absolute(id)))?;
        if !killed.is_empty() {
            print_instances(&killed)?;
        }
    }
    let ids: Vec<&str> = killed.iter().filter_map(|i| i["id"].as_str()).collect();
    let unknown: Vec<&str> = instances.iter().map(String::as_str).filter(|i| !ids.contains(i)).collect();
    if !unknown.is_empty() {
        bail!("unknown instance(s) of {}: {}", absolute(id), unknown.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_sets_the_instances_and_keeps_the_rest() {
        let mut pod = json!({"id": "/p", "scaling": {"kind": "fixed", "instances": 1, "maxInstances": 5}});
        scale(&mut pod, 3).expect("scaled");
        assert_eq!(pod["scaling"], json!({"kind": "fixed", "instances": 3, "maxInstances": 5}));
        let mut bare = json!({"id": "/p"});
        scale(&mut bare, 2).expect("scaled");
        assert_eq!(bare["scaling"], json!({"kind": "fixed", "instances": 2}));
        assert!(scale(&mut json!([]), 2).is_err());
    }

    #[test]
    fn resources_are_summed_over_the_containers() {
        let pod =
            json!({"containers": [{"resources": {"cpus": 0.1, "mem": 32}}, {"resources": {"cpus": 0.2, "mem": 16}}]});
        assert_eq!(text(&container_sum(&pod, "cpus")), "0.3");
        assert_eq!(text(&container_sum(&pod, "mem")), "48");
        assert_eq!(text(&container_sum(&pod, "disk")), "0");
        assert_eq!(pod_path("/shop/web/"), "/v2/pods/shop/web");
    }
}
