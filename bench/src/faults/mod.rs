//! Injecting and lifting faults on a running engine.
//!
//! | kind | how it is injected | how it is lifted |
//! |---|---|---|
//! | `write_burst` | write-bearing workloads of the CF run at `rate × factor` | rate back |
//! | `working_set_shift` | workloads of the CF pick keys from `key_range` instead | range back |
//! | `compaction_starvation` | `set_global(max_background_jobs, background_threads_low)`, `set_cf(disable_auto_compactions)` | previous values back |
//! | `delete_storm` | extra threads delete `key_range` in key order at `rate` | threads stop |
//! | `sst_corruption` | the CF is flushed, then `bytes` bytes in the middle of its largest live SST above the bottom level (else its largest) are inverted in place; optionally a full compaction of the CF is started | — (instantaneous) |
//! | `misconfiguration` | `set_cf` / `set_global` with the given values | previous values back |
//! | `io_hog` | `threads` threads write 256 KiB chunks of random bytes to files in a directory beside the database (its parent directory), fsync every 4 MiB, at `bytes_per_sec` over all threads or flat out, with `O_DIRECT` when `direct` and the filesystem allows it (else a warning); each thread alternates between two files of `file_bytes` | threads stop; their files and the directory are removed (also when the run fails) |
//! | `cpu_hog` | `threads` threads spin for `duty` of every 10 ms | threads stop |
//! | `write_ramp` | the rate of write-bearing workloads of the CF rises linearly from `rate` to `rate × factor` over the fault's duration (scaled by the time scale) | rate back; with `hold` it stays at `rate × factor` to the end of the run |
//! | `value_size_shift` | workloads of the CF write values of `value_size` (the verifier knows every size a CF is written with) | sizes back |
//! | `skew_shift` | workloads of the CF draw keys from `distribution` (or their own), with zipfian exponent `theta`, the hot keys moved `hot_offset` keys on within each workload's range | distributions back |
//! | `scan_storm` | `threads` extra threads scan `scan_length` entries from uniform keys of `key_range` at `rate` scans/s (left out of the run's latency figures) | threads stop |
//! | `disk_full` | on the run's own tmpfs of `disk_mb` MiB (mounted for the run, unmounted when it ends), a ballast file beside the database directory is written in 1 MiB chunks until the file system is full, and topped up every 50 ms | ballast deleted (also when the run fails); the tmpfs is unmounted at the end of the run |
//! | `range_delete_retention` | a thread runs `delete_range` on the oldest `keys_per_period` keys of `key_range` not yet deleted, at once and then every `period_s` (wall seconds), until the range is gone; the verifier expects those keys absent | thread stops |
//!
//! When two faults that set the same knob (`write_ramp`, `value_size_shift`, `skew_shift`)
//! overlap on a column family, the later one is in force until it is lifted.
//!
//! Faults that run threads (storms, hogs, retention) stop when lifted or when the run
//! stops; the runner joins them at the end of the run and reports what they met as
//! warnings.

mod corruption;
mod cpu_hog;
mod disk_full;
mod io_hog;
mod load_shape;
mod options;
mod storms;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lsmedic::telemetry::Tunable;

use crate::keygen::mix64;
use crate::measure::Recorder;
use crate::runner::Shared;
use crate::scenario::{Fault, FaultKind};

pub(crate) use disk_full::{DiskInfo, MountError, ScratchDisk};

/// A knob of the workers a fault sets for its duration.
#[derive(Copy, Clone, Debug)]
pub enum Knob {
    /// The write ramp.
    Ramp,
    /// The value size class.
    ValueSize,
    /// The key distribution.
    Skew,
}

/// How to lift a fault.
pub enum Undo {
    /// Nothing to lift.
    Nothing,
    /// Divide the write multiplier of these CFs by `factor`.
    WriteBurst {
        /// Column-family indexes.
        cfs: Vec<usize>,
        /// The burst factor.
        factor: f64,
    },
    /// Put the working set of these CFs back.
    Shift {
        /// Column-family indexes.
        cfs: Vec<usize>,
    },
    /// Lift fault `id`'s value of `knob` on these CFs.
    Knob {
        /// Which knob.
        knob: Knob,
        /// Column-family indexes.
        cfs: Vec<usize>,
        /// The fault that set it.
        id: u64,
    },
    /// Put these tunables back to their previous values.
    Tunables {
        /// DB-wide ones.
        global: Vec<(Tunable, u64)>,
        /// Per column family.
        cfs: Vec<(String, Vec<(Tunable, u64)>)>,
    },
    /// Stop the fault's threads.
    Storm {
        /// Their stop flag.
        stop: Arc<AtomicBool>,
    },
    /// Stop the writers; their directory goes when this is dropped.
    IoHog {
        /// The writers' directory and stop flag.
        dir: io_hog::HogDir,
    },
    /// Delete the ballast (it also goes when this is dropped).
    DiskFull {
        /// The ballast file and its top-up thread's stop flag.
        ballast: disk_full::Ballast,
    },
}

/// A fault just injected.
pub struct Applied {
    /// What was done, for reports.
    pub detail: String,
    /// How to lift it.
    pub undo: Undo,
    /// Threads the fault started (joined at the end of the run).
    pub storm_threads: Vec<JoinHandle<Recorder>>,
}

/// Identifies the faults that set a knob, so that lifting one leaves a later one in force.
fn next_fault_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn target_cfs(shared: &Shared, cf: &Option<String>) -> Vec<usize> {
    match cf {
        Some(name) => vec![shared.cf(name)],
        None => (0..shared.cf_names.len()).collect(),
    }
}

fn cf_label(cf: &Option<String>) -> String {
    cf.as_deref().map_or_else(
        || "all column families".to_owned(),
        |c| format!("column family {c:?}"),
    )
}

/// Injects `fault` now; the caller lifts it (with [`undo`]) when its duration is up.
/// `scale` is the run's time scale (a ramp lasts the fault's scaled duration).
pub fn apply(shared: &Arc<Shared>, fault: &Fault, scale: f64) -> Result<Applied, String> {
    // Fault threads draw from the run's seed and the fault's onset: the same in every mode.
    let seed = mix64(shared.seed ^ fault.at_s.to_bits());
    match &fault.kind {
        FaultKind::WriteBurst { cf, factor } => Ok(load_shape::write_burst(shared, cf, *factor)),
        FaultKind::WorkingSetShift { cf, key_range } => {
            Ok(load_shape::working_set_shift(shared, cf, *key_range))
        }
        FaultKind::CompactionStarvation {
            cf,
            max_background_jobs,
            background_threads_low,
            disable_auto_compactions,
        } => options::compaction_starvation(
            shared,
            cf,
            *max_background_jobs,
            *background_threads_low,
            *disable_auto_compactions,
        ),
        FaultKind::DeleteStorm {
            cf,
            key_range,
            rate,
            threads,
        } => Ok(storms::delete_storm(
            shared, cf, *key_range, *rate, *threads,
        )),
        FaultKind::SstCorruption { cf, bytes, compact } => {
            corruption::sst_corruption(shared, cf, *bytes, *compact)
        }
        FaultKind::Misconfiguration {
            cf,
            cf_changes,
            global_changes,
        } => options::misconfiguration(shared, cf, cf_changes, global_changes),
        kind => apply_latent(shared, kind, scale, seed),
    }
}

/// The faults that are not an option change (neighbours, load shapes, storms).
fn apply_latent(
    shared: &Arc<Shared>,
    kind: &FaultKind,
    scale: f64,
    seed: u64,
) -> Result<Applied, String> {
    match kind {
        FaultKind::IoHog {
            bytes_per_sec,
            threads,
            file_bytes,
            direct,
        } => io_hog::io_hog(
            shared,
            io_hog::IoHog {
                bytes_per_sec: *bytes_per_sec,
                threads: *threads,
                file_bytes: *file_bytes,
                direct: *direct,
            },
            seed,
        ),
        FaultKind::CpuHog { threads, duty } => cpu_hog::cpu_hog(shared, *threads, *duty),
        FaultKind::WriteRamp {
            cf,
            factor,
            ramp_s,
            hold,
        } => Ok(load_shape::write_ramp(
            shared, cf, *factor, *ramp_s, *hold, scale,
        )),
        FaultKind::ValueSizeShift { cf, value_size } => {
            load_shape::value_size_shift(shared, cf, *value_size)
        }
        FaultKind::SkewShift {
            cf,
            distribution,
            theta,
            hot_offset,
        } => Ok(load_shape::skew_shift(
            shared,
            cf,
            *distribution,
            *theta,
            *hot_offset,
        )),
        FaultKind::ScanStorm {
            cf,
            key_range,
            scan_length,
            rate,
            threads,
        } => storms::scan_storm(
            shared,
            storms::ScanStorm {
                cf: cf.clone(),
                key_range: *key_range,
                scan_length: *scan_length,
                rate: *rate,
                threads: *threads,
            },
            seed,
        ),
        FaultKind::RangeDeleteRetention {
            cf,
            key_range,
            period_s,
            keys_per_period,
        } => storms::range_delete_retention(shared, cf, *key_range, *period_s, *keys_per_period),
        FaultKind::DiskFull { disk_mb } => disk_full::disk_full(shared, *disk_mb),
        other => Err(format!("{} is not a latent fault", other.name())),
    }
}

/// A fault that starts no thread.
fn simple(detail: String, undo: Undo) -> Applied {
    Applied {
        detail,
        undo,
        storm_threads: Vec::new(),
    }
}

/// Lifts a fault.
pub fn undo(shared: &Shared, undo: &Undo) -> Result<(), String> {
    match undo {
        Undo::Nothing => Ok(()),
        Undo::WriteBurst { cfs, factor } => {
            for &i in cfs {
                shared.controls[i].scale_writes(1.0 / factor);
            }
            Ok(())
        }
        Undo::Shift { cfs } => {
            for &i in cfs {
                shared.controls[i].shift(None);
            }
            Ok(())
        }
        Undo::Knob { knob, cfs, id } => {
            load_shape::lift_knob(shared, *knob, cfs, *id);
            Ok(())
        }
        Undo::Tunables { global, cfs } => options::restore(shared, global, cfs),
        Undo::Storm { stop } => {
            stop.store(true, Ordering::Relaxed);
            Ok(())
        }
        Undo::IoHog { dir } => {
            dir.stop();
            Ok(())
        }
        Undo::DiskFull { ballast } => ballast.lift(),
    }
}

/// Whether a fault thread should end: its fault was lifted or the run is stopping.
fn stopped(shared: &Shared, stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed) || shared.hard_stop.load(Ordering::Relaxed)
}

/// Sleeps until `deadline` in short naps, so that a stop is heeded within 50 ms; false when
/// stopped.
fn wait_until(shared: &Shared, stop: &AtomicBool, deadline: Instant) -> bool {
    loop {
        if stopped(shared, stop) {
            return false;
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return true;
        };
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// The earliest a paced fault thread's next turn may be: one `interval` before now (a
/// thread held back does not catch up in a burst).
fn behind_by(interval: Duration) -> Instant {
    let now = Instant::now();
    now.checked_sub(interval).unwrap_or(now)
}

/// Starts `threads` threads named `name-N` running `body(shared, stop, N)`; if one cannot
/// be started, the ones already running are stopped.
fn spawn_fault_threads<F>(
    shared: &Arc<Shared>,
    stop: &Arc<AtomicBool>,
    threads: u32,
    name: &str,
    body: F,
) -> Result<Vec<JoinHandle<Recorder>>, String>
where
    F: Fn(Arc<Shared>, Arc<AtomicBool>, u32) -> Recorder + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let mut handles = Vec::with_capacity(threads as usize);
    for thread in 0..threads {
        let (shared, stop_flag, body) = (Arc::clone(shared), Arc::clone(stop), Arc::clone(&body));
        let spawned = std::thread::Builder::new()
            .name(format!("{name}-{thread}"))
            .spawn(move || body(shared, stop_flag, thread));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(format!("cannot start {name} thread {thread}: {e}"));
            }
        }
    }
    Ok(handles)
}
