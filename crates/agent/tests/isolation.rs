//! Isolation: agents sharing a host keep to their own containers; per-task limits.

mod common;

use common::*;
use mesos_api::messages::{Reason, Source, TaskState};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// The latency test measures sub-millisecond medians: the other tests of this file (each with
/// an agent and tasks of its own) must not run beside it, or their load is what it measures.
/// It takes this lock for writing, every other test for reading.
static LATENCY_ALONE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Two agents on one host with the same `--cgroups_root` (as two agents with the default
/// `mesos`): a restarted agent recovers its own containers and leaves the other's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_sharing_a_cgroup_root_never_touch_each_others_containers() {
    let _beside = LATENCY_ALONE.read().await;
    let _serial = SERIAL.lock().await;
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

/// The tests of this file run one at a time: one of them measures latencies.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The lowest of `rounds` medians of `n` HTTP GETs each (blocking): the typical latency, with
/// less of the noise that other work on a shared machine adds to one round.
fn typical_latency(port: u16, rounds: usize, n: usize, gap: Duration) -> Duration {
    (0..rounds).map(|_| median_latency(port, n, gap)).min().unwrap_or_default()
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
    let _alone = LATENCY_ALONE.write().await;
    let _serial = SERIAL.lock().await;
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
        ..Default::default()
    };
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", false, &[]);
    let port = free_port();
    let serve = format!("echo neighbour > index.html && exec busybox httpd -f -p 127.0.0.1:{port} -h .");
    master.run_task(&fw, task("neighbour", &agent_id, &serve, "cpus:0.5;mem:64;disk:16"));
    master.ack_until("neighbour", TaskState::Running).await;
    wait_for("the neighbour serving", || std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())).await;
    let quiet = tokio::task::spawn_blocking(move || typical_latency(port, 3, 25, Duration::from_millis(10)))
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
    // Nine rounds next to the offenders (the CPU hog runs until it is killed below), so that a
    // burst of load from outside this test (a build beside CI) spoils some rounds, not all.
    let loaded = tokio::task::spawn_blocking(move || typical_latency(port, 9, 25, Duration::from_millis(20)))
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

fn as_user(mut t: mesos_api::messages::TaskInfo, user: &str) -> mesos_api::messages::TaskInfo {
    if let Some(c) = t.command.as_mut() {
        c.user = Some(user.to_string());
    }
    t
}

fn stdout_of(update: &mesos_api::agent::StatusUpdate, sandbox: &Sandbox, agent_id: &str) -> String {
    let task = update.status.task_id.as_str();
    let path = sandbox.work_dir().join(format!(
        "slaves/{agent_id}/frameworks/{}/executors/{task}/runs/latest/stdout",
        update.framework_id.as_str()
    ));
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `--switch_user` (the default): a task runs as its user (the command's, else the framework's),
/// in a sandbox of that user's, fetches its URIs with that user's rights (not
/// `file:///etc/shadow`), and `/files` serves only what that user may read; a user that does not
/// exist fails the task with a clear message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_fetch_and_are_read_as_their_user() {
    let _beside = LATENCY_ALONE.read().await;
    let _serial = SERIAL.lock().await;
    use std::os::unix::fs::MetadataExt;
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let mut fw = framework("F1", false, &[]);
    fw.user = "nobody".into();
    let check = "id -un; test -r /etc/shadow && echo can-read-shadow || echo cannot-read-shadow; sleep 30";
    master.run_task(&fw, task("mine", &agent_id, check, "cpus:0.1;mem:32"));
    let running = master.ack_until("mine", TaskState::Running).await.pop().expect("running");
    let out = wait_for("the task's output", || {
        Some(stdout_of(&running, &sandbox, agent_id.as_str())).filter(|o| o.contains("shadow"))
    })
    .await;
    assert!(out.starts_with("nobody\n") && out.contains("cannot-read-shadow"), "{out}");
    let run_dir = sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F1/executors/mine/runs/latest"));
    let nobody = containerizer::UserCreds::lookup("nobody").expect("nobody");
    assert_eq!(std::fs::metadata(&run_dir).expect("sandbox").uid(), nobody.uid, "the sandbox is the user's");

    // A file its user cannot read, linked into its sandbox (as a task could where the kernel
    // allows hard links to others' files): /files refuses it, serves the task's own output.
    let secret = sandbox.dir.path().join("secret");
    std::fs::write(&secret, "the secret").expect("secret");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    std::fs::hard_link(&secret, run_dir.join("stolen")).expect("link");
    let files = "/files/read?path=/frameworks/F1/executors/mine/runs/latest";
    let (code, body) = http_get(agent.local_addr(), &format!("{files}/stolen&offset=0")).await;
    assert_eq!(code, 403, "{body}");
    assert!(!body.contains("the secret"));
    let (code, body) = http_get(agent.local_addr(), &format!("{files}/stdout&offset=0")).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("nobody"), "{body}");
    master.kill("F1", "mine", None);
    master.ack_until("mine", TaskState::Killed).await;

    // Fetching with the user's rights.
    let mut steal = task("steal", &agent_id, "cat shadow", "cpus:0.1;mem:32");
    if let Some(c) = steal.command.as_mut() {
        c.uris = vec![mesos_api::messages::CommandUri {
            value: "file:///etc/shadow".into(),
            executable: None,
            extract: false,
            cache: None,
            output_file: None,
        }];
    }
    master.run_task(&fw, steal);
    let failed = master.ack_until("steal", TaskState::Failed).await.pop().expect("failed").status;
    let message = failed.message.unwrap_or_default();
    assert!(message.contains("Failed to fetch URIs") && message.contains("Permission denied"), "{message}");
    let stolen = sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F1/executors/steal/runs/latest/shadow"));
    assert!(std::fs::read_to_string(stolen).unwrap_or_default().is_empty(), "nothing of /etc/shadow fetched");

    // The command's user wins over the framework's; one that does not exist fails the task.
    master.run_task(&fw, as_user(task("rooted", &agent_id, "id -un", "cpus:0.1;mem:32"), "root"));
    let fin = master.ack_until("rooted", TaskState::Finished).await.pop().expect("finished");
    assert_eq!(stdout_of(&fin, &sandbox, agent_id.as_str()), "root\n");
    master.run_task(&fw, as_user(task("ghost", &agent_id, "true", "cpus:0.1;mem:32"), "no-such-user-x9"));
    let failed = master.ack_until("ghost", TaskState::Failed).await.pop().expect("failed").status;
    let message = failed.message.unwrap_or_default();
    assert!(message.contains("\"no-such-user-x9\" does not exist"), "{message}");
    agent.shutdown().await.expect("shutdown");
}

/// `--switch_user=false`: tasks run as the agent's user whatever their user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_switch_user_tasks_run_as_the_agent() {
    let _beside = LATENCY_ALONE.read().await;
    let _serial = SERIAL.lock().await;
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let mut flags = sandbox.flags(&master);
    flags.isolation.switch_user = false;
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    let agent_id = wait_registered(&agent).await;
    let mut fw = framework("F1", false, &[]);
    fw.user = "nobody".into();
    master.run_task(&fw, task("me", &agent_id, "id -u", "cpus:0.1;mem:32"));
    let fin = master.ack_until("me", TaskState::Finished).await.pop().expect("finished");
    assert_eq!(stdout_of(&fin, &sandbox, agent_id.as_str()), format!("{}\n", nix::unistd::geteuid()));
    agent.shutdown().await.expect("shutdown");
}

/// `filesystem/linux`: each task has a private `/tmp` (its sandbox's `tmp`), seen by no other
/// task and not the host's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_linux_gives_each_task_a_private_tmp() {
    let _beside = LATENCY_ALONE.read().await;
    let _serial = SERIAL.lock().await;
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let mut flags = sandbox.flags(&master);
    flags.isolation.isolation =
        agent::isolation::parse_isolation("cgroups/cpu,cgroups/mem,filesystem/linux").expect("isolation");
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    let agent_id = wait_registered(&agent).await;
    let mut fw = framework("F1", false, &[]);
    fw.user = "nobody".into();
    let name = format!("agent-private-tmp-{}", std::process::id());
    let cmd = format!("echo $MESOS_TASK_ID > /tmp/{name} && sleep 1 && cat /tmp/{name} && ls -A /tmp");
    for id in ["one", "two"] {
        master.run_task(&fw, task(id, &agent_id, &cmd, "cpus:0.1;mem:32"));
    }
    for id in ["one", "two"] {
        let fin = master.ack_until(id, TaskState::Finished).await.pop().expect("finished");
        assert_eq!(stdout_of(&fin, &sandbox, agent_id.as_str()), format!("{id}\n{name}\n"), "its own /tmp only");
        let kept =
            sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F1/executors/{id}/runs/latest/tmp/{name}"));
        assert_eq!(std::fs::read_to_string(kept).expect("in the sandbox"), format!("{id}\n"));
    }
    assert!(!std::path::Path::new("/tmp").join(&name).exists(), "the host's /tmp untouched");
    agent.shutdown().await.expect("shutdown");
}

/// The logrotate container logger: a chatty task's output is rotated by size (the flags, or the
/// task's `CONTAINER_LOGGER_*` variables), so it cannot fill the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatty_task_has_its_output_rotated_by_size() {
    let _beside = LATENCY_ALONE.read().await;
    let _serial = SERIAL.lock().await;
    let sandbox = Sandbox::new();
    let master = FakeMaster::start().await;
    let mut flags = sandbox.flags(&master);
    flags.logger = agent::isolation::logrotate::LoggerFlags {
        container_logger: agent::isolation::logrotate::LOGROTATE.into(),
        logrotate_max_stdout_size: 64 << 10,
        logrotate_stdout_options: "rotate 2".into(),
        ..Default::default()
    };
    let agent = start_agent(&sandbox, &master, Some(flags)).await;
    let agent_id = wait_registered(&agent).await;
    let mut fw = framework("F1", false, &[]);
    fw.user = "nobody".into();
    let mut chatty =
        task("chatty", &agent_id, "yes chatty | head -c 4000000; yes err | head -c 100000 >&2", "cpus:0.1;mem:32");
    if let Some(c) = chatty.command.as_mut() {
        c.environment = Some(mesos_api::messages::Environment {
            variables: vec![mesos_api::messages::EnvironmentVariable {
                name: "CONTAINER_LOGGER_MAX_STDERR_SIZE".into(),
                kind: None,
                value: Some("16KB".into()),
                secret: None,
            }],
        });
    }
    master.run_task(&fw, chatty);
    master.ack_until("chatty", TaskState::Finished).await;
    let run = sandbox.work_dir().join(format!("slaves/{agent_id}/frameworks/F1/executors/chatty/runs/latest"));
    let size = |name: &str| std::fs::metadata(run.join(name)).map(|m| m.len()).unwrap_or(0);
    let total: u64 = ["stdout", "stdout.1", "stdout.2", "stdout.3"].iter().map(|n| size(n)).sum();
    assert!(total <= 3 * (128 << 10), "4 MB of output kept in {total} bytes");
    assert!(size("stdout.2") > 0 && size("stdout.3") == 0, "two rotated files kept");
    assert!(size("stderr") <= 32 << 10 && size("stderr.1") == 0, "the task's own stderr size, nothing kept");
    let (code, body) =
        http_get(agent.local_addr(), "/files/read?path=/frameworks/F1/executors/chatty/runs/latest/stdout&offset=0")
            .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("chatty"), "{body}");
    agent.shutdown().await.expect("shutdown");
}

/// A task an agent of an earlier release started, whose cgroups are right under the root
/// (`<cgroups_root>/<container>`), is recovered with them: killing it removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_adopts_the_cgroups_of_the_earlier_layout() {
    let _beside = LATENCY_ALONE.read().await;
    let _serial = SERIAL.lock().await;
    let sandbox = Sandbox::new();
    if !sandbox.cgroups_available() {
        eprintln!("cgroups v1 not available: skipping");
        return;
    }
    let master = FakeMaster::start().await;
    let agent = start_agent(&sandbox, &master, None).await;
    let agent_id = wait_registered(&agent).await;
    let fw = framework("F1", true, &[]);
    master.run_task(&fw, task("old", &agent_id, "sleep 120", "cpus:0.1;mem:32"));
    let cid = container_of(master.ack_until("old", TaskState::Running).await.last().expect("running"));
    let pid = wait_for("pid", || task_pid(&sandbox, &cid)).await;
    agent.abort();
    master.drop_stream();
    // What an earlier release left: the same task in `<root>/<container>`.
    let mut legacy = Vec::new();
    for sub in ["cpu", "memory", "freezer", "pids"] {
        let own = sandbox.cgroup_dir(sub, &cid);
        if !own.is_dir() {
            continue;
        }
        let old = std::path::Path::new("/sys/fs/cgroup").join(sub).join(&sandbox.cgroups_root).join(&cid);
        std::fs::create_dir(&old).expect("legacy cgroup");
        std::fs::write(old.join("cgroup.procs"), pid.to_string()).expect("move the task");
        std::fs::remove_dir(&own).expect("remove the agent's own cgroup");
        legacy.push(old);
    }
    assert!(!legacy.is_empty());
    // Earlier releases made no cpuacct cgroup: the task goes back to that hierarchy's root.
    let own_cpuacct = sandbox.cgroup_dir("cpuacct", &cid);
    if own_cpuacct.is_dir() {
        std::fs::write("/sys/fs/cgroup/cpuacct/cgroup.procs", pid.to_string()).expect("leave cpuacct");
        std::fs::remove_dir(&own_cpuacct).expect("remove the agent's own cpuacct cgroup");
    }
    let agent = start_agent(&sandbox, &master, None).await;
    master.wait_registers(2).await;
    wait_registered(&agent).await;
    assert!(pid_alive(pid), "recovered, not killed");
    master.kill("F1", "old", None);
    master.ack_until("old", TaskState::Killed).await;
    wait_for("the legacy cgroups removed", || legacy.iter().all(|d| !d.exists()).then_some(())).await;
    agent.shutdown().await.expect("shutdown");
}
