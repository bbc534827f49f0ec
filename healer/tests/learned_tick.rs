//! What the learned healer costs per tick: the whole tick (drain, window, observation, graph,
//! features, detector, cascade GNN, policy network, guard, actuator, audit in memory) on the
//! stub engine, 1 and 4 column families, 1 000 op events per tick, with the trained models of
//! `healer/models/` (without them: the fixture models; `LEARNED_TICK_MODELS=<dir>` measures
//! another set) and, for comparison, the rule policy on the same script. Prints p50 / p99 /
//! max from HDR histograms of wall time and of the healer thread's on-CPU time (the issue's
//! target: p99 ≤ 1 ms).
//! Run in release: `cargo test --release -p lsmedic-healer --test learned_tick -- --nocapture`.
//!
//! The on-CPU p99 is held to the 1 ms target; wall time, which also counts waiting for a
//! core on a busy machine, only to a sanity bound.

mod common;
mod learned_support;

use std::sync::Arc;
use std::time::Instant;

use common::Rig;
use hdrhistogram::Histogram;
use learned_support::{fixtures_dir, learned_config};
use lsmedic_healer::audit::AuditRecord;
use lsmedic_healer::model::{names, ModelManifest};
use lsmedic_healer::stub::StubEngine;
use lsmedic_healer::{HealerConfig, Mode};
use lsmedic_telemetry::OpKind;

const TICKS: usize = 3000;

/// Scripts one tick: pressure cycling every 5 s, 1 000 ops over the column families.
fn script(engine: &StubEngine, cfs: &[&str], step: u64) {
    engine.script_pressure_cycle(cfs, step);
    let per_cf = 1000 / cfs.len();
    for cf in cfs {
        engine.push_ops(cf, OpKind::Put, per_cf * 4 / 5, 1024, 20_000);
        engine.push_ops(cf, OpKind::Get, per_cf / 5, 512, 5_000);
    }
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`), ns: unlike wall time it does
/// not count the time the thread waited for a core on a busy machine.
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec (64-bit Linux layout) for the call.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> Option<u64> {
    None
}

/// p50, p99, max of a histogram of ns, in µs.
fn quantiles_us(h: &Histogram<u64>) -> (f64, f64, f64) {
    (
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.max() as f64 / 1e3,
    )
}

struct Measured {
    /// Wall time (p50, p99, max), µs.
    wall_us: (f64, f64, f64),
    /// On-CPU time of the healer thread (p50, p99, max), µs, where measurable.
    cpu_us: Option<(f64, f64, f64)>,
    policy: String,
    adaptations: u64,
    /// What the audit log says each adaptation run took (`... in N us`).
    adaptation_us: Vec<u64>,
    applied: u64,
}

fn measure(cfs: &[&str], config: HealerConfig) -> Measured {
    let mut rig = Rig::with_engine(Arc::new(StubEngine::new(cfs)), config);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("hist");
    let mut cpu = thread_cpu_ns()
        .map(|_| Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("hist"));
    for step in 0..TICKS as u64 {
        script(&rig.engine, cfs, step);
        rig.engine.advance(rig.tick_interval);
        let cpu_before = thread_cpu_ns();
        let started = Instant::now();
        let report = rig.core.tick().expect("tick");
        histogram.saturating_record(started.elapsed().as_nanos() as u64);
        let cpu_after = thread_cpu_ns();
        if let (Some(cpu), Some(before), Some(after)) = (cpu.as_mut(), cpu_before, cpu_after) {
            cpu.saturating_record(after.saturating_sub(before).max(1));
        }
        std::hint::black_box(report);
    }
    let stats = rig.core.handle().stats();
    assert_eq!(stats.model_failures, 0);
    Measured {
        wall_us: quantiles_us(&histogram),
        cpu_us: cpu.as_ref().map(quantiles_us),
        adaptations: stats.adaptations,
        adaptation_us: rig
            .core
            .handle()
            .audit_entries(usize::MAX)
            .into_iter()
            .filter_map(|e| match e.record {
                AuditRecord::Config { change } if change.starts_with("detector adapted") => change
                    .rsplit(" in ")
                    .next()
                    .and_then(|t| t.trim_end_matches(" us").parse().ok()),
                _ => None,
            })
            .collect(),
        applied: stats.verdict_count("applied"),
        policy: stats.policy,
    }
}

#[test]
fn learned_tick_cost_is_measured_and_sane() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let shipped_is_learned = ModelManifest::from_file(&shipped.join("manifest.json"))
        .is_ok_and(|m| m.model(names::POLICY).is_some());
    let models_dir = match std::env::var_os("LEARNED_TICK_MODELS") {
        Some(dir) => std::path::PathBuf::from(dir),
        None if shipped_is_learned => shipped,
        None => fixtures_dir(),
    };
    println!("models: {}", models_dir.display());
    for cfs in [
        &["default"][..],
        &["default", "users", "orders", "events"][..],
    ] {
        let mut learned = learned_config(&models_dir);
        learned.mode = Mode::Active;
        let learned = measure(cfs, learned);
        assert_eq!(learned.policy, "learned");
        assert!(learned.adaptations >= 1);
        assert_eq!(learned.adaptation_us.len() as u64, learned.adaptations);
        let rules = measure(cfs, HealerConfig::default());
        assert_eq!(rules.policy, "rules");
        for (name, m) in [("learned", &learned), ("rules", &rules)] {
            let (p50, p99, max) = m.wall_us;
            let cpu = m.cpu_us.map_or_else(
                || "on-CPU time not measurable here".to_owned(),
                |(p50, p99, max)| {
                    format!("on-CPU p50 {p50:.1} us, p99 {p99:.1} us, max {max:.1} us")
                },
            );
            println!(
                "healer tick, {} CF(s), 1000 ops/tick, {TICKS} ticks, policy {name}: wall p50 \
                 {p50:.1} us, p99 {p99:.1} us, max {max:.1} us; {cpu}; adaptations {} (runs of \
                 {:?} us), actions applied {}",
                cfs.len(),
                m.adaptations,
                m.adaptation_us,
                m.applied
            );
        }
        // The target (p99 <= 1 ms) on the healer thread's own CPU time; wall time also counts
        // waiting for a core, which a loaded machine with few cores adds at random.
        if let Some((_, p99, _)) = learned.cpu_us {
            assert!(
                p99 <= 1_000.0,
                "on-CPU p99 {p99} us is over the 1 ms target"
            );
        }
        let (_, wall_p99, _) = learned.wall_us;
        assert!(wall_p99 < 50_000.0, "wall p99 {wall_p99} us");
    }
}
