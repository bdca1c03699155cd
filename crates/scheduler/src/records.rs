//! How the scheduler's state is laid out in the [`store`]: which namespace holds what, and the
//! JSON encoding of each record. The only module that knows the storage format.
//!
//! | namespace | key | value |
//! |---|---|---|
//! | `apps` | app id (`/prod/web`) | the app definition (marathon-api storage form) |
//! | `app_versions` | app id, version | the definition of that version |
//! | `pods` | pod id | the pod definition (marathon-api's `Pod`, normalized) |
//! | `pod_versions` | pod id, version | the pod of that version |
//! | `instances` | instance id | [`InstanceRecord`] |
//! | `framework_id` | `id` | the framework id as a JSON string |
//! | `deployments` | deployment id | the plan ([`crate::deployments::Deployment`]) |
//! | `groups` | `root` | explicit groups: path → dependencies, version |
//! | `group_versions` | group path, version | [`GroupSnapshot`] |

use crate::convert;
use crate::core::{
    AppId, Condition, ContainerTask, Goal, Instance, InstanceId, Record, RecoveredState, RunSpec, Task, Timestamp,
};
use marathon_api::AppDefinition;
use mesos_api::{AgentId, FrameworkId, TaskId, TaskState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::{Batch, Namespace, Store, StoreError};

const FRAMEWORK_ID_KEY: &str = "id";

/// A stored record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("record {namespace}/{key} is unreadable: {reason}")]
    Corrupt { namespace: String, key: String, reason: String },
}

/// Everything the scheduler keeps across restarts.
#[derive(Debug, Default)]
pub struct Loaded {
    pub framework_id: Option<FrameworkId>,
    pub definitions: BTreeMap<AppId, AppDefinition>,
    pub instances: Vec<Instance>,
    /// Deployments in progress, oldest first.
    pub deployments: Vec<crate::deployments::Deployment>,
    pub groups: BTreeMap<marathon_api::PathId, crate::groups::GroupMeta>,
    pub pods: BTreeMap<AppId, marathon_api::Pod>,
}

impl Loaded {
    /// The state the core recovers from.
    pub fn recovered_state(&self) -> RecoveredState {
        RecoveredState {
            framework_id: self.framework_id.clone(),
            apps: self
                .definitions
                .values()
                .map(convert::run_spec)
                .chain(self.pods.values().map(crate::pods::run_spec))
                .collect(),
            instances: self.instances.clone(),
        }
    }
}

/// Reads every record.
pub fn load(store: &dyn Store) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    if let Some(entry) = store.get(&Namespace::FRAMEWORK_ID, FRAMEWORK_ID_KEY)? {
        let id: String = decode(&Namespace::FRAMEWORK_ID, FRAMEWORK_ID_KEY, &entry.value)?;
        loaded.framework_id = Some(FrameworkId::new(id));
    }
    for (key, entry) in store.list(&Namespace::APPS)? {
        let def: AppDefinition = decode(&Namespace::APPS, &key, &entry.value)?;
        loaded.definitions.insert(AppId::new(&def.id), def);
    }
    for (key, entry) in store.list(&Namespace::PODS)? {
        let pod: marathon_api::Pod = decode(&Namespace::PODS, &key, &entry.value)?;
        loaded.pods.insert(AppId::new(&pod.id), pod);
    }
    if let Some(entry) = store.get(&Namespace::GROUPS, GROUPS_KEY)? {
        let groups: BTreeMap<String, crate::groups::GroupMeta> = decode(&Namespace::GROUPS, GROUPS_KEY, &entry.value)?;
        loaded.groups = groups.into_iter().map(|(k, v)| (marathon_api::PathId::parse(&k), v)).collect();
    }
    for (key, entry) in store.list(&Namespace::DEPLOYMENTS)? {
        let deployment: crate::deployments::Deployment = decode(&Namespace::DEPLOYMENTS, &key, &entry.value)?;
        loaded.deployments.push(deployment);
    }
    loaded.deployments.sort_by_key(|d| d.version);
    for (key, entry) in store.list(&Namespace::INSTANCES)? {
        let record: InstanceRecord = decode(&Namespace::INSTANCES, &key, &entry.value)?;
        let instance = record.into_instance().map_err(|reason| LoadError::Corrupt {
            namespace: Namespace::INSTANCES.to_string(),
            key: key.clone(),
            reason,
        })?;
        loaded.instances.push(instance);
    }
    Ok(loaded)
}

fn decode<T: for<'de> Deserialize<'de>>(namespace: &Namespace, key: &str, bytes: &[u8]) -> Result<T, LoadError> {
    serde_json::from_slice(bytes).map_err(|e| LoadError::Corrupt {
        namespace: namespace.to_string(),
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our record types have string keys only; serialization cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Adds the operations that make `records` durable to `batch`. App records take the stored
/// definition from `definition` (the API's full form, by app id), with the fields the core owns
/// (`instances`, `version`, `versionInfo`) taken from the run spec; each app record also stores
/// that version.
pub fn add_to_batch<'d>(
    batch: &mut Batch,
    records: &[Record],
    definition: impl Fn(&AppId) -> Option<&'d AppDefinition>,
    pod: impl Fn(&AppId) -> Option<&'d marathon_api::Pod>,
) {
    for record in records {
        match record {
            Record::FrameworkId(id) => {
                *batch = std::mem::take(batch).put(
                    Namespace::FRAMEWORK_ID,
                    FRAMEWORK_ID_KEY,
                    encode(&id.as_str().to_string()),
                );
            }
            Record::App(spec) if spec.is_pod() => {
                let Some(pod) = pod(&spec.id) else {
                    tracing::error!(pod = %spec.id, "no definition for a pod record; not stored");
                    continue;
                };
                let bytes = encode(pod);
                let version = marathon_api::format_timestamp(convert::api_time(spec.version));
                *batch = std::mem::take(batch).put(Namespace::PODS, spec.id.as_str(), bytes.clone()).put_version(
                    Namespace::POD_VERSIONS,
                    spec.id.as_str(),
                    &version,
                    bytes,
                );
            }
            Record::App(spec) => {
                let Some(def) = definition(&spec.id) else {
                    tracing::error!(app = %spec.id, "no definition for an app record; not stored");
                    continue;
                };
                let def = definition_of(def, spec);
                let bytes = encode(&def);
                let version = marathon_api::format_timestamp(convert::api_time(spec.version));
                *batch = std::mem::take(batch).put(Namespace::APPS, spec.id.as_str(), bytes.clone()).put_version(
                    Namespace::APP_VERSIONS,
                    spec.id.as_str(),
                    &version,
                    bytes,
                );
            }
            Record::AppDeleted(id) => {
                *batch =
                    std::mem::take(batch).delete(Namespace::APPS, id.as_str()).delete(Namespace::PODS, id.as_str());
            }
            Record::Instance(instance) => {
                *batch = std::mem::take(batch).put(
                    Namespace::INSTANCES,
                    instance.id.as_str(),
                    encode(&InstanceRecord::from(instance)),
                );
            }
            Record::InstanceExpunged(id) => {
                *batch = std::mem::take(batch).delete(Namespace::INSTANCES, id.as_str());
            }
        }
    }
}

const GROUPS_KEY: &str = "root";

/// Stores the explicit groups (`groups/root`: path → dependencies and version).
pub fn put_groups(batch: &mut Batch, groups: &BTreeMap<marathon_api::PathId, crate::groups::GroupMeta>) {
    let map: BTreeMap<String, &crate::groups::GroupMeta> = groups.iter().map(|(k, v)| (k.to_string(), v)).collect();
    *batch = std::mem::take(batch).put(Namespace::GROUPS, GROUPS_KEY, encode(&map));
}

/// Stores a version of a group: its apps and explicit groups, for `GET .../versions/{v}` and
/// rollbacks.
pub fn put_group_version(batch: &mut Batch, group: &marathon_api::PathId, version: &str, snapshot: &GroupSnapshot) {
    *batch = std::mem::take(batch).put_version(Namespace::GROUP_VERSIONS, group.to_string(), version, encode(snapshot));
}

/// What a group version holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    pub apps: Vec<AppDefinition>,
    pub groups: BTreeMap<String, crate::groups::GroupMeta>,
}

/// Stores a deployment plan (`deployments/<id>`).
pub fn put_deployment(batch: &mut Batch, deployment: &crate::deployments::Deployment) {
    *batch = std::mem::take(batch).put(Namespace::DEPLOYMENTS, deployment.id.as_str(), encode(deployment));
}

/// Forgets a deployment plan.
pub fn delete_deployment(batch: &mut Batch, id: &str) {
    *batch = std::mem::take(batch).delete(Namespace::DEPLOYMENTS, id);
}

/// `def` with the fields the core decides (`instances`, `version`, `versionInfo`, assigned
/// service ports) from `spec`.
pub fn definition_of(def: &AppDefinition, spec: &RunSpec) -> AppDefinition {
    let mut def = def.clone();
    def.instances = i32::try_from(spec.instances).unwrap_or(i32::MAX);
    // Service ports the core assigned (0 on input means "pick one").
    if spec.has_port_mappings() {
        if let Some(mappings) = def.container.as_mut().and_then(|c| c.port_mappings.as_mut())
            && mappings.len() == spec.port_definitions.len()
        {
            for (mapping, assigned) in mappings.iter_mut().zip(&spec.port_definitions) {
                mapping.service_port = i32::from(assigned.port);
            }
        }
    } else if let Some(ports) = def.port_definitions.as_mut()
        && ports.len() == spec.port_definitions.len()
    {
        for (port, assigned) in ports.iter_mut().zip(&spec.port_definitions) {
            port.port = i32::from(assigned.port);
        }
    }
    def.version = Some(convert::api_time(spec.version));
    def.version_info = Some(marathon_api::app::VersionInfo {
        last_scaling_at: convert::api_time(spec.version_info.last_scaling_at),
        last_config_change_at: convert::api_time(spec.version_info.last_config_change_at),
    });
    def
}

/// The stored form of an [`Instance`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub instance_id: String,
    pub app_id: String,
    pub run_spec_version: i64,
    /// `running` or `decommissioned`.
    pub goal: String,
    /// [`Condition::name`].
    pub condition: String,
    pub condition_since: i64,
    pub incarnation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<i64>,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    pub task_id: String,
    pub agent_id: String,
    pub hostname: String,
    pub host_ports: Vec<u16>,
    pub staged_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// `TASK_RUNNING` etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_ip: Option<String>,
    /// The task's addresses (`ipAddresses`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// The agent's attributes as text, for placement constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// A pod instance's container tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerTaskRecord>,
}

/// One container task of a pod instance's [`TaskRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerTaskRecord {
    pub name: String,
    pub task_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(default)]
    pub has_health_check: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn task_state(name: Option<String>) -> Result<Option<TaskState>, String> {
    match name {
        None => Ok(None),
        Some(name) => TaskState::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .map(Some)
            .ok_or_else(|| format!("unknown task state {name}")),
    }
}

/// One agent attribute of a [`TaskRecord`], rendered as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeRecord {
    pub name: String,
    pub value: String,
}

const CONDITIONS: [Condition; 15] = [
    Condition::Scheduled,
    Condition::Provisioned,
    Condition::Staging,
    Condition::Starting,
    Condition::Running,
    Condition::Killing,
    Condition::Unreachable,
    Condition::UnreachableInactive,
    Condition::Killed,
    Condition::Finished,
    Condition::Failed,
    Condition::Error,
    Condition::Gone,
    Condition::Dropped,
    Condition::Unknown,
];

impl From<&Instance> for InstanceRecord {
    fn from(instance: &Instance) -> Self {
        Self {
            instance_id: instance.id.as_str().to_string(),
            app_id: instance.app_id.as_str().to_string(),
            run_spec_version: instance.run_spec_version.millis(),
            goal: match instance.goal {
                Goal::Running => "running",
                Goal::Decommissioned => "decommissioned",
            }
            .to_string(),
            condition: instance.condition.name().to_string(),
            condition_since: instance.condition_since.millis(),
            incarnation: instance.incarnation,
            task: instance.task.as_ref().map(|task| TaskRecord {
                task_id: task.id.as_str().to_string(),
                agent_id: task.agent_id.as_str().to_string(),
                hostname: task.hostname.clone(),
                host_ports: task.host_ports.clone(),
                staged_at: task.staged_at.millis(),
                started_at: task.started_at.map(Timestamp::millis),
                mesos_state: task.mesos_state.map(|s| s.name().to_string()),
                healthy: task.healthy,
                agent_ip: task.agent_ip.clone(),
                ip_addresses: task.ip_addresses.clone(),
                attributes: task
                    .attributes
                    .iter()
                    .map(|(name, value)| AttributeRecord { name: name.clone(), value: value.clone() })
                    .collect(),
                region: task.region.clone(),
                zone: task.zone.clone(),
                containers: task
                    .containers
                    .iter()
                    .map(|c| ContainerTaskRecord {
                        name: c.name.clone(),
                        task_id: c.task_id.as_str().to_string(),
                        mesos_state: c.mesos_state.map(|s| s.name().to_string()),
                        healthy: c.healthy,
                        has_health_check: c.has_health_check,
                        since: c.since.map(Timestamp::millis),
                        message: c.message.clone(),
                    })
                    .collect(),
            }),
            unreachable_since: instance.unreachable_since.map(Timestamp::millis),
            role: instance.role.clone(),
        }
    }
}

impl InstanceRecord {
    pub fn into_instance(self) -> Result<Instance, String> {
        let id = InstanceId::parse(&self.instance_id).ok_or_else(|| format!("bad instance id {}", self.instance_id))?;
        let goal = match self.goal.as_str() {
            "running" => Goal::Running,
            "decommissioned" => Goal::Decommissioned,
            other => return Err(format!("unknown goal {other}")),
        };
        let condition = CONDITIONS
            .into_iter()
            .find(|c| c.name() == self.condition)
            .ok_or_else(|| format!("unknown condition {}", self.condition))?;
        let task = match self.task {
            None => None,
            Some(task) => Some(Task {
                id: TaskId::new(task.task_id),
                agent_id: AgentId::new(task.agent_id),
                hostname: task.hostname,
                host_ports: task.host_ports,
                staged_at: Timestamp::from_millis(task.staged_at),
                started_at: task.started_at.map(Timestamp::from_millis),
                mesos_state: task_state(task.mesos_state)?,
                healthy: task.healthy,
                agent_ip: task.agent_ip,
                ip_addresses: task.ip_addresses,
                attributes: task.attributes.into_iter().map(|a| (a.name, a.value)).collect(),
                region: task.region,
                zone: task.zone,
                containers: task
                    .containers
                    .into_iter()
                    .map(|c| {
                        Ok(ContainerTask {
                            name: c.name,
                            task_id: TaskId::new(c.task_id),
                            mesos_state: task_state(c.mesos_state)?,
                            healthy: c.healthy,
                            has_health_check: c.has_health_check,
                            since: c.since.map(Timestamp::from_millis),
                            message: c.message,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?,
            }),
        };
        Ok(Instance {
            id,
            app_id: AppId::new(&self.app_id),
            run_spec_version: Timestamp::from_millis(self.run_spec_version),
            goal,
            condition,
            condition_since: Timestamp::from_millis(self.condition_since),
            incarnation: self.incarnation,
            task,
            unreachable_since: self.unreachable_since.map(Timestamp::from_millis),
            role: self.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{Generation, InMemoryStore};

    fn instance(condition: Condition, with_task: bool) -> Instance {
        let app = AppId::new("/prod/web");
        let id = InstanceId::new(&app, uuid::Uuid::from_u128(7));
        Instance {
            task: with_task.then(|| Task {
                id: id.task_id(2),
                agent_id: AgentId::new("agent-1"),
                hostname: "host-a".into(),
                host_ports: vec![31000, 31001],
                staged_at: Timestamp::from_millis(10),
                started_at: Some(Timestamp::from_millis(20)),
                mesos_state: Some(TaskState::Running),
                healthy: Some(true),
                agent_ip: Some("10.0.0.1".into()),
                ip_addresses: vec!["10.250.0.3".parse().expect("ip")],
                attributes: vec![("rack".into(), "r1".into()), ("cores".into(), "{a,b}".into())],
                region: Some("eu".into()),
                zone: Some("eu-1".into()),
                containers: Vec::new(),
            }),
            id,
            app_id: app,
            run_spec_version: Timestamp::from_millis(5),
            goal: Goal::Running,
            condition,
            condition_since: Timestamp::from_millis(20),
            incarnation: 2,
            unreachable_since: None,
            role: "*".into(),
        }
    }

    #[test]
    fn every_condition_and_task_survives_a_round_trip() {
        for condition in CONDITIONS {
            for with_task in [false, true] {
                let original = instance(condition, with_task);
                let bytes = encode(&InstanceRecord::from(&original));
                let back: InstanceRecord = serde_json::from_slice(&bytes).expect("json");
                assert_eq!(back.into_instance().expect("valid"), original);
            }
        }
    }

    #[test]
    fn task_records_without_agent_fields_still_load() {
        let json = r#"{"instanceId":"prod_web.instance-00000000-0000-0000-0000-000000000007","appId":"/prod/web",
            "runSpecVersion":5,"goal":"running","condition":"Running","conditionSince":20,"incarnation":2,
            "task":{"taskId":"t","agentId":"agent-1","hostname":"host-a","hostPorts":[],"stagedAt":10},"role":"*"}"#;
        let record: InstanceRecord = serde_json::from_str(json).expect("old record");
        let task = record.into_instance().expect("valid").task.expect("task");
        assert!(task.attributes.is_empty() && task.region.is_none() && task.zone.is_none());
        // And nothing is written for them when they are empty.
        let mut bare = instance(Condition::Running, true);
        if let Some(task) = bare.task.as_mut() {
            task.attributes.clear();
            task.region = None;
            task.zone = None;
        }
        let text = String::from_utf8(encode(&InstanceRecord::from(&bare))).expect("utf-8");
        assert!(!text.contains("attributes") && !text.contains("region") && !text.contains("zone"), "{text}");
    }

    #[test]
    fn records_written_by_a_batch_load_back() -> Result<(), LoadError> {
        let store = InMemoryStore::new();
        let mut def = AppDefinition::with_id("/prod/web");
        def.cmd = Some("sleep 100".into());
        let def = marathon_api::normalize(def, &marathon_api::PathId::root()).expect("valid");
        let mut spec = convert::run_spec(&def);
        spec.instances = 3;
        spec.version = Timestamp::from_millis(1_000);
        let definitions: BTreeMap<AppId, AppDefinition> = [(spec.id.clone(), def)].into();
        let running = instance(Condition::Running, true);
        let mut batch = Batch::new();
        add_to_batch(
            &mut batch,
            &[
                Record::FrameworkId(FrameworkId::new("fw-1")),
                Record::App(spec.clone()),
                Record::Instance(running.clone()),
            ],
            |id| definitions.get(id),
            |_| None,
        );
        store.apply(Generation::ZERO, &batch)?;
        let loaded = load(&store)?;
        assert_eq!(loaded.framework_id, Some(FrameworkId::new("fw-1")));
        assert_eq!(loaded.instances, vec![running.clone()]);
        let stored = &loaded.definitions[&spec.id];
        assert_eq!(stored.instances, 3);
        assert_eq!(convert::run_spec(stored), spec);
        assert_eq!(store.list_versions(&Namespace::APP_VERSIONS, "/prod/web")?, vec!["1970-01-01T00:00:01.000Z"]);

        let mut batch = Batch::new();
        let records = [Record::InstanceExpunged(running.id), Record::AppDeleted(spec.id)];
        add_to_batch(&mut batch, &records, |id| definitions.get(id), |_| None);
        store.apply(Generation::ZERO, &batch)?;
        let loaded = load(&store)?;
        assert!(loaded.instances.is_empty() && loaded.definitions.is_empty());
        Ok(())
    }
}
