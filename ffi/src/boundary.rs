//! What every `extern "C"` function goes through: the error type, the `char** errptr`
//! convention, `catch_unwind`, decoding C arguments (NUL-terminated UTF-8 strings, byte
//! buffers) and allocating what the library hands back (freed with [`lsmedic_free`]).
//!
//! Nothing here ever unwinds into C: `call` catches panics and turns them into error
//! messages, and the helpers return errors for NULL pointers, bad lengths and invalid UTF-8.

use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use lsmedic::healer::error::panic_message;
use lsmedic::healer::HealerError;

extern "C" {
    // The C library's allocator: what `lsmedic_free` releases, so a buffer's owner never has
    // to know its size, and a C caller could even use `free` (lsmedic_free is the contract).
    fn malloc(size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
}

/// Why a C-ABI call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FfiError {
    /// A required pointer argument was NULL.
    #[error("{what} is NULL")]
    Null {
        /// The argument.
        what: &'static str,
    },
    /// A string argument was not UTF-8.
    #[error("{what} is not valid UTF-8: {source}")]
    Utf8 {
        /// The argument.
        what: &'static str,
        /// Where decoding failed.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A handle argument is not a live handle of any kind: NULL, already destroyed or closed,
    /// or never returned by lsmedic.
    #[error(
        "{what} is not a live {expected} handle (NULL, already destroyed, or not from lsmedic)"
    )]
    BadHandle {
        /// The argument.
        what: &'static str,
        /// The kind of handle the function takes.
        expected: &'static str,
    },
    /// A handle argument is live but of another kind.
    #[error(
        "{what} is {} handle, not {} handle",
        with_article(actual),
        with_article(expected)
    )]
    WrongHandle {
        /// The argument.
        what: &'static str,
        /// The kind of handle the function takes.
        expected: &'static str,
        /// The kind it is.
        actual: &'static str,
    },
    /// An argument has a value the function does not accept.
    #[error("{what}: {reason}")]
    Invalid {
        /// The argument.
        what: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The call is not allowed in the current state (e.g. from inside a healer callback).
    #[error("{0}")]
    State(String),
    /// Opening, closing or configuring the database failed.
    #[error(transparent)]
    Db(#[from] lsmedic::DbError),
    /// The engine failed (RocksDB error, unknown column family, …).
    #[error(transparent)]
    Engine(#[from] lsmedic::Error),
    /// The healer refused the request.
    #[error(transparent)]
    Healer(#[from] HealerError),
    /// A JSON value could not be built or read.
    #[error("{what}: {source}")]
    Json {
        /// What was being converted.
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The library's allocator had no memory for a result.
    #[error("out of memory allocating {bytes} bytes")]
    OutOfMemory {
        /// The size asked for.
        bytes: usize,
    },
    /// lsmedic panicked inside the call (a bug); the panic was caught at the boundary.
    #[error("panic caught at the C boundary: {message}")]
    Panic {
        /// The panic payload, when it was a string.
        message: String,
    },
}

/// `noun` with "a" or "an" before it.
fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

/// Result of the boundary helpers.
pub type FfiResult<T> = Result<T, FfiError>;

/// Runs `body` for the `extern "C"` function `function`: returns its value, or reports its
/// error (or caught panic) through `errptr` as `"<function>: <message>"` and returns
/// `on_error`. On success `*errptr` is left untouched (RocksDB's convention).
pub(crate) fn call<T>(
    function: &'static str,
    errptr: *mut *mut c_char,
    on_error: T,
    body: impl FnOnce() -> FfiResult<T>,
) -> T {
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => return value,
        Ok(Err(err)) => err,
        Err(payload) => FfiError::Panic {
            message: panic_message(&*payload),
        },
    };
    // Formatting and allocating the message must not unwind either.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller passes NULL or a valid `char**` (documented in the header).
        unsafe { set_error(errptr, &format!("{function}: {error}")) }
    }));
    on_error
}

/// Runs `body` for a function without an error pointer: a caught panic or error yields
/// `on_error`.
pub(crate) fn call_quiet<T>(on_error: T, body: impl FnOnce() -> FfiResult<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(_)) | Err(_) => on_error,
    }
}

/// Stores `message` in `*errptr` as a NUL-terminated string from the C allocator, freeing
/// the message a previous call left there (RocksDB's `SaveError`). NULL `errptr`: nothing.
///
/// # Safety
/// `errptr` is NULL or points to a `char*` that is NULL or a string from this library.
pub(crate) unsafe fn set_error(errptr: *mut *mut c_char, message: &str) {
    if errptr.is_null() {
        return;
    }
    // Interior NULs would cut the message short in C; show them instead.
    let message = message.replace('\0', "\\0");
    // SAFETY: `errptr` is non-NULL and valid per this function's contract.
    unsafe {
        let previous = *errptr;
        if !previous.is_null() {
            free(previous.cast());
        }
        *errptr = malloc_bytes(message.as_bytes()).unwrap_or(std::ptr::null_mut());
    }
}

/// A NUL-terminated copy of `bytes` from the C allocator (never NULL on success, even for
/// empty input).
pub(crate) fn malloc_bytes(bytes: &[u8]) -> FfiResult<*mut c_char> {
    let size = bytes
        .len()
        .checked_add(1)
        .ok_or(FfiError::OutOfMemory { bytes: bytes.len() })?;
    let buffer = malloc_raw(size)?;
    // SAFETY: `buffer` has `size` = len + 1 writable bytes and does not overlap `bytes`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, bytes.len());
        *buffer.add(bytes.len()) = 0;
    }
    Ok(buffer.cast())
}

/// `size` (> 0) uninitialised bytes from the C allocator.
pub(crate) fn malloc_raw(size: usize) -> FfiResult<*mut u8> {
    // SAFETY: plain call to the C allocator; the result is checked for NULL.
    let buffer = unsafe { malloc(size.max(1)) };
    if buffer.is_null() {
        return Err(FfiError::OutOfMemory { bytes: size });
    }
    Ok(buffer.cast())
}

/// `text` as a NUL-terminated string from the C allocator.
pub(crate) fn malloc_string(text: &str) -> FfiResult<*mut c_char> {
    malloc_bytes(text.as_bytes())
}

/// Strings as one allocation: a NULL-terminated array of `count` pointers followed by the
/// NUL-terminated strings it points into, so that one `lsmedic_free` releases everything.
pub(crate) fn malloc_string_array(strings: &[String]) -> FfiResult<*mut *mut c_char> {
    let pointers = (strings.len() + 1) * std::mem::size_of::<*mut c_char>();
    let text: usize = strings.iter().map(|s| s.len() + 1).sum();
    let block = malloc_raw(pointers + text)?;
    // SAFETY: `block` holds `pointers + text` bytes, aligned for pointers (malloc's
    // guarantee); the pointer table fills the first `pointers` bytes and the strings the
    // rest, each written within bounds.
    unsafe {
        let table = block.cast::<*mut c_char>();
        let mut cursor = block.add(pointers);
        for (index, string) in strings.iter().enumerate() {
            *table.add(index) = cursor.cast();
            std::ptr::copy_nonoverlapping(string.as_ptr(), cursor, string.len());
            *cursor.add(string.len()) = 0;
            cursor = cursor.add(string.len() + 1);
        }
        *table.add(strings.len()) = std::ptr::null_mut();
        Ok(table)
    }
}

/// Releases memory the library returned: error messages, values from `lsmedic_get`, JSON
/// strings, column-family lists. NULL is ignored.
///
/// Thread-safety: any thread; each buffer is freed once.
///
/// # Safety
/// `ptr` is NULL or a buffer returned by this library and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_free(ptr: *mut c_void) {
    if !ptr.is_null() {
        // SAFETY: the caller passes a buffer this library allocated with `malloc`.
        unsafe { free(ptr) };
    }
}

/// A required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid for `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, what: &'static str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(FfiError::Null { what });
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|source| FfiError::Utf8 { what, source })
}

/// An optional NUL-terminated UTF-8 string argument (NULL = `None`).
///
/// # Safety
/// As [`c_str`].
pub(crate) unsafe fn opt_c_str<'a>(
    ptr: *const c_char,
    what: &'static str,
) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { c_str(ptr, what) }.map(Some)
    }
}

/// A column-family name argument: NULL means RocksDB's default column family.
///
/// # Safety
/// As [`c_str`].
pub(crate) unsafe fn cf_name<'a>(ptr: *const c_char) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract.
    Ok(unsafe { opt_c_str(ptr, "column_family") }?.unwrap_or(lsmedic::engine::DEFAULT_CF))
}

/// A byte-buffer argument `(ptr, len)`: `len == 0` is the empty buffer whatever `ptr` is;
/// NULL with `len > 0` is an error.
///
/// # Safety
/// When `len > 0` and `ptr` is non-NULL, `ptr` points to `len` readable bytes valid for `'a`.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const c_char,
    len: usize,
    what: &'static str,
) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::Null { what });
    }
    if len > isize::MAX as usize {
        return Err(FfiError::Invalid {
            what,
            reason: format!("length {len} is larger than any buffer can be"),
        });
    }
    // SAFETY: non-NULL, `len` readable bytes per this function's contract, len ≤ isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// An optional byte-buffer argument: NULL = `None` (whatever `len`), otherwise as [`bytes`].
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn opt_bytes<'a>(
    ptr: *const c_char,
    len: usize,
    what: &'static str,
) -> FfiResult<Option<&'a [u8]>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { bytes(ptr, len, what) }.map(Some)
    }
}

/// Writes `value` through an optional out-pointer.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable per this function's contract.
        unsafe { out.write(value) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_error(errptr: &mut *mut c_char) -> Option<String> {
        if errptr.is_null() {
            return None;
        }
        // SAFETY: the library set it to a NUL-terminated malloc'd string.
        let text = unsafe { CStr::from_ptr(*errptr) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: allocated by the library, freed once.
        unsafe { lsmedic_free((*errptr).cast()) };
        *errptr = std::ptr::null_mut();
        Some(text)
    }

    #[test]
    fn call_reports_errors_with_the_function_name_and_keeps_errptr_on_success() {
        let mut err: *mut c_char = std::ptr::null_mut();
        let value = call("lsmedic_test", &mut err, -1, || Ok(7));
        assert_eq!(value, 7);
        assert!(err.is_null());
        let value = call("lsmedic_test", &mut err, -1, || {
            Err::<i32, _>(FfiError::Null { what: "key" })
        });
        assert_eq!(value, -1);
        assert_eq!(
            take_error(&mut err).as_deref(),
            Some("lsmedic_test: key is NULL")
        );
    }

    #[test]
    fn call_catches_panics_and_replaces_an_earlier_message() {
        let mut err: *mut c_char = std::ptr::null_mut();
        call("first", &mut err, (), || Err(FfiError::State("one".into())));
        // A second failure frees the first message (no leak under ASan/valgrind) and replaces it.
        let value = call("lsmedic_boom", &mut err, 0u8, || -> FfiResult<u8> {
            panic!("kaboom {}", 42)
        });
        assert_eq!(value, 0);
        let message = take_error(&mut err).expect("message");
        assert!(
            message.starts_with("lsmedic_boom: panic caught at the C boundary: kaboom 42"),
            "{message}"
        );
        // NULL errptr: errors are dropped, nothing crashes.
        assert_eq!(
            call("x", std::ptr::null_mut(), 5, || Err(FfiError::Null {
                what: "y"
            })),
            5
        );
        assert_eq!(call_quiet(1, || -> FfiResult<i32> { panic!("quiet") }), 1);
    }

    #[test]
    fn strings_are_checked_for_null_and_utf8() {
        // SAFETY: the pointers are NULL or NUL-terminated literals.
        unsafe {
            assert!(matches!(
                c_str(std::ptr::null(), "path"),
                Err(FfiError::Null { what: "path" })
            ));
            assert_eq!(c_str(c"users".as_ptr(), "cf").expect("utf8"), "users");
            let bad = b"ab\xffcd\0";
            let err = c_str(bad.as_ptr().cast(), "column_family").unwrap_err();
            assert!(
                err.to_string().contains("column_family is not valid UTF-8"),
                "{err}"
            );
            assert_eq!(opt_c_str(std::ptr::null(), "x").expect("null ok"), None);
            assert_eq!(cf_name(std::ptr::null()).expect("default"), "default");
            assert_eq!(cf_name(c"events".as_ptr()).expect("named"), "events");
        }
    }

    #[test]
    fn buffers_accept_empty_and_refuse_null_with_length() {
        // SAFETY: every non-NULL pointer covers `len` bytes.
        unsafe {
            assert_eq!(bytes(std::ptr::null(), 0, "key").expect("empty"), b"");
            assert!(matches!(
                bytes(std::ptr::null(), 3, "key"),
                Err(FfiError::Null { what: "key" })
            ));
            let data = b"abc";
            assert_eq!(bytes(data.as_ptr().cast(), 3, "key").expect("abc"), b"abc");
            assert!(bytes(data.as_ptr().cast(), usize::MAX, "key").is_err());
            assert_eq!(opt_bytes(std::ptr::null(), 9, "bound").expect("none"), None);
        }
    }

    #[test]
    fn allocations_are_nul_terminated_and_string_arrays_are_one_block() {
        let empty = malloc_bytes(b"").expect("alloc");
        assert!(!empty.is_null());
        // SAFETY: the block is NUL-terminated; freed once below.
        unsafe {
            assert_eq!(CStr::from_ptr(empty).to_bytes(), b"");
            lsmedic_free(empty.cast());
        }
        let names = vec!["default".to_owned(), "".to_owned(), "événements".to_owned()];
        let array = malloc_string_array(&names).expect("alloc");
        // SAFETY: a NULL-terminated table of NUL-terminated strings in one block.
        unsafe {
            for (index, name) in names.iter().enumerate() {
                let entry = *array.add(index);
                assert_eq!(CStr::from_ptr(entry).to_str().expect("utf8"), name);
            }
            assert!((*array.add(names.len())).is_null());
            lsmedic_free(array.cast());
        }
        let none = malloc_string_array(&[]).expect("alloc");
        // SAFETY: one NULL pointer.
        unsafe {
            assert!((*none).is_null());
            lsmedic_free(none.cast());
            lsmedic_free(std::ptr::null_mut());
        }
    }

    #[test]
    fn error_messages_keep_interior_nuls_visible() {
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: `err` is a valid, NULL `char*`.
        unsafe { set_error(&mut err, "a\0b") };
        assert_eq!(take_error(&mut err).as_deref(), Some("a\\0b"));
    }
}
