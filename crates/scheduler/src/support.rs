//! What this Marathon can run. Upstream's validation (in `marathon-api`) accepts every feature
//! Marathon has; a definition that uses one this cluster does not implement yet is refused with
//! 422 and a `details` entry that names it, instead of being accepted and run without it (an
//! image ignored, a persistent volume that silently is not there). Docker containers (type
//! `DOCKER`, run by agents with `--containerizers=docker,mesos`) are supported with host-path
//! volumes and host, bridge and container networks.

use marathon_api::app::{ContainerType, NetworkMode};
use marathon_api::{AppDefinition, NormalizeConfig, PathId, ValidationError};

/// Normalizes and validates `raw` as upstream does (relative ids resolved against `base`), then
/// refuses what is not supported here.
pub fn normalize(
    raw: AppDefinition,
    base: &PathId,
    config: &NormalizeConfig,
) -> Result<AppDefinition, ValidationError> {
    let def = marathon_api::normalize_with(raw, base, config)?;
    check(&def)?;
    check_role(&def, config)?;
    Ok(def)
}

/// Marathon subscribes with one role (`--mesos_role`; no MULTI_ROLE framework yet), so an app
/// of another role (its own `role`, or a top-level group's enforced one) would never get an
/// offer: refused by name instead of accepted and left waiting.
fn check_role(def: &AppDefinition, config: &NormalizeConfig) -> Result<(), ValidationError> {
    let (Some(role), Some(subscribed)) = (def.role.as_deref(), &config.subscribed_roles) else { return Ok(()) };
    if subscribed.contains(role) {
        return Ok(());
    }
    let list = subscribed.iter().cloned().collect::<Vec<_>>().join(", ");
    Err(ValidationError::from_details(vec![(
        "/role".to_string(),
        format!(
            "role {role} is not supported yet: this Marathon subscribes with the role {list} only (--mesos_role), \
             multi-role frameworks are not supported yet"
        ),
    )]))
}

/// The features of a normalized definition that this cluster cannot run yet.
pub fn check(def: &AppDefinition) -> Result<(), ValidationError> {
    let mut details: Vec<(String, String)> = Vec::new();
    let mut refuse = |path: &str, message: &str| details.push((path.to_string(), message.to_string()));
    let docker = def.container.as_ref().is_some_and(|c| c.kind == ContainerType::Docker);
    if let Some(container) = &def.container {
        if container.kind == ContainerType::Mesos && container.docker.is_some() {
            refuse(
                "/container/docker/image",
                "container images of the MESOS containerizer are not supported yet: use container type DOCKER",
            );
        }
        if container.has_persistent_volumes() {
            refuse("/container/volumes", "persistent volumes (resident apps) are not supported yet");
        } else if !docker && !container.volumes.is_empty() {
            refuse(
                "/container/volumes",
                "volumes of MESOS containers are not supported yet: use container type DOCKER",
            );
        } else if docker {
            for (i, volume) in container.volumes.iter().enumerate() {
                let host_path = volume.get("hostPath").and_then(|p| p.as_str()).is_some_and(|p| !p.is_empty());
                let other =
                    ["external", "secret", "persistent"].iter().find(|k| volume.get(**k).is_some_and(|v| !v.is_null()));
                if let Some(kind) = other {
                    refuse(
                        &format!("/container/volumes({i})"),
                        &format!("{kind} volumes are not supported yet: Docker containers get host-path volumes"),
                    );
                } else if !host_path {
                    refuse(&format!("/container/volumes({i})/hostPath"), "Docker volumes need a hostPath here");
                }
            }
        }
        if container.linux_info.is_some() {
            refuse("/container/linuxInfo", "linuxInfo (seccomp, IPC and shared memory settings) is not supported yet");
        }
    }
    if def.residency.is_some() {
        refuse("/residency", "resident apps are not supported yet");
    }
    if !def.executor.is_empty() && def.executor != "//cmd" {
        refuse("/executor", "custom executors are not supported yet: tasks run with the command executor");
    }
    if !docker && def.networks.iter().any(|n| n.mode != NetworkMode::Host) {
        refuse(
            "/networks",
            "container and bridge networks are not supported yet without a Docker container (container type DOCKER)",
        );
    }
    if def.check.is_some() {
        refuse("/check", "Mesos checks (check) are not supported yet; use healthChecks");
    }
    if def.resource_limits.is_some() {
        refuse("/resourceLimits", "resourceLimits are not supported yet: cpus and mem are the limits");
    }
    if def.tty == Some(true) {
        refuse("/tty", "tty is not supported yet");
    }
    if details.is_empty() { Ok(()) } else { Err(ValidationError::from_details(details)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn refused(extra: Value) -> ValidationError {
        let mut app = json!({"id": "/x", "cmd": "sleep 100"});
        if let (Some(a), Some(e)) = (app.as_object_mut(), extra.as_object()) {
            a.extend(e.clone());
        }
        let raw = marathon_api::parse_app(app.to_string().as_bytes()).expect("parse");
        normalize(raw, &PathId::root(), &NormalizeConfig::default()).expect_err("unsupported")
    }

    #[test]
    fn each_unsupported_feature_is_named() {
        let cases = [
            (json!({"container": {"type": "MESOS", "docker": {"image": "nginx"}}}), "/container/docker/image"),
            (
                json!({"container": {"type": "DOCKER", "docker": {"image": "nginx"}, "volumes": [
                    {"containerPath": "/data", "external": {"name": "v", "provider": "dvdi"}, "mode": "RW"}]}}),
                "/container/volumes(0)",
            ),
            (
                json!({"role": "prod", "container": {"type": "MESOS", "volumes": [
                    {"containerPath": "data", "mode": "RW", "persistent": {"size": 10}}]}}),
                "/container/volumes",
            ),
            (
                json!({"container": {"type": "MESOS", "volumes": [
                    {"containerPath": "/data", "hostPath": "/tmp", "mode": "RO"}]}}),
                "/container/volumes",
            ),
            (json!({"executor": "/opt/my-executor"}), "/executor"),
            (json!({"networks": [{"mode": "container/bridge"}]}), "/networks"),
            (json!({"check": {"http": {"portIndex": 0, "path": "/"}}}), "/check"),
        ];
        for (extra, path) in cases {
            let e = refused(extra.clone());
            assert!(
                e.errors_at(path).iter().any(|m| m.contains("not supported yet")),
                "{extra}: expected a 'not supported yet' error at {path}, got {e}"
            );
        }
    }

    #[test]
    fn supported_definitions_pass() {
        for extra in [
            json!({}),
            json!({"executor": "//cmd"}),
            json!({"container": {"type": "MESOS"}}),
            json!({"container": {"type": "DOCKER", "docker": {"image": "nginx"}}}),
            json!({"networks": [{"mode": "container/bridge"}], "container": {"type": "DOCKER",
                "docker": {"image": "nginx"}, "portMappings": [{"containerPort": 80}],
                "volumes": [{"containerPath": "/data", "hostPath": "/tmp", "mode": "RO"}]}}),
            json!({"networks": [{"mode": "container", "name": "net1"}], "container": {"type": "DOCKER",
                "docker": {"image": "nginx"}}}),
            // The legacy forms.
            json!({"container": {"type": "DOCKER", "docker": {"image": "nginx", "network": "BRIDGE",
                "portMappings": [{"containerPort": 80, "hostPort": 0}]}}}),
        ] {
            let mut app = json!({"id": "/x", "cmd": "sleep 100"});
            if let (Some(a), Some(e)) = (app.as_object_mut(), extra.as_object()) {
                a.extend(e.clone());
            }
            let raw = marathon_api::parse_app(app.to_string().as_bytes()).expect("parse");
            normalize(raw, &PathId::root(), &NormalizeConfig::default()).unwrap_or_else(|e| panic!("{extra}: {e}"));
        }
    }
}
