//! Runs one scenario against one [`Subject`]: worker threads per workload, the fault
//! timeline on the calling thread, a monitor thread sampling the engine every tick, and a
//! final verification pass over every key the run wrote.
//!
//! Verification stores one `u32` per key: version (24 bits), value-size class (5 bits),
//! "outcome unknown" (a write failed: it may or may not have applied) and "deleted". Values
//! are a pure function of (column family, key, version, size), see [`crate::keygen::value_for`].
//! Writes of one key are serialised by a striped lock held across the write, so the tracked
//! version is exactly the last one RocksDB acknowledged.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lsmedic::engine::Engine;
use lsmedic::healer::objective::ResourceBaseline;
use lsmedic::telemetry::{
    Control, EngineEvent, EngineEventKind, OpKind, Sample, StallCondition, ThrottleScope, Window,
};
use parking_lot::Mutex;
use serde::Serialize;

use crate::faults;
use crate::keygen::{encode_key, mix64, value_for, InsertCursor, KeyChooser, Rng, ValueSize};
use crate::measure::{Class, Pacer, Recorder};
use crate::record::{HealerTick, TraceRecorder};
use crate::report::LearnedDepartures;
use crate::scenario::{Fault, Scenario, Workload};
use crate::store::{Store, StoreError};
use crate::subject::{Drive, DrivenCore, HealerEntry, HealerMode, Subject, Tapped};
use crate::workload::{MixChooser, OpType, WorkloadKind};

/// Monitor tick (sampler, rings, trace records).
pub const TICK: Duration = Duration::from_millis(100);

/// How a run is carried out.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Healer beside the engine.
    pub healer: HealerMode,
    /// The healer's objective weights.
    pub weights: lsmedic::healer::Weights,
    /// Multiplies every phase duration and fault time (`0.1` = ten times shorter).
    pub time_scale: f64,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Where fresh databases are created (a temporary directory inside); default: the system
    /// temp dir.
    pub db_parent: Option<PathBuf>,
    /// Show a progress bar (only when stdout is a terminal).
    pub progress: bool,
    /// Keep every tick's full record (for `record`).
    pub keep_ticks: bool,
    /// Re-read every written key at the end.
    pub verify: bool,
    /// `record`: the monitor drives the healer tick by tick and keeps what it saw and did.
    pub drive: Option<Drive>,
}

// ----- verification state ------------------------------------------------------------------

const VERSION_MASK: u32 = (1 << 24) - 1;
const SIZE_SHIFT: u32 = 24;
const SIZE_MASK: u32 = 0x1f;
const UNKNOWN: u32 = 1 << 30;
const DELETED: u32 = 1 << 31;
const STRIPES: usize = 4096;

/// What the run wrote to one column family.
pub struct CfTracker {
    index: u32,
    name: String,
    versions: Vec<AtomicU32>,
    stripes: Box<[Mutex<()>]>,
    sizes: Vec<ValueSize>,
    /// YCSB insert sequence.
    pub cursor: InsertCursor,
    track: bool,
}

impl CfTracker {
    fn new(index: u32, name: &str, capacity: u64, sizes: Vec<ValueSize>, track: bool) -> CfTracker {
        let slots = if track { capacity as usize } else { 0 };
        CfTracker {
            index,
            name: name.to_owned(),
            versions: (0..slots).map(|_| AtomicU32::new(0)).collect(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            sizes,
            cursor: InsertCursor::new(0, capacity),
            track,
        }
    }

    fn size_class(&self, size: ValueSize) -> u32 {
        self.sizes.iter().position(|s| *s == size).unwrap_or(0) as u32
    }

    fn size_of(&self, state: u32) -> ValueSize {
        self.sizes[((state >> SIZE_SHIFT) & SIZE_MASK) as usize]
    }

    /// Puts the next version of `key`.
    fn put(
        &self,
        store: &dyn Store,
        key: u64,
        size_class: u32,
        buf: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let encoded = encode_key(key);
        if !self.track {
            value_for(self.index, key, 1, self.sizes[size_class as usize], buf);
            return store.put(&self.name, &encoded, buf);
        }
        let _stripe = self.stripes[key as usize % STRIPES].lock();
        let slot = &self.versions[key as usize];
        let current = slot.load(Ordering::Relaxed);
        let version = ((current & VERSION_MASK) % VERSION_MASK) + 1;
        value_for(
            self.index,
            key,
            version,
            self.sizes[size_class as usize],
            buf,
        );
        let result = store.put(&self.name, &encoded, buf);
        let state = match result {
            Ok(()) => version | (size_class << SIZE_SHIFT),
            Err(_) => current | UNKNOWN,
        };
        slot.store(state, Ordering::Relaxed);
        result
    }

    /// Deletes `key`.
    fn delete(&self, store: &dyn Store, key: u64) -> Result<(), StoreError> {
        let encoded = encode_key(key);
        if !self.track {
            return store.delete(&self.name, &encoded);
        }
        let _stripe = self.stripes[key as usize % STRIPES].lock();
        let slot = &self.versions[key as usize];
        let current = slot.load(Ordering::Relaxed);
        let result = store.delete(&self.name, &encoded);
        let state = match result {
            Ok(()) => (((current & VERSION_MASK) % VERSION_MASK) + 1) | DELETED,
            Err(_) => current | UNKNOWN,
        };
        slot.store(state, Ordering::Relaxed);
        result
    }

    /// Reads `key`, then puts its next version, as one op.
    fn read_modify_write(
        &self,
        store: &dyn Store,
        key: u64,
        size_class: u32,
        buf: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let encoded = encode_key(key);
        if !self.track {
            store.get(&self.name, &encoded)?;
            return self.put(store, key, size_class, buf);
        }
        let _stripe = self.stripes[key as usize % STRIPES].lock();
        store.get(&self.name, &encoded)?;
        let slot = &self.versions[key as usize];
        let current = slot.load(Ordering::Relaxed);
        let version = ((current & VERSION_MASK) % VERSION_MASK) + 1;
        value_for(
            self.index,
            key,
            version,
            self.sizes[size_class as usize],
            buf,
        );
        let result = store.put(&self.name, &encoded, buf);
        slot.store(
            match result {
                Ok(()) => version | (size_class << SIZE_SHIFT),
                Err(_) => current | UNKNOWN,
            },
            Ordering::Relaxed,
        );
        result
    }
}

/// Outcome of re-reading every written key.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verification {
    /// Keys read back with their last acknowledged value (or absent, when deleted).
    pub keys_verified: u64,
    /// Keys whose value is missing or unreadable.
    pub keys_lost: u64,
    /// Keys with a value other than the last acknowledged one (or resurrected deletes).
    pub wrong_values: u64,
    /// Keys whose last write failed, so either value is acceptable (not checked).
    pub keys_unknown: u64,
}

fn verify(store: &dyn Store, trackers: &[Arc<CfTracker>]) -> Verification {
    let mut outcome = Verification::default();
    let mut expected = Vec::new();
    for tracker in trackers.iter().filter(|t| t.track) {
        let mut keys = Vec::with_capacity(256);
        let mut states = Vec::with_capacity(256);
        let mut check =
            |keys: &mut Vec<Vec<u8>>, states: &mut Vec<(u64, u32)>, outcome: &mut Verification| {
                let values = match store.multi_get(&tracker.name, keys) {
                    Ok(values) => values.into_iter().map(Ok).collect::<Vec<_>>(),
                    // One unreadable key fails the batch: read one by one to tell which.
                    Err(_) => keys.iter().map(|k| store.get(&tracker.name, k)).collect(),
                };
                for (value, &(key, state)) in values.into_iter().zip(states.iter()) {
                    match value {
                        Err(_) => outcome.keys_lost += 1,
                        Ok(found) if state & DELETED != 0 => {
                            if found.is_none() {
                                outcome.keys_verified += 1;
                            } else {
                                outcome.wrong_values += 1;
                            }
                        }
                        Ok(None) => outcome.keys_lost += 1,
                        Ok(Some(found)) => {
                            value_for(
                                tracker.index,
                                key,
                                state & VERSION_MASK,
                                tracker.size_of(state),
                                &mut expected,
                            );
                            if found == expected {
                                outcome.keys_verified += 1;
                            } else {
                                outcome.wrong_values += 1;
                            }
                        }
                    }
                }
                keys.clear();
                states.clear();
            };
        for (key, slot) in tracker.versions.iter().enumerate() {
            let state = slot.load(Ordering::Relaxed);
            if state == 0 {
                continue;
            }
            if state & UNKNOWN != 0 {
                outcome.keys_unknown += 1;
                continue;
            }
            keys.push(encode_key(key as u64).to_vec());
            states.push((key as u64, state));
            if keys.len() == 256 {
                check(&mut keys, &mut states, &mut outcome);
            }
        }
        if !keys.is_empty() {
            check(&mut keys, &mut states, &mut outcome);
        }
    }
    outcome
}

// ----- shared run state --------------------------------------------------------------------

/// Knobs faults turn while workers run, per column family.
#[derive(Default)]
pub struct CfControl {
    /// Rate multiplier of write-bearing workloads (f64 bits).
    write_multiplier: AtomicU64,
    /// Working-set override: active flag and `[lo, hi)`.
    shifted: AtomicBool,
    shift_lo: AtomicU64,
    shift_hi: AtomicU64,
}

impl CfControl {
    fn new() -> CfControl {
        let control = CfControl::default();
        control
            .write_multiplier
            .store(1f64.to_bits(), Ordering::Relaxed);
        control
    }

    fn multiplier(&self) -> f64 {
        f64::from_bits(self.write_multiplier.load(Ordering::Relaxed))
    }

    /// Multiplies the write rate by `factor` (divide to undo).
    pub fn scale_writes(&self, factor: f64) {
        let _ = self
            .write_multiplier
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) * factor).to_bits())
            });
    }

    /// Moves the working set to `[lo, hi)`, or back (`None`).
    pub fn shift(&self, range: Option<(u64, u64)>) {
        if let Some((lo, hi)) = range {
            self.shift_lo.store(lo, Ordering::Relaxed);
            self.shift_hi.store(hi, Ordering::Relaxed);
        }
        self.shifted.store(range.is_some(), Ordering::Release);
    }

    fn range(&self, default: (u64, u64)) -> (u64, u64) {
        if self.shifted.load(Ordering::Acquire) {
            (
                self.shift_lo.load(Ordering::Relaxed),
                self.shift_hi.load(Ordering::Relaxed),
            )
        } else {
            default
        }
    }
}

/// Everything worker, storm and monitor threads share.
pub struct Shared {
    /// The engine as a store.
    pub store: Arc<dyn Store>,
    /// The engine (control surface).
    pub engine: Arc<Engine>,
    /// The engine as the monitor reads it (sees what the healer drains too).
    pub tapped: Arc<Tapped>,
    /// Run start.
    pub t0: Instant,
    /// Per column family, in `cf_names` order.
    pub trackers: Vec<Arc<CfTracker>>,
    /// Per column family.
    pub controls: Vec<CfControl>,
    /// Column-family names.
    pub cf_names: Vec<String>,
    /// Set to abandon all outstanding work.
    pub hard_stop: AtomicBool,
    /// Whether the current phase is measured (read by storm threads).
    pub measuring: AtomicBool,
}

impl Shared {
    /// Index of a column family.
    pub fn cf(&self, name: &str) -> usize {
        self.cf_names
            .iter()
            .position(|n| n == name)
            .expect("validated column family")
    }

    /// Seconds since the run started.
    pub fn now_s(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }
}

// ----- workers -----------------------------------------------------------------------------

struct WorkerJob {
    workload: Workload,
    thread: u32,
    seed: u64,
    phase_start: Instant,
    phase_end: Option<Instant>,
    measured: bool,
    issued: Arc<AtomicU64>,
    sequence: Arc<AtomicU64>,
}

/// What a worker hands back.
struct WorkerResult {
    recorder: Recorder,
    dropped: u64,
}

fn run_worker(shared: Arc<Shared>, job: WorkerJob) -> WorkerResult {
    let w = &job.workload;
    let mut recorder = Recorder::new(shared.t0);
    let mut rng = Rng::new(job.seed);
    let cf = shared.cf(&w.cf);
    let tracker = Arc::clone(&shared.trackers[cf]);
    let control = &shared.controls[cf];
    let store = shared.store.as_ref();
    let mix = MixChooser::new(w.kind.mix());
    let chooser = KeyChooser::new(w.distribution, w.key_range.1 - w.key_range.0);
    let size_class = tracker.size_class(w.value_size);
    let per_thread_rate = w.rate.map(|rate| rate / f64::from(w.threads));
    // Stagger threads over one interval so they do not fire in lockstep.
    let first_due = job.phase_start
        + per_thread_rate.map_or(Duration::ZERO, |r| {
            Duration::from_secs_f64(f64::from(job.thread) / f64::from(w.threads) / r)
        });
    let mut pacer = Pacer::new(first_due);
    let mut buf = Vec::new();
    let mut dropped = 0;
    let writes = w.kind.writes();
    loop {
        if shared.hard_stop.load(Ordering::Relaxed) {
            if let (Some(rate), Some(end)) = (per_thread_rate, job.phase_end) {
                let behind = end
                    .saturating_duration_since(pacer.next_due())
                    .as_secs_f64();
                dropped += (behind * rate) as u64;
            }
            break;
        }
        if let Some(limit) = w.ops {
            if job.issued.fetch_add(1, Ordering::Relaxed) >= limit {
                break;
            }
        }
        let due = match per_thread_rate {
            Some(rate) => {
                if job.phase_end.is_some_and(|end| pacer.next_due() >= end) {
                    break;
                }
                let multiplier = if writes { control.multiplier() } else { 1.0 };
                pacer.wait(rate * multiplier)
            }
            None => {
                let now = Instant::now();
                if job.phase_end.is_some_and(|end| now >= end) {
                    break;
                }
                now
            }
        };
        let sent = Instant::now();
        let op = mix.next(&mut rng);
        let range = if op == OpType::Insert {
            w.key_range
        } else {
            control.range(w.key_range)
        };
        let pick = |rng: &mut Rng| chooser.next(rng, range.0, range.1, tracker.cursor.newest());
        let (class, result) = match op {
            OpType::Read => (
                Class::Read,
                store.get(&w.cf, &encode_key(pick(&mut rng))).map(drop),
            ),
            OpType::Update => (
                Class::Write,
                tracker.put(store, pick(&mut rng), size_class, &mut buf),
            ),
            OpType::Insert => {
                let key = if w.kind == WorkloadKind::Fillseq {
                    let n = job.sequence.fetch_add(1, Ordering::Relaxed);
                    if w.key_range.0 + n >= w.key_range.1 {
                        break;
                    }
                    w.key_range.0 + n
                } else {
                    tracker.cursor.claim().unwrap_or_else(|| pick(&mut rng))
                };
                let result = tracker.put(store, key, size_class, &mut buf);
                tracker.cursor.observe(key);
                (Class::Write, result)
            }
            OpType::Scan => {
                let length = rng.between(u64::from(w.scan_length.0), u64::from(w.scan_length.1));
                let start = encode_key(pick(&mut rng));
                (
                    Class::Scan,
                    store.scan(&w.cf, &start, length as usize).map(drop),
                )
            }
            OpType::Delete => (Class::Write, tracker.delete(store, pick(&mut rng))),
            OpType::ReadModifyWrite => (
                Class::Write,
                tracker.read_modify_write(store, pick(&mut rng), size_class, &mut buf),
            ),
        };
        let end = Instant::now();
        let error = result.err().map(|e| e.corruption);
        recorder.record(class, due.min(sent), end, error, job.measured);
    }
    WorkerResult { recorder, dropped }
}

/// Deletes `[lo, hi)` of a column family in key order (the delete storm fault).
pub fn spawn_storm(
    shared: &Arc<Shared>,
    cf: &str,
    range: (u64, u64),
    rate: Option<f64>,
    threads: u32,
    stop: Arc<AtomicBool>,
) -> Vec<JoinHandle<Recorder>> {
    (0..threads)
        .map(|thread| {
            let shared = Arc::clone(shared);
            let stop = Arc::clone(&stop);
            let tracker = Arc::clone(&shared.trackers[shared.cf(cf)]);
            std::thread::Builder::new()
                .name(format!("storm-{thread}"))
                .spawn(move || {
                    let mut recorder = Recorder::new(shared.t0);
                    let mut pacer = Pacer::new(Instant::now());
                    let per_thread = rate.map(|r| r / f64::from(threads));
                    let mut key = range.0 + u64::from(thread);
                    while key < range.1
                        && !stop.load(Ordering::Relaxed)
                        && !shared.hard_stop.load(Ordering::Relaxed)
                    {
                        let due = match per_thread {
                            Some(r) => pacer.wait(r),
                            None => Instant::now(),
                        };
                        let sent = Instant::now();
                        let result = tracker.delete(shared.store.as_ref(), key);
                        let measured = shared.measuring.load(Ordering::Relaxed);
                        recorder.record(
                            Class::Write,
                            due.min(sent),
                            Instant::now(),
                            result.err().map(|e| e.corruption),
                            measured,
                        );
                        key += u64::from(threads);
                    }
                    recorder
                })
                .expect("spawn storm thread")
        })
        .collect()
}

// ----- monitor -----------------------------------------------------------------------------

/// One listener event, for traces and reports.
#[derive(Clone, Debug, Serialize)]
pub struct EventRecord {
    /// Seconds since the run started.
    pub t_s: f64,
    /// Physical column family ("" for DB-wide).
    pub cf: String,
    /// Event name (`flush_completed`, `stall_condition_changed`, …).
    pub kind: &'static str,
    /// The event's fields.
    pub detail: serde_json::Value,
}

fn event_record(event: &EngineEvent, t0_ns: u64) -> EventRecord {
    use serde_json::json;
    let detail = match event.kind {
        EngineEventKind::FlushBegin {
            job_id,
            reason,
            triggered_writes_slowdown,
            triggered_writes_stop,
        } => {
            json!({"job_id": job_id, "reason": reason, "triggered_writes_slowdown": triggered_writes_slowdown, "triggered_writes_stop": triggered_writes_stop})
        }
        EngineEventKind::FlushCompleted {
            job_id,
            reason,
            file_bytes,
            entries,
            triggered_writes_slowdown,
            triggered_writes_stop,
        } => {
            json!({"job_id": job_id, "reason": reason, "file_bytes": file_bytes, "entries": entries, "triggered_writes_slowdown": triggered_writes_slowdown, "triggered_writes_stop": triggered_writes_stop})
        }
        EngineEventKind::CompactionBegin {
            job_id,
            input_level,
            output_level,
            reason,
            num_l0_files,
            input_files,
        } => {
            json!({"job_id": job_id, "input_level": input_level, "output_level": output_level, "reason": reason, "num_l0_files": num_l0_files, "input_files": input_files})
        }
        EngineEventKind::CompactionCompleted {
            job_id,
            input_level,
            output_level,
            reason,
            num_l0_files,
            input_bytes,
            output_bytes,
            input_records,
            output_records,
            elapsed_micros,
            corrupt_keys,
            ok,
        } => {
            json!({"job_id": job_id, "input_level": input_level, "output_level": output_level, "reason": reason, "num_l0_files": num_l0_files, "input_bytes": input_bytes, "output_bytes": output_bytes, "input_records": input_records, "output_records": output_records, "elapsed_micros": elapsed_micros, "corrupt_keys": corrupt_keys, "ok": ok})
        }
        EngineEventKind::StallConditionChanged { prev, cur } => json!({"prev": prev, "cur": cur}),
        EngineEventKind::MemtableSealed { entries, deletes } => {
            json!({"entries": entries, "deletes": deletes})
        }
        EngineEventKind::BackgroundError { reason, message } => {
            json!({"reason": reason, "message": message.as_str()})
        }
    };
    EventRecord {
        t_s: event.at_ns.saturating_sub(t0_ns) as f64 / 1e9,
        cf: event.cf_name.as_str().to_owned(),
        kind: event.kind.name(),
        detail,
    }
}

/// The engine's own view of one tick (the healer's input), for traces.
#[derive(Clone, Debug, Serialize)]
pub struct WindowSummary {
    /// Window length.
    pub duration_s: f64,
    /// Completed ops per kind (engine-side counters).
    pub ops: lsmedic::telemetry::OpCounters,
    /// Service-time percentiles per op kind, ns.
    pub latency: std::collections::BTreeMap<&'static str, lsmedic::telemetry::Percentiles>,
    /// Write-path percentiles, ns.
    pub write: Option<lsmedic::telemetry::Percentiles>,
    /// Read-path percentiles, ns.
    pub read: Option<lsmedic::telemetry::Percentiles>,
    /// Listener-event counters.
    pub events: lsmedic::telemetry::EventCounters,
}

fn summarise(window: &Window) -> WindowSummary {
    let latency = OpKind::ALL
        .iter()
        .filter_map(|&kind| window.latency(kind).map(|p| (kind.name(), p)))
        .collect();
    WindowSummary {
        duration_s: window.duration_secs().unwrap_or(0.0),
        ops: window.op_counters(None),
        latency,
        write: window.write_latency(),
        read: window.read_latency(),
        events: window.events(None),
    }
}

/// One monitor tick, complete (kept for `record`).
#[derive(Clone, Debug, Serialize)]
pub struct TickRecord {
    /// Tick number.
    pub tick: u64,
    /// Seconds since the run started (end of the tick).
    pub t_s: f64,
    /// Phase running.
    pub phase: String,
    /// Faults active during the tick (the labels).
    pub faults: Vec<&'static str>,
    /// Sampler reading at the end of the tick.
    pub sample: Sample,
    /// The tick's window.
    pub window: WindowSummary,
    /// Listener events drained this tick.
    pub events: Vec<EventRecord>,
    /// Op and event records dropped so far because a ring was full.
    pub dropped: (u64, u64),
    /// What the driven healer saw and did this tick (`record` only).
    #[serde(flatten)]
    pub healer: Option<HealerTick>,
}

/// The compact per-tick view every run keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct TickLite {
    /// End of the tick, seconds since run start.
    pub t_s: f64,
    /// `rocksdb.stall.micros`, cumulative since open.
    pub stall_micros: u64,
    /// Some column family's writes were delayed or stopped during the tick.
    pub stalled: bool,
    /// Background errors, cumulative.
    pub background_errors: u64,
    /// Resources in force at the end of the tick (memory budgets and background jobs), in
    /// the healer's resource units against the configuration the database opened with
    /// (1.0 = as configured); `None` when the tunables could not be read.
    pub resource_units: Option<f64>,
}

/// What the monitor thread produces.
#[derive(Default)]
pub struct MonitorOutput {
    /// Every tick.
    pub ticks: Vec<TickLite>,
    /// Full records (only with `keep_ticks`).
    pub records: Vec<TickRecord>,
    /// Every listener event.
    pub events: Vec<EventRecord>,
    /// The driven healer's component graphs (`record` only).
    pub trace: Option<TraceRecorder>,
}

/// Labels the monitor stamps on ticks: current phase and active faults.
#[derive(Default)]
pub struct Labels {
    /// Phase name.
    pub phase: String,
    /// Active fault kinds.
    pub faults: Vec<&'static str>,
}

/// How often a driven healer drains the rings between ticks (as the healer thread does).
const DRIVEN_DRAIN: Duration = Duration::from_millis(20);

fn run_monitor(
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    labels: Arc<Mutex<Labels>>,
    keep_ticks: bool,
    t0_engine_ns: u64,
    mut core: Option<DrivenCore>,
) -> MonitorOutput {
    let engine = Arc::clone(&shared.engine);
    let tapped = Arc::clone(&shared.tapped);
    let mut out = MonitorOutput::default();
    let mut trace = core.as_ref().map(|_| TraceRecorder::default());
    let mut background_errors = 0u64;
    // Resources are measured against the tunables at open, with the healer's own yardstick.
    let resources = engine.tunables().ok().map(|t| ResourceBaseline::of(&t));
    let mut next = shared.t0 + TICK;
    let mut tick = 0u64;
    loop {
        // Between ticks a driven healer drains every 20 ms, like the healer thread.
        loop {
            let now = Instant::now();
            if next <= now {
                break;
            }
            let pause = (next - now).min(if core.is_some() { DRIVEN_DRAIN } else { TICK });
            std::thread::sleep(pause);
            if let Some(core) = core.as_mut() {
                if Instant::now() < next {
                    core.guarded_drain();
                }
            }
        }
        next += TICK;
        let stopping = stop.load(Ordering::Acquire);
        let healer_tick = match (core.as_mut(), trace.as_mut()) {
            (Some(core), Some(trace)) => trace.tick(core),
            _ => None,
        };
        let now_ns = engine.telemetry().clock().now_ns();
        tapped.drain();
        let mut events = Vec::new();
        // Stall-condition callbacks of different RocksDB threads may arrive out of order,
        // so the condition is not tracked across ticks: a tick is stalled when the sampler
        // says so, the stall ticker moved, or a non-normal condition was reported in it.
        let mut stall_reported = false;
        let window = tapped.with_tap(|tap| {
            for event in tap.events.drain(..) {
                match event.kind {
                    EngineEventKind::StallConditionChanged { cur, .. } => {
                        stall_reported |= cur != StallCondition::Normal;
                    }
                    EngineEventKind::BackgroundError { .. } => background_errors += 1,
                    _ => {}
                }
                events.push(event_record(&event, t0_engine_ns));
            }
            tap.window.close(now_ns);
            let summary = keep_ticks.then(|| summarise(&tap.window));
            tap.window.reset(now_ns);
            summary
        });
        let sample = engine.sample();
        let stall_micros = sample.statistics.as_ref().map_or(0, |s| s.stall_micros);
        let previous = out.ticks.last().map_or(stall_micros, |t| t.stall_micros);
        let stalled = sample.any_write_stall() || stall_reported || stall_micros > previous;
        let t_s = shared.now_s();
        let resource_units = resources
            .as_ref()
            .and_then(|base| engine.tunables().ok().map(|t| base.units(&t)));
        out.ticks.push(TickLite {
            t_s,
            stall_micros,
            stalled,
            background_errors,
            resource_units,
        });
        if keep_ticks {
            let labels = labels.lock();
            out.records.push(TickRecord {
                tick,
                t_s,
                phase: labels.phase.clone(),
                faults: labels.faults.clone(),
                sample,
                window: window.expect("summarised when keeping ticks"),
                events: events.clone(),
                dropped: (
                    engine.telemetry().dropped_ops(),
                    engine.telemetry().dropped_events(),
                ),
                healer: healer_tick,
            });
        }
        out.events.extend(events);
        tick += 1;
        if stopping {
            if let Some(core) = core.as_mut() {
                core.shutdown();
            }
            out.trace = trace;
            return out;
        }
    }
}

// ----- the run -----------------------------------------------------------------------------

/// When a phase ran (seconds since run start).
#[derive(Clone, Debug, Serialize)]
pub struct PhaseSpan {
    /// Phase name.
    pub name: String,
    /// Start.
    pub start_s: f64,
    /// End (when its last worker finished).
    pub end_s: f64,
    /// Warm-up phases are charted but not totalled.
    pub warmup: bool,
}

/// One injected fault, as it happened.
#[derive(Clone, Debug, Serialize)]
pub struct FaultEvent {
    /// `write_burst`, `compaction_starvation`, …
    pub kind: &'static str,
    /// Phase it belongs to.
    pub phase: String,
    /// When it was injected.
    pub start_s: f64,
    /// When it was lifted (`None`: instantaneous, or lasted to the end of the run).
    pub end_s: Option<f64>,
    /// What was done, in words.
    pub detail: String,
}

/// Everything a run produced, before reporting.
pub struct RunOutput {
    /// Scenario name.
    pub scenario: String,
    /// Healer mode.
    pub healer: HealerMode,
    /// Merged measurements.
    pub recorder: Recorder,
    /// Seconds the measured phases lasted.
    pub measured_s: f64,
    /// Intervals of the measured phases.
    pub phases: Vec<PhaseSpan>,
    /// Faults injected.
    pub faults: Vec<FaultEvent>,
    /// Monitor ticks, events and (maybe) full records.
    pub monitor: MonitorOutput,
    /// Healer log.
    pub healer_log: Option<Vec<HealerEntry>>,
    /// The learned policy's departures from the rules (learned runs keeping to the rules).
    pub learned_departures: Option<LearnedDepartures>,
    /// Verification outcome (when asked for).
    pub verification: Option<Verification>,
    /// Ops the schedule wanted but the run abandoned (hard stop).
    pub ops_dropped: u64,
    /// Wall time of the whole run.
    pub wall_s: f64,
    /// Problems that did not stop the run (a fault that could not be applied, …).
    pub warnings: Vec<String>,
}

/// A fault in progress.
pub struct ActiveFault {
    /// Index in `RunOutput::faults`.
    pub event: usize,
    /// When to lift it.
    pub until: Option<Instant>,
    /// How to lift it.
    pub undo: faults::Undo,
}

fn progress_bar(enabled: bool, total_s: f64, label: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !std::io::stdout().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new((total_s * 10.0).max(1.0) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>24} [{bar:40}] {elapsed_precise} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// Runs `scenario` once on a fresh database.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunOutput, String> {
    let scale = options.time_scale;
    let seed = options.seed.unwrap_or(scenario.seed);
    let parent = options.db_parent.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("lsmedic-bench-{}-", options.healer.name()))
        .tempdir_in(&parent)
        .map_err(|e| {
            format!(
                "cannot create a database directory in {}: {e}",
                parent.display()
            )
        })?;
    let mut subject = Subject::open(
        options.healer,
        dir.path(),
        scenario.engine.clone(),
        options.drive.as_ref(),
        options.weights,
    )?;
    let core = subject.take_core();
    let engine = Arc::clone(subject.engine());
    let start_tunables = engine.tunables().map_err(|e| e.to_string())?;

    let cf_names = scenario.column_families();
    let trackers: Vec<Arc<CfTracker>> = cf_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut sizes: Vec<ValueSize> = Vec::new();
            for w in scenario
                .phases
                .iter()
                .flat_map(|p| &p.workloads)
                .filter(|w| &w.cf == name)
            {
                if !sizes.contains(&w.value_size) {
                    sizes.push(w.value_size);
                }
            }
            if sizes.is_empty() {
                sizes.push(ValueSize::fixed(100));
            }
            let capacity = (scenario.key_space(name) * 2).max(1024);
            Arc::new(CfTracker::new(
                i as u32,
                name,
                capacity,
                sizes,
                options.verify,
            ))
        })
        .collect();
    let t0 = Instant::now();
    let t0_engine_ns = engine.telemetry().clock().now_ns();
    let shared = Arc::new(Shared {
        store: Arc::clone(&engine) as Arc<dyn Store>,
        engine: Arc::clone(&engine),
        tapped: Arc::clone(subject.tapped()),
        t0,
        trackers,
        controls: cf_names.iter().map(|_| CfControl::new()).collect(),
        cf_names,
        hard_stop: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
    });
    let labels = Arc::new(Mutex::new(Labels::default()));
    let monitor_stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (shared, stop, labels) = (
            Arc::clone(&shared),
            Arc::clone(&monitor_stop),
            Arc::clone(&labels),
        );
        let keep = options.keep_ticks;
        std::thread::Builder::new()
            .name("bench-monitor".into())
            .spawn(move || run_monitor(shared, stop, labels, keep, t0_engine_ns, core))
            .map_err(|e| e.to_string())?
    };

    let bar = progress_bar(
        options.progress,
        scenario.planned_seconds() * scale,
        &format!("{} / {}", scenario.name, options.healer.name()),
    );
    let mut recorder = Recorder::new(t0);
    let mut phases = Vec::new();
    let mut fault_events: Vec<FaultEvent> = Vec::new();
    let mut active: Vec<ActiveFault> = Vec::new();
    let mut storms: Vec<JoinHandle<Recorder>> = Vec::new();
    let mut warnings = Vec::new();
    let mut ops_dropped = 0;
    let mut measured_s = 0.0;

    for (phase_index, phase) in scenario.phases.iter().enumerate() {
        let phase_start = Instant::now();
        let phase_end = phase
            .duration_s
            .map(|d| phase_start + Duration::from_secs_f64(d * scale));
        shared.measuring.store(!phase.warmup, Ordering::Relaxed);
        {
            let mut labels = labels.lock();
            labels.phase = phase.name.clone();
        }
        let mut workers = Vec::new();
        for (workload_index, workload) in phase.workloads.iter().enumerate() {
            let issued = Arc::new(AtomicU64::new(0));
            let sequence = Arc::new(AtomicU64::new(0));
            for thread in 0..workload.threads {
                let job = WorkerJob {
                    workload: workload.clone(),
                    thread,
                    seed: mix64(
                        seed ^ mix64(
                            (phase_index as u64) << 32
                                | (workload_index as u64) << 16
                                | u64::from(thread),
                        ),
                    ),
                    phase_start,
                    phase_end,
                    measured: !phase.warmup,
                    issued: Arc::clone(&issued),
                    sequence: Arc::clone(&sequence),
                };
                let shared = Arc::clone(&shared);
                workers.push(
                    std::thread::Builder::new()
                        .name(format!("{}-{thread}", workload.kind.name()))
                        .spawn(move || run_worker(shared, job))
                        .map_err(|e| e.to_string())?,
                );
            }
        }
        let mut pending: Vec<(Instant, &Fault)> = phase
            .faults
            .iter()
            .map(|f| (phase_start + Duration::from_secs_f64(f.at_s * scale), f))
            .collect();
        pending.sort_by_key(|(at, _)| *at);
        let mut pending = pending.into_iter().peekable();
        // A phase whose workers are stuck past this is abandoned (and the engine unstuck).
        let grace = phase.duration_s.map_or(Duration::from_secs(600), |d| {
            Duration::from_secs_f64((d * scale * 0.5).max(3.0))
        });
        let mut stuck_handled = false;
        loop {
            let now = Instant::now();
            while let Some((at, fault)) = pending.next_if(|(at, _)| *at <= now) {
                let _ = at;
                let start_s = shared.now_s();
                match faults::apply(&shared, fault, scale) {
                    Ok(applied) => {
                        fault_events.push(FaultEvent {
                            kind: fault.kind.name(),
                            phase: phase.name.clone(),
                            start_s,
                            end_s: None,
                            detail: applied.detail,
                        });
                        storms.extend(applied.storm_threads);
                        let until = fault
                            .duration_s
                            .map(|d| now + Duration::from_secs_f64(d * scale));
                        active.push(ActiveFault {
                            event: fault_events.len() - 1,
                            until,
                            undo: applied.undo,
                        });
                        labels.lock().faults.push(fault.kind.name());
                    }
                    Err(e) => {
                        warnings.push(format!("{} at {start_s:.1} s: {e}", fault.kind.name()))
                    }
                }
            }
            let mut still = Vec::new();
            for fault in active.drain(..) {
                if fault.until.is_some_and(|until| until <= now) {
                    if let Err(e) = faults::undo(&shared, &fault.undo) {
                        warnings.push(format!("lifting {}: {e}", fault_events[fault.event].kind));
                    }
                    fault_events[fault.event].end_s = Some(shared.now_s());
                    let kind = fault_events[fault.event].kind;
                    let mut labels = labels.lock();
                    if let Some(i) = labels.faults.iter().position(|k| *k == kind) {
                        labels.faults.remove(i);
                    }
                } else {
                    still.push(fault);
                }
            }
            active = still;
            bar.set_position((t0.elapsed().as_secs_f64() * 10.0) as u64);
            if workers.iter().all(|w| w.is_finished()) {
                break;
            }
            if let Some(end) = phase_end {
                if !stuck_handled && now > end + grace {
                    stuck_handled = true;
                    warnings.push(format!(
                        "phase {:?}: workers still busy {:.1} s after its end: outstanding ops abandoned, engine options restored to unblock writes",
                        phase.name,
                        (now - end).as_secs_f64()
                    ));
                    shared.hard_stop.store(true, Ordering::Relaxed);
                    let _ = engine.restore(&start_tunables);
                }
            }
            let next_fault = pending.peek().map(|(at, _)| *at);
            let next_undo = active.iter().filter_map(|f| f.until).min();
            let wake = [next_fault, next_undo, Some(now + Duration::from_millis(20))]
                .into_iter()
                .flatten()
                .min()
                .expect("non-empty");
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
        for worker in workers {
            let result = worker
                .join()
                .map_err(|_| "a worker thread panicked".to_owned())?;
            recorder.merge(&result.recorder);
            ops_dropped += result.dropped;
        }
        let span = PhaseSpan {
            name: phase.name.clone(),
            start_s: phase_start.duration_since(t0).as_secs_f64(),
            end_s: shared.now_s(),
            warmup: phase.warmup,
        };
        if !phase.warmup {
            measured_s += span.end_s - span.start_s;
        }
        phases.push(span);
        shared.hard_stop.store(false, Ordering::Relaxed);
    }
    // End of the timeline: stop storms, lift what is still active (faults "to the end of
    // the run" end here), put every tunable back (thread pools are process-wide).
    shared.hard_stop.store(true, Ordering::Relaxed);
    for storm in storms {
        if let Ok(storm) = storm.join() {
            recorder.merge(&storm);
        }
    }
    for fault in active.drain(..) {
        if let Err(e) = faults::undo(&shared, &fault.undo) {
            warnings.push(format!("lifting {}: {e}", fault_events[fault.event].kind));
        }
    }
    if let Err(e) = engine.restore(&start_tunables) {
        warnings.push(format!("restoring the engine's options: {e}"));
    }
    let _ = engine.set_write_rate_limit(&ThrottleScope::All, None);
    monitor_stop.store(true, Ordering::Release);
    let monitor = monitor
        .join()
        .map_err(|_| "the monitor thread panicked".to_owned())?;
    bar.finish_and_clear();
    let healer_log = subject.healer_log(t0_engine_ns);
    let learned_departures = subject.learned_departures();
    let verification = options
        .verify
        .then(|| verify(shared.store.as_ref(), &shared.trackers));
    let wall_s = t0.elapsed().as_secs_f64();
    drop(shared);
    drop(engine);
    if let Err(e) = subject.close() {
        warnings.push(format!("closing the engine: {e}"));
    }
    Ok(RunOutput {
        scenario: scenario.name.clone(),
        healer: options.healer,
        recorder,
        measured_s,
        phases,
        faults: fault_events,
        monitor,
        healer_log,
        learned_departures,
        verification,
        ops_dropped,
        wall_s,
        warnings,
    })
}
