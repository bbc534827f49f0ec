//! Telemetry against real RocksDB: listener events with the right column family and
//! plausible sizes, write stalls seen by events and the sampler, background errors from a
//! corrupted SST, and drop counting when rings overflow.

mod common;

use std::time::Duration;

use common::{collect_events_until, drain_ops, flip_bytes, key, newest_sst, noise};
use lsmedic_engine::{CfOptions, Compression, Engine, EngineConfig, TelemetryConfig, DEFAULT_CF};
use lsmedic_telemetry::{BackgroundErrorReason, EngineEvent, EngineEventKind, StallCondition};

const WAIT: Duration = Duration::from_secs(20);

fn count(events: &[EngineEvent], cf: &str, name: &str) -> usize {
    events
        .iter()
        .filter(|e| e.cf_name.as_str() == cf && e.kind.name() == name)
        .count()
}

#[test]
fn flush_and_compaction_events_carry_cf_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    engine.create_cf("events", None).unwrap();
    for round in 0..2u64 {
        for i in 0..1000u64 {
            engine
                .put("events", &key(i), &noise(round * 10_000 + i, 100))
                .unwrap();
        }
        engine.flush("events").unwrap();
    }
    engine.compact_range("events", None, None).unwrap();
    let events = collect_events_until(&engine, WAIT, |events| {
        count(events, "events", "compaction_completed") >= 1
    });

    assert_eq!(count(&events, "events", "flush_begin"), 2, "{events:#?}");
    assert_eq!(count(&events, "events", "flush_completed"), 2);
    assert!(count(&events, "events", "memtable_sealed") >= 2);
    assert_eq!(count(&events, DEFAULT_CF, "flush_completed"), 0);
    for event in events.iter().filter(|e| e.cf_name.as_str() == "events") {
        match event.kind {
            EngineEventKind::FlushCompleted {
                file_bytes,
                entries,
                triggered_writes_stop,
                ..
            } => {
                assert_eq!(entries, 1000);
                // 1000 × (13-byte key + 100 random bytes) plus index and filter.
                assert!(
                    (100_000..200_000).contains(&file_bytes),
                    "flush wrote {file_bytes} bytes"
                );
                assert!(!triggered_writes_stop);
            }
            EngineEventKind::MemtableSealed { entries, .. } => {
                assert_eq!(entries, 1000);
            }
            EngineEventKind::CompactionBegin {
                input_level,
                num_l0_files,
                input_files,
                ..
            } => {
                assert_eq!(input_level, 0);
                assert_eq!(num_l0_files, 2);
                assert_eq!(input_files, 2);
            }
            EngineEventKind::CompactionCompleted {
                input_bytes,
                output_bytes,
                input_records,
                output_records,
                output_level,
                ok,
                ..
            } => {
                assert!(ok);
                assert!(output_level >= 1);
                assert_eq!(input_records, 2000);
                // Round two overwrote every key of round one.
                assert_eq!(output_records, 1000);
                assert!(input_bytes > 200_000, "compaction read {input_bytes}");
                assert!(output_bytes > 100_000 && output_bytes < input_bytes);
            }
            _ => {}
        }
    }
    assert!(events.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
}

fn stall_config() -> EngineConfig {
    EngineConfig {
        max_background_jobs: 1,
        cf_options: CfOptions {
            write_buffer_size: 64 * 1024,
            max_write_buffer_number: 2,
            level0_file_num_compaction_trigger: 2,
            level0_slowdown_writes_trigger: 3,
            level0_stop_writes_trigger: 6,
            target_file_size_base: 64 * 1024,
            max_bytes_for_level_base: 256 * 1024,
            compression: Compression::None,
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    }
}

#[test]
fn heavy_writes_on_tiny_memtables_show_a_write_stall() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), stall_config()).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let engine = &engine;
            scope.spawn(move || {
                let value = noise(t, 1000);
                for i in 0..8_000u64 {
                    engine
                        .put(DEFAULT_CF, &key(t * 100_000 + i), &value)
                        .unwrap();
                }
            });
        }
    });
    let events = collect_events_until(&engine, Duration::from_secs(1), |_| false);
    let stalls: Vec<_> = events
        .iter()
        .filter_map(|e| match e.kind {
            EngineEventKind::StallConditionChanged { prev, cur } => Some((e.cf_name, prev, cur)),
            _ => None,
        })
        .collect();
    assert!(
        stalls
            .iter()
            .any(|(cf, _, cur)| cf.as_str() == DEFAULT_CF && *cur != StallCondition::Normal),
        "no stall condition seen: {stalls:?}"
    );
    let statistics = engine.sample().statistics.expect("statistics on");
    assert!(statistics.stall_micros > 0, "{statistics:?}");
    assert!(statistics.write_stall_micros.count > 0);
    assert!(statistics.db_write_micros.count >= 32_000);
    assert!(statistics.flush_write_bytes > 0 && statistics.compact_write_bytes > 0);
}

#[test]
fn corrupted_sst_raises_a_background_error_and_typed_read_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        cf_options: CfOptions {
            compression: Compression::None,
            disable_auto_compactions: true,
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config.clone()).unwrap();
    for round in 0..2u64 {
        for i in 0..2000u64 {
            engine
                .put(DEFAULT_CF, &key(i), &noise(round * 10_000 + i, 200))
                .unwrap();
        }
        engine.flush(DEFAULT_CF).unwrap();
    }
    drop(engine);
    flip_bytes(&newest_sst(dir.path()), 1.0 / 3.0, 64);

    let engine = Engine::open(dir.path(), config).unwrap();
    // Reads of the damaged block fail with a typed corruption error, never a wrong value.
    let mut corrupt_reads = 0;
    for i in 0..2000u64 {
        match engine.get(DEFAULT_CF, &key(i)) {
            Ok(value) => assert_eq!(value, Some(noise(10_000 + i, 200)), "key {i}"),
            Err(err) => {
                assert!(err.is_corruption(), "{err}");
                corrupt_reads += 1;
            }
        }
    }
    // Compaction must read every block of both files: the damaged one fails the job.
    engine.compact_range(DEFAULT_CF, None, None).unwrap();
    let events = collect_events_until(&engine, WAIT, |events| {
        events
            .iter()
            .any(|e| matches!(e.kind, EngineEventKind::BackgroundError { .. }))
    });
    let background = events
        .iter()
        .find_map(|e| match e.kind {
            EngineEventKind::BackgroundError {
                reason, message, ..
            } => Some((reason, message)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no background error among {events:#?}"));
    assert_eq!(background.0, BackgroundErrorReason::Compaction);
    assert!(
        background.1.as_str().to_lowercase().contains("corrupt")
            || background.1.as_str().contains("checksum"),
        "{:?}",
        background.1
    );
    let failed_compaction = events.iter().any(|e| {
        matches!(
            e.kind,
            EngineEventKind::CompactionCompleted { ok: false, .. }
        )
    });
    assert!(failed_compaction, "{events:#?}");
    // The damaged file is the newest, so every read of its damaged block must have failed.
    assert!(corrupt_reads > 0, "no read hit the damaged block");
}

#[test]
fn overfilled_rings_count_their_drops() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        telemetry: TelemetryConfig {
            op_ring_shards: 1,
            op_ring_capacity: 8,
            event_ring_capacity: 2,
        },
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    for i in 0..100u64 {
        engine.put(DEFAULT_CF, &key(i), b"v").unwrap();
    }
    assert_eq!(engine.telemetry().dropped_ops(), 100 - 8);
    assert_eq!(drain_ops(&engine).len(), 8, "the first 8 were kept");
    // Draining makes room again.
    engine.put(DEFAULT_CF, b"after", b"v").unwrap();
    assert_eq!(drain_ops(&engine).len(), 1);

    for i in 0..5u64 {
        engine.put(DEFAULT_CF, &key(i), b"v").unwrap();
        engine.flush(DEFAULT_CF).unwrap();
    }
    // 5 flushes emit at least 15 events (sealed, begin, completed) into a ring of 2.
    assert!(engine.telemetry().dropped_events() >= 13);
    let mut kept = 0;
    engine.telemetry().drain_events(|_| kept += 1);
    assert_eq!(kept, 2);
    assert_eq!(engine.telemetry().listener_panics(), 0);
}
