//! Developer tasks. The library part is the multi-node test cluster, shared by the `cargo xtask`
//! command, integration tests and benchmarks.

pub mod netcluster;
