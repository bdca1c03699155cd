//! Pods: an instance launches as one task group (a task per container, the executor's own
//! resources), and the containers' states make the instance's.

use super::*;

fn pod(id: &str, instances: u32) -> RunSpec {
    let mut spec = RunSpec::new(AppId::new(id), Timestamp::from_millis(T0));
    spec.instances = instances;
    spec.port_definitions = vec![PortDefinition::named(0, "web"), PortDefinition::named(31500, "admin")];
    spec.env.insert("POD_LEVEL".into(), "pod".into());
    let mut web = PodContainer::new("web");
    web.cpus = 0.5;
    web.mem = 64.0;
    web.command = CommandSpec::Shell("sleep 1000".into());
    web.endpoints = vec![0, 1];
    web.env.insert("POD_LEVEL".into(), "container".into());
    let mut check = HealthCheck::new(HealthCheckProtocol::MesosHttp);
    check.port_index = Some(0);
    web.health_check = Some(check);
    web.kill_grace_period = Some(Duration::from_secs(7));
    let mut sidecar = PodContainer::new("sidecar");
    sidecar.cpus = 0.25;
    sidecar.mem = 32.0;
    sidecar.command = CommandSpec::Args(vec!["/bin/sleep".into(), "1000".into()]);
    let pod = PodSpec { containers: vec![web, sidecar], executor_cpus: 0.1, executor_mem: 32.0, executor_disk: 10.0 };
    pod.apply_to(&mut spec);
    spec
}

fn groups(commands: &[Command]) -> Vec<(ExecutorInfo, Vec<TaskInfo>)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Accept { task_groups, .. } => Some(task_groups.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn scalar(resources: &[mesos_api::Resource], name: &str) -> f64 {
    ResourceSet::from_wire(resources).expect("resources").scalar(name)
}

#[test]
fn an_instance_launches_as_one_task_group_with_its_resources_split() {
    let mut h = Harness::with_app(pod("/shop", 1));
    let commands = h.offer_commands(offer("o1", "agent-1", BIG));
    assert!(accepts(&commands).iter().all(|(_, infos)| infos.is_empty()), "no LAUNCH for a pod");
    let groups = groups(&commands);
    assert_eq!(groups.len(), 1);
    let (executor, tasks) = &groups[0];
    let instance = &h.instances("/shop")[0];
    assert_eq!(executor.kind.as_deref(), Some("DEFAULT"));
    assert_eq!(executor.executor_id, instance.id.executor_id(1));
    assert_eq!((scalar(&executor.resources, "cpus"), scalar(&executor.resources, "mem")), (0.1, 32.0));
    assert_eq!(scalar(&executor.resources, "disk"), 10.0);
    let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, [format!("{}.web.1", instance.id), format!("{}.sidecar.1", instance.id)]);
    let web = &tasks[0];
    assert_eq!((scalar(&web.resources, "cpus"), scalar(&web.resources, "mem")), (0.5, 64.0));
    let ports = ResourceSet::from_wire(&web.resources).expect("ports").ranges_of("ports");
    let host_ports = &instance.task.as_ref().expect("task").host_ports;
    assert_eq!(host_ports.len(), 2);
    assert_eq!(host_ports[1], 31500, "a fixed hostPort is that port");
    assert_eq!(ports.iter().map(|(b, e)| e - b + 1).sum::<u64>(), 2);
    let env = env_of(web);
    assert_eq!(env["ENDPOINT_WEB"], host_ports[0].to_string());
    assert_eq!(env["ENDPOINT_ADMIN"], "31500");
    assert_eq!(env["POD_LEVEL"], "container");
    assert_eq!(env["MARATHON_CONTAINER_ID"], "web");
    assert_eq!(env_of(&tasks[1])["POD_LEVEL"], "pod");
    assert_eq!(env_of(&tasks[1])["ENDPOINT_WEB"], host_ports[0].to_string());
    let check = web.health_check.as_ref().expect("the container's check");
    assert_eq!(check["http"]["port"], u64::from(host_ports[0]));
    assert!(tasks[1].health_check.is_none());
    assert_eq!(web.kill_policy.and_then(|k| k.grace_period).map(|g| g.nanoseconds), Some(7_000_000_000));
    let sidecar = tasks[1].command.as_ref().expect("command");
    assert_eq!((sidecar.shell, sidecar.value.as_deref()), (false, Some("/bin/sleep")));
}

#[test]
fn the_instance_runs_when_every_container_runs_and_is_healthy_when_the_checked_ones_are() {
    let mut h = Harness::with_app(pod("/shop", 1));
    let (_, tasks) = groups(&h.offer_commands(offer("o1", "agent-1", BIG))).remove(0);
    let (web, sidecar) = (tasks[0].task_id.clone(), tasks[1].task_id.clone());
    h.update(&web, TaskState::Running);
    assert_eq!(h.instances("/shop")[0].condition, Condition::Staging);
    h.update(&sidecar, TaskState::Running);
    let instance = &h.instances("/shop")[0];
    assert_eq!(instance.condition, Condition::Running);
    assert!(!h.core.is_converged(&AppId::new("/shop")), "not healthy yet");
    h.health_update(&web, true);
    assert_eq!(h.instances("/shop")[0].task.as_ref().and_then(|t| t.healthy), Some(true));
    assert!(h.core.is_converged(&AppId::new("/shop")));
    // A restarted scheduler knows every container task from its records.
    let mut restarted = h.restarted(7);
    restarted.subscribe();
    let reconciled: Vec<TaskId> =
        restarted.core.instances().flat_map(|i| i.task.iter()).flat_map(|t| t.task_ids().cloned()).collect();
    assert_eq!(reconciled, vec![web.clone(), sidecar.clone()]);
    assert!(restarted.core.instance_of_task(&sidecar).is_some());
}

#[test]
fn a_failed_container_ends_the_instance_and_a_finished_one_does_not() {
    let mut h = Harness::with_app(pod("/shop", 1));
    let (_, tasks) = groups(&h.offer_commands(offer("o1", "agent-1", BIG))).remove(0);
    let (web, sidecar) = (tasks[0].task_id.clone(), tasks[1].task_id.clone());
    h.update(&web, TaskState::Running);
    h.update(&sidecar, TaskState::Running);
    h.update(&sidecar, TaskState::Finished);
    assert_eq!(h.instances("/shop")[0].condition, Condition::Running, "a finished container leaves the rest");
    h.update(&web, TaskState::Failed);
    let instance = &h.instances("/shop")[0];
    assert_eq!(instance.condition, Condition::Scheduled, "replaced");
    assert_eq!(h.core.last_task_failure(&AppId::new("/shop")).map(|f| f.state), Some(TaskState::Failed));
    assert!(h.core.instance_of_task(&web).is_none() && h.core.instance_of_task(&sidecar).is_none());
    h.advance(Duration::from_secs(5));
    let relaunched = groups(&h.offer_commands(offer("o2", "agent-1", BIG)));
    let ids: Vec<String> = relaunched[0].1.iter().map(|t| t.task_id.to_string()).collect();
    assert_eq!(ids, [format!("{}.web.2", instance.id), format!("{}.sidecar.2", instance.id)]);
}

#[test]
fn killing_an_instance_kills_each_live_container() {
    let mut h = Harness::with_app(pod("/shop", 1));
    let (_, tasks) = groups(&h.offer_commands(offer("o1", "agent-1", BIG))).remove(0);
    let (web, sidecar) = (tasks[0].task_id.clone(), tasks[1].task_id.clone());
    h.update(&web, TaskState::Running);
    h.update(&sidecar, TaskState::Running);
    let commands = h.run(Event::AppDeleted { id: AppId::new("/shop") });
    // (Without a grace in the KILL, the agent uses each task's own kill policy.)
    assert_eq!(kills(&commands), vec![web.clone(), sidecar.clone()]);
    h.update(&web, TaskState::Killed);
    assert!(h.instances("/shop").is_empty(), "gone with its group");
}
