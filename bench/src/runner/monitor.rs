//! The monitor thread: every [`TICK`] it drains the engine's rings (through the tap the
//! healer shares), closes the tick's window, reads the sampler and keeps what reports and
//! traces need. Under `record` it also drives the healer core tick by tick, so that each
//! trace tick holds exactly what the healer saw and did in it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsmedic::healer::objective::ResourceBaseline;
use lsmedic::telemetry::{
    Control, EngineEvent, EngineEventKind, OpKind, Sample, StallCondition, Window,
};
use parking_lot::Mutex;
use serde::Serialize;

use super::{Shared, TICK};
use crate::record::{HealerTick, TraceRecorder};
use crate::subject::DrivenCore;

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

/// An engine event as reports and traces show it.
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
        EngineEventKind::BackgroundError {
            reason,
            message,
            contained,
        } => {
            json!({"reason": reason, "message": message.as_str(), "contained": contained})
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

/// The engine-side figures of a closed window.
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
pub(super) struct Labels {
    /// Phase name.
    pub(super) phase: String,
    /// Active fault kinds.
    pub(super) faults: Vec<&'static str>,
}

/// How often a driven healer drains the rings between ticks (as the healer thread does).
const DRIVEN_DRAIN: Duration = Duration::from_millis(20);

/// Samples the engine every [`TICK`] until `stop` is set (the tick in progress is the last).
pub(super) fn run_monitor(
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    labels: Arc<Mutex<Labels>>,
    keep_ticks: bool,
    t0_engine_ns: u64,
    core: Option<DrivenCore>,
) -> MonitorOutput {
    let mut monitor = Monitor::new(shared, labels, keep_ticks, t0_engine_ns, core);
    let mut next = monitor.shared.t0 + TICK;
    let mut tick = 0u64;
    loop {
        monitor.wait_until(next);
        next += TICK;
        let stopping = stop.load(Ordering::Acquire);
        monitor.tick(tick);
        tick += 1;
        if stopping {
            return monitor.finish();
        }
    }
}

/// The monitor thread's state.
struct Monitor {
    shared: Arc<Shared>,
    labels: Arc<Mutex<Labels>>,
    keep_ticks: bool,
    /// The run's start on the engine's telemetry clock (event times are relative to it).
    t0_engine_ns: u64,
    /// The healer core `record` drives.
    core: Option<DrivenCore>,
    trace: Option<TraceRecorder>,
    /// Resources are measured against the tunables at open, with the healer's own yardstick.
    resources: Option<ResourceBaseline>,
    background_errors: u64,
    out: MonitorOutput,
}

/// What one tick drained from the rings.
struct Drained {
    events: Vec<EventRecord>,
    /// A stall condition other than normal was reported during the tick.
    stall_reported: bool,
    /// The tick's window (only when full records are kept).
    window: Option<WindowSummary>,
}

impl Monitor {
    fn new(
        shared: Arc<Shared>,
        labels: Arc<Mutex<Labels>>,
        keep_ticks: bool,
        t0_engine_ns: u64,
        core: Option<DrivenCore>,
    ) -> Monitor {
        let trace = core.as_ref().map(|_| TraceRecorder::default());
        let resources = shared
            .engine
            .tunables()
            .ok()
            .map(|t| ResourceBaseline::of(&t));
        Monitor {
            shared,
            labels,
            keep_ticks,
            t0_engine_ns,
            core,
            trace,
            resources,
            background_errors: 0,
            out: MonitorOutput::default(),
        }
    }

    /// Sleeps until `next`; a driven healer drains every 20 ms meanwhile, like the healer
    /// thread.
    fn wait_until(&mut self, next: Instant) {
        loop {
            let now = Instant::now();
            if next <= now {
                break;
            }
            let pause = (next - now).min(if self.core.is_some() {
                DRIVEN_DRAIN
            } else {
                TICK
            });
            std::thread::sleep(pause);
            if let Some(core) = self.core.as_mut() {
                if Instant::now() < next {
                    core.guarded_drain();
                }
            }
        }
    }

    /// One tick: the driven healer's tick, the rings, the sampler, and the records.
    fn tick(&mut self, tick: u64) {
        let healer_tick = match (self.core.as_mut(), self.trace.as_mut()) {
            (Some(core), Some(trace)) => trace.tick(core),
            _ => None,
        };
        let now_ns = self.shared.engine.telemetry().clock().now_ns();
        self.shared.tapped.drain();
        let drained = self.drain_tap(now_ns);
        let sample = self.shared.engine.sample();
        let lite = self.tick_lite(&sample, drained.stall_reported);
        self.out.ticks.push(lite);
        if self.keep_ticks {
            let labels = self.labels.lock();
            let telemetry = self.shared.engine.telemetry();
            self.out.records.push(TickRecord {
                tick,
                t_s: lite.t_s,
                phase: labels.phase.clone(),
                faults: labels.faults.clone(),
                sample,
                window: drained.window.expect("summarised when keeping ticks"),
                events: drained.events.clone(),
                dropped: (telemetry.dropped_ops(), telemetry.dropped_events()),
                healer: healer_tick,
            });
        }
        self.out.events.extend(drained.events);
    }

    /// Takes the tick's events from the tap, and closes and restarts its window.
    fn drain_tap(&mut self, now_ns: u64) -> Drained {
        let (keep_ticks, t0_engine_ns) = (self.keep_ticks, self.t0_engine_ns);
        let mut events = Vec::new();
        let mut background_errors = 0;
        // Stall-condition callbacks of different RocksDB threads may arrive out of order,
        // so the condition is not tracked across ticks: a tick is stalled when the sampler
        // says so, the stall ticker moved, or a non-normal condition was reported in it.
        let mut stall_reported = false;
        let window = self.shared.tapped.with_tap(|tap| {
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
        self.background_errors += background_errors;
        Drained {
            events,
            stall_reported,
            window,
        }
    }

    /// The compact view of the tick every run keeps.
    fn tick_lite(&self, sample: &Sample, stall_reported: bool) -> TickLite {
        let stall_micros = sample.statistics.as_ref().map_or(0, |s| s.stall_micros);
        let previous = self
            .out
            .ticks
            .last()
            .map_or(stall_micros, |t| t.stall_micros);
        let stalled = sample.any_write_stall() || stall_reported || stall_micros > previous;
        let t_s = self.shared.now_s();
        let resource_units = self
            .resources
            .as_ref()
            .and_then(|base| self.shared.engine.tunables().ok().map(|t| base.units(&t)));
        TickLite {
            t_s,
            stall_micros,
            stalled,
            background_errors: self.background_errors,
            resource_units,
        }
    }

    /// Stops the driven healer and hands over what was kept.
    fn finish(mut self) -> MonitorOutput {
        if let Some(core) = self.core.as_mut() {
            core.shutdown();
        }
        self.out.trace = self.trace;
        self.out
    }
}
