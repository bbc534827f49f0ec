//! What a run measures: the engine, with or without a healer. The seam where healer modes
//! plug in.
//!
//! `off` opens a bare [`Engine`]. `auto` opens it too, without a healer, with RocksDB's own
//! self-adjusting features turned on at the scenario's memory and thread budget
//! ([`auto_tuned`]): the baseline a user would pick instead of a healer. `rules` starts the
//! healer thread beside it exactly as `lsmedic::Db` does (the runner shares the engine as an
//! `Arc`), in active mode with the rule policy and destructive actions allowed (so a
//! corrupted column family is rebuilt).
//! `learned` runs the same healer with the learned models (detector, cascade GNN, policy):
//! the set embedded in the build (`healer/models/`), or the one in the directory named by
//! the `LSMEDIC_MODELS_DIR` environment variable. When they cannot be loaded (no ONNX
//! Runtime — see `ORT_DYLIB_PATH` —, no trained set, a schema or catalog mismatch, golden
//! vectors not reproduced) the mode is unavailable with the reason: `run` fails with it and
//! `compare` skips the mode saying why, instead of silently measuring the rule fallback.
//!
//! The healer and the runner's monitor both read the engine's telemetry rings, and a ring
//! record goes to whoever drains it first. Both therefore read the engine through
//! [`Tapped`], which hands every record drained by either side to the monitor as well.
//!
//! `record` does not start the healer thread: it builds the same [`HealerCore`] (same
//! configuration, same tick and drain intervals) and hands it to the monitor, which drives
//! it tick by tick so that each trace tick holds exactly what the healer saw and did in
//! that tick ([`Drive`]). With `--healer off` or `auto` that core runs in advisory mode (it
//! observes and builds features, and never acts).

use crate::report::LearnedDepartures;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lsmedic::engine::{CompactOnDeletionCollectorConfig, Engine, EngineConfig, RateLimiterConfig};
use lsmedic::healer::audit::AuditRecord;
use lsmedic::healer::config::ModelConfig;
use lsmedic::healer::policy::learned::{LearnedPolicy, LEARNED_POLICY};
use lsmedic::healer::{
    ExplorePolicy, GuardConfig, Healer, HealerConfig, HealerCore, HealerHandle, LearnedConfig,
    Mode, RulePolicy, Verdict, Weights,
};
use lsmedic::telemetry::{
    Control, ControlError, EngineEvent, Observe, RebuildReport, Sample, ThrottleScope, Tunable,
    Tunables, Window,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The engine as the healer and the monitor read it: every op and listener event drained by
/// either (through [`Observe`]) is also recorded into the monitor's window and event list.
pub struct Tapped {
    engine: Arc<Engine>,
    tap: Mutex<Tap>,
}

/// What the monitor gets from the rings between two of its ticks.
pub struct Tap {
    /// Ops and events of the current monitor tick.
    pub window: Window,
    /// Listener events of the current monitor tick.
    pub events: Vec<EngineEvent>,
}

impl Tapped {
    /// Wraps `engine`; the tap's window starts now.
    pub fn new(engine: Arc<Engine>) -> Result<Tapped, String> {
        let window = Window::new(engine.telemetry().clock().now_ns())
            .map_err(|e| format!("cannot create the monitor window: {e}"))?;
        Ok(Tapped {
            engine,
            tap: Mutex::new(Tap {
                window,
                events: Vec::new(),
            }),
        })
    }

    /// Drains the rings into the tap only (the monitor's own drain).
    pub fn drain(&self) {
        self.drain_ops(&mut |_| {});
        self.drain_events(&mut |_| {});
    }

    /// Gives the tap to `f` (the monitor closes, reads and resets the window in there).
    pub fn with_tap<R>(&self, f: impl FnOnce(&mut Tap) -> R) -> R {
        f(&mut self.tap.lock())
    }
}

/// Implements `Control` for a wrapper with an `engine: Arc<Engine>` field by forwarding every
/// call to the engine, except `rebuild_cf`, whose body is given (`|this, cf| …`).
macro_rules! forward_control {
    ($wrapper:ty, |$this:ident, $cf:ident| $rebuild:expr) => {
        impl Control for $wrapper {
            fn column_families(&self) -> Vec<String> {
                Control::column_families(&*self.engine)
            }
            fn tunables(&self) -> Result<Tunables, ControlError> {
                Control::tunables(&*self.engine)
            }
            fn set_global(&self, changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
                Control::set_global(&*self.engine, changes)
            }
            fn set_cf(&self, cf: &str, changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
                Control::set_cf(&*self.engine, cf, changes)
            }
            fn set_write_rate_limit(
                &self,
                scope: &ThrottleScope,
                rate_bytes_per_sec: Option<u64>,
            ) -> Result<(), ControlError> {
                Control::set_write_rate_limit(&*self.engine, scope, rate_bytes_per_sec)
            }
            fn restore(&self, snapshot: &Tunables) -> Result<(), ControlError> {
                Control::restore(&*self.engine, snapshot)
            }
            fn flush(&self, cf: &str) -> Result<(), ControlError> {
                Control::flush(&*self.engine, cf)
            }
            fn compact_range(
                &self,
                cf: &str,
                range: Option<(&[u8], &[u8])>,
            ) -> Result<(), ControlError> {
                Control::compact_range(&*self.engine, cf, range)
            }
            fn wait_for_compactions(&self, timeout: Duration) -> Result<bool, ControlError> {
                Control::wait_for_compactions(&*self.engine, timeout)
            }
            fn rebuild_cf(&self, $cf: &str) -> Result<RebuildReport, ControlError> {
                let $this = self;
                $rebuild
            }
        }
    };
}
pub(crate) use forward_control;

forward_control!(Tapped, |this, cf| Control::rebuild_cf(&*this.engine, cf));

impl Observe for Tapped {
    fn drain_ops(&self, f: &mut dyn FnMut(lsmedic::telemetry::OpEvent)) -> usize {
        let mut tap = self.tap.lock();
        Observe::drain_ops(&*self.engine, &mut |op| {
            tap.window.record_op(&op);
            f(op);
        })
    }
    fn drain_events(&self, f: &mut dyn FnMut(EngineEvent)) -> usize {
        let mut tap = self.tap.lock();
        Observe::drain_events(&*self.engine, &mut |event| {
            tap.window.record_event(&event);
            tap.events.push(event);
            f(event);
        })
    }
    fn sample(&self) -> Sample {
        Observe::sample(&*self.engine)
    }
    fn now_ns(&self) -> u64 {
        Observe::now_ns(&*self.engine)
    }
    fn cf_name_of(&self, id: lsmedic::telemetry::CfId) -> Option<String> {
        Observe::cf_name_of(&*self.engine, id)
    }
    fn logical_cf_of(&self, physical: &str) -> Option<String> {
        Observe::logical_cf_of(&*self.engine, physical)
    }
    fn dropped(&self) -> (u64, u64) {
        Observe::dropped(&*self.engine)
    }
}

/// How `record` drives the healer (see the module docs).
#[derive(Clone, Debug)]
pub struct Drive {
    /// Probability of an exploratory catalog action per decision tick (`rules` only).
    pub explore: f64,
    /// Objective weights.
    pub weights: Weights,
    /// Seed of the exploration.
    pub seed: u64,
}

/// A healer core the monitor drives.
pub type DrivenCore = HealerCore<Tapped>;

/// Which healer runs beside the engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HealerMode {
    /// No healer: the engine alone.
    Off,
    /// No healer: the engine with RocksDB's own self-adjusting features on (auto-tuned rate
    /// limiter, incremental syncs, deletion-triggered compaction) at the same memory and
    /// thread budget.
    Auto,
    /// The hand-written rule policy.
    Rules,
    /// The learned detector, cascade predictor and policy.
    Learned,
}

impl HealerMode {
    /// Every mode, in the order `compare` runs them.
    pub const ALL: [HealerMode; 4] = [
        HealerMode::Off,
        HealerMode::Auto,
        HealerMode::Rules,
        HealerMode::Learned,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            HealerMode::Off => "off",
            HealerMode::Auto => "auto",
            HealerMode::Rules => "rules",
            HealerMode::Learned => "learned",
        }
    }

    /// Whether a healer acts beside the engine in this mode.
    pub fn runs_healer(self) -> bool {
        matches!(self, HealerMode::Rules | HealerMode::Learned)
    }

    /// The engine configuration this mode opens with, given the scenario's.
    pub fn engine_config(self, config: EngineConfig) -> EngineConfig {
        match self {
            HealerMode::Auto => auto_tuned(config),
            HealerMode::Off | HealerMode::Rules | HealerMode::Learned => config,
        }
    }

    /// `Err(why)` when this build cannot run the mode.
    pub fn availability(self) -> Result<(), String> {
        match self {
            HealerMode::Off | HealerMode::Auto | HealerMode::Rules => Ok(()),
            HealerMode::Learned => learned_availability(),
        }
    }

    /// The healer's model configuration for this mode.
    fn models(self) -> ModelConfig {
        match self {
            HealerMode::Off | HealerMode::Auto | HealerMode::Rules => ModelConfig::default(),
            HealerMode::Learned => ModelConfig {
                enabled: true,
                onnxruntime_path: None,
                dir: models_dir(),
            },
        }
    }
}

/// Ceiling of the auto-tuned rate limiter in mode `auto` (bytes/s): 10 GiB/s, the ceiling
/// TiKV ships by default with its auto-tuned compaction limiter. RocksDB tunes the limit
/// within [ceiling / 20, ceiling], drops to the floor after 10 s in which background writes
/// never used the limit up, and climbs back only 5 % per 10 s. With this ceiling the floor
/// (512 MiB/s) is about a whole SSD's write bandwidth, so the limiter holds flushes and
/// compactions back only when they would take the device from the WAL and from reads. A
/// ceiling near a device's speed (RocksDB's advice; say 1 GiB/s) puts the floor at
/// 51 MiB/s: after a quiet spell a write burst then finds compaction held back for minutes
/// and stalls far longer than with no limiter at all, which is no baseline a user would keep.
pub const AUTO_RATE_LIMIT_CEILING_BYTES_PER_SEC: u64 = 10 << 30;

/// `bytes_per_sync` and `wal_bytes_per_sync` in mode `auto`: RocksDB's own choice for SST
/// files once a rate limiter is set, applied to the WAL too.
pub const AUTO_BYTES_PER_SYNC: u64 = 1 << 20;

/// The deletion-triggered compaction of mode `auto`: a file with 1800 deletions in some 2000
/// consecutive entries (the sequential-delete trigger of MyRocks' published production
/// settings), or one that is at least half tombstones.
pub fn auto_compact_on_deletion() -> CompactOnDeletionCollectorConfig {
    CompactOnDeletionCollectorConfig {
        sliding_window_size: 2000,
        deletion_trigger: 1800,
        deletion_ratio: 0.5,
    }
}

/// `config` with RocksDB's self-adjusting features on, as mode `auto` opens the engine: the
/// auto-tuned rate limiter for flush and compaction writes, incremental syncs of SST and WAL
/// files, and the deletion-triggered compaction on every column family. Dynamic level sizing
/// is RocksDB's default and stays as `config` has it. The memory (memtables, block cache) and
/// threads (`max_background_jobs`, `max_subcompactions`) are `config`'s. What `config`
/// already sets is kept: a rate limiter, a sync size or a collector given by the scenario is
/// part of what is measured.
pub fn auto_tuned(mut config: EngineConfig) -> EngineConfig {
    if config.rate_limiter.is_none() {
        config.rate_limiter = Some(RateLimiterConfig::auto_tuned(
            AUTO_RATE_LIMIT_CEILING_BYTES_PER_SEC,
        ));
    }
    if config.bytes_per_sync == 0 {
        config.bytes_per_sync = AUTO_BYTES_PER_SYNC;
    }
    if config.wal_bytes_per_sync == 0 {
        config.wal_bytes_per_sync = AUTO_BYTES_PER_SYNC;
    }
    let cf_options = std::iter::once(&mut config.cf_options)
        .chain(config.column_families.iter_mut().map(|cf| &mut cf.options));
    for options in cf_options {
        options
            .compact_on_deletion_collector
            .get_or_insert_with(auto_compact_on_deletion);
    }
    config
}

/// Environment variable naming a model directory for `--healer learned` (default: the
/// models embedded in the build).
pub const MODELS_DIR_ENV: &str = "LSMEDIC_MODELS_DIR";

fn models_dir() -> Option<PathBuf> {
    std::env::var_os(MODELS_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

impl HealerMode {
    /// A fingerprint of the model files this mode loads (see
    /// [`crate::cache::models_fingerprint`]); empty for the modes that load none.
    pub fn models_fingerprint(self) -> Result<String, String> {
        if !self.models().enabled {
            return Ok(String::new());
        }
        let source = lsmedic::healer::model::ModelSource::new(models_dir().as_deref());
        let names: Vec<String> = match &source {
            lsmedic::healer::model::ModelSource::Embedded => {
                lsmedic::healer::model::ModelSource::embedded_files()
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            }
            lsmedic::healer::model::ModelSource::Dir(dir) => std::fs::read_dir(dir)
                .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
                .filter_map(Result::ok)
                .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect(),
        };
        let files = names
            .iter()
            .map(|name| {
                source
                    .read(name)
                    .map(|bytes| (name.as_str(), bytes.into_owned()))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(crate::cache::models_fingerprint(
            files.iter().map(|(name, bytes)| (*name, bytes.as_slice())),
        ))
    }
}

/// Loads the learned set once (ONNX Runtime, manifest, golden vectors, catalog) and says
/// why `learned` cannot run, if it cannot.
fn learned_availability() -> Result<(), String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABLE
        .get_or_init(|| {
            let unavailable = |why: String| format!("healer mode learned is not available: {why}");
            let dir = models_dir();
            let mut loaded = lsmedic::healer::model::load_models(None, dir.as_deref())
                .map_err(|e| unavailable(e.to_string()))?;
            if !loaded.has_learned_set() {
                return Err(unavailable(format!(
                    "the models in {} ({:?}) are not the learned set (detector_adapt, detector, \
                     cascade_gnn, policy); build it with `make models` or set {MODELS_DIR_ENV}",
                    loaded.source,
                    loaded.names()
                )));
            }
            LearnedPolicy::from_models(
                &mut loaded,
                &LearnedConfig::default(),
                &GuardConfig::default(),
            )
            .map(|_| ())
            .map_err(|e| unavailable(e.to_string()))
        })
        .clone()
}

/// Fails unless the learned policy decides (a healer that fell back to the rules would make
/// a `learned` run measure the rule policy).
fn check_learned(mode: HealerMode, policy: &str, handle: &HealerHandle) -> Result<(), String> {
    if mode != HealerMode::Learned || policy == LEARNED_POLICY {
        return Ok(());
    }
    Err(format!(
        "healer mode learned: the healer runs the {policy} policy instead: {:?}",
        handle.stats().model
    ))
}

/// Something the healer did or concluded, for reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HealerEntry {
    /// Seconds since the run started.
    pub at_s: f64,
    /// `detect` (an anomaly was flagged) or `act` (an action was applied).
    #[serde(deserialize_with = "crate::cache::entry_kind")]
    pub what: &'static str,
    /// The action or finding, e.g. `set_cf default level0_slowdown_writes_trigger=40`.
    pub detail: String,
}

/// The engine under test plus its healer.
pub struct Subject {
    mode: HealerMode,
    // Drop order: the healer (which holds the engine) stops first.
    healer: Option<Healer>,
    /// The core `record` drives, until the runner takes it.
    core: Option<DrivenCore>,
    /// Handle of the healer (thread or driven core) whose actions are reported.
    handle: Option<HealerHandle>,
    tapped: Arc<Tapped>,
    engine: Arc<Engine>,
}

impl Subject {
    /// Opens a fresh database at `path` with `config`, with the healer of `mode`: on its own
    /// thread, or, with `drive` (`record`), as a core for the monitor to drive.
    pub fn open(
        mode: HealerMode,
        path: &Path,
        config: EngineConfig,
        drive: Option<&Drive>,
        weights: Weights,
    ) -> Result<Subject, String> {
        mode.availability()?;
        let config = mode.engine_config(config);
        let engine = Engine::open_shared(path, config)
            .map_err(|e| format!("cannot open the engine: {e}"))?;
        let tapped = Arc::new(Tapped::new(Arc::clone(&engine))?);
        let healer_config = |healer_mode: Mode| HealerConfig {
            mode: healer_mode,
            allow_destructive: true,
            weights: drive.map_or(weights, |d| d.weights),
            models: mode.models(),
            ..HealerConfig::default()
        };
        let (healer, core, handle) = match (mode, drive) {
            (HealerMode::Off | HealerMode::Auto, None) => (None, None, None),
            (HealerMode::Rules | HealerMode::Learned, None) => {
                let healer = Healer::start(Arc::clone(&tapped), healer_config(Mode::Active))
                    .map_err(|e| format!("cannot start the healer: {e}"))?;
                let handle = healer.handle();
                check_learned(mode, &handle.stats().policy, &handle)?;
                (Some(healer), None, Some(handle))
            }
            (mode, Some(drive)) => {
                let active = mode.runs_healer();
                let config = healer_config(if active { Mode::Active } else { Mode::Advisory });
                let rules = config.rules.clone();
                let mut core = HealerCore::new(Arc::clone(&tapped), config)
                    .map_err(|e| format!("cannot start the healer: {e}"))?;
                check_learned(mode, &core.handle().stats().policy, &core.handle())?;
                if drive.explore > 0.0 {
                    if mode != HealerMode::Rules {
                        return Err("--explore needs --healer rules".to_owned());
                    }
                    let policy = ExplorePolicy::new(
                        Box::new(RulePolicy::new(rules)),
                        drive.explore,
                        drive.seed,
                    )
                    .map_err(|e| e.to_string())?;
                    core.set_policy(Box::new(policy));
                }
                let handle = active.then(|| core.handle());
                (None, Some(core), handle)
            }
        };
        Ok(Subject {
            mode,
            healer,
            core,
            handle,
            tapped,
            engine,
        })
    }

    /// The engine the workload drives.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The engine as the monitor reads it.
    pub fn tapped(&self) -> &Arc<Tapped> {
        &self.tapped
    }

    /// The healer core for the monitor to drive (`record` only; once).
    pub fn take_core(&mut self) -> Option<DrivenCore> {
        self.core.take()
    }

    /// The healer's detections and actions since the run started (`None` with no healer),
    /// times relative to `t0_engine_ns` on the engine's telemetry clock.
    pub fn healer_log(&self, t0_engine_ns: u64) -> Option<Vec<HealerEntry>> {
        let healer = self.handle.as_ref()?;
        debug_assert!(self.mode.runs_healer());
        let mut log = Vec::new();
        for entry in healer.audit_entries(usize::MAX) {
            let at_s = entry.at_ns.saturating_sub(t0_engine_ns) as f64 / 1e9;
            let AuditRecord::Decision(decision) = entry.record else {
                continue;
            };
            if let (true, Some(learned)) = (decision.candidates.is_empty(), &decision.learned) {
                // The learned detector's verdict changed (no action proposed).
                let detector = &learned.detector;
                let top = learned
                    .top_risks
                    .first()
                    .map(|r| format!(", top risk {} {:.2} within 5 s", r.node, r.within_5s))
                    .unwrap_or_default();
                log.push(HealerEntry {
                    at_s,
                    what: "detect",
                    detail: format!(
                        "learned detector: {} (score {:.2}, threshold {:.2}){top}",
                        if detector.anomalous {
                            "anomaly"
                        } else {
                            "back to normal"
                        },
                        detector.score.unwrap_or(f32::NAN),
                        detector.threshold
                    ),
                });
            }
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

    /// The learned policy's departures from the rules so far (`None` unless the learned
    /// policy decides and keeps to the rules).
    pub fn learned_departures(&self) -> Option<LearnedDepartures> {
        let stats = self.handle.as_ref()?.stats();
        let follows = self.mode == HealerMode::Learned && LearnedConfig::default().follow_rules;
        (follows && stats.policy == LEARNED_POLICY).then_some(LearnedDepartures {
            replaced: stats.learned_replacements,
            vetoed: stats.learned_vetoes,
        })
    }

    /// Stops the healer (if any) and closes the engine.
    pub fn close(mut self) -> Result<(), String> {
        if let Some(mut healer) = self.healer.take() {
            healer
                .stop()
                .map_err(|e| format!("cannot stop the healer: {e}"))?;
        }
        if let Some(mut core) = self.core.take() {
            core.shutdown();
        }
        drop(self.tapped);
        match Arc::try_unwrap(self.engine) {
            Ok(engine) => engine.close().map_err(|e| e.to_string()),
            Err(_) => Ok(()), // still shared by a stuck thread: dropped when it lets go
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmedic::engine::{CfOptions, ColumnFamilyConfig};

    fn scenario_config() -> EngineConfig {
        EngineConfig {
            max_background_jobs: 3,
            block_cache_size: 32 << 20,
            write_buffer_manager_size: Some(64 << 20),
            cf_options: CfOptions {
                write_buffer_size: 2 << 20,
                ..CfOptions::default()
            },
            column_families: vec![ColumnFamilyConfig {
                name: "events".into(),
                options: CfOptions {
                    write_buffer_size: 1 << 20,
                    ..CfOptions::default()
                },
            }],
            ..EngineConfig::default()
        }
    }

    /// What bounds memory and threads: the part of a configuration `auto` must not change.
    fn budget(config: &EngineConfig) -> impl PartialEq + std::fmt::Debug {
        let cf = |o: &CfOptions| {
            (
                o.write_buffer_size,
                o.max_write_buffer_number,
                o.min_write_buffer_number_to_merge,
            )
        };
        (
            config.max_background_jobs,
            config.max_subcompactions,
            config.block_cache_size,
            config.write_buffer_manager_size,
            cf(&config.cf_options),
            config
                .column_families
                .iter()
                .map(|c| (c.name.clone(), cf(&c.options)))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn modes_run_in_the_documented_order() {
        let names: Vec<_> = HealerMode::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["off", "auto", "rules", "learned"]);
        assert!(!HealerMode::Auto.runs_healer() && !HealerMode::Off.runs_healer());
        assert!(HealerMode::Rules.runs_healer() && HealerMode::Learned.runs_healer());
        assert!(HealerMode::Auto.availability().is_ok());
    }

    #[test]
    fn auto_turns_rocksdb_adaptation_on_within_the_same_budget() {
        let scenario = scenario_config();
        let auto = HealerMode::Auto.engine_config(scenario.clone());
        auto.validate().expect("the auto configuration is valid");
        assert_eq!(budget(&auto), budget(&scenario));
        assert_eq!(
            auto.rate_limiter,
            Some(RateLimiterConfig::auto_tuned(
                AUTO_RATE_LIMIT_CEILING_BYTES_PER_SEC
            ))
        );
        assert_eq!(auto.bytes_per_sync, AUTO_BYTES_PER_SYNC);
        assert_eq!(auto.wal_bytes_per_sync, AUTO_BYTES_PER_SYNC);
        let every_cf = std::iter::once(&auto.cf_options)
            .chain(auto.column_families.iter().map(|cf| &cf.options));
        for options in every_cf {
            assert_eq!(
                options.compact_on_deletion_collector,
                Some(auto_compact_on_deletion())
            );
            assert!(options.level_compaction_dynamic_level_bytes);
        }
        for mode in [HealerMode::Off, HealerMode::Rules, HealerMode::Learned] {
            assert_eq!(mode.engine_config(scenario.clone()), scenario);
        }
    }

    #[test]
    fn auto_keeps_what_the_scenario_sets() {
        let mut scenario = scenario_config();
        let fixed = RateLimiterConfig {
            auto_tuned: false,
            ..RateLimiterConfig::auto_tuned(8 << 20)
        };
        scenario.rate_limiter = Some(fixed.clone());
        scenario.bytes_per_sync = 4 << 20;
        let own = CompactOnDeletionCollectorConfig {
            sliding_window_size: 10,
            deletion_trigger: 5,
            deletion_ratio: 0.0,
        };
        scenario.column_families[0]
            .options
            .compact_on_deletion_collector = Some(own.clone());
        let auto = auto_tuned(scenario);
        assert_eq!(auto.rate_limiter, Some(fixed));
        assert_eq!(auto.bytes_per_sync, 4 << 20);
        assert_eq!(
            auto.column_families[0]
                .options
                .compact_on_deletion_collector,
            Some(own)
        );
        assert_eq!(
            auto.cf_options.compact_on_deletion_collector,
            Some(auto_compact_on_deletion())
        );
    }
}
