//! Snapshots against real RocksDB: one consistent view across keys, column families, point
//! reads, multi-gets and iterators, which survives a rebuild and a drop of the column family
//! it reads, and which a reopen waits for.

mod common;

use common::key;
use lsmedic_engine::{Engine, EngineConfig, Error, IterOptions, RecoveryConfig, WriteOpts};

const N: u64 = 2_000;

fn open(dir: &std::path::Path) -> Engine {
    let engine = Engine::open(
        dir,
        EngineConfig {
            recovery: RecoveryConfig {
                reader_wait_ms: 100,
                ..RecoveryConfig::default()
            },
            ..EngineConfig::default()
        },
    )
    .unwrap();
    engine.create_cf("users", None).unwrap();
    engine.create_cf("orders", None).unwrap();
    for i in 0..N {
        engine.put("users", &key(i), b"old").unwrap();
        engine.put("orders", &key(i), b"old").unwrap();
    }
    engine.flush("users").unwrap();
    engine
}

/// Every key of `cf` at the snapshot through get, multi-get and a scan: all `expected`.
fn all_read(snapshot: &lsmedic_engine::Snapshot<'_>, cf: &str, expected: &[u8]) {
    for i in (0..N).step_by(97) {
        assert_eq!(
            snapshot.get(cf, &key(i)).unwrap().as_deref(),
            Some(expected),
            "{cf} key {i}"
        );
    }
    let keys: Vec<Vec<u8>> = (0..N).step_by(13).map(key).collect();
    for value in snapshot.multi_get(cf, &keys).unwrap() {
        assert_eq!(value.as_deref(), Some(expected), "{cf} multi-get");
    }
    let scanned: Vec<_> = snapshot
        .iter(cf, IterOptions::full())
        .unwrap()
        .map(|item| item.unwrap())
        .collect();
    assert_eq!(scanned.len() as u64, N, "{cf} scan");
    assert!(scanned.iter().all(|(_, value)| &value[..] == expected));
}

#[test]
fn a_snapshot_reads_one_moment_across_keys_families_and_iterators() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let snapshot = engine.snapshot().unwrap();
    let mut batch = engine.batch();
    for i in 0..N {
        batch.put("users", &key(i), b"new").unwrap();
        batch.delete("orders", &key(i)).unwrap();
    }
    engine.write_opt(batch, WriteOpts::synced()).unwrap();
    engine.flush("users").unwrap();
    engine.compact_range("users", None, None).unwrap();

    all_read(&snapshot, "users", b"old");
    all_read(&snapshot, "orders", b"old");
    assert_eq!(engine.get("users", &key(5)).unwrap(), Some(b"new".to_vec()));
    assert_eq!(engine.get("orders", &key(5)).unwrap(), None);
    // A later snapshot sees the later state.
    let later = engine.snapshot().unwrap();
    assert!(later.sequence_number() > snapshot.sequence_number());
    assert_eq!(later.get("orders", &key(5)).unwrap(), None);
    // Unknown names are errors, and so is a family created after the snapshot.
    engine.create_cf("later", None).unwrap();
    let err = snapshot.get("later", b"k").unwrap_err();
    assert!(matches!(err, Error::UnknownColumnFamily { .. }), "{err}");
    assert_eq!(snapshot.column_families(), ["default", "users", "orders"]);
}

#[test]
fn a_snapshot_survives_a_rebuild_and_a_drop_of_its_family() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let snapshot = engine.snapshot().unwrap();
    for i in 0..N {
        engine.put("users", &key(i), b"new").unwrap();
    }
    let report = engine.rebuild_cf("users").unwrap();
    assert_eq!(report.keys_copied, N);
    engine.drop_cf("orders").unwrap();
    // The rebuilt family serves the new values; the snapshot still reads the one it pinned.
    assert_eq!(engine.get("users", &key(7)).unwrap(), Some(b"new".to_vec()));
    all_read(&snapshot, "users", b"old");
    all_read(&snapshot, "orders", b"old");
    let err = engine.get("orders", &key(7)).unwrap_err();
    assert!(matches!(err, Error::UnknownColumnFamily { .. }), "{err}");
}

#[test]
fn a_reopen_waits_for_open_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let snapshot = engine.snapshot().unwrap();
    let err = engine.recover().unwrap_err();
    assert!(err.to_string().contains("still used the database"), "{err}");
    all_read(&snapshot, "users", b"old");
    drop(snapshot);
    engine.recover().unwrap();
    assert_eq!(engine.get("users", &key(1)).unwrap(), Some(b"old".to_vec()));
}
