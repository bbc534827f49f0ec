//! The learned policy: detector → cascade GNN → multi-objective policy network, proposing
//! catalog actions as ordinary candidates (the guard decides, as for the rule policy).
//!
//! What it does each tick is on [`LearnedPolicy`]. Errors (a model failing to run,
//! non-finite outputs) are returned by [`LearnedPolicy::try_propose`]; the
//! [`FallbackPolicy`](crate::policy::FallbackPolicy) then lets the rule policy decide that
//! tick and, after `learned.max_model_failures` failures in a row, for good. The [`Policy`]
//! impl returns no candidates on an error and keeps it in [`LearnedPolicy::last_error`].

use crate::action::{Candidate, Effect};
use crate::audit::{ActionScore, BaselineDecision, BaselineRecord, DetectorRecord, LearnedRecord};
use crate::config::{GuardConfig, LearnedConfig, Weights};
use crate::detect::{
    AdaptReason, Detector, DetectorEvent, DetectorOutput, DetectorParams, FeatureHistory,
};
use crate::features::FEATURE_DIM;
use crate::model::{names, LoadedModels, Model, ModelError, ModelOutput};
use crate::policy::catalog::{self, CatalogAction, ACTION_COUNT, TUNABLE_COUNT, TUNABLE_NAMES};
use crate::policy::{Policy, PolicyInput};
use crate::predict::{top_risks, CascadePredictor};

/// Policy name, as in the audit log and statistics.
pub const LEARNED_POLICY: &str = "learned";

/// Objectives in `q`'s last dimension, in order.
pub const OBJECTIVES: [&str; 3] = ["latency", "throughput", "resources"];

/// The learned policy.
///
/// Each tick it
/// 1. appends the tick's features to its [`FeatureHistory`] (cleared when the component
///    graph changes),
/// 2. steps the [`Detector`] (support windows, adaptation, workload-change watch, score),
/// 3. runs the [`CascadePredictor`] on the last `T` ticks with the detector's node scores,
/// 4. runs `policy.onnx` on the tick's features `x: [N, 19]`, the risks, the catalog's
///    [`tunable_vector`](catalog::tunable_vector) (the same function `lsmedic-bench record`
///    writes into traces) and the operator's weights, giving `q: [K, A, 3]` — the
///    per-objective values of every catalog action by each of K ensemble members (Q networks
///    fitted on bootstrap resamples of the data; K = 1 is a single network),
/// 5. scores each action `a` as `Σ_j w_j q_k[a][j]` per member `k` (the value is the members'
///    mean) and decides:
///    - with `learned.follow_rules` (safe policy improvement over the rules, in the spirit
///      of SPIBB): the rule policy's candidates of this tick come in; their best
///      (score > 0, mapped to its catalog entry by [`catalog::classify`]; none = `noop`) is
///      the *rules' choice* `r`. The best-valued action `b` possible now (`noop` or one the
///      catalog can instantiate under the guard's bounds) replaces it only when every member
///      values `b` above `r` by more than the deviation margin (`learned.deviation_margin`,
///      else the manifest's: the trained values' typical error; [`depart`]): `b = noop`
///      vetoes the rule action (nothing is proposed; only with `learned.allow_veto`:
///      otherwise the rules' actions are a safety floor the values may swap for another action
///      but not drop), another `b` is proposed instead
///      (score = the least gain, effect = the per-objective difference from `r`). Otherwise
///      the rules' candidates go to the guard unchanged. A rules' choice with no catalog
///      counterpart is always followed;
///    - without: proposes, best first, up to `learned.max_candidates` actions that are
///      possible now and beat `noop` by more than `learned.min_advantage` (score = the
///      advantage over `noop`, effect = the per-objective difference from `noop`).
///
/// Until `max(T, T')` ticks of history exist (again after a column family is added or
/// dropped) the rules' candidates pass unchanged (nothing is
/// proposed without `follow_rules`). Every tick leaves a
/// [`LearnedRecord`] — detector score, riskiest nodes, every action's values — that the
/// healer writes into the decision's audit entry.
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
    /// The deviation margin in force (config, else manifest, else 0).
    margin: f64,
    /// The rules' choice vetoed in the last tick, if any.
    vetoed: Option<String>,
    veto_edge: bool,
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
        let margin = config
            .deviation_margin
            .or(policy_section.deviation_margin)
            .unwrap_or(0.0);
        if !margin.is_finite() || margin < 0.0 {
            return Err(ModelError::Manifest {
                what: "learned set".into(),
                reason: format!(
                    "policy.deviation_margin must be a finite number >= 0, got {margin}"
                ),
            });
        }
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
            margin,
            vetoed: None,
            veto_edge: false,
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

    /// Whether the policy keeps to the rule policy's choices unless its values say otherwise
    /// (`learned.follow_rules`): then the healer passes the rules' candidates to
    /// [`try_propose`](Self::try_propose).
    pub fn follows_rules(&self) -> bool {
        self.config.follow_rules
    }

    /// The deviation margin in force (`learned.deviation_margin`, else the manifest's).
    pub fn deviation_margin(&self) -> f64 {
        self.margin
    }

    /// Whether the last tick began vetoing a rule action (a decision worth auditing although
    /// nothing is proposed; a veto repeated tick after tick is reported once).
    pub fn veto_edge(&self) -> bool {
        self.veto_edge
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

    /// One tick (see [`LearnedPolicy`]): candidates, or the model error. `rules`: the rule
    /// policy's candidates of this tick, to keep to unless the values say otherwise (`None`:
    /// the values alone decide).
    pub fn try_propose(
        &mut self,
        input: &PolicyInput<'_>,
        rules: Option<&[Candidate]>,
    ) -> Result<Vec<Candidate>, ModelError> {
        self.anomaly_edge = None;
        self.explanation = None;
        self.veto_edge = false;
        let passed = || rules.map(<[Candidate]>::to_vec).unwrap_or_default();
        if input.features.node_count() != input.graph.node_count() {
            self.vetoed = None;
            return Ok(passed());
        }
        let (detection, mut record) = self.detect(input)?;
        let ready = self.history.len() >= self.detector.params().window_ticks;
        let risk = if ready {
            self.predictor
                .predict(&self.history, input.graph, &detection.node_scores)?
        } else {
            None
        };
        let Some(risk) = risk else {
            self.explanation = Some(record);
            self.vetoed = None;
            return Ok(passed());
        };
        record.top_risks = top_risks(input.graph, &risk, self.config.top_risks);
        let values = self.values(input, &risk)?;
        let mut instances: Vec<Option<catalog::Instance>> = CatalogAction::ALL
            .iter()
            .map(|&entry| catalog::instantiate_with(input, entry, &self.guard))
            .collect();
        record.action_scores = values.action_scores(&instances);
        let context = explain_context(&record);
        let candidates = match rules {
            Some(rules) => {
                let (candidates, baseline) =
                    self.against_rules(rules, &values, &mut instances, &context);
                record.baseline = Some(baseline);
                candidates
            }
            None => {
                self.vetoed = None;
                self.values_alone(&values, &mut instances, &context)
            }
        };
        self.explanation = Some(record);
        Ok(candidates)
    }

    /// Adds the tick to the history and steps the detector: its output, and the record of
    /// what it saw (risks and values are filled in later).
    fn detect(
        &mut self,
        input: &PolicyInput<'_>,
    ) -> Result<(DetectorOutput, LearnedRecord), ModelError> {
        let graph = input.graph;
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
        let record = LearnedRecord {
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
            baseline: None,
        };
        Ok((detection, record))
    }

    /// Runs the policy network on the tick and weighs its values.
    fn values(
        &mut self,
        input: &PolicyInput<'_>,
        risk: &[f32],
    ) -> Result<ActionValues, ModelError> {
        let tunables = catalog::tunable_vector(input.tunables, input.baseline);
        let raw = self.run_policy(
            input.features.as_slice(),
            input.graph.node_count(),
            risk,
            &tunables,
            &input.weights,
        )?;
        let member_scores: Vec<Vec<f64>> = raw
            .chunks_exact(3 * ACTION_COUNT)
            .map(|member| weighted_scores(member, &input.weights))
            .collect();
        let q = mean_rows(&raw, 3 * ACTION_COUNT);
        let scores = weighted_scores(&q, &input.weights);
        Ok(ActionValues {
            q,
            scores,
            member_scores,
        })
    }

    /// Without the rules: the possible actions beating `noop` by more than the minimum
    /// advantage, best first, at most `max_candidates`.
    fn values_alone(
        &self,
        values: &ActionValues,
        instances: &mut [Option<catalog::Instance>],
        context: &str,
    ) -> Vec<Candidate> {
        let scores = &values.scores;
        let noop = scores[CatalogAction::Noop.index()];
        let mut ranked: Vec<usize> = (1..ACTION_COUNT)
            .filter(|&a| instances[a].is_some() && scores[a] - noop > self.config.min_advantage)
            .collect();
        ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        ranked.truncate(self.config.max_candidates);
        ranked
            .into_iter()
            .filter_map(|a| {
                let instance = instances[a].take()?;
                Some(learned_candidate(instance, a, 0, values, context))
            })
            .collect()
    }

    /// Keeps to the rules' choice unless the best possible action beats it by more than the
    /// margin (see [`LearnedPolicy`]): the candidates to propose and the record of the comparison.
    fn against_rules(
        &mut self,
        rules: &[Candidate],
        values: &ActionValues,
        instances: &mut [Option<catalog::Instance>],
        context: &str,
    ) -> (Vec<Candidate>, BaselineRecord) {
        let chosen = rules
            .iter()
            .filter(|c| c.score > 0.0)
            .max_by(|a, b| a.score.total_cmp(&b.score));
        let rules_choice = match chosen {
            None => Some(CatalogAction::Noop),
            Some(c) => catalog::classify(c.kind, &c.action),
        };
        let possible: Vec<bool> = (0..ACTION_COUNT)
            .map(|a| a == CatalogAction::Noop.index() || instances[a].is_some())
            .collect();
        let r = rules_choice.map(CatalogAction::index);
        let (best, gain, decision) = depart(
            r,
            &values.member_scores,
            &possible,
            self.margin,
            self.config.allow_veto,
        );
        let mut record = BaselineRecord {
            rules_choice: rules_choice.map(|c| c.name().to_owned()),
            rules_rule: chosen.map(|c| c.rule.clone()),
            best: CatalogAction::from_index(best)
                .map_or_else(|| format!("#{best}"), |c| c.name().to_owned()),
            gain,
            margin: self.margin,
            decision: BaselineDecision::Followed,
        };
        let (Some(r), BaselineDecision::Vetoed | BaselineDecision::Replaced) = (r, decision) else {
            self.vetoed = None;
            return (rules.to_vec(), record);
        };
        if decision == BaselineDecision::Vetoed {
            record.decision = decision;
            self.veto_edge = self.vetoed.as_deref() != record.rules_choice.as_deref();
            self.vetoed = record.rules_choice.clone();
            return (Vec::new(), record);
        }
        self.vetoed = None;
        let Some(instance) = instances[best].take() else {
            return (rules.to_vec(), record);
        };
        record.decision = decision;
        let context = format!(
            "{context}; replaces the rules' {} ({})",
            record.rules_choice.as_deref().unwrap_or("?"),
            record.rules_rule.as_deref().unwrap_or("nothing proposed"),
        );
        let mut candidate = learned_candidate(instance, best, r, values, &context);
        // Its score is the gain every member agrees on (what the margin was compared with).
        candidate.score = gain;
        (vec![candidate], record)
    }
}

/// The policy network's values of every catalog action in one tick.
struct ActionValues {
    /// The members' mean `q`, `[A × 3]` row-major.
    q: Vec<f32>,
    /// Weighted score of every action, from the mean `q`.
    scores: Vec<f64>,
    /// Weighted score of every action by each ensemble member.
    member_scores: Vec<Vec<f64>>,
}

impl ActionValues {
    /// Every action's values for the record; `instances[a]`: action `a` is possible now.
    fn action_scores(&self, instances: &[Option<catalog::Instance>]) -> Vec<ActionScore> {
        let q = &self.q;
        CatalogAction::ALL
            .iter()
            .map(|entry| {
                let a = entry.index();
                ActionScore {
                    index: a,
                    name: entry.name().to_owned(),
                    q: [q[3 * a], q[3 * a + 1], q[3 * a + 2]],
                    score: self.scores[a],
                    score_range: self
                        .member_scores
                        .iter()
                        .fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], m| {
                            [lo.min(m[a]), hi.max(m[a])]
                        }),
                    masked: a != 0 && instances[a].is_none(),
                }
            })
            .collect()
    }
}

/// The rule against the rules' choice (see [`LearnedPolicy`]), over the ensemble's weighted values
/// `members[k][a]`: `(best possible action by the members' mean, the smallest gain over the
/// rules' choice any member gives it, what to do)`. It departs only when the best action
/// differs from the rules' choice and *every* member values it higher by more than `margin`.
/// `rules_choice` `None` (no catalog counterpart) is followed; `possible[a]`: action `a` can be
/// proposed now (`noop` always); without `allow_veto` a rule action is never replaced by
/// `noop` (the best is then the best other action; the rules' own choice counts as possible).
pub fn depart(
    rules_choice: Option<usize>,
    members: &[Vec<f64>],
    possible: &[bool],
    margin: f64,
    allow_veto: bool,
) -> (usize, f64, BaselineDecision) {
    let noop = CatalogAction::Noop.index();
    let mean = mean_scores(members);
    let actions = mean.len();
    // Without vetoes a rule action can only be swapped for another action, never dropped.
    let noop_allowed = allow_veto || rules_choice.is_none_or(|r| r == noop);
    let best = (0..actions)
        .filter(|&a| {
            if a == noop {
                noop_allowed
            } else {
                possible.get(a).copied().unwrap_or(false)
            }
        })
        .chain(rules_choice.filter(|&r| r < actions))
        .max_by(|&a, &b| mean[a].total_cmp(&mean[b]).then(b.cmp(&a)))
        .unwrap_or(noop);
    let Some(r) = rules_choice.filter(|&r| r < actions) else {
        return (best, 0.0, BaselineDecision::Followed);
    };
    let gain = members
        .iter()
        .map(|m| m[best] - m[r])
        .fold(f64::INFINITY, f64::min);
    let beaten = gain.partial_cmp(&margin) == Some(std::cmp::Ordering::Greater);
    let decision = if best == r || !beaten {
        BaselineDecision::Followed
    } else if best == noop {
        BaselineDecision::Vetoed
    } else {
        BaselineDecision::Replaced
    };
    (best, if best == r { 0.0 } else { gain }, decision)
}

/// Element-wise mean of the rows of `width` values laid end to end in `data` (the ensemble
/// members' `q`).
fn mean_rows(data: &[f32], width: usize) -> Vec<f32> {
    let rows = data.chunks_exact(width).count().max(1);
    let mut out = vec![0.0f64; width];
    for row in data.chunks_exact(width) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += f64::from(v);
        }
    }
    out.into_iter().map(|v| (v / rows as f64) as f32).collect()
}

/// The members' mean weighted value of every action.
fn mean_scores(members: &[Vec<f64>]) -> Vec<f64> {
    let actions = members.iter().map(Vec::len).min().unwrap_or(0);
    (0..actions)
        .map(|a| members.iter().map(|m| m[a]).sum::<f64>() / members.len() as f64)
        .collect()
}

/// The candidate for catalog action `a`, scored and explained against action `reference`
/// (`noop`, or the rules' choice it replaces).
fn learned_candidate(
    instance: catalog::Instance,
    a: usize,
    reference: usize,
    values: &ActionValues,
    context: &str,
) -> Candidate {
    let (q, scores) = (&values.q, &values.scores);
    let delta = |j: usize| f64::from(q[3 * a + j] - q[3 * reference + j]);
    let reference_name = CatalogAction::from_index(reference).map_or("?", CatalogAction::name);
    Candidate {
        kind: instance.kind,
        action: instance.action,
        score: scores[a] - scores[reference],
        rule: format!("{LEARNED_POLICY}:{}", instance.entry.name()),
        reason: format!(
            "value {:.3} vs {reference_name} {:.3} (q latency {:.3}, throughput {:.3}, \
             resources {:.3}); {context}",
            scores[a],
            scores[reference],
            q[3 * a],
            q[3 * a + 1],
            q[3 * a + 2],
        ),
        effect: Effect::new(delta(0), delta(1), -delta(2)),
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
    let row = ACTION_COUNT * 3;
    if q.data.is_empty() || !q.data.len().is_multiple_of(row) {
        return Err(ModelError::Mismatch {
            model: names::POLICY.into(),
            what: "q size".into(),
            expected: format!("[K, {ACTION_COUNT}, 3], K >= 1"),
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

    /// The values alone decide here (no rule candidates to keep to); the healer calls
    /// [`LearnedPolicy::try_propose`] with them.
    fn propose(&mut self, input: &PolicyInput<'_>) -> Vec<Candidate> {
        match self.try_propose(input, None) {
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

    #[test]
    fn the_rules_choice_stands_unless_beaten_by_more_than_the_margin() {
        use BaselineDecision::{Followed, Replaced, Vetoed};
        // One member: noop 0.0, action 1 = 1.0, action 2 = 0.5, action 3 = 3.0 (never possible).
        let one = |s: [f64; 4]| vec![s.to_vec()];
        let scores = one([0.0, 1.0, 0.5, 3.0]);
        let possible = [true, true, true, false];
        // The rules chose action 2: action 1 beats it by 0.5.
        assert_eq!(
            depart(Some(2), &scores, &possible, 0.4, true),
            (1, 0.5, Replaced)
        );
        assert_eq!(
            depart(Some(2), &scores, &possible, 0.5, true),
            (1, 0.5, Followed)
        );
        // The rules chose the best possible action: followed, gain 0.
        assert_eq!(
            depart(Some(1), &scores, &possible, 0.0, true),
            (1, 0.0, Followed)
        );
        // An impossible action is never the replacement, however valuable.
        assert_eq!(
            depart(Some(0), &scores, &possible, 0.0, false),
            (1, 1.0, Replaced)
        );
        // noop best: the rule action is vetoed.
        let low = one([0.0, -1.0, -0.2, 3.0]);
        assert_eq!(
            depart(Some(2), &low, &possible, 0.1, true),
            (0, 0.2, Vetoed)
        );
        // Without vetoes the rule action stands (the best other action is worse than it).
        assert_eq!(
            depart(Some(2), &low, &possible, 0.1, false),
            (2, 0.0, Followed)
        );
        assert_eq!(
            depart(Some(2), &low, &possible, 0.2, true),
            (0, 0.2, Followed)
        );
        // No catalog counterpart: followed.
        assert_eq!(depart(None, &low, &possible, 0.0, true), (0, 0.0, Followed));
    }

    #[test]
    fn every_member_must_agree_on_a_departure() {
        use BaselineDecision::{Followed, Replaced};
        // By the mean, action 1 beats the rules' action 2 by 0.5; one member disagrees.
        let split = vec![vec![0.0, 2.0, 0.5], vec![0.0, 0.0, 0.5]];
        let possible = [true, true, true];
        let (best, gain, decision) = depart(Some(2), &split, &possible, 0.0, true);
        assert_eq!((best, decision), (1, Followed));
        assert!((gain - -0.5).abs() < 1e-12, "the least gain: {gain}");
        // Both agree (gains 1.0 and 0.25): it departs, credited with the smaller gain.
        let agree = vec![vec![0.0, 1.5, 0.5], vec![0.0, 0.75, 0.5]];
        assert_eq!(
            depart(Some(2), &agree, &possible, 0.2, false),
            (1, 0.25, Replaced)
        );
        assert_eq!(
            depart(Some(2), &agree, &possible, 0.25, false),
            (1, 0.25, Followed)
        );
    }

    #[test]
    fn member_rows_average() {
        assert_eq!(mean_rows(&[1.0, 2.0, 3.0, 4.0], 2), vec![2.0, 3.0]);
        assert_eq!(mean_rows(&[1.0, 2.0], 2), vec![1.0, 2.0]);
    }
}
