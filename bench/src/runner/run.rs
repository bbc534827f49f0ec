//! The timeline of one run, on the calling thread: open a fresh database, start the
//! monitor, then per phase start its workers, inject and lift its faults on time, and
//! unstick a phase whose workers outlive it; at the end stop storms, lift what is still
//! active, put every option back, verify and close. A scenario with a `disk_full` fault runs
//! on a tmpfs of its own, mounted over the run's temporary directory and unmounted when the
//! run ends, however it ends.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lsmedic::engine::RecoveryStatus;
use lsmedic::telemetry::{Control, ThrottleScope, Tunables};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use super::knobs::CfControl;
use super::monitor::{run_monitor, Labels, MonitorOutput};
use super::outcomes::{ResumeWatch, WriteOutcomes};
use super::verify::{verify, CfTracker, Verification};
use super::worker::{run_worker, WorkerJob, WorkerResult};
use super::{RunOptions, Shared};
use crate::faults;
use crate::keygen::{mix64, ValueSize};
use crate::measure::Recorder;
use crate::report::LearnedDepartures;
use crate::scenario::{Fault, Phase, Scenario};
use crate::store::Store;
use crate::subject::{DrivenCore, HealerEntry, HealerMode, Subject};

/// When a phase ran (seconds since run start).
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// Faults that refuse writes (`disk_full`): writes of the workload threads that failed
    /// from the fault's start to its end.
    pub writes_refused: Option<u64>,
    /// Faults that refuse writes: seconds from the fault's end to the first write of a
    /// workload thread accepted after it (`None`: none was, or the fault lasted to the end).
    pub writes_resumed_s: Option<f64>,
}

/// Everything a run produced, before reporting.
pub struct RunOutput {
    /// Scenario name.
    pub scenario: String,
    /// Healer mode.
    pub healer: HealerMode,
    /// Seed of every generator.
    pub seed: u64,
    /// Merged measurements.
    pub(crate) recorder: Recorder,
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
    /// The engine's recovery at the end of the run, when it ever had writes refused (a
    /// background error, a reopen); `None` when it stayed healthy throughout.
    pub recovery: Option<RecoveryStatus>,
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
    let dir = fresh_db_dir(options)?;
    // Declared after `dir`, so dropped (unmounted) before it is removed, and after the engine
    // below is closed or dropped.
    let scratch = scenario
        .disk_full_mb()
        .map(|mb| crate::faults::ScratchDisk::mount(dir.path(), mb))
        .transpose()
        .map_err(|e: crate::faults::MountError| e.to_string())?;
    // The database in a subdirectory, so that its siblings (the checkpoint directory
    // `db.lsmedic-checkpoints` when checkpoints are on) go with the temporary directory.
    let mut subject = Subject::open(
        options.healer,
        &dir.path().join("db"),
        scenario.engine.clone(),
        options.drive.as_ref(),
        options.weights,
    )?;
    let core = subject.take_core();
    let engine = Arc::clone(subject.engine());
    let start_tunables = engine.tunables().map_err(|e| e.to_string())?;
    let seed = options.seed.unwrap_or(scenario.seed);
    let scratch_disk = scratch.as_ref().map(|disk| disk.info().clone());
    let (shared, t0_engine_ns) = start_clock(
        &subject,
        scenario,
        RunSetup {
            track: options.verify,
            seed,
            scratch_disk,
        },
    );
    let t0 = shared.t0;
    let labels = Arc::new(Mutex::new(Labels::default()));
    let monitor_stop = Arc::new(AtomicBool::new(false));
    let monitor = spawn_monitor(
        &shared,
        &monitor_stop,
        &labels,
        options.keep_ticks,
        t0_engine_ns,
        core,
    )?;
    let bar = progress_bar(
        options.progress,
        scenario.planned_seconds() * options.time_scale,
        &format!("{} / {}", scenario.name, options.healer.name()),
    );
    let mut state = RunState {
        shared: &shared,
        labels: &labels,
        bar: &bar,
        scale: options.time_scale,
        seed,
        start_tunables: &start_tunables,
        recorder: Recorder::new(t0),
        phases: Vec::new(),
        fault_events: Vec::new(),
        active: Vec::new(),
        storms: Vec::new(),
        write_watches: Vec::new(),
        warnings: Vec::new(),
        ops_dropped: 0,
        measured_s: 0.0,
    };
    for (phase_index, phase) in scenario.phases.iter().enumerate() {
        state.run_phase(phase_index, phase)?;
    }
    state.wind_down();
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
    let recovery =
        Some(engine.recovery_status()).filter(|status| *status != RecoveryStatus::default());
    let RunState {
        recorder,
        phases,
        fault_events,
        mut warnings,
        ops_dropped,
        measured_s,
        ..
    } = state;
    drop(shared);
    drop(engine);
    if let Err(e) = subject.close() {
        warnings.push(format!("closing the engine: {e}"));
    }
    Ok(RunOutput {
        scenario: scenario.name.clone(),
        healer: options.healer,
        seed,
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
        recovery,
    })
}

/// A fresh temporary directory for the run's database, under `--db-dir` or the system
/// temp dir (removed when dropped).
fn fresh_db_dir(options: &RunOptions) -> Result<TempDir, String> {
    let parent = options.db_parent.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(&format!("lsmedic-bench-{}-", options.healer.name()))
        .tempdir_in(&parent)
        .map_err(|e| {
            format!(
                "cannot create a database directory in {}: {e}",
                parent.display()
            )
        })
}

/// What a run's shared state is made with besides the subject and the scenario.
struct RunSetup {
    /// Keep every write for verification.
    track: bool,
    /// The run's seed.
    seed: u64,
    /// The tmpfs mounted for the run's database, if any.
    scratch_disk: Option<crate::faults::DiskInfo>,
}

/// What every thread of the run shares; the run's clock starts here. Returns it with the
/// start on the engine's telemetry clock.
fn start_clock(subject: &Subject, scenario: &Scenario, setup: RunSetup) -> (Arc<Shared>, u64) {
    let RunSetup {
        track,
        seed,
        scratch_disk,
    } = setup;
    let engine = subject.engine();
    let cf_names = scenario.column_families();
    let key_spaces = cf_names.iter().map(|cf| scenario.key_space(cf)).collect();
    let trackers = trackers(scenario, &cf_names, track);
    let t0 = Instant::now();
    let t0_engine_ns = engine.telemetry().clock().now_ns();
    let shared = Arc::new(Shared {
        store: Arc::clone(engine) as Arc<dyn Store>,
        engine: Arc::clone(engine),
        tapped: Arc::clone(subject.tapped()),
        t0,
        trackers,
        controls: cf_names.iter().map(|_| CfControl::new()).collect(),
        cf_names,
        key_spaces,
        seed,
        fault_warnings: Mutex::new(Vec::new()),
        hard_stop: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
        writes: WriteOutcomes::default(),
        scratch_disk,
    });
    (shared, t0_engine_ns)
}

/// One write tracker per column family, sized for twice its key space, knowing the value
/// sizes its workloads and `value_size_shift` faults write.
fn trackers(scenario: &Scenario, cf_names: &[String], track: bool) -> Vec<Arc<CfTracker>> {
    cf_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut sizes = scenario.value_sizes(name);
            if sizes.is_empty() {
                sizes.push(ValueSize::fixed(100));
            }
            let capacity = (scenario.key_space(name) * 2).max(1024);
            Arc::new(CfTracker::new(i as u32, name, capacity, sizes, track))
        })
        .collect()
}

/// Starts the monitor thread.
fn spawn_monitor(
    shared: &Arc<Shared>,
    stop: &Arc<AtomicBool>,
    labels: &Arc<Mutex<Labels>>,
    keep_ticks: bool,
    t0_engine_ns: u64,
    core: Option<DrivenCore>,
) -> Result<JoinHandle<MonitorOutput>, String> {
    let (shared, stop, labels) = (Arc::clone(shared), Arc::clone(stop), Arc::clone(labels));
    std::thread::Builder::new()
        .name("bench-monitor".into())
        .spawn(move || run_monitor(shared, stop, labels, keep_ticks, t0_engine_ns, core))
        .map_err(|e| e.to_string())
}

/// A fault in progress.
struct ActiveFault {
    /// Index in `RunOutput::faults`.
    event: usize,
    /// When to lift it.
    until: Option<Instant>,
    /// How to lift it.
    undo: faults::Undo,
}

/// The writes refused during a fault that refuses them, and the first accepted after it.
struct WriteWatch {
    /// Index in `RunOutput::faults`.
    event: usize,
    /// Writes refused before the fault started.
    refused_before: u64,
    /// Writes refused while it lasted (set when it is lifted).
    refused: Option<u64>,
    /// The first write accepted after it was lifted early enough for the workload to go on.
    resume: Option<Arc<ResumeWatch>>,
}

/// What the timeline accumulates over the phases.
struct RunState<'a> {
    shared: &'a Arc<Shared>,
    labels: &'a Mutex<Labels>,
    bar: &'a indicatif::ProgressBar,
    /// `--time-scale`: multiplies every phase duration and fault time.
    scale: f64,
    seed: u64,
    /// The options the database opened with, put back when a phase is stuck and at the end.
    start_tunables: &'a Tunables,
    recorder: Recorder,
    phases: Vec<PhaseSpan>,
    fault_events: Vec<FaultEvent>,
    active: Vec<ActiveFault>,
    /// Threads faults started (delete storms, a compaction), joined at the end.
    storms: Vec<JoinHandle<Recorder>>,
    /// Faults that refuse writes, in the order injected.
    write_watches: Vec<WriteWatch>,
    warnings: Vec<String>,
    ops_dropped: u64,
    measured_s: f64,
}

impl RunState<'_> {
    /// Runs one phase: its workers until they finish, its faults on time.
    fn run_phase(&mut self, phase_index: usize, phase: &Phase) -> Result<(), String> {
        let phase_start = Instant::now();
        let phase_end = phase
            .duration_s
            .map(|d| phase_start + Duration::from_secs_f64(d * self.scale));
        self.shared
            .measuring
            .store(!phase.warmup, Ordering::Relaxed);
        self.labels.lock().phase = phase.name.clone();
        let workers = self.spawn_workers(phase_index, phase, phase_start, phase_end)?;
        self.drive_phase(phase, phase_start, phase_end, &workers);
        for worker in workers {
            let result = worker
                .join()
                .map_err(|_| "a worker thread panicked".to_owned())?;
            self.recorder.merge(&result.recorder);
            self.ops_dropped += result.dropped;
        }
        let span = PhaseSpan {
            name: phase.name.clone(),
            start_s: phase_start.duration_since(self.shared.t0).as_secs_f64(),
            end_s: self.shared.now_s(),
            warmup: phase.warmup,
        };
        if !phase.warmup {
            self.measured_s += span.end_s - span.start_s;
        }
        self.phases.push(span);
        self.shared.hard_stop.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Starts every thread of every workload of the phase, each with its own seed.
    fn spawn_workers(
        &self,
        phase_index: usize,
        phase: &Phase,
        phase_start: Instant,
        phase_end: Option<Instant>,
    ) -> Result<Vec<JoinHandle<WorkerResult>>, String> {
        let mut workers = Vec::new();
        for (workload_index, workload) in phase.workloads.iter().enumerate() {
            let issued = Arc::new(AtomicU64::new(0));
            let sequence = Arc::new(AtomicU64::new(0));
            for thread in 0..workload.threads {
                let job = WorkerJob {
                    workload: workload.clone(),
                    thread,
                    seed: mix64(
                        self.seed
                            ^ mix64(
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
                let shared = Arc::clone(self.shared);
                workers.push(
                    std::thread::Builder::new()
                        .name(format!("{}-{thread}", workload.kind.name()))
                        .spawn(move || run_worker(shared, job))
                        .map_err(|e| e.to_string())?,
                );
            }
        }
        Ok(workers)
    }

    /// Until the phase's workers are done: injects its faults when due, lifts the ones
    /// whose time is up, and abandons the phase once its workers are stuck past a grace
    /// period after its end.
    fn drive_phase(
        &mut self,
        phase: &Phase,
        phase_start: Instant,
        phase_end: Option<Instant>,
        workers: &[JoinHandle<WorkerResult>],
    ) {
        let mut pending: Vec<(Instant, &Fault)> = phase
            .faults
            .iter()
            .map(|f| {
                (
                    phase_start + Duration::from_secs_f64(f.at_s * self.scale),
                    f,
                )
            })
            .collect();
        pending.sort_by_key(|(at, _)| *at);
        let mut pending = pending.into_iter().peekable();
        // A phase whose workers are stuck past this is abandoned (and the engine unstuck).
        let grace = phase.duration_s.map_or(Duration::from_secs(600), |d| {
            Duration::from_secs_f64((d * self.scale * 0.5).max(3.0))
        });
        let mut stuck_handled = false;
        loop {
            let now = Instant::now();
            while let Some((_, fault)) = pending.next_if(|(at, _)| *at <= now) {
                self.inject(phase, fault, now);
            }
            self.lift_expired(now);
            self.bar
                .set_position((self.shared.t0.elapsed().as_secs_f64() * 10.0) as u64);
            if workers.iter().all(|w| w.is_finished()) {
                break;
            }
            if let Some(end) = phase_end {
                if !stuck_handled && now > end + grace {
                    stuck_handled = true;
                    self.abandon_stuck_phase(phase, now - end);
                }
            }
            let next_fault = pending.peek().map(|(at, _)| *at);
            let next_undo = self.active.iter().filter_map(|f| f.until).min();
            let wake = [next_fault, next_undo, Some(now + Duration::from_millis(20))]
                .into_iter()
                .flatten()
                .min()
                .expect("non-empty");
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
    }

    /// Injects `fault` (due by `now`); a fault that cannot be applied is a warning.
    fn inject(&mut self, phase: &Phase, fault: &Fault, now: Instant) {
        let start_s = self.shared.now_s();
        let refused_before = self.shared.writes.refused();
        match faults::apply(self.shared, fault, self.scale) {
            Ok(applied) => {
                self.fault_events.push(FaultEvent {
                    kind: fault.kind.name(),
                    phase: phase.name.clone(),
                    start_s,
                    end_s: None,
                    detail: applied.detail,
                    writes_refused: None,
                    writes_resumed_s: None,
                });
                if fault.kind.refuses_writes() {
                    self.write_watches.push(WriteWatch {
                        event: self.fault_events.len() - 1,
                        refused_before,
                        refused: None,
                        resume: None,
                    });
                }
                self.storms.extend(applied.storm_threads);
                let until = fault
                    .duration_s
                    .map(|d| now + Duration::from_secs_f64(d * self.scale));
                self.active.push(ActiveFault {
                    event: self.fault_events.len() - 1,
                    until,
                    undo: applied.undo,
                });
                self.labels.lock().faults.push(fault.kind.name());
            }
            Err(e) => self
                .warnings
                .push(format!("{} at {start_s:.1} s: {e}", fault.kind.name())),
        }
    }

    /// Lifts the active faults whose time is up by `now`.
    fn lift_expired(&mut self, now: Instant) {
        let mut still = Vec::new();
        for fault in std::mem::take(&mut self.active) {
            if fault.until.is_some_and(|until| until <= now) {
                self.lift(&fault);
            } else {
                still.push(fault);
            }
        }
        self.active = still;
    }

    /// Lifts `fault` before the end of the run: its end is recorded and its label removed.
    fn lift(&mut self, fault: &ActiveFault) {
        if let Err(e) = faults::undo(self.shared, &fault.undo) {
            self.warnings.push(format!(
                "lifting {}: {e}",
                self.fault_events[fault.event].kind
            ));
        }
        let lifted = Instant::now();
        self.fault_events[fault.event].end_s =
            Some(lifted.duration_since(self.shared.t0).as_secs_f64());
        self.watch_writes_after(fault.event, Some(lifted));
        let kind = self.fault_events[fault.event].kind;
        let mut labels = self.labels.lock();
        if let Some(i) = labels.faults.iter().position(|k| *k == kind) {
            labels.faults.remove(i);
        }
    }

    /// A fault that refuses writes was lifted: its refused writes are counted, and from
    /// `lifted` (unless the run is ending) the first accepted write is watched for.
    fn watch_writes_after(&mut self, event: usize, lifted: Option<Instant>) {
        let writes = &self.shared.writes;
        if let Some(watch) = self.write_watches.iter_mut().find(|w| w.event == event) {
            watch.refused = Some(writes.refused() - watch.refused_before);
            watch.resume = lifted.map(|at| writes.watch_from(at));
        }
    }

    /// Abandons the outstanding ops of a phase whose workers are still busy `late` after
    /// its end, and puts the engine's options back so that blocked writes can finish.
    fn abandon_stuck_phase(&mut self, phase: &Phase, late: Duration) {
        self.warnings.push(format!(
            "phase {:?}: workers still busy {:.1} s after its end: outstanding ops abandoned, engine options restored to unblock writes",
            phase.name,
            late.as_secs_f64()
        ));
        self.shared.hard_stop.store(true, Ordering::Relaxed);
        let _ = self.shared.engine.restore(self.start_tunables);
    }

    /// End of the timeline: stops storms, lifts what is still active (faults "to the end of
    /// the run" end here), puts every tunable back (thread pools are process-wide) and lifts
    /// any write-rate limit.
    fn wind_down(&mut self) {
        self.shared.hard_stop.store(true, Ordering::Relaxed);
        for storm in self.storms.drain(..) {
            match storm.join() {
                Ok(storm) => self.recorder.merge(&storm),
                Err(_) => self.warnings.push("a fault thread panicked".to_owned()),
            }
        }
        self.warnings.append(&mut self.shared.fault_warnings.lock());
        for fault in std::mem::take(&mut self.active) {
            if let Err(e) = faults::undo(self.shared, &fault.undo) {
                self.warnings.push(format!(
                    "lifting {}: {e}",
                    self.fault_events[fault.event].kind
                ));
            }
            // Lasted to the end of the run: no write came after it.
            self.watch_writes_after(fault.event, None);
        }
        // Every workload thread has ended: the watches have seen every write.
        for watch in &self.write_watches {
            let event = &mut self.fault_events[watch.event];
            event.writes_refused = watch.refused;
            event.writes_resumed_s = watch
                .resume
                .as_ref()
                .and_then(|resume| resume.resumed_after())
                .map(|after| after.as_secs_f64());
        }
        let engine = &self.shared.engine;
        if let Err(e) = engine.restore(self.start_tunables) {
            self.warnings
                .push(format!("restoring the engine's options: {e}"));
        }
        let _ = engine.set_write_rate_limit(&ThrottleScope::All, None);
    }
}
