//! The learned policy: detector → cascade GNN → multi-objective policy network, proposing
//! catalog actions as ordinary candidates (the guard decides, as for the rule policy).
//!
//! Each tick it
//! 1. appends the tick's features to its [`FeatureHistory`] (cleared when the component
//!    graph changes),
//! 2. steps the [`Detector`] (support windows, adaptation, workload-change watch, score),
//! 3. runs the [`CascadePredictor`] on the last `T` ticks with the detector's node scores,
//! 4. runs `policy.onnx` on the tick's features `x: [N, 19]`, the risks, the catalog's
//!    [`tunable_vector`](catalog::tunable_vector) (the same function `lsmedic-bench record` writes into traces) and the
//!    operator's weights, giving `q: [1, A, 3]` — per-objective values of every catalog
//!    action,
//! 5. scores each action `a` as `Σ_j w_j q[a][j]` and proposes, best first, up to
//!    `learned.max_candidates` actions that are possible now (the catalog's mask under the
//!    guard's bounds) and beat `noop` by more than `learned.min_advantage`. A candidate's
//!    score is its advantage over `noop` (so `noop` winning means nothing is proposed), its
//!    effect the per-objective difference from `noop`.
//!
//! Until `max(T, T')` ticks of history exist (1 s with the shipped models, and again after a
//! column family is added or dropped) nothing is proposed. Every tick leaves a
//! [`LearnedRecord`] — detector score, riskiest nodes, every action's values — that the
//! healer writes into the decision's audit entry.
//!
//! Errors (a model failing to run, non-finite outputs) are returned by
//! [`LearnedPolicy::try_propose`]; the healer then lets the rule policy decide that tick and,
//! after `learned.max_model_failures` failures in a row, for good. The [`Policy`] impl
//! returns no candidates on an error and keeps it in [`LearnedPolicy::last_error`].

use crate::action::{Candidate, Effect};
use crate::audit::{ActionScore, DetectorRecord, LearnedRecord};
use crate::config::{GuardConfig, LearnedConfig, Weights};
use crate::detect::{AdaptReason, Detector, DetectorEvent, DetectorParams, FeatureHistory};
use crate::features::FEATURE_DIM;
use crate::model::{names, LoadedModels, Model, ModelError, ModelOutput};
use crate::policy::catalog::{self, CatalogAction, ACTION_COUNT, TUNABLE_COUNT, TUNABLE_NAMES};
use crate::policy::{Policy, PolicyInput};
use crate::predict::{top_risks, CascadePredictor};

/// Policy name, as in the audit log and statistics.
pub const LEARNED_POLICY: &str = "learned";

/// Objectives in `q`'s last dimension, in order.
pub const OBJECTIVES: [&str; 3] = ["latency", "throughput", "resources"];

/// The learned policy (see the module docs).
#[derive(Debug)]
pub struct LearnedPolicy {
    detector: Detector,
    predictor: CascadePredictor,
    policy: Model,
    config: LearnedConfig,
    guard: GuardConfig,
    history: FeatureHistory,
    /// Column families of the graph the history was built on.
    history_cfs: Vec<String>,
    events: Vec<DetectorEvent>,
    explanation: Option<LearnedRecord>,
    anomalous: bool,
    anomaly_edge: Option<bool>,
    last_error: Option<String>,
}

/// Weighted score of every action: `Σ_j w_j q[a][j]` for `q` = `[A × 3]` row-major.
pub fn weighted_scores(q: &[f32], weights: &Weights) -> Vec<f64> {
    let w = [weights.latency, weights.throughput, weights.resources];
    q.chunks_exact(3)
        .map(|row| row.iter().zip(w).map(|(&v, w)| f64::from(v) * w).sum())
        .collect()
}

impl LearnedPolicy {
    /// Builds the policy from a loaded learned set (taking its four sessions out of
    /// `models`). The manifest's action and tunable lists must equal the catalog's.
    pub fn from_models(
        models: &mut LoadedModels,
        config: &LearnedConfig,
        guard: &GuardConfig,
    ) -> Result<LearnedPolicy, ModelError> {
        let manifest = models.manifest.clone();
        manifest.check_learned_set()?;
        let missing = |what: &str| ModelError::Manifest {
            what: "learned set".into(),
            reason: format!("{what} is missing"),
        };
        let policy_section = manifest.policy.as_ref().ok_or_else(|| missing("policy"))?;
        let detector_section = manifest
            .detector
            .as_ref()
            .ok_or_else(|| missing("detector"))?;
        let window_ticks = manifest
            .window_ticks
            .ok_or_else(|| missing("window_ticks"))?;
        if policy_section.actions != CatalogAction::NAMES {
            return Err(ModelError::Mismatch {
                model: names::POLICY.into(),
                what: "action catalog (manifest policy.actions)".into(),
                expected: format!("{:?}", CatalogAction::NAMES),
                found: format!("{:?}", policy_section.actions),
            });
        }
        if policy_section.tunables != TUNABLE_NAMES {
            return Err(ModelError::Mismatch {
                model: names::POLICY.into(),
                what: "tunable vector (manifest policy.tunables)".into(),
                expected: format!("{TUNABLE_NAMES:?}"),
                found: format!("{:?}", policy_section.tunables),
            });
        }
        let initial = match &detector_section.initial_state {
            Some(file) => Some(models.source.tensors(file)?),
            None => None,
        };
        let mut take = |name: &str| models.take(name).ok_or_else(|| missing(name));
        let adapt = take(names::DETECTOR_ADAPT)?;
        let detect = take(names::DETECTOR)?;
        let gnn = take(names::CASCADE_GNN)?;
        let policy = take(names::POLICY)?;
        let params = DetectorParams::new(detector_section, config);
        let capacity = params.window_ticks.max(window_ticks);
        let detector = Detector::new(adapt, detect, params, initial, config)?;
        Ok(LearnedPolicy {
            detector,
            predictor: CascadePredictor::new(gnn, window_ticks),
            policy,
            config: config.clone(),
            guard: guard.clone(),
            history: FeatureHistory::new(capacity),
            history_cfs: Vec::new(),
            events: Vec::new(),
            explanation: None,
            anomalous: false,
            anomaly_edge: None,
            last_error: None,
        })
    }

    /// The detector.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The detector, mutable (tests drive adaptation directly).
    pub fn detector_mut(&mut self) -> &mut Detector {
        &mut self.detector
    }

    /// The cascade predictor, mutable.
    pub fn predictor_mut(&mut self) -> &mut CascadePredictor {
        &mut self.predictor
    }

    /// The feature history.
    pub fn history(&self) -> &FeatureHistory {
        &self.history
    }

    /// Re-adapts the detector on the next `K` support windows (`adapt_now`).
    pub fn adapt_now(&mut self) -> DetectorEvent {
        self.detector.request_adaptation(AdaptReason::Requested)
    }

    /// Detector events since the last call (adaptations, workload changes).
    pub fn take_events(&mut self) -> Vec<DetectorEvent> {
        std::mem::take(&mut self.events)
    }

    /// What the models saw in the last tick.
    pub fn explanation(&self) -> Option<&LearnedRecord> {
        self.explanation.as_ref()
    }

    /// `Some(now anomalous)` when the detector's verdict flipped in the last tick.
    pub fn anomaly_edge(&self) -> Option<bool> {
        self.anomaly_edge
    }

    /// The last error of [`Policy::propose`], if its last call failed.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Runs `policy.onnx`: `q` as `[A × 3]` row-major.
    pub fn run_policy(
        &mut self,
        x: &[f32],
        nodes: usize,
        risk: &[f32],
        tunables: &[f32; TUNABLE_COUNT],
        weights: &Weights,
    ) -> Result<Vec<f32>, ModelError> {
        let n = nodes as i64;
        let w = [
            weights.latency as f32,
            weights.throughput as f32,
            weights.resources as f32,
        ];
        let mut outputs = self.policy.run(&[
            ("x", &[n, FEATURE_DIM as i64], x),
            ("risk", &[n, 2], risk),
            ("tunables", &[1, TUNABLE_COUNT as i64], tunables),
            ("weights", &[1, 3], &w),
        ])?;
        let q = outputs.pop().ok_or_else(|| ModelError::Ort {
            model: names::POLICY.into(),
            message: "no q output".into(),
        })?;
        check_q(&q)?;
        Ok(q.data)
    }

    /// One tick (see the module docs): candidates, or the model error.
    pub fn try_propose(&mut self, input: &PolicyInput<'_>) -> Result<Vec<Candidate>, ModelError> {
        self.anomaly_edge = None;
        self.explanation = None;
        let graph = input.graph;
        let nodes = graph.node_count();
        if input.features.node_count() != nodes {
            return Ok(Vec::new());
        }
        if !graph.matches(&self.history_cfs) {
            // Node i means something else now (even when the count is the same).
            self.history.clear();
            self.history_cfs = graph.cfs().to_vec();
        }
        self.history.push(input.features);
        let detection = self
            .detector
            .step(&self.history, input.observation, &mut self.events)?;
        if detection.anomalous != self.anomalous {
            self.anomalous = detection.anomalous;
            self.anomaly_edge = Some(detection.anomalous);
        }
        let mut top_nodes: Vec<(String, f32)> = detection
            .node_scores
            .iter()
            .enumerate()
            .filter(|_| detection.score.is_some())
            .map(|(i, &s)| (graph.label(i).unwrap_or_default(), s))
            .collect();
        top_nodes.sort_by(|a, b| b.1.total_cmp(&a.1));
        top_nodes.truncate(self.config.top_risks);
        let mut record = LearnedRecord {
            detector: DetectorRecord {
                score: detection.score,
                threshold: self.detector.params().threshold,
                anomalous: detection.anomalous,
                head: detection.head,
                adaptations: self.detector.adaptations(),
                gathering: self.detector.gathering(),
                top_nodes,
            },
            top_risks: Vec::new(),
            action_scores: Vec::new(),
        };
        let ready = self.history.len() >= self.detector.params().window_ticks;
        let risk = if ready {
            self.predictor
                .predict(&self.history, graph, &detection.node_scores)?
        } else {
            None
        };
        let Some(risk) = risk else {
            self.explanation = Some(record);
            return Ok(Vec::new());
        };
        record.top_risks = top_risks(graph, &risk, self.config.top_risks);

        let tunables = catalog::tunable_vector(input.tunables, input.baseline);
        let q = self.run_policy(
            input.features.as_slice(),
            nodes,
            &risk,
            &tunables,
            &input.weights,
        )?;
        let scores = weighted_scores(&q, &input.weights);
        let mut instances = Vec::with_capacity(ACTION_COUNT);
        for entry in CatalogAction::ALL {
            instances.push(catalog::instantiate_with(input, entry, &self.guard));
        }
        record.action_scores = CatalogAction::ALL
            .iter()
            .map(|entry| {
                let a = entry.index();
                ActionScore {
                    index: a,
                    name: entry.name().to_owned(),
                    q: [q[3 * a], q[3 * a + 1], q[3 * a + 2]],
                    score: scores[a],
                    masked: a != 0 && instances[a].is_none(),
                }
            })
            .collect();
        let noop = scores[CatalogAction::Noop.index()];
        let mut ranked: Vec<usize> = (1..ACTION_COUNT)
            .filter(|&a| instances[a].is_some() && scores[a] - noop > self.config.min_advantage)
            .collect();
        ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        ranked.truncate(self.config.max_candidates);
        let context = explain_context(&record);
        let candidates = ranked
            .into_iter()
            .filter_map(|a| {
                let instance = instances[a].take()?;
                let delta = |j: usize| f64::from(q[3 * a + j] - q[j]);
                Some(Candidate {
                    kind: instance.kind,
                    action: instance.action,
                    score: scores[a] - noop,
                    rule: format!("{LEARNED_POLICY}:{}", instance.entry.name()),
                    reason: format!(
                        "value {:.3} vs noop {noop:.3} (q latency {:.3}, throughput {:.3}, \
                         resources {:.3}); {context}",
                        scores[a],
                        q[3 * a],
                        q[3 * a + 1],
                        q[3 * a + 2],
                    ),
                    effect: Effect::new(delta(0), delta(1), -delta(2)),
                })
            })
            .collect();
        self.explanation = Some(record);
        Ok(candidates)
    }
}

/// "detector 0.91 (threshold 0.50), top risk l0[users] 0.80 / 0.95".
fn explain_context(record: &LearnedRecord) -> String {
    let detector = match record.detector.score {
        Some(score) => format!(
            "detector {score:.2} (threshold {:.2})",
            record.detector.threshold
        ),
        None => "detector silent".to_owned(),
    };
    match record.top_risks.first() {
        Some(top) => format!(
            "{detector}, top risk {} {:.2} within 1 s, {:.2} within 5 s",
            top.node, top.within_1s, top.within_5s
        ),
        None => detector,
    }
}

fn check_q(q: &ModelOutput) -> Result<(), ModelError> {
    if q.data.len() != ACTION_COUNT * 3 {
        return Err(ModelError::Mismatch {
            model: names::POLICY.into(),
            what: "q size".into(),
            expected: format!("[1, {ACTION_COUNT}, 3]"),
            found: format!("{:?}", q.shape),
        });
    }
    if q.data.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::Ort {
            model: names::POLICY.into(),
            message: "non-finite q".into(),
        });
    }
    Ok(())
}

impl Policy for LearnedPolicy {
    fn name(&self) -> &str {
        LEARNED_POLICY
    }

    fn propose(&mut self, input: &PolicyInput<'_>) -> Vec<Candidate> {
        match self.try_propose(input) {
            Ok(candidates) => {
                self.last_error = None;
                candidates
            }
            Err(err) => {
                self.last_error = Some(err.to_string());
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_scores_follow_the_weights() {
        // Action 0 good for latency, action 1 for resources.
        let q = [1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0];
        let latency = Weights::new(1.0, 0.0, 0.0).expect("weights");
        let resources = Weights::new(0.0, 0.0, 1.0).expect("weights");
        assert_eq!(weighted_scores(&q, &latency), vec![1.0, 0.0]);
        assert_eq!(weighted_scores(&q, &resources), vec![0.0, 1.0]);
    }
}
