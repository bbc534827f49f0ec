//! The actuator: turns approved actions into `Control` calls. Quick calls (options, limits)
//! run on the healer thread; flushes, compactions and rebuilds wait for the engine's work,
//! so they run on one helper thread (`lsmedic-healer-maint`), one at a time, and their
//! outcome is collected on a later tick.
//!
//! Only the healer in active mode reaches this module: advisory mode never calls it.

use std::sync::Arc;
use std::thread::JoinHandle;

use lsmedic_telemetry::{Control, ControlError};

use crate::action::{Action, ActionKind};
use crate::error::HealerError;
use crate::guard::RollbackPoint;

/// Applies a non-blocking action (`SetGlobal`, `SetCf`, `SetWriteRateLimit`).
pub fn apply<E: Control + ?Sized>(engine: &E, action: &Action) -> Result<(), HealerError> {
    match action {
        Action::SetGlobal { changes } => engine
            .set_global(changes)
            .map_err(|e| HealerError::control("set_global", e)),
        Action::SetCf { cf, changes } => engine
            .set_cf(cf, changes)
            .map_err(|e| HealerError::control(format!("set_cf({cf})"), e)),
        Action::SetWriteRateLimit {
            scope,
            rate_bytes_per_sec,
        } => engine
            .set_write_rate_limit(scope, *rate_bytes_per_sec)
            .map_err(|e| HealerError::control("set_write_rate_limit", e)),
        Action::Flush { .. } | Action::CompactRange { .. } | Action::RebuildCf { .. } => {
            run_blocking(engine, action).map(|_| ())
        }
    }
}

/// Runs a blocking action and describes its result.
pub fn run_blocking<E: Control + ?Sized>(
    engine: &E,
    action: &Action,
) -> Result<String, HealerError> {
    match action {
        Action::Flush { cf } => engine
            .flush(cf)
            .map(|()| format!("flushed {cf:?}"))
            .map_err(|e| HealerError::control(format!("flush({cf})"), e)),
        Action::CompactRange { cf } => engine
            .compact_range(cf, None)
            .map(|()| format!("compacted {cf:?}"))
            .map_err(|e| HealerError::control(format!("compact_range({cf})"), e)),
        Action::RebuildCf { cf } => engine
            .rebuild_cf(cf)
            .map(|report| {
                format!(
                    "rebuilt {cf:?} into {}: {} keys copied, {} recovered from checkpoint, \
                     {} lost ranges, {} skipped files, {:?}",
                    report.new_physical,
                    report.keys_copied,
                    report.keys_recovered_from_checkpoint,
                    report.lost_ranges.len(),
                    report.skipped_files.len(),
                    report.duration
                )
            })
            .map_err(|e| HealerError::control(format!("rebuild_cf({cf})"), e)),
        other => apply(engine, other).map(|()| other.to_string()),
    }
}

/// Puts back what an action changed: the engine's current tunables with the captured values
/// restored, through `Control::restore`.
pub fn roll_back<E: Control + ?Sized>(
    engine: &E,
    point: &RollbackPoint,
) -> Result<(), HealerError> {
    let current = engine
        .tunables()
        .map_err(|e| HealerError::control("tunables", e))?;
    let snapshot = point.restore_snapshot(&current);
    engine
        .restore(&snapshot)
        .map_err(|e| HealerError::control("restore", e))
}

/// A blocking action running on the helper thread.
#[derive(Debug)]
pub struct MaintenanceJob {
    /// Audit sequence number of the decision.
    pub decision_seq: u64,
    /// Kind.
    pub kind: ActionKind,
    /// The action.
    pub action: Action,
    handle: JoinHandle<Result<String, HealerError>>,
}

impl MaintenanceJob {
    /// Starts `action` on a new `lsmedic-healer-maint` thread.
    pub fn spawn<E: Control + 'static + ?Sized>(
        engine: Arc<E>,
        decision_seq: u64,
        kind: ActionKind,
        action: Action,
    ) -> Result<MaintenanceJob, HealerError> {
        let name = "lsmedic-healer-maint".to_owned();
        let job_action = action.clone();
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_blocking(&*engine, &job_action)
                }))
                .unwrap_or_else(|payload| {
                    Err(HealerError::control(
                        job_action.to_string(),
                        ControlError::Engine {
                            operation: job_action.to_string(),
                            message: format!(
                                "panicked: {}",
                                crate::error::panic_message(&*payload)
                            ),
                        },
                    ))
                })
            })
            .map_err(|source| HealerError::Spawn { name, source })?;
        Ok(MaintenanceJob {
            decision_seq,
            kind,
            action,
            handle,
        })
    }

    /// Whether the job is done.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the job and returns its result.
    pub fn join(self) -> (u64, ActionKind, Action, Result<String, HealerError>) {
        let result = self.handle.join().unwrap_or_else(|payload| {
            Err(HealerError::ThreadPanicked {
                message: crate::error::panic_message(&*payload),
            })
        });
        (self.decision_seq, self.kind, self.action, result)
    }
}
