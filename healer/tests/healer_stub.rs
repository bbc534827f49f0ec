//! The healer against the stub engine: throttle engage/release, verify-and-roll-back,
//! advisory mode, component-graph rebuilds, attribution of telemetry, audit file.

mod common;

use common::{event, writes, Rig, GIB, MIB};
use lsmedic_healer::audit::{read_audit_file, AuditRecord};
use lsmedic_healer::config::AuditConfig;
use lsmedic_healer::stub::{ControlCall, StubEngine};
use lsmedic_healer::{ActionKind, HealerConfig, Mode, OutcomeVerdict, Verdict, Weights};
use lsmedic_telemetry::{
    BackgroundErrorReason, Control, EngineEventKind, Message, OpKind, StallCondition,
    ThrottleScope, Tunable,
};

fn limit_calls(calls: &[ControlCall], cf: &str) -> Vec<Option<u64>> {
    calls
        .iter()
        .filter_map(|c| match c {
            ControlCall::SetWriteRateLimit(ThrottleScope::Cf(name), rate) if name == cf => {
                Some(*rate)
            }
            _ => None,
        })
        .collect()
}

fn set_soft_limit(engine: &StubEngine, cf: &str, soft: u64, hard: u64) {
    engine.set_tunables(|t| {
        let values = t.cfs.get_mut(cf).expect("cf");
        values.insert(Tunable::SoftPendingCompactionBytesLimit, soft);
        values.insert(Tunable::HardPendingCompactionBytesLimit, hard);
    });
}

fn pending(engine: &StubEngine, cf: &str, bytes: u64) {
    engine.update_cf(cf, |p| p.estimate_pending_compaction_bytes = Some(bytes));
}

#[test]
fn throttle_engages_as_pending_bytes_cross_the_soft_limit_and_releases_after() {
    // Rule 1 alone: stall relief (rule 3) would first raise the soft limit out of the way
    // (see `stall_relief_*` in tests/rules.rs).
    let mut config = HealerConfig::default();
    config.rules.stall_relief = false;
    let mut rig = Rig::new(&["default"], config);
    set_soft_limit(&rig.engine, "default", GIB, 4 * GIB);
    // 1000 puts of 1 KiB per 100 ms tick: ~10 MB/s.
    let load = |e: &StubEngine| writes(e, "default", 1000, 1024, 50);

    // Calm: pending at 20 % of the soft limit.
    rig.ticks(20, |e| {
        pending(e, "default", GIB / 5);
        load(e);
    });
    assert!(limit_calls(&rig.engine.calls(), "default").is_empty());

    // Pending climbs past the soft limit.
    let mut engaged_at = None;
    for step in 0..12u64 {
        let bytes = GIB / 2 + step * GIB / 16; // 0.5 .. 1.19 GiB
        rig.tick(|e| {
            pending(e, "default", bytes);
            load(e);
        });
        let limits = limit_calls(&rig.engine.calls(), "default");
        if engaged_at.is_none() && !limits.is_empty() {
            engaged_at = Some(bytes);
        }
    }
    let engaged_at = engaged_at.expect("the throttle engaged");
    assert!(
        (GIB * 3 / 4..=GIB).contains(&engaged_at),
        "engaged at {engaged_at} bytes, soft limit {GIB}"
    );
    let first = limit_calls(&rig.engine.calls(), "default")[0].expect("a limit, not a lift");
    // A fraction of the ~10 MB/s flow, not a stop.
    assert!(
        (6 * MIB..=10 * MIB).contains(&first),
        "first limit {first} B/s"
    );

    // Still over and not improving: the limit decays.
    rig.ticks(20, |e| {
        pending(e, "default", GIB * 6 / 5);
        load(e);
    });
    let limits = limit_calls(&rig.engine.calls(), "default");
    let tightest = limits.iter().flatten().min().copied().expect("limits");
    assert!(tightest < first, "tightened: {limits:?}");
    assert!(tightest >= MIB, "never below the guard's 1 MiB/s floor");

    // Backlog clears: released step by step, then lifted.
    rig.ticks(60, |e| {
        pending(e, "default", GIB / 10);
        load(e);
    });
    let limits = limit_calls(&rig.engine.calls(), "default");
    assert_eq!(limits.last(), Some(&None), "lifted at the end: {limits:?}");
    let release: Vec<u64> = limits
        .iter()
        .skip_while(|l| l.is_none_or(|r| r != tightest))
        .flatten()
        .copied()
        .collect();
    assert!(
        release.windows(2).all(|w| w[1] > w[0]) && release.len() >= 2,
        "released in rising steps: {limits:?}"
    );
    let tunables = rig.engine.tunables().expect("tunables");
    assert!(tunables.write_rate_limits.is_empty());
    // The throttle is not verified by default, so nothing was restored.
    assert!(!rig
        .engine
        .calls()
        .iter()
        .any(|c| matches!(c, ControlCall::Restore(_))));
    let stats = rig.core.handle().stats();
    assert!(stats.action_count(ActionKind::Throttle, "applied") >= 2);
    assert!(stats.action_count(ActionKind::ReleaseThrottle, "applied") >= 2);
}

fn l0_files(engine: &StubEngine, cf: &str, files: u64) {
    engine.update_cf(cf, |p| p.num_files_at_level[0] = Some(files));
}

/// 30 calm ticks at `latency_us`, then one with L0 at 55 % of the slowdown trigger, in
/// which the policy raises the background jobs (returned with the rig).
fn rig_after_jobs_raise(latency_us: u32) -> (Rig, lsmedic_healer::TickReport) {
    let mut rig = Rig::new(&["default"], HealerConfig::default());
    rig.ticks(30, |e| {
        l0_files(e, "default", 2);
        writes(e, "default", 1000, 100, latency_us);
    });
    assert!(rig.engine.mutating_calls().is_empty());
    let report = rig.tick(|e| {
        l0_files(e, "default", 11);
        writes(e, "default", 1000, 100, latency_us);
    });
    (rig, report)
}

#[test]
fn a_worsening_action_is_rolled_back() {
    let (mut rig, report) = rig_after_jobs_raise(50);
    let raised = report
        .reviews
        .iter()
        .find(|r| r.candidate.kind == ActionKind::RaiseBackgroundJobs)
        .expect("raise proposed");
    assert_eq!(raised.verdict, Verdict::Applied, "{raised:?}");
    assert_eq!(
        rig.engine
            .tunables()
            .expect("t")
            .global(Tunable::MaxBackgroundJobs),
        Some(4)
    );

    // ... and things get much worse: 20x latency, half the throughput.
    let mut outcome = None;
    for _ in 0..30 {
        let report = rig.tick(|e| {
            l0_files(e, "default", 11);
            writes(e, "default", 500, 100, 1000);
        });
        if let Some(o) = report
            .outcomes
            .iter()
            .find(|o| o.kind == ActionKind::RaiseBackgroundJobs)
        {
            outcome = Some(o.clone());
            break;
        }
    }
    let outcome = outcome.expect("verified within settle + measure ticks");
    assert_eq!(outcome.verdict, OutcomeVerdict::RolledBack, "{outcome:?}");
    assert!(outcome.comparison.expect("comparison").service_score < -0.1);
    let restore = rig
        .engine
        .calls()
        .into_iter()
        .find_map(|c| match c {
            ControlCall::Restore(snapshot) => Some(snapshot),
            _ => None,
        })
        .expect("restore called");
    assert_eq!(restore.global(Tunable::MaxBackgroundJobs), Some(2));
    let now = rig.engine.tunables().expect("t");
    assert_eq!(now.global(Tunable::MaxBackgroundJobs), Some(2));
    assert_eq!(now.global(Tunable::BackgroundThreadsLow), Some(1));

    // The family is penalised: the same proposal meets a long cooldown.
    rig.engine.clear_calls();
    let reports = rig.ticks(100, |e| {
        l0_files(e, "default", 11);
        writes(e, "default", 500, 100, 1000);
    });
    assert!(rig.engine.mutating_calls().is_empty());
    assert!(reports.iter().any(|r| r
        .reviews
        .iter()
        .any(|v| v.candidate.kind == ActionKind::RaiseBackgroundJobs
            && v.verdict == Verdict::Cooldown)));
    let stats = rig.core.handle().stats();
    assert_eq!(
        stats.action_count(ActionKind::RaiseBackgroundJobs, "rolled_back"),
        1
    );
    // The audit log tells the story.
    let entries = rig.core.handle().audit_entries(1000);
    assert!(entries.iter().any(|e| matches!(
        &e.record,
        AuditRecord::Outcome(o) if o.verdict == OutcomeVerdict::RolledBack
    )));
}

#[test]
fn an_improving_action_is_kept() {
    let (mut rig, _) = rig_after_jobs_raise(500);
    let mut verdict = None;
    for _ in 0..30 {
        let report = rig.tick(|e| {
            l0_files(e, "default", 11);
            writes(e, "default", 1200, 100, 100);
        });
        if let Some(o) = report.outcomes.first() {
            verdict = Some(o.verdict);
            break;
        }
    }
    assert_eq!(verdict, Some(OutcomeVerdict::Kept));
    assert!(!rig
        .engine
        .calls()
        .iter()
        .any(|c| matches!(c, ControlCall::Restore(_))));
    assert_eq!(
        rig.engine
            .tunables()
            .expect("t")
            .global(Tunable::MaxBackgroundJobs),
        Some(4)
    );
}

/// Scripts a tick in which every rule has a reason to act.
fn everything_goes_wrong(e: &StubEngine, tick: u64) {
    // a: compaction debt and L0 past the slowdown trigger.
    e.update_cf("a", |p| {
        p.estimate_pending_compaction_bytes = Some(200 * GIB);
        p.num_files_at_level[0] = Some(30);
        p.compaction_pending = Some(1);
    });
    writes(e, "a", 1000, 1024, 80);
    // b: flush pressure.
    e.update_cf("b", |p| {
        p.num_immutable_mem_table = Some(3);
        p.mem_table_flush_pending = Some(1);
    });
    writes(e, "b", 200, 1024, 80);
    // c: tombstone-heavy scans getting slower.
    let scan_us = if tick < 40 { 100 } else { 2000 };
    e.push_ops("c", OpKind::Scan, 100, 4096, scan_us * 1000);
    e.push_ops("c", OpKind::Delete, 500, 20, 20_000);
    writes(e, "c", 500, 100, 50);
    // d: corruption reported.
    if tick == 45 {
        event(
            e,
            "d",
            EngineEventKind::BackgroundError {
                reason: BackgroundErrorReason::Compaction,
                message: Message::new("Corruption: block checksum mismatch in 000042.sst"),
                contained: false,
            },
        );
    }
    // Block cache: hit ratio collapses with the cache full.
    let (hits, misses) = if tick < 40 {
        (9_000, 1_000)
    } else {
        (2_000, 8_000)
    };
    e.update_statistics(|s| {
        if let Some(s) = s.as_mut() {
            s.block_cache_hit += hits;
            s.block_cache_miss += misses;
        }
    });
    e.update_cf("a", |p| p.block_cache_usage = Some(8 * MIB));
}

fn stressed_rig(mode: Mode) -> Rig {
    stressed_rig_with(HealerConfig {
        mode,
        allow_destructive: true,
        ..HealerConfig::default()
    })
}

#[test]
fn advisory_mode_decides_and_logs_but_never_calls_a_mutating_control_method() {
    let mut rig = stressed_rig(Mode::Advisory);
    let mut advised = std::collections::BTreeSet::new();
    for tick in 0..120 {
        let report = rig.tick(|e| everything_goes_wrong(e, tick));
        for review in &report.reviews {
            assert_ne!(review.verdict, Verdict::Applied);
            if review.verdict == Verdict::Advised {
                advised.insert(review.candidate.kind);
            }
        }
    }
    assert!(
        rig.engine.mutating_calls().is_empty(),
        "{:?}",
        rig.engine.mutating_calls()
    );
    for kind in [
        ActionKind::Throttle,
        ActionKind::RaiseBackgroundJobs,
        ActionKind::GrowMemtable,
        ActionKind::GrowBlockCache,
        ActionKind::CompactRange,
        ActionKind::RebuildCf,
    ] {
        assert!(advised.contains(&kind), "{kind:?} advised: {advised:?}");
    }
    let entries = rig.core.handle().audit_entries(10_000);
    let decisions = entries
        .iter()
        .filter(|e| matches!(e.record, AuditRecord::Decision(_)))
        .count();
    assert!(decisions > 5, "{decisions}");
    let json = serde_json::to_string(&entries).expect("json");
    assert!(json.contains("\"verdict\":\"advised\""));
    assert!(json.contains("max_background_jobs"));

    // The same engine in active mode acts on every one of those rules.
    let mut active = stressed_rig(Mode::Active);
    for tick in 0..120 {
        active.tick(|e| everything_goes_wrong(e, tick));
    }
    active.core.shutdown();
    let calls = active.engine.mutating_calls();
    assert!(calls
        .iter()
        .any(|c| matches!(c, ControlCall::SetWriteRateLimit(..))));
    assert!(calls
        .iter()
        .any(|c| matches!(c, ControlCall::SetGlobal(..))));
    assert!(calls.iter().any(|c| matches!(c, ControlCall::SetCf(..))));
    assert!(calls
        .iter()
        .any(|c| matches!(c, ControlCall::CompactRange(cf, None) if cf == "c")));
    assert!(calls
        .iter()
        .any(|c| matches!(c, ControlCall::RebuildCf(cf) if cf == "d")));
}

#[test]
fn leaving_active_mode_stops_all_calls_including_roll_backs() {
    let (mut rig, _) = rig_after_jobs_raise(50);
    assert!(!rig.engine.mutating_calls().is_empty());
    rig.engine.clear_calls();
    rig.core.handle().set_mode(Mode::Advisory);
    // Worse, but advisory now: verification is abandoned, nothing is rolled back.
    let reports = rig.ticks(60, |e| {
        l0_files(e, "default", 30);
        e.update_cf("default", |p| {
            p.estimate_pending_compaction_bytes = Some(100 * GIB)
        });
        writes(e, "default", 300, 100, 5000);
    });
    assert!(rig.engine.mutating_calls().is_empty());
    assert!(reports
        .iter()
        .flat_map(|r| &r.outcomes)
        .any(|o| o.verdict == OutcomeVerdict::Abandoned));
}

#[test]
fn destructive_rebuild_waits_for_permission() {
    let mut rig = Rig::new(&["users"], HealerConfig::default());
    let report = rig.tick(|e| {
        event(
            e,
            "users",
            EngineEventKind::BackgroundError {
                reason: BackgroundErrorReason::Flush,
                message: Message::new("Corruption: bad block"),
                contained: false,
            },
        );
    });
    let rebuild = report
        .reviews
        .iter()
        .find(|r| r.candidate.kind == ActionKind::RebuildCf)
        .expect("rebuild proposed");
    assert_eq!(rebuild.verdict, Verdict::DestructiveNotAllowed);
    rig.ticks(20, |_| {});
    assert!(rig.engine.mutating_calls().is_empty());
    let stats = rig.core.handle().stats();
    assert_eq!(
        stats.action_count(ActionKind::RebuildCf, "destructive_not_allowed"),
        1,
        "logged once, then quiet under the cooldown"
    );
}

#[test]
fn rebuild_runs_off_the_healer_thread_and_reports_its_outcome() {
    let config = HealerConfig {
        allow_destructive: true,
        ..HealerConfig::default()
    };
    let mut rig = Rig::new(&["users"], config);
    rig.tick(|e| {
        event(
            e,
            "users",
            EngineEventKind::CompactionCompleted {
                job_id: 1,
                input_level: 0,
                output_level: 1,
                reason: 0,
                num_l0_files: 4,
                input_bytes: 10,
                output_bytes: 0,
                input_records: 1,
                output_records: 0,
                elapsed_micros: 1,
                corrupt_keys: 3,
                ok: false,
            },
        );
    });
    let mut outcome = None;
    for _ in 0..50 {
        let report = rig.tick(|_| std::thread::sleep(std::time::Duration::from_millis(2)));
        if let Some(o) = report.outcomes.first() {
            outcome = Some(o.clone());
            break;
        }
    }
    let outcome = outcome.expect("rebuild finished");
    assert_eq!(outcome.verdict, OutcomeVerdict::Completed);
    assert!(outcome.detail.expect("detail").contains("users~1"));
    assert_eq!(
        rig.engine.mutating_calls(),
        vec![ControlCall::RebuildCf("users".into())]
    );
    // Evidence cleared by the rebuild: no second one.
    rig.ticks(20, |_| {});
    assert_eq!(rig.engine.mutating_calls().len(), 1);
}

#[test]
fn graph_follows_the_column_families() {
    let mut rig = Rig::new(&["default"], HealerConfig::default());
    rig.tick(|_| {});
    assert_eq!(rig.core.graph().node_count(), 6 + 5);
    assert_eq!(rig.core.features().node_count(), 11);
    rig.engine.add_cf("users");
    rig.tick(|e| writes(e, "users", 10, 10, 10));
    assert_eq!(rig.core.graph().node_count(), 6 + 10);
    assert_eq!(rig.core.features().node_count(), 16);
    assert_eq!(rig.core.graph().cfs(), ["default", "users"]);
    let stats = rig.core.handle().stats();
    assert_eq!(stats.graph_rebuilds, 1);
    assert_eq!(stats.graph_nodes, 16);
    assert_eq!(stats.column_families, 2);
}

#[test]
fn telemetry_is_attributed_to_logical_column_families() {
    let mut rig = Rig::new(&["default", "users"], HealerConfig::default());
    rig.engine.set_dropped(5, 1);
    rig.tick(|_| {});
    rig.engine.set_dropped(12, 1);
    rig.tick(|e| {
        writes(e, "users", 1000, 100, 20);
        e.push_ops("users", OpKind::Delete, 250, 10, 20_000);
        e.push_ops("default", OpKind::Get, 400, 100, 5_000);
        e.push_errors("users", OpKind::Get, 3);
        // "users~1" is the physical CF serving "users" after a rebuild.
        event(
            e,
            "users~1",
            EngineEventKind::MemtableSealed {
                entries: 100,
                deletes: 40,
            },
        );
        event(
            e,
            "users~1",
            EngineEventKind::StallConditionChanged {
                prev: StallCondition::Normal,
                cur: StallCondition::Delayed,
            },
        );
        // RocksDB's write controller reports the delay DB-wide.
        e.update_cf("users", |p| p.actual_delayed_write_rate = Some(16 << 20));
        e.update_cf("default", |p| p.actual_delayed_write_rate = Some(16 << 20));
        event(
            e,
            "",
            EngineEventKind::BackgroundError {
                reason: BackgroundErrorReason::Compaction,
                message: Message::new("Corruption: somewhere"),
                contained: false,
            },
        );
        e.update_statistics(|s| {
            if let Some(s) = s.as_mut() {
                s.stall_micros += 50_000;
                s.block_cache_hit += 900;
                s.block_cache_miss += 100;
            }
        });
    });
    let obs = rig.core.observation().expect("observation");
    assert!((obs.duration_secs - 0.1).abs() < 1e-9);
    let users = obs.cf("users").expect("users");
    assert!((users.write_ops_per_sec - 12_500.0).abs() < 1e-6);
    assert!((users.delete_ops_per_sec - 2_500.0).abs() < 1e-6);
    assert!((users.write_bytes_per_sec - 1_025_000.0).abs() < 1e-6);
    assert_eq!(users.op_errors, 3);
    assert_eq!(users.sealed_deletes, 40);
    assert_eq!(users.stall, lsmedic_healer::observation::Stall::Delayed);
    let default = obs.cf("default").expect("default");
    // Delayed DB-wide, but no listener event blames `default`: the property speaks for it.
    assert_eq!(default.stall, lsmedic_healer::observation::Stall::Delayed);
    assert!((default.read_ops_per_sec - 4_000.0).abs() < 1e-6);
    assert_eq!(default.op_errors, 0);
    let g = &obs.global;
    assert_eq!(g.unattributed_corruption_signals, 1);
    assert!((g.stall_fraction - 0.5).abs() < 1e-9);
    assert_eq!(g.block_cache_hit_ratio, Some(0.9));
    assert_eq!(g.dropped_ops, 7);
    assert_eq!(g.dropped_events, 0);
    assert!(g.read_latency.is_some() && g.write_latency.is_some());
    // The delay ends: the remembered `Delayed` of "users~1" does not outlive it.
    rig.tick(|e| {
        e.update_cf("users", |p| p.actual_delayed_write_rate = Some(0));
        e.update_cf("default", |p| p.actual_delayed_write_rate = Some(0));
    });
    let obs = rig.core.observation().expect("observation");
    assert_eq!(
        obs.cf("users").expect("users").stall,
        lsmedic_healer::observation::Stall::Normal
    );
    let stats = rig.core.handle().stats();
    assert_eq!(stats.dropped_ops, 12);
    assert_eq!(stats.ops_drained, 1000 + 250 + 400 + 3);
}

#[test]
fn audit_file_holds_decisions_and_rotates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("healer-audit.jsonl");
    let config = HealerConfig {
        mode: Mode::Advisory,
        audit: AuditConfig {
            path: Some(path.clone()),
            max_bytes: 16 * 1024,
            memory_entries: 64,
        },
        ..HealerConfig::default()
    };
    let mut rig = stressed_rig_with(config);
    for tick in 0..300 {
        rig.tick(|e| everything_goes_wrong(e, tick));
    }
    rig.core.shutdown();
    let rotated = lsmedic_healer::audit::rotated_path(&path);
    assert!(rotated.exists(), "rotated");
    assert!(std::fs::metadata(&path).expect("file").len() <= 16 * 1024);
    let entries = read_audit_file(&path, 10_000).expect("read back");
    assert!(entries
        .iter()
        .any(|e| matches!(e.record, AuditRecord::Decision(_))));
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    let last = entries.last().expect("entries");
    let memory = rig.core.handle().audit_entries(1000);
    assert!(memory.len() <= 64);
    assert_eq!(memory.last().map(|e| e.seq), Some(last.seq));
    assert!(matches!(&last.record, AuditRecord::Config { change } if change == "healer stopped"));
}

fn stressed_rig_with(config: HealerConfig) -> Rig {
    let rig = Rig::new(&["a", "b", "c", "d"], config);
    rig.engine.set_tunables(|t| {
        t.cfs
            .get_mut("b")
            .expect("b")
            .insert(Tunable::MaxWriteBufferNumber, 4);
    });
    rig
}

#[test]
fn weights_and_mode_changes_are_audited() {
    let mut rig = Rig::new(&["default"], HealerConfig::default());
    let handle = rig.core.handle();
    handle
        .set_weights(Weights::new(1.0, 0.0, 0.0).expect("w"))
        .expect("set");
    assert!(handle
        .set_weights(Weights {
            latency: -1.0,
            throughput: 1.0,
            resources: 0.0
        })
        .is_err());
    handle.set_mode(Mode::Off);
    handle.adapt_now().expect("adapt");
    rig.tick(|e| writes(e, "default", 10, 10, 10));
    let changes: Vec<String> = handle
        .audit_entries(100)
        .into_iter()
        .filter_map(|e| match e.record {
            AuditRecord::Config { change } => Some(change),
            _ => None,
        })
        .collect();
    assert!(
        changes.iter().any(|c| c.contains("mode active -> off")),
        "{changes:?}"
    );
    assert!(changes.iter().any(|c| c.contains("weights")), "{changes:?}");
    assert!(
        changes.iter().any(|c| c.contains("adapt_now")),
        "{changes:?}"
    );
    let stats = handle.stats();
    assert_eq!(stats.mode, Mode::Off);
    assert_eq!(stats.adapt_requests, 1);
    assert_eq!(stats.weights.latency, 1.0);
    // Off: the rings are still drained.
    assert_eq!(stats.ops_drained, 10);
}
