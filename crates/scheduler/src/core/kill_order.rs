//! Which instances go first when an app has more instances than it wants.
//!
//! Marathon's order: instances sentenced by the API (handled by the caller), instances that
//! rebalance GROUP_BY constraints ([`select_for_kill_balanced`]), then by condition weight (not
//! yet launched 0, Unreachable 1, Staging 2, Starting 3, Running 4, anything else 5, lower
//! first), ties broken by `killSelection` on the time the instance became active. The instance id
//! is the last tie breaker, so the choice is deterministic.

use super::instance::{Condition, Instance, InstanceId};
use super::matcher::task_field;
use super::run_spec::{ConstraintOperator, KillSelection, RunSpec};
use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;

fn weight(condition: Condition) -> u8 {
    match condition {
        Condition::Scheduled => 0,
        Condition::Unreachable => 1,
        Condition::Staging => 2,
        Condition::Starting => 3,
        Condition::Running => 4,
        _ => 5,
    }
}

fn kill_order(a: &Instance, b: &Instance, selection: KillSelection) -> Ordering {
    let by_weight = weight(a.condition).cmp(&weight(b.condition));
    let by_age = match selection {
        KillSelection::YoungestFirst => Reverse(a.active_since()).cmp(&Reverse(b.active_since())),
        KillSelection::OldestFirst => a.active_since().cmp(&b.active_since()),
    };
    by_weight.then(by_age).then_with(|| a.id.cmp(&b.id))
}

/// The first `count` of `candidates` in kill order.
///
/// A rolling upgrade asks this on every change of its app, usually for a few of its instances:
/// only those are sorted (the order is total, so the result is the full sort's first `count`).
pub(crate) fn select_for_kill(candidates: &[&Instance], count: usize, selection: KillSelection) -> Vec<InstanceId> {
    let count = count.min(candidates.len());
    if count == 0 {
        return Vec::new();
    }
    let mut first: Vec<&Instance> = candidates.to_vec();
    if count < first.len() {
        first.select_nth_unstable_by(count - 1, |a, b| kill_order(a, b, selection));
        first.truncate(count);
    }
    first.sort_unstable_by(|a, b| kill_order(a, b, selection));
    first.into_iter().map(|i| i.id.clone()).collect()
}

/// The first `count` of `candidates` when scaling `spec` down: like [`select_for_kill`], but
/// with `GROUP_BY` constraints placed instances go so that the groups stay even (upstream's
/// `Constraints.selectInstancesToKill`): one victim at a time, from the largest group of the
/// most uneven distribution (in kill order within the group), as long as every distribution
/// ends up with at most one instance of difference between its groups or more even than before.
/// Instances without a task (not placed, in no group) go first, as in the plain kill order;
/// whatever the rebalancing leaves open is filled in kill order.
pub(crate) fn select_for_kill_balanced(candidates: &[&Instance], count: usize, spec: &RunSpec) -> Vec<InstanceId> {
    let fields: Vec<&str> = spec
        .constraints
        .iter()
        .filter(|c| c.operator == ConstraintOperator::GroupBy)
        .map(|c| c.field.as_str())
        .collect();
    if fields.is_empty() || count == 0 {
        return select_for_kill(candidates, count, spec.kill_selection);
    }
    let mut sorted: Vec<&Instance> = candidates.to_vec();
    sorted.sort_by(|a, b| kill_order(a, b, spec.kill_selection));
    let (unplaced, placed): (Vec<&Instance>, Vec<&Instance>) = sorted.into_iter().partition(|i| i.task.is_none());

    let mut victims: Vec<InstanceId> = unplaced.iter().take(count).map(|i| i.id.clone()).collect();
    let mut distributions: Vec<Distribution> = fields.iter().map(|field| Distribution::new(field, &placed)).collect();
    let mut selected = vec![false; placed.len()];
    while victims.len() < count {
        // The most uneven distribution first; its largest groups, then everything else.
        let mut order: Vec<usize> = (0..distributions.len()).collect();
        order.sort_by_key(|d| Reverse(distributions[*d].difference()));
        let preferred = order.iter().flat_map(|d| {
            let distribution = &distributions[*d];
            let largest = distribution.largest_uneven();
            (0..placed.len()).filter(move |i| largest.is_some_and(|size| distribution.size_of(*i) == size))
        });
        let mut tried = preferred.chain(0..placed.len()).filter(|i| !selected[*i]);
        let Some(victim) = tried.find(|i| distributions.iter().all(|d| d.is_more_even_without(*i))) else { break };
        selected[victim] = true;
        for distribution in &mut distributions {
            distribution.remove(victim);
        }
        victims.push(placed[victim].id.clone());
    }
    let rest = placed.iter().enumerate().filter(|(i, _)| !selected[*i]).map(|(_, instance)| instance.id.clone());
    victims.extend(rest.take(count - victims.len()));
    victims
}

/// How the placed candidates spread over the values of one `GROUP_BY` field.
struct Distribution {
    /// The group of each candidate.
    group_of: Vec<usize>,
    /// Candidates per group, without those already selected (a group may become empty).
    sizes: Vec<usize>,
    /// The difference before any selection.
    initial: usize,
}

impl Distribution {
    fn new(field: &str, placed: &[&Instance]) -> Self {
        let mut index: BTreeMap<Option<&str>, usize> = BTreeMap::new();
        let mut group_of = Vec::with_capacity(placed.len());
        let mut sizes: Vec<usize> = Vec::new();
        for instance in placed {
            let value = instance.task.as_ref().and_then(|t| task_field(field, t));
            let next = index.len();
            let group = *index.entry(value).or_insert(next);
            if group == sizes.len() {
                sizes.push(0);
            }
            sizes[group] += 1;
            group_of.push(group);
        }
        let mut distribution = Self { group_of, sizes, initial: 0 };
        distribution.initial = distribution.difference();
        distribution
    }

    fn spread(sizes: impl Iterator<Item = usize> + Clone) -> usize {
        let max = sizes.clone().max().unwrap_or(0);
        let min = sizes.min().unwrap_or(0);
        max - min
    }

    fn difference(&self) -> usize {
        Self::spread(self.sizes.iter().copied())
    }

    fn size_of(&self, candidate: usize) -> usize {
        self.sizes[self.group_of[candidate]]
    }

    /// The size of the largest groups, unless every group has the same size.
    fn largest_uneven(&self) -> Option<usize> {
        (self.difference() > 0).then(|| self.sizes.iter().copied().max().unwrap_or(0))
    }

    /// Removing `candidate` too leaves a difference of at most 1, or less than at the start.
    fn is_more_even_without(&self, candidate: usize) -> bool {
        let group = self.group_of[candidate];
        let sizes =
            self.sizes.iter().enumerate().map(|(g, size)| if g == group { size.saturating_sub(1) } else { *size });
        let after = Self::spread(sizes);
        after <= 1 || self.initial > after
    }

    fn remove(&mut self, candidate: usize) {
        let group = self.group_of[candidate];
        self.sizes[group] = self.sizes[group].saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::instance::{Goal, Task};
    use crate::core::run_spec::{AppId, Constraint};
    use crate::core::time::Timestamp;
    use mesos_api::{AgentId, TaskId};

    fn instance(name: &str, condition: Condition, started: i64) -> Instance {
        Instance {
            id: InstanceId::parse(&format!("a.instance-{name}")).expect("id"),
            app_id: AppId::new("/a"),
            run_spec_version: Timestamp::from_millis(0),
            goal: Goal::Running,
            condition,
            condition_since: Timestamp::from_millis(started),
            incarnation: 1,
            task: Some(Task {
                id: TaskId::new(name),
                agent_id: AgentId::new("agent"),
                hostname: "host".into(),
                host_ports: vec![],
                staged_at: Timestamp::from_millis(started),
                started_at: (condition == Condition::Running).then(|| Timestamp::from_millis(started)),
                mesos_state: None,
                healthy: None,
                agent_ip: None,
                ip_addresses: Vec::new(),
                attributes: vec![],
                region: None,
                zone: None,
                containers: Vec::new(),
            }),
            unreachable_since: None,
            role: "*".into(),
        }
    }

    #[test]
    fn orders_by_condition_then_kill_selection() {
        let all = [
            instance("running-old", Condition::Running, 100),
            instance("running-young", Condition::Running, 300),
            instance("staging", Condition::Staging, 200),
            instance("unreachable", Condition::Unreachable, 50),
            instance("starting", Condition::Starting, 250),
        ];
        let refs: Vec<&Instance> = all.iter().collect();
        let names = |ids: Vec<InstanceId>| -> Vec<String> {
            ids.iter().map(|id| id.as_str().trim_start_matches("a.instance-").to_string()).collect()
        };
        assert_eq!(
            names(select_for_kill(&refs, 5, KillSelection::YoungestFirst)),
            ["unreachable", "staging", "starting", "running-young", "running-old"]
        );
        assert_eq!(names(select_for_kill(&refs, 5, KillSelection::OldestFirst))[3..], ["running-old", "running-young"]);
        assert_eq!(names(select_for_kill(&refs[..2], 1, KillSelection::YoungestFirst)), ["running-young"]);
        assert_eq!(names(select_for_kill(&refs[..2], 1, KillSelection::OldestFirst)), ["running-old"]);
    }

    #[test]
    fn the_first_few_are_the_full_orders_first_few() {
        let conditions = [Condition::Running, Condition::Staging, Condition::Starting, Condition::Unreachable];
        // Equal start times and conditions among them: the id decides.
        let all: Vec<Instance> = (0..60)
            .map(|i| instance(&format!("i{:02}", (i * 37) % 60), conditions[i % 4], (i as i64 * 7) % 11))
            .collect();
        let refs: Vec<&Instance> = all.iter().collect();
        for selection in [KillSelection::YoungestFirst, KillSelection::OldestFirst] {
            let mut sorted = refs.clone();
            sorted.sort_by(|a, b| kill_order(a, b, selection));
            let full: Vec<InstanceId> = sorted.iter().map(|i| i.id.clone()).collect();
            for count in [0, 1, 2, 5, 30, 59, 60, 61] {
                assert_eq!(select_for_kill(&refs, count, selection), full[..count.min(60)], "{count}");
            }
        }
    }

    /// A running instance on `host`, in `rack` (an agent attribute) when given.
    fn placed(name: &str, host: &str, rack: Option<&str>, started: i64) -> Instance {
        let mut instance = instance(name, Condition::Running, started);
        if let Some(task) = instance.task.as_mut() {
            task.hostname = host.into();
            task.attributes = rack.map(|r| vec![("rack".to_string(), r.to_string())]).unwrap_or_default();
        }
        instance
    }

    fn scheduled(name: &str) -> Instance {
        Instance { task: None, ..instance(name, Condition::Scheduled, 500) }
    }

    fn spec_with(constraints: &[(&str, ConstraintOperator)], selection: KillSelection) -> RunSpec {
        let mut spec = RunSpec::new(AppId::new("/a"), Timestamp::from_millis(0));
        spec.kill_selection = selection;
        spec.constraints = constraints
            .iter()
            .map(|(field, operator)| Constraint { field: field.to_string(), operator: *operator, value: None })
            .collect();
        spec
    }

    fn names(ids: Vec<InstanceId>) -> Vec<String> {
        ids.iter().map(|id| id.as_str().trim_start_matches("a.instance-").to_string()).collect()
    }

    #[test]
    fn group_by_scale_down_takes_the_largest_groups_first() {
        let all = [
            placed("r1-old", "h1", Some("r1"), 100),
            placed("r1-mid", "h2", Some("r1"), 200),
            placed("r1-new", "h3", Some("r1"), 300),
            placed("r2-newest", "h4", Some("r2"), 400),
            scheduled("waiting"),
        ];
        let refs: Vec<&Instance> = all.iter().collect();
        let youngest = spec_with(&[("rack", ConstraintOperator::GroupBy)], KillSelection::YoungestFirst);
        // The plain order would take the only instance in r2.
        assert_eq!(names(select_for_kill(&refs, 2, KillSelection::YoungestFirst)), ["waiting", "r2-newest"]);
        assert_eq!(names(select_for_kill_balanced(&refs, 1, &youngest)), ["waiting"]);
        assert_eq!(names(select_for_kill_balanced(&refs, 2, &youngest)), ["waiting", "r1-new"]);
        assert_eq!(names(select_for_kill_balanced(&refs, 3, &youngest)), ["waiting", "r1-new", "r1-mid"]);
        // Once even, the kill order decides.
        assert_eq!(names(select_for_kill_balanced(&refs, 4, &youngest)), ["waiting", "r1-new", "r1-mid", "r2-newest"]);
        assert_eq!(names(select_for_kill_balanced(&refs, 5, &youngest)).len(), 5);
        let oldest = spec_with(&[("rack", ConstraintOperator::GroupBy)], KillSelection::OldestFirst);
        assert_eq!(names(select_for_kill_balanced(&refs, 2, &oldest)), ["waiting", "r1-old"]);
        // By hostname every group has one instance: the plain order.
        let by_host = spec_with(&[("hostname", ConstraintOperator::GroupBy)], KillSelection::YoungestFirst);
        assert_eq!(names(select_for_kill_balanced(&refs, 2, &by_host)), ["waiting", "r2-newest"]);
        // Instances on agents without the attribute form a group of their own.
        let mixed =
            [placed("bare-1", "h5", None, 10), placed("bare-2", "h6", None, 20), placed("r1", "h1", Some("r1"), 30)];
        let refs: Vec<&Instance> = mixed.iter().collect();
        assert_eq!(names(select_for_kill_balanced(&refs, 1, &youngest)), ["bare-2"]);
    }

    #[test]
    fn every_group_by_distribution_must_stay_even() {
        // Racks r1 (hosts a, a, b) and r2 (host c).
        let all = [
            placed("a-old", "a", Some("r1"), 100),
            placed("a-young", "a", Some("r1"), 200),
            placed("b", "b", Some("r1"), 300),
            placed("c", "c", Some("r2"), 400),
        ];
        let refs: Vec<&Instance> = all.iter().collect();
        let spec = spec_with(
            &[("rack", ConstraintOperator::GroupBy), ("hostname", ConstraintOperator::GroupBy)],
            KillSelection::YoungestFirst,
        );
        // r1 is the largest rack; of its instances `b` would empty host b (hosts 2/0/1), so the
        // younger one on host a goes.
        assert_eq!(names(select_for_kill_balanced(&refs, 1, &spec)), ["a-young"]);
        assert_eq!(names(select_for_kill(&refs, 1, KillSelection::YoungestFirst)), ["c"]);
    }

    #[test]
    fn without_group_by_the_balanced_order_is_the_plain_one() {
        let all = [
            placed("one", "h1", Some("r1"), 100),
            placed("two", "h1", Some("r1"), 200),
            placed("three", "h2", Some("r2"), 300),
            instance("staging", Condition::Staging, 50),
            scheduled("waiting"),
        ];
        let refs: Vec<&Instance> = all.iter().collect();
        for selection in [KillSelection::YoungestFirst, KillSelection::OldestFirst] {
            let spec = spec_with(&[("hostname", ConstraintOperator::Unique)], selection);
            for count in 0..=all.len() {
                assert_eq!(select_for_kill_balanced(&refs, count, &spec), select_for_kill(&refs, count, selection));
            }
        }
    }
}
