//! Query parameters: booleans, `embed`, and the `label` selector of `GET /v2/apps`.
//!
//! Everything works on decoded `(key, value)` pairs in request order, so repeated keys
//! (`embed=app.tasks&embed=app.counts`) are kept.

use std::collections::BTreeMap;

/// A query parameter could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Not a boolean.
    #[error("Invalid boolean value '{value}' for query parameter '{key}'")]
    InvalidBool { key: String, value: String },
    /// Not a label selector (the reason is the parser's).
    #[error("Can not parse label selector {selector}. Reason: {reason}")]
    InvalidLabelSelector { selector: String, reason: String },
}

/// Parses a boolean the way clients send them: `true`/`false` in any case (marathon-python sends
/// `True`/`False`), `1`/`0`, and an empty value (`?force`) as `true`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The first value of `key`, if present.
pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// All values of `key`, in order.
pub fn query_values<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

/// The boolean parameter `key` (first occurrence), or `default` when absent.
pub fn query_bool(pairs: &[(String, String)], key: &str, default: bool) -> Result<bool, QueryError> {
    match query_value(pairs, key) {
        None => Ok(default),
        Some(value) => {
            parse_bool(value).ok_or_else(|| QueryError::InvalidBool { key: key.to_string(), value: value.to_string() })
        }
    }
}

/// What an app response embeds (`embed=` values of `/v2/apps` and groups).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Embed {
    pub tasks: bool,
    pub counts: bool,
    pub deployments: bool,
    /// `readinessCheckResults`.
    pub readiness: bool,
    pub last_task_failure: bool,
    /// `taskStats`.
    pub task_stats: bool,
}

impl Embed {
    /// Reads every `embed` value: prefixes `app.`, `apps.` and `group.apps.` are optional;
    /// `tasks` implies `deployments`; `failures` (deprecated) means tasks + lastTaskFailure +
    /// deployments; unknown values (including group embeds) are ignored.
    pub fn from_query(pairs: &[(String, String)]) -> Self {
        let mut embed = Self::default();
        for value in query_values(pairs, "embed") {
            embed.add(value);
        }
        embed
    }

    /// Adds one `embed` value.
    pub fn add(&mut self, value: &str) {
        let name = ["group.apps.", "apps.", "app."].iter().find_map(|p| value.strip_prefix(p)).unwrap_or(value);
        match name {
            "tasks" => {
                self.tasks = true;
                self.deployments = true;
            }
            "failures" => {
                self.tasks = true;
                self.last_task_failure = true;
                self.deployments = true;
            }
            "counts" => self.counts = true,
            "deployments" => self.deployments = true,
            "readiness" => self.readiness = true,
            "lastTaskFailure" => self.last_task_failure = true,
            "taskStats" => self.task_stats = true,
            _ => {}
        }
    }

    /// `self` plus everything in `other` (for forced defaults: `GET /v2/apps` always embeds
    /// counts and deployments, `GET /v2/apps/{id}` also tasks and lastTaskFailure).
    pub fn with(self, other: Embed) -> Self {
        Self {
            tasks: self.tasks || other.tasks,
            counts: self.counts || other.counts,
            deployments: self.deployments || other.deployments,
            readiness: self.readiness || other.readiness,
            last_task_failure: self.last_task_failure || other.last_task_failure,
            task_stats: self.task_stats || other.task_stats,
        }
    }
}

/// What a group response embeds (`embed=group.groups|group.apps|group.pods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupEmbed {
    pub groups: bool,
    pub apps: bool,
    pub pods: bool,
}

impl GroupEmbed {
    /// Reads the group embeds. Without any `embed` parameter all three are embedded (upstream's
    /// backward compatibility); otherwise exactly the ones listed.
    pub fn from_query(pairs: &[(String, String)]) -> Self {
        let values = query_values(pairs, "embed");
        if values.is_empty() {
            return Self { groups: true, apps: true, pods: true };
        }
        let has = |name: &str| values.contains(&name);
        Self { groups: has("group.groups"), apps: has("group.apps"), pods: has("group.pods") }
    }
}

/// One selector of a `label` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRequirement {
    /// `key`
    Exists(String),
    /// `key==value`
    Equals(String, String),
    /// `key!=value` (the key must exist)
    NotEquals(String, String),
    /// `key in (a,b)`
    In(String, Vec<String>),
    /// `key notin (a,b)` (the key must exist)
    NotIn(String, Vec<String>),
}

impl LabelRequirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Self::Exists(key) => labels.contains_key(key),
            Self::Equals(key, value) => labels.get(key) == Some(value),
            Self::NotEquals(key, value) => labels.get(key).is_some_and(|v| v != value),
            Self::In(key, set) => labels.get(key).is_some_and(|v| set.contains(v)),
            Self::NotIn(key, set) => labels.get(key).is_some_and(|v| !set.contains(v)),
        }
    }
}

/// A parsed `label=` query: comma-separated selectors that must all hold.
///
/// Grammar (upstream's `LabelSelectorParsers`): `selector {, selector}` where a selector is
/// `term`, `term ==|!= term` or `term in|notin ( term {, term} )`; a term is a run of
/// `[-A-Za-z0-9_.]` or backslash-escaped characters (`\ `, `\,` …). Whitespace between tokens is
/// ignored. Every selector, including `!=` and `notin`, requires the key to be present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parses a selector query. The empty string selects everything.
    pub fn parse(input: &str) -> Result<Self, QueryError> {
        let fail =
            |reason: &str| QueryError::InvalidLabelSelector { selector: input.to_string(), reason: reason.to_string() };
        let mut p = SelectorParser { chars: input.chars().collect(), pos: 0 };
        let mut requirements = Vec::new();
        p.skip_ws();
        if p.at_end() {
            return Ok(Self { requirements });
        }
        loop {
            requirements.push(p.selector().map_err(fail)?);
            p.skip_ws();
            if p.at_end() {
                break;
            }
            if !p.eat(",") {
                return Err(fail(&format!("unexpected input at position {}", p.pos)));
            }
        }
        Ok(Self { requirements })
    }

    /// `true` if every selector holds for `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

struct SelectorParser {
    chars: Vec<char>,
    pos: usize,
}

impl SelectorParser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        let n = token.chars().count();
        if self.chars.len() >= self.pos + n && self.chars[self.pos..self.pos + n].iter().copied().eq(token.chars()) {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn term(&mut self) -> Result<String, &'static str> {
        self.skip_ws();
        let mut out = String::new();
        loop {
            match self.chars.get(self.pos) {
                Some('\\') => match self.chars.get(self.pos + 1) {
                    Some(c) => {
                        out.push(*c);
                        self.pos += 2;
                    }
                    None => return Err("dangling escape at end of input"),
                },
                Some(c) if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => {
                    out.push(*c);
                    self.pos += 1;
                }
                _ => break,
            }
        }
        if out.is_empty() { Err("expected a label term") } else { Ok(out) }
    }

    fn selector(&mut self) -> Result<LabelRequirement, &'static str> {
        let key = self.term()?;
        let after_key = self.pos;
        // Set operators need a following `(`; otherwise `in`/`notin` is not an operator.
        for (op, negate) in [("notin", true), ("in", false)] {
            self.pos = after_key;
            if self.eat(op) && self.eat("(") {
                let set = self.set_body()?;
                return Ok(if negate { LabelRequirement::NotIn(key, set) } else { LabelRequirement::In(key, set) });
            }
        }
        self.pos = after_key;
        if self.eat("==") {
            return Ok(LabelRequirement::Equals(key, self.term()?));
        }
        if self.eat("!=") {
            return Ok(LabelRequirement::NotEquals(key, self.term()?));
        }
        self.pos = after_key;
        Ok(LabelRequirement::Exists(key))
    }

    /// `term {, term} )` or `)`, after the opening parenthesis.
    fn set_body(&mut self) -> Result<Vec<String>, &'static str> {
        let mut set = Vec::new();
        if self.eat(")") {
            return Ok(set);
        }
        loop {
            set.push(self.term()?);
            if self.eat(")") {
                return Ok(set);
            }
            if !self.eat(",") {
                return Err("expected ',' or ')' in set");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn labels(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn booleans() {
        for (input, expected) in [
            ("True", Some(true)),
            ("true", Some(true)),
            ("TRUE", Some(true)),
            ("1", Some(true)),
            ("", Some(true)),
            ("False", Some(false)),
            ("false", Some(false)),
            ("0", Some(false)),
            ("yes", None),
        ] {
            assert_eq!(parse_bool(input), expected, "{input:?}");
        }
        let q = pairs(&[("force", "True"), ("force", "false"), ("scale", "x")]);
        assert_eq!(query_bool(&q, "force", false), Ok(true));
        assert_eq!(query_bool(&q, "wipe", false), Ok(false));
        assert_eq!(query_bool(&q, "missing", true), Ok(true));
        assert!(matches!(query_bool(&q, "scale", false), Err(QueryError::InvalidBool { .. })));
    }

    #[test]
    fn embeds_are_normalised() {
        let e = Embed::from_query(&pairs(&[("embed", "app.tasks"), ("embed", "apps.counts"), ("cmd", "x")]));
        assert_eq!(e, Embed { tasks: true, counts: true, deployments: true, ..Embed::default() });
        let e = Embed::from_query(&pairs(&[("embed", "group.apps.lastTaskFailure"), ("embed", "readiness")]));
        assert_eq!(e, Embed { last_task_failure: true, readiness: true, ..Embed::default() });
        let e = Embed::from_query(&pairs(&[("embed", "app.failures"), ("embed", "taskStats"), ("embed", "bogus")]));
        assert_eq!(
            e,
            Embed { tasks: true, last_task_failure: true, deployments: true, task_stats: true, ..Embed::default() }
        );
        assert_eq!(Embed::from_query(&[]), Embed::default());
        let forced = Embed { counts: true, deployments: true, ..Embed::default() };
        assert_eq!(Embed::default().with(forced), forced);
    }

    #[test]
    fn group_embeds() {
        let all = GroupEmbed { groups: true, apps: true, pods: true };
        assert_eq!(GroupEmbed::from_query(&[]), all);
        assert_eq!(
            GroupEmbed::from_query(&pairs(&[("embed", "group.apps")])),
            GroupEmbed { groups: false, apps: true, pods: false }
        );
        let none = GroupEmbed { groups: false, apps: false, pods: false };
        assert_eq!(GroupEmbed::from_query(&pairs(&[("embed", "group.apps.tasks")])), none);
    }

    #[test]
    fn label_selector_grammar() {
        use LabelRequirement::*;
        let cases: &[(&str, Vec<LabelRequirement>)] = &[
            ("", vec![]),
            ("partition", vec![Exists("partition".into())]),
            ("test == foo", vec![Equals("test".into(), "foo".into())]),
            ("test!=foo", vec![NotEquals("test".into(), "foo".into())]),
            ("environment in (production, qa)", vec![In("environment".into(), vec!["production".into(), "qa".into()])]),
            ("tier notin (frontend, backend)", vec![NotIn("tier".into(), vec!["frontend".into(), "backend".into()])]),
            (
                r"\!\!\! in (\-\-\-, \&\&\&, \+\+\+)",
                vec![In("!!!".into(), vec!["---".into(), "&&&".into(), "+++".into()])],
            ),
            (
                "a in (t1, t2, t3), b notin (t1), c, d",
                vec![
                    In("a".into(), vec!["t1".into(), "t2".into(), "t3".into()]),
                    NotIn("b".into(), vec!["t1".into()]),
                    Exists("c".into()),
                    Exists("d".into()),
                ],
            ),
            (r"k\ y==v\,w", vec![Equals("k y".into(), "v,w".into())]),
            ("index", vec![Exists("index".into())]),
            ("x in ()", vec![In("x".into(), vec![])]),
        ];
        for (input, expected) in cases {
            let parsed = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&parsed.requirements, expected, "{input}");
        }
        for bad in ["a b", "a ==", "a in (b", "a,", "=a", "a in (b c)", "a\\", "a!b"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn label_selector_matching() {
        let l = labels(&[("env", "prod"), ("tier", "web"), ("odd key", "x")]);
        let yes =
            ["env", "env==prod", "env!=qa", "env in (prod,qa)", "tier notin (db)", "env, tier==web", r"odd\ key", ""];
        let no =
            ["missing", "env==qa", "missing!=x", "env in (qa)", "missing notin (x)", "tier notin (web)", "env, nope"];
        for s in yes {
            assert!(LabelSelector::parse(s).expect("parses").matches(&l), "{s} should match");
        }
        for s in no {
            assert!(!LabelSelector::parse(s).expect("parses").matches(&l), "{s} should not match");
        }
    }
}
