//! `cargo xtask ...`: developer tasks.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use xtask::dist;
use xtask::netcluster::{ClusterSpec, NetCluster, registry};

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
    /// A real cluster (ZooKeeper, master, scheduler and agents, each a process of its own)
    /// under app churn and faults (SIGKILL and restart of agents, the master, the scheduler),
    /// checked for leaked task processes, cgroups, sandboxes and descriptors and for the
    /// scheduler's RSS drift; prints a JSON and a markdown summary. Exits 1 if it found a leak.
    Soak {
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        #[arg(long, default_value_t = 3)]
        agents: usize,
        /// Work dirs and logs (default: a new directory under /tmp), removed at the end unless
        /// --keep-dir.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        keep_dir: bool,
        /// Also write the JSON summary to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The Debian package `marathon_<version>_<arch>.deb`: /usr/bin/marathon, the systemd units
    /// marathon.service, mesos-master.service and mesos-agent.service (alias mesos-slave), and
    /// their env files in /etc/default. Builds the web UI (scripts/build-ui) and the binary first.
    Dist {
        /// Cargo profile of the binary. `release` (the default) is linked statically (glibc,
        /// `+crt-static`: no dependencies); any other profile, e.g. `dev` for a quick test
        /// package, is the ordinary dynamic build (Depends: libc6, libgcc-s1).
        #[arg(long, default_value = "release")]
        profile: String,
        /// Link statically whatever the profile (its own build, under target/<triple>/).
        #[arg(long = "static", conflicts_with = "dynamic")]
        static_crt: bool,
        /// Link dynamically even for `release`.
        #[arg(long)]
        dynamic: bool,
        /// Where the package goes.
        #[arg(long, default_value = "target/dist")]
        out_dir: PathBuf,
        /// Package the web UI bundle as it is in ui/dist (or none), without scripts/build-ui.
        #[arg(long)]
        skip_ui: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Build the network, start the machines, and keep them running until Ctrl-C, until
    /// standard input closes, or until `cargo xtask cluster down`; then remove everything.
    ///
    /// Without --masters, --schedulers and --zookeepers: one master on the host side of the
    /// bridge and the agents. With any of them: highly available, every master and scheduler a
    /// machine of its own, contending in ZooKeeper.
    Up {
        #[arg(long, default_value_t = 3)]
        agents: usize,
        /// Masters, each a machine of its own, contending in ZooKeeper (default with
        /// --schedulers or --zookeepers: 1).
        #[arg(long)]
        masters: Option<usize>,
        /// Marathon schedulers, each a machine of its own, contending in ZooKeeper.
        #[arg(long, default_value_t = 0)]
        schedulers: usize,
        /// ZooKeeper servers (1, 3, 5 or 7), each a machine of its own (default with masters or
        /// schedulers: 1).
        #[arg(long)]
        zookeepers: Option<usize>,
        /// ZooKeeper session timeout of masters, agents and schedulers, in seconds: how long
        /// after a leader dies another one is elected.
        #[arg(long, default_value_t = 10.0)]
        zk_session_timeout: f64,
        /// Work dirs and logs (default: a new directory under /tmp); must not exist or be
        /// empty. Removed with the cluster unless --keep-dir.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep the directory (logs, work dirs) when the cluster is removed.
        #[arg(long)]
        keep_dir: bool,
        /// Resources of every agent.
        #[arg(long, default_value = "cpus:2;mem:2048;disk:2048;ports:[31000-32000]")]
        resources: String,
    },
    /// Remove the clusters of `cargo xtask cluster up` (stopping those commands) and whatever
    /// clusters of processes that died left behind: processes, namespaces, links, the bridge,
    /// cgroups, directories.
    Down {
        /// Only the cluster in this directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Task::Soak { minutes, agents, dir, keep_dir, out } => soak(minutes, agents, dir, keep_dir, out),
        Task::Dist { profile, static_crt, dynamic, out_dir, skip_ui } => {
            dist_command(&profile, static_crt, dynamic, out_dir, skip_ui)
        }
        Task::Cluster { command: ClusterCommand::Down { dir } } => {
            let removed = registry::take_down(dir.as_deref());
            if removed.is_empty() {
                println!("no cluster to take down");
            }
            for (tag, dir) in removed {
                println!("removed cluster {tag} ({})", dir.display());
            }
            Ok(())
        }
        Task::Cluster {
            command:
                ClusterCommand::Up { agents, masters, schedulers, zookeepers, zk_session_timeout, dir, keep_dir, resources },
        } => {
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
            let empty = std::fs::read_dir(&dir).map_or(true, |mut entries| entries.next().is_none());
            anyhow::ensure!(empty, "{} is not empty (the cluster removes its directory)", dir.display());
            anyhow::ensure!(
                zk_session_timeout.is_finite() && (1.0..=60.0).contains(&zk_session_timeout),
                "--zk-session-timeout: 1 to 60 seconds (ZooKeeper's limits here)"
            );
            let highly_available = masters.is_some() || schedulers > 0 || zookeepers.is_some();
            let mut spec = ClusterSpec::new(agents, root.join("target/debug/marathon"), &dir);
            spec.agent_resources = resources;
            spec.remove_dir = !keep_dir;
            spec.command = true;
            if highly_available {
                spec.masters = masters.unwrap_or(1);
                spec.schedulers = schedulers;
                spec.zookeepers = zookeepers.unwrap_or(1);
                spec.zk_session_timeout = Duration::from_secs_f64(zk_session_timeout);
            }
            let cluster = NetCluster::up(spec).context("bring the cluster up")?;
            print_cluster(&cluster);
            println!("logs and work dirs: {}", dir.display());
            println!(
                "press Ctrl-C or Ctrl-D (or run `cargo xtask cluster down` elsewhere) to tear the cluster down{}",
                if keep_dir { "" } else { "; that removes the directory too" }
            );
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

fn build_marathon(root: &std::path::Path) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "-p", "marathon"])
        .current_dir(root)
        .status()
        .context("build marathon")?;
    anyhow::ensure!(status.success(), "building marathon failed");
    Ok(())
}

fn soak(minutes: f64, agents: usize, dir: Option<PathBuf>, keep_dir: bool, out: Option<PathBuf>) -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    anyhow::ensure!(minutes > 0.0 && minutes.is_finite(), "--minutes must be positive");
    anyhow::ensure!((1..=20).contains(&agents), "--agents: 1 to 20");
    let root = workspace_root();
    build_marathon(&root)?;
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("marathon-soak-{}", std::process::id())));
    let empty = std::fs::read_dir(&dir).map_or(true, |mut entries| entries.next().is_none());
    anyhow::ensure!(empty, "{} is not empty (the soak removes its directory)", dir.display());
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    ctrlc::set_handler(move || on_signal.store(true, Ordering::SeqCst)).context("install the Ctrl-C handler")?;
    let options =
        xtask::soak::SoakOptions { minutes, agents, binary: root.join("target/debug/marathon"), dir, keep_dir };
    println!("soak: {minutes} minutes, {agents} agents, logs in {}", options.dir.display());
    let report = xtask::soak::run(&options, stop).context("soak")?;
    let summary = serde_json::to_string_pretty(&report.to_json())?;
    println!("{summary}");
    println!("{}", report.to_markdown());
    if let Some(out) = out {
        std::fs::write(&out, &summary).with_context(|| format!("write {}", out.display()))?;
    }
    anyhow::ensure!(report.passed(), "the soak found a leak or too much drift (see above)");
    Ok(())
}

fn print_cluster(cluster: &NetCluster) {
    let dir = cluster.spec.dir.display();
    if cluster.masters.is_empty() {
        println!("master: http://{}", cluster.master_addr());
    } else {
        println!("ZooKeeper: {}", cluster.zk_url(""));
        for zk in &cluster.zookeepers {
            println!("  {}: {} (netns {})", zk.hostname, zk.endpoint(), zk.netns);
        }
        let leader = cluster.leading_master();
        println!("masters: --zk {} (agents and frameworks: --master {0})", cluster.zk_url("/mesos"));
        for (i, m) in cluster.masters.iter().enumerate() {
            let leading = if leader == Some(i) { ", leading" } else { "" };
            println!("  {}: http://{} (netns {}{leading})", m.hostname, m.endpoint(), m.netns);
        }
    }
    if !cluster.schedulers.is_empty() {
        let leader = cluster.leading_scheduler();
        println!("Marathon: --zk {} (any scheduler serves the REST API)", cluster.zk_url("/marathon"));
        for (i, s) in cluster.schedulers.iter().enumerate() {
            let leading = if leader == Some(i) { ", leading" } else { "" };
            println!("  {}: http://{} (netns {}{leading})", s.hostname, s.endpoint(), s.netns);
        }
    }
    for node in &cluster.nodes {
        println!(
            "{}: agent http://{} (netns {}, link {}, logs in {dir})",
            node.hostname,
            node.endpoint(),
            node.netns,
            node.host_link,
        );
    }
    if cluster.spec.is_highly_available() {
        println!("a shell on a machine: ip netns exec <netns> bash (its /etc/hosts names every machine)");
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `cargo xtask dist`: builds the UI (unless `skip_ui`) and the binary, then the `.deb`.
fn dist_command(profile: &str, static_crt: bool, dynamic: bool, out_dir: PathBuf, skip_ui: bool) -> anyhow::Result<()> {
    let root = workspace_root();
    if !skip_ui {
        let status = std::process::Command::new("bash")
            .arg(root.join("scripts/build-ui"))
            .stdin(std::process::Stdio::null())
            .status()
            .context("run scripts/build-ui")?;
        anyhow::ensure!(status.success(), "scripts/build-ui failed (--skip-ui packages without building the UI)");
    }
    let spec = dist::cargo::BuildSpec {
        static_crt: static_crt || (profile == "release" && !dynamic),
        profile: profile.to_string(),
    };
    let started = std::time::Instant::now();
    let binary = dist::cargo::build_marathon(&root, &spec).context("build marathon")?;
    let built = started.elapsed();
    let options = dist::DebOptions {
        strip: true,
        compression: if profile == "release" { dist::Compression::Xz } else { dist::Compression::FastGzip },
        require_static: spec.static_crt,
    };
    let out_dir = if out_dir.is_absolute() { out_dir } else { root.join(out_dir) };
    let deb = dist::build_deb(&binary, &out_dir, &options).context("build the Debian package")?;
    let ldd = std::process::Command::new("ldd").arg(&binary).output();
    println!("binary: {} ({} profile, built in {:.0?})", binary.display(), profile, built);
    match ldd {
        Ok(out) => {
            print!("ldd: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        }
        Err(e) => println!("ldd: not run ({e})"),
    }
    println!("linkage: {:?}", deb.linkage);
    println!("Depends: {}", if deb.depends.is_empty() { "(none)" } else { &deb.depends });
    println!("package: {} (packaged in {:.0?})", deb.path.display(), started.elapsed() - built);
    Ok(())
}
