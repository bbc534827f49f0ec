//! The healer on its own named thread (`lsmedic-healer`): ticks every `tick_interval`,
//! drains the rings every `drain_interval` in between, and stops at once when asked.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lsmedic_telemetry::{Control, Observe};

use super::handle::{HealerHandle, Shared};
use super::HealerCore;
use crate::audit::AuditEntry;
use crate::config::{HealerConfig, Mode, Weights};
use crate::error::{panic_message, HealerError};
use crate::stats::HealerStats;

/// The healer: a [`HealerCore`] on its own named thread (`lsmedic-healer`).
#[derive(Debug)]
pub struct Healer {
    handle: HealerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Healer {
    /// Starts healing `engine` with `config`. Fails on an invalid config, an unreadable
    /// engine, an unopenable audit log or when the thread cannot be spawned; model-loading
    /// failures do not fail the start (the rule policy runs, see `HealerStats::model`).
    pub fn start<E: Control + Observe + 'static>(
        engine: Arc<E>,
        config: HealerConfig,
    ) -> Result<Healer, HealerError> {
        let mut core = HealerCore::new(engine, config)?;
        let handle = core.handle();
        handle.shared.steering.lock().running = true;
        let tick_interval = core.config.tick_interval();
        let drain_interval = core.config.drain_interval();
        let shared = Arc::clone(&handle.shared);
        let name = "lsmedic-healer".to_owned();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                run(&mut core, &shared, tick_interval, drain_interval);
                core.shutdown();
                shared.steering.lock().running = false;
            })
            .map_err(|source| {
                handle.shared.steering.lock().running = false;
                HealerError::Spawn { name, source }
            })?;
        Ok(Healer {
            handle,
            thread: Some(thread),
        })
    }

    /// A handle (cloneable, `Send + Sync`) to steer and read the healer.
    pub fn handle(&self) -> HealerHandle {
        self.handle.clone()
    }

    /// Stops the thread and waits for it (idempotent).
    pub fn stop(&mut self) -> Result<(), HealerError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.handle.shared.steering.lock().stop = true;
        self.handle.shared.wake.notify_all();
        thread.join().map_err(|payload| {
            self.handle.shared.steering.lock().running = false;
            HealerError::ThreadPanicked {
                message: panic_message(&*payload),
            }
        })
    }

    /// See [`HealerHandle::set_weights`].
    pub fn set_weights(&self, weights: Weights) -> Result<(), HealerError> {
        self.handle.set_weights(weights)
    }

    /// See [`HealerHandle::set_mode`].
    pub fn set_mode(&self, mode: Mode) {
        self.handle.set_mode(mode);
    }

    /// See [`HealerHandle::stats`].
    pub fn stats(&self) -> HealerStats {
        self.handle.stats()
    }

    /// See [`HealerHandle::audit_entries`].
    pub fn audit_entries(&self, limit: usize) -> Vec<AuditEntry> {
        self.handle.audit_entries(limit)
    }

    /// See [`HealerHandle::adapt_now`].
    pub fn adapt_now(&self) -> Result<(), HealerError> {
        self.handle.adapt_now()
    }
}

impl Drop for Healer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The thread's loop: waits for the next tick or drain (or a stop), runs it, repeats.
fn run<E: Control + Observe + 'static>(
    core: &mut HealerCore<E>,
    shared: &Shared,
    tick_interval: Duration,
    drain_interval: Duration,
) {
    let start = Instant::now();
    let mut next_tick = start + tick_interval;
    let mut next_drain = start + drain_interval;
    loop {
        {
            let mut steering = shared.steering.lock();
            let deadline = next_tick.min(next_drain);
            while !steering.stop && Instant::now() < deadline {
                if shared.wake.wait_until(&mut steering, deadline).timed_out() {
                    break;
                }
            }
            if steering.stop {
                return;
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            core.guarded_tick();
            next_tick += tick_interval;
            let after = Instant::now();
            if next_tick <= after {
                // Fell behind (a slow tick): skip ticks rather than run them back to back.
                next_tick = after + tick_interval;
            }
            next_drain = after + drain_interval;
        } else if now >= next_drain {
            core.guarded_drain();
            next_drain = Instant::now() + drain_interval;
        }
    }
}
