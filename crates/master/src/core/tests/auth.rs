//! Who may act on a framework or an agent (`core::auth`), and status updates from the wrong
//! agent.

use super::*;

fn register(id: Option<&AgentId>) -> Register {
    let info = AgentInfo {
        hostname: "h".into(),
        port: 5051,
        resources: vec![],
        attributes: vec![],
        id: id.cloned(),
        domain: None,
    };
    Register {
        agent_info: info,
        agent_id: id.cloned(),
        tasks: vec![],
        executors: vec![],
        endpoint: "127.0.0.1:5051".into(),
    }
}

#[test]
fn a_framework_is_bound_to_the_principal_that_subscribed_it() {
    let mut h = Harness::new();
    let mut info = framework_info("marathon", &[]);
    h.core.authorize_subscribe(&mut info, Some("marathon")).expect("allowed");
    assert_eq!(info.principal.as_deref(), Some("marathon"), "bound");
    let id = h.subscribe("s1", info);

    // Another principal: neither a takeover nor a claim of the principal.
    let mut takeover = framework_info("evil", &[]);
    takeover.id = Some(id.clone());
    let refused = h.core.authorize_subscribe(&mut takeover.clone(), Some("hostile")).expect_err("refused");
    assert_eq!(refused.status, 403);
    takeover.principal = Some("marathon".into());
    assert_eq!(h.core.authorize_subscribe(&mut takeover.clone(), Some("hostile")).map_err(|r| r.status), Err(403));
    // The owner fails over; without authentication nothing is checked.
    assert!(h.core.authorize_subscribe(&mut takeover.clone(), Some("marathon")).is_ok());
    assert!(h.core.authorize_subscribe(&mut takeover, None).is_ok());

    let teardown = call(serde_json::json!({"type": "TEARDOWN", "framework_id": {"value": id.value}}));
    assert_eq!(h.core.authorize_call(&teardown, Some("hostile")).map_err(|r| r.status), Err(403));
    assert!(h.core.authorize_call(&teardown, Some("marathon")).is_ok());
    assert!(h.core.authorize_call(&teardown, None).is_ok());
}

#[test]
fn a_frameworks_binding_is_durable_before_subscribed_and_outlives_a_restart() {
    let mut h = Harness::new();
    let mut info = framework_info("marathon", &[]);
    h.core.authorize_subscribe(&mut info, Some("marathon")).expect("allowed");
    assert_eq!(h.core.subscribe_as(h.now, "s1".into(), info, Some("marathon".into())), None, "waits");
    assert!(h.framework_events("s1").is_empty(), "no SUBSCRIBED before the binding is durable");
    h.store();
    let events = h.framework_events("s1");
    let Some(Event::Subscribed { subscribed }) = events.first() else { panic!("SUBSCRIBED: {events:?}") };
    let id = subscribed.framework_id.clone();
    assert_eq!(h.core.registry().framework_principals.get(&id).map(String::as_str), Some("marathon"));

    // A new master from the stored registry, before the framework is back.
    let mut restarted = Harness::new();
    restarted.core.recover(restarted.now, h.core.registry().clone());
    let mut takeover = framework_info("evil", &[]);
    takeover.id = Some(id.clone());
    let refused = restarted.core.authorize_subscribe(&mut takeover.clone(), Some("hostile")).expect_err("refused");
    assert_eq!(refused.status, 403);
    let mut back = framework_info("marathon", &[]);
    back.id = Some(id.clone());
    restarted.core.authorize_subscribe(&mut back, Some("marathon")).expect("the owner");
    assert_eq!(
        restarted.core.subscribe_as(restarted.now, "s2".into(), back, Some("marathon".into())),
        Some(id.clone())
    );

    // Removed (torn down): the binding goes.
    let teardown = call(serde_json::json!({"type": "TEARDOWN", "framework_id": {"value": id.value}}));
    restarted.core.call(restarted.now, Some("s2"), teardown).expect("torn down");
    assert!(restarted.core.registry().framework_principals.is_empty());
}

#[test]
fn an_agent_id_is_bound_to_its_principal_in_the_registry() {
    let mut h = Harness::new();
    assert!(h.core.authorize_agent_register(&register(None), Some("agent")).is_ok());
    let id = h.core.agent_register_as(h.now, "a1".into(), register(None), Some("agent".into()));
    h.store();
    assert_eq!(h.core.registry().principals.get(&id).map(String::as_str), Some("agent"));
    let refused = h.core.authorize_agent_register(&register(Some(&id)), Some("hostile")).expect_err("refused");
    assert_eq!(refused.status, 403);
    assert!(h.core.authorize_agent_register(&register(Some(&id)), Some("agent")).is_ok());
    assert_eq!(h.core.authorize_agent_call(Some("a1"), Some("hostile")).map_err(|r| r.status), Err(403));
    assert!(h.core.authorize_agent_call(Some("a1"), Some("agent")).is_ok());
}

#[test]
fn a_status_update_from_another_agent_than_the_tasks_is_dropped() {
    let mut h = Harness::new();
    let _real = h.agent("a1", "cpus:2;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offers = h.offers("s1");
    h.launch("s1", &fw, &offers[0], "t1", "cpus:1;mem:128");
    h.core.take_outputs();
    let _forger = h.agent("a2", "cpus:1;mem:128");
    let forged = mesos_api::agent::StatusUpdate {
        framework_id: fw.clone(),
        status: TaskStatus::new(TaskId::new("t1"), TaskState::Failed),
        latest_state: TaskState::Failed,
    };
    let forged_call = AgentCall::StatusUpdate { status_update: forged.clone() };
    h.core.agent_call(h.now, Some("a2"), forged_call).expect("accepted and dropped");
    assert!(updates(&h.framework_events("s1")).is_empty(), "nothing forwarded");
    assert_eq!(h.core.counters.invalid_status_updates, 1);
    // From its own agent the same update goes through.
    h.core.agent_call(h.now, Some("a1"), AgentCall::StatusUpdate { status_update: forged }).expect("accepted");
    let events = h.framework_events("s1");
    assert_eq!(updates(&events).iter().map(|s| s.state).collect::<Vec<_>>(), [TaskState::Failed]);
}
