//! `EngineConfig` and the facade's `lsmedic::Config` from TOML and JSON, and their validation.
//!
//! Input layout: the first byte picks the mode: `0`/`1` an `EngineConfig` as TOML/JSON text,
//! `2`/`3` a `lsmedic::Config` as TOML/JSON text (the rest of the input, if UTF-8), anything
//! else a structured edit ([`lsmedic_fuzz::doc`]) of a valid base configuration of either type.
//!
//! Parsing and validation must never panic. A configuration that validates must:
//! - hold only finite numbers;
//! - validate again (validation is a pure check);
//! - round-trip through JSON and TOML unchanged;
//! - agree with the control surface: every option that is also an online tunable passes that
//!   tunable's `check`, and every column family's tunables pass the cross-option rules — so
//!   what was accepted at open can be set again through `Control` (the healer restores
//!   values that way);
//! - have valid, distinct column-family names;
//! - build its `rocksdb::Options` (the exact options `Engine::open` uses) without crashing.
//!
//! For `lsmedic::Config`, the healer part must also pass `HealerConfig::validated`, as
//! `Db::open` requires, before these checks run.

#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lsmedic::engine::config::{
    validate_cf_name, ColumnFamilyConfig, CompactOnDeletionCollectorConfig, RateLimiterConfig,
};
use lsmedic::engine::{CfOptions, EngineConfig};
use lsmedic::telemetry::control::check_cf_rules;
use lsmedic::telemetry::Tunable;
use lsmedic::Config;
use lsmedic_fuzz::doc::{self, DocInput, Syntax};
use lsmedic_fuzz::roundtrip::{assert_finite, assert_round_trips};
use lsmedic_fuzz::stats::Stats;

/// Inputs, documents parsed, documents that validated (`LSMEDIC_FUZZ_STATS=1`).
static STATS: Stats<3> = Stats::new("engine_config", ["inputs", "parsed", "valid"]);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Engine,
    Facade,
}

struct Bases {
    docs: Vec<(Kind, toml::Value)>,
    vocabulary: Vec<String>,
}

fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| {
        let mut with_cfs = EngineConfig {
            column_families: vec![
                ColumnFamilyConfig {
                    name: "events".to_owned(),
                    options: CfOptions {
                        write_buffer_size: 4 << 20,
                        level0_slowdown_writes_trigger: 8,
                        level0_stop_writes_trigger: 12,
                        ..CfOptions::default()
                    },
                },
                ColumnFamilyConfig {
                    name: "index".to_owned(),
                    options: CfOptions::default(),
                },
            ],
            write_buffer_manager_size: Some(256 << 20),
            ..EngineConfig::default()
        };
        with_cfs.checkpoints.enabled = true;
        // RocksDB's own adaptive features, so edits reach their fields and bounds too.
        let mut adaptive = EngineConfig {
            rate_limiter: Some(RateLimiterConfig::auto_tuned(64 << 20)),
            wal_bytes_per_sync: 1 << 20,
            ..EngineConfig::default()
        };
        adaptive.cf_options.level_compaction_dynamic_level_bytes = true;
        adaptive.cf_options.compact_on_deletion_collector =
            Some(CompactOnDeletionCollectorConfig {
                sliding_window_size: 128,
                deletion_trigger: 64,
                deletion_ratio: 0.5,
            });
        let facade = Config {
            engine: with_cfs.clone(),
            ..Config::default()
        };
        let docs = vec![
            (Kind::Engine, tree(&EngineConfig::default())),
            (Kind::Engine, tree(&with_cfs)),
            (Kind::Engine, tree(&adaptive)),
            (Kind::Facade, tree(&Config::default())),
            (Kind::Facade, tree(&facade)),
        ];
        let trees: Vec<toml::Value> = docs.iter().map(|(_, t)| t.clone()).collect();
        let names: Vec<String> = Tunable::ALL
            .iter()
            .map(|t| t.name().to_owned())
            .chain(
                [
                    "none",
                    "snappy",
                    "lz4",
                    "zstd",
                    "default",
                    "__lsmedic_meta",
                    "a__lsmedic_gen1",
                    "",
                    "off",
                    "advisory",
                    "active",
                ]
                .map(String::from),
            )
            .chain(std::iter::once("x".repeat(201)))
            .collect();
        let vocabulary = doc::vocabulary(&trees, names.iter().map(String::as_str));
        Bases { docs, vocabulary }
    })
}

/// A base configuration as a tree.
fn tree<T: serde::Serialize>(config: &T) -> toml::Value {
    doc::to_tree(config).expect("a base configuration serialises")
}

fn tunable_ok(tunable: Tunable, value: u64, what: &str) {
    if let Err(e) = tunable.check(value) {
        panic!("accepted at open but refused by the control surface: {what}: {e}");
    }
}

/// Everything promised of an `EngineConfig` that passed `validate`.
fn check_engine(config: &EngineConfig) {
    if let Err(e) = config.validate() {
        panic!("validation is not repeatable: {e}");
    }
    assert_finite(config, "EngineConfig");
    assert_round_trips(config, "EngineConfig");

    let db_wide = [
        (
            Tunable::MaxBackgroundJobs,
            i64::from(config.max_background_jobs),
        ),
        (
            Tunable::MaxSubcompactions,
            i64::from(config.max_subcompactions),
        ),
        (
            Tunable::DelayedWriteRate,
            i64::try_from(config.delayed_write_rate).unwrap_or(i64::MAX),
        ),
        (
            Tunable::BlockCacheCapacity,
            i64::try_from(config.block_cache_size).unwrap_or(i64::MAX),
        ),
    ];
    for (tunable, value) in db_wide {
        let value = u64::try_from(value).unwrap_or_else(|_| panic!("{tunable} = {value} accepted"));
        tunable_ok(tunable, value, tunable.name());
    }
    if let Some(size) = config.write_buffer_manager_size {
        tunable_ok(
            Tunable::WriteBufferManagerSize,
            size,
            "write_buffer_manager_size",
        );
    }

    let mut names = vec!["default"];
    for cf in &config.column_families {
        if let Err(e) = validate_cf_name(&cf.name) {
            panic!(
                "column family {:?} accepted by validate but not by validate_cf_name: {e}",
                cf.name
            );
        }
        assert!(
            !names.contains(&cf.name.as_str()),
            "column family {:?} listed twice",
            cf.name
        );
        names.push(&cf.name);
    }
    for name in &names {
        let tunables = config.cf_options_for(name).tunables();
        for (&tunable, &value) in &tunables {
            tunable_ok(
                tunable,
                value,
                &format!("column family {name:?}: {tunable}"),
            );
        }
        if let Err(e) = check_cf_rules(name, &tunables) {
            panic!(
                "column family {name:?}: accepted at open, refused by the cross-option rules: {e}"
            );
        }
    }

    // The exact options Engine::open builds; RocksDB's C++ must take every accepted value.
    let cache = rocksdb::Cache::new_lru_cache(
        usize::try_from(config.block_cache_size).unwrap_or(usize::MAX),
    );
    drop(config.db_options(&cache));
    for cf in &config.column_families {
        drop(cf.options.rocksdb_options(&cache));
    }
}

fn check_engine_text(text: &str, syntax: Syntax) {
    let parsed = match syntax {
        Syntax::Toml => EngineConfig::from_toml_str(text),
        Syntax::Json => EngineConfig::from_json_str(text),
    };
    match parsed {
        Ok(config) => match config.validate() {
            Ok(()) => {
                STATS.count(1);
                STATS.count(2);
                check_engine(&config)
            }
            Err(e) => {
                STATS.count(1);
                assert!(!e.to_string().is_empty())
            }
        },
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn check_facade_text(text: &str, syntax: Syntax) {
    let parsed = match syntax {
        Syntax::Toml => Config::from_toml_str(text),
        Syntax::Json => Config::from_json_str(text),
    };
    let Ok(config) = parsed else { return };
    STATS.count(1);
    if config.engine.validate().is_err() {
        return;
    }
    let Ok(healer) = config.healer.clone().validated() else {
        return;
    };
    STATS.count(2);
    check_engine(&config.engine);
    assert_finite(&healer, "lsmedic::Config.healer");
    assert_round_trips(&Config { healer, ..config }, "lsmedic::Config");
}

fn check(kind: Kind, text: &str, syntax: Syntax) {
    match kind {
        Kind::Engine => check_engine_text(text, syntax),
        Kind::Facade => check_facade_text(text, syntax),
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    STATS.count(0);
});

fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode < 4 {
        if let Ok(text) = std::str::from_utf8(rest) {
            let kind = if mode < 2 { Kind::Engine } else { Kind::Facade };
            check(
                kind,
                text,
                if mode % 2 == 0 {
                    Syntax::Toml
                } else {
                    Syntax::Json
                },
            );
        }
        return;
    }
    let Ok(input) = DocInput::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    let bases = bases();
    let (kind, base) = &bases.docs[usize::from(input.base) % bases.docs.len()];
    let mut tree = base.clone();
    doc::apply_input(&mut tree, &input, &bases.vocabulary);
    if let Some(text) = doc::render(&tree, input.syntax) {
        check(*kind, &text, input.syntax);
    }
}
