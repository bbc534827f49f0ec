//! A stub engine for tests and benchmarks (TiKV's `EngineStub` pattern): implements
//! [`Control`] and [`Observe`] over plain data, with scripted telemetry and a record of every
//! control call, so the healer's logic is exercised without RocksDB.
//!
//! Control calls are validated like the real engine does (hard bounds, scopes, cross-option
//! rules) and applied to an in-memory [`Tunables`], so snapshots and roll-backs behave. Time
//! is a manual clock ([`StubEngine::advance`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lsmedic_telemetry::control::{
    validate_cf_changes, validate_global_changes, validate_write_rate_limit,
};
use lsmedic_telemetry::{
    default_cf_tunables, default_global_tunables, CfId, CfProperties, Control, ControlError,
    DbStatistics, EngineEvent, Observe, OpEvent, OpKind, OpOutcome, RebuildReport, Sample,
    ThrottleScope, Tunable, Tunables,
};
use parking_lot::Mutex;

/// One call a [`StubEngine`] received through [`Control`].
#[derive(Clone, Debug, PartialEq)]
pub enum ControlCall {
    /// `set_global`.
    SetGlobal(Vec<(Tunable, u64)>),
    /// `set_cf`.
    SetCf(String, Vec<(Tunable, u64)>),
    /// `set_write_rate_limit`.
    SetWriteRateLimit(ThrottleScope, Option<u64>),
    /// `restore`.
    Restore(Tunables),
    /// `flush`.
    Flush(String),
    /// `compact_range` (whole CF only is recorded as `None`).
    CompactRange(String, Option<(Vec<u8>, Vec<u8>)>),
    /// `wait_for_compactions`.
    WaitForCompactions,
    /// `rebuild_cf`.
    RebuildCf(String),
}

impl ControlCall {
    /// Whether the call changes the engine (everything but `wait_for_compactions`).
    pub fn is_mutating(&self) -> bool {
        !matches!(self, ControlCall::WaitForCompactions)
    }
}

#[derive(Debug)]
struct StubState {
    cfs: Vec<String>,
    tunables: Tunables,
    ops: Vec<OpEvent>,
    events: Vec<EngineEvent>,
    properties: BTreeMap<String, CfProperties>,
    statistics: Option<DbStatistics>,
    dropped: (u64, u64),
    calls: Vec<ControlCall>,
    fail_mutations: Option<String>,
}

/// The stub engine (see the module docs).
#[derive(Debug)]
pub struct StubEngine {
    state: Mutex<StubState>,
    now_ns: AtomicU64,
}

const MIB: u64 = 1024 * 1024;

/// The stub's block cache (smaller than RocksDB's own default cache, so tests fill it fast).
const STUB_BLOCK_CACHE: u64 = 8 * MIB;

fn empty_properties(name: &str) -> CfProperties {
    CfProperties {
        name: name.to_owned(),
        num_immutable_mem_table: Some(0),
        num_files_at_level: [Some(0); lsmedic_telemetry::sample::SAMPLED_LEVELS],
        estimate_pending_compaction_bytes: Some(0),
        cur_size_active_mem_table: Some(0),
        cur_size_all_mem_tables: Some(0),
        size_all_mem_tables: Some(0),
        num_entries_active_mem_table: Some(0),
        num_deletes_active_mem_table: Some(0),
        mem_table_flush_pending: Some(0),
        compaction_pending: Some(0),
        actual_delayed_write_rate: Some(0),
        is_write_stopped: Some(0),
        num_running_flushes: Some(0),
        num_running_compactions: Some(0),
        block_cache_usage: Some(0),
        block_cache_pinned_usage: Some(0),
        block_cache_capacity: Some(STUB_BLOCK_CACHE),
        live_sst_files_size: Some(0),
        total_sst_files_size: Some(0),
        estimate_num_keys: Some(0),
        num_deletes_imm_mem_tables: Some(0),
    }
}

impl StubEngine {
    /// A stub with column families `cfs` (ids in order), RocksDB-default tunables but an
    /// 8 MiB block cache, statistics on, and an idle LSM.
    pub fn new(cfs: &[&str]) -> StubEngine {
        let mut global = default_global_tunables();
        global.insert(Tunable::BlockCacheCapacity, STUB_BLOCK_CACHE);
        let mut tunables = Tunables {
            global,
            ..Tunables::default()
        };
        for cf in cfs {
            tunables.cfs.insert((*cf).to_owned(), default_cf_tunables());
        }
        StubEngine {
            state: Mutex::new(StubState {
                cfs: cfs.iter().map(|c| (*c).to_owned()).collect(),
                tunables,
                ops: Vec::new(),
                events: Vec::new(),
                properties: cfs
                    .iter()
                    .map(|c| ((*c).to_owned(), empty_properties(c)))
                    .collect(),
                statistics: Some(DbStatistics::default()),
                dropped: (0, 0),
                calls: Vec::new(),
                fail_mutations: None,
            }),
            now_ns: AtomicU64::new(1_000_000_000),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.now_ns
            .fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Adds a column family (next id).
    pub fn add_cf(&self, name: &str) {
        let mut state = self.state.lock();
        state.cfs.push(name.to_owned());
        state
            .tunables
            .cfs
            .insert(name.to_owned(), default_cf_tunables());
        state
            .properties
            .insert(name.to_owned(), empty_properties(name));
    }

    /// Id of a column family.
    pub fn cf_id(&self, name: &str) -> Option<CfId> {
        let state = self.state.lock();
        state.cfs.iter().position(|c| c == name).map(|i| i as CfId)
    }

    /// Queues an op event for the next drain.
    pub fn push_op(&self, op: OpEvent) {
        self.state.lock().ops.push(op);
    }

    /// Queues `count` completed ops of `kind` on `cf`, each `bytes` long and `latency_ns`
    /// slow, ending now.
    pub fn push_ops(&self, cf: &str, kind: OpKind, count: usize, bytes: u32, latency_ns: u32) {
        let id = self.cf_id(cf).unwrap_or(CfId::MAX);
        let end_ns = self.now_ns.load(Ordering::SeqCst);
        let mut state = self.state.lock();
        state.ops.extend((0..count).map(|_| OpEvent {
            end_ns,
            latency_ns,
            bytes,
            cf: id,
            kind,
            outcome: OpOutcome::Ok,
        }));
    }

    /// Queues `count` failed ops of `kind` on `cf`.
    pub fn push_errors(&self, cf: &str, kind: OpKind, count: usize) {
        let id = self.cf_id(cf).unwrap_or(CfId::MAX);
        let end_ns = self.now_ns.load(Ordering::SeqCst);
        let mut state = self.state.lock();
        state.ops.extend((0..count).map(|_| OpEvent {
            end_ns,
            latency_ns: 1_000,
            bytes: 0,
            cf: id,
            kind,
            outcome: OpOutcome::Error,
        }));
    }

    /// Queues a listener event.
    pub fn push_event(&self, event: EngineEvent) {
        self.state.lock().events.push(event);
    }

    /// Changes the sampled properties of a column family.
    pub fn update_cf(&self, cf: &str, f: impl FnOnce(&mut CfProperties)) {
        let mut state = self.state.lock();
        if let Some(props) = state.properties.get_mut(cf) {
            f(props);
        }
    }

    /// Scripts the LSM pressure of step `step` (100 ms each) of a 20 s cycle on `cfs`: 5 s
    /// calm, 5 s building, 5 s over the pending-compaction limits, 5 s draining. Pending
    /// compaction bytes, L0 files and immutable memtables grow with a column family's
    /// position in `cfs`, so the families differ. Used by the tick-cost bench and tests.
    pub fn script_pressure_cycle(&self, cfs: &[&str], step: u64) {
        const GIB: u64 = 1 << 30;
        let phase = (step / 50) % 4;
        for (i, cf) in cfs.iter().enumerate() {
            let pending = match phase {
                0 => GIB,
                1 => 30 * GIB,
                2 => 60 * GIB,
                _ => 10 * GIB,
            } * (i as u64 + 1)
                / 4;
            self.update_cf(cf, |p| {
                p.estimate_pending_compaction_bytes = Some(pending);
                p.num_files_at_level[0] = Some(2 + phase * 4 + i as u64);
                p.num_immutable_mem_table = Some(phase % 2);
            });
        }
    }

    /// Changes the sampled DB statistics (`None` = statistics off).
    pub fn update_statistics(&self, f: impl FnOnce(&mut Option<DbStatistics>)) {
        f(&mut self.state.lock().statistics);
    }

    /// Sets the ring-drop counters.
    pub fn set_dropped(&self, ops: u64, events: u64) {
        self.state.lock().dropped = (ops, events);
    }

    /// Makes every mutating call fail with `message` (`None` = succeed again).
    pub fn fail_mutations(&self, message: Option<&str>) {
        self.state.lock().fail_mutations = message.map(str::to_owned);
    }

    /// Every control call so far.
    pub fn calls(&self) -> Vec<ControlCall> {
        self.state.lock().calls.clone()
    }

    /// Mutating control calls so far.
    pub fn mutating_calls(&self) -> Vec<ControlCall> {
        self.state
            .lock()
            .calls
            .iter()
            .filter(|c| c.is_mutating())
            .cloned()
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.state.lock().calls.clear();
    }

    /// Sets tunables directly (as an operator would), without recording a call.
    pub fn set_tunables(&self, f: impl FnOnce(&mut Tunables)) {
        f(&mut self.state.lock().tunables);
    }

    fn record(&self, call: ControlCall) -> Result<(), ControlError> {
        let mut state = self.state.lock();
        state.calls.push(call.clone());
        if let Some(message) = &state.fail_mutations {
            if call.is_mutating() {
                return Err(ControlError::Engine {
                    operation: format!("{call:?}"),
                    message: message.clone(),
                });
            }
        }
        Ok(())
    }

    fn known_cf(&self, cf: &str) -> Result<(), ControlError> {
        if self.state.lock().cfs.iter().any(|c| c == cf) {
            Ok(())
        } else {
            Err(ControlError::UnknownColumnFamily {
                name: cf.to_owned(),
            })
        }
    }
}

impl Control for StubEngine {
    fn column_families(&self) -> Vec<String> {
        self.state.lock().cfs.clone()
    }

    fn tunables(&self) -> Result<Tunables, ControlError> {
        Ok(self.state.lock().tunables.clone())
    }

    fn set_global(&self, changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
        self.record(ControlCall::SetGlobal(changes.to_vec()))?;
        validate_global_changes(changes)?;
        let mut state = self.state.lock();
        for &(tunable, value) in changes {
            state.tunables.global.insert(tunable, value);
        }
        Ok(())
    }

    fn set_cf(&self, cf: &str, changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
        self.record(ControlCall::SetCf(cf.to_owned(), changes.to_vec()))?;
        self.known_cf(cf)?;
        let mut state = self.state.lock();
        let current = state.tunables.cfs.get(cf).cloned().unwrap_or_default();
        let merged = validate_cf_changes(cf, &current, changes)?;
        state.tunables.cfs.insert(cf.to_owned(), merged);
        Ok(())
    }

    fn set_write_rate_limit(
        &self,
        scope: &ThrottleScope,
        rate_bytes_per_sec: Option<u64>,
    ) -> Result<(), ControlError> {
        self.record(ControlCall::SetWriteRateLimit(
            scope.clone(),
            rate_bytes_per_sec,
        ))?;
        if let ThrottleScope::Cf(cf) = scope {
            self.known_cf(cf)?;
        }
        validate_write_rate_limit(scope, rate_bytes_per_sec)?;
        let mut state = self.state.lock();
        match rate_bytes_per_sec {
            Some(rate) => {
                state.tunables.write_rate_limits.insert(scope.clone(), rate);
            }
            None => {
                state.tunables.write_rate_limits.remove(scope);
            }
        }
        Ok(())
    }

    fn restore(&self, snapshot: &Tunables) -> Result<(), ControlError> {
        self.record(ControlCall::Restore(snapshot.clone()))?;
        let mut state = self.state.lock();
        for (tunable, value) in &snapshot.global {
            state.tunables.global.insert(*tunable, *value);
        }
        for (cf, values) in &snapshot.cfs {
            if let Some(current) = state.tunables.cfs.get_mut(cf) {
                current.extend(values.iter().map(|(t, v)| (*t, *v)));
            }
        }
        state.tunables.write_rate_limits = snapshot.write_rate_limits.clone();
        Ok(())
    }

    fn flush(&self, cf: &str) -> Result<(), ControlError> {
        self.record(ControlCall::Flush(cf.to_owned()))?;
        self.known_cf(cf)
    }

    fn compact_range(&self, cf: &str, range: Option<(&[u8], &[u8])>) -> Result<(), ControlError> {
        self.record(ControlCall::CompactRange(
            cf.to_owned(),
            range.map(|(a, b)| (a.to_vec(), b.to_vec())),
        ))?;
        self.known_cf(cf)
    }

    fn wait_for_compactions(&self, _timeout: Duration) -> Result<bool, ControlError> {
        self.record(ControlCall::WaitForCompactions)?;
        Ok(true)
    }

    fn rebuild_cf(&self, cf: &str) -> Result<RebuildReport, ControlError> {
        self.record(ControlCall::RebuildCf(cf.to_owned()))?;
        self.known_cf(cf)?;
        Ok(RebuildReport {
            cf: cf.to_owned(),
            old_physical: cf.to_owned(),
            new_physical: format!("{cf}~1"),
            ..RebuildReport::default()
        })
    }
}

impl Observe for StubEngine {
    fn drain_ops(&self, f: &mut dyn FnMut(OpEvent)) -> usize {
        let ops = std::mem::take(&mut self.state.lock().ops);
        let n = ops.len();
        ops.into_iter().for_each(f);
        n
    }

    fn drain_events(&self, f: &mut dyn FnMut(EngineEvent)) -> usize {
        let events = std::mem::take(&mut self.state.lock().events);
        let n = events.len();
        events.into_iter().for_each(f);
        n
    }

    fn sample(&self) -> Sample {
        let state = self.state.lock();
        Sample {
            at_ns: self.now_ns.load(Ordering::SeqCst),
            cfs: state
                .cfs
                .iter()
                .filter_map(|cf| state.properties.get(cf).cloned())
                .collect(),
            statistics: state.statistics.clone(),
        }
    }

    fn now_ns(&self) -> u64 {
        self.now_ns.load(Ordering::SeqCst)
    }

    fn cf_name_of(&self, id: CfId) -> Option<String> {
        self.state.lock().cfs.get(id as usize).cloned()
    }

    fn logical_cf_of(&self, physical: &str) -> Option<String> {
        let state = self.state.lock();
        state
            .cfs
            .iter()
            .find(|cf| {
                physical == cf.as_str()
                    || physical
                        .strip_prefix(cf.as_str())
                        .is_some_and(|rest| rest.starts_with('~'))
            })
            .cloned()
    }

    fn dropped(&self) -> (u64, u64) {
        self.state.lock().dropped
    }
}
