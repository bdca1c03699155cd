//! `marathon scheduler` flags (Marathon's names, with `-` aliases).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerFlags {
    /// The Mesos master, `host:port` (an `http://` prefix is accepted).
    #[arg(long, env = "MARATHON_MASTER")]
    pub master: String,
    /// Port of the REST API and UI.
    #[arg(long = "http_port", alias = "http-port", default_value_t = 8080, env = "MARATHON_HTTP_PORT")]
    pub http_port: u16,
    /// Address the REST API listens on.
    #[arg(long = "http_address", alias = "http-address", default_value = "0.0.0.0", env = "MARATHON_HTTP_ADDRESS")]
    pub http_address: IpAddr,
    /// Directory of the embedded store (`marathon-state.redb`).
    #[arg(long = "work_dir", alias = "work-dir", default_value = "marathon-scheduler", env = "MARATHON_WORK_DIR")]
    pub work_dir: PathBuf,
    /// The host name advertised to Mesos and in `X-Marathon-Leader` (default: this machine's).
    #[arg(long, env = "MARATHON_HOSTNAME")]
    pub hostname: Option<String>,
    #[arg(
        long = "framework_name",
        alias = "framework-name",
        default_value = "marathon",
        env = "MARATHON_FRAMEWORK_NAME"
    )]
    pub framework_name: String,
    /// The Mesos role of apps without one.
    #[arg(long = "mesos_role", alias = "mesos-role", default_value = "*", env = "MARATHON_MESOS_ROLE")]
    pub mesos_role: String,
    /// The user tasks run as when an app has none (empty: the agent's user).
    #[arg(long = "mesos_user", alias = "mesos-user", default_value = "root", env = "MARATHON_MESOS_USER")]
    pub mesos_user: String,
    /// Milliseconds between reconciliations with the master (Marathon's unit).
    #[arg(
        long = "reconciliation_interval",
        alias = "reconciliation-interval",
        default_value_t = 600_000,
        env = "MARATHON_RECONCILIATION_INTERVAL"
    )]
    pub reconciliation_interval_ms: u64,
    /// How long the master keeps the framework's tasks while Marathon is away (seconds).
    #[arg(
        long = "failover_timeout",
        alias = "failover-timeout",
        default_value_t = 604_800,
        env = "MARATHON_FAILOVER_TIMEOUT"
    )]
    pub failover_timeout_secs: u64,
    /// Instances launched per offer at most.
    #[arg(
        long = "max_instances_per_offer",
        alias = "max-instances-per-offer",
        alias = "max_tasks_per_offer",
        default_value_t = 100,
        env = "MARATHON_MAX_INSTANCES_PER_OFFER"
    )]
    pub max_instances_per_offer: usize,
    /// Milliseconds an offer that is not needed is refused for.
    #[arg(
        long = "decline_offer_duration",
        alias = "decline-offer-duration",
        default_value_t = 120_000,
        env = "MARATHON_DECLINE_OFFER_DURATION"
    )]
    pub decline_offer_duration_ms: u64,
    /// Milliseconds between two revives at least.
    #[arg(
        long = "min_revive_offers_interval",
        alias = "min-revive-offers-interval",
        default_value_t = 5_000,
        env = "MARATHON_MIN_REVIVE_OFFERS_INTERVAL"
    )]
    pub min_revive_offers_interval_ms: u64,
    /// Milliseconds a launched task may stay without a status before it is killed.
    #[arg(
        long = "task_launch_confirm_timeout",
        alias = "task-launch-confirm-timeout",
        default_value_t = 300_000,
        env = "MARATHON_TASK_LAUNCH_CONFIRM_TIMEOUT"
    )]
    pub task_launch_confirm_timeout_ms: u64,
    /// Milliseconds a launched task may take to reach TASK_RUNNING before it is killed.
    #[arg(
        long = "task_launch_timeout",
        alias = "task-launch-timeout",
        default_value_t = 300_000,
        env = "MARATHON_TASK_LAUNCH_TIMEOUT"
    )]
    pub task_launch_timeout_ms: u64,
    /// Lowest service port.
    #[arg(
        long = "local_port_min",
        alias = "local-port-min",
        default_value_t = 10_000,
        env = "MARATHON_LOCAL_PORT_MIN"
    )]
    pub local_port_min: u16,
    /// Highest service port.
    #[arg(
        long = "local_port_max",
        alias = "local-port-max",
        default_value_t = 20_000,
        env = "MARATHON_LOCAL_PORT_MAX"
    )]
    pub local_port_max: u16,
    /// Deployments that may run at once; more are refused with 403.
    #[arg(
        long = "max_running_deployments",
        alias = "max-running-deployments",
        default_value_t = 100,
        env = "MARATHON_MAX_RUNNING_DEPLOYMENTS"
    )]
    pub max_running_deployments: usize,
    /// Prefix of the `PORT*` and `HOST` variables in tasks.
    #[arg(long = "env_vars_prefix", alias = "env-vars-prefix", env = "MARATHON_ENV_VARS_PREFIX")]
    pub env_vars_prefix: Option<String>,
    /// `http_callback` turns on HTTP callback subscribers (`/v2/eventSubscriptions`): every event
    /// is POSTed as JSON to every registered callback URL.
    #[arg(long = "event_subscriber", alias = "event-subscriber", value_enum, env = "MARATHON_EVENT_SUBSCRIBER")]
    pub event_subscriber: Option<EventSubscriber>,
    /// Callback URLs registered at start (comma separated), with `--event_subscriber
    /// http_callback`. Subscriptions are kept in memory only: after a restart, only these remain.
    #[arg(long = "http_endpoints", alias = "http-endpoints", value_delimiter = ',', env = "MARATHON_HTTP_ENDPOINTS")]
    pub http_endpoints: Vec<String>,
    /// Seconds a callback POST may take before it counts as failed.
    #[arg(
        long = "http_event_request_timeout",
        alias = "http-event-request-timeout",
        default_value_t = 10,
        env = "MARATHON_HTTP_EVENT_REQUEST_TIMEOUT"
    )]
    pub http_event_request_timeout_secs: u64,
    /// ZooKeeper for state and leader election, `zk://[user:pass@]host1:2181,host2:2181/marathon`.
    /// Without it the state is in the embedded store in `--work_dir` and this scheduler leads
    /// alone.
    #[arg(long, env = "MARATHON_ZK")]
    pub zk: Option<String>,
    /// With `--zk`: keep the state in ZooKeeper but run no election (one scheduler only).
    /// (`MARATHON_DISABLE_HA=`, empty, as upstream.)
    #[arg(long = "disable_ha", alias = "disable-ha", env = "MARATHON_DISABLE_HA", overrides_with = "ha", num_args = 0, default_missing_value = "", default_value = "false", value_parser = httpd::compat::parse_toggle)]
    pub disable_ha: bool,
    /// Upstream's default: contend for leadership with `--zk` (the last of `--ha` and
    /// `--disable_ha` counts).
    #[arg(long = "ha", env = "MARATHON_HA", overrides_with = "disable_ha", num_args = 0, default_missing_value = "", default_value = "false", value_parser = httpd::compat::parse_toggle)]
    pub ha: bool,
    /// ZooKeeper session timeout in milliseconds: how soon a leader that lost ZooKeeper is
    /// replaced.
    #[arg(
        long = "zk_session_timeout",
        alias = "zk-session-timeout",
        default_value_t = 10_000,
        env = "MARATHON_ZK_SESSION_TIMEOUT"
    )]
    pub zk_session_timeout_ms: u64,
    /// Milliseconds one ZooKeeper operation may take.
    #[arg(long = "zk_timeout", alias = "zk-timeout", default_value_t = 10_000, env = "MARATHON_ZK_TIMEOUT")]
    pub zk_timeout_ms: u64,
    /// `user:password`: every request but `GET /ping` needs these HTTP basic credentials
    /// (401 otherwise). Without it, anyone who reaches the port may use the API.
    #[arg(long = "http_credentials", alias = "http-credentials", env = "MARATHON_HTTP_CREDENTIALS")]
    pub http_credentials: Option<String>,
    /// Principals (with passwords or bearer tokens) and their rules by group path (read, write,
    /// admin): every request but `GET /ping` must authenticate as one of them and may only do
    /// what its rules allow (see README, "Authentication").
    #[arg(long = "acl_file", alias = "acl-file", env = "MARATHON_ACL_FILE")]
    pub acl_file: Option<PathBuf>,
    /// The realm of the basic authentication challenge (`WWW-Authenticate`).
    #[arg(long = "http_realm", alias = "http-realm", default_value = "Mesosphere", env = "MARATHON_HTTP_REALM")]
    pub http_realm: String,
    /// The principal Marathon registers with (`FrameworkInfo.principal`) and, with a secret,
    /// authenticates as to a master with `--authenticate_frameworks`.
    #[arg(
        long = "mesos_authentication_principal",
        alias = "mesos-authentication-principal",
        env = "MARATHON_MESOS_AUTHENTICATION_PRINCIPAL"
    )]
    pub mesos_authentication_principal: Option<String>,
    /// File holding the secret of `--mesos_authentication_principal` (a trailing newline is
    /// not part of it).
    #[arg(
        long = "mesos_authentication_secret_file",
        alias = "mesos-authentication-secret-file",
        env = "MARATHON_MESOS_AUTHENTICATION_SECRET_FILE"
    )]
    pub mesos_authentication_secret_file: Option<PathBuf>,
    /// Upstream's switch for framework authentication: requires the principal and the secret
    /// file (which alone already turn it on).
    #[arg(long = "mesos_authentication", alias = "mesos-authentication", env = "MARATHON_MESOS_AUTHENTICATION", overrides_with = "disable_mesos_authentication", num_args = 0, default_missing_value = "", default_value = "false", value_parser = httpd::compat::parse_toggle)]
    pub mesos_authentication: bool,
    /// Upstream's default: no `--mesos_authentication` switch (the principal and secret file
    /// alone still turn authentication on; the last of the two switches counts).
    #[arg(long = "disable_mesos_authentication", env = "MARATHON_DISABLE_MESOS_AUTHENTICATION", overrides_with = "mesos_authentication", num_args = 0, default_missing_value = "", default_value = "false", value_parser = httpd::compat::parse_toggle)]
    pub disable_mesos_authentication: bool,
    /// Versions kept per app and group.
    #[arg(long = "zk_max_versions", alias = "zk-max-versions", default_value_t = 50, env = "MARATHON_ZK_MAX_VERSIONS")]
    pub zk_max_versions: usize,
    /// HTTPS, `--disable_http`, `--http_max_concurrent_requests` and connection limits.
    #[command(flatten)]
    pub listen: crate::listen::ListenFlags,
    /// Upstream's flags not implemented yet (`crate::flags_compat`): accepted, warned about.
    #[command(flatten)]
    pub compat: httpd::compat::Compat<crate::flags_compat::MarathonCompat>,
}

/// The event subscribers `--event_subscriber` can turn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EventSubscriber {
    /// POST every event to the callback URLs of `/v2/eventSubscriptions`.
    #[value(name = "http_callback")]
    HttpCallback,
}

impl SchedulerFlags {
    /// Defaults for a scheduler of `master` keeping its state in `work_dir`.
    pub fn new(master: impl Into<String>, work_dir: impl Into<PathBuf>) -> Self {
        Self {
            master: master.into(),
            http_port: 8080,
            http_address: IpAddr::from([0, 0, 0, 0]),
            work_dir: work_dir.into(),
            hostname: None,
            framework_name: "marathon".into(),
            mesos_role: "*".into(),
            mesos_user: "root".into(),
            reconciliation_interval_ms: 600_000,
            failover_timeout_secs: 604_800,
            max_instances_per_offer: 100,
            decline_offer_duration_ms: 120_000,
            min_revive_offers_interval_ms: 5_000,
            task_launch_confirm_timeout_ms: 300_000,
            task_launch_timeout_ms: 300_000,
            local_port_min: 10_000,
            local_port_max: 20_000,
            max_running_deployments: 100,
            env_vars_prefix: None,
            event_subscriber: None,
            http_endpoints: Vec::new(),
            http_event_request_timeout_secs: 10,
            zk: None,
            disable_ha: false,
            ha: false,
            zk_session_timeout_ms: 10_000,
            zk_timeout_ms: 10_000,
            zk_max_versions: 50,
            listen: Default::default(),
            http_credentials: None,
            acl_file: None,
            mesos_authentication_principal: None,
            mesos_authentication_secret_file: None,
            mesos_authentication: false,
            disable_mesos_authentication: false,
            compat: Default::default(),
            http_realm: "Mesosphere".into(),
        }
    }

    pub fn reconciliation_interval(&self) -> Duration {
        Duration::from_millis(self.reconciliation_interval_ms)
    }

    /// Whether this scheduler contends for leadership (`--zk` without `--disable_ha`).
    pub fn high_availability(&self) -> bool {
        self.zk.is_some() && !self.disable_ha
    }

    /// Whether HTTP callback subscribers are on (`--event_subscriber http_callback`).
    pub fn http_callbacks(&self) -> bool {
        self.event_subscriber == Some(EventSubscriber::HttpCallback)
    }
}
