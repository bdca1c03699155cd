//! The agent's containerizer flags, with Mesos' names: `--containerizers` and the Docker
//! containerizer's `--docker_*` flags. Upstream flags this agent accepts but does not
//! implement are warned about by name at start, never silently ignored.

use crate::core::ContainerizerKind;
use crate::flags::{FlagError, format_duration, parse_duration};
use std::path::PathBuf;
use std::time::Duration;
use tracing::warn;

/// Containerizer flags of `marathon agent` (and `marathon local`, which passes them on).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ContainerizerFlags {
    /// Containerizers tasks run with, in order of preference: `mesos` (commands in cgroups on
    /// the agent's file system) and `docker` (tasks with a DOCKER ContainerInfo, through
    /// dockerd's Engine API on `--docker_socket`).
    #[arg(long = "containerizers", default_value = "mesos", value_parser = parse_containerizers)]
    pub containerizers: Containerizers,

    /// dockerd's Unix socket.
    #[arg(long = "docker_socket", alias = "docker-socket", default_value = "/var/run/docker.sock")]
    pub docker_socket: PathBuf,

    /// Kill grace of a Docker task (SIGTERM, then SIGKILL after this) when neither the kill
    /// nor the task has a kill policy.
    #[arg(long = "docker_stop_timeout", alias = "docker-stop-timeout", default_value = "0ns", value_parser = parse_duration)]
    pub docker_stop_timeout: Duration,

    /// How long an ended container is kept before it is removed.
    #[arg(long = "docker_remove_delay", alias = "docker-remove-delay", default_value = "6hrs", value_parser = parse_duration)]
    pub docker_remove_delay: Duration,

    /// Where the task's sandbox is mounted inside its container (`MESOS_SANDBOX`).
    #[arg(long = "sandbox_directory", alias = "sandbox-directory", default_value = docker::DEFAULT_SANDBOX_DIRECTORY)]
    pub sandbox_directory: String,

    /// Upstream: the docker CLI. Not used (this agent talks to dockerd's Engine API on
    /// `--docker_socket`); warned about when set to anything but `docker`.
    #[arg(long = "docker", default_value = "docker")]
    pub docker: String,

    /// Upstream Docker flags that are not implemented: accepted, warned about by name.
    #[arg(long = "docker_registry", alias = "docker-registry")]
    pub docker_registry: Option<String>,
    #[arg(long = "docker_config", alias = "docker-config")]
    pub docker_config: Option<String>,
    #[arg(long = "docker_mesos_image", alias = "docker-mesos-image")]
    pub docker_mesos_image: Option<String>,
    #[arg(long = "docker_store_dir", alias = "docker-store-dir")]
    pub docker_store_dir: Option<String>,
    #[arg(long = "docker_volume_checkpoint_dir", alias = "docker-volume-checkpoint-dir")]
    pub docker_volume_checkpoint_dir: Option<String>,
    #[arg(long = "docker_ignore_runtime", alias = "docker-ignore-runtime")]
    pub docker_ignore_runtime: Option<String>,
    /// Upstream's default (`true`) is what this agent does: its own unknown containers are
    /// removed at start. `false` is not implemented.
    #[arg(long = "docker_kill_orphans", alias = "docker-kill-orphans")]
    pub docker_kill_orphans: Option<String>,
}

/// The enabled containerizers, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containerizers(pub Vec<ContainerizerKind>);

impl Containerizers {
    pub fn has(&self, kind: ContainerizerKind) -> bool {
        self.0.contains(&kind)
    }
}

impl std::fmt::Display for Containerizers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|k| k.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// Parses `--containerizers`: `mesos`, `docker`, or both, comma-separated.
pub fn parse_containerizers(text: &str) -> Result<Containerizers, FlagError> {
    let mut kinds = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = match name {
            "mesos" => ContainerizerKind::Mesos,
            "docker" => ContainerizerKind::Docker,
            other => return Err(FlagError::Containerizer(other.to_string())),
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err(FlagError::Containerizer(text.to_string()));
    }
    Ok(Containerizers(kinds))
}

impl Default for ContainerizerFlags {
    fn default() -> Self {
        ContainerizerFlags {
            containerizers: Containerizers(vec![ContainerizerKind::Mesos]),
            docker_socket: PathBuf::from("/var/run/docker.sock"),
            docker_stop_timeout: Duration::ZERO,
            docker_remove_delay: Duration::from_secs(6 * 3600),
            sandbox_directory: docker::DEFAULT_SANDBOX_DIRECTORY.to_string(),
            docker: "docker".to_string(),
            docker_registry: None,
            docker_config: None,
            docker_mesos_image: None,
            docker_store_dir: None,
            docker_volume_checkpoint_dir: None,
            docker_ignore_runtime: None,
            docker_kill_orphans: None,
        }
    }
}

impl ContainerizerFlags {
    /// The upstream flags given that this agent does not implement (name and value).
    pub fn unimplemented(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.docker != "docker" {
            out.push(("docker", self.docker.clone()));
        }
        for (name, value) in [
            ("docker_registry", &self.docker_registry),
            ("docker_config", &self.docker_config),
            ("docker_mesos_image", &self.docker_mesos_image),
            ("docker_store_dir", &self.docker_store_dir),
            ("docker_volume_checkpoint_dir", &self.docker_volume_checkpoint_dir),
            ("docker_ignore_runtime", &self.docker_ignore_runtime),
        ] {
            if let Some(v) = value {
                out.push((name, v.clone()));
            }
        }
        if let Some(v) = &self.docker_kill_orphans
            && v != "true"
        {
            out.push(("docker_kill_orphans", v.clone()));
        }
        out
    }

    /// Logs a warning for each flag of [`ContainerizerFlags::unimplemented`].
    pub fn warn_unimplemented(&self) {
        for (name, value) in self.unimplemented() {
            let why = match name {
                "docker" => {
                    "this agent does not run the docker CLI: it talks to dockerd's Engine API on --docker_socket"
                }
                "docker_kill_orphans" => "this agent always removes its own containers it has no record of",
                _ => "not implemented by this agent",
            };
            warn!(flag = name, value, "--{name} is ignored: {why}");
        }
    }

    /// The flags as `/state` and `/flags` show them.
    pub fn to_map(&self) -> Vec<(&'static str, String)> {
        vec![
            ("containerizers", self.containerizers.to_string()),
            ("docker_socket", self.docker_socket.display().to_string()),
            ("docker_stop_timeout", format_duration(self.docker_stop_timeout)),
            ("docker_remove_delay", format_duration(self.docker_remove_delay)),
            ("sandbox_directory", self.sandbox_directory.clone()),
            ("docker", self.docker.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        flags: ContainerizerFlags,
    }

    #[test]
    fn defaults_are_upstreams() {
        let cli = Cli::try_parse_from(["x"]).expect("parse");
        assert_eq!(cli.flags, ContainerizerFlags::default());
        assert!(cli.flags.containerizers.has(ContainerizerKind::Mesos));
        assert!(!cli.flags.containerizers.has(ContainerizerKind::Docker));
        assert_eq!(cli.flags.docker_remove_delay, Duration::from_secs(6 * 3600));
        assert!(cli.flags.unimplemented().is_empty());
    }

    #[test]
    fn containerizers_and_docker_flags_parse() {
        let cli = Cli::try_parse_from([
            "x",
            "--containerizers=docker,mesos",
            "--docker_socket=/run/d.sock",
            "--docker_stop_timeout=2secs",
            "--docker-remove-delay=1mins",
            "--docker_registry=https://r",
            "--docker_kill_orphans=true",
        ])
        .expect("parse");
        assert_eq!(cli.flags.containerizers.0, vec![ContainerizerKind::Docker, ContainerizerKind::Mesos]);
        assert_eq!(cli.flags.containerizers.to_string(), "docker,mesos");
        assert_eq!(cli.flags.docker_socket, PathBuf::from("/run/d.sock"));
        assert_eq!(cli.flags.docker_stop_timeout, Duration::from_secs(2));
        assert_eq!(cli.flags.docker_remove_delay, Duration::from_secs(60));
        assert_eq!(cli.flags.unimplemented(), vec![("docker_registry", "https://r".to_string())]);
        for bad in ["", "mesos,podman", "external"] {
            assert!(Cli::try_parse_from(["x", "--containerizers", bad]).is_err(), "{bad}");
        }
    }
}
