//! The `Control` trait: everything the healer may change on a running engine, and the typed
//! tunables it changes. RocksDB-free, so the healer is tested against a stub implementation.
//!
//! # Online tunables
//!
//! Every tunable has a RocksDB-style name (what configs, logs, the audit log and the C ABI
//! use), a scope and hard bounds. Bounds are sanity limits that catch a wrong unit or a
//! runaway policy; the healer's guard applies its own, tighter, configurable bounds.
//!
//! | name | scope | bounds | what it affects |
//! |---|---|---|---|
//! | `max_background_jobs` | DB | 1 ..= 256 | flush + compaction threads RocksDB schedules |
//! | `max_subcompactions` | DB | 1 ..= 64 | threads one compaction job may split into |
//! | `delayed_write_rate` | DB | 16 KiB/s ..= 64 GiB/s | write rate RocksDB applies while writes are delayed |
//! | `write_buffer_size` | CF | 64 KiB ..= 64 GiB | memtable size before it is sealed and flushed |
//! | `max_write_buffer_number` | CF | 2 ..= 256 | memtables kept before writes stop |
//! | `level0_file_num_compaction_trigger` | CF | 1 ..= 10 000 | L0 files that start an L0 compaction |
//! | `level0_slowdown_writes_trigger` | CF | 1 ..= 10 000, ≥ compaction trigger | L0 files at which writes slow down |
//! | `level0_stop_writes_trigger` | CF | 1 ..= 10 000, ≥ slowdown trigger | L0 files at which writes stop |
//! | `soft_pending_compaction_bytes_limit` | CF | 0 ..= 1 PiB, ≤ hard (unless hard is 0) | pending bytes at which writes slow down (0 = off) |
//! | `hard_pending_compaction_bytes_limit` | CF | 0 ..= 1 PiB | pending bytes at which writes stop (0 = off) |
//! | `target_file_size_base` | CF | 64 KiB ..= 64 GiB | SST size at L1 (compaction granularity) |
//! | `max_bytes_for_level_base` | CF | 64 KiB ..= 1 TiB | size target of L1 (when compaction kicks in below L0) |
//! | `disable_auto_compactions` | CF | false / true | stops automatic compactions (manual ones still run) |
//! | `block_cache_capacity` | engine | 0 ..= 1 TiB | bytes of the shared block cache |
//! | `write_buffer_manager_size` | engine | 1 MiB ..= 1 TiB | budget of all memtables (only when configured at open) |
//! | `background_threads_low` | process | 1 ..= 256 | RocksDB's low-priority (compaction) pool; process-wide |
//! | `background_threads_high` | process | 1 ..= 256 | RocksDB's high-priority (flush) pool; process-wide |
//! | `write_rate_limit` | engine or CF | 1 KiB/s ..= 64 GiB/s, or unlimited | lsmedic's write throttle (token bucket by bytes) |
//!
//! Cross-option rules (checked on the values a change would leave in place, so several
//! options can move together): `level0_file_num_compaction_trigger ≤
//! level0_slowdown_writes_trigger ≤ level0_stop_writes_trigger`; soft ≤ hard pending limit
//! when hard ≠ 0.
//!
//! This module is the one place that states the bounds, the cross-option rules and
//! RocksDB's default of every tunable ([`Tunable::rocksdb_default`], [`default_cf_tunables`],
//! [`default_global_tunables`]): the engine validates its configuration with them and the
//! healer falls back on the defaults when an engine does not report a value.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// Name of the column family every RocksDB database has and that cannot be dropped.
pub const DEFAULT_CF: &str = "default";

/// Where a tunable applies.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TunableScope {
    /// RocksDB DB option (`SetDBOptions`).
    Db,
    /// RocksDB column-family option (`SetOptions` on one CF).
    Cf,
    /// A resource the engine owns (block cache, write-buffer manager).
    Engine,
    /// A process-wide RocksDB resource (the default `Env`'s thread pools).
    Process,
}

/// Every option the healer may retune online.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tunable {
    /// `max_background_jobs` (DB).
    MaxBackgroundJobs,
    /// `max_subcompactions` (DB).
    MaxSubcompactions,
    /// `delayed_write_rate` (DB, bytes/s).
    DelayedWriteRate,
    /// `write_buffer_size` (CF, bytes).
    WriteBufferSize,
    /// `max_write_buffer_number` (CF).
    MaxWriteBufferNumber,
    /// `level0_file_num_compaction_trigger` (CF).
    Level0FileNumCompactionTrigger,
    /// `level0_slowdown_writes_trigger` (CF).
    Level0SlowdownWritesTrigger,
    /// `level0_stop_writes_trigger` (CF).
    Level0StopWritesTrigger,
    /// `soft_pending_compaction_bytes_limit` (CF, bytes).
    SoftPendingCompactionBytesLimit,
    /// `hard_pending_compaction_bytes_limit` (CF, bytes).
    HardPendingCompactionBytesLimit,
    /// `target_file_size_base` (CF, bytes).
    TargetFileSizeBase,
    /// `max_bytes_for_level_base` (CF, bytes).
    MaxBytesForLevelBase,
    /// `disable_auto_compactions` (CF, 0 or 1).
    DisableAutoCompactions,
    /// Block-cache capacity (engine, bytes).
    BlockCacheCapacity,
    /// Write-buffer-manager budget (engine, bytes).
    WriteBufferManagerSize,
    /// Low-priority (compaction) thread pool size (process).
    BackgroundThreadsLow,
    /// High-priority (flush) thread pool size (process).
    BackgroundThreadsHigh,
}

impl Tunable {
    /// Every tunable.
    pub const ALL: [Tunable; 17] = [
        Tunable::MaxBackgroundJobs,
        Tunable::MaxSubcompactions,
        Tunable::DelayedWriteRate,
        Tunable::WriteBufferSize,
        Tunable::MaxWriteBufferNumber,
        Tunable::Level0FileNumCompactionTrigger,
        Tunable::Level0SlowdownWritesTrigger,
        Tunable::Level0StopWritesTrigger,
        Tunable::SoftPendingCompactionBytesLimit,
        Tunable::HardPendingCompactionBytesLimit,
        Tunable::TargetFileSizeBase,
        Tunable::MaxBytesForLevelBase,
        Tunable::DisableAutoCompactions,
        Tunable::BlockCacheCapacity,
        Tunable::WriteBufferManagerSize,
        Tunable::BackgroundThreadsLow,
        Tunable::BackgroundThreadsHigh,
    ];

    /// RocksDB's (or lsmedic's, for engine resources) name of the option.
    pub fn name(self) -> &'static str {
        match self {
            Tunable::MaxBackgroundJobs => "max_background_jobs",
            Tunable::MaxSubcompactions => "max_subcompactions",
            Tunable::DelayedWriteRate => "delayed_write_rate",
            Tunable::WriteBufferSize => "write_buffer_size",
            Tunable::MaxWriteBufferNumber => "max_write_buffer_number",
            Tunable::Level0FileNumCompactionTrigger => "level0_file_num_compaction_trigger",
            Tunable::Level0SlowdownWritesTrigger => "level0_slowdown_writes_trigger",
            Tunable::Level0StopWritesTrigger => "level0_stop_writes_trigger",
            Tunable::SoftPendingCompactionBytesLimit => "soft_pending_compaction_bytes_limit",
            Tunable::HardPendingCompactionBytesLimit => "hard_pending_compaction_bytes_limit",
            Tunable::TargetFileSizeBase => "target_file_size_base",
            Tunable::MaxBytesForLevelBase => "max_bytes_for_level_base",
            Tunable::DisableAutoCompactions => "disable_auto_compactions",
            Tunable::BlockCacheCapacity => "block_cache_capacity",
            Tunable::WriteBufferManagerSize => "write_buffer_manager_size",
            Tunable::BackgroundThreadsLow => "background_threads_low",
            Tunable::BackgroundThreadsHigh => "background_threads_high",
        }
    }

    /// The tunable with RocksDB name `name`.
    pub fn from_name(name: &str) -> Option<Tunable> {
        Tunable::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Where it applies.
    pub fn scope(self) -> TunableScope {
        match self {
            Tunable::MaxBackgroundJobs | Tunable::MaxSubcompactions | Tunable::DelayedWriteRate => {
                TunableScope::Db
            }
            Tunable::BlockCacheCapacity | Tunable::WriteBufferManagerSize => TunableScope::Engine,
            Tunable::BackgroundThreadsLow | Tunable::BackgroundThreadsHigh => TunableScope::Process,
            _ => TunableScope::Cf,
        }
    }

    /// Inclusive hard bounds of the value.
    pub fn bounds(self) -> (u64, u64) {
        match self {
            Tunable::MaxBackgroundJobs => (1, 256),
            Tunable::MaxSubcompactions => (1, 64),
            Tunable::DelayedWriteRate => (16 * KIB, 64 * GIB),
            Tunable::WriteBufferSize => (64 * KIB, 64 * GIB),
            Tunable::MaxWriteBufferNumber => (2, 256),
            Tunable::Level0FileNumCompactionTrigger
            | Tunable::Level0SlowdownWritesTrigger
            | Tunable::Level0StopWritesTrigger => (1, 10_000),
            Tunable::SoftPendingCompactionBytesLimit | Tunable::HardPendingCompactionBytesLimit => {
                (0, 1024 * TIB)
            }
            Tunable::TargetFileSizeBase => (64 * KIB, 64 * GIB),
            Tunable::MaxBytesForLevelBase => (64 * KIB, TIB),
            Tunable::DisableAutoCompactions => (0, 1),
            Tunable::BlockCacheCapacity => (0, TIB),
            Tunable::WriteBufferManagerSize => (MIB, TIB),
            Tunable::BackgroundThreadsLow | Tunable::BackgroundThreadsHigh => (1, 256),
        }
    }

    /// RocksDB's default (RocksDB 11.8; for the engine's resources and thread pools, what
    /// RocksDB creates when it is not told otherwise). Every default lies within
    /// [`Tunable::bounds`] except `write_buffer_manager_size`, whose default 0 (RocksDB's
    /// `db_write_buffer_size`) means "no write-buffer manager": the tunable exists only when
    /// one is configured at open.
    ///
    /// | tunable | default |
    /// |---|---|
    /// | `max_background_jobs` | 2 |
    /// | `max_subcompactions` | 1 |
    /// | `delayed_write_rate` | 16 MiB/s (RocksDB's option is 0, which means 16 MiB/s without a rate limiter) |
    /// | `write_buffer_size` | 64 MiB |
    /// | `max_write_buffer_number` | 2 |
    /// | `level0_file_num_compaction_trigger` | 4 |
    /// | `level0_slowdown_writes_trigger` | 20 |
    /// | `level0_stop_writes_trigger` | 36 |
    /// | `soft_pending_compaction_bytes_limit` | 64 GiB |
    /// | `hard_pending_compaction_bytes_limit` | 256 GiB |
    /// | `target_file_size_base` | 64 MiB |
    /// | `max_bytes_for_level_base` | 256 MiB |
    /// | `disable_auto_compactions` | false (0) |
    /// | `block_cache_capacity` | 32 MiB (the block cache RocksDB creates when none is given) |
    /// | `write_buffer_manager_size` | 0 (no manager) |
    /// | `background_threads_low` | 1 (the default `Env`'s pool) |
    /// | `background_threads_high` | 1 (the default `Env`'s pool) |
    pub const fn rocksdb_default(self) -> u64 {
        match self {
            Tunable::MaxBackgroundJobs => 2,
            Tunable::MaxSubcompactions => 1,
            Tunable::DelayedWriteRate => 16 * MIB,
            Tunable::WriteBufferSize => 64 * MIB,
            Tunable::MaxWriteBufferNumber => 2,
            Tunable::Level0FileNumCompactionTrigger => 4,
            Tunable::Level0SlowdownWritesTrigger => 20,
            Tunable::Level0StopWritesTrigger => 36,
            Tunable::SoftPendingCompactionBytesLimit => 64 * GIB,
            Tunable::HardPendingCompactionBytesLimit => 256 * GIB,
            Tunable::TargetFileSizeBase => 64 * MIB,
            Tunable::MaxBytesForLevelBase => 256 * MIB,
            Tunable::DisableAutoCompactions => 0,
            Tunable::BlockCacheCapacity => 32 * MIB,
            Tunable::WriteBufferManagerSize => 0,
            Tunable::BackgroundThreadsLow | Tunable::BackgroundThreadsHigh => 1,
        }
    }

    /// Whether the value is a boolean stored as 0 / 1.
    pub fn is_bool(self) -> bool {
        self == Tunable::DisableAutoCompactions
    }

    /// Checks `value` against the bounds; the error names the tunable.
    pub fn check(self, value: u64) -> Result<(), ControlError> {
        let (min, max) = self.bounds();
        if value < min || value > max {
            let expected = if self.is_bool() {
                "must be false (0) or true (1)".to_owned()
            } else {
                format!("must be in {min}..={max}")
            };
            return Err(ControlError::InvalidValue {
                option: self.name().to_owned(),
                cf: None,
                value: value.to_string(),
                reason: expected,
            });
        }
        Ok(())
    }

    /// Checks a signed `value` against the bounds (RocksDB declares its counts as `int`, so
    /// configurations hold them signed; a negative value is out of bounds) and returns it as
    /// the `u64` the `Control` surface uses. The error names the tunable.
    pub fn check_i64(self, value: i64) -> Result<u64, ControlError> {
        match u64::try_from(value) {
            Ok(value) => self.check(value).map(|()| value),
            Err(_) => {
                let (min, max) = self.bounds();
                Err(ControlError::InvalidValue {
                    option: self.name().to_owned(),
                    cf: None,
                    value: value.to_string(),
                    reason: format!("must be in {min}..={max}"),
                })
            }
        }
    }

    /// Parses a textual value (`"true"`/`"false"` for booleans, decimal otherwise).
    pub fn parse_value(self, text: &str) -> Result<u64, ControlError> {
        let text = text.trim();
        let parsed = if self.is_bool() {
            match text {
                "true" | "1" => Some(1),
                "false" | "0" => Some(0),
                _ => None,
            }
        } else {
            text.parse::<u64>().ok()
        };
        let value = parsed.ok_or_else(|| ControlError::InvalidValue {
            option: self.name().to_owned(),
            cf: None,
            value: text.to_owned(),
            reason: if self.is_bool() {
                "expected true or false".to_owned()
            } else {
                "expected a non-negative integer".to_owned()
            },
        })?;
        self.check(value)?;
        Ok(value)
    }
}

impl std::fmt::Display for Tunable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every column-family tunable at RocksDB's default ([`Tunable::rocksdb_default`]): what a
/// column family created without options reports.
pub fn default_cf_tunables() -> BTreeMap<Tunable, u64> {
    Tunable::ALL
        .into_iter()
        .filter(|t| t.scope() == TunableScope::Cf)
        .map(|t| (t, t.rocksdb_default()))
        .collect()
}

/// Every DB-, engine- and process-scoped tunable at RocksDB's default
/// ([`Tunable::rocksdb_default`]), except `write_buffer_manager_size`, which an engine
/// reports only when a write-buffer manager is configured.
pub fn default_global_tunables() -> BTreeMap<Tunable, u64> {
    Tunable::ALL
        .into_iter()
        .filter(|&t| t.scope() != TunableScope::Cf && t != Tunable::WriteBufferManagerSize)
        .map(|t| (t, t.rocksdb_default()))
        .collect()
}

/// Checks the cross-option rules on the complete set of CF values a change would leave.
pub fn check_cf_rules(cf: &str, values: &BTreeMap<Tunable, u64>) -> Result<(), ControlError> {
    let get = |t: Tunable| values.get(&t).copied();
    let rule = |low: Tunable, high: Tunable| -> Result<(), ControlError> {
        if let (Some(l), Some(h)) = (get(low), get(high)) {
            if l > h {
                return Err(ControlError::InvalidValue {
                    option: high.name().to_owned(),
                    cf: Some(cf.to_owned()),
                    value: h.to_string(),
                    reason: format!("must be >= {} ({l})", low.name()),
                });
            }
        }
        Ok(())
    };
    rule(
        Tunable::Level0FileNumCompactionTrigger,
        Tunable::Level0SlowdownWritesTrigger,
    )?;
    rule(
        Tunable::Level0SlowdownWritesTrigger,
        Tunable::Level0StopWritesTrigger,
    )?;
    if let (Some(soft), Some(hard)) = (
        get(Tunable::SoftPendingCompactionBytesLimit),
        get(Tunable::HardPendingCompactionBytesLimit),
    ) {
        if hard != 0 && soft > hard {
            return Err(ControlError::InvalidValue {
                option: Tunable::SoftPendingCompactionBytesLimit.name().to_owned(),
                cf: Some(cf.to_owned()),
                value: soft.to_string(),
                reason: format!(
                    "must be <= {} ({hard})",
                    Tunable::HardPendingCompactionBytesLimit.name()
                ),
            });
        }
    }
    Ok(())
}

/// Validates changes to DB-, engine- or process-scoped tunables: each must have one of those
/// scopes and lie within its bounds. Every `Control` implementation calls this first.
pub fn validate_global_changes(changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
    for &(tunable, value) in changes {
        if tunable.scope() == TunableScope::Cf {
            return Err(ControlError::WrongScope {
                option: tunable.name().to_owned(),
                reason: "without a column family (it is a column-family option)".to_owned(),
            });
        }
        tunable.check(value)?;
    }
    Ok(())
}

/// Validates changes to the CF-scoped tunables of `cf` whose current values are `current`:
/// scope, bounds, then the cross-option rules on the values the change would leave in place.
/// Returns those merged values.
pub fn validate_cf_changes(
    cf: &str,
    current: &BTreeMap<Tunable, u64>,
    changes: &[(Tunable, u64)],
) -> Result<BTreeMap<Tunable, u64>, ControlError> {
    let mut merged = current.clone();
    for &(tunable, value) in changes {
        if tunable.scope() != TunableScope::Cf {
            return Err(ControlError::WrongScope {
                option: tunable.name().to_owned(),
                reason: format!("on column family {cf:?} (it is not a column-family option)"),
            });
        }
        tunable.check(value).map_err(|err| err.in_cf(Some(cf)))?;
        merged.insert(tunable, value);
    }
    check_cf_rules(cf, &merged)?;
    Ok(merged)
}

/// Which writes a throttle limit applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ThrottleScope {
    /// Every write to any column family.
    All,
    /// Writes to one (logical) column family.
    Cf(String),
}

/// Bounds of a write-rate limit in bytes/s.
pub const WRITE_RATE_LIMIT_BOUNDS: (u64, u64) = (KIB, 64 * GIB);

/// Checks a write-rate limit (`None` = unlimited) against [`WRITE_RATE_LIMIT_BOUNDS`]; the
/// error names the option and, for a per-CF limit, the column family.
pub fn validate_write_rate_limit(
    scope: &ThrottleScope,
    rate_bytes_per_sec: Option<u64>,
) -> Result<(), ControlError> {
    let Some(rate) = rate_bytes_per_sec else {
        return Ok(());
    };
    let (min, max) = WRITE_RATE_LIMIT_BOUNDS;
    if (min..=max).contains(&rate) {
        return Ok(());
    }
    Err(ControlError::InvalidValue {
        option: "write_rate_limit".to_owned(),
        cf: match scope {
            ThrottleScope::All => None,
            ThrottleScope::Cf(cf) => Some(cf.clone()),
        },
        value: rate.to_string(),
        reason: format!("must be in {min}..={max} bytes/s (or unlimited)"),
    })
}

/// The value of every tunable at one instant: what the healer saves before acting and
/// restores to roll back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tunables {
    /// DB-, engine- and process-scoped tunables.
    pub global: BTreeMap<Tunable, u64>,
    /// CF-scoped tunables per logical column family.
    pub cfs: BTreeMap<String, BTreeMap<Tunable, u64>>,
    /// Write-rate limits in bytes/s; absent = unlimited.
    pub write_rate_limits: BTreeMap<ThrottleScope, u64>,
}

impl Tunables {
    /// Value of a global tunable.
    pub fn global(&self, tunable: Tunable) -> Option<u64> {
        self.global.get(&tunable).copied()
    }

    /// Value of a CF tunable.
    pub fn cf(&self, cf: &str, tunable: Tunable) -> Option<u64> {
        self.cfs
            .get(cf)
            .and_then(|values| values.get(&tunable).copied())
    }
}

/// A key interval a rebuild could not read: `[start, end)`, `end = None` meaning "to the end
/// of the key space". Keys inside were not copied from the old column family; they are in the
/// rebuilt one only if written during the rebuild or recovered from a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostRange {
    /// First key of the interval (inclusive).
    pub start: Vec<u8>,
    /// End of the interval (exclusive); `None` = unbounded.
    pub end: Option<Vec<u8>>,
}

impl LostRange {
    /// Whether `key` lies in the interval.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }
}

/// Outcome of rebuilding a column family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildReport {
    /// Logical column family rebuilt.
    pub cf: String,
    /// Physical CF that served the name before.
    pub old_physical: String,
    /// Physical CF now serving the logical name.
    pub new_physical: String,
    /// Keys copied from the old physical CF.
    pub keys_copied: u64,
    /// Keys restored from the newest checkpoint into ranges the old CF could not read.
    pub keys_recovered_from_checkpoint: u64,
    /// Bytes (keys + values) written into the new CF.
    pub bytes_copied: u64,
    /// Intervals that could not be read and were not recovered: keys in them may be lost.
    pub lost_ranges: Vec<LostRange>,
    /// SST files named by the corruption errors met while copying.
    pub skipped_files: Vec<String>,
    /// Why lost ranges were not refilled from a checkpoint (with checkpoints on): for each
    /// checkpoint tried, newest first, one line per range it could not refill, or one for
    /// all of them (it does not open, the column family was rebuilt after it); or "no
    /// checkpoint has been taken yet".
    #[serde(default)]
    pub refill_failures: Vec<String>,
    /// Wall time of the rebuild.
    pub duration: Duration,
}

/// Why a control operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No option has this name.
    #[error("unknown option {name:?}")]
    UnknownOption {
        /// The name given.
        name: String,
    },
    /// The option exists but not in the scope asked (a CF option set DB-wide, …).
    #[error("option {option} cannot be set {reason}")]
    WrongScope {
        /// The option.
        option: String,
        /// Why (e.g. "without a column family").
        reason: String,
    },
    /// A value is out of range or breaks a cross-option rule.
    #[error("invalid value {value} for {option}{}: {reason}", .cf.as_ref().map(|c| format!(" (column family {c:?})")).unwrap_or_default())]
    InvalidValue {
        /// The option.
        option: String,
        /// The column family, for CF options.
        cf: Option<String>,
        /// The rejected value.
        value: String,
        /// Why.
        reason: String,
    },
    /// No column family has this name.
    #[error("unknown column family {name:?}")]
    UnknownColumnFamily {
        /// The name given.
        name: String,
    },
    /// The engine has no such resource (e.g. no write-buffer manager configured).
    #[error("{what} is not available: {reason}")]
    Unavailable {
        /// What was asked for.
        what: String,
        /// Why it is not there.
        reason: String,
    },
    /// The engine refused or failed the operation.
    #[error("{operation} failed: {message}")]
    Engine {
        /// What was attempted.
        operation: String,
        /// The engine's message.
        message: String,
    },
}

impl ControlError {
    /// The same error, naming column family `cf` when it is about an option value.
    pub fn in_cf(self, cf: Option<&str>) -> ControlError {
        match self {
            ControlError::InvalidValue {
                option,
                value,
                reason,
                ..
            } => ControlError::InvalidValue {
                option,
                cf: cf.map(str::to_owned),
                value,
                reason,
            },
            other => other,
        }
    }
}

/// Everything the healer can do to an engine. Implemented by `lsmedic_engine::Engine` and by
/// test stubs. Every method is safe to call from the healer thread while the application
/// writes; none blocks for long except `flush`, `compact_range`, `wait_for_compactions` and
/// `rebuild_cf`, which wait for the work they start.
pub trait Control: Send + Sync {
    /// Names of the logical column families.
    fn column_families(&self) -> Vec<String>;

    /// Current value of every tunable.
    fn tunables(&self) -> Result<Tunables, ControlError>;

    /// Sets DB-, engine- or process-scoped tunables, validated together, applied together.
    fn set_global(&self, changes: &[(Tunable, u64)]) -> Result<(), ControlError>;

    /// Sets CF-scoped tunables of one column family, validated together against the
    /// cross-option rules and applied in one RocksDB call.
    fn set_cf(&self, cf: &str, changes: &[(Tunable, u64)]) -> Result<(), ControlError>;

    /// Sets (`Some`) or lifts (`None`) the write-rate limit of a scope, in bytes/s.
    fn set_write_rate_limit(
        &self,
        scope: &ThrottleScope,
        rate_bytes_per_sec: Option<u64>,
    ) -> Result<(), ControlError>;

    /// Restores every tunable in `snapshot` (for roll-back); tunables absent from it are left
    /// alone, write-rate limits absent from it are lifted.
    fn restore(&self, snapshot: &Tunables) -> Result<(), ControlError>;

    /// Flushes a column family's memtables and waits.
    fn flush(&self, cf: &str) -> Result<(), ControlError>;

    /// Compacts a column family (the whole key space, or `[start, end]`) and waits.
    fn compact_range(&self, cf: &str, range: Option<(&[u8], &[u8])>) -> Result<(), ControlError>;

    /// Waits until no compaction is running or pending, at most `timeout`; returns whether
    /// the engine became idle.
    fn wait_for_compactions(&self, timeout: Duration) -> Result<bool, ControlError>;

    /// Rebuilds a column family into a fresh physical CF (see `RebuildReport`).
    fn rebuild_cf(&self, cf: &str) -> Result<RebuildReport, ControlError>;
}

/// What the healer reads from an engine each tick: the rings, the sampler, and the mapping of
/// ids and physical names to logical column families. Implemented by
/// `lsmedic_engine::Engine` and by test stubs; none of these calls blocks.
pub trait Observe: Send + Sync {
    /// Passes every op event pushed since the last drain to `f`; returns how many.
    fn drain_ops(&self, f: &mut dyn FnMut(crate::OpEvent)) -> usize;
    /// Passes every listener event pushed since the last drain to `f`; returns how many.
    fn drain_events(&self, f: &mut dyn FnMut(crate::EngineEvent)) -> usize;
    /// Reads RocksDB's properties and statistics now.
    fn sample(&self) -> crate::Sample;
    /// Now, on the clock of `OpEvent::end_ns` and `EngineEvent::at_ns`.
    fn now_ns(&self) -> u64;
    /// Logical name of the column family with telemetry id `id`.
    fn cf_name_of(&self, id: crate::CfId) -> Option<String>;
    /// Logical column family a physical RocksDB column-family name (as listener events carry
    /// it) belongs to.
    fn logical_cf_of(&self, physical: &str) -> Option<String>;
    /// Op and listener events dropped so far because a ring was full.
    fn dropped(&self) -> (u64, u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for tunable in Tunable::ALL {
            assert_eq!(Tunable::from_name(tunable.name()), Some(tunable));
            assert!(seen.insert(tunable.name()));
            let (min, max) = tunable.bounds();
            assert!(min <= max);
        }
        assert_eq!(Tunable::from_name("level0_stop_writes_triger"), None);
    }

    #[test]
    fn defaults_lie_within_bounds_and_pass_the_cross_rules() {
        for tunable in Tunable::ALL {
            if tunable == Tunable::WriteBufferManagerSize {
                assert_eq!(tunable.rocksdb_default(), 0, "0 = no manager");
                continue;
            }
            assert_eq!(
                tunable.check(tunable.rocksdb_default()),
                Ok(()),
                "{tunable}"
            );
        }
        let cf = default_cf_tunables();
        assert_eq!(cf.len(), 10);
        assert!(cf.keys().all(|t| t.scope() == TunableScope::Cf));
        assert_eq!(check_cf_rules(DEFAULT_CF, &cf), Ok(()));
        let global = default_global_tunables();
        assert_eq!(global.len(), 6);
        assert_eq!(
            validate_global_changes(&global.into_iter().collect::<Vec<_>>()),
            Ok(())
        );
    }

    #[test]
    fn signed_values_are_checked_against_the_bounds() {
        assert_eq!(Tunable::MaxWriteBufferNumber.check_i64(4), Ok(4));
        let err = Tunable::MaxWriteBufferNumber.check_i64(-1).unwrap_err();
        assert!(err.to_string().contains("-1"), "{err}");
        assert!(err.to_string().contains("2..=256"), "{err}");
        assert!(Tunable::MaxWriteBufferNumber.check_i64(1).is_err());
    }

    #[test]
    fn values_are_parsed_and_bounded_with_the_option_named() {
        assert_eq!(Tunable::DisableAutoCompactions.parse_value("true"), Ok(1));
        let err = Tunable::DisableAutoCompactions
            .parse_value("yes")
            .unwrap_err();
        assert!(err.to_string().contains("disable_auto_compactions"));
        let err = Tunable::MaxBackgroundJobs.parse_value("0").unwrap_err();
        assert!(err.to_string().contains("max_background_jobs"));
        assert!(Tunable::WriteBufferSize.parse_value("-5").is_err());
        assert_eq!(
            Tunable::WriteBufferSize.parse_value(" 1048576 "),
            Ok(1 << 20)
        );
    }

    #[test]
    fn cross_rules_check_the_values_left_in_place() {
        let mut values = BTreeMap::new();
        values.insert(Tunable::Level0FileNumCompactionTrigger, 4);
        values.insert(Tunable::Level0SlowdownWritesTrigger, 20);
        values.insert(Tunable::Level0StopWritesTrigger, 36);
        assert!(check_cf_rules("a", &values).is_ok());
        values.insert(Tunable::Level0StopWritesTrigger, 10);
        let err = check_cf_rules("a", &values).unwrap_err();
        assert!(
            err.to_string().contains("level0_stop_writes_trigger"),
            "{err}"
        );
        values.insert(Tunable::Level0StopWritesTrigger, 40);
        values.insert(Tunable::SoftPendingCompactionBytesLimit, 10);
        values.insert(Tunable::HardPendingCompactionBytesLimit, 5);
        assert!(check_cf_rules("a", &values).is_err());
        values.insert(Tunable::HardPendingCompactionBytesLimit, 0);
        assert!(check_cf_rules("a", &values).is_ok(), "hard = 0 means off");
    }
}
