//! What a run measures: the engine, with or without a healer. The seam where healer modes
//! plug in.
//!
//! `off` opens a bare [`Engine`]. `rules` starts the healer thread beside it exactly as
//! `lsmedic::Db` does (the runner shares the engine as an `Arc`), in active mode with the
//! rule policy and destructive actions allowed (so a corrupted column family is rebuilt).
//! `learned` fails with a clear message until the models exist, and `compare` skips it
//! saying why.

use std::path::Path;
use std::sync::Arc;

use lsmedic::engine::{Engine, EngineConfig};
use lsmedic::healer::audit::AuditRecord;
use lsmedic::healer::{Healer, HealerConfig, Mode, Verdict};
use serde::Serialize;

/// Which healer runs beside the engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HealerMode {
    /// No healer: the engine alone.
    Off,
    /// The hand-written rule policy.
    Rules,
    /// The learned detector, cascade predictor and policy.
    Learned,
}

impl HealerMode {
    /// Every mode, in the order `compare` runs them.
    pub const ALL: [HealerMode; 3] = [HealerMode::Off, HealerMode::Rules, HealerMode::Learned];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            HealerMode::Off => "off",
            HealerMode::Rules => "rules",
            HealerMode::Learned => "learned",
        }
    }

    /// `Err(why)` when this build cannot run the mode.
    pub fn availability(self) -> Result<(), String> {
        match self {
            HealerMode::Off | HealerMode::Rules => Ok(()),
            HealerMode::Learned => Err(format!(
                "healer mode {} is not available yet (the learned models are not trained; \
                 use --healer off or rules)",
                self.name()
            )),
        }
    }
}

/// Something the healer did or concluded, for reports.
#[derive(Clone, Debug, Serialize)]
pub struct HealerEntry {
    /// Seconds since the run started.
    pub at_s: f64,
    /// `detect` (an anomaly was flagged) or `act` (an action was applied).
    pub what: &'static str,
    /// The action or finding, e.g. `set_cf default level0_slowdown_writes_trigger=40`.
    pub detail: String,
}

/// The engine under test plus its healer.
pub struct Subject {
    mode: HealerMode,
    // Drop order: the healer (which holds the engine) stops first.
    healer: Option<Healer>,
    engine: Arc<Engine>,
}

impl Subject {
    /// Opens a fresh database at `path` with `config`, with the healer of `mode`.
    pub fn open(mode: HealerMode, path: &Path, config: EngineConfig) -> Result<Subject, String> {
        mode.availability()?;
        let engine = Arc::new(
            Engine::open(path, config).map_err(|e| format!("cannot open the engine: {e}"))?,
        );
        let healer = match mode {
            HealerMode::Off => None,
            HealerMode::Rules | HealerMode::Learned => {
                let config = HealerConfig {
                    mode: Mode::Active,
                    allow_destructive: true,
                    ..HealerConfig::default()
                };
                Some(
                    Healer::start(Arc::clone(&engine), config)
                        .map_err(|e| format!("cannot start the healer: {e}"))?,
                )
            }
        };
        Ok(Subject {
            mode,
            healer,
            engine,
        })
    }

    /// The engine the workload drives.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The healer's detections and actions since the run started (`None` with no healer),
    /// times relative to `t0_engine_ns` on the engine's telemetry clock.
    pub fn healer_log(&self, t0_engine_ns: u64) -> Option<Vec<HealerEntry>> {
        let healer = self.healer.as_ref()?;
        debug_assert_ne!(self.mode, HealerMode::Off);
        let mut log = Vec::new();
        for entry in healer.audit_entries(usize::MAX) {
            let at_s = entry.at_ns.saturating_sub(t0_engine_ns) as f64 / 1e9;
            let AuditRecord::Decision(decision) = entry.record else {
                continue;
            };
            for candidate in decision.candidates {
                let what = match candidate.verdict {
                    Verdict::Applied => "act",
                    _ => "detect",
                };
                let action = candidate.action.as_ref().unwrap_or(&candidate.proposed);
                log.push(HealerEntry {
                    at_s,
                    what,
                    detail: format!("{}: {action:?} ({})", candidate.rule, candidate.reason),
                });
            }
        }
        Some(log)
    }

    /// Stops the healer (if any) and closes the engine.
    pub fn close(mut self) -> Result<(), String> {
        if let Some(mut healer) = self.healer.take() {
            healer
                .stop()
                .map_err(|e| format!("cannot stop the healer: {e}"))?;
        }
        match Arc::try_unwrap(self.engine) {
            Ok(engine) => engine.close().map_err(|e| e.to_string()),
            Err(_) => Ok(()), // still shared by a stuck thread: dropped when it lets go
        }
    }
}
