//! Instance and task ids (§3.10): `<safeId>.instance-<uuid>` and `<instanceId>._app.<incarnation>`,
//! plus every legacy form older Marathon versions created (they may still come back from Mesos
//! or from clients).

use crate::path::PathId;
use regex::Regex;
use std::fmt;
use std::sync::LazyLock;
use uuid::Uuid;

/// The container name of app tasks (the `_` makes it impossible as a real container name).
pub const APP_CONTAINER: &str = "_app";

/// An id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not `<safeId>.instance-<uuid>` (upstream's message).
    #[error("instance id {0} is not a valid identifier")]
    Instance(String),
    /// None of the task id forms (upstream's message).
    #[error("taskId {0} no valid identifier")]
    Task(String),
}

/// The prefix of the uuid part of an instance id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstancePrefix {
    /// `instance-` (1.4+).
    Instance,
    /// `marathon-` (instances derived from pre-1.4 task ids).
    Marathon,
}

impl InstancePrefix {
    fn as_str(self) -> &'static str {
        match self {
            Self::Instance => "instance-",
            Self::Marathon => "marathon-",
        }
    }
}

/// An instance id: `<safeRunSpecId>.instance-<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId {
    run_spec: PathId,
    prefix: InstancePrefix,
    uuid: Uuid,
}

static INSTANCE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+)\.(instance-|marathon-)([^\.]+)$").expect("constant regex"));
static TASK_WITH_INCARNATION_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.+)\.(instance-|marathon-)([^_\.]+)[\._]([^\.]+)\.(\d+)$").expect("constant regex")
});
static TASK_WITH_INSTANCE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+)\.(instance-|marathon-)([^_\.]+)[\._]([^\.]+)$").expect("constant regex"));
static LEGACY_RESIDENT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+)([\._])([^_\.]+)(\.)(\d+)$").expect("constant regex"));
static LEGACY_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(.+)([\._])([^_\.]+)$").expect("constant regex"));

fn prefix_of(s: &str) -> InstancePrefix {
    if s == "marathon-" { InstancePrefix::Marathon } else { InstancePrefix::Instance }
}

impl InstanceId {
    /// A new instance id of `run_spec` with the given (caller-generated) uuid.
    pub fn new(run_spec: &PathId, uuid: Uuid) -> Self {
        Self { run_spec: run_spec.clone(), prefix: InstancePrefix::Instance, uuid }
    }

    /// Parses `<safeId>.(instance-|marathon-)<uuid>`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = || IdError::Instance(s.to_string());
        let caps = INSTANCE_RE.captures(s).ok_or_else(err)?;
        let uuid = Uuid::parse_str(&caps[3]).map_err(|_| err())?;
        Ok(Self { run_spec: PathId::from_safe_id(&caps[1]), prefix: prefix_of(&caps[2]), uuid })
    }

    /// The app or pod this instance belongs to.
    pub fn run_spec_id(&self) -> &PathId {
        &self.run_spec
    }

    /// `instance-` or (derived from a legacy task id) `marathon-`.
    pub fn prefix(&self) -> InstancePrefix {
        self.prefix
    }

    /// The unique part.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}{}", self.run_spec.safe_id(), self.prefix.as_str(), self.uuid)
    }
}

/// A task id in any of the forms Marathon has used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskId {
    /// 1.8+: `<instanceId>.<container>.<incarnation>` (`_app` for apps).
    Incarnation { instance: InstanceId, container: Option<String>, incarnation: u64 },
    /// 1.4-1.7: `<instanceId>.<container>`.
    Ephemeral { instance: InstanceId, container: Option<String> },
    /// ≤1.3 resident tasks: `<safeId><sep><uuid>.<attempt>`.
    LegacyResident { run_spec: PathId, separator: char, uuid: Uuid, attempt: u64 },
    /// ≤1.3: `<safeId><sep><uuid>` with separator `.` (very old: `_`).
    Legacy { run_spec: PathId, separator: char, uuid: Uuid },
}

impl TaskId {
    /// The first task of an app instance: `<instanceId>._app.1`.
    pub fn for_app(instance: &InstanceId) -> Self {
        Self::Incarnation { instance: instance.clone(), container: None, incarnation: 1 }
    }

    /// Parses every form upstream accepts (`DELETE .../tasks/{taskId}`, `/v2/tasks/delete`).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = || IdError::Task(s.to_string());
        let uuid = |text: &str| Uuid::parse_str(text).map_err(|_| err());
        let container = |name: &str| (name != APP_CONTAINER).then(|| name.to_string());
        let number = |text: &str| text.parse::<u64>().map_err(|_| err());
        let instance = |safe: &str, prefix: &str, id: &str| -> Result<InstanceId, IdError> {
            Ok(InstanceId { run_spec: PathId::from_safe_id(safe), prefix: prefix_of(prefix), uuid: uuid(id)? })
        };
        let separator = |text: &str| text.chars().next().unwrap_or('.');
        if let Some(c) = TASK_WITH_INCARNATION_RE.captures(s) {
            return Ok(Self::Incarnation {
                instance: instance(&c[1], &c[2], &c[3])?,
                container: container(&c[4]),
                incarnation: number(&c[5])?,
            });
        }
        if let Some(c) = TASK_WITH_INSTANCE_RE.captures(s) {
            return Ok(Self::Ephemeral { instance: instance(&c[1], &c[2], &c[3])?, container: container(&c[4]) });
        }
        if let Some(c) = LEGACY_RESIDENT_RE.captures(s) {
            return Ok(Self::LegacyResident {
                run_spec: PathId::from_safe_id(&c[1]),
                separator: separator(&c[2]),
                uuid: uuid(&c[3])?,
                attempt: number(&c[5])?,
            });
        }
        if let Some(c) = LEGACY_RE.captures(s) {
            return Ok(Self::Legacy {
                run_spec: PathId::from_safe_id(&c[1]),
                separator: separator(&c[2]),
                uuid: uuid(&c[3])?,
            });
        }
        Err(err())
    }

    /// The instance the task belongs to (legacy tasks map to `<safeId>.marathon-<uuid>`).
    pub fn instance_id(&self) -> InstanceId {
        match self {
            Self::Incarnation { instance, .. } | Self::Ephemeral { instance, .. } => instance.clone(),
            Self::LegacyResident { run_spec, uuid, .. } | Self::Legacy { run_spec, uuid, .. } => {
                InstanceId { run_spec: run_spec.clone(), prefix: InstancePrefix::Marathon, uuid: *uuid }
            }
        }
    }

    /// The app or pod the task belongs to.
    pub fn run_spec_id(&self) -> &PathId {
        match self {
            Self::Incarnation { instance, .. } | Self::Ephemeral { instance, .. } => &instance.run_spec,
            Self::LegacyResident { run_spec, .. } | Self::Legacy { run_spec, .. } => run_spec,
        }
    }

    /// The pod container name (`None` for app tasks).
    pub fn container_name(&self) -> Option<&str> {
        match self {
            Self::Incarnation { container, .. } | Self::Ephemeral { container, .. } => container.as_deref(),
            _ => None,
        }
    }

    /// The id of the task relaunched for the same instance (incarnation + 1; legacy ids get an
    /// attempt count).
    pub fn next_incarnation(&self) -> Self {
        match self.clone() {
            Self::Ephemeral { instance, container } => Self::Incarnation { instance, container, incarnation: 1 },
            Self::Incarnation { instance, container, incarnation } => {
                Self::Incarnation { instance, container, incarnation: incarnation + 1 }
            }
            Self::LegacyResident { run_spec, separator, uuid, attempt } => {
                Self::LegacyResident { run_spec, separator, uuid, attempt: attempt + 1 }
            }
            Self::Legacy { run_spec, separator, uuid } => {
                Self::LegacyResident { run_spec, separator, uuid, attempt: 1 }
            }
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incarnation { instance, container, incarnation } => {
                write!(f, "{instance}.{}.{incarnation}", container.as_deref().unwrap_or(APP_CONTAINER))
            }
            Self::Ephemeral { instance, container } => {
                write!(f, "{instance}.{}", container.as_deref().unwrap_or(APP_CONTAINER))
            }
            Self::LegacyResident { run_spec, separator, uuid, attempt } => {
                write!(f, "{}{separator}{uuid}.{attempt}", run_spec.safe_id())
            }
            Self::Legacy { run_spec, separator, uuid } => write!(f, "{}{separator}{uuid}", run_spec.safe_id()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "b6ff5fa5-7714-11e7-a55c-5ecf1c4671f6";

    fn uuid() -> Uuid {
        Uuid::parse_str(UUID).expect("valid uuid")
    }

    #[test]
    fn instance_ids() {
        let app = PathId::parse("/myGroup/myApp");
        let id = InstanceId::new(&app, uuid());
        assert_eq!(id.to_string(), format!("myGroup_myApp.instance-{UUID}"));
        assert_eq!(InstanceId::parse(&id.to_string()), Ok(id.clone()));
        assert_eq!(id.run_spec_id(), &app);
        let legacy = InstanceId::parse(&format!("my-app.marathon-{UUID}")).expect("legacy instance id");
        assert_eq!(legacy.prefix(), InstancePrefix::Marathon);
        assert_eq!(legacy.to_string(), format!("my-app.marathon-{UUID}"));
        for bad in ["", "app", "app.instance-", "app.instance-nope", "app.task-b6ff5fa5-7714-11e7-a55c-5ecf1c4671f6"] {
            assert!(InstanceId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn task_ids_of_every_era_round_trip() {
        let app = PathId::parse("/myGroup/myApp");
        let instance = InstanceId::new(&app, uuid());
        let cases = [
            (format!("myGroup_myApp.instance-{UUID}._app.1"), Some(None), Some(1)),
            (format!("myGroup_myApp.instance-{UUID}._app.42"), Some(None), Some(42)),
            (format!("myGroup_myApp.marathon-{UUID}.rails.2"), Some(Some("rails")), Some(2)),
            (format!("myGroup_myApp.instance-{UUID}._app"), Some(None), None),
            (format!("myGroup_myApp.instance-{UUID}.rails"), Some(Some("rails")), None),
            (format!("myGroup_myApp.{UUID}"), None, None),
            (format!("myGroup_myApp_{UUID}"), None, None),
            (format!("myGroup_myApp.{UUID}.7"), None, Some(7)),
        ];
        for (text, container, incarnation) in cases {
            let id = TaskId::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(id.to_string(), text, "round trip");
            assert_eq!(id.run_spec_id(), &app, "{text}");
            assert_eq!(id.instance_id().uuid(), uuid(), "{text}");
            if let Some(container) = container {
                assert_eq!(id.container_name(), container, "{text}");
            }
            match (&id, incarnation) {
                (TaskId::Incarnation { incarnation: n, .. }, Some(expected)) => assert_eq!(*n, expected),
                (TaskId::LegacyResident { attempt, .. }, Some(expected)) => assert_eq!(*attempt, expected),
                (TaskId::Ephemeral { .. } | TaskId::Legacy { .. }, None) => {}
                other => panic!("{text}: unexpected {other:?}"),
            }
        }
        let legacy = TaskId::parse(&format!("my-app.{UUID}")).expect("legacy");
        assert_eq!(legacy.instance_id().to_string(), format!("my-app.marathon-{UUID}"));
        assert_eq!(TaskId::for_app(&instance).to_string(), format!("{instance}._app.1"));
    }

    #[test]
    fn incarnations_advance() {
        let instance = InstanceId::new(&PathId::parse("/web"), uuid());
        let first = TaskId::for_app(&instance);
        assert_eq!(first.next_incarnation().to_string(), format!("web.instance-{UUID}._app.2"));
        let ephemeral = TaskId::parse(&format!("web.instance-{UUID}._app")).expect("parses");
        assert_eq!(ephemeral.next_incarnation(), first);
        let legacy = TaskId::parse(&format!("web.{UUID}")).expect("parses");
        assert_eq!(legacy.next_incarnation().to_string(), format!("web.{UUID}.1"));
    }

    #[test]
    fn invalid_task_ids() {
        for bad in ["", "web", "web.not-a-uuid", "web.instance-zzz._app.1", ".", "web.."] {
            assert!(TaskId::parse(bad).is_err(), "{bad}");
        }
    }
}
