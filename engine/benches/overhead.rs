//! Cost of lsmedic's instrumentation: `Engine` put/get (telemetry on, a drainer thread
//! emptying the rings every 20 ms as the healer will) against the raw `rocksdb` crate
//! opened with identical options (same `EngineConfig::db_options`, same block cache size,
//! cached `WriteOptions`/`ReadOptions` on both sides), in the same benchmark run.
//!
//! Two measurements in the same run:
//! - criterion's per-op times for each side (absolute numbers);
//! - a paired ratio: `BLOCKS` short blocks of `BLOCK_OPS` ops alternate raw → engine →
//!   engine → raw …, and the ratio of each adjacent pair's per-op times is taken; the median
//!   (with quartiles) of those ratios is printed as `throughput ratio (lsmedic / raw)`. Pairing
//!   adjacent blocks cancels the drift (flushes, compactions, other load on the machine) that
//!   separates two criterion runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use lsmedic_engine::{Engine, EngineConfig, DEFAULT_CF};
use rocksdb::{Cache, ReadOptions, WriteOptions, DB};

const KEYS: u64 = 100_000;
const VALUE_BYTES: usize = 100;
const BLOCKS: usize = 600;
const BLOCK_OPS: u64 = 2_000;

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
    // Exactly how the engine opens: an explicit descriptor for the default CF.
    let default_cf = rocksdb::ColumnFamilyDescriptor::new(
        DEFAULT_CF,
        config.cf_options_for(DEFAULT_CF).rocksdb_options(&cache),
    );
    let db = DB::open_cf_descriptors(&opts, path, [default_cf]).expect("open raw rocksdb");
    Raw {
        db,
        write: WriteOptions::default(),
        read: ReadOptions::default(),
        _cache: cache,
    }
}

/// Drains the engine's rings every 20 ms until stopped, as the healer thread does.
fn spawn_drainer(engine: Arc<Engine>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            engine.telemetry().drain_ops(|op| {
                black_box(op);
            });
            engine.telemetry().drain_events(|event| {
                black_box(event);
            });
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Criterion measurements of both sides, the n-th call using key `n * stride`.
fn criterion_pair(
    c: &mut Criterion,
    name: &str,
    stride: u64,
    raw_op: &dyn Fn(u64),
    engine_op: &dyn Fn(u64),
) {
    let mut group = c.benchmark_group("overhead");
    group.throughput(criterion::Throughput::Elements(1));
    for (side, op) in [("raw_rocksdb", raw_op), ("lsmedic", engine_op)] {
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new(name, side), |b| {
            b.iter(|| {
                n += stride;
                op(n)
            })
        });
    }
    group.finish();
}

/// Runs `BLOCKS` alternating blocks of each side and prints the median ratio of lsmedic's
/// throughput to raw RocksDB's over adjacent pairs, with quartiles.
fn paired_ratio(name: &str, stride: u64, raw_op: &dyn Fn(u64), engine_op: &dyn Fn(u64)) {
    let (mut raw_n, mut engine_n) = (0u64, 0u64);
    let mut raw_block = || {
        let start = Instant::now();
        for _ in 0..BLOCK_OPS {
            raw_n += stride;
            raw_op(raw_n);
        }
        start.elapsed().as_nanos() as f64 / BLOCK_OPS as f64
    };
    let mut engine_block = || {
        let start = Instant::now();
        for _ in 0..BLOCK_OPS {
            engine_n += stride;
            engine_op(engine_n);
        }
        start.elapsed().as_nanos() as f64 / BLOCK_OPS as f64
    };
    let mut ratios = Vec::with_capacity(BLOCKS);
    let (mut raw_total, mut engine_total) = (0.0, 0.0);
    for block in 0..BLOCKS {
        // Alternate which side goes first so neither always runs right after the other.
        let (raw_ns, engine_ns) = if block % 2 == 0 {
            let r = raw_block();
            (r, engine_block())
        } else {
            let e = engine_block();
            (raw_block(), e)
        };
        raw_total += raw_ns;
        engine_total += engine_ns;
        ratios.push(raw_ns / engine_ns);
    }
    ratios.sort_by(f64::total_cmp);
    let quantile = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    println!(
        "paired {name}: throughput ratio (lsmedic / raw) median {:.4} [p25 {:.4}, p75 {:.4}] \
         over {BLOCKS} pairs of {BLOCK_OPS} ops; mean ns/op raw {:.0}, lsmedic {:.0}",
        quantile(0.5),
        quantile(0.25),
        quantile(0.75),
        raw_total / BLOCKS as f64,
        engine_total / BLOCKS as f64,
    );
}

fn bench_overhead(c: &mut Criterion) {
    // Memtables large enough that no flush lands inside the measurements: flush and
    // compaction noise is identical for both sides but would swamp a ~1 % difference.
    let config = EngineConfig {
        cf_options: lsmedic_engine::CfOptions {
            write_buffer_size: 1 << 30,
            max_write_buffer_number: 4,
            ..Default::default()
        },
        ..EngineConfig::default()
    };
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

    // Each side's operation on the n-th key, defined once for both measurements.
    let raw_get = |n: u64| {
        let got = raw
            .db
            .get_pinned_cf_opt(&raw_cf, key(n % KEYS), &raw.read)
            .expect("raw get")
            .map(|slice| slice.to_vec());
        black_box(got);
    };
    let engine_get = |n: u64| {
        black_box(engine.get(DEFAULT_CF, &key(n % KEYS)).expect("engine get"));
    };
    let raw_put = |n: u64| {
        raw.db
            .put_cf_opt(&raw_cf, key(n % KEYS), &value, &raw.write)
            .expect("raw put")
    };
    let engine_put = |n: u64| {
        engine
            .put(DEFAULT_CF, &key(n % KEYS), &value)
            .expect("engine put")
    };

    // Order matters: both sides must see identical histories (criterion runs a different
    // number of iterations per side), so the paired runs come before the criterion puts.
    criterion_pair(c, "get", 7, &raw_get, &engine_get);
    paired_ratio("get", 7, &raw_get, &engine_get);
    paired_ratio("put", 1, &raw_put, &engine_put);
    criterion_pair(c, "put", 1, &raw_put, &engine_put);
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
