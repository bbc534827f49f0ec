//! What a policy can propose and the guard can let through: a closed, typed action set over
//! the `Control` surface. Every action belongs to a *family* (the unit of cooldowns and of
//! verification) and has a *target* (the whole engine or one column family).
//!
//! Option names stay RocksDB's everywhere (`Tunable` serialises as `max_background_jobs`, …).

use std::fmt;

use lsmedic_telemetry::{ThrottleScope, Tunable};
use serde::{Deserialize, Serialize};

/// A concrete change to the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// `Control::set_global`: DB-, engine- or process-scoped tunables.
    SetGlobal {
        /// New values.
        changes: Vec<(Tunable, u64)>,
    },
    /// `Control::set_cf`: tunables of one column family.
    SetCf {
        /// Logical column family.
        cf: String,
        /// New values.
        changes: Vec<(Tunable, u64)>,
    },
    /// `Control::set_write_rate_limit`: lsmedic's write throttle.
    SetWriteRateLimit {
        /// Which writes.
        scope: ThrottleScope,
        /// New limit in bytes/s; `None` lifts it.
        rate_bytes_per_sec: Option<u64>,
    },
    /// `Control::flush` of one column family.
    Flush {
        /// Logical column family.
        cf: String,
    },
    /// `Control::compact_range` over a whole column family.
    CompactRange {
        /// Logical column family.
        cf: String,
    },
    /// `Control::rebuild_cf` (destructive: may drop unreadable keys).
    RebuildCf {
        /// Logical column family.
        cf: String,
    },
}

impl Action {
    /// The column family the action is about, `None` for engine-wide actions.
    pub fn cf(&self) -> Option<&str> {
        match self {
            Action::SetGlobal { .. } => None,
            Action::SetCf { cf, .. }
            | Action::Flush { cf }
            | Action::CompactRange { cf }
            | Action::RebuildCf { cf } => Some(cf),
            Action::SetWriteRateLimit { scope, .. } => match scope {
                ThrottleScope::All => None,
                ThrottleScope::Cf(cf) => Some(cf),
            },
        }
    }

    /// Whether the action can lose data (only allowed with `allow_destructive`).
    pub fn is_destructive(&self) -> bool {
        matches!(self, Action::RebuildCf { .. })
    }

    /// Whether the action changes tunables that a snapshot can restore (roll-back possible).
    pub fn is_reversible(&self) -> bool {
        matches!(
            self,
            Action::SetGlobal { .. } | Action::SetCf { .. } | Action::SetWriteRateLimit { .. }
        )
    }

    /// Whether the action waits for background work (flush, compaction, rebuild) and so runs
    /// off the healer thread.
    pub fn is_blocking(&self) -> bool {
        matches!(
            self,
            Action::Flush { .. } | Action::CompactRange { .. } | Action::RebuildCf { .. }
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, changes: &[(Tunable, u64)]| -> fmt::Result {
            for (i, (tunable, value)) in changes.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{tunable}={value}")?;
            }
            Ok(())
        };
        match self {
            Action::SetGlobal { changes } => {
                f.write_str("set ")?;
                list(f, changes)
            }
            Action::SetCf { cf, changes } => {
                write!(f, "set on {cf:?} ")?;
                list(f, changes)
            }
            Action::SetWriteRateLimit {
                scope,
                rate_bytes_per_sec,
            } => {
                let scope = match scope {
                    ThrottleScope::All => "all writes".to_owned(),
                    ThrottleScope::Cf(cf) => format!("{cf:?}"),
                };
                match rate_bytes_per_sec {
                    Some(rate) => write!(f, "limit writes to {scope} at {rate} B/s"),
                    None => write!(f, "lift the write limit of {scope}"),
                }
            }
            Action::Flush { cf } => write!(f, "flush {cf:?}"),
            Action::CompactRange { cf } => write!(f, "compact {cf:?}"),
            Action::RebuildCf { cf } => write!(f, "rebuild {cf:?}"),
        }
    }
}

/// What an action is for: the key of the per-kind statistics.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Engage or tighten a write throttle.
    Throttle,
    /// Relax or lift a write throttle.
    ReleaseThrottle,
    /// More background jobs / threads for flushes and compactions.
    RaiseBackgroundJobs,
    /// Return background jobs toward their configured value.
    LowerBackgroundJobs,
    /// More or larger memtables.
    GrowMemtable,
    /// Return memtables toward their configured size.
    ShrinkMemtable,
    /// A larger block cache.
    GrowBlockCache,
    /// Return block-cache capacity toward its configured value.
    ShrinkBlockCache,
    /// Manual compaction of a column family.
    CompactRange,
    /// Manual flush of a column family.
    Flush,
    /// Rebuild of a corrupt column family.
    RebuildCf,
}

impl ActionKind {
    /// Every kind.
    pub const ALL: [ActionKind; 11] = [
        ActionKind::Throttle,
        ActionKind::ReleaseThrottle,
        ActionKind::RaiseBackgroundJobs,
        ActionKind::LowerBackgroundJobs,
        ActionKind::GrowMemtable,
        ActionKind::ShrinkMemtable,
        ActionKind::GrowBlockCache,
        ActionKind::ShrinkBlockCache,
        ActionKind::CompactRange,
        ActionKind::Flush,
        ActionKind::RebuildCf,
    ];

    /// The family the kind's cooldown and verification belong to.
    pub fn family(self) -> ActionFamily {
        match self {
            ActionKind::Throttle | ActionKind::ReleaseThrottle => ActionFamily::Throttle,
            ActionKind::RaiseBackgroundJobs | ActionKind::LowerBackgroundJobs => {
                ActionFamily::BackgroundJobs
            }
            ActionKind::GrowMemtable | ActionKind::ShrinkMemtable => ActionFamily::Memtable,
            ActionKind::GrowBlockCache | ActionKind::ShrinkBlockCache => ActionFamily::BlockCache,
            ActionKind::CompactRange | ActionKind::Flush => ActionFamily::Maintenance,
            ActionKind::RebuildCf => ActionFamily::Rebuild,
        }
    }

    /// Snake-case name (as in JSON).
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Throttle => "throttle",
            ActionKind::ReleaseThrottle => "release_throttle",
            ActionKind::RaiseBackgroundJobs => "raise_background_jobs",
            ActionKind::LowerBackgroundJobs => "lower_background_jobs",
            ActionKind::GrowMemtable => "grow_memtable",
            ActionKind::ShrinkMemtable => "shrink_memtable",
            ActionKind::GrowBlockCache => "grow_block_cache",
            ActionKind::ShrinkBlockCache => "shrink_block_cache",
            ActionKind::CompactRange => "compact_range",
            ActionKind::Flush => "flush",
            ActionKind::RebuildCf => "rebuild_cf",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Actions that share a cooldown and a verification slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionFamily {
    /// Write-rate limits.
    Throttle,
    /// `max_background_jobs`, `max_subcompactions`, thread pools.
    BackgroundJobs,
    /// `write_buffer_size`, `max_write_buffer_number`.
    Memtable,
    /// Block-cache capacity.
    BlockCache,
    /// Manual flushes and compactions.
    Maintenance,
    /// Column-family rebuilds.
    Rebuild,
}

impl ActionFamily {
    /// Every family.
    pub const ALL: [ActionFamily; 6] = [
        ActionFamily::Throttle,
        ActionFamily::BackgroundJobs,
        ActionFamily::Memtable,
        ActionFamily::BlockCache,
        ActionFamily::Maintenance,
        ActionFamily::Rebuild,
    ];
}

/// Expected effect of an action on the three objectives, each in about `[-1, 1]`: positive
/// `latency`/`throughput` = expected improvement, positive `resources` = expected extra cost.
/// A policy's score is `urgency × (w_lat·latency + w_tp·throughput − w_res·resources)`, so the
/// operator's weights decide between remedies.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Expected latency improvement.
    pub latency: f64,
    /// Expected throughput improvement.
    pub throughput: f64,
    /// Expected extra resource cost (memory, threads, I/O).
    pub resources: f64,
}

impl Effect {
    /// An effect.
    pub const fn new(latency: f64, throughput: f64, resources: f64) -> Effect {
        Effect {
            latency,
            throughput,
            resources,
        }
    }
}

/// One action a policy proposes, with its score and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// What it is for.
    pub kind: ActionKind,
    /// What it would do.
    pub action: Action,
    /// Higher is better; the guard considers candidates best first. Non-positive scores are
    /// never applied.
    pub score: f64,
    /// Name of the rule (or model) that proposed it.
    pub rule: String,
    /// Human-readable reason with the numbers that triggered it.
    pub reason: String,
    /// Expected effect (what the score was computed from).
    pub effect: Effect,
}
