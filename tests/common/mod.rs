//! Helpers of the facade's integration tests: the engine tests' deterministic keys and
//! values, shared from their one definition rather than copied.
#![allow(dead_code)]

#[path = "../../engine/tests/common/data.rs"]
mod data;

pub use data::{key, noise};
