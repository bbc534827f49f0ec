//! Cost of lsmedic's instrumentation: `Engine` put/get (telemetry on, a drainer thread
//! emptying the rings every 100 ms like the healer will) against the raw `rocksdb` crate
//! opened with identical options (same `EngineConfig::db_options`, same block cache size,
//! cached `WriteOptions`/`ReadOptions` on both sides), in the same benchmark run.
//!
//! Each pair is measured interleaved: both functions sit in one criterion group and are
//! re-run `ROUNDS` times alternately, so slow drifts on a noisy machine hit both sides.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use lsmedic_engine::{Engine, EngineConfig, DEFAULT_CF};
use rocksdb::{Cache, ReadOptions, WriteOptions, DB};

const KEYS: u64 = 100_000;
const VALUE_BYTES: usize = 100;
const ROUNDS: usize = 3;

fn key(i: u64) -> [u8; 16] {
    // Spread keys over the key space (multiplicative hash), fixed width.
    let mixed = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&mixed.to_be_bytes());
    out[8..].copy_from_slice(&i.to_be_bytes());
    out
}

struct Raw {
    db: DB,
    write: WriteOptions,
    read: ReadOptions,
    _cache: Cache,
}

fn open_raw(path: &std::path::Path, config: &EngineConfig) -> Raw {
    let cache = Cache::new_lru_cache(config.block_cache_size as usize);
    let opts = config.db_options(&cache);
    let db = DB::open(&opts, path).expect("open raw rocksdb");
    Raw {
        db,
        write: WriteOptions::default(),
        read: ReadOptions::default(),
        _cache: cache,
    }
}

/// Drains the engine's rings every 100 ms until stopped, like the healer thread.
fn spawn_drainer(engine: Arc<Engine>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            engine.telemetry().drain_ops(|op| {
                black_box(op);
            });
            engine.telemetry().drain_events(|event| {
                black_box(event);
            });
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn bench_overhead(c: &mut Criterion) {
    let config = EngineConfig::default();
    let raw_dir = tempfile::tempdir().expect("tempdir");
    let engine_dir = tempfile::tempdir().expect("tempdir");
    let raw = open_raw(raw_dir.path(), &config);
    let engine = Arc::new(Engine::open(engine_dir.path(), config).expect("open engine"));
    let stop = Arc::new(AtomicBool::new(false));
    let drainer = spawn_drainer(Arc::clone(&engine), Arc::clone(&stop));
    let raw_cf = raw.db.cf_handle(DEFAULT_CF).expect("default cf");
    let value = vec![0x5a_u8; VALUE_BYTES];

    // Preload identical data for reads, then settle both trees the same way.
    for i in 0..KEYS {
        raw.db
            .put_cf_opt(&raw_cf, key(i), &value, &raw.write)
            .expect("raw put");
        engine.put(DEFAULT_CF, &key(i), &value).expect("engine put");
    }
    raw.db.flush_cf(&raw_cf).expect("raw flush");
    engine.flush(DEFAULT_CF).expect("engine flush");
    raw.db
        .compact_range_cf(&raw_cf, None::<&[u8]>, None::<&[u8]>);
    engine
        .compact_range(DEFAULT_CF, None, None)
        .expect("engine compact");

    let mut group = c.benchmark_group("overhead");
    group.throughput(criterion::Throughput::Elements(1));
    for round in 0..ROUNDS {
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("put/raw_rocksdb", round), |b| {
            b.iter(|| {
                n += 1;
                raw.db
                    .put_cf_opt(&raw_cf, key(n % KEYS), &value, &raw.write)
                    .expect("raw put")
            })
        });
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("put/lsmedic", round), |b| {
            b.iter(|| {
                n += 1;
                engine
                    .put(DEFAULT_CF, &key(n % KEYS), &value)
                    .expect("engine put")
            })
        });
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("get/raw_rocksdb", round), |b| {
            b.iter(|| {
                n += 7;
                let got = raw
                    .db
                    .get_pinned_cf_opt(&raw_cf, key(n % KEYS), &raw.read)
                    .expect("raw get")
                    .map(|slice| slice.to_vec());
                black_box(got)
            })
        });
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("get/lsmedic", round), |b| {
            b.iter(|| {
                n += 7;
                black_box(engine.get(DEFAULT_CF, &key(n % KEYS)).expect("engine get"))
            })
        });
    }
    group.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = drainer.join();
    eprintln!(
        "engine telemetry: dropped_ops={} dropped_events={}",
        engine.telemetry().dropped_ops(),
        engine.telemetry().dropped_events()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench_overhead
}
criterion_main!(benches);
