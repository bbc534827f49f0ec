//! Detection: the learned anomaly detector and its few-shot adaptation, run on the healer
//! thread each tick.
//!
//! This module owns
//! - [`FeatureHistory`]: the last ticks' feature matrices (`N × 19` each), from which the
//!   detector's window `[N, T', 19]` and the cascade predictor's history `[N, T, 19]` are cut
//!   (node-major, oldest tick first). It is cleared whenever the node count changes: windows
//!   never mix two component graphs.
//! - [`Detector`]: `detector_adapt.onnx` turns `K` support windows `[K, N, T', 19]` of normal
//!   traffic into the adapted head's state tensors (the inner loop of MAML/ANIL, unrolled in
//!   the graph); `detector.onnx` then scores each tick's window with that state into a
//!   per-node score and an overall anomaly probability. When it adapts, what counts as a
//!   support window and what as a workload change is on [`Detector`].
//!
//! The detector never acts and never blocks; model errors are returned to the caller (the
//! learned policy), which falls back to the rule policy.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::LearnedConfig;
use crate::features::{NodeFeatures, FEATURE_DIM};
use crate::model::{DetectorManifest, Model, ModelError, ModelOutput, TensorData};
use crate::observation::{Observation, Stall};

/// The last ticks' features, node-major windows on demand (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct FeatureHistory {
    nodes: usize,
    capacity: usize,
    ticks: VecDeque<Vec<f32>>,
}

impl FeatureHistory {
    /// A history keeping the last `capacity` ticks (at least 1).
    pub fn new(capacity: usize) -> FeatureHistory {
        FeatureHistory {
            nodes: 0,
            capacity: capacity.max(1),
            ticks: VecDeque::with_capacity(capacity.max(1)),
        }
    }

    /// Forgets every tick.
    pub fn clear(&mut self) {
        self.ticks.clear();
    }

    /// Appends one tick; a different node count than the ticks held clears them first.
    pub fn push(&mut self, features: &NodeFeatures) {
        self.push_rows(features.node_count(), features.as_slice());
    }

    /// Appends one tick given as row-major `[nodes, FEATURE_DIM]` values.
    ///
    /// # Panics
    /// When `values` is not `nodes × FEATURE_DIM` long (a caller bug).
    pub fn push_rows(&mut self, nodes: usize, values: &[f32]) {
        assert_eq!(values.len(), nodes * FEATURE_DIM, "one tick of features");
        if nodes != self.nodes {
            self.ticks.clear();
            self.nodes = nodes;
        }
        let mut row = if self.ticks.len() == self.capacity {
            self.ticks.pop_front().unwrap_or_default()
        } else {
            Vec::with_capacity(values.len())
        };
        row.clear();
        row.extend_from_slice(values);
        self.ticks.push_back(row);
    }

    /// Ticks held.
    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    /// Whether no tick is held.
    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    /// Node count of the ticks held.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Ticks kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The last tick, row-major `[N, FEATURE_DIM]`.
    pub fn last(&self) -> Option<&[f32]> {
        self.ticks.back().map(Vec::as_slice)
    }

    /// Writes the last `ticks` ticks into `out` as `[N, ticks, FEATURE_DIM]` (node-major,
    /// oldest first); `false` (and `out` untouched) when fewer are held.
    pub fn window(&self, ticks: usize, out: &mut Vec<f32>) -> bool {
        if ticks == 0 || self.ticks.len() < ticks {
            return false;
        }
        out.clear();
        out.resize(self.nodes * ticks * FEATURE_DIM, 0.0);
        let first = self.ticks.len() - ticks;
        for (t, tick) in self.ticks.range(first..).enumerate() {
            for node in 0..self.nodes {
                let src = &tick[node * FEATURE_DIM..(node + 1) * FEATURE_DIM];
                let at = (node * ticks + t) * FEATURE_DIM;
                out[at..at + FEATURE_DIM].copy_from_slice(src);
            }
        }
        true
    }
}

/// Why the detector (re)adapts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum AdaptReason {
    /// The healer started: the first windows of the workload.
    Start,
    /// `adapt_now()`.
    Requested,
    /// A confirmed workload change.
    WorkloadChange {
        /// L1 distance of the op mix from the reference, averaged over the confirming ticks.
        mix_shift: f64,
        /// Rate over the reference rate, averaged (geometric) over the confirming ticks.
        rate_ratio: f64,
    },
}

impl std::fmt::Display for AdaptReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdaptReason::Start => f.write_str("start"),
            AdaptReason::Requested => f.write_str("adapt_now"),
            AdaptReason::WorkloadChange {
                mix_shift,
                rate_ratio,
            } => write!(
                f,
                "workload change (op-mix shift {mix_shift:.2}, rate x{rate_ratio:.2})"
            ),
        }
    }
}

/// Something the detector did that belongs in the audit log.
#[derive(Clone, Debug, PartialEq)]
pub enum DetectorEvent {
    /// Started gathering support windows.
    AdaptationStarted {
        /// Why.
        reason: AdaptReason,
        /// Windows to gather.
        windows: usize,
    },
    /// A workload change was confirmed (an adaptation follows).
    WorkloadChange {
        /// Mean op-mix shift over the confirming ticks.
        mix_shift: f64,
        /// Mean (geometric) rate ratio over the confirming ticks.
        rate_ratio: f64,
        /// Ticks that confirmed it.
        ticks: u32,
    },
    /// `detector_adapt` ran and its state replaced the previous one.
    Adapted {
        /// Why.
        reason: AdaptReason,
        /// Support windows used (`K`).
        windows: usize,
        /// Nodes per window (`N`).
        nodes: usize,
        /// Wall time of the adaptation run, µs.
        micros: u64,
    },
}

impl std::fmt::Display for DetectorEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DetectorEvent::AdaptationStarted { reason, windows } => write!(
                f,
                "detector adaptation ({reason}): gathering {windows} normal windows"
            ),
            DetectorEvent::WorkloadChange {
                mix_shift,
                rate_ratio,
                ticks,
            } => write!(
                f,
                "workload change confirmed over {ticks} ticks: op-mix shift {mix_shift:.2}, \
                 rate x{rate_ratio:.2}"
            ),
            DetectorEvent::Adapted {
                reason,
                windows,
                nodes,
                micros,
            } => write!(
                f,
                "detector adapted ({reason}) on {windows} windows of {nodes} nodes in {micros} us"
            ),
        }
    }
}

/// Which head state the detector scores with.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadState {
    /// No state yet (no `initial_state`, not adapted): no scores.
    #[default]
    Silent,
    /// The manifest's meta-learned initial state.
    Initial,
    /// A state adapted at run time.
    Adapted,
}

/// What the detector concluded in one tick.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectorOutput {
    /// Anomaly probability, `None` while silent or before a full window.
    pub score: Option<f32>,
    /// Per-node scores (`N` values, 0 when there is no score).
    pub node_scores: Vec<f32>,
    /// `score >= threshold`.
    pub anomalous: bool,
    /// The state the score came from.
    pub head: HeadState,
}

/// The detector's parameters (from the manifest, `K` possibly overridden by the config).
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorParams {
    /// Window length `T'`.
    pub window_ticks: usize,
    /// Support windows `K`.
    pub support_windows: usize,
    /// Ticks between window starts `S`.
    pub stride_ticks: usize,
    /// Anomaly threshold on `score`.
    pub threshold: f32,
    /// State tensor names, in order.
    pub state: Vec<String>,
}

impl DetectorParams {
    /// From a manifest's `detector` section and the config.
    pub fn new(manifest: &DetectorManifest, config: &LearnedConfig) -> DetectorParams {
        DetectorParams {
            window_ticks: manifest.window_ticks,
            support_windows: config.support_windows.unwrap_or(manifest.support_windows),
            stride_ticks: manifest
                .support_stride_ticks
                .unwrap_or(manifest.window_ticks),
            threshold: manifest.threshold,
            state: manifest.state.clone(),
        }
    }
}

/// A workload's signature: op mix and rate (see [`Detector`]).
#[derive(Copy, Clone, Debug, Default, PartialEq)]
struct Signature {
    /// Fractions of puts (writes that are not deletes), deletes, gets, scans.
    mix: [f64; 4],
    /// `ln(total ops/s)`.
    ln_rate: f64,
}

impl Signature {
    fn of(observation: &Observation) -> Option<Signature> {
        let g = &observation.global;
        let total = g.write_ops_per_sec + g.read_ops_per_sec;
        if total <= 0.0 {
            return None;
        }
        let deletes: f64 = observation.cfs.iter().map(|c| c.delete_ops_per_sec).sum();
        let scans: f64 = observation.cfs.iter().map(|c| c.scan_ops_per_sec).sum();
        let deletes = deletes.min(g.write_ops_per_sec);
        let scans = scans.min(g.read_ops_per_sec);
        Some(Signature {
            mix: [
                (g.write_ops_per_sec - deletes) / total,
                deletes / total,
                (g.read_ops_per_sec - scans) / total,
                scans / total,
            ],
            ln_rate: total.ln(),
        })
    }

    fn mix_distance(&self, other: &Signature) -> f64 {
        self.mix
            .iter()
            .zip(&other.mix)
            .map(|(a, b)| (a - b).abs())
            .sum()
    }
}

/// Running mean of signatures.
#[derive(Copy, Clone, Debug, Default)]
struct SignatureMean {
    sum: Signature,
    count: u64,
}

impl SignatureMean {
    fn add(&mut self, s: &Signature) {
        for (acc, v) in self.sum.mix.iter_mut().zip(&s.mix) {
            *acc += v;
        }
        self.sum.ln_rate += s.ln_rate;
        self.count += 1;
    }

    fn mean(&self) -> Option<Signature> {
        (self.count > 0).then(|| {
            let n = self.count as f64;
            Signature {
                mix: self.sum.mix.map(|v| v / n),
                ln_rate: self.sum.ln_rate / n,
            }
        })
    }
}

/// Whether a tick may be part of a support window (and is comparable for the workload
/// monitor); see [`Detector`].
pub fn is_support_tick(observation: &Observation, min_ops_per_sec: f64) -> bool {
    let g = &observation.global;
    g.ops_per_sec >= min_ops_per_sec.max(f64::MIN_POSITIVE)
        && g.worst_stall == Stall::Normal
        && g.stall_fraction < 0.01
        && g.op_errors == 0
        && g.background_errors == 0
        && g.unattributed_corruption_signals == 0
        && g.write_rate_limit.is_none()
        && observation.cfs.iter().all(|cf| {
            cf.stall == Stall::Normal
                && cf.op_errors == 0
                && cf.corruption_signals == 0
                && cf.write_rate_limit.is_none()
        })
}

/// Confirms workload changes against the signature the detector adapted to.
#[derive(Clone, Debug, Default)]
struct WorkloadMonitor {
    reference: Option<Signature>,
    streak: u32,
    streak_shift: f64,
    streak_ln_ratio: f64,
}

impl WorkloadMonitor {
    fn set_reference(&mut self, reference: Option<Signature>) {
        self.reference = reference;
        self.streak = 0;
        self.streak_shift = 0.0;
        self.streak_ln_ratio = 0.0;
    }

    /// Feeds one comparable tick; returns `(mean shift, mean rate ratio, ticks)` when a
    /// change is confirmed (and forgets the reference: the next adaptation sets it).
    fn observe(
        &mut self,
        signature: &Signature,
        config: &LearnedConfig,
    ) -> Option<(f64, f64, u32)> {
        let reference = self.reference?;
        let shift = signature.mix_distance(&reference);
        let ln_ratio = signature.ln_rate - reference.ln_rate;
        let differs = shift >= config.workload_mix_shift
            || ln_ratio.abs() >= config.workload_rate_factor.ln();
        if !differs {
            self.streak = 0;
            self.streak_shift = 0.0;
            self.streak_ln_ratio = 0.0;
            return None;
        }
        self.streak += 1;
        self.streak_shift += shift;
        self.streak_ln_ratio += ln_ratio;
        if self.streak < config.workload_change_ticks {
            return None;
        }
        let n = f64::from(self.streak);
        let confirmed = (
            self.streak_shift / n,
            (self.streak_ln_ratio / n).exp(),
            self.streak,
        );
        self.set_reference(None);
        Some(confirmed)
    }
}

/// Support windows being gathered for an adaptation.
#[derive(Clone, Debug)]
struct Gathering {
    reason: AdaptReason,
    nodes: usize,
    /// `[K, N, T', 19]`, windows appended as taken.
    stack: Vec<f32>,
    windows: usize,
    /// Consecutive support ticks up to now.
    run: usize,
    /// Ticks since the last window was taken (`None` before the first).
    since_last: Option<usize>,
    signature: SignatureMean,
}

impl Gathering {
    fn new(reason: AdaptReason) -> Gathering {
        Gathering {
            reason,
            nodes: 0,
            stack: Vec::new(),
            windows: 0,
            run: 0,
            since_last: None,
            signature: SignatureMean::default(),
        }
    }

    fn restart(&mut self, nodes: usize) {
        self.nodes = nodes;
        self.stack.clear();
        self.windows = 0;
        self.run = 0;
        self.since_last = None;
        self.signature = SignatureMean::default();
    }
}

/// The learned detector with its adaptation.
///
/// # When the detector adapts
/// - at start: on the first `K` support windows (`K` = the manifest's
///   `detector.support_windows` or `learned.support_windows`);
/// - on [`Detector::request_adaptation`] (`HealerHandle::adapt_now`): on the next `K` windows;
/// - on a confirmed workload change (below).
///
/// Until the first adaptation finishes the detector scores with the manifest's
/// `initial_state` (the meta-learned, un-adapted head) if there is one, else it is silent
/// (no score; node scores 0). During a re-adaptation the previous state keeps scoring.
///
/// # Support windows
/// A support window is `T'` consecutive *support ticks*: ticks with some traffic
/// (`learned.min_ops_per_sec`), no RocksDB write stall (stall condition normal and less than
/// 1 % of the tick stalled), no failed operation, no background error or corruption report,
/// and no lsmedic write throttle engaged. Any other tick breaks the window being gathered.
/// Successive windows start `S` ticks apart (`detector.support_stride_ticks`, by default `T'`:
/// no overlap). The detector never sees labels: "normal" is this conservative proxy.
///
/// # Workload change
/// Each comparable tick (a support tick) has a signature: the op mix (fractions of puts,
/// deletes, gets and scans among completed ops) and the total rate. The signatures of the
/// support ticks an adaptation was gathered on are averaged into the *reference*. A tick
/// *differs* when the L1 distance of its mix from the reference is at least
/// `learned.workload_mix_shift` or its rate is `learned.workload_rate_factor` times
/// higher or lower. A change is *confirmed* after `learned.workload_change_ticks`
/// consecutive differing comparable ticks; a comparable tick that does not differ resets
/// the count, a non-comparable one (a stall, a throttle, idle) leaves it alone — so stalls and
/// the healer's own throttling, which move the rate, are never taken for a new workload.
#[derive(Debug)]
pub struct Detector {
    adapt: Model,
    detect: Model,
    params: DetectorParams,
    config: LearnedConfig,
    initial: Option<Vec<ModelOutput>>,
    adapted: Option<Vec<ModelOutput>>,
    gathering: Option<Gathering>,
    monitor: WorkloadMonitor,
    adaptations: u64,
    window: Vec<f32>,
}

impl Detector {
    /// A detector over the two sessions; `initial` is the manifest's `initial_state` (checked
    /// against the state names and the shapes `detector` expects). It starts gathering
    /// support windows for its first adaptation.
    pub fn new(
        adapt: Model,
        detect: Model,
        params: DetectorParams,
        initial: Option<BTreeMap<String, TensorData>>,
        config: &LearnedConfig,
    ) -> Result<Detector, ModelError> {
        let initial = match initial {
            None => None,
            Some(mut tensors) => {
                let mut state = Vec::with_capacity(params.state.len());
                for (index, name) in params.state.iter().enumerate() {
                    let tensor = tensors.remove(name).ok_or_else(|| ModelError::Manifest {
                        what: "detector.initial_state".into(),
                        reason: format!("state tensor {name} missing"),
                    })?;
                    let wanted = &detect.spec().inputs[1 + index].shape;
                    let len: i64 = tensor.shape.iter().product();
                    if &tensor.shape != wanted || len != tensor.data.len() as i64 {
                        return Err(ModelError::Mismatch {
                            model: detect.spec().name.clone(),
                            what: format!("initial state {name}"),
                            expected: format!("shape {wanted:?}"),
                            found: format!(
                                "shape {:?} with {} values",
                                tensor.shape,
                                tensor.data.len()
                            ),
                        });
                    }
                    state.push(ModelOutput {
                        name: name.clone(),
                        shape: tensor.shape,
                        data: tensor.data,
                    });
                }
                if let Some(extra) = tensors.keys().next() {
                    return Err(ModelError::Manifest {
                        what: "detector.initial_state".into(),
                        reason: format!("{extra} is not a state tensor of the manifest"),
                    });
                }
                Some(state)
            }
        };
        Ok(Detector {
            adapt,
            detect,
            params,
            config: config.clone(),
            initial,
            adapted: None,
            gathering: Some(Gathering::new(AdaptReason::Start)),
            monitor: WorkloadMonitor::default(),
            adaptations: 0,
            window: Vec::new(),
        })
    }

    /// Its parameters.
    pub fn params(&self) -> &DetectorParams {
        &self.params
    }

    /// Adaptations finished so far.
    pub fn adaptations(&self) -> u64 {
        self.adaptations
    }

    /// Whether support windows are being gathered, and how many are in.
    pub fn gathering(&self) -> Option<usize> {
        self.gathering.as_ref().map(|g| g.windows)
    }

    /// The state scores come from (adapted, else initial).
    pub fn state(&self) -> Option<&[ModelOutput]> {
        self.adapted.as_deref().or(self.initial.as_deref())
    }

    /// Which state that is.
    pub fn head(&self) -> HeadState {
        if self.adapted.is_some() {
            HeadState::Adapted
        } else if self.initial.is_some() {
            HeadState::Initial
        } else {
            HeadState::Silent
        }
    }

    /// Starts gathering `K` fresh support windows (dropping any being gathered); the current
    /// state keeps scoring until the adaptation finishes.
    pub fn request_adaptation(&mut self, reason: AdaptReason) -> DetectorEvent {
        self.gathering = Some(Gathering::new(reason.clone()));
        self.monitor.set_reference(None);
        DetectorEvent::AdaptationStarted {
            reason,
            windows: self.params.support_windows,
        }
    }

    /// Runs `detector_adapt` on a support stack `[k, nodes, T', 19]` (row-major) and keeps
    /// the resulting state.
    pub fn adapt(&mut self, support: &[f32], k: usize, nodes: usize) -> Result<(), ModelError> {
        let shape = [
            k as i64,
            nodes as i64,
            self.params.window_ticks as i64,
            FEATURE_DIM as i64,
        ];
        let outputs = self.adapt.run(&[("support", &shape, support)])?;
        for (output, name) in outputs.iter().zip(&self.params.state) {
            if output.name != *name || output.data.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::Ort {
                    model: self.adapt.spec().name.clone(),
                    message: format!("state {name} is missing or not finite"),
                });
            }
        }
        self.adapted = Some(outputs);
        self.adaptations += 1;
        Ok(())
    }

    /// Runs `detector` on one window `[nodes, T', 19]` with the current state:
    /// `(score, node scores)`, `None` while silent.
    pub fn score(
        &mut self,
        window: &[f32],
        nodes: usize,
    ) -> Result<Option<(f32, Vec<f32>)>, ModelError> {
        let state = match (&self.adapted, &self.initial) {
            (Some(state), _) | (None, Some(state)) => state,
            (None, None) => return Ok(None),
        };
        let shape = [
            nodes as i64,
            self.params.window_ticks as i64,
            FEATURE_DIM as i64,
        ];
        let mut inputs: Vec<(&str, &[i64], &[f32])> = Vec::with_capacity(1 + state.len());
        inputs.push(("window", &shape, window));
        for tensor in state {
            inputs.push((&tensor.name, &tensor.shape, &tensor.data));
        }
        let mut outputs = self.detect.run(&inputs)?;
        let model = || self.detect.spec().name.clone();
        let score = outputs.pop().ok_or_else(|| ModelError::Ort {
            model: model(),
            message: "no score output".into(),
        })?;
        let node_scores = outputs.pop().ok_or_else(|| ModelError::Ort {
            model: model(),
            message: "no node_score output".into(),
        })?;
        if node_scores.data.len() != nodes || score.data.len() != 1 {
            return Err(ModelError::Mismatch {
                model: model(),
                what: "output sizes".into(),
                expected: format!("node_score [{nodes}], score [1]"),
                found: format!("{:?}, {:?}", node_scores.shape, score.shape),
            });
        }
        let value = score.data[0];
        if !value.is_finite() || node_scores.data.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Ort {
                model: model(),
                message: "non-finite score".into(),
            });
        }
        Ok(Some((value, node_scores.data)))
    }

    /// One tick: gathers support windows (adapting when `K` are in), watches for a workload
    /// change, and scores the newest window. `history` must already hold this tick.
    pub fn step(
        &mut self,
        history: &FeatureHistory,
        observation: &Observation,
        events: &mut Vec<DetectorEvent>,
    ) -> Result<DetectorOutput, ModelError> {
        let nodes = history.node_count();
        let support = is_support_tick(observation, self.config.min_ops_per_sec);
        let signature = if support {
            Signature::of(observation)
        } else {
            None
        };
        let t = self.params.window_ticks;
        if let Some(gathering) = self.gathering.as_mut() {
            if gathering.nodes != nodes {
                gathering.restart(nodes);
            }
            gathering.since_last = gathering.since_last.map(|n| n + 1);
            gathering.run = if support { gathering.run + 1 } else { 0 };
            if let Some(signature) = &signature {
                gathering.signature.add(signature);
            }
            let due = gathering
                .since_last
                .is_none_or(|n| n >= self.params.stride_ticks);
            if gathering.run >= t && due && history.window(t, &mut self.window) {
                gathering.stack.extend_from_slice(&self.window);
                gathering.windows += 1;
                gathering.since_last = Some(0);
            }
            if gathering.windows >= self.params.support_windows {
                let Some(gathering) = self.gathering.take() else {
                    unreachable!("checked above")
                };
                let started = Instant::now();
                if let Err(err) = self.adapt(&gathering.stack, gathering.windows, gathering.nodes) {
                    // Try again on fresh windows rather than never adapt again.
                    self.gathering = Some(Gathering::new(gathering.reason));
                    return Err(err);
                }
                self.monitor.set_reference(gathering.signature.mean());
                events.push(DetectorEvent::Adapted {
                    reason: gathering.reason,
                    windows: gathering.windows,
                    nodes: gathering.nodes,
                    micros: started.elapsed().as_micros() as u64,
                });
            }
        } else if let Some(signature) = &signature {
            if let Some((mix_shift, rate_ratio, ticks)) =
                self.monitor.observe(signature, &self.config)
            {
                events.push(DetectorEvent::WorkloadChange {
                    mix_shift,
                    rate_ratio,
                    ticks,
                });
                events.push(self.request_adaptation(AdaptReason::WorkloadChange {
                    mix_shift,
                    rate_ratio,
                }));
            }
        }

        let mut output = DetectorOutput {
            score: None,
            node_scores: vec![0.0; nodes],
            anomalous: false,
            head: self.head(),
        };
        let mut window = std::mem::take(&mut self.window);
        if history.window(t, &mut window) {
            if let Some((score, node_scores)) = self.score(&window, nodes)? {
                output.score = Some(score);
                output.anomalous = score >= self.params.threshold;
                output.node_scores = node_scores;
            }
        }
        self.window = window;
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::CfObservation;

    fn rows(nodes: usize, value: f32) -> Vec<f32> {
        vec![value; nodes * FEATURE_DIM]
    }

    #[test]
    fn history_windows_are_node_major_oldest_first_and_reset_on_a_new_graph() {
        let mut history = FeatureHistory::new(3);
        let mut out = Vec::new();
        assert!(!history.window(1, &mut out));
        for tick in 0..4 {
            let mut values = rows(2, 0.0);
            for node in 0..2 {
                values[node * FEATURE_DIM] = (tick * 10 + node) as f32;
            }
            history.push_rows(2, &values);
        }
        assert_eq!(history.len(), 3, "capacity");
        assert!(history.window(2, &mut out));
        assert_eq!(out.len(), 2 * 2 * FEATURE_DIM);
        // node 0: ticks 2, 3; node 1: ticks 2, 3.
        let firsts: Vec<f32> = out.chunks(FEATURE_DIM).map(|r| r[0]).collect();
        assert_eq!(firsts, vec![20.0, 30.0, 21.0, 31.0]);
        assert!(!history.window(4, &mut out));
        history.push_rows(3, &rows(3, 1.0));
        assert_eq!(history.len(), 1, "a new node count starts over");
        assert_eq!(history.node_count(), 3);
    }

    fn observation(writes: f64, reads: f64) -> Observation {
        let mut obs = Observation {
            cfs: vec![CfObservation::default()],
            ..Observation::default()
        };
        obs.global.write_ops_per_sec = writes;
        obs.global.read_ops_per_sec = reads;
        obs.global.ops_per_sec = writes + reads;
        obs
    }

    #[test]
    fn support_ticks_exclude_stalls_errors_throttles_and_idle() {
        assert!(is_support_tick(&observation(100.0, 100.0), 1.0));
        assert!(!is_support_tick(&observation(0.0, 0.0), 1.0));
        let mut stalled = observation(100.0, 0.0);
        stalled.cfs[0].stall = Stall::Delayed;
        assert!(!is_support_tick(&stalled, 1.0));
        let mut throttled = observation(100.0, 0.0);
        throttled.cfs[0].write_rate_limit = Some(1 << 20);
        assert!(!is_support_tick(&throttled, 1.0));
        let mut failing = observation(100.0, 0.0);
        failing.global.op_errors = 1;
        assert!(!is_support_tick(&failing, 1.0));
    }

    #[test]
    fn workload_change_needs_a_sustained_shift() {
        let config = LearnedConfig {
            workload_change_ticks: 5,
            ..LearnedConfig::default()
        };
        let mut monitor = WorkloadMonitor::default();
        let write_heavy = Signature::of(&observation(900.0, 100.0)).expect("signature");
        let read_heavy = Signature::of(&observation(100.0, 900.0)).expect("signature");
        let faster = Signature::of(&observation(9000.0, 1000.0)).expect("signature");
        assert!(
            monitor.observe(&read_heavy, &config).is_none(),
            "no reference"
        );
        monitor.set_reference(Some(write_heavy));
        for _ in 0..4 {
            assert!(monitor.observe(&read_heavy, &config).is_none());
        }
        // One tick like the reference resets the streak.
        assert!(monitor.observe(&write_heavy, &config).is_none());
        for _ in 0..4 {
            assert!(monitor.observe(&read_heavy, &config).is_none());
        }
        let (shift, ratio, ticks) = monitor
            .observe(&read_heavy, &config)
            .expect("confirmed after 5");
        assert!((shift - 1.6).abs() < 1e-9, "{shift}");
        assert!((ratio - 1.0).abs() < 1e-9, "{ratio}");
        assert_eq!(ticks, 5);
        // A pure rate change (x10) with the same mix is a change too.
        monitor.set_reference(Some(write_heavy));
        let mut confirmed = None;
        for _ in 0..5 {
            confirmed = monitor.observe(&faster, &config);
        }
        let (shift, ratio, _) = confirmed.expect("rate change");
        assert!(
            shift < 1e-9 && (ratio - 10.0).abs() < 1e-6,
            "{shift} {ratio}"
        );
    }
}
