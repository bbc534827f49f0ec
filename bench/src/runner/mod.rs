//! Runs one scenario against one [`Subject`](crate::subject::Subject): worker threads per
//! workload, the fault timeline on the calling thread, a monitor thread sampling the engine
//! every tick, and a final verification pass over every key the run wrote.
//!
//! - `run`: the timeline (open, phases, faults, stuck phases, wind-down) and what it yields;
//! - `worker`: the workload and delete-storm threads;
//! - `knobs`: what faults turn in running workers (rates, key ranges and shapes, value sizes);
//! - `monitor`: the per-tick thread (sampler, rings, events, the driven healer of `record`);
//! - `verify`: what every write left behind and the final re-read of it;
//! - `outcomes`: writes refused and the first accepted after a fault that refuses them.

mod knobs;
mod monitor;
mod outcomes;
mod run;
mod verify;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsmedic::engine::Engine;

use crate::store::Store;
use crate::subject::{Drive, HealerMode, Tapped};

pub(crate) use knobs::{CfControl, Ramp, Skew};
pub use monitor::{EventRecord, MonitorOutput, TickLite, TickRecord, WindowSummary};
pub(crate) use outcomes::WriteOutcomes;
pub use run::{run, FaultEvent, PhaseSpan, RunOutput};
pub(crate) use verify::CfTracker;
pub use verify::Verification;
pub(crate) use worker::spawn_storm;

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

/// Everything worker, storm and monitor threads share.
pub(crate) struct Shared {
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
    /// Key space of each column family (the largest its workloads declare).
    pub key_spaces: Vec<u64>,
    /// The run's seed, from which fault threads derive their own.
    pub seed: u64,
    /// Problems fault threads met (an I/O error of a hog, …), reported as run warnings.
    pub fault_warnings: parking_lot::Mutex<Vec<String>>,
    /// Set to abandon all outstanding work.
    pub hard_stop: AtomicBool,
    /// What the workload threads' writes came back with.
    pub writes: WriteOutcomes,
    /// The tmpfs the run mounted for its database (scenarios with `disk_full`), the only
    /// file system that fault fills.
    pub scratch_disk: Option<crate::faults::DiskInfo>,
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

    /// Notes a problem a fault thread met; it ends up among the run's warnings.
    pub fn warn(&self, message: String) {
        self.fault_warnings.lock().push(message);
    }

    /// Seconds since the run started.
    pub fn now_s(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }
}
