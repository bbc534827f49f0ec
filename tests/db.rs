//! The `Db` facade against real RocksDB: engine and healer wired, steering through
//! `db.healer()`, clean close, and the rule healer acting on a real write stall.

mod common;

use std::time::{Duration, Instant};

use common::{key, noise};
use lsmedic::engine::{CfOptions, Compression, EngineConfig, DEFAULT_CF};
use lsmedic::healer::audit::AuditRecord;
use lsmedic::healer::{HealerConfig, Mode, Verdict};
use lsmedic::{Config, Db};

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

#[test]
fn db_opens_with_a_running_healer_and_closes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Config::default()).unwrap();
    db.create_cf("users", None).unwrap();
    for i in 0..1000u64 {
        db.put("users", &key(i), b"v").unwrap();
    }
    assert_eq!(db.get("users", &key(7)).unwrap(), Some(b"v".to_vec()));
    assert!(wait_until(Duration::from_secs(5), || db
        .healer()
        .stats()
        .ticks
        >= 3));
    let stats = db.healer().stats();
    assert!(stats.running);
    assert!(stats.ops_drained >= 1000, "{stats:?}");
    assert_eq!(stats.column_families, 2);
    assert_eq!(stats.errors, 0, "{:?}", stats.last_error);
    db.healer().set_mode(Mode::Advisory);
    assert_eq!(db.healer().stats().mode, Mode::Advisory);
    db.close().unwrap();
    // Reopens (the LOCK was released) with the data there.
    let db = Db::open(dir.path(), Config::default()).unwrap();
    assert_eq!(db.get("users", &key(999)).unwrap(), Some(b"v".to_vec()));
}

#[test]
fn config_reads_engine_and_healer_tables_from_toml() {
    let config = Config::from_toml_str(
        "[engine]\nmax_background_jobs = 3\n[healer]\ntick_interval_ms = 50\nmode = \"advisory\"\n",
    )
    .unwrap();
    assert_eq!(config.engine.max_background_jobs, 3);
    assert_eq!(config.healer.tick_interval_ms, 50);
    assert_eq!(config.healer.mode, Mode::Advisory);
    let err = Config::from_toml_str("[healer]\ntick_intervl_ms = 5\n").unwrap_err();
    assert!(err.to_string().contains("tick_intervl_ms"), "{err}");
}

/// Tiny memtables, low L0 triggers, one background job: heavy writes stall RocksDB.
fn stalling_config(mode: Mode) -> Config {
    Config {
        engine: EngineConfig {
            max_background_jobs: 1,
            cf_options: CfOptions {
                write_buffer_size: 256 * 1024,
                max_write_buffer_number: 3,
                level0_file_num_compaction_trigger: 2,
                level0_slowdown_writes_trigger: 4,
                level0_stop_writes_trigger: 8,
                target_file_size_base: 256 * 1024,
                max_bytes_for_level_base: 1024 * 1024,
                compression: Compression::None,
                ..CfOptions::default()
            },
            ..EngineConfig::default()
        },
        healer: HealerConfig {
            mode,
            ..HealerConfig::default()
        },
    }
}

/// Three threads writing 1 KB values as fast as they can for `duration`.
fn heavy_writes(db: &Db, duration: Duration) {
    std::thread::scope(|scope| {
        for t in 0..3u64 {
            scope.spawn(move || {
                let value = noise(t, 1000);
                let deadline = Instant::now() + duration;
                let mut i = 0;
                while Instant::now() < deadline {
                    db.put(DEFAULT_CF, &key(t * 10_000_000 + i), &value)
                        .unwrap();
                    i += 1;
                }
            });
        }
    });
}

/// The rules of every audited candidate with `verdict`.
fn candidates_with(db: &Db, verdict: Verdict) -> Vec<String> {
    db.healer()
        .audit_entries(10_000)
        .into_iter()
        .filter_map(|entry| match entry.record {
            AuditRecord::Decision(decision) => Some(decision),
            _ => None,
        })
        .flat_map(|decision| decision.candidates)
        .filter(|candidate| candidate.verdict == verdict)
        .map(|candidate| candidate.rule)
        .collect()
}

fn applied_actions(db: &Db) -> Vec<String> {
    candidates_with(db, Verdict::Applied)
}

#[test]
fn the_rule_healer_acts_on_a_real_write_stall() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), stalling_config(Mode::Active)).unwrap();
    heavy_writes(&db, Duration::from_secs(4));
    let actions = applied_actions(&db);
    let stats = db.healer().stats();
    assert!(!actions.is_empty(), "no action applied; stats {stats:?}");
    assert_eq!(stats.errors, 0, "{:?}", stats.last_error);
    db.close().unwrap();
}

#[test]
fn an_advisory_healer_decides_but_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), stalling_config(Mode::Advisory)).unwrap();
    let before = lsmedic::telemetry::Control::tunables(db.engine()).unwrap();
    heavy_writes(&db, Duration::from_secs(3));
    let advised = candidates_with(&db, Verdict::Advised).len();
    assert!(advised > 0, "the advisory healer proposed nothing");
    let mut after = lsmedic::telemetry::Control::tunables(db.engine()).unwrap();
    // Thread pools are process-wide: another test's engine may have grown them.
    for pool in [
        lsmedic::telemetry::Tunable::BackgroundThreadsLow,
        lsmedic::telemetry::Tunable::BackgroundThreadsHigh,
    ] {
        after.global.insert(pool, before.global[&pool]);
    }
    assert_eq!(after, before, "an advisory healer changed a tunable");
    assert!(applied_actions(&db).is_empty());
}
