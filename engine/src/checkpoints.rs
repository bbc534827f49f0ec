//! Periodic *deep* checkpoints, and refilling a rebuild's lost ranges from the newest one.
//!
//! A RocksDB checkpoint hard-links SST files, so bit rot in a live file also rots the
//! checkpoint's link to it (one inode). lsmedic's checkpoints therefore copy every file that
//! RocksDB linked: they cost disk space (a full copy each, `keep` of them) and are off by
//! default ([`CheckpointConfig`]). A background thread takes
//! one every `interval_secs`; [`Engine::checkpoint_now`] takes one on demand.
//!
//! # When a lost range is refilled
//!
//! A range R that the rebuild could not read is restored from checkpoint C only if every
//! live SST file of the column family that overlaps R is also in C (same name and size, so
//! the same immutable file) — then C saw every persisted version in R — and the CF is the
//! same physical CF in C. The keys of R are those of C plus those in the memtables. For each
//! such key the live value is read with a point lookup, which searches newest-first and so
//! returns the current value unless it hits the damaged block; only then is C's value used,
//! and it is right because nothing newer exists outside the damaged file, which C contains.
//! Otherwise R stays in the report as lost.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lsmedic_telemetry::control::LostRange;
use lsmedic_telemetry::{ControlError, RebuildReport};
use parking_lot::{Condvar, Mutex};
use rocksdb::checkpoint::Checkpoint;
use rocksdb::{ErrorKind, Options, ReadOptions, ReadTier, SnapshotWithThreadMode, DB};

use crate::cf_map::{self, CfMap, META_CF};
use crate::config::CheckpointConfig;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::raw::DetachedCf;
use crate::rebuild::RebuildState;

const PREFIX: &str = "checkpoint-";

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    /// Serialises checkpoint creation (thread and `checkpoint_now`).
    creating: Mutex<()>,
    last_error: Mutex<Option<String>>,
}

/// Owns the periodic checkpoint thread; stops and joins it when dropped.
pub(crate) struct Checkpointer {
    db: Arc<DB>,
    dir: PathBuf,
    keep: usize,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(db: Arc<DB>, dir: PathBuf, config: &CheckpointConfig) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            action: "create checkpoint directory",
            path: dir.clone(),
            source,
        })?;
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
            creating: Mutex::new(()),
            last_error: Mutex::new(None),
        });
        let interval = Duration::from_secs(config.interval_secs);
        let thread = {
            let (db, thread_dir, shared, keep) = (
                Arc::clone(&db),
                dir.clone(),
                Arc::clone(&shared),
                config.keep,
            );
            std::thread::Builder::new()
                .name("lsmedic-checkpoint".into())
                .spawn(move || loop {
                    {
                        let mut stop = shared.stop.lock();
                        if !*stop {
                            shared.wake.wait_for(&mut stop, interval);
                        }
                        if *stop {
                            return;
                        }
                    }
                    let _creating = shared.creating.lock();
                    let outcome = create_deep(&db, &thread_dir, keep);
                    *shared.last_error.lock() = outcome.err();
                })
                .map_err(|source| Error::Io {
                    action: "spawn checkpoint thread for",
                    path: dir.clone(),
                    source,
                })?
        };
        Ok(Checkpointer {
            db,
            dir,
            keep: config.keep,
            shared,
            thread: Some(thread),
        })
    }

    /// Takes a deep checkpoint now; returns its directory.
    pub(crate) fn checkpoint_now(&self) -> Result<PathBuf> {
        let _creating = self.shared.creating.lock();
        create_deep(&self.db, &self.dir, self.keep).map_err(|message| Error::Checkpoint {
            path: self.dir.clone(),
            message,
        })
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
        *self.shared.stop.lock() = true;
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
    let done = dir.join(&name);
    std::fs::rename(&partial, &done).map_err(|e| io("rename", &partial, e))?;
    let all = list(dir);
    for old in all.iter().take(all.len().saturating_sub(keep.max(1))) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(done)
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

    /// Refills lost ranges from the newest checkpoint where provably correct; returns the
    /// ranges still lost.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn recover_from_checkpoint(
        &self,
        cf: &str,
        old_physical: &str,
        old: &DetachedCf,
        state: &RebuildState,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        lost: Vec<LostRange>,
        report: &mut RebuildReport,
    ) -> Result<Vec<LostRange>> {
        let Some(checkpoint) = self.latest_checkpoint() else {
            return Ok(lost);
        };
        let saved = sst_files(&checkpoint);
        let live = self
            .db()
            .live_files()
            .map_err(|e| Error::rocksdb("rebuild: live files", Some(cf), None, e))?;
        let live_here: Vec<_> = live
            .iter()
            .filter(|file| file.column_family_name == old_physical)
            .collect();
        let Ok(names) = DB::list_cf(&Options::default(), &checkpoint) else {
            return Ok(lost);
        };
        let Ok(copy) = DB::open_cf_for_read_only(&Options::default(), &checkpoint, &names, false)
        else {
            return Ok(lost);
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
            return Ok(lost);
        };

        let mut still_lost = Vec::new();
        for range in lost {
            let covered = live_here.iter().all(|file| {
                let (Some(start), Some(end)) = (&file.start_key, &file.end_key) else {
                    return true;
                };
                let name = file.name.trim_start_matches('/');
                !overlaps(&range, start, end) || saved.get(name) == Some(&(file.size as u64))
            });
            if !covered {
                still_lost.push(range);
                continue;
            }
            match self.refill(cf, old, state, snapshot, &copy, &copy_cf, &range) {
                Ok(recovered) => report.keys_recovered_from_checkpoint += recovered,
                Err(_) => still_lost.push(range),
            }
        }
        Ok(still_lost)
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
        let mut candidates: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        let mut bounded = ReadOptions::default();
        bounded.set_iterate_lower_bound(range.start.clone());
        if let Some(end) = &range.end {
            bounded.set_iterate_upper_bound(end.clone());
        }
        let mut iter = copy.raw_iterator_cf_opt(copy_cf, bounded);
        iter.seek_to_first();
        while let Some((key, value)) = iter.item() {
            candidates.insert(key.to_vec(), Some(value.to_vec()));
            iter.next();
        }
        iter.status()
            .map_err(|e| format!("checkpoint unreadable: {}", e.into_string()))?;
        let mut memtable = ReadOptions::default();
        memtable.set_snapshot(snapshot);
        memtable.set_read_tier(ReadTier::Memtable);
        let mut iter = self.db().raw_iterator_cf_opt(old, memtable);
        iter.seek(&range.start);
        while let Some(key) = iter.key() {
            if !in_range(range, key) {
                break;
            }
            candidates.entry(key.to_vec()).or_insert(None);
            iter.next();
        }
        let mut chunk = Vec::new();
        for (key, saved) in candidates {
            let mut read = ReadOptions::default();
            read.set_snapshot(snapshot);
            match self.db().get_cf_opt(old, &key, &read) {
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
