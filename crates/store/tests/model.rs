//! Property test: random sequences of claims and batches, applied to a store and to a plain
//! `BTreeMap` model written independently of the crate; results and full state must agree
//! after every step. Run against the in-memory store and against redb.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::collections::BTreeMap;
use store::{
    Batch, Entry, Expect, Generation, InMemoryStore, Namespace, Op, Options, RedbStore, Revision, Store, StoreError,
};

const MAX_VERSIONS: usize = 3;
const NAMESPACES: [&str; 3] = ["apps", "app", "instances"];
const KEYS: [&str; 4] = ["/a", "/a/b", "/b", "/ü"];

#[derive(Debug, Clone)]
enum Step {
    Claim(u64),
    /// `gen_offset`: -1 stale, 0 current, 1 unclaimed.
    Apply {
        gen_offset: i8,
        ops: Vec<Op>,
    },
}

fn ns(i: usize) -> Namespace {
    Namespace::new(NAMESPACES[i]).unwrap()
}

fn expect_strategy() -> impl Strategy<Value = Expect> {
    prop_oneof![
        4 => Just(Expect::Any),
        1 => Just(Expect::Absent),
        1 => Just(Expect::Present),
        1 => (1u64..4).prop_map(|r| Expect::Revision(Revision(r))),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let nk = (0..NAMESPACES.len(), 0..KEYS.len());
    let value = proptest::collection::vec(any::<u8>(), 0..6);
    let version = (0u8..8).prop_map(|v| format!("2024-01-0{v}T00:00:00.000Z"));
    prop_oneof![
        4 => (nk.clone(), value.clone(), expect_strategy()).prop_map(|((n, k), value, expect)| Op::Put {
            namespace: ns(n),
            key: KEYS[k].to_owned(),
            value,
            expect
        }),
        2 => (nk.clone(), expect_strategy()).prop_map(|((n, k), expect)| Op::Delete {
            namespace: ns(n),
            key: KEYS[k].to_owned(),
            expect
        }),
        3 => (nk.clone(), version.clone(), value).prop_map(|((n, k), version, value)| Op::PutVersion {
            namespace: ns(n),
            key: KEYS[k].to_owned(),
            version,
            value
        }),
        1 => (nk.clone(), version).prop_map(|((n, k), version)| Op::DeleteVersion {
            namespace: ns(n),
            key: KEYS[k].to_owned(),
            version
        }),
        1 => nk.prop_map(|(n, k)| Op::DeleteAllVersions { namespace: ns(n), key: KEYS[k].to_owned() }),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0u64..6).prop_map(Step::Claim),
        8 => (prop_oneof![1 => Just(-1i8), 8 => Just(0i8), 1 => Just(1i8)], proptest::collection::vec(op_strategy(), 0..6))
            .prop_map(|(gen_offset, ops)| Step::Apply { gen_offset, ops }),
    ]
}

/// The specification, spelled out directly.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    generation: u64,
    records: BTreeMap<(String, String), (Vec<u8>, u64)>,
    versions: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
}

impl Model {
    fn claim(&mut self, g: u64) -> Result<(), StoreError> {
        if g <= self.generation {
            return Err(StoreError::Fenced { current: Generation(self.generation), attempted: Generation(g) });
        }
        self.generation = g;
        Ok(())
    }

    fn apply(&mut self, g: u64, ops: &[Op]) -> Result<(), StoreError> {
        if g != self.generation {
            return Err(StoreError::Fenced { current: Generation(self.generation), attempted: Generation(g) });
        }
        let mut next = self.clone();
        for op in ops {
            match op {
                Op::Put { namespace, key, value, expect } => {
                    let id = (namespace.to_string(), key.clone());
                    let found = next.records.get(&id).map(|(_, rev)| *rev);
                    check(namespace, key, *expect, found)?;
                    next.records.insert(id, (value.clone(), found.unwrap_or(0) + 1));
                }
                Op::Delete { namespace, key, expect } => {
                    let id = (namespace.to_string(), key.clone());
                    check(namespace, key, *expect, next.records.get(&id).map(|(_, rev)| *rev))?;
                    next.records.remove(&id);
                }
                Op::PutVersion { namespace, key, version, value } => {
                    let of_key = next.versions.entry((namespace.to_string(), key.clone())).or_default();
                    of_key.insert(version.clone(), value.clone());
                    while of_key.len() > MAX_VERSIONS {
                        of_key.pop_first();
                    }
                }
                Op::DeleteVersion { namespace, key, version } => {
                    let id = (namespace.to_string(), key.clone());
                    if let Some(of_key) = next.versions.get_mut(&id) {
                        of_key.remove(version);
                        if of_key.is_empty() {
                            next.versions.remove(&id);
                        }
                    }
                }
                Op::DeleteAllVersions { namespace, key } => {
                    next.versions.remove(&(namespace.to_string(), key.clone()));
                }
            }
        }
        *self = next;
        Ok(())
    }
}

fn check(namespace: &Namespace, key: &str, expect: Expect, found: Option<u64>) -> Result<(), StoreError> {
    let ok = match expect {
        Expect::Any => true,
        Expect::Absent => found.is_none(),
        Expect::Present => found.is_some(),
        Expect::Revision(Revision(r)) => found == Some(r),
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            namespace: namespace.to_string(),
            key: key.to_owned(),
            expected: expect,
            found: found.map(Revision),
        })
    }
}

/// Compares everything observable.
fn assert_same(store: &dyn Store, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.generation().unwrap(), Generation(model.generation));
    for (n, name) in NAMESPACES.iter().enumerate() {
        let namespace = ns(n);
        let expected: Vec<(String, Entry)> = model
            .records
            .iter()
            .filter(|((mns, _), _)| mns == name)
            .map(|((_, k), (v, r))| (k.clone(), Entry { value: v.clone(), revision: Revision(*r) }))
            .collect();
        prop_assert_eq!(store.list(&namespace).unwrap(), expected.clone());
        prop_assert_eq!(
            store.list_keys(&namespace).unwrap(),
            expected.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
        );
        let versioned: Vec<String> =
            model.versions.keys().filter(|(mns, _)| mns == name).map(|(_, k)| k.clone()).collect();
        prop_assert_eq!(store.list_versioned_keys(&namespace).unwrap(), versioned);
        for key in KEYS {
            let record = model.records.get(&(name.to_string(), key.to_owned()));
            let expected = record.map(|(v, r)| Entry { value: v.clone(), revision: Revision(*r) });
            prop_assert_eq!(store.get(&namespace, key).unwrap(), expected);
            let of_key = model.versions.get(&(name.to_string(), key.to_owned()));
            let versions: Vec<String> = of_key.map(|m| m.keys().cloned().collect()).unwrap_or_default();
            prop_assert_eq!(store.list_versions(&namespace, key).unwrap(), versions.clone());
            for version in versions {
                let expected = of_key.and_then(|m| m.get(&version)).cloned();
                prop_assert_eq!(store.get_version(&namespace, key, &version).unwrap(), expected);
            }
        }
    }
    Ok(())
}

fn run(store: &dyn Store, steps: &[Step]) -> Result<Model, TestCaseError> {
    let mut model = Model::default();
    for step in steps {
        let (actual, expected) = match step {
            Step::Claim(g) => (store.claim_generation(Generation(*g)), model.claim(*g)),
            Step::Apply { gen_offset, ops } => {
                let g = model.generation.saturating_add_signed(i64::from(*gen_offset));
                (store.apply(Generation(g), &Batch::from(ops.clone())), model.apply(g, ops))
            }
        };
        prop_assert_eq!(actual, expected, "step {:?}", step);
        assert_same(store, &model)?;
    }
    Ok(model)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn memory_store_matches_the_model(steps in proptest::collection::vec(step_strategy(), 1..40)) {
        let store = InMemoryStore::with_options(Options { max_versions: MAX_VERSIONS }).unwrap();
        run(&store, &steps)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn redb_store_matches_the_model(steps in proptest::collection::vec(step_strategy(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.redb");
        let store = RedbStore::open_with(&path, Options { max_versions: MAX_VERSIONS }).unwrap();
        let model = run(&store, &steps)?;
        // And the same state after a reopen.
        drop(store);
        let reopened = RedbStore::open_with(&path, Options { max_versions: MAX_VERSIONS }).unwrap();
        assert_same(&reopened, &model)?;
    }
}
