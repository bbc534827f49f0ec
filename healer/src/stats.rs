//! What the healer reports about itself: ticks and their cost, ring drops, actions by kind
//! and verdict, model status, errors. A plain serialisable snapshot ([`HealerStats`]), read
//! through [`HealerHandle::stats`](crate::HealerHandle::stats).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use lsmedic_telemetry::WindowError;
use serde::{Deserialize, Serialize};

use crate::action::ActionKind;
use crate::config::{Mode, Weights};
use crate::error::HealerError;
use crate::model::ModelStatus;

/// A snapshot of the healer's statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealerStats {
    /// The healer thread is running.
    pub running: bool,
    /// Current mode.
    pub mode: Mode,
    /// Current weights.
    pub weights: Weights,
    /// Policy deciding (`rules`, …).
    pub policy: String,
    /// Ticks completed (including failed ones).
    pub ticks: u64,
    /// Median tick time, µs (drain, window, features, graph, policy, guard, act).
    pub tick_p50_us: u64,
    /// 99th-percentile tick time, µs.
    pub tick_p99_us: u64,
    /// Longest tick, µs.
    pub tick_max_us: u64,
    /// Ring drains (several per tick).
    pub drains: u64,
    /// Op events drained.
    pub ops_drained: u64,
    /// Listener events drained.
    pub events_drained: u64,
    /// Op events the engine's rings dropped because they were full.
    pub dropped_ops: u64,
    /// Listener events dropped.
    pub dropped_events: u64,
    /// Column families in the component graph.
    pub column_families: usize,
    /// Nodes in the component graph.
    pub graph_nodes: usize,
    /// Edges in the component graph.
    pub graph_edges: usize,
    /// Times the graph was rebuilt (column families changed).
    pub graph_rebuilds: u64,
    /// Actions by kind, then verdict (guard verdicts and outcome verdicts), counted.
    pub actions: BTreeMap<ActionKind, BTreeMap<String, u64>>,
    /// Verifications in flight.
    pub verifications_pending: usize,
    /// Learned-model status.
    pub model: ModelStatus,
    /// Ticks that failed with an error or a panic.
    pub errors: u64,
    /// Of which panics (caught).
    pub panics: u64,
    /// The last error.
    pub last_error: Option<String>,
    /// Audit-log write errors.
    pub audit_write_errors: u64,
    /// Audit entries written.
    pub audit_entries: u64,
    /// `adapt_now` requests received.
    pub adapt_requests: u64,
    /// Learned detector adaptations finished (start, `adapt_now`, workload changes).
    pub adaptations: u64,
    /// The learned detector's last anomaly score (`None` without a scoring detector).
    pub detector_score: Option<f32>,
    /// Ticks in which a learned model failed (each fell back to the rule policy).
    pub model_failures: u64,
    /// Ticks in which the learned policy proposed another action than the rule policy's
    /// choice (`learned.follow_rules`).
    pub learned_replacements: u64,
    /// Ticks in which the learned policy vetoed the rule policy's action (proposed nothing).
    pub learned_vetoes: u64,
    /// Set when the healer switched itself off after repeated failures.
    pub disabled_reason: Option<String>,
}

impl HealerStats {
    /// Count of actions of `kind` with verdict `verdict` (a snake-case verdict name).
    pub fn action_count(&self, kind: ActionKind, verdict: &str) -> u64 {
        self.actions
            .get(&kind)
            .and_then(|by_verdict| by_verdict.get(verdict))
            .copied()
            .unwrap_or(0)
    }

    /// Total of one verdict over all kinds.
    pub fn verdict_count(&self, verdict: &str) -> u64 {
        self.actions
            .values()
            .filter_map(|by_verdict| by_verdict.get(verdict))
            .sum()
    }
}

/// The mutable statistics behind [`HealerStats`] (shared under a lock).
#[derive(Debug)]
pub(crate) struct StatsCell {
    pub(crate) stats: HealerStats,
    tick_us: Histogram<u64>,
}

impl StatsCell {
    pub(crate) fn new() -> Result<StatsCell, HealerError> {
        // 1 µs ..= 60 s, 3 significant figures.
        let tick_us = Histogram::new_with_bounds(1, 60_000_000, 3)
            .map_err(|e| HealerError::Window(WindowError::CreateHistogram(e)))?;
        Ok(StatsCell {
            stats: HealerStats::default(),
            tick_us,
        })
    }

    pub(crate) fn record_tick(&mut self, micros: u64) {
        self.tick_us.saturating_record(micros.max(1));
    }

    pub(crate) fn count(&mut self, kind: ActionKind, verdict: &str) {
        *self
            .stats
            .actions
            .entry(kind)
            .or_default()
            .entry(verdict.to_owned())
            .or_insert(0) += 1;
    }

    pub(crate) fn snapshot(&self) -> HealerStats {
        let mut stats = self.stats.clone();
        if !self.tick_us.is_empty() {
            stats.tick_p50_us = self.tick_us.value_at_quantile(0.5);
            stats.tick_p99_us = self.tick_us.value_at_quantile(0.99);
            stats.tick_max_us = self.tick_us.max();
        }
        stats
    }
}
