//! Docker tasks (`--containerizers=docker,mesos`) against a real, private dockerd
//! (`xtask::dockerd`, one per test binary, test images from busybox-static), driven by the
//! fake master. Each agent has a work dir of its own, which is its owner label on the daemon,
//! so tests running at once never see each other's containers.

mod common;

use common::*;
use mesos_api::AgentId;
use mesos_api::agent::StatusUpdate;
use mesos_api::messages::{Reason, TaskInfo, TaskState};
use serde_json::{Value, json};
use std::time::Duration;
use xtask::dockerd::{Dockerd, IMAGE, WWW_INDEX};

fn dockerd() -> Option<&'static Dockerd> {
    Dockerd::shared()
}

/// Agent flags with the Docker containerizer on the private daemon; ended containers are
/// removed at once.
fn docker_flags(sandbox: &Sandbox, master: &FakeMaster, dockerd: &Dockerd) -> agent::AgentFlags {
    let mut flags = sandbox.flags(master);
    flags.containerizers = agent::containerizers::ContainerizerFlags {
        containerizers: agent::containerizers::parse_containerizers("docker,mesos").expect("containerizers"),
        docker_socket: dockerd.socket.clone(),
        docker_remove_delay: Duration::ZERO,
        ..Default::default()
    };
    flags
}

fn docker_task(id: &str, agent: &AgentId, container: Value, command: Option<&str>, resources: &str) -> TaskInfo {
    let mut t = task(id, agent, command.unwrap_or_default(), resources);
    if command.is_none() {
        t.command = None;
    }
    t.container = Some(container);
    t
}

/// A port nothing listens on now (for a fixed host port mapping).
fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Names of the containers of the daemon (all owners) with `filter`.
fn containers(dockerd: &Dockerd, filter: &str) -> Vec<String> {
    dockerd
        .docker(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The containers this agent owns.
fn owned(dockerd: &Dockerd, sandbox: &Sandbox) -> Vec<String> {
    let owner = sandbox.work_dir().canonicalize().expect("work dir");
    containers(dockerd, &format!("label=mesos.agent={}", owner.display()))
}

fn inspect(dockerd: &Dockerd, name: &str, format: &str) -> String {
    dockerd.docker(&["inspect", "-f", format, name]).unwrap_or_default().trim().to_string()
}

fn container_ip(update: &StatusUpdate) -> String {
    update.status.container_status.as_ref().expect("container status")["network_infos"][0]["ip_addresses"][0]
        ["ip_address"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn http_text(url: String) -> Option<String> {
    let resp = reqwest::Client::new().get(&url).timeout(Duration::from_secs(2)).send().await.ok()?;
    resp.status().is_success().then_some(())?;
    resp.text().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_container_serves_its_image_on_the_mapped_port_is_healthy_and_is_removed_after_a_kill() {
    let Some(dockerd) = dockerd() else { return };
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, Some(docker_flags(&sandbox, &master, dockerd))).await;
    let agent_id = wait_registered(&agent).await;
    let port = free_port();
    let mut t = docker_task(
        "web",
        &agent_id,
        json!({"type": "DOCKER", "docker": {
            "image": IMAGE, "network": "BRIDGE",
            "port_mappings": [{"host_port": port, "container_port": 80, "protocol": "tcp"}]
        }}),
        Some("echo serving; exec httpd -f -p 80 -h /www"),
        &format!("cpus:0.1;mem:64;ports:[{port}-{port}]"),
    );
    // A Mesos HTTP check on the container's port, as upstream runs it in the container's network.
    t.health_check = Some(json!({
        "type": "HTTP", "http": {"port": 80, "path": "/index.html"},
        "delay_seconds": 0, "interval_seconds": 1, "grace_period_seconds": 10, "timeout_seconds": 2
    }));
    master.run_task(&framework("F", true, &[]), t);
    let updates = master.ack_until("web", TaskState::Running).await;
    let running = updates.last().expect("RUNNING");
    let ip = container_ip(running);
    assert!(ip.starts_with("10.25"), "the container's own address on the test bridge: {ip}");
    let cid = container_of(running);
    let name = format!("mesos-{cid}");
    assert_eq!(inspect(dockerd, &name, "{{.State.Running}}"), "true");
    // Content that exists only in the image, on the mapped host port and at the container's address.
    let served =
        wait_for_async("the image's page on the host port", || http_text(format!("http://127.0.0.1:{port}/"))).await;
    assert_eq!(served, WWW_INDEX);
    assert_eq!(http_text(format!("http://{ip}:80/")).await.as_deref(), Some(WWW_INDEX));
    let healthy = master.ack_until("web", TaskState::Running).await;
    assert_eq!(healthy.last().and_then(|u| u.status.healthy), Some(true), "{healthy:?}");
    assert_eq!(healthy.last().and_then(|u| u.status.reason), Some(Reason::TaskHealthCheckStatusUpdated));
    // The container's output is in the sandbox.
    let stdout = sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F/executors/web/runs/{cid}/stdout"));
    wait_for("stdout in the sandbox", || {
        std::fs::read_to_string(&stdout).ok().filter(|s| s.contains("serving")).map(|_| ())
    })
    .await;
    // A kill stops it (no kill policy: --docker_stop_timeout, 0, so SIGKILL) and removes it.
    master.kill("F", "web", None);
    let killed = master.ack_until("web", TaskState::Killed).await;
    assert_eq!(
        killed.last().and_then(|u| u.status.message.clone()).as_deref(),
        Some("Container exited with status 137")
    );
    wait_for("the container removed", || owned(dockerd, &sandbox).is_empty().then_some(())).await;
    agent.shutdown().await.expect("shutdown");
}

async fn wait_for_async<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_an_oom_and_an_unknown_parameter_fail_the_task_saying_why() {
    let Some(dockerd) = dockerd() else { return };
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, Some(docker_flags(&sandbox, &master, dockerd))).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F", false, &[]);
    let missing = "marathon-test/no-such-image:1";
    master.run_task(
        &fw,
        docker_task(
            "missing",
            &agent_id,
            json!({"type": "DOCKER", "docker": {"image": missing}}),
            Some("true"),
            "cpus:0.1;mem:32",
        ),
    );
    master.run_task(
        &fw,
        docker_task(
            "hog",
            &agent_id,
            json!({"type": "DOCKER", "docker": {"image": IMAGE}}),
            Some("x=aaaaaaaaaaaaaaaa; while true; do x=\"$x$x\"; done"),
            "cpus:0.1;mem:32",
        ),
    );
    master.run_task(
        &fw,
        docker_task(
            "params",
            &agent_id,
            json!({"type": "DOCKER", "docker": {"image": IMAGE, "parameters": [{"key": "frobnicate", "value": "1"}]}}),
            Some("true"),
            "cpus:0.1;mem:32",
        ),
    );
    let failed = master.ack_until("missing", TaskState::Failed).await;
    let last = failed.last().expect("FAILED");
    assert_eq!(last.status.reason, Some(Reason::ContainerLaunchFailed));
    let message = last.status.message.clone().unwrap_or_default();
    assert!(message.contains(missing), "the message names the image: {message}");

    let oom = master.ack_until("hog", TaskState::Failed).await;
    let last = oom.last().expect("FAILED");
    assert_eq!(last.status.reason, Some(Reason::ContainerLimitationMemory));
    let message = last.status.message.clone().unwrap_or_default();
    assert!(message.starts_with("Memory limit exceeded"), "{message}");

    let refused = master.ack_until("params", TaskState::Failed).await;
    let message = refused.last().and_then(|u| u.status.message.clone()).unwrap_or_default();
    assert!(message.contains("'frobnicate'"), "{message}");
    wait_for("no container left", || owned(dockerd, &sandbox).is_empty().then_some(())).await;
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_health_check_runs_inside_the_container() {
    let Some(dockerd) = dockerd() else { return };
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, Some(docker_flags(&sandbox, &master, dockerd))).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F", false, &[]);
    // /www/index.html exists only in the image: the check passes only inside the container.
    // The second task's check fails until it has made its marker file, then passes.
    for (id, command, check) in [
        ("inside", "sleep 600", "grep -q marathon-test /www/index.html"),
        ("later", "sleep 2; touch /tmp/ready; sleep 600", "test -f /tmp/ready"),
    ] {
        let mut t = docker_task(
            id,
            &agent_id,
            json!({"type": "DOCKER", "docker": {"image": IMAGE}}),
            Some(command),
            "cpus:0.1;mem:32",
        );
        t.health_check = Some(json!({
            "type": "COMMAND", "command": {"value": check},
            "delay_seconds": 0, "interval_seconds": 1, "grace_period_seconds": 30, "timeout_seconds": 5
        }));
        master.run_task(&fw, t);
    }
    for id in ["inside", "later"] {
        master.ack_until(id, TaskState::Running).await;
        let health = master.ack_until(id, TaskState::Running).await;
        assert_eq!(health.last().and_then(|u| u.status.healthy), Some(true), "{id}: {health:?}");
    }
    for id in ["inside", "later"] {
        master.kill("F", id, None);
        master.ack_until(id, TaskState::Killed).await;
    }
    wait_for("no container left", || owned(dockerd, &sandbox).is_empty().then_some(())).await;
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_reattaches_to_its_containers_and_never_touches_another_agents() {
    let Some(dockerd) = dockerd() else { return };
    let sandbox = Sandbox::new();
    let other = Sandbox::new();
    let master = FakeMaster::start().await;
    let other_master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, Some(docker_flags(&sandbox, &master, dockerd))).await;
    let neighbour = start_agent(&other, &other_master, Some(docker_flags(&other, &other_master, dockerd))).await;
    let agent_id = wait_registered(&agent).await;
    let neighbour_id = wait_registered(&neighbour).await;
    let fw = framework("F", true, &[]);
    let image = json!({"type": "DOCKER", "docker": {"image": IMAGE, "network": "BRIDGE"}});
    master.run_task(&fw, docker_task("keeper", &agent_id, image.clone(), Some("sleep 600"), "cpus:0.1;mem:32"));
    master.run_task(&fw, docker_task("short", &agent_id, image.clone(), Some("sleep 2; exit 3"), "cpus:0.1;mem:32"));
    other_master
        .run_task(&fw, docker_task("theirs", &neighbour_id, image.clone(), Some("sleep 600"), "cpus:0.1;mem:32"));
    let keeper = master.ack_until("keeper", TaskState::Running).await;
    master.ack_until("short", TaskState::Running).await;
    let theirs = other_master.ack_until("theirs", TaskState::Running).await;
    let keeper_name = format!("mesos-{}", container_of(keeper.last().expect("RUNNING")));
    let theirs_name = format!("mesos-{}", container_of(theirs.last().expect("RUNNING")));
    let keeper_ip = container_ip(keeper.last().expect("RUNNING"));
    let started = inspect(dockerd, &keeper_name, "{{.Id}} {{.State.StartedAt}}");
    // A container with this agent's label that it has no record of (as a launch the agent
    // died in the middle of would leave).
    let owner = sandbox.work_dir().canonicalize().expect("work dir");
    dockerd
        .docker(&[
            "run",
            "-d",
            "--name",
            &format!("mesos-stray-{}", std::process::id()),
            "--label",
            &format!("mesos.agent={}", owner.display()),
            IMAGE,
            "sleep",
            "600",
        ])
        .expect("stray container");

    // kill -9 of the agent: containers keep running; one of them ends meanwhile.
    agent.abort();
    master.drop_stream();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(inspect(dockerd, &keeper_name, "{{.State.Running}}"), "true");

    let agent = start_agent(&sandbox, &master, Some(docker_flags(&sandbox, &master, dockerd))).await;
    let reg = master.wait_registers(2).await;
    assert_eq!(reg.agent_id.as_ref(), Some(&agent_id));
    wait_registered(&agent).await;
    // The one that ended is reported as it ended.
    let ended = master.ack_until("short", TaskState::Failed).await;
    assert_eq!(ended.last().and_then(|u| u.status.message.clone()).as_deref(), Some("Container exited with status 3"));
    // The same container, not restarted, and watched again.
    assert_eq!(inspect(dockerd, &keeper_name, "{{.Id}} {{.State.StartedAt}}"), started);
    assert!(
        master
            .updates_of("keeper")
            .iter()
            .all(|u| u.status.state == TaskState::Starting || u.status.state == TaskState::Running)
    );
    // Its own unknown container is removed; the other agent's is never touched.
    wait_for("the stray container removed", || {
        (!owned(dockerd, &sandbox).iter().any(|n| n.starts_with("mesos-stray"))).then_some(())
    })
    .await;
    assert_eq!(inspect(dockerd, &theirs_name, "{{.State.Running}}"), "true");
    assert_eq!(owned(dockerd, &other), vec![theirs_name.clone()]);
    assert!(!keeper_ip.is_empty());
    master.kill("F", "keeper", None);
    master.ack_until("keeper", TaskState::Killed).await;
    wait_for("no container of this agent left", || owned(dockerd, &sandbox).is_empty().then_some(())).await;
    assert_eq!(owned(dockerd, &other), vec![theirs_name]);
    other_master.kill("F", "theirs", None);
    other_master.ack_until("theirs", TaskState::Killed).await;
    wait_for("no container of the other agent left", || owned(dockerd, &other).is_empty().then_some(())).await;
    agent.shutdown().await.expect("shutdown");
    neighbour.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_on_a_user_network_reports_its_address_there() {
    let Some(dockerd) = dockerd() else { return };
    let network = format!("mrnet-{}", std::process::id());
    dockerd.docker(&["network", "create", &network]).expect("docker network create");
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, Some(docker_flags(&sandbox, &master, dockerd))).await;
    let agent_id = wait_registered(&agent).await;
    let mut t = docker_task(
        "user",
        &agent_id,
        json!({"type": "DOCKER", "docker": {"image": IMAGE, "network": "USER"}, "network_infos": [{"name": network}]}),
        Some("exec httpd -f -p 8080 -h /www"),
        "cpus:0.1;mem:32",
    );
    t.health_check = Some(json!({
        "type": "TCP", "tcp": {"port": 8080}, "delay_seconds": 0, "interval_seconds": 1, "grace_period_seconds": 10
    }));
    master.run_task(&framework("F", false, &[]), t);
    let updates = master.ack_until("user", TaskState::Running).await;
    let running = updates.last().expect("RUNNING");
    let status = running.status.container_status.clone().expect("container status");
    assert_eq!(status["network_infos"][0]["name"], network.as_str(), "{status}");
    let ip = container_ip(running);
    let subnet = inspect(dockerd, &network, "{{(index .IPAM.Config 0).Subnet}}");
    let prefix: String = subnet.split('.').take(3).collect::<Vec<_>>().join(".");
    assert!(ip.starts_with(&prefix), "{ip} is on {network} ({subnet})");
    // The agent's TCP check reaches the container's port at that address.
    let healthy = master.ack_until("user", TaskState::Running).await;
    assert_eq!(healthy.last().and_then(|u| u.status.healthy), Some(true));
    assert_eq!(http_text(format!("http://{ip}:8080/index.html")).await.as_deref(), Some(WWW_INDEX));
    master.kill("F", "user", None);
    master.ack_until("user", TaskState::Killed).await;
    wait_for("no container left", || owned(dockerd, &sandbox).is_empty().then_some(())).await;
    agent.shutdown().await.expect("shutdown");
    dockerd.docker(&["network", "rm", &network]).expect("docker network rm");
}
