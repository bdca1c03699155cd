//! Resource algebra: the quantities an agent has, an offer carries and a task uses.
//!
//! Scalars are fixed-point with three decimals (as Mesos keeps them), so adding and subtracting
//! thousands of `0.01` cpus never drifts. Every quantity is keyed by `(role, name)`: `*` is
//! unreserved, anything else a static reservation.

use crate::messages::{Range, Resource, ValueType};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const MILLI: f64 = 1000.0;

type Key = (String, String);

/// A bag of resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceSet {
    scalars: BTreeMap<Key, i64>,
    ranges: BTreeMap<Key, Vec<(u64, u64)>>,
    sets: BTreeMap<Key, BTreeSet<String>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceError {
    #[error("resource '{0}': {1}")]
    Invalid(String, String),
    #[error("cannot parse resources '{0}': {1}")]
    Parse(String, String),
}

fn to_milli(v: f64) -> i64 {
    (v * MILLI).round() as i64
}

fn from_milli(v: i64) -> f64 {
    v as f64 / MILLI
}

impl ResourceSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.scalars.values().all(|v| *v == 0)
            && self.ranges.values().all(Vec::is_empty)
            && self.sets.values().all(BTreeSet::is_empty)
    }

    pub fn add_scalar(&mut self, role: &str, name: &str, value: f64) {
        let milli = to_milli(value);
        if milli != 0 {
            *self.scalars.entry((role.to_string(), name.to_string())).or_default() += milli;
        }
    }

    pub fn add_ranges(&mut self, role: &str, name: &str, ranges: &[(u64, u64)]) {
        if ranges.is_empty() {
            return;
        }
        let entry = self.ranges.entry((role.to_string(), name.to_string())).or_default();
        entry.extend_from_slice(ranges);
        normalize(entry);
    }

    pub fn add_set(&mut self, role: &str, name: &str, items: impl IntoIterator<Item = String>) {
        let items: Vec<String> = items.into_iter().collect();
        if !items.is_empty() {
            self.sets.entry((role.to_string(), name.to_string())).or_default().extend(items);
        }
    }

    /// The amount of scalar `name` over every role.
    pub fn scalar(&self, name: &str) -> f64 {
        from_milli(self.scalars.iter().filter(|((_, n), _)| n == name).map(|(_, v)| *v).sum())
    }

    /// All ranges of `name` over every role.
    pub fn ranges_of(&self, name: &str) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64)> =
            self.ranges.iter().filter(|((_, n), _)| n == name).flat_map(|(_, r)| r.iter().copied()).collect();
        normalize(&mut all);
        all
    }

    /// The roles any resource here is reserved for, `*` included.
    pub fn roles(&self) -> BTreeSet<String> {
        self.scalars.keys().chain(self.ranges.keys()).chain(self.sets.keys()).map(|(r, _)| r.clone()).collect()
    }

    /// The part usable by `role`: its reservations plus the unreserved resources.
    pub fn allocatable_to(&self, role: &str) -> ResourceSet {
        let keep = |(r, _): &Key| r == "*" || r == role;
        ResourceSet {
            scalars: self.scalars.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), *v)).collect(),
            ranges: self.ranges.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            sets: self.sets.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    pub fn add(&mut self, other: &ResourceSet) {
        // Keys are cloned only when they are new here: summing the resources of thousands of
        // tasks (the master's allocation) would otherwise allocate two strings per addition.
        for (k, v) in other.scalars.iter().filter(|(_, v)| **v != 0) {
            match self.scalars.get_mut(k) {
                Some(have) => *have += v,
                None => {
                    self.scalars.insert(k.clone(), *v);
                }
            }
        }
        for (k, v) in other.ranges.iter().filter(|(_, v)| !v.is_empty()) {
            let entry = match self.ranges.get_mut(k) {
                Some(entry) => entry,
                None => self.ranges.entry(k.clone()).or_default(),
            };
            entry.extend_from_slice(v);
            normalize(entry);
        }
        for (k, v) in other.sets.iter().filter(|(_, v)| !v.is_empty()) {
            match self.sets.get_mut(k) {
                Some(have) => have.extend(v.iter().cloned()),
                None => {
                    self.sets.insert(k.clone(), v.clone());
                }
            }
        }
    }

    /// Whether every quantity of `other` is available here (same roles).
    pub fn contains(&self, other: &ResourceSet) -> bool {
        other.scalars.iter().all(|(k, v)| *v <= 0 || self.scalars.get(k).copied().unwrap_or(0) >= *v)
            && other.ranges.iter().all(|(k, v)| {
                let have = self.ranges.get(k).map(Vec::as_slice).unwrap_or(&[]);
                v.iter().all(|r| range_covered(have, *r))
            })
            && other.sets.iter().all(|(k, v)| self.sets.get(k).is_some_and(|have| v.is_subset(have)))
    }

    /// Takes up to `amount` of scalar `name` out of this set, from reserved roles before the
    /// unreserved `*` (so a split of a match keeps its reservations together), and returns
    /// what it took.
    pub fn take_scalar(&mut self, name: &str, amount: f64) -> ResourceSet {
        let mut taken = ResourceSet::new();
        let mut missing = to_milli(amount);
        let mut keys: Vec<Key> = self.scalars.keys().filter(|(_, n)| n == name).cloned().collect();
        keys.sort_by_key(|(role, _)| role == "*");
        for key in keys {
            if missing <= 0 {
                break;
            }
            let Some(have) = self.scalars.get_mut(&key) else { continue };
            let part = (*have).min(missing);
            *have -= part;
            missing -= part;
            if part > 0 {
                taken.scalars.insert(key, part);
            }
        }
        self.scalars.retain(|_, v| *v > 0);
        taken
    }

    /// Takes the single value `item` of range resource `name` (one port) out of this set, with
    /// the role it has here; empty if it is not here.
    pub fn take_range_item(&mut self, name: &str, item: u64) -> ResourceSet {
        let mut taken = ResourceSet::new();
        let found = self
            .ranges
            .iter()
            .filter(|((_, n), _)| n == name)
            .find(|(_, ranges)| range_covered(ranges, (item, item)))
            .map(|(k, _)| k.clone());
        if let Some(key) = found {
            if let Some(have) = self.ranges.get_mut(&key) {
                remove_range(have, (item, item));
            }
            taken.ranges.insert(key, vec![(item, item)]);
            self.ranges.retain(|_, v| !v.is_empty());
        }
        taken
    }

    /// Removes `other`; quantities that are not present are clamped to zero. Callers check
    /// [`ResourceSet::contains`] first where over-use would be a bug.
    pub fn subtract(&mut self, other: &ResourceSet) {
        for (k, v) in &other.scalars {
            if let Some(have) = self.scalars.get_mut(k) {
                *have = (*have - v).max(0);
            }
        }
        for (k, v) in &other.ranges {
            if let Some(have) = self.ranges.get_mut(k) {
                for r in v {
                    remove_range(have, *r);
                }
            }
        }
        for (k, v) in &other.sets {
            if let Some(have) = self.sets.get_mut(k) {
                have.retain(|i| !v.contains(i));
            }
        }
        self.scalars.retain(|_, v| *v > 0);
        self.ranges.retain(|_, v| !v.is_empty());
        self.sets.retain(|_, v| !v.is_empty());
    }

    /// Converts wire resources. Revocable, shared and disk-volume resources are kept by name and
    /// role only; this project does not offer them.
    pub fn from_wire(resources: &[Resource]) -> Result<ResourceSet, ResourceError> {
        let mut set = ResourceSet::new();
        for r in resources {
            let role = r.reserved_role();
            let invalid = |m: &str| ResourceError::Invalid(r.name.clone(), m.to_string());
            if r.name.is_empty() {
                return Err(invalid("name must not be empty"));
            }
            match r.kind {
                ValueType::Scalar => {
                    let v = r.scalar.ok_or_else(|| invalid("SCALAR without 'scalar'"))?.value;
                    if !v.is_finite() || v < 0.0 {
                        return Err(invalid("scalar must be a non-negative number"));
                    }
                    set.add_scalar(&role, &r.name, v);
                }
                ValueType::Ranges => {
                    let ranges = r.ranges.as_ref().ok_or_else(|| invalid("RANGES without 'ranges'"))?;
                    if ranges.range.iter().any(|x| x.begin > x.end) {
                        return Err(invalid("range begin is after its end"));
                    }
                    let pairs: Vec<(u64, u64)> = ranges.range.iter().map(|x| (x.begin, x.end)).collect();
                    set.add_ranges(&role, &r.name, &pairs);
                }
                ValueType::Set => {
                    let items = r.set.as_ref().ok_or_else(|| invalid("SET without 'set'"))?;
                    set.add_set(&role, &r.name, items.item.iter().cloned());
                }
                ValueType::Text => return Err(invalid("resources may not be TEXT")),
            }
        }
        Ok(set)
    }

    /// Wire resources in the pre-refinement format (`role` set on every resource).
    pub fn to_wire(&self) -> Vec<Resource> {
        let mut out = Vec::new();
        for ((role, name), v) in &self.scalars {
            if *v > 0 {
                out.push(Resource::scalar(name, from_milli(*v), role));
            }
        }
        for ((role, name), v) in &self.ranges {
            if !v.is_empty() {
                out.push(Resource::ranges(name, v.iter().map(|(b, e)| Range { begin: *b, end: *e }).collect(), role));
            }
        }
        for ((role, name), v) in &self.sets {
            if !v.is_empty() {
                out.push(Resource::set(name, v.iter().cloned().collect(), role));
            }
        }
        out
    }

    /// The flat v0 form used by `/state` endpoints: `{"cpus":4.0,"ports":"[31000-32000]"}`.
    /// Every role is summed under the plain name.
    pub fn to_flat_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for name in ["cpus", "gpus", "mem", "disk"] {
            out.insert(name.to_string(), serde_json::json!(self.scalar(name)));
        }
        let scalar_names: BTreeSet<&String> = self.scalars.keys().map(|(_, n)| n).collect();
        for name in scalar_names {
            out.insert(name.clone(), serde_json::json!(self.scalar(name)));
        }
        let range_names: BTreeSet<&String> = self.ranges.keys().map(|(_, n)| n).collect();
        for name in range_names {
            out.insert(name.clone(), serde_json::json!(format_ranges(&self.ranges_of(name))));
        }
        let set_names: BTreeSet<&String> = self.sets.keys().map(|(_, n)| n).collect();
        for name in set_names {
            let items: BTreeSet<&String> =
                self.sets.iter().filter(|((_, n), _)| n == name).flat_map(|(_, s)| s.iter()).collect();
            let joined: Vec<&str> = items.into_iter().map(String::as_str).collect();
            out.insert(name.clone(), serde_json::json!(format!("{{{}}}", joined.join(","))));
        }
        out
    }

    /// Parses Mesos' text syntax: `cpus:2;mem(web):512;ports:[31000-32000];bugs:{a,b}`.
    pub fn parse_text(text: &str) -> Result<ResourceSet, ResourceError> {
        let err = |m: &str| ResourceError::Parse(text.to_string(), m.to_string());
        let mut set = ResourceSet::new();
        for part in text.split([';', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once(':').ok_or_else(|| err("expected name:value"))?;
            let key: String = key.chars().filter(|c| !c.is_whitespace()).collect();
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            let (name, role) = match key.split_once('(') {
                Some((name, rest)) => {
                    let role = rest.strip_suffix(')').ok_or_else(|| err("unclosed role"))?;
                    (name.to_string(), if role.is_empty() { "*".to_string() } else { role.to_string() })
                }
                None => (key.clone(), "*".to_string()),
            };
            if name.is_empty() {
                return Err(err("empty resource name"));
            }
            if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                set.add_ranges(&role, &name, &parse_ranges(inner).map_err(|m| err(&m))?);
            } else if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                set.add_set(&role, &name, inner.split(',').filter(|s| !s.is_empty()).map(str::to_string));
            } else {
                let v: f64 = value.parse().map_err(|_| err(&format!("'{value}' is not a number")))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(err("scalar must be a non-negative number"));
                }
                set.add_scalar(&role, &name, v);
            }
        }
        Ok(set)
    }

    /// Whether a scalar resource kind is present at all (any role).
    pub fn has(&self, name: &str) -> bool {
        self.scalars.keys().chain(self.ranges.keys()).chain(self.sets.keys()).any(|(_, n)| n == name)
    }
}

fn parse_ranges(inner: &str) -> Result<Vec<(u64, u64)>, String> {
    let mut out = Vec::new();
    for part in inner.split(',').filter(|p| !p.is_empty()) {
        let (b, e) = part.split_once('-').unwrap_or((part, part));
        let b: u64 = b.parse().map_err(|_| format!("bad range '{part}'"))?;
        let e: u64 = e.parse().map_err(|_| format!("bad range '{part}'"))?;
        if b > e {
            return Err(format!("range '{part}' begins after it ends"));
        }
        out.push((b, e));
    }
    Ok(out)
}

/// `[31000-31005, 31010-31010]`.
pub fn format_ranges(ranges: &[(u64, u64)]) -> String {
    let mut s = String::from("[");
    for (i, (b, e)) in ranges.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{b}-{e}");
    }
    s.push(']');
    s
}

fn normalize(ranges: &mut Vec<(u64, u64)>) {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for &(b, e) in ranges.iter() {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    *ranges = out;
}

fn range_covered(have: &[(u64, u64)], (b, e): (u64, u64)) -> bool {
    have.iter().any(|&(hb, he)| hb <= b && e <= he)
}

fn remove_range(have: &mut Vec<(u64, u64)>, (b, e): (u64, u64)) {
    let mut out = Vec::with_capacity(have.len() + 1);
    for &(hb, he) in have.iter() {
        if he < b || hb > e {
            out.push((hb, he));
            continue;
        }
        if hb < b {
            out.push((hb, b - 1));
        }
        if he > e {
            out.push((e + 1, he));
        }
    }
    *have = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parts_are_taken_reserved_first_and_add_up_to_the_whole() {
        let whole =
            ResourceSet::parse_text("cpus(web):0.5;cpus:1;mem:256;ports:[31000-31001];ports(web):[32000-32000]")
                .expect("parse");
        let mut rest = whole.clone();
        let cpus = rest.take_scalar("cpus", 0.75);
        assert_eq!(cpus, ResourceSet::parse_text("cpus(web):0.5;cpus:0.25").expect("parse"));
        let port = rest.take_range_item("ports", 32000);
        assert_eq!(port, ResourceSet::parse_text("ports(web):[32000-32000]").expect("parse"));
        assert!(rest.take_range_item("ports", 40000).is_empty());
        assert_eq!(rest.take_scalar("mem", 300.0).scalar("mem"), 256.0);
        let mut sum = rest.clone();
        sum.add(&cpus);
        sum.add(&port);
        sum.add(&ResourceSet::parse_text("mem:256").expect("parse"));
        assert_eq!(sum, whole);
    }

    #[test]
    fn parses_mesos_text() {
        let r = ResourceSet::parse_text("cpus:2;mem:512;ports:[31000-31005,32000-32000];cpus(web):1.5;bugs:{a,b}")
            .expect("parse");
        assert_eq!(r.scalar("cpus"), 3.5);
        assert_eq!(r.allocatable_to("other").scalar("cpus"), 2.0);
        assert_eq!(r.allocatable_to("web").scalar("cpus"), 3.5);
        assert_eq!(r.ranges_of("ports"), vec![(31000, 31005), (32000, 32000)]);
        assert_eq!(r.to_flat_json()["ports"], "[31000-31005, 32000-32000]");
        assert_eq!(r.to_flat_json()["bugs"], "{a,b}");
        assert!(ResourceSet::parse_text("cpus:x").is_err());
        assert!(ResourceSet::parse_text("cpus:-1").is_err());
        assert!(ResourceSet::parse_text("ports:[5-1]").is_err());
    }

    #[test]
    fn fixed_point_does_not_drift() {
        let mut total = ResourceSet::parse_text("cpus:2").expect("parse");
        let task = ResourceSet::parse_text("cpus:0.01").expect("parse");
        for _ in 0..200 {
            assert!(total.contains(&task));
            total.subtract(&task);
        }
        assert!(!total.contains(&task));
        assert!(total.is_empty());
    }

    #[test]
    fn port_ranges_split_and_merge() {
        let mut r = ResourceSet::parse_text("ports:[31000-32000]").expect("parse");
        let used = ResourceSet::parse_text("ports:[31005-31005]").expect("parse");
        assert!(r.contains(&used));
        r.subtract(&used);
        assert_eq!(r.ranges_of("ports"), vec![(31000, 31004), (31006, 32000)]);
        assert!(!r.contains(&used));
        r.add(&used);
        assert_eq!(r.ranges_of("ports"), vec![(31000, 32000)]);
    }

    #[test]
    fn wire_round_trip_keeps_roles() {
        let r = ResourceSet::parse_text("cpus:2;cpus(web):1;mem:128;ports:[1-2]").expect("parse");
        let wire = r.to_wire();
        assert!(wire.iter().all(|w| w.role.is_some()));
        assert_eq!(ResourceSet::from_wire(&wire).expect("from wire"), r);
    }

    proptest! {
        #[test]
        fn add_then_subtract_is_identity(
            a in proptest::collection::vec((0u64..100, 0u64..20), 0..6),
            b in proptest::collection::vec((0u64..100, 0u64..20), 0..6),
            c1 in 0u32..10_000, c2 in 0u32..10_000,
        ) {
            let mut x = ResourceSet::new();
            x.add_scalar("*", "cpus", f64::from(c1) / 1000.0);
            x.add_ranges("*", "ports", &a.iter().map(|(s, l)| (*s, s + l)).collect::<Vec<_>>());
            let mut y = ResourceSet::new();
            y.add_scalar("*", "cpus", f64::from(c2) / 1000.0);
            // y's ranges are disjoint from x's so that add/subtract are inverse.
            y.add_ranges("*", "ports", &b.iter().map(|(s, l)| (s + 1000, s + 1000 + l)).collect::<Vec<_>>());
            let mut z = x.clone();
            z.add(&y);
            prop_assert!(z.contains(&x));
            prop_assert!(z.contains(&y));
            z.subtract(&y);
            prop_assert_eq!(z, x);
        }
    }
}
