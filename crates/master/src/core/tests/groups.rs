//! LAUNCH_GROUP: validated as a whole, one RUN_TASK_GROUP, the executor's resources held while
//! a task of it has not ended (also after a master restart, from the agent's report).

use super::*;

fn group_task(offer: &Offer, id: &str, resources: &str) -> serde_json::Value {
    serde_json::json!({
        "name": id, "task_id": {"value": id}, "agent_id": offer.agent_id,
        "resources": ResourceSet::parse_text(resources).expect("res").to_wire(),
        "command": {"value": "sleep 100"},
    })
}

fn executor(id: &str) -> serde_json::Value {
    serde_json::json!({"executor_id": {"value": id}, "type": "DEFAULT",
        "resources": ResourceSet::parse_text("cpus:0.5;mem:64").expect("res").to_wire()})
}

fn launch_group(fw: &FrameworkId, offer: &Offer, executor: serde_json::Value, tasks: Vec<serde_json::Value>) -> Call {
    call(serde_json::json!({"type": "ACCEPT", "framework_id": fw, "accept": {
        "offer_ids": [offer.id],
        "operations": [{"type": "LAUNCH_GROUP", "launch_group": {"executor": executor, "task_group": {"tasks": tasks}}}],
        "filters": {"refuse_seconds": 0.0}}}))
}

fn update(h: &mut Harness, fw: &FrameworkId, task: &str, state: TaskState) {
    let mut status = TaskStatus::new(task.into(), state);
    status.executor_id = Some("E".into());
    let update = StatusUpdate { framework_id: fw.clone(), status, latest_state: state };
    h.core.agent_call(h.now, Some("a1"), AgentCall::StatusUpdate { status_update: update }).expect("update");
}

fn cpus_used(h: &Harness, agent: &AgentId) -> f64 {
    h.core.used_by_agent().get(agent).map_or(0.0, |u| u.scalar("cpus"))
}

#[test]
fn a_group_is_sent_whole_and_its_executor_holds_resources_until_its_last_task_ends() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    let tasks = vec![group_task(&offer, "t1", "cpus:1;mem:128"), group_task(&offer, "t2", "cpus:1;mem:128")];
    h.core.call(h.now, Some("s1"), launch_group(&fw, &offer, executor("E"), tasks)).expect("accepted");
    let sent: Vec<AgentEvent> = h
        .core
        .take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::Agent { event, .. } => Some(event),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "one RUN_TASK_GROUP: {sent:?}");
    let AgentEvent::RunTaskGroup { executor, task_group, .. } = &sent[0] else { panic!("{sent:?}") };
    assert_eq!(executor.framework_id.as_ref(), Some(&fw), "the master fills in the framework id");
    assert_eq!(task_group.tasks.len(), 2);
    let entry = h.core.frameworks().next().expect("fw");
    for t in ["t1", "t2"] {
        assert_eq!(entry.tasks[&TaskId::new(t)].task.executor_id.as_ref().map(ExecutorId::as_str), Some("E"));
    }
    assert_eq!(cpus_used(&h, &offer.agent_id), 2.5, "both tasks and the executor");
    assert_eq!(entry.used().scalar("cpus"), 2.5, "DRF counts the executor too");
    let live: Vec<(&AgentId, &str)> = entry.live_executors().map(|((a, e), _)| (a, e.as_str())).collect();
    assert_eq!(live, vec![(&offer.agent_id, "E")]);
    // The rest of the offer comes back; the executor's share is not in it.
    let offers = h.offers("s1");
    assert_eq!(ResourceSet::from_wire(&offers[0].resources).expect("r").scalar("cpus"), 1.5);
    h.core
        .call(
            h.now,
            Some("s1"),
            call(serde_json::json!({"type": "DECLINE", "framework_id": fw,
        "decline": {"offer_ids": [offers[0].id], "filters": {"refuse_seconds": 0.0}}})),
        )
        .expect("decline");
    // One task ends: the executor still holds its resources.
    update(&mut h, &fw, "t1", TaskState::Finished);
    assert_eq!(cpus_used(&h, &offer.agent_id), 1.5);
    // The last one ends: everything is free, and offered again.
    update(&mut h, &fw, "t2", TaskState::Killed);
    assert_eq!(cpus_used(&h, &offer.agent_id), 0.0);
    assert!(h.core.frameworks().next().expect("fw").executors.is_empty());
    h.core.take_outputs();
    let offers = h.offers("s1");
    assert_eq!(ResourceSet::from_wire(&offers[0].resources).expect("r").scalar("cpus"), 4.0);
}

#[test]
fn an_invalid_group_is_task_error_for_every_task_and_nothing_is_launched() {
    let docker = |offer: &Offer| {
        let mut t = group_task(offer, "t2", "cpus:1;mem:128");
        t["container"] = serde_json::json!({"type": "DOCKER", "docker": {"image": "busybox"}});
        t
    };
    let mut too_big = executor("E");
    too_big["resources"] = ResourceSet::parse_text("cpus:3.5")
        .expect("r")
        .to_wire()
        .into_iter()
        .map(|r| serde_json::to_value(r).expect("r"))
        .collect();
    let mut custom = executor("E");
    custom["type"] = serde_json::json!("CUSTOM");
    type Tasks<'a> = Box<dyn Fn(&Offer) -> Vec<serde_json::Value> + 'a>;
    let cases: Vec<(&str, serde_json::Value, Tasks<'_>)> = vec![
        (
            "Docker ContainerInfo is not supported on the task",
            executor("E"),
            Box::new(|o| vec![group_task(o, "t1", "cpus:1;mem:128"), docker(o)]),
        ),
        (
            "Duplicate task 't1'",
            executor("E"),
            Box::new(|o| vec![group_task(o, "t1", "cpus:1;mem:128"), group_task(o, "t1", "cpus:1;mem:128")]),
        ),
        (
            "Task group uses more resources",
            too_big,
            Box::new(|o| vec![group_task(o, "t1", "cpus:0.5;mem:128"), group_task(o, "t2", "cpus:0.5;mem:128")]),
        ),
        (
            "'DEFAULT' executor",
            custom,
            Box::new(|o| vec![group_task(o, "t1", "cpus:1;mem:128"), group_task(o, "t2", "cpus:1;mem:128")]),
        ),
    ];
    for (expected, executor, tasks) in cases {
        let mut h = Harness::new();
        h.agent("a1", "cpus:4;mem:1024");
        let fw = h.subscribe("s1", framework_info("fw", &[]));
        let offer = h.offers("s1").remove(0);
        let tasks = tasks(&offer);
        let n = tasks.len();
        h.core.call(h.now, Some("s1"), launch_group(&fw, &offer, executor, tasks)).expect("accepted");
        let outs = h.core.take_outputs();
        assert!(!outs.iter().any(|o| matches!(o, Output::Agent { .. })), "{expected}: nothing launched");
        let events: Vec<Event> = outs
            .into_iter()
            .filter_map(|o| match o {
                Output::Framework { event, .. } => Some(event),
                _ => None,
            })
            .collect();
        let u = updates(&events);
        assert_eq!(u.len(), n, "{expected}: an update per task");
        for s in u {
            assert_eq!((s.state, s.reason), (TaskState::Error, Some(Reason::TaskGroupInvalid)), "{expected}");
            assert!(s.message.as_deref().unwrap_or_default().contains(expected), "{expected}: {:?}", s.message);
        }
        assert!(h.core.frameworks().next().expect("fw").tasks.is_empty(), "{expected}");
        assert_eq!(cpus_used(&h, &offer.agent_id), 0.0, "{expected}");
    }
}

#[test]
fn a_restarted_master_counts_the_executors_an_agent_reports() {
    let mut h = Harness::new();
    let info = framework_info("fw", &[]);
    let fw = FrameworkId::new("f1");
    let task = |id: &str| {
        let mut task: Task = serde_json::from_value(serde_json::json!({
            "name": id, "task_id": {"value": id}, "framework_id": {"value": "f1"}, "executor_id": {"value": "E"},
            "agent_id": {"value": "A1"}, "state": "TASK_RUNNING",
            "resources": ResourceSet::parse_text("cpus:1;mem:128").expect("r").to_wire(),
        }))
        .expect("task");
        task.framework_id = fw.clone();
        ReportedTask { task, framework: info.clone() }
    };
    let mut executor: ExecutorInfo = serde_json::from_value(executor("E")).expect("executor");
    executor.framework_id = Some(fw.clone());
    let reg = Register {
        agent_info: AgentInfo {
            hostname: "host".into(),
            port: 5051,
            resources: ResourceSet::parse_text("cpus:4;mem:1024").expect("r").to_wire(),
            attributes: vec![],
            id: None,
            domain: None,
        },
        agent_id: Some(AgentId::new("A1")),
        tasks: vec![task("t1"), task("t2")],
        executors: vec![mesos_api::agent::ReportedExecutor { framework_id: fw.clone(), executor }],
        endpoint: "127.0.0.1:5051".into(),
    };
    h.core.agent_register(h.now, "a1".into(), reg);
    h.store();
    assert_eq!(cpus_used(&h, &AgentId::new("A1")), 2.5);
    update(&mut h, &fw, "t1", TaskState::Failed);
    update(&mut h, &fw, "t2", TaskState::Killed);
    assert_eq!(cpus_used(&h, &AgentId::new("A1")), 0.0);
}
