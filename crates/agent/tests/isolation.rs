//! Isolation: agents sharing a host keep to their own containers; per-task limits.

mod common;

use common::*;
use mesos_api::messages::TaskState;
use std::time::Duration;

/// Two agents on one host with the same `--cgroups_root` (as two agents with the default
/// `mesos`): a restarted agent recovers its own containers and leaves the other's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_sharing_a_cgroup_root_never_touch_each_others_containers() {
    let a = Sandbox::new();
    let mut b = Sandbox::new();
    b.cgroups_root = a.cgroups_root.clone();
    if !a.cgroups_available() {
        eprintln!("cgroups v1 not available: skipping");
        return;
    }
    let (master_a, master_b) = (FakeMaster::start().await, FakeMaster::start().await);
    let agent_a = start_agent(&a, &master_a, None).await;
    let agent_b = start_agent(&b, &master_b, None).await;
    let (id_a, id_b) = (wait_registered(&agent_a).await, wait_registered(&agent_b).await);
    let fw = framework("F1", true, &[]);
    master_a.run_task(&fw, task("on-a", &id_a, "sleep 120", "cpus:0.1;mem:32"));
    master_b.run_task(&fw, task("on-b", &id_b, "sleep 120", "cpus:0.1;mem:32"));
    let cid_a = container_of(master_a.ack_until("on-a", TaskState::Running).await.last().expect("running"));
    let cid_b = container_of(master_b.ack_until("on-b", TaskState::Running).await.last().expect("running"));
    let pid_a = wait_for("pid", || task_pid(&a, &cid_a)).await;
    let pid_b = wait_for("pid", || task_pid(&b, &cid_b)).await;
    assert_ne!(a.agent_cgroups_root(), b.agent_cgroups_root());
    assert!(a.cgroup_dir("memory", &cid_a).is_dir(), "A's task in A's cgroup");
    assert!(b.cgroup_dir("memory", &cid_b).is_dir(), "B's task in B's cgroup");

    // kill -9 and restart each agent in turn: it recovers its task, the other's runs on.
    agent_a.abort();
    master_a.drop_stream();
    let agent_a = start_agent(&a, &master_a, None).await;
    master_a.wait_registers(2).await;
    wait_registered(&agent_a).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pid_alive(pid_b), "A's recovery killed B's task");
    assert!(b.cgroup_dir("memory", &cid_b).is_dir(), "A's recovery removed B's cgroup");
    assert!(pid_alive(pid_a), "A recovered its own task");

    agent_b.abort();
    master_b.drop_stream();
    let agent_b = start_agent(&b, &master_b, None).await;
    master_b.wait_registers(2).await;
    wait_registered(&agent_b).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pid_alive(pid_a), "B's recovery killed A's task");
    assert!(pid_alive(pid_b), "B recovered its own task");
    let snap = agent_a.snapshot();
    assert!(snap.tasks.iter().any(|t| t.task.task_id.as_str() == "on-a" && t.task.state == TaskState::Running));

    master_a.kill("F1", "on-a", None);
    master_a.ack_until("on-a", TaskState::Killed).await;
    assert!(pid_alive(pid_b), "killing A's task left B's alone");
    master_b.kill("F1", "on-b", None);
    master_b.ack_until("on-b", TaskState::Killed).await;
    agent_a.shutdown().await.expect("shutdown");
    agent_b.shutdown().await.expect("shutdown");
}
