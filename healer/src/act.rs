//! The actuator: turns approved actions into `Control` calls, and rolls back the ones the
//! guard's verification found worse. Quick calls (options, limits) run on the healer
//! thread; flushes, compactions and rebuilds wait for the engine's work, so they run on one
//! helper thread (`lsmedic-healer-maint`), one at a time, and their outcome is collected on
//! a later tick.
//!
//! Only the healer in active mode changes the engine here: advisory mode never applies, and
//! a worse verdict reached outside active mode is abandoned, not rolled back.

use std::sync::Arc;
use std::thread::JoinHandle;

use lsmedic_telemetry::{Control, ControlError};

use crate::action::{Action, ActionKind};
use crate::audit::OutcomeRecord;
use crate::error::HealerError;
use crate::guard::{Guard, OutcomeVerdict, RollbackPoint, VerificationResult};
use crate::policy::PolicyFeedback;

/// Applies approved actions to one engine and owns the maintenance thread's job, so at most
/// one flush, compaction or rebuild runs at a time.
#[derive(Debug)]
pub struct Actuator<E: ?Sized> {
    engine: Arc<E>,
    maintenance: Option<MaintenanceJob>,
}

/// A finished verification once acted upon.
#[derive(Clone, Debug, PartialEq)]
pub struct Concluded {
    /// What to audit.
    pub outcome: OutcomeRecord,
    /// What to tell the policy (the action was rolled back), if anything.
    pub feedback: Option<PolicyFeedback>,
}

impl<E: Control + ?Sized + 'static> Actuator<E> {
    /// An actuator with nothing running.
    pub fn new(engine: Arc<E>) -> Actuator<E> {
        Actuator {
            engine,
            maintenance: None,
        }
    }

    /// Whether a flush, compaction or rebuild it started is still running.
    pub fn maintenance_busy(&self) -> bool {
        self.maintenance.is_some()
    }

    /// Applies `action`: a quick one now, a blocking one on the maintenance thread (an error
    /// when one is still running). `decision_seq` is the audit entry its outcome refers to.
    pub fn apply(
        &mut self,
        kind: ActionKind,
        action: &Action,
        decision_seq: u64,
    ) -> Result<(), HealerError> {
        if !action.is_blocking() {
            return apply(&*self.engine, action);
        }
        if self.maintenance.is_some() {
            return Err(HealerError::control(
                action.to_string(),
                ControlError::Unavailable {
                    what: "the healer's maintenance thread".to_owned(),
                    reason: "another flush, compaction or rebuild is still running".to_owned(),
                },
            ));
        }
        self.maintenance = Some(MaintenanceJob::spawn(
            Arc::clone(&self.engine),
            decision_seq,
            kind,
            action.clone(),
        )?);
        Ok(())
    }

    /// The outcome of the maintenance job, once it has finished (never waits).
    pub fn finished_maintenance(&mut self) -> Option<OutcomeRecord> {
        if !self
            .maintenance
            .as_ref()
            .is_some_and(MaintenanceJob::is_finished)
        {
            return None;
        }
        self.maintenance.take().map(MaintenanceJob::outcome)
    }

    /// Waits for the maintenance job, if one runs, and returns its outcome.
    pub fn wait_for_maintenance(&mut self) -> Option<OutcomeRecord> {
        self.maintenance.take().map(MaintenanceJob::outcome)
    }

    /// Acts on a finished verification: a `RolledBack` verdict is rolled back now when
    /// `active` (the guard records the roll-back; a failed one becomes `RollbackFailed`) and
    /// abandoned otherwise; every other verdict keeps the action.
    pub fn conclude(
        &self,
        result: VerificationResult,
        active: bool,
        guard: &mut Guard,
        tick: u64,
        now_ns: u64,
    ) -> Concluded {
        let mut verdict = result.verdict;
        let mut detail = None;
        let mut feedback = None;
        if verdict == OutcomeVerdict::RolledBack {
            let pending = &result.pending;
            if !active {
                verdict = OutcomeVerdict::Abandoned;
                detail = Some("worse, but the healer is no longer active".to_owned());
            } else if let Err(err) = roll_back(&*self.engine, &pending.rollback) {
                verdict = OutcomeVerdict::RollbackFailed;
                detail = Some(err.to_string());
            } else {
                guard.record_roll_back(tick, pending.kind, &pending.action, now_ns);
                feedback = Some(PolicyFeedback::RolledBack {
                    kind: pending.kind,
                    action: pending.action.clone(),
                });
            }
        }
        if let Some(confounder) = &result.confounded_by {
            detail = Some(format!("not attributable, kept: {confounder}"));
        }
        Concluded {
            outcome: OutcomeRecord::verified(result, verdict, detail),
            feedback,
        }
    }
}

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

    /// Waits for the job and describes how it ended.
    pub fn outcome(self) -> OutcomeRecord {
        let (decision_seq, kind, action, result) = self.join();
        let (verdict, detail) = match result {
            Ok(text) => (OutcomeVerdict::Completed, text),
            Err(err) => (OutcomeVerdict::Failed, err.to_string()),
        };
        OutcomeRecord {
            decision_seq,
            kind,
            action,
            verdict,
            before: None,
            after: None,
            comparison: None,
            detail: Some(detail),
        }
    }
}
