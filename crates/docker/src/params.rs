//! `DockerInfo.parameters`: arbitrary `docker run --key=value` options (Mesos appends them to
//! its `docker run` command line), mapped onto the Engine API's create body. Options the API
//! has no field for, or that would break the containerizer's control of the container (its
//! name, removal, output, host ports), are refused by name, as are unknown keys.
//!
//! As on the command line, an option given twice takes the last value, and list options
//! (`add-host`, `label`, `volume`, ...) accumulate.

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigCgroupnsModeEnum, HostConfigLogConfig, ResourcesUlimits,
};
use mesos_api::container::Parameter;
use std::collections::HashMap;

/// What the parameters decided besides the create body.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Effects {
    /// `net` / `network`: replaces the network mode of `DockerInfo.network`.
    pub(crate) network: Option<String>,
    /// `network-alias`, `ip`, `ip6`: settings of the endpoint on the container's network.
    pub(crate) endpoint: Option<EndpointSettings>,
}

/// Why a parameter cannot be used.
enum Refusal {
    Unknown,
    Unsupported(&'static str),
    Invalid(String),
}

/// Applies `params` to `body`, or returns one message naming every parameter refused.
/// `reserved_label` tells the label keys the containerizer sets itself.
pub(crate) fn apply(
    params: &[Parameter],
    body: &mut ContainerCreateBody,
    reserved_label: impl Fn(&str) -> bool,
) -> Result<Effects, String> {
    let mut effects = Effects::default();
    let mut problems: Vec<String> = Vec::new();
    for p in params {
        let key = p.key.as_str();
        if let Err(refusal) = apply_one(key, &p.value, body, &mut effects, &reserved_label) {
            problems.push(match refusal {
                Refusal::Unknown => format!("'{key}' (unknown docker run option)"),
                Refusal::Unsupported(why) => format!("'{key}' ({why})"),
                Refusal::Invalid(why) => format!("'{key}={}' ({why})", p.value),
            });
        }
    }
    if problems.is_empty() { Ok(effects) } else { Err(format!("docker parameters refused: {}", problems.join(", "))) }
}

fn host(body: &mut ContainerCreateBody) -> &mut HostConfig {
    body.host_config.get_or_insert_with(HostConfig::default)
}

fn push(list: &mut Option<Vec<String>>, value: &str) {
    list.get_or_insert_with(Vec::new).push(value.to_string());
}

fn endpoint(effects: &mut Effects) -> &mut EndpointSettings {
    effects.endpoint.get_or_insert_with(EndpointSettings::default)
}

fn ipam(effects: &mut Effects) -> &mut EndpointIpamConfig {
    endpoint(effects).ipam_config.get_or_insert_with(EndpointIpamConfig::default)
}

fn apply_one(
    key: &str,
    value: &str,
    body: &mut ContainerCreateBody,
    effects: &mut Effects,
    reserved_label: &impl Fn(&str) -> bool,
) -> Result<(), Refusal> {
    let invalid = |why: &str| Refusal::Invalid(why.to_string());
    match key {
        // ---- lists
        "add-host" => {
            if !value.contains(':') {
                return Err(invalid("expected host:ip"));
            }
            push(&mut host(body).extra_hosts, value);
        }
        "cap-add" => push(&mut host(body).cap_add, value),
        "cap-drop" => push(&mut host(body).cap_drop, value),
        "device" => {
            let device = parse_device(value).ok_or_else(|| invalid("expected host-path[:container-path][:rwm]"))?;
            host(body).devices.get_or_insert_with(Vec::new).push(device);
        }
        "dns" => push(&mut host(body).dns, value),
        "dns-search" => push(&mut host(body).dns_search, value),
        "dns-opt" | "dns-option" => push(&mut host(body).dns_options, value),
        "env" => {
            let Some((name, _)) = value.split_once('=') else {
                return Err(invalid("expected NAME=VALUE"));
            };
            if name.is_empty() {
                return Err(invalid("expected NAME=VALUE"));
            }
            let env = body.env.get_or_insert_with(Vec::new);
            let prefix = format!("{name}=");
            env.retain(|e| !e.starts_with(&prefix));
            env.push(value.to_string());
        }
        "expose" => {
            let port = parse_port(value).ok_or_else(|| invalid("expected port[/tcp|udp|sctp]"))?;
            body.exposed_ports.get_or_insert_with(Vec::new).push(port);
        }
        "group-add" => push(&mut host(body).group_add, value),
        "label" => {
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            if k.is_empty() {
                return Err(invalid("expected key[=value]"));
            }
            if reserved_label(k) {
                return Err(invalid("the containerizer sets this label"));
            }
            body.labels.get_or_insert_with(HashMap::new).insert(k.to_string(), v.to_string());
        }
        "link" => push(&mut host(body).links, value),
        "log-opt" => {
            let (k, v) = value.split_once('=').ok_or_else(|| invalid("expected key=value"))?;
            let config = host(body).log_config.get_or_insert_with(HostConfigLogConfig::default);
            config.config.get_or_insert_with(HashMap::new).insert(k.to_string(), v.to_string());
        }
        "security-opt" => push(&mut host(body).security_opt, value),
        "storage-opt" => {
            let (k, v) = value.split_once('=').ok_or_else(|| invalid("expected key=value"))?;
            host(body).storage_opt.get_or_insert_with(HashMap::new).insert(k.to_string(), v.to_string());
        }
        "sysctl" => {
            let (k, v) = value.split_once('=').ok_or_else(|| invalid("expected name=value"))?;
            host(body).sysctls.get_or_insert_with(HashMap::new).insert(k.to_string(), v.to_string());
        }
        "tmpfs" => {
            let (path, opts) = value.split_once(':').unwrap_or((value, ""));
            if !path.starts_with('/') {
                return Err(invalid("expected an absolute path[:options]"));
            }
            host(body).tmpfs.get_or_insert_with(HashMap::new).insert(path.to_string(), opts.to_string());
        }
        "ulimit" => {
            let ulimit = parse_ulimit(value).ok_or_else(|| invalid("expected name=soft[:hard]"))?;
            host(body).ulimits.get_or_insert_with(Vec::new).push(ulimit);
        }
        "volume" => {
            let mut parts = value.split(':');
            let (Some(_), Some(target)) = (parts.next(), parts.next()) else {
                return Err(invalid("expected source:container-path[:options]"));
            };
            if !target.starts_with('/') || parts.count() > 1 {
                return Err(invalid("expected source:container-path[:options]"));
            }
            push(&mut host(body).binds, value);
        }
        "volumes-from" => push(&mut host(body).volumes_from, value),
        "network-alias" | "net-alias" => push(&mut endpoint(effects).aliases, value),

        // ---- single values: the last one wins
        "blkio-weight" => host(body).blkio_weight = Some(parse_num(value)?),
        "cgroup-parent" => host(body).cgroup_parent = Some(value.to_string()),
        "cgroupns" => {
            host(body).cgroupns_mode = Some(match value {
                "host" => HostConfigCgroupnsModeEnum::HOST,
                "private" => HostConfigCgroupnsModeEnum::PRIVATE,
                _ => return Err(invalid("expected host or private")),
            })
        }
        "cpu-period" => host(body).cpu_period = Some(parse_num(value)?),
        "cpu-quota" => host(body).cpu_quota = Some(parse_num(value)?),
        "cpu-rt-period" => host(body).cpu_realtime_period = Some(parse_num(value)?),
        "cpu-rt-runtime" => host(body).cpu_realtime_runtime = Some(parse_num(value)?),
        "cpu-shares" => host(body).cpu_shares = Some(parse_num(value)?),
        "cpus" => {
            let cpus: f64 = value.parse().map_err(|_| invalid("expected a number"))?;
            if !cpus.is_finite() || cpus < 0.0 {
                return Err(invalid("expected a non-negative number"));
            }
            host(body).nano_cpus = Some((cpus * 1e9).round() as i64);
        }
        "cpuset-cpus" => host(body).cpuset_cpus = Some(value.to_string()),
        "cpuset-mems" => host(body).cpuset_mems = Some(value.to_string()),
        "domainname" => body.domainname = Some(value.to_string()),
        // As `--entrypoint ""` does: no entrypoint at all, not the image's.
        "entrypoint" => body.entrypoint = Some(vec![value.to_string()]),
        "health-cmd" => health(body).test = Some(vec!["CMD-SHELL".to_string(), value.to_string()]),
        "health-interval" => health(body).interval = Some(parse_duration(value).map_err(|e| invalid(&e))?),
        "health-retries" => health(body).retries = Some(parse_num(value)?),
        "health-start-period" => health(body).start_period = Some(parse_duration(value).map_err(|e| invalid(&e))?),
        "health-timeout" => health(body).timeout = Some(parse_duration(value).map_err(|e| invalid(&e))?),
        "no-healthcheck" => {
            if parse_bool(value)? {
                health(body).test = Some(vec!["NONE".to_string()]);
            }
        }
        "hostname" => body.hostname = Some(value.to_string()),
        "init" => host(body).init = Some(parse_bool(value)?),
        "ip" => ipam(effects).ipv4_address = Some(value.to_string()),
        "ip6" => ipam(effects).ipv6_address = Some(value.to_string()),
        "ipc" => host(body).ipc_mode = Some(value.to_string()),
        "log-driver" => match value {
            "json-file" | "local" => {
                host(body).log_config.get_or_insert_with(HostConfigLogConfig::default).typ = Some(value.to_string())
            }
            _ => {
                return Err(Refusal::Unsupported(
                    "the sandbox's stdout/stderr are read back from the container's log: only json-file and local",
                ));
            }
        },
        "memory" => host(body).memory = Some(parse_bytes(value).map_err(|e| invalid(&e))?),
        "memory-reservation" => host(body).memory_reservation = Some(parse_bytes(value).map_err(|e| invalid(&e))?),
        "memory-swap" => {
            host(body).memory_swap =
                Some(if value == "-1" { -1 } else { parse_bytes(value).map_err(|e| invalid(&e))? })
        }
        "memory-swappiness" => {
            let v: i64 = parse_num(value)?;
            if !(0..=100).contains(&v) {
                return Err(invalid("expected 0 to 100"));
            }
            host(body).memory_swappiness = Some(v);
        }
        "net" | "network" => effects.network = Some(value.to_string()),
        "oom-kill-disable" => host(body).oom_kill_disable = Some(parse_bool(value)?),
        "oom-score-adj" => {
            let v: i64 = parse_num(value)?;
            if !(-1000..=1000).contains(&v) {
                return Err(invalid("expected -1000 to 1000"));
            }
            host(body).oom_score_adj = Some(v);
        }
        "pid" => host(body).pid_mode = Some(value.to_string()),
        "pids-limit" => host(body).pids_limit = Some(parse_num(value)?),
        "privileged" => host(body).privileged = Some(parse_bool(value)?),
        "read-only" => host(body).readonly_rootfs = Some(parse_bool(value)?),
        "runtime" => host(body).runtime = Some(value.to_string()),
        "shm-size" => host(body).shm_size = Some(parse_bytes(value).map_err(|e| invalid(&e))?),
        "stop-signal" => body.stop_signal = Some(value.to_string()),
        "stop-timeout" => body.stop_timeout = Some(parse_num(value)?),
        "user" => body.user = Some(value.to_string()),
        "userns" => host(body).userns_mode = Some(value.to_string()),
        "uts" => host(body).uts_mode = Some(value.to_string()),
        "workdir" => body.working_dir = Some(value.to_string()),

        // ---- refused: the containerizer owns these
        "name" => return Err(Refusal::Unsupported("the container is named mesos-<containerId>")),
        "rm" => return Err(Refusal::Unsupported("the container is removed after --docker_remove_delay")),
        "restart" => return Err(Refusal::Unsupported("a task's container is never restarted by dockerd")),
        "detach" | "interactive" | "tty" | "attach" | "sig-proxy" | "detach-keys" => {
            return Err(Refusal::Unsupported("containers run detached, their output goes to the sandbox"));
        }
        "publish" | "publish-all" => {
            return Err(Refusal::Unsupported("host ports come from the task's port resources: use port mappings"));
        }
        "env-file" | "label-file" | "cidfile" => {
            return Err(Refusal::Unsupported("names a file on the agent"));
        }
        "mount" => return Err(Refusal::Unsupported("use container volumes or a 'volume' parameter")),
        "pull" | "platform" | "quiet" | "disable-content-trust" => {
            return Err(Refusal::Unsupported("images are pulled by the containerizer"));
        }
        "kernel-memory" => return Err(Refusal::Unsupported("deprecated by Docker")),
        "blkio-weight-device"
        | "device-read-bps"
        | "device-write-bps"
        | "device-read-iops"
        | "device-write-iops"
        | "device-cgroup-rule"
        | "gpus"
        | "isolation"
        | "link-local-ip"
        | "mac-address"
        | "cpu-count"
        | "cpu-percent"
        | "io-maxbandwidth"
        | "io-maxiops"
        | "health-start-interval"
        | "annotation"
        | "domainname-search" => {
            return Err(Refusal::Unsupported("not supported by this containerizer"));
        }
        _ => return Err(Refusal::Unknown),
    }
    Ok(())
}

fn health(body: &mut ContainerCreateBody) -> &mut HealthConfig {
    body.healthcheck.get_or_insert_with(HealthConfig::default)
}

fn parse_num<T: std::str::FromStr>(value: &str) -> Result<T, Refusal> {
    value.trim().parse().map_err(|_| Refusal::Invalid("expected an integer".to_string()))
}

/// Go's `strconv.ParseBool`, which the docker CLI uses for `--flag=value`.
fn parse_bool(value: &str) -> Result<bool, Refusal> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(Refusal::Invalid("expected true or false".to_string())),
    }
}

/// `port[/proto]`, as `--expose` takes it, in the API's `port/proto` form.
fn parse_port(value: &str) -> Option<String> {
    let (port, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let port: u16 = port.parse().ok()?;
    matches!(proto, "tcp" | "udp" | "sctp").then(|| format!("{port}/{proto}"))
}

/// `host-path[:container-path][:permissions]`, as `--device` takes it.
fn parse_device(value: &str) -> Option<DeviceMapping> {
    let parts: Vec<&str> = value.split(':').collect();
    let is_perms = |s: &str| !s.is_empty() && s.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let (host, container, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perms(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if is_perms(p) => (*h, *c, *p),
        _ => return None,
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return None;
    }
    Some(DeviceMapping {
        path_on_host: Some(host.to_string()),
        path_in_container: Some(container.to_string()),
        cgroup_permissions: Some(perms.to_string()),
    })
}

/// `name=soft[:hard]`, as `--ulimit` takes it.
fn parse_ulimit(value: &str) -> Option<ResourcesUlimits> {
    let (name, limits) = value.split_once('=')?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    if name.is_empty() {
        return None;
    }
    Some(ResourcesUlimits {
        name: Some(name.to_string()),
        soft: Some(soft.parse().ok()?),
        hard: Some(hard.parse().ok()?),
    })
}

/// A size as the docker CLI reads memory options (`RAMInBytes`): a number with an optional
/// binary unit, `512m`, `1.5g`, `64MiB`, `1024`.
pub(crate) fn parse_bytes(value: &str) -> Result<i64, String> {
    let text = value.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("'{value}' is not a size"))?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return Err(format!("'{value}' has an unknown unit")),
    };
    let bytes = number * multiplier;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(format!("'{value}' is too large"));
    }
    Ok(bytes as i64)
}

/// A Go duration (`1m30s`, `500ms`, `2h`), as the `--health-*` options take it, in
/// nanoseconds.
pub(crate) fn parse_duration(value: &str) -> Result<i64, String> {
    let bad = || format!("'{value}' is not a duration (e.g. 30s, 1m30s, 500ms)");
    if value == "0" {
        return Ok(0);
    }
    let mut rest = value;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = tail;
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(key: &str, value: &str) -> Parameter {
        Parameter { key: key.to_string(), value: value.to_string() }
    }

    fn run(params: &[(&str, &str)]) -> Result<(ContainerCreateBody, Effects), String> {
        let params: Vec<Parameter> = params.iter().map(|(k, v)| param(k, v)).collect();
        let mut body = ContainerCreateBody::default();
        let effects = apply(&params, &mut body, |k| k.starts_with("mesos."))?;
        Ok((body, effects))
    }

    #[test]
    fn list_options_accumulate_and_single_ones_take_the_last_value() {
        let (body, _) = run(&[
            ("add-host", "a.example:1.2.3.4"),
            ("add-host", "b.example:5.6.7.8"),
            ("label", "team=web"),
            ("label", "flag"),
            ("user", "nobody"),
            ("user", "daemon"),
            ("volume", "/srv:/data:ro"),
        ])
        .expect("apply");
        let host = body.host_config.expect("host config");
        assert_eq!(host.extra_hosts, Some(vec!["a.example:1.2.3.4".to_string(), "b.example:5.6.7.8".to_string()]));
        assert_eq!(host.binds, Some(vec!["/srv:/data:ro".to_string()]));
        let labels = body.labels.expect("labels");
        assert_eq!(labels["team"], "web");
        assert_eq!(labels["flag"], "");
        assert_eq!(body.user.as_deref(), Some("daemon"));
    }

    #[test]
    fn resource_options_are_parsed_as_the_cli_does() {
        let (body, _) = run(&[
            ("memory", "512m"),
            ("memory-swap", "-1"),
            ("shm-size", "64MiB"),
            ("cpus", "1.5"),
            ("cpu-shares", "512"),
            ("pids-limit", "100"),
            ("ulimit", "nofile=1024:2048"),
            ("oom-score-adj", "-500"),
            ("init", "true"),
            ("read-only", "1"),
        ])
        .expect("apply");
        let host = body.host_config.expect("host config");
        assert_eq!(host.memory, Some(512 * 1024 * 1024));
        assert_eq!(host.memory_swap, Some(-1));
        assert_eq!(host.shm_size, Some(64 * 1024 * 1024));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.cpu_shares, Some(512));
        assert_eq!(host.pids_limit, Some(100));
        let ulimit = &host.ulimits.expect("ulimits")[0];
        assert_eq!((ulimit.name.as_deref(), ulimit.soft, ulimit.hard), (Some("nofile"), Some(1024), Some(2048)));
        assert_eq!(host.oom_score_adj, Some(-500));
        assert_eq!(host.init, Some(true));
        assert_eq!(host.readonly_rootfs, Some(true));
    }

    #[test]
    fn env_parameters_replace_earlier_values_of_the_same_name() {
        let mut body =
            ContainerCreateBody { env: Some(vec!["A=1".to_string(), "B=2".to_string()]), ..Default::default() };
        apply(&[param("env", "A=3")], &mut body, |_| false).expect("apply");
        assert_eq!(body.env, Some(vec!["B=2".to_string(), "A=3".to_string()]));
        assert!(run(&[("env", "NOVALUE")]).is_err());
    }

    #[test]
    fn network_options_go_to_the_effects() {
        let (_, effects) =
            run(&[("net", "host"), ("network", "backend"), ("network-alias", "web"), ("ip", "10.9.0.5")])
                .expect("apply");
        assert_eq!(effects.network.as_deref(), Some("backend"));
        let endpoint = effects.endpoint.expect("endpoint");
        assert_eq!(endpoint.aliases, Some(vec!["web".to_string()]));
        assert_eq!(endpoint.ipam_config.and_then(|c| c.ipv4_address).as_deref(), Some("10.9.0.5"));
    }

    #[test]
    fn health_options_build_a_docker_healthcheck() {
        let (body, _) =
            run(&[("health-cmd", "wget -q localhost"), ("health-interval", "1m30s"), ("health-retries", "3")])
                .expect("apply");
        let health = body.healthcheck.expect("healthcheck");
        assert_eq!(health.test, Some(vec!["CMD-SHELL".to_string(), "wget -q localhost".to_string()]));
        assert_eq!(health.interval, Some(90_000_000_000));
        assert_eq!(health.retries, Some(3));
    }

    #[test]
    fn every_refused_parameter_is_named_in_one_message() {
        let err = run(&[
            ("add-host", "ok.example:1.1.1.1"),
            ("frobnicate", "1"),
            ("rm", "true"),
            ("publish", "80:80"),
            ("memory", "lots"),
            ("label", "mesos.agent=other"),
            ("log-driver", "syslog"),
        ])
        .expect_err("refused");
        assert!(err.contains("'frobnicate' (unknown docker run option)"), "{err}");
        assert!(err.contains("'rm' (the container is removed after --docker_remove_delay)"), "{err}");
        assert!(err.contains("'publish' (host ports come from the task's port resources"), "{err}");
        assert!(err.contains("'memory=lots'"), "{err}");
        assert!(err.contains("'label=mesos.agent=other' (the containerizer sets this label)"), "{err}");
        assert!(err.contains("'log-driver'"), "{err}");
        assert!(!err.contains("add-host"), "{err}");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("1k"), Ok(1024));
        assert_eq!(parse_bytes("1.5g"), Ok(1024 * 1024 * 1024 * 3 / 2));
        assert_eq!(parse_bytes("2 MB"), Ok(2 * 1024 * 1024));
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("").is_err());
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("1h2m3s"), Ok(3_723_000_000_000));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn devices_and_ports() {
        let d = parse_device("/dev/fuse").expect("device");
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/fuse"));
        assert_eq!(d.cgroup_permissions.as_deref(), Some("rwm"));
        let d = parse_device("/dev/sda:/dev/xvda:r").expect("device");
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/xvda"));
        assert_eq!(d.cgroup_permissions.as_deref(), Some("r"));
        assert!(parse_device("dev/sda").is_none());
        assert_eq!(parse_port("80").as_deref(), Some("80/tcp"));
        assert_eq!(parse_port("53/udp").as_deref(), Some("53/udp"));
        assert!(parse_port("80/icmp").is_none());
    }
}
