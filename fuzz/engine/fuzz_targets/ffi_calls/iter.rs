//! Calls on `lsmedic_iterator_t`: create, seek, next, key/value, error, destroy.
//!
//! An iterator sees the column family as it was when created (within its bounds), forward
//! or in reverse; the model keeps that snapshot and the expected position, and after every
//! move checks validity, key, value and error. A destroyed iterator is never valid and
//! always reports an error.

use std::ptr;

use lsmedic_ffi::*;

use crate::input::{CfArg, CfSel, ErrMode, KeySel, Op};
use crate::model::{buf, cf_ptr, pick, Model, Slot};
use crate::outcome::{expect, with_err};
use crate::{count, ITERATORS};

/// What the model knows of an iterator.
pub(crate) struct IterSlot {
    /// The handle.
    pub(crate) slot: Slot<lsmedic_iterator_t>,
    /// The column family's contents within the bounds when the iterator was created.
    snapshot: Vec<(Vec<u8>, Vec<u8>)>,
    reverse: bool,
    /// Index into `snapshot` of the current entry.
    position: Option<usize>,
}

/// A move of an iterator.
#[derive(Clone, Copy)]
enum Move<'a> {
    SeekToFirst,
    Seek(&'a [u8]),
    Next,
}

/// Makes an iterator call.
pub(crate) fn call(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        Op::IterCreate {
            cf,
            lower,
            upper,
            reverse,
        } => create(m, cf, (lower, upper), reverse, mode),
        Op::IterSeekToFirst(slot) => m.iter_move(slot, Move::SeekToFirst),
        Op::IterSeek { slot, key } => {
            let key = key.bytes();
            m.iter_move(slot, Move::Seek(&key));
        }
        Op::IterSeekNull { slot, len } => seek_null(m, slot, len),
        Op::IterNext(slot) => m.iter_move(slot, Move::Next),
        Op::IterCheck(slot) => m.iter_check(slot),
        Op::IterDestroy(slot) => {
            let Some(it) = pick(&mut m.iters, slot) else {
                return;
            };
            lsmedic_iter_destroy(it.slot.handle);
            it.slot.alive = false;
            it.position = None;
            if m.zombie && !m.iters.iter().any(|it| it.slot.alive) {
                m.zombie = false;
            }
        }
        other => unreachable!("not an iterator call: {other:?}"),
    }
}

/// `lsmedic_create_iterator` with optional bounds (reversed bounds may be refused); the
/// model takes its snapshot of the column family.
fn create(
    m: &mut Model,
    cf: CfSel,
    bounds: (Option<KeySel>, Option<KeySel>),
    reverse: bool,
    mode: ErrMode,
) {
    let (c, arg) = cf.arg();
    let (lower, upper) = (bounds.0.map(|k| k.bytes()), bounds.1.map(|k| k.bytes()));
    let (lp, ll) = lower.as_deref().map_or((ptr::null(), 0), buf);
    let (up, ul) = upper.as_deref().map_or((ptr::null(), 0), buf);
    let (handle, outcome) = with_err(mode, |err| {
        // SAFETY: valid buffers or NULL, valid errptr.
        unsafe {
            lsmedic_create_iterator(
                m.db_ptr(),
                cf_ptr(&c),
                lp,
                ll,
                up,
                ul,
                u8::from(reverse),
                err,
            )
        }
    });
    let ok = m.db_open() && m.cf_exists(&arg);
    let reversed = matches!((&lower, &upper), (Some(l), Some(u)) if l > u);
    expect(
        "lsmedic_create_iterator",
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
    if handle.is_null() {
        assert!(
            !outcome.observed || outcome.error.is_some(),
            "NULL iterator without an error"
        );
        return;
    }
    assert!(
        ok,
        "an iterator over a missing column family or a closed database"
    );
    let CfArg::Name(n) = &arg else { unreachable!() };
    let snapshot: Vec<(Vec<u8>, Vec<u8>)> = m.tables[n]
        .iter()
        .filter(|(k, _)| lower.as_ref().is_none_or(|l| k.as_slice() >= l.as_slice()))
        .filter(|(k, _)| upper.as_ref().is_none_or(|u| k.as_slice() < u.as_slice()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    m.iters.push(IterSlot {
        slot: Slot::new(handle),
        snapshot,
        reverse,
        position: None,
    });
    count(ITERATORS);
    m.iter_check((m.iters.len() - 1) as u8);
}

/// `lsmedic_iter_seek` with a NULL key and a length: documented to leave the iterator
/// invalid with an error, without reading; the next seek clears the error.
fn seek_null(m: &mut Model, slot: u8, len: u8) {
    let Some(it) = pick(&mut m.iters, slot) else {
        return;
    };
    // SAFETY: deliberately NULL with a length: documented to leave the iterator
    // invalid with an error, without reading.
    unsafe { lsmedic_iter_seek(it.slot.handle, ptr::null(), usize::from(len).max(1)) };
    assert_eq!(
        lsmedic_iter_valid(it.slot.handle),
        0,
        "valid after a NULL seek"
    );
    let (_, outcome) = with_err(ErrMode::Fresh, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_iter_get_error(it.slot.handle, err) }
    });
    expect(
        "lsmedic_iter_get_error",
        &outcome,
        Some(false),
        &"after a NULL seek",
    );
    if it.slot.alive {
        // The iterator stays usable: the next seek clears the error.
        it.position = None;
        lsmedic_iter_seek_to_first(it.slot.handle);
        let n = it.snapshot.len();
        it.position = (n > 0).then(|| if it.reverse { n - 1 } else { 0 });
        m.iter_check(slot);
    }
}

impl Model {
    /// Moves the iterator `index` selects, in the library and in the model, then checks it.
    fn iter_move(&mut self, index: u8, step: Move<'_>) {
        let Some(it) = pick(&mut self.iters, index) else {
            return;
        };
        let handle = it.slot.handle;
        match step {
            Move::SeekToFirst => lsmedic_iter_seek_to_first(handle),
            // SAFETY: the key buffer is valid for its length.
            Move::Seek(key) => unsafe { lsmedic_iter_seek(handle, key.as_ptr().cast(), key.len()) },
            Move::Next => lsmedic_iter_next(handle),
        }
        if !it.slot.alive {
            return;
        }
        let n = it.snapshot.len();
        it.position = match step {
            Move::SeekToFirst => (n > 0).then(|| if it.reverse { n - 1 } else { 0 }),
            Move::Seek(target) => {
                if it.reverse {
                    it.snapshot
                        .iter()
                        .rposition(|(k, _)| k.as_slice() <= target)
                } else {
                    it.snapshot.iter().position(|(k, _)| k.as_slice() >= target)
                }
            }
            Move::Next => match it.position {
                Some(p) if it.reverse => p.checked_sub(1),
                Some(p) => (p + 1 < n).then_some(p + 1),
                None => None,
            },
        };
        self.iter_check(index);
    }

    /// Checks the iterator `index` selects: valid exactly at the model's entry, with its key
    /// and value; no error while alive.
    pub(crate) fn iter_check(&mut self, index: u8) {
        let Some(it) = pick(&mut self.iters, index) else {
            return;
        };
        let valid = lsmedic_iter_valid(it.slot.handle);
        let (mut key_len, mut value_len) = (usize::MAX, usize::MAX);
        // SAFETY: out-pointers are writable.
        let key = unsafe { lsmedic_iter_key(it.slot.handle, &mut key_len) };
        // SAFETY: as above.
        let value = unsafe { lsmedic_iter_value(it.slot.handle, &mut value_len) };
        let expected = if it.slot.alive {
            it.position.map(|p| &it.snapshot[p])
        } else {
            None
        };
        match expected {
            None => {
                assert_eq!(
                    valid, 0,
                    "iterator valid where the model has no entry (alive: {})",
                    it.slot.alive
                );
                assert!(key.is_null() && key_len == 0, "key of an invalid iterator");
                assert!(
                    value.is_null() && value_len == 0,
                    "value of an invalid iterator"
                );
            }
            Some((k, v)) => {
                assert_eq!(valid, 1, "iterator invalid, model at {k:?}");
                assert!(!key.is_null() && !value.is_null());
                // SAFETY: the library lends `key_len`/`value_len` bytes until the next move.
                let (got_k, got_v) = unsafe {
                    (
                        std::slice::from_raw_parts(key.cast::<u8>(), key_len),
                        std::slice::from_raw_parts(value.cast::<u8>(), value_len),
                    )
                };
                assert_eq!(
                    (got_k, got_v),
                    (k.as_slice(), v.as_slice()),
                    "iterator entry"
                );
            }
        }
        let (_, outcome) = with_err(ErrMode::Fresh, |err| {
            // SAFETY: valid errptr.
            unsafe { lsmedic_iter_get_error(it.slot.handle, err) }
        });
        // A live iterator over a healthy database has no error; a dead handle always has one.
        expect(
            "lsmedic_iter_get_error",
            &outcome,
            Some(it.slot.alive),
            &"iter_get_error",
        );
    }
}
