//! Ports: service ports (cluster-wide unique, from `[local_port_min, local_port_max]`) and
//! host ports (taken from an offer's `ports` ranges).

use super::run_spec::RunSpec;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// The service port range could not satisfy a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePortsExhausted;

/// Replaces every port definition with port 0 by a free service port from `range`. A pod has
/// no service ports (its endpoints' host ports are asked of offers): nothing changes.
///
/// A port that `previous` (the definition being replaced) had at the same index is kept, so
/// that updating an app without naming its ports changes neither them nor its config. Other
/// zeros get the lowest ports of `range` that are neither in `used` (every other app's service
/// ports) nor already in `spec`.
pub fn assign_service_ports(
    spec: &mut RunSpec,
    previous: Option<&RunSpec>,
    used: &BTreeSet<u16>,
    range: RangeInclusive<u16>,
) -> Result<(), ServicePortsExhausted> {
    if spec.is_pod() {
        return Ok(());
    }
    let mut taken: BTreeSet<u16> = used.clone();
    taken.extend(spec.port_definitions.iter().map(|p| p.port).filter(|p| *p != 0));
    let previous_ports = previous.map(RunSpec::service_ports).unwrap_or_default();
    let mut next_candidate = u32::from(*range.start());
    let last_candidate = u32::from(*range.end());
    for (index, definition) in spec.port_definitions.iter_mut().enumerate() {
        if definition.port != 0 {
            continue;
        }
        let kept = previous_ports.get(index).copied().filter(|p| *p != 0 && taken.insert(*p));
        let port = match kept {
            Some(port) => port,
            None => loop {
                if next_candidate > last_candidate {
                    return Err(ServicePortsExhausted);
                }
                let port = u16::try_from(next_candidate).map_err(|_| ServicePortsExhausted)?;
                next_candidate += 1;
                if taken.insert(port) {
                    break port;
                }
            },
        };
        definition.port = port;
    }
    Ok(())
}

/// Free ports of one role in an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortPool {
    /// `(role, begin, end)`, inclusive, in the order they were offered.
    pub(crate) ranges: Vec<(String, u64, u64)>,
}

impl PortPool {
    fn count(&self) -> u64 {
        self.ranges.iter().map(|(_, b, e)| e - b + 1).sum()
    }

    fn role_of(&self, port: u64) -> Option<&str> {
        self.ranges.iter().find(|(_, b, e)| *b <= port && port <= *e).map(|(role, _, _)| role.as_str())
    }

    fn remove(&mut self, port: u64) {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for (role, b, e) in self.ranges.drain(..) {
            if port < b || port > e {
                out.push((role, b, e));
                continue;
            }
            if b < port {
                out.push((role.clone(), b, port - 1));
            }
            if port < e {
                out.push((role, port + 1, e));
            }
        }
        self.ranges = out;
    }

    fn nth(&self, mut index: u64) -> Option<u64> {
        for (_, b, e) in &self.ranges {
            let len = e - b + 1;
            if index < len {
                return Some(b + index);
            }
            index -= len;
        }
        None
    }

    /// Picks `asks.len()` ports: exactly the asked one for `Some(port)`, a uniformly random free
    /// one for `None`. Returns `(port, role)` pairs in request order, or `None` when the pool
    /// cannot satisfy the request.
    pub(crate) fn pick(&mut self, asks: &[Option<u16>], rng: &mut ChaCha8Rng) -> Option<Vec<(u16, String)>> {
        let requested = asks;
        let mut picked = Vec::with_capacity(requested.len());
        // Fixed ports first, so that random picks never take one of them.
        let mut fixed = Vec::new();
        for (index, port) in requested.iter().enumerate() {
            if let Some(port) = *port {
                let role = self.role_of(u64::from(port))?.to_string();
                self.remove(u64::from(port));
                fixed.push((index, (port, role)));
            }
        }
        let mut fixed = fixed.into_iter().peekable();
        for (index, _) in requested.iter().enumerate() {
            if fixed.peek().is_some_and(|(i, _)| *i == index) {
                let (_, pick) = fixed.next()?;
                picked.push(pick);
                continue;
            }
            let count = self.count();
            if count == 0 {
                return None;
            }
            let port = self.nth(rng.random_range(0..count))?;
            let role = self.role_of(port)?.to_string();
            self.remove(port);
            picked.push((u16::try_from(port).ok()?, role));
        }
        Some(picked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::run_spec::{AppId, PortDefinition};
    use crate::core::time::Timestamp;
    use rand::SeedableRng;

    fn spec(ports: &[u16]) -> RunSpec {
        let mut spec = RunSpec::new(AppId::new("/a"), Timestamp::from_millis(1));
        spec.port_definitions = ports.iter().map(|p| PortDefinition::new(*p)).collect();
        spec
    }

    #[test]
    fn service_ports_are_lowest_free_and_unique() {
        let mut s = spec(&[0, 10001, 0]);
        let used: BTreeSet<u16> = [10000, 10002].into();
        assign_service_ports(&mut s, None, &used, 10000..=20000).expect("ports");
        assert_eq!(s.service_ports(), vec![10003, 10001, 10004]);
    }

    #[test]
    fn service_ports_survive_an_update_by_index() {
        let old = spec(&[10007, 10008]);
        let mut new = spec(&[0, 0, 0]);
        assign_service_ports(&mut new, Some(&old), &BTreeSet::new(), 10000..=20000).expect("ports");
        assert_eq!(new.service_ports(), vec![10007, 10008, 10000]);
    }

    #[test]
    fn service_ports_can_run_out() {
        let mut s = spec(&[0, 0]);
        let used: BTreeSet<u16> = [10000].into();
        assert_eq!(assign_service_ports(&mut s, None, &used, 10000..=10001), Err(ServicePortsExhausted));
    }

    #[test]
    fn random_host_ports_are_distinct_and_offered() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let mut pool = PortPool { ranges: vec![("*".into(), 31000, 31002), ("web".into(), 32000, 32000)] };
            let picked = pool.pick(&[None; 4], &mut rng).expect("four ports");
            let ports: BTreeSet<u16> = picked.iter().map(|(p, _)| *p).collect();
            assert_eq!(ports, [31000, 31001, 31002, 32000].into());
            assert_eq!(picked.iter().find(|(p, _)| *p == 32000).map(|(_, r)| r.as_str()), Some("web"));
            assert_eq!(pool.count(), 0);
        }
        let mut pool = PortPool { ranges: vec![("*".into(), 31000, 31000)] };
        assert_eq!(pool.pick(&[None, None], &mut rng), None);
    }

    #[test]
    fn required_ports_must_be_offered() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut pool = PortPool { ranges: vec![("*".into(), 31000, 31010)] };
        let picked = pool.pick(&[Some(31005), None], &mut rng).expect("ports");
        assert_eq!(picked[0], (31005, "*".to_string()));
        assert_ne!(picked[1].0, 31005);
        let mut pool = PortPool { ranges: vec![("*".into(), 31000, 31010)] };
        assert_eq!(pool.pick(&[Some(10000)], &mut rng), None);
    }
}
