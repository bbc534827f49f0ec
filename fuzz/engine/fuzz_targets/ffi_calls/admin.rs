//! Embedder calls on `lsmedic_t`: multi-get, properties, statistics, options by name,
//! checkpoints.
//!
//! Multi-get must agree with the model key by key; the others must succeed exactly when the
//! database is open (and the column family exists, and the arguments are valid where the
//! model can tell).

use std::ffi::{CStr, CString};
use std::ptr;

use lsmedic_ffi::*;

use crate::input::{CfArg, CfSel, ErrMode, KeySel, Op};
use crate::model::{cf_ptr, Model};
use crate::outcome::{expect, with_err};
use crate::{count, DATA_OK};

/// Property names: two RocksDB answers, one it does not know.
const PROPERTIES: [&str; 3] = [
    "rocksdb.estimate-num-keys",
    "rocksdb.num-files-at-level0",
    "rocksdb.no-such-property",
];

/// (option, value, may succeed on a column family, succeeds DB-wide) pairs. Whether a
/// column-family value passes depends on the family's other options (cross-option rules),
/// so only its refusals are checked.
const OPTIONS: [(&str, &str, bool, bool); 5] = [
    ("level0_slowdown_writes_trigger", "24", true, false),
    ("write_buffer_size", "2097152", true, false),
    ("max_background_jobs", "3", false, true),
    ("write_buffer_size", "lots", false, false),
    ("no_such_option", "1", false, false),
];

/// Makes an embedder call.
pub(crate) fn call(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        Op::MultiGet {
            cf,
            keys,
            null_values,
        } => multi_get(m, cf, &keys, null_values, mode),
        Op::Property { cf, name } => property(m, cf, name, mode),
        Op::Statistics => statistics(m, mode),
        Op::SetOption { cf, pair } => set_option(m, cf, pair, mode),
        Op::CheckpointCreate { existing } => checkpoint(m, existing, mode),
        other => unreachable!("not an embedder call: {other:?}"),
    }
}

fn multi_get(m: &Model, cf: CfSel, keys: &[KeySel], null_values: bool, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let keys: Vec<Vec<u8>> = keys.iter().take(8).map(KeySel::bytes).collect();
    let pointers: Vec<*const std::ffi::c_char> = keys.iter().map(|k| k.as_ptr().cast()).collect();
    let lens: Vec<usize> = keys.iter().map(Vec::len).collect();
    let mut values = vec![ptr::null_mut::<std::ffi::c_char>(); keys.len()];
    let mut value_lens = vec![usize::MAX; keys.len()];
    let null_outputs = null_values && !keys.is_empty();
    let ((), outcome) = with_err(mode, |err| {
        let (values, value_lens) = if null_outputs {
            (ptr::null_mut(), ptr::null_mut())
        } else {
            (values.as_mut_ptr(), value_lens.as_mut_ptr())
        };
        // SAFETY: `keys.len()` keys with their lengths; output arrays of that length or NULL.
        unsafe {
            lsmedic_multi_get(
                m.db_ptr(),
                cf_ptr(&c),
                keys.len(),
                pointers.as_ptr(),
                lens.as_ptr(),
                values,
                value_lens,
                err,
            )
        }
    });
    let ok = m.db_open() && m.cf_exists(&arg) && !null_outputs;
    expect("lsmedic_multi_get", &outcome, Some(ok), &(&arg, &keys));
    if null_outputs {
        return;
    }
    for (i, key) in keys.iter().enumerate() {
        let got = (!values[i].is_null()).then(|| {
            // SAFETY: `value_lens[i]` bytes plus a NUL from the library.
            let bytes = unsafe { std::slice::from_raw_parts(values[i].cast::<u8>(), value_lens[i] + 1) };
            assert_eq!(bytes[value_lens[i]], 0, "value not NUL-terminated");
            let value = bytes[..value_lens[i]].to_vec();
            // SAFETY: a library buffer.
            unsafe { lsmedic_free(values[i].cast()) };
            value
        });
        if got.is_none() {
            assert_eq!(value_lens[i], 0, "value_len of an absent value");
        }
        if ok {
            let CfArg::Name(n) = &arg else { unreachable!() };
            assert_eq!(got.as_ref(), m.tables[n].get(key), "multi_get of {key:?} in {n}");
        } else {
            assert!(got.is_none(), "a value from a failed multi_get");
        }
    }
    if ok {
        count(DATA_OK);
    }
}

fn property(m: &Model, cf: CfSel, name: Option<u8>, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let name = name.map(|i| CString::new(PROPERTIES[usize::from(i) % 3]).expect("no NUL"));
    let (value, outcome) = with_err(mode, |err| {
        let name = name.as_ref().map_or(ptr::null(), |n| n.as_ptr());
        // SAFETY: NUL-terminated strings or NULL, valid errptr.
        unsafe { lsmedic_property_value(m.db_ptr(), cf_ptr(&c), name, err) }
    });
    let ok = m.db_open() && m.cf_exists(&arg) && name.is_some();
    expect("lsmedic_property_value", &outcome, Some(ok), &(&arg, &name));
    let known = name
        .as_ref()
        .is_some_and(|n| n.as_bytes() != PROPERTIES[2].as_bytes());
    if !value.is_null() {
        // SAFETY: a NUL-terminated library string.
        let text = unsafe { CStr::from_ptr(value) }.to_string_lossy().into_owned();
        // SAFETY: a library buffer.
        unsafe { lsmedic_free(value.cast()) };
        assert!(ok && known, "a property value from a failed or unknown lookup: {text}");
        assert!(text.parse::<u64>().is_ok(), "property {name:?} = {text:?}");
    } else {
        assert!(!(ok && known), "no value for known property {name:?}");
    }
}

fn statistics(m: &Model, mode: ErrMode) {
    let (text, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_statistics(m.db_ptr(), err) }
    });
    let ok = m.db_open();
    expect("lsmedic_statistics", &outcome, Some(ok), &"statistics");
    if text.is_null() {
        assert!(!ok, "no statistics from an open database");
        return;
    }
    // SAFETY: a NUL-terminated library string.
    let json = unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned();
    // SAFETY: a library buffer.
    unsafe { lsmedic_free(text.cast()) };
    let parsed: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("statistics {json:?}: {e}"));
    let names: Vec<&str> = parsed["cfs"]
        .as_array()
        .expect("cfs")
        .iter()
        .filter_map(|cf| cf["name"].as_str())
        .collect();
    for cf in m.tables.keys() {
        assert!(names.contains(&cf.as_str()), "{cf} missing from {json}");
    }
}

fn set_option(m: &Model, cf: CfSel, pair: u8, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let (name, value, cf_ok, db_ok) = OPTIONS[usize::from(pair) % OPTIONS.len()];
    let (c_name, c_value) = (
        CString::new(name).expect("no NUL"),
        CString::new(value).expect("no NUL"),
    );
    let ((), outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated strings or NULL, valid errptr.
        unsafe {
            lsmedic_set_option(m.db_ptr(), cf_ptr(&c), c_name.as_ptr(), c_value.as_ptr(), err)
        }
    });
    // A NULL column family means a DB-wide option.
    let expected = match (m.db_open(), c.is_none()) {
        (false, _) => Some(false),
        (true, true) => Some(db_ok),
        (true, false) if cf_ok && m.cf_exists(&arg) => None,
        (true, false) => Some(false),
    };
    expect("lsmedic_set_option", &outcome, expected, &(&arg, name, value));
}

fn checkpoint(m: &mut Model, existing: bool, mode: ErrMode) {
    m.checkpoints += 1;
    let dir = m.dir.join(format!("checkpoint-{}", m.checkpoints));
    if existing {
        std::fs::create_dir_all(&dir).expect("scratch directory");
    }
    let path = CString::new(dir.to_string_lossy().into_owned()).expect("no NUL");
    let ((), outcome) = with_err(mode, |err| {
        // SAFETY: a NUL-terminated path, valid errptr.
        unsafe { lsmedic_checkpoint_create(m.db_ptr(), path.as_ptr(), err) }
    });
    let ok = m.db_open() && !existing;
    expect("lsmedic_checkpoint_create", &outcome, Some(ok), &dir);
    if ok {
        assert!(dir.join("CURRENT").exists(), "checkpoint without CURRENT");
    }
}
