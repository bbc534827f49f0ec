//! Column-family rebuild against real RocksDB: data survives exactly, the mapping persists,
//! concurrent writes are kept, corruption is stepped over and reported key range by key
//! range, and checkpoints refill what could not be read.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{flip_bytes, key, newest_sst, noise};
use lsmedic_engine::{CfOptions, CheckpointConfig, Compression, Engine, EngineConfig};
use lsmedic_telemetry::RebuildReport;

fn config() -> EngineConfig {
    EngineConfig {
        cf_options: CfOptions {
            compression: Compression::None,
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    }
}

/// Checkpoints in `dir/checkpoints`, one kept, taken on demand only (the interval is an hour).
fn on_demand_checkpoints(dir: &Path, enabled: bool) -> CheckpointConfig {
    CheckpointConfig {
        enabled,
        dir: Some(dir.join("checkpoints")),
        interval_secs: 3600,
        keep: 1,
        ..CheckpointConfig::default()
    }
}

fn physical_cfs(dir: &Path) -> Vec<String> {
    rocksdb::DB::list_cf(&rocksdb::Options::default(), dir).unwrap()
}

#[test]
fn rebuild_keeps_every_live_key_and_sheds_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    engine.create_cf("users", None).unwrap();
    for i in 0..20_000u64 {
        engine.put("users", &key(i), &noise(i, 100)).unwrap();
    }
    engine.flush("users").unwrap();
    for i in (0..20_000u64).filter(|i| i % 10 != 0) {
        engine.delete("users", &key(i)).unwrap();
    }
    engine.flush("users").unwrap();
    let before = engine
        .sample()
        .cf("users")
        .unwrap()
        .live_sst_files_size
        .unwrap();

    let report = engine.rebuild_cf("users").unwrap();
    assert_eq!(report.keys_copied, 2_000);
    assert!(report.lost_ranges.is_empty(), "{report:?}");
    assert_eq!(report.new_physical, "users__lsmedic_gen1");
    assert_eq!(engine.physical_cf("users").unwrap(), "users__lsmedic_gen1");
    assert_eq!(engine.list_cfs(), vec!["default", "users"]);
    for i in 0..20_000u64 {
        let expected = (i % 10 == 0).then(|| noise(i, 100));
        assert_eq!(engine.get("users", &key(i)).unwrap(), expected, "key {i}");
    }
    let after = engine
        .sample()
        .cf("users")
        .unwrap()
        .live_sst_files_size
        .unwrap();
    assert!(after * 3 < before, "live SST bytes {before} -> {after}");
    // The old physical CF is gone from RocksDB.
    assert!(!physical_cfs(dir.path()).contains(&"users".to_string()));
}

#[test]
fn mapping_survives_restart_and_generations_advance() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path(), config()).unwrap();
        engine.create_cf("orders", None).unwrap();
        engine.put("orders", b"o1", b"first").unwrap();
        engine.rebuild_cf("orders").unwrap();
        engine.put("orders", b"o2", b"second").unwrap();
        engine.close().unwrap();
    }
    let engine = Engine::open(dir.path(), config()).unwrap();
    assert_eq!(
        engine.physical_cf("orders").unwrap(),
        "orders__lsmedic_gen1"
    );
    assert_eq!(
        engine.get("orders", b"o1").unwrap(),
        Some(b"first".to_vec())
    );
    assert_eq!(
        engine.get("orders", b"o2").unwrap(),
        Some(b"second".to_vec())
    );
    let report = engine.rebuild_cf("orders").unwrap();
    assert_eq!(report.old_physical, "orders__lsmedic_gen1");
    assert_eq!(report.new_physical, "orders__lsmedic_gen2");
    assert_eq!(
        engine.logical_cf("orders__lsmedic_gen2").as_deref(),
        Some("orders")
    );
    let orders: Vec<_> = physical_cfs_after_close(engine, dir.path())
        .into_iter()
        .filter(|cf| cf.starts_with("orders"))
        .collect();
    assert_eq!(orders, vec!["orders__lsmedic_gen2".to_string()]);
    // Dropping a rebuilt CF forgets its mapping too.
    let engine = Engine::open(dir.path(), config()).unwrap();
    engine.drop_cf("orders").unwrap();
    engine.create_cf("orders", None).unwrap();
    assert_eq!(engine.physical_cf("orders").unwrap(), "orders");
    assert_eq!(engine.get("orders", b"o1").unwrap(), None);
}

fn physical_cfs_after_close(engine: Engine, dir: &Path) -> Vec<String> {
    engine.close().unwrap();
    physical_cfs(dir)
}

#[test]
fn the_default_cf_and_unknown_cfs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    assert!(engine.rebuild_cf("default").is_err());
    assert!(matches!(
        engine.rebuild_cf("ghost"),
        Err(lsmedic_engine::Error::UnknownColumnFamily { .. })
    ));
    assert!(
        engine.create_cf("x__lsmedic_gen1", None).is_err(),
        "reserved name"
    );
}

#[test]
fn writes_during_a_rebuild_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    engine.create_cf("hot", None).unwrap();
    for i in 0..60_000u64 {
        engine.put("hot", &key(i), &noise(i, 64)).unwrap();
    }
    engine.flush("hot").unwrap();
    let stop = AtomicBool::new(false);
    // Each writer owns a slice of the key space and remembers what it last wrote there.
    let models: Vec<BTreeMap<u64, Option<Vec<u8>>>> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..3u64)
            .map(|t| {
                let (engine, stop) = (&engine, &stop);
                scope.spawn(move || {
                    let mut model = BTreeMap::new();
                    let mut round = 0u64;
                    while !stop.load(Ordering::Relaxed) || round < 200 {
                        round += 1;
                        let i = t * 20_000 + (round * 7919) % 20_000;
                        match round % 4 {
                            0 => {
                                engine.delete("hot", &key(i)).unwrap();
                                model.insert(i, None);
                            }
                            1 => {
                                // A batch: two keys, atomically.
                                let value = noise(round, 16);
                                let j = t * 20_000 + (i + 1) % 20_000;
                                let mut batch = engine.batch();
                                batch.put("hot", &key(i), &value).unwrap();
                                batch.put("hot", &key(j), &value).unwrap();
                                engine.write(batch).unwrap();
                                model.insert(i, Some(value.clone()));
                                model.insert(j, Some(value));
                            }
                            _ => {
                                let value = noise(round * 31 + t, 24);
                                engine.put("hot", &key(i), &value).unwrap();
                                model.insert(i, Some(value));
                            }
                        }
                    }
                    model
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let report = engine.rebuild_cf("hot").unwrap();
        assert!(report.lost_ranges.is_empty());
        stop.store(true, Ordering::Relaxed);
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut checked = 0;
    for i in 0..60_000u64 {
        let expected = models
            .iter()
            .find_map(|model| model.get(&i).cloned())
            .unwrap_or_else(|| Some(noise(i, 64)));
        assert_eq!(engine.get("hot", &key(i)).unwrap(), expected, "key {i}");
        checked += 1;
    }
    assert_eq!(checked, 60_000);
    assert!(models.iter().map(BTreeMap::len).sum::<usize>() > 300);
}

const N: u64 = 20_000;

/// Writes N keys to "data", flushes, optionally checkpoints, then damages the live SST.
fn damaged_engine(dir: &Path, checkpoints: bool) -> (Engine, PathBuf) {
    let mut config = config();
    config.checkpoints = on_demand_checkpoints(dir, checkpoints);
    let db = dir.join("db");
    {
        let engine = Engine::open(&db, config.clone()).unwrap();
        engine.create_cf("data", None).unwrap();
        for i in 0..N {
            engine.put("data", &key(i), &noise(i, 200)).unwrap();
        }
        engine.flush("data").unwrap();
        if checkpoints {
            engine.checkpoint_now().unwrap();
        }
        engine.close().unwrap();
    }
    let sst = newest_sst(&db);
    flip_bytes(&sst, 0.5, 32);
    (Engine::open(&db, config).unwrap(), sst)
}

/// Every key reads back with its right value or lies in a reported lost range; returns how
/// many were lost.
fn check_key_by_key(engine: &Engine, report: &RebuildReport) -> u64 {
    let mut lost = 0;
    for i in 0..N {
        let k = key(i);
        match engine.get("data", &k).unwrap() {
            Some(value) => assert_eq!(value, noise(i, 200), "key {i} has a wrong value"),
            None => {
                assert!(
                    report.lost_ranges.iter().any(|range| range.contains(&k)),
                    "key {i} missing but not inside a reported lost range"
                );
                lost += 1;
            }
        }
    }
    lost
}

#[test]
fn corruption_is_stepped_over_and_every_key_is_right_or_reported_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, sst) = damaged_engine(dir.path(), false);
    // The damage is real: some reads fail before the rebuild.
    let failing = (0..N)
        .filter(|i| engine.get("data", &key(*i)).is_err())
        .count();
    assert!(failing > 0, "the flipped bytes did not hit a data block");

    let report = engine.rebuild_cf("data").unwrap();
    assert!(!report.lost_ranges.is_empty(), "{report:?}");
    let sst_name = sst.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(report.skipped_files, vec![sst_name]);
    let lost = check_key_by_key(&engine, &report);
    assert!(
        lost >= failing as u64,
        "lost {lost} < {failing} unreadable keys"
    );
    // Lost ranges are narrow (the damaged block), not the whole file.
    assert!(lost < N / 4, "lost {lost} of {N}");
    assert_eq!(report.keys_copied + lost, N);
    // The rebuilt CF reads cleanly end to end.
    let scanned = engine
        .iter("data", lsmedic_engine::IterOptions::full())
        .unwrap()
        .map(|item| item.map(|_| ()))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(scanned.len() as u64, N - lost);
}

#[test]
fn with_checkpoints_on_no_key_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = damaged_engine(dir.path(), true);
    assert!((0..N).any(|i| engine.get("data", &key(i)).is_err()));
    let report = engine.rebuild_cf("data").unwrap();
    assert!(report.lost_ranges.is_empty(), "{report:?}");
    assert!(report.keys_recovered_from_checkpoint > 0);
    assert_eq!(check_key_by_key(&engine, &report), 0);
    assert_eq!(
        report.keys_copied + report.keys_recovered_from_checkpoint,
        N,
        "copied + recovered from the checkpoint = every key"
    );
}

/// Loads "data", checkpoints, then changes it (overwrites, deletes, a range delete, a batch),
/// flushes those changes into a new SST and leaves a few in the memtable; damages that SST
/// while the engine is closed. Returns the reopened engine and the expected contents.
fn damaged_after_checkpoint(
    dir: &Path,
    drop_wal_archive: bool,
) -> (Engine, BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut config = config();
    config.checkpoints = on_demand_checkpoints(dir, true);
    let db = dir.join("db");
    let mut model = BTreeMap::new();
    let sst = {
        let engine = Engine::open(&db, config.clone()).unwrap();
        engine.create_cf("data", None).unwrap();
        engine.create_cf("other", None).unwrap();
        for i in 0..N {
            engine.put("data", &key(i), &noise(i, 200)).unwrap();
            model.insert(key(i), noise(i, 200));
        }
        engine.flush("data").unwrap();
        engine.checkpoint_now().unwrap();
        // After the checkpoint: every third key rewritten, every seventh deleted, a range
        // deleted, new keys, and a batch across two column families.
        for i in (0..N).step_by(3) {
            engine.put("data", &key(i), &noise(i + N, 200)).unwrap();
            model.insert(key(i), noise(i + N, 200));
        }
        for i in (0..N).step_by(7) {
            engine.delete("data", &key(i)).unwrap();
            model.remove(&key(i));
        }
        engine
            .delete_range("data", &key(9_000), &key(9_050))
            .unwrap();
        model.retain(|k, _| !(k.as_slice() >= key(9_000).as_slice() && k < &key(9_050)));
        for i in N..N + 500 {
            engine.put("data", &key(i), &noise(i, 200)).unwrap();
            model.insert(key(i), noise(i, 200));
        }
        let mut batch = engine.batch();
        for i in (1..N).step_by(11) {
            batch.put("data", &key(i), &noise(i + 2 * N, 200)).unwrap();
            batch.put("other", &key(i), b"x").unwrap();
            model.insert(key(i), noise(i + 2 * N, 200));
        }
        engine.write(batch).unwrap();
        engine.flush("other").unwrap();
        engine.flush("data").unwrap();
        let sst = newest_sst(&db);
        // Every column family is flushed: the WAL with these writes is archived.
        assert!(std::fs::read_dir(db.join("archive")).unwrap().count() > 0);
        // Still in the memtable (and the live WAL) when the engine closes.
        for i in (2..N).step_by(13) {
            engine.put("data", &key(i), &noise(i + 3 * N, 200)).unwrap();
            model.insert(key(i), noise(i + 3 * N, 200));
        }
        engine.close().unwrap();
        sst
    };
    flip_bytes(&sst, 0.5, 32);
    if drop_wal_archive {
        for entry in std::fs::read_dir(db.join("archive")).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
    (Engine::open(&db, config).unwrap(), model)
}

#[test]
fn writes_after_the_checkpoint_are_replayed_from_the_wal_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, model) = damaged_after_checkpoint(dir.path(), false);
    assert!(model.keys().any(|k| engine.get("data", k).is_err()));
    let before = engine.latest_checkpoint().unwrap();
    let report = engine.rebuild_cf("data").unwrap();
    // The rebuilt CF is in no checkpoint yet: one is taken soon after.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while engine.latest_checkpoint().as_ref() == Some(&before) {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after the rebuild"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(report.lost_ranges.is_empty(), "{report:?}");
    assert!(report.keys_recovered_from_checkpoint > 0, "{report:?}");
    let scanned: BTreeMap<Vec<u8>, Vec<u8>> = engine
        .iter("data", lsmedic_engine::IterOptions::full())
        .unwrap()
        .map(|item| item.map(|(k, v)| (k.into_vec(), v.into_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(scanned.len(), model.len());
    for (k, v) in &model {
        assert_eq!(
            scanned.get(k),
            Some(v),
            "key {:?}",
            String::from_utf8_lossy(k)
        );
    }
}

#[test]
fn without_the_wal_archive_the_range_is_reported_lost_never_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, model) = damaged_after_checkpoint(dir.path(), true);
    let report = engine.rebuild_cf("data").unwrap();
    assert!(!report.lost_ranges.is_empty(), "{report:?}");
    assert_eq!(report.refill_failures.len(), report.lost_ranges.len());
    assert!(report.refill_failures[0].contains("WAL"), "{report:?}");
    for (k, v) in &model {
        match engine.get("data", k).unwrap() {
            Some(found) => assert_eq!(&found, v, "key {:?}", String::from_utf8_lossy(k)),
            None => assert!(report.lost_ranges.iter().any(|range| range.contains(k))),
        }
    }
}

#[test]
fn a_checkpoint_that_would_copy_damage_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.checkpoints = on_demand_checkpoints(dir.path(), true);
    let db = dir.path().join("db");
    let engine = Engine::open(&db, config).unwrap();
    engine.create_cf("data", None).unwrap();
    for i in 0..N {
        engine.put("data", &key(i), &noise(i, 200)).unwrap();
    }
    engine.flush("data").unwrap();
    let intact = engine.checkpoint_now().unwrap();
    flip_bytes(&newest_sst(&db), 0.5, 32);
    let refused = engine.checkpoint_now().unwrap_err().to_string();
    assert!(refused.contains("not kept"), "{refused}");
    assert_eq!(engine.latest_checkpoint(), Some(intact));
}

#[test]
fn readable_keys_inside_a_lost_range_are_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    engine.create_cf("data", None).unwrap();
    for i in 0..N {
        engine.put("data", &key(i), &noise(i, 200)).unwrap();
    }
    engine.flush("data").unwrap();
    flip_bytes(&newest_sst(dir.path()), 0.5, 32);
    // Newer versions of every other key, in the memtable: they read back despite the damage.
    for i in (0..N).step_by(2) {
        engine.put("data", &key(i), &noise(i + N, 200)).unwrap();
    }
    let report = engine.rebuild_cf("data").unwrap();
    assert!(!report.lost_ranges.is_empty(), "{report:?}");
    let inside = (0..N)
        .step_by(2)
        .filter(|i| report.lost_ranges.iter().any(|r| r.contains(&key(*i))))
        .count();
    assert!(
        inside > 0,
        "no rewritten key lies in a lost range: {report:?}"
    );
    for i in (0..N).step_by(2) {
        assert_eq!(
            engine.get("data", &key(i)).unwrap(),
            Some(noise(i + N, 200)),
            "key {i}"
        );
    }
    for i in (1..N).step_by(2) {
        match engine.get("data", &key(i)).unwrap() {
            Some(value) => assert_eq!(value, noise(i, 200), "key {i}"),
            None => assert!(report.lost_ranges.iter().any(|r| r.contains(&key(i)))),
        }
    }
}

#[test]
fn the_last_rebuild_report_survives_a_reopen_and_goes_with_a_dropped_cf() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = damaged_engine(dir.path(), false);
    assert_eq!(engine.last_rebuild_report("data").unwrap(), None);
    let report = engine.rebuild_cf("data").unwrap();
    assert!(!report.lost_ranges.is_empty());
    assert_eq!(
        engine.last_rebuild_report("data").unwrap().as_ref(),
        Some(&report)
    );
    engine.close().unwrap();
    let engine = Engine::open(dir.path().join("db"), config()).unwrap();
    assert_eq!(engine.last_rebuild_report("data").unwrap(), Some(report));
    assert!(engine.last_rebuild_report("nope").is_err());
    engine.drop_cf("data").unwrap();
    engine.create_cf("data", None).unwrap();
    assert_eq!(engine.last_rebuild_report("data").unwrap(), None);
}

/// A damaged block of a sparse L0 file spans the keys of the files below it. The copy's
/// iterator cannot pass the block, so the whole span is a lost range; the keys other files
/// hold in it still read back by point lookup and are salvaged, and a key whose newest
/// version was in the damaged block never comes back with its older value.
#[test]
fn a_sparse_damaged_file_loses_only_its_own_keys() {
    const N: u64 = 20_000;
    const EVERY: u64 = 50;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let no_compactions = CfOptions {
        compression: Compression::None,
        disable_auto_compactions: true,
        ..CfOptions::default()
    };
    {
        let engine = Engine::open(&data, config()).unwrap();
        engine.create_cf("data", Some(&no_compactions)).unwrap();
        for i in 0..N {
            engine.put("data", &key(i), &noise(i, 100)).unwrap();
        }
        engine.flush("data").unwrap();
        engine.compact_range("data", None, None).unwrap();
        // A sparse L0 file over the whole key range: every 50th key, rewritten.
        for i in (0..N).step_by(EVERY as usize) {
            engine.put("data", &key(i), &noise(i + N, 100)).unwrap();
        }
        engine.flush("data").unwrap();
        engine.close().unwrap();
    }
    flip_bytes(&newest_sst(&data), 0.4, 32);
    let engine = Engine::open(&data, config()).unwrap();
    let report = engine.rebuild_cf("data").unwrap();
    assert!(
        !report.lost_ranges.is_empty(),
        "the damage was not met: {report:?}"
    );
    let in_lost = |k: &[u8]| report.lost_ranges.iter().any(|range| range.contains(k));
    let (mut lost, mut dense_in_ranges, mut sparse_in_ranges) = (0, 0, 0);
    for i in 0..N {
        let k = key(i);
        let expected = if i % EVERY == 0 {
            noise(i + N, 100)
        } else {
            noise(i, 100)
        };
        if in_lost(&k) {
            if i % EVERY == 0 {
                sparse_in_ranges += 1;
            } else {
                dense_in_ranges += 1;
            }
        }
        match engine.get("data", &k).unwrap() {
            Some(value) => assert_eq!(value, expected, "key {i} has another version's value"),
            None => {
                assert!(in_lost(&k), "key {i} missing outside the reported ranges");
                lost += 1;
            }
        }
    }
    assert!(
        dense_in_ranges > 100,
        "the lost ranges span other files' keys: {report:?}"
    );
    // Only keys whose newest version was in the damaged block can be gone, and keys whose
    // lookup the damaged file's bloom filter wrongly passes to the damaged block (10 bits per
    // key: about 1 %).
    assert!(
        lost <= sparse_in_ranges + dense_in_ranges / 25,
        "{lost} keys lost, {sparse_in_ranges} of the sparse file in the lost ranges, \
         {dense_in_ranges} of other files"
    );
    assert!(lost > 0, "the damaged block's own keys cannot be read");
}
