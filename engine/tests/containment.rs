//! Containment of a compaction's corruption against real RocksDB: the background error is
//! cleared and every column family keeps taking writes, the damaged one is quarantined (no
//! automatic compaction reads the damaged file again) until a rebuild replaces it; with
//! containment off, RocksDB refuses every write, which is what containment prevents.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{collect_events_until, flip_bytes, key, newest_sst, noise};
use lsmedic_engine::{CfOptions, Compression, Engine, EngineConfig};
use lsmedic_telemetry::{
    BackgroundErrorReason, Control, ControlError, EngineEvent, EngineEventKind, Tunable,
};

const N: u64 = 20_000;
const WAIT: Duration = Duration::from_secs(30);

fn config(contain: bool) -> EngineConfig {
    EngineConfig {
        contain_compaction_corruption: contain,
        cf_options: CfOptions {
            compression: Compression::None,
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    }
}

/// "data" holds N keys in one SST with a damaged data block; "other" is healthy.
fn damaged_engine(dir: &Path, contain: bool) -> Engine {
    {
        let engine = Engine::open(dir, config(contain)).unwrap();
        engine.create_cf("other", None).unwrap();
        engine.create_cf("data", None).unwrap();
        for i in 0..1000 {
            engine.put("other", &key(i), b"healthy").unwrap();
        }
        engine.flush("other").unwrap();
        for i in 0..N {
            engine.put("data", &key(i), &noise(i, 200)).unwrap();
        }
        engine.flush("data").unwrap();
        engine.close().unwrap();
    }
    flip_bytes(&newest_sst(dir), 0.5, 32);
    Engine::open(dir, config(contain)).unwrap()
}

/// Flushes enough small L0 files into "data" that RocksDB compacts L0 on its own (the
/// default trigger is 4 files). They rewrite keys across the damaged file's range (with the
/// same values), so the compaction must merge, and read, the damaged file rather than move
/// it down untouched. Stops at the first refused write: without containment, the
/// compaction that the third flush triggers may stop writes before the fourth round.
fn provoke_automatic_compaction(engine: &Engine) -> lsmedic_engine::Result<()> {
    for round in 0..4u64 {
        for k in (round..N).step_by(97) {
            engine.put("data", &key(k), &noise(k, 200))?;
        }
        engine.flush("data")?;
    }
    Ok(())
}

fn background_errors(events: &[EngineEvent]) -> Vec<(String, BackgroundErrorReason, bool)> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EngineEventKind::BackgroundError {
                reason, contained, ..
            } => Some((e.cf_name.as_str().to_owned(), reason, contained)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_compaction_meeting_corruption_is_contained_and_writes_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let engine = damaged_engine(dir.path(), true);
    let physical = engine.physical_cf("data").unwrap();
    provoke_automatic_compaction(&engine).unwrap();
    let events = collect_events_until(&engine, WAIT, |events| {
        !background_errors(events).is_empty()
    });
    assert_eq!(
        background_errors(&events),
        vec![(physical.clone(), BackgroundErrorReason::Compaction, true)],
        "{events:#?}"
    );
    assert_eq!(engine.quarantined_cfs(), vec!["data".to_owned()]);

    // Every column family keeps taking writes, the damaged one included.
    engine.put("other", b"after", b"v").unwrap();
    engine.put("data", b"after", b"v").unwrap();
    engine.flush("data").unwrap();
    assert_eq!(
        engine.get("other", &key(7)).unwrap(),
        Some(b"healthy".to_vec())
    );

    // Compactions of the damaged CF stay off: more L0 files that would make RocksDB compact
    // (and read the damaged file) again raise no error. The quarantine thread applies the
    // option within microseconds of the report; the pause leaves it ample time.
    std::thread::sleep(Duration::from_millis(500));
    provoke_automatic_compaction(&engine).unwrap();
    let later = collect_events_until(&engine, Duration::from_secs(3), |_| false);
    assert_eq!(background_errors(&later), vec![], "{later:#?}");
    // ... and the control surface refuses to switch them back on.
    let refused = Control::set_cf(&engine, "data", &[(Tunable::DisableAutoCompactions, 0)]);
    assert!(
        matches!(refused, Err(ControlError::Unavailable { .. })),
        "{refused:?}"
    );
    assert_eq!(engine.quarantine_error(), None);

    // A rebuild replaces the damaged CF and ends the quarantine; every key is right or
    // inside a reported lost range, and the writes made during the quarantine are kept.
    let report = engine.rebuild_cf("data").unwrap();
    assert!(!report.lost_ranges.is_empty(), "{report:?}");
    assert_eq!(engine.quarantined_cfs(), Vec::<String>::new());
    for i in 0..N {
        let k = key(i);
        match engine.get("data", &k).unwrap() {
            Some(value) => assert_eq!(value, noise(i, 200), "key {i}"),
            None => assert!(
                report.lost_ranges.iter().any(|range| range.contains(&k)),
                "key {i} missing outside the lost ranges"
            ),
        }
    }
    assert_eq!(engine.get("data", b"after").unwrap(), Some(b"v".to_vec()));
    Control::set_cf(&engine, "data", &[(Tunable::DisableAutoCompactions, 0)]).unwrap();
    engine.compact_range("data", None, None).unwrap();
}

#[test]
fn without_containment_rocksdb_refuses_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let engine = damaged_engine(dir.path(), false);
    let _ = provoke_automatic_compaction(&engine);
    let events = collect_events_until(&engine, WAIT, |events| {
        !background_errors(events).is_empty()
    });
    let errors = background_errors(&events);
    assert_eq!(errors.len(), 1, "{events:#?}");
    assert_eq!(
        (errors[0].1, errors[0].2),
        (BackgroundErrorReason::Compaction, false)
    );
    assert!(engine.quarantined_cfs().is_empty());
    let refused = engine.put("other", b"after", b"v");
    assert!(
        refused.is_err(),
        "a healthy CF's write was accepted: {refused:?}"
    );
}
