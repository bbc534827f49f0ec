//! The engine's typed errors: each says which column family, key, option or path it is about.

use std::path::PathBuf;

/// Result alias of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A short, printable preview of a key for error messages (hex, at most 32 bytes shown).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPreview(String);

impl KeyPreview {
    /// Builds a preview of `key`.
    pub fn new(key: &[u8]) -> Self {
        const SHOWN: usize = 32;
        let mut text = String::with_capacity(2 * SHOWN.min(key.len()) + 8);
        for byte in key.iter().take(SHOWN) {
            text.push_str(&format!("{byte:02x}"));
        }
        if key.len() > SHOWN {
            text.push_str(&format!("… ({} bytes)", key.len()));
        }
        KeyPreview(text)
    }
}

impl std::fmt::Display for KeyPreview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for KeyPreview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", self.0)
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database path exists but is not a directory.
    #[error("database path {path} exists and is not a directory")]
    NotADirectory {
        /// The path given to `Engine::open`.
        path: PathBuf,
    },
    /// Another `Engine` (in this or another process) holds the database's lock.
    #[error("database at {path} is already open (RocksDB LOCK held): {message}")]
    AlreadyOpen {
        /// The database path.
        path: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// RocksDB refused to open the database.
    #[error("cannot open database at {path}: {message}")]
    Open {
        /// The database path.
        path: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// A filesystem operation of the engine itself failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No column family has this name.
    #[error("unknown column family {name:?}")]
    UnknownColumnFamily {
        /// The name asked for.
        name: String,
    },
    /// A column family with this name exists already.
    #[error("column family {name:?} already exists")]
    ColumnFamilyExists {
        /// The name asked for.
        name: String,
    },
    /// The default column family cannot be dropped.
    #[error("the \"default\" column family cannot be dropped")]
    CannotDropDefault,
    /// An option has a value outside its valid range or breaks a cross-option rule.
    #[error("invalid option {option}{} = {value}: {reason}", cf_suffix(.cf))]
    InvalidOption {
        /// RocksDB's name of the option.
        option: &'static str,
        /// The column family the option was set for, if CF-scoped.
        cf: Option<String>,
        /// The rejected value, as text.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A configuration document could not be parsed (unknown option, wrong type, syntax).
    #[error("cannot parse {format} engine configuration: {message}")]
    ConfigParse {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// The parser's message (with line and column where it gives them).
        message: String,
    },
    /// A RocksDB operation failed.
    #[error("{op} failed{}{}: {message}", cf_suffix(.cf), key_suffix(.key))]
    RocksDb {
        /// The engine operation (`put`, `get`, `flush`, …).
        op: &'static str,
        /// The column family, when the operation has one.
        cf: Option<String>,
        /// The key, when the operation has one.
        key: Option<KeyPreview>,
        /// RocksDB's error kind.
        kind: rocksdb::ErrorKind,
        /// RocksDB's message.
        message: String,
    },
    /// The write throttle would have made the write wait past its deadline.
    #[error("write to column family {cf:?} throttled: {source}")]
    Throttled {
        /// The column family written.
        cf: String,
        /// What the throttle said.
        source: lsmedic_telemetry::throttle::ThrottleError,
    },
    /// The database stopped taking writes after an error RocksDB does not resume from by
    /// itself (an I/O error, a full disk), or is closed for the reopen that brings it back
    /// ([`crate::recovery`]). The operation was not applied; retry it later.
    /// [`Engine::recovery_status`](crate::Engine::recovery_status) says how recovery goes.
    #[error("database is recovering{}: {cause}", cf_suffix(.cf))]
    Recovering {
        /// The column family of the operation, when it has one.
        cf: Option<String>,
        /// What the database refused with, or that it is being reopened.
        cause: String,
    },
    /// A control operation (option change, resize, rebuild) failed.
    #[error(transparent)]
    Control(#[from] lsmedic_telemetry::ControlError),
    /// A column-family rebuild could not proceed.
    #[error("rebuild of column family {cf:?}: {message}")]
    Rebuild {
        /// The logical column family.
        cf: String,
        /// What went wrong.
        message: String,
    },
    /// A range delete whose start key sorts after its end key. Refused before it reaches
    /// RocksDB: RocksDB writes such a range to the WAL, then fails to insert it into the
    /// memtable and stops every later write with a background error.
    #[error("delete_range{}: start key {from:?} sorts after end key {to:?}", cf_suffix(.cf))]
    ReversedRange {
        /// The column family.
        cf: Option<String>,
        /// The start key.
        from: KeyPreview,
        /// The end key.
        to: KeyPreview,
    },
    /// A write batch built by one engine was given to another.
    #[error("write batch belongs to a different engine")]
    ForeignBatch,
    /// A checkpoint could not be written.
    #[error("cannot create checkpoint at {path}: {message}")]
    Checkpoint {
        /// The checkpoint directory asked for.
        path: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// Telemetry set-up failed (window histograms).
    #[error("telemetry: {0}")]
    Telemetry(String),
}

fn cf_suffix(cf: &Option<String>) -> String {
    cf.as_ref()
        .map(|cf| format!(" (column family {cf:?})"))
        .unwrap_or_default()
}

fn key_suffix(key: &Option<KeyPreview>) -> String {
    key.as_ref()
        .map(|key| format!(" for key 0x{key}"))
        .unwrap_or_default()
}

impl Error {
    /// Refuses a range delete of `[from, to)` whose start sorts after its end (bytewise, the
    /// engine's comparator). An empty range (`from == to`) is allowed: it deletes nothing.
    pub fn check_range(cf: &str, from: &[u8], to: &[u8]) -> Result<(), Error> {
        if from > to {
            return Err(Error::ReversedRange {
                cf: Some(cf.to_owned()),
                from: KeyPreview::new(from),
                to: KeyPreview::new(to),
            });
        }
        Ok(())
    }

    /// Wraps a RocksDB error with the operation, column family and key it concerns.
    pub(crate) fn rocksdb(
        op: &'static str,
        cf: Option<&str>,
        key: Option<&[u8]>,
        err: rocksdb::Error,
    ) -> Self {
        Error::RocksDb {
            op,
            cf: cf.map(str::to_owned),
            key: key.map(KeyPreview::new),
            kind: err.kind(),
            message: err.into_string(),
        }
    }

    /// Whether the error reports data corruption (a checksum mismatch, a bad block).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::RocksDb {
                kind: rocksdb::ErrorKind::Corruption,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_preview_truncates_long_keys() {
        let preview = KeyPreview::new(&[0xab; 40]).to_string();
        assert!(preview.starts_with(&"ab".repeat(32)));
        assert!(preview.ends_with("(40 bytes)"));
    }

    #[test]
    fn invalid_option_names_option_and_cf() {
        let err = Error::InvalidOption {
            option: "level0_stop_writes_trigger",
            cf: Some("users".into()),
            value: "3".into(),
            reason: "must be >= level0_slowdown_writes_trigger (20)".into(),
        };
        let text = err.to_string();
        assert!(text.contains("level0_stop_writes_trigger"));
        assert!(text.contains("\"users\""));
    }
}
