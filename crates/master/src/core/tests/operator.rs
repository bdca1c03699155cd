//! The operator API's watcher (`crate::operator::Watcher`) over the core: each change is
//! reported once, with upstream's event.

use super::*;
use crate::operator::Watcher;
use mesos_api::operator::MasterEvent;

fn kinds(events: &[MasterEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| serde_json::to_value(e).ok().and_then(|v| v["type"].as_str().map(str::to_string)).unwrap_or_default())
        .collect()
}

#[test]
fn the_watcher_reports_each_change_once() {
    let mut h = Harness::new();
    let mut w = Watcher::new(&h.core);
    assert!(w.observe(&h.core).is_empty());

    let agent = h.agent("a1", "cpus:4;mem:1024");
    assert_eq!(kinds(&w.observe(&h.core)), ["AGENT_ADDED"]);
    let mut info = framework_info("fw", &[]);
    info.checkpoint = false;
    let fw = h.subscribe("s1", info);
    assert_eq!(kinds(&w.observe(&h.core)), ["FRAMEWORK_ADDED"]);
    assert!(w.observe(&h.core).is_empty(), "nothing is reported twice");

    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    let events = w.observe(&h.core);
    assert_eq!(kinds(&events), ["TASK_ADDED"]);
    let MasterEvent::TaskAdded { task_added } = &events[0] else { unreachable!() };
    assert_eq!((task_added.task.task_id.as_str(), task_added.task.state), ("t1", TaskState::Staging));

    // The agent's stream breaks: a framework that does not checkpoint loses the task at
    // once (it goes to the completed tasks in the same step); the agent stays, deactivated.
    h.core.agent_disconnected(h.now, "a1");
    let events = w.observe(&h.core);
    assert_eq!(kinds(&events), ["TASK_UPDATED"]);
    let MasterEvent::TaskUpdated { task_updated } = &events[0] else { unreachable!() };
    assert_eq!((task_updated.state, task_updated.status.state), (TaskState::Lost, TaskState::Lost));
    assert_eq!(task_updated.status.reason, Some(Reason::AgentDisconnected));
    assert_eq!(task_updated.framework_id, fw);

    // The framework goes: FRAMEWORK_UPDATED (disconnected), then FRAMEWORK_REMOVED.
    h.core.framework_disconnected(h.now, "s1");
    assert_eq!(kinds(&w.observe(&h.core)), ["FRAMEWORK_UPDATED"]);
    h.core.remove_framework(h.now, &fw);
    assert_eq!(kinds(&w.observe(&h.core)), ["FRAMEWORK_REMOVED"]);
    assert_eq!(h.core.agents().map(|a| &a.id).collect::<Vec<_>>(), [&agent]);
}
