//! The healer runtime: the `lsmedic-healer` thread, its tick, and the handle an embedding
//! application (the `lsmedic::Db` facade) uses to steer it.
//!
//! One tick = drain the rings → window → observation → graph → features → objective →
//! verifications due → policy → guard → actuator → audit → statistics. Between ticks the
//! thread drains the rings, so bursts never fill them.
//!
//! The tick asks one policy, a [`FallbackPolicy`]: the learned policy when the models load a
//! complete learned set, with the rule policy deciding any tick in which a model fails and
//! from then on after too many such ticks in a row (`HealerStats::model` then says why).
//!
//! [`HealerCore`] is the tick without the thread: tests and benchmarks drive it tick by tick
//! against a stub engine with a manual clock. [`Healer`] owns the thread.
//!
//! The healer never panics the host: each tick and each drain runs under `catch_unwind`;
//! failures are counted, kept in the statistics and written to the audit log, and after
//! `max_consecutive_failures` failed ticks in a row the healer switches itself off and says
//! why. Stopping (explicitly or on drop) wakes the thread at once and joins it, including a
//! running flush/compaction/rebuild it started.

mod decide;
mod handle;
mod thread;

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsmedic_telemetry::{Control, Observe, Tunables};

use crate::act::Actuator;
use crate::audit::{unix_ms, AuditEntry, AuditLog, AuditRecord, LearnedRecord, OutcomeRecord};
use crate::config::{HealerConfig, Mode, Weights};
use crate::error::{panic_message, HealerError};
use crate::features::{feature_names, FeatureExtractor, NodeFeatures, VALUE_SLOTS};
use crate::graph::{ComponentGraph, NodeKind};
use crate::guard::{Guard, OutcomeVerdict, Review};
use crate::model::{LoadedModels, ModelStatus};
use crate::objective::{ObjectiveSample, ResourceBaseline};
use crate::observation::{Collector, Observation};
use crate::policy::fallback::{FallbackPolicy, LoadedPolicies};
use crate::policy::learned::LearnedPolicy;
use crate::policy::{Policy, PolicyFeedback};
use crate::stats::StatsCell;

use handle::Shared;
pub use handle::{AuditObserver, HealerHandle};
pub use thread::Healer;

/// Objective samples kept (for "before" baselines).
const OBJECTIVE_HISTORY: usize = 600;

/// What one tick did (for tests, benchmarks and tracing).
#[derive(Clone, Debug, Default)]
pub struct TickReport {
    /// Tick number.
    pub tick: u64,
    /// Mode it ran in.
    pub mode: Mode,
    /// Wall time of the tick.
    pub duration: Duration,
    /// Every candidate with its verdict, best first.
    pub reviews: Vec<Review>,
    /// Outcomes that became known (verifications, finished maintenance).
    pub outcomes: Vec<OutcomeRecord>,
    /// What the learned models saw, when the learned policy decided.
    pub learned: Option<LearnedRecord>,
}

/// Mode, weights and `adapt_now` requests as the ticks see them: what the handles set is
/// taken over at the start of each tick.
#[derive(Debug)]
struct Steered {
    mode: Mode,
    weights: Weights,
    adapt_seen: u64,
}

/// What the healer sees: the collector over the engine's telemetry, the component graph and
/// the features laid out on it.
#[derive(Debug)]
struct Perception {
    collector: Collector,
    graph: ComponentGraph,
    extractor: FeatureExtractor,
    features: NodeFeatures,
    /// The last decided tick's observation.
    observation: Option<Observation>,
}

impl Perception {
    fn new(now_ns: u64, cfs: &[String]) -> Result<Perception, HealerError> {
        Ok(Perception {
            collector: Collector::new(now_ns)?,
            graph: ComponentGraph::new(cfs),
            extractor: FeatureExtractor::new(),
            features: NodeFeatures::default(),
            observation: None,
        })
    }

    /// Rebuilds the graph when the column families changed; whether it did.
    fn follow(&mut self, cfs: &[String]) -> bool {
        if self.graph.matches(cfs) {
            return false;
        }
        self.graph = ComponentGraph::new(cfs);
        self.collector.forget_names();
        true
    }

    /// Ends the tick's window into an observation and extracts its features.
    fn observe<E: Observe + ?Sized>(&mut self, engine: &E, tunables: &Tunables) -> Observation {
        let observation = self.collector.finish_tick(engine, tunables);
        self.extractor
            .extract(&self.graph, &observation, &mut self.features);
        observation
    }

    /// The `count` features furthest from normal (|z| ≥ 3): (node, feature, z).
    fn top_anomalies(&self, count: usize) -> Vec<(String, String, f32)> {
        let mut all: Vec<(usize, usize, f32)> = Vec::new();
        for (index, node) in self.graph.nodes().iter().enumerate() {
            if index >= self.features.node_count() {
                break;
            }
            let row = self.features.row(index);
            let used = feature_names(node.kind).len().min(VALUE_SLOTS);
            for slot in 0..used {
                let z = row[NodeKind::COUNT + slot];
                if z.abs() >= 3.0 {
                    all.push((index, slot, z));
                }
            }
        }
        all.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
        all.truncate(count);
        all.into_iter()
            .map(|(index, slot, z)| {
                let kind = self.graph.nodes()[index].kind;
                (
                    self.graph.label(index).unwrap_or_default(),
                    feature_names(kind)[slot].to_owned(),
                    z,
                )
            })
            .collect()
    }
}

/// What the healer remembers across ticks: the objective over time, and the tunables as
/// configured and as last seen.
#[derive(Debug)]
struct Memory {
    objective: VecDeque<ObjectiveSample>,
    resource_baseline: ResourceBaseline,
    /// The tunables "as configured": what the healer returns to.
    baseline_tunables: Tunables,
    /// The tunables in force at the last decided tick.
    last_tunables: Tunables,
}

impl Memory {
    fn new(tunables: Tunables) -> Memory {
        Memory {
            objective: VecDeque::new(),
            resource_baseline: ResourceBaseline::of(&tunables),
            baseline_tunables: tunables.clone(),
            last_tunables: tunables,
        }
    }

    /// Takes the tunables of column families seen for the first time as their baseline.
    fn adopt_new_cfs(&mut self, cfs: &[String], tunables: &Tunables) {
        for cf in cfs {
            if let Some(values) = tunables.cfs.get(cf) {
                self.baseline_tunables
                    .cfs
                    .entry(cf.clone())
                    .or_insert_with(|| values.clone());
            }
        }
    }

    /// Mean objective of the last `ticks` decided ticks.
    fn objective_before(&self, ticks: usize) -> Option<ObjectiveSample> {
        ObjectiveSample::mean(self.objective.iter().rev().take(ticks))
    }

    /// Keeps a decided tick's objective and tunables.
    fn remember(&mut self, sample: ObjectiveSample, tunables: Tunables) {
        self.objective.push_back(sample);
        while self.objective.len() > OBJECTIVE_HISTORY {
            self.objective.pop_front();
        }
        self.last_tunables = tunables;
    }
}

/// The healer's tick, without a thread (see the module docs).
pub struct HealerCore<E: Control + Observe + 'static> {
    engine: Arc<E>,
    config: HealerConfig,
    /// Steering, statistics and audit log, shared with the handles.
    shared: Arc<Shared>,
    steered: Steered,
    perception: Perception,
    memory: Memory,
    policy: FallbackPolicy,
    /// Loaded models (the learned set's sessions belong to the learned policy).
    models: Option<LoadedModels>,
    guard: Guard,
    actuator: Actuator<E>,
    ticks: u64,
    consecutive_failures: u32,
}

impl<E: Control + Observe + 'static> std::fmt::Debug for HealerCore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealerCore")
            .field("mode", &self.steered.mode)
            .field("ticks", &self.ticks)
            .field("graph_nodes", &self.perception.graph.node_count())
            .finish_non_exhaustive()
    }
}

impl<E: Control + Observe + 'static> HealerCore<E> {
    /// Validates `config`, reads the engine's tunables (the baseline "as configured"), builds
    /// the graph, opens the audit log and tries the models (falling back to the rule policy).
    pub fn new(engine: Arc<E>, config: HealerConfig) -> Result<HealerCore<E>, HealerError> {
        let config = config.validated()?;
        let tunables = engine
            .tunables()
            .map_err(|e| HealerError::control("tunables", e))?;
        let cfs = engine.column_families();
        let mut stats = StatsCell::new()?;
        let audit = AuditLog::open(config.audit.clone())?;
        let LoadedPolicies {
            policy,
            models,
            status,
        } = LoadedPolicies::load(&config);
        let now_ns = engine.now_ns();
        let perception = Perception::new(now_ns, &cfs)?;
        stats.record_model_status(status.clone());
        stats.record_policy(policy.name());
        stats.record_graph(&perception.graph, false);
        let steered = Steered {
            mode: config.mode,
            weights: config.weights,
            adapt_seen: 0,
        };
        let shared = Arc::new(Shared::new(steered.mode, steered.weights, stats, audit));
        let core = HealerCore {
            guard: Guard::new(config.guard.clone()),
            actuator: Actuator::new(Arc::clone(&engine)),
            memory: Memory::new(tunables),
            engine,
            config,
            shared,
            steered,
            perception,
            policy,
            models,
            ticks: 0,
            consecutive_failures: 0,
        };
        let change = format!(
            "healer started: mode {}, policy {}, models {}",
            core.steered.mode.name(),
            core.policy.name(),
            describe_models(&status)
        );
        core.record(now_ns, AuditRecord::Config { change });
        Ok(core)
    }

    /// A handle to steer this healer.
    pub fn handle(&self) -> HealerHandle {
        HealerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The last tick's observation.
    pub fn observation(&self) -> Option<&Observation> {
        self.perception.observation.as_ref()
    }

    /// The last tick's features.
    pub fn features(&self) -> &NodeFeatures {
        &self.perception.features
    }

    /// The component graph.
    pub fn graph(&self) -> &ComponentGraph {
        &self.perception.graph
    }

    /// Replaces the policy (e.g. with an exploration wrapper around the rules, for training
    /// data); takes effect on the next tick, and the statistics report its name. An
    /// explicitly set policy decides, not a loaded learned one.
    pub fn set_policy(&mut self, policy: Box<dyn Policy>) {
        self.shared.stats().record_policy(policy.name());
        self.policy.replace(policy);
    }

    /// The policy the tick asks.
    pub fn policy(&self) -> &FallbackPolicy {
        &self.policy
    }

    /// The learned policy, while it decides.
    pub fn learned(&self) -> Option<&LearnedPolicy> {
        self.policy.learned()
    }

    /// The objective of the last decided tick (`None` before the first).
    pub fn objective(&self) -> Option<&ObjectiveSample> {
        self.memory.objective.back()
    }

    /// The tunables in force at the last decided tick, as the policy saw them (before that
    /// tick's actions).
    pub fn tunables(&self) -> &Tunables {
        &self.memory.last_tunables
    }

    /// The tunables "as configured": what the healer returns to (the policy's baseline).
    pub fn baseline_tunables(&self) -> &Tunables {
        &self.memory.baseline_tunables
    }

    /// The objective weights in force.
    pub fn weights(&self) -> Weights {
        self.steered.weights
    }

    /// Loaded models, if any (the learned set's sessions belong to the learned policy).
    pub fn models(&self) -> Option<&LoadedModels> {
        self.models.as_ref()
    }

    /// Drains the engine's rings into the current window; returns (ops, events).
    pub fn drain(&mut self) -> (usize, usize) {
        let drained = self.perception.collector.drain(&*self.engine);
        let (ops, events) = self.perception.collector.drained();
        self.shared.stats().record_drain(ops, events);
        drained
    }

    /// Runs one tick (see the module docs). Errors leave the healer consistent; the thread
    /// counts them and goes on.
    pub fn tick(&mut self) -> Result<TickReport, HealerError> {
        let started = Instant::now();
        self.ticks += 1;
        let now_ns = self.engine.now_ns();
        let mut report = TickReport {
            tick: self.ticks,
            ..TickReport::default()
        };
        self.sync_steering(now_ns, &mut report);
        report.mode = self.steered.mode;
        self.drain();
        self.collect_maintenance(now_ns, &mut report);
        let result = if self.steered.mode == Mode::Off {
            self.perception.collector.discard(self.engine.now_ns());
            Ok(())
        } else {
            self.decide(&mut report)
        };
        report.duration = started.elapsed();
        let dropped = self.engine.dropped();
        self.shared
            .stats()
            .record_tick(&report, dropped, self.guard.pending().len());
        result.map(|()| report)
    }

    /// A tick that never unwinds: errors and panics are counted, logged and survived.
    pub fn guarded_tick(&mut self) {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.tick()));
        let failure = match outcome {
            Ok(Ok(_)) => None,
            Ok(Err(err)) => Some((err, false)),
            Err(payload) => Some((
                HealerError::ThreadPanicked {
                    message: panic_message(&*payload),
                },
                true,
            )),
        };
        let Some((error, panicked)) = failure else {
            self.consecutive_failures = 0;
            return;
        };
        self.consecutive_failures += 1;
        // Reporting must not unwind either.
        let _ = catch_unwind(AssertUnwindSafe(|| self.note_error(&error, panicked)));
        if self.consecutive_failures >= self.config.max_consecutive_failures
            && self.steered.mode != Mode::Off
        {
            let reason = format!(
                "switched off after {} failed ticks in a row; last: {error}",
                self.consecutive_failures
            );
            self.shared.steering.lock().mode = Mode::Off;
            self.shared.stats().record_disabled(reason);
        }
    }

    /// A drain that never unwinds.
    pub fn guarded_drain(&mut self) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.drain())) {
            let error = HealerError::ThreadPanicked {
                message: panic_message(&*payload),
            };
            let _ = catch_unwind(AssertUnwindSafe(|| self.note_error(&error, true)));
        }
    }

    /// Waits for a running maintenance job, records its outcome and flushes the audit log.
    pub fn shutdown(&mut self) {
        if let Some(outcome) = self.actuator.wait_for_maintenance() {
            let at_ns = self.engine.now_ns();
            self.record_outcome(at_ns, outcome, &mut TickReport::default());
        }
        let at_ns = self.engine.now_ns();
        let change = "healer stopped".to_owned();
        self.record(at_ns, AuditRecord::Config { change });
        self.shared.flush_audit();
    }

    /// Appends `record` to the audit log as of this tick, mode and weights.
    fn record(&self, at_ns: u64, record: AuditRecord) -> u64 {
        self.shared.audit(AuditEntry {
            seq: 0,
            tick: self.ticks,
            at_ns,
            unix_ms: unix_ms(),
            mode: self.steered.mode,
            weights: self.steered.weights,
            record,
        })
    }

    /// Counts, audits and reports an outcome.
    fn record_outcome(&mut self, now_ns: u64, outcome: OutcomeRecord, report: &mut TickReport) {
        self.shared
            .stats()
            .record_verdict(outcome.kind, outcome.verdict.name());
        self.record(now_ns, AuditRecord::Outcome(outcome.clone()));
        report.outcomes.push(outcome);
    }

    /// Counts and audits an error.
    fn note_error(&mut self, error: &HealerError, panicked: bool) {
        let message = error.to_string();
        self.shared.stats().record_error(message.clone(), panicked);
        let at_ns = self.engine.now_ns();
        self.record(at_ns, AuditRecord::Error { message, panicked });
    }

    /// Takes over steering changes made through handles since the last tick.
    fn sync_steering(&mut self, now_ns: u64, report: &mut TickReport) {
        let (mode, weights, adapt_requests) = {
            let steering = self.shared.steering.lock();
            (steering.mode, steering.weights, steering.adapt_requests)
        };
        if mode != self.steered.mode {
            self.change_mode(mode, now_ns, report);
        }
        if weights != self.steered.weights {
            self.change_weights(weights, now_ns);
        }
        if adapt_requests != self.steered.adapt_seen {
            self.adapt_now(adapt_requests, now_ns);
        }
    }

    /// Switches to `mode`; leaving active mode abandons the verifications in flight.
    fn change_mode(&mut self, mode: Mode, now_ns: u64, report: &mut TickReport) {
        let change = format!("mode {} -> {}", self.steered.mode.name(), mode.name());
        let leaving_active = self.steered.mode == Mode::Active;
        self.steered.mode = mode;
        self.record(now_ns, AuditRecord::Config { change });
        if leaving_active {
            for pending in self.guard.abandon_verifications() {
                self.record_outcome(now_ns, OutcomeRecord::abandoned(&pending), report);
            }
        }
    }

    fn change_weights(&mut self, weights: Weights, now_ns: u64) {
        let old = self.steered.weights;
        let change = format!(
            "weights (latency, throughput, resources) ({:.3}, {:.3}, {:.3}) -> ({:.3}, {:.3}, {:.3})",
            old.latency,
            old.throughput,
            old.resources,
            weights.latency,
            weights.throughput,
            weights.resources
        );
        self.steered.weights = weights;
        self.record(now_ns, AuditRecord::Config { change });
    }

    /// Passes `adapt_now` requests on to the learned detector (or says there is none).
    fn adapt_now(&mut self, adapt_requests: u64, now_ns: u64) {
        let requests = adapt_requests - self.steered.adapt_seen;
        self.steered.adapt_seen = adapt_requests;
        let change = match self.policy.learned_mut() {
            Some(learned) => {
                format!("adapt_now requested ({requests}x): {}", learned.adapt_now())
            }
            None => format!(
                "adapt_now requested ({requests}x): no learned detector is loaded, nothing \
                 to adapt"
            ),
        };
        self.record(now_ns, AuditRecord::Config { change });
    }

    /// Records a finished flush, compaction or rebuild; a completed one is the policy's now.
    fn collect_maintenance(&mut self, now_ns: u64, report: &mut TickReport) {
        let Some(outcome) = self.actuator.finished_maintenance() else {
            return;
        };
        if outcome.verdict == OutcomeVerdict::Completed {
            self.policy.feedback(&PolicyFeedback::Applied {
                kind: outcome.kind,
                action: outcome.action.clone(),
                tick: self.ticks,
            });
        }
        self.record_outcome(now_ns, outcome, report);
    }
}

/// The models part of the "healer started" audit entry.
fn describe_models(status: &ModelStatus) -> String {
    match status {
        ModelStatus::NotConfigured => "not configured".to_owned(),
        ModelStatus::Loaded { models, .. } => format!("loaded {models:?}"),
        ModelStatus::Fallback { reason } => format!("not loaded: {reason}"),
    }
}
