//! The IO part: one agent's connection to dockerd. Launches containers from
//! [`ContainerSpec`]s, and finds this agent's containers again after a restart (only this
//! agent's: every call that names an existing container checks its owner label first).

use crate::container::{self, Container};
use crate::error::{self, Error};
use crate::output::{LogFiles, OutputState};
use crate::spec::{self, ContainerSpec, Settings, SpecError, TaskContainer, labels};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, StartContainerOptions,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// Timeout of a request until dockerd answers (a stream's or a stop's body may take longer:
/// see [`Container::stop`]).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// One agent's client of a dockerd.
#[derive(Debug, Clone)]
pub struct Docker {
    client: bollard::Docker,
    settings: Arc<Settings>,
}

/// A container of this agent, as listed by dockerd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub container_id: String,
    pub name: String,
    pub docker_id: String,
    pub agent_id: Option<String>,
    pub framework_id: Option<String>,
    pub task_id: Option<String>,
    pub state: ListedState,
}

/// A listed container's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListedState {
    /// Created but never started.
    Created,
    Running,
    /// Ended (exited or dead).
    Exited,
    /// Paused, restarting, being removed.
    Other(String),
}

/// What [`Docker::recover`] found of one container the agent knows.
#[derive(Debug)]
pub enum Recovered {
    /// Still running: the handle copies its output again and reports its exit.
    Running(Container),
    /// Ended while the agent was away; its output is copied up to the end by the handle.
    Exited { container: Container, exit: container::ContainerExit },
    /// Created but never started (the agent stopped between create and start): removed.
    NotStarted,
    /// dockerd has no such container.
    Missing,
}

/// The result of [`Docker::recover`].
#[derive(Debug, Default)]
pub struct Recovery {
    /// Every container id the agent asked about.
    pub containers: HashMap<String, Recovered>,
    /// Containers of this agent it did not know, removed.
    pub removed: Vec<String>,
}

impl Docker {
    /// Connects to the daemon's socket (`--docker_socket`) and negotiates the API version (the
    /// daemon may be older than the client: Debian's 20.10 speaks 1.41).
    pub async fn connect(socket: impl AsRef<Path>, settings: Settings) -> Result<Docker, Error> {
        let socket = socket.as_ref().display().to_string();
        let connect_error =
            |e: bollard::errors::Error| Error::Connect { socket: socket.clone(), message: error::message(&e) };
        let client = bollard::Docker::connect_with_socket(&socket, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(connect_error)?;
        let client = client.negotiate_version().await.map_err(connect_error)?;
        debug!(socket, version = ?client.client_version(), "connected to dockerd");
        Ok(Docker { client, settings: Arc::new(settings) })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The container that runs `task` (see [`spec::container_spec`]).
    pub fn spec(&self, task: &TaskContainer<'_>) -> Result<ContainerSpec, SpecError> {
        spec::container_spec(&self.settings, task)
    }

    /// Makes sure `image` is on the host: pulls it when it is missing, or always with `force`.
    pub async fn ensure_image(&self, image: &str, force: bool) -> Result<(), Error> {
        if !force {
            match self.client.inspect_image(image).await {
                Ok(_) => return Ok(()),
                Err(e) if error::is_not_found(&e) => {}
                Err(e) => return Err(Error::Pull { image: image.to_string(), message: error::message(&e) }),
            }
        }
        let (name, tag) = split_tag(image);
        info!(image, "pulling image");
        let options = CreateImageOptions {
            from_image: Some(name.to_string()),
            tag: tag.map(str::to_string),
            ..Default::default()
        };
        let mut progress = self.client.create_image(Some(options), None, None);
        while let Some(item) = progress.next().await {
            if let Err(e) = item {
                return Err(Error::Pull { image: image.to_string(), message: error::message(&e) });
            }
        }
        // A pull that "succeeded" must have brought the image.
        self.client
            .inspect_image(image)
            .await
            .map(|_| ())
            .map_err(|e| Error::Pull { image: image.to_string(), message: error::message(&e) })
    }

    /// Pulls the image if needed, creates and starts the container, and copies its output
    /// into `files` (appending). A container that could not start is removed.
    pub async fn launch(&self, spec: &ContainerSpec, files: LogFiles) -> Result<Container, Error> {
        if spec.force_pull {
            self.ensure_image(&spec.image, true).await?;
        }
        let name = spec.name.as_str();
        let mut body = spec.body.clone();
        let (stdout_base, stderr_base) = files.sizes();
        let labels = body.labels.get_or_insert_with(HashMap::new);
        labels.insert(labels::STDOUT_BASE.to_string(), stdout_base.to_string());
        labels.insert(labels::STDERR_BASE.to_string(), stderr_base.to_string());
        let options = CreateContainerOptions { name: Some(name.to_string()), ..Default::default() };
        // As `docker run` does: create, and pull only when dockerd has no such image (one
        // request per launch instead of two when the image is there, as it mostly is).
        let created = match self.client.create_container(Some(options.clone()), body.clone()).await {
            Err(e) if error::is_not_found(&e) && !spec.force_pull => {
                self.ensure_image(&spec.image, false).await?;
                self.client.create_container(Some(options), body).await
            }
            other => other,
        };
        created.map_err(|e| Error::Create { name: name.to_string(), message: error::message(&e) })?;
        if let Some(rotate) = files.rotate {
            // Nothing of this container's output is copied yet (a file of an earlier run of
            // the sandbox, the fetcher's say, is not its output).
            let state = OutputState { rotate, copied: (0, 0) };
            if let Err(e) = state.write(&files.state_path()).await {
                let _ = container::remove(&self.client, name).await;
                return Err(Error::Start {
                    name: name.to_string(),
                    message: format!("cannot write the output record: {e}"),
                });
            }
        }
        if let Err(e) = self.client.start_container(name, None::<StartContainerOptions>).await {
            let message = error::message(&e);
            if let Err(e) = container::remove(&self.client, name).await {
                warn!(container = name, error = %e, "cannot remove a container that did not start");
            }
            return Err(Error::Start { name: name.to_string(), message });
        }
        let inspect = container::inspect(&self.client, name).await?;
        info!(container = name, image = %spec.image, network = spec.network.as_str(), "container started");
        Ok(Container::new(self.client.clone(), &inspect, spec.container_id.clone(), files, (0, 0)))
    }

    /// A handle to an existing container of this agent (after a restart): its output is
    /// copied again from where the files end, its exit reported by [`Container::wait`].
    /// A rotated container's output goes on from its record (and with its rotation).
    pub async fn attach(&self, container_id: &str, files: LogFiles) -> Result<Container, Error> {
        let name = spec::container_name(container_id);
        let inspect = container::inspect(&self.client, &name).await?;
        self.check_owner(&name, &inspect)?;
        let label = |key: &str| -> u64 {
            inspect
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let (files, skip) = match OutputState::read(&files.state_path()) {
            Some(state) => (files.rotated(Some(state.rotate)), state.copied),
            None => {
                let (stdout, stderr) = files.sizes();
                let skip = (
                    stdout.saturating_sub(label(labels::STDOUT_BASE)),
                    stderr.saturating_sub(label(labels::STDERR_BASE)),
                );
                (files, skip)
            }
        };
        debug!(container = %name, ?skip, "re-attached");
        Ok(Container::new(self.client.clone(), &inspect, container_id.to_string(), files, skip))
    }

    /// This agent's containers (by the owner label), in every state.
    pub async fn list(&self) -> Result<Vec<Listed>, Error> {
        let filters =
            HashMap::from([("label".to_string(), vec![format!("{}={}", labels::OWNER, self.settings.owner)])]);
        let options = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let summaries = self.client.list_containers(Some(options)).await.map_err(|e| Error::api("list", "", &e))?;
        let mut out = Vec::new();
        for s in summaries {
            let labels = s.labels.unwrap_or_default();
            // The filter is dockerd's; never act on a container it let through by mistake.
            if labels.get(labels::OWNER) != Some(&self.settings.owner) {
                continue;
            }
            let name = s
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default();
            let Some(container_id) = labels
                .get(labels::CONTAINER_ID)
                .cloned()
                .or_else(|| name.strip_prefix(spec::NAME_PREFIX).map(str::to_string))
            else {
                continue;
            };
            use bollard::models::ContainerSummaryStateEnum as S;
            let state = match s.state {
                Some(S::CREATED) => ListedState::Created,
                Some(S::RUNNING) => ListedState::Running,
                Some(S::EXITED) | Some(S::DEAD) => ListedState::Exited,
                other => ListedState::Other(other.map(|o| o.to_string()).unwrap_or_default()),
            };
            out.push(Listed {
                container_id,
                name,
                docker_id: s.id.unwrap_or_default(),
                agent_id: labels.get(labels::AGENT_ID).cloned(),
                framework_id: labels.get(labels::FRAMEWORK_ID).cloned(),
                task_id: labels.get(labels::TASK_ID).cloned(),
                state,
            });
        }
        Ok(out)
    }

    /// After an agent restart: re-attaches to the containers of `known` (container id ->
    /// the sandbox files), learns how the ended ones ended, removes those that never started,
    /// and removes this agent's containers it does not know. Other agents' containers are
    /// never touched.
    pub async fn recover(&self, known: &HashMap<String, LogFiles>) -> Result<Recovery, Error> {
        let mut recovery = Recovery::default();
        for listed in self.list().await? {
            let Some(files) = known.get(&listed.container_id) else {
                info!(container = %listed.name, task_id = ?listed.task_id, "removing a container this agent does not know");
                // A container that cannot be removed now is found again by the next recovery.
                match container::remove(&self.client, &listed.name).await {
                    Ok(()) => recovery.removed.push(listed.container_id),
                    Err(e) => warn!(container = %listed.name, error = %e, "cannot remove an unknown container"),
                }
                continue;
            };
            let found = if listed.state == ListedState::Created {
                if let Err(e) = container::remove(&self.client, &listed.name).await {
                    warn!(container = %listed.name, error = %e, "cannot remove a container that never started");
                }
                Recovered::NotStarted
            } else {
                match self.attach(&listed.container_id, files.clone()).await {
                    Ok(container) => match container.exit().await {
                        Ok(None) => Recovered::Running(container),
                        Ok(Some(_)) => {
                            let exit = container.wait().await?;
                            Recovered::Exited { container, exit }
                        }
                        Err(Error::NotFound { .. }) => Recovered::Missing,
                        Err(e) => return Err(e),
                    },
                    Err(Error::NotFound { .. }) => Recovered::Missing,
                    Err(e) => return Err(e),
                }
            };
            info!(container = %listed.name, state = ?listed.state, "recovered a container");
            recovery.containers.insert(listed.container_id, found);
        }
        for container_id in known.keys() {
            recovery.containers.entry(container_id.clone()).or_insert(Recovered::Missing);
        }
        Ok(recovery)
    }

    /// Removes the container of `container_id` (killing it if it runs), if it is this agent's.
    pub async fn remove(&self, container_id: &str) -> Result<(), Error> {
        let name = spec::container_name(container_id);
        match container::inspect(&self.client, &name).await {
            Ok(inspect) => self.check_owner(&name, &inspect)?,
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        container::remove(&self.client, &name).await
    }

    /// Removes the container after `delay` (Mesos' `--docker_remove_delay`), in the
    /// background. An agent restarted meanwhile removes it in [`Docker::recover`].
    pub fn remove_after(&self, container_id: &str, delay: Duration) -> tokio::task::JoinHandle<()> {
        let docker = self.clone();
        let container_id = container_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = docker.remove(&container_id).await {
                warn!(container_id, error = %e, "cannot remove the container");
            }
        })
    }

    fn check_owner(&self, name: &str, inspect: &bollard::models::ContainerInspectResponse) -> Result<(), Error> {
        match container::owner(inspect) {
            Some(owner) if owner == self.settings.owner => Ok(()),
            owner => Err(Error::NotOwned { name: name.to_string(), owner: owner.unwrap_or_default().to_string() }),
        }
    }
}

/// Splits `name[:tag]` for a pull (`tag` `latest` when absent: without one the API pulls every
/// tag). A digest reference (`name@sha256:...`) is pulled as it is.
fn split_tag(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], Some(&image[last_slash + i + 1..])),
        None => (image, Some("latest")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_are_split_for_pulls() {
        assert_eq!(split_tag("busybox"), ("busybox", Some("latest")));
        assert_eq!(split_tag("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(split_tag("localhost:5000/app"), ("localhost:5000/app", Some("latest")));
        assert_eq!(split_tag("localhost:5000/app:v2"), ("localhost:5000/app", Some("v2")));
        assert_eq!(split_tag("app@sha256:abcd"), ("app@sha256:abcd", None));
    }
}
