//! A Mesos-compatible master.
//!
//! [`core`] is the pure state machine; [`server`] is the tokio/axum shell that owns the sockets,
//! the clock and the single task that drives the core; [`registry`] keeps the core's registry
//! durable; `state` renders the read-only endpoints (and, with `operator`, the v1 operator API's answers and events); `metrics` counts for `/metrics/prometheus`.

pub mod core;

#[cfg(feature = "shell")]
mod auth;
#[cfg(feature = "shell")]
pub mod flags_compat;
#[cfg(feature = "shell")]
mod http;
#[cfg(feature = "shell")]
mod metrics;
#[cfg(feature = "shell")]
mod operator;
#[cfg(feature = "shell")]
pub mod registry;
#[cfg(feature = "shell")]
pub mod server;
#[cfg(feature = "shell")]
mod state;

#[cfg(feature = "shell")]
pub use auth::AuthError;
#[cfg(feature = "shell")]
pub use registry::RegistryKind;
#[cfg(feature = "shell")]
pub use server::{DEFAULT_AGENT_REREGISTER_TIMEOUT, MasterError, MasterFlags, RunningMaster, start};
