//! `marathon`: one binary for every component. This file only parses flags, sets up logging and
//! starts the components; everything else lives in the library crates.

mod cli;
mod logging;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

/// mimalloc instead of glibc's malloc: listings and status bursts allocate and free many small
/// objects across threads, where glibc's arenas spent a third of a large listing's CPU in
/// malloc, free and consolidation (BENCHMARKS.md, "Marathon API: listing"). Built without
/// transparent huge pages (`no_thp`): with them every fresh arena region was a 2 MB page fault
/// (zeroed at once, resident in full), which cost CPU in every component and up to 40 MB of RSS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "marathon", version, about = "Marathon and the Mesos-compatible cluster core it runs on")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Mesos-compatible master (scheduler API on /api/v1/scheduler).
    Master {
        #[command(flatten)]
        flags: master::MasterFlags,
        #[command(flatten)]
        log: logging::MesosLogFlags,
    },
    /// Run an agent that offers this machine's resources to a master and runs its tasks.
    Agent {
        #[command(flatten)]
        flags: agent::AgentFlags,
        #[command(flatten)]
        log: logging::MesosLogFlags,
    },
    /// Run Marathon: a framework on a master that keeps apps running, with the REST API.
    Scheduler {
        #[command(flatten)]
        flags: scheduler::SchedulerFlags,
        #[command(flatten)]
        log: logging::MarathonLogFlags,
    },
    /// Run the whole system on this machine in one process: a master, agent(s) and Marathon.
    Local {
        #[command(flatten)]
        flags: LocalFlags,
        #[command(flatten)]
        log: logging::MarathonLogFlags,
    },
    /// Manage apps through Marathon's REST API.
    App {
        #[command(flatten)]
        client: cli::ClientFlags,
        #[command(subcommand)]
        command: cli::AppCommand,
    },
    /// List and kill tasks through Marathon's REST API.
    Task {
        #[command(flatten)]
        client: cli::ClientFlags,
        #[command(subcommand)]
        command: cli::TaskCommand,
    },
    /// List, cancel and force-stop deployments.
    Deployment {
        #[command(flatten)]
        client: cli::ClientFlags,
        #[command(subcommand)]
        command: cli::DeploymentCommand,
    },
    /// Manage groups of apps.
    Group {
        #[command(flatten)]
        client: cli::ClientFlags,
        #[command(subcommand)]
        command: cli::GroupCommand,
    },
    /// Manage pods: containers that run together on one agent.
    Pod {
        #[command(flatten)]
        client: cli::ClientFlags,
        #[command(subcommand)]
        command: cli::PodCommand,
    },
    /// The launch queue: waiting instances, their delays and why offers did not fit.
    Queue {
        #[command(flatten)]
        client: cli::ClientFlags,
        #[command(subcommand)]
        command: cli::QueueCommand,
    },
    /// Marathon's identity and configuration (`/v2/info`).
    Info {
        #[command(flatten)]
        client: cli::ClientFlags,
    },
    /// The leading scheduler; make it abdicate.
    Leader {
        #[command(flatten)]
        client: cli::ClientFlags,
        #[command(subcommand)]
        command: cli::LeaderCommand,
    },
    /// Follow Marathon's event stream, one line per event (`--json`: each event's JSON).
    Events {
        #[command(flatten)]
        client: cli::ClientFlags,
        /// Only events of this type (repeatable), e.g. status_update_event.
        #[arg(long = "event-type", alias = "event_type", value_name = "TYPE")]
        event_types: Vec<String>,
    },
    /// Print a shell completion script (e.g. `marathon completions bash > /etc/bash_completion.d/marathon`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
struct LocalFlags {
    /// Directory for all state (master, agent and scheduler work dirs live below it).
    #[arg(long = "work_dir", alias = "work-dir", default_value = "marathon-local")]
    work_dir: PathBuf,
    /// Address every component listens on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    #[arg(long)]
    hostname: Option<String>,
    /// Port of Marathon's REST API (and UI).
    #[arg(long = "http_port", alias = "http-port", default_value_t = 8080)]
    http_port: u16,
    #[arg(long = "master_port", alias = "master-port", default_value_t = 5050)]
    master_port: u16,
    #[arg(long = "agent_port", alias = "agent-port", default_value_t = 5051)]
    agent_port: u16,
    /// The agent's resources, in Mesos syntax (default: detected).
    #[arg(long)]
    resources: Option<String>,
    /// The agent's attributes, e.g. 'rack:a;zone:z1'.
    #[arg(long)]
    attributes: Option<String>,
    /// Root of the agents' cgroups in every hierarchy (separate roots keep several local
    /// clusters on one machine apart).
    #[arg(long = "cgroups_root", alias = "cgroups-root", default_value = "mesos")]
    cgroups_root: String,
    /// Number of real agents (ports from --agent_port up).
    #[arg(long, default_value_t = 1)]
    agents: usize,
    /// Additional hollow agents: they accept tasks and report them running without starting
    /// processes (for scale tests).
    #[arg(long = "hollow_agents", alias = "hollow-agents", default_value_t = 0)]
    hollow_agents: usize,
    /// How long the agents keep the sandbox of a task that ended (Mesos duration), at most:
    /// shortened as the disk fills up (see `marathon agent --help`).
    #[arg(long = "gc_delay", alias = "gc-delay", default_value = "1weeks", value_parser = agent::flags::parse_duration)]
    gc_delay: std::time::Duration,
    /// Free disk share the agents keep when they shorten `--gc_delay` (0.0 to 1.0).
    #[arg(long = "gc_disk_headroom", alias = "gc-disk-headroom", default_value_t = 0.1, value_parser = agent::flags::parse_headroom)]
    gc_disk_headroom: f64,
    /// How often the agents measure the disk usage of their work dirs.
    #[arg(long = "disk_watch_interval", alias = "disk-watch-interval", default_value = "1mins", value_parser = agent::flags::parse_duration)]
    disk_watch_interval: std::time::Duration,
    /// Resources of each hollow agent.
    #[arg(long = "hollow_agent_resources", default_value = "cpus:8;mem:32768;disk:65536;ports:[31000-32000]")]
    hollow_agent_resources: String,
    /// The master's `--agent_reregister_timeout`: after a restart, agents it admitted that are
    /// not back by then are marked unreachable.
    #[arg(long = "agent_reregister_timeout", alias = "agent-reregister-timeout", default_value = master::DEFAULT_AGENT_REREGISTER_TIMEOUT, value_parser = master::server::parse_duration)]
    agent_reregister_timeout: std::time::Duration,
    /// `user:password`: Marathon's API needs these HTTP basic credentials (see `marathon
    /// scheduler --help`).
    #[arg(long = "http_credentials", alias = "http-credentials", env = "MARATHON_HTTP_CREDENTIALS")]
    http_credentials: Option<String>,
    /// Marathon's principals and their rules (see `marathon scheduler --help`).
    #[arg(long = "acl_file", alias = "acl-file", env = "MARATHON_ACL_FILE")]
    acl_file: Option<PathBuf>,
    /// The realm of Marathon's basic authentication challenge.
    #[arg(long = "http_realm", alias = "http-realm", default_value = "Mesosphere", env = "MARATHON_HTTP_REALM")]
    http_realm: String,
    /// With `--mesos_authentication_secret_file`: the master authenticates frameworks and
    /// agents, and Marathon and the agents authenticate as this principal.
    #[arg(
        long = "mesos_authentication_principal",
        alias = "mesos-authentication-principal",
        env = "MARATHON_MESOS_AUTHENTICATION_PRINCIPAL",
        requires = "mesos_authentication_secret_file"
    )]
    mesos_authentication_principal: Option<String>,
    /// File holding the secret of `--mesos_authentication_principal`.
    #[arg(
        long = "mesos_authentication_secret_file",
        alias = "mesos-authentication-secret-file",
        env = "MARATHON_MESOS_AUTHENTICATION_SECRET_FILE",
        requires = "mesos_authentication_principal"
    )]
    mesos_authentication_secret_file: Option<PathBuf>,
    /// The real agents' `--containerizers` and Docker flags (see `marathon agent --help`).
    #[command(flatten)]
    containerizers: agent::containerizers::ContainerizerFlags,
    /// The real agents' `--isolation` and isolator flags (see `marathon agent --help`).
    #[command(flatten)]
    isolation: agent::isolation::IsolationFlags,
    /// The real agents' `--container_logger` and logrotate flags (see `marathon agent --help`).
    #[command(flatten)]
    logger: agent::isolation::logrotate::LoggerFlags,
    /// The real agents' `--default_role`.
    #[arg(long = "default_role", alias = "default-role", default_value = "*")]
    default_role: String,
    /// The real agents' `--executor_shutdown_grace_period`.
    #[arg(long = "executor_shutdown_grace_period", alias = "executor-shutdown-grace-period", default_value = "5secs", value_parser = agent::flags::parse_duration)]
    executor_shutdown_grace_period: std::time::Duration,
    /// The real agents' `--cgroups_hierarchy`.
    #[arg(long = "cgroups_hierarchy", alias = "cgroups-hierarchy", default_value = "/sys/fs/cgroup")]
    cgroups_hierarchy: PathBuf,
    /// The master's `--allocation_interval`.
    #[arg(long = "allocation_interval", alias = "allocation-interval", default_value = "1secs", value_parser = master::server::parse_duration)]
    allocation_interval: std::time::Duration,
    /// The master's `--offer_timeout` (default: never).
    #[arg(long = "offer_timeout", alias = "offer-timeout", value_parser = master::server::parse_duration)]
    offer_timeout: Option<std::time::Duration>,
    /// The master's `--agent_ping_timeout`.
    #[arg(long = "agent_ping_timeout", alias = "agent-ping-timeout", default_value = "500ms", value_parser = master::server::parse_duration)]
    agent_ping_timeout: std::time::Duration,
    /// The master's `--max_agent_ping_timeouts`.
    #[arg(long = "max_agent_ping_timeouts", alias = "max-agent-ping-timeouts", default_value_t = 4)]
    max_agent_ping_timeouts: u32,
    /// Upstream master and agent flags not implemented yet: accepted, warned about.
    #[command(flatten)]
    compat: httpd::compat::Compat<LocalCompat>,
}

/// `marathon local`'s unimplemented flags: the master's and the agents' together.
#[derive(Debug, Clone, Copy, Default)]
struct LocalCompat;

impl httpd::compat::Table for LocalCompat {
    const STYLE: httpd::compat::Style = httpd::compat::Style::Mesos;
    const ENV_PREFIX: Option<&'static str> = None;
    fn flags() -> Vec<httpd::compat::Unimplemented> {
        let mut flags = master::flags_compat::UNIMPLEMENTED.to_vec();
        for flag in agent::flags_compat::UNIMPLEMENTED {
            if !flags.iter().any(|f| f.name == flag.name) {
                flags.push(*flag);
            }
        }
        flags
    }
}

/// Parses the command line: master and agent flags also from `MESOS_<FLAG>`, the scheduler's
/// from `MARATHON_<FLAG>` (as upstream), and Mesos' `--no-<flag>` as `--<flag>=false`.
fn parse_cli() -> Cli {
    let cmd = Cli::command()
        .mut_subcommand("master", |c| httpd::compat::read_env(c, "MESOS_"))
        .mut_subcommand("agent", |c| httpd::compat::read_env(c, "MESOS_"))
        .mut_subcommand("scheduler", |c| httpd::compat::read_env(c, "MARATHON_"));
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mesos = args.get(1).and_then(|a| a.to_str()).filter(|s| matches!(*s, "master" | "agent" | "local"));
    if let Some(sub) = mesos.and_then(|name| cmd.find_subcommand(name)) {
        let rest = args.split_off(2);
        args.extend(httpd::compat::mesos_negations(sub, rest));
    }
    let matches = cmd.get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> anyhow::Result<()> {
    let cli = parse_cli();
    logging::init(match &cli.command {
        Command::Master { log, .. } | Command::Agent { log, .. } => log.log_format,
        Command::Scheduler { log, .. } | Command::Local { log, .. } => log.log_format,
        _ => logging::LogFormat::Text,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start tokio runtime")?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Master { flags, .. } => {
            let master = master::start(flags).await.context("start master")?;
            tracing::info!(addr = %master.local_addr(), "master running");
            agent::shutdown_signal().await;
            tracing::info!("shutting down");
            master.stop().await;
            Ok(())
        }
        Command::Agent { flags, .. } => {
            let agent = agent::start(flags).await.context("start agent")?;
            tracing::info!(addr = %agent.local_addr(), "agent running");
            agent.run_until(agent::shutdown_signal()).await.context("run agent")
        }
        Command::Scheduler { flags, .. } => {
            let mut scheduler = scheduler::start(flags).await.context("start scheduler")?;
            tracing::info!(addr = %scheduler.local_addr(), "Marathon running");
            tokio::select! {
                result = scheduler.wait() => result.context("scheduler failed"),
                () = agent::shutdown_signal() => {
                    tracing::info!("shutting down");
                    scheduler.shutdown();
                    Ok(())
                }
            }
        }
        Command::Local { flags, .. } => run_local(flags).await,
        Command::App { client, command } => cli::finish(cli::app(&client, command).await),
        Command::Task { client, command } => cli::finish(cli::task(&client, command).await),
        Command::Deployment { client, command } => cli::finish(cli::deployment(&client, command).await),
        Command::Group { client, command } => cli::finish(cli::group(&client, command).await),
        Command::Pod { client, command } => cli::finish(cli::pod(&client, command).await),
        Command::Queue { client, command } => cli::finish(cli::queue(&client, command).await),
        Command::Info { client } => cli::finish(cli::info(&client).await),
        Command::Leader { client, command } => cli::finish(cli::leader(&client, command).await),
        Command::Events { client, event_types } => cli::finish(cli::events(&client, &event_types).await),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "marathon",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

async fn run_local(flags: LocalFlags) -> anyhow::Result<()> {
    flags.compat.warn_ignored();
    let credential = local_credential(&flags)?;
    let master_flags = master::MasterFlags {
        authenticate_frameworks: credential.is_some(),
        authenticate_agents: credential.is_some(),
        credentials: credential.clone(),
        port: flags.master_port,
        ip: flags.ip,
        hostname: flags.hostname.clone(),
        agent_reregister_timeout: flags.agent_reregister_timeout,
        registry: Some(master::RegistryKind::WorkDir),
        allocation_interval: flags.allocation_interval,
        offer_timeout: flags.offer_timeout,
        agent_ping_timeout: flags.agent_ping_timeout,
        max_agent_ping_timeouts: flags.max_agent_ping_timeouts,
        ..master::MasterFlags::new(flags.work_dir.join("master"))
    };
    let master = master::start(master_flags).await.context("start master")?;
    let mut agents = Vec::new();
    for i in 0..flags.agents {
        let mut agent_flags =
            agent::AgentFlags::new(master.local_addr().to_string(), flags.work_dir.join(format!("agent{i}")));
        agent_flags.port = flags.agent_port.checked_add(u16::try_from(i)?).context("agent port out of range")?;
        agent_flags.ip = flags.ip;
        agent_flags.hostname = flags.hostname.clone();
        agent_flags.resources = flags.resources.clone();
        agent_flags.attributes = flags.attributes.clone();
        agent_flags.cgroups_root = flags.cgroups_root.clone();
        agent_flags.cgroups_hierarchy = flags.cgroups_hierarchy.clone();
        agent_flags.default_role = flags.default_role.clone();
        agent_flags.executor_shutdown_grace_period = flags.executor_shutdown_grace_period;
        agent_flags.gc_delay = flags.gc_delay;
        agent_flags.gc_disk_headroom = flags.gc_disk_headroom;
        agent_flags.disk_watch_interval = flags.disk_watch_interval;
        agent_flags.containerizers = flags.containerizers.clone();
        agent_flags.credential = credential.clone();
        agent_flags.isolation = flags.isolation.clone();
        agent_flags.logger = flags.logger.clone();
        agents.push(agent::start(agent_flags).await.context("start agent")?);
    }
    for i in 0..flags.hollow_agents {
        let mut agent_flags =
            agent::AgentFlags::new(master.local_addr().to_string(), flags.work_dir.join(format!("hollow{i}")));
        agent_flags.port = 0;
        agent_flags.ip = flags.ip;
        agent_flags.hostname = Some(format!("hollow-{i}"));
        agent_flags.resources = Some(flags.hollow_agent_resources.clone());
        agent_flags.hollow = true;
        agent_flags.credential = credential.clone();
        agents.push(agent::start(agent_flags).await.context("start hollow agent")?);
    }
    let mut scheduler_flags =
        scheduler::SchedulerFlags::new(master.local_addr().to_string(), flags.work_dir.join("marathon"));
    scheduler_flags.http_port = flags.http_port;
    scheduler_flags.http_address = flags.ip;
    scheduler_flags.hostname = flags.hostname.clone();
    scheduler_flags.http_credentials = flags.http_credentials.clone();
    scheduler_flags.http_realm = flags.http_realm.clone();
    scheduler_flags.acl_file = flags.acl_file.clone();
    scheduler_flags.mesos_authentication_principal = flags.mesos_authentication_principal.clone();
    scheduler_flags.mesos_authentication_secret_file = flags.mesos_authentication_secret_file.clone();
    let mut scheduler = scheduler::start(scheduler_flags).await.context("start scheduler")?;
    tracing::info!(master = %master.local_addr(), agents = agents.len(), "local cluster running");
    eprintln!(
        "marathon local: Marathon API and UI on http://{}\n  master on http://{} (Mesos scheduler API: /api/v1/scheduler)\n  {} agent(s) on {}",
        scheduler.local_addr(),
        master.local_addr(),
        agents.len(),
        agents.iter().map(|a| a.local_addr().to_string()).collect::<Vec<_>>().join(", ")
    );
    let result = tokio::select! {
        result = scheduler.wait() => result.context("scheduler failed"),
        () = agent::shutdown_signal() => Ok(()),
    };
    tracing::info!("shutting down");
    scheduler.shutdown();
    for agent in agents {
        agent.shutdown().await.context("stop agent")?;
    }
    master.shutdown();
    result
}

/// With `--mesos_authentication_principal` and `--mesos_authentication_secret_file`: the
/// credentials file of the master and the credential of the agents (one file, only the owner
/// may read it, in the work dir), holding that principal and secret.
fn local_credential(flags: &LocalFlags) -> anyhow::Result<Option<PathBuf>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (Some(principal), Some(secret_file)) =
        (&flags.mesos_authentication_principal, &flags.mesos_authentication_secret_file)
    else {
        return Ok(None);
    };
    let secret = std::fs::read_to_string(secret_file)
        .with_context(|| format!("--mesos_authentication_secret_file {}", secret_file.display()))?;
    let secret = secret.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s)).unwrap_or(&secret);
    std::fs::create_dir_all(&flags.work_dir).context("create --work_dir")?;
    let path = flags.work_dir.join("credential.json");
    let _ = std::fs::remove_file(&path);
    let credential = mesos_api::credentials::Credential { principal: principal.clone(), secret: secret.to_string() };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(&serde_json::to_vec(&credential)?).with_context(|| format!("write {}", path.display()))?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// No two flags of a command share a name (the compatibility tables included).
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
