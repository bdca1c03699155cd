//! `cgroups/pids`: the containerizer gives each container a pids cgroup whose `pids.max` is
//! `--cgroups_pids_max` (a fork bomb stays inside its task: its forks fail at the limit). Upstream's
//! isolator only counts; here a task that reached its limit fails, since a task whose forks
//! fail is broken, and one that forks without end would hold its share of the host's pids.

use crate::core::Limitation;
use mesos_api::messages::Reason;

/// The limitation of a task whose pids cgroup refused `refused_forks` forks (`None`: not
/// measured, or none refused).
pub fn limitation(refused_forks: Option<u64>, pids_max: u64) -> Option<Limitation> {
    (refused_forks? > 0).then(|| Limitation {
        reason: Reason::ContainerLimitation,
        message: format!("Task reached its limit of {pids_max} processes and threads (cgroups/pids)"),
        resources: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_fork_is_a_limitation() {
        assert_eq!(limitation(None, 10), None);
        assert_eq!(limitation(Some(0), 10), None);
        let l = limitation(Some(3), 10).expect("limited");
        assert_eq!(l.reason, Reason::ContainerLimitation);
        assert!(l.message.contains("limit of 10 processes"), "{}", l.message);
    }
}
