//! `cgroups/pids`: the number of processes (and threads) of a container, limited by
//! `pids.max`; `pids.events` counts the forks the limit refused.

/// What to write to `pids.max`.
pub fn max_value(limit: Option<u64>) -> String {
    match limit {
        Some(n) => n.to_string(),
        None => "max".to_string(),
    }
}

/// The `max` count of `pids.events`: how many forks (or clones) the limit refused.
pub fn refused_forks(events: &str) -> Option<u64> {
    events.lines().find_map(|l| l.strip_prefix("max ")).and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_events() {
        assert_eq!(max_value(Some(100)), "100");
        assert_eq!(max_value(None), "max");
        assert_eq!(refused_forks("max 0\n"), Some(0));
        assert_eq!(refused_forks("max 17\n"), Some(17));
        assert_eq!(refused_forks(""), None);
    }
}
