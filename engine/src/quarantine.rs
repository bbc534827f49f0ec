//! Containment of corruption found by a compaction.
//!
//! When a compaction reads a damaged SST file, RocksDB raises a background error and, from
//! then on, refuses every write to every column family until the database is reopened. The
//! damage is in one column family's files, and the compaction's own output is discarded, so
//! nothing in the database is inconsistent: refusing writes protects nothing. With
//! [`EngineConfig::contain_compaction_corruption`](crate::EngineConfig) (on by default) the
//! event listener instead:
//!
//! 1. attributes the error to the column family whose compaction failed with a corruption
//!    status (RocksDB reports the failed compaction, then raises the error, on one thread);
//! 2. clears the status RocksDB hands the listener (`rocksdb_reset_status`): RocksDB 11.8's
//!    error handler then keeps no background error, so writes go on;
//! 3. quarantines that physical column family: a thread of the engine turns its automatic
//!    compactions off, so the damaged file is not read again every second (RocksDB retries a
//!    failed compaction); [`Engine::quarantined_cfs`](crate::Engine::quarantined_cfs) lists
//!    the logical names, and `Control` refuses to switch the compactions back on.
//!
//! Reads of the damaged blocks still fail with a typed corruption error, never a wrong value.
//! A rebuild ([`crate::rebuild`]) copies the readable data into a fresh physical column
//! family, reports or refills what it cannot read, and drops the damaged one, which ends its
//! quarantine. Errors that are not a compaction's corruption (I/O errors, a full disk, a
//! failed flush or MANIFEST write) are never cleared.

use std::collections::BTreeSet;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::engine::CfTable;

use crate::error::{Error, Result};

enum Message {
    /// Turn automatic compactions off on this physical column family.
    Quarantine(String),
    /// The engine is closing.
    Stop,
}

/// Physical column families in quarantine, and the last failure to quarantine one.
#[derive(Default)]
struct Shared {
    physical: BTreeSet<String>,
    last_error: Option<String>,
}

/// The listener's end: records a quarantine and wakes the engine's thread. Never blocks
/// beyond a short lock.
#[derive(Clone)]
pub(crate) struct QuarantineSender {
    shared: Arc<Mutex<Shared>>,
    wake: Sender<Message>,
}

impl QuarantineSender {
    /// Quarantines the physical column family `physical` (its name as RocksDB reports it).
    pub(crate) fn report(&self, physical: &[u8]) {
        let name = String::from_utf8_lossy(physical).into_owned();
        if self.shared.lock().physical.insert(name.clone()) {
            // The receiver lives as long as the engine; a send after it is gone is moot.
            let _ = self.wake.send(Message::Quarantine(name));
        }
    }
}

/// The engine's end: the quarantine thread and the set of quarantined column families.
pub(crate) struct Quarantine {
    shared: Arc<Mutex<Shared>>,
    wake: Sender<Message>,
    /// Until [`Quarantine::start`] takes it (behind a lock only so the engine stays `Sync`).
    inbox: Mutex<Option<Receiver<Message>>>,
    thread: Option<JoinHandle<()>>,
}

impl Quarantine {
    /// A quarantine and the sender the event listener reports to; [`Quarantine::start`]
    /// begins applying reports once the database is open (reports made before wait).
    pub(crate) fn new() -> (Quarantine, QuarantineSender) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (wake, inbox) = mpsc::channel();
        let sender = QuarantineSender {
            shared: Arc::clone(&shared),
            wake: wake.clone(),
        };
        let quarantine = Quarantine {
            shared,
            wake,
            inbox: Mutex::new(Some(inbox)),
            thread: None,
        };
        (quarantine, sender)
    }

    /// Starts the thread that turns automatic compactions off on quarantined column
    /// families of `db`.
    pub(crate) fn start(
        &mut self,
        tables: Arc<ArcSwap<CfTable>>,
        path: &std::path::Path,
    ) -> Result<()> {
        let Some(inbox) = self.inbox.lock().take() else {
            return Ok(());
        };
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name("lsmedic-quarantine".into())
            .spawn(move || {
                for message in inbox {
                    let Message::Quarantine(physical) = message else {
                        return;
                    };
                    // Looked up every time: a reopen ([`crate::recovery`]) replaces it, and
                    // opens quarantined column families with their compactions off.
                    let Ok(db) = CfTable::current_db(&tables) else {
                        continue;
                    };
                    // A column family dropped since (a rebuild finished) needs nothing.
                    let Some(handle) = db.cf_handle(&physical) else {
                        continue;
                    };
                    if let Err(e) =
                        db.set_options_cf(&handle, &[("disable_auto_compactions", "true")])
                    {
                        shared.lock().last_error = Some(format!(
                            "cannot stop automatic compactions of column family {physical:?}: {}",
                            e.into_string()
                        ));
                    }
                }
            })
            .map_err(|source| Error::Io {
                action: "spawn quarantine thread for",
                path: path.to_owned(),
                source,
            })?;
        self.thread = Some(thread);
        Ok(())
    }

    /// Whether the physical column family `physical` is quarantined.
    pub(crate) fn contains(&self, physical: &str) -> bool {
        self.shared.lock().physical.contains(physical)
    }

    /// The last failure to stop a quarantined column family's compactions.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// Forgets a physical column family that no longer exists.
    pub(crate) fn forget(&self, physical: &str) {
        self.shared.lock().physical.remove(physical);
    }
}

impl Drop for Quarantine {
    fn drop(&mut self) {
        let _ = self.wake.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
