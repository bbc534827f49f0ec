//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use lsmedic::engine::Engine;
use lsmedic::telemetry::{EngineEvent, OpEvent};

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

/// A deterministic pseudo-random byte string (splitmix64), incompressible enough that SST
/// sizes track the data written.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Key `i` as a fixed-width big-endian string so byte order equals numeric order.
pub fn key(i: u64) -> Vec<u8> {
    format!("key{i:010}").into_bytes()
}
