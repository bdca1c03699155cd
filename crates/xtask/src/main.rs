//! `cargo xtask ...`: developer tasks.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use xtask::netcluster::{ClusterSpec, NetCluster};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// A multi-node cluster on this machine (root: network namespaces and cgroups).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Build the network, start a master and the agents, and keep them running until Ctrl-C or
    /// until standard input closes; then remove everything.
    Up {
        #[arg(long, default_value_t = 3)]
        agents: usize,
        /// Work dirs and logs (default: a new directory under /tmp).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Resources of every agent.
        #[arg(long, default_value = "cpus:2;mem:2048;disk:2048;ports:[31000-32000]")]
        resources: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Task::Cluster { command: ClusterCommand::Up { agents, dir, resources } } => {
            let root = workspace_root();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
            let status = std::process::Command::new(cargo)
                .args(["build", "--quiet", "-p", "marathon"])
                .current_dir(&root)
                .status()
                .context("build marathon")?;
            anyhow::ensure!(status.success(), "building marathon failed");
            let dir =
                dir.unwrap_or_else(|| std::env::temp_dir().join(format!("marathon-cluster-{}", std::process::id())));
            let mut spec = ClusterSpec::new(agents, root.join("target/debug/marathon"), &dir);
            spec.agent_resources = resources;
            let cluster = NetCluster::up(spec).context("bring the cluster up")?;
            println!("master: http://{}", cluster.master_addr());
            for node in &cluster.nodes {
                println!(
                    "{}: agent http://{} (netns {}, link {}, logs in {})",
                    node.hostname,
                    node.endpoint(),
                    node.netns,
                    node.host_link,
                    dir.display()
                );
            }
            println!("press Ctrl-C or Ctrl-D to tear the cluster down");
            let (done_tx, done) = std::sync::mpsc::channel::<()>();
            let on_signal = done_tx.clone();
            ctrlc::set_handler(move || {
                let _ = on_signal.send(());
            })
            .context("install the Ctrl-C handler")?;
            std::thread::spawn(move || {
                let _ = std::io::read_to_string(std::io::stdin());
                let _ = done_tx.send(());
            });
            let _ = done.recv();
            drop(cluster);
            println!("cluster removed");
            Ok(())
        }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
