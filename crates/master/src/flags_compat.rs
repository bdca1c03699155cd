//! Mesos' documented master flags that this master does not implement yet: accepted (also as
//! `MESOS_<FLAG>`, switches also as `--no-<flag>`) and warned about by name at start (see
//! `httpd::compat`).

use httpd::compat::{Style, Table, Unimplemented, switch, value};

/// MasterCompat's table for [`httpd::compat::Compat`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MasterCompat;

impl Table for MasterCompat {
    const STYLE: Style = Style::Mesos;
    const ENV_PREFIX: Option<&'static str> = Some("MESOS_");
    fn flags() -> Vec<Unimplemented> {
        UNIMPLEMENTED.to_vec()
    }
}

/// The documented upstream flags not implemented yet, in upstream's spelling.
pub const UNIMPLEMENTED: &[Unimplemented] = &[
    value("acls"),
    value("advertise_ip"),
    value("advertise_port"),
    value("agent_removal_rate_limit"),
    value("allocator"),
    value("authentication_v0_timeout"),
    value("authenticators"),
    value("authorizers"),
    value("cluster"),
    value("domain"),
    value("external_log_file"),
    value("fair_sharing_excluded_resource_names"),
    switch("filter_gpu_resources"),
    value("firewall_rules"),
    value("framework_sorter"),
    value("hooks"),
    switch("hostname_lookup"),
    value("http_authenticators"),
    value("http_framework_authenticators"),
    switch("initialize_driver_logging"),
    value("ip_discovery_command"),
    switch("log_auto_initialize"),
    value("log_dir"),
    value("logbufsecs"),
    value("logging_level"),
    value("master_contender"),
    value("master_detector"),
    value("max_executors_per_agent"),
    value("max_executors_per_slave"),
    value("max_unreachable_tasks_per_framework"),
    value("min_allocatable_resources"),
    value("modules"),
    value("modules_dir"),
    value("offer_constraints_re2_max_mem"),
    value("offer_constraints_re2_max_program_size"),
    switch("publish_per_framework_metrics"),
    switch("quiet"),
    value("rate_limits"),
    value("recovery_agent_removal_limit"),
    value("recovery_slave_removal_limit"),
    value("registry_fetch_timeout"),
    value("registry_gc_interval"),
    value("registry_max_agent_age"),
    value("registry_max_agent_count"),
    value("registry_store_timeout"),
    switch("require_agent_domain"),
    value("role_sorter"),
    value("roles"),
    switch("root_submissions"),
    value("slave_removal_rate_limit"),
    value("webui_dir"),
    value("weights"),
    value("whitelist"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag upstream documents (docs/configuration/master.md and master-and-agent.md of apache/mesos, without `--help` and `--version`).
    const UPSTREAM: &[&str] = &[
        "acls",
        "advertise_ip",
        "advertise_port",
        "agent_ping_timeout",
        "agent_removal_rate_limit",
        "agent_reregister_timeout",
        "allocation_interval",
        "allocator",
        "authenticate",
        "authenticate_agents",
        "authenticate_frameworks",
        "authenticate_http_frameworks",
        "authenticate_http_readonly",
        "authenticate_http_readwrite",
        "authenticate_slaves",
        "authentication_v0_timeout",
        "authenticators",
        "authorizers",
        "cluster",
        "credentials",
        "domain",
        "external_log_file",
        "fair_sharing_excluded_resource_names",
        "filter_gpu_resources",
        "firewall_rules",
        "framework_sorter",
        "hooks",
        "hostname",
        "hostname_lookup",
        "http_authenticators",
        "http_framework_authenticators",
        "initialize_driver_logging",
        "ip",
        "ip_discovery_command",
        "log_auto_initialize",
        "log_dir",
        "logbufsecs",
        "logging_level",
        "master_contender",
        "master_detector",
        "max_agent_ping_timeouts",
        "max_completed_frameworks",
        "max_completed_tasks_per_framework",
        "max_executors_per_agent",
        "max_executors_per_slave",
        "max_operator_event_stream_subscribers",
        "max_slave_ping_timeouts",
        "max_unreachable_tasks_per_framework",
        "min_allocatable_resources",
        "modules",
        "modules_dir",
        "offer_constraints_re2_max_mem",
        "offer_constraints_re2_max_program_size",
        "offer_timeout",
        "port",
        "publish_per_framework_metrics",
        "quiet",
        "quorum",
        "rate_limits",
        "recovery_agent_removal_limit",
        "recovery_slave_removal_limit",
        "registry",
        "registry_fetch_timeout",
        "registry_gc_interval",
        "registry_max_agent_age",
        "registry_max_agent_count",
        "registry_store_timeout",
        "require_agent_domain",
        "role_sorter",
        "roles",
        "root_submissions",
        "slave_ping_timeout",
        "slave_removal_rate_limit",
        "slave_reregister_timeout",
        "webui_dir",
        "weights",
        "whitelist",
        "work_dir",
        "zk",
        "zk_session_timeout",
    ];

    #[test]
    fn the_table_matches_the_implemented_flags_and_upstreams_list() {
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: crate::MasterFlags,
        }
        let cmd = <Cli as clap::CommandFactory>::command();
        let problems = httpd::compat::table_problems(&cmd, UNIMPLEMENTED, UPSTREAM);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
