//! Plain, fixed-size telemetry records: what the engine pushes into the rings.
//!
//! Every type here is `Copy` and heap-free so that a push never allocates, on the caller's
//! thread (op events) or on a RocksDB background thread (engine events). Strings coming from
//! RocksDB (column-family names, error messages) are copied into fixed inline buffers and
//! truncated at a UTF-8 boundary when too long.

use serde::{Deserialize, Serialize};

/// Index of a column family in the engine's registry (stable while the CF exists).
pub type CfId = u32;

/// The kind of a foreground operation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum OpKind {
    /// A single `put`.
    Put = 0,
    /// A single `get`.
    Get = 1,
    /// A `multi_get`; `bytes` counts the values found.
    MultiGet = 2,
    /// A single `delete`.
    Delete = 3,
    /// A `delete_range`.
    DeleteRange = 4,
    /// A `WriteBatch` written atomically.
    Write = 5,
    /// An iterator's life: latency is time spent inside RocksDB seek/next calls.
    Scan = 6,
    /// A user-requested flush.
    Flush = 7,
    /// A user-requested manual compaction.
    CompactRange = 8,
}

impl OpKind {
    /// Every kind, in discriminant order.
    pub const ALL: [OpKind; 9] = [
        OpKind::Put,
        OpKind::Get,
        OpKind::MultiGet,
        OpKind::Delete,
        OpKind::DeleteRange,
        OpKind::Write,
        OpKind::Scan,
        OpKind::Flush,
        OpKind::CompactRange,
    ];

    /// Number of kinds (the length of per-kind arrays).
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index for per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the operation writes data (counts toward the write path).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            OpKind::Put | OpKind::Delete | OpKind::DeleteRange | OpKind::Write
        )
    }

    /// Whether the operation reads data (counts toward the read path).
    pub fn is_read(self) -> bool {
        matches!(self, OpKind::Get | OpKind::MultiGet | OpKind::Scan)
    }

    /// Lower-case name used in logs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
            OpKind::MultiGet => "multi_get",
            OpKind::Delete => "delete",
            OpKind::DeleteRange => "delete_range",
            OpKind::Write => "write",
            OpKind::Scan => "scan",
            OpKind::Flush => "flush",
            OpKind::CompactRange => "compact_range",
        }
    }
}

/// How a foreground operation ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum OpOutcome {
    /// Succeeded (for reads: the key was found).
    Ok = 0,
    /// A read that found no value.
    NotFound = 1,
    /// RocksDB returned an error.
    Error = 2,
    /// The write throttle refused it (deadline passed).
    Throttled = 3,
}

/// One foreground operation, pushed from the caller's thread (24 bytes).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OpEvent {
    /// When the operation ended, in ns since the engine's telemetry epoch.
    pub end_ns: u64,
    /// Time the operation spent inside the engine, in ns (saturates at ~4.3 s).
    pub latency_ns: u32,
    /// Payload bytes: key + value for writes, value bytes returned for reads.
    pub bytes: u32,
    /// Logical column family.
    pub cf: CfId,
    /// What was done.
    pub kind: OpKind,
    /// How it ended.
    pub outcome: OpOutcome,
}

/// Text copied inline into a fixed buffer of `N` bytes (no allocation), truncated at a
/// character boundary; invalid UTF-8 is cut at the first bad byte. `N` must be ≤ 255.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct InlineStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineStr<N> {
    /// Copies `text`, truncating at a character boundary if it is longer than `N` bytes.
    pub fn new(text: &str) -> Self {
        Self::from_bytes(text.as_bytes())
    }

    /// Copies raw bytes (as RocksDB hands them over).
    pub fn from_bytes(raw: &[u8]) -> Self {
        let valid = match std::str::from_utf8(raw) {
            Ok(s) => s,
            // `valid_up_to` marks the longest valid prefix, so this cannot fail.
            Err(e) => std::str::from_utf8(&raw[..e.valid_up_to()]).unwrap_or_default(),
        };
        let mut end = valid.len().min(N).min(u8::MAX as usize);
        while !valid.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; N];
        bytes[..end].copy_from_slice(&valid.as_bytes()[..end]);
        InlineStr {
            len: end as u8,
            bytes,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Constructed only from a valid UTF-8 prefix cut at a char boundary.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

impl<const N: usize> std::fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        Self::from_bytes(b"")
    }
}

/// Maximum bytes kept of a column-family name inside an event.
pub const CF_NAME_CAPACITY: usize = 47;

/// A column-family name copied inline, truncated to [`CF_NAME_CAPACITY`] bytes.
pub type CfName = InlineStr<CF_NAME_CAPACITY>;

/// Maximum bytes kept of an error message inside an event.
pub const MESSAGE_CAPACITY: usize = 158;

/// An error message copied inline, truncated to [`MESSAGE_CAPACITY`] bytes.
pub type Message = InlineStr<MESSAGE_CAPACITY>;

/// RocksDB's write-stall condition of a column family.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StallCondition {
    /// Writes run at full speed.
    Normal,
    /// Writes are delayed to `delayed_write_rate`.
    Delayed,
    /// Writes are stopped.
    Stopped,
}

/// Why RocksDB raised a background error (RocksDB's `BackgroundErrorReason`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BackgroundErrorReason {
    /// A flush failed.
    Flush,
    /// A compaction failed.
    Compaction,
    /// A write callback failed.
    WriteCallback,
    /// A memtable insert failed.
    MemTable,
    /// Writing the MANIFEST failed.
    ManifestWrite,
    /// A flush with the WAL disabled failed.
    FlushNoWal,
    /// Writing the MANIFEST failed with the WAL disabled.
    ManifestWriteNoWal,
    /// Opening a file asynchronously failed.
    AsyncFileOpen,
    /// A reason code this version does not know.
    Other(u32),
}

impl BackgroundErrorReason {
    /// Maps RocksDB's numeric `BackgroundErrorReason`.
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => Self::Flush,
            1 => Self::Compaction,
            2 => Self::WriteCallback,
            3 => Self::MemTable,
            4 => Self::ManifestWrite,
            5 => Self::FlushNoWal,
            6 => Self::ManifestWriteNoWal,
            7 => Self::AsyncFileOpen,
            other => Self::Other(other),
        }
    }
}

/// What happened inside RocksDB, as reported by its event listener.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum EngineEventKind {
    /// A memtable flush started.
    FlushBegin {
        /// RocksDB's job id.
        job_id: i32,
        /// RocksDB's `FlushReason` code.
        reason: u32,
        /// This flush was triggered while writes were slowed down.
        triggered_writes_slowdown: bool,
        /// This flush was triggered while writes were stopped.
        triggered_writes_stop: bool,
    },
    /// A memtable flush finished and wrote one L0 file.
    FlushCompleted {
        /// RocksDB's job id.
        job_id: i32,
        /// RocksDB's `FlushReason` code.
        reason: u32,
        /// Bytes of the SST written (data + index + filter blocks).
        file_bytes: u64,
        /// Entries in the SST written.
        entries: u64,
        /// Writes were slowed down when the flush finished.
        triggered_writes_slowdown: bool,
        /// Writes were stopped when the flush finished.
        triggered_writes_stop: bool,
    },
    /// A compaction started.
    CompactionBegin {
        /// RocksDB's job id.
        job_id: i32,
        /// Lowest input level.
        input_level: i32,
        /// Output level.
        output_level: i32,
        /// RocksDB's `CompactionReason` code.
        reason: u32,
        /// L0 files among the inputs.
        num_l0_files: i32,
        /// Input files.
        input_files: u64,
    },
    /// A compaction finished (or failed: see `ok`).
    CompactionCompleted {
        /// RocksDB's job id.
        job_id: i32,
        /// Lowest input level.
        input_level: i32,
        /// Output level.
        output_level: i32,
        /// RocksDB's `CompactionReason` code.
        reason: u32,
        /// L0 files among the inputs.
        num_l0_files: i32,
        /// Bytes read.
        input_bytes: u64,
        /// Bytes written.
        output_bytes: u64,
        /// Records read.
        input_records: u64,
        /// Records written.
        output_records: u64,
        /// Wall time of the job.
        elapsed_micros: u64,
        /// Keys RocksDB found corrupt.
        corrupt_keys: u64,
        /// The job's status was OK and it was not aborted.
        ok: bool,
    },
    /// The column family's stall condition changed.
    StallConditionChanged {
        /// Condition before.
        prev: StallCondition,
        /// Condition now.
        cur: StallCondition,
    },
    /// A mutable memtable became immutable.
    MemtableSealed {
        /// Entries in the sealed memtable.
        entries: u64,
        /// Deletions in the sealed memtable.
        deletes: u64,
    },
    /// RocksDB raised a background error (the DB may now be read-only).
    BackgroundError {
        /// What failed.
        reason: BackgroundErrorReason,
        /// RocksDB's status message, truncated.
        message: Message,
        /// The engine contained it: a compaction met corrupt data in the event's column
        /// family, the error was cleared (the database keeps accepting writes) and that
        /// column family was quarantined (no automatic compactions until it is rebuilt).
        contained: bool,
    },
}

impl EngineEventKind {
    /// Short name used in logs, JSON and traces.
    pub fn name(&self) -> &'static str {
        match self {
            EngineEventKind::FlushBegin { .. } => "flush_begin",
            EngineEventKind::FlushCompleted { .. } => "flush_completed",
            EngineEventKind::CompactionBegin { .. } => "compaction_begin",
            EngineEventKind::CompactionCompleted { .. } => "compaction_completed",
            EngineEventKind::StallConditionChanged { .. } => "stall_condition_changed",
            EngineEventKind::MemtableSealed { .. } => "memtable_sealed",
            EngineEventKind::BackgroundError { .. } => "background_error",
        }
    }
}

/// One listener event with its time and column family.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct EngineEvent {
    /// When the callback ran, in ns since the engine's telemetry epoch.
    pub at_ns: u64,
    /// Physical column family as RocksDB names it (empty for DB-wide events).
    pub cf_name: CfName,
    /// What happened.
    pub kind: EngineEventKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cf_name_truncates_at_char_boundary() {
        let long = "é".repeat(40); // 80 bytes
        let name = CfName::new(&long);
        assert!(name.as_str().len() <= CF_NAME_CAPACITY);
        assert_eq!(name.as_str().len() % 2, 0);
        assert!(long.starts_with(name.as_str()));
    }

    #[test]
    fn cf_name_cuts_invalid_utf8() {
        let name = CfName::from_bytes(b"users\xff\xfe");
        assert_eq!(name.as_str(), "users");
    }

    #[test]
    fn op_event_stays_small() {
        assert!(std::mem::size_of::<OpEvent>() <= 24);
    }

    #[test]
    fn op_kind_index_is_dense() {
        for (i, kind) in OpKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }
}
