//! A Mesos-compatible master.
//!
//! [`core`] is the pure state machine; [`server`] is the tokio/axum shell that owns the sockets,
//! the clock and the single task that drives the core; [`registry`] keeps the core's registry
//! durable; `state` renders the read-only endpoints (and, with `operator`, the v1 operator API's answers and events); `metrics` counts for `/metrics/prometheus`.

mod auth;
pub mod core;
pub mod flags_compat;
mod http;
mod metrics;
mod operator;
pub mod registry;
pub mod server;
mod state;

pub use auth::AuthError;
pub use registry::RegistryKind;
pub use server::{DEFAULT_AGENT_REREGISTER_TIMEOUT, MasterError, MasterFlags, RunningMaster, start};
