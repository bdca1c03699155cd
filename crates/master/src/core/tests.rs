use super::*;
use mesos_api::agent::ReportedTask;
use mesos_api::scheduler::Call;

const SEC: Duration = Duration::from_secs(1);

struct Harness {
    core: MasterCore,
    now: Now,
    /// Agent streams that answer pings (all registered through the harness).
    live_agents: Vec<String>,
}

fn config() -> MasterConfig {
    MasterConfig {
        master_info: MasterInfo {
            id: "m".into(),
            ip: 16777343,
            port: 5050,
            pid: "master@127.0.0.1:5050".into(),
            hostname: "localhost".into(),
            version: MESOS_VERSION.into(),
            address: Address { hostname: Some("localhost".into()), ip: Some("127.0.0.1".into()), port: 5050 },
            capabilities: vec![],
        },
        allocation_interval: SEC,
        heartbeat_interval: 15 * SEC,
        agent_ping_timeout: Duration::from_millis(500),
        max_agent_ping_timeouts: 4,
        agent_reregister_timeout: 10 * SEC,
        offer_timeout: None,
        max_completed_frameworks: 50,
        max_completed_tasks_per_framework: 1000,
        seed: 7,
    }
}

fn framework_info(name: &str, caps: &[&str]) -> FrameworkInfo {
    serde_json::from_value(serde_json::json!({
        "user": "root", "name": name, "failover_timeout": 100.0, "checkpoint": true,
        "capabilities": caps.iter().map(|c| serde_json::json!({"type": c})).collect::<Vec<_>>(),
    }))
    .expect("framework info")
}

fn call(json: serde_json::Value) -> Call {
    Call::parse(json.to_string().as_bytes()).expect("valid call")
}

impl Harness {
    fn new() -> Self {
        let now = Now { mono: Duration::ZERO, wall: 1_700_000_000.0 };
        Harness { core: MasterCore::new(config(), now), now, live_agents: Vec::new() }
    }

    fn advance(&mut self, d: Duration) {
        self.now.mono += d;
        self.now.wall += d.as_secs_f64();
        self.core.tick(self.now);
        self.store();
        for stream in self.live_agents.clone() {
            let _ = self.core.agent_call(self.now, Some(&stream), AgentCall::Pong { agent_id: "x".into() });
        }
    }

    fn agent(&mut self, stream: &str, resources: &str) -> AgentId {
        let set = ResourceSet::parse_text(resources).expect("resources");
        let info = AgentInfo {
            hostname: format!("host-{stream}"),
            port: 5051,
            resources: set.to_wire(),
            attributes: vec![],
            id: None,
            domain: None,
        };
        let id = self.core.agent_register(
            self.now,
            stream.into(),
            Register {
                agent_info: info,
                agent_id: None,
                tasks: vec![],
                executors: vec![],
                endpoint: "127.0.0.1:5051".into(),
            },
        );
        self.store();
        self.core.take_outputs();
        self.live_agents.push(stream.to_string());
        id
    }

    /// The shell stored the registry as it is now.
    fn store(&mut self) {
        self.core.registry_stored(self.now, self.core.registry_version());
    }

    fn subscribe(&mut self, stream: &str, info: FrameworkInfo) -> FrameworkId {
        self.core.subscribe(self.now, stream.into(), info).expect("subscribed")
    }

    fn framework_events(&mut self, stream: &str) -> Vec<Event> {
        self.core
            .take_outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::Framework { stream: s, event } if s == stream => Some(event),
                _ => None,
            })
            .filter(|e| *e != Event::Heartbeat)
            .collect()
    }

    fn offers(&mut self, stream: &str) -> Vec<Offer> {
        self.core.tick(self.now);
        self.framework_events(stream)
            .into_iter()
            .flat_map(|e| match e {
                Event::Offers { offers } => offers.offers,
                _ => vec![],
            })
            .collect()
    }

    fn launch(&mut self, stream: &str, fw: &FrameworkId, offer: &Offer, task_id: &str, resources: &str) {
        self.core.call(self.now, Some(stream), accept(fw, offer, task_id, resources, None)).expect("accepted");
    }
}

/// ACCEPT of `offer` launching one `sleep 100` task, with `filters.refuse_seconds` if given.
fn accept(fw: &FrameworkId, offer: &Offer, task_id: &str, resources: &str, refuse_seconds: Option<f64>) -> Call {
    let task = serde_json::json!({
        "name": task_id, "task_id": {"value": task_id}, "agent_id": offer.agent_id,
        "resources": ResourceSet::parse_text(resources).expect("res").to_wire(),
        "command": {"value": "sleep 100"},
    });
    let mut accept = serde_json::json!({
        "offer_ids": [offer.id], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]});
    if let Some(refuse) = refuse_seconds {
        accept["filters"] = serde_json::json!({"refuse_seconds": refuse});
    }
    call(serde_json::json!({"type": "ACCEPT", "framework_id": fw, "accept": accept}))
}

fn updates(events: &[Event]) -> Vec<&TaskStatus> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Update { update } => Some(&update.status),
            _ => None,
        })
        .collect()
}

#[test]
fn subscribe_sends_subscribed_then_heartbeat() {
    let mut h = Harness::new();
    let id = h.subscribe("s1", framework_info("fw", &[]));
    assert_eq!(id.as_str(), "m-0000");
    let outs = h.core.take_outputs();
    assert!(matches!(&outs[0], Output::Framework { event: Event::Subscribed { .. }, .. }));
    assert!(matches!(&outs[1], Output::Framework { event: Event::Heartbeat, .. }));
}

#[test]
fn offers_carry_agent_resources_with_star_role_and_no_allocation_info() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024;disk:100;ports:[31000-32000]");
    h.subscribe("s1", framework_info("fw", &[]));
    let offers = h.offers("s1");
    assert_eq!(offers.len(), 1);
    let o = &offers[0];
    assert!(o.allocation_info.is_none());
    assert!(o.resources.iter().all(|r| r.role.as_deref() == Some("*") && r.allocation_info.is_none()));
    assert_eq!(ResourceSet::from_wire(&o.resources).expect("res").scalar("cpus"), 4.0);
    // Outstanding offers are not offered twice.
    h.advance(SEC);
    assert!(h.offers("s1").is_empty());
}

#[test]
fn launch_sends_run_task_and_consumes_resources() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    let outs = h.core.take_outputs();
    assert!(
        outs.iter().any(|o| matches!(o, Output::Agent { event: AgentEvent::RunTask { .. }, stream } if stream == "a1"))
    );
    // The unused part is filtered for 5 s (default refuse_seconds).
    h.advance(SEC);
    assert!(h.offers("s1").is_empty());
    h.advance(5 * SEC);
    let offers = h.offers("s1");
    let res = ResourceSet::from_wire(&offers[0].resources).expect("res");
    assert_eq!(res.scalar("cpus"), 3.0);
    assert_eq!(res.scalar("mem"), 896.0);
}

#[test]
fn invalid_offer_gives_lost_or_dropped_without_uuid() {
    for (caps, expected) in [(vec![], TaskState::Lost), (vec!["PARTITION_AWARE"], TaskState::Dropped)] {
        let mut h = Harness::new();
        h.agent("a1", "cpus:4;mem:1024");
        let fw = h.subscribe("s1", framework_info("fw", &caps));
        let mut offer = h.offers("s1").remove(0);
        offer.id = OfferId::new("bogus");
        h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
        let events = h.framework_events("s1");
        let u = updates(&events);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].state, expected);
        assert_eq!(u[0].reason, Some(Reason::InvalidOffers));
        assert!(u[0].uuid.is_none());
    }
}

#[test]
fn invalid_tasks_get_task_error() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    let no_resources = serde_json::json!({"name": "t", "task_id": {"value": "t1"}, "agent_id": offer.agent_id,
        "command": {"value": "true"}});
    let both = serde_json::json!({"name": "t", "task_id": {"value": "t2"}, "agent_id": offer.agent_id,
        "resources": ResourceSet::parse_text("cpus:0.1").expect("r").to_wire(),
        "command": {"value": "true"}, "executor": {"executor_id": {"value": "e"}, "command": {"value": "x"}}});
    let too_big = serde_json::json!({"name": "t", "task_id": {"value": "t3"}, "agent_id": offer.agent_id,
        "resources": ResourceSet::parse_text("cpus:10").expect("r").to_wire(), "command": {"value": "true"}});
    h.core
        .call(
            h.now,
            Some("s1"),
            call(serde_json::json!({"type": "ACCEPT", "framework_id": fw, "accept": {
            "offer_ids": [offer.id], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [no_resources, both, too_big]}}]}})),
        )
        .expect("accepted");
    let events = h.framework_events("s1");
    let u = updates(&events);
    assert_eq!(u.len(), 3);
    assert!(u.iter().all(|s| s.state == TaskState::Error && s.reason == Some(Reason::TaskInvalid)));
    assert_eq!(u[0].message.as_deref(), Some("Task uses no resources"));
    assert!(u[1].message.as_deref().unwrap_or("").contains("not both"));
}

#[test]
fn decline_filter_holds_until_revive() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    h.core
        .call(
            h.now,
            Some("s1"),
            call(serde_json::json!({"type": "DECLINE", "framework_id": fw,
            "decline": {"offer_ids": [offer.id], "filters": {"refuse_seconds": 30.0}}})),
        )
        .expect("declined");
    for _ in 0..20 {
        h.advance(SEC);
        assert!(h.offers("s1").is_empty());
    }
    h.core.call(h.now, Some("s1"), call(serde_json::json!({"type": "REVIVE", "framework_id": fw}))).expect("revive");
    assert_eq!(h.offers("s1").len(), 1);
}

#[test]
fn suppress_stops_offers() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    h.core.call(h.now, Some("s1"), call(serde_json::json!({"type": "SUPPRESS", "framework_id": fw}))).expect("ok");
    h.advance(SEC);
    assert!(h.offers("s1").is_empty());
}

#[test]
fn drf_alternates_agents_between_frameworks() {
    let mut h = Harness::new();
    for i in 0..4 {
        h.agent(&format!("a{i}"), "cpus:1;mem:256");
    }
    h.subscribe("s1", framework_info("one", &[]));
    h.subscribe("s2", framework_info("two", &[]));
    h.core.tick(h.now);
    let outs = h.core.take_outputs();
    let count = |s: &str| {
        outs.iter()
            .filter_map(|o| match o {
                Output::Framework { stream, event: Event::Offers { offers } } if stream == s => {
                    Some(offers.offers.len())
                }
                _ => None,
            })
            .sum::<usize>()
    };
    assert_eq!(count("s1"), 2);
    assert_eq!(count("s2"), 2);
}

#[test]
fn status_updates_are_forwarded_and_acks_routed_to_the_agent() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    h.core.take_outputs();
    let used = h.core.used_by_agent();
    assert_eq!(used.get(&offer.agent_id).map(|u| (u.scalar("cpus"), u.scalar("mem"))), Some((1.0, 128.0)));
    let uuid = new_status_uuid();
    let mut status = TaskStatus::new("t1".into(), TaskState::Finished);
    status.uuid = Some(uuid.clone());
    status.source = Some(Source::Executor);
    let update = StatusUpdate { framework_id: fw.clone(), status, latest_state: TaskState::Finished };
    h.core.agent_call(h.now, Some("a1"), AgentCall::StatusUpdate { status_update: update }).expect("update");
    let events = h.framework_events("s1");
    let u = updates(&events);
    assert_eq!(u[0].agent_id.as_ref(), Some(&offer.agent_id));
    assert_eq!(u[0].uuid.as_deref(), Some(uuid.as_str()));
    h.core
        .call(
            h.now,
            Some("s1"),
            call(serde_json::json!({"type": "ACKNOWLEDGE", "framework_id": fw,
            "acknowledge": {"agent_id": offer.agent_id, "task_id": {"value": "t1"}, "uuid": uuid}})),
        )
        .expect("ack");
    let outs = h.core.take_outputs();
    assert!(outs.iter().any(|o| matches!(o, Output::Agent { event: AgentEvent::Acknowledge { .. }, .. })));
    // The acknowledged terminal task is completed and its resources are free again.
    assert!(h.core.frameworks().next().expect("fw").tasks.is_empty());
    assert_eq!(h.core.used_by_agent().get(&offer.agent_id), None);
}

#[test]
fn batched_status_updates_are_forwarded_in_order() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    h.launch("s1", &fw, &offer, "t2", "cpus:1;mem:128");
    h.core.take_outputs();
    let update = |task: &str, state: TaskState| {
        let mut status = TaskStatus::new(task.into(), state);
        status.uuid = Some(new_status_uuid());
        status.source = Some(Source::Executor);
        StatusUpdate { framework_id: fw.clone(), status, latest_state: state }
    };
    let status_updates =
        vec![update("t1", TaskState::Starting), update("t2", TaskState::Starting), update("t1", TaskState::Running)];
    h.core.agent_call(h.now, Some("a1"), AgentCall::StatusUpdates { status_updates }).expect("updates");
    let events = h.framework_events("s1");
    let got: Vec<(&str, TaskState)> = updates(&events).iter().map(|s| (s.task_id.as_str(), s.state)).collect();
    assert_eq!(got, vec![("t1", TaskState::Starting), ("t2", TaskState::Starting), ("t1", TaskState::Running)]);
    let t1 = &h.core.frameworks().next().expect("fw").tasks[&TaskId::new("t1")];
    assert_eq!(t1.task.state, TaskState::Running);
}

#[test]
fn reconciliation_answers_without_uuid() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    h.core.take_outputs();
    h.core
        .call(
            h.now,
            Some("s1"),
            call(serde_json::json!({"type": "RECONCILE", "framework_id": fw, "reconcile": {"tasks": []}})),
        )
        .expect("ok");
    let events = h.framework_events("s1");
    let u = updates(&events);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].state, TaskState::Staging);
    assert_eq!(u[0].reason, Some(Reason::Reconciliation));
    assert!(u[0].uuid.is_none());
    h.core
        .call(
            h.now,
            Some("s1"),
            call(serde_json::json!({"type": "RECONCILE", "framework_id": fw,
            "reconcile": {"tasks": [{"task_id": {"value": "nope"}}]}})),
        )
        .expect("ok");
    let events = h.framework_events("s1");
    assert_eq!(updates(&events)[0].state, TaskState::Lost);
}

#[test]
fn call_checks_stream_id_and_connection() {
    let mut h = Harness::new();
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let revive = || call(serde_json::json!({"type": "REVIVE", "framework_id": fw}));
    assert_eq!(h.core.call(h.now, None, revive()).expect_err("no stream").status, 400);
    assert_eq!(h.core.call(h.now, Some("other"), revive()).expect_err("wrong").status, 400);
    let unknown = call(serde_json::json!({"type": "REVIVE", "framework_id": {"value": "nope"}}));
    assert_eq!(h.core.call(h.now, Some("s1"), unknown).expect_err("unknown").status, 400);
    h.core.framework_disconnected(h.now, "s1");
    assert_eq!(h.core.call(h.now, Some("s1"), revive()).expect_err("closed").status, 403);
}

#[test]
fn second_subscription_fails_over_the_first() {
    let mut h = Harness::new();
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    h.core.take_outputs();
    let mut info = framework_info("fw", &[]);
    info.id = Some(fw.clone());
    assert_eq!(h.core.subscribe(h.now, "s2".into(), info), Some(fw));
    let outs = h.core.take_outputs();
    assert!(outs.contains(&Output::Framework { stream: "s1".into(), event: Event::error("Framework failed over") }));
    assert!(outs.contains(&Output::CloseFramework { stream: "s1".into() }));
}

#[test]
fn failover_timeout_removes_framework_and_kills_its_tasks() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let mut info = framework_info("fw", &[]);
    info.failover_timeout = 5.0;
    let fw = h.subscribe("s1", info);
    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    h.core.take_outputs();
    h.core.framework_disconnected(h.now, "s1");
    h.advance(4 * SEC);
    assert_eq!(h.core.frameworks().count(), 1);
    h.advance(2 * SEC);
    assert_eq!(h.core.frameworks().count(), 0);
    let done = h.core.completed_frameworks().next().expect("completed");
    assert_eq!(done.completed_tasks[0].state, TaskState::Killed);
    let outs = h.core.take_outputs();
    assert!(outs.iter().any(|o| matches!(o, Output::Agent { event: AgentEvent::ShutdownFramework { .. }, .. })));
}

#[test]
fn missed_pings_make_agent_unreachable_within_three_seconds() {
    for (caps, expected) in [(vec!["PARTITION_AWARE"], TaskState::Unreachable), (vec![], TaskState::Lost)] {
        let mut h = Harness::new();
        let agent = h.agent("a1", "cpus:4;mem:1024");
        h.agent("a2", "cpus:4;mem:1024");
        let fw = h.subscribe("s1", framework_info("fw", &caps));
        let offers = h.offers("s1");
        let offer = offers.iter().find(|o| o.agent_id == agent).expect("offer on a1").clone();
        h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
        h.core.take_outputs();
        let mut declared = None;
        for step in 1..=40 {
            h.now.mono += Duration::from_millis(100);
            h.now.wall += 0.1;
            h.core.tick(h.now);
            h.store();
            // a2 answers every ping, a1 never does.
            h.core.agent_call(h.now, Some("a2"), AgentCall::Pong { agent_id: "x".into() }).expect("pong");
            let events = h.framework_events("s1");
            if let Some(s) = updates(&events).first() {
                assert_eq!(s.state, expected);
                assert_eq!(s.reason, Some(Reason::AgentRemoved));
                assert!(s.uuid.is_none());
                assert!(s.unreachable_time.is_some());
                declared = Some(step);
                assert!(events.iter().any(|e| matches!(e, Event::Failure { .. })));
                break;
            }
        }
        let declared = declared.expect("declared unreachable");
        assert!(declared <= 30, "took {declared} x 100ms");
        assert_eq!(h.core.agents().filter(|a| a.state == AgentState::Unreachable).count(), 1);
    }
}

#[test]
fn unreachable_agent_offers_are_rescinded() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    h.core.agent_disconnected(h.now, "a1");
    let events = h.framework_events("s1");
    assert!(events.contains(&Event::Rescind { rescind: Rescind { offer_id: offer.id } }));
}

#[test]
fn returning_agent_reports_tasks_running_again_for_partition_aware_frameworks() {
    let mut h = Harness::new();
    let agent = h.agent("a1", "cpus:4;mem:1024");
    let info = framework_info("fw", &["PARTITION_AWARE"]);
    let fw = h.subscribe("s1", info.clone());
    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    h.core.take_outputs();
    h.core.agent_disconnected(h.now, "a1");
    for _ in 0..10 {
        h.advance(Duration::from_millis(500));
    }
    h.core.take_outputs();
    let mut task = h.core.frameworks().next().expect("fw").tasks[&TaskId::new("t1")].task.clone();
    task.state = TaskState::Running;
    let reg = Register {
        agent_info: AgentInfo {
            hostname: "host".into(),
            port: 5051,
            resources: ResourceSet::parse_text("cpus:4;mem:1024").expect("r").to_wire(),
            attributes: vec![],
            id: None,
            domain: None,
        },
        agent_id: Some(agent.clone()),
        tasks: vec![ReportedTask { task, framework: info }],
        executors: vec![],
        endpoint: "127.0.0.1:5051".into(),
    };
    assert_eq!(h.core.agent_register(h.now, "a1b".into(), reg), agent);
    h.store();
    let events = h.framework_events("s1");
    let u = updates(&events);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].state, TaskState::Running);
    assert_eq!(u[0].reason, Some(Reason::AgentReregistered));
}

#[test]
fn resent_acknowledged_update_is_acknowledged_again_not_forwarded() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    h.launch("s1", &fw, &offer, "t1", "cpus:1;mem:128");
    h.core.take_outputs();
    let used = h.core.used_by_agent();
    assert_eq!(used.get(&offer.agent_id).map(|u| (u.scalar("cpus"), u.scalar("mem"))), Some((1.0, 128.0)));
    let uuid = new_status_uuid();
    let mut status = TaskStatus::new("t1".into(), TaskState::Running);
    status.uuid = Some(uuid.clone());
    let update = StatusUpdate { framework_id: fw.clone(), status, latest_state: TaskState::Running };
    let send = |h: &mut Harness| {
        h.core
            .agent_call(h.now, Some("a1"), AgentCall::StatusUpdate { status_update: update.clone() })
            .expect("update");
    };
    send(&mut h);
    assert_eq!(updates(&h.framework_events("s1")).len(), 1);
    h.core
        .call(
            h.now,
            Some("s1"),
            call(serde_json::json!({"type": "ACKNOWLEDGE", "framework_id": fw,
            "acknowledge": {"agent_id": offer.agent_id, "task_id": {"value": "t1"}, "uuid": uuid}})),
        )
        .expect("ack");
    h.core.take_outputs();
    send(&mut h);
    let outs = h.core.take_outputs();
    assert!(!outs.iter().any(|o| matches!(o, Output::Framework { event: Event::Update { .. }, .. })));
    assert!(outs.iter().any(|o| matches!(o, Output::Agent { event: AgentEvent::Acknowledge { .. }, .. })));
}

#[test]
fn an_accept_without_a_filter_gets_the_rest_of_its_offer_back_at_once() {
    let mut h = Harness::new();
    h.agent("a1", "cpus:4;mem:1024");
    let fw = h.subscribe("s1", framework_info("fw", &[]));
    let offer = h.offers("s1").remove(0);
    // refuse_seconds 0: the framework launches in batches; the rest comes back without
    // waiting for the next allocation interval.
    h.core.call(h.now, Some("s1"), accept(&fw, &offer, "t1", "cpus:1;mem:128", Some(0.0))).expect("accepted");
    let rest = h.offers("s1");
    assert_eq!(rest.len(), 1, "re-offered at once");
    let cpus = ResourceSet::from_wire(&rest[0].resources).expect("resources").scalar("cpus");
    assert_eq!(cpus, 3.0);
    // With the default filter the rest is refused for a while.
    h.core.call(h.now, Some("s1"), accept(&fw, &rest[0], "t2", "cpus:1;mem:128", Some(5.0))).expect("accepted");
    assert!(h.offers("s1").is_empty());
}

mod auth;
mod groups;
mod operator;
mod recovery;
