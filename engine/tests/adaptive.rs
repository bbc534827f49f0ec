//! RocksDB's self-adjusting options (rate limiter, WAL sync smoothing, dynamic level sizing,
//! deletion-triggered compaction): they open, bad values are refused naming the option, and
//! each takes effect where RocksDB lets it be observed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use lsmedic_engine::{
    CfOptions, CompactOnDeletionCollectorConfig, Compression, Engine, EngineConfig, Error,
    RateLimiterConfig, DEFAULT_CF,
};
use lsmedic_telemetry::Control;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The text of the newest `OPTIONS-<n>` file RocksDB wrote into `dir` (the options it runs
/// with, after its own sanitising).
fn newest_options_file(dir: &Path) -> String {
    let newest = std::fs::read_dir(dir)
        .expect("read the database directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let number: u64 = name.strip_prefix("OPTIONS-")?.parse().ok()?;
            Some((number, name))
        })
        .max()
        .expect("RocksDB wrote an OPTIONS file");
    std::fs::read_to_string(dir.join(newest.1)).expect("read the OPTIONS file")
}

/// The value of `name` in every section of an OPTIONS file that sets it.
fn option_values<'a>(options: &'a str, name: &str) -> Vec<&'a str> {
    options
        .lines()
        .filter_map(|line| line.trim().strip_prefix(name)?.strip_prefix('='))
        .collect()
}

fn collector() -> CompactOnDeletionCollectorConfig {
    CompactOnDeletionCollectorConfig {
        sliding_window_size: 100,
        deletion_trigger: 50,
        deletion_ratio: 0.5,
    }
}

#[test]
fn adaptive_options_reach_the_options_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        rate_limiter: Some(RateLimiterConfig::auto_tuned(256 * MIB)),
        wal_bytes_per_sync: 512 * KIB,
        cf_options: CfOptions {
            compact_on_deletion_collector: Some(collector()),
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    let options = newest_options_file(dir.path());
    assert_eq!(option_values(&options, "wal_bytes_per_sync"), ["524288"]);
    // RocksDB does not write the limiter itself into the file, but syncs SST writes every
    // 1 MiB when a limiter is installed and bytes_per_sync is 0: the trace it leaves.
    assert_eq!(option_values(&options, "bytes_per_sync"), ["1048576"]);
    let dynamic = option_values(&options, "level_compaction_dynamic_level_bytes");
    assert!(!dynamic.is_empty() && dynamic.iter().all(|v| *v == "true"));
    let collectors = option_values(&options, "table_properties_collectors");
    assert!(
        !collectors.is_empty()
            && collectors
                .iter()
                .all(|v| v.contains("CompactOnDeletionCollector")),
        "{collectors:?}"
    );
    engine.close().unwrap();
}

#[test]
fn defaults_leave_the_adaptive_options_as_rocksdb_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let options = newest_options_file(dir.path());
    assert_eq!(option_values(&options, "wal_bytes_per_sync"), ["0"]);
    assert_eq!(
        option_values(&options, "bytes_per_sync"),
        ["0"],
        "no limiter"
    );
    let dynamic = option_values(&options, "level_compaction_dynamic_level_bytes");
    assert!(!dynamic.is_empty() && dynamic.iter().all(|v| *v == "true"));
    assert!(!options.contains("CompactOnDeletionCollector"));
    engine.close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        cf_options: CfOptions {
            level_compaction_dynamic_level_bytes: false,
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    let options = newest_options_file(dir.path());
    let dynamic = option_values(&options, "level_compaction_dynamic_level_bytes");
    assert!(!dynamic.is_empty() && dynamic.iter().all(|v| *v == "false"));
    engine.close().unwrap();
}

#[test]
fn auto_tuned_rate_limiter_holds_a_flush_below_its_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let ceiling = MIB;
    let config = EngineConfig {
        rate_limiter: Some(RateLimiterConfig::auto_tuned(ceiling)),
        cf_options: CfOptions {
            compression: Compression::None,
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    let value_size = 4 * KIB as usize;
    let flushed = MIB;
    for i in 0..flushed / value_size as u64 {
        engine
            .put(DEFAULT_CF, &common::key(i), &common::noise(i, value_size))
            .unwrap();
    }
    let start = Instant::now();
    engine.flush(DEFAULT_CF).unwrap();
    let elapsed = start.elapsed();
    // 1 MiB at no more than 1 MiB/s (auto-tuning starts at half the ceiling), less the one
    // refill period (100 ms) that may already be available when the flush starts.
    assert!(
        elapsed >= Duration::from_millis(800),
        "a 1 MiB flush took {elapsed:?} under a 1 MiB/s limiter"
    );
    engine.close().unwrap();
}

/// Writes `keys` keys, flushes, deletes them all, flushes, lets RocksDB settle and returns the
/// L0 file count of the default column family.
fn l0_files_after_delete_wave(collector: Option<CompactOnDeletionCollectorConfig>) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        cf_options: CfOptions {
            compact_on_deletion_collector: collector,
            ..CfOptions::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    let keys = 2_000;
    for i in 0..keys {
        engine
            .put(DEFAULT_CF, &common::key(i), &common::noise(i, 100))
            .unwrap();
    }
    engine.flush(DEFAULT_CF).unwrap();
    for i in 0..keys {
        engine.delete(DEFAULT_CF, &common::key(i)).unwrap();
    }
    engine.flush(DEFAULT_CF).unwrap();
    assert!(engine
        .wait_for_compactions(Duration::from_secs(30))
        .unwrap());
    let sample = engine.sample();
    let default = sample
        .cfs
        .iter()
        .find(|cf| cf.name == DEFAULT_CF)
        .expect("the default column family is sampled");
    let l0 = default.l0_files().expect("L0 file count");
    engine.close().unwrap();
    l0
}

#[test]
fn compact_on_deletion_collector_compacts_a_tombstone_file_below_the_l0_trigger() {
    // Two L0 files stay put under the default trigger of four…
    assert_eq!(l0_files_after_delete_wave(None), 2);
    // …unless the file of deletions is marked for compaction by the collector.
    assert_eq!(l0_files_after_delete_wave(Some(collector())), 0);
}

#[test]
fn bad_adaptive_options_are_refused_at_open_naming_the_option() {
    let limiter = |change: fn(&mut RateLimiterConfig)| {
        let mut limiter = RateLimiterConfig::auto_tuned(64 * MIB);
        change(&mut limiter);
        EngineConfig {
            rate_limiter: Some(limiter),
            ..EngineConfig::default()
        }
    };
    let deletions = |change: fn(&mut CompactOnDeletionCollectorConfig)| {
        let mut collector = collector();
        change(&mut collector);
        EngineConfig {
            cf_options: CfOptions {
                compact_on_deletion_collector: Some(collector),
                ..CfOptions::default()
            },
            ..EngineConfig::default()
        }
    };
    let cases = [
        (
            limiter(|l| l.rate_bytes_per_sec = 0),
            "rate_limiter.rate_bytes_per_sec",
        ),
        (
            limiter(|l| l.rate_bytes_per_sec = u64::MAX),
            "rate_limiter.rate_bytes_per_sec",
        ),
        (
            limiter(|l| l.refill_period_us = 0),
            "rate_limiter.refill_period_us",
        ),
        (limiter(|l| l.fairness = 0), "rate_limiter.fairness"),
        (limiter(|l| l.fairness = 101), "rate_limiter.fairness"),
        (
            deletions(|c| c.deletion_trigger = 0),
            "compact_on_deletion_collector.deletion_trigger",
        ),
        (
            deletions(|c| c.deletion_trigger = c.sliding_window_size + 1),
            "compact_on_deletion_collector.deletion_trigger",
        ),
        (
            deletions(|c| c.sliding_window_size = u64::MAX),
            "compact_on_deletion_collector.sliding_window_size",
        ),
        (
            deletions(|c| c.deletion_ratio = 1.5),
            "compact_on_deletion_collector.deletion_ratio",
        ),
        (
            deletions(|c| c.deletion_ratio = f64::NAN),
            "compact_on_deletion_collector.deletion_ratio",
        ),
        (
            deletions(|c| {
                c.sliding_window_size = 0;
                c.deletion_ratio = 0.0;
            }),
            "compact_on_deletion_collector",
        ),
    ];
    for (config, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        let err = Engine::open(dir.path(), config).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidOption { option, .. } if *option == named),
            "expected {named}: {err}"
        );
        assert!(err.to_string().contains(named), "{err}");
    }
}

#[test]
fn adaptive_options_read_from_toml_with_rocksdb_defaults() {
    let config = EngineConfig::from_toml_str(
        "wal_bytes_per_sync = 1048576\n\
         [rate_limiter]\nrate_bytes_per_sec = 1073741824\nauto_tuned = true\n\
         [cf_options.compact_on_deletion_collector]\n\
         sliding_window_size = 2000\ndeletion_trigger = 1800\n",
    )
    .unwrap();
    assert_eq!(
        config.rate_limiter,
        Some(RateLimiterConfig::auto_tuned(1 << 30))
    );
    let collector = config.cf_options.compact_on_deletion_collector.clone();
    assert_eq!(
        collector,
        Some(CompactOnDeletionCollectorConfig {
            sliding_window_size: 2000,
            deletion_trigger: 1800,
            deletion_ratio: 0.0,
        })
    );
    config.validate().unwrap();
    let text = toml::to_string(&config).unwrap();
    assert_eq!(EngineConfig::from_toml_str(&text).unwrap(), config);

    let err = EngineConfig::from_toml_str("[rate_limiter]\nauto_tuned = true\n").unwrap_err();
    assert!(err.to_string().contains("rate_bytes_per_sec"), "{err}");
    let err = EngineConfig::from_toml_str("[rate_limiter]\nrate_bytes_per_sec = 1\nburst = 2\n")
        .unwrap_err();
    assert!(err.to_string().contains("burst"), "{err}");
}
