//! Features: one fixed-length vector per component-graph node per tick, with a versioned
//! schema and running normalisation. This is the one definition of the models' inputs:
//! `lsmedic-bench record` and the training pipeline use the same [`feature_schema`], and a
//! model whose manifest names another [`FEATURE_SCHEMA_VERSION`] is refused.
//!
//! # Layout (schema version 1)
//!
//! A node's vector is `[one-hot(node kind) (11) | values (8)]`, [`FEATURE_DIM`] = 19 floats.
//! The meaning of the value slots depends on the node kind ([`feature_names`]); unused slots
//! are 0. Values named `log_*` are `ln(1 + x)` of a non-negative quantity; ratios are raw.
//!
//! # Normalisation
//!
//! Each (node kind, slot) has a running mean and variance (Welford), shared by all column
//! families so that a new column family is normalised from the start. A value is turned into
//! a z-score against the statistics *before* it is added (an anomaly does not dampen its own
//! score), clipped to ±[`Z_CLIP`]. Until a slot has seen two values its z-score is 0. The
//! one-hot part is not normalised. [`FeatureExtractor::freeze`] stops the updates (for
//! models that ship their own normalisation constants).

use serde::{Deserialize, Serialize};

use crate::graph::{ComponentGraph, NodeKind};
use crate::observation::{CfObservation, Observation, Stall};

/// Version of the feature layout; bump on any change of names, order or transforms.
pub const FEATURE_SCHEMA_VERSION: u32 = 1;

/// Value slots per node.
pub const VALUE_SLOTS: usize = 8;

/// Floats per node: one-hot kind + value slots.
pub const FEATURE_DIM: usize = NodeKind::COUNT + VALUE_SLOTS;

/// z-scores are clipped to ±this.
pub const Z_CLIP: f32 = 5.0;

/// Names of the value slots of a node kind, in slot order (at most [`VALUE_SLOTS`]).
pub fn feature_names(kind: NodeKind) -> &'static [&'static str] {
    match kind {
        NodeKind::WritePath => &[
            "log_write_ops_per_sec",
            "log_write_bytes_per_sec",
            "log_write_p50_us",
            "log_write_p99_us",
            "log_throttled",
            "throttle_engaged",
            "log_op_errors",
            "log_dropped_ops",
        ],
        NodeKind::Wal => &["log_wal_bytes_per_sec", "log_wal_syncs_per_sec"],
        NodeKind::StallController => &[
            "stall_fraction",
            "worst_stall",
            "stall_changes",
            "stalled_cf_fraction",
            "log_delayed_write_rate",
            "max_l0_slowdown_ratio",
            "max_pending_ratio",
            "max_memtable_ratio",
        ],
        NodeKind::BlockCache => &[
            "hit_ratio",
            "log_lookups_per_sec",
            "usage_ratio",
            "log_capacity",
            "pinned_ratio",
            "memtable_hit_ratio",
        ],
        NodeKind::ReadPath => &[
            "log_read_ops_per_sec",
            "log_get_p50_us",
            "log_get_p99_us",
            "log_scan_p99_us",
            "not_found_ratio",
            "log_op_errors",
        ],
        NodeKind::BackgroundThreads => &[
            "max_background_jobs",
            "background_threads_low",
            "background_threads_high",
            "running_compactions",
            "running_flushes",
            "log_compaction_bytes_per_sec",
            "log_flush_bytes_per_sec",
            "max_subcompactions",
        ],
        NodeKind::Memtable => &[
            "memtable_fill",
            "immutable_ratio",
            "tombstone_ratio",
            "log_write_bytes_per_sec",
            "log_write_ops_per_sec",
            "log_write_buffer_size",
            "max_write_buffer_number",
            "memtables_sealed_per_sec",
        ],
        NodeKind::Flush => &[
            "flush_pending",
            "flushes_per_sec",
            "log_flush_bytes_per_sec",
            "immutable_memtables",
            "running_flushes",
            "background_threads_high",
        ],
        NodeKind::L0 => &[
            "l0_files",
            "l0_slowdown_ratio",
            "l0_stop_ratio",
            "l0_compaction_ratio",
            "stall",
        ],
        NodeKind::Compaction => &[
            "log_pending_bytes",
            "pending_ratio",
            "pending_hard_ratio",
            "compaction_pending",
            "compactions_per_sec",
            "log_compaction_input_bytes_per_sec",
            "compactions_failed",
            "running_compactions",
        ],
        NodeKind::Levels => &[
            "log_live_sst_bytes",
            "log_files_below_l0",
            "log_estimate_num_keys",
            "log_read_ops_per_sec",
            "log_scan_ops_per_sec",
            "log_delete_ops_per_sec",
            "op_errors",
            "corruption_signals",
        ],
    }
}

/// The feature schema as data (what a model manifest records and checks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// [`FEATURE_SCHEMA_VERSION`].
    pub version: u32,
    /// [`FEATURE_DIM`].
    pub dim: usize,
    /// Node kinds in one-hot order, each with its value-slot names.
    pub node_kinds: Vec<NodeKindSchema>,
}

/// One node kind of the schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeKindSchema {
    /// Kind name.
    pub kind: String,
    /// Whether one node exists per column family.
    pub per_cf: bool,
    /// Value-slot names.
    pub features: Vec<String>,
}

/// The current schema.
pub fn feature_schema() -> FeatureSchema {
    FeatureSchema {
        version: FEATURE_SCHEMA_VERSION,
        dim: FEATURE_DIM,
        node_kinds: NodeKind::ALL
            .iter()
            .map(|&kind| NodeKindSchema {
                kind: kind.name().to_owned(),
                per_cf: kind.is_per_cf(),
                features: feature_names(kind)
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
            })
            .collect(),
    }
}

fn ln1p(value: f64) -> f32 {
    value.max(0.0).ln_1p() as f32
}

fn stall_value(stall: Stall) -> f32 {
    match stall {
        Stall::Normal => 0.0,
        Stall::Delayed => 0.5,
        Stall::Stopped => 1.0,
    }
}

fn safe_ratio(value: f64, reference: f64) -> f32 {
    if reference > 0.0 {
        (value / reference) as f32
    } else {
        0.0
    }
}

/// Running mean and variance (Welford's algorithm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Welford {
    /// Values seen.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Sum of squared deviations.
    pub m2: f64,
}

impl Welford {
    /// Adds one value.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
    }

    /// Sample variance (0 before two values).
    pub fn variance(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            self.m2 / (self.count - 1) as f64
        }
    }

    /// Clipped z-score of `value` (0 before two values; a constant slot scores 0 unless the
    /// value moved, then ±clip).
    pub fn z_score(&self, value: f64) -> f32 {
        if self.count < 2 || !value.is_finite() {
            return 0.0;
        }
        let std = self.variance().sqrt();
        let diff = value - self.mean;
        let z = if std > 1e-9 {
            diff / std
        } else if diff.abs() < 1e-9 {
            0.0
        } else {
            diff.signum() * f64::from(Z_CLIP)
        };
        (z as f32).clamp(-Z_CLIP, Z_CLIP)
    }
}

/// Feature vectors of one tick: `node_count × FEATURE_DIM` normalised floats, plus the raw
/// values (`node_count × VALUE_SLOTS`) they came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeFeatures {
    nodes: usize,
    raw: Vec<f32>,
    values: Vec<f32>,
}

impl NodeFeatures {
    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Normalised vector of node `index` ([`FEATURE_DIM`] floats).
    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * FEATURE_DIM..(index + 1) * FEATURE_DIM]
    }

    /// Raw values of node `index` ([`VALUE_SLOTS`] floats).
    pub fn raw_row(&self, index: usize) -> &[f32] {
        &self.raw[index * VALUE_SLOTS..(index + 1) * VALUE_SLOTS]
    }

    /// All normalised vectors, row-major `[node_count, FEATURE_DIM]` (a model's input).
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }

    /// Shape of [`as_slice`](Self::as_slice).
    pub fn shape(&self) -> [usize; 2] {
        [self.nodes, FEATURE_DIM]
    }
}

/// Builds [`NodeFeatures`] from observations, keeping the running normalisation.
#[derive(Clone, Debug)]
pub struct FeatureExtractor {
    stats: Vec<Welford>,
    frozen: bool,
}

impl Default for FeatureExtractor {
    fn default() -> Self {
        FeatureExtractor::new()
    }
}

impl FeatureExtractor {
    /// An extractor with empty statistics.
    pub fn new() -> FeatureExtractor {
        FeatureExtractor {
            stats: vec![Welford::default(); NodeKind::COUNT * VALUE_SLOTS],
            frozen: false,
        }
    }

    /// Stops updating the statistics.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Running statistics of a (kind, slot).
    pub fn statistics(&self, kind: NodeKind, slot: usize) -> Option<Welford> {
        (slot < VALUE_SLOTS).then(|| self.stats[kind.index() * VALUE_SLOTS + slot])
    }

    /// Fills `out` with the features of `observation` on `graph` (reusing its buffers).
    pub fn extract(
        &mut self,
        graph: &ComponentGraph,
        observation: &Observation,
        out: &mut NodeFeatures,
    ) {
        let n = graph.node_count();
        out.nodes = n;
        out.raw.clear();
        out.raw.resize(n * VALUE_SLOTS, 0.0);
        out.values.clear();
        out.values.resize(n * FEATURE_DIM, 0.0);
        let empty = CfObservation::default();
        for (index, node) in graph.nodes().iter().enumerate() {
            let raw = &mut out.raw[index * VALUE_SLOTS..(index + 1) * VALUE_SLOTS];
            match node.cf {
                Some(cf) => {
                    let name = &graph.cfs()[cf];
                    let cf_obs = observation.cf(name).unwrap_or(&empty);
                    cf_values(node.kind, cf_obs, observation, raw);
                }
                None => global_values(node.kind, observation, raw),
            }
            let row = &mut out.values[index * FEATURE_DIM..(index + 1) * FEATURE_DIM];
            row[node.kind.index()] = 1.0;
            let used = feature_names(node.kind).len();
            for slot in 0..used {
                let stat = &mut self.stats[node.kind.index() * VALUE_SLOTS + slot];
                let value = f64::from(raw[slot]);
                row[NodeKind::COUNT + slot] = stat.z_score(value);
                if !self.frozen {
                    stat.add(value);
                }
            }
        }
    }
}

fn global_values(kind: NodeKind, obs: &Observation, raw: &mut [f32]) {
    let g = &obs.global;
    let us = |ns: u64| ns as f64 / 1e3;
    match kind {
        NodeKind::WritePath => {
            let throttled = g.write_rate_limit.is_some()
                || obs.cfs.iter().any(|cf| cf.write_rate_limit.is_some());
            raw[0] = ln1p(g.write_ops_per_sec);
            raw[1] = ln1p(g.write_bytes_per_sec);
            raw[2] = ln1p(g.write_latency.map_or(0.0, |p| us(p.p50_ns)));
            raw[3] = ln1p(g.write_latency.map_or(0.0, |p| us(p.p99_ns)));
            raw[4] = ln1p(g.throttled as f64);
            raw[5] = f32::from(u8::from(throttled));
            raw[6] = ln1p(g.op_errors as f64);
            raw[7] = ln1p(g.dropped_ops as f64);
        }
        NodeKind::Wal => {
            raw[0] = ln1p(g.wal_bytes_per_sec);
            raw[1] = ln1p(g.wal_syncs_per_sec);
        }
        NodeKind::StallController => {
            let n = obs.cfs.len().max(1) as f32;
            let stalled = obs
                .cfs
                .iter()
                .filter(|cf| cf.stall != Stall::Normal)
                .count() as f32;
            let max =
                |f: fn(&CfObservation) -> f64| obs.cfs.iter().map(f).fold(0.0f64, f64::max) as f32;
            raw[0] = g.stall_fraction as f32;
            raw[1] = stall_value(g.worst_stall);
            raw[2] = g.stall_changes as f32;
            raw[3] = stalled / n;
            raw[4] = ln1p(g.delayed_write_rate as f64);
            raw[5] = max(CfObservation::l0_slowdown_ratio);
            raw[6] = max(CfObservation::pending_ratio);
            raw[7] = max(CfObservation::memtable_ratio);
        }
        NodeKind::BlockCache => {
            let lookups = g.block_cache_hits_per_sec + g.block_cache_misses_per_sec;
            raw[0] = g.block_cache_hit_ratio.unwrap_or(0.0) as f32;
            raw[1] = ln1p(lookups);
            raw[2] = safe_ratio(g.block_cache_usage as f64, g.block_cache_capacity as f64);
            raw[3] = ln1p(g.block_cache_capacity as f64);
            raw[4] = safe_ratio(
                g.block_cache_pinned_usage as f64,
                g.block_cache_capacity as f64,
            );
            raw[5] = g.memtable_hit_ratio.unwrap_or(0.0) as f32;
        }
        NodeKind::ReadPath => {
            let reads = g.read_ops_per_sec * obs.duration_secs;
            raw[0] = ln1p(g.read_ops_per_sec);
            raw[1] = ln1p(g.get_latency.map_or(0.0, |p| us(p.p50_ns)));
            raw[2] = ln1p(g.get_latency.map_or(0.0, |p| us(p.p99_ns)));
            raw[3] = ln1p(g.scan_latency.map_or(0.0, |p| us(p.p99_ns)));
            raw[4] = safe_ratio(g.not_found as f64, reads);
            raw[5] = ln1p(g.op_errors as f64);
        }
        NodeKind::BackgroundThreads => {
            raw[0] = g.max_background_jobs as f32;
            raw[1] = g.background_threads_low as f32;
            raw[2] = g.background_threads_high as f32;
            raw[3] = g.running_compactions as f32;
            raw[4] = g.running_flushes as f32;
            raw[5] = ln1p(g.compaction_bytes_per_sec);
            raw[6] = ln1p(g.flush_bytes_per_sec);
            raw[7] = g.max_subcompactions as f32;
        }
        _ => {}
    }
}

fn cf_values(kind: NodeKind, cf: &CfObservation, obs: &Observation, raw: &mut [f32]) {
    let g = &obs.global;
    match kind {
        NodeKind::Memtable => {
            let budget = cf.write_buffer_size as f64 * cf.max_write_buffer_number as f64;
            raw[0] = safe_ratio(cf.memtable_bytes as f64, budget);
            raw[1] = cf.memtable_ratio() as f32;
            raw[2] = cf.memtable_tombstone_ratio() as f32;
            raw[3] = ln1p(cf.write_bytes_per_sec);
            raw[4] = ln1p(cf.write_ops_per_sec);
            raw[5] = ln1p(cf.write_buffer_size as f64);
            raw[6] = cf.max_write_buffer_number as f32;
            raw[7] = (cf.memtables_sealed as f64 / obs.duration_secs) as f32;
        }
        NodeKind::Flush => {
            raw[0] = f32::from(u8::from(cf.flush_pending));
            raw[1] = cf.flushes_per_sec as f32;
            raw[2] = ln1p(cf.flush_bytes_per_sec);
            raw[3] = cf.immutable_memtables as f32;
            raw[4] = g.running_flushes as f32;
            raw[5] = g.background_threads_high as f32;
        }
        NodeKind::L0 => {
            let l0 = cf.l0_files() as f64;
            raw[0] = l0 as f32;
            raw[1] = cf.l0_slowdown_ratio() as f32;
            raw[2] = safe_ratio(l0, cf.level0_stop_writes_trigger as f64);
            raw[3] = safe_ratio(l0, cf.level0_file_num_compaction_trigger as f64);
            raw[4] = stall_value(cf.stall);
        }
        NodeKind::Compaction => {
            raw[0] = ln1p(cf.pending_compaction_bytes as f64);
            raw[1] = cf.pending_ratio() as f32;
            raw[2] = safe_ratio(
                cf.pending_compaction_bytes as f64,
                cf.hard_pending_compaction_bytes_limit as f64,
            );
            raw[3] = f32::from(u8::from(cf.compaction_pending));
            raw[4] = cf.compactions_per_sec as f32;
            raw[5] = ln1p(cf.compaction_input_bytes_per_sec);
            raw[6] = cf.compactions_failed as f32;
            raw[7] = g.running_compactions as f32;
        }
        NodeKind::Levels => {
            raw[0] = ln1p(cf.live_sst_bytes as f64);
            raw[1] = ln1p(cf.files_below_l0() as f64);
            raw[2] = ln1p(cf.estimate_num_keys as f64);
            raw[3] = ln1p(cf.read_ops_per_sec);
            raw[4] = ln1p(cf.scan_ops_per_sec);
            raw[5] = ln1p(cf.delete_ops_per_sec);
            raw[6] = cf.op_errors as f32;
            raw[7] = cf.corruption_signals as f32;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(l0: u64) -> Observation {
        let cf = CfObservation {
            name: "users".into(),
            files_per_level: [l0, 2, 0, 0, 0, 0, 0],
            level0_slowdown_writes_trigger: 20,
            level0_stop_writes_trigger: 36,
            level0_file_num_compaction_trigger: 4,
            write_buffer_size: 64 << 20,
            max_write_buffer_number: 2,
            ..CfObservation::default()
        };
        Observation {
            tick: 1,
            duration_secs: 0.1,
            cfs: vec![cf],
            ..Observation::default()
        }
    }

    #[test]
    fn schema_fits_the_slots_and_names_are_unique_per_kind() {
        let schema = feature_schema();
        assert_eq!(schema.node_kinds.len(), NodeKind::COUNT);
        for kind in NodeKind::ALL {
            let names = feature_names(kind);
            assert!(!names.is_empty() && names.len() <= VALUE_SLOTS, "{kind:?}");
            let unique: std::collections::HashSet<_> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{kind:?}");
        }
        let json = serde_json::to_string(&schema).expect("json");
        assert!(json.contains("l0_slowdown_ratio"));
    }

    #[test]
    fn one_hot_and_raw_values_land_in_their_slots() {
        let graph = ComponentGraph::new(&["users".to_owned()]);
        let mut extractor = FeatureExtractor::new();
        let mut features = NodeFeatures::default();
        extractor.extract(&graph, &observation(10), &mut features);
        assert_eq!(features.shape(), [11, FEATURE_DIM]);
        let l0 = graph.cf_node(NodeKind::L0, 0).expect("l0 node");
        assert_eq!(features.row(l0)[NodeKind::L0.index()], 1.0);
        assert_eq!(
            features.row(l0).iter().take(NodeKind::COUNT).sum::<f32>(),
            1.0
        );
        assert_eq!(features.raw_row(l0)[0], 10.0);
        assert_eq!(features.raw_row(l0)[1], 0.5);
        // Nothing seen before: z-scores are 0.
        assert!(features.row(l0)[NodeKind::COUNT..]
            .iter()
            .all(|&z| z == 0.0));
    }

    #[test]
    fn normalisation_flags_a_jump_and_clips() {
        let graph = ComponentGraph::new(&["users".to_owned()]);
        let mut extractor = FeatureExtractor::new();
        let mut features = NodeFeatures::default();
        for i in 0..50 {
            extractor.extract(&graph, &observation(4 + (i % 3)), &mut features);
        }
        let l0 = graph.cf_node(NodeKind::L0, 0).expect("l0 node");
        let normal = features.row(l0)[NodeKind::COUNT];
        assert!(normal.abs() < 2.0, "{normal}");
        extractor.extract(&graph, &observation(400), &mut features);
        assert_eq!(features.row(l0)[NodeKind::COUNT], Z_CLIP);
        let stats = extractor.statistics(NodeKind::L0, 0).expect("stats");
        assert_eq!(stats.count, 51);
    }

    #[test]
    fn welford_matches_the_textbook_variance() {
        let mut w = Welford::default();
        for v in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            w.add(v);
        }
        assert!((w.mean - 5.0).abs() < 1e-12);
        assert!((w.variance() - 32.0 / 7.0).abs() < 1e-12);
        w.add(f64::NAN);
        assert_eq!(w.count, 8, "non-finite values are ignored");
    }
}
