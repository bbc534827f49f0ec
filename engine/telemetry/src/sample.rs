//! What the sampler reads from RocksDB each healer tick: per-CF integer properties and
//! DB-wide statistics. Plain data, produced by `lsmedic-engine`, consumed by the healer.
//!
//! Property names are RocksDB's (`rocksdb.num-immutable-mem-table`, …); a property RocksDB
//! cannot answer is `None`, never a made-up zero.

use serde::{Deserialize, Serialize};

/// Levels whose file counts are sampled (`rocksdb.num-files-at-level<N>`, N < this).
pub const SAMPLED_LEVELS: usize = 7;

/// Per-column-family integer properties at one instant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CfProperties {
    /// Logical column-family name.
    pub name: String,
    /// `rocksdb.num-immutable-mem-table`
    pub num_immutable_mem_table: Option<u64>,
    /// `rocksdb.num-files-at-level<N>` for N in 0..SAMPLED_LEVELS.
    pub num_files_at_level: [Option<u64>; SAMPLED_LEVELS],
    /// `rocksdb.estimate-pending-compaction-bytes`
    pub estimate_pending_compaction_bytes: Option<u64>,
    /// `rocksdb.cur-size-active-mem-table`
    pub cur_size_active_mem_table: Option<u64>,
    /// `rocksdb.cur-size-all-mem-tables`
    pub cur_size_all_mem_tables: Option<u64>,
    /// `rocksdb.size-all-mem-tables` (includes pinned memtables)
    pub size_all_mem_tables: Option<u64>,
    /// `rocksdb.num-entries-active-mem-table`
    pub num_entries_active_mem_table: Option<u64>,
    /// `rocksdb.num-deletes-active-mem-table`
    pub num_deletes_active_mem_table: Option<u64>,
    /// `rocksdb.mem-table-flush-pending` (0 or 1)
    pub mem_table_flush_pending: Option<u64>,
    /// `rocksdb.compaction-pending` (0 or 1)
    pub compaction_pending: Option<u64>,
    /// `rocksdb.actual-delayed-write-rate` (bytes/s, 0 when not delayed)
    pub actual_delayed_write_rate: Option<u64>,
    /// `rocksdb.is-write-stopped` (0 or 1)
    pub is_write_stopped: Option<u64>,
    /// `rocksdb.num-running-flushes` (DB-wide, repeated per CF for convenience)
    pub num_running_flushes: Option<u64>,
    /// `rocksdb.num-running-compactions` (DB-wide)
    pub num_running_compactions: Option<u64>,
    /// `rocksdb.block-cache-usage`
    pub block_cache_usage: Option<u64>,
    /// `rocksdb.block-cache-pinned-usage`
    pub block_cache_pinned_usage: Option<u64>,
    /// `rocksdb.block-cache-capacity`
    pub block_cache_capacity: Option<u64>,
    /// `rocksdb.live-sst-files-size`
    pub live_sst_files_size: Option<u64>,
    /// `rocksdb.total-sst-files-size`
    pub total_sst_files_size: Option<u64>,
    /// `rocksdb.estimate-num-keys`
    pub estimate_num_keys: Option<u64>,
    /// `rocksdb.num-deletes-imm-mem-tables`
    pub num_deletes_imm_mem_tables: Option<u64>,
}

impl CfProperties {
    /// L0 file count, the usual stall driver.
    pub fn l0_files(&self) -> Option<u64> {
        self.num_files_at_level[0]
    }
}

/// Summary of one RocksDB statistics histogram (values in RocksDB's unit, usually µs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistogramSummary {
    /// Samples since the statistics were created.
    pub count: u64,
    /// Sum of samples.
    pub sum: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// DB-wide statistics tickers and histograms (cumulative since open).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DbStatistics {
    /// `rocksdb.stall.micros`: total time writers were stalled.
    pub stall_micros: u64,
    /// `rocksdb.compact.read.bytes`
    pub compact_read_bytes: u64,
    /// `rocksdb.compact.write.bytes`
    pub compact_write_bytes: u64,
    /// `rocksdb.flush.write.bytes`
    pub flush_write_bytes: u64,
    /// `rocksdb.block.cache.hit`
    pub block_cache_hit: u64,
    /// `rocksdb.block.cache.miss`
    pub block_cache_miss: u64,
    /// `rocksdb.wal.bytes`
    pub wal_bytes: u64,
    /// `rocksdb.wal.synced`
    pub wal_synced: u64,
    /// `rocksdb.bytes.written`
    pub bytes_written: u64,
    /// `rocksdb.bytes.read`
    pub bytes_read: u64,
    /// `rocksdb.memtable.hit`
    pub memtable_hit: u64,
    /// `rocksdb.memtable.miss`
    pub memtable_miss: u64,
    /// `rocksdb.db.write.micros`
    pub db_write_micros: HistogramSummary,
    /// `rocksdb.db.get.micros`
    pub db_get_micros: HistogramSummary,
    /// `rocksdb.db.write.stall`
    pub write_stall_micros: HistogramSummary,
}

impl DbStatistics {
    /// Block-cache hit ratio over the whole life of the statistics, `None` before any lookup.
    pub fn block_cache_hit_ratio(&self) -> Option<f64> {
        let total = self.block_cache_hit + self.block_cache_miss;
        (total > 0).then(|| self.block_cache_hit as f64 / total as f64)
    }
}

/// One sampler reading: all CFs plus DB-wide statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When the sample was taken, ns since the engine's telemetry epoch.
    pub at_ns: u64,
    /// One entry per live logical column family.
    pub cfs: Vec<CfProperties>,
    /// DB-wide statistics (`None` when statistics are disabled in the config).
    pub statistics: Option<DbStatistics>,
}

impl Sample {
    /// Properties of one logical column family.
    pub fn cf(&self, name: &str) -> Option<&CfProperties> {
        self.cfs.iter().find(|cf| cf.name == name)
    }

    /// Whether any column family reports writes stopped or delayed right now.
    pub fn any_write_stall(&self) -> bool {
        self.cfs.iter().any(|cf| {
            cf.is_write_stopped.unwrap_or(0) > 0 || cf.actual_delayed_write_rate.unwrap_or(0) > 0
        })
    }
}
