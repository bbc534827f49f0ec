//! Window aggregation: what the healer knows about one tick after draining the rings.
//!
//! A [`Window`] folds [`OpEvent`]s into one latency histogram per [`OpKind`] (plus merged
//! write-path and read-path histograms) and per-column-family counters, and folds
//! [`EngineEvent`]s into [`EventCounters`], DB-wide and per column family. Queries such as
//! "p99 write latency of this tick" or "flush bytes per second" are then one call.
//!
//! A window allocates when it is created and when it first sees a new column family; the
//! healer keeps one window and [`reset`](Window::reset)s it every tick, which never allocates,
//! so steady-state aggregation is allocation-free.

use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::event::{
    CfId, CfName, EngineEvent, EngineEventKind, OpEvent, OpKind, OpOutcome, StallCondition,
};

/// Lowest latency the histograms tell apart, in ns.
pub const LATENCY_LOW_NS: u64 = 1;

/// Highest latency the histograms track, in ns (60 s); longer latencies are recorded as this.
pub const LATENCY_HIGH_NS: u64 = 60_000_000_000;

/// Significant decimal figures kept by the latency histograms (relative error < 0.1 %).
pub const LATENCY_SIGNIFICANT_FIGURES: u8 = 3;

/// Column families with an id below this get their own counters; ops of a higher id count
/// only toward the DB-wide totals (guards memory against a corrupt id: counters are indexed).
pub const MAX_TRACKED_CFS: usize = 4096;

/// Why a window could not be built or merged.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// hdrhistogram refused the latency histogram's bounds.
    #[error(
        "cannot create a latency histogram ({LATENCY_LOW_NS} ns ..= {LATENCY_HIGH_NS} ns, \
         {LATENCY_SIGNIFICANT_FIGURES} significant figures): {0}"
    )]
    CreateHistogram(#[from] hdrhistogram::CreationError),
    /// A histogram of the other window did not fit into this window's.
    #[error("cannot merge latency histograms: {0}")]
    MergeHistogram(#[from] hdrhistogram::AdditionError),
}

/// Latency summary of one window, all in ns.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median: the smallest recorded value at or above half of the samples (within 0.1 %).
    pub p50_ns: u64,
    /// 99th percentile, same definition.
    pub p99_ns: u64,
    /// 99.9th percentile, same definition.
    pub p999_ns: u64,
    /// Largest sample (within 0.1 %).
    pub max_ns: u64,
    /// Arithmetic mean (of the histogram's buckets).
    pub mean_ns: f64,
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>) -> Option<Percentiles> {
        if histogram.is_empty() {
            return None;
        }
        let mut quantiles = histogram.value_at_quantiles([0.5, 0.99, 0.999]);
        Some(Percentiles {
            count: histogram.len(),
            p50_ns: quantiles.next()?,
            p99_ns: quantiles.next()?,
            p999_ns: quantiles.next()?,
            max_ns: histogram.max(),
            mean_ns: histogram.mean(),
        })
    }
}

/// Foreground-op counters of one column family (or of the whole DB).
///
/// `ops` and `bytes` count operations that completed (outcome `Ok` or `NotFound`); failed
/// and throttled operations are counted apart and carry no bytes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounters {
    /// Completed operations, indexed by [`OpKind::index`].
    pub ops: [u64; OpKind::COUNT],
    /// Payload bytes of completed operations, indexed by [`OpKind::index`].
    pub bytes: [u64; OpKind::COUNT],
    /// Operations RocksDB answered with an error.
    pub errors: u64,
    /// Reads that found no value (also counted in `ops`).
    pub not_found: u64,
    /// Writes the throttle refused.
    pub throttled: u64,
}

impl OpCounters {
    /// Completed operations of `kind`, or of every kind for `None`.
    pub fn ops(&self, kind: Option<OpKind>) -> u64 {
        match kind {
            Some(kind) => self.ops[kind.index()],
            None => self.ops.iter().sum(),
        }
    }

    /// Payload bytes of `kind`, or of every kind for `None`.
    pub fn bytes(&self, kind: Option<OpKind>) -> u64 {
        match kind {
            Some(kind) => self.bytes[kind.index()],
            None => self.bytes.iter().sum(),
        }
    }

    fn record(&mut self, op: &OpEvent) {
        let kind = op.kind.index();
        match op.outcome {
            OpOutcome::Ok | OpOutcome::NotFound => {
                self.ops[kind] += 1;
                self.bytes[kind] += u64::from(op.bytes);
                if op.outcome == OpOutcome::NotFound {
                    self.not_found += 1;
                }
            }
            OpOutcome::Error => self.errors += 1,
            OpOutcome::Throttled => self.throttled += 1,
        }
    }

    fn add(&mut self, other: &OpCounters) {
        for (mine, theirs) in self.ops.iter_mut().zip(&other.ops) {
            *mine += theirs;
        }
        for (mine, theirs) in self.bytes.iter_mut().zip(&other.bytes) {
            *mine += theirs;
        }
        self.errors += other.errors;
        self.not_found += other.not_found;
        self.throttled += other.throttled;
    }
}

/// Engine-event counters of one column family (or of the whole DB).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounters {
    /// Flushes started.
    pub flush_begin: u64,
    /// Flushes finished.
    pub flush_completed: u64,
    /// Bytes of the SSTs written by finished flushes.
    pub flush_bytes: u64,
    /// Compactions started.
    pub compaction_begin: u64,
    /// Compactions finished with an OK status.
    pub compaction_completed: u64,
    /// Compactions finished with an error or aborted (not in `compaction_completed`).
    pub compaction_failed: u64,
    /// Bytes read by successful compactions.
    pub compaction_input_bytes: u64,
    /// Bytes written by successful compactions.
    pub compaction_output_bytes: u64,
    /// Stall-condition changes.
    pub stall_changes: u64,
    /// Memtables sealed (made immutable).
    pub memtables_sealed: u64,
    /// Background errors raised.
    pub background_errors: u64,
    /// Last known stall condition: per column family, the `cur` of its latest
    /// `StallConditionChanged` (kept across [`Window::reset`], as it is engine state rather
    /// than a count); DB-wide, the worst over all column families. `None` until one is seen.
    pub stall_condition: Option<StallCondition>,
}

impl EventCounters {
    fn record(&mut self, kind: &EngineEventKind) {
        match *kind {
            EngineEventKind::FlushBegin { .. } => self.flush_begin += 1,
            EngineEventKind::FlushCompleted { file_bytes, .. } => {
                self.flush_completed += 1;
                self.flush_bytes += file_bytes;
            }
            EngineEventKind::CompactionBegin { .. } => self.compaction_begin += 1,
            EngineEventKind::CompactionCompleted {
                ok,
                input_bytes,
                output_bytes,
                ..
            } => {
                if ok {
                    self.compaction_completed += 1;
                    self.compaction_input_bytes += input_bytes;
                    self.compaction_output_bytes += output_bytes;
                } else {
                    self.compaction_failed += 1;
                }
            }
            EngineEventKind::StallConditionChanged { .. } => self.stall_changes += 1,
            EngineEventKind::MemtableSealed { .. } => self.memtables_sealed += 1,
            EngineEventKind::BackgroundError { .. } => self.background_errors += 1,
        }
    }

    /// Adds the counts of `other`; leaves `stall_condition` alone.
    fn add_counts(&mut self, other: &EventCounters) {
        self.flush_begin += other.flush_begin;
        self.flush_completed += other.flush_completed;
        self.flush_bytes += other.flush_bytes;
        self.compaction_begin += other.compaction_begin;
        self.compaction_completed += other.compaction_completed;
        self.compaction_failed += other.compaction_failed;
        self.compaction_input_bytes += other.compaction_input_bytes;
        self.compaction_output_bytes += other.compaction_output_bytes;
        self.stall_changes += other.stall_changes;
        self.memtables_sealed += other.memtables_sealed;
        self.background_errors += other.background_errors;
    }

    /// Zeroes every count, keeping the last known stall condition.
    fn clear_counts(&mut self) {
        *self = EventCounters {
            stall_condition: self.stall_condition,
            ..EventCounters::default()
        };
    }
}

/// Severity order of stall conditions, for "the worst over all column families".
fn stall_severity(condition: StallCondition) -> u8 {
    match condition {
        StallCondition::Normal => 0,
        StallCondition::Delayed => 1,
        StallCondition::Stopped => 2,
    }
}

/// Engine events of one physical column family, keyed by its RocksDB name.
#[derive(Clone, Debug)]
struct CfEvents {
    name: CfName,
    counters: EventCounters,
    /// `at_ns` of the event that set `counters.stall_condition`.
    stall_at_ns: u64,
}

impl CfEvents {
    /// Takes `condition` as the current stall condition unless a later one is already known:
    /// events of different listener threads may be drained (or windows merged) out of order.
    fn observe_stall(&mut self, condition: StallCondition, at_ns: u64) {
        if self.counters.stall_condition.is_none() || at_ns >= self.stall_at_ns {
            self.counters.stall_condition = Some(condition);
            self.stall_at_ns = at_ns;
        }
    }
}

/// Keeps `event` in `last` unless `last` holds a later one.
fn keep_later_background_error(last: &mut Option<EngineEvent>, event: &EngineEvent) {
    if last.is_none_or(|last| event.at_ns >= last.at_ns) {
        *last = Some(*event);
    }
}

/// Everything drained during one healer tick, aggregated.
///
/// Op counters are keyed by the logical [`CfId`]; engine events by the physical column-family
/// name RocksDB reports, since that is all a listener callback knows.
#[derive(Clone)]
pub struct Window {
    start_ns: u64,
    end_ns: Option<u64>,
    /// One histogram per [`OpKind`], indexed by [`OpKind::index`].
    latency: Box<[Histogram<u64>]>,
    /// All kinds with [`OpKind::is_write`], recorded alongside `latency`.
    write_latency: Histogram<u64>,
    /// All kinds with [`OpKind::is_read`], recorded alongside `latency`.
    read_latency: Histogram<u64>,
    ops_total: OpCounters,
    /// Indexed by `CfId`; grown on demand, never shrunk.
    ops_by_cf: Vec<OpCounters>,
    events_total: EventCounters,
    /// Few entries (one per column family), so a linear search beats hashing.
    events_by_cf: Vec<CfEvents>,
    last_background_error: Option<EngineEvent>,
}

fn latency_histogram() -> Result<Histogram<u64>, WindowError> {
    Ok(Histogram::new_with_bounds(
        LATENCY_LOW_NS,
        LATENCY_HIGH_NS,
        LATENCY_SIGNIFICANT_FIGURES,
    )?)
}

/// Clears a histogram unless it is already empty (clearing writes every bucket).
fn reset_histogram(histogram: &mut Histogram<u64>) {
    if !histogram.is_empty() {
        histogram.reset();
    }
}

impl Window {
    /// An empty, open window starting at `start_ns` (ns since the telemetry epoch).
    ///
    /// Allocates all latency histograms (about 220 KiB each).
    pub fn new(start_ns: u64) -> Result<Window, WindowError> {
        let latency = (0..OpKind::COUNT)
            .map(|_| latency_histogram())
            .collect::<Result<Vec<_>, _>>()?
            .into_boxed_slice();
        Ok(Window {
            start_ns,
            end_ns: None,
            latency,
            write_latency: latency_histogram()?,
            read_latency: latency_histogram()?,
            ops_total: OpCounters::default(),
            ops_by_cf: Vec::new(),
            events_total: EventCounters::default(),
            events_by_cf: Vec::new(),
            last_background_error: None,
        })
    }

    /// Adds one foreground operation.
    ///
    /// Its latency is recorded whatever the outcome (it is what the caller waited), clamped
    /// to [`LATENCY_HIGH_NS`]. Allocates only the first time a higher `CfId` is seen.
    pub fn record_op(&mut self, op: &OpEvent) {
        let latency_ns = u64::from(op.latency_ns);
        self.latency[op.kind.index()].saturating_record(latency_ns);
        if op.kind.is_write() {
            self.write_latency.saturating_record(latency_ns);
        } else if op.kind.is_read() {
            self.read_latency.saturating_record(latency_ns);
        }
        self.ops_total.record(op);
        let cf = op.cf as usize;
        if cf < MAX_TRACKED_CFS {
            if cf >= self.ops_by_cf.len() {
                self.ops_by_cf.resize(cf + 1, OpCounters::default());
            }
            self.ops_by_cf[cf].record(op);
        }
    }

    /// Adds one engine event, to the DB-wide counters and to those of its column family
    /// (DB-wide events, with an empty name, are kept under the name `""`). Allocates only the
    /// first time a column family is seen.
    pub fn record_event(&mut self, event: &EngineEvent) {
        self.events_total.record(&event.kind);
        if let EngineEventKind::BackgroundError { .. } = event.kind {
            keep_later_background_error(&mut self.last_background_error, event);
        }
        let entry = self.cf_events_mut(&event.cf_name);
        entry.counters.record(&event.kind);
        if let EngineEventKind::StallConditionChanged { cur, .. } = event.kind {
            entry.observe_stall(cur, event.at_ns);
        }
    }

    fn cf_events_mut(&mut self, name: &CfName) -> &mut CfEvents {
        let index = match self.events_by_cf.iter().position(|e| e.name == *name) {
            Some(index) => index,
            None => {
                self.events_by_cf.push(CfEvents {
                    name: *name,
                    counters: EventCounters::default(),
                    stall_at_ns: 0,
                });
                self.events_by_cf.len() - 1
            }
        };
        &mut self.events_by_cf[index]
    }

    /// Ends the window at `end_ns` (clamped to no earlier than its start).
    pub fn close(&mut self, end_ns: u64) {
        self.end_ns = Some(end_ns.max(self.start_ns));
    }

    /// Empties the window and reopens it at `start_ns`, keeping every allocation (histograms,
    /// per-CF tables) so that reusing one window tick after tick never allocates.
    ///
    /// The last known stall condition of each column family survives: it is the engine's
    /// current state, not something that happened in the window. Everything else, including
    /// the last background error, is cleared.
    pub fn reset(&mut self, start_ns: u64) {
        self.start_ns = start_ns;
        self.end_ns = None;
        self.latency.iter_mut().for_each(reset_histogram);
        reset_histogram(&mut self.write_latency);
        reset_histogram(&mut self.read_latency);
        self.ops_total = OpCounters::default();
        self.ops_by_cf.fill(OpCounters::default());
        self.events_total = EventCounters::default();
        for entry in &mut self.events_by_cf {
            entry.counters.clear_counts();
        }
        self.last_background_error = None;
    }

    /// Adds everything of `other` to this window, which then spans both (earliest start,
    /// latest end). Used to aggregate many ticks; for stall conditions and the last background
    /// error, the later event (by time) wins.
    pub fn merge(&mut self, other: &Window) -> Result<(), WindowError> {
        for (mine, theirs) in self.latency.iter_mut().zip(other.latency.iter()) {
            mine.add(theirs)?;
        }
        self.write_latency.add(&other.write_latency)?;
        self.read_latency.add(&other.read_latency)?;

        self.start_ns = self.start_ns.min(other.start_ns);
        self.end_ns = match (self.end_ns, other.end_ns) {
            (Some(mine), Some(theirs)) => Some(mine.max(theirs)),
            (mine, theirs) => mine.or(theirs),
        };

        self.ops_total.add(&other.ops_total);
        if other.ops_by_cf.len() > self.ops_by_cf.len() {
            self.ops_by_cf
                .resize(other.ops_by_cf.len(), OpCounters::default());
        }
        for (mine, theirs) in self.ops_by_cf.iter_mut().zip(&other.ops_by_cf) {
            mine.add(theirs);
        }

        self.events_total.add_counts(&other.events_total);
        for theirs in &other.events_by_cf {
            let mine = self.cf_events_mut(&theirs.name);
            mine.counters.add_counts(&theirs.counters);
            if let Some(condition) = theirs.counters.stall_condition {
                mine.observe_stall(condition, theirs.stall_at_ns);
            }
        }
        if let Some(theirs) = &other.last_background_error {
            keep_later_background_error(&mut self.last_background_error, theirs);
        }
        Ok(())
    }

    /// Start of the window, ns since the telemetry epoch.
    pub fn start_ns(&self) -> u64 {
        self.start_ns
    }

    /// End of the window, `None` while it is open.
    pub fn end_ns(&self) -> Option<u64> {
        self.end_ns
    }

    /// Length of the window in ns, `None` while it is open.
    pub fn duration_ns(&self) -> Option<u64> {
        self.end_ns.map(|end| end - self.start_ns)
    }

    /// Length of the window in seconds, `None` while it is open.
    pub fn duration_secs(&self) -> Option<f64> {
        self.duration_ns().map(|ns| ns as f64 / 1e9)
    }

    /// Latency summary of one kind, `None` without samples.
    pub fn latency(&self, kind: OpKind) -> Option<Percentiles> {
        Percentiles::of(&self.latency[kind.index()])
    }

    /// Latency summary of all write kinds together ([`OpKind::is_write`]).
    pub fn write_latency(&self) -> Option<Percentiles> {
        Percentiles::of(&self.write_latency)
    }

    /// Latency summary of all read kinds together ([`OpKind::is_read`]).
    pub fn read_latency(&self) -> Option<Percentiles> {
        Percentiles::of(&self.read_latency)
    }

    /// Op counters of one column family, or DB-wide for `None` (zeros for an unseen CF).
    pub fn op_counters(&self, cf: Option<CfId>) -> OpCounters {
        match cf {
            None => self.ops_total,
            Some(cf) => self.ops_by_cf.get(cf as usize).copied().unwrap_or_default(),
        }
    }

    /// Completed operations of `kind` (all kinds for `None`) in `cf` (all CFs for `None`).
    pub fn ops(&self, cf: Option<CfId>, kind: Option<OpKind>) -> u64 {
        self.op_counters(cf).ops(kind)
    }

    /// Payload bytes of completed operations, selected as in [`ops`](Window::ops).
    pub fn bytes(&self, cf: Option<CfId>, kind: Option<OpKind>) -> u64 {
        self.op_counters(cf).bytes(kind)
    }

    /// Operations that failed with an error in `cf` (all CFs for `None`).
    pub fn errors(&self, cf: Option<CfId>) -> u64 {
        self.op_counters(cf).errors
    }

    /// Reads that found nothing in `cf` (all CFs for `None`).
    pub fn not_found(&self, cf: Option<CfId>) -> u64 {
        self.op_counters(cf).not_found
    }

    /// Writes refused by the throttle in `cf` (all CFs for `None`).
    pub fn throttled(&self, cf: Option<CfId>) -> u64 {
        self.op_counters(cf).throttled
    }

    /// [`ops`](Window::ops) per second of window, `None` while open or if zero-length.
    pub fn ops_per_sec(&self, cf: Option<CfId>, kind: Option<OpKind>) -> Option<f64> {
        self.per_sec(self.ops(cf, kind))
    }

    /// [`bytes`](Window::bytes) per second of window, `None` while open or if zero-length.
    pub fn bytes_per_sec(&self, cf: Option<CfId>, kind: Option<OpKind>) -> Option<f64> {
        self.per_sec(self.bytes(cf, kind))
    }

    fn per_sec(&self, count: u64) -> Option<f64> {
        let secs = self.duration_secs().filter(|&secs| secs > 0.0)?;
        Some(count as f64 / secs)
    }

    /// Column families that completed, failed or were throttled on at least one op.
    pub fn op_cfs(&self) -> impl Iterator<Item = CfId> + '_ {
        self.ops_by_cf
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != OpCounters::default())
            .map(|(cf, _)| cf as CfId)
    }

    /// Engine-event counters of the column family named `cf_name`, or DB-wide for `None`
    /// (zeros for a name never seen).
    pub fn events(&self, cf_name: Option<&str>) -> EventCounters {
        match cf_name {
            Some(name) => self
                .events_by_cf
                .iter()
                .find(|e| e.name.as_str() == name)
                .map(|e| e.counters)
                .unwrap_or_default(),
            None => EventCounters {
                stall_condition: self
                    .events_by_cf
                    .iter()
                    .filter_map(|e| e.counters.stall_condition)
                    .max_by_key(|&c| stall_severity(c)),
                ..self.events_total
            },
        }
    }

    /// Names of the column families that reported engine events (now or in an earlier tick).
    pub fn event_cf_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.events_by_cf.iter().map(|e| e.name.as_str())
    }

    /// Stall-condition changes in the window, all column families.
    pub fn stall_changes(&self) -> u64 {
        self.events_total.stall_changes
    }

    /// Last known stall condition of the column family named `cf_name` (`None` if it never
    /// reported one).
    pub fn current_stall(&self, cf_name: &str) -> Option<StallCondition> {
        self.events(Some(cf_name)).stall_condition
    }

    /// The latest background-error event of the window, if any.
    pub fn last_background_error(&self) -> Option<&EngineEvent> {
        self.last_background_error.as_ref()
    }
}

impl fmt::Debug for Window {
    /// A summary: the histograms' buckets would be tens of thousands of lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("start_ns", &self.start_ns)
            .field("end_ns", &self.end_ns)
            .field("write_latency", &self.write_latency())
            .field("read_latency", &self.read_latency())
            .field("ops_total", &self.ops_total)
            .field("events_total", &self.events(None))
            .field("last_background_error", &self.last_background_error)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{BackgroundErrorReason, Message};
    use proptest::prelude::*;

    fn op(kind: OpKind, cf: CfId, latency_ns: u32, bytes: u32, outcome: OpOutcome) -> OpEvent {
        OpEvent {
            end_ns: 0,
            latency_ns,
            bytes,
            cf,
            kind,
            outcome,
        }
    }

    fn event(at_ns: u64, cf: &str, kind: EngineEventKind) -> EngineEvent {
        EngineEvent {
            at_ns,
            cf_name: CfName::new(cf),
            kind,
        }
    }

    fn stall(prev: StallCondition, cur: StallCondition) -> EngineEventKind {
        EngineEventKind::StallConditionChanged { prev, cur }
    }

    fn flush_completed(file_bytes: u64) -> EngineEventKind {
        EngineEventKind::FlushCompleted {
            job_id: 1,
            reason: 0,
            file_bytes,
            entries: 10,
            triggered_writes_slowdown: false,
            triggered_writes_stop: false,
        }
    }

    fn compaction_completed(ok: bool, input_bytes: u64, output_bytes: u64) -> EngineEventKind {
        EngineEventKind::CompactionCompleted {
            job_id: 2,
            input_level: 0,
            output_level: 1,
            reason: 0,
            num_l0_files: 4,
            input_bytes,
            output_bytes,
            input_records: 0,
            output_records: 0,
            elapsed_micros: 0,
            corrupt_keys: 0,
            ok,
        }
    }

    fn background_error(text: &str) -> EngineEventKind {
        EngineEventKind::BackgroundError {
            reason: BackgroundErrorReason::Flush,
            message: Message::from_bytes(text.as_bytes()),
            contained: false,
        }
    }

    /// hdrhistogram's quantile definition on exact data: the value at rank ceil(q·n) (≥ 1).
    fn exact_quantile(sorted: &[u64], quantile: f64) -> u64 {
        let rank = ((quantile * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank.min(sorted.len()) - 1]
    }

    /// `got` is `exact` or above it by less than the histogram's 0.1 % resolution.
    fn within_precision(got: u64, exact: u64) -> bool {
        got >= exact && got - exact <= exact / 1000
    }

    #[test]
    fn percentiles_match_exact_quantiles_within_precision() {
        let mut window = Window::new(0).expect("window");
        let latencies: Vec<u64> = (1..=10_000u64).map(|i| i * 1_000).collect();
        for &l in &latencies {
            window.record_op(&op(OpKind::Put, 0, l as u32, 1, OpOutcome::Ok));
        }
        let p = window.latency(OpKind::Put).expect("samples");
        assert_eq!(p.count, 10_000);
        assert!(within_precision(p.p50_ns, 5_000_000), "{p:?}");
        assert!(within_precision(p.p99_ns, 9_900_000), "{p:?}");
        assert!(within_precision(p.p999_ns, 9_990_000), "{p:?}");
        assert!(within_precision(p.max_ns, 10_000_000), "{p:?}");
        assert!(
            (p.mean_ns - 5_000_500.0).abs() / 5_000_500.0 < 0.001,
            "{p:?}"
        );
        assert_eq!(window.latency(OpKind::Get), None);
    }

    #[test]
    fn write_and_read_latency_merge_their_kinds() {
        let mut window = Window::new(0).expect("window");
        window.record_op(&op(OpKind::Put, 0, 100, 1, OpOutcome::Ok));
        window.record_op(&op(OpKind::Write, 0, 300, 1, OpOutcome::Ok));
        window.record_op(&op(OpKind::Delete, 1, 200, 1, OpOutcome::Ok));
        window.record_op(&op(OpKind::Get, 0, 1_000, 1, OpOutcome::Ok));
        window.record_op(&op(OpKind::Scan, 0, 5_000, 1, OpOutcome::NotFound));
        window.record_op(&op(OpKind::Flush, 0, 9_000_000, 0, OpOutcome::Ok));

        let writes = window.write_latency().expect("writes");
        assert_eq!(writes.count, 3);
        assert_eq!((writes.p50_ns, writes.max_ns), (200, 300));
        let reads = window.read_latency().expect("reads");
        assert_eq!(reads.count, 2);
        assert_eq!(reads.p50_ns, 1_000, "exact below 2048 ns");
        assert!(within_precision(reads.max_ns, 5_000), "{reads:?}");
        assert_eq!(window.latency(OpKind::Flush).map(|p| p.count), Some(1));
    }

    #[test]
    fn rates_divide_by_window_length() {
        let mut window = Window::new(1_000_000_000).expect("window");
        for _ in 0..200 {
            window.record_op(&op(OpKind::Put, 0, 500, 100, OpOutcome::Ok));
        }
        for _ in 0..50 {
            window.record_op(&op(OpKind::Get, 1, 500, 1_000, OpOutcome::Ok));
        }
        assert_eq!(
            window.ops_per_sec(None, None),
            None,
            "open window has no rate"
        );
        window.close(3_000_000_000);
        assert_eq!(window.duration_secs(), Some(2.0));
        assert_eq!(window.ops_per_sec(None, None), Some(125.0));
        assert_eq!(window.ops_per_sec(Some(0), Some(OpKind::Put)), Some(100.0));
        assert_eq!(window.ops_per_sec(Some(0), Some(OpKind::Get)), Some(0.0));
        assert_eq!(
            window.bytes_per_sec(None, Some(OpKind::Put)),
            Some(10_000.0)
        );
        assert_eq!(window.bytes_per_sec(Some(1), None), Some(25_000.0));

        let mut instant = Window::new(5).expect("window");
        instant.close(1); // before the start: clamped to zero length
        assert_eq!(instant.duration_ns(), Some(0));
        assert_eq!(instant.ops_per_sec(None, None), None);
    }

    #[test]
    fn column_families_are_counted_apart() {
        let mut window = Window::new(0).expect("window");
        window.record_op(&op(OpKind::Put, 0, 10, 5, OpOutcome::Ok));
        window.record_op(&op(OpKind::Put, 3, 10, 7, OpOutcome::Ok));
        window.record_op(&op(OpKind::Put, 3, 10, 7, OpOutcome::Error));
        window.record_op(&op(OpKind::Put, 3, 10, 7, OpOutcome::Throttled));
        window.record_op(&op(OpKind::Get, 3, 10, 0, OpOutcome::NotFound));

        assert_eq!(window.ops(Some(0), Some(OpKind::Put)), 1);
        assert_eq!(window.bytes(Some(0), None), 5);
        assert_eq!(window.ops(Some(3), Some(OpKind::Put)), 1);
        assert_eq!(window.ops(Some(3), None), 2);
        assert_eq!(window.bytes(Some(3), Some(OpKind::Put)), 7);
        assert_eq!(window.errors(Some(3)), 1);
        assert_eq!(window.throttled(Some(3)), 1);
        assert_eq!(window.not_found(Some(3)), 1);
        assert_eq!(window.errors(Some(0)), 0);
        assert_eq!(window.ops(Some(1), None), 0, "gap CF");
        assert_eq!(window.ops(Some(99), None), 0, "unseen CF");
        assert_eq!(window.ops(None, None), 3);
        assert_eq!(window.errors(None), 1);
        assert_eq!(window.op_cfs().collect::<Vec<_>>(), vec![0, 3]);
        // Every op's latency counts, whatever its outcome.
        assert_eq!(window.write_latency().map(|p| p.count), Some(4));
    }

    #[test]
    fn huge_cf_id_counts_only_db_wide() {
        let mut window = Window::new(0).expect("window");
        window.record_op(&op(OpKind::Put, CfId::MAX, 10, 5, OpOutcome::Ok));
        assert_eq!(window.ops(None, None), 1);
        assert_eq!(window.ops(Some(CfId::MAX), None), 0);
        assert_eq!(window.op_cfs().count(), 0);
    }

    #[test]
    fn engine_events_are_counted_db_wide_and_per_cf() {
        let mut window = Window::new(0).expect("window");
        let flush_begin = EngineEventKind::FlushBegin {
            job_id: 1,
            reason: 0,
            triggered_writes_slowdown: false,
            triggered_writes_stop: false,
        };
        window.record_event(&event(1, "default", flush_begin));
        window.record_event(&event(2, "default", flush_completed(4_096)));
        window.record_event(&event(3, "users", flush_completed(1_000)));
        window.record_event(&event(4, "users", compaction_completed(true, 10, 8)));
        window.record_event(&event(5, "users", compaction_completed(false, 99, 99)));
        window.record_event(&event(
            6,
            "users",
            EngineEventKind::MemtableSealed {
                entries: 1,
                deletes: 0,
            },
        ));
        window.record_event(&event(
            7,
            "users",
            stall(StallCondition::Normal, StallCondition::Delayed),
        ));
        window.record_event(&event(
            8,
            "default",
            stall(StallCondition::Normal, StallCondition::Stopped),
        ));
        window.record_event(&event(
            9,
            "default",
            stall(StallCondition::Stopped, StallCondition::Normal),
        ));
        window.record_event(&event(10, "", background_error("disk full")));

        let all = window.events(None);
        assert_eq!(all.flush_begin, 1);
        assert_eq!(all.flush_completed, 2);
        assert_eq!(all.flush_bytes, 5_096);
        assert_eq!(all.compaction_completed, 1);
        assert_eq!(all.compaction_failed, 1);
        assert_eq!(
            (all.compaction_input_bytes, all.compaction_output_bytes),
            (10, 8)
        );
        assert_eq!(all.memtables_sealed, 1);
        assert_eq!(all.stall_changes, 3);
        assert_eq!(all.background_errors, 1);
        assert_eq!(
            all.stall_condition,
            Some(StallCondition::Delayed),
            "worst CF"
        );
        assert_eq!(window.stall_changes(), 3);

        let users = window.events(Some("users"));
        assert_eq!(users.flush_bytes, 1_000);
        assert_eq!(users.stall_changes, 1);
        assert_eq!(users.background_errors, 0);
        assert_eq!(window.events(Some("default")).flush_bytes, 4_096);
        assert_eq!(window.events(Some("")).background_errors, 1);
        assert_eq!(window.events(Some("nope")), EventCounters::default());

        assert_eq!(window.current_stall("users"), Some(StallCondition::Delayed));
        assert_eq!(
            window.current_stall("default"),
            Some(StallCondition::Normal)
        );
        assert_eq!(window.current_stall("nope"), None);
        let error = window.last_background_error().expect("background error");
        assert_eq!(error.at_ns, 10);
        assert_eq!(
            window.event_cf_names().collect::<Vec<_>>(),
            ["default", "users", ""]
        );
    }

    #[test]
    fn latest_stall_change_wins_even_if_drained_out_of_order() {
        let mut window = Window::new(0).expect("window");
        window.record_event(&event(
            20,
            "cf",
            stall(StallCondition::Delayed, StallCondition::Stopped),
        ));
        window.record_event(&event(
            10,
            "cf",
            stall(StallCondition::Normal, StallCondition::Delayed),
        ));
        assert_eq!(window.current_stall("cf"), Some(StallCondition::Stopped));
        assert_eq!(window.stall_changes(), 2);
    }

    #[test]
    fn reset_keeps_capacity_and_zeroes_counts() {
        let mut window = Window::new(0).expect("window");
        for cf in 0..8 {
            window.record_op(&op(OpKind::Put, cf, 50_000, 10, OpOutcome::Ok));
            window.record_op(&op(OpKind::Get, cf, 2_000, 10, OpOutcome::Error));
        }
        window.record_event(&event(
            1,
            "users",
            stall(StallCondition::Normal, StallCondition::Stopped),
        ));
        window.record_event(&event(2, "users", background_error("io")));
        window.close(10);
        let cf_capacity = window.ops_by_cf.capacity();
        let events_capacity = window.events_by_cf.capacity();

        window.reset(10);
        assert_eq!((window.start_ns(), window.end_ns()), (10, None));
        assert_eq!(window.latency(OpKind::Put), None);
        assert_eq!(window.write_latency(), None);
        assert_eq!(window.read_latency(), None);
        assert_eq!(window.ops(None, None), 0);
        assert_eq!(window.errors(None), 0);
        assert_eq!(window.op_cfs().count(), 0);
        assert_eq!(window.ops_by_cf.capacity(), cf_capacity);
        assert_eq!(window.events_by_cf.capacity(), events_capacity);
        assert_eq!(window.stall_changes(), 0);
        assert_eq!(window.events(Some("users")).background_errors, 0);
        assert!(window.last_background_error().is_none());
        // Engine state survives the reset.
        assert_eq!(window.current_stall("users"), Some(StallCondition::Stopped));

        // Reused: the same CFs again fit without growing.
        for cf in 0..8 {
            window.record_op(&op(OpKind::Put, cf, 3_000, 10, OpOutcome::Ok));
        }
        assert_eq!(window.ops_by_cf.capacity(), cf_capacity);
        let put = window.latency(OpKind::Put).expect("samples");
        assert_eq!(put.count, 8);
        assert!(within_precision(put.p50_ns, 3_000), "{put:?}");
        // Min/max of a reset histogram restart too.
        assert!(within_precision(put.max_ns, 3_000), "{put:?}");
        assert!(
            put.max_ns < 3_100,
            "max of the previous tick forgotten: {put:?}"
        );
    }

    #[test]
    fn out_of_range_latency_is_clamped_not_a_panic() {
        let mut window = Window::new(0).expect("window");
        window.record_op(&op(OpKind::Put, 0, 0, 0, OpOutcome::Ok));
        window.record_op(&op(OpKind::Put, 0, u32::MAX, 0, OpOutcome::Ok));
        let p = window.latency(OpKind::Put).expect("samples");
        assert_eq!(p.count, 2);
        assert!(within_precision(p.max_ns, u64::from(u32::MAX)), "{p:?}");

        // Above the histogram's range (only reachable through a merged or future wider event).
        let mut histogram = latency_histogram().expect("histogram");
        histogram.saturating_record(u64::MAX);
        assert!(histogram.max() >= LATENCY_HIGH_NS);
    }

    #[test]
    fn merge_adds_windows_and_spans_them() {
        let mut first = Window::new(0).expect("window");
        first.record_op(&op(OpKind::Put, 0, 100, 10, OpOutcome::Ok));
        first.record_event(&event(
            5,
            "users",
            stall(StallCondition::Normal, StallCondition::Stopped),
        ));
        first.record_event(&event(6, "users", background_error("first")));
        first.close(1_000_000_000);

        let mut second = Window::new(1_000_000_000).expect("window");
        second.record_op(&op(OpKind::Put, 2, 300, 30, OpOutcome::Ok));
        second.record_op(&op(OpKind::Get, 0, 50, 5, OpOutcome::Ok));
        second.record_event(&event(
            1_500_000_000,
            "users",
            stall(StallCondition::Stopped, StallCondition::Normal),
        ));
        second.record_event(&event(1_600_000_000, "default", flush_completed(77)));
        second.record_event(&event(1_700_000_000, "", background_error("second")));
        second.close(2_000_000_000);

        let mut total = Window::new(0).expect("window");
        total.merge(&first).expect("merge");
        total.merge(&second).expect("merge");
        assert_eq!(total.duration_secs(), Some(2.0));
        assert_eq!(total.ops(None, Some(OpKind::Put)), 2);
        assert_eq!(total.ops(Some(2), None), 1);
        assert_eq!(total.bytes(None, None), 45);
        assert_eq!(total.ops_per_sec(None, None), Some(1.5));
        let writes = total.write_latency().expect("writes");
        assert_eq!((writes.count, writes.max_ns), (2, 300));
        assert_eq!(total.read_latency().map(|p| p.count), Some(1));
        assert_eq!(total.stall_changes(), 2);
        assert_eq!(total.current_stall("users"), Some(StallCondition::Normal));
        assert_eq!(total.events(Some("default")).flush_bytes, 77);
        let last = total.last_background_error().expect("background error");
        assert_eq!(last.at_ns, 1_700_000_000);

        // Merging an older window does not roll the state back.
        total.merge(&first).expect("merge");
        assert_eq!(total.current_stall("users"), Some(StallCondition::Normal));
        assert_eq!(
            total.last_background_error().map(|e| e.at_ns),
            Some(1_700_000_000)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn percentiles_follow_exact_quantiles(
            latencies in prop::collection::vec(1u32..=u32::MAX, 1..2_000),
        ) {
            let mut window = Window::new(0).expect("window");
            for &l in &latencies {
                window.record_op(&op(OpKind::Get, 0, l, 0, OpOutcome::Ok));
            }
            let p = window.latency(OpKind::Get).expect("samples");
            let mut sorted: Vec<u64> = latencies.iter().map(|&l| u64::from(l)).collect();
            sorted.sort_unstable();
            let (min, max) = (sorted[0], sorted[sorted.len() - 1]);

            prop_assert_eq!(p.count, sorted.len() as u64);
            prop_assert!(within_precision(p.p50_ns, exact_quantile(&sorted, 0.5)), "{:?}", p);
            prop_assert!(within_precision(p.p99_ns, exact_quantile(&sorted, 0.99)), "{:?}", p);
            prop_assert!(within_precision(p.p999_ns, exact_quantile(&sorted, 0.999)), "{:?}", p);
            prop_assert!(within_precision(p.max_ns, max), "{:?}", p);
            prop_assert!(min <= p.p50_ns);
            prop_assert!(p.p50_ns <= p.p99_ns && p.p99_ns <= p.p999_ns && p.p999_ns <= p.max_ns);
            prop_assert_eq!(window.read_latency(), Some(p));
        }
    }
}
