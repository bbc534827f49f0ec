//! Faults that send the database operations of their own, from threads of their own,
//! beside the workloads: point deletes in key order (`delete_storm`), long range scans
//! (`scan_storm`) and periodic range deletes of the oldest keys (`range_delete_retention`).
//!
//! Deletes are application writes: they go through the column family's write tracker (so
//! the verifier expects the keys absent) and are timed like the workloads' writes. The
//! storm's scans are a neighbour's analytics, not the application's requests: they load the
//! engine but are left out of the run's latency figures, which stay those of the workloads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{behind_by, spawn_fault_threads, stopped, wait_until, Applied, Undo};
use crate::keygen::{encode_key, mix64, Rng};
use crate::measure::{Class, Recorder};
use crate::runner::{spawn_storm, Shared};

pub(super) fn delete_storm(
    shared: &Arc<Shared>,
    cf: &str,
    key_range: (u64, u64),
    rate: Option<f64>,
    threads: u32,
) -> Applied {
    let stop = Arc::new(AtomicBool::new(false));
    let storm_threads = spawn_storm(shared, cf, key_range, rate, threads, Arc::clone(&stop));
    Applied {
        detail: format!(
            "deleting keys [{}, {}) of {cf:?} at {}",
            key_range.0,
            key_range.1,
            rate.map_or("full speed".to_owned(), |r| format!("{r} deletes/s"))
        ),
        undo: Undo::Storm { stop },
        storm_threads,
    }
}

/// What one scan-storm thread does.
#[derive(Clone)]
pub(super) struct ScanStorm {
    /// Column family.
    pub(super) cf: String,
    /// Keys a scan starts in.
    pub(super) key_range: (u64, u64),
    /// Entries per scan, uniform in the range.
    pub(super) scan_length: (u32, u32),
    /// Scans/s over all threads, `None` = flat out.
    pub(super) rate: Option<f64>,
    /// Threads.
    pub(super) threads: u32,
}

/// Starts the storm's threads; each seeds its generator from the run's seed and `seed`, so
/// every healer mode sees the same scans.
pub(super) fn scan_storm(
    shared: &Arc<Shared>,
    storm: ScanStorm,
    seed: u64,
) -> Result<Applied, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let storm_threads = spawn_fault_threads(shared, &stop, storm.threads, "scan-storm", {
        let storm = storm.clone();
        move |shared, stop, thread| {
            scan_loop(&shared, &stop, &storm, mix64(seed ^ u64::from(thread)))
        }
    })?;
    Ok(Applied {
        detail: format!(
            "{} thread(s) scanning {}..={} keys of {:?} from keys in [{}, {}) at {}",
            storm.threads,
            storm.scan_length.0,
            storm.scan_length.1,
            storm.cf,
            storm.key_range.0,
            storm.key_range.1,
            storm
                .rate
                .map_or("full speed".to_owned(), |r| format!("{r} scans/s"))
        ),
        undo: Undo::Storm { stop },
        storm_threads,
    })
}

/// Scans until stopped; an error is reported once (the storm goes on: it is load).
fn scan_loop(shared: &Shared, stop: &AtomicBool, storm: &ScanStorm, seed: u64) -> Recorder {
    let mut rng = Rng::new(seed);
    let interval = storm
        .rate
        .map(|r| Duration::from_secs_f64(f64::from(storm.threads) / r));
    let mut next_due = Instant::now();
    let mut reported = false;
    while !stopped(shared, stop) {
        if let Some(interval) = interval {
            if !wait_until(shared, stop, next_due) {
                break;
            }
            // A storm that fell behind does not catch up in a burst.
            next_due = (next_due + interval).max(behind_by(interval));
        }
        let start = rng.between(storm.key_range.0, storm.key_range.1 - 1);
        let length = rng.between(
            u64::from(storm.scan_length.0),
            u64::from(storm.scan_length.1),
        );
        let result = shared
            .store
            .scan(&storm.cf, &encode_key(start), length as usize);
        if let (Err(e), false) = (result, reported) {
            reported = true;
            shared.warn(format!("scan_storm on {:?}: {e}", storm.cf));
        }
    }
    Recorder::new(shared.t0)
}

/// Every `period`, `delete_range` of the oldest `keys_per_period` keys of `key_range` not
/// yet deleted, the first at once; the thread ends when the range is gone.
pub(super) fn range_delete_retention(
    shared: &Arc<Shared>,
    cf: &str,
    key_range: (u64, u64),
    period_s: f64,
    keys_per_period: u64,
) -> Result<Applied, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let period = Duration::from_secs_f64(period_s);
    let cf_index = shared.cf(cf);
    let name = cf.to_owned();
    let storm_threads =
        spawn_fault_threads(shared, &stop, 1, "retention", move |shared, stop, _| {
            let tracker = Arc::clone(&shared.trackers[cf_index]);
            let mut recorder = Recorder::new(shared.t0);
            let mut next = key_range.0;
            let mut due = Instant::now();
            while next < key_range.1 && wait_until(&shared, &stop, due) {
                let end = next.saturating_add(keys_per_period).min(key_range.1);
                let sent = Instant::now();
                let result = tracker.delete_range(&shared.engine, next, end);
                let measured = shared.measuring.load(Ordering::Relaxed);
                if let Err(e) = &result {
                    shared.warn(format!(
                        "range_delete_retention: delete_range [{next}, {end}) of {name:?}: {e}"
                    ));
                }
                recorder.record(
                    Class::Write,
                    sent.min(due),
                    Instant::now(),
                    result.err().map(|e| e.corruption),
                    measured,
                );
                next = end;
                due += period;
            }
            recorder
        })?;
    let width = key_range.1 - key_range.0;
    Ok(Applied {
        detail: format!(
            "every {period_s} s, delete_range of the oldest {keys_per_period} keys of [{}, {}) \
             of {cf:?} ({} range deletes empty it)",
            key_range.0,
            key_range.1,
            width.div_ceil(keys_per_period)
        ),
        undo: Undo::Storm { stop },
        storm_threads,
    })
}
