//! The agent's isolation flags, with Mesos' names: `--isolation` (the isolators), the
//! cgroups isolators' `--cgroups_enable_cfs` and `--cgroups_pids_max` (ours: upstream's
//! `cgroups/pids` only counts), and `disk/du`'s `--enforce_container_disk_quota` and
//! `--container_disk_watcher_interval`, and `--switch_user` (tasks run as their user).

use crate::flags::{FlagError, format_duration, parse_duration};
use std::time::Duration;

/// `--isolation`: which isolators are on. Unknown names are refused (never ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolators {
    text: String,
    /// `cgroups/cpu`: cpu shares (and CFS quota with `--cgroups_enable_cfs`).
    pub cgroups_cpu: bool,
    /// `cgroups/mem`: memory limit, OOM kills reported as REASON_CONTAINER_LIMITATION_MEMORY.
    pub cgroups_mem: bool,
    /// `cgroups/pids`: a pids cgroup per container, `pids.max` = `--cgroups_pids_max`.
    pub cgroups_pids: bool,
    /// `disk/du` (alias `posix/disk`): the sandbox's size measured every
    /// `--container_disk_watcher_interval`, over its `disk` failing the task with
    /// `--enforce_container_disk_quota`.
    pub disk_du: bool,
    /// `filesystem/linux`: each task runs in a mount namespace of its own, with its sandbox's
    /// `tmp` as its private `/tmp` (upstream gets that from a `tmp` sandbox volume on `/tmp`).
    pub filesystem_linux: bool,
}

impl Isolators {
    /// The isolators this agent knows (`posix/cpu` and `posix/mem` isolate nothing: upstream's
    /// only report usage).
    pub const KNOWN: [&'static str; 9] = [
        "posix/cpu",
        "posix/mem",
        "cgroups/cpu",
        "cgroups/mem",
        "cgroups/pids",
        "disk/du",
        "posix/disk",
        "filesystem/posix",
        "filesystem/linux",
    ];

    /// Whether any cgroups isolator is on.
    pub fn cgroups(&self) -> bool {
        self.cgroups_cpu || self.cgroups_mem || self.cgroups_pids
    }
}

impl std::fmt::Display for Isolators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses `--isolation` (comma-separated isolator names) for clap.
pub fn parse_isolation(text: &str) -> Result<Isolators, FlagError> {
    let mut out = Isolators {
        text: text.to_string(),
        cgroups_cpu: false,
        cgroups_mem: false,
        cgroups_pids: false,
        disk_du: false,
        filesystem_linux: false,
    };
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "posix/cpu" | "posix/mem" | "filesystem/posix" => {}
            "filesystem/linux" => out.filesystem_linux = true,
            "cgroups/cpu" => out.cgroups_cpu = true,
            "cgroups/mem" => out.cgroups_mem = true,
            "cgroups/pids" => out.cgroups_pids = true,
            "disk/du" | "posix/disk" => out.disk_du = true,
            other => {
                return Err(FlagError::Isolation { name: other.to_string(), known: Isolators::KNOWN.join(", ") });
            }
        }
    }
    Ok(out)
}

/// Parses a Mesos boolean flag value (`true`/`false`, also `1`/`0`).
pub fn parse_bool(text: &str) -> Result<bool, FlagError> {
    match text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(FlagError::Bool(other.to_string())),
    }
}

/// The default `--isolation`.
pub const DEFAULT_ISOLATION: &str = "cgroups/cpu,cgroups/mem,cgroups/pids";
/// The default `--cgroups_pids_max`: enough for thread-heavy services (a JVM runs a few
/// hundred threads), far below a host's `pid_max` (32768 by default).
pub const DEFAULT_PIDS_MAX: u64 = 1024;

/// Isolation flags of `marathon agent` (and `marathon local`, which passes them on).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct IsolationFlags {
    /// Isolators: `cgroups/cpu`, `cgroups/mem`, `cgroups/pids` (limits), `disk/du` (sandbox
    /// quota), `filesystem/linux` (a private `/tmp` per task); `posix/cpu,posix/mem` and
    /// `filesystem/posix` isolate nothing.
    #[arg(long = "isolation", default_value = DEFAULT_ISOLATION, value_parser = parse_isolation)]
    pub isolation: Isolators,

    /// Hard CPU limits (CFS bandwidth control): a task with `cpus: 0.5` runs at most 50 ms of
    /// every 100 ms, however idle the host is (default: shares only, as upstream).
    #[arg(long = "cgroups_enable_cfs", alias = "cgroups-enable-cfs", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub cgroups_enable_cfs: bool,

    /// With `cgroups/pids`: processes and threads a task may have at once (`pids.max`; 0: no
    /// limit). A task that reaches it fails (TASK_FAILED, REASON_CONTAINER_LIMITATION).
    #[arg(long = "cgroups_pids_max", alias = "cgroups-pids-max", default_value_t = DEFAULT_PIDS_MAX)]
    pub cgroups_pids_max: u64,

    /// With `disk/du`: a task whose sandbox grows over its `disk` resource fails
    /// (TASK_FAILED, REASON_CONTAINER_LIMITATION_DISK); without, the size is only measured.
    #[arg(long = "enforce_container_disk_quota", alias = "enforce-container-disk-quota", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub enforce_container_disk_quota: bool,

    /// With `disk/du`: how often each sandbox's size is measured.
    #[arg(long = "container_disk_watcher_interval", alias = "container-disk-watcher-interval", alias = "container_disk_watch_interval", default_value = "15secs", value_parser = parse_duration)]
    pub container_disk_watcher_interval: Duration,

    /// Run each task as its user (the command's `user`, else its framework's: Marathon's
    /// `user` of the app, else its `--mesos_user`), with its sandbox owned by that user and
    /// its URIs fetched with that user's rights. A user that does not exist fails the task.
    /// `false`: tasks run as the agent's user.
    #[arg(long = "switch_user", alias = "switch-user", default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub switch_user: bool,
}

impl Default for IsolationFlags {
    fn default() -> Self {
        IsolationFlags {
            isolation: parse_isolation(DEFAULT_ISOLATION).unwrap_or_else(|_| unreachable!("valid default")),
            cgroups_enable_cfs: false,
            cgroups_pids_max: DEFAULT_PIDS_MAX,
            enforce_container_disk_quota: false,
            container_disk_watcher_interval: Duration::from_secs(15),
            switch_user: true,
        }
    }
}

impl IsolationFlags {
    /// The flags as `/flags` shows them.
    pub fn to_map(&self) -> Vec<(&'static str, String)> {
        vec![
            ("isolation", self.isolation.to_string()),
            ("cgroups_enable_cfs", self.cgroups_enable_cfs.to_string()),
            ("cgroups_pids_max", self.cgroups_pids_max.to_string()),
            ("enforce_container_disk_quota", self.enforce_container_disk_quota.to_string()),
            ("container_disk_watcher_interval", format_duration(self.container_disk_watcher_interval)),
            ("switch_user", self.switch_user.to_string()),
        ]
    }

    /// The containerizer's settings for the cgroups isolators.
    pub fn cgroups(&self) -> containerizer::Isolation {
        containerizer::Isolation {
            pids: self.isolation.cgroups_pids,
            pids_max: (self.cgroups_pids_max > 0).then_some(self.cgroups_pids_max),
            cfs: self.cgroups_enable_cfs && self.isolation.cgroups_cpu,
        }
    }

    /// The sandbox quota's watch interval, when `disk/du` enforces quotas.
    pub fn disk_quota_watch(&self) -> Option<Duration> {
        (self.isolation.disk_du && self.enforce_container_disk_quota).then_some(self.container_disk_watcher_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolators_are_parsed_and_unknown_ones_refused() {
        let i = parse_isolation("cgroups/cpu, cgroups/mem,disk/du").expect("parse");
        assert!(i.cgroups_cpu && i.cgroups_mem && i.disk_du && !i.cgroups_pids);
        assert_eq!(i.to_string(), "cgroups/cpu, cgroups/mem,disk/du");
        assert!(parse_isolation("posix/disk").expect("alias").disk_du);
        assert!(parse_isolation("filesystem/linux").expect("fs").filesystem_linux);
        assert!(!parse_isolation("posix/cpu,posix/mem").expect("posix").cgroups());
        let err = parse_isolation("cgroups/cpu,network/cni").expect_err("unknown");
        assert!(err.to_string().contains("network/cni"), "{err}");
        assert!(IsolationFlags::default().isolation.cgroups_pids);
    }

    #[test]
    fn cgroups_settings_follow_the_flags() {
        let mut f = IsolationFlags::default();
        assert_eq!(f.cgroups(), containerizer::Isolation { pids: true, pids_max: Some(1024), cfs: false });
        f.cgroups_pids_max = 0;
        f.cgroups_enable_cfs = true;
        assert_eq!(f.cgroups(), containerizer::Isolation { pids: true, pids_max: None, cfs: true });
        assert_eq!(f.disk_quota_watch(), None);
        f.isolation = parse_isolation("disk/du").expect("parse");
        assert_eq!(f.disk_quota_watch(), None, "measured only");
        f.enforce_container_disk_quota = true;
        assert_eq!(f.disk_quota_watch(), Some(Duration::from_secs(15)));
    }
}
