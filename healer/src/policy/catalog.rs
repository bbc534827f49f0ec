//! The discrete action catalog: the fixed, indexed set of actions a learned policy chooses
//! from (its output has one entry per catalog action), how each becomes a concrete
//! [`Action`] in the current state, and which are possible at all (the mask).
//!
//! Indices and names are stable: a model is trained against [`CatalogAction::NAMES`] and
//! [`TUNABLE_NAMES`] and its manifest records both; changing either means retraining.
//!
//! [`CatalogAction`] lists the actions, [`target_cf`] says which column family a per-CF
//! action goes to, and [`tunable_vector`] is the policy's view of the options in force.

use std::collections::BTreeMap;

use lsmedic_telemetry::{ThrottleScope, Tunable, Tunables, DEFAULT_CF};

use crate::action::{Action, ActionKind};
use crate::config::GuardConfig;
use crate::observation::CfObservation;
use crate::policy::PolicyInput;

/// A catalog entry.
///
/// # Actions
///
/// | # | name | does | masked (impossible) when |
/// |---|---|---|---|
/// | 0 | `noop` | nothing | never |
/// | 1 | `raise_background_jobs` | `max_background_jobs` + 2, compaction pool to `jobs − jobs/4` | at the bound |
/// | 2 | `lower_background_jobs` | `max_background_jobs` − 2, not below the configured value | at or below the configured value |
/// | 3 | `raise_write_buffer` | CF `write_buffer_size` × 2, `max_write_buffer_number` + 1 | both at the bound |
/// | 4 | `restore_write_buffer` | CF memtable size and count back to the configured values | already configured |
/// | 5 | `raise_l0_triggers` | CF L0 slowdown / stop triggers and soft / hard pending limits × 2 (stall headroom) | all at the bound |
/// | 6 | `restore_l0_triggers` | CF L0 triggers and pending limits back to the configured values | already configured |
/// | 7 | `throttle_tighten` | CF write limit × 0.7, or a new limit at 0.8 × the CF's write flow | no limit and flow < 64 KiB/s, or at the floor |
/// | 8 | `throttle_release` | lifts a CF write limit (else the engine-wide one) | no limit in force |
/// | 9 | `flush_cf` | flushes the CF's memtables | memtables empty |
/// | 10 | `compact_cf` | full manual compaction of the CF | no column family |
/// | 11 | `grow_block_cache` | block-cache capacity × 2 | at the bound, or no cache |
/// | 12 | `shrink_block_cache` | capacity / 2, not below the configured value | at or below the configured value |
/// | 13 | `rebuild_cf` | rebuilds a CF (destructive) | no failed op, corruption report or background error on a CF other than `default` this tick |
/// | 14 | `resume_compactions` | `disable_auto_compactions` = 0 on the CF | compactions not paused |
///
/// Values are clamped into the guard's default bounds ([`GuardConfig::default`]) and an
/// action whose every change is a no-op after clamping, or breaks a cross-option rule, is
/// masked: the mask says what the guard would let through as far as the state goes
/// (cooldowns, budget and verification are the guard's, per tick).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CatalogAction {
    /// Do nothing.
    Noop,
    /// More background jobs and compaction threads.
    RaiseBackgroundJobs,
    /// Fewer background jobs, toward the configured value.
    LowerBackgroundJobs,
    /// Larger and more memtables on one CF.
    RaiseWriteBuffer,
    /// Memtables of one CF back to the configured values.
    RestoreWriteBuffer,
    /// Stall-trigger headroom on one CF.
    RaiseL0Triggers,
    /// Stall triggers of one CF back to the configured values.
    RestoreL0Triggers,
    /// Engage or tighten a CF write limit.
    ThrottleTighten,
    /// Lift a write limit.
    ThrottleRelease,
    /// Flush one CF.
    FlushCf,
    /// Compact one CF.
    CompactCf,
    /// Double the block cache.
    GrowBlockCache,
    /// Halve the block cache, toward the configured value.
    ShrinkBlockCache,
    /// Rebuild a corrupt CF.
    RebuildCf,
    /// Switch paused automatic compactions back on.
    ResumeCompactions,
}

/// Number of catalog actions (`A`).
pub const ACTION_COUNT: usize = 15;

/// Number of entries of [`tunable_vector`] (`U`).
pub const TUNABLE_COUNT: usize = 13;

/// [`tunable_vector`] entries are clipped to ±this.
pub const TUNABLE_CLIP: f32 = 10.0;

/// Names of the [`tunable_vector`] entries, in order.
pub const TUNABLE_NAMES: [&str; TUNABLE_COUNT] = [
    "max_background_jobs",
    "background_threads_low",
    "background_threads_high",
    "max_subcompactions",
    "block_cache_capacity",
    "write_buffer_size",
    "max_write_buffer_number",
    "level0_file_num_compaction_trigger",
    "level0_slowdown_writes_trigger",
    "level0_stop_writes_trigger",
    "soft_pending_compaction_bytes_limit",
    "disable_auto_compactions",
    "write_rate_limited",
];

const GLOBAL_VECTOR_TUNABLES: [Tunable; 5] = [
    Tunable::MaxBackgroundJobs,
    Tunable::BackgroundThreadsLow,
    Tunable::BackgroundThreadsHigh,
    Tunable::MaxSubcompactions,
    Tunable::BlockCacheCapacity,
];

const CF_VECTOR_TUNABLES: [Tunable; 6] = [
    Tunable::WriteBufferSize,
    Tunable::MaxWriteBufferNumber,
    Tunable::Level0FileNumCompactionTrigger,
    Tunable::Level0SlowdownWritesTrigger,
    Tunable::Level0StopWritesTrigger,
    Tunable::SoftPendingCompactionBytesLimit,
];

/// Step of `raise_background_jobs` / `lower_background_jobs`.
pub const BACKGROUND_JOBS_STEP: u64 = 2;
/// Write flows below this (bytes/s) are not throttled.
pub const MIN_THROTTLE_FLOW: f64 = 64.0 * 1024.0;

const FEW_ERRORS: u64 = 1;

impl CatalogAction {
    /// Every action, in index order.
    pub const ALL: [CatalogAction; ACTION_COUNT] = [
        CatalogAction::Noop,
        CatalogAction::RaiseBackgroundJobs,
        CatalogAction::LowerBackgroundJobs,
        CatalogAction::RaiseWriteBuffer,
        CatalogAction::RestoreWriteBuffer,
        CatalogAction::RaiseL0Triggers,
        CatalogAction::RestoreL0Triggers,
        CatalogAction::ThrottleTighten,
        CatalogAction::ThrottleRelease,
        CatalogAction::FlushCf,
        CatalogAction::CompactCf,
        CatalogAction::GrowBlockCache,
        CatalogAction::ShrinkBlockCache,
        CatalogAction::RebuildCf,
        CatalogAction::ResumeCompactions,
    ];

    /// Names, in index order.
    pub const NAMES: [&'static str; ACTION_COUNT] = [
        "noop",
        "raise_background_jobs",
        "lower_background_jobs",
        "raise_write_buffer",
        "restore_write_buffer",
        "raise_l0_triggers",
        "restore_l0_triggers",
        "throttle_tighten",
        "throttle_release",
        "flush_cf",
        "compact_cf",
        "grow_block_cache",
        "shrink_block_cache",
        "rebuild_cf",
        "resume_compactions",
    ];

    /// Index in the catalog (the policy's output position).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The action at `index`.
    pub fn from_index(index: usize) -> Option<CatalogAction> {
        Self::ALL.get(index).copied()
    }

    /// The action named `name`.
    pub fn from_name(name: &str) -> Option<CatalogAction> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// Stable snake-case name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// Whether the action targets one column family.
    pub fn is_per_cf(self) -> bool {
        matches!(
            self,
            CatalogAction::RaiseWriteBuffer
                | CatalogAction::RestoreWriteBuffer
                | CatalogAction::RaiseL0Triggers
                | CatalogAction::RestoreL0Triggers
                | CatalogAction::ThrottleTighten
                | CatalogAction::ThrottleRelease
                | CatalogAction::FlushCf
                | CatalogAction::CompactCf
                | CatalogAction::RebuildCf
                | CatalogAction::ResumeCompactions
        )
    }
}

impl std::fmt::Display for CatalogAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A catalog action made concrete for the current state.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Which catalog entry.
    pub entry: CatalogAction,
    /// Its kind (cooldown family, statistics).
    pub kind: ActionKind,
    /// What to do.
    pub action: Action,
}

/// Pressure of a column family (see [`target_cf`]).
pub fn pressure(cf: &CfObservation) -> f64 {
    cf.l0_slowdown_ratio()
        .max(cf.pending_ratio())
        .max(cf.memtable_ratio())
        .max(cf.memtable_tombstone_ratio())
}

/// Keeps the changes that still do something once clamped into `guard`'s bounds, exactly
/// as the guard judges them (a clamp that reverses the direction is dropped).
fn effective(
    changes: &[(Tunable, u64)],
    current: impl Fn(Tunable) -> Option<u64>,
    guard: &GuardConfig,
) -> Vec<(Tunable, u64)> {
    changes
        .iter()
        .filter_map(|&(tunable, wanted)| {
            let value = guard.bounds_of(tunable).clamp(wanted);
            match current(tunable) {
                Some(now) if value == now => None,
                Some(now) if (wanted > now && value < now) || (wanted < now && value > now) => None,
                _ => Some((tunable, value)),
            }
        })
        .collect()
}

fn set_cf(
    input: &PolicyInput<'_>,
    cf: &str,
    changes: &[(Tunable, u64)],
    guard: &GuardConfig,
) -> Option<Action> {
    let kept = effective(changes, |t| input.tunables.cf(cf, t), guard);
    if kept.is_empty() {
        return None;
    }
    let mut merged: BTreeMap<Tunable, u64> =
        input.tunables.cfs.get(cf).cloned().unwrap_or_default();
    merged.extend(kept.iter().copied());
    lsmedic_telemetry::control::check_cf_rules(cf, &merged).ok()?;
    Some(Action::SetCf {
        cf: cf.to_owned(),
        changes: kept,
    })
}

fn set_global(
    input: &PolicyInput<'_>,
    changes: &[(Tunable, u64)],
    guard: &GuardConfig,
) -> Option<Action> {
    let kept = effective(changes, |t| input.tunables.global(t), guard);
    (!kept.is_empty()).then_some(Action::SetGlobal { changes: kept })
}

fn scaled(value: u64, factor: f64) -> u64 {
    (value as f64 * factor).round() as u64
}

/// Whether any of `changes` lowers a value below what is in force.
fn lowers(input: &PolicyInput<'_>, action: &Action) -> bool {
    match action {
        Action::SetCf { cf, changes } => changes
            .iter()
            .any(|&(t, v)| input.tunables.cf(cf, t).is_some_and(|now| v < now)),
        Action::SetGlobal { changes } => changes
            .iter()
            .any(|&(t, v)| input.tunables.global(t).is_some_and(|now| v < now)),
        _ => false,
    }
}

/// Builds a per-CF action on `cf` (the observation of that CF may be absent: then the
/// actions that need it are impossible).
fn cf_instance(
    input: &PolicyInput<'_>,
    entry: CatalogAction,
    cf: &str,
    guard: &GuardConfig,
) -> Option<Instance> {
    let target = CfTarget { input, cf, guard };
    let (kind, action) = match entry {
        CatalogAction::RaiseWriteBuffer => target.raise_write_buffer()?,
        CatalogAction::RestoreWriteBuffer => target.restore_write_buffer()?,
        CatalogAction::RaiseL0Triggers => target.raise_l0_triggers()?,
        CatalogAction::RestoreL0Triggers => target.restore_l0_triggers()?,
        CatalogAction::ThrottleTighten => target.throttle_tighten()?,
        CatalogAction::ThrottleRelease => target.throttle_release()?,
        CatalogAction::FlushCf => {
            if target.observation()?.memtable_bytes == 0 {
                return None;
            }
            (ActionKind::Flush, Action::Flush { cf: cf.to_owned() })
        }
        CatalogAction::CompactCf => (
            ActionKind::CompactRange,
            Action::CompactRange { cf: cf.to_owned() },
        ),
        CatalogAction::RebuildCf => {
            if cf == DEFAULT_CF || trouble(target.observation()?) < FEW_ERRORS {
                return None;
            }
            (
                ActionKind::RebuildCf,
                Action::RebuildCf { cf: cf.to_owned() },
            )
        }
        CatalogAction::ResumeCompactions => target.resume_compactions()?,
        _ => return None,
    };
    Some(Instance {
        entry,
        kind,
        action,
    })
}

/// One column family a per-CF catalog action is built for, in the current state.
struct CfTarget<'a> {
    input: &'a PolicyInput<'a>,
    cf: &'a str,
    guard: &'a GuardConfig,
}

impl CfTarget<'_> {
    fn observation(&self) -> Option<&CfObservation> {
        self.input.observation.cf(self.cf)
    }

    /// The value in force, else RocksDB's default.
    fn now(&self, tunable: Tunable) -> u64 {
        self.input
            .tunables
            .cf(self.cf, tunable)
            .unwrap_or(tunable.rocksdb_default())
    }

    /// Changes back to the configured values of `tunables` (those that have one).
    fn restore(&self, tunables: &[Tunable]) -> Vec<(Tunable, u64)> {
        tunables
            .iter()
            .filter_map(|&t| self.input.baseline.cf(self.cf, t).map(|b| (t, b)))
            .collect()
    }

    fn set_cf(&self, changes: &[(Tunable, u64)]) -> Option<Action> {
        set_cf(self.input, self.cf, changes, self.guard)
    }

    fn raise_write_buffer(&self) -> Option<(ActionKind, Action)> {
        let size = self.now(Tunable::WriteBufferSize);
        let count = self.now(Tunable::MaxWriteBufferNumber);
        let changes = [
            (Tunable::WriteBufferSize, size.saturating_mul(2)),
            (Tunable::MaxWriteBufferNumber, count + 1),
        ];
        Some((ActionKind::GrowMemtable, self.set_cf(&changes)?))
    }

    fn restore_write_buffer(&self) -> Option<(ActionKind, Action)> {
        let changes = self.restore(&[Tunable::WriteBufferSize, Tunable::MaxWriteBufferNumber]);
        let action = self.set_cf(&changes)?;
        let kind = if lowers(self.input, &action) {
            ActionKind::ShrinkMemtable
        } else {
            ActionKind::GrowMemtable
        };
        Some((kind, action))
    }

    fn raise_l0_triggers(&self) -> Option<(ActionKind, Action)> {
        let slowdown = self.now(Tunable::Level0SlowdownWritesTrigger);
        let stop = self.now(Tunable::Level0StopWritesTrigger);
        let soft = self.now(Tunable::SoftPendingCompactionBytesLimit);
        let hard = self.now(Tunable::HardPendingCompactionBytesLimit);
        let new_slowdown = slowdown * 2;
        let mut changes = vec![
            (Tunable::Level0SlowdownWritesTrigger, new_slowdown),
            (
                Tunable::Level0StopWritesTrigger,
                (stop * 2).max(new_slowdown),
            ),
        ];
        // 0 = limit off: nothing to raise.
        if soft > 0 {
            changes.push((
                Tunable::SoftPendingCompactionBytesLimit,
                soft.saturating_mul(2),
            ));
        }
        if hard > 0 {
            changes.push((
                Tunable::HardPendingCompactionBytesLimit,
                hard.saturating_mul(2),
            ));
        }
        Some((ActionKind::ReleaseThrottle, self.set_cf(&changes)?))
    }

    fn restore_l0_triggers(&self) -> Option<(ActionKind, Action)> {
        let changes = self.restore(&[
            Tunable::Level0FileNumCompactionTrigger,
            Tunable::Level0SlowdownWritesTrigger,
            Tunable::Level0StopWritesTrigger,
            Tunable::SoftPendingCompactionBytesLimit,
            Tunable::HardPendingCompactionBytesLimit,
        ]);
        let action = self.set_cf(&changes)?;
        // Lowering triggers tightens RocksDB's own write controller.
        let kind = if lowers(self.input, &action) {
            ActionKind::Throttle
        } else {
            ActionKind::ReleaseThrottle
        };
        Some((kind, action))
    }

    fn throttle_tighten(&self) -> Option<(ActionKind, Action)> {
        let scope = ThrottleScope::Cf(self.cf.to_owned());
        let bounds = self.guard.write_rate_limit_bounds;
        let target = match self.input.tunables.write_rate_limits.get(&scope) {
            Some(&limit) => {
                let next = bounds.clamp(scaled(limit, 0.7));
                (next < limit).then_some(next)?
            }
            None => {
                let flow = self.observation()?.write_bytes_per_sec;
                if flow < MIN_THROTTLE_FLOW {
                    return None;
                }
                bounds.clamp(scaled(flow as u64, 0.8))
            }
        };
        let action = Action::SetWriteRateLimit {
            scope,
            rate_bytes_per_sec: Some(target),
        };
        Some((ActionKind::Throttle, action))
    }

    fn throttle_release(&self) -> Option<(ActionKind, Action)> {
        let scope = ThrottleScope::Cf(self.cf.to_owned());
        if !self.input.tunables.write_rate_limits.contains_key(&scope) {
            return None;
        }
        let action = Action::SetWriteRateLimit {
            scope,
            rate_bytes_per_sec: None,
        };
        Some((ActionKind::ReleaseThrottle, action))
    }

    fn resume_compactions(&self) -> Option<(ActionKind, Action)> {
        if self.now(Tunable::DisableAutoCompactions) == 0 {
            return None;
        }
        let action = self.set_cf(&[(Tunable::DisableAutoCompactions, 0)])?;
        Some((ActionKind::ReleaseThrottle, action))
    }
}

/// Failed ops, corruption reports and background errors of a CF in the tick.
fn trouble(cf: &CfObservation) -> u64 {
    cf.op_errors + cf.corruption_signals + cf.background_errors
}

fn global_instance(
    input: &PolicyInput<'_>,
    entry: CatalogAction,
    guard: &GuardConfig,
) -> Option<Instance> {
    let now = |t: Tunable, default: u64| input.tunables.global(t).unwrap_or(default);
    let jobs = now(
        Tunable::MaxBackgroundJobs,
        Tunable::MaxBackgroundJobs.rocksdb_default(),
    );
    let (kind, action) = match entry {
        CatalogAction::RaiseBackgroundJobs => {
            let target = guard
                .bounds_of(Tunable::MaxBackgroundJobs)
                .clamp(jobs + BACKGROUND_JOBS_STEP);
            if target <= jobs {
                return None;
            }
            let low = now(
                Tunable::BackgroundThreadsLow,
                Tunable::BackgroundThreadsLow.rocksdb_default(),
            );
            let mut changes = vec![(Tunable::MaxBackgroundJobs, target)];
            let pool = (target - target / 4).max(1);
            if pool > low {
                changes.push((Tunable::BackgroundThreadsLow, pool));
            }
            (
                ActionKind::RaiseBackgroundJobs,
                set_global(input, &changes, guard)?,
            )
        }
        CatalogAction::LowerBackgroundJobs => {
            let configured = input
                .baseline
                .global(Tunable::MaxBackgroundJobs)
                .unwrap_or(jobs);
            if jobs <= configured {
                return None;
            }
            let target = jobs.saturating_sub(BACKGROUND_JOBS_STEP).max(configured);
            (
                ActionKind::LowerBackgroundJobs,
                set_global(input, &[(Tunable::MaxBackgroundJobs, target)], guard)?,
            )
        }
        CatalogAction::GrowBlockCache => {
            // Unreported means no cache lsmedic can resize: nothing to grow.
            let capacity = now(Tunable::BlockCacheCapacity, 0);
            if capacity == 0 {
                return None;
            }
            (
                ActionKind::GrowBlockCache,
                set_global(
                    input,
                    &[(Tunable::BlockCacheCapacity, capacity.saturating_mul(2))],
                    guard,
                )?,
            )
        }
        CatalogAction::ShrinkBlockCache => {
            let capacity = now(Tunable::BlockCacheCapacity, 0);
            let configured = input.baseline.global(Tunable::BlockCacheCapacity)?;
            if capacity <= configured {
                return None;
            }
            (
                ActionKind::ShrinkBlockCache,
                set_global(
                    input,
                    &[(Tunable::BlockCacheCapacity, (capacity / 2).max(configured))],
                    guard,
                )?,
            )
        }
        _ => return None,
    };
    Some(Instance {
        entry,
        kind,
        action,
    })
}

/// The column family `entry` goes to, among those where it is possible; `None` for global
/// actions or when it is possible nowhere. The rule is deterministic, ties broken by engine
/// order (first wins):
/// - `raise_*`, `throttle_tighten`, `flush_cf`, `compact_cf`, `resume_compactions`: the CF
///   under the most **pressure** = max(L0 / slowdown trigger, pending / soft limit, immutable
///   memtables / (max_write_buffer_number − 1), memtable tombstone share) — the one a
///   stall comes from;
/// - `restore_*`, `throttle_release`: the CF under the least pressure (giving back where it
///   is safest);
/// - `rebuild_cf`: the CF with the most failed ops + corruption reports + background errors.
pub fn target_cf(input: &PolicyInput<'_>, entry: CatalogAction) -> Option<String> {
    if !entry.is_per_cf() {
        return None;
    }
    let guard = GuardConfig::default();
    pick_cf(input, entry, &guard).map(|(cf, _)| cf)
}

fn pick_cf(
    input: &PolicyInput<'_>,
    entry: CatalogAction,
    guard: &GuardConfig,
) -> Option<(String, Instance)> {
    let empty = CfObservation::default();
    let mut best: Option<(f64, String, Instance)> = None;
    for cf in input.graph.cfs() {
        let Some(instance) = cf_instance(input, entry, cf, guard) else {
            continue;
        };
        let obs = input.observation.cf(cf).unwrap_or(&empty);
        let key = match entry {
            CatalogAction::RestoreWriteBuffer
            | CatalogAction::RestoreL0Triggers
            | CatalogAction::ThrottleRelease => -pressure(obs),
            CatalogAction::RebuildCf => trouble(obs) as f64,
            _ => pressure(obs),
        };
        // Strictly greater: ties keep the earlier column family.
        if best.as_ref().is_none_or(|(k, _, _)| key > *k) {
            best = Some((key, cf.clone(), instance));
        }
    }
    best.map(|(_, cf, instance)| (cf, instance))
}

/// `entry` made concrete in the current state, on the column family of the deterministic
/// rule; `None` when it is impossible (masked). `noop` is always `None`: nothing to do.
pub fn instantiate(input: &PolicyInput<'_>, entry: CatalogAction) -> Option<Instance> {
    instantiate_with(input, entry, &GuardConfig::default())
}

/// [`instantiate`] against the bounds of `guard`.
pub fn instantiate_with(
    input: &PolicyInput<'_>,
    entry: CatalogAction,
    guard: &GuardConfig,
) -> Option<Instance> {
    match entry {
        CatalogAction::Noop => None,
        _ if entry.is_per_cf() => pick_cf(input, entry, guard).map(|(_, instance)| instance),
        _ => global_instance(input, entry, guard),
    }
}

/// `entry` on the column family `cf` (which must be live), ignoring the target rule.
pub fn instantiate_on(input: &PolicyInput<'_>, entry: CatalogAction, cf: &str) -> Option<Instance> {
    if !entry.is_per_cf() || !input.graph.cfs().iter().any(|c| c == cf) {
        return None;
    }
    cf_instance(input, entry, cf, &GuardConfig::default())
}

/// Which actions are possible now (`noop` always).
pub fn mask(input: &PolicyInput<'_>) -> [bool; ACTION_COUNT] {
    let guard = GuardConfig::default();
    let mut out = [false; ACTION_COUNT];
    for entry in CatalogAction::ALL {
        out[entry.index()] =
            entry == CatalogAction::Noop || instantiate_with(input, entry, &guard).is_some();
    }
    out
}

/// The catalog entry an arbitrary action (e.g. one of the rule policy's) corresponds to,
/// by its kind and what it changes; `None` for nothing comparable.
///
/// Mapping: raise / lower background jobs → 1 / 2; grow / shrink memtable → 3 / 4;
/// a write limit tightened or set → 7, lifted or raised → 8; a `SetCf` of kind
/// `release_throttle` → 14 when it switches compactions back on, else 5 (stall headroom);
/// a `SetCf` of kind `throttle` (triggers given back) → 6; flush → 9; compaction → 10;
/// grow / shrink block cache → 11 / 12; rebuild → 13.
pub fn classify(kind: ActionKind, action: &Action) -> Option<CatalogAction> {
    Some(match (kind, action) {
        (ActionKind::RaiseBackgroundJobs, _) => CatalogAction::RaiseBackgroundJobs,
        (ActionKind::LowerBackgroundJobs, _) => CatalogAction::LowerBackgroundJobs,
        (ActionKind::GrowMemtable, _) => CatalogAction::RaiseWriteBuffer,
        (ActionKind::ShrinkMemtable, _) => CatalogAction::RestoreWriteBuffer,
        (ActionKind::GrowBlockCache, _) => CatalogAction::GrowBlockCache,
        (ActionKind::ShrinkBlockCache, _) => CatalogAction::ShrinkBlockCache,
        (ActionKind::Flush, _) => CatalogAction::FlushCf,
        (ActionKind::CompactRange, _) => CatalogAction::CompactCf,
        (ActionKind::RebuildCf, _) => CatalogAction::RebuildCf,
        (
            _,
            Action::SetWriteRateLimit {
                rate_bytes_per_sec, ..
            },
        ) => match (kind, rate_bytes_per_sec) {
            (ActionKind::Throttle, Some(_)) => CatalogAction::ThrottleTighten,
            _ => CatalogAction::ThrottleRelease,
        },
        (ActionKind::ReleaseThrottle, Action::SetCf { changes, .. }) => {
            if changes
                .iter()
                .any(|&(t, v)| t == Tunable::DisableAutoCompactions && v == 0)
            {
                CatalogAction::ResumeCompactions
            } else {
                CatalogAction::RaiseL0Triggers
            }
        }
        (ActionKind::Throttle, Action::SetCf { .. }) => CatalogAction::RestoreL0Triggers,
        _ => return None,
    })
}

fn log2_ratio(value: u64, configured: u64) -> f32 {
    if value == configured {
        return 0.0;
    }
    // An option switched off (0) or switched on from 0: saturate.
    if configured == 0 || value == 0 {
        return if value > configured {
            TUNABLE_CLIP
        } else {
            -TUNABLE_CLIP
        };
    }
    ((value as f64 / configured as f64).log2() as f32).clamp(-TUNABLE_CLIP, TUNABLE_CLIP)
}

/// The policy's view of the options in force: [`TUNABLE_COUNT`] floats in [`TUNABLE_NAMES`]
/// order, `tunables` in force against `baseline` (as configured): `log2(value / configured
/// value)` (0 = as configured) for
/// each numeric tunable — for per-CF tunables the one of the column family that deviates
/// most (sign kept) — then two flags: `disable_auto_compactions` (1 when any CF has
/// compactions paused) and `write_rate_limited` (1 when any lsmedic write limit is in force).
/// Values are clipped to ±[`TUNABLE_CLIP`].
pub fn tunable_vector(tunables: &Tunables, baseline: &Tunables) -> [f32; TUNABLE_COUNT] {
    let mut out = [0.0f32; TUNABLE_COUNT];
    for (slot, &tunable) in GLOBAL_VECTOR_TUNABLES.iter().enumerate() {
        if let (Some(now), Some(base)) = (tunables.global(tunable), baseline.global(tunable)) {
            out[slot] = log2_ratio(now, base);
        }
    }
    let offset = GLOBAL_VECTOR_TUNABLES.len();
    for (slot, &tunable) in CF_VECTOR_TUNABLES.iter().enumerate() {
        let mut most = 0.0f32;
        for (cf, values) in &tunables.cfs {
            if let (Some(&now), Some(base)) = (values.get(&tunable), baseline.cf(cf, tunable)) {
                let r = log2_ratio(now, base);
                if r.abs() > most.abs() {
                    most = r;
                }
            }
        }
        out[offset + slot] = most;
    }
    let paused = tunables
        .cfs
        .values()
        .any(|v| v.get(&Tunable::DisableAutoCompactions) == Some(&1));
    out[TUNABLE_COUNT - 2] = f32::from(u8::from(paused));
    out[TUNABLE_COUNT - 1] = f32::from(u8::from(!tunables.write_rate_limits.is_empty()));
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lsmedic_telemetry::Control;

    use super::*;
    use crate::config::{Mode, Weights};
    use crate::features::NodeFeatures;
    use crate::graph::ComponentGraph;
    use crate::guard::{Guard, GuardContext, Verdict};
    use crate::observation::Observation;
    use crate::stub::StubEngine;
    use crate::Candidate;

    const MIB: u64 = 1 << 20;

    struct World {
        engine: Arc<StubEngine>,
        baseline: Tunables,
        tunables: Tunables,
        observation: Observation,
        graph: ComponentGraph,
        features: NodeFeatures,
    }

    impl World {
        fn new(cfs: &[&str]) -> World {
            let engine = Arc::new(StubEngine::new(cfs));
            let tunables = engine.tunables().expect("tunables");
            let names: Vec<String> = cfs.iter().map(|c| (*c).to_owned()).collect();
            World {
                baseline: tunables.clone(),
                tunables,
                observation: Observation {
                    tick: 1,
                    duration_secs: 0.1,
                    cfs: names
                        .iter()
                        .map(|name| CfObservation {
                            name: name.clone(),
                            level0_slowdown_writes_trigger: 20,
                            level0_stop_writes_trigger: 36,
                            soft_pending_compaction_bytes_limit: 64 << 30,
                            max_write_buffer_number: 2,
                            ..CfObservation::default()
                        })
                        .collect(),
                    ..Observation::default()
                },
                graph: ComponentGraph::new(&names),
                features: NodeFeatures::default(),
                engine,
            }
        }

        fn refresh(&mut self) {
            self.tunables = self.engine.tunables().expect("tunables");
        }

        fn input(&self) -> PolicyInput<'_> {
            PolicyInput {
                tick: 1,
                now_ns: 1,
                observation: &self.observation,
                features: &self.features,
                graph: &self.graph,
                weights: Weights::default(),
                tunables: &self.tunables,
                baseline: &self.baseline,
            }
        }

        /// Reviews `instance` with a fresh guard (active, destructive allowed): the verdict.
        fn guard_verdict(&self, instance: &Instance) -> Verdict {
            let mut guard = Guard::new(GuardConfig::default());
            let cfs = self.graph.cfs().to_vec();
            let ctx = GuardContext {
                now_ns: 1,
                tick: 1,
                mode: Mode::Active,
                allow_destructive: true,
                tunables: &self.tunables,
                cfs: &cfs,
                maintenance_busy: false,
            };
            let candidate = Candidate {
                kind: instance.kind,
                action: instance.action.clone(),
                score: 1.0,
                rule: "catalog".into(),
                reason: "test".into(),
                effect: Default::default(),
            };
            guard.review(vec![candidate], &ctx)[0].verdict
        }
    }

    #[test]
    fn indices_and_names_are_stable_and_unique() {
        assert_eq!(CatalogAction::ALL.len(), ACTION_COUNT);
        for (i, entry) in CatalogAction::ALL.iter().enumerate() {
            assert_eq!(entry.index(), i);
            assert_eq!(CatalogAction::from_index(i), Some(*entry));
            assert_eq!(CatalogAction::from_name(entry.name()), Some(*entry));
        }
        let unique: std::collections::HashSet<_> = CatalogAction::NAMES.iter().collect();
        assert_eq!(unique.len(), ACTION_COUNT);
        assert_eq!(CatalogAction::Noop.index(), 0);
        assert_eq!(CatalogAction::from_index(ACTION_COUNT), None);
        assert_eq!(TUNABLE_NAMES.len(), TUNABLE_COUNT);
        for name in &TUNABLE_NAMES[..TUNABLE_COUNT - 2] {
            assert!(Tunable::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn idle_engine_mask() {
        let world = World::new(&["default", "orders"]);
        let mask = mask(&world.input());
        let allowed: Vec<&str> = CatalogAction::ALL
            .iter()
            .filter(|a| mask[a.index()])
            .map(|a| a.name())
            .collect();
        // Nothing was moved from the configuration, no limit, no flow, no corruption,
        // empty memtables.
        assert_eq!(
            allowed,
            vec![
                "noop",
                "raise_background_jobs",
                "raise_write_buffer",
                "raise_l0_triggers",
                "compact_cf",
                "grow_block_cache"
            ]
        );
    }

    #[test]
    fn every_unmasked_action_passes_the_guard_and_the_stub_engine() {
        let mut world = World::new(&["default", "orders"]);
        // A state where every action is possible.
        world
            .engine
            .set_write_rate_limit(&ThrottleScope::Cf("default".into()), Some(8 * MIB))
            .expect("limit");
        world
            .engine
            .set_global(&[
                (Tunable::MaxBackgroundJobs, 6),
                (Tunable::BlockCacheCapacity, 32 * MIB),
            ])
            .expect("global");
        world
            .engine
            .set_cf(
                "orders",
                &[
                    (Tunable::WriteBufferSize, 128 * MIB),
                    (Tunable::Level0SlowdownWritesTrigger, 40),
                    (Tunable::Level0StopWritesTrigger, 60),
                    (Tunable::DisableAutoCompactions, 1),
                ],
            )
            .expect("cf");
        world.refresh();
        let orders = &mut world.observation.cfs[1];
        orders.write_bytes_per_sec = 4.0 * MIB as f64;
        orders.memtable_bytes = MIB;
        orders.op_errors = 3;
        let mask = mask(&world.input());
        assert!(mask.iter().all(|&m| m), "{mask:?}");
        for entry in CatalogAction::ALL.into_iter().skip(1) {
            let instance = instantiate(&world.input(), entry).expect("unmasked");
            assert_eq!(instance.entry, entry);
            assert_eq!(
                classify(instance.kind, &instance.action),
                Some(entry),
                "{entry} classifies back"
            );
            assert_eq!(
                world.guard_verdict(&instance),
                Verdict::Applied,
                "{entry}: {:?}",
                instance.action
            );
            // The stub validates like the real engine (bounds, scopes, cross-option rules).
            crate::act::apply(&*world.engine, &instance.action)
                .unwrap_or_else(|e| panic!("{entry}: {e}"));
            // Undo so that every action is checked against the same state.
            world.engine.restore(&world.tunables).expect("restore");
        }
    }

    #[test]
    fn target_cf_follows_pressure() {
        let mut world = World::new(&["default", "orders", "users"]);
        world.observation.cfs[2].files_per_level[0] = 15; // 0.75 of the slowdown trigger
        world.observation.cfs[1].files_per_level[0] = 5;
        let input = world.input();
        assert_eq!(
            target_cf(&input, CatalogAction::RaiseL0Triggers).as_deref(),
            Some("users")
        );
        assert_eq!(
            target_cf(&input, CatalogAction::CompactCf).as_deref(),
            Some("users")
        );
        // Ties keep engine order.
        let calm = World::new(&["default", "orders"]);
        assert_eq!(
            target_cf(&calm.input(), CatalogAction::CompactCf).as_deref(),
            Some("default")
        );
        assert_eq!(target_cf(&input, CatalogAction::GrowBlockCache), None);
        // Restores go to the least-pressed column family where they are possible.
        world
            .engine
            .set_cf("users", &[(Tunable::WriteBufferSize, 128 * MIB)])
            .expect("cf");
        world
            .engine
            .set_cf("orders", &[(Tunable::WriteBufferSize, 128 * MIB)])
            .expect("cf");
        world.refresh();
        assert_eq!(
            target_cf(&world.input(), CatalogAction::RestoreWriteBuffer).as_deref(),
            Some("orders")
        );
        let on = instantiate_on(&world.input(), CatalogAction::RestoreWriteBuffer, "users")
            .expect("possible on users");
        assert_eq!(on.action.cf(), Some("users"));
        assert_eq!(on.kind, ActionKind::ShrinkMemtable);
        assert!(
            instantiate_on(&world.input(), CatalogAction::RestoreWriteBuffer, "default").is_none()
        );
    }

    #[test]
    fn bounds_mask_actions_at_their_limit() {
        let mut world = World::new(&["default"]);
        world
            .engine
            .set_global(&[(Tunable::MaxBackgroundJobs, 16)])
            .expect("global");
        world.refresh();
        let input = world.input();
        assert!(!mask(&input)[CatalogAction::RaiseBackgroundJobs.index()]);
        // 16 → 14, not below the configured 2.
        let lower = instantiate(&input, CatalogAction::LowerBackgroundJobs).expect("lower");
        assert_eq!(
            lower.action,
            Action::SetGlobal {
                changes: vec![(Tunable::MaxBackgroundJobs, 14)]
            }
        );
        // A misconfigured tiny memtable is restored upward, and raising it is clamped to the
        // guard's minimum.
        world
            .engine
            .set_cf("default", &[(Tunable::WriteBufferSize, 64 * 1024)])
            .expect("cf");
        world.refresh();
        let input = world.input();
        let restore = instantiate(&input, CatalogAction::RestoreWriteBuffer).expect("restore");
        assert_eq!(restore.kind, ActionKind::GrowMemtable);
        let raise = instantiate(&input, CatalogAction::RaiseWriteBuffer).expect("raise");
        assert_eq!(
            raise.action,
            Action::SetCf {
                cf: "default".into(),
                changes: vec![
                    (Tunable::WriteBufferSize, 4 * MIB),
                    (Tunable::MaxWriteBufferNumber, 3)
                ]
            }
        );
        // rebuild_cf never targets the default column family.
        world.observation.cfs[0].op_errors = 10;
        assert!(!mask(&world.input())[CatalogAction::RebuildCf.index()]);
    }

    #[test]
    fn classify_maps_rule_actions() {
        let set_cf = |changes: Vec<(Tunable, u64)>| Action::SetCf {
            cf: "a".into(),
            changes,
        };
        assert_eq!(
            classify(
                ActionKind::ReleaseThrottle,
                &set_cf(vec![(Tunable::DisableAutoCompactions, 0)])
            ),
            Some(CatalogAction::ResumeCompactions)
        );
        assert_eq!(
            classify(
                ActionKind::ReleaseThrottle,
                &set_cf(vec![(Tunable::Level0SlowdownWritesTrigger, 40)])
            ),
            Some(CatalogAction::RaiseL0Triggers)
        );
        assert_eq!(
            classify(
                ActionKind::Throttle,
                &set_cf(vec![(Tunable::Level0SlowdownWritesTrigger, 20)])
            ),
            Some(CatalogAction::RestoreL0Triggers)
        );
        let limit = |rate| Action::SetWriteRateLimit {
            scope: ThrottleScope::All,
            rate_bytes_per_sec: rate,
        };
        assert_eq!(
            classify(ActionKind::Throttle, &limit(Some(MIB))),
            Some(CatalogAction::ThrottleTighten)
        );
        assert_eq!(
            classify(ActionKind::ReleaseThrottle, &limit(Some(MIB))),
            Some(CatalogAction::ThrottleRelease)
        );
        assert_eq!(
            classify(ActionKind::ReleaseThrottle, &limit(None)),
            Some(CatalogAction::ThrottleRelease)
        );
    }

    #[test]
    fn tunable_vector_is_log2_of_the_change() {
        let mut world = World::new(&["default", "orders"]);
        let zero = tunable_vector(&world.tunables, &world.baseline);
        assert_eq!(zero, [0.0; TUNABLE_COUNT]);
        world
            .engine
            .set_global(&[(Tunable::MaxBackgroundJobs, 8)])
            .expect("global");
        world
            .engine
            .set_cf("orders", &[(Tunable::WriteBufferSize, MIB)])
            .expect("cf");
        world
            .engine
            .set_cf("default", &[(Tunable::WriteBufferSize, 128 * MIB)])
            .expect("cf");
        world
            .engine
            .set_write_rate_limit(&ThrottleScope::Cf("orders".into()), Some(MIB))
            .expect("limit");
        world.refresh();
        let v = tunable_vector(&world.tunables, &world.baseline);
        let at = |name: &str| v[TUNABLE_NAMES.iter().position(|n| *n == name).expect("name")];
        assert_eq!(at("max_background_jobs"), 2.0);
        // orders: 1 MiB / 64 MiB = -6 deviates more than default's +1.
        assert_eq!(at("write_buffer_size"), -6.0);
        assert_eq!(at("write_rate_limited"), 1.0);
        assert_eq!(at("disable_auto_compactions"), 0.0);
        assert_eq!(at("block_cache_capacity"), 0.0);
    }
}
