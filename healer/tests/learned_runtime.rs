//! The learned healer's model runtime against the real ONNX Runtime, with the fixture models
//! (random weights, contract shapes): loading and golden checks, the detector's adaptation,
//! variable node counts, and adaptation triggers inside the healer's tick.

mod common;
mod learned_support;

use std::sync::Arc;

use common::{writes, Rig};
use learned_support::{fixture_policy, fixtures_dir, learned_config, load_fixtures};
use lsmedic_healer::audit::AuditRecord;
use lsmedic_healer::config::LearnedConfig;
use lsmedic_healer::detect::{FeatureHistory, HeadState};
use lsmedic_healer::features::FEATURE_DIM;
use lsmedic_healer::model::names;
use lsmedic_healer::stub::StubEngine;
use lsmedic_healer::{ComponentGraph, ModelStatus};
use lsmedic_telemetry::OpKind;

/// Deterministic pseudo-random feature values (xorshift), one-hot-free: enough for shapes.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

fn state_of(policy: &lsmedic_healer::policy::learned::LearnedPolicy) -> Vec<(String, Vec<f32>)> {
    policy
        .detector()
        .state()
        .expect("state")
        .iter()
        .map(|t| (t.name.clone(), t.data.clone()))
        .collect()
}

#[test]
fn fixture_models_load_and_reproduce_their_golden_vectors() {
    let loaded = load_fixtures();
    assert!(loaded.has_learned_set());
    assert_eq!(
        loaded.names(),
        vec!["detector_adapt", "detector", "cascade_gnn", "policy"]
    );
    for name in names::LEARNED {
        let worst = loaded.golden.get(name).copied().expect("golden checked");
        assert!(worst <= 1e-4, "{name}: {worst}");
    }
    assert!(loaded.source.to_string().ends_with("learned"));
}

#[test]
fn adaptation_is_deterministic_and_depends_on_the_support_set() {
    let config = LearnedConfig::default();
    let mut policy = fixture_policy(&config);
    let t = policy.detector().params().window_ticks;
    assert_eq!(policy.detector().head(), HeadState::Initial);
    let initial = state_of(&policy);
    let nodes = 11;
    let k = 3;
    let support_a = values(k * nodes * t * FEATURE_DIM, 1);
    let support_b = values(k * nodes * t * FEATURE_DIM, 2);

    policy
        .detector_mut()
        .adapt(&support_a, k, nodes)
        .expect("adapt a");
    assert_eq!(policy.detector().head(), HeadState::Adapted);
    let adapted_a = state_of(&policy);
    policy
        .detector_mut()
        .adapt(&support_a, k, nodes)
        .expect("adapt a again");
    assert_eq!(state_of(&policy), adapted_a, "same support, same state");
    policy
        .detector_mut()
        .adapt(&support_b, k, nodes)
        .expect("adapt b");
    let adapted_b = state_of(&policy);
    assert_ne!(adapted_a, adapted_b, "another support set, another state");
    assert_ne!(adapted_a, initial, "adaptation moved the head");
    assert_eq!(policy.detector().adaptations(), 3);

    // A fresh runtime reproduces the state exactly (no hidden state in the session).
    let mut again = fixture_policy(&config);
    again
        .detector_mut()
        .adapt(&support_a, k, nodes)
        .expect("adapt a, fresh session");
    assert_eq!(state_of(&again), adapted_a);

    // The adapted head scores its own support as more normal than an unrelated window,
    // on average over many windows (one-class centre moved toward the support).
    let window_len = nodes * t * FEATURE_DIM;
    let own: f32 = (0..k)
        .map(|i| {
            let window = &support_a[i * window_len..(i + 1) * window_len];
            policy_score(&mut again, window, nodes)
        })
        .sum::<f32>()
        / k as f32;
    let shifted: Vec<f32> = support_a.iter().map(|v| v + 3.0).collect();
    let other: f32 = (0..k)
        .map(|i| {
            policy_score(
                &mut again,
                &shifted[i * window_len..(i + 1) * window_len],
                nodes,
            )
        })
        .sum::<f32>()
        / k as f32;
    assert!(own < other, "support {own} vs shifted {other}");
}

fn policy_score(
    policy: &mut lsmedic_healer::policy::learned::LearnedPolicy,
    window: &[f32],
    nodes: usize,
) -> f32 {
    let (score, node_scores) = policy
        .detector_mut()
        .score(window, nodes)
        .expect("score")
        .expect("a state");
    assert_eq!(node_scores.len(), nodes);
    node_scores.iter().sum::<f32>() / nodes as f32 + 0.0 * score
}

#[test]
fn detector_and_predictor_take_one_or_three_column_families() {
    let config = LearnedConfig::default();
    let mut policy = fixture_policy(&config);
    let t_detect = policy.detector().params().window_ticks;
    for cfs in [1usize, 3] {
        let names: Vec<String> = (0..cfs).map(|i| format!("cf{i}")).collect();
        let graph = ComponentGraph::new(&names);
        let nodes = graph.node_count();
        assert_eq!(nodes, 6 + 5 * cfs);
        let t_gnn = policy.predictor_mut().window_ticks();
        let mut history = FeatureHistory::new(t_gnn.max(t_detect));
        for tick in 0..t_gnn {
            history.push_rows(nodes, &values(nodes * FEATURE_DIM, tick as u64 + 10));
        }
        let mut window = Vec::new();
        assert!(history.window(t_detect, &mut window));
        let (score, node_scores) = policy
            .detector_mut()
            .score(&window, nodes)
            .expect("score")
            .expect("initial state");
        assert_eq!(node_scores.len(), nodes, "{cfs} CFs");
        assert!((0.0..=1.0).contains(&score));
        let best = node_scores.iter().copied().fold(f32::MIN, f32::max);
        assert!((best - score).abs() < 1e-6, "score = max node score");

        let risk = policy
            .predictor_mut()
            .predict(&history, &graph, &node_scores)
            .expect("predict")
            .expect("full history");
        assert_eq!(risk.len(), 2 * nodes, "{cfs} CFs");
        assert!(risk.iter().all(|p| (0.0..=1.0).contains(p)));

        // Adaptation on the same node count works too.
        let support = values(2 * nodes * t_detect * FEATURE_DIM, 7);
        policy
            .detector_mut()
            .adapt(&support, 2, nodes)
            .expect("adapt");
    }
    // The graph matters: the same features on the 3-CF graph without its edges differ.
    let graph = ComponentGraph::new(&["a".into(), "b".into(), "c".into()]);
    let nodes = graph.node_count();
    let t_gnn = policy.predictor_mut().window_ticks();
    let mut x = Vec::new();
    let mut history = FeatureHistory::new(t_gnn);
    for tick in 0..t_gnn {
        history.push_rows(nodes, &values(nodes * FEATURE_DIM, tick as u64 + 30));
    }
    assert!(history.window(t_gnn, &mut x));
    let scores = vec![0.5; nodes];
    let with_edges = policy
        .predictor_mut()
        .run(&x, nodes, &scores, &graph.adjacency())
        .expect("run");
    let without = policy
        .predictor_mut()
        .run(&x, nodes, &scores, &vec![0.0; nodes * nodes])
        .expect("run");
    assert_ne!(with_edges, without);
}

#[test]
fn a_short_history_or_a_new_graph_defers_prediction() {
    let config = LearnedConfig::default();
    let mut policy = fixture_policy(&config);
    let graph = ComponentGraph::new(&["default".into()]);
    let nodes = graph.node_count();
    let t_gnn = policy.predictor_mut().window_ticks();
    let mut history = FeatureHistory::new(t_gnn);
    for tick in 0..t_gnn - 1 {
        history.push_rows(nodes, &values(nodes * FEATURE_DIM, tick as u64));
    }
    let scores = vec![0.0; nodes];
    assert!(policy
        .predictor_mut()
        .predict(&history, &graph, &scores)
        .expect("predict")
        .is_none());
    // A column family appears: history of the old graph is dropped.
    let bigger = ComponentGraph::new(&["default".into(), "users".into()]);
    history.push_rows(
        bigger.node_count(),
        &values(bigger.node_count() * FEATURE_DIM, 99),
    );
    assert_eq!(history.len(), 1);
    assert!(policy
        .predictor_mut()
        .predict(&history, &bigger, &vec![0.0; bigger.node_count()])
        .expect("predict")
        .is_none());
}

fn config_changes(rig: &Rig) -> Vec<String> {
    rig.core
        .handle()
        .audit_entries(10_000)
        .into_iter()
        .filter_map(|e| match e.record {
            AuditRecord::Config { change } => Some(change),
            _ => None,
        })
        .collect()
}

fn put_workload(engine: &StubEngine) {
    writes(engine, "default", 200, 1024, 40);
}

fn get_workload(engine: &StubEngine) {
    engine.push_ops("default", OpKind::Get, 200, 512, 20_000);
    writes(engine, "default", 5, 1024, 40);
}

#[test]
fn the_healer_adapts_at_start_on_adapt_now_and_on_a_workload_change() {
    let mut config = learned_config(&fixtures_dir());
    config.learned.workload_change_ticks = 10;
    let engine = Arc::new(StubEngine::new(&["default"]));
    let mut rig = Rig::with_engine(engine, config);
    let stats = rig.core.handle().stats();
    assert_eq!(stats.policy, "learned");
    assert!(
        matches!(&stats.model, ModelStatus::Loaded { policy, .. } if policy == "learned"),
        "{:?}",
        stats.model
    );
    let learned = rig.core.learned().expect("learned policy");
    let t = learned.detector().params().window_ticks;
    let k = learned.detector().params().support_windows;
    assert_eq!((t, k), (4, 3));

    // K non-overlapping windows of T' support ticks: the adaptation runs in tick K·T'.
    rig.ticks(t * k - 1, put_workload);
    assert_eq!(rig.core.handle().stats().adaptations, 0, "one tick short");
    rig.tick(put_workload);
    assert_eq!(rig.core.handle().stats().adaptations, 1);
    let changes = config_changes(&rig);
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with("detector adapted (start) on 3 windows of 11 nodes")),
        "{changes:?}"
    );
    let head = rig.core.learned().expect("learned").detector().head();
    assert_eq!(head, HeadState::Adapted);

    // adapt_now: K fresh windows, then a new state.
    rig.core.handle().adapt_now().expect("adapt_now");
    rig.ticks(t * k - 1, put_workload);
    assert_eq!(rig.core.handle().stats().adaptations, 1, "one tick short");
    rig.tick(put_workload);
    assert_eq!(rig.core.handle().stats().adaptations, 2);
    let changes = config_changes(&rig);
    assert!(
        changes
            .iter()
            .any(|c| c.contains("adapt_now requested (1x)")
                && c.contains("gathering 3 normal windows")),
        "{changes:?}"
    );
    assert!(changes
        .iter()
        .any(|c| c.starts_with("detector adapted (adapt_now)")));

    // Stalled ticks are neither support nor evidence: no change is confirmed during them.
    rig.ticks(30, |e| {
        get_workload(e);
        e.update_cf("default", |p| p.is_write_stopped = Some(1));
    });
    rig.tick(|e| e.update_cf("default", |p| p.is_write_stopped = Some(0)));
    assert!(
        !config_changes(&rig)
            .iter()
            .any(|c| c.contains("workload change confirmed")),
        "a stall is not a workload change"
    );

    // A read-heavy workload: confirmed after 10 differing ticks, then re-adapted on it.
    rig.ticks(10 + t * k + 2, get_workload);
    let changes = config_changes(&rig);
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with("workload change confirmed over 10 ticks")),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with("detector adapted (workload change")),
        "{changes:?}"
    );
    assert_eq!(rig.core.handle().stats().adaptations, 3);
}

#[test]
fn a_new_column_family_restarts_the_history_and_the_models_follow() {
    let mut rig = Rig::with_engine(
        Arc::new(StubEngine::new(&["default"])),
        learned_config(&fixtures_dir()),
    );
    let reports = rig.ticks(8, put_workload);
    assert!(
        !reports[7].reviews.is_empty(),
        "proposals after the warm-up"
    );
    rig.engine.add_cf("users");
    let both = |e: &StubEngine| {
        put_workload(e);
        writes(e, "users", 100, 1024, 40);
    };
    // T = 6 ticks of the new 16-node graph before the predictor and policy run again.
    for report in rig.ticks(5, both) {
        assert!(report.reviews.is_empty(), "warm-up on the new graph");
        let record = report.learned.expect("record");
        assert!(record.action_scores.is_empty());
    }
    let report = rig.tick(both);
    let record = report.learned.expect("record");
    assert_eq!(record.action_scores.len(), 15);
    assert_eq!(rig.core.graph().node_count(), 16);
    assert_eq!(
        rig.core.learned().expect("learned").history().node_count(),
        16
    );
    assert_eq!(rig.core.handle().stats().model_failures, 0);
}
