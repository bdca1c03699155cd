//! What every HTTP server and client of the cluster shares (master, agent, scheduler and the
//! Mesos client): `serve`, the accept loop with a connection cap and header/idle timeouts
//! (`limits`), and TLS (`tls`).

pub mod limits;
mod serve;
pub mod tls;

pub use limits::{HttpLimitFlags, Limits};
pub use serve::serve;
