//! `mesos.v1.ContainerInfo` and its parts, typed (TaskInfo keeps the container as raw JSON so
//! that nothing a framework sends is lost on the way; containerizers parse it with
//! [`ContainerInfo::from_json`]), and the task's resource limits (`TaskInfo.limits`).
//!
//! Fields no containerizer of ours interprets stay raw JSON, so that a containerizer can name
//! them when it refuses them.

use crate::messages::Labels;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// `mesos.v1.ContainerInfo.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerType {
    #[serde(rename = "DOCKER")]
    Docker,
    #[serde(rename = "MESOS")]
    Mesos,
}

/// `mesos.v1.ContainerInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfo {
    #[serde(rename = "type")]
    pub kind: ContainerType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos: Option<Json>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_info: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rlimit_info: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty_info: Option<Json>,
}

impl ContainerInfo {
    /// Parses `TaskInfo.container` / `ExecutorInfo.container`.
    pub fn from_json(json: &Json) -> Result<Self, serde_json::Error> {
        Self::deserialize(json)
    }
}

/// `mesos.v1.ContainerInfo.DockerInfo.Network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DockerNetwork {
    #[serde(rename = "HOST")]
    Host,
    #[serde(rename = "BRIDGE")]
    Bridge,
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "USER")]
    User,
}

/// `mesos.v1.ContainerInfo.DockerInfo.PortMapping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerPortMapping {
    pub host_port: u32,
    pub container_port: u32,
    /// `tcp` (the default) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// `mesos.v1.Parameter`: one `--key=value` option of `docker run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    pub key: String,
    pub value: String,
}

/// `mesos.v1.ContainerInfo.DockerInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DockerInfo {
    pub image: String,
    /// `HOST` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<DockerNetwork>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<DockerPortMapping>,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull_image: Option<bool>,
    /// Deprecated upstream in favour of `Volume.source.docker_volume.driver`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_driver: Option<String>,
}

/// `mesos.v1.Volume.Mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeMode {
    #[serde(rename = "RW")]
    Rw,
    #[serde(rename = "RO")]
    Ro,
}

/// `mesos.v1.Volume.Source.DockerVolume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DockerVolume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_options: Option<Json>,
}

/// `mesos.v1.Volume.Source`: typed for `DOCKER_VOLUME`, the others kept raw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeSource {
    /// `DOCKER_VOLUME`, `HOST_PATH`, `SANDBOX_PATH`, `SECRET`, `CSI_VOLUME`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_volume: Option<DockerVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_path: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi_volume: Option<Json>,
}

/// `mesos.v1.Volume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub mode: VolumeMode,
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<VolumeSource>,
}

/// `mesos.v1.NetworkInfo.IPAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAddress {
    /// `IPv4` (default) or `IPv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// `mesos.v1.NetworkInfo.PortMapping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPortMapping {
    pub host_port: u32,
    pub container_port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// `mesos.v1.NetworkInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetworkInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<IpAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<NetworkPortMapping>,
}

/// One entry of `TaskInfo.limits`: a number, or unlimited (`"Infinity"` in JSON, as protobuf
/// writes an infinite double).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Value(f64),
    Unlimited,
}

/// `TaskInfo.limits` (`cpus` and `mem`, the only limits Mesos accepts).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResourceLimits {
    pub cpus: Option<Limit>,
    /// Megabytes.
    pub mem: Option<Limit>,
}

impl ResourceLimits {
    /// Parses `TaskInfo.limits`: `{"cpus": {"value": 2}, "mem": {"value": "Infinity"}}`.
    /// Other names are an error (Mesos refuses them when the task is launched).
    pub fn from_json(json: &Json) -> Result<Self, String> {
        let Some(map) = json.as_object() else {
            return Err("limits must be an object".to_string());
        };
        let mut limits = ResourceLimits::default();
        for (name, value) in map {
            let raw = value.get("value").unwrap_or(value);
            let limit = match raw {
                Json::Number(n) => match n.as_f64() {
                    Some(v) if v.is_finite() && v >= 0.0 => Limit::Value(v),
                    _ => return Err(format!("invalid limit for '{name}': {raw}")),
                },
                Json::String(s) if s == "Infinity" || s == "inf" => Limit::Unlimited,
                other => return Err(format!("invalid limit for '{name}': {other}")),
            };
            match name.as_str() {
                "cpus" => limits.cpus = Some(limit),
                "mem" => limits.mem = Some(limit),
                other => return Err(format!("limits are supported for 'cpus' and 'mem' only, not '{other}'")),
            }
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_container_info_parses_as_marathon_sends_it() {
        let c = ContainerInfo::from_json(&json!({
            "type": "DOCKER",
            "docker": {
                "image": "nginx:1.25",
                "network": "BRIDGE",
                "port_mappings": [{"host_port": 31001, "container_port": 80, "protocol": "tcp"}],
                "privileged": false,
                "parameters": [{"key": "add-host", "value": "a:1.2.3.4"}],
                "force_pull_image": true
            },
            "volumes": [{"container_path": "/etc/x", "host_path": "/etc/x", "mode": "RO"}],
            "network_infos": [{"name": "dcos", "labels": {"labels": [{"key": "k", "value": "v"}]}}],
            "unknown": 1
        }))
        .expect("parse");
        assert_eq!(c.kind, ContainerType::Docker);
        let d = c.docker.expect("docker");
        assert_eq!(d.network, Some(DockerNetwork::Bridge));
        assert_eq!(d.port_mappings[0].host_port, 31001);
        assert_eq!(d.parameters[0].key, "add-host");
        assert_eq!(d.force_pull_image, Some(true));
        assert_eq!(c.volumes[0].mode, VolumeMode::Ro);
        assert_eq!(c.network_infos[0].name.as_deref(), Some("dcos"));
    }

    #[test]
    fn container_info_needs_a_type_and_a_known_one() {
        assert!(ContainerInfo::from_json(&json!({"docker": {"image": "x"}})).is_err());
        assert!(ContainerInfo::from_json(&json!({"type": "APPC"})).is_err());
        assert!(ContainerInfo::from_json(&json!({"type": "DOCKER", "docker": {}})).is_err());
    }

    #[test]
    fn limits_parse_numbers_and_infinity() {
        let l =
            ResourceLimits::from_json(&json!({"cpus": {"value": 1.5}, "mem": {"value": "Infinity"}})).expect("parse");
        assert_eq!(l.cpus, Some(Limit::Value(1.5)));
        assert_eq!(l.mem, Some(Limit::Unlimited));
        assert!(ResourceLimits::from_json(&json!({"disk": {"value": 1}})).is_err());
        assert!(ResourceLimits::from_json(&json!({"cpus": {"value": -1}})).is_err());
        assert!(ResourceLimits::from_json(&json!([])).is_err());
    }
}
