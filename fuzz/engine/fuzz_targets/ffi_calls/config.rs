//! Calls on `lsmedic_config_t`: create, parse, copy, set, destroy.
//!
//! The model tracks the options this target can reason about (set through the typed
//! setters), to predict whether `lsmedic_open` must accept the config. A config that took
//! an arbitrary `lsmedic_config_set` or came from fuzzed text is never opened: it could name
//! any path on the machine (audit log, checkpoints, model files).

use std::ffi::{c_char, CString};
use std::ptr;

use lsmedic_ffi::*;

use crate::input::{ErrMode, Op, SafeOption};
use crate::model::{pick, Model, Slot};
use crate::outcome::{expect, succeeded, take_json, with_err};

/// What the model knows of a config.
pub(crate) struct ConfigSlot {
    /// The handle.
    pub(crate) slot: Slot<lsmedic_config_t>,
    /// Opened by `Open` only when built from defaults, safe setters and tracked values.
    pub(crate) openable: bool,
    /// Whether `lsmedic_open` must accept it (None: the model cannot tell).
    pub(crate) valid: Option<bool>,
    /// `create_if_missing` as last set.
    pub(crate) create_if_missing: bool,
    /// `max_background_jobs` as last set.
    pub(crate) jobs: i32,
    /// `write_buffer_size` as last set.
    pub(crate) write_buffer_size: u64,
    /// The L0 compaction, slowdown and stop triggers as last set.
    pub(crate) level0: (i32, i32, i32),
    /// The healer's tick interval as last set.
    pub(crate) tick_ms: u64,
    /// The healer mode as last set (0 off, 1 advisory, 2 active).
    pub(crate) mode: i32,
}

impl ConfigSlot {
    /// A config with the library's defaults.
    pub(crate) fn new(handle: *mut lsmedic_config_t, openable: bool) -> ConfigSlot {
        ConfigSlot {
            slot: Slot::new(handle),
            openable,
            valid: if openable { Some(true) } else { None },
            create_if_missing: true,
            jobs: 2,
            write_buffer_size: 64 << 20,
            level0: (4, 20, 36),
            tick_ms: 100,
            mode: 2,
        }
    }

    /// Recomputes `valid` from the tracked setters (once unknown, stays unknown).
    fn revalidate(&mut self) {
        if self.valid.is_none() {
            return;
        }
        let (c, s, t) = self.level0;
        self.valid = Some(
            (1..=256).contains(&self.jobs)
                && (64 << 10..=64 << 30).contains(&self.write_buffer_size)
                && (1..=10_000).contains(&c)
                && c <= s
                && s <= t
                && t <= 10_000
                && (1..=60_000).contains(&self.tick_ms),
        );
    }
}

/// Makes a config call.
pub(crate) fn call(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        Op::ConfigCreate => {
            let handle = lsmedic_config_create();
            assert!(!handle.is_null(), "lsmedic_config_create failed");
            m.configs.push(ConfigSlot::new(handle, true));
        }
        // Text with a NUL inside cannot be passed as a C string.
        Op::ConfigFromJson(text) | Op::ConfigFromToml(text) if text.contains('\0') => {}
        Op::ConfigFromJson(text) => from_text(
            m,
            mode,
            "lsmedic_config_from_json",
            lsmedic_config_from_json,
            text,
        ),
        Op::ConfigFromToml(text) => from_text(
            m,
            mode,
            "lsmedic_config_from_toml",
            lsmedic_config_from_toml,
            text,
        ),
        Op::ConfigCopy(slot) => copy(m, slot, mode),
        Op::ConfigSetSafe { slot, option } => on_slot(m, slot, |c| set_safe(c, option, mode)),
        Op::ConfigSetRaw { slot, name, value } => {
            on_slot(m, slot, |c| set_raw(c, name, value, mode));
        }
        Op::ConfigSetMaxBackgroundJobs { slot, jobs } => {
            on_slot(m, slot, |c| set_max_background_jobs(c, jobs, mode));
        }
        Op::ConfigSetWriteBufferSize { slot, bytes } => {
            on_slot(m, slot, |c| set_write_buffer_size(c, bytes, mode));
        }
        Op::ConfigSetLevel0Triggers {
            slot,
            compaction,
            slowdown,
            stop,
        } => on_slot(m, slot, |c| {
            set_level0_triggers(c, (compaction, slowdown, stop), mode);
        }),
        Op::ConfigSetHealerMode {
            slot,
            mode: healer_mode,
        } => on_slot(m, slot, |c| set_healer_mode(c, healer_mode, mode)),
        Op::ConfigSetTickInterval { slot, ms } => {
            on_slot(m, slot, |c| set_tick_interval(c, ms, mode));
        }
        Op::ConfigSetCreateIfMissing { slot, on } => {
            on_slot(m, slot, |c| set_create_if_missing(c, on, mode));
        }
        Op::ConfigSetAuditPathNull(slot) => on_slot(m, slot, |c| set_audit_path_null(c, mode)),
        Op::ConfigDestroy(slot) => on_slot(m, slot, |c| {
            lsmedic_config_destroy(c.slot.handle);
            c.slot.alive = false;
        }),
        other => unreachable!("not a config call: {other:?}"),
    }
}

/// Runs `f` on the config `slot` selects; nothing when the input has none.
fn on_slot(m: &mut Model, slot: u8, f: impl FnOnce(&mut ConfigSlot)) {
    if let Some(c) = pick(&mut m.configs, slot) {
        f(c);
    }
}

/// `lsmedic_config_from_json` / `_from_toml` on `text` (no NUL inside): a config that
/// round-trips through JSON, or NULL with an error.
fn from_text(
    m: &mut Model,
    mode: ErrMode,
    name: &str,
    parse: unsafe extern "C" fn(*const c_char, *mut *mut c_char) -> *mut lsmedic_config_t,
    text: String,
) {
    let c = CString::new(text).expect("checked");
    let (handle, outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated text, valid errptr.
        unsafe { parse(c.as_ptr(), err) }
    });
    expect(name, &outcome, None, &c);
    if !handle.is_null() {
        assert!(succeeded(&outcome));
        check_config_json(handle);
        m.configs.push(ConfigSlot::new(handle, false));
    } else {
        assert!(
            !outcome.observed || outcome.error.is_some(),
            "NULL config without an error"
        );
    }
}

/// `lsmedic_config_to_json` of a slot, parsed back into a new config that inherits what the
/// model knows of the original.
fn copy(m: &mut Model, slot: u8, mode: ErrMode) {
    let Some(c) = pick(&mut m.configs, slot) else {
        return;
    };
    let (json, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_config_to_json(c.slot.handle, err) }
    });
    expect(
        "lsmedic_config_to_json",
        &outcome,
        c.slot.alive.then_some(true).or(Some(false)),
        &"to_json",
    );
    if json.is_null() {
        assert!(
            !c.slot.alive || !outcome.observed,
            "to_json of a live config failed"
        );
        return;
    }
    assert!(c.slot.alive, "to_json of a dead config returned JSON");
    let (copy, outcome) = with_err(ErrMode::Fresh, |err| {
        // SAFETY: the library's NUL-terminated JSON, valid errptr.
        unsafe { lsmedic_config_from_json(json, err) }
    });
    // SAFETY: a library buffer.
    unsafe { lsmedic_free(json.cast()) };
    // A config's own JSON must parse back (unless it holds a float JSON cannot write).
    let openable = c.openable;
    if copy.is_null() {
        assert!(
            !openable,
            "the JSON of an openable config does not parse back: {:?}",
            outcome.error
        );
        return;
    }
    let mut slot = ConfigSlot::new(copy, openable);
    slot.valid = c.valid;
    slot.create_if_missing = c.create_if_missing;
    (
        slot.jobs,
        slot.write_buffer_size,
        slot.level0,
        slot.tick_ms,
        slot.mode,
    ) = (c.jobs, c.write_buffer_size, c.level0, c.tick_ms, c.mode);
    m.configs.push(slot);
}

/// `lsmedic_config_set` of an option the model can name but not range-check.
fn set_safe(c: &mut ConfigSlot, option: SafeOption, mode: ErrMode) {
    let (name, value) = option.name_value();
    let (n, v) = (
        CString::new(name).expect("no NUL"),
        CString::new(value.clone()).expect("no NUL"),
    );
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated strings, valid errptr.
        unsafe { lsmedic_config_set(c.slot.handle, n.as_ptr(), v.as_ptr(), err) }
    });
    let known_bad = match option {
        SafeOption::Mode(m) => m % 4 == 3,
        SafeOption::Compression(c) => c % 5 == 4,
        _ => false,
    };
    let expected = if !c.slot.alive || known_bad {
        Some(false)
    } else {
        Some(true)
    };
    expect("lsmedic_config_set", &outcome, expected, &(name, &value));
    if c.slot.alive && succeeded(&outcome) {
        // Ranges (weights, counts) are checked at open: the model stops predicting.
        c.valid = None;
    }
}

/// `lsmedic_config_set` of any name and value (no NUL inside).
fn set_raw(c: &mut ConfigSlot, name: String, value: String, mode: ErrMode) {
    let (Ok(n), Ok(v)) = (CString::new(name), CString::new(value)) else {
        return;
    };
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated strings, valid errptr.
        unsafe { lsmedic_config_set(c.slot.handle, n.as_ptr(), v.as_ptr(), err) }
    });
    expect(
        "lsmedic_config_set",
        &outcome,
        (!c.slot.alive).then_some(false),
        &(&n, &v),
    );
    if c.slot.alive && succeeded(&outcome) {
        // Any option may have changed (paths included): never open this one.
        c.openable = false;
        c.valid = None;
    }
    if c.slot.alive {
        check_config_json(c.slot.handle);
    }
}

/// `lsmedic_config_set_max_background_jobs`: accepted on a live config, checked at open.
fn set_max_background_jobs(c: &mut ConfigSlot, jobs: i16, mode: ErrMode) {
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_config_set_max_background_jobs(c.slot.handle, i32::from(jobs), err) }
    });
    expect(
        "lsmedic_config_set_max_background_jobs",
        &outcome,
        Some(c.slot.alive),
        &jobs,
    );
    if c.slot.alive {
        c.jobs = i32::from(jobs);
        c.revalidate();
    }
}

/// `lsmedic_config_set_write_buffer_size`: accepted on a live config, checked at open.
fn set_write_buffer_size(c: &mut ConfigSlot, bytes: u32, mode: ErrMode) {
    // At most 16 MiB: the arena RocksDB allocates per memtable grows with it.
    let bytes = u64::from(bytes % (16 << 20));
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_config_set_write_buffer_size(c.slot.handle, bytes, err) }
    });
    expect(
        "lsmedic_config_set_write_buffer_size",
        &outcome,
        Some(c.slot.alive),
        &bytes,
    );
    if c.slot.alive {
        c.write_buffer_size = bytes;
        c.revalidate();
    }
}

/// `lsmedic_config_set_level0_triggers`: may be refused at set time, only when out of range.
fn set_level0_triggers(c: &mut ConfigSlot, triggers: (i16, i16, i16), mode: ErrMode) {
    let (compaction, slowdown, stop) = triggers;
    let (a, b, d) = (i32::from(compaction), i32::from(slowdown), i32::from(stop));
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_config_set_level0_triggers(c.slot.handle, a, b, d, err) }
    });
    expect(
        "lsmedic_config_set_level0_triggers",
        &outcome,
        (!c.slot.alive).then_some(false),
        &(a, b, d),
    );
    if c.slot.alive && succeeded(&outcome) {
        c.level0 = (a, b, d);
        c.revalidate();
    } else if c.slot.alive && outcome.observed {
        // Refused at set time: must have been out of range.
        let valid = (1..=10_000).contains(&a) && a <= b && b <= d && d <= 10_000;
        assert!(
            !valid,
            "valid L0 triggers {a}, {b}, {d} refused: {:?}",
            outcome.error
        );
    } else {
        c.valid = None;
    }
}

/// `lsmedic_config_set_healer_mode`: 0 to 2 accepted, anything else refused.
fn set_healer_mode(c: &mut ConfigSlot, healer_mode: i8, mode: ErrMode) {
    let value = i32::from(healer_mode);
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_config_set_healer_mode(c.slot.handle, value, err) }
    });
    let valid = (0..=2).contains(&value);
    expect(
        "lsmedic_config_set_healer_mode",
        &outcome,
        Some(c.slot.alive && valid),
        &value,
    );
    if c.slot.alive && valid {
        c.mode = value;
    }
}

/// `lsmedic_config_set_healer_tick_interval_ms`: may be refused at set time, only when out
/// of range.
fn set_tick_interval(c: &mut ConfigSlot, ms: u32, mode: ErrMode) {
    let ms = u64::from(ms % 70_000);
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_config_set_healer_tick_interval_ms(c.slot.handle, ms, err) }
    });
    expect(
        "lsmedic_config_set_healer_tick_interval_ms",
        &outcome,
        (!c.slot.alive).then_some(false),
        &ms,
    );
    if c.slot.alive && succeeded(&outcome) {
        c.tick_ms = ms;
        c.revalidate();
    } else if c.slot.alive && outcome.observed {
        assert!(
            !(1..=60_000).contains(&ms),
            "valid tick interval {ms} refused"
        );
    } else {
        c.valid = None;
    }
}

/// `lsmedic_config_set_create_if_missing`.
fn set_create_if_missing(c: &mut ConfigSlot, on: bool, mode: ErrMode) {
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_config_set_create_if_missing(c.slot.handle, u8::from(on), err) }
    });
    expect(
        "lsmedic_config_set_create_if_missing",
        &outcome,
        Some(c.slot.alive),
        &on,
    );
    if c.slot.alive {
        c.create_if_missing = on;
    }
}

/// `lsmedic_config_set_audit_path(NULL)`: no audit log, the one path this target sets.
fn set_audit_path_null(c: &mut ConfigSlot, mode: ErrMode) {
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: NULL path is allowed; valid errptr.
        unsafe { lsmedic_config_set_audit_path(c.slot.handle, ptr::null(), err) }
    });
    expect(
        "lsmedic_config_set_audit_path",
        &outcome,
        Some(c.slot.alive),
        &"NULL",
    );
}

/// Checks a config's JSON parses and is a document with `engine` and `healer`.
pub(crate) fn check_config_json(config: *mut lsmedic_config_t) {
    let (json, outcome) = with_err(ErrMode::Fresh, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_config_to_json(config, err) }
    });
    expect(
        "lsmedic_config_to_json",
        &outcome,
        Some(true),
        &"live config",
    );
    let value = take_json(json).expect("a live config's JSON");
    assert!(
        value.get("engine").is_some() && value.get("healer").is_some(),
        "config JSON: {value}"
    );
}
