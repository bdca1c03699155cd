//! The agent's total resources: `--resources` plus auto-detection of the kinds it leaves out,
//! following Mesos' `Containerizer::resources`.

use crate::flags::FlagError;
use mesos_api::messages::Resource;
use mesos_api::resources::ResourceSet;
use std::path::Path;

const MB: u64 = 1024 * 1024;
const GB: u64 = 1024 * MB;

/// What the machine has, as far as resource detection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    pub cpus: u64,
    pub mem_bytes: u64,
    pub disk_bytes: u64,
}

impl HostFacts {
    /// Reads the facts of this machine; `work_dir` is where the disk is measured.
    pub fn probe(work_dir: &Path) -> HostFacts {
        HostFacts { cpus: online_cpus(), mem_bytes: total_memory(), disk_bytes: disk_size(work_dir) }
    }
}

fn online_cpus() -> u64 {
    // Same meaning as sysconf(_SC_NPROCESSORS_ONLN): the kernel's list of online CPUs.
    if let Ok(text) = std::fs::read_to_string("/sys/devices/system/cpu/online")
        && let Some(n) = count_cpu_list(text.trim())
        && n > 0
    {
        return n;
    }
    std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1)
}

/// Counts a kernel CPU list such as `0-3,6,8-9`.
fn count_cpu_list(list: &str) -> Option<u64> {
    let mut n = 0;
    for part in list.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        n += b.checked_sub(a)? + 1;
    }
    Some(n)
}

fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let rest = l.strip_prefix("MemTotal:")?;
                let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                Some(kb * 1024)
            })
        })
        .unwrap_or(2 * GB)
}

fn disk_size(path: &Path) -> u64 {
    match nix::sys::statvfs::statvfs(path) {
        Ok(st) => st.blocks() * st.fragment_size(),
        Err(_) => 20 * GB,
    }
}

/// The agent's resources: those named in `--resources` and, for `cpus`, `mem`, `disk` and
/// `ports` when missing, Mesos' defaults (with `default_role`).
pub fn total_resources(flag: Option<&str>, default_role: &str, host: &HostFacts) -> Result<ResourceSet, FlagError> {
    let mut set = match flag.map(str::trim).filter(|t| !t.is_empty()) {
        None => ResourceSet::new(),
        Some(text) => parse_resources_flag(text, default_role)?,
    };
    if !set.has("cpus") {
        set.add_scalar(default_role, "cpus", host.cpus.max(1) as f64);
    }
    if !set.has("mem") {
        let mem = if host.mem_bytes >= 2 * GB { host.mem_bytes - GB } else { host.mem_bytes / 2 };
        set.add_scalar(default_role, "mem", (mem / MB) as f64);
    }
    if !set.has("disk") {
        let disk = if host.disk_bytes >= 10 * GB { host.disk_bytes - 5 * GB } else { host.disk_bytes / 2 };
        set.add_scalar(default_role, "disk", (disk / MB) as f64);
    }
    if !set.has("ports") {
        set.add_ranges(default_role, "ports", &[(31000, 32000)]);
    }
    Ok(set)
}

fn parse_resources_flag(text: &str, default_role: &str) -> Result<ResourceSet, FlagError> {
    let err = |why: String| FlagError::Resources { text: text.to_string(), why };
    let content = match text.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| err(format!("cannot read {path}: {e}")))?,
        None => text.to_string(),
    };
    let content = content.trim();
    if content.starts_with('[') {
        let wire: Vec<Resource> = serde_json::from_str(content).map_err(|e| err(e.to_string()))?;
        let wire: Vec<Resource> = wire
            .into_iter()
            .map(|mut r| {
                if r.role.is_none() && r.reservations.is_empty() {
                    r.role = Some(default_role.to_string());
                }
                r
            })
            .collect();
        return ResourceSet::from_wire(&wire).map_err(|e| err(e.to_string()));
    }
    ResourceSet::parse_text(&with_default_role(content, default_role)).map_err(|e| err(e.to_string()))
}

/// Gives every `name:value` pair without an explicit `(role)` the default role.
fn with_default_role(text: &str, role: &str) -> String {
    if role == "*" {
        return text.to_string();
    }
    text.split([';', '\n'])
        .map(|part| match part.split_once(':') {
            Some((name, value)) if !name.contains('(') => format!("{}({role}):{value}", name.trim()),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: HostFacts = HostFacts { cpus: 8, mem_bytes: 16 * GB, disk_bytes: 100 * GB };

    #[test]
    fn detects_missing_kinds_like_mesos() {
        let r = total_resources(None, "*", &HOST).expect("resources");
        assert_eq!(r.scalar("cpus"), 8.0);
        assert_eq!(r.scalar("mem"), 15.0 * 1024.0);
        assert_eq!(r.scalar("disk"), 95.0 * 1024.0);
        assert_eq!(r.ranges_of("ports"), vec![(31000, 32000)]);

        let small = HostFacts { cpus: 1, mem_bytes: GB, disk_bytes: 4 * GB };
        let r = total_resources(None, "*", &small).expect("resources");
        assert_eq!(r.scalar("mem"), 512.0);
        assert_eq!(r.scalar("disk"), 2048.0);
    }

    #[test]
    fn explicit_resources_override_per_kind() {
        let r = total_resources(Some("cpus:2;ports:[5000-5010]"), "*", &HOST).expect("resources");
        assert_eq!(r.scalar("cpus"), 2.0);
        assert_eq!(r.scalar("mem"), 15.0 * 1024.0);
        assert_eq!(r.ranges_of("ports"), vec![(5000, 5010)]);
        assert!(total_resources(Some("cpus:x"), "*", &HOST).is_err());
    }

    #[test]
    fn default_role_applies_to_detected_and_unqualified() {
        let r = total_resources(Some("cpus:2;mem(other):100"), "web", &HOST).expect("resources");
        assert_eq!(r.allocatable_to("web").scalar("cpus"), 2.0);
        assert_eq!(r.allocatable_to("nobody").scalar("cpus"), 0.0);
        assert_eq!(r.allocatable_to("other").scalar("mem"), 100.0);
        assert_eq!(r.allocatable_to("web").scalar("disk"), 95.0 * 1024.0);
    }

    #[test]
    fn json_resources() {
        let r = total_resources(
            Some(r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":3}},{"name":"mem","type":"SCALAR","scalar":{"value":64}}]"#),
            "*",
            &HOST,
        )
        .expect("resources");
        assert_eq!(r.scalar("cpus"), 3.0);
        assert_eq!(r.scalar("mem"), 64.0);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("x"), None);
    }
}
