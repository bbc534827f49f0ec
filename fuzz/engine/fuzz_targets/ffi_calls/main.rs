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

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, c_void, CStr, CString};
use std::ops::Bound;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lsmedic_ffi::*;
use lsmedic_fuzz::stats::Stats;

// ----- decoded input -------------------------------------------------------------------------

/// A key: mostly from a tiny alphabet so that calls hit the same keys.
#[derive(Arbitrary, Debug, Clone)]
enum KeySel {
    Small(u8),
    Raw(Vec<u8>),
}

impl KeySel {
    fn bytes(&self) -> Vec<u8> {
        match self {
            KeySel::Small(k) => vec![b'k', b'a' + (k % 12)],
            KeySel::Raw(raw) => raw.iter().take(12).copied().collect(),
        }
    }
}

/// A column-family argument.
#[derive(Arbitrary, Debug, Clone)]
enum CfSel {
    /// NULL: the default column family.
    Null,
    Default,
    /// `cf0` … `cf3`.
    Named(u8),
    /// A name the library reserves.
    Reserved,
    Empty,
    InvalidUtf8,
    TooLong,
    Raw(String),
}

/// What a column-family argument is, as the model sees it.
#[derive(Debug, Clone)]
enum CfArg {
    /// A valid name (NULL counts as `default`).
    Name(String),
    /// Not UTF-8: every call must fail.
    Invalid,
}

impl CfSel {
    /// The C string to pass (None = NULL) and what it means.
    fn arg(&self) -> (Option<CString>, CfArg) {
        let text = |s: String| {
            let s: String = s.chars().filter(|&c| c != '\0').collect();
            (
                Some(CString::new(s.clone()).expect("NULs removed")),
                CfArg::Name(s),
            )
        };
        match self {
            CfSel::Null => (None, CfArg::Name("default".to_owned())),
            CfSel::Default => text("default".to_owned()),
            CfSel::Named(i) => text(format!("cf{}", i % 4)),
            CfSel::Reserved => text("x__lsmedic_gen1".to_owned()),
            CfSel::Empty => text(String::new()),
            CfSel::InvalidUtf8 => (
                Some(CString::new(vec![b'c', 0xff, 0xfe]).expect("no NUL")),
                CfArg::Invalid,
            ),
            CfSel::TooLong => text("l".repeat(201)),
            CfSel::Raw(s) => text(s.chars().take(40).collect()),
        }
    }
}

/// Options of a column family being created.
#[derive(Arbitrary, Debug, Clone)]
enum CfOptionsSel {
    Null,
    Empty,
    SmallMemtable,
    /// Out of range: must be refused.
    Bad,
    NotJson,
    Raw(String),
}

impl CfOptionsSel {
    /// Text to pass and whether it must be accepted (`Some(true)`), refused (`Some(false)`)
    /// or either (`None`).
    fn arg(&self) -> (Option<CString>, Option<bool>) {
        let c = |s: &str| Some(CString::new(s.replace('\0', "")).expect("NULs removed"));
        match self {
            CfOptionsSel::Null => (None, Some(true)),
            CfOptionsSel::Empty => (c("{}"), Some(true)),
            CfOptionsSel::SmallMemtable => (c(r#"{"write_buffer_size": 1048576}"#), Some(true)),
            CfOptionsSel::Bad => (c(r#"{"write_buffer_size": 10}"#), Some(false)),
            CfOptionsSel::NotJson => (c("{write_buffer_size"), Some(false)),
            CfOptionsSel::Raw(s) => (c(s), None),
        }
    }
}

/// A named option `lsmedic_config_set` may change on a config this target still opens.
#[derive(Arbitrary, Debug, Clone)]
enum SafeOption {
    Mode(u8),
    Statistics(bool),
    Compression(u8),
    MaxWriteBufferNumber(u8),
    DisableAutoCompactions(bool),
    ColumnFamilies(Vec<u8>),
    Weights(u8, u8, u8),
    BudgetPerMinute(u16),
    MaxBackgroundJobs(u8),
}

impl SafeOption {
    fn name_value(&self) -> (&'static str, String) {
        match self {
            SafeOption::Mode(m) => (
                "healer.mode",
                ["off", "advisory", "active", "\"bogus\""][usize::from(*m % 4)].to_owned(),
            ),
            SafeOption::Statistics(on) => ("engine.statistics", on.to_string()),
            SafeOption::Compression(c) => (
                "engine.cf_options.compression",
                [
                    "\"none\"",
                    "\"snappy\"",
                    "\"lz4\"",
                    "\"zstd\"",
                    "\"brotli\"",
                ][usize::from(*c % 5)]
                .to_owned(),
            ),
            SafeOption::MaxWriteBufferNumber(n) => (
                "engine.cf_options.max_write_buffer_number",
                (n % 8).to_string(),
            ),
            SafeOption::DisableAutoCompactions(on) => {
                ("engine.cf_options.disable_auto_compactions", on.to_string())
            }
            SafeOption::ColumnFamilies(names) => {
                let list: Vec<String> = names
                    .iter()
                    .take(3)
                    .map(|i| format!("{{\"name\": \"cf{}\"}}", i % 4))
                    .collect();
                ("engine.column_families", format!("[{}]", list.join(", ")))
            }
            SafeOption::Weights(a, b, c) => (
                "healer.weights",
                format!("{{\"latency\": {a}, \"throughput\": {b}, \"resources\": {c}}}"),
            ),
            SafeOption::BudgetPerMinute(n) => ("healer.guard.budget_per_minute", n.to_string()),
            SafeOption::MaxBackgroundJobs(n) => {
                ("engine.max_background_jobs", (n % 10).to_string())
            }
        }
    }
}

/// A double for the weights.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum WeightSel {
    Small(u8),
    Raw(f64),
    Huge,
    Nan,
    Inf,
    Negative,
}

impl WeightSel {
    fn value(self) -> f64 {
        match self {
            WeightSel::Small(v) => f64::from(v % 5),
            WeightSel::Raw(v) => v,
            WeightSel::Huge => f64::MAX,
            WeightSel::Nan => f64::NAN,
            WeightSel::Inf => f64::INFINITY,
            WeightSel::Negative => -1.0,
        }
    }
}

/// Where the database is opened.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum PathSel {
    Db,
    Null,
    Empty,
    InvalidUtf8,
    /// A regular file, not a directory.
    File,
}

/// A handle that is not what the function expects.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Misfit {
    Null,
    /// An odd number: never a handle (handles are multiples of 8).
    Odd(u32),
    /// Far beyond any handle number ever issued.
    Huge(u32),
    /// A live or dead handle of another kind (slot index).
    OtherKind(u8),
    /// A destroyed handle of the right kind.
    Dead,
}

/// The function a misfit handle is passed to.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum MisfitCall {
    Put,
    Get,
    Close,
    ListCfs,
    CreateIterator,
    Write,
    BatchPut,
    BatchCount,
    BatchDestroy,
    IterValid,
    IterSeek,
    IterKey,
    IterDestroy,
    ConfigToJson,
    ConfigSet,
    ConfigDestroy,
    Open,
    HealerGetMode,
    HealerStats,
    HealerSetCallback,
}

/// How `errptr` is passed.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum ErrMode {
    Fresh,
    /// NULL: errors are discarded.
    Discard,
    /// Holding an earlier message, which the library must free before writing a new one.
    Prefilled,
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    ConfigCreate,
    ConfigFromJson(String),
    ConfigFromToml(String),
    /// `lsmedic_config_to_json` of a slot, parsed back into a new config.
    ConfigCopy(u8),
    ConfigSetSafe {
        slot: u8,
        option: SafeOption,
    },
    ConfigSetRaw {
        slot: u8,
        name: String,
        value: String,
    },
    ConfigSetMaxBackgroundJobs {
        slot: u8,
        jobs: i16,
    },
    ConfigSetWriteBufferSize {
        slot: u8,
        bytes: u32,
    },
    ConfigSetLevel0Triggers {
        slot: u8,
        compaction: i16,
        slowdown: i16,
        stop: i16,
    },
    ConfigSetHealerMode {
        slot: u8,
        mode: i8,
    },
    ConfigSetTickInterval {
        slot: u8,
        ms: u32,
    },
    ConfigSetCreateIfMissing {
        slot: u8,
        on: bool,
    },
    ConfigSetAuditPathNull(u8),
    ConfigDestroy(u8),
    Open {
        path: PathSel,
        config: Option<u8>,
    },
    Close,
    CreateCf {
        name: CfSel,
        options: CfOptionsSel,
    },
    DropCf(CfSel),
    ListCfs,
    Put {
        cf: CfSel,
        key: KeySel,
        value: Vec<u8>,
    },
    Get {
        cf: CfSel,
        key: KeySel,
    },
    Delete {
        cf: CfSel,
        key: KeySel,
    },
    DeleteRange {
        cf: CfSel,
        start: KeySel,
        end: KeySel,
    },
    /// NULL key pointer with a non-zero length: must be refused, never read.
    PutNullKey {
        len: u8,
    },
    Flush(CfSel),
    Compact {
        cf: CfSel,
        start: Option<KeySel>,
        end: Option<KeySel>,
    },
    BatchCreate,
    BatchPut {
        slot: u8,
        cf: CfSel,
        key: KeySel,
        value: Vec<u8>,
    },
    BatchDelete {
        slot: u8,
        cf: CfSel,
        key: KeySel,
    },
    BatchDeleteRange {
        slot: u8,
        cf: CfSel,
        start: KeySel,
        end: KeySel,
    },
    BatchCount(u8),
    BatchClear(u8),
    BatchDestroy(u8),
    Write {
        slot: u8,
        sync: bool,
    },
    IterCreate {
        cf: CfSel,
        lower: Option<KeySel>,
        upper: Option<KeySel>,
        reverse: bool,
    },
    IterSeekToFirst(u8),
    IterSeek {
        slot: u8,
        key: KeySel,
    },
    IterSeekNull {
        slot: u8,
        len: u8,
    },
    IterNext(u8),
    IterCheck(u8),
    IterDestroy(u8),
    HealerStart,
    HealerStop,
    HealerIsRunning,
    HealerSetMode(i8),
    HealerGetMode,
    HealerSetWeights(WeightSel, WeightSel, WeightSel),
    HealerGetWeights,
    HealerStats,
    HealerAudit(u8),
    HealerAdaptNow,
    HealerSetCallback(bool),
    Misfit {
        handle: Misfit,
        call: MisfitCall,
    },
}

/// The calls that make up most of a real program, on the default or a `cfN` column family:
/// drawn as often as all the others together, so sequences reach deep data states.
#[derive(Arbitrary, Debug, Clone)]
enum Common {
    Put {
        cf: Option<u8>,
        key: KeySel,
        value: Vec<u8>,
    },
    Get {
        cf: Option<u8>,
        key: KeySel,
    },
    Delete {
        cf: Option<u8>,
        key: KeySel,
    },
    DeleteRange {
        cf: Option<u8>,
        start: KeySel,
        end: KeySel,
    },
    CreateCf(u8),
    BatchPut {
        slot: u8,
        cf: Option<u8>,
        key: KeySel,
        value: Vec<u8>,
    },
    Write {
        slot: u8,
    },
    IterCreate {
        cf: Option<u8>,
        reverse: bool,
    },
    IterSeek {
        slot: u8,
        key: KeySel,
    },
    IterNext(u8),
}

impl Common {
    fn op(self) -> Op {
        let cf = |c: Option<u8>| c.map_or(CfSel::Null, CfSel::Named);
        match self {
            Common::Put { cf: c, key, value } => Op::Put {
                cf: cf(c),
                key,
                value,
            },
            Common::Get { cf: c, key } => Op::Get { cf: cf(c), key },
            Common::Delete { cf: c, key } => Op::Delete { cf: cf(c), key },
            Common::DeleteRange { cf: c, start, end } => Op::DeleteRange {
                cf: cf(c),
                start,
                end,
            },
            Common::CreateCf(i) => Op::CreateCf {
                name: CfSel::Named(i),
                options: CfOptionsSel::Null,
            },
            Common::BatchPut {
                slot,
                cf: c,
                key,
                value,
            } => Op::BatchPut {
                slot,
                cf: cf(c),
                key,
                value,
            },
            Common::Write { slot } => Op::Write { slot, sync: false },
            Common::IterCreate { cf: c, reverse } => Op::IterCreate {
                cf: cf(c),
                lower: None,
                upper: None,
                reverse,
            },
            Common::IterSeek { slot, key } => Op::IterSeek { slot, key },
            Common::IterNext(slot) => Op::IterNext(slot),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Step {
    Common(Common),
    Any(Op),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Open the database (default config) and create a batch before the calls.
    open_first: bool,
    ops: Vec<(Step, ErrMode)>,
}

/// Most calls one input makes.
const MAX_OPS: usize = 64;

// ----- errptr handling -------------------------------------------------------------------

/// The function's outcome on `errptr`.
struct Outcome {
    /// The message, when the call reported an error (always None for `Discard`).
    error: Option<String>,
    /// Whether errors were observable.
    observed: bool,
}

/// Calls `f` with an `errptr` per `mode`; returns its result and what it reported.
fn with_err<R>(mode: ErrMode, f: impl FnOnce(*mut *mut c_char) -> R) -> (R, Outcome) {
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
fn expect(
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
fn succeeded(outcome: &Outcome) -> bool {
    outcome.error.is_none()
}

// ----- the healer callback -----------------------------------------------------------------

static CALLBACK_CALLS: AtomicUsize = AtomicUsize::new(0);
static CALLBACK_BAD: AtomicUsize = AtomicUsize::new(0);

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

// ----- model -------------------------------------------------------------------------------

/// A handle this input created, alive or already destroyed.
struct Slot<T> {
    handle: *mut T,
    alive: bool,
}

/// What the model knows of a config.
struct ConfigSlot {
    slot: Slot<lsmedic_config_t>,
    /// Opened by `Open` only when built from defaults, safe setters and tracked values.
    openable: bool,
    /// Whether `lsmedic_open` must accept it (None: the model cannot tell).
    valid: Option<bool>,
    create_if_missing: bool,
    jobs: i32,
    write_buffer_size: u64,
    level0: (i32, i32, i32),
    tick_ms: u64,
    mode: i32,
}

impl ConfigSlot {
    fn new(handle: *mut lsmedic_config_t, openable: bool) -> ConfigSlot {
        ConfigSlot {
            slot: Slot {
                handle,
                alive: true,
            },
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

#[derive(Clone, Debug)]
enum BatchOp {
    Put(String, Vec<u8>, Vec<u8>),
    Delete(String, Vec<u8>),
    DeleteRange(String, Vec<u8>, Vec<u8>),
}

impl BatchOp {
    fn cf(&self) -> &str {
        match self {
            BatchOp::Put(cf, ..) | BatchOp::Delete(cf, _) | BatchOp::DeleteRange(cf, ..) => cf,
        }
    }
}

struct BatchSlot {
    slot: Slot<lsmedic_writebatch_t>,
    ops: Vec<BatchOp>,
}

struct IterSlot {
    slot: Slot<lsmedic_iterator_t>,
    /// The column family's contents within the bounds when the iterator was created.
    snapshot: Vec<(Vec<u8>, Vec<u8>)>,
    reverse: bool,
    /// Index into `snapshot` of the current entry.
    position: Option<usize>,
}

type Tables = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

struct Db {
    handle: *mut lsmedic_t,
    healer_running: bool,
    mode: i32,
    weights: (f64, f64, f64),
}

struct Model {
    dir: PathBuf,
    db: Option<Db>,
    /// Closed database handles (dead).
    dead_dbs: Vec<*mut lsmedic_t>,
    /// The database exists on disk (opened once).
    exists: bool,
    /// Column families and their contents (persist across close/open).
    tables: Tables,
    configs: Vec<ConfigSlot>,
    batches: Vec<BatchSlot>,
    iters: Vec<IterSlot>,
    /// Iterators alive when their database was closed: it stays open until they go.
    zombie: bool,
}

fn default_tables() -> Tables {
    BTreeMap::from([("default".to_owned(), BTreeMap::new())])
}

/// Removes `[start, end)` (nothing when it is empty or reversed).
fn remove_range(table: &mut BTreeMap<Vec<u8>, Vec<u8>>, start: &[u8], end: &[u8]) {
    if start < end {
        let doomed: Vec<Vec<u8>> = table
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            table.remove(&key);
        }
    }
}

fn pick<T>(items: &mut [T], index: u8) -> Option<&mut T> {
    let len = items.len();
    (len > 0).then(move || &mut items[usize::from(index) % len])
}

/// A (pointer, length) pair for a byte string.
fn buf(bytes: &[u8]) -> (*const c_char, usize) {
    (bytes.as_ptr().cast(), bytes.len())
}

fn cf_ptr(name: &Option<CString>) -> *const c_char {
    name.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

impl Model {
    fn cf_exists(&self, arg: &CfArg) -> bool {
        matches!(arg, CfArg::Name(name) if self.tables.contains_key(name))
    }

    fn db_ptr(&self) -> *mut lsmedic_t {
        self.db.as_ref().map_or_else(
            || self.dead_dbs.last().copied().unwrap_or(ptr::null_mut()),
            |db| db.handle,
        )
    }

    fn db_open(&self) -> bool {
        self.db.is_some()
    }

    fn iter_move(&mut self, index: u8, what: &'static str, key: Option<&[u8]>) {
        let Some(it) = pick(&mut self.iters, index) else {
            return;
        };
        let handle = it.slot.handle;
        match (what, key) {
            ("seek_to_first", _) => lsmedic_iter_seek_to_first(handle),
            // SAFETY: the key buffer is valid for its length.
            ("seek", Some(key)) => unsafe {
                lsmedic_iter_seek(handle, key.as_ptr().cast(), key.len())
            },
            ("next", _) => lsmedic_iter_next(handle),
            _ => unreachable!(),
        }
        if !it.slot.alive {
            return;
        }
        let n = it.snapshot.len();
        it.position = match (what, key) {
            ("seek_to_first", _) => (n > 0).then(|| if it.reverse { n - 1 } else { 0 }),
            ("seek", Some(target)) => {
                if it.reverse {
                    it.snapshot
                        .iter()
                        .rposition(|(k, _)| k.as_slice() <= target)
                } else {
                    it.snapshot.iter().position(|(k, _)| k.as_slice() >= target)
                }
            }
            ("next", _) => match it.position {
                Some(p) if it.reverse => p.checked_sub(1),
                Some(p) => (p + 1 < n).then_some(p + 1),
                None => None,
            },
            _ => unreachable!(),
        };
        self.iter_check(index);
    }

    fn iter_check(&mut self, index: u8) {
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

    /// Compares a column family's contents with the database through `lsmedic_get`.
    fn verify_table(&self, cf: &str) {
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

// ----- statistics ------------------------------------------------------------------------------

/// Inputs, databases opened, data calls that succeeded on an open database, iterators
/// created (printed with `LSMEDIC_FUZZ_STATS=1`, to see how deep the fuzzer gets).
static STATS: Stats<4> = Stats::new(
    "ffi_calls",
    ["inputs", "opens", "data calls ok", "iterators"],
);
const INPUTS: usize = 0;
const OPENS: usize = 1;
const DATA_OK: usize = 2;
const ITERATORS: usize = 3;

fn count(stat: usize) {
    STATS.count(stat);
}

// ----- running one input ---------------------------------------------------------------------

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

fn run(input: Input) {
    let dir = scratch_dir();
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("file"), b"not a directory").expect("scratch file");
    let mut m = Model {
        dir: dir.clone(),
        db: None,
        dead_dbs: Vec::new(),
        exists: false,
        tables: default_tables(),
        configs: Vec::new(),
        batches: Vec::new(),
        iters: Vec::new(),
        zombie: false,
    };
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

/// `lsmedic_config_from_json` / `_from_toml` on `text` (no NUL inside): a config that
/// round-trips through JSON, or NULL with an error.
fn config_from_text(
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

fn step(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        Op::ConfigCreate => {
            let handle = lsmedic_config_create();
            assert!(!handle.is_null(), "lsmedic_config_create failed");
            m.configs.push(ConfigSlot::new(handle, true));
        }
        Op::ConfigFromJson(text) | Op::ConfigFromToml(text) if text.contains('\0') => {
            let _ = text;
        }
        Op::ConfigFromJson(text) => config_from_text(
            m,
            mode,
            "lsmedic_config_from_json",
            lsmedic_config_from_json,
            text,
        ),
        Op::ConfigFromToml(text) => config_from_text(
            m,
            mode,
            "lsmedic_config_from_toml",
            lsmedic_config_from_toml,
            text,
        ),
        Op::ConfigCopy(slot) => {
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
        Op::ConfigSetSafe { slot, option } => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
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
        Op::ConfigSetRaw { slot, name, value } => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
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
        Op::ConfigSetMaxBackgroundJobs { slot, jobs } => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: valid errptr.
                unsafe {
                    lsmedic_config_set_max_background_jobs(c.slot.handle, i32::from(jobs), err)
                }
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
        Op::ConfigSetWriteBufferSize { slot, bytes } => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
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
        Op::ConfigSetLevel0Triggers {
            slot,
            compaction,
            slowdown,
            stop,
        } => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
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
        Op::ConfigSetHealerMode {
            slot,
            mode: healer_mode,
        } => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
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
        Op::ConfigSetTickInterval { slot, ms } => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
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
        Op::ConfigSetCreateIfMissing { slot, on } => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
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
        Op::ConfigSetAuditPathNull(slot) => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
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
        Op::ConfigDestroy(slot) => {
            let Some(c) = pick(&mut m.configs, slot) else {
                return;
            };
            lsmedic_config_destroy(c.slot.handle);
            c.slot.alive = false;
        }
        Op::Open { path, config } => open(m, path, config, mode),
        Op::Close => {
            let handle = m.db_ptr();
            let was_open = m.db.is_some();
            let live_iters = m.iters.iter().any(|it| it.slot.alive);
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: valid errptr.
                unsafe { lsmedic_close(handle, err) }
            });
            // Closing with iterators alive reports it (and closes when they go).
            expect(
                "lsmedic_close",
                &outcome,
                Some(was_open && !live_iters),
                &"close",
            );
            if let Some(db) = m.db.take() {
                m.dead_dbs.push(db.handle);
                m.zombie = live_iters;
            }
        }
        Op::CreateCf { name, options } => {
            let (c, arg) = name.arg();
            let (opts, opts_ok) = options.arg();
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: NUL-terminated strings or NULL, valid errptr.
                unsafe {
                    lsmedic_create_column_family(
                        m.db_ptr(),
                        cf_ptr(&c),
                        opts.as_ref().map_or(ptr::null(), |o| o.as_ptr()),
                        err,
                    )
                }
            });
            let name_ok = match (&c, &arg) {
                (Some(_), CfArg::Name(n)) => {
                    !n.is_empty()
                        && n.len() <= 200
                        && !n.contains("__lsmedic")
                        && !m.tables.contains_key(n)
                }
                _ => false,
            };
            let expected = if !m.db_open() || !name_ok || opts_ok == Some(false) {
                Some(false)
            } else {
                opts_ok
            };
            expect(
                "lsmedic_create_column_family",
                &outcome,
                expected,
                &(&arg, &opts),
            );
            if m.db_open() && succeeded(&outcome) && outcome.observed {
                if let CfArg::Name(n) = arg {
                    m.tables.insert(n, BTreeMap::new());
                }
            } else if m.db_open() && !outcome.observed {
                sync_cfs(m);
            }
        }
        Op::DropCf(name) => {
            let (c, arg) = name.arg();
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: NUL-terminated string or NULL, valid errptr.
                unsafe { lsmedic_drop_column_family(m.db_ptr(), cf_ptr(&c), err) }
            });
            let droppable = c.is_some()
                && m.db_open()
                && matches!(&arg, CfArg::Name(n) if n != "default" && m.tables.contains_key(n));
            expect(
                "lsmedic_drop_column_family",
                &outcome,
                Some(droppable),
                &arg,
            );
            if droppable {
                if let CfArg::Name(n) = arg {
                    m.tables.remove(&n);
                }
            }
        }
        Op::ListCfs => list_cfs(m, mode, true),
        Op::Put { cf, key, value } => {
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
        Op::PutNullKey { len } => {
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
        Op::Get { cf, key } => {
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
        Op::Delete { cf, key } => {
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
        Op::DeleteRange { cf, start, end } => {
            let (c, arg) = cf.arg();
            let (start, end) = (start.bytes(), end.bytes());
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
        Op::Flush(cf) => {
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
        Op::Compact { cf, start, end } => {
            let (c, arg) = cf.arg();
            let (start, end) = (start.map(|k| k.bytes()), end.map(|k| k.bytes()));
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
        Op::BatchCreate => {
            let handle = lsmedic_writebatch_create();
            assert!(!handle.is_null());
            assert_eq!(lsmedic_writebatch_count(handle), 0);
            m.batches.push(BatchSlot {
                slot: Slot {
                    handle,
                    alive: true,
                },
                ops: Vec::new(),
            });
        }
        Op::BatchPut {
            slot,
            cf,
            key,
            value,
        } => {
            let Some(b) = pick(&mut m.batches, slot) else {
                return;
            };
            let (c, arg) = cf.arg();
            let key = key.bytes();
            let value: Vec<u8> = value.into_iter().take(64).collect();
            let ((kp, kl), (vp, vl)) = (buf(&key), buf(&value));
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: valid buffers, valid errptr.
                unsafe { lsmedic_writebatch_put(b.slot.handle, cf_ptr(&c), kp, kl, vp, vl, err) }
            });
            batch_added(b, "lsmedic_writebatch_put", &outcome, arg, |cf| {
                BatchOp::Put(cf, key, value)
            });
        }
        Op::BatchDelete { slot, cf, key } => {
            let Some(b) = pick(&mut m.batches, slot) else {
                return;
            };
            let (c, arg) = cf.arg();
            let key = key.bytes();
            let (kp, kl) = buf(&key);
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: valid buffer, valid errptr.
                unsafe { lsmedic_writebatch_delete(b.slot.handle, cf_ptr(&c), kp, kl, err) }
            });
            batch_added(b, "lsmedic_writebatch_delete", &outcome, arg, |cf| {
                BatchOp::Delete(cf, key)
            });
        }
        Op::BatchDeleteRange {
            slot,
            cf,
            start,
            end,
        } => {
            let Some(b) = pick(&mut m.batches, slot) else {
                return;
            };
            let (c, arg) = cf.arg();
            let (start, end) = (start.bytes(), end.bytes());
            let ((sp, sl), (ep, el)) = (buf(&start), buf(&end));
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: valid buffers, valid errptr.
                unsafe {
                    lsmedic_writebatch_delete_range(b.slot.handle, cf_ptr(&c), sp, sl, ep, el, err)
                }
            });
            // A start after the end is refused and not added (documented).
            let arg = if start > end { CfArg::Invalid } else { arg };
            batch_added(b, "lsmedic_writebatch_delete_range", &outcome, arg, |cf| {
                BatchOp::DeleteRange(cf, start, end)
            });
        }
        Op::BatchCount(slot) => {
            let Some(b) = pick(&mut m.batches, slot) else {
                return;
            };
            let expected = if b.slot.alive { b.ops.len() } else { 0 };
            assert_eq!(
                lsmedic_writebatch_count(b.slot.handle),
                expected,
                "batch count"
            );
        }
        Op::BatchClear(slot) => {
            let Some(b) = pick(&mut m.batches, slot) else {
                return;
            };
            lsmedic_writebatch_clear(b.slot.handle);
            b.ops.clear();
            assert_eq!(lsmedic_writebatch_count(b.slot.handle), 0);
        }
        Op::BatchDestroy(slot) => {
            let Some(b) = pick(&mut m.batches, slot) else {
                return;
            };
            lsmedic_writebatch_destroy(b.slot.handle);
            b.slot.alive = false;
            b.ops.clear();
            assert_eq!(lsmedic_writebatch_count(b.slot.handle), 0);
        }
        Op::Write { slot, sync } => {
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
            // All or nothing: every column family must exist when the batch is written.
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
        Op::IterCreate {
            cf,
            lower,
            upper,
            reverse,
        } => {
            let (c, arg) = cf.arg();
            let (lower, upper) = (lower.map(|k| k.bytes()), upper.map(|k| k.bytes()));
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
                slot: Slot {
                    handle,
                    alive: true,
                },
                snapshot,
                reverse,
                position: None,
            });
            count(ITERATORS);
            m.iter_check((m.iters.len() - 1) as u8);
        }
        Op::IterSeekToFirst(slot) => m.iter_move(slot, "seek_to_first", None),
        Op::IterSeek { slot, key } => {
            let key = key.bytes();
            m.iter_move(slot, "seek", Some(&key));
        }
        Op::IterSeekNull { slot, len } => {
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
        Op::IterNext(slot) => m.iter_move(slot, "next", None),
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
        Op::HealerStart => {
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
        Op::HealerStop => {
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: valid errptr.
                unsafe { lsmedic_healer_stop(m.db_ptr(), err) }
            });
            expect("lsmedic_healer_stop", &outcome, Some(m.db_open()), &"stop");
            if let Some(db) = &mut m.db {
                db.healer_running = false;
            }
        }
        Op::HealerIsRunning => {
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
        Op::HealerSetMode(value) => {
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
        Op::HealerGetMode => {
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
        Op::HealerSetWeights(a, b, c) => {
            let (a, b, c) = (a.value(), b.value(), c.value());
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
                        lsmedic_healer_get_weights(
                            db.handle,
                            &mut w.0,
                            &mut w.1,
                            &mut w.2,
                            ptr::null_mut(),
                        )
                    };
                    db.weights = w;
                }
            }
            check_weights(m);
        }
        Op::HealerGetWeights => check_weights(m),
        Op::HealerStats => {
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
        Op::HealerAudit(limit) => {
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
            if !text.is_null() {
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
                    let entry: serde_json::Value =
                        serde_json::from_str(line).expect("audit line is JSON");
                    assert!(entry.is_object());
                }
            }
        }
        Op::HealerAdaptNow => {
            let (_, outcome) = with_err(mode, |err| {
                // SAFETY: valid errptr.
                unsafe { lsmedic_healer_adapt_now(m.db_ptr(), err) }
            });
            let ok = m.db.as_ref().is_some_and(|db| db.healer_running);
            expect("lsmedic_healer_adapt_now", &outcome, Some(ok), &"adapt_now");
        }
        Op::HealerSetCallback(on) => {
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
        Op::Misfit { handle, call } => misfit(m, handle, call, mode),
    }
}

/// Adds a batch operation to the model when the library accepted it.
fn batch_added(
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

/// Checks a config's JSON parses and is a document with `engine` and `healer`.
fn check_config_json(config: *mut lsmedic_config_t) {
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

/// Parses and frees a JSON buffer from the library.
fn take_json(json: *mut c_char) -> Option<serde_json::Value> {
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

fn check_weights(m: &Model) {
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

fn list_cfs(m: &mut Model, mode: ErrMode, strict: bool) {
    let mut count = usize::MAX;
    let (list, outcome) = with_err(mode, |err| {
        // SAFETY: writable count, valid errptr.
        unsafe { lsmedic_list_column_families(m.db_ptr(), &mut count, err) }
    });
    expect(
        "lsmedic_list_column_families",
        &outcome,
        Some(m.db_open()),
        &"list",
    );
    if list.is_null() {
        return;
    }
    let mut names = BTreeSet::new();
    let mut i = 0;
    loop {
        // SAFETY: a NULL-terminated array of NUL-terminated strings from the library.
        let entry = unsafe { *list.add(i) };
        if entry.is_null() {
            break;
        }
        // SAFETY: as above.
        names.insert(
            unsafe { CStr::from_ptr(entry) }
                .to_string_lossy()
                .into_owned(),
        );
        i += 1;
    }
    // SAFETY: one library allocation.
    unsafe { lsmedic_free(list.cast()) };
    assert_eq!(count, i, "count vs. array length");
    if strict {
        let model: BTreeSet<String> = m.tables.keys().cloned().collect();
        assert_eq!(names, model, "column families");
    } else {
        for name in names {
            m.tables.entry(name).or_default();
        }
    }
}

/// Learns the column families from the database (after calls whose outcome was discarded).
fn sync_cfs(m: &mut Model) {
    let mut names = BTreeSet::new();
    let mut count = 0usize;
    // SAFETY: writable count, NULL errptr.
    let list = unsafe { lsmedic_list_column_families(m.db_ptr(), &mut count, ptr::null_mut()) };
    if list.is_null() {
        return;
    }
    for i in 0..count {
        // SAFETY: `count` entries from the library.
        names.insert(
            unsafe { CStr::from_ptr(*list.add(i)) }
                .to_string_lossy()
                .into_owned(),
        );
    }
    // SAFETY: one library allocation.
    unsafe { lsmedic_free(list.cast()) };
    m.tables.retain(|name, _| names.contains(name));
    for name in names {
        m.tables.entry(name).or_default();
    }
}

fn open(m: &mut Model, path: PathSel, config: Option<u8>, mode: ErrMode) {
    let db_path = m.dir.join("db");
    let c_path: Option<CString> = match path {
        PathSel::Db => Some(CString::new(db_path.to_string_lossy().as_bytes()).expect("no NUL")),
        PathSel::Null => None,
        PathSel::Empty => Some(CString::default()),
        PathSel::InvalidUtf8 => {
            let mut bytes = m.dir.join("db").to_string_lossy().into_owned().into_bytes();
            bytes.extend_from_slice(&[0xff, 0xfe]);
            Some(CString::new(bytes).expect("no NUL"))
        }
        PathSel::File => {
            Some(CString::new(m.dir.join("file").to_string_lossy().as_bytes()).expect("no NUL"))
        }
    };
    // Which config: NULL (defaults) or an openable slot; others are never opened.
    let slot = match config {
        None => None,
        Some(i) => {
            let len = m.configs.len();
            if len == 0 {
                None
            } else {
                let c = &m.configs[usize::from(i) % len];
                if !c.openable {
                    return;
                }
                Some(usize::from(i) % len)
            }
        }
    };
    let (handle_cfg, cfg_alive, valid, create, healer_mode) = match slot {
        None => (ptr::null_mut(), true, Some(true), true, 2),
        Some(i) => {
            let c = &m.configs[i];
            (
                c.slot.handle,
                c.slot.alive,
                c.valid,
                c.create_if_missing,
                c.mode,
            )
        }
    };
    let (handle, outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated path or NULL, valid errptr.
        unsafe {
            lsmedic_open(
                c_path.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
                handle_cfg,
                err,
            )
        }
    });
    let path_ok = matches!(path, PathSel::Db);
    // While a closed database waits for its last iterator, its directory stays locked.
    let must_fail = !path_ok
        || !cfg_alive
        || m.db_open()
        || m.zombie
        || valid == Some(false)
        || (!create && !m.exists);
    let expected = if must_fail {
        Some(false)
    } else if valid.is_none() {
        None
    } else {
        Some(true)
    };
    expect("lsmedic_open", &outcome, expected, &(path, config));
    if handle.is_null() {
        assert!(
            !outcome.observed || outcome.error.is_some(),
            "NULL database without an error"
        );
        return;
    }
    assert!(
        !must_fail,
        "lsmedic_open succeeded where it must fail ({path:?}, valid {valid:?})"
    );
    assert!(m.db.is_none());
    m.exists = true;
    m.zombie = false;
    count(OPENS);
    m.db = Some(Db {
        handle,
        healer_running: true,
        mode: healer_mode,
        weights: (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
    });
    // Column families from the config are created at open; learn them, then check the data.
    list_cfs(m, ErrMode::Fresh, false);
    let (got, _) = with_err(ErrMode::Fresh, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_get_mode(handle, err) }
    });
    if let Some(db) = &mut m.db {
        db.mode = got;
    }
    let mut weights = (0.0, 0.0, 0.0);
    // SAFETY: writable out-pointers, NULL errptr.
    unsafe {
        lsmedic_healer_get_weights(
            handle,
            &mut weights.0,
            &mut weights.1,
            &mut weights.2,
            ptr::null_mut(),
        )
    };
    if let Some(db) = &mut m.db {
        db.weights = weights;
    }
    check_weights(m);
    let cfs: Vec<String> = m.tables.keys().cloned().collect();
    for cf in cfs {
        m.verify_table(&cf);
    }
}

/// A handle of the wrong kind, dead, NULL or garbage passed to `call`: it must be refused.
fn misfit(m: &mut Model, handle: Misfit, call: MisfitCall, mode: ErrMode) {
    // Candidates of another kind for each target kind.
    let other: Vec<usize> = m
        .configs
        .iter()
        .map(|c| c.slot.handle as usize)
        .chain(m.batches.iter().map(|b| b.slot.handle as usize))
        .chain(m.iters.iter().map(|i| i.slot.handle as usize))
        .chain(m.db.iter().map(|d| d.handle as usize))
        .collect();
    let target_kind_handles: Vec<usize> = match call {
        MisfitCall::Put
        | MisfitCall::Get
        | MisfitCall::Close
        | MisfitCall::ListCfs
        | MisfitCall::CreateIterator
        | MisfitCall::Write
        | MisfitCall::HealerGetMode
        | MisfitCall::HealerStats
        | MisfitCall::HealerSetCallback => {
            m.db.iter()
                .map(|d| d.handle as usize)
                .chain(m.dead_dbs.iter().map(|d| *d as usize))
                .collect()
        }
        MisfitCall::BatchPut | MisfitCall::BatchCount | MisfitCall::BatchDestroy => {
            m.batches.iter().map(|b| b.slot.handle as usize).collect()
        }
        MisfitCall::IterValid
        | MisfitCall::IterSeek
        | MisfitCall::IterKey
        | MisfitCall::IterDestroy => m.iters.iter().map(|i| i.slot.handle as usize).collect(),
        MisfitCall::ConfigToJson
        | MisfitCall::ConfigSet
        | MisfitCall::ConfigDestroy
        | MisfitCall::Open => m.configs.iter().map(|c| c.slot.handle as usize).collect(),
    };
    let dead_of_kind: Vec<usize> = match call {
        MisfitCall::BatchPut | MisfitCall::BatchCount | MisfitCall::BatchDestroy => m
            .batches
            .iter()
            .filter(|b| !b.slot.alive)
            .map(|b| b.slot.handle as usize)
            .collect(),
        MisfitCall::IterValid
        | MisfitCall::IterSeek
        | MisfitCall::IterKey
        | MisfitCall::IterDestroy => m
            .iters
            .iter()
            .filter(|i| !i.slot.alive)
            .map(|i| i.slot.handle as usize)
            .collect(),
        MisfitCall::ConfigToJson
        | MisfitCall::ConfigSet
        | MisfitCall::ConfigDestroy
        | MisfitCall::Open => m
            .configs
            .iter()
            .filter(|c| !c.slot.alive)
            .map(|c| c.slot.handle as usize)
            .collect(),
        _ => m.dead_dbs.iter().map(|d| *d as usize).collect(),
    };
    let raw: usize = match handle {
        Misfit::Null => 0,
        Misfit::Odd(v) => (v as usize) | 1,
        Misfit::Huge(v) => (1usize << 60) | ((v as usize) << 3),
        Misfit::OtherKind(i) => {
            let candidates: Vec<usize> = other
                .iter()
                .copied()
                .filter(|h| !target_kind_handles.contains(h))
                .collect();
            if candidates.is_empty() {
                return;
            }
            candidates[usize::from(i) % candidates.len()]
        }
        Misfit::Dead => match dead_of_kind.first() {
            Some(&h) => h,
            None => return,
        },
    };
    let counts_before: Vec<usize> = m
        .batches
        .iter()
        .map(|b| lsmedic_writebatch_count(b.slot.handle))
        .collect();
    let key = b"k";
    let name = CString::new("healer.mode").expect("no NUL");
    let value = CString::new("off").expect("no NUL");
    let (function, failed) = match call {
        MisfitCall::Put => {
            let (_, o) = with_err(mode, |err| unsafe {
                // SAFETY: valid buffers, valid errptr; the handle is what is tested.
                lsmedic_put(
                    raw as *mut lsmedic_t,
                    ptr::null(),
                    key.as_ptr().cast(),
                    1,
                    key.as_ptr().cast(),
                    1,
                    err,
                )
            });
            ("lsmedic_put", o)
        }
        MisfitCall::Get => {
            let mut len = 0;
            let (got, o) = with_err(mode, |err| unsafe {
                // SAFETY: as above.
                lsmedic_get(
                    raw as *mut lsmedic_t,
                    ptr::null(),
                    key.as_ptr().cast(),
                    1,
                    &mut len,
                    err,
                )
            });
            assert!(got.is_null() && len == 0);
            ("lsmedic_get", o)
        }
        MisfitCall::Close => {
            // SAFETY: valid errptr.
            let (_, o) = with_err(mode, |err| unsafe {
                lsmedic_close(raw as *mut lsmedic_t, err)
            });
            ("lsmedic_close", o)
        }
        MisfitCall::ListCfs => {
            let mut count = 7usize;
            // SAFETY: writable count, valid errptr.
            let (list, o) = with_err(mode, |err| unsafe {
                lsmedic_list_column_families(raw as *mut lsmedic_t, &mut count, err)
            });
            assert!(list.is_null());
            ("lsmedic_list_column_families", o)
        }
        MisfitCall::CreateIterator => {
            let (it, o) = with_err(mode, |err| unsafe {
                // SAFETY: valid errptr.
                lsmedic_create_iterator(
                    raw as *mut lsmedic_t,
                    ptr::null(),
                    ptr::null(),
                    0,
                    ptr::null(),
                    0,
                    0,
                    err,
                )
            });
            assert!(it.is_null());
            ("lsmedic_create_iterator", o)
        }
        MisfitCall::Write => {
            // A misfit database with a real (or no) batch, or a real database with a misfit batch.
            let batch = m.batches.first().map_or(ptr::null_mut(), |b| b.slot.handle);
            // SAFETY: valid errptr.
            let (_, o) = with_err(mode, |err| unsafe {
                lsmedic_write(raw as *mut lsmedic_t, batch, 0, err)
            });
            ("lsmedic_write", o)
        }
        MisfitCall::BatchPut => {
            let (_, o) = with_err(mode, |err| unsafe {
                // SAFETY: valid buffers, valid errptr.
                lsmedic_writebatch_put(
                    raw as *mut lsmedic_writebatch_t,
                    ptr::null(),
                    key.as_ptr().cast(),
                    1,
                    key.as_ptr().cast(),
                    1,
                    err,
                )
            });
            ("lsmedic_writebatch_put", o)
        }
        MisfitCall::BatchCount => {
            assert_eq!(
                lsmedic_writebatch_count(raw as *mut lsmedic_writebatch_t),
                0
            );
            (
                "",
                Outcome {
                    error: Some(String::new()),
                    observed: false,
                },
            )
        }
        MisfitCall::BatchDestroy => {
            lsmedic_writebatch_destroy(raw as *mut lsmedic_writebatch_t);
            (
                "",
                Outcome {
                    error: Some(String::new()),
                    observed: false,
                },
            )
        }
        MisfitCall::IterValid => {
            assert_eq!(lsmedic_iter_valid(raw as *mut lsmedic_iterator_t), 0);
            (
                "",
                Outcome {
                    error: Some(String::new()),
                    observed: false,
                },
            )
        }
        MisfitCall::IterSeek => {
            // SAFETY: valid buffer.
            unsafe { lsmedic_iter_seek(raw as *mut lsmedic_iterator_t, key.as_ptr().cast(), 1) };
            let (_, o) = with_err(mode, |err| unsafe {
                lsmedic_iter_get_error(raw as *mut lsmedic_iterator_t, err)
            });
            ("lsmedic_iter_get_error", o)
        }
        MisfitCall::IterKey => {
            let mut len = 9usize;
            // SAFETY: writable length.
            let k = unsafe { lsmedic_iter_key(raw as *mut lsmedic_iterator_t, &mut len) };
            assert!(k.is_null() && len == 0);
            (
                "",
                Outcome {
                    error: Some(String::new()),
                    observed: false,
                },
            )
        }
        MisfitCall::IterDestroy => {
            lsmedic_iter_destroy(raw as *mut lsmedic_iterator_t);
            (
                "",
                Outcome {
                    error: Some(String::new()),
                    observed: false,
                },
            )
        }
        MisfitCall::ConfigToJson => {
            // SAFETY: valid errptr.
            let (json, o) = with_err(mode, |err| unsafe {
                lsmedic_config_to_json(raw as *mut lsmedic_config_t, err)
            });
            assert!(json.is_null());
            ("lsmedic_config_to_json", o)
        }
        MisfitCall::ConfigSet => {
            let (_, o) = with_err(mode, |err| unsafe {
                // SAFETY: NUL-terminated strings, valid errptr.
                lsmedic_config_set(
                    raw as *mut lsmedic_config_t,
                    name.as_ptr(),
                    value.as_ptr(),
                    err,
                )
            });
            ("lsmedic_config_set", o)
        }
        MisfitCall::ConfigDestroy => {
            lsmedic_config_destroy(raw as *mut lsmedic_config_t);
            (
                "",
                Outcome {
                    error: Some(String::new()),
                    observed: false,
                },
            )
        }
        MisfitCall::Open => {
            if raw == 0 {
                return; // NULL config means defaults: not a misfit.
            }
            let path =
                CString::new(m.dir.join("misfit").to_string_lossy().as_bytes()).expect("no NUL");
            let (db, o) = with_err(mode, |err| unsafe {
                // SAFETY: NUL-terminated path, valid errptr.
                lsmedic_open(path.as_ptr(), raw as *mut lsmedic_config_t, err)
            });
            assert!(db.is_null(), "opened with a misfit config");
            ("lsmedic_open", o)
        }
        MisfitCall::HealerGetMode => {
            // SAFETY: valid errptr.
            let (got, o) = with_err(mode, |err| unsafe {
                lsmedic_healer_get_mode(raw as *mut lsmedic_t, err)
            });
            assert_eq!(got, -1);
            ("lsmedic_healer_get_mode", o)
        }
        MisfitCall::HealerStats => {
            // SAFETY: valid errptr.
            let (json, o) = with_err(mode, |err| unsafe {
                lsmedic_healer_stats(raw as *mut lsmedic_t, err)
            });
            assert!(json.is_null());
            ("lsmedic_healer_stats", o)
        }
        MisfitCall::HealerSetCallback => {
            let (_, o) = with_err(mode, |err| unsafe {
                // SAFETY: NULL callback, valid errptr.
                lsmedic_healer_set_callback(raw as *mut lsmedic_t, None, ptr::null_mut(), err)
            });
            ("lsmedic_healer_set_callback", o)
        }
    };
    if !function.is_empty() {
        expect(function, &failed, Some(false), &(handle, call, raw));
    }
    // Nothing real was touched: every batch kept its operations.
    let counts_after: Vec<usize> = m
        .batches
        .iter()
        .map(|b| lsmedic_writebatch_count(b.slot.handle))
        .collect();
    assert_eq!(counts_before, counts_after, "a misfit call changed a batch");
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

fuzz_target!(|input: Input| run(input));
