//! The guard: the only way from a policy's proposal to the engine. It enforces, in order:
//! a valid target, one action per family and target per tick, no new action while the last
//! one of that family is being verified, cooldowns per family and target, destructive
//! actions only when allowed, the configured bounds per option (values are clamped into
//! them; a change that clamping would reverse or empty is dropped), at most
//! `max_actions_per_tick`, and the action budget per minute. In advisory mode it reaches the
//! same verdicts (so the log shows what *would* happen, cooldowns and budget included) but
//! nothing is applied.
//!
//! It also runs verify-after-act: for every applied action of a verified family it keeps the
//! previous values of what the action changed and the objective before; after
//! `settle_ticks + measure_ticks` it compares, and a result worse than `margin` is rolled
//! back (by the [actuator](crate::act), through `Control::restore`) and the family's
//! cooldown on that target is stretched. When another change was made inside the window
//! (from its baseline to its end), the measurement cannot be attributed and the verdict is
//! `Inconclusive` (kept): a throttle engaged in the same burst must not get a thread raise
//! rolled back.
//!
//! The guard never calls the engine itself; it is pure bookkeeping, so its invariants are
//! tested with random inputs.

use std::collections::{HashMap, VecDeque};

use lsmedic_telemetry::control::check_cf_rules;
use lsmedic_telemetry::{ThrottleScope, Tunable, Tunables};
use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionFamily, ActionKind, Candidate};
use crate::config::{GuardConfig, Mode, Weights};
use crate::objective::{ObjectiveComparison, ObjectiveSample};

const MINUTE_NS: u64 = 60_000_000_000;

/// What the guard decided about one candidate.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Passed and applied through `Control`.
    Applied,
    /// Passed, but the healer is advisory: logged, not applied.
    Advised,
    /// Passed, but `Control` refused or failed it.
    Failed,
    /// Its family acted on this target too recently.
    Cooldown,
    /// The action budget of the last minute is spent.
    Budget,
    /// The last action of its family on this target is still being verified.
    Verifying,
    /// A better candidate of the same family and target (or the per-tick limit) won.
    Superseded,
    /// Nothing would change (already there, or the bounds forbid the direction).
    NoEffect,
    /// The action is not valid here (unknown column family, breaks a cross-option rule).
    Invalid,
    /// Destructive and `allow_destructive` is off.
    DestructiveNotAllowed,
    /// A flush, compaction or rebuild is already running (only one at a time): retried on a
    /// later tick.
    Busy,
    /// Score not positive: not worth doing.
    LowScore,
}

impl Verdict {
    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Applied => "applied",
            Verdict::Advised => "advised",
            Verdict::Failed => "failed",
            Verdict::Cooldown => "cooldown",
            Verdict::Budget => "budget",
            Verdict::Verifying => "verifying",
            Verdict::Superseded => "superseded",
            Verdict::NoEffect => "no_effect",
            Verdict::Invalid => "invalid",
            Verdict::DestructiveNotAllowed => "destructive_not_allowed",
            Verdict::Busy => "busy",
            Verdict::LowScore => "low_score",
        }
    }

    /// Whether a decision with only verdicts like this one is left out of the audit log
    /// (they repeat every tick while a condition lasts; the statistics still count them).
    pub fn is_quiet(self) -> bool {
        matches!(
            self,
            Verdict::Cooldown
                | Verdict::Budget
                | Verdict::Verifying
                | Verdict::Superseded
                | Verdict::NoEffect
                | Verdict::LowScore
                | Verdict::Busy
        )
    }
}

/// How a verified (or long-running) action ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeVerdict {
    /// Not worse than the margin: kept.
    Kept,
    /// Worse than the margin: rolled back.
    RolledBack,
    /// Worse, but the roll-back itself failed.
    RollbackFailed,
    /// Too little traffic to judge: kept.
    Inconclusive,
    /// The healer left active mode before the verdict: kept, not judged.
    Abandoned,
    /// A flush, compaction or rebuild finished.
    Completed,
    /// A flush, compaction or rebuild failed (counted as `job_failed`, apart from the
    /// guard's `failed`).
    Failed,
}

impl OutcomeVerdict {
    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            OutcomeVerdict::Kept => "kept",
            OutcomeVerdict::RolledBack => "rolled_back",
            OutcomeVerdict::RollbackFailed => "rollback_failed",
            OutcomeVerdict::Inconclusive => "inconclusive",
            OutcomeVerdict::Abandoned => "abandoned",
            OutcomeVerdict::Completed => "completed",
            OutcomeVerdict::Failed => "job_failed",
        }
    }
}

/// One candidate after review.
#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    /// As proposed.
    pub candidate: Candidate,
    /// The verdict.
    pub verdict: Verdict,
    /// What to apply (bounds applied) for `Applied`/`Advised`.
    pub action: Option<Action>,
    /// Clamping notes, why it was invalid, the control error.
    pub detail: Option<String>,
}

/// What the guard needs to know about the moment.
#[derive(Clone, Copy, Debug)]
pub struct GuardContext<'a> {
    /// Now, ns (engine telemetry clock).
    pub now_ns: u64,
    /// Current tick.
    pub tick: u64,
    /// Advisory or active (off never reaches the guard).
    pub mode: Mode,
    /// Whether destructive actions may pass.
    pub allow_destructive: bool,
    /// Tunables in force.
    pub tunables: &'a Tunables,
    /// Live column families.
    pub cfs: &'a [String],
    /// A flush, compaction or rebuild started earlier is still running.
    pub maintenance_busy: bool,
}

/// Tunables with their previous values (`None` = unknown, left alone by a roll-back).
pub type PreviousValues = Vec<(Tunable, Option<u64>)>;

/// Previous values of what an action changed: what a roll-back restores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RollbackPoint {
    /// Global tunables and their previous values (`None` = unknown, left alone).
    pub global: PreviousValues,
    /// CF tunables and their previous values.
    pub cf: Option<(String, PreviousValues)>,
    /// A write-rate limit and its previous value (`None` = unlimited).
    pub write_rate_limit: Option<(ThrottleScope, Option<u64>)>,
}

impl RollbackPoint {
    /// The values `action` is about to change, read from `before`.
    pub fn capture(action: &Action, before: &Tunables) -> RollbackPoint {
        match action {
            Action::SetGlobal { changes } => RollbackPoint {
                global: changes
                    .iter()
                    .map(|(t, _)| (*t, before.global(*t)))
                    .collect(),
                ..RollbackPoint::default()
            },
            Action::SetCf { cf, changes } => RollbackPoint {
                cf: Some((
                    cf.clone(),
                    changes
                        .iter()
                        .map(|(t, _)| (*t, before.cf(cf, *t)))
                        .collect(),
                )),
                ..RollbackPoint::default()
            },
            Action::SetWriteRateLimit { scope, .. } => RollbackPoint {
                write_rate_limit: Some((
                    scope.clone(),
                    before.write_rate_limits.get(scope).copied(),
                )),
                ..RollbackPoint::default()
            },
            _ => RollbackPoint::default(),
        }
    }

    /// `current` with the captured values put back: the snapshot to `Control::restore`
    /// (everything else, write-rate limits included, stays as it is now).
    pub fn restore_snapshot(&self, current: &Tunables) -> Tunables {
        let mut snapshot = current.clone();
        for (tunable, value) in &self.global {
            if let Some(value) = value {
                snapshot.global.insert(*tunable, *value);
            }
        }
        if let Some((cf, values)) = &self.cf {
            if let Some(cf_values) = snapshot.cfs.get_mut(cf) {
                for (tunable, value) in values {
                    if let Some(value) = value {
                        cf_values.insert(*tunable, *value);
                    }
                }
            }
        }
        if let Some((scope, value)) = &self.write_rate_limit {
            match value {
                Some(rate) => {
                    snapshot.write_rate_limits.insert(scope.clone(), *rate);
                }
                None => {
                    snapshot.write_rate_limits.remove(scope);
                }
            }
        }
        snapshot
    }
}

/// An applied action waiting for its verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingVerification {
    /// Audit sequence number of the decision.
    pub decision_seq: u64,
    /// Kind of the action.
    pub kind: ActionKind,
    /// What was applied.
    pub action: Action,
    /// What a roll-back restores.
    pub rollback: RollbackPoint,
    /// Mean objective over the ticks before.
    pub before: ObjectiveSample,
    /// Tick it was applied in.
    pub applied_tick: u64,
    ticks_seen: u32,
    after: Vec<ObjectiveSample>,
}

impl PendingVerification {
    /// A verification starting now.
    pub fn new(
        decision_seq: u64,
        kind: ActionKind,
        action: Action,
        rollback: RollbackPoint,
        before: ObjectiveSample,
        applied_tick: u64,
    ) -> PendingVerification {
        PendingVerification {
            decision_seq,
            kind,
            action,
            rollback,
            before,
            applied_tick,
            ticks_seen: 0,
            after: Vec::new(),
        }
    }
}

/// A finished verification.
#[derive(Clone, Debug, PartialEq)]
pub struct VerificationResult {
    /// The verification.
    pub pending: PendingVerification,
    /// Mean objective over the measured ticks.
    pub after: ObjectiveSample,
    /// The comparison, `None` when inconclusive.
    pub comparison: Option<ObjectiveComparison>,
    /// `Kept`, `Inconclusive`, or `RolledBack` (= the caller must roll back now).
    pub verdict: OutcomeVerdict,
    /// Another change made inside the measuring window (then the verdict is `Inconclusive`:
    /// what was measured cannot be attributed to this action).
    pub confounded_by: Option<String>,
}

type CooldownKey = (ActionFamily, Option<String>);

/// The guard (see the module docs).
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    blocked_until_ns: HashMap<CooldownKey, u64>,
    approvals_ns: VecDeque<u64>,
    pending: Vec<PendingVerification>,
    applied: VecDeque<AppliedRecord>,
}

/// A change made to the engine, remembered to tell whether a verification was confounded.
#[derive(Clone, Debug, PartialEq)]
struct AppliedRecord {
    tick: u64,
    decision_seq: u64,
    kind: ActionKind,
    target: Option<String>,
}

fn key_of(kind: ActionKind, action: &Action) -> CooldownKey {
    (kind.family(), action.cf().map(str::to_owned))
}

impl Guard {
    /// A guard with a validated config.
    pub fn new(config: GuardConfig) -> Guard {
        Guard {
            config,
            blocked_until_ns: HashMap::new(),
            approvals_ns: VecDeque::new(),
            pending: Vec::new(),
            applied: VecDeque::new(),
        }
    }

    /// Records a change made to the engine in `tick` (an applied action or a roll-back):
    /// a verification whose window contains another change cannot attribute what it measures
    /// and ends `Inconclusive` instead of rolling back.
    pub fn record_applied(
        &mut self,
        tick: u64,
        decision_seq: u64,
        kind: ActionKind,
        action: &Action,
    ) {
        let verify = &self.config.verify;
        let span = u64::from(verify.baseline_ticks + verify.settle_ticks + verify.measure_ticks);
        while self
            .applied
            .front()
            .is_some_and(|r| r.tick + 2 * span < tick)
        {
            self.applied.pop_front();
        }
        self.applied.push_back(AppliedRecord {
            tick,
            decision_seq,
            kind,
            target: action.cf().map(str::to_owned),
        });
    }

    /// Another change inside the verification window of `pending`, described.
    fn confounder(&self, pending: &PendingVerification) -> Option<String> {
        let start = pending
            .applied_tick
            .saturating_sub(u64::from(self.config.verify.baseline_ticks));
        let end = pending.applied_tick + u64::from(pending.ticks_seen);
        let target = pending.action.cf().map(str::to_owned);
        self.applied
            .iter()
            .find(|r| {
                (start..=end).contains(&r.tick)
                    && !(r.decision_seq == pending.decision_seq
                        && r.kind == pending.kind
                        && r.target == target)
            })
            .map(|r| {
                format!(
                    "{}{} at tick {} changed the engine inside the measuring window",
                    r.kind,
                    r.target
                        .as_ref()
                        .map(|t| format!(" on {t:?}"))
                        .unwrap_or_default(),
                    r.tick
                )
            })
    }

    /// Its config.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Actions approved (applied or advised) in the 60 s before `now_ns`.
    pub fn approvals_last_minute(&self, now_ns: u64) -> usize {
        self.approvals_ns
            .iter()
            .filter(|&&t| t + MINUTE_NS > now_ns)
            .count()
    }

    /// Verifications in flight.
    pub fn pending(&self) -> &[PendingVerification] {
        &self.pending
    }

    /// Whether actions of `family` are verified.
    pub fn verifies(&self, family: ActionFamily) -> bool {
        self.config.verify.enabled && self.config.verify.families.contains(&family)
    }

    /// Reviews this tick's candidates (any order) and returns them best first with verdicts.
    pub fn review(
        &mut self,
        mut candidates: Vec<Candidate>,
        ctx: &GuardContext<'_>,
    ) -> Vec<Review> {
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        while self
            .approvals_ns
            .front()
            .is_some_and(|&t| t + MINUTE_NS <= ctx.now_ns)
        {
            self.approvals_ns.pop_front();
        }
        let mut taken: Vec<CooldownKey> = Vec::new();
        let mut taken_blocking = false;
        let mut reviews = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let key = key_of(candidate.kind, &candidate.action);
            let mut review = Review {
                candidate,
                verdict: Verdict::LowScore,
                action: None,
                detail: None,
            };
            review.verdict = 'verdict: {
                let candidate = &review.candidate;
                if !(candidate.score.is_finite() && candidate.score > 0.0) {
                    break 'verdict Verdict::LowScore;
                }
                if let Some(cf) = candidate.action.cf() {
                    if !ctx.cfs.iter().any(|c| c == cf) {
                        review.detail = Some(format!("unknown column family {cf:?}"));
                        break 'verdict Verdict::Invalid;
                    }
                }
                if taken.contains(&key) {
                    break 'verdict Verdict::Superseded;
                }
                if self
                    .pending
                    .iter()
                    .any(|p| key_of(p.kind, &p.action) == key)
                {
                    break 'verdict Verdict::Verifying;
                }
                if self
                    .blocked_until_ns
                    .get(&key)
                    .is_some_and(|&until| ctx.now_ns < until)
                {
                    break 'verdict Verdict::Cooldown;
                }
                if candidate.action.is_destructive() && !ctx.allow_destructive {
                    // Logged once per cooldown, not every tick.
                    self.block(key.clone(), ctx.now_ns, 1);
                    review.detail =
                        Some("set allow_destructive to let the healer do this".to_owned());
                    break 'verdict Verdict::DestructiveNotAllowed;
                }
                match self.bounded(&candidate.action, ctx) {
                    Err((verdict, detail)) => {
                        review.detail = Some(detail);
                        break 'verdict verdict;
                    }
                    Ok((action, note)) => {
                        review.action = Some(action);
                        review.detail = note;
                    }
                }
                if candidate.action.is_blocking() && (ctx.maintenance_busy || taken_blocking) {
                    review.action = None;
                    break 'verdict Verdict::Busy;
                }
                if taken.len() >= self.config.max_actions_per_tick as usize {
                    review.action = None;
                    break 'verdict Verdict::Superseded;
                }
                if self.approvals_ns.len() >= self.config.budget_per_minute as usize {
                    review.action = None;
                    break 'verdict Verdict::Budget;
                }
                taken.push(key.clone());
                taken_blocking |= candidate.action.is_blocking();
                self.approvals_ns.push_back(ctx.now_ns);
                self.block(key.clone(), ctx.now_ns, 1);
                match ctx.mode {
                    Mode::Active => Verdict::Applied,
                    Mode::Advisory | Mode::Off => Verdict::Advised,
                }
            };
            reviews.push(review);
        }
        reviews
    }

    fn block(&mut self, key: CooldownKey, now_ns: u64, factor: u32) {
        let cooldown = self.config.cooldown(key.0).as_nanos() as u64;
        let until = now_ns.saturating_add(cooldown.saturating_mul(u64::from(factor)));
        let entry = self.blocked_until_ns.entry(key).or_insert(0);
        *entry = (*entry).max(until);
    }

    /// Stretches the cooldown of an action's family and target (after a roll-back).
    pub fn penalise(&mut self, kind: ActionKind, action: &Action, now_ns: u64) {
        let factor = self.config.verify.rollback_cooldown_factor.max(1);
        self.block(key_of(kind, action), now_ns, factor);
    }

    /// Records that `action`, found worse, was rolled back in `tick`: its family's cooldown
    /// on that target is stretched, and the roll-back counts as a change for the
    /// verifications still measuring.
    pub fn record_roll_back(&mut self, tick: u64, kind: ActionKind, action: &Action, now_ns: u64) {
        self.penalise(kind, action, now_ns);
        self.record_applied(tick, 0, kind, action);
    }

    /// The action with every value inside the bounds, or why nothing is left to do.
    fn bounded(
        &self,
        action: &Action,
        ctx: &GuardContext<'_>,
    ) -> Result<(Action, Option<String>), (Verdict, String)> {
        let mut notes: Vec<String> = Vec::new();
        let mut clamp_changes =
            |changes: &[(Tunable, u64)], current: &dyn Fn(Tunable) -> Option<u64>| {
                let mut kept = Vec::new();
                for &(tunable, wanted) in changes {
                    let bounds = self.config.bounds_of(tunable);
                    let value = bounds.clamp(wanted);
                    if value != wanted {
                        notes.push(format!(
                            "{tunable} {wanted} clamped to {value} (bounds {}..={})",
                            bounds.min, bounds.max
                        ));
                    }
                    if let Some(now) = current(tunable) {
                        let reversed =
                            (wanted > now && value < now) || (wanted < now && value > now);
                        if value == now || reversed {
                            continue;
                        }
                    }
                    kept.push((tunable, value));
                }
                kept
            };
        let result = match action {
            Action::SetGlobal { changes } => {
                let kept = clamp_changes(changes, &|t| ctx.tunables.global(t));
                if kept.is_empty() {
                    return Err((Verdict::NoEffect, no_effect(&notes)));
                }
                Action::SetGlobal { changes: kept }
            }
            Action::SetCf { cf, changes } => {
                let kept = clamp_changes(changes, &|t| ctx.tunables.cf(cf, t));
                if kept.is_empty() {
                    return Err((Verdict::NoEffect, no_effect(&notes)));
                }
                let mut merged = ctx.tunables.cfs.get(cf).cloned().unwrap_or_default();
                merged.extend(kept.iter().copied());
                if let Err(err) = check_cf_rules(cf, &merged) {
                    return Err((Verdict::Invalid, err.to_string()));
                }
                Action::SetCf {
                    cf: cf.clone(),
                    changes: kept,
                }
            }
            Action::SetWriteRateLimit {
                scope,
                rate_bytes_per_sec,
            } => {
                let current = ctx.tunables.write_rate_limits.get(scope).copied();
                let rate = rate_bytes_per_sec.map(|wanted| {
                    let bounds = self.config.write_rate_limit_bounds;
                    let value = bounds.clamp(wanted);
                    if value != wanted {
                        notes.push(format!(
                            "write_rate_limit {wanted} clamped to {value} (bounds {}..={})",
                            bounds.min, bounds.max
                        ));
                    }
                    (wanted, value)
                });
                match (rate, current) {
                    (None, None) => return Err((Verdict::NoEffect, "already unlimited".into())),
                    (Some((_, value)), Some(now)) if value == now => {
                        return Err((Verdict::NoEffect, no_effect(&notes)))
                    }
                    (Some((wanted, value)), Some(now))
                        if (wanted > now && value < now) || (wanted < now && value > now) =>
                    {
                        return Err((Verdict::NoEffect, no_effect(&notes)))
                    }
                    _ => {}
                }
                Action::SetWriteRateLimit {
                    scope: scope.clone(),
                    rate_bytes_per_sec: rate.map(|(_, value)| value),
                }
            }
            other => other.clone(),
        };
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        Ok((result, note))
    }

    /// Starts verifying an applied action (when its family is verified).
    pub fn begin_verification(&mut self, pending: PendingVerification) {
        if self.verifies(pending.kind.family()) {
            self.pending.push(pending);
        }
    }

    /// Feeds one tick's objective to every verification; returns those that finished. A
    /// `RolledBack` result means the caller must restore `pending.rollback` now.
    pub fn step_verifications(
        &mut self,
        sample: &ObjectiveSample,
        weights: &Weights,
    ) -> Vec<VerificationResult> {
        let verify = self.config.verify.clone();
        let mut done = Vec::new();
        let mut index = 0;
        while index < self.pending.len() {
            let pending = &mut self.pending[index];
            pending.ticks_seen += 1;
            if pending.ticks_seen > verify.settle_ticks {
                pending.after.push(*sample);
            }
            if pending.after.len() < verify.measure_ticks as usize {
                index += 1;
                continue;
            }
            let pending = self.pending.remove(index);
            let after = ObjectiveSample::mean(&pending.after).unwrap_or_default();
            let comparison = ObjectiveComparison::between(&pending.before, &after, weights);
            let confounded_by = self.confounder(&pending);
            let verdict = match comparison {
                None => OutcomeVerdict::Inconclusive,
                Some(_) if confounded_by.is_some() => OutcomeVerdict::Inconclusive,
                Some(c) if c.service_score < -verify.margin => OutcomeVerdict::RolledBack,
                Some(_) => OutcomeVerdict::Kept,
            };
            done.push(VerificationResult {
                pending,
                after,
                comparison,
                verdict,
                confounded_by,
            });
        }
        done
    }

    /// Drops every verification in flight (leaving active mode); returns them.
    pub fn abandon_verifications(&mut self) -> Vec<PendingVerification> {
        std::mem::take(&mut self.pending)
    }
}

fn no_effect(notes: &[String]) -> String {
    if notes.is_empty() {
        "already at that value".to_owned()
    } else {
        format!("nothing left after bounds: {}", notes.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Effect;
    use crate::config::Bounds;

    fn candidate(kind: ActionKind, action: Action, score: f64) -> Candidate {
        Candidate {
            kind,
            action,
            score,
            rule: "test".into(),
            reason: "test".into(),
            effect: Effect::default(),
        }
    }

    fn jobs(value: u64) -> Candidate {
        candidate(
            ActionKind::RaiseBackgroundJobs,
            Action::SetGlobal {
                changes: vec![(Tunable::MaxBackgroundJobs, value)],
            },
            1.0,
        )
    }

    fn tunables() -> Tunables {
        let mut t = Tunables::default();
        t.global.insert(Tunable::MaxBackgroundJobs, 4);
        t.cfs.insert(
            "a".into(),
            [
                (Tunable::Level0FileNumCompactionTrigger, 4),
                (Tunable::Level0SlowdownWritesTrigger, 20),
                (Tunable::Level0StopWritesTrigger, 36),
            ]
            .into(),
        );
        t
    }

    fn ctx<'a>(now_ns: u64, mode: Mode, t: &'a Tunables, cfs: &'a [String]) -> GuardContext<'a> {
        GuardContext {
            now_ns,
            tick: now_ns / 100_000_000,
            mode,
            allow_destructive: false,
            tunables: t,
            cfs,
            maintenance_busy: false,
        }
    }

    #[test]
    fn values_are_clamped_and_reversals_dropped() {
        let mut guard = Guard::new(GuardConfig::default());
        let t = tunables();
        let cfs = vec!["a".to_owned()];
        let reviews = guard.review(vec![jobs(100)], &ctx(0, Mode::Active, &t, &cfs));
        assert_eq!(reviews[0].verdict, Verdict::Applied);
        assert_eq!(
            reviews[0].action,
            Some(Action::SetGlobal {
                changes: vec![(Tunable::MaxBackgroundJobs, 16)]
            })
        );
        assert!(reviews[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("clamped")));

        // Current above the bound: a "raise" must not become a cut.
        let mut high = t.clone();
        high.global.insert(Tunable::MaxBackgroundJobs, 32);
        let mut guard = Guard::new(GuardConfig::default());
        let reviews = guard.review(vec![jobs(34)], &ctx(0, Mode::Active, &high, &cfs));
        assert_eq!(reviews[0].verdict, Verdict::NoEffect);
    }

    #[test]
    fn cooldown_budget_and_per_tick_limit_hold() {
        let mut guard = Guard::new(GuardConfig {
            budget_per_minute: 2,
            ..GuardConfig::default()
        });
        let t = tunables();
        let cfs = vec!["a".to_owned()];
        let first = guard.review(vec![jobs(6), jobs(8)], &ctx(0, Mode::Active, &t, &cfs));
        assert_eq!(first[0].verdict, Verdict::Applied);
        assert_eq!(first[1].verdict, Verdict::Superseded);
        let soon = guard.review(vec![jobs(6)], &ctx(1_000_000_000, Mode::Active, &t, &cfs));
        assert_eq!(soon[0].verdict, Verdict::Cooldown);
        let later = guard.review(vec![jobs(6)], &ctx(6_000_000_000, Mode::Active, &t, &cfs));
        assert_eq!(later[0].verdict, Verdict::Applied);
        let spent = guard.review(vec![jobs(6)], &ctx(12_000_000_000, Mode::Active, &t, &cfs));
        assert_eq!(spent[0].verdict, Verdict::Budget);
        assert_eq!(guard.approvals_last_minute(12_000_000_000), 2);
        let refilled = guard.review(vec![jobs(6)], &ctx(61_000_000_000, Mode::Active, &t, &cfs));
        assert_eq!(refilled[0].verdict, Verdict::Applied);
    }

    #[test]
    fn destructive_needs_permission_and_unknown_cf_is_invalid() {
        let mut guard = Guard::new(GuardConfig::default());
        let t = tunables();
        let cfs = vec!["a".to_owned()];
        let rebuild = |cf: &str| {
            candidate(
                ActionKind::RebuildCf,
                Action::RebuildCf { cf: cf.into() },
                2.0,
            )
        };
        let reviews = guard.review(
            vec![rebuild("a"), rebuild("zz")],
            &ctx(0, Mode::Active, &t, &cfs),
        );
        assert_eq!(reviews[0].verdict, Verdict::DestructiveNotAllowed);
        assert_eq!(reviews[1].verdict, Verdict::Invalid);
        let mut allowed = ctx(400_000_000_000, Mode::Active, &t, &cfs);
        allowed.allow_destructive = true;
        allowed.maintenance_busy = true;
        let reviews = guard.review(vec![rebuild("a")], &allowed);
        assert_eq!(
            reviews[0].verdict,
            Verdict::Busy,
            "retried later, no cooldown taken"
        );
        allowed.maintenance_busy = false;
        let reviews = guard.review(vec![rebuild("a")], &allowed);
        assert_eq!(reviews[0].verdict, Verdict::Applied);
    }

    #[test]
    fn cross_option_rules_make_a_change_invalid() {
        let mut config = GuardConfig::default();
        config
            .bounds
            .insert(Tunable::Level0SlowdownWritesTrigger, Bounds::new(1, 100));
        let mut guard = Guard::new(config);
        let t = tunables();
        let cfs = vec!["a".to_owned()];
        let c = candidate(
            ActionKind::GrowMemtable,
            Action::SetCf {
                cf: "a".into(),
                changes: vec![(Tunable::Level0SlowdownWritesTrigger, 50)],
            },
            1.0,
        );
        let reviews = guard.review(vec![c], &ctx(0, Mode::Active, &t, &cfs));
        assert_eq!(reviews[0].verdict, Verdict::Invalid, "{reviews:?}");
    }

    #[test]
    fn worse_results_are_flagged_for_roll_back() {
        let mut guard = Guard::new(GuardConfig::default());
        let before = ObjectiveSample {
            latency_us: Some(100.0),
            throughput_ops_per_sec: 1000.0,
            resource_units: 1.0,
            stall_fraction: 0.0,
        };
        let t = tunables();
        let action = Action::SetGlobal {
            changes: vec![(Tunable::MaxBackgroundJobs, 6)],
        };
        let rollback = RollbackPoint::capture(&action, &t);
        guard.begin_verification(PendingVerification::new(
            1,
            ActionKind::RaiseBackgroundJobs,
            action,
            rollback.clone(),
            before,
            1,
        ));
        let worse = ObjectiveSample {
            latency_us: Some(400.0),
            ..before
        };
        let verify = guard.config().verify.clone();
        let mut results = Vec::new();
        for _ in 0..(verify.settle_ticks + verify.measure_ticks) {
            results.extend(guard.step_verifications(&worse, &Weights::default()));
        }
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].verdict, OutcomeVerdict::RolledBack);
        assert!(guard.pending().is_empty());

        // The same, but a throttle changed the engine meanwhile: not attributable.
        let action = Action::SetGlobal {
            changes: vec![(Tunable::MaxBackgroundJobs, 6)],
        };
        guard.begin_verification(PendingVerification::new(
            2,
            ActionKind::RaiseBackgroundJobs,
            action.clone(),
            rollback.clone(),
            before,
            100,
        ));
        guard.record_applied(100, 2, ActionKind::RaiseBackgroundJobs, &action);
        let throttle = Action::SetWriteRateLimit {
            scope: ThrottleScope::Cf("a".into()),
            rate_bytes_per_sec: Some(1 << 20),
        };
        guard.record_applied(105, 3, ActionKind::Throttle, &throttle);
        let mut results = Vec::new();
        for _ in 0..(verify.settle_ticks + verify.measure_ticks) {
            results.extend(guard.step_verifications(&worse, &Weights::default()));
        }
        assert_eq!(results[0].verdict, OutcomeVerdict::Inconclusive);
        assert!(results[0]
            .confounded_by
            .as_deref()
            .is_some_and(|c| c.contains("throttle")));

        let mut now = t.clone();
        now.global.insert(Tunable::MaxBackgroundJobs, 6);
        now.write_rate_limits.insert(ThrottleScope::All, 5_000_000);
        let snapshot = rollback.restore_snapshot(&now);
        assert_eq!(snapshot.global(Tunable::MaxBackgroundJobs), Some(4));
        assert_eq!(
            snapshot.write_rate_limits.get(&ThrottleScope::All),
            Some(&5_000_000),
            "limits the action did not touch stay"
        );
    }
}
