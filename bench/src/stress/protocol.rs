//! The records a child sends its parent, one JSON object per line on its stdout.
//!
//! A write is announced ([`Record::Pending`], with everything it will change) before it is
//! issued and confirmed ([`Record::Ack`]) or refused ([`Record::Failed`]) after, so whatever
//! moment the child is killed at, the parent knows every write that may have reached the
//! database. A record that reached the kernel pipe survives the child's `SIGKILL`; the
//! parent reads the pipe to its end after the kill. Each record is written with one
//! `write(2)` of less than `PIPE_BUF` bytes (lost ranges aside), so none arrives torn; a
//! torn last line could only be a record whose write never finished and is ignored.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::keyspace::{self, CfIndex};
use super::Error;
use lsmedic::telemetry::control::LostRange;

/// One change of a write: a batch is several, every other write one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mutation {
    /// `key` := version `version`'s value.
    Put {
        /// Column family index.
        cf: CfIndex,
        /// Key index.
        key: u32,
        /// The version written (see [`keyspace::value`]).
        version: u64,
    },
    /// `key` deleted.
    Delete {
        /// Column family index.
        cf: CfIndex,
        /// Key index.
        key: u32,
    },
    /// Keys `from..to` deleted (RocksDB `DeleteRange`, end exclusive).
    DeleteRange {
        /// Column family index.
        cf: CfIndex,
        /// First key index deleted.
        from: u32,
        /// First key index not deleted.
        to: u32,
    },
}

impl Mutation {
    /// The column family the mutation changes.
    pub fn cf(&self) -> CfIndex {
        match self {
            Mutation::Put { cf, .. }
            | Mutation::Delete { cf, .. }
            | Mutation::DeleteRange { cf, .. } => *cf,
        }
    }

    /// Whether the mutation changes key `key` of column family `cf`, and to what
    /// (`Some(None)` = deleted).
    pub fn effect_on(&self, cf: CfIndex, key: u32) -> Option<Option<u64>> {
        match *self {
            Mutation::Put {
                cf: c,
                key: k,
                version,
            } if c == cf && k == key => Some(Some(version)),
            Mutation::Delete { cf: c, key: k } if c == cf && k == key => Some(None),
            Mutation::DeleteRange { cf: c, from, to } if c == cf && (from..to).contains(&key) => {
                Some(None)
            }
            _ => None,
        }
    }

    /// The key indices of `cf` the mutation changes.
    pub fn keys(&self) -> std::ops::Range<u32> {
        match *self {
            Mutation::Put { key, .. } | Mutation::Delete { key, .. } => key..key + 1,
            Mutation::DeleteRange { from, to, .. } => from..to,
        }
    }
}

/// Who started a rebuild in the child.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The child's own maintenance thread (random `rebuild_cf`).
    Child,
    /// The healer (its corruption rule).
    Healer,
}

/// A lost range as it travels: hex keys, `end: None` = to the end of the key space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HexRange {
    /// First key (inclusive), hex.
    pub start: String,
    /// End key (exclusive), hex; `None` = unbounded.
    pub end: Option<String>,
}

impl From<&LostRange> for HexRange {
    fn from(range: &LostRange) -> HexRange {
        HexRange {
            start: keyspace::to_hex(&range.start),
            end: range.end.as_deref().map(keyspace::to_hex),
        }
    }
}

impl HexRange {
    /// The range in bytes.
    pub fn to_lost_range(&self) -> Result<LostRange, Error> {
        let decode = |hex: &str| {
            keyspace::from_hex(hex).ok_or_else(|| Error::Protocol(format!("bad hex key {hex:?}")))
        };
        Ok(LostRange {
            start: decode(&self.start)?,
            end: self.end.as_deref().map(decode).transpose()?,
        })
    }
}

/// Things the child did that the parent counts (no effect on the model).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Options changed through `Control::set_cf`.
    OptionsSet,
    /// `Control::set_cf` refused (e.g. compactions of a quarantined column family).
    OptionsRefused,
    /// A flush through `Control::flush`.
    Flushed,
    /// A `compact_range` through `Control::compact_range`.
    Compacted,
    /// A flush or compaction failed.
    MaintenanceFailed,
    /// `Engine::checkpoint_now` took a deep checkpoint.
    CheckpointTaken,
    /// `Engine::checkpoint_now` failed.
    CheckpointFailed,
    /// A read of the child met a corruption error.
    ReadCorruption,
    /// A read of the child failed otherwise.
    ReadFailed,
    /// `Engine::recover` (an online reopen of the database) is starting.
    ReopenStarted,
    /// `Engine::recover` reopened the database in place.
    Reopened,
    /// `Engine::recover` failed (e.g. an iterator held the database).
    ReopenFailed,
}

/// One line on the child's stdout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The engine is open (and the healer started): the physical column family serving each
    /// logical one, in [`keyspace::COLUMN_FAMILIES`] order.
    Opened {
        /// Physical names.
        physical: Vec<String>,
    },
    /// Write `op` is about to be issued with these changes (all or none take effect).
    Pending {
        /// Op id, unique within the child.
        op: u64,
        /// Its changes, in order.
        mutations: Vec<Mutation>,
    },
    /// Write `op` was acknowledged (synced).
    Ack {
        /// Op id.
        op: u64,
    },
    /// Write `op` returned an error (it may or may not have taken effect).
    Failed {
        /// Op id.
        op: u64,
        /// The engine's error.
        error: String,
    },
    /// A rebuild of `cf` is about to start.
    RebuildStarted {
        /// Logical column family.
        cf: String,
        /// Who started it.
        by: Actor,
    },
    /// A rebuild of `cf` finished and swapped the physical column family.
    RebuildDone {
        /// Logical column family.
        cf: String,
        /// Who started it.
        by: Actor,
        /// The physical column family rebuilt from.
        old_physical: String,
        /// The physical column family now serving `cf`.
        new_physical: String,
        /// Keys copied from the old physical column family.
        keys_copied: u64,
        /// Keys refilled from a checkpoint.
        keys_recovered_from_checkpoint: u64,
        /// Ranges the rebuild could not read and did not refill.
        lost: Vec<HexRange>,
        /// Why lost ranges were not refilled from a checkpoint.
        #[serde(default)]
        refill_failures: Vec<String>,
    },
    /// A rebuild of `cf` failed (rolled back: the old physical column family still serves).
    RebuildFailed {
        /// Logical column family.
        cf: String,
        /// Who started it.
        by: Actor,
        /// The error.
        error: String,
    },
    /// Something counted, with a detail for the log.
    Note {
        /// What.
        kind: NoteKind,
        /// Detail (an error message, the options set).
        detail: String,
    },
    /// The child cannot go on (its engine did not open, a thread did not start).
    Fatal {
        /// Why.
        error: String,
    },
}

impl Record {
    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<Record, Error> {
        serde_json::from_str(line).map_err(|e| Error::Protocol(format!("{e}: {line:?}")))
    }

    /// The line for this record, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        // Serialising plain data (strings, integers, enums) cannot fail.
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// The child's end of the pipe: writes whole records, one `write(2)` each, from any thread.
#[derive(Debug, Default)]
pub struct RecordSink {
    lock: Mutex<()>,
    closed: AtomicBool,
}

impl RecordSink {
    /// A sink writing to this process's stdout.
    pub fn stdout() -> RecordSink {
        RecordSink::default()
    }

    /// Sends `record`; fails once the parent has closed the pipe (then the child stops).
    pub fn send(&self, record: &Record) -> Result<(), Error> {
        let line = record.to_line();
        let _one_at_a_time = self.lock.lock();
        // With nothing buffered (every send flushes) and a newline at the end, std's
        // line-buffered stdout hands the whole line to one write(2).
        let mut out = std::io::stdout().lock();
        let sent = out.write_all(&line).and_then(|()| out.flush());
        if let Err(err) = sent {
            // Relaxed: a flag read by the same threads' loops, ordering nothing else.
            self.closed.store(true, Ordering::Relaxed);
            return Err(Error::PipeClosed(err));
        }
        Ok(())
    }

    /// Whether a send has failed (the parent is gone).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_one_line() {
        let record = Record::Pending {
            op: 7,
            mutations: vec![
                Mutation::Put {
                    cf: 1,
                    key: 3,
                    version: 1 << 40,
                },
                Mutation::DeleteRange {
                    cf: 2,
                    from: 10,
                    to: 20,
                },
            ],
        };
        let line = record.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let text = std::str::from_utf8(&line).unwrap().trim_end();
        assert_eq!(Record::parse(text).unwrap(), record);
        assert!(Record::parse("{\"type\":\"ack\"").is_err());
    }

    #[test]
    fn mutation_effects_follow_half_open_ranges() {
        let range = Mutation::DeleteRange {
            cf: 1,
            from: 5,
            to: 8,
        };
        assert_eq!(range.effect_on(1, 5), Some(None));
        assert_eq!(range.effect_on(1, 7), Some(None));
        assert_eq!(range.effect_on(1, 8), None);
        assert_eq!(range.effect_on(2, 6), None);
        let put = Mutation::Put {
            cf: 0,
            key: 4,
            version: 9,
        };
        assert_eq!(put.effect_on(0, 4), Some(Some(9)));
        assert_eq!(put.keys(), 4..5);
    }

    #[test]
    fn lost_ranges_travel_as_hex() {
        let range = LostRange {
            start: b"key000010\0".to_vec(),
            end: None,
        };
        let hex = HexRange::from(&range);
        assert_eq!(hex.to_lost_range().unwrap(), range);
    }
}
