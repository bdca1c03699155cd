//! The Docker containerizer (Mesos' `--containerizers=docker`): tasks whose ContainerInfo is
//! `DOCKER` run as containers of a dockerd, through the Docker Engine API (bollard, the API
//! version negotiated with the daemon).
//!
//! * [`spec`] (pure): a task, its resources and environment -> the container to create
//!   ([`container_spec`]): name `mesos-<containerId>`, owner/agent/framework/task labels,
//!   cpu shares and quota, memory limit, environment, entrypoint and command as upstream,
//!   volumes, network and port mappings, `privileged`, and `parameters` ([`params`], refused
//!   by name when unknown or unsupported).
//! * [`Docker`] (IO): [`Docker::launch`] pulls a missing image, creates and starts the
//!   container and returns a [`Container`], which copies the container's output into the
//!   sandbox's `stdout`/`stderr`, [`Container::wait`]s for its exit ([`ContainerExit`]: exit
//!   code, `State.OOMKilled`), [`Container::stop`]s it with a grace period (or
//!   [`Container::terminate`] / [`Container::kill`] for a caller that times the grace period
//!   itself), reports its addresses on bridge and user networks, and runs commands inside it
//!   ([`Container::exec`], for COMMAND health checks as upstream's `docker exec`).
//!   [`Docker::remove_after`] removes it after `--docker_remove_delay`.
//! * Recovery after an agent restart: [`Docker::recover`] re-attaches to the agent's
//!   containers (found by the owner label, [`Settings::owner`]), learns how the ended ones
//!   ended, and removes the agent's containers it does not know. Containers of other agents on
//!   the same dockerd (another owner label) are never touched.
//!
//! The lifecycle mirrors the command containerizer's: launch -> running handle -> exit report;
//! kill with a grace period; recover after a restart.

mod client;
mod container;
mod error;
mod output;
mod params;
pub mod spec;

pub use client::{Docker, Listed, ListedState, Recovered, Recovery};
pub use container::{Container, ContainerExit, EXEC_OUTPUT_LIMIT, ExecError, ExecOutput};
pub use error::Error;
pub use output::{LogFiles, Rotate};
pub use spec::{
    ContainerSpec, DEFAULT_SANDBOX_DIRECTORY, NetworkMode, PortMapping, Settings, SpecError, TaskContainer,
    container_name, container_spec, labels,
};
