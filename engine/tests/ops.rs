//! The engine's data path against real RocksDB in temp dirs: column families, point ops,
//! batches, iterators, flush/compaction, checkpoints, close and reopen.

mod common;

use common::{drain_ops, key};
use lsmedic_engine::{
    CfOptions, ColumnFamilyConfig, Engine, EngineConfig, IterOptions, WriteOpts, DEFAULT_CF,
};
use lsmedic_telemetry::{OpKind, OpOutcome};

fn open(dir: &tempfile::TempDir) -> Engine {
    Engine::open(dir.path(), EngineConfig::default()).expect("open")
}

#[test]
fn column_families_are_created_listed_dropped_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = open(&dir);
        assert_eq!(engine.list_cfs(), vec![DEFAULT_CF.to_string()]);
        engine.create_cf("users", None).unwrap();
        engine
            .create_cf(
                "logs",
                Some(&CfOptions {
                    write_buffer_size: 1 << 20,
                    ..CfOptions::default()
                }),
            )
            .unwrap();
        engine.create_cf("tmp", None).unwrap();
        engine.drop_cf("tmp").unwrap();
        assert_eq!(engine.list_cfs(), vec!["default", "users", "logs"]);
        engine.put("users", b"alice", b"1").unwrap();
        engine.close().unwrap();
    }
    let engine = open(&dir);
    let mut names = engine.list_cfs();
    names.sort();
    assert_eq!(names, vec!["default", "logs", "users"]);
    assert_eq!(engine.get("users", b"alice").unwrap(), Some(b"1".to_vec()));
    assert_eq!(engine.get("logs", b"alice").unwrap(), None);
}

#[test]
fn configured_column_families_are_created_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        column_families: vec![ColumnFamilyConfig {
            name: "orders".into(),
            options: CfOptions::default(),
        }],
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    assert!(engine.list_cfs().contains(&"orders".to_string()));
    engine.put("orders", b"o1", b"v").unwrap();
}

#[test]
fn point_operations_round_trip_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir);
    engine.create_cf("kv", None).unwrap();
    let kv_id = engine.cf_id("kv").unwrap();
    drain_ops(&engine);

    engine.put("kv", b"a", b"apple").unwrap();
    engine
        .put_opt("kv", b"b", b"banana", WriteOpts::synced())
        .unwrap();
    assert_eq!(engine.get("kv", b"a").unwrap(), Some(b"apple".to_vec()));
    assert_eq!(engine.get("kv", b"zz").unwrap(), None);
    assert_eq!(
        engine
            .multi_get("kv", &[b"b".as_slice(), b"x", b"a"])
            .unwrap(),
        vec![Some(b"banana".to_vec()), None, Some(b"apple".to_vec())]
    );
    engine.delete("kv", b"a").unwrap();
    assert_eq!(engine.get("kv", b"a").unwrap(), None);
    // The default CF is untouched by writes to "kv".
    assert_eq!(engine.get(DEFAULT_CF, b"b").unwrap(), None);

    let ops = drain_ops(&engine);
    let kinds: Vec<(OpKind, OpOutcome)> = ops.iter().map(|op| (op.kind, op.outcome)).collect();
    assert_eq!(
        kinds,
        vec![
            (OpKind::Put, OpOutcome::Ok),
            (OpKind::Put, OpOutcome::Ok),
            (OpKind::Get, OpOutcome::Ok),
            (OpKind::Get, OpOutcome::NotFound),
            (OpKind::MultiGet, OpOutcome::Ok),
            (OpKind::Delete, OpOutcome::Ok),
            (OpKind::Get, OpOutcome::NotFound),
            (OpKind::Get, OpOutcome::NotFound),
        ]
    );
    assert!(ops[..7].iter().all(|op| op.cf == kv_id));
    assert_eq!(ops[0].bytes, 1 + 5);
    assert_eq!(ops[2].bytes, 5, "a get records the value bytes returned");
    assert_eq!(ops[4].bytes, 6 + 5);
    assert!(ops.iter().all(|op| op.latency_ns > 0));
    assert!(ops.windows(2).all(|w| w[0].end_ns <= w[1].end_ns));
}

#[test]
fn delete_range_removes_exactly_the_half_open_range() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir);
    for i in 0..100 {
        engine.put(DEFAULT_CF, &key(i), b"v").unwrap();
    }
    engine.delete_range(DEFAULT_CF, &key(10), &key(20)).unwrap();
    for i in 0..100 {
        let present = engine.get(DEFAULT_CF, &key(i)).unwrap().is_some();
        assert_eq!(present, !(10..20).contains(&i), "key {i}");
    }
}

#[test]
fn write_batch_is_atomic_across_column_families() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir);
    engine.create_cf("a", None).unwrap();
    engine.create_cf("b", None).unwrap();
    engine.put("a", b"gone", b"x").unwrap();
    drain_ops(&engine);

    let mut batch = engine.batch();
    batch.put("a", b"k1", b"v1").unwrap();
    batch.put("b", b"k2", b"v2").unwrap();
    batch.delete("a", b"gone").unwrap();
    assert!(
        batch.put("nope", b"k", b"v").is_err(),
        "unknown CF in a batch"
    );
    assert_eq!(batch.len(), 3);
    engine.write_opt(batch, WriteOpts::synced()).unwrap();

    assert_eq!(engine.get("a", b"k1").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(engine.get("b", b"k2").unwrap(), Some(b"v2".to_vec()));
    assert_eq!(engine.get("a", b"gone").unwrap(), None);

    let writes: Vec<_> = drain_ops(&engine)
        .into_iter()
        .filter(|op| op.kind == OpKind::Write)
        .collect();
    assert_eq!(writes.len(), 2, "one Write event per CF touched");
    let a = engine.cf_id("a").unwrap();
    let bytes_a = writes.iter().find(|op| op.cf == a).unwrap().bytes;
    assert_eq!(bytes_a, (2 + 2) + 4);
}

#[test]
fn batch_from_another_engine_is_rejected() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (e1, e2) = (open(&d1), open(&d2));
    let mut batch = e1.batch();
    batch.put(DEFAULT_CF, b"k", b"v").unwrap();
    let err = e2.write(batch).unwrap_err();
    assert!(matches!(err, lsmedic_engine::Error::ForeignBatch), "{err}");
}

fn collect_keys(engine: &Engine, options: IterOptions) -> Vec<Vec<u8>> {
    engine
        .iter(DEFAULT_CF, options)
        .unwrap()
        .map(|item| item.unwrap().0.into_vec())
        .collect()
}

#[test]
fn iterators_cover_full_range_prefix_and_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir);
    for k in ["a1", "a2", "a3", "b1", "b2", "c\u{ff}"] {
        engine.put(DEFAULT_CF, k.as_bytes(), b"v").unwrap();
    }
    engine.put(DEFAULT_CF, b"a\xff\xff", b"v").unwrap();
    engine.put(DEFAULT_CF, b"b", b"v").unwrap();
    let as_strings = |keys: Vec<Vec<u8>>| -> Vec<String> {
        keys.into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect()
    };
    let full = collect_keys(&engine, IterOptions::full());
    assert_eq!(full.len(), 8);
    assert!(full.windows(2).all(|w| w[0] < w[1]));
    let mut reversed = collect_keys(&engine, IterOptions::full().reverse());
    reversed.reverse();
    assert_eq!(reversed, full);

    assert_eq!(
        as_strings(collect_keys(&engine, IterOptions::range("a2", "b1"))),
        vec!["a2", "a3", "a\u{fffd}\u{fffd}", "b"]
    );
    assert_eq!(
        as_strings(collect_keys(
            &engine,
            IterOptions::range("a2", "b1").reverse()
        )),
        vec!["b", "a\u{fffd}\u{fffd}", "a3", "a2"]
    );
    assert_eq!(
        as_strings(collect_keys(&engine, IterOptions::prefix("a"))),
        vec!["a1", "a2", "a3", "a\u{fffd}\u{fffd}"]
    );
    // A prefix ending in 0xff has a successor computed past the carry.
    assert_eq!(
        collect_keys(&engine, IterOptions::prefix(b"a\xff".to_vec())).len(),
        1
    );
    assert_eq!(
        as_strings(collect_keys(&engine, IterOptions::prefix("b").reverse())),
        vec!["b2", "b1", "b"]
    );
    assert!(collect_keys(&engine, IterOptions::prefix("zz")).is_empty());
}

#[test]
fn iterator_seek_repositions_and_scan_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir);
    for i in 0..50 {
        engine.put(DEFAULT_CF, &key(i), &[7u8; 10]).unwrap();
    }
    drain_ops(&engine);
    {
        let mut iter = engine.iter(DEFAULT_CF, IterOptions::full()).unwrap();
        iter.seek(&key(40));
        let got: Vec<_> = iter.by_ref().take(3).map(|r| r.unwrap().0).collect();
        assert_eq!(got[0].as_ref(), key(40).as_slice());
        assert_eq!(got[2].as_ref(), key(42).as_slice());
    }
    let scans: Vec<_> = drain_ops(&engine)
        .into_iter()
        .filter(|op| op.kind == OpKind::Scan)
        .collect();
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0].bytes as usize, 3 * (key(0).len() + 10));
    assert!(scans[0].latency_ns > 0);
}

#[test]
fn flush_compact_and_checkpoint_produce_an_openable_copy() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir);
    for i in 0..1000 {
        engine
            .put(DEFAULT_CF, &key(i), &common::noise(i, 100))
            .unwrap();
    }
    engine.flush(DEFAULT_CF).unwrap();
    let sample = engine.sample();
    let props = sample.cf(DEFAULT_CF).unwrap();
    assert_eq!(props.l0_files(), Some(1));
    engine.compact_range(DEFAULT_CF, None, None).unwrap();
    let props = engine.sample().cfs.remove(0);
    assert_eq!(props.l0_files(), Some(0));
    assert!(props.live_sst_files_size.unwrap() > 50_000);

    let copy = dir.path().join("checkpoint");
    engine.checkpoint(&copy).unwrap();
    assert!(
        engine.checkpoint(&copy).is_err(),
        "existing checkpoint dir is refused"
    );
    drop(engine);
    let restored = Engine::open(&copy, EngineConfig::default()).unwrap();
    for i in (0..1000).step_by(97) {
        assert_eq!(
            restored.get(DEFAULT_CF, &key(i)).unwrap(),
            Some(common::noise(i, 100))
        );
    }
}

#[test]
fn synced_writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = open(&dir);
        for i in 0..100 {
            engine
                .put_opt(DEFAULT_CF, &key(i), b"durable", WriteOpts::synced())
                .unwrap();
        }
        let statistics = engine.sample().statistics.unwrap();
        assert!(statistics.wal_synced >= 1, "sync flag reaches the WAL");
        // Dropped without close(): the WAL replays on reopen.
    }
    let engine = open(&dir);
    for i in 0..100 {
        assert_eq!(
            engine.get(DEFAULT_CF, &key(i)).unwrap(),
            Some(b"durable".to_vec())
        );
    }
}

#[test]
fn concurrent_writers_keep_per_thread_order_in_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir);
    // One CF per thread, so the CF id in each event tells which thread pushed it.
    for t in 0..4 {
        engine.create_cf(&format!("t{t}"), None).unwrap();
    }
    drain_ops(&engine);
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let engine = &engine;
            scope.spawn(move || {
                let cf = format!("t{t}");
                for i in 0..500u64 {
                    engine.put(&cf, &key(i), &i.to_be_bytes()).unwrap();
                }
            });
        }
    });
    let ops = drain_ops(&engine);
    assert_eq!(ops.len(), 2000);
    assert_eq!(engine.telemetry().dropped_ops(), 0);
    for t in 0..4 {
        let id = engine.cf_id(&format!("t{t}")).unwrap();
        let mine: Vec<_> = ops.iter().filter(|op| op.cf == id).collect();
        assert_eq!(mine.len(), 500);
        assert!(
            mine.windows(2).all(|w| w[0].end_ns <= w[1].end_ns),
            "thread {t}'s events came out of order"
        );
    }
}
