//! What this Marathon can run. Upstream's validation (in `marathon-api`) accepts every feature
//! Marathon has; a definition that uses one this cluster does not implement yet is refused with
//! 422 and a `details` entry that names it, instead of being accepted and run without it (an
//! image ignored, a persistent volume that silently is not there). Docker containers (type
//! `DOCKER`, run by agents with `--containerizers=docker,mesos`) are supported with host-path
//! volumes and host, bridge and container networks. Pods run their containers as plain
//! processes with host networking ([`check_pod`]).

use marathon_api::app::{ContainerType, EnvValue, NetworkMode};
use marathon_api::{AppDefinition, NormalizeConfig, PathId, Pod, ValidationError};
use std::collections::BTreeMap;

/// Normalizes and validates `raw` as upstream does (relative ids resolved against `base`), then
/// refuses what is not supported here.
pub fn normalize(
    raw: AppDefinition,
    base: &PathId,
    config: &NormalizeConfig,
) -> Result<AppDefinition, ValidationError> {
    let def = marathon_api::normalize_with(raw, base, config)?;
    check(&def)?;
    check_role(def.role.as_deref(), config)?;
    Ok(def)
}

/// Normalizes and validates a pod as upstream does (`path`: the id of `PUT /v2/pods/{path}`),
/// then refuses what is not supported here ([`check_pod`], and roles as for apps).
pub fn normalize_pod(raw: Pod, path: Option<&PathId>, config: &NormalizeConfig) -> Result<Pod, ValidationError> {
    let pod = marathon_api::normalize_pod(raw, path, config)?;
    check_pod(&pod)?;
    check_role(pod.role.as_deref(), config)?;
    Ok(pod)
}

/// Marathon subscribes with one role (`--mesos_role`; no MULTI_ROLE framework yet), so an app
/// or pod of another role (its own `role`, or a top-level group's enforced one) would never get
/// an offer: refused by name instead of accepted and left waiting.
fn check_role(role: Option<&str>, config: &NormalizeConfig) -> Result<(), ValidationError> {
    let (Some(role), Some(subscribed)) = (role, &config.subscribed_roles) else { return Ok(()) };
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

/// The features of a normalized pod that this cluster cannot run yet: its containers run as
/// processes of the agent (no image, no volumes, no Mesos checks, no limits beyond their
/// resources), with host networking, and without secrets or per-container users.
pub fn check_pod(pod: &Pod) -> Result<(), ValidationError> {
    let mut details: Vec<(String, String)> = Vec::new();
    let mut refuse = |path: String, message: &str| details.push((path, message.to_string()));
    let secret_refs = |env: &BTreeMap<String, EnvValue>, path: &str| -> Vec<String> {
        env.iter().filter(|(_, v)| matches!(v, EnvValue::Secret { .. })).map(|(k, _)| format!("{path}/{k}")).collect()
    };
    if !pod.secrets.is_empty() {
        refuse("/secrets".into(), "secrets are not supported yet");
    }
    for path in secret_refs(&pod.environment, "/environment") {
        refuse(path, "secret references in the environment are not supported yet");
    }
    if !pod.volumes.is_empty() {
        refuse("/volumes".into(), "pod volumes are not supported yet");
    }
    let single_host = pod.networks.len() == 1 && pod.networks[0].mode == NetworkMode::Host;
    if !pod.networks.is_empty() && !single_host {
        refuse(
            "/networks".into(),
            "container and bridge networks of pods are not supported yet: pods get host networking (one network of mode host)",
        );
    }
    if pod.linux_info.is_some() {
        refuse("/linuxInfo".into(), "linuxInfo (seccomp, IPC and shared memory settings) is not supported yet");
    }
    if pod.legacy_shared_cgroups == Some(true) {
        refuse(
            "/legacySharedCgroups".into(),
            "legacySharedCgroups is not supported yet: each container has its own cgroups",
        );
    }
    for (i, c) in pod.containers.iter().enumerate() {
        let path = format!("/containers({i})");
        if c.image.is_some() {
            refuse(
                format!("{path}/image"),
                "container images of pods are not supported yet: containers run on the agent's filesystem",
            );
        }
        if !c.volume_mounts.is_empty() {
            refuse(format!("{path}/volumeMounts"), "volume mounts are not supported yet");
        }
        for env_path in secret_refs(&c.environment, &format!("{path}/environment")) {
            refuse(env_path, "secret references in the environment are not supported yet");
        }
        if c.resources.gpus > 0 {
            refuse(format!("{path}/resources/gpus"), "GPU resources are not supported yet");
        }
        if c.resource_limits.is_some() {
            refuse(
                format!("{path}/resourceLimits"),
                "resourceLimits are not supported yet: cpus and mem are the limits",
            );
        }
        if c.check.is_some() {
            refuse(format!("{path}/check"), "Mesos checks (check) are not supported yet; use healthCheck");
        }
        if c.user.is_some() {
            refuse(format!("{path}/user"), "a container's own user is not supported yet: set the pod's user");
        }
        if c.linux_info.is_some() {
            refuse(
                format!("{path}/linuxInfo"),
                "linuxInfo (seccomp, IPC and shared memory settings) is not supported yet",
            );
        }
        if c.tty == Some(true) {
            refuse(format!("{path}/tty"), "tty is not supported yet");
        }
        for (j, endpoint) in c.endpoints.iter().enumerate() {
            let ep = format!("{path}/endpoints({j})");
            if endpoint.container_port.is_some() {
                refuse(
                    format!("{ep}/containerPort"),
                    "containerPort is not supported yet: it needs a container network, and pods get host networking",
                );
            }
            if !endpoint.network_names.is_empty() {
                refuse(
                    format!("{ep}/networkNames"),
                    "networkNames are not supported yet: they need container networks, and pods get host networking",
                );
            }
        }
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

    fn pod(extra: Value, container: Value) -> Value {
        let mut c =
            json!({"name": "c", "exec": {"command": {"shell": "sleep 100"}}, "resources": {"cpus": 0.1, "mem": 32}});
        if let (Some(base), Some(e)) = (c.as_object_mut(), container.as_object()) {
            base.extend(e.clone());
        }
        let mut pod = json!({"id": "/p", "containers": [c]});
        if let (Some(base), Some(e)) = (pod.as_object_mut(), extra.as_object()) {
            base.extend(e.clone());
        }
        pod
    }

    fn normalize_pod_json(body: &Value, config: &NormalizeConfig) -> Result<Pod, ValidationError> {
        let raw = marathon_api::parse_pod(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        normalize_pod(raw, None, config)
    }

    #[test]
    fn each_unsupported_pod_feature_is_named() {
        let secrets =
            NormalizeConfig { enabled_features: ["secrets".to_string()].into(), ..NormalizeConfig::default() };
        let cases = [
            (json!({}), json!({"image": {"kind": "DOCKER", "id": "nginx"}}), "/containers(0)/image"),
            (
                json!({"volumes": [{"name": "v", "host": "/tmp"}]}),
                json!({"volumeMounts": [{"name": "v", "mountPath": "/v"}]}),
                "/volumes",
            ),
            (
                json!({"volumes": [{"name": "v", "host": "/tmp"}]}),
                json!({"volumeMounts": [{"name": "v", "mountPath": "/v"}]}),
                "/containers(0)/volumeMounts",
            ),
            (json!({"secrets": {"s": {"source": "/x"}}}), json!({}), "/secrets"),
            (
                json!({"secrets": {"s": {"source": "/x"}}, "environment": {"A": {"secret": "s"}}}),
                json!({}),
                "/environment/A",
            ),
            (
                json!({"secrets": {"s": {"source": "/x"}}}),
                json!({"environment": {"B": {"secret": "s"}}}),
                "/containers(0)/environment/B",
            ),
            (json!({"networks": [{"mode": "container/bridge"}]}), json!({}), "/networks"),
            (json!({"networks": [{"mode": "container", "name": "n"}]}), json!({}), "/networks"),
            (json!({}), json!({"resources": {"cpus": 0.1, "mem": 32, "gpus": 1}}), "/containers(0)/resources/gpus"),
            (json!({}), json!({"check": {"exec": {"command": {"shell": "true"}}}}), "/containers(0)/check"),
            (json!({}), json!({"resourceLimits": {"cpus": "unlimited"}}), "/containers(0)/resourceLimits"),
            (json!({"legacySharedCgroups": true}), json!({}), "/legacySharedCgroups"),
            (json!({}), json!({"user": "nobody"}), "/containers(0)/user"),
            (json!({"linuxInfo": {"ipcInfo": {"mode": "PRIVATE"}}}), json!({}), "/linuxInfo"),
            (json!({}), json!({"tty": true}), "/containers(0)/tty"),
            (
                json!({}),
                json!({"endpoints": [{"name": "web", "containerPort": 80}]}),
                "/containers(0)/endpoints(0)/containerPort",
            ),
        ];
        for (extra, container, path) in cases {
            let body = pod(extra, container);
            let e = normalize_pod_json(&body, &secrets).expect_err("unsupported");
            assert!(
                e.errors_at(path).iter().any(|m| m.contains("not supported yet")),
                "{body}: expected a 'not supported yet' error at {path}, got {e}"
            );
        }
    }

    #[test]
    fn supported_pods_pass() {
        for (extra, container) in [
            (json!({}), json!({})),
            (
                json!({"user": "nobody", "networks": [{"mode": "host"}], "environment": {"A": "1"}, "labels": {"x": "y"},
                    "scaling": {"kind": "fixed", "instances": 3}, "executorResources": {"cpus": 0.2, "mem": 64, "disk": 20},
                    "scheduling": {"backoff": {"backoff": 2, "backoffFactor": 2, "maxLaunchDelay": 60},
                        "upgrade": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
                        "placement": {"constraints": [{"fieldName": "hostname", "operator": "UNIQUE"}],
                            "acceptedResourceRoles": ["*"]},
                        "killSelection": "OLDEST_FIRST", "unreachableStrategy": "disabled"}}),
                json!({"exec": {"command": {"argv": ["/bin/sleep", "100"]}}, "environment": {"B": "2"},
                    "endpoints": [{"name": "web", "hostPort": 0, "protocol": ["tcp"]}],
                    "healthCheck": {"http": {"endpoint": "web", "path": "/"}, "intervalSeconds": 5, "timeoutSeconds": 2},
                    "artifacts": [{"uri": "http://example.com/a.tgz"}], "lifecycle": {"killGracePeriodSeconds": 5}}),
            ),
            (json!({}), json!({"healthCheck": {"exec": {"command": {"shell": "true"}}, "timeoutSeconds": 1}})),
        ] {
            let body = pod(extra, container);
            normalize_pod_json(&body, &NormalizeConfig::default()).unwrap_or_else(|e| panic!("{body}: {e}"));
        }
    }

    #[test]
    fn pod_roles_follow_the_app_rule() {
        let config = NormalizeConfig {
            subscribed_roles: Some(["marathon".to_string()].into()),
            default_role: "marathon".into(),
            ..NormalizeConfig::default()
        };
        normalize_pod_json(&pod(json!({}), json!({})), &config).expect("the default role is subscribed");
        let e = normalize_pod_json(&pod(json!({"role": "other"}), json!({})), &config).expect_err("not subscribed");
        assert!(e.errors_at("/role").iter().any(|m| m.contains("not supported yet")), "{e}");
    }
}
