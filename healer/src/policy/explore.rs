//! ε-exploration around another policy, for training data (`lsmedic-bench record --healer
//! rules --explore EPS`): logged transitions then cover actions the wrapped policy would not
//! take, so an offline-trained policy can compare them.
//!
//! A *decision tick* is a tick where the wrapped policy proposes something, or every
//! [`DECISION_INTERVAL_TICKS`]-th tick. On a decision tick, with probability ε, the wrapped
//! policy's proposals are replaced by one catalog action drawn uniformly among the unmasked
//! ones ([`catalog::mask`], `noop` included: then nothing is proposed). The drawn action is
//! an ordinary candidate (rule `explore`, score 1): the guard still bounds it, applies its
//! cooldowns and budget, verifies and rolls it back. Feedback goes to the wrapped policy, so
//! a rule policy knows about a limit exploration set. The generator is seeded: the same seed
//! and the same inputs draw the same actions.

use crate::action::{Candidate, Effect};
use crate::error::HealerError;
use crate::policy::catalog::{self, CatalogAction};
use crate::policy::{Policy, PolicyFeedback, PolicyInput};

/// Every this many ticks is a decision tick even when the wrapped policy is quiet.
pub const DECISION_INTERVAL_TICKS: u64 = 10;

/// Rule name of explored candidates (as in the audit log and traces).
pub const EXPLORE_RULE: &str = "explore";

/// The exploration wrapper (see the module docs).
pub struct ExplorePolicy {
    inner: Box<dyn Policy>,
    epsilon: f64,
    rng: u64,
    name: String,
    explored: u64,
}

impl std::fmt::Debug for ExplorePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplorePolicy")
            .field("inner", &self.inner.name())
            .field("epsilon", &self.epsilon)
            .field("explored", &self.explored)
            .finish_non_exhaustive()
    }
}

/// SplitMix64 step: a small, well-mixed, seedable generator.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl ExplorePolicy {
    /// Wraps `inner`, exploring with probability `epsilon` (in `[0, 1]`) per decision tick.
    pub fn new(inner: Box<dyn Policy>, epsilon: f64, seed: u64) -> Result<Self, HealerError> {
        if !(0.0..=1.0).contains(&epsilon) {
            return Err(HealerError::config(
                "explore",
                format!("epsilon must be in [0, 1], got {epsilon}"),
            ));
        }
        let name = format!("{}+explore", inner.name());
        Ok(ExplorePolicy {
            inner,
            epsilon,
            rng: seed,
            name,
            explored: 0,
        })
    }

    /// Exploration probability per decision tick.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// Decision ticks on which exploration drew an action (noop included).
    pub fn explored(&self) -> u64 {
        self.explored
    }

    fn uniform(&mut self) -> f64 {
        (splitmix64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Policy for ExplorePolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn propose(&mut self, input: &PolicyInput<'_>) -> Vec<Candidate> {
        let proposals = self.inner.propose(input);
        let decision = !proposals.is_empty() || input.tick.is_multiple_of(DECISION_INTERVAL_TICKS);
        if !decision || self.epsilon == 0.0 || self.uniform() >= self.epsilon {
            return proposals;
        }
        let mask = catalog::mask(input);
        let allowed: Vec<CatalogAction> = CatalogAction::ALL
            .into_iter()
            .filter(|a| mask[a.index()])
            .collect();
        let pick = (splitmix64(&mut self.rng) % allowed.len() as u64) as usize;
        let entry = allowed[pick];
        self.explored += 1;
        let Some(instance) = catalog::instantiate(input, entry) else {
            return Vec::new(); // noop
        };
        vec![Candidate {
            kind: instance.kind,
            action: instance.action,
            score: 1.0,
            rule: EXPLORE_RULE.to_owned(),
            reason: format!(
                "exploration: catalog action {} ({} of {} possible, epsilon {})",
                entry.name(),
                pick + 1,
                allowed.len(),
                self.epsilon
            ),
            effect: Effect::default(),
        }]
    }

    fn feedback(&mut self, feedback: &PolicyFeedback) {
        self.inner.feedback(feedback);
    }
}

#[cfg(test)]
mod tests {
    use lsmedic_telemetry::{Tunables, DEFAULT_CF};

    use super::*;
    use crate::config::Weights;
    use crate::features::NodeFeatures;
    use crate::graph::ComponentGraph;
    use crate::observation::{CfObservation, Observation};

    /// Proposes nothing, counts feedback.
    struct Quiet(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    fn quiet() -> Box<Quiet> {
        Box::new(Quiet(Default::default()))
    }

    impl Policy for Quiet {
        fn name(&self) -> &str {
            "quiet"
        }
        fn propose(&mut self, _input: &PolicyInput<'_>) -> Vec<Candidate> {
            Vec::new()
        }
        fn feedback(&mut self, _feedback: &PolicyFeedback) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn run(epsilon: f64, seed: u64, ticks: u64) -> Vec<(u64, String)> {
        let mut tunables = Tunables::default();
        tunables
            .global
            .insert(lsmedic_telemetry::Tunable::MaxBackgroundJobs, 2);
        tunables
            .global
            .insert(lsmedic_telemetry::Tunable::BlockCacheCapacity, 8 << 20);
        tunables
            .cfs
            .insert(DEFAULT_CF.into(), lsmedic_telemetry::default_cf_tunables());
        let observation = Observation {
            cfs: vec![CfObservation {
                name: DEFAULT_CF.into(),
                ..CfObservation::default()
            }],
            ..Observation::default()
        };
        let graph = ComponentGraph::new(&[DEFAULT_CF.to_owned()]);
        let features = NodeFeatures::default();
        let mut policy = ExplorePolicy::new(quiet(), epsilon, seed).expect("policy");
        let mut out = Vec::new();
        for tick in 1..=ticks {
            let input = PolicyInput {
                tick,
                now_ns: tick,
                observation: &observation,
                features: &features,
                graph: &graph,
                weights: Weights::default(),
                tunables: &tunables,
                baseline: &tunables,
            };
            for c in policy.propose(&input) {
                assert_eq!(c.rule, EXPLORE_RULE);
                assert!(c.score > 0.0);
                out.push((tick, c.reason));
            }
        }
        out
    }

    #[test]
    fn explores_only_on_decision_ticks_and_is_reproducible() {
        let all = run(1.0, 7, 100);
        // Quiet inner policy: decision ticks are every 10th; with epsilon 1 each one draws
        // (a noop draw proposes nothing).
        assert!(all
            .iter()
            .all(|(tick, _)| tick % DECISION_INTERVAL_TICKS == 0));
        assert!(!all.is_empty() && all.len() <= 10);
        assert_eq!(all, run(1.0, 7, 100));
        assert!(run(0.0, 7, 100).is_empty());
        let rejected = ExplorePolicy::new(quiet(), 1.5, 1).expect_err("epsilon");
        assert!(rejected.to_string().contains("epsilon"));
    }

    #[test]
    fn draws_spread_over_the_unmasked_actions() {
        let draws = run(1.0, 11, 5000);
        let names: std::collections::BTreeSet<String> = draws
            .iter()
            .map(|(_, reason)| reason.split_whitespace().nth(3).unwrap_or("").to_owned())
            .collect();
        // Idle single-CF engine: raise_background_jobs, raise_write_buffer,
        // raise_l0_triggers, compact_cf, grow_block_cache (noop proposes nothing).
        assert_eq!(names.len(), 5, "{names:?}");
    }

    #[test]
    fn feedback_reaches_the_wrapped_policy() {
        let inner = quiet();
        let count = std::sync::Arc::clone(&inner.0);
        let mut policy = ExplorePolicy::new(inner, 0.5, 1).expect("policy");
        policy.feedback(&PolicyFeedback::RolledBack {
            kind: crate::ActionKind::Flush,
            action: crate::Action::Flush { cf: "a".into() },
        });
        assert_eq!(count.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(policy.name(), "quiet+explore");
        assert!(format!("{policy:?}").contains("quiet"));
    }
}
