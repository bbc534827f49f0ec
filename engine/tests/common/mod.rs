//! Helpers shared by the engine's integration tests: draining the telemetry rings and
//! deterministic keys and values.
#![allow(dead_code)]

mod data;

use std::time::{Duration, Instant};

use lsmedic_engine::Engine;
use lsmedic_telemetry::{EngineEvent, OpEvent};

// Every test binary compiles this module; not every one uses both.
#[allow(unused_imports)]
pub use data::{key, noise};

/// Drains listener events until `done` says the collected events suffice or `timeout` passes.
pub fn collect_events_until(
    engine: &Engine,
    timeout: Duration,
    mut done: impl FnMut(&[EngineEvent]) -> bool,
) -> Vec<EngineEvent> {
    let deadline = Instant::now() + timeout;
    let mut events = Vec::new();
    loop {
        engine.telemetry().drain_events(|event| events.push(event));
        if done(&events) || Instant::now() >= deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Everything in the op rings now.
pub fn drain_ops(engine: &Engine) -> Vec<OpEvent> {
    let mut ops = Vec::new();
    engine.telemetry().drain_ops(|op| ops.push(op));
    ops
}
