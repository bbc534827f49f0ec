//! The fuzz input: a call sequence decoded from bytes with `arbitrary`.
//!
//! The declarations here are the input format: seeds, corpora and the reproducers in
//! `fuzz/regressions/ffi_calls/` decode through them, so reordering variants or fields, or
//! adding a variant (which changes how a variant index is drawn), silently changes what
//! every existing input means.

use std::ffi::CString;

use arbitrary::Arbitrary;

/// A key: mostly from a tiny alphabet so that calls hit the same keys.
#[derive(Arbitrary, Debug, Clone)]
pub(crate) enum KeySel {
    Small(u8),
    Raw(Vec<u8>),
}

impl KeySel {
    /// The key's bytes (at most 12).
    pub(crate) fn bytes(&self) -> Vec<u8> {
        match self {
            KeySel::Small(k) => vec![b'k', b'a' + (k % 12)],
            KeySel::Raw(raw) => raw.iter().take(12).copied().collect(),
        }
    }
}

/// A column-family argument.
#[derive(Arbitrary, Debug, Clone)]
pub(crate) enum CfSel {
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
pub(crate) enum CfArg {
    /// A valid name (NULL counts as `default`).
    Name(String),
    /// Not UTF-8: every call must fail.
    Invalid,
}

impl CfSel {
    /// The C string to pass (None = NULL) and what it means.
    pub(crate) fn arg(&self) -> (Option<CString>, CfArg) {
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
pub(crate) enum CfOptionsSel {
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
    pub(crate) fn arg(&self) -> (Option<CString>, Option<bool>) {
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
pub(crate) enum SafeOption {
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
    /// The option's name and its value as JSON text.
    pub(crate) fn name_value(&self) -> (&'static str, String) {
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
pub(crate) enum WeightSel {
    Small(u8),
    Raw(f64),
    Huge,
    Nan,
    Inf,
    Negative,
}

impl WeightSel {
    /// The weight passed.
    pub(crate) fn value(self) -> f64 {
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
pub(crate) enum PathSel {
    Db,
    Null,
    Empty,
    InvalidUtf8,
    /// A regular file, not a directory.
    File,
}

/// A handle that is not what the function expects.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub(crate) enum Misfit {
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
pub(crate) enum MisfitCall {
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
pub(crate) enum ErrMode {
    Fresh,
    /// NULL: errors are discarded.
    Discard,
    /// Holding an earlier message, which the library must free before writing a new one.
    Prefilled,
}

/// One C-ABI call (or a short fixed sequence of them) on a handle of one kind.
#[derive(Arbitrary, Debug, Clone)]
pub(crate) enum Op {
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
    /// `lsmedic_rebuild_column_family`, then `lsmedic_quarantined_column_families`.
    Rebuild(CfSel),
    /// `lsmedic_recover` (an online reopen), then `lsmedic_recovery_status`.
    Recover,
    /// `lsmedic_multi_get` (up to 8 keys; `null_values` passes NULL output arrays).
    MultiGet {
        cf: CfSel,
        keys: Vec<KeySel>,
        null_values: bool,
    },
    /// `lsmedic_property_value` with one of a few names (`None`: NULL).
    Property {
        cf: CfSel,
        name: Option<u8>,
    },
    /// `lsmedic_statistics`.
    Statistics,
    /// `lsmedic_set_option` with one of a few (name, value) pairs, valid or not.
    SetOption {
        cf: CfSel,
        pair: u8,
    },
    /// `lsmedic_checkpoint_create` into a fresh directory (`existing`: one already there).
    CheckpointCreate {
        existing: bool,
    },
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
pub(crate) enum Common {
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
    /// The same call as an [`Op`].
    pub(crate) fn op(self) -> Op {
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

/// One decoded call: a common one or any.
#[derive(Arbitrary, Debug, Clone)]
pub(crate) enum Step {
    Common(Common),
    Any(Op),
}

/// One fuzz input: an optional opening sequence, then the calls.
#[derive(Arbitrary, Debug)]
pub(crate) struct Input {
    /// Open the database (default config) and create a batch before the calls.
    pub(crate) open_first: bool,
    /// The calls, each with how its `errptr` is passed.
    pub(crate) ops: Vec<(Step, ErrMode)>,
}

/// Most calls one input makes.
pub(crate) const MAX_OPS: usize = 64;
