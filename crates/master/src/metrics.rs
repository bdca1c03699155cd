//! The master's Prometheus metrics (`/metrics/prometheus`). The shell counts: the driver what
//! it serves (framework calls: accepts, declines, launches; agents' status updates by state)
//! and what it sends to frameworks (offers, forwarded updates), the registry thread its writes
//! (through [`TimedRegistry`]), the HTTP layer every request. The numbers of
//! `/metrics/snapshot` (agents, frameworks, tasks by state, resources...) are shown as gauges
//! named after their keys (`master/tasks_running` is `mesos_master_tasks_running`), read from
//! the driver when scraped.

use crate::core::Registry as MasterRegistry;
use crate::registry::{RegistryError, RegistryStore};
use httpd::metrics::{HttpMetrics, SnapshotGauges, counter, counter_vec, latency_histogram};
use mesos_api::agent::AgentCall;
use mesos_api::scheduler::{Call, CallType, Event};
use prometheus::{Histogram, IntCounter, IntCounterVec, Registry};
use std::sync::Arc;
use std::time::Instant;

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) http: Arc<HttpMetrics>,
    offers_sent: IntCounter,
    offers_rescinded: IntCounter,
    offers_accepted: IntCounter,
    offers_declined: IntCounter,
    tasks_launched: IntCounter,
    kills: IntCounter,
    /// Status updates from agents, by state.
    status_updates: IntCounterVec,
    /// Status updates sent to frameworks, by state.
    updates_forwarded: IntCounterVec,
    registry_writes: Histogram,
    /// `/metrics/snapshot`'s numbers.
    snapshot: SnapshotGauges,
}

impl Metrics {
    pub(crate) fn new() -> Arc<Self> {
        let r = httpd::metrics::registry();
        Arc::new(Self {
            http: HttpMetrics::new(&r, "mesos_master"),
            offers_sent: counter(&r, "mesos_master_offers_sent_total", "Offers sent to frameworks"),
            offers_rescinded: counter(&r, "mesos_master_offers_rescinded_total", "Offers rescinded"),
            offers_accepted: counter(&r, "mesos_master_offers_accepted_total", "Offers accepted by frameworks"),
            offers_declined: counter(&r, "mesos_master_offers_declined_total", "Offers declined by frameworks"),
            tasks_launched: counter(&r, "mesos_master_tasks_launched_total", "Tasks in frameworks' LAUNCH operations"),
            kills: counter(&r, "mesos_master_kill_calls_total", "KILL calls of frameworks"),
            status_updates: counter_vec(
                &r,
                "mesos_master_status_updates_total",
                "Task status updates received from agents, by state",
                &["state"],
            ),
            updates_forwarded: counter_vec(
                &r,
                "mesos_master_status_updates_forwarded_total",
                "Task status updates sent to frameworks, by state",
                &["state"],
            ),
            registry_writes: latency_histogram(
                &r,
                "mesos_master_registry_write_duration_seconds",
                "Registry writes and their latency",
            ),
            snapshot: SnapshotGauges::default(),
            registry: r,
        })
    }

    /// Counts a framework call the leader serves.
    pub(crate) fn count_call(&self, call: &Call) {
        match call.kind {
            Some(CallType::Accept) => {
                if let Some(accept) = &call.accept {
                    self.offers_accepted.inc_by(accept.offer_ids.len() as u64);
                    let launched: usize =
                        accept.operations.iter().filter_map(|o| o.launch.as_ref()).map(|l| l.task_infos.len()).sum();
                    self.tasks_launched.inc_by(launched as u64);
                }
            }
            Some(CallType::Decline) => {
                if let Some(decline) = &call.decline {
                    self.offers_declined.inc_by(decline.offer_ids.len() as u64);
                }
            }
            Some(CallType::Kill) => self.kills.inc(),
            _ => {}
        }
    }

    /// Counts an agent's call the leader serves.
    pub(crate) fn count_agent_call(&self, call: &AgentCall) {
        match call {
            AgentCall::StatusUpdate { status_update } => {
                self.status_updates.with_label_values(&[status_update.status.state.name()]).inc();
            }
            AgentCall::StatusUpdates { status_updates } => {
                for update in status_updates {
                    self.status_updates.with_label_values(&[update.status.state.name()]).inc();
                }
            }
            _ => {}
        }
    }

    /// Counts an event sent to a framework.
    pub(crate) fn count_event(&self, event: &Event) {
        match event {
            Event::Offers { offers } => self.offers_sent.inc_by(offers.offers.len() as u64),
            Event::Rescind { .. } => self.offers_rescinded.inc(),
            Event::Update { update } => self.updates_forwarded.with_label_values(&[update.status.state.name()]).inc(),
            _ => {}
        }
    }

    /// The registry in the Prometheus text format, with `snapshot` (`/metrics/snapshot`'s JSON
    /// object) as gauges.
    pub(crate) fn render(&self, snapshot: Option<&serde_json::Value>) -> axum::response::Response {
        if let Some(snapshot) = snapshot {
            self.snapshot.set(&self.registry, snapshot);
        }
        httpd::metrics::render(&self.registry)
    }

    /// Wraps the registry's store so that its writes are timed.
    pub(crate) fn timed(self: &Arc<Self>, store: Box<dyn RegistryStore>) -> Box<dyn RegistryStore> {
        Box::new(TimedRegistry { store, writes: self.registry_writes.clone() })
    }
}

/// A registry store whose writes are timed.
struct TimedRegistry {
    store: Box<dyn RegistryStore>,
    writes: Histogram,
}

impl RegistryStore for TimedRegistry {
    fn load(&mut self) -> Result<Option<MasterRegistry>, RegistryError> {
        self.store.load()
    }

    fn store(&mut self, registry: &MasterRegistry) -> Result<(), RegistryError> {
        let started = Instant::now();
        let result = self.store.store(registry);
        self.writes.observe(started.elapsed().as_secs_f64());
        result
    }
}
