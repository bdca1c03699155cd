//! Marathon's metrics: one set of measurements, shown two ways: `/metrics/prometheus` (the
//! Prometheus text format) and `/metrics` (Dropwizard's JSON, with upstream's metric names).
//!
//! The shell counts (the core stays free of them): the driver where it executes the core's
//! commands and feeds it Mesos events (offers, launches, status updates, revives), the
//! deployments where they start and end, the probe tasks (health check results), the store
//! writer (write latency), the event bus relay (delivery lag) and the HTTP layer
//! (`httpd::metrics::track`, whose every request also feeds the Dropwizard timers here). Gauges
//! of the state (apps, instances, deployments) are read from the driver when metrics are asked
//! for.

mod dropwizard;

use dropwizard::{Meter, Timer};
use httpd::metrics::{HttpMetrics, counter, counter_vec, gauge, latency_histogram};
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// What the `/metrics` endpoints show; one per scheduler process (it outlives incarnations).
pub struct Metrics {
    pub(crate) registry: Registry,
    pub(crate) http: Arc<HttpMetrics>,
    /// Dropwizard timers and meters of the HTTP layer (`/metrics` only).
    http_timers: Arc<HttpTimers>,
    pub(crate) offers_incoming: IntCounter,
    pub(crate) offers_declined: IntCounter,
    pub(crate) offers_used: IntCounter,
    pub(crate) launch_operations: IntCounter,
    pub(crate) tasks_launched: IntCounter,
    pub(crate) revives: IntCounter,
    pub(crate) suppresses: IntCounter,
    pub(crate) kills: IntCounter,
    /// Status updates received, by `state` (`TASK_RUNNING`...).
    pub(crate) task_updates: IntCounterVec,
    pub(crate) deployments_started: IntCounter,
    pub(crate) deployments_succeeded: IntCounter,
    pub(crate) deployments_failed: IntCounter,
    /// Marathon health check results, by `result` (`healthy`, `unhealthy`).
    pub(crate) health_checks: IntCounterVec,
    /// Store commits (a group commit of batches each).
    pub(crate) store_writes: Histogram,
    pub(crate) store_write_failures: IntCounter,
    /// From an event's timestamp to its broadcast to the `/v2/events` streams.
    pub(crate) event_lag: Histogram,
    event_subscribers: IntGauge,
    event_backlog: IntGauge,
    apps: IntGauge,
    groups: IntGauge,
    instances: IntGauge,
    running: IntGauge,
    staged: IntGauge,
    launch_queue: IntGauge,
    deployments_active: IntGauge,
    connected: IntGauge,
    uptime: IntGauge,
    leadership: IntGauge,
}

/// Dropwizard's view of HTTP requests, as upstream names them.
#[derive(Default)]
struct HttpTimers {
    all: Timer,
    get: Timer,
    post: Timer,
    put: Timer,
    delete: Timer,
    /// `1xx` to `5xx`.
    responses: [Meter; 5],
}

impl HttpTimers {
    fn observe(&self, method: &axum::http::Method, status: axum::http::StatusCode, elapsed: Duration) {
        use axum::http::Method;
        self.all.update(elapsed);
        match *method {
            Method::GET => self.get.update(elapsed),
            Method::POST => self.post.update(elapsed),
            Method::PUT => self.put.update(elapsed),
            Method::DELETE => self.delete.update(elapsed),
            _ => {}
        }
        let class = usize::from((status.as_u16() / 100).clamp(1, 5)) - 1;
        self.responses[class].mark();
    }
}

/// The state's numbers, read on the driver.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StateGauges {
    pub(crate) apps: usize,
    pub(crate) groups: usize,
    pub(crate) instances: usize,
    pub(crate) running: usize,
    pub(crate) staged: usize,
    pub(crate) launch_queue: usize,
    pub(crate) deployments: usize,
    pub(crate) connected: bool,
    pub(crate) leading_for: Duration,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = httpd::metrics::registry();
        let http_timers = Arc::new(HttpTimers::default());
        let observer = http_timers.clone();
        let http = HttpMetrics::with_observer(
            &r,
            "marathon",
            Some(Arc::new(move |method: &axum::http::Method, status, elapsed| {
                observer.observe(method, status, elapsed)
            })),
        );
        Self {
            http,
            http_timers,
            offers_incoming: counter(&r, "marathon_mesos_offers_incoming_counter", "Offers received"),
            offers_declined: counter(&r, "marathon_mesos_offers_declined_counter", "Offers declined"),
            offers_used: counter(&r, "marathon_mesos_offers_used_counter", "Offers accepted to launch tasks"),
            launch_operations: counter(
                &r,
                "marathon_mesos_offer_operations_launch_counter",
                "LAUNCH operations sent (one per accepted offer set)",
            ),
            tasks_launched: counter(&r, "marathon_tasks_launched_counter", "Tasks launched"),
            revives: counter(&r, "marathon_mesos_calls_revive_counter", "REVIVE calls"),
            suppresses: counter(&r, "marathon_mesos_calls_suppress_counter", "SUPPRESS calls"),
            kills: counter(&r, "marathon_mesos_calls_kill_counter", "KILL calls"),
            task_updates: counter_vec(
                &r,
                "marathon_mesos_task_updates_counter",
                "Task status updates received, by state",
                &["state"],
            ),
            deployments_started: counter(&r, "marathon_deployments_counter", "Deployments started"),
            deployments_succeeded: counter(&r, "marathon_deployments_succeeded_counter", "Deployments finished"),
            deployments_failed: counter(
                &r,
                "marathon_deployments_failed_counter",
                "Deployments that failed: cancelled, rolled back or superseded",
            ),
            health_checks: counter_vec(
                &r,
                "marathon_health_checks_counter",
                "Marathon health check results, by result",
                &["result"],
            ),
            store_writes: latency_histogram(
                &r,
                "marathon_store_write_duration_seconds",
                "Store commits and their latency",
            ),
            store_write_failures: counter(&r, "marathon_store_write_failures_counter", "Store commits that failed"),
            event_lag: latency_histogram(
                &r,
                "marathon_event_bus_lag_seconds",
                "Time from an event's timestamp until it is broadcast to the event streams",
            ),
            event_subscribers: gauge(&r, "marathon_event_bus_subscribers_gauge", "Open /v2/events streams"),
            event_backlog: gauge(
                &r,
                "marathon_event_bus_backlog_gauge",
                "Messages the slowest event stream has not read yet",
            ),
            apps: gauge(&r, "marathon_apps_active_gauge", "Apps"),
            groups: gauge(&r, "marathon_groups_active_gauge", "Groups"),
            instances: gauge(&r, "marathon_instances_active_gauge", "Instances"),
            running: gauge(&r, "marathon_instances_running_gauge", "Running instances"),
            staged: gauge(&r, "marathon_instances_staged_gauge", "Staged instances"),
            launch_queue: gauge(&r, "marathon_instances_launch_queue_gauge", "Instances waiting to be launched"),
            deployments_active: gauge(&r, "marathon_deployments_active_gauge", "Running deployments"),
            connected: gauge(&r, "marathon_mesos_connected_gauge", "1 while subscribed to a Mesos master"),
            uptime: gauge(&r, "marathon_uptime_gauge_seconds", "Seconds since this process started"),
            leadership: gauge(
                &r,
                "marathon_leadership_duration_gauge_seconds",
                "Seconds since this scheduler's current leadership started",
            ),
            registry: r,
        }
    }

    /// Sets the gauges read from the driver (left as they were when not leading).
    pub(crate) fn set_state(&self, state: &StateGauges) {
        let set = |g: &IntGauge, v: usize| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        set(&self.apps, state.apps);
        set(&self.groups, state.groups);
        set(&self.instances, state.instances);
        set(&self.running, state.running);
        set(&self.staged, state.staged);
        set(&self.launch_queue, state.launch_queue);
        set(&self.deployments_active, state.deployments);
        self.connected.set(i64::from(state.connected));
        self.leadership.set(i64::try_from(state.leading_for.as_secs()).unwrap_or(i64::MAX));
    }

    /// Sets the gauges this process knows without the driver.
    pub(crate) fn set_process(&self, uptime: Duration, bus: &crate::events::EventBus) {
        self.uptime.set(i64::try_from(uptime.as_secs()).unwrap_or(i64::MAX));
        self.event_subscribers.set(i64::try_from(bus.subscribers()).unwrap_or(i64::MAX));
        self.event_backlog.set(i64::try_from(bus.backlog()).unwrap_or(i64::MAX));
    }

    /// Counts what the driver sends to the master.
    pub(crate) fn count_call(&self, call: &mesos_api::scheduler::Call) {
        use mesos_api::scheduler::CallType;
        match call.kind {
            Some(CallType::Accept) => {
                if let Some(accept) = &call.accept {
                    self.offers_used.inc_by(accept.offer_ids.len() as u64);
                    for operation in &accept.operations {
                        if let Some(launch) = &operation.launch {
                            self.launch_operations.inc();
                            self.tasks_launched.inc_by(launch.task_infos.len() as u64);
                        }
                        if let Some(group) = &operation.launch_group {
                            self.launch_operations.inc();
                            self.tasks_launched.inc_by(group.task_group.tasks.len() as u64);
                        }
                    }
                }
            }
            Some(CallType::Decline) => {
                if let Some(decline) = &call.decline {
                    self.offers_declined.inc_by(decline.offer_ids.len() as u64);
                }
            }
            Some(CallType::Revive) => self.revives.inc(),
            Some(CallType::Suppress) => self.suppresses.inc(),
            Some(CallType::Kill) => self.kills.inc(),
            _ => {}
        }
    }

    /// Counts a status update received.
    pub(crate) fn count_update(&self, status: &mesos_api::TaskStatus) {
        self.task_updates.with_label_values(&[status.state.name()]).inc();
    }

    /// Counts a health check result.
    pub(crate) fn count_probe(&self, outcome: &crate::core::ProbeOutcome) {
        let result = match outcome {
            crate::core::ProbeOutcome::Healthy => "healthy",
            crate::core::ProbeOutcome::Unhealthy { .. } => "unhealthy",
            crate::core::ProbeOutcome::Ignored => "ignored",
        };
        self.health_checks.with_label_values(&[result]).inc();
    }

    /// Times a store commit.
    pub(crate) fn observe_store_write(&self, elapsed: Duration, ok: bool) {
        self.store_writes.observe(elapsed.as_secs_f64());
        if !ok {
            self.store_write_failures.inc();
        }
    }

    /// `/metrics/prometheus`.
    pub(crate) fn prometheus(&self) -> axum::response::Response {
        httpd::metrics::render(&self.registry)
    }

    /// `/metrics`: Dropwizard's JSON (`version` 4.0.0) with upstream's names.
    pub(crate) fn dropwizard(&self) -> Value {
        let count = |c: &IntCounter| json!({ "count": c.get() });
        let value = |g: &IntGauge| json!({ "value": g.get() });
        let timers = &self.http_timers;
        let mut counters = Map::new();
        for (name, c) in [
            ("marathon.deployments.counter", &self.deployments_started),
            ("marathon.deployments.succeeded.counter", &self.deployments_succeeded),
            ("marathon.deployments.failed.counter", &self.deployments_failed),
            ("marathon.tasks.launched.counter", &self.tasks_launched),
            ("marathon.mesos.calls.revive.counter", &self.revives),
            ("marathon.mesos.calls.suppress.counter", &self.suppresses),
            ("marathon.mesos.calls.kill.counter", &self.kills),
            ("marathon.mesos.offer-operations.launch.counter", &self.launch_operations),
            ("marathon.mesos.offers.declined.counter", &self.offers_declined),
            ("marathon.mesos.offers.incoming.counter", &self.offers_incoming),
            ("marathon.mesos.offers.used.counter", &self.offers_used),
            ("marathon.persistence.writes.failed.counter", &self.store_write_failures),
        ] {
            counters.insert(name.to_string(), count(c));
        }
        // Upstream's, which this server does not do: always 0.
        for name in [
            "marathon.deployments.dismissed.counter",
            "marathon.mesos.offer-operations.launch-group.counter",
            "marathon.mesos.offer-operations.reserve.counter",
        ] {
            counters.insert(name.to_string(), json!({ "count": 0 }));
        }
        for mesos_state in mesos_api::TaskState::ALL {
            let state = mesos_state.name();
            let name = format!("marathon.mesos.task-updates.{}.counter", state.to_lowercase().replace('_', "-"));
            let updates = self.task_updates.get_metric_with_label_values(&[state]).map(|c| c.get()).unwrap_or(0);
            counters.insert(name, json!({ "count": updates }));
        }
        for result in ["healthy", "unhealthy"] {
            let checks = self.health_checks.get_metric_with_label_values(&[result]).map(|c| c.get()).unwrap_or(0);
            counters.insert(format!("marathon.health-checks.{result}.counter"), json!({ "count": checks }));
        }
        // Ours since before the timers (kept for the clients that read them).
        counters.insert("marathon.http.requests.counter".into(), json!({ "count": timers.all.count() }));
        counters.insert("marathon.http.responses.5xx.counter".into(), json!({ "count": timers.responses[4].count() }));

        let mut gauges = Map::new();
        for (name, g) in [
            ("marathon.apps.active.gauge", &self.apps),
            ("marathon.groups.active.gauge", &self.groups),
            ("marathon.instances.active.gauge", &self.instances),
            ("marathon.instances.running.gauge", &self.running),
            ("marathon.instances.staged.gauge", &self.staged),
            ("marathon.instances.launch-queue.gauge", &self.launch_queue),
            ("marathon.deployments.active.gauge", &self.deployments_active),
            ("marathon.mesos.connected.gauge", &self.connected),
            ("marathon.uptime.gauge.seconds", &self.uptime),
            ("marathon.leadership.duration.gauge.seconds", &self.leadership),
            ("marathon.http.event-streams.active.gauge", &self.event_subscribers),
        ] {
            gauges.insert(name.to_string(), value(g));
        }
        gauges.insert("marathon.http.requests.active.gauge".into(), json!({ "value": self.http.active() }));
        gauges.insert(
            "process.memory.resident.gauge.bytes".into(),
            json!({ "value": self.process_gauge("process_resident_memory_bytes") }),
        );
        gauges.insert("process.open-fds.gauge".into(), json!({ "value": self.process_gauge("process_open_fds") }));

        let mut meters = Map::new();
        for (i, meter) in timers.responses.iter().enumerate() {
            meters.insert(format!("marathon.http.responses.{}xx.rate.meter", i + 1), meter.json());
        }
        let mut timer_json = Map::new();
        for (name, timer) in [
            ("marathon.http.requests.duration.timer.seconds", &timers.all),
            ("marathon.http.requests.get.duration.timer.seconds", &timers.get),
            ("marathon.http.requests.post.duration.timer.seconds", &timers.post),
            ("marathon.http.requests.put.duration.timer.seconds", &timers.put),
            ("marathon.http.requests.delete.duration.timer.seconds", &timers.delete),
        ] {
            timer_json.insert(name.to_string(), timer.json());
        }
        json!({
            "version": "4.0.0",
            "counters": counters,
            "gauges": gauges,
            "histograms": {},
            "meters": meters,
            "timers": timer_json,
        })
    }

    /// A single-valued metric of the registry (the process collector's), 0 if absent.
    fn process_gauge(&self, name: &str) -> f64 {
        self.registry
            .gather()
            .iter()
            .find(|family| family.name() == name)
            .and_then(|family| family.get_metric().first().map(|m| m.get_gauge().get_value()))
            .unwrap_or(0.0)
    }
}
