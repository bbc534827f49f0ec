//! Column-family rebuild: copy a logical CF's live data into a fresh physical CF and swap.
//!
//! It heals a CF whose SST files are damaged (reads fail with corruption) and compacts a
//! bloated, tombstone-heavy one (only live keys are copied). The protocol, with the reason
//! for each step:
//!
//! 1. Stop automatic compactions of the old CF: a compaction reading a damaged file would
//!    raise a background error (RocksDB schedules one as soon as the copy's snapshot is
//!    released, to drop obsolete versions), which stops every write to the database unless
//!    the engine contains it ([`crate::quarantine`]). Then create
//!    `<logical>__lsmedic_gen<N+1>` with the CF's current options.
//! 2. Publish a table in which writes to the CF go to *both* physical CFs in one atomic batch
//!    and mark their keys (or ranges) as *touched*; wait for the grace period so no writer
//!    still writes to the old CF alone.
//! 3. Copy every key of a snapshot of the old CF, skipping touched keys: a touched key has
//!    a newer value in the new CF already. The copy is written into SST files of about
//!    16 MiB that are ingested into the new CF, so it never goes through the memtable and
//!    never piles up L0 files (which would stop every write of the database). A file is
//!    ingested with the touched-set mutex held, which dual writes hold too, and only if none
//!    of its keys was touched meanwhile; otherwise its untouched keys go in as one batch
//!    under the same mutex. Either way a copy never overwrites a newer write. Copies skip
//!    the WAL (step 5 flushes).
//! 4. Where the old CF cannot be read (corruption), find the first readable key after the
//!    failure by bisecting the key space with seeks, record the unread interval as lost, and
//!    continue after it. With periodic checkpoints on, lost intervals are refilled from a
//!    checkpoint (newest first) and the WAL archived since it when that is provably correct
//!    ([`crate::checkpoints`]). In an interval that stays lost, the keys that still read
//!    back by point lookup are copied; the interval stays reported. The candidates are the
//!    memtables' keys, a checkpoint's, and those an iteration finds when told to skip the
//!    damaged files (RocksDB's table filter): for a sparse L0 file, whose damaged block spans
//!    the keys of the files below it, that is most of the interval. The point lookup
//!    consults every file, the damaged ones included, so a key whose newest version is in
//!    the damaged block stays lost rather than coming back with an older value.
//! 5. Flush the new CF, so that the copied data is durable without the WAL.
//! 6. Store the new mapping and the report (one synced batch) — the commit point — then
//!    publish a table in which the logical name serves the new CF only, wait for the grace
//!    period, and drop the old CF.
//!
//! A crash before step 6's batch leaves the new CF as an orphan; after it, the old one. Either
//! is dropped at the next open, so a logical name never has two live physical CFs, or none.
//! Every key ends either copied with its right value, written during the rebuild, or inside a
//! reported lost range: never silently wrong.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use lsmedic_telemetry::control::LostRange;
use lsmedic_telemetry::RebuildReport;
use parking_lot::Mutex;
use rocksdb::{
    ErrorKind, IngestExternalFileOptions, Options, ReadOptions, SnapshotWithThreadMode,
    SstFileWriter, WriteOptions, DB,
};

use crate::cf_map;
use crate::engine::{CfEntry, CfTable, Engine, Op, DEFAULT_CF};
use crate::error::{Error, Result};
use crate::raw::{self, DetachedCf};

/// Keys copied per chunk (one write batch, one hold of the touched-set mutex).
pub(crate) const CHUNK_KEYS: usize = 1024;
/// Bytes (keys + values) per SST file the copy ingests.
const INGEST_FILE_BYTES: usize = 16 << 20;
/// File-name prefix of the SST files a rebuild writes into the database directory before
/// ingesting them (left over only by a crash; [`remove_leftover_files`] deletes them).
const INGEST_PREFIX: &str = "lsmedic-rebuild-";
/// Most seeks spent locating the end of one unreadable interval.
const MAX_BISECTION_STEPS: usize = 512;
/// Most unreadable intervals one rebuild steps over before giving up on the rest.
const MAX_LOST_INTERVALS: usize = 10_000;

/// Keys and ranges written while a rebuild copies: the copier must not overwrite them.
#[derive(Default)]
pub(crate) struct Touched {
    keys: HashSet<Vec<u8>>,
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Touched {
    pub(crate) fn record(&mut self, op: &Op<'_>) {
        match *op {
            Op::Put(key, _) | Op::Delete(key) => {
                self.keys.insert(key.to_vec());
            }
            Op::DeleteRange(from, to) => self.ranges.push((from.to_vec(), to.to_vec())),
        }
    }

    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        self.keys.contains(key)
            || self
                .ranges
                .iter()
                .any(|(from, to)| from.as_slice() <= key && key < to.as_slice())
    }
}

/// What writers need while a column family is being rebuilt.
pub(crate) struct RebuildState {
    /// The physical CF being filled.
    pub(crate) new_handle: DetachedCf,
    /// Its name.
    pub(crate) new_name: String,
    /// Keys written since the rebuild started; held while writing to both CFs.
    pub(crate) touched: Mutex<Touched>,
    /// The database both column families are in (after `new_handle`: dropped last).
    pub(crate) db: Arc<DB>,
}

/// The smallest key greater than `key`.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

/// `floor((a + b) / 2)` of two equal-length big-endian byte strings.
fn midpoint(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut sum = vec![0u16; a.len()];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        sum[i] = s & 0xff;
        carry = s >> 8;
    }
    let mut out = vec![0u8; a.len()];
    let mut high = carry;
    for i in 0..a.len() {
        let value = (high << 8) | sum[i];
        out[i] = (value >> 1) as u8;
        high = value & 1;
    }
    out
}

fn padded(key: &[u8], len: usize) -> Vec<u8> {
    let mut out = key.to_vec();
    out.resize(len, 0);
    out
}

/// Whether `a + 1 < b` for equal-length big-endian byte strings.
fn gap_above_one(a: &[u8], b: &[u8]) -> bool {
    let mut a_plus_one = a.to_vec();
    for byte in a_plus_one.iter_mut().rev() {
        let (value, overflow) = byte.overflowing_add(1);
        *byte = value;
        if !overflow {
            break;
        }
    }
    a_plus_one.as_slice() < b
}

/// What identifies the `damaged` files of physical column family `physical` to a table
/// filter: their numbers, and their entry and deletion counts as the live-file list has
/// them.
fn skip_tables(db: &DB, physical: &str, damaged: &BTreeSet<u64>) -> raw::SkipTables {
    let shapes = db
        .live_files()
        .unwrap_or_default()
        .into_iter()
        .filter(|file| file.column_family_name == physical)
        .filter(|file| sst_number(&file.name).is_some_and(|number| damaged.contains(&number)))
        .map(|file| (file.num_entries, file.num_deletions))
        .collect();
    raw::SkipTables {
        numbers: damaged.clone(),
        shapes,
    }
}

/// The number of the SST file a RocksDB corruption message names (`…/000123.sst …`).
fn sst_number(message: &str) -> Option<u64> {
    let at = message.find(".sst")?;
    let digits: String = message[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

/// A write failing with corruption during a rebuild means RocksDB already holds a background
/// error (a compaction met the damage before the rebuild began, with
/// `contain_compaction_corruption` off) and refuses every write until the database is
/// reopened: say so.
fn explain_stopped_writes(cf: &str, err: Error) -> Error {
    if err.is_corruption() {
        rebuild_error(
            cf,
            format!(
                "RocksDB stopped writes after a background error ({err}); reopen the engine \
                 (RocksDB cannot resume from corruption) and rebuild again, or open it with \
                 contain_compaction_corruption on"
            ),
        )
    } else {
        err
    }
}

fn rebuild_error(cf: &str, message: impl Into<String>) -> Error {
    Error::Rebuild {
        cf: cf.to_owned(),
        message: message.into(),
    }
}

/// Writes the copy into SST files and ingests them into the new CF, file by file.
///
/// Writing the copy through the memtable would make the new CF flush a file per memtable
/// and pile up L0 files faster than compactions clear them: the L0 stop trigger would stop
/// every write of the database for as long as the copy runs. Ingested files bypass the
/// memtable and land in the lowest level they fit. A copied key that a foreground write
/// touches before its file is ingested must not be ingested (the ingested file would be
/// newer than the write): the touched set is checked, with its mutex held until the
/// ingestion ends, and a file with touched keys is written as a batch without them instead.
struct Ingester<'a> {
    engine: &'a Engine,
    cf: &'a str,
    state: &'a RebuildState,
    options: &'a Options,
    /// The pairs of the file being written (kept to fall back to a batch).
    pending: Vec<(Vec<u8>, Vec<u8>)>,
    pending_bytes: usize,
    files: u64,
}

impl<'a> Ingester<'a> {
    fn new(engine: &'a Engine, cf: &'a str, state: &'a RebuildState, options: &'a Options) -> Self {
        Ingester {
            engine,
            cf,
            state,
            options,
            pending: Vec::new(),
            pending_bytes: 0,
            files: 0,
        }
    }

    /// Queues a chunk of ascending keys; ingests a file when enough is queued. Returns the
    /// keys written into the new CF so far by this call.
    fn add(&mut self, chunk: Vec<(Vec<u8>, Vec<u8>)>) -> Result<u64> {
        self.pending_bytes += chunk.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        self.pending.extend(chunk);
        if self.pending_bytes >= INGEST_FILE_BYTES {
            self.commit()
        } else {
            Ok(0)
        }
    }

    /// Writes and ingests what is queued; returns the keys written into the new CF.
    fn commit(&mut self) -> Result<u64> {
        let pairs = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        if pairs.is_empty() {
            return Ok(0);
        }
        self.files += 1;
        let path = self.engine.path().join(format!(
            "{INGEST_PREFIX}{}-{}.sst",
            self.state.new_name, self.files
        ));
        let written = self.write_file(&path, &pairs);
        let touched = self.state.touched.lock();
        let outcome = match written {
            Ok(()) if !pairs.iter().any(|(key, _)| touched.covers(key)) => {
                let mut ingest = IngestExternalFileOptions::default();
                ingest.set_move_files(true);
                self.state
                    .db
                    .ingest_external_file_cf_opts(&self.state.new_handle, &ingest, vec![&path])
                    .map(|()| pairs.len() as u64)
                    .map_err(|e| Error::rocksdb("rebuild: ingest", Some(self.cf), None, e))
            }
            // Touched keys, or the file could not be written: a batch without them.
            _ => self
                .engine
                .write_untouched(self.cf, self.state, &touched, &pairs),
        };
        drop(touched);
        let _ = std::fs::remove_file(&path);
        outcome
    }

    fn write_file(&self, path: &std::path::Path, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let fail = |e: rocksdb::Error| Error::rocksdb("rebuild: write SST", Some(self.cf), None, e);
        let mut writer = SstFileWriter::create(self.options);
        writer.open(path).map_err(fail)?;
        for (key, value) in pairs {
            writer.put(key, value).map_err(fail)?;
        }
        writer.finish().map_err(fail)
    }
}

/// Deletes the SST files an interrupted rebuild left in the database directory.
pub(crate) fn remove_leftover_files(db_path: &std::path::Path) {
    for entry in std::fs::read_dir(db_path).into_iter().flatten().flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(INGEST_PREFIX))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Engine {
    /// Rebuilds a column family into a fresh physical CF (see the module docs) and reports
    /// what was copied and what could not be read.
    pub fn rebuild_cf(&self, cf: &str) -> Result<RebuildReport> {
        if cf == DEFAULT_CF {
            return Err(rebuild_error(
                cf,
                "the default column family cannot be rebuilt (RocksDB cannot drop it)",
            ));
        }
        let started = Instant::now();
        let _admin = self.cf_admin_lock();
        let (db, old_physical, old_handle, generation, options) = {
            let table = self.cf_table();
            let entry = table.get(cf)?;
            let db = Arc::clone(table.db()?);
            let generation = cf_map::parse_generation(&entry.physical).map_or(1, |(_, g)| g + 1);
            let mut options = self.config().cf_options_for(cf).clone();
            if let Some(values) = self.tunables_lock().cfs.get(cf) {
                options.apply_tunables(values);
            }
            (
                db,
                entry.physical.clone(),
                Arc::clone(&entry.handle),
                generation,
                options,
            )
        };
        let new_physical = cf_map::physical_name(cf, generation);
        let auto_compactions_were_off = options.disable_auto_compactions;
        db.set_options_cf(&old_handle, &[("disable_auto_compactions", "true")])
            .map_err(|e| Error::rocksdb("rebuild: pause compactions", Some(cf), None, e))?;
        let cf_options = options.rocksdb_options(&self.block_cache_lock());
        db.create_cf(&new_physical, &cf_options)
            .map_err(|e| Error::rocksdb("rebuild: create column family", Some(cf), None, e))?;
        let new_handle = db
            .cf_handle(&new_physical)
            .ok_or_else(|| rebuild_error(cf, "new column family has no handle"))?;
        // SAFETY: kept only in the CF table, the rebuild state and this stack frame, all
        // dropped before `db` (a table and the state hold it beside the handle).
        let new_handle = unsafe { raw::detach_cf(new_handle) };
        let state = Arc::new(RebuildState {
            new_handle: Arc::clone(&new_handle),
            new_name: new_physical.clone(),
            touched: Mutex::new(Touched::default()),
            db: Arc::clone(&db),
        });
        self.publish(self.table_with(cf, |entry| entry.rebuild = Some(Arc::clone(&state)))?);

        let mut report = RebuildReport {
            cf: cf.to_owned(),
            old_physical: old_physical.clone(),
            new_physical: new_physical.clone(),
            ..RebuildReport::default()
        };
        let copied = self.copy_into(
            cf,
            &old_physical,
            &old_handle,
            &state,
            &cf_options,
            &mut report,
        );
        let finished = copied.and_then(|()| {
            db.flush_cf(&new_handle)
                .map_err(|e| Error::rocksdb("rebuild: flush new column family", Some(cf), None, e))
        });
        if let Err(err) = finished {
            // Roll back: the old CF has every write (dual writes included); forget the new.
            self.publish(self.table_with(cf, |entry| entry.rebuild = None)?);
            drop(state);
            drop(new_handle);
            let _ = db.drop_cf(&new_physical);
            // A quarantined CF keeps its compactions off: its files are damaged.
            if !auto_compactions_were_off && !self.is_quarantined(&old_physical) {
                let _ = db.set_options_cf(&old_handle, &[("disable_auto_compactions", "false")]);
            }
            return Err(explain_stopped_writes(cf, err));
        }

        let swapped = self.table_with(cf, |entry| {
            entry.physical = new_physical.clone();
            entry.handle = Arc::clone(&new_handle);
            entry.rebuild = None;
        })?;
        // The commit point: once the map is stored, the new CF serves the name. The report
        // goes in the same batch, so a crash after it loses neither.
        report.duration = started.elapsed();
        self.commit_rebuild(&Engine::cf_map_of(&swapped), cf, &report)?;
        self.publish(swapped);
        drop(state);
        drop(old_handle);
        db.drop_cf(&old_physical)
            .map_err(|e| Error::rocksdb("rebuild: drop old column family", Some(cf), None, e))?;
        // The damaged files went with it: a quarantine of the old CF ends here.
        self.forget_quarantine(&old_physical);
        // The new CF is in no checkpoint, and its copies left a gap in the WAL's sequence
        // numbers that a replay cannot cross: a fresh checkpoint covers both.
        if let Some(checkpointer) = self.checkpointer() {
            checkpointer.request();
        }
        Ok(report)
    }

    /// The current table with the entry of `cf` changed by `change`.
    fn table_with(&self, cf: &str, change: impl FnOnce(&mut CfEntry)) -> Result<CfTable> {
        let current = self.cf_table();
        let mut entries: Vec<CfEntry> = current.entries.iter().map(CfEntry::share).collect();
        if let Some(entry) = entries.iter_mut().find(|entry| entry.name == cf) {
            change(entry);
        }
        current.with_entries(entries)
    }

    /// Writes `chunk` into the new CF, skipping keys written since the rebuild started.
    pub(crate) fn copy_chunk(
        &self,
        cf: &str,
        state: &RebuildState,
        chunk: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64> {
        let touched = state.touched.lock();
        self.write_untouched(cf, state, &touched, chunk)
    }

    /// Writes the pairs of `chunk` that `touched` does not cover into the new CF, without
    /// the WAL (the rebuild flushes the new CF before it commits).
    fn write_untouched(
        &self,
        cf: &str,
        state: &RebuildState,
        touched: &Touched,
        chunk: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64> {
        let mut no_wal = WriteOptions::default();
        no_wal.disable_wal(true);
        let mut batch = rocksdb::WriteBatch::default();
        let mut copied = 0;
        for (key, value) in chunk {
            if !touched.covers(key) {
                batch.put_cf(&state.new_handle, key, value);
                copied += 1;
            }
        }
        state
            .db
            .write_opt(batch, &no_wal)
            .map_err(|e| Error::rocksdb("rebuild: copy", Some(cf), None, e))?;
        Ok(copied)
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_into(
        &self,
        cf: &str,
        old_physical: &str,
        old: &DetachedCf,
        state: &RebuildState,
        cf_options: &Options,
        report: &mut RebuildReport,
    ) -> Result<()> {
        let snapshot = state.db.snapshot();
        let mut ingester = Ingester::new(self, cf, state, cf_options);
        let mut resume: Option<Vec<u8>> = None;
        let mut lost = Vec::new();
        let mut damaged = BTreeSet::new();
        loop {
            let mut read = ReadOptions::default();
            read.set_snapshot(&snapshot);
            read.fill_cache(false);
            let mut iter = state.db.raw_iterator_cf_opt(old, read);
            match &resume {
                None => iter.seek_to_first(),
                Some(key) => iter.seek(key),
            }
            let mut last_good: Option<Vec<u8>> = None;
            loop {
                let mut chunk = Vec::with_capacity(CHUNK_KEYS);
                while chunk.len() < CHUNK_KEYS {
                    match iter.item() {
                        Some((key, value)) => chunk.push((key.to_vec(), value.to_vec())),
                        None => break,
                    }
                    iter.next();
                }
                if let Some((key, _)) = chunk.last() {
                    last_good = Some(key.clone());
                }
                report.bytes_copied += chunk
                    .iter()
                    .map(|(k, v)| (k.len() + v.len()) as u64)
                    .sum::<u64>();
                report.keys_copied += ingester.add(chunk)?;
                if !iter.valid() {
                    break;
                }
            }
            let err = match iter.status() {
                Ok(()) => break,
                Err(err) => err,
            };
            if err.kind() != ErrorKind::Corruption {
                return Err(Error::rocksdb("rebuild: read", Some(cf), None, err));
            }
            let message = err.into_string();
            if let Some(number) = sst_number(&message) {
                damaged.insert(number);
                let name = format!("{number:06}.sst");
                if !report.skipped_files.contains(&name) {
                    report.skipped_files.push(name);
                }
            }
            // The unreadable interval starts right after the last key read (or where this
            // pass started).
            let start = match (&last_good, &resume) {
                (Some(key), _) => successor(key),
                (None, Some(key)) => key.clone(),
                (None, None) => Vec::new(),
            };
            let next = self.first_readable_from(&state.db, old_physical, old, &snapshot, &start);
            let give_up = lost.len() + 1 >= MAX_LOST_INTERVALS;
            match next {
                Some(end) if !give_up && Some(&end) != resume.as_ref() => {
                    lost.push(LostRange {
                        start,
                        end: Some(end.clone()),
                    });
                    resume = Some(end);
                }
                _ => {
                    lost.push(LostRange { start, end: None });
                    break;
                }
            }
        }
        report.keys_copied += ingester.commit()?;
        drop(ingester);
        if !lost.is_empty() {
            let mut candidates = BTreeSet::new();
            lost = self.recover_from_checkpoint(
                cf,
                old_physical,
                old,
                state,
                &snapshot,
                lost,
                report,
                &mut candidates,
            )?;
            report.keys_copied += self.salvage(
                cf,
                (old_physical, old),
                state,
                &snapshot,
                &lost,
                candidates,
                &damaged,
            )?;
        }
        report.lost_ranges = lost;
        Ok(())
    }

    /// Copies the keys of lost ranges that still read back by point lookup: those in the
    /// memtables, `candidates` (keys a checkpoint holds in the ranges), and every key an
    /// iteration that skips the `damaged` SST files finds in them (the keys of other files
    /// in the damaged file's key span: for a sparse L0 file, most of the span). A point
    /// lookup searches newest-first, consults every file (a damaged one's filter and index
    /// included), and fails with corruption if it reaches the damaged block, so a value it
    /// returns is the key's current one; a key whose newest version was in the damaged
    /// block stays lost. The ranges stay in the report: other keys in them may be lost.
    #[allow(clippy::too_many_arguments)]
    fn salvage(
        &self,
        cf: &str,
        (old_physical, old): (&str, &DetachedCf),
        state: &RebuildState,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        lost: &[LostRange],
        mut candidates: BTreeSet<Vec<u8>>,
        damaged: &BTreeSet<u64>,
    ) -> Result<u64> {
        for range in lost {
            candidates.extend(self.memtable_keys(&state.db, old, snapshot, range));
        }
        let in_lost = |key: &Vec<u8>| lost.iter().any(|range| range.contains(key));
        let keys: Vec<Vec<u8>> = candidates.into_iter().filter(in_lost).collect();
        let mut copied = self.salvage_keys(cf, old, state, snapshot, keys)?;
        if damaged.is_empty() {
            return Ok(copied);
        }
        let skip = skip_tables(&state.db, old_physical, damaged);
        for range in lost {
            let mut keys = raw::FilteredKeys::new(&state.db, old, skip.clone(), &range.start);
            loop {
                // Another damaged file ends the search: its keys stay lost.
                let chunk = keys
                    .next_keys(range.end.as_deref(), CHUNK_KEYS)
                    .unwrap_or_default();
                let last = chunk.len() < CHUNK_KEYS;
                copied += self.salvage_keys(cf, old, state, snapshot, chunk)?;
                if last {
                    break;
                }
            }
        }
        Ok(copied)
    }

    /// Copies those of `keys` that read back by point lookup at the snapshot.
    fn salvage_keys(
        &self,
        cf: &str,
        old: &DetachedCf,
        state: &RebuildState,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        keys: Vec<Vec<u8>>,
    ) -> Result<u64> {
        let mut found = Vec::new();
        for key in keys {
            let mut read = ReadOptions::default();
            read.set_snapshot(snapshot);
            read.fill_cache(false);
            match state.db.get_cf_opt(old, &key, &read) {
                Ok(Some(value)) => found.push((key, value)),
                Ok(None) => {}
                Err(err) if err.kind() == ErrorKind::Corruption => {}
                Err(err) => return Err(Error::rocksdb("rebuild: salvage", Some(cf), None, err)),
            }
        }
        let mut copied = 0;
        for chunk in found.chunks(CHUNK_KEYS) {
            copied += self.copy_chunk(cf, state, chunk)?;
        }
        Ok(copied)
    }

    /// Whether a seek to `key` in the snapshot succeeds (reads no damaged block).
    fn seek_ok(
        &self,
        db: &DB,
        old: &DetachedCf,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        key: &[u8],
    ) -> bool {
        let mut read = ReadOptions::default();
        read.set_snapshot(snapshot);
        read.fill_cache(false);
        let mut iter = db.raw_iterator_cf_opt(old, read);
        iter.seek(key);
        iter.status().is_ok()
    }

    /// The smallest key ≥ `from` (up to bisection precision) from which the old CF reads
    /// again; `None` if nothing after `from` can be read.
    fn first_readable_from(
        &self,
        db: &DB,
        old_physical: &str,
        old: &DetachedCf,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        from: &[u8],
    ) -> Option<Vec<u8>> {
        if self.seek_ok(db, old, snapshot, from) {
            return Some(from.to_vec());
        }
        // Past the largest key of every file no block is read, so a seek there succeeds.
        let largest = db
            .live_files()
            .ok()?
            .into_iter()
            .filter(|file| file.column_family_name == old_physical)
            .filter_map(|file| file.end_key)
            .max()?;
        let mut beyond = largest;
        beyond.push(0xff);
        let len = beyond.len().max(from.len()) + 1;
        let (mut low, mut high) = (padded(from, len), padded(&beyond, len));
        if !self.seek_ok(db, old, snapshot, &high) {
            return None;
        }
        let mut steps = 0;
        while gap_above_one(&low, &high) && steps < MAX_BISECTION_STEPS {
            let mid = midpoint(&low, &high);
            if self.seek_ok(db, old, snapshot, &mid) {
                high = mid;
            } else {
                low = mid;
            }
            steps += 1;
        }
        Some(high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midpoint_of_byte_strings() {
        assert_eq!(midpoint(&[0, 0], &[0, 10]), vec![0, 5]);
        assert_eq!(midpoint(&[0, 255], &[1, 1]), vec![1, 0]);
        assert_eq!(midpoint(&[255, 255], &[255, 255]), vec![255, 255]);
        assert_eq!(midpoint(&[1, 0], &[2, 0]), vec![1, 128]);
    }

    #[test]
    fn gap_detection() {
        assert!(gap_above_one(&[0, 1], &[0, 3]));
        assert!(!gap_above_one(&[0, 1], &[0, 2]));
        assert!(!gap_above_one(&[0, 255], &[1, 0]));
        assert!(gap_above_one(&[0, 255], &[1, 1]));
    }

    #[test]
    fn sst_numbers_are_read_from_messages() {
        assert_eq!(
            sst_number("Corruption: block checksum mismatch in /db/000123.sst offset 5"),
            Some(123)
        );
        assert_eq!(sst_number("Corruption: bad block"), None);
    }

    #[test]
    fn touched_covers_keys_and_half_open_ranges() {
        let mut touched = Touched::default();
        touched.record(&Op::Put(b"k", b"v"));
        touched.record(&Op::DeleteRange(b"b", b"d"));
        assert!(touched.covers(b"k"));
        assert!(touched.covers(b"b") && touched.covers(b"c\xff"));
        assert!(!touched.covers(b"d") && !touched.covers(b"a"));
    }

    proptest::proptest! {
        #[test]
        fn midpoint_lies_between(a in proptest::collection::vec(0u8.., 1..8), b in proptest::collection::vec(0u8.., 1..8)) {
            let len = a.len().max(b.len());
            let (a, b) = (padded(&a, len), padded(&b, len));
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            let mid = midpoint(&low, &high);
            proptest::prop_assert!(low <= mid && mid <= high);
        }
    }
}
