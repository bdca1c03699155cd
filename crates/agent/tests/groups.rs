//! Task groups on a real agent (real processes, cgroups and HTTP) against a fake master: run as
//! upstream's default executor runs them.

mod common;

use common::*;
use mesos_api::agent::AgentEvent;
use mesos_api::messages::{ExecutorInfo, FrameworkInfo, TaskGroupInfo, TaskInfo, TaskState};
use mesos_api::{AgentId, ExecutorId};
use std::time::Duration;

fn executor(id: &str, framework: &str) -> ExecutorInfo {
    serde_json::from_value(serde_json::json!({
        "executor_id": {"value": id},
        "framework_id": {"value": framework},
        "type": "DEFAULT",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
    }))
    .expect("executor")
}

fn run_group(master: &FakeMaster, framework: &FrameworkInfo, executor_id: &str, tasks: Vec<TaskInfo>) {
    let fw = framework.id.as_ref().expect("framework id").as_str();
    master.send(AgentEvent::RunTaskGroup {
        framework: Box::new(framework.clone()),
        executor: Box::new(executor(executor_id, fw)),
        task_group: TaskGroupInfo { tasks },
    });
}

fn executor_of(update: &mesos_api::agent::StatusUpdate) -> Option<&str> {
    update.status.executor_id.as_ref().map(ExecutorId::as_str)
}

async fn state(agent: &agent::RunningAgent) -> serde_json::Value {
    let (code, body) = http_get(agent.local_addr(), "/state").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_shares_its_executors_sandbox_and_a_kill_of_one_task_ends_it() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    let mut b = task("b", &agent_id, "echo from-b; sleep 60", "cpus:0.1;mem:32");
    // Health checks work as for command tasks (the check sees the task's sandbox).
    b.health_check = Some(serde_json::json!({
        "type": "COMMAND", "command": {"value": "test -f \"$MESOS_SANDBOX/stdout\""},
        "delay_seconds": 0, "interval_seconds": 1, "grace_period_seconds": 10, "timeout_seconds": 5
    }));
    run_group(
        &master,
        &fw,
        "E1",
        vec![task("a", &agent_id, "echo from-a; echo $MESOS_SANDBOX; sleep 60", "cpus:0.1;mem:32"), b],
    );
    for t in ["a", "b"] {
        let updates = master.ack_until(t, TaskState::Running).await;
        assert!(updates.iter().all(|u| executor_of(u) == Some("E1")), "{updates:?}");
    }
    let healthy = master.ack_until("b", TaskState::Running).await;
    let healthy = healthy.last().expect("health update");
    assert_eq!(healthy.status.healthy, Some(true), "{healthy:?}");
    assert_eq!(executor_of(healthy), Some("E1"));
    // Each task's sandbox is `tasks/<id>` in the executor's run directory, served through
    // `runs/latest`.
    let addr = agent.local_addr();
    let read = |t: &str| format!("/files/read?path=/frameworks/F1/executors/E1/runs/latest/tasks/{t}/stdout&offset=0");
    let data = |body: &str| {
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        v["data"].as_str().unwrap_or_default().to_string()
    };
    let body = wait_for("a's output", || {
        let body = std::fs::read_to_string(
            sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F1/executors/E1/runs/latest/tasks/a/stdout")),
        )
        .ok()?;
        body.contains("from-a").then_some(body)
    })
    .await;
    let (code, served) = http_get(addr, &read("a")).await;
    assert_eq!(code, 200, "{served}");
    assert_eq!(data(&served), body);
    let (code, served) = http_get(addr, &read("b")).await;
    assert_eq!(code, 200, "{served}");
    assert!(data(&served).contains("from-b"));
    // `/state`: one executor of type DEFAULT with both tasks.
    let state = state(&agent).await;
    let executors = state["frameworks"][0]["executors"].as_array().expect("executors");
    assert_eq!(executors.len(), 1, "{state}");
    let e = &executors[0];
    assert_eq!((e["id"].as_str(), e["type"].as_str()), (Some("E1"), Some("DEFAULT")));
    let directory = e["directory"].as_str().expect("directory").to_string();
    assert!(directory.contains(&format!("slaves/{agent_id}/frameworks/F1/executors/E1/runs/")), "{directory}");
    assert!(body.contains(&format!("{directory}/tasks/a")), "MESOS_SANDBOX is the task's sandbox: {body}");
    let mut ids: Vec<&str> = e["tasks"].as_array().expect("tasks").iter().filter_map(|t| t["id"].as_str()).collect();
    ids.sort();
    assert_eq!(ids, vec!["a", "b"]);
    assert!(e["tasks"].as_array().expect("tasks").iter().all(|t| t["executor_id"] == "E1"));
    assert_eq!(e["resources"]["cpus"], 0.3, "the executor's and its tasks'");
    // A kill of one task ends the group.
    master.kill("F1", "a", Some(1.0));
    let a = master.ack_until("a", TaskState::Killed).await;
    let b = master.ack_until("b", TaskState::Killed).await;
    assert_eq!(executor_of(a.last().expect("a")), Some("E1"));
    assert_eq!(executor_of(b.last().expect("b")), Some("E1"));
    wait_for("the executor completed", || agent.snapshot().executors.is_empty().then_some(())).await;
    let state = self::state(&agent).await;
    let done = &state["frameworks"][0]["completed_executors"];
    assert_eq!(done.as_array().map(Vec::len), Some(1), "{state}");
    assert_eq!(done[0]["completed_tasks"].as_array().map(Vec::len), Some(2));
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_fails_kills_the_rest_of_its_group_and_one_that_finishes_does_not() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let mut flags = sandbox.flags(&master);
    flags.gc_delay = Duration::from_secs(2);
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    run_group(
        &master,
        &fw,
        "E1",
        vec![
            task("done", &agent_id, "sleep 0.5", "cpus:0.1;mem:32"),
            task("fails", &agent_id, "sleep 2; exit 3", "cpus:0.1;mem:32"),
            task("rest", &agent_id, "sleep 60", "cpus:0.1;mem:32"),
        ],
    );
    master.ack_until("rest", TaskState::Running).await;
    master.ack_until("done", TaskState::Finished).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        master
            .updates_of("rest")
            .iter()
            .all(|u| u.status.state == TaskState::Starting || u.status.state == TaskState::Running),
        "a task that finished leaves the others running"
    );
    let failed = master.ack_until("fails", TaskState::Failed).await;
    assert_eq!(failed.last().and_then(|u| u.status.message.as_deref()), Some("Command exited with status 3"));
    let rest = master.ack_until("rest", TaskState::Killed).await;
    assert_eq!(executor_of(rest.last().expect("killed")), Some("E1"));
    // Every task completed: the executor's directory is garbage collected.
    let executor_dir = sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F1/executors/E1"));
    assert!(executor_dir.exists());
    wait_for("the executor's directory removed", || (!executor_dir.exists()).then_some(())).await;
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_the_agent_cannot_run_fails_every_task() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    let mut docker = task("docker", &agent_id, "sleep 60", "cpus:0.1;mem:32");
    docker.container = Some(serde_json::json!({"type": "DOCKER", "docker": {"image": "busybox"}}));
    run_group(&master, &fw, "E1", vec![task("plain", &agent_id, "sleep 60", "cpus:0.1;mem:32"), docker]);
    for t in ["plain", "docker"] {
        let u = master.wait_update(t, 1).await;
        assert_eq!(u.status.state, TaskState::Failed, "{u:?}");
        assert!(u.status.message.as_deref().unwrap_or_default().contains("Docker"), "{u:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(master.updates_of("plain").len(), 1, "it never started");
    assert!(launch_records(&sandbox).is_empty());
    agent.shutdown().await.expect("shutdown");
}

/// `kill -9` of the agent while a group runs: the restarted agent takes both tasks back
/// (reporting them with their executor), and a task that fails afterwards still ends the
/// group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_takes_a_group_back_and_keeps_its_rule() {
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id: AgentId = wait_registered(&agent).await;
    let fw = framework("F1", true, &[]);
    run_group(
        &master,
        &fw,
        "E1",
        vec![task("p", &agent_id, "sleep 60", "cpus:0.1;mem:32"), task("q", &agent_id, "sleep 60", "cpus:0.1;mem:32")],
    );
    let p = master.ack_until("p", TaskState::Running).await;
    let q = master.ack_until("q", TaskState::Running).await;
    let p_pid = wait_for("p's pid", || task_pid(&sandbox, &container_of(p.last().expect("p")))).await;
    let q_pid = wait_for("q's pid", || task_pid(&sandbox, &container_of(q.last().expect("q")))).await;

    agent.abort();
    master.drop_stream();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(pid_alive(p_pid) && pid_alive(q_pid));
    let agent = start_agent(&sandbox, &master, None).await;
    let reg = master.wait_registers(2).await;
    let mut reported: Vec<(&str, Option<&str>)> = reg
        .tasks
        .iter()
        .map(|t| (t.task.task_id.as_str(), t.task.executor_id.as_ref().map(ExecutorId::as_str)))
        .collect();
    reported.sort();
    assert_eq!(reported, vec![("p", Some("E1")), ("q", Some("E1"))]);
    assert_eq!(reg.executors.len(), 1);
    assert_eq!(reg.executors[0].executor.executor_id.as_str(), "E1");
    wait_registered(&agent).await;
    let state = state(&agent).await;
    assert_eq!(state["frameworks"][0]["executors"][0]["tasks"].as_array().map(Vec::len), Some(2), "{state}");

    // p dies on its own (SIGKILL from outside): it failed, so q is killed.
    assert!(pid_alive(p_pid) && pid_alive(q_pid), "the same processes");
    let killed = std::process::Command::new("kill").args(["-9", &p_pid.to_string()]).status().expect("kill p");
    assert!(killed.success());
    let p = master.ack_until("p", TaskState::Failed).await;
    assert_eq!(executor_of(p.last().expect("p")), Some("E1"));
    master.ack_until("q", TaskState::Killed).await;
    wait_for("q's process gone", || (!pid_alive(q_pid)).then_some(())).await;
    agent.shutdown().await.expect("shutdown");
}
