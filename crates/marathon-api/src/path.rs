//! Absolute app and group ids (`/prod/web`), as Marathon's `PathId` canonicalises them.

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::LazyLock;

/// The regular expression every id segment must fully match (upstream's `ID_PATH_SEGMENT_PATTERN`).
pub const ID_SEGMENT_PATTERN: &str =
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$";

/// The longest app or group id, in characters (upstream has no limit; Mesos has one in
/// practice). Marathon derives task ids from app ids (`<safe id>.instance-<uuid>._app.<n>`: the
/// id plus at most 72 characters), and agents name a task's sandbox directory after its task
/// id, so the task ids of a longer app id would not fit a file name (255 bytes) and every launch
/// would fail. Refusing such ids also keeps every key Marathon stores far below the store's
/// limit.
pub const MAX_ID_LENGTH: usize = 180;

/// Last segments an app or group id may not have: they collide with sub-resources in the REST routes.
pub const RESERVED_SEGMENTS: [&str; 5] = ["restart", "tasks", "versions", ".", ".."];

static SEGMENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Java's `matches()` needs the whole segment to match one alternative; anchor it explicitly.
    Regex::new(&format!("^(?:{ID_SEGMENT_PATTERN})$")).expect("constant regex")
});

/// Why an id is not acceptable. `Display` gives upstream's exact validation message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathIdError {
    /// A segment does not match [`ID_SEGMENT_PATTERN`].
    #[error("must fully match regular expression '{pattern}'", pattern = ID_SEGMENT_PATTERN)]
    InvalidSegment(String),
    /// The last segment is one of [`RESERVED_SEGMENTS`].
    #[error("must not end with any of the following reserved keywords: restart, tasks, versions, ., ..")]
    Reserved(String),
    /// The id is `/`.
    #[error("Path must contain at least one path element")]
    Empty,
    /// The id is longer than [`MAX_ID_LENGTH`] characters.
    #[error("must not be longer than {max} characters, but is {0} characters long", max = MAX_ID_LENGTH)]
    TooLong(usize),
}

/// An absolute, canonical id: `/` is the root group, `/a/b` the child `b` of group `/a`.
///
/// Construction never fails: ids are canonicalised like upstream (empty segments dropped, `.` and
/// `..` resolved, relative ids resolved against a base). Whether the segments are *allowed* is a
/// separate question answered by [`PathId::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathId {
    segments: Vec<String>,
}

impl PathId {
    /// The root group `/`.
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses `s` as an id relative to the root: `foo` and `/foo` are both `/foo`.
    pub fn parse(s: &str) -> Self {
        Self::resolve(s, &Self::root())
    }

    /// Resolves `s` against `base`: absolute ids (leading `/`) ignore the base, relative ones are
    /// appended to it; `.` is dropped and `..` removes the previous segment (never above the root).
    pub fn resolve(s: &str, base: &PathId) -> Self {
        let mut segments = if s.starts_with('/') { Vec::new() } else { base.segments.clone() };
        for part in s.split('/').filter(|p| !p.is_empty()) {
            match part {
                "." => {}
                ".." => {
                    segments.pop();
                }
                other => segments.push(other.to_string()),
            }
        }
        Self { segments }
    }

    /// Builds an id from already split segments, without any canonicalisation.
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { segments: segments.into_iter().map(Into::into).filter(|s: &String| !s.is_empty()).collect() }
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// `true` for `/`.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// `true` for direct children of the root (`/prod`).
    pub fn is_top_level(&self) -> bool {
        self.segments.len() == 1
    }

    /// The enclosing group; the root's parent is the root.
    pub fn parent(&self) -> PathId {
        let mut segments = self.segments.clone();
        segments.pop();
        Self { segments }
    }

    /// `self` with `child` (a relative id, may contain `/`) appended.
    pub fn join(&self, child: &str) -> PathId {
        let relative = child.trim_start_matches('/');
        Self::resolve(relative, self)
    }

    /// `true` if `self` is `other` or lies below it (`/a/b` starts with `/a` and with `/`).
    pub fn starts_with(&self, other: &PathId) -> bool {
        self.segments.starts_with(&other.segments)
    }

    /// Segments joined by `_` without a leading slash: `/a/b` → `a_b` (used in task ids and the
    /// text/plain task listing).
    pub fn safe_id(&self) -> String {
        self.segments.join("_")
    }

    /// Inverse of [`PathId::safe_id`]: `a_b` → `/a/b`.
    pub fn from_safe_id(safe: &str) -> Self {
        Self::from_segments(safe.split('_'))
    }

    /// Checks the id against upstream's rules for app and group ids: every segment matches
    /// [`ID_SEGMENT_PATTERN`], the last one is not reserved, and the id is not the root.
    /// Returns every violated rule (empty when valid).
    pub fn validate(&self) -> Vec<PathIdError> {
        let mut errors = Vec::new();
        if let Some(bad) = self.segments.iter().find(|s| !SEGMENT_RE.is_match(s)) {
            errors.push(PathIdError::InvalidSegment(bad.clone()));
        }
        if let Some(last) = self.segments.last().filter(|l| RESERVED_SEGMENTS.contains(&l.as_str())) {
            errors.push(PathIdError::Reserved(last.clone()));
        }
        if self.is_root() {
            errors.push(PathIdError::Empty);
        }
        let length = self.to_string().chars().count();
        if length > MAX_ID_LENGTH {
            errors.push(PathIdError::TooLong(length));
        }
        errors
    }
}

impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

impl Serialize for PathId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PathId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(PathId::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalisation_cases() {
        let root = PathId::root();
        let base = PathId::parse("/prod/web");
        let cases: &[(&str, &PathId, &str)] = &[
            ("foo", &root, "/foo"),
            ("/foo", &root, "/foo"),
            ("//foo//bar/", &root, "/foo/bar"),
            ("", &root, "/"),
            ("/", &root, "/"),
            ("child", &base, "/prod/web/child"),
            ("./child", &base, "/prod/web/child"),
            ("../db", &base, "/prod/db"),
            ("../../../x", &base, "/x"),
            ("/abs", &base, "/abs"),
            ("a/./b/../c", &root, "/a/c"),
            ("..", &root, "/"),
        ];
        for (input, base, expected) in cases {
            assert_eq!(PathId::resolve(input, base).to_string(), *expected, "resolve({input:?}, {base})");
        }
    }

    #[test]
    fn parent_join_and_safe_ids() {
        let id = PathId::parse("/my-group/my-app");
        assert_eq!(id.parent().to_string(), "/my-group");
        assert_eq!(id.parent().parent(), PathId::root());
        assert_eq!(PathId::root().parent(), PathId::root());
        assert_eq!(id.safe_id(), "my-group_my-app");
        assert_eq!(PathId::from_safe_id("my-group_my-app"), id);
        assert_eq!(PathId::parse("/a").join("b/c").to_string(), "/a/b/c");
        assert!(id.starts_with(&PathId::parse("/my-group")));
        assert!(!id.starts_with(&PathId::parse("/my")));
        assert!(PathId::parse("/a").is_top_level());
        assert_eq!(PathId::from_safe_id(""), PathId::root());
    }

    #[test]
    fn validation_messages() {
        let regex_msg = format!("must fully match regular expression '{ID_SEGMENT_PATTERN}'");
        for bad in ["/a b", "/a#$%^&*b", "/-dash-at-start", "/dash-at-end-", "/uppercaseNoGood", "/a_b"] {
            let errors = PathId::parse(bad).validate();
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].to_string(), regex_msg);
        }
        for good in ["/a", "/a.b", "/web-1/x.y-z", "/0"] {
            assert!(PathId::parse(good).validate().is_empty(), "{good}");
        }
        let reserved = PathId::parse("/app/tasks").validate();
        assert_eq!(
            reserved.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["must not end with any of the following reserved keywords: restart, tasks, versions, ., .."]
        );
        assert_eq!(PathId::root().validate(), vec![PathIdError::Empty]);
        let longest = format!("/{}", "a".repeat(MAX_ID_LENGTH - 1));
        assert!(PathId::parse(&longest).validate().is_empty());
        let too_long = format!("/{}/b", "a".repeat(MAX_ID_LENGTH));
        assert_eq!(
            PathId::parse(&too_long).validate().iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["must not be longer than 180 characters, but is 183 characters long"]
        );
    }

    #[test]
    fn serde_is_a_string() {
        let id: PathId = serde_json::from_str(r#""a/b""#).expect("parse");
        assert_eq!(serde_json::to_string(&id).expect("ser"), r#""/a/b""#);
    }
}
