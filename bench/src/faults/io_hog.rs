//! `io_hog`: a noisy neighbour on the database's filesystem. Threads write large files in a
//! directory beside the database (in its parent directory, never inside RocksDB's), fsync
//! every [`SYNC_BYTES`], at a byte rate or flat out, optionally with `O_DIRECT`, taking
//! device bandwidth from the WAL, flushes, compactions and reads.
//!
//! Disk use is bounded: each thread alternates between two files, rewriting one from the
//! start once the other has reached `file_bytes`. Nothing is left behind: a thread removes
//! its files when it ends (also when it panics), and the directory goes with the [`HogDir`]
//! guard, which stops the threads and waits for them when dropped, whether the fault is
//! lifted or the run fails.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{behind_by, spawn_fault_threads, stopped, wait_until, Applied, Undo};
use crate::keygen::Rng;
use crate::measure::Recorder;
use crate::runner::Shared;

/// Bytes per write call: a multiple of any device's logical block size, as `O_DIRECT` needs.
const CHUNK: usize = 256 << 10;
/// Alignment of the write buffer for `O_DIRECT`.
const ALIGN: usize = 4096;
/// Bytes written between two fsyncs.
const SYNC_BYTES: u64 = 4 << 20;
/// How long dropping the guard waits for the threads before leaving the directory to the
/// last of them.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// The hog's directory and its threads' stop flag: dropping it stops the threads, waits for
/// them (at most [`STOP_WAIT`]) and removes the directory with whatever is left in it.
pub(crate) struct HogDir {
    stop: Arc<AtomicBool>,
    dir: Option<Arc<TempDir>>,
}

impl HogDir {
    /// Tells the threads to stop (they remove their files as they go).
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for HogDir {
    fn drop(&mut self) {
        self.stop();
        let Some(mut dir) = self.dir.take() else {
            return;
        };
        let deadline = Instant::now() + STOP_WAIT;
        // The directory is removed when its last holder lets go: here once every thread has
        // ended, else by the last thread to end.
        while Instant::now() < deadline {
            match Arc::try_unwrap(dir) {
                Ok(alone) => {
                    drop(alone);
                    return;
                }
                Err(shared) => {
                    dir = shared;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

/// A thread's two files, removed when the thread ends, however it ends.
struct HogFiles {
    paths: [PathBuf; 2],
    /// Keeps the directory alive while the thread writes in it.
    _dir: Arc<TempDir>,
}

impl Drop for HogFiles {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What every writer thread does.
#[derive(Clone, Copy)]
pub(super) struct IoHog {
    /// Bytes/s over all threads, `None` = flat out.
    pub(super) bytes_per_sec: Option<f64>,
    /// Writer threads.
    pub(super) threads: u32,
    /// Size a file reaches before the thread moves to its other file.
    pub(super) file_bytes: u64,
    /// `O_DIRECT` asked for.
    pub(super) direct: bool,
}

pub(super) fn io_hog(shared: &Arc<Shared>, hog: IoHog, seed: u64) -> Result<Applied, String> {
    let parent = shared
        .engine
        .path()
        .parent()
        .ok_or("the database directory has no parent to put the hog's files in")?;
    let dir = tempfile::Builder::new()
        .prefix("lsmedic-io-hog-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
    let direct = hog.direct && direct_io_works(shared, dir.path());
    let dir = Arc::new(dir);
    let stop = Arc::new(AtomicBool::new(false));
    let guard = HogDir {
        stop: Arc::clone(&stop),
        dir: Some(Arc::clone(&dir)),
    };
    let writer = Writer {
        hog,
        direct,
        seed,
        dir,
    };
    let storm_threads = spawn_fault_threads(
        shared,
        &stop,
        hog.threads,
        "io-hog",
        move |shared, stop, thread| {
            writer.run(&shared, &stop, thread);
            Recorder::new(shared.t0)
        },
    )?;
    Ok(Applied {
        detail: format!(
            "{} thread(s) writing {} MiB files{} at {} in {}",
            hog.threads,
            (chunks_per_file(hog.file_bytes) * CHUNK as u64) >> 20,
            if direct { " with O_DIRECT" } else { "" },
            hog.bytes_per_sec
                .map_or("full speed".to_owned(), |r| format!(
                    "{:.1} MiB/s",
                    r / f64::from(1 << 20)
                )),
            parent.display()
        ),
        undo: Undo::IoHog { dir: guard },
        storm_threads,
    })
}

/// Whole chunks in a file of about `file_bytes` (rounded up).
fn chunks_per_file(file_bytes: u64) -> u64 {
    file_bytes.div_ceil(CHUNK as u64).max(1)
}

/// Opens `path` for rewriting from the start, with `O_DIRECT` when `direct`.
fn open_for_rewrite(path: &Path, direct: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if direct {
        options.custom_flags(libc::O_DIRECT);
    }
    options.open(path)
}

/// Whether the filesystem of `dir` takes an aligned `O_DIRECT` write; when it does not, the
/// hog writes through the page cache and the run gets a warning saying so.
fn direct_io_works(shared: &Shared, dir: &Path) -> bool {
    let probe = dir.join("probe");
    let mut buffer = vec![0u8; 2 * ALIGN];
    let start = buffer.as_ptr().align_offset(ALIGN);
    let outcome = open_for_rewrite(&probe, true)
        .and_then(|mut file| file.write_all(&buffer[start..start + ALIGN]));
    buffer.clear();
    let _ = std::fs::remove_file(&probe);
    match outcome {
        Ok(()) => true,
        Err(e) => {
            shared.warn(format!(
                "io_hog: the filesystem of {} refuses O_DIRECT ({e}); writing through the page cache",
                dir.display()
            ));
            false
        }
    }
}

/// One writer thread's work.
struct Writer {
    hog: IoHog,
    /// `O_DIRECT` asked for and possible.
    direct: bool,
    seed: u64,
    dir: Arc<TempDir>,
}

impl Writer {
    /// Writes until stopped, alternating between its two files; an I/O error ends the
    /// thread with a warning.
    fn run(&self, shared: &Shared, stop: &AtomicBool, thread: u32) {
        let files = HogFiles {
            paths: [0, 1].map(|i| self.dir.path().join(format!("hog-{thread}-{i}"))),
            _dir: Arc::clone(&self.dir),
        };
        // Random bytes, so that a compressing filesystem writes them all; aligned for O_DIRECT.
        let mut buffer = vec![0u8; CHUNK + ALIGN];
        let mut rng = Rng::new(self.seed ^ u64::from(thread));
        for word in buffer.chunks_mut(8) {
            let bytes = rng.next_u64().to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        let start = buffer.as_ptr().align_offset(ALIGN);
        let chunk = &buffer[start..start + CHUNK];
        let interval = self
            .hog
            .bytes_per_sec
            .map(|rate| Duration::from_secs_f64(CHUNK as f64 * f64::from(self.hog.threads) / rate));
        let mut pacing = Pacing {
            interval,
            next_due: Instant::now(),
        };
        let mut which = 0;
        while !stopped(shared, stop) {
            if let Err(e) = self.fill(shared, stop, &files.paths[which], chunk, &mut pacing) {
                shared.warn(format!("io_hog: {}: {e}", files.paths[which].display()));
                return;
            }
            which ^= 1;
        }
    }

    /// Rewrites `path` with `file_bytes` of `chunk`s, fsyncing every [`SYNC_BYTES`]; returns
    /// early when stopped.
    fn fill(
        &self,
        shared: &Shared,
        stop: &AtomicBool,
        path: &Path,
        chunk: &[u8],
        pacing: &mut Pacing,
    ) -> std::io::Result<()> {
        let mut file = open_for_rewrite(path, self.direct)?;
        let mut unsynced = 0u64;
        for _ in 0..chunks_per_file(self.hog.file_bytes) {
            if !pacing.wait(shared, stop) {
                break;
            }
            file.write_all(chunk)?;
            unsynced += CHUNK as u64;
            if unsynced >= SYNC_BYTES {
                file.sync_data()?;
                unsynced = 0;
            }
        }
        file.sync_data()
    }
}

/// A writer's byte rate: one chunk per `interval`.
struct Pacing {
    /// `None`: flat out.
    interval: Option<Duration>,
    next_due: Instant,
}

impl Pacing {
    /// Waits for the next chunk's turn; false once stopped.
    fn wait(&mut self, shared: &Shared, stop: &AtomicBool) -> bool {
        let Some(interval) = self.interval else {
            return !stopped(shared, stop);
        };
        if !wait_until(shared, stop, self.next_due) {
            return false;
        }
        // A writer the device held back does not catch up in a burst.
        self.next_due = (self.next_due + interval).max(behind_by(interval));
        true
    }
}
