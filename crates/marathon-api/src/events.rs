//! Marathon's event bus on the wire (`/v2/events`, §4): every event type with its exact fields.
//! Each event serializes to one JSON object with `eventType` and `timestamp` added; the
//! `eventType` names are the ones marathon-python's `EventFactory` knows.

use crate::output::{DeploymentInfo, TaskIpAddress};
use crate::time::{Timestamp, format_timestamp};
use serde::Serialize;
use serde_json::{Value as Json, json};

/// One event (without its timestamp).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "eventType")]
pub enum Event {
    #[serde(rename = "event_stream_attached", rename_all = "camelCase")]
    EventStreamAttached { remote_address: String },
    #[serde(rename = "event_stream_detached", rename_all = "camelCase")]
    EventStreamDetached { remote_address: String },
    /// `POST /v2/eventSubscriptions`: an HTTP callback was registered.
    #[serde(rename = "subscribe_event", rename_all = "camelCase")]
    Subscribe { client_ip: String, callback_url: String },
    /// `DELETE /v2/eventSubscriptions`: an HTTP callback was removed.
    #[serde(rename = "unsubscribe_event", rename_all = "camelCase")]
    Unsubscribe { client_ip: String, callback_url: String },
    /// `POST /v2/apps`, `PUT`/`PATCH /v2/apps/{id}`: the app definition as the API shows it.
    #[serde(rename = "api_post_event", rename_all = "camelCase")]
    ApiPost { client_ip: String, uri: String, app_definition: Json },
    /// `POST /v2/pods`.
    #[serde(rename = "pod_created_event", rename_all = "camelCase")]
    PodCreated {
        client_ip: String,
        uri: String,
        /// The pod (not on the wire: what a reader must be allowed to read to see the event).
        #[serde(skip)]
        pod_id: String,
    },
    /// `PUT /v2/pods/{id}`.
    #[serde(rename = "pod_updated_event", rename_all = "camelCase")]
    PodUpdated {
        client_ip: String,
        uri: String,
        /// The pod (not on the wire: what a reader must be allowed to read to see the event).
        #[serde(skip)]
        pod_id: String,
    },
    /// `DELETE /v2/pods/{id}`.
    #[serde(rename = "pod_deleted_event", rename_all = "camelCase")]
    PodDeleted {
        client_ip: String,
        uri: String,
        /// The pod (not on the wire: what a reader must be allowed to read to see the event).
        #[serde(skip)]
        pod_id: String,
    },
    #[serde(rename = "scheduler_registered_event", rename_all = "camelCase")]
    SchedulerRegistered { framework_id: String, master: String },
    #[serde(rename = "scheduler_reregistered_event", rename_all = "camelCase")]
    SchedulerReregistered { master: String },
    #[serde(rename = "scheduler_disconnected_event")]
    SchedulerDisconnected {},
    #[serde(rename = "status_update_event", rename_all = "camelCase")]
    StatusUpdate {
        slave_id: String,
        task_id: String,
        /// `TASK_RUNNING` etc.
        task_status: String,
        message: String,
        app_id: String,
        host: String,
        ip_addresses: Vec<TaskIpAddress>,
        ports: Vec<u16>,
        #[serde(with = "crate::time::serde_ts")]
        version: Timestamp,
    },
    #[serde(rename = "instance_changed_event", rename_all = "camelCase")]
    InstanceChanged {
        instance_id: String,
        /// `Running`, `Killed`, `UnreachableInactive`, …
        condition: String,
        run_spec_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(with = "crate::time::serde_ts")]
        run_spec_version: Timestamp,
    },
    #[serde(rename = "instance_health_changed_event", rename_all = "camelCase")]
    InstanceHealthChanged {
        instance_id: String,
        run_spec_id: String,
        #[serde(with = "crate::time::serde_ts")]
        run_spec_version: Timestamp,
        healthy: Option<bool>,
    },
    #[serde(rename = "unknown_instance_terminated_event", rename_all = "camelCase")]
    UnknownInstanceTerminated { instance_id: String, run_spec_id: String, condition: String },
    /// A health check is active for an app version (the version's first instances start).
    #[serde(rename = "add_health_check_event", rename_all = "camelCase")]
    AddHealthCheck {
        app_id: String,
        health_check: Json,
        #[serde(with = "crate::time::serde_ts")]
        version: Timestamp,
    },
    /// An app's health checks are gone (the app was stopped or its checks changed).
    #[serde(rename = "remove_health_check_event", rename_all = "camelCase")]
    RemoveHealthCheck { app_id: String },
    #[serde(rename = "failed_health_check_event", rename_all = "camelCase")]
    FailedHealthCheck {
        app_id: String,
        /// Upstream puts the instance id here.
        task_id: String,
        health_check: Json,
    },
    #[serde(rename = "health_status_changed_event", rename_all = "camelCase")]
    HealthStatusChanged {
        app_id: String,
        instance_id: String,
        #[serde(with = "crate::time::serde_ts")]
        version: Timestamp,
        alive: bool,
    },
    #[serde(rename = "unhealthy_instance_kill_event", rename_all = "camelCase")]
    UnhealthyInstanceKill {
        app_id: String,
        task_id: String,
        instance_id: String,
        #[serde(with = "crate::time::serde_ts")]
        version: Timestamp,
        reason: String,
        host: String,
        slave_id: String,
    },
    #[serde(rename = "group_change_success", rename_all = "camelCase")]
    GroupChangeSuccess {
        group_id: String,
        #[serde(with = "crate::time::serde_ts")]
        version: Timestamp,
    },
    #[serde(rename = "group_change_failed", rename_all = "camelCase")]
    GroupChangeFailed {
        group_id: String,
        #[serde(with = "crate::time::serde_ts")]
        version: Timestamp,
        reason: String,
    },
    /// A step starts.
    #[serde(rename = "deployment_info", rename_all = "camelCase")]
    DeploymentInfo { plan: Json, current_step: Json },
    #[serde(rename = "deployment_step_success", rename_all = "camelCase")]
    DeploymentStepSuccess { plan: Json, current_step: Json },
    #[serde(rename = "deployment_step_failure", rename_all = "camelCase")]
    DeploymentStepFailure { plan: Json, current_step: Json },
    #[serde(rename = "deployment_success", rename_all = "camelCase")]
    DeploymentSuccess { id: String, plan: Json },
    #[serde(rename = "deployment_failed", rename_all = "camelCase")]
    DeploymentFailed { id: String, plan: Json, reason: String },
    #[serde(rename = "app_terminated_event", rename_all = "camelCase")]
    AppTerminated { app_id: String },
}

impl Event {
    /// The `eventType` (also the SSE `event:` name).
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::EventStreamAttached { .. } => "event_stream_attached",
            Self::EventStreamDetached { .. } => "event_stream_detached",
            Self::Subscribe { .. } => "subscribe_event",
            Self::Unsubscribe { .. } => "unsubscribe_event",
            Self::ApiPost { .. } => "api_post_event",
            Self::PodCreated { .. } => "pod_created_event",
            Self::PodUpdated { .. } => "pod_updated_event",
            Self::PodDeleted { .. } => "pod_deleted_event",
            Self::SchedulerRegistered { .. } => "scheduler_registered_event",
            Self::SchedulerReregistered { .. } => "scheduler_reregistered_event",
            Self::SchedulerDisconnected {} => "scheduler_disconnected_event",
            Self::StatusUpdate { .. } => "status_update_event",
            Self::InstanceChanged { .. } => "instance_changed_event",
            Self::InstanceHealthChanged { .. } => "instance_health_changed_event",
            Self::UnknownInstanceTerminated { .. } => "unknown_instance_terminated_event",
            Self::FailedHealthCheck { .. } => "failed_health_check_event",
            Self::HealthStatusChanged { .. } => "health_status_changed_event",
            Self::AddHealthCheck { .. } => "add_health_check_event",
            Self::RemoveHealthCheck { .. } => "remove_health_check_event",
            Self::UnhealthyInstanceKill { .. } => "unhealthy_instance_kill_event",
            Self::GroupChangeSuccess { .. } => "group_change_success",
            Self::GroupChangeFailed { .. } => "group_change_failed",
            Self::DeploymentInfo { .. } => "deployment_info",
            Self::DeploymentStepSuccess { .. } => "deployment_step_success",
            Self::DeploymentStepFailure { .. } => "deployment_step_failure",
            Self::DeploymentSuccess { .. } => "deployment_success",
            Self::DeploymentFailed { .. } => "deployment_failed",
            Self::AppTerminated { .. } => "app_terminated_event",
        }
    }

    /// The event's JSON with `eventType` and `timestamp`.
    /// The apps and groups an event is about (`None` for events about none, such as
    /// `scheduler_registered_event`): what a reader must be allowed to read to see it.
    /// Deployment events name the apps and pods of their plan's steps.
    pub fn subject_paths(&self) -> Option<Vec<String>> {
        let one = |id: &str| Some(vec![id.to_string()]);
        match self {
            Self::EventStreamAttached { .. }
            | Self::EventStreamDetached { .. }
            | Self::Subscribe { .. }
            | Self::Unsubscribe { .. }
            | Self::SchedulerRegistered { .. }
            | Self::SchedulerReregistered { .. }
            | Self::SchedulerDisconnected {} => None,
            Self::ApiPost { app_definition, .. } => {
                Some(vec![app_definition["id"].as_str().unwrap_or("/").to_string()])
            }
            Self::StatusUpdate { app_id, .. }
            | Self::AddHealthCheck { app_id, .. }
            | Self::RemoveHealthCheck { app_id }
            | Self::FailedHealthCheck { app_id, .. }
            | Self::HealthStatusChanged { app_id, .. }
            | Self::UnhealthyInstanceKill { app_id, .. }
            | Self::AppTerminated { app_id } => one(app_id),
            Self::InstanceChanged { run_spec_id, .. }
            | Self::InstanceHealthChanged { run_spec_id, .. }
            | Self::UnknownInstanceTerminated { run_spec_id, .. } => one(run_spec_id),
            Self::GroupChangeSuccess { group_id, .. } | Self::GroupChangeFailed { group_id, .. } => one(group_id),
            Self::PodCreated { pod_id, .. } | Self::PodUpdated { pod_id, .. } | Self::PodDeleted { pod_id, .. } => {
                one(pod_id)
            }
            Self::DeploymentInfo { plan, .. }
            | Self::DeploymentStepSuccess { plan, .. }
            | Self::DeploymentStepFailure { plan, .. }
            | Self::DeploymentSuccess { plan, .. }
            | Self::DeploymentFailed { plan, .. } => Some(plan_subjects(plan)),
        }
    }

    pub fn to_json(&self, timestamp: Timestamp) -> Json {
        let mut value = serde_json::to_value(self).unwrap_or(Json::Null);
        if let Json::Object(map) = &mut value {
            map.insert("timestamp".into(), Json::String(format_timestamp(timestamp)));
        }
        value
    }
}

/// The `plan` of deployment events in the light format (no original/target groups):
/// `{"id", "version", "steps": [{"actions": [...]}]}`.
pub fn light_plan(info: &DeploymentInfo) -> Json {
    json!({
        "id": info.id,
        "version": format_timestamp(info.version),
        "steps": info.steps.iter().map(|actions| json!({ "actions": actions })).collect::<Vec<_>>(),
    })
}

/// The `plan` of deployment events in the full format: the light plan plus the `original` and
/// `target` group states (`{"id","apps","groups","pods","dependencies","version"}`), which
/// marathon-python requires.
pub fn full_plan(info: &DeploymentInfo, original: &Json, target: &Json) -> Json {
    let mut plan = light_plan(info);
    if let Json::Object(map) = &mut plan {
        map.insert("original".into(), original.clone());
        map.insert("target".into(), target.clone());
    }
    plan
}

/// A group state of a full plan holding `apps` (app JSON) at `version`.
pub fn group_state(apps: Vec<Json>, version: Timestamp) -> Json {
    json!({"id": "/", "apps": apps, "groups": [], "pods": [], "dependencies": [], "version": format_timestamp(version)})
}

/// `json` in the light plan format: `plan.original` and `plan.target` removed (events without a
/// plan are unchanged).
pub fn lighten(json: &Json) -> Json {
    let mut light = json.clone();
    if let Some(Json::Object(plan)) = light.get_mut("plan") {
        plan.remove("original");
        plan.remove("target");
    }
    light
}

/// The `currentStep` of deployment events: `{"actions": [...]}` of step `index` (0-based).
pub fn step_json(info: &DeploymentInfo, index: usize) -> Json {
    json!({ "actions": info.steps.get(index).cloned().unwrap_or_default() })
}

/// The apps and pods of a deployment plan's steps (`steps[].actions[].app` or `.pod`).
pub fn plan_subjects(plan: &Json) -> Vec<String> {
    let mut ids: Vec<String> = plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|step| step["actions"].as_array().into_iter().flatten())
        .filter_map(|action| action["app"].as_str().or_else(|| action["pod"].as_str()))
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::DeploymentAction;
    use crate::parse_timestamp;

    fn at(s: &str) -> Timestamp {
        parse_timestamp(s).expect("timestamp")
    }

    #[test]
    fn status_update_has_upstream_fields() {
        let event = Event::StatusUpdate {
            slave_id: "S1".into(),
            task_id: "foo.instance-1._app.1".into(),
            task_status: "TASK_RUNNING".into(),
            message: String::new(),
            app_id: "/foo".into(),
            host: "srv5".into(),
            ip_addresses: vec![TaskIpAddress { ip_address: "10.0.0.5".into(), protocol: "IPv4".into() }],
            ports: vec![31776],
            version: at("2015-09-30T09:09:17.614Z"),
        };
        assert_eq!(event.event_type(), "status_update_event");
        assert_eq!(
            event.to_json(at("2015-09-30T12:44:45.681Z")),
            json!({
                "eventType": "status_update_event", "slaveId": "S1", "taskId": "foo.instance-1._app.1",
                "taskStatus": "TASK_RUNNING", "message": "", "appId": "/foo", "host": "srv5",
                "ipAddresses": [{"ipAddress": "10.0.0.5", "protocol": "IPv4"}], "ports": [31776],
                "version": "2015-09-30T09:09:17.614Z", "timestamp": "2015-09-30T12:44:45.681Z"
            })
        );
    }

    #[test]
    fn subscription_events_have_upstream_fields() {
        let event =
            Event::Subscribe { client_ip: "127.0.0.1".into(), callback_url: "http://localhost:9292/callback".into() };
        assert_eq!(
            event.to_json(at("2016-01-01T00:00:00.000Z")),
            json!({
                "eventType": "subscribe_event", "clientIp": "127.0.0.1",
                "callbackUrl": "http://localhost:9292/callback", "timestamp": "2016-01-01T00:00:00.000Z"
            })
        );
        let event = Event::Unsubscribe { client_ip: "::1".into(), callback_url: "http://h/cb".into() };
        assert_eq!(event.to_json(at("2016-01-01T00:00:00.000Z"))["eventType"], "unsubscribe_event");
    }

    #[test]
    fn every_type_name_matches_its_serialized_tag() {
        let t = at("2020-01-01T00:00:00.000Z");
        let info = DeploymentInfo {
            id: "d1".into(),
            version: t,
            affected_apps: vec![],
            affected_pods: vec![],
            steps: vec![vec![DeploymentAction {
                action: "ScaleApplication".into(),
                app: crate::PathId::parse("/a"),
                pod: false,
            }]],
            current_step: 1,
        };
        let events = [
            Event::EventStreamAttached { remote_address: "1.2.3.4".into() },
            Event::SchedulerDisconnected {},
            Event::DeploymentInfo { plan: light_plan(&info), current_step: step_json(&info, 0) },
            Event::DeploymentSuccess { id: "d1".into(), plan: light_plan(&info) },
            Event::AppTerminated { app_id: "/a".into() },
            Event::Subscribe { client_ip: "127.0.0.1".into(), callback_url: "http://h/cb".into() },
            Event::Unsubscribe { client_ip: "127.0.0.1".into(), callback_url: "http://h/cb".into() },
            Event::HealthStatusChanged {
                app_id: "/a".into(),
                instance_id: "a.instance-1".into(),
                version: t,
                alive: true,
            },
        ];
        for event in events {
            let json = event.to_json(t);
            assert_eq!(json["eventType"], event.event_type());
            assert_eq!(json["timestamp"], "2020-01-01T00:00:00.000Z");
        }
        let plan = light_plan(&info);
        assert_eq!(plan["steps"][0]["actions"][0], json!({"action": "ScaleApplication", "app": "/a"}));
    }

    #[test]
    fn events_name_the_apps_and_groups_they_are_about() {
        let status = Event::AppTerminated { app_id: "/prod/web".into() };
        assert_eq!(status.subject_paths(), Some(vec!["/prod/web".to_string()]));
        let plan = json!({"steps": [{"actions": [{"action": "StartApplication", "app": "/b"}, {"action": "x", "pod": "/a"}]},
                                    {"actions": [{"action": "ScaleApplication", "app": "/b"}]}]});
        let deployment = Event::DeploymentSuccess { id: "d".into(), plan };
        assert_eq!(deployment.subject_paths(), Some(vec!["/a".to_string(), "/b".to_string()]));
        assert_eq!(Event::SchedulerDisconnected {}.subject_paths(), None);
    }
}
