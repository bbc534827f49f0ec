//! Misfit handles: NULL, garbage, destroyed or of another kind, passed to a function.
//!
//! Every such call must be refused (an error, or the documented failure value for the
//! functions without an `errptr`) and must touch nothing real: afterwards every batch holds
//! what it held, every live config still serialises, every iterator is where the model
//! says, and the column families are the model's.

use std::ffi::CString;
use std::ptr;

use lsmedic_ffi::*;

use crate::config::check_config_json;
use crate::db::list_cfs;
use crate::input::{ErrMode, Misfit, MisfitCall};
use crate::model::Model;
use crate::outcome::{expect, with_err, Outcome};

/// The kind of handle a function expects.
#[derive(Clone, Copy)]
enum Kind {
    Db,
    Batch,
    Iter,
    Config,
}

/// The kind of handle `call`'s function expects.
fn kind(call: MisfitCall) -> Kind {
    match call {
        MisfitCall::Put
        | MisfitCall::Get
        | MisfitCall::Close
        | MisfitCall::ListCfs
        | MisfitCall::CreateIterator
        | MisfitCall::Write
        | MisfitCall::HealerGetMode
        | MisfitCall::HealerStats
        | MisfitCall::HealerSetCallback => Kind::Db,
        MisfitCall::BatchPut | MisfitCall::BatchCount | MisfitCall::BatchDestroy => Kind::Batch,
        MisfitCall::IterValid
        | MisfitCall::IterSeek
        | MisfitCall::IterKey
        | MisfitCall::IterDestroy => Kind::Iter,
        MisfitCall::ConfigToJson
        | MisfitCall::ConfigSet
        | MisfitCall::ConfigDestroy
        | MisfitCall::Open => Kind::Config,
    }
}

/// The function that refused a misfit and what it reported on `errptr`; None for the
/// functions without one (their failure value is checked where they are called).
type Refusal = Option<(&'static str, Outcome)>;

/// The key the data calls pass.
const KEY: &[u8] = b"k";

/// Passes a misfit `handle` to `call`'s function: it must be refused and change nothing.
pub(crate) fn call(m: &mut Model, handle: Misfit, call: MisfitCall, mode: ErrMode) {
    let Some(raw) = choose(m, handle, kind(call)) else {
        return;
    };
    if matches!(call, MisfitCall::Open) && raw == 0 {
        return; // NULL config means defaults: not a misfit.
    }
    let counts_before = batch_counts(m);
    let refusal = match kind(call) {
        Kind::Db => db_call(m, raw, call, mode),
        Kind::Batch => batch_call(raw, call, mode),
        Kind::Iter => iter_call(raw, call, mode),
        Kind::Config => config_call(m, raw, call, mode),
    };
    if let Some((function, outcome)) = refusal {
        expect(function, &outcome, Some(false), &(handle, call, raw));
    }
    // Nothing real was touched: every batch kept its operations.
    assert_eq!(
        counts_before,
        batch_counts(m),
        "a misfit call changed a batch"
    );
    for c in &m.configs {
        if c.slot.alive {
            check_config_json(c.slot.handle);
        }
    }
    for i in 0..m.iters.len() {
        m.iter_check(i as u8);
    }
    if m.db.is_some() {
        list_cfs(m, ErrMode::Fresh, true);
    }
}

/// The raw handle value a misfit stands for; None when the input has no such handle.
fn choose(m: &Model, handle: Misfit, kind: Kind) -> Option<usize> {
    match handle {
        Misfit::Null => Some(0),
        Misfit::Odd(v) => Some((v as usize) | 1),
        Misfit::Huge(v) => Some((1usize << 60) | ((v as usize) << 3)),
        Misfit::OtherKind(i) => {
            let of_kind = handles_of_kind(m, kind);
            let candidates: Vec<usize> = other_handles(m)
                .into_iter()
                .filter(|h| !of_kind.contains(h))
                .collect();
            (!candidates.is_empty()).then(|| candidates[usize::from(i) % candidates.len()])
        }
        Misfit::Dead => dead_of_kind(m, kind).first().copied(),
    }
}

/// Every handle the input holds but closed databases: candidates of another kind.
fn other_handles(m: &Model) -> Vec<usize> {
    m.configs
        .iter()
        .map(|c| c.slot.handle as usize)
        .chain(m.batches.iter().map(|b| b.slot.handle as usize))
        .chain(m.iters.iter().map(|i| i.slot.handle as usize))
        .chain(m.db.iter().map(|d| d.handle as usize))
        .collect()
}

/// Every handle of `kind` the input was given, alive or not.
fn handles_of_kind(m: &Model, kind: Kind) -> Vec<usize> {
    match kind {
        Kind::Db => {
            m.db.iter()
                .map(|d| d.handle as usize)
                .chain(m.dead_dbs.iter().map(|d| *d as usize))
                .collect()
        }
        Kind::Batch => m.batches.iter().map(|b| b.slot.handle as usize).collect(),
        Kind::Iter => m.iters.iter().map(|i| i.slot.handle as usize).collect(),
        Kind::Config => m.configs.iter().map(|c| c.slot.handle as usize).collect(),
    }
}

/// The destroyed (or closed) handles of `kind`.
fn dead_of_kind(m: &Model, kind: Kind) -> Vec<usize> {
    match kind {
        Kind::Db => m.dead_dbs.iter().map(|d| *d as usize).collect(),
        Kind::Batch => m
            .batches
            .iter()
            .filter(|b| !b.slot.alive)
            .map(|b| b.slot.handle as usize)
            .collect(),
        Kind::Iter => m
            .iters
            .iter()
            .filter(|i| !i.slot.alive)
            .map(|i| i.slot.handle as usize)
            .collect(),
        Kind::Config => m
            .configs
            .iter()
            .filter(|c| !c.slot.alive)
            .map(|c| c.slot.handle as usize)
            .collect(),
    }
}

/// Every batch's count, to show a misfit call changed none.
fn batch_counts(m: &Model) -> Vec<usize> {
    m.batches
        .iter()
        .map(|b| lsmedic_writebatch_count(b.slot.handle))
        .collect()
}

/// A database or healer function given `raw` as its database.
fn db_call(m: &Model, raw: usize, call: MisfitCall, mode: ErrMode) -> Refusal {
    let db = raw as *mut lsmedic_t;
    let key = KEY.as_ptr().cast();
    let (function, outcome) = match call {
        MisfitCall::Put => {
            let (_, o) = with_err(mode, |err| {
                // SAFETY: valid buffers, valid errptr; the handle is what is tested.
                unsafe { lsmedic_put(db, ptr::null(), key, 1, key, 1, err) }
            });
            ("lsmedic_put", o)
        }
        MisfitCall::Get => {
            let mut len = 0;
            let (got, o) = with_err(mode, |err| {
                // SAFETY: as above.
                unsafe { lsmedic_get(db, ptr::null(), key, 1, &mut len, err) }
            });
            assert!(got.is_null() && len == 0);
            ("lsmedic_get", o)
        }
        MisfitCall::Close => {
            // SAFETY: valid errptr.
            let (_, o) = with_err(mode, |err| unsafe { lsmedic_close(db, err) });
            ("lsmedic_close", o)
        }
        MisfitCall::ListCfs => {
            let mut count = 7usize;
            let (list, o) = with_err(mode, |err| {
                // SAFETY: writable count, valid errptr.
                unsafe { lsmedic_list_column_families(db, &mut count, err) }
            });
            assert!(list.is_null());
            ("lsmedic_list_column_families", o)
        }
        MisfitCall::CreateIterator => {
            let (it, o) = with_err(mode, |err| {
                // SAFETY: valid errptr.
                unsafe {
                    lsmedic_create_iterator(db, ptr::null(), ptr::null(), 0, ptr::null(), 0, 0, err)
                }
            });
            assert!(it.is_null());
            ("lsmedic_create_iterator", o)
        }
        MisfitCall::Write => {
            // A misfit database with a real (or no) batch.
            let batch = m.batches.first().map_or(ptr::null_mut(), |b| b.slot.handle);
            // SAFETY: valid errptr.
            let (_, o) = with_err(mode, |err| unsafe { lsmedic_write(db, batch, 0, err) });
            ("lsmedic_write", o)
        }
        MisfitCall::HealerGetMode => {
            // SAFETY: valid errptr.
            let (got, o) = with_err(mode, |err| unsafe { lsmedic_healer_get_mode(db, err) });
            assert_eq!(got, -1);
            ("lsmedic_healer_get_mode", o)
        }
        MisfitCall::HealerStats => {
            // SAFETY: valid errptr.
            let (json, o) = with_err(mode, |err| unsafe { lsmedic_healer_stats(db, err) });
            assert!(json.is_null());
            ("lsmedic_healer_stats", o)
        }
        MisfitCall::HealerSetCallback => {
            let (_, o) = with_err(mode, |err| {
                // SAFETY: NULL callback, valid errptr.
                unsafe { lsmedic_healer_set_callback(db, None, ptr::null_mut(), err) }
            });
            ("lsmedic_healer_set_callback", o)
        }
        other => unreachable!("not a database function: {other:?}"),
    };
    Some((function, outcome))
}

/// A batch function given `raw` as its batch.
fn batch_call(raw: usize, call: MisfitCall, mode: ErrMode) -> Refusal {
    let batch = raw as *mut lsmedic_writebatch_t;
    let key = KEY.as_ptr().cast();
    match call {
        MisfitCall::BatchPut => {
            let (_, o) = with_err(mode, |err| {
                // SAFETY: valid buffers, valid errptr.
                unsafe { lsmedic_writebatch_put(batch, ptr::null(), key, 1, key, 1, err) }
            });
            Some(("lsmedic_writebatch_put", o))
        }
        MisfitCall::BatchCount => {
            assert_eq!(lsmedic_writebatch_count(batch), 0);
            None
        }
        MisfitCall::BatchDestroy => {
            lsmedic_writebatch_destroy(batch);
            None
        }
        other => unreachable!("not a batch function: {other:?}"),
    }
}

/// An iterator function given `raw` as its iterator.
fn iter_call(raw: usize, call: MisfitCall, mode: ErrMode) -> Refusal {
    let it = raw as *mut lsmedic_iterator_t;
    match call {
        MisfitCall::IterValid => {
            assert_eq!(lsmedic_iter_valid(it), 0);
            None
        }
        MisfitCall::IterSeek => {
            // SAFETY: valid buffer.
            unsafe { lsmedic_iter_seek(it, KEY.as_ptr().cast(), 1) };
            // SAFETY: valid errptr.
            let (_, o) = with_err(mode, |err| unsafe { lsmedic_iter_get_error(it, err) });
            Some(("lsmedic_iter_get_error", o))
        }
        MisfitCall::IterKey => {
            let mut len = 9usize;
            // SAFETY: writable length.
            let k = unsafe { lsmedic_iter_key(it, &mut len) };
            assert!(k.is_null() && len == 0);
            None
        }
        MisfitCall::IterDestroy => {
            lsmedic_iter_destroy(it);
            None
        }
        other => unreachable!("not an iterator function: {other:?}"),
    }
}

/// A config function (or `lsmedic_open`) given `raw` as its config.
fn config_call(m: &Model, raw: usize, call: MisfitCall, mode: ErrMode) -> Refusal {
    let config = raw as *mut lsmedic_config_t;
    match call {
        MisfitCall::ConfigToJson => {
            // SAFETY: valid errptr.
            let (json, o) = with_err(mode, |err| unsafe { lsmedic_config_to_json(config, err) });
            assert!(json.is_null());
            Some(("lsmedic_config_to_json", o))
        }
        MisfitCall::ConfigSet => {
            let name = CString::new("healer.mode").expect("no NUL");
            let value = CString::new("off").expect("no NUL");
            let (_, o) = with_err(mode, |err| {
                // SAFETY: NUL-terminated strings, valid errptr.
                unsafe { lsmedic_config_set(config, name.as_ptr(), value.as_ptr(), err) }
            });
            Some(("lsmedic_config_set", o))
        }
        MisfitCall::ConfigDestroy => {
            lsmedic_config_destroy(config);
            None
        }
        MisfitCall::Open => {
            let path =
                CString::new(m.dir.join("misfit").to_string_lossy().as_bytes()).expect("no NUL");
            let (db, o) = with_err(mode, |err| {
                // SAFETY: NUL-terminated path, valid errptr.
                unsafe { lsmedic_open(path.as_ptr(), config, err) }
            });
            assert!(db.is_null(), "opened with a misfit config");
            Some(("lsmedic_open", o))
        }
        other => unreachable!("not a config function: {other:?}"),
    }
}
