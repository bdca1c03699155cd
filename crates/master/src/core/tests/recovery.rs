//! The registry: admissions made durable before they are answered, recovery after a restart,
//! and upstream's reconciliation rules while agents are expected back.

use super::*;

fn agent_info(hostname: &str) -> AgentInfo {
    AgentInfo {
        hostname: hostname.into(),
        port: 5051,
        resources: ResourceSet::parse_text("cpus:4;mem:1024").expect("resources").to_wire(),
        attributes: vec![],
        id: None,
        domain: None,
    }
}

fn register(id: Option<&str>, hostname: &str, tasks: Vec<ReportedTask>) -> Register {
    Register {
        agent_info: agent_info(hostname),
        agent_id: id.map(AgentId::new),
        tasks,
        executors: vec![],
        endpoint: "127.0.0.1:5051".into(),
    }
}

/// A registry that admitted agents `ids` (hostname `host-<id>`), as a restarted master loads it.
fn registry_of(ids: &[&str]) -> Registry {
    let mut registry = Registry::default();
    for id in ids {
        let mut info = agent_info(&format!("host-{id}"));
        info.id = Some(AgentId::new(*id));
        registry.admit(AdmittedAgent { info, endpoint: "127.0.0.1:5051".into() });
    }
    registry
}

/// A running task of `fw` on agent `agent`, as the agent reports it.
fn reported(fw: &FrameworkId, info: &FrameworkInfo, agent: &str, task_id: &str) -> ReportedTask {
    let task = Task {
        name: task_id.into(),
        task_id: TaskId::new(task_id),
        framework_id: fw.clone(),
        executor_id: Some(ExecutorId::new(task_id)),
        agent_id: AgentId::new(agent),
        state: TaskState::Running,
        resources: ResourceSet::parse_text("cpus:1;mem:128").expect("resources").to_wire(),
        statuses: vec![],
        status_update_state: Some(TaskState::Running),
        status_update_uuid: None,
        labels: None,
        discovery: None,
        container: None,
        health_check: None,
        kill_policy: None,
        user: Some("root".into()),
    };
    let mut info = info.clone();
    info.id = Some(fw.clone());
    ReportedTask { task, framework: info }
}

fn reconcile(h: &mut Harness, stream: &str, fw: &FrameworkId, tasks: serde_json::Value) {
    let call = call(serde_json::json!({"type": "RECONCILE", "framework_id": fw, "reconcile": {"tasks": tasks}}));
    h.core.call(h.now, Some(stream), call).expect("reconcile accepted");
}

fn registered(outputs: &[Output], stream: &str) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::Agent { stream: s, event: AgentEvent::Registered { .. } } if s == stream))
}

/// A master restarted with agents `ids` in its registry, and a framework subscribed on "s1".
fn restarted(ids: &[&str], caps: &[&str]) -> (Harness, FrameworkId, FrameworkInfo) {
    let mut h = Harness::new();
    h.core.recover(h.now, registry_of(ids));
    let info = framework_info("fw", caps);
    let fw = h.subscribe("s1", info.clone());
    h.core.take_outputs();
    (h, fw, info)
}

#[test]
fn a_new_agent_is_answered_only_once_its_admission_is_durable() {
    let mut h = Harness::new();
    let id = h.core.agent_register(h.now, "a1".into(), register(None, "h1", vec![]));
    assert!(!registered(&h.core.take_outputs(), "a1"), "REGISTERED before the registry was stored");
    assert_eq!(h.core.agents().count(), 0, "not active before it is durable");
    assert_eq!(h.core.registry_version(), 1);
    assert!(h.core.registry().admitted.contains_key(&id));
    // A framework gets no offers from it meanwhile.
    h.subscribe("s1", framework_info("fw", &[]));
    assert!(h.offers("s1").is_empty());

    h.core.registry_stored(h.now, 1);
    assert!(registered(&h.core.take_outputs(), "a1"));
    assert_eq!(h.core.agents().filter(|a| a.state == AgentState::Active).count(), 1);
    assert_eq!(h.offers("s1").len(), 1);
}

#[test]
fn an_agent_the_registry_holds_as_it_is_is_answered_at_once_and_a_changed_one_waits() {
    let (mut h, _, _) = restarted(&["a", "b"], &[]);
    h.core.agent_register(h.now, "sa".into(), register(Some("a"), "host-a", vec![]));
    assert!(registered(&h.core.take_outputs(), "sa"));
    assert_eq!(h.core.registry_version(), 0, "nothing to write");
    assert_eq!(h.core.recovered_agents().count(), 1, "b is still expected");

    h.core.agent_register(h.now, "sb".into(), register(Some("b"), "renamed", vec![]));
    assert!(!registered(&h.core.take_outputs(), "sb"));
    assert_eq!(h.core.recovered_agents().count(), 1, "b is expected until its registration completes");
    h.store();
    assert!(registered(&h.core.take_outputs(), "sb"));
    assert_eq!(h.core.recovered_agents().count(), 0);
    assert_eq!(h.core.registry().admitted[&AgentId::new("b")].info.hostname, "renamed");
}

#[test]
fn a_registration_waits_for_the_admission_an_earlier_register_made() {
    let mut h = Harness::new();
    h.core.agent_register(h.now, "a1".into(), register(None, "h1", vec![]));
    // The same agent registers again before the first write is durable: the registry already
    // holds it, but not durably, so the second registration waits too (the first is dropped).
    let id = h.core.registry().admitted.keys().next().expect("admitted").clone();
    h.core.agent_register(h.now, "a1b".into(), register(Some(id.as_str()), "h1", vec![]));
    let outputs = h.core.take_outputs();
    assert!(!registered(&outputs, "a1b"));
    assert!(outputs.contains(&Output::CloseAgent { stream: "a1".into() }));
    h.store();
    let outputs = h.core.take_outputs();
    assert!(registered(&outputs, "a1b") && !registered(&outputs, "a1"));
}

#[test]
fn explicit_reconciliation_is_silent_for_tasks_on_agents_expected_back() {
    for caps in [vec!["PARTITION_AWARE"], vec![]] {
        let (mut h, fw, _) = restarted(&["a"], &caps);
        // On the expected agent, or on no agent given while any agent is expected: no answer.
        reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "t1"}, "agent_id": {"value": "a"}}]));
        reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "t2"}}]));
        // Implicit reconciliation answers what the master knows: nothing.
        reconcile(&mut h, "s1", &fw, serde_json::json!([]));
        assert!(updates(&h.framework_events("s1")).is_empty());
        // An agent the master never knew gets an answer.
        reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "t3"}, "agent_id": {"value": "x"}}]));
        let events = h.framework_events("s1");
        let u = updates(&events);
        assert_eq!(u.len(), 1);
        let expected = if caps.is_empty() { TaskState::Lost } else { TaskState::Unknown };
        assert_eq!((u[0].state, u[0].message.as_deref()), (expected, Some("Reconciliation: Task is unknown")));
        assert_eq!(h.core.counters.messages_reconcile_tasks, 4);
    }
}

#[test]
fn a_returning_agent_makes_its_tasks_known_and_reconciliation_answers_again() {
    let (mut h, fw, info) = restarted(&["a"], &["PARTITION_AWARE"]);
    let tasks = vec![reported(&fw, &info, "a", "t1")];
    h.core.agent_register(h.now, "sa".into(), register(Some("a"), "host-a", tasks));
    assert!(registered(&h.core.take_outputs(), "sa"));
    reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "t1"}, "agent_id": {"value": "a"}}]));
    // With no agent expected, an unknown task without an agent is answered too.
    reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "t2"}}]));
    // And an unknown task on the registered agent is gone.
    reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "t3"}, "agent_id": {"value": "a"}}]));
    let events = h.framework_events("s1");
    let answers: Vec<(&str, TaskState)> = updates(&events).iter().map(|s| (s.task_id.as_str(), s.state)).collect();
    assert_eq!(answers, [("t1", TaskState::Running), ("t2", TaskState::Unknown), ("t3", TaskState::Gone)]);
}

#[test]
fn agents_not_back_in_time_are_marked_unreachable_durably_and_reconciled_as_such() {
    for (caps, expected) in [(vec!["PARTITION_AWARE"], TaskState::Unreachable), (vec![], TaskState::Lost)] {
        let (mut h, fw, info) = restarted(&["a", "b"], &caps);
        let tasks = vec![reported(&fw, &info, "b", "tb")];
        h.core.agent_register(h.now, "sb".into(), register(Some("b"), "host-b", tasks));
        h.live_agents.push("sb".into());
        h.core.take_outputs();

        // Just before the timeout nothing happens; at it, `a` is marked unreachable.
        h.now.mono += 10 * SEC - Duration::from_millis(1);
        h.core.tick(h.now);
        assert_eq!(h.core.recovered_agents().count(), 1);
        h.now.mono += Duration::from_millis(1);
        h.now.wall += 10.0;
        assert!(h.core.next_wakeup() <= h.now.mono);
        h.core.tick(h.now);
        assert_eq!(h.core.recovered_agents().count(), 0);
        assert!(h.core.registry().unreachable.contains_key(&AgentId::new("a")));
        assert!(!h.core.registry().admitted.contains_key(&AgentId::new("a")));
        // Frameworks hear of it once that is durable: FAILURE for the agent, no task updates
        // (the master knows none of its tasks).
        let before: Vec<Event> = h.framework_events("s1");
        assert!(!before.iter().any(|e| matches!(e, Event::Failure { .. })), "{before:?}");
        h.store();
        let after = h.framework_events("s1");
        let failure = Failure { agent_id: Some(AgentId::new("a")), executor_id: None, status: None };
        assert_eq!(after, vec![Event::Failure { failure }]);
        assert_eq!(h.core.counters.recovery_agent_removals, 1);

        reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "ta"}, "agent_id": {"value": "a"}}]));
        let events = h.framework_events("s1");
        let u = updates(&events);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].state, expected);
        assert_eq!(u[0].message.as_deref(), Some("Reconciliation: Task is unreachable"));
        assert_eq!(u[0].unreachable_time, Some(TimeInfo { nanoseconds: (h.now.wall * 1e9) as i64 }));
        // The task on the agent that came back is untouched.
        assert!(h.core.frameworks().next().expect("fw").tasks.contains_key(&TaskId::new("tb")));
    }
}

#[test]
fn an_agent_back_after_it_was_marked_unreachable_gets_its_non_partition_aware_tasks_killed() {
    let (mut h, fw, info) = restarted(&["a"], &[]);
    h.advance(10 * SEC);
    assert!(h.core.registry().unreachable.contains_key(&AgentId::new("a")));
    h.core.take_outputs();
    let tasks = vec![reported(&fw, &info, "a", "t1")];
    h.core.agent_register(h.now, "sa".into(), register(Some("a"), "host-a", tasks));
    assert!(!registered(&h.core.take_outputs(), "sa"), "back from unreachable is a registry change");
    h.store();
    let kill_tasks = h.core.take_outputs().into_iter().find_map(|o| match o {
        Output::Agent { event: AgentEvent::Registered { registered }, .. } => Some(registered.kill_tasks),
        _ => None,
    });
    assert_eq!(kill_tasks, Some(vec![TaskId::new("t1")]), "the framework already saw t1 LOST");
    assert!(h.core.registry().unreachable.is_empty());
    assert!(h.core.registry().admitted.contains_key(&AgentId::new("a")));
}

#[test]
fn an_agent_whose_registration_waits_for_the_registry_is_not_marked_unreachable() {
    let (mut h, _, _) = restarted(&["a"], &[]);
    h.core.agent_register(h.now, "sa".into(), register(Some("a"), "changed", vec![]));
    h.now.mono += 10 * SEC;
    h.core.tick(h.now);
    assert_eq!(h.core.recovered_agents().count(), 1, "waiting for its admission, not lost");
    assert!(h.core.next_wakeup() > h.now.mono, "the deadline moved on instead of spinning");
    h.store();
    assert!(registered(&h.core.take_outputs(), "sa"));
    assert!(h.core.registry().unreachable.is_empty());
}

#[test]
fn updates_about_an_agent_lost_to_missed_pings_wait_for_the_unreachable_mark() {
    let mut h = Harness::new();
    let agent = h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &["PARTITION_AWARE"]));
    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    h.core.take_outputs();
    h.live_agents.clear();
    let version = h.core.registry_version();
    let mut held = Vec::new();
    for _ in 0..10 {
        h.now.mono += Duration::from_millis(500);
        h.core.tick(h.now);
        held.extend(h.framework_events("s1"));
    }
    assert_eq!(h.core.registry_version(), version + 1, "the mark is a registry change");
    assert!(h.core.registry().unreachable.contains_key(&agent));
    assert!(updates(&held).is_empty(), "told before the mark was durable: {held:?}");
    h.store();
    let events = h.framework_events("s1");
    assert_eq!(updates(&events).len(), 1);
    assert_eq!(updates(&events)[0].state, TaskState::Unreachable);
    assert!(events.iter().any(|e| matches!(e, Event::Failure { .. })));
}

#[test]
fn an_agent_marked_gone_is_refused_and_its_tasks_reconcile_as_gone() {
    let mut h = Harness::new();
    let mut registry = Registry::default();
    registry.gone.insert(AgentId::new("g"), 1_700_000_000.0);
    h.core.recover(h.now, registry);
    h.core.agent_register(h.now, "sg".into(), register(Some("g"), "host-g", vec![]));
    let outputs = h.core.take_outputs();
    assert!(outputs.iter().any(|o| matches!(o, Output::Agent { event: AgentEvent::Shutdown { .. }, .. })));
    assert!(outputs.contains(&Output::CloseAgent { stream: "sg".into() }));
    assert_eq!(h.core.agents().count(), 0);
    for (caps, expected) in [(vec!["PARTITION_AWARE"], TaskState::GoneByOperator), (vec![], TaskState::Lost)] {
        let stream = format!("s-{}", caps.len());
        let fw = h.subscribe(&stream, framework_info("fw", &caps));
        reconcile(&mut h, &stream, &fw, serde_json::json!([{"task_id": {"value": "t"}, "agent_id": {"value": "g"}}]));
        let events = h.framework_events(&stream);
        let u = updates(&events);
        assert_eq!((u[0].state, u[0].message.as_deref()), (expected, Some("Reconciliation: Task is gone")));
    }
}

#[test]
fn other_agents_admissions_do_not_hold_back_an_agent_the_registry_already_holds() {
    let (mut h, _, _) = restarted(&["a"], &[]);
    h.core.agent_register(h.now, "sb".into(), register(None, "new", vec![]));
    assert_eq!(h.core.registry_version(), 1, "b's admission is not stored yet");
    h.core.agent_register(h.now, "sa".into(), register(Some("a"), "host-a", vec![]));
    let outputs = h.core.take_outputs();
    assert!(registered(&outputs, "sa") && !registered(&outputs, "sb"));
}

#[test]
fn reconciliation_left_silent_is_answered_when_the_agent_is_back() {
    let (mut h, fw, info) = restarted(&["a", "b"], &["PARTITION_AWARE"]);
    // The framework subscribed to the new leader before the agents came back.
    reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "t1"}, "agent_id": {"value": "a"}}]));
    reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "gone"}, "agent_id": {"value": "a"}}]));
    reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "tb"}, "agent_id": {"value": "b"}}]));
    reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "anywhere"}}]));
    assert!(updates(&h.framework_events("s1")).is_empty());

    // `a` is back with t1: the questions about `a` are answered, the others wait.
    let tasks = vec![reported(&fw, &info, "a", "t1")];
    h.core.agent_register(h.now, "sa".into(), register(Some("a"), "host-a", tasks));
    let events = h.framework_events("s1");
    let answers: Vec<(&str, TaskState)> = updates(&events).iter().map(|s| (s.task_id.as_str(), s.state)).collect();
    assert_eq!(answers, [("gone", TaskState::Gone), ("t1", TaskState::Running)]);
    assert!(updates(&events).iter().all(|s| s.reason == Some(Reason::Reconciliation)));

    // `b` is back too: its task, and the one asked about without an agent (none is expected now).
    let tasks = vec![reported(&fw, &info, "b", "tb")];
    h.core.agent_register(h.now, "sb".into(), register(Some("b"), "host-b", tasks));
    let events = h.framework_events("s1");
    let answers: Vec<(&str, TaskState)> = updates(&events).iter().map(|s| (s.task_id.as_str(), s.state)).collect();
    assert_eq!(answers, [("anywhere", TaskState::Unknown), ("tb", TaskState::Running)]);

    // Answered once only.
    h.advance(SEC);
    assert!(updates(&h.framework_events("s1")).is_empty());
}

#[test]
fn reconciliation_left_silent_is_answered_once_the_missing_agent_is_marked_unreachable_and_durable() {
    let (mut h, fw, _) = restarted(&["a"], &["PARTITION_AWARE"]);
    reconcile(&mut h, "s1", &fw, serde_json::json!([{"task_id": {"value": "ta"}, "agent_id": {"value": "a"}}]));
    assert!(updates(&h.framework_events("s1")).is_empty());
    h.now.mono += 10 * SEC;
    h.core.tick(h.now);
    assert!(h.framework_events("s1").is_empty(), "said before the mark was durable");
    h.store();
    let events = h.framework_events("s1");
    let answers: Vec<(&str, TaskState)> = updates(&events).iter().map(|s| (s.task_id.as_str(), s.state)).collect();
    assert_eq!(answers, [("ta", TaskState::Unreachable)]);
    assert!(events.iter().any(|e| matches!(e, Event::Failure { .. })));
}

#[test]
fn a_core_continuing_an_earlier_terms_ids_hands_out_none_of_them_again() {
    let mut first = Harness::new();
    let agent = first.agent("a1", "cpus:4;mem:1024");
    let fw = first.subscribe("s1", framework_info("fw", &[]));
    let offer = first.offers("s1").remove(0);
    let mut second = Harness::new();
    second.core.continue_ids(first.core.id_counters());
    assert_ne!(second.agent("a1", "cpus:4;mem:1024"), agent);
    assert_ne!(second.subscribe("s1", framework_info("fw", &[])), fw);
    assert_ne!(second.offers("s1").remove(0).id, offer.id);
}
