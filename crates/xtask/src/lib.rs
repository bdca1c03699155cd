//! Developer tasks. The library part is what tests share: the multi-node test cluster (used by
//! the `cargo xtask` command, integration tests and benchmarks), an HTTPS test server, and a
//! private dockerd with test images built from busybox-static.

pub mod dockerd;
pub mod https_server;
pub mod netcluster;
