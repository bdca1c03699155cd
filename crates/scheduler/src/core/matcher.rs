//! Matching one instance of an app against what is left of an offer: roles, scalar resources,
//! host ports and placement constraints.

use super::instance::Instance;
use super::ports::PortPool;
use super::run_spec::RunSpec;
use mesos_api::Offer;
use mesos_api::resources::ResourceSet;
use rand_chacha::ChaCha8Rng;

/// Why an offer could not take an instance (`/v2/queue` `processedOffersSummary` reasons), in
/// the order Marathon's offer funnel checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoMatchReason {
    UnfulfilledRole,
    UnfulfilledConstraint,
    InsufficientCpus,
    InsufficientMemory,
    InsufficientDisk,
    InsufficientGpus,
    InsufficientPorts,
}

impl NoMatchReason {
    /// Every reason in funnel order.
    pub const ALL: [NoMatchReason; 7] = [
        Self::UnfulfilledRole,
        Self::UnfulfilledConstraint,
        Self::InsufficientCpus,
        Self::InsufficientMemory,
        Self::InsufficientDisk,
        Self::InsufficientGpus,
        Self::InsufficientPorts,
    ];

    /// Marathon's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::UnfulfilledRole => "UnfulfilledRole",
            Self::UnfulfilledConstraint => "UnfulfilledConstraint",
            Self::InsufficientCpus => "InsufficientCpus",
            Self::InsufficientMemory => "InsufficientMemory",
            Self::InsufficientDisk => "InsufficientDisk",
            Self::InsufficientGpus => "InsufficientGpus",
            Self::InsufficientPorts => "InsufficientPorts",
        }
    }
}

/// What an instance's task takes from an offer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceMatch {
    /// With the role of every piece taken.
    pub(crate) resources: ResourceSet,
    /// One per port definition, in order.
    pub(crate) host_ports: Vec<u16>,
}

/// The placement hook: whether constraints allow an instance of `spec` on the offer's agent,
/// given the app's instances placed so far.
///
/// FIXME(constraints): evaluate `spec.constraints` (UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE,
/// MAX_PER, IS) against the offer's hostname and attributes. Until then everything is allowed.
pub fn placement(spec: &RunSpec, offer: &Offer, placed: &[&Instance]) -> Result<(), NoMatchReason> {
    let _ = (spec, offer, placed);
    Ok(())
}

fn to_milli(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

/// Matches one instance of `spec` against `remaining` (what is left of the offer). On success
/// the caller subtracts [`ResourceMatch::resources`] from `remaining`.
///
/// `offer_role` is the offer's allocation role (MULTI_ROLE frameworks): only apps of that role
/// may use the offer. Reserved resources of the app's role are used before unreserved ones.
pub(crate) fn match_resources(
    spec: &RunSpec,
    offer_role: Option<&str>,
    remaining: &ResourceSet,
    rng: &mut ChaCha8Rng,
) -> Result<ResourceMatch, Vec<NoMatchReason>> {
    if offer_role.is_some_and(|role| role != spec.role) {
        return Err(vec![NoMatchReason::UnfulfilledRole]);
    }
    let usable = spec.usable_roles();
    let wire = remaining.to_wire();
    let usable_wire: Vec<_> = wire.iter().filter(|r| usable.contains(&r.reserved_role())).collect();
    if usable_wire.is_empty() {
        return Err(vec![NoMatchReason::UnfulfilledRole]);
    }
    // The app's own reservation first, then unreserved resources.
    let mut role_order: Vec<&String> = usable.iter().filter(|r| r.as_str() != "*").collect();
    role_order.extend(usable.iter().filter(|r| r.as_str() == "*"));

    let mut resources = ResourceSet::new();
    let mut reasons = Vec::new();
    let scalars = [
        ("cpus", spec.cpus, NoMatchReason::InsufficientCpus),
        ("mem", spec.mem, NoMatchReason::InsufficientMemory),
        ("disk", spec.disk, NoMatchReason::InsufficientDisk),
        ("gpus", f64::from(spec.gpus), NoMatchReason::InsufficientGpus),
    ];
    for (name, needed, reason) in scalars {
        let mut missing = to_milli(needed);
        for role in &role_order {
            if missing <= 0 {
                break;
            }
            let available: i64 = usable_wire
                .iter()
                .filter(|r| r.name == name && r.reserved_role() == **role)
                .filter_map(|r| r.scalar)
                .map(|s| to_milli(s.value))
                .sum();
            let taken = available.min(missing);
            if taken > 0 {
                resources.add_scalar(role, name, taken as f64 / 1000.0);
                missing -= taken;
            }
        }
        if missing > 0 {
            reasons.push(reason);
        }
    }

    let mut host_ports = Vec::new();
    if !spec.port_definitions.is_empty() {
        let mut pool = PortPool { ranges: Vec::new() };
        for role in &role_order {
            for r in usable_wire.iter().filter(|r| r.name == "ports" && r.reserved_role() == **role) {
                if let Some(ranges) = &r.ranges {
                    pool.ranges.extend(ranges.range.iter().map(|x| ((*role).clone(), x.begin, x.end)));
                }
            }
        }
        match pool.pick(&spec.service_ports(), spec.require_ports, rng) {
            Some(picked) => {
                for (port, role) in picked {
                    resources.add_ranges(&role, "ports", &[(u64::from(port), u64::from(port))]);
                    host_ports.push(port);
                }
            }
            None => reasons.push(NoMatchReason::InsufficientPorts),
        }
    }

    if reasons.is_empty() {
        debug_assert!(remaining.contains(&resources), "a match must fit in the offer");
        Ok(ResourceMatch { resources, host_ports })
    } else {
        Err(reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::run_spec::{AppId, PortDefinition};
    use crate::core::time::Timestamp;
    use rand::SeedableRng;

    fn spec() -> RunSpec {
        let mut spec = RunSpec::new(AppId::new("/a"), Timestamp::from_millis(1));
        spec.cpus = 0.5;
        spec.mem = 64.0;
        spec.port_definitions = vec![PortDefinition::new(10000)];
        spec
    }

    fn offer(text: &str) -> ResourceSet {
        ResourceSet::parse_text(text).expect("resources")
    }

    #[test]
    fn takes_reserved_resources_first() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = spec();
        s.role = "web".into();
        let remaining = offer("cpus(web):0.2;cpus:4;mem:512;ports(web):[31000-31000]");
        let m = match_resources(&s, None, &remaining, &mut rng).expect("match");
        assert_eq!(m.resources.allocatable_to("web").scalar("cpus"), 0.5);
        assert_eq!(m.resources.allocatable_to("*").scalar("cpus"), 0.3);
        assert_eq!(m.host_ports, vec![31000]);
        assert!(remaining.contains(&m.resources));
    }

    #[test]
    fn reports_every_missing_resource() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = spec();
        s.disk = 10.0;
        s.gpus = 1;
        let err = match_resources(&s, None, &offer("cpus:0.1;mem:16;disk:20"), &mut rng).expect_err("no match");
        assert_eq!(
            err,
            vec![
                NoMatchReason::InsufficientCpus,
                NoMatchReason::InsufficientMemory,
                NoMatchReason::InsufficientGpus,
                NoMatchReason::InsufficientPorts
            ]
        );
    }

    #[test]
    fn roles_outside_the_accepted_set_are_unusable() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = spec();
        s.accepted_resource_roles = Some(["*".to_string()].into());
        let remaining = offer("cpus(web):4;mem(web):512;ports(web):[31000-32000]");
        assert_eq!(match_resources(&s, None, &remaining, &mut rng), Err(vec![NoMatchReason::UnfulfilledRole]));
        let remaining = offer("cpus(web):4;mem:512;ports:[31000-32000]");
        assert_eq!(match_resources(&s, None, &remaining, &mut rng), Err(vec![NoMatchReason::InsufficientCpus]));
        let remaining = offer("cpus:4;mem:512;ports:[31000-32000]");
        assert_eq!(match_resources(&s, Some("other"), &remaining, &mut rng), Err(vec![NoMatchReason::UnfulfilledRole]));
        assert!(match_resources(&s, Some("*"), &remaining, &mut rng).is_ok());
    }
}
