use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Errors of this crate. Every variant names the operation that failed and, where
/// there is one, the path it was applied to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation (open, write, mkdir, rmdir, read...) failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A system call without a path (fork, pipe, pidfd_open, kill...) failed.
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The caller passed something unusable (NUL byte in a string, bad container id...).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// The task process could not be set up before exec (joining its cgroups, chdir to
    /// the sandbox, switching user...). Nothing of the task is left running.
    #[error("task setup failed at {stage}: {source}")]
    Setup {
        stage: String,
        #[source]
        source: io::Error,
    },
    /// `LaunchSpec::user` does not exist on this host.
    #[error("user {0:?} does not exist on this agent")]
    UnknownUser(String),
    /// Processes were still present in a cgroup after killing them repeatedly.
    #[error("{op} {}: processes still present after {waited:?}", path.display())]
    Busy { op: &'static str, path: PathBuf, waited: Duration },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    pub(crate) fn sys(op: &'static str, source: io::Error) -> Self {
        Error::Sys { op, source }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid { what, reason: reason.into() }
    }
}
