//! The logrotate container logger (upstream's `org_apache_mesos_LogrotateContainerLogger`
//! module, built in): with `--container_logger=org_apache_mesos_LogrotateContainerLogger` a
//! task's `stdout` and `stderr` are rotated by size, so a chatty task cannot fill the disk.
//! The module's parameters are flags here (`--logrotate_max_stdout_size`,
//! `--logrotate_stdout_options`, and the same for stderr), and a task may override them with the
//! module's variables in its environment (`CONTAINER_LOGGER_MAX_STDOUT_SIZE`,
//! `CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS`, ...). Of logrotate's options, `rotate N` (how
//! many rotated files are kept) is what applies to a size rotation; others are refused by name.
//! The rotation itself is done by each task's monitor (`containerizer::LogRotation`).

use crate::flags::FlagError;
use containerizer::{LogRotation, Rotate};

/// The `--container_logger` value that turns rotation on.
pub const LOGROTATE: &str = "org_apache_mesos_LogrotateContainerLogger";
/// The prefix of the task variables that override the flags (upstream's default
/// `environment_variable_prefix`).
const ENV_PREFIX: &str = "CONTAINER_LOGGER_";
/// The smallest max size (upstream: one memory page).
const MIN_SIZE: u64 = 4096;

/// The container logger flags of `marathon agent` (and `marathon local`).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct LoggerFlags {
    /// The container logger: empty (the default, as upstream: `stdout` and `stderr` grow
    /// without bound) or `org_apache_mesos_LogrotateContainerLogger` (rotated by size).
    #[arg(long = "container_logger", alias = "container-logger", default_value = "", value_parser = parse_logger)]
    pub container_logger: String,
    /// With the logrotate logger: the size at which `stdout` is rotated (e.g. `10MB`).
    #[arg(long = "logrotate_max_stdout_size", alias = "logrotate-max-stdout-size", default_value = "10MB", value_parser = parse_max_size)]
    pub logrotate_max_stdout_size: u64,
    /// With the logrotate logger: logrotate options for `stdout` (`rotate N`: N rotated files
    /// kept; without it none is).
    #[arg(long = "logrotate_stdout_options", alias = "logrotate-stdout-options", default_value = "")]
    pub logrotate_stdout_options: String,
    /// With the logrotate logger: the size at which `stderr` is rotated.
    #[arg(long = "logrotate_max_stderr_size", alias = "logrotate-max-stderr-size", default_value = "10MB", value_parser = parse_max_size)]
    pub logrotate_max_stderr_size: u64,
    /// With the logrotate logger: logrotate options for `stderr`.
    #[arg(long = "logrotate_stderr_options", alias = "logrotate-stderr-options", default_value = "")]
    pub logrotate_stderr_options: String,
}

impl Default for LoggerFlags {
    fn default() -> Self {
        LoggerFlags {
            container_logger: String::new(),
            logrotate_max_stdout_size: 10 << 20,
            logrotate_stdout_options: String::new(),
            logrotate_max_stderr_size: 10 << 20,
            logrotate_stderr_options: String::new(),
        }
    }
}

impl LoggerFlags {
    /// The flags as `/flags` shows them.
    pub fn to_map(&self) -> Vec<(&'static str, String)> {
        vec![
            ("container_logger", self.container_logger.clone()),
            ("logrotate_max_stdout_size", format!("{}B", self.logrotate_max_stdout_size)),
            ("logrotate_stdout_options", self.logrotate_stdout_options.clone()),
            ("logrotate_max_stderr_size", format!("{}B", self.logrotate_max_stderr_size)),
            ("logrotate_stderr_options", self.logrotate_stderr_options.clone()),
        ]
    }

    /// The agent's default rotation (`None` without the logrotate logger); the options are
    /// checked here, so that a bad flag stops the agent at start.
    pub fn rotation(&self) -> Result<Option<LogRotation>, FlagError> {
        if self.container_logger != LOGROTATE {
            return Ok(None);
        }
        let rotate = |size: u64, options: &str| -> Result<Rotate, FlagError> {
            Ok(Rotate { max_size: size, keep: parse_options(options).map_err(FlagError::Logger)? })
        };
        Ok(Some(LogRotation {
            stdout: rotate(self.logrotate_max_stdout_size, &self.logrotate_stdout_options)?,
            stderr: rotate(self.logrotate_max_stderr_size, &self.logrotate_stderr_options)?,
        }))
    }
}

fn parse_logger(text: &str) -> Result<String, FlagError> {
    match text.trim() {
        "" => Ok(String::new()),
        LOGROTATE => Ok(LOGROTATE.to_string()),
        other => Err(FlagError::Logger(format!(
            "unknown container logger '{other}' (known: '{LOGROTATE}', or empty for the sandbox files)"
        ))),
    }
}

fn parse_max_size(text: &str) -> Result<u64, FlagError> {
    parse_size(text).map_err(FlagError::Logger)
}

/// A size in Mesos' byte syntax (`4096`, `512B`, `64KB`, `10MB`, `1GB`), at least one page.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number.parse().map_err(|_| format!("invalid size '{text}'"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return Err(format!("invalid size '{text}': expected B, KB, MB, GB or TB")),
    };
    let bytes = n.checked_mul(scale).ok_or_else(|| format!("invalid size '{text}': too large"))?;
    if bytes < MIN_SIZE {
        return Err(format!("invalid size '{text}': at least {MIN_SIZE} bytes (one page)"));
    }
    Ok(bytes)
}

/// logrotate options: `rotate N` (how many rotated files are kept, 0 without it); any other
/// directive is refused by name (the size comes from the max size).
pub fn parse_options(text: &str) -> Result<u32, String> {
    let mut keep = 0;
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        match word {
            "rotate" => {
                keep = words
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| format!("invalid logrotate options '{text}': 'rotate' needs a count"))?;
            }
            other => {
                return Err(format!(
                    "unsupported logrotate option '{other}' in '{text}' (only 'rotate N' applies to a size rotation)"
                ));
            }
        }
    }
    Ok(keep)
}

/// A task's rotation: the agent's, overridden by the module's variables in the task's
/// environment (later ones win).
pub fn for_task(default: LogRotation, env: &[(String, String)]) -> Result<LogRotation, String> {
    let mut r = default;
    for (name, value) in env {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else { continue };
        match key {
            "MAX_STDOUT_SIZE" => r.stdout.max_size = parse_size(value)?,
            "LOGROTATE_STDOUT_OPTIONS" => r.stdout.keep = parse_options(value)?,
            "MAX_STDERR_SIZE" => r.stderr.max_size = parse_size(value)?,
            "LOGROTATE_STDERR_OPTIONS" => r.stderr.keep = parse_options(value)?,
            _ => {}
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_options() {
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert!(parse_size("100B").is_err(), "less than a page");
        assert!(parse_size("10 parsecs").is_err());
        assert_eq!(parse_options(""), Ok(0));
        assert_eq!(parse_options("rotate 9"), Ok(9));
        assert!(parse_options("rotate").is_err());
        assert!(parse_options("rotate 2 compress").expect_err("compress").contains("'compress'"));
    }

    #[test]
    fn flags_and_task_variables() {
        let mut flags = LoggerFlags::default();
        assert_eq!(flags.rotation(), Ok(None), "off by default, as upstream");
        flags.container_logger = LOGROTATE.into();
        flags.logrotate_stdout_options = "rotate 3".into();
        let default = flags.rotation().expect("valid").expect("on");
        assert_eq!(default.stdout, Rotate { max_size: 10 << 20, keep: 3 });
        assert_eq!(default.stderr, Rotate { max_size: 10 << 20, keep: 0 });
        let env = vec![
            ("CONTAINER_LOGGER_MAX_STDERR_SIZE".to_string(), "1MB".to_string()),
            ("CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS".to_string(), "rotate 9".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let task = for_task(default, &env).expect("valid");
        assert_eq!(task.stderr, Rotate { max_size: 1 << 20, keep: 9 });
        assert_eq!(task.stdout, default.stdout);
        let bad = vec![("CONTAINER_LOGGER_MAX_STDOUT_SIZE".to_string(), "1".to_string())];
        assert!(for_task(default, &bad).is_err());
        assert!(parse_logger("org_apache_mesos_Other").is_err());
    }
}
