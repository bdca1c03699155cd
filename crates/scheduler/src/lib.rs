//! Marathon, the framework that keeps long-running apps alive.
//!
//! [`core`] is the pure state machine (no IO, no clock reads, seeded randomness only). Around it:
//! [`service`] owns the core in one driver task and executes its commands against the Mesos
//! master (through `mesos-client`) and the store; `api` serves Marathon's REST API v2 on axum;
//! [`records`] is the storage layout; [`convert`] maps between Marathon's JSON types and the
//! core's; [`deployments`] tracks deployments until their apps converge; [`metrics`] counts for
//! `/metrics` and `/metrics/prometheus`.

// The pure parts: the core, and the group tree with its updates and the checks of what this
// cluster supports, applied to REST API input.
pub mod core;
pub mod groups;
pub mod support;

// The shell (the `shell` feature, on by default).
#[cfg(feature = "shell")]
pub mod acl;
#[cfg(feature = "shell")]
mod api;
#[cfg(feature = "shell")]
pub mod convert;
#[cfg(feature = "shell")]
mod definitions;
#[cfg(feature = "shell")]
pub mod deployments;
#[cfg(feature = "shell")]
pub mod events;
#[cfg(feature = "shell")]
pub mod flags;
#[cfg(feature = "shell")]
pub mod flags_compat;
#[cfg(feature = "shell")]
pub mod listen;
#[cfg(feature = "shell")]
pub mod metrics;
#[cfg(feature = "shell")]
pub mod pods;
#[cfg(feature = "shell")]
pub mod probe;
#[cfg(feature = "shell")]
pub mod records;
#[cfg(feature = "shell")]
pub mod service;

#[cfg(feature = "shell")]
pub use flags::SchedulerFlags;
#[cfg(feature = "shell")]
pub use service::{RunningScheduler, SchedulerError, start};
