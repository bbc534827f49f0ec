//! Policies: from what the healer sees to scored candidate actions. A policy only proposes;
//! the [guard](crate::guard) decides what is done, and the actuator does it.
//!
//! [`RulePolicy`] is the hand-written baseline (TiKV flow controller / ADOC style);
//! [`LearnedPolicy`] runs the trained models over the [`catalog`]; [`FallbackPolicy`] is the
//! one the healer calls: the learned policy when it loaded, the rules whenever it fails.

pub mod catalog;
pub mod explore;
pub mod fallback;
pub mod learned;
pub mod rules;

use lsmedic_telemetry::Tunables;

use crate::action::{Action, ActionKind, Candidate, Effect};
use crate::config::Weights;
use crate::features::NodeFeatures;
use crate::graph::ComponentGraph;
use crate::observation::Observation;

pub use catalog::{CatalogAction, ACTION_COUNT, TUNABLE_COUNT, TUNABLE_NAMES};
pub use explore::ExplorePolicy;
pub use fallback::{FallbackPolicy, LearnedFailure};
pub use learned::LearnedPolicy;
pub use rules::{RuleConfig, RulePolicy};

/// Everything a policy may look at in one tick.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInput<'a> {
    /// Tick number.
    pub tick: u64,
    /// End of the tick on the engine's telemetry clock (ns).
    pub now_ns: u64,
    /// Raw readings of the tick.
    pub observation: &'a Observation,
    /// Normalised per-node features.
    pub features: &'a NodeFeatures,
    /// Component graph the features are laid out on.
    pub graph: &'a ComponentGraph,
    /// Operator's objective weights (normalised).
    pub weights: Weights,
    /// Tunables in force.
    pub tunables: &'a Tunables,
    /// Tunables when the healer started (or when a column family first appeared): what
    /// "return to normal" means.
    pub baseline: &'a Tunables,
}

/// What happened to a proposed action (fed back so a stateful policy knows what it owns).
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyFeedback {
    /// The action was applied (possibly clamped by the guard: `action` is what was applied).
    Applied {
        /// Its kind.
        kind: ActionKind,
        /// What was applied.
        action: Action,
        /// Tick it was applied in.
        tick: u64,
    },
    /// The action was verified worse and rolled back.
    RolledBack {
        /// Its kind.
        kind: ActionKind,
        /// What had been applied.
        action: Action,
    },
}

/// A decision procedure: proposes scored candidates each tick.
pub trait Policy: Send {
    /// Short name (`rules`, `learned`), as recorded in the audit log.
    fn name(&self) -> &str;

    /// Candidate actions for this tick, any order; the guard takes them best score first.
    fn propose(&mut self, input: &PolicyInput<'_>) -> Vec<Candidate>;

    /// What became of earlier proposals.
    fn feedback(&mut self, _feedback: &PolicyFeedback) {}
}

/// `urgency × (w_lat·latency + w_tp·throughput − w_res·resources)`.
pub fn score(urgency: f64, effect: Effect, weights: &Weights) -> f64 {
    urgency
        * (weights.latency * effect.latency + weights.throughput * effect.throughput
            - weights.resources * effect.resources)
}
