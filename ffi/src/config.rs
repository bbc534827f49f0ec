//! `lsmedic_config_t`: the configuration a database is opened with ([`lsmedic::Config`]:
//! `engine` = RocksDB options and column families, `healer` = tick, mode, weights, guard,
//! rules, audit log, models), built from JSON or TOML text, changed option by option with
//! [`lsmedic_config_set`] (any field, by its dotted path) or a few typed setters.
//!
//! Values are checked for type and name when set; ranges and cross-option rules are checked
//! once, when the database opens (so options that must move together can be set one by one).

use std::ffi::c_char;

use lsmedic::healer::Mode;
use lsmedic::Config;
use parking_lot::Mutex;
use serde_json::Value;

use crate::boundary::{c_str, call, call_quiet, malloc_string, opt_c_str, FfiError, FfiResult};
use crate::handles::{self, handled};
use crate::lsmedic_config_t;

/// Healer mode: drain the telemetry rings and nothing else.
pub const LSMEDIC_HEALER_MODE_OFF: i32 = 0;
/// Healer mode: decide and write the audit log, never change the database.
pub const LSMEDIC_HEALER_MODE_ADVISORY: i32 = 1;
/// Healer mode: decide, act, verify and roll back (the default).
pub const LSMEDIC_HEALER_MODE_ACTIVE: i32 = 2;

/// The mode named by a `LSMEDIC_HEALER_MODE_*` constant.
pub(crate) fn mode_from_int(mode: i32) -> FfiResult<Mode> {
    match mode {
        LSMEDIC_HEALER_MODE_OFF => Ok(Mode::Off),
        LSMEDIC_HEALER_MODE_ADVISORY => Ok(Mode::Advisory),
        LSMEDIC_HEALER_MODE_ACTIVE => Ok(Mode::Active),
        other => Err(FfiError::Invalid {
            what: "mode",
            reason: format!(
                "{other} is not a healer mode (LSMEDIC_HEALER_MODE_OFF 0, _ADVISORY 1, _ACTIVE 2)"
            ),
        }),
    }
}

/// The `LSMEDIC_HEALER_MODE_*` constant of `mode`.
pub(crate) fn mode_to_int(mode: Mode) -> i32 {
    match mode {
        Mode::Off => LSMEDIC_HEALER_MODE_OFF,
        Mode::Advisory => LSMEDIC_HEALER_MODE_ADVISORY,
        Mode::Active => LSMEDIC_HEALER_MODE_ACTIVE,
    }
}

/// The object behind an `lsmedic_config_t*`.
#[derive(Default)]
pub(crate) struct ConfigObject {
    pub(crate) config: Mutex<Config>,
}
handled!(ConfigObject, Config, "config");

fn config_handle(config: *const lsmedic_config_t) -> FfiResult<std::sync::Arc<ConfigObject>> {
    handles::get(config, "config")
}

/// Applies `change` to the config behind `config`.
fn update(
    config: *mut lsmedic_config_t,
    change: impl FnOnce(&mut Config) -> FfiResult<()>,
) -> FfiResult<()> {
    let object = config_handle(config)?;
    let mut guard = object.config.lock();
    change(&mut guard)
}

/// Sets the field at `path` (dotted; array elements by index) of `config` to `value`,
/// checking names and types through serde. The config is unchanged on error.
pub(crate) fn set_path(config: &mut Config, path: &str, value: Value) -> FfiResult<()> {
    let mut tree = serde_json::to_value(&*config).map_err(|source| FfiError::Json {
        what: "config",
        source,
    })?;
    let invalid = |reason: String| FfiError::Invalid {
        what: "name",
        reason,
    };
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(invalid(format!(
            "{path:?} is not a dotted option path such as \"engine.max_background_jobs\""
        )));
    }
    let mut node = &mut tree;
    let mut walked = String::new();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        node = match node {
            Value::Object(map) => {
                if last {
                    // Unknown names are inserted here and refused by serde below, with the
                    // list of valid ones.
                    map.insert(part.to_owned(), value);
                    break;
                }
                map.get_mut(part).ok_or_else(|| {
                    invalid(format!("{path:?}: no option {part:?} under {walked:?}"))
                })?
            }
            Value::Array(items) => {
                let index: usize = part.parse().map_err(|_| {
                    invalid(format!(
                        "{path:?}: {walked:?} is a list, {part:?} is not an index"
                    ))
                })?;
                let len = items.len();
                let item = items.get_mut(index).ok_or_else(|| {
                    invalid(format!(
                        "{path:?}: index {index} past the {len} items of {walked:?}"
                    ))
                })?;
                if last {
                    *item = value;
                    break;
                }
                item
            }
            _ => {
                return Err(invalid(format!(
                    "{path:?}: {walked:?} is a value, not a table of options"
                )))
            }
        };
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(part);
    }
    let updated: Config = serde_json::from_value(tree).map_err(|source| FfiError::Invalid {
        what: "value",
        reason: format!("{path}: {source}"),
    })?;
    *config = updated;
    Ok(())
}

/// A value argument of [`lsmedic_config_set`]: JSON, or a plain string when it is not JSON.
pub(crate) fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A configuration with every default (RocksDB's defaults for options, healer active).
/// Returns NULL only if the library failed internally.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn lsmedic_config_create() -> *mut lsmedic_config_t {
    call_quiet(std::ptr::null_mut(), || {
        Ok(handles::register(ConfigObject::default()))
    })
}

/// Parses a JSON configuration: `{"engine": {...}, "healer": {...}}`, any field may be left
/// out. Unknown names and wrong types are errors naming the field. NULL on error.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_from_json(
    json: *const c_char,
    errptr: *mut *mut c_char,
) -> *mut lsmedic_config_t {
    call(
        "lsmedic_config_from_json",
        errptr,
        std::ptr::null_mut(),
        || {
            // SAFETY: forwarded contract.
            let text = unsafe { c_str(json, "json") }?;
            let config = Config::from_json_str(text)?;
            Ok(handles::register(ConfigObject {
                config: Mutex::new(config),
            }))
        },
    )
}

/// Parses a TOML configuration (`[engine]`, `[engine.cf_options]`, `[healer]`, … tables).
/// Unknown names and wrong types are errors naming the field and line. NULL on error.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `toml` is NULL or a NUL-terminated string; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_from_toml(
    toml: *const c_char,
    errptr: *mut *mut c_char,
) -> *mut lsmedic_config_t {
    call(
        "lsmedic_config_from_toml",
        errptr,
        std::ptr::null_mut(),
        || {
            // SAFETY: forwarded contract.
            let text = unsafe { c_str(toml, "toml") }?;
            let config = Config::from_toml_str(text)?;
            Ok(handles::register(ConfigObject {
                config: Mutex::new(config),
            }))
        },
    )
}

/// The whole configuration as a JSON document (every field, defaults included); free it
/// with `lsmedic_free`. NULL on error.
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_to_json(
    config: *const lsmedic_config_t,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    call(
        "lsmedic_config_to_json",
        errptr,
        std::ptr::null_mut(),
        || {
            let object = config_handle(config)?;
            let text = serde_json::to_string_pretty(&*object.config.lock()).map_err(|source| {
                FfiError::Json {
                    what: "config",
                    source,
                }
            })?;
            malloc_string(&text)
        },
    )
}

/// Sets one option by its dotted path in the JSON/TOML document, e.g.
/// `"engine.cf_options.write_buffer_size"` = `"262144"`, `"healer.mode"` = `"advisory"`,
/// `"engine.column_families"` = `"[{\"name\": \"events\"}]"`. `value` is JSON text (`4`,
/// `true`, `"lz4"`, `null`, `{...}`, `[...]`); text that is not valid JSON is taken as a
/// string, so `advisory` works unquoted. Unknown names and wrong types are errors and leave
/// the config unchanged; ranges are checked by `lsmedic_open`.
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `name` and `value` are NULL or NUL-terminated strings; `errptr` is NULL or a valid
/// `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_set(
    config: *mut lsmedic_config_t,
    name: *const c_char,
    value: *const c_char,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_config_set", errptr, (), || {
        // SAFETY: forwarded contract.
        let (name, value) = unsafe { (c_str(name, "name")?, c_str(value, "value")?) };
        update(config, |config| set_path(config, name, parse_value(value)))
    })
}

/// Whether `lsmedic_open` creates a missing database (default 1).
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_set_create_if_missing(
    config: *mut lsmedic_config_t,
    create_if_missing: u8,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_config_set_create_if_missing", errptr, (), || {
        update(config, |config| {
            config.engine.create_if_missing = create_if_missing != 0;
            Ok(())
        })
    })
}

/// RocksDB `max_background_jobs` (flush + compaction threads; default 2).
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_set_max_background_jobs(
    config: *mut lsmedic_config_t,
    jobs: i32,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_config_set_max_background_jobs", errptr, (), || {
        update(config, |config| {
            config.engine.max_background_jobs = jobs;
            Ok(())
        })
    })
}

/// RocksDB `write_buffer_size` (bytes of one memtable) of the default column family and of
/// column families created without options.
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_set_write_buffer_size(
    config: *mut lsmedic_config_t,
    bytes: u64,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_config_set_write_buffer_size", errptr, (), || {
        update(config, |config| {
            config.engine.cf_options.write_buffer_size = bytes;
            Ok(())
        })
    })
}

/// RocksDB's three L0 triggers (`level0_file_num_compaction_trigger`,
/// `level0_slowdown_writes_trigger`, `level0_stop_writes_trigger`) of the default column
/// family and of column families created without options. `lsmedic_open` requires
/// compaction ≤ slowdown ≤ stop.
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_set_level0_triggers(
    config: *mut lsmedic_config_t,
    compaction: i32,
    slowdown: i32,
    stop: i32,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_config_set_level0_triggers", errptr, (), || {
        update(config, |config| {
            let options = &mut config.engine.cf_options;
            options.level0_file_num_compaction_trigger = compaction;
            options.level0_slowdown_writes_trigger = slowdown;
            options.level0_stop_writes_trigger = stop;
            Ok(())
        })
    })
}

/// The healer's mode at open: one of `LSMEDIC_HEALER_MODE_*`.
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_set_healer_mode(
    config: *mut lsmedic_config_t,
    mode: i32,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_config_set_healer_mode", errptr, (), || {
        let mode = mode_from_int(mode)?;
        update(config, |config| {
            config.healer.mode = mode;
            Ok(())
        })
    })
}

/// Time between two healer decisions, in ms (1..=60000, default 100; checked at open).
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_set_healer_tick_interval_ms(
    config: *mut lsmedic_config_t,
    tick_interval_ms: u64,
    errptr: *mut *mut c_char,
) {
    call(
        "lsmedic_config_set_healer_tick_interval_ms",
        errptr,
        (),
        || {
            update(config, |config| {
                config.healer.tick_interval_ms = tick_interval_ms;
                Ok(())
            })
        },
    )
}

/// The audit log's JSON-lines file; NULL keeps the audit in memory only (the default).
///
/// Thread-safety: any thread; calls on one config are serialised.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_config_set_audit_path(
    config: *mut lsmedic_config_t,
    path: *const c_char,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_config_set_audit_path", errptr, (), || {
        // SAFETY: forwarded contract.
        let path = unsafe { opt_c_str(path, "path") }?;
        update(config, |config| {
            config.healer.audit.path = path.map(Into::into);
            Ok(())
        })
    })
}

/// Destroys a configuration (databases opened with it keep their own copy). NULL and dead
/// handles are ignored.
///
/// Thread-safety: any thread; the handle is dead afterwards for every thread.
#[no_mangle]
pub extern "C" fn lsmedic_config_destroy(config: *mut lsmedic_config_t) {
    call_quiet((), || {
        handles::remove::<ConfigObject, _>(config, "config").map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmedic::engine::Compression;

    #[test]
    fn set_path_sets_nested_fields_by_name_and_type() {
        let mut config = Config::default();
        set_path(
            &mut config,
            "engine.cf_options.write_buffer_size",
            parse_value("262144"),
        )
        .expect("set");
        assert_eq!(config.engine.cf_options.write_buffer_size, 262_144);
        set_path(&mut config, "healer.mode", parse_value("advisory")).expect("unquoted");
        assert_eq!(config.healer.mode, Mode::Advisory);
        set_path(
            &mut config,
            "engine.cf_options.compression",
            parse_value("\"lz4\""),
        )
        .expect("quoted");
        assert_eq!(config.engine.cf_options.compression, Compression::Lz4);
        set_path(
            &mut config,
            "engine.column_families",
            parse_value(r#"[{"name": "events"}]"#),
        )
        .expect("list");
        set_path(
            &mut config,
            "engine.column_families.0.name",
            parse_value("orders"),
        )
        .expect("by index");
        assert_eq!(config.engine.column_families[0].name, "orders");
        set_path(
            &mut config,
            "healer.audit.path",
            parse_value("/tmp/a.jsonl"),
        )
        .expect("opt");
        assert_eq!(
            config.healer.audit.path.as_deref(),
            Some(std::path::Path::new("/tmp/a.jsonl"))
        );
        set_path(&mut config, "healer.audit.path", parse_value("null")).expect("null");
        assert_eq!(config.healer.audit.path, None);
    }

    #[test]
    fn set_path_refuses_unknown_names_wrong_types_and_bad_paths_unchanged() {
        let mut config = Config::default();
        let before = config.clone();
        let cases = [
            ("engine.max_bg_jobs", "4", "max_bg_jobs"),
            (
                "engine.max_background_jobs",
                "\"four\"",
                "max_background_jobs",
            ),
            ("engine.nothing.deeper", "1", "no option \"nothing\""),
            ("engine.max_background_jobs.x", "1", "is a value"),
            ("engine.column_families.3", "{}", "past the 0 items"),
            ("engine.column_families.x", "{}", "not an index"),
            ("", "1", "dotted"),
            ("engine..x", "1", "dotted"),
            ("healer.mode", "sideways", "sideways"),
        ];
        for (path, value, expected) in cases {
            let err = set_path(&mut config, path, parse_value(value)).unwrap_err();
            assert!(err.to_string().contains(expected), "{path}: {err}");
            assert_eq!(config, before, "{path} changed the config");
        }
    }

    #[test]
    fn modes_round_trip_and_unknown_numbers_are_refused() {
        for mode in [Mode::Off, Mode::Advisory, Mode::Active] {
            assert_eq!(mode_from_int(mode_to_int(mode)).expect("mode"), mode);
        }
        assert!(mode_from_int(3).is_err());
        assert!(mode_from_int(-1).is_err());
    }
}
