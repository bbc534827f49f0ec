//! The sampler: reads RocksDB's per-CF integer properties and DB-wide statistics on demand
//! (the healer calls it once per tick). Property names are prepared once; a property RocksDB
//! cannot answer becomes `None`.

use lsmedic_telemetry::sample::SAMPLED_LEVELS;
use lsmedic_telemetry::{CfProperties, DbStatistics, HistogramSummary, Sample};
use rocksdb::properties::{self, PropName, PropertyName};
use rocksdb::statistics::{Histogram, Ticker};

use crate::engine::Engine;

/// Prepared property names.
pub(crate) struct Sampler {
    files_at_level: Vec<PropertyName>,
}

fn histogram(engine: &Engine, which: Histogram) -> HistogramSummary {
    let data = engine.options().get_histogram_data(which);
    HistogramSummary {
        count: data.count(),
        sum: data.sum(),
        p50: data.median(),
        p95: data.p95(),
        p99: data.p99(),
        max: data.max(),
    }
}

impl Sampler {
    pub(crate) fn new() -> Self {
        Sampler {
            files_at_level: (0..SAMPLED_LEVELS)
                .map(properties::num_files_at_level)
                .collect(),
        }
    }

    pub(crate) fn sample(&self, engine: &Engine) -> Sample {
        let at_ns = engine.telemetry().clock().now_ns();
        let table = engine.cf_table();
        // While the database is closed for a reopen the table has no entries.
        let cfs = table
            .entries
            .iter()
            .filter_map(|entry| Some((table.db().ok()?, entry)))
            .map(|(db, entry)| {
                let read =
                    |name: &PropName| db.property_int_value_cf(&entry.handle, name).ok().flatten();
                let mut num_files_at_level = [None; SAMPLED_LEVELS];
                for (slot, name) in num_files_at_level.iter_mut().zip(&self.files_at_level) {
                    *slot = read(name);
                }
                CfProperties {
                    name: entry.name.clone(),
                    num_immutable_mem_table: read(properties::NUM_IMMUTABLE_MEM_TABLE),
                    num_files_at_level,
                    estimate_pending_compaction_bytes: read(
                        properties::ESTIMATE_PENDING_COMPACTION_BYTES,
                    ),
                    cur_size_active_mem_table: read(properties::CUR_SIZE_ACTIVE_MEM_TABLE),
                    cur_size_all_mem_tables: read(properties::CUR_SIZE_ALL_MEM_TABLES),
                    size_all_mem_tables: read(properties::SIZE_ALL_MEM_TABLES),
                    num_entries_active_mem_table: read(properties::NUM_ENTRIES_ACTIVE_MEM_TABLE),
                    num_deletes_active_mem_table: read(properties::NUM_DELETES_ACTIVE_MEM_TABLE),
                    mem_table_flush_pending: read(properties::MEM_TABLE_FLUSH_PENDING),
                    compaction_pending: read(properties::COMPACTION_PENDING),
                    actual_delayed_write_rate: read(properties::ACTUAL_DELAYED_WRITE_RATE),
                    is_write_stopped: read(properties::IS_WRITE_STOPPED),
                    num_running_flushes: read(properties::NUM_RUNNING_FLUSHES),
                    num_running_compactions: read(properties::NUM_RUNNING_COMPACTIONS),
                    block_cache_usage: read(properties::BLOCK_CACHE_USAGE),
                    block_cache_pinned_usage: read(properties::BLOCK_CACHE_PINNED_USAGE),
                    block_cache_capacity: read(properties::BLOCK_CACHE_CAPACITY),
                    live_sst_files_size: read(properties::LIVE_SST_FILES_SIZE),
                    total_sst_files_size: read(properties::TOTAL_SST_FILES_SIZE),
                    estimate_num_keys: read(properties::ESTIMATE_NUM_KEYS),
                    num_deletes_imm_mem_tables: read(properties::NUM_DELETES_IMM_MEM_TABLES),
                }
            })
            .collect();
        let statistics = engine.config().statistics.then(|| {
            let options = engine.options();
            let ticker = |which: Ticker| options.get_ticker_count(which);
            DbStatistics {
                stall_micros: ticker(Ticker::StallMicros),
                compact_read_bytes: ticker(Ticker::CompactReadBytes),
                compact_write_bytes: ticker(Ticker::CompactWriteBytes),
                flush_write_bytes: ticker(Ticker::FlushWriteBytes),
                block_cache_hit: ticker(Ticker::BlockCacheHit),
                block_cache_miss: ticker(Ticker::BlockCacheMiss),
                wal_bytes: ticker(Ticker::WalFileBytes),
                wal_synced: ticker(Ticker::WalFileSynced),
                bytes_written: ticker(Ticker::BytesWritten),
                bytes_read: ticker(Ticker::BytesRead),
                memtable_hit: ticker(Ticker::MemtableHit),
                memtable_miss: ticker(Ticker::MemtableMiss),
                db_write_micros: histogram(engine, Histogram::DbWrite),
                db_get_micros: histogram(engine, Histogram::DbGet),
                write_stall_micros: histogram(engine, Histogram::WriteStall),
            }
        });
        Sample {
            at_ns,
            cfs,
            statistics,
        }
    }
}
