//! The `lsmedic-bench` command line: `run`, `compare`, `record`, `overhead`, `check` and
//! `list` over the [`lsmedic_bench`] library. See the README's `## lsmedic-bench` section.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use lsmedic_bench::cache::RunCache;
use lsmedic_bench::keygen::{self, Distribution, ValueSize};
use lsmedic_bench::report::{self, Report, Skipped};
use lsmedic_bench::runner::{self, RunOptions};
use lsmedic_bench::scenario::{self, Phase, Scenario, Workload};
use lsmedic_bench::subject::{self, HealerMode};
use lsmedic_bench::workload::WorkloadKind;
use lsmedic_bench::{compare, html, overhead, record};

#[derive(Parser)]
#[command(
    name = "lsmedic-bench",
    version,
    about = "Workloads, fault scenarios and healer comparisons for lsmedic"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario file, or one named workload, with one healer mode.
    Run(RunArgs),
    /// Run scenarios in every healer mode, repeated over the same seeds for every mode (fresh
    /// database each run), and compare: medians, 95 % intervals, paired score differences.
    Compare(CompareArgs),
    /// Run scenarios and write labelled traces (every tick) for training.
    Record(RecordArgs),
    /// lsmedic engine vs raw RocksDB, identical options and workload, interleaved runs.
    Overhead(overhead::OverheadArgs),
    /// Parse and validate scenario files.
    Check {
        /// Scenario files (or names under scenarios/).
        #[arg(required = true)]
        scenarios: Vec<String>,
    },
    /// List workloads, distributions, fault kinds and shipped scenarios.
    List,
}

#[derive(Args, Clone)]
struct Common {
    /// Multiply every phase duration and fault time by this (e.g. 0.1 for a quick look).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seed of every generator (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Directory under which fresh databases are created (default: the system temp dir).
    #[arg(long)]
    db_dir: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Write report.json and report.html into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the final verification pass.
    #[arg(long)]
    no_verify: bool,
    /// Never show a progress bar.
    #[arg(long)]
    quiet: bool,
    /// Objective weights of the healer `LATENCY,THROUGHPUT,RESOURCES` (normalised; default
    /// equal): what the learned policy and the rules' scores trade off.
    #[arg(long, value_delimiter = ',')]
    weights: Option<Vec<f64>>,
}

#[derive(Args)]
struct RunArgs {
    /// Scenario file (or name under scenarios/); omit to run --workload.
    scenario: Option<String>,
    /// Healer beside the engine.
    #[arg(long, value_enum, default_value_t = HealerMode::Off)]
    healer: HealerMode,
    /// A single workload instead of a scenario.
    #[arg(long, value_enum, conflicts_with = "scenario")]
    workload: Option<WorkloadKind>,
    /// Column family of the workload.
    #[arg(long, default_value = "default")]
    cf: String,
    /// Keys 0..N.
    #[arg(long, default_value_t = 100_000)]
    key_space: u64,
    /// Value size: N or MIN-MAX bytes.
    #[arg(long, default_value = "100")]
    value_size: String,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Target ops/s over all threads (open loop); omit for as fast as possible.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to run.
    #[arg(long)]
    duration: Option<f64>,
    /// Ops to run (all threads together).
    #[arg(long)]
    ops: Option<u64>,
    /// Key distribution (default: the workload's).
    #[arg(long, value_enum)]
    distribution: Option<DistributionArg>,
    /// Load the key space with fillseq first (a warm-up phase).
    #[arg(long)]
    load: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Copy, Clone, clap::ValueEnum)]
enum DistributionArg {
    Uniform,
    Zipfian,
    Latest,
}

#[derive(Args)]
struct CompareArgs {
    /// Scenario files (or names under scenarios/).
    #[arg(required = true)]
    scenarios: Vec<String>,
    /// Healer modes to run (default: every available one).
    #[arg(long, value_enum, value_delimiter = ',')]
    healer: Vec<HealerMode>,
    /// Runs per mode and scenario, each with its own seed derived from the scenario's (the
    /// same seeds for every mode; default: the scenario's `repeat`, else 1).
    #[arg(long)]
    repeat: Option<u32>,
    /// Keep every finished run in this directory, keyed by the scenario file's content, the
    /// seed, the mode, the time scale, the weights and the models; a run already there is
    /// read instead of run again (so an evaluation can resume or be assembled in parts).
    /// It does not know about code changes: use a fresh directory after changing the code.
    #[arg(long)]
    cache: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct RecordArgs {
    /// Scenario files (or names under scenarios/).
    #[arg(required = true)]
    scenarios: Vec<String>,
    /// Directory for the traces.
    #[arg(long, required = true)]
    out: PathBuf,
    /// Healer modes to record.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "off")]
    healer: Vec<HealerMode>,
    /// Multiply every phase duration and fault time by this.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seed of every generator (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Directory under which fresh databases are created.
    #[arg(long)]
    db_dir: Option<PathBuf>,
    /// With `--healer rules`: probability of an exploratory catalog action per decision tick.
    #[arg(long, default_value_t = 0.0)]
    explore: f64,
    /// Objective weights `LATENCY,THROUGHPUT,RESOURCES` (normalised; default equal).
    #[arg(long, value_delimiter = ',')]
    weights: Option<Vec<f64>>,
    /// Workload task id written into the trace header (default: the scenario name).
    #[arg(long)]
    task: Option<String>,
    /// Skip the final verification pass.
    #[arg(long)]
    no_verify: bool,
}

/// The shipped scenarios: `scenarios/` at the root of the source tree, beside this package.
fn shipped_scenarios_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    dir.canonicalize().unwrap_or(dir)
}

/// Resolves a scenario argument: a path, or a name under `scenarios/` (here or in the
/// source tree).
fn resolve(arg: &str) -> PathBuf {
    let path = PathBuf::from(arg);
    if path.exists() {
        return path;
    }
    let file = if arg.ends_with(".toml") {
        arg.to_owned()
    } else {
        format!("{arg}.toml")
    };
    for base in [PathBuf::from("scenarios"), shipped_scenarios_dir()] {
        let candidate = base.join(&file);
        if candidate.exists() {
            return candidate;
        }
    }
    path
}

fn load_all(args: &[String]) -> Result<Vec<Scenario>, String> {
    args.iter()
        .map(|arg| Scenario::load(&resolve(arg)).map_err(|e| e.to_string()))
        .collect()
}

fn parse_size(text: &str) -> Result<ValueSize, String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("bad value size {text:?}: expected N or MIN-MAX"))
    };
    let size = match text.split_once('-') {
        Some((a, b)) => ValueSize {
            min: parse(a)?,
            max: parse(b)?,
        },
        None => ValueSize::fixed(parse(text)?),
    };
    if size.min == 0 || size.min > size.max || size.max > scenario::MAX_VALUE_BYTES {
        return Err(format!("bad value size {text:?}"));
    }
    Ok(size)
}

/// The scenario of `run --workload`.
fn single_workload(args: &RunArgs, kind: WorkloadKind) -> Result<Scenario, String> {
    let value_size = parse_size(&args.value_size)?;
    if args.duration.is_none() && args.ops.is_none() && kind != WorkloadKind::Fillseq {
        return Err("give --duration or --ops".to_owned());
    }
    if !(1..=scenario::MAX_THREADS).contains(&args.threads) {
        return Err(format!(
            "--threads must be in 1..={}",
            scenario::MAX_THREADS
        ));
    }
    let mut engine = lsmedic::engine::EngineConfig::default();
    if args.cf != lsmedic::engine::DEFAULT_CF {
        engine
            .column_families
            .push(lsmedic::engine::ColumnFamilyConfig {
                name: args.cf.clone(),
                options: lsmedic::engine::CfOptions::default(),
            });
    }
    let base = Workload {
        kind,
        cf: args.cf.clone(),
        key_space: args.key_space,
        key_range: (0, args.key_space),
        value_size,
        threads: args.threads,
        rate: args.rate,
        ops: args
            .ops
            .or((kind == WorkloadKind::Fillseq && args.duration.is_none())
                .then_some(args.key_space)),
        distribution: match args.distribution {
            Some(DistributionArg::Uniform) => Distribution::Uniform,
            Some(DistributionArg::Zipfian) => Distribution::Zipfian,
            Some(DistributionArg::Latest) => Distribution::Latest,
            None => kind.default_distribution(),
        },
        scan_length: kind.default_scan_length(),
    };
    let mut phases = Vec::new();
    if args.load {
        phases.push(Phase {
            name: "load".into(),
            duration_s: None,
            warmup: true,
            workloads: vec![Workload {
                kind: WorkloadKind::Fillseq,
                threads: 1,
                rate: None,
                ops: Some(args.key_space),
                ..base.clone()
            }],
            faults: Vec::new(),
        });
    }
    phases.push(Phase {
        name: kind.name().into(),
        duration_s: args.duration,
        warmup: false,
        workloads: vec![base],
        faults: Vec::new(),
    });
    Ok(Scenario {
        name: kind.name().to_owned(),
        description: format!("{} on {:?}", kind.name(), args.cf),
        seed: args.common.seed.unwrap_or(42),
        repeat: 1,
        family: scenario::Family::Latent,
        engine,
        phases,
        sampling: scenario::Sampling::default(),
    })
}

/// `--weights LATENCY,THROUGHPUT,RESOURCES`, normalised; equal when absent.
fn parse_weights(weights: &Option<Vec<f64>>) -> Result<lsmedic::healer::Weights, String> {
    match weights {
        Some(w) if w.len() == 3 => {
            lsmedic::healer::Weights::new(w[0], w[1], w[2]).map_err(|e| e.to_string())
        }
        Some(w) => Err(format!(
            "--weights takes 3 numbers LATENCY,THROUGHPUT,RESOURCES, got {}",
            w.len()
        )),
        None => Ok(lsmedic::healer::Weights::default()),
    }
}

fn options(
    common: &Common,
    healer: HealerMode,
    keep_ticks: bool,
    weights: lsmedic::healer::Weights,
) -> RunOptions {
    RunOptions {
        healer,
        weights,
        time_scale: common.time_scale,
        seed: common.seed,
        db_parent: common.db_dir.clone(),
        progress: !common.quiet,
        keep_ticks,
        verify: !common.no_verify,
        drive: None,
    }
}

fn write_outputs(report: &Report, common: &Common) -> Result<(), String> {
    print!("{}", report::table(report));
    let mut json = common.json.clone();
    let mut html_path = common.html.clone();
    if let Some(dir) = &common.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        json.get_or_insert(dir.join("report.json"));
        html_path.get_or_insert(dir.join("report.html"));
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("JSON report: {}", path.display());
    }
    if let Some(path) = html_path {
        std::fs::write(&path, html::render(report))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("HTML report: {}", path.display());
    }
    Ok(())
}

fn check_scale(scale: f64) -> Result<(), String> {
    if scale.is_finite() && scale > 0.0 && scale <= 100.0 {
        Ok(())
    } else {
        Err(format!("--time-scale must be in (0, 100], got {scale}"))
    }
}

fn run_cmd(args: RunArgs) -> Result<(), String> {
    check_scale(args.common.time_scale)?;
    args.healer.availability()?;
    let scenario = match (&args.scenario, args.workload) {
        (Some(file), _) => Scenario::load(&resolve(file)).map_err(|e| e.to_string())?,
        (None, Some(kind)) => single_workload(&args, kind)?,
        (None, None) => return Err("give a scenario file or --workload".to_owned()),
    };
    let weights = parse_weights(&args.common.weights)?;
    let opts = options(&args.common, args.healer, false, weights);
    let seed = opts.seed.unwrap_or(scenario.seed);
    let entry = compare::run_repeats(&scenario, &[args.healer], &[seed], &opts, None)?;
    let mut report = Report::new(args.common.time_scale);
    report.push(entry);
    write_outputs(&report, &args.common)
}

fn compare_cmd(args: CompareArgs) -> Result<(), String> {
    check_scale(args.common.time_scale)?;
    let weights = parse_weights(&args.common.weights)?;
    let scenarios = load_all(&args.scenarios)?;
    let wanted: Vec<HealerMode> = if args.healer.is_empty() {
        HealerMode::ALL.to_vec()
    } else {
        args.healer.clone()
    };
    if !args.healer.is_empty() {
        for mode in &wanted {
            mode.availability()?;
        }
    }
    if args.repeat == Some(0) {
        return Err("--repeat must be at least 1".to_owned());
    }
    let mut available = Vec::new();
    let mut skipped = Vec::new();
    for &mode in &wanted {
        match mode.availability() {
            Ok(()) => available.push(mode),
            Err(reason) => skipped.push(Skipped {
                healer: mode.name(),
                reason,
            }),
        }
    }
    let cache = args.cache.as_deref().map(RunCache::open).transpose()?;
    let mut report = Report::new(args.common.time_scale);
    for (scenario, arg) in scenarios.iter().zip(&args.scenarios) {
        let repeats = args.repeat.unwrap_or(scenario.repeat);
        let seeds = compare::repeat_seeds(args.common.seed.unwrap_or(scenario.seed), repeats);
        let opts = options(&args.common, HealerMode::Off, false, weights);
        let source = match &cache {
            Some(_) => {
                let path = resolve(arg);
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
            None => String::new(),
        };
        let cached = cache.as_ref().map(|cache| compare::CachedRuns {
            cache,
            scenario_source: &source,
        });
        let mut entry = compare::run_repeats(scenario, &available, &seeds, &opts, cached.as_ref())?;
        entry.skipped = skipped.clone();
        report.push(entry);
    }
    write_outputs(&report, &args.common)
}

fn record_cmd(args: RecordArgs) -> Result<(), String> {
    check_scale(args.time_scale)?;
    let scenarios = load_all(&args.scenarios)?;
    for mode in &args.healer {
        mode.availability()?;
    }
    if !(0.0..=1.0).contains(&args.explore) {
        return Err(format!("--explore must be in [0, 1], got {}", args.explore));
    }
    if args.explore > 0.0 && args.healer.iter().any(|m| *m != HealerMode::Rules) {
        return Err("--explore needs --healer rules (and only rules)".to_owned());
    }
    let weights = parse_weights(&args.weights)?;
    for scenario in &scenarios {
        let seed = args.seed.unwrap_or(scenario.seed);
        let scenario = &scenario.instantiate(seed).map_err(|e| e.to_string())?;
        for &mode in &args.healer {
            let opts = RunOptions {
                healer: mode,
                weights,
                time_scale: args.time_scale,
                seed: Some(seed),
                db_parent: args.db_dir.clone(),
                progress: true,
                keep_ticks: true,
                verify: !args.no_verify,
                drive: Some(subject::Drive {
                    explore: args.explore,
                    weights,
                    seed,
                }),
            };
            let out = runner::run(scenario, &opts)?;
            let mut run = report::run_report(&out, args.time_scale);
            run.sampled = compare::sampled_map(scenario);
            let path =
                record::write_trace(&args.out, scenario, &opts, &out, &run, args.task.as_deref())?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            println!(
                "{}: {} ticks, {} faults, {} KiB",
                path.display(),
                out.monitor.records.len(),
                out.faults.len(),
                size / 1024
            );
        }
    }
    Ok(())
}

fn check_cmd(files: &[String]) -> Result<(), String> {
    let mut failed = 0;
    for arg in files {
        match Scenario::load(&resolve(arg)) {
            Ok(s) => {
                let faults: Vec<&str> = s
                    .phases
                    .iter()
                    .flat_map(|p| &p.faults)
                    .map(|f| f.kind.name())
                    .collect();
                let ranges: String = s
                    .sampling
                    .ranges()
                    .iter()
                    .map(|(path, min, max)| format!("; {path} in [{min}, {max}]"))
                    .collect();
                println!(
                    "ok  {:<28} {} phases, {:.0} s timed, faults: {}{ranges}",
                    s.name,
                    s.phases.len(),
                    s.planned_seconds(),
                    if faults.is_empty() {
                        "none".to_owned()
                    } else {
                        faults.join(", ")
                    }
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if failed > 0 {
        Err(format!(
            "{failed} of {} scenario files are invalid",
            files.len()
        ))
    } else {
        Ok(())
    }
}

fn list_cmd() {
    println!("workloads:");
    for kind in WorkloadKind::ALL {
        let mix: Vec<String> = kind
            .mix()
            .iter()
            .map(|(op, w)| format!("{:?} {:.0}%", op, w * 100.0))
            .collect();
        println!(
            "  {:<18} {} (default distribution {})",
            kind.name(),
            mix.join(", "),
            kind.default_distribution().name()
        );
    }
    println!(
        "distributions: uniform, zipfian (theta {}), latest",
        keygen::ZIPFIAN_THETA
    );
    println!("fault kinds: {}", scenario::FaultKind::NAMES.join(", "));
    let dir = shipped_scenarios_dir();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        println!(
            "shipped scenarios ({}): {}",
            dir.display(),
            names.join(", ")
        );
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_cmd(args),
        Command::Compare(args) => compare_cmd(args),
        Command::Record(args) => record_cmd(args),
        Command::Overhead(args) => overhead::run(args),
        Command::Check { scenarios } => check_cmd(&scenarios),
        Command::List => {
            list_cmd();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("lsmedic-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
