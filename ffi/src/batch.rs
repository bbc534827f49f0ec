//! `lsmedic_writebatch_t`: an atomic group of puts, deletes and range deletes across column
//! families, independent of any database (as RocksDB's `rocksdb_writebatch_t`), applied by
//! `lsmedic_write` and reusable afterwards. Column-family names are checked when the batch
//! is written: a batch naming an unknown family is refused whole.

use std::ffi::c_char;

use parking_lot::Mutex;

use crate::boundary::{bytes, call, call_quiet, cf_name, FfiResult};
use crate::db::{db_handle, write_opts};
use crate::handles::{self, handled};
use crate::{lsmedic_t, lsmedic_writebatch_t};

/// One recorded operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BatchOp {
    Put {
        cf: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        cf: String,
        key: Vec<u8>,
    },
    DeleteRange {
        cf: String,
        start: Vec<u8>,
        end: Vec<u8>,
    },
}

/// The object behind an `lsmedic_writebatch_t*`.
#[derive(Default)]
pub(crate) struct BatchObject {
    pub(crate) ops: Mutex<Vec<BatchOp>>,
}
handled!(BatchObject, Batch, "write batch");

fn push(batch: *mut lsmedic_writebatch_t, op: BatchOp) -> FfiResult<()> {
    handles::get::<BatchObject, _>(batch, "batch")?
        .ops
        .lock()
        .push(op);
    Ok(())
}

/// A new, empty write batch. NULL only if the library failed internally.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn lsmedic_writebatch_create() -> *mut lsmedic_writebatch_t {
    call_quiet(std::ptr::null_mut(), || {
        Ok(handles::register(BatchObject::default()))
    })
}

/// Adds a put of `key` → `value` in `column_family` (NULL = `"default"`).
///
/// Thread-safety: any thread; calls on one batch are serialised.
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string; `key`/`value` point to
/// `key_len`/`value_len` readable bytes (NULL allowed when the length is 0); `errptr` is
/// NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_writebatch_put(
    batch: *mut lsmedic_writebatch_t,
    column_family: *const c_char,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_writebatch_put", errptr, (), || {
        // SAFETY: forwarded contract.
        let (cf, key, value) = unsafe {
            (
                cf_name(column_family)?,
                bytes(key, key_len, "key")?,
                bytes(value, value_len, "value")?,
            )
        };
        push(
            batch,
            BatchOp::Put {
                cf: cf.to_owned(),
                key: key.to_vec(),
                value: value.to_vec(),
            },
        )
    })
}

/// Adds a delete of `key` in `column_family` (NULL = `"default"`).
///
/// Thread-safety: any thread; calls on one batch are serialised.
///
/// # Safety
/// As `lsmedic_writebatch_put`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_writebatch_delete(
    batch: *mut lsmedic_writebatch_t,
    column_family: *const c_char,
    key: *const c_char,
    key_len: usize,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_writebatch_delete", errptr, (), || {
        // SAFETY: forwarded contract.
        let (cf, key) = unsafe { (cf_name(column_family)?, bytes(key, key_len, "key")?) };
        push(
            batch,
            BatchOp::Delete {
                cf: cf.to_owned(),
                key: key.to_vec(),
            },
        )
    })
}

/// Adds a delete of every key in `[start, end)` of `column_family` (NULL = `"default"`). A
/// `start` that sorts after `end` (bytewise) is an error and is not added.
///
/// Thread-safety: any thread; calls on one batch are serialised.
///
/// # Safety
/// As `lsmedic_writebatch_put`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_writebatch_delete_range(
    batch: *mut lsmedic_writebatch_t,
    column_family: *const c_char,
    start: *const c_char,
    start_len: usize,
    end: *const c_char,
    end_len: usize,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_writebatch_delete_range", errptr, (), || {
        // SAFETY: forwarded contract.
        let (cf, start, end) = unsafe {
            (
                cf_name(column_family)?,
                bytes(start, start_len, "start")?,
                bytes(end, end_len, "end")?,
            )
        };
        lsmedic::engine::Error::check_range(cf, start, end)?;
        push(
            batch,
            BatchOp::DeleteRange {
                cf: cf.to_owned(),
                start: start.to_vec(),
                end: end.to_vec(),
            },
        )
    })
}

/// Number of operations in the batch; 0 for a NULL or dead handle.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn lsmedic_writebatch_count(batch: *const lsmedic_writebatch_t) -> usize {
    call_quiet(0, || {
        Ok(handles::get::<BatchObject, _>(batch, "batch")?
            .ops
            .lock()
            .len())
    })
}

/// Removes every operation (the batch stays usable). NULL and dead handles are ignored.
///
/// Thread-safety: any thread; calls on one batch are serialised.
#[no_mangle]
pub extern "C" fn lsmedic_writebatch_clear(batch: *mut lsmedic_writebatch_t) {
    call_quiet((), || {
        handles::get::<BatchObject, _>(batch, "batch")?
            .ops
            .lock()
            .clear();
        Ok(())
    })
}

/// Destroys a batch. NULL and dead handles are ignored.
///
/// Thread-safety: any thread; the handle is dead afterwards for every thread.
#[no_mangle]
pub extern "C" fn lsmedic_writebatch_destroy(batch: *mut lsmedic_writebatch_t) {
    call_quiet((), || {
        handles::remove::<BatchObject, _>(batch, "batch").map(drop)
    })
}

/// Applies `batch` to `db` atomically: all of it or none of it. `sync` non-zero fsyncs the
/// WAL before returning (durable across a machine crash). The batch is left as it was, to be
/// cleared, extended or written again. May wait while the healer throttles writes.
///
/// Thread-safety: any thread, concurrently; a batch being changed by another thread is
/// written as it was at one instant.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_write(
    db: *mut lsmedic_t,
    batch: *const lsmedic_writebatch_t,
    sync: u8,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_write", errptr, (), || {
        let database = db_handle(db)?;
        let object = handles::get::<BatchObject, _>(batch, "batch")?;
        let engine = &database.engine;
        let mut rocks = engine.batch();
        // Copied under the lock, written without it (a throttled write may wait).
        for op in object.ops.lock().iter() {
            match op {
                BatchOp::Put { cf, key, value } => rocks.put(cf, key, value)?,
                BatchOp::Delete { cf, key } => rocks.delete(cf, key)?,
                BatchOp::DeleteRange { cf, start, end } => rocks.delete_range(cf, start, end)?,
            }
        }
        engine.write_opt(rocks, write_opts(sync))?;
        Ok(())
    })
}
