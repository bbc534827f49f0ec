//! One full healer tick (drain, window, observation, graph, features, objective, rule
//! policy, guard, actuator, audit in memory) with 4 column families on the stub engine.
//!
//! Each tick drains 1 000 op events and a few listener events and sees an LSM whose
//! pressure cycles, so the rules engage, tighten and release the throttle and raise jobs.
//! Besides criterion's estimate, the run prints p50/p99/max of 20 000 ticks from an HDR
//! histogram (the target: p99 ≤ 1 ms).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use hdrhistogram::Histogram;
use lsmedic_healer::stub::StubEngine;
use lsmedic_healer::{HealerConfig, HealerCore};
use lsmedic_telemetry::{CfName, EngineEvent, EngineEventKind, OpKind};

const CFS: [&str; 4] = ["default", "users", "orders", "events"];

struct Bench {
    engine: Arc<StubEngine>,
    core: HealerCore<StubEngine>,
    step: u64,
}

impl Bench {
    fn new() -> Bench {
        let engine = Arc::new(StubEngine::new(&CFS));
        let core = HealerCore::new(Arc::clone(&engine), HealerConfig::default()).expect("core");
        Bench {
            engine,
            core,
            step: 0,
        }
    }

    /// Scripts the telemetry of one tick (not timed).
    fn prepare(&mut self) {
        self.step += 1;
        // 5 s calm, 5 s building, 5 s over, 5 s draining
        self.engine.script_pressure_cycle(&CFS, self.step);
        for (i, cf) in CFS.iter().enumerate() {
            self.engine
                .push_ops(cf, OpKind::Put, 200, 1024, 20_000 + 1000 * i as u32);
            self.engine.push_ops(cf, OpKind::Get, 50, 512, 5_000);
        }
        let now = lsmedic_telemetry::Observe::now_ns(&*self.engine);
        for cf in CFS {
            self.engine.push_event(EngineEvent {
                at_ns: now,
                cf_name: CfName::new(cf),
                kind: EngineEventKind::FlushCompleted {
                    job_id: 1,
                    reason: 0,
                    file_bytes: 4 << 20,
                    entries: 4096,
                    triggered_writes_slowdown: false,
                    triggered_writes_stop: false,
                },
            });
        }
        self.engine.update_statistics(|s| {
            if let Some(s) = s.as_mut() {
                s.block_cache_hit += 9_000;
                s.block_cache_miss += 1_000;
            }
        });
        self.engine.advance(Duration::from_millis(100));
    }

    fn tick(&mut self) -> Duration {
        let started = Instant::now();
        let report = self.core.tick().expect("tick");
        let elapsed = started.elapsed();
        std::hint::black_box(report);
        elapsed
    }
}

fn tick(c: &mut Criterion) {
    let mut bench = Bench::new();
    for _ in 0..100 {
        bench.prepare();
        bench.tick();
    }
    c.bench_function("healer_tick_4_cfs", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                bench.prepare();
                total += bench.tick();
            }
            total
        })
    });

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    for _ in 0..20_000 {
        bench.prepare();
        histogram.saturating_record(bench.tick().as_nanos() as u64);
    }
    let stats = bench.core.handle().stats();
    println!(
        "healer tick, 4 CFs, 1000 ops + 4 events per tick, {} ticks: p50 {:.1} us, p99 {:.1} us, \
         max {:.1} us; actions applied {}, audit entries {}",
        histogram.len(),
        histogram.value_at_quantile(0.5) as f64 / 1e3,
        histogram.value_at_quantile(0.99) as f64 / 1e3,
        histogram.max() as f64 / 1e3,
        stats.verdict_count("applied"),
        stats.audit_entries,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = tick
}
criterion_main!(benches);
