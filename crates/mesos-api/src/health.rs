//! `mesos.v1.HealthCheck`: the health check an executor runs next to a task
//! (`TaskInfo.health_check`).
//!
//! `TaskInfo` keeps the field as raw JSON so that nothing a framework sends is lost on the way;
//! the agent, which runs the checks, reads it with [`HealthCheck::from_json`]. Defaults are
//! those of `mesos.proto`, and [`HealthCheck::validate`] gives the errors of Mesos'
//! `common::validation::validateHealthCheck`.

use crate::messages::CommandInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::time::Duration;

fn default_delay() -> f64 {
    15.0
}

fn default_interval() -> f64 {
    10.0
}

fn default_timeout() -> f64 {
    20.0
}

fn default_consecutive_failures() -> u32 {
    3
}

fn default_grace_period() -> f64 {
    10.0
}

/// `HealthCheck.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthCheckType {
    #[serde(rename = "COMMAND")]
    Command,
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(other, rename = "UNKNOWN")]
    Unknown,
}

/// `NetworkInfo.Protocol`: which loopback address a check connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum IpProtocol {
    #[default]
    #[serde(rename = "IPv4")]
    Ipv4,
    #[serde(rename = "IPv6")]
    Ipv6,
}

impl IpProtocol {
    /// The loopback address of this protocol (`127.0.0.1` or `::1`).
    pub fn loopback(self) -> std::net::IpAddr {
        match self {
            Self::Ipv4 => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            Self::Ipv6 => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        }
    }
}

/// `HealthCheck.HTTPCheckInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheckInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<IpProtocol>,
    /// `http` (default) or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    pub port: u32,
    /// Starts with `/`; default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Ignored by Mesos' built-in executors (200-399 is healthy), kept for the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u32>,
}

impl HttpCheckInfo {
    pub fn scheme(&self) -> &str {
        self.scheme.as_deref().unwrap_or("http")
    }

    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or("/")
    }
}

/// `HealthCheck.TCPCheckInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCheckInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<IpProtocol>,
    pub port: u32,
}

/// `mesos.v1.HealthCheck`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<HealthCheckType>,
    /// Time after TASK_RUNNING before the first check.
    #[serde(default = "default_delay")]
    pub delay_seconds: f64,
    /// Time between the end of a check and the start of the next one.
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
    /// Time a check may take; zero means no limit.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Failures in a row after which the task is killed.
    #[serde(default = "default_consecutive_failures")]
    pub consecutive_failures: u32,
    /// Time after the task started during which failures are ignored until a first success.
    #[serde(default = "default_grace_period")]
    pub grace_period_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheckInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheckInfo>,
}

/// Seconds as a duration; values too large for a `Duration` read as "never".
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

impl HealthCheck {
    /// Parses and validates `TaskInfo.health_check`.
    pub fn from_json(value: &Json) -> Result<HealthCheck, String> {
        let check: HealthCheck =
            serde_json::from_value(value.clone()).map_err(|e| format!("Invalid health check: {e}"))?;
        check.validate()?;
        Ok(check)
    }

    /// Mesos' `validateHealthCheck`: the error text Mesos gives for the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        match self.kind {
            None => return Err("HealthCheck must specify 'type'".into()),
            Some(HealthCheckType::Command) => {
                let Some(command) = &self.command else {
                    return Err("Expecting 'command' to be set for COMMAND health check".into());
                };
                if command.value.is_none() {
                    let what = if command.shell { "'shell command'" } else { "'executable path'" };
                    return Err(format!("Command health check must contain {what}"));
                }
            }
            Some(HealthCheckType::Http) => {
                let Some(http) = &self.http else {
                    return Err("Expecting 'http' to be set for HTTP health check".into());
                };
                if let Some(scheme) = &http.scheme
                    && scheme != "http"
                    && scheme != "https"
                {
                    return Err(format!("Unsupported HTTP health check scheme: '{scheme}'"));
                }
                if let Some(path) = &http.path
                    && !path.starts_with('/')
                {
                    return Err(format!("The path '{path}' of HTTP health check must start with '/'"));
                }
                if http.port > u32::from(u16::MAX) {
                    return Err(format!("Invalid port {} of HTTP health check", http.port));
                }
            }
            Some(HealthCheckType::Tcp) => {
                let Some(tcp) = &self.tcp else {
                    return Err("Expecting 'tcp' to be set for TCP health check".into());
                };
                if tcp.port > u32::from(u16::MAX) {
                    return Err(format!("Invalid port {} of TCP health check", tcp.port));
                }
            }
            Some(HealthCheckType::Unknown) => return Err("'UNKNOWN' is not a valid health check type".into()),
        }
        for (name, value) in [
            ("delay_seconds", self.delay_seconds),
            ("grace_period_seconds", self.grace_period_seconds),
            ("interval_seconds", self.interval_seconds),
            ("timeout_seconds", self.timeout_seconds),
        ] {
            if value.is_nan() || value < 0.0 {
                return Err(format!("Expecting '{name}' to be non-negative"));
            }
        }
        Ok(())
    }

    pub fn delay(&self) -> Duration {
        seconds(self.delay_seconds)
    }

    pub fn interval(&self) -> Duration {
        seconds(self.interval_seconds)
    }

    /// `None` when a check may take forever (`timeout_seconds: 0`).
    pub fn timeout(&self) -> Option<Duration> {
        (self.timeout_seconds > 0.0).then(|| seconds(self.timeout_seconds))
    }

    pub fn grace_period(&self) -> Duration {
        seconds(self.grace_period_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_mesos_proto() {
        let c = HealthCheck::from_json(&json!({"type": "TCP", "tcp": {"port": 8080}})).expect("valid");
        assert_eq!(c.kind, Some(HealthCheckType::Tcp));
        assert_eq!(c.delay(), Duration::from_secs(15));
        assert_eq!(c.interval(), Duration::from_secs(10));
        assert_eq!(c.timeout(), Some(Duration::from_secs(20)));
        assert_eq!(c.consecutive_failures, 3);
        assert_eq!(c.grace_period(), Duration::from_secs(10));
        assert_eq!(c.tcp, Some(TcpCheckInfo { protocol: None, port: 8080 }));
    }

    #[test]
    fn reads_what_marathon_sends() {
        // The shape crates/scheduler's task builder makes for MESOS_HTTP, MESOS_TCP and COMMAND.
        let http = HealthCheck::from_json(&json!({
            "type": "HTTP", "delay_seconds": 0.0, "interval_seconds": 1.5, "timeout_seconds": 0.0,
            "consecutive_failures": 2, "grace_period_seconds": 5.0,
            "http": {"scheme": "https", "port": 31001, "path": "/health"}
        }))
        .expect("valid");
        let info = http.http.clone().expect("http");
        assert_eq!((info.scheme(), info.port, info.path()), ("https", 31001, "/health"));
        assert_eq!(http.delay(), Duration::ZERO);
        assert_eq!(http.interval(), Duration::from_millis(1500));
        assert_eq!(http.timeout(), None, "zero means no timeout");
        assert_eq!(http.consecutive_failures, 2);

        let cmd = HealthCheck::from_json(&json!({
            "type": "COMMAND", "command": {"shell": true, "value": "test -f healthy"}
        }))
        .expect("valid");
        assert_eq!(cmd.command.and_then(|c| c.value).as_deref(), Some("test -f healthy"));

        let bare = HealthCheck::from_json(&json!({"type": "HTTP", "http": {"port": 80}})).expect("valid");
        let info = bare.http.expect("http");
        assert_eq!((info.scheme(), info.path(), info.protocol), ("http", "/", None));
        assert_eq!(IpProtocol::Ipv6.loopback().to_string(), "::1");
    }

    #[test]
    fn invalid_checks_give_mesos_messages() {
        let cases = [
            (json!({"tcp": {"port": 1}}), "HealthCheck must specify 'type'"),
            (json!({"type": "COMMAND"}), "Expecting 'command' to be set for COMMAND health check"),
            (
                json!({"type": "COMMAND", "command": {"shell": true}}),
                "Command health check must contain 'shell command'",
            ),
            (json!({"type": "HTTP"}), "Expecting 'http' to be set for HTTP health check"),
            (
                json!({"type": "HTTP", "http": {"port": 1, "scheme": "ftp"}}),
                "Unsupported HTTP health check scheme: 'ftp'",
            ),
            (
                json!({"type": "HTTP", "http": {"port": 1, "path": "x"}}),
                "The path 'x' of HTTP health check must start with '/'",
            ),
            (json!({"type": "TCP"}), "Expecting 'tcp' to be set for TCP health check"),
            (json!({"type": "WHATEVER"}), "'UNKNOWN' is not a valid health check type"),
            (
                json!({"type": "TCP", "tcp": {"port": 1}, "interval_seconds": -1}),
                "Expecting 'interval_seconds' to be non-negative",
            ),
            (json!({"type": "TCP", "tcp": {"port": 70000}}), "Invalid port 70000 of TCP health check"),
        ];
        for (value, message) in cases {
            assert_eq!(HealthCheck::from_json(&value), Err(message.to_string()), "{value}");
        }
        assert!(HealthCheck::from_json(&json!({"type": "TCP", "tcp": {}})).is_err_and(|e| e.contains("port")));
    }

    #[test]
    fn round_trips() {
        let value = json!({
            "type": "HTTP", "delay_seconds": 1.0, "interval_seconds": 2.0, "timeout_seconds": 3.0,
            "consecutive_failures": 4, "grace_period_seconds": 5.0,
            "http": {"protocol": "IPv6", "scheme": "http", "port": 8080, "path": "/ok", "statuses": [200]}
        });
        let check = HealthCheck::from_json(&value).expect("valid");
        assert_eq!(serde_json::to_value(&check).expect("json"), value);
    }
}
