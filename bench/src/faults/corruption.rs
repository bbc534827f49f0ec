//! `sst_corruption`: bytes inverted in place in a live SST file of a column family.
//!
//! Live SST files of a column family are listed through a read-only RocksDB handle on the
//! same directory (`live_files`, which names each file's column family); the engine's own
//! handle is never touched.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Applied, Undo};
use crate::measure::Recorder;
use crate::runner::Shared;

/// Live files chosen at most this often when the chosen one vanishes before it is damaged.
const MAX_ATTEMPTS: u32 = 5;

pub(super) fn sst_corruption(
    shared: &Arc<Shared>,
    cf: &str,
    bytes: usize,
    compact: bool,
) -> Result<Applied, String> {
    let engine = &shared.engine;
    engine
        .flush(cf)
        .map_err(|e| format!("flush before corrupting: {e}"))?;
    let physical = engine.physical_cf(cf).map_err(|e| e.to_string())?;
    // A compaction may delete the chosen file before it is opened: choose again.
    let mut attempts = 0;
    let (file, size) = loop {
        let (file, size) = largest_live_sst(engine.path(), &physical)?;
        if flip_bytes(&file, size / 2, bytes)? {
            break (file, size);
        }
        attempts += 1;
        if attempts == MAX_ATTEMPTS {
            return Err(format!(
                "{MAX_ATTEMPTS} live SST files of {cf:?} were deleted before they could be damaged"
            ));
        }
    };
    let mut storm_threads = Vec::new();
    if compact {
        let shared = Arc::clone(shared);
        let cf = cf.to_owned();
        storm_threads.push(
            std::thread::Builder::new()
                .name("corrupt-compact".into())
                .spawn(move || {
                    let _ = shared.engine.compact_range(&cf, None, None);
                    Recorder::new(shared.t0)
                })
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(Applied {
        detail: format!(
            "{bytes} bytes inverted at offset {} of {} ({size} bytes, column family {cf:?}){}",
            size / 2,
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            if compact {
                ", then a full compaction"
            } else {
                ""
            }
        ),
        undo: Undo::Nothing,
        storm_threads,
    })
}

/// The largest live SST of physical column family `physical` in the database at `db`.
fn largest_live_sst(db: &Path, physical: &str) -> Result<(PathBuf, u64), String> {
    let options = rocksdb::Options::default();
    let names =
        rocksdb::DB::list_cf(&options, db).map_err(|e| format!("list column families: {e}"))?;
    let reader = rocksdb::DB::open_cf_for_read_only(&options, db, &names, false)
        .map_err(|e| format!("open a read-only handle to list live files: {e}"))?;
    let files = reader
        .live_files()
        .map_err(|e| format!("live files: {e}"))?;
    let files: Vec<_> = files
        .into_iter()
        .filter(|f| f.column_family_name == physical)
        .collect();
    // A full compaction leaves bottommost files alone (RocksDB's default
    // `bottommost_level_compaction`), so prefer a file above the bottom level: the compaction
    // the fault starts then has to read the damaged block.
    let bottom = files.iter().map(|f| f.level).max().unwrap_or(0);
    let upper = files
        .iter()
        .filter(|f| f.level < bottom)
        .max_by_key(|f| f.size);
    upper
        .or_else(|| files.iter().max_by_key(|f| f.size))
        .map(|f| (db.join(f.name.trim_start_matches('/')), f.size as u64))
        .ok_or_else(|| format!("column family {physical:?} has no live SST file to corrupt"))
}

/// Inverts `count` bytes of `file` from `offset`, in place (the file stays open in RocksDB);
/// `false` if the file no longer exists (a compaction deleted it).
fn flip_bytes(file: &Path, offset: u64, count: usize) -> Result<bool, String> {
    let handle = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
    {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("open {}: {e}", file.display())),
    };
    let mut bytes = vec![0u8; count];
    let read = handle
        .read_at(&mut bytes, offset)
        .map_err(|e| format!("read {}: {e}", file.display()))?;
    bytes.truncate(read);
    for b in &mut bytes {
        *b ^= 0xff;
    }
    handle
        .write_at(&bytes, offset)
        .map_err(|e| format!("write {}: {e}", file.display()))?;
    handle
        .sync_all()
        .map(|()| true)
        .map_err(|e| format!("sync {}: {e}", file.display()))
}
