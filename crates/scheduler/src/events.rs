//! The event bus behind `/v2/events`: the core's [`BusEvent`]s and the shell's own events
//! (API posts, deployments) rendered once as Marathon's JSON and broadcast to every subscriber.
//!
//! A subscriber that falls more than [`EventBus::CAPACITY`] events behind is disconnected (like
//! upstream's `--event_stream_max_outstanding_messages`); it reconnects and rereads the state.

use crate::convert::api_time;
use crate::core::{BusEvent, Timestamp};
use marathon_api::AppDefinition;
use marathon_api::events::Event;
use std::sync::Arc;
use tokio::sync::broadcast;

/// An event as sent to subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub event_type: &'static str,
    /// One line of JSON.
    pub data: String,
    /// The `plan-format=light` rendering, when it differs (deployment events).
    pub light: Option<String>,
}

impl Published {
    pub fn new(event: &Event, at: Timestamp) -> Self {
        let json = event.to_json(api_time(at));
        let light = marathon_api::events::lighten(&json);
        let light = (light != json).then(|| light.to_string());
        Self { event_type: event.event_type(), data: json.to_string(), light }
    }

    /// The data line for a subscriber that asked for light plans or not.
    pub fn data(&self, light: bool) -> &str {
        match (&self.light, light) {
            (Some(light), true) => light,
            _ => &self.data,
        }
    }
}

/// The broadcast channel of published events.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Published>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self { sender: broadcast::channel(Self::CAPACITY).0 }
    }
}

impl EventBus {
    /// Events a subscriber may lag behind before it is dropped.
    pub const CAPACITY: usize = 4096;

    pub fn publish(&self, event: &Event, at: Timestamp) {
        // No subscriber is fine.
        let _ = self.sender.send(Arc::new(Published::new(event, at)));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }
}

/// The wire event of a core event; `definition` is the app's stored definition (for the health
/// check of `failed_health_check_event`), `master` the master the scheduler talks to.
pub fn from_core(event: &BusEvent, definition: Option<&AppDefinition>, master: &str) -> Vec<(Event, Timestamp)> {
    match event {
        BusEvent::StatusUpdate {
            app_id,
            task_id,
            agent_id,
            host,
            state,
            message,
            host_ports,
            version,
            timestamp,
            ..
        } => vec![(
            Event::StatusUpdate {
                slave_id: agent_id.as_str().to_string(),
                task_id: task_id.as_str().to_string(),
                task_status: state.name().to_string(),
                message: message.clone().unwrap_or_default(),
                app_id: app_id.to_string(),
                host: host.clone(),
                ip_addresses: Vec::new(),
                ports: host_ports.clone(),
                version: api_time(*version),
            },
            *timestamp,
        )],
        BusEvent::InstanceChanged { instance_id, app_id, condition, agent_id, host, version, timestamp } => vec![(
            Event::InstanceChanged {
                instance_id: instance_id.to_string(),
                condition: condition.name().to_string(),
                run_spec_id: app_id.to_string(),
                agent_id: agent_id.as_ref().map(|a| a.as_str().to_string()),
                host: host.clone(),
                run_spec_version: api_time(*version),
            },
            *timestamp,
        )],
        BusEvent::UnknownInstanceTerminated { instance_id, task_id, condition, timestamp } => {
            let instance = instance_id.as_ref().map_or_else(|| task_id.as_str().to_string(), |i| i.to_string());
            let run_spec_id =
                marathon_api::PathId::from_safe_id(instance_id.as_ref().map_or("", |i| i.safe_app_id())).to_string();
            vec![(
                Event::UnknownInstanceTerminated {
                    instance_id: instance,
                    run_spec_id,
                    condition: condition.name().to_string(),
                },
                *timestamp,
            )]
        }
        BusEvent::AppTerminated { app_id, timestamp } => {
            vec![(Event::AppTerminated { app_id: app_id.to_string() }, *timestamp)]
        }
        BusEvent::SchedulerRegistered { framework_id, timestamp } => vec![(
            Event::SchedulerRegistered { framework_id: framework_id.as_str().to_string(), master: master.to_string() },
            *timestamp,
        )],
        BusEvent::SchedulerDisconnected { timestamp } => vec![(Event::SchedulerDisconnected {}, *timestamp)],
        BusEvent::HealthStatusChanged { app_id, instance_id, version, alive, timestamp, .. } => vec![
            (
                Event::HealthStatusChanged {
                    app_id: app_id.to_string(),
                    instance_id: instance_id.to_string(),
                    version: api_time(*version),
                    alive: *alive,
                },
                *timestamp,
            ),
            (
                Event::InstanceHealthChanged {
                    instance_id: instance_id.to_string(),
                    run_spec_id: app_id.to_string(),
                    run_spec_version: api_time(*version),
                    healthy: Some(*alive),
                },
                *timestamp,
            ),
        ],
        BusEvent::FailedHealthCheck { app_id, instance_id, check, timestamp, .. } => {
            let health_check = definition
                .and_then(|d| d.health_checks.get(*check))
                .and_then(|c| serde_json::to_value(c).ok())
                .unwrap_or(serde_json::Value::Null);
            vec![(
                Event::FailedHealthCheck { app_id: app_id.to_string(), task_id: instance_id.to_string(), health_check },
                *timestamp,
            )]
        }
        BusEvent::UnhealthyInstanceKill {
            app_id,
            instance_id,
            task_id,
            version,
            reason,
            host,
            agent_id,
            timestamp,
        } => vec![(
            Event::UnhealthyInstanceKill {
                app_id: app_id.to_string(),
                task_id: task_id.as_str().to_string(),
                instance_id: instance_id.to_string(),
                version: api_time(*version),
                reason: reason.clone(),
                host: host.clone().unwrap_or_default(),
                slave_id: agent_id.as_ref().map(|a| a.as_str().to_string()).unwrap_or_default(),
            },
            *timestamp,
        )],
    }
}
