//! Node failure labels: which component-graph nodes are in a failure state during a tick.
//!
//! This is the one definition of the `node_state` that `lsmedic-bench record` writes into
//! traces and that the cascade predictor is trained to forecast (the training code derives
//! horizon labels, "node fails within h s", from the sequence of states; nothing here looks
//! at the future). It reads only the tick's [`Observation`] plus baselines learned from the
//! *past* healthy ticks of the same run, so a label never depends on what comes later.
//!
//! The definitions are on [`Labeller`]; their thresholds are [`LabelConfig`] fields.

use serde::{Deserialize, Serialize};

use crate::graph::{ComponentGraph, NodeKind};
use crate::observation::{CfObservation, Observation, Stall};

/// Thresholds of the labels (see [`Labeller`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelConfig {
    /// Fraction of a tick writers spent stalled that counts as a stall.
    pub stall_fraction: f64,
    /// Latency blow-up: p99 ≥ this × baseline ...
    pub blowup_factor: f64,
    /// ... and ≥ baseline + this many µs.
    pub blowup_floor_us: f64,
    /// Operations per second below which latency is not judged.
    pub min_ops_per_sec: f64,
    /// Block-cache lookups per second below which the hit ratio is not judged.
    pub min_lookups_per_sec: f64,
    /// Cache collapse: hit ratio below baseline − this ...
    pub cache_drop: f64,
    /// ... or below this × baseline.
    pub cache_ratio: f64,
    /// Weight of a new sample in the baselines' moving averages.
    pub baseline_alpha: f64,
    /// Updates before a baseline is used.
    pub warmup_samples: u64,
    /// Consecutive blown-up ticks before a path is failing (≥ 1).
    pub blowup_ticks: u32,
    /// Consecutive collapsed ticks before the block cache is failing (≥ 1).
    pub collapse_ticks: u32,
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            stall_fraction: 0.05,
            blowup_factor: 5.0,
            blowup_floor_us: 2000.0,
            min_ops_per_sec: 20.0,
            min_lookups_per_sec: 200.0,
            cache_drop: 0.2,
            cache_ratio: 0.6,
            baseline_alpha: 0.05,
            warmup_samples: 20,
            blowup_ticks: 2,
            collapse_ticks: 3,
        }
    }
}

/// An exponential moving average that counts its updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Current average (`None` before the first update).
    pub value: Option<f64>,
    /// Updates so far.
    pub samples: u64,
}

impl Baseline {
    fn add(&mut self, value: f64, alpha: f64) {
        if !value.is_finite() {
            return;
        }
        self.value = Some(match self.value {
            Some(current) => current + alpha * (value - current),
            None => value,
        });
        self.samples += 1;
    }

    fn ready(&self, warmup: u64) -> Option<f64> {
        self.value.filter(|_| self.samples >= warmup)
    }
}

/// Computes `node_state` tick after tick (it keeps the baselines; one per run).
///
/// # Definitions (thresholds are [`LabelConfig`] fields)
///
/// A column family is *stalled* when RocksDB reports a delayed or stopped write condition for
/// it, or when writers spent ≥ `stall_fraction` of the tick stalled DB-wide and one of
/// the column family's stall causes below holds.
///
/// | node | fails when |
/// |---|---|
/// | `stall_controller` | any column family delayed or stopped, or writers stalled ≥ `stall_fraction` of the tick |
/// | `write_path` | writes stopped, or a **latency blow-up**: write p99 ≥ max(`blowup_factor` × baseline, baseline + `blowup_floor_us`) with ≥ `min_ops_per_sec` writes/s, in `blowup_ticks` consecutive ticks |
/// | `read_path` | the same blow-up test on the read p99 (gets and scans) |
/// | `block_cache` | **cache collapse**: ≥ `min_lookups_per_sec` lookups/s and hit ratio < baseline − `cache_drop`, or < `cache_ratio` × baseline, in `collapse_ticks` consecutive ticks |
/// | `wal` | never (no WAL-specific failure is observable; kept so the layout is stable) |
/// | `background_threads` | an `l0` or `compaction` node fails and no compaction runs, or a `memtable` node fails and no flush runs (starved pools, paused compactions) |
/// | `memtable[cf]` | the column family is stalled and its immutable memtables ≥ max(1, `max_write_buffer_number` − 1) (RocksDB's memtable stall condition) |
/// | `flush[cf]` | `memtable[cf]` fails and a flush is pending (the flush pipeline is behind) |
/// | `l0[cf]` | L0 files ≥ `level0_slowdown_writes_trigger` in force (RocksDB's L0 stall condition) |
/// | `compaction[cf]` | pending compaction bytes ≥ the soft limit in force (when not 0), or L0 files ≥ `level0_stop_writes_trigger`, or a compaction failed in the tick |
/// | `levels[cf]` | failed operations, corruption reports or background errors on the column family in the tick |
///
/// Blow-ups and collapses must persist over consecutive ticks: a single tick's p99 or hit ratio
/// is noisy (one descheduled thread is enough), and a failure
/// state is something that lasts. The label of a tick still depends only on that tick and
/// the ones before it.
///
/// Baselines: the write and read p99 baselines are exponential moving averages of ln(p99)
/// (`baseline_alpha`) and the hit-ratio baseline one of the ratio, updated only on
/// ticks where the node itself is healthy, no write stall is present and enough traffic
/// flows; a baseline is used after `warmup_samples` updates, so the first ticks of a run
/// never show a blow-up or collapse.
#[derive(Clone, Debug, Default)]
pub struct Labeller {
    config: LabelConfig,
    write_p99: Baseline,
    read_p99: Baseline,
    hit_ratio: Baseline,
    /// Consecutive ticks each condition held: write blow-up, read blow-up, cache collapse.
    streaks: [u32; 3],
}

/// Counts consecutive ticks a condition held; true once the streak reaches `needed`.
fn sustained(streak: &mut u32, holds: bool, needed: u32) -> bool {
    *streak = if holds { streak.saturating_add(1) } else { 0 };
    holds && *streak >= needed.max(1)
}

/// Whether `p99_us` is a blow-up against `baseline`; healthy samples update the baseline
/// when `healthy_context` holds.
fn latency_blowup(
    config: &LabelConfig,
    baseline: &mut Baseline,
    p99_us: Option<f64>,
    ops_per_sec: f64,
    healthy_context: bool,
) -> bool {
    let Some(p99) = p99_us.filter(|p| *p > 0.0 && ops_per_sec >= config.min_ops_per_sec) else {
        return false;
    };
    let blown = baseline
        .ready(config.warmup_samples)
        .map(f64::exp)
        .is_some_and(|base| {
            p99 >= (config.blowup_factor * base).max(base + config.blowup_floor_us)
        });
    if !blown && healthy_context {
        baseline.add(p99.ln(), config.baseline_alpha);
    }
    blown
}

impl Labeller {
    /// A labeller with `config` and empty baselines.
    pub fn new(config: LabelConfig) -> Labeller {
        Labeller {
            config,
            ..Labeller::default()
        }
    }

    /// Thresholds in use.
    pub fn config(&self) -> &LabelConfig {
        &self.config
    }

    /// The write-p99 baseline (ln µs), the read-p99 baseline (ln µs) and the hit-ratio
    /// baseline.
    pub fn baselines(&self) -> [Baseline; 3] {
        [self.write_p99, self.read_p99, self.hit_ratio]
    }

    /// `node_state` of one tick: one entry per node of `graph` (in node order), 1 when the
    /// node is in a failure state (see the module docs), else 0. Updates the baselines.
    pub fn label(&mut self, graph: &ComponentGraph, observation: &Observation) -> Vec<u8> {
        let config = &self.config;
        let g = &observation.global;
        let global_stall = g.stall_fraction >= config.stall_fraction;
        let any_cf_stall = observation.cfs.iter().any(|cf| cf.stall != Stall::Normal);
        let stall_controller = any_cf_stall || global_stall || g.worst_stall != Stall::Normal;

        // Per column family, in graph order.
        let empty = CfObservation::default();
        let per_cf: Vec<CfState> = graph
            .cfs()
            .iter()
            .map(|name| {
                let cf = observation.cf(name).unwrap_or(&empty);
                CfState::of(cf, global_stall)
            })
            .collect();

        let writes_stopped = g.worst_stall == Stall::Stopped;
        let write_p99 = g.write_latency.map(|p| p.p99_ns as f64 / 1e3);
        let read_p99 = g.read_latency.map(|p| p.p99_ns as f64 / 1e3);
        let calm = !stall_controller;
        let write_blowup = latency_blowup(
            config,
            &mut self.write_p99,
            write_p99,
            g.write_ops_per_sec,
            calm,
        );
        let read_blowup = latency_blowup(
            config,
            &mut self.read_p99,
            read_p99,
            g.read_ops_per_sec,
            calm,
        );

        let lookups = g.block_cache_hits_per_sec + g.block_cache_misses_per_sec;
        let write_blowup = sustained(&mut self.streaks[0], write_blowup, config.blowup_ticks);
        let read_blowup = sustained(&mut self.streaks[1], read_blowup, config.blowup_ticks);
        let cache_collapse = match g.block_cache_hit_ratio {
            Some(hit) if g.statistics_available && lookups >= config.min_lookups_per_sec => {
                let collapsed = self
                    .hit_ratio
                    .ready(config.warmup_samples)
                    .is_some_and(|base| {
                        hit < base - config.cache_drop || hit < config.cache_ratio * base
                    });
                if !collapsed {
                    self.hit_ratio.add(hit, config.baseline_alpha);
                }
                collapsed
            }
            _ => false,
        };
        let cache_collapse = sustained(&mut self.streaks[2], cache_collapse, config.collapse_ticks);

        let compaction_behind = per_cf.iter().any(|s| s.l0 || s.compaction);
        let flush_behind = per_cf.iter().any(|s| s.memtable);
        let background_threads = (compaction_behind && g.running_compactions == 0)
            || (flush_behind && g.running_flushes == 0);

        graph
            .nodes()
            .iter()
            .map(|node| {
                let failed = match (node.kind, node.cf) {
                    (NodeKind::StallController, _) => stall_controller,
                    (NodeKind::WritePath, _) => writes_stopped || write_blowup,
                    (NodeKind::ReadPath, _) => read_blowup,
                    (NodeKind::BlockCache, _) => cache_collapse,
                    (NodeKind::Wal, _) => false,
                    (NodeKind::BackgroundThreads, _) => background_threads,
                    (kind, Some(cf)) => per_cf.get(cf).is_some_and(|s| s.node(kind)),
                    (_, None) => false,
                };
                u8::from(failed)
            })
            .collect()
    }
}

/// Failure states of one column family's nodes.
#[derive(Clone, Copy, Debug, Default)]
struct CfState {
    memtable: bool,
    flush: bool,
    l0: bool,
    compaction: bool,
    levels: bool,
}

impl CfState {
    fn of(cf: &CfObservation, global_stall: bool) -> CfState {
        let stalled = cf.stall != Stall::Normal || global_stall;
        let memtable = stalled
            && cf.immutable_memtables >= cf.max_write_buffer_number.saturating_sub(1).max(1);
        let l0 = cf.level0_slowdown_writes_trigger > 0
            && cf.l0_files() >= cf.level0_slowdown_writes_trigger;
        let pending_over = cf.soft_pending_compaction_bytes_limit > 0
            && cf.pending_compaction_bytes >= cf.soft_pending_compaction_bytes_limit;
        let l0_stop =
            cf.level0_stop_writes_trigger > 0 && cf.l0_files() >= cf.level0_stop_writes_trigger;
        CfState {
            memtable,
            flush: memtable && cf.flush_pending,
            l0,
            compaction: pending_over || l0_stop || cf.compactions_failed > 0,
            levels: cf.op_errors > 0 || cf.corruption_signals > 0 || cf.background_errors > 0,
        }
    }

    fn node(&self, kind: NodeKind) -> bool {
        match kind {
            NodeKind::Memtable => self.memtable,
            NodeKind::Flush => self.flush,
            NodeKind::L0 => self.l0,
            NodeKind::Compaction => self.compaction,
            NodeKind::Levels => self.levels,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use lsmedic_telemetry::Percentiles;

    use super::*;

    fn cf(name: &str) -> CfObservation {
        CfObservation {
            name: name.into(),
            files_per_level: [2, 4, 0, 0, 0, 0, 0],
            level0_file_num_compaction_trigger: 4,
            level0_slowdown_writes_trigger: 20,
            level0_stop_writes_trigger: 36,
            soft_pending_compaction_bytes_limit: 64 << 30,
            hard_pending_compaction_bytes_limit: 256 << 30,
            max_write_buffer_number: 2,
            write_buffer_size: 64 << 20,
            ..CfObservation::default()
        }
    }

    fn p(p99_us: u64) -> Percentiles {
        Percentiles {
            count: 1000,
            p50_ns: p99_us * 300,
            p99_ns: p99_us * 1000,
            p999_ns: p99_us * 1500,
            max_ns: p99_us * 2000,
            mean_ns: p99_us as f64 * 400.0,
        }
    }

    /// A healthy tick: 1000 writes/s and reads/s at `write_us` / `read_us` p99, a 95 % hit
    /// ratio over 5000 lookups/s.
    fn tick(write_us: u64, read_us: u64, hit: f64) -> Observation {
        let mut obs = Observation {
            tick: 1,
            duration_secs: 0.1,
            cfs: vec![cf("default"), cf("orders")],
            ..Observation::default()
        };
        let g = &mut obs.global;
        g.write_ops_per_sec = 1000.0;
        g.read_ops_per_sec = 1000.0;
        g.write_latency = Some(p(write_us));
        g.read_latency = Some(p(read_us));
        g.statistics_available = true;
        g.block_cache_hits_per_sec = 5000.0 * hit;
        g.block_cache_misses_per_sec = 5000.0 * (1.0 - hit);
        g.block_cache_hit_ratio = Some(hit);
        g.running_compactions = 1;
        g.running_flushes = 0;
        obs
    }

    fn graph() -> ComponentGraph {
        ComponentGraph::new(&["default".to_owned(), "orders".to_owned()])
    }

    fn failing(graph: &ComponentGraph, state: &[u8]) -> Vec<String> {
        state
            .iter()
            .enumerate()
            .filter(|(_, &s)| s == 1)
            .map(|(i, _)| graph.label(i).expect("label"))
            .collect()
    }

    fn warmed() -> Labeller {
        let mut labeller = Labeller::new(LabelConfig::default());
        let graph = graph();
        for i in 0..30 {
            let state = labeller.label(&graph, &tick(200 + i % 7, 100 + i % 5, 0.95));
            assert!(state.iter().all(|&s| s == 0), "healthy tick {i} labelled");
        }
        labeller
    }

    #[test]
    fn one_state_per_node_and_healthy_ticks_are_zero() {
        let labeller = warmed();
        let [write, read, hit] = labeller.baselines();
        assert!(write.samples >= 20 && read.samples >= 20 && hit.samples >= 20);
        let graph = graph();
        let mut labeller = labeller;
        assert_eq!(
            labeller.label(&graph, &tick(210, 100, 0.94)).len(),
            graph.node_count()
        );
    }

    #[test]
    fn no_blowup_before_the_baseline_is_warm() {
        let mut labeller = Labeller::new(LabelConfig::default());
        let graph = graph();
        labeller.label(&graph, &tick(200, 100, 0.95));
        let state = labeller.label(&graph, &tick(200_000, 100_000, 0.1));
        assert!(
            state.iter().all(|&s| s == 0),
            "{:?}",
            failing(&graph, &state)
        );
    }

    #[test]
    fn latency_blowup_marks_the_paths() {
        let mut labeller = warmed();
        let graph = graph();
        // 4x is not a blow-up (factor 5).
        let state = labeller.label(&graph, &tick(800, 100, 0.95));
        assert!(failing(&graph, &state).is_empty());
        // One blown-up tick is noise; the second in a row is a failure.
        let state = labeller.label(&graph, &tick(20_000, 100, 0.95));
        assert!(failing(&graph, &state).is_empty());
        let state = labeller.label(&graph, &tick(20_000, 100, 0.95));
        assert_eq!(failing(&graph, &state), vec!["write_path"]);
        labeller.label(&graph, &tick(200, 5_000, 0.95));
        let state = labeller.label(&graph, &tick(200, 5_000, 0.95));
        assert_eq!(failing(&graph, &state), vec!["read_path"]);
        // A healthy tick ends the streak.
        labeller.label(&graph, &tick(200, 100, 0.95));
        let state = labeller.label(&graph, &tick(200, 5_000, 0.95));
        assert!(failing(&graph, &state).is_empty());
        // A small absolute rise over a tiny baseline is not a blow-up (2 ms floor).
        let mut tiny = Labeller::new(LabelConfig::default());
        for _ in 0..30 {
            tiny.label(&graph, &tick(10, 10, 0.95));
        }
        for _ in 0..3 {
            let state = tiny.label(&graph, &tick(1000, 10, 0.95));
            assert!(failing(&graph, &state).is_empty());
        }
        // Blow-ups do not drag the baseline up.
        let before = labeller.baselines()[0];
        labeller.label(&graph, &tick(50_000, 100, 0.95));
        assert_eq!(labeller.baselines()[0], before);
    }

    #[test]
    fn too_little_traffic_is_not_judged() {
        let mut labeller = warmed();
        let graph = graph();
        let mut obs = tick(50_000, 50_000, 0.95);
        obs.global.write_ops_per_sec = 5.0;
        obs.global.read_ops_per_sec = 5.0;
        for _ in 0..3 {
            assert!(failing(&graph, &labeller.label(&graph, &obs)).is_empty());
        }
    }

    #[test]
    fn cache_collapse() {
        let mut labeller = warmed();
        let graph = graph();
        let state = labeller.label(&graph, &tick(200, 100, 0.85));
        assert!(
            failing(&graph, &state).is_empty(),
            "a 0.1 dip is not a collapse"
        );
        // Three collapsed ticks in a row.
        for _ in 0..2 {
            let state = labeller.label(&graph, &tick(200, 100, 0.30));
            assert!(failing(&graph, &state).is_empty());
        }
        let state = labeller.label(&graph, &tick(200, 100, 0.30));
        assert_eq!(failing(&graph, &state), vec!["block_cache"]);
        // Too few lookups: not judged.
        let mut obs = tick(200, 100, 0.1);
        obs.global.block_cache_hits_per_sec = 10.0;
        obs.global.block_cache_misses_per_sec = 90.0;
        for _ in 0..3 {
            assert!(failing(&graph, &labeller.label(&graph, &obs)).is_empty());
        }
    }

    #[test]
    fn l0_stall_marks_controller_l0_and_compaction_of_that_cf_only() {
        let mut labeller = warmed();
        let graph = graph();
        let mut obs = tick(200, 100, 0.95);
        obs.cfs[1].files_per_level[0] = 22;
        obs.cfs[1].stall = Stall::Delayed;
        obs.global.worst_stall = Stall::Delayed;
        let state = labeller.label(&graph, &obs);
        assert_eq!(
            failing(&graph, &state),
            vec!["stall_controller", "l0[orders]"]
        );
        obs.cfs[1].files_per_level[0] = 40;
        obs.cfs[1].stall = Stall::Stopped;
        obs.global.worst_stall = Stall::Stopped;
        obs.global.running_compactions = 0;
        let state = labeller.label(&graph, &obs);
        assert_eq!(
            failing(&graph, &state),
            vec![
                "write_path",
                "stall_controller",
                "background_threads",
                "l0[orders]",
                "compaction[orders]"
            ]
        );
    }

    #[test]
    fn memtable_stall_marks_memtable_and_flush() {
        let mut labeller = warmed();
        let graph = graph();
        let mut obs = tick(200, 100, 0.95);
        obs.cfs[0].immutable_memtables = 1;
        obs.cfs[0].flush_pending = true;
        // One immutable memtable during a flush is normal: no stall, no failure.
        assert!(failing(&graph, &labeller.label(&graph, &obs)).is_empty());
        obs.cfs[0].stall = Stall::Stopped;
        obs.global.worst_stall = Stall::Stopped;
        obs.global.running_flushes = 1;
        let state = labeller.label(&graph, &obs);
        assert_eq!(
            failing(&graph, &state),
            vec![
                "write_path",
                "stall_controller",
                "memtable[default]",
                "flush[default]"
            ]
        );
    }

    #[test]
    fn pending_bytes_and_errors() {
        let mut labeller = warmed();
        let graph = graph();
        let mut obs = tick(200, 100, 0.95);
        obs.cfs[0].pending_compaction_bytes = 70 << 30;
        obs.cfs[1].op_errors = 3;
        obs.global.stall_fraction = 0.5;
        let state = labeller.label(&graph, &obs);
        assert_eq!(
            failing(&graph, &state),
            vec!["stall_controller", "compaction[default]", "levels[orders]"]
        );
        // A soft limit of 0 (off) never fires.
        let mut obs = tick(200, 100, 0.95);
        obs.cfs[0].soft_pending_compaction_bytes_limit = 0;
        obs.cfs[0].pending_compaction_bytes = 70 << 30;
        assert!(failing(&graph, &labeller.label(&graph, &obs)).is_empty());
    }
}
