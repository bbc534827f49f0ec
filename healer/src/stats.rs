//! What the healer reports about itself: ticks and their cost, ring drops, actions by kind
//! and verdict, model status, errors. A plain serialisable snapshot ([`HealerStats`]), read
//! through [`HealerHandle::stats`](crate::HealerHandle::stats).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use lsmedic_telemetry::WindowError;
use serde::{Deserialize, Serialize};

use crate::action::ActionKind;
use crate::audit::{BaselineDecision, LearnedRecord};
use crate::config::{Mode, Weights};
use crate::error::HealerError;
use crate::graph::ComponentGraph;
use crate::healer::TickReport;
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

/// The mutable statistics behind [`HealerStats`] (shared under a lock). The healer records
/// what happened through the `record_*` methods; only [`snapshot`](Self::snapshot) reads.
#[derive(Debug)]
pub(crate) struct StatsCell {
    stats: HealerStats,
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

    /// The policy that decides from now on.
    pub(crate) fn record_policy(&mut self, policy: &str) {
        self.stats.policy = policy.to_owned();
    }

    /// What became of the configured models.
    pub(crate) fn record_model_status(&mut self, status: ModelStatus) {
        self.stats.model = status;
    }

    /// The component graph now in use; `rebuilt` when the column families changed.
    pub(crate) fn record_graph(&mut self, graph: &ComponentGraph, rebuilt: bool) {
        if rebuilt {
            self.stats.graph_rebuilds += 1;
        }
        self.stats.column_families = graph.cfs().len();
        self.stats.graph_nodes = graph.node_count();
        self.stats.graph_edges = graph.edge_count();
    }

    /// One drain of the rings; `ops` and `events` are the totals drained so far.
    pub(crate) fn record_drain(&mut self, ops: u64, events: u64) {
        self.stats.drains += 1;
        self.stats.ops_drained = ops;
        self.stats.events_drained = events;
    }

    /// The audit log's totals after an append.
    pub(crate) fn record_audit_log(&mut self, entries_written: u64, write_errors: u64) {
        self.stats.audit_entries = entries_written;
        self.stats.audit_write_errors = write_errors;
    }

    /// One more action of `kind` reaching `verdict` (a guard or outcome verdict name).
    pub(crate) fn record_verdict(&mut self, kind: ActionKind, verdict: &str) {
        *self
            .stats
            .actions
            .entry(kind)
            .or_default()
            .entry(verdict.to_owned())
            .or_insert(0) += 1;
    }

    /// A finished tick: its number, its cost, the rings' drop counters, the verifications
    /// in flight and every candidate's verdict.
    pub(crate) fn record_tick(&mut self, tick: &TickReport, dropped: (u64, u64), pending: usize) {
        self.stats.ticks = tick.tick;
        let micros = u64::try_from(tick.duration.as_micros()).unwrap_or(u64::MAX);
        self.tick_us.saturating_record(micros.max(1));
        (self.stats.dropped_ops, self.stats.dropped_events) = dropped;
        self.stats.verifications_pending = pending;
        for review in &tick.reviews {
            self.record_verdict(review.candidate.kind, review.verdict.name());
        }
    }

    /// A failed tick, drain or control call.
    pub(crate) fn record_error(&mut self, message: String, panicked: bool) {
        self.stats.errors += 1;
        if panicked {
            self.stats.panics += 1;
        }
        self.stats.last_error = Some(message);
    }

    /// A tick in which the learned policy failed and the rule policy decided.
    pub(crate) fn record_model_failure(&mut self, message: String) {
        self.stats.model_failures += 1;
        self.stats.last_error = Some(message);
    }

    /// The learned policy was dropped for good: `policy` decides, for `reason`.
    pub(crate) fn record_learned_dropped(&mut self, policy: &str, reason: String) {
        self.record_policy(policy);
        self.stats.model = ModelStatus::Fallback { reason };
    }

    /// A tick of the learned policy: its detector's adaptations so far and what its models
    /// saw (`None` when they did not run).
    pub(crate) fn record_learned_tick(&mut self, adaptations: u64, seen: Option<&LearnedRecord>) {
        self.stats.adaptations = adaptations;
        self.stats.detector_score = seen.and_then(|record| record.detector.score);
        match seen
            .and_then(|record| record.baseline.as_ref())
            .map(|baseline| baseline.decision)
        {
            None | Some(BaselineDecision::Followed) => {}
            Some(BaselineDecision::Replaced) => self.stats.learned_replacements += 1,
            Some(BaselineDecision::Vetoed) => self.stats.learned_vetoes += 1,
        }
    }

    /// The healer switched itself off.
    pub(crate) fn record_disabled(&mut self, reason: String) {
        self.stats.disabled_reason = Some(reason);
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
