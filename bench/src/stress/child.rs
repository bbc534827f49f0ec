//! The child process: opens the engine with the healer attached, writes with synced writes
//! from several threads, changes options, flushes, compacts, checkpoints, rebuilds and
//! reopens the database online (`Engine::recover`) at random, and announces everything on
//! its stdout ([`super::protocol`]) until the parent kills it.
//!
//! Each writer thread owns a contiguous slice of every column family's key space, so writes
//! to one key never race and the parent's model knows their order; writes of different
//! threads, rebuilds, flushes and compactions do race. A writer whose write fails stops
//! writing (its failed write stays uncertain in the model, and nothing later overwrites
//! it). The child never checks values itself: the parent checks after the kill.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lsmedic::engine::{Engine, IterOptions, WriteOpts};
use lsmedic::healer::{Healer, HealerConfig, Mode};
use lsmedic::telemetry::{Control, Tunable};

use super::announce::Announcing;
use super::config::engine_config;
use super::keyspace::{self, CfIndex, COLUMN_FAMILIES};
use super::protocol::{Actor, Mutation, NoteKind, Record, RecordSink};
use super::Error;
use crate::keygen::Rng;

/// Arguments of the hidden `child` subcommand (set by the parent).
#[derive(clap::Args, Clone, Debug)]
pub struct ChildArgs {
    /// Database directory.
    #[arg(long)]
    pub db: PathBuf,
    /// Seed of this child's choices.
    #[arg(long)]
    pub seed: u64,
    /// First version this child writes (versions are unique over a run).
    #[arg(long)]
    pub first_version: u64,
    /// Keys per column family.
    #[arg(long)]
    pub keys: u32,
    /// Writer threads.
    #[arg(long)]
    pub writers: u32,
    /// Periodic deep checkpoints on.
    #[arg(long)]
    pub checkpoints: bool,
    /// Do not attach the healer.
    #[arg(long)]
    pub no_healer: bool,
    /// Exit by itself after this many seconds (a parent that died cannot kill it).
    #[arg(long, default_value_t = 60)]
    pub max_lifetime_secs: u64,
}

impl ChildArgs {
    /// The command line the parent passes (after the subcommand name).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--db".to_owned(),
            self.db.display().to_string(),
            "--seed".to_owned(),
            self.seed.to_string(),
            "--first-version".to_owned(),
            self.first_version.to_string(),
            "--keys".to_owned(),
            self.keys.to_string(),
            "--writers".to_owned(),
            self.writers.to_string(),
            "--max-lifetime-secs".to_owned(),
            self.max_lifetime_secs.to_string(),
        ];
        if self.checkpoints {
            args.push("--checkpoints".to_owned());
        }
        if self.no_healer {
            args.push("--no-healer".to_owned());
        }
        args
    }
}

/// What every thread of the child shares.
struct Shared {
    engine: Arc<Engine>,
    control: Arc<Announcing>,
    sink: Arc<RecordSink>,
    stop: AtomicBool,
    next_version: AtomicU64,
    next_op: AtomicU64,
    checkpoints: bool,
}

impl Shared {
    fn stopping(&self) -> bool {
        // Relaxed: a stop request orders nothing else.
        self.stop.load(Ordering::Relaxed) || self.sink.is_closed()
    }

    /// Notes a failed read: a corruption, or another failure.
    fn note_read_failure(&self, err: &lsmedic::Error) {
        let kind = if err.is_corruption() {
            NoteKind::ReadCorruption
        } else {
            NoteKind::ReadFailed
        };
        self.note(kind, err.to_string());
    }

    fn note(&self, kind: NoteKind, detail: impl Into<String>) {
        let _ = self.sink.send(&Record::Note {
            kind,
            detail: detail.into(),
        });
    }
}

/// Runs the child until it is killed, its lifetime ends or the parent goes away.
pub fn run_child(args: &ChildArgs) -> Result<(), Error> {
    let sink = Arc::new(RecordSink::stdout());
    let fatal_sink = Arc::clone(&sink);
    let fatal = move |error: Error| {
        let _ = fatal_sink.send(&Record::Fatal {
            error: error.to_string(),
        });
        error
    };
    let engine = Engine::open(&args.db, engine_config(args.checkpoints))
        .map_err(|e| fatal(Error::engine("open", e)))?;
    let engine = Arc::new(engine);
    let control = Arc::new(Announcing::new(Arc::clone(&engine), Arc::clone(&sink)));
    let mut healer = if args.no_healer {
        None
    } else {
        let config = HealerConfig {
            mode: Mode::Active,
            allow_destructive: true,
            ..HealerConfig::default()
        };
        Some(Healer::start(Arc::clone(&control), config).map_err(|e| fatal(e.into()))?)
    };
    let physical = COLUMN_FAMILIES
        .iter()
        .map(|cf| engine.physical_cf(cf))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fatal(Error::engine("physical column families", e)))?;
    sink.send(&Record::Opened { physical })?;

    let shared = Arc::new(Shared {
        engine,
        control,
        sink,
        stop: AtomicBool::new(false),
        next_version: AtomicU64::new(args.first_version),
        next_op: AtomicU64::new(0),
        checkpoints: args.checkpoints,
    });
    let mut seeds = Rng::new(args.seed);
    let writers = args.writers.max(1);
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    for index in 0..writers {
        let slice = (index * args.keys / writers)..((index + 1) * args.keys / writers);
        let writer = Writer {
            shared: Arc::clone(&shared),
            rng: Rng::new(seeds.next_u64()),
            slice,
        };
        let thread = std::thread::Builder::new()
            .name(format!("stress-writer-{index}"))
            .spawn(move || writer.run())
            .map_err(|source| {
                fatal(Error::Child {
                    action: "spawn a writer thread",
                    source,
                })
            })?;
        threads.push(thread);
    }
    let maintenance = Maintenance {
        shared: Arc::clone(&shared),
        rng: Rng::new(seeds.next_u64()),
        keys: args.keys,
    };
    threads.push(
        std::thread::Builder::new()
            .name("stress-maintenance".into())
            .spawn(move || maintenance.run())
            .map_err(|source| {
                fatal(Error::Child {
                    action: "spawn the maintenance thread",
                    source,
                })
            })?,
    );

    let deadline = Instant::now() + Duration::from_secs(args.max_lifetime_secs);
    while !shared.stopping() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    shared.stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    if let Some(healer) = &mut healer {
        healer.stop()?;
    }
    drop(healer);
    Ok(())
}

/// A writer thread: random synced writes to its own slice of every column family.
struct Writer {
    shared: Arc<Shared>,
    rng: Rng,
    slice: std::ops::Range<u32>,
}

impl Writer {
    fn run(mut self) {
        if self.slice.is_empty() {
            return;
        }
        while !self.shared.stopping() {
            let roll = self.rng.below(100);
            if roll < 12 {
                self.read();
                continue;
            }
            let (mutations, batch) = match roll {
                12..=49 => (vec![self.put()], false),
                50..=61 => (vec![self.delete()], false),
                62..=67 => (vec![self.delete_range()], false),
                _ => (self.batch(), true),
            };
            let op = self.shared.next_op.fetch_add(1, Ordering::Relaxed);
            let announced = Record::Pending {
                op,
                mutations: mutations.clone(),
            };
            if self.shared.sink.send(&announced).is_err() {
                return;
            }
            let record = match self.apply_through_reopens(&mutations, batch) {
                Ok(()) => Record::Ack { op },
                Err(err) => Record::Failed {
                    op,
                    error: err.to_string(),
                },
            };
            let failed = matches!(record, Record::Failed { .. });
            if self.shared.sink.send(&record).is_err() || failed {
                return;
            }
        }
    }

    fn cf(&mut self) -> CfIndex {
        self.rng.below(COLUMN_FAMILIES.len() as u64) as CfIndex
    }

    fn key(&mut self) -> u32 {
        self.slice.start + self.rng.below(u64::from(self.slice.len() as u32)) as u32
    }

    fn put(&mut self) -> Mutation {
        Mutation::Put {
            cf: self.cf(),
            key: self.key(),
            version: self.shared.next_version.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn delete(&mut self) -> Mutation {
        Mutation::Delete {
            cf: self.cf(),
            key: self.key(),
        }
    }

    fn delete_range(&mut self) -> Mutation {
        let from = self.key();
        let room = u64::from(self.slice.end - from).min(40);
        Mutation::DeleteRange {
            cf: self.cf(),
            from,
            to: from + 1 + self.rng.below(room) as u32,
        }
    }

    fn batch(&mut self) -> Vec<Mutation> {
        let len = self.rng.between(1, 12);
        (0..len)
            .map(|_| match self.rng.below(10) {
                0..=5 => self.put(),
                6..=8 => self.delete(),
                _ => self.delete_range(),
            })
            .collect()
    }

    /// Applies the mutations, retrying while the engine refuses them because it is reopening
    /// its database (`Error::Recovering`): the writes are idempotent, and the thread owns
    /// their keys, so a retry acknowledges exactly what one write would.
    fn apply_through_reopens(
        &self,
        mutations: &[Mutation],
        batch: bool,
    ) -> Result<(), lsmedic::Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.apply(mutations, batch) {
                Err(lsmedic::Error::Recovering { .. })
                    if Instant::now() < deadline && !self.shared.stopping() =>
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                outcome => return outcome,
            }
        }
    }

    fn apply(&self, mutations: &[Mutation], batch: bool) -> Result<(), lsmedic::Error> {
        let engine = &self.shared.engine;
        let opts = WriteOpts::synced();
        let name = |cf: CfIndex| COLUMN_FAMILIES[usize::from(cf)];
        if let ([single], false) = (mutations, batch) {
            return match *single {
                Mutation::Put { cf, key, version } => engine.put_opt(
                    name(cf),
                    &keyspace::key(key),
                    &keyspace::value(cf, key, version),
                    opts,
                ),
                Mutation::Delete { cf, key } => {
                    engine.delete_opt(name(cf), &keyspace::key(key), opts)
                }
                Mutation::DeleteRange { cf, from, to } => engine.delete_range_opt(
                    name(cf),
                    &keyspace::key(from),
                    &keyspace::key(to),
                    opts,
                ),
            };
        }
        let mut writes = engine.batch();
        for mutation in mutations {
            match *mutation {
                Mutation::Put { cf, key, version } => writes.put(
                    name(cf),
                    &keyspace::key(key),
                    &keyspace::value(cf, key, version),
                )?,
                Mutation::Delete { cf, key } => writes.delete(name(cf), &keyspace::key(key))?,
                Mutation::DeleteRange { cf, from, to } => {
                    writes.delete_range(name(cf), &keyspace::key(from), &keyspace::key(to))?
                }
            }
        }
        engine.write_opt(writes, opts)
    }

    /// A point read or a short scan of its own slice: reads that meet damage are what the
    /// healer's corruption rule reacts to.
    fn read(&mut self) {
        let cf = COLUMN_FAMILIES[usize::from(self.cf())];
        let from = self.key();
        let outcome = if self.rng.below(2) == 0 {
            self.shared.engine.get(cf, &keyspace::key(from)).map(|_| ())
        } else {
            let to = (from + 50).min(self.slice.end);
            self.shared
                .engine
                .iter(
                    cf,
                    IterOptions::range(keyspace::key(from), keyspace::key(to)),
                )
                .and_then(|mut iter| iter.try_for_each(|item| item.map(|_| ())))
        };
        if let Err(err) = outcome {
            self.shared.note_read_failure(&err);
        }
    }
}

/// The maintenance thread: option changes, flushes, compactions, checkpoints and rebuilds,
/// all through the engine's `Control` surface (the healer's own).
struct Maintenance {
    shared: Arc<Shared>,
    rng: Rng,
    keys: u32,
}

impl Maintenance {
    fn run(mut self) {
        while !self.shared.stopping() {
            std::thread::sleep(Duration::from_millis(self.rng.between(5, 120)));
            let any_cf = COLUMN_FAMILIES[self.rng.below(COLUMN_FAMILIES.len() as u64) as usize];
            let named_cf =
                COLUMN_FAMILIES[1 + self.rng.below(COLUMN_FAMILIES.len() as u64 - 1) as usize];
            let control = &*self.shared.control;
            match self.rng.below(100) {
                0..=14 => {
                    // Announced and reported by the wrapper, failure included.
                    let _ = self.shared.control.rebuild(named_cf, Actor::Child);
                }
                15..=44 => match control.flush(any_cf) {
                    Ok(()) => self.shared.note(NoteKind::Flushed, any_cf),
                    Err(err) => self
                        .shared
                        .note(NoteKind::MaintenanceFailed, err.to_string()),
                },
                45..=54 => {
                    let from = self.rng.below(u64::from(self.keys)) as u32;
                    let to = (from + 1 + self.rng.below(500) as u32).min(self.keys);
                    let (start, end) = (keyspace::key(from), keyspace::key(to));
                    let range = (self.rng.below(2) == 0).then_some((&start[..], &end[..]));
                    match control.compact_range(any_cf, range) {
                        Ok(()) => self.shared.note(NoteKind::Compacted, any_cf),
                        Err(err) => self
                            .shared
                            .note(NoteKind::MaintenanceFailed, err.to_string()),
                    }
                }
                55..=84 => {
                    let changes = random_option_change(&mut self.rng);
                    let detail = format!("{any_cf}: {changes:?}");
                    match control.set_cf(any_cf, &changes) {
                        Ok(()) => self.shared.note(NoteKind::OptionsSet, detail),
                        Err(err) => self
                            .shared
                            .note(NoteKind::OptionsRefused, format!("{detail}: {err}")),
                    }
                }
                95..=96 => {
                    // An online reopen under load: writers retry what it refuses.
                    self.shared.note(NoteKind::ReopenStarted, "");
                    match self.shared.engine.recover() {
                        Ok(()) => self.shared.note(NoteKind::Reopened, ""),
                        Err(err) => self.shared.note(NoteKind::ReopenFailed, err.to_string()),
                    }
                }
                85..=94 if self.shared.checkpoints => match self.shared.engine.checkpoint_now() {
                    Ok(path) => self
                        .shared
                        .note(NoteKind::CheckpointTaken, path.display().to_string()),
                    Err(err) => self
                        .shared
                        .note(NoteKind::CheckpointFailed, err.to_string()),
                },
                _ => self.sweep(named_cf),
            }
        }
    }

    /// Reads a whole column family (a scan), so damage anywhere in it is met.
    fn sweep(&self, cf: &str) {
        let outcome = self
            .shared
            .engine
            .iter(cf, IterOptions::full())
            .and_then(|mut iter| iter.try_for_each(|item| item.map(|_| ())));
        if let Err(err) = outcome {
            self.shared.note_read_failure(&err);
        }
    }
}

/// One random, valid change of column-family options (RocksDB's names, sane bounds; the
/// level-0 triggers move together so that compaction ≤ slowdown ≤ stop holds).
fn random_option_change(rng: &mut Rng) -> Vec<(Tunable, u64)> {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match rng.below(6) {
        0 => vec![(Tunable::WriteBufferSize, rng.between(64 * KIB, 4 * MIB))],
        1 => {
            let compaction = rng.between(1, 8);
            let slowdown = compaction + rng.between(0, 20);
            let stop = slowdown + rng.between(0, 20);
            vec![
                (Tunable::Level0FileNumCompactionTrigger, compaction),
                (Tunable::Level0SlowdownWritesTrigger, slowdown),
                (Tunable::Level0StopWritesTrigger, stop),
            ]
        }
        2 => vec![(
            Tunable::DisableAutoCompactions,
            u64::from(rng.below(4) == 0),
        )],
        3 => vec![(Tunable::TargetFileSizeBase, rng.between(64 * KIB, 8 * MIB))],
        4 => vec![(
            Tunable::MaxBytesForLevelBase,
            rng.between(256 * KIB, 64 * MIB),
        )],
        _ => vec![(Tunable::MaxWriteBufferNumber, rng.between(2, 6))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmedic::telemetry::control::validate_cf_changes;
    use lsmedic::telemetry::default_cf_tunables;

    #[test]
    fn random_option_changes_pass_the_engine_validation() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let changes = random_option_change(&mut rng);
            validate_cf_changes("users", &default_cf_tunables(), &changes)
                .unwrap_or_else(|e| panic!("{changes:?}: {e}"));
        }
    }

    #[test]
    fn child_arguments_round_trip_through_the_command_line() {
        use clap::Parser;
        #[derive(Parser)]
        struct Probe {
            #[command(flatten)]
            args: ChildArgs,
        }
        let args = ChildArgs {
            db: PathBuf::from("/tmp/x y/db"),
            seed: 3,
            first_version: 1 << 32,
            keys: 100,
            writers: 2,
            checkpoints: true,
            no_healer: false,
            max_lifetime_secs: 9,
        };
        let parsed =
            Probe::try_parse_from(std::iter::once("child".to_owned()).chain(args.to_args()))
                .unwrap()
                .args;
        assert_eq!(parsed.db, args.db);
        assert_eq!(parsed.first_version, args.first_version);
        assert!(parsed.checkpoints && !parsed.no_healer);
    }
}
