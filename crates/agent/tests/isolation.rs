//! Isolation: agents sharing a host keep to their own containers; per-task limits.

mod common;

use common::*;
use mesos_api::messages::{Reason, Source, TaskState};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

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

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The median time of `n` HTTP GETs (a new connection each), `gap` apart (blocking).
fn median_latency(port: u16, n: usize, gap: Duration) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            std::thread::sleep(gap);
            let start = Instant::now();
            let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the neighbour");
            conn.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").expect("request");
            let mut body = String::new();
            conn.read_to_string(&mut body).expect("response");
            assert!(body.contains("neighbour"), "{body}");
            start.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

/// A fork bomb, a memory hog, a CPU hog and a disk filler, each in a task of its own next to a
/// neighbour serving HTTP: the neighbour's latency stays within 2x of its quiet value, the
/// fork bomb fails at its pids limit (REASON_CONTAINER_LIMITATION), the memory hog at its
/// memory limit (REASON_CONTAINER_LIMITATION_MEMORY), the disk filler at its sandbox quota
/// (REASON_CONTAINER_LIMITATION_DISK), and the CPU hog is throttled to its cpus (CFS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offenders_fail_with_their_limitation_and_spare_their_neighbour() {
    let sandbox = Sandbox::new();
    if !sandbox.cgroups_available() || !std::path::Path::new("/sys/fs/cgroup/pids").is_dir() {
        eprintln!("cgroups v1 with pids not available: skipping");
        return;
    }
    let master = FakeMaster::start().await;
    let mut flags = sandbox.flags(&master);
    flags.isolation = agent::isolation::IsolationFlags {
        isolation: agent::isolation::parse_isolation("cgroups/cpu,cgroups/mem,cgroups/pids,disk/du")
            .expect("isolation"),
        cgroups_enable_cfs: true,
        cgroups_pids_max: 64,
        enforce_container_disk_quota: true,
        container_disk_watcher_interval: Duration::from_secs(1),
    };
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    let port = free_port();
    let serve = format!("echo neighbour > index.html && exec busybox httpd -f -p 127.0.0.1:{port} -h .");
    master.run_task(&fw, task("neighbour", &agent_id, &serve, "cpus:0.5;mem:64;disk:16"));
    master.ack_until("neighbour", TaskState::Running).await;
    wait_for("the neighbour serving", || std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())).await;
    let quiet = tokio::task::spawn_blocking(move || median_latency(port, 50, Duration::from_millis(10)))
        .await
        .expect("quiet latency");

    let offenders = [
        ("bomb", "bomb() { bomb | bomb & }; bomb; exec sleep 1000", "cpus:0.1;mem:128"),
        ("memory-hog", "dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 5", "cpus:0.1;mem:64"),
        ("cpu-hog", "for i in 1 2 3 4; do (while :; do :; done) & done; wait", "cpus:0.1;mem:32"),
        ("disk-filler", "dd if=/dev/zero of=fill bs=1M count=64; exec sleep 1000", "cpus:0.1;mem:128;disk:16"),
    ];
    for (id, cmd, resources) in offenders {
        master.run_task(&fw, task(id, &agent_id, cmd, resources));
    }
    let loaded = tokio::task::spawn_blocking(move || median_latency(port, 100, Duration::from_millis(20)))
        .await
        .expect("loaded latency");

    let failed = |id: &'static str| {
        let master = master.clone();
        async move { master.ack_until(id, TaskState::Failed).await.pop().expect("TASK_FAILED").status }
    };
    let bomb = failed("bomb").await;
    assert_eq!(bomb.reason, Some(Reason::ContainerLimitation), "{bomb:?}");
    assert!(bomb.message.as_deref().unwrap_or("").contains("limit of 64 processes"), "{bomb:?}");
    let hog = failed("memory-hog").await;
    assert_eq!(hog.reason, Some(Reason::ContainerLimitationMemory), "{hog:?}");
    let filler = failed("disk-filler").await;
    assert_eq!(filler.reason, Some(Reason::ContainerLimitationDisk), "{filler:?}");
    assert_eq!(filler.source, Some(Source::Agent));
    assert!(filler.message.as_deref().unwrap_or("").ends_with("exceeds quota (16MB)"), "{filler:?}");

    // The CPU hog runs on, throttled to its 0.1 cpus.
    let cpu_hog = container_of(master.ack_until("cpu-hog", TaskState::Running).await.last().expect("TASK_RUNNING"));
    let cpu_dir = sandbox.cgroup_dir("cpu", &cpu_hog);
    assert_eq!(std::fs::read_to_string(cpu_dir.join("cpu.cfs_quota_us")).expect("quota").trim(), "10000");
    let throttled = wait_for("the CPU hog throttled", || {
        let stat = std::fs::read_to_string(cpu_dir.join("cpu.stat")).ok()?;
        let n: u64 = stat.lines().find_map(|l| l.strip_prefix("nr_throttled "))?.parse().ok()?;
        (n > 0).then_some(n)
    })
    .await;
    assert!(throttled > 0);
    master.kill("F1", "cpu-hog", None);
    master.ack_until("cpu-hog", TaskState::Killed).await;

    let snap = agent.snapshot();
    let neighbour = snap.tasks.iter().find(|t| t.task.task_id.as_str() == "neighbour").expect("neighbour");
    assert_eq!(neighbour.task.state, TaskState::Running);
    eprintln!("neighbour's median latency: {quiet:?} quiet, {loaded:?} next to the offenders");
    assert!(loaded <= quiet * 2, "the neighbour's median latency went from {quiet:?} to {loaded:?}");
    agent.shutdown().await.expect("shutdown");
}
