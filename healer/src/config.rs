//! Healer configuration: typed, serialisable (serde, JSON/TOML), defaulted and validated once
//! at start. Durations carry their unit in the field name (`tick_interval_ms`).
//!
//! The guard's bounds are deliberately tighter than the hard `Tunable::bounds`: those catch a
//! wrong unit, these keep an automatic policy inside what an operator finds reasonable.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use lsmedic_telemetry::Tunable;
use serde::{Deserialize, Serialize};

use crate::action::ActionFamily;
use crate::error::HealerError;
use crate::policy::rules::RuleConfig;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// What the healer does with its decisions.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Drain the telemetry rings (so they never fill) and nothing else.
    Off,
    /// Decide and write the audit log, but never call a mutating `Control` method.
    Advisory,
    /// Decide, act through `Control`, verify and roll back.
    #[default]
    Active,
}

impl Mode {
    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Advisory => "advisory",
            Mode::Active => "active",
        }
    }
}

/// Preference weights over the three objectives, normalised to sum to 1 (each ≥ 0).
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Tail latency of foreground operations.
    pub latency: f64,
    /// Completed operations per second.
    pub throughput: f64,
    /// Memory, threads and background I/O spent.
    pub resources: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            latency: 1.0 / 3.0,
            throughput: 1.0 / 3.0,
            resources: 1.0 / 3.0,
        }
    }
}

impl Weights {
    /// Weights proportional to the arguments (each finite and ≥ 0, not all 0), normalised.
    pub fn new(latency: f64, throughput: f64, resources: f64) -> Result<Weights, HealerError> {
        Weights {
            latency,
            throughput,
            resources,
        }
        .normalized()
    }

    /// These weights scaled to sum to 1, or an error naming the bad component.
    pub fn normalized(self) -> Result<Weights, HealerError> {
        for (name, value) in [
            ("latency", self.latency),
            ("throughput", self.throughput),
            ("resources", self.resources),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(HealerError::config(
                    format!("weights.{name}"),
                    format!("must be a finite number >= 0, got {value}"),
                ));
            }
        }
        // Scaled by the largest first: huge finite weights would overflow the sum to infinity
        // and normalise to zeros (found by the healer_config fuzz target).
        let largest = self.latency.max(self.throughput).max(self.resources);
        let (latency, throughput, resources) = if largest > 0.0 {
            (
                self.latency / largest,
                self.throughput / largest,
                self.resources / largest,
            )
        } else {
            (0.0, 0.0, 0.0)
        };
        let sum = latency + throughput + resources;
        if sum <= 0.0 {
            return Err(HealerError::config(
                "weights",
                "at least one of latency, throughput, resources must be > 0",
            ));
        }
        Ok(Weights {
            latency: latency / sum,
            throughput: throughput / sum,
            resources: resources / sum,
        })
    }
}

/// An inclusive range of values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
}

impl Bounds {
    /// `min..=max`.
    pub const fn new(min: u64, max: u64) -> Bounds {
        Bounds { min, max }
    }

    /// `value` clamped into the range.
    pub fn clamp(self, value: u64) -> u64 {
        value.clamp(self.min, self.max)
    }

    /// Whether `value` lies in the range.
    pub fn contains(self, value: u64) -> bool {
        (self.min..=self.max).contains(&value)
    }
}

/// Verify-after-act: how an applied action is judged and when it is rolled back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// Verify at all.
    pub enabled: bool,
    /// Ticks before the action averaged as "before".
    pub baseline_ticks: u32,
    /// Ticks after the action ignored while it takes effect.
    pub settle_ticks: u32,
    /// Ticks averaged as "after".
    pub measure_ticks: u32,
    /// Roll back when the service score (latency and throughput, weighted; see
    /// [`objective`](crate::objective)) got worse by more than this (a relative change:
    /// 0.1 ≈ 10 %).
    pub margin: f64,
    /// Families whose actions are verified. The throttle is not by default: a pre-emptive
    /// throttle trades some latency now against a stall later, which a short before/after
    /// comparison cannot see; its own control loop releases it when the pressure clears.
    pub families: Vec<ActionFamily>,
    /// After a roll-back, the family's cooldown on that target is multiplied by this.
    pub rollback_cooldown_factor: u32,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            enabled: true,
            baseline_ticks: 20,
            settle_ticks: 3,
            measure_ticks: 20,
            margin: 0.1,
            families: vec![
                ActionFamily::BackgroundJobs,
                ActionFamily::Memtable,
                ActionFamily::BlockCache,
            ],
            rollback_cooldown_factor: 6,
        }
    }
}

/// The guard between policy and actuator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// Allowed range per tunable (keys are RocksDB option names). A tunable absent here may
    /// still move inside its hard bounds.
    pub bounds: BTreeMap<Tunable, Bounds>,
    /// Allowed range of a write-rate limit in bytes/s (lifting a limit is always allowed).
    pub write_rate_limit_bounds: Bounds,
    /// Minimum time between two actions of one family on one target, in ms.
    pub cooldowns_ms: BTreeMap<ActionFamily, u64>,
    /// At most this many actions in any 60 s (roll-backs are not counted: they are safety).
    pub budget_per_minute: u32,
    /// At most this many actions per tick.
    pub max_actions_per_tick: u32,
    /// Verify-after-act.
    pub verify: VerifyConfig,
}

/// Default guard bounds per tunable: what an automatic policy may do without an operator.
pub fn default_bounds() -> BTreeMap<Tunable, Bounds> {
    BTreeMap::from([
        (Tunable::MaxBackgroundJobs, Bounds::new(2, 16)),
        (Tunable::MaxSubcompactions, Bounds::new(1, 4)),
        (Tunable::DelayedWriteRate, Bounds::new(MIB, GIB)),
        (Tunable::WriteBufferSize, Bounds::new(4 * MIB, 256 * MIB)),
        (Tunable::MaxWriteBufferNumber, Bounds::new(2, 8)),
        (Tunable::Level0FileNumCompactionTrigger, Bounds::new(2, 16)),
        (Tunable::Level0SlowdownWritesTrigger, Bounds::new(8, 64)),
        (Tunable::Level0StopWritesTrigger, Bounds::new(16, 128)),
        (
            Tunable::SoftPendingCompactionBytesLimit,
            Bounds::new(GIB, 256 * GIB),
        ),
        (
            Tunable::HardPendingCompactionBytesLimit,
            Bounds::new(4 * GIB, TIB),
        ),
        (Tunable::TargetFileSizeBase, Bounds::new(8 * MIB, 256 * MIB)),
        (
            Tunable::MaxBytesForLevelBase,
            Bounds::new(64 * MIB, 4 * GIB),
        ),
        // Never let a policy switch automatic compactions off.
        (Tunable::DisableAutoCompactions, Bounds::new(0, 0)),
        (Tunable::BlockCacheCapacity, Bounds::new(8 * MIB, 2 * GIB)),
        (
            Tunable::WriteBufferManagerSize,
            Bounds::new(64 * MIB, 8 * GIB),
        ),
        (Tunable::BackgroundThreadsLow, Bounds::new(1, 16)),
        (Tunable::BackgroundThreadsHigh, Bounds::new(1, 4)),
    ])
}

/// Default cooldown per family, in ms.
pub fn default_cooldowns_ms() -> BTreeMap<ActionFamily, u64> {
    BTreeMap::from([
        (ActionFamily::Throttle, 500),
        (ActionFamily::BackgroundJobs, 5_000),
        (ActionFamily::Memtable, 10_000),
        (ActionFamily::BlockCache, 10_000),
        (ActionFamily::Maintenance, 60_000),
        (ActionFamily::Rebuild, 300_000),
    ])
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            bounds: default_bounds(),
            write_rate_limit_bounds: Bounds::new(MIB, 64 * GIB),
            cooldowns_ms: default_cooldowns_ms(),
            budget_per_minute: 120,
            max_actions_per_tick: 3,
            verify: VerifyConfig::default(),
        }
    }
}

impl GuardConfig {
    /// Bounds of `tunable`: the configured ones within the hard ones.
    pub fn bounds_of(&self, tunable: Tunable) -> Bounds {
        let (hard_min, hard_max) = tunable.bounds();
        match self.bounds.get(&tunable) {
            Some(b) => Bounds::new(b.min.max(hard_min), b.max.min(hard_max)),
            None => Bounds::new(hard_min, hard_max),
        }
    }

    /// Cooldown of a family.
    pub fn cooldown(&self, family: ActionFamily) -> Duration {
        Duration::from_millis(self.cooldowns_ms.get(&family).copied().unwrap_or(0))
    }

    fn validate(&self) -> Result<(), HealerError> {
        for (tunable, bounds) in &self.bounds {
            let field = format!("guard.bounds.{tunable}");
            let (hard_min, hard_max) = tunable.bounds();
            if bounds.min > bounds.max {
                return Err(HealerError::config(
                    field,
                    format!("min {} > max {}", bounds.min, bounds.max),
                ));
            }
            if bounds.min < hard_min || bounds.max > hard_max {
                return Err(HealerError::config(
                    field,
                    format!(
                        "{}..={} is outside the option's hard bounds {hard_min}..={hard_max}",
                        bounds.min, bounds.max
                    ),
                ));
            }
        }
        let (min, max) = lsmedic_telemetry::control::WRITE_RATE_LIMIT_BOUNDS;
        let rate = self.write_rate_limit_bounds;
        if rate.min > rate.max || rate.min < min || rate.max > max {
            return Err(HealerError::config(
                "guard.write_rate_limit_bounds",
                format!(
                    "{}..={} must be a range inside {min}..={max} bytes/s",
                    rate.min, rate.max
                ),
            ));
        }
        if self.budget_per_minute == 0 {
            return Err(HealerError::config(
                "guard.budget_per_minute",
                "must be >= 1 (use mode advisory or off to stop acting)",
            ));
        }
        if self.max_actions_per_tick == 0 {
            return Err(HealerError::config(
                "guard.max_actions_per_tick",
                "must be >= 1",
            ));
        }
        let verify = &self.verify;
        if verify.enabled {
            if verify.measure_ticks == 0 || verify.baseline_ticks == 0 {
                return Err(HealerError::config(
                    "guard.verify",
                    "baseline_ticks and measure_ticks must be >= 1",
                ));
            }
            if !verify.margin.is_finite() || verify.margin < 0.0 {
                return Err(HealerError::config(
                    "guard.verify.margin",
                    format!("must be a finite number >= 0, got {}", verify.margin),
                ));
            }
        }
        Ok(())
    }
}

/// The audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// JSON-lines file; `None` keeps the audit in memory only.
    pub path: Option<PathBuf>,
    /// When the file would grow past this, it is renamed to `<path>.1` (replacing the older
    /// one) and a new file is started: at most about twice this on disk.
    pub max_bytes: u64,
    /// Entries kept in memory for [`audit_entries`](crate::HealerHandle::audit_entries).
    pub memory_entries: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            path: None,
            max_bytes: 16 * MIB,
            memory_entries: 4096,
        }
    }
}

/// Learned models (ONNX, run by ONNX Runtime loaded at run time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Try to load models at start. When loading fails the healer runs the rule policy and
    /// says why in `HealerStats::model`.
    pub enabled: bool,
    /// ONNX Runtime shared library; `None` = `ORT_DYLIB_PATH`.
    pub onnxruntime_path: Option<PathBuf>,
    /// Directory holding `manifest.json` and the model files it names; `None` = the models
    /// embedded in the library.
    pub dir: Option<PathBuf>,
}

/// The learned healer's run-time settings (the models' own parameters, such as window
/// lengths and the detector threshold, come from their manifest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnedConfig {
    /// Support windows gathered before an adaptation; `None` = the manifest's
    /// `detector.support_windows` (at most 10).
    pub support_windows: Option<usize>,
    /// A workload change is confirmed after this many consecutive comparable ticks whose
    /// op mix or rate differs from the workload the detector adapted to (100 ms ticks: 3 s).
    pub workload_change_ticks: u32,
    /// Op-mix shift (L1 distance between the fractions of puts, deletes, gets and scans,
    /// 0..=2) that counts as different.
    pub workload_mix_shift: f64,
    /// Rate change (factor either way on total ops/s) that counts as different.
    pub workload_rate_factor: f64,
    /// Ticks with fewer completed ops per second are idle: neither support windows nor
    /// evidence of a workload change.
    pub min_ops_per_sec: f64,
    /// At most this many actions are proposed per tick (best first; the guard decides).
    pub max_candidates: usize,
    /// An action is proposed only when its weighted value beats `noop` by more than this
    /// (only with `follow_rules = false`).
    pub min_advantage: f64,
    /// Safe policy improvement over the rules (the default): each tick the rule policy
    /// proposes as usual and the learned policy keeps to the rules' choice unless an action's
    /// weighted value beats it by more than the deviation margin; then it acts otherwise, or
    /// vetoes the rule action (`noop`). `false`: the learned values alone decide (every action
    /// that beats `noop` by `min_advantage`), the rules only when a model fails.
    pub follow_rules: bool,
    /// The deviation margin (weighted-value units); `None` = the manifest's
    /// `policy.deviation_margin` (the trained values' typical error), else 0.
    pub deviation_margin: Option<f64>,
    /// With `follow_rules`: whether the learned policy may veto a rule action (propose
    /// nothing instead). Off by default: the values learned offline rate acting below
    /// waiting in the states where the rules act (they act as things get worse), so vetoes
    /// would drop the rules' protection; the values may still swap a rule action for another.
    pub allow_veto: bool,
    /// Node risks listed in each decision's audit entry.
    pub top_risks: usize,
    /// After this many consecutive ticks in which a model failed, the healer drops the learned
    /// policy for the rule policy (and says so); single failures fall back for that tick.
    pub max_model_failures: u32,
}

impl Default for LearnedConfig {
    fn default() -> Self {
        LearnedConfig {
            support_windows: None,
            workload_change_ticks: 30,
            workload_mix_shift: 0.3,
            workload_rate_factor: 3.0,
            min_ops_per_sec: 1.0,
            max_candidates: 2,
            min_advantage: 0.0,
            follow_rules: true,
            deviation_margin: None,
            allow_veto: false,
            top_risks: 3,
            max_model_failures: 3,
        }
    }
}

impl LearnedConfig {
    fn validate(&self) -> Result<(), HealerError> {
        if let Some(k) = self.support_windows {
            if !(1..=10).contains(&k) {
                return Err(HealerError::config(
                    "learned.support_windows",
                    format!("must be in 1..=10, got {k}"),
                ));
            }
        }
        if self.workload_change_ticks == 0 {
            return Err(HealerError::config(
                "learned.workload_change_ticks",
                "must be >= 1",
            ));
        }
        for (field, value, min) in [
            ("learned.workload_mix_shift", self.workload_mix_shift, 0.0),
            (
                "learned.workload_rate_factor",
                self.workload_rate_factor,
                1.0,
            ),
            ("learned.min_ops_per_sec", self.min_ops_per_sec, 0.0),
            ("learned.min_advantage", self.min_advantage, 0.0),
            (
                "learned.deviation_margin",
                self.deviation_margin.unwrap_or(0.0),
                0.0,
            ),
        ] {
            if !value.is_finite() || value < min {
                return Err(HealerError::config(
                    field,
                    format!("must be a finite number >= {min}, got {value}"),
                ));
            }
        }
        if self.max_candidates == 0 {
            return Err(HealerError::config(
                "learned.max_candidates",
                "must be >= 1",
            ));
        }
        if self.max_model_failures == 0 {
            return Err(HealerError::config(
                "learned.max_model_failures",
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

/// Everything the healer is configured with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealerConfig {
    /// Time between two decisions, in ms.
    pub tick_interval_ms: u64,
    /// Time between two drains of the telemetry rings, in ms (≤ the tick interval): the rings
    /// are emptied more often than decisions are taken so that bursts never fill them.
    pub drain_interval_ms: u64,
    /// Objective weights (normalised at start).
    pub weights: Weights,
    /// Off, advisory or active.
    pub mode: Mode,
    /// Allow actions that can lose data (column-family rebuild).
    pub allow_destructive: bool,
    /// After this many consecutive failed ticks the healer switches itself off (and says so).
    pub max_consecutive_failures: u32,
    /// Bounds, cooldowns, budget, verification.
    pub guard: GuardConfig,
    /// Thresholds of the rule policy.
    pub rules: RuleConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// Learned models.
    pub models: ModelConfig,
    /// The learned healer (used when `models` load a complete learned set).
    pub learned: LearnedConfig,
}

impl Default for HealerConfig {
    fn default() -> Self {
        HealerConfig {
            tick_interval_ms: 100,
            drain_interval_ms: 20,
            weights: Weights::default(),
            mode: Mode::Active,
            allow_destructive: false,
            max_consecutive_failures: 50,
            guard: GuardConfig::default(),
            rules: RuleConfig::default(),
            audit: AuditConfig::default(),
            models: ModelConfig::default(),
            learned: LearnedConfig::default(),
        }
    }
}

impl HealerConfig {
    /// Tick interval.
    pub fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.tick_interval_ms)
    }

    /// Drain interval (never longer than the tick interval).
    pub fn drain_interval(&self) -> Duration {
        Duration::from_millis(self.drain_interval_ms.min(self.tick_interval_ms))
    }

    /// Checks every field; returns the config with normalised weights.
    pub fn validated(mut self) -> Result<HealerConfig, HealerError> {
        if !(1..=60_000).contains(&self.tick_interval_ms) {
            return Err(HealerError::config(
                "tick_interval_ms",
                format!("must be in 1..=60000, got {}", self.tick_interval_ms),
            ));
        }
        if self.drain_interval_ms == 0 {
            return Err(HealerError::config("drain_interval_ms", "must be >= 1"));
        }
        self.weights = self.weights.normalized()?;
        self.guard.validate()?;
        self.rules.validate()?;
        self.learned.validate()?;
        if self.audit.max_bytes < 4 * KIB {
            return Err(HealerError::config(
                "audit.max_bytes",
                format!("must be >= 4096, got {}", self.audit.max_bytes),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_round_trips_through_json() {
        let config = HealerConfig::default().validated().expect("valid");
        let json = serde_json::to_string_pretty(&config).expect("serialise");
        assert!(json.contains("\"max_background_jobs\""), "{json}");
        let back: HealerConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, config);
        let partial: HealerConfig =
            serde_json::from_str(r#"{"mode": "advisory", "tick_interval_ms": 50}"#).expect("parse");
        assert_eq!(partial.mode, Mode::Advisory);
        assert_eq!(partial.guard, GuardConfig::default());
    }

    #[test]
    fn weights_are_normalised_and_checked() {
        let w = Weights::new(2.0, 1.0, 1.0).expect("weights");
        assert!((w.latency - 0.5).abs() < 1e-12);
        assert!(Weights::new(0.0, 0.0, 0.0).is_err());
        let err = Weights::new(1.0, -1.0, 0.0).unwrap_err();
        assert!(err.to_string().contains("weights.throughput"), "{err}");
        assert!(Weights::new(f64::NAN, 1.0, 0.0).is_err());
        // Huge weights are scaled, not overflowed to infinity and normalised to zeros.
        let w = Weights::new(1e308, 1e308, 1e308).expect("huge weights");
        assert!((w.latency - 1.0 / 3.0).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn non_finite_rule_thresholds_are_refused() {
        let mut config = HealerConfig::default();
        config.rules.l0_release_ratio = f64::NAN;
        let err = config.validated().unwrap_err();
        assert!(err.to_string().contains("rules.l0_release_ratio"), "{err}");
        let mut config = HealerConfig::default();
        config.rules.cache_hit_drop = f64::INFINITY;
        let err = config.validated().unwrap_err();
        assert!(err.to_string().contains("rules.cache_hit_drop"), "{err}");
        let mut config = HealerConfig::default();
        config.rules.compaction_lag_thresholds = vec![0.5, 0.7, f64::NEG_INFINITY];
        let err = config.validated().unwrap_err();
        assert!(
            err.to_string().contains("rules.compaction_lag_thresholds"),
            "{err}"
        );
    }

    #[test]
    fn invalid_bounds_name_the_option() {
        let mut config = HealerConfig::default();
        config
            .guard
            .bounds
            .insert(Tunable::MaxBackgroundJobs, Bounds::new(8, 4));
        let err = config.validated().unwrap_err();
        assert!(err.to_string().contains("max_background_jobs"), "{err}");

        let mut config = HealerConfig::default();
        config
            .guard
            .bounds
            .insert(Tunable::MaxBackgroundJobs, Bounds::new(1, 1000));
        assert!(config.validated().is_err(), "outside the hard bounds");

        let config = HealerConfig {
            tick_interval_ms: 0,
            ..HealerConfig::default()
        };
        assert!(config.validated().is_err());
    }
}
