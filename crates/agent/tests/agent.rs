//! The agent against a fake master, with real processes, cgroups and HTTP.

mod common;

use common::*;
use mesos_api::agent::AgentEvent;
use mesos_api::messages::{CommandUri, DurationInfo, KillPolicy, Reason, Source, TaskState};
use mesos_api::{AgentId, FrameworkId};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_task_reports_in_order_and_serves_its_sandbox() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let reg = master.wait_registers(1).await;
    assert_eq!(reg.agent_id, None);
    assert_eq!(reg.agent_info.hostname, "test-agent");
    assert_eq!(reg.agent_info.port, agent.local_addr().port());
    assert_eq!(reg.endpoint, format!("127.0.0.1:{}", agent.local_addr().port()));
    assert!(reg.agent_info.resources.iter().any(|r| r.name == "cpus" && r.role.as_deref() == Some("*")));
    assert_eq!(reg.agent_info.attributes.len(), 2);
    let agent_id = wait_registered(&agent).await;
    assert_eq!(agent_id.as_str(), "M-S1");

    let fw = framework("F1", false, &[]);
    master.run_task(&fw, task("hello", &agent_id, "echo hello; sleep 1", "cpus:0.1;mem:32"));
    let updates = master.ack_until("hello", TaskState::Finished).await;
    let states: Vec<TaskState> = updates.iter().map(|u| u.status.state).collect();
    assert_eq!(states, vec![TaskState::Starting, TaskState::Running, TaskState::Finished]);
    for u in &updates {
        let s = &u.status;
        assert!(mesos_api::validate_status_uuid(s.uuid.as_deref().unwrap_or("")).is_ok());
        assert_eq!(s.agent_id.as_ref(), Some(&agent_id));
        assert_eq!(s.executor_id.as_ref().map(|e| e.as_str()), Some("hello"));
        assert_eq!(s.source, Some(Source::Executor));
        assert!(s.timestamp.is_some_and(|t| t > 1.6e9));
        assert_eq!(u.framework_id.as_str(), "F1");
    }
    assert_eq!(updates[2].status.message.as_deref(), Some("Command exited with status 0"));
    let cs = updates[1].status.container_status.as_ref().expect("container_status");
    assert_eq!(cs["network_infos"][0]["ip_addresses"][0]["ip_address"], "127.0.0.1");

    let addr = agent.local_addr();
    let (code, body) =
        http_get(addr, "/files/read?path=/frameworks/F1/executors/hello/runs/latest/stdout&offset=0").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(v["data"].as_str().unwrap_or("").contains("hello"), "{v}");
    assert_eq!(v["offset"], 0);

    // The task has finished and all its updates were acknowledged: completed executor.
    let (code, body) = http_get(addr, "/slave(1)/state").await;
    assert_eq!(code, 200);
    let state: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(state["id"], "M-S1");
    assert_eq!(state["version"], "1.11.0");
    assert_eq!(state["pid"], format!("slave(1)@127.0.0.1:{}", addr.port()));
    assert_eq!(state["resources"]["cpus"], 4.0);
    assert_eq!(state["resources"]["ports"], "[31000-31100]");
    assert_eq!(state["attributes"]["rack"], "r1");
    let exec = &state["frameworks"][0]["completed_executors"][0];
    assert_eq!(exec["id"], "hello");
    let dir = exec["directory"].as_str().expect("directory");
    assert!(std::path::Path::new(dir).join("stdout").is_file());
    assert_eq!(exec["completed_tasks"][0]["state"], "TASK_FINISHED");
    // The real path and the runs/latest path serve the same file.
    let (code, body) = http_get(addr, &format!("/files/read?path={dir}/stdout&offset=0&length=5")).await;
    assert_eq!((code, body.as_str()), (200, r#"{"data":"hello","offset":0}"#));
    let (code, body) = http_get(addr, &format!("/files/browse?path={dir}")).await;
    assert_eq!(code, 200);
    assert!(body.contains("stdout") && body.contains("stderr"), "{body}");
    let (code, _) = http_get(addr, "/files/read?path=/frameworks/F1/executors/hello/runs/latest/stdout").await;
    assert_eq!(code, 200);
    let (code, body) = http_get(addr, "/files/download?path=/frameworks/F1/executors/hello/runs/latest/stdout").await;
    assert_eq!(code, 200);
    assert_eq!(body, "hello\n");

    let (code, body) = http_get(addr, "/metrics/snapshot").await;
    assert_eq!(code, 200);
    let m: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(m["slave/registered"], 1.0);
    assert_eq!(m["slave/tasks_finished"], 1.0);
    assert_eq!(m["slave/cpus_total"], 4.0);
    assert_eq!(http_get(addr, "/health").await.0, 200);
    let (_, body) = http_get(addr, "/version").await;
    assert!(body.contains(r#""version":"1.11.0""#));
    assert!(
        master.pongs() > 0
            || tokio::time::timeout(Duration::from_secs(3), async {
                while master.pongs() == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .is_ok()
    );

    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_commands_and_fetch_failures() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);

    master.run_task(&fw, task("three", &agent_id, "exit 3", "cpus:0.1;mem:32"));
    let ups = master.ack_until("three", TaskState::Failed).await;
    assert_eq!(ups.last().and_then(|u| u.status.message.clone()).as_deref(), Some("Command exited with status 3"));

    let mut t = task("fetchy", &agent_id, "cat payload.txt", "cpus:0.1;mem:32");
    let src = sandbox.dir.path().join("payload.txt");
    std::fs::write(&src, "fetched!").expect("write");
    if let Some(c) = &mut t.command {
        c.uris = vec![CommandUri {
            value: format!("file://{}", src.display()),
            executable: None,
            extract: true,
            cache: None,
            output_file: None,
        }];
    }
    master.run_task(&fw, t);
    master.ack_until("fetchy", TaskState::Finished).await;
    let (_, body) =
        http_get(agent.local_addr(), "/files/read?path=/frameworks/F1/executors/fetchy/runs/latest/stdout&offset=0")
            .await;
    assert!(body.contains("fetched!"), "{body}");

    let mut t = task("nofetch", &agent_id, "true", "cpus:0.1;mem:32");
    if let Some(c) = &mut t.command {
        c.uris = vec![CommandUri {
            value: "/nonexistent/thing.tgz".into(),
            executable: None,
            extract: true,
            cache: None,
            output_file: None,
        }];
    }
    master.run_task(&fw, t);
    let u = master.wait_update("nofetch", 1).await;
    assert_eq!(u.status.state, TaskState::Failed);
    assert_eq!(u.status.reason, Some(Reason::ContainerLaunchFailed));
    assert_eq!(u.status.source, Some(Source::Agent));

    let mut t = task("custom", &agent_id, "true", "cpus:0.1;mem:32");
    t.executor = serde_json::from_str(r#"{"executor_id":{"value":"e"},"command":{"value":"x"}}"#).ok();
    t.command = None;
    master.run_task(&fw, t);
    let u = master.wait_update("custom", 1).await;
    assert_eq!(u.status.state, TaskState::Failed);
    assert_eq!(u.status.message.as_deref(), Some("custom executors are not supported by this agent yet"));

    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_uses_the_grace_period_then_sigkill() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &["TASK_KILLING_STATE"]);

    // Ignores SIGTERM: dies at the end of the 1 s grace period.
    let mut t = task("stubborn", &agent_id, "trap '' TERM; sleep 1000", "cpus:0.1;mem:32");
    t.kill_policy = Some(KillPolicy { grace_period: Some(DurationInfo::from_secs_f64(1.0)) });
    master.run_task(&fw, t);
    let running = master.ack_until("stubborn", TaskState::Running).await;
    let cid = container_of(running.last().expect("running"));
    let pid = wait_for("task pid", || task_pid(&sandbox, &cid)).await;
    // Let the shell install its trap.
    wait_for("trap installed", || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let ign = stat.lines().find(|l| l.starts_with("SigIgn:"))?;
        let mask = u64::from_str_radix(ign.split_whitespace().nth(1)?, 16).ok()?;
        (mask & (1 << 14) != 0).then_some(())
    })
    .await;
    let start = Instant::now();
    master.kill("F1", "stubborn", None);
    let ups = master.ack_until("stubborn", TaskState::Killed).await;
    let elapsed = start.elapsed();
    assert_eq!(ups.iter().map(|u| u.status.state).collect::<Vec<_>>(), vec![TaskState::Killing, TaskState::Killed]);
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(!pid_alive(pid));

    // Honours SIGTERM: dies at once although the grace is long.
    master.run_task(&fw, task("polite", &agent_id, "sleep 1000", "cpus:0.1;mem:32"));
    master.ack_until("polite", TaskState::Running).await;
    let start = Instant::now();
    master.kill("F1", "polite", Some(30.0));
    let ups = master.ack_until("polite", TaskState::Killed).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        ups.last().and_then(|u| u.status.message.clone()).as_deref(),
        Some("Command terminated with signal Terminated")
    );

    // Every process of the task dies with it.
    master.run_task(&fw, task("forks", &agent_id, "sleep 1000 & sleep 1000 & wait", "cpus:0.1;mem:32"));
    let running = master.ack_until("forks", TaskState::Running).await;
    let cid = container_of(running.last().expect("running"));
    if sandbox.cgroups_available() {
        let procs = sandbox.cgroup_dir("memory", &cid).join("cgroup.procs");
        let pids: Vec<i32> = wait_for("3 processes", || {
            let text = std::fs::read_to_string(&procs).ok()?;
            let pids: Vec<i32> = text.lines().filter_map(|l| l.parse().ok()).collect();
            (pids.len() >= 3).then_some(pids)
        })
        .await;
        master.kill("F1", "forks", Some(0.5));
        master.ack_until("forks", TaskState::Killed).await;
        wait_for("all processes gone", || pids.iter().all(|p| !pid_alive(*p)).then_some(())).await;
        wait_for("cgroup removed", || (!sandbox.cgroup_dir("memory", &cid).exists()).then_some(())).await;
    }
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_kills_only_the_offender() {
    let sandbox = Sandbox::new();
    if !sandbox.cgroups_available() {
        eprintln!("cgroups v1 not available: skipping");
        return;
    }
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    master.run_task(&fw, task("neighbour", &agent_id, "sleep 1000", "cpus:0.1;mem:64"));
    master.ack_until("neighbour", TaskState::Running).await;
    master.run_task(
        &fw,
        task("hog", &agent_id, "dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 5", "cpus:0.1;mem:64"),
    );
    let ups = master.ack_until("hog", TaskState::Failed).await;
    let last = &ups.last().expect("failed").status;
    assert_eq!(last.reason, Some(Reason::ContainerLimitationMemory), "{last:?}");
    assert_eq!(last.source, Some(Source::Agent));
    assert!(last.message.as_deref().unwrap_or("").starts_with("Memory limit exceeded"), "{last:?}");
    let snap = agent.snapshot();
    let n = snap.tasks.iter().find(|t| t.task.task_id.as_str() == "neighbour").expect("neighbour");
    assert_eq!(n.task.state, TaskState::Running);
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_updates_are_retried_with_the_same_uuid() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let mut flags = sandbox.flags(&master);
    flags.status_update_retry_interval = Duration::from_millis(300);
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    master.run_task(&fw, task("t", &agent_id, "sleep 1000", "cpus:0.1;mem:32"));
    let first = master.wait_update("t", 1).await;
    let second = master.wait_update("t", 2).await;
    let third = master.wait_update("t", 3).await;
    for u in [&second, &third] {
        assert_eq!(u.status.state, TaskState::Starting);
        assert_eq!(u.status.uuid, first.status.uuid);
    }
    assert_eq!(third.latest_state, TaskState::Running);
    // A wrong uuid changes nothing; the right one moves to RUNNING.
    master.send(AgentEvent::Acknowledge {
        framework_id: FrameworkId::new("F1"),
        task_id: mesos_api::TaskId::new("t"),
        uuid: mesos_api::new_status_uuid(),
    });
    master.ack(&first);
    let running = master.wait_state("t", TaskState::Running).await;
    master.ack(&running);
    let n = master.updates_of("t").len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(master.updates_of("t").len(), n, "acknowledged updates are not re-sent");
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_when_the_stream_drops_and_reports_its_tasks() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", true, &[]);
    master.run_task(&fw, task("t", &agent_id, "sleep 1000", "cpus:0.1;mem:32"));
    master.ack_until("t", TaskState::Running).await;
    master.drop_stream();
    let reg = master.wait_registers(2).await;
    assert_eq!(reg.agent_id.as_ref(), Some(&agent_id));
    assert_eq!(reg.tasks.len(), 1);
    assert_eq!(reg.tasks[0].task.state, TaskState::Running);
    assert_eq!(reg.tasks[0].framework.id.as_ref().map(FrameworkId::as_str), Some("F1"));
    wait_registered(&agent).await;
    master.kill("F1", "t", None);
    master.ack_until("t", TaskState::Killed).await;
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_retried_and_a_silent_master_is_given_up() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start_with_ping(0.25).await;
    master.set(|s| s.refuse_next = Some(axum::http::StatusCode::SERVICE_UNAVAILABLE));
    let agent = start_agent(&sandbox, &master, None).await;
    let reg = master.wait_registers(1).await;
    assert!(reg.agent_id.is_none());
    let agent_id = wait_registered(&agent).await;
    wait_for("pongs", || (master.pongs() >= 2).then_some(())).await;
    // No event for four ping intervals (at least 1 s): the agent registers again.
    master.set(|s| s.silent = true);
    let started = Instant::now();
    let reg = master.wait_registers(2).await;
    assert_eq!(reg.agent_id.as_ref(), Some(&agent_id));
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_shutdown_kills_tasks_and_registers_anew() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", true, &[]);
    master.run_task(&fw, task("t", &agent_id, "sleep 1000", "cpus:0.1;mem:32"));
    let running = master.ack_until("t", TaskState::Running).await;
    let cid = container_of(running.last().expect("running"));
    let pid = wait_for("pid", || task_pid(&sandbox, &cid)).await;
    master.send(AgentEvent::Shutdown { message: "agent removed".into() });
    let reg = master.wait_registers(2).await;
    assert_eq!(reg.agent_id, None);
    assert!(reg.tasks.is_empty());
    let new_id = wait_for("new id", || agent.agent_id().filter(|id| *id != agent_id)).await;
    assert_eq!(new_id.as_str(), "M-S2");
    wait_for("task killed", || (!pid_alive(pid)).then_some(())).await;
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_running_tasks_without_reporting_them_again() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", true, &[]);
    let plain = framework("F2", false, &[]);
    master.run_task(&fw, task("keeper", &agent_id, "sleep 30", "cpus:0.1;mem:32"));
    master.run_task(&plain, task("goner", &agent_id, "sleep 30", "cpus:0.1;mem:32"));
    // STARTING acknowledged, RUNNING left unacknowledged.
    let starting = master.wait_update("keeper", 1).await;
    master.ack(&starting);
    let running = master.wait_state("keeper", TaskState::Running).await;
    let goner = master.ack_until("goner", TaskState::Running).await;
    let keeper_cid = container_of(&running);
    let goner_cid = container_of(goner.last().expect("running"));
    let keeper_pid = wait_for("pid", || task_pid(&sandbox, &keeper_cid)).await;
    let goner_pid = wait_for("pid", || task_pid(&sandbox, &goner_cid)).await;
    let before = master.updates_of("keeper").len();

    // Crash: the agent stops at once, its tasks keep running.
    agent.abort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(pid_alive(keeper_pid));
    assert!(pid_alive(goner_pid));
    master.drop_stream();

    let agent = start_agent(&sandbox, &master, None).await;
    let reg = master.wait_registers(2).await;
    assert_eq!(reg.agent_id.as_ref(), Some(&agent_id));
    let reported: Vec<&str> = reg.tasks.iter().map(|t| t.task.task_id.as_str()).collect();
    assert_eq!(reported, vec!["keeper"], "tasks of non-checkpointing frameworks are not recovered");
    assert_eq!(reg.tasks[0].task.state, TaskState::Running);
    assert_eq!(reg.tasks[0].task.status_update_uuid, running.status.uuid);
    wait_registered(&agent).await;
    // The unacknowledged RUNNING comes again with the same uuid; nothing else is new.
    let resent = master.wait_update("keeper", before + 1).await;
    assert_eq!(resent.status.state, TaskState::Running);
    assert_eq!(resent.status.uuid, running.status.uuid);
    assert!(pid_alive(keeper_pid), "same process, still running");
    wait_for("goner killed", || (!pid_alive(goner_pid)).then_some(())).await;
    master.ack(&resent);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let states: Vec<TaskState> = master.updates_of("keeper").iter().map(|u| u.status.state).collect();
    assert_eq!(states.iter().filter(|s| **s == TaskState::Starting).count(), 1);
    assert!(states.iter().all(|s| matches!(s, TaskState::Starting | TaskState::Running)));
    // The recovered task is watched: a kill works and reports TASK_KILLED.
    master.kill("F1", "keeper", None);
    master.ack_until("keeper", TaskState::Killed).await;
    assert!(!pid_alive(keeper_pid));
    if sandbox.cgroups_available() {
        wait_for("goner cgroup removed", || (!sandbox.cgroup_dir("memory", &goner_cid).exists()).then_some(())).await;
    }
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_learns_how_tasks_ended_while_it_was_down() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", true, &[]);
    master.run_task(&fw, task("short", &agent_id, "sleep 1; exit 7", "cpus:0.1;mem:32"));
    let running = master.ack_until("short", TaskState::Running).await;
    let pid = wait_for("pid", || task_pid(&sandbox, &container_of(running.last().expect("r")))).await;
    agent.abort();
    master.drop_stream();
    wait_for("task ended", || (!pid_alive(pid)).then_some(())).await;
    let agent = start_agent(&sandbox, &master, None).await;
    let reg = master.wait_registers(2).await;
    assert_eq!(reg.agent_id.as_ref(), Some(&agent_id));
    let ups = master.ack_until("short", TaskState::Failed).await;
    assert_eq!(ups.last().and_then(|u| u.status.message.clone()).as_deref(), Some("Command exited with status 7"));
    agent.shutdown().await.expect("shutdown");
}

/// A crash in the middle of a launch burst, made deterministic: the checkpoint holds what an
/// agent killed between a task's STARTING and the record of its launch leaves (the task and its
/// STARTING, no launch record), written by the agent's own checkpoint store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_drops_tasks_whose_process_never_started() {
    use agent::checkpoint::Store;
    use agent::core::{Checkpoint, RunPath, UpdateRecord};
    use mesos_api::ExecutorId;
    use mesos_api::messages::TaskStatus;

    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", true, &["PARTITION_AWARE"]);
    master.run_task(&fw, task("keeper", &agent_id, "sleep 30", "cpus:0.1;mem:32"));
    let running = master.ack_until("keeper", TaskState::Running).await;
    let keeper_pid = wait_for("pid", || task_pid(&sandbox, &container_of(running.last().expect("r")))).await;
    agent.abort();
    master.drop_stream();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let store = Store::new(agent::paths::Layout::new(sandbox.work_dir().canonicalize().expect("work dir")));
    let pending = |task_id: &str, container_id: &str| {
        let run = RunPath {
            agent_id: agent_id.clone(),
            framework_id: FrameworkId::new("F1"),
            executor_id: ExecutorId::new(task_id),
            container_id: container_id.to_string(),
            task_id: mesos_api::TaskId::new(task_id),
        };
        let mut starting = TaskStatus::new(mesos_api::TaskId::new(task_id), TaskState::Starting);
        starting.uuid = Some(format!("uuid-{task_id}"));
        starting.agent_id = Some(agent_id.clone());
        vec![
            Checkpoint::Task {
                run: run.clone(),
                info: Box::new(task(task_id, &agent_id, "sleep 30", "cpus:0.1;mem:32")),
                containerizer: agent::core::ContainerizerKind::Mesos,
                group: false,
            },
            Checkpoint::Record { run, record: Box::new(UpdateRecord::Update(Box::new(starting))) },
        ]
    };
    // Never sent to the zygote.
    let mut cps = pending("unstarted", "c-unstarted");
    // Sent, ran and ended while the agent was down, but its launch was never recorded: its
    // monitor's status file says how it ended.
    cps.extend(pending("unrecorded", "c-unrecorded"));
    store.apply_batch(&cps).expect("checkpoint");
    let status_dir = sandbox.work_dir().join("runtime/containers");
    std::fs::create_dir_all(&status_dir).expect("status dir");
    std::fs::write(status_dir.join("c-unrecorded.status"), "exited 3\n").expect("status file");

    let agent = start_agent(&sandbox, &master, None).await;
    let reg = master.wait_registers(2).await;
    assert_eq!(reg.agent_id.as_ref(), Some(&agent_id));
    let dropped = master.ack_until("unstarted", TaskState::Dropped).await;
    let last = dropped.last().expect("update");
    assert!(
        dropped.iter().all(|u| matches!(u.status.state, TaskState::Starting | TaskState::Dropped)),
        "the checkpointed STARTING, then TASK_DROPPED: {:?}",
        dropped.iter().map(|u| u.status.state).collect::<Vec<_>>()
    );
    assert_eq!(last.status.reason, Some(Reason::AgentRestarted));
    assert_eq!(last.status.source, Some(Source::Agent));
    assert_eq!(last.status.message.as_deref(), Some("Task launched during agent restart"));
    let ended = master.ack_until("unrecorded", TaskState::Failed).await;
    assert_eq!(ended.last().and_then(|u| u.status.message.clone()).as_deref(), Some("Command exited with status 3"));
    assert!(pid_alive(keeper_pid), "the task that did start keeps running");
    assert!(
        master
            .updates_of("keeper")
            .iter()
            .all(|u| u.status.state == TaskState::Running || u.status.state == TaskState::Starting)
    );
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_keeps_only_checkpointed_tasks() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    master.run_task(&framework("F1", true, &[]), task("kept", &agent_id, "sleep 30", "cpus:0.1;mem:32"));
    master.run_task(&framework("F2", false, &[]), task("dropped", &agent_id, "sleep 30", "cpus:0.1;mem:32"));
    let kept = master.ack_until("kept", TaskState::Running).await;
    let dropped = master.ack_until("dropped", TaskState::Running).await;
    let kept_pid = wait_for("pid", || task_pid(&sandbox, &container_of(kept.last().expect("r")))).await;
    let dropped_pid = wait_for("pid", || task_pid(&sandbox, &container_of(dropped.last().expect("r")))).await;
    agent.shutdown().await.expect("shutdown");
    wait_for("non-checkpointed task killed", || (!pid_alive(dropped_pid)).then_some(())).await;
    assert!(pid_alive(kept_pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_endpoints_refuse_paths_outside_the_sandboxes() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    master.run_task(&framework("F1", false, &[]), task("t", &agent_id, "ln -s /etc etc; echo ok", "cpus:0.1;mem:32"));
    master.ack_until("t", TaskState::Finished).await;
    let addr = agent.local_addr();
    let secret = sandbox.dir.path().join("secret.txt");
    std::fs::write(&secret, "top secret").expect("write");
    let work = sandbox.work_dir().canonicalize().expect("canon");
    for path in [
        "/etc/passwd".to_string(),
        "/frameworks/../../../../../../etc/passwd".to_string(),
        "/frameworks/F1/executors/t/runs/latest/../../../../../../../secret.txt".to_string(),
        "/frameworks/F1/executors/t/runs/latest/etc/passwd".to_string(),
        format!("{}/slaves/../../secret.txt", work.display()),
        format!("{}/meta/boot_id", work.display()),
        secret.display().to_string(),
    ] {
        for endpoint in ["read", "browse", "download"] {
            let (code, body) = http_get(addr, &format!("/files/{endpoint}?path={path}&offset=0")).await;
            assert_eq!(code, 404, "{endpoint} {path}: {body}");
            assert!(!body.contains("top secret") && !body.contains("root:"), "{body}");
        }
    }
    let (code, _) = http_get(addr, "/files/read?path=relative&offset=0").await;
    assert_eq!(code, 400);
    let (code, _) = http_get(addr, "/files/read?path=/frameworks/F1/executors/t/runs/latest/stdout&offset=-7").await;
    assert_eq!(code, 400);
    let (code, _) = http_get(addr, "/files/read?offset=0").await;
    assert_eq!(code, 400);
    let (code, body) = http_get(addr, "/files/read?path=/frameworks/F1/executors/t/runs/latest/stdout&offset=0").await;
    assert_eq!(code, 200);
    assert!(body.contains("ok"));
    agent.shutdown().await.expect("shutdown");
    let _ = AgentId::new("unused");
}

/// A task makes a named pipe in its sandbox; hundreds of downloads and reads of it at once are
/// refused at once (opening a pipe blocks until a writer comes: each used to hold one of the
/// blocking threads the agent also launches tasks with), and a task launched right after runs
/// promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_a_named_pipe_are_refused_at_once_and_never_hold_up_launches() {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    master.run_task(&fw, task("piper", &agent_id, "mkfifo pipe && exec sleep 60", "cpus:0.1;mem:32"));
    master.ack_until("piper", TaskState::Running).await;
    let pipe = sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F1/executors/piper/runs/latest/pipe"));
    wait_for("the named pipe", || std::fs::metadata(&pipe).ok().filter(|m| m.file_type().is_fifo())).await;
    let addr = agent.local_addr();
    let http = reqwest::Client::new();
    let path = "/frameworks/F1/executors/piper/runs/latest/pipe";
    let requests = (0..600).map(|i| {
        let url = match i % 3 {
            0 => format!("http://{addr}/files/read?path={path}&offset=0"),
            _ => format!("http://{addr}/files/download?path={path}"),
        };
        let http = http.clone();
        async move {
            let response = http.get(url).send().await.expect("request");
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        }
    });
    let started = Instant::now();
    let answers = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(requests)).await;
    let Ok(answers) = answers else {
        // Let whatever still waits for a writer go before failing.
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(nonblocking_flag()).open(&pipe);
        panic!("600 requests for a named pipe got no answer within 30 s");
    };
    let took = started.elapsed();
    for (code, body) in &answers {
        assert_eq!(*code, 400, "{body}");
        assert!(body.contains("not a regular file"), "{body}");
    }
    assert!(took < Duration::from_secs(15), "600 refusals took {took:?}");
    let before = Instant::now();
    master.run_task(&fw, task("after", &agent_id, "sleep 30", "cpus:0.1;mem:32"));
    master.ack_until("after", TaskState::Running).await;
    assert!(before.elapsed() < Duration::from_secs(5), "a launch after the requests took {:?}", before.elapsed());
    agent.shutdown().await.expect("shutdown");
}

fn nonblocking_flag() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}

/// `--gc_delay`: the sandbox of a task that ended (and whose updates were acknowledged) is
/// removed that long after, those of running tasks stay, `/files/browse` of a removed one
/// answers 404 as Mesos does; a restarted agent removes what the previous run left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxes_of_ended_tasks_are_removed_after_the_gc_delay() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let mut flags = sandbox.flags(&master);
    flags.gc_delay = Duration::from_secs(2);
    let agent = start_agent(&sandbox, &master, Some(flags.clone())).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", true, &[]);
    let executor_dir =
        |task: &str| sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F1/executors/{task}"));
    let browse = |task: &str| format!("/files/browse?path=/frameworks/F1/executors/{task}/runs/latest");
    master.run_task(&fw, task("running", &agent_id, "sleep 60", "cpus:0.1;mem:32"));
    master.run_task(&fw, task("done", &agent_id, "echo bye", "cpus:0.1;mem:32"));
    master.ack_until("running", TaskState::Running).await;
    master.ack_until("done", TaskState::Finished).await;
    let completed = Instant::now();
    assert_eq!(http_get(agent.local_addr(), &browse("done")).await.0, 200);
    wait_for("the ended task's sandbox to be removed", || (!executor_dir("done").exists()).then_some(())).await;
    assert!(completed.elapsed() >= Duration::from_millis(1500), "removed after {:?}", completed.elapsed());
    let (code, body) = http_get(agent.local_addr(), &browse("done")).await;
    assert_eq!(code, 404, "{body}");
    assert!(executor_dir("running").join("runs/latest/stdout").exists(), "a running task's sandbox stays");
    assert_eq!(http_get(agent.local_addr(), &browse("running")).await.0, 200);

    // A task ends, and the agent dies before the sandbox's time is up: the next one removes it.
    master.run_task(&fw, task("done-before-crash", &agent_id, "true", "cpus:0.1;mem:32"));
    master.ack_until("done-before-crash", TaskState::Finished).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.abort();
    master.drop_stream();
    assert!(executor_dir("done-before-crash").exists());
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    wait_registered(&agent).await;
    wait_for("the sandbox a previous run left to be removed", || {
        (!executor_dir("done-before-crash").exists()).then_some(())
    })
    .await;
    assert!(executor_dir("running").join("runs/latest/stdout").exists(), "a running task's sandbox stays");
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_get_the_mesos_environment() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let mut t = task("envy", &agent_id, "env > env.txt; pwd > pwd.txt", "cpus:0.5;mem:64");
    if let Some(c) = &mut t.command {
        c.environment = serde_json::from_str(
            r#"{"variables":[{"name":"FOO","value":"bar"},{"name":"HIDDEN","type":"SECRET","secret":{"type":"REFERENCE"}}]}"#,
        )
        .ok();
    }
    master.run_task(&framework("F1", true, &[]), t);
    master.ack_until("envy", TaskState::Finished).await;
    let addr = agent.local_addr();
    let (_, body) = http_get(addr, "/files/read?path=/frameworks/F1/executors/envy/runs/latest/env.txt&offset=0").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let env: std::collections::HashMap<String, String> = v["data"]
        .as_str()
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let (_, body) = http_get(addr, "/files/read?path=/frameworks/F1/executors/envy/runs/latest/pwd.txt&offset=0").await;
    let pwd: serde_json::Value = serde_json::from_str(&body).expect("json");
    let sandbox_dir = pwd["data"].as_str().unwrap_or("").trim().to_string();
    assert!(sandbox_dir.contains("/slaves/M-S1/frameworks/F1/executors/envy/runs/"), "{sandbox_dir}");
    let port = addr.port();
    for (k, want) in [
        ("MESOS_FRAMEWORK_ID", "F1".to_string()),
        ("MESOS_EXECUTOR_ID", "envy".to_string()),
        ("MESOS_TASK_ID", "envy".to_string()),
        ("MESOS_SLAVE_ID", "M-S1".to_string()),
        ("MESOS_AGENT_ENDPOINT", format!("127.0.0.1:{port}")),
        ("MESOS_SLAVE_PID", format!("slave(1)@127.0.0.1:{port}")),
        ("MESOS_CHECKPOINT", "1".to_string()),
        ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs".to_string()),
        ("MESOS_ALLOCATION_ROLE", "*".to_string()),
        ("MESOS_DIRECTORY", sandbox_dir.clone()),
        ("MESOS_SANDBOX", sandbox_dir.clone()),
        ("FOO", "bar".to_string()),
    ] {
        assert_eq!(env.get(k), Some(&want), "{k}");
    }
    assert!(!env.contains_key("HIDDEN"));
    assert!(env.contains_key("PATH"), "the agent's environment is inherited");
    if sandbox.cgroups_available() {
        let running = master.updates_of("envy").into_iter().find(|u| u.status.state == TaskState::Running);
        let cid = container_of(&running.expect("running"));
        wait_for("cgroups removed when the task ends", || (!sandbox.cgroup_dir("memory", &cid).exists()).then_some(()))
            .await;
    }
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_discards_the_checkpointed_state() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let first = wait_registered(&agent).await;
    agent.shutdown().await.expect("shutdown");
    let meta = sandbox.work_dir().join("meta");
    assert_eq!(std::fs::read_link(meta.join("slaves/latest")).expect("latest").to_str(), Some(first.as_str()));
    assert!(meta.join("slaves").join(first.as_str()).join("slave.info").is_file());
    // Same boot: the id is recovered.
    master.drop_stream();
    let agent = start_agent(&sandbox, &master, None).await;
    assert_eq!(master.wait_registers(2).await.agent_id.as_ref(), Some(&first));
    agent.shutdown().await.expect("shutdown");
    // Another boot id: everything is forgotten.
    std::fs::write(meta.join("boot_id"), "00000000-0000-0000-0000-000000000000").expect("write");
    master.drop_stream();
    let agent = start_agent(&sandbox, &master, None).await;
    assert_eq!(master.wait_registers(3).await.agent_id, None);
    let second = wait_registered(&agent).await;
    assert_ne!(second, first);
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posix_isolation_runs_plain_processes() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let mut flags = sandbox.flags(&master);
    flags.isolation.isolation = agent::isolation::parse_isolation("posix/cpu,posix/mem").expect("isolation");
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    master.run_task(&fw, task("plain", &agent_id, "sleep 1000 & sleep 1000", "cpus:0.1;mem:32"));
    let running = master.ack_until("plain", TaskState::Running).await;
    let cid = container_of(running.last().expect("running"));
    let pid = wait_for("pid", || task_pid(&sandbox, &cid)).await;
    assert!(!sandbox.cgroup_dir("memory", &cid).exists());
    master.kill("F1", "plain", Some(1.0));
    master.ack_until("plain", TaskState::Killed).await;
    wait_for("process gone", || (!pid_alive(pid)).then_some(())).await;
    agent.shutdown().await.expect("shutdown");
}
