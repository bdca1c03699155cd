//! `ZkStore` on a real ZooKeeper: the store crate's conformance suite, chunked values, fencing by
//! a second client, and session loss in the middle of writes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ZkLink, ZooKeeper, fresh_store, noise, quick_options, shared, url};
use coordination::{ZkStore, ZkStoreOptions};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Batch, Generation, Namespace, Options, Store, StoreError};

/// Fresh stores on their own paths of the process's shared ZooKeeper server.
struct Zk(Arc<ZooKeeper>);

impl store::conformance::Backend for Zk {
    fn open(&self, options: Options) -> Arc<dyn Store> {
        let (store, _) = fresh_store(&self.0, "conformance", ZkStoreOptions { store: options, ..quick_options() });
        Arc::new(store)
    }
}

mod conformance {
    store::conformance_tests!(optional super::shared("zk_store conformance").map(super::Zk));
}

/// Every node under `root`: (path, data length).
async fn all_nodes(client: &zookeeper_client::Client, root: &str) -> Vec<(String, usize)> {
    let mut nodes = Vec::new();
    let mut queue = VecDeque::from([root.to_owned()]);
    while let Some(path) = queue.pop_front() {
        let Ok((children, stat)) = client.get_children(&path).await else { continue };
        nodes.push((path.clone(), usize::try_from(stat.data_length).unwrap()));
        for child in children {
            queue.push_back(format!("{path}/{child}"));
        }
    }
    nodes
}

fn node_sizes(zk: &ZooKeeper, root: &str) -> Vec<(String, usize)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = zookeeper_client::Client::connect(&zk.connect_string()).await.unwrap();
        all_nodes(&client, root).await
    })
}

#[test]
fn a_value_of_8_mib_is_chunked_under_the_node_limit_and_its_chunks_go_with_it() {
    let Some(zk) = shared("a_value_of_8_mib_is_chunked") else { return };
    let options = quick_options();
    let (s, url) = fresh_store(&zk, "chunks", options.clone());
    let g = s.claim_next_generation().unwrap();
    let big = noise(store::limits::MAX_VALUE_BYTES, 1);
    s.put(g, &Namespace::APPS, "/big", big.clone()).unwrap();
    assert_eq!(s.get(&Namespace::APPS, "/big").unwrap().map(|e| e.value), Some(big.clone()));
    let chunks = s.chunk_count().unwrap();
    assert!(chunks >= big.len() / (options.max_request_bytes / 4), "{chunks} chunks");
    // No node holds more than a chunk.
    let sizes = node_sizes(&zk, &url.path);
    let largest = sizes.iter().max_by_key(|(_, len)| *len).unwrap();
    assert!(largest.1 <= options.max_request_bytes / 4, "{largest:?}");

    // Another store (a new leader) reads it too.
    let other = ZkStore::open_with(&url, quick_options()).unwrap();
    assert_eq!(other.get(&Namespace::APPS, "/big").unwrap().map(|e| e.value), Some(big.clone()));
    assert_eq!(other.list(&Namespace::APPS).unwrap().len(), 1);

    // Replacing the value deletes its chunks in the same multi.
    s.put(g, &Namespace::APPS, "/big", b"small".to_vec()).unwrap();
    assert_eq!(s.chunk_count().unwrap(), 0);
    assert_eq!(s.get(&Namespace::APPS, "/big").unwrap().map(|e| (e.value, e.revision.0)), Some((b"small".to_vec(), 2)));

    // Versions: pruning a chunked version deletes its chunks.
    let v = |i: u32| format!("2024-05-01T12:00:0{i}.000Z");
    let small =
        ZkStore::open_with(&url, ZkStoreOptions { store: Options { max_versions: 1 }, ..quick_options() }).unwrap();
    small.put_version(g, &Namespace::APP_VERSIONS, "/big", &v(1), big.clone()).unwrap();
    assert!(small.chunk_count().unwrap() > 0);
    assert_eq!(small.get_version(&Namespace::APP_VERSIONS, "/big", &v(1)).unwrap(), Some(big.clone()));
    small.put_version(g, &Namespace::APP_VERSIONS, "/big", &v(2), b"v2".to_vec()).unwrap();
    assert_eq!(small.list_versions(&Namespace::APP_VERSIONS, "/big").unwrap(), [v(2)]);
    assert_eq!(small.chunk_count().unwrap(), 0);

    // Deleting a chunked record deletes its chunks.
    s.put(g, &Namespace::APPS, "/big", big).unwrap();
    s.delete(g, &Namespace::APPS, "/big").unwrap();
    assert_eq!(s.chunk_count().unwrap(), 0);
}

#[test]
fn a_batch_larger_than_a_request_moves_its_largest_values_into_chunks() {
    let Some(zk) = shared("a_batch_larger_than_a_request") else { return };
    let (s, url) = fresh_store(&zk, "large-batch", quick_options());
    let g = s.claim_next_generation().unwrap();
    // 24 incompressible values of 100 KB: 2.4 MB, well over one request.
    let values: Vec<Vec<u8>> = (0..24).map(|i| noise(100_000, 100 + i)).collect();
    let mut batch = Batch::new();
    for (i, value) in values.iter().enumerate() {
        batch = batch.put(Namespace::INSTANCES, format!("i{i:02}"), value.clone());
    }
    // Compressible values stay inline, compressed.
    batch = batch.put(Namespace::APPS, "/zeros", vec![0u8; 3 << 20]);
    s.apply(g, &batch).unwrap();
    let listed = s.list(&Namespace::INSTANCES).unwrap();
    assert_eq!(listed.len(), 24);
    for ((key, entry), (i, value)) in listed.iter().zip(values.iter().enumerate()) {
        assert_eq!(key, &format!("i{i:02}"));
        assert_eq!(&entry.value, value, "{key}");
    }
    assert_eq!(s.get(&Namespace::APPS, "/zeros").unwrap().map(|e| e.value.len()), Some(3 << 20));
    let sizes = node_sizes(&zk, &url.path);
    assert!(sizes.iter().all(|(_, len)| *len <= quick_options().max_request_bytes / 4), "{sizes:?}");

    // A batch whose operations alone exceed a request is refused whole, before writing anything.
    let mut huge = Batch::new();
    for i in 0..1024 {
        // 512-byte keys of `/`, each encoded as `%2F`.
        huge = huge.put(Namespace::APPS, format!("{i:04}{}", "/".repeat(508)), Vec::new());
    }
    let err = s.apply(g, &huge).unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { what: "zookeeper request of the batch", .. }), "{err}");
    assert_eq!(s.list_keys(&Namespace::APPS).unwrap(), ["/zeros"]);
}

#[test]
fn keys_zookeeper_cannot_name_are_encoded() {
    let Some(zk) = shared("keys_zookeeper_cannot_name_are_encoded") else { return };
    let (s, _) = fresh_store(&zk, "names", quick_options());
    let g = s.claim_next_generation().unwrap();
    let keys = [".", "..", "100%", "/a/b", "😀", "\u{e000}", "\u{fff0}", "zookeeper", "records", "a%2Fb"];
    for key in keys {
        s.put(g, &Namespace::APPS, key, key.as_bytes().to_vec()).unwrap();
        s.put_version(g, &Namespace::APP_VERSIONS, key, key, key.as_bytes().to_vec()).unwrap();
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(s.list_keys(&Namespace::APPS).unwrap(), sorted);
    assert_eq!(s.list_versioned_keys(&Namespace::APP_VERSIONS).unwrap(), sorted);
    for key in keys {
        assert_eq!(s.get(&Namespace::APPS, key).unwrap().map(|e| e.value), Some(key.as_bytes().to_vec()));
        assert_eq!(s.list_versions(&Namespace::APP_VERSIONS, key).unwrap(), [key]);
    }
    // Namespaces named like the store's own nodes live beside them.
    for name in ["generation", "chunks", "state"] {
        let ns = Namespace::new(name).unwrap();
        s.put(g, &ns, "k", b"v".to_vec()).unwrap();
        assert_eq!(s.list_keys(&ns).unwrap(), ["k"]);
    }
    assert_eq!(s.generation().unwrap(), g);
    assert_eq!(s.chunk_count().unwrap(), 0);
}

#[test]
fn a_second_client_claiming_a_newer_generation_fences_the_first() {
    let Some(zk) = shared("a_second_client_claiming_a_newer_generation") else { return };
    let (a, url) = fresh_store(&zk, "fencing", quick_options());
    let b = ZkStore::open_with(&url, quick_options()).unwrap();
    let old = a.claim_next_generation().unwrap();
    a.put(old, &Namespace::APPS, "/x", b"a".to_vec()).unwrap();

    let new = b.claim_next_generation().unwrap();
    assert!(new > old);
    let fenced = StoreError::Fenced { current: new, attempted: old };
    // A small write, a chunked one (its chunks are cleaned up), an empty batch: all refused.
    assert_eq!(a.put(old, &Namespace::APPS, "/x", b"late".to_vec()), Err(fenced.clone()));
    assert_eq!(a.put(old, &Namespace::APPS, "/big", noise(3 << 20, 7)), Err(fenced.clone()));
    assert_eq!(a.apply(old, &Batch::new()), Err(fenced.clone()));
    assert_eq!(a.chunk_count().unwrap(), 0);
    assert_eq!(a.claim_generation(new), Err(StoreError::Fenced { current: new, attempted: new }));
    b.put(new, &Namespace::APPS, "/x", b"b".to_vec()).unwrap();
    assert_eq!(a.get(&Namespace::APPS, "/x").unwrap().map(|e| e.value), Some(b"b".to_vec()));
    assert_eq!(a.generation().unwrap(), new);

    // The fenced store can still claim a newer generation (it is elected again).
    let newest = a.claim_next_generation().unwrap();
    assert_eq!(
        b.put(new, &Namespace::APPS, "/x", b"stale".to_vec()),
        Err(StoreError::Fenced { current: newest, attempted: new })
    );
    a.put(newest, &Namespace::APPS, "/x", b"a again".to_vec()).unwrap();
}

#[test]
fn uncommitted_chunks_are_swept_by_the_next_claim() {
    let Some(zk) = shared("uncommitted_chunks_are_swept_by_the_next_claim") else { return };
    let (s, url) = fresh_store(&zk, "sweep", quick_options());
    let g = s.claim_next_generation().unwrap();
    s.put(g, &Namespace::APPS, "/kept", noise(1 << 20, 3)).unwrap();
    let committed = s.chunk_count().unwrap();
    // A batch directory left `pending` (as by a writer that lost its connection mid-batch).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = zookeeper_client::Client::connect(&zk.connect_string()).await.unwrap();
        let options = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
        let dir = format!("{}/state/chunks/c-0123abcd", url.path);
        client.create(&dir, b"pending 1", &options).await.unwrap();
        for i in 0..3 {
            client.create(&format!("{dir}/0-{i}"), b"x", &options).await.unwrap();
        }
    });
    assert_eq!(s.chunk_count().unwrap(), committed + 3);
    let next = ZkStore::open_with(&url, quick_options()).unwrap();
    next.claim_next_generation().unwrap();
    assert_eq!(next.chunk_count().unwrap(), committed);
    assert_eq!(next.sweep_pending_chunks().unwrap(), 0);
    assert_eq!(next.get(&Namespace::APPS, "/kept").unwrap().map(|e| e.value), Some(noise(1 << 20, 3)));
}

/// The link of one store is cut at different moments of a batch (which writes chunks, then its
/// `multi`) and stays cut until the session expired. The batch fails or succeeds whole; the store
/// then works again on a new session.
#[test]
fn a_session_expiring_mid_batch_is_an_error_never_a_partial_write() {
    let Some(zk) = shared("a_session_expiring_mid_batch") else { return };
    let path = zk.unique_path("expiry");
    let link = ZkLink::new(&zk).unwrap();
    let session = Duration::from_millis(1500);
    // Without compression, the batch's time goes to ZooKeeper (reads, chunks, `multi`), not gzip.
    let options = ZkStoreOptions {
        session_timeout: session,
        operation_timeout: Duration::from_secs(2),
        compression_threshold: None,
        ..ZkStoreOptions::default()
    };
    let s = ZkStore::open_with(&url(&link.url(&path)), options).unwrap();
    let checker = ZkStore::open_with(&url(&zk.url(&path)), quick_options()).unwrap();
    let g = s.claim_next_generation().unwrap();
    s.put(g, &Namespace::APPS, "/before", b"1".to_vec()).unwrap();
    s.put(g, &Namespace::INSTANCES, "before", b"1".to_vec()).unwrap();
    let batch_of = |round: usize| {
        let big = noise(2 << 20, round as u64);
        let mut batch = Batch::new().put(Namespace::APPS, format!("/big{round}"), big.clone());
        for n in 0..100 {
            batch = batch.put(Namespace::INSTANCES, format!("r{round}-{n:03}"), vec![round as u8; 200]);
        }
        (batch, big)
    };
    // How long an undisturbed batch takes; the cuts fall at fractions of it (reads, chunks,
    // `multi`).
    let whole = (98..100)
        .map(|round| {
            let started = Instant::now();
            s.apply(g, &batch_of(round).0).unwrap();
            started.elapsed()
        })
        .min()
        .unwrap();

    let mut outcomes = Vec::new();
    for (round, fraction) in [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7].into_iter().enumerate() {
        let delay = whole.mul_f64(fraction);
        let (batch, big) = batch_of(round);
        let result = std::thread::scope(|scope| {
            let writer = scope.spawn(|| s.apply(g, &batch));
            std::thread::sleep(delay);
            link.cut();
            // Long enough for the server to expire the session.
            std::thread::sleep(session + Duration::from_millis(1500));
            link.heal();
            writer.join().unwrap()
        });
        let present: Vec<String> = checker
            .list_keys(&Namespace::INSTANCES)
            .unwrap()
            .into_iter()
            .filter(|k| k.starts_with(&format!("r{round}-")))
            .collect();
        let big_now = checker.get(&Namespace::APPS, &format!("/big{round}")).unwrap().map(|e| e.value);
        match &result {
            Ok(()) => {
                assert_eq!(present.len(), 100, "round {round}: Ok but not all records are there");
                assert_eq!(big_now.as_ref(), Some(&big), "round {round}");
            }
            Err(err) => {
                assert!(matches!(err, StoreError::Backend(_)), "round {round}: {err}");
                assert!(present.is_empty() || present.len() == 100, "round {round}: partial write {}", present.len());
                assert_eq!(big_now.is_some(), !present.is_empty(), "round {round}: value and records disagree");
                if let Some(value) = big_now {
                    assert_eq!(value, big, "round {round}");
                }
            }
        }
        outcomes.push((delay, result.map_err(|e| e.to_string()), present.len()));

        // The store recovers on a new session (the generation is still its own).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match s.put(g, &Namespace::APPS, "/after", vec![round as u8]) {
                Ok(()) => break,
                Err(err) => {
                    assert!(matches!(err, StoreError::Backend(_)), "{err}");
                    assert!(Instant::now() < deadline, "the store did not recover: {err}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    eprintln!("a batch takes {whole:?}; outcomes (cut after, result, records present): {outcomes:?}");
    assert!(outcomes.iter().any(|(_, result, _)| result.is_err()), "no write was interrupted: {outcomes:?}");

    // A new leader sweeps whatever the interrupted batches left pending; the old one is fenced.
    let next = checker.claim_next_generation().unwrap();
    assert_eq!(checker.sweep_pending_chunks().unwrap(), 0);
    assert_eq!(
        s.put(g, &Namespace::APPS, "/late", b"x".to_vec()),
        Err(StoreError::Fenced { current: next, attempted: g })
    );
    assert_eq!(checker.generation().unwrap(), next);
    assert_eq!(s.generation().unwrap(), Generation(next.0));
}
