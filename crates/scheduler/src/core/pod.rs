//! Pods: an instance of a pod runs as one Mesos task group (`LAUNCH_GROUP` under the default
//! executor), a task per container. Here: the task group of a provisioned instance (its
//! resources split per container and executor, each container's environment, command, health
//! check and kill policy), and how the container tasks' states make the instance's.
//!
//! Upstream's rule for the instance's state: a container that ends in any way but
//! TASK_FINISHED ends the instance (the default executor kills the others); finished
//! containers leave the instance running on the others; the rest is the least advanced state
//! among the live containers.

use super::instance::{ContainerTask, InstanceId};
use super::matcher::ResourceMatch;
use super::run_spec::{PodContainer, PodSpec, RunSpec};
use super::task_builder::{command_info_of, health_check_json, labels};
use super::time::Timestamp;
use mesos_api::resources::ResourceSet;
use mesos_api::{DurationInfo, ExecutorInfo, KillPolicy, Offer, Resource, TaskId, TaskInfo, TaskState, TaskStatus};
use std::collections::BTreeMap;

/// The executor and tasks of an incarnation of an instance of `spec` (whose pod is `pod`) on
/// `offer`.
pub(crate) fn build_task_group(
    spec: &RunSpec,
    pod: &PodSpec,
    instance: &InstanceId,
    incarnation: u64,
    offer: &Offer,
    matched: &ResourceMatch,
) -> (ExecutorInfo, Vec<TaskInfo>) {
    let mut pool = matched.resources.clone();
    let wire = |set: ResourceSet| -> Vec<Resource> {
        let mut resources = set.to_wire();
        if let Some(allocation) = &offer.allocation_info {
            for r in &mut resources {
                r.allocation_info = Some(allocation.clone());
            }
        }
        resources
    };
    let endpoints = endpoint_env(spec, &matched.host_ports);
    let mut tasks = Vec::new();
    for container in &pod.containers {
        let mut resources = take(&mut pool, container.cpus, container.mem, container.disk);
        for index in &container.endpoints {
            if let Some(port) = matched.host_ports.get(*index) {
                resources.add(&pool.take_range_item("ports", u64::from(*port)));
            }
        }
        let task_id = instance.container_task_id(&container.name, incarnation);
        let env = container_environment(spec, container, &task_id, &offer.hostname, &endpoints);
        tasks.push(TaskInfo {
            name: container.name.clone(),
            task_id,
            agent_id: offer.agent_id.clone(),
            resources: wire(resources),
            executor: None,
            // A container without a command runs none (no image here to give it one).
            command: Some(command_info_of(&container.command, false, &container.fetch, env, None)),
            container: None,
            health_check: container
                .health_check
                .as_ref()
                .and_then(|c| health_check_json(c, c.port.or_else(|| matched.host_ports.get(c.port_index?).copied()))),
            check: None,
            kill_policy: container.kill_grace_period.map(|grace| KillPolicy {
                grace_period: Some(DurationInfo { nanoseconds: i64::try_from(grace.as_nanos()).unwrap_or(i64::MAX) }),
            }),
            data: None,
            labels: labels(&container.labels),
            discovery: None,
            max_completion_time: None,
            limits: None,
        });
    }
    // The executor gets what the containers left: its own share (and any rounding).
    let executor = executor_info(instance, incarnation, wire(pool));
    (executor, tasks)
}

fn executor_info(instance: &InstanceId, incarnation: u64, resources: Vec<Resource>) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: instance.executor_id(incarnation),
        framework_id: None,
        kind: Some("DEFAULT".to_string()),
        command: None,
        container: None,
        resources,
        name: None,
        source: None,
        data: None,
        shutdown_grace_period: None,
        labels: None,
        discovery: None,
    }
}

fn take(pool: &mut ResourceSet, cpus: f64, mem: f64, disk: f64) -> ResourceSet {
    let mut taken = pool.take_scalar("cpus", cpus);
    taken.add(&pool.take_scalar("mem", mem));
    taken.add(&pool.take_scalar("disk", disk));
    taken
}

/// `ENDPOINT_<NAME>` (and `EP_HOST_<NAME>`) of every endpoint of the pod with its host port:
/// each container sees where the others listen.
fn endpoint_env(spec: &RunSpec, host_ports: &[u16]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (definition, port) in spec.port_definitions.iter().zip(host_ports) {
        let Some(name) = &definition.name else { continue };
        let key = env_name(name);
        env.insert(format!("ENDPOINT_{key}"), port.to_string());
        env.insert(format!("EP_HOST_{key}"), port.to_string());
    }
    env
}

fn env_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// A container task's environment: the task context, the pod's endpoints and `HOST`, then the
/// pod's environment, then the container's own, which overrides everything before it.
fn container_environment(
    spec: &RunSpec,
    container: &PodContainer,
    task_id: &TaskId,
    host: &str,
    endpoints: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("MESOS_TASK_ID".to_string(), task_id.value.clone());
    env.insert("MARATHON_APP_ID".to_string(), spec.id.to_string());
    env.insert("MARATHON_APP_VERSION".to_string(), spec.version.to_string());
    env.insert("MARATHON_CONTAINER_ID".to_string(), container.name.clone());
    env.insert("MARATHON_CONTAINER_RESOURCE_CPUS".to_string(), format!("{:?}", container.cpus));
    env.insert("MARATHON_CONTAINER_RESOURCE_MEM".to_string(), format!("{:?}", container.mem));
    env.insert("MARATHON_CONTAINER_RESOURCE_DISK".to_string(), format!("{:?}", container.disk));
    env.insert("MARATHON_APP_RESOURCE_CPUS".to_string(), format!("{:?}", container.cpus));
    env.insert("MARATHON_APP_RESOURCE_MEM".to_string(), format!("{:?}", container.mem));
    env.insert("MARATHON_APP_RESOURCE_DISK".to_string(), format!("{:?}", container.disk));
    env.insert("HOST".to_string(), host.to_string());
    env.extend(endpoints.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(container.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The container tasks of a pod instance's incarnation, none reported yet.
pub(crate) fn container_tasks(spec: &RunSpec, instance: &InstanceId, incarnation: u64) -> Vec<ContainerTask> {
    let Some(pod) = spec.pod.as_deref() else { return Vec::new() };
    pod.containers
        .iter()
        .map(|c| ContainerTask {
            name: c.name.clone(),
            task_id: instance.container_task_id(&c.name, incarnation),
            mesos_state: None,
            healthy: None,
            has_health_check: c.health_check.is_some(),
            since: None,
            message: None,
        })
        .collect()
}

/// Records `status` in its container and returns the status the instance as a whole has now
/// (for the instance's own lifecycle): the group's state, and its health (every checked
/// container healthy, any one unhealthy, or unknown). `None` if the status is for no
/// container of `containers`.
pub(crate) fn instance_status(
    containers: &mut [ContainerTask],
    status: &TaskStatus,
    group_task_id: &TaskId,
    now: Timestamp,
) -> Option<TaskStatus> {
    let container = containers.iter_mut().find(|c| c.task_id == status.task_id)?;
    if container.mesos_state != Some(status.state) {
        container.since = Some(now);
    }
    container.mesos_state = Some(status.state);
    if status.healthy.is_some() {
        container.healthy = status.healthy;
    }
    if status.message.is_some() {
        container.message = status.message.clone();
    }
    let mut group = status.clone();
    group.task_id = group_task_id.clone();
    group.state = group_state(containers);
    group.healthy = group_health(containers);
    Some(group)
}

/// The state of a task group from its tasks' (see the module's rule).
pub(crate) fn group_state(containers: &[ContainerTask]) -> TaskState {
    let failed = containers
        .iter()
        .filter_map(|c| c.mesos_state)
        .filter(|s| s.is_terminal() && *s != TaskState::Finished)
        .min_by_key(|s| terminal_rank(*s));
    if let Some(state) = failed {
        return state;
    }
    let live: Vec<Option<TaskState>> =
        containers.iter().map(|c| c.mesos_state).filter(|s| !s.is_some_and(TaskState::is_terminal)).collect();
    if live.is_empty() {
        return TaskState::Finished;
    }
    let order = [TaskState::Unreachable, TaskState::Killing, TaskState::Staging, TaskState::Starting];
    for state in order {
        // A container not heard of yet is staging.
        if live.iter().any(|s| s.unwrap_or(TaskState::Staging) == state) {
            return state;
        }
    }
    live.iter().flatten().copied().find(|s| *s != TaskState::Running).unwrap_or(TaskState::Running)
}

/// Which terminal state tells most about a group that ended: errors and failures first, a kill
/// last (the executor kills the other tasks of a group one of which failed).
fn terminal_rank(state: TaskState) -> u8 {
    match state {
        TaskState::Error => 0,
        TaskState::Failed => 1,
        TaskState::Gone | TaskState::GoneByOperator => 2,
        TaskState::Dropped => 3,
        TaskState::Lost => 4,
        TaskState::Unknown => 5,
        _ => 6,
    }
}

/// Every container with a health check healthy: healthy; any unhealthy: unhealthy; else
/// unknown (also when no container has a check).
pub(crate) fn group_health(containers: &[ContainerTask]) -> Option<bool> {
    let checked: Vec<Option<bool>> = containers.iter().filter(|c| c.has_health_check).map(|c| c.healthy).collect();
    if checked.is_empty() {
        return None;
    }
    if checked.contains(&Some(false)) {
        return Some(false);
    }
    checked.iter().all(|h| *h == Some(true)).then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn containers(states: &[Option<TaskState>]) -> Vec<ContainerTask> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| ContainerTask {
                name: format!("c{i}"),
                task_id: TaskId::new(format!("t{i}")),
                mesos_state: *s,
                healthy: None,
                has_health_check: false,
                since: None,
                message: None,
            })
            .collect()
    }

    #[test]
    fn a_group_is_as_far_as_its_slowest_live_task_and_ends_with_any_failure() {
        use TaskState::*;
        let state = |s: &[Option<TaskState>]| group_state(&containers(s));
        assert_eq!(state(&[None, None]), Staging);
        assert_eq!(state(&[Some(Running), None]), Staging);
        assert_eq!(state(&[Some(Running), Some(Starting)]), Starting);
        assert_eq!(state(&[Some(Running), Some(Running)]), Running);
        // A finished container leaves the others running; all finished is finished.
        assert_eq!(state(&[Some(Finished), Some(Running)]), Running);
        assert_eq!(state(&[Some(Finished), Some(Finished)]), Finished);
        // Any other end ends the group, the most telling one first.
        assert_eq!(state(&[Some(Failed), Some(Running)]), Failed);
        assert_eq!(state(&[Some(Killed), Some(Failed)]), Failed);
        assert_eq!(state(&[Some(Killed), Some(Running)]), Killed);
        assert_eq!(state(&[Some(Running), Some(Unreachable)]), Unreachable);
        assert_eq!(state(&[Some(Killing), Some(Running)]), Killing);
    }

    #[test]
    fn a_group_is_healthy_when_every_checked_container_is() {
        let mut cs = containers(&[Some(TaskState::Running), Some(TaskState::Running), Some(TaskState::Running)]);
        assert_eq!(group_health(&cs), None);
        cs[0].has_health_check = true;
        cs[2].has_health_check = true;
        assert_eq!(group_health(&cs), None);
        cs[0].healthy = Some(true);
        assert_eq!(group_health(&cs), None);
        cs[2].healthy = Some(true);
        assert_eq!(group_health(&cs), Some(true));
        cs[2].healthy = Some(false);
        assert_eq!(group_health(&cs), Some(false));
    }

    #[test]
    fn a_status_is_recorded_in_its_container_and_answered_for_the_group() {
        let mut cs = containers(&[None, None]);
        let group = TaskId::new("t0");
        let now = Timestamp::from_millis(5);
        let running = TaskStatus::new(TaskId::new("t1"), TaskState::Running);
        let out = instance_status(&mut cs, &running, &group, now).expect("a container's");
        assert_eq!((out.task_id, out.state), (group.clone(), TaskState::Staging));
        assert_eq!(cs[1].mesos_state, Some(TaskState::Running));
        assert_eq!(cs[1].since, Some(now));
        let running = TaskStatus::new(TaskId::new("t0"), TaskState::Running);
        assert_eq!(instance_status(&mut cs, &running, &group, now).map(|s| s.state), Some(TaskState::Running));
        assert!(
            instance_status(&mut cs, &TaskStatus::new(TaskId::new("x"), TaskState::Running), &group, now).is_none()
        );
    }
}
