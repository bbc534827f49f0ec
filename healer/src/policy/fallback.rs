//! The one policy the healer calls: the rule policy, with the learned policy in front of it
//! when a complete learned set loaded.
//!
//! A tick in which the learned policy fails (a model error, or a panic in ONNX Runtime, which
//! is foreign code) is decided by the rule policy; after `max_failures` such ticks in a row the
//! learned policy is dropped for good. The healer is told what happened in the tick's
//! [`Proposal`], so it can audit and count it; this module never audits itself.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::action::Candidate;
use crate::audit::LearnedRecord;
use crate::config::HealerConfig;
use crate::detect::DetectorEvent;
use crate::error::panic_message;
use crate::model::{load_models, LoadedModels, ModelError, ModelStatus};
use crate::policy::learned::LearnedPolicy;
use crate::policy::{Policy, PolicyFeedback, PolicyInput, RulePolicy};

/// Why the learned policy could not decide a tick.
#[derive(Debug, thiserror::Error)]
pub enum LearnedFailure {
    /// A model failed to run or gave unusable output.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The learned policy panicked (caught).
    #[error("panicked: {message}")]
    Panicked {
        /// The panic payload, when it was a string.
        message: String,
    },
}

impl LearnedFailure {
    /// Whether it was a panic.
    pub fn is_panic(&self) -> bool {
        matches!(self, LearnedFailure::Panicked { .. })
    }
}

/// A tick in which the learned policy failed and the rule policy decided.
#[derive(Debug)]
pub struct FailedTick {
    /// What went wrong.
    pub failure: LearnedFailure,
    /// Failed ticks in a row, this one included.
    pub in_a_row: u32,
    /// Failed ticks in a row after which the learned policy is dropped.
    pub max_in_a_row: u32,
    /// The learned policy was dropped after this tick.
    pub dropped: bool,
}

impl FailedTick {
    /// The error to audit for this tick.
    pub fn message(&self) -> String {
        format!(
            "learned policy failed ({} of {} in a row; the rule policy decides this tick): {}",
            self.in_a_row, self.max_in_a_row, self.failure
        )
    }

    /// Why the learned policy was dropped, when it was.
    pub fn drop_reason(&self) -> Option<String> {
        self.dropped.then(|| {
            format!(
                "the learned policy failed in {} ticks in a row and was dropped; the rule \
                 policy decides from now on; last failure: {}",
                self.in_a_row, self.failure
            )
        })
    }
}

/// What the policy proposed in one tick, and what the healer should know about it.
#[derive(Debug, Default)]
pub struct Proposal {
    /// Candidates for the guard, any order.
    pub candidates: Vec<Candidate>,
    /// Name of the policy whose candidates these are (`learned`, `rules`, …).
    pub policy: String,
    /// What the learned models saw, when the learned policy decided.
    pub learned: Option<LearnedRecord>,
    /// `Some(now anomalous)` when the learned detector's verdict flipped.
    pub anomaly_edge: Option<bool>,
    /// The learned policy began vetoing a rule action this tick.
    pub veto_edge: bool,
    /// The learned detector's events (adaptations, workload changes).
    pub events: Vec<DetectorEvent>,
    /// The learned policy failed this tick (the rule policy proposed instead).
    pub failure: Option<FailedTick>,
}

impl Proposal {
    /// Whether the tick's decision is worth an audit entry even when every verdict is quiet:
    /// the detector's verdict flipped, or a veto began.
    pub fn is_notable(&self) -> bool {
        self.anomaly_edge.is_some() || self.veto_edge
    }
}

/// The rule policy and the optional learned policy in front of it (see the module docs).
pub struct FallbackPolicy {
    rules: Box<dyn Policy>,
    learned: Option<LearnedPolicy>,
    failures_in_a_row: u32,
    max_failures: u32,
}

impl std::fmt::Debug for FallbackPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackPolicy")
            .field("rules", &self.rules.name())
            .field("learned", &self.learned.is_some())
            .field("failures_in_a_row", &self.failures_in_a_row)
            .field("max_failures", &self.max_failures)
            .finish()
    }
}

impl FallbackPolicy {
    /// `rules` alone, or with `learned` in front of it (dropped after `max_failures` failed
    /// ticks in a row).
    pub fn new(
        rules: Box<dyn Policy>,
        learned: Option<LearnedPolicy>,
        max_failures: u32,
    ) -> FallbackPolicy {
        FallbackPolicy {
            rules,
            learned,
            failures_in_a_row: 0,
            max_failures,
        }
    }

    /// The learned policy, while it decides.
    pub fn learned(&self) -> Option<&LearnedPolicy> {
        self.learned.as_ref()
    }

    /// The learned policy, mutable (tests and benchmarks drive its detector).
    pub fn learned_mut(&mut self) -> Option<&mut LearnedPolicy> {
        self.learned.as_mut()
    }

    /// Consecutive ticks in which the learned policy failed.
    pub fn failures_in_a_row(&self) -> u32 {
        self.failures_in_a_row
    }

    /// Makes `policy` the one that decides, alone: a loaded learned policy is dropped.
    pub fn replace(&mut self, policy: Box<dyn Policy>) {
        self.rules = policy;
        self.learned = None;
    }

    /// One tick: the learned policy's candidates when it decides, else the rule policy's.
    pub fn decide(&mut self, input: &PolicyInput<'_>) -> Proposal {
        let Some(learned) = self.learned.as_mut() else {
            return Proposal {
                candidates: self.rules.propose(input),
                policy: self.rules.name().to_owned(),
                ..Proposal::default()
            };
        };
        // The rule policy proposes once per tick (it is stateful): the learned policy keeps
        // to its choice unless its values say otherwise, and it decides if a model fails.
        let rules = learned.follows_rules().then(|| self.rules.propose(input));
        // ONNX Runtime is foreign code: a panic there is a model failure, not a tick's.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            learned.try_propose(input, rules.as_deref())
        }));
        let events = learned.take_events();
        let failure = match outcome {
            Ok(Ok(candidates)) => {
                self.failures_in_a_row = 0;
                return Proposal {
                    candidates,
                    policy: learned.name().to_owned(),
                    learned: learned.explanation().cloned(),
                    anomaly_edge: learned.anomaly_edge(),
                    veto_edge: learned.veto_edge(),
                    events,
                    failure: None,
                };
            }
            Ok(Err(err)) => LearnedFailure::Model(err),
            Err(payload) => LearnedFailure::Panicked {
                message: panic_message(&*payload),
            },
        };
        let failure = self.count_failure(failure);
        Proposal {
            candidates: rules.unwrap_or_else(|| self.rules.propose(input)),
            policy: self.rules.name().to_owned(),
            events,
            failure: Some(failure),
            ..Proposal::default()
        }
    }

    /// Counts a failed tick; drops the learned policy at the limit.
    fn count_failure(&mut self, failure: LearnedFailure) -> FailedTick {
        self.failures_in_a_row += 1;
        let dropped = self.failures_in_a_row >= self.max_failures;
        if dropped {
            self.learned = None;
        }
        FailedTick {
            failure,
            in_a_row: self.failures_in_a_row,
            max_in_a_row: self.max_failures,
            dropped,
        }
    }
}

impl Policy for FallbackPolicy {
    /// The deciding policy's name: `learned` while it decides, else the rule policy's.
    fn name(&self) -> &str {
        match &self.learned {
            Some(learned) => learned.name(),
            None => self.rules.name(),
        }
    }

    /// [`FallbackPolicy::decide`]'s candidates (the rest of its proposal is dropped).
    fn propose(&mut self, input: &PolicyInput<'_>) -> Vec<Candidate> {
        self.decide(input).candidates
    }

    /// Feedback goes to the rule policy (the learned policy keeps no per-action state).
    fn feedback(&mut self, feedback: &PolicyFeedback) {
        self.rules.feedback(feedback);
    }
}

/// Loaded models and what to say about them.
#[derive(Debug)]
pub struct LoadedPolicies {
    /// The healer's policy: the configured rule policy, with the learned one when a complete
    /// learned set loaded.
    pub policy: FallbackPolicy,
    /// The models that loaded, if any (the learned set's sessions belong to the learned
    /// policy).
    pub models: Option<LoadedModels>,
    /// What became of the configured models.
    pub status: ModelStatus,
}

impl LoadedPolicies {
    /// Builds the rule policy of `config` and tries its models: a complete learned set
    /// becomes the learned policy in front of it. Failures leave the rule policy in charge
    /// and say why in `status`.
    pub fn load(config: &HealerConfig) -> LoadedPolicies {
        let rules: Box<dyn Policy> = Box::new(RulePolicy::new(config.rules.clone()));
        let (models, status, learned) = load_learned(config);
        LoadedPolicies {
            policy: FallbackPolicy::new(rules, learned, config.learned.max_model_failures),
            models,
            status,
        }
    }
}

/// Loads the configured models; a complete learned set becomes the learned policy.
fn load_learned(
    config: &HealerConfig,
) -> (Option<LoadedModels>, ModelStatus, Option<LearnedPolicy>) {
    if !config.models.enabled {
        return (None, ModelStatus::NotConfigured, None);
    }
    let fallback = |err: ModelError| ModelStatus::Fallback {
        reason: err.to_string(),
    };
    let mut loaded = match load_models(
        config.models.onnxruntime_path.as_deref(),
        config.models.dir.as_deref(),
    ) {
        Ok(loaded) => loaded,
        Err(err) => return (None, fallback(err), None),
    };
    let names = loaded.names();
    let onnxruntime = loaded.runtime.library().display().to_string();
    if !loaded.has_learned_set() {
        let status = ModelStatus::Loaded {
            onnxruntime,
            models: names,
            policy: "rules".to_owned(),
        };
        return (Some(loaded), status, None);
    }
    match LearnedPolicy::from_models(&mut loaded, &config.learned, &config.guard) {
        Ok(learned) => {
            let status = ModelStatus::Loaded {
                onnxruntime,
                models: names,
                policy: learned.name().to_owned(),
            };
            (Some(loaded), status, Some(learned))
        }
        Err(err) => (None, fallback(err), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_say_what_went_wrong_and_when_the_learned_policy_goes() {
        let failed = FailedTick {
            failure: LearnedFailure::Panicked {
                message: "boom".into(),
            },
            in_a_row: 2,
            max_in_a_row: 3,
            dropped: false,
        };
        assert!(failed.failure.is_panic());
        assert_eq!(
            failed.message(),
            "learned policy failed (2 of 3 in a row; the rule policy decides this tick): \
             panicked: boom"
        );
        assert_eq!(failed.drop_reason(), None);
        let dropped = FailedTick {
            in_a_row: 3,
            dropped: true,
            ..failed
        };
        let reason = dropped.drop_reason().expect("dropped");
        assert!(reason.contains("3 ticks in a row"), "{reason}");
        assert!(reason.ends_with("last failure: panicked: boom"), "{reason}");
    }

    #[test]
    fn without_a_learned_policy_the_rules_decide() {
        let policy = FallbackPolicy::new(
            Box::new(RulePolicy::new(crate::RuleConfig::default())),
            None,
            3,
        );
        assert_eq!(policy.name(), "rules");
        assert!(policy.learned().is_none());
        assert_eq!(policy.failures_in_a_row(), 0);
    }
}
