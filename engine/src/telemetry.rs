//! The engine's telemetry hub: the op rings fed by callers' threads, the event ring fed by
//! the listener, and the clock both use. Shared (`Arc`) between the engine, the listener and
//! whoever drains it (the healer).
//!
//! Pushing never blocks or allocates: a full ring drops the record and counts the drop.

use std::sync::atomic::{AtomicU64, Ordering};

use lsmedic_telemetry::{
    CfId, CfName, Clock, EngineEvent, EngineEventKind, OpEvent, OpKind, OpOutcome, Ring,
    ShardedRing,
};

use crate::config::TelemetryConfig;

/// Rings and clock of one engine.
pub struct Telemetry {
    clock: Clock,
    ops: ShardedRing<OpEvent>,
    events: Ring<EngineEvent>,
    listener_panics: AtomicU64,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("dropped_ops", &self.dropped_ops())
            .field("dropped_events", &self.dropped_events())
            .field("listener_panics", &self.listener_panics())
            .finish()
    }
}

impl Telemetry {
    /// Builds the rings with the configured sizes (validated by `EngineConfig::validate`).
    pub fn new(config: &TelemetryConfig) -> Self {
        let shards = if config.op_ring_shards == 0 {
            // Bounded so a many-core host does not pay for idle shards (16 × 64 Ki × 32 B = 32 MiB).
            lsmedic_telemetry::ring::default_shard_count().min(16)
        } else {
            config.op_ring_shards
        };
        Telemetry {
            clock: Clock::new(),
            ops: ShardedRing::new(shards, config.op_ring_capacity),
            events: Ring::new(config.event_ring_capacity),
            listener_panics: AtomicU64::new(0),
        }
    }

    /// The clock whose epoch all `end_ns`/`at_ns` fields count from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Records one foreground op that ran from raw clock reading `start` to `end`.
    #[inline]
    pub(crate) fn record_op(
        &self,
        kind: OpKind,
        cf: CfId,
        start: u64,
        end: u64,
        bytes: usize,
        outcome: OpOutcome,
    ) {
        let latency_ns = self.clock.delta_ns(start, end);
        self.record_op_latency(kind, cf, end, latency_ns, bytes, outcome);
    }

    /// Records one foreground op that ended at raw clock reading `end` after `latency_ns`.
    #[inline]
    pub(crate) fn record_op_latency(
        &self,
        kind: OpKind,
        cf: CfId,
        end: u64,
        latency_ns: u64,
        bytes: usize,
        outcome: OpOutcome,
    ) {
        self.ops.push(OpEvent {
            end_ns: self.clock.since_epoch_ns(end),
            latency_ns: u32::try_from(latency_ns).unwrap_or(u32::MAX),
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            cf,
            kind,
            outcome,
        });
    }

    /// Records one listener event for the physical column family named `cf_name`.
    pub(crate) fn push_event(&self, cf_name: &[u8], kind: EngineEventKind) {
        self.events.push(EngineEvent {
            at_ns: self.clock.now_ns(),
            cf_name: CfName::from_bytes(cf_name),
            kind,
        });
    }

    pub(crate) fn count_listener_panic(&self) {
        // A plain counter read only for stats: no ordering with other memory needed.
        self.listener_panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls `f` on every op event pushed so far (per-thread order is kept); returns how many.
    pub fn drain_ops(&self, f: impl FnMut(OpEvent)) -> usize {
        self.ops.drain(f)
    }

    /// Calls `f` on every listener event pushed so far, in push order; returns how many.
    pub fn drain_events(&self, f: impl FnMut(EngineEvent)) -> usize {
        self.events.drain(f)
    }

    /// Op events dropped because their ring shard was full.
    pub fn dropped_ops(&self) -> u64 {
        self.ops.dropped()
    }

    /// Listener events dropped because the event ring was full.
    pub fn dropped_events(&self) -> u64 {
        self.events.dropped()
    }

    /// Panics caught inside listener callbacks (should stay 0).
    pub fn listener_panics(&self) -> u64 {
        self.listener_panics.load(Ordering::Relaxed)
    }

    /// Total op-event capacity across shards.
    pub fn op_capacity(&self) -> usize {
        self.ops.capacity()
    }
}
