//! `disk_full`: the database's file system runs out of space, then space comes back.
//!
//! The bench never fills a disk it did not mount itself. A run of a scenario with a
//! `disk_full` fault puts its temporary directory (the database in `db`, its checkpoints
//! beside it) on a tmpfs of `disk_mb` MiB that the run mounts ([`ScratchDisk`]) and unmounts
//! when the guard is dropped, whether the run ends, fails or panics. Mounting needs root;
//! when it fails the run fails with the reason, never falling back to an ordinary directory.
//!
//! When the fault starts, a ballast file beside the database directory is written in 1 MiB
//! chunks until the file system says it is full (`ENOSPC`); a thread tops it up every 50 ms
//! while the fault lasts, so space RocksDB frees (obsolete files) is taken again. The fault
//! refuses to act unless the database directory is on the run's own tmpfs (same device as
//! the mount point), and stops writing the ballast once it is larger than the tmpfs.
//! Lifting the fault (or dropping its [`Ballast`], also when the run fails) stops the thread
//! and deletes the ballast.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{spawn_fault_threads, wait_until, Applied, Undo};
use crate::measure::Recorder;
use crate::runner::Shared;

/// Bytes per ballast write.
const CHUNK: usize = 1 << 20;
/// How often the ballast is topped up while the fault lasts.
const TOP_UP_EVERY: Duration = Duration::from_millis(50);
/// Name of the ballast file, beside the database directory.
const BALLAST_NAME: &str = "lsmedic-disk-full-ballast";

/// Why the run could not get a tmpfs of its own for `disk_full`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MountError {
    /// Mounting needs root.
    #[error(
        "the disk_full fault needs a {mb} MiB tmpfs mounted for the run's database, and \
         mounting needs root (this process runs as uid {uid}); the bench never fills a disk \
         it did not mount itself: run as root, or leave disk_full scenarios out"
    )]
    NotRoot {
        /// Size asked for, MiB.
        mb: u64,
        /// The process's user id.
        uid: u32,
    },
    /// No `mount` program to run.
    #[error(
        "the disk_full fault needs a {mb} MiB tmpfs mounted for the run's database, but \
         `mount` could not be run ({source}): install util-linux's mount"
    )]
    NoMountProgram {
        /// Size asked for, MiB.
        mb: u64,
        /// Why it could not be run.
        source: std::io::Error,
    },
    /// `mount` ran and failed.
    #[error(
        "the disk_full fault needs a {mb} MiB tmpfs for the run's database: \
         `mount -t tmpfs -o size={mb}m` on {dir} failed ({message}); it needs root (or \
         CAP_SYS_ADMIN) and tmpfs support, and the bench never falls back to the machine's disk"
    )]
    Failed {
        /// Size asked for, MiB.
        mb: u64,
        /// The mount point.
        dir: PathBuf,
        /// What `mount` said.
        message: String,
    },
    /// `mount` succeeded but the directory is not a tmpfs of its own.
    #[error(
        "after mounting a tmpfs on {dir} for the disk_full fault, {dir} is not a tmpfs mount \
         of its own ({why}); not filling it"
    )]
    NotMounted {
        /// The mount point.
        dir: PathBuf,
        /// What was found instead.
        why: String,
    },
}

/// A tmpfs of a few MiB mounted on an empty directory for one run; unmounted when dropped
/// (lazily if something still holds a file open on it).
pub(crate) struct ScratchDisk {
    info: DiskInfo,
}

/// Where a [`ScratchDisk`] is, for the fault to check it acts on nothing else.
#[derive(Clone, Debug)]
pub(crate) struct DiskInfo {
    /// The mount point.
    pub(crate) path: PathBuf,
    /// Device id of the mounted file system.
    pub(crate) dev: u64,
    /// Size, MiB.
    pub(crate) mb: u64,
}

impl ScratchDisk {
    /// Mounts a tmpfs of `mb` MiB on `dir` (an empty directory the run created).
    pub(crate) fn mount(dir: &Path, mb: u64) -> Result<ScratchDisk, MountError> {
        if let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
            if uid != 0 {
                return Err(MountError::NotRoot { mb, uid });
            }
        }
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m,mode=0700")])
            .arg("lsmedic-bench")
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| MountError::NoMountProgram { mb, source })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            return Err(MountError::Failed {
                mb,
                dir: dir.to_owned(),
                message: if stderr.is_empty() {
                    output.status.to_string()
                } else {
                    stderr
                },
            });
        }
        // From here the guard unmounts, also when the checks below fail.
        let mut disk = ScratchDisk {
            info: DiskInfo {
                path: dir.to_owned(),
                dev: 0,
                mb,
            },
        };
        disk.info.dev = own_tmpfs_device(dir).map_err(|why| MountError::NotMounted {
            dir: dir.to_owned(),
            why,
        })?;
        Ok(disk)
    }

    /// Where it is mounted, its device and size.
    pub(crate) fn info(&self) -> &DiskInfo {
        &self.info
    }
}

impl Drop for ScratchDisk {
    fn drop(&mut self) {
        let dir = &self.info.path;
        let umount = |lazy: bool| {
            let mut command = Command::new("umount");
            if lazy {
                command.arg("-l");
            }
            command
                .arg(dir)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        // A file still open (a thread of a failed run holding the engine) keeps it busy:
        // detach it then; the kernel frees it when the last file is closed.
        if !umount(false) && !umount(true) {
            eprintln!(
                "warning: could not unmount the disk_full tmpfs at {}",
                dir.display()
            );
        }
    }
}

/// The device of `dir` when it is the root of a tmpfs mount (on another device than its
/// parent, listed as `tmpfs` at exactly `dir` in `/proc/self/mountinfo`).
fn own_tmpfs_device(dir: &Path) -> Result<u64, String> {
    let dev = std::fs::metadata(dir)
        .map_err(|e| format!("cannot stat it: {e}"))?
        .dev();
    let parent = dir.parent().ok_or("it has no parent directory")?;
    let parent_dev = std::fs::metadata(parent)
        .map_err(|e| format!("cannot stat its parent: {e}"))?
        .dev();
    if dev == parent_dev {
        return Err("it is on the same device as its parent directory".to_owned());
    }
    let canonical = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve it: {e}"))?;
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    // Fields: id parent major:minor root mount-point options [optional…] - fstype source …
    let fstype = table.lines().rev().find_map(|line| {
        let mut fields = line.split(' ');
        let point = fields.nth(4)?;
        (Path::new(&unescape_mountinfo(point)) == canonical)
            .then(|| {
                line.split(" - ")
                    .nth(1)?
                    .split(' ')
                    .next()
                    .map(str::to_owned)
            })
            .flatten()
    });
    match fstype.as_deref() {
        Some("tmpfs") => Ok(dev),
        Some(other) => Err(format!("it is mounted as {other}")),
        None => Err("/proc/self/mountinfo lists no mount there".to_owned()),
    }
}

/// A mount point as `/proc/self/mountinfo` writes it: space, tab, newline and backslash as
/// octal escapes (`\040`).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The ballast of a `disk_full` fault in progress: dropping it (or [`Ballast::lift`]) stops
/// the top-up thread and deletes the file.
pub(crate) struct Ballast {
    inner: Arc<BallastFile>,
    stop: Arc<AtomicBool>,
}

/// The ballast file, shared by the fault's guard and its top-up thread.
struct BallastFile {
    path: PathBuf,
    /// `None` once lifted.
    file: Mutex<Option<File>>,
    /// Never more than this many bytes: the tmpfs' size.
    limit: u64,
}

impl BallastFile {
    /// Appends 1 MiB chunks until the file system is full; returns the bytes written.
    fn fill(&self) -> Result<u64, String> {
        let mut guard = self.file.lock();
        let Some(file) = guard.as_mut() else {
            return Ok(0);
        };
        let chunk = vec![0xa5u8; CHUNK];
        let mut written = 0;
        loop {
            let size = file
                .metadata()
                .map_err(|e| format!("stat {}: {e}", self.path.display()))?
                .len();
            if size >= self.limit {
                return Err(format!(
                    "{} reached {} MiB without filling its file system: not the run's tmpfs?",
                    self.path.display(),
                    size >> 20
                ));
            }
            match file.write_all(&chunk) {
                Ok(()) => written += CHUNK as u64,
                Err(e) if e.kind() == ErrorKind::StorageFull => return Ok(written),
                Err(e) => return Err(format!("write {}: {e}", self.path.display())),
            }
        }
    }

    /// Closes and deletes the file (once).
    fn remove(&self) -> Result<(), String> {
        let Some(file) = self.file.lock().take() else {
            return Ok(());
        };
        drop(file);
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("remove {}: {e}", self.path.display())),
        }
    }
}

impl Ballast {
    /// Stops topping up and deletes the ballast, giving the space back.
    pub(super) fn lift(&self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        self.inner.remove()
    }
}

impl Drop for Ballast {
    fn drop(&mut self) {
        let _ = self.lift();
    }
}

/// Fills the run's tmpfs with a ballast beside the database directory and starts the
/// thread that keeps it full.
pub(super) fn disk_full(shared: &Arc<Shared>, disk_mb: u64) -> Result<Applied, String> {
    let disk = shared.scratch_disk.as_ref().ok_or(
        "disk_full acts only on a tmpfs the run mounted for its database, and this run has none",
    )?;
    let db = shared.engine.path();
    let parent = db
        .parent()
        .ok_or("the database directory has no parent to put the ballast in")?;
    let device = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.dev())
            .map_err(|e| format!("cannot stat {}: {e}", path.display()))
    };
    if parent != disk.path || device(parent)? != disk.dev || device(db)? != disk.dev {
        return Err(format!(
            "the database {} is not on the run's tmpfs at {}: not filling it",
            db.display(),
            disk.path.display()
        ));
    }
    let path = parent.join(BALLAST_NAME);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let ballast = Ballast {
        inner: Arc::new(BallastFile {
            path,
            file: Mutex::new(Some(file)),
            limit: disk.mb.max(disk_mb) << 20,
        }),
        stop: Arc::clone(&stop),
    };
    // On an error the guard deletes what was written.
    let filled = ballast.inner.fill()?;
    let inner = Arc::clone(&ballast.inner);
    let storm_threads =
        spawn_fault_threads(shared, &stop, 1, "disk-full", move |shared, stop, _| {
            while wait_until(&shared, &stop, Instant::now() + TOP_UP_EVERY) {
                if let Err(e) = inner.fill() {
                    shared.warn(format!("disk_full: {e}"));
                    break;
                }
            }
            Recorder::new(shared.t0)
        })?;
    Ok(Applied {
        detail: format!(
            "{} MiB ballast written beside the database until its {} MiB tmpfs was full, kept \
             full while the fault lasts",
            filled >> 20,
            disk.mb
        ),
        undo: Undo::DiskFull { ballast },
        storm_threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape_mountinfo("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape_mountinfo("/tmp/x\\134y"), "/tmp/x\\y");
        assert_eq!(unescape_mountinfo("/plain\\04"), "/plain\\04");
    }
}
