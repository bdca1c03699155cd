//! The Mesos calls the core's commands stand for, and repairs of calls that failed on their way
//! to the master.

use crate::core::Command;
use mesos_api::scheduler::{
    Accept, Acknowledge, Call, CallType, Decline, Kill, Launch, LaunchGroup, Operation, OperationType, Reconcile,
    ReconcileTask,
};
use mesos_api::{Filters, FrameworkId, KillPolicy, TaskGroupInfo};

/// The scheduler call `command` stands for, made by the framework `framework_id`; `None` for
/// the commands that are the shell's own work (persisting, publishing, probing).
pub fn mesos_call(framework_id: Option<&FrameworkId>, command: Command) -> Option<Call> {
    let new = |kind| Call::new(kind, framework_id.cloned());
    let call = match command {
        Command::Persist { .. } | Command::Publish(_) | Command::Probe { .. } | Command::ReadinessProbe { .. } => {
            return None;
        }
        Command::Accept { offer_ids, task_infos, task_groups, refuse_seconds } => {
            let mut call = new(CallType::Accept);
            let launch = (!task_infos.is_empty()).then_some(Operation {
                kind: OperationType::Launch,
                id: None,
                launch: Some(Launch { task_infos }),
                launch_group: None,
            });
            let groups = task_groups.into_iter().map(|(executor, tasks)| Operation {
                kind: OperationType::LaunchGroup,
                id: None,
                launch: None,
                launch_group: Some(LaunchGroup { executor, task_group: TaskGroupInfo { tasks } }),
            });
            call.accept = Some(Accept {
                offer_ids,
                operations: launch.into_iter().chain(groups).collect(),
                filters: Some(Filters { refuse_seconds: Some(refuse_seconds) }),
            });
            call
        }
        Command::Decline { offer_ids, refuse_seconds } => {
            let mut call = new(CallType::Decline);
            call.decline = Some(Decline { offer_ids, filters: Some(Filters { refuse_seconds: Some(refuse_seconds) }) });
            call
        }
        Command::Kill { task_id, agent_id, grace } => {
            let mut call = new(CallType::Kill);
            call.kill = Some(Kill {
                task_id,
                agent_id,
                kill_policy: grace.map(|g| KillPolicy {
                    grace_period: Some(mesos_api::DurationInfo::from_secs_f64(g.as_secs_f64())),
                }),
            });
            call
        }
        Command::Reconcile { tasks } => {
            let mut call = new(CallType::Reconcile);
            call.reconcile = Some(Reconcile {
                tasks: tasks.into_iter().map(|(task_id, agent_id)| ReconcileTask { task_id, agent_id }).collect(),
            });
            call
        }
        Command::Revive => new(CallType::Revive),
        Command::Suppress => new(CallType::Suppress),
        Command::Acknowledge { agent_id, task_id, uuid } => {
            let mut call = new(CallType::Acknowledge);
            call.acknowledge = Some(Acknowledge { agent_id, task_id, uuid });
            call
        }
    };
    Some(call)
}

/// The DECLINE that repairs a failed ACCEPT or DECLINE call, if `call` is one.
///
/// Either may have failed before the master got it. Its offers then stay outstanding, and the
/// master offers their resources to nobody else for as long as the subscription lasts (Mesos has
/// no `--offer_timeout` by default), so the apps that wait for them starve. Declining the offers
/// (again) gives them back; the master ignores a DECLINE of offers it no longer holds (the call
/// did arrive after all, or the offer is gone), so repeating it is safe. An ACCEPT that did not
/// arrive leaves its instances Provisioned until their launch confirmation times out.
///
/// Found by the deterministic simulation (crates/sim).
pub fn redecline(call: &Call) -> Option<Call> {
    let (offer_ids, filters) = match call.kind? {
        CallType::Accept => call.accept.as_ref().map(|a| (a.offer_ids.clone(), a.filters))?,
        CallType::Decline => call.decline.as_ref().map(|d| (d.offer_ids.clone(), d.filters))?,
        _ => return None,
    };
    if offer_ids.is_empty() {
        return None;
    }
    let mut decline = Call::new(CallType::Decline, call.framework_id.clone());
    decline.decline = Some(Decline { offer_ids, filters });
    Some(decline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::scheduler::{Accept, Kill};
    use mesos_api::{Filters, FrameworkId, OfferId, TaskId};

    fn framework() -> Option<FrameworkId> {
        Some(FrameworkId::new("fw"))
    }

    #[test]
    fn a_failed_accept_or_decline_is_repaired_by_declining_its_offers() {
        let filters = Some(Filters { refuse_seconds: Some(5.0) });
        let mut accept = Call::new(CallType::Accept, framework());
        accept.accept =
            Some(Accept { offer_ids: vec![OfferId::new("o1"), OfferId::new("o2")], operations: vec![], filters });
        let repair = redecline(&accept).expect("a decline");
        assert_eq!(repair.kind, Some(CallType::Decline));
        assert_eq!(repair.framework_id, framework());
        let decline = repair.decline.clone().expect("decline");
        assert_eq!(decline.offer_ids, vec![OfferId::new("o1"), OfferId::new("o2")]);
        assert_eq!(decline.filters, filters);
        // A failed DECLINE is sent again as it was.
        assert_eq!(redecline(&repair), Some(repair));
    }

    #[test]
    fn other_calls_need_no_repair_here() {
        let mut kill = Call::new(CallType::Kill, framework());
        kill.kill = Some(Kill { task_id: TaskId::new("t"), agent_id: None, kill_policy: None });
        assert_eq!(redecline(&kill), None);
        assert_eq!(redecline(&Call::new(CallType::Revive, framework())), None);
        let mut empty = Call::new(CallType::Decline, framework());
        empty.decline = Some(Decline { offer_ids: vec![], filters: None });
        assert_eq!(redecline(&empty), None);
    }

    #[test]
    fn commands_become_the_calls_they_stand_for_and_shell_work_is_no_call() {
        let kill = Command::Kill {
            task_id: TaskId::new("t"),
            agent_id: None,
            grace: Some(std::time::Duration::from_millis(2500)),
        };
        let call = mesos_call(framework().as_ref(), kill).expect("a KILL");
        assert_eq!(call.kind, Some(CallType::Kill));
        assert_eq!(call.framework_id, framework());
        let policy = call.kill.and_then(|k| k.kill_policy).and_then(|p| p.grace_period).expect("grace period");
        assert_eq!(policy, mesos_api::DurationInfo::from_secs_f64(2.5));

        let decline = Command::Decline { offer_ids: vec![OfferId::new("o")], refuse_seconds: 7.0 };
        let call = mesos_call(None, decline).expect("a DECLINE");
        assert_eq!((call.kind, call.framework_id), (Some(CallType::Decline), None));
        assert_eq!(call.decline.and_then(|d| d.filters).and_then(|f| f.refuse_seconds), Some(7.0));
        assert_eq!(mesos_call(framework().as_ref(), Command::Suppress).map(|c| c.kind), Some(Some(CallType::Suppress)));

        let persist = Command::Persist { write_id: crate::core::WriteId(1), records: vec![] };
        assert_eq!(mesos_call(framework().as_ref(), persist), None);
    }
}
