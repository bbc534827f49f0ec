//! The rule policy: a hand-written baseline modelled on production controllers (TiKV's flow
//! controller, ADOC), and what decides whenever the learned policy cannot.
//!
//! RocksDB stalls writes *because of* its stall triggers, so the levers that cut stall time
//! come first (repair a paused or starved compaction, stall-trigger headroom, memory for a
//! burst, compaction threads); throttling only queues writes, so it is the last resort near
//! the stop trigger. [`RulePolicy`] lists the rules; [`RuleConfig`] holds their thresholds.

use std::collections::{HashMap, VecDeque};

use lsmedic_telemetry::{ThrottleScope, Tunable};
use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionKind, Candidate, Effect};
use crate::config::Weights;
use crate::error::HealerError;
use crate::observation::{CfObservation, Stall};
use crate::policy::{score, Policy, PolicyFeedback, PolicyInput};

/// Thresholds of the rule policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Rule 1 on/off.
    pub throttle: bool,
    /// L0 / *stop* trigger (in force) at which the throttle engages.
    pub l0_engage_ratio: f64,
    /// L0 / stop trigger (in force) below which it releases.
    pub l0_release_ratio: f64,
    /// Pending / soft limit (in force) at which the throttle engages.
    pub pending_engage_ratio: f64,
    /// Pending / soft limit (in force) below which it releases.
    pub pending_release_ratio: f64,
    /// The limit never goes below this × the flow before throttling...
    pub throttle_floor_fraction: f64,
    /// ...unless L0 is at this fraction of the stop trigger (then the floor is
    /// `throttle_min_flow_bytes_per_sec`).
    pub throttle_floor_l0_stop_ratio: f64,
    /// First limit = this × p90 of recent write flow.
    pub throttle_fraction: f64,
    /// Limit multiplier while still over and not improving.
    pub throttle_decay: f64,
    /// Limit multiplier per release step.
    pub throttle_release_step: f64,
    /// Ticks between two throttle adjustments.
    pub throttle_adjust_ticks: u64,
    /// Ticks of write-flow history.
    pub flow_history_ticks: usize,
    /// Flows below this (bytes/s) are not worth throttling.
    pub throttle_min_flow_bytes_per_sec: f64,
    /// Rule 2 on/off.
    pub background_jobs: bool,
    /// Rule 3 (stall relief: compaction repair and stall-trigger headroom) on/off.
    pub stall_relief: bool,
    /// L0 / configured slowdown trigger (or pending / configured soft limit) at which paused
    /// automatic compactions are switched back on.
    pub compaction_repair_ratio: f64,
    /// L0 / configured slowdown trigger (or pending / configured soft limit) at which the
    /// stall triggers get headroom.
    pub headroom_engage_ratio: f64,
    /// L0 / configured slowdown trigger (and pending / configured soft limit) below which
    /// calm is counted before the headroom is given back.
    pub headroom_release_ratio: f64,
    /// Stall triggers and pending limits are raised to this × their configured value.
    pub headroom_factor: f64,
    /// Calm ticks before the headroom is given back.
    pub headroom_calm_ticks: u64,
    /// Lag levels; each crossed adds `background_jobs_step` jobs.
    pub compaction_lag_thresholds: Vec<f64>,
    /// Jobs added per lag level (and removed per calm step).
    pub background_jobs_step: u64,
    /// Never raise `max_background_jobs` above this many per CPU core (nor above the
    /// configured value, whichever is larger): more threads than the disks and cores can
    /// serve only add contention.
    pub max_background_jobs_per_core: f64,
    /// Ticks of calm before resources are given back (scaled by the resource weight).
    pub calm_ticks: u64,
    /// Rule 4 on/off.
    pub memtable: bool,
    /// Ticks of flush pressure before memtables grow.
    pub flush_pressure_ticks: u32,
    /// `max_write_buffer_number` increment.
    pub max_write_buffer_number_step: u64,
    /// `write_buffer_size` multiplier.
    pub write_buffer_growth: f64,
    /// Rule 5 on/off.
    pub block_cache: bool,
    /// Lookups/s needed to judge the hit ratio.
    pub cache_min_lookups_per_sec: f64,
    /// Drop of the fast hit ratio below the slow one that counts as a collapse.
    pub cache_hit_drop: f64,
    /// Hit ratio that counts as a collapse by itself (cache full).
    pub cache_low_hit_ratio: f64,
    /// Usage / capacity that counts as full.
    pub cache_full_ratio: f64,
    /// Capacity multiplier.
    pub cache_growth: f64,
    /// Rule 6 on/off.
    pub tombstone_compaction: bool,
    /// Tombstone share that counts as tombstone-heavy.
    pub tombstone_ratio: f64,
    /// Scan p99 rise over its baseline that counts as degraded.
    pub scan_latency_rise: f64,
    /// Scans/s needed to judge scan latency.
    pub min_scans_per_sec: f64,
    /// Rule 7 on/off.
    pub rebuild_on_corruption: bool,
    /// Failed ops in a tick that, with a recent unattributed corruption report, mark a
    /// column family corrupt.
    pub corruption_read_errors: u64,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            throttle: true,
            l0_engage_ratio: 0.8,
            l0_release_ratio: 0.5,
            pending_engage_ratio: 1.0,
            pending_release_ratio: 0.5,
            throttle_floor_fraction: 0.5,
            throttle_floor_l0_stop_ratio: 0.95,
            throttle_fraction: 0.8,
            throttle_decay: 0.8,
            throttle_release_step: 1.5,
            throttle_adjust_ticks: 5,
            flow_history_ticks: 100,
            throttle_min_flow_bytes_per_sec: 64.0 * 1024.0,
            background_jobs: true,
            stall_relief: true,
            compaction_repair_ratio: 0.5,
            headroom_engage_ratio: 0.75,
            headroom_release_ratio: 0.5,
            headroom_factor: 2.0,
            headroom_calm_ticks: 50,
            compaction_lag_thresholds: vec![0.5, 0.7, 0.85, 0.95],
            background_jobs_step: 2,
            max_background_jobs_per_core: 2.0,
            calm_ticks: 300,
            memtable: true,
            flush_pressure_ticks: 3,
            max_write_buffer_number_step: 2,
            write_buffer_growth: 1.5,
            block_cache: true,
            cache_min_lookups_per_sec: 1000.0,
            cache_hit_drop: 0.15,
            cache_low_hit_ratio: 0.5,
            cache_full_ratio: 0.9,
            cache_growth: 2.0,
            tombstone_compaction: true,
            tombstone_ratio: 0.3,
            scan_latency_rise: 2.0,
            min_scans_per_sec: 20.0,
            rebuild_on_corruption: true,
            corruption_read_errors: 3,
        }
    }
}

impl RuleConfig {
    pub(crate) fn validate(&self) -> Result<(), HealerError> {
        self.validate_non_negative()?;
        self.validate_positive()?;
        self.validate_relations()
    }

    /// Every threshold a finite number ≥ 0.
    fn validate_non_negative(&self) -> Result<(), HealerError> {
        // Every threshold first: NaN passes every `<`/`>` comparison below as false, so a NaN
        // ratio would otherwise slip through (found by the healer_config fuzz target).
        let all = [
            ("rules.l0_engage_ratio", self.l0_engage_ratio),
            ("rules.l0_release_ratio", self.l0_release_ratio),
            ("rules.pending_engage_ratio", self.pending_engage_ratio),
            ("rules.pending_release_ratio", self.pending_release_ratio),
            (
                "rules.throttle_floor_fraction",
                self.throttle_floor_fraction,
            ),
            (
                "rules.throttle_floor_l0_stop_ratio",
                self.throttle_floor_l0_stop_ratio,
            ),
            ("rules.throttle_fraction", self.throttle_fraction),
            ("rules.throttle_decay", self.throttle_decay),
            ("rules.throttle_release_step", self.throttle_release_step),
            (
                "rules.throttle_min_flow_bytes_per_sec",
                self.throttle_min_flow_bytes_per_sec,
            ),
            (
                "rules.compaction_repair_ratio",
                self.compaction_repair_ratio,
            ),
            ("rules.headroom_engage_ratio", self.headroom_engage_ratio),
            ("rules.headroom_release_ratio", self.headroom_release_ratio),
            ("rules.headroom_factor", self.headroom_factor),
            (
                "rules.max_background_jobs_per_core",
                self.max_background_jobs_per_core,
            ),
            ("rules.write_buffer_growth", self.write_buffer_growth),
            (
                "rules.cache_min_lookups_per_sec",
                self.cache_min_lookups_per_sec,
            ),
            ("rules.cache_hit_drop", self.cache_hit_drop),
            ("rules.cache_low_hit_ratio", self.cache_low_hit_ratio),
            ("rules.cache_full_ratio", self.cache_full_ratio),
            ("rules.cache_growth", self.cache_growth),
            ("rules.tombstone_ratio", self.tombstone_ratio),
            ("rules.scan_latency_rise", self.scan_latency_rise),
            ("rules.min_scans_per_sec", self.min_scans_per_sec),
        ];
        let thresholds = self
            .compaction_lag_thresholds
            .iter()
            .map(|&value| ("rules.compaction_lag_thresholds", value));
        for (field, value) in all.into_iter().chain(thresholds) {
            if !value.is_finite() || value < 0.0 {
                return Err(HealerError::config(
                    field,
                    format!("must be a finite number >= 0, got {value}"),
                ));
            }
        }
        Ok(())
    }

    /// The ratios a rule divides by or scales with, > 0.
    fn validate_positive(&self) -> Result<(), HealerError> {
        let positive = [
            ("rules.l0_engage_ratio", self.l0_engage_ratio),
            ("rules.pending_engage_ratio", self.pending_engage_ratio),
            ("rules.throttle_fraction", self.throttle_fraction),
            ("rules.throttle_decay", self.throttle_decay),
            ("rules.cache_full_ratio", self.cache_full_ratio),
            ("rules.tombstone_ratio", self.tombstone_ratio),
            (
                "rules.compaction_repair_ratio",
                self.compaction_repair_ratio,
            ),
            ("rules.headroom_engage_ratio", self.headroom_engage_ratio),
        ];
        for (field, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(HealerError::config(
                    field,
                    format!("must be > 0, got {value}"),
                ));
            }
        }
        Ok(())
    }

    /// Factors on the right side of 1, fractions within 0..=1, release below engage, a job
    /// cap and a flow history.
    fn validate_relations(&self) -> Result<(), HealerError> {
        if !(self.throttle_decay < 1.0 && self.throttle_fraction <= 1.0) {
            return Err(HealerError::config(
                "rules.throttle_decay",
                "throttle_decay must be < 1 and throttle_fraction <= 1",
            ));
        }
        if !(self.throttle_release_step > 1.0
            && self.cache_growth > 1.0
            && self.write_buffer_growth >= 1.0
            && self.scan_latency_rise > 1.0)
        {
            return Err(HealerError::config(
                "rules",
                "throttle_release_step, cache_growth and scan_latency_rise must be > 1, \
                 write_buffer_growth >= 1",
            ));
        }
        if !(self.headroom_factor.is_finite() && self.headroom_factor >= 1.0) {
            return Err(HealerError::config(
                "rules.headroom_factor",
                format!("must be >= 1, got {}", self.headroom_factor),
            ));
        }
        if !(self.throttle_floor_fraction.is_finite()
            && (0.0..=1.0).contains(&self.throttle_floor_fraction))
        {
            return Err(HealerError::config(
                "rules.throttle_floor_fraction",
                format!("must be in 0..=1, got {}", self.throttle_floor_fraction),
            ));
        }
        if self.l0_release_ratio >= self.l0_engage_ratio
            || self.pending_release_ratio >= self.pending_engage_ratio
            || self.headroom_release_ratio >= self.headroom_engage_ratio
        {
            return Err(HealerError::config(
                "rules",
                "release ratios must be below engage ratios (hysteresis)",
            ));
        }
        if !(self.max_background_jobs_per_core.is_finite()
            && self.max_background_jobs_per_core > 0.0)
        {
            return Err(HealerError::config(
                "rules.max_background_jobs_per_core",
                format!("must be > 0, got {}", self.max_background_jobs_per_core),
            ));
        }
        if self.flow_history_ticks == 0 {
            return Err(HealerError::config(
                "rules.flow_history_ticks",
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

/// Exponentially weighted moving average.
#[derive(Clone, Copy, Debug, Default)]
struct Ewma {
    value: Option<f64>,
    samples: u64,
}

impl Ewma {
    fn add(&mut self, value: f64, alpha: f64) {
        self.samples += 1;
        self.value = Some(match self.value {
            Some(old) => old + alpha * (value - old),
            None => value,
        });
    }
}

#[derive(Clone, Debug, Default)]
struct CfState {
    flow: VecDeque<f64>,
    /// The limit this policy applied last, as applied (after the guard's clamping).
    owned_limit: Option<u64>,
    limit_set_tick: u64,
    pressure_at_set: f64,
    last_pressure: f64,
    flow_before_throttle: f64,
    flush_pressure_ticks: u32,
    calm_memtable_ticks: u64,
    calm_headroom_ticks: u64,
    delete_share: Ewma,
    corrupt_since_tick: Option<u64>,
}

impl CfState {
    fn flow_p90(&self) -> f64 {
        if self.flow.is_empty() {
            return 0.0;
        }
        let mut sorted: Vec<f64> = self.flow.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = ((0.9 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }
}

/// The rule policy. Each rule can be switched off and its thresholds are [`RuleConfig`]
/// fields (named in backquotes below).
///
/// # Rules
///
/// 1. **Smooth write throttle per column family, last resort** (TiKV flow controller).
///    Pressure is the largest of L0 / stop trigger ÷ `l0_engage_ratio`, pending / soft limit
///    ÷ `pending_engage_ratio` (the triggers and limits in force, so after rule 3's
///    headroom) and, with `max_write_buffer_number ≥ 3`, immutable memtables /
///    (`max_write_buffer_number` − 1). At pressure ≥ 1, or when RocksDB has *stopped*
///    writes, the column family's writes are limited to `throttle_fraction` × the p90 of its
///    recent write flow (`flow_history_ticks`; flows under `throttle_min_flow_bytes_per_sec`
///    are not throttled). While still over and not improving, every `throttle_adjust_ticks`
///    the limit is multiplied by `throttle_decay` (squared when writes are stopped or L0 or
///    pending is at 90 % of where RocksDB stops writes), never below
///    `throttle_floor_fraction` × the flow before throttling, unless L0 is at
///    `throttle_floor_l0_stop_ratio` of the stop trigger. Once L0 and pending are below their
///    release ratios, memtables at most half full and no stall, the limit is raised by
///    `throttle_release_step` and lifted when that reaches the flow before throttling. Only
///    limits this policy set are touched: an operator's own limit is left alone.
/// 2. **Background jobs** (TiKV I/O budget / ADOC). Lag = the worst column family's
///    max(pending ratio, L0 / slowdown trigger), against the *configured* soft limit and
///    trigger when lower than the ones in force (headroom does not hide compaction debt).
///    Each of `compaction_lag_thresholds` crossed adds `background_jobs_step` jobs above the
///    configured `max_background_jobs`, capped at `max_background_jobs_per_core` × CPU cores
///    (or the configured value if larger); the compaction pool follows, and
///    `max_subcompactions` goes to 2 when L0 is near its slowdown trigger. With compaction
///    work waiting, jobs or a compaction pool cut below their configured values are restored.
///    A flush backlog with every flush thread busy adds a flush thread. After `calm_ticks`
///    without lag the jobs step back toward the configured value.
/// 3. **Stall relief** (`stall_relief`), one `SetCf` per column family, kind
///    `release_throttle` (it relaxes RocksDB's own write controller; the throttle family is
///    not verified by default, so a repair is never rolled back to a paused compaction):
///    automatic compactions paused while L0 or pending reaches `compaction_repair_ratio` of
///    the configured trigger or limit are switched back on; at `headroom_engage_ratio`, or
///    in any stall, the stall triggers and pending limits (those not 0) are raised to
///    `headroom_factor` × their configured values; after `headroom_calm_ticks` below
///    `headroom_release_ratio` they go back to the configured values (kind `throttle`).
/// 4. **Memtable growth on flush pressure**: immutable memtables at
///    `max_write_buffer_number` − 1 with a flush pending or a stall, for
///    `flush_pressure_ticks` → `max_write_buffer_number` + `max_write_buffer_number_step`,
///    and `write_buffer_size` × `write_buffer_growth` when more than two memtables are sealed
///    per second. Back to the configured sizes after `calm_ticks` without immutable memtables.
/// 5. **Block-cache growth on hit-rate collapse**: with at least `cache_min_lookups_per_sec`
///    and the cache `cache_full_ratio` full, a fast hit-ratio average more than
///    `cache_hit_drop` below the slow one, or below `cache_low_hit_ratio` → capacity ×
///    `cache_growth`. Back toward the configured capacity after `calm_ticks` under half full.
/// 6. **Compaction of tombstone-heavy column families**: at least `min_scans_per_sec`, scan
///    p99 `scan_latency_rise` × its baseline, and tombstones at least `tombstone_ratio` of
///    memtable entries or of recent writes → `compact_range` over the column family.
/// 7. **Rebuild on corruption**: a background error saying `Corruption` or a compaction that
///    met corrupt keys in the column family, or `corruption_read_errors` failed ops there
///    soon after an unattributed corruption report → `rebuild_cf`, with a fixed score
///    whatever the weights (correctness is not a preference). The guard lets it through
///    only with `allow_destructive`.
///
/// # Weights
///
/// Every candidate carries an expected [`Effect`]; its score is
/// `urgency × (w_lat·latency + w_tp·throughput − w_res·resources)` and non-positive scores
/// are dropped, so a resource-heavy operator gets throttling instead of more threads, memory
/// or cache, and a latency-heavy one gets more resources sooner. Weights also shape the
/// throttle (latency and throughput weight make it gentler, the resource weight harsher)
/// and the resource weight shortens the calm period before resources are given back.
/// Scores that do not depend on the weights: a compaction repair scores at least 1, giving
/// the headroom back 0.1, a rebuild 2.
#[derive(Debug)]
pub struct RulePolicy {
    config: RuleConfig,
    cores: u64,
    cfs: HashMap<String, CfState>,
    calm_compaction_ticks: u64,
    cache_fast: Ewma,
    cache_slow: Ewma,
    cache_calm_ticks: u64,
    scan_fast: Ewma,
    scan_slow: Ewma,
    last_unattributed_corruption_tick: Option<u64>,
}

/// Ticks an unattributed corruption report stays relevant.
const CORRUPTION_MEMORY_TICKS: u64 = 50;

impl RulePolicy {
    /// A rule policy with `config` (validated by `HealerConfig::validated`).
    pub fn new(config: RuleConfig) -> RulePolicy {
        RulePolicy {
            config,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            cfs: HashMap::new(),
            calm_compaction_ticks: 0,
            cache_fast: Ewma::default(),
            cache_slow: Ewma::default(),
            cache_calm_ticks: 0,
            scan_fast: Ewma::default(),
            scan_slow: Ewma::default(),
            last_unattributed_corruption_tick: None,
        }
    }

    /// Its thresholds.
    pub fn config(&self) -> &RuleConfig {
        &self.config
    }

    /// Overrides the CPU count the job cap is computed from (tests, containers).
    pub fn with_cores(mut self, cores: u64) -> RulePolicy {
        self.cores = cores.max(1);
        self
    }

    fn calm_ticks(&self, weights: &Weights) -> u64 {
        ((self.config.calm_ticks as f64) * (1.5 - weights.resources)).round() as u64
    }

    fn throttle_shape(&self, weights: &Weights) -> (f64, f64) {
        let third = 1.0 / 3.0;
        let shift = 0.15 * (weights.latency - third) + 0.1 * (weights.throughput - third)
            - 0.15 * (weights.resources - third);
        let fraction = (self.config.throttle_fraction + shift).clamp(0.3, 0.98);
        let decay = (self.config.throttle_decay + shift).clamp(0.3, 0.95);
        (fraction, decay)
    }

    fn update_state(&mut self, input: &PolicyInput<'_>) {
        let history = self.config.flow_history_ticks;
        let live: Vec<&str> = input
            .observation
            .cfs
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        self.cfs.retain(|name, _| live.contains(&name.as_str()));
        for cf in &input.observation.cfs {
            let state = self.cfs.entry(cf.name.clone()).or_default();
            state.flow.push_back(cf.write_bytes_per_sec);
            while state.flow.len() > history {
                state.flow.pop_front();
            }
            if cf.write_ops_per_sec > 0.0 {
                state
                    .delete_share
                    .add(cf.delete_ops_per_sec / cf.write_ops_per_sec, 0.05);
            }
            if cf.write_rate_limit.is_none() {
                state.owned_limit = None;
            }
            if cf.corruption_signals > 0 {
                state.corrupt_since_tick.get_or_insert(input.tick);
            }
        }
        if input.observation.global.unattributed_corruption_signals > 0 {
            self.last_unattributed_corruption_tick = Some(input.tick);
        }
    }

    fn throttle_rules(&mut self, input: &PolicyInput<'_>, out: &mut Vec<Candidate>) {
        let (fraction, decay) = self.throttle_shape(&input.weights);
        let step = ThrottleStep {
            config: &self.config,
            tick: input.tick,
            weights: &input.weights,
            fraction,
            decay,
        };
        for cf in &input.observation.cfs {
            let Some(state) = self.cfs.get_mut(&cf.name) else {
                continue;
            };
            let limit = cf.write_rate_limit;
            if limit.is_some() && limit != state.owned_limit {
                continue; // an operator's limit: not ours to move
            }
            let reading = ThrottleReading::of(cf, step.config);
            state.last_pressure = reading.pressure;
            let candidate = match limit {
                None if reading.pressure >= 1.0 || cf.stall == Stall::Stopped => {
                    step.engage(state, cf, &reading)
                }
                Some(current) if reading.pressure >= 1.0 || reading.severe => {
                    step.tighten(state, cf, current, &reading)
                }
                Some(current) if reading.released => step.release(state, cf, current, &reading),
                _ => None,
            };
            out.extend(candidate);
        }
    }

    fn background_job_rules(&mut self, input: &PolicyInput<'_>, out: &mut Vec<Candidate>) {
        let g = &input.observation.global;
        let lag = CompactionLag::of(input);
        let baseline_jobs = input
            .baseline
            .global(Tunable::MaxBackgroundJobs)
            .unwrap_or(g.max_background_jobs);
        let mut raise = GlobalChanges::default();
        let levels = lag.levels_crossed(&self.config.compaction_lag_thresholds);
        if levels > 0 {
            self.raise_jobs_for_lag(input, &lag, levels, baseline_jobs, &mut raise);
        } else if lag.lag >= 0.3 || input.observation.cfs.iter().any(|cf| cf.compaction_pending) {
            restore_starved_jobs(input, lag.lag, baseline_jobs, &mut raise);
        }
        add_flush_thread_on_backlog(input, &mut raise);
        if !raise.changes.is_empty() {
            let effect = Effect::new(0.4, 0.5, 0.4);
            out.push(Candidate {
                kind: ActionKind::RaiseBackgroundJobs,
                action: Action::SetGlobal {
                    changes: raise.changes,
                },
                score: score(raise.urgency, effect, &input.weights),
                rule: "background_jobs_raise".into(),
                reason: raise.reasons.join("; "),
                effect,
            });
            self.calm_compaction_ticks = 0;
            return;
        }
        if lag.lag < 0.3 {
            self.calm_compaction_ticks += 1;
        } else {
            self.calm_compaction_ticks = 0;
        }
        out.extend(self.lower_jobs_when_calm(input, lag.lag, baseline_jobs));
    }

    /// More jobs (and the compaction pool and subcompactions to use them) per lag level
    /// crossed, up to the per-core cap.
    fn raise_jobs_for_lag(
        &self,
        input: &PolicyInput<'_>,
        lag: &CompactionLag<'_>,
        levels: u64,
        baseline_jobs: u64,
        raise: &mut GlobalChanges,
    ) {
        let config = &self.config;
        let g = &input.observation.global;
        let current = g.max_background_jobs;
        let cap = ((self.cores as f64 * config.max_background_jobs_per_core).ceil() as u64)
            .max(baseline_jobs);
        let target = (baseline_jobs + levels * config.background_jobs_step).min(cap);
        let jobs = target.max(current);
        if target > current {
            raise.changes.push((Tunable::MaxBackgroundJobs, target));
        }
        // RocksDB gives compactions jobs − jobs/4 of the jobs: make the pool that large.
        let compactions = (jobs - jobs / 4).max(1);
        if g.background_threads_low < compactions {
            raise
                .changes
                .push((Tunable::BackgroundThreadsLow, compactions));
        }
        if lag.max_l0_ratio >= 0.85 && g.max_subcompactions < 2 {
            raise.changes.push((Tunable::MaxSubcompactions, 2));
        }
        if let Some((cf, l0, pending)) = lag.worst {
            raise.reasons.push(format!(
                "compaction lag {:.2} in {:?} (pending ratio {pending:.2}, L0 ratio \
                 {l0:.2} of the configured triggers) crosses {levels} level(s): \
                 max_background_jobs {current} -> {target}",
                lag.lag, cf.name,
            ));
        }
        raise.urgency = lag.lag;
    }

    /// After a calm period, background jobs step back toward the configured value.
    fn lower_jobs_when_calm(
        &self,
        input: &PolicyInput<'_>,
        lag: f64,
        baseline_jobs: u64,
    ) -> Option<Candidate> {
        let current = input.observation.global.max_background_jobs;
        if self.calm_compaction_ticks < self.calm_ticks(&input.weights) || current <= baseline_jobs
        {
            return None;
        }
        let target = current
            .saturating_sub(self.config.background_jobs_step)
            .max(baseline_jobs);
        let effect = Effect::new(-0.1, -0.1, -0.4);
        Some(Candidate {
            kind: ActionKind::LowerBackgroundJobs,
            action: Action::SetGlobal {
                changes: vec![(Tunable::MaxBackgroundJobs, target)],
            },
            score: score(1.0, effect, &input.weights),
            rule: "background_jobs_lower".into(),
            reason: format!(
                "compaction calm for {} ticks (lag {lag:.2}): max_background_jobs \
                 {current} -> {target}",
                self.calm_compaction_ticks
            ),
            effect,
        })
    }

    fn stall_relief_rules(&mut self, input: &PolicyInput<'_>, out: &mut Vec<Candidate>) {
        let config = &self.config;
        for cf in &input.observation.cfs {
            let Some(state) = self.cfs.get_mut(&cf.name) else {
                continue;
            };
            let relief = StallRelief::of(cf, input, config);
            if relief.calm {
                state.calm_headroom_ticks += 1;
            } else {
                state.calm_headroom_ticks = 0;
            }
            if let Some(candidate) = relief.relieve(config, &input.weights) {
                out.push(candidate);
            } else if state.calm_headroom_ticks >= config.headroom_calm_ticks {
                out.extend(relief.give_back(state.calm_headroom_ticks));
            }
        }
    }

    fn memtable_rules(&mut self, input: &PolicyInput<'_>, out: &mut Vec<Candidate>) {
        let calm_ticks = self.calm_ticks(&input.weights);
        let config = &self.config;
        for cf in &input.observation.cfs {
            let Some(state) = self.cfs.get_mut(&cf.name) else {
                continue;
            };
            let near_max =
                cf.immutable_memtables >= cf.max_write_buffer_number.saturating_sub(1).max(1);
            if near_max && (cf.flush_pending || cf.stall != Stall::Normal) {
                state.flush_pressure_ticks += 1;
            } else {
                state.flush_pressure_ticks = 0;
            }
            if cf.immutable_memtables == 0 && cf.stall == Stall::Normal {
                state.calm_memtable_ticks += 1;
            } else {
                state.calm_memtable_ticks = 0;
            }
            if state.flush_pressure_ticks >= config.flush_pressure_ticks {
                let mut changes = vec![(
                    Tunable::MaxWriteBufferNumber,
                    cf.max_write_buffer_number + config.max_write_buffer_number_step,
                )];
                let seals_per_sec = cf.memtables_sealed as f64 / input.observation.duration_secs;
                if seals_per_sec > 2.0 {
                    changes.push((
                        Tunable::WriteBufferSize,
                        (cf.write_buffer_size as f64 * config.write_buffer_growth) as u64,
                    ));
                }
                let effect = Effect::new(0.3, 0.4, 0.5);
                out.push(Candidate {
                    kind: ActionKind::GrowMemtable,
                    action: Action::SetCf {
                        cf: cf.name.clone(),
                        changes,
                    },
                    score: score(cf.memtable_ratio().max(1.0), effect, &input.weights),
                    rule: "memtable_grow".into(),
                    reason: format!(
                        "flush pressure for {} ticks: {} immutable memtables of max {}, \
                         {seals_per_sec:.1} memtables sealed/s, stall {:?}",
                        state.flush_pressure_ticks,
                        cf.immutable_memtables,
                        cf.max_write_buffer_number,
                        cf.stall
                    ),
                    effect,
                });
                continue;
            }
            if state.calm_memtable_ticks >= calm_ticks {
                let base = |t: Tunable| input.baseline.cf(&cf.name, t);
                let mut changes = Vec::new();
                if let Some(b) = base(Tunable::MaxWriteBufferNumber) {
                    if cf.max_write_buffer_number > b {
                        changes.push((Tunable::MaxWriteBufferNumber, b));
                    }
                }
                if let Some(b) = base(Tunable::WriteBufferSize) {
                    if cf.write_buffer_size > b {
                        changes.push((Tunable::WriteBufferSize, b));
                    }
                }
                if !changes.is_empty() {
                    let effect = Effect::new(-0.1, -0.1, -0.5);
                    out.push(Candidate {
                        kind: ActionKind::ShrinkMemtable,
                        action: Action::SetCf {
                            cf: cf.name.clone(),
                            changes,
                        },
                        score: score(1.0, effect, &input.weights),
                        rule: "memtable_shrink".into(),
                        reason: format!(
                            "no immutable memtable for {} ticks: back to the configured sizes",
                            state.calm_memtable_ticks
                        ),
                        effect,
                    });
                }
            }
        }
    }

    fn cache_rules(&mut self, input: &PolicyInput<'_>, out: &mut Vec<Candidate>) {
        let g = &input.observation.global;
        let calm_ticks = self.calm_ticks(&input.weights);
        let config = &self.config;
        if !g.statistics_available || g.block_cache_capacity == 0 {
            return;
        }
        let usage_ratio = g.block_cache_usage as f64 / g.block_cache_capacity as f64;
        if usage_ratio < 0.5 {
            self.cache_calm_ticks += 1;
        } else {
            self.cache_calm_ticks = 0;
        }
        let lookups = g.block_cache_hits_per_sec + g.block_cache_misses_per_sec;
        if let (Some(hit_ratio), true) = (
            g.block_cache_hit_ratio,
            lookups >= config.cache_min_lookups_per_sec,
        ) {
            self.cache_fast.add(hit_ratio, 0.3);
            self.cache_slow.add(hit_ratio, 0.01);
            let (fast, slow) = (
                self.cache_fast.value.unwrap_or(hit_ratio),
                self.cache_slow.value.unwrap_or(hit_ratio),
            );
            let dropped = self.cache_slow.samples >= 10 && fast < slow - config.cache_hit_drop;
            let low = fast < config.cache_low_hit_ratio;
            let full = usage_ratio >= config.cache_full_ratio;
            if (dropped || low) && full {
                let target = (g.block_cache_capacity as f64 * config.cache_growth) as u64;
                let urgency = (1.0 + (slow - fast).max(0.0) / config.cache_hit_drop).min(3.0);
                let effect = Effect::new(0.6, 0.3, 0.6);
                out.push(Candidate {
                    kind: ActionKind::GrowBlockCache,
                    action: Action::SetGlobal {
                        changes: vec![(Tunable::BlockCacheCapacity, target)],
                    },
                    score: score(urgency, effect, &input.weights),
                    rule: "block_cache_grow".into(),
                    reason: format!(
                        "hit ratio collapsed: {fast:.2} now vs {slow:.2} baseline, cache \
                         {:.0} % full, {lookups:.0} lookups/s: capacity {} -> {target}",
                        usage_ratio * 100.0,
                        g.block_cache_capacity
                    ),
                    effect,
                });
                return;
            }
        }
        let baseline = input
            .baseline
            .global(Tunable::BlockCacheCapacity)
            .unwrap_or(g.block_cache_capacity);
        if self.cache_calm_ticks >= calm_ticks && g.block_cache_capacity > baseline {
            let target = ((g.block_cache_usage as f64 * 1.5) as u64).max(baseline);
            if target < g.block_cache_capacity {
                let effect = Effect::new(-0.05, -0.05, -0.5);
                out.push(Candidate {
                    kind: ActionKind::ShrinkBlockCache,
                    action: Action::SetGlobal {
                        changes: vec![(Tunable::BlockCacheCapacity, target)],
                    },
                    score: score(1.0, effect, &input.weights),
                    rule: "block_cache_shrink".into(),
                    reason: format!(
                        "cache under half full for {} ticks: capacity {} -> {target}",
                        self.cache_calm_ticks, g.block_cache_capacity
                    ),
                    effect,
                });
            }
        }
    }

    fn tombstone_rules(&mut self, input: &PolicyInput<'_>, out: &mut Vec<Candidate>) {
        let g = &input.observation.global;
        let config = &self.config;
        let Some(scan) = g.scan_latency else {
            return;
        };
        let p99_us = scan.p99_ns as f64 / 1e3;
        self.scan_fast.add(p99_us, 0.3);
        let fast = self.scan_fast.value.unwrap_or(p99_us);
        let baseline = self.scan_slow.value.unwrap_or(p99_us);
        let rise = if baseline > 0.0 { fast / baseline } else { 1.0 };
        // The baseline learns only from normal ticks, so a slow build-up is still caught.
        if rise < config.scan_latency_rise {
            self.scan_slow.add(p99_us, 0.01);
        }
        if self.scan_slow.samples < 20 || rise < config.scan_latency_rise {
            return;
        }
        let best = input
            .observation
            .cfs
            .iter()
            .filter(|cf| cf.scan_ops_per_sec >= config.min_scans_per_sec)
            .filter_map(|cf| {
                let share = self
                    .cfs
                    .get(&cf.name)
                    .and_then(|s| s.delete_share.value)
                    .unwrap_or(0.0);
                let tombstones = cf.memtable_tombstone_ratio().max(share);
                (tombstones >= config.tombstone_ratio).then_some((cf, tombstones))
            })
            .max_by(|a, b| (a.0.scan_ops_per_sec * a.1).total_cmp(&(b.0.scan_ops_per_sec * b.1)));
        if let Some((cf, tombstones)) = best {
            let effect = Effect::new(0.6, 0.2, 0.3);
            out.push(Candidate {
                kind: ActionKind::CompactRange,
                action: Action::CompactRange {
                    cf: cf.name.clone(),
                },
                score: score(
                    (rise / config.scan_latency_rise).min(3.0),
                    effect,
                    &input.weights,
                ),
                rule: "tombstone_compaction".into(),
                reason: format!(
                    "scan p99 {fast:.0} us is {rise:.1}x its baseline {baseline:.0} us with \
                     {:.0} scans/s and tombstone share {tombstones:.2} in {:?}",
                    cf.scan_ops_per_sec, cf.name
                ),
                effect,
            });
        }
    }

    fn corruption_rules(&mut self, input: &PolicyInput<'_>, out: &mut Vec<Candidate>) {
        let config = &self.config;
        let recent_unattributed = self
            .last_unattributed_corruption_tick
            .is_some_and(|t| input.tick.saturating_sub(t) <= CORRUPTION_MEMORY_TICKS);
        for cf in &input.observation.cfs {
            let Some(state) = self.cfs.get_mut(&cf.name) else {
                continue;
            };
            if recent_unattributed && cf.op_errors >= config.corruption_read_errors {
                state.corrupt_since_tick.get_or_insert(input.tick);
            }
            let Some(since) = state.corrupt_since_tick else {
                continue;
            };
            let effect = Effect::new(1.0, 1.0, 0.0);
            out.push(Candidate {
                kind: ActionKind::RebuildCf,
                action: Action::RebuildCf {
                    cf: cf.name.clone(),
                },
                // Correctness is not a preference: the score does not depend on the weights.
                score: 2.0,
                rule: "rebuild_on_corruption".into(),
                reason: format!(
                    "corruption reported in {:?} since tick {since} ({} reports, {} failed ops \
                     this tick)",
                    cf.name, cf.corruption_signals, cf.op_errors
                ),
                effect,
            });
        }
    }
}

/// What the throttle rule reads from one column family.
struct ThrottleReading {
    /// L0 files / stop trigger in force.
    l0_stop_ratio: f64,
    /// The largest of the engage ratios (≥ 1 = engage).
    pressure: f64,
    /// Writes stopped, or L0 or pending at 90 % of where RocksDB stops writes.
    severe: bool,
    /// Everything well below the engage levels and no stall.
    released: bool,
    /// The numbers behind it, for the reason.
    numbers: String,
}

impl ThrottleReading {
    fn of(cf: &CfObservation, config: &RuleConfig) -> ThrottleReading {
        let memtable_ratio = if cf.max_write_buffer_number >= 3 {
            cf.memtable_ratio()
        } else {
            0.0
        };
        let l0_stop_ratio = ratio_of(cf.l0_files(), cf.level0_stop_writes_trigger);
        let pressure = (l0_stop_ratio / config.l0_engage_ratio)
            .max(cf.pending_ratio() / config.pending_engage_ratio)
            .max(memtable_ratio);
        let severe = cf.stall == Stall::Stopped
            || l0_stop_ratio >= 0.9
            || (cf.hard_pending_compaction_bytes_limit > 0
                && ratio_of(
                    cf.pending_compaction_bytes,
                    cf.hard_pending_compaction_bytes_limit,
                ) >= 0.9);
        let released = l0_stop_ratio < config.l0_release_ratio
            && cf.pending_ratio() < config.pending_release_ratio
            && memtable_ratio <= 0.5
            && cf.stall == Stall::Normal;
        let numbers = format!(
            "L0 {} / stop {} ({:.2}), pending {} B ({:.2} of soft limit), \
             immutable memtables {}/{}, stall {:?}",
            cf.l0_files(),
            cf.level0_stop_writes_trigger,
            l0_stop_ratio,
            cf.pending_compaction_bytes,
            cf.pending_ratio(),
            cf.immutable_memtables,
            cf.max_write_buffer_number,
            cf.stall
        );
        ThrottleReading {
            l0_stop_ratio,
            pressure,
            severe,
            released,
            numbers,
        }
    }
}

/// The throttle rule's settings for one tick (its shape follows the weights).
struct ThrottleStep<'a> {
    config: &'a RuleConfig,
    tick: u64,
    weights: &'a Weights,
    /// First limit = this × p90 of the recent write flow.
    fraction: f64,
    /// Limit multiplier while still over.
    decay: f64,
}

impl ThrottleStep<'_> {
    /// A first limit on a column family under pressure (unless its flow is too small).
    fn engage(
        &self,
        state: &mut CfState,
        cf: &CfObservation,
        reading: &ThrottleReading,
    ) -> Option<Candidate> {
        let flow = state.flow_p90().max(cf.write_bytes_per_sec);
        if flow < self.config.throttle_min_flow_bytes_per_sec {
            return None;
        }
        state.flow_before_throttle = flow;
        let (pressure, fraction) = (reading.pressure, self.fraction);
        Some(throttle_candidate(
            ThrottleScope::Cf(cf.name.clone()),
            (flow * fraction) as u64,
            pressure,
            self.weights,
            "throttle_engage",
            format!(
                "pressure {pressure:.2} >= 1: {}; limit at {fraction:.2} x p90 write flow \
                 {flow:.0} B/s",
                reading.numbers
            ),
        ))
    }

    /// A tighter limit while still over and not improving, down to the floor.
    fn tighten(
        &self,
        state: &CfState,
        cf: &CfObservation,
        current: u64,
        reading: &ThrottleReading,
    ) -> Option<Candidate> {
        let config = self.config;
        let (pressure, severe) = (reading.pressure, reading.severe);
        let waited = self.tick.saturating_sub(state.limit_set_tick);
        let improving = pressure < state.pressure_at_set * 0.98;
        if waited < config.throttle_adjust_ticks || (improving && !severe) {
            return None;
        }
        let factor = if severe {
            self.decay * self.decay
        } else {
            self.decay
        };
        let floor = if reading.l0_stop_ratio >= config.throttle_floor_l0_stop_ratio
            || state.flow_before_throttle <= 0.0
        {
            config.throttle_min_flow_bytes_per_sec
        } else {
            (state.flow_before_throttle * config.throttle_floor_fraction)
                .max(config.throttle_min_flow_bytes_per_sec)
        };
        let next = ((current as f64) * factor).max(floor) as u64;
        if next >= current {
            return None; // at the floor
        }
        Some(throttle_candidate(
            ThrottleScope::Cf(cf.name.clone()),
            next,
            pressure,
            self.weights,
            "throttle_tighten",
            format!(
                "still over (pressure {pressure:.2}, was {:.2}{}): {}; limit x {factor:.2} \
                 (floor {floor:.0} B/s)",
                state.pressure_at_set,
                if severe { ", severe" } else { "" },
                reading.numbers
            ),
        ))
    }

    /// A looser limit once the pressure cleared, lifted when it reaches the flow before.
    fn release(
        &self,
        state: &CfState,
        cf: &CfObservation,
        current: u64,
        reading: &ThrottleReading,
    ) -> Option<Candidate> {
        let config = self.config;
        let waited = self.tick.saturating_sub(state.limit_set_tick);
        if waited < config.throttle_adjust_ticks {
            return None;
        }
        let next = (current as f64) * config.throttle_release_step;
        let lift = state.flow_before_throttle <= 0.0 || next >= state.flow_before_throttle;
        let effect = Effect::new(0.2, 0.5, 0.0);
        Some(Candidate {
            kind: ActionKind::ReleaseThrottle,
            action: Action::SetWriteRateLimit {
                scope: ThrottleScope::Cf(cf.name.clone()),
                rate_bytes_per_sec: if lift { None } else { Some(next as u64) },
            },
            score: score(1.0, effect, self.weights),
            rule: "throttle_release".into(),
            reason: format!(
                "pressure cleared ({}); {}",
                reading.numbers,
                if lift {
                    "lifting the limit".to_owned()
                } else {
                    format!("limit x {:.2}", config.throttle_release_step)
                }
            ),
            effect,
        })
    }
}

/// How far compaction is behind, against the configured triggers and limits.
struct CompactionLag<'a> {
    /// The column family furthest behind, with its L0 and pending ratios.
    worst: Option<(&'a CfObservation, f64, f64)>,
    /// Its larger ratio (0 without column families).
    lag: f64,
    /// The largest L0 ratio of any column family.
    max_l0_ratio: f64,
}

impl<'a> CompactionLag<'a> {
    fn of(input: &'a PolicyInput<'_>) -> CompactionLag<'a> {
        let worst = input
            .observation
            .cfs
            .iter()
            .map(|cf| {
                let (l0, pending) = base_ratios(cf, input);
                (cf, l0, pending)
            })
            .max_by(|a, b| a.1.max(a.2).total_cmp(&b.1.max(b.2)));
        let max_l0_ratio = input
            .observation
            .cfs
            .iter()
            .map(|cf| base_ratios(cf, input).0)
            .fold(0.0, f64::max);
        CompactionLag {
            worst,
            lag: worst.map_or(0.0, |(_, l0, pending)| l0.max(pending)),
            max_l0_ratio,
        }
    }

    /// How many of `thresholds` the lag reaches.
    fn levels_crossed(&self, thresholds: &[f64]) -> u64 {
        thresholds.iter().filter(|&&t| self.lag >= t).count() as u64
    }
}

/// Global changes one rule gathers from several findings, with their reasons.
#[derive(Debug, Default)]
struct GlobalChanges {
    changes: Vec<(Tunable, u64)>,
    reasons: Vec<String>,
    urgency: f64,
}

/// Repair: background jobs or the compaction pool were cut below what was configured while
/// compaction work is waiting.
fn restore_starved_jobs(
    input: &PolicyInput<'_>,
    lag: f64,
    baseline_jobs: u64,
    raise: &mut GlobalChanges,
) {
    let g = &input.observation.global;
    let current = g.max_background_jobs;
    let baseline_low = input
        .baseline
        .global(Tunable::BackgroundThreadsLow)
        .unwrap_or(0);
    if current < baseline_jobs {
        raise
            .changes
            .push((Tunable::MaxBackgroundJobs, baseline_jobs));
    }
    let jobs = baseline_jobs.max(current);
    let compactions = (jobs - jobs / 4).max(1).max(baseline_low);
    if raise.changes.is_empty() && g.background_threads_low >= baseline_low {
        return;
    }
    if g.background_threads_low < compactions {
        raise
            .changes
            .push((Tunable::BackgroundThreadsLow, compactions));
    }
    raise.reasons.push(format!(
        "compaction work waiting (lag {lag:.2}) with max_background_jobs {current} \
         / background_threads_low {} below the configured {baseline_jobs} / \
         {baseline_low}: restoring",
        g.background_threads_low
    ));
    raise.urgency = 1.0;
}

/// A flush backlog (flush pending, ≥ 2 immutable memtables, every flush thread busy) adds a
/// flush thread.
fn add_flush_thread_on_backlog(input: &PolicyInput<'_>, raise: &mut GlobalChanges) {
    let g = &input.observation.global;
    let backlog = input
        .observation
        .cfs
        .iter()
        .any(|cf| cf.flush_pending && cf.immutable_memtables >= 2)
        && g.running_flushes >= g.background_threads_high;
    if !backlog {
        return;
    }
    raise.changes.push((
        Tunable::BackgroundThreadsHigh,
        g.background_threads_high + 1,
    ));
    raise.reasons.push(format!(
        "flush backlog with all {} flush threads busy",
        g.background_threads_high
    ));
    raise.urgency = raise.urgency.max(1.0);
}

/// The stall-relief rule's view of one column family in one tick.
struct StallRelief<'a> {
    cf: &'a CfObservation,
    input: &'a PolicyInput<'a>,
    /// L0 / configured slowdown trigger.
    l0_ratio: f64,
    /// Pending / configured soft limit.
    pending_ratio: f64,
    /// Automatic compactions are paused while compaction work builds up.
    repair: bool,
    /// Close enough to a stall for headroom.
    pressed: bool,
    /// Calm enough to count toward giving the headroom back.
    calm: bool,
}

impl<'a> StallRelief<'a> {
    fn of(
        cf: &'a CfObservation,
        input: &'a PolicyInput<'a>,
        config: &RuleConfig,
    ) -> StallRelief<'a> {
        let (l0_ratio, pending_ratio) = base_ratios(cf, input);
        let repair = input.tunables.cf(&cf.name, Tunable::DisableAutoCompactions) == Some(1)
            && l0_ratio.max(pending_ratio) >= config.compaction_repair_ratio;
        let pressed = l0_ratio >= config.headroom_engage_ratio
            || pending_ratio >= config.headroom_engage_ratio
            || cf.stall != Stall::Normal;
        let calm = l0_ratio < config.headroom_release_ratio
            && pending_ratio < config.headroom_release_ratio
            && cf.stall == Stall::Normal;
        StallRelief {
            cf,
            input,
            l0_ratio,
            pending_ratio,
            repair,
            pressed,
            calm,
        }
    }

    fn configured(&self, tunable: Tunable) -> Option<u64> {
        self.input.baseline.cf(&self.cf.name, tunable)
    }

    /// The triggers RocksDB stalls on, with the values in force.
    fn triggers(&self) -> [(Tunable, u64); 4] {
        let cf = self.cf;
        [
            (
                Tunable::Level0SlowdownWritesTrigger,
                cf.level0_slowdown_writes_trigger,
            ),
            (
                Tunable::Level0StopWritesTrigger,
                cf.level0_stop_writes_trigger,
            ),
            (
                Tunable::SoftPendingCompactionBytesLimit,
                cf.soft_pending_compaction_bytes_limit,
            ),
            (
                Tunable::HardPendingCompactionBytesLimit,
                cf.hard_pending_compaction_bytes_limit,
            ),
        ]
    }

    /// Compaction repair and stall-trigger headroom, when either is due.
    fn relieve(&self, config: &RuleConfig, weights: &Weights) -> Option<Candidate> {
        let (l0_ratio, pending_ratio) = (self.l0_ratio, self.pending_ratio);
        let mut changes: Vec<(Tunable, u64)> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let mut urgency = l0_ratio.max(pending_ratio).max(1.0);
        if self.repair {
            changes.push((Tunable::DisableAutoCompactions, 0));
            reasons.push(format!(
                "automatic compactions are paused with L0 {} at {l0_ratio:.2} of the \
                 slowdown trigger and pending at {pending_ratio:.2} of the soft limit: \
                 switching them back on",
                self.cf.l0_files()
            ));
            urgency = urgency.max(2.0);
        }
        if self.pressed {
            self.headroom(config, &mut changes, &mut reasons);
        }
        if changes.is_empty() {
            return None;
        }
        let effect = Effect::new(0.6, 0.5, 0.1);
        let mut score = score(urgency, effect, weights);
        if self.repair {
            // A paused compaction is a misconfiguration, not a preference.
            score = score.max(1.0);
        }
        Some(Candidate {
            kind: ActionKind::ReleaseThrottle,
            action: Action::SetCf {
                cf: self.cf.name.clone(),
                changes,
            },
            score,
            rule: "stall_relief".into(),
            reason: reasons.join("; "),
            effect,
        })
    }

    /// Headroom: the triggers RocksDB stalls on, raised while compaction catches up.
    fn headroom(
        &self,
        config: &RuleConfig,
        changes: &mut Vec<(Tunable, u64)>,
        reasons: &mut Vec<String>,
    ) {
        let mut raised = Vec::new();
        for (tunable, current) in self.triggers() {
            // 0 = limit off: nothing to raise.
            let Some(configured) = self.configured(tunable).filter(|&b| b > 0 && current > 0)
            else {
                continue;
            };
            let target = (configured as f64 * config.headroom_factor).round() as u64;
            if target > current {
                changes.push((tunable, target));
                raised.push(format!("{tunable} {current} -> {target}"));
            }
        }
        if !raised.is_empty() {
            reasons.push(format!(
                "L0 {} at {:.2} of the configured slowdown trigger, pending at {:.2} of the \
                 configured soft limit, stall {:?}: headroom while compaction catches up ({})",
                self.cf.l0_files(),
                self.l0_ratio,
                self.pending_ratio,
                self.cf.stall,
                raised.join(", ")
            ));
        }
    }

    /// The configured triggers back, after `calm_ticks` calm ticks.
    fn give_back(&self, calm_ticks: u64) -> Option<Candidate> {
        let mut changes = Vec::new();
        let mut lowered = Vec::new();
        for (tunable, current) in self.triggers() {
            if let Some(configured) = self.configured(tunable) {
                if current > configured {
                    changes.push((tunable, configured));
                    lowered.push(format!("{tunable} {current} -> {configured}"));
                }
            }
        }
        if changes.is_empty() {
            return None;
        }
        // Giving RocksDB's own write controller its configured triggers back.
        let effect = Effect::new(0.0, 0.0, -0.3);
        Some(Candidate {
            kind: ActionKind::Throttle,
            action: Action::SetCf {
                cf: self.cf.name.clone(),
                changes,
            },
            // Restoring the operator's own triggers is not a preference: a fixed small score
            // whatever the weights.
            score: 0.1,
            rule: "stall_relief_restore".into(),
            reason: format!(
                "calm for {calm_ticks} ticks (L0 at {:.2} of the configured slowdown trigger): \
                 back to the configured triggers ({})",
                self.l0_ratio,
                lowered.join(", ")
            ),
            effect,
        })
    }
}

/// Engaging or tightening a throttle: expected to prevent a stall (latency), cost a little
/// throughput now for more later, and save background work.
fn throttle_candidate(
    scope: ThrottleScope,
    rate: u64,
    pressure: f64,
    weights: &Weights,
    rule: &str,
    reason: String,
) -> Candidate {
    let effect = Effect::new(0.6, 0.1, -0.3);
    Candidate {
        kind: ActionKind::Throttle,
        action: Action::SetWriteRateLimit {
            scope,
            rate_bytes_per_sec: Some(rate.max(1)),
        },
        score: score(pressure.max(1.0), effect, weights),
        rule: rule.into(),
        reason,
        effect,
    }
}

/// L0 / slowdown trigger and pending / soft limit, both against the *configured* (baseline)
/// trigger or limit when it is lower than the one in force: headroom given by rule 3 must
/// not make compaction look less behind than it is.
fn base_ratios(cf: &CfObservation, input: &PolicyInput<'_>) -> (f64, f64) {
    let base = |t: Tunable, now: u64| match input.baseline.cf(&cf.name, t) {
        Some(b) if b > 0 && (now == 0 || b < now) => b,
        _ => now,
    };
    let slowdown = base(
        Tunable::Level0SlowdownWritesTrigger,
        cf.level0_slowdown_writes_trigger,
    );
    let l0 = ratio_of(cf.l0_files(), slowdown);
    let pending = if cf.soft_pending_compaction_bytes_limit > 0 {
        let soft = base(
            Tunable::SoftPendingCompactionBytesLimit,
            cf.soft_pending_compaction_bytes_limit,
        );
        ratio_of(cf.pending_compaction_bytes, soft)
    } else {
        cf.pending_ratio()
    };
    (l0, pending)
}

fn ratio_of(value: u64, reference: u64) -> f64 {
    if reference == 0 {
        0.0
    } else {
        value as f64 / reference as f64
    }
}

impl Policy for RulePolicy {
    fn name(&self) -> &str {
        "rules"
    }

    fn propose(&mut self, input: &PolicyInput<'_>) -> Vec<Candidate> {
        self.update_state(input);
        let mut out = Vec::new();
        if self.config.throttle {
            self.throttle_rules(input, &mut out);
        }
        if self.config.background_jobs {
            self.background_job_rules(input, &mut out);
        }
        if self.config.stall_relief {
            self.stall_relief_rules(input, &mut out);
        }
        if self.config.memtable {
            self.memtable_rules(input, &mut out);
        }
        if self.config.block_cache {
            self.cache_rules(input, &mut out);
        }
        if self.config.tombstone_compaction {
            self.tombstone_rules(input, &mut out);
        }
        if self.config.rebuild_on_corruption {
            self.corruption_rules(input, &mut out);
        }
        out.retain(|c| c.score > 0.0 && c.score.is_finite());
        out
    }

    fn feedback(&mut self, feedback: &PolicyFeedback) {
        match feedback {
            PolicyFeedback::Applied { kind, action, tick } => match action {
                Action::SetWriteRateLimit {
                    scope: ThrottleScope::Cf(cf),
                    rate_bytes_per_sec,
                } => {
                    if let Some(state) = self.cfs.get_mut(cf) {
                        state.owned_limit = *rate_bytes_per_sec;
                        state.limit_set_tick = *tick;
                        state.pressure_at_set = state.last_pressure;
                    }
                }
                Action::RebuildCf { cf } => {
                    if let Some(state) = self.cfs.get_mut(cf) {
                        state.corrupt_since_tick = None;
                    }
                }
                Action::SetCf { cf, .. } => {
                    if let Some(state) = self.cfs.get_mut(cf) {
                        if matches!(kind, ActionKind::GrowMemtable | ActionKind::ShrinkMemtable) {
                            state.flush_pressure_ticks = 0;
                            state.calm_memtable_ticks = 0;
                        } else {
                            state.calm_headroom_ticks = 0;
                        }
                    }
                }
                Action::SetGlobal { changes } => {
                    if changes
                        .iter()
                        .any(|(t, _)| *t == Tunable::BlockCacheCapacity)
                    {
                        self.cache_calm_ticks = 0;
                    }
                    self.calm_compaction_ticks = 0;
                }
                _ => {}
            },
            PolicyFeedback::RolledBack { action, .. } => {
                if let Action::SetWriteRateLimit {
                    scope: ThrottleScope::Cf(cf),
                    ..
                } = action
                {
                    if let Some(state) = self.cfs.get_mut(cf) {
                        state.owned_limit = None;
                    }
                }
            }
        }
    }
}
