//! `lsmedic_iterator_t`: RocksDB-style iterators (`seek_to_first`, `seek`, `next`, `valid`,
//! `key`, `value`, `get_error`) over one column family, optionally bounded and reversed,
//! reading one consistent snapshot.
//!
//! An iterator keeps its database's engine alive: destroying the database first is safe
//! (RocksDB closes when the last iterator is destroyed). Calls on one iterator are serialised
//! by a lock; `key`/`value` pointers stay valid until the next call that moves or destroys
//! the iterator.

use std::ffi::c_char;
use std::sync::Arc;

use lsmedic::engine::{Engine, EngineIter, IterOptions};
use parking_lot::Mutex;

use crate::boundary::{
    bytes, call, call_quiet, cf_name, opt_bytes, set_error, write_out, FfiResult,
};
use crate::db::db_handle;
use crate::handles::{self, handled};
use crate::{lsmedic_iterator_t, lsmedic_t};

/// A key and its value, as the engine iterator yields them.
type Entry = (Box<[u8]>, Box<[u8]>);

/// An engine iterator with the engine it reads.
pub(crate) struct Cursor {
    // Field order is drop order: `iter` borrows the engine that `_engine` keeps alive.
    iter: EngineIter<'static>,
    current: Option<Entry>,
    error: Option<String>,
    _engine: Arc<Engine>,
}

// SAFETY: a RocksDB iterator may be used from any thread as long as calls are not
// concurrent (RocksDB's threading contract for non-const methods); every access goes
// through the `Mutex` in `IterObject`. The engine it borrows is `Sync`.
unsafe impl Send for Cursor {}

impl Cursor {
    /// Repositions (a seek): like RocksDB's `Seek`, it starts afresh, so an earlier error
    /// no longer applies.
    fn reposition(&mut self, seek: impl FnOnce(&mut EngineIter<'static>)) {
        self.error = None;
        seek(&mut self.iter);
        self.advance();
    }

    /// Moves to the next entry and caches it (or the end, or the error).
    fn advance(&mut self) {
        self.current = None;
        match self.iter.next() {
            Some(Ok(pair)) => self.current = Some(pair),
            Some(Err(err)) => self.error = Some(err.to_string()),
            None => {}
        }
    }
}

/// The object behind an `lsmedic_iterator_t*`.
pub(crate) struct IterObject {
    pub(crate) cursor: Mutex<Cursor>,
}
handled!(IterObject, Iter, "iterator");

fn with_cursor<T>(
    iter: *const lsmedic_iterator_t,
    body: impl FnOnce(&mut Cursor) -> T,
) -> FfiResult<T> {
    let object = handles::get::<IterObject, _>(iter, "iter")?;
    let mut cursor = object.cursor.lock();
    Ok(body(&mut cursor))
}

/// An iterator over `column_family` (NULL = `"default"`). `lower`/`upper` bound the keys
/// visited to `[lower, upper)`; a NULL bound leaves that side open. `reverse` non-zero
/// visits keys from the largest down (then "first" is the largest key below `upper`, and
/// `seek` finds the last key ≤ the target). The iterator starts unpositioned (not valid):
/// call `lsmedic_iter_seek_to_first` or `lsmedic_iter_seek`. NULL on error.
///
/// Thread-safety: any thread, concurrently with every other database call.
///
/// # Safety
/// `column_family` is NULL or a NUL-terminated string; non-NULL bounds point to
/// `lower_len`/`upper_len` readable bytes; `errptr` is NULL or a valid `char**`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lsmedic_create_iterator(
    db: *mut lsmedic_t,
    column_family: *const c_char,
    lower: *const c_char,
    lower_len: usize,
    upper: *const c_char,
    upper_len: usize,
    reverse: u8,
    errptr: *mut *mut c_char,
) -> *mut lsmedic_iterator_t {
    call(
        "lsmedic_create_iterator",
        errptr,
        std::ptr::null_mut(),
        || {
            // SAFETY: forwarded contract.
            let (cf, lower, upper) = unsafe {
                (
                    cf_name(column_family)?,
                    opt_bytes(lower, lower_len, "lower")?,
                    opt_bytes(upper, upper_len, "upper")?,
                )
            };
            let options = IterOptions {
                lower_bound: lower.map(<[u8]>::to_vec),
                upper_bound: upper.map(<[u8]>::to_vec),
                prefix: None,
                reverse: reverse != 0,
            };
            let engine = Arc::clone(&db_handle(db)?.engine);
            let iter = engine.iter(cf, options)?;
            // SAFETY: only the lifetime changes. The engine lives in an `Arc` (a stable heap
            // address) that the cursor owns and drops after the iterator (field order), so the
            // borrow never outlives it.
            let iter: EngineIter<'static> = unsafe { std::mem::transmute(iter) };
            Ok(handles::register(IterObject {
                cursor: Mutex::new(Cursor {
                    iter,
                    current: None,
                    error: None,
                    _engine: engine,
                }),
            }))
        },
    )
}

/// Positions at the first key within the bounds (the last for a reverse iterator).
/// NULL and dead handles are ignored (`lsmedic_iter_get_error` reports them).
///
/// Thread-safety: any thread; calls on one iterator are serialised.
#[no_mangle]
pub extern "C" fn lsmedic_iter_seek_to_first(iter: *mut lsmedic_iterator_t) {
    call_quiet((), || {
        with_cursor(iter, |cursor| {
            cursor.reposition(|iter| iter.seek_to_first())
        })
    })
}

/// Positions at the first key ≥ `key` (≤ `key` for a reverse iterator) within the bounds.
/// NULL and dead handles, and NULL `key` with `key_len` > 0, leave the iterator invalid
/// (`lsmedic_iter_get_error` says why).
///
/// Thread-safety: any thread; calls on one iterator are serialised.
///
/// # Safety
/// `key` points to `key_len` readable bytes (NULL allowed when `key_len` is 0).
#[no_mangle]
pub unsafe extern "C" fn lsmedic_iter_seek(
    iter: *mut lsmedic_iterator_t,
    key: *const c_char,
    key_len: usize,
) {
    call_quiet((), || {
        // SAFETY: forwarded contract.
        let key = unsafe { bytes(key, key_len, "key") };
        with_cursor(iter, |cursor| match key {
            Ok(key) => cursor.reposition(|iter| iter.seek(key)),
            Err(err) => {
                cursor.current = None;
                cursor.error = Some(format!("lsmedic_iter_seek: {err}"));
            }
        })
    })
}

/// Moves to the next key (the previous one for a reverse iterator). Does nothing on an
/// invalid iterator.
///
/// Thread-safety: any thread; calls on one iterator are serialised.
#[no_mangle]
pub extern "C" fn lsmedic_iter_next(iter: *mut lsmedic_iterator_t) {
    call_quiet((), || {
        with_cursor(iter, |cursor| {
            if cursor.current.is_some() {
                cursor.advance();
            }
        })
    })
}

/// 1 when the iterator is at an entry, 0 at the end, before the first seek, after an error
/// and for NULL or dead handles.
///
/// Thread-safety: any thread; calls on one iterator are serialised.
#[no_mangle]
pub extern "C" fn lsmedic_iter_valid(iter: *const lsmedic_iterator_t) -> u8 {
    call_quiet(0, || {
        with_cursor(iter, |cursor| u8::from(cursor.current.is_some()))
    })
}

/// What an empty key or value points to.
static EMPTY: [u8; 1] = [0];

/// Reads one side of the current entry.
///
/// # Safety
/// `len` is NULL or writable.
unsafe fn entry_part(
    iter: *const lsmedic_iterator_t,
    len: *mut usize,
    part: fn(&Entry) -> &[u8],
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { write_out(len, 0) };
    call_quiet(std::ptr::null(), || {
        with_cursor(iter, |cursor| match &cursor.current {
            Some(entry) => {
                let bytes = part(entry);
                // SAFETY: forwarded contract.
                unsafe { write_out(len, bytes.len()) };
                if bytes.is_empty() {
                    // An empty box's pointer is dangling; C may only pass valid pointers to
                    // memcpy and friends, even for 0 bytes.
                    return EMPTY.as_ptr().cast::<c_char>();
                }
                // The boxed bytes stay where they are until the cursor moves or is dropped.
                bytes.as_ptr().cast::<c_char>()
            }
            None => std::ptr::null(),
        })
    })
}

/// The current key (`*key_len` bytes, not NUL-terminated), owned by the iterator: valid
/// until the next call that moves or destroys it. NULL with `*key_len` = 0 when not valid.
///
/// Thread-safety: any thread; calls on one iterator are serialised.
///
/// # Safety
/// `key_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_iter_key(
    iter: *const lsmedic_iterator_t,
    key_len: *mut usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { entry_part(iter, key_len, |(key, _)| key) }
}

/// The current value, as `lsmedic_iter_key`.
///
/// Thread-safety: any thread; calls on one iterator are serialised.
///
/// # Safety
/// `value_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_iter_value(
    iter: *const lsmedic_iterator_t,
    value_len: *mut usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { entry_part(iter, value_len, |(_, value)| value) }
}

/// Sets `*errptr` when the iterator stopped on an error (RocksDB read error, corruption,
/// bad seek argument) or the handle is NULL or dead; leaves it alone otherwise.
///
/// Thread-safety: any thread; calls on one iterator are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_iter_get_error(
    iter: *const lsmedic_iterator_t,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_iter_get_error", errptr, (), || {
        match with_cursor(iter, |cursor| cursor.error.clone())? {
            // The message already names where it came from.
            Some(message) => {
                // SAFETY: forwarded contract.
                unsafe { set_error(errptr, &message) };
                Ok(())
            }
            None => Ok(()),
        }
    })
}

/// Destroys an iterator (and records its scan in the telemetry). NULL and dead handles are
/// ignored.
///
/// Thread-safety: any thread; the handle is dead afterwards for every thread.
#[no_mangle]
pub extern "C" fn lsmedic_iter_destroy(iter: *mut lsmedic_iterator_t) {
    call_quiet((), || {
        handles::remove::<IterObject, _>(iter, "iter").map(drop)
    })
}
