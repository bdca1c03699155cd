//! What the three servers share for Prometheus metrics (`/metrics/prometheus`): a registry per
//! component (so that `marathon local`, which runs every component in one process, still shows
//! each component its own), the process collector (CPU seconds, resident memory, open file
//! descriptors, threads) in each, the HTTP layer's request histogram, and the text rendering.
//!
//! HTTP requests are measured by [`track`], a middleware added with `Router::layer`: it labels
//! each request with its route template (axum's `MatchedPath`, never the raw path, so ids in
//! paths do not make new series), its method and its status class, and times it until the
//! response's head is ready (a stream's body is not waited for).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntGauge, Opts, Registry, TextEncoder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The path every component serves its metrics on in the Prometheus text format.
pub const PROMETHEUS_PATH: &str = "/metrics/prometheus";

/// Latency buckets (seconds) of request and write histograms: from half a millisecond (most
/// reads) to ten seconds.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A component's registry, with the process collector registered (`process_*` metrics).
pub fn registry() -> Registry {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    if let Err(e) = registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self())) {
        tracing::warn!(error = %e, "cannot register the process metrics");
    }
    registry
}

/// Registers `collector` in `registry` and returns it (names are fixed in the code, so a
/// failure is a bug; it is logged, and the metric is still counted, only not shown).
pub fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    if let Err(e) = registry.register(Box::new(collector.clone())) {
        tracing::error!(error = %e, "cannot register a metric");
    }
    collector
}

/// A histogram of latencies in seconds with [`LATENCY_BUCKETS`].
pub fn latency_histogram(registry: &Registry, name: &str, help: &str) -> prometheus::Histogram {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let histogram = prometheus::Histogram::with_opts(opts).expect("valid histogram");
    register(registry, histogram)
}

/// A counter with labels.
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::IntCounterVec {
    let counter = prometheus::IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    register(registry, counter)
}

/// A counter.
pub fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::IntCounter {
    let counter = prometheus::IntCounter::new(name, help).expect("valid counter");
    register(registry, counter)
}

/// A gauge.
pub fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("valid gauge");
    register(registry, gauge)
}

/// Something else that wants to see every request (Marathon's Dropwizard timers).
pub type Observer = Arc<dyn Fn(&Method, StatusCode, Duration) + Send + Sync>;

/// The HTTP layer's metrics of one server.
pub struct HttpMetrics {
    /// `<prefix>_http_request_duration_seconds{route, method, status}`.
    duration: HistogramVec,
    /// `<prefix>_http_requests_active_gauge`: requests being answered.
    active: IntGauge,
    observer: Option<Observer>,
}

impl HttpMetrics {
    /// Registers the HTTP metrics of a server in `registry`, named with `prefix` (`marathon`,
    /// `mesos_master`, `mesos_agent`).
    pub fn new(registry: &Registry, prefix: &str) -> Arc<Self> {
        Self::with_observer(registry, prefix, None)
    }

    /// [`Self::new`], and every request is also shown to `observer`.
    pub fn with_observer(registry: &Registry, prefix: &str, observer: Option<Observer>) -> Arc<Self> {
        let opts = HistogramOpts::new(
            format!("{prefix}_http_request_duration_seconds"),
            "Time to answer HTTP requests (until the response head), by route template, method and status class",
        )
        .buckets(LATENCY_BUCKETS.to_vec());
        let duration = HistogramVec::new(opts, &["route", "method", "status"]).expect("valid histogram");
        let duration = register(registry, duration);
        let active = gauge(registry, &format!("{prefix}_http_requests_active_gauge"), "HTTP requests being answered");
        Arc::new(Self { duration, active, observer })
    }

    /// Requests being answered.
    pub fn active(&self) -> i64 {
        self.active.get()
    }

    /// Counts one answered request.
    pub fn observe(&self, route: &str, method: &Method, status: StatusCode, elapsed: Duration) {
        self.duration
            .with_label_values(&[route, method_label(method), status_class(status)])
            .observe(elapsed.as_secs_f64());
        if let Some(observer) = &self.observer {
            observer(method, status, elapsed);
        }
    }
}

/// The method as a label: the standard ones by name, anything else as `OTHER` (clients choose
/// methods, and labels must stay few).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `1xx` to `5xx`.
pub fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Middleware (`Router::layer(axum::middleware::from_fn_with_state(metrics, track))`) that
/// measures every request. Routes are labelled by their template; requests no route matched
/// are labelled `unmatched`.
pub async fn track(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    metrics.active.inc();
    let _active = Decrement(&metrics.active);
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("unmatched");
    metrics.observe(route, &method, response.status(), started.elapsed());
    response
}

/// Decrements the gauge when the request ends, also when its handler is dropped.
struct Decrement<'a>(&'a IntGauge);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The numbers of a component's `/metrics/snapshot` (a flat JSON object, as Mesos' metrics) as
/// gauges named after their keys: `master/tasks_running` is `mesos_master_tasks_running`.
/// Gauges are registered as their keys first appear.
#[derive(Default)]
pub struct SnapshotGauges {
    gauges: Mutex<HashMap<String, prometheus::Gauge>>,
}

impl SnapshotGauges {
    /// Sets the gauges of `snapshot`'s numbers (registering new ones in `registry`).
    pub fn set(&self, registry: &Registry, snapshot: &serde_json::Value) {
        let serde_json::Value::Object(values) = snapshot else { return };
        let mut gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        for (key, value) in values {
            let Some(value) = value.as_f64() else { continue };
            if !gauges.contains_key(key) {
                match prometheus::Gauge::new(
                    format!("mesos_{}", metric_name(key)),
                    format!("{key} of /metrics/snapshot"),
                ) {
                    Ok(gauge) => {
                        gauges.insert(key.clone(), register(registry, gauge));
                    }
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, "cannot show a snapshot metric");
                        continue;
                    }
                }
            }
            if let Some(gauge) = gauges.get(key) {
                gauge.set(value);
            }
        }
    }
}

/// A metric name from a snapshot key: `master/tasks_running` is `master_tasks_running`.
fn metric_name(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// `registry` in the Prometheus text format (version 0.0.4).
pub fn render(registry: &Registry) -> Response {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&registry.gather(), &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot render the metrics: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_keys_become_metric_names() {
        assert_eq!(metric_name("master/tasks_running"), "master_tasks_running");
        assert_eq!(metric_name("slave/cpus_percent"), "slave_cpus_percent");
        let registry = Registry::new();
        let gauges = SnapshotGauges::default();
        gauges.set(&registry, &serde_json::json!({"slave/tasks_running": 2.0, "slave/registered": 1, "x": "text"}));
        gauges.set(&registry, &serde_json::json!({"slave/tasks_running": 3.0}));
        let text = String::from_utf8(render_bytes(&registry)).expect("utf-8");
        assert!(text.contains("mesos_slave_tasks_running 3"), "{text}");
        assert!(text.contains("mesos_slave_registered 1"), "{text}");
        assert!(!text.contains("mesos_x"), "{text}");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::SWITCHING_PROTOCOLS), "1xx");
        assert_eq!(status_class(StatusCode::TEMPORARY_REDIRECT), "3xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }

    /// The route template labels a request, not its path; unmatched requests share one label.
    #[tokio::test]
    async fn requests_are_labelled_by_route_template() {
        use tower::ServiceExt;
        let registry = registry();
        let metrics = HttpMetrics::new(&registry, "test");
        let app = axum::Router::new()
            .route("/things/{id}", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(metrics, track));
        for uri in ["/things/1", "/things/2", "/nothing"] {
            let request = axum::http::Request::get(uri).body(axum::body::Body::empty()).expect("request");
            app.clone().oneshot(request).await.expect("response");
        }
        let text = String::from_utf8(render_bytes(&registry)).expect("utf-8");
        assert!(
            text.contains(
                r#"test_http_request_duration_seconds_count{method="GET",route="/things/{id}",status="2xx"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"test_http_request_duration_seconds_count{method="GET",route="unmatched",status="4xx"} 1"#),
            "{text}"
        );
        assert!(text.contains("test_http_requests_active_gauge 0"), "{text}");
        #[cfg(target_os = "linux")]
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }

    fn render_bytes(registry: &Registry) -> Vec<u8> {
        let mut body = Vec::new();
        TextEncoder::new().encode(&registry.gather(), &mut body).expect("encode");
        body
    }
}
