//! The healer's one error type. Every variant carries what an operator needs to act: which
//! config field, which file, which control call.

use std::path::PathBuf;

use lsmedic_telemetry::{ControlError, WindowError};

use crate::model::ModelError;

/// Why a healer operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealerError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid healer config: {field}: {reason}")]
    InvalidConfig {
        /// The field, dotted (`guard.bounds.max_background_jobs`).
        field: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The `lsmedic-healer` thread could not be started.
    #[error("cannot spawn the {name} thread: {source}")]
    Spawn {
        /// Thread name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The telemetry window could not be built.
    #[error(transparent)]
    Window(#[from] WindowError),
    /// A call to the engine's `Control` surface failed.
    #[error("control call {operation} failed: {source}")]
    Control {
        /// What was attempted (`set_cf(users)`, `restore`, …).
        operation: String,
        /// The engine's error.
        #[source]
        source: ControlError,
    },
    /// Reading or writing the audit log failed.
    #[error("audit log {}: {source}", path.display())]
    Audit {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the audit log is not a valid entry.
    #[error("audit log {} line {line}: {source}", path.display())]
    AuditParse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Loading or running a model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The healer thread panicked outside a tick (a bug; the host is unaffected).
    #[error("the lsmedic-healer thread panicked: {message}")]
    ThreadPanicked {
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The healer was stopped; start a new one.
    #[error("the healer is stopped")]
    Stopped,
}

impl HealerError {
    /// An [`HealerError::InvalidConfig`].
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> HealerError {
        HealerError::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A [`HealerError::Control`].
    pub(crate) fn control(operation: impl Into<String>, source: ControlError) -> HealerError {
        HealerError::Control {
            operation: operation.into(),
            source,
        }
    }
}

/// Text of a panic payload (`&str` or `String`), or a placeholder. Public for the other
/// places that catch panics at a boundary (the C ABI).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
