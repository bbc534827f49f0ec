//! The load generator's threads: one per workload thread (open or closed loop, the
//! workload's operation mix and key distribution, as the knobs of [`super::knobs`] bend
//! them), and the delete-storm threads of the `delete_storm` fault.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::knobs::{Cached, CfControl, Ramp, Skew};
use super::verify::CfTracker;
use super::Shared;
use crate::keygen::{encode_key, KeyChooser, Rng};
use crate::measure::{Class, Pacer, Recorder};
use crate::scenario::Workload;
use crate::store::{Store, StoreError};
use crate::workload::{MixChooser, OpType, WorkloadKind};

/// One worker thread's share of a workload in one phase.
pub(super) struct WorkerJob {
    /// The workload (its rate and ops are over all its threads).
    pub(super) workload: Workload,
    /// Which of the workload's threads this is.
    pub(super) thread: u32,
    /// Seed of the thread's generator.
    pub(super) seed: u64,
    /// When the phase started.
    pub(super) phase_start: Instant,
    /// When the phase ends (`None`: when the workload has done its ops).
    pub(super) phase_end: Option<Instant>,
    /// Whether the phase counts towards the totals (not a warm-up).
    pub(super) measured: bool,
    /// Ops issued by every thread of the workload.
    pub(super) issued: Arc<AtomicU64>,
    /// Next key of a `fillseq` workload, shared by its threads.
    pub(super) sequence: Arc<AtomicU64>,
}

/// What a worker hands back.
pub(super) struct WorkerResult {
    /// Its measurements.
    pub(super) recorder: Recorder,
    /// Ops its schedule wanted but a hard stop abandoned.
    pub(super) dropped: u64,
}

/// Issues the job's operations until its phase ends, its ops are done or the run stops.
pub(super) fn run_worker(shared: Arc<Shared>, job: WorkerJob) -> WorkerResult {
    let mut worker = Worker::new(&shared, &job);
    let mut recorder = Recorder::new(shared.t0);
    let mut rng = Rng::new(job.seed);
    let mut pacer = Pacer::new(worker.first_due());
    let mut buf = Vec::new();
    let mut dropped = 0;
    loop {
        if shared.hard_stop.load(Ordering::Relaxed) {
            dropped += worker.abandoned(&pacer);
            break;
        }
        if worker.quota_reached() {
            break;
        }
        worker.refresh_knobs();
        let Some(due) = worker.wait_until_due(&mut pacer) else {
            break;
        };
        let sent = Instant::now();
        let Some((class, result)) = worker.execute(&mut rng, &mut buf) else {
            break;
        };
        let end = Instant::now();
        if class == Class::Write {
            shared.writes.note(result.is_ok(), end);
        }
        let error = result.err().map(|e| e.corruption);
        recorder.record(class, due.min(sent), end, error, job.measured);
    }
    WorkerResult { recorder, dropped }
}

/// What a worker thread works with, fixed for the phase.
struct Worker<'a> {
    job: &'a WorkerJob,
    tracker: Arc<CfTracker>,
    control: &'a CfControl,
    store: &'a dyn Store,
    mix: MixChooser,
    chooser: KeyChooser,
    size_class: u32,
    /// The thread's share of the workload's rate (`None`: as fast as possible).
    per_thread_rate: Option<f64>,
    /// Whether a write burst speeds this workload up.
    writes: bool,
    /// The write ramp in force, if any.
    ramp: Cached<Ramp>,
    /// The value size class in force instead of `size_class`, if any.
    size_override: Cached<u32>,
    /// The key distribution in force instead of `chooser`, if any.
    skew: Cached<Arc<Skew>>,
}

impl<'a> Worker<'a> {
    fn new(shared: &'a Shared, job: &'a WorkerJob) -> Worker<'a> {
        let w = &job.workload;
        let cf = shared.cf(&w.cf);
        let tracker = Arc::clone(&shared.trackers[cf]);
        let size_class = tracker.size_class(w.value_size);
        Worker {
            job,
            tracker,
            control: &shared.controls[cf],
            store: shared.store.as_ref(),
            mix: MixChooser::new(w.kind.mix()),
            chooser: KeyChooser::new(w.distribution, w.key_range.1 - w.key_range.0),
            size_class,
            per_thread_rate: w.rate.map(|rate| rate / f64::from(w.threads)),
            writes: w.kind.writes(),
            ramp: Cached::new(),
            size_override: Cached::new(),
            skew: Cached::new(),
        }
    }

    /// Takes up what faults changed in the column family's knobs since the last op.
    #[inline]
    fn refresh_knobs(&mut self) {
        self.ramp.refresh(&self.control.ramp);
        self.size_override.refresh(&self.control.size_class);
        self.skew.refresh(&self.control.skew);
    }

    /// The write-rate multiplier now: burst times ramp.
    fn write_multiplier(&self) -> f64 {
        let ramp = self
            .ramp
            .value
            .map_or(1.0, |r| r.multiplier(Instant::now()));
        self.control.multiplier() * ramp
    }

    /// The first op's due time: threads are staggered over one interval so they do not fire
    /// in lockstep.
    fn first_due(&self) -> Instant {
        let w = &self.job.workload;
        self.job.phase_start
            + self.per_thread_rate.map_or(Duration::ZERO, |r| {
                Duration::from_secs_f64(f64::from(self.job.thread) / f64::from(w.threads) / r)
            })
    }

    /// Ops the schedule still wanted before the phase's end, when a hard stop cuts it short.
    fn abandoned(&self, pacer: &Pacer) -> u64 {
        match (self.per_thread_rate, self.job.phase_end) {
            (Some(rate), Some(end)) => {
                let behind = end
                    .saturating_duration_since(pacer.next_due())
                    .as_secs_f64();
                (behind * rate) as u64
            }
            _ => 0,
        }
    }

    /// Counts one more op against the workload's `ops`; true when they are all issued.
    fn quota_reached(&self) -> bool {
        self.job
            .workload
            .ops
            .is_some_and(|limit| self.job.issued.fetch_add(1, Ordering::Relaxed) >= limit)
    }

    /// Waits for the next op's turn (open loop) and returns when it was due; `None` once the
    /// phase is over.
    fn wait_until_due(&self, pacer: &mut Pacer) -> Option<Instant> {
        match self.per_thread_rate {
            Some(rate) => {
                if self
                    .job
                    .phase_end
                    .is_some_and(|end| pacer.next_due() >= end)
                {
                    return None;
                }
                let multiplier = if self.writes {
                    self.write_multiplier()
                } else {
                    1.0
                };
                Some(pacer.wait(rate * multiplier))
            }
            None => {
                let now = Instant::now();
                if self.job.phase_end.is_some_and(|end| now >= end) {
                    return None;
                }
                Some(now)
            }
        }
    }

    /// Draws the next operation of the mix and issues it; `None` when a `fillseq` workload
    /// has written its whole range.
    fn execute(&self, rng: &mut Rng, buf: &mut Vec<u8>) -> Option<(Class, Result<(), StoreError>)> {
        let w = &self.job.workload;
        let size_class = self.size_override.value.unwrap_or(self.size_class);
        let (store, tracker) = (self.store, &self.tracker);
        let op = self.mix.next(rng);
        let range = if op == OpType::Insert {
            w.key_range
        } else {
            self.control.range(w.key_range)
        };
        let chooser = self
            .skew
            .value
            .as_ref()
            .map_or(&self.chooser, |skew| skew.chooser(w.distribution));
        let pick = |rng: &mut Rng| chooser.next(rng, range.0, range.1, tracker.cursor.newest());
        Some(match op {
            OpType::Read => (
                Class::Read,
                store.get(&w.cf, &encode_key(pick(rng))).map(drop),
            ),
            OpType::Update => (Class::Write, tracker.put(store, pick(rng), size_class, buf)),
            OpType::Insert => {
                let key = self.insert_key(rng, &pick)?;
                let result = tracker.put(store, key, size_class, buf);
                tracker.cursor.observe(key);
                (Class::Write, result)
            }
            OpType::Scan => {
                let length = rng.between(u64::from(w.scan_length.0), u64::from(w.scan_length.1));
                let start = encode_key(pick(rng));
                (
                    Class::Scan,
                    store.scan(&w.cf, &start, length as usize).map(drop),
                )
            }
            OpType::Delete => (Class::Write, tracker.delete(store, pick(rng))),
            OpType::ReadModifyWrite => (
                Class::Write,
                tracker.read_modify_write(store, pick(rng), size_class, buf),
            ),
        })
    }

    /// The key an insert writes: the next of the sequence (`fillseq`, `None` past the end
    /// of its range), else the next fresh key of the column family (or a drawn one when the
    /// key space is full).
    fn insert_key(&self, rng: &mut Rng, pick: &dyn Fn(&mut Rng) -> u64) -> Option<u64> {
        let w = &self.job.workload;
        if w.kind == WorkloadKind::Fillseq {
            let n = self.job.sequence.fetch_add(1, Ordering::Relaxed);
            if w.key_range.0 + n >= w.key_range.1 {
                return None;
            }
            Some(w.key_range.0 + n)
        } else {
            Some(self.tracker.cursor.claim().unwrap_or_else(|| pick(rng)))
        }
    }
}

/// Deletes `[lo, hi)` of a column family in key order (the delete storm fault).
pub(crate) fn spawn_storm(
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
