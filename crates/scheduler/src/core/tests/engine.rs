//! Scenario tests: events in, commands out.

use super::*;

fn persists(commands: &[Command]) -> Vec<(WriteId, Vec<Record>)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Persist { write_id, records } => Some((*write_id, records.clone())),
            _ => None,
        })
        .collect()
}

fn position(commands: &[Command], pred: impl Fn(&Command) -> bool) -> usize {
    commands.iter().position(pred).expect("command present")
}

/// A subscribed harness with `app` running `instances` tasks on agent-1.
fn running_app(spec: RunSpec) -> (Harness, Vec<TaskId>) {
    let mut h = Harness::with_app(spec);
    let tasks = h.launch_running("o-setup");
    (h, tasks)
}

#[test]
fn instance_is_stored_as_provisioned_before_the_offer_is_accepted() {
    let mut h = Harness::with_app(app("/web", 2));
    let commands = h.handle(Event::Offers(vec![offer("o1", "agent-1", BIG)]));
    assert!(accepts(&commands).is_empty(), "no ACCEPT before the instances are stored");
    let writes = persists(&commands);
    assert_eq!(writes.len(), 1);
    let (write_id, records) = &writes[0];
    assert_eq!(records.len(), 2);
    for record in records {
        let Record::Instance(instance) = record else { panic!("instance record expected: {record:?}") };
        assert_eq!(instance.condition, Condition::Provisioned);
        assert_eq!(instance.incarnation, 1);
        let task = instance.task.as_ref().expect("task");
        assert_eq!(task.agent_id, AgentId::new("agent-1"));
        assert_eq!(task.id, instance.id.task_id(1));
        assert_eq!(task.host_ports.len(), 1);
    }
    let released = h.handle(Event::Stored { write_id: *write_id });
    let accepted = accepts(&released);
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].0, vec![OfferId::new("o1")]);
    let task_ids: BTreeSet<String> = accepted[0].1.iter().map(|t| t.task_id.value.clone()).collect();
    let stored_ids: BTreeSet<String> = records
        .iter()
        .filter_map(|r| match r {
            Record::Instance(i) => i.task.as_ref().map(|t| t.id.value.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(task_ids, stored_ids);
    assert!(task_ids.iter().all(|id| id.starts_with("web.instance-") && id.ends_with("._app.1")));
    // The offer is used once: a duplicate delivery is ignored.
    let again = h.run(Event::Offers(vec![offer("o1", "agent-1", BIG)]));
    assert!(accepts(&again).is_empty() && declines(&again).is_empty());
}

#[test]
fn at_most_max_instances_per_offer_and_apps_take_turns() {
    let mut h = Harness::with_app(app("/a", 4));
    h.put(app("/b", 4));
    let infos = h.launch(offer("o1", "agent-1", BIG));
    assert_eq!(infos.len(), 5);
    let from_a = infos.iter().filter(|t| t.task_id.value.starts_with("a.")).count();
    assert_eq!(from_a, 3, "apps alternate: a, b, a, b, a");
    let infos = h.launch(offer("o2", "agent-2", BIG));
    assert_eq!(infos.len(), 3);
}

#[test]
fn scale_up_and_down_follows_kill_selection() {
    for (selection, expected_survivor) in [(KillSelection::YoungestFirst, 0), (KillSelection::OldestFirst, 2)] {
        let mut h = Harness::subscribed();
        let mut spec = app("/web", 3);
        spec.kill_selection = selection;
        h.put(spec.clone());
        let infos = h.launch(offer("o1", "agent-1", BIG));
        assert_eq!(infos.len(), 3);
        // Started one after the other: task 0 is the oldest.
        for info in &infos {
            h.advance(SEC);
            h.update(&info.task_id, TaskState::Running);
        }
        let commands = h.put(RunSpec { instances: 1, version: Timestamp::from_millis(T0 + 10), ..spec });
        let killed = kills(&commands);
        assert_eq!(killed.len(), 2);
        let survivor = &infos[expected_survivor].task_id;
        assert!(!killed.contains(survivor), "{selection:?} keeps {survivor}");
        // Intent first: the decommissioning is written before the kills go out.
        let first_kill = position(&commands, |c| matches!(c, Command::Kill { .. }));
        let persist = position(&commands, |c| matches!(c, Command::Persist { .. }));
        assert!(persist < first_kill);
        let decommissioned = h.instances("/web").into_iter().filter(|i| i.goal == Goal::Decommissioned).count();
        assert_eq!(decommissioned, 2);
        for task in killed {
            h.update(&task, TaskState::Killed);
        }
        assert_eq!(h.instances("/web").len(), 1);
        assert_eq!(h.store.instances.len(), 1);
        // Scaling up schedules new instances only.
        let commands = h.put(app("/web", 3));
        assert!(kills(&commands).is_empty());
        assert_eq!(h.instances("/web").iter().filter(|i| i.condition == Condition::Scheduled).count(), 2);
    }
}

#[test]
fn scale_change_keeps_config_and_config_change_restarts() {
    let (mut h, tasks) = running_app(app("/web", 2));
    let v2 = Timestamp::from_millis(T0 + 1000);
    let commands = h.put(RunSpec { instances: 3, version: v2, ..app("/web", 2) });
    assert!(kills(&commands).is_empty());
    let spec = h.core.app(&AppId::new("/web")).expect("app").clone();
    assert_eq!(
        spec.version_info,
        VersionInfo { last_scaling_at: v2, last_config_change_at: Timestamp::from_millis(T0) }
    );
    assert_eq!(h.store.apps[&spec.id].version_info, spec.version_info);
    h.launch_running("o2");

    let v3 = Timestamp::from_millis(T0 + 2000);
    let mut changed = RunSpec { instances: 3, version: v3, ..app("/web", 2) };
    changed.command = CommandSpec::Shell("sleep 2000".into());
    let commands = h.put(changed);
    // The default upgrade strategy (1.0, 1.0) starts all new instances next to the old ones.
    assert!(kills(&commands).is_empty(), "old instances stay until new ones are healthy");
    let spec = h.core.app(&AppId::new("/web")).cloned().expect("app");
    assert_eq!(spec.version_info, VersionInfo { last_scaling_at: v3, last_config_change_at: v3 });
    let new: Vec<Instance> = h.instances("/web").into_iter().filter(|i| i.run_spec_version == v3).collect();
    assert_eq!(new.len(), 3);
    assert!(new.iter().all(|i| i.condition == Condition::Scheduled && i.goal == Goal::Running));
    // Once the new ones run (and so are healthy: no health checks), every old one is killed.
    h.launch_running("o3");
    let killed: Vec<TaskId> = h
        .instances("/web")
        .into_iter()
        .filter(|i| i.goal == Goal::Decommissioned)
        .filter_map(|i| i.task.map(|t| t.id))
        .collect();
    assert_eq!(killed.len(), 3, "every old-config instance is replaced");
    assert!(tasks.iter().all(|t| killed.contains(t)));
    // A new version of the same definition is stored, but touches no instance.
    let current = h.core.app(&spec.id).cloned().expect("app");
    let commands = h.put(RunSpec { version: Timestamp::from_millis(T0 + 3000), ..current.clone() });
    let (_, records) = persists(&commands).pop().expect("stored");
    assert!(matches!(&records[..], [Record::App(s)] if s.version_info == current.version_info));
    assert!(kills(&commands).is_empty());
    // The very same definition is not even stored again.
    let same = h.core.app(&spec.id).cloned().expect("app");
    assert!(h.put(same).is_empty());
}

#[test]
fn relaunch_waits_for_the_exact_backoff() {
    let (mut h, tasks) = running_app(app("/crash", 1));
    let app_id = AppId::new("/crash");
    let mut task = tasks[0].clone();
    let instance_id = h.core.instance_of_task(&task).expect("instance").id.clone();
    let expected = [Duration::from_secs(1), Duration::from_millis(1150), Duration::from_nanos(1_322_500_000)];
    for (attempt, delay) in expected.iter().enumerate() {
        h.update(&task, TaskState::Failed);
        let launch_delay = h.core.launch_delay(&app_id).copied().expect("delay");
        assert_eq!(launch_delay.delay, *delay, "after failure {}", attempt + 1);
        assert_eq!(h.core.next_wakeup(), Some(h.now.mono + *delay));
        let queue = h.core.queue(h.now);
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].count, 1);
        assert_eq!(queue[0].delay, QueueDelay { time_left: *delay, overdue: false });
        // Backed off: the offer is declined for long (nothing may launch) and offers suppressed.
        let commands = h.offer_commands(offer(&format!("early-{attempt}"), "agent-1", BIG));
        assert_eq!(declines(&commands), vec![(vec![OfferId::new(format!("early-{attempt}"))], 120.0)]);
        h.advance(*delay - Duration::from_millis(1));
        assert!(h.launch(offer(&format!("almost-{attempt}"), "agent-1", BIG)).is_empty());
        h.advance(Duration::from_millis(1));
        h.tick();
        let infos = h.launch(offer(&format!("on-time-{attempt}"), "agent-1", BIG));
        assert_eq!(infos.len(), 1);
        task = infos[0].task_id.clone();
        assert_eq!(task, instance_id.task_id(attempt as u64 + 2), "same instance, next incarnation");
        // Staging/Starting/Running move the reference, not the delay.
        h.advance(SEC / 2);
        h.update(&task, TaskState::Starting);
        let moved = h.core.launch_delay(&app_id).copied().expect("delay");
        assert_eq!((moved.delay, moved.reference), (*delay, h.now.mono));
    }
}

#[test]
fn tasks_the_agent_never_started_are_replaced_at_once_without_backoff() {
    let (mut h, tasks) = running_app(app("/web", 3));
    let app_id = AppId::new("/web");
    let never_started = |task: &TaskId, state: TaskState| {
        let mut status = TaskStatus::new(task.clone(), state);
        status.agent_id = Some(AgentId::new("agent-1"));
        status.uuid = Some(format!("uuid-{task}"));
        status.source = Some(mesos_api::messages::Source::Agent);
        status.reason = Some(Reason::AgentRestarted);
        status.message = Some("Task launched during agent restart".into());
        Event::StatusUpdate(status)
    };
    // TASK_DROPPED to a partition-aware framework, TASK_LOST to the others.
    h.run(never_started(&tasks[0], TaskState::Dropped));
    h.run(never_started(&tasks[1], TaskState::Lost));
    assert!(h.core.launch_delay(&app_id).is_none(), "not a failure of the app");
    let queue = h.core.queue(h.now);
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].count, 2);
    assert_eq!(queue[0].delay, QueueDelay { time_left: Duration::ZERO, overdue: true });
    assert_eq!(h.launch(offer("o2", "agent-1", BIG)).len(), 2, "replaced at once");
    // A master's reconciliation answer no longer says why the task was dropped.
    let mut answer = TaskStatus::new(tasks[2].clone(), TaskState::Dropped);
    answer.source = Some(mesos_api::messages::Source::Master);
    answer.reason = Some(Reason::Reconciliation);
    answer.message = Some("Reconciliation: Latest task state".into());
    h.run(Event::StatusUpdate(answer));
    assert!(h.core.launch_delay(&app_id).is_none(), "a dropped task was never launched");
    let infos = h.launch(offer("o3", "agent-1", BIG));
    assert_eq!(infos.len(), 1);
    // A TASK_LOST for any other reason is a failure, as in Marathon.
    let mut lost = TaskStatus::new(infos[0].task_id.clone(), TaskState::Lost);
    lost.reason = Some(Reason::ExecutorTerminated);
    h.run(Event::StatusUpdate(lost));
    assert_eq!(h.core.launch_delay(&app_id).map(|d| d.delay), Some(SEC));
}

#[test]
fn killed_tasks_do_not_back_off_and_relaunch_as_the_same_instance() {
    let (mut h, tasks) = running_app(app("/web", 1));
    let instance_id = h.core.instance_of_task(&tasks[0]).expect("instance").id.clone();
    let commands = h.run(Event::KillTasks { task_ids: tasks.clone(), scale: false, wipe: false });
    assert_eq!(kills(&commands), tasks);
    h.update(&tasks[0], TaskState::Killed);
    assert!(h.core.launch_delay(&AppId::new("/web")).is_none());
    let infos = h.launch(offer("o2", "agent-1", BIG));
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].task_id, instance_id.task_id(2));
}

#[test]
fn delay_is_reset_by_the_api_and_by_a_config_change_but_not_by_scaling() {
    let mut spec = app("/crash", 1);
    spec.backoff.backoff = Duration::from_secs(3600);
    spec.backoff.max_launch_delay = Duration::from_secs(3600);
    let (mut h, tasks) = running_app(spec.clone());
    let app_id = AppId::new("/crash");
    h.update(&tasks[0], TaskState::Failed);
    assert!(h.launch(offer("o1", "agent-1", BIG)).is_empty());
    h.run(Event::ResetDelay { app_id: app_id.clone() });
    assert!(h.core.launch_delay(&app_id).is_none());
    let infos = h.launch(offer("o2", "agent-1", BIG));
    assert_eq!(infos.len(), 1);

    h.update(&infos[0].task_id, TaskState::Failed);
    h.put(RunSpec { instances: 2, version: Timestamp::from_millis(T0 + 1), ..spec.clone() });
    assert!(h.launch(offer("o3", "agent-1", BIG)).is_empty(), "scaling keeps the delay");
    let queue = h.core.queue(h.now);
    assert_eq!((queue[0].count, queue[0].delay.overdue), (2, false));

    let mut changed = RunSpec { instances: 2, version: Timestamp::from_millis(T0 + 2), ..spec };
    changed.command = CommandSpec::Shell("true".into());
    h.put(changed);
    assert!(h.core.launch_delay(&app_id).is_none());
    assert_eq!(h.launch(offer("o4", "agent-1", BIG)).len(), 2);
}

#[test]
fn too_small_offers_are_declined_with_reasons() {
    let mut h = Harness::with_app(app("/web", 1));
    let commands = h.offer_commands(offer("small", "agent-1", "cpus:0.1;mem:16;ports:[31000-31000]"));
    assert_eq!(declines(&commands), vec![(vec![OfferId::new("small")], 5.0)]);
    let commands = h.offer_commands(offer("no-ports", "agent-2", "cpus:4;mem:1024"));
    assert_eq!(declines(&commands).len(), 1);
    let queue = h.core.queue(h.now);
    assert_eq!(queue.len(), 1);
    let stats = &queue[0].offer_stats;
    assert_eq!((stats.processed_offers, stats.unused_offers), (2, 2));
    assert_eq!(stats.reason_counts.get(&NoMatchReason::InsufficientCpus), Some(&1));
    assert_eq!(stats.reason_counts.get(&NoMatchReason::InsufficientMemory), Some(&1));
    assert_eq!(stats.reason_counts.get(&NoMatchReason::InsufficientPorts), Some(&1));
    assert_eq!(
        stats.last_unused_offers[0].reasons,
        vec![NoMatchReason::InsufficientCpus, NoMatchReason::InsufficientMemory]
    );
    let funnel = stats.reject_summary_launch_attempt();
    let cpus = funnel.iter().find(|r| r.reason == NoMatchReason::InsufficientCpus).expect("cpus row");
    assert_eq!((cpus.declined, cpus.processed), (1, 2));
    // Roles: an app that only accepts its own reservation cannot use unreserved offers.
    let mut reserved = app("/reserved", 1);
    reserved.role = "web".into();
    reserved.accepted_resource_roles = Some(["web".to_string()].into());
    h.put(reserved);
    h.offer_commands(offer("unreserved", "agent-3", "cpus:0.1;mem:16"));
    let queue = h.core.queue(h.now);
    let reserved_stats = &queue.iter().find(|q| q.app_id == AppId::new("/reserved")).expect("queued").offer_stats;
    assert_eq!(reserved_stats.reason_counts.get(&NoMatchReason::UnfulfilledRole), Some(&1));
    // Once launched, the app leaves the queue and its statistics are dropped.
    assert_eq!(h.launch(offer("big", "agent-1", BIG)).len(), 1);
    assert!(h.core.queue(h.now).iter().all(|q| q.app_id != AppId::new("/web")));
}

#[test]
fn service_ports_host_ports_and_environment() {
    let mut h = Harness::subscribed();
    let mut spec = app("/prod/web", 1);
    spec.port_definitions = vec![PortDefinition::named(0, "http"), PortDefinition::new(0)];
    spec.labels = [("owner.team".to_string(), "core".to_string())].into();
    spec.env = [("FOO".to_string(), "bar".to_string()), ("PORT1".to_string(), "override".to_string())].into();
    spec.task_kill_grace_period = Some(Duration::from_secs(10));
    spec.fetch = vec![FetchUri {
        uri: "http://example.com/app.tgz".into(),
        extract: true,
        executable: false,
        cache: false,
        dest_path: None,
    }];
    h.put(spec);
    let app_id = AppId::new("/prod/web");
    assert_eq!(h.core.app(&app_id).expect("app").service_ports(), vec![10000, 10001]);
    assert_eq!(h.store.apps[&app_id].service_ports(), vec![10000, 10001]);
    // The API layer assigns ports of the next app past those in use.
    let mut next = app("/other", 0);
    h.core.assign_service_ports(&mut next).expect("ports");
    assert_eq!(next.service_ports(), vec![10002]);

    let infos = h.launch(offer("o1", "agent-1", "cpus:1;mem:256;ports:[31000-31009]"));
    assert_eq!(infos.len(), 1);
    let task = &infos[0];
    let instance = h.core.instance_of_task(&task.task_id).expect("instance").clone();
    let ports = instance.task.as_ref().expect("task").host_ports.clone();
    assert_eq!(ports.len(), 2);
    assert!(ports.iter().all(|p| (31000..=31009).contains(p)) && ports[0] != ports[1]);
    let env = env_of(task);
    let (p0, p1) = (ports[0].to_string(), ports[1].to_string());
    assert_eq!(env["PORT0"], p0);
    assert_eq!(env["PORT1"], "override", "the app's env wins");
    assert_eq!(env["PORT"], p0);
    assert_eq!(env["PORTS"], format!("{p0},{p1}"));
    assert_eq!(env["PORT_10000"], p0);
    assert_eq!(env["PORT_10001"], p1);
    assert_eq!(env["PORT_HTTP"], p0);
    assert_eq!(env["HOST"], "agent-1.example.com");
    assert_eq!(env["MESOS_TASK_ID"], task.task_id.value);
    assert_eq!(env["MARATHON_APP_ID"], "/prod/web");
    assert_eq!(env["MARATHON_APP_VERSION"], "2023-11-14T22:13:20.000Z");
    assert_eq!(env["MARATHON_APP_RESOURCE_CPUS"], "0.5");
    assert_eq!(env["MARATHON_APP_RESOURCE_MEM"], "64.0");
    assert_eq!(env["MARATHON_APP_RESOURCE_DISK"], "0.0");
    assert_eq!(env["MARATHON_APP_RESOURCE_GPUS"], "0");
    assert_eq!(env["MARATHON_APP_LABELS"], "OWNER_TEAM");
    assert_eq!(env["MARATHON_APP_LABEL_OWNER_TEAM"], "core");
    assert_eq!(env["FOO"], "bar");

    assert_eq!(task.name, "web.prod");
    assert_eq!(task.agent_id, AgentId::new("agent-1"));
    let command = task.command.as_ref().expect("command");
    assert!(command.shell);
    assert_eq!(command.value.as_deref(), Some("sleep 1000"));
    assert_eq!(command.uris[0].value, "http://example.com/app.tgz");
    let used = ResourceSet::from_wire(&task.resources).expect("resources");
    assert_eq!(used.scalar("cpus"), 0.5);
    assert_eq!(used.scalar("mem"), 64.0);
    assert!(!used.has("disk"));
    let mut port_ranges: Vec<(u64, u64)> = ports.iter().map(|p| (u64::from(*p), u64::from(*p))).collect();
    port_ranges.sort_unstable();
    let mut expected = used.ranges_of("ports");
    expected.sort_unstable();
    assert_eq!(expected.iter().map(|(b, e)| e - b + 1).sum::<u64>(), 2);
    assert!(port_ranges.iter().all(|(p, _)| expected.iter().any(|(b, e)| b <= p && p <= e)));
    assert!(task.resources.iter().all(|r| r.role.as_deref() == Some("*")));
    let discovery = task.discovery.as_ref().expect("discovery");
    assert_eq!(discovery["visibility"], "FRAMEWORK");
    assert_eq!(discovery["name"], "web.prod");
    assert_eq!(discovery["ports"]["ports"][0]["number"], ports[0]);
    assert_eq!(discovery["ports"]["ports"][0]["name"], "http");
    assert_eq!(discovery["ports"]["ports"][1]["protocol"], "tcp");
    assert_eq!(task.kill_policy.and_then(|k| k.grace_period).map(|g| g.nanoseconds), Some(10_000_000_000));
    let labels = task.labels.as_ref().expect("labels");
    assert_eq!(labels.labels[0].key, "owner.team");
}

#[test]
fn args_apps_exec_their_argv() {
    let mut h = Harness::subscribed();
    let mut spec = app("/args", 1);
    spec.command = CommandSpec::Args(vec!["/bin/echo".into(), "hi".into()]);
    spec.port_definitions.clear();
    spec.user = Some("nobody".into());
    h.put(spec);
    let infos = h.launch(offer("o1", "agent-1", "cpus:1;mem:128"));
    let command = infos[0].command.as_ref().expect("command");
    assert!(!command.shell);
    assert_eq!(command.value.as_deref(), Some("/bin/echo"));
    assert_eq!(command.arguments, vec!["/bin/echo".to_string(), "hi".to_string()]);
    assert_eq!(command.user.as_deref(), Some("nobody"));
    let env = env_of(&infos[0]);
    assert!(!env.contains_key("PORT") && !env.contains_key("PORTS"));
}

#[test]
fn require_ports_takes_exactly_the_declared_ports() {
    let mut h = Harness::subscribed();
    let mut spec = app("/fixed", 1);
    spec.port_definitions = vec![PortDefinition::new(31005)];
    spec.require_ports = true;
    h.put(spec);
    let commands = h.offer_commands(offer("o1", "agent-1", "cpus:1;mem:256;ports:[31000-31004]"));
    assert_eq!(declines(&commands).len(), 1);
    let stats = h.core.queue(h.now)[0].offer_stats.clone();
    assert_eq!(stats.reason_counts.get(&NoMatchReason::InsufficientPorts), Some(&1));
    let infos = h.launch(offer("o2", "agent-1", "cpus:1;mem:256;ports:[31000-31010]"));
    assert_eq!(infos.len(), 1);
    let env = env_of(&infos[0]);
    assert_eq!(env["PORT0"], "31005");
    assert_eq!(env["PORT_31005"], "31005");
    let used = ResourceSet::from_wire(&infos[0].resources).expect("resources");
    assert_eq!(used.ranges_of("ports"), vec![(31005, 31005)]);
}

#[test]
fn reserved_resources_keep_their_role_in_the_task() {
    let mut h = Harness::subscribed();
    let mut spec = app("/web", 1);
    spec.role = "web".into();
    spec.port_definitions.clear();
    h.put(spec);
    let infos = h.launch(offer("o1", "agent-1", "cpus(web):0.5;mem:128"));
    assert_eq!(infos.len(), 1);
    let roles: BTreeMap<String, String> =
        infos[0].resources.iter().map(|r| (r.name.clone(), r.role.clone().unwrap_or_default())).collect();
    assert_eq!(roles["cpus"], "web");
    assert_eq!(roles["mem"], "*");
    assert_eq!(h.instances("/web")[0].role, "web");
}

#[test]
fn an_unknown_task_on_an_unreachable_agent_is_not_killed() {
    // Found by the simulation (crates/sim): a KILL of a task the master does not know is
    // answered by reconciliation, which says TASK_UNREACHABLE while its agent is marked
    // unreachable; killing again on that answer made KILL and answer chase each other as
    // fast as the network allows. Such a kill cannot reach the task anyway: once its agent
    // is back, the master reports the task's real state, and the task is killed then.
    let mut h = Harness::subscribed();
    let mut status = TaskStatus::new(TaskId::new("ghost.instance-x._app.1"), TaskState::Unreachable);
    status.agent_id = Some(AgentId::new("agent-9"));
    status.reason = Some(Reason::Reconciliation);
    status.message = Some("Reconciliation: Task is unreachable".into());
    assert!(kills(&h.run(Event::StatusUpdate(status))).is_empty());
    let mut back = TaskStatus::new(TaskId::new("ghost.instance-x._app.1"), TaskState::Running);
    back.agent_id = Some(AgentId::new("agent-9"));
    back.reason = Some(Reason::AgentReregistered);
    assert_eq!(kills(&h.run(Event::StatusUpdate(back))), vec![TaskId::new("ghost.instance-x._app.1")]);
}

#[test]
fn unknown_tasks_are_killed() {
    let mut h = Harness::new();
    let commands = h.subscribe();
    assert_eq!(reconciles(&commands), vec![Vec::new()], "nothing known: implicit reconciliation only");
    let mut status = TaskStatus::new(TaskId::new("ghost.instance-x._app.1"), TaskState::Running);
    status.agent_id = Some(AgentId::new("agent-9"));
    status.reason = Some(Reason::Reconciliation);
    let commands = h.run(Event::StatusUpdate(status));
    assert_eq!(
        commands,
        vec![Command::Kill {
            task_id: TaskId::new("ghost.instance-x._app.1"),
            agent_id: Some(AgentId::new("agent-9")),
            grace: None
        }]
    );
    // A terminal update of an unknown task is only acknowledged and published.
    let mut status = TaskStatus::new(TaskId::new("ghost.instance-x._app.1"), TaskState::Killed);
    status.agent_id = Some(AgentId::new("agent-9"));
    status.uuid = Some("u1".into());
    let commands = h.run(Event::StatusUpdate(status));
    assert!(kills(&commands).is_empty());
    assert!(commands.contains(&Command::Acknowledge {
        agent_id: AgentId::new("agent-9"),
        task_id: TaskId::new("ghost.instance-x._app.1"),
        uuid: "u1".into()
    }));
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::Publish(BusEvent::UnknownInstanceTerminated { instance_id: Some(id), .. }) if id.as_str() == "ghost.instance-x"
    )));
}

#[test]
fn acknowledgements_wait_for_the_update_to_be_stored() {
    let (mut h, tasks) = running_app(app("/web", 1));
    let mut status = TaskStatus::new(tasks[0].clone(), TaskState::Failed);
    status.agent_id = Some(AgentId::new("agent-1"));
    status.uuid = Some("u-failed".into());
    let commands = h.handle(Event::StatusUpdate(status.clone()));
    assert!(!commands.iter().any(|c| matches!(c, Command::Acknowledge { .. })));
    let (write_id, records) = persists(&commands).pop().expect("persisted");
    assert!(matches!(&records[0], Record::Instance(i) if i.condition == Condition::Scheduled));
    let released = h.handle(Event::Stored { write_id });
    assert_eq!(
        released,
        vec![Command::Acknowledge {
            agent_id: AgentId::new("agent-1"),
            task_id: tasks[0].clone(),
            uuid: "u-failed".into()
        }]
    );
    // A redelivered update changes nothing and is acknowledged right away.
    let commands = h.handle(Event::StatusUpdate(status));
    assert!(persists(&commands).is_empty());
    assert!(commands.iter().any(|c| matches!(c, Command::Acknowledge { .. })));
}

#[test]
fn rescinded_offer_before_the_write_reschedules_the_instance() {
    let mut h = Harness::with_app(app("/web", 1));
    let commands = h.handle(Event::Offers(vec![offer("o1", "agent-1", BIG)]));
    let (first, _) = persists(&commands).pop().expect("persisted");
    let commands = h.handle(Event::OfferRescinded(OfferId::new("o1")));
    let (second, records) = persists(&commands).pop().expect("persisted");
    assert!(matches!(&records[0], Record::Instance(i) if i.condition == Condition::Scheduled && i.task.is_none()));
    let mut released = h.handle(Event::Stored { write_id: first });
    released.extend(h.handle(Event::Stored { write_id: second }));
    assert!(accepts(&released).is_empty(), "a rescinded offer is never accepted");
    // The next launch takes the next incarnation.
    let infos = h.launch(offer("o2", "agent-1", BIG));
    assert!(infos[0].task_id.value.ends_with("._app.2"));
}

#[test]
fn disconnect_drops_held_back_accepts() {
    let mut h = Harness::with_app(app("/web", 1));
    let commands = h.handle(Event::Offers(vec![offer("o1", "agent-1", BIG)]));
    let (first, _) = persists(&commands).pop().expect("persisted");
    let commands = h.handle(Event::Disconnected);
    let released = h.store_all(commands);
    assert!(accepts(&released).is_empty());
    assert!(accepts(&h.handle(Event::Stored { write_id: first })).is_empty());
    assert_eq!(h.instances("/web")[0].condition, Condition::Scheduled);
    // Offers while disconnected are ignored.
    assert!(h.run(Event::Offers(vec![offer("o2", "agent-1", BIG)])).is_empty());
    h.subscribe();
    assert_eq!(h.launch(offer("o3", "agent-1", BIG)).len(), 1);
}

#[test]
fn offers_are_revived_when_needed_and_suppressed_when_idle() {
    let mut h = Harness::new();
    let commands = h.subscribe();
    assert!(commands.contains(&Command::Suppress));
    let commands = h.put(app("/web", 1));
    assert!(commands.contains(&Command::Revive));
    let commands = h.offer_commands(offer("o1", "agent-1", BIG));
    assert!(commands.contains(&Command::Suppress), "nothing left to launch");
    let accept = commands.iter().find(|c| matches!(c, Command::Accept { .. })).expect("accept");
    assert!(matches!(accept, Command::Accept { refuse_seconds, .. } if *refuse_seconds == 120.0));
    let task = h.core.instances().next().and_then(|i| i.task.clone()).expect("task").id;
    h.update(&task, TaskState::Running);
    // Killed: the last revive's demand was met, so the replacement is revived at once.
    let commands = h.update(&task, TaskState::Killed);
    assert!(commands.contains(&Command::Revive));
}

#[test]
fn an_accept_with_more_to_launch_wants_the_rest_of_its_offer_back() {
    let mut h = Harness::with_config(SchedulerConfig { max_instances_per_offer: 2, ..config() });
    h.subscribe();
    h.put(app("/web", 5));
    let refuse = |commands: &[Command]| {
        commands.iter().find_map(|c| match c {
            Command::Accept { refuse_seconds, task_infos, .. } => Some((task_infos.len(), *refuse_seconds)),
            _ => None,
        })
    };
    assert_eq!(refuse(&h.offer_commands(offer("o1", "agent-1", BIG))), Some((2, 0.0)));
    assert_eq!(refuse(&h.offer_commands(offer("o2", "agent-1", BIG))), Some((2, 0.0)));
    // The last batch: nothing else waits, the rest is refused for decline_offer_duration.
    assert_eq!(refuse(&h.offer_commands(offer("o3", "agent-1", BIG))), Some((1, 120.0)));
}

#[test]
fn revives_for_unmet_demand_are_rate_limited() {
    let mut h = Harness::subscribed();
    let mut huge = app("/huge", 1);
    huge.cpus = 1000.0;
    assert!(h.put(huge).contains(&Command::Revive));
    let commands = h.offer_commands(offer("o1", "agent-1", BIG));
    assert_eq!(declines(&commands).len(), 1, "the offer does not fit");
    // More demand while /huge still waits: the next revive waits for the interval.
    h.advance(SEC);
    assert!(!h.put(app("/web", 1)).contains(&Command::Revive));
    assert_eq!(h.core.next_wakeup(), Some(h.now.mono + 4 * SEC));
    h.advance(4 * SEC);
    assert!(h.tick().contains(&Command::Revive));
}

#[test]
fn a_revive_that_brings_no_offer_is_repeated() {
    // Found by the simulation (crates/sim): a REVIVE lost on its way left the master
    // suppressing the framework while the core believed it was not, and an app whose demand
    // did not grow again waited for offers forever.
    let mut h = Harness::subscribed();
    assert!(h.put(app("/web", 1)).contains(&Command::Revive));
    // No offer comes: the REVIVE is repeated once the interval has passed, and again after.
    assert_eq!(h.core.next_wakeup(), Some(h.now.mono + 5 * SEC));
    h.advance(5 * SEC);
    assert!(h.tick().contains(&Command::Revive), "revived again");
    h.advance(5 * SEC);
    assert!(h.tick().contains(&Command::Revive), "and again");
    // An offer answered it: no more repeats, the rate limit of unmet demand applies.
    let commands = h.offer_commands(offer("o1", "agent-1", BIG));
    assert_eq!(accepts(&commands).len(), 1);
    h.advance(10 * SEC);
    assert!(!h.tick().contains(&Command::Revive));
}

#[test]
fn apps_posted_one_after_another_are_each_revived_at_once() {
    let mut h = Harness::subscribed();
    for i in 0..3 {
        let commands = h.put(app(&format!("/app-{i}"), 1));
        assert!(commands.contains(&Command::Revive), "app {i} revived without waiting");
        assert_eq!(h.launch(offer(&format!("o{i}"), "agent-1", BIG)).len(), 1);
        h.advance(Duration::from_millis(20));
    }
}

#[test]
fn a_revive_never_overtakes_an_accept_held_for_its_write() {
    let mut h = Harness::with_app(app("/first", 1));
    // The ACCEPT is held until the instance is stored; it refuses the rest of the offer for
    // `decline_offer_duration` because nothing else waits.
    let held = h.handle(Event::Offers(vec![offer("o1", "agent-1", BIG)]));
    assert!(accepts(&held).is_empty(), "held until stored");
    // A second app arrives before that write is durable: its REVIVE must reach the master
    // after the ACCEPT, or the ACCEPT's filter would hide the agent from it.
    let mut commands = held;
    commands.extend(h.handle(Event::AppPut { spec: app("/second", 1) }));
    assert!(!commands.contains(&Command::Revive), "not before the held accept");
    let released = h.store_all(commands);
    let accept = released.iter().position(|c| matches!(c, Command::Accept { .. })).expect("accept released");
    let revive = released.iter().position(|c| *c == Command::Revive).expect("revive released");
    assert!(accept < revive, "accept before revive: {released:?}");
}

#[test]
fn kill_with_wipe_replaces_and_kill_with_scale_shrinks() {
    let (mut h, tasks) = running_app(app("/web", 3));
    let commands = h.run(Event::KillTasks { task_ids: vec![tasks[0].clone()], scale: false, wipe: true });
    assert_eq!(kills(&commands), vec![tasks[0].clone()]);
    let wiped = h.core.instance_of_task(&tasks[0]).expect("instance").id.clone();
    assert_eq!(h.instances("/web").len(), 4, "replacement scheduled right away");
    h.update(&tasks[0], TaskState::Killed);
    assert!(h.core.instance(&wiped).is_none(), "wiped instances are forgotten");
    assert!(!h.store.instances.contains_key(&wiped));

    let app_id = AppId::new("/web");
    let version_before = h.core.app(&app_id).expect("app").version;
    let commands = h.run(Event::KillTasks { task_ids: vec![tasks[1].clone()], scale: true, wipe: false });
    assert_eq!(kills(&commands), vec![tasks[1].clone()]);
    let spec = h.core.app(&app_id).expect("app").clone();
    assert_eq!(spec.instances, 2);
    assert!(spec.version > version_before);
    assert_eq!(spec.version_info.last_scaling_at, spec.version);
    assert_eq!(spec.version_info.last_config_change_at, Timestamp::from_millis(T0));
    assert_eq!(h.store.apps[&app_id].instances, 2);
    let scheduled = h.instances("/web").iter().filter(|i| i.condition == Condition::Scheduled).count();
    assert_eq!(scheduled, 1, "only the wipe replacement");
    // Killing the same task again with scale does not lower the count twice.
    h.run(Event::KillTasks { task_ids: vec![tasks[1].clone()], scale: true, wipe: false });
    assert_eq!(h.core.app(&app_id).expect("app").instances, 2);
}

#[test]
fn deleting_an_app_kills_and_forgets_its_instances() {
    let (mut h, tasks) = running_app(app("/web", 2));
    let commands = h.run(Event::AppDeleted { id: AppId::new("/web") });
    assert_eq!(kills(&commands).len(), 2);
    assert!(h.core.app(&AppId::new("/web")).is_none());
    assert!(h.store.apps.is_empty());
    for task in &tasks {
        h.update(task, TaskState::Killed);
    }
    assert!(h.core.instances().next().is_none());
    assert!(h.store.instances.is_empty());
    assert!(h.core.queue(h.now).is_empty());
}

#[test]
fn kills_are_repeated_until_the_task_ends() {
    let (mut h, tasks) = running_app(app("/web", 1));
    h.run(Event::KillTasks { task_ids: tasks.clone(), scale: false, wipe: false });
    assert_eq!(h.core.next_wakeup(), Some(h.now.mono + 10 * SEC));
    h.advance(10 * SEC);
    assert_eq!(kills(&h.tick()), tasks);
    h.update(&tasks[0], TaskState::Killed);
    h.advance(10 * SEC);
    assert!(kills(&h.tick()).is_empty());
}

#[test]
fn overdue_launches_are_killed_and_relaunched() {
    let mut h = Harness::with_app(app("/web", 1));
    let infos = h.launch(offer("o1", "agent-1", BIG));
    assert_eq!(h.core.next_wakeup(), Some(h.now.mono + 300 * SEC));
    h.advance(300 * SEC);
    assert_eq!(kills(&h.tick()), vec![infos[0].task_id.clone()]);
    let mut status = TaskStatus::new(infos[0].task_id.clone(), TaskState::Lost);
    status.reason = Some(Reason::Reconciliation);
    status.message = Some("Reconciliation: Task is unknown to the agent".into());
    h.run(Event::StatusUpdate(status));
    assert!(h.core.launch_delay(&AppId::new("/web")).is_none(), "Unknown is no launch failure");
    assert!(h.launch(offer("o2", "agent-1", BIG))[0].task_id.value.ends_with("._app.2"));
}

#[test]
fn the_next_wakeup_is_the_earliest_launch_deadline_that_still_applies() {
    let mut h = Harness::with_app(app("/web", 1));
    let first = h.launch(offer("o1", "agent-1", BIG));
    let first_deadline = h.now.mono + 300 * SEC;
    h.advance(10 * SEC);
    h.put(app("/web", 2));
    let second = h.launch(offer("o2", "agent-1", BIG));
    assert_eq!(h.core.next_wakeup(), Some(first_deadline));
    // The first task runs: its deadline is gone, the second's is next.
    h.update(&first[0].task_id, TaskState::Running);
    assert_eq!(h.core.next_wakeup(), Some(first_deadline + 10 * SEC));
    h.update(&second[0].task_id, TaskState::Running);
    // Only timers that are not launch deadlines are left (the periodic reconciliation).
    assert!(h.core.next_wakeup().is_some_and(|at| at > first_deadline + 10 * SEC));
}

#[test]
fn unreachable_with_zero_timeouts_is_replaced_at_once_and_killed_when_back() {
    let (mut h, tasks) = running_app(app("/web", 1));
    let old = h.core.instance_of_task(&tasks[0]).expect("instance").id.clone();
    let mut status = TaskStatus::new(tasks[0].clone(), TaskState::Unreachable);
    status.agent_id = Some(AgentId::new("agent-1"));
    status.reason = Some(Reason::AgentRemoved);
    let commands = h.run(Event::StatusUpdate(status));
    assert!(h.core.instance(&old).is_none(), "expunged at once");
    assert!(persists(&commands).iter().any(|(_, records)| records.contains(&Record::InstanceExpunged(old.clone()))));
    let instances = h.instances("/web");
    assert_eq!(instances.len(), 1);
    assert_ne!(instances[0].id, old);
    assert_eq!(instances[0].condition, Condition::Scheduled);
    let replacement = h.launch_running("o2");
    // The agent comes back: the old task is unknown now and gets killed.
    let mut status = TaskStatus::new(tasks[0].clone(), TaskState::Running);
    status.agent_id = Some(AgentId::new("agent-1"));
    status.reason = Some(Reason::AgentReregistered);
    let commands = h.run(Event::StatusUpdate(status));
    assert_eq!(kills(&commands), tasks);
    assert_eq!(h.running("/web").len(), 1);
    assert_eq!(h.running("/web")[0].task.as_ref().map(|t| t.id.clone()), Some(replacement[0].clone()));
}

#[test]
fn unreachable_instance_goes_inactive_and_the_surplus_is_killed_when_it_returns() {
    let mut spec = app("/web", 1);
    spec.unreachable_strategy = UnreachableStrategy::Enabled { inactive_after: 60 * SEC, expunge_after: 600 * SEC };
    let (mut h, tasks) = running_app(spec);
    let old = h.core.instance_of_task(&tasks[0]).expect("instance").id.clone();
    // Older Mesos: TASK_LOST with an agent reason means unreachable.
    let mut status = TaskStatus::new(tasks[0].clone(), TaskState::Lost);
    status.reason = Some(Reason::AgentDisconnected);
    h.run(Event::StatusUpdate(status));
    assert_eq!(h.core.instance(&old).map(|i| i.condition), Some(Condition::Unreachable));
    assert_eq!(h.instances("/web").len(), 1, "still counted, no replacement yet");
    assert_eq!(h.core.next_wakeup(), Some(h.now.mono + 60 * SEC));
    h.advance(60 * SEC);
    h.tick();
    assert_eq!(h.core.instance(&old).map(|i| i.condition), Some(Condition::UnreachableInactive));
    assert_eq!(h.store.instances[&old].condition, Condition::UnreachableInactive);
    h.advance(SEC);
    let replacement = h.launch_running("o2");
    assert_eq!(replacement.len(), 1);
    // Back before the expunge deadline: two running, the younger one (the replacement) goes.
    h.advance(SEC);
    let mut status = TaskStatus::new(tasks[0].clone(), TaskState::Running);
    status.reason = Some(Reason::AgentReregistered);
    let commands = h.run(Event::StatusUpdate(status));
    assert_eq!(kills(&commands), replacement);
    assert_eq!(h.core.instance(&old).map(|i| i.condition), Some(Condition::Running));
    h.update(&replacement[0], TaskState::Killed);
    assert_eq!(h.instances("/web").len(), 1);
    assert_eq!(h.instances("/web")[0].id, old);
}

#[test]
fn unreachable_instances_are_expunged_after_expunge_after() {
    let mut spec = app("/web", 1);
    spec.unreachable_strategy =
        UnreachableStrategy::Enabled { inactive_after: Duration::ZERO, expunge_after: 60 * SEC };
    let (mut h, tasks) = running_app(spec);
    let old = h.core.instance_of_task(&tasks[0]).expect("instance").id.clone();
    let mut status = TaskStatus::new(tasks[0].clone(), TaskState::Unreachable);
    status.unreachable_time = Some(mesos_api::TimeInfo { nanoseconds: (T0 + 1_000) * 1_000_000 });
    h.advance(10 * SEC);
    h.run(Event::StatusUpdate(status));
    assert_eq!(h.core.instance(&old).map(|i| i.condition), Some(Condition::UnreachableInactive));
    assert_eq!(h.core.instance(&old).and_then(|i| i.unreachable_since), Some(Timestamp::from_millis(T0 + 1_000)));
    assert_eq!(h.instances("/web").len(), 2, "replacement scheduled at once");
    // Its REVIVE is answered (or it would be repeated before the deadline below).
    assert_eq!(h.launch(offer("o-replacement", "agent-2", BIG)).len(), 1);
    // The expunge deadline counts from the unreachable time Mesos reported (T0 + 1 s).
    assert_eq!(h.core.next_wakeup(), Some(start().mono + 61 * SEC));
    h.advance(51 * SEC);
    h.tick();
    assert!(h.core.instance(&old).is_none());
    assert!(!h.store.instances.contains_key(&old));
}

#[test]
fn disabled_unreachable_strategy_waits_forever() {
    let mut spec = app("/web", 1);
    spec.unreachable_strategy = UnreachableStrategy::Disabled;
    let (mut h, tasks) = running_app(spec);
    let mut status = TaskStatus::new(tasks[0].clone(), TaskState::Unreachable);
    status.agent_id = Some(AgentId::new("agent-1"));
    h.run(Event::StatusUpdate(status));
    h.advance(Duration::from_secs(100_000));
    h.tick();
    let instances = h.instances("/web");
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].condition, Condition::Unreachable);
}

#[test]
fn restart_recovers_without_duplicates_or_restarts() {
    let mut h = Harness::with_app(app("/web", 3));
    let infos = h.launch(offer("o1", "agent-1", BIG));
    assert_eq!(infos.len(), 3);
    h.update(&infos[0].task_id, TaskState::Running);
    h.update(&infos[1].task_id, TaskState::Running);
    // infos[2] was accepted but never reported: Provisioned on disk.

    let mut r = h.restarted(7);
    let commands = r.subscribe();
    let explicit: BTreeSet<TaskId> = reconciles(&commands)[0].iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(explicit, infos.iter().map(|t| t.task_id.clone()).collect());
    assert_eq!(reconciles(&commands)[1], Vec::new(), "then implicit");
    assert!(!r.core.is_reconciled());
    // Offers wait for the answers.
    let commands = r.offer_commands(offer("early", "agent-2", BIG));
    assert!(accepts(&commands).is_empty());
    assert_eq!(declines(&commands).len(), 1);
    for info in &infos {
        let mut status = TaskStatus::new(info.task_id.clone(), TaskState::Running);
        status.agent_id = Some(AgentId::new("agent-1"));
        status.reason = Some(Reason::Reconciliation);
        let commands = r.run(Event::StatusUpdate(status));
        assert!(kills(&commands).is_empty(), "running tasks are never restarted");
    }
    assert!(r.core.is_reconciled());
    let commands = r.offer_commands(offer("late", "agent-2", BIG));
    assert!(accepts(&commands).is_empty(), "nothing to launch: no duplicates");
    assert_eq!(declines(&commands), vec![(vec![OfferId::new("late")], 120.0)]);
    assert_eq!(r.running("/web").len(), 3);
    assert!(r.instances("/web").iter().all(|i| i.incarnation == 1));
}

#[test]
fn restart_relaunches_a_provisioned_task_the_master_never_saw() {
    let mut h = Harness::with_app(app("/web", 1));
    // Crash after the Provisioned record was stored but before the ACCEPT went out.
    let commands = h.handle(Event::Offers(vec![offer("o1", "agent-1", BIG)]));
    let (_, records) = persists(&commands).pop().expect("persisted");
    h.store.apply(&records);
    let task = h.core.instances().next().and_then(|i| i.task.clone()).expect("task").id;

    let mut r = h.restarted(7);
    assert_eq!(reconciles(&r.subscribe())[0], vec![(task.clone(), Some(AgentId::new("agent-1")))]);
    let mut status = TaskStatus::new(task.clone(), TaskState::Gone);
    status.reason = Some(Reason::Reconciliation);
    status.message = Some("Reconciliation: Task is unknown to the agent".into());
    r.run(Event::StatusUpdate(status));
    assert!(r.core.is_reconciled());
    // TASK_GONE is a launch failure: the relaunch waits for the first backoff.
    assert!(r.launch(offer("o2", "agent-1", BIG)).is_empty());
    r.advance(SEC);
    r.tick();
    let infos = r.launch(offer("o3", "agent-1", BIG));
    assert_eq!(infos.len(), 1);
    assert!(infos[0].task_id.value.ends_with("._app.2"), "a new task id, never the old one");
}

#[test]
fn periodic_reconciliation_leaves_out_provisioned_tasks() {
    let (mut h, tasks) = running_app(app("/web", 2));
    h.put(app("/web", 3));
    let provisioned = h.launch(offer("o2", "agent-1", BIG));
    assert_eq!(provisioned.len(), 1);
    h.advance(600 * SEC);
    let commands = h.tick();
    let explicit: BTreeSet<TaskId> = reconciles(&commands)[0].iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(explicit, tasks.into_iter().collect());
    assert_eq!(reconciles(&commands)[1], Vec::new());
    assert!(h.core.is_reconciled(), "periodic rounds do not block launches");
}

#[test]
fn recovery_repairs_orphans_and_decommissioned_instances() {
    let (mut h, tasks) = running_app(app("/web", 2));
    // The app record vanished (deleted) while its instances are still on disk.
    h.store.apps.clear();
    let mut r = h.restarted(7);
    let commands = r.subscribe();
    let persisted = persists(&commands);
    assert!(!persisted.is_empty());
    assert!(r.instances("/web").iter().all(|i| i.goal == Goal::Decommissioned));
    // Killing a decommissioned instance is safe before the reconciliation is answered.
    assert_eq!(kills(&commands).into_iter().collect::<BTreeSet<_>>(), tasks.into_iter().collect());
}

#[test]
fn framework_id_is_persisted_once() {
    let mut h = Harness::new();
    let commands = h.subscribe();
    assert!(persists(&commands).iter().any(|(_, r)| r.contains(&Record::FrameworkId(FrameworkId::new("fw-1")))));
    assert_eq!(h.store.framework_id, Some(FrameworkId::new("fw-1")));
    h.run(Event::Disconnected);
    let commands = h.subscribe();
    assert!(persists(&commands).is_empty());
}

#[test]
fn events_are_published_for_status_updates_and_conditions() {
    let (mut h, tasks) = running_app(app("/web", 1));
    let commands = h.update(&tasks[0], TaskState::Failed);
    let published: Vec<&BusEvent> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Publish(event) => Some(event),
            _ => None,
        })
        .collect();
    assert!(
        matches!(published[0], BusEvent::StatusUpdate { state: TaskState::Failed, host, .. } if host == "agent-1.example.com")
    );
    assert!(matches!(published[1], BusEvent::InstanceChanged { condition: Condition::Failed, .. }));
    let failure = h.core.last_task_failure(&AppId::new("/web")).expect("failure");
    assert_eq!((failure.task_id.clone(), failure.state), (tasks[0].clone(), TaskState::Failed));
}

#[test]
fn a_huge_instance_count_schedules_a_window_and_keeps_the_rest_as_a_number() {
    let config = SchedulerConfig { max_scheduled_per_app: 8, max_instances_per_offer: 5, ..config() };
    let mut h = Harness::with_config(config);
    h.subscribe();
    let commands = h.put(app("/huge", 1_000_000_000));
    // Only the window is an instance (and a record); the queue still shows everything wanted.
    let written: usize =
        persists(&commands).iter().flat_map(|(_, r)| r).filter(|r| matches!(r, Record::Instance(_))).count();
    assert_eq!(written, 8);
    assert_eq!(h.instances("/huge").len(), 8);
    let queue = h.core.queue(h.now);
    assert_eq!(queue[0].count, 1_000_000_000);
    // Offers launch from the window, which is refilled; declined rest comes back at once.
    let commands = h.offer_commands(offer("o1", "agent-1", BIG));
    let launched: usize = accepts(&commands).iter().map(|(_, infos)| infos.len()).sum();
    assert_eq!(launched, 5);
    let instances = h.instances("/huge");
    assert_eq!(instances.len(), 13, "5 provisioned + a full window of 8 waiting");
    assert_eq!(instances.iter().filter(|i| i.condition == Condition::Scheduled).count(), 8);
    assert_eq!(h.core.queue(h.now)[0].count, 1_000_000_000 - 5);
    // Scaled back, the backlog is gone and so are the waiting instances beyond the new count.
    h.put(app("/huge", 6));
    assert_eq!(h.instances("/huge").len(), 6);
    assert_eq!(h.core.queue(h.now)[0].count, 1);
    h.run(Event::AppDeleted { id: AppId::new("/huge") });
    assert!(h.core.queue(h.now).is_empty());
}
