//! Identifier messages: every Mesos id is `{"value": "..."}` on the wire.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        pub struct $name {
            pub value: String,
        }

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self { value: value.into() }
            }
            pub fn as_str(&self) -> &str {
                &self.value
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }
    )*};
}

id_type!(
    /// `<masterId>-<4-digit sequence>`.
    FrameworkId,
    /// `<masterId>-S<n>`.
    AgentId,
    /// `<masterId>-O<n>`.
    OfferId,
    /// Chosen by the framework.
    TaskId,
    /// Equals the task id for command tasks.
    ExecutorId,
);

/// A container id: a UUID, optionally nested under a parent container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct ContainerId {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<ContainerId>>,
}

/// Why a task or executor id is not acceptable (Mesos' `validateID` rules).
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".into());
    }
    if id.len() > 255 {
        return Err("ID must not be longer than 255 characters".into());
    }
    if id == "." || id == ".." {
        return Err("'.' and '..' are disallowed".into());
    }
    if id.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err("'/', '\\' and control characters are disallowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_value_objects() {
        let id: TaskId = serde_json::from_str(r#"{"value":"t1","extra":1}"#).expect("parse");
        assert_eq!(id.as_str(), "t1");
        assert_eq!(serde_json::to_string(&id).expect("ser"), r#"{"value":"t1"}"#);
    }

    #[test]
    fn id_validation_follows_mesos() {
        assert!(validate_id("web.1234").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("a\nb").is_err());
    }
}
