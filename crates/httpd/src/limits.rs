//! Connection and request limits of an HTTP server: the flags every component shares, and the file
//! descriptor limit they are computed from.

use std::time::Duration;

/// Flags of every HTTP server (`marathon master`, `agent`, `scheduler`). Not upstream flags:
/// upstream's servers (libprocess, Jetty) have no such limits, and this is how a flood of idle
/// or half-sent connections is kept from taking every file descriptor of the process.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLimitFlags {
    /// Connections served at once at most (default: three quarters of the file descriptor
    /// limit, which is raised to its hard limit at start). Past it, the oldest connection
    /// without a request in progress is closed for each new one; when every connection has a
    /// request in progress, new ones wait in the kernel's accept queue.
    #[arg(long = "http_max_connections", alias = "http-max-connections", value_parser = clap::value_parser!(u64).range(1..))]
    pub http_max_connections: Option<u64>,
    /// How long a connection may take to send a request's headers, waiting for the next
    /// request of a kept-alive connection included (and a TLS handshake): a slower or idle
    /// client is disconnected. Mesos duration text (`30secs`, `500ms`).
    #[arg(long = "http_header_timeout", alias = "http-header-timeout", default_value = "30secs", value_parser = parse_duration)]
    pub http_header_timeout: Duration,
    /// How long a request's body may take to arrive once its headers have: a client that
    /// trickles its body is answered 408 and disconnected. Mesos duration text.
    #[arg(long = "http_body_timeout", alias = "http-body-timeout", default_value = "60secs", value_parser = parse_duration)]
    pub http_body_timeout: Duration,
}

impl Default for HttpLimitFlags {
    fn default() -> Self {
        HttpLimitFlags {
            http_max_connections: None,
            http_header_timeout: DEFAULT_HEADER_TIMEOUT,
            http_body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// `--http_header_timeout` unless given.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// `--http_body_timeout` unless given.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

fn parse_duration(text: &str) -> Result<Duration, String> {
    mesos_api::duration::parse(text).map_err(|e| e.to_string())
}

/// What a server enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// How long a request's body may take after its headers.
    pub body_timeout: Duration,
}

impl Limits {
    /// The limits the flags ask for. Raises the process's file descriptor limit first (see
    /// [`raise_fd_limit`]), since the default connection cap follows from it.
    pub fn from_flags(flags: &HttpLimitFlags) -> Limits {
        let fds = raise_fd_limit();
        let max_connections = match flags.http_max_connections {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => default_max_connections(fds),
        };
        Limits { max_connections, header_timeout: flags.http_header_timeout, body_timeout: flags.http_body_timeout }
    }
}

/// Three quarters of the descriptors: the rest stays for files, pipes, tasks and outgoing
/// connections.
fn default_max_connections(fd_limit: u64) -> usize {
    usize::try_from(fd_limit / 4 * 3).unwrap_or(usize::MAX).max(16)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (as upstream's daemons are usually set
/// up to run) and returns the soft limit in force afterwards. Idempotent.
pub fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::debug!(from = soft, to = hard, "raised the file descriptor limit");
                return hard;
            }
            Err(e) => tracing::warn!(error = %e, soft, hard, "could not raise the file descriptor limit"),
        }
    }
    soft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_a_quarter_of_the_descriptors() {
        assert_eq!(default_max_connections(1024), 768);
        assert_eq!(default_max_connections(20_000), 15_000);
        assert_eq!(default_max_connections(4), 16);
    }

    #[test]
    fn raising_twice_is_harmless() {
        let first = raise_fd_limit();
        assert_eq!(raise_fd_limit(), first);
    }
}
