//! Benchmark floor for bulk launches.
//!
//! ```text
//! sudo cargo run --release -p containerizer --example spawn_floor -- [N=1000] [SANDBOX_BASE]
//! ```
//!
//! Sandboxes (stdout, stderr and status files: three file creations per task, which
//! the floor does not do) go in a temp dir under `SANDBOX_BASE` (default: the system
//! temp dir; e.g. `/dev/shm` to take the disk out of the comparison).
//!
//! 1. "raw spawn + cgroup floor": for each of N tasks, mkdir a cpu and a memory cgroup,
//!    set cpu.shares and memory.limit_in_bytes, spawn `sleep 600` with
//!    `std::process::Command`, and write its pid into both `cgroup.procs`.
//! 2. the same N through this crate: `Cgroups::create` (cpu, memory, freezer
//!    and limits) + `launch()` (monitor + task joined to the cgroups before exec),
//!    one after the other like the floor;
//! 3. the same again with `launch_async()` and up to 16 launches in flight, cgroups
//!    still created one by one (the agent itself keeps launches in flight on two
//!    blocking lanes with `launch_start`).
//!
//! Both sets are killed and cleaned up after being measured (teardown is timed too,
//! but not part of the ratio). Prints one line of JSON.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use containerizer::{Cgroups, LaunchSpec, Limits, Monitored, TaskCommand, TaskExit};

const HIERARCHY: &str = "/sys/fs/cgroup";

fn main() -> Result<(), Box<dyn Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 1000,
    };
    let base = std::env::args().nth(2).map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    if !nix::unistd::geteuid().is_root() {
        return Err("spawn_floor needs root (cgroups)".into());
    }
    let pid = std::process::id();
    let (raw, raw_teardown) = raw_floor(n, &format!("containerizer-floor-raw-{pid}"))?;
    let (ours, create, ours_teardown) = via_launch(n, &format!("containerizer-floor-cz-{pid}"), 0, &base)?;
    let (pipelined, _, _) = via_launch(n, &format!("containerizer-floor-cza-{pid}"), 16, &base)?;
    println!(
        "{{\"n\":{n},\"sandbox_base\":{:?},\"raw_spawn_cgroup_secs\":{:.4},\"launch_secs\":{:.4},\"ratio\":{:.3},\
         \"launch_async16_secs\":{:.4},\"ratio_async16\":{:.3},\
         \"raw_us_per_task\":{:.1},\"launch_us_per_task\":{:.1},\
         \"launch_cgroup_create_secs\":{:.4},\"raw_teardown_secs\":{:.4},\"launch_teardown_secs\":{:.4}}}",
        base.display().to_string(),
        raw.as_secs_f64(),
        ours.as_secs_f64(),
        ours.as_secs_f64() / raw.as_secs_f64(),
        pipelined.as_secs_f64(),
        pipelined.as_secs_f64() / raw.as_secs_f64(),
        raw.as_secs_f64() * 1e6 / n as f64,
        ours.as_secs_f64() * 1e6 / n as f64,
        create.as_secs_f64(),
        raw_teardown.as_secs_f64(),
        ours_teardown.as_secs_f64(),
    );
    Ok(())
}

fn raw_floor(n: usize, root: &str) -> Result<(Duration, Duration), Box<dyn Error>> {
    let cpu_root = Path::new(HIERARCHY).join("cpu").join(root);
    let mem_root = Path::new(HIERARCHY).join("memory").join(root);
    std::fs::create_dir_all(&cpu_root)?;
    std::fs::create_dir_all(&mem_root)?;
    let mut children = Vec::with_capacity(n);
    let mut dirs: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(n);

    let start = Instant::now();
    let result = (|| -> Result<(), Box<dyn Error>> {
        for i in 0..n {
            let cpu = cpu_root.join(i.to_string());
            let mem = mem_root.join(i.to_string());
            std::fs::create_dir(&cpu)?;
            std::fs::create_dir(&mem)?;
            dirs.push((cpu.clone(), mem.clone()));
            std::fs::write(cpu.join("cpu.shares"), "1024")?;
            std::fs::write(mem.join("memory.limit_in_bytes"), "67108864")?;
            let child = Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let pid = child.id().to_string();
            children.push(child);
            std::fs::write(cpu.join("cgroup.procs"), &pid)?;
            std::fs::write(mem.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    })();
    let elapsed = start.elapsed();

    let teardown = Instant::now();
    for child in &mut children {
        let _ = child.kill();
    }
    for child in &mut children {
        let _ = child.wait();
    }
    for (cpu, mem) in &dirs {
        let _ = std::fs::remove_dir(cpu);
        let _ = std::fs::remove_dir(mem);
    }
    let teardown = teardown.elapsed();
    let _ = std::fs::remove_dir(&cpu_root);
    let _ = std::fs::remove_dir(&mem_root);
    result?;
    Ok((elapsed, teardown))
}

/// `in_flight == 0`: blocking `launch()` one by one; otherwise `launch_async()` with
/// up to `in_flight` launches pending.
fn via_launch(
    n: usize,
    root: &str,
    in_flight: usize,
    base: &Path,
) -> Result<(Duration, Duration, Duration), Box<dyn Error>> {
    let cgroups = Cgroups::detect(Path::new(HIERARCHY), root).ok_or("cgroups v1 unavailable")?;
    let tmp = tempfile::tempdir_in(base)?;
    let sandboxes: Vec<PathBuf> = (0..n)
        .map(|i| {
            let dir = tmp.path().join(i.to_string());
            std::fs::create_dir(&dir).map(|_| dir)
        })
        .collect::<Result<_, _>>()?;
    // Warm-up outside the measurement: materialise the embedded monitor once.
    warm_up(tmp.path())?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut tasks = Vec::with_capacity(n);
    let mut create = Duration::ZERO;
    let start = Instant::now();
    let result = runtime.block_on(async {
        let mut pending = tokio::task::JoinSet::new();
        for (i, sandbox) in sandboxes.iter().enumerate() {
            let c0 = Instant::now();
            let cg = cgroups.create(&format!("c{i}"), Limits { cpus: 1.0, mem_mb: 64.0 })?;
            create += c0.elapsed();
            let spec = LaunchSpec {
                command: TaskCommand::Exec { value: "sleep".into(), arguments: vec!["sleep".into(), "600".into()] },
                env: vec![("PATH".into(), "/usr/bin:/bin".into())],
                working_dir: sandbox.clone(),
                stdout: sandbox.join("stdout"),
                stderr: sandbox.join("stderr"),
                status_file: sandbox.join("status"),
                cgroups: Some(cg.clone()),
                user: None,
                private_tmp: None,
                log_rotation: None,
            };
            if in_flight == 0 {
                let launched = containerizer::launch(&spec);
                tasks.push((cg, launched.map(|l| (l, spec.status_file))));
                continue;
            }
            while pending.len() >= in_flight {
                if let Some(done) = pending.join_next().await {
                    tasks.push(done?);
                }
            }
            pending.spawn(async move {
                let launched = containerizer::launch_async(&spec).await;
                (cg, launched.map(|l| (l, spec.status_file)))
            });
        }
        while let Some(done) = pending.join_next().await {
            tasks.push(done?);
        }
        Ok::<(), Box<dyn Error>>(())
    });
    let elapsed = start.elapsed();

    let teardown = Instant::now();
    let mut monitors = Vec::new();
    let mut first_err: Option<Box<dyn Error>> = None;
    for (cg, launched) in tasks {
        if let Err(e) = cg.destroy() {
            first_err.get_or_insert(e.into());
        }
        match launched {
            Ok((l, status)) => monitors.push(Monitored::new(&l, status)?),
            Err(e) => {
                first_err.get_or_insert(e.into());
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for m in &monitors {
        loop {
            match m.try_exit() {
                Some(TaskExit::Signaled(9)) => break,
                Some(other) => {
                    first_err.get_or_insert(format!("unexpected exit {other:?}").into());
                    break;
                }
                None if Instant::now() > deadline => {
                    first_err.get_or_insert("monitor did not exit".into());
                    break;
                }
                None => std::thread::sleep(Duration::from_micros(200)),
            }
        }
    }
    let teardown = teardown.elapsed();
    for sub in cgroups.subsystems() {
        let _ = std::fs::remove_dir(Path::new(HIERARCHY).join(sub).join(root));
    }
    result?;
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok((elapsed, create, teardown))
}

fn warm_up(dir: &Path) -> Result<(), Box<dyn Error>> {
    let spec = LaunchSpec {
        command: TaskCommand::Shell("exit 0".into()),
        env: vec![],
        working_dir: dir.to_path_buf(),
        stdout: dir.join("warm.out"),
        stderr: dir.join("warm.err"),
        status_file: dir.join("warm.status"),
        cgroups: None,
        user: None,
        private_tmp: None,
        log_rotation: None,
    };
    let launched = containerizer::launch(&spec)?;
    let m = Monitored::new(&launched, &spec.status_file)?;
    while m.try_exit().is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
