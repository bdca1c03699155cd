//! What every HTTP server and client of the cluster shares (master, agent, scheduler and the
//! Mesos client): `serve`, the accept loop with a connection cap and header/idle timeouts
//! (`limits`), TLS (`tls`), and Prometheus metrics (`metrics`).

pub mod limits;
pub mod metrics;
mod serve;
pub mod tls;

pub use limits::{HttpLimitFlags, Limits};
pub use serve::serve;
