//! The learned policy inside the healer's tick, with the fixture models (random weights and
//! hand-set policy biases: noop 0.5 on every objective, raise_background_jobs +2 on latency,
//! raise_l0_triggers +2 on throughput, compact_cf +2 on resources, lower_background_jobs +5 on
//! all three — masked while the engine runs its configured job count): only possible actions
//! are proposed, the operator's weights choose between them, the audit log explains each
//! decision, and broken models fall back to the rule policy.

mod common;
mod learned_support;

use std::sync::Arc;

use common::{writes, Rig};
use learned_support::{edit_manifest, fixture_copy, fixtures_dir, learned_config};
use lsmedic_healer::audit::{AuditRecord, BaselineDecision, LearnedRecord};
use lsmedic_healer::policy::learned::{weighted_scores, LEARNED_POLICY};
use lsmedic_healer::stub::StubEngine;
use lsmedic_healer::{HealerConfig, ModelStatus, TickReport, Weights};
use lsmedic_telemetry::{Control, Tunable};

fn traffic(engine: &StubEngine) {
    writes(engine, "default", 100, 1024, 40);
}

fn learned_rig(config: HealerConfig) -> Rig {
    Rig::with_engine(Arc::new(StubEngine::new(&["default"])), config)
}

/// The fixtures' config with the learned values alone deciding (`follow_rules = false`).
fn values_alone() -> HealerConfig {
    let mut config = learned_config(&fixtures_dir());
    config.learned.follow_rules = false;
    config
}

/// The fixtures' config keeping to the rules with deviation margin `margin`.
fn following_rules(margin: f64) -> HealerConfig {
    let mut config = learned_config(&fixtures_dir());
    config.learned.follow_rules = true;
    config.learned.deviation_margin = Some(margin);
    config
}

/// Catalog names of the proposals, best first.
fn proposed(report: &TickReport) -> Vec<String> {
    report
        .reviews
        .iter()
        .map(|r| {
            r.candidate
                .rule
                .strip_prefix("learned:")
                .unwrap_or_else(|| panic!("not a learned candidate: {}", r.candidate.rule))
                .to_owned()
        })
        .collect()
}

/// What the proposals must be, recomputed from the audit record's q values.
fn expected(record: &LearnedRecord, weights: &Weights, max: usize) -> Vec<String> {
    let q: Vec<f32> = record.action_scores.iter().flat_map(|a| a.q).collect();
    let scores = weighted_scores(&q, weights);
    let noop = scores[0];
    let mut order: Vec<usize> = (1..scores.len())
        .filter(|&a| !record.action_scores[a].masked && scores[a] > noop)
        .collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order.truncate(max);
    order
        .into_iter()
        .map(|a| record.action_scores[a].name.clone())
        .collect()
}

#[test]
fn learned_policy_proposes_only_unmasked_actions_and_follows_the_weights() {
    let mut rig = learned_rig(values_alone());
    assert_eq!(rig.core.handle().stats().policy, LEARNED_POLICY);
    // Warm-up: nothing until the GNN's T = 6 ticks of history exist.
    for report in rig.ticks(5, traffic) {
        assert!(report.reviews.is_empty());
        let record = report.learned.expect("a record every tick");
        assert!(record.action_scores.is_empty() && record.top_risks.is_empty());
    }
    let max = HealerConfig::default().learned.max_candidates;
    for (weights, best) in [
        ((1.0, 0.0, 0.0), "raise_background_jobs"),
        ((0.0, 1.0, 0.0), "raise_l0_triggers"),
        ((0.0, 0.0, 1.0), "compact_cf"),
    ] {
        let weights = Weights::new(weights.0, weights.1, weights.2).expect("weights");
        rig.core.handle().set_weights(weights).expect("set weights");
        let report = rig.tick(traffic);
        let record = report.learned.clone().expect("record");
        assert_eq!(record.action_scores.len(), 15);
        let lower = &record.action_scores[2];
        assert_eq!(lower.name, "lower_background_jobs");
        assert!(lower.masked, "at the configured job count");
        let top_raw = record
            .action_scores
            .iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .expect("scores");
        assert_eq!(
            top_raw.name, "lower_background_jobs",
            "best value, but masked"
        );
        let names = proposed(&report);
        assert_eq!(names.first().map(String::as_str), Some(best), "{weights:?}");
        assert_eq!(names, expected(&record, &weights, max), "{weights:?}");
        for name in &names {
            let score = record
                .action_scores
                .iter()
                .find(|a| &a.name == name)
                .expect("scored");
            assert!(!score.masked, "{name} proposed while masked");
        }
        for review in &report.reviews {
            assert!(review.candidate.score > 0.0, "advantage over noop");
        }
    }

    // Once the engine runs more jobs than configured, lowering them is possible — and the
    // fixture values it most under any weights.
    rig.engine
        .set_global(&[(Tunable::MaxBackgroundJobs, 8)])
        .expect("set jobs");
    let report = rig.tick(traffic);
    let record = report.learned.clone().expect("record");
    assert!(!record.action_scores[2].masked);
    assert_eq!(
        proposed(&report).first().map(String::as_str),
        Some("lower_background_jobs")
    );
}

#[test]
fn audit_entries_explain_learned_decisions() {
    let mut rig = learned_rig(values_alone());
    rig.ticks(8, traffic);
    let decisions: Vec<_> = rig
        .core
        .handle()
        .audit_entries(1000)
        .into_iter()
        .filter_map(|e| match e.record {
            AuditRecord::Decision(d) => Some(d),
            _ => None,
        })
        .collect();
    let decision = decisions
        .iter()
        .find(|d| !d.candidates.is_empty())
        .expect("an advised learned decision");
    assert_eq!(decision.policy, LEARNED_POLICY);
    let learned = decision.learned.as_ref().expect("learned record");
    let score = learned
        .detector
        .score
        .expect("scored with the initial state");
    assert!((0.0..=1.0).contains(&score));
    assert_eq!(learned.detector.threshold, 0.9);
    assert_eq!(learned.detector.top_nodes.len(), 3);
    assert_eq!(learned.top_risks.len(), 3);
    let risks: Vec<f32> = learned
        .top_risks
        .iter()
        .map(|r| r.within_1s.max(r.within_5s))
        .collect();
    assert!(risks.windows(2).all(|w| w[0] >= w[1]), "{risks:?}");
    assert_eq!(learned.action_scores.len(), 15);
    let candidate = &decision.candidates[0];
    assert!(candidate.rule.starts_with("learned:"));
    assert!(candidate.reason.contains("vs noop"), "{}", candidate.reason);
    assert!(
        candidate.reason.contains("top risk"),
        "{}",
        candidate.reason
    );
    // The JSON line carries it all and reads back.
    let entry = rig
        .core
        .handle()
        .audit_entries(1000)
        .into_iter()
        .find(|e| matches!(&e.record, AuditRecord::Decision(d) if !d.candidates.is_empty()))
        .expect("entry");
    let json = serde_json::to_string(&entry).expect("json");
    for key in [
        "\"learned\"",
        "\"action_scores\"",
        "\"top_risks\"",
        "\"within_5s\"",
        "\"head\":\"initial\"",
    ] {
        assert!(json.contains(key), "{key} in {json}");
    }
    let back: lsmedic_healer::AuditEntry = serde_json::from_str(&json).expect("parse");
    let AuditRecord::Decision(back) = back.record else {
        panic!("a decision")
    };
    let back = back.learned.expect("learned record read back");
    assert_eq!(back.top_risks, learned.top_risks);
    assert_eq!(back.detector, learned.detector);
    let masks = |r: &LearnedRecord| -> Vec<(String, bool)> {
        r.action_scores
            .iter()
            .map(|a| (a.name.clone(), a.masked))
            .collect()
    };
    assert_eq!(masks(&back), masks(learned));
    let stats = rig.core.handle().stats();
    assert!(stats.detector_score.is_some());
    assert_eq!(stats.model_failures, 0);
}

/// A rig whose rules see LSM pressure (the stub's pressure cycle, from its pressured phase).
fn pressured(config: HealerConfig) -> (Rig, Vec<TickReport>) {
    let engine = Arc::new(StubEngine::new(&["default"]));
    let mut rig = Rig::with_engine(Arc::clone(&engine), config);
    let mut reports = Vec::new();
    for step in 0..200u64 {
        reports.push(rig.tick(|e| {
            e.script_pressure_cycle(&["default"], step + 50);
            traffic(e);
        }));
    }
    (rig, reports)
}

#[test]
fn following_the_rules_with_a_wide_margin_proposes_exactly_what_the_rules_do() {
    let (learned, learned_reports) = pressured(following_rules(1e9));
    let mut rules_config = learned_config(&fixtures_dir());
    rules_config.models.enabled = false;
    let (_, rules_reports) = pressured(rules_config);
    assert_eq!(learned.core.handle().stats().policy, LEARNED_POLICY);
    let candidates = |reports: &[TickReport]| -> Vec<Vec<(String, String)>> {
        reports
            .iter()
            .map(|r| {
                r.reviews
                    .iter()
                    .map(|c| {
                        (
                            c.candidate.rule.clone(),
                            format!("{:?}", c.candidate.action),
                        )
                    })
                    .collect()
            })
            .collect()
    };
    let proposed = candidates(&rules_reports);
    assert!(
        proposed.iter().filter(|c| !c.is_empty()).count() >= 3,
        "the pressure cycle makes the rules act: {proposed:?}"
    );
    assert_eq!(candidates(&learned_reports), proposed);
    let decided: Vec<_> = learned_reports
        .iter()
        .filter_map(|r| r.learned.as_ref()?.baseline.clone())
        .collect();
    assert!(decided.len() > 150, "a comparison every tick with values");
    assert!(decided
        .iter()
        .all(|b| b.decision == BaselineDecision::Followed && b.margin == 1e9));
    let stats = learned.core.handle().stats();
    assert_eq!((stats.learned_replacements, stats.learned_vetoes), (0, 0));
}

#[test]
fn with_no_margin_the_best_valued_action_replaces_the_rules_choice() {
    // Latency weights: the fixture values raise_background_jobs most (+2 over noop's 0.5).
    let mut config = following_rules(0.0);
    config.weights = Weights::new(1.0, 0.0, 0.0).expect("weights");
    let (rig, reports) = pressured(config);
    let mut replaced = 0;
    for report in &reports {
        let Some(baseline) = report.learned.as_ref().and_then(|r| r.baseline.as_ref()) else {
            continue;
        };
        let rules: Vec<_> = report.reviews.iter().map(|r| &r.candidate.rule).collect();
        match baseline.decision {
            BaselineDecision::Replaced => {
                replaced += 1;
                assert_eq!(baseline.best, "raise_background_jobs", "{baseline:?}");
                assert!(baseline.gain > 0.0);
                assert_eq!(rules, ["learned:raise_background_jobs"]);
                let reason = &report.reviews[0].candidate.reason;
                assert!(reason.contains("replaces the rules'"), "{reason}");
                assert!(
                    (report.reviews[0].candidate.score - baseline.gain).abs() < 1e-9,
                    "scored by its gain over the rules' choice"
                );
            }
            BaselineDecision::Followed => {
                assert!(
                    baseline.best == baseline.rules_choice.clone().unwrap_or_default()
                        || baseline.rules_choice.is_none(),
                    "{baseline:?}"
                );
                assert!(
                    rules.iter().all(|r| !r.starts_with("learned:")),
                    "{rules:?}"
                );
            }
            BaselineDecision::Vetoed => assert!(rules.is_empty()),
        }
    }
    assert!(
        replaced > 0,
        "raise_background_jobs beats the rules' choices"
    );
    assert_eq!(
        rig.core.handle().stats().learned_replacements,
        replaced as u64
    );
}

fn fallback_reason(rig: &Rig) -> String {
    let stats = rig.core.handle().stats();
    assert_eq!(stats.policy, "rules");
    match stats.model {
        ModelStatus::Fallback { reason } => reason,
        other => panic!("expected a fallback, got {other:?}"),
    }
}

#[test]
fn a_corrupt_model_file_falls_back_to_rules() {
    let dir = fixture_copy();
    std::fs::write(dir.path().join("fixture_policy.onnx"), b"\x08\x07garbage").expect("write");
    let mut rig = learned_rig(learned_config(dir.path()));
    let reason = fallback_reason(&rig);
    assert!(reason.contains("model policy"), "{reason}");
    rig.ticks(3, traffic); // the rule policy ticks on
    assert!(rig.core.learned().is_none());
}

#[test]
fn a_schema_version_mismatch_falls_back_to_rules() {
    let dir = fixture_copy();
    edit_manifest(dir.path(), |m| m["feature_schema_version"] = 999.into());
    let rig = learned_rig(learned_config(dir.path()));
    let reason = fallback_reason(&rig);
    assert!(reason.contains("feature schema version 999"), "{reason}");
}

#[test]
fn a_golden_mismatch_or_a_foreign_catalog_is_refused() {
    let dir = fixture_copy();
    let golden = dir.path().join("fixture_detector.golden.json");
    let mut cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&golden).expect("read")).expect("json");
    let first = &mut cases["cases"][0]["outputs"]["score"]["data"][0];
    *first = (first.as_f64().expect("number") + 0.5).into();
    std::fs::write(&golden, cases.to_string()).expect("write");
    let rig = learned_rig(learned_config(dir.path()));
    let reason = fallback_reason(&rig);
    assert!(reason.contains("golden outputs"), "{reason}");

    let dir = fixture_copy();
    edit_manifest(dir.path(), |m| {
        let actions = m["policy"]["actions"].as_array_mut().expect("actions");
        actions.swap(1, 2);
    });
    let rig = learned_rig(learned_config(dir.path()));
    let reason = fallback_reason(&rig);
    assert!(reason.contains("action catalog"), "{reason}");

    let dir = fixture_copy();
    edit_manifest(dir.path(), |m| {
        m["models"][1]["outputs"][0]["name"] = "scores".into();
    });
    let rig = learned_rig(learned_config(dir.path()));
    let reason = fallback_reason(&rig);
    assert!(reason.contains("node_score"), "{reason}");
}

#[test]
fn repeated_model_failures_drop_the_learned_policy_for_rules() {
    let dir = fixture_copy();
    std::fs::copy(
        dir.path().join("fixture_policy_nan.onnx"),
        dir.path().join("fixture_policy.onnx"),
    )
    .expect("swap in the broken policy");
    edit_manifest(dir.path(), |m| {
        m["models"][3]
            .as_object_mut()
            .expect("policy entry")
            .remove("golden");
    });
    let mut rig = learned_rig(learned_config(dir.path()));
    assert_eq!(rig.core.handle().stats().policy, LEARNED_POLICY);
    rig.ticks(5, traffic); // warm-up: the policy network has not run yet
    assert_eq!(rig.core.handle().stats().model_failures, 0);
    for failures in 1..=2 {
        let report = rig.tick(traffic);
        assert!(report.learned.is_none(), "the rules decided this tick");
        let stats = rig.core.handle().stats();
        assert_eq!(stats.model_failures, failures);
        assert_eq!(
            stats.policy, LEARNED_POLICY,
            "still learned after {failures}"
        );
    }
    rig.tick(traffic);
    let reason = fallback_reason(&rig);
    assert!(reason.contains("dropped"), "{reason}");
    assert!(reason.contains("non-finite q"), "{reason}");
    assert!(rig.core.learned().is_none());
    let errors: Vec<String> = rig
        .core
        .handle()
        .audit_entries(1000)
        .into_iter()
        .filter_map(|e| match e.record {
            AuditRecord::Error { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("learned policy failed (1 of 3"),
        "{errors:?}"
    );
    rig.ticks(3, traffic);
    assert_eq!(rig.core.handle().stats().model_failures, 3, "no more tries");
}
