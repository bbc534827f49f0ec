//! Under random engine states, weights and guard settings, the healer in active mode never
//! leaves the configured bounds, never acts inside a cooldown, never exceeds its budget or
//! the per-tick limit, never rebuilds without permission, and every mutating call it makes
//! went through the guard.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{writes, Rig, GIB, MIB};
use lsmedic_healer::config::{Bounds, GuardConfig, HealerConfig};
use lsmedic_healer::stub::ControlCall;
use lsmedic_healer::{Action, ActionFamily, Mode, Verdict, Weights};
use lsmedic_telemetry::{OpKind, Tunable};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct CfState {
    l0: u64,
    pending_ratio: f64,
    immutable: u64,
    flush_pending: bool,
    writes: usize,
    deletes: usize,
    scans: usize,
    scan_us: u32,
    latency_us: u32,
    corruption: bool,
}

fn cf_state() -> impl Strategy<Value = CfState> {
    (
        0u64..40,
        0.0f64..1.5,
        0u64..5,
        any::<bool>(),
        0usize..2000,
        0usize..500,
        0usize..200,
        10u32..5000,
        10u32..5000,
        prop::bool::weighted(0.02),
    )
        .prop_map(
            |(
                l0,
                pending_ratio,
                immutable,
                flush_pending,
                writes,
                deletes,
                scans,
                scan_us,
                latency_us,
                corruption,
            )| {
                CfState {
                    l0,
                    pending_ratio,
                    immutable,
                    flush_pending,
                    writes,
                    deletes,
                    scans,
                    scan_us,
                    latency_us,
                    corruption,
                }
            },
        )
}

#[derive(Clone, Debug)]
struct TickState {
    cfs: [CfState; 2],
    hits: u64,
    misses: u64,
    cache_full: bool,
}

fn tick_state() -> impl Strategy<Value = TickState> {
    (
        cf_state(),
        cf_state(),
        0u64..20_000,
        0u64..20_000,
        any::<bool>(),
    )
        .prop_map(|(a, b, hits, misses, cache_full)| TickState {
            cfs: [a, b],
            hits,
            misses,
            cache_full,
        })
}

#[derive(Clone, Debug)]
struct Setup {
    weights: (f64, f64, f64),
    budget_per_minute: u32,
    max_actions_per_tick: u32,
    cooldowns_ms: [u64; 6],
    tick_ms: u64,
    allow_destructive: bool,
    jobs_max: u64,
    cache_max_mib: u64,
    rate_min_mib: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        (0.0f64..1.0, 0.0f64..1.0, 0.01f64..1.0),
        1u32..12,
        1u32..4,
        prop::array::uniform6(0u64..4_000),
        prop_oneof![Just(50u64), Just(100), Just(400)],
        any::<bool>(),
        3u64..8,
        9u64..64,
        1u64..4,
    )
        .prop_map(
            |(
                weights,
                budget_per_minute,
                max_actions_per_tick,
                cooldowns_ms,
                tick_ms,
                allow_destructive,
                jobs_max,
                cache_max_mib,
                rate_min_mib,
            )| Setup {
                weights,
                budget_per_minute,
                max_actions_per_tick,
                cooldowns_ms,
                tick_ms,
                allow_destructive,
                jobs_max,
                cache_max_mib,
                rate_min_mib,
            },
        )
}

fn config(setup: &Setup) -> HealerConfig {
    let mut guard = GuardConfig {
        budget_per_minute: setup.budget_per_minute,
        max_actions_per_tick: setup.max_actions_per_tick,
        write_rate_limit_bounds: Bounds::new(setup.rate_min_mib * MIB, 64 * GIB),
        ..GuardConfig::default()
    };
    for (family, ms) in ActionFamily::ALL.iter().zip(setup.cooldowns_ms) {
        guard.cooldowns_ms.insert(*family, ms);
    }
    guard
        .bounds
        .insert(Tunable::MaxBackgroundJobs, Bounds::new(2, setup.jobs_max));
    guard.bounds.insert(
        Tunable::BlockCacheCapacity,
        Bounds::new(8 * MIB, setup.cache_max_mib * MIB),
    );
    let (l, t, r) = setup.weights;
    HealerConfig {
        tick_interval_ms: setup.tick_ms,
        mode: Mode::Active,
        allow_destructive: setup.allow_destructive,
        weights: Weights::new(l, t, r).expect("weights"),
        guard,
        ..HealerConfig::default()
    }
}

fn script(rig: &Rig, state: &TickState) {
    let e = &rig.engine;
    for (name, cf) in ["a", "b"].iter().zip(&state.cfs) {
        e.update_cf(name, |p| {
            p.num_files_at_level[0] = Some(cf.l0);
            p.estimate_pending_compaction_bytes =
                Some((cf.pending_ratio * (64 * GIB) as f64) as u64);
            p.num_immutable_mem_table = Some(cf.immutable);
            p.mem_table_flush_pending = Some(u64::from(cf.flush_pending));
            p.compaction_pending = Some(u64::from(cf.pending_ratio > 0.3));
            p.block_cache_usage = Some(if state.cache_full { 1 << 40 } else { 0 });
        });
        writes(e, name, cf.writes, 512, cf.latency_us);
        e.push_ops(name, OpKind::Delete, cf.deletes, 20, cf.latency_us * 1000);
        e.push_ops(name, OpKind::Scan, cf.scans, 4096, cf.scan_us * 1000);
        if cf.corruption {
            common::event(
                e,
                name,
                lsmedic_telemetry::EngineEventKind::BackgroundError {
                    reason: lsmedic_telemetry::BackgroundErrorReason::Compaction,
                    message: lsmedic_telemetry::Message::new("Corruption: test"),
                    contained: false,
                },
            );
        }
    }
    e.update_statistics(|s| {
        if let Some(s) = s.as_mut() {
            s.block_cache_hit += state.hits;
            s.block_cache_miss += state.misses;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn bounds_cooldowns_and_budget_hold_under_random_inputs(
        setup in setup(),
        ticks in prop::collection::vec(tick_state(), 40..160),
    ) {
        let config = config(&setup);
        let guard = config.guard.clone();
        let mut rig = Rig::new(&["a", "b"], config);
        let mut applied: Vec<(u64, ActionFamily, Option<String>, Action)> = Vec::new();
        let tick_ns = Duration::from_millis(setup.tick_ms).as_nanos() as u64;
        let mut now_ns = 1_000_000_000u64;
        for state in &ticks {
            let report = rig.tick(|_| {});
            script(&rig, state);
            now_ns += tick_ns;
            let mut this_tick = 0;
            for review in &report.reviews {
                if review.verdict == Verdict::Applied {
                    this_tick += 1;
                    let action = review.action.clone().expect("applied action");
                    prop_assert!(setup.allow_destructive || !action.is_destructive());
                    applied.push((
                        now_ns,
                        review.candidate.kind.family(),
                        action.cf().map(str::to_owned),
                        action,
                    ));
                }
            }
            prop_assert!(this_tick <= setup.max_actions_per_tick as usize);
        }
        rig.core.shutdown();

        // Bounds, on what the engine actually received.
        let calls = rig.engine.mutating_calls();
        for call in &calls {
            match call {
                ControlCall::SetGlobal(changes) | ControlCall::SetCf(_, changes) => {
                    for (tunable, value) in changes {
                        let b = guard.bounds_of(*tunable);
                        prop_assert!(b.contains(*value), "{tunable} = {value} outside {b:?}");
                    }
                }
                ControlCall::SetWriteRateLimit(_, Some(rate)) => {
                    prop_assert!(guard.write_rate_limit_bounds.contains(*rate), "rate {rate}");
                }
                ControlCall::RebuildCf(_) => prop_assert!(setup.allow_destructive),
                _ => {}
            }
        }
        // Every mutation went through the guard (roll-backs restore through `restore`).
        let direct = calls.iter().filter(|c| !matches!(c, ControlCall::Restore(_))).count();
        prop_assert_eq!(direct, applied.len());

        // Cooldowns per family and target.
        let mut last: HashMap<(ActionFamily, Option<String>), u64> = HashMap::new();
        for (at, family, target, _) in &applied {
            if let Some(previous) = last.get(&(*family, target.clone())) {
                let cooldown = guard.cooldown(*family).as_nanos() as u64;
                prop_assert!(at - previous >= cooldown, "{family:?} {target:?} again after {} ns < {cooldown}", at - previous);
            }
            last.insert((*family, target.clone()), *at);
        }
        // Budget: at most `budget_per_minute` in any 60 s.
        for (i, (at, ..)) in applied.iter().enumerate() {
            let in_window = applied[i..].iter().take_while(|(t, ..)| *t < at + 60_000_000_000).count();
            prop_assert!(in_window <= setup.budget_per_minute as usize, "{in_window} in a minute");
        }
    }
}
