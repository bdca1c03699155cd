//! A Mesos-compatible master.
//!
//! [`core`] is the pure state machine; [`server`] is the tokio/axum shell that owns the sockets,
//! the clock and the single task that drives the core.

pub mod core;
