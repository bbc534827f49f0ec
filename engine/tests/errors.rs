//! Bad input gets a typed error naming what was wrong, never a panic.

mod common;

use lsmedic_engine::Error;
use lsmedic_engine::{CfOptions, Engine, EngineConfig, IterOptions, DEFAULT_CF};

#[test]
fn a_path_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"hello").unwrap();
    let err = Engine::open(&file, EngineConfig::default()).unwrap_err();
    assert!(
        matches!(&err, Error::NotADirectory { path } if path == &file),
        "{err}"
    );
}

#[test]
fn opening_the_same_database_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let err = Engine::open(dir.path(), EngineConfig::default()).unwrap_err();
    assert!(matches!(err, Error::AlreadyOpen { .. }), "{err}");
}

#[test]
fn a_missing_database_without_create_if_missing_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        create_if_missing: false,
        ..EngineConfig::default()
    };
    let err = Engine::open(dir.path().join("absent"), config).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
}

#[test]
fn unknown_column_families_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let unknown =
        |err: Error| matches!(err, Error::UnknownColumnFamily { ref name } if name == "ghost");
    assert!(unknown(engine.put("ghost", b"k", b"v").unwrap_err()));
    assert!(unknown(engine.get("ghost", b"k").unwrap_err()));
    assert!(unknown(engine.multi_get("ghost", &[b"k"]).unwrap_err()));
    assert!(unknown(engine.delete("ghost", b"k").unwrap_err()));
    assert!(unknown(
        engine.delete_range("ghost", b"a", b"b").unwrap_err()
    ));
    assert!(unknown(engine.flush("ghost").unwrap_err()));
    assert!(unknown(
        engine.compact_range("ghost", None, None).unwrap_err()
    ));
    assert!(unknown(engine.drop_cf("ghost").unwrap_err()));
    assert!(unknown(engine.cf_id("ghost").unwrap_err()));
    assert!(engine.iter("ghost", IterOptions::full()).is_err());
    assert!(matches!(
        engine.drop_cf(DEFAULT_CF),
        Err(Error::CannotDropDefault)
    ));
    engine.create_cf("twice", None).unwrap();
    assert!(matches!(
        engine.create_cf("twice", None),
        Err(Error::ColumnFamilyExists { .. })
    ));
    assert!(matches!(
        engine.create_cf("", None),
        Err(Error::InvalidOption { .. })
    ));
}

#[test]
fn invalid_option_values_name_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(EngineConfig, &str)> = vec![
        (
            EngineConfig {
                max_background_jobs: 0,
                ..EngineConfig::default()
            },
            "max_background_jobs",
        ),
        (
            EngineConfig {
                cf_options: CfOptions {
                    write_buffer_size: 10,
                    ..CfOptions::default()
                },
                ..EngineConfig::default()
            },
            "write_buffer_size",
        ),
        (
            EngineConfig {
                cf_options: CfOptions {
                    level0_slowdown_writes_trigger: 50,
                    ..CfOptions::default()
                },
                ..EngineConfig::default()
            },
            "level0_stop_writes_trigger",
        ),
        (
            EngineConfig {
                cf_options: CfOptions {
                    max_bytes_for_level_multiplier: f64::NAN,
                    ..CfOptions::default()
                },
                ..EngineConfig::default()
            },
            "max_bytes_for_level_multiplier",
        ),
    ];
    for (config, option) in cases {
        let err = Engine::open(dir.path(), config).unwrap_err();
        match &err {
            Error::InvalidOption { option: named, .. } => assert_eq!(*named, option),
            other => panic!("expected InvalidOption for {option}, got {other}"),
        }
        assert!(err.to_string().contains(option));
    }
    // The same rules apply to column families created at run time, naming the CF.
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let err = engine
        .create_cf(
            "bad",
            Some(&CfOptions {
                max_write_buffer_number: 1,
                ..CfOptions::default()
            }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("max_write_buffer_number"), "{err}");
    assert!(err.to_string().contains("\"bad\""), "{err}");
}

#[test]
fn unknown_options_in_config_documents_are_named() {
    let err = EngineConfig::from_toml_str("[cf_options]\nwrite_bufer_size = 1").unwrap_err();
    assert!(err.to_string().contains("write_bufer_size"), "{err}");
    let err = EngineConfig::from_json_str(r#"{"statistics": 3}"#).unwrap_err();
    assert!(
        matches!(err, Error::ConfigParse { format: "JSON", .. }),
        "{err}"
    );
}

#[test]
fn a_configured_cf_missing_without_create_missing_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    Engine::open(dir.path(), EngineConfig::default())
        .unwrap()
        .close()
        .unwrap();
    let config = EngineConfig {
        create_missing_column_families: false,
        column_families: vec![lsmedic_engine::ColumnFamilyConfig {
            name: "absent".into(),
            options: CfOptions::default(),
        }],
        ..EngineConfig::default()
    };
    let err = Engine::open(dir.path(), config).unwrap_err();
    assert!(
        matches!(&err, Error::Open { message, .. } if message.contains("absent")),
        "{err}"
    );
}

#[test]
fn a_reversed_range_delete_is_refused_and_later_writes_still_work() {
    // RocksDB would write the reversed range to the WAL, fail to insert it into the memtable
    // and stop every later write (found by the `ffi_calls` fuzz target).
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    engine.put(DEFAULT_CF, b"b", b"1").unwrap();

    let err = engine.delete_range(DEFAULT_CF, b"z", b"a").unwrap_err();
    assert!(matches!(err, Error::ReversedRange { .. }), "{err}");
    assert!(err.to_string().contains("sorts after"), "{err}");
    let mut batch = engine.batch();
    let err = batch.delete_range(DEFAULT_CF, b"z", b"a").unwrap_err();
    assert!(matches!(err, Error::ReversedRange { .. }), "{err}");
    assert!(batch.is_empty(), "the refused range is not in the batch");

    // An empty range is a no-op, and the engine still takes writes.
    engine.delete_range(DEFAULT_CF, b"b", b"b").unwrap();
    engine.put(DEFAULT_CF, b"c", b"2").unwrap();
    assert_eq!(engine.get(DEFAULT_CF, b"b").unwrap(), Some(b"1".to_vec()));
    engine.delete_range(DEFAULT_CF, b"a", b"c").unwrap();
    assert_eq!(engine.get(DEFAULT_CF, b"b").unwrap(), None);
    assert_eq!(engine.get(DEFAULT_CF, b"c").unwrap(), Some(b"2".to_vec()));
}
