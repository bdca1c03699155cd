//! The Mesos-compatible agent: registers with the master over our agent protocol
//! (`mesos_api::agent`), runs command tasks (the built-in command executor's semantics) in
//! cgroups through the `containerizer` crate, delivers status updates reliably, checkpoints
//! the tasks of checkpointing frameworks and recovers them after a restart, and serves the
//! Mesos agent endpoints (`/state`, `/files/*`, `/metrics/snapshot`, ...).
//!
//! Pure core, thin shell: [`core::AgentCore`] decides everything (task lifecycle, update
//! streams and retries, kills, health checks, what to checkpoint, what to tell the master); the
//! runtime task owns it and executes its commands (`health` runs the health check probes).
//!
//! ```no_run
//! # async fn demo() -> Result<(), agent::AgentError> {
//! let flags = agent::AgentFlags::new("127.0.0.1:5050", "/var/lib/marathon-agent");
//! let running = agent::start(flags).await?;
//! println!("agent on {}", running.local_addr());
//! running.run_until(agent::shutdown_signal()).await
//! # }
//! ```

// The pure core and what it needs (`checkpoint::compact_log` is the pure replay of the
// checkpoint log; `isolation`'s pure rules judge what the shell measured).
pub mod checkpoint;
pub mod core;
pub mod isolation;
pub mod paths;

pub use crate::core::Snapshot;

// The shell (the `shell` feature, on by default).
#[cfg(feature = "shell")]
mod auth;
#[cfg(feature = "shell")]
pub mod containerizers;
#[cfg(feature = "shell")]
pub mod containers;
#[cfg(feature = "shell")]
pub mod detect;
#[cfg(feature = "shell")]
pub mod docker_tasks;
#[cfg(feature = "shell")]
pub mod fetcher;
#[cfg(feature = "shell")]
mod file_server;
#[cfg(feature = "shell")]
pub mod files;
#[cfg(feature = "shell")]
pub mod flags;
#[cfg(feature = "shell")]
pub mod flags_compat;
#[cfg(feature = "shell")]
pub mod gc;
#[cfg(feature = "shell")]
pub mod health;
#[cfg(feature = "shell")]
pub mod link;
#[cfg(feature = "shell")]
mod metrics;
#[cfg(feature = "shell")]
mod monitor;
#[cfg(feature = "shell")]
mod runtime;
#[cfg(feature = "shell")]
mod server;
#[cfg(feature = "shell")]
mod service;

#[cfg(feature = "shell")]
pub use flags::{AgentFlags, FlagError};
#[cfg(feature = "shell")]
pub use service::{AgentError, RunningAgent, shutdown_signal, start};
