//! The first stage of a tick: drain the engine's rings into a [`Window`], read the sampler
//! and the tunables, and fold everything into one plain [`Observation`] per tick: rates,
//! latencies, per-column-family LSM state and the options in force, all keyed by *logical*
//! column-family name.
//!
//! The [`Collector`] owns the window and the id/name caches; it is drained many times per
//! tick (so the bounded rings never fill) and finished once per tick. It never calls a
//! mutating `Control` method and never blocks: `Observe` calls are non-blocking by contract.
//!
//! An observation is what `lsmedic-bench record` should write next to the features: the rule
//! policy reads it directly, the learned models read the normalised features built from it.

use std::collections::HashMap;

use lsmedic_telemetry::sample::SAMPLED_LEVELS;
use lsmedic_telemetry::{
    CfId, CfName, CfProperties, DbStatistics, EngineEvent, EngineEventKind, EventCounters, Observe,
    OpCounters, OpKind, Percentiles, Sample, StallCondition, ThrottleScope, Tunable, Tunables,
    Window,
};
use serde::{Deserialize, Serialize};

use crate::error::HealerError;

/// RocksDB's write-stall condition (a local copy of `StallCondition` with a default).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Stall {
    /// Writes run at full speed.
    #[default]
    Normal,
    /// Writes are delayed to `delayed_write_rate`.
    Delayed,
    /// Writes are stopped.
    Stopped,
}

impl From<StallCondition> for Stall {
    fn from(condition: StallCondition) -> Stall {
        match condition {
            StallCondition::Normal => Stall::Normal,
            StallCondition::Delayed => Stall::Delayed,
            StallCondition::Stopped => Stall::Stopped,
        }
    }
}

/// What one column family looked like during one tick.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CfObservation {
    /// Logical name.
    pub name: String,
    /// SST files per level (L0 first); unknown levels are 0.
    pub files_per_level: [u64; SAMPLED_LEVELS],
    /// `level0_file_num_compaction_trigger` in force.
    pub level0_file_num_compaction_trigger: u64,
    /// `level0_slowdown_writes_trigger` in force.
    pub level0_slowdown_writes_trigger: u64,
    /// `level0_stop_writes_trigger` in force.
    pub level0_stop_writes_trigger: u64,
    /// `estimate-pending-compaction-bytes`.
    pub pending_compaction_bytes: u64,
    /// `soft_pending_compaction_bytes_limit` in force (0 = off).
    pub soft_pending_compaction_bytes_limit: u64,
    /// `hard_pending_compaction_bytes_limit` in force (0 = off).
    pub hard_pending_compaction_bytes_limit: u64,
    /// Immutable memtables waiting for flush.
    pub immutable_memtables: u64,
    /// `max_write_buffer_number` in force.
    pub max_write_buffer_number: u64,
    /// `write_buffer_size` in force.
    pub write_buffer_size: u64,
    /// Bytes of all memtables (active + immutable).
    pub memtable_bytes: u64,
    /// Entries in the active memtable.
    pub active_memtable_entries: u64,
    /// Deletions in the active memtable.
    pub active_memtable_deletes: u64,
    /// Deletions in the immutable memtables.
    pub immutable_memtable_deletes: u64,
    /// A flush is pending.
    pub flush_pending: bool,
    /// A compaction is pending.
    pub compaction_pending: bool,
    /// RocksDB's stall condition of this column family: from its listener events, else from
    /// the properties; `Normal` whenever the (DB-wide) properties say no write is delayed or
    /// stopped.
    pub stall: Stall,
    /// `actual-delayed-write-rate` (bytes/s, 0 = not delayed).
    pub actual_delayed_write_rate: u64,
    /// Completed writes (put, delete, delete_range, batch) per second.
    pub write_ops_per_sec: f64,
    /// Payload bytes written per second.
    pub write_bytes_per_sec: f64,
    /// Deletes and range deletes per second.
    pub delete_ops_per_sec: f64,
    /// Completed reads (get, multi_get, scan) per second.
    pub read_ops_per_sec: f64,
    /// Scans (iterators) per second.
    pub scan_ops_per_sec: f64,
    /// Operations that failed with an error in the tick.
    pub op_errors: u64,
    /// Writes refused by the throttle in the tick.
    pub throttled: u64,
    /// Flushes finished per second.
    pub flushes_per_sec: f64,
    /// Flush output bytes per second.
    pub flush_bytes_per_sec: f64,
    /// Compactions finished per second.
    pub compactions_per_sec: f64,
    /// Compaction input bytes per second.
    pub compaction_input_bytes_per_sec: f64,
    /// Compactions that failed in the tick.
    pub compactions_failed: u64,
    /// Memtables sealed in the tick.
    pub memtables_sealed: u64,
    /// Deletions among the entries of the memtables sealed in the tick.
    pub sealed_deletes: u64,
    /// Entries of the memtables sealed in the tick.
    pub sealed_entries: u64,
    /// Background errors attributed to this column family in the tick.
    pub background_errors: u64,
    /// Corruption reports (background errors saying `Corruption`, compactions that met
    /// corrupt keys) in the tick.
    pub corruption_signals: u64,
    /// `live-sst-files-size`.
    pub live_sst_bytes: u64,
    /// `estimate-num-keys`.
    pub estimate_num_keys: u64,
    /// lsmedic's write limit on this column family (bytes/s), `None` = unlimited.
    pub write_rate_limit: Option<u64>,
}

impl CfObservation {
    /// L0 files.
    pub fn l0_files(&self) -> u64 {
        self.files_per_level[0]
    }

    /// L0 files as a fraction of `level0_slowdown_writes_trigger`.
    pub fn l0_slowdown_ratio(&self) -> f64 {
        ratio(self.l0_files(), self.level0_slowdown_writes_trigger)
    }

    /// The pending-bytes reference: the soft limit, else a quarter of the hard limit, else
    /// none (both off).
    pub fn pending_reference_bytes(&self) -> Option<u64> {
        if self.soft_pending_compaction_bytes_limit > 0 {
            Some(self.soft_pending_compaction_bytes_limit)
        } else if self.hard_pending_compaction_bytes_limit > 0 {
            Some(self.hard_pending_compaction_bytes_limit / 4)
        } else {
            None
        }
    }

    /// Pending compaction bytes as a fraction of the soft limit (see
    /// [`pending_reference_bytes`](Self::pending_reference_bytes)); 0 when both limits are off.
    pub fn pending_ratio(&self) -> f64 {
        self.pending_reference_bytes().map_or(0.0, |reference| {
            ratio(self.pending_compaction_bytes, reference)
        })
    }

    /// Immutable memtables as a fraction of `max_write_buffer_number − 1` (1.0 = one more
    /// sealed memtable and writes stop).
    pub fn memtable_ratio(&self) -> f64 {
        ratio(
            self.immutable_memtables,
            self.max_write_buffer_number.saturating_sub(1).max(1),
        )
    }

    /// Deletions among the entries of the memtables (active + sealed this tick), 0..=1.
    pub fn memtable_tombstone_ratio(&self) -> f64 {
        let deletes = self.active_memtable_deletes + self.sealed_deletes;
        let entries = self.active_memtable_entries + self.sealed_entries;
        if entries == 0 {
            0.0
        } else {
            (deletes as f64 / entries as f64).min(1.0)
        }
    }

    /// Files in L1 and below.
    pub fn files_below_l0(&self) -> u64 {
        self.files_per_level[1..].iter().sum()
    }
}

fn ratio(value: u64, reference: u64) -> f64 {
    if reference == 0 {
        0.0
    } else {
        value as f64 / reference as f64
    }
}

/// What the whole engine looked like during one tick.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalObservation {
    /// Completed operations per second (all kinds).
    pub ops_per_sec: f64,
    /// Completed writes per second.
    pub write_ops_per_sec: f64,
    /// Completed reads per second.
    pub read_ops_per_sec: f64,
    /// Payload bytes written per second.
    pub write_bytes_per_sec: f64,
    /// Latency of all writes.
    pub write_latency: Option<Percentiles>,
    /// Latency of all reads.
    pub read_latency: Option<Percentiles>,
    /// Latency of gets.
    pub get_latency: Option<Percentiles>,
    /// Latency of scans.
    pub scan_latency: Option<Percentiles>,
    /// Operations that failed in the tick.
    pub op_errors: u64,
    /// Writes the throttle refused in the tick.
    pub throttled: u64,
    /// Reads that found nothing in the tick.
    pub not_found: u64,
    /// Whether RocksDB statistics are available (the fields below marked "statistics" are 0
    /// otherwise).
    pub statistics_available: bool,
    /// Statistics: fraction of the tick writers spent stalled by RocksDB (0..=1).
    pub stall_fraction: f64,
    /// Statistics: block-cache hits per second.
    pub block_cache_hits_per_sec: f64,
    /// Statistics: block-cache misses per second.
    pub block_cache_misses_per_sec: f64,
    /// Statistics: block-cache hit ratio in the tick, `None` without lookups.
    pub block_cache_hit_ratio: Option<f64>,
    /// Statistics: memtable hit ratio of gets in the tick, `None` without gets.
    pub memtable_hit_ratio: Option<f64>,
    /// Statistics: WAL bytes per second.
    pub wal_bytes_per_sec: f64,
    /// Statistics: WAL syncs per second.
    pub wal_syncs_per_sec: f64,
    /// Statistics: compaction read + write bytes per second.
    pub compaction_bytes_per_sec: f64,
    /// Statistics: flush write bytes per second.
    pub flush_bytes_per_sec: f64,
    /// Block-cache usage in bytes.
    pub block_cache_usage: u64,
    /// Block-cache pinned usage in bytes.
    pub block_cache_pinned_usage: u64,
    /// Block-cache capacity in bytes (tunable in force, else the property).
    pub block_cache_capacity: u64,
    /// Flushes running.
    pub running_flushes: u64,
    /// Compactions running.
    pub running_compactions: u64,
    /// `max_background_jobs` in force.
    pub max_background_jobs: u64,
    /// `max_subcompactions` in force.
    pub max_subcompactions: u64,
    /// Low-priority (compaction) pool size.
    pub background_threads_low: u64,
    /// High-priority (flush) pool size.
    pub background_threads_high: u64,
    /// `delayed_write_rate` in force (bytes/s).
    pub delayed_write_rate: u64,
    /// lsmedic's engine-wide write limit (bytes/s), `None` = unlimited.
    pub write_rate_limit: Option<u64>,
    /// Stall-condition changes in the tick.
    pub stall_changes: u64,
    /// Worst stall condition over all column families.
    pub worst_stall: Stall,
    /// Background errors in the tick (all column families and DB-wide).
    pub background_errors: u64,
    /// Corruption reports that name no column family, in the tick.
    pub unattributed_corruption_signals: u64,
    /// Op events the rings dropped during the tick.
    pub dropped_ops: u64,
    /// Listener events the event ring dropped during the tick.
    pub dropped_events: u64,
}

impl GlobalObservation {
    /// The larger of the write and read p99 latencies in µs, `None` without operations.
    pub fn p99_latency_us(&self) -> Option<f64> {
        let write = self.write_latency.map(|p| p.p99_ns as f64 / 1e3);
        let read = self.read_latency.map(|p| p.p99_ns as f64 / 1e3);
        match (write, read) {
            (Some(w), Some(r)) => Some(w.max(r)),
            (w, r) => w.or(r),
        }
    }
}

/// Everything the healer knows about one tick.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Tick number (from 1).
    pub tick: u64,
    /// Start of the tick, ns on the engine's telemetry clock.
    pub start_ns: u64,
    /// End of the tick.
    pub end_ns: u64,
    /// Length of the tick in seconds (≥ 1 ms).
    pub duration_secs: f64,
    /// One entry per live logical column family, in the engine's order.
    pub cfs: Vec<CfObservation>,
    /// Engine-wide readings.
    pub global: GlobalObservation,
}

impl Observation {
    /// The observation of one column family.
    pub fn cf(&self, name: &str) -> Option<&CfObservation> {
        self.cfs.iter().find(|cf| cf.name == name)
    }
}

/// Listener facts the window does not count, per physical column family.
#[derive(Clone, Copy, Debug, Default)]
struct EventExtras {
    corruption_signals: u64,
    sealed_entries: u64,
    sealed_deletes: u64,
}

fn is_corruption(event: &EngineEvent) -> bool {
    match &event.kind {
        EngineEventKind::BackgroundError { message, .. } => {
            message.as_str().to_ascii_lowercase().contains("corruption")
        }
        EngineEventKind::CompactionCompleted { corrupt_keys, .. } => *corrupt_keys > 0,
        _ => false,
    }
}

/// Drains the rings and builds one [`Observation`] per tick.
pub struct Collector {
    window: Window,
    extras: Vec<(CfName, EventExtras)>,
    id_names: HashMap<CfId, String>,
    physical_names: HashMap<String, Option<String>>,
    prev_statistics: Option<DbStatistics>,
    prev_dropped: Option<(u64, u64)>,
    tick: u64,
    ops_drained: u64,
    events_drained: u64,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("tick", &self.tick)
            .field("ops_drained", &self.ops_drained)
            .field("events_drained", &self.events_drained)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// A collector whose first tick starts at `start_ns`.
    pub fn new(start_ns: u64) -> Result<Collector, HealerError> {
        Ok(Collector {
            window: Window::new(start_ns)?,
            extras: Vec::new(),
            id_names: HashMap::new(),
            physical_names: HashMap::new(),
            prev_statistics: None,
            prev_dropped: None,
            tick: 0,
            ops_drained: 0,
            events_drained: 0,
        })
    }

    /// Op and listener events drained since the collector was created.
    pub fn drained(&self) -> (u64, u64) {
        (self.ops_drained, self.events_drained)
    }

    /// Moves everything in the rings into the current window; returns (ops, events).
    pub fn drain<E: Observe + ?Sized>(&mut self, engine: &E) -> (usize, usize) {
        let window = &mut self.window;
        let ops = engine.drain_ops(&mut |op| window.record_op(&op));
        let extras = &mut self.extras;
        let events = engine.drain_events(&mut |event| {
            window.record_event(&event);
            let interesting = is_corruption(&event)
                || matches!(event.kind, EngineEventKind::MemtableSealed { .. });
            if !interesting {
                return;
            }
            let index = match extras.iter().position(|(name, _)| *name == event.cf_name) {
                Some(index) => index,
                None => {
                    extras.push((event.cf_name, EventExtras::default()));
                    extras.len() - 1
                }
            };
            let entry = &mut extras[index].1;
            if is_corruption(&event) {
                entry.corruption_signals += 1;
            }
            if let EngineEventKind::MemtableSealed { entries, deletes } = event.kind {
                entry.sealed_entries += entries;
                entry.sealed_deletes += deletes;
            }
        });
        self.ops_drained += ops as u64;
        self.events_drained += events as u64;
        (ops, events)
    }

    /// Drops what was drained so far and starts a new window at `now_ns` (mode off).
    pub fn discard(&mut self, now_ns: u64) {
        self.window.reset(now_ns);
        self.extras
            .iter_mut()
            .for_each(|(_, e)| *e = EventExtras::default());
        self.prev_statistics = None;
    }

    /// Forgets the id and name caches (after the column-family list changed).
    pub fn forget_names(&mut self) {
        self.id_names.clear();
        self.physical_names.clear();
    }

    fn logical_of_physical<E: Observe + ?Sized>(
        &mut self,
        engine: &E,
        physical: &str,
    ) -> Option<String> {
        if let Some(known) = self.physical_names.get(physical) {
            return known.clone();
        }
        let logical = engine.logical_cf_of(physical);
        self.physical_names
            .insert(physical.to_owned(), logical.clone());
        logical
    }

    /// Ends the tick: closes the window, reads the sampler, and returns the observation;
    /// the window is then reset for the next tick. `tunables` are the options in force.
    pub fn finish_tick<E: Observe + ?Sized>(
        &mut self,
        engine: &E,
        tunables: &Tunables,
    ) -> Observation {
        let end_ns = engine.now_ns().max(self.window.start_ns());
        self.window.close(end_ns);
        let sample = engine.sample();
        self.tick += 1;
        let start_ns = self.window.start_ns();
        let rate = Rate {
            duration_secs: ((end_ns - start_ns) as f64 / 1e9).max(1e-3),
        };
        let ops_by_name = self.ops_by_name(engine);
        let (events_by_name, unattributed_corruption) = self.events_by_name(engine);
        let delta = self.statistics_delta(&sample);
        let cfs: Vec<CfObservation> = sample
            .cfs
            .iter()
            .map(|props| {
                let ops = ops_by_name.get(&props.name).copied().unwrap_or_default();
                let events = events_by_name.get(&props.name).copied().unwrap_or_default();
                cf_observation(props, tunables, &ops, events, rate)
            })
            .collect();
        let mut global = self.global_observation(&sample, tunables, &cfs, rate);
        global.unattributed_corruption_signals = unattributed_corruption;
        (global.dropped_ops, global.dropped_events) = self.dropped_delta(engine);
        if let Some(delta) = delta {
            add_statistics(&mut global, &delta, rate);
        }
        let observation = Observation {
            tick: self.tick,
            start_ns,
            end_ns,
            duration_secs: rate.duration_secs,
            cfs,
            global,
        };
        self.window.reset(end_ns);
        self.extras
            .iter_mut()
            .for_each(|(_, e)| *e = EventExtras::default());
        observation
    }

    /// The window's op counters per logical column family (several ids may map to one name
    /// across a rebuild).
    fn ops_by_name<E: Observe + ?Sized>(&mut self, engine: &E) -> HashMap<String, OpCounters> {
        let op_ids: Vec<CfId> = self.window.op_cfs().collect();
        let mut ops_by_name: HashMap<String, OpCounters> = HashMap::new();
        for id in op_ids {
            let name = match self.id_names.get(&id) {
                Some(name) => name.clone(),
                None => match engine.cf_name_of(id) {
                    Some(name) => {
                        self.id_names.insert(id, name.clone());
                        name
                    }
                    None => continue,
                },
            };
            let counters = self.window.op_counters(Some(id));
            let entry = ops_by_name.entry(name).or_default();
            for kind in OpKind::ALL {
                entry.ops[kind.index()] += counters.ops[kind.index()];
                entry.bytes[kind.index()] += counters.bytes[kind.index()];
            }
            entry.errors += counters.errors;
            entry.not_found += counters.not_found;
            entry.throttled += counters.throttled;
        }
        ops_by_name
    }

    /// The window's listener events per logical column family, and the corruption reports
    /// that name none.
    fn events_by_name<E: Observe + ?Sized>(
        &mut self,
        engine: &E,
    ) -> (HashMap<String, CfEvents>, u64) {
        let physical: Vec<String> = self.window.event_cf_names().map(str::to_owned).collect();
        let mut events_by_name: HashMap<String, CfEvents> = HashMap::new();
        let mut unattributed_corruption = 0;
        for name in physical {
            let counters = self.window.events(Some(&name));
            let extras = self
                .extras
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, e)| *e)
                .unwrap_or_default();
            let logical = if name.is_empty() {
                None
            } else {
                self.logical_of_physical(engine, &name)
            };
            let Some(logical) = logical else {
                unattributed_corruption += extras.corruption_signals;
                continue;
            };
            let entry = events_by_name.entry(logical).or_default();
            add_event_counts(&mut entry.counters, &counters);
            entry.counters.stall_condition =
                worse(entry.counters.stall_condition, counters.stall_condition);
            entry.extras.corruption_signals += extras.corruption_signals;
            entry.extras.sealed_deletes += extras.sealed_deletes;
            entry.extras.sealed_entries += extras.sealed_entries;
        }
        (events_by_name, unattributed_corruption)
    }

    /// RocksDB statistics counted during the tick (`None` without statistics or on the first
    /// tick that has them).
    fn statistics_delta(&mut self, sample: &Sample) -> Option<DbStatistics> {
        let delta = match (sample.statistics.as_ref(), self.prev_statistics.as_ref()) {
            (Some(now), Some(before)) => Some(statistics_delta(now, before)),
            _ => None,
        };
        self.prev_statistics = sample.statistics.clone();
        delta
    }

    /// Op and listener events the rings dropped during the tick.
    fn dropped_delta<E: Observe + ?Sized>(&mut self, engine: &E) -> (u64, u64) {
        let dropped = engine.dropped();
        let delta = match self.prev_dropped {
            Some((ops, events)) => (
                dropped.0.saturating_sub(ops),
                dropped.1.saturating_sub(events),
            ),
            None => (0, 0),
        };
        self.prev_dropped = Some(dropped);
        delta
    }

    /// The engine-wide readings of the window and the sample; the corruption, drop and
    /// statistics fields are left for the caller.
    fn global_observation(
        &self,
        sample: &Sample,
        tunables: &Tunables,
        cfs: &[CfObservation],
        rate: Rate,
    ) -> GlobalObservation {
        let all_ops = self.window.op_counters(None);
        let db_events = self.window.events(None);
        let first_cf = sample.cfs.first();
        let first = |read: fn(&CfProperties) -> Option<u64>| first_cf.and_then(read).unwrap_or(0);
        // Options the engine does not report are at RocksDB's defaults.
        let global_value = |t: Tunable| tunables.global(t).unwrap_or(t.rocksdb_default());
        GlobalObservation {
            ops_per_sec: rate.per_sec(all_ops.ops(None)),
            write_ops_per_sec: rate.per_sec(sum_ops(&all_ops, OpKind::is_write)),
            read_ops_per_sec: rate.per_sec(sum_ops(&all_ops, OpKind::is_read)),
            write_bytes_per_sec: rate.per_sec(sum_bytes(&all_ops, OpKind::is_write)),
            write_latency: self.window.write_latency(),
            read_latency: self.window.read_latency(),
            get_latency: self.window.latency(OpKind::Get),
            scan_latency: self.window.latency(OpKind::Scan),
            op_errors: all_ops.errors,
            throttled: all_ops.throttled,
            not_found: all_ops.not_found,
            statistics_available: sample.statistics.is_some(),
            block_cache_usage: first(|cf| cf.block_cache_usage),
            block_cache_pinned_usage: first(|cf| cf.block_cache_pinned_usage),
            block_cache_capacity: tunables
                .global(Tunable::BlockCacheCapacity)
                .or_else(|| first_cf.and_then(|cf| cf.block_cache_capacity))
                .unwrap_or(0),
            running_flushes: first(|cf| cf.num_running_flushes),
            running_compactions: first(|cf| cf.num_running_compactions),
            max_background_jobs: global_value(Tunable::MaxBackgroundJobs),
            max_subcompactions: global_value(Tunable::MaxSubcompactions),
            background_threads_low: global_value(Tunable::BackgroundThreadsLow),
            background_threads_high: global_value(Tunable::BackgroundThreadsHigh),
            delayed_write_rate: global_value(Tunable::DelayedWriteRate),
            write_rate_limit: tunables.write_rate_limits.get(&ThrottleScope::All).copied(),
            stall_changes: db_events.stall_changes,
            worst_stall: cfs.iter().map(|cf| cf.stall).max().unwrap_or_default(),
            background_errors: db_events.background_errors,
            ..GlobalObservation::default()
        }
    }
}

/// Listener events of one logical column family in a tick.
#[derive(Clone, Copy, Debug, Default)]
struct CfEvents {
    counters: EventCounters,
    extras: EventExtras,
}

/// Counts over the tick turned into rates.
#[derive(Clone, Copy, Debug)]
struct Rate {
    /// Length of the tick (≥ 1 ms).
    duration_secs: f64,
}

impl Rate {
    fn per_sec(self, count: u64) -> f64 {
        count as f64 / self.duration_secs
    }
}

/// Completed operations of the kinds `which` selects.
fn sum_ops(counters: &OpCounters, which: fn(OpKind) -> bool) -> u64 {
    OpKind::ALL
        .iter()
        .filter(|k| which(**k))
        .map(|k| counters.ops[k.index()])
        .sum()
}

/// Payload bytes of the kinds `which` selects.
fn sum_bytes(counters: &OpCounters, which: fn(OpKind) -> bool) -> u64 {
    OpKind::ALL
        .iter()
        .filter(|k| which(**k))
        .map(|k| counters.bytes[k.index()])
        .sum()
}

/// RocksDB's stall condition of a column family: from its listener events, else from the
/// properties; `Normal` whenever the (DB-wide) properties say nothing is delayed or stopped.
fn cf_stall(props: &CfProperties, events: &EventCounters) -> Stall {
    // RocksDB's write controller is DB-wide: when the properties say nothing is delayed or
    // stopped, a stall remembered from the listener is stale (e.g. from the physical column
    // family a rebuild replaced).
    let properties_say_normal =
        props.is_write_stopped == Some(0) && props.actual_delayed_write_rate == Some(0);
    if properties_say_normal {
        return Stall::Normal;
    }
    let property_stall = if props.is_write_stopped.unwrap_or(0) > 0 {
        Some(StallCondition::Stopped)
    } else if props.actual_delayed_write_rate.unwrap_or(0) > 0 {
        Some(StallCondition::Delayed)
    } else {
        None
    };
    events
        .stall_condition
        .or(property_stall)
        .map_or(Stall::Normal, Stall::from)
}

/// One column family's observation from its properties, the options in force and its ops
/// and events in the tick.
fn cf_observation(
    props: &CfProperties,
    tunables: &Tunables,
    ops: &OpCounters,
    events: CfEvents,
    rate: Rate,
) -> CfObservation {
    let name = props.name.clone();
    let value = |t: Tunable| tunables.cf(&name, t).unwrap_or(t.rocksdb_default());
    let CfEvents { counters, extras } = events;
    let mut files_per_level = [0u64; SAMPLED_LEVELS];
    for (slot, files) in files_per_level.iter_mut().zip(&props.num_files_at_level) {
        *slot = files.unwrap_or(0);
    }
    let delete_ops = ops.ops[OpKind::Delete.index()] + ops.ops[OpKind::DeleteRange.index()];
    CfObservation {
        files_per_level,
        level0_file_num_compaction_trigger: value(Tunable::Level0FileNumCompactionTrigger),
        level0_slowdown_writes_trigger: value(Tunable::Level0SlowdownWritesTrigger),
        level0_stop_writes_trigger: value(Tunable::Level0StopWritesTrigger),
        pending_compaction_bytes: props.estimate_pending_compaction_bytes.unwrap_or(0),
        soft_pending_compaction_bytes_limit: value(Tunable::SoftPendingCompactionBytesLimit),
        hard_pending_compaction_bytes_limit: value(Tunable::HardPendingCompactionBytesLimit),
        immutable_memtables: props.num_immutable_mem_table.unwrap_or(0),
        max_write_buffer_number: value(Tunable::MaxWriteBufferNumber),
        write_buffer_size: value(Tunable::WriteBufferSize),
        memtable_bytes: props.cur_size_all_mem_tables.unwrap_or(0),
        active_memtable_entries: props.num_entries_active_mem_table.unwrap_or(0),
        active_memtable_deletes: props.num_deletes_active_mem_table.unwrap_or(0),
        immutable_memtable_deletes: props.num_deletes_imm_mem_tables.unwrap_or(0),
        flush_pending: props.mem_table_flush_pending.unwrap_or(0) > 0,
        compaction_pending: props.compaction_pending.unwrap_or(0) > 0,
        stall: cf_stall(props, &counters),
        actual_delayed_write_rate: props.actual_delayed_write_rate.unwrap_or(0),
        write_ops_per_sec: rate.per_sec(sum_ops(ops, OpKind::is_write)),
        write_bytes_per_sec: rate.per_sec(sum_bytes(ops, OpKind::is_write)),
        delete_ops_per_sec: rate.per_sec(delete_ops),
        read_ops_per_sec: rate.per_sec(sum_ops(ops, OpKind::is_read)),
        scan_ops_per_sec: rate.per_sec(ops.ops[OpKind::Scan.index()]),
        op_errors: ops.errors,
        throttled: ops.throttled,
        flushes_per_sec: rate.per_sec(counters.flush_completed),
        flush_bytes_per_sec: rate.per_sec(counters.flush_bytes),
        compactions_per_sec: rate.per_sec(counters.compaction_completed),
        compaction_input_bytes_per_sec: rate.per_sec(counters.compaction_input_bytes),
        compactions_failed: counters.compaction_failed,
        memtables_sealed: counters.memtables_sealed,
        sealed_deletes: extras.sealed_deletes,
        sealed_entries: extras.sealed_entries,
        background_errors: counters.background_errors,
        corruption_signals: extras.corruption_signals,
        live_sst_bytes: props.live_sst_files_size.unwrap_or(0),
        estimate_num_keys: props.estimate_num_keys.unwrap_or(0),
        write_rate_limit: tunables
            .write_rate_limits
            .get(&ThrottleScope::Cf(name.clone()))
            .copied(),
        name,
    }
}

/// The statistics-based fields of `global`, from the tick's statistics `delta`.
fn add_statistics(global: &mut GlobalObservation, delta: &DbStatistics, rate: Rate) {
    let tick_micros = rate.duration_secs * 1e6;
    global.stall_fraction = (delta.stall_micros as f64 / tick_micros).clamp(0.0, 1.0);
    global.block_cache_hits_per_sec = rate.per_sec(delta.block_cache_hit);
    global.block_cache_misses_per_sec = rate.per_sec(delta.block_cache_miss);
    global.block_cache_hit_ratio = delta.block_cache_hit_ratio();
    let gets = delta.memtable_hit + delta.memtable_miss;
    global.memtable_hit_ratio = (gets > 0).then(|| delta.memtable_hit as f64 / gets as f64);
    global.wal_bytes_per_sec = rate.per_sec(delta.wal_bytes);
    global.wal_syncs_per_sec = rate.per_sec(delta.wal_synced);
    global.compaction_bytes_per_sec =
        rate.per_sec(delta.compact_read_bytes + delta.compact_write_bytes);
    global.flush_bytes_per_sec = rate.per_sec(delta.flush_write_bytes);
}

fn add_event_counts(into: &mut EventCounters, from: &EventCounters) {
    into.flush_begin += from.flush_begin;
    into.flush_completed += from.flush_completed;
    into.flush_bytes += from.flush_bytes;
    into.compaction_begin += from.compaction_begin;
    into.compaction_completed += from.compaction_completed;
    into.compaction_failed += from.compaction_failed;
    into.compaction_input_bytes += from.compaction_input_bytes;
    into.compaction_output_bytes += from.compaction_output_bytes;
    into.stall_changes += from.stall_changes;
    into.memtables_sealed += from.memtables_sealed;
    into.background_errors += from.background_errors;
}

fn stall_severity(condition: StallCondition) -> u8 {
    match condition {
        StallCondition::Normal => 0,
        StallCondition::Delayed => 1,
        StallCondition::Stopped => 2,
    }
}

fn worse(a: Option<StallCondition>, b: Option<StallCondition>) -> Option<StallCondition> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if stall_severity(b) > stall_severity(a) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// Counters of `now` minus `before` (saturating: statistics may have been reset).
fn statistics_delta(now: &DbStatistics, before: &DbStatistics) -> DbStatistics {
    DbStatistics {
        stall_micros: now.stall_micros.saturating_sub(before.stall_micros),
        compact_read_bytes: now
            .compact_read_bytes
            .saturating_sub(before.compact_read_bytes),
        compact_write_bytes: now
            .compact_write_bytes
            .saturating_sub(before.compact_write_bytes),
        flush_write_bytes: now
            .flush_write_bytes
            .saturating_sub(before.flush_write_bytes),
        block_cache_hit: now.block_cache_hit.saturating_sub(before.block_cache_hit),
        block_cache_miss: now.block_cache_miss.saturating_sub(before.block_cache_miss),
        wal_bytes: now.wal_bytes.saturating_sub(before.wal_bytes),
        wal_synced: now.wal_synced.saturating_sub(before.wal_synced),
        bytes_written: now.bytes_written.saturating_sub(before.bytes_written),
        bytes_read: now.bytes_read.saturating_sub(before.bytes_read),
        memtable_hit: now.memtable_hit.saturating_sub(before.memtable_hit),
        memtable_miss: now.memtable_miss.saturating_sub(before.memtable_miss),
        db_write_micros: now.db_write_micros,
        db_get_micros: now.db_get_micros,
        write_stall_micros: now.write_stall_micros,
    }
}
