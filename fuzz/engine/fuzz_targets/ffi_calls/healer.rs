//! Healer calls on `lsmedic_t`: start, stop, mode, weights, stats, audit, callback.
//!
//! The healer starts with the database; the model tracks whether it runs, its mode and its
//! normalised weights. Stats and audit lines must be JSON; the audit callback counts its
//! entries and checks each one, and never unwinds into the library.

use std::ffi::{c_char, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use lsmedic_ffi::*;

use crate::input::{ErrMode, Op, WeightSel};
use crate::model::Model;
use crate::outcome::{expect, succeeded, take_json, with_err};

/// Entries the audit callback received.
static CALLBACK_CALLS: AtomicUsize = AtomicUsize::new(0);
/// Entries that were not a NUL-terminated JSON object (must stay 0).
pub(crate) static CALLBACK_BAD: AtomicUsize = AtomicUsize::new(0);

/// Counts entries and checks each is a NUL-terminated JSON object; never unwinds into C.
extern "C" fn on_audit_entry(user_data: *mut c_void, entry: *const c_char, len: usize) {
    let ok = std::panic::catch_unwind(|| {
        if user_data as usize != 0x5eed || entry.is_null() {
            return false;
        }
        // SAFETY: the library passes `len` bytes plus a NUL, valid during this call.
        let bytes = unsafe { std::slice::from_raw_parts(entry.cast::<u8>(), len + 1) };
        bytes[len] == 0
            && serde_json::from_slice::<serde_json::Value>(&bytes[..len])
                .is_ok_and(|v| v.is_object())
    })
    .unwrap_or(false);
    CALLBACK_CALLS.fetch_add(1, Ordering::Relaxed);
    if !ok {
        CALLBACK_BAD.fetch_add(1, Ordering::Relaxed);
    }
}

/// Makes a healer call.
pub(crate) fn call(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        Op::HealerStart => start(m, mode),
        Op::HealerStop => stop(m, mode),
        Op::HealerIsRunning => is_running(m, mode),
        Op::HealerSetMode(value) => set_mode(m, value, mode),
        Op::HealerGetMode => get_mode(m, mode),
        Op::HealerSetWeights(a, b, c) => set_weights(m, (a, b, c), mode),
        Op::HealerGetWeights => check_weights(m),
        Op::HealerStats => stats(m, mode),
        Op::HealerAudit(limit) => audit(m, limit, mode),
        Op::HealerAdaptNow => adapt_now(m, mode),
        Op::HealerSetCallback(on) => set_callback(m, on, mode),
        other => unreachable!("not a healer call: {other:?}"),
    }
}

/// `lsmedic_healer_start`: only when the database is open and its healer stopped.
fn start(m: &mut Model, mode: ErrMode) {
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_start(m.db_ptr(), err) }
    });
    let ok = m.db.as_ref().is_some_and(|db| !db.healer_running);
    expect("lsmedic_healer_start", &outcome, Some(ok), &"start");
    if let Some(db) = &mut m.db {
        db.healer_running = true;
    }
}

/// `lsmedic_healer_stop`: on an open database, running or not.
fn stop(m: &mut Model, mode: ErrMode) {
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_stop(m.db_ptr(), err) }
    });
    expect("lsmedic_healer_stop", &outcome, Some(m.db_open()), &"stop");
    if let Some(db) = &mut m.db {
        db.healer_running = false;
    }
}

/// `lsmedic_healer_is_running`: the model's state (0 without a database).
fn is_running(m: &Model, mode: ErrMode) {
    let (running, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_is_running(m.db_ptr(), err) }
    });
    expect(
        "lsmedic_healer_is_running",
        &outcome,
        Some(m.db_open()),
        &"is_running",
    );
    let expected = m.db.as_ref().is_some_and(|db| db.healer_running);
    assert_eq!(running == 1, expected, "healer running");
}

/// `lsmedic_healer_get_mode`: the model's mode, -1 without a database.
fn get_mode(m: &Model, mode: ErrMode) {
    let (got, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_get_mode(m.db_ptr(), err) }
    });
    expect(
        "lsmedic_healer_get_mode",
        &outcome,
        Some(m.db_open()),
        &"get_mode",
    );
    assert_eq!(got, m.db.as_ref().map_or(-1, |db| db.mode), "healer mode");
}

/// `lsmedic_healer_adapt_now`: only while the healer runs.
fn adapt_now(m: &Model, mode: ErrMode) {
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_adapt_now(m.db_ptr(), err) }
    });
    let ok = m.db.as_ref().is_some_and(|db| db.healer_running);
    expect("lsmedic_healer_adapt_now", &outcome, Some(ok), &"adapt_now");
}

/// `lsmedic_healer_set_mode`: 0 to 2 on an open database.
fn set_mode(m: &mut Model, value: i8, mode: ErrMode) {
    let value = i32::from(value);
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_set_mode(m.db_ptr(), value, err) }
    });
    let ok = m.db_open() && (0..=2).contains(&value);
    expect("lsmedic_healer_set_mode", &outcome, Some(ok), &value);
    if let (true, Some(db)) = (ok, &mut m.db) {
        db.mode = value;
    }
}

/// `lsmedic_healer_set_weights`: finite, non-negative, not all zero; stored normalised.
fn set_weights(m: &mut Model, weights: (WeightSel, WeightSel, WeightSel), mode: ErrMode) {
    let (a, b, c) = (weights.0.value(), weights.1.value(), weights.2.value());
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_set_weights(m.db_ptr(), a, b, c, err) }
    });
    let each = |w: f64| w.is_finite() && w >= 0.0;
    let valid = each(a) && each(b) && each(c) && a + b + c > 0.0;
    // Valid weights whose sum overflows may be refused or scaled; others are decided.
    let expected = if !m.db_open() || !valid {
        Some(false)
    } else if (a + b + c).is_finite() {
        Some(true)
    } else {
        None
    };
    expect("lsmedic_healer_set_weights", &outcome, expected, &(a, b, c));
    let sum = a + b + c;
    if let (true, Some(db)) = (m.db_open() && valid && succeeded(&outcome), &mut m.db) {
        if sum.is_finite() {
            db.weights = (a / sum, b / sum, c / sum);
        } else {
            // Accepted despite an overflowing sum: whatever was stored must still be
            // normalised weights (checked below); learn them.
            let mut w = (f64::NAN, f64::NAN, f64::NAN);
            // SAFETY: writable out-pointers, NULL errptr.
            unsafe {
                lsmedic_healer_get_weights(db.handle, &mut w.0, &mut w.1, &mut w.2, ptr::null_mut())
            };
            db.weights = w;
        }
    }
    check_weights(m);
}

/// `lsmedic_healer_get_weights`: normalised, and the model's.
pub(crate) fn check_weights(m: &Model) {
    let (mut a, mut b, mut c) = (f64::NAN, f64::NAN, f64::NAN);
    let (_, outcome) = with_err(ErrMode::Fresh, |err| {
        // SAFETY: writable out-pointers, valid errptr.
        unsafe { lsmedic_healer_get_weights(m.db_ptr(), &mut a, &mut b, &mut c, err) }
    });
    expect(
        "lsmedic_healer_get_weights",
        &outcome,
        Some(m.db_open()),
        &"get_weights",
    );
    if let Some(db) = &m.db {
        let sum = a + b + c;
        assert!(
            [a, b, c].iter().all(|w| w.is_finite() && *w >= 0.0) && (sum - 1.0).abs() < 1e-9,
            "weights not normalised: {a}, {b}, {c}"
        );
        let (x, y, z) = db.weights;
        assert!(
            (a - x).abs() < 1e-9 && (b - y).abs() < 1e-9 && (c - z).abs() < 1e-9,
            "weights {a}, {b}, {c}; model {x}, {y}, {z}"
        );
    }
}

/// `lsmedic_healer_stats`: JSON whose `running` is the model's.
fn stats(m: &Model, mode: ErrMode) {
    let (json, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_stats(m.db_ptr(), err) }
    });
    expect(
        "lsmedic_healer_stats",
        &outcome,
        Some(m.db_open()),
        &"stats",
    );
    if let Some(value) = take_json(json) {
        let running = m.db.as_ref().is_some_and(|db| db.healer_running);
        assert_eq!(
            value.get("running").and_then(|r| r.as_bool()),
            Some(running),
            "stats.running: {value}"
        );
    }
}

/// `lsmedic_healer_audit`: at most `limit` lines, each a JSON object ending in `\n`.
fn audit(m: &Model, limit: u8, mode: ErrMode) {
    let (text, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_audit(m.db_ptr(), usize::from(limit), err) }
    });
    expect(
        "lsmedic_healer_audit",
        &outcome,
        Some(m.db_open()),
        &"audit",
    );
    if text.is_null() {
        return;
    }
    // SAFETY: a NUL-terminated library buffer.
    let lines = unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: a library buffer.
    unsafe { lsmedic_free(text.cast()) };
    assert!(
        lines.is_empty() || lines.ends_with('\n'),
        "audit lines end in \\n"
    );
    let entries: Vec<&str> = lines.lines().collect();
    assert!(
        entries.len() <= usize::from(limit),
        "audit returned more than the limit"
    );
    for line in entries {
        let entry: serde_json::Value = serde_json::from_str(line).expect("audit line is JSON");
        assert!(entry.is_object());
    }
}

/// `lsmedic_healer_set_callback`: installs or removes [`on_audit_entry`].
fn set_callback(m: &Model, on: bool, mode: ErrMode) {
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: the callback is safe to call from any thread with this user_data
        // (a tag, never dereferenced); valid errptr.
        unsafe {
            lsmedic_healer_set_callback(
                m.db_ptr(),
                if on { Some(on_audit_entry) } else { None },
                0x5eed as *mut c_void,
                err,
            )
        }
    });
    expect(
        "lsmedic_healer_set_callback",
        &outcome,
        Some(m.db_open()),
        &on,
    );
}
