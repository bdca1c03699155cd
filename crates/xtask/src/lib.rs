//! Developer tasks. The library part is what tests share: the multi-node test cluster (used by
//! the `cargo xtask` command, integration tests and benchmarks) and an HTTPS test server.

pub mod https_server;
pub mod netcluster;
