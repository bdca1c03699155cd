//! Which instances go first when an app has more instances than it wants.
//!
//! Marathon's order: instances sentenced by the API (handled by the caller), instances that
//! rebalance GROUP_BY constraints (FIXME(constraints)), then by condition weight (not yet
//! launched 0, Unreachable 1, Staging 2, Starting 3, Running 4, anything else 5, lower first),
//! ties broken by `killSelection` on the time the instance became active. The instance id is the
//! last tie breaker, so the choice is deterministic.

use super::instance::{Condition, Instance, InstanceId};
use super::run_spec::KillSelection;
use std::cmp::Reverse;

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

/// The first `count` of `candidates` in kill order.
pub(crate) fn select_for_kill(candidates: &[&Instance], count: usize, selection: KillSelection) -> Vec<InstanceId> {
    let mut sorted: Vec<&Instance> = candidates.to_vec();
    sorted.sort_by(|a, b| {
        let by_weight = weight(a.condition).cmp(&weight(b.condition));
        let by_age = match selection {
            KillSelection::YoungestFirst => Reverse(a.active_since()).cmp(&Reverse(b.active_since())),
            KillSelection::OldestFirst => a.active_since().cmp(&b.active_since()),
        };
        by_weight.then(by_age).then_with(|| a.id.cmp(&b.id))
    });
    sorted.into_iter().take(count).map(|i| i.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::instance::{Goal, Task};
    use crate::core::run_spec::AppId;
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
}
