//! Steering the healer from C: start/stop, mode, objective weights, statistics and audit
//! entries as JSON, `adapt_now`, and a callback told of every audit entry.
//!
//! The callback is installed as the healer's audit observer
//! ([`HealerHandle::set_audit_observer`](lsmedic::healer::HealerHandle::set_audit_observer)),
//! so it runs on the `lsmedic-healer` thread, inside the tick that appended the entry: no
//! extra thread, no polling, and entries arrive in order. A thread-local flag marks the call,
//! so that lifecycle functions called from inside it (close, healer start/stop, changing the
//! callback — each would wait for the healer thread, i.e. for itself) fail with an error
//! instead of deadlocking.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

use lsmedic::healer::{AuditEntry, AuditObserver, Healer, HealerConfig, Weights};

use crate::boundary::{call, malloc_string, write_out, FfiError, FfiResult};
use crate::config::{mode_from_int, mode_to_int};
use crate::db::{db_handle, Database};
use crate::lsmedic_t;

/// Called with each healer audit entry as one JSON object (`entry_len` bytes plus a NUL),
/// on the `lsmedic-healer` thread; `entry_json` is valid only during the call. See
/// `lsmedic_healer_set_callback`.
pub type lsmedic_healer_callback_t = Option<
    unsafe extern "C" fn(user_data: *mut c_void, entry_json: *const c_char, entry_len: usize),
>;

thread_local! {
    /// Set while this thread runs a C healer callback.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is inside a C healer callback.
pub(crate) fn in_healer_callback() -> bool {
    IN_CALLBACK.with(Cell::get)
}

/// Clears the flag when the call ends.
struct CallbackScope;

impl CallbackScope {
    fn enter() -> CallbackScope {
        IN_CALLBACK.with(|flag| flag.set(true));
        CallbackScope
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|flag| flag.set(false));
    }
}

/// The caller's opaque pointer.
#[derive(Copy, Clone)]
struct UserData(*mut c_void);

// SAFETY: the pointer is only handed back to the caller's callback; by registering it the
// caller declares it usable from the healer thread (documented in the header).
unsafe impl Send for UserData {}
// SAFETY: as above; lsmedic never dereferences it.
unsafe impl Sync for UserData {}

/// A registered C callback.
#[derive(Clone)]
pub(crate) struct CallbackSlot {
    function: unsafe extern "C" fn(*mut c_void, *const c_char, usize),
    user_data: UserData,
}

impl CallbackSlot {
    /// The healer observer that forwards entries to the C function.
    fn observer(&self) -> AuditObserver {
        let slot = self.clone();
        Arc::new(move |entry: &AuditEntry| {
            let Ok(mut json) = serde_json::to_string(entry) else {
                return;
            };
            let len = json.len();
            json.push('\0');
            slot.invoke(&json, len);
        })
    }

    /// Calls the C function with `json` (NUL-terminated, `len` bytes before the NUL).
    fn invoke(&self, json: &str, len: usize) {
        let _scope = CallbackScope::enter();
        // SAFETY: the caller registered `function` for exactly this call; `json` is
        // NUL-terminated and outlives the call.
        unsafe { (self.function)(self.user_data.0, json.as_ptr().cast(), len) };
    }
}

fn refuse_inside_callback(what: &str) -> FfiResult<()> {
    if in_healer_callback() {
        return Err(FfiError::State(format!(
            "cannot {what} from inside a healer callback (it runs on the healer thread, which \
             this would have to wait for)"
        )));
    }
    Ok(())
}

fn start(database: &Database) -> FfiResult<()> {
    let mut slot = database.healer.lock();
    if slot
        .running
        .as_ref()
        .is_some_and(|h| h.handle().is_running())
    {
        return Err(FfiError::State("the healer is already running".to_owned()));
    }
    let previous = database.healer_handle();
    let config = HealerConfig {
        mode: previous.mode(),
        weights: previous.weights(),
        ..database.healer_config.clone()
    };
    let healer = Healer::start(Arc::clone(&database.engine), config)?;
    let handle = healer.handle();
    if let Some(callback) = &slot.callback {
        handle.set_audit_observer(Some(callback.observer()));
    }
    *database.handle.lock() = handle;
    // A stopped healer left in the slot has already joined its thread.
    slot.running = Some(healer);
    Ok(())
}

/// Starts the healer again after `lsmedic_healer_stop`, with the configuration the database
/// was opened with, the mode and weights last set, and the registered callback. Error when
/// it is running.
///
/// Thread-safety: any thread except the healer thread (refused from inside a callback);
/// start and stop are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_start(db: *mut lsmedic_t, errptr: *mut *mut c_char) {
    call("lsmedic_healer_start", errptr, (), || {
        refuse_inside_callback("start the healer")?;
        let database = db_handle(db)?;
        start(&database)
    })
}

/// Stops the healer thread and waits for it, including a flush, compaction or rebuild it
/// started. Data calls go on working; statistics and audit entries stay readable. Stopping a
/// stopped healer does nothing.
///
/// Thread-safety: any thread except the healer thread (refused from inside a callback);
/// start and stop are serialised.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_stop(db: *mut lsmedic_t, errptr: *mut *mut c_char) {
    call("lsmedic_healer_stop", errptr, (), || {
        refuse_inside_callback("stop the healer")?;
        let database = db_handle(db)?;
        let mut slot = database.healer.lock();
        if let Some(healer) = slot.running.as_mut() {
            healer.stop()?;
        }
        slot.running = None;
        Ok(())
    })
}

/// 1 when the healer thread runs, 0 when stopped or on error.
///
/// Thread-safety: any thread, including inside a callback.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_is_running(
    db: *mut lsmedic_t,
    errptr: *mut *mut c_char,
) -> u8 {
    call("lsmedic_healer_is_running", errptr, 0, || {
        Ok(u8::from(db_handle(db)?.healer_handle().is_running()))
    })
}

/// Sets the healer's mode (`LSMEDIC_HEALER_MODE_*`); takes effect at the next tick. Leaving
/// active mode abandons verifications in flight. While stopped, sets the mode the next
/// `lsmedic_healer_start` uses.
///
/// Thread-safety: any thread, including inside a callback.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_set_mode(
    db: *mut lsmedic_t,
    mode: i32,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_healer_set_mode", errptr, (), || {
        let mode = mode_from_int(mode)?;
        db_handle(db)?.healer_handle().set_mode(mode);
        Ok(())
    })
}

/// The healer's mode (`LSMEDIC_HEALER_MODE_*`), -1 on error.
///
/// Thread-safety: any thread, including inside a callback.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_get_mode(
    db: *mut lsmedic_t,
    errptr: *mut *mut c_char,
) -> i32 {
    call("lsmedic_healer_get_mode", errptr, -1, || {
        Ok(mode_to_int(db_handle(db)?.healer_handle().mode()))
    })
}

/// Sets the objective weights (latency, throughput, resources): each ≥ 0 and finite, not all
/// 0; normalised to sum to 1. Takes effect at the next tick.
///
/// Thread-safety: any thread, including inside a callback.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_set_weights(
    db: *mut lsmedic_t,
    latency: f64,
    throughput: f64,
    resources: f64,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_healer_set_weights", errptr, (), || {
        let weights = Weights::new(latency, throughput, resources)?;
        db_handle(db)?.healer_handle().set_weights(weights)?;
        Ok(())
    })
}

/// The current (normalised) objective weights through the non-NULL out-pointers.
///
/// Thread-safety: any thread, including inside a callback.
///
/// # Safety
/// Each out-pointer is NULL or writable; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_get_weights(
    db: *mut lsmedic_t,
    latency: *mut f64,
    throughput: *mut f64,
    resources: *mut f64,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_healer_get_weights", errptr, (), || {
        let weights = db_handle(db)?.healer_handle().weights();
        // SAFETY: forwarded contract.
        unsafe {
            write_out(latency, weights.latency);
            write_out(throughput, weights.throughput);
            write_out(resources, weights.resources);
        }
        Ok(())
    })
}

/// The healer's statistics as one JSON object (`running`, `mode`, `weights`, `policy`,
/// `ticks`, tick-time percentiles, ring drains and drops, `actions` by kind and verdict,
/// `model`, `errors`, `last_error`, `audit_entries`, …); free with `lsmedic_free`. NULL on
/// error.
///
/// Thread-safety: any thread, including inside a callback.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_stats(
    db: *mut lsmedic_t,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    call("lsmedic_healer_stats", errptr, std::ptr::null_mut(), || {
        let stats = db_handle(db)?.healer_handle().stats();
        let json = serde_json::to_string(&stats).map_err(|source| FfiError::Json {
            what: "healer statistics",
            source,
        })?;
        malloc_string(&json)
    })
}

/// The last `limit` audit entries kept in memory, oldest first, as JSON lines (one object
/// per line, each ending in `\n`; the empty string when there are none). Each entry has
/// `seq`, `tick`, `at_ns`, `unix_ms`, `mode`, `weights` and a `type`: `decision` (candidates
/// with rule, reason, score and guard `verdict`: `applied`, `advised`, …), `outcome` (the
/// measured result of an earlier decision), `error` or `config`. Free with `lsmedic_free`.
/// NULL on error.
///
/// Thread-safety: any thread, including inside a callback.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_audit(
    db: *mut lsmedic_t,
    limit: usize,
    errptr: *mut *mut c_char,
) -> *mut c_char {
    call("lsmedic_healer_audit", errptr, std::ptr::null_mut(), || {
        let entries = db_handle(db)?.healer_handle().audit_entries(limit);
        let mut lines = String::new();
        for entry in &entries {
            let line = serde_json::to_string(entry).map_err(|source| FfiError::Json {
                what: "audit entry",
                source,
            })?;
            lines.push_str(&line);
            lines.push('\n');
        }
        malloc_string(&lines)
    })
}

/// Asks the learned detector to adapt to the current workload on the next windows (recorded
/// in the statistics and audit log; without a loaded detector it has no other effect).
/// Error when the healer is stopped.
///
/// Thread-safety: any thread, including inside a callback.
///
/// # Safety
/// `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_adapt_now(db: *mut lsmedic_t, errptr: *mut *mut c_char) {
    call("lsmedic_healer_adapt_now", errptr, (), || {
        db_handle(db)?.healer_handle().adapt_now()?;
        Ok(())
    })
}

/// Registers `callback` (NULL removes it) to be called with every audit entry the healer
/// appends from now on — each decision (actions applied, advised or refused), each measured
/// outcome, error and configuration change — as one JSON object (the format of
/// `lsmedic_healer_audit`'s lines, without the newline). It stays registered across
/// `lsmedic_healer_stop`/`lsmedic_healer_start`.
///
/// The callback runs on the `lsmedic-healer` thread, inside the healer's tick: keep it short
/// (copy what you need and return), make `user_data` safe to use from that thread, and do
/// not call `lsmedic_close`, `lsmedic_healer_start`, `lsmedic_healer_stop` or
/// `lsmedic_healer_set_callback` from it (they fail with an error there). Other lsmedic
/// calls are allowed. A callback call in progress finishes before this function returns, so
/// afterwards the previous `user_data` can be freed; after `lsmedic_close` returns no
/// callback runs either.
///
/// Thread-safety: any thread except the healer thread.
///
/// # Safety
/// `callback` is NULL or a function safe to call with `user_data` from another thread until
/// it is replaced or the database closed; `errptr` is NULL or a valid `char**`.
#[no_mangle]
pub unsafe extern "C" fn lsmedic_healer_set_callback(
    db: *mut lsmedic_t,
    callback: lsmedic_healer_callback_t,
    user_data: *mut c_void,
    errptr: *mut *mut c_char,
) {
    call("lsmedic_healer_set_callback", errptr, (), || {
        refuse_inside_callback("change the healer callback")?;
        let database = db_handle(db)?;
        let mut slot = database.healer.lock();
        slot.callback = callback.map(|function| CallbackSlot {
            function,
            user_data: UserData(user_data),
        });
        let observer = slot.callback.as_ref().map(CallbackSlot::observer);
        // Waits for a callback in progress; the lifecycle lock keeps a concurrent start from
        // installing the old callback.
        database.healer_handle().set_audit_observer(observer);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmedic::healer::{AuditRecord, Mode};

    /// What the probe callback saw.
    #[derive(Default)]
    struct Probe {
        json: String,
        len: usize,
        inside: bool,
        refused: Option<String>,
    }

    unsafe extern "C" fn probe(user_data: *mut c_void, json: *const c_char, len: usize) {
        // SAFETY: the test passes a `Probe` it owns for the duration of the call, and a
        // NUL-terminated string of `len` bytes.
        let probe = unsafe { &mut *user_data.cast::<Probe>() };
        // SAFETY: as above, `json` is NUL-terminated and outlives the call.
        probe.json = unsafe { std::ffi::CStr::from_ptr(json) }
            .to_string_lossy()
            .into_owned();
        probe.len = len;
        probe.inside = in_healer_callback();
        probe.refused = refuse_inside_callback("stop the healer")
            .err()
            .map(|e| e.to_string());
    }

    #[test]
    fn the_observer_hands_c_the_entry_as_json_and_flags_the_call() {
        let mut seen = Probe::default();
        let slot = CallbackSlot {
            function: probe,
            user_data: UserData((&mut seen as *mut Probe).cast()),
        };
        let entry = AuditEntry {
            seq: 42,
            tick: 7,
            at_ns: 1,
            unix_ms: 2,
            mode: Mode::Advisory,
            weights: Weights::default(),
            record: AuditRecord::Config {
                change: "mode active -> advisory".to_owned(),
            },
        };
        assert!(!in_healer_callback());
        slot.observer()(&entry);
        assert!(!in_healer_callback(), "the flag is cleared after the call");
        assert!(seen.inside);
        assert_eq!(seen.len, seen.json.len());
        let back: AuditEntry = serde_json::from_str(&seen.json).expect("one JSON entry");
        assert_eq!(back, entry);
        let refused = seen.refused.expect("refused inside the callback");
        assert!(refused.contains("inside a healer callback"), "{refused}");
        assert!(refuse_inside_callback("stop the healer").is_ok());
    }
}
