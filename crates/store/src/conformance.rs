//! The conformance suite every [`Store`] backend must pass (feature `conformance`): each check is
//! a function of a [`Backend`] (a way to open fresh, empty stores). A backend's tests run all of
//! them with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! struct Memory;
//! impl store::conformance::Backend for Memory {
//!     fn open(&self, options: store::Options) -> std::sync::Arc<dyn store::Store> {
//!         std::sync::Arc::new(store::InMemoryStore::with_options(options).unwrap())
//!     }
//! }
//! store::conformance_tests!(Memory);
//! ```
//!
//! The checks panic on the first difference (they are tests).

#![allow(clippy::unwrap_used)]

use crate::{Batch, Entry, Expect, Generation, Namespace, Op, Options, Revision, Store, StoreError, limits};
use std::sync::Arc;

/// Opens fresh, empty stores of one backend. Each check opens the stores it needs.
pub trait Backend {
    /// A fresh, empty store with `options`.
    fn open(&self, options: Options) -> Arc<dyn Store>;

    /// A fresh, empty store with the default options.
    fn fresh(&self) -> Arc<dyn Store> {
        self.open(Options::default())
    }
}

fn entry(value: &[u8], revision: u64) -> Option<Entry> {
    Some(Entry { value: value.to_vec(), revision: Revision(revision) })
}

fn value_of(store: &dyn Store, ns: &Namespace, key: &str) -> Option<Vec<u8>> {
    store.get(ns, key).unwrap().map(|e| e.value)
}

fn leader(store: &dyn Store) -> Generation {
    store.claim_next_generation().unwrap()
}

// ---- checks ---------------------------------------------------------------------------------

/// Records: create, replace (revision + 1), delete, re-create (revision 1 again); namespaces are independent.
pub fn put_get_delete(backend: &dyn Backend) {
    let s = backend.fresh();
    let g = leader(s.as_ref());
    let apps = Namespace::APPS;
    assert_eq!(s.get(&apps, "/a").unwrap(), None);
    s.put(g, &apps, "/a", b"one".to_vec()).unwrap();
    assert_eq!(s.get(&apps, "/a").unwrap(), entry(b"one", 1));
    s.put(g, &apps, "/a", b"two".to_vec()).unwrap();
    assert_eq!(s.get(&apps, "/a").unwrap(), entry(b"two", 2));
    // Same key, other namespace: independent.
    s.put(g, &Namespace::INSTANCES, "/a", b"inst".to_vec()).unwrap();
    assert_eq!(s.get(&Namespace::INSTANCES, "/a").unwrap(), entry(b"inst", 1));
    s.delete(g, &apps, "/a").unwrap();
    assert_eq!(s.get(&apps, "/a").unwrap(), None);
    assert_eq!(value_of(s.as_ref(), &Namespace::INSTANCES, "/a"), Some(b"inst".to_vec()));
    // Deleting a missing record is a no-op; re-creating starts at revision 1 again.
    s.delete(g, &apps, "/a").unwrap();
    s.put(g, &apps, "/a", Vec::new()).unwrap();
    assert_eq!(s.get(&apps, "/a").unwrap(), entry(b"", 1));
}

/// Listing a namespace: sorted keys, no leaking between namespaces that share a prefix, versions not listed as records.
pub fn list_namespace(backend: &dyn Backend) {
    let s = backend.fresh();
    let g = leader(s.as_ref());
    let app = Namespace::new("app").unwrap(); // a prefix of "apps"
    let apps_x = Namespace::new("apps-x").unwrap(); // "apps" is a prefix of it
    let keys = ["/z", "/a/b", "/a", "/ü/unicode", "/a b", "/a/b/c", "x"];
    for (i, key) in keys.iter().enumerate() {
        s.put(g, &Namespace::APPS, key, vec![i as u8]).unwrap();
    }
    s.put(g, &app, "/other", b"x".to_vec()).unwrap();
    s.put(g, &apps_x, "/other", b"y".to_vec()).unwrap();
    s.put_version(g, &Namespace::APPS, "/versioned-only", "v1", b"v".to_vec()).unwrap();
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(s.list_keys(&Namespace::APPS).unwrap(), sorted);
    let listed = s.list(&Namespace::APPS).unwrap();
    assert_eq!(listed.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), sorted);
    for (key, e) in &listed {
        let i = keys.iter().position(|k| k == key).unwrap();
        assert_eq!(e, &Entry { value: vec![i as u8], revision: Revision(1) });
    }
    assert_eq!(s.list_keys(&app).unwrap(), vec!["/other".to_owned()]);
    assert_eq!(s.list_keys(&apps_x).unwrap(), vec!["/other".to_owned()]);
    assert_eq!(s.list_keys(&Namespace::DEPLOYMENTS).unwrap(), Vec::<String>::new());
    assert_eq!(s.list(&Namespace::DEPLOYMENTS).unwrap(), Vec::new());
}

/// A batch is all or nothing; preconditions see earlier operations of the same batch; an empty batch succeeds.
pub fn batch_is_atomic(backend: &dyn Backend) {
    let s = backend.fresh();
    let g = leader(s.as_ref());
    s.put(g, &Namespace::APPS, "/existing", b"old".to_vec()).unwrap();
    s.put_version(g, &Namespace::APP_VERSIONS, "/existing", "v1", b"old".to_vec()).unwrap();

    // The last operation's precondition fails: nothing of the batch is visible.
    let failing = Batch::new()
        .put(Namespace::APPS, "/new", b"new".to_vec())
        .put(Namespace::APPS, "/existing", b"changed".to_vec())
        .put_version(Namespace::APP_VERSIONS, "/existing", "v2", b"changed".to_vec())
        .delete_version(Namespace::APP_VERSIONS, "/existing", "v1")
        .put(Namespace::DEPLOYMENTS, "d1", b"plan".to_vec())
        .delete(Namespace::APPS, "/existing")
        .put_if(Namespace::GROUPS, "root", b"group".to_vec(), Expect::Present);
    let err = s.apply(g, &failing).unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            namespace: "groups".to_owned(),
            key: "root".to_owned(),
            expected: Expect::Present,
            found: None
        }
    );
    assert_eq!(s.get(&Namespace::APPS, "/new").unwrap(), None);
    assert_eq!(s.get(&Namespace::APPS, "/existing").unwrap(), entry(b"old", 1));
    assert_eq!(s.list_versions(&Namespace::APP_VERSIONS, "/existing").unwrap(), vec!["v1".to_owned()]);
    assert_eq!(s.list_keys(&Namespace::DEPLOYMENTS).unwrap(), Vec::<String>::new());

    // The same batch without the failing precondition: everything at once.
    let mut ok = failing.clone();
    let mut ops = ok.ops().to_vec();
    ops.pop();
    ok = Batch::from(ops);
    s.apply(g, &ok).unwrap();
    assert_eq!(s.get(&Namespace::APPS, "/new").unwrap(), entry(b"new", 1));
    assert_eq!(s.get(&Namespace::APPS, "/existing").unwrap(), None);
    assert_eq!(s.list_versions(&Namespace::APP_VERSIONS, "/existing").unwrap(), vec!["v2".to_owned()]);
    assert_eq!(value_of(s.as_ref(), &Namespace::DEPLOYMENTS, "d1"), Some(b"plan".to_vec()));

    // Preconditions see earlier operations of the same batch.
    let seq = Batch::new()
        .put_if(Namespace::APPS, "/seq", b"1".to_vec(), Expect::Absent)
        .put_if(Namespace::APPS, "/seq", b"2".to_vec(), Expect::Revision(Revision(1)))
        .delete_if(Namespace::APPS, "/seq", Expect::Revision(Revision(2)))
        .put_if(Namespace::APPS, "/seq", b"3".to_vec(), Expect::Absent);
    s.apply(g, &seq).unwrap();
    assert_eq!(s.get(&Namespace::APPS, "/seq").unwrap(), entry(b"3", 1));
    let dup = Batch::new().put(Namespace::APPS, "/dup", b"1".to_vec()).put_if(
        Namespace::APPS,
        "/dup",
        b"2".to_vec(),
        Expect::Absent,
    );
    assert!(matches!(s.apply(g, &dup), Err(StoreError::Conflict { .. })));
    assert_eq!(s.get(&Namespace::APPS, "/dup").unwrap(), None);

    // An empty batch changes nothing and succeeds for the current generation.
    s.apply(g, &Batch::new()).unwrap();
}

/// Every precondition (`Expect`) on puts and deletes, with the exact `Conflict` error.
pub fn compare_and_set(backend: &dyn Backend) {
    let s = backend.fresh();
    let g = leader(s.as_ref());
    let ns = Namespace::FRAMEWORK_ID;
    let put_if = |value: &[u8], expect| s.apply(g, &Batch::new().put_if(ns.clone(), "id", value.to_vec(), expect));
    assert_eq!(
        put_if(b"x", Expect::Present),
        Err(StoreError::Conflict {
            namespace: ns.to_string(),
            key: "id".into(),
            expected: Expect::Present,
            found: None
        })
    );
    assert_eq!(
        put_if(b"x", Expect::Revision(Revision(1))),
        Err(StoreError::Conflict {
            namespace: ns.to_string(),
            key: "id".into(),
            expected: Expect::Revision(Revision(1)),
            found: None
        })
    );
    put_if(b"a", Expect::Absent).unwrap();
    assert_eq!(
        put_if(b"b", Expect::Absent),
        Err(StoreError::Conflict {
            namespace: ns.to_string(),
            key: "id".into(),
            expected: Expect::Absent,
            found: Some(Revision(1))
        })
    );
    put_if(b"b", Expect::Revision(Revision(1))).unwrap();
    assert!(matches!(put_if(b"c", Expect::Revision(Revision(1))), Err(StoreError::Conflict { .. })));
    put_if(b"c", Expect::Present).unwrap();
    assert_eq!(s.get(&ns, "id").unwrap(), entry(b"c", 3));
    let delete_if = |expect| s.apply(g, &Batch::new().delete_if(ns.clone(), "id", expect));
    assert!(matches!(delete_if(Expect::Revision(Revision(2))), Err(StoreError::Conflict { .. })));
    assert!(matches!(delete_if(Expect::Absent), Err(StoreError::Conflict { .. })));
    delete_if(Expect::Revision(Revision(3))).unwrap();
    assert!(matches!(delete_if(Expect::Present), Err(StoreError::Conflict { .. })));
    delete_if(Expect::Absent).unwrap();
    assert_eq!(s.get(&ns, "id").unwrap(), None);
}

/// Versions beyond the default limit (50) are pruned, oldest first, also within one batch.
pub fn versions_are_pruned_at_the_default_limit(backend: &dyn Backend) {
    let s = backend.fresh();
    assert_eq!(s.max_versions(), limits::DEFAULT_MAX_VERSIONS);
    let g = leader(s.as_ref());
    let ns = Namespace::APP_VERSIONS;
    let version = |i: usize| format!("2024-05-01T12:00:{:02}.{:03}Z", i / 1000, i % 1000);
    for i in 0..60 {
        s.put_version(g, &ns, "/app", &version(i), format!("def {i}").into_bytes()).unwrap();
        let expected: Vec<String> = (i.saturating_sub(49)..=i).map(version).collect();
        assert_eq!(s.list_versions(&ns, "/app").unwrap(), expected, "after version {i}");
    }
    assert_eq!(s.get_version(&ns, "/app", &version(9)).unwrap(), None);
    assert_eq!(s.get_version(&ns, "/app", &version(10)).unwrap(), Some(b"def 10".to_vec()));
    assert_eq!(s.get_version(&ns, "/app", &version(59)).unwrap(), Some(b"def 59".to_vec()));
    // A batch adding several versions prunes as it goes.
    let mut batch = Batch::new();
    for i in 60..70 {
        batch = batch.put_version(ns.clone(), "/app", version(i), format!("def {i}").into_bytes());
    }
    s.apply(g, &batch).unwrap();
    assert_eq!(s.list_versions(&ns, "/app").unwrap(), (20..70).map(version).collect::<Vec<_>>());
}

/// Versioned keys with a limit of 3: replacing, pruning, deleting one or all versions, keys sharing prefixes.
pub fn versions(backend: &dyn Backend) {
    let s = backend.open(Options { max_versions: 3 });
    let g = leader(s.as_ref());
    let ns = Namespace::APP_VERSIONS;
    for v in ["v2", "v1", "v3"] {
        s.put_version(g, &ns, "/a", v, v.as_bytes().to_vec()).unwrap();
    }
    assert_eq!(s.list_versions(&ns, "/a").unwrap(), ["v1", "v2", "v3"]);
    // Replacing an existing version prunes nothing.
    s.put_version(g, &ns, "/a", "v2", b"v2'".to_vec()).unwrap();
    assert_eq!(s.list_versions(&ns, "/a").unwrap(), ["v1", "v2", "v3"]);
    assert_eq!(s.get_version(&ns, "/a", "v2").unwrap(), Some(b"v2'".to_vec()));
    // A fourth version evicts the oldest; a version older than all kept ones is evicted at once.
    s.put_version(g, &ns, "/a", "v4", b"v4".to_vec()).unwrap();
    assert_eq!(s.list_versions(&ns, "/a").unwrap(), ["v2", "v3", "v4"]);
    s.put_version(g, &ns, "/a", "v0", b"v0".to_vec()).unwrap();
    assert_eq!(s.list_versions(&ns, "/a").unwrap(), ["v2", "v3", "v4"]);
    assert_eq!(s.get_version(&ns, "/a", "v0").unwrap(), None);
    // Keys sharing a prefix, and records of the same name, are independent.
    s.put_version(g, &ns, "/a/b", "v1", b"ab".to_vec()).unwrap();
    s.put_version(g, &ns, "/a b", "v1", b"a b".to_vec()).unwrap();
    s.put(g, &ns, "/a", b"record".to_vec()).unwrap();
    assert_eq!(s.list_versions(&ns, "/a").unwrap(), ["v2", "v3", "v4"]);
    assert_eq!(s.list_versions(&ns, "/a/b").unwrap(), ["v1"]);
    assert_eq!(s.list_versioned_keys(&ns).unwrap(), ["/a", "/a b", "/a/b"]);
    assert_eq!(s.list_keys(&ns).unwrap(), ["/a"]);
    assert_eq!(s.list_versioned_keys(&Namespace::POD_VERSIONS).unwrap(), Vec::<String>::new());
    s.apply(g, &Batch::new().delete_version(ns.clone(), "/a", "v3").delete_version(ns.clone(), "/a", "nope")).unwrap();
    assert_eq!(s.list_versions(&ns, "/a").unwrap(), ["v2", "v4"]);
    s.apply(g, &Batch::new().delete_all_versions(ns.clone(), "/a")).unwrap();
    assert_eq!(s.list_versions(&ns, "/a").unwrap(), Vec::<String>::new());
    assert_eq!(s.list_versioned_keys(&ns).unwrap(), ["/a b", "/a/b"]);
    assert_eq!(s.get(&ns, "/a").unwrap(), entry(b"record", 1));
    assert_eq!(s.list_versions(&ns, "/missing").unwrap(), Vec::<String>::new());
    assert_eq!(s.get_version(&ns, "/missing", "v1").unwrap(), None);
}

/// The fencing rules: only the registered generation writes, claims must be newer, a newer claim fences the older writer.
pub fn generation_fencing(backend: &dyn Backend) {
    let s = backend.fresh();
    let apps = Namespace::APPS;
    assert_eq!(s.generation().unwrap(), Generation::ZERO);
    s.put(Generation::ZERO, &apps, "/before", b"0".to_vec()).unwrap();
    s.claim_generation(Generation(1)).unwrap();
    assert_eq!(s.generation().unwrap(), Generation(1));
    let fenced = |attempted| StoreError::Fenced { current: Generation(1), attempted: Generation(attempted) };
    assert_eq!(s.put(Generation(0), &apps, "/x", b"stale".to_vec()), Err(fenced(0)));
    assert_eq!(s.put(Generation(2), &apps, "/x", b"early".to_vec()), Err(fenced(2)));
    assert_eq!(s.delete(Generation(0), &apps, "/before"), Err(fenced(0)));
    assert_eq!(s.put_version(Generation(0), &apps, "/x", "v", Vec::new()), Err(fenced(0)));
    assert_eq!(s.apply(Generation(0), &Batch::new()), Err(fenced(0)));
    assert_eq!(s.claim_generation(Generation(1)), Err(fenced(1)));
    assert_eq!(s.claim_generation(Generation(0)), Err(fenced(0)));
    assert_eq!(s.get(&apps, "/x").unwrap(), None);
    assert_eq!(s.list_versioned_keys(&apps).unwrap(), Vec::<String>::new());
    assert_eq!(value_of(s.as_ref(), &apps, "/before"), Some(b"0".to_vec()));
    s.put(Generation(1), &apps, "/x", b"one".to_vec()).unwrap();

    // Two leaders on one store: the newer claim fences the older writer, mid-flight.
    let old = Generation(1);
    let new = s.claim_next_generation().unwrap();
    assert_eq!(new, Generation(2));
    assert_eq!(
        s.apply(old, &Batch::new().put(apps.clone(), "/x", b"lost".to_vec())),
        Err(StoreError::Fenced { current: new, attempted: old })
    );
    s.apply(new, &Batch::new().put(apps.clone(), "/x", b"two".to_vec())).unwrap();
    assert_eq!(s.get(&apps, "/x").unwrap(), entry(b"two", 2));
    // Claims may skip generations (e.g. derived from an election sequence number).
    s.claim_generation(Generation(10)).unwrap();
    assert_eq!(s.claim_next_generation().unwrap(), Generation(11));
}

/// Concurrent `claim_next_generation` from four threads: every claim gets its own generation.
pub fn claims_race(backend: &dyn Backend) {
    let s = backend.fresh();
    let winners: Vec<Generation> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&s);
                scope.spawn(move || (0..10).map(|_| s.claim_next_generation().unwrap()).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = winners.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 40, "every claim got its own generation: {winners:?}");
    assert_eq!(s.generation().unwrap(), Generation(40));
}

/// Limits and names: an 8 MiB value, 1024-operation batches, invalid keys and versions; a refused batch changes nothing.
pub fn limits_and_names(backend: &dyn Backend) {
    let s = backend.fresh();
    let g = leader(s.as_ref());
    let apps = Namespace::APPS;
    let max = vec![7u8; limits::MAX_VALUE_BYTES];
    s.put(g, &apps, "/big", max.clone()).unwrap();
    assert_eq!(value_of(s.as_ref(), &apps, "/big"), Some(max));
    assert!(matches!(
        s.put(g, &apps, "/bigger", vec![0; limits::MAX_VALUE_BYTES + 1]),
        Err(StoreError::TooLarge { what: "value", .. })
    ));
    let mut too_many = Batch::new();
    for i in 0..=limits::MAX_BATCH_OPS {
        too_many.push(Op::Put {
            namespace: apps.clone(),
            key: format!("/k{i}"),
            value: Vec::new(),
            expect: Expect::Any,
        });
    }
    assert!(matches!(s.apply(g, &too_many), Err(StoreError::TooLarge { what: "batch operations", .. })));
    let full = Batch::from(too_many.ops()[..limits::MAX_BATCH_OPS].to_vec());
    s.apply(g, &full).unwrap();
    assert_eq!(s.list_keys(&apps).unwrap().len(), limits::MAX_BATCH_OPS + 1);
    for bad in ["", "a\0b", "tab\there"] {
        assert!(matches!(s.put(g, &apps, bad, Vec::new()), Err(StoreError::Invalid { what: "key", .. })), "{bad:?}");
        assert!(matches!(s.get(&apps, bad), Err(StoreError::Invalid { .. })), "{bad:?}");
    }
    assert!(matches!(s.put(g, &apps, &"k".repeat(513), Vec::new()), Err(StoreError::TooLarge { what: "key", .. })));
    assert!(matches!(s.put_version(g, &apps, "/a", "", Vec::new()), Err(StoreError::Invalid { what: "version", .. })));
    assert!(matches!(s.get_version(&apps, "/a", "v\0"), Err(StoreError::Invalid { .. })));
    // A refused batch leaves the store unchanged, even its valid operations.
    let half_bad = Batch::new().put(apps.clone(), "/ok", Vec::new()).put(apps.clone(), "", Vec::new());
    assert!(s.apply(g, &half_bad).is_err());
    assert_eq!(s.get(&apps, "/ok").unwrap(), None);
}

/// Defines one `#[test]` per conformance check, each calling the check with the [`Backend`]
/// that `$backend` evaluates to (evaluated once per test, in the module where the macro is used).
/// With `optional $backend`, the expression gives an `Option` and `None` skips.
#[macro_export]
macro_rules! conformance_tests {
    // `$backend` evaluates to an `Option` of a backend; `None` skips the check (the expression
    // says why), e.g. when the service the backend needs is not installed.
    (optional $backend:expr) => {
        $crate::conformance_tests!(@each_optional $backend;
            put_get_delete,
            list_namespace,
            batch_is_atomic,
            compare_and_set,
            versions_are_pruned_at_the_default_limit,
            versions,
            generation_fencing,
            claims_race,
            limits_and_names
        );
    };
    (@each_optional $backend:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                if let Some(backend) = $backend {
                    $crate::conformance::$check(&backend)
                }
            }
        )*
    };
    ($backend:expr) => {
        $crate::conformance_tests!(optional Some($backend));
    };
}
