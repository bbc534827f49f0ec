//! The parent: runs children one after another, kills each with `SIGKILL`, checks the
//! database against the model after every kill, and damages SST files between children.
//!
//! One iteration: spawn a child (checkpoints on or off for this iteration); read its record
//! pipe into the model while it runs; kill it at a random time, or just after a rebuild
//! starts; read the pipe to its end; reopen and check ([`super::verify`]); with some
//! probability damage an SST file of the closed database for the next child to meet. The
//! run stops at the first iteration whose check finds a violation, keeping the database.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::child::ChildArgs;
use super::config::engine_config;
use super::damage::{self, Layout};
use super::keyspace::{self, COLUMN_FAMILIES};
use super::model::{Model, Violation, ViolationKind};
use super::protocol::{Actor, NoteKind, Record};
use super::summary::Summary;
use super::verify::{self, Verified};
use super::{CheckpointMode, Error, StressArgs};
use crate::keygen::Rng;

/// Bytes of the child's stderr quoted when it dies on its own.
const STDERR_TAIL_BYTES: usize = 2000;

/// How a stress run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Its figures.
    pub summary: Summary,
    /// What the failing check found (empty when the run passed).
    pub violations: Vec<Violation>,
    /// The directory holding the database, the run log and the last child's stderr.
    pub dir: PathBuf,
    /// Whether `dir` is kept (always with `--dir`; otherwise only after a violation).
    pub kept: bool,
}

/// When to kill a child.
#[derive(Copy, Clone, Debug)]
struct KillPlan {
    /// Kill at this time after the spawn at the latest.
    deadline: Duration,
    /// Kill this long after the first rebuild that starts after `not_before`.
    after_rebuild_start: Option<Duration>,
    not_before: Duration,
}

/// One child's run, as the parent saw it.
#[derive(Debug, Default)]
struct Session {
    /// Rebuilds started and not finished, per logical column family.
    in_flight: BTreeMap<String, u64>,
    /// An online reopen started and not finished.
    reopening: bool,
    fatal: Option<String>,
    violations: Vec<Violation>,
    log: Vec<String>,
    first_write_error: Option<String>,
}

/// The run log: the run directory's `stress.log`, and stdout unless quiet.
struct Log {
    file: std::fs::File,
    quiet: bool,
}

impl Log {
    fn line(&mut self, text: &str) {
        // The log is an aid; a full disk must not hide the run's verdict.
        let _ = writeln!(self.file, "{text}");
        if !self.quiet {
            println!("{text}");
        }
    }
}

struct Parent<'a> {
    args: &'a StressArgs,
    exe: PathBuf,
    db: PathBuf,
    stderr_path: PathBuf,
    rng: Rng,
    model: Model,
    layout: Layout,
    summary: Summary,
    log: Log,
}

/// Runs the stress test described by `args` (seed already chosen).
pub fn run(args: &StressArgs, seed: u64, limit: Limit) -> Result<Outcome, Error> {
    let (root, temp) = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("lsmedic-stress-")
                .tempdir()
                .map_err(|e| {
                    Error::io("create a temporary directory in", std::env::temp_dir(), e)
                })?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    let db = root.join("db");
    if db.exists() {
        return Err(Error::Argument {
            name: "dir",
            value: root.display().to_string(),
            reason: "already holds a stress database (db/); choose an empty directory".into(),
        });
    }
    let log_path = root.join("stress.log");
    let file = std::fs::File::create(&log_path).map_err(|e| Error::io("create", &log_path, e))?;
    let exe = std::env::current_exe().map_err(|source| Error::Child {
        action: "find this executable",
        source,
    })?;
    let mut parent = Parent {
        args,
        exe,
        db,
        stderr_path: root.join("child-stderr.log"),
        rng: Rng::new(seed),
        model: Model::new(&COLUMN_FAMILIES, args.keys),
        layout: Layout::default(),
        summary: Summary {
            seed,
            checkpoints: args.checkpoints.name().to_owned(),
            ..Summary::default()
        },
        log: Log {
            file,
            quiet: args.quiet,
        },
    };
    parent.log.line(&format!(
        "lsmedic-stress: seed {seed}, {limit}, checkpoints {}, {} keys x {} column families, \
         {} writers, healer {}, database {}",
        args.checkpoints.name(),
        args.keys,
        COLUMN_FAMILIES.len(),
        args.writers,
        if args.no_healer { "off" } else { "rules" },
        parent.db.display()
    ));
    let started = Instant::now();
    let mut violations = Vec::new();
    let mut iteration = 0;
    while !limit.reached(iteration, started.elapsed()) {
        violations = parent.iteration(iteration)?;
        iteration += 1;
        if !violations.is_empty() {
            parent.summary.failed_iteration = Some(iteration - 1);
            break;
        }
    }
    parent.summary.elapsed_secs = started.elapsed().as_secs_f64();
    parent.summary.violations = violations.len() as u64;
    let kept = !violations.is_empty() || temp.is_none();
    if let (Some(temp), true) = (temp, kept) {
        let _ = temp.keep();
    }
    Ok(Outcome {
        summary: parent.summary,
        violations,
        dir: root,
        kept,
    })
}

/// When a run stops starting iterations.
#[derive(Copy, Clone, Debug)]
pub enum Limit {
    /// After this long.
    Duration(Duration),
    /// After this many iterations.
    Iterations(u64),
}

impl Limit {
    fn reached(self, iterations: u64, elapsed: Duration) -> bool {
        match self {
            Limit::Duration(limit) => elapsed >= limit,
            Limit::Iterations(limit) => iterations >= limit,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Duration(duration) => write!(f, "{:.0} s", duration.as_secs_f64()),
            Limit::Iterations(count) => write!(f, "{count} iterations"),
        }
    }
}

impl Parent<'_> {
    fn iteration(&mut self, iteration: u64) -> Result<Vec<Violation>, Error> {
        let checkpoints = match self.args.checkpoints {
            CheckpointMode::Off => false,
            CheckpointMode::On => true,
            CheckpointMode::Mixed => self.rng.below(2) == 1,
        };
        self.summary.iterations += 1;
        let (session, killed_after) = self.run_child(iteration, checkpoints)?;
        let interrupted: u64 = session.in_flight.values().sum();
        if interrupted > 0 {
            self.summary.kills_during_rebuild += 1;
            self.summary.rebuilds_interrupted += interrupted;
        }
        if session.reopening {
            self.summary.kills_during_online_reopen += 1;
        }
        let in_flight = self.model.uncertain_writes() as u64;
        self.summary.writes_in_flight_at_kill += in_flight;

        self.summary.reopens += 1;
        let verified = verify::verify(
            &self.db,
            engine_config(checkpoints),
            &mut self.model,
            &mut self.layout,
        )?;
        self.account(&verified, checkpoints);
        let mut violations = session.violations;
        violations.extend(verified.violations.iter().cloned());

        let mut line = format!(
            "#{iteration:<4} checkpoints {:<3} killed at {:>5.2} s{}  writes in flight {in_flight} \
             (applied {}, not {}, unknown {})  keys lost {}  rebuilds by parent {}",
            if checkpoints { "on" } else { "off" },
            killed_after.as_secs_f64(),
            if interrupted > 0 {
                format!(
                    " during a rebuild of {:?}",
                    session
                        .in_flight
                        .iter()
                        .filter(|(_, count)| **count > 0)
                        .map(|(cf, _)| cf.as_str())
                        .collect::<Vec<_>>()
                )
            } else {
                String::new()
            },
            verified.check.uncertain_applied,
            verified.check.uncertain_not_applied,
            verified.check.uncertain_unknown,
            verified.check.keys_lost,
            verified.rebuilds.len(),
        );
        if let Some(error) = &session.first_write_error {
            line.push_str(&format!("  first failed write: {error}"));
        }
        self.log.line(&line);
        for text in session.log.iter().chain(&verified.log) {
            self.log.line(&format!("      {text}"));
        }
        if !violations.is_empty() {
            self.log_violations(iteration, &violations);
            return Ok(violations);
        }
        if self.db.join("CURRENT").exists() && self.rng.next_f64() < self.args.corrupt_probability {
            if let Some(damage) =
                damage::damage_random_sst(&self.db, &mut self.layout, &mut self.rng)?
            {
                self.summary.corruptions_injected += 1;
                self.log.line(&format!("      damaged: {damage}"));
            }
        }
        Ok(violations)
    }

    fn account(&mut self, verified: &Verified, checkpoints: bool) {
        let summary = &mut self.summary;
        summary.keys_lost += verified.check.keys_lost;
        if checkpoints {
            summary.keys_lost_with_checkpoints += verified.check.keys_lost;
        } else {
            summary.keys_lost_without_checkpoints += verified.check.keys_lost;
        }
        summary.in_flight_applied += verified.check.uncertain_applied;
        summary.in_flight_not_applied += verified.check.uncertain_not_applied;
        summary.rebuilds += verified.rebuilds.len() as u64;
        summary.rebuilds_by_parent += verified.rebuilds.len() as u64;
        summary.keys_recovered_from_checkpoint += verified
            .rebuilds
            .iter()
            .map(|report| report.keys_recovered_from_checkpoint)
            .sum::<u64>();
        summary.keys_in_lost_ranges += verified.keys_in_lost_ranges;
        summary.keys_lost_although_readable += verified.keys_lost_although_readable;
        summary.keys_unreadable_before_rebuild += verified.keys_unreadable_before_rebuild;
        summary.checkpoints_taken += verified.checkpoints_taken;
        summary.orphans_dropped_at_reopen += verified.orphans_dropped;
        summary.rebuilds_committed_unreported += verified.unreported_rebuilds;
        summary.rebuilds_committed_unreported_damaged += verified.unreported_rebuilds_of_damaged;
    }

    fn log_violations(&mut self, iteration: u64, violations: &[Violation]) {
        let seed = self.summary.seed;
        for violation in violations.iter().take(50) {
            self.log.line(&format!(
                "VIOLATION (seed {seed}, iteration {iteration}): {violation}"
            ));
        }
        if violations.len() > 50 {
            self.log.line(&format!(
                "... and {} more violations",
                violations.len() - 50
            ));
        }
    }

    fn plan_kill(&mut self) -> KillPlan {
        let (min, max) = (
            self.args.kill_min_ms,
            self.args.kill_max_ms.max(self.args.kill_min_ms),
        );
        let on_rebuild = self.rng.next_f64() < self.args.rebuild_kill_probability;
        KillPlan {
            deadline: Duration::from_millis(if on_rebuild {
                max
            } else {
                self.rng.between(min, max)
            }),
            after_rebuild_start: on_rebuild.then(|| Duration::from_millis(self.rng.between(0, 30))),
            not_before: Duration::from_millis(min),
        }
    }

    /// Spawns a child, feeds its records to the model, kills it, reads the pipe to its end.
    fn run_child(
        &mut self,
        iteration: u64,
        checkpoints: bool,
    ) -> Result<(Session, Duration), Error> {
        let child_args = ChildArgs {
            db: self.db.clone(),
            seed: self.rng.next_u64(),
            first_version: (iteration + 1) << 32,
            keys: self.args.keys,
            writers: self.args.writers,
            checkpoints,
            no_healer: self.args.no_healer,
            max_lifetime_secs: 60,
        };
        let plan = self.plan_kill();
        let stderr = std::fs::File::create(&self.stderr_path)
            .map_err(|e| Error::io("create", &self.stderr_path, e))?;
        let mut child = Command::new(&self.exe)
            .arg("child")
            .args(child_args.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Child {
                action: "spawn",
                source,
            })?;
        let spawned = Instant::now();
        let (lines, reader) = match read_pipe(&mut child) {
            Ok(pipe) => pipe,
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err);
            }
        };
        let mut session = Session::default();
        let mut kill_at = spawned + plan.deadline;
        let mut exited_early = false;
        loop {
            let now = Instant::now();
            if now >= kill_at {
                break;
            }
            match lines.recv_timeout(kill_at - now) {
                Ok(line) => {
                    let rebuild_started = self.apply_line(&line, &mut session)?;
                    if let (true, Some(delay)) = (rebuild_started, plan.after_rebuild_start) {
                        if now.duration_since(spawned) >= plan.not_before {
                            kill_at = kill_at.min(Instant::now() + delay);
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    exited_early = true;
                    break;
                }
            }
        }
        let status = child.try_wait().map_err(|source| Error::Child {
            action: "poll",
            source,
        })?;
        let killed_after = spawned.elapsed();
        if status.is_none() && !exited_early {
            child.kill().map_err(|source| Error::Child {
                action: "kill",
                source,
            })?;
            self.summary.kills += 1;
        } else {
            exited_early = true;
        }
        let status = child.wait().map_err(|source| Error::Child {
            action: "wait for",
            source,
        })?;
        // The pipe's last records: everything the child wrote before it died.
        for line in lines.iter() {
            self.apply_line(&line, &mut session)?;
        }
        let _ = reader.join();
        if exited_early {
            let stderr = std::fs::read(&self.stderr_path).unwrap_or_default();
            let tail = &stderr[stderr.len().saturating_sub(STDERR_TAIL_BYTES)..];
            session.violations.push(Violation {
                cf: "*".to_owned(),
                key: None,
                kind: ViolationKind::Engine("the child exited before it was killed".to_owned()),
                expected: "a child running until the kill".to_owned(),
                found: format!(
                    "{status}; its last error: {}; stderr: {}",
                    session.fatal.as_deref().unwrap_or("none"),
                    String::from_utf8_lossy(tail)
                ),
            });
        }
        Ok((session, killed_after))
    }

    /// Applies one line of the pipe; returns whether it announced a rebuild.
    fn apply_line(&mut self, line: &Line, session: &mut Session) -> Result<bool, Error> {
        if !line.complete {
            // Cut by the kill mid-write: its write(2) never finished, so nothing it would
            // announce happened after it.
            session
                .log
                .push("a torn last record was ignored".to_owned());
            return Ok(false);
        }
        let text = std::str::from_utf8(&line.bytes)
            .map_err(|e| Error::Protocol(format!("record is not UTF-8: {e}")))?;
        let record = Record::parse(text.trim_end())?;
        let summary = &mut self.summary;
        match record {
            Record::Opened { physical } => {
                for (index, name) in physical.iter().enumerate() {
                    let known = &self.layout.cfs[index].physical;
                    if name != known {
                        session.violations.push(Violation {
                            cf: COLUMN_FAMILIES[index].to_owned(),
                            key: None,
                            kind: ViolationKind::Engine(
                                "the child's open resolves another physical column family"
                                    .to_owned(),
                            ),
                            expected: known.clone(),
                            found: name.clone(),
                        });
                    }
                }
            }
            Record::Pending { op, mutations } => self.model.begin(op, mutations)?,
            Record::Ack { op } => {
                self.model.ack(op)?;
                summary.writes_acknowledged += 1;
            }
            Record::Failed { op, error } => {
                self.model.fail(op, error.clone())?;
                summary.writes_failed += 1;
                session.first_write_error.get_or_insert(error);
            }
            Record::RebuildStarted { cf, .. } => {
                *session.in_flight.entry(cf).or_default() += 1;
                return Ok(true);
            }
            Record::RebuildDone {
                cf,
                by,
                new_physical,
                keys_copied,
                keys_recovered_from_checkpoint,
                lost,
                old_physical,
                refill_failures,
            } => {
                let count = session.in_flight.entry(cf.clone()).or_default();
                *count = count.saturating_sub(1);
                summary.rebuilds += 1;
                match by {
                    Actor::Child => summary.rebuilds_by_child += 1,
                    Actor::Healer => summary.rebuilds_by_healer += 1,
                }
                summary.keys_recovered_from_checkpoint += keys_recovered_from_checkpoint;
                let index = damage::cf_index(&cf)
                    .ok_or_else(|| Error::Protocol(format!("rebuild of unknown {cf:?}")))?;
                let ranges = lost
                    .iter()
                    .map(|range| range.to_lost_range())
                    .collect::<Result<Vec<_>, _>>()?;
                if !ranges.is_empty() {
                    if !self.layout.had_damage(index, &old_physical) {
                        session.violations.push(Violation {
                            cf: cf.clone(),
                            key: None,
                            kind: ViolationKind::Engine(
                                "a rebuild lost ranges of an undamaged column family".to_owned(),
                            ),
                            expected: format!("no lost range ({old_physical:?} was never damaged)"),
                            found: format!("{lost:?}"),
                        });
                    }
                    summary.keys_in_lost_ranges += self.model.report_lost(index, &ranges);
                }
                if !ranges.is_empty() || keys_recovered_from_checkpoint > 0 {
                    session.log.push(format!(
                        "{by:?} rebuilt {cf:?} ({old_physical} -> {new_physical}): {keys_copied} \
                         keys copied, {keys_recovered_from_checkpoint} recovered from a \
                         checkpoint, lost {}{}",
                        keyspace::describe_ranges(&ranges),
                        if refill_failures.is_empty() {
                            String::new()
                        } else {
                            format!(", not refilled: {refill_failures:?}")
                        }
                    ));
                }
                self.layout.rebuilt(index, &new_physical);
            }
            Record::RebuildFailed { cf, by, error } => {
                let count = session.in_flight.entry(cf.clone()).or_default();
                *count = count.saturating_sub(1);
                summary.rebuilds_failed += 1;
                session
                    .log
                    .push(format!("{by:?}'s rebuild of {cf:?} failed: {error}"));
            }
            Record::Note { kind, .. } => match kind {
                NoteKind::OptionsSet => summary.option_changes += 1,
                NoteKind::OptionsRefused => summary.option_refusals += 1,
                NoteKind::Flushed | NoteKind::Compacted => summary.flushes_and_compactions += 1,
                NoteKind::CheckpointTaken => summary.checkpoints_taken += 1,
                NoteKind::ReadCorruption => summary.child_read_corruptions += 1,
                NoteKind::ReopenStarted => session.reopening = true,
                NoteKind::Reopened => {
                    session.reopening = false;
                    summary.online_reopens += 1;
                }
                NoteKind::ReopenFailed => {
                    session.reopening = false;
                    summary.online_reopens_failed += 1;
                }
                NoteKind::MaintenanceFailed | NoteKind::CheckpointFailed | NoteKind::ReadFailed => {
                }
            },
            Record::Fatal { error } => session.fatal = Some(error),
        }
        Ok(false)
    }
}

/// One line read from the pipe; `complete` = it ended with a newline.
struct Line {
    bytes: Vec<u8>,
    complete: bool,
}

/// Reads the child's stdout on a thread (so the kernel pipe never fills) into a channel that
/// ends when the pipe does.
fn read_pipe(child: &mut Child) -> Result<(Receiver<Line>, std::thread::JoinHandle<()>), Error> {
    let stdout = child.stdout.take().ok_or_else(|| Error::Child {
        action: "take the record pipe",
        source: std::io::Error::other("no stdout pipe"),
    })?;
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("stress-pipe".into())
        .spawn(move || {
            let mut pipe = BufReader::new(stdout);
            loop {
                let mut bytes = Vec::new();
                match pipe.read_until(b'\n', &mut bytes) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let complete = bytes.ends_with(b"\n");
                        if sender.send(Line { bytes, complete }).is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .map_err(|source| Error::Child {
            action: "spawn the pipe reader",
            source,
        })?;
    Ok((receiver, reader))
}
