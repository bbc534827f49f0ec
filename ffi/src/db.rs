//! `lsmedic_t`: an open database — the instrumented engine plus the healer thread, as
//! [`lsmedic::Db`] wires them, with the healer held so that C can stop and restart it.
//!
//! Every data call on a database is safe from any number of threads at once (RocksDB's
//! `DB` is). Closing is safe against misuse: a call still running on another thread, or an
//! iterator not yet destroyed, keeps the engine alive until it finishes; RocksDB then closes
//! when the last of them goes (and `lsmedic_close` says so).

use std::ffi::c_char;
use std::sync::Arc;

use lsmedic::engine::{CfOptions, Engine, WriteOpts};
use lsmedic::healer::{Healer, HealerConfig, HealerHandle};
use lsmedic::Config;
use parking_lot::Mutex;

use crate::boundary::{
    bytes, c_str, call, cf_name, malloc_bytes, malloc_string, malloc_string_array, opt_bytes,
    opt_c_str, write_out, FfiError, FfiResult,
};
use crate::config::ConfigObject;
use crate::handles::{self, handled};
use crate::healer::{in_healer_callback, CallbackSlot};
use crate::{lsmedic_config_t, lsmedic_t};

/// The healer's lifecycle state: held only to start, stop or re-register the callback.
pub(crate) struct HealerSlot {
    /// The running healer (`None` once stopped).
    pub(crate) running: Option<Healer>,
    /// The callback to install on every healer started.
    pub(crate) callback: Option<CallbackSlot>,
}

/// The object behind an `lsmedic_t*`.
pub(crate) struct Database {
    pub(crate) engine: Arc<Engine>,
    /// Lifecycle (start, stop, callback); never held while calling steering functions.
    pub(crate) healer: Mutex<HealerSlot>,
    /// Handle of the current (or last) healer, for steering and statistics.
    pub(crate) handle: Mutex<HealerHandle>,
    /// What a restarted healer is configured with (mode and weights from the last one).
    pub(crate) healer_config: HealerConfig,
}
handled!(Database, Db, "database");

impl Database {
    /// The current healer handle.
    pub(crate) fn healer_handle(&self) -> HealerHandle {
        self.handle.lock().clone()
    }
}

pub(crate) fn db_handle(db: *const lsmedic_t) -> FfiResult<Arc<Database>> {
    handles::get(db, "db")
}

/// Opens (creating it when `create_if_missing`) the database in directory `path` and starts
/// its healer. `config` is copied (NULL = defaults); destroy it whenever convenient. Every
/// option is checked here: ranges, cross-option rules (L0 triggers, pending-compaction
/// limits), healer settings. NULL on error (bad option, RocksDB error, already open, …).
///
/// Thread-safety: any thread.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_open(
    path: *const c_char,
    config: *const lsmedic_config_t,
    errptr: *mut *mut c_char,
) -> *mut lsmedic_t {
    call("lsmedic_open", errptr, std::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let path = unsafe { c_str(path, "path") }?;
        if path.is_empty() {
            return Err(FfiError::Invalid {
                what: "path",
                reason: "is empty".to_owned(),
            });
        }
        let config: Config = if config.is_null() {
            Config::default()
        } else {
            handles::get::<ConfigObject, _>(config, "config")?
                .config
                .lock()
                .clone()
        };
        let healer_config = config.healer.clone();
        let engine = Engine::open_shared(path, config.engine).map_err(lsmedic::DbError::from)?;
        let healer = Healer::start(Arc::clone(&engine), config.healer.clone())
            .map_err(lsmedic::DbError::from)?;
        let handle = healer.handle();
        Ok(handles::register(Database {
            engine,
            healer: Mutex::new(HealerSlot {
                running: Some(healer),
                callback: None,
            }),
            handle: Mutex::new(handle),
            healer_config,
        }))
    })
}

/// Stops the healer (waiting for a flush, compaction or rebuild it started; the callback is
/// never called again after this returns), syncs the WAL and closes the database. The handle
/// is dead afterwards whatever happens. Reports a failed WAL sync, and reports when iterators
/// are still open or calls still run on other threads: RocksDB then closes when the last of
/// them finishes, and reopening the path fails until it has.
///
/// Thread-safety: any thread except the healer thread (not from inside a healer callback:
/// refused with an error).
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_close(db: *mut lsmedic_t, errptr: *mut *mut c_char) {
    call("lsmedic_close", errptr, (), || {
        if in_healer_callback() {
            return Err(FfiError::State(
                "cannot close a database from inside a healer callback (it runs on the healer \
                 thread, which closing has to stop)"
                    .to_owned(),
            ));
        }
        let database = handles::remove::<Database, _>(db, "db")?;
        let healer = database.healer.lock().running.take();
        let stopped = match healer {
            Some(mut healer) => healer.stop().map_err(lsmedic::DbError::from),
            None => Ok(()),
        };
        let engine = Arc::clone(&database.engine);
        drop(database);
        let closed = match Arc::try_unwrap(engine) {
            Ok(engine) => engine.close().map_err(FfiError::from),
            Err(shared) => Err(FfiError::State(format!(
                "{} iterator(s) or concurrent call(s) still use the database: it closes when \
                 the last of them ends",
                Arc::strong_count(&shared) - 1
            ))),
        };
        stopped?;
        closed
    })
}

/// Creates column family `name`. `options_json` is NULL (use the config's `cf_options`) or
/// a JSON object of RocksDB column-family options (`{"write_buffer_size": 1048576}`; fields
/// left out take RocksDB's defaults).
///
/// Thread-safety: any thread; column-family changes are serialised internally.
///
/// # Safety
/// `name` and `options_json` are NULL or NUL-terminated strings; `errptr` is NULL or a valid
/// `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_create_column_family(
    db: *mut lsmedic_t,
    name: *const c_char,
    options_json: *const c_char,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_create_column_family", errptr, (), || {
        // SAFETY: forwarded contract.
        let (name, options) = unsafe {
            (
                c_str(name, "name")?,
                opt_c_str(options_json, "options_json")?,
            )
        };
        let options: Option<CfOptions> = options
            .map(|text| {
                serde_json::from_str(text).map_err(|source| FfiError::Json {
                    what: "options_json",
                    source,
                })
            })
            .transpose()?;
        db_handle(db)?.engine.create_cf(name, options.as_ref())?;
        Ok(())
    })
}

/// Drops column family `name` and all its data (not the default column family).
///
/// Thread-safety: any thread; column-family changes are serialised internally. Iterators
/// over the dropped family keep reading what they saw.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_drop_column_family(
    db: *mut lsmedic_t,
    name: *const c_char,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_drop_column_family", errptr, (), || {
        // SAFETY: forwarded contract.
        let name = unsafe { c_str(name, "name") }?;
        db_handle(db)?.engine.drop_cf(name)?;
        Ok(())
    })
}

/// The names of all column families, in creation order, as a NULL-terminated array of
/// NUL-terminated strings; `*count` (if not NULL) gets their number. The array and its
/// strings are one allocation: free it with one `lsmedic_free`. NULL on error.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `count` is NULL or writable; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_list_column_families(
    db: *mut lsmedic_t,
    count: *mut usize,
    errptr: *mut *mut c_char,
) -> *mut *mut c_char {
    // SAFETY: forwarded contract.
    unsafe {
        names_out(
            db,
            count,
            errptr,
            "lsmedic_list_column_families",
            Engine::list_cfs,
        )
    }
}

/// The column families in quarantine, as `lsmedic_list_column_families` returns names: a
/// compaction met corrupt data in their files, the engine kept the database writable
/// (`engine.contain_compaction_corruption`, on by default) and stopped their automatic
/// compactions until they are rebuilt (`lsmedic_rebuild_column_family` or the healer).
/// An empty array (`*count` = 0) when none is.
///
/// Thread-safety: any thread.
///
/// # Safety
/// `count` is NULL or writable; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_quarantined_column_families(
    db: *mut lsmedic_t,
    count: *mut usize,
    errptr: *mut *mut c_char,
) -> *mut *mut c_char {
    // SAFETY: forwarded contract.
    unsafe {
        names_out(
            db,
            count,
            errptr,
            "lsmedic_quarantined_column_families",
            Engine::quarantined_cfs,
        )
    }
}

/// Returns the names `names` gives for the engine of `db` as a NULL-terminated string array
/// (one allocation), with their number in `*count`; NULL and `*count` = 0 on error.
///
/// # Safety
/// `count` is NULL or writable; `errptr` is NULL or a valid `char**`.
unsafe fn names_out(
    db: *mut lsmedic_t,
    count: *mut usize,
    errptr: *mut *mut c_char,
    function: &'static str,
    names: fn(&Engine) -> Vec<String>,
) -> *mut *mut c_char {
    // SAFETY: forwarded contract.
    unsafe { write_out(count, 0) };
    call(function, errptr, std::ptr::null_mut(), || {
        let names = names(&db_handle(db)?.engine);
        let array = malloc_string_array(&names)?;
        // SAFETY: forwarded contract.
        unsafe { write_out(count, names.len()) };
        Ok(array)
    })
}

/// Writes `key` → `value` in column family `column_family` (NULL = `"default"`); WAL on,
/// not synced (use `lsmedic_write` with `sync` for a synced write). May wait while the
/// healer throttles writes.
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string; `key`/`value` point to
/// `key_len`/`value_len` readable bytes (NULL allowed when the length is 0); `errptr` is
/// NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_put(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_put", errptr, (), || {
        // SAFETY: forwarded contract.
        let (cf, key, value) = unsafe {
            (
                cf_name(column_family)?,
                bytes(key, key_len, "key")?,
                bytes(value, value_len, "value")?,
            )
        };
        db_handle(db)?.engine.put(cf, key, value)?;
        Ok(())
    })
}

/// Reads `key` from `column_family` (NULL = `"default"`). Returns the value (free it with
/// `lsmedic_free`; NUL-terminated for convenience, `*value_len` excludes the NUL), or NULL
/// with `*value_len` = 0 when the key is absent — or on error, which `*errptr` tells apart.
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// As `lsmedic_put`; `value_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_get(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    key: *const c_char,
    key_len: usize,
    value_len: *mut usize,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    // SAFETY: forwarded contract.
    unsafe { write_out(value_len, 0) };
    call("lsmedic_get", errptr, std::ptr::null_mut(), || {
        // SAFETY: forwarded contract.
        let (cf, key) = unsafe { (cf_name(column_family)?, bytes(key, key_len, "key")?) };
        match db_handle(db)?.engine.get(cf, key)? {
            Some(value) => {
                let buffer = malloc_bytes(&value)?;
                // SAFETY: forwarded contract.
                unsafe { write_out(value_len, value.len()) };
                Ok(buffer)
            }
            None => Ok(std::ptr::null_mut()),
        }
    })
}

/// Deletes `key` from `column_family` (NULL = `"default"`); deleting an absent key is not
/// an error.
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// As `lsmedic_put`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_delete(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    key: *const c_char,
    key_len: usize,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_delete", errptr, (), || {
        // SAFETY: forwarded contract.
        let (cf, key) = unsafe { (cf_name(column_family)?, bytes(key, key_len, "key")?) };
        db_handle(db)?.engine.delete(cf, key)?;
        Ok(())
    })
}

/// Deletes every key in `[start, end)` of `column_family` (NULL = `"default"`). A `start`
/// that sorts after `end` (bytewise) is an error and nothing is written; `start == end`
/// deletes nothing.
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// As `lsmedic_put`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_delete_range(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    start: *const c_char,
    start_len: usize,
    end: *const c_char,
    end_len: usize,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_delete_range", errptr, (), || {
        // SAFETY: forwarded contract.
        let (cf, start, end) = unsafe {
            (
                cf_name(column_family)?,
                bytes(start, start_len, "start")?,
                bytes(end, end_len, "end")?,
            )
        };
        db_handle(db)?.engine.delete_range(cf, start, end)?;
        Ok(())
    })
}

/// Flushes the memtables of `column_family` (NULL = `"default"`) to L0 and waits for it.
///
/// Thread-safety: any thread, concurrently (flushes of one family queue in RocksDB).
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_flush(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_flush", errptr, (), || {
        // SAFETY: forwarded contract.
        let cf = unsafe { cf_name(column_family) }?;
        db_handle(db)?.engine.flush(cf)?;
        Ok(())
    })
}

/// Rebuilds `column_family`: copies its readable data into a fresh physical column family
/// and swaps it in behind the same name (see the README's "Column-family rebuild"); it ends
/// a quarantine. `"default"` (or NULL) is an error: RocksDB cannot drop the default column
/// family. Returns the report as a JSON object (`cf`, `old_physical`, `new_physical`,
/// `keys_copied`, `keys_recovered_from_checkpoint`, `bytes_copied`, `lost_ranges`
/// [{`start`, `end`}: byte arrays, `end` null = unbounded; keys in them may be lost],
/// `skipped_files`, `refill_failures` [why lost ranges were not refilled from a checkpoint],
/// `duration` {`secs`, `nanos`}); free it with `lsmedic_free`. NULL on
/// error.
///
/// Thread-safety: any thread; one rebuild at a time per database (others wait).
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string; `errptr` is NULL or a valid
/// `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_rebuild_column_family(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    call(
        "lsmedic_rebuild_column_family",
        errptr,
        std::ptr::null_mut(),
        || {
            // SAFETY: forwarded contract.
            let cf = unsafe { cf_name(column_family) }?;
            let report = db_handle(db)?.engine.rebuild_cf(cf)?;
            report_json(&report)
        },
    )
}

/// A rebuild report as a malloc'd JSON string.
fn report_json(report: &lsmedic::telemetry::RebuildReport) -> Result<*mut c_char, FfiError> {
    let text = serde_json::to_string(report).map_err(|source| FfiError::Json {
        what: "rebuild report",
        source,
    })?;
    malloc_string(&text)
}

/// The report of the last completed rebuild of `column_family` (the JSON object
/// `lsmedic_rebuild_column_family` returns), stored with the rebuild's commit so that it
/// survives a crash and a reopen; free it with `lsmedic_free`. NULL with `*errptr` left NULL
/// when the family was never rebuilt; NULL with `*errptr` set on error (unknown family, …).
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string; `errptr` is NULL or a valid
/// `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_last_rebuild_report(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    call(
        "lsmedic_last_rebuild_report",
        errptr,
        std::ptr::null_mut(),
        || {
            // SAFETY: forwarded contract.
            let cf = unsafe { cf_name(column_family) }?;
            match db_handle(db)?.engine.last_rebuild_report(cf)? {
                Some(report) => report_json(&report),
                None => Ok(std::ptr::null_mut()),
            }
        },
    )
}

/// Where recovery from an error that stopped writes stands, as a JSON object (free it with
/// `lsmedic_free`): `state` (`"healthy"`, `"failed"`: writes are refused, reads work;
/// `"reopening"`: the engine is reopening the database and every call fails), `error`
/// (RocksDB's message for the error that stopped writes, or null), `attempt_error` (why the
/// last attempt did not bring writes back, or null), `reopens`, `resumed` (times RocksDB
/// resumed by itself) and `last_outage_ms`. NULL on error.
///
/// A call refused while the database recovers fails with a message containing
/// `database is recovering`: retry it later.
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_recovery_status(
    db: *mut lsmedic_t,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    call(
        "lsmedic_recovery_status",
        errptr,
        std::ptr::null_mut(),
        || {
            let status = db_handle(db)?.engine.recovery_status();
            let text = serde_json::to_string(&status).map_err(|source| FfiError::Json {
                what: "recovery status",
                source,
            })?;
            malloc_string(&text)
        },
    )
}

/// Reopens the database in place now (what the engine does by itself after an I/O error or
/// a full disk stopped writes, once space is free): waits for calls in flight and open
/// iterators (up to `engine.recovery.reader_wait_ms`), closes the database and opens it
/// again with the options set since. Calls made meanwhile fail with `database is
/// recovering`. On error the database may stay closed until a later call succeeds.
///
/// Thread-safety: any thread; one reopen, rebuild or column-family change at a time (others
/// wait).
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_recover(db: *mut lsmedic_t, errptr: *mut *mut c_char) {
    call("lsmedic_recover", errptr, (), || {
        Ok(db_handle(db)?.engine.recover()?)
    })
}

/// Compacts `[start, end]` of `column_family` (NULL = `"default"`) and waits for it; a NULL
/// `start` or `end` leaves that side open (both NULL: the whole family).
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// As `lsmedic_put` for the buffers (NULL = open end).
#[no_mangle]
pub unsafe extern "C" fn lsmedic_compact_range(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    start: *const c_char,
    start_len: usize,
    end: *const c_char,
    end_len: usize,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_compact_range", errptr, (), || {
        // SAFETY: forwarded contract.
        let (cf, start, end) = unsafe {
            (
                cf_name(column_family)?,
                opt_bytes(start, start_len, "start")?,
                opt_bytes(end, end_len, "end")?,
            )
        };
        db_handle(db)?.engine.compact_range(cf, start, end)?;
        Ok(())
    })
}

/// Write options from the C `sync` flag.
pub(crate) fn write_opts(sync: u8) -> WriteOpts {
    WriteOpts {
        sync: sync != 0,
        ..WriteOpts::default()
    }
}
