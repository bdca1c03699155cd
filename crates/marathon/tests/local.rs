//! `marathon local`: the whole system in one process, usable by a third-party framework.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_runs_a_master_and_an_agent_that_frameworks_can_use() {
    let cgroups = CgroupRoot::new("local-test");
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_port, agent_port, http_port) = (free_port(), free_port(), free_port());
    let log = std::fs::File::create(dir.path().join("local.log")).expect("log");
    let child = Command::new(BIN)
        .args(["local", "--work_dir"])
        .arg(dir.path().join("state"))
        .args(["--master_port", &master_port.to_string(), "--agent_port", &agent_port.to_string()])
        .args(["--http_port", &http_port.to_string(), "--cgroups_root", &cgroups.0])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn marathon local");
    let guard = Proc { child, log: dir.path().join("local.log") };
    let http = reqwest::Client::new();
    let slaves_url = format!("http://127.0.0.1:{master_port}/master/slaves");
    eventually(Duration::from_secs(20), "the local agent to register", || async {
        let v: serde_json::Value = http.get(&slaves_url).send().await.ok()?.json().await.ok()?;
        (v["slaves"].as_array()?.iter().filter(|s| s["active"] == true).count() == 1).then_some(())
    })
    .await;
    let script = workspace_root().join("tests/compat/pymesos_scheduler.py");
    let master = format!("127.0.0.1:{master_port}");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python()).arg(script).args(["--master", &master, "--timeout", "30"]).output()
    })
    .await
    .expect("join")
    .expect("run pymesos program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = guard.log_text();
    assert!(out.status.success(), "pymesos program failed: {stdout}\n{}\n{log}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("hello"), "{stdout}\n{log}");
}

fn start_local(dir: &std::path::Path, ports: [u16; 3], cgroups_root: &str, log: &str) -> Proc {
    start_local_with(dir, ports, cgroups_root, log, &[])
}

fn start_local_with(dir: &std::path::Path, ports: [u16; 3], cgroups_root: &str, log: &str, extra: &[&str]) -> Proc {
    let [http_port, master_port, agent_port] = ports;
    let log = dir.join(log);
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(BIN)
        .args(["local", "--work_dir"])
        .arg(dir.join("state"))
        .args(["--http_port", &http_port.to_string(), "--master_port", &master_port.to_string()])
        .args(["--agent_port", &agent_port.to_string(), "--cgroups_root", cgroups_root])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("spawn marathon local");
    Proc { child, log }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_serves_the_marathon_api_and_resumes_apps_and_tasks_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = [free_port(), free_port(), free_port()];
    let cgroups = CgroupRoot::new("local-test");
    let cgroups_root = cgroups.0.clone();
    let mut local = start_local(dir.path(), ports, &cgroups_root, "local.log");
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{}", ports[0]);
    eventually(Duration::from_secs(20), "the Marathon API", || async {
        http.get(format!("{api}/ping")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    // The banner is printed once the API listens, which may be just after it first answered.
    let banner = format!("Marathon API and UI on http://127.0.0.1:{}", ports[0]);
    eventually(Duration::from_secs(5), "the banner with the API's address", || async {
        local.log_text().contains(&banner).then_some(())
    })
    .await;
    let app = serde_json::json!({"id": "keep", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "portDefinitions": []});
    let response = http.post(format!("{api}/v2/apps")).json(&app).send().await.expect("POST");
    assert_eq!(response.status().as_u16(), 201);
    let running_task = || async {
        let app: serde_json::Value = http.get(format!("{api}/v2/apps/keep")).send().await.ok()?.json().await.ok()?;
        let task = app["app"]["tasks"].as_array()?.first()?.clone();
        (task["state"] == "TASK_RUNNING").then(|| task["id"].as_str().map(str::to_string)).flatten()
    };
    let before = eventually(Duration::from_secs(30), "the task to run", running_task).await;

    local.kill();
    let _local = start_local(dir.path(), ports, &cgroups_root, "local-restart.log");
    let after = eventually(Duration::from_secs(30), "the app and its task back", running_task).await;
    assert_eq!(before, after, "the task was restarted");
    let response = http.delete(format!("{api}/v2/apps/keep")).send().await.expect("DELETE");
    assert_eq!(response.status().as_u16(), 200);
    eventually(Duration::from_secs(30), "the task to be gone", || async {
        let tasks: serde_json::Value = http.get(format!("{api}/v2/tasks")).send().await.ok()?.json().await.ok()?;
        tasks["tasks"].as_array()?.is_empty().then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the task's process to be gone", || async {
        cgroup_root_pids(&cgroups_root).is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_passes_the_sandbox_gc_and_isolation_flags_to_its_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = [free_port(), free_port(), free_port()];
    let cgroups = CgroupRoot::new("local-gc");
    let flags = [
        "--gc_delay",
        "3hrs",
        "--gc_disk_headroom",
        "0.2",
        "--disk_watch_interval",
        "30secs",
        "--cgroups_pids_max",
        "77",
        "--cgroups_enable_cfs",
        "--isolation",
        "cgroups/cpu,cgroups/mem,cgroups/pids,disk/du",
    ];
    let _local = start_local_with(dir.path(), ports, &cgroups.0, "local.log", &flags);
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/flags", ports[2]);
    let flags = eventually(Duration::from_secs(20), "the agent's flags", || async {
        let v: serde_json::Value = http.get(&url).send().await.ok()?.json().await.ok()?;
        Some(v["flags"].clone())
    })
    .await;
    assert_eq!(flags["gc_delay"], "3hrs");
    assert_eq!(flags["gc_disk_headroom"], "0.2");
    assert_eq!(flags["disk_watch_interval"], "30secs");
    assert_eq!(flags["cgroups_pids_max"], "77");
    assert_eq!(flags["cgroups_enable_cfs"], "true");
    assert_eq!(flags["isolation"], "cgroups/cpu,cgroups/mem,cgroups/pids,disk/du");
}

/// A task in the agent's checkpoint log (`meta/checkpoint.log`), not removed yet.
struct Checkpointed {
    task_id: String,
    container_id: String,
    /// It was sent TASK_STARTING.
    starting: bool,
    /// Its process was started (the launch is recorded).
    launched: bool,
}

fn checkpointed_tasks(log: &str) -> Vec<Checkpointed> {
    let mut tasks: Vec<Checkpointed> = Vec::new();
    for entry in log.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        let run = &entry["task"]["run"];
        if let (Some(task_id), Some(container_id)) = (run["task_id"]["value"].as_str(), run["container_id"].as_str()) {
            let (task_id, container_id) = (task_id.to_string(), container_id.to_string());
            tasks.push(Checkpointed { task_id, container_id, starting: false, launched: false });
        }
        if let Some(cid) = entry["record"]["run"]["container_id"].as_str()
            && entry["record"]["record"]["update"]["state"] == "TASK_STARTING"
            && let Some(t) = tasks.iter_mut().find(|t| t.container_id == cid)
        {
            t.starting = true;
        }
        if let Some(cid) = entry["launched"]["container_id"].as_str()
            && let Some(t) = tasks.iter_mut().find(|t| t.container_id == cid)
        {
            t.launched = true;
        }
        if let Some(cid) = entry["remove_run"]["run"]["container_id"].as_str() {
            tasks.retain(|t| t.container_id != cid);
        }
    }
    tasks
}

/// `marathon local` SIGKILLed in the middle of a launch burst, when some tasks' processes were
/// started and others were sent TASK_STARTING but not started yet: after the restart, the
/// started ones keep running, the others are reported TASK_DROPPED (not TASK_FAILED), Marathon
/// replaces them at once without a launch delay, and the app runs all its instances again
/// within a few seconds.
///
/// The moment of the kill is chosen by reading the agent's checkpoint log until it shows both
/// kinds of tasks; the log is read again after the kill to know what the restart finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_heals_a_kill_during_a_launch_burst_at_once() {
    const INSTANCES: usize = 60;
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = [free_port(), free_port(), free_port()];
    let cgroups = CgroupRoot::new("local-burst");
    let resources = ["--resources", "cpus:64;mem:65536;disk:10000;ports:[31000-32000]"];
    let mut local = start_local_with(dir.path(), ports, &cgroups.0, "local.log", &resources);
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{}", ports[0]);
    let agent_url = format!("http://127.0.0.1:{}", ports[2]);
    eventually(Duration::from_secs(20), "the Marathon API", || async {
        http.get(format!("{api}/ping")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    let checkpoint_log = dir.path().join("state/agent0/meta/checkpoint.log");
    let app = serde_json::json!({
        "id": "burst", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": INSTANCES,
        "portDefinitions": [], "backoffSeconds": 1, "backoffFactor": 1.15,
    });
    let response = http.post(format!("{api}/v2/apps")).json(&app).send().await.expect("POST");
    assert_eq!(response.status().as_u16(), 201);
    let pending = |tasks: &[Checkpointed]| tasks.iter().filter(|t| t.starting && !t.launched).count();
    eventually(Duration::from_secs(30), "some tasks started, others sent TASK_STARTING only", || async {
        let tasks = checkpointed_tasks(&std::fs::read_to_string(&checkpoint_log).unwrap_or_default());
        (tasks.iter().filter(|t| t.launched).count() >= 3 && pending(&tasks) >= 3).then_some(())
    })
    .await;
    local.kill();
    let tasks = checkpointed_tasks(&std::fs::read_to_string(&checkpoint_log).expect("checkpoint log"));
    let interrupted = pending(&tasks);
    let started: Vec<String> = tasks.iter().filter(|t| t.launched).map(|t| t.task_id.clone()).collect();
    assert!(interrupted > 0, "the kill came after every launch");
    eprintln!("killed with {} tasks started and {interrupted} sent TASK_STARTING only", started.len());

    let restarted = std::time::Instant::now();
    let local = start_local_with(dir.path(), ports, &cgroups.0, "local-restart.log", &resources);
    let max_delay_seen = std::cell::Cell::new(0.0f64);
    let (converged, app) = eventually(Duration::from_secs(30), "the app to run every instance again", || async {
        if let Ok(r) = http.get(format!("{api}/v2/queue")).send().await
            && let Ok(queue) = r.json::<serde_json::Value>().await
        {
            for item in queue["queue"].as_array().into_iter().flatten().filter(|q| q["app"]["id"] == "/burst") {
                if item["delay"]["overdue"] == false {
                    let left = item["delay"]["timeLeftSeconds"].as_f64().unwrap_or(0.0).max(0.001);
                    max_delay_seen.set(max_delay_seen.get().max(left));
                }
            }
        }
        let app: serde_json::Value = http.get(format!("{api}/v2/apps/burst")).send().await.ok()?.json().await.ok()?;
        let tasks = app["app"]["tasks"].as_array()?;
        let all_running = tasks.len() == INSTANCES && tasks.iter().all(|t| t["state"] == "TASK_RUNNING");
        all_running.then(|| (restarted.elapsed(), app))
    })
    .await;
    eprintln!("every instance runs again {converged:?} after the restart");
    let metrics: serde_json::Value =
        http.get(format!("{agent_url}/metrics/snapshot")).send().await.expect("metrics").json().await.expect("json");
    let log = local.log_text();
    assert_eq!(metrics["slave/tasks_failed"], 0.0, "a task that never started is no failure: {metrics}");
    assert!(
        metrics["slave/tasks_dropped"].as_f64().unwrap_or(0.0) >= interrupted as f64,
        "{interrupted} tasks were not started: {metrics}"
    );
    let running: Vec<&str> =
        app["app"]["tasks"].as_array().into_iter().flatten().filter_map(|t| t["id"].as_str()).collect();
    for task_id in &started {
        assert!(running.contains(&task_id.as_str()), "{task_id} was started before the kill and must keep running");
    }
    assert_eq!(max_delay_seen.get(), 0.0, "the app was backed off after the restart");
    assert!(converged <= Duration::from_secs(5), "{INSTANCES} instances took {converged:?} after the restart\n{log}");
}

/// Two `marathon local` on one machine with the same `--cgroups_root` (as with the default
/// `mesos`): each agent keeps its containers in a cgroup of its own (named after its work dir),
/// so a SIGKILLed and restarted one recovers its own task and leaves the other's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_locals_on_one_machine_run_side_by_side() {
    let cgroups = CgroupRoot::new("local-pair");
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let ports_a = [free_port(), free_port(), free_port()];
    let ports_b = [free_port(), free_port(), free_port()];
    let mut local_a = start_local(dir_a.path(), ports_a, &cgroups.0, "local.log");
    let _local_b = start_local(dir_b.path(), ports_b, &cgroups.0, "local.log");
    let http = reqwest::Client::new();
    let app = serde_json::json!({"id": "keep", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "portDefinitions": []});
    for ports in [ports_a, ports_b] {
        let api = format!("http://127.0.0.1:{}", ports[0]);
        eventually(Duration::from_secs(20), "the Marathon API", || async {
            http.get(format!("{api}/ping")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
        })
        .await;
        let response = http.post(format!("{api}/v2/apps")).json(&app).send().await.expect("POST");
        assert_eq!(response.status().as_u16(), 201);
    }
    let running_task = |ports: [u16; 3]| {
        let http = http.clone();
        async move {
            let url = format!("http://127.0.0.1:{}/v2/apps/keep", ports[0]);
            let app: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
            let task = app["app"]["tasks"].as_array()?.first()?.clone();
            (task["state"] == "TASK_RUNNING").then(|| task["id"].as_str().map(str::to_string)).flatten()
        }
    };
    // The task process of each (in the shared root's cgroups, working in its own dir).
    let task_pid = |dir: &std::path::Path| {
        cgroup_root_pids(&cgroups.0).into_iter().find(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| cwd.starts_with(dir.canonicalize().unwrap_or_default()))
        })
    };
    let task_a = eventually(Duration::from_secs(30), "A's task to run", || running_task(ports_a)).await;
    let task_b = eventually(Duration::from_secs(30), "B's task to run", || running_task(ports_b)).await;
    let pid_a = eventually(Duration::from_secs(5), "A's task process", || async { task_pid(dir_a.path()) }).await;
    let pid_b = eventually(Duration::from_secs(5), "B's task process", || async { task_pid(dir_b.path()) }).await;

    local_a.kill();
    let _local_a = start_local(dir_a.path(), ports_a, &cgroups.0, "local-restart.log");
    let after = eventually(Duration::from_secs(30), "A's task back", || running_task(ports_a)).await;
    assert_eq!(after, task_a, "A's task was restarted");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alive = |pid: i32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(alive(pid_a), "A lost its own task");
    assert!(alive(pid_b), "A's restart killed B's task");
    assert_eq!(running_task(ports_b).await, Some(task_b), "B's task was replaced");
}
