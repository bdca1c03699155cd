//! Wire formats of the cluster core: the Mesos v1 scheduler API's JSON shapes, RecordIO framing,
//! the resource algebra both sides of an offer need, and our own master<->agent protocol.
//!
//! This crate is the only place that knows how these messages look on the wire. Field names are
//! proto field names (snake_case); enums are written by name; `bytes` fields are base64 strings.
//! Unknown fields are ignored on input, as Mesos does.

pub mod agent;
pub mod container;
pub mod credentials;
pub mod duration;
pub mod health;
pub mod ids;
pub mod json;
pub mod messages;
pub mod monitor;
pub mod operator;
pub mod recordio;
pub mod resources;
pub mod scheduler;

pub use ids::*;
pub use messages::*;

/// The version we report on `/version`. Purely numeric: pymesos runs `int()` on every component.
pub const MESOS_VERSION: &str = "1.11.0";
