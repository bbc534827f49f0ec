//! Periodic *deep* checkpoints, the WAL archive kept since them, and refilling a rebuild's
//! lost ranges from both.
//!
//! A RocksDB checkpoint hard-links SST files, so bit rot in a live file also rots the
//! checkpoint's link to it (one inode). lsmedic's checkpoints therefore copy every file that
//! RocksDB linked: they cost disk space (a full copy each, `keep` of them) and are off by
//! default ([`CheckpointConfig`]). A checkpoint is kept only if every block of it reads back
//! with a valid checksum, so a damaged live file never replaces an intact older copy.
//! A background thread takes one every `interval_secs`, and
//! one soon after every completed rebuild (the rebuilt column family is in no checkpoint
//! yet); [`Engine::checkpoint_now`] takes one on demand. With checkpoints on, RocksDB moves
//! WAL files it no longer needs into `<db>/archive` instead of deleting them, and deletes
//! them there once their last write is older than `wal_archive_secs` (default twice the
//! interval) or the archive exceeds `wal_archive_mb`.
//!
//! # When a lost range is refilled
//!
//! A range R that the rebuild could not read is restored from a checkpoint C (the newest
//! first, then older ones), whose last sequence number is `s_c`, when the column family is the same physical CF in C (it was
//! not rebuilt since) and one of two proofs holds; otherwise R stays in the report as lost,
//! with the reason in `refill_failures`.
//!
//! 1. **No newer file.** Every live SST file of the CF that overlaps R is also in C (same
//!    name and size, so the same immutable file): C saw every persisted version in R. The
//!    keys of R are those of C plus those in the memtables; each gets its live value from a
//!    point lookup, which searches newest-first and so returns the current value unless it
//!    hits the damaged block; only then is C's value used, and it is right because nothing
//!    newer exists outside the damaged file, which C contains.
//! 2. **Point-in-time replay.** Every sequence number from `s_c + 1` to the rebuild's
//!    snapshot is in the WAL (live or archived; RocksDB's `GetUpdatesSince` refuses gaps),
//!    and every record of the CF in it decodes (RocksDB's write-batch format, decoded by the
//!    engine's `wal` module): R's contents at the snapshot are C's contents of R with those
//!    records applied in order (puts, deletes, range deletes). As a guard against a wrong replay, every key of R that can still be
//!    read (memtables, undamaged files) must read back the replayed value, else nothing of
//!    R is trusted. Only a rebuild's copies skip the WAL, and they go to a CF that is not yet
//!    in the name map, never to a CF a checkpoint maps; but their sequence numbers leave a
//!    gap, so a replay cannot cross another rebuild: the checkpoint taken after every
//!    rebuild moves the replay's start past it.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use lsmedic_telemetry::control::LostRange;
use lsmedic_telemetry::{ControlError, RebuildReport};
use parking_lot::{Condvar, Mutex};
use rocksdb::checkpoint::Checkpoint;
use rocksdb::{ErrorKind, Options, ReadOptions, ReadTier, SnapshotWithThreadMode, DB};

use crate::cf_map::{self, CfMap, META_CF};
use crate::config::CheckpointConfig;
use crate::engine::{CfTable, Engine};
use crate::error::{Error, Result};
use crate::raw::{self, DetachedCf};
use crate::rebuild::{RebuildState, CHUNK_KEYS};
use crate::wal::{self, RecordOp};

const PREFIX: &str = "checkpoint-";

/// What the checkpoint thread is asked to do.
#[derive(Default)]
struct Signal {
    /// Exit.
    stop: bool,
    /// Take a checkpoint before the interval is up.
    now: bool,
}

struct Shared {
    signal: Mutex<Signal>,
    wake: Condvar,
    /// Serialises checkpoint creation (thread and `checkpoint_now`).
    creating: Mutex<()>,
    last_error: Mutex<Option<String>>,
}

/// Owns the periodic checkpoint thread; stops and joins it when dropped.
pub(crate) struct Checkpointer {
    tables: Arc<ArcSwap<CfTable>>,
    dir: PathBuf,
    keep: usize,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(
        tables: Arc<ArcSwap<CfTable>>,
        dir: PathBuf,
        config: &CheckpointConfig,
    ) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            action: "create checkpoint directory",
            path: dir.clone(),
            source,
        })?;
        let shared = Arc::new(Shared {
            signal: Mutex::new(Signal::default()),
            wake: Condvar::new(),
            creating: Mutex::new(()),
            last_error: Mutex::new(None),
        });
        let interval = Duration::from_secs(config.interval_secs);
        let thread = {
            let (tables, thread_dir, shared, keep) = (
                Arc::clone(&tables),
                dir.clone(),
                Arc::clone(&shared),
                config.keep,
            );
            std::thread::Builder::new()
                .name("lsmedic-checkpoint".into())
                .spawn(move || loop {
                    {
                        let mut signal = shared.signal.lock();
                        if !signal.stop && !signal.now {
                            shared.wake.wait_for(&mut signal, interval);
                        }
                        if signal.stop {
                            return;
                        }
                        signal.now = false;
                    }
                    let _creating = shared.creating.lock();
                    // Looked up every time: a reopen ([`crate::recovery`]) replaces it.
                    let outcome = match CfTable::current_db(&tables) {
                        Ok(db) => create_deep(&db, &thread_dir, keep).err(),
                        Err(err) => Some(err.to_string()),
                    };
                    *shared.last_error.lock() = outcome;
                })
                .map_err(|source| Error::Io {
                    action: "spawn checkpoint thread for",
                    path: dir.clone(),
                    source,
                })?
        };
        Ok(Checkpointer {
            tables,
            dir,
            keep: config.keep,
            shared,
            thread: Some(thread),
        })
    }

    /// Takes a deep checkpoint now; returns its directory.
    pub(crate) fn checkpoint_now(&self) -> Result<PathBuf> {
        let _creating = self.shared.creating.lock();
        let db = CfTable::current_db(&self.tables)?;
        create_deep(&db, &self.dir, self.keep).map_err(|message| Error::Checkpoint {
            path: self.dir.clone(),
            message,
        })
    }

    /// Asks the background thread for a checkpoint now, without waiting for it.
    pub(crate) fn request(&self) {
        self.shared.signal.lock().now = true;
        self.shared.wake.notify_all();
    }

    /// The newest complete checkpoint.
    pub(crate) fn latest(&self) -> Option<PathBuf> {
        list(&self.dir).pop()
    }

    /// The last periodic checkpoint's failure, if it failed.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().clone()
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.signal.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Complete checkpoints in `dir`, oldest first.
fn list(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX))
        })
        .collect();
    found.sort();
    found
}

fn create_deep(db: &DB, dir: &Path, keep: usize) -> std::result::Result<PathBuf, String> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut name = format!("{PREFIX}{millis:020}");
    // Two checkpoints in the same millisecond get distinct names.
    while dir.join(&name).exists() {
        name.push('+');
    }
    let partial = dir.join(format!(".partial-{name}"));
    let _ = std::fs::remove_dir_all(&partial);
    Checkpoint::new(db)
        .and_then(|checkpoint| checkpoint.create_checkpoint(&partial))
        .map_err(|e| format!("RocksDB checkpoint failed: {}", e.into_string()))?;
    let io = |what: &str, path: &Path, e: std::io::Error| format!("{what} {}: {e}", path.display());
    for entry in std::fs::read_dir(&partial).map_err(|e| io("read", &partial, e))? {
        let path = entry.map_err(|e| io("read", &partial, e))?.path();
        let meta = std::fs::metadata(&path).map_err(|e| io("stat", &path, e))?;
        if meta.nlink() > 1 {
            // Break the hard link: the checkpoint must not share an inode with live files.
            let copy = path.with_extension("copy");
            std::fs::copy(&path, &copy).map_err(|e| io("copy", &path, e))?;
            std::fs::rename(&copy, &path).map_err(|e| io("rename", &copy, e))?;
        }
    }
    if let Err(damage) = verify(&partial) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(format!(
            "checkpoint not kept, the older ones are: it does not read back whole ({damage})"
        ));
    }
    let done = dir.join(&name);
    std::fs::rename(&partial, &done).map_err(|e| io("rename", &partial, e))?;
    let all = list(dir);
    for old in all.iter().take(all.len().saturating_sub(keep.max(1))) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(done)
}

/// Opens the checkpoint at `dir` read-only with all its column families; returns their
/// names too.
fn open_read_only(dir: &Path) -> std::result::Result<(Vec<String>, DB), rocksdb::Error> {
    let names = DB::list_cf(&Options::default(), dir)?;
    let copy = DB::open_cf_for_read_only(&Options::default(), dir, &names, false)?;
    Ok((names, copy))
}

/// Reads every block of every column family of the checkpoint at `dir` with checksums
/// verified: a copy of a damaged live file must not replace an intact older checkpoint.
fn verify(dir: &Path) -> std::result::Result<(), String> {
    let (names, copy) = open_read_only(dir).map_err(|e| e.into_string())?;
    for name in &names {
        let Some(cf) = copy.cf_handle(name) else {
            return Err(format!("column family {name:?} has no handle"));
        };
        let mut read = ReadOptions::default();
        read.set_verify_checksums(true);
        read.fill_cache(false);
        let mut iter = copy.raw_iterator_cf_opt(&cf, read);
        iter.seek_to_first();
        while iter.valid() {
            iter.next();
        }
        iter.status()
            .map_err(|e| format!("column family {name:?}: {}", e.into_string()))?;
    }
    Ok(())
}

/// SST files (name → size) in a directory.
fn sst_files(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            let size = entry.metadata().ok()?.len();
            name.ends_with(".sst").then_some((name, size))
        })
        .collect()
}

/// The checkpoint a refill starts from: its open copy, the CF in it, and its last sequence
/// number.
struct Base<'a, C> {
    copy: &'a DB,
    copy_cf: &'a C,
    seq: u64,
}

/// Applies one WAL record of the rebuilt CF to the replayed contents of `range`.
fn apply(keys: &mut BTreeMap<Vec<u8>, Vec<u8>>, range: &LostRange, op: RecordOp<'_>) {
    match op {
        RecordOp::Put(key, value) => {
            if in_range(range, key) {
                keys.insert(key.to_vec(), value.to_vec());
            }
        }
        RecordOp::Delete(key) => {
            keys.remove(key);
        }
        RecordOp::DeleteRange(from, to) => {
            keys.retain(|key, _| !(from <= key.as_slice() && key.as_slice() < to));
        }
    }
}

/// Every key and value of `range` in a checkpoint's column family.
fn checkpoint_range(
    copy: &DB,
    copy_cf: &impl rocksdb::AsColumnFamilyRef,
    range: &LostRange,
) -> std::result::Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    let mut bounded = ReadOptions::default();
    bounded.set_iterate_lower_bound(range.start.clone());
    if let Some(end) = &range.end {
        bounded.set_iterate_upper_bound(end.clone());
    }
    let mut iter = copy.raw_iterator_cf_opt(copy_cf, bounded);
    iter.seek_to_first();
    let mut keys = BTreeMap::new();
    while let Some((key, value)) = iter.item() {
        keys.insert(key.to_vec(), value.to_vec());
        iter.next();
    }
    iter.status()
        .map_err(|e| format!("checkpoint unreadable: {}", e.into_string()))?;
    Ok(keys)
}

fn overlaps(range: &LostRange, start: &[u8], end: &[u8]) -> bool {
    end >= range.start.as_slice() && range.end.as_deref().is_none_or(|e| start < e)
}

fn in_range(range: &LostRange, key: &[u8]) -> bool {
    key >= range.start.as_slice() && range.end.as_deref().is_none_or(|e| key < e)
}

impl Engine {
    /// Takes a deep checkpoint now (periodic checkpoints must be enabled); returns its path.
    pub fn checkpoint_now(&self) -> Result<PathBuf> {
        self.checkpointer()
            .ok_or_else(|| {
                Error::Control(ControlError::Unavailable {
                    what: "checkpoint_now".into(),
                    reason: "periodic checkpoints are off (checkpoints.enabled = false)".into(),
                })
            })?
            .checkpoint_now()
    }

    /// The newest deep checkpoint, if periodic checkpoints are on and one exists.
    pub fn latest_checkpoint(&self) -> Option<PathBuf> {
        self.checkpointer()?.latest()
    }

    /// Why the last periodic checkpoint failed, if it did.
    pub fn checkpoint_error(&self) -> Option<String> {
        self.checkpointer()?.last_error()
    }

    /// Refills lost ranges from the checkpoints, newest first, where provably correct;
    /// returns the ranges still lost.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn recover_from_checkpoint(
        &self,
        cf: &str,
        old_physical: &str,
        old: &DetachedCf,
        state: &RebuildState,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        mut lost: Vec<LostRange>,
        report: &mut RebuildReport,
        candidates: &mut BTreeSet<Vec<u8>>,
    ) -> Result<Vec<LostRange>> {
        let Some(checkpointer) = self.checkpointer() else {
            return Ok(lost);
        };
        let checkpoints = list(&checkpointer.dir);
        if checkpoints.is_empty() {
            report
                .refill_failures
                .push("no checkpoint has been taken yet".into());
        }
        for checkpoint in checkpoints.iter().rev() {
            if lost.is_empty() {
                break;
            }
            lost = self.refill_from(
                checkpoint,
                cf,
                old_physical,
                old,
                state,
                snapshot,
                lost,
                report,
                candidates,
            )?;
        }
        Ok(lost)
    }

    /// Refills lost ranges from one checkpoint where provably correct; returns the ranges
    /// still lost, with the reasons in the report.
    #[allow(clippy::too_many_arguments)]
    fn refill_from(
        &self,
        checkpoint: &Path,
        cf: &str,
        old_physical: &str,
        old: &DetachedCf,
        state: &RebuildState,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        lost: Vec<LostRange>,
        report: &mut RebuildReport,
        candidates: &mut BTreeSet<Vec<u8>>,
    ) -> Result<Vec<LostRange>> {
        let name = checkpoint
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let not_refilled = |report: &mut RebuildReport, why: String| {
            report.refill_failures.push(format!("{name}: {why}"));
        };
        let saved = sst_files(checkpoint);
        let live = state
            .db
            .live_files()
            .map_err(|e| Error::rocksdb("rebuild: live files", Some(cf), None, e))?;
        let live_here: Vec<_> = live
            .iter()
            .filter(|file| file.column_family_name == old_physical)
            .collect();
        let (names, copy) = match open_read_only(checkpoint) {
            Ok(opened) => opened,
            Err(err) => {
                let why = format!("does not open: {}", err.into_string());
                not_refilled(report, why);
                return Ok(lost);
            }
        };
        // Which physical CF served the logical name when the checkpoint was taken?
        let physical_then = names
            .iter()
            .any(|n| n == META_CF)
            .then(|| copy.cf_handle(META_CF))
            .flatten()
            .and_then(|meta| copy.get_cf(&meta, cf_map::MAP_KEY).ok().flatten())
            .and_then(|bytes| CfMap::from_bytes(&bytes).ok())
            .and_then(|map| map.map.get(cf).cloned())
            .unwrap_or_else(|| cf.to_owned());
        let Some(copy_cf) = (physical_then == old_physical)
            .then(|| copy.cf_handle(old_physical))
            .flatten()
        else {
            let why = format!(
                "the checkpoint holds {physical_then:?}, not the damaged {old_physical:?} \
                 (rebuilt since)"
            );
            not_refilled(report, why);
            return Ok(lost);
        };

        let checkpoint_seq = copy.latest_sequence_number();
        let mut still_lost = Vec::new();
        for range in lost {
            let covered = live_here.iter().all(|file| {
                let (Some(start), Some(end)) = (&file.start_key, &file.end_key) else {
                    return true;
                };
                let name = file.name.trim_start_matches('/');
                !overlaps(&range, start, end) || saved.get(name) == Some(&(file.size as u64))
            });
            let refilled = if covered {
                self.refill(cf, old, state, snapshot, &copy, &copy_cf, &range)
            } else {
                let base = Base {
                    copy: &copy,
                    copy_cf: &copy_cf,
                    seq: checkpoint_seq,
                };
                self.replay_refill(cf, old, state, snapshot, &base, &range)
            };
            match refilled {
                Ok(recovered) => report.keys_recovered_from_checkpoint += recovered,
                Err(why) => {
                    not_refilled(report, why);
                    // Its keys may still read back from newer, undamaged files.
                    if let Ok(keys) = checkpoint_range(&copy, &copy_cf, &range) {
                        candidates.extend(keys.into_keys());
                    }
                    still_lost.push(range);
                }
            }
        }
        Ok(still_lost)
    }

    /// Rebuilds `range` as it was at the rebuild's snapshot from the checkpoint's contents
    /// and the WAL records written after it (point-in-time recovery), and copies it into the
    /// new CF. Fails, leaving the range lost, unless every sequence number between the
    /// checkpoint and the snapshot is in the WAL, every record of the CF decodes, and the
    /// result agrees with every value of the range that can still be read.
    fn replay_refill(
        &self,
        cf: &str,
        old: &DetachedCf,
        state: &RebuildState,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        base: &Base<'_, impl rocksdb::AsColumnFamilyRef>,
        range: &LostRange,
    ) -> std::result::Result<u64, String> {
        let target = snapshot.sequence_number();
        let mut keys: BTreeMap<Vec<u8>, Vec<u8>> =
            checkpoint_range(base.copy, base.copy_cf, range)?;
        if target > base.seq {
            let cf_id = raw::cf_id(old);
            let mut next = base.seq + 1;
            'batches: for batch in raw::WalBatches::since(&state.db, next)? {
                let data = batch?;
                for record in wal::decode(&data).map_err(|e| e.to_string())? {
                    if record.seq < next {
                        continue; // the part of a straddling batch the checkpoint holds
                    }
                    if record.seq != next {
                        return Err(format!(
                            "the WAL skips from sequence number {next} to {}",
                            record.seq
                        ));
                    }
                    next += 1;
                    if record.cf == cf_id {
                        apply(&mut keys, range, record.op);
                    }
                    if next > target {
                        // Stop before the iterator reads on: past the last WAL record RocksDB
                        // answers "try again" while unlogged writes (a rebuild's copies)
                        // have moved the sequence number on.
                        break 'batches;
                    }
                }
            }
            if next <= target {
                return Err(format!(
                    "the WAL archive ends at sequence number {}, before the rebuild's {target}",
                    next - 1
                ));
            }
        }
        // Cross-check with what can still be read: the memtables' keys and every readable
        // value must agree with the replay, else nothing of the range is trusted.
        let mut probes: Vec<Vec<u8>> = keys.keys().cloned().collect();
        probes.extend(self.memtable_keys(&state.db, old, snapshot, range));
        for key in probes {
            let mut read = ReadOptions::default();
            read.set_snapshot(snapshot);
            match state.db.get_cf_opt(old, &key, &read) {
                Ok(live) if live.as_ref() != keys.get(&key) => {
                    return Err(format!(
                        "the replay disagrees with the readable value of key {key:?}"
                    ))
                }
                Ok(_) => {}
                Err(err) if err.kind() == ErrorKind::Corruption => {}
                Err(err) => return Err(err.into_string()),
            }
        }
        let all: Vec<(Vec<u8>, Vec<u8>)> = keys.into_iter().collect();
        let mut copied = 0;
        for chunk in all.chunks(CHUNK_KEYS) {
            copied += self
                .copy_chunk(cf, state, chunk)
                .map_err(|e| e.to_string())?;
        }
        Ok(copied)
    }

    /// The keys of `range` in the memtables of `old` at the snapshot.
    pub(crate) fn memtable_keys(
        &self,
        db: &DB,
        old: &DetachedCf,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        range: &LostRange,
    ) -> Vec<Vec<u8>> {
        let mut memtable = ReadOptions::default();
        memtable.set_snapshot(snapshot);
        memtable.set_read_tier(ReadTier::Memtable);
        let mut iter = db.raw_iterator_cf_opt(old, memtable);
        iter.seek(&range.start);
        let mut keys = Vec::new();
        while let Some(key) = iter.key() {
            if !in_range(range, key) {
                break;
            }
            keys.push(key.to_vec());
            iter.next();
        }
        keys
    }

    /// Copies the keys of `range` (those in the checkpoint and in the memtables) into the new
    /// CF with their current value; fails if the checkpoint itself cannot be read.
    #[allow(clippy::too_many_arguments)]
    fn refill(
        &self,
        cf: &str,
        old: &DetachedCf,
        state: &RebuildState,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        copy: &DB,
        copy_cf: &impl rocksdb::AsColumnFamilyRef,
        range: &LostRange,
    ) -> std::result::Result<u64, String> {
        let mut candidates: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            checkpoint_range(copy, copy_cf, range)?
                .into_iter()
                .map(|(key, value)| (key, Some(value)))
                .collect();
        for key in self.memtable_keys(&state.db, old, snapshot, range) {
            candidates.entry(key).or_insert(None);
        }
        let mut chunk = Vec::new();
        for (key, saved) in candidates {
            let mut read = ReadOptions::default();
            read.set_snapshot(snapshot);
            match state.db.get_cf_opt(old, &key, &read) {
                Ok(Some(value)) => chunk.push((key, value)),
                Ok(None) => {}
                Err(err) if err.kind() == ErrorKind::Corruption => match saved {
                    Some(value) => chunk.push((key, value)),
                    None => return Err("a memtable key reads as corrupt".into()),
                },
                Err(err) => return Err(err.into_string()),
            }
        }
        self.copy_chunk(cf, state, &chunk)
            .map_err(|e| e.to_string())
    }
}
