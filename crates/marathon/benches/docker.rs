//! 100 Docker containers of one app, from the POST to all running, against dockerd's own
//! floor, in the same run on the same private dockerd (issue 15).
//!
//! ```text
//! cargo bench -p marathon --bench docker -- [N=100]      (as root: a private dockerd)
//! ```
//!
//! 1. Floor: `docker run -d <image> sleep 600` N times, one after the other, through the
//!    CLI on the daemon's socket (what an operator's script would do; the CLI's own start is
//!    part of it), each on the default bridge. Then they are removed.
//! 2. Cluster: `marathon master`, one `marathon agent --containerizers=docker,mesos` and
//!    `marathon scheduler` processes (release build); an app of N instances of the same image
//!    and command on the bridge (no ports) is POSTed to `/v2/apps`. Measured from the POST
//!    until `/v2/apps/<id>` says N tasks run (polled every 10 ms). Every container gets its
//!    sandbox, checkpointed task and updates, cpu shares and a memory limit, its output copied
//!    into the sandbox.
//!
//! Prints one JSON line with both times and their ratio; BENCHMARKS.md records results.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use xtask::dockerd::{Dockerd, IMAGE};

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100);
    let dockerd = Dockerd::shared().expect("the Docker benchmark needs dockerd, docker and busybox-static");
    let floor = docker_run_floor(dockerd, n);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let cluster_time = runtime.block_on(through_marathon(dockerd, n));
    println!(
        "{}",
        json!({
            "bench": "docker",
            "containers": n,
            "floor_docker_run_secs": round(floor.as_secs_f64()),
            "marathon_secs": round(cluster_time.as_secs_f64()),
            "ratio": round(cluster_time.as_secs_f64() / floor.as_secs_f64()),
            "marathon_containers_per_sec": round(n as f64 / cluster_time.as_secs_f64()),
        })
    );
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `docker run -d` N times in a row; the containers are removed afterwards (not timed).
fn docker_run_floor(dockerd: &Dockerd, n: usize) -> Duration {
    let label = unique("bench-floor");
    let start = Instant::now();
    for _ in 0..n {
        dockerd
            .docker(&["run", "-d", "--label", &format!("bench={label}"), IMAGE, "sleep", "600"])
            .expect("docker run");
    }
    let elapsed = start.elapsed();
    let ids = dockerd.docker(&["ps", "-aq", "--filter", &format!("label=bench={label}")]).unwrap_or_default();
    let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(ids);
    dockerd.docker(&args).expect("docker rm");
    elapsed
}

/// POST an app of N containers; the time until all N run.
async fn through_marathon(dockerd: &Dockerd, n: usize) -> Duration {
    let resources = format!("--resources=cpus:{};mem:{};disk:4096;ports:[31000-32000]", n / 10 + 4, n * 40 + 1024);
    let socket = format!("--docker_socket={}", dockerd.socket.display());
    let flags = ["--containerizers=docker,mesos", socket.as_str(), "--docker_remove_delay=0secs", resources.as_str()];
    let mut cluster = Cluster::start_with(1, &flags).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let app = json!({
        "id": "bench", "instances": n, "cpus": 0.01, "mem": 32, "cmd": "sleep 600",
        "networks": [{"mode": "container/bridge"}],
        "container": {"type": "DOCKER", "docker": {"image": IMAGE}, "portMappings": []},
    });
    let start = Instant::now();
    let (status, body) = marathon.send(reqwest::Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{body}");
    loop {
        let (_, body) = marathon.get("/v2/apps/bench").await;
        if body["app"]["tasksRunning"].as_u64() == Some(n as u64) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "not all running: {}", body["app"]["tasksRunning"]);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    let (status, _) = marathon.send(reqwest::Method::DELETE, "/v2/apps/bench", None).await;
    assert_eq!(status, 200);
    let owner = cluster.agents[0].work_dir.canonicalize().expect("work dir");
    let filter = format!("label=mesos.agent={}", owner.display());
    eventually(Duration::from_secs(120), "the containers to be removed", || async {
        dockerd.docker(&["ps", "-aq", "--filter", &filter]).ok().filter(|ids| ids.trim().is_empty()).map(|_| ())
    })
    .await;
    cluster.teardown();
    elapsed
}
