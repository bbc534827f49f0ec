//! Cost of one push into the telemetry rings, alone and with a second producer.
//!
//! Pushes are timed in chunks that fit the ring; the ring is drained between chunks outside
//! the timed part, so every timed push takes the accepting path, never the "full" one.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lsmedic_telemetry::{OpEvent, OpKind, OpOutcome, Ring, ShardedRing};

const CAPACITY: usize = 1 << 16;
/// Pushes timed between two untimed drains; leaves room for a concurrent producer's values.
const CHUNK: u64 = (CAPACITY / 4) as u64;

fn op_event(i: u64) -> OpEvent {
    OpEvent {
        end_ns: i,
        latency_ns: i as u32,
        bytes: 128,
        cf: 0,
        kind: OpKind::Put,
        outcome: OpOutcome::Ok,
    }
}

fn drain_all<T: Copy + Send>(ring: &Ring<T>) {
    ring.drain(|v| {
        black_box(v);
    });
}

fn drain_all_shards<T: Copy + Send>(sharded: &ShardedRing<T>) {
    sharded.drain(|v| {
        black_box(v);
    });
}

/// Times `iters` pushes made by `push`, draining with `drain` between chunks (untimed).
fn time_pushes(iters: u64, push: impl Fn(u64) -> bool, drain: impl Fn()) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let chunk = CHUNK.min(iters - done);
        let start = Instant::now();
        for i in done..done + chunk {
            black_box(push(black_box(i)));
        }
        elapsed += start.elapsed();
        done += chunk;
        drain();
    }
    elapsed
}

fn ring_push_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_push/uncontended");
    group.throughput(Throughput::Elements(1));

    let ring = Ring::<u64>::new(CAPACITY);
    group.bench_function(BenchmarkId::from_parameter("u64"), |b| {
        b.iter_custom(|iters| time_pushes(iters, |i| ring.push(i), || drain_all(&ring)))
    });
    assert_eq!(ring.dropped(), 0);

    let ring = Ring::<OpEvent>::new(CAPACITY);
    group.bench_function(BenchmarkId::from_parameter("op_event"), |b| {
        b.iter_custom(|iters| time_pushes(iters, |i| ring.push(op_event(i)), || drain_all(&ring)))
    });
    assert_eq!(ring.dropped(), 0);
    group.finish();
}

/// Runs `bench` while another thread pushes through `push` in a loop, draining a little
/// after every 64 pushes so it keeps contending instead of filling the ring.
fn with_second_producer<R: Sync>(
    shared: &R,
    push: impl Fn(&R, u64) -> bool + Sync,
    drain_some: impl Fn(&R) + Sync,
    bench: impl FnOnce(),
) {
    let stop = AtomicBool::new(false);
    let started = Barrier::new(2);
    thread::scope(|scope| {
        scope.spawn(|| {
            started.wait();
            let mut i = 0u64;
            // Relaxed: a stop flag; nothing is published through it.
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    black_box(push(shared, i));
                    i += 1;
                }
                drain_some(shared);
            }
        });
        started.wait();
        bench();
        stop.store(true, Ordering::Relaxed);
    });
}

fn ring_push_two_producers(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_push");
    group.throughput(Throughput::Elements(1));
    let ring = Arc::new(Ring::<OpEvent>::new(CAPACITY));
    with_second_producer(
        &ring,
        |r, i| r.push(op_event(i)),
        |r| {
            for _ in 0..64 {
                black_box(r.pop());
            }
        },
        || {
            group.bench_function("2_producers", |b| {
                b.iter_custom(|iters| {
                    time_pushes(iters, |i| ring.push(op_event(i)), || drain_all(&ring))
                })
            });
        },
    );
    group.finish();
}

fn sharded_push(c: &mut Criterion) {
    let mut group = c.benchmark_group("sharded_push");
    group.throughput(Throughput::Elements(1));

    let alone = ShardedRing::<OpEvent>::with_default_shards(CAPACITY);
    group.bench_function("uncontended", |b| {
        b.iter_custom(|iters| {
            time_pushes(
                iters,
                |i| alone.push(op_event(i)),
                || drain_all_shards(&alone),
            )
        })
    });

    let sharded = ShardedRing::<OpEvent>::with_default_shards(CAPACITY);
    // Find the measured thread's shard so the other thread drains only the others.
    sharded.push(op_event(0));
    let measured_shard = sharded.shards().iter().position(|s| !s.is_empty());
    drain_all_shards(&sharded);
    with_second_producer(
        &sharded,
        |s, i| s.push(op_event(i)),
        |s| {
            for (index, shard) in s.shards().iter().enumerate() {
                if Some(index) == measured_shard {
                    continue;
                }
                for _ in 0..64 {
                    if shard.pop().is_none() {
                        break;
                    }
                }
            }
        },
        || {
            group.bench_function("2_producers", |b| {
                b.iter_custom(|iters| {
                    time_pushes(
                        iters,
                        |i| sharded.push(op_event(i)),
                        || drain_all_shards(&sharded),
                    )
                })
            });
        },
    );
    group.finish();
}

criterion_group!(
    benches,
    ring_push_uncontended,
    ring_push_two_producers,
    sharded_push
);
criterion_main!(benches);
