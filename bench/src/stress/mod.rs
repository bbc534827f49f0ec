//! `lsmedic-stress`: a randomized crash-and-corruption stress test of the engine, with
//! expected-state checking after every crash in the manner of RocksDB's `db_stress`.
//!
//! A parent process ([`parent`]) owns the expected state ([`model`]) and runs child
//! processes ([`child`]) of the same binary one after another. Each child opens the engine
//! with the healer attached (rules, destructive actions allowed) and writes with synced
//! writes from several threads — puts, deletes, range deletes and batches across column
//! families — while it changes options, flushes, compacts, takes checkpoints and rebuilds
//! column families at random; it announces every write before issuing it and confirms it
//! after ([`protocol`]). The parent kills it with `SIGKILL` at a random moment (often just
//! after a rebuild started), reads the pipe to its end, reopens the database, heals what reads
//! as corrupt with `rebuild_cf` and checks every key of every column family ([`verify`]).
//! Between children it damages live SST files ([`damage`]) of the closed database.
//!
//! A key must read its committed value, or — if a write to it was in flight — the old or
//! the new value, all keys of one write agreeing; inside a range a rebuild reported lost it
//! may read absent (counted as lost), never wrong. The stress test never weakens a check to
//! pass: a violation stops the run with the seed, the iteration and the database kept.
//!
//! Layout, in data-flow order: [`keyspace`] (keys, self-describing values) → [`protocol`]
//! (records on the pipe) → [`child`] (with [`announce`]: rebuilds reported whoever starts
//! them) → [`model`] → [`verify`] → [`parent`] (with [`damage`] and [`config`]) →
//! [`summary`].

pub mod announce;
pub mod child;
pub mod config;
pub mod damage;
mod error;
pub mod keyspace;
pub mod model;
pub mod parent;
pub mod protocol;
pub mod summary;
pub mod verify;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use error::Error;
pub use parent::{Limit, Outcome};
pub use summary::Summary;

use crate::keygen::{mix64, Rng};

/// The `lsmedic-stress` command line.
#[derive(Parser, Debug)]
#[command(
    name = "lsmedic-stress",
    version,
    about = "Randomized crash-and-corruption stress test of the lsmedic engine with \
             expected-state checking",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Internal: the child process the parent runs and kills.
    #[command(subcommand)]
    pub command: Option<Hidden>,
    /// The stress run.
    #[command(flatten)]
    pub run: StressArgs,
}

/// Subcommands the parent uses; not for people.
#[derive(Subcommand, Debug)]
pub enum Hidden {
    /// One child: open the engine and write until killed.
    #[command(hide = true)]
    Child(child::ChildArgs),
}

/// Whether deep checkpoints (which rebuilds refill lost ranges from) are on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckpointMode {
    /// Never.
    Off,
    /// Always.
    On,
    /// Chosen at random for each iteration.
    Mixed,
}

impl CheckpointMode {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CheckpointMode::Off => "off",
            CheckpointMode::On => "on",
            CheckpointMode::Mixed => "mixed",
        }
    }
}

/// Options of a stress run.
#[derive(Args, Clone, Debug)]
pub struct StressArgs {
    /// Seed of the parent's choices (printed; default: from the clock). The children's
    /// timing still varies from run to run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop starting iterations after this long: `90s`, `30m`, `1h`, or seconds.
    #[arg(long, conflicts_with = "iterations")]
    pub duration: Option<String>,
    /// Stop after this many iterations (default without --duration: 20).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Directory for the database, the run log and the last child's stderr (kept); default a
    /// temporary directory, kept only after a violation.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Deep checkpoints: off, on, or chosen per iteration.
    #[arg(long, value_enum, default_value_t = CheckpointMode::Mixed)]
    pub checkpoints: CheckpointMode,
    /// Keys per column family.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=i64::from(keyspace::MAX_KEYS)))]
    pub keys: u32,
    /// Writer threads per child (each owns a slice of the key space).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub writers: u32,
    /// Probability of damaging an SST file between two children.
    #[arg(long, default_value_t = 0.35)]
    pub corrupt_probability: f64,
    /// Probability that a child is killed just after a rebuild starts (else at a random time).
    #[arg(long, default_value_t = 0.4)]
    pub rebuild_kill_probability: f64,
    /// Earliest kill after the child's start, in ms.
    #[arg(long, default_value_t = 200)]
    pub kill_min_ms: u64,
    /// Latest kill after the child's start, in ms.
    #[arg(long, default_value_t = 3000)]
    pub kill_max_ms: u64,
    /// Children run without the healer (only their own control actions).
    #[arg(long)]
    pub no_healer: bool,
    /// Print the summary as one JSON line too (last line of the output).
    #[arg(long)]
    pub json: bool,
    /// No line per iteration on stdout (the run log still has them).
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `90s`, `30m`, `1h`, `500ms` or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    let invalid = |reason: &str| Error::Argument {
        name: "duration",
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| invalid("expected a number with an optional unit (ms, s, m, h)"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(invalid("unknown unit (ms, s, m, h)")),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(invalid("must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl StressArgs {
    /// Checks the values clap cannot; returns the run's limit.
    pub fn limit(&self) -> Result<Limit, Error> {
        for (name, value) in [
            ("corrupt-probability", self.corrupt_probability),
            ("rebuild-kill-probability", self.rebuild_kill_probability),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::Argument {
                    name,
                    value: value.to_string(),
                    reason: "must be a probability in 0..=1".to_owned(),
                });
            }
        }
        if self.kill_max_ms < self.kill_min_ms {
            return Err(Error::Argument {
                name: "kill-max-ms",
                value: self.kill_max_ms.to_string(),
                reason: format!("must be at least --kill-min-ms ({})", self.kill_min_ms),
            });
        }
        Ok(match (&self.duration, self.iterations) {
            (Some(text), _) => Limit::Duration(parse_duration(text)?),
            (None, Some(count)) => Limit::Iterations(count),
            (None, None) => Limit::Iterations(20),
        })
    }
}

/// A seed from the clock and the process id, for runs without `--seed`.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    let mut rng = Rng::new(mix64(nanos ^ u64::from(std::process::id())));
    // Shown to people and passed back on command lines: keep it short.
    rng.next_u64() % 1_000_000_000
}

/// Runs the command line: the stress run (exit 0 passed, 1 violations, 2 could not run) or
/// the hidden child.
pub fn main(cli: Cli) -> ExitCode {
    if let Some(Hidden::Child(args)) = cli.command {
        return match child::run_child(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("lsmedic-stress child: {err}");
                ExitCode::from(2)
            }
        };
    }
    let args = cli.run;
    let limit = match args.limit() {
        Ok(limit) => limit,
        Err(err) => {
            eprintln!("lsmedic-stress: {err}");
            return ExitCode::from(2);
        }
    };
    let seed = args.seed.unwrap_or_else(fresh_seed);
    let outcome = match parent::run(&args, seed, limit) {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("lsmedic-stress (seed {seed}): {err}");
            return ExitCode::from(2);
        }
    };
    print!("{}", outcome.summary.to_table());
    if outcome.violations.is_empty() {
        if outcome.kept {
            println!("database kept in {}", outcome.dir.display());
        }
    } else {
        let iteration = outcome.summary.failed_iteration.unwrap_or_default();
        println!(
            "FAILED: {} violations at iteration {iteration} (seed {seed}); database, run log \
             (stress.log) and the last child's stderr kept in {}",
            outcome.violations.len(),
            outcome.dir.display()
        );
        println!(
            "replay the parent's choices: lsmedic-stress --seed {seed} --iterations {} \
             --checkpoints {}",
            iteration + 1,
            args.checkpoints.name()
        );
    }
    if args.json {
        println!("{}", outcome.summary.to_json_line());
    }
    if outcome.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("12").unwrap(), Duration::from_secs(12));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn the_command_line_parses_a_run_and_a_child() {
        let cli =
            Cli::try_parse_from(["lsmedic-stress", "--seed", "5", "--duration", "90s"]).unwrap();
        assert!(cli.command.is_none());
        assert!(matches!(cli.run.limit().unwrap(), Limit::Duration(d) if d.as_secs() == 90));
        assert!(
            Cli::try_parse_from(["lsmedic-stress", "--duration", "1m", "--iterations", "3"])
                .is_err()
        );
        let child = Cli::try_parse_from([
            "lsmedic-stress",
            "child",
            "--db",
            "/tmp/db",
            "--seed",
            "1",
            "--first-version",
            "2",
            "--keys",
            "10",
            "--writers",
            "1",
        ])
        .unwrap();
        assert!(matches!(child.command, Some(Hidden::Child(_))));
        let bad = Cli::try_parse_from(["lsmedic-stress", "--corrupt-probability", "2"]).unwrap();
        assert!(bad.run.limit().is_err());
    }
}
