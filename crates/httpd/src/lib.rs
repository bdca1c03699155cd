//! What every HTTP server and client of the cluster shares (master, agent, scheduler and the
//! Mesos client): `serve`, the accept loop with a connection cap, header/idle timeouts and a
//! body deadline (`limits`), TLS (`tls`), Prometheus metrics (`metrics`) and upstream flag compatibility
//! (`compat`: environment variables, Mesos' `--no-` forms, upstream flags accepted with a
//! warning until implemented).

pub mod compat;
pub mod limits;
pub mod metrics;
mod serve;
pub mod tls;

pub use limits::{HttpLimitFlags, Limits};
pub use serve::{BODY_TIMED_OUT, TimeoutAnswer, plain_request_timeout, serve};
