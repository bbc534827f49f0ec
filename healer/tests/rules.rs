//! The rule policy on hand-made observations: thresholds, weights, ownership of limits.

use lsmedic_healer::features::NodeFeatures;
use lsmedic_healer::observation::{CfObservation, GlobalObservation};
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
}

impl Driver {
    fn new() -> Driver {
        Driver {
            policy: RulePolicy::new(RuleConfig::default()).with_cores(64),
            tick: 0,
            baseline: tunables(),
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
        let tunables = tunables();
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
            a.files_per_level[0] = 18; // L0 at 90 % of the slowdown trigger
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
    a.files_per_level[0] = 16; // 0.8 of the slowdown trigger: pressure 1.07
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
    let first = driver.propose(vec![pressured(17, None)], global(), w);
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
    for l0 in [16, 16, 15, 15, 15, 15, 15] {
        let c = driver.propose(vec![pressured(l0, Some(rate))], global(), w);
        assert!(c.iter().all(|c| c.kind != ActionKind::Throttle), "{c:?}");
    }
    // Not improving: tighten by the decay.
    let mut tightened = None;
    for _ in 0..6 {
        let c = driver.propose(vec![pressured(18, Some(rate))], global(), w);
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
    for l0 in [17, 19, 19, 2, 2] {
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
