//! The values the cgroups isolators write, as Mesos' `cgroups/cpu`, `cgroups/mem` and
//! `cgroups/pids` compute them: pure functions of a container's limits and the agent's
//! settings, so that [`crate::cgroups`] only does the file IO.

pub mod cpu;
pub mod mem;
pub mod pids;

/// Settings of the isolators that are the same for every container of an agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Isolation {
    /// `cgroups/pids`: each container gets a cgroup in the pids hierarchy (when mounted),
    /// which counts its processes and threads.
    pub pids: bool,
    /// With `pids`: `pids.max` of each container (`None`: no limit, counting only). A task
    /// that reaches it cannot fork any more: a fork bomb stays inside its task.
    pub pids_max: Option<u64>,
    /// `--cgroups_enable_cfs`: a hard CPU limit (CFS bandwidth: `cpu.cfs_quota_us` per
    /// `cpu.cfs_period_us`) from the container's cpus, besides its shares.
    pub cfs: bool,
}
