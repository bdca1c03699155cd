//! redb-specific behaviour: durability across reopen, the file lock, corrupt files.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use store::{Batch, Entry, Generation, Namespace, Options, RedbStore, Revision, Store, StoreError};

const LOCK_CHILD_ENV: &str = "STORE_TEST_LOCK_CHILD_DB";

#[test]
fn state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/state.redb");
    {
        let s = RedbStore::open_with(&path, Options { max_versions: 2 }).unwrap();
        let g = s.claim_next_generation().unwrap();
        s.put(g, &Namespace::APPS, "/a", b"1".to_vec()).unwrap();
        s.put(g, &Namespace::APPS, "/a", b"2".to_vec()).unwrap();
        s.apply(
            g,
            &Batch::new()
                .put(Namespace::FRAMEWORK_ID, "id", b"fw-1".to_vec())
                .put_version(Namespace::APP_VERSIONS, "/a", "v1", b"1".to_vec())
                .put_version(Namespace::APP_VERSIONS, "/a", "v2", b"2".to_vec())
                .put_version(Namespace::APP_VERSIONS, "/a", "v3", b"3".to_vec()),
        )
        .unwrap();
    }
    let s = RedbStore::open_with(&path, Options { max_versions: 2 }).unwrap();
    assert_eq!(s.generation().unwrap(), Generation(1));
    assert_eq!(s.get(&Namespace::APPS, "/a").unwrap(), Some(Entry { value: b"2".to_vec(), revision: Revision(2) }));
    assert_eq!(s.get(&Namespace::FRAMEWORK_ID, "id").unwrap().map(|e| e.value), Some(b"fw-1".to_vec()));
    assert_eq!(s.list_versions(&Namespace::APP_VERSIONS, "/a").unwrap(), ["v2", "v3"]);
    // The old leader's generation is fenced after a restart too.
    let g2 = s.claim_next_generation().unwrap();
    assert_eq!(g2, Generation(2));
    assert!(matches!(s.put(Generation(1), &Namespace::APPS, "/a", Vec::new()), Err(StoreError::Fenced { .. })));
    drop(s);
    // A store opened with another max_versions keeps what is there and prunes on the next put.
    let s = RedbStore::open(&path).unwrap();
    assert_eq!(s.generation().unwrap(), Generation(2));
    assert_eq!(s.list_versions(&Namespace::APP_VERSIONS, "/a").unwrap(), ["v2", "v3"]);
}

#[test]
fn open_in_work_dir_uses_the_documented_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open_in_work_dir(dir.path()).unwrap();
    assert_eq!(s.path(), dir.path().join(RedbStore::FILE_NAME));
    assert!(s.describe().starts_with("redb:"));
    assert!(dir.path().join(RedbStore::FILE_NAME).exists());
}

#[test]
fn second_open_in_the_same_process_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let first = RedbStore::open(&path).unwrap();
    let second = RedbStore::open(&path);
    match second {
        Err(StoreError::AlreadyOpen { path: locked }) => assert_eq!(locked, path),
        other => panic!("expected AlreadyOpen, got {other:?}"),
    }
    let message = RedbStore::open(&path).unwrap_err().to_string();
    assert!(message.contains("already open"), "{message}");
    drop(first);
    RedbStore::open(&path).unwrap();
}

/// Child side of [`second_open_in_another_process_fails_clearly`]; a no-op in a normal run.
#[test]
fn lock_child() {
    let Ok(path) = std::env::var(LOCK_CHILD_ENV) else { return };
    let outcome = match RedbStore::open(&path) {
        Err(StoreError::AlreadyOpen { .. }) => "already-open".to_owned(),
        other => format!("unexpected: {other:?}"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "outcome {outcome}").unwrap();
    out.flush().unwrap();
}

#[test]
fn second_open_in_another_process_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let _held = RedbStore::open(&path).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_child", "--nocapture", "--test-threads=1"])
        .env(LOCK_CHILD_ENV, &path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("outcome already-open"), "child said: {stdout}");
}

fn write_sample(path: &Path) {
    let s = RedbStore::open(path).unwrap();
    let g = s.claim_next_generation().unwrap();
    for i in 0..200 {
        s.put(g, &Namespace::INSTANCES, &format!("instance-{i}"), vec![i as u8; 300]).unwrap();
    }
}

/// Opens a damaged file and reads everything; must return errors, never panic.
fn open_and_read(path: &Path) -> Result<usize, StoreError> {
    let s = RedbStore::open(path)?;
    s.generation()?;
    Ok(s.list(&Namespace::INSTANCES)?.len())
}

#[test]
fn garbage_over_the_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    write_sample(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(4096)).unwrap();
    file.write_all(&vec![0xAB; (len - 4096) as usize]).unwrap();
    drop(file);
    let result = open_and_read(&path);
    assert!(matches!(result, Err(StoreError::Corrupt(_) | StoreError::Backend(_))), "{result:?}");
}

#[test]
fn a_truncated_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    write_sample(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 3).unwrap();
    let result = open_and_read(&path);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn scattered_bit_flips_never_panic() {
    // Whatever a damaged page hits, the outcome is an error or a (repaired / older) state.
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine.redb");
    write_sample(&pristine);
    let mut bytes = Vec::new();
    std::fs::File::open(&pristine).unwrap().read_to_end(&mut bytes).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut outcomes = (0, 0);
    for round in 0..24 {
        let mut damaged = bytes.clone();
        for _ in 0..(1 + round % 4) {
            let at = (next() % damaged.len() as u64) as usize;
            damaged[at] ^= 1 << (next() % 8);
        }
        let path = dir.path().join(format!("damaged-{round}.redb"));
        std::fs::write(&path, &damaged).unwrap();
        match open_and_read(&path) {
            Ok(_) => outcomes.0 += 1,
            Err(_) => outcomes.1 += 1,
        }
    }
    eprintln!("bit flips: {} opened, {} refused", outcomes.0, outcomes.1);
}

#[test]
fn malformed_records_are_corrupt_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    write_sample(&path);
    // Write bytes our codec cannot decode, with redb directly (valid checksums).
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("records");
            let mut records = txn.open_table(def).unwrap();
            records.insert(b"apps\0/short".as_slice(), [1u8, 2, 3].as_slice()).unwrap();
            records.insert(b"apps\0/tag".as_slice(), [9u8; 12].as_slice()).unwrap();
            records.insert(b"groups\0\xff\xfe".as_slice(), [1u8; 9].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let s = RedbStore::open(&path).unwrap();
    assert!(matches!(s.get(&Namespace::APPS, "/short"), Err(StoreError::Corrupt(_))));
    assert!(matches!(s.get(&Namespace::APPS, "/tag"), Err(StoreError::Corrupt(_))));
    assert!(matches!(s.list(&Namespace::APPS), Err(StoreError::Corrupt(_))));
    assert!(matches!(s.list_keys(&Namespace::GROUPS), Err(StoreError::Corrupt(_))));
    let g = s.generation().unwrap();
    assert!(matches!(s.put(g, &Namespace::APPS, "/short", Vec::new()), Err(StoreError::Corrupt(_))));
    assert_eq!(s.list(&Namespace::INSTANCES).unwrap().len(), 200);
    drop(s);

    // A damaged generation or format marker is refused at open.
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("meta");
            txn.open_table(def).unwrap().insert(b"generation".as_slice(), [1u8, 2].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    assert!(matches!(RedbStore::open(&path), Err(StoreError::Corrupt(_))));
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("meta");
            txn.open_table(def).unwrap().insert(b"format".as_slice(), 2u32.to_le_bytes().as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = RedbStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("unsupported store format 2"), "{err}");
}

#[test]
fn a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("not-redb.redb");
    std::fs::write(&text, b"this is not a redb file, but it is long enough to look like one? no.").unwrap();
    assert!(RedbStore::open(&text).is_err());
    // A redb file whose tables have other types.
    let other = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&other).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("records");
            txn.open_table(def).unwrap().insert(1, 2).unwrap();
        }
        txn.commit().unwrap();
    }
    assert!(matches!(RedbStore::open(&other), Err(StoreError::Backend(_))));
}
