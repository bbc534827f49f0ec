//! The control surface against real RocksDB: every option change is visible through RocksDB's
//! own OPTIONS file or properties, invalid changes are refused with the option named, the
//! write throttle holds its rate and releases at once, snapshot/restore round-trips.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::key;
use lsmedic_engine::Error;
use lsmedic_engine::{CfOptions, Engine, EngineConfig, WriteOpts, DEFAULT_CF};
use lsmedic_telemetry::{Control, ControlError, ThrottleScope, Tunable, TunableScope};

/// RocksDB's thread pools belong to its process-wide default `Env`, and opening an engine or
/// raising `max_background_jobs` can grow them: the tests of this file compare pool sizes, so
/// they run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static PROCESS_WIDE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    PROCESS_WIDE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The newest OPTIONS file RocksDB wrote, as section → (option → value).
fn options_file(dir: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let newest = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("OPTIONS-") && !n.ends_with(".dbtmp"))
        })
        .max_by_key(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            name.trim_start_matches("OPTIONS-")
                .parse::<u64>()
                .unwrap_or(0)
        })
        .expect("an OPTIONS file");
    let mut sections = BTreeMap::new();
    let mut current = String::new();
    for line in std::fs::read_to_string(newest).unwrap().lines() {
        let line = line.trim();
        if line.starts_with('[') {
            current = line.to_owned();
            sections
                .entry(current.clone())
                .or_insert_with(BTreeMap::new);
        } else if let Some((k, v)) = line.split_once('=') {
            sections
                .get_mut(&current)
                .unwrap()
                .insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    sections
}

fn cf_section(cf: &str) -> String {
    format!("[CFOptions \"{cf}\"]")
}

fn open_with_wbm(dir: &Path) -> Engine {
    let config = EngineConfig {
        write_buffer_manager_size: Some(64 << 20),
        ..EngineConfig::default()
    };
    Engine::open(dir, config).unwrap()
}

/// Changes to a set of tunables.
type Changes = Vec<(Tunable, u64)>;

/// A new valid value for every tunable (different from the defaults): (global, per CF).
fn new_values() -> (Changes, Changes) {
    let global = vec![
        (Tunable::MaxBackgroundJobs, 5),
        (Tunable::MaxSubcompactions, 3),
        (Tunable::DelayedWriteRate, 8 << 20),
        (Tunable::BlockCacheCapacity, 48 << 20),
        (Tunable::WriteBufferManagerSize, 96 << 20),
        (Tunable::BackgroundThreadsLow, 3),
        (Tunable::BackgroundThreadsHigh, 2),
    ];
    let cf = vec![
        (Tunable::WriteBufferSize, 8 << 20),
        (Tunable::MaxWriteBufferNumber, 5),
        (Tunable::Level0FileNumCompactionTrigger, 6),
        (Tunable::Level0SlowdownWritesTrigger, 30),
        (Tunable::Level0StopWritesTrigger, 50),
        (Tunable::SoftPendingCompactionBytesLimit, 32 << 30),
        (Tunable::HardPendingCompactionBytesLimit, 128 << 30),
        (Tunable::TargetFileSizeBase, 16 << 20),
        (Tunable::MaxBytesForLevelBase, 128 << 20),
        (Tunable::DisableAutoCompactions, 1),
    ];
    (global, cf)
}

#[test]
fn every_option_change_is_visible_in_rocksdb_options_file() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let engine = open_with_wbm(dir.path());
    engine.create_cf("users", None).unwrap();
    let (global, cf) = new_values();
    engine.set_global(&global).unwrap();
    engine.set_cf("users", &cf).unwrap();

    let file = options_file(dir.path());
    let db = &file["[DBOptions]"];
    assert_eq!(db["max_background_jobs"], "5");
    assert_eq!(db["max_subcompactions"], "3");
    assert_eq!(db["delayed_write_rate"], (8u64 << 20).to_string());
    let users = &file[&cf_section("users")];
    for (tunable, value) in &cf {
        let expected = if tunable.is_bool() {
            (*value != 0).to_string()
        } else {
            value.to_string()
        };
        assert_eq!(users[tunable.name()], expected, "{tunable}");
    }
    // The default CF kept its options.
    assert_eq!(
        file[&cf_section(DEFAULT_CF)]["level0_stop_writes_trigger"],
        "36"
    );

    // Engine resources: RocksDB's own property and objects report the new sizes.
    let sample = engine.sample();
    assert_eq!(
        sample.cf(DEFAULT_CF).unwrap().block_cache_capacity,
        Some(48 << 20)
    );
    assert_eq!(
        engine.write_buffer_manager().unwrap().get_buffer_size(),
        96 << 20
    );
    let tunables = engine.tunables().unwrap();
    assert_eq!(tunables.global(Tunable::BackgroundThreadsLow), Some(3));
    assert_eq!(tunables.global(Tunable::BackgroundThreadsHigh), Some(2));
    for (tunable, value) in &global {
        assert_eq!(tunables.global(*tunable), Some(*value), "{tunable}");
    }
    for (tunable, value) in &cf {
        assert_eq!(tunables.cf("users", *tunable), Some(*value), "{tunable}");
    }
}

#[test]
fn options_set_by_name_from_text_reach_rocksdb() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    engine
        .set_option(Some(DEFAULT_CF), "disable_auto_compactions", "true")
        .unwrap();
    engine.set_option(None, "max_background_jobs", "7").unwrap();
    let file = options_file(dir.path());
    assert_eq!(
        file[&cf_section(DEFAULT_CF)]["disable_auto_compactions"],
        "true"
    );
    assert_eq!(file["[DBOptions]"]["max_background_jobs"], "7");
}

#[test]
fn invalid_names_and_values_are_refused_with_the_option_named() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let before = engine.tunables().unwrap();

    let unknown = engine
        .set_option(None, "max_backgroud_jobs", "4")
        .unwrap_err();
    assert!(matches!(
        unknown,
        Error::Control(ControlError::UnknownOption { .. })
    ));
    assert!(unknown.to_string().contains("max_backgroud_jobs"));
    let text = engine
        .set_option(Some(DEFAULT_CF), "write_buffer_size", "big")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("write_buffer_size") && text.contains("big"),
        "{text}"
    );
    let err = engine
        .set_global(&[(Tunable::MaxBackgroundJobs, 0)])
        .unwrap_err();
    assert!(err.to_string().contains("max_background_jobs"), "{err}");
    let err = engine
        .set_global(&[(Tunable::WriteBufferSize, 1 << 20)])
        .unwrap_err();
    assert!(matches!(err, ControlError::WrongScope { .. }), "{err}");
    let err = engine
        .set_cf(DEFAULT_CF, &[(Tunable::MaxBackgroundJobs, 2)])
        .unwrap_err();
    assert!(matches!(err, ControlError::WrongScope { .. }), "{err}");
    // Cross-option rule: slowdown above the current stop trigger (36).
    let err = engine
        .set_cf(DEFAULT_CF, &[(Tunable::Level0SlowdownWritesTrigger, 40)])
        .unwrap_err();
    assert!(
        err.to_string().contains("level0_stop_writes_trigger"),
        "{err}"
    );
    // …but moving both together is fine.
    engine
        .set_cf(
            DEFAULT_CF,
            &[
                (Tunable::Level0SlowdownWritesTrigger, 40),
                (Tunable::Level0StopWritesTrigger, 60),
            ],
        )
        .unwrap();
    let err = engine
        .set_cf("ghost", &[(Tunable::WriteBufferSize, 1 << 20)])
        .unwrap_err();
    assert!(matches!(err, ControlError::UnknownColumnFamily { .. }));
    let err = engine
        .set_global(&[(Tunable::WriteBufferManagerSize, 64 << 20)])
        .unwrap_err();
    assert!(matches!(err, ControlError::Unavailable { .. }), "{err}");
    let err = engine
        .set_write_rate_limit(&ThrottleScope::All, Some(10))
        .unwrap_err();
    assert!(err.to_string().contains("write_rate_limit"));

    // Nothing refused above changed anything.
    let after = engine.tunables().unwrap();
    assert_eq!(after.global, before.global);
    let default_after = &after.cfs[DEFAULT_CF];
    assert_eq!(default_after[&Tunable::Level0SlowdownWritesTrigger], 40);
    assert_eq!(
        default_after[&Tunable::WriteBufferSize],
        before.cfs[DEFAULT_CF][&Tunable::WriteBufferSize]
    );
}

#[test]
fn snapshot_and_restore_round_trip_every_tunable() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let engine = open_with_wbm(dir.path());
    engine.create_cf("users", None).unwrap();
    let snapshot = engine.tunables().unwrap();
    // The snapshot covers every tunable of every scope.
    for tunable in Tunable::ALL {
        match tunable.scope() {
            TunableScope::Cf => assert!(snapshot.cf("users", tunable).is_some(), "{tunable}"),
            _ => assert!(snapshot.global(tunable).is_some(), "{tunable}"),
        }
    }

    let (global, cf) = new_values();
    engine.set_global(&global).unwrap();
    engine.set_cf("users", &cf).unwrap();
    engine.set_cf(DEFAULT_CF, &cf).unwrap();
    engine
        .set_write_rate_limit(&ThrottleScope::All, Some(4 << 20))
        .unwrap();
    engine
        .set_write_rate_limit(&ThrottleScope::Cf("users".into()), Some(1 << 20))
        .unwrap();
    assert_ne!(engine.tunables().unwrap(), snapshot);

    engine.restore(&snapshot).unwrap();
    assert_eq!(engine.tunables().unwrap(), snapshot);
    assert_eq!(engine.write_rate_limit(&ThrottleScope::All).unwrap(), None);
    let file = options_file(dir.path());
    assert_eq!(
        file[&cf_section("users")]["level0_stop_writes_trigger"],
        "36"
    );
    assert_eq!(
        file[&cf_section("users")]["disable_auto_compactions"],
        "false"
    );
    assert_eq!(file["[DBOptions]"]["max_background_jobs"], "2");
    assert_eq!(
        engine.sample().cf("users").unwrap().block_cache_capacity,
        Some(32 << 20)
    );
}

/// Writes 4 KiB values from `threads` threads until `stop`; returns bytes acknowledged.
fn write_until(engine: &Engine, threads: u64, stop: &AtomicBool, written: &AtomicU64) {
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                let value = vec![7u8; 4096];
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = key(t * 1_000_000_000 + i);
                    engine.put(DEFAULT_CF, &k, &value).unwrap();
                    written.fetch_add((k.len() + value.len()) as u64, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
    });
}

#[test]
fn throttle_holds_the_target_rate_with_four_writers_and_releases_at_once() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let rate: u64 = 2 << 20; // 2 MiB/s: far below what 4 writers reach unthrottled here
    engine
        .set_write_rate_limit(&ThrottleScope::All, Some(rate))
        .unwrap();
    let stop = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    let measured = std::thread::scope(|scope| {
        scope.spawn(|| write_until(&engine, 4, &stop, &written));
        // Skip the initial burst allowance, then measure 5 s.
        std::thread::sleep(Duration::from_millis(300));
        let (start_bytes, start) = (written.load(Ordering::Relaxed), Instant::now());
        std::thread::sleep(Duration::from_secs(5));
        let bytes = written.load(Ordering::Relaxed) - start_bytes;
        let rate_seen = bytes as f64 / start.elapsed().as_secs_f64();
        // Lift the limit while the writers are blocked: they must speed up at once.
        let lifted_at = Instant::now();
        let before_lift = written.load(Ordering::Relaxed);
        engine
            .set_write_rate_limit(&ThrottleScope::All, None)
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let after_lift = written.load(Ordering::Relaxed) - before_lift;
        let unthrottled = after_lift as f64 / lifted_at.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        (rate_seen, unthrottled)
    });
    let (rate_seen, unthrottled) = measured;
    let error = (rate_seen - rate as f64).abs() / rate as f64;
    assert!(
        error <= 0.10,
        "throttled rate {rate_seen:.0} B/s vs target {rate} B/s ({:.1} %)",
        error * 100.0
    );
    assert!(
        unthrottled > 3.0 * rate as f64,
        "after lifting the limit writers ran at only {unthrottled:.0} B/s"
    );
}

#[test]
fn throttle_deadline_turns_a_long_wait_into_a_typed_error() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    engine
        .set_write_rate_limit(&ThrottleScope::Cf(DEFAULT_CF.into()), Some(1024))
        .unwrap();
    let opts = WriteOpts::default().with_throttle_deadline(Duration::from_millis(20));
    // The bucket's burst allowance admits one large write at once and leaves a debt of
    // ~256 s at 1 KiB/s, which the next write would have to wait out.
    let big = vec![1u8; 256 * 1024];
    engine.put_opt(DEFAULT_CF, b"first", &big, opts).unwrap();
    let started = Instant::now();
    let err = engine.put_opt(DEFAULT_CF, b"k", b"v", opts).unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        engine.get(DEFAULT_CF, b"k").unwrap(),
        None,
        "nothing written"
    );
    let throttled = common::drain_ops(&engine)
        .into_iter()
        .filter(|op| op.outcome == lsmedic_telemetry::OpOutcome::Throttled)
        .count();
    assert_eq!(throttled, 1);
}

#[test]
fn maintenance_flushes_compacts_and_waits_for_idle() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        cf_options: CfOptions {
            level0_file_num_compaction_trigger: 2,
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    for round in 0..4u64 {
        for i in 0..500u64 {
            engine
                .put(DEFAULT_CF, &key(i), &round.to_be_bytes())
                .unwrap();
        }
        Control::flush(&engine, DEFAULT_CF).unwrap();
    }
    assert!(engine
        .wait_for_compactions(Duration::from_secs(30))
        .unwrap());
    let l0 = engine.sample().cf(DEFAULT_CF).unwrap().l0_files().unwrap();
    assert!(l0 < 2, "auto compaction left {l0} L0 files");
    Control::compact_range(&engine, DEFAULT_CF, Some((&key(0), &key(250)))).unwrap();
    Control::compact_range(&engine, DEFAULT_CF, None).unwrap();
    assert_eq!(engine.sample().cf(DEFAULT_CF).unwrap().l0_files(), Some(0));
    assert!(matches!(
        Control::flush(&engine, "ghost"),
        Err(ControlError::UnknownColumnFamily { .. })
    ));
}
