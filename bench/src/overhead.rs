//! `overhead`: the lsmedic engine against raw `rocksdb` opened with identical options
//! (`EngineConfig::db_options` + `CfOptions::rocksdb_options`), the same workload code and
//! the same keys and values.
//!
//! Both databases are loaded, then `blocks` short closed-loop blocks alternate
//! raw → engine, engine → raw, … (the order flips every pair so neither side always runs
//! second). Each adjacent pair gives one ratio `engine ops/s ÷ raw ops/s`; the median and
//! quartiles of those ratios are reported, so drift that affects both sides of a pair
//! (compactions, the other core's load) cancels. A drainer thread empties the engine's rings
//! every 20 ms, as the healer will.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsmedic::engine::{Engine, EngineConfig, DEFAULT_CF};
use serde::Serialize;

use crate::keygen::{encode_key, value_for, KeyChooser, Rng, ValueSize};
use crate::measure::{percentiles_us, Class, Recorder};
use crate::store::{RawRocksDb, Store};
use crate::workload::{MixChooser, OpType, WorkloadKind};

/// Options of `overhead`.
#[derive(clap::Args)]
pub struct OverheadArgs {
    /// Workload of the measured blocks.
    #[arg(long, value_enum, default_value_t = WorkloadKind::Readwhilewriting)]
    workload: WorkloadKind,
    /// Keys loaded into both databases.
    #[arg(long, default_value_t = 200_000)]
    key_space: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: u32,
    /// Worker threads per block.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Ops per block.
    #[arg(long, default_value_t = 20_000)]
    block_ops: u64,
    /// Blocks per side.
    #[arg(long, default_value_t = 40)]
    blocks: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Directory for the two databases (default: the system temp dir).
    #[arg(long)]
    db_dir: Option<std::path::PathBuf>,
}

/// What `overhead` reports.
#[derive(Debug, Serialize)]
pub struct OverheadReport {
    /// Workload name.
    pub workload: &'static str,
    /// Pairs measured.
    pub pairs: usize,
    /// Median of the per-pair ratios engine/raw (1.0 = no overhead).
    pub ratio_median: f64,
    /// First quartile.
    pub ratio_p25: f64,
    /// Third quartile.
    pub ratio_p75: f64,
    /// Smallest ratio.
    pub ratio_min: f64,
    /// Largest ratio.
    pub ratio_max: f64,
    /// Mean ops/s of the raw side.
    pub raw_ops_per_s: f64,
    /// Mean ops/s of the engine side.
    pub engine_ops_per_s: f64,
    /// Latency percentiles (p50, p99, p99.9 µs) of all raw ops, writes then reads.
    pub raw_latency_us: [Option<[f64; 3]>; 2],
    /// The same for the engine.
    pub engine_latency_us: [Option<[f64; 3]>; 2],
}

fn load(store: &dyn Store, keys: u64, size: ValueSize) -> Result<(), String> {
    let mut buf = Vec::new();
    for key in 0..keys {
        value_for(0, key, 1, size, &mut buf);
        store
            .put(DEFAULT_CF, &encode_key(key), &buf)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs one closed-loop block; returns ops/s.
fn block(
    store: &dyn Store,
    args: &OverheadArgs,
    seed: u64,
    recorder: &mut Recorder,
) -> Result<f64, String> {
    let size = ValueSize::fixed(args.value_size);
    let per_thread = args.block_ops / u64::from(args.threads);
    let failures = AtomicU64::new(0);
    let start = Instant::now();
    let recorders: Vec<Recorder> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.threads)
            .map(|thread| {
                let failures = &failures;
                scope.spawn(move || {
                    let mut rng = Rng::new(seed ^ u64::from(thread).wrapping_mul(0x9e37_79b9));
                    let mix = MixChooser::new(args.workload.mix());
                    let chooser =
                        KeyChooser::new(args.workload.default_distribution(), args.key_space);
                    let mut buf = Vec::new();
                    let mut local = Recorder::new(start);
                    let mut version = 2;
                    for _ in 0..per_thread {
                        let key = chooser.next(&mut rng, 0, args.key_space, args.key_space);
                        let encoded = encode_key(key);
                        let sent = Instant::now();
                        let (class, ok) = match mix.next(&mut rng) {
                            OpType::Read => (Class::Read, store.get(DEFAULT_CF, &encoded).is_ok()),
                            OpType::Scan => {
                                (Class::Scan, store.scan(DEFAULT_CF, &encoded, 10).is_ok())
                            }
                            OpType::Delete => {
                                (Class::Write, store.delete(DEFAULT_CF, &encoded).is_ok())
                            }
                            OpType::Update | OpType::Insert | OpType::ReadModifyWrite => {
                                version += 1;
                                value_for(0, key, version, size, &mut buf);
                                (Class::Write, store.put(DEFAULT_CF, &encoded, &buf).is_ok())
                            }
                        };
                        if !ok {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        local.record(class, sent, Instant::now(), (!ok).then_some(false), true);
                    }
                    local
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("block thread"))
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    for r in &recorders {
        recorder.merge(r);
    }
    if failures.load(Ordering::Relaxed) > 0 {
        return Err(format!("{} ops failed", failures.load(Ordering::Relaxed)));
    }
    Ok((per_thread * u64::from(args.threads)) as f64 / elapsed)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Runs `overhead`.
pub fn run(args: OverheadArgs) -> Result<(), String> {
    if args.threads == 0 || args.blocks == 0 || args.block_ops < u64::from(args.threads) {
        return Err(
            "--threads, --blocks and --block-ops must be positive (block-ops >= threads)"
                .to_owned(),
        );
    }
    let parent = args.db_dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("lsmedic-overhead-")
        .tempdir_in(&parent)
        .map_err(|e| e.to_string())?;
    let config = EngineConfig::default();
    let raw = RawRocksDb::open(&dir.path().join("raw"), &config).map_err(|e| e.to_string())?;
    let engine =
        Arc::new(Engine::open(dir.path().join("engine"), config).map_err(|e| e.to_string())?);
    let stop = Arc::new(AtomicBool::new(false));
    let drainer = spawn_drainer(Arc::clone(&engine), Arc::clone(&stop));
    let size = ValueSize::fixed(args.value_size);
    eprintln!("loading {} keys into each database", args.key_space);
    load(&raw, args.key_space, size)?;
    load(engine.as_ref(), args.key_space, size)?;
    let pairs = measure_pairs(&raw, engine.as_ref(), &args)?;
    stop.store(true, Ordering::Relaxed);
    let _ = drainer.join();
    let report = pairs.report(args.workload);
    print_report(&report, &args);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "overhead": report }))
            .map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("JSON: {}", path.display());
    }
    drop(raw);
    if let Ok(engine) = Arc::try_unwrap(engine) {
        engine.close().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Empties the engine's rings every 20 ms until `stop`, as the healer would.
fn spawn_drainer(engine: Arc<Engine>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            engine.telemetry().drain_ops(|op| {
                std::hint::black_box(op);
            });
            engine.telemetry().drain_events(|event| {
                std::hint::black_box(event);
            });
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// What the alternating blocks measured, per side.
struct Pairs {
    raw: Recorder,
    engine: Recorder,
    raw_rates: Vec<f64>,
    engine_rates: Vec<f64>,
    /// Engine ops/s ÷ raw ops/s of each pair.
    ratios: Vec<f64>,
}

/// Runs `args.blocks` pairs of blocks, the side that goes first alternating.
fn measure_pairs(
    raw: &dyn Store,
    engine: &dyn Store,
    args: &OverheadArgs,
) -> Result<Pairs, String> {
    let mut pairs = Pairs {
        raw: Recorder::new(Instant::now()),
        engine: Recorder::new(Instant::now()),
        raw_rates: Vec::new(),
        engine_rates: Vec::new(),
        ratios: Vec::new(),
    };
    for pair in 0..args.blocks {
        let seed = args.seed ^ (pair as u64).wrapping_mul(0x1000_0001);
        let (r, e) = if pair % 2 == 0 {
            let r = block(raw, args, seed, &mut pairs.raw)?;
            (r, block(engine, args, seed, &mut pairs.engine)?)
        } else {
            let e = block(engine, args, seed, &mut pairs.engine)?;
            (block(raw, args, seed, &mut pairs.raw)?, e)
        };
        pairs.raw_rates.push(r);
        pairs.engine_rates.push(e);
        pairs.ratios.push(e / r);
    }
    Ok(pairs)
}

impl Pairs {
    /// The figures: quantiles of the ratios, mean rates, latency percentiles.
    fn report(mut self, workload: WorkloadKind) -> OverheadReport {
        let ratios = &mut self.ratios;
        ratios.sort_by(|a, b| a.total_cmp(b));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let latency = |r: &Recorder| {
            [
                percentiles_us(&r.totals.latency[Class::Write as usize]),
                percentiles_us(&r.totals.latency[Class::Read as usize]),
            ]
        };
        OverheadReport {
            workload: workload.name(),
            pairs: ratios.len(),
            ratio_median: quantile(ratios, 0.5),
            ratio_p25: quantile(ratios, 0.25),
            ratio_p75: quantile(ratios, 0.75),
            ratio_min: ratios[0],
            ratio_max: ratios[ratios.len() - 1],
            raw_ops_per_s: mean(&self.raw_rates),
            engine_ops_per_s: mean(&self.engine_rates),
            raw_latency_us: latency(&self.raw),
            engine_latency_us: latency(&self.engine),
        }
    }
}

/// The summary lines on stdout.
fn print_report(report: &OverheadReport, args: &OverheadArgs) {
    println!(
        "overhead ({}, {} threads, {} pairs of {} ops): throughput ratio lsmedic/raw = {:.3} (quartiles {:.3}–{:.3}, range {:.3}–{:.3}); raw {:.0} ops/s, lsmedic {:.0} ops/s",
        report.workload,
        args.threads,
        report.pairs,
        args.block_ops,
        report.ratio_median,
        report.ratio_p25,
        report.ratio_p75,
        report.ratio_min,
        report.ratio_max,
        report.raw_ops_per_s,
        report.engine_ops_per_s
    );
    for (side, lat) in [
        ("raw", report.raw_latency_us),
        ("lsmedic", report.engine_latency_us),
    ] {
        let show = |p: Option<[f64; 3]>| {
            p.map_or("-".to_owned(), |p| {
                format!("{:.1}/{:.1}/{:.1}", p[0], p[1], p[2])
            })
        };
        println!(
            "  {side:<8} write p50/p99/p99.9 µs {:<22} read {}",
            show(lat[0]),
            show(lat[1])
        );
    }
}
