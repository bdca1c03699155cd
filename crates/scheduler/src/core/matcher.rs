//! Matching one instance of an app against what is left of an offer: roles, scalar resources,
//! host ports and placement constraints.

use super::instance::{Instance, Task};
use super::ports::PortPool;
use super::run_spec::{Constraint, ConstraintOperator, RunSpec};
use mesos_api::resources::ResourceSet;
use mesos_api::{Attribute, Offer, ValueType};
use rand_chacha::ChaCha8Rng;
use regex::Regex;
use std::collections::BTreeMap;

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
    /// One per port definition, or per port mapping that has a host port, in order.
    pub(crate) host_ports: Vec<u16>,
}

/// The placement hook: whether the constraints of `spec` allow one more instance on the offer's
/// agent, given the app's instances placed so far (`placed`; instances without a task are not
/// placed and are ignored). Upstream's `Constraints.meetsConstraint` for every constraint:
///
/// - Fields: `hostname` / `@hostname` is the offer's hostname, `@region` / `@zone` its fault
///   domain, anything else the agent attribute of that name as text (`attribute_text`). An
///   offer without the field only passes `UNLIKE`.
/// - `UNIQUE`: no placed instance has the offer's value. `CLUSTER value`: the value equals it;
///   `CLUSTER` alone: nothing is placed yet, or the first placed instance (earliest staged) has
///   the offer's value. `LIKE` / `UNLIKE`: the regex fully matches / does not. `MAX_PER n`: fewer
///   than `n` placed instances have the offer's value. `IS value`: equal, a numeric value
///   compared in the scalar text form (`0.80` is `0.8`).
/// - `GROUP_BY n` (MARATHON-8752): with `N` instances wanted, each group wants `N / n` instances
///   and `N % n` groups one more; a group is accepted while below that, a new group while fewer
///   than `n` groups are used. `GROUP_BY` without a (positive) value keeps the classic rule: a new
///   value is accepted, a known one only while its group is one of the smallest.
pub fn placement(spec: &RunSpec, offer: &Offer, placed: &[&Instance]) -> Result<(), NoMatchReason> {
    if spec.constraints.is_empty() {
        return Ok(());
    }
    let tasks: Vec<&Task> = placed.iter().filter_map(|i| i.task.as_ref()).collect();
    if spec.constraints.iter().all(|c| meets_constraint(c, spec, offer, &tasks)) {
        Ok(())
    } else {
        Err(NoMatchReason::UnfulfilledConstraint)
    }
}

/// Where a constraint field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field<'a> {
    Hostname,
    Region,
    Zone,
    Attribute(&'a str),
}

impl<'a> Field<'a> {
    fn of(name: &'a str) -> Self {
        match name {
            "hostname" | "@hostname" => Self::Hostname,
            "@region" => Self::Region,
            "@zone" => Self::Zone,
            other => Self::Attribute(other),
        }
    }

    fn of_offer(self, offer: &Offer) -> Option<String> {
        match self {
            Self::Hostname => Some(offer.hostname.clone()),
            Self::Region => offer_region(offer),
            Self::Zone => offer_zone(offer),
            Self::Attribute(name) => offer.attributes.iter().find(|a| a.name == name).map(attribute_text),
        }
    }

    fn of_task(self, task: &Task) -> Option<&str> {
        match self {
            Self::Hostname => Some(task.hostname.as_str()),
            Self::Region => task.region.as_deref(),
            Self::Zone => task.zone.as_deref(),
            Self::Attribute(name) => task.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()),
        }
    }
}

/// The value of constraint field `field` on the agent `task` runs on (as [`placement`] sees it).
pub(crate) fn task_field<'t>(field: &str, task: &'t Task) -> Option<&'t str> {
    Field::of(field).of_task(task)
}

/// The offer's fault domain region (`domain.fault_domain.region.name`).
pub(crate) fn offer_region(offer: &Offer) -> Option<String> {
    domain_name(offer, "/fault_domain/region/name")
}

/// The offer's fault domain zone (`domain.fault_domain.zone.name`).
pub(crate) fn offer_zone(offer: &Offer) -> Option<String> {
    domain_name(offer, "/fault_domain/zone/name")
}

fn domain_name(offer: &Offer, pointer: &str) -> Option<String> {
    offer.domain.as_ref()?.pointer(pointer)?.as_str().map(str::to_string)
}

/// The offer's agent attributes as text, the first of each name, in offer order: what a task
/// launched on the offer keeps for the constraints of later placements.
pub(crate) fn agent_attributes(offer: &Offer) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for attribute in &offer.attributes {
        if !out.iter().any(|(name, _)| *name == attribute.name) {
            out.push((attribute.name.clone(), attribute_text(attribute)));
        }
    }
    out
}

/// An agent attribute as constraints compare it: TEXT as is, SCALAR with up to 3 decimals
/// (HALF_EVEN, no trailing zeros: `0.8`, `1.101`), RANGES `[b-e,b-e]` sorted by begin, SET
/// `{a,b,c}` sorted. A missing payload reads as its protobuf default.
pub(crate) fn attribute_text(attribute: &Attribute) -> String {
    match attribute.kind {
        ValueType::Text => attribute.text.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
        ValueType::Scalar => scalar_text(attribute.scalar.map_or(0.0, |s| s.value)),
        ValueType::Ranges => {
            let mut ranges: Vec<(u64, u64)> =
                attribute.ranges.iter().flat_map(|r| r.range.iter().map(|r| (r.begin, r.end))).collect();
            ranges.sort_by_key(|(begin, _)| *begin);
            let parts: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
            format!("[{}]", parts.join(","))
        }
        ValueType::Set => {
            let mut items: Vec<&str> = attribute.set.iter().flat_map(|s| s.item.iter().map(String::as_str)).collect();
            items.sort_unstable();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// Java's `DecimalFormat("0.###")`: the exact binary value rounded HALF_EVEN to 3 decimals
/// (Rust's float formatting rounds the exact value the same way), trailing zeros dropped.
fn scalar_text(value: f64) -> String {
    let text = format!("{value:.3}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// `IS` compares numeric values (`^[0-9]+(\.[0-9]+)?$`) in their scalar text form.
fn is_value(value: &str) -> String {
    let (whole, fraction) = value.split_once('.').map_or((value, None), |(w, f)| (w, Some(f)));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let numeric = digits(whole) && fraction.is_none_or(digits);
    match value.parse::<f64>() {
        Ok(number) if numeric => scalar_text(number),
        _ => value.to_string(),
    }
}

/// Whether `pattern` matches all of `text` (Java's `String.matches`); `None` for an invalid
/// pattern (validation rejects those, so only old records could have one).
fn full_match(pattern: &str, text: &str) -> Option<bool> {
    Regex::new(&format!(r"\A(?:{pattern})\z")).ok().map(|re| re.is_match(text))
}

fn meets_constraint(constraint: &Constraint, spec: &RunSpec, offer: &Offer, placed: &[&Task]) -> bool {
    let field = Field::of(&constraint.field);
    let Some(offer_value) = field.of_offer(offer) else {
        // Only UNLIKE can match an offer without the field.
        return constraint.operator == ConstraintOperator::Unlike;
    };
    let offer_value = offer_value.as_str();
    let value = constraint.value.as_deref().unwrap_or("");
    let with_offer_value = || placed.iter().filter(|t| field.of_task(t) == Some(offer_value)).count();
    match constraint.operator {
        ConstraintOperator::Unique => with_offer_value() == 0,
        ConstraintOperator::Cluster if value.is_empty() => {
            let first = placed.iter().min_by(|a, b| a.staged_at.cmp(&b.staged_at).then_with(|| a.id.cmp(&b.id)));
            first.is_none_or(|t| field.of_task(t) == Some(offer_value))
        }
        ConstraintOperator::Cluster => offer_value == value,
        ConstraintOperator::GroupBy => {
            let groups: Vec<Option<&str>> = placed.iter().map(|t| field.of_task(t)).collect();
            group_by(value, spec.instances, offer_value, &groups)
        }
        ConstraintOperator::Like => !value.is_empty() && full_match(value, offer_value) == Some(true),
        ConstraintOperator::Unlike => !value.is_empty() && full_match(value, offer_value) == Some(false),
        ConstraintOperator::MaxPer => {
            value.trim().parse::<i64>().is_ok_and(|max| i64::try_from(with_offer_value()).is_ok_and(|n| n < max))
        }
        ConstraintOperator::Is => offer_value == is_value(value),
    }
}

/// `GROUP_BY`: whether one more instance may go to group `offer_value`, given the group of
/// every placed instance (`None`: its agent lacks the field).
fn group_by(value: &str, wanted: u32, offer_value: &str, placed: &[Option<&str>]) -> bool {
    let mut counts: BTreeMap<Option<&str>, i64> = BTreeMap::new();
    for group in placed {
        *counts.entry(*group).or_default() += 1;
    }
    let in_offer_group = counts.get(&Some(offer_value)).copied();
    match value.trim().parse::<i64>() {
        Ok(groups) if groups > 0 => {
            // MARATHON-8752: the desired count per group, plus a remainder shared by the first
            // groups that grow beyond it.
            let wanted = i64::from(wanted);
            let per_group = wanted / groups;
            let remainder = wanted % groups;
            let remainder_used: i64 = counts.values().map(|count| (count - per_group).max(0)).sum();
            match in_offer_group {
                Some(count) => count < per_group || (count == per_group && remainder > remainder_used),
                None => (counts.len() as i64) < groups,
            }
        }
        _ => {
            // Classic: a new value is welcome, a known one only while its group is a smallest.
            let smallest = counts.values().copied().min().unwrap_or(0);
            in_offer_group.is_none_or(|count| count == smallest)
        }
    }
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
    if spec.port_definitions.iter().any(|p| !spec.has_port_mappings() || p.host_port.is_some()) {
        let mut pool = PortPool { ranges: Vec::new() };
        for role in &role_order {
            for r in usable_wire.iter().filter(|r| r.name == "ports" && r.reserved_role() == **role) {
                if let Some(ranges) = &r.ranges {
                    pool.ranges.extend(ranges.range.iter().map(|x| ((*role).clone(), x.begin, x.end)));
                }
            }
        }
        match pool.pick(&host_port_asks(spec), rng) {
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

/// The host ports an instance of `spec` needs, in order: `Some(port)` exactly that port,
/// `None` any offered one. Port definitions ask for their service port with `requirePorts`;
/// port mappings for their `hostPort` (0: any), and none when they have none.
fn host_port_asks(spec: &RunSpec) -> Vec<Option<u16>> {
    if spec.has_port_mappings() {
        spec.port_definitions.iter().filter_map(|p| p.host_port).map(|h| (h != 0).then_some(h)).collect()
    } else {
        spec.port_definitions.iter().map(|p| (spec.require_ports && p.port != 0).then_some(p.port)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::instance::{Condition, Goal, InstanceId};
    use crate::core::run_spec::{AppId, PortDefinition};
    use crate::core::time::Timestamp;
    use ConstraintOperator::{Cluster, GroupBy, Is, Like, MaxPer, Unique, Unlike};
    use mesos_api::{AgentId, FrameworkId, OfferId, Range, Ranges, Scalar, Text, ValueSet};
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

    // ---------------------------------------------------------------------------------------
    // Placement constraints

    fn attribute(name: &str, kind: ValueType) -> Attribute {
        Attribute { name: name.into(), kind, scalar: None, ranges: None, set: None, text: None }
    }

    fn text(name: &str, value: &str) -> Attribute {
        Attribute { text: Some(Text { value: value.into() }), ..attribute(name, ValueType::Text) }
    }

    fn scalar(name: &str, value: f64) -> Attribute {
        Attribute { scalar: Some(Scalar { value }), ..attribute(name, ValueType::Scalar) }
    }

    fn ranges(name: &str, ranges: &[(u64, u64)]) -> Attribute {
        let range = ranges.iter().map(|(begin, end)| Range { begin: *begin, end: *end }).collect();
        Attribute { ranges: Some(Ranges { range }), ..attribute(name, ValueType::Ranges) }
    }

    fn set(name: &str, items: &[&str]) -> Attribute {
        let item = items.iter().map(|i| i.to_string()).collect();
        Attribute { set: Some(ValueSet { item }), ..attribute(name, ValueType::Set) }
    }

    /// An offer of agent `host` (hostname `host`) with `attributes`.
    fn agent(host: &str, attributes: Vec<Attribute>) -> Offer {
        Offer {
            id: OfferId::new(format!("offer-{host}")),
            framework_id: FrameworkId::new("fw"),
            agent_id: AgentId::new(host),
            hostname: host.into(),
            url: None,
            resources: Vec::new(),
            attributes,
            executor_ids: Vec::new(),
            allocation_info: None,
            domain: None,
        }
    }

    fn in_domain(offer: Offer, region: &str, zone: &str) -> Offer {
        let domain = serde_json::json!({"fault_domain": {"region": {"name": region}, "zone": {"name": zone}}});
        Offer { domain: Some(domain), ..offer }
    }

    /// An instance whose task was launched on `offer` (as `provision` records it), staged at `n`.
    fn placed_on(offer: &Offer, n: i64) -> Instance {
        let id = InstanceId::parse(&format!("a.instance-{n}")).expect("id");
        Instance {
            task: Some(Task {
                id: id.task_id(1),
                agent_id: offer.agent_id.clone(),
                hostname: offer.hostname.clone(),
                host_ports: Vec::new(),
                staged_at: Timestamp::from_millis(n),
                started_at: None,
                mesos_state: None,
                healthy: None,
                agent_ip: None,
                ip_addresses: Vec::new(),
                attributes: agent_attributes(offer),
                region: offer_region(offer),
                zone: offer_zone(offer),
                containers: Vec::new(),
            }),
            id,
            app_id: AppId::new("/a"),
            run_spec_version: Timestamp::from_millis(1),
            goal: Goal::Running,
            condition: Condition::Running,
            condition_since: Timestamp::from_millis(n),
            incarnation: 1,
            unreachable_since: None,
            role: "*".into(),
        }
    }

    /// `instances` wanted, with one constraint.
    fn constrained(field: &str, operator: ConstraintOperator, value: Option<&str>, instances: u32) -> RunSpec {
        let mut spec = spec();
        spec.instances = instances;
        spec.constraints = vec![Constraint { field: field.into(), operator, value: value.map(str::to_string) }];
        spec
    }

    fn allows(spec: &RunSpec, offer: &Offer, placed: &[Instance]) -> bool {
        let placed: Vec<&Instance> = placed.iter().collect();
        match placement(spec, offer, &placed) {
            Ok(()) => true,
            Err(reason) => {
                assert_eq!(reason, NoMatchReason::UnfulfilledConstraint);
                false
            }
        }
    }

    /// Places the instances of `spec` one by one, trying the agents of `offers` round-robin
    /// (starting after the last one used), and returns how many went to each agent.
    fn fill(spec: &RunSpec, offers: &[Offer]) -> Vec<usize> {
        let mut placed: Vec<Instance> = Vec::new();
        let mut per_offer = vec![0; offers.len()];
        let mut next = 0;
        for n in 0..spec.instances {
            let turn = (0..offers.len()).map(|k| (next + k) % offers.len());
            let Some(at) = turn.into_iter().find(|at| allows(spec, &offers[*at], &placed)) else { break };
            placed.push(placed_on(&offers[at], i64::from(n)));
            per_offer[at] += 1;
            next = at + 1;
        }
        per_offer
    }

    #[test]
    fn attributes_render_as_text() {
        assert_eq!(attribute_text(&text("rack", "rack-1")), "rack-1");
        let scalars = [
            (0.8, "0.8"),
            (0.80, "0.8"),
            (0.8001, "0.8"),
            (1.1005, "1.101"),
            (1.0005, "1"),
            (1.00051, "1.001"),
            (0.0625, "0.062"),
            (0.0635, "0.064"),
            (2.0, "2"),
            (1234567.5, "1234567.5"),
            (-0.0001, "-0"),
        ];
        for (value, rendered) in scalars {
            assert_eq!(attribute_text(&scalar("cores", value)), rendered, "{value}");
        }
        assert_eq!(
            attribute_text(&ranges("ports", &[(3000, 4000), (1000, 2000), (5, 5)])),
            "[5-5,1000-2000,3000-4000]"
        );
        assert_eq!(attribute_text(&set("disks", &["ssd", "hdd", "nvme"])), "{hdd,nvme,ssd}");
        // Missing payloads read as protobuf defaults.
        assert_eq!(attribute_text(&attribute("t", ValueType::Text)), "");
        assert_eq!(attribute_text(&attribute("s", ValueType::Scalar)), "0");
        assert_eq!(attribute_text(&attribute("r", ValueType::Ranges)), "[]");
        assert_eq!(attribute_text(&attribute("x", ValueType::Set)), "{}");
    }

    #[test]
    fn agent_fields_come_from_the_offer() {
        let offer = in_domain(
            agent("h1", vec![text("rack", "r1"), scalar("cores", 8.0), text("rack", "shadowed")]),
            "eu-west",
            "eu-west-1a",
        );
        assert_eq!(agent_attributes(&offer), vec![("rack".into(), "r1".into()), ("cores".into(), "8".into())]);
        assert_eq!(offer_region(&offer).as_deref(), Some("eu-west"));
        assert_eq!(offer_zone(&offer).as_deref(), Some("eu-west-1a"));
        let bare = agent("h2", vec![]);
        assert_eq!((offer_region(&bare), offer_zone(&bare)), (None, None));
        let region_only =
            Offer { domain: Some(serde_json::json!({"fault_domain": {"region": {"name": "r"}}})), ..bare };
        assert_eq!((offer_region(&region_only).as_deref(), offer_zone(&region_only)), (Some("r"), None));
    }

    #[test]
    fn no_constraints_allow_everything() {
        let offer = agent("h1", vec![]);
        let placed = [placed_on(&offer, 1)];
        assert!(allows(&spec(), &offer, &placed));
    }

    #[test]
    fn unique_hostname_and_attribute() {
        let (h1, h2) = (agent("h1", vec![text("rack", "r1")]), agent("h2", vec![text("rack", "r1")]));
        for field in ["hostname", "@hostname"] {
            let spec = constrained(field, Unique, None, 3);
            assert!(allows(&spec, &h1, &[]));
            assert!(!allows(&spec, &h1, &[placed_on(&h1, 1)]));
            assert!(allows(&spec, &h2, &[placed_on(&h1, 1)]));
        }
        let spec = constrained("rack", Unique, None, 3);
        assert!(!allows(&spec, &h2, &[placed_on(&h1, 1)]), "same rack on another host");
        assert!(allows(&spec, &agent("h3", vec![text("rack", "r2")]), &[placed_on(&h1, 1)]));
        // Placed instances on agents without the attribute do not conflict.
        assert!(allows(&spec, &h1, &[placed_on(&agent("h4", vec![]), 1)]));
        // Instances without a task are not placed.
        let mut scheduled = placed_on(&h1, 1);
        scheduled.task = None;
        assert!(allows(&spec, &h1, &[scheduled]));
        // One instance per host over three hosts.
        let spec = constrained("hostname", Unique, None, 5);
        assert_eq!(fill(&spec, &[agent("a", vec![]), agent("b", vec![]), agent("c", vec![])]), vec![1, 1, 1]);
    }

    #[test]
    fn cluster_with_a_value_and_following_the_first_placed_instance() {
        let (r1, r2) = (agent("h1", vec![text("rack", "r1")]), agent("h2", vec![text("rack", "r2")]));
        let spec = constrained("rack", Cluster, Some("r2"), 2);
        assert!(!allows(&spec, &r1, &[]));
        assert!(allows(&spec, &r2, &[]));
        let spec = constrained("hostname", Cluster, Some("h1"), 2);
        assert!(allows(&spec, &r1, &[]) && !allows(&spec, &r2, &[]));

        // Without a value: anything first, then where the first placed instance runs.
        let spec = constrained("rack", Cluster, None, 3);
        assert!(allows(&spec, &r1, &[]) && allows(&spec, &r2, &[]));
        let placed = [placed_on(&r2, 5), placed_on(&r1, 9)];
        assert!(allows(&spec, &r2, &placed), "the first placed (earliest staged) decides");
        assert!(!allows(&spec, &r1, &placed));
        assert!(allows(&spec, &agent("h3", vec![text("rack", "r2")]), &placed));
        // A first instance on an agent without the attribute admits nobody.
        assert!(!allows(&spec, &r1, &[placed_on(&agent("h4", vec![]), 1)]));
        let spec = constrained("hostname", Cluster, None, 3);
        assert_eq!(fill(&spec, &[r2.clone(), r1.clone()]), vec![3, 0]);
        assert_eq!(fill(&spec, &[r1, r2]), vec![3, 0]);
    }

    #[test]
    fn group_by_without_value_keeps_groups_balanced() {
        let (a1, a2) = (agent("h1", vec![text("rack", "a")]), agent("h2", vec![text("rack", "a")]));
        let b = agent("h3", vec![text("rack", "b")]);
        let spec = constrained("rack", GroupBy, None, 6);
        assert!(allows(&spec, &a1, &[]));
        // A new value is always welcome.
        assert!(allows(&spec, &b, &[placed_on(&a1, 1), placed_on(&a2, 2)]));
        // A known value only while its group is a smallest.
        assert!(allows(&spec, &a1, &[placed_on(&a1, 1)]));
        assert!(allows(&spec, &a1, &[placed_on(&a1, 1), placed_on(&b, 2)]));
        assert!(!allows(&spec, &a2, &[placed_on(&a1, 1), placed_on(&b, 2), placed_on(&a1, 3)]));
        assert!(allows(&spec, &b, &[placed_on(&a1, 1), placed_on(&b, 2), placed_on(&a1, 3)]));
        // Agents without the attribute form a group of their own.
        let none = agent("h4", vec![]);
        assert!(!allows(&spec, &b, &[placed_on(&b, 1), placed_on(&none, 2), placed_on(&a1, 3), placed_on(&b, 4)]));
        // Offers taken in turn spread evenly.
        let c = agent("h5", vec![text("rack", "c")]);
        assert_eq!(fill(&spec, &[a1.clone(), b.clone(), c.clone()]), vec![2, 2, 2]);
        let spec = constrained("hostname", GroupBy, None, 4);
        assert_eq!(fill(&spec, &[a1, a2, b]), vec![2, 1, 1]);
    }

    #[test]
    fn group_by_with_value_fills_the_desired_count_per_group() {
        let zones: Vec<Offer> = ["z1", "z2", "z3"]
            .iter()
            .enumerate()
            .map(|(i, z)| in_domain(agent(&format!("h{i}"), vec![]), "r", z))
            .collect();
        // 7 instances over 3 zones: 2 each, and one zone takes the remainder.
        let spec = constrained("@zone", GroupBy, Some("3"), 7);
        assert_eq!(fill(&spec, &zones), vec![3, 2, 2]);
        let two_in_z1 = [placed_on(&zones[0], 1), placed_on(&zones[0], 2)];
        assert!(allows(&spec, &zones[0], &two_in_z1), "z1 may take the remainder");
        let remainder_taken = [placed_on(&zones[0], 1), placed_on(&zones[0], 2), placed_on(&zones[0], 3)];
        assert!(!allows(&spec, &zones[0], &remainder_taken));
        let mut z2_full = remainder_taken.to_vec();
        z2_full.extend([placed_on(&zones[1], 4), placed_on(&zones[1], 5)]);
        assert!(!allows(&spec, &zones[1], &z2_full), "the remainder is used up");
        assert!(allows(&spec, &zones[2], &z2_full));
        // No more groups than the value.
        let spec = constrained("@zone", GroupBy, Some("2"), 4);
        assert_eq!(fill(&spec, &zones), vec![2, 2, 0]);
        assert!(!allows(&spec, &zones[2], &[placed_on(&zones[0], 1), placed_on(&zones[1], 2)]));
        // Unlike the classic rule, a group fills up to its share before others are used.
        let spec = constrained("@zone", GroupBy, Some("3"), 6);
        assert!(allows(&spec, &zones[0], &[placed_on(&zones[0], 1)]));
        assert!(!allows(&spec, &zones[0], &[placed_on(&zones[0], 1), placed_on(&zones[0], 2)]));
        // A non-positive value falls back to the classic rule (upstream divides by zero).
        let spec = constrained("@zone", GroupBy, Some("0"), 6);
        assert_eq!(fill(&spec, &zones), vec![2, 2, 2]);
    }

    #[test]
    fn like_and_unlike_match_the_whole_value() {
        let offer = agent("web-1.example.com", vec![text("rack", "rack-12"), scalar("cores", 0.8)]);
        let cases = [
            ("rack", "rack-[0-9]+", true),
            ("rack", "rack-1", false),
            ("rack", "ack-12", false),
            ("rack", "rack-1|rack-12", true),
            ("hostname", "web-[0-9]\\.example\\.com", true),
            ("hostname", "web", false),
            ("cores", "0\\.8", true),
            ("cores", "0\\.80", false),
        ];
        for (field, pattern, matches) in cases {
            assert_eq!(
                allows(&constrained(field, Like, Some(pattern), 1), &offer, &[]),
                matches,
                "{field} LIKE {pattern}"
            );
            assert_eq!(
                allows(&constrained(field, Unlike, Some(pattern), 1), &offer, &[]),
                !matches,
                "{field} UNLIKE {pattern}"
            );
        }
        // Without a valid pattern neither matches.
        for operator in [Like, Unlike] {
            assert!(!allows(&constrained("rack", operator, None, 1), &offer, &[]));
            assert!(!allows(&constrained("rack", operator, Some("("), 1), &offer, &[]));
        }
    }

    #[test]
    fn max_per_limits_instances_per_value() {
        let (r1a, r1b) = (agent("h1", vec![text("rack", "r1")]), agent("h2", vec![text("rack", "r1")]));
        let r2 = agent("h3", vec![text("rack", "r2")]);
        let spec = constrained("rack", MaxPer, Some("2"), 6);
        assert!(allows(&spec, &r1a, &[placed_on(&r1b, 1)]));
        assert!(!allows(&spec, &r1a, &[placed_on(&r1b, 1), placed_on(&r1a, 2)]));
        assert!(allows(&spec, &r2, &[placed_on(&r1b, 1), placed_on(&r1a, 2)]));
        assert_eq!(fill(&spec, &[r1a.clone(), r1b, r2]), vec![1, 1, 2]);
        let spec = constrained("hostname", MaxPer, Some("1"), 3);
        assert_eq!(fill(&spec, std::slice::from_ref(&r1a)), vec![1]);
        assert!(!allows(&constrained("rack", MaxPer, Some("0"), 1), &r1a, &[]));
        assert!(!allows(&constrained("rack", MaxPer, Some("many"), 1), &r1a, &[]));
    }

    #[test]
    fn is_compares_text_and_scalars() {
        let offer = agent("h1", vec![text("os", "linux"), scalar("cores", 0.8), scalar("gen", 3.0)]);
        let cases = [
            ("os", "linux", true),
            ("os", "Linux", false),
            ("cores", "0.8", true),
            ("cores", "0.80", true),
            ("cores", "0.8001", true),
            ("cores", "0.81", false),
            ("gen", "3", true),
            ("gen", "3.0", true),
            ("hostname", "h1", true),
            ("hostname", "h2", false),
        ];
        for (field, value, matches) in cases {
            assert_eq!(allows(&constrained(field, Is, Some(value), 1), &offer, &[]), matches, "{field} IS {value}");
        }
        // A numeric value is compared in scalar form, also against a TEXT attribute (upstream).
        let offer = agent("h1", vec![text("version", "1.10"), text("build", "1.5")]);
        assert!(!allows(&constrained("version", Is, Some("1.10"), 1), &offer, &[]));
        assert!(allows(&constrained("build", Is, Some("1.50"), 1), &offer, &[]));
    }

    #[test]
    fn region_and_zone_fields() {
        let eu = in_domain(agent("h1", vec![]), "eu", "eu-1");
        let us = in_domain(agent("h2", vec![]), "us", "us-1");
        assert!(allows(&constrained("@region", Is, Some("eu"), 1), &eu, &[]));
        assert!(!allows(&constrained("@region", Is, Some("eu"), 1), &us, &[]));
        assert!(allows(&constrained("@zone", Like, Some("eu-.*"), 1), &eu, &[]));
        let spec = constrained("@region", Unique, None, 2);
        assert!(!allows(&spec, &in_domain(agent("h3", vec![]), "eu", "eu-2"), &[placed_on(&eu, 1)]));
        assert!(allows(&spec, &us, &[placed_on(&eu, 1)]));
        // `region` without `@` is an ordinary attribute.
        assert!(!allows(&constrained("region", Is, Some("eu"), 1), &eu, &[]));
        // An offer without a fault domain lacks both fields.
        let bare = agent("h4", vec![]);
        assert!(!allows(&constrained("@zone", Unique, None, 1), &bare, &[]));
        assert!(allows(&constrained("@zone", Unlike, Some("eu-.*"), 1), &bare, &[]));
    }

    #[test]
    fn a_missing_attribute_matches_only_unlike() {
        let offer = agent("h1", vec![text("rack", "r1")]);
        let operators = [
            (Unique, None, false),
            (Cluster, None, false),
            (Cluster, Some("x"), false),
            (GroupBy, None, false),
            (GroupBy, Some("2"), false),
            (Like, Some(".*"), false),
            (MaxPer, Some("5"), false),
            (Is, Some("x"), false),
            (Unlike, Some(".*"), true),
            (Unlike, Some("x"), true),
        ];
        for (operator, value, matches) in operators {
            assert_eq!(allows(&constrained("gpu", operator, value, 1), &offer, &[]), matches, "{operator:?}");
        }
    }

    #[test]
    fn every_constraint_must_hold() {
        let mut spec = constrained("hostname", Unique, None, 3);
        spec.constraints.push(Constraint { field: "rack".into(), operator: Is, value: Some("r1".into()) });
        let (r1, r2) = (agent("h1", vec![text("rack", "r1")]), agent("h2", vec![text("rack", "r2")]));
        assert!(allows(&spec, &r1, &[]));
        assert!(!allows(&spec, &r2, &[]));
        assert!(!allows(&spec, &r1, &[placed_on(&r1, 1)]));
    }
}
