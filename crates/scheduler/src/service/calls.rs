//! Repairs of calls that failed on their way to the master.

use mesos_api::scheduler::{Call, CallType, Decline};

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
}
