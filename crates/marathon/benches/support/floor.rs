//! The launch floor the bulk-launch and scale-up benchmarks share.

use crate::common::unique;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The launch benchmark's floor: N x (two new cgroups, spawn `sleep 600`, join the cgroups).
pub(crate) fn raw_floor(n: usize) -> Duration {
    let root = unique("bench-floor");
    let cpu_root = Path::new("/sys/fs/cgroup/cpu").join(&root);
    let mem_root = Path::new("/sys/fs/cgroup/memory").join(&root);
    std::fs::create_dir_all(&cpu_root).expect("cpu root");
    std::fs::create_dir_all(&mem_root).expect("memory root");
    let mut children = Vec::with_capacity(n);
    let mut dirs: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let cpu = cpu_root.join(i.to_string());
        let mem = mem_root.join(i.to_string());
        std::fs::create_dir(&cpu).expect("mkdir cpu");
        std::fs::create_dir(&mem).expect("mkdir memory");
        std::fs::write(cpu.join("cpu.shares"), "10").expect("cpu.shares");
        std::fs::write(mem.join("memory.limit_in_bytes"), "33554432").expect("memory limit");
        let child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let pid = child.id().to_string();
        std::fs::write(cpu.join("cgroup.procs"), &pid).expect("join cpu");
        std::fs::write(mem.join("cgroup.procs"), &pid).expect("join memory");
        children.push(child);
        dirs.push((cpu, mem));
    }
    let elapsed = start.elapsed();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    for (cpu, mem) in dirs {
        let _ = std::fs::remove_dir(cpu);
        let _ = std::fs::remove_dir(mem);
    }
    let _ = std::fs::remove_dir(cpu_root);
    let _ = std::fs::remove_dir(mem_root);
    elapsed
}
