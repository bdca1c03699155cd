//! Docker tasks: which containerizer runs a task, what a Docker task's launch carries, its
//! addresses, kill grace, exits and recovery.

use super::*;
use recovery::{recovered, status_record};

fn docker_task(id: &str, container: serde_json::Value, command: Option<&str>) -> TaskInfo {
    let mut t = task(id, command.unwrap_or_default());
    if command.is_none() {
        t.command = None;
    }
    t.container = Some(container);
    t
}

fn bridge() -> serde_json::Value {
    serde_json::json!({"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE"}})
}

fn ip(text: &str) -> std::net::IpAddr {
    text.parse().expect("ip")
}

fn launched(h: &mut Harness, t: TaskInfo) -> (String, LaunchSpec, Vec<Command>) {
    let out = h.run(framework("F", true, &[]), t);
    let spec = prepares(&out).pop().expect("prepare");
    (spec.container_id.clone(), spec, out)
}

#[test]
fn a_docker_task_goes_to_the_docker_containerizer_with_its_container_and_task_variables() {
    let mut h = Harness::new();
    h.register("A1");
    let mut t = docker_task("t1", bridge(), None);
    t.command = Some(CommandInfo {
        uris: vec![],
        environment: Some(Environment {
            variables: vec![EnvironmentVariable {
                name: "PORT0".into(),
                kind: None,
                value: Some("31000".into()),
                secret: None,
            }],
        }),
        shell: false,
        value: None,
        arguments: vec![],
        user: None,
    });
    let (cid, spec, out) = launched(&mut h, t);
    // The containerizer is checkpointed with the task, before anything runs.
    assert!(matches!(
        checkpoints(&out).as_slice(),
        [Checkpoint::Framework { .. }, Checkpoint::Task { containerizer: ContainerizerKind::Docker, .. }]
    ));
    assert_eq!(spec.containerizer(), ContainerizerKind::Docker);
    let docker = spec.docker.as_ref().expect("a Docker launch");
    assert_eq!(docker.agent_id, "A1");
    assert_eq!(docker.container.docker.as_ref().map(|d| d.image.as_str()), Some("busybox"));
    // No command value: the image's entrypoint runs (a Mesos task would fail here).
    assert!(sent(&out).is_empty(), "no failure: {out:?}");
    // The agent's variables that describe the task; not the executor's or the host's paths.
    let names: Vec<&str> = docker.env.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"MESOS_TASK_ID") && names.contains(&"MESOS_FRAMEWORK_ID"), "{names:?}");
    for host_only in ["MESOS_DIRECTORY", "MESOS_SANDBOX", "LIBPROCESS_PORT", "MESOS_HTTP_COMMAND_EXECUTOR"] {
        assert!(!names.contains(&host_only), "{host_only} in {names:?}");
    }
    // The task's own variables stay in its command, for the containerizer to add.
    assert!(!names.contains(&"PORT0"));
    assert_eq!(docker.command.as_ref().and_then(|c| c.environment.as_ref()).map(|e| e.variables.len()), Some(1));
    let out = h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) });
    assert_eq!(spawns(&out).pop().map(|s| s.containerizer()), Some(ContainerizerKind::Docker));
}

#[test]
fn tasks_no_enabled_containerizer_runs_fail_at_once_saying_why() {
    let cases = [
        (vec![ContainerizerKind::Mesos], bridge(), "--containerizers=docker,mesos"),
        (
            vec![ContainerizerKind::Mesos, ContainerizerKind::Docker],
            serde_json::json!({"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "x"}}}}),
            "images of the Mesos containerizer are not supported",
        ),
        (vec![ContainerizerKind::Docker], serde_json::json!({"type": "MESOS"}), "Mesos containerizer"),
        (vec![ContainerizerKind::Docker], serde_json::json!({"type": "DOCKER", "docker": 7}), "invalid ContainerInfo"),
    ];
    for (containerizers, container, message) in cases {
        let mut h = Harness::with(CoreConfig { containerizers, ..config() }, Recovery::default());
        h.register("A1");
        let out = h.run(framework("F", false, &[]), docker_task("t1", container.clone(), Some("sleep 1")));
        assert!(prepares(&out).is_empty(), "{container}");
        let (_, state, _, update) = sent(&out).pop().expect("an update");
        assert_eq!(state, TaskState::Failed, "{container}");
        assert_eq!(update.status.reason, Some(Reason::ContainerLaunchFailed));
        let text = update.status.message.unwrap_or_default();
        assert!(text.contains(message), "{container}: {text}");
    }
    // Without the Mesos containerizer, a task without a container cannot run either.
    let mut h =
        Harness::with(CoreConfig { containerizers: vec![ContainerizerKind::Docker], ..config() }, Recovery::default());
    h.register("A1");
    let out = h.run(framework("F", false, &[]), task("t2", "sleep 1"));
    assert_eq!(sent(&out).pop().map(|s| s.1), Some(TaskState::Failed));
}

#[test]
fn a_bridged_container_reports_and_is_checked_at_its_own_address() {
    let mut h = Harness::new();
    h.register("A1");
    let mut t = docker_task("t1", bridge(), None);
    t.health_check = Some(serde_json::json!({"type": "HTTP", "http": {"port": 80}, "delay_seconds": 0}));
    let (cid, _, _) = launched(&mut h, t);
    let starting = sent(&h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) })).pop().expect("STARTING");
    let started = Started { pid: Some(77), addresses: vec![ip("10.250.1.2")] };
    let out = h.ev(Event::Spawned { container_id: cid.clone(), result: Ok(started) });
    let checks = health_checks(&out);
    assert_eq!(
        checks.first().map(|c| c.2.clone()),
        Some(HealthProbe::Http { scheme: "http".into(), addr: ip("10.250.1.2"), port: 80, path: "/".into() })
    );
    let out = h.ack("F", "t1", &starting.2);
    let (_, state, _, update) = sent(&out).pop().expect("RUNNING");
    assert_eq!(state, TaskState::Running);
    let status = update.status.container_status.expect("container status");
    assert_eq!(status["network_infos"][0]["ip_addresses"][0]["ip_address"], "10.250.1.2", "{status}");
    assert_eq!(status["executor_pid"], 77);

    // On the host network the agent's address is reported, and the loopback checked.
    let mut h = Harness::new();
    h.register("A1");
    let mut t = docker_task("t2", serde_json::json!({"type": "DOCKER", "docker": {"image": "busybox"}}), None);
    t.health_check = Some(serde_json::json!({"type": "TCP", "tcp": {"port": 31000}, "delay_seconds": 0}));
    let (cid, _, _) = launched(&mut h, t);
    let starting = sent(&h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) })).pop().expect("STARTING");
    let out = h.ev(Event::Spawned { container_id: cid, result: Ok(Started::default()) });
    assert_eq!(
        health_checks(&out).first().map(|c| c.2.clone()),
        Some(HealthProbe::Tcp { addr: ip("127.0.0.1"), port: 31000 })
    );
    let (_, _, _, update) = sent(&h.ack("F", "t2", &starting.2)).pop().expect("RUNNING");
    let status = update.status.container_status.expect("container status");
    assert_eq!(status["network_infos"][0]["ip_addresses"][0]["ip_address"], "127.0.0.1");
}

#[test]
fn a_command_check_of_a_docker_task_runs_in_its_container() {
    let mut h = Harness::new();
    h.register("A1");
    let mut t = docker_task("t1", bridge(), Some("httpd -f"));
    t.health_check = Some(serde_json::json!({
        "type": "COMMAND", "delay_seconds": 0,
        "command": {"value": "test -f /www/index.html", "environment": {"variables": [{"name": "X", "value": "1"}]}}
    }));
    let (cid, _, _) = launched(&mut h, t);
    h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) });
    let out = h.ev(Event::Spawned { container_id: cid.clone(), result: Ok(Started::default()) });
    let checks = health_checks(&out);
    assert_eq!(checks.len(), 1, "{out:?}");
    assert_eq!(checks[0].0, cid);
    assert_eq!(
        checks[0].2,
        HealthProbe::ContainerCommand {
            command: CommandLine::Shell("test -f /www/index.html".into()),
            env: vec![("X".into(), "1".into())],
        }
    );
}

#[test]
fn docker_kill_grace_is_the_stop_timeout_unless_a_policy_says_and_exits_say_container() {
    // --docker_stop_timeout 0 (upstream's default): SIGKILL at once.
    let mut h = Harness::new();
    h.register("A1");
    let (cid, _) = h.running(framework("F", false, &[]), docker_task("t1", bridge(), Some("sleep 60")));
    assert_eq!(signals(&h.kill("F", "t1", None)), vec![KillSignal::Kill]);
    let out = h.ev(exited(&cid, Termination::ContainerExited(137)));
    let (_, state, _, update) = sent(&out).pop().expect("KILLED");
    assert_eq!(state, TaskState::Killed);
    assert_eq!(update.status.message.as_deref(), Some("Container exited with status 137"));

    // With a stop timeout, or a kill policy: the stop signal first.
    let mut h = Harness::with(CoreConfig { docker_stop_timeout: 2 * SECS, ..config() }, Recovery::default());
    h.register("A1");
    let (_, _) = h.running(framework("F", false, &[]), docker_task("t2", bridge(), Some("sleep 60")));
    assert_eq!(signals(&h.kill("F", "t2", None)), vec![KillSignal::Term]);
    assert_eq!(signals(&h.advance(2.0)), vec![KillSignal::Kill]);
    let mut h = Harness::new();
    h.register("A1");
    h.running(framework("F", false, &[]), docker_task("t3", bridge(), Some("sleep 60")));
    assert_eq!(signals(&h.kill("F", "t3", Some(5.0))), vec![KillSignal::Term]);

    // Ends by itself: FINISHED with status 0, FAILED otherwise; an OOM kill says memory.
    let mut h = Harness::new();
    h.register("A1");
    let (cid, _) = h.running(framework("F", false, &[]), docker_task("t4", bridge(), Some("true")));
    let (_, state, _, update) = sent(&h.ev(exited(&cid, Termination::ContainerExited(0)))).pop().expect("FINISHED");
    assert_eq!(
        (state, update.status.message.as_deref()),
        (TaskState::Finished, Some("Container exited with status 0"))
    );
    let (cid, _) = h.running(framework("F", false, &[]), docker_task("t5", bridge(), Some("false")));
    assert_eq!(sent(&h.ev(exited(&cid, Termination::ContainerExited(1)))).pop().map(|s| s.1), Some(TaskState::Failed));
    let (cid, _) = h.running(framework("F", false, &[]), docker_task("t6", bridge(), Some("hog")));
    let oom = ExitInfo {
        termination: Termination::ContainerExited(137),
        oom: Some(OomInfo { limit_bytes: 64 << 20, max_usage_bytes: 64 << 20 }),
    };
    let (_, state, _, update) = sent(&h.ev(Event::Exited { container_id: cid, exit: oom })).pop().expect("FAILED");
    assert_eq!(state, TaskState::Failed);
    assert_eq!(update.status.reason, Some(Reason::ContainerLimitationMemory));
    assert!(update.status.message.unwrap_or_default().starts_with("Memory limit exceeded"));
}

#[test]
fn a_recovered_docker_task_is_reattached_with_its_addresses_or_reported_by_its_state() {
    let docker_recovered = |id: &str, cid: &str, records: Vec<UpdateRecord>, process: RecoveredProcess| {
        let mut rt = recovered(id, cid, records, process);
        rt.info = docker_task(id, bridge(), Some("sleep 600"));
        rt.info.health_check = Some(serde_json::json!({"type": "TCP", "tcp": {"port": 8080}, "delay_seconds": 0}));
        rt.containerizer = ContainerizerKind::Docker;
        rt
    };
    let running = |t: &str| {
        vec![
            status_record(t, TaskState::Starting, &format!("{t}-1")),
            status_record(t, TaskState::Running, &format!("{t}-2")),
        ]
    };
    let mut alive = docker_recovered("t1", "c1", running("t1"), RecoveredProcess::Running { pid: Some(5) });
    alive.addresses = vec![ip("10.250.1.9")];
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &["PARTITION_AWARE"])],
        tasks: vec![
            alive,
            // Removed behind the agent's back after it ran: gone, a failure.
            docker_recovered("t2", "c2", running("t2"), RecoveredProcess::Missing),
            // Never created (the agent died before): never launched.
            docker_recovered(
                "t3",
                "c3",
                vec![status_record("t3", TaskState::Starting, "t3-1")],
                RecoveredProcess::Missing,
            ),
        ],
        ..Recovery::default()
    };
    let mut core = AgentCore::new(config());
    let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
    assert!(out.iter().any(|c| matches!(c, Command::Reattach { container_id } if container_id == "c1")));
    let states: Vec<(String, TaskState, Option<Reason>)> = out
        .iter()
        .filter_map(|c| match c {
            Command::Checkpoint(Checkpoint::Record { run, record }) => match &**record {
                UpdateRecord::Update(s) => Some((run.task_id.value.clone(), s.state, s.reason)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("t2".to_string(), TaskState::Failed, Some(Reason::ExecutorTerminated)),
            ("t3".to_string(), TaskState::Dropped, Some(Reason::AgentRestarted)),
        ]
    );
    assert_eq!(destroys(&out), vec!["c2".to_string(), "c3".to_string()]);
    // Its health is checked again at the container's address.
    let mut checks = health_checks(&out);
    if checks.is_empty() {
        checks = health_checks(&core.handle(at(0.1), Event::Tick));
    }
    assert_eq!(checks.first().map(|c| c.2.clone()), Some(HealthProbe::Tcp { addr: ip("10.250.1.9"), port: 8080 }));
}
