//! Mesos' documented agent flags that this agent does not implement yet: accepted (also as
//! `MESOS_<FLAG>`, switches also as `--no-<flag>`) and warned about by name at start (see
//! `httpd::compat`).

use httpd::compat::{Style, Table, Unimplemented, switch, value};

/// AgentCompat's table for [`httpd::compat::Compat`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentCompat;

impl Table for AgentCompat {
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
    value("agent_features"),
    value("agent_subsystems"),
    value("allowed_devices"),
    value("appc_simple_discovery_uri_prefix"),
    value("appc_store_dir"),
    switch("authenticate_http_executors"),
    switch("authenticate_http_readwrite"),
    value("authenticatee"),
    value("authentication_backoff_factor"),
    value("authentication_timeout_max"),
    value("authentication_timeout_min"),
    value("authorizer"),
    value("bounding_capabilities"),
    switch("cgroups_cpu_enable_pids_and_tids_count"),
    value("cgroups_destroy_timeout"),
    switch("cgroups_limit_swap"),
    value("cgroups_net_cls_primary_handle"),
    value("cgroups_net_cls_secondary_handles"),
    switch("check_agent_port_range_only"),
    value("container_ports_isolated_range"),
    value("container_ports_watch_interval"),
    value("csi_plugin_config_dir"),
    value("default_container_dns"),
    value("default_container_info"),
    value("default_container_shm_size"),
    switch("disallow_sharing_agent_ipc_namespace"),
    switch("disallow_sharing_agent_pid_namespace"),
    value("disk_profile_adaptor"),
    switch("docker_volume_chown"),
    value("domain"),
    value("domain_socket_location"),
    value("effective_capabilities"),
    value("egress_flow_classifier_parent"),
    value("egress_rate_limit_per_container"),
    switch("egress_unique_flow_per_container"),
    switch("enforce_container_ports"),
    value("ephemeral_ports_per_container"),
    value("eth0_name"),
    value("executor_environment_variables"),
    value("executor_registration_timeout"),
    value("executor_reregistration_retry_interval"),
    value("executor_reregistration_timeout"),
    value("external_log_file"),
    value("fetcher_cache_dir"),
    value("fetcher_cache_size"),
    value("fetcher_stall_timeout"),
    value("firewall_rules"),
    value("frameworks_home"),
    switch("gc_non_executor_container_sandboxes"),
    value("hadoop_home"),
    value("hooks"),
    value("host_path_volume_force_creation"),
    switch("hostname_lookup"),
    value("http_authenticators"),
    switch("http_command_executor"),
    switch("http_executor_domain_sockets"),
    value("http_heartbeat_interval"),
    value("image_gc_config"),
    value("image_providers"),
    value("image_provisioner_backend"),
    switch("initialize_driver_logging"),
    value("ip6"),
    value("ip6_discovery_command"),
    value("ip_discovery_command"),
    value("jwt_secret_key"),
    value("launcher"),
    value("launcher_dir"),
    value("lo_name"),
    value("log_dir"),
    value("logbufsecs"),
    value("logging_level"),
    value("master_detector"),
    value("max_completed_executors_per_framework"),
    value("modules"),
    value("modules_dir"),
    value("network_cni_config_dir"),
    switch("network_cni_metrics"),
    value("network_cni_plugins_dir"),
    switch("network_cni_root_dir_persist"),
    switch("network_enable_snmp_statistics"),
    switch("network_enable_socket_statistics_details"),
    switch("network_enable_socket_statistics_summary"),
    value("nvidia_gpu_devices"),
    value("oversubscribed_resources_interval"),
    value("perf_duration"),
    value("perf_events"),
    value("perf_interval"),
    value("qos_controller"),
    value("qos_correction_interval_min"),
    switch("quiet"),
    value("reconfiguration_policy"),
    value("recover"),
    value("recovery_timeout"),
    value("resource_estimator"),
    value("resource_provider_config_dir"),
    switch("revocable_cpu_low_priority"),
    value("runtime_dir"),
    value("seccomp_config_dir"),
    value("seccomp_profile_name"),
    value("secret_resolver"),
    value("slave_subsystems"),
    switch("strict"),
    switch("systemd_enable_support"),
    value("systemd_runtime_directory"),
    value("volume_gid_range"),
    value("xfs_project_range"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every flag upstream documents (docs/configuration/agent.md and master-and-agent.md of apache/mesos, without `--help` and `--version`).
    const UPSTREAM: &[&str] = &[
        "acls",
        "advertise_ip",
        "advertise_port",
        "agent_features",
        "agent_subsystems",
        "allowed_devices",
        "appc_simple_discovery_uri_prefix",
        "appc_store_dir",
        "attributes",
        "authenticate_http_executors",
        "authenticate_http_readonly",
        "authenticate_http_readwrite",
        "authenticatee",
        "authentication_backoff_factor",
        "authentication_timeout_max",
        "authentication_timeout_min",
        "authorizer",
        "bounding_capabilities",
        "cgroups_cpu_enable_pids_and_tids_count",
        "cgroups_destroy_timeout",
        "cgroups_enable_cfs",
        "cgroups_hierarchy",
        "cgroups_limit_swap",
        "cgroups_net_cls_primary_handle",
        "cgroups_net_cls_secondary_handles",
        "cgroups_root",
        "check_agent_port_range_only",
        "container_disk_watch_interval",
        "container_logger",
        "container_ports_isolated_range",
        "container_ports_watch_interval",
        "containerizers",
        "credential",
        "csi_plugin_config_dir",
        "default_container_dns",
        "default_container_info",
        "default_container_shm_size",
        "default_role",
        "disallow_sharing_agent_ipc_namespace",
        "disallow_sharing_agent_pid_namespace",
        "disk_profile_adaptor",
        "disk_watch_interval",
        "docker",
        "docker_config",
        "docker_ignore_runtime",
        "docker_kill_orphans",
        "docker_mesos_image",
        "docker_registry",
        "docker_remove_delay",
        "docker_socket",
        "docker_stop_timeout",
        "docker_store_dir",
        "docker_volume_checkpoint_dir",
        "docker_volume_chown",
        "domain",
        "domain_socket_location",
        "effective_capabilities",
        "egress_flow_classifier_parent",
        "egress_rate_limit_per_container",
        "egress_unique_flow_per_container",
        "enforce_container_disk_quota",
        "enforce_container_ports",
        "ephemeral_ports_per_container",
        "eth0_name",
        "executor_environment_variables",
        "executor_registration_timeout",
        "executor_reregistration_retry_interval",
        "executor_reregistration_timeout",
        "executor_shutdown_grace_period",
        "external_log_file",
        "fetcher_cache_dir",
        "fetcher_cache_size",
        "fetcher_stall_timeout",
        "firewall_rules",
        "frameworks_home",
        "gc_delay",
        "gc_disk_headroom",
        "gc_non_executor_container_sandboxes",
        "hadoop_home",
        "hooks",
        "host_path_volume_force_creation",
        "hostname",
        "hostname_lookup",
        "http_authenticators",
        "http_command_executor",
        "http_credentials",
        "http_executor_domain_sockets",
        "http_heartbeat_interval",
        "image_gc_config",
        "image_providers",
        "image_provisioner_backend",
        "initialize_driver_logging",
        "ip",
        "ip6",
        "ip6_discovery_command",
        "ip_discovery_command",
        "isolation",
        "jwt_secret_key",
        "launcher",
        "launcher_dir",
        "lo_name",
        "log_dir",
        "logbufsecs",
        "logging_level",
        "master",
        "master_detector",
        "max_completed_executors_per_framework",
        "modules",
        "modules_dir",
        "network_cni_config_dir",
        "network_cni_metrics",
        "network_cni_plugins_dir",
        "network_cni_root_dir_persist",
        "network_enable_snmp_statistics",
        "network_enable_socket_statistics_details",
        "network_enable_socket_statistics_summary",
        "nvidia_gpu_devices",
        "oversubscribed_resources_interval",
        "perf_duration",
        "perf_events",
        "perf_interval",
        "port",
        "qos_controller",
        "qos_correction_interval_min",
        "quiet",
        "reconfiguration_policy",
        "recover",
        "recovery_timeout",
        "registration_backoff_factor",
        "resource_estimator",
        "resource_provider_config_dir",
        "resources",
        "revocable_cpu_low_priority",
        "runtime_dir",
        "sandbox_directory",
        "seccomp_config_dir",
        "seccomp_profile_name",
        "secret_resolver",
        "slave_subsystems",
        "strict",
        "switch_user",
        "systemd_enable_support",
        "systemd_runtime_directory",
        "volume_gid_range",
        "work_dir",
        "xfs_project_range",
        "zk_session_timeout",
    ];

    /// The names (and upstream's older names, clap aliases) of the implemented flags.
    fn implemented() -> BTreeSet<String> {
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: crate::AgentFlags,
        }
        let cmd = <Cli as clap::CommandFactory>::command();
        cmd.get_arguments()
            .filter(|a| !a.get_id().as_str().starts_with("compat-"))
            .flat_map(|a| a.get_long().into_iter().chain(a.get_all_aliases().unwrap_or_default()))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn no_flag_is_both_implemented_and_listed_unimplemented() {
        let implemented = implemented();
        let listed: Vec<&str> = UNIMPLEMENTED.iter().map(|f| f.name).collect();
        let both: Vec<&&str> = listed.iter().filter(|n| implemented.contains(**n)).collect();
        assert!(both.is_empty(), "implemented and listed as unimplemented: {both:?}");
        assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), listed.len(), "listed twice");
    }

    #[test]
    fn every_documented_upstream_flag_is_accepted() {
        let implemented = implemented();
        let missing: Vec<&&str> = UPSTREAM
            .iter()
            .filter(|n| !implemented.contains(**n) && !UNIMPLEMENTED.iter().any(|f| f.name == **n))
            .collect();
        assert!(missing.is_empty(), "documented upstream, neither implemented nor listed: {missing:?}");
    }
}
