//! The agent's Prometheus metrics (`/metrics/prometheus`). The runtime counts where it executes
//! the core's commands: launches (by containerizer, and failed ones), status updates sent to
//! the master (by state; resends count again), health check results, and the checkpoint's group
//! commits (count and latency); the HTTP layer every request. The numbers of
//! `/metrics/snapshot` (tasks by state, resources, registration) are shown as gauges named after
//! their keys (`slave/tasks_running` is `mesos_slave_tasks_running`).

use httpd::metrics::{HttpMetrics, SnapshotGauges, counter_vec, latency_histogram};
use prometheus::{Histogram, IntCounterVec, Registry};
use std::sync::Arc;

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) http: Arc<HttpMetrics>,
    /// Containers started, by `containerizer` and `result` (`launched`, `failed`).
    pub(crate) launches: IntCounterVec,
    /// Status updates sent to the master, by state.
    pub(crate) status_updates: IntCounterVec,
    /// Health check results, by `result` (`healthy`, `unhealthy`).
    pub(crate) health_checks: IntCounterVec,
    /// Checkpoint group commits (one write and one fdatasync each).
    pub(crate) checkpoint_writes: Histogram,
    snapshot: SnapshotGauges,
}

impl Metrics {
    pub(crate) fn new() -> Arc<Self> {
        let r = httpd::metrics::registry();
        Arc::new(Self {
            http: HttpMetrics::new(&r, "mesos_agent"),
            launches: counter_vec(
                &r,
                "mesos_agent_launches_total",
                "Task containers started, by containerizer and result",
                &["containerizer", "result"],
            ),
            status_updates: counter_vec(
                &r,
                "mesos_agent_status_updates_sent_total",
                "Task status updates sent to the master (resends too), by state",
                &["state"],
            ),
            health_checks: counter_vec(&r, "mesos_agent_health_checks_total", "Health check results", &["result"]),
            checkpoint_writes: latency_histogram(
                &r,
                "mesos_agent_checkpoint_write_duration_seconds",
                "Checkpoint group commits and their latency",
            ),
            snapshot: SnapshotGauges::default(),
            registry: r,
        })
    }

    pub(crate) fn count_health_check<E>(&self, result: &Result<(), E>) {
        let result = if result.is_ok() { "healthy" } else { "unhealthy" };
        self.health_checks.with_label_values(&[result]).inc();
    }

    /// The registry in the Prometheus text format, with `snapshot` (`/metrics/snapshot`'s JSON
    /// object) as gauges.
    pub(crate) fn render(&self, snapshot: &serde_json::Value) -> axum::response::Response {
        self.snapshot.set(&self.registry, snapshot);
        httpd::metrics::render(&self.registry)
    }
}
