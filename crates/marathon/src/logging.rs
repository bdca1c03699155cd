//! Logging: text (the default) or JSON, one object per line (`--log_format json`, or
//! `MESOS_LOG_FORMAT` for the master and the agent, `MARATHON_LOG_FORMAT` for the scheduler and
//! `marathon local`), always to stderr, filtered by `RUST_LOG` (default `info`).

use clap::ValueEnum;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`), `target`, and
    /// the spans.
    Json,
}

/// `--log_format` of the master and the agent.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MesosLogFlags {
    /// Log format: `text` or `json` (one JSON object per line).
    #[arg(long = "log_format", alias = "log-format", value_enum, default_value = "text", env = "MESOS_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
}

/// `--log_format` of the scheduler and of `marathon local`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MarathonLogFlags {
    /// Log format: `text` or `json` (one JSON object per line).
    #[arg(long = "log_format", alias = "log-format", value_enum, default_value = "text", env = "MARATHON_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
}

/// Installs the global subscriber.
pub(crate) fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // Colours only for a terminal: log files get plain text (and no escape codes to write).
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}
