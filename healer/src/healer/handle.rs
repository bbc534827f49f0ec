//! What the healer thread shares with its handles: the steering an application sets, the
//! statistics and the audit log it reads, and the audit observer. [`HealerHandle`] is the
//! application's side; the healer's side appends audit entries through [`Shared::audit`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::audit::{AuditEntry, AuditLog};
use crate::config::{Mode, Weights};
use crate::error::HealerError;
use crate::stats::{HealerStats, StatsCell};

/// Settings an application may change while the healer runs.
#[derive(Debug)]
pub(super) struct Steering {
    pub(super) mode: Mode,
    pub(super) weights: Weights,
    pub(super) adapt_requests: u64,
    pub(super) stop: bool,
    pub(super) running: bool,
}

/// A function told of every audit entry as it is appended (see
/// [`HealerHandle::set_audit_observer`]).
pub type AuditObserver = Arc<dyn Fn(&AuditEntry) + Send + Sync>;

/// State shared by the thread and its handles.
pub(super) struct Shared {
    pub(super) steering: Mutex<Steering>,
    pub(super) wake: Condvar,
    stats: Mutex<StatsCell>,
    audit: Mutex<AuditLog>,
    /// Held while the observer runs, so that replacing it waits for a call in progress.
    observer: Mutex<Option<AuditObserver>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("steering", &self.steering)
            .field("stats", &self.stats)
            .field("audit", &self.audit)
            .field("observer", &self.observer.lock().is_some())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Shared state of a healer starting in `mode` with `weights`.
    pub(super) fn new(mode: Mode, weights: Weights, stats: StatsCell, audit: AuditLog) -> Shared {
        Shared {
            steering: Mutex::new(Steering {
                mode,
                weights,
                adapt_requests: 0,
                stop: false,
                running: false,
            }),
            wake: Condvar::new(),
            stats: Mutex::new(stats),
            audit: Mutex::new(audit),
            observer: Mutex::new(None),
        }
    }

    /// The statistics, locked (keep it short: handles wait for it).
    pub(super) fn stats(&self) -> MutexGuard<'_, StatsCell> {
        self.stats.lock()
    }

    /// Sequence number the next audit entry will get.
    pub(super) fn next_audit_seq(&self) -> u64 {
        self.audit.lock().next_seq()
    }

    /// Appends `entry` to the audit log, updates the log's statistics and tells the observer;
    /// returns the entry's sequence number.
    pub(super) fn audit(&self, entry: AuditEntry) -> u64 {
        // Taken first and held across the call, so that `set_audit_observer` waits for it.
        let observer = self.observer.lock();
        let mut copy = observer.is_some().then(|| entry.clone());
        let mut audit = self.audit.lock();
        let seq = audit.append(entry);
        let (errors, _) = audit.write_errors();
        let written = audit.next_seq() - 1;
        drop(audit);
        self.stats().record_audit_log(written, errors);
        if let (Some(observer), Some(copy)) = (observer.as_ref(), copy.as_mut()) {
            copy.seq = seq;
            // The observer is the embedder's code: it must not take the healer down.
            let _ = catch_unwind(AssertUnwindSafe(|| observer(copy)));
        }
        seq
    }

    /// Writes buffered audit entries out (errors are counted by the log itself).
    pub(super) fn flush_audit(&self) {
        let _ = self.audit.lock().flush();
    }
}

/// A cheap, cloneable handle to a running healer: steer it and read what it did.
#[derive(Clone, Debug)]
pub struct HealerHandle {
    pub(super) shared: Arc<Shared>,
}

impl HealerHandle {
    /// Sets the objective weights (normalised; each ≥ 0, not all 0). Takes effect next tick.
    pub fn set_weights(&self, weights: Weights) -> Result<(), HealerError> {
        let weights = weights.normalized()?;
        self.shared.steering.lock().weights = weights;
        Ok(())
    }

    /// Current weights.
    pub fn weights(&self) -> Weights {
        self.shared.steering.lock().weights
    }

    /// Sets the mode. Takes effect next tick; leaving active mode abandons verifications in
    /// flight (nothing is rolled back without active mode).
    pub fn set_mode(&self, mode: Mode) {
        self.shared.steering.lock().mode = mode;
    }

    /// Current mode.
    pub fn mode(&self) -> Mode {
        self.shared.steering.lock().mode
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> HealerStats {
        let (running, mode, weights, adapt_requests) = {
            let steering = self.shared.steering.lock();
            (
                steering.running,
                steering.mode,
                steering.weights,
                steering.adapt_requests,
            )
        };
        let mut stats = self.shared.stats().snapshot();
        stats.running = running;
        stats.mode = mode;
        stats.weights = weights;
        stats.adapt_requests = adapt_requests;
        stats
    }

    /// The last `limit` audit entries kept in memory, oldest first.
    pub fn audit_entries(&self, limit: usize) -> Vec<AuditEntry> {
        self.shared.audit.lock().recent(limit)
    }

    /// Asks the learned detector to adapt to the current workload: from the next tick it
    /// gathers `K` fresh support windows and then re-runs its adaptation (the current state
    /// keeps scoring meanwhile; see [`detect`](crate::detect)). Without a learned detector
    /// the request is recorded (statistics, audit log) and has no other effect.
    pub fn adapt_now(&self) -> Result<(), HealerError> {
        let mut steering = self.shared.steering.lock();
        if steering.stop {
            return Err(HealerError::Stopped);
        }
        steering.adapt_requests += 1;
        drop(steering);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Whether the healer thread is running.
    pub fn is_running(&self) -> bool {
        self.shared.steering.lock().running
    }

    /// Calls `observer` with every audit entry appended from now on (decisions, outcomes,
    /// errors, configuration changes), on the thread that appends it: the `lsmedic-healer`
    /// thread. `None` removes it. A call in progress finishes before this returns, so once
    /// it returns the previous observer is never called again. The observer runs inside the
    /// tick (keep it short) and must not call `set_audit_observer` itself (it would wait for
    /// itself); a panic in it is caught and ignored.
    pub fn set_audit_observer(&self, observer: Option<AuditObserver>) {
        *self.shared.observer.lock() = observer;
    }
}
