//! Data calls on `lsmedic_t`: put, get, delete, delete range, flush, compact, rebuild,
//! recover.
//!
//! Each succeeds exactly when the database is open and the column family exists (a
//! reversed delete range is refused before RocksDB sees it); the model applies what
//! succeeded, and reads and compactions compare the database with it.

use std::ffi::{CStr, CString};
use std::ptr;

use lsmedic_ffi::*;

use crate::input::{CfArg, CfSel, ErrMode, KeySel, Op};
use crate::model::{buf, cf_ptr, remove_range, Model};
use crate::outcome::{expect, with_err};
use crate::{count, DATA_OK};

/// Makes a data call.
pub(crate) fn call(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        Op::Put { cf, key, value } => put(m, cf, key, value, mode),
        Op::PutNullKey { len } => put_null_key(m, len, mode),
        Op::Get { cf, key } => get(m, cf, key, mode),
        Op::Delete { cf, key } => delete(m, cf, key, mode),
        Op::DeleteRange { cf, start, end } => delete_range(m, cf, (start, end), mode),
        Op::Flush(cf) => flush(m, cf, mode),
        Op::Rebuild(cf) => rebuild(m, cf, mode),
        Op::Recover => recover(m, mode),
        Op::Compact { cf, start, end } => compact(m, cf, (start, end), mode),
        other => unreachable!("not a data call: {other:?}"),
    }
}

/// `lsmedic_put` (values cut to 64 bytes).
fn put(m: &mut Model, cf: CfSel, key: KeySel, value: Vec<u8>, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let key = key.bytes();
    let value: Vec<u8> = value.into_iter().take(64).collect();
    let ((kp, kl), (vp, vl)) = (buf(&key), buf(&value));
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffers, NUL-terminated name or NULL, valid errptr.
        unsafe { lsmedic_put(m.db_ptr(), cf_ptr(&c), kp, kl, vp, vl, err) }
    });
    let ok = m.db_open() && m.cf_exists(&arg);
    expect("lsmedic_put", &outcome, Some(ok), &(&arg, &key));
    if ok {
        count(DATA_OK);
        if let CfArg::Name(n) = arg {
            m.tables.get_mut(&n).expect("exists").insert(key, value);
        }
    }
}

/// `lsmedic_put` with a NULL key pointer and a non-zero length: refused, never read.
fn put_null_key(m: &Model, len: u8, mode: ErrMode) {
    let len = usize::from(len).max(1);
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: deliberately NULL with a length: the library must refuse it
        // without reading (documented: NULL only with length 0).
        unsafe {
            lsmedic_put(
                m.db_ptr(),
                ptr::null(),
                ptr::null(),
                len,
                ptr::null(),
                0,
                err,
            )
        }
    });
    expect("lsmedic_put", &outcome, Some(false), &("NULL key", len));
}

/// `lsmedic_get`: the model's value (NUL-terminated), or NULL with length 0 when absent.
fn get(m: &Model, cf: CfSel, key: KeySel, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let key = key.bytes();
    let (kp, kl) = buf(&key);
    let mut len = usize::MAX;
    let (got, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffer and out-pointer, valid errptr.
        unsafe { lsmedic_get(m.db_ptr(), cf_ptr(&c), kp, kl, &mut len, err) }
    });
    let ok = m.db_open() && m.cf_exists(&arg);
    expect("lsmedic_get", &outcome, Some(ok), &(&arg, &key));
    if ok {
        count(DATA_OK);
    }
    let bytes = (!got.is_null()).then(|| {
        // SAFETY: `len` bytes plus a NUL from the library.
        let bytes = unsafe { std::slice::from_raw_parts(got.cast::<u8>(), len + 1) };
        assert_eq!(bytes[len], 0, "value not NUL-terminated");
        let value = bytes[..len].to_vec();
        // SAFETY: a library buffer.
        unsafe { lsmedic_free(got.cast()) };
        value
    });
    if bytes.is_none() {
        assert_eq!(len, 0, "value_len of an absent value");
    }
    if ok {
        let CfArg::Name(n) = &arg else { unreachable!() };
        assert_eq!(
            bytes.as_ref(),
            m.tables[n].get(&key),
            "{n}: value of {key:?}"
        );
    } else {
        assert!(bytes.is_none(), "a value from a failed get");
    }
}

/// `lsmedic_delete`.
fn delete(m: &mut Model, cf: CfSel, key: KeySel, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let key = key.bytes();
    let (kp, kl) = buf(&key);
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffer, valid errptr.
        unsafe { lsmedic_delete(m.db_ptr(), cf_ptr(&c), kp, kl, err) }
    });
    let ok = m.db_open() && m.cf_exists(&arg);
    expect("lsmedic_delete", &outcome, Some(ok), &(&arg, &key));
    if ok {
        if let CfArg::Name(n) = arg {
            m.tables.get_mut(&n).expect("exists").remove(&key);
        }
    }
}

/// `lsmedic_delete_range` of `[start, end)`.
fn delete_range(m: &mut Model, cf: CfSel, range: (KeySel, KeySel), mode: ErrMode) {
    let (c, arg) = cf.arg();
    let (start, end) = (range.0.bytes(), range.1.bytes());
    let ((sp, sl), (ep, el)) = (buf(&start), buf(&end));
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffers, valid errptr.
        unsafe { lsmedic_delete_range(m.db_ptr(), cf_ptr(&c), sp, sl, ep, el, err) }
    });
    // A start after the end is refused (documented); `start == end` deletes nothing.
    let ok = m.db_open() && m.cf_exists(&arg) && start <= end;
    expect(
        "lsmedic_delete_range",
        &outcome,
        Some(ok),
        &(&arg, &start, &end),
    );
    if ok {
        if let CfArg::Name(n) = arg {
            remove_range(m.tables.get_mut(&n).expect("exists"), &start, &end);
        }
    }
}

/// `lsmedic_flush`.
fn flush(m: &Model, cf: CfSel, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_flush(m.db_ptr(), cf_ptr(&c), err) }
    });
    expect(
        "lsmedic_flush",
        &outcome,
        Some(m.db_open() && m.cf_exists(&arg)),
        &arg,
    );
}

/// `lsmedic_recover`: an online reopen, which succeeds exactly when the database is open;
/// every table reads back the same afterwards, and the status counts the reopen. Skipped
/// while an iterator is alive (the reopen would wait `reader_wait_ms` for it).
fn recover(m: &Model, mode: ErrMode) {
    if m.iters.iter().any(|it| it.slot.alive) {
        return;
    }
    let ((), outcome) = with_err(mode, |err| {
        // SAFETY: a database pointer (possibly NULL or closed), valid errptr.
        unsafe { lsmedic_recover(m.db_ptr(), err) }
    });
    let ok = m.db_open();
    expect("lsmedic_recover", &outcome, Some(ok), &"recover");
    if !ok {
        return;
    }
    // SAFETY: an open database, NULL errptr.
    let status = unsafe { lsmedic_recovery_status(m.db_ptr(), ptr::null_mut()) };
    assert!(!status.is_null(), "no recovery status");
    // SAFETY: a NUL-terminated string from the library.
    let text = unsafe { CStr::from_ptr(status) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: one library allocation.
    unsafe { lsmedic_free(status.cast()) };
    assert!(text.contains("\"state\":\"healthy\""), "{text}");
    for cf in m.tables.keys() {
        m.verify_table(cf);
    }
}

/// `lsmedic_rebuild_column_family`: accepted for an existing column family other than
/// `default` (RocksDB cannot drop that one), returning a JSON report with no lost range (no
/// file is damaged here); the contents must still be the model's, and no column family is
/// ever quarantined.
fn rebuild(m: &Model, cf: CfSel, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let (report, outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated name or NULL, valid errptr.
        unsafe { lsmedic_rebuild_column_family(m.db_ptr(), cf_ptr(&c), err) }
    });
    let not_default = matches!(&arg, CfArg::Name(n) if n != "default");
    let ok = m.db_open() && m.cf_exists(&arg) && not_default;
    expect("lsmedic_rebuild_column_family", &outcome, Some(ok), &arg);
    if !report.is_null() {
        // SAFETY: a NUL-terminated string from the library.
        let text = unsafe { CStr::from_ptr(report) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: one library allocation.
        unsafe { lsmedic_free(report.cast()) };
        let parsed: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("rebuild report {text:?}: {e}"));
        assert_eq!(parsed["lost_ranges"], serde_json::json!([]), "{text}");
        // The report is stored with the rebuild's commit.
        // SAFETY: NUL-terminated name, NULL errptr.
        let stored = unsafe { lsmedic_last_rebuild_report(m.db_ptr(), cf_ptr(&c), ptr::null_mut()) };
        assert!(!stored.is_null(), "no stored report after a rebuild");
        // SAFETY: a NUL-terminated string from the library.
        let stored_text = unsafe { CStr::from_ptr(stored) }.to_string_lossy().into_owned();
        // SAFETY: one library allocation.
        unsafe { lsmedic_free(stored.cast()) };
        assert_eq!(stored_text, text, "the stored report differs from the returned one");
    }
    if ok {
        if let CfArg::Name(n) = &arg {
            m.verify_table(n);
        }
    }
    if m.db_open() {
        let mut count = usize::MAX;
        // SAFETY: writable count, NULL errptr.
        let list =
            unsafe { lsmedic_quarantined_column_families(m.db_ptr(), &mut count, ptr::null_mut()) };
        assert!(
            !list.is_null(),
            "lsmedic_quarantined_column_families failed"
        );
        assert_eq!(
            count, 0,
            "a column family was quarantined without any damage"
        );
        // SAFETY: one library allocation.
        unsafe { lsmedic_free(list.cast()) };
    }
}

/// `lsmedic_compact_range` (either bound may be NULL; a reversed range may be refused),
/// then the column family's contents must still be the model's.
fn compact(m: &Model, cf: CfSel, range: (Option<KeySel>, Option<KeySel>), mode: ErrMode) {
    let (c, arg) = cf.arg();
    let (start, end) = (range.0.map(|k| k.bytes()), range.1.map(|k| k.bytes()));
    let (sp, sl) = start.as_deref().map_or((ptr::null(), 0), buf);
    let (ep, el) = end.as_deref().map_or((ptr::null(), 0), buf);
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffers or NULL, valid errptr.
        unsafe { lsmedic_compact_range(m.db_ptr(), cf_ptr(&c), sp, sl, ep, el, err) }
    });
    let ok = m.db_open() && m.cf_exists(&arg);
    let reversed = matches!((&start, &end), (Some(s), Some(e)) if s > e);
    expect(
        "lsmedic_compact_range",
        &outcome,
        if ok && !reversed {
            Some(true)
        } else if ok {
            None
        } else {
            Some(false)
        },
        &arg,
    );
    if ok {
        if let CfArg::Name(n) = &arg {
            m.verify_table(n);
        }
    }
}

impl Model {
    /// Compares a column family's contents with the database through `lsmedic_get`.
    pub(crate) fn verify_table(&self, cf: &str) {
        let Some(db) = &self.db else { return };
        let Some(table) = self.tables.get(cf) else {
            return;
        };
        let name = CString::new(cf).expect("model names have no NUL");
        for (key, value) in table {
            let mut len = 0usize;
            let (got, outcome) = with_err(ErrMode::Fresh, |err| {
                // SAFETY: valid buffers and out-pointers.
                unsafe {
                    lsmedic_get(
                        db.handle,
                        name.as_ptr(),
                        key.as_ptr().cast(),
                        key.len(),
                        &mut len,
                        err,
                    )
                }
            });
            expect("lsmedic_get", &outcome, Some(true), &("verify", cf, key));
            assert!(!got.is_null(), "{cf}: {key:?} lost");
            // SAFETY: `len` bytes from the library.
            let bytes = unsafe { std::slice::from_raw_parts(got.cast::<u8>(), len) }.to_vec();
            // SAFETY: a library buffer.
            unsafe { lsmedic_free(got.cast()) };
            assert_eq!(&bytes, value, "{cf}: value of {key:?}");
        }
    }
}
