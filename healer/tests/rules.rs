//! The rule policy on hand-made observations: thresholds, weights, ownership of limits.

use lsmedic_healer::features::NodeFeatures;
use lsmedic_healer::observation::{CfObservation, GlobalObservation, Stall};
use lsmedic_healer::policy::{Policy, PolicyFeedback, PolicyInput};
use lsmedic_healer::{
    Action, ActionKind, Candidate, ComponentGraph, Observation, RuleConfig, RulePolicy, Weights,
};
use lsmedic_telemetry::{Percentiles, ThrottleScope, Tunable, Tunables};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn cf(name: &str) -> CfObservation {
    CfObservation {
        name: name.to_owned(),
        level0_file_num_compaction_trigger: 4,
        level0_slowdown_writes_trigger: 20,
        level0_stop_writes_trigger: 36,
        soft_pending_compaction_bytes_limit: 64 * GIB,
        hard_pending_compaction_bytes_limit: 256 * GIB,
        max_write_buffer_number: 2,
        write_buffer_size: 64 * MIB,
        write_ops_per_sec: 10_000.0,
        write_bytes_per_sec: 10.0 * MIB as f64,
        ..CfObservation::default()
    }
}

fn global() -> GlobalObservation {
    GlobalObservation {
        ops_per_sec: 10_000.0,
        statistics_available: true,
        max_background_jobs: 2,
        max_subcompactions: 1,
        background_threads_low: 1,
        background_threads_high: 1,
        block_cache_capacity: 8 * MIB,
        ..GlobalObservation::default()
    }
}

fn tunables() -> Tunables {
    let mut t = Tunables::default();
    t.global.insert(Tunable::MaxBackgroundJobs, 2);
    t.global.insert(Tunable::BlockCacheCapacity, 8 * MIB);
    t.cfs.insert(
        "a".into(),
        [
            (Tunable::MaxWriteBufferNumber, 2),
            (Tunable::WriteBufferSize, 64 * MIB),
        ]
        .into(),
    );
    t
}

struct Driver {
    policy: RulePolicy,
    tick: u64,
    baseline: Tunables,
    current: Tunables,
}

impl Driver {
    fn new() -> Driver {
        Driver {
            policy: RulePolicy::new(RuleConfig::default()).with_cores(64),
            tick: 0,
            baseline: tunables(),
            current: tunables(),
        }
    }

    fn propose(
        &mut self,
        cfs: Vec<CfObservation>,
        global: GlobalObservation,
        weights: Weights,
    ) -> Vec<Candidate> {
        self.tick += 1;
        let names: Vec<String> = cfs.iter().map(|c| c.name.clone()).collect();
        let observation = Observation {
            tick: self.tick,
            start_ns: self.tick * 100_000_000,
            end_ns: (self.tick + 1) * 100_000_000,
            duration_secs: 0.1,
            cfs,
            global,
        };
        let graph = ComponentGraph::new(&names);
        let features = NodeFeatures::default();
        let tunables = self.current.clone();
        let input = PolicyInput {
            tick: self.tick,
            now_ns: observation.end_ns,
            observation: &observation,
            features: &features,
            graph: &graph,
            weights,
            tunables: &tunables,
            baseline: &self.baseline,
        };
        self.policy.propose(&input)
    }
}

fn kinds(candidates: &[Candidate]) -> Vec<ActionKind> {
    candidates.iter().map(|c| c.kind).collect()
}

fn jobs_target(candidates: &[Candidate]) -> Option<u64> {
    candidates.iter().find_map(|c| match &c.action {
        Action::SetGlobal { changes } if c.kind == ActionKind::RaiseBackgroundJobs => changes
            .iter()
            .find(|(t, _)| *t == Tunable::MaxBackgroundJobs)
            .map(|(_, v)| *v),
        _ => None,
    })
}

fn with_pending_ratio(ratio: f64) -> CfObservation {
    let mut a = cf("a");
    a.pending_compaction_bytes = (ratio * a.soft_pending_compaction_bytes_limit as f64) as u64;
    a
}

#[test]
fn compaction_lag_levels_add_background_jobs_like_tikv() {
    let w = Weights::default();
    for (ratio, jobs) in [
        (0.3, None),
        (0.55, Some(4)),
        (0.75, Some(6)),
        (0.9, Some(8)),
        (0.96, Some(10)),
    ] {
        let mut driver = Driver::new();
        let candidates = driver.propose(vec![with_pending_ratio(ratio)], global(), w);
        assert_eq!(
            jobs_target(&candidates),
            jobs,
            "pending ratio {ratio}: {candidates:?}"
        );
        if let Some(c) = candidates
            .iter()
            .find(|c| c.kind == ActionKind::RaiseBackgroundJobs)
        {
            let Action::SetGlobal { changes } = &c.action else {
                panic!("{c:?}")
            };
            // The compaction pool must be able to run what the jobs allow.
            assert!(
                changes
                    .iter()
                    .any(|(t, _)| *t == Tunable::BackgroundThreadsLow),
                "{changes:?}"
            );
        }
    }
    // On one core the cap (2 jobs/core, at least as configured) stops the raise.
    let mut driver = Driver::new();
    driver.policy = RulePolicy::new(RuleConfig::default()).with_cores(1);
    let candidates = driver.propose(vec![with_pending_ratio(0.96)], global(), w);
    assert_eq!(jobs_target(&candidates), None, "{candidates:?}");
}

#[test]
fn resource_heavy_weights_throttle_instead_of_buying_resources() {
    let scenario = |driver: &mut Driver, weights: Weights| {
        let mut all = Vec::new();
        for tick in 0..40 {
            let mut a = cf("a");
            a.files_per_level[0] = 30; // L0 past the slowdown trigger, at 83 % of the stop trigger
            a.immutable_memtables = 1;
            a.flush_pending = true;
            let mut g = global();
            g.block_cache_usage = 8 * MIB;
            g.block_cache_hits_per_sec = if tick < 30 { 9_000.0 } else { 2_000.0 };
            g.block_cache_misses_per_sec = if tick < 30 { 1_000.0 } else { 8_000.0 };
            g.block_cache_hit_ratio = Some(if tick < 30 { 0.9 } else { 0.2 });
            g.read_ops_per_sec = 5_000.0;
            all.extend(driver.propose(vec![a], g, weights));
        }
        kinds(&all)
    };
    let frugal = scenario(&mut Driver::new(), Weights::new(0.0, 0.0, 1.0).expect("w"));
    assert!(frugal.contains(&ActionKind::Throttle), "{frugal:?}");
    for kind in [
        ActionKind::RaiseBackgroundJobs,
        ActionKind::GrowMemtable,
        ActionKind::GrowBlockCache,
    ] {
        assert!(!frugal.contains(&kind), "{kind:?} in {frugal:?}");
    }
    let fast = scenario(&mut Driver::new(), Weights::new(1.0, 0.2, 0.0).expect("w"));
    for kind in [
        ActionKind::Throttle,
        ActionKind::RaiseBackgroundJobs,
        ActionKind::GrowMemtable,
        ActionKind::GrowBlockCache,
    ] {
        assert!(fast.contains(&kind), "{kind:?} in {fast:?}");
    }
}

fn engage_rate(weights: Weights) -> u64 {
    let mut driver = Driver::new();
    let mut a = cf("a");
    a.files_per_level[0] = 30; // 0.83 of the stop trigger: pressure 1.04
    let candidates = driver.propose(vec![a], global(), weights);
    candidates
        .iter()
        .find_map(|c| match c.action {
            Action::SetWriteRateLimit {
                rate_bytes_per_sec: Some(rate),
                ..
            } => Some(rate),
            _ => None,
        })
        .expect("throttle engaged")
}

#[test]
fn latency_weight_throttles_less_aggressively_than_resource_weight() {
    let latency = engage_rate(Weights::new(1.0, 0.0, 0.0).expect("w"));
    let balanced = engage_rate(Weights::default());
    let resources = engage_rate(Weights::new(0.0, 0.0, 1.0).expect("w"));
    assert!(
        latency > balanced && balanced > resources,
        "{latency} {balanced} {resources}"
    );
    // Balanced = 0.8 × the p90 write flow.
    assert_eq!(balanced, (0.8 * 10.0 * MIB as f64) as u64);
}

#[test]
fn throttle_tightens_only_while_not_improving_and_leaves_other_limits_alone() {
    let w = Weights::default();
    let mut driver = Driver::new();
    let pressured = |l0: u64, limit: Option<u64>| {
        let mut a = cf("a");
        a.files_per_level[0] = l0;
        a.write_rate_limit = limit;
        a
    };
    let first = driver.propose(vec![pressured(30, None)], global(), w);
    let Some(Candidate {
        action:
            Action::SetWriteRateLimit {
                rate_bytes_per_sec: Some(rate),
                ..
            },
        ..
    }) = first.first().cloned()
    else {
        panic!("{first:?}")
    };
    driver.policy.feedback(&PolicyFeedback::Applied {
        kind: ActionKind::Throttle,
        action: Action::SetWriteRateLimit {
            scope: ThrottleScope::Cf("a".into()),
            rate_bytes_per_sec: Some(rate),
        },
        tick: driver.tick,
    });
    // Improving (L0 falling): hold.
    for l0 in [29, 29, 28, 28, 28, 28, 28] {
        let c = driver.propose(vec![pressured(l0, Some(rate))], global(), w);
        assert!(c.iter().all(|c| c.kind != ActionKind::Throttle), "{c:?}");
    }
    // Not improving: tighten by the decay.
    let mut tightened = None;
    for _ in 0..6 {
        let c = driver.propose(vec![pressured(32, Some(rate))], global(), w);
        if let Some(c) = c.iter().find(|c| c.kind == ActionKind::Throttle) {
            tightened = Some(c.action.clone());
        }
    }
    assert_eq!(
        tightened,
        Some(Action::SetWriteRateLimit {
            scope: ThrottleScope::Cf("a".into()),
            rate_bytes_per_sec: Some((rate as f64 * 0.8) as u64),
        })
    );
    // An operator's limit (not the one this policy set) is never moved.
    let mut driver = Driver::new();
    for l0 in [30, 32, 32, 2, 2] {
        let c = driver.propose(vec![pressured(l0, Some(3 * MIB))], global(), w);
        assert!(
            c.iter()
                .all(|c| !matches!(c.action, Action::SetWriteRateLimit { .. })),
            "{c:?}"
        );
    }
}

fn scans(driver: &mut Driver, p99_us: u64, deletes_per_sec: f64) -> Vec<Candidate> {
    let mut c = cf("c");
    c.scan_ops_per_sec = 500.0;
    c.read_ops_per_sec = 500.0;
    c.delete_ops_per_sec = deletes_per_sec;
    let mut g = global();
    g.scan_latency = Some(Percentiles {
        count: 50,
        p50_ns: p99_us * 500,
        p99_ns: p99_us * 1000,
        p999_ns: p99_us * 1000,
        max_ns: p99_us * 1000,
        mean_ns: (p99_us * 600) as f64,
    });
    driver.propose(vec![c], g, Weights::default())
}

#[test]
fn tombstone_heavy_scans_trigger_a_compaction() {
    let mut driver = Driver::new();
    for _ in 0..40 {
        assert!(scans(&mut driver, 100, 5_000.0).is_empty());
    }
    let mut compaction = None;
    for _ in 0..10 {
        if let Some(c) = scans(&mut driver, 1_000, 5_000.0)
            .into_iter()
            .find(|c| c.kind == ActionKind::CompactRange)
        {
            compaction = Some(c);
            break;
        }
    }
    let compaction = compaction.expect("compaction proposed");
    assert_eq!(compaction.action, Action::CompactRange { cf: "c".into() });
    assert!(
        compaction.reason.contains("tombstone"),
        "{}",
        compaction.reason
    );

    // Slow scans without tombstones are not a compaction problem.
    let mut driver = Driver::new();
    for _ in 0..40 {
        scans(&mut driver, 100, 0.0);
    }
    for _ in 0..10 {
        assert!(scans(&mut driver, 1_000, 0.0).is_empty());
    }
}

#[test]
fn cache_grows_only_when_full_and_collapsed() {
    let run = |usage: u64| {
        let mut driver = Driver::new();
        let mut all = Vec::new();
        for tick in 0..40 {
            let mut g = global();
            g.block_cache_usage = usage;
            let ratio = if tick < 30 { 0.95 } else { 0.5 };
            g.block_cache_hits_per_sec = 10_000.0 * ratio;
            g.block_cache_misses_per_sec = 10_000.0 * (1.0 - ratio);
            g.block_cache_hit_ratio = Some(ratio);
            all.extend(driver.propose(vec![cf("a")], g, Weights::default()));
        }
        all
    };
    let grown = run(8 * MIB);
    let grow = grown
        .iter()
        .find(|c| c.kind == ActionKind::GrowBlockCache)
        .expect("grown");
    assert_eq!(
        grow.action,
        Action::SetGlobal {
            changes: vec![(Tunable::BlockCacheCapacity, 16 * MIB)]
        }
    );
    assert!(run(2 * MIB)
        .iter()
        .all(|c| c.kind != ActionKind::GrowBlockCache));
}

#[test]
fn borrowed_resources_are_returned_after_calm_unless_latency_rules() {
    let calm = |weights: Weights| {
        let mut driver = Driver::new();
        let mut g = global();
        g.max_background_jobs = 6;
        let mut found = Vec::new();
        for _ in 0..600 {
            found.extend(
                driver
                    .propose(vec![cf("a")], g.clone(), weights)
                    .into_iter()
                    .filter(|c| c.kind == ActionKind::LowerBackgroundJobs),
            );
        }
        found
    };
    let lowered = calm(Weights::default());
    assert_eq!(
        lowered.first().map(|c| c.action.clone()),
        Some(Action::SetGlobal {
            changes: vec![(Tunable::MaxBackgroundJobs, 4)]
        })
    );
    assert!(calm(Weights::new(1.0, 0.0, 0.0).expect("w")).is_empty());
}

#[test]
fn corruption_needs_evidence_in_the_column_family() {
    let mut driver = Driver::new();
    let mut a = cf("a");
    a.op_errors = 10;
    // Errors alone are not corruption.
    assert!(driver
        .propose(vec![a.clone()], global(), Weights::default())
        .is_empty());
    // With an unattributed corruption report, errors concentrated in `a` point at it.
    let mut g = global();
    g.unattributed_corruption_signals = 1;
    let c = driver.propose(vec![a, cf("b")], g, Weights::default());
    assert_eq!(kinds(&c), vec![ActionKind::RebuildCf]);
    assert_eq!(c[0].action, Action::RebuildCf { cf: "a".into() });
    // Even a resource-only operator gets the rebuild proposed.
    let mut driver = Driver::new();
    let mut b = cf("b");
    b.corruption_signals = 1;
    let c = driver.propose(vec![b], global(), Weights::new(0.0, 0.0, 1.0).expect("w"));
    assert_eq!(kinds(&c), vec![ActionKind::RebuildCf], "{c:?}");
}

/// Baseline (configured) and current tunables with the stall triggers of `cf("a")`.
fn with_triggers(t: &mut Tunables) {
    let a = t.cfs.get_mut("a").expect("a");
    a.insert(Tunable::Level0FileNumCompactionTrigger, 4);
    a.insert(Tunable::Level0SlowdownWritesTrigger, 20);
    a.insert(Tunable::Level0StopWritesTrigger, 36);
    a.insert(Tunable::SoftPendingCompactionBytesLimit, 64 * GIB);
    a.insert(Tunable::HardPendingCompactionBytesLimit, 256 * GIB);
    a.insert(Tunable::DisableAutoCompactions, 0);
}

fn relief_driver() -> Driver {
    let mut driver = Driver::new();
    with_triggers(&mut driver.baseline);
    with_triggers(&mut driver.current);
    driver
}

fn with_l0(l0: u64) -> CfObservation {
    let mut a = cf("a");
    a.files_per_level[0] = l0;
    a
}

fn set_cf_changes(candidates: &[Candidate], kind: ActionKind) -> Option<Vec<(Tunable, u64)>> {
    candidates.iter().find_map(|c| match &c.action {
        Action::SetCf { cf, changes } if c.kind == kind && cf == "a" => Some(changes.clone()),
        _ => None,
    })
}

#[test]
fn stall_relief_switches_paused_compactions_back_on_whatever_the_weights() {
    let mut driver = relief_driver();
    driver
        .current
        .cfs
        .get_mut("a")
        .expect("a")
        .insert(Tunable::DisableAutoCompactions, 1);
    let frugal = Weights::new(0.0, 0.0, 1.0).expect("w");
    // L0 at 0.45 of the configured slowdown trigger: not yet.
    let c = driver.propose(vec![with_l0(9)], global(), frugal);
    assert_eq!(
        set_cf_changes(&c, ActionKind::ReleaseThrottle),
        None,
        "{c:?}"
    );
    // At 0.5: switched back on, even for a resource-only operator.
    let c = driver.propose(vec![with_l0(10)], global(), frugal);
    assert_eq!(
        set_cf_changes(&c, ActionKind::ReleaseThrottle),
        Some(vec![(Tunable::DisableAutoCompactions, 0)]),
        "{c:?}"
    );
    let repair = c.iter().find(|c| c.rule == "stall_relief").expect("repair");
    assert!(repair.score >= 1.0, "{repair:?}");
    // Compactions running: nothing to repair.
    let mut driver = relief_driver();
    let c = driver.propose(vec![with_l0(10)], global(), frugal);
    assert_eq!(
        set_cf_changes(&c, ActionKind::ReleaseThrottle),
        None,
        "{c:?}"
    );
}

#[test]
fn stall_relief_gives_the_triggers_headroom_and_gives_it_back_after_calm() {
    let w = Weights::default();
    let mut driver = relief_driver();
    // 0.7 of the configured slowdown trigger: no headroom yet.
    let c = driver.propose(vec![with_l0(14)], global(), w);
    assert_eq!(
        set_cf_changes(&c, ActionKind::ReleaseThrottle),
        None,
        "{c:?}"
    );
    // 0.75: every trigger and limit to 2 × its configured value.
    let c = driver.propose(vec![with_l0(15)], global(), w);
    assert_eq!(
        set_cf_changes(&c, ActionKind::ReleaseThrottle),
        Some(vec![
            (Tunable::Level0SlowdownWritesTrigger, 40),
            (Tunable::Level0StopWritesTrigger, 72),
            (Tunable::SoftPendingCompactionBytesLimit, 128 * GIB),
            (Tunable::HardPendingCompactionBytesLimit, 512 * GIB),
        ]),
        "{c:?}"
    );
    // A stall by itself also asks for headroom.
    let mut stalled = with_l0(2);
    stalled.stall = Stall::Delayed;
    let c = relief_driver().propose(vec![stalled], global(), w);
    assert!(
        set_cf_changes(&c, ActionKind::ReleaseThrottle).is_some(),
        "{c:?}"
    );

    // Applied: the triggers in force are the raised ones.
    let raised = |l0: u64| {
        let mut a = with_l0(l0);
        a.level0_slowdown_writes_trigger = 40;
        a.level0_stop_writes_trigger = 72;
        a.soft_pending_compaction_bytes_limit = 128 * GIB;
        a.hard_pending_compaction_bytes_limit = 512 * GIB;
        a
    };
    {
        let a = driver.current.cfs.get_mut("a").expect("a");
        a.insert(Tunable::Level0SlowdownWritesTrigger, 40);
        a.insert(Tunable::Level0StopWritesTrigger, 72);
        a.insert(Tunable::SoftPendingCompactionBytesLimit, 128 * GIB);
        a.insert(Tunable::HardPendingCompactionBytesLimit, 512 * GIB);
    }
    // Raised once, never compounded; compaction lag still counts against the configured
    // trigger (15 / 20 = 0.75 crosses two levels: 2 + 4 jobs).
    let c = driver.propose(vec![raised(15)], global(), w);
    assert_eq!(
        set_cf_changes(&c, ActionKind::ReleaseThrottle),
        None,
        "{c:?}"
    );
    assert_eq!(jobs_target(&c), Some(6), "{c:?}");
    // Calm (L0 < 0.5 of the configured trigger) for 50 ticks: back to the configured values.
    let mut restored = None;
    for tick in 1..=50 {
        let c = driver.propose(vec![raised(9)], global(), w);
        let back = set_cf_changes(&c, ActionKind::Throttle);
        if tick < 50 {
            assert_eq!(back, None, "tick {tick}: {c:?}");
        } else {
            restored = back;
        }
    }
    assert_eq!(
        restored,
        Some(vec![
            (Tunable::Level0SlowdownWritesTrigger, 20),
            (Tunable::Level0StopWritesTrigger, 36),
            (Tunable::SoftPendingCompactionBytesLimit, 64 * GIB),
            (Tunable::HardPendingCompactionBytesLimit, 256 * GIB),
        ])
    );
}

fn limit_of(candidates: &[Candidate]) -> Option<u64> {
    candidates.iter().find_map(|c| match c.action {
        Action::SetWriteRateLimit {
            rate_bytes_per_sec: Some(rate),
            ..
        } if c.kind == ActionKind::Throttle => Some(rate),
        _ => None,
    })
}

#[test]
fn throttle_is_a_last_resort_near_the_stop_trigger() {
    let w = Weights::default();
    let mut driver = Driver::new();
    // At the slowdown trigger, even delayed by RocksDB: no throttle of ours.
    let mut a = with_l0(20);
    a.stall = Stall::Delayed;
    let c = driver.propose(vec![a], global(), w);
    assert_eq!(limit_of(&c), None, "{c:?}");
    // 0.78 of the stop trigger: still not.
    let c = driver.propose(vec![with_l0(28)], global(), w);
    assert_eq!(limit_of(&c), None, "{c:?}");
    // 0.8: engaged.
    let c = driver.propose(vec![with_l0(29)], global(), w);
    assert!(limit_of(&c).is_some(), "{c:?}");
    // Writes stopped by RocksDB: engaged whatever L0.
    let mut a = with_l0(2);
    a.stall = Stall::Stopped;
    let c = Driver::new().propose(vec![a], global(), w);
    assert!(limit_of(&c).is_some(), "{c:?}");
}

#[test]
fn throttle_never_decays_below_its_floor_unless_l0_is_at_the_stop_trigger() {
    let w = Weights::default();
    let flow = 10.0 * MIB as f64;
    let mut driver = Driver::new();
    let apply = |driver: &mut Driver, rate: u64| {
        driver.policy.feedback(&PolicyFeedback::Applied {
            kind: ActionKind::Throttle,
            action: Action::SetWriteRateLimit {
                scope: ThrottleScope::Cf("a".into()),
                rate_bytes_per_sec: Some(rate),
            },
            tick: driver.tick,
        });
    };
    let limited = |l0: u64, limit: u64| {
        let mut a = with_l0(l0);
        a.write_rate_limit = Some(limit);
        a
    };
    let mut rate = limit_of(&driver.propose(vec![with_l0(30)], global(), w)).expect("engaged");
    apply(&mut driver, rate);
    // Severe (L0 at 0.92 of the stop trigger) and never improving: tightened down to
    // 0.5 × the flow before throttling, and no further.
    let mut limits = vec![rate];
    for _ in 0..100 {
        if let Some(next) = limit_of(&driver.propose(vec![limited(33, rate)], global(), w)) {
            rate = next;
            limits.push(rate);
            apply(&mut driver, rate);
        }
    }
    assert!(limits.len() >= 3, "tightened: {limits:?}");
    assert_eq!(rate, (0.5 * flow) as u64, "{limits:?}");
    // L0 at 0.97 of the stop trigger: the floor no longer holds.
    let mut below = None;
    for _ in 0..10 {
        if let Some(next) = limit_of(&driver.propose(vec![limited(35, rate)], global(), w)) {
            below = Some(next);
            break;
        }
    }
    let below = below.expect("tightened past the floor");
    assert!(below < (0.5 * flow) as u64, "{below}");
}

#[test]
fn starved_background_jobs_are_restored_to_the_configured_values() {
    let mut driver = Driver::new();
    driver
        .baseline
        .global
        .insert(Tunable::BackgroundThreadsLow, 2);
    let mut g = global();
    g.max_background_jobs = 1;
    g.background_threads_low = 1;
    // Lag 0.35: below the first level, but work is waiting with jobs cut below the
    // configured 2.
    let c = driver.propose(
        vec![with_pending_ratio(0.35)],
        g.clone(),
        Weights::default(),
    );
    let raise = c
        .iter()
        .find(|c| c.kind == ActionKind::RaiseBackgroundJobs)
        .expect("repair");
    assert_eq!(
        raise.action,
        Action::SetGlobal {
            changes: vec![
                (Tunable::MaxBackgroundJobs, 2),
                (Tunable::BackgroundThreadsLow, 2)
            ]
        }
    );
    // No work waiting: left alone.
    let c = Driver::new().propose(vec![with_pending_ratio(0.1)], g, Weights::default());
    assert!(c.is_empty(), "{c:?}");
}
