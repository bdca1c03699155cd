//! The Docker containerizer against a real, private dockerd (`xtask::dockerd`, one per test
//! binary, with images built from busybox-static). Every test uses an owner label of its own,
//! so tests running at once never see each other's containers.

use docker::{Container, Docker, Error, LogFiles, Recovered, Settings, TaskContainer};
use mesos_api::container::ContainerInfo;
use mesos_api::{CommandInfo, Range, Resource};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use xtask::dockerd::{Dockerd, ENTRYPOINT_IMAGE, IMAGE, WWW_INDEX};

/// The shared daemon, or `None` (the test is skipped) when Docker is not installed.
fn dockerd() -> Option<&'static Dockerd> {
    Dockerd::shared()
}

async fn client(dockerd: &Dockerd, owner: &str) -> Docker {
    Docker::connect(&dockerd.socket, Settings::new(owner)).await.expect("connect to the private dockerd")
}

fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A task to run: its container, command, resources and sandbox.
struct Task {
    container_id: String,
    container: ContainerInfo,
    command: Option<CommandInfo>,
    resources: Vec<Resource>,
    env: Vec<(String, String)>,
    sandbox: tempfile::TempDir,
}

impl Task {
    fn new(container: serde_json::Value, command: Option<CommandInfo>) -> Task {
        Task {
            container_id: unique("c"),
            container: ContainerInfo::from_json(&container).expect("container json"),
            command,
            resources: vec![Resource::scalar("cpus", 0.1, "*"), Resource::scalar("mem", 64.0, "*")],
            env: vec![("MESOS_TASK_ID".to_string(), "task-1".to_string())],
            sandbox: tempfile::tempdir().expect("sandbox"),
        }
    }

    fn files(&self) -> LogFiles {
        LogFiles::in_sandbox(self.sandbox.path())
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.sandbox.path().join(name)).unwrap_or_default()
    }

    async fn launch(&self, docker: &Docker) -> Result<Container, Error> {
        let spec = docker.spec(&TaskContainer {
            agent_id: "agent-1",
            framework_id: "framework-1",
            task_id: "task-1",
            container_id: &self.container_id,
            container: &self.container,
            command: self.command.as_ref(),
            resources: &self.resources,
            limits: None,
            env: &self.env,
            sandbox: self.sandbox.path(),
        })?;
        docker.launch(&spec, self.files()).await
    }
}

fn docker_info(image: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut docker = json!({"image": image});
    if let (Some(d), Some(e)) = (docker.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    json!({"type": "DOCKER", "docker": docker})
}

fn shell(value: &str) -> Option<CommandInfo> {
    Some(CommandInfo {
        uris: Vec::new(),
        environment: None,
        shell: true,
        value: Some(value.to_string()),
        arguments: Vec::new(),
        user: None,
    })
}

fn exec(value: Option<&str>, arguments: &[&str]) -> Option<CommandInfo> {
    Some(CommandInfo {
        shell: false,
        value: value.map(str::to_string),
        arguments: arguments.iter().map(|a| a.to_string()).collect(),
        ..shell("")?
    })
}

async fn wait(container: &Container) -> docker::ContainerExit {
    tokio::time::timeout(Duration::from_secs(60), container.wait())
        .await
        .expect("the container ends within a minute")
        .expect("wait")
}

/// Removes what the test's owner left (every container it launched).
async fn cleanup(docker: &Docker) {
    let recovery = docker.recover(&HashMap::new()).await.expect("cleanup");
    drop(recovery);
    assert!(docker.list().await.expect("list").is_empty());
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_runs_to_completion_with_its_exit_code_and_output_in_the_sandbox() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("complete")).await;
    let task = Task::new(
        docker_info(IMAGE, json!({})),
        shell(
            "echo out; echo err >&2; echo $MESOS_TASK_ID $MESOS_CONTAINER_NAME; echo in-sandbox > $MESOS_SANDBOX/made-inside; exit 3",
        ),
    );
    std::fs::write(task.sandbox.path().join("stdout"), "before the container\n").expect("write");
    let container = task.launch(&docker).await.expect("launch");
    assert_eq!(container.name(), format!("mesos-{}", task.container_id));
    assert!(container.ip_addresses().is_empty(), "host network: the agent's address");
    let exit = wait(&container).await;
    assert_eq!(exit.exit_code, 3);
    assert!(!exit.oom_killed && exit.started && !exit.succeeded());
    assert_eq!(exit.message(), "Container exited with status 3");
    assert_eq!(task.read("stdout"), format!("before the container\nout\ntask-1 mesos-{}\n", task.container_id));
    assert_eq!(task.read("stderr"), "err\n");
    assert_eq!(task.read("made-inside"), "in-sandbox\n", "the sandbox is mounted at MESOS_SANDBOX");
    cleanup(&docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entrypoint_and_command_follow_upstream_semantics() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("entrypoint")).await;
    let cases = [
        (exec(None, &[]), "entrypoint default-cmd\n"),
        (None, "entrypoint default-cmd\n"),
        (exec(None, &["a", "b"]), "entrypoint a b\n"),
        (exec(Some("x"), &["y"]), "entrypoint x y\n"),
        (shell("echo from the shell"), "from the shell\n"),
    ];
    for (command, expected) in cases {
        let task = Task::new(docker_info(ENTRYPOINT_IMAGE, json!({})), command.clone());
        let container = task.launch(&docker).await.expect("launch");
        let exit = wait(&container).await;
        assert!(exit.succeeded(), "{command:?}: {}", exit.message());
        assert_eq!(task.read("stdout"), expected, "{command:?}");
    }
    cleanup(&docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_kill_is_detected() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("oom")).await;
    let mut task =
        Task::new(docker_info(IMAGE, json!({})), shell("x=aaaaaaaaaaaaaaaa; while true; do x=\"$x$x\"; done"));
    task.resources[1] = Resource::scalar("mem", 32.0, "*");
    let container = task.launch(&docker).await.expect("launch");
    let exit = wait(&container).await;
    assert!(exit.oom_killed, "{exit:?}");
    assert_eq!(exit.exit_code, 137);
    assert_eq!(exit.memory_limit_bytes, Some(32 * 1024 * 1024));
    assert!(exit.message().starts_with("Memory limit exceeded"), "{}", exit.message());
    assert!(exit.message().contains("32 MB"), "{}", exit.message());
    cleanup(&docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_the_stop_signal_then_kills_after_the_grace_period() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("stop")).await;
    // Handles SIGTERM: ends by itself, well within the grace period.
    let graceful = Task::new(
        docker_info(IMAGE, json!({})),
        shell("trap 'echo terminated; exit 0' TERM; echo up; while true; do sleep 0.1; done"),
    );
    let container = graceful.launch(&docker).await.expect("launch");
    assert!(eventually(Duration::from_secs(10), || graceful.read("stdout") == "up\n"));
    let started = Instant::now();
    container.stop(Duration::from_secs(20)).await.expect("stop");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let exit = wait(&container).await;
    assert_eq!(exit.exit_code, 0, "{exit:?}");
    assert_eq!(graceful.read("stdout"), "up\nterminated\n");

    // Ignores SIGTERM: killed when the grace period is over.
    let stubborn =
        Task::new(docker_info(IMAGE, json!({})), shell("trap '' TERM; echo up; while true; do sleep 0.1; done"));
    let container = stubborn.launch(&docker).await.expect("launch");
    assert!(eventually(Duration::from_secs(10), || stubborn.read("stdout") == "up\n"));
    let started = Instant::now();
    container.stop(Duration::from_millis(1500)).await.expect("stop");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(15), "grace rounded up to 2 s: {took:?}");
    assert_eq!(wait(&container).await.exit_code, 137);
    // Stopping (or signalling) a stopped container is not an error.
    container.stop(Duration::from_secs(1)).await.expect("stop again");
    container.terminate().await.expect("terminate a stopped container");

    // terminate + kill, for a caller that times the grace period itself.
    let timed =
        Task::new(docker_info(IMAGE, json!({})), shell("trap '' TERM; echo up; while true; do sleep 0.1; done"));
    let container = timed.launch(&docker).await.expect("launch");
    assert!(eventually(Duration::from_secs(10), || timed.read("stdout") == "up\n"));
    container.terminate().await.expect("terminate");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(container.exit().await.expect("exit"), None, "SIGTERM is ignored");
    container.kill().await.expect("kill");
    assert_eq!(wait(&container).await.exit_code, 137);
    cleanup(&docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_is_a_clear_error_naming_it() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("missing")).await;
    // A registry on a closed loopback port: the pull fails here, without leaving the host.
    let image = format!("127.0.0.1:{}/marathon-test/missing:latest", free_port());
    let task = Task::new(docker_info(&image, json!({})), shell("true"));
    let err = task.launch(&docker).await.expect_err("no such image");
    assert!(matches!(&err, Error::Pull { image: i, .. } if *i == image), "{err:?}");
    assert!(err.to_string().starts_with(&format!("cannot pull image '{image}': ")), "{err}");
    assert!(docker.list().await.expect("list").is_empty(), "no container was created");
    // force_pull_image pulls an image that is present, which fails the same way offline.
    let forced = Task::new(docker_info(&image, json!({"force_pull_image": true})), shell("true"));
    assert!(matches!(forced.launch(&docker).await, Err(Error::Pull { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_cannot_start_is_a_start_error_and_leaves_no_container() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("nostart")).await;
    let task = Task::new(docker_info(IMAGE, json!({})), exec(Some("/no/such/program"), &[]));
    let err = task.launch(&docker).await.expect_err("cannot start");
    assert!(matches!(&err, Error::Start { name, .. } if name.ends_with(&task.container_id)), "{err:?}");
    assert!(err.to_string().contains("/no/such/program"), "{err}");
    assert!(docker.list().await.expect("list").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_port_mappings_serve_the_image_content_and_report_the_address() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("bridge")).await;
    let host_port = free_port();
    let mut task = Task::new(
        docker_info(
            IMAGE,
            json!({"network": "BRIDGE", "port_mappings": [{"host_port": host_port, "container_port": 80, "protocol": "tcp"}]}),
        ),
        shell("exec httpd -f -p 80 -h /www"),
    );
    task.resources.push(Resource::ranges(
        "ports",
        vec![Range { begin: u64::from(host_port), end: u64::from(host_port) }],
        "*",
    ));
    let container = task.launch(&docker).await.expect("launch");
    let ip = container.ip_addresses().first().copied().expect("a bridge address");
    let subnet = dockerd.bridge_ip.trim_end_matches('1');
    assert!(ip.to_string().starts_with(subnet), "{ip} outside {subnet}0/25");
    let body = || xtask::netcluster::http_get(&format!("127.0.0.1:{host_port}"), "/index.html");
    assert!(eventually(Duration::from_secs(10), || body().as_deref() == Some(WWW_INDEX)), "{:?}", body());
    // The container's own address answers on the container port.
    let direct = xtask::netcluster::http_get(&format!("{ip}:80"), "/index.html");
    assert_eq!(direct.as_deref(), Some(WWW_INDEX));
    container.stop(Duration::from_secs(1)).await.expect("stop");
    cleanup(&docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_network_gives_the_container_an_address_on_it() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("user")).await;
    let network = unique("net");
    dockerd.docker(&["network", "create", &network]).expect("create a user network");
    let task = Task::new(
        json!({"type": "DOCKER", "docker": {"image": IMAGE, "network": "USER",
               "parameters": [{"key": "network-alias", "value": "web"}]},
               "network_infos": [{"name": network}]}),
        shell("sleep 300"),
    );
    let container = task.launch(&docker).await.expect("launch");
    let ip = container.ip_addresses().first().copied().expect("an address on the user network");
    let subnet = dockerd.bridge_ip.trim_end_matches(".1");
    assert!(ip.to_string().starts_with(subnet), "{ip} outside the pool {subnet}.128/25");
    container.kill().await.expect("kill");
    wait(&container).await;
    cleanup(&docker).await;
    dockerd.docker(&["network", "rm", &network]).expect("remove the network");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_and_parameters_reach_the_container() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("volumes")).await;
    let shared = tempfile::tempdir().expect("host dir");
    std::fs::write(shared.path().join("config"), "from the host\n").expect("write");
    let script = "cat /etc/stuff/config; \
                  (echo x > /etc/stuff/new) 2>/dev/null && echo writable || echo read-only; \
                  echo rw > /data/new; \
                  grep -c 'fake.example' /etc/hosts; \
                  echo $EXTRA; id -u";
    let host_path = shared.path().display().to_string();
    let rw = tempfile::tempdir().expect("rw dir");
    let task = Task::new(
        json!({
            "type": "DOCKER",
            "docker": {"image": IMAGE, "parameters": [
                {"key": "add-host", "value": "fake.example:10.0.0.1"},
                {"key": "env", "value": "EXTRA=from-a-parameter"},
                {"key": "user", "value": "0"},
                {"key": "label", "value": "team=web"}
            ]},
            "volumes": [
                {"host_path": host_path, "container_path": "/etc/stuff", "mode": "RO"},
                {"host_path": rw.path().display().to_string(), "container_path": "/data", "mode": "RW"}
            ]
        }),
        shell(script),
    );
    let container = task.launch(&docker).await.expect("launch");
    let exit = wait(&container).await;
    assert!(exit.succeeded(), "{} / {}", exit.message(), task.read("stderr"));
    assert_eq!(task.read("stdout"), "from the host\nread-only\n1\nfrom-a-parameter\n0\n");
    assert_eq!(std::fs::read_to_string(rw.path().join("new")).expect("rw volume"), "rw\n");
    let labels = dockerd
        .docker(&[
            "inspect",
            "--format",
            "{{index .Config.Labels \"team\"}} {{index .Config.Labels \"mesos.task_id\"}}",
            container.name(),
        ])
        .expect("inspect");
    assert_eq!(labels.trim(), "web task-1");
    cleanup(&docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_on_one_dockerd_never_touch_each_others_containers() {
    let Some(dockerd) = dockerd() else { return };
    let a = client(dockerd, &unique("agent-a")).await;
    let b = client(dockerd, &unique("agent-b")).await;
    let task_a = Task::new(docker_info(IMAGE, json!({})), shell("sleep 300"));
    let task_b = Task::new(docker_info(IMAGE, json!({})), shell("sleep 300"));
    let container_a = task_a.launch(&a).await.expect("launch a");
    let container_b = task_b.launch(&b).await.expect("launch b");

    let listed: Vec<String> = a.list().await.expect("list").into_iter().map(|l| l.container_id).collect();
    assert_eq!(listed, vec![task_a.container_id.clone()]);
    assert!(matches!(a.remove(&task_b.container_id).await, Err(Error::NotOwned { .. })));
    assert!(matches!(a.attach(&task_b.container_id, task_b.files()).await, Err(Error::NotOwned { .. })));

    // A's recovery without records removes A's container only.
    let recovery = a.recover(&HashMap::new()).await.expect("recover a");
    assert_eq!(recovery.removed, vec![task_a.container_id.clone()]);
    assert!(matches!(container_a.exit().await, Err(Error::NotFound { .. })), "A's container is gone");
    assert_eq!(container_b.exit().await.expect("b's state"), None, "B's container still runs");
    let listed_b: Vec<String> = b.list().await.expect("list").into_iter().map(|l| l.container_id).collect();
    assert_eq!(listed_b, vec![task_b.container_id.clone()]);
    cleanup(&b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_finds_running_and_ended_containers_after_the_handles_are_dropped() {
    let Some(dockerd) = dockerd() else { return };
    let owner = unique("recovery");
    let docker = client(dockerd, &owner).await;
    // Runs until told to end, with output before and after the agent "restarts".
    let running = Task::new(
        docker_info(IMAGE, json!({})),
        shell("echo before; while [ ! -e $MESOS_SANDBOX/go ]; do sleep 0.05; done; echo after; echo late >&2; exit 0"),
    );
    // Ends while the agent is away.
    let ended = Task::new(docker_info(IMAGE, json!({})), shell("sleep 0.5; echo one; echo two >&2; exit 7"));
    // Unknown to the restarted agent.
    let unknown = Task::new(docker_info(IMAGE, json!({})), shell("sleep 300"));
    let never_launched = unique("c");
    // Created, never started (the agent stopped between create and start).
    let never_started = unique("c");
    dockerd
        .docker(&[
            "create",
            "--name",
            &format!("mesos-{never_started}"),
            "--label",
            &format!("mesos.agent={owner}"),
            "--label",
            &format!("mesos.container_id={never_started}"),
            IMAGE,
            "true",
        ])
        .expect("docker create");

    let handles = [
        running.launch(&docker).await.expect("launch"),
        ended.launch(&docker).await.expect("launch"),
        unknown.launch(&docker).await.expect("launch"),
    ];
    assert!(eventually(Duration::from_secs(10), || running.read("stdout") == "before\n"));
    drop(handles);
    drop(docker);
    // The ended one ends with nobody watching.
    assert!(eventually(Duration::from_secs(10), || {
        dockerd
            .docker(&["inspect", "--format", "{{.State.Status}}", &format!("mesos-{}", ended.container_id)])
            .is_ok_and(|s| s.trim() == "exited")
    }));

    // The "restarted agent": a new client with the same owner.
    let docker = client(dockerd, &owner).await;
    let known = HashMap::from([
        (running.container_id.clone(), running.files()),
        (ended.container_id.clone(), ended.files()),
        (never_launched.clone(), LogFiles::in_sandbox(Path::new("/nonexistent"))),
        (never_started.clone(), LogFiles::in_sandbox(Path::new("/nonexistent"))),
    ]);
    let mut recovery = docker.recover(&known).await.expect("recover");
    assert_eq!(recovery.removed, vec![unknown.container_id.clone()]);
    assert!(matches!(recovery.containers.remove(&never_launched), Some(Recovered::Missing)));
    assert!(matches!(recovery.containers.remove(&never_started), Some(Recovered::NotStarted)));
    let left = dockerd.docker(&["ps", "-aq", "--filter", &format!("name=mesos-{never_started}")]).expect("ps");
    assert_eq!(left.trim(), "", "a container that never started is removed");
    match recovery.containers.remove(&ended.container_id) {
        Some(Recovered::Exited { exit, .. }) => assert_eq!(exit.exit_code, 7, "{exit:?}"),
        other => panic!("expected the ended container, got {other:?}"),
    }
    assert_eq!(ended.read("stdout"), "one\n", "each line exactly once");
    assert_eq!(ended.read("stderr"), "two\n");
    let Some(Recovered::Running(container)) = recovery.containers.remove(&running.container_id) else {
        panic!("expected the running container");
    };
    std::fs::write(running.sandbox.path().join("go"), "").expect("tell it to end");
    let exit = wait(&container).await;
    assert!(exit.succeeded(), "{}", exit.message());
    assert_eq!(running.read("stdout"), "before\nafter\n", "output before the restart is not copied twice");
    assert_eq!(running.read("stderr"), "late\n");
    cleanup(&docker).await;
}

/// With the logrotate logger, a container's output is rotated by size like a command task's
/// (each rotated file exactly the max size, the oldest dropped), and a restarted agent goes on
/// from the record of what was copied: nothing twice, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_output_stays_within_its_files_and_goes_on_exactly_after_a_restart() {
    let Some(dockerd) = dockerd() else { return };
    let owner = unique("rotation");
    let docker = client(dockerd, &owner).await;
    // 100 lines of 10 bytes, a pause until told to go on, 100 more.
    let task = Task::new(
        docker_info(IMAGE, json!({})),
        shell(
            "i=0; while [ $i -lt 100 ]; do printf 'line %04d\\n' $i; i=$((i+1)); done; \
             while [ ! -e $MESOS_SANDBOX/go ]; do sleep 0.05; done; \
             while [ $i -lt 200 ]; do printf 'line %04d\\n' $i; i=$((i+1)); done",
        ),
    );
    let rotate = docker::Rotate { max_size: 256, keep: 100 };
    let files = task.files().rotated(Some((rotate, rotate)));
    let spec = docker
        .spec(&TaskContainer {
            agent_id: "agent-1",
            framework_id: "framework-1",
            task_id: "task-1",
            container_id: &task.container_id,
            container: &task.container,
            command: task.command.as_ref(),
            resources: &task.resources,
            limits: None,
            env: &task.env,
            sandbox: task.sandbox.path(),
        })
        .expect("spec");
    let container = docker.launch(&spec, files).await.expect("launch");
    // All of the output so far, oldest first: rotated files from the highest number down.
    let all = |task: &Task| {
        let mut text = String::new();
        for k in (1..=100).rev() {
            text.push_str(&task.read(&format!("stdout.{k}")));
        }
        text + &task.read("stdout")
    };
    let first: String = (0..100).map(|i| format!("line {i:04}\n")).collect();
    assert!(eventually(Duration::from_secs(10), || all(&task) == first), "before: {:?}", all(&task));
    for k in 1..=3 {
        let rotated = task.read(&format!("stdout.{k}"));
        assert_eq!(rotated.len(), 256, "stdout.{k} holds exactly the max size");
    }
    // The agent "restarts": the handle goes, a new client attaches with plain files (the
    // rotation comes from the record).
    drop(container);
    drop(docker);
    let docker = client(dockerd, &owner).await;
    let mut recovery =
        docker.recover(&HashMap::from([(task.container_id.clone(), task.files())])).await.expect("recover");
    let Some(Recovered::Running(container)) = recovery.containers.remove(&task.container_id) else {
        panic!("expected the running container");
    };
    std::fs::write(task.sandbox.path().join("go"), "").expect("tell it to go on");
    let exit = wait(&container).await;
    assert!(exit.succeeded(), "{}", exit.message());
    let whole: String = (0..200).map(|i| format!("line {i:04}\n")).collect();
    assert_eq!(all(&task), whole, "every line exactly once, in order");
    assert!(task.read("stdout").len() <= 256, "the current file stays within the max size");
    cleanup(&docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_after_the_delay_removes_the_ended_container() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("remove")).await;
    let task = Task::new(docker_info(IMAGE, json!({})), shell("true"));
    let container = task.launch(&docker).await.expect("launch");
    wait(&container).await;
    let removal = docker.remove_after(&task.container_id, Duration::from_millis(300));
    assert_eq!(docker.list().await.expect("list").len(), 1, "kept until the delay is over");
    removal.await.expect("removal");
    assert!(docker.list().await.expect("list").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_a_command_inside_the_container_and_kills_it_at_the_timeout() {
    let Some(dockerd) = dockerd() else { return };
    let docker = client(dockerd, &unique("exec")).await;
    let task = Task::new(docker_info(IMAGE, json!({})), shell("sleep 600"));
    let container = task.launch(&docker).await.expect("launch");
    let sh = |c: &str| vec!["/bin/sh".to_string(), "-c".to_string(), c.to_string()];
    // The image's file system, the container's environment and the exec's own variables.
    let out = container
        .exec(sh("cat /www/index.html; echo $MESOS_TASK_ID $CHECK; exit 4"), vec!["CHECK=yes".into()], None)
        .await
        .expect("exec");
    assert_eq!(out.exit_code, 4);
    assert_eq!(out.output, format!("{WWW_INDEX}task-1 yes\n"));
    let ok = container.exec(sh("true"), Vec::new(), Some(Duration::from_secs(10))).await.expect("exec");
    assert_eq!(ok.exit_code, 0);
    // A command that outlives its timeout is killed, not left running in the container.
    let started = Instant::now();
    let timed_out = container.exec(sh("sleep 300"), Vec::new(), Some(Duration::from_millis(500))).await;
    assert!(matches!(timed_out, Err(docker::ExecError::TimedOut(_))), "{timed_out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let left = dockerd.docker(&["top", container.name(), "-o", "pid,args"]).expect("docker top");
    assert!(
        eventually(Duration::from_secs(5), || !dockerd
            .docker(&["top", container.name(), "-o", "pid,args"])
            .unwrap_or_default()
            .contains("sleep 300")),
        "the timed-out command still runs: {left}"
    );
    container.kill().await.expect("kill");
    wait(&container).await;
    // A container that is not running cannot exec.
    assert!(container.exec(sh("true"), Vec::new(), None).await.is_err());
    cleanup(&docker).await;
}
