//! Command-line flags of the agent, with Mesos' names, and the small text formats they use
//! (durations such as `5secs`, attributes such as `rack:a;zone:z1`).

use mesos_api::messages::{Attribute, Range, Ranges, Scalar, Text, ValueType};
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `marathon agent` (Mesos agent flag names; kebab-case aliases are accepted too).
#[derive(Debug, Clone, clap::Args)]
pub struct AgentFlags {
    /// The master to register with: `host:port` (an `http://` prefix is tolerated), or
    /// `zk://host1:port1,host2:port2/path` (or `file:///path` of a file holding one) to follow
    /// the leading master of the masters contending there.
    #[arg(long = "master")]
    pub master: String,

    /// ZooKeeper session timeout of the master detector (with `--master zk://...`).
    #[arg(long = "zk_session_timeout", alias = "zk-session-timeout", default_value = "10secs", value_parser = parse_duration)]
    pub zk_session_timeout: Duration,

    /// Port of the agent's HTTP server (0 picks a free one).
    #[arg(long = "port", default_value_t = 5051)]
    pub port: u16,

    /// Directory for sandboxes and checkpointed state.
    #[arg(long = "work_dir", alias = "work-dir")]
    pub work_dir: PathBuf,

    /// Total resources, e.g. `cpus:4;mem:4096;ports:[31000-32000]` (or a JSON array of
    /// Resource, or `file:///path` holding either). Kinds left out are detected.
    #[arg(long = "resources")]
    pub resources: Option<String>,

    /// Attributes, e.g. `rack:a;zone:z1;level:[1-3];weight:2`.
    #[arg(long = "attributes")]
    pub attributes: Option<String>,

    /// Hostname advertised to the master (default: this machine's hostname).
    #[arg(long = "hostname")]
    pub hostname: Option<String>,

    /// Address to listen on and advertise.
    #[arg(long = "ip", default_value = "127.0.0.1")]
    pub ip: std::net::IpAddr,

    /// Mount point of the cgroups v1 hierarchies.
    #[arg(long = "cgroups_hierarchy", alias = "cgroups-hierarchy", default_value = "/sys/fs/cgroup")]
    pub cgroups_hierarchy: PathBuf,

    /// Name of the cgroup (under each subsystem) holding the containers' cgroups.
    #[arg(long = "cgroups_root", alias = "cgroups-root", default_value = "mesos")]
    pub cgroups_root: String,

    /// Default grace period for shutting executors down (Mesos duration).
    #[arg(long = "executor_shutdown_grace_period", alias = "executor-shutdown-grace-period", default_value = "5secs", value_parser = parse_duration)]
    pub executor_shutdown_grace_period: Duration,

    /// First registration retry backoff; doubles up to 5 s, with jitter.
    #[arg(long = "registration_backoff_factor", alias = "registration-backoff-factor", default_value = "100ms", value_parser = parse_duration)]
    pub registration_backoff_factor: Duration,

    /// First retry of an unacknowledged status update; doubles up to 10 minutes.
    #[arg(long = "status_update_retry_interval", alias = "status-update-retry-interval", default_value = "10secs", value_parser = parse_duration)]
    pub status_update_retry_interval: Duration,

    /// Role of the detected resources and of `--resources` entries without a role.
    #[arg(long = "default_role", alias = "default-role", default_value = "*")]
    pub default_role: String,

    /// How long the sandbox of a task that ended (and whose last update was acknowledged) is
    /// kept before it is removed; shortened when the disk fills up (see `--gc_disk_headroom`).
    #[arg(long = "gc_delay", alias = "gc-delay", default_value = "1weeks", value_parser = parse_duration)]
    pub gc_delay: Duration,

    /// Free disk share kept: sandboxes are kept at most
    /// `gc_delay * max(0, 1 - gc_disk_headroom - disk usage)`, the usage of the work dir's file
    /// system measured every `--disk_watch_interval`. Between 0.0 and 1.0.
    #[arg(long = "gc_disk_headroom", alias = "gc-disk-headroom", default_value_t = 0.1, value_parser = parse_headroom)]
    pub gc_disk_headroom: f64,

    /// How often the disk usage of the work dir is measured.
    #[arg(long = "disk_watch_interval", alias = "disk-watch-interval", default_value = "1mins", value_parser = parse_duration)]
    pub disk_watch_interval: Duration,

    /// Simulate tasks instead of running them: accept each task and report it running without
    /// starting a process, writing a file or checkpointing (for scale tests: one machine can
    /// play hundreds of agents); health checks, having nothing to probe, pass at once. Never the
    /// default.
    #[arg(long)]
    pub hollow: bool,

    /// The agent's credential for a master with `--authenticate_agents`: JSON `{"principal":
    /// "p", "secret": "s"}` (or `{"credentials": [...]}` with one entry), or `principal secret`.
    #[arg(long = "credential", env = "MESOS_CREDENTIAL")]
    pub credential: Option<PathBuf>,

    /// `/state`, `/flags`, `/metrics/snapshot` and `/files/*` need HTTP basic credentials of
    /// `--http_credentials` (`/health` and `/version` stay open).
    #[arg(long = "authenticate_http_readonly", env = "MESOS_AUTHENTICATE_HTTP_READONLY", num_args = 0..=1, default_missing_value = "true", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub authenticate_http_readonly: bool,

    /// The credentials the agent's HTTP endpoints accept (the master's `--credentials` format).
    #[arg(long = "http_credentials", env = "MESOS_HTTP_CREDENTIALS")]
    pub http_credentials: Option<PathBuf>,

    /// `--containerizers` and the Docker containerizer's flags.
    #[command(flatten)]
    pub containerizers: crate::containerizers::ContainerizerFlags,

    /// Connection limits of the agent's HTTP server.
    #[command(flatten)]
    pub http: httpd::HttpLimitFlags,

    /// `--isolation` and the isolators' flags.
    #[command(flatten)]
    pub isolation: crate::isolation::IsolationFlags,

    /// `--container_logger` and the logrotate logger's flags.
    #[command(flatten)]
    pub logger: crate::isolation::logrotate::LoggerFlags,

    /// Upstream's flags not implemented yet (`crate::flags_compat`): accepted, warned about.
    #[command(flatten)]
    pub compat: httpd::compat::Compat<crate::flags_compat::AgentCompat>,
}

impl AgentFlags {
    /// Flags with defaults, for embedding (`marathon local`) and tests.
    pub fn new(master: impl Into<String>, work_dir: impl Into<PathBuf>) -> Self {
        Self {
            master: master.into(),
            zk_session_timeout: Duration::from_secs(10),
            port: 5051,
            work_dir: work_dir.into(),
            resources: None,
            attributes: None,
            hostname: None,
            ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            cgroups_hierarchy: PathBuf::from("/sys/fs/cgroup"),
            cgroups_root: "mesos".to_string(),
            executor_shutdown_grace_period: Duration::from_secs(5),
            registration_backoff_factor: Duration::from_millis(100),
            status_update_retry_interval: Duration::from_secs(10),
            default_role: "*".to_string(),
            gc_delay: Duration::from_secs(7 * 86400),
            gc_disk_headroom: 0.1,
            disk_watch_interval: Duration::from_secs(60),
            hollow: false,
            credential: None,
            authenticate_http_readonly: false,
            http_credentials: None,
            containerizers: Default::default(),
            http: Default::default(),
            isolation: Default::default(),
            logger: Default::default(),
            compat: Default::default(),
        }
    }

    /// Whether the isolation flag asks for cgroups (any `cgroups/...` isolator).
    pub fn wants_cgroups(&self) -> bool {
        !self.hollow && self.isolation.isolation.cgroups()
    }

    /// The flags as `/state` and `/flags` show them (`name -> text`).
    pub fn to_map(&self) -> Vec<(&'static str, String)> {
        vec![
            ("master", redact_master(&self.master)),
            ("zk_session_timeout", format_duration(self.zk_session_timeout)),
            ("port", self.port.to_string()),
            ("work_dir", self.work_dir.display().to_string()),
            ("resources", self.resources.clone().unwrap_or_default()),
            ("attributes", self.attributes.clone().unwrap_or_default()),
            ("hostname", self.hostname.clone().unwrap_or_default()),
            ("ip", self.ip.to_string()),
            ("cgroups_hierarchy", self.cgroups_hierarchy.display().to_string()),
            ("cgroups_root", self.cgroups_root.clone()),
            ("executor_shutdown_grace_period", format_duration(self.executor_shutdown_grace_period)),
            ("registration_backoff_factor", format_duration(self.registration_backoff_factor)),
            ("status_update_retry_interval", format_duration(self.status_update_retry_interval)),
            ("default_role", self.default_role.clone()),
            ("gc_delay", format_duration(self.gc_delay)),
            ("gc_disk_headroom", self.gc_disk_headroom.to_string()),
            ("disk_watch_interval", format_duration(self.disk_watch_interval)),
            ("credential", self.credential.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
            ("authenticate_http_readonly", self.authenticate_http_readonly.to_string()),
            ("http_credentials", self.http_credentials.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
        ]
        .into_iter()
        .chain(self.containerizers.to_map())
        .chain(self.isolation.to_map())
        .chain(self.logger.to_map())
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("invalid duration '{0}': expected a number followed by ns, us, ms, secs, mins, hrs, days or weeks")]
    Duration(String),
    #[error("invalid attributes '{text}': {why}")]
    Attributes { text: String, why: String },
    #[error("invalid resources '{text}': {why}")]
    Resources { text: String, why: String },
    #[error("invalid --master '{0}': expected host:port or zk://host1:port1,host2:port2/path")]
    Master(String),
    #[error("invalid --master: {0}")]
    MasterZk(String),
    #[error("invalid --gc_disk_headroom '{0}': expected a number between 0.0 and 1.0")]
    Headroom(String),
    #[error("invalid --containerizers '{0}': expected 'mesos', 'docker' or both, comma-separated")]
    Containerizer(String),
    #[error("--credential {path}: {why}")]
    Credential { path: String, why: String },
    #[error("unknown isolator '{name}' in --isolation (known: {known})")]
    Isolation { name: String, known: String },
    #[error("invalid boolean '{0}': expected true or false")]
    Bool(String),
    #[error("container logger: {0}")]
    Logger(String),
}

/// Reads `--credential`.
pub fn read_credential(path: &std::path::Path) -> Result<mesos_api::credentials::Credential, FlagError> {
    let error = |why: String| FlagError::Credential { path: path.display().to_string(), why };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    mesos_api::credentials::parse_credential(&text).map_err(|e| error(e.to_string()))
}

/// Parses a Mesos duration (`5secs`, `250ms`, a plain number of seconds) for clap.
pub fn parse_duration(text: &str) -> Result<Duration, FlagError> {
    mesos_api::duration::parse(text).map_err(|_| FlagError::Duration(text.to_string()))
}

/// Parses `--gc_disk_headroom` (a share between 0.0 and 1.0) for clap.
pub fn parse_headroom(text: &str) -> Result<f64, FlagError> {
    match text.trim().parse::<f64>() {
        Ok(h) if (0.0..=1.0).contains(&h) => Ok(h),
        _ => Err(FlagError::Headroom(text.to_string())),
    }
}

/// Formats a duration the way Mesos shows flags (`5secs`).
pub fn format_duration(d: Duration) -> String {
    mesos_api::duration::format(d)
}

/// Parses `--attributes`: pairs split on `;` or newlines, name and value on the first `:`,
/// spaces removed. `[a-b,...]` is RANGES, a non-negative number SCALAR, anything else TEXT;
/// sets (`{...}`) are refused as Mesos does.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, FlagError> {
    let err = |why: &str| FlagError::Attributes { text: text.to_string(), why: why.to_string() };
    let mut out = Vec::new();
    for part in text.split([';', '\n']) {
        let part: String = part.chars().filter(|c| !c.is_whitespace()).collect();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once(':').ok_or_else(|| err(&format!("'{part}' has no ':'")))?;
        if name.is_empty() {
            return Err(err("empty attribute name"));
        }
        let mut attr = Attribute {
            name: name.to_string(),
            kind: ValueType::Text,
            scalar: None,
            ranges: None,
            set: None,
            text: None,
        };
        if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let mut range = Vec::new();
            for r in inner.split(',').filter(|r| !r.is_empty()) {
                let (b, e) = r.split_once('-').unwrap_or((r, r));
                let b: u64 = b.parse().map_err(|_| err(&format!("bad range '{r}'")))?;
                let e: u64 = e.parse().map_err(|_| err(&format!("bad range '{r}'")))?;
                if b > e {
                    return Err(err(&format!("range '{r}' begins after it ends")));
                }
                range.push(Range { begin: b, end: e });
            }
            attr.kind = ValueType::Ranges;
            attr.ranges = Some(Ranges { range });
        } else if value.starts_with('{') {
            return Err(err("SET values are not supported for attributes"));
        } else if let Some(v) = value.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0) {
            attr.kind = ValueType::Scalar;
            attr.scalar = Some(Scalar { value: v });
        } else {
            attr.text = Some(Text { value: value.to_string() });
        }
        out.push(attr);
    }
    Ok(out)
}

/// Where the master is, from `--master`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterLocation {
    /// `host:port` of the master.
    Address(String),
    /// The masters contending in ZooKeeper; the agent follows the leading one.
    ZooKeeper(coordination::ZkUrl),
}

/// `--master` as `/flags` shows it: ZooKeeper credentials redacted.
fn redact_master(text: &str) -> String {
    match coordination::ZkUrl::parse(text.trim()) {
        Ok(url) => url.to_string(),
        Err(_) => text.to_string(),
    }
}

/// The master from `--master`: `host:port` (an `http://` prefix and a trailing `/` are
/// tolerated), `zk://...`, or `file:///path` of a file holding a `zk://` URL.
pub fn parse_master(text: &str) -> Result<MasterLocation, FlagError> {
    let t = text.trim();
    if t.starts_with("zk://") || t.starts_with("file://") {
        return coordination::ZkUrl::from_flag(t)
            .map(MasterLocation::ZooKeeper)
            .map_err(|e| FlagError::MasterZk(e.to_string()));
    }
    let t = t.strip_prefix("http://").or_else(|| t.strip_prefix("https://")).unwrap_or(t);
    let t = t.trim_end_matches('/');
    match t.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(MasterLocation::Address(t.to_string()))
        }
        _ => Err(FlagError::Master(text.to_string())),
    }
}

/// The flat `{"name": value}` form of attributes used by `/state`.
pub fn attributes_flat_json(attrs: &[Attribute]) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for a in attrs {
        let v = match a.kind {
            ValueType::Scalar => serde_json::json!(a.scalar.map(|s| s.value).unwrap_or(0.0)),
            ValueType::Ranges => {
                let r: Vec<(u64, u64)> =
                    a.ranges.iter().flat_map(|r| r.range.iter()).map(|r| (r.begin, r.end)).collect();
                serde_json::json!(mesos_api::resources::format_ranges(&r))
            }
            ValueType::Set => {
                let items: Vec<&str> = a.set.iter().flat_map(|s| s.item.iter()).map(String::as_str).collect();
                serde_json::json!(format!("{{{}}}", items.join(",")))
            }
            ValueType::Text => serde_json::json!(a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default()),
        };
        out.insert(a.name.clone(), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        agent: AgentFlags,
    }

    #[test]
    fn durations_use_mesos_syntax() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(matches!(parse_duration("5 parsecs"), Err(FlagError::Duration(_))));
        assert_eq!(format_duration(Duration::from_secs(5)), "5secs");
    }

    #[test]
    fn attributes_are_classified() {
        let a = parse_attributes("rack:a; zone : z1;level:[1-3,5-5];weight:2.5;neg:-1").expect("parse");
        assert_eq!(a.len(), 5);
        assert_eq!(a[0].kind, ValueType::Text);
        assert_eq!(a[0].text.as_ref().map(|t| t.value.as_str()), Some("a"));
        assert_eq!(a[1].name, "zone");
        assert_eq!(a[2].kind, ValueType::Ranges);
        assert_eq!(a[2].ranges.as_ref().map(|r| r.range.len()), Some(2));
        assert_eq!(a[3].kind, ValueType::Scalar);
        assert_eq!(a[4].kind, ValueType::Text);
        assert!(parse_attributes("s:{a,b}").is_err());
        assert!(parse_attributes("novalue").is_err());
        assert!(parse_attributes("r:[3-1]").is_err());
        assert_eq!(parse_attributes("").expect("empty"), vec![]);
        let flat = attributes_flat_json(&a);
        assert_eq!(flat["level"], "[1-3, 5-5]");
        assert_eq!(flat["weight"], 2.5);
        assert_eq!(flat["rack"], "a");
    }

    #[test]
    fn master_addresses() {
        let address = |a: &str| Ok(MasterLocation::Address(a.to_string()));
        assert_eq!(parse_master("127.0.0.1:5050"), address("127.0.0.1:5050"));
        assert_eq!(parse_master("http://m:5050/"), address("m:5050"));
        assert!(parse_master("m").is_err());
        let Ok(MasterLocation::ZooKeeper(url)) = parse_master("zk://u:p@a:2181,b/mesos") else {
            panic!("a zk:// master")
        };
        assert_eq!((url.hosts.len(), url.path.as_str()), (2, "/mesos"));
        assert_eq!(redact_master("zk://u:p@a:2181/mesos"), url.to_string().replace(",b:2181", ""));
        assert!(!redact_master("zk://u:secret@a:2181/mesos").contains("secret"));
        assert!(matches!(parse_master("zk://a:2181"), Err(FlagError::MasterZk(_))), "a path is required");
    }

    #[test]
    fn clap_accepts_mesos_names_and_defaults() {
        let cli = Cli::try_parse_from([
            "x",
            "--master",
            "127.0.0.1:5050",
            "--work_dir",
            "/tmp/w",
            "--executor_shutdown_grace_period",
            "3secs",
            "--cgroups-root",
            "r",
        ])
        .expect("parse");
        assert_eq!(cli.agent.port, 5051);
        assert_eq!(cli.agent.executor_shutdown_grace_period, Duration::from_secs(3));
        assert_eq!(cli.agent.status_update_retry_interval, Duration::from_secs(10));
        assert_eq!(cli.agent.registration_backoff_factor, Duration::from_millis(100));
        assert_eq!(cli.agent.cgroups_root, "r");
        assert_eq!(cli.agent.gc_delay, Duration::from_secs(7 * 86400));
        assert_eq!(cli.agent.gc_disk_headroom, 0.1);
        assert_eq!(cli.agent.disk_watch_interval, Duration::from_secs(60));
        assert!(cli.agent.wants_cgroups());
        assert!(Cli::try_parse_from(["x", "--work_dir", "/tmp/w"]).is_err());
        let posix = Cli::try_parse_from([
            "x",
            "--master=m:1",
            "--work_dir=/w",
            "--isolation=posix/cpu,posix/mem",
            "--status_update_retry_interval=500ms",
            "--gc_delay=2days",
            "--gc_disk_headroom=0.25",
            "--disk_watch_interval=10secs",
        ])
        .expect("parse");
        assert_eq!(posix.agent.gc_delay, Duration::from_secs(2 * 86400));
        assert_eq!(posix.agent.gc_disk_headroom, 0.25);
        assert_eq!(posix.agent.disk_watch_interval, Duration::from_secs(10));
        for bad in ["1.5", "-0.1", "x"] {
            assert!(Cli::try_parse_from(["x", "--master=m:1", "--work_dir=/w", "--gc_disk_headroom", bad]).is_err());
        }
        assert!(!posix.agent.wants_cgroups());
        assert_eq!(posix.agent.status_update_retry_interval, Duration::from_millis(500));
    }
}
