//! Helpers shared by the engine's integration tests: draining the telemetry rings,
//! deterministic keys and values, and damaging an SST file.
#![allow(dead_code)]

mod data;

use std::path::{Path, PathBuf};
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

/// The newest SST file in `dir` (RocksDB numbers files in creation order).
pub fn newest_sst(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sst"))
        .max()
        .expect("an SST file")
}

/// Inverts `count` bytes of the file at `path`, starting `fraction` of the way into it.
pub fn flip_bytes(path: &Path, fraction: f64, count: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let start = (bytes.len() as f64 * fraction) as usize;
    for b in &mut bytes[start..start + count] {
        *b ^= 0xff;
    }
    std::fs::write(path, bytes).unwrap();
}
