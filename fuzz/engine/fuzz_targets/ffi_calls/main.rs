//! The C ABI (`lsmedic-ffi`, `include/lsmedic.h`) driven by call sequences decoded from bytes.
//!
//! Each input is a list of calls on configs, one database (in a fresh temp directory),
//! write batches, iterators and the healer, with NULL, destroyed, foreign and wrong-kind
//! handles, invalid UTF-8 names, NULL buffers with a length, NULL and pre-filled `errptr`s.
//! The `extern "C"` functions are called from Rust exactly as C would call them.
//!
//! A model predicts every outcome it can: the database's contents per column family (puts,
//! deletes, range deletes, atomic batches, column-family creation and drops, data surviving
//! close and reopen), iterator positions over the snapshot taken at creation, the batch's
//! count, the healer's running state, mode and weights. A call the model says must fail
//! must report an error (on `errptr`, or its documented failure value), a call it says must
//! succeed must not, and results must match. Beyond that:
//! - no crash, no sanitizer report, no panic caught at the boundary (a panic reported as an
//!   error is a bug too);
//! - every error message starts with the function's name;
//! - JSON the library returns (configs, stats, audit, callback entries) parses;
//! - after the input has destroyed and closed everything, `lsmedic_live_handles() == 0`.
//!
//! Configurations are only opened when built from defaults and setters this target can
//! reason about (no arbitrary paths: the audit log, checkpoints and model files of a
//! fuzzed configuration could name any file on the machine).
//!
//! Layout: `input` is the byte format (its declaration order is the corpus format),
//! `model` what the input created and what the database must hold, `outcome` the `errptr`
//! handling and message checks. The calls live in one module per handle kind: `config`,
//! `db` (open, close, column families), `data` (reads and writes on the database),
//! `batch`, `iter`, `healer`, and `misfit` (handles of the wrong kind, dead or garbage).

#![no_main]

mod admin;
mod batch;
mod config;
mod data;
mod db;
mod healer;
mod input;
mod iter;
mod misfit;
mod model;
mod outcome;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use lsmedic_ffi::{
    lsmedic_close, lsmedic_config_destroy, lsmedic_iter_destroy, lsmedic_live_handles,
    lsmedic_writebatch_destroy,
};
use lsmedic_fuzz::stats::Stats;

use crate::healer::CALLBACK_BAD;
use crate::input::{ErrMode, Input, Op, PathSel, Step, MAX_OPS};
use crate::model::Model;
use crate::outcome::{expect, with_err};

// ----- statistics ------------------------------------------------------------------------------

/// Inputs, databases opened, data calls that succeeded on an open database, iterators
/// created (printed with `LSMEDIC_FUZZ_STATS=1`, to see how deep the fuzzer gets).
static STATS: Stats<4> = Stats::new(
    "ffi_calls",
    ["inputs", "opens", "data calls ok", "iterators"],
);
/// Index in [`STATS`]: inputs run.
const INPUTS: usize = 0;
/// Index in [`STATS`]: databases opened.
const OPENS: usize = 1;
/// Index in [`STATS`]: data calls that succeeded on an open database.
const DATA_OK: usize = 2;
/// Index in [`STATS`]: iterators created.
const ITERATORS: usize = 3;

/// Counts one event of `stat` (one of the indices above).
fn count(stat: usize) {
    STATS.count(stat);
}

// ----- running one input ---------------------------------------------------------------------

/// A fresh directory for one input, in memory when `/dev/shm` exists.
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!(
        "lsmedic-fuzz-ffi-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Runs one input's calls against a fresh model, then destroys everything and checks that
/// no handle and no bad callback entry is left.
fn run(input: Input) {
    let dir = scratch_dir();
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("file"), b"not a directory").expect("scratch file");
    let mut m = Model::new(dir.clone());
    CALLBACK_BAD.store(0, Ordering::Relaxed);
    assert_eq!(
        lsmedic_live_handles(),
        0,
        "handles left by an earlier input"
    );

    if input.open_first {
        // Small memtables: RocksDB preallocates each WAL file at about the memtable size,
        // which on tmpfs costs real pages (and most of an open's time at 64 MiB).
        step(&mut m, Op::ConfigCreate, ErrMode::Fresh);
        step(
            &mut m,
            Op::ConfigSetWriteBufferSize {
                slot: 0,
                bytes: 1 << 20,
            },
            ErrMode::Fresh,
        );
        step(
            &mut m,
            Op::Open {
                path: PathSel::Db,
                config: Some(0),
            },
            ErrMode::Fresh,
        );
        step(&mut m, Op::BatchCreate, ErrMode::Fresh);
    }
    for (op, mode) in input.ops.into_iter().take(MAX_OPS) {
        let op = match op {
            Step::Common(common) => common.op(),
            Step::Any(op) => op,
        };
        step(&mut m, op, mode);
    }
    cleanup(&mut m);
    assert_eq!(
        CALLBACK_BAD.load(Ordering::Relaxed),
        0,
        "a callback entry was not a JSON object"
    );
    assert_eq!(
        lsmedic_live_handles(),
        0,
        "handles left after destroying and closing everything"
    );
    let _ = std::fs::remove_dir_all(&dir);
    count(INPUTS);
}

/// Destroys every handle and closes the database; the database must close cleanly.
fn cleanup(m: &mut Model) {
    for it in &mut m.iters {
        lsmedic_iter_destroy(it.slot.handle);
        it.slot.alive = false;
    }
    for b in &mut m.batches {
        lsmedic_writebatch_destroy(b.slot.handle);
        b.slot.alive = false;
    }
    for c in &mut m.configs {
        lsmedic_config_destroy(c.slot.handle);
        c.slot.alive = false;
    }
    if let Some(db) = m.db.take() {
        let (_, outcome) = with_err(ErrMode::Fresh, |err| {
            // SAFETY: valid errptr.
            unsafe { lsmedic_close(db.handle, err) }
        });
        expect("lsmedic_close", &outcome, Some(true), &"final close");
    }
}

/// Makes one call: hands it to the module of the handle kind it is made on.
fn step(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        op @ (Op::ConfigCreate
        | Op::ConfigFromJson(_)
        | Op::ConfigFromToml(_)
        | Op::ConfigCopy(_)
        | Op::ConfigSetSafe { .. }
        | Op::ConfigSetRaw { .. }
        | Op::ConfigSetMaxBackgroundJobs { .. }
        | Op::ConfigSetWriteBufferSize { .. }
        | Op::ConfigSetLevel0Triggers { .. }
        | Op::ConfigSetHealerMode { .. }
        | Op::ConfigSetTickInterval { .. }
        | Op::ConfigSetCreateIfMissing { .. }
        | Op::ConfigSetAuditPathNull(_)
        | Op::ConfigDestroy(_)) => config::call(m, op, mode),
        op @ (Op::Open { .. } | Op::Close | Op::CreateCf { .. } | Op::DropCf(_) | Op::ListCfs) => {
            db::call(m, op, mode)
        }
        op @ (Op::Put { .. }
        | Op::Get { .. }
        | Op::Delete { .. }
        | Op::DeleteRange { .. }
        | Op::PutNullKey { .. }
        | Op::Flush(_)
        | Op::Rebuild(_)
        | Op::Recover
        | Op::Compact { .. }) => data::call(m, op, mode),
        op @ (Op::MultiGet { .. }
        | Op::Property { .. }
        | Op::Statistics
        | Op::SetOption { .. }
        | Op::CheckpointCreate { .. }) => admin::call(m, op, mode),
        op @ (Op::BatchCreate
        | Op::BatchPut { .. }
        | Op::BatchDelete { .. }
        | Op::BatchDeleteRange { .. }
        | Op::BatchCount(_)
        | Op::BatchClear(_)
        | Op::BatchDestroy(_)
        | Op::Write { .. }) => batch::call(m, op, mode),
        op @ (Op::IterCreate { .. }
        | Op::IterSeekToFirst(_)
        | Op::IterSeek { .. }
        | Op::IterSeekNull { .. }
        | Op::IterNext(_)
        | Op::IterCheck(_)
        | Op::IterDestroy(_)) => iter::call(m, op, mode),
        op @ (Op::HealerStart
        | Op::HealerStop
        | Op::HealerIsRunning
        | Op::HealerSetMode(_)
        | Op::HealerGetMode
        | Op::HealerSetWeights(..)
        | Op::HealerGetWeights
        | Op::HealerStats
        | Op::HealerAudit(_)
        | Op::HealerAdaptNow
        | Op::HealerSetCallback(_)) => healer::call(m, op, mode),
        Op::Misfit { handle, call } => misfit::call(m, handle, call, mode),
    }
}

fuzz_target!(|input: Input| run(input));
