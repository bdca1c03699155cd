//! Docker apps end to end (issue 15): `marathon master`, `marathon agent
//! --containerizers=docker,mesos` and `marathon scheduler` processes (or `marathon local`)
//! on a private dockerd (`xtask::dockerd`, one per test binary, images from busybox-static).
//! Each agent's work dir is its owner label on the daemon: the tests look at their own
//! containers only.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::dockerd::{Dockerd, IMAGE, WWW_INDEX};

const TIMEOUT: Duration = Duration::from_secs(45);

fn dockerd() -> Option<&'static Dockerd> {
    Dockerd::shared()
}

/// Agent flags for the Docker containerizer on the private daemon; ended containers are
/// removed a second later.
fn docker_flags(dockerd: &Dockerd) -> Vec<String> {
    vec![
        "--containerizers=docker,mesos".to_string(),
        format!("--docker_socket={}", dockerd.socket.display()),
        "--docker_remove_delay=1secs".to_string(),
    ]
}

/// The containers (all states) owned by the agent with `work_dir`: `name -> "id startedAt running"`.
fn containers(dockerd: &Dockerd, work_dir: &Path) -> std::collections::BTreeMap<String, String> {
    let owner = work_dir.canonicalize().map(|p| p.display().to_string()).unwrap_or_default();
    let names = dockerd
        .docker(&["ps", "-a", "--filter", &format!("label=mesos.agent={owner}"), "--format", "{{.Names}}"])
        .unwrap_or_default();
    names
        .lines()
        .filter(|n| !n.is_empty())
        .map(|name| {
            let state = dockerd
                .docker(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}} {{.State.Running}}", name])
                .unwrap_or_default();
            (name.to_string(), state.trim().to_string())
        })
        .collect()
}

/// The last lines of the cluster's and Marathon's logs (for failure messages).
fn log_tails(cluster: &Cluster, marathon: &Marathon) -> String {
    let tail = |name: String, text: String| {
        let lines: Vec<&str> = text.lines().collect();
        format!("--- {name}\n{}", lines[lines.len().saturating_sub(30)..].join("\n"))
    };
    let mut out = vec![tail("marathon".into(), marathon.proc.log_text())];
    for (i, a) in cluster.agents.iter().enumerate() {
        out.push(tail(format!("agent{i}"), a.proc.log_text()));
    }
    out.join("\n")
}

/// Runs `check` until it returns `Some` (see [`eventually`]), with the logs in the failure.
async fn until<T, F, Fut>(cluster: &Cluster, marathon: &Marathon, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}\n{}", log_tails(cluster, marathon));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many containers of the agent with `work_dir` run (one `docker ps`: cheap to sample).
fn running_containers(dockerd: &Dockerd, work_dir: &Path) -> usize {
    let owner = work_dir.canonicalize().map(|p| p.display().to_string()).unwrap_or_default();
    let filter = format!("label=mesos.agent={owner}");
    dockerd.docker(&["ps", "-q", "--filter", &filter, "--filter", "status=running"]).unwrap_or_default().lines().count()
}

async fn http_text(url: String) -> Option<String> {
    let response = reqwest::Client::new().get(&url).timeout(Duration::from_secs(2)).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

/// The bridged web app: busybox's httpd on container port 80 serving the image's `/www`, with
/// what the task's environment said written next to it, and Marathon's HTTP check.
fn bridged_web_app(id: &str, instances: u32) -> Value {
    json!({
        "id": id, "instances": instances, "cpus": 0.05, "mem": 32,
        "cmd": "echo \"$PORT0 $PORT_80 $PORT_HTTP $HOST\" > /www/env.txt && exec httpd -f -p 80 -h /www",
        "networks": [{"mode": "container/bridge"}],
        "container": {"type": "DOCKER", "docker": {"image": IMAGE},
                      "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "http"}]},
        "healthChecks": [{"protocol": "HTTP", "path": "/index.html", "portIndex": 0, "intervalSeconds": 1,
                          "timeoutSeconds": 2, "gracePeriodSeconds": 30, "maxConsecutiveFailures": 3}],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}
    })
}

/// Waits until `app` has `n` running and healthy tasks and no deployment; returns its tasks.
async fn wait_healthy(marathon: &Marathon, app: &str, n: usize) -> Vec<Value> {
    eventually(TIMEOUT, &format!("{n} healthy tasks of {app}"), || async {
        let (_, body) = marathon.get(&format!("/v2/apps/{app}")).await;
        let app = &body["app"];
        let tasks = app["tasks"].as_array()?.clone();
        let done =
            app["tasksHealthy"] == n && app["tasksRunning"] == n && tasks.len() == n && app["deployments"] == json!([]);
        done.then_some(tasks)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_app_serves_its_image_on_mapped_ports_and_scales_and_restarts_within_its_capacity_bounds() {
    let Some(dockerd) = dockerd() else { return };
    let flags = docker_flags(dockerd);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_with(1, &flags).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let (status, body) = marathon.send(Method::POST, "/v2/apps", Some(bridged_web_app("web", 2))).await;
    assert_eq!(status, 201, "{body}");
    let tasks = wait_healthy(&marathon, "web", 2).await;
    for task in &tasks {
        let port = task["ports"][0].as_u64().expect("a host port");
        assert!((31000..=32000).contains(&port), "{task}");
        assert!(task["servicePorts"].is_null() || task["servicePorts"][0].as_u64() >= Some(10000));
        let ip = task["ipAddresses"][0]["ipAddress"].as_str().expect("an address");
        assert!(ip.starts_with("10.25"), "the container's address on the bridge: {task}");
        assert_eq!(task["ipAddresses"][0]["protocol"], "IPv4");
        // Content that exists only in the image, on the mapped host port and at the container.
        assert_eq!(http_text(format!("http://127.0.0.1:{port}/index.html")).await.as_deref(), Some(WWW_INDEX));
        assert_eq!(http_text(format!("http://{ip}:80/index.html")).await.as_deref(), Some(WWW_INDEX));
        // The task's environment: the host port by index, container port and name; the agent.
        let env = http_text(format!("http://127.0.0.1:{port}/env.txt")).await.unwrap_or_default();
        assert_eq!(env.trim(), format!("{port} {port} {port} agent0"));
    }
    let (_, app) = marathon.get("/v2/apps/web").await;
    let service_port = app["app"]["container"]["portMappings"][0]["servicePort"].as_u64().unwrap_or(0);
    assert!(service_port >= 10000, "a service port from the range: {app}");
    let agent_dir = cluster.agents[0].work_dir.clone();
    assert_eq!(containers(dockerd, &agent_dir).len(), 2);
    // The agent's process limit (`cgroups/pids`, default --cgroups_pids_max) holds in containers
    // too: a fork bomb stays inside its task.
    for name in containers(dockerd, &agent_dir).keys() {
        let limit = dockerd.docker(&["inspect", "-f", "{{.HostConfig.PidsLimit}}", name]).unwrap_or_default();
        assert_eq!(limit.trim(), "1024", "PidsLimit of {name}");
    }

    // Scale up, then a rolling restart: never fewer than half healthy, never more than 1.5 x.
    let (status, body) = marathon.send(Method::PUT, "/v2/apps/web", Some(json!({"instances": 4}))).await;
    assert_eq!(status, 200, "{body}");
    let before = wait_healthy(&marathon, "web", 4).await;
    let (status, body) = marathon.send(Method::POST, "/v2/apps/web/restart", None).await;
    assert_eq!(status, 200, "{body}");
    let old: Vec<String> = before.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect();
    let (mut samples, mut fewest_healthy, mut most_tasks) = (0, usize::MAX, 0);
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let (_, body) = marathon.get("/v2/apps/web").await;
        let app = &body["app"];
        let tasks = app["tasks"].as_array().cloned().unwrap_or_default();
        let healthy = app["tasksHealthy"].as_u64().unwrap_or(0) as usize;
        let live = running_containers(dockerd, &agent_dir);
        fewest_healthy = fewest_healthy.min(healthy);
        most_tasks = most_tasks.max(tasks.len()).max(live);
        samples += 1;
        let replaced = tasks.len() == 4
            && healthy == 4
            && app["deployments"] == json!([])
            && tasks.iter().all(|t| !old.iter().any(|o| t["id"] == o.as_str()));
        if replaced {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the restart did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("restart: {samples} samples, {fewest_healthy} healthy at the lowest, {most_tasks} tasks at the most");
    assert!(fewest_healthy >= 2, "{fewest_healthy} healthy at the lowest");
    assert!(most_tasks <= 6, "{most_tasks} tasks or running containers at the most");
    assert!(samples >= 3, "{samples} samples");

    // Scale down and delete: no container left behind.
    let (status, _) = marathon.send(Method::PUT, "/v2/apps/web?force=true", Some(json!({"instances": 1}))).await;
    assert_eq!(status, 200);
    eventually(TIMEOUT, "one container left after the scale-down", || async {
        (containers(dockerd, &agent_dir).len() == 1).then_some(())
    })
    .await;
    let (status, _) = marathon.send(Method::DELETE, "/v2/apps/web", None).await;
    assert_eq!(status, 200);
    eventually(TIMEOUT, "no container left after the delete", || async {
        containers(dockerd, &agent_dir).is_empty().then_some(())
    })
    .await;
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_networking_a_missing_image_an_oom_and_a_command_check_inside_the_container() {
    let Some(dockerd) = dockerd() else { return };
    let mut flags = docker_flags(dockerd);
    // Output rotated by size as for command tasks (the "chatty" app overrides the size).
    flags.push("--container_logger=org_apache_mesos_LogrotateContainerLogger".to_string());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_with(1, &flags).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let missing = "marathon-test/not-there:7";
    let apps = [
        // Host networking: the container binds $PORT0 on the agent.
        json!({"id": "host", "cpus": 0.05, "mem": 32, "cmd": "exec httpd -f -p $PORT0 -h /www",
               "container": {"type": "DOCKER", "docker": {"image": IMAGE}}, "portDefinitions": [{"port": 0}]}),
        json!({"id": "missing", "cpus": 0.05, "mem": 32, "cmd": "true",
               "container": {"type": "DOCKER", "docker": {"image": missing}}, "portDefinitions": []}),
        json!({"id": "hog", "cpus": 0.05, "mem": 32, "portDefinitions": [], "backoffSeconds": 60,
               "cmd": "x=aaaaaaaaaaaaaaaa; while true; do x=\"$x$x\"; done",
               "container": {"type": "DOCKER", "docker": {"image": IMAGE}}}),
        // /www exists only in the image: the agent's check passes only inside the container.
        json!({"id": "checked", "cpus": 0.05, "mem": 32, "cmd": "exec sleep 600", "portDefinitions": [],
               "container": {"type": "DOCKER", "docker": {"image": IMAGE}},
               "healthChecks": [{"protocol": "COMMAND", "command": {"value": "grep -q marathon-test /www/index.html"},
                                 "intervalSeconds": 1, "gracePeriodSeconds": 30, "delaySeconds": 0}]}),
        // About 50 KB of output, rotated at the 8 KB its environment asks for, two old files kept.
        json!({"id": "chatty", "cpus": 0.05, "mem": 32, "portDefinitions": [],
               "cmd": "i=0; while [ $i -lt 2000 ]; do echo \"line $i of a chatty task\"; i=$((i+1)); done; exec sleep 600",
               "env": {"CONTAINER_LOGGER_MAX_STDOUT_SIZE": "8KB", "CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS": "rotate 2"},
               "container": {"type": "DOCKER", "docker": {"image": IMAGE}}}),
    ];
    for app in &apps {
        let (status, body) = marathon.send(Method::POST, "/v2/apps", Some(app.clone())).await;
        assert_eq!(status, 201, "{body}");
    }
    let host = until(&cluster, &marathon, "the host app running", || async {
        let (_, body) = marathon.get("/v2/apps/host").await;
        let tasks = body["app"]["tasks"].as_array()?.clone();
        (tasks.len() == 1 && tasks[0]["state"] == "TASK_RUNNING").then_some(tasks)
    })
    .await;
    let port = host[0]["ports"][0].as_u64().expect("port");
    assert_eq!(host[0]["ipAddresses"][0]["ipAddress"], "127.0.0.1", "the agent's address: {}", host[0]);
    let served =
        eventually(TIMEOUT, "the image's page on $PORT0", || http_text(format!("http://127.0.0.1:{port}/index.html")))
            .await;
    assert_eq!(served, WWW_INDEX);

    let failure = |app: &'static str| {
        let marathon = &marathon;
        async move {
            let (_, body) = marathon.get(&format!("/v2/apps/{app}")).await;
            let failure = body["app"]["lastTaskFailure"].clone();
            (!failure.is_null()).then_some(failure)
        }
    };
    let failed = eventually(TIMEOUT, "the missing image's failure", || failure("missing")).await;
    assert_eq!(failed["state"], "TASK_FAILED");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(message.contains(missing), "the message names the image: {failed}");
    let oom = eventually(TIMEOUT, "the OOM", || failure("hog")).await;
    assert_eq!(oom["state"], "TASK_FAILED");
    assert!(oom["message"].as_str().unwrap_or_default().starts_with("Memory limit exceeded"), "{oom}");
    wait_healthy(&marathon, "checked", 1).await;
    let agent_dir = cluster.agents[0].work_dir.clone();
    let (rotated, current) = eventually(TIMEOUT, "the chatty task's output rotated", || {
        let agent_dir = agent_dir.clone();
        async move {
            let found =
                Command::new("find").arg(&agent_dir).args(["-path", "*chatty*", "-name", "stdout.1"]).output().ok()?;
            let rotated = PathBuf::from(String::from_utf8_lossy(&found.stdout).lines().next()?.to_string());
            let current = rotated.with_file_name("stdout");
            let text = std::fs::read_to_string(&current).ok()?;
            text.contains("line 1999 of a chatty task").then_some((rotated, current))
        }
    })
    .await;
    assert_eq!(std::fs::metadata(&rotated).map(|m| m.len()).ok(), Some(8 * 1024), "{}", rotated.display());
    assert!(std::fs::metadata(&current).map(|m| m.len()).unwrap_or(u64::MAX) <= 8 * 1024, "{}", current.display());

    for app in ["host", "missing", "hog", "checked", "chatty"] {
        let (status, _) = marathon.send(Method::DELETE, &format!("/v2/apps/{app}?force=true"), None).await;
        assert_eq!(status, 200);
    }
    eventually(TIMEOUT, "no container left", || async { containers(dockerd, &agent_dir).is_empty().then_some(()) })
        .await;
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_an_agent_keeps_its_containers_and_two_agents_on_one_dockerd_never_touch_each_others() {
    let Some(dockerd) = dockerd() else { return };
    let flags = docker_flags(dockerd);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_with(2, &flags).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let app = json!({
        "id": "spread", "instances": 4, "cpus": 0.05, "mem": 32, "cmd": "exec httpd -f -p 80 -h /www",
        "constraints": [["hostname", "GROUP_BY", "2"]],
        "networks": [{"mode": "container/bridge"}],
        "container": {"type": "DOCKER", "docker": {"image": IMAGE}, "portMappings": [{"containerPort": 80}]}
    });
    let (status, body) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{body}");
    let before = marathon.wait_running("/spread", 4, TIMEOUT).await;
    let ids = |tasks: &[Value]| {
        let mut ids: Vec<String> = tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect();
        ids.sort();
        ids
    };
    let (dir0, dir1) = (cluster.agents[0].work_dir.clone(), cluster.agents[1].work_dir.clone());
    let (mine, theirs) = (containers(dockerd, &dir0), containers(dockerd, &dir1));
    assert_eq!((mine.len(), theirs.len()), (2, 2), "two on each agent");

    // kill -9 of agent 0: its containers keep running; restarted, it re-attaches to them.
    cluster.agents[0].proc.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(containers(dockerd, &dir0), mine, "the containers outlive their agent");
    cluster.restart_agent(0).await;
    cluster
        .wait_state("agent 0 back", |s| {
            s["slaves"].as_array().is_some_and(|a| a.iter().filter(|x| x["active"] == true).count() == 2)
        })
        .await;
    // Same tasks, same containers (same ids and start times: none restarted); the other
    // agent's untouched.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = marathon.wait_running("/spread", 4, TIMEOUT).await;
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(containers(dockerd, &dir0), mine);
    assert_eq!(containers(dockerd, &dir1), theirs);

    // Killed tasks leave no container; scale-down neither.
    let victim = after.iter().find(|t| t["host"] == "agent0").and_then(|t| t["id"].as_str()).expect("a task on agent0");
    let (status, _) = marathon.send(Method::DELETE, &format!("/v2/apps/spread/tasks/{victim}?scale=true"), None).await;
    assert_eq!(status, 200);
    eventually(TIMEOUT, "its container gone", || async { (containers(dockerd, &dir0).len() == 1).then_some(()) }).await;
    assert_eq!(containers(dockerd, &dir1), theirs, "the other agent's containers are untouched");
    let (status, _) = marathon.send(Method::DELETE, "/v2/apps/spread", None).await;
    assert_eq!(status, 200);
    eventually(TIMEOUT, "no container left", || async {
        (containers(dockerd, &dir0).is_empty() && containers(dockerd, &dir1).is_empty()).then_some(())
    })
    .await;
    cluster.teardown();
}

/// `marathon local` with the Docker containerizer.
fn start_local(dir: &Path, ports: [u16; 3], cgroups_root: &str, dockerd: &Dockerd, log: &str) -> Proc {
    let [http_port, master_port, agent_port] = ports;
    let log = dir.join(log);
    let out = std::fs::File::create(&log).expect("log");
    let child = std::process::Command::new(BIN)
        .args(["local", "--work_dir"])
        .arg(dir.join("state"))
        .args(["--http_port", &http_port.to_string(), "--master_port", &master_port.to_string()])
        .args(["--agent_port", &agent_port.to_string(), "--cgroups_root", cgroups_root])
        .args(["--resources", "cpus:4;mem:4096;disk:4096;ports:[31000-32000]"])
        .args(docker_flags(dockerd))
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("spawn marathon local");
    Proc { child, log }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marathon_clients_own_scenarios_pass_against_marathon_local_with_docker_and_survive_its_kill9() {
    let Some(dockerd) = dockerd() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = [free_port(), free_port(), free_port()];
    let cgroups = CgroupRoot::new("local-docker");
    let mut local = start_local(dir.path(), ports, &cgroups.0, dockerd, "local.log");
    let api = format!("http://127.0.0.1:{}", ports[0]);
    let volume = dir.path().join("stuff");
    std::fs::create_dir_all(&volume).expect("mkdir");
    let marker = format!("marker {}\n", unique("volume"));
    std::fs::write(volume.join("marker"), &marker).expect("marker");
    std::fs::write(dir.path().join("dockercfg.txt"), &marker).expect("uri file");
    let script = workspace_root().join("tests/compat/marathon_itests.py");
    let args: Vec<String> = vec![
        script.display().to_string(),
        "--url".into(),
        api.clone(),
        "--image".into(),
        IMAGE.into(),
        "--index".into(),
        WWW_INDEX.into(),
        "--volume".into(),
        volume.display().to_string(),
        "--marker".into(),
        marker.clone(),
        "--uri".into(),
        format!("file://{}", dir.path().join("dockercfg.txt").display()),
    ];
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(python()).args(args).output())
        .await
        .expect("join")
        .expect("run the marathon client's scenarios");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        local.log_text().lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    eprintln!("{stdout}");
    let agent_dir = dir.path().join("state/agent0");
    eventually(TIMEOUT, "no container left by the scenarios", || async {
        containers(dockerd, &agent_dir).is_empty().then_some(())
    })
    .await;

    // kill -9 of the whole `marathon local`: the container keeps running and is the same
    // task's after the restart.
    let http = reqwest::Client::new();
    let (status, body) = {
        let r = http.post(format!("{api}/v2/apps")).json(&bridged_web_app("keep", 1)).send().await.expect("POST");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    assert_eq!(status, 201, "{body}");
    let running = || async {
        let app: Value = http.get(format!("{api}/v2/apps/keep")).send().await.ok()?.json().await.ok()?;
        let task = app["app"]["tasks"].as_array()?.first()?.clone();
        (app["app"]["tasksHealthy"] == 1).then(|| task["id"].as_str().map(str::to_string)).flatten()
    };
    let before = eventually(TIMEOUT, "the task healthy", running).await;
    let container = containers(dockerd, &agent_dir);
    assert_eq!(container.len(), 1);
    local.kill();
    assert_eq!(containers(dockerd, &agent_dir), container, "the container outlives marathon local");
    let _local = start_local(dir.path(), ports, &cgroups.0, dockerd, "local-restart.log");
    let after = eventually(TIMEOUT, "the task back and healthy", running).await;
    assert_eq!(before, after, "the same task");
    assert_eq!(containers(dockerd, &agent_dir), container, "the same container, not restarted");
    let r = http.delete(format!("{api}/v2/apps/keep")).send().await.expect("DELETE");
    assert_eq!(r.status().as_u16(), 200);
    eventually(TIMEOUT, "no container left", || async { containers(dockerd, &agent_dir).is_empty().then_some(()) })
        .await;
}
