//! Request errors: malformed JSON, wrong JSON types, and semantic validation failures.

use serde::Serialize;
use serde_json::{Value as Json, json};

/// The errors of one JSON path. Paths are rendered like upstream (play-json `JsPath` and
/// wix-accord): `/upgradeStrategy/minimumHealthCapacity`, array indices in parentheses
/// (`/healthChecks(0)/portIndex`, `/constraints(1)`), and `/` for object-level rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub path: String,
    pub errors: Vec<String>,
}

/// A definition failed semantic validation: 422 `{"message":"Object is not valid","details":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Object is not valid: {}", render(details))]
pub struct ValidationError {
    /// Violations grouped by path, in the order paths were first reported.
    pub details: Vec<Violation>,
}

impl ValidationError {
    /// A single object-level (`/`) violation.
    pub fn object(message: impl Into<String>) -> Self {
        Self { details: vec![Violation { path: "/".to_string(), errors: vec![message.into()] }] }
    }

    /// Violations from `(path, message)` pairs, grouped by path in first-seen order.
    pub fn from_details(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut violations = Violations::default();
        for (path, message) in pairs {
            violations.add(&path, message);
        }
        Self { details: violations.into_details() }
    }

    /// The messages reported for `path`, if any.
    pub fn errors_at(&self, path: &str) -> &[String] {
        self.details.iter().find(|v| v.path == path).map(|v| v.errors.as_slice()).unwrap_or(&[])
    }

    /// The response body.
    pub fn to_json(&self) -> Json {
        json!({"message": "Object is not valid", "details": self.details})
    }
}

/// The request body could not be read as the expected JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all: 400 `{"message":"Invalid JSON","details":"<parser text>"}`.
    #[error("Invalid JSON: {0}")]
    Syntax(String),
    /// JSON, but with wrong types, missing required fields or unknown enum literals, reported
    /// with play-json's codes (`error.expected.jsstring`, `error.path.missing`, …):
    /// 422 `{"message":"Invalid JSON","details":[{"path":"/id","errors":["error.expected.jsstring"]}]}`.
    #[error("Invalid JSON: {}", render(.0))]
    Types(Vec<Violation>),
}

impl ParseError {
    /// The HTTP status upstream answers with (400 for syntax, 422 for type errors).
    pub fn status(&self) -> u16 {
        match self {
            Self::Syntax(_) => 400,
            Self::Types(_) => 422,
        }
    }

    /// The response body.
    pub fn to_json(&self) -> Json {
        match self {
            Self::Syntax(text) => json!({"message": "Invalid JSON", "details": text}),
            Self::Types(details) => json!({"message": "Invalid JSON", "details": details}),
        }
    }
}

fn render(details: &[Violation]) -> String {
    details.iter().map(|v| format!("{}: {}", v.path, v.errors.join(", "))).collect::<Vec<_>>().join("; ")
}

/// Collects violations grouped by path, keeping first-seen order and dropping duplicates.
#[derive(Debug, Default)]
pub(crate) struct Violations {
    details: Vec<Violation>,
}

impl Violations {
    pub(crate) fn add(&mut self, path: &str, message: impl Into<String>) {
        let path = if path.is_empty() { "/" } else { path };
        let message = message.into();
        match self.details.iter_mut().find(|v| v.path == path) {
            Some(v) if v.errors.contains(&message) => {}
            Some(v) => v.errors.push(message),
            None => self.details.push(Violation { path: path.to_string(), errors: vec![message] }),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.details.is_empty()
    }

    pub(crate) fn into_details(self) -> Vec<Violation> {
        self.details
    }

    pub(crate) fn into_result(self) -> Result<(), ValidationError> {
        if self.details.is_empty() { Ok(()) } else { Err(ValidationError { details: self.details }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_group_by_path() {
        let mut v = Violations::default();
        v.add("/a", "x");
        v.add("", "root");
        v.add("/a", "y");
        v.add("/a", "x");
        let err = v.into_result().expect_err("has violations");
        assert_eq!(err.errors_at("/a"), ["x", "y"]);
        assert_eq!(err.errors_at("/"), ["root"]);
        assert_eq!(
            err.to_json(),
            json!({"message":"Object is not valid","details":[
                {"path":"/a","errors":["x","y"]},{"path":"/","errors":["root"]}]})
        );
    }

    #[test]
    fn parse_error_bodies() {
        let syntax = ParseError::Syntax("EOF".into());
        assert_eq!(syntax.status(), 400);
        assert_eq!(syntax.to_json(), json!({"message":"Invalid JSON","details":"EOF"}));
        let types =
            ParseError::Types(vec![Violation { path: "/id".into(), errors: vec!["error.expected.jsstring".into()] }]);
        assert_eq!(types.status(), 422);
        assert_eq!(
            types.to_json(),
            json!({"message":"Invalid JSON","details":[{"path":"/id","errors":["error.expected.jsstring"]}]})
        );
    }
}
