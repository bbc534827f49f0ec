//! Cost of `WriteThrottle::acquire` on the write path: unlimited (one atomic load), limited at
//! a rate so high that no write ever sleeps (clock read + CAS on the schedule), and the same
//! with a second writer contending for the schedule.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lsmedic_telemetry::WriteThrottle;

/// 1 PiB/s: a 4 KiB write reserves 4 ns of schedule, far less than an acquire takes, so the
/// schedule never runs ahead of the clock and no write waits.
const NEVER_WAITS_BYTES_PER_SEC: u64 = 1 << 50;
const WRITE_BYTES: u64 = 4096;

fn unlimited(c: &mut Criterion) {
    let mut group = c.benchmark_group("throttle");
    group.throughput(Throughput::Elements(1));
    let throttle = WriteThrottle::default();
    group.bench_function("unlimited_acquire", |b| {
        b.iter(|| throttle.acquire(black_box(WRITE_BYTES), None))
    });
    group.finish();
}

fn limited_no_wait(c: &mut Criterion) {
    let mut group = c.benchmark_group("throttle");
    group.throughput(Throughput::Elements(1));
    let throttle = WriteThrottle::new(Some(NEVER_WAITS_BYTES_PER_SEC));
    group.bench_function("reserve_limited_no_wait", |b| {
        b.iter(|| throttle.acquire(black_box(WRITE_BYTES), None))
    });
    assert_eq!(throttle.stats().waited_writes, 0, "a write slept");
    group.finish();
}

fn limited_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("throttle");
    group.throughput(Throughput::Elements(1));
    let throttle = WriteThrottle::new(Some(NEVER_WAITS_BYTES_PER_SEC));
    let stop = AtomicBool::new(false);
    let started = Barrier::new(2);
    thread::scope(|scope| {
        scope.spawn(|| {
            started.wait();
            // Relaxed: a stop flag; nothing is published through it.
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    black_box(throttle.acquire(black_box(WRITE_BYTES), None)).ok();
                }
            }
        });
        started.wait();
        group.bench_function("reserve_limited_2_threads", |b| {
            b.iter(|| throttle.acquire(black_box(WRITE_BYTES), None))
        });
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(throttle.stats().waited_writes, 0, "a write slept");
    group.finish();
}

criterion_group!(benches, unlimited, limited_no_wait, limited_two_threads);
criterion_main!(benches);
