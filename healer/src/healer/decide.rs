//! The deciding part of a tick, in named steps: observe, conclude the verifications due,
//! ask the policy, let the guard review, act on what it approved, audit the decision, and
//! remember the tick.

use lsmedic_telemetry::{Control, Observe, Tunables};

use super::{HealerCore, TickReport};
use crate::audit::{AuditRecord, CandidateRecord, DecisionRecord, FeatureSummary};
use crate::config::Mode;
use crate::error::HealerError;
use crate::guard::{GuardContext, PendingVerification, Review, RollbackPoint, Verdict};
use crate::objective::ObjectiveSample;
use crate::observation::Observation;
use crate::policy::fallback::{FailedTick, Proposal};
use crate::policy::{Policy, PolicyFeedback, PolicyInput};

impl<E: Control + Observe + 'static> HealerCore<E> {
    /// Everything after the drain in a tick that is not off.
    pub(super) fn decide(&mut self, report: &mut TickReport) -> Result<(), HealerError> {
        let tunables = self.read_tunables();
        let cfs = self.engine.column_families();
        self.follow_column_families(&cfs, &tunables);
        let observation = self.perception.observe(&*self.engine, &tunables);
        let now_ns = observation.end_ns;
        let sample =
            ObjectiveSample::measure(&observation, &tunables, &self.memory.resource_baseline);
        // Verdicts of earlier actions come first: a roll-back changes what the policy sees.
        self.conclude_verifications(&sample, now_ns, report);
        let mut proposal = self.propose(&observation, &tunables, now_ns);
        self.note_proposal(&proposal, now_ns);
        let candidates = std::mem::take(&mut proposal.candidates);
        let mut reviews = if candidates.is_empty() {
            Vec::new()
        } else {
            let ctx = GuardContext {
                now_ns,
                tick: self.ticks,
                mode: self.steered.mode,
                allow_destructive: self.config.allow_destructive,
                tunables: &tunables,
                cfs: &cfs,
                maintenance_busy: self.actuator.maintenance_busy(),
            };
            self.guard.review(candidates, &ctx)
        };
        if self.steered.mode == Mode::Active {
            self.act_on(&mut reviews, &tunables);
        }
        if reviews.iter().any(|r| !r.verdict.is_quiet()) || proposal.is_notable() {
            self.audit_decision(&proposal, &observation, sample, &reviews, now_ns);
        }
        report.reviews = reviews;
        report.learned = proposal.learned;
        self.memory.remember(sample, tunables);
        self.perception.observation = Some(observation);
        Ok(())
    }

    /// The engine's tunables; on an error the last known ones (decide on them rather than
    /// not at all) and the error is reported.
    fn read_tunables(&mut self) -> Tunables {
        match self.engine.tunables() {
            Ok(tunables) => tunables,
            Err(err) => {
                self.note_error(&HealerError::control("tunables", err), false);
                self.memory.last_tunables.clone()
            }
        }
    }

    /// Rebuilds the graph when column families came or went; a new one's tunables become its
    /// baseline.
    fn follow_column_families(&mut self, cfs: &[String], tunables: &Tunables) {
        if !self.perception.follow(cfs) {
            return;
        }
        self.memory.adopt_new_cfs(cfs, tunables);
        self.shared
            .stats()
            .record_graph(&self.perception.graph, true);
    }

    /// Feeds the tick's objective to the verifications; the finished ones are kept or rolled
    /// back by the actuator, told to the policy and audited.
    fn conclude_verifications(
        &mut self,
        sample: &ObjectiveSample,
        now_ns: u64,
        report: &mut TickReport,
    ) {
        let active = self.steered.mode == Mode::Active;
        for result in self.guard.step_verifications(sample, &self.steered.weights) {
            let concluded =
                self.actuator
                    .conclude(result, active, &mut self.guard, self.ticks, now_ns);
            if let Some(feedback) = &concluded.feedback {
                self.policy.feedback(feedback);
            }
            self.record_outcome(now_ns, concluded.outcome, report);
        }
    }

    /// Asks the policy for this tick's candidates.
    fn propose(&mut self, observation: &Observation, tunables: &Tunables, now_ns: u64) -> Proposal {
        let input = PolicyInput {
            tick: self.ticks,
            now_ns,
            observation,
            features: &self.perception.features,
            graph: &self.perception.graph,
            weights: self.steered.weights,
            tunables,
            baseline: &self.memory.baseline_tunables,
        };
        self.policy.decide(&input)
    }

    /// Audits the learned detector's events and a learned failure, and updates the learned
    /// policy's statistics.
    fn note_proposal(&mut self, proposal: &Proposal, now_ns: u64) {
        for event in &proposal.events {
            let change = event.to_string();
            self.record(now_ns, AuditRecord::Config { change });
        }
        if let Some(failed) = &proposal.failure {
            self.note_learned_failure(failed, now_ns);
        }
        if let Some(learned) = self.policy.learned() {
            self.shared
                .stats()
                .record_learned_tick(learned.detector().adaptations(), proposal.learned.as_ref());
        }
    }

    /// Counts and audits a tick the learned policy failed, and its dropping if it was.
    fn note_learned_failure(&mut self, failed: &FailedTick, now_ns: u64) {
        let message = failed.message();
        self.shared.stats().record_model_failure(message.clone());
        let panicked = failed.failure.is_panic();
        self.record(now_ns, AuditRecord::Error { message, panicked });
        if let Some(reason) = failed.drop_reason() {
            self.shared
                .stats()
                .record_learned_dropped(self.policy.name(), reason.clone());
            self.record(now_ns, AuditRecord::Config { change: reason });
        }
    }

    /// Applies what the guard approved (active mode): a failure turns the verdict into
    /// `Failed`; a reversible action is told to the policy and verified against the
    /// objective of the ticks before.
    fn act_on(&mut self, reviews: &mut [Review], tunables: &Tunables) {
        let baseline_ticks = self.config.guard.verify.baseline_ticks as usize;
        let before = self.memory.objective_before(baseline_ticks);
        // The decision entry written after this is the one the outcomes refer to.
        let decision_seq = self.shared.next_audit_seq();
        let mut to_verify: Vec<PendingVerification> = Vec::new();
        for review in reviews.iter_mut().filter(|r| r.verdict == Verdict::Applied) {
            let Some(action) = review.action.clone() else {
                continue;
            };
            let kind = review.candidate.kind;
            if let Err(err) = self.actuator.apply(kind, &action, decision_seq) {
                review.verdict = Verdict::Failed;
                review.detail = Some(err.to_string());
                continue;
            }
            self.guard
                .record_applied(self.ticks, decision_seq, kind, &action);
            if !action.is_reversible() {
                continue;
            }
            self.policy.feedback(&PolicyFeedback::Applied {
                kind,
                action: action.clone(),
                tick: self.ticks,
            });
            if let Some(before) = before {
                let rollback = RollbackPoint::capture(&action, tunables);
                to_verify.push(PendingVerification::new(
                    decision_seq,
                    kind,
                    action,
                    rollback,
                    before,
                    self.ticks,
                ));
            }
        }
        for pending in to_verify {
            self.guard.begin_verification(pending);
        }
    }

    /// Writes the decision entry: the policy's view, the tick's summary and every verdict.
    fn audit_decision(
        &self,
        proposal: &Proposal,
        observation: &Observation,
        sample: ObjectiveSample,
        reviews: &[Review],
        now_ns: u64,
    ) {
        let mut summary = FeatureSummary::of(observation);
        summary.top_anomalies = self.perception.top_anomalies(3);
        let record = DecisionRecord {
            policy: proposal.policy.clone(),
            learned: proposal.learned.clone(),
            summary,
            objective: sample,
            candidates: reviews.iter().map(CandidateRecord::of).collect(),
        };
        self.record(now_ns, AuditRecord::Decision(record));
    }
}
