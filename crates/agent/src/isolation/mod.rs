//! Isolation of the agent's containers beyond what the containerizer does per launch: which
//! cgroups are this agent's (agents sharing a host never touch each other's containers), the
//! isolation flags, and the isolators whose limits are watched while tasks run (`pids`:
//! `cgroups/pids`; `disk`: `disk/du`), as pure rules the core applies to what the shell
//! measured (`core::limits`). The values written to the cgroups come from
//! `containerizer::isolators`.

pub mod disk;
#[cfg(feature = "shell")]
mod flags;
#[cfg(feature = "shell")]
pub mod logrotate;
pub mod pids;

#[cfg(feature = "shell")]
pub use flags::{DEFAULT_ISOLATION, DEFAULT_PIDS_MAX, IsolationFlags, Isolators, parse_bool, parse_isolation};

use std::path::Path;

/// The cgroup (under each hierarchy) holding this agent's containers: `<root>/agent-<hash>`,
/// the hash of its canonical work dir, the agent's identity on a host (as the owner label of
/// its Docker containers). Several agents on one host with the same `--cgroups_root` (the
/// default `mesos`) thus keep their containers apart: each lists, recovers and destroys only
/// those under its own cgroup, and a restarted agent finds its own again.
pub fn cgroups_root(root: &str, work_dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    format!("{}/{}", root.trim_end_matches('/'), owner_name(work_dir.as_os_str().as_bytes()))
}

/// `agent-` and the FNV-1a 64 hash of `key`, in hex (stable across releases and platforms).
fn owner_name(key: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("agent-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_work_dir_has_a_cgroup_of_its_own() {
        let a = cgroups_root("mesos", Path::new("/var/lib/agent-a"));
        let b = cgroups_root("mesos", Path::new("/var/lib/agent-b"));
        assert_ne!(a, b);
        assert!(a.starts_with("mesos/agent-") && a.len() == "mesos/agent-".len() + 16, "{a}");
        assert_eq!(a, cgroups_root("mesos/", Path::new("/var/lib/agent-a")), "stable");
        // Known value: the name must never change, or a restarted agent loses its containers.
        assert_eq!(owner_name(b""), "agent-cbf29ce484222325");
    }
}
