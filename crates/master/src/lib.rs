//! A Mesos-compatible master.
//!
//! [`core`] is the pure state machine; [`server`] is the tokio/axum shell that owns the sockets,
//! the clock and the single task that drives the core; `state` renders the read-only endpoints.

pub mod core;
pub mod server;
mod state;

pub use server::{MasterFlags, RunningMaster, start};
