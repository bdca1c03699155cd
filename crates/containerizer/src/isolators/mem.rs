//! `cgroups/mem`: `memory.limit_in_bytes` (and the soft limit) from the container's mem.

/// Mesos' minimum memory limit.
pub const MIN_MEMORY_BYTES: u64 = 32 * 1024 * 1024;
const MB: f64 = 1024.0 * 1024.0;

/// `max(mem_mb MiB, 32 MiB)`; `None` (unlimited, `-1`) for an infinite `mem_mb`.
pub fn limit_bytes(mem_mb: f64) -> Option<u64> {
    (!mem_mb.is_infinite()).then(|| ((mem_mb * MB).round() as u64).max(MIN_MEMORY_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_have_a_floor() {
        assert_eq!(limit_bytes(64.0), Some(64 << 20));
        assert_eq!(limit_bytes(1.0), Some(MIN_MEMORY_BYTES));
        assert_eq!(limit_bytes(f64::INFINITY), None);
    }
}
