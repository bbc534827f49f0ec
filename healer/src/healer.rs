//! The healer runtime: the `lsmedic-healer` thread, its tick, and the handle an embedding
//! application (the `lsmedic::Db` facade) uses to steer it.
//!
//! One tick = drain the rings → window → observation → graph → features → objective →
//! verifications due → policy → guard → actuator → audit → statistics. Between ticks the
//! thread drains the rings every `drain_interval_ms`, so bursts never fill them.
//!
//! The policy is the learned one ([`LearnedPolicy`]: detector → cascade GNN → policy
//! network) when `models` load a complete learned set, else the rule policy. A tick in which
//! a learned model fails is decided by the rule policy (and audited as an error); after
//! `learned.max_model_failures` such ticks in a row the learned policy is dropped for good
//! and `HealerStats::model` says why.
//!
//! [`HealerCore`] is the tick without the thread: tests and benchmarks drive it tick by tick
//! against a stub engine with a manual clock. [`Healer`] owns the thread.
//!
//! The healer never panics the host: each tick and each drain runs under `catch_unwind`;
//! failures are counted, kept in the statistics and written to the audit log, and after
//! `max_consecutive_failures` failed ticks in a row the healer switches itself off and says
//! why. Stopping (explicitly or on drop) wakes the thread at once and joins it, including a
//! running flush/compaction/rebuild it started.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lsmedic_telemetry::{Control, Observe, Tunables};
use parking_lot::{Condvar, Mutex};

use crate::act::{self, MaintenanceJob};
use crate::action::{Action, ActionKind, Candidate};
use crate::audit::{
    unix_ms, AuditEntry, AuditLog, AuditRecord, BaselineDecision, CandidateRecord, DecisionRecord,
    FeatureSummary, LearnedRecord, OutcomeRecord,
};
use crate::config::{HealerConfig, Mode, Weights};
use crate::detect::DetectorEvent;
use crate::error::{panic_message, HealerError};
use crate::features::{feature_names, FeatureExtractor, NodeFeatures, VALUE_SLOTS};
use crate::graph::{ComponentGraph, NodeKind};
use crate::guard::{
    Guard, GuardContext, OutcomeVerdict, PendingVerification, Review, RollbackPoint, Verdict,
};
use crate::model::{load_models, LoadedModels, ModelStatus};
use crate::objective::{ObjectiveSample, ResourceBaseline};
use crate::observation::{Collector, Observation};
use crate::policy::learned::LearnedPolicy;
use crate::policy::{Policy, PolicyFeedback, PolicyInput, RulePolicy};
use crate::stats::{HealerStats, StatsCell};

/// Objective samples kept (for "before" baselines).
const OBJECTIVE_HISTORY: usize = 600;

/// Settings an application may change while the healer runs.
#[derive(Debug)]
struct Steering {
    mode: Mode,
    weights: Weights,
    adapt_requests: u64,
    stop: bool,
    running: bool,
}

/// A function told of every audit entry as it is appended (see
/// [`HealerHandle::set_audit_observer`]).
pub type AuditObserver = Arc<dyn Fn(&AuditEntry) + Send + Sync>;

/// State shared by the thread and its handles.
struct Shared {
    steering: Mutex<Steering>,
    wake: Condvar,
    stats: Mutex<StatsCell>,
    audit: Mutex<AuditLog>,
    /// Held while the observer runs, so that replacing it waits for a call in progress.
    observer: Mutex<Option<AuditObserver>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("steering", &self.steering)
            .field("stats", &self.stats)
            .field("audit", &self.audit)
            .field("observer", &self.observer.lock().is_some())
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable handle to a running healer: steer it and read what it did.
#[derive(Clone, Debug)]
pub struct HealerHandle {
    shared: Arc<Shared>,
}

impl HealerHandle {
    /// Sets the objective weights (normalised; each ≥ 0, not all 0). Takes effect next tick.
    pub fn set_weights(&self, weights: Weights) -> Result<(), HealerError> {
        let weights = weights.normalized()?;
        self.shared.steering.lock().weights = weights;
        Ok(())
    }

    /// Current weights.
    pub fn weights(&self) -> Weights {
        self.shared.steering.lock().weights
    }

    /// Sets the mode. Takes effect next tick; leaving active mode abandons verifications in
    /// flight (nothing is rolled back without active mode).
    pub fn set_mode(&self, mode: Mode) {
        self.shared.steering.lock().mode = mode;
    }

    /// Current mode.
    pub fn mode(&self) -> Mode {
        self.shared.steering.lock().mode
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> HealerStats {
        let (running, mode, weights, adapt_requests) = {
            let steering = self.shared.steering.lock();
            (
                steering.running,
                steering.mode,
                steering.weights,
                steering.adapt_requests,
            )
        };
        let mut stats = self.shared.stats.lock().snapshot();
        stats.running = running;
        stats.mode = mode;
        stats.weights = weights;
        stats.adapt_requests = adapt_requests;
        stats
    }

    /// The last `limit` audit entries kept in memory, oldest first.
    pub fn audit_entries(&self, limit: usize) -> Vec<AuditEntry> {
        self.shared.audit.lock().recent(limit)
    }

    /// Asks the learned detector to adapt to the current workload: from the next tick it
    /// gathers `K` fresh support windows and then re-runs its adaptation (the current state
    /// keeps scoring meanwhile; see [`detect`](crate::detect)). Without a learned detector
    /// the request is recorded (statistics, audit log) and has no other effect.
    pub fn adapt_now(&self) -> Result<(), HealerError> {
        let mut steering = self.shared.steering.lock();
        if steering.stop {
            return Err(HealerError::Stopped);
        }
        steering.adapt_requests += 1;
        drop(steering);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Whether the healer thread is running.
    pub fn is_running(&self) -> bool {
        self.shared.steering.lock().running
    }

    /// Calls `observer` with every audit entry appended from now on (decisions, outcomes,
    /// errors, configuration changes), on the thread that appends it: the `lsmedic-healer`
    /// thread. `None` removes it. A call in progress finishes before this returns, so once
    /// it returns the previous observer is never called again. The observer runs inside the
    /// tick (keep it short) and must not call `set_audit_observer` itself (it would wait for
    /// itself); a panic in it is caught and ignored.
    pub fn set_audit_observer(&self, observer: Option<AuditObserver>) {
        *self.shared.observer.lock() = observer;
    }
}

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

/// What the deciding policy proposed in one tick.
struct Proposal {
    candidates: Vec<Candidate>,
    /// Name of the policy that proposed (`learned`, `rules`, …).
    policy: String,
    learned: Option<LearnedRecord>,
    anomaly_edge: Option<bool>,
    /// The learned policy began vetoing a rule action this tick.
    veto_edge: bool,
    events: Vec<DetectorEvent>,
    /// The learned policy failed this tick (the rule policy proposed instead): why.
    failure: Option<String>,
}

/// The healer's tick, without a thread (see the module docs).
pub struct HealerCore<E: Control + Observe + 'static> {
    engine: Arc<E>,
    config: HealerConfig,
    shared: Arc<Shared>,
    mode: Mode,
    weights: Weights,
    adapt_seen: u64,
    collector: Collector,
    graph: ComponentGraph,
    extractor: FeatureExtractor,
    features: NodeFeatures,
    observation: Option<Observation>,
    policy: Box<dyn Policy>,
    guard: Guard,
    objective_history: VecDeque<ObjectiveSample>,
    resource_baseline: ResourceBaseline,
    baseline_tunables: Tunables,
    last_tunables: Tunables,
    maintenance: Option<MaintenanceJob>,
    models: Option<LoadedModels>,
    /// The learned policy, when a complete learned set loaded (the rule policy in `policy`
    /// then stands by as the fallback).
    learned: Option<LearnedPolicy>,
    /// Consecutive ticks in which the learned policy failed.
    learned_failures: u32,
    consecutive_failures: u32,
    ticks: u64,
}

impl<E: Control + Observe + 'static> std::fmt::Debug for HealerCore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealerCore")
            .field("mode", &self.mode)
            .field("ticks", &self.ticks)
            .field("graph_nodes", &self.graph.node_count())
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
        let mut audit = AuditLog::open(config.audit.clone())?;
        let (models, model_status, learned) = load_learned(&config);
        let policy: Box<dyn Policy> = Box::new(RulePolicy::new(config.rules.clone()));
        stats.stats.model = model_status.clone();
        stats.stats.policy = match &learned {
            Some(learned) => learned.name().to_owned(),
            None => policy.name().to_owned(),
        };
        let graph = ComponentGraph::new(&cfs);
        stats.stats.column_families = cfs.len();
        stats.stats.graph_nodes = graph.node_count();
        stats.stats.graph_edges = graph.edge_count();
        let now_ns = engine.now_ns();
        let mode = config.mode;
        let weights = config.weights;
        audit.append(AuditEntry {
            seq: 0,
            tick: 0,
            at_ns: now_ns,
            unix_ms: unix_ms(),
            mode,
            weights,
            record: AuditRecord::Config {
                change: format!(
                    "healer started: mode {}, policy {}, models {}",
                    mode.name(),
                    stats.stats.policy,
                    match &model_status {
                        ModelStatus::NotConfigured => "not configured".to_owned(),
                        ModelStatus::Loaded { models, .. } => format!("loaded {models:?}"),
                        ModelStatus::Fallback { reason } => format!("not loaded: {reason}"),
                    }
                ),
            },
        });
        stats.stats.audit_entries = audit.next_seq() - 1;
        let shared = Arc::new(Shared {
            steering: Mutex::new(Steering {
                mode,
                weights,
                adapt_requests: 0,
                stop: false,
                running: false,
            }),
            wake: Condvar::new(),
            stats: Mutex::new(stats),
            audit: Mutex::new(audit),
            observer: Mutex::new(None),
        });
        Ok(HealerCore {
            collector: Collector::new(now_ns)?,
            guard: Guard::new(config.guard.clone()),
            resource_baseline: ResourceBaseline::of(&tunables),
            baseline_tunables: tunables.clone(),
            last_tunables: tunables,
            engine,
            config,
            shared,
            mode,
            weights,
            adapt_seen: 0,
            graph,
            extractor: FeatureExtractor::new(),
            features: NodeFeatures::default(),
            observation: None,
            policy,
            objective_history: VecDeque::new(),
            maintenance: None,
            models,
            learned,
            learned_failures: 0,
            consecutive_failures: 0,
            ticks: 0,
        })
    }

    /// A handle to steer this healer.
    pub fn handle(&self) -> HealerHandle {
        HealerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The last tick's observation.
    pub fn observation(&self) -> Option<&Observation> {
        self.observation.as_ref()
    }

    /// The last tick's features.
    pub fn features(&self) -> &NodeFeatures {
        &self.features
    }

    /// The component graph.
    pub fn graph(&self) -> &ComponentGraph {
        &self.graph
    }

    /// Replaces the policy (e.g. with an exploration wrapper around the rules, for training
    /// data); takes effect on the next tick, and the statistics report its name.
    pub fn set_policy(&mut self, policy: Box<dyn Policy>) {
        self.shared.stats.lock().stats.policy = policy.name().to_owned();
        self.policy = policy;
        // An explicitly set policy decides, not a loaded learned one.
        self.learned = None;
    }

    /// The objective of the last decided tick (`None` before the first).
    pub fn objective(&self) -> Option<&ObjectiveSample> {
        self.objective_history.back()
    }

    /// The tunables in force at the last decided tick, as the policy saw them (before that
    /// tick's actions).
    pub fn tunables(&self) -> &Tunables {
        &self.last_tunables
    }

    /// The tunables "as configured": what the healer returns to (the policy's baseline).
    pub fn baseline_tunables(&self) -> &Tunables {
        &self.baseline_tunables
    }

    /// The objective weights in force.
    pub fn weights(&self) -> Weights {
        self.weights
    }

    /// Loaded models, if any (the learned set's sessions belong to the learned policy).
    pub fn models(&self) -> Option<&LoadedModels> {
        self.models.as_ref()
    }

    /// The learned policy, when it decides.
    pub fn learned(&self) -> Option<&LearnedPolicy> {
        self.learned.as_ref()
    }

    /// The learned policy, mutable (tests and benchmarks drive its detector).
    pub fn learned_mut(&mut self) -> Option<&mut LearnedPolicy> {
        self.learned.as_mut()
    }

    /// Drains the engine's rings into the current window; returns (ops, events).
    pub fn drain(&mut self) -> (usize, usize) {
        let drained = self.collector.drain(&*self.engine);
        let (ops, events) = self.collector.drained();
        let mut stats = self.shared.stats.lock();
        stats.stats.drains += 1;
        stats.stats.ops_drained = ops;
        stats.stats.events_drained = events;
        drained
    }

    fn entry(&self, tick: u64, at_ns: u64, record: AuditRecord) -> AuditEntry {
        AuditEntry {
            seq: 0,
            tick,
            at_ns,
            unix_ms: unix_ms(),
            mode: self.mode,
            weights: self.weights,
            record,
        }
    }

    fn audit(&self, entry: AuditEntry) -> u64 {
        // Taken first and held across the call, so that `set_audit_observer` waits for it.
        let observer = self.shared.observer.lock();
        let mut copy = observer.is_some().then(|| entry.clone());
        let mut audit = self.shared.audit.lock();
        let seq = audit.append(entry);
        let (errors, _) = audit.write_errors();
        let written = audit.next_seq() - 1;
        drop(audit);
        let mut stats = self.shared.stats.lock();
        stats.stats.audit_write_errors = errors;
        stats.stats.audit_entries = written;
        drop(stats);
        if let (Some(observer), Some(copy)) = (observer.as_ref(), copy.as_mut()) {
            copy.seq = seq;
            // The observer is the embedder's code: it must not take the healer down.
            let _ = catch_unwind(AssertUnwindSafe(|| observer(copy)));
        }
        seq
    }

    /// Applies steering changes made through handles since the last tick.
    fn sync_steering(&mut self, now_ns: u64, report: &mut TickReport) {
        let (mode, weights, adapt) = {
            let steering = self.shared.steering.lock();
            (steering.mode, steering.weights, steering.adapt_requests)
        };
        if mode != self.mode {
            let change = format!("mode {} -> {}", self.mode.name(), mode.name());
            let leaving_active = self.mode == Mode::Active;
            self.mode = mode;
            self.audit(self.entry(self.ticks, now_ns, AuditRecord::Config { change }));
            if leaving_active {
                for pending in self.guard.abandon_verifications() {
                    let outcome = OutcomeRecord {
                        decision_seq: pending.decision_seq,
                        kind: pending.kind,
                        action: pending.action.clone(),
                        verdict: OutcomeVerdict::Abandoned,
                        before: Some(pending.before),
                        after: None,
                        comparison: None,
                        detail: Some("left active mode before the verdict; kept".to_owned()),
                    };
                    self.record_outcome(now_ns, outcome, report);
                }
            }
        }
        if weights != self.weights {
            let change = format!(
                "weights (latency, throughput, resources) ({:.3}, {:.3}, {:.3}) -> ({:.3}, {:.3}, {:.3})",
                self.weights.latency,
                self.weights.throughput,
                self.weights.resources,
                weights.latency,
                weights.throughput,
                weights.resources
            );
            self.weights = weights;
            self.audit(self.entry(self.ticks, now_ns, AuditRecord::Config { change }));
        }
        if adapt != self.adapt_seen {
            let requests = adapt - self.adapt_seen;
            self.adapt_seen = adapt;
            let change = match self.learned.as_mut() {
                Some(learned) => {
                    format!("adapt_now requested ({requests}x): {}", learned.adapt_now())
                }
                None => format!(
                    "adapt_now requested ({requests}x): no learned detector is loaded, nothing \
                     to adapt"
                ),
            };
            self.audit(self.entry(self.ticks, now_ns, AuditRecord::Config { change }));
        }
    }

    fn record_outcome(&mut self, now_ns: u64, outcome: OutcomeRecord, report: &mut TickReport) {
        self.shared
            .stats
            .lock()
            .count(outcome.kind, outcome.verdict.name());
        self.audit(self.entry(self.ticks, now_ns, AuditRecord::Outcome(outcome.clone())));
        report.outcomes.push(outcome);
    }

    fn poll_maintenance(&mut self, now_ns: u64, report: &mut TickReport) {
        if !self
            .maintenance
            .as_ref()
            .is_some_and(MaintenanceJob::is_finished)
        {
            return;
        }
        let Some(job) = self.maintenance.take() else {
            return;
        };
        let outcome = maintenance_outcome(job);
        if outcome.verdict == OutcomeVerdict::Completed {
            self.policy.feedback(&PolicyFeedback::Applied {
                kind: outcome.kind,
                action: outcome.action.clone(),
                tick: self.ticks,
            });
        }
        self.record_outcome(now_ns, outcome, report);
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
        report.mode = self.mode;
        self.drain();
        self.poll_maintenance(now_ns, &mut report);
        let result = if self.mode == Mode::Off {
            self.collector.discard(self.engine.now_ns());
            Ok(())
        } else {
            self.decide(&mut report)
        };
        report.duration = started.elapsed();
        let (dropped_ops, dropped_events) = self.engine.dropped();
        {
            let mut stats = self.shared.stats.lock();
            stats.stats.ticks = self.ticks;
            stats.record_tick(report.duration.as_micros() as u64);
            stats.stats.dropped_ops = dropped_ops;
            stats.stats.dropped_events = dropped_events;
            stats.stats.verifications_pending = self.guard.pending().len();
            for review in &report.reviews {
                stats.count(review.candidate.kind, review.verdict.name());
            }
        }
        result.map(|()| report)
    }

    fn decide(&mut self, report: &mut TickReport) -> Result<(), HealerError> {
        let tunables = match self.engine.tunables() {
            Ok(tunables) => tunables,
            Err(err) => {
                // Decide on the last known values rather than not at all; report the error.
                self.note_error(&HealerError::control("tunables", err), false);
                self.last_tunables.clone()
            }
        };
        let cfs = self.engine.column_families();
        if !self.graph.matches(&cfs) {
            self.graph = ComponentGraph::new(&cfs);
            self.collector.forget_names();
            for cf in &cfs {
                if let Some(values) = tunables.cfs.get(cf) {
                    self.baseline_tunables
                        .cfs
                        .entry(cf.clone())
                        .or_insert_with(|| values.clone());
                }
            }
            let mut stats = self.shared.stats.lock();
            stats.stats.graph_rebuilds += 1;
            stats.stats.column_families = cfs.len();
            stats.stats.graph_nodes = self.graph.node_count();
            stats.stats.graph_edges = self.graph.edge_count();
        }
        let observation = self.collector.finish_tick(&*self.engine, &tunables);
        let now_ns = observation.end_ns;
        self.extractor
            .extract(&self.graph, &observation, &mut self.features);
        let sample = ObjectiveSample::measure(&observation, &tunables, &self.resource_baseline);

        // Verdicts of earlier actions come first: a roll-back changes what the policy sees.
        for result in self.guard.step_verifications(&sample, &self.weights) {
            let mut verdict = result.verdict;
            let mut detail = None;
            if verdict == OutcomeVerdict::RolledBack {
                if self.mode == Mode::Active {
                    match act::roll_back(&*self.engine, &result.pending.rollback) {
                        Ok(()) => {
                            self.guard.penalise(
                                result.pending.kind,
                                &result.pending.action,
                                now_ns,
                            );
                            self.guard.record_applied(
                                self.ticks,
                                0,
                                result.pending.kind,
                                &result.pending.action,
                            );
                            self.policy.feedback(&PolicyFeedback::RolledBack {
                                kind: result.pending.kind,
                                action: result.pending.action.clone(),
                            });
                        }
                        Err(err) => {
                            verdict = OutcomeVerdict::RollbackFailed;
                            detail = Some(err.to_string());
                        }
                    }
                } else {
                    verdict = OutcomeVerdict::Abandoned;
                    detail = Some("worse, but the healer is no longer active".to_owned());
                }
            }
            if let Some(confounder) = &result.confounded_by {
                detail = Some(format!("not attributable, kept: {confounder}"));
            }
            let outcome = OutcomeRecord {
                decision_seq: result.pending.decision_seq,
                kind: result.pending.kind,
                action: result.pending.action,
                verdict,
                before: Some(result.pending.before),
                after: Some(result.after),
                comparison: result.comparison,
                detail,
            };
            self.record_outcome(now_ns, outcome, report);
        }

        let proposal = self.propose(&observation, &tunables, now_ns);
        self.note_learned(&proposal, now_ns);
        let Proposal {
            candidates,
            policy: policy_name,
            learned: learned_record,
            anomaly_edge,
            veto_edge,
            ..
        } = proposal;
        let mut reviews = if candidates.is_empty() {
            Vec::new()
        } else {
            let ctx = GuardContext {
                now_ns,
                tick: self.ticks,
                mode: self.mode,
                allow_destructive: self.config.allow_destructive,
                tunables: &tunables,
                cfs: &cfs,
                maintenance_busy: self.maintenance.is_some(),
            };
            self.guard.review(candidates, &ctx)
        };

        let baseline_ticks = self.config.guard.verify.baseline_ticks as usize;
        let before =
            ObjectiveSample::mean(self.objective_history.iter().rev().take(baseline_ticks));
        let decision_seq = self.shared.audit.lock().next_seq();
        let mut to_verify: Vec<PendingVerification> = Vec::new();
        if self.mode == Mode::Active {
            for review in reviews.iter_mut().filter(|r| r.verdict == Verdict::Applied) {
                let Some(action) = review.action.clone() else {
                    continue;
                };
                let kind = review.candidate.kind;
                match self.apply(kind, &action, decision_seq) {
                    Ok(()) => {
                        self.guard
                            .record_applied(self.ticks, decision_seq, kind, &action);
                        if action.is_reversible() {
                            self.policy.feedback(&PolicyFeedback::Applied {
                                kind,
                                action: action.clone(),
                                tick: self.ticks,
                            });
                            if let Some(before) = before {
                                to_verify.push(PendingVerification::new(
                                    decision_seq,
                                    kind,
                                    action.clone(),
                                    RollbackPoint::capture(&action, &tunables),
                                    before,
                                    self.ticks,
                                ));
                            }
                        }
                    }
                    Err(err) => {
                        review.verdict = Verdict::Failed;
                        review.detail = Some(err.to_string());
                    }
                }
            }
        }
        for pending in to_verify {
            self.guard.begin_verification(pending);
        }

        if reviews.iter().any(|r| !r.verdict.is_quiet()) || anomaly_edge.is_some() || veto_edge {
            let mut summary = FeatureSummary::of(&observation);
            summary.top_anomalies = self.top_anomalies(3);
            let record = DecisionRecord {
                policy: policy_name,
                learned: learned_record.clone(),
                summary,
                objective: sample,
                candidates: reviews
                    .iter()
                    .map(|r| CandidateRecord {
                        kind: r.candidate.kind,
                        proposed: r.candidate.action.clone(),
                        action: r.action.clone(),
                        rule: r.candidate.rule.clone(),
                        reason: r.candidate.reason.clone(),
                        score: r.candidate.score,
                        verdict: r.verdict,
                        detail: r.detail.clone(),
                    })
                    .collect(),
            };
            self.audit(self.entry(self.ticks, now_ns, AuditRecord::Decision(record)));
        }
        report.reviews = reviews;
        report.learned = learned_record;

        self.objective_history.push_back(sample);
        while self.objective_history.len() > OBJECTIVE_HISTORY {
            self.objective_history.pop_front();
        }
        self.last_tunables = tunables;
        self.observation = Some(observation);
        Ok(())
    }

    /// Runs the deciding policy: the learned one when loaded — the rule policy instead for a
    /// tick in which it fails — else the configured one.
    fn propose(&mut self, observation: &Observation, tunables: &Tunables, now_ns: u64) -> Proposal {
        let input = PolicyInput {
            tick: self.ticks,
            now_ns,
            observation,
            features: &self.features,
            graph: &self.graph,
            weights: self.weights,
            tunables,
            baseline: &self.baseline_tunables,
        };
        let mut proposal = Proposal {
            candidates: Vec::new(),
            policy: self.policy.name().to_owned(),
            learned: None,
            anomaly_edge: None,
            veto_edge: false,
            events: Vec::new(),
            failure: None,
        };
        let mut rules = None;
        if let Some(learned) = self.learned.as_mut() {
            // The rule policy proposes once per tick (it is stateful): the learned policy keeps
            // to its choice unless its values say otherwise, and it decides if a model fails.
            if learned.follows_rules() {
                rules = Some(self.policy.propose(&input));
            }
            // ONNX Runtime is foreign code: a panic there is a model failure, not a tick's.
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                learned.try_propose(&input, rules.as_deref())
            }));
            proposal.events = learned.take_events();
            match outcome {
                Ok(Ok(candidates)) => {
                    proposal.candidates = candidates;
                    proposal.policy = learned.name().to_owned();
                    proposal.learned = learned.explanation().cloned();
                    proposal.anomaly_edge = learned.anomaly_edge();
                    proposal.veto_edge = learned.veto_edge();
                    return proposal;
                }
                Ok(Err(err)) => proposal.failure = Some(err.to_string()),
                Err(payload) => {
                    proposal.failure = Some(format!("panicked: {}", panic_message(&*payload)));
                }
            }
        }
        proposal.candidates = match rules {
            Some(rules) => rules,
            None => self.policy.propose(&input),
        };
        proposal
    }

    /// Audits the learned policy's detector events and failures, drops it after too many
    /// failures in a row, and updates its statistics.
    fn note_learned(&mut self, proposal: &Proposal, now_ns: u64) {
        for event in &proposal.events {
            let change = event.to_string();
            self.audit(self.entry(self.ticks, now_ns, AuditRecord::Config { change }));
        }
        if let Some(failure) = &proposal.failure {
            self.learned_failures += 1;
            let max = self.config.learned.max_model_failures;
            let message = format!(
                "learned policy failed ({} of {max} in a row; the rule policy decides this \
                 tick): {failure}",
                self.learned_failures
            );
            {
                let mut stats = self.shared.stats.lock();
                stats.stats.model_failures += 1;
                stats.stats.last_error = Some(message.clone());
            }
            self.audit(self.entry(
                self.ticks,
                now_ns,
                AuditRecord::Error {
                    message,
                    panicked: failure.starts_with("panicked: "),
                },
            ));
            if self.learned_failures >= max {
                self.learned = None;
                let reason = format!(
                    "the learned policy failed in {} ticks in a row and was dropped; the rule \
                     policy decides from now on; last failure: {failure}",
                    self.learned_failures
                );
                {
                    let mut stats = self.shared.stats.lock();
                    stats.stats.policy = self.policy.name().to_owned();
                    stats.stats.model = ModelStatus::Fallback {
                        reason: reason.clone(),
                    };
                }
                self.audit(self.entry(self.ticks, now_ns, AuditRecord::Config { change: reason }));
            }
        } else if self.learned.is_some() {
            self.learned_failures = 0;
        }
        if let Some(learned) = &self.learned {
            let mut stats = self.shared.stats.lock();
            stats.stats.adaptations = learned.detector().adaptations();
            stats.stats.detector_score = proposal
                .learned
                .as_ref()
                .and_then(|record| record.detector.score);
            if let Some(baseline) = proposal.learned.as_ref().and_then(|r| r.baseline.as_ref()) {
                match baseline.decision {
                    BaselineDecision::Followed => {}
                    BaselineDecision::Replaced => stats.stats.learned_replacements += 1,
                    BaselineDecision::Vetoed => stats.stats.learned_vetoes += 1,
                }
            }
        }
    }

    fn apply(
        &mut self,
        kind: ActionKind,
        action: &Action,
        decision_seq: u64,
    ) -> Result<(), HealerError> {
        if !action.is_blocking() {
            return act::apply(&*self.engine, action);
        }
        if self.maintenance.is_some() {
            return Err(HealerError::control(
                action.to_string(),
                lsmedic_telemetry::ControlError::Unavailable {
                    what: "the healer's maintenance thread".to_owned(),
                    reason: "another flush, compaction or rebuild is still running".to_owned(),
                },
            ));
        }
        self.maintenance = Some(MaintenanceJob::spawn(
            Arc::clone(&self.engine),
            decision_seq,
            kind,
            action.clone(),
        )?);
        Ok(())
    }

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

    fn note_error(&mut self, error: &HealerError, panicked: bool) {
        let message = error.to_string();
        {
            let mut stats = self.shared.stats.lock();
            stats.stats.errors += 1;
            if panicked {
                stats.stats.panics += 1;
            }
            stats.stats.last_error = Some(message.clone());
        }
        let at_ns = self.engine.now_ns();
        self.audit(self.entry(self.ticks, at_ns, AuditRecord::Error { message, panicked }));
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
            && self.mode != Mode::Off
        {
            let reason = format!(
                "switched off after {} failed ticks in a row; last: {error}",
                self.consecutive_failures
            );
            self.shared.steering.lock().mode = Mode::Off;
            self.shared.stats.lock().stats.disabled_reason = Some(reason);
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
        if let Some(job) = self.maintenance.take() {
            let outcome = maintenance_outcome(job);
            let at_ns = self.engine.now_ns();
            self.record_outcome(at_ns, outcome, &mut TickReport::default());
        }
        let at_ns = self.engine.now_ns();
        self.audit(self.entry(
            self.ticks,
            at_ns,
            AuditRecord::Config {
                change: "healer stopped".to_owned(),
            },
        ));
        let _ = self.shared.audit.lock().flush();
    }
}

/// Loads the configured models; a complete learned set becomes the learned policy. Failures
/// leave the rule policy in charge and say why.
fn load_learned(
    config: &HealerConfig,
) -> (Option<LoadedModels>, ModelStatus, Option<LearnedPolicy>) {
    if !config.models.enabled {
        return (None, ModelStatus::NotConfigured, None);
    }
    let mut loaded = match load_models(
        config.models.onnxruntime_path.as_deref(),
        config.models.dir.as_deref(),
    ) {
        Ok(loaded) => loaded,
        Err(err) => {
            return (
                None,
                ModelStatus::Fallback {
                    reason: err.to_string(),
                },
                None,
            )
        }
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
        Err(err) => (
            None,
            ModelStatus::Fallback {
                reason: err.to_string(),
            },
            None,
        ),
    }
}

/// Waits for a maintenance job and describes how it ended.
fn maintenance_outcome(job: MaintenanceJob) -> OutcomeRecord {
    let (decision_seq, kind, action, result) = job.join();
    let (verdict, detail) = match result {
        Ok(text) => (OutcomeVerdict::Completed, text),
        Err(err) => (OutcomeVerdict::Failed, err.to_string()),
    };
    OutcomeRecord {
        decision_seq,
        kind,
        action,
        verdict,
        before: None,
        after: None,
        comparison: None,
        detail: Some(detail),
    }
}

/// The healer: a [`HealerCore`] on its own named thread (`lsmedic-healer`).
#[derive(Debug)]
pub struct Healer {
    handle: HealerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Healer {
    /// Starts healing `engine` with `config`. Fails on an invalid config, an unreadable
    /// engine, an unopenable audit log or when the thread cannot be spawned; model-loading
    /// failures do not fail the start (the rule policy runs, see `HealerStats::model`).
    pub fn start<E: Control + Observe + 'static>(
        engine: Arc<E>,
        config: HealerConfig,
    ) -> Result<Healer, HealerError> {
        let mut core = HealerCore::new(engine, config)?;
        let handle = core.handle();
        handle.shared.steering.lock().running = true;
        let tick_interval = core.config.tick_interval();
        let drain_interval = core.config.drain_interval();
        let shared = Arc::clone(&handle.shared);
        let name = "lsmedic-healer".to_owned();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                run(&mut core, &shared, tick_interval, drain_interval);
                core.shutdown();
                shared.steering.lock().running = false;
            })
            .map_err(|source| {
                handle.shared.steering.lock().running = false;
                HealerError::Spawn { name, source }
            })?;
        Ok(Healer {
            handle,
            thread: Some(thread),
        })
    }

    /// A handle (cloneable, `Send + Sync`) to steer and read the healer.
    pub fn handle(&self) -> HealerHandle {
        self.handle.clone()
    }

    /// Stops the thread and waits for it (idempotent).
    pub fn stop(&mut self) -> Result<(), HealerError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.handle.shared.steering.lock().stop = true;
        self.handle.shared.wake.notify_all();
        thread.join().map_err(|payload| {
            self.handle.shared.steering.lock().running = false;
            HealerError::ThreadPanicked {
                message: panic_message(&*payload),
            }
        })
    }

    /// See [`HealerHandle::set_weights`].
    pub fn set_weights(&self, weights: Weights) -> Result<(), HealerError> {
        self.handle.set_weights(weights)
    }

    /// See [`HealerHandle::set_mode`].
    pub fn set_mode(&self, mode: Mode) {
        self.handle.set_mode(mode);
    }

    /// See [`HealerHandle::stats`].
    pub fn stats(&self) -> HealerStats {
        self.handle.stats()
    }

    /// See [`HealerHandle::audit_entries`].
    pub fn audit_entries(&self, limit: usize) -> Vec<AuditEntry> {
        self.handle.audit_entries(limit)
    }

    /// See [`HealerHandle::adapt_now`].
    pub fn adapt_now(&self) -> Result<(), HealerError> {
        self.handle.adapt_now()
    }
}

impl Drop for Healer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn run<E: Control + Observe + 'static>(
    core: &mut HealerCore<E>,
    shared: &Shared,
    tick_interval: Duration,
    drain_interval: Duration,
) {
    let start = Instant::now();
    let mut next_tick = start + tick_interval;
    let mut next_drain = start + drain_interval;
    loop {
        {
            let mut steering = shared.steering.lock();
            let deadline = next_tick.min(next_drain);
            while !steering.stop && Instant::now() < deadline {
                if shared.wake.wait_until(&mut steering, deadline).timed_out() {
                    break;
                }
            }
            if steering.stop {
                return;
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            core.guarded_tick();
            next_tick += tick_interval;
            let after = Instant::now();
            if next_tick <= after {
                // Fell behind (a slow tick): skip ticks rather than run them back to back.
                next_tick = after + tick_interval;
            }
            next_drain = after + drain_interval;
        } else if now >= next_drain {
            core.guarded_drain();
            next_drain = Instant::now() + drain_interval;
        }
    }
}
