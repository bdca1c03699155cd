//! Developer tasks. The library part is what tests share: the multi-node test cluster (used by
//! the `cargo xtask` command, integration tests and benchmarks), an HTTPS test server, real
//! ZooKeeper servers for tests (`zookeeper`), a TCP proxy that cuts and heals one client's
//! link (`tcp_proxy`), and a private dockerd with test images built from busybox-static
//! (`dockerd`).

pub mod dockerd;
pub mod https_server;
pub mod netcluster;
pub mod tcp_proxy;
pub mod zookeeper;
