//! Errors of the Docker containerizer.

use crate::spec::SpecError;

/// What went wrong talking to dockerd (or before: [`SpecError`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to the Docker daemon at {socket}: {message}")]
    Connect { socket: String, message: String },
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The image is not on the host and could not be pulled (with a local-only dockerd: the
    /// registry's "not found" or an unreachable registry).
    #[error("cannot pull image '{image}': {message}")]
    Pull { image: String, message: String },
    #[error("cannot create container {name}: {message}")]
    Create { name: String, message: String },
    #[error("cannot start container {name}: {message}")]
    Start { name: String, message: String },
    #[error("no container {name}")]
    NotFound { name: String },
    /// The container belongs to another agent (its owner label differs): never touched.
    #[error("container {name} belongs to agent '{owner}', not to this one")]
    NotOwned { name: String, owner: String },
    #[error("Docker API call failed ({what} {name}): {message}")]
    Api { what: &'static str, name: String, message: String },
}

impl Error {
    pub(crate) fn api(what: &'static str, name: &str, e: &bollard::errors::Error) -> Error {
        if is_not_found(e) {
            return Error::NotFound { name: name.to_string() };
        }
        Error::Api { what, name: name.to_string(), message: message(e) }
    }
}

/// The daemon's message for a server error, the error's text otherwise.
pub(crate) fn message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.trim().to_string(),
        bollard::errors::Error::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}

pub(crate) fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    status(e) == Some(404)
}
