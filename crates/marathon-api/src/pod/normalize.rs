//! Normalization and validation of pods, with upstream's rules and messages (`PodsValidation`,
//! `PodNormalization`, the RAML constraints of `pod.raml`): the definition is validated as given,
//! then its defaults are filled in, so that normalizing a normalized pod changes nothing.

use super::{MesosCommand, Pod, PodConstraint, PodContainer, PodHealthCheck};
use crate::app::{EnvValue, NetworkMode, ResourceLimit};
use crate::error::{ValidationError, Violations};
use crate::normalize::{
    ConstraintOperator, NAME_PATTERN, NAME_RE, NormalizeConfig, at_least, at_least_f64, between_f64, dedup,
    feature_message, invalid_role_char, java_double, port_range, regex_message, unique, validate_constraint,
    validate_networks, validate_unreachable_strategy,
};
use crate::path::PathId;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// Upstream's `EnvVars` key pattern (pods' environment names are strict, apps' are not).
const ENV_NAME_PATTERN: &str = r"^[a-zA-Z_][a-zA-Z0-9_]{0,253}$";
static ENV_NAME_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(ENV_NAME_PATTERN).expect("constant regex"));
const ENV_NAME_MESSAGE: &str =
    "must contain only alphanumeric chars or underscore, must not begin with a number, and must be 254 chars or less";

// Upstream's `PodsValidationMessages` (the typo in the first is upstream's).
const ENDPOINT_NAMES_UNIQUE: &str = "endpoint names nust be unique across all containers";
const CONTAINER_PORTS_UNIQUE: &str = "container ports must be unique across all containers";
const HOST_PORTS_UNIQUE: &str = "host ports must be unique across all containers";
const VOLUME_NAMES_UNIQUE: &str = "volume names must be unique";
const CONTAINER_NAMES_UNIQUE: &str = "container names must be unique";
const NETWORK_NAME_FOR_HOST_PORT: &str =
    "networkNames must be a single item list when hostPort is specified and more than 1 container network is defined";

/// The message upstream answers `PUT /v2/pods/{path}` with (400 `{"message": …}`) when the body's
/// id is another pod's; `None` when they match.
pub fn pod_path_mismatch(path: &PathId, raw: &Pod) -> Option<String> {
    (PathId::parse(&raw.id) != *path).then(|| format!("'{path}' does not match definition's id ('{}')", raw.id))
}

/// Validates `raw` with upstream's rules and fills in every default: the canonical id, the role
/// (`config.default_role` when unset), the strategies, host ports 0 outside container networks.
/// `path` is the id of `PUT /v2/pods/{path}`: a body naming another pod is refused at `/id`
/// with upstream's message (which upstream answers with 400: see [`pod_path_mismatch`]).
/// Idempotent; `version` is left alone (the server owns it).
pub fn normalize_pod(mut pod: Pod, path: Option<&PathId>, config: &NormalizeConfig) -> Result<Pod, ValidationError> {
    if let Some(message) = path.and_then(|p| pod_path_mismatch(p, &pod)) {
        return Err(ValidationError::from_details([("/id".to_string(), message)]));
    }
    let mut v = Violations::default();
    validate(&pod, config, &mut v);
    v.into_result()?;

    pod.id = pod.path_id().to_string();
    if pod.role.is_none() {
        pod.role = Some(config.default_role.clone());
    }
    for net in &mut pod.networks {
        if net.mode == NetworkMode::Container && net.name.is_none() {
            net.name = config.default_network_name.clone();
        }
    }
    let container_mode = pod.networks.iter().any(|n| n.mode == NetworkMode::Container);
    if !container_mode {
        for endpoint in pod.containers.iter_mut().flat_map(|c| c.endpoints.iter_mut()) {
            endpoint.host_port.get_or_insert(0);
        }
    }
    pod.scheduling.upgrade = Some(pod.effective_upgrade_strategy());
    pod.scheduling.unreachable_strategy = Some(pod.effective_unreachable_strategy());
    let placement = &mut pod.scheduling.placement;
    placement.constraints = dedup(std::mem::take(&mut placement.constraints));
    placement.accepted_resource_roles = dedup(std::mem::take(&mut placement.accepted_resource_roles));
    if pod.legacy_shared_cgroups == Some(false) {
        pod.legacy_shared_cgroups = None;
    }
    Ok(pod)
}

fn validate(pod: &Pod, cfg: &NormalizeConfig, v: &mut Violations) {
    validate_id(&pod.id, v);
    if pod.user.as_ref().is_some_and(String::is_empty) {
        v.add("/user", "must not be empty");
    }
    validate_env(&pod.environment, "/environment", pod, cfg, v);
    validate_secrets(pod, cfg, v);
    validate_volumes(pod, v);
    if pod.containers.is_empty() {
        v.add("/containers", "must not be empty");
    }
    for (i, container) in pod.containers.iter().enumerate() {
        validate_container(pod, container, &format!("/containers({i})"), cfg, v);
    }
    if !unique(pod.containers.iter().map(|c| &c.name)) {
        v.add("/containers", CONTAINER_NAMES_UNIQUE);
    }
    validate_networks(&pod.networks, cfg, v);
    validate_scheduling(pod, v);
    at_least(v, "/scaling/instances", pod.scaling.instances.into(), 0);
    if !unique(pod.endpoints().map(|(_, e)| &e.name)) {
        v.add("/", ENDPOINT_NAMES_UNIQUE);
    }
    if !unique(pod.endpoints().filter_map(|(_, e)| e.container_port).filter(|p| *p != 0)) {
        v.add("/", CONTAINER_PORTS_UNIQUE);
    }
    if !unique(pod.endpoints().filter_map(|(_, e)| e.host_port).filter(|p| *p != 0)) {
        v.add("/", HOST_PORTS_UNIQUE);
    }
    let executor = &pod.executor_resources;
    at_least_f64(v, "/executorResources/cpus", executor.cpus, 0.1);
    at_least_f64(v, "/executorResources/mem", executor.mem, 32.0);
    at_least_f64(v, "/executorResources/disk", executor.disk, 10.0);
    validate_role(pod, cfg, v);
}

fn validate_id(raw: &str, v: &mut Violations) {
    if !raw.starts_with('/') {
        v.add("/id", "Path needs to be absolute");
    }
    for error in PathId::parse(raw).validate() {
        v.add("/id", error.to_string());
    }
}

fn validate_env(env: &BTreeMap<String, EnvValue>, path: &str, pod: &Pod, cfg: &NormalizeConfig, v: &mut Violations) {
    let mut uses_secrets = false;
    for (name, value) in env {
        if name.is_empty() {
            v.add(&format!("{path}/{name}"), "must not be empty");
        } else if !ENV_NAME_RE.is_match(name) {
            v.add(&format!("{path}/{name}"), ENV_NAME_MESSAGE);
        }
        if let EnvValue::Secret { secret } = value {
            uses_secrets = true;
            if !pod.secrets.contains_key(secret) {
                v.add(&format!("{path}/{name}/secret"), "references an undefined secret");
            }
        }
    }
    if uses_secrets && !cfg.enabled_features.contains("secrets") {
        v.add(path, "use of secret-references in the environment requires the secrets feature to be enabled");
    }
}

fn validate_secrets(pod: &Pod, cfg: &NormalizeConfig, v: &mut Violations) {
    if !pod.secrets.is_empty() && !cfg.enabled_features.contains("secrets") {
        v.add("/secrets", feature_message("secrets"));
    }
    for (name, def) in &pod.secrets {
        if name.is_empty() {
            v.add("/secrets", "must not be empty");
        }
        if def.source.is_empty() {
            v.add(&format!("/secrets/{name}/source"), "must not be empty");
        }
    }
}

fn validate_volumes(pod: &Pod, v: &mut Violations) {
    let names = pod.volume_names();
    for (i, (volume, name)) in pod.volumes.iter().zip(&names).enumerate() {
        let path = format!("/volumes({i})");
        if name.is_empty() {
            v.add(&format!("{path}/name"), "must not be empty");
        }
        if !pod.containers.iter().any(|c| c.volume_mounts.iter().any(|m| m.name == *name)) {
            v.add(&path, "volume must be referenced by at least one container");
        }
        if let Some(secret) = volume.get("secret").and_then(|s| s.as_str())
            && !pod.secrets.contains_key(secret)
        {
            v.add(&format!("{path}/secret"), "volume.secret must refer to an existing secret");
        }
    }
    if !unique(names.iter()) {
        v.add("/volumes", VOLUME_NAMES_UNIQUE);
    }
}

fn validate_container(pod: &Pod, c: &PodContainer, path: &str, cfg: &NormalizeConfig, v: &mut Violations) {
    if c.name.len() > 63 || !NAME_RE.is_match(&c.name) {
        v.add(&format!("{path}/name"), regex_message(NAME_PATTERN));
    }
    if let Some(exec) = &c.exec {
        validate_command(&exec.command, &format!("{path}/exec/command"), v);
    }
    let resources = &c.resources;
    at_least_f64(v, &format!("{path}/resources/cpus"), resources.cpus, 0.001);
    at_least_f64(v, &format!("{path}/resources/mem"), resources.mem, 0.001);
    at_least_f64(v, &format!("{path}/resources/disk"), resources.disk, 0.0);
    at_least(v, &format!("{path}/resources/gpus"), resources.gpus.into(), 0);
    if let Some(limits) = &c.resource_limits {
        if pod.legacy_shared_cgroups == Some(true) {
            v.add(
                &format!("{path}/resourceLimits"),
                "resourceLimits cannot be defined if legacySharedCgroups is enabled",
            );
        }
        for (name, limit, requested) in [("cpus", &limits.cpus, resources.cpus), ("mem", &limits.mem, resources.mem)] {
            let limit_path = format!("{path}/resourceLimits/{name}");
            match limit {
                Some(ResourceLimit::Number(n)) if *n < requested => v.add(
                    &limit_path,
                    format!(
                        "resource limit must be greater than or equal to requested resource ({})",
                        java_double(requested)
                    ),
                ),
                Some(ResourceLimit::Text(t)) if t != "unlimited" => v.add(
                    &limit_path,
                    format!("'{t}' is an invalid resource limit. It must be 'unlimited' or a number"),
                ),
                _ => {}
            }
        }
    }
    validate_endpoints(pod, c, path, v);
    if let Some(image) = &c.image {
        let image_path = format!("{path}/image");
        if image.id.is_empty() || image.id.len() > 1024 {
            v.add(&format!("{image_path}/id"), format!("got {}, expected between 1 and 1024", image.id.len()));
        }
        if let Some(pull) = &image.pull_config {
            if !cfg.enabled_features.contains("secrets") {
                v.add(&format!("{image_path}/pullConfig"), feature_message("secrets"));
            }
            let secret = pull.get("secret").and_then(|s| s.as_str()).unwrap_or_default();
            if !pod.secrets.contains_key(secret) {
                v.add(&format!("{image_path}/pullConfig"), "pullConfig.secret must refer to an existing secret");
            }
        }
    }
    validate_env(&c.environment, &format!("{path}/environment"), pod, cfg, v);
    if c.user.as_ref().is_some_and(String::is_empty) {
        v.add(&format!("{path}/user"), "must not be empty");
    }
    if let Some(check) = &c.health_check {
        validate_health_check(c, check, &format!("{path}/healthCheck"), v);
    }
    let volume_names = pod.volume_names();
    for (j, mount) in c.volume_mounts.iter().enumerate() {
        let mount_path = format!("{path}/volumeMounts({j})");
        if mount.name.len() > 63 || !NAME_RE.is_match(&mount.name) {
            v.add(&format!("{mount_path}/name"), regex_message(NAME_PATTERN));
        }
        if !volume_names.contains(&mount.name.as_str()) {
            v.add(&format!("{mount_path}/name"), "Referenced Volume in VolumeMount should exist");
        }
        length_between(v, &format!("{mount_path}/mountPath"), &mount.mount_path, 1024);
    }
    for (j, artifact) in c.artifacts.iter().enumerate() {
        let artifact_path = format!("{path}/artifacts({j})");
        length_between(v, &format!("{artifact_path}/uri"), &artifact.uri, 1024);
        if let Some(dest) = &artifact.dest_path {
            length_between(v, &format!("{artifact_path}/destPath"), dest, 1024);
        }
    }
    if let Some(grace) = c.lifecycle.and_then(|l| l.kill_grace_period_seconds) {
        at_least_f64(v, &format!("{path}/lifecycle/killGracePeriodSeconds"), grace, 0.0);
    }
}

fn length_between(v: &mut Violations, path: &str, text: &str, max: usize) {
    let len = text.chars().count();
    if len < 1 || len > max {
        v.add(path, format!("got {len}, expected between 1 and {max}"));
    }
}

fn validate_command(command: &MesosCommand, path: &str, v: &mut Violations) {
    match command {
        MesosCommand::Shell { shell } if shell.is_empty() => v.add(&format!("{path}/shell"), "must not be empty"),
        MesosCommand::Argv { argv } if argv.is_empty() => v.add(&format!("{path}/argv"), "must not be empty"),
        _ => {}
    }
}

fn validate_endpoints(pod: &Pod, c: &PodContainer, path: &str, v: &mut Violations) {
    let network_names: Vec<&str> = pod.networks.iter().filter_map(|n| n.name.as_deref()).collect();
    let host = pod.networks.iter().any(|n| n.mode == NetworkMode::Host);
    let container_networks = pod.networks.iter().filter(|n| n.mode == NetworkMode::Container).count();
    for (j, endpoint) in c.endpoints.iter().enumerate() {
        let ep = format!("{path}/endpoints({j})");
        if endpoint.name.len() > 63 || !NAME_RE.is_match(&endpoint.name) {
            v.add(&format!("{ep}/name"), regex_message(NAME_PATTERN));
        }
        for (k, name) in endpoint.network_names.iter().enumerate() {
            if !network_names.contains(&name.as_str()) {
                v.add(&format!("{ep}/networkNames({k})"), format!("is not one of ({})", network_names.join(",")));
            }
        }
        if host && endpoint.container_port.is_some() {
            v.add(&format!("{ep}/containerPort"), "is not allowed when using host-mode networking");
        }
        if container_networks > 0 && endpoint.container_port.is_none() {
            v.add(&format!("{ep}/containerPort"), "is required when using container-mode networking");
        }
        if let Some(port) = endpoint.container_port {
            port_range(v, &format!("{ep}/containerPort"), port);
        }
        if let Some(port) = endpoint.host_port {
            port_range(v, &format!("{ep}/hostPort"), port);
        }
        if !unique(endpoint.protocol.iter()) {
            v.add(&format!("{ep}/protocol"), "Duplicate protocols within the same endpoint are not allowed");
        }
        for (k, protocol) in endpoint.protocol.iter().enumerate() {
            if protocol.len() > 63 || !NAME_RE.is_match(protocol) {
                v.add(&format!("{ep}/protocol({k})"), regex_message(NAME_PATTERN));
            }
        }
        if container_networks > 1 && endpoint.host_port.is_some() && endpoint.network_names.len() != 1 {
            v.add(&ep, NETWORK_NAME_FOR_HOST_PORT);
        }
    }
}

fn validate_health_check(c: &PodContainer, check: &PodHealthCheck, path: &str, v: &mut Violations) {
    for (field, value) in [
        ("gracePeriodSeconds", check.grace_period_seconds),
        ("intervalSeconds", check.interval_seconds),
        ("maxConsecutiveFailures", check.max_consecutive_failures),
        ("timeoutSeconds", check.timeout_seconds),
        ("delaySeconds", check.delay_seconds),
    ] {
        at_least(v, &format!("{path}/{field}"), value.into(), 0);
    }
    if check.timeout_seconds >= check.interval_seconds {
        v.add(
            &format!("{path}/timeoutSeconds"),
            format!("got {}, expected less than {}", check.timeout_seconds, check.interval_seconds),
        );
    }
    let kinds = [check.http.is_some(), check.tcp.is_some(), check.exec.is_some()];
    if kinds.iter().filter(|k| **k).count() != 1 {
        v.add(path, "Only one of http, tcp, or command may be specified");
    }
    let check_endpoint = |v: &mut Violations, kind: &str, name: &str| {
        let endpoint_path = format!("{path}/{kind}/endpoint");
        if name.len() > 63 || !NAME_RE.is_match(name) {
            v.add(&endpoint_path, regex_message(NAME_PATTERN));
        }
        if !c.endpoints.iter().any(|e| e.name == name) {
            v.add(&endpoint_path, "contained in the container endpoints");
        }
    };
    if let Some(http) = &check.http {
        check_endpoint(v, "http", &http.endpoint);
        if let Some(p) = &http.path {
            length_between(v, &format!("{path}/http/path"), p, 1024);
        }
    }
    if let Some(tcp) = &check.tcp {
        check_endpoint(v, "tcp", &tcp.endpoint);
    }
    if let Some(exec) = &check.exec {
        validate_command(&exec.command, &format!("{path}/exec/command"), v);
    }
}

fn validate_scheduling(pod: &Pod, v: &mut Violations) {
    let s = &pod.scheduling;
    at_least_f64(v, "/scheduling/backoff/backoff", s.backoff.backoff, 0.0);
    at_least_f64(v, "/scheduling/backoff/backoffFactor", s.backoff.backoff_factor, 0.0);
    at_least_f64(v, "/scheduling/backoff/maxLaunchDelay", s.backoff.max_launch_delay, 0.0);
    if let Some(upgrade) = &s.upgrade {
        let min_path = "/scheduling/upgrade/minimumHealthCapacity";
        let max_path = "/scheduling/upgrade/maximumOverCapacity";
        between_f64(v, min_path, upgrade.minimum_health_capacity, 0.0, 1.0);
        between_f64(v, max_path, upgrade.maximum_over_capacity, 0.0, 1.0);
        if pod.is_resident() && upgrade.maximum_over_capacity != 0.0 {
            v.add(max_path, format!("got {}, expected 0.0", java_double(upgrade.maximum_over_capacity)));
        }
    }
    for (i, constraint) in s.placement.constraints.iter().enumerate() {
        if let Err(message) = validate_pod_constraint(constraint) {
            v.add(&format!("/scheduling/placement/constraints({i})"), message);
        }
    }
    validate_unreachable_strategy(
        v,
        "/scheduling/unreachableStrategy",
        s.unreachable_strategy,
        pod.is_resident().then_some("unreachableStrategy must be disabled for pods with persistent volumes"),
    );
}

/// Upstream's `complyWithConstraintRules` (the rules of app constraints; the operator is an enum
/// here, so it is always known).
fn validate_pod_constraint(c: &PodConstraint) -> Result<(), &'static str> {
    if c.field_name.is_empty() {
        return Err("missing field for constraint declaration");
    }
    if ConstraintOperator::parse(&c.operator).is_none() {
        return Err("operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS");
    }
    validate_constraint(&c.as_app_constraint())
}

fn validate_role(pod: &Pod, cfg: &NormalizeConfig, v: &mut Violations) {
    let role = pod.role.as_deref().unwrap_or(&cfg.default_role);
    if role.is_empty() {
        v.add("/role", "must not be empty");
    }
    if let Some(valid) = &cfg.valid_roles
        && !valid.contains(role)
    {
        let list = valid.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
        v.add("/role", format!("got {role}, expected one of: [{list}]"));
    }
    let resident = pod.is_resident();
    if resident && role == "*" {
        v.add("/role", "Resident pods cannot have the role *");
    }
    let roles = &pod.scheduling.placement.accepted_resource_roles;
    let path = "/scheduling/placement/acceptedResourceRoles";
    for r in roles {
        if let Some(message) = invalid_role_char(r) {
            v.add(path, message);
        }
    }
    let distinct: BTreeSet<&str> = roles.iter().map(String::as_str).collect();
    if resident && !distinct.is_empty() && distinct != BTreeSet::from(["*"]) {
        v.add(path, "A resident pod must have `acceptedResourceRoles = [\"*\"]`.");
    }
    let allowed: BTreeSet<&str> = ["*", role].into_iter().collect();
    let within = distinct.len() <= 2 && distinct.is_subset(&allowed);
    if !distinct.is_empty() && !within {
        let list = allowed.iter().copied().collect::<Vec<_>>().join(" and ");
        v.add(path, format!("acceptedResourceRoles can only contain {list}"));
    }
}
