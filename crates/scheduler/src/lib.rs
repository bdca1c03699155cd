//! Marathon, the framework that keeps long-running apps alive.
//!
//! [`core`] is the pure state machine (no IO, no clock reads, seeded randomness only). The IO
//! shell around it (Mesos client, REST API, store) lives elsewhere and drives it with events.

pub mod core;
