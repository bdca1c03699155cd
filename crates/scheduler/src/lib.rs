//! Marathon, the framework that keeps long-running apps alive.
//!
//! [`core`] is the pure state machine (no IO, no clock reads, seeded randomness only). Around it:
//! [`service`] owns the core in one driver task and executes its commands against the Mesos
//! master (through `mesos-client`) and the store; `api` serves Marathon's REST API v2 on axum;
//! [`records`] is the storage layout; [`convert`] maps between Marathon's JSON types and the
//! core's; [`deployments`] tracks deployments until their apps converge; [`metrics`] counts for
//! `/metrics` and `/metrics/prometheus`.

pub mod acl;
mod api;
pub mod convert;
pub mod core;
mod definitions;
pub mod deployments;
pub mod events;
pub mod flags;
pub mod flags_compat;
pub mod groups;
pub mod listen;
pub mod metrics;
pub mod probe;
pub mod records;
pub mod service;
pub mod support;

pub use flags::SchedulerFlags;
pub use service::{RunningScheduler, SchedulerError, start};
