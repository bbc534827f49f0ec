//! `errptr` handling and the checks every call's outcome goes through.
//!
//! A call reports failure by setting `*errptr`; the helpers here pass `errptr` the three
//! ways C callers do (fresh, NULL, holding an earlier message), read and free what the
//! library wrote, and check the message's form and whether the model expected a failure.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use lsmedic_ffi::{lsmedic_config_from_json, lsmedic_free};

use crate::input::ErrMode;

/// The function's outcome on `errptr`.
pub(crate) struct Outcome {
    /// The message, when the call reported an error (always None for `Discard`).
    pub(crate) error: Option<String>,
    /// Whether errors were observable.
    pub(crate) observed: bool,
}

/// Calls `f` with an `errptr` per `mode`; returns its result and what it reported.
pub(crate) fn with_err<R>(mode: ErrMode, f: impl FnOnce(*mut *mut c_char) -> R) -> (R, Outcome) {
    match mode {
        ErrMode::Discard => (
            f(ptr::null_mut()),
            Outcome {
                error: None,
                observed: false,
            },
        ),
        ErrMode::Fresh | ErrMode::Prefilled => {
            let earlier = if matches!(mode, ErrMode::Prefilled) {
                library_message()
            } else {
                ptr::null_mut()
            };
            let mut err: *mut c_char = earlier;
            let result = f(&mut err);
            let error = if err == earlier {
                None
            } else {
                // SAFETY: the library set a NUL-terminated message it allocated.
                let text = unsafe { CStr::from_ptr(err) }
                    .to_string_lossy()
                    .into_owned();
                Some(text)
            };
            // SAFETY: `err` is a library buffer (the new message, or `earlier` untouched);
            // the library freed `earlier` itself if it replaced it.
            unsafe { lsmedic_free(err.cast()) };
            (
                result,
                Outcome {
                    error,
                    observed: true,
                },
            )
        }
    }
}

/// A message allocated by the library (to pre-fill an `errptr`).
fn library_message() -> *mut c_char {
    let mut err: *mut c_char = ptr::null_mut();
    let bad = CString::new("{").expect("no NUL");
    // SAFETY: valid NUL-terminated string and errptr.
    let config = unsafe { lsmedic_config_from_json(bad.as_ptr(), &mut err) };
    assert!(
        config.is_null() && !err.is_null(),
        "invalid JSON must fail with a message"
    );
    err
}

/// Checks an outcome against the model's expectation (`Some(true)` must succeed,
/// `Some(false)` must fail, `None` either) and the message's form.
pub(crate) fn expect(
    function: &str,
    outcome: &Outcome,
    expected: Option<bool>,
    context: &dyn std::fmt::Debug,
) {
    if let Some(message) = &outcome.error {
        assert!(
            !message.contains("panic caught at the C boundary"),
            "{function}: a panic inside the library: {message} ({context:?})"
        );
        // `lsmedic_iter_get_error` hands on the error of the call that stopped the iterator,
        // named after that call.
        let prefix = if function == "lsmedic_iter_get_error" {
            "lsmedic_iter_"
        } else {
            function
        };
        assert!(
            message.starts_with(prefix),
            "{function}: message without the function's name: {message}"
        );
    }
    if !outcome.observed {
        return;
    }
    match expected {
        Some(true) => assert!(
            outcome.error.is_none(),
            "{function} failed: {:?} ({context:?})",
            outcome.error
        ),
        Some(false) => assert!(
            outcome.error.is_some(),
            "{function} succeeded where it must fail ({context:?})"
        ),
        None => {}
    }
}

/// Succeeded, as far as can be seen: no error reported, and the result not the failure value
/// when the error was discarded.
pub(crate) fn succeeded(outcome: &Outcome) -> bool {
    outcome.error.is_none()
}

/// Parses and frees a JSON buffer from the library.
pub(crate) fn take_json(json: *mut c_char) -> Option<serde_json::Value> {
    if json.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated library buffer.
    let text = unsafe { CStr::from_ptr(json) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: a library buffer.
    unsafe { lsmedic_free(json.cast()) };
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("library JSON does not parse: {e}: {text}")),
    )
}
