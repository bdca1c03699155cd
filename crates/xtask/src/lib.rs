//! Developer tasks. `dist` builds the Debian package (`cargo xtask dist`). The library part is
//! also what tests share: the multi-node test cluster (used by
//! the `cargo xtask` command, integration tests and benchmarks), an HTTPS test server, real
//! ZooKeeper servers for tests (`zookeeper`), a TCP proxy that cuts and heals one client's
//! link (`tcp_proxy`), a private dockerd with test images built from busybox-static
//! (`dockerd`), and the soak run of `cargo xtask soak` (`soak`).

pub mod dist;
pub mod dockerd;
pub mod https_server;
pub mod netcluster;
pub mod soak;
pub mod tcp_proxy;
pub mod zookeeper;
