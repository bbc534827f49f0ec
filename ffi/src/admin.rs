//! What an embedding database asks of the engine besides reads and writes: many keys at
//! once, RocksDB properties and the sampled statistics, options by name, checkpoints.

use std::ffi::c_char;

use crate::boundary::{bytes, c_str, call, cf_name, malloc_bytes, malloc_string, FfiError};
use crate::db::db_handle;
use crate::lsmedic_t;

/// Reads `num_keys` keys of `column_family` (NULL = `"default"`) at once (RocksDB's
/// `MultiGet`). `keys[i]`/`key_lens[i]` is the i-th key; on success `values[i]` is its value
/// (free each with `lsmedic_free`; NUL-terminated for convenience) with its length in
/// `value_lens[i]`, or NULL with length 0 when the key is absent. On error (any key failing
/// fails the call) every `values[i]` is NULL and `*errptr` says why. `num_keys` = 0 is
/// allowed (the arrays may then be NULL).
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string; when `num_keys` > 0, `keys` and
/// `key_lens` point to `num_keys` readable elements (each key as `lsmedic_put`'s), and
/// `values` and `value_lens` to `num_keys` writable ones; `errptr` is NULL or a valid
/// `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_multi_get(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    num_keys: usize,
    keys: *const *const c_char,
    key_lens: *const usize,
    values: *mut *mut c_char,
    value_lens: *mut usize,
    errptr: *mut *mut c_char,
) {
    let outputs_ok = num_keys == 0 || (!values.is_null() && !value_lens.is_null());
    if outputs_ok {
        for i in 0..num_keys {
            // SAFETY: `values` and `value_lens` hold `num_keys` writable elements.
            unsafe {
                values.add(i).write(std::ptr::null_mut());
                value_lens.add(i).write(0);
            }
        }
    }
    call("lsmedic_multi_get", errptr, (), || {
        if !outputs_ok {
            return Err(FfiError::Null {
                what: "values or value_lens",
            });
        }
        if num_keys > 0 && (keys.is_null() || key_lens.is_null()) {
            return Err(FfiError::Null {
                what: "keys or key_lens",
            });
        }
        // SAFETY: forwarded contract.
        let cf = unsafe { cf_name(column_family) }?;
        let mut slices = Vec::with_capacity(num_keys);
        for i in 0..num_keys {
            // SAFETY: `keys` and `key_lens` hold `num_keys` readable elements; each key
            // points to its length in readable bytes.
            let key = unsafe { bytes(*keys.add(i), *key_lens.add(i), "keys[i]") }?;
            slices.push(key);
        }
        let found = db_handle(db)?.engine.multi_get(cf, &slices)?;
        let mut buffers: Vec<(*mut c_char, usize)> = Vec::with_capacity(num_keys);
        for value in &found {
            let buffer = match value {
                Some(value) => match malloc_bytes(value) {
                    Ok(buffer) => (buffer, value.len()),
                    Err(err) => {
                        for (buffer, _) in buffers {
                            // SAFETY: allocated by `malloc_bytes` just above, not handed out.
                            unsafe { crate::boundary::lsmedic_free(buffer.cast()) };
                        }
                        return Err(err);
                    }
                },
                None => (std::ptr::null_mut(), 0),
            };
            buffers.push(buffer);
        }
        for (i, (buffer, len)) in buffers.into_iter().enumerate() {
            // SAFETY: `values` and `value_lens` hold `num_keys` writable elements.
            unsafe {
                values.add(i).write(buffer);
                value_lens.add(i).write(len);
            }
        }
        Ok(())
    })
}

/// The value of RocksDB property `name` (`"rocksdb.stats"`, `"rocksdb.num-files-at-level0"`,
/// `"rocksdb.estimate-num-keys"`, …) for `column_family` (NULL = `"default"`), as a
/// NUL-terminated string (free it with `lsmedic_free`); NULL with `*errptr` left NULL when
/// RocksDB does not know the property, NULL with `*errptr` set on error.
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string, `name` a NUL-terminated string;
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_property_value(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    name: *const c_char,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    call(
        "lsmedic_property_value",
        errptr,
        std::ptr::null_mut(),
        || {
            // SAFETY: forwarded contract.
            let (cf, name) = unsafe { (cf_name(column_family)?, c_str(name, "name")?) };
            match db_handle(db)?.engine.property_value(cf, name)? {
                Some(value) => malloc_string(&value),
                None => Ok(std::ptr::null_mut()),
            }
        },
    )
}

/// One reading of the sampled RocksDB properties of every column family and of the DB-wide
/// statistics (what the healer sees each tick), as a JSON object (free it with
/// `lsmedic_free`): `at_ns`, `cfs` (one object per column family: `name`,
/// `num_files_at_level`, `estimate_pending_compaction_bytes`, memtable sizes,
/// `is_write_stopped`, block-cache usage, …; a property RocksDB did not answer is null) and
/// `statistics` (tickers and histograms; null when `engine.statistics` is off). NULL on
/// error.
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_statistics(
    db: *mut lsmedic_t,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    call("lsmedic_statistics", errptr, std::ptr::null_mut(), || {
        let sample = db_handle(db)?.engine.sample();
        let text = serde_json::to_string(&sample).map_err(|source| FfiError::Json {
            what: "statistics",
            source,
        })?;
        malloc_string(&text)
    })
}

/// Sets option `name` to `value` online, by RocksDB's name (`"write_buffer_size"`,
/// `"level0_slowdown_writes_trigger"`, `"max_background_jobs"`, `"block_cache_capacity"`,
/// …; the README lists them): column-family options need `column_family`, DB-wide ones
/// take NULL. The value is checked against the same bounds the healer's changes are; a
/// running healer in active mode may later change it again.
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string, `name` and `value` NUL-terminated
/// strings; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_set_option(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    name: *const c_char,
    value: *const c_char,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_set_option", errptr, (), || {
        // SAFETY: forwarded contract.
        let (cf, name, value) = unsafe {
            (
                crate::boundary::opt_c_str(column_family, "column_family")?,
                c_str(name, "name")?,
                c_str(value, "value")?,
            )
        };
        Ok(db_handle(db)?.engine.set_option(cf, name, value)?)
    })
}

/// Writes a consistent, openable copy of the database to directory `dir`, which must not
/// exist (RocksDB's `Checkpoint::CreateCheckpoint`: SST files are hard-linked where the file
/// system allows, so it is cheap and shares their bytes with the database).
///
/// Thread-safety: any thread, concurrently.
///
/// # Safety
/// `dir` is a NUL-terminated string; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_checkpoint_create(
    db: *mut lsmedic_t,
    dir: *const c_char,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_checkpoint_create", errptr, (), || {
        // SAFETY: forwarded contract.
        let dir = unsafe { c_str(dir, "dir") }?;
        Ok(db_handle(db)?.engine.checkpoint(dir)?)
    })
}
