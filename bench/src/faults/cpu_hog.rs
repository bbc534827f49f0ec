//! `cpu_hog`: busy threads competing for the CPU with the workload's threads and RocksDB's
//! flushes and compactions, as another process on the machine would. Each thread spins for
//! `duty` of every 10 ms and sleeps the rest.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{spawn_fault_threads, stopped, Applied, Undo};
use crate::keygen::mix64;
use crate::measure::Recorder;
use crate::runner::Shared;

/// The period a thread's busy share is measured over.
const PERIOD: Duration = Duration::from_millis(10);

pub(super) fn cpu_hog(shared: &Arc<Shared>, threads: u32, duty: f64) -> Result<Applied, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let busy = PERIOD.mul_f64(duty);
    let storm_threads =
        spawn_fault_threads(shared, &stop, threads, "cpu-hog", move |shared, stop, _| {
            let mut state = 0u64;
            while !stopped(&shared, &stop) {
                let period_start = Instant::now();
                while period_start.elapsed() < busy {
                    for _ in 0..256 {
                        state = mix64(state);
                    }
                    std::hint::black_box(state);
                }
                if let Some(rest) = (period_start + PERIOD).checked_duration_since(Instant::now()) {
                    std::thread::sleep(rest);
                }
            }
            Recorder::new(shared.t0)
        })?;
    Ok(Applied {
        detail: format!(
            "{threads} busy thread(s), each spinning {:.0} % of the time",
            duty * 100.0
        ),
        undo: Undo::Storm { stop },
        storm_threads,
    })
}
