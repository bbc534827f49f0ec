//! Calls on `lsmedic_writebatch_t`, and `lsmedic_write` of a batch.
//!
//! A batch collects operations without a database; its column families are resolved when
//! it is written, all or nothing. The model keeps the operations a live batch accepted, so
//! `lsmedic_writebatch_count` and the effect of a write can be predicted.

use lsmedic_ffi::*;

use crate::input::{CfArg, CfSel, ErrMode, KeySel, Op};
use crate::model::{buf, cf_ptr, pick, remove_range, Model, Slot};
use crate::outcome::{expect, with_err, Outcome};

/// An operation a batch holds.
#[derive(Clone, Debug)]
pub(crate) enum BatchOp {
    /// Column family, key, value.
    Put(String, Vec<u8>, Vec<u8>),
    /// Column family, key.
    Delete(String, Vec<u8>),
    /// Column family, start, end.
    DeleteRange(String, Vec<u8>, Vec<u8>),
}

impl BatchOp {
    /// The column family it applies to.
    fn cf(&self) -> &str {
        match self {
            BatchOp::Put(cf, ..) | BatchOp::Delete(cf, _) | BatchOp::DeleteRange(cf, ..) => cf,
        }
    }
}

/// What the model knows of a batch.
pub(crate) struct BatchSlot {
    /// The handle.
    pub(crate) slot: Slot<lsmedic_writebatch_t>,
    /// The operations it holds, in order.
    pub(crate) ops: Vec<BatchOp>,
}

/// Makes a batch call.
pub(crate) fn call(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        Op::BatchCreate => {
            let handle = lsmedic_writebatch_create();
            assert!(!handle.is_null());
            assert_eq!(lsmedic_writebatch_count(handle), 0);
            m.batches.push(BatchSlot {
                slot: Slot::new(handle),
                ops: Vec::new(),
            });
        }
        Op::BatchPut {
            slot,
            cf,
            key,
            value,
        } => on_slot(m, slot, |b| put(b, cf, key, value, mode)),
        Op::BatchDelete { slot, cf, key } => on_slot(m, slot, |b| delete(b, cf, key, mode)),
        Op::BatchDeleteRange {
            slot,
            cf,
            start,
            end,
        } => on_slot(m, slot, |b| delete_range(b, cf, (start, end), mode)),
        Op::BatchCount(slot) => on_slot(m, slot, |b| {
            let expected = if b.slot.alive { b.ops.len() } else { 0 };
            assert_eq!(
                lsmedic_writebatch_count(b.slot.handle),
                expected,
                "batch count"
            );
        }),
        Op::BatchClear(slot) => on_slot(m, slot, |b| {
            lsmedic_writebatch_clear(b.slot.handle);
            b.ops.clear();
            assert_eq!(lsmedic_writebatch_count(b.slot.handle), 0);
        }),
        Op::BatchDestroy(slot) => on_slot(m, slot, |b| {
            lsmedic_writebatch_destroy(b.slot.handle);
            b.slot.alive = false;
            b.ops.clear();
            assert_eq!(lsmedic_writebatch_count(b.slot.handle), 0);
        }),
        Op::Write { slot, sync } => write(m, slot, sync, mode),
        other => unreachable!("not a batch call: {other:?}"),
    }
}

/// Runs `f` on the batch `slot` selects; nothing when the input has none.
fn on_slot(m: &mut Model, slot: u8, f: impl FnOnce(&mut BatchSlot)) {
    if let Some(b) = pick(&mut m.batches, slot) {
        f(b);
    }
}

/// `lsmedic_writebatch_put` (values cut to 64 bytes).
fn put(b: &mut BatchSlot, cf: CfSel, key: KeySel, value: Vec<u8>, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let key = key.bytes();
    let value: Vec<u8> = value.into_iter().take(64).collect();
    let ((kp, kl), (vp, vl)) = (buf(&key), buf(&value));
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffers, valid errptr.
        unsafe { lsmedic_writebatch_put(b.slot.handle, cf_ptr(&c), kp, kl, vp, vl, err) }
    });
    added(b, "lsmedic_writebatch_put", &outcome, arg, |cf| {
        BatchOp::Put(cf, key, value)
    });
}

/// `lsmedic_writebatch_delete`.
fn delete(b: &mut BatchSlot, cf: CfSel, key: KeySel, mode: ErrMode) {
    let (c, arg) = cf.arg();
    let key = key.bytes();
    let (kp, kl) = buf(&key);
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffer, valid errptr.
        unsafe { lsmedic_writebatch_delete(b.slot.handle, cf_ptr(&c), kp, kl, err) }
    });
    added(b, "lsmedic_writebatch_delete", &outcome, arg, |cf| {
        BatchOp::Delete(cf, key)
    });
}

/// `lsmedic_writebatch_delete_range` of `[start, end)`.
fn delete_range(b: &mut BatchSlot, cf: CfSel, range: (KeySel, KeySel), mode: ErrMode) {
    let (c, arg) = cf.arg();
    let (start, end) = (range.0.bytes(), range.1.bytes());
    let ((sp, sl), (ep, el)) = (buf(&start), buf(&end));
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffers, valid errptr.
        unsafe { lsmedic_writebatch_delete_range(b.slot.handle, cf_ptr(&c), sp, sl, ep, el, err) }
    });
    // A start after the end is refused and not added (documented).
    let arg = if start > end { CfArg::Invalid } else { arg };
    added(b, "lsmedic_writebatch_delete_range", &outcome, arg, |cf| {
        BatchOp::DeleteRange(cf, start, end)
    });
}

/// Adds a batch operation to the model when the library accepted it.
fn added(
    b: &mut BatchSlot,
    function: &str,
    outcome: &Outcome,
    arg: CfArg,
    op: impl FnOnce(String) -> BatchOp,
) {
    let expected = match (&arg, b.slot.alive) {
        (_, false) | (CfArg::Invalid, _) => Some(false),
        // Column families are resolved when the batch is written.
        (CfArg::Name(_), true) => Some(true),
    };
    expect(function, outcome, expected, &arg);
    if let (CfArg::Name(n), true) = (arg, b.slot.alive) {
        b.ops.push(op(n));
    }
    assert_eq!(
        lsmedic_writebatch_count(b.slot.handle),
        if b.slot.alive { b.ops.len() } else { 0 }
    );
}

/// `lsmedic_write`: all or nothing, every column family must exist when it is written.
fn write(m: &mut Model, slot: u8, sync: bool, mode: ErrMode) {
    let db = m.db_ptr();
    let open = m.db_open();
    let Some(b) = pick(&mut m.batches, slot) else {
        return;
    };
    let (handle, alive, ops) = (b.slot.handle, b.slot.alive, b.ops.clone());
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_write(db, handle, u8::from(sync), err) }
    });
    let cfs_ok = ops.iter().all(|op| m.tables.contains_key(op.cf()));
    let ok = open && alive && cfs_ok;
    expect("lsmedic_write", &outcome, Some(ok), &ops);
    if ok {
        for op in ops {
            let table = m.tables.get_mut(op.cf()).expect("checked");
            match op {
                BatchOp::Put(_, k, v) => {
                    table.insert(k, v);
                }
                BatchOp::Delete(_, k) => {
                    table.remove(&k);
                }
                BatchOp::DeleteRange(_, s, e) => remove_range(table, &s, &e),
            }
        }
    }
}
