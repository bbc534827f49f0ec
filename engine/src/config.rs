//! Engine configuration: typed, validated once at open, serialisable (TOML/JSON) with
//! RocksDB's own option names so that an operator's RocksDB knowledge carries over.
//!
//! Defaults are RocksDB's, except where lsmedic needs something RocksDB leaves off
//! (statistics on, a 10-bit Bloom filter). [`EngineConfig::db_options`] and
//! [`CfOptions::rocksdb_options`] build the exact `rocksdb::Options` the engine opens with,
//! so a benchmark can open raw RocksDB with identical options.
//!
//! Options the healer can retune online take their defaults, bounds and cross-option rules
//! from [`lsmedic_telemetry::control`], so what is accepted at open is what `Control` can set
//! again; only the options that are not tunables are checked here.

use std::collections::BTreeMap;

use lsmedic_telemetry::control::check_cf_rules;
use lsmedic_telemetry::{ControlError, Tunable, DEFAULT_CF};
use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Block compression of SST files.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// Snappy (RocksDB's default).
    #[default]
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    fn rocksdb(self) -> DBCompressionType {
        match self {
            Compression::None => DBCompressionType::None,
            Compression::Snappy => DBCompressionType::Snappy,
            Compression::Lz4 => DBCompressionType::Lz4,
            Compression::Zstd => DBCompressionType::Zstd,
        }
    }
}

/// Options of one column family (RocksDB's `ColumnFamilyOptions` subset lsmedic manages).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CfOptions {
    /// Bytes of one memtable before it is sealed and flushed.
    pub write_buffer_size: u64,
    /// Memtables (active + immutable) kept before writes stop.
    pub max_write_buffer_number: i32,
    /// Immutable memtables merged into one flush.
    pub min_write_buffer_number_to_merge: i32,
    /// L0 files that trigger a compaction.
    pub level0_file_num_compaction_trigger: i32,
    /// L0 files at which writes slow down.
    pub level0_slowdown_writes_trigger: i32,
    /// L0 files at which writes stop.
    pub level0_stop_writes_trigger: i32,
    /// Pending compaction bytes at which writes slow down (0 = off).
    pub soft_pending_compaction_bytes_limit: u64,
    /// Pending compaction bytes at which writes stop (0 = off).
    pub hard_pending_compaction_bytes_limit: u64,
    /// Target size of an SST file at L1.
    pub target_file_size_base: u64,
    /// Total size target of L1.
    pub max_bytes_for_level_base: u64,
    /// Size ratio between adjacent levels.
    pub max_bytes_for_level_multiplier: f64,
    /// Stop automatic compactions (manual ones still run).
    pub disable_auto_compactions: bool,
    /// Block compression.
    pub compression: Compression,
    /// Bloom-filter bits per key (0 = no filter).
    pub bloom_filter_bits_per_key: f64,
    /// Uncompressed size of a data block.
    pub block_size: u64,
    /// Let RocksDB size the levels from the last level's actual size (RocksDB's default
    /// since 8.4): level targets follow the data, which bounds space amplification.
    pub level_compaction_dynamic_level_bytes: bool,
    /// Mark an SST file for compaction when it is heavy with point tombstones (RocksDB's
    /// `CompactOnDeletionCollector`); `None` = off.
    pub compact_on_deletion_collector: Option<CompactOnDeletionCollectorConfig>,
}

/// RocksDB's `CompactOnDeletionCollector`: a table-properties collector that marks a newly
/// written SST file for compaction when at least `deletion_trigger` of any
/// `sliding_window_size` consecutive entries are deletions, or when deletions make up at least
/// `deletion_ratio` of the whole file. RocksDB then compacts that file on its own, so the
/// tombstones stop costing scans and reads without anyone calling `compact_range`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactOnDeletionCollectorConfig {
    /// Entries in the sliding window ("N"); 0 turns the window trigger off.
    pub sliding_window_size: u64,
    /// Deletions within one window that mark the file ("D"), 1..=`sliding_window_size`.
    #[serde(default)]
    pub deletion_trigger: u64,
    /// Fraction of deletions in the whole file that marks it, in (0, 1]; 0 = off.
    #[serde(default)]
    pub deletion_ratio: f64,
}

impl CompactOnDeletionCollectorConfig {
    /// Checks the window, trigger and ratio; errors name the option and the column family.
    fn validate(&self, cf: &str) -> Result<()> {
        if self.sliding_window_size > MAX_COLLECTOR_WINDOW {
            return Err(invalid(
                "compact_on_deletion_collector.sliding_window_size",
                cf,
                self.sliding_window_size,
                format!("must be in 0..={MAX_COLLECTOR_WINDOW} (0 = no window trigger)"),
            ));
        }
        if self.sliding_window_size > 0 {
            check_range(
                "compact_on_deletion_collector.deletion_trigger",
                cf,
                self.deletion_trigger,
                1,
                self.sliding_window_size,
            )?;
        }
        if !(self.deletion_ratio.is_finite() && (0.0..=1.0).contains(&self.deletion_ratio)) {
            return Err(invalid(
                "compact_on_deletion_collector.deletion_ratio",
                cf,
                self.deletion_ratio,
                "must be a number in [0, 1] (0 = no ratio trigger)",
            ));
        }
        if self.sliding_window_size == 0 && self.deletion_ratio == 0.0 {
            return Err(invalid(
                "compact_on_deletion_collector",
                cf,
                "sliding_window_size = 0, deletion_ratio = 0",
                "turns no trigger on: set sliding_window_size or deletion_ratio, or omit the \
                 collector",
            ));
        }
        Ok(())
    }
}

/// Largest sliding window of the deletion collector (RocksDB keeps it in 128 buckets).
const MAX_COLLECTOR_WINDOW: u64 = 1 << 30;

impl Default for CfOptions {
    fn default() -> Self {
        CfOptions {
            write_buffer_size: Tunable::WriteBufferSize.rocksdb_default(),
            max_write_buffer_number: default_count(Tunable::MaxWriteBufferNumber),
            min_write_buffer_number_to_merge: 1,
            level0_file_num_compaction_trigger: default_count(
                Tunable::Level0FileNumCompactionTrigger,
            ),
            level0_slowdown_writes_trigger: default_count(Tunable::Level0SlowdownWritesTrigger),
            level0_stop_writes_trigger: default_count(Tunable::Level0StopWritesTrigger),
            soft_pending_compaction_bytes_limit: Tunable::SoftPendingCompactionBytesLimit
                .rocksdb_default(),
            hard_pending_compaction_bytes_limit: Tunable::HardPendingCompactionBytesLimit
                .rocksdb_default(),
            target_file_size_base: Tunable::TargetFileSizeBase.rocksdb_default(),
            max_bytes_for_level_base: Tunable::MaxBytesForLevelBase.rocksdb_default(),
            max_bytes_for_level_multiplier: 10.0,
            disable_auto_compactions: Tunable::DisableAutoCompactions.rocksdb_default() != 0,
            compression: Compression::Snappy,
            bloom_filter_bits_per_key: 10.0,
            block_size: 4 * KIB,
            level_compaction_dynamic_level_bytes: true,
            compact_on_deletion_collector: None,
        }
    }
}

/// RocksDB's default of a tunable that RocksDB declares as an `int` count (all are small).
fn default_count(tunable: Tunable) -> i32 {
    tunable.rocksdb_default() as i32
}

/// Appended to the reason when a value lies outside a tunable's bounds (with `hint`, if not
/// empty): an option is accepted only where the healer could set it again through `Control`.
fn bounds_note(hint: &str) -> String {
    format!(" (the bounds of the online tunable{hint})")
}

/// The engine's error for a value telemetry refused for a tunable: `option` is the
/// configuration's name of it (`None`: the tunable's own name, which CF options share), `note`
/// follows the reason.
fn refused(err: ControlError, option: Option<&'static str>, note: &str) -> Error {
    match err {
        ControlError::InvalidValue {
            option: tunable,
            cf,
            value,
            reason,
        } => match option.or_else(|| Tunable::from_name(&tunable).map(Tunable::name)) {
            Some(option) => Error::InvalidOption {
                option,
                cf,
                value,
                reason: format!("{reason}{note}"),
            },
            None => Error::Control(ControlError::InvalidValue {
                option: tunable,
                cf,
                value,
                reason,
            }),
        },
        other => Error::Control(other),
    }
}

fn invalid(option: &'static str, cf: &str, value: impl ToString, reason: impl ToString) -> Error {
    Error::InvalidOption {
        option,
        cf: Some(cf.to_owned()),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn check_range<T: PartialOrd + ToString + Copy>(
    option: &'static str,
    cf: &str,
    value: T,
    min: T,
    max: T,
) -> Result<()> {
    if value < min || value > max {
        return Err(invalid(
            option,
            cf,
            value,
            format!("must be in {}..={}", min.to_string(), max.to_string()),
        ));
    }
    Ok(())
}

impl CfOptions {
    /// Checks every option: the tunables against telemetry's bounds and cross-option rules
    /// (RocksDB would otherwise silently "sanitise" compaction trigger ≤ slowdown ≤ stop and
    /// soft ≤ hard), the other options against their own ranges. Errors name the option and
    /// the column family `cf`.
    pub fn validate(&self, cf: &str) -> Result<()> {
        let tunables = self.tunables_within_bounds(cf)?;
        check_cf_rules(cf, &tunables).map_err(|err| refused(err, None, ""))?;
        self.validate_other_options(cf)
    }

    /// The tunables, each within the bounds the `Control` surface enforces: what the healer
    /// may set online it must also be able to start from.
    fn tunables_within_bounds(&self, cf: &str) -> Result<BTreeMap<Tunable, u64>> {
        let note = bounds_note("");
        let out_of_bounds = |err: ControlError| refused(err.in_cf(Some(cf)), None, &note);
        for (tunable, count) in self.count_tunables() {
            tunable.check_i64(count.into()).map_err(out_of_bounds)?;
        }
        let tunables = self.tunables();
        for (&tunable, &value) in &tunables {
            tunable.check(value).map_err(out_of_bounds)?;
        }
        Ok(tunables)
    }

    /// Ranges of the options that are not online tunables.
    fn validate_other_options(&self, cf: &str) -> Result<()> {
        check_range(
            "min_write_buffer_number_to_merge",
            cf,
            self.min_write_buffer_number_to_merge,
            1,
            self.max_write_buffer_number - 1,
        )?;
        if !(self.max_bytes_for_level_multiplier.is_finite()
            && self.max_bytes_for_level_multiplier > 1.0
            && self.max_bytes_for_level_multiplier <= 100.0)
        {
            return Err(invalid(
                "max_bytes_for_level_multiplier",
                cf,
                self.max_bytes_for_level_multiplier,
                "must be a number in (1, 100]",
            ));
        }
        if !(self.bloom_filter_bits_per_key.is_finite()
            && (0.0..=64.0).contains(&self.bloom_filter_bits_per_key))
        {
            return Err(invalid(
                "bloom_filter_bits_per_key",
                cf,
                self.bloom_filter_bits_per_key,
                "must be a number in [0, 64]",
            ));
        }
        check_range("block_size", cf, self.block_size, 256, 64 * MIB)?;
        match &self.compact_on_deletion_collector {
            Some(collector) => collector.validate(cf),
            None => Ok(()),
        }
    }

    /// The tunables RocksDB declares as `int` counts, as configured (possibly negative).
    fn count_tunables(&self) -> [(Tunable, i32); 4] {
        [
            (Tunable::MaxWriteBufferNumber, self.max_write_buffer_number),
            (
                Tunable::Level0FileNumCompactionTrigger,
                self.level0_file_num_compaction_trigger,
            ),
            (
                Tunable::Level0SlowdownWritesTrigger,
                self.level0_slowdown_writes_trigger,
            ),
            (
                Tunable::Level0StopWritesTrigger,
                self.level0_stop_writes_trigger,
            ),
        ]
    }

    /// The online-tunable subset of these options, as the `Control` surface names them.
    pub fn tunables(&self) -> BTreeMap<Tunable, u64> {
        let counts = self
            .count_tunables()
            .map(|(tunable, count)| (tunable, count as u64));
        let sizes = [
            (Tunable::WriteBufferSize, self.write_buffer_size),
            (
                Tunable::SoftPendingCompactionBytesLimit,
                self.soft_pending_compaction_bytes_limit,
            ),
            (
                Tunable::HardPendingCompactionBytesLimit,
                self.hard_pending_compaction_bytes_limit,
            ),
            (Tunable::TargetFileSizeBase, self.target_file_size_base),
            (Tunable::MaxBytesForLevelBase, self.max_bytes_for_level_base),
            (
                Tunable::DisableAutoCompactions,
                u64::from(self.disable_auto_compactions),
            ),
        ];
        counts.into_iter().chain(sizes).collect()
    }

    /// Overwrites the tunable options with `values` (the engine's current settings).
    pub fn apply_tunables(&mut self, values: &BTreeMap<Tunable, u64>) {
        for (&tunable, &value) in values {
            match tunable {
                Tunable::WriteBufferSize => self.write_buffer_size = value,
                Tunable::MaxWriteBufferNumber => self.max_write_buffer_number = value as i32,
                Tunable::Level0FileNumCompactionTrigger => {
                    self.level0_file_num_compaction_trigger = value as i32
                }
                Tunable::Level0SlowdownWritesTrigger => {
                    self.level0_slowdown_writes_trigger = value as i32
                }
                Tunable::Level0StopWritesTrigger => self.level0_stop_writes_trigger = value as i32,
                Tunable::SoftPendingCompactionBytesLimit => {
                    self.soft_pending_compaction_bytes_limit = value
                }
                Tunable::HardPendingCompactionBytesLimit => {
                    self.hard_pending_compaction_bytes_limit = value
                }
                Tunable::TargetFileSizeBase => self.target_file_size_base = value,
                Tunable::MaxBytesForLevelBase => self.max_bytes_for_level_base = value,
                Tunable::DisableAutoCompactions => self.disable_auto_compactions = value != 0,
                _ => {}
            }
        }
    }

    /// The `rocksdb::Options` for this column family, sharing `block_cache`.
    pub fn rocksdb_options(&self, block_cache: &Cache) -> Options {
        let mut opts = Options::default();
        self.apply(&mut opts, block_cache);
        opts
    }

    /// Writes these CF options into `opts` (also used for the DB's default CF).
    pub fn apply(&self, opts: &mut Options, block_cache: &Cache) {
        opts.set_write_buffer_size(self.write_buffer_size as usize);
        opts.set_max_write_buffer_number(self.max_write_buffer_number);
        opts.set_min_write_buffer_number_to_merge(self.min_write_buffer_number_to_merge);
        opts.set_level_zero_file_num_compaction_trigger(self.level0_file_num_compaction_trigger);
        opts.set_level_zero_slowdown_writes_trigger(self.level0_slowdown_writes_trigger);
        opts.set_level_zero_stop_writes_trigger(self.level0_stop_writes_trigger);
        opts.set_soft_pending_compaction_bytes_limit(
            self.soft_pending_compaction_bytes_limit as usize,
        );
        opts.set_hard_pending_compaction_bytes_limit(
            self.hard_pending_compaction_bytes_limit as usize,
        );
        opts.set_target_file_size_base(self.target_file_size_base);
        opts.set_max_bytes_for_level_base(self.max_bytes_for_level_base);
        opts.set_max_bytes_for_level_multiplier(self.max_bytes_for_level_multiplier);
        opts.set_disable_auto_compactions(self.disable_auto_compactions);
        opts.set_compression_type(self.compression.rocksdb());
        opts.set_level_compaction_dynamic_level_bytes(self.level_compaction_dynamic_level_bytes);
        if let Some(collector) = &self.compact_on_deletion_collector {
            // Validated: the window and trigger are at most 2^30, so they fit a usize.
            opts.add_compact_on_deletion_collector_factory(
                collector.sliding_window_size as usize,
                collector.deletion_trigger as usize,
                collector.deletion_ratio,
            );
        }
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(block_cache);
        table.set_block_size(self.block_size as usize);
        if self.bloom_filter_bits_per_key > 0.0 {
            table.set_bloom_filter(self.bloom_filter_bits_per_key, false);
        }
        opts.set_block_based_table_factory(&table);
    }
}

/// One column family to create at open (or whose options to use when it exists).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnFamilyConfig {
    /// The column family's name.
    pub name: String,
    /// Its options; fields left out take RocksDB's defaults (see [`CfOptions::default`]).
    #[serde(default)]
    pub options: CfOptions,
}

/// Sizes of the telemetry rings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Op-ring shards (0 = twice the CPU count rounded up to a power of two, at most 16).
    pub op_ring_shards: usize,
    /// Capacity of each op-ring shard, in events (32 bytes each). One thread owns one shard,
    /// so at the healer's 100 ms tick the default holds ~650k ops/s per thread before drops.
    pub op_ring_capacity: usize,
    /// Capacity of the listener-event ring, in events.
    pub event_ring_capacity: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            op_ring_shards: 0,
            op_ring_capacity: 64 * 1024,
            event_ring_capacity: 4 * 1024,
        }
    }
}

/// Periodic deep checkpoints, from which a column-family rebuild refills ranges it cannot
/// read (see [`crate::checkpoints`]). Off by default: each checkpoint is a full copy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Take checkpoints.
    pub enabled: bool,
    /// Where; default: `<database path>.lsmedic-checkpoints` beside the database.
    pub dir: Option<std::path::PathBuf>,
    /// Seconds between checkpoints.
    pub interval_secs: u64,
    /// Checkpoints kept (older ones are deleted).
    pub keep: usize,
    /// Seconds a WAL file is kept in RocksDB's WAL archive after it stops being live
    /// (`WAL_ttl_seconds`); `None`: twice `interval_secs`, at least 60. A rebuild replays the
    /// archived records written after the newest checkpoint, so the archive must reach back
    /// to it: a WAL file is deleted only once its last write is older than this.
    pub wal_archive_secs: Option<u64>,
    /// Upper bound of the WAL archive in MiB (`WAL_size_limit_MB`, checked by RocksDB every
    /// 10 minutes); 0: no size bound, only the age bound. A bound that cuts the archive
    /// short of the newest checkpoint makes a refill impossible: the range is reported lost.
    pub wal_archive_mb: u64,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            enabled: false,
            dir: None,
            interval_secs: 600,
            keep: 2,
            wal_archive_secs: None,
            wal_archive_mb: 0,
        }
    }
}

impl CheckpointConfig {
    /// The checkpoint directory for a database at `db_path`.
    pub fn directory(&self, db_path: &std::path::Path) -> std::path::PathBuf {
        self.dir.clone().unwrap_or_else(|| {
            let mut name = db_path
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| "db".into());
            name.push(".lsmedic-checkpoints");
            db_path.with_file_name(name)
        })
    }

    /// The WAL archive's age bound in seconds (see [`CheckpointConfig::wal_archive_secs`]).
    pub fn wal_archive_ttl_secs(&self) -> u64 {
        self.wal_archive_secs
            .unwrap_or_else(|| self.interval_secs.saturating_mul(2).max(60))
    }
}

/// Recovery from background errors RocksDB does not resume from by itself (see
/// [`crate::recovery`]): the engine reopens the database in place, keeping every handle the
/// application holds valid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryConfig {
    /// Reopen automatically after an I/O error or a full disk stopped writes (engines opened
    /// with [`Engine::open_shared`](crate::Engine::open_shared)); off: only
    /// [`Engine::recover`](crate::Engine::recover) reopens.
    pub auto: bool,
    /// Free space (MiB) the database's file system must have before an automatic reopen:
    /// reopening writes a new WAL and MANIFEST and flushes, so a reopen on a still-full disk
    /// would only fail again, with the database closed meanwhile.
    pub min_free_mb: u64,
    /// Milliseconds between checks while writes are refused.
    pub retry_interval_ms: u64,
    /// Milliseconds a reopen waits for open iterators (and a checkpoint being written) to
    /// release the database before it gives up and tries again later.
    pub reader_wait_ms: u64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            auto: true,
            min_free_mb: 64,
            retry_interval_ms: 1000,
            reader_wait_ms: 10_000,
        }
    }
}

/// RocksDB's rate limiter for flush and compaction writes (`NewGenericRateLimiter`, writes
/// only; the WAL and foreground reads are never limited). With `auto_tuned`, RocksDB moves
/// the limit by itself within `[rate_bytes_per_sec / 20, rate_bytes_per_sec]` after the
/// recent demand for background I/O: it lowers the limit while the limiter is seldom used up
/// and raises it by 5 % per 100 refill periods while it often is, so background writes are
/// spread out instead of arriving in bursts. RocksDB also syncs SST files every 1 MiB when a
/// limiter is set and `bytes_per_sync` is 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimiterConfig {
    /// The limit (bytes/s); with `auto_tuned`, its ceiling.
    pub rate_bytes_per_sec: u64,
    /// How often tokens are refilled (µs); RocksDB's default 100 ms.
    #[serde(default = "RateLimiterConfig::default_refill_period_us")]
    pub refill_period_us: u64,
    /// 1 in `fairness` requests of compaction (low priority) goes before pending flush
    /// requests (high priority), so compactions are not starved; RocksDB's default 10.
    #[serde(default = "RateLimiterConfig::default_fairness")]
    pub fairness: u32,
    /// Let RocksDB tune the limit below `rate_bytes_per_sec` (see the type's docs).
    #[serde(default)]
    pub auto_tuned: bool,
}

impl RateLimiterConfig {
    const MIN_RATE_BYTES_PER_SEC: u64 = 64 * KIB;
    const MAX_RATE_BYTES_PER_SEC: u64 = 1 << 40;
    const MIN_REFILL_PERIOD_US: u64 = 1_000;
    const MAX_REFILL_PERIOD_US: u64 = 10_000_000;
    const MAX_FAIRNESS: u32 = 100;

    /// RocksDB's auto-tuned limiter with `ceiling_bytes_per_sec` and RocksDB's defaults for
    /// the refill period and fairness.
    pub fn auto_tuned(ceiling_bytes_per_sec: u64) -> Self {
        RateLimiterConfig {
            rate_bytes_per_sec: ceiling_bytes_per_sec,
            refill_period_us: Self::default_refill_period_us(),
            fairness: Self::default_fairness(),
            auto_tuned: true,
        }
    }

    fn default_refill_period_us() -> u64 {
        100_000
    }

    fn default_fairness() -> u32 {
        10
    }

    /// Checks the rate, refill period and fairness (RocksDB asserts they are positive and
    /// divides by them); errors name the option.
    fn validate(&self) -> Result<()> {
        let out_of_range = |option: &'static str, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(db_invalid(
                    option,
                    value,
                    format!("must be in {min}..={max}"),
                ))
            }
        };
        out_of_range(
            "rate_limiter.rate_bytes_per_sec",
            self.rate_bytes_per_sec,
            Self::MIN_RATE_BYTES_PER_SEC,
            Self::MAX_RATE_BYTES_PER_SEC,
        )?;
        out_of_range(
            "rate_limiter.refill_period_us",
            self.refill_period_us,
            Self::MIN_REFILL_PERIOD_US,
            Self::MAX_REFILL_PERIOD_US,
        )?;
        out_of_range(
            "rate_limiter.fairness",
            self.fairness.into(),
            1,
            Self::MAX_FAIRNESS.into(),
        )
    }

    /// Installs the limiter into `opts`.
    fn apply(&self, opts: &mut Options) {
        // Validated: every value is far below i64::MAX and i32::MAX.
        let rate = self.rate_bytes_per_sec as i64;
        let refill = self.refill_period_us as i64;
        let fairness = self.fairness as i32;
        if self.auto_tuned {
            opts.set_auto_tuned_ratelimiter(rate, refill, fairness);
        } else {
            opts.set_ratelimiter(rate, refill, fairness);
        }
    }
}

/// How to open an [`Engine`](crate::Engine): RocksDB DB options, column families, telemetry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Create the database when the directory has none.
    pub create_if_missing: bool,
    /// Create configured column families that the database lacks.
    pub create_missing_column_families: bool,
    /// RocksDB's aggressive consistency checks (background errors on corruption).
    pub paranoid_checks: bool,
    /// Contain a compaction that meets corrupt data: clear RocksDB's background error so the
    /// database keeps accepting writes, and quarantine the column family whose files are
    /// damaged (its automatic compactions stop until it is rebuilt, so the damaged file is
    /// not read again). Off: RocksDB's own behaviour, every write refused until a reopen.
    /// Other background errors (I/O errors, a full disk, a failed flush) are never contained.
    pub contain_compaction_corruption: bool,
    /// Flush + compaction threads.
    pub max_background_jobs: i32,
    /// Threads one compaction may split into.
    pub max_subcompactions: u32,
    /// Write rate (bytes/s) RocksDB applies while writes are delayed.
    pub delayed_write_rate: u64,
    /// WAL size that forces flushes of the oldest memtables (0 = automatic).
    pub max_total_wal_size: u64,
    /// Sync SST writes every this many bytes (0 = off; 1 MiB when a rate limiter is set).
    pub bytes_per_sync: u64,
    /// Sync WAL writes every this many bytes (0 = off), so the OS writes the WAL back in
    /// steady steps instead of in one burst at the next fsync.
    pub wal_bytes_per_sync: u64,
    /// Collect RocksDB statistics (tickers, histograms) for the sampler.
    pub statistics: bool,
    /// Read SST files with `O_DIRECT` (RocksDB `use_direct_reads`): the OS page cache is
    /// bypassed, so a block-cache miss costs a real device read. The file system must support
    /// `O_DIRECT` (tmpfs does not; opening then fails with RocksDB's error).
    pub use_direct_reads: bool,
    /// Write flush and compaction output with `O_DIRECT` (RocksDB
    /// `use_direct_io_for_flush_and_compaction`).
    pub use_direct_io_for_flush_and_compaction: bool,
    /// Block-cache capacity in bytes, shared by all column families.
    pub block_cache_size: u64,
    /// Budget of all memtables together (RocksDB `WriteBufferManager`); `None` = unlimited.
    pub write_buffer_manager_size: Option<u64>,
    /// Rate limit of flush and compaction writes (RocksDB `rate_limiter`); `None` = none.
    pub rate_limiter: Option<RateLimiterConfig>,
    /// Options of the default column family and of column families created without options.
    pub cf_options: CfOptions,
    /// Column families to create or open, with their options.
    pub column_families: Vec<ColumnFamilyConfig>,
    /// Ring sizes.
    pub telemetry: TelemetryConfig,
    /// Periodic deep checkpoints (off by default).
    pub checkpoints: CheckpointConfig,
    /// Recovery from errors RocksDB does not resume from (I/O errors, a full disk).
    pub recovery: RecoveryConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            create_if_missing: true,
            create_missing_column_families: true,
            paranoid_checks: true,
            contain_compaction_corruption: true,
            max_background_jobs: default_count(Tunable::MaxBackgroundJobs),
            max_subcompactions: Tunable::MaxSubcompactions.rocksdb_default() as u32,
            delayed_write_rate: Tunable::DelayedWriteRate.rocksdb_default(),
            max_total_wal_size: 0,
            bytes_per_sync: 0,
            wal_bytes_per_sync: 0,
            statistics: true,
            use_direct_reads: false,
            use_direct_io_for_flush_and_compaction: false,
            block_cache_size: Tunable::BlockCacheCapacity.rocksdb_default(),
            write_buffer_manager_size: None,
            rate_limiter: None,
            cf_options: CfOptions::default(),
            column_families: Vec::new(),
            telemetry: TelemetryConfig::default(),
            checkpoints: CheckpointConfig::default(),
            recovery: RecoveryConfig::default(),
        }
    }
}

fn db_invalid(option: &'static str, value: impl ToString, reason: impl ToString) -> Error {
    Error::InvalidOption {
        option,
        cf: None,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl EngineConfig {
    /// Parses a TOML document; unknown options and wrong types are errors naming the field.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::ConfigParse {
            format: "TOML",
            message: e.to_string(),
        })
    }

    /// Parses a JSON document; unknown options and wrong types are errors naming the field.
    pub fn from_json_str(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::ConfigParse {
            format: "JSON",
            message: e.to_string(),
        })
    }

    /// Options of the column family `name` as configured (the defaults when not listed).
    pub fn cf_options_for(&self, name: &str) -> &CfOptions {
        self.column_families
            .iter()
            .find(|cf| cf.name == name)
            .map(|cf| &cf.options)
            .unwrap_or(&self.cf_options)
    }

    /// Checks every option and cross-option rule; the first problem is returned.
    pub fn validate(&self) -> Result<()> {
        self.validate_db_tunables()?;
        if let Some(rate_limiter) = &self.rate_limiter {
            rate_limiter.validate()?;
        }
        self.validate_telemetry()?;
        self.validate_checkpoints()?;
        if self.recovery.retry_interval_ms == 0 {
            return Err(db_invalid(
                "recovery.retry_interval_ms",
                0,
                "must be at least 1 millisecond",
            ));
        }
        self.validate_column_families()
    }

    /// The DB-wide options that are online tunables, against telemetry's bounds.
    fn validate_db_tunables(&self) -> Result<()> {
        let out_of_bounds = |option: &'static str, hint: &str| {
            let note = bounds_note(hint);
            move |err: ControlError| refused(err, Some(option), &note)
        };
        Tunable::MaxBackgroundJobs
            .check_i64(self.max_background_jobs.into())
            .map_err(out_of_bounds("max_background_jobs", ""))?;
        Tunable::MaxSubcompactions
            .check(self.max_subcompactions.into())
            .map_err(out_of_bounds("max_subcompactions", ""))?;
        Tunable::DelayedWriteRate
            .check(self.delayed_write_rate)
            .map_err(out_of_bounds("delayed_write_rate", ""))?;
        Tunable::BlockCacheCapacity
            .check(self.block_cache_size)
            .map_err(out_of_bounds("block_cache_size", ""))?;
        if let Some(size) = self.write_buffer_manager_size {
            Tunable::WriteBufferManagerSize
                .check(size)
                .map_err(out_of_bounds(
                    "write_buffer_manager_size",
                    "; omit it for no limit",
                ))?;
        }
        Ok(())
    }

    /// Ring sizes.
    fn validate_telemetry(&self) -> Result<()> {
        let telemetry = &self.telemetry;
        for (option, value) in [
            ("telemetry.op_ring_capacity", telemetry.op_ring_capacity),
            (
                "telemetry.event_ring_capacity",
                telemetry.event_ring_capacity,
            ),
        ] {
            if !(2..=1 << 24).contains(&value) {
                return Err(db_invalid(option, value, "must be in 2..=16777216"));
            }
        }
        if telemetry.op_ring_shards > 256 {
            return Err(db_invalid(
                "telemetry.op_ring_shards",
                telemetry.op_ring_shards,
                "must be in 0..=256 (0 = automatic)",
            ));
        }
        Ok(())
    }

    /// Checkpoint period and retention.
    fn validate_checkpoints(&self) -> Result<()> {
        if self.checkpoints.wal_archive_secs == Some(0) {
            return Err(db_invalid(
                "checkpoints.wal_archive_secs",
                "0".to_owned(),
                "the WAL archive must keep files for at least 1 s (omit it for the default)",
            ));
        }
        if self.checkpoints.interval_secs == 0 || self.checkpoints.keep == 0 {
            return Err(db_invalid(
                "checkpoints",
                format!(
                    "interval_secs = {}, keep = {}",
                    self.checkpoints.interval_secs, self.checkpoints.keep
                ),
                "interval_secs and keep must be at least 1",
            ));
        }
        Ok(())
    }

    /// The default column family's options, then every configured column family: valid,
    /// distinct names and valid options.
    fn validate_column_families(&self) -> Result<()> {
        self.cf_options.validate(DEFAULT_CF)?;
        let mut seen = std::collections::HashSet::new();
        for cf in &self.column_families {
            validate_cf_name(&cf.name)?;
            if !seen.insert(cf.name.as_str()) {
                return Err(Error::ColumnFamilyExists {
                    name: cf.name.clone(),
                });
            }
            cf.options.validate(&cf.name)?;
        }
        Ok(())
    }

    /// The DB-wide `rocksdb::Options` (with the default CF's options) the engine opens with;
    /// the engine adds its event listener on top.
    pub fn db_options(&self, block_cache: &Cache) -> Options {
        let mut opts = self.cf_options_for(DEFAULT_CF).rocksdb_options(block_cache);
        opts.create_if_missing(self.create_if_missing);
        opts.create_missing_column_families(self.create_missing_column_families);
        opts.set_paranoid_checks(self.paranoid_checks);
        opts.set_max_background_jobs(self.max_background_jobs);
        opts.set_max_subcompactions(self.max_subcompactions);
        crate::raw::set_delayed_write_rate(&mut opts, self.delayed_write_rate);
        opts.set_max_total_wal_size(self.max_total_wal_size);
        opts.set_bytes_per_sync(self.bytes_per_sync);
        opts.set_wal_bytes_per_sync(self.wal_bytes_per_sync);
        if self.checkpoints.enabled {
            // Archive WAL files instead of deleting them: a rebuild replays the records
            // written since the newest checkpoint (see `crate::checkpoints`).
            opts.set_wal_ttl_seconds(self.checkpoints.wal_archive_ttl_secs());
            opts.set_wal_size_limit_mb(self.checkpoints.wal_archive_mb);
        }
        if let Some(rate_limiter) = &self.rate_limiter {
            rate_limiter.apply(&mut opts);
        }
        opts.set_use_direct_reads(self.use_direct_reads);
        opts.set_use_direct_io_for_flush_and_compaction(
            self.use_direct_io_for_flush_and_compaction,
        );
        if self.statistics {
            opts.enable_statistics();
        }
        opts
    }
}

/// Checks a column-family name: 1 to 200 bytes, no NUL, not lsmedic's reserved prefix.
pub fn validate_cf_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() || name.len() > crate::cf_map::MAX_LOGICAL_NAME_BYTES {
        Some(format!(
            "must be 1..={} bytes",
            crate::cf_map::MAX_LOGICAL_NAME_BYTES
        ))
    } else if name.contains('\0') {
        Some("must not contain NUL".to_owned())
    } else if name.contains(crate::cf_map::RESERVED_PREFIX) {
        Some(format!(
            "must not contain {:?} (reserved by lsmedic)",
            crate::cf_map::RESERVED_PREFIX
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidOption {
            option: "column_family.name",
            cf: None,
            value: format!("{name:?}"),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        EngineConfig::default().validate().expect("defaults valid");
    }

    #[test]
    fn options_beyond_the_tunable_bounds_are_rejected() {
        // Accepted at open, then refused by the `Control` surface when the healer restores
        // them (found by the engine_config fuzz target).
        for text in [
            "block_cache_size = 2199023255552",
            "delayed_write_rate = 1099511627776000",
            "[cf_options]\nhard_pending_compaction_bytes_limit = 0\n\
             soft_pending_compaction_bytes_limit = 9223372036854775807",
        ] {
            let config = EngineConfig::from_toml_str(text).expect("parses");
            let err = config.validate().unwrap_err();
            assert!(
                err.to_string().contains("bounds of the online tunable"),
                "{err}"
            );
        }
    }

    #[test]
    fn slowdown_above_stop_is_rejected_with_option_named() {
        let mut config = EngineConfig::default();
        config.cf_options.level0_stop_writes_trigger = 10;
        let err = config.validate().unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidOption {
                option: "level0_stop_writes_trigger",
                ..
            }
        ));
    }

    #[test]
    fn unknown_option_in_toml_is_named() {
        let err = EngineConfig::from_toml_str("max_backgroud_jobs = 4").unwrap_err();
        assert!(err.to_string().contains("max_backgroud_jobs"), "{err}");
    }

    #[test]
    fn wrong_type_in_json_is_an_error() {
        let err = EngineConfig::from_json_str(r#"{"max_background_jobs": "four"}"#).unwrap_err();
        assert!(matches!(err, Error::ConfigParse { format: "JSON", .. }));
    }

    #[test]
    fn toml_round_trip_keeps_every_field() {
        let mut config = EngineConfig::default();
        config.column_families.push(ColumnFamilyConfig {
            name: "users".into(),
            options: CfOptions {
                write_buffer_size: MIB,
                compression: Compression::Zstd,
                ..CfOptions::default()
            },
        });
        config.write_buffer_manager_size = Some(128 * MIB);
        let text = toml::to_string(&config).expect("serialise");
        assert_eq!(EngineConfig::from_toml_str(&text).expect("parse"), config);
    }

    #[test]
    fn duplicate_column_family_is_rejected() {
        let mut config = EngineConfig::default();
        for _ in 0..2 {
            config.column_families.push(ColumnFamilyConfig {
                name: "a".into(),
                options: CfOptions::default(),
            });
        }
        assert!(matches!(
            config.validate(),
            Err(Error::ColumnFamilyExists { .. })
        ));
    }
}
