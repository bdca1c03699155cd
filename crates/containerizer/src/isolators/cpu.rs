//! `cgroups/cpu`: `cpu.shares` always, CFS bandwidth with `--cgroups_enable_cfs`.

/// `cpu.shares` bounds of the kernel.
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;
/// Mesos' CFS period (`CPU_CFS_PERIOD`).
pub const CFS_PERIOD_US: u64 = 100_000;
/// Mesos' smallest quota (`MIN_CPU_CFS_QUOTA`, 1 ms): the kernel refuses less.
const MIN_CFS_QUOTA_US: u64 = 1_000;

/// `cpu.shares = round(1024 × cpus)`, within the kernel's bounds.
pub fn shares(cpus: f64) -> u64 {
    ((1024.0 * cpus).round() as u64).clamp(MIN_SHARES, MAX_SHARES)
}

/// `cpu.cfs_quota_us` for [`CFS_PERIOD_US`]: `cpus` periods' worth of CPU time per period, at
/// least 1 ms (a task with 0.5 cpus runs at most 50 ms of every 100 ms, on any cores).
pub fn cfs_quota_us(cpus: f64) -> u64 {
    ((cpus * CFS_PERIOD_US as f64).round() as u64).max(MIN_CFS_QUOTA_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_quota_follow_the_cpus() {
        assert_eq!(shares(1.0), 1024);
        assert_eq!(shares(0.0), 2);
        assert_eq!(shares(1e6), 262_144);
        assert_eq!(cfs_quota_us(0.5), 50_000);
        assert_eq!(cfs_quota_us(2.0), 200_000);
        assert_eq!(cfs_quota_us(0.001), 1_000, "at least 1 ms");
    }
}
