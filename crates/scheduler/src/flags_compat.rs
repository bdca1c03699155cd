//! Marathon's documented command-line flags that this scheduler does not implement yet: accepted
//! (also as `MARATHON_<FLAG>`, switches also as `--disable_<flag>`) and warned about by name at
//! start (see `httpd::compat`).

use httpd::compat::{Style, Table, Unimplemented, flag, switch, value};

/// MarathonCompat's table for [`httpd::compat::Compat`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MarathonCompat;

impl Table for MarathonCompat {
    const STYLE: Style = Style::Marathon;
    const ENV_PREFIX: Option<&'static str> = Some("MARATHON_");
    fn flags() -> Vec<Unimplemented> {
        UNIMPLEMENTED.to_vec()
    }
}

/// The documented upstream flags not implemented yet, in upstream's spelling.
pub const UNIMPLEMENTED: &[Unimplemented] = &[
    value("accepted_resource_roles_default_behavior"),
    value("artifact_store"),
    value("assets_path"),
    value("backup_location"),
    switch("checkpoint"),
    value("default_accepted_resource_roles"),
    value("default_network_name"),
    value("deprecated_features"),
    value("draining_seconds"),
    value("enable_features"),
    value("enable_metrics"),
    value("enable_tracing"),
    value("executor"),
    switch("executor_health_checks"),
    value("gpu_scheduling_behavior"),
    switch("http_compression"),
    value("http_event_callback_slow_consumer_timeout"),
    value("launch_token_count"),
    value("launch_token_refresh_interval"),
    value("launch_tokens"),
    value("leader_proxy_connection_timeout"),
    value("leader_proxy_max_open_connections"),
    value("leader_proxy_read_timeout"),
    flag("leader_proxy_ssl_ignore_hostname"),
    value("logging_level"),
    value("logstash"),
    switch("maintenance_mode"),
    value("marathon_store_timeout"),
    value("max_apps"),
    value("max_tasks_per_offer_cycle"),
    value("mesos_authentication_secret"),
    value("mesos_bridge_name"),
    value("mesos_heartbeat_failure_threshold"),
    value("mesos_heartbeat_interval"),
    value("mesos_leader_ui_url"),
    value("mesos_master_url"),
    switch("metrics"),
    value("metrics_averaging_window"),
    switch("metrics_datadog"),
    value("metrics_datadog_host"),
    value("metrics_datadog_port"),
    value("metrics_datadog_protocol"),
    value("metrics_datadog_transmission_interval_ms"),
    switch("metrics_histogram_reservoir_reset_periodically"),
    value("metrics_histogram_reservoir_resetting_chunks"),
    value("metrics_histogram_reservoir_resetting_interval_ms"),
    value("metrics_histogram_reservoir_significant_digits"),
    value("metrics_name_prefix"),
    switch("metrics_prometheus"),
    switch("metrics_statsd"),
    value("metrics_statsd_host"),
    value("metrics_statsd_port"),
    value("metrics_statsd_transmission_interval_ms"),
    value("minimum_viable_task_execution_duration"),
    value("new_group_enforce_role"),
    value("offer_matching_timeout"),
    value("on_elected_prepare_timeout"),
    value("reconciliation_initial_delay"),
    value("reporter_datadog"),
    value("reporter_graphite"),
    switch("revive_offers_for_new_apps"),
    value("revive_offers_repetitions"),
    value("save_tasks_to_launch_timeout"),
    value("scale_apps_initial_delay"),
    value("scale_apps_interval"),
    switch("store_cache"),
    switch("suppress_offers"),
    value("task_lost_expunge_gc"),
    value("task_lost_expunge_initial_delay"),
    value("task_lost_expunge_interval"),
    switch("tracing"),
    value("webui_url"),
    switch("zk_compression"),
    value("zk_compression_threshold"),
    value("zk_connection_timeout"),
    value("zk_max_node_size"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every flag upstream documents (every flag docs/docs/command-line-flags.md of mesosphere/marathon has listed, 0.8 to 1.10, with `disable_` twins under their positive name).
    const UPSTREAM: &[&str] = &[
        "accepted_resource_roles_default_behavior",
        "access_control_allow_origin",
        "artifact_store",
        "assets_path",
        "backup_location",
        "checkpoint",
        "decline_offer_duration",
        "default_accepted_resource_roles",
        "default_network_name",
        "deprecated_features",
        "disable_http",
        "draining_seconds",
        "enable_features",
        "enable_metrics",
        "enable_tracing",
        "env_vars_prefix",
        "event_subscriber",
        "executor",
        "executor_health_checks",
        "failover_timeout",
        "framework_name",
        "gpu_scheduling_behavior",
        "ha",
        "hostname",
        "http_address",
        "http_compression",
        "http_credentials",
        "http_endpoints",
        "http_event_callback_slow_consumer_timeout",
        "http_max_concurrent_requests",
        "http_port",
        "http_realm",
        "https_address",
        "https_port",
        "launch_token_count",
        "launch_token_refresh_interval",
        "launch_tokens",
        "leader_proxy_connection_timeout",
        "leader_proxy_max_open_connections",
        "leader_proxy_read_timeout",
        "leader_proxy_ssl_ignore_hostname",
        "local_port_max",
        "local_port_min",
        "logging_level",
        "logstash",
        "maintenance_mode",
        "marathon_store_timeout",
        "master",
        "max_apps",
        "max_instances_per_offer",
        "max_running_deployments",
        "max_tasks_per_offer",
        "max_tasks_per_offer_cycle",
        "mesos_authentication",
        "mesos_authentication_principal",
        "mesos_authentication_secret",
        "mesos_authentication_secret_file",
        "mesos_bridge_name",
        "mesos_heartbeat_failure_threshold",
        "mesos_heartbeat_interval",
        "mesos_leader_ui_url",
        "mesos_master_url",
        "mesos_role",
        "mesos_user",
        "metrics",
        "metrics_averaging_window",
        "metrics_datadog",
        "metrics_datadog_host",
        "metrics_datadog_port",
        "metrics_datadog_protocol",
        "metrics_datadog_transmission_interval_ms",
        "metrics_histogram_reservoir_reset_periodically",
        "metrics_histogram_reservoir_resetting_chunks",
        "metrics_histogram_reservoir_resetting_interval_ms",
        "metrics_histogram_reservoir_significant_digits",
        "metrics_name_prefix",
        "metrics_prometheus",
        "metrics_statsd",
        "metrics_statsd_host",
        "metrics_statsd_port",
        "metrics_statsd_transmission_interval_ms",
        "min_revive_offers_interval",
        "minimum_viable_task_execution_duration",
        "new_group_enforce_role",
        "offer_matching_timeout",
        "on_elected_prepare_timeout",
        "reconciliation_initial_delay",
        "reconciliation_interval",
        "reporter_datadog",
        "reporter_graphite",
        "revive_offers_for_new_apps",
        "revive_offers_repetitions",
        "save_tasks_to_launch_timeout",
        "scale_apps_initial_delay",
        "scale_apps_interval",
        "ssl_keystore_password",
        "ssl_keystore_path",
        "store_cache",
        "suppress_offers",
        "task_launch_confirm_timeout",
        "task_launch_timeout",
        "task_lost_expunge_gc",
        "task_lost_expunge_initial_delay",
        "task_lost_expunge_interval",
        "tracing",
        "webui_url",
        "zk",
        "zk_compression",
        "zk_compression_threshold",
        "zk_connection_timeout",
        "zk_max_node_size",
        "zk_max_versions",
        "zk_session_timeout",
        "zk_timeout",
    ];

    /// The names (and upstream's older names, clap aliases) of the implemented flags.
    fn implemented() -> BTreeSet<String> {
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: crate::SchedulerFlags,
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
